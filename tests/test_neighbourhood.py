"""Large-neighbourhood search: which units a site's neighbourhood frees, and guided rounds."""

from __future__ import annotations

import numpy as np
import pytest

from placer.engines.base import SolveOptions
from placer.engines.relax.knapsack_bound import knapsack_bound, site_gaps
from placer.engines.relax.lagrangian import relax_prices
from placer.engines.relax.lp_rounding import near_tie_pools
from placer.engines.relax.sampled import chunked_dual_bound
from placer.engines.relax.solver import round_prices
from placer.engines.search import neighbourhood
from placer.model.generate import generate_scenario
from placer.problem.compile import compile_problem
from placer.problem.usage import allowed_options, dense_options, objective_value, violations


@pytest.fixture(scope="module")
def case():
    problem, _ = compile_problem(generate_scenario(units=400, pools=12, seed=2))
    return problem, relax_prices(problem, steps=300)


def _expected(problem, priced_uk1, count):
    """Brute force: per site, units by the reduced cost of their cheapest option there
    (priced_uk1 in slot layout, laid out by option here: +inf where not listed)."""
    low = priced_uk1.min(axis=1)
    priced = dense_options(problem, priced_uk1[:, :-1], np.inf)
    out = np.full((problem.num_sites, count), -1, np.int64)
    for s in range(problem.num_sites):
        pools = np.flatnonzero(problem.site_o == s)
        cost = priced[:, pools].min(axis=1, initial=np.inf) - low
        units = np.flatnonzero(np.isfinite(cost))
        order = units[np.lexsort((units, cost[units]))][:count]
        out[s, : order.size] = order
    return out


@pytest.mark.parametrize("chunk", [7, 8_192])
def test_cheapest_units_per_site_are_ranked_by_reduced_cost(case, chunk, monkeypatch):
    problem, relaxed = case
    monkeypatch.setattr(neighbourhood, "CHUNK_UNITS", chunk)
    got = neighbourhood.cheapest_units_per_site(problem, relaxed.priced_uk1, 25)
    np.testing.assert_array_equal(got, _expected(problem, relaxed.priced_uk1, 25))


def test_cheapest_units_per_site_are_the_same_from_the_chunked_dual(case):
    """Priced costs from the chunked dual (the large hybrid's) rank units as the
    relaxation's own priced costs do."""
    problem, relaxed = case
    bound, priced_uk1 = chunked_dual_bound(problem, relaxed.prices_r)
    assert bound == pytest.approx(relaxed.bound, rel=1e-12, abs=1e-9)
    finite = np.isfinite(relaxed.priced_uk1)
    np.testing.assert_array_equal(np.isfinite(priced_uk1), finite)
    np.testing.assert_allclose(priced_uk1[finite], relaxed.priced_uk1[finite], rtol=1e-12)
    np.testing.assert_array_equal(
        neighbourhood.cheapest_units_per_site(problem, priced_uk1, 40),
        neighbourhood.cheapest_units_per_site(problem, relaxed.priced_uk1, 40),
    )


def test_guided_neighbourhoods_improve_a_plan_and_keep_it_feasible(case):
    problem, relaxed = case
    start = round_prices(problem, relaxed, samples=16, seed=0)
    assert violations(problem, start) == []
    strong = knapsack_bound(problem, relaxed.prices_r, relaxed.priced_uk1)

    def gaps_of(plan):
        return site_gaps(problem, plan, relaxed.prices_r, relaxed.priced_uk1, strong.gain_s)

    clock = iter(range(6, 0, -1))  # six rounds, whatever the machine's speed
    better, notes = neighbourhood.lns(
        problem,
        SolveOptions(seed=0),
        start,
        near_tie_pools(problem, relaxed.priced_uk1)[:, :8],
        strong.bound_usd_per_h,
        lambda: next(clock, 0),
        gaps_of,
        neighbourhood.cheapest_units_per_site(problem, relaxed.priced_uk1),
    )
    assert violations(problem, better) == []
    assert objective_value(problem, better) < objective_value(problem, start)
    assert objective_value(problem, better) >= strong.bound_usd_per_h - 1e-6
    assert "guided by site gaps" in notes[0]
    assert (gaps_of(better) >= -1e-6).all()


def test_with_site_pools_adds_each_listed_units_allowed_pools_at_that_site(case):
    problem, relaxed = case
    listed = neighbourhood.cheapest_units_per_site(problem, relaxed.priced_uk1, 5)
    base = tuple((int(u) % problem.num_options,) for u in range(problem.num_units))
    got = neighbourhood.with_site_pools(problem, base, listed)
    allowed = allowed_options(problem)
    for u in range(problem.num_units):
        sites = np.flatnonzero((listed == u).any(axis=1))
        extra = np.flatnonzero(allowed[u] & np.isin(problem.site_o, sites))
        assert got[u] == tuple(sorted(set(base[u]) | set(extra.tolist())))
