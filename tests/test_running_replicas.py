"""A service's replicas running before the horizon (`running_replicas`, docs/time.md):
period 0's start-ups are charged against them, in the MILP (its brute-force check is
tests/test_startup_cost.py's), every engine's objective, the budget per period, the
verifier's recount, and the language's refusals."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import placer
from placer.api import PERIOD_CAP_SOLVERS
from placer.model.scenario import Scenario
from placer.plan.verify import recompute_kpis, verify
from placer.problem.compile import compile_problem
from tests.conftest import _MINIMAL_SCENARIO
from tests.test_startup_cost import (
    LIMIT_S,
    START,
    by_period,
    flip,
    rich_with_startups,
    run,
    solved,
)


def test_running_replicas_make_staying_free_and_moving_charged() -> None:
    """Five hours, fra-a cheap in hours 0, 2 and 4: with a high start-up cost the service
    stays on one site. From nothing it stays on fra-a (3 cheap hours); with its 2 replicas
    already on fra-b, moving to fra-a would start 2, so it stays on fra-b."""
    scenario, fresh = solved(flip(periods=5, startup=1000.0))
    assert fresh.status == "optimal" and verify(scenario, fresh) == []
    assert by_period(fresh) == {t: {"fra-a"} for t in range(5)}
    assert fresh.startup[0].replicas_started == 0
    running = flip(periods=5, startup=1000.0, running_replicas={"fra-b/L4": 2})
    scenario, plan = solved(running)
    assert plan.status == "optimal" and verify(scenario, plan) == []
    assert by_period(plan) == {t: {"fra-b"} for t in range(5)}
    assert plan.startup[0].replicas_started == 0 and plan.startup[0].cost_usd == 0.0


def test_period_zero_start_ups_are_charged_by_hand_arithmetic() -> None:
    """A small cost: it still moves to the cheap site every hour; from 2 replicas on fra-b
    the first hour on fra-a starts 2 more than from nothing (8 -> 10)."""
    _, fresh = solved(flip(periods=5, startup=0.01))
    scenario, plan = solved(flip(periods=5, startup=0.01, running_replicas={"fra-b/L4": 2}))
    assert plan.status == "optimal" and verify(scenario, plan) == []
    assert by_period(plan) == by_period(fresh)
    assert (fresh.startup[0].replicas_started, plan.startup[0].replicas_started) == (8, 10)
    assert plan.objective_usd_per_h == pytest.approx(fresh.objective_usd_per_h + 0.02 / 5)
    # running replicas on the pool it starts on: period 0 starts none of them
    same = flip(periods=5, startup=0.01, running_replicas={"fra-a/L4": 1, "fra-b/L4": 0})
    scenario, plan = solved(same)
    assert plan.status == "optimal" and verify(scenario, plan) == []
    assert plan.startup[0].replicas_started == 9


def test_the_compiled_table_holds_the_running_replicas_by_pool() -> None:
    data = rich_with_startups()
    chat = next(w for w in data["workloads"] if w["id"] == "chat")
    chat["running_replicas"] = {"fra/l4": 1}
    problem, index = compile_problem(Scenario.model_validate(data))
    table = problem.startup
    assert table is not None and table.before_wp is not None
    # services in id order (api, chat): api states none, its period 0 stays free
    assert table.charged_from_period().tolist() == [1, 0]
    assert table.before_wp[0].tolist() == [-1] * problem.num_pools
    expected = [1 if info.name == "fra/l4" else 0 for info in index.pools]
    assert table.before_wp[1].tolist() == expected and sum(expected) == 1


# relax and search report through the same `usage` accounting (test_startup_cost runs
# them on start-ups); these three also honour the budget per period
def running_with_a_tight_budget() -> dict[str, Any]:
    """The rich scenario with running replicas on two pools of one service, none on the
    other's, and a budget per period 5% above the MILP optimum's dearest period."""
    data = rich_with_startups()
    for w in data["workloads"]:
        if w["id"] == "chat":
            w["running_replicas"] = {"fra/l4": 2, "ams/L4": 1}
        if w["id"] == "api":
            w["running_replicas"] = {}
    data.setdefault("objective", {})["budget_usd_per_period_h"] = 1e6
    _, best = solved(copy.deepcopy(data), "milp")
    assert best.status == "optimal" and best.objective_usd_per_h is not None
    assert best.horizon is not None and best.horizon.cost_usd_per_period_h is not None
    data["objective"]["budget_usd_per_period_h"] = max(best.horizon.cost_usd_per_period_h) * 1.05
    return data


@pytest.mark.parametrize("solver", ["greedy", "milp", "hybrid"])
def test_every_engine_reports_the_true_objective(solver: str) -> None:
    """With running replicas and a budget per period (`running_with_a_tight_budget`):
    every plan verifies (its start-ups in period 0 and the budget of each period
    recounted from the scenario)."""
    assert solver in PERIOD_CAP_SOLVERS
    scenario = Scenario.model_validate(running_with_a_tight_budget())
    plan = placer.solve(scenario, solver=solver, time_limit_s=LIMIT_S[solver])
    if plan.status not in ("optimal", "feasible"):
        assert solver == "greedy"  # greedy may leave must-place units out, and says so
        return
    assert verify(scenario, plan) == [], [str(v) for v in verify(scenario, plan)]
    kpis = recompute_kpis(scenario, plan)
    assert plan.objective_usd_per_h == pytest.approx(kpis.objective_usd_per_h, rel=1e-9)


def test_the_hybrid_keeps_a_budget_per_period_within_any_limit() -> None:
    """The hybrid's rounding does not see a budget per period (greedy's fallback misses
    this one): its MILP must run even when the relaxation's compile took the whole limit.
    A 0.01 s limit gave "no_solution" when the MILP needed a second left."""
    scenario = Scenario.model_validate(running_with_a_tight_budget())
    plan = placer.solve(scenario, solver="hybrid", time_limit_s=0.01)
    assert plan.status in ("optimal", "feasible"), plan.message
    assert verify(scenario, plan) == []
    assert any(d.startswith("MILP over 4 pools per unit") for d in plan.diagnostics)


def test_verify_recounts_period_zero_from_the_scenario() -> None:
    """A plan made without running replicas states 8 start-ups; against the scenario
    that states 2 replicas on fra-b its first hour on fra-a starts 2 more."""
    _, fresh = solved(flip(periods=5, startup=0.01))
    running = Scenario.model_validate(
        flip(periods=5, startup=0.01, running_replicas={"fra-b/L4": 2})
    )
    kinds = {(v.kind, v.subject) for v in verify(running, fresh)}
    assert ("kpi", "chat") in kinds
    messages = " ".join(str(v) for v in verify(running, fresh))
    assert "replicas_started" in messages


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("unknown pool", "unknown id 'fra/H100'"),
        ("no price", "give startup_usd_per_replica too"),
        ("negative", "greater than or equal to 0"),
        ("not whole", "valid integer"),
        # named first: running_replicas needs it, and it needs a horizon
        ("static", "startup_usd_per_replica: a time field needs a horizon"),
    ],
)
def test_cli_refuses_misstated_running_replicas(tmp_path: Path, change: str, message: str) -> None:
    data: dict[str, Any] = copy.deepcopy(_MINIMAL_SCENARIO)
    data["horizon"] = {"start": START, "period_hours": 1, "periods": 3}
    service = data["workloads"][1]
    site = data["sites"][0]
    pool = f"{site['id']}/{site['pools'][0].get('id', site['pools'][0]['accelerator'])}"
    service["startup_usd_per_replica"] = 5.0
    service["running_replicas"] = {pool: 2}
    if change == "unknown pool":
        service["running_replicas"] = {"fra/H100": 2}
    elif change == "no price":
        del service["startup_usd_per_replica"]
    elif change == "negative":
        service["running_replicas"] = {pool: -1}
    elif change == "not whole":
        service["running_replicas"] = {pool: 1.5}
    else:
        del data["horizon"]
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(data))
    result = run("validate", str(path))
    assert result.exit_code == 2, result.output
    field = "startup_usd_per_replica" if change == "static" else "running_replicas"
    assert field in result.output and message in result.output, result.output
    assert "Traceback" not in result.output
    # the valid form loads
    if change == "unknown pool":
        service["running_replicas"] = {pool: 2}
        path.write_text(json.dumps(data))
        valid = run("validate", str(path))  # loads (its 3 h are too short for the run)
        assert valid.exit_code != 2 and ": valid" in valid.output, valid.output
