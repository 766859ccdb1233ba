"""Grid events with a price per kWh over the limit (soft caps; docs/time.md).

A priced event lets the site draw above the event's cap and pays the excess kW x the
period's hours x the price; the cap without the event stays hard. Checked here: events
without a price change nothing; the MILP pays the excess when it is cheap and moves the
work when it is dear (USD by hand); the MILP optimum equals a brute force over every
assignment of a tiny instance (overlapping events included); every solver's plan
verifies and the relaxation's bound stays below the MILP's optimum; a plan that
understates what it paid fails verify; a bad price is refused naming the field.
"""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import placer
from placer.cli.main import cli
from placer.model import Scenario
from placer.outputs.text_report import to_table
from placer.plan.verify import verify
from placer.problem.compile import compile_problem
from placer.problem.soft import has_soft_rows

ROOT = Path(__file__).parent.parent
SOLVERS = ("greedy", "milp", "relax", "search", "hybrid")
#: 1.25 kW IT per GPU (a 10 kW node of 8), PUE 1: facility kW = 1.25 x GPUs.
KW_PER_GPU = 10.0 / 8


def _site(sid: str, lat: float, usd_per_gpu_h: float, events: list[dict]) -> dict[str, Any]:
    """An on-prem site: one 16-GPU pool, a 30 kW grid cap, PUE 1, free energy (the
    cost is GPU-hours only, so it is easy to compute by hand)."""
    return {
        "id": sid,
        "tier": "onprem",
        "location": {"lat": lat, "lon": 8.68, "country": "DE"},
        "power": {
            "it_capacity_kw": 100,
            "grid_cap_kw": 30,
            "pue": 1.0,
            "price_usd_per_kwh": 0.0,
            "carbon_g_per_kwh": 0,
        },
        "cooling": {"type": "liquid", "max_rack_density_kw": 50},
        "pools": [
            {
                "accelerator": "H100-SXM",
                "gpus": 16,
                "gpus_per_node": 8,
                "node_power_kw": 10.0,
                "cost_usd_per_gpu_h": usd_per_gpu_h,
            }
        ],
        "grid_events": events,
    }


def _run(rid: str, gpus: int, hours: float, **more: Any) -> dict[str, Any]:
    return {"id": rid, "kind": "training", "gpus": gpus, "hours": hours, **more}


def _scenario(sites: list[dict], runs: list[dict], periods: int) -> dict[str, Any]:
    return {
        "apiVersion": "placer/v1",
        "kind": "Scenario",
        "metadata": {"name": "priced-events"},
        "horizon": {"start": "2020-06-01T00:00:00+00:00", "period_hours": 1, "periods": periods},
        "sites": sites,
        "user_regions": [
            {"id": "eu-central", "location": {"lat": 52.52, "lon": 13.40, "country": "DE"}}
        ],
        "workloads": runs,
    }


def _event(name: str, start_h: int, hours: float, **more: Any) -> dict[str, Any]:
    return {"name": name, "start": f"2020-06-01T{start_h:02d}:00:00+00:00", "hours": hours, **more}


def _one_run(price: float | None) -> dict[str, Any]:
    """An 8-GPU (10 kW) run of 1 h that must run in period 0 of 2; site a (1 USD/GPU-h)
    has an event in period 0 capping it at 30 - 24 = 6 kW; site b costs 2 USD/GPU-h."""
    event = _event("dr", 0, 1, cut_kw=24)
    if price is not None:
        event["over_limit_usd_per_kwh"] = price
    sites = [_site("a", 50.1, 1.0, [event]), _site("b", 50.2, 2.0, [])]
    return _scenario(sites, [_run("job", 8, 1, deadline_hours=1, must_place=True)], 2)


def _solve(data: dict[str, Any], solver: str = "milp", limit_s: float = 20.0):
    scenario = Scenario.model_validate(data)
    return scenario, placer.solve(scenario, solver=solver, time_limit_s=limit_s, seed=0)


# ---- (1) without a price nothing changes ----------------------------------------------


