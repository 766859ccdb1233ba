"""verify_time: the independent check of a timed plan (a scenario with a horizon).

`placer.plan.verify` hands a scenario with a `horizon` here. The same principle holds:
every rule and figure is re-derived from the pydantic Scenario in float64 (docs/time.md),
never read from the compiled Problem, and reported as a `Violation` with verify's kinds,
tolerances (`_REL`, `_ABS`) and message format. What time adds:

- Units: a training run is one unit; a service one per (region, period t with demand,
  share m < split, copy c), named `w/region@t[.m][#c]`. Demand in t: the region's list
  value, else its number x the demand profile's factor of the hour t starts in (in the
  horizon start's offset), else the number. Unplaced value, USD per hour of the horizon:
  training value x reference hours / H; a service value x (region's share of all
  regions' demand in t) / copies / split x period hours / H.
- When: a run starts in a period (`start_period`) no earlier than its earliest start
  ("earliest_start"), holds n = ceil(hours / period hours) periods inside the horizon
  ("horizon"), and ends (start + hours) by its deadline, deadline_hours and the horizon's
  end ("deadline"); a service unit runs in its own period, one period. `start` and `end`
  are the horizon's start + start_period x period hours, + the run's hours.
- Money: hours x GPUs x USD/GPU-h + sum over run periods of (hours run in it x mean kW x
  PUE x USD/kWh in it) + dataset egress; carbon likewise with gCO2e/kWh; water mean kW x
  WUE x hours. `_per_h` figures are these over the horizon's hours H.
- Capacities per period, after headroom: pool GPUs (0 before the pool's available_from),
  site IT, facility (the grid cap, lowered in each period a grid event's window overlaps:
  from the grid cap, or IT capacity x PUE without one; an event priced per kWh does not
  lower it: the draw above its cap is paid, in the site's, the plan's and the horizon's
  cost, and checked by `placer.plan.verify_events`), heat kW; every kW capacity is 0
  before its power's available_from. A run charges every period it touches, the partial
  last one whole, at its full rate. Water per calendar day (`Horizon.period_days`, at
  the start's UTC offset): the litres of the day's periods (L/h x period h) against
  the day's cap (its smallest value over them); where periods do not tile days, each
  period's L/h against the day's cap / 24. Kinds as verify's ("gpus", "it_power",
  "facility_power", "cooling", "water"); messages name the period (the day for water).
- Spread: copies of one (workload, region, period, share) on distinct sites or domains.
- Preempted runs (a training placement with `segments`): `placer.plan.verify_preempt`;
  each charges the periods of its segments, whole, in its segment's pool (a run that
  migrates); the moves' USD are in the plan's and the horizon's cost, in no site's.
- Start-ups: a service with startup_usd_per_replica pays for the replicas it adds in a
  pool from one period to the next (`placer.plan.verify_startup`); the USD are in the
  cost, the budget, the objective and the horizon's totals, not in any site's cost.
- Stated figures: each placement's (as verify's, plus period, part, start_period,
  periods, start, end, cost_usd, carbon_kg, water_l), totals, `horizon` (totals over the
  horizon), `sites` (peak use over the periods; capacity = the largest finite value of
  any period, null if none) and `site_periods` (each period's use and capacities).

Start and end are compared as instants, in hours from the horizon's start, within the
figure tolerance.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from placer.model.horizon import parse_instant, per_period
from placer.model.scenario import Scenario
from placer.model.site import Pool, Site
from placer.model.workload import Inference, Training
from placer.plan.plan import Placement, Plan, UnitRef
from placer.plan.verify_events import OverLimitCheck, event_caps
from placer.plan.verify_figures import latency_violation
from placer.plan.verify_period_caps import PeriodCapCheck
from placer.plan.verify_preempt import preempted_run
from placer.plan.verify_startup import StartupTally
from placer.plan.verify_static import (
    _REL,
    Kpis,
    Verifier,
    Violation,
    _compare,
    _misstated,
    _Tokens,
    _tolerance,
    add_tokens,
)

#: (workload, region, copy, period, part) of one unit of a timed scenario.
TKey = tuple[str, str | None, int, int | None, int]
#: Slack of a period boundary, h, and of the ceilings of counts (replicas, periods).
_EPS = 1e-9
_IDENTITY = ("workload", "region", "copy_index", "period", "part")
_SITE_CAPS = ("it_power", "facility_power", "cooling", "water")


@dataclass
class _Run:
    """What one placement needs over time, recomputed from the scenario."""

    gpus: int
    replicas: int
    it_kw: float
    facility_kw: float
    water_l_per_h: float  # while it runs (what a period's water row carries)
    run_h: float  # hours it runs
    first: int  # first period it holds
    periods: int  # periods it holds
    hours: float | None = None  # training: run hours on this pool
    latency_ms: float | None = None
    cost_usd: float = 0.0
    carbon_kg: float = 0.0
    water_l: float = 0.0
    serving: _Tokens | None = None  # a token-served placement's figures
    periods_held: list[int] | None = None  # a preempted run: the periods it runs in
    end_h: float | None = None  # a preempted run: when its last segment ends, h
    migration_cost_usd: float = 0.0  # a run that migrates: what its moves cost, USD
    move_periods: list[int] = field(default_factory=list)  # the periods it moves in
    egress_usd: float = 0.0  # a preempted run: its dataset's egress, USD (in cost_usd)
    parts: list | None = None  # a preempted run: (site, pool, _Run) of each segment
    # (period, USD, kg) of what it spends and emits in each period it runs (caps per
    # period: verify_period_caps)
    spend_t: list[tuple[int, float, float]] = field(default_factory=list)


@dataclass
class _Ledger:
    """Use per period: GPUs per pool, kW and L/h per site; money per site."""

    periods: int
    gpus: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    it_kw: dict[str, list[float]] = field(default_factory=dict)
    facility_kw: dict[str, list[float]] = field(default_factory=dict)
    water_l_per_h: dict[str, list[float]] = field(default_factory=dict)
    cost_usd: dict[str, float] = field(default_factory=dict)
    carbon_kg: dict[str, float] = field(default_factory=dict)

    def add(self, site: str, pool: str, run: _Run) -> None:
        if run.parts:  # a preempted run: each segment in its own pool
            for sid, key, part in run.parts:
                self.add(sid, key, part)
            return
        n_t = self.periods
        gpus = self.gpus.setdefault((site, pool), [0] * n_t)
        rows = [
            (self.it_kw, run.it_kw),
            (self.facility_kw, run.facility_kw),
            (self.water_l_per_h, run.water_l_per_h),
        ]
        held = run.periods_held
        if held is None:
            held = range(max(0, run.first), min(n_t, run.first + run.periods))
        for t in held:
            gpus[t] += run.gpus
            for table, amount in rows:
                table.setdefault(site, [0.0] * n_t)[t] += amount
        self.cost_usd[site] = self.cost_usd.get(site, 0.0) + run.cost_usd
        self.carbon_kg[site] = self.carbon_kg.get(site, 0.0) + run.carbon_kg

    def site_gpus(self, site: Site) -> list[int]:
        out = [0] * self.periods
        for q in site.pools:
            for t, n in enumerate(self.gpus.get((site.id, q.key), [])):
                out[t] += n
        return out

    def of(self, table: dict[str, list[float]], sid: str) -> list[float]:
        return table.get(sid, [0.0] * self.periods)


class TimedVerifier(Verifier):
    """`Verifier` for a scenario with a horizon; `check` is pure."""

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(scenario)
        horizon = scenario.horizon
        if horizon is None:
            raise ValueError("TimedVerifier needs a scenario with a horizon")
        self.n_t, self.ph = horizon.periods, float(horizon.period_hours)
        self.span_h = self.n_t * self.ph
        self.t0 = parse_instant(horizon.start)
        self.demand = {
            (w.id, r): self._demand(w, r)
            for w in scenario.workloads
            if isinstance(w, Inference)
            for r in w.demand_rps
        }
        self.units = self._units()
        self.names = {self._unit_name(k): k for k in self.units}
        n_t = self.n_t
        self.price = {s.id: per_period(s.power.price_usd_per_kwh, n_t, 0.0) for s in self.sc.sites}
        self.grid = {s.id: per_period(s.power.carbon_g_per_kwh, n_t, 0.0) for s in self.sc.sites}
        self.caps = {s.id: self._site_caps(s) for s in self.sc.sites}
        self.days = horizon.period_days()
        self.over = OverLimitCheck(self.sc.sites, self._offset_h, n_t, self.ph)
        self.pool_gpus = {(s.id, q.key): self._pool_gpus(q) for s in self.sc.sites for q in s.pools}

    # -- units -------------------------------------------------------------------------
    def _offset_h(self, instant: str) -> float:
        """Hours from the horizon's start to an instant."""
        return (parse_instant(instant) - self.t0).total_seconds() / 3600.0

    def _begins(self, t: int) -> dt.datetime:
        return self.t0 + dt.timedelta(hours=t * self.ph)

    def _demand(self, w: Inference, region: str) -> list[float]:
        """Requests/s of the region in each period."""
        value = w.demand_rps[region]
        if isinstance(value, list):
            return [float(v) for v in value]
        if w.demand_profile is None:
            return [float(value)] * self.n_t
        # the hour of the day each period starts, in the horizon start's offset
        return [float(value) * w.demand_profile[self._begins(t).hour] for t in range(self.n_t)]

    def _units(self) -> dict[TKey, bool]:
        """Every unit of the scenario -> must_place."""
        out: dict[TKey, bool] = {}
        for w in self.sc.workloads:
            if isinstance(w, Training):
                out[(w.id, None, 0, None, 0)] = w.must_place
                continue
            for region in w.demand_rps:
                for t, rps in enumerate(self.demand[(w.id, region)]):
                    if rps > 0:
                        for m in range(w.split):
                            for c in range(w.redundancy.copies):
                                out[(w.id, region, c, t, m)] = w.must_place
        return out

    def _unit_name(self, key: TKey) -> str:
        wid, region, copy, t, part = key
        w = self.workloads[wid]
        if not isinstance(w, Inference):
            return wid
        name = f"{wid}/{region}@{t}" + (f".{part}" if w.split > 1 else "")
        return name + (f"#{copy}" if w.redundancy.copies > 1 else "")

    def _value(self, key: TKey) -> float:
        """Value lost when the unit is left out, USD per hour of the horizon."""
        wid, region, _, t, _ = key
        w = self.workloads[wid]
        if w.value_usd_per_h is None:
            return 0.0
        if isinstance(w, Training):
            return w.value_usd_per_h * w.hours / self.span_h
        assert t is not None and region is not None
        total = sum(self.demand[(wid, r)][t] for r in w.demand_rps)
        share = self.demand[(wid, region)][t] / total / w.redundancy.copies / w.split
        return w.value_usd_per_h * share * self.ph / self.span_h

    # -- the plan ----------------------------------------------------------------------
    def check(self, plan: Plan) -> tuple[list[Violation], Kpis]:
        """(every violation, the KPIs recomputed from the scenario) of `plan`."""
        out: list[Violation] = []
        kpis = Kpis()
        ledger = _Ledger(self.n_t)
        seen: set[TKey] = set()
        spread: dict[tuple, list[str]] = {}
        totals = {"cost_usd": 0.0, "carbon_kg": 0.0, "water_l": 0.0, "migration_cost_usd": 0.0}
        starts = StartupTally(self.sc)
        per_period_caps = PeriodCapCheck(self.sc)
        for i, pl in enumerate(plan.placements):
            key: TKey = (pl.workload, pl.region, pl.copy_index, pl.period, pl.part)
            self._check_name(f"placements[{i}]", pl, key, out)
            if key not in self.units:
                out.append(Violation("unknown_unit", pl.unit, "not a unit of this scenario"))
                continue
            if key in seen:
                out.append(Violation("duplicate", pl.unit, "placed more than once"))
                continue
            seen.add(key)
            run = self._check_placement(f"placements[{i}]", pl, out)
            if run is None:
                continue
            assert isinstance(run, _Run)
            ledger.add(pl.site, pl.pool, run)
            starts.add(pl.workload, pl.site, pl.pool, pl.period, run.replicas)
            for t, usd, kg in run.spend_t:
                per_period_caps.add(t, usd, kg)
            for name in totals:
                totals[name] += getattr(run, name)
            kpis.gpus += run.gpus
            if pl.region is not None:
                spread.setdefault((pl.workload, pl.region, pl.period, pl.part), []).append(pl.site)
            self._check_run(f"placements[{i}]", pl, run, out)
            self.check_token_claims(f"placements[{i}]", pl, run.serving, run.cost_usd, self.ph, out)
            add_tokens(kpis, run.serving, run.cost_usd, self.ph / self.span_h)
        self._check_left_out(plan, seen, kpis, out)
        totals["cost_usd"] += totals["migration_cost_usd"]  # moves between pools
        totals["startup_cost_usd"] = starts.check(plan, out)  # verify_startup
        totals["cost_usd"] += totals["startup_cost_usd"]
        paid = self.over.check(plan, lambda sid: ledger.of(ledger.facility_kw, sid), out)
        for sid, usd in paid.items():  # over priced grid events' caps (verify_events)
            ledger.cost_usd[sid] = ledger.cost_usd.get(sid, 0.0) + usd
        totals["over_limit_usd"] = sum(paid.values())
        self._period_extras(starts, ledger, per_period_caps)
        per_period_caps.check(plan, out)  # caps per period (verify_period_caps)
        totals["cost_usd"] += totals["over_limit_usd"]
        kpis.cost_usd_per_h = totals["cost_usd"] / self.span_h
        kpis.carbon_kg_per_h = totals["carbon_kg"] / self.span_h
        kpis.water_l_per_h = totals["water_l"] / self.span_h
        self._check_capacities(ledger, out)
        self._check_spread(spread, out)
        self._check_caps(kpis, out)
        self._check_sites(plan, ledger, out)
        self._check_site_periods(plan, ledger, out)
        self._check_totals(plan, kpis, out)
        self.check_token_totals(plan, kpis, self.span_h, out)
        self._check_horizon(plan, totals, kpis, out)
        self._check_headline(plan, kpis, out)
        kpis.site_it_kw = {s: max(ledger.of(ledger.it_kw, s)) for s in self.sites}
        return out, kpis

    def _period_extras(self, starts: StartupTally, ledger: _Ledger, caps: PeriodCapCheck) -> None:
        """Adds to `caps` the USD of each period that no placement holds: the replicas
        started in it and the excess paid over priced grid events' caps in it."""
        for key in starts.replicas:
            for t, started in enumerate(starts.started_t(key)):
                caps.add(t, started * starts.price[key[0]])
        for sid in self.sites:
            figures = self.over.figures(sid, ledger.of(ledger.facility_kw, sid))
            if figures is not None:
                for t, usd in enumerate(figures[2]):
                    caps.add(t, usd)

    def _check_left_out(self, plan: Plan, seen: set[TKey], kpis: Kpis, out) -> None:
        """Unplaced and unplaceable units; every unit placed or unplaced, must-place
        ones placed."""
        placed = set(seen)
        for i, up in enumerate(plan.unplaced):
            key: TKey = (up.workload, up.region, up.copy_index, up.period, up.part)
            self._check_name(f"unplaced[{i}]", up, key, out)
            if key in seen:
                again = "both placed and unplaced" if key in placed else "unplaced twice"
                out.append(Violation("duplicate", up.unit, again))
                continue
            if key not in self.units:
                out.append(Violation("unknown_unit", up.unit, "not a unit of this scenario"))
                continue
            seen.add(key)
            kpis.unplaced_value_usd_per_h += self._value(key)
            self._check_refused(f"unplaced[{i}]", up, key, out)
        for key, must in self.units.items():
            if key not in seen:
                out.append(
                    Violation("missing", self._unit_name(key), "neither placed nor unplaced")
                )
            elif must and key not in placed:
                out.append(
                    Violation("must_place", self._unit_name(key), "must-place unit not placed")
                )
        if plan.infeasibility is None:
            return
        for i, up in enumerate(plan.infeasibility.unplaceable):
            key = (up.workload, up.region, up.copy_index, up.period, up.part)
            path = f"infeasibility.unplaceable[{i}]"
            self._check_name(path, up, key, out)
            if key in self.units:
                self._check_refused(path, up, key, out)
            else:
                out.append(Violation("unknown_unit", up.unit, f"{path}: not a unit"))

    def _check_name(self, path: str, ref: UnitRef, key: TKey, out: list[Violation]) -> None:
        """The unit's name agrees with its (workload, region, copy, period, part)."""
        named = self.names.get(ref.unit)
        if named == key:
            return
        if named is None:
            if key in self.units:  # a known unit under a wrong name
                out.append(_misstated(ref.unit, f"{path}.unit", ref.unit, self._unit_name(key)))
            return  # else: neither is a unit; the caller reports unknown_unit
        for name, said, actual in zip(_IDENTITY, key, named, strict=True):
            if said != actual:
                out.append(_misstated(ref.unit, f"{path}.{name}", said, actual))

    def _check_refused(self, path: str, up, key: TKey, out: list[Violation]) -> None:
        _compare(out, up.unit, path, "must_place", up.must_place, self.units[key])
        _compare(out, up.unit, path, "value_usd_per_h", up.value_usd_per_h, self._value(key))

    # -- one placement: the pair rules are verify's; what it needs over time here -------
    def _training_need(self, w: Training, pl, site, pool, node_kw, out) -> _Run | None:
        tflops = self.catalog[pool.accelerator].bf16_tflops
        ref = self.catalog[w.accelerators[0]].bf16_tflops if w.accelerators else None
        hours = w.hours * (ref / tflops if (ref and tflops) else 1.0)
        n = max(1, math.ceil(hours / self.ph - _EPS))
        if pl.start_period is None:
            out.append(Violation("kpi", pl.unit, "start_period: a timed plan states when it runs"))
            return None
        egress = 0.0
        if w.dataset is not None and w.dataset.site != site.id:
            egress = self.sites[w.dataset.site].egress_usd_per_gb * w.dataset.size_gb
        window = self._window_first(w)
        if pl.segments is not None:  # a preempted run (verify_preempt: egress per site)
            run = preempted_run(self, w, pl, site, pool, node_kw, hours, out)
            if run is not None:
                run.hours = hours
                # whole periods, each spent in its segment's pool; the egress in the
                # window's first period; each move's USD in the period it moves in
                run.spend_t = [(window, run.egress_usd, 0.0)]
                for _, _, part in run.parts or []:
                    run.spend_t += part.spend_t
                run.spend_t += [(t, w.migration_usd or 0.0, 0.0) for t in run.move_periods]
            return run
        if pl.resumes is not None:
            out.append(Violation("preempt", pl.unit, "resumes: stated without segments"))
        if pl.moves is not None or pl.migration_usd is not None:
            out.append(Violation("migrate", pl.unit, "moves: stated without segments"))
        s0 = pl.start_period
        self._check_window(w, pl.unit, s0, n, hours, out)
        fractions = [1.0] * (n - 1) + [(hours - (n - 1) * self.ph) / self.ph]
        run = self._run(w, site, pool, node_kw, w.gpus, w.utilization, s0, fractions, hours)
        run.cost_usd += egress
        run.hours = hours
        run.spend_t.append((window, egress, 0.0))  # egress: the window's first period
        return run

    def _window_first(self, w: Training) -> int:
        """The first period of a run's window: its earliest start rounded up to a period
        boundary (0 without one); its dataset's egress counts there."""
        if w.earliest_start is None:
            return 0
        return max(0, math.ceil(self._offset_h(w.earliest_start) / self.ph - _EPS))

    def _check_window(self, w: Training, unit: str, s0: int, n: int, hours: float, out) -> None:
        first = 0
        if w.earliest_start is not None:
            first = max(0, math.ceil(self._offset_h(w.earliest_start) / self.ph - _EPS))
        if s0 < first:
            out.append(
                Violation(
                    "earliest_start",
                    unit,
                    f"starts in period {s0}, before {w.earliest_start} (period {first})",
                    first - s0,
                )
            )
        outside = s0 < 0 or s0 + n > self.n_t
        if outside:
            out.append(
                Violation(
                    "horizon",
                    unit,
                    f"runs in periods {s0}..{s0 + n - 1}, outside 0..{self.n_t - 1}",
                    max(-s0, s0 + n - self.n_t),
                )
            )
        limits = [(self.span_h, "the horizon's end")]
        if w.deadline is not None:
            limits.append((self._offset_h(w.deadline), w.deadline))
        if w.deadline_hours is not None:
            limits.append((w.deadline_hours, f"{w.deadline_hours:g} h after the start"))
        limit, what = min(limits, key=lambda lw: lw[0])
        end_h = s0 * self.ph + hours
        late = end_h > limit + _tolerance(end_h, limit)
        if late and not (outside and limit >= self.span_h):
            out.append(
                Violation(
                    "deadline",
                    unit,
                    f"ends {end_h:g} h after the horizon's start, after {what} ({limit:g} h)",
                    end_h - limit,
                )
            )

    def _inference_need(self, w: Inference, pl, site, pool, node_kw, out) -> _Run:
        t = pl.period
        assert t is not None  # the caller placed only units of the scenario
        serving = w.serving[pool.accelerator]
        k, split = w.redundancy.copies, w.split
        demand = self.demand[(w.id, pl.region)][t]
        share = demand / (k - w.redundancy.failures) / split
        rps = serving.rps_per_replica
        assert rps is not None  # validation fills it for token-served workloads
        replicas = max(1, math.ceil(share / rps - _EPS))
        rtt = self._rtt(site, pl.region)
        tokens = None
        if w.tokens is not None:
            normal = demand / k / split
            replicas, tokens = self.check_tokens(w, pl, pool, share, normal, rtt, out)
        util = min(1.0, (demand / k / split) / (replicas * rps))
        if found := latency_violation(pl.unit, pl.region, rtt, w.latency_slo_ms):
            out.append(found)
        gpus = replicas * serving.gpus_per_replica
        run = self._run(w, site, pool, node_kw, gpus, util, t, [1.0], self.ph)
        run.latency_ms = rtt
        run.replicas = replicas
        run.serving = tokens
        return run

    def _run(self, w, site: Site, pool: Pool, node_kw, gpus, util, s0, fractions, run_h) -> _Run:
        """Power, money, carbon and water of `gpus` at load `util` from period s0 for
        len(fractions) periods (the hours run in each as a fraction of a period)."""
        acc = self.catalog[pool.accelerator]
        it_kw = gpus * node_kw / pool.gpus_per_node
        mean_kw = it_kw * (acc.idle_power_fraction + (1.0 - acc.idle_power_fraction) * util)
        price, grid = self.price[site.id], self.grid[site.id]
        energy_usd = carbon_g = 0.0
        gpu_usd_h = gpus * self._price(w, pool)
        spend_t = []
        for i, f in enumerate(fractions):
            t = s0 + i
            if 0 <= t < self.n_t:  # a run outside the horizon is reported; price its inside
                kwh = f * self.ph * mean_kw * site.power.pue
                energy_usd += kwh * price[t]
                carbon_g += kwh * grid[t]
                usd = f * self.ph * gpu_usd_h + kwh * price[t]
                spend_t.append((t, usd, kwh * grid[t] / 1000.0))
        return _Run(
            gpus=gpus,
            replicas=0,
            it_kw=it_kw,
            facility_kw=it_kw * site.power.pue,
            water_l_per_h=mean_kw * site.cooling.wue_l_per_kwh,
            run_h=run_h,
            first=s0,
            periods=len(fractions),
            cost_usd=run_h * gpus * self._price(w, pool) + energy_usd,
            carbon_kg=carbon_g / 1000.0,
            water_l=mean_kw * site.cooling.wue_l_per_kwh * run_h,
            spend_t=spend_t,
        )

    def _check_run(self, path: str, pl: Placement, run: _Run, out: list[Violation]) -> None:
        """Every figure and time one placement states against what the scenario gives."""
        if pl.kind == "inference" and (pl.segments is not None or pl.resumes is not None):
            out.append(Violation("preempt", pl.unit, "segments: only a training run pauses"))
        _compare(out, pl.unit, path, "gpus", pl.gpus, run.gpus, kind="gpus")
        _compare(out, pl.unit, path, "replicas", pl.replicas, run.replicas, kind="replicas")
        _compare(out, pl.unit, path, "kind", pl.kind, self.workloads[pl.workload].kind)
        _compare(out, pl.unit, path, "start_period", pl.start_period, run.first)
        _compare(out, pl.unit, path, "periods", pl.periods, run.periods)
        for name, actual in (
            ("latency_ms", run.latency_ms),
            ("hours", run.hours),
            ("it_kw", run.it_kw),
            ("facility_kw", run.facility_kw),
            ("cost_usd", run.cost_usd),
            ("carbon_kg", run.carbon_kg),
            ("water_l", run.water_l),
            ("cost_usd_per_h", run.cost_usd / self.span_h),
            ("carbon_kg_per_h", run.carbon_kg / self.span_h),
            ("water_l_per_h", run.water_l / self.span_h),
        ):
            _compare(out, pl.unit, path, name, getattr(pl, name), actual)
        begins = self._begins(run.first)
        ends = begins + dt.timedelta(hours=run.run_h)
        if run.end_h is not None:  # a preempted run: its last segment's end
            ends = self.t0 + dt.timedelta(hours=run.end_h)
        for name, when in (("start", begins), ("end", ends)):
            self._compare_instant(out, pl.unit, f"{path}.{name}", getattr(pl, name), when)

    def _compare_instant(self, out, subject: str, path: str, said: str | None, actual) -> None:
        """Two instants agree within the figure tolerance of their hours from the start."""
        try:
            said_h = self._offset_h(said) if said is not None else None
        except ValueError:
            said_h = None
        actual_h = (actual - self.t0).total_seconds() / 3600.0
        if said_h is None or abs(said_h - actual_h) > _tolerance(said_h, actual_h):
            out.append(_misstated(subject, path, said, actual.isoformat()))

    # -- capacities per period -------------------------------------------------------
    def _site_caps(self, site: Site) -> dict[str, list[float]]:
        """A site's capacities in each period before headroom (inf: none): IT, facility
        (after grid events), heat kW, water L/h; all 0 before its power arrives."""
        inf, n_t, ph = math.inf, self.n_t, self.ph
        it = per_period(site.power.it_capacity_kw, n_t, inf)
        grid = per_period(site.power.grid_cap_kw, n_t, inf)
        heat_kw = site.cooling.heat_rejection_kw
        facility = list(grid)
        for event in site.grid_events:
            if event.over_limit_usd_per_kwh is not None:
                continue  # a priced event's cap is soft: verify_events
            for t, cut in event_caps(site, event, self._offset_h(event.start), ph, it, grid):
                facility[t] = min(facility[t], cut)
        caps = {
            "it_power": it,
            "facility_power": facility,
            "cooling": [float(heat_kw) if heat_kw else v for v in it],
            "water": [v / 24.0 for v in per_period(site.cooling.water_cap_l_per_day, n_t, inf)],
        }
        arrives_h = self._arrives_h(site.power.available_from)
        for t in range(n_t):
            if t * ph < arrives_h - _EPS:
                for values in caps.values():
                    values[t] = 0.0
        return caps

    def _arrives_h(self, instant: str | None) -> float:
        """Hours from the start to a capacity's arrival (-inf: always there)."""
        return -math.inf if instant is None else self._offset_h(instant)

    def _before(self, instant: str | None, t: int) -> bool:
        """Period t starts before `instant` (a capacity's arrival; None: always there)."""
        return t * self.ph < self._arrives_h(instant) - _EPS

    def _pool_gpus(self, pool: Pool) -> list[int]:
        """A pool's GPUs in each period (0 before it arrives)."""
        gpus = [round(v) for v in per_period(pool.gpus, self.n_t, 0.0)]
        arrives_h = self._arrives_h(pool.available_from)
        return [0 if t * self.ph < arrives_h - _EPS else g for t, g in enumerate(gpus)]

    def _check_capacities(self, ledger: _Ledger, out) -> None:
        mu = self.sc.objective.max_utilization
        for (sid, key), used_t in ledger.gpus.items():
            pool = next(q for q in self.sites[sid].pools if q.key == key)
            for t, (used, gpus) in enumerate(zip(used_t, self.pool_gpus[(sid, key)], strict=True)):
                cap = math.floor(gpus * mu + 1e-9)
                if used > cap:
                    late = self._before(pool.available_from, t)
                    why = f" (the pool is available from {pool.available_from})" if late else ""
                    out.append(
                        Violation(
                            "gpus",
                            f"{sid}/{key}",
                            f"period {t}: {used} GPUs > {cap}{why}",
                            used - cap,
                        )
                    )
        for sid in self.sites:
            use = {
                "it_power": ledger.of(ledger.it_kw, sid),
                "facility_power": ledger.of(ledger.facility_kw, sid),
                "cooling": ledger.of(ledger.it_kw, sid),  # the heat to reject is the IT power
                "water": ledger.of(ledger.water_l_per_h, sid),
            }
            late = self.sites[sid].power.available_from
            if self.days is not None:
                self._check_water_days(sid, use["water"], out)
            for kind in _SITE_CAPS:
                if kind == "water" and self.days is not None:
                    continue  # per day, above
                unit = "L/h" if kind == "water" else "kW"
                for t, (used, cap) in enumerate(zip(use[kind], self.caps[sid][kind], strict=True)):
                    if math.isfinite(cap) and used > cap * mu * (1 + _REL) + 1e-9:
                        why = f" (power from {late})" if self._before(late, t) else ""
                        message = f"period {t}: {used:.2f} {unit} > {cap * mu:.2f} {unit}{why}"
                        out.append(Violation(kind, sid, message, used - cap * mu))

    def _check_water_days(self, sid: str, use_l_per_h: list[float], out) -> None:
        """A site's litres in each calendar day against the day's cap, after headroom."""
        assert self.days is not None
        mu = self.sc.objective.max_utilization
        cap_t = per_period(self.sites[sid].cooling.water_cap_l_per_day, self.n_t, math.inf)
        by_day: dict[int, list[int]] = {}
        for t, day in enumerate(self.days):
            by_day.setdefault(day, []).append(t)
        for day, periods in by_day.items():
            cap = min(cap_t[t] for t in periods) * mu
            used = sum(use_l_per_h[t] for t in periods) * self.ph
            if math.isfinite(cap) and used > cap * (1 + _REL) + 1e-9:
                span = f"periods {periods[0]}-{periods[-1]}"
                message = f"day {day} ({span}): {used:,.1f} L > {cap:,.1f} L"
                out.append(Violation("water", sid, message, used - cap))

    def _check_spread(self, spread: dict, out: list[Violation]) -> None:
        for (wid, region, t, part), site_ids in spread.items():
            w = self.workloads[wid]
            if not isinstance(w, Inference) or w.redundancy.copies < 2:
                continue
            keys = [
                self.sites[s].domain if w.redundancy.spread == "failure_domain" else s
                for s in site_ids
            ]
            if len(set(keys)) < len(keys):
                name = f"{wid}/{region}@{t}" + (f".{part}" if w.split > 1 else "")
                out.append(
                    Violation(
                        "redundancy", name, f"copies share a {w.redundancy.spread}: {sorted(keys)}"
                    )
                )

    # -- stated figures of the whole plan --------------------------------------------
    def _check_sites(self, plan: Plan, ledger: _Ledger, out) -> None:
        """Each stated site row: peak use over the periods; capacities are the nameplate
        (the field, its largest value when it varies; events and dates not applied)."""
        for path, su, site in self._site_rows(plan.sites, "sites", out):
            sid = su.site
            stated = {
                "tier": site.tier,
                "gpus_used": max(ledger.site_gpus(site)),
                "gpus_total": max(self._site_gpus_total(site)),
                "it_kw": max(ledger.of(ledger.it_kw, sid)),
                "it_capacity_kw": _nameplate(site.power.it_capacity_kw),
                "facility_kw": max(ledger.of(ledger.facility_kw, sid)),
                "grid_cap_kw": _nameplate(site.power.grid_cap_kw),
                "heat_kw": max(ledger.of(ledger.it_kw, sid)),
                "heat_rejection_kw": site.cooling.heat_rejection_kw
                or _nameplate(site.power.it_capacity_kw),
                "water_l_per_h": self._peak_water(ledger.of(ledger.water_l_per_h, sid)),
                "water_cap_l_per_h": None
                if site.cooling.water_cap_l_per_day is None
                else _nameplate(site.cooling.water_cap_l_per_day) / 24.0,
                "cost_usd_per_h": ledger.cost_usd.get(sid, 0.0) / self.span_h,
                "carbon_kg_per_h": ledger.carbon_kg.get(sid, 0.0) / self.span_h,
            }
            for name, actual in stated.items():
                _compare(out, sid, path, name, getattr(su, name), actual)

    def _peak_water(self, use_l_per_h: list[float]) -> float:
        """The largest day's litres / 24 (periods tiling days), else the largest L/h."""
        if self.days is None:
            return max(use_l_per_h)
        litres: dict[int, float] = {}
        for day, used in zip(self.days, use_l_per_h, strict=True):
            litres[day] = litres.get(day, 0.0) + used * self.ph
        return max(litres.values()) / 24.0

    def _site_gpus_total(self, site: Site) -> list[int]:
        out = [0] * self.n_t
        for pool in site.pools:
            for t, n in enumerate(self.pool_gpus[(site.id, pool.key)]):
                out[t] += n
        return out

    def _check_site_periods(self, plan: Plan, ledger: _Ledger, out) -> None:
        """Each stated site's use and capacities in every period."""
        for path, sp, site in self._site_rows(plan.site_periods, "site_periods", out):
            sid, c, pue = sp.site, self.caps[sp.site], site.power.pue
            stated: dict[str, list[Any]] = {
                "gpus_used": ledger.site_gpus(site),
                "gpus_total": self._site_gpus_total(site),
                "it_kw": ledger.of(ledger.it_kw, sid),
                "it_capacity_kw": [_finite(v) for v in c["it_power"]],
                "facility_kw": ledger.of(ledger.facility_kw, sid),
                "facility_cap_kw": [
                    _finite(min(f, it * pue))
                    for f, it in zip(c["facility_power"], c["it_power"], strict=True)
                ],
                "heat_kw": ledger.of(ledger.it_kw, sid),
                "water_l_per_h": ledger.of(ledger.water_l_per_h, sid),
                "price_usd_per_kwh": self.price[sid],
                "carbon_g_per_kwh": self.grid[sid],
            }
            for name, actual in stated.items():
                said = getattr(sp, name)
                if len(said) != len(actual):
                    out.append(
                        Violation(
                            "kpi",
                            sid,
                            f"{path}.{name}: plan says {len(said)} values, the scenario "
                            f"gives {len(actual)} periods",
                        )
                    )
                    continue
                for t, (s, a) in enumerate(zip(said, actual, strict=True)):
                    _compare(out, sid, path, f"{name}[{t}]", s, a)

    def _check_horizon(self, plan: Plan, totals: dict[str, float], kpis: Kpis, out) -> None:
        """The horizon block: its periods, and the totals over them."""
        h = plan.horizon
        if h is None:
            return
        self._compare_instant(out, "horizon", "horizon.start", h.start, self.t0)
        for name, actual in (
            ("period_hours", self.ph),
            ("periods", self.n_t),
            ("hours", self.span_h),
            *totals.items(),
            ("unplaced_value_usd", kpis.unplaced_value_usd_per_h * self.span_h),
            ("objective_usd", kpis.objective_usd_per_h * self.span_h),
        ):
            _compare(out, "horizon", "horizon", name, getattr(h, name), actual)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _nameplate(value: float | list[float] | None) -> float | None:
    """A site row's stated capacity: the field, its largest value when it varies."""
    if value is None:
        return None
    return float(max(value)) if isinstance(value, list) else float(value)
