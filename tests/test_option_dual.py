"""The Lagrangian ascent priced per option (placer/engines/relax/option_dual.py): its
bound is L(y) exactly as the padded pricing computes it, never passes the optimum, and
gets close to the LP optimum on timed problems."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from placer.engines.base import SolveOptions
from placer.engines.milp.solve import solve_milp
from placer.engines.milp.warmstart import solve_lp
from placer.engines.relax.option_dual import ascend, certified_bound, option_dual
from placer.engines.relax.rows import row_capacities
from placer.engines.relax.sampled import chunked_dual_bound
from placer.model.generate_time import generate_timed_scenario
from placer.model.load import load_scenario
from placer.model.scenario import Scenario
from placer.problem.compile import compile_problem
from placer.problem.soft import soft_mask
from tests.strategies import timed_scenarios
from tests.test_grid_event_price import _brute_force_case

CONFIGS = Path(__file__).parent.parent / "configs"

SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "derandomize": True,
}


def _random_prices(problem, rng) -> np.ndarray:
    n = row_capacities(problem).size
    return rng.exponential(0.3, n) * (rng.random(n) < 0.5)


def _problems():
    yield compile_problem(generate_timed_scenario(60, 6, 24, seed=2))[0]
    yield compile_problem(load_scenario(CONFIGS / "eu_sovereign.yaml"))[0]  # redundancy rows
    yield compile_problem(Scenario.model_validate(_brute_force_case()))[0]  # soft rows


@pytest.mark.parametrize("problem", list(_problems()), ids=["timed", "static-groups", "soft"])
def test_certified_bound_is_the_padded_pricing(problem) -> None:
    rng = np.random.default_rng(0)
    dual = option_dual(problem)
    for _ in range(3):
        y = _random_prices(problem, rng)
        assert certified_bound(dual, y) == pytest.approx(
            chunked_dual_bound(problem, y)[0], rel=1e-9, abs=1e-9
        )


def test_the_fixtures_have_what_they_test() -> None:
    _, static, soft = _problems()
    assert static.num_groups > 0
    assert soft_mask(soft).any()


@settings(max_examples=15, **SETTINGS)
@given(scenario=timed_scenarios(), seed=st.integers(0, 2**31 - 1))
def test_certified_bound_on_random_timed_scenarios(scenario, seed) -> None:
    problem = compile_problem(scenario)[0]
    y = _random_prices(problem, np.random.default_rng(seed))
    got = certified_bound(option_dual(problem), y)
    want = chunked_dual_bound(problem, y)[0]
    assert got == pytest.approx(want, rel=1e-9, abs=1e-9) or got == want


@pytest.mark.parametrize("seed", [1, 2])
def test_ascent_is_a_bound_close_to_the_lp(seed: int) -> None:
    """600 steps on a 120-unit timed fleet: within 2% under the LP optimum (measured:
    about 0.5%), never above the MILP optimum, and its prices' bound is its own."""
    problem = compile_problem(generate_timed_scenario(120, 8, 24, seed=seed))[0]
    found = ascend(problem, time_budget_s=600.0, max_steps=600)
    lp = solve_lp(problem, 60.0).bound
    milp = solve_milp(problem, SolveOptions(time_limit_s=60.0))
    assert found.steps == 600
    assert found.bound <= lp + 1e-6 * abs(lp)
    assert found.bound >= lp - 0.02 * abs(lp)
    assert milp.status == "optimal" and found.bound <= milp.objective_usd_per_h + 1e-6
    assert certified_bound(option_dual(problem), found.prices_r) == pytest.approx(found.bound)


def test_soft_rows_are_priced_at_most_their_excess_price() -> None:
    problem = compile_problem(Scenario.model_validate(_brute_force_case()))[0]
    found = ascend(problem, time_budget_s=600.0, max_steps=200)
    soft = soft_mask(problem)
    assert (found.prices_r[: problem.num_rows][soft] <= problem.over_usd_per_h_r[soft] + 1e-9).all()
    optimum = solve_milp(problem, SolveOptions(time_limit_s=30.0)).objective_usd_per_h
    assert found.bound <= optimum + 1e-6


def test_no_budget_returns_the_start() -> None:
    problem = compile_problem(generate_timed_scenario(60, 6, 24, seed=2))[0]
    start = _random_prices(problem, np.random.default_rng(1))
    found = ascend(problem, time_budget_s=0.0, start_prices_r=start)
    assert found.steps == 0
    assert found.bound == pytest.approx(chunked_dual_bound(problem, start)[0])


def test_must_place_unit_without_options_is_infeasible() -> None:
    problem = compile_problem(generate_timed_scenario(60, 6, 24, seed=2))[0]
    stuck = problem._replace(
        option_uk=problem.option_uk.copy(), must_place_u=problem.must_place_u.copy()
    )
    stuck.option_uk[0] = -1
    stuck.must_place_u[0] = True
    assert certified_bound(option_dual(stuck), np.zeros(row_capacities(stuck).size)) == np.inf


@pytest.mark.slow  # 13 s: tests/test_colgen.py runs the colgen hybrid in the default set
def test_the_colgen_hybrid_starts_from_the_ascent(monkeypatch) -> None:
    """Above ASCENT_PAIRS (here 0) the column-generation hybrid starts from the ascent's
    prices: its plan verifies and its bound stays under the exact optimum."""
    from placer.engines.search import colgen_hybrid
    from placer.problem.usage import objective_value, violations

    calls = []

    def counted(*args, **kwargs):
        calls.append(kwargs["time_budget_s"])
        return ascend(*args, **kwargs)

    monkeypatch.setattr(colgen_hybrid, "ASCENT_PAIRS", 0)
    monkeypatch.setattr(colgen_hybrid, "ascend", counted)
    problem = compile_problem(generate_timed_scenario(120, 8, 24, seed=1))[0]
    found = colgen_hybrid.solve_colgen_hybrid(problem, SolveOptions(time_limit_s=20.0))
    optimum = solve_milp(problem, SolveOptions(time_limit_s=60.0, relative_gap=0.0))
    assert len(calls) == 1 and calls[0] > 0
    assert optimum.status == "optimal"
    assert not violations(problem, found.assign_u)
    value = objective_value(problem, found.assign_u)
    assert found.bound_usd_per_h <= optimum.objective_usd_per_h + 1e-6 <= value + 2e-6


