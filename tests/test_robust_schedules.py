"""`placer robust` on plans whose training runs pause or move (`segments`): each
schedule is scored as one more option of its unit (`robust_fleet.with_schedules`).

Checked: the nominal figures equal the plan's own; with every sd at 0 every sample is
nominal; a run that moves between two sites takes each sample's prices, GPU-hour prices
and carbon in its shares, equal to the float64 score of the scenario recompiled with
that sample's figures (`usage` with the schedule); it is lost when either of its pools
is, and both its sites count it; `--solve` scores its candidates' paused runs (they
were unplaced before); the CLI reads such a plan, and refuses a forged segment.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import placer
from placer.analysis.robust import prepare, run_robust
from placer.analysis.robust_fleet import expose, with_schedules
from placer.analysis.robust_solve import robust_solve, with_sites
from placer.cli.main import cli
from placer.engines.kernels.perturb import score_perturbed
from placer.model.scenario import Scenario
from placer.model.uncertainty import Uncertainty, with_flags
from placer.plan.score_schedule import schedule_of
from placer.plan.scoring import assignment_of
from placer.plan.verify import verify
from placer.problem.compile import compile_problem
from placer.problem.rows import Q_CARBON, Q_COST
from placer.problem.usage import compute_loads, objective_value
from tests import strategies
from tests import test_migration as migration
from tests import test_preempt as preempt
from tests.test_robust import _with_carbon

ZERO = {"demand_sd": 0.0, "price_sd": 0.0, "carbon_sd": 0.0, "gpu_cost_sd": 0.0}
PRICES = {"price_sd": 0.3, "carbon_sd": 0.25, "gpu_cost_sd": 0.2, "demand_sd": 0.0}


def _moved() -> tuple[Scenario, placer.Plan]:
    """A 4 h run that starts at fra and moves to muc (cheap there later), with a price on
    carbon so that the objective reads it."""
    data = migration.scenario([migration.run("ft", 4, 10.0)])
    data["objective"] = {"carbon_price_usd_per_t": 80.0}
    sc, plan = migration.solved(data)
    (p,) = plan.placements
    assert p.segments is not None and {s.site for s in p.segments} == {"fra", "muc"}
    assert verify(sc, plan) == []
    return sc, plan


def _paused() -> tuple[Scenario, placer.Plan]:
    sc, plan = preempt.solved(preempt.scenario(runs=[preempt.run("ft", 2, 0.0)]))
    assert plan.placements[0].segments is not None and verify(sc, plan) == []
    return sc, plan


@pytest.mark.parametrize("make", [_paused, _moved])
def test_nominal_is_the_plan_and_zero_spread_is_nominal(make) -> None:
    sc, plan = make()
    report = run_robust(
        prepare(sc, with_flags(Uncertainty(), **ZERO)), [("plan", plan, "p")], samples=64
    )
    (risk,) = report.plans
    assert risk.objective_usd_per_h.nominal == pytest.approx(plan.objective_usd_per_h, rel=1e-9)
    assert risk.cost_usd_per_h.nominal == pytest.approx(plan.totals.cost_usd_per_h, rel=1e-9)
    assert risk.carbon_kg_per_h.nominal == pytest.approx(plan.totals.carbon_kg_per_h, rel=1e-9)
    assert risk.nominal_violations == {}
    for spread in (risk.objective_usd_per_h, risk.cost_usd_per_h, risk.carbon_kg_per_h):
        assert spread.p95 == pytest.approx(spread.nominal, rel=1e-5)
        assert spread.p50 == pytest.approx(spread.nominal, rel=1e-5)
    assert risk.feasible == 1.0


def test_a_moved_run_takes_each_site_s_figures_in_its_shares() -> None:
    sc, plan = _moved()
    s = prepare(sc, with_flags(Uncertainty(), **PRICES))
    fleet = with_schedules(s.fleet, [(plan, "p")])
    (moved,) = fleet.moved
    assert len(moved.pools) == 2 and len(moved.energy_s) == 2 and len(moved.carbon_s) == 2
    exp = expose(fleet, plan, "plan")
    draws = s.draw(seed=5, block=0)
    pert = type(s)(**{**s.__dict__, "fleet": fleet}).perturbation(exp, draws)
    got = score_perturbed(jnp.asarray(exp.slots_u), fleet.kp, pert)
    spread_seen = 0
    for b in range(8):
        f = s.fleet
        price = dict(zip(f.index.sites, draws.price_s[b].tolist(), strict=True))
        gpu = {(p.site, p.key): g for p, g in zip(f.index.pools, draws.gpu_p[b], strict=True)}
        changed = _with_carbon(with_sites(sc, price, gpu, {}, {}), draws.carbon_s[b])
        problem, index = compile_problem(changed)
        assign = assignment_of(plan, index, skip_preempted=True)
        schedule = schedule_of(plan, index)
        loads = compute_loads(problem, assign, schedule)
        want = objective_value(problem, assign, schedule)
        assert float(got.objective[b]) == pytest.approx(want, rel=1e-5)
        assert float(got.total_q[b, Q_COST]) == pytest.approx(loads.total_q[Q_COST], rel=1e-5)
        assert float(got.total_q[b, Q_CARBON]) == pytest.approx(loads.total_q[Q_CARBON], rel=1e-5)
        spread_seen += abs(want - plan.objective_usd_per_h) > 1e-3 * plan.objective_usd_per_h
    assert spread_seen  # the samples do move the figures


def test_a_moved_run_is_lost_with_either_pool() -> None:
    sc, plan = _moved()
    u = with_flags(Uncertainty(), **ZERO, pool_loss_probability=0.5, pool_loss_fraction=1.0)
    s = prepare(sc, u)
    fleet = with_schedules(s.fleet, [(plan, "p")])
    (moved,) = fleet.moved
    exp = expose(fleet, plan, "plan")
    assert exp.used_p[list(moved.pools)].all()
    draws = s.draw(seed=1, block=0)
    pert = type(s)(**{**s.__dict__, "fleet": fleet}).perturbation(exp, draws)
    up = np.asarray(pert.option_up_o)[:, moved.option]
    down = draws.pool_down_p[:, list(moved.pools)]
    np.testing.assert_array_equal(up, ~down.any(axis=1))
    assert (down[:, 0] & ~down[:, 1]).any() and (~down[:, 0] & down[:, 1]).any()
    report = run_robust(s, [("plan", plan, "p")], samples=128, seed=1)
    (risk,) = report.plans
    lost = {site.site: site.units_lost for site in risk.sites}
    assert lost["fra"] > 0 and lost["muc"] > 0


def test_solve_scores_its_candidates_paused_runs() -> None:
    """--solve's candidates come from the solver, which pauses the run: each is scored
    with its schedule (before, as an unplaced unit: the given plan's sample objective
    was its value lost, not its cost)."""
    sc, plan = _paused()
    s = prepare(sc, with_flags(Uncertainty(), **ZERO))
    summary, chosen = robust_solve(s, plan, samples=32, solver="milp", time_limit_s=10)
    given = next(c for c in summary.candidates if c.label == "given")
    assert given.mean_objective_usd_per_h == pytest.approx(plan.objective_usd_per_h, rel=1e-5)
    assert given.feasible == 1.0
    assert chosen.placements[0].segments is not None


def test_cli_reads_a_paused_plan_and_refuses_a_forged_segment(tmp_path: Path) -> None:
    sc, plan = _paused()
    scenario_file = tmp_path / "sc.json"
    scenario_file.write_text(sc.model_dump_json())
    good = tmp_path / "plan.json"
    good.write_text(plan.model_dump_json())
    result = CliRunner().invoke(
        cli, ["robust", str(scenario_file), str(good), "--samples", "16", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["plans"][0]["objective_usd_per_h"]["nominal"] == pytest.approx(
        plan.objective_usd_per_h
    )
    # the same segments on a run that may not pause
    data = json.loads(sc.model_dump_json())
    data["workloads"][0]["preemptible"] = False
    data["workloads"][0].pop("restore_overhead_h", None)
    strict_file = tmp_path / "strict.json"
    strict_file.write_text(json.dumps(data))
    result = CliRunner().invoke(cli, ["robust", str(strict_file), str(good), "--samples", "16"])
    assert result.exit_code == 2
    assert str(good) in result.output and "may not pause or move" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=strategies.timed_scenario_dicts(max_sites=2, max_workloads=3), draw=st.data())
def test_robust_nominal_is_the_plan_on_random_timed_scenarios(data, draw) -> None:
    """Every training run may pause (some may move); the MILP's plan, paused or not, is
    read by robust as it is: its nominal figures are the plan's, and with every sd at 0
    its samples are too (float32)."""
    strategies.every_run_may_pause(data, draw)
    sc = Scenario.model_validate(data)
    plan = placer.solve(sc, solver="milp", time_limit_s=10)
    assume(plan.status in ("optimal", "feasible"))
    report = run_robust(
        prepare(sc, with_flags(Uncertainty(), **ZERO)), [("plan", plan, "p")], samples=8
    )
    (risk,) = report.plans
    assert risk.objective_usd_per_h.nominal == pytest.approx(
        plan.objective_usd_per_h, rel=1e-7, abs=1e-7
    )
    scale = max(1.0, abs(plan.objective_usd_per_h))
    assert risk.objective_usd_per_h.p50 == pytest.approx(
        risk.objective_usd_per_h.nominal, abs=1e-4 * scale
    )


def test_a_fleet_without_options_is_scored() -> None:
    """A site with no pool: no unit has an option (the kernels had no term to gather
    and raised)."""
    data = preempt.scenario(runs=[preempt.run("ft", 2, 0.0, must_place=False)])
    data["sites"][0]["pools"] = []
    data["workloads"][0]["value_usd_per_h"] = 10.0
    sc = Scenario.model_validate(data)
    plan = placer.solve(sc, solver="greedy", time_limit_s=5)
    report = run_robust(
        prepare(sc, with_flags(Uncertainty(), **ZERO)), [("p", plan, "p")], samples=4
    )
    (risk,) = report.plans
    assert risk.objective_usd_per_h.nominal == pytest.approx(plan.objective_usd_per_h)
    assert risk.objective_usd_per_h.p50 == pytest.approx(plan.objective_usd_per_h, rel=1e-6)
