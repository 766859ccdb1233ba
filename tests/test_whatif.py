"""`placer whatif`: change syntax, path resolution by id, variants solved against a
baseline (placer.analysis.whatif), and the command end to end on every bundled config."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from placer.analysis.whatif import (
    apply_variant,
    build_variant,
    fail_site_variant,
    parse_change,
    parse_variant,
    run_whatif,
)
from placer.cli.io import load_plan
from placer.cli.main import cli
from placer.cli.whatif_cmd import diff_command, whatif_command
from placer.errors import OptionError, ScenarioError
from placer.model.yaml_text import read_document
from placer.plan.verify import verify

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))
EXIT_OK, EXIT_BAD_INPUT = 0, 2
FAST = ("--solver", "milp", "--time-limit-s", "20")


def run(*args: str) -> Result:
    """Runs `placer ARGS` through the `placer` group, as a user would."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def assert_clean(result: Result) -> None:
    assert "Traceback" not in result.output
    assert "internal error" not in result.output


@pytest.fixture
def fleet(minimal_scenario_dict: dict[str, Any]) -> dict[str, Any]:
    """The minimal scenario plus a cloud site that can take the on-prem site's work."""
    doc = minimal_scenario_dict
    doc["sites"].append(
        {
            "id": "cloud-ams",
            "tier": "cloud",
            "location": {"lat": 52.37, "lon": 4.90, "country": "NL"},
            "power": {"pue": 1.1, "carbon_g_per_kwh": 300},
            "pools": [
                {"accelerator": "H100-SXM", "gpus": 64, "cost_usd_per_gpu_h": 3.0},
                {"id": "l4-spot", "accelerator": "L4", "gpus": 32, "cost_usd_per_gpu_h": 0.9},
            ],
        }
    )
    return doc


@pytest.fixture
def fleet_file(fleet: dict[str, Any], write_yaml: Callable[..., Path]) -> Path:
    return write_yaml(fleet, "fleet.yaml")


def _apply(doc: dict[str, Any], text: str) -> tuple[dict[str, Any], Any]:
    changed, applied = apply_variant(doc, parse_variant(text))
    return changed, applied[-1]


# ---- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "op", "operand"),
    [
        ("a.b=2000", "set", 2000),
        ("a.b=0.5", "set", 0.5),
        ("a.b=true", "set", True),
        ("a.b=null", "set", None),
        ("a.b=NO", "set", "NO"),  # YAML 1.2: a string, not false
        ("a.b=[DE, FR]", "set", ["DE", "FR"]),
        ("a.b=+2000", "add", 2000),
        ("a.b=-2.5", "add", -2.5),
        ("a.b=*1.5", "mul", 1.5),
        ("a.b=+10%", "mul", 1.1),
        ("a.b=-25%", "mul", 0.75),
        ("a.b==-5", "set", -5),
        ("a.b=down", "down", None),
        (" a.b = +3 ", "add", 3),
    ],
)
def test_parse_change(text: str, op: str, operand: Any) -> None:
    change = parse_change(text)
    assert change.path == ("a", "b")
    assert change.op == op
    if isinstance(operand, float):
        assert change.operand == pytest.approx(operand)
    else:
        assert change.operand == operand


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("sites.x.gpus", "expected PATH=VALUE"),
        ("=5", "path before '=' is empty"),
        ("sites..x=5", "empty part"),
        ("sites.x=", "no value after '='"),
        ("sites.x=+abc", "not a change of a number"),
        ("sites.x=*", "not a change of a number"),
        ("sites.x=[1", "not valid YAML"),
        ("sites.x=1e400", "'1e400' holds a number that is not finite"),
        ("sites.x=.nan", "'.nan' holds a number that is not finite"),
        ("sites.x=[1, .inf]", "holds a number that is not finite"),
    ],
)
def test_malformed_changes_are_option_errors(text: str, words: str) -> None:
    with pytest.raises(OptionError, match=r"--set ") as info:
        parse_change(text)
    assert words in str(info.value)
    assert info.value.exit_code == EXIT_BAD_INPUT


def test_semicolons_make_one_variant() -> None:
    variant = parse_variant("a.b=+1; c.d=*2 ;")
    assert [c.text for c in variant.changes] == ["a.b=+1", "c.d=*2"]
    assert variant.label == "a.b=+1; c.d=*2"
    with pytest.raises(OptionError, match="no change"):
        parse_variant(" ; ")


# ---- path resolution and operators -------------------------------------------------------


