"""The placement of a preempted training run (`SolveResult.preempt_schedule`): its pool,
its segments and its totals over the whole periods it runs in (`placer.problem.preempt`;
verify recomputes them from the Scenario)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from placer.model.horizon import parse_instant
from placer.model.nodes import gpu_count
from placer.plan.plan import Placement, Segment
from placer.problem.form import Index, Problem
from placer.problem.preempt import schedule_terms, segments
from placer.problem.rows import Q_CARBON, Q_COST, Q_FACILITY_KW, Q_GPUS, Q_IT_KW, Q_WATER


def preempted_placement(
    problem: Problem, index: Index, u: int, pool: int, periods: tuple[int, ...]
) -> Placement:
    """Unit u run on `pool` in `periods` (whole periods, `segments`)."""
    table, time = problem.preempt, index.time
    assert table is not None and time is not None
    unit, info = index.units[u], index.pools[pool]
    c = table.choice_of(u, pool)
    terms = schedule_terms(table, {u: (pool, tuple(periods))}, problem.num_quantities)
    entry = table.entries_of(c)[0]
    origin = parse_instant(time.start)
    ph = time.period_hours

    def at(t: int) -> str:
        return (origin + dt.timedelta(hours=t * ph)).isoformat()

    parts = segments(periods)
    run_h = len(periods) * ph
    water_l = float(table.amount_qe[Q_WATER, entry]) * run_h
    cost = float(terms.total_q[Q_COST])
    carbon = float(terms.total_q[Q_CARBON])
    return Placement(
        unit=unit.name,
        workload=unit.workload,
        kind="training",
        region=unit.region,
        copy_index=unit.copy,
        site=info.site,
        pool=info.key,
        accelerator=info.accelerator,
        gpus=gpu_count(float(table.amount_qe[Q_GPUS, entry])),
        hours=float(table.need_h_c[c]),
        it_kw=float(table.amount_qe[Q_IT_KW, entry]),
        facility_kw=float(table.amount_qe[Q_FACILITY_KW, entry]),
        cost_usd_per_h=cost,
        carbon_kg_per_h=carbon,
        water_l_per_h=water_l / time.hours,
        start_period=parts[0][0],
        periods=len(periods),
        start=at(parts[0][0]),
        end=at(parts[-1][0] + parts[-1][1]),
        cost_usd=cost * time.hours,
        carbon_kg=carbon * time.hours,
        water_l=water_l,
        segments=[Segment(start_period=a, periods=n, start=at(a), end=at(a + n)) for a, n in parts],
        resumes=len(parts) - 1,
    )


def run_periods(start_period: int, periods: int, segments_: list | None) -> np.ndarray:
    """int64[n]: the periods a placement runs in (its segments', or its one run's)."""
    if segments_:
        spans = [np.arange(s.start_period, s.start_period + s.periods) for s in segments_]
        return np.concatenate(spans)
    return np.arange(start_period, start_period + periods)