@pytest.mark.parametrize(
    ("config", "solver", "objective"),
    [
        # pinned with the code before priced events (same plans, same objectives)
        ("small_day.yaml", "milp", 328.3469882280168),
        ("small_day.yaml", "greedy", 328.63715839711006),
        ("us_week.yaml", "greedy", 2166.244294246958),
    ],
)
def test_events_without_price_are_hard_as_before(config: str, solver: str, objective: float):
    scenario = placer.load(ROOT / "configs" / "time" / config)
    problem, _ = compile_problem(scenario)
    assert problem.over_usd_per_h_r is None and not has_soft_rows(problem)
    plan = placer.solve(scenario, solver=solver, time_limit_s=60, seed=0)
    assert plan.objective_usd_per_h == pytest.approx(objective, rel=1e-9)
    assert plan.horizon is not None and plan.horizon.over_limit_usd == 0.0
    assert all(sp.event_cap_kw is None and sp.over_limit_usd is None for sp in plan.site_periods)


def test_a_price_makes_the_hard_cap_soft():
    """The hard event: the run cannot draw 10 kW at a in period 0, so it runs at b."""
    _, plan = _solve(_one_run(None))
    assert [p.site for p in plan.placements] == ["b"]
    assert plan.objective_usd_per_h == pytest.approx(8 * 2.0 / 2)


# ---- (2) pays when cheap, moves when dear ----------------------------------------------


@pytest.mark.parametrize(
    ("price", "site", "paid_usd"),
    [
        # at a: 8 GPU-h x 1 USD + (10 - 6) kW x 1 h x 0.5 USD/kWh = 8 + 2 = 10 USD < 16 at b
        (0.5, "a", 4 * 1 * 0.5),
        # at a it would be 8 + 4 x 5 = 28 USD: b's 16 USD wins, nothing is paid
        (5.0, "b", 0.0),
    ],
)
def test_milp_pays_the_excess_only_when_it_is_cheap(price: float, site: str, paid_usd: float):
    scenario, plan = _solve(_one_run(price))
    assert plan.status == "optimal"
    assert [p.site for p in plan.placements] == [site]
    gpu_usd = 8 * 1 * (1.0 if site == "a" else 2.0)
    h = plan.horizon
    assert h is not None
    assert h.over_limit_usd == pytest.approx(paid_usd)
    assert h.cost_usd == pytest.approx(gpu_usd + paid_usd)
    assert plan.objective_usd_per_h == pytest.approx((gpu_usd + paid_usd) / 2)
    assert plan.totals.cost_usd_per_h == pytest.approx((gpu_usd + paid_usd) / 2)
    a = next(sp for sp in plan.site_periods if sp.site == "a")
    assert a.event_cap_kw == [6.0, None]
    assert a.over_limit_kw == pytest.approx([4.0 if site == "a" else 0.0, 0.0])
    assert a.over_limit_usd == pytest.approx([paid_usd, 0.0])
    assert a.facility_cap_kw[0] == 30.0  # the hard cap: the grid cap, not lowered
    site_a = next(s for s in plan.sites if s.site == "a")
    assert site_a.cost_usd_per_h == pytest.approx((8.0 + paid_usd) / 2 if site == "a" else 0.0)
    assert verify(scenario, plan) == []
    scored = placer.score(scenario, [plan])[0]  # the excess is paid, not a violation
    assert scored.violations == {}
    assert scored.objective_usd_per_h == pytest.approx(plan.objective_usd_per_h)


