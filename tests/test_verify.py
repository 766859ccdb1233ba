"""verify: start from a valid MILP plan, break it one way at a time, expect that violation.

The scenario (`DATA`) is built so each mutation breaks exactly one rule. Placements that
are moved get their claims (GPUs, cost, ...) from compile for the new pool, so the only
thing wrong with the mutated plan is the rule under test; `verify` must then report
exactly that (kind, subject) and nothing else.
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import placer
from placer import api
from placer.model import Scenario
from placer.plan.plan import Placement, Plan, Unplaced
from placer.plan.verify import Verifier, recompute_kpis, verify
from placer.problem.compile import _Context, _pair_arrays, build_pools, build_units, compile_problem
from placer.problem.rows import QUANTITIES

# Capacities are generous except where a test lowers them. Racks: fra's H100 pool
# 1.274 kW x 8 x 4 = 40.8 kW fits fra's 45 kW; "dense" (8 nodes per rack) is 81.5 kW; GB200
# in 2-node racks is 1.74 x 8 x 2 = 27.8 kW but needs liquid cooling.


def _site(sid: str, country: str, lat: float, lon: float, pools, **over: Any) -> dict[str, Any]:
    site = {
        "id": sid,
        "tier": "onprem",
        "location": {"lat": lat, "lon": lon, "country": country},
        "power": {
            "it_capacity_kw": 500,
            "pue": 1.3,
            "grid_cap_kw": 650,
            "price_usd_per_kwh": 0.2,
            "carbon_g_per_kwh": 350,
        },
        "cooling": {
            "type": "air",
            "heat_rejection_kw": 500,
            "max_rack_density_kw": 45,
            "wue_l_per_kwh": 1.0,
            "water_cap_l_per_day": 48000,
        },
        "pools": pools,
    }
    site.update(over)
    return site


def _l4(n: int, usd: float) -> dict[str, Any]:
    return {"accelerator": "L4", "gpus": n, "cost_usd_per_gpu_h": usd}


def _h100(n: int, usd: float, **over: Any) -> dict[str, Any]:
    return {"accelerator": "H100-SXM", "gpus": n, "cost_usd_per_gpu_h": usd, **over}


def _inference(wid: str, demand: dict[str, float], **over: Any) -> dict[str, Any]:
    return {
        "id": wid,
        "kind": "inference",
        "demand_rps": demand,
        "serving": {"L4": {"rps_per_replica": 10}},
        "latency_slo_ms": 15,
        **over,
    }


DATA: dict[str, Any] = {
    "apiVersion": "placer/v1",
    "kind": "Scenario",
    "metadata": {"name": "verify-golden"},
    "sites": [
        _site(
            "fra",
            "DE",
            50.11,
            8.68,
            [
                _h100(64, 2.0),
                _l4(32, 0.5),
                _h100(16, 1.0, id="dense", nodes_per_rack=8),
                {"accelerator": "GB200", "gpus": 72, "nodes_per_rack": 2, "cost_usd_per_gpu_h": 5},
            ],
        ),
        _site("fra2", "DE", 50.12, 8.70, [_h100(32, 2.5), _l4(16, 0.6)], failure_domain="fra2"),
        _site(
            "par",
            "FR",
            48.86,
            2.35,
            [_h100(128, 2.2), _l4(96, 0.55)],
            tier="cloud",
            power={"it_capacity_kw": 800, "pue": 1.2, "carbon_g_per_kwh": 60},
        ),
    ],
    "user_regions": [
        {"id": "de", "location": {"lat": 50.11, "lon": 8.68, "country": "DE"}},
        {"id": "fr", "location": {"lat": 48.86, "lon": 2.35, "country": "FR"}},
    ],
    # fra/fra2 <-> fr is ~12.6 ms by the model; fra2 is measured at 40 ms (> 15 ms SLO).
    "latency_ms": [{"site": "fra2", "region": "fr", "rtt_ms": 40}],
    "workloads": [
        # 100 h on H100; on L4 100 x 989 / 121 = 817 h > 200 h deadline.
        {
            "id": "pretrain",
            "kind": "training",
            "gpus": 48,
            "hours": 100,
            "accelerators": ["H100-SXM", "L4"],
            "deadline_hours": 200,
        },
        {"id": "health", "kind": "training", "gpus": 16, "hours": 50, "residency": ["DE"]},
        {
            "id": "tune",
            "kind": "training",
            "gpus": 8,
            "hours": 20,
            "pin_sites": ["fra2"],
            "min_gpu_memory_gb": 40,
        },
        {"id": "vision", "kind": "training", "gpus": 8, "hours": 10, "exclude_sites": ["fra2"]},
        # worth less than any pool costs: left out in the optimal plan.
        {
            "id": "extra",
            "kind": "training",
            "gpus": 4,
            "hours": 10,
            "must_place": False,
            "value_usd_per_h": 1.0,
        },
        _inference("chat", {"de": 30, "fr": 10}, redundancy={"copies": 2}),
        _inference("code", {"de": 5}),
    ],
    "objective": {"carbon_price_usd_per_t": 50, "water_price_usd_per_m3": 1.0},
}


def make_scenario(edit=None) -> Scenario:
    data = copy.deepcopy(DATA)
    if edit is not None:
        edit(data)
    return Scenario.model_validate(data)


SCENARIO = make_scenario()
PLACER = Path(placer.__file__).parent


@pytest.fixture(scope="module")
def solved() -> Plan:
    plan = api.solve(SCENARIO, solver="milp", time_limit_s=20)
    assert plan.status == "optimal"
    return plan


@pytest.fixture
def plan(solved: Plan) -> Plan:
    return solved.model_copy(deep=True)


# ---- helpers -----------------------------------------------------------------------------


#: A plan's stated figures left out (verify checks only what a plan states): for edits that
#: break one rule, so that the sums they change are not reported as misstated too.
UNSTATED: dict[str, Any] = {
    "totals": None,
    "sites": [],
    "objective_usd_per_h": None,
    "bound_usd_per_h": None,
    "gap": None,
    "bound_scope": None,
}


def found(violations) -> set[tuple[str, str]]:
    return {(v.kind, v.subject) for v in violations}


def get(plan: Plan, unit: str) -> Placement:
    return next(p for p in plan.placements if p.unit == unit)


def edit_placement(plan: Plan, unit: str, **fields: Any) -> Plan:
    """The plan with one placement's fields replaced (totals kept as they were)."""
    placements = [p.model_copy(update=fields) if p.unit == unit else p for p in plan.placements]
    return plan.model_copy(update={"placements": placements})


