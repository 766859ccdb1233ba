"""Re-planning a timed fleet from its running plan (placer.analysis.replan_time; `placer
replan` on a scenario with a horizon), on configs/time/small_day.yaml: the current plan is
solved without the Dallas grid event, the scenario as known now has it."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from placer.analysis.replan_time import at_period, replan_timed
from placer.api import load, solve
from placer.cli.main import cli
from placer.errors import OptionError
from placer.model.generate_time import generate_timed_scenario
from placer.model.scenario import Scenario
from placer.plan.plan import Plan
from placer.plan.verify import verify

ROOT = Path(__file__).resolve().parent.parent
SMALL_DAY = ROOT / "configs" / "time" / "small_day.yaml"


def _scenarios(**training) -> tuple[Scenario, Scenario]:
    """(small_day without its grid event, small_day), each training run updated with
    `training`."""
    doc = load(SMALL_DAY).model_dump(mode="json")
    for w in doc["workloads"]:
        if w["kind"] == "training":
            w.update(training)
    before = copy.deepcopy(doc)
    before["sites"][0]["grid_events"] = []
    return Scenario.model_validate(before), Scenario.model_validate(doc)


@pytest.fixture(scope="module")
def preemptible() -> tuple[Scenario, Scenario, Plan]:
    before, now = _scenarios(preemptible=True)
    return before, now, solve(before, solver="milp", time_limit_s=20)


@pytest.fixture(scope="module")
def rigid() -> tuple[Scenario, Scenario, Plan]:
    before, now = _scenarios()
    return before, now, solve(before, solver="milp", time_limit_s=20)


def _history(plan: Plan, at: int) -> dict:
    """What a plan does before period `at`: each service unit's pool and each run's
    periods per pool."""
    out: dict = {}
    for p in plan.placements:
        if p.kind == "inference":
            if p.period < at:
                out[p.unit] = p.pool
            continue
        spans = p.segments or [p]
        ran = sorted(
            (t, s.pool or p.pool)
            for s in spans
            for t in range(s.start_period, s.start_period + s.periods)
            if t < at
        )
        if ran:
            out[p.unit] = ran
    return out


def test_the_event_is_absorbed_and_the_history_kept(preemptible) -> None:
    _, now, current = preemptible
    report = replan_timed(now, current, at=10, solver="milp", time_limit_s=20)
    assert not report.current_valid
    assert any("facility_power: dfw-hall: period 13" in p for p in report.current_problems)
    assert report.status == "optimal"
    assert report.violations == [] and verify(now, report.plan) == []
    assert report.left_out == []
    assert _history(report.plan, 10) == _history(current, 10)
    # every change is from period 10 on, and costs what the report sums
    assert all(c.period is None or c.period >= 10 for c in report.changes)
    assert report.change_cost_usd == pytest.approx(sum(c.cost_usd for c in report.changes))
    assert report.objective_with_changes_usd == pytest.approx(
        report.objective_usd + report.change_cost_usd
    )


def test_a_plan_that_still_holds_is_kept(preemptible) -> None:
    """The scenario's own optimal plan, re-planned on the same scenario: nothing pays for
    a change, so nothing changes and the objective is the plan's."""
    _, now, _ = preemptible
    current = solve(now, solver="milp", time_limit_s=20, relative_gap=0.0)
    for at in (0, 9):
        report = replan_timed(now, current, at=at, solver="milp", time_limit_s=20)
        assert report.current_valid and report.current_problems == []
        assert report.violations == []
        assert report.objective_usd == pytest.approx(report.current_objective_usd, rel=2e-4)
        assert report.changed_units == 0 and report.change_cost_usd == 0.0


def test_replanning_at_zero_is_never_worse_than_staying(preemptible) -> None:
    """From period 0 the window is the whole problem with each change priced: where the
    current plan still holds (here: no event), staying is one of its plans."""
    before, _, current = preemptible
    report = replan_timed(before, current, at=0, solver="milp", time_limit_s=20)
    assert report.current_valid
    staying = report.current_objective_usd
    assert report.objective_with_changes_usd <= staying * (1 + 1e-4) + 1e-6


@pytest.fixture(scope="module")
def tight(rigid) -> tuple[Scenario, Scenario, Plan]:
    """Runs that may not pause, each due when the current plan ends it: a run that
    stops cannot restart."""
    before, now, current = rigid
    ends = {p.workload: p.end for p in current.placements if p.kind == "training" and p.end}
    docs = [s.model_dump(mode="json") for s in (before, now)]
    for doc in docs:
        for w in doc["workloads"]:
            if w["id"] in ends:
                w["deadline"] = ends[w["id"]]
    before, now = (Scenario.model_validate(d) for d in docs)
    return before, now, solve(before, solver="milp", time_limit_s=20)


