"""Re-planning a timed fleet from its running plan: `placer replan` on a scenario with a
horizon (docs/replan.md, "Timed fleets").

The scenario is the whole horizon as it is known now (what changed is in it: a grid event
added, a series lowered, a forecast revised); `--current` is the timed plan being run;
`--at` is the period the re-plan decides from. Periods before it are history: what the
current plan did there is what ran. From it on the rest is re-planned against the
scenario, one window of the rolling loop (`placer.analysis.rolling`) with the actual
series and a lookahead to the horizon's end:

  * training runs that started before `--at` go on in their pool for what remains
    (preemptible ones may pause and resume there); a run whose rest no longer fits is
    left out, and the report says so;
  * runs not started yet are placed anew within their windows (a new pool or start is a
    *reschedule*: nothing runs yet, so it costs nothing, and is listed);
  * each service unit of a period from `--at` on whose pool differs from the current
    plan's for that unit is a *change*, priced once as a move of `placer replan` (the
    workload's `migration` block: `rolling_moves.move_cost_usd`), so the re-plan keeps
    what still holds unless a change pays.

The result is the whole horizon's plan (the history and the re-plan), built on the
scenario's compiled problem and checked by `placer.plan.verify`; the report compares it
with the current plan scored on the same scenario, and counts the period-to-period moves
of both schedules as `placer rolling` does.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import time
from collections.abc import Sequence

import numpy as np

from placer.analysis.replan_time_report import TimedChange, TimedEvent, TimedReplanReport
from placer.analysis.rolling import (
    Reprice,
    _Commitments,
    _move_on,
    _plan,
    _realised,
    _replan,
    _run_on,
)
from placer.analysis.rolling_moves import count_moves, move_cost_usd
from placer.analysis.rolling_window import Run, instant
from placer.api import choose_solver
from placer.errors import OptionError
from placer.model.horizon import Horizon
from placer.model.scenario import Scenario
from placer.plan.plan import Plan
from placer.plan.score_schedule import schedule_of
from placer.plan.scoring import assignment_of
from placer.plan.verify import verify
from placer.problem.compile import compile_problem
from placer.problem.compile_large import require_whole_table
from placer.problem.form import Index, Problem
from placer.problem.preempt import Schedule, schedule_pools

#: Of the time limit, what the plans and their checks after the solves keep (at most
#: POST_MAX_S seconds).
POST_SHARE, POST_MAX_S = 0.1, 5.0
#: The least a window's solve is given, s.
MIN_SOLVE_S = 0.2
#: (workload, region, copy, period, part): a unit of the scenario, periods of its horizon.
UnitKey = tuple[str, str | None, int, int, int]


def at_period(horizon: Horizon, at: str) -> int:
    """The period `--at` names: a whole number (0-based), or an ISO 8601 instant with a
    time zone on a period boundary.

    Raises:
      OptionError: neither, outside the horizon, or not on a boundary.
    """
    text = at.strip()
    if text.lstrip("-").isdigit():
        t = int(text)
    else:
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            raise OptionError(
                f"--at: {at!r} is neither a period (a whole number) nor an ISO 8601 instant"
            ) from None
        if when.tzinfo is None:
            raise OptionError(f"--at: {at!r} has no time zone; add one, e.g. +00:00")
        hours = (when - horizon.start_time).total_seconds() / 3600.0
        t = round(hours / horizon.period_hours)
        if abs(hours - t * horizon.period_hours) > 1e-6:
            raise OptionError(
                f"--at: {at!r} is not on a period boundary (periods of "
                f"{horizon.period_hours:g} h from {horizon.start})"
            )
    if not 0 <= t < horizon.periods:
        raise OptionError(
            f"--at: period {t} is outside the horizon (periods 0-{horizon.periods - 1})"
        )
    return t


def replan_timed(
    scenario: Scenario,
    current: Plan,
    *,
    at: int,
    solver: str = "auto",
    time_limit_s: float = 60.0,
    seed: int = 0,
    source: str = "--current",
    events: Sequence[TimedEvent] = (),
) -> TimedReplanReport:
    """Re-plans a running timed fleet from period `at` (module docstring).

    Args:
      scenario: the validated timed scenario, as known now.
      current: the timed plan being run (`placer solve -o plan.json`), of the same horizon.
      at: the period the re-plan decides from (`at_period`).
      solver: the engine of the re-plan (`placer solve`'s names; auto picks by size).
      time_limit_s: wall-clock limit of the whole call (compile and checks included), s.
      source: how errors name the current plan.
      events: the `--event` changes already in `scenario`
        (`placer.analysis.replan_time_events.events_from`), for the report.

    Raises:
      OptionError: a static scenario, a plan of another horizon or naming what the
        scenario lacks, a fleet too large for the whole option table, a bad option.
    """
    started = time.perf_counter()
    horizon = _check(scenario, current, at, time_limit_s, source)
    choose_solver(solver)
    require_whole_table(scenario, "placer replan")
    problem, index = compile_problem(scenario)
    current_u, current_schedule, unknown = _read_current(current, problem, index, source)
    before = _plan(scenario, problem, index, current_u, current_schedule, "current", started)
    problems = [f"{u}: {why}" for u, why in unknown]
    problems += [str(v) for v in verify(scenario, before)]
    history = _history(problem, index, current_u, current_schedule, at)
    pools = _pools_of(problem, index, current_u, current_schedule)
    for pl in current.placements:  # placed where it is no option now: it still runs there
        if pl.kind == "inference" and pl.period is not None:
            key = (pl.workload, pl.region, pl.copy_index, pl.period, pl.part)
            pools.setdefault(key, f"{pl.site}/{pl.pool}")

    # The limit holds for the whole call: a window's solve may be followed by a second
    # one with must-place units optional (`rolling._relaxed`), so each gets half of its
    # share; the first window gets half of what is left, a retry most of the rest.
    deadline = started + time_limit_s
    reserve = min(POST_MAX_S, POST_SHARE * time_limit_s)  # the plans and their checks

    def window(done: _Commitments, share: float):
        limit_s = max(MIN_SOLVE_S, (deadline - reserve - time.perf_counter()) * share / 2)
        return _replan(
            scenario,
            at,
            horizon.periods - at,  # the whole rest is committed
            None,
            "perfect",
            solver,
            limit_s,
            _changes_priced(scenario, at, pools),
            seed,
            done,
            (problem, index),
        )

    done = copy.deepcopy(history)
    step = window(done, 0.5)
    notes = []
    if step.stopped_runs:  # restart them from scratch where their windows still allow
        retry = copy.deepcopy(history)
        for w in step.stopped_runs:
            for held in (retry.runs, retry.parts, retry.moving):
                held.pop(w, None)
        again = window(retry, 0.9)
        if again.status in ("optimal", "feasible"):
            placed = set(retry.runs) | set(retry.parts) | set(retry.moving)
            for w in step.stopped_runs:
                what = (
                    "so it restarts from scratch (its progress is lost)"
                    if w in placed
                    else "and no restart fits by its deadline: it stops"
                )
                notes.append(f"{w}: under way at period {at}; its rest does not fit, {what}")
            done, step = retry, again
    assign_u, schedule, more = _realised(problem, index, done)
    notes += more
    plan = _plan(scenario, problem, index, assign_u, schedule, f"replan-{solver}", started)
    changes = _changes(scenario, problem, index, at, pools, assign_u, schedule)
    lost = {
        c.unit
        for c in changes
        if c.kind == "run"
        and c.before.endswith("(running)")
        and (c.after is None or c.after.endswith("(restart)"))
    }
    sunk = _sunk_usd(current, lost, at)
    change_usd = sum(c.cost_usd for c in changes)
    moves_before, _ = count_moves(scenario, problem, index, current_u)
    moves_after, _ = count_moves(scenario, problem, index, assign_u)
    left_out = _left_out(plan, before, at)
    gone = {unit for unit, _ in unknown}
    firsts = {p.unit: p.start_period if p.period is None else p.period for p in current.placements}
    past_lost = sorted(u for u in gone if firsts.get(u) is not None and firsts[u] < at)
    objective = plan.horizon.objective_usd if plan.horizon is not None else 0.0
    return TimedReplanReport(
        scenario=scenario.metadata.name,
        at_period=at,
        at=instant(horizon, at * horizon.period_hours),
        solver=solver,
        status=step.status,
        events=list(events),
        current_valid=not problems,
        current_problems=problems,
        current_objective_usd=before.horizon.objective_usd if before.horizon else 0.0,
        objective_usd=objective,
        objective_usd_per_h=plan.totals.objective_usd_per_h,
        cost_usd=plan.horizon.cost_usd if plan.horizon is not None else 0.0,
        carbon_kg=plan.horizon.carbon_kg if plan.horizon is not None else 0.0,
        changed_units=sum(1 for c in changes if c.kind == "service"),
        change_cost_usd=round(change_usd, 6),
        objective_with_changes_usd=objective + change_usd,
        rescheduled_runs=sum(1 for c in changes if c.kind == "run"),
        sunk_usd=round(sunk, 6),
        moves_current=moves_before,
        moves=moves_after,
        left_out=left_out,
        past_lost=past_lost,
        changes=changes,
        notes=[x for x in (step.note, *notes) if x],
        violations=[str(v) for v in verify(scenario, plan)],
        wall_s=round(time.perf_counter() - started, 3),
        plan=plan,
    )


def _check(scenario: Scenario, current: Plan, at: int, time_limit_s: float, source: str):
    horizon = scenario.horizon
    if horizon is None:
        raise OptionError("SCENARIO: a timed re-plan needs a scenario with a horizon")
    if current.horizon is None:
        raise OptionError(
            f"{source}: a static plan; a timed scenario is re-planned from a timed plan "
            "of it (placer solve SCENARIO -o plan.json)"
        )
    ours = current.horizon
    same_start = dt.datetime.fromisoformat(ours.start) == horizon.start_time
    for name, theirs, mine in (
        ("start", ours.start, horizon.start),
        ("period_hours", ours.period_hours, horizon.period_hours),
        ("periods", ours.periods, horizon.periods),
    ):
        same = same_start if name == "start" else math.isclose(float(theirs), float(mine))
        if not same:
            raise OptionError(
                f"{source}: horizon.{name} is {theirs}, the scenario's is {mine}: the plan "
                "was made for another horizon"
            )
    if not (isinstance(time_limit_s, int | float) and math.isfinite(time_limit_s)):
        raise OptionError(f"--time-limit-s: {time_limit_s!r} is not a finite number")
    if time_limit_s <= 0:
        raise OptionError(f"--time-limit-s: {time_limit_s!r}; give a number of seconds > 0")
    if not isinstance(at, int) or not 0 <= at < horizon.periods:
        raise OptionError(f"--at: {at!r} is not a period of the horizon (0-{horizon.periods - 1})")
    return horizon


def _read_current(plan: Plan, problem: Problem, index: Index, source: str):
    """(int32[U] options of the plan's contiguous placements, its paused or moved runs as
    a `Schedule`, [(unit, why)] for the placements the scenario does not list now).

    Raises:
      OptionError: a placement naming a workload or unit the scenario lacks.
    """
    assign_u = assignment_of(plan, index, strict=False, skip_preempted=True)
    # a (pool, start) the horizon has that this unit no longer lists (a latency SLO
    # tightened, a pool excluded) is no option of it now
    assign_u[problem.slot_of(assign_u) == -2] = -1
    try:
        schedule = schedule_of(plan, index)
    except OptionError as e:
        raise OptionError(f"{source}: {e}") from None
    keys = {(u.workload, u.region, u.copy, u.period, u.part): i for i, u in enumerate(index.units)}
    workloads = {u.workload for u in index.units}
    unknown = []
    for n, pl in enumerate(plan.placements):
        if pl.workload not in workloads:
            raise OptionError(
                f"{source}: placements.{n}: the scenario has no workload {pl.workload!r}; "
                "was this plan made for another scenario?"
            )
        period = -1 if pl.period is None else pl.period
        u = keys.get((pl.workload, pl.region, pl.copy_index, period, pl.part))
        if u is None:
            raise OptionError(
                f"{source}: placements.{n}: the scenario has no unit {pl.unit} "
                "(its region, copy, period or share); was this plan made for another scenario?"
            )
        if pl.segments is None and assign_u[u] < 0:
            where = f"{pl.site}/{pl.pool}"
            if pl.start_period is not None:
                where += f" from period {pl.start_period}"
            unknown.append((pl.unit, f"{where} is not one of its options now"))
    return assign_u, schedule, unknown


def _history(
    problem: Problem,
    index: Index,
    assign_u: np.ndarray,
    schedule: Schedule,
    at: int,
) -> _Commitments:
    """What ran before `at`, as the rolling loop's commitments: runs that started (on
    their pool, for their hours there), the periods preemptible runs ran in, and the
    pools of the service units of those periods."""
    time_index = index.time
    assert time_index is not None
    done = _Commitments({}, {})
    whole = (problem, index)
    table = problem.preempt
    pausing = set() if table is None else set(table.unit_v[table.pauses_v].tolist())
    migrating = set() if table is None else set(table.unit_v[table.migrates_v].tolist())
    slot_u = problem.slot_of(assign_u)
    for u in np.flatnonzero(assign_u >= 0).tolist():
        unit = index.units[u]
        o = int(assign_u[u])
        pool = index.pools[int(problem.pool_o[o])]
        start = int(time_index.start_o[o])
        if unit.kind == "inference":
            if unit.period < at:
                key = (unit.workload, unit.region, unit.copy, unit.period, unit.part)
                done.services[key] = pool.name
            continue
        if start >= at:
            continue
        if u in migrating:
            length = int(time_index.length_o[o])
            pools = [int(problem.pool_o[o])] * length
            _move_on(index, whole, done, unit.workload, range(start, start + length), pools, 0, at)
            continue
        if u in pausing:
            periods = range(start, start + int(time_index.length_o[o]))
            _run_on(index, whole, done, unit.workload, int(problem.pool_o[o]), periods, 0, at)
            continue
        hours = float(index.hours_uk[u, slot_u[u]])
        done.runs[unit.workload] = Run(pool.name, pool.site, pool.accelerator, start, hours)
    for u, entry in sorted(schedule.items()):
        workload = index.units[u].workload
        if u in migrating:
            pools = [int(q) for q in schedule_pools(entry)]
            _move_on(index, whole, done, workload, entry[1], pools, 0, at)
        else:
            _run_on(index, whole, done, workload, int(entry[0]), entry[1], 0, at)
    return done


def _pools_of(problem: Problem, index: Index, assign_u, schedule: Schedule) -> dict:
    """UnitKey -> the pool name of a service unit; workload -> ((period, pool name) of
    each period a training run holds, ascending)."""
    time_index = index.time
    assert time_index is not None
    out: dict = {}
    for u in np.flatnonzero(np.asarray(assign_u) >= 0).tolist():
        unit = index.units[u]
        o = int(assign_u[u])
        name = index.pools[int(problem.pool_o[o])].name
        if unit.kind == "inference":
            out[(unit.workload, unit.region, unit.copy, unit.period, unit.part)] = name
        else:
            start = int(time_index.start_o[o])
            out[unit.workload] = tuple(
                (t, name) for t in range(start, start + int(time_index.length_o[o]))
            )
    for u, entry in schedule.items():
        names = [index.pools[int(p)].name for p in schedule_pools(entry)]
        out[index.units[u].workload] = tuple(sorted(zip(entry[1], names, strict=True)))
    return out


def _describe(held) -> str:
    """A run's periods and pools in words: `pool a-b, pool c-d`."""
    parts: list[list] = []
    for t, pool in held:
        if parts and parts[-1][0] == pool and parts[-1][2] == t - 1:
            parts[-1][2] = t
        else:
            parts.append([pool, t, t])
    return ", ".join(f"{p} {a}" if a == b else f"{p} {a}-{b}" for p, a, b in parts)