def pair_claims(scenario: Scenario, u: int, p: int) -> dict[str, Any]:
    """The figures of unit u in pool p as compile gives them: the Problem's slot for a
    listed pair; for a masked pair (the Problem lists only allowed ones) the figures
    compile's rules give it, as the old dense tables held them."""
    problem, index = compile_problem(scenario)
    if p in problem.options_of(u)[0]:
        k = int(problem.slots_of(u, np.array([p]))[0])
        return {
            **{name: float(problem.amount_quk[q, u, k]) for q, name in enumerate(QUANTITIES)},
            "latency_ms": float(problem.latency_ms_uk[u, k]),
            "replicas": int(index.replicas_uk[u, k]),
            "hours": float(index.hours_uk[u, k]),
        }
    arrays, _, replicas = _pair_arrays(
        build_units(scenario),
        build_pools(scenario),
        sorted(scenario.sites, key=lambda s: s.id),
        _Context(scenario),
    )
    names = {
        "water": "water_l_per_h",
        "cost": "cost_usd_per_h",
        "carbon": "carbon_kg_per_h",
        "latency": "latency_ms",
    }
    figures = {names.get(name, name): float(table[u, p]) for name, table in arrays.items()}
    return {**figures, "replicas": int(replicas[u, p])}


def move(plan: Plan, unit: str, pool_name: str, scenario: Scenario = SCENARIO) -> Plan:
    """The plan with `unit` in `pool_name` ('site/key'), its claims as compile gives them
    for that pair (`pair_claims`); totals dropped (verify checks them only when present)."""
    index = compile_problem(scenario)[1]
    u = next(i for i, x in enumerate(index.units) if x.name == unit)
    p = next(i for i, x in enumerate(index.pools) if x.name == pool_name)
    pair = pair_claims(scenario, u, p)
    info, kind = index.pools[p], index.units[u].kind
    fields = {
        "site": info.site,
        "pool": info.key,
        "accelerator": info.accelerator,
        "gpus": round(pair["gpus"]),
        "replicas": pair["replicas"],
        "latency_ms": pair["latency_ms"] if kind == "inference" else None,
        "hours": pair["hours"] if kind == "training" else None,
        "it_kw": pair["it_kw"],
        "facility_kw": pair["facility_kw"],
        "cost_usd_per_h": pair["cost_usd_per_h"],
        "carbon_kg_per_h": pair["carbon_kg_per_h"],
        "water_l_per_h": pair["water_l_per_h"],
    }
    return edit_placement(plan, unit, **fields).model_copy(update=UNSTATED)