def test_site_power_by_id(fleet: dict[str, Any]) -> None:
    changed, c = _apply(fleet, "sites.onprem-fra.power.it_capacity_kw=+2000")
    assert changed["sites"][0]["power"]["it_capacity_kw"] == 2500
    assert (c.path, c.op, c.before, c.after) == (
        "sites.onprem-fra.power.it_capacity_kw",
        "add",
        500,
        2500,
    )
    assert fleet["sites"][0]["power"]["it_capacity_kw"] == 500  # the input is left alone


def test_pool_by_accelerator_and_by_pool_id(fleet: dict[str, Any]) -> None:
    changed, c = _apply(fleet, "sites.cloud-ams.pools.H100-SXM.gpus=*1.5")
    assert changed["sites"][2]["pools"][0]["gpus"] == 96
    assert c.path == "sites.cloud-ams.pools.H100-SXM.gpus"
    changed, c = _apply(fleet, "sites.cloud-ams.pools.l4-spot.gpus=-8")
    assert changed["sites"][2]["pools"][1]["gpus"] == 24


def test_positions_are_a_fallback_and_resolve_to_ids(fleet: dict[str, Any]) -> None:
    changed, c = _apply(fleet, "sites.2.pools.1.cost_usd_per_gpu_h=0.5")
    assert changed["sites"][2]["pools"][1]["cost_usd_per_gpu_h"] == 0.5
    assert c.path == "sites.cloud-ams.pools.l4-spot.cost_usd_per_gpu_h"


def test_ids_with_dots(fleet: dict[str, Any]) -> None:
    fleet["sites"][1]["id"] = "cloud.osl.1"
    changed, c = _apply(fleet, "sites.cloud.osl.1.pools.L4.gpus=+8")
    assert changed["sites"][1]["pools"][0]["gpus"] == 40
    assert c.path == "sites.cloud.osl.1.pools.L4.gpus"


def test_workload_map_keys_and_new_keys(fleet: dict[str, Any]) -> None:
    changed, c = _apply(fleet, "workloads.chat.demand_rps.eu-central=+10%")
    assert changed["workloads"][1]["demand_rps"]["eu-central"] == pytest.approx(55)
    changed, c = _apply(fleet, "workloads.chat.serving.L4.rps_per_replica=*2")
    assert changed["workloads"][1]["serving"]["L4"]["rps_per_replica"] == 20
    changed, c = _apply(fleet, "workloads.chat.serving.H100-SXM={rps_per_replica: 80}")
    assert changed["workloads"][1]["serving"]["H100-SXM"] == {"rps_per_replica": 80}
    assert c.before is None


def test_absent_fields_use_the_default_or_are_created(fleet: dict[str, Any]) -> None:
    changed, c = _apply(fleet, "objective.carbon_price_usd_per_t=+50")  # no objective: key
    assert changed["objective"] == {"carbon_price_usd_per_t": 50.0}
    assert c.before == 0.0
    changed, c = _apply(fleet, "sites.cloud-osl.cooling.wue_l_per_kwh=0.4")  # no cooling: key
    assert changed["sites"][1]["cooling"] == {"wue_l_per_kwh": 0.4}
    changed, c = _apply(fleet, "sites.onprem-fra.power.grid_cap_kw=600")
    assert changed["sites"][0]["power"]["grid_cap_kw"] == 600


def test_integer_fields_stay_integers(fleet: dict[str, Any]) -> None:
    changed, _ = _apply(fleet, "sites.onprem-fra.pools.H100-SXM.gpus=+10%")
    assert changed["sites"][0]["pools"][0]["gpus"] == 70
    assert isinstance(changed["sites"][0]["pools"][0]["gpus"], int)
    changed, _ = _apply(fleet, "workloads.train-llm.gpus=*1.4")
    assert changed["workloads"][0]["gpus"] == 45  # 44.8 rounded


def test_float_noise_is_trimmed(fleet: dict[str, Any]) -> None:
    changed, _ = _apply(fleet, "sites.onprem-fra.power.price_usd_per_kwh=+10%")
    assert changed["sites"][0]["power"]["price_usd_per_kwh"] == 0.22


def test_changes_of_one_variant_apply_in_order(fleet: dict[str, Any]) -> None:
    changed, applied = apply_variant(
        fleet, parse_variant("workloads.train-llm.gpus=+8;workloads.train-llm.gpus=*2")
    )
    assert changed["workloads"][0]["gpus"] == 80
    assert [a.after for a in applied] == [40, 80]


