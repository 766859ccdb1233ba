"""A site's water cap per day holds over the day's periods, not as a 24th in each one
(`placer.problem.water_days`, docs/time.md "Water per day")."""

from __future__ import annotations

import numpy as np
import pytest

from placer import api
from placer.model.horizon import Horizon
from placer.plan.verify import verify
from placer.problem.compile import compile_problem
from placer.problem.rows import K_WATER, Q_WATER
from tests.test_time import check, timed


@pytest.mark.parametrize(
    ("start", "period_h", "periods", "days"),
    [
        ("2020-06-01T00:00:00+00:00", 1, 26, [0] * 24 + [1, 1]),
        ("2020-06-01T22:00:00+00:00", 1, 4, [0, 0, 1, 1]),
        ("2020-06-01T05:00:00+02:00", 1, 20, [0] * 19 + [1]),  # local midnight: 22:00 UTC
        ("2020-06-01T00:00:00+00:00", 0.5, 50, [0] * 48 + [1, 1]),
        ("2020-06-01T00:00:00+00:00", 24, 3, [0, 1, 2]),
        ("2020-06-01T05:00:00+00:00", 2, 12, None),  # 23:00-01:00 crosses a midnight
        ("2020-06-01T00:00:00+00:00", 48, 2, None),
        ("2020-06-01T10:30:00+00:00", 1, 3, None),  # no midnight inside, but off the grid
        ("2020-06-01T00:00:00+00:00", 5, 3, None),  # 5 h does not divide a day
        ("2020-06-01T05:00:00+00:00", 24, 2, None),
        ("2020-06-01T18:00:00+00:00", 6, 3, [0, 1, 1]),
    ],
)
def test_period_days(start: str, period_h: float, periods: int, days) -> None:
    horizon = Horizon(start=start, period_hours=period_h, periods=periods)
    assert horizon.period_days() == days


def scenario(cap_l_per_day: float | None, hours: float = 6, periods: int = 24, **run):
    """One site (WUE 1 L/kWh), one 32-GPU run of `hours` in a window of the horizon."""
    d = timed(periods=periods)
    d["sites"] = d["sites"][:1]
    d["sites"][0]["cooling"]["wue_l_per_kwh"] = 1.0
    if cap_l_per_day is not None:
        d["sites"][0]["cooling"]["water_cap_l_per_day"] = cap_l_per_day
    d["workloads"] = d["workloads"][:1]
    d["workloads"][0].update({"hours": hours, "earliest_start": "2020-06-01T00:00:00Z", **run})
    d["workloads"][0].pop("deadline")
    return check(d)


def water_rate() -> float:
    """The run's water while it runs, L/h."""
    problem, _ = compile_problem(scenario(None))
    return float(problem.amount_quk[Q_WATER].max())


@pytest.mark.slow  # ~11 s: five solvers, 10 s limits
def test_a_run_may_draw_more_than_a_24th_of_the_day_in_its_hours() -> None:
    rate = water_rate()
    roomy = scenario(rate * 6 * 1.5)  # 1.5 x its 6 h of water, 0.375 x 24 h of its rate
    problem, _ = compile_problem(roomy)
    water = np.flatnonzero((problem.kind_r == K_WATER) & np.isfinite(problem.cap_r))
    assert water.size == 1  # one day, one row, on the day's first period
    assert problem.cap_r[water[0]] == pytest.approx(rate * 6 * 1.5 / 24)
    for solver in ("milp", "greedy", "relax", "search", "hybrid"):
        plan = api.solve(roomy, solver=solver, time_limit_s=10)
        assert plan.status in ("optimal", "feasible"), solver
        assert len(plan.placements) == 1, solver
        assert verify(roomy, plan) == [], solver
    (site,) = plan.sites  # the last plan's: the day's mean against the day's cap / 24
    assert site.water_l_per_h == pytest.approx(rate * 6 / 24)
    assert site.water_l_per_h <= site.water_cap_l_per_h < max(plan.site_periods[0].water_l_per_h)
    tight = scenario(rate * 6 * 0.9)  # its 6 h need more than the day's cap
    plan = api.solve(tight, solver="milp", time_limit_s=10)
    assert plan.placements == []


