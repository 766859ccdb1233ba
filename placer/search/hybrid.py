"""hybrid: relaxation -> kernel-scored rounding + repair -> restricted MILP with a hint.

1. `relax_prices` gives capacity prices and a certified Lagrangian lower bound B.
2. Rounding (sampled candidates scored by the JAX kernel, repaired) gives a plan.
3. A MILP over each unit's `k` cheapest pools at those prices (plus the plan's pool),
   hinted with the plan, improves it; k doubles while time remains and the certified
   gap (objective - B) / objective is above the target.
Up to LP_BOUND_MAX_PAIRS pairs B is also raised to the LP relaxation's optimum. Every
answer carries B, a bound of the FULL problem, so its gap is known even when
the restricted MILP cannot prove anything about the full one.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from placer.milp.solve import solve_milp
from placer.milp.warmstart import solve_lp
from placer.problem import UNPLACED, Problem
from placer.progress import Progress, ProgressFn
from placer.relax.lagrangian import capacity_rows, relax_prices
from placer.relax.solver import round_prices, samples_for
from placer.solvers.base import SolveOptions, SolveResult
from placer.usage import objective_value, violations

FIRST_K = 4
#: Share of the time limit the relaxation may use (further rounds tighten its bound).
RELAX_SHARE = 0.35
#: Up to this many feasible pairs the LP relaxation (HiGHS, ~0.4 s at 25k pairs, ~40 s at
#: 290k) also certifies the bound: it is at least as tight as the Lagrangian one.
LP_BOUND_MAX_PAIRS = 100_000


def top_k_candidates(
    priced_up1: np.ndarray, hint_u: np.ndarray | None, k: int
) -> tuple[tuple[int, ...], ...]:
    """Per unit: its k cheapest allowed pools at the learned prices, plus its hint pool."""
    n_p = priced_up1.shape[1] - 1
    pools = priced_up1[:, :n_p]
    order = np.argsort(pools, axis=1, kind="stable")[:, :k]
    out = []
    for u in range(pools.shape[0]):
        keep = {int(p) for p in order[u] if np.isfinite(pools[u, p])}
        if hint_u is not None and hint_u[u] >= 0:
            keep.add(int(hint_u[u]))
        out.append(tuple(sorted(keep)))
    return tuple(out)


def solve_hybrid(problem: Problem, options: SolveOptions) -> SolveResult:
    """See the module docstring."""
    if problem.num_units == 0 or problem.num_pools == 0 or not problem.allowed_up.any():
        return solve_milp(problem, options)  # nothing to relax: the exact answer is instant
    started = time.perf_counter()

    def left() -> float:
        return options.time_limit_s - (time.perf_counter() - started)

    steps = 300 if options.time_limit_s < 5 else 500
    relaxed = relax_prices(problem, steps=steps, time_budget_s=RELAX_SHARE * options.time_limit_s)
    bound = relaxed.bound
    if not np.isfinite(bound):
        return SolveResult(
            np.full(problem.num_units, UNPLACED, np.int32),
            "infeasible",
            message="proven infeasible: a must-place unit has no allowed pool",
            bound_scope="full",
        )
    notes = [f"Lagrangian bound {bound:,.4f} USD/h after {time.perf_counter() - started:.1f} s"]
    options.report("relaxation", bound=bound)
    if int(problem.allowed_up.sum()) <= LP_BOUND_MAX_PAIRS:
        lp = solve_lp(problem, max(1.0, 0.2 * left()))
        if lp is not None and lp.bound > bound:
            bound = lp.bound
            notes.append(f"LP relaxation bound {bound:,.4f} USD/h (HiGHS)")
            options.report("LP bound", bound=bound)
    best = round_prices(
        problem,
        relaxed,
        samples=samples_for(problem),
        seed=options.seed,
        deadline=started + 0.6 * options.time_limit_s,
    )
    hint = options.hint_u
    if (
        hint is not None
        and not violations(problem, hint)
        and (
            violations(problem, best)
            or objective_value(problem, hint) < objective_value(problem, best)
        )
    ):
        best = np.asarray(hint, np.int32)
    feasible = not violations(problem, best)
    if feasible:
        notes.append(f"rounded plan {objective_value(problem, best):,.4f} USD/h")
        options.report("rounding", incumbent=objective_value(problem, best), bound=bound)
    k = FIRST_K
    widest = int(problem.allowed_up.sum(axis=1).max(initial=0))
    while left() > 1.0:
        cands = top_k_candidates(relaxed.priced_up1, best if feasible else None, k)
        sub = solve_milp(
            problem,
            dataclasses.replace(
                options,
                time_limit_s=max(1.0, left() - 1.0),
                candidates_u=cands,
                hint_u=best if feasible else None,
                progress=_restricted(options, bound),
            ),
            prices=False,
        )
        if sub.objective_usd_per_h is not None and (
            not feasible or sub.objective_usd_per_h < objective_value(problem, best)
        ):
            best, feasible = sub.assign_u, True
        if sub.bound_scope == "full" and sub.bound_usd_per_h is not None:
            bound = max(bound, sub.bound_usd_per_h)  # the lists covered every pair
        if feasible:
            options.report(f"MILP, {k} pools/unit", objective_value(problem, best), bound)
        notes.append(
            f"MILP over {k} pools per unit: {sub.status} "
            f"{sub.objective_usd_per_h or float('nan'):,.4f} USD/h"
        )
        if feasible and _gap(problem, best, bound) <= options.relative_gap:
            break
        proven = (
            sub.objective_usd_per_h is not None
            and sub.bound_usd_per_h is not None
            and sub.objective_usd_per_h - sub.bound_usd_per_h
            <= options.relative_gap * max(abs(sub.objective_usd_per_h), 1e-9)
        )
        if not proven or k >= widest:
            break  # out of time, or nothing left to widen
        k *= 2  # the restricted optimum is proven but not certified: widen the lists
    if not feasible:
        return SolveResult(
            best,
            "no_solution",
            bound_usd_per_h=bound,
            bound_scope="full",
            message="no feasible plan found in time",
            diagnostics=notes,
        )
    gap = _gap(problem, best, bound)
    status = "optimal" if gap <= options.relative_gap else "feasible"
    return SolveResult(
        best,
        status,
        objective_usd_per_h=objective_value(problem, best),
        bound_usd_per_h=bound,
        bound_scope="full",
        message=f"hybrid plan; certified gap {100 * gap:.3f}% against the Lagrangian bound",
        capacity_prices=capacity_rows(problem, relaxed.prices_r),
        diagnostics=notes,
    )


def _restricted(options: SolveOptions, bound: float) -> ProgressFn | None:
    """Progress of a restricted MILP: its incumbents count, its bound does not (it holds
    only for the restricted lists), so the full problem's bound is reported instead."""
    if options.progress is None:
        return None
    outer = options.progress

    def report(p: Progress) -> None:
        outer(Progress("restricted MILP", p.incumbent_usd_per_h, bound))

    return report


def _gap(problem: Problem, assign: np.ndarray, bound: float) -> float:
    obj = objective_value(problem, assign)
    return max(0.0, (obj - bound) / max(abs(obj), 1e-9))
