"""The Lagrangian relaxation slot by slot, chunked over units: priced costs, the
certified bound and prices learned on a sample, for fleets where pair lists do not fit.

Rows and prices are laid out exactly as `placer.engines.relax.rows.pair_rows` lays them
out (the Problem's capacity rows, then one row per redundancy group and spread key), so
prices learned on a sub-problem of some units apply here unchanged, and
`chunked_dual_bound` equals `lagrangian.dual_bound` (tested).
"""

from __future__ import annotations

import numpy as np

from placer.engines.relax.lagrangian import RelaxResult, relax_prices, scaled_sample
from placer.engines.relax.rows import row_capacities
from placer.problem.form import UNPLACED, Problem
from placer.problem.soft import clip_prices

#: Units per chunk when pricing every slot (bounds the [chunk, K] temporaries).
CHUNK_UNITS = 8_192
#: Pair terms of a pricing sample (`sample_for`): what the relaxation's pair lists work
#: through in a few seconds per hundred Adam steps on 2 cores.
SAMPLE_TERMS = 2e7


def active_prices(problem: Problem, prices_r: np.ndarray) -> np.ndarray:
    """max(prices, 0), zero on rows without a finite capacity, a soft row's at most its
    price per unit of excess (`placer.problem.soft`): float64[R']."""
    active = np.isfinite(row_capacities(problem))
    return clip_prices(problem, np.where(active, np.maximum(np.asarray(prices_r, float), 0.0), 0.0))


def priced_slots(problem: Problem, prices_r: np.ndarray, units: np.ndarray) -> np.ndarray:
    """float64[len(units), K+1]: objective + priced usage of each slot of each unit, the
    value lost unplaced in column K (+inf if it must be placed), +inf on empty slots."""
    y = np.append(active_prices(problem, prices_r), 0.0)  # the last: "no row"
    n_r, n_s = problem.num_rows, problem.num_sites
    options = problem.option_uk[units]
    listed = options >= 0
    out = np.where(problem.must_place_u[units], np.inf, problem.unplaced_usd_per_h_u[units])
    if problem.num_options == 0 or options.shape[1] == 0:
        return np.concatenate([np.full(options.shape, np.inf), out[:, None]], axis=1)
    option = np.maximum(options, 0)
    at = _rows_of(units)
    priced = problem.objective_usd_per_h_uk[at].copy()
    price_oq = option_prices(problem, y)
    for q in np.flatnonzero(price_oq.any(axis=0)):
        priced += problem.amount_quk[q, at] * price_oq[option, q]
    group = problem.group_u[units]
    if problem.num_groups and (group >= 0).any():
        g = np.maximum(group, 0)[:, None]
        key = problem.spread_key_go[g, option]
        priced += np.where(group[:, None] >= 0, y[n_r + g * (n_s + 1) + key], 0.0)
    priced = np.where(listed, priced, np.inf)
    return np.concatenate([priced, out[:, None]], axis=1)


def option_prices(problem: Problem, y: np.ndarray) -> np.ndarray:
    """float64[O, Q]: what one unit of each quantity costs on each option at row prices
    `y` (float64[R + 1], the last for "no row"): the sum of the prices of the rows the
    option charges that quantity to. A slot's priced usage is then its amounts times its
    option's row of this table: Q passes over the slots, not one per term (a timed
    option charges hundreds of rows)."""
    n_o, n_q = problem.num_options, problem.num_quantities
    out = np.zeros((n_o, n_q))
    row = problem.row_oj
    price = y[np.where(row >= 0, row, -1)]
    if problem.scale_oj is not None:
        price = price * problem.scale_oj
    for q in range(n_q):
        out[:, q] = np.where(problem.quantity_oj == q, price, 0.0).sum(axis=1)
    return out


def _rows_of(units: np.ndarray) -> np.ndarray | slice:
    """`units` as a slice when they are a contiguous ascending range (a view, no copy)."""
    if units.size and units[-1] - units[0] == units.size - 1 and (np.diff(units) == 1).all():
        return slice(int(units[0]), int(units[-1]) + 1)
    return units


def drawn_options(
    problem: Problem,
    units: np.ndarray,
    priced: np.ndarray,
    temperature: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """int32[len(units)]: one option per unit (-1 unplaced) drawn from softmax(-priced /
    T) by the Gumbel-max trick; `priced` is float64[len(units), K+1] as in
    `priced_slots`."""
    n_k = problem.num_slots
    choice = np.argmax(rng.gumbel(size=priced.shape) - priced / temperature, axis=1)
    option = problem.option_uk[units, np.minimum(choice, n_k - 1)]
    return np.where(choice < n_k, option, UNPLACED).astype(np.int32)


def chunked_dual_bound(problem: Problem, prices_r: np.ndarray) -> tuple[float, np.ndarray]:
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


def sample_for(
    problem: Problem, cells: float, seed: int = 0, terms: float = SAMPLE_TERMS
) -> np.ndarray:
    """Sorted units of the pricing sample: about `cells` dense cells (units x options),
    or about `terms` pair terms (slots x the rows each charges) when that is more units:
    a timed problem has many options, few of them per unit."""
    n_u = problem.num_units
    by_cells = cells // max(problem.num_options + 1, 1)
    per_unit = problem.num_pairs() / max(n_u, 1) * max(1.0, _mean_terms(problem))
    size = int(min(n_u, max(1, by_cells, terms // max(per_unit, 1.0))))
    return np.sort(np.random.default_rng(seed).choice(n_u, size, replace=False))


def _mean_terms(problem: Problem) -> float:
    """Rows an option charges, on average."""
    return float((problem.row_oj >= 0).sum(axis=1).mean()) if problem.num_options else 0.0


def sampled_prices(
    problem: Problem, sample: np.ndarray, *, time_budget_s: float, steps: int = 500
) -> RelaxResult:
    """Prices learned (`relax_prices`) on the units of `sample` against every capacity
    scaled by the sample's share, as the two-stage relaxation's first stage does. Their
    bound holds for that sub-problem only: certify them on the whole problem with
    `chunked_dual_bound`."""
    return relax_prices(scaled_sample(problem, sample), steps=steps, time_budget_s=time_budget_s)