def test_the_verifier_sums_a_day_and_names_it() -> None:
    rate = water_rate()
    plan = api.solve(scenario(rate * 6 * 1.5), solver="milp", time_limit_s=10)
    found = [v for v in verify(scenario(rate * 6 * 0.5), plan) if v.kind == "water"]
    assert len(found) == 1  # (and a "kpi" finding: the plan states the other cap)
    assert "day 0 (periods 0-23)" in found[0].message
    assert found[0].amount == pytest.approx(rate * 6 * 0.5, rel=1e-6)


def test_a_run_over_three_days_charges_each_day_its_share() -> None:
    rate = water_rate()
    # 30 h from 20:00: 4 h of day 0, 24 of day 1, 2 of day 2
    s = scenario(rate * 30, hours=30, periods=72, earliest_start="2020-06-01T20:00:00Z")
    problem, index = compile_problem(s)
    t = index.time
    o = int(np.flatnonzero(t.start_o == 20)[0])
    water = problem.kind_r[np.maximum(problem.row_oj[o], 0)] == K_WATER
    water &= problem.row_oj[o] >= 0
    assert problem.scale_oj is not None
    period_r = t.period_r
    assert period_r[problem.row_oj[o][water]].tolist() == [0, 24, 48]
    assert problem.scale_oj[o][water].tolist() == pytest.approx([4 / 24, 24 / 24, 2 / 24])
    plan = api.solve(s, solver="milp", time_limit_s=10)
    assert len(plan.placements) == 1 and verify(s, plan) == []


def test_periods_crossing_midnight_keep_a_cap_per_period() -> None:
    d = timed(periods=6)
    d["horizon"] = {"start": "2020-06-01T21:00:00+00:00", "period_hours": 2, "periods": 6}
    d["sites"][0]["cooling"]["water_cap_l_per_day"] = 1000.0
    d["workloads"][0].update(earliest_start="2020-06-01T21:00:00Z", deadline=None)
    d["workloads"][0].pop("deadline")
    problem, _ = compile_problem(check(d))
    water = (problem.kind_r == K_WATER) & np.isfinite(problem.cap_r)
    assert water.sum() == 6 and problem.cap_r[water] == pytest.approx(1000.0 / 24)
    assert problem.scale_oj is None


def test_a_preemptible_run_charges_its_days_too() -> None:
    rate = water_rate()
    s = scenario(rate * 6 * 1.5, preemptible=True)
    problem, _ = compile_problem(s)
    assert problem.preempt is not None and problem.preempt.scale_ej is not None
    plan = api.solve(s, solver="milp", time_limit_s=20)
    assert len(plan.placements) == 1 and verify(s, plan) == []


def two_runs_one_days_water():
    """A 6 h run that must end by 06:00, another from 06:00, and water for 1.5 of them."""
    import copy

    d = timed(periods=24)
    d["sites"] = d["sites"][:1]
    d["sites"][0]["cooling"]["wue_l_per_kwh"] = 1.0
    d["sites"][0]["cooling"]["water_cap_l_per_day"] = water_rate() * 6 * 1.5
    first = d["workloads"][0]
    first.update(hours=6, earliest_start="2020-06-01T00:00:00Z", deadline="2020-06-01T06:00:00Z")
    second = copy.deepcopy(first)
    second.update(id="train-b", earliest_start="2020-06-01T06:00:00Z")
    second.pop("deadline")
    d["workloads"] = [first, second]
    return check(d)


