"""Placement MILP over the compiled Problem.

Data (Problem):  c[u,o] objective USD/h of option o for unit u; v[u] value lost if u is
  unplaced, USD/h; a[q,u,o] amount of quantity q (GPUs, kW, L/h, USD/h, kg/h); for each
  option o its terms j: row R(o,j) charged quantity q(o,j); cap[r] capacity of row r
  (after headroom; pool GPUs, site IT / facility / heat kW and water L/h, the budget,
  the carbon cap); K(g,o) spread key of option o for redundancy group g; A[u,o]
  allowed (the unit lists the option: accelerator, memory, latency, residency, cooling
  type and density, pins, deadline, size).
Variables: x[u,o] in {0,1} for allowed pairs (and the unit's candidate options, if
  given): 1 if unit u takes option o. Unit u is unplaced when sum_o x[u,o] = 0.
Model:
  min  sum_uo c[u,o] x[u,o] + sum_u v[u] (1 - sum_o x[u,o])                  (0)
  s.t. sum_o x[u,o] <= 1 for all u;  = 1 when u must be placed               (1) place once
       sum_{u,o,j: R(o,j) = r} a[q(o,j),u,o] x[u,o] <= cap[r]                (2) capacity
                                                   for every finite row r
       sum_{u in g, o: K(g,o)=k} x[u,o] <= 1           for all g, k          (3) redundancy
  A gang (a training unit) is one x[u,o]: all its GPUs in one pool of one site.
  Rows of (2) are written pool and site rows first, by kind then scope (pool GPUs; IT,
  facility, heat kW and water of each site), then (3), then the global rows (budget,
  carbon cap). A row is left out when it cannot bind (its coefficients sum to at most
  its capacity), or when an earlier row charges the same quantity to the same
  variables with no larger capacity (the heat row of a site implies nothing beyond its
  IT row when the heat cap is at least the IT cap: heat to reject = IT power).
  Soft rows (`Problem.over_usd_per_h_r`: a priced grid event's facility rows): a
  continuous slack e[r] in [0, sum of the row's coefficients - cap[r]] per written soft
  row; the row reads sum ... - e[r] <= cap[r], and p[r] e[r] (USD/h per unit over the
  cap) is added to (0) and to the budget row (the excess is a cost). Its LP dual is then
  at most p[r]. A soft row never stands in for another row (it is not a ceiling).
  Replica start-ups (`Problem.startup`, timed services with startup_usd_per_replica):
  rows (4) of `placer.engines.milp.startup_rows`, written after (3) and before the
  global rows: v[w,p,t] >= replicas of service w on pool p in period t less those in
  t - 1, priced in (0) and in the budget row; each v is the slack of a row with cap 0.
  Preemptible runs (`Problem.preempt`, with `build_model(preempt=True)`): rows (5) of
  `placer.engines.milp.preempt_rows`, written after (4): per run and pool a binary y,
  per period of its window a binary z (it runs then) and a continuous s (a segment
  starts then), numbered after the x; y joins the run's place-once row (1), z charges
  its period's rows in (2) and its cost in (0). Runs that may migrate between pools
  (`migration_usd`): rows (6) of `placer.engines.milp.migrate_rows` instead, written
  after (5): a binary W per run in its place-once row, per pool and period a binary z,
  the pool it last ran on, moves (priced in (0) and the budget row) and resumes, and
  its work done, less the overheads, at least 1.
  Budgets and carbon caps per period (`Problem.period_caps`): rows (7) of
  `placer.engines.milp.period_cap_rows`, written after (6): what the x, z and y spend
  (emit) in the period, and on budget rows the start-up and soft-row slacks of the
  period at their prices, <= the period's cap.
  Lexicographic mode: first max sum_u v[u] sum_o x[u,o]; then (0) with that value kept.
  Side rows (`SideRow`, given by a caller such as `placer replan`): lb <= sum of stated
  coefficients of (unit, slot) pairs <= ub, written last; a pair without a variable
  (not listed, or outside `candidates_u`) is 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from ortools.math_opt import model_pb2
from ortools.math_opt.python import mathopt

from placer.engines.milp import migrate_rows
from placer.engines.milp.period_cap_rows import add_period_cap_rows
from placer.engines.milp.preempt_rows import (
    PreemptColumns,
    add_preempt_rows,
    capacity_terms,
    place_once_columns,
    preempt_columns,
)
from placer.engines.milp.startup_rows import add_startup_rows
from placer.problem.form import Problem
from placer.problem.rows import K_BUDGET, KIND_SCOPE, kind_label

#: Variable names are written only for models up to this size (they cost build time).
MAX_NAMED_VARIABLES = 50_000


@dataclass
class Formulation:
    """A built model and the handles needed to read it back.

    Attributes:
      model: the MathOpt model.
      pairs: int[N, 2] (unit, option) of each variable, in variable order.
      x: the N variables.
      capacity_rows: (scope, kind name, constraint) of every capacity row written: the
        row's pool or site (-1 for global rows) and its kind ("gpus", "it_kw", ...).
      capacity_row_ids: the Problem row of each of them (a timed problem has one row of
        a scope and kind per period).
      value_n: float64[N], v[u] of each variable's unit (placed value, USD/h).
      objective_const: sum_u v[u], the constant of (0), USD/h.
      integer: binary variables (False: the LP relaxation).
      slots: int[N], the slot of each variable's option in its unit's list.
      excess: per soft row written, (its slack e[r], the columns it charges (indices
        into `x`, or preemption columns from len(x)), their coefficients, cap[r]): what
        a hint sets e[r] to.
      preempt: the preemption columns (`preempt_rows.PreemptColumns`), or None.
      extra: the preemption variables, in column order after the x.
    """

    model: mathopt.Model
    pairs: np.ndarray
    x: list[mathopt.Variable]
    capacity_rows: list[tuple[int, str, mathopt.LinearConstraint]] = field(default_factory=list)
    capacity_row_ids: list[int] = field(default_factory=list)
    value_n: np.ndarray | None = None
    objective_const: float = 0.0
    integer: bool = True
    slots: np.ndarray | None = None
    excess: list[tuple[mathopt.Variable, np.ndarray, np.ndarray, float]] = field(
        default_factory=list
    )
    preempt: PreemptColumns | None = None
    extra: list[mathopt.Variable] = field(default_factory=list)
    migrate: migrate_rows.MigrateColumns | None = None

    def placed_value(self, problem: Problem | None = None) -> mathopt.LinearExpression:
        """sum_u v[u] sum_p x[u,p]: the value of the placed units, USD/h; with `problem`
        (the one built), a run placed by its preemption or migration columns (y[c] of
        (5), W[v] of (6)) counts too."""
        terms = [(c, v) for c, v in zip(self.value_n.tolist(), self.x, strict=True) if c]
        if problem is not None:
            first = len(self.x)
            for cols, unit in (
                (None if self.preempt is None else self.preempt.y, self.preempt),
                (None if self.migrate is None else self.migrate.w, self.migrate),
            ):
                if cols is None:
                    continue
                values = problem.unplaced_usd_per_h_u[unit.unit]
                terms += [
                    (float(c), self.extra[int(col) - first])
                    for col, c in zip(cols.tolist(), values.tolist(), strict=True)
                    if c
                ]
        return mathopt.fast_sum(c * v for c, v in terms)


@dataclass(frozen=True)
class SideRow:
    """A linear row over (unit, slot) pairs that the Problem's capacity rows cannot state
    (a move budget: `-sum_u x[u, current_u] <= budget - placed`).

    Attributes:
      name: the constraint's name.
      unit, slot: int64[n], the pairs (a unit and a slot of its option list).
      coef: float64[n], their coefficients.
      lb, ub: the row's bounds (-inf / +inf: none).
    """

    name: str
    unit: np.ndarray
    slot: np.ndarray
    coef: np.ndarray
    lb: float = -math.inf
    ub: float = math.inf


#: Most nonzeros a model is built with: ~450 bytes each while MathOpt and HiGHS hold the
#: model (gen-time-1000x50x168: 4.7e6 nonzeros, 2.2 GB peak), so this is ~11 GB.
MAX_MODEL_TERMS = 25_000_000


def model_terms(problem: Problem, candidates_u=None) -> int:
    """Nonzeros of the capacity rows of the model over these pairs (what its size, build
    time and memory follow): each pair's option's terms."""
    pairs = _variables(problem, candidates_u)[0]
    per_option = (problem.row_oj >= 0).sum(axis=1)
    return int(per_option[pairs[:, 1]].sum()) if pairs.size else 0


def allowed_pairs(problem: Problem, candidates_u=None) -> np.ndarray:
    """(unit, option) pairs that get a variable: int[N, 2], sorted by unit then option."""
    return _variables(problem, candidates_u)[0]


def _variables(problem: Problem, candidates_u=None) -> tuple[np.ndarray, np.ndarray]:
    """(pairs int[N, 2] (unit, option), slots int[N]) of the variables, sorted by unit
    then option. `candidates_u`: per unit, the options it may use, or None (all)."""
    mask = problem.listed_uk
    if candidates_u is not None:
        keep = np.zeros_like(mask)
        for u, options in enumerate(candidates_u):
            if len(options):
                keep[u] = np.isin(problem.option_uk[u], np.asarray(options, np.int64))
        mask = mask & keep
    u, slot = np.nonzero(mask)
    option = problem.option_uk[u, slot].astype(np.int64)
    return np.stack([u, option], axis=1).astype(np.int64), slot


class _Rows:
    """Constraint rows collected as COO blocks, turned into a ModelProto at the end."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.row: list[np.ndarray] = []
        self.col: list[np.ndarray] = []
        self.val: list[np.ndarray] = []
        self.tags: list[tuple[int, str, int] | None] = []
        # continuous slacks of soft rows, numbered after every binary (`_to_proto`),
        # and their (row, slack, coefficient) terms
        self.slack_ub: list[float] = []
        self.slack_price: list[float] = []
        self.slack_of: list[tuple[int, np.ndarray, np.ndarray, float]] = []
        self.slack_terms: list[tuple[int, int, float]] = []
        # the period whose budget each slack's cost counts in (-1: none; period_cap_rows)
        self.slack_period: list[int] = []
        # preemption columns (`preempt_rows`), numbered after the x, before the slacks
        self.extra_names: list[str] = []
        self.extra_ub: list[float] = []
        self.extra_int: list[bool] = []
        self.extra_obj: list[float] = []
        self.preempt: PreemptColumns | None = None
        self.migrate: migrate_rows.MigrateColumns | None = None

    def add_columns(self, names: list[str], ub: np.ndarray, integer: bool, obj: np.ndarray):
        """More variables after the x (0 <= v <= ub; binary when `integer` and the model
        is), with their objective coefficients."""
        self.extra_names += names
        self.extra_ub += np.asarray(ub, float).tolist()
        self.extra_int += [integer] * len(names)
        self.extra_obj += np.asarray(obj, float).tolist()

    def add_slack(
        self,
        row: int,
        cols: np.ndarray,
        coef: np.ndarray,
        cap: float,
        price: float,
        period: int = -1,
    ):
        """A slack e >= 0 of written soft row `row` (its x `cols`, `coef`, `cap`): -e on
        the row, price x e in the objective; `period`: the period its cost counts in (a
        budget per period, `period_cap_rows`; -1: none)."""
        i = len(self.slack_ub)
        self.slack_period.append(int(period))
        # the most the row's load can reach: its positive coefficients (a start-up row,
        # `startup_rows`, also has negative ones)
        self.slack_ub.append(max(0.0, float(coef[coef > 0].sum()) - cap))
        self.slack_price.append(price)
        self.slack_of.append((row, cols, coef, cap))
        self.slack_terms.append((row, i, -1.0))

    def charge_slacks(self, row: int) -> None:
        """Each slack's price on row `row` (the budget: the excess is a cost)."""
        self.slack_terms += [(row, i, p) for i, p in enumerate(self.slack_price)]

    def add(
        self,
        name: str,
        cols: np.ndarray,
        vals: np.ndarray,
        lb: float,
        ub: float,
        tag: tuple[int, str, int] | None = None,
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
    problem: Problem,
    *,
    candidates_u=None,
    integer: bool = True,
    name: str = "placement",
    side_rows: tuple[SideRow, ...] = (),
    preempt: bool = False,
) -> Formulation:
    """Builds (0)-(3) from arrays; `integer=False` gives the LP relaxation (0 <= x <= 1);
    `side_rows` are written last; `preempt` writes (5) for `Problem.preempt`."""
    pairs, slot, rows, _ = _placement_rows(problem, candidates_u, preempt=preempt)
    _add_side_rows(rows, problem, pairs, slot, side_rows)
    return _formulation(name, problem, pairs, slot, rows, integer)


