"""N-1 secure placement at fleet scale: the JAX relaxation prices, the exact secure MILP
decides over each unit's cheapest priced options.

1. `relax_prices` (the JAX Lagrangian relaxation of `placer.engines.relax`) and the site
   knapsacks give capacity prices and a certified lower bound B of the plain problem. A
   secure plan is a plain plan, so B bounds the secure optimum too.
2. The secure MILP (`placer.engines.milp.secure`: recourse binaries per failure, exact)
   over each unit's k cheapest options at those prices (recourse over the same options),
   hinted with the last plan; k doubles while time remains (FIRST_K, 2 FIRST_K, ...).
   A plan of a restricted model is secure: its recourse proves every covered loss
   absorbed; only its optimality is restricted, and the gap to B says how far it can be.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from placer.engines.base import SolveOptions, SolveResult
from placer.engines.milp.secure import solve_secure
from placer.engines.relax.knapsack_bound import knapsack_bound
from placer.engines.relax.lagrangian import relax_prices
from placer.engines.search.hybrid import relax_budget_s, top_k_candidates
from placer.problem.form import UNPLACED, Problem
from placer.problem.usage import objective_value

#: Options per unit of the first restricted secure MILP.
FIRST_K = 4
#: Least time a widened MILP is started with, s.
MIN_ROUND_S = 2.0


def solve_secure_hybrid(
    problem: Problem, options: SolveOptions, failures: list[np.ndarray]
) -> SolveResult:
    """The secure plan from the relaxation's prices (module docstring)."""
    started = time.perf_counter()
    deadline = started + options.time_limit_s
    relaxed = relax_prices(problem, steps=500, time_budget_s=relax_budget_s(problem, options))
    bound = float(relaxed.bound)
    if not np.isfinite(bound):
        return SolveResult(
            np.full(problem.num_units, UNPLACED, np.int32),
            "infeasible",
            message="proven infeasible: a must-place unit has no allowed pool",
            bound_scope="full",
        )
    strong = knapsack_bound(problem, relaxed.prices_r, relaxed.priced_uk1)
    bound = max(bound, float(strong.bound_usd_per_h))
    notes = [f"relaxation bound {bound:,.4f} USD/h of the plain problem (valid for the secure)"]
    best: SolveResult | None = None  # the best secure plan so far (else the last answer)
    k = FIRST_K
    while True:
        found = best is not None and best.objective_usd_per_h is not None
        hint = best.assign_u if found else None
        cands = top_k_candidates(problem, relaxed.priced_uk1, hint, k)
        left = max(0.5, deadline - time.perf_counter())
        trial = solve_secure(
            problem,
            dataclasses.replace(options, time_limit_s=left, candidates_u=cands, hint_u=hint),
            failures,
        )
        notes.append(f"secure MILP over the {k} cheapest options per unit: {trial.status}")
        better = trial.objective_usd_per_h is not None and (
            not found or trial.objective_usd_per_h < best.objective_usd_per_h - 1e-9
        )
        if better or not found:
            best = trial
        if k >= problem.num_slots or deadline - time.perf_counter() < MIN_ROUND_S:
            break
        k *= 2
    if best.objective_usd_per_h is None:
        status = "no_solution" if best.status == "infeasible" else best.status
        return dataclasses.replace(
            best,
            status=status,
            bound_usd_per_h=bound,
            bound_scope="full",
            message="no secure plan found over the cheapest priced options"
            if status == "no_solution"
            else best.message,
            diagnostics=[*notes, *best.diagnostics],
        )
    objective = objective_value(problem, best.assign_u)
    gap = max(0.0, (objective - bound) / max(abs(objective), 1e-9))
    proven = gap <= options.relative_gap + 1e-12
    return dataclasses.replace(
        best,
        status="optimal" if proven else "feasible",
        bound_usd_per_h=bound,
        bound_scope="full",
        message=f"secure plan; gap {100 * gap:.3f}% to the relaxation bound of the plain problem",
        diagnostics=[*notes, *best.diagnostics],
    )


__all__ = ["FIRST_K", "solve_secure_hybrid"]
