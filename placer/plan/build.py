"""Turns a solver's assignment (Problem terms) into a Plan (the scenario's words)."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import numpy as np

from placer.engines.base import SolveResult
from placer.model.horizon import parse_instant
from placer.model.nodes import gpu_count
from placer.model.scenario import Scenario
from placer.plan.build_preempt import preempted_placement
from placer.plan.build_startup import startup_view
from placer.plan.fixes import addition_change, drop_changes, summarised
from placer.plan.plan import (
    CapacityAddition,
    CapacityPrice,
    Fix,
    GpuUtilization,
    Infeasibility,
    Placement,
    Plan,
    SiteUsage,
    Totals,
    Unplaced,
)
from placer.problem.compile_disagg import disagg_sizing
from placer.problem.compile_static import token_sizing
from placer.problem.form import REASONS, Index, Problem, TimeIndex
from placer.problem.rows import (
    K_FACILITY,
    K_GPUS,
    K_HEAT,
    K_IT,
    K_WATER,
    KIND_NAMES,
    KIND_SCOPE,
    Q_CARBON,
    Q_COST,
    Q_FACILITY_KW,
    Q_GPUS,
    Q_IT_KW,
    Q_WATER,
    ROW_KINDS,
    label_kind,
    rows_of_kind,
)
from placer.problem.usage import Loads, compute_loads

_RESOURCE_UNITS = {k.name: k.unit for k in ROW_KINDS if k.scope != "global"}


def build_plan(
    scenario: Scenario,
    problem: Problem,
    index: Index,
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
    schedule = result.preempt_schedule or {}  # preempted runs (their assign_u is -1)
    loads = compute_loads(problem, assign, schedule)
    placements = [
        placement_of(problem, index, u, int(o))
        if o >= 0
        else preempted_placement(problem, index, u, *schedule[u])
        for u, o in enumerate(assign)
        if o >= 0 or u in schedule
    ]
    unplaced = [
        _unplaced(problem, index, u) for u, p in enumerate(assign) if p < 0 and u not in schedule
    ]
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
    total = loads.total_q
    sites = _site_usage(scenario, problem, index, loads, placements) if index.time is None else []
    site_periods, horizon = [], None
    startup, startup_usd = startup_view(scenario, problem, assign)  # timed services
    hours = index.time.hours if index.time is not None else 1.0
    water = float(total[Q_WATER])
    if index.time is not None:
        from placer.plan.build_time import timed_views

        sites, site_periods, horizon = timed_views(scenario, index, loads, placements, startup_usd)
        if problem.period_caps is not None:
            from placer.plan.build_time import period_caps_view

            horizon = period_caps_view(problem, assign, schedule, horizon)
        water = horizon.water_l / horizon.hours
    serving_totals: dict[str, float | None] = {}
    utilization: list[GpuUtilization] = []
    if any(getattr(w, "tokens", None) is not None for w in scenario.workloads):
        placements, serving_totals = serving_kpis(scenario, index, placements)
        utilization = gpu_utilization(scenario, placements, sites)
    nodes = []
    if any(pool.nodes is not None for site in scenario.sites for pool in site.pools):
        from placer.plan.build_nodes import node_usage

        utilization = utilization or gpu_utilization(scenario, placements, sites)
        nodes = node_usage(scenario, placements)
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
        sites=sites,
        totals=Totals(
            cost_usd_per_h=float(total[Q_COST]) + startup_usd / hours + loads.excess_usd_per_h,
            carbon_kg_per_h=float(total[Q_CARBON]),
            water_l_per_h=water,
            unplaced_value_usd_per_h=loads.unplaced_usd_per_h,
            objective_usd_per_h=loads.objective_usd_per_h,
            gpus=gpu_count(float(total[Q_GPUS])),
            placed_units=len(placements),
            unplaced_units=len(unplaced),
            **serving_totals,
        ),
        capacity_prices=_prices(index, result.capacity_prices),
        diagnostics=list(result.diagnostics),
        infeasibility=(
            infeasibility_from(result.diagnosis, problem, index, scenario)
            if result.diagnosis is not None
            else None
        ),
        horizon=horizon,
        site_periods=site_periods,
        startup=startup,
        gpu_utilization=utilization,
        nodes=nodes,
    )


def serving_kpis(
    scenario: Scenario, index: Index, placements: list[Placement]
) -> tuple[list[Placement], dict[str, float | None]]:
    """(placements with the token figures of token-served ones, the plan's token totals)
    (docs/serving.md): TTFT at the placement's replicas; prompt and output tokens/s
    served in normal operation (demand / copies / split x mean tokens); cost per 1,000
    tokens, the placement's cost split between prompt and output by the prefill and
    decode shares of its replicas' busy time. A timed plan's totals average tokens/s
    over the horizon."""
    workloads = {w.id: w for w in scenario.workloads}
    units = {u.name: u for u in index.units}
    catalog = scenario.catalog()
    hours = index.time.hours if index.time is not None else 1.0
    run_h = index.time.period_hours if index.time is not None else 1.0
    sums = dict.fromkeys(("prompt", "output", "cost_prompt", "cost_output"), 0.0)
    out = []
    for p in placements:
        w = workloads[p.workload]
        if p.kind != "inference" or getattr(w, "tokens", None) is None:
            out.append(p)
            continue
        unit = units[p.unit]
        t = w.tokens
        normal = unit.demand_rps * (unit.copies - w.redundancy.failures) / unit.copies
        if p.decode_pool is not None and p.decode_accelerator is not None:
            sized, extra = _disagg_kpis(scenario, w, p, unit.demand_rps, normal)
        else:
            sized = token_sizing(
                w,
                p.accelerator,
                catalog[p.accelerator].memory_gb,
                unit.demand_rps,
                p.latency_ms or 0,
            )
            extra = {}
        prompt = normal * t.prompt_tokens.mean_tokens
        output = normal * t.output_tokens.mean_tokens
        cost = p.cost_usd if p.cost_usd is not None else p.cost_usd_per_h  # over run_h
        kilo = 3600.0 * run_h / 1000.0  # tokens/s -> thousands of tokens over run_h
        out.append(
            p.model_copy(
                update={
                    "ttft_ms": sized.ttft_ms,
                    "prompt_tokens_per_s": prompt,
                    "output_tokens_per_s": output,
                    "usd_per_1k_prompt_tokens": cost * sized.prefill_share / (prompt * kilo),
                    "usd_per_1k_output_tokens": cost
                    * (1.0 - sized.prefill_share)
                    / (output * kilo),
                    "usd_per_1k_tokens": cost / ((prompt + output) * kilo),
                    **extra,
                }
            )
        )
        sums["prompt"] += prompt * run_h / hours
        sums["output"] += output * run_h / hours
        sums["cost_prompt"] += cost * sized.prefill_share
        sums["cost_output"] += cost * (1.0 - sized.prefill_share)
    return out, _token_totals(sums, hours)


def _disagg_kpis(scenario: Scenario, w, p: Placement, share: float, normal: float):
    """(figures with ttft_ms and prefill_share, the placement's KV transfer USD/h) of a
    disaggregated placement: its cost splits between prompt and output tokens by the
    GPU-hour prices of its prefill and decode GPUs (docs/serving.md)."""
    catalog = scenario.catalog()
    pools = {q.key: q for s in scenario.sites if s.id == p.site for q in s.pools}
    first, second = pools[p.pool], pools[p.decode_pool]
    acc1, acc2 = catalog[p.accelerator], catalog[p.decode_accelerator]
    sized = disagg_sizing(
        w, acc1.id, acc1.memory_gb, acc2.id, acc2.memory_gb, share, normal, p.latency_ms or 0
    )
    decode_gpus = p.decode_gpus or 0
    prefill_usd = (p.gpus - decode_gpus) * first.cost_usd_per_gpu_h
    decode_usd = decode_gpus * second.cost_usd_per_gpu_h
    total = prefill_usd + decode_usd
    figures = _Sized(sized.ttft_ms, prefill_usd / total if total > 0 else 0.5)
    return figures, {"kv_transfer_usd_per_h": sized.kv_transfer_usd_per_h}


class _Sized(NamedTuple):
    ttft_ms: float
    prefill_share: float


def _token_totals(sums: dict[str, float], hours: float) -> dict[str, float | None]:
    """The plan's token totals from the sums of `serving_kpis` (None where no tokens)."""
    kilo = 3600.0 * hours / 1000.0
    prompt, output = sums["prompt"], sums["output"]
    cost = sums["cost_prompt"] + sums["cost_output"]
    return {
        "prompt_tokens_per_s": prompt,
        "output_tokens_per_s": output,
        "usd_per_1k_prompt_tokens": sums["cost_prompt"] / (prompt * kilo) if prompt else None,
        "usd_per_1k_output_tokens": sums["cost_output"] / (output * kilo) if output else None,
        "usd_per_1k_tokens": cost / ((prompt + output) * kilo) if prompt + output else None,
    }


def gpu_utilization(
    scenario: Scenario, placements: list[Placement], sites: list[SiteUsage]
) -> list[GpuUtilization]:
    """GPUs used / installed per pool (a timed plan: the peak over periods of the GPUs
    a pool's placements hold, against its largest size), then per site (the site rows'
    figures)."""
    used: dict[tuple[str, str], dict[int, int]] = {}
    for p in placements:
        # a disaggregated placement's decode GPUs count in its decode pool
        decode = p.decode_gpus or 0
        parts = [(p.pool, p.gpus - decode)]
        if p.decode_pool is not None:
            parts.append((p.decode_pool, decode))
        first = p.start_period or 0
        for pool_key, gpus in parts:
            by_period = used.setdefault((p.site, pool_key), {})
            for t in range(first, first + (p.periods or 1)):
                by_period[t] = by_period.get(t, 0) + gpus
    rows = []
    for site in sorted(scenario.sites, key=lambda s: s.id):
        for pool in sorted(site.pools, key=lambda q: q.key):
            total = max(pool.gpus) if isinstance(pool.gpus, list) else pool.gpus
            peak = max(used.get((site.id, pool.key), {}).values(), default=0)
            rows.append(
                GpuUtilization(
                    site=site.id,
                    pool=pool.key,
                    accelerator=pool.accelerator,
                    gpus_used=gpu_count(peak),
                    gpus_total=round(total),
                    utilization=peak / total if total else None,
                )
            )
    for s in sites:
        rows.append(
            GpuUtilization(
                site=s.site,
                gpus_used=s.gpus_used,
                gpus_total=s.gpus_total,
                utilization=s.gpus_used / s.gpus_total if s.gpus_total else None,
            )
        )
    return rows


def _prices(index: Index, rows: list[tuple]) -> list[CapacityPrice]:
    """Capacity prices in the scenario's words. A timed problem has one row of a pool or
    site resource per period: their prices are summed (the saving of one more unit in
    every period, which is what raising the scenario's field buys) and `periods` says
    how many periods bind."""
    prices = [_price(index, *row) for row in rows]
    if index.time is None:
        return prices
    merged: dict[tuple[str, str], CapacityPrice] = {}
    for price in prices:
        key = (price.site, price.resource)
        if key not in merged:
            merged[key] = price.model_copy(update={"holds_for_units": None, "periods": 1})
            continue
        same = merged[key]
        merged[key] = same.model_copy(
            update={
                "usd_per_h_per_unit": same.usd_per_h_per_unit + price.usd_per_h_per_unit,
                "periods": (same.periods or 1) + 1,
                "holds_as_far_as_searched": False,
            }
        )
    return sorted(merged.values(), key=lambda c: -c.usd_per_h_per_unit)


def _where(index: Index, i: int, resource: str) -> tuple[str, str]:
    """(site, resource label) of a capacity row's scope `i` (a pool for the pool kinds:
    gpus, node_slots, mig_slices; a site for the site kinds; -1 global). A soft row's
    resource ends in `rows.SOFT_LABEL` ("facility_kw (priced cap)")."""
    if i < 0:
        return "*", resource
    if KIND_SCOPE[KIND_NAMES.index(label_kind(resource))] == 0:
        pool = index.pools[i]
        return pool.site, f"{resource} ({pool.key})"
    return index.sites[i], resource


def _price(index: Index, i: int, resource: str, value: float, *rest) -> CapacityPrice:
    """A capacity price from an engine's (scope, kind, price[, holds for]) row."""
    site, label = _where(index, i, resource)
    holds = rest[0] if rest else None
    endless = holds is not None and not np.isfinite(holds)
    return CapacityPrice(
        site=site,
        resource=label,
        usd_per_h_per_unit=value,
        unit=_RESOURCE_UNITS.get(label_kind(resource), ""),
        holds_for_units=None if endless else holds,
        holds_as_far_as_searched=endless,
    )


def infeasibility_from(
    diagnosis, problem: Problem, index: Index, scenario: Scenario
) -> Infeasibility:
    """The solver-side Diagnosis in the scenario's words: each fix as the changes a person
    makes (rounded up) and their `--set` strings, not yet re-solved (`placer.api` proves
    them and orders them)."""
    fixes: list[Fix] = []
    for found in (_fix(f, index, scenario) for f in diagnosis.fixes):
        same = next((f for f in fixes if f.set == found.set), None)
        if same is None:
            fixes.append(found)
        else:  # two criteria, one fix once rounded: shown once, under both names
            i = fixes.index(same)
            fixes[i] = same.model_copy(
                update={
                    "label": f"{same.label}, {found.label}",
                    "minimal": same.minimal and found.minimal,
                }
            )
    return summarised(
        Infeasibility(
            unplaceable=[_unplaced(problem, index, u) for u in diagnosis.unplaceable],
            fixes=fixes,
            complete=diagnosis.complete,
        )
    )


def _fix(fix, index: Index, scenario: Scenario) -> Fix:
    changes = [addition_change(scenario, index, *a) for a in fix.additions]
    # rows that one field grows (a pool's node rows: one shape's count) take the most
    most: dict[str, int] = {}
    for i, c in enumerate(changes):
        if c.path not in most or c.amount > changes[most[c.path]].amount:
            most[c.path] = i
    changes = [c for i, c in enumerate(changes) if most[c.path] == i]
    workloads = sorted({index.units[u].workload for u in fix.drops})
    changes += [c for w in workloads for c in drop_changes(scenario, w)]
    additions = [
        CapacityAddition(site=c.site, resource=c.resource, amount=c.amount, text=c.text)
        for c in changes
        if c.resource != "must_place"
    ]
    return Fix(
        label=fix.label,
        additions=additions,
        drops=[index.units[u].name for u in fix.drops],
        set=[c.set for c in changes],
        minimal=fix.complete,
        proven=False,
    )


def placement_of(problem: Problem, index: Index, u: int, o: int) -> Placement:
    """Unit u on option o, with the figures compile gives for the pair."""
    unit, pool = index.units[u], index.pools[int(problem.pool_o[o])]
    k = int(problem.slots_of(u, np.array([o]))[0])
    amount = problem.amount_quk[:, u, k]
    pair = {name: amount[q] for name, q in _PAIR_FIGURES.items()}
    pair["latency_ms"] = problem.latency_ms_uk[u, k]
    placed = _placement(unit, pool, index.replicas_uk[u, k], index.hours_uk[u, k], pair)
    decode = index.decode_pool_of(o)
    if decode is not None and index.decode_replicas_uk is not None:
        dp = index.pools[decode]
        placed = placed.model_copy(
            update={
                "decode_pool": dp.key,
                "decode_accelerator": dp.accelerator,
                "decode_replicas": int(index.decode_replicas_uk[u, k]),
                "decode_gpus": gpu_count(float(amount[-1])),  # the last quantity (compile)
            }
        )
    if index.time is None:
        return placed
    return _timed(placed, unit, index.time, o, float(index.hours_uk[u, k]))


def _timed(placed: Placement, unit, time: TimeIndex, o: int, hours: float) -> Placement:
    """A placement of a timed plan: when it runs, its totals, and its water averaged
    over the horizon like its cost (the row amount is the rate while it runs)."""
    first, length = int(time.start_o[o]), int(time.length_o[o])
    run_h = hours if unit.kind == "training" else time.period_hours
    begins = parse_instant(time.start) + dt.timedelta(hours=first * time.period_hours)
    water_l = placed.water_l_per_h * run_h
    return placed.model_copy(
        update={
            "period": unit.period if unit.kind == "inference" else None,
            "part": unit.part,
            "start_period": first,
            "periods": length,
            "start": begins.isoformat(),
            "end": (begins + dt.timedelta(hours=run_h)).isoformat(),
            "cost_usd": placed.cost_usd_per_h * time.hours,
            "carbon_kg": placed.carbon_kg_per_h * time.hours,
            "water_l": water_l,
            "water_l_per_h": water_l / time.hours,
        }
    )


#: Placement figures read from the amounts, by quantity.
_PAIR_FIGURES = {
    "gpus": Q_GPUS,
    "it_kw": Q_IT_KW,
    "facility_kw": Q_FACILITY_KW,
    "cost_usd_per_h": Q_COST,
    "carbon_kg_per_h": Q_CARBON,
    "water_l_per_h": Q_WATER,
}


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
        gpus=gpu_count(float(pair["gpus"])),
        replicas=int(replicas),
        latency_ms=float(pair["latency_ms"]) if unit.kind == "inference" else None,
        hours=float(hours) if unit.kind == "training" else None,
        it_kw=float(pair["it_kw"]),
        facility_kw=float(pair["facility_kw"]),
        cost_usd_per_h=float(pair["cost_usd_per_h"]),
        carbon_kg_per_h=float(pair["carbon_kg_per_h"]),
        water_l_per_h=float(pair["water_l_per_h"]),
    )


def unplaced_reason(problem: Problem, index, u: int) -> str:
    """Why a unit is out: every mask reason with its pool count, or capacity/value."""
    if (problem.option_uk[u] >= 0).any():
        if problem.must_place_u[u]:
            return "no room: the capacities, caps and spread rules left no pool for it"
        return "left out: no pool had room at a cost below its value"
    per_reason = problem.reason_count_ur[u].tolist()
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
        period=unit.period if unit.period >= 0 else None,
        part=unit.part,
        must_place=bool(problem.must_place_u[u]),
        value_usd_per_h=float(problem.unplaced_usd_per_h_u[u]),
        reason=unplaced_reason(problem, index, u),
    )


