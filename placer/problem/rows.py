"""What a capacity row and a quantity are: the names, units and rules behind the numbers.

A compiled problem (`placer.problem.form.Problem`) charges each option's amounts of a
few *quantities* (GPUs, kW, L/h, USD/h, kg/h: `QUANTITIES`) to *capacity rows*; a row
has a kind (`ROW_KINDS`), a scope (the pool or site it belongs to, -1 for the whole
plan) and a capacity. Engines read rows only through these tables: they price rows,
compare loads with capacities and weigh violations by kind, and never name a
resource. Only compile (which creates rows) and the plan / analysis layers (which name
them for people) read the names below.

Row layout of a compiled scenario (`standard_rows`), the order every engine and every
capacity-price index shares:

    [0, P)              pool GPU rows, pool order
    [P, P + 4 S)        four rows per site, site-major: IT kW, facility kW, heat kW, water L/h
    P + 4 S             the budget, USD/h
    P + 4 S + 1         the carbon cap, kg/h
    P + 4 S + 2 ...     node rows (`node_slots`), only for pools that list node shapes:
                        one per pool and pod size level that can bind, then six MIG rows
                        (`mig_slices`) per pool with MIG nodes (docs/nodes.md)

and a static option (a pool p at site s) uses seven rows (`STANDARD_TERMS`): its pool's
GPU row (GPUs), its site's IT row (IT kW), facility row (facility kW), heat row (IT kW:
the heat to reject is the IT power), water row (water L/h), the budget (cost) and the
carbon cap (carbon).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: The amounts an option consumes, in the order of `Problem.amount_quk`.
QUANTITIES: tuple[str, ...] = (
    "gpus",
    "it_kw",
    "facility_kw",
    "water_l_per_h",
    "cost_usd_per_h",
    "carbon_kg_per_h",
)
Q_GPUS, Q_IT_KW, Q_FACILITY_KW, Q_WATER, Q_COST, Q_CARBON = range(len(QUANTITIES))
#: Quantities a problem with node shapes adds after `QUANTITIES` (docs/nodes.md): the GPU
#: slots of the pods of each size level or more (`placer.model.nodes.POD_LEVELS`), 0 for
#: smaller pods. A problem without node shapes has only `QUANTITIES`.
NODE_QUANTITIES: tuple[str, ...] = tuple(
    f"pod_slots_{s:g}gpu_up" for s in (0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64)
)
Q_NODE_FIRST = len(QUANTITIES)
#: Quantities of the six MIG rows (`placer.model.mig.MIG_ROWS`) after the node ones.
MIG_QUANTITIES: tuple[str, ...] = (
    "mig_a_halves",
    "mig_halves",
    "mig_quarters",
    "mig_2g_quarters",
    "mig_compute_slices",
    "mig_memory_slices",
)
Q_MIG_FIRST = Q_NODE_FIRST + len(NODE_QUANTITIES)


def quantity_name(q: int) -> str:
    """The name of quantity q of a problem (base, node level or MIG row)."""
    return (QUANTITIES + NODE_QUANTITIES + MIG_QUANTITIES)[q]


class RowKind(NamedTuple):
    """One kind of capacity row.

    Attributes:
      name: the name capacity prices and fixes are reported under ("it_kw").
      unit: the unit of its amounts ("kW").
      scope: "pool", "site" or "global": what one row of the kind belongs to.
      whole: amounts are whole counts (GPUs): loads get an absolute tolerance, and
        knapsack bounds may treat them as integer sizes.
      penalty: USD/h per unit over capacity in the kernels' penalized score.
      violation: the name of its excess in kernel and plan scores ("it_over").
      message: what `usage.violations` says when a row of the kind is over capacity.
    """

    name: str
    unit: str
    scope: str
    whole: bool
    penalty: float
    violation: str
    message: str


ROW_KINDS: tuple[RowKind, ...] = (
    RowKind("gpus", "GPU", "pool", True, 1e4, "gpus_over", "gpus over capacity"),
    RowKind("it_kw", "kW", "site", False, 1e4, "it_over", "it_kw over capacity"),
    RowKind("facility_kw", "kW", "site", False, 1e4, "facility_over", "facility_kw over capacity"),
    RowKind("heat_kw", "kW", "site", False, 1e4, "heat_over", "heat_kw over capacity"),
    RowKind("water_l_per_h", "L/h", "site", False, 1e2, "water_over", "water over capacity"),
    RowKind("budget_usd_per_h", "USD/h", "global", False, 1e2, "budget_over", "budget exceeded"),
    RowKind("carbon_kg_per_h", "kg/h", "global", False, 1e2, "carbon_over", "carbon cap exceeded"),
    RowKind("node_slots", "GPU", "pool", False, 1e4, "nodes_over", "pods do not fit the nodes"),
    RowKind("mig_slices", "slice", "pool", True, 1e4, "mig_over", "MIG instances do not fit"),
)
KIND_NAMES: tuple[str, ...] = tuple(k.name for k in ROW_KINDS)
K_GPUS, K_IT, K_FACILITY, K_HEAT, K_WATER, K_BUDGET, K_CARBON, K_NODES, K_MIG = range(
    len(ROW_KINDS)
)
SITE_KINDS: tuple[int, ...] = tuple(i for i, k in enumerate(ROW_KINDS) if k.scope == "site")
#: Per kind: penalty weight, whole-count flag, scope code (0 pool, 1 site, 2 global).
KIND_PENALTY = np.array([k.penalty for k in ROW_KINDS])
KIND_WHOLE = np.array([k.whole for k in ROW_KINDS])
KIND_SCOPE = np.array([("pool", "site", "global").index(k.scope) for k in ROW_KINDS], np.int8)
VIOLATIONS: tuple[str, ...] = tuple(k.violation for k in ROW_KINDS)

#: The (row kind, quantity) of each term of a static option, in term order.
STANDARD_TERMS: tuple[tuple[int, int], ...] = (
    (K_GPUS, Q_GPUS),
    (K_IT, Q_IT_KW),
    (K_FACILITY, Q_FACILITY_KW),
    (K_HEAT, Q_IT_KW),
    (K_WATER, Q_WATER),
    (K_BUDGET, Q_COST),
    (K_CARBON, Q_CARBON),
)


class Rows(NamedTuple):
    """Capacity rows and the rows each option uses (R rows, O options, J terms).

    Attributes:
      cap_r: float64[R], capacity after headroom, in the kind's unit (inf: no cap).
      kind_r: int8[R], index into `ROW_KINDS`.
      scope_r: int32[R], the pool or site the row belongs to; -1 for global rows.
      row_oj: int32[O, J], the rows option o charges (-1: none); distinct per option.
      quantity_oj: int8[O, J], the quantity (index into `QUANTITIES`) charged to each.
    """

    cap_r: np.ndarray
    kind_r: np.ndarray
    scope_r: np.ndarray
    row_oj: np.ndarray
    quantity_oj: np.ndarray


def standard_rows(
    pool_site_p: np.ndarray,
    gpu_cap_p: np.ndarray,
    site_caps_sk: np.ndarray,
    budget_usd_per_h: float,
    carbon_cap_kg_per_h: float,
) -> Rows:
    """The rows of a static problem whose options are its pools (O = P).

    Args:
      pool_site_p: int[P], site of each pool.
      gpu_cap_p: float64[P], GPUs usable in each pool.
      site_caps_sk: float64[S, 4], IT, facility, heat kW and water L/h per site.
      budget_usd_per_h, carbon_cap_kg_per_h: global caps (inf: none).
    """
    site_p = np.asarray(pool_site_p, np.int64)
    n_p, n_s = site_p.size, int(np.asarray(site_caps_sk).shape[0])
    n_site_kinds = len(SITE_KINDS)
    cap = np.concatenate(
        [
            np.asarray(gpu_cap_p, float),
            np.asarray(site_caps_sk, float).reshape(n_s * n_site_kinds),
            [float(budget_usd_per_h), float(carbon_cap_kg_per_h)],
        ]
    )
    kind = np.concatenate(
        [
            np.full(n_p, K_GPUS, np.int8),
            np.tile(np.array(SITE_KINDS, np.int8), n_s),
            np.array([K_BUDGET, K_CARBON], np.int8),
        ]
    )
    scope = np.concatenate(
        [
            np.arange(n_p, dtype=np.int32),
            np.repeat(np.arange(n_s, dtype=np.int32), n_site_kinds),
            np.array([-1, -1], np.int32),
        ]
    )
    first_global = n_p + n_site_kinds * n_s
    row = np.empty((n_p, len(STANDARD_TERMS)), np.int32)
    for j, (kind_j, _) in enumerate(STANDARD_TERMS):
        if kind_j == K_GPUS:
            row[:, j] = np.arange(n_p)
        elif kind_j in SITE_KINDS:
            row[:, j] = n_p + n_site_kinds * site_p + SITE_KINDS.index(kind_j)
        else:
            row[:, j] = first_global + (kind_j - K_BUDGET)
    quantity = np.tile(np.array([q for _, q in STANDARD_TERMS], np.int8), (n_p, 1))
    return Rows(cap, kind, scope, row, quantity)


def over_capacity(loads_r: np.ndarray, cap_r: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """bool[R]: rows whose load exceeds the capacity beyond a relative and absolute tol."""
    return loads_r > cap_r * (1 + tol) + tol


#: What capacity prices call a soft row (`Problem.over_usd_per_h_r`, a priced grid
#: event's facility row): its kind's name and this ("facility_kw (priced cap)").
SOFT_LABEL = " (priced cap)"


def kind_label(kind: int, soft: bool = False) -> str:
    """The name a row of `kind` is reported under; a soft row's ends in SOFT_LABEL."""
    return KIND_NAMES[kind] + (SOFT_LABEL if soft else "")


