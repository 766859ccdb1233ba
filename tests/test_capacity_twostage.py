"""Two-stage capacity planning and the capacity KPIs (placer.capacity.twostage, .kpis;
docs/capacity.md): the language and its errors, the two-stage MILP against brute force,
regret >= 0, a hedge against a late grid connection, the KPIs against hand figures, the
CLI's JSON and HTML."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from placer.capacity import scenarios
from placer.capacity.check import check_capacity_plan
from placer.capacity.kpis import capacity_kpis
from placer.capacity.plan import plan_capacity
from placer.capacity.solve import solve_capacity
from placer.capacity.twostage import plan_two_stage
from placer.cli.capacity_cmd import capacity_command
from placer.engines.base import SolveOptions
from placer.engines.milp.solve import solve_milp
from placer.model.scenario import Scenario
from placer.model.yaml_text import read_document
from placer.problem.compile_time import compile_timed

TINY = Path(__file__).resolve().parents[1] / "configs" / "capacity" / "tiny.yaml"
LATE = Path(__file__).resolve().parents[1] / "configs" / "capacity" / "tiny_grid_risk.yaml"


def tiny_doc() -> dict:
    return read_document(TINY)[0]


def with_scenarios(doc: dict, *specs: dict, decide_by: str | None = None) -> dict:
    doc = copy.deepcopy(doc)
    doc["planning"]["scenarios"] = list(specs)
    if decide_by is not None:
        doc["planning"]["decide_by"] = decide_by
    return doc


# ---- the language -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("specs", "extra", "match"),
    [
        (
            [{"name": "a", "probability": 0.5}, {"name": "b", "probability": 0.4}],
            {},
            "planning.scenarios: the probabilities sum to 0.9",
        ),
        (
            [{"name": "a", "probability": 0.5}, {"name": "a", "probability": 0.5}],
            {},
            "planning.scenarios.1.name: duplicate scenario name",
        ),
        (
            [{"name": "a", "probability": 1.0, "delay_months": {"nowhere": 6}}],
            {},
            "planning.scenarios.0.delay_months.nowhere: unknown site or build option",
        ),
        (
            [{"name": "a", "probability": 1.0, "delay_months": {"commit-12": 6}}],
            {},
            "planning.scenarios.0.delay_months.commit-12: 'commit-12' is a cloud_commit",
        ),
        (
            [{"name": "a", "probability": 1.0, "demand_factors": {"nobody": 1.2}}],
            {},
            "planning.scenarios.0.demand_factors.nobody: unknown workload",
        ),
        (
            [{"name": "a", "probability": 1.5}],
            {},
            "probability",
        ),
        ([], {"decide_by": "2026-03-01T00:00:00+00:00"}, "planning.decide_by: it separates"),
    ],
)
def test_scenario_errors_name_the_field(specs, extra, match):
    doc = with_scenarios(tiny_doc(), *specs)
    doc["planning"].update(extra)
    with pytest.raises(ValidationError, match=match):
        Scenario.model_validate(doc)


def test_cli_bad_probabilities_exit_2_without_traceback(tmp_path):
    doc = with_scenarios(
        tiny_doc(), {"name": "a", "probability": 0.7}, {"name": "b", "probability": 0.7}
    )
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    out = CliRunner().invoke(capacity_command, [str(path)])
    assert out.exit_code == 2
    assert "planning.scenarios" in out.output and "sum to 1.4" in out.output
    assert "Traceback" not in out.output


# ---- brute force over every first stage ---------------------------------------------------


def _plan_cost(m: Scenario, arrivals: dict[str, list[int]], orders, n_t: int) -> float:
    """Placement MILP of the scenario with these arrivals (units arriving in each month,
    per option) + capex and opex by hand (discount 0). inf without a plan."""
    installed = {
        k: [sum(1 for a in arr if a <= t) for t in range(n_t)] for k, arr in arrivals.items()
    }
    problem, _ = compile_timed(scenarios.built(m, installed))
    res = solve_milp(problem, SolveOptions(time_limit_s=10, relative_gap=0.0), prices=False)
    if res.status != "optimal":
        return np.inf
    usd = res.objective_usd_per_h * m.horizon.hours
    for opt, _, arrival in orders:
        running = opt.fixed_opex_usd_per_month + opt.lease_usd_per_month
        usd += opt.capex_usd + running * max(0, n_t - arrival)
    return usd


def test_two_stage_matches_brute_force_over_every_first_stage():
    """Two futures (power on time, or 3 months late; demand x1 or x1.2), decide_by month
    2: every combination of orders (one node, one power block, each in any order month)
    is costed per future by the placement MILP alone; the two-stage optimum is the best
    first stage (orders before month 2) with each future's best recourse."""
    doc = tiny_doc()
    doc["horizon"]["periods"] = 5
    doc["planning"]["discount_rate_per_year"] = 0.0
    doc["build_options"] = copy.deepcopy(doc["build_options"][:2])
    doc["build_options"][0].update(max_units=1, lead_time_months=1)
    doc["build_options"][1].update(lead_time_months=1)
    futures = [
        {"name": "on-time", "probability": 0.6},
        {"name": "late", "probability": 0.4, "delay_months": {"hall": 3}, "demand_factor": 1.2},
    ]
    doc = with_scenarios(doc, *futures, decide_by="2026-03-02T20:00:00+00:00")  # month 2
    s = Scenario.model_validate(doc)
    m = scenarios.monthly(s)
    n_t = m.horizon.periods
    res = plan_two_stage(m, time_limit_s=60, relative_gap=0.0)
    assert res.status == "optimal" and res.decide_by_month == 2

    node, power = m.build_options
    energised = scenarios.month_of(m, power.energised)
    node_orders = [None, *range(0, n_t - 1)]  # lead 1: orders in months 0..3
    power_orders = [None, *range(max(0, energised - 1), n_t - 1)]
    demand = {"on-time": 1.0, "late": 1.2}
    delay = {"on-time": 0, "late": 3}
    cost: dict[tuple, dict[str, float]] = {}
    for no, po in itertools.product(node_orders, power_orders):
        first = (
            no if no is not None and no < 2 else None,
            po if po is not None and po < 2 else None,
        )
        for f in futures:
            name = f["name"]
            d = copy.deepcopy(doc)
            d["planning"].pop("scenarios")
            d["planning"].pop("decide_by")
            d["workloads"][0]["demand_rps"] = {"dfw": 60 * demand[name]}
            ms = scenarios.monthly(Scenario.model_validate(d))
            arrivals, orders = {}, []
            if no is not None:
                arrivals[node.id] = [no + 1]
                orders.append((node, no, no + 1))
            if po is not None:
                a = max(po + 1, energised) + delay[name]
                arrivals[power.id] = [a]
                orders.append((power, po, a))
            c = _plan_cost(ms, arrivals, orders, n_t)
            by_first = cost.setdefault(first, {})
            by_first[name] = min(by_first.get(name, np.inf), c)
    expected = min(sum(f["probability"] * by[f["name"]] for f in futures) for by in cost.values())
    # both exact (gap 0); HiGHS's feasibility tolerance 1e-6 relative
    assert res.expected_cost_npv_usd == pytest.approx(expected, rel=1e-6)
    for so in res.scenarios:
        assert check_capacity_plan(so.result) == []


