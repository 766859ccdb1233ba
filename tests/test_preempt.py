"""Preemptible training runs in timed scenarios (`preemptible`, `restore_overhead_h`,
docs/time.md): nothing changes without the field, a hand case, the exact MILP against
brute force, every engine's plan verified (and its bound), forged plans refused, and the
CLI's refusals."""

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
from placer.problem.preempt import feasible_schedule
from placer.problem.usage import objective_value, row_loads

ROOT = Path(__file__).resolve().parent.parent
SMALL_DAY = ROOT / "configs" / "time" / "small_day.yaml"
START = "2020-06-01T00:00:00+00:00"
#: small_day's objectives at HEAD before preemption existed (commit cf3416d).
SMALL_DAY_USD_PER_H = {"milp": 328.3469882280168, "greedy": 328.63715839711006}
SPIKE = [0.05, 5.0, 5.0, 0.05]  # USD/kWh: dear in the middle periods
GPU_USD_PER_H = 0.8
KW = 8.0  # IT kW of 8 GPUs: one node of 8 kW


def scenario(
    prices: list[float] | None = None,
    runs: list[dict[str, Any]] | None = None,
    gpus: int = 8,
) -> dict[str, Any]:
    """One Frankfurt site with one 8-GPU L4 pool (one node of 8 kW, so a run of 8 GPUs at
    full load draws 8 kW IT, 9.6 kW at the facility), hourly prices `prices`."""
    prices = prices or SPIKE
    site = {
        "id": "fra",
        "tier": "onprem",
        "location": {"lat": 50.11, "lon": 8.68, "country": "DE"},
        "power": {
            "it_capacity_kw": 100,
            "pue": 1.2,
            "price_usd_per_kwh": prices,
            "carbon_g_per_kwh": 300,
        },
        "cooling": {"type": "liquid", "max_rack_density_kw": 50},
        "pools": [
            {
                "accelerator": "L4",
                "gpus": gpus,
                "gpus_per_node": 8,
                "node_power_kw": KW,
                "cost_usd_per_gpu_h": GPU_USD_PER_H,
            }
        ],
    }
    runs = runs or [run("ft", 2, 0.1)]
    return {
        "apiVersion": "placer/v1",
        "kind": "Scenario",
        "metadata": {"name": "preempt"},
        "horizon": {"start": START, "period_hours": 1, "periods": len(prices)},
        "sites": [site],
        "workloads": runs,
    }


def run(wid: str, hours: float, overhead: float | None, **more: Any) -> dict[str, Any]:
    out = {
        "id": wid,
        "kind": "training",
        "gpus": 8,
        "hours": hours,
        "accelerators": ["L4"],
        "utilization": 1.0,
        "preemptible": True,
        **more,
    }
    if overhead is not None:
        out["restore_overhead_h"] = overhead
    return out


def solved(data: dict[str, Any], solver: str = "milp", limit: float = 10.0):
    sc = Scenario.model_validate(data)
    return sc, placer.solve(sc, solver=solver, time_limit_s=limit)


# -- (1) without the field nothing changes -------------------------------------------


@pytest.mark.parametrize("solver", ["milp", "greedy"])
def test_small_day_without_the_field_solves_as_before(solver: str) -> None:
    sc = placer.load(SMALL_DAY)
    problem, _ = compile_problem(sc)
    assert problem.preempt is None
    plan = placer.solve(sc, solver=solver, time_limit_s=30)
    assert plan.objective_usd_per_h == pytest.approx(SMALL_DAY_USD_PER_H[solver], rel=1e-9)
    assert all(p.segments is None and p.resumes is None for p in plan.placements)


def test_small_day_with_preemptible_runs_is_no_dearer() -> None:
    doc = placer.load(SMALL_DAY).model_dump(mode="json", exclude_none=True)
    for w in doc["workloads"]:
        if w["kind"] == "training":
            w["preemptible"] = True
    sc, plan = solved(doc, "milp", 60)
    assert plan.status == "optimal" and verify(sc, plan) == []
    assert plan.objective_usd_per_h <= SMALL_DAY_USD_PER_H["milp"] + 1e-6


# -- (2) a hand case: a price spike in the middle periods ----------------------------


