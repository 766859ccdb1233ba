"""The Lagrangian relaxation on pair lists: priced costs, the certified bound, prices.

Rows and prices are laid out exactly as `placer.engines.relax.lagrangian.pair_rows` lays them
out for the dense Problem (pools' GPUs; IT, facility, heat, water per site; budget,
carbon; one row per redundancy group and spread key), so prices learned on a dense
sub-problem apply here unchanged, and `dual_bound` of the dense form equals
`sparse_dual_bound` of its pair lists (tested).
"""

from __future__ import annotations

import numpy as np

from placer.engines.relax.lagrangian import RelaxResult, relax_prices, scaled_capacities
from placer.engines.relax.rows import SITE_ROWS, row_capacities
from placer.problem.form import UNPLACED, Problem
from placer.problem.sparse_form import SparseProblem

#: Units per chunk when pricing every slot (bounds the [chunk, K] temporaries).
CHUNK_UNITS = 8_192
_SITE_TABLES = ("it_kw_uk", "facility_kw_uk", "heat_kw_uk", "water_l_per_h_uk")


def active_prices(problem: Problem | SparseProblem, prices_r: np.ndarray) -> np.ndarray:
    """max(prices, 0), zero on rows without a finite capacity: float64[R]."""
    active = np.isfinite(row_capacities(problem))
    return np.where(active, np.maximum(np.asarray(prices_r, float), 0.0), 0.0)


def priced_slots(problem: SparseProblem, prices_r: np.ndarray, units: np.ndarray) -> np.ndarray:
    """float64[len(units), K+1]: objective + priced usage of each slot of each unit, the
    value lost unplaced in column K (+inf if it must be placed), +inf on padding."""
    y = active_prices(problem, prices_r)
    n_p, n_s = problem.num_pools, problem.num_sites
    r_budget = n_p + SITE_ROWS * n_s
    r_spread = r_budget + 2
    pools = problem.pool_uk[units]
    listed = pools >= 0
    out = np.where(problem.must_place_u[units], np.inf, problem.unplaced_usd_per_h_u[units])
    if n_p == 0:
        return np.concatenate([np.full(pools.shape, np.inf), out[:, None]], axis=1)
    pool = np.maximum(pools, 0)
    site = problem.pool_site_p[pool]
    priced = problem.objective_usd_per_h_uk[units] + y[pool] * problem.gpus_uk[units]
    for k, name in enumerate(_SITE_TABLES):
        priced += y[n_p + SITE_ROWS * site + k] * getattr(problem, name)[units]
    priced += y[r_budget] * problem.cost_usd_per_h_uk[units]
    priced += y[r_budget + 1] * problem.carbon_kg_per_h_uk[units]
    group = problem.group_u[units]
    if problem.num_groups and (group >= 0).any():
        g = np.maximum(group, 0)[:, None]
        key = problem.spread_key_gp[g, pool]
        priced += np.where(group[:, None] >= 0, y[r_spread + g * (n_s + 1) + key], 0.0)
    priced = np.where(listed, priced, np.inf)
    return np.concatenate([priced, out[:, None]], axis=1)


def drawn_pools(
    problem: SparseProblem,
    units: np.ndarray,
    priced: np.ndarray,
    temperature: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """int32[len(units)]: one pool per unit (-1 unplaced) drawn from softmax(-priced / T)
    by the Gumbel-max trick; `priced` is float64[len(units), K+1] as in `priced_slots`."""
    n_k = problem.num_slots
    choice = np.argmax(rng.gumbel(size=priced.shape) - priced / temperature, axis=1)
    pool = problem.pool_uk[units, np.minimum(choice, n_k - 1)]
    return np.where(choice < n_k, pool, UNPLACED).astype(np.int32)


def sparse_dual_bound(problem: SparseProblem, prices_r: np.ndarray) -> tuple[float, np.ndarray]:
    """L(y) in float64 with hard minima (valid for any y >= 0), chunked over units.

    Returns (bound USD/h, priced float64[U, K+1] as in `priced_slots`)."""
    y = active_prices(problem, prices_r)
    cap = row_capacities(problem)
    fixed = float((y * np.where(np.isfinite(cap), cap, 0.0)).sum())
    n_u = problem.num_units
    priced = np.empty((n_u, problem.num_slots + 1))
    total = 0.0
    for start in range(0, n_u, CHUNK_UNITS):
        units = np.arange(start, min(n_u, start + CHUNK_UNITS))
        chunk = priced_slots(problem, prices_r, units)
        total += float(chunk.min(axis=1).sum())
        priced[units] = chunk
    return total - fixed, priced


def sample_for(problem: SparseProblem, cells: float, seed: int = 0) -> np.ndarray:
    """Sorted units of the pricing sample: about `cells` dense cells (units x pools)."""
    n_u = problem.num_units
    size = int(min(n_u, max(1, cells // max(problem.num_pools + 1, 1))))
    return np.sort(np.random.default_rng(seed).choice(n_u, size, replace=False))


def sampled_prices(
    problem: SparseProblem, sample: np.ndarray, *, time_budget_s: float, steps: int = 500
) -> RelaxResult:
    """Prices learned (`relax_prices`, dense layout) on the units of `sample` against
    every shared capacity scaled by the sample's share, as the dense two-stage
    relaxation's first stage does. Their bound holds for that sub-problem only: certify
    them on the whole problem with `sparse_dual_bound`."""
    share = sample.size / max(problem.num_units, 1)
    small = problem.dense_units(sample)._replace(**scaled_capacities(problem, share))
    return relax_prices(small, steps=steps, time_budget_s=time_budget_s)
