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
from placer.problem.period_caps import PK_BUDGET
from placer.problem.rows import KIND_WHOLE
from placer.problem.usage import objective_value

_TOL = 1e-9


def priority_order(problem: Problem) -> np.ndarray:
    """Unit indices: must-place first, then value desc, then largest first (its largest
    whole-count amount over its options: GPUs), then index."""
    size = unit_size(problem)
    return np.lexsort(
        (np.arange(problem.num_units), -size, -problem.unplaced_usd_per_h_u, ~problem.must_place_u)
    )


def unit_size(problem: Problem) -> np.ndarray:
    """float64[U]: each unit's largest amount on a whole-count row (GPUs) over its
    options; 0 for a unit with none. One pass per quantity, whatever the terms."""
    out = np.zeros(problem.num_units)
    if problem.num_options == 0:
        return out
    whole_oj = KIND_WHOLE[problem.kind_r[problem.row_oj]] & (problem.row_oj >= 0)
    listed = problem.listed_uk
    option = np.maximum(problem.option_uk, 0)
    for q in np.unique(problem.quantity_oj[whole_oj]):
        charged_o = (whole_oj & (problem.quantity_oj == q)).any(axis=1)
        use = listed & charged_o[option]
        out = np.maximum(out, np.where(use, problem.amount_quk[q], 0.0).max(axis=1, initial=0.0))
    return out


def solve_greedy(problem: Problem, options: SolveOptions) -> SolveResult:
    """Places units one by one in priority order; see the module docstring."""
    assign = np.full(problem.num_units, UNPLACED, dtype=np.int32)
    state = LoadState(problem)
    for u in priority_order(problem):
        opts, slots = problem.options_of(u)
        if options.candidates_u is not None:
            keep = np.isin(opts, options.candidates_u[u])
            opts, slots = opts[keep], slots[keep]
        if opts.size == 0:
            continue
        obj = problem.objective_usd_per_h_uk[u, slots]
        if options.rank_uk is None:
            order = np.argsort(obj, kind="stable")
        else:
            order = np.lexsort((obj, options.rank_uk[u, slots]))
        if not problem.must_place_u[u]:  # only options cheaper than leaving the unit out
            order = order[obj[order] <= problem.unplaced_usd_per_h_u[u]]
        o = state.first_fit(u, opts[order], slots[order])
        if o is not None:
            state.add(u, o)
            assign[u] = o
    return _result(problem, assign)


def _result(problem, assign: np.ndarray) -> SolveResult:
    missing = problem.must_place_u & (assign == UNPLACED)
    if missing.any():
        no_pool = missing & ~problem.listed_uk.any(axis=1)
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
    """Running loads on every capacity row while greedy (or repair) places units; the
    options given must be in the unit's list."""

    def __init__(self, problem: Problem) -> None:
        self.p = problem
        # whole-count rows (GPUs) take an absolute tolerance, every other a relative one
        whole = KIND_WHOLE[problem.kind_r]
        self.limit_r = np.where(whole, problem.cap_r + _TOL, problem.cap_r * (1 + _TOL))
        self.limit_r = np.append(self.limit_r, np.inf)  # row -1 (no row) never binds
        self.loads_r = np.zeros(problem.num_rows + 1)
        self.used_keys: dict[int, set[int]] = {}
        self.ledger = None if problem.period_caps is None else _PeriodLedger(problem)

    def values(self, u: int, options: np.ndarray, slots: np.ndarray | None = None) -> np.ndarray:
        """float64[len(options), J]: what unit u charges to each row of each option."""
        p = self.p
        if slots is None:
            slots = p.slots_of(u, options)
        values = p.amount_quk[p.quantity_oj[options], u, slots[:, None]]
        scale = p.term_scale(options)
        return values if scale is None else values * scale

    def fits(self, u: int, o: int) -> bool:
        return bool(self.fitting(u, np.array([o]))[0])

    def fitting(self, u: int, options: np.ndarray, slots: np.ndarray | None = None) -> np.ndarray:
        """bool[len(options)]: whether u fits each option, in one vectorised pass."""
        p = self.p
        rows = p.row_oj[options]  # [n, J]; -1 is the last entry: no row
        ok = (self.loads_r[rows] + self.values(u, options, slots) <= self.limit_r[rows]).all(axis=1)
        g = p.group_u[u]
        used = self.used_keys.get(int(g)) if g >= 0 else None
        if used:
            ok &= ~np.isin(p.spread_key_go[g, options], list(used))
        if self.ledger is not None:
            ok &= self.ledger.fitting(u, p.slots_of(u, options) if slots is None else slots)
        return ok

    def first_fit(self, u: int, options: np.ndarray, slots: np.ndarray | None = None) -> int | None:
        """The first option of `options` (in order) that u fits, or None."""
        if options.size == 0:
            return None
        hit = np.flatnonzero(self.fitting(u, options, slots))
        return int(options[hit[0]]) if hit.size else None

    def add(self, u: int, o: int, sign: float = 1.0) -> None:
        p = self.p
        np.add.at(self.loads_r, p.row_oj[o], sign * self.values(u, np.array([o]))[0])
        self.loads_r[-1] = 0.0
        if self.ledger is not None:
            self.ledger.add(u, int(p.slots_of(u, np.array([o]))[0]), sign)
        g = p.group_u[u]
        if g >= 0:
            keys = self.used_keys.setdefault(int(g), set())
            key = int(p.spread_key_go[g, o])
            if sign > 0:
                keys.add(key)
            else:
                keys.discard(key)

    def remove(self, u: int, o: int) -> None:
        """Undoes `add(u, o)`."""
        self.add(u, o, sign=-1.0)