def site_load(plan: Plan, field: str) -> tuple[str, float]:
    """(site, load) of the site with the largest summed placement `field`."""
    loads: dict[str, float] = {}
    for p in plan.placements:
        loads[p.site] = loads.get(p.site, 0.0) + getattr(p, field)
    return max(loads.items(), key=lambda kv: kv[1])


def set_site(sid: str, path: tuple[str, ...], value: Any):
    def edit(data: dict[str, Any]) -> None:
        site = next(s for s in data["sites"] if s["id"] == sid)
        *parents, leaf = path
        for key in parents:
            site = site.setdefault(key, {})
        site[leaf] = value

    return edit


# ---- the valid plan ----------------------------------------------------------------------


def test_the_solved_plan_passes(plan: Plan) -> None:
    assert verify(SCENARIO, plan) == []
    # one optional unit is left out; every must-place unit is placed.
    assert [u.unit for u in plan.unplaced] == ["extra"]
    assert len(plan.placements) == 9


def test_recomputed_kpis_match_the_plan(plan: Plan) -> None:
    kpis = recompute_kpis(SCENARIO, plan)
    assert plan.totals is not None
    # float64 sums of the same products in another order: 1e-9 relative.
    assert kpis.cost_usd_per_h == pytest.approx(plan.totals.cost_usd_per_h, rel=1e-9)
    assert kpis.carbon_kg_per_h == pytest.approx(plan.totals.carbon_kg_per_h, rel=1e-9)
    assert kpis.water_l_per_h == pytest.approx(plan.totals.water_l_per_h, rel=1e-9)
    # "extra" (1 USD/h) is the only value lost.
    assert kpis.unplaced_value_usd_per_h == pytest.approx(1.0)
    assert kpis.objective_usd_per_h == pytest.approx(plan.totals.objective_usd_per_h, rel=1e-9)
    assert sum(kpis.site_it_kw.values()) == pytest.approx(sum(p.it_kw for p in plan.placements))


def test_plan_survives_json_round_trip(plan: Plan) -> None:
    again = Plan.model_validate_json(plan.model_dump_json())
    assert verify(SCENARIO, again) == []


# ---- one placement breaks a rule ---------------------------------------------------------

MOVES = [
    pytest.param("residency", "health", "par/H100-SXM", id="residency"),
    pytest.param("pin", "tune", "par/H100-SXM", id="pin"),
    pytest.param("exclude", "vision", "fra2/H100-SXM", id="exclude"),
    pytest.param("cooling", "vision", "fra/GB200", id="cooling-type"),
    pytest.param("rack_density", "vision", "fra/dense", id="rack_density"),
    pytest.param("memory", "tune", "fra2/L4", id="memory"),
    pytest.param("deadline", "pretrain", "par/L4", id="deadline"),
    pytest.param("latency", "chat/fr#0", "fra2/L4", id="latency"),
    pytest.param("accelerator", "pretrain", "fra/GB200", id="accelerator-training"),
    pytest.param("accelerator", "chat/de#0", "par/H100-SXM", id="accelerator-inference"),
]


