"""The site-knapsack bound: exact sub-problems, valid for any prices, at least the
relaxation's bound, the same whatever the compile's chunks and the priced costs' source."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from placer.engines.base import SolveOptions
from placer.engines.milp.solve import solve_milp
from placer.engines.milp.warmstart import solve_lp
from placer.engines.relax.knapsack_bound import (
    knapsack_bound,
    knapsack_values,
    site_gaps,
    site_value,
)
from placer.engines.relax.lagrangian import dual_bound, relax_prices
from placer.engines.relax.rows import pair_rows
from placer.engines.relax.sampled import chunked_dual_bound
from placer.model.generate import generate_scenario
from placer.problem.compile import compile_problem
from placer.problem.rows import K_BUDGET, K_CARBON, Q_CARBON, Q_COST, global_row
from placer.problem.usage import compute_loads, objective_value
from tests.problems import brute_force, make_problem, per_gpu_problem, random_problem
from tests.strategies import scenarios


@given(
    cost=st.lists(st.floats(-10, 5, allow_nan=False), min_size=0, max_size=8),
    sizes=st.lists(st.integers(0, 6), min_size=8, max_size=8),
    n_max=st.integers(0, 14),
)
@settings(max_examples=150, deadline=None)
def test_knapsack_values_are_the_subset_optimum_at_every_capacity(cost, sizes, n_max):
    cost_n, size_n = np.array(cost, float), np.array(sizes[: len(cost)], np.int64)
    f = knapsack_values(cost_n, size_n, n_max)
    for n in range(n_max + 1):
        best = 0.0
        for take in itertools.product((0, 1), repeat=cost_n.size):
            x = np.array(take, bool)
            if size_n[x].sum() <= n:
                best = min(best, float(cost_n[x].sum()))
        assert f[n] == pytest.approx(best, abs=1e-9)


def test_knapsack_values_chunk_large_min_plus_steps(monkeypatch):
    """A step split into chunks of j (STEP_CELLS) gives the same values."""
    rng = np.random.default_rng(3)
    cost, size = -rng.uniform(0, 5, 60), rng.integers(1, 4, 60)
    whole = knapsack_values(cost, size, 50)
    monkeypatch.setattr("placer.engines.relax.knapsack_bound.STEP_CELLS", 7)
    np.testing.assert_allclose(knapsack_values(cost, size, 50), whole)


@given(
    seed=st.integers(0, 2**31 - 1),
    m=st.integers(1, 3),
    n_rows=st.integers(0, 2),
)
@settings(max_examples=80, deadline=None)
def test_site_value_is_the_best_feasible_combination(seed, m, n_rows):
    rng = np.random.default_rng(seed)
    f_list = [
        np.minimum.accumulate(-rng.uniform(0, 3, rng.integers(1, 6)).cumsum()) for _ in range(m)
    ]
    per_gpu = rng.uniform(0, 2, size=(m, n_rows)) * (rng.random((m, n_rows)) < 0.8)
    cap = rng.uniform(0, 6, size=n_rows)
    best = np.inf
    for n in itertools.product(*[range(f.size) for f in f_list]):
        if np.all(np.asarray(n) @ per_gpu <= cap + 1e-12):
            best = min(best, sum(f[k] for f, k in zip(f_list, n, strict=True)))
    assert site_value(f_list, per_gpu, cap) == pytest.approx(best, abs=1e-9)


def _check_bound(problem, price_seed):
    rows = pair_rows(problem)
    prices = np.random.default_rng(price_seed).exponential(3.0, size=rows.cap_r.shape)
    relaxation, priced = dual_bound(problem, prices, rows)
    result = knapsack_bound(problem, prices, priced)
    best, _ = brute_force(problem)
    if best is None:
        return result, relaxation, best
    assert result.relaxation_usd_per_h == pytest.approx(relaxation, rel=1e-12, abs=1e-9)
    assert result.bound_usd_per_h >= relaxation - 1e-9
    assert result.bound_usd_per_h <= best + 1e-9 * max(1.0, abs(best))
    assert (result.gain_s >= 0).all()
    return result, relaxation, best


@given(
    seed=st.integers(0, 2**31 - 1),
    n_u=st.integers(0, 5),
    n_p=st.integers(1, 4),
    n_s=st.integers(1, 3),
    price_seed=st.integers(0, 1000),
)
@settings(max_examples=60, deadline=None)
def test_bound_is_valid_for_any_prices_with_per_gpu_rows(seed, n_u, n_p, n_s, price_seed):
    """Weak duality with the kept rows: relaxation <= bound <= optimum for any y >= 0."""
    problem = per_gpu_problem(np.random.default_rng(seed), n_u, n_p, n_s)
    _check_bound(problem, price_seed)


@given(
    seed=st.integers(0, 2**31 - 1),
    n_u=st.integers(0, 5),
    n_p=st.integers(1, 3),
    n_s=st.integers(1, 3),
    price_seed=st.integers(0, 1000),
)
@settings(max_examples=40, deadline=None)
def test_bound_is_valid_when_kw_is_not_per_gpu(seed, n_u, n_p, n_s, price_seed):
    """kW not proportional to GPUs: a row is kept only where the few items that could
    lower the site happen to be proportional, and the bound stays valid."""
    problem = random_problem(np.random.default_rng(seed), n_u, n_p, n_s)
    _check_bound(problem, price_seed)


def test_bound_reaches_the_integer_optimum_where_the_lp_splits_a_unit():
    """Two optional 3-GPU units (value 10, cost 1) and one 4-GPU pool: the LP places
    one and a third (8 USD/h); any plan places one (11 USD/h). At the LP prices (3 USD/h
    per GPU) the knapsack sees that only one fits."""
    problem = make_problem(
        cost_up=[[1.0], [1.0]],
        gpus_up=[[3.0], [3.0]],
        gpu_cap_p=[4.0],
        must_place_u=[False, False],
        value_u=[10.0, 10.0],
    )
    prices = np.zeros(pair_rows(problem).cap_r.shape)
    prices[0] = 3.0
    relaxation, priced = dual_bound(problem, prices)
    result = knapsack_bound(problem, prices, priced)
    assert relaxation == pytest.approx(8.0)
    assert result.bound_usd_per_h == pytest.approx(11.0)
    assert brute_force(problem)[0] == pytest.approx(11.0)


def test_bound_keeps_a_per_gpu_power_row_shared_by_two_pools():
    """Two pools of 4 GPUs at one site whose IT cap (5 kW, 1 kW per GPU) holds 5 GPUs;
    three 2-GPU optional units worth 10 each: whole units use 4 GPUs at most, the LP 5."""
    problem = make_problem(
        cost_up=[[1.0, 1.0]] * 3,
        gpus_up=[[2.0, 2.0]] * 3,
        it_kw_up=[[2.0, 2.0]] * 3,
        pool_site_p=[0, 0],
        gpu_cap_p=[4.0, 4.0],
        it_cap_kw_s=[5.0],
        must_place_u=[False] * 3,
        value_u=[10.0] * 3,
    )
    prices = np.zeros(pair_rows(problem).cap_r.shape)
    prices[2] = 4.5  # IT kW of site 0: (10 - 1) / 2 per kW
    relaxation, priced = dual_bound(problem, prices)
    result = knapsack_bound(problem, prices, priced)
    best, _ = brute_force(problem)
    assert relaxation == pytest.approx(3 * 10 - 2.5 * 9)  # 2.5 units placed
    assert result.kept_sr[0, 0]
    assert result.bound_usd_per_h == pytest.approx(best) == pytest.approx(2 * 1 + 10)


def test_must_place_unit_without_a_pool_keeps_the_infinite_bound():
    problem = make_problem(cost_up=[[1.0]], allowed_up=[[False]])
    prices = np.zeros(pair_rows(problem).cap_r.shape)
    relaxation, priced = dual_bound(problem, prices)
    assert knapsack_bound(problem, prices, priced).bound_usd_per_h == relaxation == np.inf


GENERATED = {"units": 600, "pools": 12, "seed": 4}


@pytest.fixture(scope="module")
def generated():
    problem, _ = compile_problem(generate_scenario(**GENERATED))
    return problem, relax_prices(problem, steps=300)


def test_bound_is_the_same_in_both_layouts(generated, monkeypatch):
    """The bound at the relaxation's prices and priced costs (`dual_bound`, pair lists)
    equals the bound on the same scenario compiled in chunks of 37 units, priced slot by
    slot in chunks of 50 units (`chunked_dual_bound`)."""
    import placer.engines.relax.knapsack_bound as kb
    import placer.engines.relax.sampled as sampled

    problem, relaxed = generated
    dense = knapsack_bound(problem, relaxed.prices_r, relaxed.priced_uk1)
    chunked, _ = compile_problem(generate_scenario(**GENERATED), chunk_cells=37 * 12)
    for name in chunked._fields:
        np.testing.assert_array_equal(getattr(chunked, name), getattr(problem, name), name)
    monkeypatch.setattr(sampled, "CHUNK_UNITS", 50)
    monkeypatch.setattr(kb, "CHUNK_UNITS", 50)
    bound, priced_uk1 = chunked_dual_bound(chunked, relaxed.prices_r)
    assert bound == pytest.approx(relaxed.bound, rel=1e-9)
    np.testing.assert_allclose(priced_uk1, relaxed.priced_uk1, rtol=1e-9, atol=1e-9)
    result = knapsack_bound(chunked, relaxed.prices_r, priced_uk1)
    assert result.bound_usd_per_h == pytest.approx(dense.bound_usd_per_h, rel=1e-12)
    np.testing.assert_allclose(result.gain_s, dense.gain_s, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(result.kept_sr, dense.kept_sr)


@pytest.mark.slow  # 4 s: the compiled scenarios' test stays in the default set
def test_bound_on_a_generated_fleet_sits_between_the_lp_and_the_milp(generated):
    """Compiled kW rows are per GPU, so they are kept; the bound beats the relaxation's
    and stays below the MILP's proven bound."""
    problem, relaxed = generated
    result = knapsack_bound(problem, relaxed.prices_r, relaxed.priced_uk1)
    assert result.kept_sr[:, 0].any()  # IT kW kept where capped
    assert result.bound_usd_per_h > relaxed.bound
    milp = solve_milp(problem, SolveOptions(time_limit_s=60, relative_gap=1e-6))
    assert milp.bound_usd_per_h is not None
    assert result.bound_usd_per_h <= milp.objective_usd_per_h + 1e-6 * abs(milp.objective_usd_per_h)
    assert solve_lp(problem, 60).bound <= milp.objective_usd_per_h + 1e-6


