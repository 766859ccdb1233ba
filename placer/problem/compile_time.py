"""compile for a scenario with a horizon: time is more options and more rows.

A timed scenario compiles to the same `Problem` as a static one (`placer.problem.form`);
only what an option and a row stand for grows:

- Rows: every static row is repeated per period (pool GPUs, site IT, facility, heat kW
  and water L/h in period t, with that period's capacity: series, grid events, dates
  capacity arrives; a day's water cap on its first period's row), then the budget and
  the carbon cap over the horizon.
- Options: (pool, first period, length in periods). A training run is one unit whose
  options are every pool and start that fit its window (earliest start, deadline, the
  horizon's end) as one contiguous run; it charges its pool's and site's rows in each
  period it runs. An inference service is one unit per (region, period, redundancy
  copy, demand share); its options are (pool, that period, 1).
- Money and carbon are averaged per hour of the horizon, so budgets, caps and the
  objective keep their static units (USD/h, kg/h): the totals are these times the
  horizon's hours. A run's last period may be partial: it holds its GPUs and power
  for the whole period, and pays and emits for the hours it runs.

Per (unit, pool), the static rules (mask, GPUs, kW, run hours, latency, replicas) are
`placer.problem.compile_static`'s, applied to the scenario's static view (each series by its
largest value for capacities and demand, its mean for prices); per (unit, option):

  cost    hours x GPUs x USD/GPU-h + mean kW x PUE x sum over run periods of
          (hours run in the period x USD/kWh in it) + dataset egress USD   / horizon h
  carbon  mean kW x PUE x sum (hours run x gCO2e/kWh) / 1000             / horizon h
  water   mean kW x WUE (L/h while it runs; the row amount, charged to its day's water
          row x its periods that day x period h / 24: `placer.problem.water_days`), and
          its horizon mean in the objective

An option charges only the rows that can bind (`timed_terms`): a capped row, and a heat
row only where its cap is below the IT row's.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import NamedTuple

import numpy as np

from placer.model.horizon import Horizon, per_period
from placer.model.scenario import PERIOD_CAP_FIELDS, Scenario
from placer.model.site import Site
from placer.model.workload import Inference, Training
from placer.problem.compile_events import event_caps_kw, with_priced_events
from placer.problem.compile_static import (
    CHUNK_CELLS,
    _Context,
    _groups,
    _pair_arrays,
    build_pools,
    reason_counts,
)
from placer.problem.form import (
    NUM_REASONS,
    R_DEADLINE,
    Index,
    Problem,
    TimeIndex,
    Unit,
)
from placer.problem.period_caps import compile_period_caps
from placer.problem.rows import (
    K_BUDGET,
    K_CARBON,
    K_GPUS,
    K_HEAT,
    K_WATER,
    Q_CARBON,
    Q_COST,
    Q_FACILITY_KW,
    Q_GPUS,
    Q_IT_KW,
    Q_WATER,
    QUANTITIES,
    SITE_KINDS,
)
from placer.problem.startup import compile_startup
from placer.problem.water_days import WaterDays, day_caps, merge_day_terms, water_days

#: The quantity a run charges, in each period, to its pool's GPU row and to its site's IT,
#: facility, heat (the IT power: heat to reject = IT power) and water rows, in that order.
_PERIOD_QUANTITIES = (Q_GPUS, Q_IT_KW, Q_FACILITY_KW, Q_IT_KW, Q_WATER)


def compile_timed(
    scenario: Scenario, *, size_rule: bool = True, select=None
) -> tuple[Problem, Index]:
    """Compiles a scenario with a horizon into the one Problem form (`size_rule` as in
    `placer.problem.compile.compile_problem`).

    `select(entries) -> bool[E]`, when given, sees each chunk of units' (unit, option)
    entries (a dict of `_ENTRY_FIELDS` arrays, unit indices global) and keeps only the
    ones it marks: a restricted problem whose options are a subset of the whole one's,
    on the same rows (`placer.problem.compile_large`).

    Raises:
      ValueError: the scenario has no horizon.
    """
    horizon = scenario.horizon
    if horizon is None:
        raise ValueError("compile_timed needs a scenario with a horizon")
    n_t, ph = horizon.periods, horizon.period_hours
    span_h = horizon.hours
    static = static_view(scenario)
    sites = sorted(static.sites, key=lambda s: s.id)
    timed_sites = {s.id: s for s in scenario.sites}
    pools = build_pools(static)
    n_p, n_s = len(pools), len(sites)
    units = timed_units(scenario)
    n_u = len(units)
    ctx = _Context(static, size_rule)
    static_w = {w.id: w for w in static.workloads}
    site_p = np.array([sites.index(st) for _, st, _ in pools], np.int64)
    price_st = np.array(
        [per_period(timed_sites[s.id].power.price_usd_per_kwh, n_t, 0.0) for s in sites]
    ).reshape(n_s, n_t)
    grid_st = np.array(
        [per_period(timed_sites[s.id].power.carbon_g_per_kwh, n_t, 0.0) for s in sites]
    ).reshape(n_s, n_t)
    periods = _Periods(price_st, grid_st, ph)
    pools_p = _PoolFacts(
        site_p,
        np.array([st.power.pue for _, st, _ in pools]),
        np.array([st.cooling.wue_l_per_kwh for _, st, _ in pools]),
    )
    facts = _unit_windows(units, horizon, [s.id for s in sites], timed_sites)
    obj = scenario.objective
    step = max(1, CHUNK_CELLS // max(n_p, 1))
    parts = []
    preemptible = [  # runs that may pause or migrate (`Problem.preempt`)
        u
        for u, (_, w) in enumerate(units)
        if getattr(w, "preemptible", False) or getattr(w, "migratable", False)
    ]
    pre_pairs = []  # (unit, pool) facts of preemptible runs (`compile_preempt`)
    reason_ur = np.zeros((n_u, NUM_REASONS), np.int32)
    allowed_u = np.zeros(n_u, np.int64)
    for start in range(0, n_u, step):
        chunk = [(u, static_w[w.id]) for u, w in units[start : start + step]]
        arrays, bits, reps = _pair_arrays(chunk, pools, sites, ctx)
        reason_ur[start : start + len(chunk)] = reason_counts(bits)
        part = _chunk_options(start, arrays, bits, reps, facts, pools_p, periods, n_t, allowed_u)
        if select is not None:
            keep = select(part)
            part = {name: values[keep] for name, values in part.items()}
        parts.append(part)
        if preemptible:
            pre_pairs.append(_preempt_pairs(start, len(chunk), arrays, bits, preemptible))
    entries = {
        name: np.concatenate([p[name] for p in parts])
        if parts
        else np.zeros(0, np.int64 if name in _WHOLE_FIELDS else float)
        for name in _ENTRY_FIELDS
    }
    # a run no start of which fits its window on any pool it may use: the deadline
    late = facts.train_u & (np.bincount(entries["u"], minlength=n_u) == 0)
    reason_ur[late, int(R_DEADLINE).bit_length() - 1] += allowed_u[late].astype(np.int32)
    # options: distinct (pool, start, length), numbered in that order
    key = (entries["p"] * (n_t + 1) + entries["s0"]) * (n_t + 1) + entries["n"]
    keys, option_e = np.unique(key, return_inverse=True)
    pool_o = (keys // ((n_t + 1) ** 2)).astype(np.int32)
    start_o = ((keys // (n_t + 1)) % (n_t + 1)).astype(np.int32)
    length_o = (keys % (n_t + 1)).astype(np.int32)
    # slots: each unit's options in ascending order
    order = np.lexsort((option_e, entries["u"]))
    u_e = entries["u"][order]
    counts = np.bincount(u_e, minlength=n_u)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    k_e = np.arange(u_e.size) - first[u_e]
    width = max(1, int(counts.max(initial=0)))
    at = (u_e, k_e)
    option_uk = np.full((n_u, width), -1, np.int32)
    option_uk[at] = option_e[order]
    amount_quk = np.zeros((len(QUANTITIES), n_u, width))
    for q, name in ((Q_GPUS, "gpus"), (Q_IT_KW, "it_kw"), (Q_FACILITY_KW, "facility_kw")):
        amount_quk[q][at] = entries[name][order]
    amount_quk[Q_WATER][at] = entries["water_l_per_h"][order]
    amount_quk[Q_COST][at] = entries["cost_usd"][order] / span_h
    amount_quk[Q_CARBON][at] = entries["carbon_kg"][order] / span_h
    objective_uk = np.zeros((n_u, width))
    objective_uk[at] = (
        entries["cost_usd"][order]
        + obj.carbon_price_usd_per_t * entries["carbon_kg"][order] / 1000.0
        + obj.water_price_usd_per_m3 * entries["water_l"][order] / 1000.0
    ) / span_h
    latency_uk = np.zeros((n_u, width))
    latency_uk[at] = entries["latency"][order]
    hours_uk = np.zeros((n_u, width))
    hours_uk[at] = entries["hours"][order]
    replicas_uk = np.zeros((n_u, width), np.int32)
    replicas_uk[at] = entries["replicas"][order]
    cap_r, kind_r, scope_r, period_r = timed_rows(scenario, horizon, pools, sites)
    row_oj, quantity_oj, scale_oj = timed_terms(
        pool_o, start_o, length_o, site_p, cap_r, n_p, n_s, n_t, water_days(horizon)
    )
    group_u, spread_key_gp = _groups(units, pools, sites)
    value_u, must_u = _unit_values(units, horizon)
    problem = Problem(
        option_uk=option_uk,
        objective_usd_per_h_uk=objective_uk,
        amount_quk=amount_quk,
        latency_ms_uk=latency_uk,
        reason_count_ur=reason_ur.astype(np.int32).reshape(n_u, NUM_REASONS),
        unplaced_usd_per_h_u=value_u,
        must_place_u=must_u,
        group_u=group_u,
        pool_o=pool_o,
        spread_key_go=spread_key_gp[:, pool_o] if pool_o.size else spread_key_gp[:, :0],
        pool_site_p=site_p.astype(np.int32),
        cap_r=cap_r,
        kind_r=kind_r,
        scope_r=scope_r,
        row_oj=row_oj,
        quantity_oj=quantity_oj,
        scale_oj=term_scales(scale_oj),
        lexicographic=np.array(obj.mode == "lexicographic"),
        startup=compile_startup(
            scenario,
            [u.workload for u, _ in units],
            [u.period for u, _ in units],
            replicas_uk,
            [info.name for info, _, _ in pools],
        ),
    )
    problem, period_r = with_priced_events(
        problem, period_r, start_o, length_o, [timed_sites[s.id] for s in sites], horizon
    )
    if any(getattr(obj, name) is not None for name in PERIOD_CAP_FIELDS):
        problem = problem._replace(
            period_caps=_period_caps(scenario, entries, order, at, site_p, periods, facts, period_r)
        )
    if preemptible:
        overhead = {u: _run_facts(units[u][1], span_h) for u in preemptible}
        problem = problem._replace(
            preempt=compile_preempt(
                problem, period_r, pre_pairs, overhead, facts, pools_p, periods, obj, horizon, keys
            )
        )
    index = Index(
        units=tuple(u for u, _ in units),
        pools=tuple(info for info, _, _ in pools),
        sites=tuple(s.id for s in sites),
        replicas_uk=replicas_uk,
        hours_uk=hours_uk,
        time=TimeIndex(horizon.start, ph, n_t, start_o, length_o, period_r, pool_o),
    )
    return problem, index


def _period_caps(scenario, entries, order, at, site_p, periods, facts, period_r):
    """The `PeriodCaps` of a timed problem from its (unit, option) entries (`order`:
    their slot order, `at`: their (unit, slot) in that order)."""
    horizon = scenario.horizon
    n_t, ph = horizon.periods, horizon.period_hours
    obj = scenario.objective
    sorted_ = {name: entries[name][order] for name in ("p", "s0", "n", "gpu_usd_h")}
    site = site_p[sorted_["p"]]
    u = at[0].astype(np.int64)
    egress = entries["egress_usd"][order]
    runs = {
        "u": u,
        "k": at[1].astype(np.int64),
        "s0": sorted_["s0"].astype(np.int64),
        "n": sorted_["n"].astype(np.int64),
        "fraction": entries["fraction"][order],
        "gpu_usd_h": sorted_["gpu_usd_h"],
        "energy_kwh": entries["energy_kwh"][order],
        "egress_usd": egress,
        # the egress counts in the first period of the run's window (period_caps)
        "egress_t": np.where(egress > 0, np.minimum(facts.first_u[u], n_t - 1), -1),
        "price_t": lambda e, t: periods.price_st[site[e], t],
        "grid_t": lambda e, t: periods.grid_st[site[e], t],
    }
    inf = math.inf
    return compile_period_caps(
        per_period(obj.budget_usd_per_period_h, n_t, inf),
        per_period(obj.carbon_cap_kg_per_period_h, n_t, inf),
        ph,
        horizon.hours,
        runs,
        period_r,
    )


_ENTRY_FIELDS = (
    "u",
    "p",
    "s0",
    "n",
    "gpus",
    "it_kw",
    "facility_kw",
    "water_l_per_h",
    "water_l",
    "cost_usd",
    "carbon_kg",
    "latency",
    "hours",
    "replicas",
    "gpu_usd_h",
    "energy_kwh",
    "fraction",
    "egress_usd",
)


_WHOLE_FIELDS = ("u", "p", "s0", "n", "replicas")


class _Periods(NamedTuple):
    """Tariff and intensity of each site per period, with their running sums."""

    price_st: np.ndarray  # USD/kWh [S, T]
    grid_st: np.ndarray  # gCO2e/kWh [S, T]
    period_hours: float

    def window(self, table: np.ndarray, site, s0, n, last_fraction) -> np.ndarray:
        """sum over the run's periods of table[site, t] x the share of t it runs."""
        cum = np.concatenate([np.zeros((table.shape[0], 1)), np.cumsum(table, axis=1)], axis=1)
        last = s0 + n - 1
        return cum[site, last] - cum[site, s0] + last_fraction * table[site, last]


