"""Capacity planning (placer.capacity, docs/capacity.md): the language, the MILP against
brute force, a late grid connection, the verifier on every plan, the CLI."""

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
from placer.capacity.plan import plan_capacity
from placer.capacity.solve import solve_capacity
from placer.cli.capacity_cmd import capacity_command
from placer.engines.base import SolveOptions
from placer.engines.milp.solve import solve_milp
from placer.model.scenario import Scenario
from placer.model.yaml_text import read_document
from placer.problem.compile_time import compile_timed

TINY = Path(__file__).resolve().parents[1] / "configs" / "capacity" / "tiny.yaml"


def tiny_doc() -> dict:
    return read_document(TINY)[0]


def scenario_of(doc: dict) -> Scenario:
    return Scenario.model_validate(doc)


# ---- the language -------------------------------------------------------------------------


def test_scenario_without_build_options_is_unchanged():
    doc = tiny_doc()
    for key in ("build_options", "planning"):
        doc.pop(key)
    s = scenario_of(doc)
    assert s.build_options == [] and s.planning is None
    assert "build_options" not in s.model_dump(exclude_defaults=True)


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        (("build_options", 0, "site"), "nowhere", "build_options.0.site: unknown site"),
        (("build_options", 2, "site"), "hall", "cloud_commit needs a cloud site"),
        (("build_options", 0, "site"), "cloud", "is a cloud site"),
        (("build_options", 1, "it_kw"), -1, "build_options.1.power.it_kw"),
        (("build_options", 2, "term_months"), 24, "term_months"),
        (("planning", "demand_growth", "nobody"), {"rate_per_month": 0.1}, "unknown workload"),
        (("horizon", "period_hours"), 24, "months of 730 h"),
    ],
)
def test_errors_name_the_field(path, value, match):
    doc = tiny_doc()
    at = doc
    for key in path[:-1]:
        at = at[key]
    at[path[-1]] = value
    with pytest.raises(ValidationError, match=match):
        scenario_of(doc)


def test_planning_months_without_a_horizon():
    doc = tiny_doc()
    doc.pop("horizon")
    doc["workloads"][0].pop("split")  # a time field: it needs a horizon
    doc["build_options"][1].pop("energised")
    doc["planning"].update(start="2026-01-01T00:00:00+00:00", months=4)
    s = scenarios.monthly(scenario_of(doc))
    assert s.horizon.periods == 4 and s.horizon.period_hours == 730
    # 60 rps grown 25% a month, one value a month
    assert s.workloads[0].demand_rps["dfw"] == pytest.approx([60, 75, 93.75, 117.1875])


# ---- the MILP against brute force ---------------------------------------------------------


def _brute_force(s: Scenario) -> float:
    """The cheapest plan over every build combination (gpus and power options): each
    combination's capacity added to the scenario, its placement MILP solved on its own,
    capex + opex added by hand. Discount rate 0: USD are plain sums."""
    m = scenarios.monthly(s)
    n_t = m.horizon.periods
    choices = []
    for opt in m.build_options:
        first = scenarios.month_of(m, opt.earliest) + opt.lead_time_months
        first = max(first, scenarios.month_of(m, getattr(opt, "energised", None)))
        months = range(first, n_t)
        combos = [()]
        for size in range(1, opt.max_units + 1):
            combos += list(itertools.combinations_with_replacement(months, size))
        choices.append([(opt, c) for c in combos])
    best = np.inf
    for pick in itertools.product(*choices):
        installed, build_usd = {}, 0.0
        for opt, arrivals in pick:
            count = [sum(1 for a in arrivals if a <= t) for t in range(n_t)]
            installed[opt.id] = count
            running = opt.fixed_opex_usd_per_month + opt.lease_usd_per_month
            build_usd += sum(opt.capex_usd + running * (n_t - a) for a in arrivals)
        problem, _ = compile_timed(scenarios.built(m, installed))
        res = solve_milp(problem, SolveOptions(time_limit_s=10, relative_gap=0.0), prices=False)
        if res.status == "optimal":
            best = min(best, res.objective_usd_per_h * m.horizon.hours + build_usd)
    return best


def test_plan_matches_brute_force_over_every_build_combination():
    doc = tiny_doc()
    doc["planning"]["discount_rate_per_year"] = 0.0
    doc["build_options"] = doc["build_options"][:2]  # gpus and power
    doc["build_options"][0]["max_units"] = 2
    s = scenario_of(doc)
    res = solve_capacity(scenarios.monthly(s), time_limit_s=30, relative_gap=0.0)
    assert res.status == "optimal"
    expected = _brute_force(s)
    # both exact (gap 0); HiGHS's feasibility tolerance 1e-6 relative
    assert res.cost_npv_usd == pytest.approx(expected, rel=1e-6)
    assert res.purchases  # the node pays for itself on this instance
    assert check_capacity_plan(res) == []


def test_commitment_is_paid_for_its_whole_term():
    doc = tiny_doc()
    doc["planning"]["discount_rate_per_year"] = 0.0
    doc["build_options"] = [doc["build_options"][2]]
    doc["build_options"][0]["committed_usd_per_gpu_h"] = 1.0  # cheap: commit at once
    s = scenario_of(doc)
    res = solve_capacity(scenarios.monthly(s), time_limit_s=30, relative_gap=0.0)
    assert res.status == "optimal"
    bought = [p for p in res.purchases if p.option == "commit-12"]
    assert bought and bought[0].arrival_month == 0
    # 12 months of 8 GPUs x 1 USD x 730 h a unit, past the 6-month horizon included
    units = bought[0].units
    assert bought[0].npv_usd == pytest.approx(units * 8 * 1.0 * 730 * 12)
    assert res.cost_npv_usd == pytest.approx(res.placement_npv_usd + res.build_npv_usd)
    assert check_capacity_plan(res) == []


