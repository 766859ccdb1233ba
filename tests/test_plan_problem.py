"""A plan of a fleet too large for the whole option table is scored and explained on the
restricted layout, with the plan's own options kept (`placer.plan.plan_problem`)."""

from __future__ import annotations

import numpy as np
import pytest

from placer import api
from placer.analysis.explain import explain_workload
from placer.model.generate_time import generate_timed_scenario
from placer.plan import plan_problem as plan_problem_module
from placer.plan.scoring import assignment_of, score, site_failure_scores
from placer.problem.compile import compile_problem
from placer.problem.compile_large import compile_restricted


@pytest.fixture(scope="module")
def fleet():
    return generate_timed_scenario(80, 10, 24, 3)


@pytest.fixture(scope="module")
def plan(fleet):
    """The MILP's plan with each unit that lists options the default restriction (the
    cheapest ones) drops moved to one of those."""
    from placer.api import versions
    from placer.engines.base import SolveResult
    from placer.plan.build import build_plan

    problem, index = compile_problem(fleet)
    part, part_index, _ = compile_restricted(fleet)
    assign = assignment_of(api.solve(fleet, solver="milp", time_limit_s=20), index)

    def keys(p, i, u):
        t = i.time
        return [
            (int(t.pool_o[o]), int(t.start_o[o]), int(t.length_o[o])) for o in p.options_of(u)[0]
        ]

    moved = 0
    for u in range(problem.num_units):
        kept = set(keys(part, part_index, u))
        dropped = [
            o
            for o, k in zip(problem.options_of(u)[0], keys(problem, index, u), strict=True)
            if k not in kept
        ]
        if dropped and moved < 5:
            assign[u] = dropped[0]
            moved += 1
    assert moved
    result = SolveResult(assign_u=assign, status="feasible", message="moved")
    return build_plan(
        fleet,
        problem,
        index,
        result,
        solver="milp",
        seed=0,
        time_limit_s=None,
        wall_s=0.0,
        versions=versions(),
    )


@pytest.fixture
def restricted(monkeypatch):
    """As if the fleet's padded table would not fit memory."""
    monkeypatch.setattr(plan_problem_module, "needs_restriction", lambda scenario: True)


def test_the_plan_uses_options_the_default_restriction_drops(fleet, plan):
    """(So the tests below would fail if the plan's options were not kept.)"""
    part, part_index, _ = compile_restricted(fleet)
    whole, _ = compile_problem(fleet)
    assert part.num_slots < whole.num_slots
    read = assignment_of(plan, part_index, strict=False)
    placed = sum(1 for p in plan.placements if p.segments is None)
    assert (part.slot_of(read) >= 0).sum() < placed  # some not listed for their unit


def test_score_is_the_whole_problems(fleet, plan, restricted) -> None:
    whole_index = compile_problem(fleet)[1]
    problem, index = plan_problem_module.plan_problem(fleet, [plan])
    assert problem.num_slots < compile_problem(fleet)[0].num_slots  # restricted
    assert index.units == whole_index.units
    read = assignment_of(plan, index)
    assert (problem.slot_of(read) >= 0).sum() == len(plan.placements)
    got = score(fleet, plan)[0]
    want = _whole_score(fleet, plan)
    assert got.violations == want.violations
    for name in ("objective_usd_per_h", "cost_usd_per_h", "carbon_kg_per_h", "water_l_per_h"):
        assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-12), name


def _whole_score(fleet, plan):
    from unittest import mock

    with mock.patch.object(plan_problem_module, "needs_restriction", lambda scenario: False):
        return score(fleet, plan)[0]


def test_site_failures_and_explain_read_the_plan(fleet, plan, restricted) -> None:
    failures = site_failure_scores(fleet, plan)
    assert set(failures) == {s.id for s in fleet.sites}
    assert all(np.isfinite(s.objective_usd_per_h) for s in failures.values())
    workload = plan.placements[0].workload
    why = explain_workload(fleet, plan, workload)
    with_whole = plan_problem_module.needs_restriction
    assert why and with_whole(fleet)
    from unittest import mock

    with mock.patch.object(plan_problem_module, "needs_restriction", lambda scenario: False):
        whole_why = explain_workload(fleet, plan, workload)
    assert [w.chosen for w in why] == [w.chosen for w in whole_why]
    assert [w.options[:1] for w in why] == [w.options[:1] for w in whole_why]


def test_validate_counts_the_whole_tables_pairs_as_they_stream(fleet, write_yaml, monkeypatch):
    from click.testing import CliRunner

    from placer.cli.main import cli
    from placer.problem import compile_large

    path = write_yaml(fleet.model_dump(mode="json", exclude_none=True), "fleet.json")
    whole, _ = compile_problem(fleet)
    monkeypatch.setattr(compile_large, "needs_restriction", lambda scenario: True)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    kept = compile_restricted(fleet)[0].num_pairs()
    assert f"{whole.num_pairs()} feasible (unit, pool and start) pairs" in result.output
    assert f"restricted layout: {kept} kept" in result.output
