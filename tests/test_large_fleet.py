"""Large fleets: compile in many small chunks gives the same Problem, and the large-fleet
hybrid path (sampled prices, chunked dual, balanced draws) returns plans the
independent verifier accepts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from placer import api
from placer.engines.base import SolveOptions
from placer.engines.greedy import solve_greedy
from placer.engines.relax.knapsack_bound import site_gaps
from placer.engines.relax.lagrangian import dual_bound, relax_prices
from placer.engines.relax.repair import repair
from placer.engines.relax.rows import pair_rows
from placer.engines.relax.sampled import chunked_dual_bound
from placer.engines.search import hybrid
from placer.engines.search.large_hybrid import sample_choices, solve_large_hybrid
from placer.errors import OptionError
from placer.model import Scenario
from placer.model.generate import generate_scenario
from placer.model.load import load_scenario
from placer.plan.build import build_plan, unplaced_reason
from placer.plan.verify import verify
from placer.problem.compile import compile_problem, pair_reasons
from placer.problem.form import REASONS, UNPLACED, Problem
from placer.problem.rows import K_BUDGET, K_CARBON, K_FACILITY, K_GPUS, K_HEAT, K_IT, K_WATER
from placer.problem.usage import compute_loads, violations
from tests.problems import allowed_table, dense_table
from tests.strategies import scenarios

CONFIGS = sorted(Path(__file__).parent.parent.joinpath("configs").glob("*.yaml"))
CONFIGS_DIR = Path(__file__).parent.parent / "configs"
MASKED = "masked pair used"


def _scenario_cases():
    return [load_scenario(path) for path in CONFIGS] + [
        generate_scenario(units=300, pools=12, seed=3),
        generate_scenario(units=900, pools=30, seed=1),
    ]


def _assert_same(problem: Problem, other: Problem) -> None:
    for name in problem._fields:
        a, b = getattr(problem, name), getattr(other, name)
        if a is None or b is None:  # an optional part (soft rows, start-ups) neither has
            assert a is None and b is None, name
            continue
        assert a.dtype == b.dtype and a.shape == b.shape, name
        np.testing.assert_array_equal(a, b, err_msg=name)


def _to_options(problem: Problem, slots_u: np.ndarray) -> np.ndarray:
    """int32[U]: the option in each unit's slot (slot K: unplaced)."""
    k = problem.num_slots
    option = problem.option_uk[np.arange(problem.num_units), np.minimum(slots_u, k - 1)]
    return np.where(slots_u < k, option, UNPLACED).astype(np.int32)


def _dense_loads(problem: Problem, assign_u: np.ndarray) -> np.ndarray:
    """float64[R]: the row loads of a plan of listed pairs, recomputed from the [U, P]
    tables of each quantity in the standard row layout (not through `row_oj`)."""
    placed = np.flatnonzero(assign_u >= 0)
    pool = assign_u[placed]
    site = problem.pool_site_p[pool]
    n_p, n_s = problem.num_pools, problem.num_sites

    def taken(name: str) -> np.ndarray:
        return dense_table(problem, name)[placed, pool]

    loads = np.zeros(problem.num_rows)
    by_kind = {
        K_IT: taken("it_kw"),
        K_FACILITY: taken("facility_kw"),
        K_HEAT: taken("heat_kw"),
        K_WATER: taken("water_l_per_h"),
    }
    loads[:n_p] = np.bincount(pool, weights=taken("gpus"), minlength=n_p)
    for kind, values in by_kind.items():
        rows = np.flatnonzero(problem.kind_r == kind)
        loads[rows] = np.bincount(site, weights=values, minlength=n_s)[problem.scope_r[rows]]
    loads[problem.kind_r == K_BUDGET] = taken("cost_usd_per_h").sum()
    loads[problem.kind_r == K_CARBON] = taken("carbon_kg_per_h").sum()
    assert (problem.kind_r[:n_p] == K_GPUS).all()
    return loads


