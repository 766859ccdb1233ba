"""Scenario variants the capacity planner compiles or checks against.

- `monthly`: the scenario over its months (a horizon from `planning` when it has none),
  inference demand grown per `planning.demand_growth` (written as one value a month).
- `superset`: every option bought at its maximum from month 0: new pools, GPUs, IT, grid
  and heat kW added, cooling upgraded. Its compile gives every (unit, option) pair any
  build plan could use; the model then lowers capacities to what is built.
- `zeroed`: the monthly scenario with the options' new pools added with 0 GPUs: the
  same pools (and row layout) as `superset`, with today's capacities.
- `built`: the monthly scenario with a build plan's capacity added month by month (what
  `verify` checks a plan against).
- `without_cloud`: cloud sites and commitments removed (the "build only on-prem" baseline).

A new site (a `site` option) is in `superset` and `zeroed` (energised at its `energised`
date, its pools with 0 GPUs but what its gpus options add) and in `built` only when the
plan buys it (energised from its arrival month).

All figures keep their units: GPUs, kW, USD; `installed` maps an option id to its
installed unit count in each month (int[T]).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from placer.model.build_options import (
    MONTH_HOURS,
    CloudCommit,
    CoolingBuild,
    GpuBuild,
    PowerBuild,
    SiteBuild,
)
from placer.model.horizon import Horizon, per_period
from placer.model.scenario import Scenario
from placer.model.site import Pool, Site
from placer.model.workload import Inference
from placer.problem.compile_time import demand_per_period


def monthly(scenario: Scenario) -> Scenario:
    """The scenario over months, demand grown (module docstring); not validated again
    (its figures are the scenario's own, times the growth factors).

    Raises:
      ValueError: neither a horizon nor planning months.
    """
    horizon = scenario.horizon
    planning = scenario.planning
    if horizon is None:
        if planning is None or planning.start is None or planning.months is None:
            raise ValueError(
                "capacity planning needs months: a horizon with period_hours: 730, or "
                "planning: {start, months}"
            )
        horizon = Horizon(start=planning.start, period_hours=MONTH_HOURS, periods=planning.months)
    growth = planning.demand_growth if planning is not None else {}
    workloads = []
    for w in scenario.workloads:
        if isinstance(w, Inference) and (w.id in growth or w.demand_profile is not None):
            rule = growth.get(w.id)
            demand = {}
            for region in w.demand_rps:
                base = demand_per_period(w, region, horizon)
                scale = [
                    rule.factor(t, t * horizon.period_hours / MONTH_HOURS) if rule else 1.0
                    for t in range(horizon.periods)
                ]
                demand[region] = [b * f for b, f in zip(base, scale, strict=True)]
            w = w.model_copy(update={"demand_rps": demand, "demand_profile": None})
        workloads.append(w)
    return scenario.model_copy(update={"horizon": horizon, "workloads": workloads})


def month_of(scenario: Scenario, instant: str | None) -> int:
    """The first month that starts at or after an instant (0 for None or the past)."""
    if instant is None:
        return 0
    horizon = scenario.horizon
    assert horizon is not None
    hours = horizon.hours_from_start(instant)
    return max(0, math.ceil(hours / horizon.period_hours - 1e-9))


def superset(scenario: Scenario) -> Scenario:
    """Every option at its maximum from month 0 (`scenario` is monthly); every new site
    (kind: site) added, energised at its `energised` date."""
    full = {o.id: [o.max_units] * scenario.horizon.periods for o in scenario.build_options}
    return built(scenario, full, upgrade_all=True, all_sites=True)


def zeroed(scenario: Scenario) -> Scenario:
    """The options' new pools added with 0 GPUs, every new site added (its pools with 0
    GPUs: nothing runs there), nothing else built."""
    return built(scenario, {}, upgrade_all=False, all_sites=True)


def new_sites(scenario: Scenario) -> dict[str, SiteBuild]:
    """Site id -> the `site` option that builds it."""
    return {o.id: o for o in scenario.build_options if isinstance(o, SiteBuild)}


def site_named(scenario: Scenario, site_id: str) -> Site:
    """An existing site, or the body of the `site` option that builds it."""
    for site in scenario.sites:
        if site.id == site_id:
            return site
    return new_sites(scenario)[site_id].site


def all_sites(scenario: Scenario) -> list[Site]:
    """The scenario's sites, then the bodies of its new sites (kind: site)."""
    return [*scenario.sites, *(o.site for o in new_sites(scenario).values())]


def month_instant(scenario: Scenario, month: int) -> str:
    """The instant month `month` starts (ISO 8601)."""
    h = scenario.horizon
    return (h.start_time + dt.timedelta(hours=month * h.period_hours)).isoformat()