@pytest.mark.parametrize(("kind", "unit", "pool"), MOVES)
def test_moved_placement_breaks_one_rule(plan: Plan, kind: str, unit: str, pool: str) -> None:
    bad = move(plan, unit, pool)
    assert found(verify(SCENARIO, bad)) == {(kind, unit)}


def test_moves_back_to_allowed_pools_pass(plan: Plan) -> None:
    # the move helper itself keeps a plan valid when the pair is allowed.
    bad = move(plan, "vision", "fra/H100-SXM")
    assert verify(SCENARIO, bad) == []


def test_latency_violation_reports_the_excess(plan: Plan) -> None:
    (v,) = verify(SCENARIO, move(plan, "chat/fr#0", "fra2/L4"))
    # measured 40 ms against a 15 ms SLO: 25 ms over.
    assert v.amount == pytest.approx(25.0)
    assert "40.0 ms" in v.message


def test_accelerator_claim_differs_from_the_pool(plan: Plan) -> None:
    bad = edit_placement(plan, "health", accelerator="B200")
    assert found(verify(SCENARIO, bad)) == {("accelerator", "health")}


def test_unknown_pool(plan: Plan) -> None:
    bad = edit_placement(plan, "vision", pool="nope").model_copy(update=UNSTATED)
    assert found(verify(SCENARIO, bad)) == {("unknown_pool", "vision")}


def test_unknown_site(plan: Plan) -> None:
    bad = edit_placement(plan, "vision", site="nowhere").model_copy(update=UNSTATED)
    assert found(verify(SCENARIO, bad)) == {("unknown_pool", "vision")}


def test_wrong_replicas(plan: Plan) -> None:
    bad = edit_placement(plan, "chat/de#0", replicas=get(plan, "chat/de#0").replicas + 1)
    assert found(verify(SCENARIO, bad)) == {("replicas", "chat/de#0")}


def test_wrong_gpus_of_a_unit(plan: Plan) -> None:
    bad = edit_placement(plan, "health", gpus=17)
    assert found(verify(SCENARIO, bad)) == {("gpus", "health")}


def test_pool_over_its_gpus(plan: Plan) -> None:
    # 48 pretrain GPUs (+ 8 of tune) into fra2's 32-GPU H100 pool.
    bad = move(plan, "pretrain", "fra2/H100-SXM")
    violations = verify(SCENARIO, bad)
    assert found(violations) == {("gpus", "fra2/H100-SXM")}
    assert violations[0].amount == 48 + 8 - 32


def test_headroom_lowers_the_gpu_cap(plan: Plan) -> None:
    pre = get(plan, "pretrain")
    pool_gpus = next(
        q["gpus"]
        for s in DATA["sites"]
        if s["id"] == pre.site
        for q in s["pools"]
        if q.get("id", q["accelerator"]) == pre.pool
    )
    used = sum(p.gpus for p in plan.placements if (p.site, p.pool) == (pre.site, pre.pool))
    # floor(pool_gpus x mu) = used - 1 < used.
    mu = (used - 0.5) / pool_gpus

    def edit(data: dict[str, Any]) -> None:
        data["objective"]["max_utilization"] = mu

    assert ("gpus", f"{pre.site}/{pre.pool}") in found(verify(make_scenario(edit), plan))


# ---- units: unknown, duplicate, missing, must-place --------------------------------------


def test_unknown_workload(plan: Plan) -> None:
    ghost = get(plan, "vision").model_copy(update={"unit": "ghost", "workload": "ghost"})
    bad = plan.model_copy(update={"placements": [*plan.placements, ghost], **UNSTATED})
    assert found(verify(SCENARIO, bad)) == {("unknown_unit", "ghost")}


def test_unknown_region_or_copy(plan: Plan) -> None:
    extra = get(plan, "chat/de#0")
    us = extra.model_copy(update={"unit": "chat/us#0", "region": "us"})
    third = extra.model_copy(update={"unit": "chat/de#2", "copy_index": 2})
    bad = plan.model_copy(update={"placements": [*plan.placements, us, third], **UNSTATED})
    assert found(verify(SCENARIO, bad)) == {
        ("unknown_unit", "chat/us#0"),
        ("unknown_unit", "chat/de#2"),
    }


