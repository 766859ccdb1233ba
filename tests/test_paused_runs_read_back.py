"""`placer explain PLAN --workload`, `placer diff` and `placer export` on plans whose
training runs pause or move (`segments`, docs/time.md).

A paused or moved run is no option of the Problem: explain reads its segments back as a
schedule, shows it as the chosen line priced as the plan pays it, and counts its
periods' loads when another unit is explained. diff lists a run whose segments differ
even where its pool and start are the same. Every export target carries the segments.
The N-1 screen (`site_failure_scores`) scores the schedule and loses it with any of its
sites.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import placer
from placer.analysis.diff import diff_plans
from placer.analysis.diff_time import segments_text
from placer.analysis.explain import explain_workload, why_text
from placer.cli.main import cli
from placer.errors import OptionError
from placer.model.scenario import Scenario
from placer.outputs.export import TARGETS, build
from placer.plan.verify import verify
from tests import test_migration as migration
from tests import test_preempt as preempt


def _steady(hours: float = 1.0) -> dict:
    """A run of 8 GPUs that may not pause."""
    return {
        "id": "steady",
        "kind": "training",
        "gpus": 8,
        "hours": hours,
        "accelerators": ["L4"],
        "utilization": 1.0,
    }


def _paused() -> tuple[Scenario, placer.Plan]:
    """One 8-GPU pool, prices cheap in periods 0 and 3: `ft` (2 h, may pause) runs in 0 and
    3, `steady` (1 h) takes a dear period, 1 or 2."""
    sc, plan = preempt.solved(preempt.scenario(runs=[preempt.run("ft", 2, 0.0), _steady()]))
    assert plan.status == "optimal" and verify(sc, plan) == []
    by_id = {p.workload: p for p in plan.placements}
    assert by_id["ft"].segments is not None and by_id["steady"].segments is None
    return sc, plan


def test_a_paused_run_is_explained_by_its_schedule() -> None:
    sc, plan = _paused()
    (why,) = explain_workload(sc, plan, "ft")
    assert why.chosen == "fra/L4@0,3"
    (chosen,) = [o for o in why.options if o.chosen]
    assert chosen.pool == "fra/L4@0,3" and chosen.delta_usd_per_h is None
    # by hand: two cheap periods of 8 GPUs and 9.6 kW, over the 4 h horizon
    assert chosen.cost_usd_per_h == pytest.approx(2 * migration.period_usd(0.05) / 4)
    assert chosen.gpus == 8
    # every contiguous option charges a dear period: dearer than the schedule, and the
    # deltas are against the schedule's objective
    others = [o for o in why.options if not o.chosen]
    assert others and all(o.delta_usd_per_h > 0 for o in others)
    for o in others:
        assert o.delta_usd_per_h == pytest.approx(
            o.objective_usd_per_h - chosen.objective_usd_per_h
        )
    # the chosen lines of both workloads add up to the plan's objective
    (steady,) = explain_workload(sc, plan, "steady")
    picked = [o.objective_usd_per_h for w in (why, steady) for o in w.options if o.chosen]
    assert sum(picked) == pytest.approx(plan.objective_usd_per_h)
    assert why_text([why]).startswith("ft (training): fra/L4@0,3\n")


def test_a_paused_run_blocks_the_periods_it_runs_in() -> None:
    sc, plan = _paused()
    (why,) = explain_workload(sc, plan, "steady")
    blocked = {o.pool: o.blocked_by for o in why.options if not o.chosen}
    # ft holds the pool's 8 GPUs in periods 0 and 3: steady fits in neither
    assert blocked["fra/L4@0"] == ["pool GPUs in period 0: 8 of 8 used by others, needs 8"]
    assert blocked["fra/L4@3"] == ["pool GPUs in period 3: 8 of 8 used by others, needs 8"]
    free = [pool for pool, by in blocked.items() if not by]
    assert free and all(pool in ("fra/L4@1", "fra/L4@2") for pool in free)


def test_a_moved_run_names_each_pool() -> None:
    sc, plan = migration.solved(migration.scenario([migration.run("ft", 4, 10.0)]))
    assert plan.placements[0].moves == 1
    (why,) = explain_workload(sc, plan, "ft")
    assert why.chosen == "fra/L4@0-1,muc/L4@2-3"
    (chosen,) = [o for o in why.options if o.chosen]
    # the plan pays the move: the schedule's objective is the plan's (one run)
    assert chosen.objective_usd_per_h == pytest.approx(plan.objective_usd_per_h)


def test_the_cli_explains_a_paused_run_and_refuses_a_forged_one(tmp_path: Path) -> None:
    sc, plan = _paused()
    scenario_file = tmp_path / "sc.json"
    scenario_file.write_text(json.dumps(sc.model_dump(mode="json", exclude_none=True)))
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan.model_dump_json())
    runner = CliRunner()
    args = ["explain", str(scenario_file), str(plan_file), "--workload", "ft"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "-> fra/L4@0,3" in result.output
    result = runner.invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["chosen"] == "fra/L4@0,3"
    # a run that may not pause, given segments: a clear error, exit 2
    forged = plan.model_copy(deep=True)
    steady = next(p for p in forged.placements if p.workload == "steady")
    steady.segments = [preempt._segment(steady.start_period, 1)]
    plan_file.write_text(forged.model_dump_json())
    result = runner.invoke(cli, [*args[:-1], "steady"])
    assert result.exit_code == 2
    assert "may not pause or move" in result.output and "Traceback" not in result.output
    with pytest.raises(OptionError, match="may not pause or move"):
        explain_workload(sc, forged, "ft")


def test_diff_lists_a_run_that_pauses_in_one_plan_only(tmp_path: Path) -> None:
    sc, paused = _paused()
    contiguous = placer.solve(sc, solver="greedy", time_limit_s=10)
    ft = next(p for p in contiguous.placements if p.workload == "ft")
    assert ft.segments is None and ft.start_period == 0  # the same pool and start
    d = diff_plans(contiguous, paused)
    assert d.schedule is not None and not d.identical
    run = next(r for r in d.schedule.runs if r.unit == "ft")
    assert (run.from_pool, run.to_pool, run.shift_h) == ("L4", "L4", 0.0)
    assert run.from_segments is None
    assert [(s.start_period, s.periods) for s in run.to_segments] == [(0, 1), (3, 1)]
    assert diff_plans(paused, paused).schedule.runs == []
    # the table shows each plan's segments
    files = []
    for name, plan in (("a", contiguous), ("b", paused)):
        files.append(tmp_path / f"{name}.json")
        files[-1].write_text(plan.model_dump_json())
    result = CliRunner().invoke(cli, ["diff", *map(str, files)])
    assert result.exit_code == 0, result.output
    assert "segments (A)" in result.output
    line = next(x for x in result.output.splitlines() if x.startswith("ft "))
    assert line.split()[-2:] == ["-", "0,3"]


def test_diff_names_the_pool_a_run_moves_to() -> None:
    _, moved = migration.solved(migration.scenario([migration.run("ft", 4, 10.0)]))
    _, stays = migration.solved(migration.scenario([migration.run("ft", 4, 1e6)]))
    d = diff_plans(stays, moved)
    (run,) = d.schedule.runs
    assert segments_text(run.to_site, run.to_pool, run.to_segments) == "0-1,muc/L4@2-3"
    assert segments_text(run.from_site, run.from_pool, run.from_segments) == "-"


def _carried(sc: Scenario, plan: placer.Plan, target: str) -> set[str]:
    """The segments each document of the export carries (annotation or SkyPilot env)."""
    out: set[str] = set()
    for m in build(sc, plan, target):
        doc = m.document
        notes = (doc.get("metadata") or {}).get("annotations") or {}
        text = notes.get("placer.dev/segments") or (doc.get("envs") or {}).get("PLACER_SEGMENTS")
        if text:
            out.add(text)
    return out


@pytest.mark.parametrize("target", TARGETS)
def test_every_export_carries_the_segments(target: str) -> None:
    sc, plan = _paused()
    ft = next(p for p in plan.placements if p.workload == "ft")
    want = ",".join(f"{s.start}/{s.end}@fra/L4" for s in ft.segments)
    assert want.startswith("2020-06-01T00:00:00+00:00/2020-06-01T01:00:00+00:00@fra/L4,")
    assert _carried(sc, plan, target) == {want}  # ft's, never steady's
    contiguous = placer.solve(sc, solver="greedy", time_limit_s=10)
    assert _carried(sc, contiguous, target) == set()


def test_a_moved_run_exports_each_segment_with_its_pool() -> None:
    sc, moved = migration.solved(migration.scenario([migration.run("ft", 4, 10.0)]))
    (text,) = _carried(sc, moved, "kubernetes")
    assert [part.split("@")[1] for part in text.split(",")] == ["fra/L4", "muc/L4"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"site": "nowhere"}, "segments.1: site 'nowhere' is not in the scenario"),
        ({"pool": "H100"}, "segments.1: site 'fra' has no pool 'H100'"),
        ({"start_period": 9}, "segments.1: periods 9 to 9 are not within the horizon's 4"),
    ],
)
def test_export_refuses_a_segment_the_scenario_lacks(tmp_path: Path, change, message) -> None:
    sc, plan = _paused()
    forged = plan.model_copy(deep=True)
    ft = next(p for p in forged.placements if p.workload == "ft")
    ft.segments[1] = ft.segments[1].model_copy(update=change)
    scenario_file = tmp_path / "sc.json"
    scenario_file.write_text(json.dumps(sc.model_dump(mode="json", exclude_none=True)))
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(forged.model_dump_json())
    out = tmp_path / "out.yaml"
    args = ["export", str(scenario_file), str(plan_file), "--to", "kueue", "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not out.exists()


def test_report_refuses_a_segment_at_a_site_the_scenario_lacks(tmp_path: Path) -> None:
    sc, plan = _paused()
    forged = plan.model_copy(deep=True)
    ft = next(p for p in forged.placements if p.workload == "ft")
    ft.segments[1] = ft.segments[1].model_copy(update={"site": "nowhere"})
    scenario_file = tmp_path / "sc.json"
    scenario_file.write_text(json.dumps(sc.model_dump(mode="json", exclude_none=True)))
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(forged.model_dump_json())
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", str(scenario_file), str(plan_file), "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "segments.1 names site 'nowhere'" in result.output and not out.exists()


# -- the N-1 screen (`scoring.site_failure_scores`) ----------------------------------------


def test_the_site_failure_screen_reads_a_paused_run() -> None:
    """A run paused at fra: losing muc keeps the plan as it is; losing fra loses the
    run (it raised "cannot be read back as options" before)."""
    from placer.plan.scoring import site_failure_scores

    cheap, dear = migration.CHEAP, migration.DEAR
    run = migration.run("ft", 2, None, preemptible=True, restore_overhead_h=0.0)
    sc, plan = migration.solved(migration.scenario([run], [cheap, dear, cheap, dear], [dear] * 4))
    (p,) = plan.placements
    assert p.segments is not None and {s.site for s in p.segments} == {"fra"}
    screen = site_failure_scores(sc, plan)
    assert screen["muc"].objective_usd_per_h == pytest.approx(plan.objective_usd_per_h, rel=1e-5)
    assert screen["muc"].cost_usd_per_h == pytest.approx(plan.totals.cost_usd_per_h, rel=1e-5)
    assert screen["muc"].feasible
    assert screen["fra"].cost_usd_per_h == pytest.approx(0.0, abs=1e-6)
    assert "masked" in screen["fra"].violations  # a must-place run lost


def test_the_site_failure_screen_loses_a_moved_run_with_either_site() -> None:
    from placer.plan.scoring import site_failure_scores

    sc, moved = migration.solved(migration.scenario([migration.run("ft", 4, 10.0)]))
    assert {s.site for s in moved.placements[0].segments} == {"fra", "muc"}
    screen = site_failure_scores(sc, moved)
    for site in ("fra", "muc"):
        assert screen[site].cost_usd_per_h == pytest.approx(0.0, abs=1e-6), site
        assert "masked" in screen[site].violations, site
