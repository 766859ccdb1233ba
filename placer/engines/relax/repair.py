"""Repair: turn a near-feasible candidate into a plan that meets every hard constraint.

1. Drop masked pairs and the extra copies of a redundancy group on one spread key.
2. While a pool or site capacity (or the budget / carbon cap) is exceeded, unplace the
   unit there with the smallest regret (priced cost of its best other choice minus its
   priced cost here): it has the cheapest way out.
3. Re-insert every unplaced unit (must-place first, then by value) into its cheapest
   priced pool that still fits (greedy's load accounting); optional units only when
   placing them costs less than their value.
4. A must-place unit still out evicts optional units (least valuable first) from the
   pool and site of its cheapest choice where that makes room; evicted units are
   re-inserted elsewhere if they fit.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np

from placer.engines.greedy import LoadState, priority_order
from placer.problem.form import UNPLACED, Problem
from placer.problem.sparse_form import SparseProblem
from placer.problem.usage import (
    AssignmentValues,
    allowed_pools,
    objective_value,
    pair_table,
    violations,
)


class _Choices:
    """A unit's allowed pools and their priced costs, in either layout.

    `priced` is float64[U, P+1] for a dense Problem (column P: unplaced) and
    float64[U, K+1] for a SparseProblem (slot columns, column K: unplaced); +inf where
    a choice is not allowed."""

    def __init__(self, problem: Problem | SparseProblem, priced: np.ndarray) -> None:
        self.problem, self.priced = problem, priced
        self.sparse = isinstance(problem, SparseProblem)

    def of(self, u: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pools, priced cost, objective) of unit u's allowed pools."""
        pools, cols = allowed_pools(self.problem, u)
        objective = pair_table(self.problem, "objective_usd_per_h")[u, cols]
        return pools, self.priced[u, cols], objective

    def column_u(self, a: np.ndarray) -> np.ndarray:
        """int64[U]: each unit's column of `priced` under assignment a (last: unplaced)."""
        last = self.priced.shape[1] - 1
        if self.sparse:
            slot = self.problem.slot_of(a)
            return np.where(slot >= 0, slot, last)
        return np.where(a >= 0, a, last)


def repair(
    problem: Problem | SparseProblem, assign_u: np.ndarray, priced: np.ndarray
) -> np.ndarray:
    """A repaired copy of assign_u (int32[U], -1 unplaced); `priced` as in `_Choices`."""
    a = np.asarray(assign_u, dtype=np.int32).copy()
    a[AssignmentValues(problem, a).masked] = UNPLACED
    choices = _Choices(problem, priced)
    _drop_duplicate_copies(problem, a)
    _drop_overloads(problem, a, choices)
    state = LoadState(problem)
    for u in np.nonzero(a >= 0)[0]:
        state.add(u, a[u])
    _reinsert(problem, a, choices, state)
    missing = np.nonzero(problem.must_place_u & (a < 0))[0]
    for u in missing:
        _make_room(problem, a, int(u), choices, state)
    if missing.size:
        _reinsert(problem, a, choices, state)  # evicted optional work, where it fits
    return a


def best_repaired(
    problem: Problem | SparseProblem,
    candidates: Iterable[np.ndarray],
    priced: np.ndarray,
    deadline: float | None = None,
) -> np.ndarray:
    """The cheapest feasible repair of the candidates (int32[U] each), taken in order;
    none after the first is started past `deadline` (a time.perf_counter() value).
    All units unplaced when no repair is feasible."""
    best, best_obj = None, np.inf
    for i, candidate in enumerate(candidates):
        if i >= 1 and deadline is not None and time.perf_counter() > deadline:
            break
        fixed = repair(problem, candidate, priced)
        if violations(problem, fixed):
            continue
        obj = objective_value(problem, fixed)
        if obj < best_obj:
            best, best_obj = fixed, obj
    return best if best is not None else np.full(problem.num_units, UNPLACED, np.int32)


