"""Budgets and carbon caps per period (`objective.budget_usd_per_period_h`,
`objective.carbon_cap_kg_per_period_h`, docs/time.md): the language, the compiled side
structure (`placer.problem.period_caps`), the MILP against brute force, greedy's ledger,
every supporting solver's verified plan, the verifier's own recount, the refusal of the
solvers that cannot honour them, and the CLI."""

from __future__ import annotations

import ast
import copy
import itertools
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import placer
from placer import api
from placer.cli.main import cli
from placer.engines.base import SolveOptions, SolveResult
from placer.engines.registry import SOLVERS
from placer.engines.search.neighbourhood import freed_subproblem
from placer.errors import OptionError, ScenarioError
from placer.model.load import validate_model
from placer.model.scenario import Scenario
from placer.plan.plan import Plan
from placer.plan.verify import verify
from placer.problem.compile import compile_problem
from placer.problem.period_caps import PK_BUDGET, PK_CARBON
from placer.problem.preempt import feasible_schedule
from placer.problem.rows import Q_CARBON, Q_COST
from placer.problem.usage import broken_caps, objective_value, period_spend, violations
from tests.conftest import _MINIMAL_SCENARIO
from tests.problems import brute_force
from tests.test_startup_cost import flip
from tests.test_time import timed

ROOT = Path(__file__).resolve().parent.parent
SMALL_DAY = ROOT / "configs" / "time" / "small_day.yaml"
#: A price spike in period 2: the cheapest start of the 3 h run (periods 1-3) crosses it.
SPIKE = [0.1, 0.1, 0.5, 0.1, 0.5, 0.5]
#: Per-period budget, USD/h: 60 in the spike, loose elsewhere (the run spends ~73 there).
CAPS = [1000.0, 1000.0, 60.0, 1000.0, 1000.0, 1000.0]


def check(data: dict) -> Scenario:
    return validate_model(Scenario, data, source="t")


def hand(budget: Any = None, carbon: Any = None, prices: list[float] | None = None) -> dict:
    """One site (64 H100, 0.2 USD/kWh unless `prices`), one 3 h run of 32 GPUs that may
    start in period 1, 2 or 3 of 6 hourly periods."""
    d = timed(6, **{"sites.0.power.price_usd_per_kwh": prices or SPIKE})
    d["sites"] = d["sites"][:1]
    d["workloads"] = d["workloads"][:1]
    d["user_regions"] = []
    d["objective"] = {}
    if budget is not None:
        d["objective"]["budget_usd_per_period_h"] = budget
    if carbon is not None:
        d["objective"]["carbon_cap_kg_per_period_h"] = carbon
    return d


def solved(data: dict, solver: str = "milp", limit: float = 10.0) -> tuple[Scenario, Plan]:
    sc = check(data)
    return sc, placer.solve(sc, solver=solver, time_limit_s=limit)


def start_of(plan: Plan) -> int | None:
    (run,) = [p for p in plan.placements if p.kind == "training"]
    return run.start_period


# -- (1) the language -----------------------------------------------------------------


@pytest.mark.parametrize("field", ["budget_usd_per_period_h", "carbon_cap_kg_per_period_h"])
def test_a_cap_per_period_needs_a_horizon(field: str) -> None:
    d = copy.deepcopy(_MINIMAL_SCENARIO)
    d["objective"] = {field: 10.0}
    with pytest.raises(ScenarioError, match=rf"objective.{field}: a time field needs a horizon"):
        check(d)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1.0, 2.0], r"objective.budget_usd_per_period_h: 2 values for 6 periods"),
        (-1.0, r"objective.budget_usd_per_period_h"),
        ([1.0, 1.0, -5.0, 1.0, 1.0, 1.0], r"objective.budget_usd_per_period_h"),
        ("cheap", r"objective.budget_usd_per_period_h"),
    ],
)
def test_bad_caps_name_the_field(value: Any, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        check(hand(budget=value))


def test_a_cap_file_is_resampled_as_a_mean(tmp_path: Path) -> None:
    # two samples per hourly period: each period's cap is their mean
    lines = ["time,cap"] + [
        f"2020-06-01T{h // 2:02d}:{30 * (h % 2):02d}:00+00:00,{100 + 10 * h}" for h in range(12)
    ]
    (tmp_path / "caps.csv").write_text("\n".join(lines) + "\n")
    d = hand()
    d["objective"] = {"budget_usd_per_period_h": {"file": "caps.csv"}}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(d))
    sc = placer.load(path)
    assert sc.objective.budget_usd_per_period_h == pytest.approx([105.0 + 20 * t for t in range(6)])


