"""Solver registry: name -> function(problem, options) -> SolveResult."""

from placer.milp import solve as solve_milp
from placer.solvers.base import SolveOptions, Solver, SolveResult
from placer.solvers.greedy import solve_greedy

SOLVERS: dict[str, Solver] = {
    "greedy": solve_greedy,
    "milp": solve_milp,
}

__all__ = ["SOLVERS", "SolveOptions", "SolveResult", "Solver"]