def test_pauses_over_a_price_spike_when_the_overhead_is_small() -> None:
    sc, plan = solved(scenario(runs=[run("ft", 2, 0.0)]))
    assert plan.status == "optimal" and verify(sc, plan) == []
    (p,) = plan.placements
    assert p.segments is not None and p.resumes == 1
    assert [(s.start_period, s.periods) for s in p.segments] == [(0, 1), (3, 1)]
    assert p.start_period == 0 and p.periods == 2 and p.end == "2020-06-01T04:00:00+00:00"
    # by hand: two whole periods of 8 GPUs x 0.8 USD/h and 9.6 kW at 0.05 USD/kWh
    cost = 2 * (8 * GPU_USD_PER_H + KW * 1.2 * 0.05)
    assert p.cost_usd == pytest.approx(cost)
    assert p.carbon_kg == pytest.approx(2 * KW * 1.2 * 0.3)
    assert plan.horizon is not None and plan.horizon.cost_usd == pytest.approx(cost)
    assert plan.objective_usd_per_h == pytest.approx(cost / 4)


def test_runs_contiguously_when_the_overhead_is_large() -> None:
    sc, plan = solved(scenario(runs=[run("ft", 2, 1.5)]))
    assert plan.status == "optimal" and verify(sc, plan) == []
    (p,) = plan.placements
    assert p.segments is None and p.resumes is None and p.periods == 2
    # by hand: two periods, one of them in the spike
    cost = 2 * 8 * GPU_USD_PER_H + KW * 1.2 * (0.05 + 5.0)
    assert p.cost_usd == pytest.approx(cost)


def test_default_overhead_and_the_compiled_table() -> None:
    data = scenario(runs=[run("ft", 2, None)])
    sc = Scenario.model_validate(data)
    assert sc.workloads[0].overhead_h == 0.25
    problem, _ = compile_problem(sc)
    table = problem.preempt
    assert table is not None and table.unit_v.tolist() == [0]
    assert table.period_e.tolist() == [0, 1, 2, 3] and table.need_h_c.tolist() == [2.0]
    # its contiguous options stay
    assert problem.num_pairs() == 3
    sub = problem.take_units(np.array([0]))
    assert sub.preempt is not None and sub.preempt.num_runs == 1
    # with 0.25 h per resume, periods 0 and 3 cover 2 h + 0.25 h: no; three periods do
    assert not feasible_schedule(table, 0, 0, (0, 3))
    assert feasible_schedule(table, 0, 0, (0, 1, 3))


# -- (3) brute force over every period subset ----------------------------------------


def _brute_force(problem) -> float:
    """The least objective over every choice of each run: unplaced, a contiguous option,
    or any feasible set of periods of its window; capacities held."""
    table = problem.preempt
    assert table is not None
    choices: list[list[tuple[int, tuple[int, tuple[int, ...]] | None]]] = []
    for u in range(problem.num_units):
        mine: list = [(-1, None)]
        mine += [(int(o), None) for o in problem.options_of(u)[0]]
        c = table.choice_of(u, 0)
        periods = table.period_e[table.entries_of(c)].tolist()
        for n in range(1, len(periods) + 1):
            for subset in itertools.combinations(periods, n):
                if feasible_schedule(table, u, 0, subset):
                    mine.append((-1, (0, subset)))
        choices.append(mine)
    best = np.inf
    for combo in itertools.product(*choices):
        assign = np.array([o for o, _ in combo], np.int32)
        schedule = {u: s for u, (_, s) in enumerate(combo) if s is not None}
        missing = [u for u in range(problem.num_units) if assign[u] < 0 and u not in schedule]
        if any(problem.must_place_u[u] for u in missing):
            continue
        loads = row_loads(problem, assign, schedule)
        if (loads > problem.cap_r + 1e-9).any():
            continue
        best = min(best, objective_value(problem, assign, schedule))
    return float(best)