class _PoolFacts(NamedTuple):
    site_p: np.ndarray  # int[P]
    pue_p: np.ndarray
    wue_p: np.ndarray


class _Windows(NamedTuple):
    """Per unit: training or not, first start period, hours by which it must end, the
    period of an inference unit, and the dataset's site and egress (USD) of a run."""

    train_u: np.ndarray
    first_u: np.ndarray
    end_h_u: np.ndarray
    period_u: np.ndarray
    data_site_u: np.ndarray
    egress_usd_u: np.ndarray


def _unit_windows(units, horizon: Horizon, site_ids: list[str], timed_sites) -> _Windows:
    n_u = len(units)
    out = _Windows(
        np.zeros(n_u, bool),
        np.zeros(n_u, np.int64),
        np.full(n_u, horizon.hours),
        np.zeros(n_u, np.int64),
        np.full(n_u, -1, np.int64),
        np.zeros(n_u),
    )
    for u, (unit, w) in enumerate(units):
        if isinstance(w, Training):
            out.train_u[u] = True
            out.first_u[u], out.end_h_u[u] = training_window(w, horizon)
            if w.dataset is not None:
                out.data_site_u[u] = site_ids.index(w.dataset.site)
                src = timed_sites[w.dataset.site]
                out.egress_usd_u[u] = src.egress_usd_per_gb * w.dataset.size_gb
        else:
            out.period_u[u] = unit.period
    return out


