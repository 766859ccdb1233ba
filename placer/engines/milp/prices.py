"""Capacity prices: what one more unit of each binding capacity is worth, USD/h.

They are the duals of the capacity rows (2) in the LP relaxation of the placement
MILP (formulation.py), solved with GLOP: the exact marginal value for the LP, and
the usual estimate for the integer problem (a capacity whose LP dual is 0 may still
bind the integer plan by less than one unit's size). A dual holds only over a range:
`price_range` finds, by parametric LP re-solves, how many units can be added before
the price drops. On configs/eu_sovereign.yaml fra-hall's IT power is worth 6.49 USD/h
per kW for the first 7.3 kW only: scaled to 1 MW that would say 6,490 USD/h, where the
MILP re-solved with 1 MW more saves 120.10 USD/h. What a whole step is worth is a
re-solve (`placer.api.explain`), never the price scaled.
"""

from __future__ import annotations

import datetime
import math
import time

from ortools.math_opt.python import mathopt

from placer.engines.milp.formulation import build_model
from placer.engines.milp.quiet import quiet_stdout
from placer.problem.form import Problem

#: Prices below this (USD/h per unit) are reported as not binding.
MIN_PRICE = 1e-6
#: The dearest rows whose price range is measured (each takes ~20 LP re-solves).
MAX_RANGED = 5
#: A price holds while the LP objective falls by price x d within this (relative).
RANGE_RTOL = 1e-7
#: Bisection steps after doubling: the range is known to within 2^-6 of its end.
RANGE_BISECTIONS = 6
#: The range is not searched past this multiple of the capacity (reported as +inf).
RANGE_MAX_FACTOR = 64.0


def capacity_prices(
    problem: Problem, time_limit_s: float = 30.0, candidates_u=None
) -> list[tuple[int, str, float, float | None]]:
    """(index, resource, USD/h per unit, holds for) for every capacity with a positive
    LP dual, dearest first.

    The index is the row's scope: a site for kW and L/h rows, a pool for "gpus" rows
    (the pool's site is then `problem.pool_site_p[index]`), -1 for global rows. "Holds
    for" is how many units can be added before the price changes (`price_range`), for
    the MAX_RANGED dearest rows while the time lasts; None where not measured.
    Returns [] if the LP is infeasible or does not finish in time.
    """
    deadline = time.perf_counter() + time_limit_s
    form = build_model(problem, candidates_u=candidates_u, integer=False, name="placement_lp")
    result = _solve_lp(form, time_limit_s)
    if result is None:
        return []
    base = float(result.objective_value())
    duals = result.dual_values([con for _, _, con in form.capacity_rows])
    out = []
    for (index, resource, con), dual in zip(form.capacity_rows, duals, strict=True):
        price = -float(dual)  # min problem, <= row: dual <= 0; one more unit saves -dual
        if price > MIN_PRICE:
            out.append((int(index), resource, price, con))
    out.sort(key=lambda row: -row[2])
    ranged = []
    for n, (index, resource, price, con) in enumerate(out):
        holds = None
        if n < MAX_RANGED and time.perf_counter() < deadline:
            holds = price_range(form, con, price, base, deadline)
        ranged.append((index, resource, price, holds))
    return ranged


def price_range(form, con, price: float, base: float, deadline: float) -> float | None:
    """How far row `con`'s capacity can grow with the LP objective still falling by
    `price` per unit: the largest d with LP(cap + d) = LP(cap) - price x d (to 1e-7
    relative), found by doubling from one unit and then bisecting (RANGE_BISECTIONS),
    or +inf when it holds up to RANGE_MAX_FACTOR x the capacity (as far as searched).
    The LP objective is convex and piecewise linear in the capacity, so the price holds
    on [0, d] and is lower beyond. None if an LP runs past `deadline`.
    The row's bound is restored."""
    cap = con.upper_bound
    top = RANGE_MAX_FACTOR * max(abs(cap), 1.0)

    def holds(d: float) -> bool | None:
        con.upper_bound = cap + d
        result = _solve_lp(form, deadline - time.perf_counter())
        if result is None:
            return None
        drop = base - float(result.objective_value())
        return drop >= price * d - RANGE_RTOL * max(1.0, abs(base))

    try:
        good, bad, d = 0.0, None, 1.0
        while d <= top:
            ok = holds(d)
            if ok is None:
                return None
            if not ok:
                bad = d
                break
            good, d = d, 2 * d
        if bad is None:
            return math.inf  # it binds as far as searched
        for _ in range(RANGE_BISECTIONS):
            mid = (good + bad) / 2
            ok = holds(mid)
            if ok is None:
                return good
            good, bad = (mid, bad) if ok else (good, mid)
        return good
    finally:
        con.upper_bound = cap


def _solve_lp(form, time_limit_s: float):
    """The LP's GLOP result, or None if it is not optimal within the time."""
    if time_limit_s <= 0:
        return None
    params = mathopt.SolveParameters(time_limit=datetime.timedelta(seconds=time_limit_s))
    with quiet_stdout():
        result = mathopt.solve(form.model, mathopt.SolverType.GLOP, params=params)
    if result.termination.reason != mathopt.TerminationReason.OPTIMAL:
        return None
    return result
