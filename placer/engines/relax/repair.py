"""Repair: turn a near-feasible candidate into a plan that meets every hard constraint.

1. Drop masked pairs and the extra copies of a redundancy group on one spread key.
2. While a capacity row (a pool's GPUs, a site's kW or water, the budget, the carbon
   cap) is exceeded, unplace the units charging it with the smallest regret (priced
   cost of its best other choice minus its priced cost here): they have the cheapest
   way out. Rows are taken by kind, then in row order.
3. Re-insert every unplaced unit (must-place first, then by value) into its cheapest
   priced option that still fits (greedy's load accounting); optional units only when
   placing them costs less than their value.
4. A must-place unit still out evicts optional units (least valuable first) from the
   site of its cheapest choice where that makes room; evicted units are re-inserted
   elsewhere if they fit.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np

from placer import interrupt
from placer.engines.greedy import LoadState, priority_order
from placer.problem.form import UNPLACED, Problem
from placer.problem.usage import AssignmentValues, objective_value, spread_conflicts, violations


class _Choices:
    """A unit's options and their priced costs: `priced` is float64[U, K+1] (slot
    columns, column K: unplaced), +inf where a choice is not allowed."""

    def __init__(self, problem: Problem, priced: np.ndarray) -> None:
        self.problem, self.priced = problem, priced

    def of(self, u: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(options, slots, priced cost, objective) of unit u's options."""
        options, slots = self.problem.options_of(u)
        objective = self.problem.objective_usd_per_h_uk[u, slots]
        return options, slots, self.priced[u, slots], objective

    def column_u(self, a: np.ndarray) -> np.ndarray:
        """int64[U]: each unit's column of `priced` under assignment a (last: unplaced)."""
        slot = self.problem.slot_of(a)
        return np.where(slot >= 0, slot, self.priced.shape[1] - 1)


def repair(problem: Problem, assign_u: np.ndarray, priced: np.ndarray) -> np.ndarray:
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
    problem: Problem,
    candidates: Iterable[np.ndarray],
    priced: np.ndarray,
    deadline: float | None = None,
) -> np.ndarray:
    """The cheapest feasible repair of the candidates (int32[U] each), taken in order;
    none after the first is started past `deadline` (a time.perf_counter() value).
    All units unplaced when no repair is feasible."""
    best, best_obj = None, np.inf
    for i, candidate in enumerate(candidates):
        late = deadline is not None and time.perf_counter() > deadline
        if i >= 1 and (late or interrupt.requested()):
            break
        fixed = repair(problem, candidate, priced)
        if violations(problem, fixed):
            continue
        obj = objective_value(problem, fixed)
        if obj < best_obj:
            best, best_obj = fixed, obj
    return best if best is not None else np.full(problem.num_units, UNPLACED, np.int32)


def _drop_duplicate_copies(problem: Problem, a: np.ndarray) -> None:
    """Keeps the lowest-index copy of each (group, spread key) and unplaces the rest."""
    if not spread_conflicts(problem, a).size:
        return
    members = np.flatnonzero((problem.group_u >= 0) & (a >= 0))
    group = problem.group_u[members].astype(np.int64)
    key = problem.spread_key_go[group, a[members]].astype(np.int64)
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


def _drop_overloads(problem: Problem, a: np.ndarray, choices: _Choices) -> None:
    """Unplaces lowest-regret units from every overloaded capacity row."""
    tol = 1e-9
    regret = _regret_u(choices, a)
    cap_r = problem.cap_r
    for _ in range(8):  # removals in one row rarely re-overload another; bounded anyway
        changed = False
        unit_n, row_n, use_n = AssignmentValues(problem, a).terms()
        load_r = np.bincount(row_n, weights=use_n, minlength=problem.num_rows)
        over = np.flatnonzero(load_r - cap_r * (1 + tol) - tol > 0)
        if over.size == 0:
            return
        over = over[np.argsort(problem.kind_r[over], kind="stable")]
        order = np.lexsort((unit_n, row_n))
        unit_n, row_n, use_n = unit_n[order], row_n[order], use_n[order]
        starts = np.searchsorted(row_n, np.arange(problem.num_rows + 1))
        for r in over.tolist():
            members, use = unit_n[starts[r] : starts[r + 1]], use_n[starts[r] : starts[r + 1]]
            live = a[members] >= 0
            members, use = members[live], use[live]
            excess = use.sum() - float(cap_r[r]) * (1 + tol) - tol
            if excess <= 0:
                continue
            by_regret = np.argsort(regret[members], kind="stable")
            freed = np.cumsum(use[by_regret])
            cut = int(np.searchsorted(freed, excess)) + 1
            a[members[by_regret[:cut]]] = UNPLACED
            changed = True
        if not changed:
            return


def _make_room(
    problem: Problem,
    a: np.ndarray,
    u: int,
    choices: _Choices,
    state: LoadState,
) -> None:
    """Places must-place unit u by evicting optional units (least valuable first) from the
    site of one of its options, cheapest option first; evictions are undone if they do
    not make room. `state` holds the loads of `a` and is kept in step with it."""
    optional = np.nonzero((a >= 0) & ~problem.must_place_u)[0]
    optional = optional[np.argsort(problem.unplaced_usd_per_h_u[optional], kind="stable")]
    options, _, priced, _ = choices.of(u)
    site_o = problem.site_o
    for o in options[np.argsort(priced, kind="stable")]:
        evicted = []
        for v in optional[site_o[a[optional]] == site_o[o]]:
            if state.fits(u, o):
                break
            state.remove(v, a[v])
            evicted.append(v)
        if state.fits(u, o):
            state.add(u, o)
            a[evicted] = UNPLACED
            a[u] = o
            return
        for v in evicted:
            state.add(v, a[v])


def _reinsert(problem: Problem, a: np.ndarray, choices: _Choices, state: LoadState) -> np.ndarray:
    """Places unplaced units in priority order; `state` holds the loads of `a`."""
    for u in priority_order(problem):
        if a[u] >= 0:
            continue
        options, slots, priced, objective = choices.of(u)
        order = np.argsort(priced, kind="stable")
        options, slots, objective = options[order], slots[order], objective[order]
        if not problem.must_place_u[u]:  # optional units only where worth their value
            worth = objective <= problem.unplaced_usd_per_h_u[u]
            options, slots = options[worth], slots[worth]
        o = state.first_fit(u, options, slots)
        if o is not None:
            state.add(u, o)
            a[u] = o
    return a