def test_without_the_fields_nothing_is_compiled() -> None:
    problem, _ = compile_problem(check(hand()))
    assert problem.period_caps is None


# -- (2) the compiled side structure --------------------------------------------------


def test_entries_split_each_options_cost_and_carbon_over_its_periods() -> None:
    d = copy.deepcopy(_MINIMAL_SCENARIO)
    d["horizon"] = {"start": "2020-06-01T00:00:00+00:00", "period_hours": 1, "periods": 6}
    d["workloads"][0].update(hours=2.5, dataset={"site": "cloud-osl", "size_gb": 1000})
    d["sites"][0]["power"]["price_usd_per_kwh"] = [0.1, 0.3, 0.2, 0.5, 0.1, 0.4]
    d["sites"][1]["egress_usd_per_gb"] = 0.05
    d["objective"] = {"budget_usd_per_period_h": 1e6}
    sc = check(d)
    problem, index = compile_problem(sc)
    caps = problem.period_caps
    assert caps is not None and caps.num_caps == 12 and caps.scale == 6.0
    # both kinds have rows; the carbon one is uncapped
    assert np.isinf(caps.cap_c[caps.row_tk[:, PK_CARBON]]).all()
    for kind, q in ((PK_BUDGET, Q_COST), (PK_CARBON, Q_CARBON)):
        mine = caps.kind_c[caps.row_e] == kind
        total = np.zeros(problem.option_uk.shape)
        np.add.at(total, (caps.unit_e[mine], caps.slot_e[mine]), caps.amount_e[mine])
        # summed over the periods (x period hours) they are the option's figure (x horizon h)
        expected = np.where(problem.listed_uk, problem.amount_quk[q] * 6.0, 0.0)
        assert total == pytest.approx(expected, abs=1e-9)
    # the egress (50 USD) counts in the first period of the run's window (period 0)
    u = next(i for i, unit in enumerate(index.units) if unit.kind == "training")
    late = [
        int(k)
        for k in np.flatnonzero(problem.listed_uk[u])
        if index.time.start_o[problem.option_uk[u, k]] == 2
        and index.pools[index.time.pool_o[problem.option_uk[u, k]]].site == "onprem-fra"
    ]
    assert late
    row0 = caps.row_tk[0, PK_BUDGET]
    hit = (caps.unit_e == u) & (caps.slot_e == late[0]) & (caps.row_e == row0)
    assert caps.amount_e[hit].sum() == pytest.approx(50.0)


def test_take_units_keeps_the_entries_of_the_units_taken() -> None:
    problem, _ = compile_problem(check(flip_caps(4, budget_usd_per_period_h=100.0)))
    caps = problem.period_caps
    assert caps is not None
    units = np.array([3, 1])
    sub = problem.take_units(units)
    assert sub.period_caps is not None
    for new, old in enumerate(units.tolist()):
        mine = caps.unit_e == old
        theirs = sub.period_caps.unit_e == new
        assert sub.period_caps.amount_e[theirs] == pytest.approx(caps.amount_e[mine])
        assert (sub.period_caps.slot_e[theirs] == caps.slot_e[mine]).all()
    assert sub.period_caps.unit_e.max() == 1


def flip_caps(periods: int = 3, **objective: Any) -> dict:
    """`flip` (one service over two sites whose tariffs flip each hour) with caps."""
    d = flip(periods, startup=3.0, must_place=False, value_usd_per_h=200.0)
    d["objective"] = objective
    return d