@pytest.mark.parametrize("overhead", [0.0, 0.5, 1.0])
def test_milp_equals_brute_force(overhead: float) -> None:
    prices = [0.4, 3.0, 0.1, 2.0, 0.2, 0.3]
    runs = [
        run("a", 2.5, overhead, must_place=True),
        run("b", 2.0, overhead, must_place=False, value_usd_per_h=40.0, deadline_hours=5),
    ]
    sc = Scenario.model_validate(scenario(prices=prices, runs=runs))
    problem, _ = compile_problem(sc)
    result = SOLVERS["milp"](problem, SolveOptions(time_limit_s=20))
    assert result.status == "optimal" and result.preempt_schedule is not None
    assert result.objective_usd_per_h == pytest.approx(_brute_force(problem), rel=1e-7)
    assert result.bound_usd_per_h <= result.objective_usd_per_h + 1e-6
    plan = placer.solve(sc, solver="milp", time_limit_s=20)
    assert verify(sc, plan) == []
    assert plan.objective_usd_per_h == pytest.approx(result.objective_usd_per_h, rel=1e-7)


# -- (4) every engine: a verified plan, no false bound -------------------------------


@pytest.mark.parametrize("solver", ["greedy", "relax", "search", "hybrid"])
def test_every_engine_gives_a_verified_plan_and_no_false_bound(solver: str) -> None:
    prices = [0.4, 3.0, 0.1, 2.0, 0.2, 0.3]
    data = scenario(prices=prices, runs=[run("a", 2.0, 0.0), run("b", 2.0, 0.0)], gpus=16)
    sc, exact = solved(data, "milp")
    assert exact.status == "optimal" and verify(sc, exact) == []
    assert any(p.segments for p in exact.placements)
    _, plan = solved(data, solver, 5.0)
    assert verify(sc, plan) == []
    if solver == "greedy":  # the agnostic baseline: contiguous, a restriction
        assert all(p.segments is None for p in plan.placements)
    else:  # the others' plans are polished: the runs may pause (preempt_polish)
        assert any("preemption polish" in d for d in plan.diagnostics)
    assert plan.objective_usd_per_h >= exact.objective_usd_per_h - 1e-6
    assert plan.bound_usd_per_h is None or plan.bound_usd_per_h <= exact.objective_usd_per_h
    assert plan.status != "optimal" or plan.objective_usd_per_h == pytest.approx(
        exact.objective_usd_per_h
    )


# -- (5) forged plans ----------------------------------------------------------------


def _kinds(sc: Scenario, plan: Plan) -> set[str]:
    return {v.kind for v in verify(sc, plan)}


def _segment(a: int, n: int) -> Segment:
    at = lambda t: f"2020-06-01T{t:02d}:00:00+00:00"  # noqa: E731
    return Segment(start_period=a, periods=n, start=at(a), end=at(a + n))


def test_forged_plans_fail_verification() -> None:
    sc, plan = solved(scenario(runs=[run("ft", 2, 0.0)]))
    assert verify(sc, plan) == []
    (p,) = plan.placements
    # overlapping segments
    overlap = p.model_copy(update={"segments": [_segment(0, 2), _segment(1, 1)]})
    assert "preempt" in _kinds(sc, plan.model_copy(update={"placements": [overlap]}))
    # too little running time: 0.5 h of overhead per resume and 2 periods for 2 h
    slow = Scenario.model_validate(scenario(runs=[run("ft", 2, 0.5)]))
    assert "preempt" in _kinds(slow, plan)
    # two pools: the run placed twice
    again = p.model_copy(update={"pool": p.pool})
    assert "duplicate" in _kinds(sc, plan.model_copy(update={"placements": [p, again]}))
    # a misstated cost
    dear = p.model_copy(update={"cost_usd": (p.cost_usd or 0.0) + 5.0})
    assert "kpi" in _kinds(sc, plan.model_copy(update={"placements": [dear]}))
    # a run that is not preemptible may not pause
    fixed = scenario(runs=[run("ft", 2, None)])
    fixed["workloads"][0]["preemptible"] = False
    assert "preempt" in _kinds(Scenario.model_validate(fixed), plan)
    # outside its window: a deadline before period 3's end
    late = scenario(runs=[run("ft", 2, 0.0, deadline_hours=3.5)])
    assert "deadline" in _kinds(Scenario.model_validate(late), plan)


