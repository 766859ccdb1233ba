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

from placer.engines.base import SolveOptions, SolveResult
from placer.problem.form import UNPLACED, Problem
from placer.problem.rows import PAIR_TABLES, option_rows, row_table
from placer.problem.sparse_form import SparseProblem
from placer.problem.usage import allowed_mask, allowed_pools, objective_value, pair_table

_TOL = 1e-9


def priority_order(problem) -> np.ndarray:
    """Unit indices: must-place first, then value desc, then most GPUs desc, then index
    (a dense Problem or a SparseProblem)."""
    gpus = np.where(allowed_mask(problem), pair_table(problem, "gpus"), 0.0).max(
        axis=1, initial=0.0
    )
    return np.lexsort(
        (np.arange(problem.num_units), -gpus, -problem.unplaced_usd_per_h_u, ~problem.must_place_u)
    )


def solve_greedy(problem: Problem, options: SolveOptions) -> SolveResult:
    """Places units one by one in priority order; see the module docstring. Also takes a
    `placer.problem.sparse_form.SparseProblem` (candidates_u must then be None or pools)."""
    assign = np.full(problem.num_units, UNPLACED, dtype=np.int32)
    state = LoadState(problem)
    objective = pair_table(problem, "objective_usd_per_h")
    for u in priority_order(problem):
        pools, cols = allowed_pools(problem, u)
        if options.candidates_u is not None:
            keep = np.isin(pools, options.candidates_u[u])
            pools, cols = pools[keep], cols[keep]
        if pools.size == 0:
            continue
        obj = objective[u, cols]
        order = np.argsort(obj, kind="stable")
        if not problem.must_place_u[u]:  # only pools cheaper than leaving the unit out
            order = order[obj[order] <= problem.unplaced_usd_per_h_u[u]]
        p = state.first_fit(u, pools[order])
        if p is not None:
            state.add(u, p)
            assign[u] = p
    return _result(problem, assign)


def _result(problem, assign: np.ndarray) -> SolveResult:
    missing = problem.must_place_u & (assign == UNPLACED)
    if missing.any():
        no_pool = missing & ~allowed_mask(problem).any(axis=1)
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
    """Running loads on every capacity row (`placer.problem.rows.row_table`) while greedy
    (or repair) places units; reads either layout, a dense `Problem` or a
    `placer.problem.sparse_form.SparseProblem` (pools given must be allowed)."""

    def __init__(self, problem) -> None:
        self.p = problem
        self.sparse = isinstance(problem, SparseProblem)
        self.tables = [pair_table(problem, name) for name in PAIR_TABLES]
        table = row_table(problem)
        self.rows_pk = option_rows(problem)
        # GPU rows take an absolute tolerance (whole GPUs), every other row a relative one
        self.limit_r = np.where(table.kind_r == 0, table.cap_r + _TOL, table.cap_r * (1 + _TOL))
        self.loads_r = np.zeros(table.num_rows)
        self.used_keys: dict[int, set[int]] = {}

    def values(self, u: int, pools: np.ndarray) -> np.ndarray:
        """float64[7, len(pools)]: unit u's amount on each row kind in each pool."""
        cols = self.p.slots_of(u, pools) if self.sparse else pools
        return np.stack([table[u, cols] for table in self.tables])

    def fits(self, u: int, p: int) -> bool:
        return bool(self.fitting(u, np.array([p]))[0])

    def fitting(self, u: int, pools: np.ndarray) -> np.ndarray:
        """bool[len(pools)]: whether u fits each pool of `pools`, in one vectorised pass."""
        pr = self.p
        rows = self.rows_pk[pools].T  # [7, len(pools)]
        ok = (self.loads_r[rows] + self.values(u, pools) <= self.limit_r[rows]).all(axis=0)
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
        self.loads_r[self.rows_pk[p]] += sign * self.values(u, np.array([p]))[:, 0]
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
