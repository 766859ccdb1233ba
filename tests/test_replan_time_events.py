"""`placer replan --event` on a timed scenario (placer.analysis.replan_time_events): each
change holds from --at on, the periods before it keep the scenario as it ran."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from placer.analysis.replan_time import replan_timed
from placer.analysis.replan_time_events import events_from
from placer.analysis.whatif_apply import apply_variant
from placer.analysis.whatif_parse import Variant, parse_change
from placer.api import solve
from placer.cli.main import cli
from placer.cli.replan_cmd import _timed_exit
from placer.errors import OptionError
from placer.model.load import read_scenario_document
from placer.model.scenario import Scenario
from placer.plan.verify import verify
from placer.problem.compile_time import demand_per_period

ROOT = Path(__file__).resolve().parent.parent
SMALL_DAY = ROOT / "configs" / "time" / "small_day.yaml"
PERIODS = 24


def _doc() -> dict:
    return read_scenario_document(SMALL_DAY)[0]


def _events(*texts: str) -> Variant:
    return Variant("; ".join(texts), tuple(parse_change(t) for t in texts))


def _site(scenario: Scenario, site_id: str):
    return next(s for s in scenario.sites if s.id == site_id)


def test_a_figure_per_period_changes_from_at_on() -> None:
    doc = _doc()
    plain = Scenario.model_validate(doc)
    changed, events = events_from(
        doc, _events("sites.dfw-hall.power.price_usd_per_kwh=*2"), plain.horizon, 7
    )
    after = Scenario.model_validate(changed)
    old = _site(plain, "dfw-hall").power.price_usd_per_kwh
    new = _site(after, "dfw-hall").power.price_usd_per_kwh
    assert isinstance(old, list) and len(new) == PERIODS
    assert new[:7] == old[:7]
    assert new[7:] == pytest.approx([2 * p for p in old[7:]])
    (event,) = events
    assert event.from_period == 7 and event.path == "sites.dfw-hall.power.price_usd_per_kwh"
    assert event.before == old[7] and event.after == pytest.approx(2 * old[7])
    assert doc == _doc()  # the input is left untouched


def test_a_number_becomes_a_series_and_a_demand_keeps_its_daily_profile() -> None:
    doc = _doc()
    plain = Scenario.model_validate(doc)
    changed, events = events_from(
        doc,
        _events(
            "sites.dfw-hall.power.it_capacity_kw=-100", "workloads.chat.demand_rps.us-dfw=*1.5"
        ),
        plain.horizon,
        5,
    )
    after = Scenario.model_validate(changed)
    cap = _site(plain, "dfw-hall").power.it_capacity_kw
    assert not isinstance(cap, list)
    assert _site(after, "dfw-hall").power.it_capacity_kw == [cap] * 5 + [cap - 100] * 19
    chat = {w.id: w for w in plain.workloads}["chat"]
    chat_after = {w.id: w for w in after.workloads}["chat"]
    was = demand_per_period(chat, "us-dfw", plain.horizon)
    now = demand_per_period(chat_after, "us-dfw", after.horizon)
    assert len(set(was)) > 1  # the profile shapes the demand
    assert now[:5] == pytest.approx(was[:5])
    assert now[5:] == pytest.approx([1.5 * d for d in was[5:]])
    # the other region of the service keeps its number and profile
    assert demand_per_period(chat_after, "us-nyc", after.horizon) == pytest.approx(
        demand_per_period(chat, "us-nyc", plain.horizon)
    )
    assert [e.from_period for e in events] == [5, 5]


def test_down_empties_the_pools_from_at_on_and_other_fields_hold_throughout() -> None:
    doc = _doc()
    plain = Scenario.model_validate(doc)
    changed, events = events_from(
        doc, _events("sites.dfw-hall=down", "workloads.chat.latency_slo_ms=80"), plain.horizon, 9
    )
    after = Scenario.model_validate(changed)
    for pool, was in zip(
        _site(after, "dfw-hall").pools, _site(plain, "dfw-hall").pools, strict=True
    ):
        gpus = was.gpus if isinstance(was.gpus, list) else [was.gpus] * PERIODS
        assert pool.gpus == gpus[:9] + [0] * 15
    down, slo = events
    assert down.from_period == 9 and down.after == 0 and down.before > 0
    assert slo.from_period is None and (slo.before, slo.after) == (50, 80)
    assert {w.id: w for w in after.workloads}["chat"].latency_slo_ms == 80


def test_a_change_that_cannot_start_at_at_is_refused() -> None:
    doc = _doc()
    horizon = Scenario.model_validate(doc).horizon
    with pytest.raises(OptionError, match="cleared after the change"):
        events_from(doc, _events("sites.dfw-hall.power.it_capacity_kw=null"), horizon, 3)
    with pytest.raises(OptionError, match="not set before the change"):
        events_from(doc, _events("sites.iad-hall.power.grid_cap_kw=900"), horizon, 3)
    with pytest.raises(OptionError, match="has 3 values after the change"):
        events_from(doc, _events("sites.dfw-hall.power.price_usd_per_kwh=[1, 2, 3]"), horizon, 3)
    with pytest.raises(OptionError, match="is the string 'abc' after the change"):
        events_from(doc, _events("sites.dfw-hall.power.price_usd_per_kwh=abc"), horizon, 3)
    with pytest.raises(OptionError, match="keeps the horizon of the plan being run"):
        events_from(doc, _events("horizon.periods=12"), horizon, 3)
    # a list of other things (grid events, pools) is not a figure per period
    _, (event,) = events_from(doc, _events("sites.dfw-hall.grid_events=[]"), horizon, 3)
    assert event.from_period is None and event.after == []
    shapes = copy.deepcopy(doc)
    pool = shapes["sites"][1]["pools"][0]
    pool.pop("gpus")
    pool["nodes"] = [{"count": 4, "gpus": 8, "cpu": 200, "memory_gb": 1900, "power_kw": 10.2}]
    with pytest.raises(OptionError, match="lists node shapes"):
        events_from(shapes, _events("sites.iad-hall=down"), horizon, 3)


@pytest.fixture(scope="module")
def running() -> tuple[dict, Scenario]:
    doc = _doc()
    for w in doc["workloads"]:
        if w["kind"] == "training":
            w["preemptible"] = True
            w["must_place"] = False
            w["value_usd_per_h"] = 2000.0
    scenario = Scenario.model_validate(doc)
    return doc, solve(scenario, solver="milp", time_limit_s=20)


def test_a_site_lost_at_at_keeps_the_history_and_leaves_the_site(running) -> None:
    doc, current = running
    at = 8
    changed, events = events_from(doc, _events("sites.dfw-hall=down"), current_horizon(doc), at)
    now = Scenario.model_validate(changed)
    report = replan_timed(now, current, at=at, solver="milp", time_limit_s=30, events=events)
    assert report.events == events
    assert not report.current_valid
    # what broke is the site's pools from `at` on, nothing before it
    assert all("dfw-hall" in p for p in report.current_problems)
    assert all(int(p.split("period ")[1].split(":")[0]) >= at for p in report.current_problems)
    assert verify(now, report.plan) == []
    # both fine-tunes run at Dallas at `at` (the fixture's plan) and stop there
    stopped = [n for n in report.notes if "under way at period 8" in n]
    assert len(stopped) == 2 and all(n.endswith("it stops") for n in stopped)
    for p in report.plan.placements:
        spans = p.segments or [p]
        for s in spans:
            last = s.start_period + s.periods - 1 if p.kind == "training" else p.period
            if (s.site or p.site) == "dfw-hall":
                assert last < at, (p.unit, s)
    before = {(p.unit, p.period): p.pool for p in current.placements if p.kind == "inference"}
    after = {(p.unit, p.period): p.pool for p in report.plan.placements if p.kind == "inference"}
    assert {k: v for k, v in after.items() if k[1] < at} == {
        k: v for k, v in before.items() if k[1] < at
    }


def _replan_args(folder: Path, doc: dict, current) -> list[str]:
    """`placer replan SCENARIO --current PLAN` with both written to `folder`."""
    (folder / "now.json").write_text(json.dumps(doc))
    (folder / "plan.json").write_text(current.model_dump_json())
    return ["replan", str(folder / "now.json"), "--current", str(folder / "plan.json")]


def current_horizon(doc: dict):
    return Scenario.model_validate(doc).horizon


def test_the_command_with_events_and_series_files(tmp_path: Path, running) -> None:
    doc, current = running
    # a price given as a CSV series file next to the scenario (read before the events)
    site = doc["sites"][0]
    prices = site["power"]["price_usd_per_kwh"]
    rows = [
        f"2022-06-07T{t:02d}:00:00+00:00,{p}"
        for t, p in enumerate(prices if isinstance(prices, list) else [prices] * PERIODS)
    ]
    (tmp_path / "price.csv").write_text("time,price\n" + "\n".join(rows) + "\n")
    on_file = copy.deepcopy(doc)
    on_file["sites"][0]["power"]["price_usd_per_kwh"] = {"file": "price.csv", "column": "price"}
    runner = CliRunner()
    args = [*_replan_args(tmp_path, on_file, current), "--at", "6"]
    result = runner.invoke(cli, [*args, "--solver", "milp"])
    assert result.exit_code == 0, result.output
    assert "the current plan still holds" in result.output
    out = tmp_path / "after.json"
    event = f"sites.{site['id']}.power.price_usd_per_kwh=*3"
    result = runner.invoke(cli, [*args, "--event", event, "-o", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["events"][0]["from_period"] == 6
    assert report["events"][0]["after"] == pytest.approx(3 * report["events"][0]["before"])
    assert report["objective_usd"] > report["current_objective_usd"] - 1e-6 or report["changes"]
    result = runner.invoke(cli, [*args, "--event", event])
    assert f"event {event}: " in result.output and "from period 6" in result.output
    for bad, words in (
        ("sites.nowhere=down", "sites has no id 'nowhere'"),
        ("sites.iad-hall.power.grid_cap_kw=-25%", "grid_cap_kw is null"),
    ):
        result = runner.invoke(cli, [*args, "--event", bad])
        assert result.exit_code == 2 and words in result.output, result.output


_FIGURES = (
    "sites.dfw-hall.power.price_usd_per_kwh",
    "sites.dfw-hall.power.carbon_g_per_kwh",
    "sites.dfw-hall.power.it_capacity_kw",
    "sites.iad-hall.power.price_usd_per_kwh",
    "sites.iad-hall.pools.H100-SXM.gpus",
    "workloads.chat.demand_rps.us-dfw",
    "workloads.chat.demand_rps.us-nyc",
)


@settings(max_examples=40, deadline=None)
@given(
    at=st.integers(0, PERIODS - 1),
    picks=st.lists(
        st.tuples(st.sampled_from(_FIGURES), st.sampled_from(["*0.5", "*1.25", "+10%", "-5%"])),
        min_size=1,
        max_size=3,
    ),
    down=st.sampled_from([None, "sites.aws-us-east-1", "sites.dfw-hall.pools.h100-new"]),
)
def test_every_event_keeps_the_periods_before_at_and_changes_those_after(at, picks, down):
    """Whatever the changes, the scenario before `at` is the one that ran, and from `at` on
    it is what the same changes make of the whole horizon (`placer whatif`'s document)."""
    doc = _doc()
    plain = Scenario.model_validate(doc)
    texts = [f"{path}={value}" for path, value in picks] + ([f"{down}=down"] if down else [])
    changed, events = events_from(doc, _events(*texts), plain.horizon, at)
    whole, _ = apply_variant(doc, _events(*texts))
    now = Scenario.model_validate(changed)
    everywhere = Scenario.model_validate(whole)
    assert len(events) == len(texts) and all(e.from_period == at for e in events)
    for scenario_t, reference in ((range(at), plain), (range(at, PERIODS), everywhere)):
        for t in scenario_t:
            assert _figures_at(now, t) == pytest.approx(_figures_at(reference, t)), t


def _figures_at(scenario: Scenario, t: int) -> list[float]:
    """Every figure `_FIGURES` and the downs touch, in period t."""
    out = []
    for site in scenario.sites:
        for name in ("price_usd_per_kwh", "carbon_g_per_kwh", "it_capacity_kw"):
            out.append(_at(getattr(site.power, name), t))
        out += [_at(pool.gpus, t) for pool in site.pools]
    chat = {w.id: w for w in scenario.workloads}["chat"]
    out += [demand_per_period(chat, r, scenario.horizon)[t] for r in sorted(chat.demand_rps)]
    return out


def _at(value, t: int) -> float:
    if value is None:
        return float("inf")
    return float(value[t] if isinstance(value, list) else value)


def test_a_change_over_the_whole_horizon_that_breaks_the_past_says_so(running) -> None:
    """A PUE does not vary by period: raised, it holds from period 0, and what ran before
    --at breaks Dallas's IT-derived grid draw there, so the command exits 1."""
    doc, current = running
    with_cap = copy.deepcopy(doc)
    with_cap["sites"][0]["power"]["grid_cap_kw"] = 640.0
    scenario = Scenario.model_validate(with_cap)
    changed, events = events_from(
        with_cap, _events("sites.dfw-hall.power.pue=1.6"), scenario.horizon, 12
    )
    assert events[0].from_period is None and (events[0].before, events[0].after) == (1.25, 1.6)
    now = Scenario.model_validate(changed)
    report = replan_timed(now, current, at=12, solver="milp", time_limit_s=20, events=events)
    past = [v for v in report.violations if "dfw-hall" in v and "facility" in v]
    assert past, report.violations
    assert all(int(v.split("period ")[1].split(":")[0]) < 12 for v in past)
    assert _timed_exit(report) == 1


_PATHS = (
    "sites.dfw-hall",
    "sites.dfw-hall.power",
    "sites.dfw-hall.power.price_usd_per_kwh",
    "sites.dfw-hall.power.grid_cap_kw",
    "sites.dfw-hall.pools.h100-new",
    "sites.dfw-hall.pools.h100-new.gpus",
    "sites.dfw-hall.pools.h100-new.available_from",
    "sites.dfw-hall.grid_events",
    "sites.dfw-hall.grid_events.0.cut_pct",
    "workloads.chat",
    "workloads.chat.demand_rps.us-dfw",
    "workloads.chat.demand_profile",
    "workloads.finetune-a.deadline",
    "objective.budget_usd_per_period_h",
    "sites",
    "horizon.periods",
    "sites.nowhere.power",
)
_VALUES = ("down", "*2", "+10", "-50%", "null", "0", "-1", "1e308", "nan", "[1, 2]", "[]")
_VALUES += ("abc", "true", "2022-06-07T10:00:00+00:00", "[" + ", ".join(["0.5"] * PERIODS) + "]")


#: Events that make a valid scenario, so that half the cases re-plan.
_VALID = (
    "sites.dfw-hall=down",
    "sites.iad-hall.pools.H100-SXM=down",
    "sites.dfw-hall.power.price_usd_per_kwh=*3",
    "sites.dfw-hall.power.it_capacity_kw=-40%",
    "sites.dfw-hall.pools.h100-new.gpus=0",
    "workloads.chat.demand_rps.us-dfw=*1.5",
    "workloads.chat.latency_slo_ms=30",
    "sites.iad-hall.power.carbon_g_per_kwh=+100",
)
_ANY = st.tuples(st.sampled_from(_PATHS), st.sampled_from(_VALUES)).map("=".join)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(st.one_of(st.sampled_from(_VALID), _ANY), min_size=1, max_size=2),
    at=st.integers(0, PERIODS - 1),
)
def test_any_event_gives_a_plan_or_a_clear_error(tmp_path_factory, running, events, at):
    """Whatever the --event, the command exits with one of its codes and a message, never
    a traceback."""
    doc, current = running
    args = _replan_args(tmp_path_factory.mktemp("fuzz"), doc, current)
    args += ["--at", str(at), "--time-limit-s", "5"]
    for event in events:
        args += ["--event", event]
    result = CliRunner().invoke(cli, args)
    assert isinstance(result.exception, SystemExit | None), result.exception
    assert result.exit_code in (0, 1, 2, 3, 4), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output.lower()
    if result.exit_code == 2:
        assert result.output.strip().splitlines()[-1], result.output


