"""The start-up cost of added inference replicas in timed scenarios
(`startup_usd_per_replica`, docs/time.md): the language, the compiled structure, the
exact MILP against brute force, every engine's reported objective, the plan's statement
and the verifier's recount, and the CLI's refusals."""

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
from placer.model.scenario import Scenario
from placer.plan.plan import Plan
from placer.plan.verify import recompute_kpis, verify
from placer.problem.compile import compile_problem
from placer.problem.form import Index, Problem
from placer.problem.usage import objective_value, violations
from tests.conftest import _MINIMAL_SCENARIO
from tests.test_verify_time import _rich

ROOT = Path(__file__).resolve().parent.parent
SMALL_DAY = ROOT / "configs" / "time" / "small_day.yaml"
START = "2020-06-01T00:00:00+00:00"
#: The MILP objective of small_day before start-up costs existed (commit 02a07d0).
SMALL_DAY_MILP_USD_PER_H = 328.3469882280168
#: Per-solver limit, s: the JAX engines run to (part of) it.
LIMIT_S = {"milp": 20.0, "greedy": 5.0, "relax": 5.0, "search": 5.0, "hybrid": 5.0}
CHEAP, DEAR = 0.05, 5.0  # USD/kWh


def _site(sid: str, lat: float, lon: float, prices: list[float], gpus: int = 8) -> dict:
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
        "cooling": {"type": "liquid", "max_rack_density_kw": 50},
        "pools": [{"accelerator": "L4", "gpus": gpus, "cost_usd_per_gpu_h": 0.8}],
    }


def flip(
    periods: int = 6,
    startup: float | None = None,
    demand: float | list[float] = 20.0,
    prices: tuple[list[float], list[float]] | None = None,
    **service: Any,
) -> dict[str, Any]:
    """One service of 2 replicas (20 rps at 10 per L4) and two Frankfurt sites with the
    same L4 pool whose power tariffs flip every hour (`CHEAP` at fra-a in even periods,
    at fra-b in odd ones): without a start-up cost it pays to change pools every hour."""
    a, b = prices or (
        [CHEAP if t % 2 == 0 else DEAR for t in range(periods)],
        [DEAR if t % 2 == 0 else CHEAP for t in range(periods)],
    )
    chat: dict[str, Any] = {
        "id": "chat",
        "kind": "inference",
        "demand_rps": {"fra": demand},
        "serving": {"L4": {"rps_per_replica": 10}},
        "latency_slo_ms": 50,
        **service,
    }
    if startup is not None:
        chat["startup_usd_per_replica"] = startup
    return {
        "apiVersion": "placer/v1",
        "kind": "Scenario",
        "metadata": {"name": "flip"},
        "horizon": {"start": START, "period_hours": 1, "periods": periods},
        "sites": [_site("fra-a", 50.11, 8.68, a), _site("fra-b", 50.0, 8.5, b)],
        "user_regions": [{"id": "fra", "location": {"lat": 50.11, "lon": 8.68, "country": "DE"}}],
        "workloads": [chat],
    }


def solved(data: dict[str, Any], solver: str = "milp") -> tuple[Scenario, Plan]:
    scenario = Scenario.model_validate(data)
    return scenario, placer.solve(scenario, solver=solver, time_limit_s=LIMIT_S[solver])


def by_period(plan: Plan) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for p in plan.placements:
        out.setdefault(p.period or 0, set()).add(p.site)
    return out


# -- (1) without the field nothing changes -------------------------------------------


def test_small_day_without_the_field_solves_as_before() -> None:
    scenario = placer.load(SMALL_DAY)
    problem, _ = compile_problem(scenario)
    assert problem.startup is None
    plan = placer.solve(scenario, solver="milp", time_limit_s=30)
    assert plan.status == "optimal"
    assert plan.objective_usd_per_h == pytest.approx(SMALL_DAY_MILP_USD_PER_H, rel=1e-6)
    assert plan.startup == [] and plan.horizon is not None
    assert plan.horizon.startup_cost_usd == 0.0
    # a zero start-up cost builds the start-up rows, and changes no optimum
    doc = scenario.model_dump(mode="json", exclude_none=True)
    next(w for w in doc["workloads"] if w["id"] == "chat")["startup_usd_per_replica"] = 0.0
    zero_scenario, zero = solved(doc)
    assert zero.status == "optimal" and verify(zero_scenario, zero) == []
    assert zero.objective_usd_per_h == pytest.approx(plan.objective_usd_per_h, rel=2e-4)
    assert zero.startup[0].cost_usd == 0.0


