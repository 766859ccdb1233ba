"""Column generation (placer/engines/relax/colgen.py) and the hybrid's column-generation
path (placer/engines/search/colgen_hybrid.py): the bound equals the full LP optimum when
it converges, never passes the exact optimum, and every plan verifies."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from placer import api
from placer.engines.base import SolveOptions
from placer.engines.milp.solve import solve_milp
from placer.engines.milp.warmstart import solve_lp
from placer.engines.relax.colgen import column_generation, lost_value
from placer.engines.relax.sampled import chunked_dual_bound
from placer.engines.search.colgen_hybrid import solve_colgen_hybrid
from placer.model.generate import generate_scenario
from placer.model.generate_time import generate_timed_scenario
from placer.plan.verify import verify
from placer.problem.compile import compile_problem
from placer.problem.usage import objective_value, violations
from tests.strategies import timed_scenarios

CONFIGS_DIR = Path(__file__).parent.parent / "configs"

SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "derandomize": True,
}


def _timed(units=120, pools=8, periods=24, seed=3):
    return compile_problem(generate_timed_scenario(units, pools, periods, seed=seed))[0]


@pytest.mark.parametrize("seed", [1, 2])
def test_converged_bound_is_the_lp_optimum_timed(seed: int) -> None:
    problem = _timed(seed=seed)
    lp = solve_lp(problem, 60.0)
    cg = column_generation(problem, time_budget_s=60.0, with_covers=False)
    assert cg is not None and cg.converged
    assert cg.bound == pytest.approx(lp.bound, rel=1e-5)
    assert cg.lp_value == pytest.approx(lp.bound, rel=1e-5)
    # far fewer columns than pairs
    assert cg.keep_uk.sum() < problem.num_pairs()


def test_converged_bound_is_the_lp_optimum_static_with_redundancy() -> None:
    scenario = generate_scenario(150, 12, seed=2, fill=0.8)
    problem = compile_problem(scenario)[0]
    assert problem.num_groups > 0 or problem.must_place_u.any()
    lp = solve_lp(problem, 60.0)
    cg = column_generation(problem, time_budget_s=60.0, with_covers=False)
    assert cg is not None and cg.converged
    assert cg.bound == pytest.approx(lp.bound, rel=1e-5, abs=1e-6)


def test_any_round_certifies_a_bound() -> None:
    """Stopped after one round the bound is lower, and still a Lagrangian bound: it is
    L(y) of the prices it returns."""
    problem = _timed(units=200, pools=10, periods=24, seed=4)
    full = column_generation(problem, time_budget_s=60.0)
    early = column_generation(problem, time_budget_s=60.0, max_rounds=1)
    assert early is not None and full is not None
    assert early.bound <= full.bound + 1e-6 and early.rounds == 1 and not early.converged
    assert chunked_dual_bound(problem, early.prices_r)[0] == pytest.approx(early.bound)


def test_a_round_the_time_left_cannot_buy_is_not_started(monkeypatch) -> None:
    """With the next master's time estimated beyond any budget, column generation stops
    after its first round, says why, and its bound is still L(y) of its prices."""
    import placer.engines.relax.colgen as colgen

    problem = _timed(units=200, pools=10, periods=24, seed=4)
    monkeypatch.setattr(colgen, "NEXT_SOLVE_GROWTH", 1e12)
    cg = column_generation(problem, time_budget_s=60.0)
    assert cg is not None and cg.rounds == 1 and not cg.converged
    assert "the next master would not finish in time" in cg.notes[0]
    assert chunked_dual_bound(problem, cg.prices_r)[0] == pytest.approx(cg.bound)


def test_must_place_penalty_only_for_must_place_units() -> None:
    problem = _timed()
    forced = problem._replace(must_place_u=np.arange(problem.num_units) % 3 == 0)
    value = lost_value(forced)
    assert (value[~forced.must_place_u] == forced.unplaced_usd_per_h_u[~forced.must_place_u]).all()
    assert (value[forced.must_place_u] > np.abs(forced.objective_usd_per_h_uk).max()).all()


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_bound_never_passes_the_exact_optimum(seed: int) -> None:
    problem = _timed(units=60, pools=5, periods=12, seed=seed)
    exact = solve_milp(problem, SolveOptions(time_limit_s=60.0, relative_gap=0.0))
    assert exact.status == "optimal"
    result = solve_colgen_hybrid(problem, SolveOptions(time_limit_s=10.0))
    assert result.bound_usd_per_h <= exact.objective_usd_per_h + 1e-6
    assert not violations(problem, result.assign_u)
    assert result.objective_usd_per_h == pytest.approx(objective_value(problem, result.assign_u))
    assert result.objective_usd_per_h >= exact.objective_usd_per_h - 1e-6


def test_hybrid_takes_the_colgen_path_on_timed_problems() -> None:
    scenario = generate_timed_scenario(150, 8, 24, seed=2)
    plan = api.solve(scenario, solver="hybrid", time_limit_s=10.0)
    assert any("column generation" in line for line in plan.diagnostics)
    assert verify(scenario, plan) == []
    assert plan.bound_usd_per_h is not None and plan.bound_usd_per_h <= plan.objective_usd_per_h


@pytest.mark.slow  # 9 s
def test_the_master_milp_runs_on_cpsat_with_workers_and_an_integer_model(monkeypatch) -> None:
    """With 2 workers, no backend asked for and an all-integer model, the MILP over the
    master's columns runs on CP-SAT (not over every pair, not with soft rows), and the
    hybrid's plan verifies with its bound under it."""
    import placer.engines.search.colgen_hybrid as colgen_hybrid

    problem = _timed(units=150, pools=8, periods=24, seed=2)
    two, one = SolveOptions(workers=2), SolveOptions(workers=1)
    assert colgen_hybrid.master_milp_backend(problem, two, whole=False) == "cpsat"
    assert colgen_hybrid.master_milp_backend(problem, one, whole=False) is None
    assert colgen_hybrid.master_milp_backend(problem, two, whole=True) is None
    over = np.full(problem.num_rows, np.inf)
    over[0] = 1.0  # one soft row: its excess is a continuous variable
    soft = problem._replace(over_usd_per_h_r=over)
    assert colgen_hybrid.master_milp_backend(soft, two, whole=False) is None

    backends: list[str | None] = []
    real = colgen_hybrid.solve_milp

    def spy(prob, options, **kwargs):
        backends.append(options.backend)
        return real(prob, options, **kwargs)

    monkeypatch.setattr(colgen_hybrid, "FULL_MILP_PAIRS", 0)  # the master's columns only
    monkeypatch.setattr(colgen_hybrid, "solve_milp", spy)
    result = solve_colgen_hybrid(problem, SolveOptions(time_limit_s=10.0, workers=2))
    assert backends and backends[0] == "cpsat"
    assert not violations(problem, result.assign_u)
    assert result.bound_usd_per_h <= result.objective_usd_per_h + 1e-6


