"""verify on timed plans (`placer.plan.verify_time`): every solver's plan of a few timed
scenarios verifies clean; every stated figure, corrupted in turn, is caught; each hard
rule of time, broken, is reported with its kind.

Rules are broken the exact way: a *relaxed* scenario (the rule left out) is solved by the
MILP, whose plan keeps the rule's figures right for both scenarios, and that plan is
verified against the *strict* one. Only the rule (and a capacity the plan states, where
the rule is a capacity) may then be reported.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from placer import api
from placer.model import Scenario
from placer.plan.plan import Plan
from placer.plan.verify import recompute_kpis, verify
from tests.conftest import _MINIMAL_SCENARIO

SOLVERS = ("milp", "greedy", "relax", "search", "hybrid")
#: Per-solver limit, s: the scenarios are tiny; search runs to its limit.
LIMIT_S = {"search": 0.5}
#: 24 factors, one per hour of the day in the horizon start's offset.
PROFILE = [0.2] * 6 + [1.0] * 12 + [0.5] * 6


def _small() -> dict[str, Any]:
    """The minimal scenario over 6 hourly periods: a tariff that dips in periods 2-3, a
    demand-response event in period 4, a 3 h training run inside 01:00-06:00."""
    d = copy.deepcopy(_MINIMAL_SCENARIO)
    d["metadata"]["name"] = "timed-small"
    d["horizon"] = {"start": "2020-06-01T00:00:00+00:00", "period_hours": 1, "periods": 6}
    fra = d["sites"][0]
    fra["power"]["price_usd_per_kwh"] = [0.3, 0.3, 0.05, 0.05, 0.3, 0.3]
    fra["power"]["carbon_g_per_kwh"] = [300, 320, 350, 380, 360, 340]
    fra["cooling"].update(wue_l_per_kwh=1.2, water_cap_l_per_day=[24000] * 3 + [12000] * 3)
    fra["grid_events"] = [
        {"name": "dr1", "start": "2020-06-01T04:00:00Z", "hours": 1, "cut_pct": 25}
    ]
    d["workloads"][0].update(
        hours=3, earliest_start="2020-06-01T01:00:00Z", deadline="2020-06-01T06:00:00Z"
    )
    return d


def _site(sid: str, country: str, lat: float, lon: float, pools, **power: Any) -> dict:
    return {
        "id": sid,
        "tier": "onprem",
        "location": {"lat": lat, "lon": lon, "country": country},
        "power": {"pue": 1.2, "carbon_g_per_kwh": 300, "price_usd_per_kwh": 0.15, **power},
        "cooling": {"type": "liquid", "max_rack_density_kw": 50, "wue_l_per_kwh": 0.5},
        "pools": pools,
    }


def _rich() -> dict[str, Any]:
    """Two-hour periods from local midnight at +02:00; a late pool, a site energised
    late, events in kW and percent, a run measured on a faster reference with a partial
    last period and a dataset elsewhere, a service with a daily profile, a list demand,
    two shares and two copies, spot prices, an optional service left out."""
    fra = _site(
        "fra",
        "DE",
        50.11,
        8.68,
        [
            {
                "accelerator": "H100-SXM",
                "gpus": [64, 64, 64, 48, 64, 64],
                "cost_usd_per_gpu_h": 1.5,
            },
            {"id": "l4", "accelerator": "L4", "gpus": 8, "cost_usd_per_gpu_h": 0.7},
            {
                "id": "l4-late",
                "accelerator": "L4",
                "gpus": 16,
                "cost_usd_per_gpu_h": 0.6,
                "available_from": "2020-06-01T04:00:00+02:00",
            },
        ],
        it_capacity_kw=[500, 500, 500, 450, 500, 500],
        grid_cap_kw=650,
        price_usd_per_kwh=[0.3, 0.25, 0.05, 0.04, 0.2, 0.3],
        carbon_g_per_kwh=[350, 340, 200, 180, 300, 360],
    )
    fra["cooling"]["water_cap_l_per_day"] = [24000, 24000, 12000, 12000, 24000, 24000]
    fra["grid_events"] = [
        {"name": "dr", "start": "2020-06-01T06:00:00+02:00", "hours": 3, "cut_kw": 200}
    ]
    ams = _site(
        "ams",
        "NL",
        52.37,
        4.90,
        [{"accelerator": "L4", "gpus": 16, "cost_usd_per_gpu_h": 0.5}],
        it_capacity_kw=300,
        available_from="2020-06-01T06:00:00+02:00",
    )
    ams["egress_usd_per_gb"] = 0.05
    ams["grid_events"] = [
        {"name": "cut", "start": "2020-06-01T10:00:00+02:00", "hours": 1, "cut_pct": 50}
    ]
    osl = {
        "id": "osl",
        "tier": "cloud",
        "location": {"lat": 59.91, "lon": 10.75, "country": "NO"},
        "power": {"pue": 1.1, "carbon_g_per_kwh": 20},
        "pools": [
            {
                "accelerator": "L4",
                "gpus": 32,
                "cost_usd_per_gpu_h": 0.8,
                "spot_cost_usd_per_gpu_h": 0.55,
            }
        ],
    }
    return {
        "apiVersion": "placer/v1",
        "kind": "Scenario",
        "metadata": {"name": "timed-rich"},
        "horizon": {"start": "2020-06-01T00:00:00+02:00", "period_hours": 2, "periods": 6},
        "sites": [fra, ams, osl],
        "user_regions": _MINIMAL_SCENARIO["user_regions"],
        "workloads": [
            {
                "id": "train",
                "kind": "training",
                "gpus": 16,
                "hours": 2,  # 4.55 h on H100 (B200 is the reference)
                "accelerators": ["B200", "H100-SXM"],
                "earliest_start": "2020-06-01T03:00:00+02:00",
                "deadline_hours": 11,
                "utilization": 0.8,
                "dataset": {"site": "ams", "size_gb": 100},
            },
            {
                "id": "chat",
                "kind": "inference",
                "demand_rps": {"eu-central": 60, "eu-north": [10, 0, 20, 30, 20, 10]},
                "demand_profile": PROFILE,
                "split": 2,
                "serving": {"L4": {"rps_per_replica": 10}},
                "latency_slo_ms": 50,
                "spot_ok": True,
                "value_usd_per_h": 100,
            },
            {
                "id": "api",
                "kind": "inference",
                # demand in one period only: compile groups copies over all periods
                "demand_rps": {"eu-north": [0, 0, 0, 25, 0, 0]},
                "redundancy": {"copies": 2, "spread": "failure_domain"},
                "serving": {"L4": {"rps_per_replica": 10, "gpus_per_replica": 2}},
                "latency_slo_ms": 50,
            },
            {
                "id": "side",
                "kind": "inference",
                "must_place": False,
                "value_usd_per_h": 0.01,
                "demand_rps": {"eu-north": 5},
                "serving": {"L4": {"rps_per_replica": 10}},
                "latency_slo_ms": 50,
            },
        ],
        "objective": {"carbon_price_usd_per_t": 80, "water_price_usd_per_m3": 2},
    }


SCENARIOS = {"small": _small, "rich": _rich}


def _solve(data: dict[str, Any], solver: str = "milp") -> tuple[Scenario, Plan]:
    scenario = Scenario.model_validate(data)
    return scenario, api.solve(scenario, solver=solver, time_limit_s=LIMIT_S.get(solver, 10.0))


@pytest.fixture(scope="module")
def rich_plan() -> tuple[Scenario, Plan]:
    return _solve(_rich())


# ---- (a) every solver's plan verifies clean ------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("solver", SOLVERS)
def test_every_solver_plan_verifies_clean(name: str, solver: str) -> None:
    scenario, plan = _solve(SCENARIOS[name](), solver)
    found = verify(scenario, plan)
    if plan.status in ("optimal", "feasible"):
        assert found == [], [str(v) for v in found]
    else:  # greedy may leave must-place units out, and says so
        assert solver == "greedy" and plan.status == "no_solution"
        assert found and {v.kind for v in found} == {"must_place"}, [str(v) for v in found]
    assert plan.horizon is not None and plan.site_periods


def test_rich_plan_exercises_time(rich_plan: tuple[Scenario, Plan]) -> None:
    """The rich scenario's plan holds what the other tests rely on."""
    scenario, plan = rich_plan
    assert plan.status == "optimal"
    train = next(p for p in plan.placements if p.workload == "train")
    assert train.periods == 3 and train.start_period in (2, 3)
    assert any(u.workload == "side" for u in plan.unplaced)
    # profile hours are local (+02:00): period 3 starts at 06:00, factor 1.0
    assert any(p.unit == "chat/eu-central@3.1" and p.replicas == 3 for p in plan.placements)
    assert any(p.unit == "chat/eu-central@0.0" and p.replicas == 1 for p in plan.placements)
    assert {p.unit for p in plan.placements if p.workload == "api"} == {
        "api/eu-north@3#0",
        "api/eu-north@3#1",
    }
    kpis = recompute_kpis(scenario, plan)
    assert plan.objective_usd_per_h == pytest.approx(kpis.objective_usd_per_h, rel=1e-9)