def _chunk_options(
    start, arrays, bits, reps, facts: _Windows, pools: _PoolFacts, periods, n_t, allowed
):
    """Every (unit, option) entry of one chunk of units, vectorised over entries: a run's
    starts in its window, a service unit's one period; cost, carbon and water over the
    periods each runs (module docstring). Counts each unit's allowed pools in
    `allowed` (int64[U])."""
    ph = periods.period_hours
    cu, p = np.nonzero(bits == 0)
    u = cu + start
    allowed[u] += 1
    hours = arrays["hours"][cu, p]
    train = facts.train_u[u]
    n = np.where(train, np.maximum(1, np.ceil(hours / ph - 1e-9)), 1).astype(np.int64)
    first = np.where(train, facts.first_u[u], facts.period_u[u])
    by_end = np.floor((facts.end_h_u[u] - hours + 1e-9) / ph).astype(np.int64)
    last = np.where(train, np.minimum(n_t - n, by_end), facts.period_u[u])
    count = np.maximum(0, last - first + 1)
    pair = np.repeat(np.arange(cu.size), count)
    s0 = first[pair] + (np.arange(pair.size) - np.repeat(np.cumsum(count) - count, count))
    cu, p, u, hours, train, n = cu[pair], p[pair], u[pair], hours[pair], train[pair], n[pair]
    run_h = np.where(train, hours, ph)
    fraction = np.where(train, (hours - (n - 1) * ph) / ph, 1.0)
    site = pools.site_p[p]
    mean_kw = arrays["mean_kw"][cu, p]
    energy_kwh = mean_kw * pools.pue_p[p] * ph
    moved = train & (facts.data_site_u[u] >= 0) & (facts.data_site_u[u] != site)
    cost = (
        run_h * arrays["gpu_usd_per_h"][cu, p]
        + energy_kwh * periods.window(periods.price_st, site, s0, n, fraction)
        + np.where(moved, facts.egress_usd_u[u], 0.0)
    )
    carbon = energy_kwh * periods.window(periods.grid_st, site, s0, n, fraction) / 1000.0
    water_rate = mean_kw * pools.wue_p[p]
    return {
        "u": u,
        "p": p,
        "s0": s0,
        "n": n,
        "gpus": arrays["gpus"][cu, p],
        "it_kw": arrays["it_kw"][cu, p],
        "facility_kw": arrays["facility_kw"][cu, p],
        "water_l_per_h": water_rate,
        "water_l": water_rate * run_h,
        "cost_usd": cost,
        "carbon_kg": carbon,
        "latency": arrays["latency"][cu, p],
        "hours": np.where(train, hours, 0.0),
        "replicas": reps[cu, p],
        # what `compile_period_caps` splits over the periods the option runs in
        "gpu_usd_h": arrays["gpu_usd_per_h"][cu, p],
        "energy_kwh": energy_kwh,
        "fraction": fraction,
        "egress_usd": np.where(moved, facts.egress_usd_u[u], 0.0),
    }


