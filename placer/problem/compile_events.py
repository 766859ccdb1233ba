"""Grid events with a price per kWh over the limit: soft facility rows (docs/time.md).

A grid event with `over_limit_usd_per_kwh` does not lower the site's hard facility cap
(`compile_time.site_caps_per_period` leaves it out); it adds, in every period its window
touches, a *soft* facility row (`Problem.over_usd_per_h_r`): the site's facility draw
(IT kW x PUE, what the period's facility row carries) above the event's cap is paid.

Per (site, period t) touched by priced events:

  cap     the lowest of their caps, kW: from the grid cap (or IT capacity x PUE without
          one) less `cut_kw`, or times 1 - `cut_pct` / 100, as a hard event's; no
          headroom (`max_utilization` is a margin under hard limits; this is a price)
  price   the highest of their prices, USD/kWh, as USD per hour of the horizon per kW
          over the cap: price x period hours / horizon hours

A soft row is written only where its cap is below the period's hard facility row
(after headroom and hard events): elsewhere the hard cap binds first and no excess can
be drawn. Soft rows come after every other row; an option charges, in each period it
runs, its site's soft row of that period (its facility kW).
"""

from __future__ import annotations

import math

import numpy as np

from placer.model.horizon import Horizon, per_period
from placer.model.site import Site
from placer.problem.form import Problem
from placer.problem.rows import K_FACILITY, Q_FACILITY_KW, SITE_KINDS

#: Slack of a period boundary, h (as compile_time's windows).
_EPS = 1e-9


def priced_caps_per_period(site: Site, horizon: Horizon) -> tuple[np.ndarray, np.ndarray]:
    """(cap float64[T] kW, +inf where no priced event touches the period; price
    float64[T] USD/kWh, 0 there): the lowest cap and the highest price of the priced
    grid events of a site in each period."""
    n_t = horizon.periods
    cap = np.full(n_t, math.inf)
    price = np.zeros(n_t)
    it = per_period(site.power.it_capacity_kw, n_t, math.inf)
    grid = per_period(site.power.grid_cap_kw, n_t, math.inf)
    for event in site.grid_events:
        if not event.priced:
            continue
        for t, cut in event_caps_kw(site, horizon, event, it, grid):
            cap[t] = min(cap[t], cut)
            price[t] = max(price[t], float(event.over_limit_usd_per_kwh or 0.0))
    return cap, price


def event_caps_kw(site: Site, horizon: Horizon, event, it, grid) -> list[tuple[int, float]]:
    """(period, cap kW) for every period the event's window touches: the site's grid cap
    in it (IT capacity x PUE without one; `it`, `grid`: kW per period) less the cut."""
    n_t, ph = horizon.periods, horizon.period_hours
    a = horizon.hours_from_start(event.start)
    b = a + event.hours
    out = []
    for t in range(n_t):
        if (t + 1) * ph > a + _EPS and t * ph < b - _EPS:
            base = grid[t] if math.isfinite(grid[t]) else it[t] * site.power.pue
            out.append((t, event.cut_cap_kw(base)))
    return out


def with_priced_events(
    problem: Problem,
    period_r: np.ndarray,
    start_o: np.ndarray,
    length_o: np.ndarray,
    sites: list[Site],
    horizon: Horizon,
) -> tuple[Problem, np.ndarray]:
    """(the problem with a soft facility row per (site, period) a priced event makes
    binding, and its period_r int32[R'] extended to them); the problem unchanged (no
    `over_usd_per_h_r`) when no site has a priced event. `sites`: the scenario's timed
    sites in the problem's site order; `start_o`, `length_o`: int[O], each option's
    first period and periods."""
    n_t = horizon.periods
    n_s, n_p = len(sites), problem.num_pools
    if not any(e.priced for s in sites for e in s.grid_events):
        return problem, period_r
    block = n_p + len(SITE_KINDS) * n_s
    facility = SITE_KINDS.index(K_FACILITY)
    scale = horizon.period_hours / horizon.hours  # USD per kWh -> per kW per horizon hour
    caps, prices, scopes, periods = [], [], [], []
    soft_st = np.full((n_s, n_t), -1, np.int64)
    for s, site in enumerate(sites):
        cap_t, price_t = priced_caps_per_period(site, horizon)
        for t in np.flatnonzero(np.isfinite(cap_t)).tolist():
            hard = float(problem.cap_r[t * block + n_p + len(SITE_KINDS) * s + facility])
            if not cap_t[t] < hard:
                continue  # the hard cap binds first
            soft_st[s, t] = problem.num_rows + len(caps)
            caps.append(float(cap_t[t]))
            prices.append(float(price_t[t]) * scale)
            scopes.append(s)
            periods.append(t)
    if not caps:
        return problem, period_r
    n_new = len(caps)
    row_oj, quantity_oj, scale_oj = _with_soft_terms(
        problem.row_oj,
        problem.quantity_oj,
        problem.scale_oj,
        soft_st,
        problem.site_o,
        start_o,
        length_o,
    )
    over = np.concatenate([np.full(problem.num_rows, math.inf), prices])
    out = problem._replace(
        cap_r=np.concatenate([problem.cap_r, caps]),
        kind_r=np.concatenate([problem.kind_r, np.full(n_new, K_FACILITY, np.int8)]),
        scope_r=np.concatenate([problem.scope_r, np.array(scopes, np.int32)]),
        row_oj=row_oj,
        quantity_oj=quantity_oj,
        scale_oj=scale_oj,
        over_usd_per_h_r=over,
    )
    return out, np.concatenate([period_r, np.array(periods, np.int32)]).astype(np.int32)


def _with_soft_terms(row_oj, quantity_oj, scale_oj, soft_st, site_o, start_o, length_o):
    """(row_oj, quantity_oj, scale_oj) with, for each option, the soft row of its site in
    every period it runs (facility kW, scale 1) after its terms; J grows to the most any
    option has. `scale_oj` None (every scale 1) stays None."""
    n_o = row_oj.shape[0]
    longest = int(length_o.max(initial=1))
    extra = np.full((n_o, longest), -1, np.int64)
    for i in range(longest):
        runs = length_o > i
        t = np.where(runs, start_o + i, 0)
        extra[:, i] = np.where(runs, soft_st[site_o, t], -1)
    rows = np.concatenate([row_oj.astype(np.int64), extra], axis=1)
    quantity = np.concatenate(
        [quantity_oj, np.where(extra >= 0, Q_FACILITY_KW, 0).astype(np.int8)], axis=1
    )
    order = np.argsort(rows < 0, axis=1, kind="stable")  # the terms that exist first
    rows = np.take_along_axis(rows, order, axis=1)
    quantity = np.where(rows >= 0, np.take_along_axis(quantity, order, axis=1), 0)
    used = max(1, int((rows >= 0).sum(axis=1).max(initial=0)))
    scale = None
    if scale_oj is not None:
        scale = np.concatenate([scale_oj, np.ones(extra.shape)], axis=1)
        scale = np.where(rows >= 0, np.take_along_axis(scale, order, axis=1), 1.0)
        scale = np.ascontiguousarray(scale[:, :used])
    return (
        np.ascontiguousarray(rows[:, :used], dtype=np.int32),
        np.ascontiguousarray(quantity[:, :used], dtype=np.int8),
        scale,
    )
