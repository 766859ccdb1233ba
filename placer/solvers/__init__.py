"""Solver registry: name -> function(problem, options) -> SolveResult."""

from placer.solvers.base import SolveOptions, SolveResult, Solver
from placer.solvers.greedy import solve_greedy

SOLVERS: dict[str, Solver] = {
    "greedy": solve_greedy,
}

__all__ = ["SOLVERS", "SolveOptions", "SolveResult", "Solver"]