def test_site_gaps_and_the_terms_outside_sites_add_up_to_the_plan_gap(generated):
    """objective - bound = sum_s gap_s + unplaced optional units' multipliers + priced
    slack of the global rows; every gap_s is >= 0 for a feasible plan."""
    problem, relaxed = generated
    plan = solve_milp(problem, SolveOptions(time_limit_s=30, relative_gap=1e-3)).assign_u
    strong = knapsack_bound(problem, relaxed.prices_r, relaxed.priced_uk1)
    gaps = site_gaps(problem, plan, relaxed.prices_r, relaxed.priced_uk1, strong.gain_s)
    low_u = relaxed.priced_uk1.min(axis=1)
    value_u = np.where(problem.must_place_u, 0.0, problem.unplaced_usd_per_h_u)
    outside = float((value_u - low_u)[plan < 0].sum())
    loads = compute_loads(problem, plan)
    rows = pair_rows(problem)
    y = np.maximum(relaxed.prices_r, 0) * rows.active_r
    budget, carbon = global_row(problem.kind_r, K_BUDGET), global_row(problem.kind_r, K_CARBON)
    assert budget == problem.num_pools + 4 * problem.num_sites and carbon == budget + 1
    used = loads.total_q[[Q_COST, Q_CARBON]]
    outside += float((y[[budget, carbon]] * (rows.cap_r[[budget, carbon]] - used)).sum())
    assert problem.num_groups == 0  # no spread rows to add here
    total = objective_value(problem, plan) - strong.bound_usd_per_h
    assert gaps.sum() + outside == pytest.approx(total, rel=1e-9, abs=1e-6)
    assert (gaps >= -1e-6).all()


