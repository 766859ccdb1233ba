"""Pauses and moves for a plan whose engine placed preemptible runs contiguously.

Only the `milp` solver models preemption and migration (`Problem.preempt`); greedy,
relax, search and the hybrid place such runs as one contiguous run in one pool. After
them, `polish_preempted` solves the exact MILP with the preemption rows over the runs in
the preempt table only, every other unit held to the plan's option (its only candidate;
an unplaced one stays out), hinted with the plan: the runs may then pause, resume and
move wherever the capacity the rest of the plan leaves allows. The plan it returns is
never worse (the hint is a solution of that MILP); its bound is the caller's (the
restricted MILP's own bound holds only with the other units fixed).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from placer.engines.base import SolveOptions, SolveResult
from placer.engines.milp.solve import solve_milp
from placer.problem.form import Problem

#: Share of a solve's time limit kept for the polish when the problem has preemptible or
#: migratable runs and the engine does not model them.
POLISH_SHARE = 0.15
#: Least seconds worth starting the polish's MILP with.
MIN_POLISH_S = 0.2


def polish_preempted(
    problem: Problem, options: SolveOptions, result: SolveResult, budget_s: float
) -> SolveResult:
    """`result` with its preemptible runs re-planned by the MILP with preemption (module
    docstring) within `budget_s` seconds, when that lowers the objective; else `result`."""
    table = problem.preempt
    value = result.objective_usd_per_h
    if table is None or value is None or budget_s < MIN_POLISH_S:
        return result
    runs = set(table.unit_v.tolist())
    assign = np.asarray(result.assign_u)
    candidates = tuple(
        tuple(problem.options_of(u)[0].tolist())
        if u in runs
        else ((int(assign[u]),) if assign[u] >= 0 else ())
        for u in range(problem.num_units)
    )
    found = solve_milp(
        problem,
        dataclasses.replace(
            options, time_limit_s=budget_s, candidates_u=candidates, hint_u=assign, progress=None
        ),
        prices=False,
        preempt=True,
    )
    better = found.objective_usd_per_h
    if better is None or found.preempt_schedule is None or better >= value - 1e-9:
        return result
    paused = len(found.preempt_schedule)
    note = (
        f"preemption polish: the MILP with pauses and moves over the {len(runs)} preemptible "
        f"or migratable runs, the other units held: {paused} run(s) re-scheduled, "
        f"{value:,.4f} -> {better:,.4f} USD/h"
    )
    status = result.status
    bound = result.bound_usd_per_h
    if bound is not None:
        gap = max(0.0, (better - bound) / max(abs(better), 1e-9))
        status = "optimal" if gap <= options.relative_gap else "feasible"
    return dataclasses.replace(
        result,
        assign_u=found.assign_u,
        preempt_schedule=found.preempt_schedule,
        objective_usd_per_h=better,
        status=status,
        message=f"{result.message}; then pauses and moves by the MILP (preemption polish)",
        diagnostics=[*result.diagnostics, note],
    )


__all__ = ["MIN_POLISH_S", "POLISH_SHARE", "polish_preempted"]
