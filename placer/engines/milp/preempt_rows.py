"""The preemption rows of the placement MILP: preemptible training runs that pause and
resume within their window, in one pool (`Problem.preempt`, `placer.problem.preempt`,
docs/time.md). Runs that may migrate between pools are `migrate_rows`' instead.

For each preemptible unit u and pool p it may use (a choice c), besides its contiguous
options' x[u,o] (kept: a schedule of one segment is mostly cheaper as the option, which
pays its partial last period for the hours it runs, and the hint and every other engine
speak options), binaries y[c] (u runs preempted on p) and z[c,t] (it runs in period t of
its window), and a continuous s[c,t] in [0, 1] (a segment starts in t):

    z[c,t] - y[c] <= 0                                                    (5a) link
    z[c,t] - z[c,t-1] - s[c,t] <= 0    (z[c,t-1] = 0 at the window's start) (5b) starts
    sum_t s[c,t] - y[c] >= 0                                              (5c) one segment
    sum_t ph z[c,t] - o[u] sum_t s[c,t] - (h[c] - o[u]) y[c] >= 0         (5d) running time

with ph the period's hours, h[c] the run's hours on p and o[u] its restore overhead per
resume: (5d) is sum_t ph z >= h y + o (sum_t s - y). A run that goes on from the period
before the problem's (`Preempt.continues_v`, a rolling re-plan) pays the overhead for
every segment it starts, its first included, and a segment in period 0 continues it:
(5b) is not written for period 0 (s there is free, so 0), nor (5c), and (5d') reads
sum_t ph z >= h y + o sum_t s. The place-once row (1) of u holds its
x and its y. z[c,t] charges the rows a one-period option of p in t charges (pool GPUs,
site kW and water, soft facility rows, the budget and the carbon cap) and its period's
objective; y[c] the choice's fixed objective (the dataset's egress) and budget share,
less u's unplaced value (as x does). s only tightens (5d), so at an optimum
s[c,t] = max(0, z[c,t] - z[c,t-1]): the segment starts, and the model is exact.

The columns are numbered after the x (`_Rows.extra_*`); only `build_model(preempt=True)`
writes them (the `milp` solver's path; the engines that call the MILP on their own
sub-problems place preemptible runs contiguously).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from placer.problem.form import Problem
from placer.problem.preempt import Schedule, contiguous_option
from placer.problem.rows import K_BUDGET, global_row


class PreemptColumns(NamedTuple):
    """The preemption variables of a model (C' choices, E' entries written).

    Attributes:
      choice: int64[C'], the choices written (indices into `Preempt`).
      y: int64[C'], the column of y of each.
      entry: int64[E'], the entries written.
      z, s: int64[E'], the columns of z and s of each.
      unit: int64[C'], the unit of each choice.
    """

    choice: np.ndarray
    y: np.ndarray
    entry: np.ndarray
    z: np.ndarray
    s: np.ndarray
    unit: np.ndarray


def preempt_columns(rows, problem: Problem, first: int, candidates_u=None) -> PreemptColumns | None:
    """Declares y, z, s on `rows` (a `formulation._Rows`) from column `first`; None
    without `problem.preempt`. With `candidates_u`, a unit's choices are the pools of its
    candidate options."""
    table = problem.preempt
    if table is None:
        return None
    unit_c = table.unit_v[table.run_c].astype(np.int64)
    keep = ~table.migrates_v[table.run_c]  # a run that migrates: `migrate_rows`
    if candidates_u is not None:
        for c, u in enumerate(unit_c.tolist()):
            allowed = np.asarray(candidates_u[u], np.int64)
            keep[c] = keep[c] and (
                (allowed.size == 0) or bool(np.isin(table.pool_c[c], problem.pool_o[allowed]))
            )
    choice = np.flatnonzero(keep)
    if choice.size == 0:
        return None
    entry = np.flatnonzero(keep[table.choice_e])
    n_c, n_e = choice.size, entry.size
    y = first + np.arange(n_c)
    z = first + n_c + np.arange(n_e)
    s = first + n_c + n_e + np.arange(n_e)
    value = problem.unplaced_usd_per_h_u[unit_c[choice]]
    rows.add_columns(
        [f"y[{c}]" for c in choice.tolist()],
        np.ones(n_c),
        True,
        table.fixed_usd_per_h_c[choice] - value,
    )
    rows.add_columns(
        [f"z[{table.choice_e[e]},{table.period_e[e]}]" for e in entry.tolist()],
        np.ones(n_e),
        True,
        table.objective_usd_per_h_e[entry],
    )
    rows.add_columns(
        [f"s[{table.choice_e[e]},{table.period_e[e]}]" for e in entry.tolist()],
        np.ones(n_e),
        False,
        np.zeros(n_e),
    )
    return PreemptColumns(choice, y, entry, z, s, unit_c[choice])


def place_once_columns(cols: PreemptColumns | None) -> dict[int, np.ndarray]:
    """unit -> its y columns (in its place-once row (1))."""
    if cols is None:
        return {}
    out: dict[int, list[int]] = {}
    for u, y in zip(cols.unit.tolist(), cols.y.tolist(), strict=True):
        out.setdefault(u, []).append(y)
    return {u: np.array(v, np.int64) for u, v in out.items()}


def entry_terms(table, entry: np.ndarray, z: np.ndarray):
    """(row, column, coefficient, quantity) int64/float64[n] of what each entry's run
    variable z (column index per entry) charges to the rows its period's terms name."""
    rows = table.row_ej[entry]
    keep = rows >= 0
    q = table.quantity_ej[entry]
    coef = table.amount_qe[q, entry[:, None]]
    if table.scale_ej is not None:
        coef = coef * table.scale_ej[entry]
    var = np.broadcast_to(z[:, None], rows.shape)
    return rows[keep], var[keep], coef[keep], q[keep]


def capacity_terms(problem: Problem, cols: PreemptColumns | None):
    """(row, column, coefficient, quantity) of what z (and y's fixed cost, on the
    budget row) charge; None without columns."""
    if cols is None:
        return None
    table = problem.preempt
    assert table is not None
    row, var, coef, q = entry_terms(table, cols.entry, cols.z)
    budget = global_row(problem.kind_r, K_BUDGET)
    fixed = table.fixed_usd_per_h_c[cols.choice]
    if budget >= 0 and (fixed > 0).any():
        from placer.problem.rows import Q_COST

        at = np.flatnonzero(fixed > 0)
        row = np.concatenate([row, np.full(at.size, budget)])
        var = np.concatenate([var, cols.y[at]])
        coef = np.concatenate([coef, fixed[at]])
        q = np.concatenate([q, np.full(at.size, Q_COST, np.int8)])
    return row.astype(np.int64), var.astype(np.int64), coef.astype(float), q.astype(np.int8)


def add_preempt_rows(rows, problem: Problem, cols: PreemptColumns | None) -> None:
    """Writes (5a)-(5d) on `rows`; nothing without columns."""
    if cols is None:
        return
    table = problem.preempt
    assert table is not None
    ph = float(table.period_hours)
    choice_of_entry = table.choice_e[cols.entry]
    for i, c in enumerate(cols.choice.tolist()):
        at = np.flatnonzero(choice_of_entry == c)
        z, s, y = cols.z[at], cols.s[at], int(cols.y[i])
        period = table.period_e[cols.entry[at]]
        overhead = float(table.overhead_h_v[table.run_c[c]])
        need = float(table.need_h_c[c])
        goes_on = table.continues(int(table.run_c[c]))
        for k in range(at.size):
            rows.add(f"preempt_link[{c},{k}]", [z[k], y], [1.0, -1.0], -math.inf, 0.0)
            if k and period[k] == period[k - 1] + 1:
                cols_k, coef_k = [z[k], z[k - 1], s[k]], [1.0, -1.0, -1.0]
            elif goes_on and period[k] == 0:
                continue  # (5b') running on from the period before: no segment starts
            else:
                cols_k, coef_k = [z[k], s[k]], [1.0, -1.0]
            rows.add(f"preempt_start[{c},{k}]", cols_k, coef_k, -math.inf, 0.0)
        if not goes_on:  # (5c'): a run that goes on may run in one segment it did not start
            rows.add(
                f"preempt_segment[{c}]",
                np.append(s, y),
                np.append(np.ones(s.size), -1.0),
                0.0,
                math.inf,
            )
        free = 0.0 if goes_on else overhead  # (5d'): every start counts
        rows.add(
            f"preempt_time[{c}]",
            np.concatenate([z, s, [y]]),
            np.concatenate([np.full(z.size, ph), np.full(s.size, -overhead), [free - need]]),
            -1e-9,
            math.inf,
        )


def read_schedule(
    problem: Problem, cols: PreemptColumns | None, value_of, assign: np.ndarray
) -> Schedule | None:
    """The preempted runs of a solution (`value_of(column) -> float`): unit -> (pool,
    periods); a run of one segment of its contiguous option's length becomes that option
    in `assign` (updated in place). None without columns."""
    if cols is None:
        return None
    table = problem.preempt
    assert table is not None
    out: Schedule = {}
    choice_of_entry = table.choice_e[cols.entry]
    for i, c in enumerate(cols.choice.tolist()):
        if value_of(int(cols.y[i])) <= 0.5:
            continue
        at = np.flatnonzero(choice_of_entry == c)
        periods = tuple(
            int(table.period_e[cols.entry[k]]) for k in at if value_of(int(cols.z[k])) > 0.5
        )
        u, pool = int(cols.unit[i]), int(table.pool_c[c])
        option = contiguous_option(table, c, periods)
        if option >= 0 and (problem.option_uk[u] == option).any():
            assign[u] = option
        else:
            out[u] = (pool, periods)
    return out
