"""Vectorised NumPy float64 reference of the scoring kernel (tests and benchmarks).

Computes the same `Scores` as `score.score_one` for a batch, from the compiled
Problem in float64, with `np.bincount` in place of segment sums.
"""

from __future__ import annotations

import numpy as np

from placer.engines.kernels.arrays import slot_tables
from placer.engines.kernels.score import NUM_KINDS, Scores
from placer.problem.form import Problem


def score_batch_numpy(a_ku: np.ndarray, problem: Problem) -> Scores:
    """Scores of C candidates (int[C, U] slots, K = unplaced) as float64 arrays."""
    a_ku = np.asarray(a_ku)
    n_c, n_u = a_ku.shape
    n_r = problem.num_rows
    objective, amount, option, allowed, rows, quantity, scale = slot_tables(problem)
    units = np.arange(n_u)[None, :]
    opt = option[units, a_ku]  # [C, U]
    amt = amount[units, a_ku]  # [C, U, Q]
    rows = np.vstack(
        [
            np.where(problem.row_oj >= 0, problem.row_oj, n_r),
            np.full((1, problem.row_oj.shape[1]), n_r),
        ]
    )
    quantity = np.vstack(
        [problem.quantity_oj, np.zeros((1, problem.quantity_oj.shape[1]), np.int8)]
    )
    row_cuj = rows[opt]  # [C, U, J]
    val_cuj = np.take_along_axis(amt, quantity[opt], axis=2)
    if scale is not None:
        val_cuj = val_cuj * scale[opt]
    flat = (np.arange(n_c)[:, None, None] * (n_r + 1) + row_cuj).ravel()
    load = np.bincount(flat, weights=val_cuj.ravel(), minlength=n_c * (n_r + 1))
    load = load.astype(float).reshape(n_c, n_r + 1)[:, :n_r]
    cap = problem.cap_r[None, :]
    over_cr = np.maximum(load - cap, 0.0, where=np.isfinite(cap), out=np.zeros_like(load))
    over_k = np.stack(
        [over_cr[:, problem.kind_r == k].sum(axis=1) for k in range(NUM_KINDS)], axis=1
    )
    return Scores(
        objective=objective[units, a_ku].sum(axis=1),
        total_q=amt.sum(axis=1),
        over_k=over_k,
        masked=(~allowed[units, a_ku]).sum(axis=1).astype(float),
        redundancy=_duplicates(opt, problem),
    )


def _duplicates(option_cu: np.ndarray, problem: Problem) -> np.ndarray:
    out = np.zeros(option_cu.shape[0])
    for g in range(problem.num_groups):
        members = np.nonzero(problem.group_u == g)[0]
        if members.size == 0:
            continue
        keys = np.append(problem.spread_key_go[g], -1)[option_cu[:, members]]  # -1: unplaced
        for c in range(option_cu.shape[0]):
            placed = keys[c][keys[c] >= 0]
            out[c] += placed.size - np.unique(placed).size
    return out