def test_a_neighbourhood_gets_what_the_fixed_units_leave() -> None:
    sc = check(flip_caps(3, budget_usd_per_period_h=30.0, carbon_cap_kg_per_period_h=10.0))
    problem, _ = compile_problem(sc)
    result = SOLVERS["milp"](problem, SolveOptions(time_limit_s=10))
    freed = np.array([0, 1])
    sub = freed_subproblem(problem, result.assign_u, freed)
    fixed = result.assign_u.copy()
    fixed[freed] = -1
    left = problem.period_caps.cap_c - period_spend(problem, fixed)
    assert sub.period_caps.cap_c == pytest.approx(np.maximum(left, 0.0))


# -- (3) the engines ------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["milp", "greedy", "hybrid"])
def test_a_budget_per_period_moves_the_run_out_of_the_spike(solver: str) -> None:
    _, free = solved(hand(), solver)
    assert start_of(free) == 1  # the cheapest window crosses the spike
    sc, plan = solved(hand(budget=CAPS), solver)
    assert plan.status in ("optimal", "feasible") and verify(sc, plan) == []
    assert start_of(plan) == 3  # periods 3-5: out of the spike, dearer over the horizon
    assert plan.objective_usd_per_h > free.objective_usd_per_h
    h = plan.horizon
    assert h is not None and h.budget_usd_per_period_h == CAPS
    assert h.cost_usd_per_period_h[2] == 0.0 and h.cost_usd_per_period_h[3] > 0.0
    assert sum(h.cost_usd_per_period_h) == pytest.approx(h.cost_usd)  # 1 h periods
    assert h.carbon_cap_kg_per_period_h == [None] * 6
    assert sum(h.carbon_kg_per_period_h) == pytest.approx(h.carbon_kg)


def test_a_carbon_cap_per_period_binds_like_a_budget() -> None:
    # flat prices, a dirty grid in period 2: the carbon cap keeps the run out of it
    d = hand(carbon=[100.0, 100.0, 1.0, 100.0, 100.0, 100.0], prices=[0.1] * 6)
    sc, plan = solved(d)
    assert plan.status == "optimal" and verify(sc, plan) == []
    assert start_of(plan) == 3
    assert plan.horizon.carbon_kg_per_period_h[2] == 0.0


def test_too_tight_caps_are_infeasible() -> None:
    d = hand(budget=[1.0] * 6)
    d["workloads"][0]["must_place"] = True
    _, plan = solved(d)
    assert plan.status == "infeasible"
    _, greedy = solved(d, "greedy")
    assert greedy.status == "no_solution"


@pytest.mark.parametrize(
    "objective",
    [
        {"budget_usd_per_period_h": [40.0, 3.0, 40.0]},
        {"budget_usd_per_period_h": [8.0, 3.0, 1.7]},
        {"budget_usd_per_period_h": 8.0, "carbon_cap_kg_per_period_h": [1.0, 0.05, 1.0]},
        {"carbon_cap_kg_per_period_h": [0.05, 1.0, 1.0]},
    ],
)
def test_milp_equals_brute_force(objective: dict) -> None:
    """Three periods of one service over two sites with start-up costs: every one of the
    (O + 1) ** U assignments, against the caps per period."""
    d = flip_caps(3, **objective)
    sc = check(d)
    problem, _ = compile_problem(sc)
    assert problem.num_units == 3 and problem.period_caps is not None
    best, _ = brute_force(problem)  # usage.violations holds the caps per period
    result = SOLVERS["milp"](problem, SolveOptions(time_limit_s=10))
    assert best is not None and result.status == "optimal"
    assert result.objective_usd_per_h == pytest.approx(best, rel=1e-7)
    assert not broken_caps(problem, result.assign_u).size
    # the caps bind: without them the optimum is cheaper
    free = problem._replace(period_caps=None)
    assert brute_force(free)[0] < best - 1e-6
    plan = placer.solve(sc, solver="milp", time_limit_s=10)
    assert verify(sc, plan) == []