def test_a_run_that_cannot_go_on_restarts_where_its_window_allows(rigid) -> None:
    """Runs that may not pause: at period 10 both run in Dallas, where the event leaves
    room for one in periods 13-15; the one with less work left restarts after it."""
    _, now, current = rigid
    report = replan_timed(now, current, at=10, solver="milp", time_limit_s=20)
    assert report.violations == [] and verify(now, report.plan) == []
    assert report.left_out == []
    restarted = [c for c in report.changes if c.kind == "run"]
    assert len(restarted) == 1 and restarted[0].after.endswith("(restart)")
    assert restarted[0].before.endswith("(running)")
    run = next(p for p in report.plan.placements if p.unit == restarted[0].unit)
    assert run.start_period >= 10
    assert any(
        f"{run.unit}: under way at period 10" in n and "restarts from scratch" in n
        for n in report.notes
    )
    was = next(p for p in current.placements if p.unit == run.unit)
    assert was.start_period < 10
    ran = 10 - was.start_period
    assert report.sunk_usd == pytest.approx(was.cost_usd * ran / was.periods)


def test_a_run_that_can_neither_go_on_nor_restart_stops(tight) -> None:
    _, now, current = tight
    report = replan_timed(now, current, at=10, solver="milp", time_limit_s=20)
    assert len(report.left_out) == 1
    stopped = report.left_out[0].split(":")[0]
    assert any(f"{stopped}: under way at period 10" in n and "it stops" in n for n in report.notes)
    assert [v.split(":")[0] for v in report.violations] == ["must_place"]
    assert any(c.unit == stopped and c.after is None for c in report.changes)
    assert report.sunk_usd > 0
    assert {p.workload for p in report.plan.placements if p.kind == "training"} == (
        {"finetune-a", "finetune-b"} - {stopped}
    )
    assert _history(report.plan, 10) == {
        k: v for k, v in _history(current, 10).items() if k != stopped
    }


def test_a_run_that_may_migrate_moves_with_its_progress() -> None:
    """With room for 128 GPUs in Ashburn: a run that may not pause restarts from scratch
    (its progress lost), one with migration_usd moves there with the work it has done."""
    for training, moves in (({}, False), ({"migration_usd": 50.0}, True)):
        docs = [s.model_dump(mode="json") for s in _scenarios(**training)]
        for doc in docs:
            doc["sites"][1]["power"]["it_capacity_kw"] = 300
            doc["sites"][1]["pools"][0]["gpus"] = 128
        before, now = (Scenario.model_validate(d) for d in docs)
        current = solve(before, solver="milp", time_limit_s=20)
        report = replan_timed(now, current, at=10, solver="milp", time_limit_s=20)
        assert report.violations == [] and verify(now, report.plan) == []
        assert report.left_out == [] and (report.sunk_usd == 0.0) == moves
        (run,) = [c for c in report.changes if c.kind == "run"]
        kept = {k: v for k, v in _history(current, 10).items() if moves or k != run.unit}
        assert {k: v for k, v in _history(report.plan, 10).items() if k in kept} == kept
        assert run.before.endswith("(running)")
        assert run.after.endswith("(restart)") != moves
        placed = next(p for p in report.plan.placements if p.unit == run.unit)
        if moves:  # it goes on in Dallas to period 12, then in Ashburn
            assert placed.moves == 1 and placed.segments[0].start_period < 10
            assert {s.site for s in placed.segments} == {"dfw-hall", "iad-hall"}


def test_bad_input_names_what_is_wrong(rigid) -> None:
    _, now, current = rigid
    horizon = now.horizon
    assert at_period(horizon, "5") == 5
    assert at_period(horizon, "2022-06-07T05:00:00+00:00") == 5
    assert at_period(horizon, "2022-06-07T07:00:00+02:00") == 5
    for text, words in (
        ("24", "outside the horizon"),
        ("-1", "outside the horizon"),
        ("2022-06-07T05:30:00+00:00", "not on a period boundary"),
        ("2022-06-07T05:00:00", "no time zone"),
        ("soon", "neither a period"),
    ):
        with pytest.raises(OptionError, match=words):
            at_period(horizon, text)
    assert current.horizon is not None
    for field, value in (("periods", 23), ("period_hours", 0.5)):
        other = current.model_copy(
            update={"horizon": current.horizon.model_copy(update={field: value})}
        )
        with pytest.raises(OptionError, match=f"horizon.{field} is {value}, the scenario's"):
            replan_timed(now, other, at=3)
    other = current.model_copy(
        update={"horizon": current.horizon.model_copy(update={"start": "2022-06-07T01:00:00Z"})}
    )
    with pytest.raises(OptionError, match=r"horizon\.start is 2022-06-07T01:00:00Z"):
        replan_timed(now, other, at=3)
    static = solve(load(ROOT / "configs" / "us_carbon_vs_price.yaml"), solver="greedy")
    with pytest.raises(OptionError, match="a static plan"):
        replan_timed(now, static, at=3)
    with pytest.raises(OptionError, match="--time-limit-s"):
        replan_timed(now, current, at=3, time_limit_s=0)


