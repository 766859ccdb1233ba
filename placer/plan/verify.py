"""verify: an independent check of a Plan against the Scenario itself.

Written apart from compile and the solvers on purpose: it reads the pydantic Scenario
(never the compiled Problem) and re-derives every rule and KPI here, in float64, so a
bug in compile cannot hide. It shares no code with `placer.problem.compile`, `placer.model.latency`
or `placer.problem.usage`; the few formulas it repeats (haversine, power model) are written
again here deliberately.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from placer.model.scenario import Scenario
from placer.model.site import Pool, Site
from placer.model.workload import Inference, Training
from placer.plan.plan import Placement, Plan

_REL = 1e-6  # relative tolerance for capacities and KPI agreement
_COOL = {"air": 0, "liquid": 1, "immersion": 2}
# Distance model constants, read from the documented model (docs/latency.md).
_FIBRE_KM_PER_MS = 200.0


@dataclass(frozen=True)
class Violation:
    """One broken hard constraint or KPI disagreement."""

    kind: str  # e.g. "latency", "it_power", "must_place", "kpi"
    subject: str  # unit, site or pool it concerns
    message: str
    amount: float = 0.0  # by how much (in the constraint's unit), where meaningful

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}: {self.message}"


@dataclass
class Kpis:
    """KPIs recomputed from the scenario (float64)."""

    cost_usd_per_h: float = 0.0
    carbon_kg_per_h: float = 0.0
    water_l_per_h: float = 0.0
    unplaced_value_usd_per_h: float = 0.0
    objective_usd_per_h: float = 0.0
    site_it_kw: dict[str, float] = field(default_factory=dict)


@dataclass
class _Need:
    """What one placement of one unit needs, recomputed from the scenario."""

    gpus: int
    it_kw: float
    facility_kw: float
    water_l_per_h: float
    cost: float
    carbon: float
    hours: float | None = None
    latency_ms: float | None = None


def verify(scenario: Scenario, plan: Plan) -> list[Violation]:
    """Every violated hard constraint of the plan, and every KPI it misstates."""
    return Verifier(scenario).check(plan)[0]


def recompute_kpis(scenario: Scenario, plan: Plan) -> Kpis:
    """The plan's KPIs recomputed from the scenario alone."""
    return Verifier(scenario).check(plan)[1]


