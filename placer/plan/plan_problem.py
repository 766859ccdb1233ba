"""The compiled problem plans are read against (`placer score`, `placer explain`).

A timed fleet whose padded option table would not fit memory
(`placer.problem.compile_large.needs_restriction`: 100,000 units x 1,000 pools x 24
periods would take tens of GB) is solved on the restricted layout; reading a plan back
must not compile the whole table either. Here such a fleet compiles restricted, keeping
besides each unit's cheapest options every option the plans use, so each placement reads
back as the option it is (a placement the whole problem does not allow still reads as
unlisted: the same finding as on the whole problem). Other scenarios compile whole.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from placer.model.scenario import Scenario
from placer.plan.plan import Plan
from placer.problem.compile import compile_problem
from placer.problem.compile_large import compile_restricted, needs_restriction, option_keys
from placer.problem.compile_static import build_pools
from placer.problem.compile_time import static_view, timed_units
from placer.problem.form import Index, Problem


def plan_problem(scenario: Scenario, plans: Sequence[Plan]) -> tuple[Problem, Index]:
    """(problem, index) to read `plans` against (module docstring)."""
    if scenario.horizon is None or not needs_restriction(scenario):
        return compile_problem(scenario)
    return compile_restricted(scenario, also_uc=plan_option_keys(scenario, plans))[:2]


def plan_option_keys(scenario: Scenario, plans: Sequence[Plan]) -> np.ndarray:
    """int64[U, C]: the option (`option_keys`) each plan gives each unit of the timed
    `scenario` (units in compile order; -1 where it gives none, or names a unit or pool
    the scenario does not have, or a preempted schedule)."""
    horizon = scenario.horizon
    assert horizon is not None
    units = {
        (u.workload, u.region, u.copy, u.period, u.part): i
        for i, (u, _) in enumerate(timed_units(scenario))
    }
    pools = {
        (info.site, info.key): i
        for i, (info, _, _) in enumerate(build_pools(static_view(scenario)))
    }
    out = np.full((len(units), max(1, len(plans))), -1, np.int64)
    for c, plan in enumerate(plans):
        at: list[tuple[int, int, int, int]] = []  # (unit, pool, first period, periods)
        for pl in plan.placements:
            period = -1 if pl.period is None else pl.period
            u = units.get((pl.workload, pl.region, pl.copy_index, period, pl.part))
            p = pools.get((pl.site, pl.pool))
            if u is None or p is None or pl.segments is not None or pl.start_period is None:
                continue
            at.append((u, p, pl.start_period, pl.periods or 0))
        if at:
            u_n, p_n, s_n, n_n = np.array(at, np.int64).T
            out[u_n, c] = option_keys(p_n, s_n, n_n, horizon.periods)
    return out


__all__ = ["plan_option_keys", "plan_problem"]