# -- (6) the CLI's refusals ----------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ("negative", "restore_overhead_h", "greater than or equal to 0"),
        ("no_horizon", "preemptible", "needs a horizon"),
        ("overhead_alone", "restore_overhead_h", "only a preemptible run"),
        ("inference", "preemptible", ""),
    ],
)
def test_cli_refuses_bad_values(tmp_path: Path, change: str, field: str, message: str) -> None:
    data = copy.deepcopy(scenario(runs=[run("ft", 2, 0.1)]))
    w = data["workloads"][0]
    if change == "negative":
        w["restore_overhead_h"] = -1.0
    elif change == "no_horizon":
        del data["horizon"]
        data["sites"][0]["power"]["price_usd_per_kwh"] = 0.05
        del w["restore_overhead_h"]
    elif change == "overhead_alone":
        w["preemptible"] = False
    else:
        data["workloads"].append(
            {
                "id": "chat",
                "kind": "inference",
                "demand_rps": {"fra": 10},
                "serving": {"L4": {"rps_per_replica": 10}},
                "preemptible": True,
            }
        )
        data["user_regions"] = [
            {"id": "fra", "location": {"lat": 50.11, "lon": 8.68, "country": "DE"}}
        ]
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(data))
    for command in ("validate", "solve"):
        result = CliRunner().invoke(cli, [command, str(path)], catch_exceptions=False)
        assert result.exit_code == 2, result.output
        assert field in result.output and message in result.output
        assert "Traceback" not in result.output


# -- outputs -------------------------------------------------------------------------


def test_text_and_html_show_the_segments() -> None:
    from placer.outputs.html.page import render_html
    from placer.outputs.text_report import schedule_text

    sc, plan = solved(scenario(runs=[run("ft", 2, 0.0)]))
    text = schedule_text(plan)
    assert "Preempted runs" in text and "06-01 00:00-06-01 01:00" in text and "1 resume" in text
    html = render_html(sc, plan)
    assert html.count('class="segment"') == 2
    doc = json.loads(plan.model_dump_json())
    segments = doc["placements"][0]["segments"]
    assert [s["start_period"] for s in segments] == [0, 3] and doc["placements"][0]["resumes"] == 1


def test_a_preempted_plan_is_no_assignment_of_options() -> None:
    from placer.errors import OptionError
    from placer.plan.scoring import assignment_of

    sc, plan = solved(scenario(runs=[run("ft", 2, 0.0)]))
    _, index = compile_problem(sc)
    with pytest.raises(OptionError, match="preempted"):
        assignment_of(plan, index)
    assert assignment_of(plan, index, strict=False).tolist() == [-1]
    # as a hint it is dropped, and the MILP finds the pause again
    again = placer.solve(sc, solver="milp", time_limit_s=10, hint=plan)
    assert again.placements[0].segments is not None and verify(sc, again) == []


def test_a_static_plan_states_no_segments() -> None:
    from tests.conftest import _MINIMAL_SCENARIO

    sc = Scenario.model_validate(copy.deepcopy(_MINIMAL_SCENARIO))
    plan = placer.solve(sc, solver="greedy", time_limit_s=5)
    first = next(p for p in plan.placements if p.kind == "training")
    forged = first.model_copy(update={"segments": [_segment(0, 1)], "resumes": 0})
    placements = [forged if p is first else p for p in plan.placements]
    kinds = {v.kind for v in verify(sc, plan.model_copy(update={"placements": placements}))}
    assert "kpi" in kinds


def test_lexicographic_milp_pauses_a_run_to_place_every_workload() -> None:
    """steady (1 h, may not pause) can run only in period 1; ft (2 h) only in 0-2. A
    contiguous ft would overlap steady: in lexicographic mode the MILP places both
    only by pausing ft over period 1 (it placed ft contiguously or not at all before)."""
    hour = "2020-06-01T0{}:00:00+00:00"
    steady = {**run("steady", 1, None), "preemptible": False}
    steady.update(earliest_start=hour.format(1), deadline=hour.format(2))
    ft = run("ft", 2, 0.0, earliest_start=hour.format(0), deadline=hour.format(3))
    data = scenario(prices=[0.05, 0.05, 0.05, 0.05], runs=[ft, steady])
    data["objective"] = {"mode": "lexicographic"}
    sc, plan = solved(data)
    assert verify(sc, plan) == []
    assert not plan.unplaced
    by_id = {p.workload: p for p in plan.placements}
    assert [(s.start_period, s.periods) for s in by_id["ft"].segments] == [(0, 1), (2, 1)]
    assert by_id["steady"].start_period == 1
    assert any("lexicographic" in line for line in plan.diagnostics)