def test_duplicate_placement(plan: Plan) -> None:
    bad = plan.model_copy(
        update={"placements": [*plan.placements, get(plan, "vision")], **UNSTATED}
    )
    assert found(verify(SCENARIO, bad)) == {("duplicate", "vision")}


def test_placed_and_unplaced(plan: Plan) -> None:
    also = Unplaced(
        unit="vision", workload="vision", must_place=True, value_usd_per_h=0.0, reason="x"
    )
    bad = plan.model_copy(update={"unplaced": [*plan.unplaced, also], **UNSTATED})
    assert found(verify(SCENARIO, bad)) == {("duplicate", "vision")}


@pytest.mark.parametrize("unit", ["vision", "chat/de#1", "extra"])
def test_missing_unit(plan: Plan, unit: str) -> None:
    bad = plan.model_copy(
        update={
            "placements": [p for p in plan.placements if p.unit != unit],
            "unplaced": [u for u in plan.unplaced if u.unit != unit],
            **UNSTATED,
        }
    )
    assert found(verify(SCENARIO, bad)) == {("missing", unit)}


def test_missing_single_copy_unit_is_named_as_in_plans(plan: Plan) -> None:
    bad = plan.model_copy(
        update={"placements": [p for p in plan.placements if p.unit != "code/de"], **UNSTATED}
    )
    assert found(verify(SCENARIO, bad)) == {("missing", "code/de")}


@pytest.mark.parametrize("unit", ["vision", "chat/fr#1"])
def test_must_place_unit_left_unplaced(plan: Plan, unit: str) -> None:
    pl = get(plan, unit)
    out = Unplaced(
        unit=unit,
        workload=pl.workload,
        region=pl.region,
        copy_index=pl.copy_index,
        must_place=True,
        value_usd_per_h=0.0,
        reason="left out",
    )
    bad = plan.model_copy(
        update={
            "placements": [p for p in plan.placements if p.unit != unit],
            "unplaced": [*plan.unplaced, out],
            **UNSTATED,
        }
    )
    assert found(verify(SCENARIO, bad)) == {("must_place", unit)}


def test_unknown_unplaced_unit(plan: Plan) -> None:
    ghost = Unplaced(
        unit="ghost", workload="ghost", must_place=False, value_usd_per_h=0.0, reason=""
    )
    bad = plan.model_copy(update={"unplaced": [*plan.unplaced, ghost], **UNSTATED})
    assert found(verify(SCENARIO, bad)) == {("unknown_unit", "ghost")}


# ---- spread ------------------------------------------------------------------------------


def test_copies_on_one_site(plan: Plan) -> None:
    first = get(plan, "chat/de#0")
    bad = move(plan, "chat/de#1", f"{first.site}/{first.pool}")
    assert found(verify(SCENARIO, bad)) == {("redundancy", "chat/de")}


def test_copies_in_one_failure_domain(plan: Plan) -> None:
    spread = move(move(plan, "chat/de#0", "fra/L4"), "chat/de#1", "fra2/L4")
    assert verify(SCENARIO, spread) == []  # distinct sites

    def same_domain(data: dict[str, Any]) -> None:
        next(s for s in data["sites"] if s["id"] == "fra2")["failure_domain"] = "fra"
        next(w for w in data["workloads"] if w["id"] == "chat")["redundancy"] = {
            "copies": 2,
            "spread": "failure_domain",
        }

    assert found(verify(make_scenario(same_domain), spread)) == {("redundancy", "chat/de")}


