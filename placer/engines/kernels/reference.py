"""Vectorised NumPy float64 reference of the scoring kernel (tests and benchmarks).

Computes the same `Scores` as `score.score_one` for a batch, from the compiled
Problem in float64, with `np.bincount` in place of segment sums.
"""

from __future__ import annotations

import numpy as np

from placer.engines.kernels.score import Scores
from placer.problem.form import Problem


def _pick(table_up: np.ndarray, a_ku: np.ndarray, last: np.ndarray | float = 0.0) -> np.ndarray:
    """table[u, a[k, u]] with column P = `last`: float64[K, U]."""
    n_u = table_up.shape[0]
    full = np.concatenate(
        [table_up, np.broadcast_to(np.asarray(last, float), (n_u,))[:, None]], axis=1
    )
    return full[np.arange(n_u)[None, :], a_ku]


def _sum_by(values_ku: np.ndarray, keys_ku: np.ndarray, n: int) -> np.ndarray:
    """Per candidate and key sums: float64[K, n]."""
    k = values_ku.shape[0]
    flat = (np.arange(k)[:, None] * n + keys_ku).ravel()
    sums = np.bincount(flat, weights=values_ku.ravel(), minlength=k * n)
    return sums.astype(float).reshape(k, n)  # bincount of nothing is int64


def _over(load_kn: np.ndarray, cap_n: np.ndarray) -> np.ndarray:
    return np.maximum(
        load_kn - cap_n[None, :], 0.0, where=np.isfinite(cap_n)[None, :], out=np.zeros_like(load_kn)
    ).sum(axis=1)


def score_batch_numpy(a_ku: np.ndarray, problem: Problem) -> Scores:
    """Scores of K candidates (int[K, U], P = unplaced) as float64[K] arrays."""
    a_ku = np.asarray(a_ku)
    n_p, n_s = problem.num_pools, problem.num_sites
    site_ku = np.append(problem.pool_site_p, n_s)[a_ku]
    gpus = _sum_by(_pick(problem.gpus_up, a_ku), a_ku, n_p + 1)[:, :n_p]
    sums = {
        name: _sum_by(_pick(getattr(problem, field), a_ku), site_ku, n_s + 1)[:, :n_s]
        for name, field in (
            ("it", "it_kw_up"),
            ("facility", "facility_kw_up"),
            ("heat", "heat_kw_up"),
            ("water", "water_l_per_h_up"),
        )
    }
    cost = _pick(problem.cost_usd_per_h_up, a_ku).sum(axis=1)
    carbon = _pick(problem.carbon_kg_per_h_up, a_ku).sum(axis=1)
    allowed = _pick(problem.allowed_up.astype(float), a_ku, (~problem.must_place_u).astype(float))
    return Scores(
        objective=_pick(problem.objective_usd_per_h_up, a_ku, problem.unplaced_usd_per_h_u).sum(
            axis=1
        ),
        cost=cost,
        carbon=carbon,
        water=sums["water"].sum(axis=1),
        gpus_over=_over(gpus, problem.gpu_cap_p),
        it_over=_over(sums["it"], problem.it_cap_kw_s),
        facility_over=_over(sums["facility"], problem.facility_cap_kw_s),
        heat_over=_over(sums["heat"], problem.heat_cap_kw_s),
        water_over=_over(sums["water"], problem.water_cap_l_per_h_s),
        budget_over=np.maximum(cost - problem.budget_usd_per_h, 0.0),
        carbon_over=np.maximum(carbon - problem.carbon_cap_kg_per_h, 0.0),
        masked=(allowed < 0.5).sum(axis=1).astype(float),
        redundancy=_duplicates(a_ku, problem),
    )


def _duplicates(a_ku: np.ndarray, problem: Problem) -> np.ndarray:
    out = np.zeros(a_ku.shape[0])
    for g in range(problem.num_groups):
        members = np.nonzero(problem.group_u == g)[0]
        if members.size == 0:
            continue
        keys = np.append(problem.spread_key_gp[g], -1)[a_ku[:, members]]  # -1: unplaced
        for k in range(a_ku.shape[0]):
            placed = keys[k][keys[k] >= 0]
            out[k] += placed.size - np.unique(placed).size
    return out