def test_static_scenarios_have_no_startup_structure() -> None:
    problem, _ = compile_problem(placer.load(ROOT / "configs" / "eu_sovereign.yaml"))
    assert problem.startup is None


# -- (2) a flipping tariff: thrash without the cost, stay with it --------------------


def test_flipping_tariffs_thrash_without_a_startup_cost() -> None:
    scenario, plan = solved(flip())
    assert plan.status == "optimal" and verify(scenario, plan) == []
    cheap = {t: {"fra-a" if t % 2 == 0 else "fra-b"} for t in range(6)}
    assert by_period(plan) == cheap  # every hour on the site with the cheap tariff
    assert plan.startup == []


def test_a_small_startup_cost_is_charged_by_hand_arithmetic() -> None:
    _, free = solved(flip())
    scenario, plan = solved(flip(startup=0.01))
    assert plan.status == "optimal" and verify(scenario, plan) == []
    assert by_period(plan) == by_period(free)  # still worth moving every hour
    # 2 replicas start in the other pool in each of periods 1..5: 10 x 0.01 USD
    (entry,) = plan.startup
    assert (entry.workload, entry.replicas_started) == ("chat", 10)
    assert entry.usd_per_replica == 0.01 and entry.cost_usd == pytest.approx(0.1)
    assert plan.horizon is not None and plan.horizon.startup_cost_usd == pytest.approx(0.1)
    assert plan.horizon.cost_usd == pytest.approx(free.horizon.cost_usd + 0.1)
    assert plan.objective_usd_per_h == pytest.approx(free.objective_usd_per_h + 0.1 / 6)
    assert plan.totals.cost_usd_per_h == pytest.approx(free.totals.cost_usd_per_h + 0.1 / 6)


def test_a_high_startup_cost_keeps_the_service_on_one_pool() -> None:
    scenario, plan = solved(flip(startup=1000.0))
    assert plan.status == "optimal" and verify(scenario, plan) == []
    sites = {p.site for p in plan.placements}
    assert len(sites) == 1 and len(plan.placements) == 6
    assert plan.startup[0].replicas_started == 0 and plan.startup[0].cost_usd == 0.0
    # its objective is the cheaper plan that stays on one pool, priced without start-ups
    base = Scenario.model_validate(flip())
    problem, _ = compile_problem(base)
    stays = [objective_value(problem, stay(problem, pool)) for pool in range(2)]
    assert plan.objective_usd_per_h == pytest.approx(min(stays), rel=1e-9)


def stay(problem: Problem, pool: int) -> np.ndarray:
    """int32[U]: every unit on its option in `pool`."""
    return np.array(
        [problem.option_uk[u][problem.pool_o[problem.option_uk[u]] == pool][0] for u in range(6)],
        np.int32,
    )


# -- (3) the MILP is exact: brute force on a tiny instance ---------------------------


def by_hand(problem: Problem, index: Index, assign: np.ndarray, usd: float, before=None) -> float:
    """The objective of a fully placed assignment: the compiled per-unit objectives, plus
    the start-ups counted here from the replicas of each unit in each pool and period
    (period 0's against `before`, pool name -> replicas running before, when given)."""
    assert index.time is not None
    n_t = index.time.periods
    placed = 0.0
    replicas = np.zeros((problem.num_pools, n_t + 1), np.int64)  # column 0: before
    for p, info in enumerate(index.pools):
        replicas[p, 0] = (before or {}).get(info.name, 0)
    for u, o in enumerate(assign.tolist()):
        k = int(np.flatnonzero(problem.option_uk[u] == o)[0])
        placed += float(problem.objective_usd_per_h_uk[u, k])
        replicas[problem.pool_o[o], index.units[u].period + 1] += int(index.replicas_uk[u, k])
    added = np.maximum(0, np.diff(replicas, axis=1))
    started = added.sum() if before is not None else added[:, 1:].sum()
    return placed + usd * float(started) / index.time.hours


