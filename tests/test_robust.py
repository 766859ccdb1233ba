"""`placer robust` (placer.analysis.robust*, placer.model.uncertainty, placer.cli.robust_cmd).

Tolerances (STYLE.md section 7): the kernel runs in float32 and the references in
float64 on the same figures. Each figure is rounded to float32 once and a sum of n terms
adds at most (n - 1) eps (eps = 2**-24 ~ 6e-8) of the sum of the terms' magnitudes; the
cases here have ~60 units, so totals are good to ~4e-6 of their magnitude, and products
by the perturbation's scales (each rounded to float32) add a few eps more. We compare
with rtol = 1e-5 of the magnitude (the sum of absolute terms): a wrong gather, a
dropped unit or a wrong price share moves a total by cents on thousands of USD/h, far
above it. Excesses over capacity are differences of sums: their absolute error is that
of the load and of the capacity, so the atol is 1e-5 x (load + capacity) of the row.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from click.testing import CliRunner

import placer
from placer.analysis.robust import prepare, run_robust, score_block, score_plans
from placer.analysis.robust_fleet import expose
from placer.analysis.robust_reference import reference_sample
from placer.analysis.robust_sample import BLOCK, Sampler, make_sampler
from placer.analysis.robust_solve import with_sites
from placer.cli.robust_cmd import robust_command
from placer.engines.kernels.arrays import to_slots
from placer.engines.kernels.perturb import no_change, score_perturbed
from placer.engines.kernels.reference import score_batch_numpy
from placer.engines.kernels.score import NUM_KINDS
from placer.errors import OptionError
from placer.model.generate import generate_scenario
from placer.model.uncertainty import Uncertainty, check_references, with_flags
from placer.model.yaml_text import parse_yaml_text
from placer.problem.compile import compile_problem
from placer.problem.rows import Q_CARBON, Q_COST
from placer.problem.usage import row_loads

SCENARIO = "configs/eu_sovereign.yaml"
RTOL = 1e-5
#: Every family on, capacity losses partial (pools keep half) so that no pool is down.
ALL_ON = {
    "demand_sd": 0.2,
    "price_sd": 0.3,
    "carbon_sd": 0.25,
    "gpu_cost_sd": 0.2,
    "site_derate_probability": 0.3,
    "pool_loss_probability": 0.3,
    "pool_loss_fraction": 0.5,
}
ZERO = {"demand_sd": 0.0, "price_sd": 0.0, "carbon_sd": 0.0, "gpu_cost_sd": 0.0}


@pytest.fixture(scope="module")
def scenario():
    return placer.load(SCENARIO)


@pytest.fixture(scope="module")
def plan(scenario):
    return placer.solve(scenario, solver="greedy", time_limit_s=30.0)


@pytest.fixture(scope="module")
def sampler(scenario) -> Sampler:
    return prepare(scenario, with_flags(Uncertainty(), **ALL_ON))


@pytest.fixture
def plan_file(tmp_path, plan):
    path = tmp_path / "plan.json"
    path.write_text(plan.model_dump_json())
    return str(path)


def _close(got, want, atol) -> None:
    """|got - want| <= atol elementwise (atol may be an array: one per element)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    bad = np.abs(got - want) > atol
    assert not bad.any(), f"at {np.flatnonzero(bad)}: got {got[bad]}, want {want[bad]}"


def _magnitude(problem, a_u) -> dict[str, float]:
    """Sum of |terms| of the plan's objective and of each quantity (float64)."""
    units = np.arange(problem.num_units)
    placed = a_u < problem.num_slots
    k = np.minimum(a_u, problem.num_slots - 1)
    obj = np.where(placed, np.abs(problem.objective_usd_per_h_uk[units, k]), 0.0).sum()
    obj += np.abs(problem.unplaced_usd_per_h_u).sum()
    q = np.where(placed[None], np.abs(problem.amount_quk[:, units, k]), 0.0).sum(axis=1)
    return {"objective": float(obj), "total_q": q}


