"""placer replan: moves from a running placement, priced and bounded (placer.analysis.replan)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from click.testing import CliRunner

from placer.analysis.replan import ReplanOptions, replan
from placer.analysis.replan_current import read_current
from placer.analysis.replan_moves import greedy_restore, moves_lower_bound
from placer.analysis.whatif_apply import build_variant
from placer.analysis.whatif_parse import parse_variant
from placer.api import solve
from placer.cli.main import cli
from placer.errors import OptionError
from placer.model.generate import generate_scenario
from placer.plan.scoring import assignment_of
from placer.plan.verify import verify
from placer.problem.compile import compile_problem
from placer.problem.usage import violations

CONFIG = "configs/us_carbon_vs_price.yaml"


def _fleet(units: int, pools: int, seed: int):
    """A generated scenario (as a document), its MILP plan, and an event: a 25% IT cut at
    the site that draws the most IT power in that plan, or, on a fleet too small for that,
    the busiest pool left with 3/4 of the GPUs it uses."""
    scenario = generate_scenario(units, pools, seed=seed)
    doc = scenario.model_dump(mode="json", exclude_none=True)
    plan = solve(scenario, solver="milp", time_limit_s=30)
    site = max(plan.sites, key=lambda s: s.it_kw)
    if site.it_kw > 50:
        return doc, plan, f"sites.{site.site}.power.it_capacity_kw={0.75 * site.it_kw:.6f}"
    used: dict[tuple[str, str], int] = {}
    for pl in plan.placements:
        used[(pl.site, pl.pool)] = used.get((pl.site, pl.pool), 0) + pl.gpus
    (site_id, pool), gpus = max(used.items(), key=lambda kv: kv[1])
    return doc, plan, f"sites.{site_id}.pools.{pool}.gpus={(3 * gpus) // 4}"


def _entries(plan, tmp_path):
    path = tmp_path / "current.json"
    path.write_text(plan.model_dump_json())
    return read_current(path)


def _tiny(seed: int):
    """A few workloads of the US config (drawn by seed), their MILP plan, and an event:
    the busiest pool left with 3/4 of the GPUs the plan uses there."""
    from placer.model.load import validate_model
    from placer.model.scenario import Scenario

    doc = _doc(CONFIG)
    rng = np.random.default_rng(seed)
    keep = sorted(rng.choice(len(doc["workloads"]), size=5, replace=False).tolist())
    doc["workloads"] = [doc["workloads"][i] for i in keep]
    plan = solve(validate_model(Scenario, doc, source="t"), solver="milp", time_limit_s=20)
    used: dict[tuple[str, str], int] = {}
    for pl in plan.placements:
        used[(pl.site, pl.pool)] = used.get((pl.site, pl.pool), 0) + pl.gpus
    (site, pool), gpus = max(used.items(), key=lambda kv: kv[1])
    return doc, plan, f"sites.{site}.pools.{pool}.gpus={(3 * gpus) // 4}"


def _brute_force_fewest(doc, plan, event) -> int | None:
    """The fewest moves of any feasible plan of the changed scenario: every set of m
    running units moved anywhere else (or shed), m = 0, 1, ..., the others kept, units
    not running placed anywhere or not."""
    after, _ = build_variant(doc, parse_variant(event), source="t", index=1)
    problem, index = compile_problem(after)
    current = assignment_of(plan, index)
    choices = [[-1, *problem.options_of(u)[0].tolist()] for u in range(problem.num_units)]
    running = np.flatnonzero(current >= 0).tolist()
    idle = [u for u in range(problem.num_units) if current[u] < 0]
    for m in range(len(running) + 1):
        for movers in itertools.combinations(running, m):
            lists = [[c for c in choices[u] if c != current[u]] for u in movers]
            for picks in itertools.product(*lists, *(choices[u] for u in idle)):
                a = current.copy()
                a[list(movers) + idle] = picks
                if not violations(problem, a):
                    return m
    return None


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_fewest_moves_equal_brute_force_on_tiny_fleets(seed, tmp_path):
    doc, plan, event = _tiny(seed)
    expected = _brute_force_fewest(doc, plan, event)
    assert expected is not None and expected > 0
    report = replan(
        doc, _entries(plan, tmp_path), source="t", events=parse_variant(event),
        options=ReplanOptions(time_limit_s=20, fewest_moves=True),
    )  # fmt: skip
    assert report.scope == "full"
    assert report.fewest_moves == expected
    assert report.moves == expected
    assert report.moves_lower_bound <= expected


@pytest.mark.parametrize("seed", [1, pytest.param(4, marks=pytest.mark.slow)])  # 4: 7 s
def test_moves_lower_bound_holds_and_greedy_restore_is_feasible(seed, tmp_path):
    doc, plan, event = _fleet(120, 12, seed)
    report = replan(
        doc, _entries(plan, tmp_path), source="t", events=parse_variant(event),
        options=ReplanOptions(time_limit_s=30),
    )  # fmt: skip
    assert report.moves_lower_bound <= report.fewest_moves <= report.moves or (
        report.moves >= report.moves_lower_bound
    )
    assert not report.current_feasible
    after, _ = build_variant(doc, parse_variant(event), source="t", index=1)
    assert verify(after, report.plan) == []
    problem, index = compile_problem(after)
    current = assignment_of(plan, index)
    repaired = greedy_restore(problem, current)
    if repaired is None:  # a heuristic: a must-place unit may fit nowhere on its own
        return
    assert violations(problem, repaired) == []
    moves = int(((current >= 0) & (repaired != current)).sum())
    assert moves >= moves_lower_bound(problem, current, np.zeros(problem.num_units, bool))


def test_budgets_are_kept_and_the_curve_never_rises(tmp_path):
    doc, plan, event = _fleet(60, 8, 2)
    entries = _entries(plan, tmp_path)
    free = replan(doc, entries, source="t", events=parse_variant(event),
                  options=ReplanOptions(time_limit_s=20, curve=True))  # fmt: skip
    limit = free.fewest_moves + 1
    capped = replan(doc, entries, source="t", events=parse_variant(event),
                    options=ReplanOptions(time_limit_s=20, max_moves=limit))  # fmt: skip
    assert capped.moves <= limit
    assert capped.objective_with_moves_usd_per_h >= free.objective_with_moves_usd_per_h - 1e-6
    gpus = replan(doc, entries, source="t", events=parse_variant(event),
                  options=ReplanOptions(time_limit_s=20, max_moved_gpus_pct=0.0))  # fmt: skip
    assert gpus.moves == gpus.fewest_moves  # no GPU may move beyond what restores it
    points = [p for p in free.curve if p.scope == "full"]
    assert len(points) == len(free.curve) == 6
    for a, b in itertools.pairwise(points):
        assert b.moves >= 0
        if b.max_moves is None or (a.max_moves is not None and b.max_moves >= a.max_moves):
            # a larger budget can only do better on objective + move penalties
            assert _with_moves(b, free) <= _with_moves(a, free) + 1e-6 * abs(_with_moves(a, free))


def _with_moves(point, report) -> float:
    return point.objective_usd_per_h + point.move_cost_usd / report.payback_h


def test_no_change_keeps_the_current_plan_with_zero_moves(tmp_path):
    plan = solve(_load(CONFIG), solver="milp", time_limit_s=20)
    doc = _doc(CONFIG)
    report = replan(doc, _entries(plan, tmp_path), source=CONFIG,
                    options=ReplanOptions(time_limit_s=20, max_moves=0))  # fmt: skip
    assert report.moves == 0 and report.current_feasible and report.move_list == []
    assert _placed(report.plan) == _placed(plan)
    # an optimal plan has no move worth a penny an hour
    report = replan(doc, _entries(plan, tmp_path), source=CONFIG,
                    options=ReplanOptions(time_limit_s=20, min_gain_usd_per_h=0.01))  # fmt: skip
    assert report.moves == 0 and _placed(report.plan) == _placed(plan)


def _placed(plan):
    return sorted((p.unit, p.site, p.pool) for p in plan.placements)


def _load(path):
    from placer.api import load

    return load(path)


def _doc(path):
    from placer.model.yaml_text import read_document

    return read_document(path)[0]


def test_a_lost_pool_forces_its_units_to_move(tmp_path):
    plan = solve(_load(CONFIG), solver="milp", time_limit_s=20)
    target = plan.placements[0]
    event = parse_variant(f"sites.{target.site}.pools.{target.pool}=down")
    report = replan(_doc(CONFIG), _entries(plan, tmp_path), source=CONFIG, events=event,
                    options=ReplanOptions(time_limit_s=20))  # fmt: skip
    moved = {m.unit: m for m in report.move_list}
    gone = [p.unit for p in plan.placements if (p.site, p.pool) == (target.site, target.pool)]
    for unit in gone:
        assert moved[unit].reason == "forced"
        assert (moved[unit].to_site, moved[unit].to_pool) != (target.site, target.pool)
    assert report.moves_lower_bound >= len(gone)


# ---- the current placement: forms and errors -------------------------------------------


def test_csv_and_list_forms_read_like_the_plan(tmp_path):
    plan = solve(_load(CONFIG), solver="milp", time_limit_s=20)
    rows = ["workload,region,copy,site,pool"]
    rows += [
        f"{p.workload},{p.region or ''},{p.copy_index},{p.site},{p.pool}" for p in plan.placements
    ]
    csv_path = tmp_path / "current.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    json_path = tmp_path / "current.json"
    json_path.write_text(json.dumps([
        {"workload": p.workload, "region": p.region, "copy": p.copy_index, "site": p.site,
         "pool": p.pool} if p.region else
        {"workload": p.workload, "site": p.site, "pool": p.pool}
        for p in plan.placements
    ]))  # fmt: skip
    for path in (csv_path, json_path):
        report = replan(_doc(CONFIG), read_current(path), source=CONFIG,
                        options=ReplanOptions(time_limit_s=20, max_moves=0))  # fmt: skip
        assert _placed(report.plan) == _placed(plan)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("workload,site,pool\nnope,dallas-hall,H100-SXM\n", "line 2: workload 'nope'"),
        ("workload,site,pool\nchat-us,nowhere,H100-SXM\n", "line 2: site 'nowhere'"),
        ("workload,site,pool\nchat-us,dallas-hall,TPU\n", "line 2: site 'dallas-hall' has no pool"),
        ("workload,site\nchat-us,dallas-hall\n", "missing ['pool']"),
        ("workload,site,pool,colour\n", "unknown columns ['colour']"),
        ("workload,site,pool,copy\nchat-us,dallas-hall,H100-SXM,x\n", "line 2: 'copy'"),
    ],
)
def test_a_bad_current_file_names_the_line(tmp_path, text, message):
    path = tmp_path / "current.csv"
    path.write_text(text)
    with pytest.raises(OptionError, match=message.replace("[", r"\[").replace("]", r"\]")):
        replan(_doc(CONFIG), read_current(path), source=CONFIG)


def test_a_current_placement_over_capacity_is_refused(tmp_path):
    plan = solve(_load(CONFIG), solver="milp", time_limit_s=20)
    # every unit in one pool: over its GPUs (or not allowed there)
    target = max(plan.placements, key=lambda p: p.gpus)
    entries = [
        {"workload": p.workload, "region": p.region, "copy": p.copy_index,
         "site": target.site, "pool": target.pool} if p.region else
        {"workload": p.workload, "site": target.site, "pool": target.pool}
        for p in plan.placements
    ]  # fmt: skip
    path = tmp_path / "current.json"
    path.write_text(json.dumps(entries))
    with pytest.raises(OptionError, match="current placement must be a valid plan"):
        replan(_doc(CONFIG), read_current(path), source=CONFIG)


# ---- the command -------------------------------------------------------------------------


def test_cli_prints_moves_and_writes_the_plan(tmp_path):
    plan = solve(_load(CONFIG), solver="milp", time_limit_s=20)
    target = plan.placements[0]
    current = tmp_path / "plan.json"
    current.write_text(plan.model_dump_json())
    out = tmp_path / "after.json"
    args = ["replan", CONFIG, "--current", str(current), "--time-limit-s", "20",
            "--event", f"sites.{target.site}.pools.{target.pool}=down", "-o", str(out)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "Moves" in result.output and "forced" in result.output
    assert json.loads(out.read_text())["solver"] == "replan"
    result = CliRunner().invoke(cli, [*args[:-2], "--format", "json", "--curve"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["kind"] == "ReplanReport" and len(report["curve"]) == 6


def test_cli_bad_input_exits_2_without_traceback(tmp_path):
    current = tmp_path / "c.csv"
    current.write_text("workload,site,pool\nghost,dallas-hall,H100-SXM\n")
    result = CliRunner().invoke(cli, ["replan", CONFIG, "--current", str(current)])
    assert result.exit_code == 2 and "ghost" in result.output
    assert "Traceback" not in result.output
    ok = tmp_path / "ok.csv"
    ok.write_text("workload,site,pool\n")
    result = CliRunner().invoke(
        cli, ["replan", CONFIG, "--current", str(ok), "--event", "sites.nowhere.power.pue=1.2"]
    )
    assert result.exit_code == 2 and "--event sites.nowhere" in result.output


def test_a_timed_scenario_needs_a_timed_plan_and_at(tmp_path):
    """A timed scenario is re-planned by the timed path (tests/test_replan_time.py): it
    refuses a CSV and needs --at; a static scenario refuses a timed plan."""
    day = "configs/time/small_day.yaml"
    empty = tmp_path / "empty.csv"
    empty.write_text("workload,site,pool\n")
    result = CliRunner().invoke(cli, ["replan", day, "--current", str(empty), "--at", "3"])
    assert result.exit_code == 2 and "a timed re-plan starts from a timed plan" in result.output
    assert "Traceback" not in result.output
    timed = tmp_path / "timed.json"
    timed.write_text(solve(_load(day), solver="greedy").model_dump_json())
    result = CliRunner().invoke(cli, ["replan", day, "--current", str(timed)])
    assert result.exit_code == 2 and "--at: a timed re-plan needs" in result.output
    result = CliRunner().invoke(cli, ["replan", CONFIG, "--current", str(timed)])
    assert result.exit_code == 2 and "a timed plan" in result.output
    assert "--at" in result.output and "Traceback" not in result.output
    with pytest.raises(OptionError, match="replan_timed"):
        replan(_load(day).model_dump(mode="json"), [])


def test_export_changed_from_keeps_only_what_moved(tmp_path):
    from placer.cli.export_cmd import _changed_only
    from placer.cli.io import load_plan

    plan = solve(_load(CONFIG), solver="milp", time_limit_s=20)
    current = tmp_path / "plan.json"
    current.write_text(plan.model_dump_json())
    target = plan.placements[0]
    after = tmp_path / "after.json"
    event = f"sites.{target.site}.pools.{target.pool}=down"
    args = ["replan", CONFIG, "--current", str(current), "--event", event, "-o", str(after)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    new = load_plan(after)
    changed, stopped = _changed_only(new, plan)
    moved = {p.workload for p in plan.placements if (p.site, p.pool) == (target.site, target.pool)}
    exported = {p.workload for p in changed.placements}
    assert moved <= exported and stopped == []
    same = {p.workload for p in plan.placements} - exported
    assert same, "most workloads stay where they run"
    for w in same:
        assert {(p.unit, p.site, p.pool) for p in plan.placements if p.workload == w} == {
            (p.unit, p.site, p.pool) for p in new.placements if p.workload == w
        }
    export = ["export", CONFIG, str(after), "--to", "karmada", "--changed-from", str(current)]
    result = CliRunner().invoke(cli, export)
    assert result.exit_code == 0 and "Only the workloads placed differently" in result.output
    refused = CliRunner().invoke(cli, [*export[:4], "kueue", *export[5:]])
    assert refused.exit_code == 2 and "whole plan" in refused.output