@pytest.mark.parametrize(
    ("usd", "before"),
    [
        (0.0, None),
        (0.2, None),
        (3.0, None),
        # replicas running before the horizon (`running_replicas`): period 0 counts
        (3.0, {"fra-b/L4": 2}),
        (0.2, {"fra-a/L4": 1}),
        (3.0, {"fra-a/L4": 3, "fra-b/L4": 1}),
    ],
)
def test_milp_optimum_equals_brute_force(usd: float, before: dict[str, int] | None) -> None:
    """3 periods, demand 10 / 30 / 20 rps in two shares (units of 1, 2 and 1 replicas),
    a 3-GPU pool at fra-a, tariffs that make each period prefer a different site."""
    service = {} if before is None else {"running_replicas": before}
    data = flip(
        periods=3,
        startup=usd,
        demand=[10.0, 30.0, 20.0],
        prices=([CHEAP, DEAR, CHEAP], [DEAR, CHEAP, 2.0]),
        split=2,
        **service,
    )
    data["sites"][0]["pools"][0]["gpus"] = 3
    scenario = Scenario.model_validate(data)
    problem, index = compile_problem(scenario)
    assert problem.num_units == 6 and problem.startup is not None
    best = np.inf
    for combo in itertools.product(*(problem.options_of(u)[0] for u in range(6))):
        assign = np.array(combo, np.int32)
        if violations(problem, assign):
            continue
        value = by_hand(problem, index, assign, usd, before)
        assert objective_value(problem, assign) == pytest.approx(value, rel=1e-12, abs=1e-12)
        best = min(best, value)
    plan = placer.solve(scenario, solver="milp", time_limit_s=20, relative_gap=0.0)
    assert plan.status == "optimal" and verify(scenario, plan) == []
    assert plan.objective_usd_per_h == pytest.approx(best, rel=1e-9, abs=1e-12)
    assert plan.bound_usd_per_h is not None and plan.bound_usd_per_h <= best + 1e-9


# -- (4) every engine: verified plans, true objectives, valid bounds ------------------


def rich_with_startups() -> dict[str, Any]:
    """test_verify_time's rich scenario (shares, copies, a profile, a late pool, events)
    with start-up costs on two of its three services."""
    data = _rich()
    for w in data["workloads"]:
        if w["id"] in ("chat", "api"):
            w["startup_usd_per_replica"] = 2.0 if w["id"] == "chat" else 0.5
    return data


@pytest.fixture(scope="module")
def rich_milp() -> tuple[Scenario, Plan]:
    return solved(rich_with_startups(), "milp")


@pytest.mark.parametrize("solver", ["greedy", "milp", "relax", "search", "hybrid"])
def test_every_engine_reports_the_true_objective(
    solver: str, rich_milp: tuple[Scenario, Plan]
) -> None:
    scenario, best = rich_milp
    assert best.status == "optimal" and best.objective_usd_per_h is not None
    _, plan = solved(rich_with_startups(), solver)
    if plan.status not in ("optimal", "feasible"):
        assert solver == "greedy"  # greedy may leave must-place units out, and says so
        return
    assert verify(scenario, plan) == [], [str(v) for v in verify(scenario, plan)]
    kpis = recompute_kpis(scenario, plan)
    assert plan.objective_usd_per_h == pytest.approx(kpis.objective_usd_per_h, rel=1e-9)
    assert {s.workload for s in plan.startup} == {"chat", "api"}
    assert plan.horizon is not None
    assert plan.horizon.startup_cost_usd == pytest.approx(sum(s.cost_usd for s in plan.startup))
    if plan.bound_usd_per_h is not None:
        assert plan.bound_usd_per_h <= best.objective_usd_per_h * (1 + 1e-9) + 1e-9
    assert plan.objective_usd_per_h >= best.objective_usd_per_h * (1 - 1e-4) - 1e-9


