"""Rolling-horizon re-planning over a timed scenario: re-plan every few periods as the
forecasts update, commit what the next periods do, and evaluate the realised schedule with
the actual series against the perfect-foresight plan (the oracle) and the agnostic baseline.

The loop (docs/rolling.md): at decision periods t = 0, every, 2 x every, ... the planner
sees the scenario of periods [t, end) (`placer.analysis.rolling_window`: actuals before
t, forecasts from t; end = t + lookahead, stretched to the deadline of any run that may
start inside it), with what was committed fixed: training runs that started run on in
their pool, preemptible runs under way go on or resume in their pool for the work they
have left (`_parts_go_on`), runs that may migrate go on from where they last ran,
anywhere they may run (`_moving_go_on`), runs not started keep their window. A service region's move
out of the pools it used in period t - 1 is priced on period t's options
(`rolling_moves.price_moves`). An engine that does not model preemption is followed by
the preemption polish, as in `placer solve` (`api.with_preemption`).
The solve's decisions for periods [t, t + every) are committed: runs that start there,
the periods preemptible runs run in there (and the pool of each, for runs that may
migrate), and the pools of the service units of those periods. At the end the committed
schedule is a timed plan of the original scenario, built by `placer.plan.build` from the
original's compiled problem and checked by `placer.plan.verify`; its cost and carbon are
the actual series'.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from placer.analysis.rolling_moves import count_moves, price_moves
from placer.analysis.rolling_report import Outcome, RollingReport, Step, fill_comparisons
from placer.analysis.rolling_water import water_drawn_today, with_water_drawn
from placer.analysis.rolling_window import (
    FORECASTS,
    Moving,
    Part,
    Run,
    window_end,
    window_scenario,
)
from placer.api import (
    PERIOD_CAP_SOLVERS,
    check_period_caps,
    choose_solver,
    engine_share,
    solve,
    versions,
    with_preemption,
    within_period_caps,
)
from placer.engines.base import SolveOptions, SolveResult
from placer.engines.registry import SOLVERS
from placer.errors import OptionError
from placer.model.scenario import PERIOD_CAP_FIELDS, Scenario
from placer.plan.build import build_plan
from placer.plan.plan import Plan
from placer.plan.scoring import assignment_of
from placer.plan.verify import verify
from placer.problem.agnostic import agnostic_rank
from placer.problem.compile import compile_problem
from placer.problem.compile_large import require_whole_table
from placer.problem.form import Index, Problem
from placer.problem.period_caps import PK_BUDGET
from placer.problem.preempt import (
    Schedule,
    contiguous_option,
    schedule_pools,
    segments,
    transitions,
)
from placer.problem.rows import Q_COST

#: (workload, region, copy, period, part) of a service unit, periods of the original.
ServiceKey = tuple[str, str | None, int, int, int]
#: A window's problem and index -> the problem with what a change costs in its objective.
Reprice = Callable[[Problem, Index], Problem]


@dataclass
class _Commitments:
    """What the re-plans so far have fixed: runs by workload (preemptible ones as the
    periods they ran, `parts`; those that may migrate as their periods and pools,
    `moving`), service pools by unit."""

    runs: dict[str, Run]
    services: dict[ServiceKey, str]
    parts: dict[str, Part] = field(default_factory=dict)
    moving: dict[str, Moving] = field(default_factory=dict)

    def pools_at(self, period: int) -> dict[tuple[str, str | None], set]:
        """(workload, region) -> pools its committed units use in `period`."""
        out: dict[tuple[str, str | None], set] = {}
        for (w, region, _, p, _), pool in self.services.items():
            if p == period:
                out.setdefault((w, region), set()).add(pool)
        return out


def roll(
    scenario: Scenario,
    *,
    every_periods: int = 1,
    lookahead_periods: int | None = None,
    forecast: str = "persistence",
    solver: str = "milp",
    time_limit_s: float = 10.0,
    move_cost_usd_per_replica: float | None = None,
    price_moves_in_replan: bool = True,
    oracle: bool = True,
    baseline: bool = True,
    oracle_time_limit_s: float = 120.0,
    seed: int = 0,
    on_step=None,
) -> RollingReport:
    """Simulates rolling-horizon re-planning of a timed scenario (module docstring).

    Args:
      scenario: a validated timed Scenario; its series are the actuals.
      every_periods: periods between re-plans (each commits this many periods).
      lookahead_periods: periods each re-plan looks ahead (None: to the horizon's end);
        at least `every_periods`.
      forecast: "persistence" (same time yesterday) or "perfect" (the actuals).
      solver: the engine of each re-plan and of the oracle ("milp", "hybrid", ...).
      time_limit_s: solver limit of each re-plan, s.
      move_cost_usd_per_replica: USD per replica a service moves (None: the workload's
        `migration`, `placer.analysis.rolling_moves`).
      price_moves_in_replan: the re-plan sees the moves' price (else they are only counted).
      oracle, baseline: also solve the whole horizon with the actuals (solver, limit
        `oracle_time_limit_s`), and with greedy (the agnostic baseline).
      on_step: called with each `Step` as it is done (progress), or None.

    Raises:
      OptionError: no horizon, an option out of range (named as the CLI names it), or a
        fleet too large for the whole option table (`require_whole_table`).
    """
    _check(scenario, every_periods, lookahead_periods, forecast, time_limit_s, solver)
    if move_cost_usd_per_replica is not None and not (
        math.isfinite(move_cost_usd_per_replica) and move_cost_usd_per_replica >= 0
    ):
        raise OptionError(
            f"--move-cost-usd: {move_cost_usd_per_replica!r} is not a finite number >= 0"
        )
    started = time.perf_counter()
    horizon = scenario.horizon
    assert horizon is not None
    done = _Commitments({}, {})
    steps: list[Step] = []
    require_whole_table(scenario, "placer rolling")
    problem, index = compile_problem(scenario)
    whole = (problem, index)
    for t in range(0, horizon.periods, every_periods):
        reprice = None
        if price_moves_in_replan and t > 0:
            reprice = _moves_priced(scenario, done.pools_at(t - 1), move_cost_usd_per_replica)
        step = _replan(
            scenario,
            t,
            every_periods,
            lookahead_periods,
            forecast,
            solver,
            time_limit_s,
            reprice,
            seed,
            done,
            whole,
        )
        steps.append(step)
        if on_step is not None:
            on_step(step)
    assign_u, schedule, notes = _realised(problem, index, done)
    plan = _plan(
        scenario, problem, index, assign_u, schedule, f"rolling-{solver}", time.perf_counter()
    )
    rolling = _outcome(
        "rolling", scenario, problem, index, plan, assign_u, move_cost_usd_per_replica
    )
    report = RollingReport(
        scenario=scenario.metadata.name,
        forecast=forecast,
        every_periods=every_periods,
        lookahead_periods=lookahead_periods,
        period_hours=horizon.period_hours,
        periods=horizon.periods,
        solver=solver,
        time_limit_s=time_limit_s,
        price_moves=price_moves_in_replan,
        move_cost_usd_per_replica=move_cost_usd_per_replica,
        replans=len(steps),
        rolling=rolling.model_copy(update={"wall_s": round(time.perf_counter() - started, 3)}),
        steps=steps,
        notes=notes,
        plan=plan,
    )
    others = {}
    for name, engine, limit, wanted in (
        ("oracle", solver, oracle_time_limit_s, oracle),
        ("baseline", "greedy", 60.0, baseline),
    ):
        if not wanted:
            continue
        begun = time.perf_counter()
        other = solve(scenario, solver=engine, time_limit_s=limit, seed=seed)
        other_u = assignment_of(other, index, strict=False)
        outcome = _outcome(
            name, scenario, problem, index, other, other_u, move_cost_usd_per_replica
        )
        others[name] = outcome.model_copy(update={"wall_s": round(time.perf_counter() - begun, 3)})
    report = report.model_copy(update={**others, "wall_s": round(time.perf_counter() - started, 3)})
    return fill_comparisons(report)


def _check(scenario, every, lookahead, forecast, time_limit_s, solver) -> None:
    if scenario.horizon is None:
        raise OptionError(
            "SCENARIO: rolling re-planning needs a timed scenario (horizon: start, "
            "period_hours, periods); this one is static"
        )
    caps = [n for n in PERIOD_CAP_FIELDS if getattr(scenario.objective, n) is not None]
    if caps and solver not in (*PERIOD_CAP_SOLVERS, "auto"):
        raise OptionError(
            f"--solver {solver}: objective.{caps[0]} (a cap per period) is honoured by "
            f"{', '.join(PERIOD_CAP_SOLVERS)} (or auto), not by {solver}"
        )
    if not isinstance(every, int) or every < 1:
        raise OptionError(f"--every: {every!r} is not a whole number of periods >= 1")
    if lookahead is not None and (not isinstance(lookahead, int) or lookahead < every):
        raise OptionError(
            f"--lookahead: {lookahead!r} periods; give a whole number >= --every ({every})"
        )
    if forecast not in FORECASTS:
        raise OptionError(f"--forecast: unknown {forecast!r}; choose one of {list(FORECASTS)}")
    if not (isinstance(time_limit_s, int | float) and math.isfinite(time_limit_s)):
        raise OptionError(f"--time-limit-s: {time_limit_s!r} is not a finite number")
    if time_limit_s <= 0:
        raise OptionError(f"--time-limit-s: {time_limit_s!r}; give a number of seconds > 0")
    choose_solver(solver)


def _replan(
    scenario: Scenario,
    t: int,
    every: int,
    lookahead: int | None,
    forecast: str,
    solver: str,
    time_limit_s: float,
    reprice: Reprice | None,
    seed: int,
    done: _Commitments,
    whole: tuple[Problem, Index],
) -> Step:
    """One re-plan at period t: solve the window, commit periods [t, t + every).
    `reprice`: the window's problem with what a change costs in its objective (the moves
    out of period t - 1's pools, `_moves_priced`), or None. `whole`: the scenario's own
    problem (what the committed schedule drew so far)."""
    begun = time.perf_counter()
    end = window_end(scenario, t, lookahead, done.runs, done.moving)
    days = scenario.horizon.period_days() if scenario.horizon is not None else None
    capped = any(s.cooling.water_cap_l_per_day is not None for s in scenario.sites)
    mid_day = capped and days is not None and t > 0 and days[t - 1] == days[t]
    starts = t > 0 and whole[0].startup is not None  # start-ups at t count from t - 1's
    # the committed schedule so far on the whole problem, mapped once for both uses
    so_far = _realised(*whole, done, under_way=True) if mid_day or starts else None
    running = _running_replicas(*whole, so_far[0], t - 1) if starts and so_far else None
    window, missed = window_scenario(
        scenario, t, end, done.runs, forecast, done.parts, running, done.moving
    )
    problem, index = compile_problem(window)
    if mid_day and so_far is not None:
        assign_u, schedule, _ = so_far
        drawn = water_drawn_today(*whole, assign_u, t, days, schedule)
        problem = with_water_drawn(problem, index, drawn)
    problem = _fixed_runs(problem, index, done.runs)
    problem = _parts_go_on(problem, index, done.parts, t)
    problem = _moving_go_on(problem, index, done.moving, t)
    if reprice is not None:
        problem = reprice(problem, index)
    name = choose_solver(solver, problem)
    check_period_caps(problem, name)
    if name != "milp":
        problem = _resumed_by_polish(problem)
    options = SolveOptions(
        time_limit_s=time_limit_s * engine_share(problem, name),
        seed=seed,
        rank_uk=agnostic_rank(problem, index) if name == "greedy" else None,
    )
    result = _solved(problem, options, name)
    fell_back = ""
    if problem.period_caps is not None:  # as placer solve: greedy's plan if it breaks one
        kept = result
        result = within_period_caps(problem, index, options, result, name)
        if result is not kept:
            fell_back = str(result.diagnostics[0])
    polish_s = time_limit_s - options.time_limit_s  # the preemption polish's share
    result = with_preemption(problem, name, options, result, time.perf_counter() + polish_s)
    note = f"{len(missed)} runs past their deadline: {', '.join(missed)}" if missed else ""
    note = "; ".join(x for x in (note, fell_back) if x)
    if result.status not in ("optimal", "feasible"):
        result, more = _relaxed(problem, options, name, result, polish_s)
        note = "; ".join(x for x in (note, more) if x)
    stopped = _stopped(index, result, t, done)
    if stopped:
        note = "; ".join(
            x
            for x in (
                note,
                f"stopped at period {t} (their rest does not fit): " + ", ".join(stopped),
            )
            if x
        )
    runs, units = _commit(problem, index, result, t, every, done, whole)
    return Step(
        t=t,
        end=end,
        status=result.status,
        committed_runs=runs,
        committed_units=units,
        stopped_runs=stopped,
        note=note,
        wall_s=round(time.perf_counter() - begun, 3),
    )


def _moves_priced(scenario: Scenario, before: dict, per_replica_usd: float | None) -> Reprice:
    """A window's repricing: each service region's move out of `before` (the pools it
    used in the period before the window) priced on the window's first period
    (`rolling_moves.price_moves`)."""

    def reprice(problem: Problem, index: Index) -> Problem:
        return price_moves(scenario, problem, index, before, per_replica_usd)

    return reprice


#: Of a window's MILP time with runs that may migrate, the share of the first solve
#: without their moves (`_solved`).
PLAIN_SHARE = 0.3


def _solved(problem: Problem, options: SolveOptions, name: str) -> SolveResult:
    """The window's solve. The MILP of a window where runs may migrate (rows (6)) is much
    harder than without them: on us_week with every run migrating, 5 s re-plans ended
    1.4% above the oracle where re-plans that did not move runs ended 0.03% above. So it
    first solves the window without their moves (their contiguous options only) for
    `PLAIN_SHARE` of the time, then with them, hinted with that plan; it returns the
    better of the two that places every must-place unit."""
    table = problem.preempt
    if name != "milp" or table is None or not table.migrates_v.any():
        return SOLVERS[name](problem, options)
    plain_table = table.keep_choices(~table.migrates_v[table.run_c])
    plain = _unstuck(problem._replace(preempt=plain_table))
    first_s = options.time_limit_s * PLAIN_SHARE
    first = SOLVERS[name](plain, dataclasses.replace(options, time_limit_s=first_s))
    whole_ok = (
        first.status in ("optimal", "feasible")
        and not (
            problem.must_place_u
            & (np.asarray(first.assign_u) < 0)
            & ~np.isin(np.arange(problem.num_units), list(first.preempt_schedule or {}))
        ).any()
    )
    hint = np.asarray(first.assign_u) if first.status in ("optimal", "feasible") else None
    rest = dataclasses.replace(options, time_limit_s=options.time_limit_s - first_s, hint_u=hint)
    second = SOLVERS[name](problem, rest)
    if second.status not in ("optimal", "feasible"):
        return first if whole_ok else second
    if (
        whole_ok
        and (first.objective_usd_per_h or np.inf) < (second.objective_usd_per_h or np.inf) - 1e-9
    ):
        return first
    return second


def _running_replicas(
    problem: Problem, index: Index, assign_u: np.ndarray, period: int
) -> dict[str, dict[str, int]]:
    """Workload -> pool name -> the replicas the committed schedule (`assign_u`, on the
    original problem: its actual demand) runs in `period`, for every service with a
    start-up cost (`Problem.startup`)."""
    table = problem.startup
    assert table is not None
    out: dict[str, dict[str, int]] = {}
    slot_u = problem.slot_of(assign_u)
    placed = (assign_u >= 0) & (slot_u >= 0) & (table.service_u >= 0)
    for u in np.flatnonzero(placed & (table.period_u == period)).tolist():
        pool = index.pools[int(problem.pool_o[assign_u[u]])].name
        counts = out.setdefault(index.units[u].workload, {})
        counts[pool] = counts.get(pool, 0) + int(table.replicas_uk[u, slot_u[u]])
    return out


def _fixed_runs(problem: Problem, index: Index, runs: dict[str, Run]) -> Problem:
    """Running runs may use only their own pool (a site may hold two pools of their
    accelerator); a unit with no option left is optional (it shows as unplaced)."""
    keep = problem.listed_uk.copy()
    for u, unit in enumerate(index.units):
        run = runs.get(unit.workload) if unit.kind == "training" else None
        if run is None:
            continue
        options, slots = problem.options_of(u)
        for o, k in zip(options.tolist(), slots.tolist(), strict=True):
            keep[u, k] = index.pools[int(problem.pool_o[o])].name == run.pool
    return _unstuck(problem.restricted(keep))


def _unstuck(problem: Problem) -> Problem:
    """A unit with neither an option nor a preemption choice left is optional (it shows
    as unplaced)."""
    stuck = ~problem.listed_uk.any(axis=1)
    table = problem.preempt
    if table is not None:
        stuck[table.unit_v[np.unique(table.run_c)]] = False
    return problem._replace(must_place_u=problem.must_place_u & ~stuck)


def _parts_go_on(problem: Problem, index: Index, parts: dict[str, Part], t: int) -> Problem:
    """Preemptible runs under way may use only their own pool; one that ran in t - 1
    goes on (`Preempt.continues_v`). Its contiguous options (which pay their last period
    for the hours run) stay only where the whole run may still be one segment: it ran
    without a pause so far and goes on now (those starting at t). Else its schedule has
    two segments or more whatever the window does, and pays each period in full: it is
    placed by its preemption schedules only."""
    table = problem.preempt
    if not parts or table is None:
        return problem
    time_index = index.time
    assert time_index is not None
    keep = problem.listed_uk.copy()
    keep_c = np.ones(table.pool_c.shape[0], bool)
    choice_pool = np.array([index.pools[int(p)].name for p in table.pool_c.tolist()], object)
    goes_on = np.zeros(table.num_runs, bool)
    for u, unit in enumerate(index.units):
        part = parts.get(unit.workload) if unit.kind == "training" else None
        if part is None:
            continue
        running = part.running_at(t)
        whole = running and len(segments(part.periods)) == 1  # one segment so far
        options, slots = problem.options_of(u)
        for o, k in zip(options.tolist(), slots.tolist(), strict=True):
            own = index.pools[int(problem.pool_o[o])].name == part.pool
            keep[u, k] = own and whole and int(time_index.start_o[o]) == 0
        v = table.run_of(u)
        if v >= 0:
            keep_c &= (table.run_c != v) | (choice_pool == part.pool)
            goes_on[v] = running
    table = table.keep_choices(keep_c)._replace(continues_v=goes_on)
    return _unstuck(problem.restricted(keep)._replace(preempt=table))


def _moving_go_on(problem: Problem, index: Index, moving: dict[str, Moving], t: int) -> Problem:
    """Runs that may migrate, under way, start from where they last ran
    (`Preempt.last_pool_v`; `continues_v` when they ran in t - 1): a first period
    elsewhere is a move, there a resume unless it goes on. A contiguous option is the
    whole run only where it ran in one segment so far, goes on now and stays: those of
    its last pool starting at t; its other options are dropped (its schedules place it)."""
    table = problem.preempt
    if not moving or table is None:
        return problem
    time_index = index.time
    assert time_index is not None
    pool_named = {p.name: i for i, p in enumerate(index.pools)}
    keep = problem.listed_uk.copy()
    last_v = (
        np.full(table.num_runs, -1, np.int32)
        if table.last_pool_v is None
        else table.last_pool_v.copy()
    )
    goes_on = (
        np.zeros(table.num_runs, bool) if table.continues_v is None else table.continues_v.copy()
    )
    fixed_c = table.fixed_usd_per_h_c.copy()
    egress_paid: list[tuple[int, int, float]] = []  # (unit, slot, USD/h) of kept options
    for u, unit in enumerate(index.units):
        run = moving.get(unit.workload) if unit.kind == "training" else None
        if run is None:
            continue
        v = table.run_of(u)
        last = pool_named.get(run.last_pool, -1)
        whole = run.running_at(t) and run.whole
        # the dataset's egress is paid at the sites it ran at: free there from now on
        ran_at = {int(problem.pool_site_p[pool_named[p]]) for p in run.pools if p in pool_named}
        paid = np.zeros(fixed_c.size, bool)
        if v >= 0 and table.site_c is not None:
            paid = (table.run_c == v) & np.isin(table.site_c, list(ran_at))
        at_last = fixed_c[paid & (table.pool_c == last)]
        options, slots = problem.options_of(u)
        for o, k in zip(options.tolist(), slots.tolist(), strict=True):
            own = int(problem.pool_o[o]) == last
            keep[u, k] = own and whole and int(time_index.start_o[o]) == 0
            if keep[u, k] and at_last.size and at_last[0] > 0:
                egress_paid.append((u, k, float(at_last[0])))
        fixed_c[paid] = 0.0
        if v >= 0:
            last_v[v] = last
            goes_on[v] = run.running_at(t)
    table = table._replace(last_pool_v=last_v, continues_v=goes_on, fixed_usd_per_h_c=fixed_c)
    problem = _without_egress(problem, egress_paid)
    return _unstuck(problem.restricted(keep)._replace(preempt=table))


def _without_egress(problem: Problem, paid: list[tuple[int, int, float]]) -> Problem:
    """The problem with each (unit, slot, egress USD/h) option's dataset egress taken out
    of its objective, its cost and its first period's budget per period (the run paid it
    when it first ran there)."""
    if not paid:
        return problem
    objective = problem.objective_usd_per_h_uk.copy()
    amount = problem.amount_quk.copy()
    for u, k, usd_per_h in paid:
        objective[u, k] -= usd_per_h
        amount[Q_COST, u, k] -= usd_per_h
    out = problem._replace(objective_usd_per_h_uk=objective, amount_quk=amount)
    caps = problem.period_caps
    if caps is None:
        return out
    amount_e = caps.amount_e.copy()
    for u, k, usd_per_h in paid:
        # compile_time counts the egress in the first period of the run's window
        mine = np.flatnonzero((caps.unit_e == u) & (caps.slot_e == k))
        budget = mine[caps.kind_c[caps.row_e[mine]] == PK_BUDGET]
        if budget.size:
            first = budget[np.argmin(caps.period_c[caps.row_e[budget]])]
            amount_e[first] -= usd_per_h * caps.scale
    return out._replace(period_caps=caps._replace(amount_e=amount_e))


def _penalty(problem: Problem) -> float:
    """USD/h a must-place unit loses when a re-plan makes it optional: above any option's
    objective, so that a plan leaves it out only when it cannot place it."""
    largest = float(np.abs(problem.objective_usd_per_h_uk).max(initial=0.0))
    table = problem.preempt
    if table is not None and table.objective_usd_per_h_e.size:
        largest = max(largest, float(np.abs(table.objective_usd_per_h_e).sum()))
    return 100.0 * largest + 1.0


def _resumed_by_polish(problem: Problem) -> Problem:
    """For an engine that places runs contiguously: a must-place run that only its
    preemption schedules can place (a paused run under way) is optional to it, at a
    large loss (`_penalty`); the preemption polish after it places the run."""
    table = problem.preempt
    if table is None:
        return problem
    only = problem.must_place_u & ~problem.listed_uk.any(axis=1)
    only &= np.isin(np.arange(problem.num_units), table.unit_v[np.unique(table.run_c)])
    if not only.any():
        return problem
    return problem._replace(
        must_place_u=problem.must_place_u & ~only,
        unplaced_usd_per_h_u=np.where(
            only,
            np.maximum(problem.unplaced_usd_per_h_u, _penalty(problem)),
            problem.unplaced_usd_per_h_u,
        ),
    )


def _size(problem: Problem) -> np.ndarray:
    """float64[U] in [0, 1]: each unit's cheapest listed option's objective over the
    largest one's. A unit left out at `_penalty` x (1 + size) costs more the more work
    it holds, so a window that must leave units out leaves the least work out (a small
    run rather than a long one under way), however much the big one would cost to run."""
    listed = problem.listed_uk
    cheapest = np.where(listed, problem.objective_usd_per_h_uk, np.inf).min(axis=1)
    cheapest = np.where(np.isfinite(cheapest), np.maximum(cheapest, 0.0), 0.0)
    largest = float(cheapest.max(initial=0.0))
    return cheapest / largest if largest > 0 else np.zeros(problem.num_units)


def _relaxed(
    problem: Problem, options: SolveOptions, name: str, failed: SolveResult, polish_s: float
):
    """A second solve where no unit must be placed, each must-place unit losing a large
    value when left out, the larger the more work it holds (`_size`): the window (with
    its forecasts) admits no plan as given;
    followed by the preemption polish for `polish_s` seconds."""
    penalty = _penalty(problem) * (1.0 + _size(problem))
    loose = problem._replace(
        must_place_u=np.zeros_like(problem.must_place_u),
        unplaced_usd_per_h_u=np.where(
            problem.must_place_u,
            np.maximum(problem.unplaced_usd_per_h_u, penalty),
            problem.unplaced_usd_per_h_u,
        ),
    )
    result = SOLVERS[name](loose, options)
    result = with_preemption(loose, name, options, result, time.perf_counter() + polish_s)
    return result, f"{failed.status} as given; solved with must-place units optional"


def _stopped(index: Index, result: SolveResult, t: int, done: _Commitments) -> list[str]:
    """The runs under way at t (started and not finished: `done.runs`, `parts`,
    `moving`) that the window's plan leaves out: they stop at t. Each is removed from
    the commitments, so the realised plan leaves it out (it ran, but did not finish)."""
    time_index = index.time
    assert time_index is not None
    ph = time_index.period_hours
    under_way = {w for w, run in done.runs.items() if run.end_h(ph) > t * ph + 1e-9}
    under_way |= {w for w, part in done.parts.items() if part.left_h(ph) > 1e-9}
    under_way |= {w for w, run in done.moving.items() if run.done < 1.0 - 1e-9}
    if not under_way:
        return []
    placed = set()
    if result.status in ("optimal", "feasible"):
        assign_u = np.asarray(result.assign_u)
        placed = {index.units[u].workload for u in np.flatnonzero(assign_u >= 0).tolist()}
        placed |= {index.units[u].workload for u in (result.preempt_schedule or {})}
    stopped = sorted(under_way - placed)
    for w in stopped:
        for held in (done.runs, done.parts, done.moving):
            held.pop(w, None)
    return stopped


def _commit(problem, index: Index, result: SolveResult, t: int, every: int, done, whole) -> tuple:
    """Commits the runs that start in [t, t + every), the periods of [t, t + every) that
    preemptible runs run in, and the service units of those periods; returns (the runs
    committed or run on, the number of service units committed)."""
    time_index = index.time
    assert time_index is not None
    if result.status not in ("optimal", "feasible"):
        return [], 0
    assign_u = np.asarray(result.assign_u)
    slot_u = problem.slot_of(assign_u)
    runs, units = [], 0
    table = problem.preempt
    pausing = set() if table is None else set(table.unit_v[table.pauses_v].tolist())
    migrating = set() if table is None else set(table.unit_v[table.migrates_v].tolist())
    for u, value in sorted((result.preempt_schedule or {}).items()):
        workload = index.units[u].workload
        if u in migrating:
            pools = [int(p) for p in schedule_pools(value)]
            name = _move_on(index, whole, done, workload, value[1], pools, t, every)
        else:
            name = _run_on(index, whole, done, workload, int(value[0]), value[1], t, every)
        runs += [name] if name else []
    for u in np.flatnonzero(assign_u >= 0).tolist():
        unit = index.units[u]
        o = int(assign_u[u])
        pool = index.pools[int(problem.pool_o[o])]
        if unit.kind == "training" and u in migrating:
            start, length = int(time_index.start_o[o]), int(time_index.length_o[o])
            periods = range(start, start + length)
            pools = [int(problem.pool_o[o])] * length
            name = _move_on(index, whole, done, unit.workload, periods, pools, t, every)
            runs += [name] if name else []
        elif unit.kind == "training" and u in pausing:
            start, length = int(time_index.start_o[o]), int(time_index.length_o[o])
            periods = range(start, start + length)
            pool_i = int(problem.pool_o[o])
            name = _run_on(index, whole, done, unit.workload, pool_i, periods, t, every)
            runs += [name] if name else []
        elif unit.kind == "training":
            start = int(time_index.start_o[o])
            if unit.workload in done.runs or start >= every:
                continue
            hours = float(index.hours_uk[u, slot_u[u]])
            done.runs[unit.workload] = Run(pool.name, pool.site, pool.accelerator, t + start, hours)
            runs.append(unit.workload)
        elif unit.period < every:
            key = (unit.workload, unit.region, unit.copy, t + unit.period, unit.part)
            done.services[key] = pool.name
            units += 1
    return runs, units


def _run_on(index: Index, whole, done, workload: str, pool: int, periods, t: int, every: int):
    """Commits the periods of [t, t + every) a preemptible run runs in (`periods` of the
    window, on its pool `pool`); returns the workload when it ran, else None."""
    now = tuple(t + int(p) for p in sorted(periods) if int(p) < every)
    if not now:
        return None
    name = index.pools[pool].name
    part = done.parts.get(workload)
    if part is None:
        info = index.pools[pool]
        problem, whole_index = whole
        table = problem.preempt
        assert table is not None
        u = next(i for i, x in enumerate(whole_index.units) if x.workload == workload)
        p = next(i for i, x in enumerate(whole_index.pools) if x.name == name)
        c = table.choice_of(u, p)
        assert c >= 0, f"{workload} has no preemption choice on {name}"
        v = int(table.run_c[c])
        part = Part(
            name,
            info.site,
            info.accelerator,
            float(table.need_h_c[c]),
            float(table.overhead_h_v[v]),
            (),
        )
    assert part.pool == name, f"{workload} went on in {name}, not its pool {part.pool}"
    done.parts[workload] = Part(
        part.pool, part.site, part.accelerator, part.need_h, part.overhead_h, part.periods + now
    )
    return workload


def _move_on(index: Index, whole, done, workload: str, periods, pools, t: int, every: int):
    """Commits the periods of [t, t + every) a run that may migrate runs in (`periods` of
    the window, `pools` its window pool indices), with the work done so far; returns the
    workload when it ran, else None."""
    now = sorted(
        (t + int(p), index.pools[int(q)].name)
        for p, q in zip(periods, pools, strict=True)
        if int(p) < every
    )
    if not now:
        return None
    before = done.moving.get(workload)
    all_periods = (before.periods if before else ()) + tuple(p for p, _ in now)
    all_pools = (before.pools if before else ()) + tuple(q for _, q in now)
    problem, whole_index = whole
    table = problem.preempt
    assert table is not None and table.move_overhead_h_v is not None
    u = next(i for i, x in enumerate(whole_index.units) if x.workload == workload)
    named = {x.name: i for i, x in enumerate(whole_index.pools)}
    need = {q: float(table.need_h_c[table.choice_of(u, named[q])]) for q in set(all_pools)}
    v = table.run_of(u)
    # the fraction of its work done: each period's hours over its hours on that pool,
    # less each move's and each resume's overhead there (docs/time.md, "Migration")
    moves, resumes = transitions(list(all_periods), list(all_pools))
    ph = float(table.period_hours)
    work = sum(ph / need[q] for q in all_pools)
    work -= sum(float(table.move_overhead_h_v[v]) / need[all_pools[i]] for i in moves)
    work -= sum(float(table.overhead_h_v[v]) / need[all_pools[i]] for i in resumes)
    done.moving[workload] = Moving(
        all_periods, all_pools, work, need[all_pools[-1]], float(table.overhead_h_v[v])
    )
    return workload


def _realised(
    problem: Problem, index: Index, done: _Commitments, under_way: bool = False
) -> tuple[np.ndarray, Schedule, list]:
    """int32[U]: the committed schedule on the original problem, the preemptible runs
    that paused (unit -> (pool, periods); their assign_u is -1), and notes on what did
    not map onto it (a committed pool no option of the actual unit lists, a run under
    way that did not finish). `under_way`: a preemptible run not finished yet is in the
    schedule with the periods it ran so far (what it drew: the loop's water), else it
    is left out (the realised plan at the end)."""
    time_index = index.time
    assert time_index is not None
    assign_u = np.full(problem.num_units, -1, np.int32)
    schedule: Schedule = {}
    notes = []
    ph = time_index.period_hours
    pool_named = {x.name: i for i, x in enumerate(index.pools)}
    for u, unit in enumerate(index.units):
        moving = done.moving.get(unit.workload) if unit.kind == "training" else None
        if moving is not None:
            _realised_move(problem, index, u, moving, assign_u, schedule, notes, under_way)
            continue
        part = done.parts.get(unit.workload) if unit.kind == "training" else None
        if part is not None:
            pool = pool_named[part.pool]
            if part.left_h(ph) > 1e-6:
                if under_way:
                    schedule[u] = (pool, part.periods)
                else:
                    notes.append(
                        f"{unit.name}: started but did not finish ({part.left_h(ph):g} h "
                        "left); left out of the realised schedule"
                    )
                continue
            table = problem.preempt
            assert table is not None
            option = contiguous_option(table, table.choice_of(u, pool), part.periods)
            if option >= 0 and (problem.option_uk[u] == option).any():
                assign_u[u] = option
            else:
                schedule[u] = (pool, part.periods)
            continue
        options, _ = problem.options_of(u)
        names = [index.pools[int(problem.pool_o[o])].name for o in options.tolist()]
        if unit.kind == "training":
            run = done.runs.get(unit.workload)
            if run is None:
                continue
            match = [
                o
                for o, n in zip(options.tolist(), names, strict=True)
                if n == run.pool and int(time_index.start_o[o]) == run.start
            ]
        else:
            key = (unit.workload, unit.region, unit.copy, unit.period, unit.part)
            pool = done.services.get(key)
            if pool is None:
                continue
            match = [o for o, n in zip(options.tolist(), names, strict=True) if n == pool]
        if match:
            assign_u[u] = match[0]
        else:
            notes.append(f"{unit.name}: its committed pool is not an option with actual demand")
    return assign_u, schedule, notes


def _realised_move(problem, index, u: int, run: Moving, assign_u, schedule, notes, under_way):
    """A migrating run's committed periods and pools on the original problem: its
    contiguous option where it ran one segment of that option's length in one pool,
    else a schedule (`_realised`)."""
    named = {x.name: i for i, x in enumerate(index.pools)}
    pools = tuple(named[q] for q in run.pools)
    if run.done < 1.0 - 1e-6 and not under_way:
        notes.append(
            f"{index.units[u].name}: started but did not finish ({1.0 - run.done:.3g} of its "
            "work left); left out of the realised schedule"
        )
        return
    if len(set(pools)) == 1:
        table = problem.preempt
        option = -1
        if table is not None and run.done >= 1.0 - 1e-6:
            option = contiguous_option(table, table.choice_of(u, pools[0]), run.periods)
        if option >= 0 and (problem.option_uk[u] == option).any():
            assign_u[u] = option
        else:
            schedule[u] = (pools[0], run.periods)
        return
    schedule[u] = (pools[0], run.periods, pools)


def _plan(scenario, problem, index, assign_u, schedule, solver: str, started: float) -> Plan:
    result = SolveResult(
        assign_u=assign_u,
        status="feasible",
        message="the realised schedule",
        preempt_schedule=schedule if problem.preempt is not None else None,
    )
    return build_plan(
        scenario,
        problem,
        index,
        result,
        solver=solver,
        seed=0,
        time_limit_s=None,
        wall_s=time.perf_counter() - started,
        versions=versions(),
    )


def _outcome(name, scenario, problem, index, plan: Plan, assign_u, per_replica) -> Outcome:
    """A schedule's figures with the actual series (moves counted on the original)."""
    moves, move_usd = count_moves(scenario, problem, index, assign_u, per_replica)
    horizon = plan.horizon
    cost = horizon.cost_usd if horizon is not None else 0.0
    trainings = {w.id for w in scenario.workloads if w.kind == "training"}
    placed = {p.workload for p in plan.placements if p.kind == "training"}
    unserved = sum(1 for u in plan.unplaced if u.workload not in trainings)
    return Outcome(
        name=name,
        solver=plan.solver,
        status=plan.status,
        cost_usd=cost,
        carbon_kg=horizon.carbon_kg if horizon is not None else 0.0,
        objective_usd=horizon.objective_usd if horizon is not None else 0.0,
        moves=moves,
        move_cost_usd=move_usd,
        cost_with_moves_usd=cost + move_usd,
        runs=len(trainings),
        runs_on_time=len(placed),
        runs_missed=sorted(trainings - placed),
        paused_runs=sum(1 for p in plan.placements if p.kind == "training" and p.segments),
        unserved_units=unserved,
        violations=[str(v) for v in verify(scenario, plan)],
    )
