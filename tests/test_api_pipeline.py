"""The Python API (score, statuses not exceptions), the pipeline contract (exit codes,
versioned JSON, schemas), progress events, and `explain --workload`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import placer
from placer.analysis.explain import explain_workload, why_text
from placer.cli.main import cli
from placer.plan.plan import Plan
from placer.plan.scoring import score_assignments
from placer.progress import Progress, parse_highs_row

ROOT = Path(__file__).parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
EU = ROOT / "configs" / "eu_sovereign.yaml"


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def eu():
    scenario = placer.load(EU)
    return scenario, placer.solve(scenario, solver="milp", time_limit_s=30)


# ---- placer.score -------------------------------------------------------------------------


def test_score_matches_the_plan_and_the_verifier(eu):
    scenario, plan = eu
    greedy = placer.solve(scenario, solver="greedy")
    scores = placer.score(scenario, [plan, greedy], engine="numpy")
    for s, p in zip(scores, (plan, greedy), strict=True):
        assert s.feasible and s.engine == "numpy"
        assert s.objective_usd_per_h == pytest.approx(p.objective_usd_per_h, rel=1e-9)
        assert s.cost_usd_per_h == pytest.approx(p.totals.cost_usd_per_h, rel=1e-9)
        assert s.carbon_kg_per_h == pytest.approx(p.totals.carbon_kg_per_h, rel=1e-9)


def test_score_jax_engine_agrees_with_numpy_within_float32(eu):
    scenario, plan = eu
    [a] = placer.score(scenario, plan, engine="numpy")
    [b] = placer.score(scenario, plan, engine="jax")
    assert b.engine == "jax" and b.feasible
    assert b.objective_usd_per_h == pytest.approx(a.objective_usd_per_h, rel=1e-5)


def test_score_reports_each_broken_rule(eu):
    scenario, plan = eu
    problem, index = placer.problem.compile.compile_problem(scenario)
    assign = placer.plan.scoring.assignment_of(plan, index)
    crowded = assign.copy()
    # every unit into the pool the first placed unit uses: masks and capacities break
    crowded[:] = assign[assign >= 0][0]
    [ok, bad] = score_assignments(problem, np.stack([assign, crowded]), engine="numpy")
    assert ok.feasible
    assert not bad.feasible
    assert bad.violations["gpus_over"] > 0
    assert bad.violations["masked"] >= 1


def test_score_rejects_a_plan_of_another_scenario(eu):
    _, plan = eu
    other = placer.load(ROOT / "configs" / "us_carbon_vs_price.yaml")
    with pytest.raises(placer.OptionError, match="another scenario"):
        placer.score(other, plan)


def test_solver_outcomes_are_statuses_not_exceptions(feasible_infeasible_scenario):
    plan = placer.solve(feasible_infeasible_scenario, solver="milp", time_limit_s=10)
    assert plan.status == "infeasible"
    assert plan.infeasibility is not None


@pytest.fixture
def feasible_infeasible_scenario(minimal_scenario_dict):
    from placer.model.scenario import Scenario

    minimal_scenario_dict["workloads"][0]["min_gpu_memory_gb"] = 1000
    return Scenario.model_validate(minimal_scenario_dict)


# ---- pipeline contract ---------------------------------------------------------------------


def test_quiet_prints_one_versioned_json_line():
    result = run("solve", str(EU), "--quiet", "--solver", "milp")
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["apiVersion"] == "placer/v1" and summary["kind"] == "PlanSummary"
    assert summary["status"] == "optimal"


def test_infeasible_exit_code_is_configurable(tmp_path, minimal_scenario_dict, write_yaml):
    minimal_scenario_dict["workloads"][0]["min_gpu_memory_gb"] = 1000
    path = write_yaml(minimal_scenario_dict)
    assert run("solve", str(path), "--quiet").exit_code == 3
    assert run("solve", str(path), "--quiet", "--infeasible-exit-code", "99").exit_code == 99
    assert run("solve", str(path), "--quiet", "--infeasible-exit-code", "0").exit_code == 0
    bad = run("solve", str(path), "--infeasible-exit-code", "300")
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_scenario_from_stdin_matches_file():
    from_file = json.loads(run("solve", str(EU), "--quiet", "--solver", "milp").output)
    from_stdin = json.loads(
        run("solve", "-", "--quiet", "--solver", "milp", input=EU.read_text()).output
    )
    assert from_stdin["objective_usd_per_h"] == pytest.approx(from_file["objective_usd_per_h"])


@pytest.mark.parametrize(
    ("args", "path"),
    [((), "docs/scenario.schema.json"), (("--plan",), "docs/plan.schema.json")],
)
def test_committed_schemas_are_current(args, path):
    result = run("schema", *args)
    assert json.loads(result.output) == json.loads((ROOT / path).read_text()), (
        f"regenerate: placer schema {' '.join(args)} > {path}"
    )


def test_written_plan_validates_against_its_schema_version(tmp_path):
    out = tmp_path / "plan.json"
    assert run("solve", str(EU), "--solver", "milp", "-o", str(out), "--quiet").exit_code == 0
    data = json.loads(out.read_text())
    assert data["apiVersion"] == "placer/v1" and data["kind"] == "Plan"
    Plan.model_validate(data)


# ---- progress ------------------------------------------------------------------------------


def test_highs_log_rows_parse():
    row = (
        " L       0       0         0   0.00%   19014.708961    19149.706667       0.70%"
        "     2690    167     53      6826     8.0s"
    )
    p = parse_highs_row(row)
    assert p == Progress("MILP", 19149.706667, 19014.708961)
    assert p.gap == pytest.approx((19149.706667 - 19014.708961) / 19149.706667)
    start = " J       0       0         0   0.00%   -inf            60760.552782       Large"
    assert parse_highs_row(start) == Progress("MILP", 60760.552782, None)
    assert parse_highs_row("Solving MIP model with:") is None
    assert parse_highs_row("   2074 rows") is None


def test_progress_events_never_beat_the_final_plan(tmp_path):
    from placer.model.generate import generate_scenario

    scenario = generate_scenario(units=300, pools=12, seed=2)
    events: list[Progress] = []
    plan = placer.solve(scenario, solver="hybrid", time_limit_s=8, progress=events.append)
    assert events, "hybrid reports its stages"
    assert plan.objective_usd_per_h is not None
    for e in events:
        if e.bound_usd_per_h is not None:  # every bound reported is a valid lower bound
            assert e.bound_usd_per_h <= plan.objective_usd_per_h * (1 + 1e-9) + 1e-6
        if e.incumbent_usd_per_h is not None:  # no incumbent better than what is returned
            assert e.incumbent_usd_per_h >= plan.objective_usd_per_h * (1 - 1e-6) - 1e-6


def test_no_progress_output_when_not_a_terminal():
    result = run("solve", str(EU), "--solver", "milp", "--format", "json")
    assert result.exit_code == 0
    json.loads(result.output)  # stdout is exactly the plan; nothing else was printed


# ---- explain --workload --------------------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_cheaper_alternatives_of_an_optimal_plan_never_fit(config):
    """For a proven-optimal plan, moving one unit alone to a cheaper allowed pool must break
    something; `explain` must name what (otherwise its blocker check is incomplete)."""
    scenario = placer.load(config)
    plan = placer.solve(scenario, solver="milp", time_limit_s=30, relative_gap=0.0)
    assert plan.status == "optimal"
    for w in scenario.workloads:
        for unit in explain_workload(scenario, plan, w.id, top=50):
            for o in unit.options:
                if not o.chosen and o.delta_usd_per_h is not None and o.delta_usd_per_h < -1e-6:
                    assert o.blocked_by, f"{unit.unit}: {o.pool} is cheaper and fits"


def test_explain_workload_cli(tmp_path, eu):
    scenario, plan = eu
    path = tmp_path / "plan.json"
    path.write_text(plan.model_dump_json())
    w = "health-de-assistant"
    result = run("explain", str(EU), str(path), "--workload", w)
    assert result.exit_code == 0, result.output
    assert "excluded by residency" in result.output
    assert "->" in result.output  # the chosen pool is marked
    as_json = json.loads(run("explain", str(EU), str(path), "--workload", w, "--json").output)
    assert {u["unit"].split("/")[0] for u in as_json} == {w}
    assert all(any(o["chosen"] for o in u["options"]) for u in as_json if u["chosen"])
    assert why_text(explain_workload(scenario, plan, w)).startswith(f"{w}/")


def test_explain_workload_errors_are_clean(tmp_path, eu):
    _, plan = eu
    path = tmp_path / "plan.json"
    path.write_text(plan.model_dump_json())
    unknown = run("explain", str(EU), str(path), "--workload", "nope")
    assert unknown.exit_code == 2 and "eu-chat" in unknown.output
    no_workload = run("explain", str(EU), str(path))
    assert no_workload.exit_code == 2 and "--workload" in no_workload.output
    other = run("explain", str(ROOT / "configs" / "us_carbon_vs_price.yaml"), str(path),
                "--workload", "eu-chat")  # fmt: skip
    assert other.exit_code == 2 and "Traceback" not in other.output


def test_terminal_progress_renders_incumbent_bound_and_gap():
    import io

    from rich.console import Console

    from placer.progress import terminal_progress

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    with terminal_progress(True, console) as report:
        assert report is not None
        report(Progress("LP bound", None, 100.0))
        report(Progress("MILP", 110.0, 99.0))  # a worse bound later does not replace 100
        report(Progress("MILP", 105.0, None))
    err = screen.getvalue()
    assert "105.00" in err and "100.00" in err and "4.762%" in err
    with terminal_progress(False) as silent:
        assert silent is None


def test_site_failure_screen_matches_rescoring_the_trimmed_plan(eu):
    """Losing a site = the plan without its placements, scored exactly (NumPy)."""
    from placer.plan.scoring import site_failure_scores

    scenario, plan = eu
    screen = site_failure_scores(scenario, plan)
    assert set(screen) == {s.id for s in scenario.sites}
    for site, s in screen.items():
        kept = [p for p in plan.placements if p.site != site]
        trimmed = plan.model_copy(update={"placements": kept})
        [want] = placer.score(scenario, trimmed, engine="numpy")
        assert s.objective_usd_per_h == pytest.approx(want.objective_usd_per_h, rel=1e-5)
        assert s.cost_usd_per_h == pytest.approx(want.cost_usd_per_h, rel=1e-5, abs=1e-3)
        assert s.violations.get("masked", 0) == want.violations.get("masked", 0)