def built(
    scenario: Scenario,
    installed: dict[str, list[int]],
    *,
    upgrade_all: bool = False,
    all_sites: bool = False,
) -> Scenario:
    """The monthly scenario with `installed[option id]` units of each option in each
    month (int[T]); options missing from it are not built. A GPU option's pool is added
    (0 GPUs while none is installed). A cooling upgrade is applied when any unit is
    installed in any month (cooling type and rack density do not vary by month in the
    language; the model links each pair to its month), its heat rejection likewise by
    its final count; `upgrade_all` applies every upgrade.

    A new site (kind: site) is added when bought (any unit installed), energised from the
    first month it is installed; `all_sites` adds every new site, energised at its
    `energised` date. Without `all_sites`, the options of new sites left out, and the site
    options themselves (their sites are now sites), are dropped from `build_options` (and
    from `planning.scenarios` delays), so that the built scenario validates again."""
    n_t = scenario.horizon.periods
    sites = {s.id: s for s in scenario.sites}
    order = [s.id for s in scenario.sites]
    for sid, option in new_sites(scenario).items():
        count = installed.get(option.id, [0] * n_t)
        if all_sites:
            at = option.energised
        elif any(c > 0 for c in count):
            at = month_instant(scenario, next(t for t, c in enumerate(count) if c > 0))
        else:
            continue
        power = option.site.power.model_copy(update={"available_from": at})
        sites[sid] = option.site.model_copy(update={"power": power})
        order.append(sid)
    for option in scenario.build_options:
        if isinstance(option, (CloudCommit, SiteBuild)) or option.site not in sites:
            continue
        count = np.asarray(installed.get(option.id, [0] * n_t), float)
        sites[option.site] = _add(sites[option.site], option, count, n_t, upgrade_all)
    update: dict[str, object] = {"sites": [sites[s] for s in order]}
    if not all_sites and new_sites(scenario):
        update.update(_pruned(scenario, set(order)))
    return scenario.model_copy(update=update)


def _pruned(scenario: Scenario, sites: set[str]) -> dict[str, object]:
    """build_options without site options and without options at sites not in `sites`;
    planning scenarios' delays naming neither a site nor a kept option dropped."""
    options = [
        o for o in scenario.build_options if not isinstance(o, SiteBuild) and o.site_id in sites
    ]
    out: dict[str, object] = {"build_options": options}
    planning = scenario.planning
    if planning is not None and planning.scenarios:
        known = sites | {o.id for o in options}
        specs = [
            sc.model_copy(
                update={"delay_months": {k: d for k, d in sc.delay_months.items() if k in known}}
            )
            for sc in planning.scenarios
        ]
        out["planning"] = planning.model_copy(update={"scenarios": specs})
    return out


def _add(site: Site, option, count: np.ndarray, n_t: int, upgrade_all: bool) -> Site:
    """The site with `count` (float[T]) units of one option."""
    if isinstance(option, GpuBuild):
        pools = list(site.pools)
        at = next((i for i, p in enumerate(pools) if p.key == option.pool_key), None)
        if at is None:
            pools.append(
                Pool(
                    id=option.pool,
                    accelerator=option.accelerator,
                    gpus=0,
                    gpus_per_node=option.gpus_per_node,
                    node_power_kw=option.node_power_kw,
                    cost_usd_per_gpu_h=option.cost_usd_per_gpu_h,
                )
            )
            at = len(pools) - 1
        if count.any():
            old = per_period(pools[at].gpus, n_t, 0.0)
            gpus = [round(g + c * option.gpus) for g, c in zip(old, count, strict=True)]
            pools[at] = pools[at].model_copy(update={"gpus": gpus})
        return site.model_copy(update={"pools": pools})
    if isinstance(option, PowerBuild):
        if not count.any():
            return site
        power = site.power
        update = {"it_capacity_kw": _plus(power.it_capacity_kw, count * option.it_kw, n_t)}
        if power.grid_cap_kw is not None:
            update["grid_cap_kw"] = _plus(power.grid_cap_kw, count * option.grid_kw, n_t)
        return site.model_copy(update={"power": power.model_copy(update=update)})
    assert isinstance(option, CoolingBuild)
    if not (upgrade_all or count.any()):
        return site
    cooling = site.cooling
    update: dict[str, object] = {
        "type": option.type,
        "max_rack_density_kw": max(cooling.max_rack_density_kw, option.max_rack_density_kw),
    }
    if cooling.heat_rejection_kw is not None:
        update["heat_rejection_kw"] = cooling.heat_rejection_kw + float(
            count[-1] * option.heat_rejection_kw
        )
    return site.model_copy(update={"cooling": cooling.model_copy(update=update)})


def _plus(value, add_t: np.ndarray, n_t: int) -> list[float]:
    """A varying figure plus an amount per period (a list of one value a period)."""
    return [float(v + a) for v, a in zip(per_period(value, n_t, 0.0), add_t, strict=True)]


def without_builds(scenario: Scenario) -> Scenario:
    """The scenario with no build option (the "cloud on-demand only" baseline)."""
    return scenario.model_copy(update={"build_options": []})


def without_cloud(scenario: Scenario) -> Scenario:
    """Cloud sites and commitments removed (the "build only on-prem" baseline): pins,
    exclusions and latency entries that name them are dropped; a dataset held at a
    cloud site is dropped (its egress with it)."""
    cloud = {s.id for s in scenario.sites if s.tier == "cloud"}
    workloads = []
    for w in scenario.workloads:
        update: dict[str, object] = {
            "exclude_sites": [s for s in w.exclude_sites if s not in cloud]
        }
        if w.pin_sites is not None:
            update["pin_sites"] = [s for s in w.pin_sites if s not in cloud]
        if getattr(w, "dataset", None) is not None and w.dataset.site in cloud:
            update["dataset"] = None
        workloads.append(w.model_copy(update=update))
    return scenario.model_copy(
        update={
            "sites": [s for s in scenario.sites if s.id not in cloud],
            "latency_ms": [e for e in scenario.latency_ms if e.site not in cloud],
            "workloads": workloads,
            "build_options": [o for o in scenario.build_options if o.site_id not in cloud],
        }
    )