def _reason_from_pairs(problem: Problem, bits_p: np.ndarray, u: int) -> str:
    """The unplaced reason as the dense Problem gave it, from every pool's mask bits."""
    if (bits_p == 0).any():
        if problem.must_place_u[u]:
            return "no room: the capacities, caps and spread rules left no pool for it"
        return "left out: no pool had room at a cost below its value"
    per_reason = [int(((bits_p & bit) != 0).sum()) for bit in REASONS]
    counts = {name: n for name, n in zip(REASONS.values(), per_reason, strict=True) if n}
    if not counts:
        return "no pool exists in the scenario"
    detail = ", ".join(
        f"{name} ({n} pool{'s' * (n > 1)})"
        for name, n in sorted(counts.items(), key=lambda kv: -kv[1])
    )
    return f"no feasible pool: {detail}"


# ---- compile in chunks ---------------------------------------------------------------------


@pytest.mark.parametrize("scenario", _scenario_cases(), ids=lambda s: s.metadata.name)
def test_compile_in_many_small_chunks_equals_the_default_compile(scenario):
    problem, index = compile_problem(scenario)
    chunked, chunked_index = compile_problem(scenario, chunk_cells=997)  # many uneven chunks
    _assert_same(chunked, problem)
    np.testing.assert_array_equal(chunked_index.replicas_uk, index.replicas_uk)
    np.testing.assert_array_equal(chunked_index.hours_uk, index.hours_uk)
    assert chunked_index.replicas_uk.dtype == index.replicas_uk.dtype
    assert chunked_index.hours_uk.dtype == index.hours_uk.dtype
    assert chunked_index.units == index.units and chunked_index.pools == index.pools
    assert chunked_index.sites == index.sites
    # the option lists are the rules' mask, unit by unit
    reason_up = pair_reasons(scenario, range(problem.num_units))
    np.testing.assert_array_equal(allowed_table(problem), reason_up == 0)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(max_sites=4, max_workloads=5), st.integers(0, 2**31 - 1))
def test_loads_violations_and_bound_agree_with_the_dense_tables(scenario, seed):
    problem, _ = compile_problem(scenario)
    rng = np.random.default_rng(seed)
    # any pool, listed or not, or unplaced: a unit on a pool it does not list is masked
    assign = rng.integers(-1, max(problem.num_pools, 1), problem.num_units).astype(np.int32)
    if problem.num_pools == 0:
        assign[:] = UNPLACED
    allowed = allowed_table(problem)
    rows = np.flatnonzero(assign >= 0)
    unlisted = rows[~allowed[rows, assign[rows]]]
    assert (MASKED in violations(problem, assign)) == bool(unlisted.size)
    assign[unlisted] = UNPLACED  # loads of real plans
    assert MASKED not in violations(problem, assign)
    loads = compute_loads(problem, assign)
    np.testing.assert_allclose(loads.loads_r, _dense_loads(problem, assign), rtol=1e-12, atol=0)
    placed = np.flatnonzero(assign >= 0)
    objective = dense_table(problem, "objective")[placed, assign[placed]].sum()
    unplaced = problem.unplaced_usd_per_h_u[assign < 0].sum()
    assert loads.unplaced_usd_per_h == pytest.approx(unplaced, rel=1e-12, abs=1e-12)
    assert loads.objective_usd_per_h == pytest.approx(objective + unplaced, rel=1e-12, abs=1e-9)
    prices = rng.exponential(1.0, pair_rows(problem).cap_r.size) * (rng.random() < 0.8)
    bound, priced = dual_bound(problem, prices)
    chunked_bound, priced_uk1 = chunked_dual_bound(problem, prices)
    assert chunked_bound == pytest.approx(bound, rel=1e-12, abs=1e-9)
    finite = np.isfinite(priced)
    np.testing.assert_array_equal(np.isfinite(priced_uk1), finite)
    np.testing.assert_allclose(priced_uk1[finite], priced[finite], rtol=1e-12)
    np.testing.assert_array_equal(priced_uk1[:, -1], priced[:, -1])


