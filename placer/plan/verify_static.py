"""verify: an independent check of a Plan against the Scenario itself.

Written apart from compile and the solvers on purpose: it reads the pydantic Scenario
(never the compiled Problem) and re-derives every rule and KPI here, in float64, so a
bug in compile cannot hide. It shares no code with `placer.problem.compile`, `placer.model.latency`
or `placer.problem.usage`; the few formulas it repeats (great-circle distance, power model) are
written again here deliberately.

Two kinds of finding, each a `Violation`:

- a broken hard constraint (kind names the rule: "latency", "it_power", "must_place", ...);
- a figure the plan states that the scenario does not give. Every figure is recomputed: the
  headline objective; bound <= objective and gap = max(0, (objective - bound) /
  max(|objective|, 1e-9)); each placement's identity (its unit name against its workload,
  region and copy index), kind, accelerator ("accelerator"), GPUs ("gpus"), replicas
  ("replicas"), RTT, hours, IT and facility kW, cost, carbon and water; each unplaced unit's
  (and each `infeasibility.unplaceable` unit's) must_place and value; each site's GPUs used
  and total, IT / facility / heat kW, water, cost, carbon and the capacities it states; every
  `totals` field, the unit counts included; no unit placed twice, listed twice, or both placed
  and unplaced. Misstated figures are kind "kpi" (but for the three placement claims named
  above); the message names the figure by its path in the plan, e.g.
  `placements[12].cost_usd_per_h: plan says 17.9, the scenario gives 17.85`, and `amount` is
  plan - scenario. A figure the plan leaves out (no totals, no site rows, no objective) is not
  checked: verify judges what a plan states.

Tolerance: figures agree when |plan - scenario| <= _REL x max(|plan|, |scenario|) + _ABS.
Plans carry compile's float64 figures; recomputed here in another order they differ by ~1e-15
relative (the RTT formula below by ~1e-12 ms), and sums over placements by ~n x 1e-16
relative with no cancellation (every term is >= 0). _REL = 1e-6 is far above that and below
any digit a report prints; _ABS = 1e-9 (of the figure's unit: USD/h, kW, L/h, kg/h, h, ms)
lets a sum that should be 0 carry float noise. Integers (GPUs, replicas, counts), names and
flags must agree exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from placer.model.mig import gpu_share, profile_names
from placer.model.scenario import Scenario
from placer.model.site import Pool, Site
from placer.model.workload import Inference, Training
from placer.plan.plan import Placement, Plan, UnitRef
from placer.plan.verify_disagg import DISAGG_FIELDS, DisaggChecks
from placer.plan.verify_disagg import TokenFigures as _Tokens
from placer.plan.verify_figures import REL as _REL
from placer.plan.verify_figures import Violation, latency_violation
from placer.plan.verify_figures import compare as _compare
from placer.plan.verify_figures import fmt as _fmt
from placer.plan.verify_figures import misstated as _misstated
from placer.plan.verify_figures import tolerance as _tolerance
from placer.plan.verify_nodes import NodeChecks, PodAsk

_COOL = {"air": 0, "liquid": 1, "immersion": 2}
# Distance model constants, read from the documented model (docs/latency.md).
_FIBRE_KM_PER_MS = 200.0
#: Per-site figures a plan states, recomputed in `_SiteUse` under the same names.
_SITE_LOADS = (
    "gpus_used",
    "it_kw",
    "facility_kw",
    "heat_kw",
    "water_l_per_h",
    "cost_usd_per_h",
    "carbon_kg_per_h",
)

Key = tuple[str, str | None, int]  # (workload, region, copy) of one placement unit


@dataclass
class Kpis:
    """KPIs recomputed from the scenario (float64)."""

    cost_usd_per_h: float = 0.0
    carbon_kg_per_h: float = 0.0
    water_l_per_h: float = 0.0
    unplaced_value_usd_per_h: float = 0.0
    objective_usd_per_h: float = 0.0
    site_it_kw: dict[str, float] = field(default_factory=dict)
    gpus: int = 0
    # token-served placements: tokens/s (x the share of the horizon they run) and the
    # cost's prefill and decode parts (USD/h; a timed plan: USD)
    tokens: dict[str, float] = field(default_factory=dict)


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
    replicas: int = 0
    serving: _Tokens | None = None  # a token-served placement's figures
    decode_gpus: int = 0  # disaggregated: GPUs of its decode replicas (in gpus)
    decode_pool: str | None = None  # disaggregated: the pool they run in


@dataclass
class _SiteUse:
    """One site's load, summed over the placements there (names as in SiteUsage)."""

    gpus_used: int = 0
    it_kw: float = 0.0
    facility_kw: float = 0.0
    heat_kw: float = 0.0  # the heat to reject is the IT power
    water_l_per_h: float = 0.0
    cost_usd_per_h: float = 0.0
    carbon_kg_per_h: float = 0.0

    def add(self, need: _Need) -> None:
        self.gpus_used += need.gpus
        self.it_kw += need.it_kw
        self.facility_kw += need.facility_kw
        self.heat_kw += need.it_kw
        self.water_l_per_h += need.water_l_per_h
        self.cost_usd_per_h += need.cost
        self.carbon_kg_per_h += need.carbon


