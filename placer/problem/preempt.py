"""Preemptible training runs: a run that may pause and resume within its window, in one
pool (docs/time.md, "Preemptible training runs").

A preemptible run keeps its contiguous options (pool, start) like any run, so every
engine can place it contiguously (a restriction that is always valid). `Preempt` adds
what an exact model needs to schedule it in any set of whole periods of its window: per
run, per pool it may use (a *choice* c), and per period of its window (an *entry* e),
what a run period costs and charges. A schedule in pool p over periods P with n segments
(maximal runs of consecutive periods) is feasible when

    |P| x period_hours >= hours on p + restore_overhead_h x (n - 1),

and then it holds its GPUs and power in every period of P, and pays and emits for each
of them in full (whole periods: the running time beyond the need in its last period is
held and paid, as a contiguous run holds its partial last period). Its objective is the
sum of its entries' plus the choice's fixed part (the dataset's egress).

`Preempt` is the optional field of `placer.problem.form.Problem` after `startup` (None:
no preemptible run, e.g. every static problem). This module imports nothing of `form`.

A schedule (what an exact engine returns besides the assignment, `SolveResult.
preempt_schedule`) maps a unit to (pool, periods): the unit's `assign_u` is then -1.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: unit -> (pool, sorted periods it runs in): preempted runs of an assignment.
Schedule = dict[int, tuple[int, tuple[int, ...]]]


class Preempt(NamedTuple):
    """What the engines need to schedule preemptible runs (V runs, C choices, E entries,
    Q quantities, J terms per entry).

    Attributes:
      unit_v: int32[V], the unit of each preemptible run.
      overhead_h_v: float64[V], running hours added per resume, h.
      run_c: int32[C], the run of each choice (index into V); choices sorted by run, pool.
      pool_c: int32[C], its pool.
      need_h_c: float64[C], hours the run needs on that pool (its pool's run length).
      fixed_usd_per_h_c: float64[C], objective and cost of placing the run there at all
        (the dataset's egress), USD per hour of the horizon.
      choice_e: int32[E], the choice of each entry; entries sorted by choice, period.
      period_e: int32[E], the period (a whole period of the run's window).
      objective_usd_per_h_e: float64[E], the objective of running in that period
        (cost + priced carbon + priced water of the whole period / horizon hours).
      amount_qe: float64[Q, E], what running in that period charges of each quantity
        (`rows.QUANTITIES`: GPUs, kW, L/h, and cost USD/h, carbon kg/h per horizon hour).
      row_ej: int32[E, J], the rows it charges (-1: none): those a one-period option of
        the pool in that period charges (soft rows included).
      quantity_ej: int8[E, J], the quantity charged to each.
      start_option_e: int32[E], the contiguous option of the choice's pool that starts
        in the entry's period (-1: none): a schedule of one segment of that option's
        length is that option (`contiguous_option`).
      period_hours: h.
    """

    unit_v: np.ndarray
    overhead_h_v: np.ndarray
    run_c: np.ndarray
    pool_c: np.ndarray
    need_h_c: np.ndarray
    fixed_usd_per_h_c: np.ndarray
    choice_e: np.ndarray
    period_e: np.ndarray
    objective_usd_per_h_e: np.ndarray
    amount_qe: np.ndarray
    row_ej: np.ndarray
    quantity_ej: np.ndarray
    start_option_e: np.ndarray
    period_hours: float

    @property
    def num_runs(self) -> int:
        return int(self.unit_v.shape[0])

    def take(self, units: np.ndarray) -> Preempt | None:
        """The runs among `units` (int[n], unit indices, renumbered 0..n-1); None when
        none is left."""
        units = np.asarray(units).reshape(-1)
        if units.dtype == bool:
            units = np.flatnonzero(units)
        new_of = {int(u): i for i, u in enumerate(units.tolist())}
        keep_v = np.array([int(u) in new_of for u in self.unit_v.tolist()], bool)
        if not keep_v.any():
            return None
        run_new = np.cumsum(keep_v) - 1
        keep_c = keep_v[self.run_c]
        choice_new = np.cumsum(keep_c) - 1
        keep_e = keep_c[self.choice_e]
        return self._replace(
            unit_v=np.array([new_of[int(u)] for u in self.unit_v[keep_v]], np.int32),
            overhead_h_v=self.overhead_h_v[keep_v],
            run_c=run_new[self.run_c[keep_c]].astype(np.int32),
            pool_c=self.pool_c[keep_c],
            need_h_c=self.need_h_c[keep_c],
            fixed_usd_per_h_c=self.fixed_usd_per_h_c[keep_c],
            choice_e=choice_new[self.choice_e[keep_e]].astype(np.int32),
            period_e=self.period_e[keep_e],
            objective_usd_per_h_e=self.objective_usd_per_h_e[keep_e],
            amount_qe=self.amount_qe[:, keep_e],
            row_ej=self.row_ej[keep_e],
            quantity_ej=self.quantity_ej[keep_e],
            start_option_e=self.start_option_e[keep_e],
        )

    def choice_of(self, unit: int, pool: int) -> int:
        """The choice of (unit, pool), or -1."""
        v = np.flatnonzero(self.unit_v == unit)
        if not v.size:
            return -1
        c = np.flatnonzero((self.run_c == v[0]) & (self.pool_c == pool))
        return int(c[0]) if c.size else -1

    def entries_of(self, c: int) -> np.ndarray:
        """int64[n]: the entries of choice c (ascending periods)."""
        a, b = np.searchsorted(self.choice_e, [c, c + 1])
        return np.arange(a, b)


class ScheduleTerms(NamedTuple):
    """What a schedule charges: (row, amount) terms, totals per quantity, objective."""

    row_n: np.ndarray
    amount_n: np.ndarray
    total_q: np.ndarray
    objective_usd_per_h: float


def segments(periods: tuple[int, ...] | list[int]) -> list[tuple[int, int]]:
    """(first period, periods) of each maximal run of consecutive periods."""
    out: list[tuple[int, int]] = []
    for t in sorted(periods):
        if out and out[-1][0] + out[-1][1] == t:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((t, 1))
    return out


def schedule_entries(preempt: Preempt, schedule: Schedule) -> tuple[np.ndarray, np.ndarray]:
    """(choices int64[n], entries int64[m]) a schedule uses.

    Raises:
      ValueError: a unit that is not preemptible, a pool it may not use, or a period
        outside its window.
    """
    choices, entries = [], []
    for u, (pool, periods) in sorted(schedule.items()):
        c = preempt.choice_of(int(u), int(pool))
        if c < 0:
            raise ValueError(f"unit {u}: no preemptible choice on pool {pool}")
        own = preempt.entries_of(c)
        at = np.searchsorted(preempt.period_e[own], np.asarray(periods, np.int64))
        ok = (at < own.size) & (preempt.period_e[own[np.minimum(at, own.size - 1)]] == periods)
        if not ok.all():
            raise ValueError(f"unit {u}: a period outside its window on pool {pool}")
        choices.append(c)
        entries.append(own[at])
    if not choices:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.array(choices, np.int64), np.concatenate(entries).astype(np.int64)


def schedule_terms(preempt: Preempt, schedule: Schedule, num_quantities: int) -> ScheduleTerms:
    """The rows, totals and objective of a schedule (`schedule_entries`)."""
    from placer.problem.rows import Q_CARBON, Q_COST

    choices, entries = schedule_entries(preempt, schedule)
    rows = preempt.row_ej[entries]
    values = preempt.amount_qe[preempt.quantity_ej[entries], entries[:, None]]
    keep = rows >= 0
    # rates (GPUs, kW, L/h) once per run, as a contiguous run's; money and carbon summed
    firsts = np.array([preempt.entries_of(int(c))[0] for c in choices], np.int64)
    total = preempt.amount_qe[:, firsts].sum(axis=1).reshape(num_quantities)
    for q in (Q_COST, Q_CARBON):
        total[q] = preempt.amount_qe[q, entries].sum()
    total[Q_COST] += preempt.fixed_usd_per_h_c[choices].sum()
    objective = float(
        preempt.objective_usd_per_h_e[entries].sum() + preempt.fixed_usd_per_h_c[choices].sum()
    )
    return ScheduleTerms(rows[keep].astype(np.int64), values[keep], total, objective)


def feasible_schedule(preempt: Preempt, unit: int, pool: int, periods) -> bool:
    """Whether running `unit` on `pool` in `periods` covers its need with the overhead
    of its resumes."""
    c = preempt.choice_of(unit, pool)
    if c < 0 or not periods:
        return False
    v = int(preempt.run_c[c])
    resumes = len(segments(periods)) - 1
    need = preempt.need_h_c[c] + preempt.overhead_h_v[v] * resumes
    return len(periods) * preempt.period_hours >= need - 1e-9


def contiguous_option(preempt: Preempt, c: int, periods) -> int:
    """The contiguous option that running choice c in `periods` is (one segment of the
    option's length, starting where it starts), or -1. The option holds the same periods
    and costs at most as much (it pays its partial last period for the hours it runs)."""
    parts = segments(periods)
    if len(parts) != 1:
        return -1
    start, length = parts[0]
    own = preempt.entries_of(c)
    at = own[preempt.period_e[own] == start]
    n = int(np.ceil(preempt.need_h_c[c] / preempt.period_hours - 1e-9))
    if not at.size or length != max(1, n):
        return -1
    return int(preempt.start_option_e[at[0]])
