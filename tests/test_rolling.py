"""Rolling-horizon re-planning (placer.analysis.rolling) on configs/time/small_day.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from placer.analysis.rolling import _fixed_runs, roll
from placer.analysis.rolling_window import Run, forecast_series, window_scenario
from placer.api import load
from placer.cli.rolling_cmd import rolling_command
from placer.errors import OptionError
from placer.model.scenario import Scenario
from placer.plan.verify import verify
from placer.problem.compile import compile_problem

ROOT = Path(__file__).resolve().parent.parent
SMALL_DAY = ROOT / "configs" / "time" / "small_day.yaml"


@pytest.fixture(scope="module")
def day() -> Scenario:
    return load(SMALL_DAY)


@pytest.fixture(scope="module")
def two_days(day: Scenario) -> Scenario:
    """small_day over 48 periods: the second day's prices and carbon are the first's
    reversed (so yesterday is a poor forecast), and a third run on the second day."""
    doc = day.model_dump(mode="json")
    doc["horizon"]["periods"] = 48
    for site in doc["sites"]:
        power = site["power"]
        for name in ("price_usd_per_kwh", "carbon_g_per_kwh"):
            if isinstance(power[name], list):
                power[name] = power[name] + power[name][::-1]
    run = dict(next(w for w in doc["workloads"] if w["id"] == "finetune-a"))
    run.update(
        id="finetune-c",
        earliest_start="2022-06-08T00:00:00+00:00",
        deadline="2022-06-08T23:00:00+00:00",
    )
    doc["workloads"].append(run)
    return Scenario.model_validate(doc)


@pytest.fixture(scope="module")
def every6(day: Scenario):
    return roll(day, every_periods=6, lookahead_periods=12, time_limit_s=10)


def test_realised_schedule_passes_the_verifier(day, every6):
    assert every6.replans == 4
    assert every6.plan is not None
    assert verify(day, every6.plan) == []
    r = every6.rolling
    assert r.violations == [] and r.runs_missed == [] and r.unserved_units == 0
    assert r.runs_on_time == r.runs == 2
    assert every6.oracle is not None and every6.baseline is not None
    assert every6.gap_vs_oracle_cost_pct is not None


def test_committed_runs_are_never_moved_or_restarted(every6):
    committed = [(s, w) for s in every6.steps for w in s.committed_runs]
    assert sorted(w for _, w in committed) == ["finetune-a", "finetune-b"]  # once each
    placed = {p.workload: p for p in every6.plan.placements if p.kind == "training"}
    for step, w in committed:
        assert step.t <= placed[w].start_period < step.t + every6.every_periods


def test_a_running_run_is_pinned_to_its_pool(day):
    run = Run("dfw-hall/h100-new", "dfw-hall", "H100-SXM", start=2, hours=12.0)
    window, missed = window_scenario(day, 6, 18, {"finetune-a": run}, "persistence")
    assert missed == [] and window.horizon.periods == 12
    w = next(w for w in window.workloads if w.id == "finetune-a")
    assert w.hours == pytest.approx(8.0) and w.pin_sites == ["dfw-hall"] and w.must_place
    problem, index = compile_problem(window)
    problem = _fixed_runs(problem, index, {"finetune-a": run})
    u = next(i for i, x in enumerate(index.units) if x.workload == "finetune-a")
    options, _ = problem.options_of(u)
    assert [index.pools[problem.pool_o[o]].name for o in options] == ["dfw-hall/h100-new"]
    assert index.time.start_o[options].tolist() == [0]


def test_perfect_forecast_every_period_reproduces_the_oracle(day):
    report = roll(
        day,
        every_periods=1,
        forecast="perfect",
        price_moves_in_replan=False,
        baseline=False,
        time_limit_s=10,
    )
    assert report.rolling.violations == []
    oracle = report.oracle
    assert oracle is not None and oracle.status == "optimal"
    assert report.rolling.objective_usd == pytest.approx(oracle.objective_usd, rel=2e-4)


def test_persistence_forecast_repeats_yesterday():
    actual = [float(h) for h in range(72)]
    assert forecast_series(actual, 30, 34, "perfect", 24) == [30.0, 31.0, 32.0, 33.0]
    assert forecast_series(actual, 30, 34, "persistence", 24) == [6.0, 7.0, 8.0, 9.0]
    # a day and more ahead: the latest observed same hour
    assert forecast_series(actual, 30, 56, "persistence", 24)[-2:] == [6.0, 7.0]
    # no history before the start: the day before is taken to be the first day
    assert forecast_series(actual, 0, 3, "persistence", 24) == [0.0, 1.0, 2.0]


def test_persistence_differs_from_perfect(two_days):
    kwargs = dict(every_periods=6, lookahead_periods=24, time_limit_s=10, baseline=False)
    guess = roll(two_days, forecast="persistence", oracle=False, **kwargs)
    truth = roll(two_days, forecast="perfect", **kwargs)
    assert guess.rolling.violations == [] and truth.rolling.violations == []
    window, _ = window_scenario(two_days, 24, 48, {}, "persistence")
    actual, _ = window_scenario(two_days, 24, 48, {}, "perfect")
    assert window.sites[0].power.price_usd_per_kwh != actual.sites[0].power.price_usd_per_kwh
    assert guess.rolling.objective_usd > truth.rolling.objective_usd + 1e-6
    assert truth.gap_vs_oracle_objective_pct == pytest.approx(0.0, abs=0.05)


def test_bad_options_are_refused(day):
    with pytest.raises(OptionError, match="--lookahead"):
        roll(day, every_periods=6, lookahead_periods=3)
    with pytest.raises(OptionError, match="--every"):
        roll(day, every_periods=0)
    with pytest.raises(OptionError, match="--time-limit-s"):
        roll(day, time_limit_s=float("nan"))


def test_cli_json_and_table(tmp_path):
    runner = CliRunner()
    out = tmp_path / "report.json"
    args = [str(SMALL_DAY), "--every", "6", "--lookahead", "12", "--time-limit-s", "5"]
    result = runner.invoke(rolling_command, [*args, "--format", "json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["kind"] == "RollingReport" and report["rolling"]["violations"] == []
    assert json.loads(out.read_text())["replans"] == 4
    table = runner.invoke(rolling_command, args)
    assert table.exit_code == 0, table.output
    assert "rolling vs oracle" in table.output and "baseline (greedy)" in table.output


def _five_hour_periods(day: Scenario, path: Path) -> Path:
    doc = day.model_dump(mode="json", exclude_none=True)
    doc["horizon"]["period_hours"] = 5
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    "case, words",
    [
        ("static", "SCENARIO"),
        ("lookahead", "--lookahead"),
        ("default lookahead", "more than the default --lookahead of 48 periods"),
        ("period", "does not divide"),
    ],
)
def test_cli_bad_input_exits_2(case, words, day, tmp_path):
    args = {
        "static": [str(ROOT / "placer" / "data" / "eu_sovereign.yaml")],
        "lookahead": [str(SMALL_DAY), "--every", "6", "--lookahead", "4"],
        "default lookahead": [str(SMALL_DAY), "--every", "60"],
        "period": [str(_five_hour_periods(day, tmp_path / "five.json"))],
    }[case]
    result = CliRunner().invoke(rolling_command, args)
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
