"""Rounding through the LP over near-tied pools, and the hybrid's large-problem path."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import placer
from placer.engines.base import SolveOptions
from placer.engines.milp.solve import solve_milp
from placer.engines.milp.warmstart import solve_lp
from placer.engines.relax import lp_rounding
from placer.engines.relax.lagrangian import relax_prices
from placer.engines.relax.sampled import chunked_dual_bound
from placer.engines.search import hybrid, large_hybrid
from placer.model.generate import generate_scenario
from placer.problem.compile import compile_problem
from placer.problem.rows import K_GPUS, Q_GPUS, rows_of_kind
from placer.problem.usage import compute_loads, objective_value, violations
from tests.problems import allowed_table
from tests.strategies import scenarios

GENERATED = {"units": 400, "pools": 12, "seed": 2}


@pytest.fixture(scope="module")
def case():
    problem, _ = compile_problem(generate_scenario(**GENERATED))
    return problem, relax_prices(problem, steps=300)


@pytest.fixture(scope="module")
def chunked_case():
    """The same scenario compiled in chunks of 29 units."""
    problem, _ = compile_problem(generate_scenario(**GENERATED), chunk_cells=29 * 12)
    return problem


def test_near_tied_pools_start_at_the_cheapest_and_stay_within_the_tolerance(case):
    problem, relaxed = case
    priced = relaxed.priced_uk1
    allowed = allowed_table(problem)
    near = lp_rounding.near_tie_pools(problem, priced, rel_tol=0.01, max_pools=6)
    cheapest = priced[:, :-1].min(axis=1)
    for u in range(problem.num_units):
        pools = near[u][near[u] >= 0]
        if not np.isfinite(cheapest[u]):
            assert pools.size == 0
            continue
        assert allowed[u, pools].all()
        slots = problem.slots_of(u, pools)
        np.testing.assert_array_equal(problem.option_uk[u, slots], pools)
        assert priced[u, slots[0]] == cheapest[u]
        assert np.all(np.diff(priced[u, slots]) >= 0)  # cheapest first
        within = priced[u, slots] - cheapest[u] <= 0.01 * max(abs(cheapest[u]), 1e-3)
        assert within[lp_rounding.MIN_POOLS :].all()
        # every allowed pool left out is either past max_pools or not near-tied
        if pools.size < min(6, int(allowed[u].sum())):
            rest = problem.slots_of(u, np.setdiff1d(np.flatnonzero(allowed[u]), pools))
            assert np.all(priced[u, rest] - cheapest[u] > 0.01 * max(abs(cheapest[u]), 1e-3))


def test_near_tied_pools_are_the_same_in_both_layouts(case, chunked_case):
    """The same lists from the pair lists' priced costs (`dual_bound`) and from the
    slot-by-slot ones (`chunked_dual_bound`) of the scenario compiled in small chunks."""
    problem, relaxed = case
    _, priced_uk1 = chunked_dual_bound(chunked_case, relaxed.prices_r)
    np.testing.assert_array_equal(
        lp_rounding.near_tie_pools(problem, relaxed.priced_uk1),
        lp_rounding.near_tie_pools(chunked_case, priced_uk1),
    )


def test_restricted_lp_is_never_below_the_full_lp_and_rounds_to_a_feasible_plan(case, chunked_case):
    problem, relaxed = case
    near = lp_rounding.near_tie_pools(problem, relaxed.priced_uk1)
    lp = lp_rounding.restricted_lp(problem, lp_rounding.candidate_tuples(near), 30)
    assert lp is not None
    full = solve_lp(problem, 30)
    assert lp.objective_usd_per_h >= full.bound - 1e-6 * abs(full.bound)
    # the scenario compiled in small chunks gives the same LP
    chunked_lp = lp_rounding.restricted_lp(chunked_case, lp_rounding.candidate_tuples(near), 30)
    assert chunked_lp.objective_usd_per_h == pytest.approx(lp.objective_usd_per_h, rel=1e-9)
    # the integral part is inside the LP's capacities; only units it split are missing
    part = lp_rounding.integral_part(problem, lp)
    assert set(violations(problem, part)) <= {"must-place unit unplaced"}
    split = lp_rounding.fractional_units(lp)
    assert np.all(part[split] < 0)
    plan = lp_rounding.lp_rounded(problem, lp, relaxed.priced_uk1)
    assert violations(problem, plan) == []
    support = lp_rounding.lp_support(problem, lp, 3)
    x_up = np.zeros((problem.num_units, problem.num_options))
    x_up[lp.pairs[:, 0], lp.pairs[:, 1]] = lp.x_n
    for u in range(problem.num_units):
        pools = support[u][support[u] >= 0]
        assert np.all(x_up[u, pools] > lp_rounding.INTEGRAL_TOL)
        assert np.all(np.diff(x_up[u, pools]) <= 0)  # largest share first
        assert pools.size == min(3, int((x_up[u] > lp_rounding.INTEGRAL_TOL).sum()))
        if pools.size:
            assert x_up[u].max() == x_up[u, pools[0]]


def _large_path_plan(problem, monkeypatch, time_limit_s=8.0):
    monkeypatch.setattr(hybrid, "LNS_MIN_VARS", 0)  # the path of problems too big to solve
    return hybrid.solve_hybrid(problem, SolveOptions(time_limit_s=time_limit_s, seed=0))


@pytest.mark.slow  # ~10 s: the MILP optimum of the case
def test_large_path_plan_sits_between_its_bound_and_the_milp_optimum(case, monkeypatch):
    problem, _ = case
    result = _large_path_plan(problem, monkeypatch)
    assert violations(problem, result.assign_u) == []
    assert any("near-tied pairs" in line for line in result.diagnostics)
    exact = solve_milp(problem, SolveOptions(time_limit_s=60, relative_gap=1e-9))
    assert result.bound_usd_per_h <= exact.objective_usd_per_h + 1e-6
    assert objective_value(problem, result.assign_u) >= exact.bound_usd_per_h - 1e-6
    assert result.objective_usd_per_h == pytest.approx(objective_value(problem, result.assign_u))


@pytest.mark.slow  # ~9 s
def test_large_path_falls_back_to_sampled_rounding_when_the_lp_is_not_solved(case, monkeypatch):
    problem, _ = case
    monkeypatch.setattr(hybrid, "restricted_lp", lambda *args, **kwargs: None)
    result = _large_path_plan(problem, monkeypatch, time_limit_s=5.0)
    assert violations(problem, result.assign_u) == []
    assert not any("near-tied pairs" in line for line in result.diagnostics)
    assert result.bound_usd_per_h <= result.objective_usd_per_h


@pytest.mark.slow  # 8 s: tests/test_large_fleet.py checks the large path's plans in the default set
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_large_path_plans_pass_the_independent_verifier(scenario):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hybrid, "LNS_MIN_VARS", 0)
        plan = placer.solve(scenario, solver="hybrid", time_limit_s=3)
    if plan.status == "infeasible":  # a proof: the exact MILP must agree
        assert placer.solve(scenario, solver="milp", time_limit_s=10).status == "infeasible"
    if plan.status not in ("optimal", "feasible"):
        return  # "no_solution" (no plan in time) is an honest answer of a heuristic
    assert placer.verify(scenario, plan) == []
    if plan.bound_usd_per_h is not None:
        assert plan.bound_usd_per_h <= plan.objective_usd_per_h * (1 + 1e-9) + 1e-9


def test_loads_of_the_integral_part_never_exceed_the_lp_loads(case):
    problem, relaxed = case
    near = lp_rounding.near_tie_pools(problem, relaxed.priced_uk1)
    lp = lp_rounding.restricted_lp(problem, lp_rounding.candidate_tuples(near), 30)
    part = compute_loads(problem, lp_rounding.integral_part(problem, lp))
    gpus_p = np.zeros(problem.num_pools)
    u, o = lp.pairs[:, 0], lp.pairs[:, 1]
    slot = np.array([problem.slots_of(int(a), [int(b)])[0] for a, b in zip(u, o, strict=True)])
    np.add.at(gpus_p, problem.pool_o[o], problem.amount_quk[Q_GPUS, u, slot] * lp.x_n)
    gpu_rows = rows_of_kind(problem.kind_r, problem.scope_r, K_GPUS, problem.num_pools)
    assert np.all(part.loads_r[gpu_rows] <= gpus_p + 1e-6)


@pytest.mark.slow  # 12 s: the default run checks each path's plans in test_large_fleet.py
def test_full_and_large_hybrid_paths_are_verified_and_bounded_by_the_milp():
    """The whole-fleet relaxation (`solve_hybrid_full`, layout "dense") and the
    sampled-prices path (`solve_large_hybrid`, layout "sparse") on one scenario: both
    plans pass the independent verifier, and both bounds are at most the MILP optimum."""
    scenario = generate_scenario(**GENERATED)
    exact = placer.solve(scenario, solver="milp", time_limit_s=60, relative_gap=1e-9)
    assert exact.status == "optimal"
    tol = 1e-6 * max(1.0, abs(exact.objective_usd_per_h))
    paths = {"dense": hybrid.solve_hybrid_full, "sparse": large_hybrid.solve_large_hybrid}
    for layout, path in paths.items():
        assert placer.api.HYBRID_PATHS[layout] is path
        plan = placer.solve(scenario, solver="hybrid", layout=layout, time_limit_s=6.0, seed=0)
        assert plan.status in ("optimal", "feasible"), layout
        assert placer.verify(scenario, plan) == [], layout
        assert plan.bound_usd_per_h <= exact.objective_usd_per_h + tol, layout
        assert plan.objective_usd_per_h >= exact.bound_usd_per_h - tol, layout
