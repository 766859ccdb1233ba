"""Placement MILP over the compiled Problem.

Data (Problem):  c[u,p] objective USD/h; v[u] value lost if u is unplaced, USD/h;
  g[u,p] GPUs; it[u,p], f[u,p], h[u,p] IT / facility / heat kW; w[u,p] water L/h;
  $[u,p] cost USD/h; e[u,p] carbon kg/h; G[p] GPU cap; IT[s], F[s], H[s], W[s] site caps
  (after headroom); B budget USD/h; E carbon cap kg/h; K(g,p) spread key of pool p for
  redundancy group g; A[u,p] allowed (mask: accelerator, memory, latency, residency,
  cooling type and density, pins, deadline, size).
Variables: x[u,p] in {0,1} for allowed pairs (and the unit's candidate pools, if given):
  1 if unit u runs in pool p. Unit u is unplaced when sum_p x[u,p] = 0.
Model:
  min  sum_up c[u,p] x[u,p] + sum_u v[u] (1 - sum_p x[u,p])                   (0)
  s.t. sum_p x[u,p] <= 1 for all u;  = 1 when u must be placed                (1) place once
       sum_u g[u,p] x[u,p] <= G[p]                       for all p            (2) GPUs
       sum_{u, p in s} it[u,p] x[u,p] <= IT[s]           for all s            (3) IT power
       sum_{u, p in s} f[u,p] x[u,p] <= F[s]             for finite F[s]      (4) facility power
       sum_{u, p in s} h[u,p] x[u,p] <= H[s]             for all s            (5) heat / cooling
       sum_{u, p in s} w[u,p] x[u,p] <= W[s]             for finite W[s]      (6) water
       sum_{u in g, p: K(g,p)=k} x[u,p] <= 1             for all g, k         (7) redundancy
       sum_up $[u,p] x[u,p] <= B   (if B finite)                              (8) budget
       sum_up e[u,p] x[u,p] <= E   (if E finite)                              (9) carbon cap
  A gang (a training unit) is one x[u,p]: all its GPUs in one pool of one site.
  Lexicographic mode: first max sum_u v[u] sum_p x[u,p]; then (0) with that value kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from ortools.math_opt import model_pb2
from ortools.math_opt.python import mathopt

from placer.problem.form import Problem
from placer.problem.sparse_form import SparseProblem
from placer.problem.usage import allowed_mask, pair_table

#: Site capacity rows: (constraint family number, name, Problem field of the pair
#: coefficient, Problem field of the capacity).
SITE_FAMILIES = (
    (3, "it_kw", "it_kw_up", "it_cap_kw_s"),
    (4, "facility_kw", "facility_kw_up", "facility_cap_kw_s"),
    (5, "heat_kw", "heat_kw_up", "heat_cap_kw_s"),
    (6, "water_l_per_h", "water_l_per_h_up", "water_cap_l_per_h_s"),
)
#: Variable names are written only for models up to this size (they cost build time).
MAX_NAMED_VARIABLES = 50_000


@dataclass
class Formulation:
    """A built model and the handles needed to read it back.

    Attributes:
      model: the MathOpt model.
      pairs: int[N, 2] (unit, pool) of each variable, in variable order.
      x: the N variables.
      capacity_rows: (index, resource, constraint) of every capacity row: a pool index for
        "gpus", a site index for kW and L/h rows, -1 for the global budget and carbon caps.
      value_n: float64[N], v[u] of each variable's unit (placed value, USD/h).
      objective_const: sum_u v[u], the constant of (0), USD/h.
      integer: binary variables (False: the LP relaxation).
    """

    model: mathopt.Model
    pairs: np.ndarray
    x: list[mathopt.Variable]
    capacity_rows: list[tuple[int, str, mathopt.LinearConstraint]] = field(default_factory=list)
    value_n: np.ndarray | None = None
    objective_const: float = 0.0
    integer: bool = True

    def placed_value(self) -> mathopt.LinearExpression:
        """sum_u v[u] sum_p x[u,p]: the value of the placed units, USD/h."""
        return mathopt.fast_sum(
            c * v for c, v in zip(self.value_n.tolist(), self.x, strict=True) if c != 0.0
        )


def allowed_pairs(problem: Problem | SparseProblem, candidates_u=None) -> np.ndarray:
    """(unit, pool) pairs that get a variable: int[N, 2], sorted by unit then pool."""
    return _variables(problem, candidates_u)[0]


def _variables(
    problem: Problem | SparseProblem, candidates_u=None
) -> tuple[np.ndarray, np.ndarray]:
    """(pairs int[N, 2] (unit, pool), columns int[N]) of the variables, sorted by unit
    then pool; a column indexes the unit's row of `pair_table` (the pool when dense, its
    slot when sparse). `candidates_u`: per unit, the pools it may use, or None (all)."""
    mask = allowed_mask(problem)
    sparse = isinstance(problem, SparseProblem)
    if candidates_u is not None:
        keep = np.zeros_like(mask)
        for u, pools in enumerate(candidates_u):
            pools = np.asarray(pools, dtype=np.int64)
            if sparse:  # keep the listed ones only, by their slots
                n = int(mask[u].sum())
                slots = np.searchsorted(problem.pool_uk[u, :n], pools)
                slots = slots[(slots < n) & (problem.pool_uk[u, np.minimum(slots, n - 1)] == pools)]
                keep[u, slots] = True
            else:
                keep[u, pools] = True
        mask = mask & keep
    u, col = np.nonzero(mask)
    pool = problem.pool_uk[u, col].astype(np.int64) if sparse else col
    return np.stack([u, pool], axis=1).astype(np.int64), col


class _Rows:
    """Constraint rows collected as COO blocks, turned into a ModelProto at the end."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.row: list[np.ndarray] = []
        self.col: list[np.ndarray] = []
        self.val: list[np.ndarray] = []
        self.tags: list[tuple[int, str] | None] = []

    def add(
        self,
        name: str,
        cols: np.ndarray,
        vals: np.ndarray,
        lb: float,
        ub: float,
        tag: tuple[int, str] | None = None,
    ) -> None:
        r = len(self.names)
        self.names.append(name)
        self.lb.append(lb)
        self.ub.append(ub)
        self.row.append(np.full(len(cols), r, dtype=np.int64))
        self.col.append(np.asarray(cols, dtype=np.int64))
        self.val.append(np.asarray(vals, dtype=float))
        self.tags.append(tag)


