"""`placer report`: the self-contained HTML page, unit-tested and loaded in headless Chromium.

The browser tests drive Debian's /usr/bin/chromium with command-line flags only (no new
Python dependency): `--dump-dom` gives the DOM after the page's scripts ran, and
`--enable-logging=stderr` writes every console message (console.log/error, uncaught
exceptions, Content-Security-Policy violations) to stderr as a `...:CONSOLE...]` line. That
log does not tell the levels apart, so any console line fails the report: the page logs
nothing when it works. `test_console_detection_catches_errors` proves the detection on a
page with a deliberate console.error, an uncaught exception and a blocked remote image.

Without Chromium the browser tests skip; with CI=true they fail instead (.ci/run installs
Chromium before the tests).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from placer import api
from placer.cli.main import cli
from placer.errors import ScenarioError
from placer.model.scenario import Scenario
from placer.outputs.html_report import BASE_CHARTS, check_plan_matches, load_pareto, render_html
from placer.plan.plan import ParetoFront, ParetoPoint, Plan

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
ARTIFACTS = ROOT / "tests" / "artifacts"
EXIT_OK, EXIT_BAD_INPUT = 0, 2

# A remote load: src/href/xlink:href/action/poster/data to http(s) or protocol-relative
# URLs, CSS url(...) of anything but data: or a #fragment in the page, @import, <base>.
_REMOTE = re.compile(
    r"""(?:\b(?:src|href|xlink:href|action|poster|data|srcset)\s*=\s*["']?\s*(?:https?:)?//)"""
    r"""|(?:url\(\s*["']?\s*(?!data:|\#))|(?:@import)|(?:<base\b)""",
    re.IGNORECASE,
)


# ---- helpers -------------------------------------------------------------------------------


def _solve(scenario: Scenario) -> Plan:
    return api.solve(scenario, solver="milp", time_limit_s=30, seed=0)


@pytest.fixture(scope="module")
def solved_configs() -> dict[str, tuple[Scenario, Plan]]:
    """Every configs/*.yaml scenario with its MILP plan (solved once for the module)."""
    out = {}
    for path in CONFIGS:
        scenario = api.load(path)
        out[path.name] = (scenario, _solve(scenario))
    return out


@pytest.fixture
def minimal(minimal_scenario_dict: dict[str, Any]) -> tuple[Scenario, Plan]:
    scenario = Scenario.model_validate(minimal_scenario_dict)
    return scenario, _solve(scenario)


def _front_for(plan: Plan) -> ParetoFront:
    """A small cost-carbon front through the plan's own point (cheaper = dirtier)."""
    assert plan.totals is not None
    cost, carbon = plan.totals.cost_usd_per_h, plan.totals.carbon_kg_per_h
    points = [
        ParetoPoint(
            carbon_cap_kg_per_h=None if k == 0 else carbon * (1 - 0.1 * k),
            status="optimal" if k != 2 else "feasible",
            cost_usd_per_h=cost * (1 + 0.04 * k * k),
            objective_usd_per_h=cost * (1 + 0.04 * k * k),
            carbon_kg_per_h=carbon * (1 - 0.1 * k),
            gap=0.0 if k != 2 else 0.01,
            wall_s=0.1,
        )
        for k in range(4)
    ]
    points.append(ParetoPoint(carbon_cap_kg_per_h=carbon * 0.3, status="infeasible"))
    return ParetoFront(scenario=plan.scenario, points=points, wall_s=0.5)


class _Balance(HTMLParser):
    """Checks that every non-void element is closed in order (catches broken markup)."""

    VOID = frozenset(
        "area base br col embed hr img input link meta source track wbr".split()  # noqa: SIM905
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()


def _assert_well_formed(page: str) -> None:
    parser = _Balance()
    parser.feed(page)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []


def _assert_no_remote_loads(page: str) -> None:
    found = _REMOTE.findall(page)
    assert found == [], found
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


# ---- the page, without a browser -----------------------------------------------------------


@pytest.mark.parametrize("name", [p.name for p in CONFIGS])
def test_every_config_renders(name: str, solved_configs: dict[str, tuple[Scenario, Plan]]) -> None:
    scenario, plan = solved_configs[name]
    page = render_html(scenario, plan)
    _assert_well_formed(page)
    _assert_no_remote_loads(page)
    for chart in BASE_CHARTS:
        assert f'data-chart="{chart}"' in page
    assert 'data-chart="pareto"' not in page
    for site in scenario.sites:  # every site: a utilisation row and a map marker
        assert page.count(f'data-site="{site.id}"') == 2
    for region in scenario.user_regions:
        assert f'data-region="{region.id}"' in page
    links = {(p.site, p.region) for p in plan.placements if p.kind == "inference"}
    assert page.count("data-link=") == len(links)
    for p in plan.placements:
        assert f"<td>{p.unit}</td>" in page
    for u in plan.unplaced:
        assert u.reason in page
    assert plan.status.upper() in page


def test_the_page_is_deterministic(minimal: tuple[Scenario, Plan]) -> None:
    scenario, plan = minimal
    assert render_html(scenario, plan) == render_html(scenario, plan)


def test_no_reference_to_load_anything(minimal: tuple[Scenario, Plan]) -> None:
    page = render_html(*minimal)
    _assert_no_remote_loads(page)
    # the minimal scenario quotes no sources: no URL at all may appear in its page
    assert "http:" not in page and "https:" not in page


def test_remote_pattern_catches_remote_loads() -> None:
    for bad in (
        '<img src="https://x.org/a.png">',
        "<script src=//cdn.example/x.js></script>",
        '<link rel="stylesheet" href="http://x.org/a.css">',
        "<style>@import 'a.css';</style>",
        "<div style=\"background:url('https://x.org/a.png')\"></div>",
    ):
        assert _REMOTE.search(bad), bad
    assert not _REMOTE.search('<link rel="icon" href="data:,">')
    assert not _REMOTE.search('<rect fill="url(#hatch)"/>')


def test_escapes_what_users_write(minimal: tuple[Scenario, Plan]) -> None:
    scenario, plan = minimal
    evil = "<script>alert(1)</script>"
    site = scenario.sites[0]
    # ids are validated ([A-Za-z0-9._:-]); a hand-made scenario/plan could still carry one
    bad_site = site.model_copy(
        update={
            "id": evil,
            "location": site.location.model_copy(update={"metro": '"><img src=x onerror=1>'}),
        }
    )
    scenario = scenario.model_copy(
        update={
            "sites": [bad_site, *scenario.sites[1:]],
            "metadata": scenario.metadata.model_copy(
                update={"name": evil, "description": "a & b <b>", "sources": [evil]}
            ),
        }
    )
    plan = plan.model_copy(
        update={
            "placements": [
                p.model_copy(update={"site": evil, "unit": evil}) if p.site == site.id else p
                for p in plan.placements
            ],
            "sites": [
                s.model_copy(update={"site": evil}) if s.site == site.id else s for s in plan.sites
            ],
            "capacity_prices": [],
            "message": evil,
        }
    )
    page = render_html(scenario, plan)
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert page.count("<script") == 1  # the page's own
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "a &amp; b &lt;b&gt;" in page
    assert 'data-site="&lt;script&gt;alert(1)&lt;/script&gt;"' in page
    _assert_well_formed(page)


def test_infeasible_plan(minimal_scenario_dict: dict[str, Any]) -> None:
    minimal_scenario_dict["workloads"][0]["gpus"] = 100_000
    scenario = Scenario.model_validate(minimal_scenario_dict)
    plan = _solve(scenario)
    assert plan.status == "infeasible" and not plan.placements
    page = render_html(scenario, plan)
    _assert_well_formed(page)
    assert 'id="no-placements"' in page
    assert 'id="infeasibility"' in page and "Why no plan exists" in page
    assert "no feasible pool" in page
    assert 'data-status="infeasible"' in page
    for chart in BASE_CHARTS:
        assert f'data-chart="{chart}"' in page


def test_every_site_even_when_the_plan_lists_none(minimal: tuple[Scenario, Plan]) -> None:
    scenario, plan = minimal
    page = render_html(scenario, plan.model_copy(update={"sites": [], "totals": None}))
    for site in scenario.sites:
        assert page.count(f'data-site="{site.id}"') == 2
    assert 'id="kpi-none"' in page


def test_pareto_front(minimal: tuple[Scenario, Plan], tmp_path: Path) -> None:
    scenario, plan = minimal
    front = _front_for(plan)
    path = tmp_path / "front.json"
    path.write_text(front.model_dump_json(indent=2), encoding="utf-8")
    loaded = load_pareto(path)
    assert loaded == front
    page = render_html(scenario, plan, loaded)
    _assert_well_formed(page)
    assert 'data-chart="pareto"' in page
    assert 'id="table-pareto"' in page
    assert 'data-point="plan"' in page  # the plan is marked
    assert page.count("<circle data-point=") == 4  # the infeasible point has no coordinates
    assert "this plan is point 0" in page


def test_pareto_front_without_feasible_points(minimal: tuple[Scenario, Plan]) -> None:
    scenario, plan = minimal
    front = ParetoFront(points=[ParetoPoint(carbon_cap_kg_per_h=1.0, status="infeasible")])
    page = render_html(scenario, plan.model_copy(update={"status": "infeasible"}), front)
    assert "no feasible point on this front" in page
    _assert_well_formed(page)


def test_load_pareto_rejects_other_documents(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"apiVersion": "placer/v1", "kind": "Plan"}), encoding="utf-8")
    with pytest.raises(ScenarioError, match="kind"):
        load_pareto(path)