def test_options_without_priced_rows_are_still_priced() -> None:
    """The last options charge no capped row (their rows' caps removed): the option
    table must still hold them."""
    problem = compile_problem(generate_timed_scenario(60, 6, 24, seed=2))[0]
    last = problem.num_options - 1
    rows = problem.row_oj[last][problem.row_oj[last] >= 0]
    cap = problem.cap_r.copy()
    cap[rows] = np.inf
    loose = problem._replace(cap_r=cap)
    y = _random_prices(loose, np.random.default_rng(3))
    assert certified_bound(option_dual(loose), y) == pytest.approx(
        chunked_dual_bound(loose, y)[0], rel=1e-9
    )


def test_ctrl_c_ends_the_ascent_after_its_chunk(monkeypatch) -> None:
    """With Ctrl-C requested the ascent stops after its first chunk of steps (not at the
    end of its budget) and returns its certified bound."""
    from placer import interrupt
    from placer.engines.relax import option_dual as module

    problem = compile_problem(generate_timed_scenario(60, 6, 24, seed=2))[0]
    monkeypatch.setattr(interrupt, "requested", lambda: True)
    found = ascend(problem, time_budget_s=600.0, max_steps=200)  # 200 without Ctrl-C
    assert found.steps == module.CHUNK_STEPS
    assert found.bound == pytest.approx(certified_bound(option_dual(problem), found.prices_r))


def test_the_whole_sample_is_the_problem_and_a_half_sample_keeps_its_units_pairs() -> None:
    from placer.engines.relax.option_dual import priced_pairs, priced_rows, sampled

    problem = compile_problem(generate_timed_scenario(120, 8, 24, seed=1))[0]
    dual = option_dual(problem)
    whole = sampled(dual, 1.0, 0)
    for a, b in zip(whole, dual, strict=True):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
    half = sampled(dual, 0.5, 3)
    n_half = half.num_units
    assert 0 < n_half < dual.num_units
    np.testing.assert_allclose(half.cap_r, dual.cap_r * n_half / dual.num_units)
    # units renumbered 0..n-1 in order, each keeping every one of its pairs
    assert np.array_equal(np.unique(half.unit_n), np.arange(n_half))
    assert (np.diff(half.unit_n) >= 0).all()
    pick = np.random.default_rng(3).random(dual.num_units) < 0.5  # sampled()'s draw
    assert pick.sum() == n_half
    per_unit = np.bincount(dual.unit_n, minlength=dual.num_units)
    np.testing.assert_array_equal(np.bincount(half.unit_n, minlength=n_half), per_unit[pick])
    # the option table is the problem's: a price prices a kept pair as it does the whole
    y = priced_rows(dual, _random_prices(problem, np.random.default_rng(4)))
    np.testing.assert_allclose(priced_pairs(half, y), priced_pairs(dual, y)[pick[dual.unit_n]])


@pytest.mark.slow  # 7 s: the sample layout's bound is checked in tests/test_restricted_layout.py
def test_a_large_fleet_is_priced_on_a_sample_then_on_every_unit(monkeypatch) -> None:
    """From SAMPLE_FROM_UNITS units (here 50) the ascent without start prices runs on a
    sample first and then on every unit from its prices; the bound is certified on the
    whole problem and stays under the LP optimum."""
    from placer.engines.relax import option_dual as module

    stages = []
    one_stage = module._ascend

    def counted(dual, budget, start, max_steps, t_start):
        stages.append((dual.num_units, start is None, t_start))
        return one_stage(dual, budget, start, max_steps, t_start)

    monkeypatch.setattr(module, "SAMPLE_FROM_UNITS", 50)
    monkeypatch.setattr(module, "_ascend", counted)
    problem = compile_problem(generate_timed_scenario(120, 8, 24, seed=1))[0]
    found = ascend(problem, time_budget_s=8.0)
    n_u = problem.num_units
    assert len(stages) == 2
    (sample_units, from_zero, t_first), (all_units, from_zero_2, t_second) = stages
    assert sample_units < n_u and from_zero and t_first == module.T_START
    assert all_units == n_u and not from_zero_2 and t_second == module.T_REFINE
    assert found.steps >= 2 * module.MIN_STEPS
    assert found.bound == pytest.approx(certified_bound(option_dual(problem), found.prices_r))
    lp = solve_lp(problem, 60.0).bound
    assert found.bound <= lp + 1e-6 * abs(lp)
    assert found.bound >= lp - 0.05 * abs(lp)


def test_ctrl_c_in_the_sample_stage_skips_the_second(monkeypatch) -> None:
    from placer import interrupt
    from placer.engines.relax import option_dual as module

    monkeypatch.setattr(module, "SAMPLE_FROM_UNITS", 50)
    monkeypatch.setattr(interrupt, "requested", lambda: True)
    problem = compile_problem(generate_timed_scenario(120, 8, 24, seed=1))[0]
    found = ascend(problem, time_budget_s=600.0)
    assert found.steps == module.CHUNK_STEPS
    assert found.bound == pytest.approx(certified_bound(option_dual(problem), found.prices_r))
