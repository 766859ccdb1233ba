"""Solver registry: name -> function(problem, options) -> SolveResult."""

from placer.milp import milp_solver
from placer.solvers.base import Solver
from placer.solvers.greedy import solve_greedy

SOLVERS: dict[str, Solver] = {
    "greedy": solve_greedy,
    "milp": milp_solver,
}