class Verifier:
    """Holds look-ups over one scenario; `check` is pure."""

    def __init__(self, scenario: Scenario) -> None:
        self.sc = scenario
        self.catalog = scenario.catalog()
        self.sites = {s.id: s for s in scenario.sites}
        self.workloads = {w.id: w for w in scenario.workloads}
        self.regions = {r.id: r for r in scenario.user_regions}
        self.rtt = {(e.site, e.region): e.rtt_ms for e in scenario.latency_ms}

    def expected_units(self) -> dict[tuple[str, str | None, int], bool]:
        """(workload, region, copy) of every unit -> must_place."""
        out: dict[tuple[str, str | None, int], bool] = {}
        for w in self.sc.workloads:
            if isinstance(w, Training):
                out[(w.id, None, 0)] = w.must_place
            else:
                for region, rps in w.demand_rps.items():
                    if rps > 0:
                        for c in range(w.redundancy.copies):
                            out[(w.id, region, c)] = w.must_place
        return out

    def _name(self, key: tuple[str, str | None, int]) -> str:
        """The unit's name as plans write it: workload[/region][#copy when copies > 1]."""
        wid, region, copy = key
        if region is None:
            return wid
        copies = self.workloads[wid].redundancy.copies
        return f"{wid}/{region}" + (f"#{copy}" if copies > 1 else "")

    def check(self, plan: Plan) -> tuple[list[Violation], Kpis]:
        out: list[Violation] = []
        kpis = Kpis()
        expected = self.expected_units()
        seen: set[tuple[str, str | None, int]] = set()
        pool_gpus: dict[tuple[str, str], int] = {}
        site_load = {s: [0.0, 0.0, 0.0, 0.0] for s in self.sites}  # it, facility, heat, water
        spread: dict[tuple[str, str | None], list[str]] = {}
        for pl in plan.placements:
            key = (pl.workload, pl.region, pl.copy_index)
            if key not in expected:
                out.append(Violation("unknown_unit", pl.unit, "not a unit of this scenario"))
                continue
            if key in seen:
                out.append(Violation("duplicate", pl.unit, "placed more than once"))
                continue
            seen.add(key)
            need = self._check_placement(pl, out)
            if need is None:
                continue
            pool_gpus[(pl.site, pl.pool)] = pool_gpus.get((pl.site, pl.pool), 0) + need.gpus
            load = site_load[pl.site]
            load[0] += need.it_kw
            load[1] += need.facility_kw
            load[2] += need.it_kw
            load[3] += need.water_l_per_h
            kpis.cost_usd_per_h += need.cost
            kpis.carbon_kg_per_h += need.carbon
            kpis.water_l_per_h += need.water_l_per_h
            spread.setdefault((pl.workload, pl.region), []).append(pl.site)
            self._check_claims(pl, need, out)
        for up in plan.unplaced:
            key = (up.workload, up.region, up.copy_index)
            if key in seen:
                out.append(Violation("duplicate", up.unit, "both placed and unplaced"))
                continue
            if key not in expected:
                out.append(Violation("unknown_unit", up.unit, "not a unit of this scenario"))
                continue
            seen.add(key)
            kpis.unplaced_value_usd_per_h += self._unit_value(*key)
        placed = {(p.workload, p.region, p.copy_index) for p in plan.placements}
        for key, must in expected.items():
            if key not in seen:
                out.append(Violation("missing", self._name(key), "neither placed nor unplaced"))
            elif must and key not in placed:
                out.append(Violation("must_place", self._name(key), "must-place unit not placed"))
        self._check_capacities(pool_gpus, site_load, out)
        self._check_spread(spread, out)
        self._check_caps_and_totals(plan, kpis, out)
        kpis.site_it_kw = {s: v[0] for s, v in site_load.items()}
        return out, kpis

    # -- one placement -------------------------------------------------------------
    def _check_placement(self, pl: Placement, out: list[Violation]) -> _Need | None:
        w = self.workloads[pl.workload]
        site = self.sites.get(pl.site)
        pool = (
            next((q for q in site.pools if (q.id or q.accelerator) == pl.pool), None)
            if site
            else None
        )
        if site is None or pool is None:
            out.append(Violation("unknown_pool", pl.unit, f"no pool {pl.site}/{pl.pool}"))
            return None
        acc = self.catalog[pool.accelerator]
        if pl.accelerator != pool.accelerator:
            out.append(
                Violation(
                    "accelerator",
                    pl.unit,
                    f"plan says {pl.accelerator}, pool holds {pool.accelerator}",
                )
            )
        ok_types = w.accelerators if isinstance(w, Training) else list(w.serving)
        if ok_types is not None and pool.accelerator not in ok_types:
            out.append(Violation("accelerator", pl.unit, f"{pool.accelerator} not accepted"))
            return None
        if w.min_gpu_memory_gb is not None and acc.memory_gb < w.min_gpu_memory_gb:
            out.append(
                Violation(
                    "memory",
                    pl.unit,
                    f"{acc.memory_gb} GB < {w.min_gpu_memory_gb} GB",
                    w.min_gpu_memory_gb - acc.memory_gb,
                )
            )
        if w.residency is not None and site.location.country not in w.residency:
            out.append(
                Violation(
                    "residency",
                    pl.unit,
                    f"{site.id} is in {site.location.country}, allowed {w.residency}",
                )
            )
        if w.pin_sites is not None and site.id not in w.pin_sites:
            out.append(Violation("pin", pl.unit, f"{site.id} not in pin_sites"))
        if site.id in w.exclude_sites:
            out.append(Violation("exclude", pl.unit, f"{site.id} is excluded"))
        racks_checked = site.tier != "cloud"  # a cloud pool comes with its own cooling
        if racks_checked and _COOL[acc.cooling] > _COOL[site.cooling.type]:
            out.append(
                Violation(
                    "cooling",
                    pl.unit,
                    f"{acc.id} needs {acc.cooling}, {site.id} has {site.cooling.type}",
                )
            )
        node_kw = self._node_kw(pool)
        rack_kw = node_kw * pool.nodes_per_rack
        if racks_checked and rack_kw > site.cooling.max_rack_density_kw * (1 + _REL):
            out.append(
                Violation(
                    "rack_density",
                    pl.unit,
                    f"{rack_kw:.1f} kW racks > {site.cooling.max_rack_density_kw} kW",
                    rack_kw - site.cooling.max_rack_density_kw,
                )
            )
        if isinstance(w, Training):
            return self._training_need(w, pl, site, pool, node_kw, out)
        return self._inference_need(w, pl, site, pool, node_kw, out)

    def _node_kw(self, pool: Pool) -> float:
        if pool.node_power_kw is not None:
            return pool.node_power_kw
        acc = self.catalog[pool.accelerator]
        return pool.gpus_per_node * acc.tdp_w * acc.node_overhead_factor / 1000.0

    def _price(self, w, pool: Pool) -> float:
        if w.spot_ok and pool.spot_cost_usd_per_gpu_h is not None:
            return min(pool.cost_usd_per_gpu_h, pool.spot_cost_usd_per_gpu_h)
        return pool.cost_usd_per_gpu_h

    def _need(
        self,
        gpus: int,
        util: float,
        speed: float,
        w,
        site: Site,
        pool: Pool,
        node_kw: float,
        extra_cost: float = 0.0,
    ) -> _Need:
        acc = self.catalog[pool.accelerator]
        it_kw = gpus * node_kw / pool.gpus_per_node
        mean_kw = it_kw * (acc.idle_power_fraction + (1.0 - acc.idle_power_fraction) * util)
        energy_kwh_per_h = speed * mean_kw * site.power.pue
        return _Need(
            gpus=gpus,
            it_kw=it_kw,
            facility_kw=it_kw * site.power.pue,
            water_l_per_h=speed * mean_kw * site.cooling.wue_l_per_kwh,
            cost=speed * gpus * self._price(w, pool)
            + energy_kwh_per_h * site.power.price_usd_per_kwh
            + extra_cost,
            carbon=energy_kwh_per_h * site.power.carbon_g_per_kwh / 1000.0,
        )

    def _training_need(self, w: Training, pl, site, pool, node_kw, out) -> _Need:
        tflops = self.catalog[pool.accelerator].bf16_tflops
        ref = self.catalog[w.accelerators[0]].bf16_tflops if w.accelerators else None
        speed = ref / tflops if (ref and tflops) else 1.0
        hours = w.hours * speed
        if w.deadline_hours is not None and hours > w.deadline_hours * (1 + _REL):
            out.append(
                Violation(
                    "deadline",
                    pl.unit,
                    f"{hours:.1f} h on {pool.accelerator} > {w.deadline_hours} h",
                    hours - w.deadline_hours,
                )
            )
        egress = 0.0
        if w.dataset is not None and w.dataset.site != site.id:
            egress = self.sites[w.dataset.site].egress_usd_per_gb * w.dataset.size_gb / w.hours
        need = self._need(w.gpus, w.utilization, speed, w, site, pool, node_kw, egress)
        need.hours = hours
        return need

    def _inference_need(self, w: Inference, pl, site, pool, node_kw, out) -> _Need:
        serving = w.serving[pool.accelerator]
        k = w.redundancy.copies
        share = w.demand_rps[pl.region] / (k - w.redundancy.failures)
        replicas = max(1, math.ceil(share / serving.rps_per_replica - 1e-9))
        util = min(1.0, (w.demand_rps[pl.region] / k) / (replicas * serving.rps_per_replica))
        rtt = self._rtt(site, pl.region)
        if rtt > w.latency_slo_ms * (1 + _REL):
            out.append(
                Violation(
                    "latency",
                    pl.unit,
                    f"{rtt:.1f} ms to {pl.region} > SLO {w.latency_slo_ms} ms",
                    rtt - w.latency_slo_ms,
                )
            )
        if pl.replicas != replicas:
            out.append(
                Violation(
                    "replicas", pl.unit, f"plan has {pl.replicas} replicas, demand needs {replicas}"
                )
            )
        need = self._need(replicas * serving.gpus_per_replica, util, 1.0, w, site, pool, node_kw)
        need.latency_ms = rtt
        return need

    def _rtt(self, site: Site, region_id: str) -> float:
        if (site.id, region_id) in self.rtt:
            return self.rtt[site.id, region_id]
        from placer.model import latency as model  # constants only; the formula is re-derived here

        loc = self.regions[region_id].location
        p1, p2 = math.radians(site.location.lat), math.radians(loc.lat)
        dl = math.radians(loc.lon - site.location.lon)
        # Spherical law of cosines (compile uses haversine): agree to ~1e-9 km here.
        c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
        km = 6371.0 * math.acos(max(-1.0, min(1.0, c)))
        return model.OVERHEAD_MS + 2.0 * km * model.ROUTE_FACTOR / _FIBRE_KM_PER_MS

    # -- plan-wide ---------------------------------------------------------------
    def _check_claims(self, pl: Placement, need: _Need, out: list[Violation]) -> None:
        if pl.gpus != need.gpus:
            out.append(Violation("gpus", pl.unit, f"plan has {pl.gpus} GPUs, needs {need.gpus}"))
        for name, claimed, actual in (
            ("cost_usd_per_h", pl.cost_usd_per_h, need.cost),
            ("carbon_kg_per_h", pl.carbon_kg_per_h, need.carbon),
            ("it_kw", pl.it_kw, need.it_kw),
            ("facility_kw", pl.facility_kw, need.facility_kw),
            ("water_l_per_h", pl.water_l_per_h, need.water_l_per_h),
            ("hours", pl.hours, need.hours),
            ("latency_ms", pl.latency_ms, need.latency_ms),
        ):
            if claimed is None and actual is None:
                continue
            if claimed is None or actual is None or not _close(claimed, actual):
                out.append(Violation("kpi", pl.unit, f"{name} {claimed} != {actual}"))

    def _check_capacities(self, pool_gpus, site_load, out: list[Violation]) -> None:
        mu = self.sc.objective.max_utilization
        for (sid, key), used in pool_gpus.items():
            pool = next(q for q in self.sites[sid].pools if (q.id or q.accelerator) == key)
            cap = math.floor(pool.gpus * mu + 1e-9)
            if used > cap:
                out.append(Violation("gpus", f"{sid}/{key}", f"{used} GPUs > {cap}", used - cap))
        for sid, (it, fac, heat, water) in site_load.items():
            s = self.sites[sid]
            caps = [
                ("it_power", it, s.power.it_capacity_kw, "kW"),
                ("facility_power", fac, s.power.grid_cap_kw, "kW"),
                ("cooling", heat, s.cooling.heat_rejection_kw or s.power.it_capacity_kw, "kW"),
                ("water", water, (s.cooling.water_cap_l_per_day or 0) / 24.0 or None, "L/h"),
            ]
            for kind, used, cap, unit in caps:
                if cap is not None and used > cap * mu * (1 + _REL) + 1e-9:
                    out.append(
                        Violation(
                            kind, sid, f"{used:.2f} {unit} > {cap * mu:.2f} {unit}", used - cap * mu
                        )
                    )

    def _check_spread(self, spread: dict, out: list[Violation]) -> None:
        for (wid, region), site_ids in spread.items():
            w = self.workloads[wid]
            if not isinstance(w, Inference) or w.redundancy.copies < 2:
                continue
            keys = [
                self.sites[s].domain if w.redundancy.spread == "failure_domain" else s
                for s in site_ids
            ]
            if len(set(keys)) < len(keys):
                out.append(
                    Violation(
                        "redundancy",
                        f"{wid}/{region}",
                        f"copies share a {w.redundancy.spread}: {sorted(keys)}",
                    )
                )

    def _check_caps_and_totals(self, plan: Plan, kpis: Kpis, out: list[Violation]) -> None:
        obj = self.sc.objective
        if obj.budget_usd_per_h is not None and kpis.cost_usd_per_h > obj.budget_usd_per_h * (
            1 + _REL
        ):
            out.append(
                Violation(
                    "budget",
                    "plan",
                    f"{kpis.cost_usd_per_h:.2f} USD/h > {obj.budget_usd_per_h}",
                    kpis.cost_usd_per_h - obj.budget_usd_per_h,
                )
            )
        if obj.carbon_cap_kg_per_h is not None and kpis.carbon_kg_per_h > (
            obj.carbon_cap_kg_per_h * (1 + _REL)
        ):
            out.append(
                Violation(
                    "carbon_cap",
                    "plan",
                    f"{kpis.carbon_kg_per_h:.2f} kg/h > {obj.carbon_cap_kg_per_h}",
                )
            )
        kpis.objective_usd_per_h = (
            kpis.cost_usd_per_h
            + obj.carbon_price_usd_per_t * kpis.carbon_kg_per_h / 1000.0
            + obj.water_price_usd_per_m3 * kpis.water_l_per_h / 1000.0
            + kpis.unplaced_value_usd_per_h
        )
        t = plan.totals
        if t is None:
            return
        for name, claimed, actual in (
            ("cost_usd_per_h", t.cost_usd_per_h, kpis.cost_usd_per_h),
            ("carbon_kg_per_h", t.carbon_kg_per_h, kpis.carbon_kg_per_h),
            ("water_l_per_h", t.water_l_per_h, kpis.water_l_per_h),
            ("objective_usd_per_h", t.objective_usd_per_h, kpis.objective_usd_per_h),
        ):
            if not _close(claimed, actual):
                out.append(Violation("kpi", "totals", f"{name} {claimed:.6g} != {actual:.6g}"))

    def _unit_value(self, wid: str, region: str | None, copy: int) -> float:
        w = self.workloads[wid]
        if w.value_usd_per_h is None:
            return 0.0
        if isinstance(w, Training):
            return w.value_usd_per_h
        return (
            w.value_usd_per_h
            * w.demand_rps[region]
            / sum(w.demand_rps.values())
            / w.redundancy.copies
        )


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= _REL * max(1.0, abs(a), abs(b))