def test_the_command(tmp_path: Path, tight, preemptible) -> None:
    _, now, current = preemptible
    scenario = tmp_path / "now.json"
    scenario.write_text(json.dumps(now.model_dump(mode="json", exclude_none=True)))
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(current.model_dump_json())
    out = tmp_path / "after.json"
    runner = CliRunner()
    args = ["replan", str(scenario), "--current", str(plan_file), "--at", "10"]
    result = runner.invoke(cli, [*args, "-o", str(out), "--solver", "milp"])
    assert result.exit_code == 0, result.output
    assert "from period 10 (2022-06-07T10:00:00+00:00)" in result.output
    assert "the current plan no longer holds" in result.output
    assert runner.invoke(cli, ["verify", str(scenario), str(out)]).exit_code == 0
    result = runner.invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["kind"] == "TimedReplanReport"
    for extra, words in (
        (["--curve"], "--curve: not for a timed scenario"),
        (["--event", "sites.dfw-hall=dwn"], "--event sites.dfw-hall=dwn"),
        (["--at", "2022-06-07T10:30:00+00:00"], "not on a period boundary"),
    ):
        result = runner.invoke(cli, [*args, *extra])
        assert result.exit_code == 2 and words in result.output, result.output
    result = runner.invoke(cli, ["replan", str(scenario), "--current", str(plan_file)])
    assert result.exit_code == 2 and "--at: a timed re-plan needs" in result.output
    # runs that may not pause: one stops; the plan is written, exit 3
    _, rigid_now, rigid_plan = tight
    scenario.write_text(json.dumps(rigid_now.model_dump(mode="json", exclude_none=True)))
    plan_file.write_text(rigid_plan.model_dump_json())
    out.unlink()
    result = runner.invoke(cli, [*args, "-o", str(out)])
    assert result.exit_code == 3, result.output
    assert "keeps every must-place unit" in result.output and out.exists()
    # a static scenario refuses --at
    static = ROOT / "configs" / "us_carbon_vs_price.yaml"
    result = runner.invoke(cli, ["replan", str(static), "--current", str(plan_file), "--at", "1"])
    assert result.exit_code == 2 and "--at: only for a timed scenario" in result.output


@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    cut_pct=st.sampled_from([25, 50, 90]),
    at=st.integers(0, 11),
    solver=st.sampled_from(["milp", "greedy"]),
    preemptible=st.booleans(),
)
def test_every_timed_replan_keeps_the_history_and_passes_the_verifier(
    seed: int, cut_pct: int, at: int, solver: str, preemptible: bool
) -> None:
    """Random small fleets: the plan being run is solved without a grid event; the
    scenario now has one at a random site from a random period. The re-plan from `at`
    keeps every service unit's pool and every run's periods before `at` (but those of the
    runs it restarts or stops), changes nothing before `at`, and passes the verifier but
    for must-place units it names as left out."""
    rng = np.random.default_rng(seed)
    doc = generate_timed_scenario(40, 4, 16, seed=seed).model_dump(mode="json")
    for w in doc["workloads"]:
        if w["kind"] == "training":
            w["preemptible"] = preemptible
    before = Scenario.model_validate(doc)
    site = doc["sites"][int(rng.integers(len(doc["sites"])))]
    start = before.horizon.start_time + dt.timedelta(hours=int(rng.integers(at, 16)))
    site["grid_events"] = [
        {"name": "called", "start": start.isoformat(), "hours": 3, "cut_pct": cut_pct}
    ]
    now = Scenario.model_validate(doc)
    current = solve(before, solver="milp", time_limit_s=20)
    report = replan_timed(now, current, at=at, solver=solver, time_limit_s=20)
    assert report.status in ("optimal", "feasible")
    assert all(c.period is None or c.period >= at for c in report.changes)
    gone = {c.unit for c in report.changes if c.kind == "run" and c.before.endswith("(running)")}
    kept = {k: v for k, v in _history(current, at).items() if k not in gone}
    assert {k: v for k, v in _history(report.plan, at).items() if k not in gone} == kept
    must_place = {v.split(": ")[1] for v in report.violations if v.startswith("must_place:")}
    others = [v for v in report.violations if not v.startswith("must_place:")]
    assert others == []
    assert must_place <= {x.split(":")[0] for x in report.left_out}
    assert sorted(str(v) for v in verify(now, report.plan)) == sorted(report.violations)