# ---- a late grid connection -----------------------------------------------------------------


def _grid_doc(energised_month: int) -> dict:
    """One hall whose growth needs a power block energised in `energised_month`; a year."""
    doc = tiny_doc()
    doc["horizon"]["periods"] = 12
    doc["planning"]["demand_growth"] = {"chat": {"rate_per_month": 0.08}}
    doc["build_options"] = copy.deepcopy(doc["build_options"][:2])
    doc["build_options"][0].update(max_units=3, capex_usd=60000)
    doc["workloads"][0]["demand_rps"] = {"dfw": 120}
    start = np.datetime64("2026-01-01T00:00") + np.timedelta64(730 * energised_month, "h")
    doc["build_options"][1]["energised"] = f"{str(start)[:16]}:00+00:00"
    return doc


def test_a_late_grid_connection_moves_early_work_to_cloud():
    on_time = solve_capacity(scenarios.monthly(scenario_of(_grid_doc(2))), time_limit_s=30)
    late = solve_capacity(scenarios.monthly(scenario_of(_grid_doc(7))), time_limit_s=30)
    assert on_time.status == late.status == "optimal"

    def power(res):
        return [p for p in res.purchases if p.option == "power-block"]

    def cloud_gpus(res, months):
        return sum(
            res.months[t]["gpus_by_site"].get("cloud", {}).get("on_demand", 0) for t in months
        )

    assert power(on_time) and power(late)
    # the plan says when the power comes and when to order it (arrival - 1 month lead)
    assert power(on_time)[0].arrival_month < 7 <= power(late)[0].arrival_month
    assert power(late)[0].order_month == power(late)[0].arrival_month - 1
    # months 2-6: the late plan runs more on cloud on-demand; it costs more
    assert cloud_gpus(late, range(2, 7)) > cloud_gpus(on_time, range(2, 7))
    assert late.cost_npv_usd > on_time.cost_npv_usd
    for res in (on_time, late):
        assert check_capacity_plan(res) == []


# ---- baselines, cooling, verify on every plan ----------------------------------------------


def test_plan_is_no_worse_than_its_baselines_and_every_plan_verifies():
    cp = plan_capacity(scenario_of(tiny_doc()), time_limit_s=30)
    assert cp.plan.status == "optimal"
    assert cp.plan.cost_npv_usd <= cp.baseline_cloud.cost_npv_usd * (1 + 1e-6)
    assert cp.baseline_cloud.purchases == []
    # on-prem only cannot serve month 1's growth before the first node arrives
    assert cp.baseline_onprem.status == "infeasible"
    for res in (cp.plan, cp.baseline_cloud):
        assert check_capacity_plan(res) == []


def test_cooling_upgrade_unlocks_dense_racks():
    doc = tiny_doc()
    hall = doc["sites"][0]
    hall["cooling"] = {"type": "air", "max_rack_density_kw": 30, "heat_rejection_kw": 40}
    hall["pools"] = []
    doc["build_options"] = [
        doc["build_options"][0],
        {
            "id": "liquid",
            "kind": "cooling",
            "site": "hall",
            "max_rack_density_kw": 80,
            "heat_rejection_kw": 20,
            "capex_usd": 20000,
            "lead_time_months": 1,
        },
    ]
    doc["build_options"][0].update(capex_usd=50000, lead_time_months=0)
    res = solve_capacity(scenarios.monthly(scenario_of(doc)), time_limit_s=30)
    assert res.status == "optimal"
    bought = {p.option: p for p in res.purchases}
    assert "liquid" in bought and "h100-node" in bought
    first_hall = min(t for t, m in enumerate(res.months) if "hall" in m["gpus_by_site"])
    assert first_hall >= bought["liquid"].arrival_month >= 1
    assert check_capacity_plan(res) == []


# ---- the CLI ----------------------------------------------------------------------------------


def test_cli_table_json_and_output(tmp_path):
    runner = CliRunner()
    out = runner.invoke(capacity_command, [str(TINY), "--time-limit-s", "20"])
    assert out.exit_code == 0, out.output
    assert "build schedule" in out.output and "h100-node" in out.output
    target = tmp_path / "plan.json"
    out = runner.invoke(
        capacity_command, [str(TINY), "--format", "json", "-o", str(target), "--no-baselines"]
    )
    assert out.exit_code == 0, out.output
    doc = json.loads(target.read_text())
    assert doc["kind"] == "CapacityPlan" and doc["baseline_cloud"] is None
    assert json.loads(out.output)["plan"]["cost_npv_usd"] == doc["plan"]["cost_npv_usd"]


def test_cli_refuses_a_scenario_without_build_options(tmp_path):
    doc = tiny_doc()
    doc.pop("build_options")
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    out = CliRunner().invoke(capacity_command, [str(path)])
    assert out.exit_code != 0 and "no build_options" in out.output
    assert "Traceback" not in out.output