def site_loads(problem: Problem, loads: Loads, kind: int) -> np.ndarray:
    """float64[n]: the load on each pool's (GPU kind) or site's row of `kind`."""
    n = problem.num_pools if kind == K_GPUS else problem.num_sites
    rows = rows_of_kind(problem.kind_r, problem.scope_r, kind, n)
    return np.where(rows >= 0, loads.loads_r[np.maximum(rows, 0)], 0.0)


def _site_usage(
    scenario: Scenario, problem: Problem, index: Index, loads: Loads, placements: list[Placement]
) -> list[SiteUsage]:
    by_id = {s.id: s for s in scenario.sites}
    gpus_s = np.zeros(len(index.sites))
    site_pos = {sid: i for i, sid in enumerate(index.sites)}
    gpus_p = site_loads(problem, loads, K_GPUS)
    for p, pool in enumerate(index.pools):
        gpus_s[site_pos[pool.site]] += gpus_p[p]
    it_kw, facility_kw, heat_kw, water = (
        site_loads(problem, loads, k) for k in (K_IT, K_FACILITY, K_HEAT, K_WATER)
    )
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
                gpus_used=gpu_count(float(gpus_s[s])),
                gpus_total=sum(pl.gpus for pl in site.pools),
                it_kw=float(it_kw[s]),
                it_capacity_kw=site.power.it_capacity_kw,
                facility_kw=float(facility_kw[s]),
                grid_cap_kw=site.power.grid_cap_kw,
                heat_kw=float(heat_kw[s]),
                heat_rejection_kw=site.cooling.heat_rejection_kw or site.power.it_capacity_kw,
                water_l_per_h=float(water[s]),
                water_cap_l_per_h=cap_day / 24.0 if cap_day else None,
                cost_usd_per_h=cost_s.get(sid, 0),
                carbon_kg_per_h=carbon_s.get(sid, 0),
            )
        )
    return rows