@pytest.mark.parametrize("rounding", ["replicas", "linear"])
def test_sampled_kernel_scores_equal_the_numpy_reference(scenario, plan, rounding):
    """Each of 16 samples (every family on, sites derated, pools losing GPUs) scored by
    the kernel == the float64 reference of the explicitly perturbed Problem: objective,
    totals, excess by kind, masked, and the excess over every row."""
    u = with_flags(Uncertainty(), **ALL_ON, demand_rounding=rounding)
    s = prepare(scenario, u)
    problem = s.fleet.problem
    exp = expose(s.fleet, plan, "plan")
    draws = s.draw(seed=3, block=0)
    pert = s.perturbation(exp, draws)
    scores, _, excess = score_block(jnp.asarray(exp.slots_u), s.fleet.kp, pert)
    mag = _magnitude(problem, exp.slots_u)
    scale = 5.0  # products of factors stay below ~5 in these draws (perturbed magnitudes)
    for b in range(16):
        want, want_excess = reference_sample(problem, exp.slots_u, pert, b)
        np.testing.assert_allclose(
            float(scores.objective[b]), want.objective[0], atol=RTOL * scale * mag["objective"]
        )
        _close(scores.total_q[b], want.total_q[0], RTOL * scale * mag["total_q"])
        assert float(scores.masked[b]) == want.masked[0]
        loads = row_loads(problem, exp.options_u)
        cap = np.where(np.isfinite(problem.cap_r), problem.cap_r, 0.0)
        atol = RTOL * scale * (np.abs(loads) + cap) + 1e-6
        _close(excess[b], want_excess, atol)
        np.testing.assert_allclose(
            np.asarray(scores.over_k[b]), want.over_k[0], rtol=0, atol=atol.sum()
        )
    # the per-row excesses summed by kind are the kernel's own over_k
    by_kind = np.stack(
        [np.asarray(excess)[:, problem.kind_r == k].sum(axis=1) for k in range(NUM_KINDS)], 1
    )
    np.testing.assert_allclose(by_kind, np.asarray(scores.over_k), rtol=1e-5, atol=1e-3)
    assert (np.asarray(excess) > 0).any()  # the case does exercise capacity overruns


def test_price_carbon_and_capacity_mapping_equals_the_recompiled_scenario(scenario, plan):
    """With demand fixed, sample b's objective, cost and carbon equal the float64 score
    of the scenario recompiled with that sample's tariffs, carbon intensities and GPU
    prices (exact: compile is linear in them); its capacities equal the recompiled
    scenario's rows for that sample's site derates."""
    flags = {**ALL_ON, "demand_sd": 0.0, "pool_loss_probability": 0.0}
    s = prepare(scenario, with_flags(Uncertainty(), **flags))
    f = s.fleet
    exp = expose(f, plan, "plan")
    draws = s.draw(seed=11, block=0)
    pert = s.perturbation(exp, draws)
    got = score_perturbed(jnp.asarray(exp.slots_u), f.kp, pert)
    for b in range(4):
        price = dict(zip(f.index.sites, draws.price_s[b].tolist(), strict=True))
        gpu = {(p.site, p.key): g for p, g in zip(f.index.pools, draws.gpu_p[b], strict=True)}
        keep = dict(zip(f.index.sites, draws.derate_s[b].tolist(), strict=True))
        changed = _with_carbon(with_sites(scenario, price, gpu, {}, {}), draws.carbon_s[b])
        problem, _ = compile_problem(changed)
        a_u = to_slots(problem, exp.options_u)
        want = score_batch_numpy(a_u[None, :], problem)
        mag = _magnitude(problem, a_u)
        np.testing.assert_allclose(
            float(got.objective[b]), want.objective[0], rtol=0, atol=RTOL * mag["objective"]
        )
        for q in (Q_COST, Q_CARBON):
            np.testing.assert_allclose(
                float(got.total_q[b, q]),
                want.total_q[0, q],
                rtol=0,
                atol=RTOL * mag["total_q"][q],
            )
        # capacities apart: a derated site may exclude pairs (a unit larger than the
        # site), which the kernel sees as an overrun instead
        derated, _ = compile_problem(with_sites(scenario, {}, {}, keep, {}))
        scaled_cap = f.problem.cap_r * np.asarray(pert.cap_scale_r[b], np.float64)
        np.testing.assert_allclose(scaled_cap, derated.cap_r, rtol=1e-6)
    assert not np.allclose(draws.derate_s[:4], 1.0)  # some site is derated


