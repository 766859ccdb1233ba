"""The restricted layout for timed fleets too large for the padded option table
(`placer.problem.compile_large`, `placer.engines.relax.streamed_bound`).

Checked here: the kept options are each unit's cheapest (brute force); the restricted
problem has the whole problem's rows and a subset of its options; the streamed bound
equals the Lagrangian bound of the whole compiled problem at any prices; solves on the
restricted problem verify and their bound never passes the whole problem's proven
optimum; auto picks the layout only when the estimate passes the limit; a static
scenario is refused naming the option.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import placer
from placer.cli.main import cli
from placer.engines.relax import streamed_bound as streamed_bound_module
from placer.engines.relax.colgen import column_generation
from placer.engines.relax.rows import row_capacities
from placer.engines.relax.sampled import chunked_dual_bound
from placer.engines.relax.streamed_bound import streamed_bound
from placer.errors import OptionError
from placer.model.generate_time import generate_timed_scenario
from placer.plan.verify import verify
from placer.problem import compile_large
from placer.problem.compile import compile_problem
from placer.problem.compile_large import (
    EntryPricer,
    compile_restricted,
    keep_cheapest,
    keep_earliest_on_static_pools,
    needs_restriction,
)


@pytest.fixture(scope="module")
def fleet():
    """120 units x 12 pools x 24 periods: long option lists (up to ~100 per run)."""
    return generate_timed_scenario(120, 12, 24, 3)


@pytest.fixture(scope="module")
def compiled(fleet):
    whole, whole_index = compile_problem(fleet)
    part, part_index, bound = compile_restricted(fleet)
    assert bound is None  # no prices: no bound
    return whole, whole_index, part, part_index


def _brute_keep(unit, pool, objective, by_objective, by_pool):
    keep = set()
    for u in np.unique(unit):
        at = [i for i in np.flatnonzero(unit == u)]
        ranked = sorted(at, key=lambda i: (objective[i], i))
        keep.update(ranked[:by_objective])
        cheapest = {}
        for i in ranked:
            cheapest.setdefault(int(pool[i]), i)
        pools = sorted(cheapest.values(), key=lambda i: (objective[i], i))
        keep.update(pools[:by_pool])
    return keep


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 200),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(0, 2**31 - 1),
)
def test_keep_cheapest_equals_brute_force(n: int, by_objective: int, by_pool: int, seed: int):
    rng = np.random.default_rng(seed)
    unit = rng.integers(0, 7, n)
    pool = rng.integers(0, 5, n)
    objective = rng.integers(0, 6, n).astype(float)  # ties on purpose
    kept = keep_cheapest(unit, pool, objective, by_objective, by_pool)
    assert set(np.flatnonzero(kept).tolist()) == _brute_keep(
        unit, pool, objective, by_objective, by_pool
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 200), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_keep_earliest_on_static_pools_equals_brute_force(n: int, pools: int, seed: int):
    rng = np.random.default_rng(seed)
    unit = rng.integers(0, 6, n)
    pool = rng.integers(0, 5, n)
    start = rng.integers(0, 8, n)
    objective = rng.random(n).round(1)
    kept = keep_earliest_on_static_pools(unit, pool, start, objective, pools)
    want = set()
    for u in np.unique(unit):
        mean, earliest = {}, {}
        for p in np.unique(pool[unit == u]):
            at = np.flatnonzero((unit == u) & (pool == p))
            mean[int(p)] = objective[at].mean()
            earliest[int(p)] = int(min(at, key=lambda i: (start[i], i)))
        ranked = sorted(mean, key=lambda p: (mean[p], earliest[p]))
        want.update(earliest[p] for p in ranked[:pools])
    got = set(np.flatnonzero(kept).tolist())
    # equal means may rank either way: compare the kept pools' means
    assert len(got) == len(want)
    for u in np.unique(unit):
        g = sorted(
            round(float(np.mean(objective[(unit == u) & (pool == pool[i])])), 9)
            for i in got
            if unit[i] == u
        )
        w = sorted(
            round(float(np.mean(objective[(unit == u) & (pool == pool[i])])), 9)
            for i in want
            if unit[i] == u
        )
        assert g == w
        for i in (i for i in got if unit[i] == u):  # the earliest start on its pool
            assert start[i] == start[(unit == u) & (pool == pool[i])].min()


def test_restricted_problem_is_a_subset_on_the_same_rows(compiled):
    whole, whole_index, part, part_index = compiled
    assert part.num_pairs() < whole.num_pairs()
    assert part.num_slots < whole.num_slots
    assert whole_index.units == part_index.units
    for name in ("cap_r", "kind_r", "scope_r", "unplaced_usd_per_h_u", "must_place_u"):
        assert np.array_equal(getattr(whole, name), getattr(part, name)), name

    def options(problem, index):
        t = index.time
        out = []
        for u in range(problem.num_units):
            o = problem.option_uk[u][problem.option_uk[u] >= 0]
            out.append({(int(t.pool_o[x]), int(t.start_o[x]), int(t.length_o[x])) for x in o})
        return out

    big, small = options(whole, whole_index), options(part, part_index)
    for u, (b, s) in enumerate(zip(big, small, strict=True)):
        assert s <= b, u
        assert len(s) == min(len(b), len(s))
        assert s or not b  # a unit with options keeps some


@pytest.mark.parametrize("scale", [0.0, 1e-3, 1e-2, 0.1])
def test_streamed_bound_equals_the_whole_problems_dual_bound(compiled, fleet, scale):
    whole, _, part, _ = compiled
    rng = np.random.default_rng(int(scale * 1e4))
    y = rng.random(row_capacities(whole).size) * scale
    # the prices the stream uses: 0 on spread rows and on heat rows no option charges
    used = np.zeros_like(y)
    used[: whole.num_rows] = EntryPricer(fleet).prices(y)[:-1]
    assert (used[: whole.num_rows] < y[: whole.num_rows]).any() or scale == 0.0
    expected, _ = chunked_dual_bound(whole, used)
    assert streamed_bound(fleet, part, y) == pytest.approx(expected, rel=1e-12, abs=1e-9)
    # a price on a row no option charges only lowers the bound: the stream drops it
    assert expected >= chunked_dual_bound(whole, y)[0] - 1e-9


def _options(problem, index):
    """Per unit, the (pool, start, length) of each listed option."""
    t = index.time
    return [
        [(int(t.pool_o[x]), int(t.start_o[x]), int(t.length_o[x])) for x in row[row >= 0]]
        for row in problem.option_uk
    ]


def test_compile_with_prices_bounds_and_keeps_the_cheapest_at_them(compiled, fleet):
    whole, whole_index, part, _ = compiled
    y = np.random.default_rng(7).random(whole.num_rows) * 0.05
    priced, priced_index, bound = compile_restricted(fleet, y)
    assert bound == pytest.approx(streamed_bound(fleet, part, y), rel=1e-12)
    assert priced.num_pairs() >= part.num_pairs()
    full_y = np.append(y, np.zeros(row_capacities(whole).size - y.size))
    cost = chunked_dual_bound(whole, full_y)[1][:, :-1]  # [U, K] priced slots
    big, small = _options(whole, whole_index), _options(priced, priced_index)
    for u in range(whole.num_units):
        if not big[u]:
            continue
        k = np.flatnonzero(whole.option_uk[u] >= 0)
        cheapest = k[np.argsort(cost[u, k], kind="stable")][: compile_large.SLOTS_BY_PRICE]
        kept = set(small[u])
        # ties may keep another of equal price: compare prices, not options
        kept_cost = sorted(cost[u, k[[big[u].index(o) for o in kept]]])
        want = sorted(cost[u, cheapest])
        assert np.allclose(kept_cost[: len(want)], want)


# milp: 8 s, in the slow set
@pytest.mark.parametrize(
    "solver", ["greedy", "hybrid", pytest.param("milp", marks=pytest.mark.slow)]
)
def test_restricted_solves_verify_and_bound_the_whole_optimum(fleet, solver):
    exact = placer.solve(fleet, solver="milp", time_limit_s=60)
    assert exact.status == "optimal"
    plan = placer.solve(fleet, solver=solver, layout="restricted", time_limit_s=20)
    assert plan.status in ("optimal", "feasible")
    assert verify(fleet, plan) == []
    assert plan.bound_scope == "full"
    assert plan.bound_usd_per_h is not None
    assert plan.bound_usd_per_h <= exact.objective_usd_per_h * (1 + 1e-9)
    assert plan.objective_usd_per_h >= exact.bound_usd_per_h * (1 - 1e-9)
    assert "restricted" in plan.message


def test_a_fleet_within_the_sample_gets_the_lp_bound(fleet, compiled, monkeypatch):
    """Fewer units than `sample_prices` draws: the sample is the whole fleet, column
    generation reaches its LP optimum, and the streamed bound at those prices is the LP
    bound, whatever solver then works on the restricted problem.

    The sample's column generation gets a share of the solve's limit; on a loaded machine
    it may stop short of convergence (the bound is then lower, and still valid). Its
    budget is raised here so that the test checks the flow of prices, not the clock."""
    whole = compiled[0]
    lp = column_generation(whole, time_budget_s=30, with_covers=False)
    assert lp is not None and lp.converged
    converged = []

    def generous(problem, *, time_budget_s, **kwargs):
        found = column_generation(problem, time_budget_s=max(time_budget_s, 60.0), **kwargs)
        converged.append(found is not None and found.converged)
        return found

    monkeypatch.setattr(streamed_bound_module, "column_generation", generous)
    for solver in ("greedy", "hybrid"):
        plan = placer.solve(fleet, solver=solver, layout="restricted", time_limit_s=20)
        assert plan.bound_usd_per_h == pytest.approx(lp.bound, rel=1e-6)
    assert converged == [True, True]


def test_auto_restricts_only_above_the_limit(fleet, monkeypatch):
    assert not needs_restriction(fleet)
    assert not needs_restriction(placer.load("configs/time/us_week.yaml"))
    monkeypatch.setattr(compile_large, "PADDED_BYTES_MAX", 1.0)
    assert needs_restriction(fleet)
    plan = placer.solve(fleet, solver="greedy", time_limit_s=20)
    assert "restricted" in plan.message and verify(fleet, plan) == []


def test_static_scenario_refuses_the_layout():
    scenario = placer.load("configs/eu_sovereign.yaml")
    with pytest.raises(OptionError, match="layout restricted"):
        placer.solve(scenario, solver="greedy", layout="restricted", time_limit_s=5)
    result = CliRunner().invoke(
        cli, ["solve", "configs/eu_sovereign.yaml", "--layout", "restricted"]
    )
    assert result.exit_code == 2
    assert "layout restricted" in result.output
    assert "Traceback" not in result.output


def test_cli_solves_a_timed_scenario_restricted():
    result = CliRunner().invoke(
        cli,
        [
            "solve",
            "configs/time/small_day.yaml",
            "--layout",
            "restricted",
            "--solver",
            "hybrid",
            "--time-limit-s",
            "15",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "restricted" in result.output


def test_preemptible_runs_get_no_streamed_bound():
    """The streamed bound prices contiguous options only; a run that may pause could be
    cheaper, so a restricted solve of such a scenario claims no bound."""
    from placer.model import Scenario

    doc = placer.load("configs/time/small_day.yaml").model_dump(mode="json", exclude_none=True)
    for w in doc["workloads"]:
        if w["kind"] == "training":
            w["preemptible"] = True
    scenario = Scenario.model_validate(doc)
    plan = placer.solve(scenario, solver="milp", layout="restricted", time_limit_s=30)
    assert plan.status == "feasible" and verify(scenario, plan) == []
    assert plan.bound_usd_per_h is None
    assert "no bound" in plan.message