@pytest.mark.slow  # 7 s
def test_the_neighbourhood_search_runs_on_cpsat_where_the_model_is_all_integer(
    monkeypatch,
) -> None:
    """With no backend asked for and an all-integer model, each neighbourhood MILP runs on
    CP-SAT over at most CPSAT_SUB.max_free units (HiGHS otherwise, and with a backend
    asked for), and the plan only improves, verifies and keeps its bound under it."""
    import placer.engines.search.colgen_hybrid as colgen_hybrid
    import placer.engines.search.neighbourhood as neighbourhood

    problem = _timed(units=150, pools=8, periods=24, seed=2)
    options = SolveOptions(workers=1)
    assert colgen_hybrid.lns_sub_solver(problem, options) == neighbourhood.CPSAT_SUB
    asked = dataclasses.replace(options, backend="highs")
    assert colgen_hybrid.lns_sub_solver(problem, asked) == neighbourhood.HIGHS_SUB
    over = np.full(problem.num_rows, np.inf)
    over[0] = 1.0  # one soft row: its excess is a continuous variable
    soft = problem._replace(over_usd_per_h_r=over)
    assert colgen_hybrid.lns_sub_solver(soft, options) == neighbourhood.HIGHS_SUB

    calls: list[tuple[str | None, int]] = []
    real = neighbourhood.solve_milp

    def spy(prob, opts, **kwargs):
        calls.append((opts.backend, prob.num_units))
        return real(prob, opts, **kwargs)

    rounded: list[float] = []
    real_master = colgen_hybrid._master_milp

    def master(problem_, options_, cg, best, bound, left, notes):
        out = real_master(problem_, options_, cg, best, bound, left, notes)
        rounded.append(objective_value(problem_, out[0]))
        return out

    monkeypatch.setattr(colgen_hybrid, "FULL_MILP_PAIRS", 0)  # no proof by the master MILP
    monkeypatch.setattr(neighbourhood, "CPSAT_SUB", neighbourhood.SubSolver("cpsat", 1.0, 40))
    monkeypatch.setattr(neighbourhood, "solve_milp", spy)
    monkeypatch.setattr(colgen_hybrid, "_master_milp", master)
    monkeypatch.setattr(colgen_hybrid, "lns_sub_solver", lambda p, o: neighbourhood.CPSAT_SUB)
    result = solve_colgen_hybrid(problem, SolveOptions(time_limit_s=8.0, relative_gap=0.0))
    assert calls and all(backend == "cpsat" and n <= 40 for backend, n in calls)
    assert any("cpsat over up to 40 units" in line for line in result.diagnostics)
    assert not violations(problem, result.assign_u)
    assert result.objective_usd_per_h <= rounded[0] + 1e-9
    assert result.bound_usd_per_h <= result.objective_usd_per_h + 1e-6