def _drop_duplicate_copies(problem: Problem | SparseProblem, a: np.ndarray) -> None:
    """Keeps the lowest-index copy of each (group, spread key) and unplaces the rest."""
    members = np.flatnonzero((problem.group_u >= 0) & (a >= 0))
    if not members.size:
        return
    group = problem.group_u[members].astype(np.int64)
    key = problem.spread_key_gp[group, a[members]].astype(np.int64)
    _, first = np.unique(group * (int(key.max()) + 1) + key, return_index=True)
    keep = np.zeros(members.size, bool)
    keep[first] = True
    a[members[~keep]] = UNPLACED


def _regret_u(choices: _Choices, a: np.ndarray) -> np.ndarray:
    """float64[U]: best other choice's priced cost minus the current one (inf if none)."""
    priced = choices.priced
    n_u = a.shape[0]
    col = choices.column_u(a)
    here = priced[np.arange(n_u), col]
    others = priced.copy()
    others[np.arange(n_u), col] = np.inf
    return others.min(axis=1) - here


def _drop_overloads(problem: Problem | SparseProblem, a: np.ndarray, choices: _Choices) -> None:
    """Unplaces lowest-regret units from every overloaded pool, site and global cap."""
    tol = 1e-9
    regret = _regret_u(choices, a)
    site_rows = (
        ("it_kw", "it_cap_kw_s"),
        ("facility_kw", "facility_cap_kw_s"),
        ("heat_kw", "heat_cap_kw_s"),
        ("water_l_per_h", "water_cap_l_per_h_s"),
    )
    for _ in range(8):  # removals in one group rarely re-overload another; bounded anyway
        changed = False
        values = AssignmentValues(problem, a)
        units = np.nonzero(a >= 0)[0]
        pools = a[units]
        groups = [
            (units[pools == p], values.take("gpus"), problem.gpu_cap_p[p]) for p in np.unique(pools)
        ]
        sites = problem.pool_site_p[pools]
        for coef, cap in site_rows:
            use = values.take(coef)
            groups += [(units[sites == s], use, getattr(problem, cap)[s]) for s in np.unique(sites)]
        groups += [
            (units, values.take("cost_usd_per_h"), problem.budget_usd_per_h),
            (units, values.take("carbon_kg_per_h"), problem.carbon_cap_kg_per_h),
        ]
        for members, use_u, cap in groups:
            members = members[a[members] >= 0]
            excess = use_u[members].sum() - float(cap) * (1 + tol) - tol
            if excess <= 0:
                continue
            order = members[np.argsort(regret[members], kind="stable")]
            freed = np.cumsum(use_u[order])
            cut = int(np.searchsorted(freed, excess)) + 1
            a[order[:cut]] = UNPLACED
            changed = True
        if not changed:
            return


def _make_room(
    problem: Problem | SparseProblem,
    a: np.ndarray,
    u: int,
    choices: _Choices,
    state: LoadState,
) -> None:
    """Places must-place unit u by evicting optional units (least valuable first) from the
    site of one of its pools, cheapest pool first; evictions are undone if they do not
    make room. `state` holds the loads of `a` and is kept in step with it."""
    optional = np.nonzero((a >= 0) & ~problem.must_place_u)[0]
    optional = optional[np.argsort(problem.unplaced_usd_per_h_u[optional], kind="stable")]
    pools, priced, _ = choices.of(u)
    for p in pools[np.argsort(priced, kind="stable")]:
        site = problem.pool_site_p[p]
        evicted = []
        for v in optional[problem.pool_site_p[a[optional]] == site]:
            if state.fits(u, p):
                break
            state.remove(v, a[v])
            evicted.append(v)
        if state.fits(u, p):
            state.add(u, p)
            a[evicted] = UNPLACED
            a[u] = p
            return
        for v in evicted:
            state.add(v, a[v])


def _reinsert(
    problem: Problem | SparseProblem, a: np.ndarray, choices: _Choices, state: LoadState
) -> np.ndarray:
    """Places unplaced units in priority order; `state` holds the loads of `a`."""
    for u in priority_order(problem):
        if a[u] >= 0:
            continue
        pools, priced, objective = choices.of(u)
        order = np.argsort(priced, kind="stable")
        pools, objective = pools[order], objective[order]
        if not problem.must_place_u[u]:  # optional units only where worth their value
            pools = pools[objective <= problem.unplaced_usd_per_h_u[u]]
        p = state.first_fit(u, pools)
        if p is not None:
            state.add(u, p)
            a[u] = p
    return a
