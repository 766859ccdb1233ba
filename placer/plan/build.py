"""Turns a solver's assignment (Problem terms) into a Plan (the scenario's words)."""

from __future__ import annotations

import numpy as np

from placer.engines.base import SolveResult
from placer.model.scenario import Scenario
from placer.plan.plan import (
    CapacityAddition,
    CapacityPrice,
    Infeasibility,
    Placement,
    Plan,
    SiteUsage,
    Totals,
    Unplaced,
)
from placer.problem.form import REASONS, Index, Problem
from placer.problem.sparse_form import SparseIndex, SparseProblem
from placer.problem.usage import allowed_mask, compute_loads

_RESOURCE_UNITS = {
    "gpus": "GPU",
    "it_kw": "kW",
    "facility_kw": "kW",
    "heat_kw": "kW",
    "water_l_per_h": "L/h",
}


def build_plan(
    scenario: Scenario,
    problem: Problem | SparseProblem,
    index: Index | SparseIndex,
    result: SolveResult,
    *,
    solver: str,
    seed: int,
    time_limit_s: float | None,
    wall_s: float,
    versions: dict[str, str],
) -> Plan:
    """Assembles the Plan; KPIs come from the Problem (verify recomputes them)."""
    assign = np.asarray(result.assign_u)
    loads = compute_loads(problem, assign)
    placements = [placement_of(problem, index, u, int(p)) for u, p in enumerate(assign) if p >= 0]
    unplaced = [_unplaced(problem, index, u) for u, p in enumerate(assign) if p < 0]
    if result.status in ("infeasible", "no_solution"):
        note = (
            "not placed: no plan satisfies every hard constraint (see infeasibility)"
            if result.status == "infeasible"
            else f"not placed: no complete plan found ({result.message})"
        )
        unplaced = [
            u if u.reason.startswith("no feasible pool") else u.model_copy(update={"reason": note})
            for u in unplaced
        ]
    has_solution = result.status in ("optimal", "feasible") or result.objective_usd_per_h
    objective = loads.objective_usd_per_h if has_solution else None
    bound = result.bound_usd_per_h
    gap = None
    if objective is not None and bound is not None:
        gap = max(0.0, (objective - bound) / max(abs(objective), 1e-9))
    return Plan(
        scenario=scenario.metadata.name,
        status=result.status,
        message=result.message,
        solver=solver,
        seed=seed,
        time_limit_s=time_limit_s,
        wall_s=round(wall_s, 4),
        objective_usd_per_h=objective,
        bound_usd_per_h=bound,
        gap=gap,
        bound_scope=result.bound_scope if bound is not None else None,
        versions=versions,
        placements=placements,
        unplaced=unplaced,
        sites=_site_usage(scenario, index, loads, placements),
        totals=Totals(
            cost_usd_per_h=loads.cost_usd_per_h,
            carbon_kg_per_h=loads.carbon_kg_per_h,
            water_l_per_h=float(loads.water_l_per_h_s.sum()),
            unplaced_value_usd_per_h=float(problem.unplaced_usd_per_h_u[assign < 0].sum()),
            objective_usd_per_h=loads.objective_usd_per_h,
            gpus=round(loads.gpus_p.sum()),
            placed_units=len(placements),
            unplaced_units=len(unplaced),
        ),
        capacity_prices=[_price(index, i, r, v) for i, r, v in result.capacity_prices],
        diagnostics=list(result.diagnostics),
        infeasibility=(
            infeasibility_from(result.diagnosis, problem, index)
            if result.diagnosis is not None
            else None
        ),
    )


def _where(index: Index, i: int, resource: str) -> tuple[str, str]:
    """(site, resource label) of a capacity row index (pool for gpus, -1 global)."""
    if i < 0:
        return "*", resource
    if resource == "gpus":
        pool = index.pools[i]
        return pool.site, f"gpus ({pool.key})"
    return index.sites[i], resource


def _price(index: Index, i: int, resource: str, value: float) -> CapacityPrice:
    site, label = _where(index, i, resource)
    return CapacityPrice(
        site=site, resource=label, usd_per_h_per_unit=value, unit=_RESOURCE_UNITS.get(resource, "")
    )


def infeasibility_from(diagnosis, problem: Problem, index: Index) -> Infeasibility:
    """The solver-side Diagnosis in the scenario's words."""
    from placer.engines.milp.diagnose import describe_addition

    additions = []
    for i, resource, amount in diagnosis.additions:
        site, label = _where(index, i, resource)
        where = "the whole plan" if site == "*" else site
        text = f"{where}: add {describe_addition(resource, amount)}"
        additions.append(CapacityAddition(site=site, resource=label, amount=amount, text=text))
    drops = [index.units[u].name for u in diagnosis.drops]
    parts = []
    if diagnosis.unplaceable:
        parts.append(f"{len(diagnosis.unplaceable)} must-place unit(s) have no feasible pool")
    if additions:
        parts.append("add capacity: " + "; ".join(a.text for a in additions))
    if drops:
        parts.append("or drop: " + ", ".join(drops))
    return Infeasibility(
        unplaceable=[_unplaced(problem, index, u) for u in diagnosis.unplaceable],
        additions=additions,
        drops=drops,
        complete=diagnosis.complete,
        summary="; ".join(parts) or "no cause found within the time limit",
    )