def _with_carbon(scenario, carbon_s):
    sites = sorted(scenario.sites, key=lambda s: s.id)
    factor = {s.id: float(c) for s, c in zip(sites, carbon_s, strict=True)}
    out = []
    for site in scenario.sites:
        power = site.power.model_copy(
            update={"carbon_g_per_kwh": site.power.carbon_g_per_kwh * factor[site.id]}
        )
        out.append(site.model_copy(update={"power": power}))
    return scenario.model_copy(update={"sites": out})


def test_results_are_deterministic_for_a_seed(sampler, plan):
    """The same seed gives the same report; sample i is the same whatever the number of
    samples; another seed gives other samples."""
    runs = [run_robust(sampler, [("plan", plan, "p")], samples=200, seed=7) for _ in range(2)]
    a, b = (r.model_dump(exclude={"wall_s", "score_s"}) for r in runs)
    assert a == b
    exp = expose(sampler.fleet, plan, "plan")
    short, long, other = (
        score_plans(sampler, [exp], n, seed)[0].figures["objective"]
        for n, seed in ((150, 7), (300, 7), (150, 8))
    )
    np.testing.assert_array_equal(short, long[:150])
    assert not np.array_equal(short, other)


def test_zero_spread_gives_exactly_the_nominal_score(scenario, plan):
    """sd 0 everywhere and no capacity risk: every sample is the unperturbed kernel
    score exactly, and the float64 nominal within float32 rounding."""
    s = prepare(scenario, with_flags(Uncertainty(), **ZERO))
    report = run_robust(s, [("plan", plan, "p")], samples=130, seed=1)
    exp = expose(s.fleet, plan, "plan")
    figures = score_plans(s, [exp], 130, 1)[0].figures
    # the same kernel call on BLOCK unchanged copies (a batch of another size may sum in
    # another order: equal to float32 rounding, not bit for bit)
    same, _, _ = score_block(jnp.asarray(exp.slots_u), s.fleet.kp, no_change(BLOCK, s.fleet.kp))
    assert (figures["objective"] == float(same.objective[0])).all()
    assert (figures["cost"] == float(same.total_q[0, Q_COST])).all()
    assert (figures["carbon"] == float(same.total_q[0, Q_CARBON])).all()
    p = report.plans[0]
    for fig in (p.objective_usd_per_h, p.cost_usd_per_h, p.carbon_kg_per_h):
        assert fig.mean == fig.p50 == fig.p95 == fig.cvar
        assert fig.mean == pytest.approx(fig.nominal, rel=RTOL)
    assert p.feasible == (1.0 if not p.nominal_violations else 0.0)
    assert all(r.probability == 0.0 for r in p.fail_first) and not p.fail_first


@pytest.mark.parametrize("rho", [1.0, 0.6, 0.0])
def test_sites_of_one_country_move_together_by_their_correlation(scenario, rho):
    """One-factor model: two DE sites (same sd) have correlation rho; with rho = 1 their
    price factors are equal in every sample; sites of other countries stay independent."""
    u = with_flags(Uncertainty(), price_sd=0.2, price_correlation=rho)
    s = prepare(scenario, u)
    sites = list(s.fleet.index.sites)
    fra, muc, par = (sites.index(x) for x in ("fra-hall", "edge-muc", "par-hall"))
    price = np.concatenate([s.draw(5, block).price_s for block in range(32)])  # 4,096
    if rho == 1.0:
        np.testing.assert_array_equal(price[:, fra], price[:, muc])
    corr = np.corrcoef(price.T)
    # standard error of a sample correlation ~ (1 - rho^2) / sqrt(n) <= 0.016
    assert corr[fra, muc] == pytest.approx(rho, abs=0.06)
    assert abs(corr[fra, par]) < 0.06
    assert price.std(axis=0)[fra] == pytest.approx(0.2, rel=0.05)


def test_replica_rounding_keeps_whole_replicas(sampler, plan):
    """With rounding 'replicas' a unit's usage is (whole replicas needed) / (replicas it
    has); 'linear' uses the demand factor itself; training is never scaled."""
    exp = expose(sampler.fleet, plan, "plan")
    draws = sampler.draw(0, 0)
    usage = sampler.usage(exp, draws)
    sized = exp.load_u > 0
    assert sized.any()
    whole = usage[:, sized] * exp.replicas_u[sized]
    np.testing.assert_allclose(whole, np.round(whole), atol=1e-9)
    linear = make_sampler(
        sampler.fleet, with_flags(sampler.uncertainty, demand_rounding="linear")
    ).usage(exp, draws)
    svc = sampler.fleet.workload_u >= 0
    np.testing.assert_array_equal(linear[:, svc], draws.demand_w[:, sampler.fleet.workload_u[svc]])
    assert (usage[:, ~svc] == 1.0).all() and (linear[:, ~svc] == 1.0).all()


