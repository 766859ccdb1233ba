"""The cost-carbon sweep for fleets too large for one MILP: every point is a hybrid solve.

`placer.analysis.pareto.sweep_carbon` drives the epsilon-constraint method through a
sweep model: minimise f1 or carbon, set the carbon cap, solve with a time limit and a
starting plan. `_SweepModel` (in pareto.py) does it with one MILP built once; this
module does it for fleets of more than `MILP_MAX_PAIRS` feasible pairs, where that MILP
cannot be built, with the hybrid solver (`placer.engines.search.hybrid.solve_hybrid`):
the carbon cap is the Problem's own carbon row (its capacity set to min(eps, the
scenario's cap)), the least-carbon plan is the hybrid's plan for the objective "carbon"
(optional units may then be left out at no cost, as in the MILP sweep), and each point's
bound is the hybrid's certified bound (a Lagrangian or site-knapsack bound of the same
capped problem), so the sweep's certificates hold as they do with the MILP. The starting
plan of a point is the best plan of a tighter cap, which fits its cap: the hybrid keeps
it unless it finds a better one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from ortools.math_opt.python import mathopt

from placer.api import engine_share, with_preemption
from placer.engines.base import SolveOptions
from placer.engines.search.hybrid import solve_hybrid
from placer.errors import OptionError
from placer.problem.form import Problem
from placer.problem.preempt import Preempt
from placer.problem.rows import K_CARBON, Q_CARBON, global_row

#: Above this many feasible (unit, option) pairs the sweep solves each point with the
#: hybrid instead of one MILP (the MILP's model alone takes ~1 KB a pair to build).
MILP_MAX_PAIRS = 2_000_000

_T = mathopt.TerminationReason
#: The MILP termination reason a hybrid status stands for (what the sweep reads).
_REASONS = {
    "optimal": _T.OPTIMAL,
    "feasible": _T.FEASIBLE,
    "infeasible": _T.INFEASIBLE,
    "no_solution": _T.NO_SOLUTION_FOUND,
}


@dataclass(frozen=True)
class SweepOutcome:
    """One solve of the sweep: the plan (int32[U] options, or None), the proven lower
    bound of its objective (USD/h or kg/h; None: none), why it ended, its seconds, and
    the runs it pauses or moves (`placer.problem.preempt.Schedule`; None: none)."""

    assign_u: np.ndarray | None
    bound: float | None
    reason: mathopt.TerminationReason
    seconds: float
    schedule: dict[int, tuple] | None = None


class HybridSweepModel:
    """The sweep's model for large fleets: one hybrid solve per point (module docstring)."""

    def __init__(self, problem: Problem) -> None:
        if bool(problem.lexicographic):
            raise OptionError(
                f"pareto: a lexicographic scenario with {problem.num_pairs():,} feasible "
                f"pairs (more than {MILP_MAX_PAIRS:,}) cannot be swept: the hybrid that "
                "solves such fleets has no placed-value constraint; use mode weighted"
            )
        self.problem = problem
        self.row = global_row(problem.kind_r, K_CARBON)
        self.own_cap = float(problem.cap_r[self.row])
        self.cap = self.own_cap
        self.carbon = False

    def minimise_f1(self) -> None:
        self.carbon = False

    def minimise_carbon(self) -> None:
        self.carbon = True

    def set_cap(self, eps_kg_per_h: float) -> None:
        self.cap = float(min(eps_kg_per_h, self.own_cap))

    def capped(self) -> Problem:
        """The problem as the next solve sees it: the carbon row at the current cap, and
        carbon (with nothing lost by leaving a unit out) as the objective in carbon mode."""
        p = self.problem
        cap_r = p.cap_r.copy()
        cap_r[self.row] = self.cap
        p = p._replace(cap_r=cap_r)
        if self.carbon:
            over = p.over_usd_per_h_r  # soft rows: their excess costs money, not carbon
            p = p._replace(
                objective_usd_per_h_uk=p.amount_quk[Q_CARBON],
                unplaced_usd_per_h_u=np.zeros(p.num_units),
                over_usd_per_h_r=None if over is None else np.where(np.isfinite(over), 0.0, over),
                preempt=_carbon_schedules(p.preempt),
            )
        return p

    def solve(
        self, time_limit_s: float, relative_gap: float, seed: int, hint_u: np.ndarray | None
    ) -> SweepOutcome:
        started = time.perf_counter()
        problem = self.capped()
        limit_s = max(time_limit_s, 0.5)
        options = SolveOptions(
            time_limit_s=limit_s * engine_share(problem, "hybrid"),
            seed=seed,
            relative_gap=relative_gap,
            hint_u=None if hint_u is None else np.asarray(hint_u, np.int32),
        )
        result = solve_hybrid(problem, options)
        # the hybrid places preemptible runs contiguously: its bound is of that problem;
        # the bound that holds with pauses and moves, then the preemption polish
        result = with_preemption(problem, "hybrid", options, result, started + limit_s)
        has_plan = result.status in ("optimal", "feasible")
        return SweepOutcome(
            np.asarray(result.assign_u, np.int32) if has_plan else None,
            result.bound_usd_per_h if result.bound_scope == "full" else None,
            _REASONS[result.status],
            time.perf_counter() - started,
            result.preempt_schedule or None if has_plan else None,
        )


def _carbon_schedules(table: Preempt | None) -> Preempt | None:
    """The preemption table with carbon (kg/h) as each run period's objective, and
    nothing for the dataset's egress or a move (they cost money, not carbon)."""
    if table is None:
        return None
    moves = table.move_usd_per_h_v
    return table._replace(
        objective_usd_per_h_e=table.amount_qe[Q_CARBON].copy(),
        fixed_usd_per_h_c=np.zeros_like(table.fixed_usd_per_h_c),
        move_usd_per_h_v=None if moves is None else np.where(np.isfinite(moves), 0.0, moves),
    )


__all__ = ["MILP_MAX_PAIRS", "HybridSweepModel", "SweepOutcome"]
