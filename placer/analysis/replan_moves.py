"""Moves of a running fleet: what each costs, which a change forces, and how few are needed.

A *move* is a unit that runs now and, in the new plan, runs in another pool or stops
(is shed). A unit that does not run now and starts is a *start*, not a move.

Move cost (USD, once), per unit and destination option, from the workload's
`migration` (`placer.model.workload.Migration`): `cost_usd` when given; else the state
copied when the unit leaves its site (`checkpoint_gb` x the source site's
`egress_usd_per_gb`; default 2 GB per GPU for training, 0 for inference) plus
`downtime_h` hours of the destination's cost (default 0.5 h training, 0.1 h inference).

Arrays follow `placer.problem.form`: `u` unit, `k` slot of the unit's option list, `r`
capacity row. `current_u` is int[U]: the option a unit runs on now (-1: not running),
`lost_u` bool[U]: it ran on an option the changed problem no longer lists.
"""

from __future__ import annotations

import numpy as np

from placer.model.scenario import Scenario
from placer.model.workload import (
    DEFAULT_CHECKPOINT_GB_PER_GPU,
    DEFAULT_INFERENCE_MOVE_H,
    DEFAULT_TRAINING_MOVE_H,
)
from placer.problem.form import Index, Problem
from placer.problem.rows import KIND_SCOPE, Q_COST, Q_GPUS, over_capacity
from placer.problem.usage import AssignmentValues, row_loads, term_values


def move_costs_usd(scenario: Scenario, problem: Problem, index: Index, current_u) -> np.ndarray:
    """float64[U, K]: USD a move of each running unit to each slot's option costs (0 at
    its current option, for units not running, and where no option is listed)."""
    current_u = np.asarray(current_u)
    workloads = {w.id: w for w in scenario.workloads}
    egress_s = np.array(
        [next(s.egress_usd_per_gb for s in scenario.sites if s.id == site) for site in index.sites]
    )
    site_o = problem.site_o
    n_u, n_k = problem.option_uk.shape
    out = np.zeros((n_u, n_k))
    running = np.flatnonzero(current_u >= 0)
    for u in running.tolist():
        unit = index.units[u]
        migration = workloads[unit.workload].migration
        listed = problem.option_uk[u] >= 0
        if migration.cost_usd is not None:
            out[u] = np.where(listed, migration.cost_usd, 0.0)
            continue
        training = unit.kind == "training"
        hours = migration.downtime_h
        if hours is None:
            hours = DEFAULT_TRAINING_MOVE_H if training else DEFAULT_INFERENCE_MOVE_H
        gb = migration.checkpoint_gb
        if gb is None:
            gpus_now = _gpus_now(problem, u, int(current_u[u]))
            gb = DEFAULT_CHECKPOINT_GB_PER_GPU * gpus_now if training else 0.0
        source = int(site_o[current_u[u]])
        options = np.maximum(problem.option_uk[u], 0)
        copy_usd = np.where(site_o[options] != source, gb * egress_s[source], 0.0)
        out[u] = np.where(listed, copy_usd + hours * problem.amount_quk[Q_COST, u], 0.0)
    slot_u = problem.slot_of(current_u)
    stays = np.flatnonzero(slot_u >= 0)
    out[stays, slot_u[stays]] = 0.0
    return out


def _gpus_now(problem: Problem, u: int, option: int) -> float:
    """GPUs unit u holds on its current option (the most it may hold if no longer listed)."""
    listed, slots = problem.options_of(u)
    at = np.flatnonzero(listed == option)
    amounts = problem.amount_quk[Q_GPUS, u, slots]
    return float(amounts[at[0]] if at.size else amounts.max(initial=0.0))


def moved(current_u, assign_u) -> np.ndarray:
    """bool[U]: units that run now and run elsewhere (or not at all) in `assign_u`."""
    current_u, assign_u = np.asarray(current_u), np.asarray(assign_u)
    return (current_u >= 0) & (assign_u != current_u)


def over_rows(problem: Problem, assign_u, tol: float = 1e-6) -> np.ndarray:
    """int64[n]: rows over capacity under `assign_u`."""
    return np.flatnonzero(over_capacity(row_loads(problem, assign_u), problem.cap_r, tol))


def units_on_rows(problem: Problem, assign_u, rows) -> np.ndarray:
    """int64[n]: units whose option in `assign_u` charges any of `rows`, ascending."""
    units, row_t, _ = AssignmentValues(problem, np.asarray(assign_u)).terms()
    return np.unique(units[np.isin(row_t, rows)])