# ---- (b) every stated figure, corrupted in turn, is caught ---------------------------------

#: Plan fields that are not figures of the placement (as in tests/test_verify.py).
_NOT_FIGURES = {"seed", "time_limit_s", "wall_s", "capacity_prices", "versions", "diagnostics"}


def _numeric_leaves(data: Any, path: tuple = ()) -> list[tuple]:
    """Paths (keys and indices) of every number in a plan's JSON form, bools excluded."""
    if isinstance(data, dict):
        return [
            leaf
            for key, value in data.items()
            if not (path == () and key in _NOT_FIGURES)
            for leaf in _numeric_leaves(value, (*path, key))
        ]
    if isinstance(data, list):
        return [leaf for i, v in enumerate(data) for leaf in _numeric_leaves(v, (*path, i))]
    if isinstance(data, int | float) and not isinstance(data, bool):
        return [path]
    return []


def _set(data: dict[str, Any], path: tuple, value: Any) -> dict[str, Any]:
    bad = copy.deepcopy(data)
    holder = bad
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    return bad


def _get(data: Any, path: tuple) -> Any:
    for key in path:
        data = data[key]
    return data


def test_each_stated_figure_corrupted_in_turn_fails(rich_plan: tuple[Scenario, Plan]) -> None:
    scenario, plan = rich_plan
    data = plan.model_dump(mode="json")
    leaves = _numeric_leaves(data)
    names = {p[-1] for p in leaves if isinstance(p[-1], str)}
    assert len(leaves) > 500  # placements, unplaced, sites, site_periods, horizon, totals
    assert {"start_period", "periods", "period", "part", "cost_usd", "objective_usd"} <= names
    missed = []
    for path in leaves:
        value = _get(data, path)
        value = value + 1 if isinstance(value, int) else value * 1.01 + 0.5
        if not verify(scenario, Plan.model_validate(_set(data, path, value))):
            missed.append(".".join(map(str, path)))
    assert missed == []