def _placement_rows(problem: Problem, candidates_u=None, *, preempt: bool = False):
    """(pairs, slots, rows, terms) of (1)-(3): the variables and the rows every model
    built on the placement MILP starts from (`build_model`, `placer.engines.milp.secure`);
    `preempt`: with the preemption columns and rows (5)."""
    pairs, slot = _variables(problem, candidates_u)
    u, o = pairs[:, 0], pairs[:, 1]
    rows = _Rows()
    if preempt:
        rows.preempt = preempt_columns(rows, problem, len(pairs), candidates_u)
        rows.migrate = migrate_rows.migrate_columns(
            rows, problem, len(pairs) + len(rows.extra_ub), candidates_u
        )
    more = place_once_columns(rows.preempt) | migrate_rows.place_once_columns(rows.migrate)
    _add_place_once(rows, problem, u, more)  # (1)
    extra_terms = [
        t
        for t in (
            capacity_terms(problem, rows.preempt),
            migrate_rows.capacity_terms(problem, rows.migrate),
        )
        if t is not None
    ]
    merged = (
        tuple(np.concatenate([t[i] for t in extra_terms]) for i in range(4))
        if extra_terms
        else None
    )
    terms = _Terms(problem, u, o, slot, merged)
    _add_capacities(rows, problem, terms, scoped=True)  # (2): pool and site rows
    _add_redundancy(rows, problem, u, o)  # (3)
    add_startup_rows(rows, problem, pairs, slot)  # (4): replica start-ups, before the budget
    add_preempt_rows(rows, problem, rows.preempt)  # (5): preemptible runs
    migrate_rows.add_migrate_rows(rows, problem, rows.migrate)  # (6): runs that migrate
    add_period_cap_rows(rows, problem, pairs, slot)  # (7): budgets and carbon caps per period
    _add_capacities(rows, problem, terms, scoped=False)  # (2): global rows
    return pairs, slot, rows, terms


