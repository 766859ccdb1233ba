"""`placer whatif --n-1 sites|domains`: every loss solved against the baseline agrees
with solving that loss alone; failure domains go down together; the loss figures
(unserved demand, SLO losses, moves) count what they say; table and JSON shape."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import placer
from placer.analysis.whatif import n1_variants, run_n1, unserved_rps
from placer.cli.main import cli
from placer.model.load import validate_model
from placer.model.scenario import Scenario

CONFIGS_TIME = Path(__file__).parent.parent / "configs" / "time"
EXIT_OK, EXIT_BAD_INPUT = 0, 2
SOLVE = {"solver": "milp", "time_limit_s": 20.0}
#: Both solves of a loss stop at a proven relative gap of 1e-4 (SOLVE_DEFAULTS): their
#: objectives may differ by that much, no more.
GAP = 1e-4


def _cloud(site_id: str, domain: str, lat: float, lon: float, **pools: int) -> dict[str, Any]:
    return {
        "id": site_id,
        "tier": "cloud",
        "failure_domain": domain,
        "location": {"lat": lat, "lon": lon, "country": "NL" if lat < 55 else "NO"},
        "power": {"pue": 1.1, "carbon_g_per_kwh": 300},
        "pools": [
            {"accelerator": acc, "gpus": n, "cost_usd_per_gpu_h": 3.0 if acc == "H100-SXM" else 0.8}
            for acc, n in pools.items()
        ],
    }


@pytest.fixture
def fleet(minimal_scenario_dict: dict[str, Any]) -> dict[str, Any]:
    """The minimal scenario, grown to four sites in three failure domains.

    Site ids with dots: `ams` and `ams.2` (domain nl), so `sites.ams.2=down` must take
    down ams.2 only (the longest id wins). cloud-osl (domain nordics) is the only site
    within 15 ms of eu-north (Stockholm-Oslo ~416 km, 11.5 ms modelled; Amsterdam 24.3,
    Frankfurt 25.4), so losing it leaves the optional `voice` service nowhere to go: its
    30 rps go unserved and its unit loses its SLO. `search` runs two copies on two
    failure domains, each able to carry all its demand: one copy lost, none unserved.
    """
    doc = minimal_scenario_dict
    doc["sites"][1]["failure_domain"] = "nordics"
    doc["sites"] += [
        _cloud("ams", "nl", 52.37, 4.90, **{"H100-SXM": 32, "L4": 16}),
        _cloud("ams.2", "nl", 52.30, 4.76, L4=16),
    ]
    doc["workloads"] += [
        {
            "id": "voice",
            "kind": "inference",
            "demand_rps": {"eu-north": 30},
            "serving": {"L4": {"rps_per_replica": 10}},
            "latency_slo_ms": 15,
            "must_place": False,
            "value_usd_per_h": 50,
        },
        {
            "id": "search",
            "kind": "inference",
            "demand_rps": {"eu-central": 20},
            "serving": {"L4": {"rps_per_replica": 10}},
            "latency_slo_ms": 50,
            "redundancy": {"copies": 2, "spread": "failure_domain"},
            "must_place": False,
            "value_usd_per_h": 40,
        },
    ]
    return doc


def _site_down(doc: dict[str, Any], *site_ids: str) -> Scenario:
    """The scenario with these sites lost, built by hand: every pool there at 0 GPUs."""
    out = copy.deepcopy(doc)
    for site in out["sites"]:
        if site["id"] in site_ids:
            for pool in site["pools"]:
                pool["gpus"] = 0
    return validate_model(Scenario, out, source="by hand")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_each_loss_agrees_with_solving_it_alone(fleet: dict[str, Any]) -> None:
    run_, losses = run_n1(fleet, "sites", **SOLVE)
    report = run_.report
    assert [lost for lost, _ in losses] == ["onprem-fra", "cloud-osl", "ams", "ams.2"]
    assert [v.loss.lost for v in report.variants] == ["onprem-fra", "cloud-osl", "ams", "ams.2"]
    for v in report.variants:
        alone = placer.solve(_site_down(fleet, v.loss.lost), **SOLVE)
        assert v.kpis.status == alone.status, v.label
        if alone.objective_usd_per_h is None:
            assert v.kpis.objective_usd_per_h is None
        else:
            assert v.kpis.objective_usd_per_h == pytest.approx(alone.objective_usd_per_h, rel=GAP)


def test_ids_with_dots_lose_the_right_site(fleet: dict[str, Any]) -> None:
    variants = dict(n1_variants(fleet, "sites"))
    assert variants["ams.2"].label == "sites.ams.2=down"
    report = run_n1(fleet, "sites", **SOLVE)[0].report
    by_lost = {v.loss.lost: v for v in report.variants}
    assert [(c.path, c.before) for c in by_lost["ams.2"].changes] == [("sites.ams.2", 16)]
    assert [(c.path, c.before) for c in by_lost["ams"].changes] == [("sites.ams", 48)]
    assert (by_lost["ams"].loss.gpus_lost, by_lost["ams.2"].loss.gpus_lost) == (48, 16)


def test_the_loss_figures_count_what_they_say(fleet: dict[str, Any]) -> None:
    run_, _ = run_n1(fleet, "sites", **SOLVE)
    base = run_.baseline_plan
    assert run_.report.n1.baseline_unserved_rps == 0.0
    for v, plan in zip(run_.report.variants, run_.plans, strict=True):
        loss = v.loss
        down = {loss.lost}
        at_lost = [p for p in base.placements if p.site in down]
        assert loss.displaced == len(at_lost)
        assert not any(p.site in down for p in plan.placements)
        assert loss.relocated + loss.dropped == loss.displaced  # every displaced unit is one
        assert loss.moves == loss.relocated + loss.other_moves == v.units_moved
        assert loss.unserved_rps == unserved_rps(_site_down(fleet, *down), plan)
    osl = next(v for v in run_.report.variants if v.loss.lost == "cloud-osl")
    assert osl.kpis.status == "optimal"
    assert osl.loss.slo_lost == ["voice/eu-north"]
    assert osl.loss.unserved_rps == pytest.approx(30.0)  # voice's demand, nothing else
    assert osl.loss.unserved_rps_delta == pytest.approx(30.0)
    assert any(u.unit == "voice/eu-north" for u in osl.newly_unplaced)


def test_one_copy_left_still_serves_the_demand(fleet: dict[str, Any]) -> None:
    """search has copies=2 (survive 1): either copy alone carries its 20 rps."""
    scenario = validate_model(Scenario, fleet, source="fleet")
    plan = placer.solve(scenario, **SOLVE)
    search = [p for p in plan.placements if p.workload == "search"]
    assert len(search) == 2
    one_copy = plan.model_copy(
        update={"placements": [p for p in plan.placements if p is not search[0]]}
    )
    no_copy = plan.model_copy(
        update={"placements": [p for p in plan.placements if p.workload != "search"]}
    )
    assert unserved_rps(scenario, plan) == 0.0
    assert unserved_rps(scenario, one_copy) == 0.0
    assert unserved_rps(scenario, no_copy) == pytest.approx(20.0)


def test_a_failure_domain_goes_down_whole(fleet: dict[str, Any]) -> None:
    run_, losses = run_n1(fleet, "domains", **SOLVE)
    assert [(lost, v.label) for lost, v in losses] == [
        ("onprem-fra", "sites.onprem-fra=down"),
        ("nordics", "sites.cloud-osl=down"),
        ("nl", "sites.ams=down; sites.ams.2=down"),
    ]
    nl = run_.report.variants[2]
    assert (nl.loss.lost, nl.loss.sites, nl.loss.gpus_lost) == ("nl", ["ams", "ams.2"], 64)
    alone = placer.solve(_site_down(fleet, "ams", "ams.2"), **SOLVE)
    assert nl.kpis.status == alone.status
    assert nl.kpis.objective_usd_per_h == pytest.approx(alone.objective_usd_per_h, rel=GAP)
    assert run_.report.n1.by == "domains"


def test_an_infeasible_loss_names_the_must_place_units(fleet: dict[str, Any]) -> None:
    """The training run needs H100s: take ams's away, and losing onprem-fra (the only
    H100s left) leaves it nowhere (an L4 would do otherwise: it names no accelerator)."""
    fleet["sites"][2]["pools"] = [p for p in fleet["sites"][2]["pools"] if p["accelerator"] == "L4"]
    fleet["workloads"][0]["accelerators"] = ["H100-SXM"]
    report = run_n1(fleet, "sites", **SOLVE)[0].report
    fra = report.variants[0]
    assert fra.kpis.status == "infeasible"
    assert fra.loss.must_place_unplaced == ["train-llm"]
    assert (fra.loss.unserved_rps, fra.loss.moves, fra.loss.relocated) == (None, None, None)
    assert report.n1.worst == "onprem-fra"
    assert report.n1.without_plan == 1
    assert report.n1.summary.startswith("worst loss: site onprem-fra (infeasible: 1 must-place")


def test_the_table(fleet: dict[str, Any], write_yaml: Callable[..., Path]) -> None:
    result = run("whatif", str(write_yaml(fleet)), "--n-1", "sites", "--solver", "milp")
    assert result.exit_code == EXIT_OK, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("placer whatif --n-1 sites — minimal: baseline OPTIMAL, 4 loss")
    header = next(line for line in lines if line.startswith("#"))
    for column in ("lost", "status", "unserved_rps", "slo_lost", "cost_delta_usd_per_h"):
        assert column in header
    assert "relocated" in header and "other_moves" in header
    row = next(line for line in lines if line.split()[:2] == ["2", "cloud-osl"])
    # unplaced: voice, and the search copy with no second failure domain to go to
    assert row.split()[2:6] == ["optimal", "32", "2", "30.0"]
    assert "2  cloud-osl: no pool left within the latency SLO of voice/eu-north" in result.stdout
    assert lines[-1].startswith("worst loss: site cloud-osl (30.0 rps unserved, 1 unit(s)")
    assert "Traceback" not in result.output


def test_the_json(fleet: dict[str, Any], write_yaml: Callable[..., Path]) -> None:
    path = str(write_yaml(fleet))
    result = run("whatif", path, "--n-1", "domains", "--solver", "milp", "--format", "json")
    assert result.exit_code == EXIT_OK, result.output
    doc = json.loads(result.stdout)
    assert (doc["kind"], doc["n1"]["by"], doc["n1"]["losses"]) == ("WhatIf", "domains", 3)
    assert set(doc["n1"]) >= {"worst", "worst_index", "without_plan", "summary"}
    loss = doc["variants"][2]["loss"]
    assert (loss["lost"], loss["sites"]) == ("nl", ["ams", "ams.2"])
    assert set(loss) == {
        "lost", "sites", "gpus_lost", "unserved_rps", "unserved_rps_delta",
        "must_place_unplaced", "slo_lost", "displaced", "relocated", "dropped",
        "other_moves", "moves",
    }  # fmt: skip
    plain = run("whatif", path, "--fail-site", "ams", "--solver", "milp", "--format", "json")
    plain_doc = json.loads(plain.stdout)
    assert "n1" not in plain_doc and "loss" not in plain_doc["variants"][0]  # as before N-1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--n-1", "sites", "--set", "objective.carbon_price_usd_per_t=5"), "leave out --set"),
        (("--n-1", "racks"), "Invalid value for '--n-1'"),
    ],
)
def test_bad_n1_options(
    fleet: dict[str, Any], write_yaml: Callable[..., Path], args: tuple, message: str
) -> None:
    result = run("whatif", str(write_yaml(fleet)), *args)
    assert result.exit_code == EXIT_BAD_INPUT
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_timed_scenario_with_series_files(write_yaml: Callable[..., Path]) -> None:
    """configs/time/small_day.yaml with iad-hall's flat price read from a CSV file next to
    the scenario (as the week-long configs read theirs): the N-1 report is the one of
    the file with the price written inline."""
    from placer.model.yaml_text import read_document

    doc, _ = read_document(str(CONFIGS_TIME / "small_day.yaml"))
    price = doc["sites"][1]["power"]["price_usd_per_kwh"]
    rows = [f"2022-06-07T{h:02d}:00:00+00:00,{price}" for h in range(24)]
    write_yaml("time,price\n" + "\n".join(rows) + "\n", "iad_price.csv")
    doc["sites"][1]["power"]["price_usd_per_kwh"] = {"file": "iad_price.csv", "column": "price"}
    args = ("--n-1", "sites", "--solver", "milp", "--format", "json")
    with_file = run("whatif", str(write_yaml(doc, "small_day.yaml")), *args)
    inline = run("whatif", str(CONFIGS_TIME / "small_day.yaml"), *args)
    assert with_file.exit_code == inline.exit_code == EXIT_OK, with_file.output
    a, b = json.loads(with_file.stdout), json.loads(inline.stdout)
    assert a["n1"] == b["n1"]
    assert [v["loss"] for v in a["variants"]] == [v["loss"] for v in b["variants"]]
    assert [v["kpis"]["objective_usd_per_h"] for v in a["variants"]] == [
        v["kpis"]["objective_usd_per_h"] for v in b["variants"]
    ]