@pytest.mark.parametrize("where", ["start", "end"])
def test_each_stated_instant_shifted_fails(rich_plan: tuple[Scenario, Plan], where: str) -> None:
    """Every placement's start and end, a minute late, or in another offset but the
    same instant (which is fine), or not an instant."""
    scenario, plan = rich_plan
    data = plan.model_dump(mode="json")
    for i, pl in enumerate(plan.placements):
        said = dt.datetime.fromisoformat(getattr(pl, where))
        late = (said + dt.timedelta(minutes=1)).isoformat()
        found = verify(scenario, Plan.model_validate(_set(data, ("placements", i, where), late)))
        assert [v.kind for v in found] == ["kpi"], [str(v) for v in found]
        assert f"placements[{i}].{where}: plan says {late}" in found[0].message
        utc = said.astimezone(dt.UTC).isoformat()
        assert (
            verify(scenario, Plan.model_validate(_set(data, ("placements", i, where), utc))) == []
        )
    found = verify(scenario, Plan.model_validate(_set(data, ("placements", 0, where), "soon")))
    assert [v.kind for v in found] == ["kpi"]


def test_horizon_start_misstated_fails(rich_plan: tuple[Scenario, Plan]) -> None:
    scenario, plan = rich_plan
    data = plan.model_dump(mode="json")
    found = verify(
        scenario, Plan.model_validate(_set(data, ("horizon", "start"), "2020-06-01T00:00:00Z"))
    )
    assert [(v.kind, v.subject) for v in found] == [("kpi", "horizon")]


