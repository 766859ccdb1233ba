"""The exact placement MILP (OR-Tools MathOpt)."""

from placer.engines.base import SolveOptions, SolveResult
from placer.engines.milp.solve import (
    BACKENDS,
    DEFAULT_BACKEND,
    solve_milp,
    solve_milp_lexicographic,
)
from placer.engines.milp.warmstart import solve_milp_warm
from placer.problem.form import Problem

#: Above this many feasible (unit, pool) pairs the MILP starts from its LP relaxation
#: (relax-and-fix hint + reduced-cost fixing, see warmstart.py): measured on generated
#: 1.5k-2k unit fleets it halves the gap reached in 30 s (docs/milp.md).
WARM_START_MIN_PAIRS = 5_000


def milp_solver(problem: Problem, options: SolveOptions) -> SolveResult:
    """The `milp` solver: weighted or lexicographic, as the scenario's objective says.
    With preemptible or migrating runs (`Problem.preempt`) both write them exactly
    (`preempt_rows`, `migrate_rows`; no warm start)."""
    if bool(problem.lexicographic):
        return solve_milp_lexicographic(problem, options, preempt=problem.preempt is not None)
    if problem.preempt is not None:  # preemptible runs: the exact model with rows (5)
        return solve_milp(problem, options, preempt=True)
    if options.candidates_u is None and problem.num_pairs() >= WARM_START_MIN_PAIRS:
        return solve_milp_warm(problem, options)
    return solve_milp(problem, options)


__all__ = ["BACKENDS", "DEFAULT_BACKEND", "WARM_START_MIN_PAIRS", "milp_solver"]
