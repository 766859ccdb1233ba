"""The scenario one re-plan of a rolling horizon sees (`placer.analysis.rolling`).

At decision period t the planner knows the actual series up to period t (excluded) and a
forecast of the later periods. Forecast: every per-period figure that is a series and that
nobody schedules — a site's `price_usd_per_kwh` and `carbon_g_per_kwh`, an inference
service's demand per region (its list, or its number x its daily profile). Known as given
(schedules, not forecasts): capacities (IT, grid, water), pool GPUs, `available_from`
dates, grid events, and the objective's caps per period.

Forecasts (`forecast_series`):
  persistence  period h >= t takes the value of the latest observed period at the same
               time of day: h - k x D for the smallest k >= 1 with h - k x D < t, D = the
               periods in a day (24 / period_hours, which must be a whole number). The
               scenario holds no history before its start: the day before the horizon is
               taken to be its first day (so the first day's forecast is exact).
  perfect      the actuals (the oracle).

The window scenario covers periods [t, end) of the original: its horizon starts at t,
series are sliced (forecasts substituted), committed training runs that still run are
pinned to their site and accelerator and must run on from t for what remains (the caller
also restricts them to their pool in the compiled problem: a site may hold two pools of
one accelerator), finished runs are dropped, runs not started keep their window (from
max(earliest start, t)) with `deadline_hours` turned into an absolute deadline; runs
that may migrate, under way, go on wherever they may run for the work they have left.
Periods are indices of the original horizon throughout.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from placer.errors import OptionError
from placer.model.horizon import Horizon
from placer.model.scenario import PERIOD_CAP_FIELDS, Scenario
from placer.model.workload import Inference, Training
from placer.problem.compile_time import demand_per_period, training_window
from placer.problem.preempt import segments

FORECASTS = ("persistence", "perfect")


@dataclass(frozen=True)
class Run:
    """A committed training run: its pool (`site/key`, as `PoolInfo.name`), first period
    (of the original horizon) and the hours it runs there."""

    pool: str
    site: str
    accelerator: str
    start: int
    hours: float

    def end_h(self, period_hours: float) -> float:
        """Hours from the horizon's start at which the run ends."""
        return self.start * period_hours + self.hours


@dataclass(frozen=True)
class Part:
    """A preemptible run under way: its pool (`site/key`), the hours it needs there and
    its restore overhead (of the scenario's problem, `Preempt`), and the periods of the
    original horizon committed so far (ascending). Its first segment is free; each
    later one adds the overhead (a fresh run's rule, docs/time.md)."""

    pool: str
    site: str
    accelerator: str
    need_h: float
    overhead_h: float
    periods: tuple[int, ...]

    def left_h(self, period_hours: float) -> float:
        """Hours of work on its pool still to run."""
        restores = max(0, len(segments(self.periods)) - 1)
        return self.need_h - (len(self.periods) * period_hours - self.overhead_h * restores)

    def running_at(self, t: int) -> bool:
        """Whether it ran in period t - 1 (a re-plan at t may go on without a restore)."""
        return bool(self.periods) and self.periods[-1] == t - 1


@dataclass(frozen=True)
class Moving:
    """A run that may migrate between pools (`migration_usd`), under way: the periods of
    the original horizon committed so far (ascending), the pool (`site/key`) of each, and
    the fraction of its work they did (each period's hours over the run's hours on its
    pool, less each move's and resume's overhead there: docs/time.md, "Migration")."""

    periods: tuple[int, ...]
    pools: tuple[str, ...]
    done: float
    need_h: float = 0.0  # hours the whole run needs on its last pool
    overhead_h: float = 0.0  # its restore overhead per resume, h

    def running_at(self, t: int) -> bool:
        """Whether it ran in period t - 1."""
        return bool(self.periods) and self.periods[-1] == t - 1

    def pace(self, t: int, end: int, period_hours: float) -> float:
        """The fraction of its work that going on in its last pool from t to `end` does
        (resuming there first when it did not run in t - 1), at most what it has left."""
        hours = (end - t) * period_hours - (0.0 if self.running_at(t) else self.overhead_h)
        if self.need_h <= 0:
            return 1.0 - self.done
        return min(1.0 - self.done, max(hours, period_hours * 1e-3) / self.need_h)

    @property
    def last_pool(self) -> str:
        return self.pools[-1]

    @property
    def whole(self) -> bool:
        """Whether it ran in one pool without a pause so far (one segment)."""
        return len(set(self.pools)) == 1 and len(segments(self.periods)) == 1


