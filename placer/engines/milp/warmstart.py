"""LP-guided warm start and exact reduced-cost fixing for the placement MILP.

1. Solve the LP relaxation (HiGHS: 0.4 s vs GLOP's 0.6 s at 25k variables): its
   optimum L is a valid lower bound, and its reduced costs rc[u,o] >= 0 for variables at 0.
2. Relax-and-fix: a restricted MILP where each unit may use only the options its LP
   solution uses plus its `extra` cheapest options gives a good plan fast (upper
   bound U).
3. Reduced-cost fixing: a pair with L + rc[u,o] > U cannot be in any plan better
   than U, so it is dropped from the full MILP. This removes most variables without
   changing the optimum, so the bound of the reduced MILP is still a bound of the full
   problem (`bound_scope` stays "full").
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from dataclasses import dataclass

import numpy as np
from ortools.math_opt.python import mathopt

from placer.engines.base import SolveOptions, SolveResult
from placer.engines.greedy import solve_greedy
from placer.engines.milp.formulation import MAX_MODEL_TERMS, build_model, model_terms
from placer.engines.milp.quiet import quiet_stdout
from placer.engines.milp.solve import (
    Interrupted,
    finish_with_bound,
    hard_grace_s,
    solve_milp,
    watched,
)
from placer.engines.relax.repair import repair
from placer.engines.relax.rows import row_capacities
from placer.engines.relax.sampled import priced_slots
from placer.problem.form import UNPLACED, Problem
from placer.problem.usage import objective_value, violations

#: Least time worth giving the LP once its model is built, s.
MIN_LP_S = 0.5


@dataclass(frozen=True)
class LpRelaxation:
    """LP optimum (a lower bound, USD/h), x_uk float64[U, K] and reduced costs rc_uk
    (slot layout; 0 and +inf where a slot holds no option)."""

    bound: float
    x_uk: np.ndarray
    rc_uk: np.ndarray


def solve_lp(problem: Problem, time_limit_s: float) -> LpRelaxation | None:
    """The LP relaxation of (0)-(3); None if it is infeasible or does not finish within
    `time_limit_s` (its build included)."""
    started = time.perf_counter()
    if model_terms(problem) > MAX_MODEL_TERMS:
        return None
    form = build_model(problem, integer=False, name="placement_lp")
    time_limit_s -= time.perf_counter() - started
    if time_limit_s < MIN_LP_S:
        return None
    params = mathopt.SolveParameters(time_limit=datetime.timedelta(seconds=time_limit_s))
    try:
        with quiet_stdout():
            result = watched(
                lambda: mathopt.solve(form.model, mathopt.SolverType.HIGHS, params=params),
                deadline=time.perf_counter() + time_limit_s + hard_grace_s(time_limit_s),
            )
    except Interrupted:  # Ctrl-C, or past its limit: no LP (the MILP after it is timed)
        return None
    if result.termination.reason != mathopt.TerminationReason.OPTIMAL:
        return None
    shape = problem.option_uk.shape
    x_uk, rc_uk = np.zeros(shape), np.full(shape, np.inf)
    u, k = form.pairs[:, 0], form.slots
    try:
        x_uk[u, k] = result.variable_values(form.x)
        rc_uk[u, k] = result.reduced_costs(form.x)
    except ValueError:  # HiGHS may skip the dual on trivial LPs (no rows, say)
        return None
    return LpRelaxation(float(result.objective_value()), x_uk, rc_uk)


def lp_rounded_plan(problem: Problem, lp: LpRelaxation) -> np.ndarray:
    """int32[U]: the units the LP places whole keep their option, the rest are repaired
    (cheapest objective first): a start where greedy finds no plan (on generated fleets
    of 10,000 units greedy leaves must-place units out)."""
    whole = lp.x_uk >= 1.0 - 1e-6
    u, k = np.nonzero(whole & problem.listed_uk)
    assign = np.full(problem.num_units, UNPLACED, np.int32)
    assign[u] = problem.option_uk[u, k]
    unpriced = np.zeros(row_capacities(problem).shape)  # no prices: the objective alone
    return repair(problem, assign, priced_slots(problem, unpriced, np.arange(problem.num_units)))


def candidate_lists(problem: Problem, x_uk: np.ndarray, extra: int) -> tuple[tuple[int, ...], ...]:
    """Per unit: options its LP solution uses, plus its `extra` cheapest options."""
    out = []
    cost = np.where(problem.listed_uk, problem.objective_usd_per_h_uk, np.inf)
    for u in range(problem.num_units):
        used = set(problem.option_uk[u, x_uk[u] > 1e-6].tolist())
        order = np.argsort(cost[u], kind="stable")[:extra]
        used |= {int(problem.option_uk[u, k]) for k in order if np.isfinite(cost[u, k])}
        out.append(tuple(sorted(used)))
    return tuple(out)


def solve_milp_warm(problem: Problem, options: SolveOptions, extra: int = 3) -> SolveResult:
    """LP -> relax-and-fix hint (greedy as fallback) -> reduced-cost fixing -> full MILP."""
    started = time.perf_counter()
    lp = solve_lp(problem, options.time_limit_s / 2)
    if lp is None:  # infeasible LP (or too slow): the plain MILP, in the time left, says which
        left = max(0.5, options.time_limit_s - (time.perf_counter() - started))
        return solve_milp(problem, dataclasses.replace(options, time_limit_s=left))
    options.report("LP bound", bound=lp.bound)
    budget = options.time_limit_s - (time.perf_counter() - started)
    hint = options.hint_u
    if hint is None or violations(problem, hint):
        restricted = dataclasses.replace(
            options,
            time_limit_s=max(0.5, 0.25 * budget),
            candidates_u=candidate_lists(problem, lp.x_uk, extra),
            hint_u=None,
            progress=None,  # its bound holds for the restricted lists only
        )
        found = solve_milp(problem, restricted, prices=False)
        hint = found.assign_u if found.objective_usd_per_h is not None else None
    for fallback in (solve_greedy(problem, options).assign_u, lp_rounded_plan(problem, lp)):
        if violations(problem, fallback):
            continue
        if hint is None or objective_value(problem, fallback) < objective_value(problem, hint):
            hint = fallback
    notes = [f"LP relaxation bound {lp.bound:,.4f} USD/h"]
    keep = None
    if hint is not None:
        upper = objective_value(problem, hint)
        options.report("warm start", incumbent=upper, bound=lp.bound)
        keep = problem.listed_uk & (lp.bound + lp.rc_uk <= upper + 1e-7 * max(1.0, upper))
        slot = problem.slot_of(hint)
        placed = np.flatnonzero(slot >= 0)
        keep[placed, slot[placed]] = True
        notes.append(
            f"warm start {upper:,.4f} USD/h; reduced-cost fixing kept "
            f"{int(keep.sum()):,} of {problem.num_pairs():,} pairs"
        )
    remaining = max(0.5, options.time_limit_s - (time.perf_counter() - started))
    reduced = problem if keep is None else problem.restricted(keep)
    result = solve_milp(reduced, dataclasses.replace(options, time_limit_s=remaining, hint_u=hint))
    if result.objective_usd_per_h is None and hint is not None:
        result = SolveResult(
            hint,
            "feasible",
            objective_usd_per_h=objective_value(problem, hint),
            message="warm-start plan (the MILP found nothing better in time)",
        )
    # The LP optimum bounds the full problem; reduced-cost fixing kept every pair that
    # could beat the hint, so the reduced MILP's bound is a full bound too.
    result = finish_with_bound(problem, result, lp.bound, options)
    return dataclasses.replace(result, diagnostics=[*notes, *result.diagnostics])
