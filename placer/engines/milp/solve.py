"""Solving the placement MILP: backends, parameters, hints, honest statuses.

Backends (through OR-Tools MathOpt): "highs" (default: fastest to a proven gap on
placer's instances, see docs/milp.md), "scip", "cpsat". Statuses:
  optimal     the proven gap is within `relative_gap` of the full problem
  feasible    a plan with its best bound and gap (time limit, or restricted candidates)
  infeasible  proven: no placement satisfies the hard constraints
  no_solution no plan found within the time limit
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import threading
import time

import numpy as np
from ortools.math_opt.python import mathopt

from placer import interrupt
from placer.engines.base import SolveOptions, SolveResult
from placer.engines.greedy import solve_greedy
from placer.engines.milp.formulation import (
    MAX_MODEL_TERMS,
    Formulation,
    SideRow,
    build_model,
    model_terms,
)
from placer.engines.milp.migrate_rows import read_migrations
from placer.engines.milp.preempt_rows import read_schedule
from placer.engines.milp.prices import capacity_prices
from placer.engines.milp.quiet import quiet_stdout
from placer.errors import OptionError, SolverError
from placer.problem.form import UNPLACED, Problem
from placer.problem.usage import objective_value, violations
from placer.progress import HighsLogProgress

BACKENDS: dict[str, mathopt.SolverType] = {
    "highs": mathopt.SolverType.HIGHS,
    "scip": mathopt.SolverType.GSCIP,
    "cpsat": mathopt.SolverType.CP_SAT,
}
DEFAULT_BACKEND = "highs"
#: Capacity prices come from an LP relaxation; skipped above this many variables.
MAX_PRICE_VARIABLES = 100_000
#: Time kept for the capacity-price LPs, as a fraction of the solve's time limit (they
#: run only if time is left, with what is left).
PRICE_TIME_FRACTION = 0.1
#: A solver bound may exceed the plan's objective by this relative amount (float noise).
BOUND_TOLERANCE = 1e-6
#: How the diagnostics name a bound above the returned plan's objective.
INCONSISTENT_BOUND = "solver bound inconsistent"
#: How often the thread that waits on a MathOpt solve looks for Ctrl-C, s.
WATCH_S = 0.05
#: HiGHS is asked to stop this much before the caller's limit (the larger, s and share):
#: at 10k x 100 it ended 1-2 s past a 30 s limit on an idle machine.
STOP_MARGIN_MIN_S, STOP_MARGIN_SHARE = 0.2, 0.06
#: A MathOpt solve still running this long past the caller's limit is left (`watched`):
#: the larger of these, s and share of the limit.
HARD_GRACE_MIN_S, HARD_GRACE_SHARE = 0.5, 0.03
#: Least time a MathOpt solve is given, s (when the budget is spent before it starts).
MIN_SOLVE_S = 0.05

_T = mathopt.TerminationReason


def solve_milp(
    problem: Problem,
    options: SolveOptions,
    *,
    prices: bool = True,
    side_rows: tuple[SideRow, ...] = (),
    form: Formulation | None = None,
    preempt: bool = False,
) -> SolveResult:
    """Solves the weighted MILP; `prices` adds LP-dual capacity prices (small models,
    never with `side_rows` or `form`, which their LPs do not hold); `side_rows` are extra
    linear rows (`placer.engines.milp.formulation.SideRow`); `form`, a model built by
    the caller over the same x variables (`placer.engines.milp.secure`); `preempt`, the
    preemption rows (5) for `Problem.preempt` (the `milp` solver's path: its result
    then carries `preempt_schedule`, and its bound holds for preemptible runs)."""
    backend = options.backend or DEFAULT_BACKEND
    if backend not in BACKENDS:
        raise OptionError(f"unknown MILP backend {backend!r}; choose one of {sorted(BACKENDS)}")
    if options.relative_gap < 0 or options.time_limit_s <= 0:
        raise OptionError("time_limit_s must be > 0 and relative_gap >= 0")
    started = time.perf_counter()
    deadline = started + options.time_limit_s
    terms = model_terms(problem, options.candidates_u)
    if terms > MAX_MODEL_TERMS:
        return interrupted_result(problem, options, too_big(terms))
    extended = form is not None
    if form is None:
        form = build_model(
            problem, candidates_u=options.candidates_u, side_rows=side_rows, preempt=preempt
        )
    hint_note = _apply_hint_check(problem, options)
    with_prices = prices and not side_rows and not extended and len(form.x) <= MAX_PRICE_VARIABLES
    # the model build is inside the budget; so are the prices' LPs (their share is kept)
    reserve = PRICE_TIME_FRACTION * options.time_limit_s if with_prices else 0.0
    left = deadline - time.perf_counter() - reserve
    try:
        result, assign = _run(form, problem, options, backend, max(left, MIN_SOLVE_S))
    except Interrupted as e:
        return interrupted_result(problem, options, e.why)
    res = _to_result(problem, form, result, assign, options, backend, hint_note)
    left = deadline - time.perf_counter() - reserve
    inconsistent = any(n.startswith(INCONSISTENT_BOUND) for n in res.diagnostics)
    if inconsistent and options.hint_u is not None and left > MIN_SOLVE_S:
        unhinted = dataclasses.replace(options, hint_u=None)
        try:
            result, again = _run(form, problem, unhinted, backend, left)
        except Interrupted:
            return res
        second = _to_result(problem, form, result, again, unhinted, backend, "re-solved unhinted")
        if again is not None and (
            second.objective_usd_per_h <= res.objective_usd_per_h or second.bound_usd_per_h
        ):
            res = second
    left = deadline - time.perf_counter()
    if with_prices and assign is not None and left > MIN_SOLVE_S and not interrupt.requested():
        res = dataclasses.replace(
            res,
            capacity_prices=capacity_prices(
                problem, time_limit_s=left, candidates_u=options.candidates_u
            ),
        )
    return res


def finish_with_bound(
    problem: Problem, res: SolveResult, bound: float, options: SolveOptions
) -> SolveResult:
    """Re-derives status, gap and message after a better full bound is known."""
    if res.objective_usd_per_h is None:
        return dataclasses.replace(res, bound_usd_per_h=bound, bound_scope="full")
    if res.bound_usd_per_h is not None and res.bound_scope == "full":
        bound = max(bound, res.bound_usd_per_h)
    gap = max(0.0, (res.objective_usd_per_h - bound) / max(abs(res.objective_usd_per_h), 1e-9))
    proven = gap <= options.relative_gap + 1e-12
    message = (
        f"proven optimal within a relative gap of {options.relative_gap:g}"
        if proven
        else f"best plan within {options.time_limit_s:g} s; gap {100 * gap:.3f}%"
    )
    return dataclasses.replace(
        res,
        bound_usd_per_h=bound,
        bound_scope="full",
        status="optimal" if proven else "feasible",
        message=message,
    )


def solve_milp_lexicographic(
    problem: Problem, options: SolveOptions, *, preempt: bool = False
) -> SolveResult:
    """Stage 1: maximise placed value; stage 2: minimise (0) keeping that value.
    `preempt`: both stages with the preemption rows (5) and (6), as `solve_milp`'s, a
    run placed by its schedule counting as placed."""
    backend = options.backend or DEFAULT_BACKEND
    if backend not in BACKENDS:
        raise OptionError(f"unknown MILP backend {backend!r}; choose one of {sorted(BACKENDS)}")
    form = build_model(problem, candidates_u=options.candidates_u, preempt=preempt)
    form.model.maximize(form.placed_value(problem))
    half = options.time_limit_s / 2
    try:
        stage1, assign1 = _run(form, problem, options, backend, half)
    except Interrupted as e:
        return interrupted_result(problem, options, e.why)
    if assign1 is None:
        return _to_result(problem, form, stage1, None, options, backend, "")
    best_value = float(problem.unplaced_usd_per_h_u[assign1 >= 0].sum())
    if form.preempt is not None or form.migrate is not None:  # scheduled runs count too
        best_value = float(stage1.objective_value())
    form = build_model(problem, candidates_u=options.candidates_u, preempt=preempt)
    form.model.add_linear_constraint(
        form.placed_value(problem) >= best_value - 1e-6 * max(1.0, best_value),
        name="keep_value",
    )
    hinted = dataclasses.replace(options, hint_u=assign1)
    try:
        stage2, assign2 = _run(form, problem, hinted, backend, half)
    except Interrupted as e:
        return interrupted_result(problem, hinted, e.why)
    res = _to_result(problem, form, stage2, assign2, hinted, backend, "")
    note = (
        f"lexicographic: placed value {best_value:,.2f} USD/h kept "
        f"({'proven maximal' if stage1.termination.reason == _T.OPTIMAL else 'best found'})"
    )
    return SolveResult(
        **{
            **res.__dict__,
            "bound_scope": "restricted" if res.bound_usd_per_h is not None else None,
            "diagnostics": [note, *res.diagnostics],
        }
    )


def solution_schedule(
    problem: Problem, form: Formulation, result: mathopt.SolveResult, assign: np.ndarray
) -> tuple[np.ndarray, dict[int, tuple] | None]:
    """(assign_u, schedule) of a solution of a model with preemption columns: the runs
    it preempts or moves (their assign_u -1; a schedule of one contiguous segment in one
    pool becomes that option), or None without such columns (assign_u as given)."""
    schedule = None
    if form.preempt is None and form.migrate is None:
        return assign, schedule
    values = result.variable_values()
    first = len(form.x)
    assign = assign.copy()

    def value_of(col: int) -> float:
        return values[form.extra[col - first]]

    if form.preempt is not None:  # preempted runs: their periods (assign_u -1)
        schedule = read_schedule(problem, form.preempt, value_of, assign)
    if form.migrate is not None:  # runs that migrate: their periods and pools
        schedule = {**(schedule or {}), **read_migrations(problem, form.migrate, value_of, assign)}
    return assign, schedule


def _run(
    form: Formulation, problem: Problem, options: SolveOptions, backend: str, time_limit_s: float
) -> tuple[mathopt.SolveResult, np.ndarray | None]:
    params = mathopt.SolveParameters(
        # HiGHS stops a little after its limit (it checks the clock between steps): it is
        # asked to stop early by the margin it was measured to need, so that the plan it
        # returns arrives inside the caller's limit
        time_limit=datetime.timedelta(
            seconds=max(MIN_SOLVE_S, time_limit_s - stop_margin_s(time_limit_s))
        ),
        relative_gap_tolerance=options.relative_gap,
        # HiGHS rejects `threads` (it is a global there); its MIP search is serial.
        threads=None if backend == "highs" else options.workers,
        random_seed=options.seed,
    )
    model_params = None
    if options.hint_u is not None:
        model_params = mathopt.ModelSolveParameters(solution_hints=[_hint(form, options.hint_u)])
    msg_cb = None
    if options.progress is not None and backend == "highs":
        msg_cb = HighsLogProgress(options.progress, stage="MILP")
    try:
        with quiet_stdout(), interrupt.mathopt_interrupter() as interrupter:
            result = watched(
                lambda: mathopt.solve(
                    form.model,
                    BACKENDS[backend],
                    params=params,
                    model_params=model_params,
                    msg_cb=msg_cb,
                    interrupter=interrupter,
                ),
                deadline=time.perf_counter() + time_limit_s + hard_grace_s(time_limit_s),
            )
    except Interrupted:
        raise
    except Exception as e:  # MathOpt's own error mapping can raise AttributeError
        raise SolverError(f"MILP backend {backend} failed: {e}") from None
    if not result.has_primal_feasible_solution():
        return result, None
    values = result.variable_values()
    assign = np.full(problem.num_units, UNPLACED, dtype=np.int32)
    chosen = [i for i, v in enumerate(form.x) if values[v] > 0.5]
    assign[form.pairs[chosen, 0]] = form.pairs[chosen, 1]
    return result, assign


class Interrupted(Exception):
    """A MathOpt solve was left running: Ctrl-C was pressed, or it ran past its time
    limit by more than its grace (see `watched`)."""

    def __init__(self, why: str = "interrupted (Ctrl-C)") -> None:
        super().__init__(why)
        self.why = why


def stop_margin_s(time_limit_s: float) -> float:
    """How much earlier than the caller's limit HiGHS is asked to stop, s."""
    return max(STOP_MARGIN_MIN_S, STOP_MARGIN_SHARE * time_limit_s)


