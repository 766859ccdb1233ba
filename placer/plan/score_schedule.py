"""Scores of plans whose training runs pause or move (`segments`; docs/time.md).

A preempted run is no option of the Problem, so the batch scores (`scoring.score`) leave
it out, as if unplaced. `schedule_of` reads its segments back as the Problem's
`Schedule`; `with_schedule` then corrects its plan's score in float64: the objective
(`usage.objective_value` with the schedule), the cost, carbon and water of the run's
periods, the capacity rows its periods load (the excess over hard rows, kind by kind,
with and without it), and a must-place run no longer counted as left out.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from placer.errors import OptionError
from placer.plan.plan import Plan
from placer.problem.form import Index, Problem
from placer.problem.preempt import Schedule
from placer.problem.rows import Q_CARBON, Q_COST, Q_WATER, VIOLATIONS
from placer.problem.soft import excess_usd_per_h, has_soft_rows, soft_mask
from placer.problem.usage import objective_value, preempted, row_loads


def schedule_of(plan: Plan, index: Index) -> Schedule:
    """unit -> (pool, periods), or (first pool, periods, the pool of each period) for a
    run that changes pools: every placement of `plan` with `segments`.

    Raises:
      OptionError: a placement names a unit or pool the scenario does not have.
    """
    units = {(u.workload, u.region, u.copy, u.period, u.part): i for i, u in enumerate(index.units)}
    pools = {(p.site, p.key): i for i, p in enumerate(index.pools)}
    out: Schedule = {}
    for n, pl in enumerate(plan.placements):
        if pl.segments is None:
            continue
        u = units.get((pl.workload, pl.region, pl.copy_index, -1, pl.part))
        if u is None:
            raise OptionError(f"placements.{n}: the scenario has no unit {pl.unit}")
        where: dict[int, int] = {}
        for seg in pl.segments:
            key = (seg.site or pl.site, seg.pool or pl.pool)
            if key not in pools:
                raise OptionError(f"placements.{n}: the scenario has no pool {key[0]}/{key[1]}")
            for t in range(seg.start_period, seg.start_period + seg.periods):
                where[t] = pools[key]
        periods = tuple(sorted(where))
        run_pools = tuple(where[t] for t in periods)
        if len(set(run_pools)) == 1:
            out[u] = (run_pools[0], periods)
        else:
            out[u] = (run_pools[0], periods, run_pools)
    return out


def with_schedule(problem: Problem, assign_u: np.ndarray, schedule: Schedule, score, tol: float):
    """`score` (a `scoring.PlanScore` of `assign_u`, the scheduled runs at -1) with the
    runs of `schedule` in it (module docstring); `check_schedule` first."""
    if not schedule:
        return score
    check_schedule(problem, schedule)
    terms = preempted(problem, schedule)
    assert terms is not None
    before = row_loads(problem, assign_u)
    after = row_loads(problem, assign_u, schedule)
    paid = 0.0
    if has_soft_rows(problem):
        paid = excess_usd_per_h(problem, after) - excess_usd_per_h(problem, before)
    hard = np.isfinite(problem.cap_r) & ~soft_mask(problem)
    cap = np.where(hard, problem.cap_r, 0.0)
    grew = np.where(hard, np.maximum(after - cap, 0.0) - np.maximum(before - cap, 0.0), 0.0)
    violations = dict(score.violations)
    for kind in np.unique(problem.kind_r[hard]).tolist():
        name = VIOLATIONS[kind]
        value = violations.get(name, 0.0) + float(grew[problem.kind_r == kind].sum())
        violations.pop(name, None)
        if value > tol:
            violations[name] = value
    scheduled = np.array(sorted(schedule), np.int64)
    must = float(problem.must_place_u[scheduled].sum())
    if "masked" in violations:
        violations["masked"] -= must
        if violations["masked"] <= tol:
            violations.pop("masked")
    return dataclasses.replace(
        score,
        objective_usd_per_h=objective_value(problem, assign_u, schedule),
        cost_usd_per_h=score.cost_usd_per_h + float(terms.total_q[Q_COST]) + paid,
        carbon_kg_per_h=score.carbon_kg_per_h + float(terms.total_q[Q_CARBON]),
        water_l_per_h=score.water_l_per_h + float(terms.total_q[Q_WATER]),
        violations=violations,
    )


def check_schedule(problem: Problem, schedule: Schedule, index: Index | None = None) -> None:
    """Every scheduled unit is a run that may pause or move, on pools and in periods of
    its window (`Problem.preempt`); else OptionError naming the unit (by its name when
    `index` is given; the verifier says more).

    Raises:
      OptionError: a unit paused or moved that may not be, or that runs where it may not.
    """
    table = problem.preempt
    for u, value in schedule.items():
        name = index.units[u].name if index is not None else f"unit {u}"
        if table is None or table.run_of(u) < 0:
            raise OptionError(
                f"{name} is paused or moved in the plan, but it may not pause or move here "
                "(a training run pauses with `preemptible`, moves with `migration_usd`; a "
                "large fleet read on the restricted layout keeps no pauses: docs/engine.md)"
            )
        pools = value[2] if len(value) > 2 else (value[0],) * len(value[1])
        for t, p in zip(value[1], pools, strict=True):
            c = table.choice_of(u, int(p))
            if c < 0 or t not in set(table.period_e[table.entries_of(c)].tolist()):
                pool = index.pools[int(p)].name if index is not None else f"pool {p}"
                raise OptionError(f"{name} runs in period {t} on {pool}, outside its window")


__all__ = ["check_schedule", "schedule_of", "with_schedule"]