def _groups(keys: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(key, variable indices) for each distinct key, in key order."""
    if keys.size == 0:
        return []
    order = np.argsort(keys, kind="stable")
    uniq, starts = np.unique(keys[order], return_index=True)
    ends = [*starts[1:].tolist(), len(order)]
    return [
        (int(k), order[a:b]) for k, a, b in zip(uniq.tolist(), starts.tolist(), ends, strict=True)
    ]


def build_model(
    problem: Problem | SparseProblem,
    *,
    candidates_u=None,
    integer: bool = True,
    name: str = "placement",
) -> Formulation:
    """Builds (0)-(9) from arrays; `integer=False` gives the LP relaxation (0 <= x <= 1).
    Reads either layout: the pair coefficients come from `pair_table`."""
    pairs, col = _variables(problem, candidates_u)
    u, p = pairs[:, 0], pairs[:, 1]
    coef = _PairCoefficients(problem, u, col)
    rows = _Rows()
    _add_place_once(rows, problem, u)  # (1)
    _add_gpu_caps(rows, problem, coef, p)  # (2)
    _add_site_caps(rows, problem, coef, p)  # (3)-(6)
    _add_redundancy(rows, problem, u, p)  # (7)
    _add_global_caps(rows, problem, coef)  # (8), (9)
    value_n = problem.unplaced_usd_per_h_u[u]
    reduced = coef("objective_usd_per_h") - value_n  # (0) without its constant
    const = float(problem.unplaced_usd_per_h_u.sum())
    proto = _to_proto(name, pairs, integer, reduced, const, rows)
    model = mathopt.Model.from_model_proto(proto)
    x = [model.get_variable(i) for i in range(len(pairs))]
    form = Formulation(
        model=model, pairs=pairs, x=x, value_n=value_n, objective_const=const, integer=integer
    )
    form.capacity_rows = [
        (tag[0], tag[1], model.get_linear_constraint(r))
        for r, tag in enumerate(rows.tags)
        if tag is not None
    ]
    return form


class _PairCoefficients:
    """`coef(name)`: float64[N], the pair table `name` ("gpus", "it_kw", ...) at every
    variable, in either layout."""

    def __init__(self, problem: Problem | SparseProblem, u: np.ndarray, col: np.ndarray) -> None:
        self.problem, self.u, self.col = problem, u, col

    def __call__(self, name: str) -> np.ndarray:
        return pair_table(self.problem, name)[self.u, self.col]


def _to_proto(name, pairs, integer, objective_n, const, rows: _Rows) -> model_pb2.ModelProto:
    n = len(pairs)
    proto = model_pb2.ModelProto(name=name)
    var = proto.variables
    var.ids.extend(range(n))
    var.lower_bounds.extend([0.0] * n)
    var.upper_bounds.extend([1.0] * n)
    var.integers.extend([integer] * n)
    if n <= MAX_NAMED_VARIABLES:
        var.names.extend(f"x[{a},{b}]" for a, b in pairs.tolist())
    proto.objective.maximize = False
    proto.objective.offset = const
    nz = np.nonzero(objective_n)[0]
    proto.objective.linear_coefficients.ids.extend(nz.tolist())
    proto.objective.linear_coefficients.values.extend(objective_n[nz].tolist())
    con = proto.linear_constraints
    con.ids.extend(range(len(rows.names)))
    con.lower_bounds.extend(rows.lb)
    con.upper_bounds.extend(rows.ub)
    con.names.extend(rows.names)
    if rows.row:
        r, c, v = (np.concatenate(a) for a in (rows.row, rows.col, rows.val))
        keep = v != 0.0
        r, c, v = r[keep], c[keep], v[keep]
        order = np.lexsort((c, r))
        mat = proto.linear_constraint_matrix
        mat.row_ids.extend(r[order].tolist())
        mat.column_ids.extend(c[order].tolist())
        mat.coefficients.extend(v[order].tolist())
    return proto


def _add_place_once(rows: _Rows, problem: Problem, u: np.ndarray) -> None:
    by_unit = dict(_groups(u))
    empty = np.zeros(0, dtype=np.int64)
    for unit in range(problem.num_units):
        cols = by_unit.get(unit, empty)
        if problem.must_place_u[unit]:
            rows.add(f"place_once[{unit}]", cols, np.ones(len(cols)), 1.0, 1.0)
        elif len(cols) > 1:
            rows.add(f"place_once[{unit}]", cols, np.ones(len(cols)), -math.inf, 1.0)


def _add_gpu_caps(rows: _Rows, problem, coef: _PairCoefficients, p: np.ndarray) -> None:
    gpus = coef("gpus")
    for pool, cols in _groups(p):
        cap = float(problem.gpu_cap_p[pool])
        if math.isfinite(cap) and gpus[cols].sum() > cap:
            rows.add(f"gpus[{pool}]", cols, gpus[cols], -math.inf, cap, tag=(pool, "gpus"))


def _add_site_caps(rows: _Rows, problem, coef: _PairCoefficients, p: np.ndarray) -> None:
    by_site = _groups(problem.pool_site_p[p])
    it_kw, heat_kw = coef("it_kw"), coef("heat_kw")
    for _, name, _, cap_field in SITE_FAMILIES:
        use, cap_s = coef(name), getattr(problem, cap_field)
        for site, cols in by_site:
            cap = float(cap_s[site])
            if not math.isfinite(cap) or use[cols].sum() <= cap:
                continue  # it cannot bind
            if (
                name == "heat_kw"
                and problem.heat_cap_kw_s[site] >= problem.it_cap_kw_s[site]
                and np.array_equal(heat_kw[cols], it_kw[cols])
            ):
                continue  # same coefficients as (3) and no smaller cap: (3) implies it
            rows.add(f"{name}[{site}]", cols, use[cols], -math.inf, cap, tag=(site, name))


def _add_redundancy(rows: _Rows, problem: Problem, u: np.ndarray, p: np.ndarray) -> None:
    for g, cols in _groups(problem.group_u[u]):
        if g < 0:
            continue
        for key, sub in _groups(problem.spread_key_gp[g, p[cols]]):
            members = cols[sub]
            if len(np.unique(u[members])) > 1:
                rows.add(f"spread[{g},{key}]", members, np.ones(len(members)), -math.inf, 1.0)


def _add_global_caps(rows: _Rows, problem, coef: _PairCoefficients) -> None:
    every = np.arange(len(coef.u))
    for row, table, cap in (
        ("budget_usd_per_h", "cost_usd_per_h", problem.budget_usd_per_h),
        ("carbon_kg_per_h", "carbon_kg_per_h", problem.carbon_cap_kg_per_h),
    ):
        if math.isfinite(float(cap)):
            rows.add(row, every, coef(table), -math.inf, float(cap), tag=(-1, row))
