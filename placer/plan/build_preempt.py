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
from placer.problem.preempt import (
    fixed_and_moves,
    pool_segments,
    schedule_pools,
    schedule_terms,
    transitions,
)
from placer.problem.rows import Q_CARBON, Q_COST, Q_FACILITY_KW, Q_GPUS, Q_IT_KW, Q_WATER


def preempted_placement(
    problem: Problem,
    index: Index,
    u: int,
    pool: int,
    periods: tuple[int, ...],
    pools: tuple[int, ...] | None = None,
) -> Placement:
    """Unit u run on `pool` in `periods` (whole periods, `segments`), or on `pools[i]` in
    `periods[i]` (a run that migrates). The placement's site, pool and rates are its
    first segment's; each segment states its own."""
    table, time = problem.preempt, index.time
    assert table is not None and time is not None
    value = (pool, tuple(periods), tuple(pools) if pools is not None else None)
    terms = schedule_terms(table, {u: value}, problem.num_quantities)
    _, moves, moved_usd_per_h = fixed_and_moves(table, u, value)
    origin = parse_instant(time.start)
    ph = time.period_hours
    unit = index.units[u]

    def at(t: int) -> str:
        return (origin + dt.timedelta(hours=t * ph)).isoformat()

    every = schedule_pools(value)
    parts = pool_segments(list(periods), list(every))
    segments_, seen_sites = [], set()
    for a, n, p in parts:
        c = table.choice_of(u, p)
        own = table.entries_of(c)
        entries = own[np.searchsorted(table.period_e[own], np.arange(a, a + n))]
        info = index.pools[p]
        cost = float(table.amount_qe[Q_COST, entries].sum()) * time.hours
        if info.site not in seen_sites:  # the dataset's egress, once per site
            cost += float(table.fixed_usd_per_h_c[c]) * time.hours
            seen_sites.add(info.site)
        segments_.append(
            Segment(
                start_period=a,
                periods=n,
                start=at(a),
                end=at(a + n),
                pool=info.key,
                site=info.site,
                accelerator=info.accelerator,
                gpus=gpu_count(float(table.amount_qe[Q_GPUS, entries[0]])),
                it_kw=float(table.amount_qe[Q_IT_KW, entries[0]]),
                facility_kw=float(table.amount_qe[Q_FACILITY_KW, entries[0]]),
                cost_usd=cost,
                carbon_kg=float(table.amount_qe[Q_CARBON, entries].sum()) * time.hours,
                water_l=float(table.amount_qe[Q_WATER, entries[0]]) * n * ph,
            )
        )
    first = segments_[0]
    c0 = table.choice_of(u, parts[0][2])
    migrates = bool(table.migrates_v[table.run_c[c0]])
    cost = float(terms.total_q[Q_COST]) - moved_usd_per_h
    carbon = float(terms.total_q[Q_CARBON])
    water_l = sum(s.water_l or 0.0 for s in segments_)
    _, resumes = transitions(list(periods), list(every))
    return Placement(
        unit=unit.name,
        workload=unit.workload,
        kind="training",
        region=unit.region,
        copy_index=unit.copy,
        site=first.site or "",
        pool=first.pool or "",
        accelerator=first.accelerator or "",
        gpus=first.gpus or 0,
        hours=float(table.need_h_c[c0]),
        it_kw=first.it_kw or 0.0,
        facility_kw=first.facility_kw or 0.0,
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
        segments=segments_,
        resumes=len(resumes),
        moves=moves if migrates else None,
        migration_usd=moved_usd_per_h * time.hours if migrates else None,
    )


def run_periods(start_period: int, periods: int, segments_: list | None) -> np.ndarray:
    """int64[n]: the periods a placement runs in (its segments', or its one run's)."""
    if segments_:
        spans = [np.arange(s.start_period, s.start_period + s.periods) for s in segments_]
        return np.concatenate(spans)
    return np.arange(start_period, start_period + periods)
