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

import numpy as np

from placer.problem import UNPLACED, Problem
from placer.solvers.greedy import LoadState, priority_order


def repair(problem: Problem, assign_u: np.ndarray, priced_up1: np.ndarray) -> np.ndarray:
    """A repaired copy of assign_u (int32[U], -1 unplaced); priced_up1 float64[U, P+1]."""
    a = np.asarray(assign_u, dtype=np.int32).copy()
    placed = np.nonzero(a >= 0)[0]
    a[placed[~problem.allowed_up[placed, a[placed]]]] = UNPLACED
    _drop_duplicate_copies(problem, a)
    _drop_overloads(problem, a, priced_up1)
    state = LoadState(problem)
    for u in np.nonzero(a >= 0)[0]:
        state.add(u, a[u])
    _reinsert(problem, a, priced_up1, state)
    missing = np.nonzero(problem.must_place_u & (a < 0))[0]
    for u in missing:
        _make_room(problem, a, int(u), priced_up1, state)
    if missing.size:
        _reinsert(problem, a, priced_up1, state)  # evicted optional work, where it fits
    return a


def _drop_duplicate_copies(problem: Problem, a: np.ndarray) -> None:
    for g in range(problem.num_groups):
        seen: set[int] = set()
        for u in np.nonzero((problem.group_u == g) & (a >= 0))[0]:
            key = int(problem.spread_key_gp[g, a[u]])
            if key in seen:
                a[u] = UNPLACED
            seen.add(key)


def _regret_u(priced_up1: np.ndarray, a: np.ndarray) -> np.ndarray:
    """float64[U]: best other choice's priced cost minus the current one (inf if none)."""
    n_u = a.shape[0]
    col = np.where(a >= 0, a, priced_up1.shape[1] - 1)
    here = priced_up1[np.arange(n_u), col]
    others = priced_up1.copy()
    others[np.arange(n_u), col] = np.inf
    return others.min(axis=1) - here


def _drop_overloads(problem: Problem, a: np.ndarray, priced_up1: np.ndarray) -> None:
    """Unplaces lowest-regret units from every overloaded pool, site and global cap."""
    tol = 1e-9
    regret = _regret_u(priced_up1, a)
    site_rows = (
        ("it_kw_up", "it_cap_kw_s"),
        ("facility_kw_up", "facility_cap_kw_s"),
        ("heat_kw_up", "heat_cap_kw_s"),
        ("water_l_per_h_up", "water_cap_l_per_h_s"),
    )
    for _ in range(8):  # removals in one group rarely re-overload another; bounded anyway
        changed = False
        units = np.nonzero(a >= 0)[0]
        pools = a[units]
        groups = [
            (units[pools == p], problem.gpus_up, problem.gpu_cap_p[p]) for p in np.unique(pools)
        ]
        sites = problem.pool_site_p[pools]
        for coef, cap in site_rows:
            groups += [
                (units[sites == s], getattr(problem, coef), getattr(problem, cap)[s])
                for s in np.unique(sites)
            ]
        groups += [
            (units, problem.cost_usd_per_h_up, problem.budget_usd_per_h),
            (units, problem.carbon_kg_per_h_up, problem.carbon_cap_kg_per_h),
        ]
        for members, coef, cap in groups:
            members = members[a[members] >= 0]
            use = coef[members, a[members]]
            excess = use.sum() - float(cap) * (1 + tol) - tol
            if excess <= 0:
                continue
            order = members[np.argsort(regret[members], kind="stable")]
            freed = np.cumsum(coef[order, a[order]])
            cut = int(np.searchsorted(freed, excess)) + 1
            a[order[:cut]] = UNPLACED
            changed = True
        if not changed:
            return


def _make_room(
    problem: Problem, a: np.ndarray, u: int, priced_up1: np.ndarray, state: LoadState
) -> None:
    """Places must-place unit u by evicting optional units (least valuable first) from the
    site of one of its pools, cheapest pool first; evictions are undone if they do not
    make room. `state` holds the loads of `a` and is kept in step with it."""
    optional = np.nonzero((a >= 0) & ~problem.must_place_u)[0]
    optional = optional[np.argsort(problem.unplaced_usd_per_h_u[optional], kind="stable")]
    pools = np.nonzero(problem.allowed_up[u])[0]
    for p in pools[np.argsort(priced_up1[u, pools], kind="stable")]:
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
    problem: Problem, a: np.ndarray, priced_up1: np.ndarray, state: LoadState
) -> np.ndarray:
    """Places unplaced units in priority order; `state` holds the loads of `a`."""
    for u in priority_order(problem):
        if a[u] >= 0:
            continue
        pools = np.nonzero(problem.allowed_up[u])[0]
        pools = pools[np.argsort(priced_up1[u, pools], kind="stable")]
        if not problem.must_place_u[u]:  # optional units only where worth their value
            pools = pools[
                problem.objective_usd_per_h_up[u, pools] <= problem.unplaced_usd_per_h_u[u]
            ]
        p = state.first_fit(u, pools)
        if p is not None:
            state.add(u, p)
            a[u] = p
    return a