@pytest.mark.parametrize("seed", range(6))
def test_milp_equals_brute_force_on_random_caps(seed: int) -> None:
    """Random tariffs and caps around what the free optimum spends and emits per period
    (some binding, some not); start-ups between the periods."""
    rng = np.random.default_rng(seed)
    prices = (rng.uniform(0.05, 5.0, 3).tolist(), rng.uniform(0.05, 5.0, 3).tolist())
    d = flip(3, startup=float(rng.uniform(0.0, 4.0)), must_place=False, prices=prices)
    d["workloads"][0]["value_usd_per_h"] = 200.0
    d["objective"] = {"budget_usd_per_period_h": 1e6, "carbon_cap_kg_per_period_h": 1e6}
    _, free = solved(d)
    h = free.horizon
    d["objective"] = {
        "budget_usd_per_period_h": [v * rng.uniform(0.6, 2.5) for v in h.cost_usd_per_period_h],
        "carbon_cap_kg_per_period_h": [
            v * rng.uniform(0.9, 2.5) + 1e-3 for v in h.carbon_kg_per_period_h
        ],
    }
    sc = check(d)
    problem, _ = compile_problem(sc)
    best, _ = brute_force(problem)
    result = SOLVERS["milp"](problem, SolveOptions(time_limit_s=10))
    assert result.status == "optimal" and best is not None
    assert result.objective_usd_per_h == pytest.approx(best, rel=1e-7)
    for solver in ("milp", "greedy"):
        plan = placer.solve(sc, solver=solver, time_limit_s=5)
        assert verify(sc, plan) == []


def test_start_ups_count_in_their_period() -> None:
    """Period 1's cap leaves the service out of it; restarting its 2 replicas in period 2
    (6 USD there) is over period 2's cap of 1.7 USD/h: it stays out of period 2 too."""
    d = flip_caps(3, budget_usd_per_period_h=[8.0, 3.0, 1.7])
    sc, plan = solved(d)
    assert verify(sc, plan) == []
    # fra-b in periods 0 and 1 (no start-up between them), nothing in period 2
    assert {(p.site, p.period) for p in plan.placements} == {("fra-b", 0), ("fra-b", 1)}
    # cheap start-ups: the service follows the cheap tariff and pays 2 x 0.1 USD in
    # periods 1 and 2, in their figures
    d = flip(3, startup=0.1)
    d["objective"] = {"budget_usd_per_period_h": 1000.0}
    sc, plan = solved(d)
    assert verify(sc, plan) == []
    assert [p.site for p in sorted(plan.placements, key=lambda p: p.period)] == [
        "fra-a",
        "fra-b",
        "fra-a",
    ]
    cheap = plan.horizon.cost_usd_per_period_h[0]
    assert plan.horizon.cost_usd_per_period_h[1:] == pytest.approx([cheap + 0.2] * 2)


def test_a_preempted_run_is_held_to_the_caps() -> None:
    """A preemptible run pauses over a price spike; the budget of its cheapest period
    moves it: the MILP's schedule equals the best over every set of periods."""
    from tests.test_preempt import run, scenario

    prices = [0.05, 5.0, 0.05, 5.0, 0.06, 5.0]
    d = scenario(prices=prices, runs=[run("ft", 2, 0.0)])
    _, free = solved(d)
    assert [s.start_period for s in free.placements[0].segments] == [0, 2]
    d["objective"] = {"budget_usd_per_period_h": [1.0] + [100.0] * 5}
    sc = check(d)
    problem, _ = compile_problem(sc)
    table = problem.preempt
    best = np.inf
    periods = table.period_e[table.entries_of(0)].tolist()
    for n in range(1, len(periods) + 1):
        for subset in itertools.combinations(periods, n):
            if not feasible_schedule(table, 0, 0, subset):
                continue
            schedule = {0: (0, subset)}
            none = np.full(1, -1, np.int32)
            if broken_caps(problem, none, schedule).size:
                continue
            best = min(best, objective_value(problem, none, schedule))
    for o in problem.options_of(0)[0].tolist():
        assign = np.array([o], np.int32)
        if not violations(problem, assign):
            best = min(best, objective_value(problem, assign))
    result = SOLVERS["milp"](problem, SolveOptions(time_limit_s=10))
    assert result.objective_usd_per_h == pytest.approx(best, rel=1e-7)
    plan = placer.solve(sc, solver="milp", time_limit_s=10)
    assert verify(sc, plan) == []
    (p,) = plan.placements
    assert p.segments is not None and [s.start_period for s in p.segments] == [2, 4]
    assert plan.horizon.cost_usd_per_period_h[0] == 0.0