def test_site_down_zeroes_its_pools(fleet: dict[str, Any]) -> None:
    changed, c = _apply(fleet, "sites.cloud-ams=down")
    assert [p["gpus"] for p in changed["sites"][2]["pools"]] == [0, 0]
    assert (c.op, c.before, c.after) == ("down", 96, 0)
    changed, c = apply_variant(fleet, fail_site_variant("onprem-fra"))
    assert changed["sites"][0]["pools"][0]["gpus"] == 0
    changed, c = _apply(fleet, "sites.cloud-ams.pools.l4-spot=down")
    assert [p["gpus"] for p in changed["sites"][2]["pools"]] == [64, 0]
    changed, c = _apply(fleet, "metadata.name=down")  # not a site or pool: the string
    assert changed["metadata"]["name"] == "down"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "sites.onprem-fr.power.it_capacity_kw=+1",
            ["sites has no id 'onprem-fr'", "did you mean 'onprem-fra'?", "cloud-ams"],
        ),
        ("sites.7.power.pue=1.2", ["sites has no id or position '7'", "position 0-2"]),
        (
            "sites.onprem-fra.power.it_capacity=+1",
            ["has no field 'it_capacity'", "did you mean 'it_capacity_kw'?", "pue"],
        ),
        ("sites.onprem-fra.pools.B200.gpus=+1", ["pools has no id 'B200'", "H100-SXM"]),
        ("workloads.chat.demand_rps.asia.x=1", ["has no key 'asia'", "eu-central"]),
        ("objective.carbon_prize_usd_per_t=1", ["did you mean 'carbon_price_usd_per_t'?"]),
        ("sites.onprem-fra.pools.H100-SXM.gpus.x=1", ["is the number 64", "no part 'x'"]),
        ("workloads.chat.kind=+1", ["the string 'inference'", "numbers only"]),
        ("workloads.train-llm.deadline_hours=*2", ["null (not set)", "numbers only"]),
        ("workloads.chat.must_place=+1", ["the boolean true", "numbers only"]),
        ("workloads.train-llm.accelerators.0=L4", ["not set in the scenario"]),
    ],
)
def test_bad_paths_and_values_name_the_set_and_the_choices(
    fleet: dict[str, Any], text: str, words: list[str]
) -> None:
    with pytest.raises(OptionError) as info:
        apply_variant(fleet, parse_variant(text))
    message = str(info.value)
    assert message.startswith(f"--set {text}: ")
    for word in words:
        assert word in message
    assert info.value.exit_code == EXIT_BAD_INPUT


def test_fail_site_of_an_unknown_site_names_the_option(fleet: dict[str, Any]) -> None:
    with pytest.raises(OptionError, match=r"^--fail-site nowhere: sites has no id 'nowhere'"):
        apply_variant(fleet, fail_site_variant("nowhere"))


def test_an_invalid_variant_is_validated_like_a_file(fleet: dict[str, Any]) -> None:
    with pytest.raises(ScenarioError) as info:
        build_variant(
            fleet, parse_variant("sites.cloud-ams.pools.l4-spot.gpus=-100"), source="f", index=3
        )
    message = str(info.value)
    assert message.startswith("f with variant 3 (sites.cloud-ams.pools.l4-spot.gpus=-100)")
    assert "sites.cloud-ams.pools.l4-spot.gpus:" in message  # ids, not positions
    assert info.value.exit_code == EXIT_BAD_INPUT


def test_dataset_set_whole_is_validated(fleet: dict[str, Any]) -> None:
    scenario, _ = build_variant(
        fleet,
        parse_variant("workloads.train-llm.dataset={site: cloud-osl, size_gb: 500}"),
        source="f",
        index=1,
    )
    assert scenario.workloads[0].dataset.size_gb == 500
    with pytest.raises(ScenarioError, match="unknown id 'nowhere'"):
        build_variant(
            fleet,
            parse_variant("workloads.train-llm.dataset={site: nowhere, size_gb: 1}"),
            source="f",
            index=1,
        )


# ---- solving -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "more",
    [
        "sites.onprem-fra.power.it_capacity_kw=+1000",
        "sites.onprem-fra.pools.H100-SXM.gpus=+64",
        "sites.cloud-osl.pools.L4.gpus=*2",
        "sites.cloud-ams.pools.l4-spot.gpus=+32;sites.cloud-ams.pools.H100-SXM.gpus=+64",
    ],
)
def test_more_capacity_never_worsens_the_optimum(fleet: dict[str, Any], more: str) -> None:
    result = run_whatif(fleet, [parse_variant(more)], solver="milp", time_limit_s=20).report
    base, variant = result.baseline, result.variants[0]
    assert base.status == variant.kpis.status == "optimal"
    tolerance = 2e-4 * abs(base.objective_usd_per_h) + 1e-6  # both within the 1e-4 gap
    assert variant.kpis.objective_usd_per_h <= base.objective_usd_per_h + tolerance
    assert variant.baseline_plan_valid is True  # more capacity keeps the old plan valid
    assert variant.delta.objective_usd_per_h <= tolerance