def _preempt_pairs(start, n, arrays, bits, preemptible) -> dict[str, np.ndarray]:
    """The allowed (unit, pool) pairs of the preemptible runs of one chunk, with what a
    period of running there needs (`compile_preempt`)."""
    local = np.array([u - start for u in preemptible if start <= u < start + n], np.int64)
    cu, p = np.nonzero(bits[local] == 0)
    cu = local[cu]
    out = {"u": cu + start, "p": p}
    for name in ("hours", "gpus", "it_kw", "facility_kw", "mean_kw", "gpu_usd_per_h"):
        out[name] = arrays[name][cu, p]
    return out


def compile_preempt(
    problem, period_r, pre_pairs, overhead, facts, pools_p, periods, obj, horizon, keys
):
    """The `placer.problem.preempt.Preempt` table of a timed problem's preemptible runs
    (None when none may run anywhere): per run and allowed pool whose window of whole
    periods holds its hours, each whole period of the window with what running in it
    costs and charges (the rows a one-period option there charges)."""
    from placer.problem.compile_events import _with_soft_terms
    from placer.problem.preempt import Preempt

    n_t, ph, span_h = horizon.periods, horizon.period_hours, horizon.hours
    pairs = (
        {k: np.concatenate([part[k] for part in pre_pairs]) for k in pre_pairs[0]}
        if pre_pairs
        else {}
    )
    if not pairs or pairs["u"].size == 0:
        return None
    order = np.lexsort((pairs["p"], pairs["u"]))
    pairs = {k: v[order] for k, v in pairs.items()}
    u, p = pairs["u"], pairs["p"]
    first = facts.first_u[u]
    stop = np.minimum(n_t, np.floor((facts.end_h_u[u] + 1e-9) / ph).astype(np.int64))
    # a run that migrates may use a pool it cannot finish on alone
    migrates = np.array([bool(np.isfinite(overhead[int(v)][2])) for v in u], bool)
    # (and a window of no whole period holds nothing, a run that migrates included)
    fits = (((stop - first) * ph >= pairs["hours"] - 1e-9) | migrates) & (stop > first)
    pairs = {k: v[fits] for k, v in pairs.items()}
    u, p, first, stop = pairs["u"], pairs["p"], first[fits], stop[fits]
    if u.size == 0:
        return None
    unit_v = np.unique(u)
    run_c = np.searchsorted(unit_v, u)
    count = stop - first
    choice_e = np.repeat(np.arange(u.size), count)
    period_e = first[choice_e] + (
        np.arange(choice_e.size) - np.repeat(np.cumsum(count) - count, count)
    )
    pool_e = p[choice_e]
    site_e = pools_p.site_p[pool_e]
    mean_kw = pairs["mean_kw"][choice_e]
    energy_kwh = mean_kw * pools_p.pue_p[pool_e] * ph
    cost = ph * pairs["gpu_usd_per_h"][choice_e] + energy_kwh * periods.price_st[site_e, period_e]
    carbon = energy_kwh * periods.grid_st[site_e, period_e] / 1000.0
    water_rate = mean_kw * pools_p.wue_p[pool_e]
    amount = np.zeros((len(QUANTITIES), choice_e.size))
    amount[Q_GPUS] = pairs["gpus"][choice_e]
    amount[Q_IT_KW] = pairs["it_kw"][choice_e]
    amount[Q_FACILITY_KW] = pairs["facility_kw"][choice_e]
    amount[Q_WATER] = water_rate
    amount[Q_COST] = cost / span_h
    amount[Q_CARBON] = carbon / span_h
    objective = (
        cost
        + obj.carbon_price_usd_per_t * carbon / 1000.0
        + obj.water_price_usd_per_m3 * water_rate * ph / 1000.0
    ) / span_h
    moved = (facts.data_site_u[u] >= 0) & (facts.data_site_u[u] != pools_p.site_p[p])
    fixed = np.where(moved, facts.egress_usd_u[u], 0.0) / span_h
    n_p, n_s = problem.num_pools, problem.num_sites  # a site without pools has rows too
    ones = np.ones(choice_e.size, np.int64)
    base_rows = problem.cap_r[: (n_p + len(SITE_KINDS) * n_s) * n_t + 2]
    row, quantity, scale = timed_terms(
        pool_e, period_e, ones, pools_p.site_p, base_rows, n_p, n_s, n_t, water_days(horizon)
    )
    if problem.over_usd_per_h_r is not None:
        soft_st = np.full((max(n_s, 1), n_t), -1, np.int64)
        soft = np.flatnonzero(np.isfinite(problem.over_usd_per_h_r))
        soft_st[problem.scope_r[soft], period_r[soft]] = soft
        row, quantity, scale = _with_soft_terms(
            row, quantity, scale, soft_st, site_e, period_e, ones
        )
    # the contiguous option (pool, start, length) starting in each entry's period
    length_e = np.maximum(1, np.ceil(pairs["hours"][choice_e] / ph - 1e-9)).astype(np.int64)
    key_e = (pool_e * (n_t + 1) + period_e) * (n_t + 1) + length_e
    at = np.minimum(np.searchsorted(keys, key_e), max(keys.size - 1, 0))
    found = (keys.size > 0) & (keys[at] == key_e) if keys.size else np.zeros(key_e.size, bool)
    return Preempt(
        unit_v=unit_v.astype(np.int32),
        overhead_h_v=np.array([overhead[int(v)][0] for v in unit_v], float),
        run_c=run_c.astype(np.int32),
        pool_c=p.astype(np.int32),
        need_h_c=pairs["hours"].astype(float),
        fixed_usd_per_h_c=fixed,
        choice_e=choice_e.astype(np.int32),
        period_e=period_e.astype(np.int32),
        objective_usd_per_h_e=objective,
        amount_qe=amount,
        row_ej=row,
        quantity_ej=quantity,
        scale_ej=term_scales(scale),
        start_option_e=np.where(found, at, -1).astype(np.int32),
        period_hours=float(ph),
        preemptible_v=np.array([overhead[int(v)][1] for v in unit_v], bool),
        move_usd_per_h_v=np.array([overhead[int(v)][2] for v in unit_v], float),
        move_overhead_h_v=np.array([overhead[int(v)][3] for v in unit_v], float),
        site_c=pools_p.site_p[p].astype(np.int32),
    )


