"""compile: the one place where domain rules become numbers.

Scenario (human units) -> (Problem, Index). Units are training gangs (one per
training workload) and inference replica sets (one per user region with demand, per
redundancy copy). Pools are accelerator pools at sites. Ids are sorted, so the same
scenario always compiles to the same arrays.

Per (unit u, pool p at site s, accelerator a):
  gpus      training: the workload's GPUs; inference: replicas x GPUs per replica,
            replicas = ceil(copy demand / rps per replica on a)
  it_kw     gpus x node_power_kw / gpus_per_node (full load; capacity planning)
  mean_kw   it_kw x (idle + (1 - idle) x utilization)   (energy, carbon, water)
  speed     training: hours on p / reference hours = ref TFLOP/s / a's TFLOP/s;
            1 for inference. Cost, carbon and water of training are per hour of the
            reference run, so a GPU twice as fast costs half per hour of work.
  cost      speed x (gpus x USD/GPU-h + mean_kw x PUE x USD/kWh)
            + dataset egress USD/GB x GB / reference hours (when p is not at the data site)
  carbon    speed x mean_kw x PUE x gCO2e/kWh / 1000              kg/h
  water     speed x mean_kw x WUE                                 L/h
  objective cost + carbon price x carbon / 1000 + water price x water / 1000
"""

from __future__ import annotations

import math

import numpy as np

from placer.latency import great_circle_km, modelled_rtt_ms
from placer.model.scenario import Scenario
from placer.model.site import Pool, Site
from placer.model.workload import Inference, Training
from placer.problem import (
    R_ACCEL,
    R_COOLING,
    R_DEADLINE,
    R_DENSITY,
    R_EXCLUDE,
    R_LATENCY,
    R_MEMORY,
    R_PIN,
    R_RESIDENCY,
    R_SIZE,
    Index,
    PoolInfo,
    Problem,
    Unit,
)

COOLING_RANK = {"air": 0, "liquid": 1, "immersion": 2}


