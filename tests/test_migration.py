"""Training runs that migrate between pools at a cost (`migration_usd`,
`migration_overhead_h`, docs/time.md "Migration between pools"): a hand case, the exact
MILP against brute force, forged plans refused by the verifier, bad input named, and the
CLI."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import placer
from placer.cli.main import cli
from placer.engines.base import SolveOptions
from placer.engines.registry import SOLVERS
from placer.model.scenario import Scenario
from placer.plan.plan import Plan, Segment
from placer.plan.verify import verify
from placer.problem.compile import compile_problem
from placer.problem.preempt import feasible_schedule, transitions
from placer.problem.usage import broken_caps, objective_value, period_spend, row_loads

START = "2020-06-01T00:00:00+00:00"
GPU_USD_PER_H = 0.8
KW = 8.0  # IT kW of 8 GPUs: one node of 8 kW (9.6 kW at the facility, PUE 1.2)
CHEAP, DEAR = 0.05, 5.0  # USD/kWh
#: fra is cheap first and dear later, muc the other way round
FRA, MUC = [CHEAP, CHEAP, DEAR, DEAR], [DEAR, DEAR, CHEAP, CHEAP]


def site(sid: str, prices: list[float], lat: float, lon: float, acc: str = "L4") -> dict:
    """An on-prem site with one 8-GPU pool of `acc` (one node of 8 kW)."""
    return {
        "id": sid,
        "tier": "onprem",
        "location": {"lat": lat, "lon": lon, "country": "DE"},
        "power": {
            "it_capacity_kw": 100,
            "pue": 1.2,
            "price_usd_per_kwh": prices,
            "carbon_g_per_kwh": 300,
        },
        "egress_usd_per_gb": 0.02,
        "cooling": {"type": "liquid", "max_rack_density_kw": 50},
        "pools": [
            {
                "accelerator": acc,
                "gpus": 8,
                "gpus_per_node": 8,
                "node_power_kw": KW,
                "cost_usd_per_gpu_h": GPU_USD_PER_H,
            }
        ],
    }


def scenario(
    runs: list[dict[str, Any]],
    fra: list[float] | None = None,
    muc: list[float] | None = None,
    muc_acc: str = "L4",
) -> dict[str, Any]:
    fra, muc = fra or FRA, muc or MUC
    return {
        "apiVersion": "placer/v1",
        "kind": "Scenario",
        "metadata": {"name": "migrate"},
        "horizon": {"start": START, "period_hours": 1, "periods": len(fra)},
        "sites": [site("fra", fra, 50.11, 8.68), site("muc", muc, 48.14, 11.58, muc_acc)],
        "workloads": runs,
    }


def run(wid: str, hours: float, usd: float | None, overhead: float | None = 0.0, **more):
    out: dict[str, Any] = {
        "id": wid,
        "kind": "training",
        "gpus": 8,
        "hours": hours,
        "accelerators": ["L4"],
        "utilization": 1.0,
        **more,
    }
    if usd is not None:
        out["migration_usd"] = usd
        if overhead is not None:
            out["migration_overhead_h"] = overhead
    return out


def solved(data: dict[str, Any], solver: str = "milp", limit: float = 10.0):
    sc = Scenario.model_validate(data)
    return sc, placer.solve(sc, solver=solver, time_limit_s=limit)


def period_usd(price: float) -> float:
    """One whole period of the run: 8 GPUs and 9.6 kW at `price`."""
    return 8 * GPU_USD_PER_H + KW * 1.2 * price


# -- (1) a hand case: each site's price spikes in half of the window ---------------------


def test_moves_across_the_spike_when_a_move_is_cheap() -> None:
    sc, plan = solved(scenario([run("ft", 4, 10.0)]))
    assert plan.status == "optimal" and verify(sc, plan) == []
    (p,) = plan.placements
    assert p.moves == 1 and p.resumes == 0 and p.migration_usd == pytest.approx(10.0)
    assert p.segments is not None
    assert [(s.start_period, s.periods, s.site) for s in p.segments] == [
        (0, 2, "fra"),
        (2, 2, "muc"),
    ]
    assert p.site == "fra" and p.periods == 4
    # by hand: four cheap periods, and one move of 10 USD (not in the run's cost_usd)
    runs_usd = 4 * period_usd(CHEAP)
    assert p.cost_usd == pytest.approx(runs_usd)
    assert plan.horizon is not None
    assert plan.horizon.migration_cost_usd == pytest.approx(10.0)
    assert plan.horizon.cost_usd == pytest.approx(runs_usd + 10.0)
    assert plan.objective_usd_per_h == pytest.approx((runs_usd + 10.0) / 4)
    assert plan.totals.cost_usd_per_h == pytest.approx((runs_usd + 10.0) / 4)
    # each site's cost and GPUs are its segment's
    by_site = {s.site: s for s in plan.sites}
    assert by_site["fra"].cost_usd_per_h == pytest.approx(2 * period_usd(CHEAP) / 4)
    periods = {sp.site: sp.gpus_used for sp in plan.site_periods}
    assert periods == {"fra": [8, 8, 0, 0], "muc": [0, 0, 8, 8]}


def test_stays_when_a_move_is_dear() -> None:
    sc, plan = solved(scenario([run("ft", 4, 200.0)]))
    assert plan.status == "optimal" and verify(sc, plan) == []
    (p,) = plan.placements
    assert p.segments is None and p.moves is None and p.periods == 4
    usd = 2 * period_usd(CHEAP) + 2 * period_usd(DEAR)
    assert p.cost_usd == pytest.approx(usd)
    assert plan.horizon is not None and plan.horizon.migration_cost_usd == 0.0


def test_the_overhead_of_a_move_needs_another_period() -> None:
    # 4 h in a 5-period window: a move costing 0.5 h needs a fifth period (4.5 h of
    # running); it pays the period at the cheaper site
    fra, muc = [*FRA, DEAR], [*MUC, CHEAP]
    sc, plan = solved(scenario([run("ft", 4, 10.0, 0.5)], fra, muc))
    assert plan.status == "optimal" and verify(sc, plan) == []
    (p,) = plan.placements
    assert p.moves == 1 and p.periods == 5
    assert p.cost_usd == pytest.approx(5 * period_usd(CHEAP))


@pytest.mark.parametrize(("budget", "moves"), [(None, 1), (7.0, None)])
def test_a_move_is_a_cost_the_budget_caps(budget: float | None, moves: int | None) -> None:
    # one tariff everywhere; fra's grid is dirty late, muc's early: a move saves 11.52 kg
    # (11.52 USD at 1,000 USD/t) for 5 USD, unless the budget (USD per horizon hour)
    # leaves no room for it: 4 periods cost 27.52 USD (6.88 USD/h), 8.13 USD/h moving
    data = scenario([run("ft", 4, 5.0)], [CHEAP] * 4, [CHEAP] * 4)
    data["sites"][0]["power"]["carbon_g_per_kwh"] = [300, 300, 900, 900]
    data["sites"][1]["power"]["carbon_g_per_kwh"] = [900, 900, 300, 300]
    data["objective"] = {"carbon_price_usd_per_t": 1000.0}
    if budget is not None:
        data["objective"]["budget_usd_per_h"] = budget
    sc, plan = solved(data)
    assert plan.status == "optimal" and verify(sc, plan) == []
    (p,) = plan.placements
    assert p.moves == moves
    usd = 4 * period_usd(CHEAP) + (5.0 if moves else 0.0)
    assert plan.totals.cost_usd_per_h == pytest.approx(usd / 4)


def test_other_engines_place_it_in_one_pool_and_claim_no_bound() -> None:
    data = scenario([run("ft", 4, 10.0)])
    sc, exact = solved(data)
    _, plan = solved(data, "greedy", 5.0)
    assert verify(sc, plan) == []
    assert all(p.segments is None for p in plan.placements)
    assert plan.bound_usd_per_h is None and plan.status != "optimal"
    assert plan.objective_usd_per_h >= exact.objective_usd_per_h - 1e-9
    assert any("migrat" in d for d in plan.diagnostics)


def test_the_compiled_table_and_its_slices() -> None:
    sc = Scenario.model_validate(scenario([run("ft", 4, 10.0, None), run("b", 2, None)]))
    assert sc.workloads[0].move_overhead_h == 0.25  # the default, as restore_overhead_h's
    problem, _ = compile_problem(sc)
    table = problem.preempt
    assert table is not None and table.unit_v.tolist() == [1]  # b: no field, no entry
    assert table.migrates_v.tolist() == [True] and table.pauses_v.tolist() == [False]
    assert table.move_usd_per_h_v.tolist() == [10.0 / 4]
    sub = problem.take_units(np.array([1]))
    assert sub.preempt is not None and sub.preempt.migrates_v.tolist() == [True]
    assert sub.preempt.site_c is not None and sub.preempt.site_c.size == 2
    assert problem.take_units(np.array([0])).preempt is None
    # a move adds 0.25 h: four periods for 4 h across two pools are too few
    assert not feasible_schedule(table, 1, 0, (0, 1, 2, 3), (0, 0, 1, 1))
    assert feasible_schedule(table, 1, 0, (0, 1, 2, 3), (0, 0, 0, 0))
    assert transitions([0, 1, 3, 4], [0, 0, 0, 1]) == ([3], [2])


# -- (2) brute force over every schedule -------------------------------------------------


def _schedules(problem, u: int) -> list[tuple]:
    """Every feasible schedule of unit u: each subset of its window's periods, each
    assignment of its pools to them."""
    table = problem.preempt
    v = table.run_of(u)
    pools = sorted({int(p) for p in table.pool_c[table.run_c == v]})
    c = table.choice_of(u, pools[0])
    window = table.period_e[table.entries_of(c)].tolist()
    out = []
    for n in range(1, len(window) + 1):
        for subset in itertools.combinations(window, n):
            for where in itertools.product(pools, repeat=n):
                if feasible_schedule(table, u, where[0], subset, where):
                    one = len(set(where)) == 1
                    out.append((where[0], subset) if one else (where[0], subset, where))
    return out


def _brute_force(problem) -> float:
    """The least objective over every choice of each unit: unplaced, a contiguous option,
    or (a run in `Problem.preempt`) any feasible schedule; capacities held."""
    table = problem.preempt
    choices = []
    for u in range(problem.num_units):
        mine: list = [(-1, None)] + [(int(o), None) for o in problem.options_of(u)[0]]
        if table.run_of(u) >= 0:
            mine += [(-1, s) for s in _schedules(problem, u)]
        choices.append(mine)
    best = np.inf
    for combo in itertools.product(*choices):
        assign = np.array([o for o, _ in combo], np.int32)
        schedule = {u: s for u, (_, s) in enumerate(combo) if s is not None}
        missing = [u for u in range(problem.num_units) if assign[u] < 0 and u not in schedule]
        if any(problem.must_place_u[u] for u in missing):
            continue
        if (row_loads(problem, assign, schedule) > problem.cap_r + 1e-9).any():
            continue
        if broken_caps(problem, assign, schedule, tol=1e-9).size:  # caps per period
            continue
        best = min(best, objective_value(problem, assign, schedule))
    return float(best)


@pytest.mark.parametrize(
    ("preemptible", "move_h", "usd", "restore_h"),
    [
        (False, 0.0, 3.0, None),  # moves without a pause
        (False, 0.5, 1.0, None),  # the move's hours make it dearer: contiguous
        (True, 0.25, 2.0, 0.25),  # pauses in one pool
        (True, 0.5, 0.5, 0.0),
        (True, 0.0, 20.0, 0.0),  # pauses, then moves
    ],
)
def test_milp_equals_brute_force(
    preemptible: bool, move_h: float, usd: float, restore_h: float | None
) -> None:
    # pools of different speed (fra: T4, where 2.5 h on L4 take 4.65 h), the dataset at
    # fra (egress to muc); the second run, preemptible, competes for the pools
    fra, muc = [0.05, 2.0, 5.0, 0.5, 5.0], [5.0, 0.05, 5.0, 2.0, 0.05]
    first = run("a", 2.5, usd, move_h, accelerators=["L4", "T4"], preemptible=preemptible)
    first["dataset"] = {"site": "fra", "size_gb": 200}
    if restore_h is not None:
        first["restore_overhead_h"] = restore_h
    second = run("b", 1.0, None, must_place=False, value_usd_per_h=30.0, preemptible=True)
    data = scenario([first, second], fra, muc)
    data["sites"][0]["pools"][0]["accelerator"] = "T4"
    sc = Scenario.model_validate(data)
    problem, _ = compile_problem(sc)
    result = SOLVERS["milp"](problem, SolveOptions(time_limit_s=20))
    assert result.status == "optimal" and result.preempt_schedule is not None
    best = _brute_force(problem)
    assert result.objective_usd_per_h == pytest.approx(best, rel=1e-7)
    assert result.bound_usd_per_h <= result.objective_usd_per_h + 1e-6
    plan = placer.solve(sc, solver="milp", time_limit_s=20)
    assert verify(sc, plan) == []
    assert plan.objective_usd_per_h == pytest.approx(best, rel=1e-7)


@pytest.mark.parametrize(
    ("preemptible", "usd", "move_h", "budget", "carbon"),
    [
        # caps that make the run move: twice, fra -> muc -> fra ...
        (False, 0.5, 0.0, [104.0, 4.82, 154.4, 112.8, 106.88], None),
        # ... once in period 1 (6.88 USD run + 3 USD move: a cap of 20 lets it) ...
        (False, 3.0, 0.0, [60.0, 20.0, 60.0, 60.0, 60.0], None),
        # ... and not there when the move's USD would break period 1's budget
        (False, 3.0, 0.0, [60.0, 8.0, 60.0, 60.0, 60.0], None),
        (True, 0.5, 0.0, [104.0, 106.88, 100.0, 17.92, 106.88], None),  # pause, then move
        (True, 2.0, 0.25, [60.0, 60.0, 5.0, 60.0, 60.0], None),
        (True, 0.5, 0.0, None, [3.0, 3.0, 3.0, 2.0, 3.0]),  # carbon caps
        (False, 1.0, 0.25, 40.0, None),  # no schedule within the caps
        (True, 0.5, 0.25, 30.0, 2.0),  # none either
    ],
)
def test_milp_with_caps_per_period_equals_brute_force(
    preemptible: bool, usd: float, move_h: float, budget, carbon
) -> None:
    """Budgets and carbon caps per period with runs that migrate: the MILP's optimum
    equals the brute force's over every schedule within the caps (`usage.period_spend`:
    each period's cost and carbon, the egress once per site in the window's first period,
    each move's USD in its period), and the verifier, which recomputes the spend per
    period from the scenario, finds nothing wrong."""
    fra, muc = [0.05, 2.0, 5.0, 0.5, 5.0], [5.0, 0.05, 5.0, 2.0, 0.05]
    first = run("a", 2.5, usd, move_h, accelerators=["L4", "T4"], preemptible=preemptible)
    first["dataset"] = {"site": "fra", "size_gb": 200}
    if preemptible:
        first["restore_overhead_h"] = 0.25
    second = run("b", 1.0, None, must_place=False, value_usd_per_h=30.0, preemptible=True)
    data = scenario([first, second], fra, muc)
    data["sites"][0]["pools"][0]["accelerator"] = "T4"
    data["objective"] = {"budget_usd_per_period_h": budget, "carbon_cap_kg_per_period_h": carbon}
    sc = Scenario.model_validate(data)
    problem, _ = compile_problem(sc)
    result = SOLVERS["milp"](problem, SolveOptions(time_limit_s=20))
    best = _brute_force(problem)
    if not np.isfinite(best):  # no schedule within the caps: the MILP proves it too
        assert result.status == "infeasible"
        return
    assert result.status == "optimal"
    assert result.objective_usd_per_h == pytest.approx(best, rel=1e-7)
    schedule = result.preempt_schedule or {}
    assert broken_caps(problem, result.assign_u, schedule).size == 0
    plan = placer.solve(sc, solver="milp", time_limit_s=20)
    assert verify(sc, plan) == []
    assert plan.objective_usd_per_h == pytest.approx(best, rel=1e-7)
    assert plan.horizon is not None and plan.horizon.cost_usd_per_period_h is not None
    # what the plan states per period is what the problem counts, moves included
    spend = period_spend(problem, result.assign_u, schedule)
    caps = problem.period_caps
    assert plan.horizon.cost_usd_per_period_h == pytest.approx(
        spend[caps.row_tk[:, 0]].tolist(), abs=1e-9
    )


def test_caps_per_period_bind_on_a_move() -> None:
    """The hand case's run moves from fra to muc in period 2 (10 USD): with a budget of
    period 2 that the move's USD would break, it moves in period 3 instead, or not at all,
    and the verifier counts the move in its period."""
    cheap = period_usd(CHEAP)
    data = scenario([run("ft", 4, 10.0)])
    free = placer.solve(Scenario.model_validate(data), solver="milp", time_limit_s=10)
    (p,) = free.placements
    assert p.moves == 1 and p.segments[1].start_period == 2
    assert free.horizon.cost_usd_per_period_h is None
    data["objective"] = {"budget_usd_per_period_h": [100.0, 100.0, cheap + 5.0, 100.0]}
    sc = Scenario.model_validate(data)
    plan = placer.solve(sc, solver="milp", time_limit_s=10)
    assert verify(sc, plan) == []
    (q,) = plan.placements
    assert q.moves != 1 or q.segments[1].start_period != 2
    assert plan.horizon.cost_usd_per_period_h[2] <= cheap + 5.0 + 1e-6
    # a plan that moves in period 2 anyway is caught by the verifier, in period 2
    forged = free.model_copy(
        update={
            "horizon": free.horizon.model_copy(
                update={
                    "cost_usd_per_period_h": [cheap, cheap, cheap + 10.0, cheap],
                    "budget_usd_per_period_h": [100.0, 100.0, cheap + 5.0, 100.0],
                    "carbon_kg_per_period_h": plan.horizon.carbon_kg_per_period_h,
                    "carbon_cap_kg_per_period_h": plan.horizon.carbon_cap_kg_per_period_h,
                }
            )
        }
    )
    found = [(v.kind, v.subject) for v in verify(sc, forged)]
    assert ("period_budget", "period 2") in found
    assert all(kind != "kpi" for kind, subject in found if subject == "horizon")


def test_a_preemptible_run_moves_after_a_pause() -> None:
    # dear in the middle everywhere, then fra dear: pause, then resume at muc
    fra, muc = [CHEAP, DEAR, DEAR, DEAR], [DEAR, DEAR, DEAR, CHEAP]
    data = scenario([run("ft", 2, 1.0, preemptible=True, restore_overhead_h=0.0)], fra, muc)
    sc, plan = solved(data)
    assert plan.status == "optimal" and verify(sc, plan) == []
    (p,) = plan.placements
    assert p.segments is not None
    assert [(s.start_period, s.site) for s in p.segments] == [(0, "fra"), (3, "muc")]
    assert p.moves == 1 and p.resumes == 0  # a start in another pool is a move
    assert p.cost_usd == pytest.approx(2 * period_usd(CHEAP))


# -- (3) forged plans --------------------------------------------------------------------


def _kinds(sc: Scenario, plan: Plan) -> set[str]:
    return {v.kind for v in verify(sc, plan)}


def test_forged_plans_fail_verification() -> None:
    data = scenario([run("ft", 4, 10.0)])
    sc, plan = solved(data)
    assert verify(sc, plan) == []
    (p,) = plan.placements
    assert p.segments is not None
    # a move where the workload may not migrate
    fixed = copy.deepcopy(data)
    del fixed["workloads"][0]["migration_usd"], fixed["workloads"][0]["migration_overhead_h"]
    assert "migrate" in _kinds(Scenario.model_validate(fixed), plan)
    # too few hours: 1 h per move, and 4 periods for 4 h
    slow = copy.deepcopy(data)
    slow["workloads"][0]["migration_overhead_h"] = 1.0
    assert "preempt" in _kinds(Scenario.model_validate(slow), plan)
    # a pause, but the run is not preemptible
    late = Segment(**{**p.segments[1].model_dump(), "start_period": 3, "periods": 1})
    late = late.model_copy(
        update={"start": "2020-06-01T03:00:00+00:00", "end": "2020-06-01T04:00:00+00:00"}
    )
    paused = p.model_copy(update={"segments": [p.segments[0], late]})
    assert "preempt" in _kinds(sc, plan.model_copy(update={"placements": [paused]}))
    # a misstated move cost, and moves on a placement without segments
    cheap = p.model_copy(update={"migration_usd": 1.0})
    assert "kpi" in _kinds(sc, plan.model_copy(update={"placements": [cheap]}))
    _, still = solved(scenario([run("ft", 4, 200.0)]))
    moved = still.placements[0].model_copy(update={"moves": 1, "migration_usd": 200.0})
    assert "migrate" in _kinds(sc, still.model_copy(update={"placements": [moved]}))
    # a segment in a pool of an accelerator type the run does not accept
    t4 = copy.deepcopy(data)
    t4["sites"][1]["pools"][0]["accelerator"] = "T4"
    t4["workloads"][0]["accelerators"] = ["L4"]
    second = p.segments[1].model_copy(update={"pool": "T4", "accelerator": "T4"})
    odd = p.model_copy(update={"segments": [p.segments[0], second]})
    forged = plan.model_copy(update={"placements": [odd]})
    assert "accelerator" in _kinds(Scenario.model_validate(t4), forged)
    # a misstated segment figure
    dear = p.segments[1].model_copy(update={"cost_usd": 1.0})
    bad = p.model_copy(update={"segments": [p.segments[0], dear]})
    assert "kpi" in _kinds(sc, plan.model_copy(update={"placements": [bad]}))
    # before its earliest start, and past the horizon's end
    early = copy.deepcopy(data)
    early["workloads"][0]["earliest_start"] = "2020-06-01T01:00:00+00:00"
    assert "earliest_start" in _kinds(Scenario.model_validate(early), plan)
    longer = p.segments[1].model_copy(
        update={"periods": 3, "end": "2020-06-01T05:00:00+00:00", "cost_usd": None}
    )
    past = p.model_copy(update={"segments": [p.segments[0], longer]})
    assert "horizon" in _kinds(sc, plan.model_copy(update={"placements": [past]}))


def test_every_kind_of_verify_preempt_is_covered() -> None:
    """The kinds verify_preempt.py emits itself are the ones this file and
    tests/test_preempt.py trigger (its pair rules are verify's: tests/test_verify.py)."""
    import ast

    source = (Path(__file__).parent.parent / "placer" / "plan" / "verify_preempt.py").read_text()
    kinds = {
        node.args[0].value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "Violation"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    assert kinds == {"preempt", "migrate", "kpi", "earliest_start", "horizon", "deadline"}


# -- (4) bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ("negative", "migration_usd", "greater than or equal to 0"),
        ("negative_overhead", "migration_overhead_h", "greater than or equal to 0"),
        ("no_horizon", "migration_usd", "needs a horizon"),
        ("overhead_alone", "migration_overhead_h", "only a run that may migrate"),
        ("inference", "migration_usd", "a field of training runs"),
    ],
)
def test_bad_values_name_the_field(tmp_path: Path, change: str, field: str, message: str) -> None:
    data = scenario([run("ft", 2, 5.0)])
    w = data["workloads"][0]
    if change == "negative":
        w["migration_usd"] = -1.0
    elif change == "negative_overhead":
        w["migration_overhead_h"] = -0.5
    elif change == "no_horizon":
        del data["horizon"]
        for s in data["sites"]:
            s["power"]["price_usd_per_kwh"] = 0.05
    elif change == "overhead_alone":
        del w["migration_usd"]
    else:
        data["workloads"].append(
            {
                "id": "chat",
                "kind": "inference",
                "demand_rps": {"fra": 10},
                "serving": {"L4": {"rps_per_replica": 10}},
                "latency_slo_ms": 50,
                "migration_usd": 5.0,
            }
        )
        data["user_regions"] = [
            {"id": "fra", "location": {"lat": 50.11, "lon": 8.68, "country": "DE"}}
        ]
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(data))
    result = CliRunner().invoke(cli, ["validate", str(path)], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert field in result.output and message in result.output
    assert "Traceback" not in result.output


# -- (5) the CLI -------------------------------------------------------------------------


def test_cli_solve_lists_the_segments_and_their_pools(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario([run("ft", 4, 10.0)])))
    result = CliRunner().invoke(
        cli, ["solve", str(path), "--solver", "milp", "--time-limit-s", "10"]
    )
    assert result.exit_code == 0, result.output
    assert "Preempted runs" in result.output
    assert "fra/L4" in result.output and "muc/L4" in result.output
    assert "1 move" in result.output and "Moves between pools: 10.00 USD" in result.output
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(
        cli, ["solve", str(path), "--solver", "milp", "--time-limit-s", "10", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    (p,) = doc["placements"]
    assert p["moves"] == 1 and [s["site"] for s in p["segments"]] == ["fra", "muc"]
    assert doc["horizon"]["migration_cost_usd"] == pytest.approx(10.0)
    verified = CliRunner().invoke(cli, ["verify", str(path), str(out)])
    assert verified.exit_code == 0, verified.output


# -- (5) found by the property test (tests/strategies.py now draws runs that move) --------


def test_a_site_without_pools_after_the_others_keeps_the_rows_aligned() -> None:
    """The table's rows were laid out for the sites that have pools: a pool-less site
    listed last shifted every later period's rows, and the MILP placed a run over a
    site's IT cap."""
    data = scenario([run("ft", 2, 10.0)])
    data["sites"].append(
        {
            "id": "empty",
            "tier": "cloud",
            "location": {"lat": 52.52, "lon": 13.40, "country": "DE"},
            "power": {"pue": 1.2, "price_usd_per_kwh": 0.1, "carbon_g_per_kwh": 300},
            "pools": [],
        }
    )
    sc = Scenario.model_validate(data)
    problem, index = compile_problem(sc)
    table = problem.preempt
    assert table is not None
    period_r = index.time.period_r
    for e in range(table.period_e.size):
        rows = table.row_ej[e][table.row_ej[e] >= 0]
        assert rows.size and (period_r[rows] == table.period_e[e]).all()
    for solver in ("milp", "hybrid"):
        plan = placer.solve(sc, solver=solver, time_limit_s=10)
        assert verify(sc, plan) == []


def test_a_run_that_moves_with_no_whole_period_in_its_window_compiles() -> None:
    """Its window (2.5 h to 3.2 h of hourly periods) holds no whole period: it has no
    preemption choice, and compile raised 'repeats may not contain negative values'."""
    short = run(
        "ft",
        0.5,
        10.0,
        earliest_start="2020-06-01T02:30:00+00:00",
        deadline="2020-06-01T03:12:00+00:00",
    )
    sc = Scenario.model_validate(scenario([short, run("other", 1, 10.0)]))
    problem, _ = compile_problem(sc)
    assert problem.preempt is not None  # "other"'s choices
    plan = placer.solve(sc, solver="milp", time_limit_s=10)
    assert plan.status in ("optimal", "feasible", "infeasible", "no_solution")
    assert {v.kind for v in verify(sc, plan)} <= {"must_place"}