def test_failing_a_site_moves_its_work_away(fleet: dict[str, Any]) -> None:
    run_ = run_whatif(fleet, [], solver="milp", time_limit_s=20)
    used = {p.site for p in run_.baseline_plan.placements}
    site = "onprem-fra" if "onprem-fra" in used else sorted(used)[0]
    run_ = run_whatif(fleet, [fail_site_variant(site)], solver="milp", time_limit_s=20)
    base_plan, plan = run_.baseline_plan, run_.plans[0]
    result = run_.report.variants[0]
    there = [p.unit for p in base_plan.placements if p.site == site]
    assert there, "the baseline must use the failed site for this test to mean anything"
    assert result.kpis.status == "optimal"
    assert not [p for p in plan.placements if p.site == site]
    scenario, _ = build_variant(fleet, fail_site_variant(site), source="f", index=1)
    assert verify(scenario, plan) == []
    assert result.baseline_plan_valid is False
    assert any(site in v for v in result.baseline_plan_violations)
    gone = {m.unit for m in result.moved} | {u.unit for u in result.newly_unplaced}
    assert set(there) <= gone
    assert all(m.from_site == site for m in result.moved if m.unit in there)


def test_an_infeasible_variant_is_a_result(fleet: dict[str, Any]) -> None:
    # Without H100s anywhere, the must-place training gang has no pool.
    variant = parse_variant("sites.onprem-fra.pools.H100-SXM=down;sites.cloud-ams=down")
    report = run_whatif(fleet, [variant], solver="milp", time_limit_s=20).report
    v = report.variants[0]
    assert report.baseline.status == "optimal"
    assert v.kpis.status == "infeasible"
    assert v.kpis.objective_usd_per_h is None
    assert v.delta.objective_usd_per_h is None
    assert "train-llm" in v.no_plan_reason
    assert v.units_moved is None


def test_each_variant_is_solved_against_the_same_baseline(fleet: dict[str, Any]) -> None:
    calls: list[tuple[str, bool]] = []

    def fake_solve(scenario, hint=None, **options):
        from placer.api import solve

        calls.append((scenario.sites[0].power.it_capacity_kw, hint is not None))
        return solve(scenario, hint=hint, **options)

    variants = [parse_variant(f"sites.onprem-fra.power.it_capacity_kw={kw}") for kw in (600, 700)]
    report = run_whatif(fleet, variants, solver="milp", time_limit_s=20, solve=fake_solve).report
    assert calls == [(500, False), (600, True), (700, True)]
    assert [c.before for v in report.variants for c in v.changes] == [500, 500]


def test_a_bad_variant_fails_before_any_solve(fleet: dict[str, Any]) -> None:
    def no_solve(*args, **kwargs):
        raise AssertionError("solved before every variant was checked")

    variants = [parse_variant("objective.carbon_price_usd_per_t=10"), parse_variant("x.y=1")]
    with pytest.raises(OptionError, match="the scenario has no field 'x'"):
        run_whatif(fleet, variants, solve=no_solve)


# ---- the command -------------------------------------------------------------------------


def test_commands_are_registered() -> None:
    assert cli.commands.get("whatif") is whatif_command
    assert cli.commands.get("diff") is diff_command


def test_help_has_an_example() -> None:
    result = run("whatif", "--help")
    assert result.exit_code == EXIT_OK
    assert "Example:" in result.stdout
    assert "--set PATH=VALUE" in result.stdout


def test_table(fleet_file: Path) -> None:
    result = run(
        "whatif",
        str(fleet_file),
        "--set",
        "sites.onprem-fra.power.it_capacity_kw=+1000",
        "--fail-site",
        "cloud-ams",
        *FAST,
    )
    assert result.exit_code == EXIT_OK, result.output
    assert result.stdout.startswith("placer whatif — minimal: baseline OPTIMAL, 2 variant(s)")
    lines = result.stdout.splitlines()
    assert any(line.startswith("1  sites.onprem-fra.power.it_capacity_kw=+1000") for line in lines)
    assert any(line.startswith("2  sites.cloud-ams=down") for line in lines)
    assert "sites.onprem-fra.power.it_capacity_kw: 500 -> 1500" in result.stdout
    assert "sites.cloud-ams: down (96 GPUs -> 0)" in result.stdout
    assert_clean(result)


