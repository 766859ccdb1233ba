"""`placer diff`: units matched across plans, moves, KPI and site deltas (placer.analysis.diff),
and the command end to end."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from placer import api
from placer.analysis.diff import diff_plans, match_units
from placer.cli.main import cli
from placer.outputs.text_report import to_json
from placer.plan.plan import Placement, Plan, Totals, Unplaced

EXIT_OK, EXIT_DIFFERENT, EXIT_BAD_INPUT = 0, 1, 2


def run(*args: str, input: str | None = None) -> Result:
    """Runs `placer diff ARGS` through the `placer` group, as a user would."""
    return CliRunner().invoke(cli, ["diff", *args], input=input, catch_exceptions=False)


def _placement(
    unit: str, site: str, pool: str, gpus: int = 8, *, copy: int = 0, kw: float = 10.0
) -> Placement:
    workload, _, rest = unit.partition("/")
    region = rest.split("#")[0] or None
    return Placement(
        unit=unit,
        workload=workload,
        kind="inference" if region else "training",
        region=region,
        copy_index=copy,
        site=site,
        pool=pool,
        accelerator=pool,
        gpus=gpus,
        it_kw=kw,
        facility_kw=kw * 1.2,
        cost_usd_per_h=gpus * 2.0,
        carbon_kg_per_h=kw * 0.3,
        water_l_per_h=kw,
    )


def _plan(placements: list[Placement], unplaced: list[Unplaced] | None = None, **kw: Any) -> Plan:
    unplaced = unplaced or []
    cost = sum(p.cost_usd_per_h for p in placements)
    lost = sum(u.value_usd_per_h for u in unplaced)
    return Plan(
        status="optimal",
        solver="milp",
        scenario="test",
        objective_usd_per_h=cost + lost,
        placements=placements,
        unplaced=unplaced,
        totals=Totals(
            cost_usd_per_h=cost,
            carbon_kg_per_h=sum(p.carbon_kg_per_h for p in placements),
            water_l_per_h=sum(p.water_l_per_h for p in placements),
            unplaced_value_usd_per_h=lost,
            objective_usd_per_h=cost + lost,
            gpus=sum(p.gpus for p in placements),
            placed_units=len(placements),
            unplaced_units=len(unplaced),
        ),
        **kw,
    )


def _unplaced(unit: str, reason: str = "not worth its cost", copy: int = 0) -> Unplaced:
    workload, _, rest = unit.partition("/")
    return Unplaced(
        unit=unit,
        workload=workload,
        region=rest.split("#")[0] or None,
        copy_index=copy,
        must_place=False,
        value_usd_per_h=5.0,
        reason=reason,
    )


@pytest.fixture
def before() -> Plan:
    return _plan(
        [
            _placement("train", "fra", "H100"),
            _placement("chat/eu#0", "osl", "L4", 2, copy=0, kw=1.0),
            _placement("chat/eu#1", "ams", "L4", 2, copy=1, kw=1.0),
            _placement("embed", "fra", "H100", 4, kw=5.0),
        ]
    )


# ---- placer.analysis.diff ------------------------------------------------------------------------


def test_a_plan_against_itself_is_identical(before: Plan) -> None:
    d = diff_plans(before, before)
    assert d.identical
    assert d.moved == d.resized == d.newly_placed == d.newly_unplaced == []
    assert all(k.delta == 0 for k in d.kpis)
    assert all(k.relative == 0 for k in d.kpis if k.a)
    assert all(s.delta_gpus == 0 and s.delta_it_kw == 0 for s in d.sites)
    assert d.changed_units == 0


def test_a_move_is_detected(before: Plan) -> None:
    after = _plan(
        [
            _placement("train", "par", "A100", 16),
            *before.placements[1:],
        ]
    )
    d = diff_plans(before, after, label_a="a.json", label_b="b.json")
    assert not d.identical
    assert [(m.unit, m.from_site, m.from_pool, m.to_site, m.to_pool) for m in d.moved] == [
        ("train", "fra", "H100", "par", "A100")
    ]
    assert (d.moved[0].gpus_from, d.moved[0].gpus_to) == (8, 16)
    assert (d.a.label, d.b.label) == ("a.json", "b.json")
    sites = {s.site: s for s in d.sites}
    assert (sites["fra"].gpus_a, sites["fra"].gpus_b, sites["fra"].delta_gpus) == (12, 4, -8)
    assert (sites["par"].gpus_a, sites["par"].gpus_b, sites["par"].delta_it_kw) == (0, 16, 10.0)
    kpis = {k.name: k for k in d.kpis}
    assert kpis["gpus"].delta == 8
    assert kpis["cost_usd_per_h"].delta == pytest.approx(16.0)  # 8 more GPUs x 2 USD/h
    assert kpis["cost_usd_per_h"].relative == pytest.approx(16.0 / 32.0)
    assert kpis["placed_units"].delta == 0


def test_copies_that_swap_sites_are_not_moves(before: Plan) -> None:
    swapped = _plan(
        [
            before.placements[0],
            _placement("chat/eu#0", "ams", "L4", 2, copy=0, kw=1.0),
            _placement("chat/eu#1", "osl", "L4", 2, copy=1, kw=1.0),
            before.placements[3],
        ]
    )
    assert diff_plans(before, swapped).identical
    # one copy really moves: reported once, from where it was to where it went
    moved = _plan(
        [
            before.placements[0],
            _placement("chat/eu#0", "ams", "L4", 2, copy=0, kw=1.0),
            _placement("chat/eu#1", "sto", "L4", 2, copy=1, kw=1.0),
            before.placements[3],
        ]
    )
    d = diff_plans(before, moved)
    assert [(m.from_site, m.to_site) for m in d.moved] == [("osl", "sto")]


def test_match_units_pairs_leftover_copies_in_copy_order() -> None:
    a = [_placement("s/r#0", "x", "L4", copy=0), _placement("s/r#1", "y", "L4", copy=1)]
    b = [_placement("s/r#0", "z", "L4", copy=0), _placement("s/r#1", "x", "L4", copy=1)]
    pairs, only_b = match_units(a, b)
    assert pairs[id(a[0])] is b[1]  # same site first
    assert pairs[id(a[1])] is b[0]
    assert only_b == []


def test_resized_newly_placed_and_newly_unplaced(before: Plan) -> None:
    after = _plan(
        [
            _placement("train", "fra", "H100", 16),  # same pool, more GPUs
            *before.placements[1:3],
            _placement("eval", "osl", "L4", 1),
        ],
        unplaced=[_unplaced("embed", "GPUs of the pool or site used up")],
    )
    d = diff_plans(before, after)
    assert [(m.unit, m.gpus_from, m.gpus_to) for m in d.resized] == [("train", 8, 16)]
    assert d.moved == []
    assert [(u.unit, u.site, u.gpus) for u in d.newly_placed] == [("eval", "osl", 1)]
    assert [(u.unit, u.site, u.reason) for u in d.newly_unplaced] == [
        ("embed", "fra", "GPUs of the pool or site used up")
    ]
    kpis = {k.name: k for k in d.kpis}
    assert kpis["unplaced_units"].delta == 1
    assert kpis["unplaced_value_usd_per_h"].delta == pytest.approx(5.0)
    assert d.changed_units == 3


def test_a_plan_with_no_solution_has_no_kpis(before: Plan) -> None:
    none = Plan(status="infeasible", solver="milp")
    d = diff_plans(before, none)
    assert {k.name: k.b for k in d.kpis}["cost_usd_per_h"] is None
    assert all(k.delta is None and k.relative is None for k in d.kpis)
    assert len(d.newly_unplaced) == len(before.placements)
    assert d.newly_unplaced[0].reason == "not a unit of plan B"
    assert not d.identical


# ---- the command -------------------------------------------------------------------------


@pytest.fixture
def plan_files(before: Plan, tmp_path: Path) -> tuple[Path, Path]:
    after = _plan([_placement("train", "par", "A100"), *before.placements[1:]])
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(to_json(before))
    b.write_text(to_json(after))
    return a, b


def test_help_has_an_example() -> None:
    result = run("--help")
    assert result.exit_code == EXIT_OK
    assert "Example:" in result.stdout


def test_same_plan_prints_no_differences(plan_files: tuple[Path, Path]) -> None:
    a, _ = plan_files
    result = run(str(a), str(a), "--exit-code")
    assert result.exit_code == EXIT_OK, result.output
    assert "no differences" in result.stdout


def test_table(plan_files: tuple[Path, Path]) -> None:
    a, b = plan_files
    result = run(str(a), str(b))
    assert result.exit_code == EXIT_OK, result.output
    assert "1 moved, 0 resized, 0 newly placed, 0 newly unplaced" in result.stdout
    for section in ("KPIs", "Moved", "Sites (changed only)"):
        assert section in result.stdout
    assert "fra/H100" in result.stdout and "par/A100" in result.stdout
    assert run(str(a), str(b), "--exit-code").exit_code == EXIT_DIFFERENT


def test_json(plan_files: tuple[Path, Path]) -> None:
    a, b = plan_files
    result = run(str(a), str(b), "--format", "json")
    assert result.exit_code == EXIT_OK, result.output
    doc = json.loads(result.stdout)
    assert (doc["apiVersion"], doc["kind"], doc["identical"]) == ("placer/v1", "PlanDiff", False)
    assert doc["moved"][0]["to_site"] == "par"
    assert {k["name"] for k in doc["kpis"]} >= {
        "objective_usd_per_h",
        "cost_usd_per_h",
        "carbon_kg_per_h",
        "water_l_per_h",
        "gpus",
        "placed_units",
    }


def test_stdin(plan_files: tuple[Path, Path]) -> None:
    a, b = plan_files
    result = run("-", str(b), input=a.read_text())
    assert result.exit_code == EXIT_OK, result.output
    assert "A: <stdin>" in result.stdout


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "cannot read"),
        ("{not json", "not valid"),
        ('{"apiVersion": "placer/v1", "kind": "Scenario"}', "a Scenario document, not a Plan"),
        ('{"apiVersion": "placer/v1", "kind": "Plan"}', "required field is missing"),
    ],
)
def test_bad_plan_files_exit_2(
    plan_files: tuple[Path, Path], tmp_path: Path, content: str | None, words: str
) -> None:
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    result = run(str(bad), str(plan_files[0]))
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert words in result.output
    assert "Traceback" not in result.output


def test_real_plans_end_to_end(
    minimal_scenario_dict: dict[str, Any], write_yaml: Callable[..., Path], tmp_path: Path
) -> None:
    scenario = api.load(write_yaml(minimal_scenario_dict))
    plan = api.solve(scenario, solver="milp", time_limit_s=20)
    assert plan.status == "optimal"
    minimal_scenario_dict["sites"][1]["pools"][0]["cost_usd_per_gpu_h"] = 0.1
    cheaper = api.solve(api.load(write_yaml(minimal_scenario_dict, "b.yaml")), solver="milp")
    a, b = tmp_path / "plan-a.json", tmp_path / "plan-b.json"
    a.write_text(to_json(plan))
    b.write_text(to_json(cheaper))
    doc = json.loads(run(str(a), str(b), "--format", "json").stdout)
    kpis = {k["name"]: k for k in doc["kpis"]}
    assert kpis["cost_usd_per_h"]["delta"] < 0
    assert kpis["objective_usd_per_h"]["b"] == pytest.approx(cheaper.objective_usd_per_h)
    assert doc["moved"] == []  # same placement, cheaper GPUs