def label_kind(label: str) -> str:
    """The kind name of a reported row label (`kind_label`'s inverse on the name)."""
    return label.removesuffix(SOFT_LABEL)


def row_labels(
    kind_r: np.ndarray,
    scope_r: np.ndarray,
    values_r: np.ndarray,
    min_value: float = 1e-6,
    soft_r: np.ndarray | None = None,
) -> list[tuple[int, str, float]]:
    """(scope, kind label, value) of every row whose value is above `min_value`, largest
    first (ties in row order): how capacity prices are reported. `soft_r` (bool[R]):
    soft rows, labelled apart (`kind_label`)."""
    n_rows = kind_r.shape[0]
    rows = np.flatnonzero(np.asarray(values_r)[:n_rows] > min_value)
    soft = np.zeros(n_rows, bool) if soft_r is None else soft_r
    out = [
        (int(scope_r[r]), kind_label(kind_r[r], bool(soft[r])), float(values_r[r])) for r in rows
    ]
    return sorted(out, key=lambda row: -row[2])


def rows_of_kind(kind_r: np.ndarray, scope_r: np.ndarray, kind: int, n_scopes: int) -> np.ndarray:
    """int64[n_scopes]: the row of `kind` of each scope (pool or site), -1 where none."""
    out = np.full(n_scopes, -1, np.int64)
    rows = np.flatnonzero(kind_r == kind)
    out[scope_r[rows]] = rows
    return out


def global_row(kind_r: np.ndarray, kind: int) -> int:
    """The row of a global kind (the budget, the carbon cap), or -1 if there is none."""
    rows = np.flatnonzero(kind_r == kind)
    return int(rows[0]) if rows.size else -1
