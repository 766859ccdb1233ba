"""Rolling re-planning with runs that migrate between pools (`migration_usd`,
`placer.analysis.rolling`): a run may move, and pause when preemptible, across re-plans;
a window sees the work it has left and where it last ran (`Preempt.last_pool_v`,
`continues_v`). With perfect forecasts and a lookahead to the horizon's end the realised
schedule equals the oracle's optimum, which holds only when every window's model is the
exact rest of the problem; the window's MILP equals brute force over every schedule."""

from __future__ import annotations

import math

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
from tests.test_migration import _brute_force, run, scenario

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