def test_robust_pays_the_excess_and_counts_no_violation():
    """`placer robust` with no spread: every sample is the plan as solved, which pays
    for its draw over the event's cap; that is a cost, not a facility overrun."""
    from placer.analysis.robust import prepare, run_robust
    from placer.model.uncertainty import Uncertainty, with_flags

    scenario, plan = _solve(_one_run(0.5))
    assert plan.horizon is not None and plan.horizon.over_limit_usd == pytest.approx(2.0)
    zero = {"demand_sd": 0.0, "price_sd": 0.0, "carbon_sd": 0.0, "gpu_cost_sd": 0.0}
    sampler = prepare(scenario, with_flags(Uncertainty(), **zero))
    report = run_robust(sampler, [("plan", plan, "p")], samples=16, seed=0)
    p = report.plans[0]
    assert p.feasible == 1.0
    assert not p.nominal_violations
    for fig, value in (
        (p.cost_usd_per_h, plan.totals.cost_usd_per_h),
        (p.objective_usd_per_h, plan.objective_usd_per_h),
    ):
        assert fig.mean == pytest.approx(value, rel=1e-5)
        assert fig.nominal == pytest.approx(value, rel=1e-9)
    assert not p.fail_first


def test_site_failure_screen_pays_the_excess_and_counts_no_violation():
    """The N-1 screen (`site_failure_scores`): losing the site without the run keeps the
    run's paid excess a cost; losing the run's site drops the excess with the run."""
    from placer.plan.scoring import site_failure_scores

    scenario, plan = _solve(_one_run(0.5))
    screen = site_failure_scores(scenario, plan)
    assert "facility_over" not in screen["b"].violations
    assert screen["b"].objective_usd_per_h == pytest.approx(plan.objective_usd_per_h, rel=1e-6)
    assert screen["a"].cost_usd_per_h == pytest.approx(0.0, abs=1e-6)
    assert "facility_over" not in screen["a"].violations


def test_the_excess_counts_against_the_budget():
    """At a the run costs 8 USD of GPU-hours + 2 USD over the event cap = 5 USD/h, over a
    4.5 USD/h budget (4 USD/h without the excess would fit); at b 8 USD/h: left out."""
    data = _one_run(0.5)
    data["workloads"][0].update(must_place=False, value_usd_per_h=100)
    data["objective"] = {"budget_usd_per_h": 4.5}
    scenario, plan = _solve(data)
    assert plan.status == "optimal" and plan.placements == []
    assert plan.objective_usd_per_h == pytest.approx(100 * 1 / 2)
    at_a = _solve(_one_run(0.5))[1].placements  # the run at a, paying 2 USD
    forged = plan.model_copy(update={"placements": at_a, "unplaced": []})
    assert any(v.kind == "budget" for v in verify(scenario, forged))


def test_the_cap_without_the_event_stays_hard():
    """A 16-GPU run (20 kW) at a, where the grid cap is 15 kW: no price buys past it."""
    data = _one_run(0.01)
    data["sites"][0]["power"]["grid_cap_kw"] = 15
    data["sites"][0]["grid_events"][0]["cut_kw"] = 9  # event cap 6 kW
    data["workloads"][0]["gpus"] = 16
    scenario, plan = _solve(data)
    assert [p.site for p in plan.placements] == ["b"]
    # forged: the same run at a, paying its excess over the event cap, breaks the hard cap
    forged = _moved(plan, "a")
    found = verify(scenario, forged)
    assert any(v.kind == "facility_power" and v.subject == "a" for v in found), found


def _moved(plan, site: str):
    p = plan.placements[0].model_copy(update={"site": site})
    return plan.model_copy(update={"placements": [p]})


# ---- (3) brute force: every assignment of a tiny instance -----------------------------


def _brute_force_case() -> dict[str, Any]:
    """3 periods of 1 h; at a, priced events over periods 0-1 (cap 12 kW, 0.8 USD/kWh)
    and period 1 (cap 6 kW, 0.3 USD/kWh): period 1 is capped at 6 kW at 0.8; a hard
    event caps period 0 at 18 kW (over the soft cap: both hold), and in period 2 a hard
    cap of 10 kW lies under a priced one of 15 kW (nothing can be paid there); at b a
    hard event caps period 2 at 15 kW. Three runs, each optional (value 20 USD/h while
    it would run)."""
    a_events = [
        _event("long", 0, 2, cut_kw=18, over_limit_usd_per_kwh=0.8),
        _event("short", 1, 1, cut_kw=24, over_limit_usd_per_kwh=0.3),
        _event("hard-0", 0, 0.5, cut_kw=12),
        _event("hard-2", 2, 1, cut_kw=20),
        _event("soft-2", 2, 1, cut_kw=15, over_limit_usd_per_kwh=0.1),
    ]
    b_events = [_event("hard", 2, 1, cut_kw=15)]
    sites = [_site("a", 50.1, 1.0, a_events), _site("b", 50.2, 1.5, b_events)]
    runs = [
        _run("r1", 8, 1, must_place=False, value_usd_per_h=20),
        _run("r2", 8, 2, must_place=False, value_usd_per_h=20),
        _run("r3", 16, 1, must_place=False, value_usd_per_h=20),
    ]
    return _scenario(sites, runs, 3)


