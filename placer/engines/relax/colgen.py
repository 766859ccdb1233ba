"""Column generation: the LP relaxation of the placement problem over a growing set of
columns, every slot priced at each round, and a certified Lagrangian bound.

The LP relaxation of the placement MILP (formulation.py) has one column per (unit, slot);
a timed problem has millions (a run's pools x starts), most of them never worth using.
The *master* LP holds a few columns per unit: the capacity rows its columns could
overfill (a row they cannot overfill cannot bind), one place-once row per unit, one row
per (redundancy group, spread key), and a slack per soft row. Each round:

1. solve the master (HiGHS's interior point and crossover, from scratch: MathOpt keeps
   no HiGHS basis between solves); a round the time left cannot buy is not started;
2. read its capacity duals as row prices y >= 0 (`pair_rows` layout: capacity rows, then
   the spread rows) and price every slot of every unit with them (`chunked_dual_bound`,
   float64, chunked over units): L(y) = sum_u min(value lost, min_k objective + y . usage)
   - y . cap is a lower bound on every plan for ANY y >= 0 (soft rows: y <= their price),
   so each round certifies one;
3. add to the master each unit's few slots priced below its cheapest master column.

When no slot is priced below its unit's master columns the master's LP optimum equals
L(y): the LP relaxation's optimum is reached and certified. Column generation then
separates cover inequalities the master's LP breaks (`placer.engines.relax.covers`:
units that cannot all charge a row at once), writes them into the master and goes on;
their duals price the slots they hold, so the bound may rise above the LP's
(gen-time-2000x20x72-s1: 4,549.72 -> 4,617.76 USD/h, its optimum >= 4,620.94). It stops
when no cover is broken. Prices are smoothed towards
the best bound's (Wentges): y = a y_best + (1 - a) y_master, which damps the swings of
early rounds; a round whose smoothed prices add nothing falls back to the master's.

A must-place unit's "unplaced" is priced at a large penalty in the master (a relaxation of
"must place": the bound stays valid), so the master is always feasible. Measured on
gen-time-1000x50x168-s1 (2 CPUs, greedy's plan as the start): 5,724 columns of 194,296
pairs reach the LP optimum 4,778.11 USD/h, the full LP's, in 19 rounds and 13.4 s.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
from ortools.math_opt.python import mathopt

from placer.engines.milp.quiet import quiet_stdout
from placer.engines.relax.covers import Covers, priced_with_covers, separate
from placer.engines.relax.rows import row_capacities
from placer.engines.relax.sampled import chunked_dual_bound
from placer.problem.form import Problem
from placer.problem.rows import K_BUDGET
from placer.problem.soft import soft_mask
from placer.problem.usage import term_values

#: The master's LP solver. HiGHS rebuilds its model each round, GLOP keeps its basis;
#: HiGHS was still faster on gen-time-10000x100x72-s1 (the fifth round's master, ~61k
#: columns: 14.5 s against GLOP's 49.3 s, 2 CPUs).
MASTER_SOLVER = mathopt.SolverType.HIGHS
#: HiGHS's interior point (then crossover to a vertex: the rounding reads whole columns)
#: solves the master faster than its default dual simplex from scratch: the first three
#: rounds on gen-time-10000x100x72-s1 from the ascent's prices took 2.6, 5.2 and 9.0 s
#: against 3.3, 8.2 and 13.9 s (2 CPUs, the same LP values to 1e-4).
MASTER_LP_ALGORITHM = mathopt.LPAlgorithm.BARRIER
#: A master solve takes at least this many times the previous one's time (its columns
#: grow each round; measured x1.7 to x2.5 there): a round is not started when the time
#: left cannot buy it, since a master stopped at its limit gives nothing.
NEXT_SOLVE_GROWTH = 1.7
#: Slots added per unit and round (its cheapest priced ones below its master columns).
ADD_PER_ROUND = 3
#: Master columns each unit starts with: its cheapest by objective alone.
START_COLUMNS = 2
#: Weight of the best bound's prices in the smoothed prices (Wentges smoothing).
SMOOTHING = 0.5
#: The master is optimal when L(y) is within this of its LP value (relative).
CONVERGED_RTOL = 1e-6
#: Covers are separated again at the next LP optimum only when the last ones lifted the
#: LP by at least this much (relative), and column generation stops when the first master
#: after them is not that much above the LP. On gen-time-2000x20x72-s1 the first covers
#: lift it 1.5% and later ones nothing; on us_week.yaml 59 rounds of a few covers each
#: lifted it 0.035 USD/h (1.6e-5) in 35 s, where the LP took 0.5 s; on
#: gen-time-1000x50x168-s1 5 rounds (5.5 s) lifted it 0.02 USD/h.
COVER_MIN_GAIN = 1e-4


class ColumnGeneration(NamedTuple):
    """What column generation reached.

    Attributes:
      bound: the best certified Lagrangian bound over the rounds, USD/h.
      lp_value: the last master's LP optimum, USD/h (>= the LP relaxation's optimum).
      prices_r: float64[R'], the prices of `bound` (`pair_rows` layout).
      priced: float64[U, K+1], every slot priced at `prices_r` (`priced_slots`).
      master_prices_r: float64[R'], the last master's duals.
      x_unit, x_slot, x_value: the last master's nonzero columns (int64, int64,
        float64[n]).
      keep_uk: bool[U, K], the slots in the master.
      rounds: master solves.   converged: the LP optimum (with its covers) was
        reached (bound = lp_value).
      notes: what happened, one line per stage.
    """

    bound: float
    lp_value: float
    prices_r: np.ndarray
    priced: np.ndarray
    master_prices_r: np.ndarray
    x_unit: np.ndarray
    x_slot: np.ndarray
    x_value: np.ndarray
    keep_uk: np.ndarray
    rounds: int
    converged: bool
    notes: tuple[str, ...]


class _Master:
    """The master LP: columns added round by round; a capacity row is written only once
    the master's columns could overfill it (the sum of their amounts passes its cap), so
    a row left out cannot bind and its dual is 0."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.cap_r = row_capacities(problem)
        self.num_prices = self.cap_r.size
        self.model = mathopt.Model(name="column_generation")
        self.rows: dict[int, mathopt.LinearConstraint] = {}
        self.once = [self.model.add_linear_constraint(ub=1.0) for _ in range(problem.num_units)]
        self.value_u = lost_value(problem)
        self.model.objective.offset = float(self.value_u.sum())
        self.columns: list[mathopt.Variable] = []
        self.unit_c: list[np.ndarray] = []
        self.slot_c: list[np.ndarray] = []
        self.load_r = np.zeros(self.num_prices)
        self.terms: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (column, row, amount)
        self.soft_r = np.zeros(self.num_prices, bool)
        self.soft_r[: problem.num_rows] = soft_mask(problem)
        self.budget = np.flatnonzero((problem.kind_r == K_BUDGET) & np.isfinite(problem.cap_r))
        self.solver: mathopt.IncrementalSolver | None = None
        self.column_of: dict[tuple[int, int], int] = {}  # (unit, slot) -> column
        self.cover_rows: list[mathopt.LinearConstraint] = []
        self.covers_of: dict[tuple[int, int], list[int]] = {}  # (unit, slot) -> covers

    def add(self, units: np.ndarray, slots: np.ndarray) -> None:
        """Columns for the (unit, slot) pairs (int64[n] each)."""
        p = self.problem
        if units.size == 0:
            return
        options = p.option_uk[units, slots].astype(np.int64)
        rows = p.row_oj[options].astype(np.int64)
        amounts = term_values(p, units, slots, options)
        group = p.group_u[units]
        if (group >= 0).any():
            n_r, n_s = p.num_rows, p.num_sites
            g = np.maximum(group, 0)
            key = p.spread_key_go[g, options]
            spread = np.where(group >= 0, n_r + g * (n_s + 1) + key, -1)
            rows = np.concatenate([rows, spread[:, None]], axis=1)
            amounts = np.concatenate([amounts, (group >= 0)[:, None].astype(float)], axis=1)
        first = len(self.columns)
        cost = p.objective_usd_per_h_uk[units, slots] - self.value_u[units]
        for i in range(units.size):
            x = self.model.add_variable(lb=0.0, ub=1.0)
            self.model.objective.set_linear_coefficient(x, float(cost[i]))
            self.once[int(units[i])].set_coefficient(x, 1.0)
            pair = (int(units[i]), int(slots[i]))
            self.column_of[pair] = len(self.columns)
            for c in self.covers_of.get(pair, ()):
                self.cover_rows[c].set_coefficient(x, 1.0)
            self.columns.append(x)
        self.unit_c.append(units)
        self.slot_c.append(slots)
        keep = (rows >= 0) & (amounts != 0.0)
        col = np.broadcast_to(first + np.arange(units.size)[:, None], rows.shape)[keep]
        row, amount = rows[keep], amounts[keep]
        self.terms.append((col, row, amount))
        np.add.at(self.load_r, row, amount)
        for c, r, a in zip(col.tolist(), row.tolist(), amount.tolist(), strict=True):
            written = self.rows.get(r)
            if written is not None:
                written.set_coefficient(self.columns[c], a)
        self._write_rows()

    def _write_rows(self) -> None:
        """Writes every row the master's columns could now overfill, with the terms of
        the columns already in the master (and a soft row's slack)."""
        over = np.flatnonzero(np.isfinite(self.cap_r) & (self.load_r > self.cap_r + 1e-9))
        new = [int(r) for r in over if int(r) not in self.rows]
        if not new:
            return
        for r in new:
            self.rows[r] = self.model.add_linear_constraint(ub=float(self.cap_r[r]))
            if self.soft_r[r]:
                self._slack(r)
        col, row, amount = (np.concatenate(a) for a in zip(*self.terms, strict=True))
        at = np.isin(row, np.array(new, np.int64))
        for c, r, a in zip(col[at].tolist(), row[at].tolist(), amount[at].tolist(), strict=True):
            self.rows[r].set_coefficient(self.columns[c], a)

    def _slack(self, r: int) -> None:
        """A soft row's slack: load - slack <= cap at the row's price, charged to the
        budget row like the MILP's (the budget row is written now if it is not yet)."""
        price = float(self.problem.over_usd_per_h_r[r])
        slack = self.model.add_variable(lb=0.0)
        self.model.objective.set_linear_coefficient(slack, price)
        self.rows[r].set_coefficient(slack, -1.0)
        for b in self.budget.tolist():
            if b not in self.rows:
                self.rows[b] = self.model.add_linear_constraint(ub=float(self.cap_r[b]))
                col, row, amount = (np.concatenate(a) for a in zip(*self.terms, strict=True))
                at = row == b
                for c, a in zip(col[at].tolist(), amount[at].tolist(), strict=True):
                    self.rows[b].set_coefficient(self.columns[c], a)
            self.rows[b].set_coefficient(slack, price)

    def add_covers(self, covers: Covers, first: int) -> None:
        """Rows for the covers from `first` on, over the columns already in the master
        (later columns join them in `add`)."""
        for c in range(first, len(covers)):
            self.cover_rows.append(self.model.add_linear_constraint(ub=covers.rhs_c[c]))
        unit, slot, cover = covers.terms(first)
        for u, k, c in zip(unit.tolist(), slot.tolist(), cover.tolist(), strict=True):
            self.covers_of.setdefault((u, k), []).append(c)
            column = self.column_of.get((u, k))
            if column is not None:
                self.cover_rows[c].set_coefficient(self.columns[column], 1.0)

    def cover_prices(self, result: mathopt.SolveResult) -> np.ndarray:
        """float64[C]: -dual of each cover row (>= 0)."""
        if not self.cover_rows:
            return np.zeros(0)
        return np.maximum(0.0, -np.asarray(result.dual_values(self.cover_rows), float))

    def solve(self, time_limit_s: float) -> mathopt.SolveResult | None:
        import datetime

        if self.solver is None:
            self.solver = mathopt.IncrementalSolver(self.model, MASTER_SOLVER)
        params = mathopt.SolveParameters(
            time_limit=datetime.timedelta(seconds=max(0.1, time_limit_s)),
            lp_algorithm=MASTER_LP_ALGORITHM,
        )
        with quiet_stdout():
            result = self.solver.solve(params=params)
        if result.termination.reason != mathopt.TerminationReason.OPTIMAL:
            return None
        return result

    def prices(self, result: mathopt.SolveResult) -> np.ndarray:
        """float64[R']: -dual of each row (>= 0), 0 on rows not written."""
        out = np.zeros(self.num_prices)
        if self.rows:
            ids = np.fromiter(self.rows, np.int64, len(self.rows))
            duals = result.dual_values(list(self.rows.values()))
            out[ids] = np.maximum(0.0, -np.asarray(duals, float))
        return out

    def solution(self, result: mathopt.SolveResult):
        """(unit, slot, value) of the master's nonzero columns."""
        if not self.columns:  # no unit has a listed slot: every unit is left out
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        values = np.asarray(result.variable_values(self.columns), float)
        unit, slot = np.concatenate(self.unit_c), np.concatenate(self.slot_c)
        at = np.flatnonzero(values > 1e-9)
        return unit[at], slot[at], values[at]


def lost_value(problem: Problem) -> np.ndarray:
    """float64[U]: the value lost unplaced, a large penalty for must-place units (the
    master's relaxation of "must place")."""
    value = problem.unplaced_usd_per_h_u.astype(float)
    if problem.must_place_u.any():
        listed = problem.listed_uk
        top = float(np.abs(problem.objective_usd_per_h_uk[listed]).max(initial=0.0))
        penalty = 10.0 * (top + float(np.abs(value).max(initial=0.0))) + 1_000.0
        value = np.where(problem.must_place_u, penalty, value)
    return value


def column_generation(
    problem: Problem,
    *,
    time_budget_s: float,
    start_uk: np.ndarray | None = None,
    plans: tuple[np.ndarray, ...] = (),
    max_rounds: int | None = None,
    start_prices_r: np.ndarray | None = None,
    progress=None,
    with_covers: bool = True,
) -> ColumnGeneration | None:
    """Column generation within `time_budget_s` (see the module docstring); None when not
    even one master solved in time.

    `start_uk` (bool[U, K]) adds slots to the first master; each assignment of `plans`
    (int[U], -1 unplaced) adds its units' slots, so the master starts with those plans'
    columns (a feasible plan makes its first duals meaningful). `max_rounds` caps the
    master solves. `start_prices_r` (float64[R'], e.g. `option_dual.ascend`): each
    unit starts with its cheapest slots at those prices instead of by objective, and
    they are the first centre of the smoothing. `progress(round, lp_value, bound)` is
    called after each round. `with_covers=False` stops at the LP optimum: the bound is
    then L(prices_r) itself (with covers it holds their prices too, which `prices_r`
    does not carry)."""
    started = time.perf_counter()
    n_u, n_k = problem.option_uk.shape
    keep = np.zeros((n_u, n_k), bool)
    best = (-np.inf, None, None)
    if start_prices_r is not None:
        bound, priced = chunked_dual_bound(problem, start_prices_r)
        best = (bound, np.asarray(start_prices_r, float), priced)
        cost = priced[:, :-1]
    else:
        cost = np.where(problem.listed_uk, problem.objective_usd_per_h_uk, np.inf)
    if n_k:
        first = np.argsort(cost, axis=1, kind="stable")[:, :START_COLUMNS]
        np.put_along_axis(keep, first, True, axis=1)
    if start_uk is not None:
        keep |= start_uk
    for plan in plans:
        slot = problem.slot_of(plan)
        at = np.flatnonzero(slot >= 0)
        keep[at, slot[at]] = True
    keep &= problem.listed_uk
    master = _Master(problem)
    master.add(*np.nonzero(keep))
    covers = Covers() if with_covers else None
    best = (*best[:2], np.zeros(0), best[2])  # (bound, y, cover prices, priced)
    notes: list[str] = []
    rounds, converged = 0, False
    lp_value, master_y, x = np.inf, np.zeros(master.num_prices), None
    solve_s, short = 0.0, False

    def certify(y: np.ndarray, pi: np.ndarray) -> tuple[float, np.ndarray]:
        bound, priced = chunked_dual_bound(problem, y)
        if covers is not None and pi.size:
            bound += priced_with_covers(covers, priced, pi)
        return bound, priced

    cover_lps: list[float] = []  # the LP optimum each time covers were separated
    checked_covers = 0

    def covers_lifted() -> bool:
        """Whether the LP rose by COVER_MIN_GAIN (relative) since covers were last added."""
        return lp_value - cover_lps[-1] >= COVER_MIN_GAIN * max(1.0, abs(lp_value))

    def more_covers() -> bool:
        """Separates covers at the LP optimum reached; True when some were added. Not
        once the last covers lifted the LP by less than COVER_MIN_GAIN (relative); the
        loop also stops when the first master after them does (it is at least the LP
        with them over every column)."""
        if covers is None or x is None or rounds == max_rounds:
            return False
        if cover_lps and not covers_lifted():
            return False
        cover_lps.append(lp_value)
        first = len(covers)
        if not separate(problem, covers, *x):
            return False
        master.add_covers(covers, first)
        return True

    while True:
        left = time_budget_s - (time.perf_counter() - started)
        if left <= 0:
            break
        if rounds and left < NEXT_SOLVE_GROWTH * solve_s:
            short = True  # the next master would not finish: its time goes back
            break
        solve_started = time.perf_counter()
        result = master.solve(left)
        solve_s = time.perf_counter() - solve_started
        if result is None:
            break
        rounds += 1
        lp_value = float(result.objective_value())
        master_y, master_pi = master.prices(result), master.cover_prices(result)
        x = master.solution(result)
        if len(cover_lps) > checked_covers:  # the first master since covers were added
            checked_covers = len(cover_lps)
            if not covers_lifted():
                converged = True  # over the master's columns they lift the LP by less
                break  # than that, and over every column by less still
        if best[1] is None:
            y, pi = master_y, master_pi
        else:
            best_pi = np.pad(best[2], (0, master_pi.size - best[2].size))
            y = SMOOTHING * best[1] + (1 - SMOOTHING) * master_y
            pi = SMOOTHING * best_pi + (1 - SMOOTHING) * master_pi
        bound, priced = certify(y, pi)
        if y is not master_y and bound < best[0]:
            bound_m, priced_m = certify(master_y, master_pi)
            if bound_m > bound:
                y, pi, bound, priced = master_y, master_pi, bound_m, priced_m
        if bound > best[0]:
            best = (bound, y, pi, priced)
        if lp_value - best[0] <= CONVERGED_RTOL * max(1.0, abs(lp_value)):
            if more_covers():
                continue
            converged = True
            break
        units, slots = _new_columns(priced, keep)
        if progress is not None:
            progress(rounds, lp_value, best[0])
        if units.size == 0 and y is not master_y:
            y, pi = master_y, master_pi
            bound, priced = certify(y, pi)
            if bound > best[0]:
                best = (bound, y, pi, priced)
            units, slots = _new_columns(priced, keep)
        if units.size == 0:
            if y is master_y and more_covers():
                continue
            converged = bool(y is master_y)
            break
        if time.perf_counter() - started >= time_budget_s or rounds == max_rounds:
            break
        keep[units, slots] = True
        master.add(units, slots)
    if best[1] is None or x is None:
        return None
    bound, prices, _, priced = best
    notes.append(
        f"column generation: {rounds} rounds, {int(keep.sum()):,} of "
        f"{problem.num_pairs():,} columns, LP {lp_value:,.4f} USD/h, certified bound "
        f"{bound:,.4f} USD/h ({_why_stopped(converged, short, solve_s)}) in "
        f"{time.perf_counter() - started:.1f} s"
        + (f"; {len(covers):,} cover inequalities" if covers else "")
    )
    return ColumnGeneration(
        bound, lp_value, prices, priced, master_y, *x, keep, rounds, converged, tuple(notes)
    )


def _why_stopped(converged: bool, short: bool, solve_s: float) -> str:
    if converged:
        return "the LP optimum"
    if short:
        return f"stopped: the next master would not finish in time, the last took {solve_s:.1f} s"
    return "stopped at the time limit"


def _new_columns(priced: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(units, slots) int64[n]: each unit's up to ADD_PER_ROUND slots outside the master
    priced below its cheapest master column (or its value lost)."""
    slots = priced[:, :-1]
    inside = np.where(keep, slots, np.inf).min(axis=1, initial=np.inf)
    current = np.minimum(inside, priced[:, -1])
    outside = np.where(keep, np.inf, slots)
    k = min(ADD_PER_ROUND, outside.shape[1])
    if k == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    top = np.argpartition(outside, k - 1, axis=1)[:, :k] if outside.shape[1] > k else None
    if top is None:
        top = np.broadcast_to(np.arange(outside.shape[1]), outside.shape).copy()
    value = np.take_along_axis(outside, top, axis=1)
    tol = 1e-9 * np.maximum(1.0, np.abs(current))
    better = value < (current - tol)[:, None]
    u, j = np.nonzero(better)
    return u.astype(np.int64), top[u, j].astype(np.int64)
