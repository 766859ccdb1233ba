"""Solver registry: name -> function(problem, options) -> SolveResult."""

from placer.engines.base import Solver
from placer.engines.greedy import solve_greedy
from placer.engines.milp import milp_solver
from placer.engines.relax.solver import solve_relax
from placer.engines.search.hybrid import solve_hybrid
from placer.engines.search.local import solve_search

SOLVERS: dict[str, Solver] = {
    "greedy": solve_greedy,
    "milp": milp_solver,
    "relax": solve_relax,
    "search": solve_search,
    "hybrid": solve_hybrid,
}