def test_a_unit_on_a_pool_it_does_not_list_is_masked():
    problem, _ = compile_problem(load_scenario(CONFIGS_DIR / "edge_inference.yaml"))
    plan = solve_greedy(problem, SolveOptions()).assign_u
    assert MASKED not in violations(problem, plan)
    allowed = allowed_table(problem)
    u = int(np.flatnonzero(~allowed.all(axis=1))[0])
    moved = plan.copy()
    moved[u] = int(np.flatnonzero(~allowed[u])[0])
    assert problem.slot_of(moved)[u] == -2
    assert MASKED in violations(problem, moved)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_repair_from_the_chunked_dual_is_the_relaxations_and_chunks_change_no_plan(seed):
    scenario = generate_scenario(units=600, pools=20, seed=seed)
    problem, _ = compile_problem(scenario)
    chunked, _ = compile_problem(scenario, chunk_cells=997)
    relaxed = relax_prices(problem, steps=200)
    _, priced_uk1 = chunked_dual_bound(problem, relaxed.prices_r)
    start = _to_options(problem, np.argmin(relaxed.priced_uk1, axis=1))
    fixed = repair(problem, start, relaxed.priced_uk1)
    np.testing.assert_array_equal(repair(problem, start, priced_uk1), fixed)
    np.testing.assert_array_equal(repair(chunked, start, relaxed.priced_uk1), fixed)
    assert violations(problem, fixed) == violations(chunked, fixed)
    np.testing.assert_array_equal(
        solve_greedy(chunked, SolveOptions()).assign_u,
        solve_greedy(problem, SolveOptions()).assign_u,
    )


# ---- the large-fleet hybrid ----------------------------------------------------------------


def test_draws_follow_the_priced_softmax_and_stay_in_the_lists():
    problem, _ = compile_problem(generate_scenario(units=200, pools=10, seed=4))
    _, priced = chunked_dual_bound(problem, np.zeros(pair_rows(problem).cap_r.size))
    rng = np.random.default_rng(0)
    draws = np.stack([sample_choices(problem, priced, 1e-9, rng) for _ in range(3)])
    # at ~zero temperature every draw is a cheapest choice of its unit
    for row in draws:
        slot = problem.slot_of(row)
        chosen = np.where(row >= 0, priced[np.arange(200), np.maximum(slot, 0)], priced[:, -1])
        np.testing.assert_allclose(chosen, priced.min(axis=1))
    for row in draws:
        slot = problem.slot_of(row)
        assert (slot != -2).all()  # never an option outside the unit's list


@pytest.mark.slow  # 8 s and 23 s: the next test checks random fleets in the default set
@pytest.mark.parametrize("seed", [1, 2])
def test_large_hybrid_plan_passes_the_verifier_and_respects_its_bound(seed):
    scenario = generate_scenario(units=500, pools=16, seed=seed)
    problem, index = compile_problem(scenario, chunk_cells=997)
    result = solve_large_hybrid(problem, SolveOptions(time_limit_s=6, seed=0))
    assert result.status in ("optimal", "feasible")
    assert violations(problem, result.assign_u) == []
    milp = api.solve(scenario, solver="milp", time_limit_s=60)
    assert milp.status == "optimal"  # within its relative gap (1e-4), so compare bounds:
    assert result.bound_usd_per_h <= milp.objective_usd_per_h * (1 + 1e-6)
    assert result.objective_usd_per_h >= milp.bound_usd_per_h * (1 - 1e-6)
    plan = build_plan(
        scenario, problem, index, result, solver="hybrid", seed=0, time_limit_s=6, wall_s=1.0,
        versions={},
    )  # fmt: skip
    assert verify(scenario, plan) == []
    assert plan.objective_usd_per_h == pytest.approx(result.objective_usd_per_h)


def test_plans_from_a_chunked_compile_are_identical_and_reasons_are_the_masks():
    scenario = load_scenario(CONFIGS_DIR / "edge_inference.yaml")
    problem, index = compile_problem(scenario)
    chunked, chunked_index = compile_problem(scenario, chunk_cells=997)
    result = solve_greedy(problem, SolveOptions())
    args = dict(solver="greedy", seed=0, time_limit_s=1.0, wall_s=1.0, versions={})
    a = build_plan(scenario, problem, index, result, **args)
    b = build_plan(scenario, chunked, chunked_index, result, **args)
    assert a.model_dump() == b.model_dump()
    reason_up = pair_reasons(scenario, range(problem.num_units))
    for u in range(problem.num_units):
        expected = _reason_from_pairs(problem, reason_up[u], u)
        assert unplaced_reason(problem, index, u) == expected
        assert unplaced_reason(chunked, chunked_index, u) == expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(max_sites=4, max_workloads=5))