def placement_of(
    problem: Problem | SparseProblem, index: Index | SparseIndex, u: int, p: int
) -> Placement:
    """Unit u in pool p, with the figures compile gives for the pair (either layout)."""
    unit, pool = index.units[u], index.pools[p]
    if isinstance(problem, SparseProblem):
        col, suffix = int(problem.slots_of(u, np.array([p]))[0]), "_uk"
    else:
        col, suffix = p, "_up"
    pair = {name: getattr(problem, name + suffix)[u, col] for name in _PAIR_FIGURES}
    replicas = getattr(index, "replicas" + suffix)[u, col]
    hours = getattr(index, "hours" + suffix)[u, col]
    return _placement(unit, pool, replicas, hours, pair)


_PAIR_FIGURES = (
    "gpus",
    "latency_ms",
    "it_kw",
    "facility_kw",
    "cost_usd_per_h",
    "carbon_kg_per_h",
    "water_l_per_h",
)


def _placement(unit, pool, replicas, hours, pair: dict[str, float]) -> Placement:
    return Placement(
        unit=unit.name,
        workload=unit.workload,
        kind=unit.kind,  # type: ignore[arg-type]
        region=unit.region,
        copy_index=unit.copy,
        site=pool.site,
        pool=pool.key,
        accelerator=pool.accelerator,
        gpus=round(pair["gpus"]),
        replicas=int(replicas),
        latency_ms=float(pair["latency_ms"]) if unit.kind == "inference" else None,
        hours=float(hours) if unit.kind == "training" else None,
        it_kw=float(pair["it_kw"]),
        facility_kw=float(pair["facility_kw"]),
        cost_usd_per_h=float(pair["cost_usd_per_h"]),
        carbon_kg_per_h=float(pair["carbon_kg_per_h"]),
        water_l_per_h=float(pair["water_l_per_h"]),
    )


def unplaced_reason(problem: Problem | SparseProblem, index, u: int) -> str:
    """Why a unit is out: every mask reason with its pool count, or capacity/value."""
    if allowed_mask(problem)[u].any():
        if problem.must_place_u[u]:
            return "no room: the capacities, caps and spread rules left no pool for it"
        return "left out: no pool had room at a cost below its value"
    if isinstance(problem, SparseProblem):
        per_reason = problem.reason_count_ur[u].tolist()
    else:
        per_reason = [int(((problem.reason_up[u] & bit) != 0).sum()) for bit in REASONS]
    counts = {name: n for name, n in zip(REASONS.values(), per_reason, strict=True) if n}
    if not counts:
        return "no pool exists in the scenario"
    detail = ", ".join(
        f"{name} ({n} pool{'s' * (n > 1)})"
        for name, n in sorted(counts.items(), key=lambda kv: -kv[1])
    )
    return f"no feasible pool: {detail}"


def _unplaced(problem: Problem, index: Index, u: int) -> Unplaced:
    unit = index.units[u]
    return Unplaced(
        unit=unit.name,
        workload=unit.workload,
        region=unit.region,
        copy_index=unit.copy,
        must_place=bool(problem.must_place_u[u]),
        value_usd_per_h=float(problem.unplaced_usd_per_h_u[u]),
        reason=unplaced_reason(problem, index, u),
    )


def _site_usage(
    scenario: Scenario, index: Index, loads, placements: list[Placement]
) -> list[SiteUsage]:
    by_id = {s.id: s for s in scenario.sites}
    gpus_s = np.zeros(len(index.sites))
    site_pos = {sid: i for i, sid in enumerate(index.sites)}
    for p, pool in enumerate(index.pools):
        gpus_s[site_pos[pool.site]] += loads.gpus_p[p]
    cost_s: dict[str, float] = {}
    carbon_s: dict[str, float] = {}
    for p in placements:  # one pass (placements x sites would be quadratic at 100k units)
        cost_s[p.site] = cost_s.get(p.site, 0.0) + p.cost_usd_per_h
        carbon_s[p.site] = carbon_s.get(p.site, 0.0) + p.carbon_kg_per_h
    rows = []
    for s, sid in enumerate(index.sites):
        site = by_id[sid]
        cap_day = site.cooling.water_cap_l_per_day
        rows.append(
            SiteUsage(
                site=sid,
                tier=site.tier,
                gpus_used=round(gpus_s[s]),
                gpus_total=sum(pl.gpus for pl in site.pools),
                it_kw=float(loads.it_kw_s[s]),
                it_capacity_kw=site.power.it_capacity_kw,
                facility_kw=float(loads.facility_kw_s[s]),
                grid_cap_kw=site.power.grid_cap_kw,
                heat_kw=float(loads.heat_kw_s[s]),
                heat_rejection_kw=site.cooling.heat_rejection_kw or site.power.it_capacity_kw,
                water_l_per_h=float(loads.water_l_per_h_s[s]),
                water_cap_l_per_h=cap_day / 24.0 if cap_day else None,
                cost_usd_per_h=cost_s.get(sid, 0),
                carbon_kg_per_h=carbon_s.get(sid, 0),
            )
        )
    return rows
