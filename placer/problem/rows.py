"""The capacity rows of a compiled problem, as one table (either form).

A row is one capacity: the GPUs of a pool; the IT, facility and heat kW and the water L/h
of a site; the budget; the carbon cap. Row order (shared by every engine that prices or
checks rows):

    [0, P)              pool GPU rows, pool order
    [P, P + 4 S)        four rows per site, site-major: IT kW, facility kW, heat kW, water L/h
    P + 4 S             the budget, USD/h
    P + 4 S + 1         the carbon cap, kg/h

Each (unit, pool) choice uses one row of each kind: its pool's GPU row, its site's four
rows and the two global rows; its amount on a row of kind k is the Problem's pair table
`PAIR_TABLES[k]`. Engines that only compare loads with capacities, price rows or name
binding rows read this table instead of naming resources.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: Row kinds, in row order within a scope; the names capacity prices are reported under.
ROW_KINDS: tuple[str, ...] = (
    "gpus",
    "it_kw",
    "facility_kw",
    "heat_kw",
    "water_l_per_h",
    "budget_usd_per_h",
    "carbon_kg_per_h",
)
#: Pair table (name without its `_up` / `_uk` suffix) each row kind sums.
PAIR_TABLES: tuple[str, ...] = (
    "gpus",
    "it_kw",
    "facility_kw",
    "heat_kw",
    "water_l_per_h",
    "cost_usd_per_h",
    "carbon_kg_per_h",
)
SITE_KINDS = ROW_KINDS[1:5]
SITE_ROWS = len(SITE_KINDS)
#: What `violations` says when rows of a kind are over capacity.
OVER_MESSAGES: tuple[str, ...] = (
    "gpus over capacity",
    "it_kw over capacity",
    "facility_kw over capacity",
    "heat_kw over capacity",
    "water over capacity",
    "budget exceeded",
    "carbon cap exceeded",
)


class RowTable(NamedTuple):
    """Every capacity row of a problem (R = P + 4 S + 2).

    Attributes:
      kind_r: int8[R], index into `ROW_KINDS`.
      scope_r: int32[R], the pool (GPU rows) or site (site rows) of the row; -1 global.
      cap_r: float64[R], capacity after headroom, in the kind's unit (inf: no cap).
    """

    kind_r: np.ndarray
    scope_r: np.ndarray
    cap_r: np.ndarray

    @property
    def num_rows(self) -> int:
        return int(self.cap_r.shape[0])


def row_table(problem) -> RowTable:
    """The rows of a Problem or SparseProblem (only per-pool, per-site and global fields
    are read, so both forms give the same table)."""
    n_p, n_s = problem.num_pools, problem.num_sites
    site_caps = np.stack(
        [
            problem.it_cap_kw_s,
            problem.facility_cap_kw_s,
            problem.heat_cap_kw_s,
            problem.water_cap_l_per_h_s,
        ],
        axis=1,
    ).ravel()
    cap = np.concatenate(
        [
            np.asarray(problem.gpu_cap_p, float),
            site_caps,
            [float(problem.budget_usd_per_h), float(problem.carbon_cap_kg_per_h)],
        ]
    )
    kind = np.concatenate(
        [
            np.zeros(n_p, np.int8),
            np.tile(np.arange(1, 1 + SITE_ROWS, dtype=np.int8), n_s),
            np.array([5, 6], np.int8),
        ]
    )
    scope = np.concatenate(
        [
            np.arange(n_p, dtype=np.int32),
            np.repeat(np.arange(n_s, dtype=np.int32), SITE_ROWS),
            np.array([-1, -1], np.int32),
        ]
    )
    return RowTable(kind, scope, cap)


def option_rows(problem) -> np.ndarray:
    """int64[P, 7]: the row each kind of `ROW_KINDS` (column) of a choice of pool p lands
    on, in `row_table` order: its pool's GPU row, its site's four rows, the two global rows."""
    n_p, n_s = problem.num_pools, problem.num_sites
    site_p = np.asarray(problem.pool_site_p, np.int64)
    out = np.empty((n_p, len(ROW_KINDS)), np.int64)
    out[:, 0] = np.arange(n_p)
    out[:, 1 : 1 + SITE_ROWS] = n_p + SITE_ROWS * site_p[:, None] + np.arange(SITE_ROWS)
    out[:, 5] = n_p + SITE_ROWS * n_s
    out[:, 6] = n_p + SITE_ROWS * n_s + 1
    return out


def loads_by_row(loads) -> np.ndarray:
    """float64[R]: a `placer.problem.usage.Loads` laid out in `row_table` order, in each
    row's unit (`usage.row_loads(problem, assign_u)` computes it for a plan)."""
    site = np.stack(
        [loads.it_kw_s, loads.facility_kw_s, loads.heat_kw_s, loads.water_l_per_h_s], axis=1
    )
    return np.concatenate(
        [loads.gpus_p, site.ravel(), [loads.cost_usd_per_h, loads.carbon_kg_per_h]]
    )


def over_capacity(loads_r: np.ndarray, cap_r: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """bool[R]: rows whose load exceeds the capacity beyond a relative and absolute tol."""
    return loads_r > cap_r * (1 + tol) + tol


def row_labels(
    table: RowTable, values_r: np.ndarray, min_value: float = 1e-6
) -> list[tuple[int, str, float]]:
    """(scope, kind name, value) of every row whose value is above `min_value`, largest
    first (ties in row order): how capacity prices are reported."""
    rows = np.flatnonzero(values_r[: table.num_rows] > min_value)
    out = [(int(table.scope_r[r]), ROW_KINDS[table.kind_r[r]], float(values_r[r])) for r in rows]
    return sorted(out, key=lambda row: -row[2])