@given(scenario=scenarios(), price_seed=st.integers(0, 1000))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_bound_never_exceeds_the_milp_optimum_of_compiled_scenarios(scenario, price_seed):
    """Compiled scenarios (up to three pools a site, per-GPU kW rows, replicas, pins,
    residency): the bound at learned and at random prices stays below the proven
    optimum."""
    problem, _ = compile_problem(scenario)
    exact = solve_milp(problem, SolveOptions(time_limit_s=30, relative_gap=1e-9))
    if exact.status != "optimal":
        return  # infeasible (nothing to bound) or not proven in time
    rows = pair_rows(problem)
    random_prices = np.random.default_rng(price_seed).exponential(2.0, size=rows.cap_r.shape)
    for prices in (relax_prices(problem, steps=200).prices_r, random_prices):
        _, priced = dual_bound(problem, prices, rows)
        result = knapsack_bound(problem, prices, priced)
        tol = 1e-6 * max(1.0, abs(exact.objective_usd_per_h))
        assert result.bound_usd_per_h <= exact.objective_usd_per_h + tol


def test_bound_keeps_a_power_row_where_the_pool_has_no_gpu_cap():
    """A pool without a GPU cap still gets a knapsack from its site's IT row (5 kW at
    1 kW per GPU): three optional 2-GPU units worth 10 (cost 1), whole units fit two."""
    problem = make_problem(
        cost_up=[[1.0]] * 3,
        gpus_up=[[2.0]] * 3,
        it_kw_up=[[2.0]] * 3,
        it_cap_kw_s=[5.0],
        must_place_u=[False] * 3,
        value_u=[10.0] * 3,
    )
    prices = np.zeros(pair_rows(problem).cap_r.shape)
    prices[1] = 4.5  # IT kW of site 0 (row 0 is the pool's uncapped GPU row)
    relaxation, priced = dual_bound(problem, prices)
    result = knapsack_bound(problem, prices, priced)
    assert relaxation == pytest.approx(3 * 10 - 2.5 * 9)
    assert result.bound_usd_per_h == pytest.approx(brute_force(problem)[0]) == pytest.approx(12.0)


def test_site_gaps_of_a_plan_that_places_nothing(generated):
    """No unit placed: every site's gap is its priced idle capacity less its gain."""
    problem, relaxed = generated
    strong = knapsack_bound(problem, relaxed.prices_r, relaxed.priced_uk1)
    empty = np.full(problem.num_units, -1, np.int32)
    gaps = site_gaps(problem, empty, relaxed.prices_r, relaxed.priced_uk1, strong.gain_s)
    assert gaps.dtype == np.float64 and gaps.shape == (problem.num_sites,)