def periods_per_day(horizon: Horizon) -> int:
    """Periods in one day (D).

    Raises:
      OptionError: period_hours does not divide 24 (a persistence forecast repeats the
        same time of day).
    """
    per_day = 24.0 / horizon.period_hours
    if abs(per_day - round(per_day)) > 1e-9 or round(per_day) < 1:
        raise OptionError(
            f"--forecast persistence: period_hours {horizon.period_hours:g} does not divide "
            "24 h; a persistence forecast repeats the same time of day (use periods of 1, 2, "
            "3, 4, 6, 8, 12 or 24 h, or of 15 or 30 minutes)"
        )
    return round(per_day)


def forecast_series(actual: list[float], t: int, end: int, forecast: str, per_day: int):
    """The values of periods [t, end) seen at decision period t (a list of end - t floats).

    `actual` is the whole series (one value per period of the original horizon)."""
    if forecast == "perfect":
        return [float(v) for v in actual[t:end]]
    out = []
    for h in range(t, end):
        k = (h - t) // per_day + 1  # smallest k >= 1 with h - k x D < t
        i = h - k * per_day
        out.append(float(actual[i if i >= 0 else i + per_day]))
    return out


def instant(horizon: Horizon, hours: float) -> str:
    """The ISO 8601 instant `hours` after the horizon's start (the start's offset)."""
    return (horizon.start_time + dt.timedelta(hours=hours)).isoformat()


def window_end(
    scenario: Scenario,
    t: int,
    lookahead: int | None,
    runs: dict[str, Run],
    moving: dict[str, Moving] | None = None,
) -> int:
    """The last period (excluded) a re-plan at t covers: t + lookahead, stretched to the
    deadline of every run not yet started that may start inside the lookahead, and of
    every preemptible run under way (a run is never squeezed into the window), at most
    the horizon's end. A run that may migrate, under way (`moving`), does not stretch it:
    past the window it keeps pace instead (`window_scenario`)."""
    horizon = scenario.horizon
    assert horizon is not None
    n_t, ph = horizon.periods, horizon.period_hours
    end = n_t if lookahead is None else min(n_t, t + lookahead)
    for w in scenario.workloads:
        if not isinstance(w, Training) or w.id in runs or w.id in (moving or {}):
            continue
        first, end_h = training_window(w, horizon)
        if max(first, t) < end and end_h > t * ph:
            end = max(end, min(n_t, math.ceil(end_h / ph - 1e-9)))
    return end


