"""Capacity prices: what one more unit of each binding capacity is worth, USD/h.

They are the duals of the capacity rows (2) in the LP relaxation of the placement
MILP (formulation.py), solved with GLOP: the exact marginal value for the LP, and
the usual estimate for the integer problem (a capacity whose LP dual is 0 may still
bind the integer plan by less than one unit's size). "1 MW more at site s saves
1000 x price USD/h", to first order.
"""

from __future__ import annotations

import datetime

from ortools.math_opt.python import mathopt

from placer.engines.milp.formulation import build_model
from placer.engines.milp.quiet import quiet_stdout
from placer.problem.form import Problem

#: Prices below this (USD/h per unit) are reported as not binding.
MIN_PRICE = 1e-6


def capacity_prices(
    problem: Problem, time_limit_s: float = 30.0, candidates_u=None
) -> list[tuple[int, str, float]]:
    """(index, resource, USD/h per unit) for every capacity with a positive LP dual.

    The index is the row's scope: a site for kW and L/h rows, a pool for "gpus" rows
    (the pool's site is then `problem.pool_site_p[index]`), -1 for global rows.
    Returns [] if the LP is infeasible or does not finish in time.
    """
    form = build_model(problem, candidates_u=candidates_u, integer=False, name="placement_lp")
    params = mathopt.SolveParameters(time_limit=datetime.timedelta(seconds=time_limit_s))
    with quiet_stdout():
        result = mathopt.solve(form.model, mathopt.SolverType.GLOP, params=params)
    if result.termination.reason != mathopt.TerminationReason.OPTIMAL:
        return []
    duals = result.dual_values([con for _, _, con in form.capacity_rows])
    out = []
    for (index, resource, _), dual in zip(form.capacity_rows, duals, strict=True):
        price = -float(dual)  # min problem, <= row: dual <= 0; one more unit saves -dual
        if price > MIN_PRICE:
            out.append((int(index), resource, price))
    return sorted(out, key=lambda row: -row[2])
