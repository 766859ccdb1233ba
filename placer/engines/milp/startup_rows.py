"""The start-up rows of the placement MILP: replicas added from one period to the next
(`Problem.startup`, `placer.problem.startup`, docs/time.md).

For each service w, pool p and period t >= 1 such that some variable of a unit of
(w, t) runs on p, a continuous v[w,p,t] >= 0 with

    sum_{x[u,o]: u of (w, t), o on p} r[u,o] x[u,o]
      - sum_{x[u,o]: u of (w, t-1), o on p} r[u,o] x[u,o] - v[w,p,t] <= 0        (4)

priced c[w] = startup_usd_per_replica / horizon hours (USD/h) in (0) and in the budget
row (a start-up is a cost); r[u,o] is the unit's replicas in the option. Where no unit of
(w, t) may run on p, n[w,p,t] = 0 and nothing starts. At an optimum v[w,p,t] =
max(0, n[w,p,t] - n[w,p,t-1]), so (4) is exact. v is written as the slack of a row with
cap 0 (`_Rows.add_slack`: its objective and budget terms, and a hint's value). A service
that states `running_replicas` n[w,p,-1] also has, for period 0,

    sum_{x[u,o]: u of (w, 0), o on p} r[u,o] x[u,o] - v[w,p,0] <= n[w,p,-1]            (4')
"""

from __future__ import annotations

import math

import numpy as np

from placer.problem.form import Problem


def add_startup_rows(rows, problem: Problem, pairs: np.ndarray, slot: np.ndarray) -> None:
    """Writes (4) on `rows` (a `formulation._Rows`) over the x of `pairs` (int[N, 2], unit
    and option) with their `slot`s (int[N]); nothing without `problem.startup`."""
    table = problem.startup
    if table is None or pairs.size == 0:
        return
    units = pairs[:, 0]
    var = np.flatnonzero(table.service_u[units] >= 0)
    if var.size == 0:
        return
    n_t, n_p = max(1, int(table.periods)), max(1, problem.num_pools)
    service = table.service_u[units[var]].astype(np.int64)
    pool = problem.pool_o[pairs[var, 1]].astype(np.int64)
    key = (service * n_p + pool) * n_t + table.period_u[units[var]]
    replicas = table.replicas_uk[units[var], slot[var]].astype(float)
    order = np.argsort(key, kind="stable")
    key, var, replicas = key[order], var[order], replicas[order]
    first = table.charged_from_period()
    for k in np.unique(key).tolist():
        t, w, p = k % n_t, k // n_t // n_p, (k // n_t) % n_p
        if t < first[w]:
            continue  # period 0's replicas are the starting fleet
        a, b = np.searchsorted(key, [k, k + 1])
        if t == 0:  # against the replicas running before the horizon (4')
            cols, coef = var[a:b], replicas[a:b]
            cap = float(max(table.before_wp[w, p], 0))
        else:
            c, d = np.searchsorted(key, [k - 1, k])  # the same service and pool in t - 1
            cols = np.concatenate([var[a:b], var[c:d]])
            coef = np.concatenate([replicas[a:b], -replicas[c:d]])
            cap = 0.0
        rows.add(f"startup[{w},{p},{t}]", cols, coef, -math.inf, cap)
        rows.add_slack(len(rows.names) - 1, cols, coef, cap, float(table.usd_per_h_w[w]), t)