def test_score_counts_the_startups(rich_milp: tuple[Scenario, Plan]) -> None:
    scenario, plan = rich_milp
    (scored,) = placer.score(scenario, [plan], engine="numpy")
    assert scored.objective_usd_per_h == pytest.approx(plan.objective_usd_per_h, rel=1e-9)
    assert scored.cost_usd_per_h == pytest.approx(plan.totals.cost_usd_per_h, rel=1e-9)


def test_robust_counts_the_startups(rich_milp: tuple[Scenario, Plan]) -> None:
    """`placer robust` with no spread: every sample pays the plan's start-ups."""
    from placer.analysis.robust import prepare, run_robust
    from placer.model.uncertainty import Uncertainty, with_flags

    scenario, plan = rich_milp
    assert plan.horizon is not None and plan.horizon.startup_cost_usd > 0
    zero = {"demand_sd": 0.0, "price_sd": 0.0, "carbon_sd": 0.0, "gpu_cost_sd": 0.0}
    sampler = prepare(scenario, with_flags(Uncertainty(), **zero))
    p = run_robust(sampler, [("plan", plan, "p")], samples=8, seed=0).plans[0]
    assert p.cost_usd_per_h.nominal == pytest.approx(plan.totals.cost_usd_per_h, rel=1e-9)
    assert p.cost_usd_per_h.mean == pytest.approx(plan.totals.cost_usd_per_h, rel=1e-5)
    assert p.objective_usd_per_h.mean == pytest.approx(plan.objective_usd_per_h, rel=1e-5)


def test_html_report_shows_the_startups(rich_milp: tuple[Scenario, Plan]) -> None:
    from placer.outputs.html_report import render_html

    scenario, plan = rich_milp
    page = render_html(scenario, plan)
    assert plan.horizon is not None
    assert f"{plan.horizon.startup_cost_usd:,.2f} USD for starting inference replicas" in page
    assert '<table id="startup"' in page
    for w in plan.startup:
        assert f"<td>{w.workload}</td>" in page


def test_take_units_keeps_the_startup_of_the_units_taken() -> None:
    problem, _ = compile_problem(Scenario.model_validate(flip(startup=1.0)))
    assert problem.startup is not None
    part = problem.take_units(np.array([1, 2]))
    assert part.startup is not None
    assert part.startup.period_u.tolist() == [1, 2]
    assert part.startup.replicas_uk.shape == (2, problem.num_slots)
    # units 1 and 2 on different pools: unit 0 (period 0) is not taken, as if unplaced,
    # so period 1 starts its 2 replicas, and period 2 its 2 in the other pool
    options = [int(part.option_uk[0, 0]), int(part.option_uk[1, 1])]
    assert part.pool_o[options[0]] != part.pool_o[options[1]]
    assert objective_value(part, np.array(options)) == pytest.approx(
        objective_value(part._replace(startup=None), np.array(options)) + 4 * 1.0 / 6
    )


# -- (5) the verifier recounts the start-ups ------------------------------------------


@pytest.fixture(scope="module")
def thrash() -> tuple[Scenario, Plan]:
    """The flipping tariffs with a small start-up cost: 10 replicas started."""
    return solved(flip(startup=0.01))


def found(scenario: Scenario, plan: Plan) -> set[tuple[str, str]]:
    return {(v.kind, v.subject) for v in verify(scenario, plan)}


def test_an_understated_startup_fails_verify(thrash: tuple[Scenario, Plan]) -> None:
    scenario, plan = thrash
    entry = plan.startup[0].model_copy(update={"replicas_started": 0, "cost_usd": 0.0})
    assert found(scenario, plan.model_copy(update={"startup": [entry]})) == {("kpi", "chat")}
    assert found(scenario, plan.model_copy(update={"startup": []})) == {("kpi", "chat")}
    h = plan.horizon
    assert h is not None
    cheaper = h.model_copy(update={"startup_cost_usd": 0.0, "cost_usd": h.cost_usd - 0.1})
    assert found(scenario, plan.model_copy(update={"horizon": cheaper})) == {("kpi", "horizon")}


