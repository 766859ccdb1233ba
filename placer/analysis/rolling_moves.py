"""Moves of a timed service from one period to the next, and what each costs (rolling
horizon, `placer.analysis.rolling`).

A service's region is served in period h by some pools (its `split` shares and
redundancy copies). A unit of period h *moves* when its pool did not serve that region in
period h - 1 while something did: its replicas start in a pool the region did not use,
and are paid for while the old ones drain. A unit of a region not served in h - 1 is a
start, not a move; a share that shifts onto a pool already serving the region is not a
move (the deployment there scales). Training runs never move (they run on contiguously).

A move costs, USD once (`move_cost_usd`): `move_cost_usd_per_replica` x the destination's
replicas when the caller gives it; else the workload's `migration.cost_usd`; else
`migration.downtime_h` (default 0.1 h for inference, `DEFAULT_INFERENCE_MOVE_H`) of the
destination's cost per hour of running, plus `migration.checkpoint_gb` (default 0) x the
egress price of the dearest site the region left, when the destination is another site —
the defaults of `placer replan` (`placer.analysis.replan_moves.move_costs_usd`).

Arrays follow `placer.problem.form` (`u` unit, `k` slot, `o` option).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from placer.model.scenario import Scenario
from placer.model.workload import DEFAULT_INFERENCE_MOVE_H
from placer.problem.form import Index, Problem
from placer.problem.rows import Q_COST

#: (workload, region): the service region a pool serves.
Region = tuple[str, str | None]


def move_cost_usd(
    scenario: Scenario,
    problem: Problem,
    index: Index,
    u: int,
    k: int,
    left_sites: set[str],
    per_replica_usd: float | None,
) -> float:
    """USD once for unit u starting in slot k's option as a move (module docstring);
    `left_sites` are the sites of the pools the region used in the period before."""
    time = index.time
    assert time is not None
    if per_replica_usd is not None:
        return per_replica_usd * float(index.replicas_uk[u, k])
    unit = index.units[u]
    migration = next(w for w in scenario.workloads if w.id == unit.workload).migration
    if migration.cost_usd is not None:
        return float(migration.cost_usd)
    hours = DEFAULT_INFERENCE_MOVE_H if migration.downtime_h is None else migration.downtime_h
    # the option's cost over its period, per hour it runs (Q_COST is per horizon hour)
    usd_per_h = problem.amount_quk[Q_COST, u, k] * time.hours / time.period_hours
    out = hours * float(usd_per_h)
    gb = migration.checkpoint_gb or 0.0
    site = index.sites[int(problem.site_o[problem.option_uk[u, k]])]
    if gb > 0 and site not in left_sites:
        egress = {s.id: s.egress_usd_per_gb for s in scenario.sites}
        out += gb * max((egress[s] for s in left_sites), default=0.0)
    return out


def pools_per_period(problem: Problem, index: Index, assign_u) -> dict[Region, dict[int, set]]:
    """(workload, region) -> period -> pool names serving it (placed inference units)."""
    out: dict[Region, dict[int, set]] = defaultdict(lambda: defaultdict(set))
    assign_u = np.asarray(assign_u)
    for u in np.flatnonzero(assign_u >= 0).tolist():
        unit = index.units[u]
        if unit.kind != "inference":
            continue
        pool = index.pools[int(problem.pool_o[assign_u[u]])].name
        out[(unit.workload, unit.region)][unit.period].add(pool)
    return out


def count_moves(
    scenario: Scenario,
    problem: Problem,
    index: Index,
    assign_u,
    per_replica_usd: float | None = None,
) -> tuple[int, float]:
    """(moves, their cost USD) of a timed assignment (int[U]) of the problem."""
    assign_u = np.asarray(assign_u)
    used = pools_per_period(problem, index, assign_u)
    pool_sites = {p.name: p.site for p in index.pools}
    slot_u = problem.slot_of(assign_u)
    moves, usd = 0, 0.0
    for u in np.flatnonzero(assign_u >= 0).tolist():
        unit = index.units[u]
        if unit.kind != "inference" or unit.period < 1:
            continue
        before = used[(unit.workload, unit.region)].get(unit.period - 1)
        pool = index.pools[int(problem.pool_o[assign_u[u]])].name
        if not before or pool in before:
            continue
        moves += 1
        left = {pool_sites[p] for p in before}
        usd += move_cost_usd(scenario, problem, index, u, int(slot_u[u]), left, per_replica_usd)
    return moves, usd


def price_moves(
    scenario: Scenario,
    problem: Problem,
    index: Index,
    before: dict[Region, set],
    per_replica_usd: float | None,
) -> Problem:
    """The problem with each move out of `before` (the pools each region used in the
    period before the window) priced on the window's first period: the option's objective
    grows by its move cost / the window's hours (money is averaged per horizon hour)."""
    time = index.time
    assert time is not None
    objective = problem.objective_usd_per_h_uk.copy()
    pool_sites = {p.name: p.site for p in index.pools}
    for u, unit in enumerate(index.units):
        if unit.kind != "inference" or unit.period != 0:
            continue
        pools = before.get((unit.workload, unit.region))
        if not pools:
            continue
        left = {pool_sites.get(p, p.split("/")[0]) for p in pools}
        options, slots = problem.options_of(u)
        for o, k in zip(options.tolist(), slots.tolist(), strict=True):
            if index.pools[int(problem.pool_o[o])].name in pools:
                continue
            usd = move_cost_usd(scenario, problem, index, u, k, left, per_replica_usd)
            objective[u, k] += usd / time.hours
    return problem._replace(objective_usd_per_h_uk=objective)
