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
from ortools.math_opt.python import mathopt

from placer.problem import Problem

#: Site capacity rows: (constraint family number, name, Problem field of the pair
#: coefficient, Problem field of the capacity).
SITE_FAMILIES = (
    (3, "it_kw", "it_kw_up", "it_cap_kw_s"),
    (4, "facility_kw", "facility_kw_up", "facility_cap_kw_s"),
    (5, "heat_kw", "heat_kw_up", "heat_cap_kw_s"),
    (6, "water_l_per_h", "water_l_per_h_up", "water_cap_l_per_h_s"),
)


@dataclass
class Formulation:
    """A built model and the handles needed to read it back.

    Attributes:
      model: the MathOpt model.
      pairs: int[N, 2] (unit, pool) of each variable, in variable order.
      x: the N variables.
      capacity_rows: (index, resource, constraint) of every capacity row: a pool index for
        "gpus", a site index for kW and L/h rows, -1 for the global budget and carbon caps.
      placed_value: expression sum_u v[u] sum_p x[u,p] (placed value, USD/h).
      objective_const: sum_u v[u], the constant of (0), USD/h.
    """

    model: mathopt.Model
    pairs: np.ndarray
    x: list[mathopt.Variable]
    capacity_rows: list[tuple[int, str, mathopt.LinearConstraint]] = field(default_factory=list)
    placed_value: mathopt.LinearExpression | None = None
    objective_const: float = 0.0
    integer: bool = True


def allowed_pairs(problem: Problem, candidates_u=None) -> np.ndarray:
    """(unit, pool) pairs that get a variable: int[N, 2], sorted by unit then pool."""
    mask = problem.allowed_up.copy()
    if candidates_u is not None:
        keep = np.zeros_like(mask)
        for u, pools in enumerate(candidates_u):
            keep[u, list(pools)] = True
        mask &= keep
    return np.argwhere(mask)


def build_model(
    problem: Problem, *, candidates_u=None, integer: bool = True, name: str = "placement"
) -> Formulation:
    """Builds (0)-(9); `integer=False` gives the LP relaxation (0 <= x <= 1)."""
    model = mathopt.Model(name=name)
    pairs = allowed_pairs(problem, candidates_u)
    if integer:
        x = [model.add_binary_variable(name=f"x[{u},{p}]") for u, p in pairs.tolist()]
    else:
        x = [model.add_variable(lb=0.0, ub=1.0, name=f"x[{u},{p}]") for u, p in pairs.tolist()]
    form = Formulation(model=model, pairs=pairs, x=x, integer=integer)
    _add_place_once(form, problem)  # (1)
    _add_gpu_caps(form, problem)  # (2)
    _add_site_caps(form, problem)  # (3)-(6)
    _add_redundancy(form, problem)  # (7)
    _add_global_caps(form, problem)  # (8), (9)
    _set_weighted_objective(form, problem)  # (0)
    return form


def _terms(form: Formulation, coef: np.ndarray, rows: np.ndarray):
    """Linear expression sum coef[u,p] x[u,p] over the variable indices `rows`."""
    u, p = form.pairs[rows, 0], form.pairs[rows, 1]
    values = coef[u, p].tolist()
    return mathopt.fast_sum(
        c * form.x[i] for c, i in zip(values, rows.tolist(), strict=True) if c != 0.0
    )


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


def _add_place_once(form: Formulation, problem: Problem) -> None:
    by_unit = dict(_groups(form.pairs[:, 0]))
    for u in range(problem.num_units):
        rows = by_unit.get(u, np.zeros(0, dtype=int))
        expr = mathopt.fast_sum(form.x[i] for i in rows.tolist())
        if problem.must_place_u[u]:
            form.model.add_linear_constraint(expr == 1.0, name=f"place_once[{u}]")
        elif rows.size > 1:
            form.model.add_linear_constraint(expr <= 1.0, name=f"place_once[{u}]")


def _add_gpu_caps(form: Formulation, problem: Problem) -> None:
    for p, rows in _groups(form.pairs[:, 1]):
        expr = _terms(form, problem.gpus_up, rows)
        con = form.model.add_linear_constraint(
            expr <= float(problem.gpu_cap_p[p]), name=f"gpus[{p}]"
        )
        form.capacity_rows.append((p, "gpus", con))


def _add_site_caps(form: Formulation, problem: Problem) -> None:
    site_of_var = problem.pool_site_p[form.pairs[:, 1]]
    by_site = _groups(site_of_var)
    for _, name, coef_field, cap_field in SITE_FAMILIES:
        coef, cap = getattr(problem, coef_field), getattr(problem, cap_field)
        for s, rows in by_site:
            if not math.isfinite(cap[s]):
                continue
            if float(coef[form.pairs[rows, 0], form.pairs[rows, 1]].sum()) <= cap[s]:
                continue  # cannot bind even if every pair is chosen
            con = form.model.add_linear_constraint(
                _terms(form, coef, rows) <= float(cap[s]), name=f"{name}[{s}]"
            )
            form.capacity_rows.append((s, name, con))


def _add_redundancy(form: Formulation, problem: Problem) -> None:
    group_of_var = problem.group_u[form.pairs[:, 0]]
    for g, rows in _groups(group_of_var):
        if g < 0:
            continue
        keys = problem.spread_key_gp[g, form.pairs[rows, 1]]
        for k, sub in _groups(keys):
            members = rows[sub]
            if len(set(form.pairs[members, 0].tolist())) < 2:
                continue
            form.model.add_linear_constraint(
                mathopt.fast_sum(form.x[i] for i in members.tolist()) <= 1.0,
                name=f"spread[{g},{k}]",
            )


def _add_global_caps(form: Formulation, problem: Problem) -> None:
    every = np.arange(len(form.x))
    if math.isfinite(float(problem.budget_usd_per_h)):
        form.model.add_linear_constraint(
            _terms(form, problem.cost_usd_per_h_up, every) <= float(problem.budget_usd_per_h),
            name="budget",
        )
    if math.isfinite(float(problem.carbon_cap_kg_per_h)):
        form.model.add_linear_constraint(
            _terms(form, problem.carbon_kg_per_h_up, every) <= float(problem.carbon_cap_kg_per_h),
            name="carbon_cap",
        )


def _set_weighted_objective(form: Formulation, problem: Problem) -> None:
    """(0): placed cost plus value lost; v[u] enters as -v[u] x[u,p] plus a constant."""
    u, p = form.pairs[:, 0], form.pairs[:, 1]
    reduced = (problem.objective_usd_per_h_up[u, p] - problem.unplaced_usd_per_h_u[u]).tolist()
    form.objective_const = float(problem.unplaced_usd_per_h_u.sum())
    form.model.minimize(
        mathopt.fast_sum(c * v for c, v in zip(reduced, form.x, strict=True)) + form.objective_const
    )
    value = problem.unplaced_usd_per_h_u[u].tolist()
    form.placed_value = mathopt.fast_sum(
        c * v for c, v in zip(value, form.x, strict=True) if c != 0.0
    )
