"""The water a rolling re-plan's first day has left (`placer.analysis.rolling`).

A site's water cap holds per calendar day (`placer.problem.water_days`). A re-plan at a
period t that is not a midnight sees the rest of t's day as its day 0, with the whole
day's cap; the committed work of the day's periods before t (services, and the hours
runs have run) already drew some of it. `water_drawn_today` sums those litres from the
committed schedule on the whole scenario's problem; `with_water_drawn` takes them off the
window's day-0 water rows, so the stitched schedule keeps each day's cap.
"""

from __future__ import annotations

import numpy as np

from placer.problem.form import Index, Problem
from placer.problem.preempt import Schedule
from placer.problem.rows import K_WATER, Q_WATER


def water_drawn_today(
    problem: Problem,
    index: Index,
    assign_u: np.ndarray,
    t: int,
    days: list[int] | None,
    schedule: Schedule | None = None,
) -> dict[str, float]:
    """Litres each site drew in the periods of t's day before t, under the committed
    assignment `assign_u` (int[U], options of the whole problem, -1 unplaced) and the
    preemptible runs' `schedule` (unit -> (pool, periods)); {} at a midnight, or when
    days are not whole periods (`Horizon.period_days` None)."""
    time_index = index.time
    assert time_index is not None
    if days is None or t == 0 or days[t - 1] != days[t]:
        return {}
    first = t
    while first > 0 and days[first - 1] == days[t]:
        first -= 1
    slot_u = problem.slot_of(assign_u)
    placed = np.flatnonzero((assign_u >= 0) & (slot_u >= 0))
    out: dict[str, float] = {}
    for u in placed.tolist():
        o = int(assign_u[u])
        begin = int(time_index.start_o[o])
        stop = begin + int(time_index.length_o[o])
        periods = max(0, min(stop, t) - max(begin, first))
        if periods == 0:
            continue
        rate = float(problem.amount_quk[Q_WATER, u, slot_u[u]])
        site = index.sites[int(problem.site_o[o])]
        out[site] = out.get(site, 0.0) + rate * periods * time_index.period_hours
    table = problem.preempt
    for u, (pool, ran) in sorted((schedule or {}).items()):
        assert table is not None
        own = table.entries_of(table.choice_of(u, int(pool)))
        period = table.period_e[own]
        today = own[(period >= first) & (period < t) & np.isin(period, list(ran))]
        site = index.sites[int(problem.pool_site_p[int(pool)])]
        litres = float(table.amount_qe[Q_WATER, today].sum()) * time_index.period_hours
        out[site] = out.get(site, 0.0) + litres
    return out


def with_water_drawn(problem: Problem, index: Index, drawn_l: dict[str, float]) -> Problem:
    """The window's problem with each site's day-0 water row lowered by the litres its
    day already drew (`drawn_l`; the row holds the day's mean L/h: litres / 24), at
    least 0."""
    if not drawn_l:
        return problem
    time_index = index.time
    assert time_index is not None
    cap = problem.cap_r.copy()
    first_day = (problem.kind_r == K_WATER) & (time_index.period_r == 0) & np.isfinite(cap)
    for r in np.flatnonzero(first_day).tolist():
        litres = drawn_l.get(index.sites[int(problem.scope_r[r])], 0.0)
        cap[r] = max(0.0, cap[r] - litres / 24.0)
    return problem._replace(cap_r=cap)