class _PeriodLedger:
    """What the placed units spend and emit in each per-period cap row
    (`Problem.period_caps`), for `LoadState`. A placed inference unit of a service with
    a start-up cost is charged, in a period its start-ups count in (t >= 1, or t >= 0 with
    running replicas), as if all its replicas were started there: at least what the
    plan's start-ups cost in t (started = max(0, n[t] - n[t-1]) is at most n[t]), so a
    plan that fits the ledger fits the caps."""

    def __init__(self, problem: Problem) -> None:
        caps = problem.period_caps
        assert caps is not None
        self.limit_c = caps.cap_c * (1 + _TOL) + _TOL
        self.spend_c = np.zeros(caps.num_caps)
        self.n_c = caps.num_caps
        unit, slot, row, amount = caps.unit_e, caps.slot_e, caps.row_e, caps.amount_e
        table = problem.startup
        if table is not None:
            first = table.charged_from_period()[np.maximum(table.service_u, 0)]
            u, k = np.nonzero(
                (table.service_u[:, None] >= 0)
                & (table.period_u[:, None] >= first[:, None])
                & (table.replicas_uk > 0)
            )
            usd = table.replicas_uk[u, k] * table.usd_per_h_w[table.service_u[u]] * caps.scale
            rows = caps.row_tk[table.period_u[u], PK_BUDGET]
            unit, slot = np.concatenate([unit, u]), np.concatenate([slot, k])
            row, amount = np.concatenate([row, rows]), np.concatenate([amount, usd])
        # one term per (unit, slot, row), sorted by unit
        n_k = int(slot.max(initial=0)) + 1
        key = (unit.astype(np.int64) * n_k + slot) * self.n_c + row
        keys, at = np.unique(key, return_inverse=True)
        self.amount = np.bincount(at.reshape(-1), weights=amount, minlength=keys.size)
        self.unit = keys // self.n_c // n_k
        self.slot = (keys // self.n_c) % n_k
        self.row = keys % self.n_c
        self.starts = np.searchsorted(self.unit, np.arange(problem.num_units + 1))

    def fitting(self, u: int, slots: np.ndarray) -> np.ndarray:
        """bool[len(slots)]: whether placing u in each slot keeps every cap."""
        a, b = self.starts[u], self.starts[u + 1]
        rows = self.row[a:b]
        over = self.spend_c[rows] + self.amount[a:b] > self.limit_c[rows]
        return ~np.isin(slots, self.slot[a:b][over])

    def add(self, u: int, slot: int, sign: float) -> None:
        a, b = self.starts[u], self.starts[u + 1]
        mine = self.slot[a:b] == slot
        np.add.at(self.spend_c, self.row[a:b][mine], sign * self.amount[a:b][mine])