class Verifier(NodeChecks, DisaggChecks):
    """Holds look-ups over one scenario; `check` is pure."""

    def __init__(self, scenario: Scenario) -> None:
        self.sc = scenario
        self.catalog = scenario.catalog()
        self.sites = {s.id: s for s in scenario.sites}
        self.workloads = {w.id: w for w in scenario.workloads}
        self.regions = {r.id: r for r in scenario.user_regions}
        self.rtt = {(e.site, e.region): e.rtt_ms for e in scenario.latency_ms}

    def expected_units(self) -> dict[Key, bool]:
        """(workload, region, copy) of every unit -> must_place."""
        out: dict[Key, bool] = {}
        for w in self.sc.workloads:
            if isinstance(w, Training):
                out[(w.id, None, 0)] = w.must_place
            else:
                for region, rps in w.demand_rps.items():
                    if rps > 0:
                        for c in range(w.redundancy.copies):
                            out[(w.id, region, c)] = w.must_place
        return out

    def _name(self, key: Key) -> str:
        """The unit's name as plans write it: workload[/region][#copy when copies > 1]."""
        wid, region, copy = key
        if region is None:
            return wid
        copies = self.workloads[wid].redundancy.copies
        return f"{wid}/{region}" + (f"#{copy}" if copies > 1 else "")

    def check(self, plan: Plan) -> tuple[list[Violation], Kpis]:
        """(every violation, the KPIs recomputed from the scenario) of `plan`."""
        out: list[Violation] = []
        kpis = Kpis()
        expected = self.expected_units()
        names = {self._name(k): k for k in expected}
        seen: set[Key] = set()
        pool_gpus: dict[tuple[str, str], int] = {}
        site_use = {s: _SiteUse() for s in self.sites}
        spread: dict[tuple[str, str | None], list[str]] = {}
        pool_pods: dict[tuple[str, str], list[PodAsk]] = {}
        for i, pl in enumerate(plan.placements):
            key = (pl.workload, pl.region, pl.copy_index)
            self._check_identity(f"placements[{i}]", pl, key, expected, names, out)
            if key not in expected:
                out.append(Violation("unknown_unit", pl.unit, "not a unit of this scenario"))
                continue
            if key in seen:
                out.append(Violation("duplicate", pl.unit, "placed more than once"))
                continue
            seen.add(key)
            need = self._check_placement(f"placements[{i}]", pl, out)
            if need is None:
                continue
            charged = [((pl.site, pl.pool), need.gpus - need.decode_gpus)]
            if need.decode_pool is not None:  # disaggregated: decode GPUs in the decode pool
                charged.append(((pl.site, need.decode_pool), need.decode_gpus))
            for where, gpus in charged:
                pool_gpus[where] = pool_gpus.get(where, 0) + gpus
            if self._noded(pl):
                pool_pods.setdefault((pl.site, pl.pool), []).extend(self._pods(pl, need.replicas))
            site_use[pl.site].add(need)
            kpis.cost_usd_per_h += need.cost
            kpis.carbon_kg_per_h += need.carbon
            kpis.water_l_per_h += need.water_l_per_h
            kpis.gpus += need.gpus
            spread.setdefault((pl.workload, pl.region), []).append(pl.site)
            self._check_claims(f"placements[{i}]", pl, need, out)
            self.check_token_claims(f"placements[{i}]", pl, need.serving, need.cost, 1.0, out)
            add_tokens(kpis, need.serving, need.cost, 1.0)
        placed = set(seen)
        for i, up in enumerate(plan.unplaced):
            key = (up.workload, up.region, up.copy_index)
            self._check_identity(f"unplaced[{i}]", up, key, expected, names, out)
            if key in seen:
                again = "both placed and unplaced" if key in placed else "unplaced twice"
                out.append(Violation("duplicate", up.unit, again))
                continue
            if key not in expected:
                out.append(Violation("unknown_unit", up.unit, "not a unit of this scenario"))
                continue
            seen.add(key)
            kpis.unplaced_value_usd_per_h += self._unit_value(*key)
            self._check_unplaced(f"unplaced[{i}]", up, key, out)
        for key, must in expected.items():
            if key not in seen:
                out.append(Violation("missing", self._name(key), "neither placed nor unplaced"))
            elif must and key not in placed:
                out.append(Violation("must_place", self._name(key), "must-place unit not placed"))
        if plan.infeasibility is not None:
            for i, up in enumerate(plan.infeasibility.unplaceable):
                key = (up.workload, up.region, up.copy_index)
                path = f"infeasibility.unplaceable[{i}]"
                self._check_identity(path, up, key, expected, names, out)
                if key in expected:
                    self._check_unplaced(path, up, key, out)
                else:
                    out.append(Violation("unknown_unit", up.unit, f"{path}: not a unit"))
        self._check_capacities(pool_gpus, site_use, out)
        node_free = self._check_nodes(pool_pods, out)
        self._check_node_rows(plan, pool_pods, node_free, out)
        self._check_spread(spread, out)
        self._check_caps(kpis, out)
        self._check_sites(plan, site_use, out)
        self._check_totals(plan, kpis, out)
        self.check_token_totals(plan, kpis, 1.0, out)
        self._check_utilization(plan, pool_gpus, out)
        self._check_headline(plan, kpis, out)
        kpis.site_it_kw = {s: v.it_kw for s, v in site_use.items()}
        return out, kpis

    def check_token_claims(
        self, path: str, pl: Placement, tok: _Tokens | None, cost: float, run_h: float, out
    ) -> None:
        """The token figures a placement states (a figure it leaves out is not checked):
        cost per 1,000 tokens = its cost over the run_h hours it serves (USD) x the
        phase's share / the tokens it serves in them."""
        actual = dict.fromkeys(_TOKEN_FIELDS)
        if tok is not None:
            kilo = 3.6 * run_h  # thousands of tokens per (token/s) over run_h hours
            both = tok.prompt_tokens_per_s + tok.output_tokens_per_s
            actual = {
                "ttft_ms": tok.ttft_ms,
                "prompt_tokens_per_s": tok.prompt_tokens_per_s,
                "output_tokens_per_s": tok.output_tokens_per_s,
                "usd_per_1k_prompt_tokens": cost
                * tok.prefill_share
                / (tok.prompt_tokens_per_s * kilo),
                "usd_per_1k_output_tokens": cost
                * (1.0 - tok.prefill_share)
                / (tok.output_tokens_per_s * kilo),
                "usd_per_1k_tokens": cost / (both * kilo),
            }
        for name, value in actual.items():
            said = getattr(pl, name)
            if said is not None or value is None:
                _compare(out, pl.unit, path, name, said, value)

    def check_token_totals(self, plan: Plan, kpis: Kpis, hours: float, out) -> None:
        """The plan's token totals (stated ones only): tokens/s summed (a timed plan: the
        mean over its hours), cost per 1,000 tokens over every token-served placement."""
        t = plan.totals
        if t is None:
            return
        k = kpis.tokens
        prompt, output = k.get("prompt", 0.0), k.get("output", 0.0)
        kilo = 3.6 * hours
        served = any(getattr(w, "tokens", None) is not None for w in self.sc.workloads)
        actual = {
            "prompt_tokens_per_s": prompt if served else None,
            "output_tokens_per_s": output if served else None,
            "usd_per_1k_prompt_tokens": k["cost_prompt"] / (prompt * kilo) if prompt else None,
            "usd_per_1k_output_tokens": k["cost_output"] / (output * kilo) if output else None,
            "usd_per_1k_tokens": (k["cost_prompt"] + k["cost_output"]) / ((prompt + output) * kilo)
            if prompt + output
            else None,
        }
        for name, value in actual.items():
            said = getattr(t, name)
            if said is not None or value is None:
                _compare(out, "totals", "totals", name, said, value)

    def _check_utilization(self, plan: Plan, pool_gpus, out) -> None:
        """Each stated GPU utilisation row: GPUs used / installed of a pool or a site."""
        for j, row in enumerate(plan.gpu_utilization):
            path = f"gpu_utilization[{j}]"
            site = self.sites.get(row.site)
            pools = [q for q in site.pools if row.pool in (None, q.key)] if site else []
            if site is None or not pools:
                out.append(Violation("kpi", row.site, f"{path}: no such site or pool"))
                continue
            used = sum(pool_gpus.get((site.id, q.key), 0) for q in pools)
            total = sum(q.gpus for q in pools)
            _compare(out, row.site, path, "gpus_used", row.gpus_used, used)
            _compare(out, row.site, path, "gpus_total", row.gpus_total, total)
            _compare(
                out, row.site, path, "utilization", row.utilization, used / total if total else None
            )

    # -- identities and figures ------------------------------------------------------
    def _check_identity(
        self,
        path: str,
        ref: UnitRef,
        key: Key,
        expected: dict[Key, bool],
        names: dict[str, Key],
        out: list[Violation],
    ) -> None:
        """The unit's name agrees with its (workload, region, copy_index); a static plan
        states no time (no period, part 0, no start)."""
        for name in _TIME_FIELDS:
            said = getattr(ref, name, None)
            if said not in (None, 0) or (name == "part" and said != 0):
                out.append(_misstated(ref.unit, f"{path}.{name}", said, _static_value(name)))
        named = names.get(ref.unit)
        if named == key:
            return
        if named is None:
            if key in expected:  # a known unit under a wrong name
                out.append(_misstated(ref.unit, f"{path}.unit", ref.unit, self._name(key)))
            return  # else: neither is a unit; the caller reports unknown_unit
        for name, said, actual in zip(
            ("workload", "region", "copy_index"), key, named, strict=True
        ):
            if said != actual:
                out.append(_misstated(ref.unit, f"{path}.{name}", said, actual))

    def _check_unplaced(self, path: str, up, key: Key, out: list[Violation]) -> None:
        _compare(out, up.unit, path, "must_place", up.must_place, self.workloads[key[0]].must_place)
        _compare(out, up.unit, path, "value_usd_per_h", up.value_usd_per_h, self._unit_value(*key))

    def _check_claims(self, path: str, pl: Placement, need: _Need, out: list[Violation]) -> None:
        """Every figure of one placement against what the scenario gives its pair."""
        _compare(out, pl.unit, path, "gpus", pl.gpus, need.gpus, kind="gpus")
        _compare(out, pl.unit, path, "replicas", pl.replicas, need.replicas, kind="replicas")
        _compare(out, pl.unit, path, "kind", pl.kind, self.workloads[pl.workload].kind)
        for name, actual in (
            ("latency_ms", need.latency_ms),
            ("hours", need.hours),
            ("it_kw", need.it_kw),
            ("facility_kw", need.facility_kw),
            ("cost_usd_per_h", need.cost),
            ("carbon_kg_per_h", need.carbon),
            ("water_l_per_h", need.water_l_per_h),
        ):
            _compare(out, pl.unit, path, name, getattr(pl, name), actual)

    def _check_sites(self, plan: Plan, site_use: dict[str, _SiteUse], out) -> None:
        """Each stated site row: its loads (summed here) and the capacities it states."""
        for path, su, site in self._site_rows(plan.sites, "sites", out):
            use = site_use[su.site]
            cap_day = site.cooling.water_cap_l_per_day
            stated = {
                "tier": site.tier,
                "gpus_total": sum(q.gpus for q in site.pools),
                "it_capacity_kw": site.power.it_capacity_kw,
                "grid_cap_kw": site.power.grid_cap_kw,
                "heat_rejection_kw": site.cooling.heat_rejection_kw or site.power.it_capacity_kw,
                "water_cap_l_per_h": cap_day / 24.0 if cap_day else None,
                **{name: getattr(use, name) for name in _SITE_LOADS},
            }
            for name, actual in stated.items():
                _compare(out, su.site, path, name, getattr(su, name), actual)

    def _site_rows(self, rows, name: str, out: list[Violation]):
        """(path, row, Site) of each stated site row of a known site listed once; the
        others are reported."""
        listed: set[str] = set()
        for j, row in enumerate(rows):
            path = f"{name}[{j}]"
            site = self.sites.get(row.site)
            if site is None or row.site in listed:
                why = "listed twice" if site is not None else "not a site of this scenario"
                out.append(Violation("kpi", row.site, f"{path}.site: {why}"))
                continue
            listed.add(row.site)
            yield path, row, site

    def _check_totals(self, plan: Plan, kpis: Kpis, out: list[Violation]) -> None:
        t = plan.totals
        if t is None:
            return
        for name, actual in (
            ("cost_usd_per_h", kpis.cost_usd_per_h),
            ("carbon_kg_per_h", kpis.carbon_kg_per_h),
            ("water_l_per_h", kpis.water_l_per_h),
            ("unplaced_value_usd_per_h", kpis.unplaced_value_usd_per_h),
            ("objective_usd_per_h", kpis.objective_usd_per_h),
            ("gpus", kpis.gpus),
            ("placed_units", len(plan.placements)),
            ("unplaced_units", len(plan.unplaced)),
        ):
            _compare(out, "totals", "totals", name, getattr(t, name), actual)

    def _check_headline(self, plan: Plan, kpis: Kpis, out: list[Violation]) -> None:
        """The objective, and the bound and gap stated against it."""
        obj, bound, gap = plan.objective_usd_per_h, plan.bound_usd_per_h, plan.gap
        if obj is not None:
            _compare(out, "plan", "", "objective_usd_per_h", obj, kpis.objective_usd_per_h)
        if obj is not None and bound is not None and not bound <= obj + _tolerance(obj, bound):
            out.append(
                Violation(
                    "kpi",
                    "plan",
                    f"bound_usd_per_h: plan says {_fmt(bound)}, above its objective {_fmt(obj)}",
                    bound - obj,
                )
            )
        if gap is not None:
            if obj is None or bound is None:
                missing = "objective_usd_per_h" if obj is None else "bound_usd_per_h"
                out.append(
                    Violation("kpi", "plan", f"gap: plan says {_fmt(gap)} with no {missing}")
                )
            else:
                # the gap is a ratio of the plan's own figures: rounding of one division.
                expected = max(0.0, (obj - bound) / max(abs(obj), 1e-9))
                _compare(out, "plan", "", "gap", gap, expected)
        if plan.bound_scope is not None and bound is None:
            out.append(
                Violation(
                    "kpi",
                    "plan",
                    f"bound_scope: plan says {plan.bound_scope} with no bound_usd_per_h",
                )
            )

    # -- one placement -------------------------------------------------------------
    def _check_placement(self, path: str, pl: Placement, out: list[Violation]) -> _Need | None:
        w = self.workloads[pl.workload]
        site = self.sites.get(pl.site)
        pool = (
            next((q for q in site.pools if (q.id or q.accelerator) == pl.pool), None)
            if site
            else None
        )
        if site is None or pool is None:
            what = f"{path}.site: no site {pl.site}" if site is None else f"{path}.pool: no pool "
            what += "" if site is None else f"{pl.pool} at {pl.site}"
            out.append(Violation("unknown_pool", pl.unit, what))
            return None
        acc = self.catalog[pool.accelerator]
        _compare(out, pl.unit, path, "accelerator", pl.accelerator, pool.accelerator, "accelerator")
        ok_types = w.accelerators if isinstance(w, Training) else list(w.serving)
        if ok_types is not None and pool.accelerator not in ok_types:
            out.append(Violation("accelerator", pl.unit, f"{pool.accelerator} not accepted"))
            return None
        if isinstance(w, Inference) and (profile := w.serving[pool.accelerator].mig):
            if profile not in profile_names(pool.accelerator):
                out.append(
                    Violation("accelerator", pl.unit, f"{pool.accelerator} has no {profile}")
                )
                return None
            if not any(n.mig for n in pool.nodes or []):
                out.append(Violation("mig", pl.unit, f"{pl.site}/{pl.pool} has no MIG nodes"))
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
        if pl.decode_pool is not None:
            return self._disagg_need(w, pl, path, site, pool, node_kw, out)
        for name in DISAGG_FIELDS:  # figures only a disaggregated placement states
            if getattr(pl, name) is not None:
                out.append(_misstated(pl.unit, f"{path}.{name}", getattr(pl, name), None))
        return self._inference_need(w, pl, site, pool, node_kw, out)

    def _node_kw(self, pool: Pool) -> float:
        acc = self.catalog[pool.accelerator]
        if pool.node_power_kw is not None:
            node_kw = pool.node_power_kw
        else:
            node_kw = pool.gpus_per_node * acc.tdp_w * acc.node_overhead_factor / 1000.0
        if pool.nodes and any(n.power_kw is not None for n in pool.nodes):
            # per GPU: the shapes' stated node power (the above per GPU where unstated)
            per_gpu = node_kw / pool.gpus_per_node
            kw = sum(n.count * (n.power_kw or per_gpu * n.gpus) for n in pool.nodes)
            node_kw = kw / sum(n.count * n.gpus for n in pool.nodes) * pool.gpus_per_node
        return node_kw

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
        rtt = self._rtt(site, pl.region)
        rps = serving.rps_per_replica
        assert rps is not None  # validation fills it for token-served workloads
        replicas = max(1, math.ceil(share / rps - 1e-9))
        tokens = None
        if w.tokens is not None:
            replicas, tokens = self.check_tokens(
                w, pl, pool, share, w.demand_rps[pl.region] / k, rtt, out
            )
        util = min(1.0, (w.demand_rps[pl.region] / k) / (replicas * rps))
        if found := latency_violation(pl.unit, pl.region, rtt, w.latency_slo_ms):
            out.append(found)
        per_replica = serving.gpus_per_replica
        if serving.mig is not None:  # a MIG instance holds compute slices / 7 of a GPU
            per_replica = gpu_share(serving.mig)
        need = self._need(replicas * per_replica, util, 1.0, w, site, pool, node_kw)
        need.latency_ms = rtt
        need.replicas = replicas
        need.serving = tokens
        return need

    def check_tokens(
        self, w: Inference, pl, pool: Pool, share: float, normal: float, rtt: float, out
    ) -> tuple[int, _Tokens]:
        """(replicas the scenario asks for, the placement's token figures) of a
        token-served placement; reports "memory" when one p95 sequence does not fit
        beside the weights, "tokens" when the plan's replicas are fewer than the tokens
        and KV cache need at the burst rate, "ttft" when its TTFT at the plan's replicas
        passes the SLO (or no replica count meets it)."""
        t, sv = w.tokens, w.serving[pool.accelerator]
        assert t is not None and t.weights_gb is not None and t.kv_cache_bytes_per_token
        assert sv.prefill_tokens_per_s and sv.decode_tokens_per_s and sv.decode_batch
        mem_gb = self.catalog[pool.accelerator].memory_gb
        need = _token_replicas(t, sv, mem_gb, share, rtt)
        pre = t.prompt_tokens.mean_tokens / sv.prefill_tokens_per_s
        dec = t.output_tokens.mean_tokens / sv.decode_tokens_per_s
        said = max(1, pl.replicas)
        figures = _Tokens(
            ttft_ms=_ttft_ms(t, sv, share, rtt, said),
            prompt_tokens_per_s=normal * t.prompt_tokens.mean_tokens,
            output_tokens_per_s=normal * t.output_tokens.mean_tokens,
            prefill_share=pre / (pre + dec),
        )
        if need.fits is False:
            out.append(
                Violation(
                    "memory",
                    pl.unit,
                    f"a {sv.gpus_per_replica}-GPU {pool.accelerator} replica cannot hold "
                    f"{t.weights_gb:g} GB of weights and one p95 sequence's KV cache",
                )
            )
            return need.base, figures
        if pl.replicas < need.base:
            out.append(
                Violation(
                    "tokens",
                    pl.unit,
                    f"{pl.replicas} replicas < {need.base} that the tokens and KV cache need "
                    f"at {t.burst_factor:g} x the demand",
                    need.base - pl.replicas,
                )
            )
        slo = t.ttft_slo_ms
        if figures.ttft_ms > slo * (1 + _REL):
            out.append(
                Violation(
                    "ttft",
                    pl.unit,
                    f"TTFT {figures.ttft_ms:.1f} ms with {pl.replicas} replicas > SLO {slo:g} ms"
                    if math.isfinite(figures.ttft_ms)
                    else f"TTFT unbounded: {pl.replicas} replicas saturate at the burst rate",
                    figures.ttft_ms - slo if math.isfinite(figures.ttft_ms) else 0.0,
                )
            )
        return (need.replicas if need.replicas else need.base), figures

    def _rtt(self, site: Site, region_id: str) -> float:
        if (site.id, region_id) in self.rtt:
            return self.rtt[site.id, region_id]
        from placer.model import latency as model  # constants only; the formula is re-derived here

        loc = self.regions[region_id].location
        p1, p2 = math.radians(site.location.lat), math.radians(loc.lat)
        dl = math.radians(loc.lon - site.location.lon)
        # Central angle by the atan2 (Vincenty, sphere) form, well conditioned at every
        # distance (compile uses haversine): the two agree to ~1e-12 km.
        y = math.hypot(
            math.cos(p2) * math.sin(dl),
            math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl),
        )
        x = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
        km = 6371.0 * math.atan2(y, x)
        return model.OVERHEAD_MS + 2.0 * km * model.ROUTE_FACTOR / _FIBRE_KM_PER_MS

    # -- plan-wide ---------------------------------------------------------------
    def _check_capacities(self, pool_gpus, site_use: dict[str, _SiteUse], out) -> None:
        mu = self.sc.objective.max_utilization
        for (sid, key), used in pool_gpus.items():
            pool = next(q for q in self.sites[sid].pools if (q.id or q.accelerator) == key)
            cap = math.floor(pool.gpus * mu + 1e-9)
            if used > cap:
                out.append(Violation("gpus", f"{sid}/{key}", f"{used} GPUs > {cap}", used - cap))
        for sid, use in site_use.items():
            s = self.sites[sid]
            caps = [
                ("it_power", use.it_kw, s.power.it_capacity_kw, "kW"),
                ("facility_power", use.facility_kw, s.power.grid_cap_kw, "kW"),
                (
                    "cooling",
                    use.heat_kw,
                    s.cooling.heat_rejection_kw or s.power.it_capacity_kw,
                    "kW",
                ),
                (
                    "water",
                    use.water_l_per_h,
                    (s.cooling.water_cap_l_per_day or 0) / 24.0 or None,
                    "L/h",
                ),
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

    def _check_caps(self, kpis: Kpis, out: list[Violation]) -> None:
        """The budget and carbon cap; sets the recomputed objective."""
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


#: Fields only a timed plan's units state (`placer.plan.verify_time` checks those).
_TIME_FIELDS = (
    "period",
    "part",
    "start_period",
    "periods",
    "start",
    "end",
    "cost_usd",
    "carbon_kg",
    "water_l",
    "segments",
    "resumes",
)


#: Token figures of a placement (`check_token_claims`).
_TOKEN_FIELDS = (
    "ttft_ms",
    "prompt_tokens_per_s",
    "output_tokens_per_s",
    "usd_per_1k_prompt_tokens",
    "usd_per_1k_output_tokens",
    "usd_per_1k_tokens",
)


def add_tokens(kpis: Kpis, tok: _Tokens | None, cost: float, share_of_hours: float) -> None:
    """Adds a token-served placement to the plan's token sums: its tokens/s x the share
    of the plan's hours it serves, and its cost's prefill and decode parts."""
    if tok is None:
        return
    k = kpis.tokens
    for name, value in (
        ("prompt", tok.prompt_tokens_per_s * share_of_hours),
        ("output", tok.output_tokens_per_s * share_of_hours),
        ("cost_prompt", cost * tok.prefill_share),
        ("cost_output", cost * (1.0 - tok.prefill_share)),
    ):
        k[name] = k.get(name, 0.0) + value


def _static_value(name: str) -> Any:
    return 0 if name == "part" else None


# -- token-served services (docs/serving.md), re-derived here --------------------------
_MEM_FRACTION = 0.9  # the serving engine's share of GPU memory (docs/serving.md)


@dataclass
class _TokenNeed:
    fits: bool  # one p95 sequence fits beside the weights
    base: int  # replicas the tokens (at the burst rate), the rps figure and the KV cache need
    replicas: int  # the fewest that also meet the TTFT SLO; 0: none does


def _token_replicas(t, sv, mem_gb: float, share: float, rtt: float) -> _TokenNeed:
    """Replicas of one copy: tokens, memory, then the TTFT SLO (a bisection on n)."""
    lam = t.burst_factor * share
    p_mean, o_mean = t.prompt_tokens.mean_tokens, t.output_tokens.mean_tokens
    seq = (t.prompt_tokens.p95_tokens + t.output_tokens.p95_tokens) * t.kv_cache_bytes_per_token
    free = sv.gpus_per_replica * mem_gb * 1e9 * _MEM_FRACTION - t.weights_gb * 1e9
    busy_s = p_mean / sv.prefill_tokens_per_s + o_mean / sv.decode_tokens_per_s
    live_s = p_mean / sv.prefill_tokens_per_s + o_mean / (sv.decode_tokens_per_s / sv.decode_batch)
    if free < seq:
        return _TokenNeed(False, 1, 0)
    base = max(
        1,
        math.ceil(share / sv.rps_per_replica - 1e-9),
        math.ceil(lam * busy_s - 1e-9),
        math.ceil(lam * live_s * seq / free - 1e-9),
    )
    slo = t.ttft_slo_ms
    if base > 1 << 24:  # beyond any pool: the TTFT search's own limit
        return _TokenNeed(True, base, 0)
    if _ttft_ms(t, sv, share, rtt, base) <= slo:
        return _TokenNeed(True, base, base)
    if rtt + 1000.0 * t.prompt_tokens.p95_tokens / sv.prefill_tokens_per_s >= slo:
        return _TokenNeed(True, base, 0)
    lo, hi = base, base + 1
    while _ttft_ms(t, sv, share, rtt, hi) > slo:
        lo, hi = hi, 2 * hi
        if hi > 1 << 24:
            return _TokenNeed(True, base, 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _ttft_ms(t, sv, share, rtt, mid) <= slo:
            hi = mid
        else:
            lo = mid
    return _TokenNeed(True, base, hi)


def _ttft_ms(t, sv, share: float, rtt: float, n: int) -> float:
    """RTT + M/M/n prefill queueing wait + p95 prefill with n replicas at the burst rate,
    ms; decode takes its share of each replica's time and prefill runs in the rest."""
    lam = t.burst_factor * share
    decode_busy = lam * t.output_tokens.mean_tokens / sv.decode_tokens_per_s / n
    if decode_busy >= 1.0:
        return math.inf
    slow = 1.0 / (1.0 - decode_busy)
    prefill_s = t.prompt_tokens.mean_tokens / sv.prefill_tokens_per_s * slow
    offered = lam * prefill_s
    if offered >= n:
        return math.inf
    # Erlang B by its recursion, then Erlang C = B / (1 - (offered / n) (1 - B))
    blocking = 1.0
    for k in range(1, n + 1):
        blocking = offered * blocking / (k + offered * blocking)
    waits = blocking / (1.0 - offered / n * (1.0 - blocking))
    wait_s = waits * prefill_s / (n - offered)
    return rtt + 1000.0 * (wait_s + t.prompt_tokens.p95_tokens / sv.prefill_tokens_per_s * slow)
