"""The migration rows of the placement MILP: training runs that may move between pools at
a cost (`migration_usd`), and pause too when preemptible (`Problem.preempt`,
`placer.problem.preempt`, docs/time.md "Migration between pools").

For each run v that may migrate, with choices c (the pools p(c) it may use, needing
h[c] hours there) and the periods t of its window, besides its contiguous options' x[u,o]
(kept, as for a preemptible run):

    W[v]      binary: v runs scheduled (it joins the place-once row (1) of its unit)
    z[c,t]    binary: v runs in period t on p(c)
    l[c,t]    continuous in [0, 1]: p(c) is the pool v last ran on, at or before t
    m[c,t]    continuous in [0, 1]: v moves to p(c) in t (priced in (0) and the budget)
    r[c,t]    continuous in [0, 1]: v resumes on p(c) in t after a pause (preemptible)
    s[t]      continuous in [0, 1]: a segment of v starts in t (not preemptible)
    g[v,k]    continuous in [0, 1]: v runs at site k (the dataset's egress, when priced)
    a[t], L[t] continuous: sum_c z[c,t] (it runs in t) and sum_c l[c,t] (it has run),
              each fixed by an equality row, so every row below has a few terms

with a[t-1] = L[t-1] = l[c,t-1] = 0 before the window:

    a[t] - W <= 0                                          (6a) one pool per period
    l[c,t] - z[c,t] >= 0;  l[c,t] - l[c,t-1] + a[t] >= 0;
    L[t] - W <= 0                                          (6b) the last pool
    m[c,t] - z[c,t] - L[t-1] + l[c,t-1] >= -1              (6c) moves
    r[c,t] - z[c,t] + a[t-1] - l[c,t-1] >= -1              (6d) resumes (preemptible)
    s[t] - a[t] + a[t-1] >= 0;  sum_t s[t] - W <= 0         (6e) one segment (otherwise)
    sum_{c,t} (ph z[c,t] - o_r r[c,t] - o_m m[c,t]) / h[c] - W >= 0   (6f) work
    g[v,k] - z[c,t] >= 0 for p(c) at site k                (6g) egress, once per site

ph the period's hours, o_r the restore overhead per resume and o_m the hours per move.
A run that ran before the problem (a re-plan: `Preempt.last_pool_v`, `continues_v`) starts
from there instead: in its first period t, l[c,t-1] = W on the pool it last ran on and 0
on the others, L[t-1] = W, A[t-1] = W when it ran in the period just before (t = 0); so
its first period elsewhere is a move, and on that pool a resume unless it goes on. One
that may not pause has run without a pause: it goes on and starts no segment
(sum_t s[t] <= 0, s[0] >= A[0] - 1).
For binary z, (6b) forces l[c,t] = 1 for the pool v last ran on (and so 0 for the
others: their sum is at most 1), from its first period on; l only raises the lower
bounds of m and r, so at an optimum m, r, s and g are the indicators their rows bound,
and the model is exact. z charges the rows a one-period option of p(c) in t charges
and its period's objective, as a preempted run's z (`preempt_rows`). The columns are
numbered after the preemption columns; only `build_model(preempt=True)` writes them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from placer.engines.milp.preempt_rows import entry_terms
from placer.problem.form import Problem
from placer.problem.preempt import Schedule, contiguous_option
from placer.problem.rows import K_BUDGET, Q_COST, global_row


class MigrateColumns(NamedTuple):
    """The migration variables of a model (V' runs, E' entries written).

    Attributes:
      run: int64[V'], the runs written (indices into `Preempt`'s V).
      unit: int64[V'], their units.
      w: int64[V'], the column of W of each.
      entry: int64[E'], the entries written (choices of the runs, in `Preempt` order).
      z, l, m, r: int64[E'], the columns of each entry (r: -1 where the run may not pause).
      s: int64[E'], the column of s of the entry's (run, period), -1 where it may pause.
      a, big_l: int64[E'], the columns of A and L of the entry's (run, period).
      g: int64[G], egress columns; g_entry: list of int64 arrays, the entries each bounds.
    """

    run: np.ndarray
    unit: np.ndarray
    w: np.ndarray
    entry: np.ndarray
    z: np.ndarray
    l: np.ndarray  # noqa: E741
    m: np.ndarray
    r: np.ndarray
    s: np.ndarray
    g: np.ndarray
    g_entry: list
    a: np.ndarray
    big_l: np.ndarray


def migrate_columns(rows, problem: Problem, first: int, candidates_u=None) -> MigrateColumns | None:
    """Declares the columns of (6) on `rows` (a `formulation._Rows`) from column `first`;
    None without a run that may migrate. With `candidates_u`, a run's choices are the
    pools of its candidate options."""
    table = problem.preempt
    if table is None or not table.migrates_v.any():
        return None
    keep_c = table.migrates_v[table.run_c].copy()
    unit_c = table.unit_v[table.run_c].astype(np.int64)
    if candidates_u is not None:
        for c in np.flatnonzero(keep_c).tolist():
            allowed = np.asarray(candidates_u[unit_c[c]], np.int64)
            if allowed.size:
                keep_c[c] = bool(np.isin(table.pool_c[c], problem.pool_o[allowed]))
    entry = np.flatnonzero(keep_c[table.choice_e]).astype(np.int64)
    if entry.size == 0:
        return None
    run_e = table.run_c[table.choice_e[entry]].astype(np.int64)
    run = np.unique(run_e)
    unit = table.unit_v[run].astype(np.int64)
    pauses = table.pauses_v
    n_v, n_e = run.size, entry.size
    col = first
    w = col + np.arange(n_v)
    col += n_v
    z = col + np.arange(n_e)
    col += n_e
    lc = col + np.arange(n_e)
    col += n_e
    m = col + np.arange(n_e)
    col += n_e
    r = np.full(n_e, -1, np.int64)
    pause_e = pauses[run_e]
    r[pause_e] = col + np.arange(int(pause_e.sum()))
    col += int(pause_e.sum())
    # s: one per (run, period) of a run that may not pause
    s = np.full(n_e, -1, np.int64)
    period_e = table.period_e[entry].astype(np.int64)
    keys = sorted(
        {(int(v), int(t)) for v, t, p in zip(run_e, period_e, pause_e, strict=True) if not p}
    )
    s_of = {key: col + i for i, key in enumerate(keys)}
    col += len(keys)
    for i in np.flatnonzero(~pause_e).tolist():
        s[i] = s_of[(int(run_e[i]), int(period_e[i]))]
    # A (it runs in t) and L (it has run by t): one each per (run, period)
    every = sorted({(int(v), int(t)) for v, t in zip(run_e, period_e, strict=True)})
    a_of = {key: col + i for i, key in enumerate(every)}
    col += len(every)
    big_l_of = {key: col + i for i, key in enumerate(every)}
    col += len(every)
    a = np.array([a_of[(int(v), int(t))] for v, t in zip(run_e, period_e, strict=True)])
    big_l = np.array([big_l_of[(int(v), int(t))] for v, t in zip(run_e, period_e, strict=True)])
    # g: one per (run, site) whose egress is priced
    fixed_e = table.fixed_usd_per_h_c[table.choice_e[entry]]
    site_e = problem.pool_site_p[table.pool_c[table.choice_e[entry]]].astype(np.int64)
    g_keys = sorted(
        {(int(v), int(k)) for v, k, f in zip(run_e, site_e, fixed_e, strict=True) if f > 0}
    )
    g = col + np.arange(len(g_keys), dtype=np.int64)
    g_entry = [np.flatnonzero((run_e == v) & (site_e == k) & (fixed_e > 0)) for v, k in g_keys]
    g_price = np.array([fixed_e[at].max() for at in g_entry]) if g_keys else np.zeros(0)
    move_usd = np.nan_to_num(np.asarray(table.move_usd_per_h_v, float))[run_e]
    value = problem.unplaced_usd_per_h_u[unit]
    names = [f"migrate_w[{v}]" for v in run.tolist()]
    rows.add_columns(names, np.ones(n_v), True, -value)
    label = [f"{table.choice_e[e]},{table.period_e[e]}" for e in entry.tolist()]
    rows.add_columns(
        [f"mz[{x}]" for x in label], np.ones(n_e), True, table.objective_usd_per_h_e[entry]
    )
    rows.add_columns([f"ml[{x}]" for x in label], np.ones(n_e), False, np.zeros(n_e))
    rows.add_columns([f"mm[{x}]" for x in label], np.ones(n_e), False, move_usd)
    pause_labels = [x for x, p in zip(label, pause_e, strict=True) if p]
    rows.add_columns(
        [f"mr[{x}]" for x in pause_labels],
        np.ones(len(pause_labels)),
        False,
        np.zeros(len(pause_labels)),
    )
    rows.add_columns(
        [f"ms[{v},{t}]" for v, t in keys], np.ones(len(keys)), False, np.zeros(len(keys))
    )
    n_k = len(every)
    rows.add_columns([f"ma[{v},{t}]" for v, t in every], np.ones(n_k), False, np.zeros(n_k))
    rows.add_columns([f"mL[{v},{t}]" for v, t in every], np.ones(n_k), False, np.zeros(n_k))
    rows.add_columns([f"mg[{v},{k}]" for v, k in g_keys], np.ones(len(g_keys)), False, g_price)
    return MigrateColumns(
        run, unit, w, entry, z, lc, m, r, s, g, g_entry, a.astype(np.int64), big_l.astype(np.int64)
    )


def place_once_columns(cols: MigrateColumns | None) -> dict[int, np.ndarray]:
    """unit -> its W column (in its place-once row (1))."""
    if cols is None:
        return {}
    return {int(u): np.array([w], np.int64) for u, w in zip(cols.unit, cols.w, strict=True)}


def capacity_terms(problem: Problem, cols: MigrateColumns | None):
    """(row, column, coefficient, quantity) of what z charges, and the moves' and the
    egress's cost on the budget row; None without columns."""
    if cols is None:
        return None
    table = problem.preempt
    assert table is not None
    row, var, coef, q = entry_terms(table, cols.entry, cols.z)
    budget = global_row(problem.kind_r, K_BUDGET)
    if budget >= 0:
        run_e = table.run_c[table.choice_e[cols.entry]]
        move = np.nan_to_num(np.asarray(table.move_usd_per_h_v, float))[run_e]
        fixed = table.fixed_usd_per_h_c[table.choice_e[cols.entry]]
        g_price = np.array([fixed[at].max() for at in cols.g_entry]) if cols.g.size else []
        more_var = np.concatenate([cols.m[move > 0], cols.g]).astype(np.int64)
        more_coef = np.concatenate([move[move > 0], np.asarray(g_price, float)])
        row = np.concatenate([row, np.full(more_var.size, budget)])
        var = np.concatenate([var, more_var])
        coef = np.concatenate([coef, more_coef])
        q = np.concatenate([q, np.full(more_var.size, Q_COST, np.int8)])
    return row.astype(np.int64), var.astype(np.int64), coef.astype(float), q.astype(np.int8)


def add_migrate_rows(rows, problem: Problem, cols: MigrateColumns | None) -> None:
    """Writes (6a)-(6g) on `rows`; nothing without columns. A[t] = sum_c z[c,t] and
    L[t] = sum_c l[c,t] are columns of their own, so each row has a few terms and the
    model grows with pools x periods, not pools^2 x periods."""
    if cols is None:
        return
    table = problem.preempt
    assert table is not None and table.move_overhead_h_v is not None
    ph = float(table.period_hours)
    inf = math.inf
    choice_e = table.choice_e[cols.entry]
    run_e = table.run_c[choice_e]
    period_e = table.period_e[cols.entry].astype(np.int64)
    for i, v in enumerate(cols.run.tolist()):
        last = table.last_pool(v)
        if table.continues(v) and last is None:
            raise ValueError(f"preempt run {v} goes on from before the problem and migrates")
        mine = np.flatnonzero(run_e == v)
        W = int(cols.w[i])
        at = {(int(choice_e[k]), int(period_e[k])): int(k) for k in mine}
        periods = sorted({t for _, t in at})
        by_t = {t: [k for (c, tt), k in sorted(at.items()) if tt == t] for t in periods}
        a_of = {t: int(cols.a[by_t[t][0]]) for t in periods}
        big_l_of = {t: int(cols.big_l[by_t[t][0]]) for t in periods}
        pauses = bool(table.pauses_v[v])
        o_r, o_m = float(table.overhead_h_v[v]), float(table.move_overhead_h_v[v])
        for t in periods:
            now = by_t[t]
            n = len(now)
            a_t, big_l_t = a_of[t], big_l_of[t]
            rows.add(f"mig_a[{v},{t}]", [*cols.z[now], a_t], [*[1.0] * n, -1.0], 0.0, 0.0)
            rows.add(f"mig_L[{v},{t}]", [*cols.l[now], big_l_t], [*[1.0] * n, -1.0], 0.0, 0.0)
            rows.add(f"mig_one[{v},{t}]", [a_t, W], [1.0, -1.0], -inf, 0.0)  # (6a)
            rows.add(f"mig_last[{v},{t}]", [big_l_t, W], [1.0, -1.0], -inf, 0.0)  # (6b)
            before = t - 1 in a_of
            first = t == periods[0]
            # before the run's first period: nothing, or where it ran before the problem
            # (`Preempt.last_pool_v`; it ran in the period before when it continues)
            ran_before = first and last is not None and table.continues(v) and t == 0
            for k in now:
                c = int(choice_e[k])
                rows.add(f"mig_lz[{c},{t}]", [cols.l[k], cols.z[k]], [1.0, -1.0], 0.0, inf)
                if first and last is not None:
                    own = int(table.pool_c[c]) == last
                    _initial_rows(rows, cols, k, c, t, a_t, W, own, ran_before, pauses)
                if not before:
                    continue  # the window's first period: nothing ran before
                prev = at[(c, t - 1)]
                rows.add(
                    f"mig_carry[{c},{t}]",
                    [cols.l[k], cols.l[prev], a_t],
                    [1.0, -1.0, 1.0],
                    0.0,
                    inf,
                )
                # (6c): m >= z[c,t] + (L[t-1] - l[c,t-1]) - 1
                rows.add(
                    f"mig_move[{c},{t}]",
                    [cols.m[k], cols.z[k], big_l_of[t - 1], cols.l[prev]],
                    [1.0, -1.0, -1.0, 1.0],
                    -1.0,
                    inf,
                )
                if pauses:  # (6d): r >= z[c,t] - A[t-1] + l[c,t-1] - 1
                    rows.add(
                        f"mig_resume[{c},{t}]",
                        [cols.r[k], cols.z[k], a_of[t - 1], cols.l[prev]],
                        [1.0, -1.0, 1.0, -1.0],
                        -1.0,
                        inf,
                    )
            if not pauses:  # (6e): s[t] >= A[t] - A[t-1]
                s_t = int(cols.s[now[0]])
                if before:
                    cols_s, coef_s = [s_t, a_t, a_of[t - 1]], [1.0, -1.0, 1.0]
                else:
                    cols_s, coef_s = [s_t, a_t], [1.0, -1.0]
                low = -1.0 if ran_before else 0.0  # it goes on: its segment started before
                rows.add(f"mig_start[{v},{t}]", cols_s, coef_s, low, inf)
        if not pauses:
            starts = sorted({int(cols.s[k]) for k in mine})
            if last is None:
                rows.add(f"mig_segment[{v}]", [*starts, W], [1.0] * len(starts) + [-1.0], -inf, 0)
            else:  # it has run and may not pause: it goes on, no segment starts
                rows.add(f"mig_segment[{v}]", starts, [1.0] * len(starts), -inf, 0.0)
        need = table.need_h_c[choice_e[mine]]
        cols_f = [*cols.z[mine], *cols.m[mine]]
        coef_f = [*(ph / need), *(-o_m / need)]
        if pauses:
            cols_f += list(cols.r[mine])
            coef_f += list(-o_r / need)
        rows.add(f"mig_work[{v}]", [*cols_f, W], [*coef_f, -1.0], -1e-9, inf)  # (6f)
    for j, g in enumerate(cols.g.tolist()):  # (6g)
        for k in cols.g_entry[j].tolist():
            rows.add(f"mig_egress[{g},{k}]", [g, cols.z[k]], [1.0, -1.0], 0.0, inf)


def _initial_rows(
    rows, cols, k: int, c: int, t: int, a_t: int, w: int, last: bool, ran: bool, pauses: bool
) -> None:
    """(6b)-(6d) in the run's first period t for a run that ran before the problem
    (`Preempt.last_pool_v`): before it, l = 1 on the pool it last ran on (`last`), L = 1,
    and A = 1 when it ran in the period before (`ran`)."""
    inf = math.inf
    if last:  # l[c,t] - l[c,t-1] + A[t] >= 0 with l[c,t-1] = W (1 when it is placed)
        rows.add(f"mig_carry0[{c},{t}]", [cols.l[k], a_t, w], [1.0, 1.0, -1.0], 0.0, inf)
    else:  # (6c) m >= z[c,t] + L[t-1] - l[c,t-1] - 1 = z[c,t]
        rows.add(f"mig_move0[{c},{t}]", [cols.m[k], cols.z[k]], [1.0, -1.0], 0.0, inf)
    if pauses and last and not ran:  # (6d) r >= z[c,t] - A[t-1] + l[c,t-1] - 1 = z[c,t]
        rows.add(f"mig_resume0[{c},{t}]", [cols.r[k], cols.z[k]], [1.0, -1.0], 0.0, inf)


def read_migrations(
    problem: Problem, cols: MigrateColumns | None, value_of, assign: np.ndarray
) -> Schedule:
    """The scheduled runs that may migrate of a solution (`value_of(column) -> float`):
    unit -> (pool, periods) in one pool, (first pool, periods, pools) across pools; a run
    of one segment of its contiguous option's length in one pool becomes that option in
    `assign` (updated in place)."""
    out: Schedule = {}
    if cols is None:
        return out
    table = problem.preempt
    assert table is not None
    choice_e = table.choice_e[cols.entry]
    run_e = table.run_c[choice_e]
    for i, v in enumerate(cols.run.tolist()):
        if value_of(int(cols.w[i])) <= 0.5:
            continue
        mine = [k for k in np.flatnonzero(run_e == v).tolist() if value_of(int(cols.z[k])) > 0.5]
        if not mine:
            continue
        mine.sort(key=lambda k: int(table.period_e[cols.entry[k]]))
        periods = tuple(int(table.period_e[cols.entry[k]]) for k in mine)
        pools = tuple(int(table.pool_c[choice_e[k]]) for k in mine)
        u = int(cols.unit[i])
        if len(set(pools)) == 1:
            c = int(choice_e[mine[0]])
            option = contiguous_option(table, c, periods)
            if option >= 0 and (problem.option_uk[u] == option).any():
                assign[u] = option
            else:
                out[u] = (pools[0], periods)
        else:
            out[u] = (pools[0], periods, pools)
    return out