def window_scenario(
    scenario: Scenario,
    t: int,
    end: int,
    runs: dict[str, Run],
    forecast: str,
    parts: dict[str, Part] | None = None,
    running: dict[str, dict[str, int]] | None = None,
    moving: dict[str, Moving] | None = None,
) -> tuple[Scenario, list[str]]:
    """(the scenario of periods [t, end) as seen at t, the ids of runs not started whose
    deadline has passed: left out as missed). `parts`: preemptible runs under way; each
    goes on in its site and accelerator for the work it has left (`_resumed`). `moving`:
    runs that may migrate, under way: each goes on anywhere it may run for the work it
    has left (`_moving`; the caller sets where it last ran, `Preempt.last_pool_v`); one
    whose deadline is past the window keeps pace: it must do in the window the work that
    going on in its last pool to the window's end would do (`Moving.pace`). `running`:
    from t >= 1, each service with a start-up cost's replicas per pool in period t - 1
    (its `running_replicas` in the window: start-ups at t are charged against them);
    at t = 0 the scenario's own. Caps per period are sliced to the window.

    Raises:
      OptionError: an unknown forecast, or period_hours not dividing 24 (persistence).
    """
    if forecast not in FORECASTS:
        raise OptionError(f"--forecast: unknown {forecast!r}; choose one of {list(FORECASTS)}")
    horizon = scenario.horizon
    assert horizon is not None
    per_day = periods_per_day(horizon) if forecast == "persistence" else 1
    ph = horizon.period_hours
    doc = scenario.model_dump(mode="python")
    doc["horizon"] = {"start": instant(horizon, t * ph), "period_hours": ph, "periods": end - t}

    def sliced(value, guess: bool):
        if not isinstance(value, list):
            return value
        if guess:
            return forecast_series(value, t, end, forecast, per_day)
        return [v for v in value[t:end]]

    for name in PERIOD_CAP_FIELDS:
        doc["objective"][name] = sliced(doc["objective"][name], False)
    for site in doc["sites"]:
        power = site["power"]
        for name in ("price_usd_per_kwh", "carbon_g_per_kwh"):
            power[name] = sliced(power[name], True)
        for name in ("it_capacity_kw", "grid_cap_kw"):
            power[name] = sliced(power[name], False)
        cooling = site["cooling"]
        cooling["water_cap_l_per_day"] = sliced(cooling["water_cap_l_per_day"], False)
        for pool in site["pools"]:
            pool["gpus"] = sliced(pool["gpus"], False)
    workloads, missed = [], []
    for w, entry in zip(scenario.workloads, doc["workloads"], strict=True):
        if isinstance(w, Inference):
            entry["demand_rps"] = {
                region: forecast_series(
                    demand_per_period(w, region, horizon), t, end, forecast, per_day
                )
                for region in w.demand_rps
            }
            entry["demand_profile"] = None
            if t > 0 and w.startup_usd_per_replica is not None:
                entry["running_replicas"] = dict((running or {}).get(w.id, {}))
            workloads.append(entry)
            continue
        under_way = (moving or {}).get(w.id)
        if under_way is not None:
            if under_way.done >= 1.0 - 1e-9:
                continue  # finished
            _, end_h = training_window(w, horizon)
            if end_h <= t * ph + 1e-9:
                missed.append(w.id)
                continue
            entry.update(_moving(under_way, w, t, horizon))
            if end_h > end * ph + 1e-9:  # its deadline is past the window: it keeps pace
                entry["hours"] = under_way.pace(t, end, ph) * w.hours
                entry["deadline"] = None
            else:
                entry["deadline"] = instant(horizon, end_h) if end_h < horizon.hours else None
            workloads.append(entry)
            continue
        part = (parts or {}).get(w.id)
        if part is not None:
            if part.left_h(ph) <= 1e-9:
                continue  # finished
            _, end_h = training_window(w, horizon)
            if end_h <= t * ph + 1e-9:
                missed.append(w.id)
                continue
            entry.update(_resumed(part, t, horizon))
            entry["deadline"] = instant(horizon, end_h) if end_h < horizon.hours else None
            workloads.append(entry)
            continue
        run = runs.get(w.id)
        if run is not None:
            left_h = run.end_h(ph) - t * ph
            if left_h <= 1e-9:
                continue  # finished
            entry.update(_pinned(run, t, end, horizon))
            workloads.append(entry)
            continue
        first, end_h = training_window(w, horizon)
        if end_h <= t * ph + 1e-9:
            missed.append(w.id)
            continue
        if first >= end:
            continue  # it may start only after the window: a later re-plan places it
        entry["deadline"] = instant(horizon, end_h) if end_h < horizon.hours else None
        entry["deadline_hours"] = None
        if w.earliest_start is None or horizon.hours_from_start(w.earliest_start) < t * ph:
            entry["earliest_start"] = instant(horizon, t * ph)
        workloads.append(entry)
    doc["workloads"] = workloads
    return Scenario.model_validate(doc), missed


def _pinned(run: Run, t: int, end: int, horizon: Horizon) -> dict:
    """The fields that make a running run go on in its pool from t: what remains of it,
    cut at the window's end (what runs after it does not bear on this re-plan)."""
    ph = horizon.period_hours
    stop_h = min(run.end_h(ph), end * ph)
    return {
        "pin_sites": [run.site],
        "exclude_sites": [],
        "accelerators": [run.accelerator],
        "earliest_start": instant(horizon, t * ph),
        "deadline": instant(horizon, stop_h),
        "deadline_hours": None,
        "hours": stop_h - t * ph,
        "must_place": True,
        "dataset": None,  # its data moved when it started
        "migration_usd": None,  # it goes on in its pool
        "migration_overhead_h": None,
    }


def _moving(run: Moving, w: Training, t: int, horizon: Horizon) -> dict:
    """The fields that make a run that may migrate, under way, go on from t wherever it
    may run, for the work it has left (in the workload's reference hours, so each pool's
    hours scale as the whole run's do)."""
    return {
        "earliest_start": instant(horizon, t * horizon.period_hours),
        "deadline_hours": None,
        "hours": (1.0 - run.done) * w.hours,
        "must_place": True,
        # the dataset stays: a site it has not run at pays the egress (rolling's
        # `_moving_go_on` makes the sites it ran at free)
    }


def _resumed(part: Part, t: int, horizon: Horizon) -> dict:
    """The fields that make a preemptible run under way go on in its site and
    accelerator from t, within its own deadline: the work it has left, plus one restore
    when it did not run in t - 1 (one that did goes on: `Preempt.continues_v`, set by
    the caller, who also keeps it to its pool)."""
    ph = horizon.period_hours
    hours = part.left_h(ph) + (0.0 if part.running_at(t) else part.overhead_h)
    return {
        "pin_sites": [part.site],
        "exclude_sites": [],
        "accelerators": [part.accelerator],
        "earliest_start": instant(horizon, t * ph),
        "deadline_hours": None,
        "hours": hours,
        "must_place": True,
        "dataset": None,  # its data moved when it started
    }