@pytest.mark.parametrize("solver", ["milp", "greedy", "hybrid", "auto"])
def test_every_supporting_solver_gives_a_verified_plan(solver: str) -> None:
    sc = placer.load(SMALL_DAY)
    obj = sc.objective.model_copy(
        update={"budget_usd_per_period_h": 560.0, "carbon_cap_kg_per_period_h": 190.0}
    )
    sc = sc.model_copy(update={"objective": obj})
    plan = placer.solve(sc, solver=solver, time_limit_s=3)
    assert plan.status in ("optimal", "feasible"), plan.message
    assert verify(sc, plan) == []
    h = plan.horizon
    assert max(h.cost_usd_per_period_h) <= 560.0 * (1 + 1e-6)
    assert max(h.carbon_kg_per_period_h) <= 190.0 * (1 + 1e-6)


@pytest.mark.parametrize("solver", ["relax", "search"])
def test_solvers_that_cannot_honour_them_are_refused(solver: str) -> None:
    with pytest.raises(OptionError, match=r"budget_usd_per_period_h.*milp"):
        placer.solve(check(hand(budget=CAPS)), solver=solver, time_limit_s=2)


# the hybrid's case takes ~9 s (each window's shapes compile anew): in the slow set
@pytest.mark.parametrize(
    "solver", ["milp", pytest.param("hybrid", marks=pytest.mark.slow), "greedy"]
)
def test_rolling_keeps_caps_per_period(solver: str) -> None:
    """Each window holds the caps of its periods (a list is sliced): re-planned every
    period with perfect forecasts, the run keeps out of period 2 as the oracle does."""
    from placer.analysis.rolling import roll

    sc = check(hand(budget=CAPS))
    kwargs = dict(every_periods=1, forecast="perfect", baseline=False, time_limit_s=5)
    report = roll(sc, solver=solver, **kwargs)
    assert report.plan is not None and verify(sc, report.plan) == []
    assert report.rolling.violations == [] and report.rolling.runs_on_time == 1
    (run,) = [p for p in report.plan.placements if p.kind == "training"]
    assert run.start_period == 3  # 2 is over its budget, and so is 1 (it runs in 2)
    assert report.oracle is not None
    assert report.rolling.objective_usd == pytest.approx(report.oracle.objective_usd, rel=1e-9)


def test_rolling_refuses_a_solver_that_ignores_caps_per_period() -> None:
    """Before any re-plan: a solver that ignores caps per period would let the windows
    break them."""
    from placer.analysis.rolling import roll

    words = "--solver search: objective.budget_usd_per_period_h"
    with pytest.raises(OptionError, match=re.escape(words)):
        roll(check(hand(budget=CAPS)), solver="search", time_limit_s=1)


def test_caps_per_period_with_a_run_that_may_migrate() -> None:
    """placer solve (the MILP writes the run's moves into each period's row) and
    placer rolling (whose windows do not migrate runs) both keep the caps."""
    from placer.analysis.rolling import roll

    data = hand(budget=CAPS)
    data["workloads"][0]["migration_usd"] = 5.0
    sc = check(data)
    plan = placer.solve(sc, solver="milp", time_limit_s=10)
    assert verify(sc, plan) == []
    report = roll(sc, solver="milp", every_periods=1, forecast="perfect", time_limit_s=5)
    assert report.plan is not None and verify(sc, report.plan) == []
    assert report.rolling.violations == [] and report.rolling.runs_on_time == 1