# ---- site capacities and global caps ----------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "field", "path", "per_day"),
    [
        ("it_power", "it_kw", ("power", "it_capacity_kw"), False),
        ("facility_power", "facility_kw", ("power", "grid_cap_kw"), False),
        ("cooling", "it_kw", ("cooling", "heat_rejection_kw"), False),
        ("water", "water_l_per_h", ("cooling", "water_cap_l_per_day"), True),
    ],
)
def test_site_capacity(plan: Plan, kind: str, field: str, path, per_day: bool) -> None:
    sid, used = site_load(plan, field)
    cap = used / 2 * (24 if per_day else 1)  # half of what the plan uses there
    # the plan's site rows state the old capacity: left out, only the rule is judged here
    unstated = plan.model_copy(update={"sites": []})
    violations = verify(make_scenario(set_site(sid, path, cap)), unstated)
    assert found(violations) == {(kind, sid)}
    # with them, the stated capacity is a misstatement too
    assert (kind, sid) in found(verify(make_scenario(set_site(sid, path, cap)), plan))
    # over by half the load (water caps are L/day, the load L/h).
    assert violations[0].amount == pytest.approx(used / 2, rel=1e-9)


def test_capacity_exactly_used_passes(plan: Plan) -> None:
    sid, used = site_load(plan, "it_kw")
    unstated = plan.model_copy(update={"sites": []})
    scenario = make_scenario(set_site(sid, ("power", "it_capacity_kw"), used))
    assert verify(scenario, unstated) == []


def test_budget(plan: Plan) -> None:
    assert plan.totals is not None
    cap = plan.totals.cost_usd_per_h * 0.9

    def edit(data: dict[str, Any]) -> None:
        data["objective"]["budget_usd_per_h"] = cap

    assert found(verify(make_scenario(edit), plan)) == {("budget", "plan")}


def test_carbon_cap(plan: Plan) -> None:
    assert plan.totals is not None
    cap = plan.totals.carbon_kg_per_h * 0.9

    def edit(data: dict[str, Any]) -> None:
        data["objective"]["carbon_cap_kg_per_h"] = cap

    assert found(verify(make_scenario(edit), plan)) == {("carbon_cap", "plan")}


# ---- KPIs --------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["cost_usd_per_h", "carbon_kg_per_h", "it_kw"])
def test_misstated_placement_kpi(plan: Plan, field: str) -> None:
    pl = get(plan, "health")
    bad = edit_placement(plan, "health", **{field: getattr(pl, field) * 1.01})
    assert found(verify(SCENARIO, bad)) == {("kpi", "health")}


@pytest.mark.parametrize(
    ("unit", "field"),
    [
        ("health", "facility_kw"),
        ("health", "water_l_per_h"),
        ("health", "hours"),
        ("chat/de#0", "latency_ms"),
    ],
)
def test_misstated_placement_claim_unchecked(plan: Plan, unit: str, field: str) -> None:
    pl = get(plan, unit)
    bad = edit_placement(plan, unit, **{field: getattr(pl, field) * 2 + 1})
    assert found(verify(SCENARIO, bad)) == {("kpi", unit)}


@pytest.mark.parametrize(
    "field", ["cost_usd_per_h", "carbon_kg_per_h", "water_l_per_h", "objective_usd_per_h"]
)
def test_misstated_totals(plan: Plan, field: str) -> None:
    assert plan.totals is not None
    totals = plan.totals.model_copy(update={field: getattr(plan.totals, field) * 1.01 + 1})
    bad = plan.model_copy(update={"totals": totals})
    violations = verify(SCENARIO, bad)
    assert found(violations) == {("kpi", "totals")}
    assert field in violations[0].message


def test_unplaced_value_counts_in_the_objective(plan: Plan) -> None:
    # dropping "extra"'s 1 USD/h of lost value from the claimed objective is a misstatement.
    assert plan.totals is not None
    totals = plan.totals.model_copy(
        update={"objective_usd_per_h": plan.totals.objective_usd_per_h - 1.0}
    )
    bad = plan.model_copy(update={"totals": totals})
    assert found(verify(SCENARIO, bad)) == {("kpi", "totals")}