def _run_facts(w, span_h: float) -> tuple[float, bool, float, float]:
    """(restore overhead h, may pause, USD per move / horizon hours (NaN: may not
    migrate), hours per move) of a run in `Problem.preempt`."""
    if getattr(w, "migratable", False):
        move = (float(w.migration_usd) / span_h, float(w.move_overhead_h))
    else:
        move = (math.nan, 0.0)
    return (float(w.overhead_h), bool(w.preemptible), *move)


def timed_pair_reasons(scenario: Scenario, unit_indices) -> np.ndarray:
    """uint16[n, P]: the mask bits of every pool for the given timed units (indices into
    `timed_units`' order); a run's window is not a mask bit (`reason_count_ur` counts it
    as the deadline)."""
    units = timed_units(scenario)
    static = static_view(scenario)
    static_w = {w.id: w for w in static.workloads}
    chosen = [(units[int(u)][0], static_w[units[int(u)][1].id]) for u in unit_indices]
    pools = build_pools(static)
    sites = sorted(static.sites, key=lambda s: s.id)
    if not chosen:
        return np.zeros((0, len(pools)), np.uint16)
    return _pair_arrays(chosen, pools, sites, _Context(static))[1]


def training_window(w: Training, horizon: Horizon) -> tuple[int, float]:
    """(first period the run may start in, hours from the horizon's start by which it
    must end)."""
    first = 0
    if w.earliest_start is not None:
        offset = horizon.hours_from_start(w.earliest_start) / horizon.period_hours
        first = min(horizon.periods, max(0, math.ceil(offset - 1e-9)))
    end = horizon.hours
    if w.deadline is not None:
        end = min(end, horizon.hours_from_start(w.deadline))
    if w.deadline_hours is not None:
        end = min(end, w.deadline_hours)
    return first, end