def test_plan_capacity_refuses_caps_per_period() -> None:
    from placer.capacity.plan import plan_capacity

    sc = placer.load(ROOT / "configs" / "capacity" / "tiny.yaml")
    obj = sc.objective.model_copy(update={"carbon_cap_kg_per_period_h": 100.0})
    with pytest.raises(ScenarioError, match=r"objective.carbon_cap_kg_per_period_h: plan-capa"):
        plan_capacity(sc.model_copy(update={"objective": obj}), time_limit_s=2)


def test_a_plan_over_a_cap_falls_back_to_greedy() -> None:
    sc = check(hand(budget=CAPS))
    problem, index = compile_problem(sc)
    over = np.array([problem.option_uk[0, 0]], np.int32)  # the earliest start: the spike
    assert broken_caps(problem, over).size
    result = SolveResult(over, "feasible", objective_usd_per_h=1.0)
    out = api.within_period_caps(problem, index, SolveOptions(time_limit_s=2), result, "hybrid")
    assert not broken_caps(problem, out.assign_u).size
    assert "greedy's plan" in out.diagnostics[0]
    kept = SolveResult(np.array([problem.option_uk[0, 2]], np.int32), "feasible")
    assert api.within_period_caps(problem, index, SolveOptions(), kept, "hybrid") is kept
    # a hybrid that found no plan: greedy's, with the hybrid's bound of the full problem
    none = SolveResult(np.full(1, -1, np.int32), "no_solution", 1.0, 1.0, bound_scope="full")
    out = api.within_period_caps(problem, index, SolveOptions(time_limit_s=2), none, "hybrid")
    assert out.status == "feasible" and out.bound_usd_per_h == 1.0
    assert "hybrid found no plan" in out.diagnostics[0]
    # another solver's plan over a cap (a MILP's hint fallback) is replaced too, but its
    # "no_solution" stands
    out = api.within_period_caps(problem, index, SolveOptions(time_limit_s=2), result, "milp")
    assert not broken_caps(problem, out.assign_u).size and "milp's plan" in out.diagnostics[0]
    none = SolveResult(np.full(1, -1, np.int32), "no_solution")
    assert api.within_period_caps(problem, index, SolveOptions(), none, "milp") is none


# -- (4) the verifier -----------------------------------------------------------------


def test_the_verifier_rejects_a_plan_over_a_cap() -> None:
    _, free = solved(hand())  # starts in period 1: through the spike
    sc = check(hand(budget=CAPS, carbon=[100.0, 100.0, 10.0, 100.0, 100.0, 100.0]))
    found = {(v.kind, v.subject) for v in verify(sc, free)}
    assert ("period_budget", "period 2") in found
    assert ("period_carbon", "period 2") in found
    assert ("kpi", "horizon") in found  # the plan states no figures per period


def test_the_verifier_rejects_misstated_figures() -> None:
    sc, plan = solved(hand(budget=CAPS))
    h = plan.horizon
    spent = list(h.cost_usd_per_period_h)
    spent[3] *= 0.5
    bad = plan.model_copy(update={"horizon": h.model_copy(update={"cost_usd_per_period_h": spent})})
    violations_ = verify(sc, bad)
    assert [(v.kind, v.subject) for v in violations_] == [("kpi", "horizon")]
    assert "cost_usd_per_period_h[3]" in violations_[0].message
    # figures per period in a plan of a scenario that caps nothing per period
    _, free = solved(hand())
    stated = free.horizon.model_copy(update={"budget_usd_per_period_h": CAPS})
    bad = free.model_copy(update={"horizon": stated})
    assert {(v.kind, v.subject) for v in verify(check(hand()), bad)} == {("kpi", "horizon")}


def test_the_verifier_counts_start_ups_in_their_period() -> None:
    d = flip_caps(3, budget_usd_per_period_h=1000.0)
    sc, plan = solved(d)
    assert verify(sc, plan) == []
    h = plan.horizon
    assert sum(h.cost_usd_per_period_h) == pytest.approx(h.cost_usd)
    # a cap just below what period 1 spends breaks the plan there
    spent = h.cost_usd_per_period_h[1]
    obj = sc.objective.model_copy(update={"budget_usd_per_period_h": [1000.0, spent * 0.99, 1e3]})
    tight = sc.model_copy(update={"objective": obj})
    kinds = {(v.kind, v.subject) for v in verify(tight, plan)}
    assert ("period_budget", "period 1") in kinds