def _formulation(
    name: str,
    problem: Problem,
    pairs: np.ndarray,
    slot: np.ndarray,
    rows: _Rows,
    integer: bool,
    extra_pairs: tuple[tuple[str, np.ndarray], ...] = (),
) -> Formulation:
    """The model of objective (0) over the x of `pairs` and `rows`; `extra_pairs` adds
    binaries (a name prefix and their (unit, option) pairs, numbered after the x in
    order) that the objective does not charge."""
    u = pairs[:, 0]
    value_n = problem.unplaced_usd_per_h_u[u]
    extra = [p for _, p in extra_pairs]
    all_pairs = np.concatenate([pairs, *extra]) if extra else pairs
    reduced = np.zeros(len(all_pairs))
    reduced[: len(pairs)] = problem.objective_usd_per_h_uk[u, slot] - value_n  # (0) less const
    const = float(problem.unplaced_usd_per_h_u.sum())
    names = None
    if extra:
        names = [f"x[{a},{b}]" for a, b in pairs.tolist()]
        for prefix, more in extra_pairs:
            names += [f"{prefix}{a},{b}]" for a, b in more.tolist()]
    proto = _to_proto(name, all_pairs, integer, reduced, const, rows, names)
    model = mathopt.Model.from_model_proto(proto)
    x = [model.get_variable(i) for i in range(len(pairs))]
    capacity = [
        (tag[0], tag[1], model.get_linear_constraint(r))
        for r, tag in enumerate(rows.tags)
        if tag is not None
    ]
    row_ids = [tag[2] for tag in rows.tags if tag is not None]
    n_extra = len(rows.extra_ub)
    excess = [
        (model.get_variable(len(all_pairs) + n_extra + i), cols, coef, cap)
        for i, (_, cols, coef, cap) in enumerate(rows.slack_of)
    ]
    extra_vars = [model.get_variable(len(all_pairs) + i) for i in range(n_extra)]
    return Formulation(
        model,
        pairs,
        x,
        capacity,
        row_ids,
        value_n,
        const,
        integer,
        slot,
        excess,
        rows.preempt,
        extra_vars,
        rows.migrate,
    )


