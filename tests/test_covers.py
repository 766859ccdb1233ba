"""Cover inequalities in column generation (placer/engines/relax/covers.py): every cover
found is valid for every plan and broken by the LP it was separated from, the bound they
price is the Lagrangian by hand, and it lies between the LP optimum and the exact one."""

from __future__ import annotations

import numpy as np
import pytest

from placer.engines.base import SolveOptions
from placer.engines.milp.solve import solve_milp
from placer.engines.relax.colgen import column_generation
from placer.engines.relax.covers import Covers, priced_with_covers, separate
from placer.engines.relax.sampled import chunked_dual_bound
from placer.model.generate_time import generate_timed_scenario
from placer.problem.compile import compile_problem
from placer.problem.usage import term_values


def _timed(units, pools, periods, seed):
    return compile_problem(generate_timed_scenario(units, pools, periods, seed=seed))[0]


@pytest.mark.parametrize(
    ("size", "lifts"), [((80, 4, 12, 2), True), ((60, 5, 12, 7), True), ((60, 5, 12, 6), False)]
)
def test_covers_lift_the_bound_and_never_pass_the_optimum(size, lifts) -> None:
    problem = _timed(*size)
    plain = column_generation(problem, time_budget_s=30.0, with_covers=False)
    cut = column_generation(problem, time_budget_s=30.0)
    exact = solve_milp(problem, SolveOptions(time_limit_s=30.0, relative_gap=0.0))
    assert plain is not None and cut is not None and plain.converged and cut.converged
    assert exact.status == "optimal"
    optimum = exact.objective_usd_per_h
    assert cut.bound <= optimum + 1e-6 * max(1.0, abs(optimum))
    assert cut.bound >= plain.bound - 1e-6 * max(1.0, abs(plain.bound))
    if lifts:  # the LP is below the optimum there, and the covers close part of it
        assert plain.bound < optimum - 1e-3
        assert cut.bound > plain.bound + 1e-3
        assert "cover inequalities" in cut.notes[0]
    else:
        assert cut.bound == pytest.approx(plain.bound, rel=1e-9)


def _least_by_hand(problem, u: int, row: int) -> float:
    """u's smallest charge to `row` over its listed options that charge it."""
    least = np.inf
    for k in np.flatnonzero(problem.option_uk[u] >= 0):
        o = int(problem.option_uk[u, k])
        values = term_values(problem, np.array([u]), np.array([k]), np.array([o]))[0]
        for j, r in enumerate(problem.row_oj[o]):
            if r == row:
                least = min(least, float(values[j]))
    return least


def test_each_cover_is_valid_and_broken_by_the_lp() -> None:
    problem = _timed(80, 4, 12, 2)
    cg = column_generation(problem, time_budget_s=30.0, with_covers=False)
    assert cg is not None and cg.converged
    covers = Covers()
    added = separate(problem, covers, cg.x_unit, cg.x_slot, cg.x_value)
    assert added == len(covers) > 0
    unit_t, slot_t, cover_t = covers.terms()
    for c, row in enumerate(covers.row_c):
        members = np.unique(unit_t[cover_t == c])
        assert covers.rhs_c[c] == members.size - 1
        # valid: the members cannot all charge the row at once
        least = sum(_least_by_hand(problem, int(u), row) for u in members)
        assert least > problem.cap_r[row]
        # the terms are exactly the members' slots whose option charges the row
        for u in members:
            slots = np.flatnonzero(problem.option_uk[u] >= 0)
            charging = [k for k in slots if row in problem.row_oj[problem.option_uk[u, k]]]
            assert sorted(slot_t[(cover_t == c) & (unit_t == u)].tolist()) == charging
        # broken: the LP's y over the members passes |C| - 1
        charges = [
            row in problem.row_oj[problem.option_uk[u, k]]
            for u, k in zip(cg.x_unit, cg.x_slot, strict=True)
        ]
        on = np.isin(cg.x_unit, members) & np.array(charges)
        assert cg.x_value[on].sum() > covers.rhs_c[c] + 1e-4
    # separating again from the same LP adds nothing new
    assert separate(problem, covers, cg.x_unit, cg.x_slot, cg.x_value) == 0


def test_priced_covers_give_the_lagrangian_by_hand() -> None:
    problem = _timed(80, 4, 12, 2)
    cg = column_generation(problem, time_budget_s=30.0, with_covers=False)
    covers = Covers()
    separate(problem, covers, cg.x_unit, cg.x_slot, cg.x_value)
    pi = np.random.default_rng(0).uniform(0.0, 5.0, len(covers))
    pi[::3] = 0.0  # some covers unpriced
    plain_bound, plain = chunked_dual_bound(problem, cg.prices_r)
    priced = plain.copy()
    bound = plain_bound + priced_with_covers(covers, priced, pi)
    by_hand = plain.copy()
    unit_t, _, cover_t = covers.terms()
    for c, row in enumerate(covers.row_c):
        for u in np.unique(unit_t[cover_t == c]):
            for k in np.flatnonzero(problem.option_uk[u] >= 0):
                if row in problem.row_oj[problem.option_uk[u, k]]:
                    by_hand[u, k] += pi[c]
    expected = (
        plain_bound
        + by_hand.min(axis=1).sum()
        - plain.min(axis=1).sum()
        - (pi * np.asarray(covers.rhs_c)).sum()
    )
    assert bound == pytest.approx(expected, rel=1e-12, abs=1e-9)
    np.testing.assert_allclose(priced, by_hand)
