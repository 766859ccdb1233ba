"""The Lagrangian bound of a whole timed problem, streamed: no padded option table.

For row prices y >= 0, every plan of the problem costs at least

    L(y) = sum_u min(value lost_u, min over u's options o of objective + y . usage_o)
           - y . cap,

whatever y (a must-place unit's value lost is +inf). `streamed_bound` evaluates it over
EVERY option of every unit as `compile_time.compile_timed` makes them, chunk by chunk
(its `select` hook sees each chunk's entries and keeps none), so it certifies a bound
for a fleet whose padded table would not fit memory (`placer.problem.compile_large`),
at the prices a restricted solve found. Only the rows `compile_time.timed_rows` writes
are priced (`compile_large.EntryPricer`): every other row gets the price 0, which drops
it, a relaxation, so the bound stays valid.

`sample_prices` gives the first prices, before any restricted problem exists: column
generation or the Adam relaxation on the whole problem of a random share of the
workloads, against every capacity scaled by that share (as
`relax.lagrangian.scaled_sample` does for units).
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from placer.engines.base import SolveResult
from placer.engines.relax.colgen import column_generation
from placer.engines.relax.option_dual import ascend
from placer.model.scenario import Scenario
from placer.problem.compile_large import (
    SLOTS_BY_OBJECTIVE,
    SLOTS_BY_POOL,
    EntryPricer,
    UnitMinima,
)
from placer.problem.compile_time import compile_timed, timed_units
from placer.problem.form import Problem

#: Units (about) whose workloads `sample_prices` compiles whole.
SAMPLE_UNITS = 2_000
#: Share of `sample_prices`' budget column generation may use before the ascent.
COLGEN_SHARE = 0.25


def streamed_bound(scenario: Scenario, problem: Problem, prices_r: np.ndarray) -> float:
    """L(y) over every option of the whole problem (module docstring), USD/h.

    Args:
      scenario: the timed scenario.
      problem: a problem compiled from it (the whole one or `compile_restricted`'s): its
        units and their values, which every compile of the scenario shares.
      prices_r: float64[R'] row prices, the rows first (`relax.rows.pair_rows` layout,
        e.g. a hybrid's `SolveResult.prices_r`); clipped to >= 0 and to 0 on uncapped
        rows.

    Returns:
      The bound; +inf when a must-place unit has no option at all.
    """
    pricer = EntryPricer(scenario)
    y = pricer.prices(prices_r)
    minima = UnitMinima(problem.num_units)

    def price(entries: dict[str, np.ndarray]) -> np.ndarray:
        minima.add(entries["u"], pricer.priced(entries, y))
        return np.zeros(entries["u"].size, bool)

    compile_timed(scenario, select=price)
    return minima.bound(problem, pricer.fixed(y))


def sample_prices(
    scenario: Scenario, *, time_budget_s: float, seed: int = 0, units: int = SAMPLE_UNITS
) -> np.ndarray | None:
    """float64[R]: row prices learned on the workloads of about `units` units drawn at
    random, compiled whole, against every capacity scaled by their share of the units
    (module docstring); None if neither method priced it in time.

    Two methods share the budget and the prices of the better bound of the sample are
    returned: column generation for COLGEN_SHARE of it (it reaches the sample's LP
    optimum when it converges, as on a fleet within the sample), then, unless it
    converged, Adam on the smoothed dual priced per option (`option_dual.ascend`). On
    gen-time-100000x1000x24-s1's sample of 2,338 units (1.4M pairs, 2 CPUs) column
    generation had certified 2,586 USD/h after 120 s, the pair-list Adam relaxation
    (`lagrangian.relax_prices`) 4,508 after 52 s, against an LP optimum below 5,089."""
    workloads = list(scenario.workloads)
    n_u = len(timed_units(scenario))
    share = min(1.0, units / max(n_u, 1))
    n_w = max(1, math.ceil(share * len(workloads)))
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(workloads), min(n_w, len(workloads)), replace=False))
    sub = scenario.model_copy(update={"workloads": [workloads[i] for i in pick]})
    started = time.perf_counter()
    problem, _ = compile_timed(sub)
    scaled = problem._replace(cap_r=problem.cap_r * (problem.num_units / max(n_u, 1)))
    left = time_budget_s - (time.perf_counter() - started)
    # no covers: the prices alone must carry the bound to the whole problem
    found = column_generation(scaled, time_budget_s=COLGEN_SHARE * left, with_covers=False)
    best = (-np.inf, None) if found is None else (found.bound, found.prices_r)
    if found is None or not found.converged:
        left = time_budget_s - (time.perf_counter() - started)
        ascent = ascend(scaled, time_budget_s=left)
        if ascent.bound > best[0]:
            best = (ascent.bound, ascent.prices_r)
    if best[1] is None:
        return None
    return np.asarray(best[1][: problem.num_rows], float)


def with_whole_bound(
    scenario: Scenario,
    problem: Problem,
    result: SolveResult,
    relative_gap: float,
    known_bound: float | None = None,
) -> SolveResult:
    """A solve of the restricted problem (`compile_large.compile_restricted`) with the
    whole problem's bound: the better of `known_bound` (e.g. the compile's, at a
    sample's prices) and `streamed_bound` at the solver's prices (`result.prices_r`;
    skipped when it has none). The restricted problem's own bound and proofs do not
    hold for the whole problem: a plan is "optimal" only within `relative_gap` of this
    bound, and "infeasible" only when the bound is +inf (a must-place unit with no
    option at all); otherwise a restricted problem without a plan has "no_solution"."""
    how = (
        f"restricted to each unit's {SLOTS_BY_OBJECTIVE} cheapest options and its cheapest on "
        f"{SLOTS_BY_POOL} pools ({problem.num_pairs():,} pairs); the bound is the whole "
        "problem's, streamed over every option"
    )
    if problem.preempt is not None:  # a run's pauses are not options: nothing streams them
        status = "feasible" if result.status == "optimal" else result.status
        return dataclasses.replace(
            result,
            status="no_solution" if status == "infeasible" else status,
            bound_usd_per_h=None,
            bound_scope=None,
            message=f"{result.message} (of the restricted problem; restricted to each unit's "
            "cheapest options; no bound: the streamed bound does not price preemptible runs' "
            "schedules)",
            diagnosis=None,
        )
    bounds = [] if known_bound is None else [known_bound]
    if result.prices_r is not None or not bounds:
        prices = result.prices_r if result.prices_r is not None else np.zeros(problem.num_rows)
        bounds.append(streamed_bound(scenario, problem, prices))
    bound = max(bounds)
    value = result.objective_usd_per_h
    if value is None or result.status in ("infeasible", "no_solution"):
        status = "infeasible" if bound == np.inf else "no_solution"
        return dataclasses.replace(
            result,
            status=status,
            bound_usd_per_h=None if bound == np.inf else bound,
            bound_scope="full",
            message=f"{result.message} (of the restricted problem; {how})",
            diagnosis=None,
        )
    gap = max(0.0, (value - bound) / max(abs(value), 1e-9))
    return dataclasses.replace(
        result,
        status="optimal" if gap <= relative_gap else "feasible",
        bound_usd_per_h=bound,
        bound_scope="full",
        message=f"{result.message} (of the restricted problem); {how}: certified gap "
        f"{100 * gap:.3f}%",
    )


__all__ = ["sample_prices", "streamed_bound", "with_whole_bound"]