class _Terms:
    """Every (row, variable, coefficient) of (2), grouped by row: `of(r)` gives the
    variables charging row r (ascending) and their coefficients, and the quantity they
    charge (-1 when several quantities share the row)."""

    def __init__(self, problem: Problem, u: np.ndarray, o: np.ndarray, slot: np.ndarray, more=None):
        # term by term: a timed problem's options run over many periods, so most of
        # the padded [pairs, J] table is empty; only the terms that exist are gathered
        rows, variables, coefs, quantities = [], [], [], []
        for j in range(problem.row_oj.shape[1]):
            row = problem.row_oj[o, j]
            n = np.flatnonzero(row >= 0)
            if n.size == 0:
                continue
            q = problem.quantity_oj[o[n], j]
            rows.append(row[n])
            variables.append(n)
            coef = problem.amount_quk[q, u[n], slot[n]]
            if problem.scale_oj is not None:
                coef = coef * problem.scale_oj[o[n], j]
            coefs.append(coef)
            quantities.append(q)
        if more is not None:  # (row, column, coefficient, quantity) of other columns
            rows.append(more[0])
            variables.append(more[1])
            coefs.append(more[2])
            quantities.append(more[3])
        if rows:
            row, var = np.concatenate(rows), np.concatenate(variables)
            coef, q = np.concatenate(coefs), np.concatenate(quantities)
        else:
            row, var = np.zeros(0, np.int32), np.zeros(0, np.int64)
            coef, q = np.zeros(0), np.zeros(0, np.int8)
        order = np.lexsort((var, row))
        self.row, self.var, self.coef, self.q = row[order], var[order], coef[order], q[order]
        self.starts = np.searchsorted(self.row, np.arange(problem.num_rows + 1))

    def of(self, r: int) -> tuple[np.ndarray, np.ndarray, int]:
        a, b = self.starts[r], self.starts[r + 1]
        q = self.q[a:b]
        single = int(q[0]) if q.size and (q == q[0]).all() else -1
        return self.var[a:b], self.coef[a:b], single