def test_unplaced_reasons_are_the_mask_reasons_on_random_scenarios(scenario):
    problem, index = compile_problem(scenario)
    reason_up = pair_reasons(scenario, range(problem.num_units))
    for u in range(problem.num_units):
        assert unplaced_reason(problem, index, u) == _reason_from_pairs(problem, reason_up[u], u)


def test_unplaced_reason_names_the_mask_reason_and_its_pool_count(minimal_scenario_dict):
    minimal_scenario_dict["workloads"][0]["min_gpu_memory_gb"] = 1000  # no GPU is that big
    scenario = Scenario.model_validate(minimal_scenario_dict)
    problem, index = compile_problem(scenario)
    u = next(i for i, unit in enumerate(index.units) if unit.workload == "train-llm")
    assert not problem.listed_uk[u].any()
    assert unplaced_reason(problem, index, u) == "no feasible pool: GPU memory too small (2 pools)"
    other = next(i for i, unit in enumerate(index.units) if unit.workload == "chat")
    assert problem.listed_uk[other].any()
    assert unplaced_reason(problem, index, other) == (
        "no room: the capacities, caps and spread rules left no pool for it"
    )


def test_api_layouts_pick_the_hybrids_path_and_other_solvers_ignore_them():
    scenario = generate_scenario(units=300, pools=10, seed=2)
    plan = api.solve(scenario, solver="hybrid", layout="sparse", time_limit_s=4)
    assert plan.status in ("optimal", "feasible") and verify(scenario, plan) == []
    assert "sampled prices" in plan.message
    greedy = api.solve(scenario, solver="greedy", layout="sparse")
    assert greedy.model_dump(exclude={"wall_s"}) == api.solve(
        scenario, solver="greedy", layout="dense"
    ).model_dump(exclude={"wall_s"})
    milp = api.solve(scenario, solver="milp", layout="sparse", time_limit_s=30)
    assert milp.status in ("optimal", "feasible") and verify(scenario, milp) == []
    with pytest.raises(OptionError, match="unknown layout"):
        api.solve(scenario, layout="bogus")
    with pytest.raises(OptionError, match="unknown layout"):
        api.solve(scenario, layout="csr")


def test_auto_hybrid_takes_the_large_path_above_its_cell_limit(monkeypatch):
    assert api.HYBRID_PATHS["sparse"] is solve_large_hybrid
    assert api.HYBRID_PATHS["dense"] is hybrid.solve_hybrid_full
    assert api.HYBRID_PATHS["auto"] is hybrid.solve_hybrid
    problem, _ = compile_problem(generate_scenario(units=300, pools=10, seed=2))
    taken = []
    monkeypatch.setattr(hybrid, "solve_large_hybrid", lambda p, o: taken.append("large"))
    monkeypatch.setattr(hybrid, "solve_hybrid_full", lambda p, o: taken.append("full"))
    hybrid.solve_hybrid(problem, SolveOptions())
    monkeypatch.setattr(hybrid, "LARGE_MIN_CELLS", problem.num_units * problem.num_options)
    hybrid.solve_hybrid(problem, SolveOptions())
    assert taken == ["full", "large"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(max_sites=4, max_workloads=5))
