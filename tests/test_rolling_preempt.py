"""Rolling re-planning with preemptible runs (`placer.analysis.rolling`): a run may pause
and resume across re-plans; a window sees the work it has left and whether it goes on
(`Preempt.continues_v`). With perfect forecasts and a lookahead to the horizon's end the
realised schedule equals the oracle's optimum, which holds only when every window's
model is the exact rest of the problem."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from placer.analysis.rolling import _parts_go_on, roll
from placer.analysis.rolling_window import Part, window_scenario
from placer.engines.base import SolveOptions
from placer.engines.registry import SOLVERS
from placer.model.scenario import Scenario
from placer.plan.verify import verify
from placer.problem.compile import compile_problem
from placer.problem.preempt import feasible_schedule
from tests.test_preempt import _brute_force, run, scenario

SPIKE = [0.05, 0.05, 5.0, 5.0, 0.05, 0.05, 0.05, 2.0]  # USD/kWh


def _sc(prices, runs, gpus: int = 8) -> Scenario:
    return Scenario.model_validate(scenario(prices=prices, runs=runs, gpus=gpus))


def test_a_run_pauses_across_replans_as_the_oracle_does() -> None:
    sc = _sc(SPIKE, [run("ft", 4, 0.25, must_place=True)])
    for every, forecast in ((1, "perfect"), (2, "perfect"), (1, "persistence")):
        report = roll(sc, every_periods=every, forecast=forecast, baseline=False)
        assert report.plan is not None and verify(sc, report.plan) == []
        (p,) = report.plan.placements
        # by hand: periods 0-1, a pause over the spike, then 4-6 (5 x 1 h >= 4 h + 0.25)
        assert [(s.start_period, s.periods) for s in p.segments] == [(0, 2), (4, 3)]
        assert p.resumes == 1
        assert report.oracle is not None
        assert report.rolling.paused_runs == report.oracle.paused_runs == 1
        assert report.rolling.objective_usd == pytest.approx(report.oracle.objective_usd)
        assert report.notes == [] and report.rolling.runs_missed == []


@pytest.mark.parametrize("solver", ["hybrid", pytest.param("search", marks=pytest.mark.slow)])
def test_engines_without_preemption_are_polished_in_each_replan(solver: str) -> None:
    """Each window's engine places runs contiguously; the polish after it (as in placer
    solve) lets them pause: the realised schedule is the MILP's (before, ft ran through
    the spike)."""
    runs = [run("ft", 4, 0.25, must_place=True), run("b", 2, 0.25, value_usd_per_h=30.0)]
    sc = _sc(SPIKE, runs, gpus=16)
    exact = roll(sc, every_periods=2, forecast="persistence", baseline=False, oracle=False)
    report = roll(
        sc,
        every_periods=2,
        forecast="persistence",
        solver=solver,
        time_limit_s=4.0,
        baseline=False,
        oracle=False,
    )
    assert report.plan is not None and verify(sc, report.plan) == []
    ft = next(p for p in report.plan.placements if p.workload == "ft")
    assert ft.segments is not None and ft.resumes == 1
    # while ft is paused only its schedules place it: the engine takes it as optional
    # and the polish places it (no re-plan fails first)
    assert [s.note for s in report.steps] == [""] * len(report.steps)
    assert all(s.status in ("optimal", "feasible") for s in report.steps)
    assert report.rolling.objective_usd == pytest.approx(exact.rolling.objective_usd)


def test_a_window_sees_the_work_left_and_whether_the_run_goes_on() -> None:
    sc = _sc(SPIKE, [run("ft", 4, 0.25, must_place=True)])
    ran = Part("fra/L4", "fra", "L4", need_h=4.0, overhead_h=0.25, periods=(0, 1))
    for t, hours, goes_on in ((2, 2.0, True), (3, 2.25, False)):
        window, missed = window_scenario(sc, t, 8, {}, "perfect", {"ft": ran})
        (w,) = window.workloads
        assert missed == [] and w.hours == pytest.approx(hours) and w.must_place
        assert w.pin_sites == ["fra"] and w.earliest_start is not None
        problem, index = compile_problem(window)
        problem = _parts_go_on(problem, index, {"ft": ran}, t)
        table = problem.preempt
        assert table is not None and table.continues_v.tolist() == [goes_on]
        # a paused run has two segments whatever it does: no contiguous option (it
        # would pay its last period for the hours run; a schedule pays it in full)
        starts = index.time.start_o[problem.options_of(0)[0]].tolist()
        assert starts == ([0] if goes_on else [])
    # two periods run, one resume: 2 x 1 h - 0.25 h of work done
    later = Part("fra/L4", "fra", "L4", 4.0, 0.25, (0, 1, 3))
    assert later.left_h(1.0) == pytest.approx(1.25) and later.running_at(4)
    window, _ = window_scenario(sc, 6, 8, {}, "perfect", {"ft": later})
    assert window.workloads[0].hours == pytest.approx(1.5)  # paused: one more restore


@pytest.mark.parametrize("overhead", [0.0, 0.5, 1.0])
def test_the_milp_of_a_run_that_goes_on_equals_brute_force(overhead: float) -> None:
    """A window at t = 2 of a run that ran in periods 0-1: the MILP's rows (5b'), (5d')
    against every schedule `feasible_schedule` accepts."""
    prices = [0.05, 0.05, 3.0, 0.1, 2.0, 0.2, 0.3, 0.1]
    runs = [run("a", 4.0, overhead, must_place=True), run("b", 1.5, overhead, must_place=True)]
    sc = _sc(prices, runs, gpus=16)
    parts = {"a": Part("fra/L4", "fra", "L4", 4.0, overhead, (0, 1))}
    window, _ = window_scenario(sc, 2, 8, {}, "perfect", parts)
    problem, index = compile_problem(window)
    problem = _parts_go_on(problem, index, parts, 2)
    assert problem.preempt.continues_v.tolist() == [True, False]
    result = SOLVERS["milp"](problem, SolveOptions(time_limit_s=20))
    assert result.status == "optimal"
    assert result.objective_usd_per_h == pytest.approx(_brute_force(problem), rel=1e-7)
    # going on costs no restore: the run that continues needs 2 h, not 2 h + overhead
    table = problem.preempt
    assert feasible_schedule(table, 0, 0, (0, 1))
    # a later start is a restore, as a resume is: 2 h + overhead
    assert feasible_schedule(table, 0, 0, (1, 2)) == (overhead == 0.0)
    assert feasible_schedule(table, 0, 0, (0, 3)) == (overhead == 0.0)
    assert feasible_schedule(table, 0, 0, (1, 2, 3)) and feasible_schedule(table, 0, 0, (0, 1, 3))
    # the run that starts fresh: its first segment is free
    assert feasible_schedule(table, 1, 0, (1, 2)) and not feasible_schedule(table, 1, 0, (1,))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prices=st.lists(st.sampled_from([0.05, 0.2, 1.0, 4.0]), min_size=5, max_size=8),
    hours=st.lists(st.sampled_from([1.0, 1.5, 2.0, 2.5, 3.0]), min_size=1, max_size=2),
    overhead=st.sampled_from([0.0, 0.25, 0.5, 1.0]),
    every=st.sampled_from([1, 2]),
)
def test_perfect_rolling_equals_the_oracle(prices, hours, overhead, every) -> None:
    runs = [
        run(f"r{i}", h, overhead, must_place=False, value_usd_per_h=30.0)
        for i, h in enumerate(hours)
    ]
    sc = _sc(prices, runs, gpus=8)
    report = roll(sc, every_periods=every, forecast="perfect", baseline=False)
    assert report.plan is not None and verify(sc, report.plan) == []
    assert report.oracle is not None and report.oracle.status == "optimal"
    assert report.rolling.objective_usd == pytest.approx(report.oracle.objective_usd, rel=1e-6)


def test_the_water_a_paused_run_drew_today_is_counted() -> None:
    from placer.analysis.rolling_water import water_drawn_today
    from placer.problem.rows import Q_WATER
    from tests.test_water_days import scenario as watered

    sc = watered(None, preemptible=True)
    problem, index = compile_problem(sc)
    rate = float(problem.amount_quk[Q_WATER].max())
    assert rate > 0 and problem.preempt is not None
    pool = int(problem.preempt.pool_c[0])
    none = np.full(problem.num_units, -1, np.int32)
    days = sc.horizon.period_days()
    drawn = water_drawn_today(problem, index, none, 5, days, {0: (pool, (0, 1, 3))})
    assert drawn == {index.sites[0]: pytest.approx(3 * rate)}
    # periods at or after t are not drawn yet
    drawn = water_drawn_today(problem, index, none, 2, days, {0: (pool, (0, 1, 3))})
    assert drawn == {index.sites[0]: pytest.approx(2 * rate)}


def test_a_run_under_way_counts_in_the_water_drawn_today() -> None:
    """Mid-day, the water the day has left is the cap less what the committed schedule
    drew: a preemptible run not finished yet drew water too (before, the loop's realised
    schedule left it out until it finished)."""
    from placer.analysis.rolling import _Commitments, _realised
    from placer.analysis.rolling_water import water_drawn_today
    from placer.problem.rows import Q_WATER
    from tests.test_water_days import scenario as watered

    sc = watered(None, preemptible=True)
    problem, index = compile_problem(sc)
    rate = float(problem.amount_quk[Q_WATER].max())
    pool = index.pools[int(problem.preempt.pool_c[0])]
    ran = Part(pool.name, pool.site, pool.accelerator, 6.0, 0.25, (0, 1, 2))
    done = _Commitments({}, {}, {sc.workloads[0].id: ran})
    assign, schedule, notes = _realised(problem, index, done, under_way=True)
    drawn = water_drawn_today(problem, index, assign, 3, sc.horizon.period_days(), schedule)
    assert drawn == {pool.site: pytest.approx(3 * rate)}
    # the realised plan at the end leaves an unfinished run out, with a note
    assign, schedule, notes = _realised(problem, index, done)
    assert schedule == {} and (assign < 0).all() and "did not finish" in notes[0]


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    day=st.lists(st.sampled_from([0.05, 0.2, 1.0, 4.0]), min_size=4, max_size=4),
    second=st.lists(st.sampled_from([0.05, 0.2, 1.0, 4.0]), min_size=4, max_size=4),
    hours=st.lists(st.sampled_from([1.0, 1.5, 2.5, 3.0, 4.5]), min_size=1, max_size=3),
    overhead=st.sampled_from([0.0, 0.25, 1.0]),
    every=st.sampled_from([1, 2, 3]),
    lookahead=st.sampled_from([None, 3, 4]),
    solver=st.sampled_from(["milp", "hybrid"]),
)
def test_rolling_with_forecasts_gives_verified_plans(
    day, second, hours, overhead, every, lookahead, solver
) -> None:
    """Persistence forecasts over two 4-hour 'days' (periods of 6 h: the second day is
    forecast from the first), short lookaheads, both kinds of engine: the realised
    schedule passes the verifier, every run that started finishes, and a run placed
    is placed whole."""
    runs = [
        run(f"r{i}", h, overhead, must_place=False, value_usd_per_h=30.0 + i)
        for i, h in enumerate(hours)
    ]
    data = scenario(prices=day + second, runs=runs, gpus=16)
    data["horizon"]["period_hours"] = 6
    for w in data["workloads"]:
        w["hours"] *= 6
        if w.get("restore_overhead_h"):
            w["restore_overhead_h"] *= 6
    sc = Scenario.model_validate(data)
    look = lookahead if lookahead is None or lookahead >= every else every
    report = roll(
        sc,
        every_periods=every,
        lookahead_periods=look,
        forecast="persistence",
        solver=solver,
        time_limit_s=3.0,
        oracle=False,
        baseline=False,
    )
    assert report.plan is not None and verify(sc, report.plan) == []
    assert not any("did not finish" in n for n in report.notes)
    assert report.rolling.violations == []
