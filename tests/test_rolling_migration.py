"""Rolling re-planning with runs that migrate between pools (`migration_usd`,
`placer.analysis.rolling`): a run may move, and pause when preemptible, across re-plans;
a window sees the work it has left and where it last ran (`Preempt.last_pool_v`,
`continues_v`). With perfect forecasts and a lookahead to the horizon's end the realised
schedule equals the oracle's optimum, which holds only when every window's model is the
exact rest of the problem; the window's MILP equals brute force over every schedule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from placer.analysis.rolling import _moving_go_on, roll
from placer.analysis.rolling_window import Moving, window_scenario
from placer.engines.base import SolveOptions
from placer.engines.registry import SOLVERS
from placer.model.scenario import Scenario
from placer.plan.verify import verify
from placer.problem.compile import compile_problem
from placer.problem.preempt import feasible_schedule
from placer.problem.usage import objective_value, period_spend
from tests.test_migration import _brute_force, run, scenario, site

PRICES = st.sampled_from([0.05, 0.5, 2.0, 5.0])


def _sc(runs, fra, muc) -> Scenario:
    return Scenario.model_validate(scenario(runs, fra, muc))


def test_a_run_moves_across_replans_as_the_oracle_does() -> None:
    """fra is cheap first and dear later, muc the other way round: the run starts at fra
    and moves to muc in period 2, across re-plans made every period."""
    sc = _sc([run("ft", 4, 10.0)], [0.05, 0.05, 5.0, 5.0], [5.0, 5.0, 0.05, 0.05])
    for every in (1, 2, 3):
        report = roll(sc, every_periods=every, forecast="perfect", baseline=False)
        assert report.plan is not None and verify(sc, report.plan) == []
        (p,) = report.plan.placements
        assert [(s.start_period, s.periods, s.site) for s in p.segments] == [
            (0, 2, "fra"),
            (2, 2, "muc"),
        ]
        assert p.moves == 1 and p.migration_usd == pytest.approx(10.0)
        assert report.oracle is not None
        assert report.rolling.objective_usd == pytest.approx(report.oracle.objective_usd)
        assert report.notes == [] and report.rolling.runs_missed == []


@pytest.mark.parametrize(
    ("preemptible", "usd", "move_h", "periods", "pools"),
    [
        (False, 3.0, 0.0, (0, 1), ("fra/L4", "fra/L4")),  # goes on, or moves in period 2
        (False, 0.5, 0.5, (0, 1), ("fra/L4", "muc/L4")),  # it moved once already
        (True, 2.0, 0.25, (0, 1), ("muc/L4", "muc/L4")),
        (True, 0.5, 0.25, (0,), ("fra/L4",)),  # paused in period 1: a resume or a move
        (True, 20.0, 0.0, (1,), ("muc/L4",)),
    ],
)
def test_the_milp_of_a_run_under_way_equals_brute_force(
    preemptible: bool, usd: float, move_h: float, periods, pools
) -> None:
    """A window at t = 2 of a run under way: the MILP (its first period's rows from where
    the run last ran) against every schedule `feasible_schedule` accepts, priced by
    `usage` (a first period elsewhere is a move)."""
    fra, muc = [0.05, 2.0, 5.0, 0.5, 5.0, 0.05], [5.0, 0.05, 2.0, 2.0, 0.05, 5.0]
    first = run("a", 3.0, usd, move_h, preemptible=preemptible)
    if preemptible:
        first["restore_overhead_h"] = 0.25
    second = run("b", 1.0, None, must_place=False, value_usd_per_h=30.0, preemptible=True)
    sc = _sc([first, second], fra, muc)
    moving = {
        "a": Moving(
            periods, pools, len(periods) / 3.0 - (move_h / 3.0 if len(set(pools)) > 1 else 0.0)
        )
    }
    window, _ = window_scenario(sc, 2, 6, {}, "perfect", moving=moving)
    problem, index = compile_problem(window)
    problem = _moving_go_on(problem, index, moving, 2)
    table = problem.preempt
    v = table.run_of(0)
    assert table.last_pool(v) == next(i for i, p in enumerate(index.pools) if p.name == pools[-1])
    assert table.continues(v) == (periods[-1] == 1)
    result = SOLVERS["milp"](problem, SolveOptions(time_limit_s=20))
    best = _brute_force(problem)
    if best == float("inf"):
        assert result.status == "infeasible"
        return
    assert result.status == "optimal"
    assert result.objective_usd_per_h == pytest.approx(best, rel=1e-7)
    # from where it last ran it goes on with no overhead; a first period elsewhere is a
    # move, whose hours it must run too (both pools are L4: the same hours left)
    last, other = table.last_pool(v), 1 - table.last_pool(v)
    left = (1.0 - moving["a"].done) * 3.0
    k = math.ceil(left - 1e-9)
    if periods[-1] == 1:
        assert feasible_schedule(table, 0, last, tuple(range(k)))
    assert feasible_schedule(table, 0, other, tuple(range(k))) == (k >= left + move_h - 1e-9)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fra=st.lists(PRICES, min_size=5, max_size=6),
    muc=st.lists(PRICES, min_size=6, max_size=6),
    hours=st.sampled_from([1.5, 2.0, 2.5, 3.0]),
    usd=st.sampled_from([0.5, 3.0, 20.0]),
    move_h=st.sampled_from([0.0, 0.25, 0.5]),
    preemptible=st.booleans(),
    every=st.sampled_from([1, 2]),
)
def test_perfect_rolling_equals_the_oracle(fra, muc, hours, usd, move_h, preemptible, every):
    muc = muc[: len(fra)]
    first = run(
        "a", hours, usd, move_h, preemptible=preemptible, must_place=False, value_usd_per_h=60.0
    )
    if preemptible:
        first["restore_overhead_h"] = 0.25
    second = run("b", 1.0, None, must_place=False, value_usd_per_h=30.0, preemptible=True)
    sc = _sc([first, second], fra, muc)
    report = roll(sc, every_periods=every, forecast="perfect", baseline=False)
    assert report.plan is not None and verify(sc, report.plan) == []
    assert report.oracle is not None and report.oracle.status == "optimal"
    assert report.rolling.objective_usd == pytest.approx(report.oracle.objective_usd, rel=1e-6)


def test_a_run_past_the_lookahead_keeps_pace() -> None:
    """A window that ends before a migrating run's deadline does not stretch to it: the
    run must do there the work going on in its last pool would do (`Moving.pace`); the
    realised schedule finishes it and verifies."""
    run_a = Moving((0, 1), ("fra/L4", "fra/L4"), 0.25, need_h=8.0, overhead_h=0.5)
    assert run_a.pace(2, 4, 1.0) == pytest.approx(2.0 / 8.0)  # goes on for 2 periods
    assert run_a.pace(3, 5, 1.0) == pytest.approx(1.5 / 8.0)  # resumes first: 0.5 h
    assert run_a.pace(2, 12, 1.0) == pytest.approx(0.75)  # at most what it has left
    prices = [0.05, 0.05, 5.0, 5.0, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05]
    sc = _sc([run("ft", 8, 10.0)], prices, prices[::-1])
    report = roll(sc, every_periods=2, lookahead_periods=3, forecast="perfect", baseline=False)
    assert report.plan is not None and verify(sc, report.plan) == []
    assert report.rolling.runs_missed == [] and report.notes == []
    assert all(step.end <= step.t + 3 or step.t == 0 for step in report.steps)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fra=st.lists(PRICES, min_size=5, max_size=6),
    muc=st.lists(PRICES, min_size=6, max_size=6),
    usd=st.sampled_from([0.5, 3.0]),
    size_gb=st.sampled_from([0.0, 50.0, 200.0, 1000.0]),
    home=st.sampled_from(["fra", "ham"]),
    preemptible=st.booleans(),
)
def test_perfect_rolling_pays_the_datasets_egress_once_per_site(
    fra, muc, usd, size_gb, home, preemptible
):
    """A run whose dataset lives at `home` pays its egress once at each other site it
    runs at; a window sees the sites it ran at as paid and the others not, so with perfect
    forecasts the realised objective is still the oracle's (ham holds the data and no L4)."""
    muc = muc[: len(fra)]
    first = run("a", 3.0, usd, 0.0, preemptible=preemptible, must_place=False, value_usd_per_h=60.0)
    first["dataset"] = {"site": home, "size_gb": size_gb}
    if preemptible:
        first["restore_overhead_h"] = 0.25
    data = scenario([first], fra, muc)
    data["sites"].append(site("ham", [0.1] * len(fra), 53.55, 9.99, "H200"))
    sc = Scenario.model_validate(data)
    report = roll(sc, every_periods=1, forecast="perfect", baseline=False)
    assert report.plan is not None and verify(sc, report.plan) == []
    assert report.oracle is not None and report.oracle.status == "optimal"
    assert report.rolling.objective_usd == pytest.approx(report.oracle.objective_usd, rel=1e-6)


