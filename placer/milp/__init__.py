"""The exact placement MILP (OR-Tools MathOpt)."""

from placer.milp.solve import BACKENDS, DEFAULT_BACKEND, solve_milp, solve_milp_lexicographic
from placer.problem import Problem
from placer.solvers.base import SolveOptions, SolveResult


def milp_solver(problem: Problem, options: SolveOptions) -> SolveResult:
    """The `milp` solver: weighted or lexicographic, as the scenario's objective says."""
    if bool(problem.lexicographic):
        return solve_milp_lexicographic(problem, options)
    return solve_milp(problem, options)


__all__ = ["BACKENDS", "DEFAULT_BACKEND", "milp_solver"]