def test_json_and_output_dir(fleet_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "variants"
    result = run(
        "whatif",
        str(fleet_file),
        "--set",
        "workloads.chat.demand_rps.eu-central=*2",
        "--set",
        "objective.carbon_price_usd_per_t=100;sites.cloud-osl.pools.L4.gpus=+8",
        "--format",
        "json",
        "-o",
        str(out),
        *FAST,
    )
    assert result.exit_code == EXIT_OK, result.output
    doc = json.loads(result.stdout)
    assert (doc["apiVersion"], doc["kind"]) == ("placer/v1", "WhatIf")
    assert doc["baseline"]["status"] == "optimal"
    assert doc["baseline_plan_file"] == str(out / "baseline.json")
    assert [v["label"] for v in doc["variants"]] == [
        "workloads.chat.demand_rps.eu-central=*2",
        "objective.carbon_price_usd_per_t=100; sites.cloud-osl.pools.L4.gpus=+8",
    ]
    second = doc["variants"][1]
    assert [c["path"] for c in second["changes"]] == [
        "objective.carbon_price_usd_per_t",
        "sites.cloud-osl.pools.L4.gpus",
    ]
    for key in ("kpis", "delta", "baseline_plan_valid", "units_moved", "moved", "resized"):
        assert key in second
    first = doc["variants"][0]
    assert first["kpis"]["gpus"] > doc["baseline"]["gpus"]  # twice the demand: more replicas
    assert first["delta"]["gpus"] == first["kpis"]["gpus"] - doc["baseline"]["gpus"]
    assert sorted(p.name for p in out.iterdir()) == [
        "baseline.json",
        "variant-1.json",
        "variant-2.json",
        "whatif.json",
    ]
    assert json.loads((out / "whatif.json").read_text()) == doc
    plan = load_plan(out / "variant-1.json")
    assert plan.status == "optimal"
    assert "[workloads.chat.demand_rps.eu-central=*2]" in plan.scenario
    diff = run("diff", str(out / "baseline.json"), str(out / "variant-1.json"), "--format", "json")
    assert diff.exit_code == EXIT_OK, diff.output
    assert json.loads(diff.stdout)["identical"] is False


def test_infeasible_variant_exits_0(fleet_file: Path) -> None:
    result = run(
        "whatif",
        str(fleet_file),
        "--set",
        "sites.onprem-fra=down;sites.cloud-ams=down",
        *FAST,
    )
    assert result.exit_code == EXIT_OK, result.output
    assert "infeasible" in result.stdout
    assert "no plan:" in result.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--set", "sites.nowhere.power.pue=1.2"], "--set sites.nowhere.power.pue=1.2: sites"),
        (["--set", "workloads.chat.kind=*2"], "numbers only"),
        (["--set", "sites.onprem-fra.power.pue=9"], "with variant 1"),
        (["--fail-site", "nowhere"], "--fail-site nowhere:"),
        ([], "no variant given"),
        (["--set", "objective.mode=x", "--solver", "simplex"], "unknown solver"),
    ],
)
def test_bad_options_exit_2(fleet_file: Path, args: list[str], words: str) -> None:
    result = run("whatif", str(fleet_file), *args)
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert words in result.output
    assert_clean(result)


def test_a_bad_scenario_file_exits_2(write_yaml: Callable[..., Path]) -> None:
    result = run("whatif", str(write_yaml("sites: [", "bad.yaml")), "--fail-site", "x")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "not valid YAML" in result.output
    assert_clean(result)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_config(path: Path) -> None:
    doc, _ = read_document(path)
    first, last = doc["sites"][0]["id"], doc["sites"][-1]["id"]
    # a pool with node shapes grows by a shape's count (its GPUs are their sum)
    grow = "nodes.0.count=+1" if "nodes" in doc["sites"][0]["pools"][0] else "gpus=+8"
    result = run(
        "whatif",
        str(path),
        "--set",
        f"sites.{first}.pools.0.{grow}",  # by id, then by position
        "--set",
        "objective.carbon_price_usd_per_t=*2;objective.water_price_usd_per_m3=+1",
        "--fail-site",
        last,
        "--format",
        "json",
        *FAST,
    )
    assert result.exit_code == EXIT_OK, result.output
    report = json.loads(result.stdout)
    assert report["baseline"]["status"] == "optimal"
    assert len(report["variants"]) == 3
    more_gpus = report["variants"][0]
    assert more_gpus["kpis"]["status"] == "optimal"
    assert more_gpus["baseline_plan_valid"] is True
    tolerance = 2e-4 * report["baseline"]["objective_usd_per_h"]
    assert more_gpus["delta"]["objective_usd_per_h"] <= tolerance
