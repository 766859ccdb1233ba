"""greedy: property tests on random valid scenarios, plus a few hand-made cases."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from placer import api
from placer.engines.base import SolveOptions
from placer.engines.greedy import priority_order, solve_greedy
from placer.model import Scenario
from placer.plan.build import _placement, build_plan, placement_of
from placer.plan.plan import Placement, Plan
from placer.plan.verify import Verifier, verify
from placer.problem.compile import (
    _Context,
    _pair_arrays,
    build_pools,
    build_units,
    compile_problem,
    pair_reasons,
)
from placer.problem.form import Index, Problem
from placer.problem.usage import allowed_options
from tests.strategies import scenario_dicts, scenarios

PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: Violation kinds that say a single placement may not go where it is.
PLACEMENT_KINDS = {
    "accelerator",
    "memory",
    "residency",
    "pin",
    "exclude",
    "cooling",
    "rack_density",
    "deadline",
    "latency",
}
#: Capacity kinds a lone placement can break by itself (the mask's "size" reason).
SIZE_KINDS = {"gpus", "it_power"}


def run_greedy(scenario: Scenario):
    problem, index = compile_problem(scenario)
    result = solve_greedy(problem, SolveOptions())
    plan = build_plan(
        scenario,
        problem,
        index,
        result,
        solver="greedy",
        seed=0,
        time_limit_s=None,
        wall_s=0.0,
        versions={},
    )
    return problem, index, result, plan


class PairClaims:
    """The figures compile's rules give for EVERY (unit, pool) pair of a scenario, masked
    ones included (the Problem keeps only the listed pairs): what the old dense tables
    held, so a masked pair can still be put to the verifier."""

    def __init__(self, scenario: Scenario) -> None:
        units = build_units(scenario)
        pools = build_pools(scenario)
        sites = sorted(scenario.sites, key=lambda s: s.id)
        self.arrays, self.bits, self.replicas = _pair_arrays(
            units, pools, sites, _Context(scenario)
        )

    def placement(self, index: Index, u: int, p: int) -> Placement:
        a = self.arrays
        pair = {
            "gpus": a["gpus"][u, p],
            "it_kw": a["it_kw"][u, p],
            "facility_kw": a["facility_kw"][u, p],
            "cost_usd_per_h": a["cost"][u, p],
            "carbon_kg_per_h": a["carbon"][u, p],
            "water_l_per_h": a["water"][u, p],
            "latency_ms": a["latency"][u, p],
        }
        unit, pool = index.units[u], index.pools[p]
        return _placement(unit, pool, self.replicas[u, p], a["hours"][u, p], pair)


def lone_placement(
    problem: Problem, index: Index, u: int, p: int, claims: PairClaims | None = None
) -> Placement:
    """Unit u in pool p with the claims compile gives for the pair: the Problem's for a
    listed pair, `claims` (the rules' figures) for a masked one."""
    if p in problem.options_of(u)[0]:
        return placement_of(problem, index, u, p)
    assert claims is not None, "a masked pair needs the rules' figures"
    return claims.placement(index, u, p)


def verify_rejects_pair(
    verifier: Verifier, problem, index, u: int, p: int, claims: PairClaims | None = None
) -> bool:
    """Does verify, reading only the scenario, object to unit u alone in pool p?"""
    placement = lone_placement(problem, index, u, p, claims)
    plan = Plan(status="feasible", solver="test", placements=[placement])
    violations, _ = verifier.check(plan)
    unit, pool = index.units[u], index.pools[p]
    return any(
        (v.kind in PLACEMENT_KINDS and v.subject == unit.name)
        or (v.kind == "gpus" and v.subject == pool.name)
        or (v.kind == "it_power" and v.subject == pool.site)
        for v in violations
    )


# ---- properties --------------------------------------------------------------------------


@given(scenarios(max_sites=4, max_workloads=5))
@PROPERTY
def test_every_feasible_greedy_plan_passes_verify(scenario: Scenario) -> None:
    _, _, result, plan = run_greedy(scenario)
    violations = verify(scenario, plan)
    if result.status == "feasible":
        assert violations == []
    else:
        # without a solution the placed part still keeps every rule; only must-place
        # units are missing.
        assert {v.kind for v in violations} <= {"must_place"}, violations


@given(scenarios(max_sites=4, max_workloads=5))
@PROPERTY
def test_greedy_never_places_a_masked_pair(scenario: Scenario) -> None:
    problem, _, result, _ = run_greedy(scenario)
    assign = np.asarray(result.assign_u)
    assert assign.shape == (problem.num_units,)
    placed = np.nonzero(assign >= 0)[0]
    assert (problem.slot_of(assign)[placed] >= 0).all()  # every placed option is listed
    assert ((assign >= -1) & (assign < max(problem.num_options, 1))).all()


@given(scenarios(max_sites=4, max_workloads=5))
@PROPERTY
def test_infeasible_means_a_must_place_unit_has_no_allowed_pool(scenario: Scenario) -> None:
    problem, index, result, plan = run_greedy(scenario)
    no_pool = problem.must_place_u & ~problem.listed_uk.any(axis=1)
    assert (result.status == "infeasible") == bool(no_pool.any())
    if result.status != "infeasible":
        return
    # "truly": verify, reading only the scenario, rejects every pool for such a unit.
    verifier = Verifier(scenario)
    claims = PairClaims(scenario)
    for u in np.nonzero(no_pool)[0]:
        assert all(
            verify_rejects_pair(verifier, problem, index, u, p, claims)
            for p in range(problem.num_pools)
        )
        assert any(x.unit == index.units[u].name for x in plan.unplaced)


@given(scenarios(max_sites=3, max_workloads=4))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_masked_pair_is_rejected_by_verify(scenario: Scenario) -> None:
    """compile's mask never forbids what verify would allow."""
    problem, index = compile_problem(scenario)
    verifier = Verifier(scenario)
    claims = PairClaims(scenario)
    reason_up = pair_reasons(scenario, range(problem.num_units))
    allowed = allowed_options(problem)
    # the rules' own mask is the Problem's option lists
    np.testing.assert_array_equal(reason_up == 0, allowed)
    for u, p in zip(*np.nonzero(~allowed), strict=True):
        assert verify_rejects_pair(verifier, problem, index, u, p, claims), (
            index.units[u].name,
            index.pools[p].name,
            int(reason_up[u, p]),
        )


@given(scenarios(max_sites=3, max_workloads=4))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_compile_and_verify_agree_on_every_pair(scenario: Scenario) -> None:
    """Every pair's coefficients (GPUs, kW, cost, carbon, water, hours, RTT) as compile
    gives them are what verify recomputes from the scenario (to its 1e-6 tolerance)."""
    problem, index = compile_problem(scenario)
    verifier = Verifier(scenario)
    claims = PairClaims(scenario)
    for u in range(problem.num_units):
        for p in range(problem.num_pools):
            pl = lone_placement(problem, index, u, p, claims)
            # a listed pair: the Problem's figures are the rules' own
            assert pl == claims.placement(index, u, p), (pl.unit, index.pools[p].name)
            violations, _ = verifier.check(Plan(status="feasible", solver="t", placements=[pl]))
            wrong = [
                v
                for v in violations
                if v.kind in ("kpi", "replicas") or (v.kind == "gpus" and v.subject == pl.unit)
            ]
            assert wrong == [], (pl.unit, index.pools[p].name)


@given(scenarios(max_sites=4, max_workloads=5))
@PROPERTY
def test_greedy_is_deterministic_and_its_objective_is_the_plans(scenario: Scenario) -> None:
    problem, _, result, plan = run_greedy(scenario)
    again = solve_greedy(problem, SolveOptions(seed=7))
    np.testing.assert_array_equal(result.assign_u, again.assign_u)
    assert result.status in ("feasible", "infeasible", "no_solution")
    if result.status == "feasible":
        assert plan.totals is not None
        # the same float64 sum computed twice: equal to 1e-9 relative.
        np.testing.assert_allclose(
            result.objective_usd_per_h, plan.totals.objective_usd_per_h, rtol=1e-9
        )


@given(scenario_dicts(max_sites=2, max_workloads=3), st.randoms(use_true_random=False))
@settings(max_examples=20, deadline=None)
def test_input_order_does_not_change_the_greedy_plan(data: dict[str, Any], rng) -> None:
    shuffled = copy.deepcopy(data)
    rng.shuffle(shuffled["sites"])
    rng.shuffle(shuffled["workloads"])
    a = run_greedy(Scenario.model_validate(data))[3]
    b = run_greedy(Scenario.model_validate(shuffled))[3]
    assert [(p.unit, p.site, p.pool) for p in a.placements] == [
        (p.unit, p.site, p.pool) for p in b.placements
    ]


# ---- hand-made cases ---------------------------------------------------------------------


def _scenario(workloads, **objective: Any) -> Scenario:
    """Two sites, one 16-GPU H100 pool each (racks 40.8 kW < 50 kW): 'cheap' at 1 USD/GPU-h
    and 'dear' at 3; no energy price, no carbon."""

    def site(sid: str, usd: float) -> dict[str, Any]:
        return {
            "id": sid,
            "tier": "cloud",
            "location": {"lat": 50.0, "lon": 8.0, "country": "DE"},
            "power": {"it_capacity_kw": 1000, "pue": 1.0, "carbon_g_per_kwh": 0},
            "cooling": {"max_rack_density_kw": 50},
            "pools": [{"accelerator": "H100-SXM", "gpus": 16, "cost_usd_per_gpu_h": usd}],
        }

    return Scenario.model_validate(
        {
            "apiVersion": "placer/v1",
            "kind": "Scenario",
            "sites": [site("cheap", 1.0), site("dear", 3.0)],
            "workloads": workloads,
            "objective": objective,
        }
    )


def _train(wid: str, gpus: int, **over: Any) -> dict[str, Any]:
    return {"id": wid, "kind": "training", "gpus": gpus, "hours": 10, **over}


def test_cheapest_pool_first_then_the_next() -> None:
    # a (12 GPUs) and b (8): a first (largest), takes cheap (12 USD/h); b no longer fits
    # cheap (12 + 8 > 16) and goes to dear (24 USD/h). Total 36 USD/h.
    plan = api.solve(_scenario([_train("a", 12), _train("b", 8)]), solver="greedy")
    assert plan.status == "feasible"
    assert {p.unit: p.site for p in plan.placements} == {"a": "cheap", "b": "dear"}
    assert plan.totals is not None
    np.testing.assert_allclose(plan.totals.cost_usd_per_h, 12 + 24, rtol=1e-12)


def test_optional_unit_left_out_when_not_worth_it() -> None:
    # 'opt' costs 4 GPUs x 1 USD = 4 USD/h at best, worth 3 USD/h: left out, 3 USD/h lost.
    w = [_train("opt", 4, must_place=False, value_usd_per_h=3.0)]
    plan = api.solve(_scenario(w), solver="greedy")
    assert plan.status == "feasible"
    assert plan.placements == []
    assert [u.unit for u in plan.unplaced] == ["opt"]
    assert plan.objective_usd_per_h == 3.0
    # worth 5 USD/h: placed at 4 USD/h.
    w = [_train("opt", 4, must_place=False, value_usd_per_h=5.0)]
    plan = api.solve(_scenario(w), solver="greedy")
    assert [p.site for p in plan.placements] == ["cheap"]


def test_must_place_units_go_first() -> None:
    w = [
        _train("opt", 16, must_place=False, value_usd_per_h=1000.0),
        _train("must", 16),
        _train("small", 1),
    ]
    problem, index = compile_problem(_scenario(w))
    order = [index.units[u].name for u in priority_order(problem)]
    # must-place first (largest first among equal value), then by value.
    assert order == ["must", "small", "opt"]


def test_budget_makes_greedy_give_up() -> None:
    # the gang costs at least 16 USD/h; a 10 USD/h budget leaves no pool: no_solution
    # (every pool is allowed, so greedy cannot prove infeasibility).
    plan = api.solve(_scenario([_train("a", 16)], budget_usd_per_h=10), solver="greedy")
    assert plan.status == "no_solution"
    assert [u.unit for u in plan.unplaced] == ["a"]


def test_greedy_no_solution_reason_does_not_blame_time() -> None:
    plan = api.solve(_scenario([_train("a", 16)], budget_usd_per_h=10), solver="greedy")
    assert plan.status == "no_solution"
    assert "in time" not in plan.unplaced[0].reason


def test_greedy_infeasible_when_no_pool_is_allowed() -> None:
    plan = api.solve(_scenario([_train("huge", 32)]), solver="greedy")
    assert plan.status == "infeasible"
    assert plan.infeasibility is not None
    assert "larger than the pool or site" in plan.unplaced[0].reason


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_vectorised_fitting_equals_fits(seed: int) -> None:
    """LoadState.fitting (one numpy pass) must agree with fits (the scalar rule) option
    by option over each unit's listed options (the only ones LoadState evaluates),
    whatever is already placed (capacities, caps and redundancy keys)."""
    from placer.engines.greedy import LoadState
    from tests.problems import random_problem

    rng = np.random.default_rng(seed)
    problem = random_problem(rng, 8, 5, 3)
    state = LoadState(problem)
    for u in rng.permutation(problem.num_units)[:5]:
        listed = problem.options_of(int(u))[0]
        if listed.size == 0:
            continue
        o = int(rng.choice(listed))
        if state.fits(u, o):
            state.add(u, o)
    for u in range(problem.num_units):
        options, slots = problem.options_of(u)
        expect = [state.fits(u, int(o)) for o in options]
        assert state.fitting(u, options).tolist() == expect
        assert state.fitting(u, options, slots).tolist() == expect
        first = next((int(o) for o, ok in zip(options, expect, strict=True) if ok), None)
        assert state.first_fit(u, options) == first
        assert state.first_fit(u, options, slots) == first
