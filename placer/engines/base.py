"""What every solver takes and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from placer.problem.form import Problem
from placer.progress import Progress, ProgressFn
from placer.status import Status


@dataclass(frozen=True)
class SolveOptions:
    """Options common to every solver.

    Attributes:
      time_limit_s: wall-clock limit, s.
      seed: random seed (solvers are deterministic for a fixed seed and workers=1).
      relative_gap: stop when (objective - bound) / |objective| is below this.
      workers: threads a solver may use.
      hint_u: int32[U] starting assignment (-1 unplaced), or None.
      candidates_u: per unit, the pool indices it may use (restricts the problem), or None.
      backend: solver-specific backend name (e.g. MILP "highs"), or None for the default.
      progress: called with the incumbent and bound as they improve, or None.
      rank_uk: int[U, K], greedy's first choice: it tries a unit's options by rank, the
        cheapest first among equal ranks (None: cheapest first). A timed plan's greedy
        ranks options as schedulers that see neither prices nor carbon do
        (`placer.problem.agnostic`): each run as early as it fits, on the pool cheapest on
        average over the horizon.
    """

    time_limit_s: float = 60.0
    seed: int = 0
    relative_gap: float = 1e-4
    workers: int = 1
    hint_u: np.ndarray | None = None
    candidates_u: tuple[tuple[int, ...], ...] | None = None
    backend: str | None = None
    progress: ProgressFn | None = None
    rank_uk: np.ndarray | None = None

    def report(self, stage: str, incumbent: float | None = None, bound: float | None = None):
        """Sends a Progress event when a progress callback is set."""
        if self.progress is not None:
            self.progress(Progress(stage, incumbent, bound))


@dataclass(frozen=True)
class SolveResult:
    """A solver's answer in Problem terms (never solver objects).

    Attributes:
      assign_u: int32[U], pool of each unit or -1.
      status: optimal | feasible | infeasible | no_solution.
      objective_usd_per_h: objective of assign_u, or None without a solution.
      bound_usd_per_h: proven lower bound, or None.
      message: one human sentence on how the solve ended.
      bound_scope: "full", or "restricted" when the bound holds only for a restricted problem.
      capacity_prices: (site index, resource, USD/h per unit[, units it holds for]) of
        binding capacities (the MILP's LP measures the range; +inf: as far as searched).
      diagnostics: extra lines for the plan (hint used, backend, ...).
      diagnosis: why the problem is infeasible and the smallest fixes (a
        `placer.engines.milp.diagnose.Diagnosis`), when a solver computed one.
      preempt_schedule: the preemptible runs the solver preempted: unit -> (pool,
        periods), or (first pool, periods, the pool of each period) for a run that
        migrates (`placer.problem.preempt.Schedule`; their assign_u is -1). None: the
        solver did not model preemption (it places preemptible runs contiguously, and
        its bound, if any, is not one of the preemptible problem); a dict (maybe empty):
        it did (the `milp` solver on a problem with `Problem.preempt`).
      prices_r: float64[R'], the row prices of the bound (`relax.rows.pair_rows`
        layout), where the solver certified a Lagrangian bound; None otherwise.
    """

    assign_u: np.ndarray
    status: Status
    objective_usd_per_h: float | None = None
    bound_usd_per_h: float | None = None
    message: str = ""
    bound_scope: str | None = None
    capacity_prices: list[tuple] = field(default_factory=list)
    diagnostics: list[str] = field(default_factory=list)
    diagnosis: object | None = None
    preempt_schedule: dict[int, tuple] | None = None
    prices_r: np.ndarray | None = None


class Solver(Protocol):
    def __call__(self, problem: Problem, options: SolveOptions) -> SolveResult: ...
