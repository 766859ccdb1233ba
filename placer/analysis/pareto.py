"""Cost against carbon: the epsilon-constraint sweep behind `placer pareto`.

Objectives, both per hour of operation (x[u,p] as in placer/engines/milp/formulation.py):
  f1(x) = sum_up c0[u,p] x[u,p] + sum_u v[u] (1 - sum_p x[u,p])      USD/h
          c0 = cost + water price x water: the scenario's objective with its carbon
          price set to 0 (a carbon price would count carbon twice); v[u] = value lost
          when unit u is left out, so dropping work to save carbon is paid for.
  f2(x) = sum_up e[u,p] x[u,p]                                         kgCO2e/h
On timed problems f1 is the whole objective of the `milp` solver's model (replica
start-ups, priced excess), and runs that may pause or move have its rows (5) and (6):
their periods' carbon counts in f2 (`_SweepModel`; docs/pareto.md).
Every feasibility rule of the scenario stays: must-place units, capacities, redundancy,
the budget and the scenario's own carbon cap; with `mode: lexicographic` the maximal
placed value is found first and kept at every point.

Method (epsilon-constraint):
  1. x_hi = argmin f1: the cheapest plan; C_hi = f2(x_hi) is the front's high-carbon end.
  2. x_lo = argmin f2: C_lo = f2(x_lo), the least carbon any plan can emit.
  3. eps_k = C_lo + k (C_hi - C_lo) / (N - 1), k = 0..N-1; point k = argmin f1 s.t.
     f2 <= eps_k. Point N-1 is x_hi itself (no solve); point 0 is the cheapest of the
     least-carbon plans (the lexicographic second stage of step 2).
Warm start and certificates: a plan of a tighter cap is feasible under every looser cap,
  so each solve starts from the best known plan with f2 <= eps (HiGHS takes it as its first
  incumbent). Bounds go the other way: min f1 under a cap does not increase as the cap
  grows, so a lower bound proven under eps_j holds under every eps <= eps_j. The grid is
  taken in bisection order (both ends, then midpoints, breadth first), so every point has
  a solved tighter neighbour (its start) and a solved looser one (its bound); a point
  whose best known plan is within the gap of that bound is certified without a solve.
One model: built once from arrays; between solves only the carbon row's upper bound (and,
  for the endpoints, the objective) change. MathOpt's HiGHS interface cannot apply model
  updates (an incremental solver re-creates HiGHS from the exported model, < 1 ms here),
  so nothing more is kept between solves; the time is in HiGHS's own proof (docs/pareto.md).
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np
from ortools.math_opt.python import mathopt

from placer import api
from placer.analysis.pareto_hybrid import MILP_MAX_PAIRS, HybridSweepModel, SweepOutcome
from placer.engines.base import SolveResult
from placer.engines.milp.formulation import build_model
from placer.engines.milp.solve import (
    BACKENDS,
    DEFAULT_BACKEND,
    quiet_stdout,
    solution_schedule,
)
from placer.errors import OptionError, SolverError
from placer.model.scenario import Scenario
from placer.plan.build import build_plan
from placer.plan.plan import ParetoFront, ParetoPoint, Plan, Status
from placer.plan.verify import verifier_for
from placer.problem.compile import compile_problem
from placer.problem.compile_large import require_whole_table
from placer.problem.form import UNPLACED, Index, Problem
from placer.problem.preempt import Schedule
from placer.problem.rows import K_CARBON, Q_CARBON, Q_COST, Q_WATER, global_row
from placer.problem.usage import AssignmentValues, compute_loads

#: Relative tolerance on carbon when a plan is reused under another cap (HiGHS's primal
#: feasibility tolerance is 1e-7; the verifier allows 1e-6 relative).
CARBON_RTOL = 1e-7
#: Relative tolerance under which two points have the same objective / carbon.
SAME_RTOL = 1e-9
#: Below this many seconds left, a point is certified from its neighbours, not solved.
MIN_SOLVE_S = 0.01

_T = mathopt.TerminationReason
Source = Literal["solve", "neighbours"]


@dataclass(frozen=True)
class SweepPoint:
    """One grid point of the sweep, in Problem terms.

    Attributes:
      carbon_cap_kg_per_h: the epsilon, kgCO2e/h.
      assign_u: int32[U], the plan (-1 unplaced).
      objective_usd_per_h: f1 of the plan, USD/h.
      carbon_kg_per_h: f2 of the plan, kgCO2e/h (<= the cap).
      bound_usd_per_h: proven lower bound of min f1 under the cap, USD/h (None: none).
      status: "optimal" (gap within the requested relative gap) or "feasible".
      source: "solve" (a MILP solve under this cap) or "neighbours" (certified from a
        tighter point's plan and a looser point's bound, without a solve).
      solve_s: seconds of the MILP solve under this cap (0 for "neighbours").
      schedule: the runs the plan pauses or moves (`placer.problem.preempt.Schedule`;
        their assign_u is -1), or None.
    """

    carbon_cap_kg_per_h: float
    assign_u: np.ndarray
    objective_usd_per_h: float
    carbon_kg_per_h: float
    bound_usd_per_h: float | None
    status: Literal["optimal", "feasible"]
    source: Source
    solve_s: float = 0.0
    schedule: Schedule | None = None

    @property
    def gap(self) -> float | None:
        """(objective - bound) / max(|objective|, 1e-9), or None without a bound."""
        return relative_gap_of(self.objective_usd_per_h, self.bound_usd_per_h)


@dataclass(frozen=True)
class Sweep:
    """The sweep's outcome: grid points by increasing cap (empty when there is no front).

    Attributes:
      status: optimal (every point within the gap), feasible (some point only within its
        own gap), infeasible or no_solution (no plan at all).
      message: one human sentence.
      points: the grid points, by increasing carbon cap.
      carbon_min_kg_per_h, carbon_max_kg_per_h: C_lo and C_hi, kgCO2e/h.
      solves: MILP solves made, endpoints included.
      relative_gap: the gap each point was asked for.
    """

    status: Status
    message: str
    points: tuple[SweepPoint, ...] = ()
    carbon_min_kg_per_h: float | None = None
    carbon_max_kg_per_h: float | None = None
    solves: int = 0
    relative_gap: float = 1e-4


def relative_gap_of(objective: float, bound: float | None) -> float | None:
    """(objective - bound) / max(|objective|, 1e-9), floored at 0; None without a bound."""
    if bound is None or not math.isfinite(bound):
        return None
    return max(0.0, (objective - bound) / max(abs(objective), 1e-9))


def carbon_grid(lo_kg_per_h: float, hi_kg_per_h: float, n_points: int) -> np.ndarray:
    """n_points evenly spaced carbon caps from lo to hi, both included, kgCO2e/h."""
    eps = np.linspace(lo_kg_per_h, hi_kg_per_h, n_points)
    eps[0], eps[-1] = lo_kg_per_h, hi_kg_per_h
    return eps


def bisection_order(n_points: int) -> list[int]:
    """Grid indices: 0, n-1, then the midpoints of the gaps, breadth first."""
    order = [0, n_points - 1] if n_points > 1 else [0]
    queue = deque([(0, n_points - 1)])
    while queue:
        a, b = queue.popleft()
        if b - a < 2:
            continue
        m = (a + b) // 2
        order.append(m)
        queue.extend([(a, m), (m, b)])
    return order


class _SweepModel:
    """The placement MILP with one extra row, carbon <= eps; built once for the sweep.
    With preemptible or migrating runs (`Problem.preempt`) it is the `milp` solver's
    model with rows (5) and (6): a run may pause or move at any point of the front."""

    def __init__(self, problem: Problem, backend: str) -> None:
        self.problem = problem
        self.backend = backend
        # The scenario's own carbon cap lives in our row (min(eps, cap)), not in its row.
        self.form = build_model(with_carbon_cap(problem, np.inf), preempt=_schedules(problem))
        # f1 is the model's own objective (0): its x, and what the other columns cost
        # (paused runs' periods, replica start-ups, priced excess over soft rows)
        objective = self.form.model.objective
        self.f1_terms = [(t.variable, t.coefficient) for t in objective.linear_terms()]
        self.f1_offset = float(objective.offset)
        u, k = self.form.pairs[:, 0], self.form.slots
        self.carbon_terms = self._terms(problem.amount_quk[Q_CARBON][u, k], self.form.x)
        self.carbon_terms += _schedule_carbon_terms(problem, self.form)
        self.cap = carbon_cap(problem)
        self.row = self.form.model.add_linear_constraint(
            mathopt.fast_sum(c * v for v, c in self.carbon_terms) <= self.cap,
            name="pareto_carbon_kg_per_h",
        )

    @staticmethod
    def _terms(coef_n: np.ndarray, variables: list) -> list[tuple[mathopt.Variable, float]]:
        nz = np.nonzero(coef_n)[0]
        return [(variables[i], c) for i, c in zip(nz.tolist(), coef_n[nz].tolist(), strict=True)]

    def minimise_f1(self) -> None:
        self.form.model.minimize(self.f1_offset + mathopt.fast_sum(c * v for v, c in self.f1_terms))

    def minimise_carbon(self) -> None:
        self.form.model.minimize(mathopt.fast_sum(c * v for v, c in self.carbon_terms))

    def maximise_value(self) -> None:
        self.form.model.maximize(self.form.placed_value(self.problem))

    def keep_value(self, value_usd_per_h: float) -> None:
        """Keeps the placed value at its maximum (lexicographic scenarios)."""
        slack = 1e-6 * max(1.0, value_usd_per_h)
        self.form.model.add_linear_constraint(
            self.form.placed_value(self.problem) >= value_usd_per_h - slack, name="keep_value"
        )

    def set_cap(self, eps_kg_per_h: float) -> None:
        self.row.upper_bound = float(min(eps_kg_per_h, self.cap))

    def solve(
        self, time_limit_s: float, relative_gap: float, seed: int, hint_u: np.ndarray | None
    ) -> SweepOutcome:
        params = mathopt.SolveParameters(
            time_limit=datetime.timedelta(seconds=max(time_limit_s, MIN_SOLVE_S)),
            relative_gap_tolerance=relative_gap,
            random_seed=seed,
            threads=None if self.backend == "highs" else 1,
        )
        model_params = None
        if hint_u is not None:
            chosen = (hint_u[self.form.pairs[:, 0]] == self.form.pairs[:, 1]).astype(float)
            hint = mathopt.SolutionHint(
                variable_values=dict(zip(self.form.x, chosen.tolist(), strict=True))
            )
            model_params = mathopt.ModelSolveParameters(solution_hints=[hint])
        started = time.perf_counter()
        try:
            with quiet_stdout():
                result = mathopt.solve(
                    self.form.model,
                    BACKENDS[self.backend],
                    params=params,
                    model_params=model_params,
                )
        except Exception as e:  # MathOpt's own error mapping can raise AttributeError
            raise SolverError(f"MILP backend {self.backend} failed: {e}") from None
        seconds = time.perf_counter() - started
        reason = result.termination.reason
        bound = result.termination.objective_bounds.dual_bound
        bound = float(bound) if math.isfinite(bound) else None
        if not result.has_primal_feasible_solution():
            return SweepOutcome(None, bound, reason, seconds)
        values = np.array(result.variable_values(self.form.x))
        chosen = np.nonzero(values > 0.5)[0]
        assign = np.full(self.problem.num_units, UNPLACED, dtype=np.int32)
        assign[self.form.pairs[chosen, 0]] = self.form.pairs[chosen, 1]
        assign, schedule = solution_schedule(self.problem, self.form, result, assign)
        return SweepOutcome(assign, bound, reason, seconds, schedule or None)


def _schedules(problem: Problem) -> bool:
    """Whether the sweep writes the preemption and migration rows: runs that may pause
    or move, unless caps per period and a run that may move meet (the caps' rows do not
    hold a move's spend yet: `api.check_period_caps`), where runs are placed contiguously
    as every engine may."""
    table = problem.preempt
    if table is None:
        return False
    return problem.period_caps is None or not table.migrates_v.any()


def _schedule_carbon_terms(problem: Problem, form) -> list[tuple[mathopt.Variable, float]]:
    """(variable, kg/h) of what the preemption and migration columns emit: each run
    period's z (`preempt_rows`, `migrate_rows`) its entry's carbon."""
    table = problem.preempt
    out: list[tuple[mathopt.Variable, float]] = []
    first = len(form.x)
    for cols in (form.preempt, form.migrate):
        if cols is None:
            continue
        carbon = table.amount_qe[Q_CARBON, cols.entry]
        out += [
            (form.extra[int(z) - first], float(c))
            for z, c in zip(cols.z.tolist(), carbon.tolist(), strict=True)
            if c
        ]
    return out


def carbon_cap(problem: Problem) -> float:
    """The problem's own carbon cap, kg/h (inf: none)."""
    row = global_row(problem.kind_r, K_CARBON)
    return float(problem.cap_r[row]) if row >= 0 else np.inf


def with_carbon_cap(problem: Problem, cap_kg_per_h: float) -> Problem:
    """The problem with its carbon-cap row set to `cap_kg_per_h` (kg/h; inf: none)."""
    row = global_row(problem.kind_r, K_CARBON)
    if row < 0:  # no carbon-cap row: nothing to lift (row -1 would be the last row)
        if math.isinf(cap_kg_per_h) and cap_kg_per_h > 0:
            return problem
        raise ValueError("the problem has no carbon-cap row to set")
    cap_r = problem.cap_r.copy()
    cap_r[row] = cap_kg_per_h
    return problem._replace(cap_r=cap_r)


def _fits(carbon_kg_per_h: float, eps_kg_per_h: float) -> bool:
    return carbon_kg_per_h <= eps_kg_per_h * (1 + CARBON_RTOL) + CARBON_RTOL


def _no_front(outcome: SweepOutcome, what: str, solves: int, gap: float) -> Sweep:
    if outcome.reason in (_T.INFEASIBLE, _T.INFEASIBLE_OR_UNBOUNDED):
        return Sweep(
            "infeasible",
            f"proven infeasible: no placement satisfies the hard constraints ({what})",
            solves=solves,
            relative_gap=gap,
        )
    return Sweep(
        "no_solution",
        f"no plan found within the time limit ({what})",
        solves=solves,
        relative_gap=gap,
    )


def sweep_model(problem: Problem, backend: str) -> _SweepModel | HybridSweepModel:
    """One MILP for the whole sweep, or a hybrid solve per point above MILP_MAX_PAIRS
    feasible pairs (`placer.analysis.pareto_hybrid`)."""
    if problem.num_pairs() > MILP_MAX_PAIRS:
        return HybridSweepModel(problem)
    return _SweepModel(problem, backend)


def sweep_engine(problem: Problem, backend: str | None) -> str:
    """What solves the sweep's points: "milp (highs)", or "hybrid" for large fleets."""
    if problem.num_pairs() > MILP_MAX_PAIRS:
        return "hybrid"
    return f"milp ({backend or DEFAULT_BACKEND})"


def sweep_carbon(
    problem: Problem,
    n_points: int = 20,
    *,
    time_limit_s: float = 300.0,
    relative_gap: float = 1e-4,
    backend: str | None = None,
    seed: int = 0,
) -> Sweep:
    """Min f1 under n_points carbon caps from the least to the cheapest plan's carbon.

    f1 is the Problem's objective (objective_usd_per_h_uk plus the value of unplaced
    units, USD/h); f2 its carbon (the carbon quantity, kgCO2e/h). To sweep a scenario
    without counting carbon twice, compile it with its carbon price set to 0 (see
    `without_carbon_price`).

    Args:
      problem: the compiled Problem (its own caps and lexicographic mode are kept).
      n_points: grid points, endpoints included (>= 2).
      time_limit_s: wall-clock budget for every solve together, s: the cheapest plan may
        take half of it, every later solve the time left divided by the points left; a
        point cut short keeps its proven gap (status feasible).
      relative_gap: per-point optimality target, as in `placer solve --gap`.
      backend: MILP backend ("highs" default, "scip", "cpsat").
      seed: solver random seed.
    Above MILP_MAX_PAIRS feasible pairs every point is a hybrid solve instead of a MILP
    (`sweep_model`); its bound is the hybrid's certified bound.

    Returns:
      The Sweep; `points` is empty when no plan exists (status infeasible / no_solution).

    Raises:
      OptionError: n_points < 2, time_limit_s <= 0, relative_gap < 0, unknown backend.
    """
    backend = backend or DEFAULT_BACKEND
    if backend not in BACKENDS:
        raise OptionError(f"unknown MILP backend {backend!r}; choose one of {sorted(BACKENDS)}")
    if n_points < 2:
        raise OptionError(f"a front needs at least 2 points (got {n_points})")
    if time_limit_s <= 0 or relative_gap < 0:
        raise OptionError("time_limit_s must be > 0 and relative_gap >= 0")
    deadline = time.perf_counter() + time_limit_s
    model = sweep_model(problem, backend)
    solves = 0

    def share(pending: int) -> float:
        return (deadline - time.perf_counter()) / max(1, pending)

    def run(pending: int, hint: np.ndarray | None) -> SweepOutcome:
        nonlocal solves
        solves += 1
        return model.solve(share(pending), relative_gap, seed, hint)

    if bool(problem.lexicographic):
        model.maximise_value()
        stage1 = run(4, None)  # a quarter of the budget: without it there is no front
        if stage1.assign_u is None:
            return _no_front(stage1, "maximising the placed value", solves, relative_gap)
        placed = stage1.assign_u >= 0
        if stage1.schedule:  # runs placed by their schedules count
            placed[list(stage1.schedule)] = True
        model.keep_value(float(problem.unplaced_usd_per_h_u[placed].sum()))
    model.minimise_f1()
    hi = run(2, None)  # half of what is left: the front's first point, needed by all
    if hi.assign_u is None:
        return _no_front(hi, "cheapest plan", solves, relative_gap)

    def known_plan(out: SweepOutcome) -> _Known:
        loads = compute_loads(problem, out.assign_u, out.schedule)
        carbon = float(loads.total_q[Q_CARBON])
        return _Known(out.assign_u, out.schedule, loads.objective_usd_per_h, carbon)

    high = known_plan(hi)
    hi_point = _point(high, high.carbon, hi, relative_gap)
    c_hi = high.carbon
    model.minimise_carbon()
    lo = run(n_points, hi.assign_u)  # the cheapest plan is a feasible start
    model.minimise_f1()
    low = known_plan(lo) if lo.assign_u is not None else high
    c_lo = low.carbon
    notes = []
    if lo.reason != _T.OPTIMAL:
        notes.append(f"least carbon not proven ({lo.reason.name.lower()})")
    if c_hi - c_lo <= SAME_RTOL * max(1.0, c_hi):
        return _finish([hi_point], c_lo, c_hi, solves, relative_gap, notes)

    eps = carbon_grid(c_lo, c_hi, n_points)
    pool: list[_Known] = [low, high]
    known: dict[int, SweepPoint] = {n_points - 1: hi_point}

    def best_plan(k: int) -> _Known:
        fitting = [entry for entry in pool if _fits(entry.carbon, eps[k])]
        return min(fitting, key=lambda entry: (entry.f1, entry.carbon))

    def best_bound(k: int) -> float | None:
        bounds = [p.bound_usd_per_h for j, p in known.items() if j >= k]
        bounds = [b for b in bounds if b is not None]
        return max(bounds) if bounds else None

    for k in bisection_order(n_points):
        if k in known:
            continue
        start = best_plan(k)
        bound = best_bound(k)
        gap = relative_gap_of(start.f1, bound)
        pending = n_points - len(known)
        if (gap is not None and gap <= relative_gap + 1e-9) or share(pending) < MIN_SOLVE_S:
            known[k] = _certified(eps[k], start, bound, relative_gap)
            continue
        model.set_cap(eps[k])
        out = run(pending, start.assign_u)
        if out.assign_u is not None:
            found = known_plan(out)
            if _fits(found.carbon, eps[k]):
                pool.append(found)
        bound = _max_bound(bound, out.bound)
        point = _certified(eps[k], best_plan(k), bound, relative_gap)
        known[k] = dataclasses.replace(point, source="solve", solve_s=out.seconds)
    # A later solve can improve an earlier point (a plan or a bound it lacked in time).
    points = []
    for k in range(n_points):
        old = known[k]
        plan = best_plan(k)
        if plan.f1 < old.objective_usd_per_h - SAME_RTOL * max(1.0, abs(plan.f1)):
            old = dataclasses.replace(
                old,
                assign_u=plan.assign_u,
                schedule=plan.schedule,
                objective_usd_per_h=plan.f1,
                carbon_kg_per_h=plan.carbon,
            )
        bound = best_bound(k)
        status = _status(old.objective_usd_per_h, bound, relative_gap)
        points.append(dataclasses.replace(old, bound_usd_per_h=bound, status=status))
    return _finish(points, c_lo, c_hi, solves, relative_gap, notes)


def _max_bound(a: float | None, b: float | None) -> float | None:
    values = [v for v in (a, b) if v is not None]
    return max(values) if values else None


def _status(objective: float, bound: float | None, gap: float) -> Literal["optimal", "feasible"]:
    found = relative_gap_of(objective, bound)
    return "optimal" if found is not None and found <= gap + 1e-9 else "feasible"


@dataclass(frozen=True)
class _Known:
    """A plan the sweep has found: its assignment and schedule, f1 (USD/h) and carbon
    (kg/h)."""

    assign_u: np.ndarray
    schedule: Schedule | None
    f1: float
    carbon: float


def _point(plan: _Known, eps: float, outcome: SweepOutcome, gap: float) -> SweepPoint:
    return SweepPoint(
        carbon_cap_kg_per_h=eps,
        assign_u=plan.assign_u,
        objective_usd_per_h=plan.f1,
        carbon_kg_per_h=plan.carbon,
        bound_usd_per_h=outcome.bound,
        status=_status(plan.f1, outcome.bound, gap),
        source="solve",
        solve_s=outcome.seconds,
        schedule=plan.schedule,
    )


def _certified(eps: float, plan: _Known, bound: float | None, gap: float) -> SweepPoint:
    return SweepPoint(
        carbon_cap_kg_per_h=float(eps),
        assign_u=plan.assign_u,
        objective_usd_per_h=plan.f1,
        carbon_kg_per_h=plan.carbon,
        bound_usd_per_h=bound,
        status=_status(plan.f1, bound, gap),
        source="neighbours",
        schedule=plan.schedule,
    )


def _finish(
    points: list[SweepPoint],
    c_lo: float,
    c_hi: float,
    solves: int,
    gap: float,
    notes: list[str],
) -> Sweep:
    proven = all(p.status == "optimal" for p in points)
    how = (
        f"each proven within a relative gap of {gap:g}"
        if proven
        else "some only within their stated gap (time limit)"
    )
    if len(points) == 1:
        message = f"one plan is both the cheapest and the least-carbon one ({c_hi:,.3f} kg/h)"
    else:
        message = f"{len(points)} carbon caps from {c_lo:,.3f} to {c_hi:,.3f} kg/h, {how}"
    message += "".join(f"; {n}" for n in notes)
    return Sweep(
        "optimal" if proven else "feasible",
        message,
        tuple(points),
        carbon_min_kg_per_h=c_lo,
        carbon_max_kg_per_h=c_hi,
        solves=solves,
        relative_gap=gap,
    )


def classify(objective: np.ndarray, carbon: np.ndarray) -> list[tuple[str, int]]:
    """Per point, ("kept", -1), ("duplicate", j) or ("dominated", j).

    A point is dominated when another has no more objective (USD/h) and no more carbon
    (kg/h), and less of one (beyond SAME_RTOL); of points with the same objective and
    carbon, the first (the tightest cap) is kept and the others are duplicates of it.
    """
    objective, carbon = np.asarray(objective, float), np.asarray(carbon, float)
    tol_f = SAME_RTOL * np.maximum(1.0, np.abs(objective))
    tol_c = SAME_RTOL * np.maximum(1.0, np.abs(carbon))
    out: list[tuple[str, int]] = []
    for i in range(len(objective)):
        no_worse = (objective <= objective[i] + tol_f[i]) & (carbon <= carbon[i] + tol_c[i])
        better = (objective < objective[i] - tol_f[i]) | (carbon < carbon[i] - tol_c[i])
        dominators = np.nonzero(no_worse & better)[0]
        same = np.nonzero(no_worse & ~better)[0]
        if dominators.size:
            out.append(("dominated", int(dominators[np.argmin(objective[dominators])])))
        elif same.size and same[0] < i:
            out.append(("duplicate", int(same[0])))
        else:
            out.append(("kept", -1))
    return out


def implied_carbon_prices(objective: np.ndarray, carbon: np.ndarray) -> list[float | None]:
    """USD/t between neighbours of a front sorted cheapest first (carbon decreasing).

    Entry i > 0: (objective[i] - objective[i-1]) / (carbon[i-1] - carbon[i]) x 1000, the
    extra USD/h per tonne/h of CO2e avoided by moving from point i-1 to point i; entry 0
    is None.
    """
    out: list[float | None] = [None]
    for i in range(1, len(objective)):
        saved = carbon[i - 1] - carbon[i]
        out.append(1000.0 * (objective[i] - objective[i - 1]) / saved if saved > 0 else None)
    return out


def mean_latency_ms(problem: Problem, index: Index, assign_u: np.ndarray) -> float | None:
    """Replica-weighted mean RTT of the placed inference units, ms (None: none placed)."""
    inference = np.array([unit.kind == "inference" for unit in index.units], dtype=bool)
    rows = np.nonzero(inference & (assign_u >= 0))[0]
    if rows.size == 0:
        return None
    picked = AssignmentValues(problem, np.where(inference, assign_u, -1))
    weight = picked.take(index.replicas_uk.astype(float))
    if weight.sum() <= 0:
        return None
    return float((weight * picked.take(problem.latency_ms_uk)).sum() / weight.sum())


def with_priced_objective(scenario: Scenario, problem: Problem) -> Problem:
    """`problem` (a compile of the scenario with its carbon price set to 0:
    `without_carbon_price`) with the scenario's own objective: each pair's, and each
    preemptible run period's (`Problem.preempt`), plus the carbon price x its carbon.
    Compile's objective is linear in the carbon price, so these are the numbers of
    compiling the scenario, without a second compile. (Recomputing the whole objective
    from the amounts priced a timed option's water at its rate, not over the hours it
    runs: a plan that failed verification.)"""
    usd_per_kg = scenario.objective.carbon_price_usd_per_t / 1000.0
    objective = problem.objective_usd_per_h_uk + usd_per_kg * problem.amount_quk[Q_CARBON]
    table = problem.preempt
    if table is not None:
        table = table._replace(
            objective_usd_per_h_e=table.objective_usd_per_h_e
            + usd_per_kg * table.amount_qe[Q_CARBON]
        )
    return problem._replace(objective_usd_per_h_uk=objective, preempt=table)


def without_carbon_price(scenario: Scenario) -> Scenario:
    """The scenario with objective.carbon_price_usd_per_t = 0 (f1 of the sweep)."""
    objective = scenario.objective.model_copy(update={"carbon_price_usd_per_t": 0.0})
    return scenario.model_copy(update={"objective": objective})


def pareto_front(
    scenario: Scenario,
    n_points: int = 20,
    *,
    time_limit_s: float = 300.0,
    relative_gap: float = 1e-4,
    backend: str | None = None,
    seed: int = 0,
    keep_plans: bool = False,
    compare: bool = False,
) -> ParetoFront:
    """The cost-carbon front of a scenario, every point checked by the independent verifier.

    Compiles the scenario once with its carbon price set to 0, runs `sweep_carbon`, and
    for every grid point builds the Plan of the scenario as written, verifies it
    (`placer.plan.verify`) and checks the verifier's own carbon figure against the point's cap.
    Points whose plan duplicates or is dominated by another go to `dropped`.

    Args:
      scenario: a validated Scenario.
      n_points: carbon caps to sweep, endpoints included (>= 2).
      time_limit_s: budget for all the sweep's solves together, s.
      relative_gap: per-point optimality target.
      backend: MILP backend ("highs" default).
      seed: solver random seed.
      keep_plans: attach each point's full Plan (a feasible plan of `scenario`; its
        diagnostics say under which cap it is optimal for the swept objective).
      compare: also time one plain `placer.api.solve(scenario, solver="milp")` and
        record it as `single_solve_s` (not part of `wall_s`).

    Returns:
      The ParetoFront: kept points cheapest first.

    Raises:
      OptionError: bad options (see `sweep_carbon`), or a fleet too large for the whole
        option table (`require_whole_table`).
      SolverError: a point's plan fails verification (a bug).
    """
    started = time.perf_counter()
    require_whole_table(scenario, "placer pareto")
    base, index = compile_problem(without_carbon_price(scenario))
    engine = sweep_engine(base, backend)
    sweep = sweep_carbon(
        base,
        n_points,
        time_limit_s=time_limit_s,
        relative_gap=relative_gap,
        backend=backend,
        seed=seed,
    )
    weighted = with_priced_objective(scenario, base)
    verifier = verifier_for(scenario)
    versions = api.versions()
    points: list[ParetoPoint] = []
    for k, sp in enumerate(sweep.points):
        plan = _point_plan(scenario, weighted, index, sp, k, sweep, (engine, seed), versions)
        violations, kpis = verifier.check(plan)
        cap = sp.carbon_cap_kg_per_h
        if not violations and kpis.carbon_kg_per_h > cap * (1 + 1e-6) + 1e-9:
            violations = [f"carbon {kpis.carbon_kg_per_h:.6g} kg/h over the cap {cap:.6g}"]
        if violations:
            lines = "\n".join(f"  {v}" for v in violations[:20])
            raise SolverError(
                f"pareto point {k} (carbon cap {cap:.6g} kg/h) fails verification "
                f"(a bug; please report it):\n{lines}"
            )
        loads = compute_loads(base, sp.assign_u, sp.schedule)
        unplaced = sp.assign_u < 0
        if sp.schedule:  # runs placed by their schedules
            unplaced[list(sp.schedule)] = False
        points.append(
            ParetoPoint(
                carbon_cap_kg_per_h=cap,
                status=sp.status,
                cost_usd_per_h=float(loads.total_q[Q_COST]),
                carbon_kg_per_h=float(loads.total_q[Q_CARBON]),
                water_l_per_h=float(loads.total_q[Q_WATER]),
                objective_usd_per_h=loads.objective_usd_per_h,
                gap=sp.gap,
                mean_latency_ms=mean_latency_ms(base, index, sp.assign_u),
                unplaced_units=int(unplaced.sum()),
                wall_s=round(sp.solve_s, 4),
                plan=plan if keep_plans else None,
                bound_usd_per_h=sp.bound_usd_per_h,
                unplaced_value_usd_per_h=float(base.unplaced_usd_per_h_u[unplaced].sum()),
                source=sp.source,
            )
        )
    kept, dropped = _split(points)
    single = None
    wall = time.perf_counter() - started
    if compare:
        t0 = time.perf_counter()
        api.solve(
            scenario,
            solver="milp" if engine.startswith("milp") else "auto",
            time_limit_s=time_limit_s,
            seed=seed,
            relative_gap=relative_gap,
            backend=backend,
        )
        single = round(time.perf_counter() - t0, 4)
    return ParetoFront(
        scenario=scenario.metadata.name,
        solver=engine,
        wall_s=round(wall, 4),
        single_solve_s=single,
        points=kept,
        status=sweep.status,
        message=sweep.message,
        relative_gap=relative_gap,
        grid_points=n_points,
        solves=sweep.solves,
        carbon_min_kg_per_h=sweep.carbon_min_kg_per_h,
        carbon_max_kg_per_h=sweep.carbon_max_kg_per_h,
        dropped=dropped,
    )


def _point_plan(
    scenario: Scenario,
    weighted: Problem,
    index: Index,
    sp: SweepPoint,
    k: int,
    sweep: Sweep,
    solved_by: tuple[str, int],
    versions: dict[str, str],
) -> Plan:
    """Point k's plan of the scenario as written (its weighted objective, no bound);
    `solved_by`: (the sweep's engine, its seed)."""
    engine, seed = solved_by
    gap = sp.gap
    proof = (
        f"proven within a relative gap of {gap:.2g} (bound {sp.bound_usd_per_h:,.2f} USD/h)"
        if gap is not None
        else "no bound"
    )
    result = SolveResult(
        sp.assign_u,
        "feasible",
        message=(
            f"pareto point {k}: least cost + priced water + unplaced value (carbon price 0) "
            f"under carbon <= {sp.carbon_cap_kg_per_h:,.4f} kg/h, {proof}; a feasible plan "
            "for this scenario's own objective"
        ),
        diagnostics=[sweep.message, f"point source: {sp.source}"],
        preempt_schedule=sp.schedule,
    )
    return build_plan(
        scenario,
        weighted,
        index,
        result,
        solver=engine.split()[0],
        seed=seed,
        time_limit_s=None,
        wall_s=sp.solve_s,
        versions=versions,
    )


def _split(points: list[ParetoPoint]) -> tuple[list[ParetoPoint], list[ParetoPoint]]:
    """(kept points cheapest first with implied prices, dropped points with their note)."""
    if not points:
        return [], []
    objective = np.array([p.objective_usd_per_h for p in points])
    carbon = np.array([p.carbon_kg_per_h for p in points])
    labels = classify(objective, carbon)
    kept_idx = [i for i, (label, _) in enumerate(labels) if label == "kept"]
    kept_idx.sort(key=lambda i: (objective[i], carbon[i]))
    prices = implied_carbon_prices(objective[kept_idx], carbon[kept_idx])
    kept = [
        points[i].model_copy(update={"implied_carbon_price_usd_per_t": price})
        for i, price in zip(kept_idx, prices, strict=True)
    ]
    dropped = []
    for i, (label, j) in enumerate(labels):
        if label == "kept":
            continue
        other = points[j]
        what = "same objective and carbon as" if label == "duplicate" else "dominated by"
        note = (
            f"{what} the point with cap {other.carbon_cap_kg_per_h:,.4f} kg/h "
            f"({other.objective_usd_per_h:,.2f} USD/h, {other.carbon_kg_per_h:,.3f} kg/h)"
        )
        dropped.append(points[i].model_copy(update={"note": note}))
    return kept, dropped


__all__ = [
    "Sweep",
    "SweepPoint",
    "bisection_order",
    "carbon_grid",
    "classify",
    "implied_carbon_prices",
    "mean_latency_ms",
    "pareto_front",
    "relative_gap_of",
    "sweep_carbon",
    "without_carbon_price",
]
