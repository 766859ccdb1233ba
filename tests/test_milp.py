"""The exact MILP: brute force, each constraint family binding, statuses, options."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from placer.engines.base import SolveOptions
from placer.engines.milp import milp_solver
from placer.engines.milp.diagnose import diagnose
from placer.engines.milp.prices import capacity_prices
from placer.errors import OptionError
from placer.problem.usage import objective_value, violations
from tests.problems import brute_force, make_problem, random_problem

EXACT = SolveOptions(time_limit_s=20.0, relative_gap=0.0)


def solve(problem, **kw):
    return milp_solver(problem, SolveOptions(**{**EXACT.__dict__, **kw}))


# ---- brute force -------------------------------------------------------------------------


@given(
    seed=st.integers(0, 2**31 - 1),
    n_u=st.integers(0, 5),
    n_p=st.integers(1, 3),
    n_s=st.integers(1, 3),
)
@settings(max_examples=60, deadline=None)
def test_milp_equals_brute_force(seed, n_u, n_p, n_s) -> None:
    problem = random_problem(np.random.default_rng(seed), n_u, n_p, n_s)
    best, _ = brute_force(problem)
    result = solve(problem)
    if best is None:
        assert result.status == "infeasible"
        return
    assert result.status == "optimal"
    assert violations(problem, result.assign_u) == []
    # HiGHS' default feasibility/integrality tolerances (~1e-6): compare to 1e-6 relative.
    np.testing.assert_allclose(result.objective_usd_per_h, best, rtol=1e-6, atol=1e-6)
    assert result.bound_usd_per_h <= best + 1e-6 * max(1.0, abs(best))


# ---- each constraint family binds and changes the answer ---------------------------------
# Two pools: p0 is cheap (1 USD/h), p1 dear (5 USD/h). One unit of 2 GPUs, 2 kW. Loose,
# it runs in p0 (objective 1). Each test tightens one family at p0 so it moves to p1 (5).

CHEAP, DEAR = 0, 1


def two_pools(**kw):
    base = dict(cost_up=[[1.0, 5.0]], gpus_up=[[2.0, 2.0]], it_kw_up=[[2.0, 2.0]])
    return make_problem(**{**base, **kw})


@pytest.mark.parametrize(
    ("family", "tight"),
    [
        ("gpus (2)", dict(gpu_cap_p=[1.0, 8.0])),
        ("it power (3)", dict(it_cap_kw_s=[1.5, 10.0])),
        ("facility power (4)", dict(facility_cap_kw_s=[1.5, 10.0])),
        ("heat (5)", dict(heat_cap_kw_s=[1.5, 10.0])),
        ("water (6)", dict(water_l_per_h_up=[[3.0, 0.0]], water_cap_l_per_h_s=[2.0, 9.0])),
        ("mask", dict(allowed_up=[[False, True]])),
    ],
)
def test_family_binds(family, tight) -> None:
    assert solve(two_pools()).assign_u.tolist() == [CHEAP]
    result = solve(two_pools(**tight))
    assert result.assign_u.tolist() == [DEAR], family
    assert result.objective_usd_per_h == pytest.approx(5.0)


def test_budget_binds() -> None:
    # Two units, each cheap in p0 (1) and dear in p1 (3); p0 holds one. Without a budget
    # both are placed (1 + 3 = 4); a 3.5 USD/h budget only affords the optional one in p0
    # or... the must-place unit alone: optional value 10 is lost (objective 1 + 10 = 11).
    kw = dict(
        cost_up=[[1.0, 3.0], [1.0, 3.0]],
        gpu_cap_p=[1.0, 5.0],
        must_place_u=[True, False],
        value_u=[0.0, 10.0],
    )
    assert solve(make_problem(**kw)).objective_usd_per_h == pytest.approx(4.0)
    tight = solve(make_problem(**kw, budget_usd_per_h=3.5))
    assert tight.assign_u[1] == -1 and tight.objective_usd_per_h == pytest.approx(11.0)


def test_carbon_cap_binds() -> None:
    kw = dict(cost_up=[[1.0, 2.0]], carbon_kg_per_h_up=[[10.0, 1.0]])
    assert solve(make_problem(**kw)).assign_u.tolist() == [0]
    assert solve(make_problem(**kw, carbon_cap_kg_per_h=5.0)).assign_u.tolist() == [1]


def test_redundancy_spreads_copies() -> None:
    # Two copies of one service, pools 0 and 1 at site 0 (cheap), pool 2 at site 1.
    kw = dict(cost_up=[[1.0, 1.5, 4.0]] * 2, pool_site_p=[0, 0, 1])
    assert sorted(solve(make_problem(**kw)).assign_u.tolist()) == [0, 0]
    spread = solve(make_problem(**kw, group_u=[0, 0], spread_key_gp=[[0, 0, 1]]))
    assert sorted(spread.assign_u.tolist()) == [0, 2]  # distinct sites: 1 + 4


def test_must_place_versus_value() -> None:
    kw = dict(cost_up=[[8.0]], value_u=[5.0])
    assert solve(make_problem(**kw, must_place_u=[False])).assign_u.tolist() == [-1]
    assert solve(make_problem(**kw, must_place_u=[True])).assign_u.tolist() == [0]


def test_lexicographic_places_value_first() -> None:
    # One slot; unit 0 is worth 10 (costs 9 to place), unit 1 worth 3 (costs 0).
    # Weighted: place unit 0 (9 + 3 = 12) vs unit 1 (0 + 10 = 10) -> unit 1.
    # Lexicographic: placed value first -> unit 0.
    kw = dict(
        cost_up=[[9.0], [0.0]], gpu_cap_p=[1.0], must_place_u=[False, False], value_u=[10.0, 3.0]
    )
    assert solve(make_problem(**kw)).assign_u.tolist() == [-1, 0]
    assert solve(make_problem(**kw, lexicographic=True)).assign_u.tolist() == [0, -1]


# ---- statuses and options ----------------------------------------------------------------


def test_proven_infeasible() -> None:
    result = solve(two_pools(gpu_cap_p=[1.0, 1.0]))
    assert result.status == "infeasible" and result.objective_usd_per_h is None


def test_feasible_with_gap_and_no_solution_on_a_short_limit() -> None:
    from placer.model.generate import generate_scenario
    from placer.problem.compile import compile_problem

    problem, _ = compile_problem(generate_scenario(units=1500, pools=40, seed=3))
    result = solve(problem, time_limit_s=1.0, relative_gap=1e-9)
    assert result.status in ("feasible", "no_solution")
    if result.status == "feasible":
        assert result.bound_usd_per_h < result.objective_usd_per_h
        assert violations(problem, result.assign_u) == []
    else:
        assert result.objective_usd_per_h is None


def test_deterministic_for_a_fixed_seed() -> None:
    problem = random_problem(np.random.default_rng(7), 5, 3, 2)
    first = solve(problem, seed=3)
    for _ in range(3):
        assert solve(problem, seed=3).assign_u.tolist() == first.assign_u.tolist()


def test_hint_is_reported_and_kept() -> None:
    problem = random_problem(np.random.default_rng(11), 5, 3, 2)
    best, assign = brute_force(problem)
    if best is None:
        pytest.skip("random instance infeasible")
    result = solve(problem, hint_u=assign)
    assert any("hint given: feasible" in d for d in result.diagnostics)
    assert result.objective_usd_per_h <= best + 1e-6


def test_restricted_candidates_give_a_restricted_bound() -> None:
    problem = two_pools()
    result = solve(problem, candidates_u=((1,),))
    assert result.assign_u.tolist() == [DEAR]
    assert result.status == "feasible" and result.bound_scope == "restricted"
    assert "restricted" in result.message


def test_bad_backend_and_options() -> None:
    with pytest.raises(OptionError, match="unknown MILP backend 'gurobi'"):
        solve(two_pools(), backend="gurobi")
    with pytest.raises(OptionError, match="time_limit_s"):
        solve(two_pools(), time_limit_s=0.0)


@pytest.mark.parametrize("backend", ["highs", "scip", "cpsat"])
def test_every_backend_finds_the_optimum(backend) -> None:
    problem = random_problem(np.random.default_rng(5), 4, 3, 2)
    best, _ = brute_force(problem)
    result = solve(problem, backend=backend)
    if best is None:
        assert result.status == "infeasible"
    else:
        assert result.objective_usd_per_h == pytest.approx(best, rel=1e-6)


# ---- capacity prices and diagnosis ------------------------------------------------------


def test_capacity_price_of_a_binding_site() -> None:
    # Two units of 1 kW; site 0 (cheap, 1 USD/h) holds one kW; the other unit pays 5 at
    # site 1. One more kW at site 0 saves 5 - 1 = 4 USD/h; site 1 does not bind.
    problem = make_problem(cost_up=[[1.0, 5.0]] * 2, it_cap_kw_s=[1.0, 10.0])
    prices = capacity_prices(problem)
    # heat has the same coefficients as IT: the LP may put the dual on either row
    assert len(prices) == 1 and prices[0][1] in ("it_kw", "heat_kw")
    assert prices[0][0] == 0 and prices[0][2] == pytest.approx(4.0)
    # it holds for exactly the one kW the second unit needs; beyond, a kW saves nothing
    assert prices[0][3] == pytest.approx(1.0)


def test_a_price_that_binds_as_far_as_searched_says_so() -> None:
    # One pool of 2 GPUs, 200 units of 1 GPU each worth 3 USD/h to place at 1 USD/h:
    # every GPU added saves 2 USD/h until 200 GPUs, past 64 x the capacity searched.
    problem = make_problem(
        cost_up=[[1.0]] * 200, gpus_up=[[1.0]] * 200, gpu_cap_p=[2.0], must_place_u=[False] * 200,
        value_u=[3.0] * 200,
    )  # fmt: skip
    [(scope, kind, price, holds)] = capacity_prices(problem)
    assert (scope, kind, price) == (0, "gpus", pytest.approx(2.0))
    assert holds == math.inf


def test_diagnosis_names_additions_and_drops() -> None:
    # Three must-place units of 2 GPUs, one pool of 4: either 2 more GPUs or drop one unit.
    problem = make_problem(cost_up=[[1.0]] * 3, gpus_up=[[2.0]] * 3, gpu_cap_p=[4.0])
    assert solve(problem).status == "infeasible"
    found = diagnose(problem, time_limit_s=10)
    assert found.additions == [(0, "gpus", pytest.approx(2.0))]
    assert len(found.drops) == 1 and found.complete


def test_diagnosis_of_a_unit_with_no_pool() -> None:
    problem = make_problem(cost_up=[[1.0], [1.0]], allowed_up=[[True], [False]])
    found = diagnose(problem, time_limit_s=10)
    assert found.unplaceable == [1] and found.additions == [] and found.drops == []


def test_objective_matches_the_problem_arithmetic() -> None:
    problem = random_problem(np.random.default_rng(2), 5, 3, 2)
    result = solve(problem)
    if result.objective_usd_per_h is not None:
        assert result.objective_usd_per_h == pytest.approx(
            objective_value(problem, result.assign_u)
        )
