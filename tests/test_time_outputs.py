"""What people see of a timed plan (docs/time.md): the report's "Over time" section, the
schedule part of `placer diff`, and the exports (docs/export.md, "Timed plans").

The plans are the minimal scenario over six hourly periods (tests/test_time.py::timed) with
its one training run (3 h, from 01:00, by 06:00) steered by the on-prem site's prices:
late (03:00, so every target holds it), early (01:00) or at the horizon's start (00:00,
nothing to hold).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from placer import api
from placer.analysis.diff import diff_plans
from placer.cli.main import cli
from placer.errors import OptionError
from placer.model.load import validate_model
from placer.model.scenario import Scenario
from placer.outputs.export import TARGETS, build
from placer.outputs.html.time_axis import LABEL_W, RIGHT, WIDTH
from placer.outputs.html_report import BASE_CHARTS, render_html
from placer.outputs.text_report import to_json
from placer.plan.plan import Plan
from tests.test_export import load_yaml_stream, validate
from tests.test_report_html import _browse
from tests.test_time import START, timed

EXIT_OK, EXIT_BAD_INPUT = 0, 2
TIME_CHARTS = ("gantt", "power", "tariffs")
#: On-prem prices per period that make the run start at 03:00 (late), 01:00 (early), and
#: (with earliest_start at the horizon's start) 00:00.
PRICES = {
    "late": [0.3, 0.3, 0.3, 0.05, 0.05, 0.05],
    "early": [0.2, 0.05, 0.05, 0.05, 0.3, 0.3],
    "now": [0.05, 0.05, 0.05, 0.3, 0.3, 0.3],
}
#: The run's start in each case.
STARTS = {
    "late": "2020-06-01T03:00:00+00:00",
    "early": "2020-06-01T01:00:00+00:00",
    "now": START,
}


def _scenario_dict(case: str) -> dict[str, Any]:
    """The timed minimal scenario, exportable to every target (the cloud site names its
    cloud and region, as tests/test_export.py's `small` does), with a grid event that
    halves the on-prem facility cap at 04:00."""
    d = timed(**{"sites.0.power.price_usd_per_kwh": PRICES[case]})
    d["sites"][1]["cloud"] = "gcp"
    d["sites"][1]["location"]["cloud_region"] = "europe-north1"
    d["workloads"][0]["accelerators"] = ["H100-SXM"]
    d["sites"][0]["grid_events"] = [
        {"name": "dr", "start": "2020-06-01T04:00:00+00:00", "hours": 1, "cut_pct": 50}
    ]
    if case == "now":
        d["workloads"][0]["earliest_start"] = START
    return d


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Scenario, Plan, Path]]:
    """case -> (scenario, its MILP plan, the folder holding scenario.json and plan.json)."""
    out = {}
    for case in PRICES:
        folder = tmp_path_factory.mktemp(case)
        data = _scenario_dict(case)
        (folder / "scenario.json").write_text(json.dumps(data), encoding="utf-8")
        scenario = validate_model(Scenario, data, source=case)
        plan = api.solve(scenario, solver="milp", time_limit_s=30, seed=0)
        assert plan.status == "optimal", plan.message
        (folder / "plan.json").write_text(to_json(plan), encoding="utf-8")
        out[case] = (scenario, plan, folder)
    return out


def _run(plan: Plan):
    (run,) = [p for p in plan.placements if p.kind == "training"]
    return run


def run_cli(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_the_cases_start_where_their_prices_say(solved) -> None:
    for case, start in STARTS.items():
        assert _run(solved[case][1]).start == start, case


# ---- the report -------------------------------------------------------------------------------


def _svgs(page: str) -> dict[str, ET.Element]:
    """Every chart of a page, parsed as XML (so each is well formed), by name."""
    out = {}
    for m in re.finditer(r'<svg id="chart-([a-z-]+)".*?</svg>', page, re.DOTALL):
        out[m.group(1)] = ET.fromstring(m.group(0))
    return out


def test_timed_report_has_the_over_time_charts(solved) -> None:
    scenario, plan, _ = solved["late"]
    page = render_html(scenario, plan)
    svgs = _svgs(page)
    assert set(TIME_CHARTS) <= set(svgs)
    assert 'id="sec-time"' in page and "<h2>Over time</h2>" in page
    body = re.search(r'<body data-charts="([^"]*)"', page)
    assert body is not None and body.group(1).split() == [*BASE_CHARTS, *TIME_CHARTS]

    # the Gantt bar of the run spans 03:00-06:00 of the 6-hour axis
    (bar,) = svgs["gantt"].iterfind(".//{*}g[@data-run='train-llm']")
    assert bar.get("data-start") == STARTS["late"] and bar.get("data-pool") == "H100-SXM"
    rect = bar.find("{*}rect")
    w = WIDTH - LABEL_W - RIGHT
    assert float(rect.get("x")) == pytest.approx(LABEL_W + w * 3 / 6, abs=0.01)
    assert float(rect.get("width")) == pytest.approx(w * 3 / 6, abs=0.02)
    tip = bar.find("{*}title").text
    for fact in ("train-llm", "onprem-fra/H100-SXM", "32 GPUs", "Mon 01 Jun 03:00", "USD"):
        assert fact in tip
    # the service's band in the cloud pool's lane
    assert svgs["gantt"].find(".//{*}path[@data-service='chat']") is not None

    # power: a use area and a cap line per site, the grid event at 04:00 shaded, a hover
    # cell per site and period
    power = svgs["power"]
    for sp in plan.site_periods:
        (row,) = power.iterfind(f".//{{*}}g[@data-site='{sp.site}']")
        assert row.find("{*}path[@class='cap']") is not None
    (event,) = power.iterfind(".//{*}rect[@class='event']")
    assert float(event.get("x")) == pytest.approx(LABEL_W + w * 4 / 6, abs=0.01)
    assert len(list(power.iterfind(".//{*}rect[@class='hv']"))) == 6 * len(plan.site_periods)
    # tariffs: a price and a carbon row per site
    tariffs = svgs["tariffs"]
    assert len(list(tariffs.iterfind(".//{*}g[@class='site-price']"))) == len(scenario.sites)
    assert len(list(tariffs.iterfind(".//{*}g[@class='site-carbon']"))) == len(scenario.sites)


def test_static_report_has_no_time_section(minimal_scenario_dict: dict[str, Any]) -> None:
    scenario = validate_model(Scenario, minimal_scenario_dict, source="static")
    plan = api.solve(scenario, solver="milp", time_limit_s=30, seed=0)
    page = render_html(scenario, plan)
    assert "sec-time" not in page and "Over time" not in page
    for chart in TIME_CHARTS:
        assert f'data-chart="{chart}"' not in page
    assert set(_svgs(page)) == set(BASE_CHARTS)


def test_a_null_cap_draws_no_cap_line(solved) -> None:
    scenario, plan, _ = solved["late"]
    uncapped = plan.model_copy(deep=True)
    uncapped.site_periods[0].facility_cap_kw = [None] * 6
    power = _svgs(render_html(scenario, uncapped))["power"]
    site = uncapped.site_periods[0].site
    (row,) = power.iterfind(f".//{{*}}g[@data-site='{site}']")
    assert row.find("{*}path[@class='cap']") is None
    assert "no cap" in "".join(row.itertext())


def test_a_negative_tariff_extends_the_scale_below_zero(solved) -> None:
    scenario, plan, _ = solved["late"]
    negative = plan.model_copy(deep=True)
    negative.site_periods[0].price_usd_per_kwh = [0.2, -0.1, 0.05, 0.05, 0.3, 0.3]
    tariffs = _svgs(render_html(scenario, negative))["tariffs"]
    assert "scale -0.1–0.3, all sites" in "".join(tariffs.itertext())
    # every price row stays inside its band of the chart: no path above its label's row
    (row,) = tariffs.iterfind(
        f".//{{*}}g[@class='site-price'][@data-site='{scenario.sites[0].id}']"
    )
    label_y = float(row.find("{*}text").get("y"))
    ys = [
        float(v)
        for v in re.findall(r"[MV](?:[\d.]+ )?([\d.]+)", row.findall("{*}path")[1].get("d"))
    ]
    assert ys and all(label_y - 14 <= y <= label_y + 30 for y in ys)


def test_timed_report_in_chromium(solved, tmp_path: Path) -> None:
    """Every chart of a timed plan's page is laid out and drawn; the console stays quiet."""
    scenario, plan, _ = solved["late"]
    page = tmp_path / "timed.html"
    page.write_text(render_html(scenario, plan), encoding="utf-8")
    dom, console = _browse(page, tmp_path, "--dump-dom")
    assert console == [], console
    rendered = re.search(r'data-charts-rendered="([^"]*)"', dom)
    assert rendered is not None
    assert sorted(rendered.group(1).split()) == sorted([*BASE_CHARTS, *TIME_CHARTS])


# ---- placer diff --------------------------------------------------------------------------


def test_diff_names_a_moved_run_with_its_old_and_new_start(solved) -> None:
    a, b = solved["late"][1], solved["early"][1]
    d = diff_plans(a, b)
    assert d.schedule is not None and not d.identical
    (run,) = d.schedule.runs
    assert (run.unit, run.from_start, run.to_start) == (
        "train-llm",
        STARTS["late"],
        STARTS["early"],
    )
    assert (run.from_pool, run.to_pool) == ("H100-SXM", "H100-SXM")
    assert run.from_end == "2020-06-01T06:00:00+00:00" and run.shift_h == pytest.approx(-2.0)
    # services: one unit per region and period, none moved (the cloud pool serves all)
    (chat,) = d.schedule.services
    assert (chat.workload, chat.units, chat.repooled, chat.only_a, chat.only_b) == (
        "chat",
        12,
        0,
        0,
        0,
    )
    totals = {k.name: k for k in d.schedule.horizon}
    assert totals["cost_usd"].a == pytest.approx(a.horizon.cost_usd)
    assert totals["cost_usd"].b == pytest.approx(b.horizon.cost_usd)
    assert totals["carbon_kg"].delta is not None
    # a service's units pair within their period: the same plan moves nothing
    same = diff_plans(a, a)
    assert same.identical and same.schedule is not None and same.schedule.runs == []
    assert same.moved == []


def test_diff_command_shows_the_schedule(solved) -> None:
    fa, fb = solved["late"][2] / "plan.json", solved["early"][2] / "plan.json"
    table = run_cli("diff", str(fa), str(fb))
    assert table.exit_code == EXIT_OK, table.output
    line = next(x for x in table.output.splitlines() if x.startswith("train-llm"))
    assert "2020-06-01 03:00 -> 2020-06-01 06:00" in line
    assert "2020-06-01 01:00 -> 2020-06-01 04:00" in line and "-2.0 h" in line
    assert "Over the horizon" in table.output and "cost_usd" in table.output
    doc = json.loads(run_cli("diff", str(fa), str(fb), "--format", "json").output)
    (run,) = doc["schedule"]["runs"]
    assert (run["from_start"], run["to_start"]) == (STARTS["late"], STARTS["early"])


def test_a_static_diff_document_has_no_schedule(solved, minimal_scenario_dict) -> None:
    scenario = validate_model(Scenario, minimal_scenario_dict, source="static")
    plan = api.solve(scenario, solver="milp", time_limit_s=30, seed=0)
    doc = diff_plans(plan, plan).model_dump(mode="json")
    assert "schedule" not in doc


# ---- placer export ------------------------------------------------------------------------


def _export(folder: Path, target: str) -> tuple[list[str], list[dict[str, Any]]]:
    """(the comment lines, the documents) of `placer export --to target`."""
    result = run_cli(
        "export", str(folder / "scenario.json"), str(folder / "plan.json"), "--to", target
    )
    assert result.exit_code == EXIT_OK, result.output
    comments = [x for x in result.stdout.splitlines() if x.startswith("# ")]
    docs = load_yaml_stream(result.stdout)  # YAML 1.1 and 1.2 readers agree
    for doc in docs:
        validate(doc, target)  # the target's schema, trimmed to what placer emits
    return comments, docs


def _notes(doc: dict[str, Any]) -> dict[str, str]:
    return doc["metadata"]["annotations"]


@pytest.mark.parametrize("target", TARGETS)
def test_every_export_carries_the_start_and_holds_a_later_run(solved, target: str) -> None:
    _, plan, folder = solved["late"]
    comments, docs = _export(folder, target)
    assert any("Timed plan" in c and "1 of 1 run(s) start later" in c for c in comments)
    first = [p for p in plan.placements if p.kind == "inference" and p.period == 0]
    if target == "skypilot":
        (job,) = [d for d in docs if "service" not in d]
        (svc,) = [d for d in docs if "service" in d]
        assert job["envs"] == {"PLACER_START": STARTS["late"], "PLACER_END": _run(plan).end}
        assert svc["envs"]["PLACER_START"] == START
        assert svc["service"]["replicas"] == sum(p.replicas for p in first)
        return
    if target == "kueue":
        queues = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ClusterQueue"}
        assert queues["train-llm"]["spec"]["stopPolicy"] == "Hold"
        assert "stopPolicy" not in queues["chat"]["spec"]
        assert _notes(queues["train-llm"])["placer.dev/start"] == STARTS["late"]
        (quota,) = queues["chat"]["spec"]["resourceGroups"][0]["flavors"]
        assert quota["resources"][0]["nominalQuota"] == sum(p.gpus for p in first)
        return
    (job,) = [d for d in docs if d["kind"] == "Job"]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    assert job["spec"]["suspend"] is True
    assert _notes(job)["placer.dev/start"] == STARTS["late"]
    assert _notes(job)["placer.dev/end"] == _run(plan).end
    assert "suspend" not in deployment["spec"]
    assert _notes(deployment)["placer.dev/start"] == START
    # the services as placed in the first period, not summed over the periods
    assert deployment["spec"]["replicas"] == sum(p.replicas for p in first)


@pytest.mark.parametrize("target", TARGETS)
def test_a_run_at_the_horizon_start_is_not_held(solved, target: str) -> None:
    folder = solved["now"][2]
    comments, docs = _export(folder, target)
    assert any("0 of 1 run(s) start later" in c for c in comments)
    text = json.dumps(docs)
    assert '"suspend"' not in text and '"stopPolicy"' not in text
    assert STARTS["now"] in text


def test_a_timed_plan_with_nothing_in_its_first_period_does_not_export(solved) -> None:
    scenario, plan, _ = solved["late"]
    later = plan.model_copy(deep=True)
    later.placements = [p for p in later.placements if p.kind == "inference" and p.period]
    with pytest.raises(OptionError, match="first period"):
        build(scenario, later, "kubernetes")
