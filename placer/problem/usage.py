"""What an assignment puts on every capacity row, from the compiled Problem (solvers' view).

Loads are one segment sum: each placed unit's option charges its amounts to the option's
rows (`Problem.row_oj`, `Problem.quantity_oj`). The independent verifier does not use
this module: it recomputes from the Scenario.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from placer.problem.form import Problem
from placer.problem.period_caps import PERIOD_MESSAGES, PK_BUDGET, PK_CARBON
from placer.problem.preempt import (
    Schedule,
    ScheduleTerms,
    fixed_and_moves,
    schedule_entries,
    schedule_pools,
    schedule_terms,
)
from placer.problem.rows import (
    K_BUDGET,
    Q_CARBON,
    Q_COST,
    ROW_KINDS,
    global_row,
    over_capacity,
)
from placer.problem.soft import excess_usd_per_h, has_soft_rows, soft_mask, with_excess_cost
from placer.problem.startup import Started, started_replicas, startup_usd_per_h

#: Units per chunk when gathering terms (bounds the [chunk, J] temporaries).
_CHUNK = 65_536


class Loads(NamedTuple):
    """What one assignment uses (R rows, Q quantities).

    Attributes:
      loads_r: float64[R], load on every capacity row, in the row kind's unit.
      total_q: float64[Q], total of every quantity over the placed units.
      objective_usd_per_h: placed objective plus the value lost by unplaced units plus
        the excess paid over soft rows plus replica start-ups (`startup_cost`).
      unplaced_usd_per_h: the value lost by unplaced units.
      excess_usd_per_h: what the plan pays for its load over soft rows (`problem.soft`),
        USD per hour of the horizon; a cost (not in `total_q`).
    """

    loads_r: np.ndarray
    total_q: np.ndarray
    objective_usd_per_h: float
    unplaced_usd_per_h: float
    excess_usd_per_h: float = 0.0


def uniform_quantities(problem: Problem) -> np.ndarray | None:
    """int[J]: the quantity each term charges, when it is the same for every option (the
    standard layout, every scale 1); None otherwise."""
    q = problem.quantity_oj
    if problem.scale_oj is not None:
        return None
    return q[0] if q.shape[0] and (q == q[0]).all() else None


def term_values(
    problem: Problem, units: np.ndarray, slots: np.ndarray, options: np.ndarray
) -> np.ndarray:
    """float64[n, J]: what each (unit, slot) pair (its option given) charges each of its
    option's rows (x the term's scale, `Problem.scale_oj`). With uniform quantities
    each distinct quantity is one 2-D gather (about 2.5x faster than gathering by each
    option's quantity)."""
    qs = uniform_quantities(problem)
    if qs is None:
        values = problem.amount_quk[problem.quantity_oj[options], units[:, None], slots[:, None]]
        scale = problem.term_scale(options)
        return values if scale is None else values * scale
    picked = {int(q): problem.amount_quk[q][units, slots] for q in np.unique(qs)}
    return np.stack([picked[int(q)] for q in qs], axis=1).reshape(units.size, qs.size)


class AssignmentValues:
    """Where each placed unit of an assignment sits: `rows` (units whose option is in
    their list), `cols` (its slot), `masked` (placed units whose option is not listed).
    `take(table_uk)` and `amount(q)` give float64[U] per-unit values (0 if unplaced)."""

    def __init__(self, problem: Problem, assign_u: np.ndarray) -> None:
        self.problem = problem
        assign_u = np.asarray(assign_u)
        slot = problem.slot_of(assign_u)
        placed = np.flatnonzero(assign_u >= 0)
        self.masked = placed[slot[placed] < 0]
        self.rows = placed[slot[placed] >= 0]
        self.cols = slot[self.rows]
        self.options = assign_u[self.rows].astype(np.int64)

    def take(self, table_uk: np.ndarray) -> np.ndarray:
        out = np.zeros(self.problem.num_units)
        out[self.rows] = table_uk[self.rows, self.cols]
        return out

    def amount(self, q: int) -> np.ndarray:
        return self.take(self.problem.amount_quk[q])

    def terms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(unit int64[n], row int64[n], amount float64[n]) of every row each placed unit
        charges (terms without a row left out)."""
        p = self.problem
        units, rows, values = [], [], []
        for start in range(0, self.rows.size, _CHUNK):
            u = self.rows[start : start + _CHUNK]
            k = self.cols[start : start + _CHUNK]
            o = self.options[start : start + _CHUNK]
            row_nj = p.row_oj[o]
            value_nj = term_values(p, u, k, o)
            keep = row_nj >= 0
            units.append(np.broadcast_to(u[:, None], row_nj.shape)[keep])
            rows.append(row_nj[keep].astype(np.int64))
            values.append(value_nj[keep])
        if not units:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        return np.concatenate(units), np.concatenate(rows), np.concatenate(values)


def pair_values(problem: Problem, assign_u: np.ndarray, table_uk: np.ndarray) -> np.ndarray:
    """table_uk at each unit's slot in assign_u, 0 for unplaced units: float64[U]."""
    return AssignmentValues(problem, assign_u).take(table_uk)


def dense_options(problem: Problem, table_uk: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """[U, O]: a slot table laid out by option (`fill` where the unit has no such
    option). For small problems and tests: it takes U x O cells."""
    out = np.full((problem.num_units, problem.num_options), fill, dtype=table_uk.dtype)
    u, k = np.nonzero(problem.listed_uk)
    out[u, problem.option_uk[u, k]] = table_uk[u, k]
    return out


def allowed_options(problem: Problem) -> np.ndarray:
    """bool[U, O]: the unit lists the option (U x O cells: small problems only)."""
    return dense_options(problem, problem.listed_uk, False)


def preempted(problem: Problem, schedule: Schedule | None) -> ScheduleTerms | None:
    """What the preempted runs of an assignment charge (`placer.problem.preempt`); None
    without a schedule (or an empty one)."""
    if not schedule or problem.preempt is None:
        return None
    out = schedule_terms(problem.preempt, schedule, problem.num_quantities)
    budget = global_row(problem.kind_r, K_BUDGET)
    if budget >= 0 and np.isfinite(problem.cap_r[budget]):
        # the fixed part (dataset egress) is a cost the budget caps: charged once
        charged = out.amount_n[out.row_n == budget].sum()
        fixed = out.total_q[Q_COST] - charged
        if fixed > 0:
            out = out._replace(
                row_n=np.append(out.row_n, budget), amount_n=np.append(out.amount_n, fixed)
            )
    return out


def _unplaced_mask(assign_u: np.ndarray, schedule: Schedule | None) -> np.ndarray:
    """bool[U]: units neither assigned an option nor preempted by the schedule."""
    out = np.asarray(assign_u) < 0
    if schedule:
        out[np.fromiter(schedule, np.int64, len(schedule))] = False
    return out


def compute_loads(
    problem: Problem, assign_u: np.ndarray, schedule: Schedule | None = None
) -> Loads:
    """Aggregates an int[U] assignment (options, -1 = unplaced) into row loads; the
    runs `schedule` preempts (their assign_u is -1) charge their run periods."""
    assign_u = np.asarray(assign_u)
    picked = AssignmentValues(problem, assign_u)
    _, rows, values = picked.terms()
    pre = preempted(problem, schedule)
    if pre is not None:
        rows, values = np.concatenate([rows, pre.row_n]), np.concatenate([values, pre.amount_n])
    loads = np.bincount(rows, weights=values, minlength=problem.num_rows).astype(float)
    total = np.array([picked.amount(q).sum() for q in range(problem.num_quantities)])
    unplaced = float(problem.unplaced_usd_per_h_u[_unplaced_mask(assign_u, schedule)].sum())
    placed = float(picked.take(problem.objective_usd_per_h_uk).sum())
    if pre is not None:
        total = total + pre.total_q
        placed += pre.objective_usd_per_h
    placed += startup_cost(problem, assign_u)  # replicas started (timed services)
    if not has_soft_rows(problem):
        return Loads(loads, total, placed + unplaced, unplaced)
    excess = excess_usd_per_h(problem, loads)
    return Loads(loads, total, placed + unplaced + excess, unplaced, excess)


def row_loads(
    problem: Problem, assign_u: np.ndarray, schedule: Schedule | None = None
) -> np.ndarray:
    """float64[R]: the plan's load on every capacity row (with its preempted runs')."""
    _, rows, values = AssignmentValues(problem, assign_u).terms()
    pre = preempted(problem, schedule)
    if pre is not None:
        rows, values = np.concatenate([rows, pre.row_n]), np.concatenate([values, pre.amount_n])
    return np.bincount(rows, weights=values, minlength=problem.num_rows).astype(float)


def objective_value(
    problem: Problem, assign_u: np.ndarray, schedule: Schedule | None = None
) -> float:
    """Weighted objective of an assignment, USD/h (placed objectives + lost value + the
    excess paid over soft rows + replica start-ups + the run periods of the runs
    `schedule` preempts)."""
    assign_u = np.asarray(assign_u)
    placed = pair_values(problem, assign_u, problem.objective_usd_per_h_uk).sum()
    value = float(placed + problem.unplaced_usd_per_h_u[_unplaced_mask(assign_u, schedule)].sum())
    value += startup_cost(problem, assign_u)
    pre = preempted(problem, schedule)
    if pre is not None:
        value += pre.objective_usd_per_h
    if has_soft_rows(problem):
        value += excess_usd_per_h(problem, row_loads(problem, assign_u, schedule))
    return value


def started_of(problem: Problem, assign_u: np.ndarray) -> Started:
    """The replicas an assignment starts (`placer.problem.startup`); needs `problem.startup`."""
    assert problem.startup is not None
    assign_u = np.asarray(assign_u)
    pool_u = np.where(assign_u >= 0, problem.pool_o[np.maximum(assign_u, 0)], -1)
    return started_replicas(problem.startup, pool_u, problem.slot_of(assign_u))


def startup_cost(problem: Problem, assign_u: np.ndarray) -> float:
    """What an assignment pays to start replicas, USD per hour of the horizon (the
    objective's unit; 0 without `problem.startup`): sum over services, pools and periods
    t >= 1 of the replicas added since t - 1 x startup_usd_per_replica / horizon hours."""
    if problem.startup is None:
        return 0.0
    return startup_usd_per_h(problem.startup, started_of(problem, assign_u))


def with_startup_cost(problem: Problem, assign_u: np.ndarray, loads_r: np.ndarray) -> np.ndarray:
    """float64[R]: the loads with the start-up cost added to the budget row's (the budget
    caps the cost, and start-ups are paid)."""
    row = global_row(problem.kind_r, K_BUDGET)
    if row < 0 or problem.startup is None:
        return loads_r
    out = np.array(loads_r, float)
    out[row] += startup_cost(problem, assign_u)
    return out


def spread_conflicts(problem: Problem, assign_u: np.ndarray) -> np.ndarray:
    """int64[n]: redundancy groups with two placed copies on one spread key."""
    members = np.flatnonzero((problem.group_u >= 0) & (np.asarray(assign_u) >= 0))
    if not members.size:
        return np.zeros(0, np.int64)
    group = problem.group_u[members].astype(np.int64)
    key = problem.spread_key_go[group, assign_u[members]].astype(np.int64)
    span = int(key.max()) + 1
    pairs, count = np.unique(group * span + key, return_counts=True)
    return np.unique(pairs[count > 1] // span)


def violations(
    problem: Problem, assign_u: np.ndarray, tol: float = 1e-6, schedule: Schedule | None = None
) -> list[str]:
    """Hard-constraint violations of an assignment (and the runs `schedule` preempts)
    against the Problem (solvers' check). A soft row over its cap is not one (it is
    paid); the excess paid and the replica start-ups count against the budget."""
    assign_u = np.asarray(assign_u)
    out: list[str] = []
    if AssignmentValues(problem, assign_u).masked.size:
        out.append("masked pair used")
    if (problem.must_place_u & _unplaced_mask(assign_u, schedule)).any():
        out.append("must-place unit unplaced")
    loads_r = with_excess_cost(problem, compute_loads(problem, assign_u, schedule).loads_r)
    loads_r = with_startup_cost(problem, assign_u, loads_r)
    over_r = over_capacity(loads_r, problem.cap_r, tol) & ~soft_mask(problem)
    out += [ROW_KINDS[k].message for k in np.unique(problem.kind_r[over_r])]
    out += [f"redundancy group {int(g)} not spread" for g in spread_conflicts(problem, assign_u)]
    if problem.period_caps is not None:  # budgets and carbon caps per period
        out += broken_messages(problem, assign_u, schedule, tol=tol)
    return out


# -- budgets and carbon caps per period (`Problem.period_caps`, docs/time.md) -----------


def period_spend(problem: Problem, assign_u: np.ndarray, schedule=None) -> np.ndarray:
    """float64[C]: what an assignment (and the runs `schedule` preempts) spends and emits
    in each cap row, in the cap's unit: its options' entries, the preempted runs'
    periods and egress, the replicas it starts and the USD it pays over soft rows."""
    caps = problem.period_caps
    assert caps is not None
    assign_u = np.asarray(assign_u)
    out = np.zeros(caps.num_caps)
    slot_u = problem.slot_of(assign_u)
    hit = slot_u[caps.unit_e] == caps.slot_e
    out += np.bincount(caps.row_e[hit], weights=caps.amount_e[hit], minlength=caps.num_caps)
    if schedule and problem.preempt is not None:
        out += schedule_spend(problem, schedule)
    if problem.startup is not None:
        started = started_of(problem, assign_u)
        usd = started.started_n * problem.startup.usd_per_h_w[started.service_n] * caps.scale
        np.add.at(out, caps.row_tk[started.period_n, PK_BUDGET], usd)
    over = problem.over_usd_per_h_r
    if over is not None:
        n = min(over.size, caps.period_r.size)
        soft = np.flatnonzero(np.isfinite(over[:n]) & (caps.period_r[:n] >= 0))
        if soft.size:
            loads = row_loads(problem, assign_u, schedule)[soft]
            usd = np.maximum(0.0, loads - problem.cap_r[soft]) * over[soft] * caps.scale
            np.add.at(out, caps.row_tk[caps.period_r[soft], PK_BUDGET], usd)
    return out


def schedule_spend(problem: Problem, schedule: Schedule) -> np.ndarray:
    """float64[C]: what the runs `schedule` preempts spend and emit in each cap row of
    `Problem.period_caps`, in the cap's unit: each run period's cost and carbon, the
    dataset's egress (once per site it runs at) in the first period of the run's window,
    and each move between pools (`migration_usd`) in the period it moves in."""
    caps, pre = problem.period_caps, problem.preempt
    assert caps is not None and pre is not None
    out = np.zeros(caps.num_caps)
    _, entries = schedule_entries(pre, schedule)
    t = pre.period_e[entries]
    np.add.at(out, caps.row_tk[t, PK_BUDGET], pre.amount_qe[Q_COST, entries] * caps.scale)
    np.add.at(out, caps.row_tk[t, PK_CARBON], pre.amount_qe[Q_CARBON, entries] * caps.scale)
    for u, value in schedule.items():
        choices, _ = schedule_entries(pre, {u: value})
        fixed, moves, _ = fixed_and_moves(pre, int(u), value)
        first = int(pre.period_e[pre.entries_of(int(choices[0]))[0]])
        out[caps.row_tk[first, PK_BUDGET]] += fixed * caps.scale
        if moves:
            assert pre.move_usd_per_h_v is not None
            v = int(pre.run_c[choices[0]])
            usd = float(pre.move_usd_per_h_v[v]) * caps.scale
            periods = list(value[1])
            for i in pre.transitions_of(v, periods, list(schedule_pools(value)))[0]:
                out[caps.row_tk[int(periods[i]), PK_BUDGET]] += usd
    return out


def broken_caps(
    problem: Problem, assign_u: np.ndarray, schedule=None, tol: float = 1e-6
) -> np.ndarray:
    """int64[n]: the cap rows an assignment exceeds (none without `period_caps`)."""
    caps = problem.period_caps
    if caps is None:
        return np.zeros(0, np.int64)
    spend = period_spend(problem, assign_u, schedule)
    return np.flatnonzero(spend > caps.cap_c * (1 + tol) + tol)


def broken_messages(
    problem: Problem, assign_u: np.ndarray, schedule=None, tol: float = 1e-6
) -> list[str]:
    """What `usage.violations` says of the cap rows an assignment exceeds (one line per
    kind broken)."""
    bad = broken_caps(problem, assign_u, schedule, tol)
    if not bad.size:
        return []
    kinds = np.unique(problem.period_caps.kind_c[bad])
    return [PERIOD_MESSAGES[int(k)] for k in kinds]


def better_plan(problem: Problem, plan_u: np.ndarray, other_u: np.ndarray | None) -> np.ndarray:
    """`other_u` if it is feasible and `plan_u` is not or costs more; else `plan_u`."""
    if other_u is None or violations(problem, other_u):
        return plan_u
    if violations(problem, plan_u) or objective_value(problem, other_u) < objective_value(
        problem, plan_u
    ):
        return np.asarray(other_u, np.int32)
    return plan_u
