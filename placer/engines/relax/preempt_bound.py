"""A Lagrangian bound of a problem whose training runs may pause or move between pools.

Only the `milp` solver models preemption and migration (`Problem.preempt`); the other
engines place such runs contiguously in one pool, a restriction: their plans are valid,
but the Lagrangian bound over the options (contiguous runs) is not one of the problem
where runs may pause, whose optimum can be lower. Here, at any row prices y >= 0,

    L'(y) = sum over units of min(its cheapest priced option, value lost unplaced
            (+inf if it must be placed), and for a preemptible or migratable run the
            floor of its schedules below) - y . cap

with each schedule period priced as the compile charges it (`Preempt.row_ej`, whole
periods: objective + y . usage). The floor leaves out what a schedule may only add
(resume overheads' hours, moves' USD and overheads; the dataset's egress of every site
but the cheapest), so it is at most the priced cost of any schedule of the run, and
L'(y) <= L(y) <= the optimum of the problem with preemption:

- a run that may pause but not move: per pool, its need in whole periods
  n = ceil(need h / period h) cheapest priced periods of its window there (plus any
  others priced below 0) and that pool's egress; the cheapest pool;
- a run that may move: a fractional knapsack over every (pool, period) of its window:
  each gives period h / need h of the run on that pool; periods priced below 0 all
  taken, then the cheapest per unit of work until the work is 1; plus the cheapest egress
  (the LP relaxation of the schedules: one pool per period and whole periods relaxed).
"""

from __future__ import annotations

import math

import numpy as np

from placer.engines.relax.rows import row_capacities
from placer.engines.relax.sampled import active_prices, chunked_dual_bound
from placer.problem.form import Problem
from placer.problem.preempt import Preempt

#: Seconds `preempt_bound` takes per allowed pair and per option term, with a margin
#: (2 CPUs: 0.19 s for gen-time-1000x50x168-s1's 194k pairs and 2.3M terms, 0.32 s for
#: gen-time-3000x100x72-s1's 1.2M pairs and 3.3M terms; the schedules' entries are few).
S_PER_PAIR, S_PER_TERM = 1e-6, 2e-7


def estimated_s(problem: Problem) -> float:
    """What `preempt_bound` will take, s (an estimate with a margin): the caller keeps
    it out of the solver's time limit."""
    return S_PER_PAIR * problem.num_pairs() + S_PER_TERM * float((problem.row_oj >= 0).sum())


def preempt_bound(problem: Problem, prices_r: np.ndarray) -> float:
    """L'(y) (module docstring) at prices `prices_r` (float64[R'], `relax.rows`
    layout); L(y) of the options alone when the problem has no `preempt` table."""
    bound, priced = chunked_dual_bound(problem, prices_r)
    table = problem.preempt
    if table is None:
        return bound
    y = np.append(active_prices(problem, prices_r), 0.0)  # the last: "no row"
    cap = row_capacities(problem)
    fixed = float((y[:-1] * np.where(np.isfinite(cap), cap, 0.0)).sum())
    low_u = priced.min(axis=1)
    priced_e = entry_prices(table, y)
    for v in range(table.num_runs):
        u = int(table.unit_v[v])
        low_u[u] = min(low_u[u], run_floor(table, v, priced_e))
    return float(low_u.sum()) - fixed


def entry_prices(table: Preempt, y: np.ndarray) -> np.ndarray:
    """float64[E]: each schedule period's objective + y . what it charges (y float64[R'+1],
    the last 0 for "no row")."""
    rows = np.where(table.row_ej >= 0, table.row_ej, -1)
    e = np.arange(table.row_ej.shape[0])
    values = table.amount_qe[table.quantity_ej, e[:, None]]
    if table.scale_ej is not None:
        values = values * table.scale_ej
    return table.objective_usd_per_h_e + (np.where(rows >= 0, values, 0.0) * y[rows]).sum(axis=1)


def run_floor(table: Preempt, v: int, priced_e: np.ndarray) -> float:
    """The floor of run v's schedules at entry prices `priced_e` (module docstring);
    +inf when no schedule can complete it."""
    choices = np.flatnonzero(table.run_c == v)
    if choices.size == 0:
        return math.inf
    ph = table.period_hours
    egress = float(table.fixed_usd_per_h_c[choices].min())
    if bool(table.migrates_v[v]):
        cost, work = [], []
        for c in choices.tolist():
            entries = table.entries_of(c)
            cost.append(priced_e[entries])
            work.append(np.full(entries.size, ph / float(table.need_h_c[c])))
        return egress + fractional_cover(np.concatenate(cost), np.concatenate(work))
    best = math.inf
    for c in choices.tolist():
        costs = np.sort(priced_e[table.entries_of(c)])
        need = max(1, math.ceil(float(table.need_h_c[c]) / ph - 1e-6))  # (fewer: lower)
        if costs.size < need:
            continue
        value = costs[:need].sum() + np.minimum(costs[need:], 0.0).sum()
        best = min(best, float(table.fixed_usd_per_h_c[c]) + float(value))
    return best


def fractional_cover(cost_n: np.ndarray, work_n: np.ndarray) -> float:
    """min sum x cost s.t. sum x work >= 1, 0 <= x <= 1 (work > 0): every item of cost
    <= 0, then the cheapest per unit of work; +inf when all the work is short of 1."""
    if work_n.sum() < 1.0 - 1e-12:
        return math.inf
    free = cost_n <= 0.0
    total, done = float(cost_n[free].sum()), float(work_n[free].sum())
    order = np.argsort(cost_n[~free] / work_n[~free], kind="stable")
    for c, w in zip(cost_n[~free][order].tolist(), work_n[~free][order].tolist(), strict=True):
        if done >= 1.0:
            break
        take = min(1.0, (1.0 - done) / w)
        total += take * c
        done += take * w
    return total


__all__ = ["entry_prices", "estimated_s", "fractional_cover", "preempt_bound", "run_floor"]
