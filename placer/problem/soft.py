"""Soft rows: capacity rows whose load may exceed the cap at a price (`Problem.over_usd_per_h_r`).

A soft row r with price p_r (USD per hour of the horizon per unit of the row's quantity)
adds p_r x max(0, load_r - cap_r) to a plan's objective and to its cost (what the budget
caps); it is never a violation. Every other row is hard. A grid event with a price per
kWh makes one soft facility row per (site, period) it touches (docs/time.md).

Engines read soft rows through these helpers:

- `usage` adds the excess cost to the objective, the cost and the budget row's load, and
  leaves soft rows out of the violations (their hard ceilings are rows of their own);
- the MILP writes a slack per soft row (load - slack <= cap, + p_r x slack);
- the relaxation bounds a soft row's price to [0, p_r] (`clip_prices`);
- greedy, search and the kernels keep a soft row as hard at its cap (a restriction: their
  own plans pay no excess; the objective they report is still `usage`'s, the true one).

A problem without soft rows (`over_usd_per_h_r` None: every static problem) takes none of
these paths.
"""

from __future__ import annotations

import numpy as np

from placer.problem.form import Problem
from placer.problem.rows import K_BUDGET, global_row


def has_soft_rows(problem: Problem) -> bool:
    """Some row of the problem is soft."""
    over = problem.over_usd_per_h_r
    return over is not None and bool(np.isfinite(over).any())


def soft_mask(problem: Problem) -> np.ndarray:
    """bool[R]: the row is soft (a finite price per unit of excess)."""
    over = problem.over_usd_per_h_r
    if over is None:
        return np.zeros(problem.num_rows, bool)
    return np.isfinite(over)


def excess_r(problem: Problem, loads_r: np.ndarray) -> np.ndarray:
    """float64[R]: max(0, load - cap) on soft rows, 0 on hard rows (the row's unit)."""
    soft = soft_mask(problem)
    loads = np.asarray(loads_r, float)[: problem.num_rows]
    over = np.where(soft, loads - np.where(soft, problem.cap_r, 0.0), 0.0)
    return np.maximum(over, 0.0)


def excess_usd_per_h(problem: Problem, loads_r: np.ndarray) -> float:
    """What a plan with these row loads pays for exceeding soft rows, USD per hour of the
    horizon: sum over soft rows of price x max(0, load - cap)."""
    if not has_soft_rows(problem):
        return 0.0
    over = excess_r(problem, loads_r)
    price = np.where(soft_mask(problem), problem.over_usd_per_h_r, 0.0)
    return float((over * price).sum())


def with_excess_cost(problem: Problem, loads_r: np.ndarray) -> np.ndarray:
    """float64[R]: the loads with the excess cost added to the budget row's (the budget
    caps the cost, and the excess is paid); the loads themselves without soft rows."""
    row = global_row(problem.kind_r, K_BUDGET)
    if row < 0 or not has_soft_rows(problem):
        return loads_r
    out = np.array(loads_r, float)
    out[row] += excess_usd_per_h(problem, loads_r)
    return out


def price_ceiling(problem: Problem, n_rows: int | None = None) -> np.ndarray | None:
    """float64[n_rows]: the largest price a row may take in a Lagrangian relaxation (+inf
    for hard rows; rows past R, the relaxation's redundancy rows, are hard); None when the
    problem has no soft row.

    Why: with a slack s_r >= 0 per soft row (load - s_r <= cap, + p_r s_r in the
    objective and in the budget row), the Lagrangian's inner minimum over s_r is
    min_s (p_r (1 + y_budget) - y_r) s_r, which is 0 for 0 <= y_r <= p_r (and y_budget
    >= 0) and -inf above. So L(y) = sum_u min_k (...) - y . cap bounds the problem with
    slacks from below for every y with soft prices in [0, p_r]."""
    if not has_soft_rows(problem):
        return None
    n = problem.num_rows if n_rows is None else n_rows
    out = np.full(n, np.inf)
    out[: problem.num_rows] = np.where(soft_mask(problem), problem.over_usd_per_h_r, np.inf)
    return out


def clip_prices(problem: Problem, prices_r: np.ndarray) -> np.ndarray:
    """`prices_r` (float64[R'], R' >= R) with each soft row's price at most its price per
    unit of excess; unchanged (the same array) when the problem has no soft row."""
    ceiling = price_ceiling(problem, len(prices_r))
    if ceiling is None:
        return prices_r
    return np.minimum(np.asarray(prices_r, float), ceiling)