def _add_capacities(rows: _Rows, problem: Problem, terms: _Terms, *, scoped: bool) -> None:
    """(2) for the pool and site rows (by kind, then scope) or for the global rows."""
    kind_r = problem.kind_r
    is_global = KIND_SCOPE[kind_r] == 2
    over_r = problem.over_usd_per_h_r
    soft_r = np.zeros(kind_r.size, bool) if over_r is None else np.isfinite(over_r)
    chosen = np.flatnonzero(is_global != scoped)
    written: dict[tuple[int, int, int, int], list[tuple[np.ndarray, float]]] = {}
    labels: set[str] = set()
    for r in chosen[np.lexsort((chosen, kind_r[chosen]))].tolist():
        cap = float(problem.cap_r[r])
        cols, coef, q = terms.of(r)
        budget = kind_r[r] == K_BUDGET and bool(rows.slack_ub)
        most = float(coef.sum())
        if budget:  # the excess paid over soft rows is a cost too
            most += float(np.dot(rows.slack_price, rows.slack_ub))
        if not math.isfinite(cap) or most <= cap:
            continue  # it cannot bind
        key = (q, cols.size, int(cols[0]), int(cols[-1])) if cols.size else (q, 0, -1, -1)
        same = written.get(key, []) if q >= 0 else []
        if any(c <= cap and np.array_equal(v, cols) for v, c in same):
            continue  # an earlier row charges the same to the same variables: it implies this
        if not soft_r[r]:  # a soft row may be exceeded: it implies nothing
            written.setdefault(key, []).append((cols, cap))
        kind, scope = kind_label(kind_r[r], bool(soft_r[r])), int(problem.scope_r[r])
        label = kind if is_global[r] else f"{kind}[{scope}]"
        if label in labels:  # a timed problem repeats each row per period
            label = f"{label}#{r}"
        labels.add(label)
        rows.add(label, cols, coef, -math.inf, cap, tag=(scope, kind, r))
        if soft_r[r]:
            caps = problem.period_caps
            period = -1 if caps is None or r >= caps.period_r.size else int(caps.period_r[r])
            rows.add_slack(len(rows.names) - 1, cols, coef, cap, float(over_r[r]), period)
        elif budget:
            rows.charge_slacks(len(rows.names) - 1)


