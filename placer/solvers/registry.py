"""Solver registry: name -> function(problem, options) -> SolveResult."""

from placer.milp import milp_solver
from placer.relax.solver import solve_relax
from placer.search.hybrid import solve_hybrid
from placer.search.local import solve_search
from placer.solvers.base import Solver
from placer.solvers.greedy import solve_greedy

SOLVERS: dict[str, Solver] = {
    "greedy": solve_greedy,
    "milp": milp_solver,
    "relax": solve_relax,
    "search": solve_search,
    "hybrid": solve_hybrid,
}
