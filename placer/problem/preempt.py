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

#: unit -> (pool, sorted periods it runs in): preempted runs of an assignment; a run that
#: migrates: (its first pool, sorted periods, the pool of each period) (`schedule_pools`).
Schedule = dict[int, tuple]


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
      scale_ej: float64[E, J], the multiple of that quantity's amount charged to each
        (a day's water row takes period h / 24 of the L/h: `placer.problem.water_days`);
        None: 1 everywhere.
      start_option_e: int32[E], the contiguous option of the choice's pool that starts
        in the entry's period (-1: none): a schedule of one segment of that option's
        length is that option (`contiguous_option`).
      period_hours: h.
      preemptible_v: bool[V], the run may pause (None: every run; a run that may only
        migrate is in the table with False).
      move_usd_per_h_v: float64[V], USD per move of a run that may migrate / horizon
        hours (the objective's unit), NaN for one that may not (None: no run may).
      move_overhead_h_v: float64[V], running hours added per move, on the pool moved to
        (None with move_usd_per_h_v).
      continues_v: bool[V], the run was running in the period before the problem's
        first (a re-plan of a rolling horizon, `placer.analysis.rolling`): a segment that
        starts in period 0 goes on without a restore, and every other segment, its first
        included, adds the overhead: |P| x period_hours >= hours + overhead x (n - [P
        holds period 0]). None: no run continues (a run's first segment is free: n - 1).
      last_pool_v: int32[V], for a run that may migrate and ran before the problem's
        first period (a re-plan), the pool it last ran on (-1: it has not run). Its first
        period in another pool is a move; in that pool, a resume unless it continues
        (`continues_v`: it ran in the period before); a run that may not pause and has
        run continues, and starts no new segment. None: no run has run.

    A run that may migrate (`migrates`) runs in whole periods of its window, in at most
    one of its choices' pools per period (docs/time.md, "Migration"): in the pools of
    the choices of its run, each period run on pool p does period_hours / need_h[p] of
    its work; a move (the first period in a pool other than the one it last ran on) costs
    move_usd and move_overhead_h / need_h[p] of work on the pool p it moves to; a resume
    on the pool it last ran on (after a pause; only when preemptible) costs
    overhead_h / need_h[p]. It is complete when its work, less the overheads, is >= 1.
    The dataset's egress (`fixed_usd_per_h_c`) is paid once per site it runs at
      (`site_c`: the site of each choice's pool; None: no run may migrate).
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
    preemptible_v: np.ndarray | None = None
    move_usd_per_h_v: np.ndarray | None = None
    move_overhead_h_v: np.ndarray | None = None
    site_c: np.ndarray | None = None
    scale_ej: np.ndarray | None = None
    continues_v: np.ndarray | None = None
    last_pool_v: np.ndarray | None = None

    @property
    def num_runs(self) -> int:
        return int(self.unit_v.shape[0])

    @property
    def migrates_v(self) -> np.ndarray:
        """bool[V]: the run may move between pools."""
        if self.move_usd_per_h_v is None:
            return np.zeros(self.num_runs, bool)
        return np.isfinite(self.move_usd_per_h_v)

    @property
    def pauses_v(self) -> np.ndarray:
        """bool[V]: the run may pause."""
        if self.preemptible_v is None:
            return np.ones(self.num_runs, bool)
        return np.asarray(self.preemptible_v, bool)

    def continues(self, v: int) -> bool:
        """Whether run v goes on from the period before the problem's (`continues_v`)."""
        return self.continues_v is not None and bool(self.continues_v[v])

    def last_pool(self, v: int) -> int | None:
        """The pool run v last ran on before the problem's first period
        (`last_pool_v`), or None: it has not run."""
        if self.last_pool_v is None or self.last_pool_v[v] < 0:
            return None
        return int(self.last_pool_v[v])

    def restores(self, v: int, periods) -> int:
        """The restores of run v in one pool over `periods`: each segment after the
        first, and the first too when it does not continue the run (`continues_v`) or
        resumes one that ran before and paused (`last_pool_v`)."""
        parts = segments(periods)
        if not parts:
            return 0
        goes_on = self.continues(v) and parts[0][0] == 0
        fresh = not self.continues(v) and self.last_pool(v) is None
        return len(parts) - (1 if goes_on or fresh else 0)

    def transitions_of(self, v: int, periods, pools) -> tuple[list[int], list[int]]:
        """`transitions` of run v's schedule, from where it last ran before the problem
        (`last_pool_v`, `continues_v`): its first period is then a move or a resume too."""
        last = self.last_pool(v)
        if last is None:
            return transitions(periods, pools)
        before = -1 if self.continues(v) else -2  # -2: it paused before the problem
        moves, resumes = transitions([before, *periods], [last, *pools])
        return [i - 1 for i in moves], [i - 1 for i in resumes]

    def run_of(self, unit: int) -> int:
        """The run (index into V) of a unit, or -1."""
        v = np.flatnonzero(self.unit_v == unit)
        return int(v[0]) if v.size else -1

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
        run_new = (np.cumsum(keep_v) - 1).astype(np.int32)

        def runs(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[keep_v]

        kept = self._replace(
            unit_v=np.array([new_of[int(u)] for u in self.unit_v[keep_v]], np.int32),
            overhead_h_v=self.overhead_h_v[keep_v],
            run_c=run_new[self.run_c],  # the dropped runs' choices go below
            preemptible_v=runs(self.preemptible_v),
            move_usd_per_h_v=runs(self.move_usd_per_h_v),
            move_overhead_h_v=runs(self.move_overhead_h_v),
            continues_v=runs(self.continues_v),
            last_pool_v=runs(self.last_pool_v),
        )
        return kept.keep_choices(keep_v[self.run_c])

    def keep_choices(self, keep_c: np.ndarray) -> Preempt:
        """The table with only the choices where keep_c (bool[C]) is True (and their
        entries); every run stays (one without a choice is placed only by its options)."""
        keep_c = np.asarray(keep_c, bool)
        choice_new = np.cumsum(keep_c) - 1
        keep_e = keep_c[self.choice_e]
        return self._replace(
            run_c=self.run_c[keep_c],
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
            site_c=None if self.site_c is None else self.site_c[keep_c],
            scale_ej=None if self.scale_ej is None else self.scale_ej[keep_e],
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


def schedule_pools(value: tuple) -> tuple[int, ...]:
    """The pool of each period of one schedule entry: (pool, periods) runs in one pool,
    (first pool, periods, pools) in pools[i] in periods[i] (a run that migrates)."""
    if len(value) > 2 and value[2] is not None:
        return tuple(int(p) for p in value[2])
    return (int(value[0]),) * len(value[1])


def transitions(periods, pools) -> tuple[list[int], list[int]]:
    """(moves, resumes): the indices i (into `periods` sorted, `pools` alike) where the
    run starts in a pool other than the one it last ran on (a move), and where it starts
    again after a pause in the pool it last ran on (a resume). The first period is
    neither."""
    moves: list[int] = []
    resumes: list[int] = []
    order = sorted(range(len(periods)), key=lambda i: periods[i])
    for k in range(1, len(order)):
        i, j = order[k - 1], order[k]
        if pools[j] != pools[i]:
            moves.append(j)
        elif periods[j] != periods[i] + 1:
            resumes.append(j)
    return moves, resumes


def pool_segments(periods, pools) -> list[tuple[int, int, int]]:
    """(first period, periods, pool) of each maximal run of consecutive periods in one
    pool, in order."""
    out: list[tuple[int, int, int]] = []
    for t, p in sorted(zip(periods, pools, strict=True)):
        if out and out[-1][0] + out[-1][1] == t and out[-1][2] == p:
            out[-1] = (out[-1][0], out[-1][1] + 1, p)
        else:
            out.append((int(t), 1, int(p)))
    return out


def _unit_entries(preempt: Preempt, u: int, value: tuple) -> tuple[list[int], np.ndarray]:
    """(the choices a unit's schedule uses, in order of first use; its entries)."""
    periods = np.asarray(value[1], np.int64)
    pools = schedule_pools(value)
    if len(pools) != periods.size:
        raise ValueError(f"unit {u}: {len(pools)} pools for {periods.size} periods")
    choices: list[int] = []
    entries = np.zeros(periods.size, np.int64)
    for i, (t, pool) in enumerate(zip(periods.tolist(), pools, strict=True)):
        c = preempt.choice_of(int(u), int(pool))
        if c < 0:
            raise ValueError(f"unit {u}: no preemptible choice on pool {pool}")
        own = preempt.entries_of(c)
        at = int(np.searchsorted(preempt.period_e[own], t))
        if at >= own.size or preempt.period_e[own[at]] != t:
            raise ValueError(f"unit {u}: a period outside its window on pool {pool}")
        if c not in choices:
            choices.append(c)
        entries[i] = own[at]
    if len(choices) > 1 and not preempt.migrates_v[preempt.run_c[choices[0]]]:
        raise ValueError(f"unit {u}: runs in several pools but may not migrate")
    if np.unique(periods).size != periods.size:
        raise ValueError(f"unit {u}: a period twice")
    return choices, entries


def schedule_entries(preempt: Preempt, schedule: Schedule) -> tuple[np.ndarray, np.ndarray]:
    """(choices int64[n], entries int64[m]) a schedule uses.

    Raises:
      ValueError: a unit that is not preemptible, a pool it may not use, a period
        outside its window, or several pools for a run that may not migrate.
    """
    choices, entries = [], []
    for u, value in sorted(schedule.items()):
        mine, own = _unit_entries(preempt, int(u), value)
        choices += mine
        entries.append(own)
    if not choices:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.array(choices, np.int64), np.concatenate(entries).astype(np.int64)


def fixed_and_moves(preempt: Preempt, u: int, value: tuple) -> tuple[float, int, float]:
    """(the fixed USD/h a unit's schedule pays: the dataset's egress once per site it runs
    at; its moves; what they cost, USD/h)."""
    choices, _ = _unit_entries(preempt, u, value)
    v = int(preempt.run_c[choices[0]])
    if preempt.site_c is None or len(choices) == 1:
        fixed = float(preempt.fixed_usd_per_h_c[choices[0]])
    else:
        per_site: dict[int, float] = {}
        for c in choices:
            site = int(preempt.site_c[c])
            per_site[site] = max(per_site.get(site, 0.0), float(preempt.fixed_usd_per_h_c[c]))
        fixed = sum(per_site.values())
    moves = len(preempt.transitions_of(v, list(value[1]), schedule_pools(value))[0])
    usd = 0.0
    if moves:
        assert preempt.move_usd_per_h_v is not None
        usd = moves * float(preempt.move_usd_per_h_v[v])
    return fixed, moves, usd


def schedule_terms(preempt: Preempt, schedule: Schedule, num_quantities: int) -> ScheduleTerms:
    """The rows, totals and objective of a schedule (`schedule_entries`): its periods,
    the dataset's egress and the moves' cost (`fixed_and_moves`)."""
    from placer.problem.rows import Q_CARBON, Q_COST

    _, entries = schedule_entries(preempt, schedule)
    rows = preempt.row_ej[entries]
    values = preempt.amount_qe[preempt.quantity_ej[entries], entries[:, None]]
    if preempt.scale_ej is not None:
        values = values * preempt.scale_ej[entries]
    keep = rows >= 0
    # rates (GPUs, kW, L/h) once per run, as a contiguous run's (a migrating run's: its
    # first period's); money and carbon summed
    firsts = []
    fixed = 0.0
    for u, value in sorted(schedule.items()):
        first = min(range(len(value[1])), key=lambda i: value[1][i])
        c = preempt.choice_of(int(u), schedule_pools(value)[first])
        own = preempt.entries_of(c)
        firsts.append(int(own[np.searchsorted(preempt.period_e[own], value[1][first])]))
        paid, _, moved = fixed_and_moves(preempt, int(u), value)
        fixed += paid + moved
    total = preempt.amount_qe[:, np.array(firsts, np.int64)].sum(axis=1).reshape(num_quantities)
    for q in (Q_COST, Q_CARBON):
        total[q] = preempt.amount_qe[q, entries].sum()
    total[Q_COST] += fixed
    objective = float(preempt.objective_usd_per_h_e[entries].sum() + fixed)
    return ScheduleTerms(rows[keep].astype(np.int64), values[keep], total, objective)


def feasible_schedule(preempt: Preempt, unit: int, pool: int, periods, pools=None) -> bool:
    """Whether running `unit` on `pool` in `periods` (or on `pools[i]` in `periods[i]`:
    a run that migrates) covers its need with the overhead of its resumes and moves,
    and pauses or moves only where the run may."""
    pools = tuple(pools) if pools is not None else (pool,) * len(periods)
    if not periods or len(pools) != len(periods):
        return False
    c_of = {p: preempt.choice_of(unit, p) for p in set(pools)}
    if min(c_of.values()) < 0:
        return False
    v = int(preempt.run_c[c_of[pools[0]]])
    moves, resumes = preempt.transitions_of(v, list(periods), list(pools))
    if (moves and not preempt.migrates_v[v]) or len(set(periods)) != len(periods):
        return False
    if not preempt.pauses_v[v] and len(segments(periods)) > 1:
        return False
    if not preempt.pauses_v[v] and preempt.continues(v) and min(periods) != 0:
        return False  # it ran in the period before and may not pause
    if len(c_of) == 1 and not moves:
        c = c_of[pools[0]]
        need = preempt.need_h_c[c] + preempt.overhead_h_v[v] * preempt.restores(v, periods)
        return len(periods) * preempt.period_hours >= need - 1e-9
    if preempt.continues(v) and preempt.last_pool(v) is None:
        return False  # a preemptible run under way that may not migrate stays in its pool
    need = {p: float(preempt.need_h_c[c]) for p, c in c_of.items()}
    work = sum(preempt.period_hours / need[p] for p in pools)
    assert preempt.move_overhead_h_v is not None
    work -= sum(float(preempt.move_overhead_h_v[v]) / need[pools[i]] for i in moves)
    work -= sum(float(preempt.overhead_h_v[v]) / need[pools[i]] for i in resumes)
    return work >= 1.0 - 1e-9


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