def demand_per_period(w: Inference, region: str, horizon: Horizon) -> list[float]:
    """Requests/s of one region in each period: the series, or the number scaled by the
    daily profile's factor of the hour each period starts in."""
    value = w.demand_rps[region]
    if isinstance(value, list):
        return [float(v) for v in value]
    if w.demand_profile is None:
        return [float(value)] * horizon.periods
    start = horizon.start_time
    step = dt.timedelta(hours=horizon.period_hours)
    profile = w.demand_profile
    return [float(value) * profile[(start + t * step).hour] for t in range(horizon.periods)]


def timed_units(scenario: Scenario) -> list[tuple[Unit, Training | Inference]]:
    """Units in deterministic order: workloads by id; a training run is one unit; an
    inference service one per (region, period, copy, share) with demand."""
    horizon = scenario.horizon
    assert horizon is not None
    units: list[tuple[Unit, Training | Inference]] = []
    for w in sorted(scenario.workloads, key=lambda w: w.id):
        if isinstance(w, Training):
            units.append((Unit(w.id, w.id, "training", None, 0, 1, 0.0), w))
            continue
        k = w.redundancy.copies
        carry = k - w.redundancy.failures
        for region in sorted(w.demand_rps):
            for t, demand in enumerate(demand_per_period(w, region, horizon)):
                if demand <= 0:
                    continue
                for m in range(w.split):
                    for c in range(k):
                        name = f"{w.id}/{region}@{t}"
                        name += f".{m}" if w.split > 1 else ""
                        name += f"#{c}" if k > 1 else ""
                        share = demand / carry / w.split
                        units.append((Unit(name, w.id, "inference", region, c, k, share, t, m), w))
    return units


def _unit_values(units, horizon: Horizon) -> tuple[np.ndarray, np.ndarray]:
    """(value lost unplaced, USD per hour of the horizon; must-place) per unit: a training
    run loses its value for its reference hours, a service's share for its period."""
    n_u = len(units)
    value_u = np.zeros(n_u)
    must_u = np.zeros(n_u, bool)
    series: dict[str, dict[str, list[float]]] = {}
    for u, (unit, w) in enumerate(units):
        must_u[u] = w.must_place
        if w.value_usd_per_h is None:
            continue
        if isinstance(w, Training):
            value_u[u] = w.value_usd_per_h * w.hours / horizon.hours
            continue
        if w.id not in series:
            series[w.id] = {r: demand_per_period(w, r, horizon) for r in w.demand_rps}
        demand = {r: values[unit.period] for r, values in series[w.id].items()}
        total = sum(demand.values())
        share = demand[unit.region] / total / unit.copies / w.split if total > 0 else 0.0
        value_u[u] = w.value_usd_per_h * share * horizon.period_hours / horizon.hours
    return value_u, must_u


