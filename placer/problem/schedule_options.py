"""Schedules as options: a Problem in which each given run that pauses or moves
(`placer.problem.preempt`) has its schedule as one more option of its unit.

A schedule is no option of the compiled Problem, so readers that see only options
(the kernels, `placer robust`'s sampler) would count a paused run as unplaced. Given
the schedules of some plans, `with_schedule_options` appends, for each distinct
(unit, schedule), a slot to the unit's list holding a new option that charges what the
schedule charges (`usage.preempted`: every period it runs in, the dataset's egress and
its moves on the budget) and whose objective is the schedule's. Choosing that option is
then the same plan: its objective, totals, row loads and per-period caps equal those of
the assignment with the schedule (tests/test_schedule_options.py).

Layout of a new option (O options before, J terms, K slots):
  - option O + i, in slot K + (its rank among its unit's new options);
  - `pool_o`: the pool of its first period (a run that moves names its other pools in
    `ScheduleOptions.pools_i`); spread keys copied from an option at that pool's site;
  - terms: the schedule's (row, quantity) pairs summed, the budget's fixed part as one
    more cost term; `amount_quk` holds the schedule's totals (`ScheduleTerms.total_q`)
    and `scale_oj` each term's multiple of them (a term on a quantity whose total is 0,
    water where a run moves to a site that uses it, as a multiple of its GPUs), so J
    grows to the widest schedule's terms where it is wider;
  - `period_caps`: one entry per (unit, new slot, cap row) the schedule spends in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from placer.errors import SolverError
from placer.problem.form import Problem
from placer.problem.preempt import Schedule, schedule_entries, schedule_pools
from placer.problem.rows import Q_COST, Q_GPUS
from placer.problem.usage import period_spend, preempted, row_loads, schedule_spend

#: A schedule entry without its unit: (periods, the pool of each period).
ScheduleKey = tuple[tuple[int, ...], tuple[int, ...]]


def schedule_key(value: tuple) -> ScheduleKey:
    """The canonical form of one schedule entry (`preempt.Schedule`'s values)."""
    pools = schedule_pools(value)
    order = sorted(range(len(value[1])), key=lambda i: value[1][i])
    return tuple(int(value[1][i]) for i in order), tuple(int(pools[i]) for i in order)


class ScheduleOptions(NamedTuple):
    """What `with_schedule_options` added (n new options).

    Attributes:
      problem: the Problem with the new options.
      option_of: (unit, `schedule_key`) -> the new option.
      unit_i, option_i: int64[n], the unit and option of each new one, in order.
      pools_i: the pools each one runs in, in order of first use (one for a run that
        only pauses).
      key_i: the `schedule_key` of each.
    """

    problem: Problem
    option_of: dict[tuple[int, ScheduleKey], int]
    unit_i: np.ndarray
    option_i: np.ndarray
    pools_i: tuple[tuple[int, ...], ...]
    key_i: tuple[ScheduleKey, ...]

    def assignment(self, assign_u: np.ndarray, schedule: Schedule) -> np.ndarray:
        """int32[U]: `assign_u` (the scheduled runs at -1) with each scheduled run on its
        new option.

        Raises:
          KeyError: a schedule entry that was not given to `with_schedule_options`.
        """
        out = np.array(assign_u, np.int32, copy=True)
        for u, value in schedule.items():
            out[int(u)] = self.option_of[(int(u), schedule_key(value))]
        return out


def _terms(problem: Problem, u: int, value: tuple):
    """(rows int64[n], quantities int64[n], values float64[n], totals float64[Q],
    objective USD/h) of one unit's schedule, (row, quantity) pairs summed; the budget's
    fixed part (egress, moves) is one more cost term, as `usage.preempted` charges it."""
    pre = problem.preempt
    assert pre is not None
    _, entries = schedule_entries(pre, {u: value})
    rows = pre.row_ej[entries].reshape(-1)
    quantity = pre.quantity_ej[entries].astype(np.int64).reshape(-1)
    values = pre.amount_qe[pre.quantity_ej[entries], entries[:, None]]
    if pre.scale_ej is not None:
        values = values * pre.scale_ej[entries]
    values = values.reshape(-1)
    terms = preempted(problem, {u: value})
    assert terms is not None
    charged_terms = int((rows >= 0).sum())
    keep = rows >= 0
    rows, quantity, values = rows[keep].astype(np.int64), quantity[keep], values[keep]
    if terms.row_n.size > charged_terms:  # the budget's fixed part (`usage.preempted`)
        extra = terms.row_n.size - charged_terms
        rows = np.append(rows, terms.row_n[-extra:])
        quantity = np.append(quantity, np.full(extra, Q_COST, np.int64))
        values = np.append(values, terms.amount_n[-extra:])
    n_q = problem.num_quantities
    pair = rows * n_q + quantity
    keys, where = np.unique(pair, return_inverse=True)
    summed = np.bincount(where.reshape(-1), weights=values, minlength=keys.size)
    return keys // n_q, keys % n_q, summed, terms.total_q, terms.objective_usd_per_h


def with_schedule_options(problem: Problem, schedules: Sequence[Schedule]) -> ScheduleOptions:
    """The problem with every distinct (unit, schedule) of `schedules` as a new option
    (module docstring). The schedules must be valid (`score_schedule.check_schedule`).

    Raises:
      SolverError: a schedule whose terms cannot be written as its totals' multiples
        (a term on a quantity whose total is 0), or that charges rows other than those
        `usage.preempted` gives (a bug).
    """
    wanted: dict[tuple[int, ScheduleKey], tuple] = {}
    for schedule in schedules:
        for u, value in sorted(schedule.items()):
            wanted.setdefault((int(u), schedule_key(value)), value)
    if not wanted or problem.preempt is None:
        return ScheduleOptions(problem, {}, np.zeros(0, np.int64), np.zeros(0, np.int64), (), ())
    n_u, n_k, n_o = problem.num_units, problem.num_slots, problem.num_options
    n_q = problem.num_quantities
    made = [(u, key, _terms(problem, u, value)) for (u, key), value in wanted.items()]
    extra_k = np.bincount([u for u, _, _ in made], minlength=n_u).max()
    n_j = max(problem.row_oj.shape[1], max(t[0].size for _, _, t in made))
    n_new = len(made)

    option_uk = np.full((n_u, n_k + extra_k), -1, np.int32)
    option_uk[:, :n_k] = problem.option_uk
    objective = np.zeros((n_u, n_k + extra_k))
    objective[:, :n_k] = problem.objective_usd_per_h_uk
    amount = np.zeros((n_q, n_u, n_k + extra_k))
    amount[:, :, :n_k] = problem.amount_quk
    latency = np.zeros((n_u, n_k + extra_k))
    latency[:, :n_k] = problem.latency_ms_uk
    row_oj = np.full((n_o + n_new, n_j), -1, problem.row_oj.dtype)
    row_oj[:n_o, : problem.row_oj.shape[1]] = problem.row_oj
    quantity_oj = np.zeros((n_o + n_new, n_j), problem.quantity_oj.dtype)
    quantity_oj[:n_o, : problem.quantity_oj.shape[1]] = problem.quantity_oj
    scale_oj = np.ones((n_o + n_new, n_j))
    if problem.scale_oj is not None:
        scale_oj[:n_o, : problem.scale_oj.shape[1]] = problem.scale_oj
    pool_o = np.append(problem.pool_o, np.zeros(n_new, problem.pool_o.dtype))
    spread = np.zeros((problem.spread_key_go.shape[0], n_o + n_new), problem.spread_key_go.dtype)
    spread[:, :n_o] = problem.spread_key_go

    option_of: dict[tuple[int, ScheduleKey], int] = {}
    unit_i, option_i, pools_i, key_i, slot_i = [], [], [], [], []
    next_slot = dict.fromkeys(range(n_u), n_k)
    for i, (u, key, (rows, quantity, values, total_q, objective_usd)) in enumerate(made):
        o, k = n_o + i, next_slot[u]
        next_slot[u] += 1
        first_pool = key[1][0]
        spread[:, o] = _spread_keys(problem, u, first_pool)
        # a migrating run's rates are its first period's (`preempt.schedule_terms`): water
        # is 0 there at a site without evaporative cooling and charged at a later site
        # that has it; such terms are written as multiples of the run's GPUs instead
        quantity = np.where((total_q[quantity] == 0) & (values != 0), Q_GPUS, quantity)
        total = total_q[quantity]
        if ((total == 0) & (values != 0)).any():
            raise SolverError(f"schedule options: unit {u} charges a quantity it totals 0 (a bug)")
        option_uk[u, k] = o
        objective[u, k] = objective_usd
        amount[:, u, k] = total_q
        row_oj[o, : rows.size] = rows
        quantity_oj[o, : rows.size] = quantity
        multiple = np.divide(values, total, out=np.zeros_like(values), where=total != 0)
        scale_oj[o, : rows.size] = multiple
        pool_o[o] = first_pool
        option_of[(u, key)] = o
        unit_i.append(u)
        option_i.append(o)
        pools_i.append(tuple(dict.fromkeys(key[1])))
        key_i.append(key)
        slot_i.append(k)
    startup = problem.startup
    if startup is not None:
        replicas = np.zeros((n_u, n_k + extra_k), startup.replicas_uk.dtype)
        replicas[:, :n_k] = startup.replicas_uk
        startup = startup._replace(replicas_uk=replicas)
    out = problem._replace(
        option_uk=option_uk,
        objective_usd_per_h_uk=objective,
        amount_quk=amount,
        latency_ms_uk=latency,
        pool_o=pool_o,
        spread_key_go=spread,
        row_oj=row_oj,
        quantity_oj=quantity_oj,
        scale_oj=scale_oj,
        startup=startup,
        period_caps=_with_cap_entries(problem, made, slot_i),
    )
    options = ScheduleOptions(
        out,
        option_of,
        np.array(unit_i, np.int64),
        np.array(option_i, np.int64),
        tuple(pools_i),
        tuple(key_i),
    )
    _check(problem, options, wanted)
    return options


def _spread_keys(problem: Problem, u: int, pool: int) -> np.ndarray:
    """int[G]: the spread keys of an option on `pool`: those of another option on the
    pool or at its site (a key is the site's or its domain's); zeros when there is none
    and the unit is in no redundancy group (its keys are never read).

    Raises:
      SolverError: a unit in a redundancy group on a site where no option runs.
    """
    for same in (problem.pool_o == pool, problem.site_o == problem.pool_site_p[pool]):
        hit = np.flatnonzero(same)
        if hit.size:
            return problem.spread_key_go[:, hit[0]]
    if problem.group_u[u] >= 0:
        raise SolverError(f"schedule options: unit {u}'s spread key on pool {pool} is unknown")
    return np.zeros(problem.spread_key_go.shape[0], problem.spread_key_go.dtype)


def _with_cap_entries(problem: Problem, made, slot_i: list[int]):
    """`Problem.period_caps` with each new option's spend per cap row
    (`usage.schedule_spend`)."""
    caps = problem.period_caps
    if caps is None:
        return None
    unit_e, slot_e, row_e, amount_e = [caps.unit_e], [caps.slot_e], [caps.row_e], [caps.amount_e]
    for (u, key, _), k in zip(made, slot_i, strict=True):
        spend = schedule_spend(problem, {u: (key[1][0], key[0], key[1])})
        rows = np.flatnonzero(spend)
        unit_e.append(np.full(rows.size, u, caps.unit_e.dtype))
        slot_e.append(np.full(rows.size, k, caps.slot_e.dtype))
        row_e.append(rows.astype(caps.row_e.dtype))
        amount_e.append(spend[rows])
    return caps._replace(
        unit_e=np.concatenate(unit_e),
        slot_e=np.concatenate(slot_e),
        row_e=np.concatenate(row_e),
        amount_e=np.concatenate(amount_e),
    )


def _check(problem: Problem, options: ScheduleOptions, wanted: dict) -> None:
    """Each new option loads the rows and spends in the cap rows as its schedule does
    (a bug check, one schedule at a time).

    Raises:
      SolverError: they differ.
    """
    empty = np.full(problem.num_units, -1, np.int32)
    for (u, _), value in wanted.items():
        schedule = {u: value}
        picked = options.assignment(empty, schedule)
        want = row_loads(problem, empty, schedule)
        got = row_loads(options.problem, picked)
        same = np.allclose(got, want, rtol=1e-9, atol=1e-9)
        if same and problem.period_caps is not None:
            same = np.allclose(
                period_spend(options.problem, picked),
                period_spend(problem, empty, schedule),
                rtol=1e-9,
                atol=1e-9,
            )
        if not same:
            raise SolverError(f"schedule options: unit {u}'s option charges other rows (a bug)")


__all__ = ["ScheduleKey", "ScheduleOptions", "schedule_key", "with_schedule_options"]