def _brute_force_optimum(data: dict[str, Any]) -> float:
    """The least objective (USD per hour of the horizon) over every assignment, from the
    scenario's own figures: GPU-hours x price + excess kW x 1 h x price over the soft
    caps + lost value; hard caps: 16 GPUs per pool, 30 kW per site but for the hard
    events (18 kW at a in 0, 10 kW at a in 2, 15 kW at b in 2)."""
    n_t = 3
    usd = {"a": 1.0, "b": 1.5}
    soft_cap = {("a", 0): (12.0, 0.8), ("a", 1): (6.0, 0.8), ("a", 2): (15.0, 0.1)}
    hard_kw = {(s, t): 30.0 for s in usd for t in range(n_t)}
    hard_kw |= {("a", 0): 18.0, ("a", 2): 10.0, ("b", 2): 15.0}
    runs = [(w["gpus"], int(w["hours"]), w["value_usd_per_h"]) for w in data["workloads"]]
    choices = [
        [None] + [(s, t0) for s in usd for t0 in range(n_t - hours + 1)] for _, hours, _ in runs
    ]
    best = np.inf
    for pick in itertools.product(*choices):
        gpus = {(s, t): 0 for s in usd for t in range(n_t)}
        total = 0.0
        for (g, hours, value), where in zip(runs, pick, strict=True):
            if where is None:
                total += value * hours
                continue
            s, t0 = where
            total += g * hours * usd[s]
            for t in range(t0, t0 + hours):
                gpus[(s, t)] += g
        if any(n > 16 for n in gpus.values()):
            continue
        if any(n * KW_PER_GPU > hard_kw[key] + 1e-9 for key, n in gpus.items()):
            continue
        for key, (cap, price) in soft_cap.items():
            total += max(0.0, gpus[key] * KW_PER_GPU - cap) * 1.0 * price
        best = min(best, total / n_t)
    return best


def test_milp_optimum_equals_brute_force():
    data = _brute_force_case()
    expected = _brute_force_optimum(data)
    scenario, plan = _solve(data)
    assert plan.status == "optimal"
    assert plan.objective_usd_per_h == pytest.approx(expected, rel=1e-6)
    assert verify(scenario, plan) == []
    # the overlap rule, as compiled: period 1 at a is capped at 6 kW and priced at 0.8
    problem, index = compile_problem(scenario)
    soft = np.flatnonzero(np.isfinite(problem.over_usd_per_h_r))
    assert index.time is not None
    assert sorted(index.time.period_r[soft].tolist()) == [0, 1]
    assert sorted(problem.cap_r[soft].tolist()) == [6.0, 12.0]
    assert problem.over_usd_per_h_r[soft] == pytest.approx([0.8 / 3, 0.8 / 3])


def test_brute_force_case_pays_somewhere():
    """The case is worth brute-forcing: its optimum pays for an excess."""
    _, plan = _solve(_brute_force_case())
    assert plan.horizon is not None and plan.horizon.over_limit_usd > 0
    assert "Grid events priced per kWh" in to_table(plan)


# ---- (4) every solver ------------------------------------------------------------------


@pytest.fixture(scope="module")
def milp_optimum() -> float:
    return _solve(_brute_force_case())[1].objective_usd_per_h


