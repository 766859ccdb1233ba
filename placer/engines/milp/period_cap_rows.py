"""The per-period cap rows of the placement MILP: budgets and carbon caps per period
(`Problem.period_caps`, `placer.problem.period_caps`, docs/time.md).

For each cap row c (a kind, budget or carbon, and a period t) with a finite cap:

    sum_{x[u,o]} a[c,u,o] x[u,o] + sum_{z[e]: period t} a[c,e] z[e]
      + sum_{y[v]: window opens in t} f[v] y[v] + sum_{slacks of t} k p e <= cap[c]   (7)

a[c,u,o]: what the unit's option spends (emits) in t (`PeriodCaps` entries, in the cap's
unit: per hour of the period); z, y: a preempted run's periods and choices (their
per-period cost and carbon, the choice's egress in its window's first period: `Preempt`);
a run that migrates (`migrate_rows`): its z[c,t] the same, each move m[c,t]'s USD in t,
and its egress g[v,k] (once per site) in its window's first period;
on the budget rows the slacks of t: replica start-ups (`startup_rows`) and the excess over
t's soft rows, each at its price; k = horizon hours / period hours turns USD per horizon
hour into the cap's unit. Written after (5) and (6), before the global rows; a row that cannot
bind (every coefficient at its most is within the cap) is left out.
"""

from __future__ import annotations

import math

import numpy as np

from placer.problem.form import Problem
from placer.problem.period_caps import PERIOD_KINDS, PK_BUDGET, PK_CARBON
from placer.problem.rows import Q_CARBON, Q_COST


def add_period_cap_rows(rows, problem: Problem, pairs: np.ndarray, slot: np.ndarray) -> None:
    """Writes (7) on `rows` (a `formulation._Rows`) over the x of `pairs` (int[N, 2], unit
    and option; sorted by unit, then slot) with their `slot`s, the preemption columns
    `rows.preempt` and the slacks declared so far; nothing without `problem.period_caps`."""
    caps = problem.period_caps
    if caps is None:
        return
    n_k = max(problem.num_slots, 1)
    key_n = pairs[:, 0] * n_k + slot if pairs.size else np.zeros(0, np.int64)
    key = caps.unit_e.astype(np.int64) * n_k + caps.slot_e
    at = np.searchsorted(key_n, key)
    hit = at < key_n.size
    hit[hit] = key_n[at[hit]] == key[hit]
    row, col, coef = [caps.row_e[hit]], [at[hit]], [caps.amount_e[hit]]
    cols = rows.preempt
    if cols is not None:
        table = problem.preempt
        t = table.period_e[cols.entry]
        for kind, q in ((PK_BUDGET, Q_COST), (PK_CARBON, Q_CARBON)):
            row.append(caps.row_tk[t, kind])
            col.append(cols.z)
            coef.append(table.amount_qe[q, cols.entry] * caps.scale)
        first = np.array([table.period_e[table.entries_of(int(c))[0]] for c in cols.choice])
        row.append(caps.row_tk[first.astype(np.int64), PK_BUDGET].reshape(-1))
        col.append(cols.y)
        coef.append(table.fixed_usd_per_h_c[cols.choice] * caps.scale)
    _migrate_terms(problem, rows.migrate, row, col, coef)
    row, col, coef = (np.concatenate(a) for a in (row, col, coef))
    keep = coef != 0.0
    row, col, coef = row[keep].astype(np.int64), col[keep].astype(np.int64), coef[keep]
    order = np.lexsort((col, row))
    row, col, coef = row[order], col[order], coef[order]
    starts = np.searchsorted(row, np.arange(caps.num_caps + 1))
    # the slacks priced in period t's budget row: start-ups and soft rows' excess
    slack_t: dict[int, list[int]] = {}
    for i, t in enumerate(rows.slack_period):
        if t >= 0:
            slack_t.setdefault(int(t), []).append(i)
    for c in range(caps.num_caps):
        cap = float(caps.cap_c[c])
        if not math.isfinite(cap):
            continue
        a, b = starts[c], starts[c + 1]
        slacks = slack_t.get(int(caps.period_c[c]), []) if caps.kind_c[c] == PK_BUDGET else []
        most = float(coef[a:b].sum())
        most += sum(rows.slack_ub[i] * rows.slack_price[i] * caps.scale for i in slacks)
        if most <= cap:
            continue  # it cannot bind
        name = f"{PERIOD_KINDS[int(caps.kind_c[c])]}[{int(caps.period_c[c])}]"
        rows.add(name, col[a:b], coef[a:b], -math.inf, cap)
        r = len(rows.names) - 1
        rows.slack_terms += [(r, i, rows.slack_price[i] * caps.scale) for i in slacks]


def _migrate_terms(problem: Problem, cols, row: list, col: list, coef: list) -> None:
    """Appends the terms of the runs that migrate (`migrate_rows.MigrateColumns`) to (7):
    z[c,t]'s cost and carbon in t, each move m[c,t]'s USD in t, and the dataset's egress
    g[v,k] (once per site) in the first period of the run's window, as
    `usage.schedule_spend` and the verifier count them."""
    if cols is None:
        return
    caps, table = problem.period_caps, problem.preempt
    assert caps is not None and table is not None
    t = table.period_e[cols.entry].astype(np.int64)
    for kind, q in ((PK_BUDGET, Q_COST), (PK_CARBON, Q_CARBON)):
        row.append(caps.row_tk[t, kind])
        col.append(cols.z)
        coef.append(table.amount_qe[q, cols.entry] * caps.scale)
    run_e = table.run_c[table.choice_e[cols.entry]]
    move = np.nan_to_num(np.asarray(table.move_usd_per_h_v, float))[run_e]
    paid = move > 0
    row.append(caps.row_tk[t[paid], PK_BUDGET])
    col.append(cols.m[paid])
    coef.append(move[paid] * caps.scale)
    if cols.g.size:
        fixed = table.fixed_usd_per_h_c[table.choice_e[cols.entry]]
        first = {int(v): int(t[run_e == v].min()) for v in np.unique(run_e).tolist()}
        at_g = np.array([first[int(run_e[at[0]])] for at in cols.g_entry], np.int64)
        row.append(caps.row_tk[at_g, PK_BUDGET])
        col.append(cols.g)
        coef.append(np.array([fixed[at].max() for at in cols.g_entry]) * caps.scale)
