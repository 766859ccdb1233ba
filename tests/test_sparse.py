"""The pair-list layout (placer.sparse): same numbers as the dense Problem, and the
solvers that read it return plans the independent verifier accepts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from placer import api
from placer.engines.base import SolveOptions
from placer.engines.greedy import solve_greedy
from placer.engines.relax.lagrangian import dual_bound, relax_prices
from placer.engines.relax.repair import repair
from placer.engines.relax.rows import pair_rows
from placer.engines.relax.sampled import sparse_dual_bound
from placer.engines.search.large_hybrid import sample_choices, solve_hybrid_sparse
from placer.model.generate import generate_scenario
from placer.model.load import load_scenario
from placer.plan.build import build_plan, unplaced_reason
from placer.plan.verify import verify
from placer.problem.compile import compile_problem, compile_sparse
from placer.problem.form import UNPLACED
from placer.problem.sparse_form import SparseIndex, SparseProblem
from placer.problem.usage import compute_loads, violations
from tests.strategies import scenarios

CONFIGS = sorted(Path(__file__).parent.parent.joinpath("configs").glob("*.yaml"))
_SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _scenario_cases():
    return [load_scenario(path) for path in CONFIGS] + [
        generate_scenario(units=300, pools=12, seed=3),
        generate_scenario(units=900, pools=30, seed=1),
    ]


def _assert_same(sparse: SparseProblem, other: SparseProblem) -> None:
    for name in sparse._fields:
        a, b = getattr(sparse, name), getattr(other, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("scenario", _scenario_cases(), ids=lambda s: s.metadata.name)
def test_compile_sparse_equals_the_dense_compile_cut_to_pairs(scenario):
    dense, index = compile_problem(scenario)
    sparse, sparse_index = compile_sparse(scenario, chunk_cells=997)  # many uneven chunks
    _assert_same(sparse, SparseProblem.from_dense(dense))
    expected = SparseIndex.from_dense(index, dense)
    np.testing.assert_array_equal(sparse_index.replicas_uk, expected.replicas_uk)
    np.testing.assert_array_equal(sparse_index.hours_uk, expected.hours_uk)
    assert sparse_index.units == index.units and sparse_index.pools == index.pools
    # and back: the dense sub-problem of every unit is the dense Problem on allowed pairs
    back = sparse.dense_units(np.arange(sparse.num_units))
    np.testing.assert_array_equal(back.allowed_up, dense.allowed_up)
    for name in ("gpus_up", "it_kw_up", "cost_usd_per_h_up", "objective_usd_per_h_up"):
        np.testing.assert_array_equal(
            getattr(back, name), np.where(dense.allowed_up, getattr(dense, name), 0.0)
        )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(max_sites=4, max_workloads=5), st.integers(0, 2**31 - 1))
def test_loads_violations_and_bound_agree_across_layouts(scenario, seed):
    dense, _ = compile_problem(scenario)
    sparse = SparseProblem.from_dense(dense)
    rng = np.random.default_rng(seed)
    # any pool, allowed or not, or unplaced: masked pairs must be caught in both layouts
    assign = rng.integers(-1, max(dense.num_pools, 1), dense.num_units).astype(np.int32)
    if dense.num_pools == 0:
        assign[:] = UNPLACED
    masked = "masked pair used"
    assert (masked in violations(dense, assign)) == (masked in violations(sparse, assign))
    rows = np.flatnonzero(assign >= 0)
    assign[rows[~dense.allowed_up[rows, assign[rows]]]] = UNPLACED  # loads of real plans
    a, b = compute_loads(dense, assign), compute_loads(sparse, assign)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=0, atol=0)
    assert violations(dense, assign) == violations(sparse, assign)
    prices = rng.exponential(1.0, pair_rows(dense).cap_r.size) * (rng.random() < 0.8)
    bound, priced = dual_bound(dense, prices)
    sparse_bound, priced_uk1 = sparse_dual_bound(sparse, prices)
    assert sparse_bound == pytest.approx(bound, rel=1e-12, abs=1e-9)
    listed = sparse.pool_uk >= 0
    rows, slots = np.nonzero(listed)
    np.testing.assert_allclose(
        priced_uk1[rows, slots], priced[rows, sparse.pool_uk[rows, slots]], rtol=1e-12
    )
    np.testing.assert_array_equal(priced_uk1[:, -1], priced[:, -1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_repair_and_greedy_give_the_same_plan_in_both_layouts(seed):
    dense, _ = compile_problem(generate_scenario(units=600, pools=20, seed=seed))
    sparse = SparseProblem.from_dense(dense)
    relaxed = relax_prices(dense, steps=200)
    _, priced_uk1 = sparse_dual_bound(sparse, relaxed.prices_r)
    start = np.argmin(relaxed.priced_up1, axis=1)
    start = np.where(start == dense.num_pools, UNPLACED, start).astype(np.int32)
    fixed = repair(dense, start, relaxed.priced_up1)
    np.testing.assert_array_equal(repair(sparse, start, priced_uk1), fixed)
    assert violations(dense, fixed) == violations(sparse, fixed)
    np.testing.assert_array_equal(
        solve_greedy(sparse, SolveOptions()).assign_u, solve_greedy(dense, SolveOptions()).assign_u
    )


def test_draws_follow_the_priced_softmax_and_stay_in_the_lists():
    sparse = SparseProblem.from_dense(
        compile_problem(generate_scenario(units=200, pools=10, seed=4))[0]
    )
    _, priced = sparse_dual_bound(sparse, np.zeros(pair_rows(sparse.dense_units([0])).cap_r.size))
    rng = np.random.default_rng(0)
    draws = np.stack([sample_choices(sparse, priced, 1e-9, rng) for _ in range(3)])
    # at ~zero temperature every draw is a cheapest choice of its unit
    for row in draws:
        slot = sparse.slot_of(row)
        chosen = np.where(row >= 0, priced[np.arange(200), np.maximum(slot, 0)], priced[:, -1])
        np.testing.assert_allclose(chosen, priced.min(axis=1))
    for row in draws:
        slot = sparse.slot_of(row)
        assert (slot != -2).all()  # never a pool outside the unit's list


@pytest.mark.parametrize("seed", [1, 2])
def test_sparse_hybrid_plan_passes_the_verifier_and_respects_its_bound(seed):
    scenario = generate_scenario(units=500, pools=16, seed=seed)
    sparse, index = compile_sparse(scenario)
    result = solve_hybrid_sparse(sparse, SolveOptions(time_limit_s=6, seed=0))
    assert result.status in ("optimal", "feasible")
    assert violations(sparse, result.assign_u) == []
    milp = api.solve(scenario, solver="milp", time_limit_s=60)
    assert milp.status == "optimal"  # within its relative gap (1e-4), so compare bounds:
    assert result.bound_usd_per_h <= milp.objective_usd_per_h * (1 + 1e-6)
    assert result.objective_usd_per_h >= milp.bound_usd_per_h * (1 - 1e-6)
    plan = build_plan(
        scenario, sparse, index, result, solver="hybrid", seed=0, time_limit_s=6, wall_s=1.0,
        versions={},
    )  # fmt: skip
    assert verify(scenario, plan) == []
    assert plan.objective_usd_per_h == pytest.approx(result.objective_usd_per_h)


def test_plans_from_either_layout_are_identical():
    scenario = load_scenario(CONFIGS[0])
    dense, index = compile_problem(scenario)
    sparse, sparse_index = compile_sparse(scenario)
    result = solve_greedy(dense, SolveOptions())
    args = dict(solver="greedy", seed=0, time_limit_s=1.0, wall_s=1.0, versions={})
    a = build_plan(scenario, dense, index, result, **args)
    b = build_plan(scenario, sparse, sparse_index, result, **args)
    assert a.model_dump() == b.model_dump()
    for u in range(dense.num_units):
        assert unplaced_reason(dense, index, u) == unplaced_reason(sparse, sparse_index, u)


def test_api_layouts_and_the_errors_of_dense_only_solvers():
    scenario = generate_scenario(units=300, pools=10, seed=2)
    plan = api.solve(scenario, solver="hybrid", layout="sparse", time_limit_s=4)
    assert plan.status in ("optimal", "feasible") and verify(scenario, plan) == []
    greedy = api.solve(scenario, solver="greedy", layout="sparse")
    assert greedy.model_dump(exclude={"wall_s"}) == api.solve(
        scenario, solver="greedy", layout="dense"
    ).model_dump(exclude={"wall_s"})
    from placer.errors import OptionError

    with pytest.raises(OptionError, match="does not read the sparse layout"):
        api.solve(scenario, solver="milp", layout="sparse")
    with pytest.raises(OptionError, match="unknown layout"):
        api.solve(scenario, layout="csr")


def test_auto_layout_switches_to_pair_lists_above_the_dense_limit(monkeypatch):
    scenario = generate_scenario(units=300, pools=10, seed=2)
    monkeypatch.setattr(api, "DENSE_MAX_CELLS", 100)
    assert api.choose_layout(scenario, "auto", "auto") == "sparse"
    with pytest.raises(Exception, match="needs the dense Problem"):
        api.choose_layout(scenario, "auto", "milp")
    assert api.choose_layout(scenario, "dense", "milp") == "dense"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(max_sites=4, max_workloads=5))
def test_sparse_hybrid_plans_pass_the_verifier_on_random_scenarios(scenario):
    sparse, index = compile_sparse(scenario)
    result = solve_hybrid_sparse(sparse, SolveOptions(time_limit_s=1.5, seed=0))
    exact = api.solve(scenario, solver="milp", time_limit_s=30)
    if result.status == "infeasible":
        assert exact.status == "infeasible"
        return
    if result.status not in ("optimal", "feasible"):
        return  # no plan found: nothing to check but the bound below
    plan = build_plan(
        scenario, sparse, index, result, solver="hybrid", seed=0, time_limit_s=1.5, wall_s=1.0,
        versions={},
    )  # fmt: skip
    assert verify(scenario, plan) == []
    if exact.status == "optimal":
        assert result.bound_usd_per_h <= exact.objective_usd_per_h + 1e-6 * max(
            1.0, abs(exact.objective_usd_per_h)
        )
        assert result.objective_usd_per_h >= exact.bound_usd_per_h - 1e-6 * max(
            1.0, abs(exact.objective_usd_per_h)
        )  # "optimal" holds within the MILP's relative gap: its bound is the proof


@pytest.mark.parametrize("scenario", _scenario_cases()[:4], ids=lambda s: s.metadata.name)
def test_the_model_built_from_pair_lists_is_the_dense_model(scenario):
    from placer.engines.milp.formulation import build_model

    dense, _ = compile_problem(scenario)
    sparse = SparseProblem.from_dense(dense)
    rng = np.random.default_rng(0)
    cands = tuple(
        tuple(sorted(rng.choice(dense.num_pools, size=3, replace=False).tolist()))
        for _ in range(dense.num_units)
    )
    for candidates in (None, cands):
        a = build_model(dense, candidates_u=candidates).model.export_model()
        b = build_model(sparse, candidates_u=candidates).model.export_model()
        assert a == b


def test_balancing_a_draw_keeps_it_in_the_lists_and_shrinks_its_overload():
    from placer.engines.relax.balance import balanced, row_loads
    from placer.engines.relax.rows import row_capacities
    from placer.engines.relax.sampled import sample_for, sampled_prices

    sparse, _ = compile_sparse(generate_scenario(units=3000, pools=40, seed=1))
    relaxed = sampled_prices(sparse, sample_for(sparse, 4e4), time_budget_s=2.0)
    _, priced = sparse_dual_bound(sparse, relaxed.prices_r)
    rng = np.random.default_rng(0)
    draw = sample_choices(sparse, priced, relaxed.temperature, rng)
    after = balanced(sparse, draw, relaxed.prices_r, relaxed.temperature, rng, rounds=60)
    assert sparse.slot_of(after).min() >= -1  # every placed unit is on a listed pool
    assert np.all(after[sparse.must_place_u & (draw >= 0)] >= 0)  # never re-drawn out
    n_rows = sparse.num_pools + 4 * sparse.num_sites
    cap = row_capacities(sparse)[:n_rows]
    capped = np.isfinite(cap)

    def overload(a):
        return np.maximum(row_loads(sparse, a) - cap, 0.0)[capped].sum()

    assert overload(draw) > 0
    assert overload(after) < overload(draw)
    # no rounds: the draw itself
    np.testing.assert_array_equal(
        balanced(sparse, draw, relaxed.prices_r, relaxed.temperature, rng, rounds=0), draw
    )
