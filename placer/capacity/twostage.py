"""Two-stage capacity planning under uncertain grid dates and demand (docs/capacity.md).

`planning.scenarios` lists possible futures s with probabilities p[s]: late grid
connections or deliveries (`delay_months`: option k arrives D[s,k] months late) and demand
multipliers. One MILP holds one block of `placer.capacity.model` per scenario (its own
placement x_s, later orders, installed capacity and commitments in use) and minimises

    sum_s p[s] cost_s(b_s, x_s)                      (expected net present cost, USD)

subject to every block's rows and the non-anticipativity of the first stage:

    b_s[k,m] = b[k,m]   for every scenario s and every order month m < decide_by,

written as one shared variable. An order placed in month m < decide_by is paid in month
m in every scenario; it arrives a(k,m) = m + L[k] + D[s,k] months in, possibly after the
horizon (paid, never used). Orders from decide_by on, and the placement of every month,
are recourse: per scenario.

decide_by: `planning.decide_by` when given (orders in months that start before it are
first stage); otherwise the first month in which two scenarios differ (a demand
multiplier differs: month 0; a delay differs: the first month the option, or the site's
grid connection, could be in place in one scenario and not in another), and month 1 at
the earliest: what is ordered now is decided now.

Beside the two-stage plan, every single-scenario plan is scored (the plan optimised for
scenario s alone, for the expected-value scenario (probability-weighted demand
multipliers and delays, rounded to whole months) and for the scenario as written): its
first-stage orders are fixed and the recourse re-solved in every scenario (one MILP, the
same blocks with those b fixed). Per plan: expected cost, regret = its expected cost -
the two-stage plan's (>= 0 up to the solver's gap), and max regret = the most, over
scenarios s, of its cost in s - the best known cost of s alone (s known in advance: the
least of its own solve and of every plan scored in s, as solves stop at a gap). The
wait-and-see cost sum_s p[s] best[s] bounds every plan's expected cost from below; EVPI
= two-stage - wait-and-see, VSS = expected-value plan - two-stage.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import numpy as np

from placer.capacity import scenarios
from placer.capacity.model import (
    CapacityModel,
    build_block,
    build_stacked_model,
    order_months,
)
from placer.capacity.solve import CapacityResult, read_result, solve_model
from placer.model.build_options import MONTH_HOURS, Planning, PlanningScenario, PowerBuild
from placer.model.horizon import parse_instant
from placer.model.scenario import Scenario
from placer.model.workload import Inference

#: Share of the two-stage time limit: the joint solve, the single-scenario plans, the
#: evaluations of their first stages.
TIME_SHARES = (0.5, 0.25, 0.25)
#: Name of the expected-value scenario and of the scenario as written.
EXPECTED = "expected-value"
AS_WRITTEN = "as-written"


@dataclass(frozen=True)
class Order:
    """Units of one option ordered in one month of the first stage.

    Attributes:
      option, kind, site: the option.   units: units ordered.
      order_month, order_date: when the order is placed (month 0 = the horizon's start).
      arrival_month: scenario name -> month the units arrive (>= months: after the
        horizon's end).
    """

    option: str
    kind: str
    site: str
    units: int
    order_month: int
    order_date: str
    arrival_month: dict[str, int]


@dataclass(frozen=True)
class Candidate:
    """One plan's first stage, scored in every scenario.

    Attributes:
      name: "two-stage", "plan for <scenario>", "expected-value plan", "as-written plan".
      status: optimal | feasible | infeasible | no_solution (of its evaluation).
      first_stage: its first-stage orders.
      expected_cost_npv_usd: sum_s p[s] cost_s, USD (None without a plan).
      cost_by_scenario: scenario -> net present cost with the recourse re-solved, USD.
      regret_usd: expected cost - the two-stage plan's, USD.
      max_regret_usd, worst_scenario: the most, over scenarios, of cost_s - best_s
        (USD), and where.
    """

    name: str
    status: str
    first_stage: list[Order]
    expected_cost_npv_usd: float | None
    cost_by_scenario: dict[str, float | None]
    regret_usd: float | None = None
    max_regret_usd: float | None = None
    worst_scenario: str | None = None


@dataclass(frozen=True)
class ScenarioOutcome:
    """One scenario under the two-stage plan.

    Attributes:
      name, probability, changes: the scenario and its changes in words.
      result: its block of the two-stage solution (cost: this scenario's own, USD).
      best_cost_npv_usd: its best known cost had it been known in advance, USD.
    """

    name: str
    probability: float
    changes: str
    result: CapacityResult
    best_cost_npv_usd: float | None


@dataclass(frozen=True)
class TwoStageResult:
    """The two-stage plan, each scenario under it, and the single-scenario plans scored.

    Attributes:
      status, message: of the joint solve.
      expected_cost_npv_usd, bound_npv_usd, gap: of the joint solve, USD.
      decide_by_month, decide_by_date, decide_by_rule: the first stage's end.
      first_stage: the orders placed before decide_by.
      scenarios: each scenario under the plan.
      candidates: the two-stage plan and every single-scenario plan, scored.
      wait_and_see_npv_usd, evpi_usd, vss_usd: see the module docstring, USD.
      wall_s: seconds in all.   variables, constraints: the joint model's size.
    """

    status: str
    message: str
    expected_cost_npv_usd: float | None
    bound_npv_usd: float | None
    gap: float | None
    decide_by_month: int
    decide_by_date: str
    decide_by_rule: str
    first_stage: list[Order] = field(default_factory=list)
    scenarios: list[ScenarioOutcome] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    wait_and_see_npv_usd: float | None = None
    evpi_usd: float | None = None
    vss_usd: float | None = None
    wall_s: float = 0.0
    variables: int = 0
    constraints: int = 0


def apply_scenario(monthly: Scenario, sc: PlanningScenario) -> tuple[Scenario, dict[int, int]]:
    """The monthly scenario in future `sc`: inference demand times its multipliers, the
    grid connection of each delayed site (power.available_from) later; and each build
    option's delay, months, by option index (an option's own entry wins over its site's,
    which delays the site's power options)."""
    n_t = monthly.horizon.periods
    workloads = []
    for w in monthly.workloads:
        f = sc.factor_of(w.id) if isinstance(w, Inference) else 1.0
        if f != 1.0:
            demand = {
                r: [v * f for v in d] if isinstance(d, list) else d * f
                for r, d in w.demand_rps.items()
            }
            w = w.model_copy(update={"demand_rps": demand})
        workloads.append(w)
    sites = []
    for site in monthly.sites:
        late = sc.delay_months.get(site.id, 0)
        if late and site.power.available_from is not None:
            at = parse_instant(site.power.available_from) + dt.timedelta(hours=MONTH_HOURS * late)
            power = site.power.model_copy(update={"available_from": at.isoformat()})
            site = site.model_copy(update={"power": power})
        sites.append(site)
    delay_k = {}
    for k, opt in enumerate(monthly.build_options):
        if opt.id in sc.delay_months:
            delay_k[k] = sc.delay_months[opt.id]
        elif isinstance(opt, PowerBuild) and opt.site in sc.delay_months:
            delay_k[k] = sc.delay_months[opt.site]
    delay_k = {k: d for k, d in delay_k.items() if d}
    assert n_t > 0
    return monthly.model_copy(update={"workloads": workloads, "sites": sites}), delay_k


def describe(sc: PlanningScenario) -> str:
    """A scenario's changes in words ("dfw-campus +12 months; demand x1.3")."""
    parts = [f"{key} +{d} months" for key, d in sorted(sc.delay_months.items()) if d]
    if sc.demand_factor != 1.0:
        parts.append(f"demand x{sc.demand_factor:g}")
    parts += [f"{w} demand x{f:g}" for w, f in sorted(sc.demand_factors.items()) if f != 1.0]
    return "; ".join(parts) or "as written"


def expected_value_scenario(planning: Planning, workloads: list[str]) -> PlanningScenario:
    """Probability-weighted demand multipliers (per workload) and delays (rounded to
    whole months) of the scenarios."""
    specs = planning.scenarios
    keys = sorted({k for s in specs for k in s.delay_months})
    delays = {k: round(sum(s.probability * s.delay_months.get(k, 0) for s in specs)) for k in keys}
    factors = {w: sum(s.probability * s.factor_of(w) for s in specs) for w in workloads}
    return PlanningScenario(
        name=EXPECTED,
        probability=1.0,
        delay_months={k: d for k, d in delays.items() if d},
        demand_factors={w: f for w, f in factors.items() if abs(f - 1.0) > 1e-12},
    )


def decide_by_month(
    monthly: Scenario, planning: Planning, delays: list[dict[int, int]], months_k: list[list[int]]
) -> tuple[int, str]:
    """(first month of the recourse, the rule that set it); see the module docstring."""
    n_t = monthly.horizon.periods
    if planning.decide_by is not None:
        return min(n_t, scenarios.month_of(monthly, planning.decide_by)), "planning.decide_by"
    firsts = [n_t]
    specs = planning.scenarios
    for w in monthly.workloads:
        if isinstance(w, Inference) and len({s.factor_of(w.id) for s in specs}) > 1:
            firsts.append(0)
    for k, opt in enumerate(monthly.build_options):
        ds = {d.get(k, 0) for d in delays}
        if len(ds) > 1 and months_k[k]:
            firsts.append(months_k[k][0] + opt.lead_time_months + min(ds))
    for site in monthly.sites:
        ds = {s.delay_months.get(site.id, 0) for s in specs}
        if len(ds) > 1 and site.power.available_from is not None:
            firsts.append(scenarios.month_of(monthly, site.power.available_from) + min(ds))
    return max(1, min(firsts)), "the first month the scenarios differ (month 1 at the earliest)"


def plan_two_stage(
    monthly: Scenario,
    *,
    time_limit_s: float = 60.0,
    relative_gap: float = 1e-4,
    seed: int = 0,
) -> TwoStageResult:
    """Solves the two-stage plan of a monthly scenario with `planning.scenarios`, and
    scores every single-scenario plan against it (module docstring).

    Raises:
      SolverError: HiGHS failed.
    """
    started = time.perf_counter()
    planning = monthly.planning
    assert planning is not None and planning.scenarios
    specs = list(planning.scenarios)
    options = monthly.build_options
    months_k = [order_months(monthly, o) for o in options]
    applied = [apply_scenario(monthly, sc) for sc in specs]
    decide, rule = decide_by_month(monthly, planning, [d for _, d in applied], months_k)
    shared = {(k, m) for k in range(len(options)) for m in months_k[k] if m < decide}
    blocks = [build_block(s, d, months_k) for s, d in applied]
    names = [sc.name for sc in specs]
    probs = [sc.probability for sc in specs]
    views = build_stacked_model(blocks, probs, shared, names)
    joint = solve_model(views[0].model, started, time_limit_s * TIME_SHARES[0], relative_gap, seed)
    per_s = [read_result(v, joint, own_cost=True) for v in views]
    shared_cols = {(k, m): c for k, m, c in views[0].build_cols if (k, m) in shared}

    # single-scenario plans: each scenario alone, the expected-value one, as written
    inference = [w.id for w in monthly.workloads if isinstance(w, Inference)]
    extra = [
        expected_value_scenario(planning, inference),
        PlanningScenario(name=AS_WRITTEN, probability=1.0),
    ]
    singles: list[tuple[str, PlanningScenario, int | None]] = [
        (f"plan for {sc.name}", sc, i) for i, sc in enumerate(specs)
    ]
    for sc in extra:
        same = next((i for i, s in enumerate(specs) if _same_future(s, sc)), None)
        label = "expected-value plan" if sc.name == EXPECTED else "as-written plan"
        singles.append((label, sc, same))
    share = time_limit_s * TIME_SHARES[1] / max(1, len(singles))
    best: list[float | None] = []
    single_first: list[dict[tuple[int, int], int] | None] = []
    cache: dict[int, tuple[dict, float | None]] = {}
    for _, sc, same in singles:
        if same is not None and same in cache:
            first, cost = cache[same]
        else:
            if same is not None:
                block = blocks[same]
            else:
                s_sc, d_sc = apply_scenario(monthly, sc)
                block = build_block(s_sc, d_sc, months_k)
            view = build_stacked_model([block], [1.0], set(), [sc.name])[0]
            solved = solve_model(view.model, time.perf_counter(), share, relative_gap, seed)
            first = None
            if solved.values is not None:
                first = {
                    (k, m): round(solved.values[c])
                    for k, m, c in view.build_cols
                    if (k, m) in shared
                }
            cost = solved.cost
            if same is not None:
                cache[same] = (first, cost)
        single_first.append(first)
        best.append(cost)
    best_s = best[: len(specs)]  # "plan for s": the optimum of s alone

    # score every first stage in every scenario
    candidates = [
        _candidate("two-stage", joint.status, per_s, views, shared_cols, joint.values, probs)
    ]
    share = time_limit_s * TIME_SHARES[2] / max(1, len(singles))
    seen: dict[tuple, Candidate] = {}
    for (label, _, _), first in zip(singles, single_first, strict=True):
        if first is None:
            candidates.append(Candidate(label, "no_solution", [], None, {}))
            continue
        key = tuple(sorted(first.items()))
        if key in seen:
            prev = seen[key]
            candidates.append(
                Candidate(
                    label,
                    prev.status,
                    prev.first_stage,
                    prev.expected_cost_npv_usd,
                    prev.cost_by_scenario,
                )
            )
            continue
        solved = _evaluate(views, shared_cols, first, share, relative_gap, seed)
        results = [read_result(v, solved, own_cost=True) for v in views]
        cand = _candidate(label, solved.status, results, views, shared_cols, solved.values, probs)
        seen[key] = cand
        candidates.append(cand)
    # best known cost of each scenario alone: its own solve, or any plan scored in it when
    # that is lower (the solves stop at a relative gap, so either may be the better one)
    for i, n in enumerate(names):
        known = [best_s[i], *(c.cost_by_scenario.get(n) for c in candidates)]
        known = [v for v in known if v is not None]
        best_s[i] = min(known) if known else None
    candidates = [_with_regret(c, candidates[0], names, best_s) for c in candidates]
    ws = (
        sum(p * b for p, b in zip(probs, best_s, strict=True))
        if all(b is not None for b in best_s)
        else None
    )
    rp = per_s and candidates[0].expected_cost_npv_usd
    ev = next((c for c in candidates if c.name == "expected-value plan"), None)
    outcomes = [
        ScenarioOutcome(sc.name, sc.probability, describe(sc), res, b)
        for sc, res, b in zip(specs, per_s, best_s, strict=True)
    ]
    return TwoStageResult(
        status=joint.status,
        message=joint.message,
        expected_cost_npv_usd=joint.cost,
        bound_npv_usd=joint.bound,
        gap=joint.gap,
        decide_by_month=decide,
        decide_by_date=_date(monthly, decide),
        decide_by_rule=rule,
        first_stage=candidates[0].first_stage,
        scenarios=outcomes,
        candidates=candidates,
        wait_and_see_npv_usd=ws,
        evpi_usd=None if ws is None or rp is None else rp - ws,
        vss_usd=(
            None
            if rp is None or ev is None or ev.expected_cost_npv_usd is None
            else ev.expected_cost_npv_usd - rp
        ),
        wall_s=round(time.perf_counter() - started, 4),
        variables=joint.size[0],
        constraints=joint.size[1],
    )


def _same_future(a: PlanningScenario, b: PlanningScenario) -> bool:
    """Whether two scenarios change the same things by the same amounts."""
    da = {k: v for k, v in a.delay_months.items() if v}
    db = {k: v for k, v in b.delay_months.items() if v}
    keys = set(a.demand_factors) | set(b.demand_factors) | {""}
    return da == db and all(abs(a.factor_of(w) - b.factor_of(w)) < 1e-12 for w in keys)


def _evaluate(views, shared_cols, first: dict[tuple[int, int], int], limit_s, gap, seed):
    """The joint model with the first stage fixed to `first`, solved (bounds restored)."""
    model = views[0].model
    saved = {}
    for key, col in shared_cols.items():
        var = model.get_variable(col)
        saved[col] = (var.lower_bound, var.upper_bound)
        var.lower_bound = var.upper_bound = float(first.get(key, 0))
    try:
        return solve_model(model, time.perf_counter(), limit_s, gap, seed)
    finally:
        for col, (lo, hi) in saved.items():
            var = model.get_variable(col)
            var.lower_bound, var.upper_bound = lo, hi


def _candidate(name, status, results, views, shared_cols, values, probs) -> Candidate:
    """A first stage scored from one solve of the joint model."""
    names = [v.name for v in views]
    if values is None:
        return Candidate(name, status, [], None, dict.fromkeys(names))
    costs = {r.model.name: r.cost_npv_usd for r in results}
    expected = sum(p * costs[n] for p, n in zip(probs, names, strict=True))
    return Candidate(name, status, _orders(views, shared_cols, values), expected, costs)


def _orders(views: list[CapacityModel], shared_cols, values: np.ndarray) -> list[Order]:
    """The first-stage orders of a solution, with their arrival in each scenario."""
    base = views[0]
    out = []
    for (k, m), col in sorted(shared_cols.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        n = round(values[col])
        if n <= 0:
            continue
        opt = base.options[k]
        arrivals = {v.name: v.arrival_km[(k, m)] for v in views}
        out.append(Order(opt.id, opt.kind, opt.site_id, n, m, _date(base.scenario, m), arrivals))
    return out


def _with_regret(c: Candidate, two_stage: Candidate, names, best_s) -> Candidate:
    """The candidate with its regret against the two-stage plan and its max regret."""
    if c.expected_cost_npv_usd is None:
        return c
    regret = (
        None
        if two_stage.expected_cost_npv_usd is None
        else c.expected_cost_npv_usd - two_stage.expected_cost_npv_usd
    )
    worst, most = None, None
    for name, b in zip(names, best_s, strict=True):
        cost = c.cost_by_scenario.get(name)
        if cost is None or b is None:
            continue
        if most is None or cost - b > most:
            worst, most = name, cost - b
    return Candidate(
        c.name, c.status, c.first_stage, c.expected_cost_npv_usd, c.cost_by_scenario,
        regret, most, worst,
    )  # fmt: skip


def _date(scenario: Scenario, month: int) -> str:
    h = scenario.horizon
    return (h.start_time + dt.timedelta(hours=month * h.period_hours)).date().isoformat()


__all__ = [
    "Candidate",
    "Order",
    "ScenarioOutcome",
    "TwoStageResult",
    "apply_scenario",
    "decide_by_month",
    "plan_two_stage",
]