def _changes_priced(scenario: Scenario, at: int, pools: dict) -> Reprice:
    """The window's repricing: each service unit's option in a pool other than the
    current plan's for that unit costs its move (USD once / the window's hours)."""

    def reprice(problem: Problem, index: Index) -> Problem:
        time_index = index.time
        assert time_index is not None
        objective = problem.objective_usd_per_h_uk.copy()
        sites = {p.name: p.site for p in index.pools}
        for u, unit in enumerate(index.units):
            if unit.kind != "inference":
                continue
            was = pools.get((unit.workload, unit.region, unit.copy, at + unit.period, unit.part))
            if was is None:
                continue
            left = {sites.get(was, was.split("/")[0])}
            options, slots = problem.options_of(u)
            for o, k in zip(options.tolist(), slots.tolist(), strict=True):
                if index.pools[int(problem.pool_o[o])].name != was:
                    usd = move_cost_usd(scenario, problem, index, u, k, left, None)
                    objective[u, k] += usd / time_index.hours
        return problem._replace(objective_usd_per_h_uk=objective)

    return reprice


def _changes(scenario, problem, index, at: int, pools: dict, assign_u, schedule) -> list:
    """The re-plan's changes against the current plan from period `at`: service units in
    another pool (or no longer served) and runs not started by `at` with another pool or
    start, each with what it costs (USD once; 0 for a reschedule)."""
    time_index = index.time
    assert time_index is not None
    new = _pools_of(problem, index, assign_u, schedule)
    slot_u = problem.slot_of(np.asarray(assign_u))
    sites = {p.name: p.site for p in index.pools}
    out = []
    for u, unit in enumerate(index.units):
        if unit.kind == "inference":
            if unit.period < at:
                continue
            key = (unit.workload, unit.region, unit.copy, unit.period, unit.part)
            was, now = pools.get(key), new.get(key)
            if was is None or was == now:
                continue
            usd = 0.0
            if now is not None:
                left = {sites.get(was, was.split("/")[0])}
                usd = move_cost_usd(scenario, problem, index, u, int(slot_u[u]), left, None)
            out.append(
                TimedChange(
                    unit=unit.name,
                    kind="service",
                    period=unit.period,
                    before=was,
                    after=now,
                    cost_usd=round(usd, 6),
                )
            )
            continue
        was, now = pools.get(unit.workload), new.get(unit.workload)
        if was is None or was == now:
            continue
        running = was[0][0] < at  # under way: it goes on elsewhere, restarts or stops
        restarts = running and now is not None and now[0][0] != was[0][0]
        after = None if now is None else _describe(now) + (" (restart)" if restarts else "")
        out.append(
            TimedChange(
                unit=unit.name,
                kind="run",
                period=None,
                before=_describe(was) + (" (running)" if running else ""),
                after=after,
                cost_usd=0.0,
            )
        )
    return out


def _sunk_usd(current: Plan, runs: set[str], at: int) -> float:
    """USD the current plan's runs in `runs` spent before period `at`: their periods that
    ran, each at the placement's cost per period (a restarted or stopped run's work that
    is lost; a run not started by `at` spent nothing)."""
    out = 0.0
    for p in current.placements:
        if p.kind != "training" or p.unit not in runs:
            continue
        for span in p.segments or [p]:
            if not span.periods or span.cost_usd is None:
                continue
            ran = min(max(at - span.start_period, 0), span.periods)
            out += span.cost_usd * ran / span.periods
    return out


def _left_out(plan: Plan, before: Plan, at: int) -> list[str]:
    """Units the current plan places that the new one leaves out (a run under way whose
    rest no longer fits, a service unit no pool can hold now), as `unit: reason`."""
    placed_before = {p.unit for p in before.placements}
    out = []
    for u in plan.unplaced:
        if u.unit in placed_before and (u.period is None or u.period >= at):
            out.append(f"{u.unit}: {u.reason}")
    return out
