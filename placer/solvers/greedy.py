"""greedy: the baseline that behaves like today's schedulers.

Filter the feasible pools of each unit, then take units in priority order (must-place
first, then by value lost when unplaced, then largest first) and give each the
cheapest pool (by objective coefficient) that still fits every capacity, cap and
spread rule. Optional units are left out when placing them costs more than they are
worth. Greedy proves nothing: it reports `feasible` or `no_solution`, and
`infeasible` only when a must-place unit has no allowed pool at all.
"""

from __future__ import annotations

import numpy as np

from placer.problem import UNPLACED, Problem
from placer.solvers.base import SolveOptions, SolveResult
from placer.usage import objective_value

_TOL = 1e-9


def priority_order(problem: Problem) -> np.ndarray:
    """Unit indices: must-place first, then value desc, then most GPUs desc, then index."""
    gpus = np.where(problem.allowed_up, problem.gpus_up, 0.0).max(axis=1, initial=0.0)
    return np.lexsort(
        (np.arange(problem.num_units), -gpus, -problem.unplaced_usd_per_h_u, ~problem.must_place_u)
    )


def solve_greedy(problem: Problem, options: SolveOptions) -> SolveResult:
    """Places units one by one in priority order; see the module docstring."""
    assign = np.full(problem.num_units, UNPLACED, dtype=np.int32)
    state = LoadState(problem)
    allowed = problem.allowed_up
    if options.candidates_u is not None:
        allowed = allowed & _candidate_mask(problem, options.candidates_u)
    for u in priority_order(problem):
        pools = np.nonzero(allowed[u])[0]
        if pools.size == 0:
            continue
        obj = problem.objective_usd_per_h_up[u, pools]
        order = np.argsort(obj, kind="stable")
        if not problem.must_place_u[u]:  # only pools cheaper than leaving the unit out
            order = order[obj[order] <= problem.unplaced_usd_per_h_u[u]]
        p = state.first_fit(u, pools[order])
        if p is not None:
            state.add(u, p)
            assign[u] = p
    return _result(problem, assign)


def _candidate_mask(problem: Problem, candidates_u) -> np.ndarray:
    mask = np.zeros_like(problem.allowed_up)
    for u, pools in enumerate(candidates_u):
        mask[u, list(pools)] = True
    return mask


def _result(problem: Problem, assign: np.ndarray) -> SolveResult:
    missing = problem.must_place_u & (assign == UNPLACED)
    if missing.any():
        no_pool = missing & ~problem.allowed_up.any(axis=1)
        if no_pool.any():
            return SolveResult(
                assign,
                "infeasible",
                message=f"{int(no_pool.sum())} must-place unit(s) have no allowed pool",
            )
        return SolveResult(
            assign,
            "no_solution",
            objective_usd_per_h=objective_value(problem, assign),
            message=f"greedy could not fit {int(missing.sum())} must-place "
            "unit(s); an exact solver may",
        )
    return SolveResult(
        assign,
        "feasible",
        objective_usd_per_h=objective_value(problem, assign),
        message="greedy placement (no optimality bound)",
    )


class LoadState:
    """Running loads while greedy places units."""

    def __init__(self, problem: Problem) -> None:
        self.p = problem
        self.gpus_p = np.zeros(problem.num_pools)
        self.site_loads = np.zeros((4, problem.num_sites))  # it, facility, heat, water
        self.caps = np.stack(
            [
                problem.it_cap_kw_s,
                problem.facility_cap_kw_s,
                problem.heat_cap_kw_s,
                problem.water_cap_l_per_h_s,
            ]
        )
        self.cost = 0.0
        self.carbon = 0.0
        self.used_keys: dict[int, set[int]] = {}

    def _pair(self, u: int, p: int) -> np.ndarray:
        pr = self.p
        return np.array(
            [
                pr.it_kw_up[u, p],
                pr.facility_kw_up[u, p],
                pr.heat_kw_up[u, p],
                pr.water_l_per_h_up[u, p],
            ]
        )

    def fits(self, u: int, p: int) -> bool:
        pr = self.p
        s = pr.pool_site_p[p]
        if self.gpus_p[p] + pr.gpus_up[u, p] > pr.gpu_cap_p[p] + _TOL:
            return False
        if (self.site_loads[:, s] + self._pair(u, p) > self.caps[:, s] * (1 + _TOL)).any():
            return False
        if self.cost + pr.cost_usd_per_h_up[u, p] > pr.budget_usd_per_h * (1 + _TOL):
            return False
        if self.carbon + pr.carbon_kg_per_h_up[u, p] > pr.carbon_cap_kg_per_h * (1 + _TOL):
            return False
        g = pr.group_u[u]
        return not (g >= 0 and pr.spread_key_gp[g, p] in self.used_keys.get(g, set()))

    def fitting(self, u: int, pools: np.ndarray) -> np.ndarray:
        """bool[len(pools)]: `fits(u, p)` for each p in pools, in one vectorised pass."""
        pr = self.p
        ok = self.gpus_p[pools] + pr.gpus_up[u, pools] <= pr.gpu_cap_p[pools] + _TOL
        s = pr.pool_site_p[pools]
        for k, table in enumerate(
            (pr.it_kw_up, pr.facility_kw_up, pr.heat_kw_up, pr.water_l_per_h_up)
        ):
            ok &= self.site_loads[k, s] + table[u, pools] <= self.caps[k, s] * (1 + _TOL)
        ok &= self.cost + pr.cost_usd_per_h_up[u, pools] <= pr.budget_usd_per_h * (1 + _TOL)
        ok &= self.carbon + pr.carbon_kg_per_h_up[u, pools] <= pr.carbon_cap_kg_per_h * (1 + _TOL)
        g = pr.group_u[u]
        used = self.used_keys.get(int(g)) if g >= 0 else None
        if used:
            ok &= ~np.isin(pr.spread_key_gp[g, pools], list(used))
        return ok

    def first_fit(self, u: int, pools: np.ndarray) -> int | None:
        """The first pool of `pools` (in order) that u fits, or None."""
        if pools.size == 0:
            return None
        hit = np.flatnonzero(self.fitting(u, pools))
        return int(pools[hit[0]]) if hit.size else None

    def add(self, u: int, p: int, sign: float = 1.0) -> None:
        pr = self.p
        self.gpus_p[p] += sign * pr.gpus_up[u, p]
        self.site_loads[:, pr.pool_site_p[p]] += sign * self._pair(u, p)
        self.cost += sign * pr.cost_usd_per_h_up[u, p]
        self.carbon += sign * pr.carbon_kg_per_h_up[u, p]
        g = pr.group_u[u]
        if g >= 0:
            keys = self.used_keys.setdefault(int(g), set())
            key = int(pr.spread_key_gp[g, p])
            if sign > 0:
                keys.add(key)
            else:
                keys.discard(key)

    def remove(self, u: int, p: int) -> None:
        """Undoes `add(u, p)`."""
        self.add(u, p, sign=-1.0)
