"""The capacity rows of the price relaxation in pair-list form: which rows each (unit,
pool) choice uses, by how much, and every row's capacity and price scale."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from placer.problem.form import Problem
from placer.problem.rows import PAIR_TABLES, SITE_ROWS, option_rows, row_table
from placer.problem.usage import pair_table
from placer.problem.usage import row_loads as usage_row_loads


class PairRows(NamedTuple):
    """The relaxation in pair-list form (NumPy float64; N allowed pairs + optional outs).

    Attributes:
      unit_n: int[N'], unit of each choice.  pool_n: int[N'] (P = unplaced).
      base_n: float64[N'], objective (the value lost for an unplaced choice).
      rows_nk: int[N', 8], rows a choice uses (R = none): GPU, 4 site rows, budget,
        carbon, redundancy.  coef_nk: float64[N', 8], its usage of each.
      cap_r: float64[R], row capacities (0 where inactive).  active_r: bool[R].
      scale_r: float64[R], price scale (USD/h per unit of the row).
    """

    unit_n: np.ndarray
    pool_n: np.ndarray
    base_n: np.ndarray
    rows_nk: np.ndarray
    coef_nk: np.ndarray
    cap_r: np.ndarray
    active_r: np.ndarray
    scale_r: np.ndarray


def pair_rows(problem: Problem) -> PairRows:
    """Lists the choices of every unit and the capacity rows each one uses."""
    n_p, n_s, n_g = problem.num_pools, problem.num_sites, problem.num_groups
    u, p = np.nonzero(problem.allowed_up)
    opt = np.nonzero(~problem.must_place_u)[0]
    unit = np.concatenate([u, opt])
    pool = np.concatenate([p, np.full(opt.size, n_p)])
    base = np.concatenate([problem.objective_usd_per_h_up[u, p], problem.unplaced_usd_per_h_u[opt]])
    # rows: [0, P) GPUs; then 4 per site; then budget, carbon; then G x (S + 1) spread rows
    r_budget = n_p + SITE_ROWS * n_s
    r_spread = r_budget + 2
    n_rows = r_spread + n_g * (n_s + 1)
    none = n_rows
    rows = np.full((unit.size, 8), none, dtype=np.int64)
    coef = np.zeros((unit.size, 8))
    m = u.size  # the first m choices are real pairs
    rows[:m, :7] = option_rows(problem)[p]
    for k, name in enumerate(PAIR_TABLES):
        coef[:m, k] = pair_table(problem, name)[u, p]
    g = problem.group_u[u]
    in_group = g >= 0
    if n_g:
        key = problem.spread_key_gp[np.maximum(g, 0), p]
        rows[:m, 7] = np.where(in_group, r_spread + np.maximum(g, 0) * (n_s + 1) + key, none)
        coef[:m, 7] = in_group.astype(float)
    cap = row_capacities(problem)
    active = np.isfinite(cap)
    # Price scale: objective per unit of usage, the typical size of a shadow price.
    scale = np.ones(n_rows)
    obj = problem.objective_usd_per_h_up[u, p]
    for k in range(5):
        used = coef[:m, k] > 0
        if used.any():
            per = float(np.median(obj[used] / coef[:m, k][used]))
            idx = np.unique(rows[:m, k])
            scale[idx] = per if np.isfinite(per) and per > 0 else 1.0
    if n_g:
        scale[r_spread:] = max(float(np.median(np.abs(obj))) if obj.size else 1.0, 1e-6)
    return PairRows(unit, pool, base, rows, coef, np.where(active, cap, 0.0), active, scale)


def row_capacities(problem) -> np.ndarray:
    """float64[R]: capacity of every row in `pair_rows`' order (inf: no cap): the
    problem's `row_table` and then one row of capacity 1 per (group, spread key)."""
    n_s, n_g = problem.num_sites, problem.num_groups
    return np.concatenate([row_table(problem).cap_r, np.ones(n_g * (n_s + 1))])


def row_loads(problem, assign_u: np.ndarray) -> np.ndarray:
    """float64[P + 4 S]: pool GPUs, then IT, facility, heat and water per site (the
    `pair_rows` order), of the plan assign_u."""
    n_rows = problem.num_pools + SITE_ROWS * problem.num_sites
    return usage_row_loads(problem, assign_u)[:n_rows]
