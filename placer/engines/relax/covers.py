"""Cover inequalities for column generation: rows the LP relaxation misses.

A hard capacity row r (cap_r) and a set C of units that cannot all charge r at once
(the sum over C of each unit's *smallest* charge to r, over every option it lists that
charges r, exceeds cap_r) give the cover inequality

    sum over u in C of y[u, r] <= |C| - 1,   y[u, r] = sum of x[u, k] over the slots k
                                             whose option charges r,

valid for every plan (a unit is placed at most once, so y[u, r] is 0 or 1). The LP
relaxation breaks many of them where a few large units share a row: on
gen-time-2000x20x72-s1 one round of 133 lifts the LP from 4,549.72 to 4,617.76 USD/h
(+1.50%), the root bound HiGHS reaches with its own cuts, while its optimum is proven
>= 4,620.94 (docs/engine.md, "How weak is the time-indexed LP?").

In column generation the covers are rows of the master over the columns of their
member units that charge their row, and their duals pi_c >= 0 price those slots:
L(y, pi) = sum_u min(value lost, min_k objective + y . usage + sum of pi_c over the
covers of u whose row slot k charges) - y . cap - sum_c pi_c (|C_c| - 1) is a lower
bound on every plan for any y, pi >= 0 (the covers are dualised like the capacity
rows), so the bound may pass the LP's.

Separation (`separate`): on every hard row the master's LP fills, the units it places
there ordered by (1 - y) / their smallest charge, the shortest prefix whose charges
exceed the cap; kept when the LP breaks it by more than SEPARATION_TOL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from placer.problem.form import Problem
from placer.problem.soft import soft_mask
from placer.problem.usage import term_values

#: A cover is kept when the LP's y over it exceeds |C| - 1 by more than this.
SEPARATION_TOL = 1e-3
#: A row counts as filled when the LP's load on it is at least this share of its cap.
FILLED_SHARE = 1.0 - 1e-6
#: Covers kept over a run (each is a master row; more would slow the master).
MAX_COVERS = 20_000


@dataclass
class Covers:
    """The cover inequalities found so far.

    Attributes:
      row_c: int64 capacity row of each cover.   rhs_c: float64 |C| - 1 of each.
      unit_t, slot_t, cover_t: int64[T], every slot of a member unit whose option
        charges its cover's row (the inequality's variables), and its cover.
    """

    row_c: list[int] = field(default_factory=list)
    rhs_c: list[float] = field(default_factory=list)
    unit_t: list[np.ndarray] = field(default_factory=list)
    slot_t: list[np.ndarray] = field(default_factory=list)
    seen: set[tuple[int, tuple[int, ...]]] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.row_c)

    def terms(self, first: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(unit, slot, cover) int64[T] of the covers from `first` on."""
        if len(self) <= first:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty
        units = self.unit_t[first:]
        cover = np.concatenate([np.full(u.size, first + i, np.int64) for i, u in enumerate(units)])
        return np.concatenate(units), np.concatenate(self.slot_t[first:]), cover

    def add(self, problem: Problem, row: int, members: np.ndarray) -> bool:
        """Adds the cover of `members` (int64 units) on `row`; False if it is known."""
        key = (int(row), tuple(sorted(int(u) for u in members)))
        if key in self.seen:
            return False
        self.seen.add(key)
        units, slots = [], []
        for u in members.tolist():
            options, slot = problem.options_of(u)
            on = (problem.row_oj[options] == row).any(axis=1)
            units.append(np.full(int(on.sum()), u, np.int64))
            slots.append(slot[on])
        self.row_c.append(int(row))
        self.rhs_c.append(float(members.size - 1))
        self.unit_t.append(np.concatenate(units))
        self.slot_t.append(np.concatenate(slots))
        return True


