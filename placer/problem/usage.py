"""Loads an assignment puts on pools and sites, from the compiled Problem (solvers' view).

The independent verifier does not use this module: it recomputes from the Scenario.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from placer.problem.form import Problem
from placer.problem.rows import OVER_MESSAGES, loads_by_row, over_capacity, row_table
from placer.problem.sparse_form import SparseProblem


class Loads(NamedTuple):
    """Per-pool and per-site loads of one assignment (shapes as in Problem)."""

    gpus_p: np.ndarray
    it_kw_s: np.ndarray
    facility_kw_s: np.ndarray
    heat_kw_s: np.ndarray
    water_l_per_h_s: np.ndarray
    cost_usd_per_h: float
    carbon_kg_per_h: float
    objective_usd_per_h: float


def pair_values(problem: Problem, assign_u: np.ndarray, table: np.ndarray) -> np.ndarray:
    """table[u, assign_u[u]] for placed units, 0 for unplaced: float64[U] (dense layout)."""
    placed = assign_u >= 0
    out = np.zeros(assign_u.shape[0])
    rows = np.nonzero(placed)[0]
    out[rows] = table[rows, assign_u[rows]]
    return out


def pair_table(problem: Problem | SparseProblem, name: str) -> np.ndarray:
    """The pair table `name` ("gpus", "cost_usd_per_h", ...) in the problem's layout:
    float64[U, P] (dense) or float64[U, K] (sparse)."""
    return getattr(problem, name + ("_uk" if isinstance(problem, SparseProblem) else "_up"))


def allowed_mask(problem: Problem | SparseProblem) -> np.ndarray:
    """bool[U, P] (dense) or bool[U, K] (sparse): the allowed pairs, aligned with
    `pair_table`."""
    if isinstance(problem, SparseProblem):
        return problem.pool_uk >= 0
    return problem.allowed_up


def allowed_pools(problem: Problem | SparseProblem, u: int) -> tuple[np.ndarray, np.ndarray]:
    """(pools, columns) of unit u's allowed pools, ascending; columns index the unit's row
    of `pair_table` (the pools themselves when dense, slots when sparse)."""
    if isinstance(problem, SparseProblem):
        n = int((problem.pool_uk[u] >= 0).sum())
        return problem.pool_uk[u, :n].astype(np.int64), np.arange(n)
    pools = np.flatnonzero(problem.allowed_up[u])
    return pools, pools


class AssignmentValues:
    """Per-unit values of one assignment from either layout: `take("gpus")` is float64[U]
    (0 for unplaced units); `masked` marks placed units whose pair is not allowed."""

    def __init__(self, problem: Problem | SparseProblem, assign_u: np.ndarray) -> None:
        self.problem = problem
        self.rows = np.flatnonzero(assign_u >= 0)
        if isinstance(problem, SparseProblem):
            # a pool outside the unit's list has no values: it counts 0
            slot = problem.slot_of(assign_u)
            self.masked = self.rows[slot[self.rows] < 0]
            self.rows = self.rows[slot[self.rows] >= 0]
            self.cols = slot[self.rows]
        else:
            self.cols = assign_u[self.rows]
            self.masked = self.rows[~problem.allowed_up[self.rows, self.cols]]

    def take(self, name: str) -> np.ndarray:
        table = pair_table(self.problem, name)
        out = np.zeros(self.problem.num_units)
        out[self.rows] = table[self.rows, self.cols]
        return out


def compute_loads(problem: Problem | SparseProblem, assign_u: np.ndarray) -> Loads:
    """Aggregates an int[U] assignment (-1 = unplaced) into pool and site loads."""
    assign_u = np.asarray(assign_u)
    placed = assign_u >= 0
    pools = assign_u[placed]
    sites = problem.pool_site_p[pools]
    n_p, n_s = problem.num_pools, problem.num_sites
    gather = AssignmentValues(problem, assign_u)

    def by(name: str, keys: np.ndarray, n: int) -> np.ndarray:
        return np.bincount(keys, weights=gather.take(name)[placed], minlength=n)

    unplaced_value = float(problem.unplaced_usd_per_h_u[~placed].sum())
    return Loads(
        gpus_p=by("gpus", pools, n_p),
        it_kw_s=by("it_kw", sites, n_s),
        facility_kw_s=by("facility_kw", sites, n_s),
        heat_kw_s=by("heat_kw", sites, n_s),
        water_l_per_h_s=by("water_l_per_h", sites, n_s),
        cost_usd_per_h=float(gather.take("cost_usd_per_h").sum()),
        carbon_kg_per_h=float(gather.take("carbon_kg_per_h").sum()),
        objective_usd_per_h=float(gather.take("objective_usd_per_h").sum() + unplaced_value),
    )


def row_loads(problem: Problem | SparseProblem, assign_u: np.ndarray) -> np.ndarray:
    """float64[R]: the plan's load on every row of `placer.problem.rows.row_table`."""
    return loads_by_row(compute_loads(problem, assign_u))


def objective_value(problem: Problem | SparseProblem, assign_u: np.ndarray) -> float:
    """Weighted objective of an assignment, USD/h (placed costs + lost value)."""
    return compute_loads(problem, assign_u).objective_usd_per_h


def violations(
    problem: Problem | SparseProblem, assign_u: np.ndarray, tol: float = 1e-6
) -> list[str]:
    """Hard-constraint violations of an assignment against the Problem (solvers' check)."""
    assign_u = np.asarray(assign_u)
    out: list[str] = []
    placed = assign_u >= 0
    if AssignmentValues(problem, assign_u).masked.size:
        out.append("masked pair used")
    if (problem.must_place_u & ~placed).any():
        out.append("must-place unit unplaced")
    table = row_table(problem)
    over_r = over_capacity(loads_by_row(compute_loads(problem, assign_u)), table.cap_r, tol)
    out += [OVER_MESSAGES[k] for k in np.unique(table.kind_r[over_r])]
    members = np.flatnonzero((problem.group_u >= 0) & placed)
    if members.size:
        group = problem.group_u[members].astype(np.int64)
        key = problem.spread_key_gp[group, assign_u[members]].astype(np.int64)
        pairs, count = np.unique(group * (int(key.max()) + 1) + key, return_counts=True)
        for g in np.unique(pairs[count > 1] // (int(key.max()) + 1)):
            out.append(f"redundancy group {int(g)} not spread")
    return out


def better_plan(
    problem: Problem | SparseProblem, plan_u: np.ndarray, other_u: np.ndarray | None
) -> np.ndarray:
    """`other_u` if it is feasible and `plan_u` is not or costs more; else `plan_u`."""
    if other_u is None or violations(problem, other_u):
        return plan_u
    if violations(problem, plan_u) or objective_value(problem, other_u) < objective_value(
        problem, plan_u
    ):
        return np.asarray(other_u, np.int32)
    return plan_u