def test_large_hybrid_plans_pass_the_verifier_on_random_scenarios(scenario):
    problem, index = compile_problem(scenario)
    result = solve_large_hybrid(problem, SolveOptions(time_limit_s=1.5, seed=0))
    # The hybrid minimises the weighted objective whatever the mode (a lexicographic
    # scenario's first stage is the MILP's alone), so its bound is compared with the
    # weighted optimum.
    weighted = scenario.objective.model_copy(update={"mode": "weighted"})
    exact = api.solve(
        scenario.model_copy(update={"objective": weighted}), solver="milp", time_limit_s=30
    )
    if result.status == "infeasible":
        assert exact.status == "infeasible"
        return
    if result.status not in ("optimal", "feasible"):
        return  # no plan found: nothing to check but the bound below
    plan = build_plan(
        scenario, problem, index, result, solver="hybrid", seed=0, time_limit_s=1.5, wall_s=1.0,
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
def test_candidate_lists_build_the_model_of_the_restricted_problem(scenario):
    """A model over candidate options is the model of the Problem with only those
    options listed (what the neighbourhood search relies on), and a chunked compile
    builds the same model."""
    from placer.engines.milp.formulation import build_model

    problem, _ = compile_problem(scenario)
    chunked, _ = compile_problem(scenario, chunk_cells=997)
    rng = np.random.default_rng(0)
    cands = tuple(
        tuple(sorted(rng.choice(problem.num_options, size=3, replace=False).tolist()))
        for _ in range(problem.num_units)
    )
    keep = np.stack([np.isin(problem.option_uk[u], cands[u]) for u in range(problem.num_units)])
    for candidates in (None, cands):
        a = build_model(problem, candidates_u=candidates).model.export_model()
        b = build_model(chunked, candidates_u=candidates).model.export_model()
        assert a == b
    a = build_model(problem, candidates_u=cands).model.export_model()
    b = build_model(problem.restricted(keep & problem.listed_uk)).model.export_model()
    assert a == b


def test_balancing_a_draw_keeps_it_in_the_lists_and_shrinks_its_overload():
    from placer.engines.relax.balance import balanced, row_loads
    from placer.engines.relax.rows import local_rows, row_capacities
    from placer.engines.relax.sampled import sample_for, sampled_prices

    problem, _ = compile_problem(generate_scenario(units=3000, pools=40, seed=1))
    relaxed = sampled_prices(problem, sample_for(problem, 4e4), time_budget_s=2.0)
    _, priced = chunked_dual_bound(problem, relaxed.prices_r)
    rng = np.random.default_rng(0)
    draw = sample_choices(problem, priced, relaxed.temperature, rng)
    after = balanced(problem, draw, relaxed.prices_r, relaxed.temperature, rng, rounds=60)
    assert problem.slot_of(after).min() >= -1  # every placed unit is on a listed option
    assert np.all(after[problem.must_place_u & (draw >= 0)] >= 0)  # never re-drawn out
    rows = local_rows(problem)  # the pool and site rows
    assert rows.size == problem.num_pools + 4 * problem.num_sites
    cap = row_capacities(problem)[rows]
    capped = np.isfinite(cap)

    def overload(a):
        return np.maximum(row_loads(problem, a)[rows] - cap, 0.0)[capped].sum()

    assert overload(draw) > 0
    assert overload(after) < overload(draw)
    # no rounds: the draw itself
    np.testing.assert_array_equal(
        balanced(problem, draw, relaxed.prices_r, relaxed.temperature, rng, rounds=0), draw
    )


def test_site_gaps_with_more_sites_than_pools():
    """A site row's scope is a site index, which may exceed the number of pools: the
    pool-to-site lookup must read pool rows only (CI found it with 4 sites, 1 pool)."""
    site = {
        "tier": "edge",
        "location": {"lat": 50.11, "lon": 8.68, "country": "DE"},
        "power": {"it_capacity_kw": 11.0, "pue": 1.0, "price_usd_per_kwh": 0.0,
                  "carbon_g_per_kwh": 0.0},
        "cooling": {"type": "liquid", "max_rack_density_kw": 30.0, "wue_l_per_kwh": 0.0},
        "pools": [],
    }  # fmt: skip
    pool = {"accelerator": "H100-SXM", "gpus": 64, "gpus_per_node": 8, "nodes_per_rack": 2,
            "cost_usd_per_gpu_h": 1.0}  # fmt: skip
    sites = [dict(site, id=f"s{i}") for i in range(4)]
    sites[3]["pools"] = [pool]
    scenario = Scenario.model_validate(
        {
            "apiVersion": "placer/v1", "kind": "Scenario", "metadata": {"name": "gaps"},
            "sites": sites,
            "workloads": [{"id": "w0", "must_place": True, "kind": "training", "gpus": 8,
                           "hours": 1.0}],
        }
    )  # fmt: skip
    problem, _ = compile_problem(scenario)
    priced = np.array([[8.0, np.inf]])
    n_r = problem.cap_r.shape[0]
    gaps = site_gaps(problem, np.array([0]), np.zeros(n_r), priced, np.zeros(4))
    assert gaps.shape == (4,)
    assert np.all(gaps == 0.0)