def test_static_plan_of_a_timed_scenario_fails(rich_plan: tuple[Scenario, Plan]) -> None:
    """A plan without time (a unit named as a static plan names it) is not a timed plan."""
    scenario, plan = rich_plan
    data = plan.model_dump(mode="json")
    i = next(i for i, p in enumerate(plan.placements) if p.workload == "train")
    for name in ("start_period", "periods", "start", "end"):
        found = verify(scenario, Plan.model_validate(_set(data, ("placements", i, name), None)))
        assert found and {v.kind for v in found} == {"kpi"}, name
    j = next(i for i, p in enumerate(plan.placements) if p.workload == "chat")
    found = verify(scenario, Plan.model_validate(_set(data, ("placements", j, "period"), None)))
    assert {"kpi", "unknown_unit", "missing"} <= {v.kind for v in found}


# ---- (c) each hard rule of time, broken, is reported with its kind -------------------------


def _rules() -> dict[str, Any]:
    """Six hourly periods. Site a: one H100 pool; a 2 h run on 8 of them may start at
    02:00 or 03:00 (it must end by 05:00). Twin sites b1, b2 (one failure domain) and a
    dear site c serve one service of two copies in period 3."""

    def site(sid: str, lat: float, lon: float, pool: dict[str, Any], **over: Any) -> dict:
        out = _site(sid, "DE", lat, lon, [pool], it_capacity_kw=100, price_usd_per_kwh=0.5)
        out["power"]["pue"] = 1.25
        out["cooling"]["wue_l_per_kwh"] = 0.0
        out.update(over)
        return out

    l4 = {"accelerator": "L4", "gpus": 8, "cost_usd_per_gpu_h": 0.5}
    return {
        "apiVersion": "placer/v1",
        "kind": "Scenario",
        "metadata": {"name": "timed-rules"},
        "horizon": {"start": "2020-06-01T00:00:00+00:00", "period_hours": 1, "periods": 6},
        "sites": [
            site(
                "a", 50.11, 8.68, {"accelerator": "H100-SXM", "gpus": 16, "cost_usd_per_gpu_h": 1}
            ),
            site("b1", 52.52, 13.40, l4, failure_domain="dc"),
            site("b2", 52.52, 13.40, l4, failure_domain="dc"),
            site("c", 53.55, 9.99, {**l4, "cost_usd_per_gpu_h": 3.0}),
        ],
        "user_regions": _MINIMAL_SCENARIO["user_regions"],
        "workloads": [
            {
                "id": "t",
                "kind": "training",
                "gpus": 8,
                "hours": 2,
                "accelerators": ["H100-SXM"],
                "earliest_start": "2020-06-01T02:00:00Z",
                "deadline": "2020-06-01T05:00:00Z",
            },
            {
                "id": "svc",
                "kind": "inference",
                "demand_rps": {"eu-central": [0, 0, 0, 10, 0, 0]},
                "redundancy": {"copies": 2, "spread": "failure_domain"},
                "serving": {"L4": {"rps_per_replica": 10}},
                "latency_slo_ms": 50,
            },
        ],
    }


def _site_of(data: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in data["sites"] if s["id"] == sid)


def _cheap_at(*periods: int):
    """Site a's tariff: cheap in the given periods."""

    def change(d: dict[str, Any]) -> None:
        _site_of(d, "a")["power"]["price_usd_per_kwh"] = [
            0.01 if t in periods else 0.5 for t in range(6)
        ]

    return change


