"""Capacity planning with new sites (build option kind: site, docs/capacity.md): the plan
against brute force, a late grid date, the linking of options to their site, the
baselines, errors and the CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from placer.capacity import scenarios
from placer.capacity.check import check_capacity_plan
from placer.capacity.plan import plan_capacity
from placer.capacity.solve import solve_capacity
from placer.cli.capacity_cmd import capacity_command
from placer.model.scenario import Scenario
from tests.test_capacity import _brute_force, tiny_doc

START = "2026-01-01T00:00:00+00:00"


def _instant(month: int) -> str:
    """The start of month `month` (730 h months from START)."""
    doc = tiny_doc()
    s = scenarios.monthly(Scenario.model_validate(doc))
    return scenarios.month_instant(s, month)


def site_doc(
    *,
    months: int = 4,
    energised_month: int | None = None,
    site_capex: float = 50_000.0,
    cloud_usd: float = 20.0,
    gpu_units: int = 2,
) -> dict:
    """The tiny hall (8 H100, full), cloud at `cloud_usd` USD/GPU-h, and a new Dallas
    site `dal2` (1-month lead, optionally energised late) with H100 nodes to put in it."""
    doc = tiny_doc()
    doc["horizon"]["periods"] = months
    doc["planning"]["discount_rate_per_year"] = 0.0
    doc["sites"][1]["pools"][0]["cost_usd_per_gpu_h"] = cloud_usd
    site = {
        "id": "dal2",
        "kind": "site",
        "site": {
            "tier": "onprem",
            "location": {"lat": 32.7, "lon": -96.8, "country": "US"},
            "power": {
                "it_capacity_kw": 50,
                "pue": 1.2,
                "price_usd_per_kwh": 0.06,
                "carbon_g_per_kwh": 380,
            },
            "cooling": {"type": "liquid", "max_rack_density_kw": 80},
        },
        "capex_usd": site_capex,
        "fixed_opex_usd_per_month": 1000,
        "lead_time_months": 1,
    }
    if energised_month is not None:
        site["energised"] = _instant(energised_month)
    doc["build_options"] = [
        site,
        {
            "id": "dal2-h100",
            "kind": "gpus",
            "site": "dal2",
            "accelerator": "H100-SXM",
            "nodes": 1,
            "gpus_per_node": 8,
            "node_power_kw": 10.2,
            "capex_usd": 100_000,
            "fixed_opex_usd_per_month": 1500,
            "lead_time_months": 1,
            "max_units": gpu_units,
        },
    ]
    return doc


def solve(doc: dict):
    return solve_capacity(
        scenarios.monthly(Scenario.model_validate(doc)), time_limit_s=30, relative_gap=0.0
    )


def bought(res, option: str):
    return [p for p in res.purchases if p.option == option]


def used_at(res, site: str) -> list[float]:
    """GPUs used at a site each month."""
    return [sum(m["gpus_by_site"].get(site, {}).values()) for m in res.months]


# ---- (1) the plan builds the site, against brute force --------------------------------------


def test_plan_builds_the_new_site_and_matches_brute_force():
    doc = site_doc()
    res = solve(doc)
    assert res.status == "optimal"
    (site,) = bought(res, "dal2")
    gpus = bought(res, "dal2-h100")
    assert gpus and site.kind == "site" and site.site == "dal2" and site.capex_usd == 50_000
    # the site is needed from the first month it runs anything; ordered a lead time before
    need = next(t for t, g in enumerate(used_at(res, "dal2")) if g > 0)
    assert site.arrival_month == need and site.order_month == need - 1
    assert all(g.arrival_month >= site.arrival_month for g in gpus)
    assert all(g.order_month == g.arrival_month - 1 for g in gpus)
    # every combination of the site (none, or arriving in months 1-3) and 0-2 nodes
    assert res.cost_npv_usd == pytest.approx(_brute_force(Scenario.model_validate(doc)), rel=1e-6)
    assert check_capacity_plan(res) == []


# ---- (2) a late grid date ----------------------------------------------------------------------


def test_a_late_grid_date_fills_early_months_with_cloud():
    res = solve(site_doc(months=6, energised_month=3))
    assert res.status == "optimal"
    (site,) = bought(res, "dal2")
    assert site.arrival_month == 3 and site.order_month == 2
    assert used_at(res, "dal2")[:3] == [0, 0, 0] and used_at(res, "dal2")[3] > 0
    # months 1-2 outgrow the hall (8 GPUs): the rest runs on cloud on-demand
    assert all(used_at(res, "cloud")[t] > 0 for t in (1, 2))
    assert check_capacity_plan(res) == []
    on_time = solve(site_doc(months=6))
    assert on_time.cost_npv_usd < res.cost_npv_usd


def test_a_site_that_does_not_pay_is_not_built():
    # energised in the last month, at a price no month of savings repays
    res = solve(site_doc(months=6, energised_month=5, site_capex=5e6))
    assert res.status == "optimal"
    assert res.purchases == [] and sum(used_at(res, "dal2")) == 0
    cloud_only = solve_capacity(
        scenarios.without_builds(scenarios.monthly(Scenario.model_validate(site_doc(months=6)))),
        time_limit_s=30,
        relative_gap=0.0,
    )
    assert res.cost_npv_usd == pytest.approx(cloud_only.cost_npv_usd, rel=1e-9)


# ---- (3) linking: no GPUs at a site not bought -----------------------------------------------


def test_gpus_at_a_new_site_need_the_site():
    # the site costs more than it could ever save; its nodes are cheap: without the link
    # (7) the plan would buy nodes and run them in a site it never bought
    doc = site_doc(site_capex=5e8)
    doc["build_options"][1]["capex_usd"] = 1.0
    res = solve(doc)
    assert res.status == "optimal"
    assert res.purchases == []
    assert sum(used_at(res, "dal2")) == 0
    assert check_capacity_plan(res) == []


def test_built_scenario_has_the_site_only_when_bought():
    s = scenarios.monthly(Scenario.model_validate(site_doc()))
    ids = [x.id for x in scenarios.built(s, {}).sites]
    assert "dal2" not in ids
    b = scenarios.built(s, {"dal2": [0, 0, 1, 1], "dal2-h100": [0, 0, 1, 1]})
    dal2 = next(x for x in b.sites if x.id == "dal2")
    assert dal2.power.available_from == scenarios.month_instant(s, 2)
    assert [p.gpus for p in dal2.pools] == [[0, 0, 8, 8]]
    # the site option is gone (dal2 is now a site); the nodes at it stay
    assert [o.id for o in b.build_options] == ["dal2-h100"]
    assert [o.id for o in scenarios.built(s, {}).build_options] == []
    Scenario.model_validate(b.model_dump(mode="json", exclude_none=True))


# ---- baselines ---------------------------------------------------------------------------


def test_baselines_cloud_builds_nothing_onprem_may_build_the_site():
    cp = plan_capacity(Scenario.model_validate(site_doc()), time_limit_s=30, roi=False)
    assert cp.plan.status == cp.baseline_cloud.status == "optimal"
    assert cp.baseline_cloud.purchases == []
    assert sum(used_at(cp.baseline_cloud, "dal2")) == 0
    assert cp.plan.cost_npv_usd <= cp.baseline_cloud.cost_npv_usd * (1 + 1e-6)
    # on-prem only: month 0 fits the hall, then the new site is the only way to grow
    assert cp.baseline_onprem.status == "optimal"
    assert bought(cp.baseline_onprem, "dal2")
    for res in (cp.plan, cp.baseline_cloud, cp.baseline_onprem):
        assert check_capacity_plan(res) == []


# ---- (4) errors and the CLI ----------------------------------------------------------------------


def _with(doc: dict, path: tuple, value) -> dict:
    at = doc
    for key in path[:-1]:
        at = at[key]
    at[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        (
            ("build_options", 1, "site"),
            "nowhere",
            r"build_options.1.site: unknown site 'nowhere'.*'dal2'",
        ),
        (("build_options", 0, "id"), "hall", "build_options.0.id: 'hall' is already a site"),
        (("build_options", 0, "site", "tier"), "cloud", "site.tier: a new site is edge or onprem"),
        (("build_options", 0, "site", "id"), "other", "site.id: 'other' differs"),
        (("build_options", 0, "max_units"), 2, "max_units"),
        (
            ("build_options", 0, "site", "pools"),
            [{"accelerator": "H100-SXM", "gpus": 8, "cost_usd_per_gpu_h": 0}],
            "site.pools.0.gpus: a new site's pools start with 0 GPUs",
        ),
        (("build_options", 0, "site", "power", "available_from"), START, "energised"),
        (("build_options", 0, "site", "power", "it_capacity_kw"), -5, "it_capacity_kw"),
    ],
)
def test_errors_name_the_field(path, value, match):
    with pytest.raises(ValidationError, match=match):
        Scenario.model_validate(_with(site_doc(), path, value))


def test_duplicate_site_option_ids_are_refused():
    doc = site_doc()
    doc["build_options"].append(dict(doc["build_options"][0]))
    with pytest.raises(ValidationError, match=r"build_options\.2\.id: duplicate id 'dal2'"):
        Scenario.model_validate(doc)


def test_cli_table_json_and_exit_2(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(site_doc()))
    out = CliRunner().invoke(capacity_command, [str(path), "--time-limit-s", "20", "--no-roi"])
    assert out.exit_code == 0, out.output
    assert "dal2" in out.output and "new onprem site" in out.output
    out = CliRunner().invoke(
        capacity_command, [str(path), "--format", "json", "--no-baselines", "--no-roi"]
    )
    assert out.exit_code == 0, out.output
    kinds = {p["kind"] for p in json.loads(out.output)["plan"]["purchases"]}
    assert {"site", "gpus"} <= kinds
    bad = _with(site_doc(), ("build_options", 0, "site", "tier"), "cloud")
    path.write_text(json.dumps(bad))
    out = CliRunner().invoke(capacity_command, [str(path)])
    assert out.exit_code == 2
    assert "site.tier" in out.output and "Traceback" not in out.output