# ---- regret and the hedge -----------------------------------------------------------------


def _risk_doc(p_late: float, late_months: int = 12) -> dict:
    return with_scenarios(
        read_document(LATE)[0],
        {"name": "on-time", "probability": 1 - p_late},
        {"name": "grid-late", "probability": p_late, "delay_months": {"hall": late_months}},
    )


def test_two_stage_is_no_worse_than_any_single_scenario_plan():
    doc = _risk_doc(0.5)
    doc["planning"]["scenarios"].append({"name": "busy", "probability": 0.0, "demand_factor": 1.3})
    doc["planning"]["scenarios"][0]["probability"] = 0.3
    doc["planning"]["scenarios"][2]["probability"] = 0.2
    res = plan_two_stage(
        scenarios.monthly(Scenario.model_validate(doc)), time_limit_s=60, relative_gap=0.0
    )
    assert res.status == "optimal"
    two = res.candidates[0]
    assert two.name == "two-stage" and two.regret_usd == pytest.approx(0.0, abs=1e-6)
    names = {c.name for c in res.candidates}
    assert {"plan for on-time", "plan for grid-late", "plan for busy"} <= names
    for c in res.candidates:
        assert c.status == "optimal"
        # exact solves: regret >= 0 up to HiGHS's tolerances (1e-6 relative)
        assert c.regret_usd >= -1e-6 * two.expected_cost_npv_usd, c.name
        assert c.max_regret_usd >= -1e-6 * two.expected_cost_npv_usd
    # wait-and-see bounds the two-stage plan from below; EVPI >= 0
    assert res.wait_and_see_npv_usd <= two.expected_cost_npv_usd * (1 + 1e-6)
    assert res.evpi_usd >= -1e-6 * two.expected_cost_npv_usd
    # the expected cost is the probability-weighted cost of the scenarios under the plan
    weighted = sum(s.probability * s.result.cost_npv_usd for s in res.scenarios)
    assert weighted == pytest.approx(res.expected_cost_npv_usd, rel=1e-9)