def static_view(scenario: Scenario) -> Scenario:
    """The scenario as one period: each capacity and demand by its largest value, each
    price and intensity by its mean; time-only fields kept (compile reads them apart).

    Not validated again: its figures are the scenario's own, in range."""

    def top(v):
        return max(v) if isinstance(v, list) else v

    def mean(v):
        return sum(v) / len(v) if isinstance(v, list) else v

    sites = []
    for site in scenario.sites:
        power = site.power.model_copy(
            update={
                "it_capacity_kw": top(site.power.it_capacity_kw),
                "grid_cap_kw": top(site.power.grid_cap_kw),
                "price_usd_per_kwh": mean(site.power.price_usd_per_kwh),
                "carbon_g_per_kwh": mean(site.power.carbon_g_per_kwh),
            }
        )
        cooling = site.cooling.model_copy(
            update={"water_cap_l_per_day": top(site.cooling.water_cap_l_per_day)}
        )
        pools = [p.model_copy(update={"gpus": top(p.gpus)}) for p in site.pools]
        sites.append(site.model_copy(update={"power": power, "cooling": cooling, "pools": pools}))
    workloads = []
    for w in scenario.workloads:
        if isinstance(w, Inference):
            w = w.model_copy(update={"demand_rps": w.peak_demand_rps})
        workloads.append(w)
    return scenario.model_copy(update={"sites": sites, "workloads": workloads})


def site_caps_per_period(site: Site, horizon: Horizon) -> np.ndarray:
    """float64[T, 4]: IT, facility, heat kW and water L/h caps of a site in each period,
    before headroom (inf: no cap): series, hard grid events (a priced one's cap is soft:
    `compile_events`) and the date power arrives (its kW caps are 0 before it). Water is
    the day's cap / 24 in each period (`water_days.day_caps` puts it on the day's row)."""
    n_t = horizon.periods
    inf = math.inf
    it = np.array(per_period(site.power.it_capacity_kw, n_t, inf))
    grid = np.array(per_period(site.power.grid_cap_kw, n_t, inf))
    heat = (
        np.full(n_t, float(site.cooling.heat_rejection_kw))
        if site.cooling.heat_rejection_kw
        else it.copy()
    )
    water = np.array(per_period(site.cooling.water_cap_l_per_day, n_t, inf)) / 24.0
    facility = grid.copy()
    for event in site.grid_events:
        if event.priced:
            continue  # a soft cap: its own rows (compile_events)
        for t, cut in event_caps_kw(site, horizon, event, it, grid):
            facility[t] = min(facility[t], cut)
    caps = np.stack([it, facility, heat, water], axis=1)
    if site.power.available_from is not None:
        arrives = horizon.hours_from_start(site.power.available_from)
        before = np.arange(n_t) * horizon.period_hours < arrives - 1e-9
        caps[before, :3] = 0.0  # no power, no run: its water needs no cap of its own
    return caps


def pool_gpus_per_period(pool, horizon: Horizon) -> np.ndarray:
    """float64[T]: a pool's GPUs in each period (0 before the pool arrives)."""
    gpus = np.array(per_period(pool.gpus, horizon.periods, 0.0))
    if pool.available_from is not None:
        arrives = horizon.hours_from_start(pool.available_from)
        gpus[np.arange(horizon.periods) * horizon.period_hours < arrives - 1e-9] = 0.0
    return gpus