@pytest.mark.parametrize("home", ["fra", "muc", "ham"])
def test_a_run_going_on_costs_the_same_as_an_option_and_as_a_schedule(home) -> None:
    """A window at t = 2 of a run that ran at fra in periods 0-1 and goes on: the dataset
    (at `home`) was paid at fra, so going on there as its one contiguous option costs
    what the same periods cost as a schedule (objective and each period's budget spend),
    and a schedule at muc pays the egress unless the data lives there."""
    first = run("a", 4.0, 3.0, 0.0)
    first["dataset"] = {"site": home, "size_gb": 500.0}
    data = scenario([first], [0.05, 0.5, 2.0, 0.5, 0.05, 0.5], [0.5, 0.05, 0.5, 2.0, 0.5, 0.05])
    data["sites"].append(site("ham", [0.1] * 6, 53.55, 9.99, "H200"))
    data["objective"] = {"budget_usd_per_period_h": 500.0}
    sc = Scenario.model_validate(data)
    moving = {"a": Moving((0, 1), ("fra/L4", "fra/L4"), 0.5)}
    window, _ = window_scenario(sc, 2, 6, {}, "perfect", moving=moving)
    problem, index = compile_problem(window)
    problem = _moving_go_on(problem, index, moving, 2)
    fra = next(i for i, p in enumerate(index.pools) if p.name == "fra/L4")
    muc = next(i for i, p in enumerate(index.pools) if p.name == "muc/L4")
    (option,) = problem.options_of(0)[0].tolist()  # fra, from the window's start, 2 periods
    assert int(problem.pool_o[option]) == fra
    as_option = np.array([option], np.int32)
    none = np.array([-1], np.int32)
    schedule = {0: (fra, (0, 1))}
    assert objective_value(problem, as_option, None) == pytest.approx(
        objective_value(problem, none, schedule), rel=1e-9
    )
    np.testing.assert_allclose(
        period_spend(problem, as_option), period_spend(problem, none, schedule), rtol=1e-9
    )
    egress_h = 500.0 * 0.02 / window.horizon.hours  # the data site's price x GB, per hour
    fixed = problem.preempt.fixed_usd_per_h_c
    at = {int(p): float(f) for p, f in zip(problem.preempt.pool_c, fixed, strict=True)}
    assert at[fra] == 0.0  # paid when it ran there
    assert at[muc] == pytest.approx(0.0 if home == "muc" else egress_h)