@pytest.mark.parametrize("subtract", [True, False])
def test_a_rolling_replan_counts_the_water_its_day_already_drew(subtract, monkeypatch) -> None:
    """At 06:00 the day has water for half a run left: the re-plan must not start the
    second run (it is reported unplaced); without taking the morning's litres off the
    window's day, the stitched schedule breaks the day's cap."""
    from placer.analysis import rolling

    if not subtract:
        monkeypatch.setattr(rolling, "with_water_drawn", lambda problem, index, drawn: problem)
    report = rolling.roll(
        two_runs_one_days_water(),
        every_periods=6,
        lookahead_periods=6,
        forecast="perfect",
        solver="milp",
        time_limit_s=10,
        oracle=False,
        baseline=False,
    )
    assert report.steps[0].committed_runs == ["train-llm"]
    kinds = [v.split(":")[0] for v in report.rolling.violations]
    if subtract:
        assert kinds == ["must_place"]  # train-b: no water left for it today
    else:
        assert kinds == ["water"]


@pytest.fixture(scope="module")
def watered_fleet():
    """A generated 60 x 8 x 48 fleet whose sites draw 1 L/kWh, capped at 20 m3 a day."""
    from placer.model.generate_time import generate_timed_scenario

    fleet = generate_timed_scenario(60, 8, 48, 3)
    sites = []
    for s in fleet.sites:
        cooling = s.cooling.model_copy(
            update={"wue_l_per_kwh": 1.0, "water_cap_l_per_day": 20_000.0}
        )
        sites.append(s.model_copy(update={"cooling": cooling}))
    return fleet.model_copy(update={"sites": sites})


def test_every_dual_bound_charges_the_days_water_alike(watered_fleet) -> None:
    """L(y) from the pair list (term by term, `lagrangian.dual_bound`), from the option
    table (`option_dual`) and chunked by option prices (`sampled`) agree with scales."""
    from placer.engines.relax.lagrangian import dual_bound
    from placer.engines.relax.option_dual import certified_bound, option_dual
    from placer.engines.relax.rows import row_capacities
    from placer.engines.relax.sampled import chunked_dual_bound

    problem, _ = compile_problem(watered_fleet)
    assert problem.scale_oj is not None
    rng = np.random.default_rng(1)
    water = np.flatnonzero((problem.kind_r == K_WATER) & np.isfinite(problem.cap_r))
    for scale in (1e-3, 1e-1):
        y = rng.random(row_capacities(problem).size) * scale
        y[water] = 5.0  # the water rows priced high: their scales must count
        pairs = dual_bound(problem, y)[0]
        assert certified_bound(option_dual(problem), y) == pytest.approx(pairs, rel=1e-9)
        assert chunked_dual_bound(problem, y)[0] == pytest.approx(pairs, rel=1e-9)
        unscaled = dual_bound(problem._replace(scale_oj=None), y)[0]
        assert unscaled > pairs + 1.0  # (without the scales the water costs more)


def test_the_streamed_bound_prices_a_days_water_as_the_problem_charges_it(
    watered_fleet,
) -> None:
    """The restricted layout's bound prices every option of the whole problem from the
    scenario (`compile_large.EntryPricer`); with water caps per day it must charge each
    option's water to its days' rows with the problem's scales."""
    from placer.engines.relax.rows import row_capacities
    from placer.engines.relax.sampled import chunked_dual_bound
    from placer.engines.relax.streamed_bound import streamed_bound
    from placer.problem.compile_large import EntryPricer, compile_restricted

    fleet = watered_fleet
    whole, _ = compile_problem(fleet)
    assert whole.scale_oj is not None and (whole.scale_oj < 1).any()
    part, _, _ = compile_restricted(fleet)
    rng = np.random.default_rng(0)
    for scale in (1e-3, 1e-1):
        y = rng.random(row_capacities(whole).size) * scale
        used = np.zeros_like(y)
        used[: whole.num_rows] = EntryPricer(fleet).prices(y)[:-1]
        expected, _ = chunked_dual_bound(whole, used)
        assert streamed_bound(fleet, part, y) == pytest.approx(expected, rel=1e-12, abs=1e-9)
