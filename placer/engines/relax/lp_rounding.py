"""Rounding through an LP restricted to each unit's near-tied pools.

At the learned prices many pools are nearly tied for a unit (on gen-10000x100-s1 the LP
optimum puts units on pools up to ~0.3% above their cheapest priced cost, often the
5th-20th cheapest), so which of them each unit takes is a balancing problem the prices
alone do not settle: independent draws overload some pools and leave others idle, and
repair pays for every overload. A basic optimum of the LP over the near-tied pools
settles it: it has at most as many fractional units as binding capacity rows, so
fixing its integral part and repairing the rest loses little.

1. `near_tie_pools`: each unit's allowed pools whose priced cost is within
   NEAR_TIE_REL of its cheapest (at least MIN_POOLS, at most MAX_POOLS).
2. `restricted_lp`: the LP relaxation of the placement model over those pools (HiGHS
   dual simplex), in either layout.
3. `lp_rounded`: units the LP places whole keep their pool; the rest are repaired
   (`placer.engines.relax.repair`).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np
from ortools.math_opt.python import mathopt

from placer.engines.milp.formulation import build_model
from placer.engines.milp.quiet import quiet_stdout
from placer.engines.relax.repair import repair
from placer.problem.form import UNPLACED, Problem

#: Pools whose priced cost is within this share of a unit's cheapest are near-tied.
#: Measured on gen-10000x100-s1 (LP optimum 57,921 USD/h): lists at 1% (at most 16
#: pools) gave a restricted LP of 58,080 (117k variables, 6 s), at 0.5% (at most 32)
#: 57,936 (163k, 9 s); the cheapest 4 pools alone 65,541.
NEAR_TIE_REL = 0.005
MIN_POOLS = 2
MAX_POOLS = 32
#: Values within this of 0 or 1 count as integral.
INTEGRAL_TOL = 1e-6


@dataclass(frozen=True)
class RestrictedLp:
    """The restricted LP's optimum (USD/h) and its solution x_n float64[N] over pairs
    int[N, 2] (unit, pool). Not a bound of the full problem, and neither are its duals:
    pairs outside the lists are not priced out (on gen-10000x100-s1 its capacity duals
    certified 31,769 USD/h where the relaxation's prices certified 57,846)."""

    objective_usd_per_h: float
    pairs: np.ndarray
    x_n: np.ndarray


def near_tie_pools(
    problem: Problem,
    priced: np.ndarray,
    rel_tol: float = NEAR_TIE_REL,
    max_pools: int = MAX_POOLS,
) -> np.ndarray:
    """int64[U, max_pools]: each unit's near-tied options, cheapest first, -1 padded
    (ties go to the lower slot, which holds the lower option).

    `priced`: float64[U, K+1] (slot columns, column K unplaced), +inf where not allowed.
    An option is near-tied when its priced cost is at most rel_tol x |cheapest| above
    the cheapest; the MIN_POOLS cheapest always are."""
    cols = priced[:, :-1]
    width = min(max_pools, cols.shape[1])
    order = np.argsort(cols, axis=1, kind="stable")[:, :width]
    value = np.take_along_axis(cols, order, axis=1)
    cheapest = np.where(np.isfinite(value[:, :1]), value[:, :1], 0.0)  # no pool: no list
    finite = np.isfinite(value)
    excess = np.where(finite, value, 0.0) - cheapest
    near = excess <= rel_tol * np.maximum(np.abs(cheapest), 1e-3)
    keep = finite & (near | (np.arange(width) < MIN_POOLS))
    order = np.take_along_axis(problem.option_uk, order, axis=1)
    out = np.full((cols.shape[0], max_pools), -1, np.int64)
    out[:, :width] = np.where(keep, order, -1)
    return out


def candidate_tuples(*tables: np.ndarray) -> tuple[tuple[int, ...], ...]:
    """Per unit, the sorted union of the pools in each int[U, k] table (-1 ignored)."""
    joined = np.concatenate([np.asarray(t, dtype=np.int64).reshape(len(t), -1) for t in tables], 1)
    return tuple(tuple(sorted({int(p) for p in row if p >= 0})) for row in joined)


def restricted_lp(problem: Problem, candidates_u, time_limit_s: float) -> RestrictedLp | None:
    """The LP relaxation over the candidate pools; None when it is not solved in time
    (or is infeasible: a must-place unit whose candidates cannot hold it)."""
    form = build_model(problem, candidates_u=candidates_u, integer=False, name="restricted_lp")
    params = mathopt.SolveParameters(time_limit=datetime.timedelta(seconds=max(time_limit_s, 0.1)))
    with quiet_stdout():
        result = mathopt.solve(form.model, mathopt.SolverType.HIGHS, params=params)
    if result.termination.reason != mathopt.TerminationReason.OPTIMAL:
        return None
    x_n = np.asarray(result.variable_values(form.x), dtype=np.float64)
    return RestrictedLp(float(result.objective_value()), form.pairs, x_n)


def integral_part(problem: Problem, lp: RestrictedLp) -> np.ndarray:
    """int32[U]: the pool of every unit the LP places whole, -1 for the rest."""
    assign = np.full(problem.num_units, UNPLACED, np.int32)
    whole = lp.x_n >= 1.0 - INTEGRAL_TOL
    assign[lp.pairs[whole, 0]] = lp.pairs[whole, 1]
    return assign


def fractional_units(lp: RestrictedLp) -> np.ndarray:
    """int64[F]: units the LP splits between pools (or places in part), ascending."""
    split = (lp.x_n > INTEGRAL_TOL) & (lp.x_n < 1.0 - INTEGRAL_TOL)
    return np.unique(lp.pairs[split, 0])


def lp_support(problem: Problem, lp: RestrictedLp, k: int) -> np.ndarray:
    """int64[U, k]: up to k pools each unit uses in the LP solution, largest share first
    (-1 padded)."""
    used = lp.x_n > INTEGRAL_TOL
    unit, pool, share = lp.pairs[used, 0], lp.pairs[used, 1], lp.x_n[used]
    order = np.lexsort((-share, unit))
    unit, pool = unit[order], pool[order]
    rank = np.arange(unit.size) - np.searchsorted(unit, unit)  # position within its unit
    out = np.full((problem.num_units, k), -1, np.int64)
    keep = rank < k
    out[unit[keep], rank[keep]] = pool[keep]
    return out


def lp_rounded(problem: Problem, lp: RestrictedLp, priced: np.ndarray) -> np.ndarray:
    """int32[U]: the LP's integral part, repaired into a feasible plan (`priced` as in
    `near_tie_pools`, the order repair re-inserts by)."""
    return repair(problem, integral_part(problem, lp), priced)