def test_plan_from_another_scenario(minimal: tuple[Scenario, Plan]) -> None:
    scenario, plan = minimal
    moved = plan.model_copy(
        update={"placements": [plan.placements[0].model_copy(update={"site": "nowhere"})]}
    )
    with pytest.raises(ScenarioError, match=r"site 'nowhere'.*another scenario"):
        check_plan_matches(scenario, moved, plan_source="p.json", scenario_source="s.yaml")
    with pytest.raises(ScenarioError, match="another scenario"):
        render_html(scenario, moved)


# ---- the command ---------------------------------------------------------------------------


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)


@pytest.fixture
def files(
    minimal_scenario_dict: dict[str, Any], minimal: tuple[Scenario, Plan], tmp_path: Path
) -> dict[str, Path]:
    _, plan = minimal
    out = {
        "scenario": tmp_path / "scenario.json",
        "plan": tmp_path / "plan.json",
        "front": tmp_path / "front.json",
    }
    out["scenario"].write_text(json.dumps(minimal_scenario_dict), encoding="utf-8")
    out["plan"].write_text(plan.model_dump_json(), encoding="utf-8")
    out["front"].write_text(_front_for(plan).model_dump_json(), encoding="utf-8")
    return out


def test_command_writes_the_page(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = _run(str(files["scenario"]), str(files["plan"]), "-o", str(out))
    assert result.exit_code == EXIT_OK, result.output
    assert f"wrote {out}" in result.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and 'data-chart="pareto"' not in page
    result = _run(
        str(files["scenario"]), str(files["plan"]), "-o", str(out), "--pareto", str(files["front"])
    )
    assert result.exit_code == EXIT_OK, result.output
    assert 'data-chart="pareto"' in out.read_text(encoding="utf-8")


def test_command_help_has_an_example() -> None:
    result = _run("--help")
    assert result.exit_code == EXIT_OK
    assert any(line.strip().startswith("Example:") for line in result.output.splitlines())


@pytest.mark.parametrize("broken", ["plan", "front", "scenario"])
def test_command_bad_files(files: dict[str, Path], tmp_path: Path, broken: str) -> None:
    files[broken].write_text('{"apiVersion": "placer/v1", "kind": "Nope"', encoding="utf-8")
    out = tmp_path / "report.html"
    args = [str(files["scenario"]), str(files["plan"]), "-o", str(out)]
    result = _run(*args, "--pareto", str(files["front"]))
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert str(files[broken]) in result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert not out.exists()


def test_command_missing_file_and_mismatch(
    files: dict[str, Path], minimal: tuple[Scenario, Plan], tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    result = _run(str(files["scenario"]), str(tmp_path / "missing.json"), "-o", str(out))
    assert result.exit_code == EXIT_BAD_INPUT and "cannot read" in result.output
    _, plan = minimal
    other = plan.model_copy(update={"sites": [plan.sites[0].model_copy(update={"site": "x9"})]})
    files["plan"].write_text(other.model_dump_json(), encoding="utf-8")
    result = _run(str(files["scenario"]), str(files["plan"]), "-o", str(out))
    assert result.exit_code == EXIT_BAD_INPUT
    assert "names site 'x9'" in result.output and "another scenario" in result.output
    assert not out.exists()
    result = _run(str(files["scenario"]), str(files["plan"]))  # -o is required
    assert result.exit_code == EXIT_BAD_INPUT


# ---- in a real browser ---------------------------------------------------------------------

_CONSOLE = re.compile(r"^\[[^\]]*:CONSOLE[^\]]*\]\s*(.*)$")


def _chromium() -> str:
    """Debian's Chromium; skips without it, unless CI=true, where its absence fails."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("CI=true but /usr/bin/chromium is missing: .ci/run installs it (apt)")
    pytest.skip("no /usr/bin/chromium (apt-get install chromium); CI runs this test")


def _browse(page: Path, tmp: Path, *flags: str) -> tuple[str, list[str]]:
    """Loads a file in headless Chromium; returns (stdout, console messages)."""
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: no name resolves
        f"--user-data-dir={tmp / 'chromium-profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--hide-scrollbars",
        "--virtual-time-budget=3000",
        *flags,
        page.resolve().as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    console = [m.group(1) for line in done.stderr.splitlines() if (m := _CONSOLE.match(line))]
    return done.stdout, console


def test_console_detection_catches_errors(tmp_path: Path) -> None:
    """The negative control: a page with errors must be caught, a clean one must not."""
    csp = "default-src 'none'; script-src 'unsafe-inline'; img-src data:"
    bad = tmp_path / "bad.html"
    bad.write_text(
        f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        f'content="{csp}"></head><body><p>x</p><img src="https://example.org/a.png">'
        "<script>console.error('deliberate-console-error'); notDefinedAnywhere();</script>"
        "</body></html>",
        encoding="utf-8",
    )
    good = tmp_path / "good.html"
    good.write_text(
        "<!DOCTYPE html><html><body><p id=ok>fine</p>"
        "<script>document.body.dataset.ran = '1';</script></body></html>",
        encoding="utf-8",
    )
    _, console = _browse(bad, tmp_path, "--dump-dom")
    text = "\n".join(console)
    assert "deliberate-console-error" in text
    assert "Uncaught ReferenceError: notDefinedAnywhere" in text
    assert "example.org" in text  # the blocked remote image (Content-Security-Policy)
    dom, console = _browse(good, tmp_path, "--dump-dom")
    assert console == []
    assert 'data-ran="1"' in dom


def test_report_in_chromium(
    solved_configs: dict[str, tuple[Scenario, Plan]], tmp_path: Path
) -> None:
    """The default scenario's report with a Pareto front: no console message, every chart
    rendered (laid out, with shapes), and a screenshot saved."""
    scenario, plan = solved_configs["eu_sovereign.yaml"]
    page = tmp_path / "report.html"
    page.write_text(render_html(scenario, plan, _front_for(plan)), encoding="utf-8")

    dom, console = _browse(page, tmp_path, "--dump-dom")
    assert console == [], console
    charts = [*BASE_CHARTS, "pareto"]
    # the page's script ran to its end and found every chart laid out with shapes in it
    assert f'data-charts-total="{len(charts)}"' in dom
    rendered = re.search(r'data-charts-rendered="([^"]*)"', dom)
    assert rendered is not None and sorted(rendered.group(1).split()) == sorted(charts)
    for chart in charts:
        assert f'<svg id="chart-{chart}" data-chart="{chart}"' in dom
    for site in scenario.sites:
        assert dom.count(f'data-site="{site.id}"') == 2
    assert 'aria-sort="none"' in dom  # the sortable tables were set up

    shot = tmp_path / "report.png"
    _, console = _browse(page, tmp_path, "--window-size=1400,2400", f"--screenshot={shot}")
    assert console == [], console
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1400, 2400)
    assert len(data) > 50_000  # a drawn page, not a blank one
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "report.png")


def test_minimal_and_infeasible_reports_in_chromium(
    minimal_scenario_dict: dict[str, Any], tmp_path: Path
) -> None:
    infeasible = copy.deepcopy(minimal_scenario_dict)
    infeasible["workloads"][0]["gpus"] = 100_000
    for data in (minimal_scenario_dict, infeasible):
        scenario = Scenario.model_validate(data)
        plan = _solve(scenario)
        page = tmp_path / f"{plan.status}.html"
        page.write_text(render_html(scenario, plan), encoding="utf-8")
        dom, console = _browse(page, tmp_path, "--dump-dom")
        assert console == [], (plan.status, console)
        rendered = re.search(r'data-charts-rendered="([^"]*)"', dom)
        assert rendered is not None and sorted(rendered.group(1).split()) == sorted(BASE_CHARTS)