def test_priced_excess_counts_in_its_period() -> None:
    """One 1 h run at site a (8 USD of GPU-hours) drawing 4 kW above a priced event's cap
    in period 0 at 1 USD/kWh: period 0 spends 12 USD/h; at site b it would spend 16."""
    from tests.test_grid_event_price import _one_run

    d = _one_run(1.0)
    d["objective"] = {"budget_usd_per_period_h": 12.5}
    sc, plan = solved(d)
    assert plan.status == "optimal" and verify(sc, plan) == []
    assert plan.placements[0].site == "a" and plan.horizon.over_limit_usd == pytest.approx(4.0)
    assert plan.horizon.cost_usd_per_period_h == pytest.approx([12.0, 0.0])
    # below 12 the excess does not fit period 0, nor does site b: infeasible (MILP), and
    # the plan above is over the cap (verifier)
    d["objective"] = {"budget_usd_per_period_h": [11.9, 100.0]}
    tight, none = solved(d)
    assert none.status == "infeasible"
    found = {(v.kind, v.subject) for v in verify(tight, plan)}
    assert ("period_budget", "period 0") in found


def test_every_kind_is_covered() -> None:
    """The kinds verify_period_caps.py emits are the ones this file triggers."""
    source = (ROOT / "placer" / "plan" / "verify_period_caps.py").read_text("utf-8")
    kinds = {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("period_")
        and not node.value.endswith("_h")
    }
    kinds |= {"kpi"}
    assert kinds == {"period_budget", "period_carbon", "kpi"}


# -- (5) the CLI ----------------------------------------------------------------------


def test_cli_solves_and_verifies(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(hand(budget=CAPS)))
    out = tmp_path / "plan.json"
    runner = CliRunner()
    result = runner.invoke(cli, ["solve", str(path), "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    plan = Plan.model_validate_json(out.read_text())
    assert start_of(plan) == 3 and plan.horizon.budget_usd_per_period_h == CAPS
    shown = runner.invoke(cli, ["solve", str(path)], catch_exceptions=False)
    assert "Caps per period" in shown.output
    assert "budget: period 4, 72.64 of 1,000.00 USD/h" in shown.output
    checked = runner.invoke(cli, ["verify", str(path), str(out)], catch_exceptions=False)
    assert checked.exit_code == 0, checked.output
    refused = runner.invoke(cli, ["solve", str(path), "--solver", "relax"])
    assert refused.exit_code == 2 and "budget_usd_per_period_h" in refused.output
    static = copy.deepcopy(_MINIMAL_SCENARIO)
    static["objective"] = {"carbon_cap_kg_per_period_h": 5.0}
    path.write_text(json.dumps(static))
    bad = runner.invoke(cli, ["solve", str(path)])
    assert bad.exit_code == 2 and "objective.carbon_cap_kg_per_period_h" in bad.output


def test_a_window_plan_over_a_cap_is_replaced_by_greedys_and_the_step_says_so(
    monkeypatch,
) -> None:
    """A window's engine returns a plan over a cap (the earliest start: the spike): the
    re-plan keeps greedy's instead, as placer solve does, and its step's note says so."""
    from placer.analysis import rolling

    def over_a_cap(problem, options):
        return SolveResult(np.array([problem.option_uk[0, 0]], np.int32), "feasible", 1.0)

    monkeypatch.setitem(rolling.SOLVERS, "milp", over_a_cap)
    sc = check(hand(budget=CAPS))
    report = rolling.roll(sc, every_periods=6, oracle=False, baseline=False, time_limit_s=2)
    (step,) = report.steps
    assert "greedy's plan (which keeps them) is returned instead" in step.note
    assert report.plan is not None and verify(sc, report.plan) == []
