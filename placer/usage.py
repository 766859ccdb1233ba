"""Loads an assignment puts on pools and sites, from the compiled Problem (solvers' view).

The independent verifier does not use this module: it recomputes from the Scenario.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from placer.problem import Problem


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
    """table[u, assign_u[u]] for placed units, 0 for unplaced: float64[U]."""
    placed = assign_u >= 0
    out = np.zeros(assign_u.shape[0])
    rows = np.nonzero(placed)[0]
    out[rows] = table[rows, assign_u[rows]]
    return out


def compute_loads(problem: Problem, assign_u: np.ndarray) -> Loads:
    """Aggregates an int[U] assignment (-1 = unplaced) into pool and site loads."""
    assign_u = np.asarray(assign_u)
    placed = assign_u >= 0
    pools = assign_u[placed]
    sites = problem.pool_site_p[pools]
    n_p, n_s = problem.num_pools, problem.num_sites

    def by(table: np.ndarray, keys: np.ndarray, n: int) -> np.ndarray:
        return np.bincount(keys, weights=pair_values(problem, assign_u, table)[placed], minlength=n)

    unplaced_value = float(problem.unplaced_usd_per_h_u[~placed].sum())
    return Loads(
        gpus_p=by(problem.gpus_up, pools, n_p),
        it_kw_s=by(problem.it_kw_up, sites, n_s),
        facility_kw_s=by(problem.facility_kw_up, sites, n_s),
        heat_kw_s=by(problem.heat_kw_up, sites, n_s),
        water_l_per_h_s=by(problem.water_l_per_h_up, sites, n_s),
        cost_usd_per_h=float(pair_values(problem, assign_u, problem.cost_usd_per_h_up).sum()),
        carbon_kg_per_h=float(pair_values(problem, assign_u, problem.carbon_kg_per_h_up).sum()),
        objective_usd_per_h=float(
            pair_values(problem, assign_u, problem.objective_usd_per_h_up).sum() + unplaced_value
        ),
    )


def objective_value(problem: Problem, assign_u: np.ndarray) -> float:
    """Weighted objective of an assignment, USD/h (placed costs + lost value)."""
    return compute_loads(problem, assign_u).objective_usd_per_h


def violations(problem: Problem, assign_u: np.ndarray, tol: float = 1e-6) -> list[str]:
    """Hard-constraint violations of an assignment against the Problem (solvers' check)."""
    assign_u = np.asarray(assign_u)
    out: list[str] = []
    placed = assign_u >= 0
    rows = np.nonzero(placed)[0]
    if rows.size and not problem.allowed_up[rows, assign_u[rows]].all():
        out.append("masked pair used")
    if (problem.must_place_u & ~placed).any():
        out.append("must-place unit unplaced")
    loads = compute_loads(problem, assign_u)
    for name, load, cap in (
        ("gpus", loads.gpus_p, problem.gpu_cap_p),
        ("it_kw", loads.it_kw_s, problem.it_cap_kw_s),
        ("facility_kw", loads.facility_kw_s, problem.facility_cap_kw_s),
        ("heat_kw", loads.heat_kw_s, problem.heat_cap_kw_s),
        ("water", loads.water_l_per_h_s, problem.water_cap_l_per_h_s),
    ):
        if (load > cap * (1 + tol) + tol).any():
            out.append(f"{name} over capacity")
    if loads.cost_usd_per_h > problem.budget_usd_per_h * (1 + tol) + tol:
        out.append("budget exceeded")
    if loads.carbon_kg_per_h > problem.carbon_cap_kg_per_h * (1 + tol) + tol:
        out.append("carbon cap exceeded")
    for g in range(problem.num_groups):
        members = np.nonzero((problem.group_u == g) & placed)[0]
        keys = problem.spread_key_gp[g, assign_u[members]]
        if len(set(keys.tolist())) < len(keys):
            out.append(f"redundancy group {g} not spread")
    return out