def _forced(d: dict[str, Any]) -> None:
    """The run can only start at 02:00 (periods 2 and 3)."""
    d["workloads"][0]["deadline"] = "2020-06-01T04:00:00Z"


def _unset(key: str):
    def change(d: dict[str, Any]) -> None:
        del d["workloads"][0][key]

    return change


def _gpu_dip(d: dict[str, Any]) -> None:
    _site_of(d, "a")["pools"][0]["gpus"] = [16, 16, 16, 4, 16, 16]


def _event(d: dict[str, Any]) -> None:
    """Half an hour in period 3 at 5 kW: the run's 8 H100 draw 12.7 kW x PUE."""
    _site_of(d, "a")["grid_events"] = [
        {"name": "dr", "start": "2020-06-01T03:15:00Z", "hours": 0.5, "cut_kw": 120}
    ]


def _late_pool(d: dict[str, Any]) -> None:
    _site_of(d, "a")["pools"][0]["available_from"] = "2020-06-01T03:00:00Z"


def _late_power(d: dict[str, Any]) -> None:
    _site_of(d, "a")["power"]["available_from"] = "2020-06-01T03:00:00Z"


def _forced_wet(d: dict[str, Any]) -> None:
    """The forced run at a site that uses 1 L of water per kWh."""
    _forced(d)
    _site_of(d, "a")["cooling"]["wue_l_per_kwh"] = 1.0


def _water_cap(d: dict[str, Any]) -> None:
    """A day's cap of 2.4 L in period 3 (0.1 L/h); the run draws ~9 L/h at WUE 1."""
    _site_of(d, "a")["cooling"]["water_cap_l_per_day"] = [24000] * 3 + [2.4] + [24000] * 2


def _objective(**caps: float):
    def change(d: dict[str, Any]) -> None:
        d["objective"] = caps

    return change


def _spread_by_site(d: dict[str, Any]) -> None:
    d["workloads"][1]["redundancy"]["spread"] = "site"


def _none(d: dict[str, Any]) -> None:
    return None


#: rule -> (changes to both scenarios, the strict one's change, the relaxed one's change,
#: the hard kinds reported, the site figures the plan then misstates: the capacities the
#: rule changes).
RULES = {
    "earliest_start": (
        _cheap_at(0, 1),
        _none,
        _unset("earliest_start"),
        {"earliest_start"},
        (),
    ),
    "deadline": (_cheap_at(4, 5), _none, _unset("deadline"), {"deadline"}, ()),
    "gpus_dip": (_forced, _gpu_dip, _none, {"gpus"}, ("gpus_total",)),
    "grid_event": (
        _forced,
        _event,
        _none,
        {"facility_power"},
        ("facility_cap_kw", "grid_cap_kw"),
    ),
    "pool_available_from": (_forced, _late_pool, _none, {"gpus"}, ("gpus_total",)),
    "power_available_from": (
        _forced,
        _late_power,
        _none,
        {"it_power", "facility_power", "cooling"},
        ("it_capacity_kw", "facility_cap_kw", "grid_cap_kw", "water_cap_l_per_h"),
    ),
    "water": (_forced_wet, _water_cap, _none, {"water"}, ("water_cap_l_per_h",)),
    "budget": (_none, _objective(budget_usd_per_h=1.0), _none, {"budget"}, ()),
    "carbon_cap": (_none, _objective(carbon_cap_kg_per_h=0.01), _none, {"carbon_cap"}, ()),
    "failure_domain": (_none, _none, _spread_by_site, {"redundancy"}, ()),
}


