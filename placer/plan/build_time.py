"""The parts of a Plan only a timed scenario has: each site per period, the horizon's
totals, and site usage read as peaks over the periods."""

from __future__ import annotations

import math

import numpy as np

from placer.model.horizon import Horizon, per_period
from placer.model.scenario import Scenario
from placer.plan.build_events import over_limit
from placer.plan.build_preempt import run_periods
from placer.plan.plan import Placement, PlanHorizon, SitePeriods, SiteUsage
from placer.problem.compile_time import pool_gpus_per_period, site_caps_per_period
from placer.problem.form import Index
from placer.problem.rows import K_FACILITY, K_HEAT, K_IT
from placer.problem.usage import Loads


def _finite(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values]


def peak_water_l_per_h(water_t: np.ndarray, horizon: Horizon) -> float:
    """A site's peak water against its cap per day / 24: the largest day's mean L/h (the
    day's litres / 24) where the periods tile days (`Horizon.period_days`), else the
    largest period's L/h."""
    days = horizon.period_days()
    if days is None or water_t.size == 0:
        return float(water_t.max(initial=0.0))
    litres = np.bincount(np.asarray(days), weights=water_t * horizon.period_hours)
    return float(litres.max(initial=0.0) / 24.0)


def use_per_period(index: Index, placements: list[Placement]) -> dict[str, np.ndarray]:
    """What the placements draw in each period, per site (float64[S, T]): GPUs, IT,
    facility and heat kW, water L/h. Read from the placements, not from the rows: a
    timed problem charges only the rows that can bind."""
    time = index.time
    assert time is not None
    n_s, n_t = len(index.sites), time.periods
    site_of = {sid: s for s, sid in enumerate(index.sites)}
    out = {name: np.zeros((n_s, n_t)) for name in ("gpus", "it_kw", "facility_kw", "water")}
    for p in placements:
        if p.segments and any(seg.site is not None for seg in p.segments):
            for seg in p.segments:  # a preempted run: each segment in its own pool
                s = site_of[seg.site or p.site]
                run = np.arange(seg.start_period, seg.start_period + seg.periods)
                out["gpus"][s, run] += p.gpus if seg.gpus is None else seg.gpus
                out["it_kw"][s, run] += p.it_kw if seg.it_kw is None else seg.it_kw
                out["facility_kw"][s, run] += (
                    p.facility_kw if seg.facility_kw is None else seg.facility_kw
                )
                out["water"][s, run] += (seg.water_l or 0.0) / (seg.periods * time.period_hours)
            continue
        s = site_of[p.site]
        run = run_periods(p.start_period or 0, p.periods or 1, p.segments)
        run_h = (p.hours or 0.0) if p.kind == "training" else time.period_hours
        if p.segments:  # a preempted run: whole periods
            run_h = len(run) * time.period_hours
        out["gpus"][s, run] += p.gpus
        out["it_kw"][s, run] += p.it_kw
        out["facility_kw"][s, run] += p.facility_kw
        out["water"][s, run] += (p.water_l or 0.0) / run_h if run_h > 0 else 0.0
    return out