def test_static_problems_keep_their_paths() -> None:
    problem = compile_problem(generate_scenario(60, 6, seed=1))[0]
    assert not problem.wide_options()
    assert _timed().wide_options()


@settings(max_examples=12, **SETTINGS)
@given(scenario=timed_scenarios(max_sites=2, max_workloads=4))
def test_colgen_bound_at_most_milp_optimum(scenario) -> None:
    problem = compile_problem(scenario)[0]
    if problem.num_pairs() == 0:
        return
    exact = solve_milp(problem, SolveOptions(time_limit_s=20.0, relative_gap=0.0))
    cg = column_generation(problem, time_budget_s=20.0)
    assert cg is not None
    if exact.status == "optimal":
        assert cg.bound <= exact.objective_usd_per_h + 1e-6 * max(1.0, abs(cg.bound))
    result = solve_colgen_hybrid(problem, dataclasses.replace(SolveOptions(time_limit_s=5.0)))
    if result.status in ("optimal", "feasible"):
        assert not violations(problem, result.assign_u)
        if exact.status == "optimal":
            assert result.bound_usd_per_h <= exact.objective_usd_per_h + 1e-6 * max(
                1.0, abs(result.bound_usd_per_h)
            )


def test_columns_layout_on_a_static_config_matches_the_exact_optimum() -> None:
    """Column generation is valid on any problem: `--layout columns` forces it."""
    from placer.model.load import load_scenario

    scenario = load_scenario(CONFIGS_DIR / "eu_sovereign.yaml")
    exact = api.solve(scenario, solver="milp", time_limit_s=30.0)
    plan = api.solve(scenario, solver="hybrid", time_limit_s=10.0, layout="columns")
    assert any("column generation" in line for line in plan.diagnostics)
    assert verify(scenario, plan) == []
    assert plan.bound_usd_per_h <= exact.objective_usd_per_h + 1e-6
    assert plan.objective_usd_per_h >= exact.objective_usd_per_h - 1e-6


def test_cli_layout_columns(tmp_path) -> None:
    from click.testing import CliRunner

    from placer.cli.main import cli

    out = tmp_path / "plan.json"
    result = CliRunner().invoke(
        cli,
        [
            "solve",
            str(CONFIGS_DIR / "time" / "small_day.yaml"),
            "--solver",
            "hybrid",
            "--layout",
            "columns",
            "--time-limit-s",
            "10",
            "--format",
            "json",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "column generation" in out.read_text()


def test_rounding_to_the_largest_column_takes_each_units_largest_share() -> None:
    """`rounded_largest`: a unit the master places at least half of goes to its largest
    column, one placed less stays out; `rounded_whole` keeps whole columns only; both
    repaired are feasible plans."""
    from placer.engines.relax.repair import repair
    from placer.engines.search.colgen_hybrid import rounded_largest, rounded_whole

    problem = _timed()
    cg = column_generation(problem, time_budget_s=30.0, max_rounds=1)
    assert cg is not None
    slots = [np.flatnonzero(problem.listed_uk[u]) for u in range(3)]
    assert all(s.size >= 2 for s in slots)
    # unit 0: 0.3 / 0.6 (largest: second); unit 1: 0.2 / 0.2 (under half: out); unit 2 whole
    fake = cg._replace(
        x_unit=np.array([0, 0, 1, 1, 2]),
        x_slot=np.array([slots[0][0], slots[0][1], slots[1][0], slots[1][1], slots[2][0]]),
        x_value=np.array([0.3, 0.6, 0.2, 0.2, 1.0]),
    )
    largest = rounded_largest(problem, fake)
    assert largest[0] == problem.option_uk[0, slots[0][1]]
    assert largest[1] == -1
    assert largest[2] == problem.option_uk[2, slots[2][0]]
    assert (largest[3:] == -1).all()
    whole = rounded_whole(problem, fake)
    assert whole[0] == -1 and whole[1] == -1 and whole[2] == largest[2]
    for rounded in (largest, whole, rounded_largest(problem, cg), rounded_whole(problem, cg)):
        assert violations(problem, repair(problem, rounded, cg.priced)) == []