def _broken(rule: str) -> tuple[Scenario, Plan]:
    """(the strict scenario, the MILP plan of the relaxed one)."""
    both, restrict, relax, _, _ = RULES[rule]
    strict, relaxed = _rules(), _rules()
    for data, change in ((strict, restrict), (relaxed, relax)):
        both(data)
        change(data)
    scenario, plan = _solve(relaxed)
    assert plan.status == "optimal"
    assert verify(scenario, plan) == []
    return Scenario.model_validate(strict), plan


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_rule_broken_is_reported(rule: str) -> None:
    scenario, plan = _broken(rule)
    kinds, site_figures = RULES[rule][3:]
    found = verify(scenario, plan)
    assert {v.kind for v in found if v.kind != "kpi"} == kinds, [str(v) for v in found]
    # verify's carbon_cap states no amount; redundancy has none
    assert all(v.amount > 0 for v in found if v.kind not in ("kpi", "redundancy", "carbon_cap"))
    stated = [v.message.split(":")[0] for v in found if v.kind == "kpi"]
    for path in stated:  # e.g. site_periods[0].gpus_total[3]
        assert path.startswith(("sites[", "site_periods[")), stated
        assert path.split(".")[1].split("[")[0] in site_figures, stated


# ---- hand-made breaks: the run's periods, the units' identities -----------------------------


@pytest.fixture(scope="module")
def rules_plan() -> tuple[Scenario, Plan]:
    data = _rules()
    del data["workloads"][0]["deadline"]  # the horizon's end is the deadline
    return _solve(data)


def _index(plan: Plan, unit: str) -> int:
    return next(i for i, p in enumerate(plan.placements) if p.unit == unit)


def test_run_past_the_horizon_is_reported(rules_plan: tuple[Scenario, Plan]) -> None:
    """Restarted at 05:00, the 2 h run holds periods 5 and 6 of 0..5."""
    scenario, plan = rules_plan
    data = plan.model_dump(mode="json")
    i = _index(plan, "t")
    run = data["placements"][i]
    run.update(start_period=5, start="2020-06-01T05:00:00+00:00", end="2020-06-01T07:00:00+00:00")
    found = verify(scenario, Plan.model_validate(data))
    assert {v.kind for v in found if v.kind != "kpi"} == {"horizon"}, [str(v) for v in found]
    assert next(v for v in found if v.kind == "horizon").subject == "t"


def test_service_in_another_period_is_misstated(rules_plan: tuple[Scenario, Plan]) -> None:
    scenario, plan = rules_plan
    data = plan.model_dump(mode="json")
    i = _index(plan, "svc/eu-central@3#0")
    data["placements"][i]["start_period"] = 2
    found = verify(scenario, Plan.model_validate(data))
    assert [(v.kind, v.message.split(":")[0]) for v in found] == [
        ("kpi", f"placements[{i}].start_period")
    ]


def test_units_twice_missing_unknown_or_misnamed(rules_plan: tuple[Scenario, Plan]) -> None:
    scenario, plan = rules_plan
    data = plan.model_dump(mode="json")
    i = _index(plan, "svc/eu-central@3#0")

    def kinds(bad: dict[str, Any]) -> list[str]:
        return sorted(v.kind for v in verify(scenario, Plan.model_validate(bad)))

    twice = copy.deepcopy(data)
    twice["placements"].append(copy.deepcopy(data["placements"][i]))
    assert "duplicate" in kinds(twice)
    gone = copy.deepcopy(data)
    del gone["placements"][i]
    assert "missing" in kinds(gone) and "must_place" not in kinds(gone)
    both = copy.deepcopy(data)
    both["unplaced"].append(
        {
            **{k: data["placements"][i][k] for k in ("unit", "workload", "region", "period")},
            "copy_index": 0,
            "must_place": True,
            "value_usd_per_h": 0.0,
            "reason": "",
        }
    )
    assert "duplicate" in kinds(both)
    misnamed = _set(data, ("placements", i, "unit"), "svc/eu-central@3")
    assert kinds(misnamed) == ["kpi"]
    other = _set(data, ("placements", i, "period"), 2)  # no demand in period 2
    assert {"unknown_unit", "missing"} <= set(kinds(other))


def test_copies_spread_within_each_period_only() -> None:
    """Two copies at two sites, demand in two periods: each period's pair spreads."""
    data = _rules()
    data["workloads"][1]["demand_rps"] = {"eu-central": [0, 0, 10, 10, 0, 0]}
    scenario, plan = _solve(data)
    assert plan.status == "optimal"
    assert verify(scenario, plan) == []