def test_a_tighter_slo_moves_the_units_it_rules_out_and_names_the_past_it_breaks(
    tmp_path: Path, running
) -> None:
    """A latency SLO of 30 ms rules out Ashburn for Dallas's users: from period 0 the
    re-plan moves those units (each a priced change from Ashburn); from period 6 the units
    that ran there before it break the scenario now (exit 1, named)."""
    doc, current = running
    assert any(
        p.site == "iad-hall" and p.region == "us-dfw" for p in current.placements if p.period
    )
    runner = CliRunner()
    args = [*_replan_args(tmp_path, doc, current), "--format", "json"]
    slo = ["--event", "workloads.chat.latency_slo_ms=30"]
    result = runner.invoke(cli, [*args, "--at", "0", *slo])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    moved = [c for c in report["changes"] if c["before"] == "iad-hall/H100-SXM"]
    assert moved and all(c["after"] != "iad-hall/H100-SXM" and c["cost_usd"] > 0 for c in moved)
    assert report["past_lost"] == [] and report["violations"] == []
    result = runner.invoke(cli, [*args, "--at", "6", *slo])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    lost = report["past_lost"]
    assert lost and all(int(u.split("@")[1].split(".")[0]) < 6 for u in lost)
    assert "placed before --at" in result.stderr
    # pools removed over the whole horizon: the run under way there is named too
    result = runner.invoke(cli, [*args, "--at", "6", "--event", "sites.dfw-hall.pools=[]"])
    assert result.exit_code == 1, result.output
    assert "finetune-b" in json.loads(result.stdout)["past_lost"]  # ran there from period 5