def test_a_year_late_grid_makes_the_shared_plan_commit_cloud_instead_of_power():
    """tiny_grid_risk.yaml: the hall's power block (energised in month 3) feeds the nodes
    a growing service needs; the delay is known only at decide_by (month 6). On time for
    sure, the plan orders the power block now. With an even chance that it is a year
    late (never inside the horizon), the shared plan orders no power block before it
    knows, buys fewer nodes, and commits cloud GPUs now; the on-time plan's first stage
    then has a positive regret."""
    sure = plan_two_stage(
        scenarios.monthly(Scenario.model_validate(_risk_doc(0.0))),
        time_limit_s=60,
        relative_gap=0.0,
    )
    risky = plan_two_stage(
        scenarios.monthly(Scenario.model_validate(_risk_doc(0.5))),
        time_limit_s=60,
        relative_gap=0.0,
    )
    assert sure.status == risky.status == "optimal"
    assert sure.decide_by_month == risky.decide_by_month == 6

    def units(orders, option):
        return sum(o.units for o in orders if o.option == option)

    assert units(sure.first_stage, "power-block") == 1
    assert units(sure.first_stage, "commit-12") == 0
    assert units(risky.first_stage, "power-block") == 0
    assert units(risky.first_stage, "commit-12") >= 1
    assert units(risky.first_stage, "h100-node") < units(sure.first_stage, "h100-node")
    on_time = next(c for c in risky.candidates if c.name == "plan for on-time")
    assert on_time.regret_usd > 0.01 * risky.expected_cost_npv_usd
    # the power block ordered in month 0 arrives in month 3 on time, 15 when late
    late_power = [o for o in on_time.first_stage if o.option == "power-block"]
    assert late_power and late_power[0].arrival_month == {"on-time": 3, "grid-late": 15}


def test_default_decide_by_is_the_first_month_the_scenarios_differ():
    doc = _risk_doc(0.5)
    doc["planning"].pop("decide_by")
    res = plan_two_stage(scenarios.monthly(Scenario.model_validate(doc)), time_limit_s=30)
    # the power block can first be in place in month 3 (energised) on time, not when late
    assert res.decide_by_month == 3 and "differ" in res.decide_by_rule
    doc["planning"]["scenarios"][1]["demand_factor"] = 1.3
    res = plan_two_stage(scenarios.monthly(Scenario.model_validate(doc)), time_limit_s=30)
    assert res.decide_by_month == 1  # demand differs from month 0: what is ordered now


# ---- KPIs -------------------------------------------------------------------------------