def hard_grace_s(time_limit_s: float) -> float:
    """How long past its own limit a MathOpt solve may run before it is left, s."""
    return max(HARD_GRACE_MIN_S, HARD_GRACE_SHARE * time_limit_s)


def watched(call, deadline: float | None = None):
    """call()'s result, run in a worker thread while this one watches the clock and Ctrl-C.

    HiGHS through MathOpt honours neither a SolveInterrupter nor callbacks (measured: a
    40 s solve interrupted at 3 s ran 42.6 s), an exception raised in its message
    callback aborts the process, and on a loaded machine it overran its own time limit
    (58 s for 30 s beside two busy processes). The solve releases the GIL, so this
    thread can notice `interrupt.requested()`, or `deadline` (a time.perf_counter()
    value) passing, within 50 ms and raise Interrupted; the worker (a daemon) runs on to
    its own end, its result unread. `interrupt.leave_running()` records it, so that the
    CLI ends its process at once rather than wait for it."""
    if interrupt.requested():
        raise Interrupted
    box: dict = {}

    def work() -> None:
        try:
            box["result"] = call()
        except BaseException as e:  # re-raised in the calling thread
            box["error"] = e

    worker = threading.Thread(target=work, name="placer-milp", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(WATCH_S)
        if not worker.is_alive():
            break
        if interrupt.requested():
            interrupt.leave_running(worker)
            raise Interrupted
        if deadline is not None and time.perf_counter() > deadline:
            interrupt.leave_running(worker)
            raise Interrupted("time limit: the solver ran past its limit and was left")
    if "error" in box:
        raise box["error"]
    return box["result"]


def too_big(terms: int) -> str:
    """Why a model was not built."""
    return (
        f"the MILP would hold {terms:,} nonzeros, above the {MAX_MODEL_TERMS:,} it is built "
        "with (memory and time); use the hybrid"
    )


def interrupted_result(
    problem: Problem, options: SolveOptions, why: str = "interrupted (Ctrl-C)"
) -> SolveResult:
    """What a MILP that was left (Ctrl-C, or past its limit: `watched`) returns: the hint
    when it is a feasible plan (the caller's incumbent), else greedy's plan, else no
    plan; never a bound."""
    start = options.hint_u
    if start is None or violations(problem, start):
        start = solve_greedy(problem, options).assign_u
    if violations(problem, start):
        return SolveResult(
            np.full(problem.num_units, UNPLACED, dtype=np.int32),
            "no_solution",
            message=f"{why} before a plan was found",
        )
    what = "the incumbent it was given" if start is options.hint_u else "greedy's plan"
    return SolveResult(
        np.asarray(start, np.int32),
        "feasible",
        objective_usd_per_h=objective_value(problem, start),
        message=f"{why}: no MILP answer; this is {what} (no bound)",
    )


def _hint(form: Formulation, hint_u: np.ndarray) -> mathopt.SolutionHint:
    chosen = hint_u[form.pairs[:, 0]] == form.pairs[:, 1]
    values = {v: (1.0 if c else 0.0) for v, c in zip(form.x, chosen.tolist(), strict=True)}
    values.update({v: 0.0 for v in form.extra})  # a hint places runs contiguously
    chosen = np.concatenate([chosen, np.zeros(len(form.extra), bool)])
    for e, cols, coef, cap in form.excess:  # a soft row's slack: the hint's excess
        values[e] = max(0.0, float(coef[chosen[cols]].sum()) - cap)
    return mathopt.SolutionHint(variable_values=values)


def _apply_hint_check(problem: Problem, options: SolveOptions) -> str:
    if options.hint_u is None:
        return ""
    bad = violations(problem, options.hint_u)
    if bad:
        return f"hint given but infeasible ({'; '.join(bad)}): passed on as a partial guide"
    return f"hint given: feasible, objective {objective_value(problem, options.hint_u):,.2f} USD/h"


def _to_result(
    problem: Problem,
    form: Formulation,
    result: mathopt.SolveResult,
    assign: np.ndarray | None,
    options: SolveOptions,
    backend: str,
    hint_note: str,
) -> SolveResult:
    reason = result.termination.reason
    restricted = options.candidates_u is not None and len(form.pairs) < problem.num_pairs()
    scope = "restricted" if restricted else "full"
    bound = _dual_bound(result, form)
    notes = [
        f"backend {backend}: {reason.name.lower()} after "
        f"{result.solve_stats.solve_time.total_seconds():.2f} s"
    ]
    if hint_note:
        notes.append(hint_note)
    if assign is None:
        if reason in (_T.INFEASIBLE, _T.INFEASIBLE_OR_UNBOUNDED):
            what = "restricted candidate lists" if restricted else "hard constraints"
            return SolveResult(
                np.full(problem.num_units, UNPLACED, dtype=np.int32),
                "infeasible",
                message=f"proven infeasible: no placement satisfies the {what}",
                bound_scope=scope,
                diagnostics=notes,
            )
        if reason in (_T.NO_SOLUTION_FOUND, _T.FEASIBLE) or reason.name.startswith("NO_SOL"):
            return SolveResult(
                np.full(problem.num_units, UNPLACED, dtype=np.int32),
                "no_solution",
                bound_usd_per_h=bound,
                bound_scope=scope,
                message=(
                    "interrupted (Ctrl-C) before a plan was found"
                    if interrupt.requested()
                    else f"no plan found within {options.time_limit_s:g} s"
                ),
                diagnostics=notes,
            )
        raise SolverError(
            f"MILP backend {backend} ended with {reason.name}: {result.termination.detail}"
        )
    assign, schedule = solution_schedule(problem, form, result, assign)
    objective = objective_value(problem, assign, schedule)
    if bound is not None and bound > objective + BOUND_TOLERANCE * max(1.0, abs(objective)):
        # A solver's bound above the objective of a plan it returned is not a proof (seen
        # with HiGHS given a hint): no bound is claimed; `solve_milp` re-solves unhinted.
        notes.append(
            f"{INCONSISTENT_BOUND}: bound {bound:,.4f} above the plan's objective "
            f"{objective:,.4f} USD/h; no bound claimed"
        )
        bound = None
    gap = (objective - bound) / max(abs(objective), 1e-9) if bound is not None else math.inf
    proven = gap <= options.relative_gap + 1e-9
    status = "optimal" if proven and not restricted else "feasible"
    if proven and restricted:
        message = "optimal for the restricted candidate pools; the bound holds for them only"
    elif proven:
        message = f"proven optimal within a relative gap of {options.relative_gap:g}"
    elif bound is None:
        message = f"best plan within {options.time_limit_s:g} s; no bound proven"
    else:
        message = f"best plan within {options.time_limit_s:g} s; gap {100 * gap:.3f}%"
    if interrupt.requested() and not proven:
        message = "interrupted (Ctrl-C): " + message.replace(
            f"best plan within {options.time_limit_s:g} s", "best plan so far"
        )
    if options.hint_u is not None and objective <= objective_value(problem, options.hint_u) + 1e-9:
        notes.append("the returned plan is at least as good as the hint")
    return SolveResult(
        assign,
        status,
        objective_usd_per_h=objective,
        bound_usd_per_h=bound,
        message=message,
        bound_scope=scope,
        diagnostics=notes,
        preempt_schedule=(
            schedule if form.preempt is not None or form.migrate is not None else None
        ),
    )


def _dual_bound(result: mathopt.SolveResult, form: Formulation) -> float | None:
    bound = result.termination.objective_bounds.dual_bound
    if not math.isfinite(bound):
        return None
    return float(bound)
