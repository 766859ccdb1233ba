"""The `placer` command line end to end (click's CliRunner; exit codes as in placer/cli/main.py)."""

from __future__ import annotations

import errno
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from ruamel.yaml import YAML

from placer.cli.main import cli

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))
EXIT_OK, EXIT_VERIFY_FAILED, EXIT_BAD_INPUT, EXIT_INFEASIBLE = 0, 1, 2, 3


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def assert_clean(result: Result) -> None:
    assert "Traceback" not in result.output
    assert "internal error" not in result.output


def _yaml(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(io.StringIO(text))


@pytest.fixture
def feasible_dict(minimal_scenario_dict: dict[str, Any]) -> dict[str, Any]:
    # The minimal scenario's on-prem H100 racks draw 1.274 kW x 8 x 4 = 40.8 kW, over the
    # default 40 kW rack limit; 50 kW racks make it solvable.
    minimal_scenario_dict["sites"][0]["cooling"] = {"max_rack_density_kw": 50}
    # H100 only: otherwise greedy gives the gang the cheaper L4 pool chat needs.
    minimal_scenario_dict["workloads"][0]["accelerators"] = ["H100-SXM"]
    return minimal_scenario_dict


@pytest.fixture
def scenario_file(feasible_dict, write_yaml: Callable[..., Path]) -> Path:
    return write_yaml(feasible_dict)


@pytest.fixture
def infeasible_file(feasible_dict, write_yaml: Callable[..., Path]) -> Path:
    # No GPU has 1,000 GB: the must-place training run has no feasible pool.
    feasible_dict["workloads"][0]["min_gpu_memory_gb"] = 1000
    return write_yaml(feasible_dict, "infeasible.yaml")


# ---- solve -------------------------------------------------------------------------------


def test_solve_bundled_default_prints_a_table() -> None:
    result = run("solve")
    assert result.exit_code == EXIT_OK, result.output
    assert result.stdout.startswith("placer plan")
    for section in ("Placements", "Sites", "objective"):
        assert section in result.stdout
    assert_clean(result)


def test_solve_json(scenario_file: Path) -> None:
    result = run("solve", str(scenario_file), "--format", "json")
    assert result.exit_code == EXIT_OK, result.output
    plan = json.loads(result.stdout)
    assert plan["apiVersion"] == "placer/v1"
    assert plan["kind"] == "Plan"
    assert plan["status"] == "optimal"
    assert {p["unit"] for p in plan["placements"]} == {
        "train-llm",
        "chat/eu-central",
        "chat/eu-north",
    }


def test_solve_yaml(scenario_file: Path) -> None:
    result = run("solve", str(scenario_file), "--format", "yaml", "--solver", "greedy")
    assert result.exit_code == EXIT_OK, result.output
    plan = _yaml(result.stdout)
    assert (plan["apiVersion"], plan["solver"], plan["status"]) == (
        "placer/v1",
        "greedy",
        "feasible",
    )


def test_quiet_prints_one_json_line(scenario_file: Path) -> None:
    result = run("solve", str(scenario_file), "--quiet")
    assert result.exit_code == EXIT_OK, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["status"] == "optimal"
    assert summary["placed_units"] == 3


@pytest.mark.parametrize("name", ["plan.json", "plan.yaml", "plan.yml"])
def test_written_plan_verifies(scenario_file: Path, tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    result = run("solve", str(scenario_file), "-o", str(out), "--quiet")
    assert result.exit_code == EXIT_OK, result.output
    text = out.read_text("utf-8")
    data = json.loads(text) if name.endswith(".json") else _yaml(text)
    assert data["apiVersion"] == "placer/v1"
    if not name.endswith(".json"):
        assert not text.lstrip().startswith("{")  # really YAML
    checked = run("verify", str(scenario_file), str(out))
    assert checked.exit_code == EXIT_OK, checked.output
    assert "OK" in checked.stdout
    as_json = run("verify", str(scenario_file), str(out), "--json")
    assert as_json.exit_code == EXIT_OK
    report = json.loads(as_json.stdout)
    assert report["ok"] is True and report["violations"] == []


def test_tampered_plan_fails_verify(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    assert run("solve", str(scenario_file), "-o", str(out), "--quiet").exit_code == EXIT_OK
    plan = json.loads(out.read_text("utf-8"))
    train = next(p for p in plan["placements"] if p["unit"] == "train-llm")
    train["gpus"] = 8  # the gang needs 32
    out.write_text(json.dumps(plan), "utf-8")
    result = run("verify", str(scenario_file), str(out))
    assert result.exit_code == EXIT_VERIFY_FAILED
    assert "gpus: train-llm" in result.stdout
    assert_clean(result)
    as_json = json.loads(run("verify", str(scenario_file), str(out), "--json").stdout)
    assert as_json["ok"] is False
    assert {"kind": "gpus", "subject": "train-llm"}.items() <= as_json["violations"][0].items()


def test_plan_of_another_scenario_fails_verify(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "default-plan.json"
    assert run("solve", "--quiet", "-o", str(out)).exit_code == EXIT_OK
    result = run("verify", str(scenario_file), str(out))
    assert result.exit_code == EXIT_VERIFY_FAILED
    assert "unknown_unit" in result.stdout
    assert_clean(result)


def test_stdin_scenario(feasible_dict: dict[str, Any]) -> None:
    result = run("solve", "-", "--quiet", input=json.dumps(feasible_dict))
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads(result.stdout)["status"] == "optimal"
    validated = run("validate", "-", input=json.dumps(feasible_dict))
    assert validated.exit_code == EXIT_OK
    assert validated.stdout.startswith("-: valid")


def test_greedy_and_milp_both_solve(scenario_file: Path) -> None:
    for solver in ("greedy", "milp", "auto"):
        result = run("solve", str(scenario_file), "--solver", solver, "--quiet")
        assert result.exit_code == EXIT_OK, (solver, result.output)


# ---- infeasible --------------------------------------------------------------------------


def test_infeasible_exits_3_and_explains(infeasible_file: Path) -> None:
    result = run("solve", str(infeasible_file))
    assert result.exit_code == EXIT_INFEASIBLE
    assert "Why no plan exists" in result.stdout
    assert "train-llm" in result.stdout
    assert "GPU memory too small" in result.stdout
    assert_clean(result)


def test_explain_infeasible(infeasible_file: Path) -> None:
    result = run("explain", str(infeasible_file))
    assert result.exit_code == EXIT_INFEASIBLE
    assert "Why no plan exists" in result.stdout
    assert_clean(result)
    as_json = json.loads(run("explain", str(infeasible_file), "--json").stdout)
    assert as_json["status"] == "infeasible"
    assert as_json["infeasibility"]["unplaceable"][0]["unit"] == "train-llm"


def test_explain_feasible(scenario_file: Path) -> None:
    result = run("explain", str(scenario_file))
    assert result.exit_code == EXIT_OK, result.output
    assert result.stdout.startswith("OPTIMAL")


# ---- validate, schema, help --------------------------------------------------------------


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_validate_every_config(path: Path) -> None:
    result = run("validate", str(path))
    assert result.exit_code == EXIT_OK, result.output
    assert "valid" in result.stdout
    assert "error:" not in result.stdout


def test_there_are_configs() -> None:
    assert len(CONFIGS) >= 3


def test_validate_flags_an_unplaceable_unit(infeasible_file: Path) -> None:
    result = run("validate", str(infeasible_file))
    # the file is valid; the must-place unit with no feasible pool is an error line, and
    # no plan can exist: exit 3, as solve's for an infeasible scenario.
    assert result.exit_code == EXIT_INFEASIBLE
    assert "error: train-llm: no feasible pool" in result.stdout
    assert "no plan exists" in result.stderr


def test_schema_is_json() -> None:
    result = run("schema")
    assert result.exit_code == EXIT_OK
    schema = json.loads(result.stdout)
    assert {"sites", "workloads"} <= set(schema["properties"])


def _commands() -> list[list[str]]:
    return [[], *([name] for name in sorted(cli.commands))]


@pytest.mark.parametrize("command", _commands(), ids=lambda c: c[0] if c else "placer")
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == EXIT_OK
    assert "Example:" in result.stdout
    assert run(*command, "-h").stdout == result.stdout


def test_the_commands() -> None:
    assert set(cli.commands) >= {"solve", "verify", "validate", "schema", "explain"}


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == EXIT_OK
    assert "version" in result.stdout


# ---- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["solve", "validate", "explain"])
def test_missing_scenario_file(command: str, tmp_path: Path) -> None:
    result = run(command, str(tmp_path / "nope.yaml"))
    assert result.exit_code == EXIT_BAD_INPUT
    assert "nope.yaml" in result.output
    assert_clean(result)


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("sites: [", "not valid YAML"),
        ("apiVersion: placer/v1\nkind: Scenario\nsites: []\nworkloads: []\n", "site"),
        ("- a list\n", "mapping"),
    ],
    ids=["syntax", "no-sites", "list"],
)
def test_invalid_scenario(text: str, phrase: str, write_yaml) -> None:
    path = write_yaml(text, "bad.yaml")
    for command in ("solve", "validate"):
        result = run(command, str(path))
        assert result.exit_code == EXIT_BAD_INPUT, result.output
        assert phrase in result.output
        assert "bad.yaml" in result.output
        assert_clean(result)


def test_invalid_field_is_named(feasible_dict, write_yaml) -> None:
    feasible_dict["sites"][0]["power"]["pue"] = 0.5
    result = run("solve", str(write_yaml(feasible_dict)))
    assert result.exit_code == EXIT_BAD_INPUT
    assert "sites.0.power.pue" in result.output
    assert_clean(result)


def test_bad_stdin() -> None:
    result = run("solve", "-", input="kind: [")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "<stdin>" in result.output
    assert_clean(result)


def test_bad_plan_file(scenario_file: Path, write_yaml) -> None:
    for text in ("{not json", "apiVersion: placer/v1\nkind: Plan\n", "[]"):
        plan = write_yaml(text, "plan.yaml")
        result = run("verify", str(scenario_file), str(plan))
        assert result.exit_code == EXIT_BAD_INPUT, (text, result.output)
        assert_clean(result)


def test_unknown_solver_is_a_clear_bad_option(scenario_file: Path) -> None:
    result = run("solve", str(scenario_file), "--solver", "simplex")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "unknown solver 'simplex'" in result.output
    assert "greedy" in result.output and "milp" in result.output
    assert_clean(result)


def test_unknown_backend_is_a_clear_bad_option(scenario_file: Path) -> None:
    result = run("solve", str(scenario_file), "--solver", "milp", "--backend", "cplex")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "cplex" in result.output and "highs" in result.output
    assert_clean(result)


@pytest.mark.parametrize(
    "option",
    [["--time-limit-s", "0"], ["--format", "xml"], ["--workers", "0"], ["--gap", "-1"]],
    ids=["time-limit", "format", "workers", "gap"],
)
def test_bad_option_values(scenario_file: Path, option: list[str]) -> None:
    result = run("solve", str(scenario_file), *option)
    assert result.exit_code == EXIT_BAD_INPUT
    assert option[0] in result.output
    assert_clean(result)


# ---- writing the plan --------------------------------------------------------------------


def test_output_into_a_missing_folder(scenario_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "plan.json"
    result = run("solve", str(scenario_file), "-o", str(target), "--quiet")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "cannot write" in result.output
    assert not target.parent.exists()
    assert_clean(result)


def test_output_onto_a_folder(scenario_file: Path, tmp_path: Path) -> None:
    result = run("solve", str(scenario_file), "-o", str(tmp_path), "--quiet")
    assert result.exit_code == EXIT_BAD_INPUT
    assert tmp_path.is_dir()
    assert_clean(result)


def _failing_replace(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_failed_write_leaves_the_old_plan(
    scenario_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "plan.json"
    out.write_text("the previous plan", "utf-8")
    monkeypatch.setattr(os, "replace", _failing_replace)
    result = run("solve", str(scenario_file), "-o", str(out), "--quiet")
    monkeypatch.undo()
    assert result.exit_code != EXIT_OK
    assert "Traceback" not in result.output
    assert out.read_text("utf-8") == "the previous plan"
    # no temporary file is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["plan.json", "scenario.yaml"])


def test_failed_write_is_not_an_internal_error(
    scenario_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "plan.json"
    monkeypatch.setattr(os, "replace", _failing_replace)
    result = run("solve", str(scenario_file), "-o", str(out), "--quiet")
    monkeypatch.undo()
    assert result.exit_code == EXIT_BAD_INPUT
    assert "cannot write" in result.output


def test_successful_write_replaces_the_old_plan(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    out.write_text("the previous plan", "utf-8")
    assert run("solve", str(scenario_file), "-o", str(out), "--quiet").exit_code == EXIT_OK
    assert json.loads(out.read_text("utf-8"))["kind"] == "Plan"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["plan.json", "scenario.yaml"])


def test_solve_layout_sparse_and_its_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --layout only picks the hybrid's path; "sparse" (the large path: prices from a sample
    # of units) runs, and gives a plan the independent verifier accepts.
    from placer import api

    large = api.HYBRID_PATHS["sparse"]
    calls: list[str] = []

    def recorded(*args: Any, **kwargs: Any) -> Any:
        calls.append("sparse")
        return large(*args, **kwargs)

    monkeypatch.setitem(api.HYBRID_PATHS, "sparse", recorded)
    edge = next(p for p in CONFIGS if p.name == "edge_inference.yaml")
    out = tmp_path / "plan.json"
    result = run(
        "solve",
        str(edge),
        "--solver",
        "hybrid",
        "--layout",
        "sparse",
        "--time-limit-s",
        "3",
        "-o",
        str(out),
        "--quiet",
    )
    assert result.exit_code == EXIT_OK, result.output
    summary = json.loads(result.output)
    assert summary["solver"] == "hybrid" and summary["status"] in ("optimal", "feasible")
    assert summary["bound_usd_per_h"] <= summary["objective_usd_per_h"]
    assert calls == ["sparse"]
    checked = run("verify", str(edge), str(out), "--json")
    assert checked.exit_code == EXIT_OK, checked.output
    assert json.loads(checked.stdout)["violations"] == []
    # an unknown layout is a usage error: exit 2, no traceback.
    bad = run("solve", str(edge), "--layout", "diagonal", "--quiet")
    assert bad.exit_code == EXIT_BAD_INPUT
    assert "--layout" in bad.output and "diagonal" in bad.output
    assert_clean(bad)