def _to_proto(
    name, pairs, integer, objective_n, const, rows: _Rows, names: list[str] | None = None
) -> model_pb2.ModelProto:
    """The model as a proto; variables are named `x[u,o]` (or `names`) when few. The
    slacks of soft rows (`_Rows.add_slack`) are continuous columns after the x."""
    n_x = len(pairs)
    n_z = len(rows.extra_ub)  # preemption columns, after the x
    n = n_x + n_z
    n_e = len(rows.slack_ub)
    proto = model_pb2.ModelProto(name=name)
    var = proto.variables
    var.ids.extend(range(n + n_e))
    var.lower_bounds.extend([0.0] * (n + n_e))
    var.upper_bounds.extend([1.0] * n_x + rows.extra_ub + rows.slack_ub)
    var.integers.extend([integer] * n_x + [integer and i for i in rows.extra_int] + [False] * n_e)
    if n <= MAX_NAMED_VARIABLES:
        var.names.extend(names or (f"x[{a},{b}]" for a, b in pairs.tolist()))
        var.names.extend(rows.extra_names)
        var.names.extend(f"excess[{row}]" for row, _, _, _ in rows.slack_of)
    proto.objective.maximize = False
    proto.objective.offset = const
    if n_z:
        objective_n = np.concatenate([objective_n, rows.extra_obj])
    if n_e:
        objective_n = np.concatenate([objective_n, rows.slack_price])
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
        if rows.slack_terms:  # slack i is column n + i
            sr, sc, sv = (np.array(a) for a in zip(*rows.slack_terms, strict=True))
            r, c, v = np.concatenate([r, sr]), np.concatenate([c, n + sc]), np.concatenate([v, sv])
        keep = v != 0.0
        r, c, v = r[keep], c[keep], v[keep]
        order = np.lexsort((c, r))
        mat = proto.linear_constraint_matrix
        mat.row_ids.extend(r[order].tolist())
        mat.column_ids.extend(c[order].tolist())
        mat.coefficients.extend(v[order].tolist())
    return proto


def _add_place_once(rows: _Rows, problem: Problem, u: np.ndarray, more=None) -> None:
    """(1); `more`: unit -> other columns of its choice (a preemptible run's y)."""
    by_unit = dict(_groups(u))
    empty = np.zeros(0, dtype=np.int64)
    for unit in range(problem.num_units):
        cols = by_unit.get(unit, empty)
        if more and unit in more:
            cols = np.concatenate([cols, more[unit]])
        if problem.must_place_u[unit]:
            rows.add(f"place_once[{unit}]", cols, np.ones(len(cols)), 1.0, 1.0)
        elif len(cols) > 1:
            rows.add(f"place_once[{unit}]", cols, np.ones(len(cols)), -math.inf, 1.0)


def _add_side_rows(
    rows: _Rows, problem: Problem, pairs: np.ndarray, slot: np.ndarray, side_rows
) -> None:
    """Each SideRow over the variables of its (unit, slot) pairs (others are 0)."""
    n_k = max(problem.num_slots, 1)
    key_n = pairs[:, 0] * n_k + slot  # ascending: pairs are sorted by unit, then slot
    for side in side_rows:
        key = np.asarray(side.unit, np.int64) * n_k + np.asarray(side.slot, np.int64)
        at = np.searchsorted(key_n, key)
        hit = at < key_n.size
        hit[hit] = key_n[at[hit]] == key[hit]
        cols, coef = at[hit], np.asarray(side.coef, float)[hit]
        rows.add(side.name, cols, coef, float(side.lb), float(side.ub))


def _add_redundancy(rows: _Rows, problem: Problem, u: np.ndarray, o: np.ndarray) -> None:
    for g, cols in _groups(problem.group_u[u]):
        if g < 0:
            continue
        for key, sub in _groups(problem.spread_key_go[g, o[cols]]):
            members = cols[sub]
            if len(np.unique(u[members])) > 1:
                rows.add(f"spread[{g},{key}]", members, np.ones(len(members)), -math.inf, 1.0)