def test_pool_loss_takes_units_down(scenario, plan):
    """A certain whole-pool loss: every placed unit is lost; must-place ones count as
    masked, and every site that hosts units reports them lost."""
    u = with_flags(Uncertainty(), **ZERO, pool_loss_probability=1.0)
    report = run_robust(prepare(scenario, u), [("plan", plan, "p")], samples=20, seed=0)
    p = report.plans[0]
    assert p.violation["masked"] == 1.0 and p.feasible == 0.0
    used = {pl.site for pl in plan.placements}
    for site in p.sites:
        assert site.units_lost == (1.0 if site.site in used else 0.0)


def test_plan_of_another_scenario_is_refused(sampler, plan):
    other = placer.solve(generate_scenario(20, 4, seed=0), solver="greedy")
    with pytest.raises(OptionError, match="scenario"):
        run_robust(sampler, [("plan", other, "other.json")], samples=10)
    unnamed = other.model_copy(update={"scenario": ""})
    with pytest.raises(OptionError, match=r"other\.json: placements\.0"):
        run_robust(sampler, [("plan", unnamed, "other.json")], samples=10)


# ---- CLI ------------------------------------------------------------------------------


def _invoke(*args: str):
    return CliRunner().invoke(robust_command, list(args), catch_exceptions=False)


def test_cli_table_and_json(plan_file, tmp_path):
    out = tmp_path / "report.json"
    r = _invoke(SCENARIO, plan_file, "--samples", "100", "--compare", plan_file, "-o", str(out))
    assert r.exit_code == 0, r.output
    assert "Capacities that fail first" in r.output and "compare-1" in r.output
    r = _invoke(SCENARIO, plan_file, "--samples", "100", "--format", "json", "--price-sd", "0")
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["kind"] == "RobustReport" and report["samples"] == 100
    assert report["uncertainty"]["energy_price"]["sd"] == 0.0
    assert json.loads(out.read_text())["plans"][1]["label"] == "compare-1"


def test_cli_solve_writes_the_chosen_plan(plan_file, tmp_path):
    chosen = tmp_path / "chosen.json"
    args = ["--samples", "64", "--solve", "mean", "--solver", "greedy", "--format", "json"]
    r = _invoke(SCENARIO, plan_file, *args, "--plan-out", str(chosen))
    assert r.exit_code == 0, r.output
    solve = json.loads(r.output)["solve"]
    labels = [c["label"] for c in solve["candidates"]]
    assert labels[:3] == ["given", "nominal", "demand-p95"]
    best = min(solve["candidates"], key=lambda c: c["mean_usd_per_h"])
    assert solve["chosen"] == best["label"] and best["chosen"]
    assert json.loads(chosen.read_text())["kind"] == "Plan"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--demand-sd", "-0.1"], "--demand-sd"),
        (["--price-correlation", "1.5"], "--price-correlation"),
        (["--samples", "0"], "--samples"),
    ],
)
def test_cli_bad_flags_exit_2(plan_file, args, field):
    r = _invoke(SCENARIO, plan_file, *args)
    assert r.exit_code == 2
    assert field in r.output and "Traceback" not in r.output


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("demand: {sd: -0.2}\n", "demand.sd"),
        ("energy_price: {sites: {nowhere: 0.1}}\n", "energy_price.sites.nowhere"),
        ("capacity: {site_derate_probability: 2}\n", "capacity.site_derate_probability"),
        ("kind: Scenario\n", "not an Uncertainty"),
    ],
)
def test_cli_bad_uncertainty_file_exit_2(plan_file, tmp_path, text, field):
    path = tmp_path / "u.yaml"
    path.write_text(text)
    r = _invoke(SCENARIO, plan_file, "--uncertainty", str(path), "--samples", "10")
    assert r.exit_code == 2, r.output
    assert field in r.output and "Traceback" not in r.output


