"""Schedules as options (`placer.problem.schedule_options`): choosing a run's schedule
option is the same plan as the assignment with that schedule.

Checked against `placer.problem.usage` (which reads the schedule itself): the row
loads, the totals of every quantity, the objective, the per-period caps' spend and the
violations, on every feasible schedule of small fleets (paused, moved, both) and on
random schedules of random timed scenarios; and the kernels' score of the new options
against the float64 NumPy reference.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from placer.model.scenario import Scenario
from placer.plan.scoring import score_assignments
from placer.problem.compile import compile_problem
from placer.problem.preempt import feasible_schedule
from placer.problem.schedule_options import schedule_key, with_schedule_options
from placer.problem.usage import (
    compute_loads,
    objective_value,
    period_spend,
    row_loads,
    violations,
)
from tests import strategies
from tests import test_migration as migration
from tests import test_preempt as preempt


def _same_plan(problem, assign_u, schedule, options) -> None:
    """The assignment with `schedule` and with its options read the same."""
    picked = options.assignment(assign_u, schedule)
    augmented = options.problem
    np.testing.assert_allclose(
        row_loads(augmented, picked), row_loads(problem, assign_u, schedule), rtol=1e-9, atol=1e-9
    )
    mine, theirs = compute_loads(augmented, picked), compute_loads(problem, assign_u, schedule)
    np.testing.assert_allclose(mine.total_q, theirs.total_q, rtol=1e-9, atol=1e-9)
    assert objective_value(augmented, picked) == pytest.approx(
        objective_value(problem, assign_u, schedule), rel=1e-9, abs=1e-9
    )
    assert mine.unplaced_usd_per_h == pytest.approx(theirs.unplaced_usd_per_h, abs=1e-9)
    if problem.period_caps is not None:
        np.testing.assert_allclose(
            period_spend(augmented, picked),
            period_spend(problem, assign_u, schedule),
            rtol=1e-9,
            atol=1e-9,
        )
    assert sorted(violations(augmented, picked)) == sorted(
        violations(problem, assign_u, schedule=schedule)
    )


def _every_schedule(data: dict) -> None:
    """Every feasible schedule of every run, one at a time, the others unplaced."""
    problem, _ = compile_problem(Scenario.model_validate(data))
    table = problem.preempt
    assert table is not None
    empty = np.full(problem.num_units, -1, np.int32)
    seen = 0
    for u in table.unit_v.tolist():
        schedules = [{u: s} for s in migration._schedules(problem, u)]
        options = with_schedule_options(problem, schedules)
        assert len(options.option_i) == len(schedules)
        assert options.problem.num_options == problem.num_options + len(schedules)
        for schedule in schedules:
            _same_plan(problem, empty, schedule, options)
            seen += 1
    assert seen


def test_every_paused_schedule_reads_as_its_option() -> None:
    data = preempt.scenario(runs=[preempt.run("ft", 2, 0.25), preempt.run("g", 1, 0.0)])
    _every_schedule(data)


@pytest.mark.parametrize("preemptible", [False, True])
def test_every_moved_schedule_reads_as_its_option(preemptible: bool) -> None:
    data = migration.scenario([migration.run("ft", 2, 3.0, 0.5, preemptible=preemptible)])
    data["objective"] = {"budget_usd_per_period_h": 1000.0, "carbon_cap_kg_per_period_h": 500.0}
    _every_schedule(data)


def _dry_then_wet(data: dict) -> dict:
    """fra cooled without water, muc with evaporative cooling and a daily water cap."""
    fra, muc = data["sites"]
    fra["cooling"]["wue_l_per_kwh"] = 0.0
    muc["cooling"] |= {"wue_l_per_kwh": 1.8, "water_cap_l_per_day": 10_000.0}
    return data


def test_a_move_to_a_site_that_uses_water() -> None:
    """A migrating run's rates are its first period's: 0 L/h of water at fra, while its
    periods at muc charge muc's water row. Every schedule still reads as its option (the
    water term on the run's GPUs), and the N-1 screen of the solved plan, which moves
    from fra to muc, scores it (it raised "charges a quantity it totals 0 (a bug)")."""
    from placer.plan.scoring import site_failure_scores

    data = _dry_then_wet(migration.scenario([migration.run("ft", 4, 10.0)]))
    _every_schedule(data)
    sc, plan = migration.solved(data)
    (p,) = plan.placements
    assert [s.site for s in p.segments or []] == ["fra", "muc"]
    scores = site_failure_scores(sc, plan)
    assert set(scores) == {"fra", "muc"}


def test_a_solved_plan_with_pauses_and_moves() -> None:
    """A MILP plan whose run pauses, then resumes in another pool: the same objective
    through its option, which names both pools."""
    cheap, dear = migration.CHEAP, migration.DEAR
    runs = [migration.run("ft", 2, 1.0, preemptible=True, restore_overhead_h=0.0)]
    sc, plan = migration.solved(
        migration.scenario(runs, [cheap, dear, dear, dear], [dear, dear, dear, cheap])
    )
    from placer.plan.score_schedule import schedule_of
    from placer.plan.scoring import assignment_of

    problem, index = compile_problem(sc)
    schedule = schedule_of(plan, index)
    assert schedule, "the plan pauses or moves"
    assign = assignment_of(plan, index, skip_preempted=True)
    options = with_schedule_options(problem, [schedule, schedule])  # deduplicated
    assert len(options.option_i) == len(schedule)
    picked = options.assignment(assign, schedule)
    assert objective_value(options.problem, picked) == pytest.approx(plan.objective_usd_per_h)
    (u,) = schedule
    key = schedule_key(schedule[u])
    (pools,) = options.pools_i
    assert set(pools) == set(key[1])
    _same_plan(problem, assign, schedule, options)


def test_kernels_score_the_new_options_as_numpy() -> None:
    data = migration.scenario([migration.run("ft", 2, 3.0, 0.5, preemptible=True)])
    problem, _ = compile_problem(Scenario.model_validate(data))
    (u,) = problem.preempt.unit_v.tolist()
    schedules = [{u: s} for s in migration._schedules(problem, u)]
    options = with_schedule_options(problem, schedules)
    empty = np.full(problem.num_units, -1, np.int32)
    picks = np.stack([options.assignment(empty, s) for s in schedules])
    by_numpy = score_assignments(options.problem, picks, "numpy")
    by_jax = score_assignments(options.problem, picks, "jax")
    for a, b in zip(by_numpy, by_jax, strict=True):
        assert b.objective_usd_per_h == pytest.approx(a.objective_usd_per_h, rel=1e-5)
        assert b.cost_usd_per_h == pytest.approx(a.cost_usd_per_h, rel=1e-5)
        assert b.carbon_kg_per_h == pytest.approx(a.carbon_kg_per_h, rel=1e-5, abs=1e-6)
        assert b.violations.keys() == a.violations.keys()


def test_no_schedule_leaves_the_problem_as_it_is() -> None:
    problem, _ = compile_problem(
        Scenario.model_validate(preempt.scenario(runs=[preempt.run("ft", 2, 0.25)]))
    )
    options = with_schedule_options(problem, [{}])
    assert options.problem is problem and not options.option_of


@st.composite
def _random_schedules(draw, problem):
    """Some of the problem's runs on random feasible schedules, the rest on random
    options or unplaced."""
    table = problem.preempt
    schedule = {}
    for u in table.unit_v.tolist():
        v = table.run_of(u)
        pools = sorted({int(p) for p in table.pool_c[table.run_c == v]})
        c = table.choice_of(u, pools[0])
        window = table.period_e[table.entries_of(c)].tolist()
        if not draw(st.booleans()):
            continue
        n = draw(st.integers(1, len(window)))
        periods = tuple(sorted(draw(st.permutations(window))[:n]))
        where = tuple(draw(st.sampled_from(pools)) for _ in periods)
        if not feasible_schedule(table, u, where[0], periods, where):
            periods, where = tuple(window), (pools[0],) * len(window)  # the whole window
        if feasible_schedule(table, u, where[0], periods, where):
            one = len(set(where)) == 1
            schedule[u] = (where[0], periods) if one else (where[0], periods, where)
    assign = np.full(problem.num_units, -1, np.int32)
    for u in range(problem.num_units):
        mine = problem.options_of(u)[0]
        if u not in schedule and mine.size and draw(st.booleans()):
            assign[u] = int(mine[draw(st.integers(0, mine.size - 1))])
    return assign, schedule


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=strategies.timed_scenario_dicts(), caps=st.booleans(), draw=st.data())
def test_random_schedules_read_as_their_options(data, caps, draw) -> None:
    strategies.every_run_may_pause(data, draw, restore=True)
    if caps:
        data.setdefault("objective", {})["budget_usd_per_period_h"] = 500.0
    problem, _ = compile_problem(Scenario.model_validate(data))
    assume(problem.preempt is not None)
    assign, schedule = draw.draw(_random_schedules(problem))
    options = with_schedule_options(problem, [schedule])
    _same_plan(problem, assign, schedule, options)