class _Context:
    """Look-ups compile needs many times: catalog, regions, sites, measured RTTs."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.catalog = scenario.catalog()
        self.regions = {r.id: r for r in scenario.user_regions}
        self.sites = {s.id: s for s in scenario.sites}
        self.measured = {(e.site, e.region): e.rtt_ms for e in scenario.latency_ms}

    def node_kw_per_gpu(self, pool: Pool) -> float:
        """Node power at full load per GPU of a pool, kW."""
        if pool.node_power_kw is not None:
            return pool.node_power_kw / pool.gpus_per_node
        acc = self.catalog[pool.accelerator]
        return acc.tdp_w * acc.node_overhead_factor / 1000.0

    def rtt_ms(self, site: Site, region_id: str) -> float:
        """Measured RTT if the scenario gives one, else the distance model, ms."""
        if (site.id, region_id) in self.measured:
            return self.measured[site.id, region_id]
        loc = self.regions[region_id].location
        d = great_circle_km(site.location.lat, site.location.lon, loc.lat, loc.lon)
        return modelled_rtt_ms(d)


def build_units(scenario: Scenario) -> list[tuple[Unit, Training | Inference]]:
    """Placement units in deterministic order (workload id, region id, copy)."""
    units: list[tuple[Unit, Training | Inference]] = []
    for w in sorted(scenario.workloads, key=lambda w: w.id):
        if isinstance(w, Training):
            units.append((Unit(w.id, w.id, "training", None, 0, 1, 0.0), w))
            continue
        k = w.redundancy.copies
        carry = k - w.redundancy.failures
        for region in sorted(w.demand_rps):
            demand = w.demand_rps[region]
            if demand <= 0:
                continue
            for c in range(k):
                name = f"{w.id}/{region}" + (f"#{c}" if k > 1 else "")
                units.append((Unit(name, w.id, "inference", region, c, k, demand / carry), w))
    return units


def build_pools(scenario: Scenario) -> list[tuple[PoolInfo, Site, Pool]]:
    """Pools in deterministic order (site id, pool key)."""
    out = []
    for site in sorted(scenario.sites, key=lambda s: s.id):
        for pool in sorted(site.pools, key=lambda p: p.key):
            info = PoolInfo(f"{site.id}/{pool.key}", site.id, pool.key, pool.accelerator)
            out.append((info, site, pool))
    return out


def compile_problem(scenario: Scenario) -> tuple[Problem, Index]:
    """Compiles a validated Scenario into the arrays every solver reads."""
    units = build_units(scenario)
    pools = build_pools(scenario)
    sites = sorted(scenario.sites, key=lambda s: s.id)
    site_index = {s.id: i for i, s in enumerate(sites)}
    n_u, n_p = len(units), len(pools)
    shape = (n_u, n_p)
    arrays = {
        k: np.zeros(shape)
        for k in ("gpus", "it_kw", "facility_kw", "water", "cost", "carbon", "latency", "hours")
    }
    reason = np.zeros(shape, dtype=np.uint16)
    replicas = np.zeros(shape, dtype=np.int32)
    ctx = _Context(scenario)
    for p, (_, site, pool) in enumerate(pools):
        pool_bits = _pool_reasons(site, pool, ctx)
        for u, (unit, w) in enumerate(units):
            bits, row = _pair(unit, w, site, pool, ctx)
            reason[u, p] = bits | pool_bits
            replicas[u, p] = row.pop("replicas")
            for key, value in row.items():
                arrays[key][u, p] = value
    problem = _assemble(scenario, units, pools, sites, site_index, arrays, reason)
    index = Index(
        units=tuple(u for u, _ in units),
        pools=tuple(info for info, _, _ in pools),
        sites=tuple(s.id for s in sites),
        replicas_up=replicas,
        hours_up=arrays["hours"],
    )
    return problem, index


def _pool_reasons(site: Site, pool: Pool, ctx: _Context) -> int:
    acc = ctx.catalog[pool.accelerator]
    bits = 0
    if not site.checks_racks:
        return bits
    if COOLING_RANK[acc.cooling] > COOLING_RANK[site.cooling.type]:
        bits |= R_COOLING
    rack_kw = ctx.node_kw_per_gpu(pool) * pool.gpus_per_node * pool.nodes_per_rack
    if rack_kw > site.cooling.max_rack_density_kw + 1e-9:
        bits |= R_DENSITY
    return bits


def _pair(
    unit: Unit, w: Training | Inference, site: Site, pool: Pool, ctx: _Context
) -> tuple[int, dict[str, float]]:
    """Mask bits and coefficients of one (unit, pool) pair."""
    catalog = ctx.catalog
    acc = catalog[pool.accelerator]
    bits = 0
    if w.min_gpu_memory_gb is not None and acc.memory_gb < w.min_gpu_memory_gb:
        bits |= R_MEMORY
    if w.residency is not None and site.location.country not in w.residency:
        bits |= R_RESIDENCY
    if w.pin_sites is not None and site.id not in w.pin_sites:
        bits |= R_PIN
    if site.id in w.exclude_sites:
        bits |= R_EXCLUDE
    price = pool.cost_usd_per_gpu_h
    if w.spot_ok and pool.spot_cost_usd_per_gpu_h is not None:
        price = min(price, pool.spot_cost_usd_per_gpu_h)
    latency = hours = 0.0
    egress_usd = 0.0
    if isinstance(w, Training):
        if w.accelerators is not None and pool.accelerator not in w.accelerators:
            bits |= R_ACCEL
        gpus, reps, util = float(w.gpus), 0, w.utilization
        speed = _training_speed(w, acc.bf16_tflops, catalog)
        hours = w.hours * speed
        if w.deadline_hours is not None and hours > w.deadline_hours + 1e-9:
            bits |= R_DEADLINE
        if w.dataset is not None and w.dataset.site != site.id:
            src = ctx.sites[w.dataset.site]
            # moved once: per hour of the reference run, like every training cost here
            egress_usd = src.egress_usd_per_gb * w.dataset.size_gb / w.hours
    else:
        serving = w.serving.get(pool.accelerator)
        speed = 1.0
        if serving is None:
            bits |= R_ACCEL
            gpus, reps, util = 0.0, 0, 0.0
        else:
            reps = max(1, math.ceil(unit.demand_rps / serving.rps_per_replica - 1e-9))
            gpus = float(reps * serving.gpus_per_replica)
            util = min(
                1.0,
                unit.demand_rps
                * (unit.copies - _failures(w))
                / unit.copies
                / (reps * serving.rps_per_replica),
            )
        latency = ctx.rtt_ms(site, unit.region)
        if latency > w.latency_slo_ms + 1e-9:
            bits |= R_LATENCY
    it_kw = gpus * ctx.node_kw_per_gpu(pool)
    mean_kw = it_kw * (acc.idle_power_fraction + (1 - acc.idle_power_fraction) * util)
    if gpus > pool.gpus or it_kw > site.it_cap_kw + 1e-9:
        bits |= R_SIZE
    energy_kw = speed * mean_kw * site.power.pue
    return bits, {
        "gpus": gpus,
        "replicas": reps,
        "it_kw": it_kw,
        "facility_kw": it_kw * site.power.pue,
        "water": speed * mean_kw * site.cooling.wue_l_per_kwh,
        "cost": speed * gpus * price + energy_kw * site.power.price_usd_per_kwh + egress_usd,
        "carbon": energy_kw * site.power.carbon_g_per_kwh / 1000.0,
        "latency": latency,
        "hours": hours,
    }


def _failures(w: Inference) -> int:
    return w.redundancy.failures


def _training_speed(w: Training, tflops: float | None, catalog: dict) -> float:
    """Hours on this accelerator / reference hours (1 when either speed is unknown)."""
    if not w.accelerators or tflops is None:
        return 1.0
    ref = catalog[w.accelerators[0]].bf16_tflops
    return 1.0 if ref is None else ref / tflops


def _assemble(scenario, units, pools, sites, site_index, arrays, reason) -> Problem:
    obj = scenario.objective
    head = obj.max_utilization
    n_u = len(units)
    value_u = np.zeros(n_u)
    must_u = np.zeros(n_u, dtype=bool)
    for u, (unit, w) in enumerate(units):
        must_u[u] = w.must_place
        if w.value_usd_per_h is not None:
            value_u[u] = w.value_usd_per_h * _value_share(unit, w)
    pool_site = np.array([site_index[info.site] for info, _, _ in pools], dtype=np.int32)
    group_u, spread_key_gp = _groups(units, pools, sites)
    inf = np.inf
    it_cap = np.array([s.it_cap_kw for s in sites]) * head
    heat_cap = np.array([s.heat_cap_kw for s in sites])
    objective = (
        arrays["cost"]
        + obj.carbon_price_usd_per_t * arrays["carbon"] / 1000.0
        + obj.water_price_usd_per_m3 * arrays["water"] / 1000.0
    )
    return Problem(
        allowed_up=reason == 0,
        reason_up=reason,
        gpus_up=arrays["gpus"],
        it_kw_up=arrays["it_kw"],
        facility_kw_up=arrays["facility_kw"],
        heat_kw_up=arrays["it_kw"].copy(),
        water_l_per_h_up=arrays["water"],
        cost_usd_per_h_up=arrays["cost"],
        carbon_kg_per_h_up=arrays["carbon"],
        objective_usd_per_h_up=objective,
        latency_ms_up=arrays["latency"],
        unplaced_usd_per_h_u=value_u,
        must_place_u=must_u,
        group_u=group_u,
        spread_key_gp=spread_key_gp,
        pool_site_p=pool_site,
        gpu_cap_p=np.floor(np.array([pl.gpus for _, _, pl in pools], dtype=float) * head + 1e-9),
        it_cap_kw_s=it_cap,
        facility_cap_kw_s=np.array(
            [s.power.grid_cap_kw if s.power.grid_cap_kw else inf for s in sites]
        )
        * head,
        heat_cap_kw_s=heat_cap * head,
        water_cap_l_per_h_s=np.array(
            [
                s.cooling.water_cap_l_per_day / 24.0 if s.cooling.water_cap_l_per_day else inf
                for s in sites
            ]
        )
        * head,
        budget_usd_per_h=np.array(obj.budget_usd_per_h or inf),
        carbon_cap_kg_per_h=np.array(obj.carbon_cap_kg_per_h or inf),
        lexicographic=np.array(obj.mode == "lexicographic"),
    )


def _value_share(unit: Unit, w: Training | Inference) -> float:
    """Fraction of the workload's value this unit carries (demand share / copies)."""
    if isinstance(w, Training):
        return 1.0
    total = sum(w.demand_rps.values())
    return w.demand_rps[unit.region] / total / unit.copies


def _groups(units, pools, sites) -> tuple[np.ndarray, np.ndarray]:
    """Redundancy groups: the copies of one (workload, region) with copies > 1."""
    group_u = np.full(len(units), -1, dtype=np.int32)
    keys: dict[tuple[str, str | None], int] = {}
    spreads: list[str] = []
    for u, (unit, w) in enumerate(units):
        if unit.copies > 1:
            g = keys.setdefault((unit.workload, unit.region), len(keys))
            if g == len(spreads):
                spreads.append(w.redundancy.spread)
            group_u[u] = g
    domains = {s.id: s.domain for s in sites}
    domain_ids = {d: i for i, d in enumerate(sorted(set(domains.values())))}
    site_ids = {s.id: i for i, s in enumerate(sites)}
    key_gp = np.zeros((len(spreads), len(pools)), dtype=np.int32)
    for g, spread in enumerate(spreads):
        for p, (info, _, _) in enumerate(pools):
            key_gp[g, p] = (
                site_ids[info.site] if spread == "site" else domain_ids[domains[info.site]]
            )
    return group_u, key_gp
