"""Commands that compile the whole option table refuse a fleet that needs the restricted
layout (`compile_large.require_whole_table`) with a clear error and exit code 2, where
they would otherwise run out of memory part way (docs/engine.md, "the restricted
layout"). The limit is lowered so that configs/time/small_day.yaml passes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import placer
from placer.cli.main import cli
from placer.errors import OptionError
from placer.problem import compile_large
from placer.problem.compile_large import padded_bytes, require_whole_table

ROOT = Path(__file__).resolve().parents[1]
SMALL_DAY = ROOT / "configs" / "time" / "small_day.yaml"


@pytest.fixture
def tight(monkeypatch):
    """PADDED_BYTES_MAX below small_day's table."""
    monkeypatch.setattr(compile_large, "PADDED_BYTES_MAX", 1024.0)


def test_the_guard_passes_what_fits_and_names_the_size() -> None:
    day = placer.load(SMALL_DAY)
    require_whole_table(day, "placer robust")  # fits: nothing raised
    assert padded_bytes(day) > 1024.0


def test_the_guard_refuses_above_the_limit(tight) -> None:
    day = placer.load(SMALL_DAY)
    with pytest.raises(OptionError, match=r"placer robust: .* GiB .* restricted layout"):
        require_whole_table(day, "placer robust")


@pytest.mark.parametrize(
    "args",
    [
        ["robust", str(SMALL_DAY), "PLAN", "--samples", "8"],
        ["rolling", str(SMALL_DAY), "--every", "6"],
        ["pareto", str(SMALL_DAY), "--points", "3"],
    ],
)
def test_each_command_exits_2_with_the_message(tight, args: list[str], tmp_path: Path) -> None:
    if "PLAN" in args:  # greedy's plan (on the restricted layout: auto picks it here)
        plan = tmp_path / "plan.json"
        plan.write_text(placer.solve(placer.load(SMALL_DAY), solver="greedy").model_dump_json())
        args = [str(plan) if a == "PLAN" else a for a in args]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert f"placer {args[0]}: this fleet's whole option table" in result.output
    assert "Traceback" not in result.output


def _no_room() -> placer.Scenario:
    """small_day with every workload must-place and every pool one GPU: infeasible, and no
    unit has a single option (so column generation's master has no column)."""
    data = placer.load(SMALL_DAY).model_dump(mode="json", exclude_none=True)
    for w in data["workloads"]:
        w["must_place"] = True
    for site in data["sites"]:
        for pool in site["pools"]:
            pool["gpus"] = 1
    return placer.Scenario.model_validate(data)


def test_an_infeasible_fleet_on_the_restricted_layout_is_not_diagnosed(tight) -> None:
    """The diagnosis compiles the whole table: above the limit the plan says infeasible
    without fixes (below it, with them). Column generation on the sample, whose master
    has no column, once raised ValueError here."""
    plan = placer.explain(_no_room(), time_limit_s=20)
    assert plan.status == "infeasible" and plan.infeasibility is None


def test_an_infeasible_fleet_below_the_limit_is_diagnosed() -> None:
    plan = placer.explain(_no_room(), time_limit_s=20)
    assert plan.status == "infeasible" and plan.infeasibility is not None