def priced_with_covers(covers: Covers, priced: np.ndarray, pi_c: np.ndarray) -> float:
    """Adds each cover's price to the slots it holds, in place in `priced` (float64[U,
    K+1], `chunked_dual_bound`'s); returns what that adds to the bound:
    sum_u (new min - old min) - sum_c pi_c rhs_c (<= 0 terms are kept: any pi >= 0 gives
    a valid bound)."""
    live = np.flatnonzero(pi_c > 0)
    if live.size == 0:
        return 0.0
    unit, slot, cover = covers.terms()
    on = np.isin(cover, live)
    unit, slot, cover = unit[on], slot[on], cover[on]
    touched = np.unique(unit)
    before = priced[touched].min(axis=1).sum()
    np.add.at(priced, (unit, slot), pi_c[cover])
    after = priced[touched].min(axis=1).sum()
    return float(after - before - (pi_c[live] * np.asarray(covers.rhs_c)[live]).sum())


def separate(
    problem: Problem,
    covers: Covers,
    x_unit: np.ndarray,
    x_slot: np.ndarray,
    x_value: np.ndarray,
) -> int:
    """Adds to `covers` the cover inequalities the LP solution breaks (at most one per
    row); returns how many were added. x_unit, x_slot, x_value: the master's nonzero
    columns (int64, int64, float64[n])."""
    if x_unit.size == 0 or len(covers) >= MAX_COVERS:
        return 0
    options = problem.option_uk[x_unit, x_slot].astype(np.int64)
    rows = problem.row_oj[options]
    charge = term_values(problem, x_unit, x_slot, options)
    hard = np.isfinite(problem.cap_r) & ~soft_mask(problem)
    col, j = np.nonzero((rows >= 0) & (charge > 0))
    row = rows[col, j]
    load_r = np.bincount(row, weights=x_value[col] * charge[col, j], minlength=hard.size)
    filled = hard & (
        load_r >= FILLED_SHARE * np.where(np.isfinite(problem.cap_r), problem.cap_r, 0)
    )
    at = filled[row]  # a cover is broken only on a row the LP fills
    col, row = col[at], row[at]
    if col.size == 0:
        return 0
    col_row = np.unique(row.astype(np.int64) * x_unit.size + col)  # a column counts once
    row, col = col_row // x_unit.size, col_row % x_unit.size
    key = row * problem.num_units + x_unit[col]
    keys, group = np.unique(key, return_inverse=True)
    y_g = np.bincount(group, weights=x_value[col], minlength=keys.size)
    row_g, unit_g = keys // problem.num_units, keys % problem.num_units
    least_g = _least_charges(problem, row_g, unit_g)
    bounds = np.flatnonzero(np.r_[True, np.diff(row_g) != 0])
    ends = np.append(bounds[1:], row_g.size)
    added = 0
    for lo, hi in zip(bounds.tolist(), ends.tolist(), strict=True):
        r = int(row_g[lo])
        cap = float(problem.cap_r[r])
        y, least = np.minimum(y_g[lo:hi], 1.0), least_g[lo:hi]
        if (y * least).sum() < FILLED_SHARE * cap:
            continue  # the LP leaves room: no cover is broken
        usable = np.flatnonzero(least > 0)
        order = usable[np.argsort((1.0 - y[usable]) / least[usable], kind="stable")]
        n = int(np.searchsorted(np.cumsum(least[order]), cap * (1 + 1e-9) + 1e-9, "right"))
        if n >= order.size or (1.0 - y[order[: n + 1]]).sum() >= 1.0 - SEPARATION_TOL:
            continue  # no cover among these units, or the LP keeps the greedy's
        if covers.add(problem, r, unit_g[lo:hi][order[: n + 1]]):
            added += 1
            if len(covers) >= MAX_COVERS:
                break
    return added


def _least_charges(problem: Problem, row_g: np.ndarray, unit_g: np.ndarray) -> np.ndarray:
    """float64[n]: each unit's smallest charge to its row over every option it lists
    that charges the row (what a cover may count on)."""
    out = np.full(row_g.size, np.inf)
    order = np.argsort(unit_g, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(unit_g[order]) != 0])
    for s, e in zip(starts.tolist(), np.append(starts[1:], order.size).tolist(), strict=True):
        u = int(unit_g[order[s]])
        options, slots = problem.options_of(u)
        rows = problem.row_oj[options]
        charge = term_values(problem, np.full(options.size, u, np.int64), slots, options)
        for i in order[s:e].tolist():
            on = rows == row_g[i]
            if on.any():
                out[i] = float(charge[on].min())
    return out