def test_cli_missing_file_and_foreign_plan_exit_2(plan_file, tmp_path):
    r = _invoke(SCENARIO, plan_file, "--uncertainty", str(tmp_path / "none.yaml"))
    assert r.exit_code == 2 and "none.yaml" in r.output
    other = placer.solve(generate_scenario(20, 4, seed=0), solver="greedy")
    path = tmp_path / "other.json"
    path.write_text(other.model_dump_json())
    r = _invoke(SCENARIO, str(path), "--samples", "10")
    assert r.exit_code == 2
    assert "scenario" in r.output and "gen-20x4-s0" in r.output and "Traceback" not in r.output


def test_timed_scenario_zero_spread_and_reference():
    """A scenario with a horizon: rows per period, money per hour of the horizon. Zero
    spread gives the nominal score; with every family on, samples match the reference."""
    timed = placer.load("configs/time/small_day.yaml")
    timed_plan = placer.solve(timed, solver="greedy", time_limit_s=30.0)
    zero = prepare(timed, with_flags(Uncertainty(), **ZERO))
    p = run_robust(zero, [("plan", timed_plan, "p")], samples=20).plans[0]
    assert p.objective_usd_per_h.mean == pytest.approx(p.objective_usd_per_h.nominal, rel=RTOL)
    s = prepare(timed, with_flags(Uncertainty(), **ALL_ON))
    exp = expose(s.fleet, timed_plan, "plan")
    pert = s.perturbation(exp, s.draw(seed=2, block=0))
    scores, _, excess = score_block(jnp.asarray(exp.slots_u), s.fleet.kp, pert)
    mag = _magnitude(s.fleet.problem, exp.slots_u)
    for b in range(4):
        want, want_excess = reference_sample(s.fleet.problem, exp.slots_u, pert, b)
        _close(scores.objective[b], want.objective[0], RTOL * 5.0 * mag["objective"])
        loads = row_loads(s.fleet.problem, exp.options_u)
        cap = np.where(np.isfinite(s.fleet.problem.cap_r), s.fleet.problem.cap_r, 0.0)
        _close(excess[b], want_excess, RTOL * 5.0 * (np.abs(loads) + cap) + 1e-6)
    report = run_robust(s, [("plan", timed_plan, "p")], samples=128)
    assert any(r.period is not None for r in report.plans[0].fail_first)


def test_the_documented_uncertainty_file_is_valid(scenario):
    """docs/robust.md's example file validates and names only what eu_sovereign has."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "robust.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    u = Uncertainty.model_validate(parse_yaml_text(block, source="docs/robust.md"))
    check_references(u, scenario)
    assert u.demand.workloads == {"eu-chat": 0.3}


def test_a_water_row_per_day_is_named_as_the_day_mean():
    """Where the periods tile days a site's water cap is one row per day (docs/time.md,
    "Water per day"): a sample over it is reported on the day's first period, in the
    day's mean L/h, and the nominal load is the plan's day litres / 24."""
    timed = placer.load("configs/time/small_day.yaml")
    plan = placer.solve(timed, solver="greedy", time_limit_s=30.0)
    litres = {s.site: s.water_l_per_h * 24.0 for s in plan.sites}
    data = timed.model_dump(mode="json", exclude_none=True)
    for site in data["sites"]:
        if site["id"] == "dfw-hall":  # the plan's day, exactly: any demand above it overruns
            site["cooling"]["water_cap_l_per_day"] = litres["dfw-hall"]
    capped = placer.Scenario.model_validate(data)
    assert [v.kind for v in placer.verify(capped, plan)] == ["kpi"]  # the cap it states
    s = prepare(capped, with_flags(Uncertainty(), **{**ZERO, "demand_sd": 0.3}))
    risks = run_robust(s, [("plan", plan, "p")], samples=128).plans[0].fail_first
    (water,) = [r for r in risks if r.kind == "water_l_per_h"]
    assert water.site == "dfw-hall" and water.period == 0
    assert water.unit == "L/h (the day's mean)"
    assert water.capacity == pytest.approx(litres["dfw-hall"] / 24.0)
    assert water.nominal_load == pytest.approx(litres["dfw-hall"] / 24.0)
    assert 0.0 < water.probability < 1.0