def timed_rows(scenario: Scenario, horizon: Horizon, pools, sites):
    """(cap_r, kind_r, scope_r, period_r): per period, the pool GPU rows then four rows
    per site (the static layout; a day's water on its first period's row:
    `placer.problem.water_days`), then the budget and the carbon cap."""
    head = scenario.objective.max_utilization
    n_t = horizon.periods
    n_p, n_s = len(pools), len(sites)
    timed_sites = {s.id: s for s in scenario.sites}
    timed_pools = {(s.id, p.key): p for s in scenario.sites for p in s.pools}
    gpu_pt = (
        np.stack(
            [
                pool_gpus_per_period(timed_pools[(info.site, info.key)], horizon)
                for info, _, _ in pools
            ]
        ).reshape(n_p, n_t)
        if n_p
        else np.zeros((0, n_t))
    )
    caps_stk = (
        np.stack([site_caps_per_period(timed_sites[s.id], horizon) for s in sites])
        if n_s
        else np.zeros((0, n_t, 4))
    )
    days = water_days(horizon)
    water = SITE_KINDS.index(K_WATER)
    for s in range(n_s):
        caps_stk[s, :, water] = day_caps(caps_stk[s, :, water], days)
    n_site = len(SITE_KINDS)
    block = n_p + n_site * n_s
    cap = np.empty(block * n_t + 2)
    kind = np.empty(block * n_t + 2, np.int8)
    scope = np.empty(block * n_t + 2, np.int32)
    period = np.empty(block * n_t + 2, np.int32)
    for t in range(n_t):
        at = t * block
        cap[at : at + n_p] = np.floor(gpu_pt[:, t] * head + 1e-9)
        kind[at : at + n_p] = K_GPUS
        scope[at : at + n_p] = np.arange(n_p)
        site_block = slice(at + n_p, at + block)
        cap[site_block] = (caps_stk[:, t, :] * head).reshape(-1)
        kind[site_block] = np.tile(np.array(SITE_KINDS, np.int8), n_s)
        scope[site_block] = np.repeat(np.arange(n_s), n_site)
        period[at : at + block] = t
    obj = scenario.objective
    cap[-2:] = [float(obj.budget_usd_per_h or math.inf), float(obj.carbon_cap_kg_per_h or math.inf)]
    kind[-2:] = [K_BUDGET, K_CARBON]
    scope[-2:] = -1
    period[-2:] = -1
    return cap, kind, scope, period


def timed_terms(
    pool_o, start_o, length_o, site_p, cap_r, n_p: int, n_s: int, n_t: int, days: WaterDays
):
    """(row_oj int32[O, J], quantity_oj int8[O, J], scale_oj float64[O, J]): an option
    charges, in each period it runs, its pool's GPU row and its site's IT, facility,
    heat and water rows, then the budget and the carbon cap; terms of rows that cannot
    bind are left out (an uncapped row, a heat row whose cap is at least the IT row's:
    heat to reject = IT power), so a run over many periods of uncapped sites charges few
    rows. Its water of each day is one term on the day's row (`days`,
    `placer.problem.water_days`) with scale (its periods that day x period h / 24); every
    other term's scale is 1. J = the most any option charges."""
    n_o = pool_o.size
    n_site = len(SITE_KINDS)
    block = n_p + n_site * n_s
    longest = int(length_o.max(initial=1))
    per = len(_PERIOD_QUANTITIES)
    width = per * longest + 2
    row = np.full((n_o, width), -1, np.int32)
    quantity = np.zeros((n_o, width), np.int8)
    scale = np.ones((n_o, width))
    binds = np.append(np.isfinite(cap_r), False)  # index -1: no row
    heat, water = SITE_KINDS.index(K_HEAT), SITE_KINDS.index(K_WATER)
    for i in range(longest):
        runs = length_o > i
        t = np.where(runs, start_o + i, 0)
        base = t * block
        site_base = base + n_p + n_site * site_p[pool_o]
        period_rows = np.stack(
            [base + pool_o, *(site_base + k for k in range(n_site))], axis=1
        ).astype(np.int64)
        period_rows[:, 1 + water] = days.first_t[t] * block + n_p + n_site * site_p[pool_o] + water
        period_rows[~runs] = -1
        it_cap = cap_r[np.where(runs, site_base, 0)]
        implied = cap_r[np.where(runs, site_base + heat, 0)] >= it_cap
        period_rows[implied, 1 + heat] = -1
        period_rows[~binds[period_rows]] = -1
        cols = slice(per * i, per * (i + 1))
        row[:, cols] = period_rows
        quantity[:, cols] = _PERIOD_QUANTITIES
        scale[:, per * i + 1 + water] = days.scale
    merge_day_terms(row, scale, [per * i + 1 + water for i in range(longest)])
    for j, (r, q) in enumerate(((block * n_t, Q_COST), (block * n_t + 1, Q_CARBON))):
        if np.isfinite(cap_r[r]):
            row[:, width - 2 + j] = r
            quantity[:, width - 2 + j] = q
    # the terms that exist first, in their order; J shrinks to the most any option has
    order = np.argsort(row < 0, axis=1, kind="stable")
    row = np.take_along_axis(row, order, axis=1)
    quantity = np.where(row >= 0, np.take_along_axis(quantity, order, axis=1), 0).astype(np.int8)
    scale = np.where(row >= 0, np.take_along_axis(scale, order, axis=1), 1.0)
    used = max(1, int((row >= 0).sum(axis=1).max(initial=0)))
    return (
        np.ascontiguousarray(row[:, :used]),
        np.ascontiguousarray(quantity[:, :used]),
        np.ascontiguousarray(scale[:, :used]),
    )


def term_scales(scale_oj: np.ndarray) -> np.ndarray | None:
    """`Problem.scale_oj`: the scales, or None when every term's is 1."""
    return None if bool((scale_oj == 1.0).all()) else scale_oj