def moves_lower_bound(problem: Problem, kept_u, lost_u, tol: float = 1e-6) -> int:
    """A lower bound on the moves any feasible plan needs from the current placement.

    `kept_u` is the current placement with lost units taken off (int[U]). Every lost
    unit moves (or is shed). A row r over capacity by e_r sheds load only when units on
    it move, each by at most its amount there: it needs at least k_r moves, the fewest
    of its largest amounts that sum to e_r. A unit charges rows of one site only, so a
    move relieves one site: the sites' needs add up (each site's need is its largest
    k_r); a move relieves a global row (budget, carbon cap) by at most its amount too.

    Returns:
      lost + max(sum over sites of max_r k_r, max over global rows of k_r).
    """
    kept_u = np.asarray(kept_u)
    lost = int(np.asarray(lost_u).sum())
    loads = row_loads(problem, kept_u)
    over = np.flatnonzero(over_capacity(loads, problem.cap_r, tol))
    if over.size == 0:
        return lost
    _, row_t, value_t = AssignmentValues(problem, kept_u).terms()
    scope = KIND_SCOPE[problem.kind_r]
    site_r = np.where(
        scope == 0,
        problem.pool_site_p[np.clip(problem.scope_r, 0, None)],
        np.where(scope == 1, problem.scope_r, -1),
    )
    need_site: dict[int, int] = {}
    need_global = 0
    for r in over.tolist():
        excess = loads[r] - problem.cap_r[r] * (1 + tol) - tol
        amounts = np.sort(value_t[row_t == r])[::-1]
        k = int(np.searchsorted(np.cumsum(amounts), excess, side="left")) + 1
        k = min(k, amounts.size)
        if site_r[r] >= 0:
            need_site[int(site_r[r])] = max(need_site.get(int(site_r[r]), 0), k)
        else:
            need_global = max(need_global, k)
    return lost + max(sum(need_site.values()), need_global)


def greedy_restore(problem: Problem, kept_u, tol: float = 1e-6) -> np.ndarray | None:
    """A feasible plan close to `kept_u` (int[U], lost units already off), or None.

    The repair a person would make, and the one `moves_lower_bound` counts: for each row
    over capacity, its units in order of their amounts on it, largest first, each moved
    to its cheapest option that charges the row less and fits every row and its
    redundancy spread (a unit that fits nowhere is shed if it may be, else skipped),
    until the row fits. Then every unit that is off but ran before or must run (most
    GPUs first) goes to its cheapest option that fits. None when a row cannot be
    brought under its capacity so, or a must-place unit fits nowhere.
    """
    plan = np.asarray(kept_u, np.int32).copy()
    loads = row_loads(problem, plan)
    gone = np.asarray(kept_u) < 0
    for _ in range(problem.num_rows + 1):
        over = np.flatnonzero(over_capacity(loads, problem.cap_r, tol))
        if over.size == 0:
            break
        r = int(over[0])
        units, row_t, value_t = AssignmentValues(problem, plan).terms()
        on_r = np.flatnonzero(row_t == r)
        for i in on_r[np.argsort(-value_t[on_r], kind="stable")].tolist():
            u = int(units[i])
            moved_off = _move_greedily(problem, plan, loads, u, r, tol)
            if moved_off and loads[r] <= problem.cap_r[r] * (1 + tol) + tol:
                break
        else:
            return None
    else:
        return None
    waiting = np.flatnonzero((plan < 0) & (gone | problem.must_place_u))
    gpus = problem.amount_quk[Q_GPUS].max(axis=1)
    for u in sorted(waiting.tolist(), key=lambda u: -gpus[u]):
        if not _move_greedily(problem, plan, loads, u, -1, tol) and problem.must_place_u[u]:
            return None
    return plan


def _move_greedily(problem: Problem, plan, loads, u: int, relieve: int, tol: float) -> bool:
    """Moves unit u (in place: plan, loads) to its cheapest other option that fits and,
    if `relieve` >= 0, charges that row less; sheds it if none fits and it may be shed.
    Returns whether it moved or was shed."""
    options, slots = problem.options_of(u)
    here = np.flatnonzero(options == plan[u])
    out_rows, out_values = np.zeros(0, np.int64), np.zeros(0)
    if here.size:  # what it frees where it runs now
        o = options[here]
        out_rows = problem.row_oj[o[0]]
        out_values = term_values(problem, np.array([u]), slots[here], o)[0][out_rows >= 0]
        out_rows = out_rows[out_rows >= 0].astype(np.int64)
    freed = loads.copy()
    np.subtract.at(freed, out_rows, out_values)
    values = term_values(problem, np.full(options.size, u), slots, options)
    rows = problem.row_oj[options]
    room = problem.cap_r[rows.clip(0)] * (1 + tol) + tol - freed[rows.clip(0)]
    fits = (np.where(rows >= 0, values <= room, True)).all(axis=1) & (options != plan[u])
    if relieve >= 0:
        now = out_values[out_rows == relieve].sum()
        fits &= np.where(rows == relieve, values, 0.0).sum(axis=1) < now - tol
    g = problem.group_u[u]
    if g >= 0:
        mates = np.flatnonzero((problem.group_u == g) & (plan >= 0))
        mates = mates[mates != u]
        fits &= ~np.isin(problem.spread_key_go[g, options], problem.spread_key_go[g, plan[mates]])
    if fits.any():
        best = int(np.argmin(np.where(fits, problem.objective_usd_per_h_uk[u, slots], np.inf)))
        keep = rows[best] >= 0
        np.add.at(freed, rows[best][keep], values[best][keep])
        plan[u] = options[best]
    elif problem.must_place_u[u] or plan[u] < 0:
        return False
    else:
        plan[u] = -1
    loads[:] = freed
    return True


__all__ = [
    "greedy_restore",
    "move_costs_usd",
    "moved",
    "moves_lower_bound",
    "over_rows",
    "units_on_rows",
]