def test_a_startup_hidden_from_every_figure_fails_verify(thrash: tuple[Scenario, Plan]) -> None:
    """Entry, horizon, totals and objective all stated as if nothing started."""
    scenario, plan = thrash
    h, t = plan.horizon, plan.totals
    assert h is not None and t is not None and plan.objective_usd_per_h is not None
    per_h = 0.1 / 6
    nothing = plan.startup[0].model_copy(update={"replicas_started": 0, "cost_usd": 0.0})
    forged = plan.model_copy(
        update={
            "startup": [nothing],
            "horizon": h.model_copy(
                update={
                    "startup_cost_usd": 0.0,
                    "cost_usd": h.cost_usd - 0.1,
                    "objective_usd": h.objective_usd - 0.1,
                }
            ),
            "totals": t.model_copy(
                update={
                    "cost_usd_per_h": t.cost_usd_per_h - per_h,
                    "objective_usd_per_h": t.objective_usd_per_h - per_h,
                }
            ),
            "objective_usd_per_h": plan.objective_usd_per_h - per_h,
            "bound_usd_per_h": None,
            "gap": None,
            "bound_scope": None,
        }
    )
    assert ("kpi", "chat") in found(scenario, forged)


def test_an_entry_for_a_service_without_the_field_fails_verify(
    thrash: tuple[Scenario, Plan],
) -> None:
    scenario, plan = thrash
    extra = plan.startup[0].model_copy(update={"workload": "ghost"})
    assert found(scenario, plan.model_copy(update={"startup": [*plan.startup, extra]})) == {
        ("kpi", "ghost")
    }
    twice = [plan.startup[0], plan.startup[0]]
    assert found(scenario, plan.model_copy(update={"startup": twice})) == {("kpi", "chat")}


def test_startups_count_against_the_budget(thrash: tuple[Scenario, Plan]) -> None:
    """A budget between the optimum's running cost and its cost with start-ups: verify
    reports the optimum over it, and the MILP finds no plan under it (every other plan
    costs more, start-ups included)."""
    scenario, plan = thrash
    running = plan.totals.cost_usd_per_h - 0.1 / 6
    doc = scenario.model_dump(mode="json", exclude_none=True)
    doc["objective"]["budget_usd_per_h"] = running + 0.005
    tight = Scenario.model_validate(doc)
    assert ("budget", "plan") in found(tight, plan)
    assert placer.solve(tight, solver="milp", time_limit_s=20).status == "infeasible"
    doc["objective"]["budget_usd_per_h"] = plan.totals.cost_usd_per_h + 0.005
    roomy = Scenario.model_validate(doc)
    again = placer.solve(roomy, solver="milp", time_limit_s=20)
    assert again.status == "optimal" and verify(roomy, again) == []


# -- (6) the language refuses it where it means nothing ------------------------------


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("negative", "greater than or equal to 0"),
        ("training", "a training run has no replicas"),
        ("static", "a time field needs a horizon"),
    ],
)
def test_cli_refuses_a_misplaced_startup_cost(tmp_path: Path, change: str, message: str) -> None:
    data = copy.deepcopy(_MINIMAL_SCENARIO)
    data["horizon"] = {"start": START, "period_hours": 1, "periods": 3}
    if change == "negative":
        data["workloads"][1]["startup_usd_per_replica"] = -1.0
    elif change == "training":
        data["workloads"][0]["startup_usd_per_replica"] = 10.0
    else:
        del data["horizon"]
        data["workloads"][1]["startup_usd_per_replica"] = 10.0
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(data))
    for command in ("validate", "solve"):
        result = run(command, str(path))
        assert result.exit_code == 2, result.output
        assert "startup_usd_per_replica" in result.output and message in result.output
        assert "Traceback" not in result.output