def test_every_kind_is_covered() -> None:
    """The kinds this file triggers are every kind verify_static.py, verify_nodes.py and
    verify_figures.py can emit."""
    trees = [
        ast.parse((PLACER / "plan" / name).read_text("utf-8"))
        for name in ("verify_static.py", "verify_nodes.py", "verify_figures.py")
    ]
    kinds = {
        node.args[0].value
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "Violation"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    # the site caps are emitted through a loop variable
    kinds |= {"it_power", "facility_power", "cooling", "water"}
    # and the placement claims through _compare(..., kind=...)
    kinds |= {"gpus", "replicas", "accelerator"}
    tested = {
        "nodes",  # tests/test_nodes.py
        "mig",  # tests/test_nodes.py
        "tokens",  # tests/test_serving.py
        "ttft",  # tests/test_serving.py
        "unknown_unit",
        "duplicate",
        "missing",
        "must_place",
        "unknown_pool",
        "accelerator",
        "memory",
        "residency",
        "pin",
        "exclude",
        "cooling",
        "rack_density",
        "deadline",
        "latency",
        "replicas",
        "gpus",
        "it_power",
        "facility_power",
        "water",
        "redundancy",
        "budget",
        "carbon_cap",
        "kpi",
    }
    assert kinds == tested


def test_verifier_check_returns_violations_and_kpis(plan: Plan) -> None:
    violations, kpis = Verifier(SCENARIO).check(plan)
    assert violations == []
    assert kpis.cost_usd_per_h > 0


# ---- independence ------------------------------------------------------------------------


def _imports(path: Path) -> set[str]:
    """placer modules a file imports, at any depth in the file (functions too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("placer")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("placer"):
            mod = node.module or ""
            for a in node.names:
                sub = f"{mod}.{a.name}"
                out.add(sub if _module_path(sub) is not None else mod)
    return out


def _module_path(name: str) -> Path | None:
    rel = Path(*name.split(".")[1:])
    for cand in (PLACER / rel.with_suffix(".py"), PLACER / rel / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def test_verify_code_never_names_compile() -> None:
    """No import of, or name from, compile/usage/problem in verify's code (its docstring
    may mention them)."""
    tree = ast.parse((PLACER / "plan" / "verify_static.py").read_text("utf-8"))
    forbidden = ("placer.problem.compile", "placer.problem.usage", "placer.problem.form")
    assert not (_imports(PLACER / "plan" / "verify.py") & set(forbidden))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not names & {"compile_problem", "compile", "Problem", "compute_loads"}


def test_verify_does_not_depend_on_compile_transitively() -> None:
    """Walk verify's imports (skipping the top-level package's convenience re-exports)."""
    seen: set[str] = set()
    todo = ["placer.plan.verify"]
    while todo:
        mod = todo.pop()
        if mod in seen or mod == "placer":
            continue
        seen.add(mod)
        path = _module_path(mod)
        assert path is not None, mod
        todo.extend(_imports(path))
        parts = mod.split(".")
        todo.extend(".".join(parts[:i]) for i in range(2, len(parts)))  # parent packages
    forbidden = {
        "placer.problem.compile",
        "placer.problem.usage",
        "placer.problem.form",
        "placer.plan.build",
    }
    assert not (seen & forbidden), sorted(seen)
    assert not any(m.startswith(("placer.solvers", "placer.engines.milp")) for m in seen), sorted(
        seen
    )


# ---- every stated figure -----------------------------------------------------------------

#: Plan fields that are not figures of the placement: run facts (seed, limit, wall time),
#: and the capacity prices (duals of a solve, which no recount can check).
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


def test_each_stated_figure_corrupted_in_turn_fails(plan: Plan) -> None:
    data = plan.model_dump(mode="json")
    leaves = _numeric_leaves(data)
    assert len(leaves) > 100  # placements, unplaced, sites, totals and the headline
    missed = []
    for path in leaves:
        bad = copy.deepcopy(data)
        holder = bad
        for key in path[:-1]:
            holder = holder[key]
        value = holder[path[-1]]
        holder[path[-1]] = value + 1 if isinstance(value, int) else value * 1.01 + 0.5
        if not verify(SCENARIO, Plan.model_validate(bad)):
            missed.append(".".join(map(str, path)))
    assert missed == []