def timed_views(
    scenario: Scenario,
    index: Index,
    loads: Loads,
    placements: list[Placement],
    startup_usd: float = 0.0,
) -> tuple[list[SiteUsage], list[SitePeriods], PlanHorizon]:
    """(site usage: peak use over the periods against the nameplate capacities; each
    site per period; the horizon's totals, its cost with `startup_usd`, the replica
    start-ups' USD)."""
    time, horizon = index.time, scenario.horizon
    assert time is not None and horizon is not None
    n_t = time.periods
    by_id = {s.id: s for s in scenario.sites}
    use = use_per_period(index, placements)
    per_kind = {K_IT: use["it_kw"], K_FACILITY: use["facility_kw"], K_HEAT: use["it_kw"]}
    water_st = use["water"]
    cost_s: dict[str, float] = {}
    carbon_s: dict[str, float] = {}
    for p in placements:
        if p.segments and any(seg.cost_usd is not None for seg in p.segments):
            for seg in p.segments:  # each segment's at its site (a run that migrates)
                sid = seg.site or p.site
                cost_s[sid] = cost_s.get(sid, 0.0) + (seg.cost_usd or 0.0) / time.hours
                carbon_s[sid] = carbon_s.get(sid, 0.0) + (seg.carbon_kg or 0.0) / time.hours
            continue
        cost_s[p.site] = cost_s.get(p.site, 0.0) + p.cost_usd_per_h
        carbon_s[p.site] = carbon_s.get(p.site, 0.0) + p.carbon_kg_per_h
    usage, periods = [], []
    over_usd = 0.0  # paid over priced grid events' caps (build_events)
    for s, sid in enumerate(index.sites):
        site = by_id[sid]
        over = over_limit(site, horizon, per_kind[K_FACILITY][s])
        if over is not None:
            cost_s[sid] = cost_s.get(sid, 0.0) + over.total_usd / time.hours
            over_usd += over.total_usd
        gpus_used = use["gpus"][s]
        total = np.zeros(n_t)
        for pool in site.pools:
            total += pool_gpus_per_period(pool, horizon)
        caps = site_caps_per_period(site, horizon)
        periods.append(
            SitePeriods(
                site=sid,
                gpus_used=[round(v) for v in gpus_used],
                gpus_total=[round(v) for v in total],
                it_kw=[float(v) for v in per_kind[K_IT][s]],
                it_capacity_kw=_finite(caps[:, 0]),
                facility_kw=[float(v) for v in per_kind[K_FACILITY][s]],
                facility_cap_kw=_finite(np.minimum(caps[:, 1], caps[:, 0] * site.power.pue)),
                heat_kw=[float(v) for v in per_kind[K_HEAT][s]],
                water_l_per_h=[float(v) for v in water_st[s]],
                price_usd_per_kwh=per_period(site.power.price_usd_per_kwh, n_t, 0.0),
                carbon_g_per_kwh=per_period(site.power.carbon_g_per_kwh, n_t, 0.0),
                **(over._asdict() if over is not None else {}),
            )
        )
        usage.append(
            SiteUsage(
                site=sid,
                tier=site.tier,
                gpus_used=round(gpus_used.max(initial=0.0)),
                gpus_total=round(total.max(initial=0.0)),
                it_kw=float(per_kind[K_IT][s].max(initial=0.0)),
                it_capacity_kw=_nameplate(site.power.it_capacity_kw),
                facility_kw=float(per_kind[K_FACILITY][s].max(initial=0.0)),
                grid_cap_kw=_nameplate(site.power.grid_cap_kw),
                heat_kw=float(per_kind[K_HEAT][s].max(initial=0.0)),
                heat_rejection_kw=site.cooling.heat_rejection_kw
                or _nameplate(site.power.it_capacity_kw),
                water_l_per_h=peak_water_l_per_h(water_st[s], horizon),
                water_cap_l_per_h=None
                if site.cooling.water_cap_l_per_day is None
                else _nameplate(site.cooling.water_cap_l_per_day) / 24.0,
                cost_usd_per_h=cost_s.get(sid, 0.0),
                carbon_kg_per_h=carbon_s.get(sid, 0.0),
            )
        )
    hours = time.hours
    migration_usd = sum(p.migration_usd or 0.0 for p in placements)  # moves between pools
    summary = PlanHorizon(
        start=time.start,
        period_hours=time.period_hours,
        periods=n_t,
        hours=hours,
        cost_usd=sum(p.cost_usd or 0.0 for p in placements)
        + startup_usd
        + over_usd
        + migration_usd,
        carbon_kg=sum(p.carbon_kg or 0.0 for p in placements),
        water_l=sum(p.water_l or 0.0 for p in placements),
        unplaced_value_usd=loads.unplaced_usd_per_h * hours,
        objective_usd=loads.objective_usd_per_h * hours,
        startup_cost_usd=startup_usd,
        migration_cost_usd=migration_usd,
        over_limit_usd=over_usd,
    )
    return usage, periods, summary


def _nameplate(value: float | list[float] | None) -> float | None:
    """A capacity as the scenario states it: the field, its largest value when it varies
    (grid events and the dates capacity arrives are in `site_periods`)."""
    if value is None:
        return None
    return float(max(value)) if isinstance(value, list) else float(value)


def period_caps_view(problem, assign: np.ndarray, schedule, horizon: PlanHorizon) -> PlanHorizon:
    """The horizon block with what the plan spends and emits in each period against the
    caps per period (`Problem.period_caps`; `placer.problem.period_caps.period_spend`)."""
    from placer.problem.period_caps import PK_BUDGET, PK_CARBON
    from placer.problem.usage import period_spend

    caps = problem.period_caps
    spend = period_spend(problem, assign, schedule or None)
    budget, carbon = caps.row_tk[:, PK_BUDGET], caps.row_tk[:, PK_CARBON]
    return horizon.model_copy(
        update={
            "cost_usd_per_period_h": [float(v) for v in spend[budget]],
            "budget_usd_per_period_h": _finite(caps.cap_c[budget]),
            "carbon_kg_per_period_h": [float(v) for v in spend[carbon]],
            "carbon_cap_kg_per_period_h": _finite(caps.cap_c[carbon]),
        }
    )