@pytest.mark.parametrize("solver", SOLVERS)
def test_every_solver_verifies_and_bounds_hold(solver: str, milp_optimum: float):
    scenario, plan = _solve(_brute_force_case(), solver, limit_s=5.0)
    assert plan.status in ("optimal", "feasible")
    assert verify(scenario, plan) == []
    assert plan.objective_usd_per_h >= milp_optimum - 1e-6
    if plan.bound_usd_per_h is not None:
        assert plan.bound_usd_per_h <= milp_optimum + 1e-6


@pytest.mark.parametrize("dense", [True, False])
def test_relaxation_prices_of_soft_rows_stay_below_their_price(dense: bool, monkeypatch):
    from placer.engines.relax import lagrangian

    monkeypatch.setattr(lagrangian, "use_dense", lambda problem: dense)  # both layouts
    scenario = Scenario.model_validate(_brute_force_case())
    problem, _ = compile_problem(scenario)
    optimum = _brute_force_optimum(_brute_force_case())
    relaxed = lagrangian.relax_prices(problem, steps=500)
    soft = np.isfinite(problem.over_usd_per_h_r)
    assert (relaxed.prices_r[: problem.num_rows][soft] <= problem.over_usd_per_h_r[soft]).all()
    assert relaxed.prices_r[: problem.num_rows][soft].max() > 0  # the soft caps are priced
    assert relaxed.bound <= optimum + 1e-9
    # any price above the ceiling is clipped: the bound never passes the optimum
    wild = np.full(relaxed.prices_r.shape, 50.0)
    bound, _ = lagrangian.dual_bound(problem, wild)
    assert bound <= optimum + 1e-9


# ---- (5) a plan that understates what it paid ----------------------------------------


def test_understated_excess_fails_verify():
    scenario, plan = _solve(_one_run(0.5))
    assert plan.horizon is not None and plan.horizon.over_limit_usd > 0
    rows = []
    for sp in plan.site_periods:
        if sp.over_limit_usd:
            sp = sp.model_copy(update={"over_limit_kw": [0.0, 0.0], "over_limit_usd": [0.0, 0.0]})
        rows.append(sp)
    forged = plan.model_copy(
        update={
            "site_periods": rows,
            "horizon": plan.horizon.model_copy(update={"over_limit_usd": 0.0}),
        }
    )
    found = [str(v) for v in verify(scenario, forged)]
    assert any("site_periods[0].over_limit_usd[0]" in f for f in found), found
    assert any("site_periods[0].over_limit_kw[0]" in f for f in found), found
    assert any("horizon.over_limit_usd" in f for f in found), found
    # a cost that leaves the excess out is caught too
    cheaper = plan.model_copy(
        update={"totals": plan.totals.model_copy(update={"cost_usd_per_h": 8.0 / 2})}
    )
    assert any("totals.cost_usd_per_h" in str(v) for v in verify(scenario, cheaper))


def test_event_fields_on_a_site_without_a_priced_event_fail_verify():
    scenario, plan = _solve(_one_run(None))
    rows = [
        sp.model_copy(update={"over_limit_usd": [0.0, 0.0]}) if sp.site == "a" else sp
        for sp in plan.site_periods
    ]
    found = [str(v) for v in verify(scenario, plan.model_copy(update={"site_periods": rows}))]
    assert any("no priced grid event" in f for f in found), found


# ---- (6) a bad price ---------------------------------------------------------------------


@pytest.mark.parametrize("price", [-0.1, "cheap"])
def test_bad_price_exits_2_naming_the_field(price: Any, write_yaml):
    data = copy.deepcopy(_one_run(0.5))
    data["sites"][0]["grid_events"][0]["over_limit_usd_per_kwh"] = price
    path = write_yaml(data, "bad.json")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "sites.0.grid_events.0.over_limit_usd_per_kwh" in result.output


def test_plan_capacity_refuses_priced_events():
    from placer.capacity.model import _refuse_priced_events
    from placer.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"grid_events\.0\.over_limit_usd_per_kwh"):
        _refuse_priced_events(Scenario.model_validate(_one_run(0.5)))
