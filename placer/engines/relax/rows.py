"""The rows of the price relaxation in pair-list form: which rows each (unit, option)
choice uses, by how much, and every row's capacity and price scale.

Row order: the Problem's capacity rows [0, R), then one row per redundancy group and
spread key, "at most one copy of group g on key k" (g x (S + 1) + k, capacity 1).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from placer.problem.form import Problem
from placer.problem.rows import KIND_SCOPE
from placer.problem.soft import price_ceiling
from placer.problem.usage import term_values


class PairRows(NamedTuple):
    """The relaxation in pair-list form (NumPy float64; N allowed pairs + optional outs).

    Attributes:
      unit_n: int[N'], unit of each choice.  option_n: int[N'] (O = unplaced).
      slot_n: int[N'], its slot in the unit's list (K = unplaced).
      base_n: float64[N'], objective (the value lost for an unplaced choice).
      rows_nj: int[N', J+1], rows a choice uses (R' = none): its option's J rows, then
        its redundancy row.  coef_nj: float64[N', J+1], its usage of each.
      cap_r: float64[R'], row capacities (0 where inactive).  active_r: bool[R'].
      scale_r: float64[R'], price scale (USD/h per unit of the row).
      ceiling_r: float64[R'], the most a row's price may be (+inf: hard; a soft row's
        price per unit of excess, `placer.problem.soft`), or None: no soft row.
    """

    unit_n: np.ndarray
    option_n: np.ndarray
    slot_n: np.ndarray
    base_n: np.ndarray
    rows_nj: np.ndarray
    coef_nj: np.ndarray
    cap_r: np.ndarray
    active_r: np.ndarray
    scale_r: np.ndarray
    ceiling_r: np.ndarray | None = None


def pair_rows(problem: Problem) -> PairRows:
    """Lists the choices of every unit and the capacity rows each one uses."""
    n_r, n_s, n_g = problem.num_rows, problem.num_sites, problem.num_groups
    n_j = problem.row_oj.shape[1]
    u, k = np.nonzero(problem.listed_uk)
    o = problem.option_uk[u, k].astype(np.int64)
    opt = np.nonzero(~problem.must_place_u)[0]
    unit = np.concatenate([u, opt])
    option = np.concatenate([o, np.full(opt.size, problem.num_options)])
    slot = np.concatenate([k, np.full(opt.size, problem.num_slots)])
    base = np.concatenate([problem.objective_usd_per_h_uk[u, k], problem.unplaced_usd_per_h_u[opt]])
    n_rows = n_r + n_g * (n_s + 1)
    none = n_rows
    rows = np.full((unit.size, n_j + 1), none, dtype=np.int64)
    coef = np.zeros((unit.size, n_j + 1))
    m = u.size  # the first m choices are real pairs
    row_mj = problem.row_oj[o]
    rows[:m, :n_j] = np.where(row_mj >= 0, row_mj, none)
    coef[:m, :n_j] = term_values(problem, u, k, o)  # one [m, J] temporary
    g = problem.group_u[u]
    in_group = g >= 0
    if n_g:
        key = problem.spread_key_go[np.maximum(g, 0), o]
        rows[:m, n_j] = np.where(in_group, n_r + np.maximum(g, 0) * (n_s + 1) + key, none)
        coef[:m, n_j] = in_group.astype(float)
    cap = row_capacities(problem)
    active = np.isfinite(cap)
    scale = price_scales(problem, base[:m], o, coef[:m, :n_j], n_rows)
    if n_g:
        obj = base[:m]
        scale[n_r:] = max(float(np.median(np.abs(obj))) if obj.size else 1.0, 1e-6)
    ceiling = price_ceiling(problem, n_rows)
    return PairRows(
        unit, option, slot, base, rows, coef, np.where(active, cap, 0.0), active, scale, ceiling
    )


def price_scales(
    problem: Problem, obj_n: np.ndarray, option_n: np.ndarray, coef_nj: np.ndarray, n_rows: int
) -> np.ndarray:
    """float64[n_rows]: the typical size of a shadow price of each row: for the rows of a
    pool or site kind, the median objective per unit of usage over the pairs charging a
    row of that kind; 1 for global rows (and kinds nobody charges). `option_n`: the
    option of each pair; `coef_nj` its usage of each of its option's J rows."""
    scale = np.ones(n_rows)
    kind_all = np.full(problem.num_rows + 1, -1, np.int64)  # the last: no row
    kind_all[: problem.num_rows] = problem.kind_r
    used_options = np.unique(option_n)
    row_used = problem.row_oj[used_options]  # [o', J]
    kind_used = kind_all[row_used]
    for kind in np.flatnonzero(KIND_SCOPE != 2):
        ratios = []
        for j in range(problem.row_oj.shape[1]):
            at = kind_used[:, j] == kind
            if not at.any():
                continue
            pairs = slice(None) if at.all() else np.isin(option_n, used_options[at])
            coef, obj = coef_nj[pairs, j], obj_n[pairs]
            with np.errstate(over="ignore"):  # a subnormal usage (1e-308 L/kWh of water)
                ratio = obj[coef > 0] / coef[coef > 0]
            ratios.append(ratio[np.isfinite(ratio)])
        ratios = [r for r in ratios if r.size]
        if ratios:
            per = float(np.median(np.concatenate(ratios)))
            idx = np.unique(row_used[kind_used == kind])
            scale[idx] = per if np.isfinite(per) and per > 0 else 1.0
    return scale


def row_capacities(problem: Problem) -> np.ndarray:
    """float64[R']: capacity of every row in `pair_rows`' order (inf: no cap): the
    problem's capacity rows and then one row of capacity 1 per (group, spread key)."""
    n_s, n_g = problem.num_sites, problem.num_groups
    return np.concatenate([problem.cap_r, np.ones(n_g * (n_s + 1))])


def local_rows(problem: Problem) -> np.ndarray:
    """int64[n]: the capacity rows of pool or site scope (not the global caps)."""
    return np.flatnonzero(KIND_SCOPE[problem.kind_r] != 2)