def test_roi_saving_is_the_re_solve_without_the_purchase():
    """tiny.yaml's plan buys one node only: without it the plan is cloud on-demand only,
    so its NPV saving is the cloud baseline's cost less the plan's."""
    cp = plan_capacity(Scenario.model_validate(tiny_doc()), time_limit_s=30, relative_gap=0.0)
    assert [p.option for p in cp.plan.purchases] == ["h100-node"]
    (roi,) = cp.kpis.roi
    saving = cp.baseline_cloud.cost_npv_usd - cp.plan.cost_npv_usd
    assert roi.npv_saving_usd == pytest.approx(saving, rel=1e-6)
    assert roi.roi == pytest.approx(saving / 100000, rel=1e-6)  # capex 100,000 USD
    k = cp.kpis
    spend = sum(m["placement_usd"] + m["capex_usd"] + m["opex_usd"] for m in cp.plan.months)
    assert k.spend_usd == pytest.approx(spend)
    assert k.usd_per_gpu_h == pytest.approx(spend / k.gpu_hours)
    # the hall's GPUs: 8 owned, +8 from month 2; utilisation is GPUs used / installed
    hall = k.utilization["hall"]["months"]
    used = [cp.plan.months[t]["gpus_by_site"].get("hall", {}).get("onprem", 0) for t in range(6)]
    installed = [8, 8, 16, 16, 16, 16]
    assert hall == pytest.approx([u / c for u, c in zip(used, installed, strict=True)])
    # power: the hall's facility cap is 25 kW x PUE 1.3 = 32.5 kW
    assert k.power_mw["hall"]["cap"][0] == pytest.approx(0.0325)
    assert k.usd_per_training_gpu_h is None and "no training" in k.training_note
    assert k.usd_per_1k_tokens is None and "tokens" in k.tokens_note


def test_training_gpu_hour_and_tokens_on_cloud_alone():
    """No builds, a training run kept off the hall: on the cloud pool at 6.88 USD/GPU-h
    (no energy price there), so its cost per GPU-hour is 6.88; a token-served service
    with no fixed spend costs its placement cost per 1k tokens, all-in."""
    doc = tiny_doc()
    doc["build_options"] = []
    doc["workloads"].append(
        {"id": "ft", "kind": "training", "gpus": 8, "hours": 500, "exclude_sites": ["hall"]}
    )
    doc["workloads"][0].update(
        tokens={
            "model": "llama-3.1-70b-fp8",
            "prompt_tokens": {"mean": 1000, "p95": 2000},
            "output_tokens": {"mean": 200, "p95": 400},
            "ttft_slo_ms": 3000,
        },
        serving={"H100-SXM": {}},
        demand_rps={"dfw": 2},
    )
    s = scenarios.monthly(Scenario.model_validate(doc))
    res = solve_capacity(s, time_limit_s=30)
    assert res.status == "optimal"
    k = capacity_kpis(res, roi=False)
    assert k.training_gpu_hours == pytest.approx(8 * 500)
    assert k.usd_per_training_gpu_h == pytest.approx(6.88, rel=1e-9)
    assert k.tokens > 0
    assert k.usd_per_1k_tokens == pytest.approx(k.usd_per_1k_tokens_placement_only, rel=1e-9)


# ---- the CLI ----------------------------------------------------------------------------------


def test_cli_two_stage_json_and_html(tmp_path):
    target, page = tmp_path / "plan.json", tmp_path / "plan.html"
    out = CliRunner().invoke(
        capacity_command,
        [str(LATE), "--format", "json", "-o", str(target), "--html", str(page)],
    )
    assert out.exit_code == 0, out.output
    doc = json.loads(target.read_text())
    ts = doc["two_stage"]
    assert ts["status"] == "optimal" and len(ts["scenarios"]) == 2
    assert ts["candidates"][0]["name"] == "two-stage"
    assert doc["kpis"]["usd_per_gpu_h"] > 0 and doc["kpis"]["roi"]
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "http://" not in html.replace("http-equiv", "")
    for chart in ("capacity-hall", "capacity-cloud", "order-calendar", "scenario-0"):
        assert f'data-chart="{chart}"' in html
    table = CliRunner().invoke(capacity_command, [str(LATE), "--no-baselines", "--no-roi"])
    assert table.exit_code == 0 and "two-stage plan over 2 scenarios" in table.output
    assert "regret" in table.output and "ROI: not measured" in table.output
