"""Human and machine renderings of a Plan: terminal tables, JSON, YAML."""

from __future__ import annotations

import io
import json

from placer.plan.plan import Plan


def to_json(plan: Plan) -> str:
    """The plan as indented JSON (the stable, versioned contract)."""
    return json.dumps(plan.model_dump(mode="json"), indent=2) + "\n"


def to_yaml(plan: Plan) -> str:
    """The plan as YAML (same fields as JSON)."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False
    buf = io.StringIO()
    yaml.dump(plan.model_dump(mode="json"), buf)
    return buf.getvalue()


def summary_line(plan: Plan) -> str:
    """One-line JSON summary for pipelines."""
    t = plan.totals
    return json.dumps(
        {
            "apiVersion": plan.apiVersion,
            "kind": "PlanSummary",
            "status": plan.status,
            "solver": plan.solver,
            "objective_usd_per_h": plan.objective_usd_per_h,
            "bound_usd_per_h": plan.bound_usd_per_h,
            "gap": plan.gap,
            "cost_usd_per_h": t.cost_usd_per_h if t else None,
            "carbon_kg_per_h": t.carbon_kg_per_h if t else None,
            "placed_units": t.placed_units if t else 0,
            "unplaced_units": t.unplaced_units if t else 0,
            "wall_s": plan.wall_s,
            **_token_summary(plan),
            **(
                {"fragmented_gpus": sum(n.fragmented_gpus for n in plan.nodes)}
                if plan.nodes
                else {}
            ),
            **_utilization_summary(plan),
        }
    )


def _utilization_summary(plan: Plan) -> dict[str, float]:
    """GPUs used / installed over every site, for plans that state GPU utilisation."""
    sites = [u for u in plan.gpu_utilization if u.pool is None]
    total = sum(u.gpus_total for u in sites)
    if not sites or not total:
        return {}
    return {"gpu_utilization": round(sum(u.gpus_used for u in sites) / total, 6)}


def _token_summary(plan: Plan) -> dict[str, float | None]:
    """The token KPIs of a plan with token-served workloads (none otherwise: the line
    stays as it was for other plans)."""
    t = plan.totals
    if t is None or t.prompt_tokens_per_s is None:
        return {}
    return {
        "prompt_tokens_per_s": t.prompt_tokens_per_s,
        "output_tokens_per_s": t.output_tokens_per_s,
        "usd_per_1k_prompt_tokens": t.usd_per_1k_prompt_tokens,
        "usd_per_1k_output_tokens": t.usd_per_1k_output_tokens,
        "usd_per_1k_tokens": t.usd_per_1k_tokens,
    }


def _usd(x: float | None) -> str:
    """A cost per 1,000 tokens: four significant figures ('-' for none)."""
    return "-" if x is None else f"{x:.4g}"


def serving_text(plan: Plan) -> str:
    """Token-served placements (TTFT, tokens/s, USD per 1k tokens), the plan's token
    totals and GPU utilisation per pool and site; empty for other plans."""
    t = plan.totals
    served = [p for p in plan.placements if p.ttft_ms is not None]
    if t is None or t.prompt_tokens_per_s is None:
        return ""
    lines = [
        "\nServing (tokens; cost split by the prefill and decode shares of replica time)",
        f"  {t.prompt_tokens_per_s:,.0f} prompt + {t.output_tokens_per_s or 0:,.0f} output "
        f"tokens/s   USD per 1k tokens: prompt {_usd(t.usd_per_1k_prompt_tokens)}, output "
        f"{_usd(t.usd_per_1k_output_tokens)}, all {_usd(t.usd_per_1k_tokens)}",
    ]
    rows = [
        [
            p.unit,
            f"{p.site}/{_pool_of(p)}",
            str(p.replicas if p.decode_replicas is None else f"{p.replicas}+{p.decode_replicas}"),
            f"{p.ttft_ms:,.0f}",
            f"{p.prompt_tokens_per_s or 0:,.0f}",
            f"{p.output_tokens_per_s or 0:,.0f}",
            _usd(p.usd_per_1k_prompt_tokens),
            _usd(p.usd_per_1k_output_tokens),
            _usd(p.usd_per_1k_tokens),
        ]
        for p in served
    ]
    if rows:
        lines.append(
            _table(
                [
                    "unit",
                    "pool",
                    "replicas",
                    "ttft_ms",
                    "prompt_tok_s",
                    "output_tok_s",
                    "usd_1k_prompt",
                    "usd_1k_output",
                    "usd_1k_all",
                ],
                rows,
            )
        )
    util = [
        [
            u.site,
            u.pool or "(site)",
            f"{_gpus(u.gpus_used)}/{u.gpus_total}",
            "-" if u.utilization is None else f"{100 * u.utilization:.0f}%",
        ]
        for u in plan.gpu_utilization
    ]
    if util:
        lines.append(
            "\nGPU utilisation (used / installed)\n"
            + _table(["site", "pool", "gpus", "util"], util)
        )
    return "\n".join(lines)


def nodes_text(plan: Plan) -> str:
    """Pools with node shapes: nodes used, pods, free GPUs and what each pod size can
    still use of them (docs/nodes.md); empty for other plans."""
    lines: list[str] = []
    nodes = [
        [
            n.site,
            n.pool,
            f"{n.nodes_used}/{n.nodes}",
            str(n.pods),
            str(n.free_gpus),
            " ".join(f"{size}:{_gpus(gpus)}" for size, gpus in n.usable_free_gpus.items()),
            _gpus(n.fragmented_gpus),
        ]
        for n in plan.nodes
    ]

    if nodes:
        lines.append(
            "\nNodes (pods packed largest first; usable = free GPUs pods of that size can use)\n"
            + _table(
                ["site", "pool", "nodes used", "pods", "free", "usable by size", "fragmented"],
                nodes,
            )
        )
    for n in plan.nodes:
        if n.mig_gpus:
            used = sum(n.mig_layouts.values())
            layouts = ", ".join(f"{count} x {name}" for name, count in n.mig_layouts.items())
            head = f"  MIG {n.site}/{n.pool}: {used} of {n.mig_gpus} MIG GPUs set up"
            lines.append(head + (f": {layouts}" if layouts else ""))
    return "\n".join(lines)


def _gpus_total(x: int | float) -> str:
    """A plan's GPU total: thousands separated; a share to two decimals."""
    return f"{x:,}" if isinstance(x, int) or float(x).is_integer() else f"{x:,.2f}"


def _gpus(x: int | float) -> str:
    """A GPU count for a table: whole, or a share to two decimals (a MIG or shared GPU)."""
    return str(x) if isinstance(x, int) or float(x).is_integer() else f"{x:.2f}"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(cells, widths, strict=True)
        ).rstrip()

    lines = [fmt(headers), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in rows]
    return "\n".join(lines)


def _numeric(cell: str) -> bool:
    return cell.replace(".", "").replace(",", "").replace("-", "").replace("%", "").isdigit()


def _pct(used: float, cap: float | None) -> str:
    return "-" if not cap else f"{100 * used / cap:.0f}%"


def to_table(plan: Plan) -> str:
    """A readable multi-section text report for a terminal."""
    out = [_header(plan)]
    if plan.horizon is not None:
        out.append(schedule_text(plan))
    else:
        out.append("\nPlacements\n" + _placements_table(plan))
    if nodes := nodes_text(plan):
        out.append(nodes)
    if serving := serving_text(plan):
        out.append(serving)
    if plan.unplaced:
        out.append(
            "\nUnplaced\n"
            + _table(
                ["unit", "must_place", "value_usd_per_h", "reason"],
                [
                    [u.unit, "yes" if u.must_place else "no", f"{u.value_usd_per_h:,.2f}", u.reason]
                    for u in plan.unplaced
                ],
            )
        )
    site_rows = [
        [
            s.site,
            s.tier,
            f"{_gpus(s.gpus_used)}/{s.gpus_total}",
            f"{s.it_kw:,.1f}/{s.it_capacity_kw:,.0f}" if s.it_capacity_kw else f"{s.it_kw:,.1f}",
            _pct(s.it_kw, s.it_capacity_kw),
            _pct(s.facility_kw, s.grid_cap_kw),
            _pct(s.heat_kw, s.heat_rejection_kw),
            _pct(s.water_l_per_h, s.water_cap_l_per_h),
        ]
        for s in plan.sites
    ]
    out.append(
        "\nSites\n"
        + _table(["site", "tier", "gpus", "it_kw", "it", "grid", "cooling", "water"], site_rows)
    )
    if plan.infeasibility is not None:
        out.append("\n" + infeasibility_text(plan))
    if plan.capacity_prices:
        out.append(
            "\nBinding capacities (value of one more unit)\n"
            + _table(
                ["site", "resource", "usd_per_h_per_unit"],
                [
                    [c.site, f"{c.resource} ({c.unit})", f"{c.usd_per_h_per_unit:,.4f}"]
                    for c in plan.capacity_prices
                ],
            )
        )
    return "\n".join(out) + "\n"


def _pool_of(p) -> str:
    """A placement's pool; a disaggregated one's as `prefill -> decode` (docs/serving.md)."""
    return p.pool if p.decode_pool is None else f"{p.pool} -> {p.decode_pool}"


def _placements_table(plan: Plan) -> str:
    rows = [
        [
            p.unit,
            p.site,
            _pool_of(p),
            _gpus(p.gpus),
            "-" if p.latency_ms is None else f"{p.latency_ms:.1f}",
            f"{p.cost_usd_per_h:,.2f}",
            f"{p.carbon_kg_per_h:,.2f}",
            f"{p.water_l_per_h:,.1f}",
        ]
        for p in plan.placements
    ]
    return _table(
        ["unit", "site", "pool", "gpus", "rtt_ms", "usd_per_h", "kgco2_per_h", "water_l_per_h"],
        rows,
    )


def _short(instant: str | None) -> str:
    """'2022-06-13T06:00:00+00:00' -> '06-13 06:00' (the plan JSON keeps the full form)."""
    return "-" if instant is None else f"{instant[5:10]} {instant[11:16]}"


def schedule_text(plan: Plan) -> str:
    """A timed plan: each training run's start, end and pool; each service's replicas per
    period summarised by region; the horizon's totals."""
    h = plan.horizon
    assert h is not None
    lines = [
        f"\nHorizon: {h.periods} periods of {h.period_hours:g} h from {h.start}: cost "
        f"{h.cost_usd:,.2f} USD, carbon {h.carbon_kg:,.1f} kgCO2e, water {h.water_l:,.0f} L"
    ]
    if over := over_limit_text(plan):
        lines.append(over)
    runs = sorted(
        (p for p in plan.placements if p.kind == "training"), key=lambda p: (p.start or "", p.unit)
    )
    if runs:
        rows = [
            [
                p.unit,
                p.site,
                p.pool,
                _gpus(p.gpus),
                _short(p.start),
                _short(p.end),
                f"{p.hours or 0:,.1f}",
                f"{p.cost_usd or 0:,.2f}",
                f"{p.carbon_kg or 0:,.1f}",
            ]
            for p in runs
        ]
        lines.append(
            "\nTraining schedule\n"
            + _table(
                ["run", "site", "pool", "gpus", "start", "end", "hours", "cost_usd", "kgco2"], rows
            )
        )
        paused = [p for p in runs if p.segments]
        if paused:  # runs that pause or migrate: their segments and pools (docs/time.md)
            lines.append(
                "Preempted runs (segments, whole periods, in their pools):\n"
                + "\n".join(
                    f"  {p.unit}: "
                    + ", ".join(
                        f"{_short(s.start)}-{_short(s.end)} {s.site or p.site}/{s.pool or p.pool}"
                        for s in p.segments or []
                    )
                    + f" ({p.resumes} resume{'s' if p.resumes != 1 else ''}"
                    + (
                        f", {p.moves} move{'s' if p.moves != 1 else ''} "
                        f"{p.migration_usd or 0:,.2f} USD"
                        if p.moves is not None
                        else ""
                    )
                    + ")"
                    for p in paused
                )
            )
            if h.migration_cost_usd > 0:
                lines.append(f"Moves between pools: {h.migration_cost_usd:,.2f} USD of the cost")
    services: dict[tuple[str, str | None], list] = {}
    for p in plan.placements:
        if p.kind == "inference":
            services.setdefault((p.workload, p.region), []).append(p)
    if services:
        rows = []
        for (wid, region), places in sorted(
            services.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
        ):
            per_period: dict[int, int] = {}
            for p in places:
                per_period[p.period or 0] = per_period.get(p.period or 0, 0) + p.replicas
            pools = sorted({f"{p.site}/{p.pool}" for p in places})
            rows.append(
                [
                    f"{wid}/{region}",
                    str(len(per_period)),
                    f"{min(per_period.values())}-{max(per_period.values())}",
                    str(len(pools)),
                    ", ".join(pools[:3]) + (f" +{len(pools) - 3}" if len(pools) > 3 else ""),
                    f"{sum(p.cost_usd or 0 for p in places):,.2f}",
                    f"{sum(p.carbon_kg or 0 for p in places):,.1f}",
                ]
            )
        lines.append(
            "\nServices (replicas per period, all copies and shares)\n"
            + _table(
                ["service/region", "periods", "replicas", "pools", "where", "cost_usd", "kgco2"],
                rows,
            )
        )
    if plan.startup:
        rows = [
            [
                w.workload,
                f"{w.replicas_started:,}",
                f"{w.usd_per_replica:,.2f}",
                f"{w.cost_usd:,.2f}",
            ]
            for w in plan.startup
        ]
        lines.append(
            f"\nReplica start-ups ({h.startup_cost_usd:,.2f} USD of the cost; period 0's "
            "replicas are the starting fleet unless the service states running_replicas)\n"
            + _table(["service", "replicas_started", "usd_per_replica", "cost_usd"], rows)
        )
    caps = period_caps_text(plan)
    if caps:
        lines.append("\n" + caps)
    return "\n".join(lines)


def period_caps_text(plan: Plan) -> str | None:
    """Lines on the caps per period (docs/time.md), where the scenario sets any: for each
    kind capped, the period closest to its cap (spend or emissions against the cap)."""
    h = plan.horizon
    if h is None or h.cost_usd_per_period_h is None:
        return None
    out = ["Caps per period (the period closest to its cap)"]
    for what, unit, spent, caps in (
        ("budget", "USD/h", h.cost_usd_per_period_h, h.budget_usd_per_period_h),
        ("carbon", "kg/h", h.carbon_kg_per_period_h, h.carbon_cap_kg_per_period_h),
    ):
        capped = [
            (v / c if c else float(v > 0), t)
            for t, (v, c) in enumerate(zip(spent or [], caps or [], strict=True))
            if c is not None
        ]
        if not capped:
            continue
        share, t = max(capped, key=lambda st: (st[0], -st[1]))  # the earliest of ties
        out.append(f"  {what}: period {t}, {spent[t]:,.2f} of {caps[t]:,.2f} {unit} ({share:.0%})")
    return "\n".join(out) if len(out) > 1 else None


def over_limit_text(plan: Plan) -> str | None:
    """One line on the energy drawn above priced grid events' caps (docs/time.md), where
    the plan pays any: kWh, the sites and periods, and the USD (of the cost)."""
    h = plan.horizon
    if h is None or h.over_limit_usd <= 0:
        return None
    kwh, where = 0.0, []
    for sp in plan.site_periods:
        periods = [t for t, kw in enumerate(sp.over_limit_kw or []) if kw > 0]
        if periods:
            kwh += sum(sp.over_limit_kw[t] for t in periods) * h.period_hours
            shown = ", ".join(str(t) for t in periods[:6]) + (" ..." if len(periods) > 6 else "")
            where.append(f"{sp.site} (period{'s' if len(periods) > 1 else ''} {shown})")
    return (
        f"Grid events priced per kWh: {kwh:,.1f} kWh drawn above their caps at "
        f"{'; '.join(where)}: {h.over_limit_usd:,.2f} USD of the cost"
    )


def infeasibility_text(plan: Plan) -> str:
    """Why the scenario is infeasible and the fixes that work: each fix found was
    re-solved with its changes applied, and only those that solved are shown."""
    inf = plan.infeasibility
    if inf is None:
        return "No infeasibility: the scenario has a feasible plan."
    lines = ["Why no plan exists"]
    for u in inf.unplaceable:
        lines.append(f"  {u.unit}: {u.reason}")
    proven = [f for f in inf.fixes if f.proven]
    if proven:
        lines.append("  Fixes, each re-solved with its changes applied:")
    for n, fix in enumerate(proven, start=1):
        lines.append(f"  {n}. {fix.label}: {_fix_outcome(fix)}")
        lines += [f"     - {a.text}" for a in fix.additions]
        if fix.drops:
            lines.append(f"     - drop (make optional): {', '.join(fix.drops)}")
        if fix.set:  # one variant: the changes joined with ';'
            lines.append(f"     apply: placer whatif SCENARIO --set '{'; '.join(fix.set)}'")
    if len(proven) < len(inf.fixes):
        lines.append(
            f"  ({len(inf.fixes) - len(proven)} more found that did not solve when applied: "
            "not shown; see `fixes` in the plan JSON)"
        )
    if not inf.complete:
        lines.append("  (the search for fixes ran out of time: they may not be minimal)")
    if len(lines) == 1:
        lines.append("  no capacity addition or drop found within the time limit")
    return "\n".join(lines)


def _fix_outcome(fix) -> str:
    """'proven (re-solve: optimal, 1,234.00 USD/h), minimal' for a proven fix."""
    objective = fix.objective_after_usd_per_h
    cost = "" if objective is None else f", {objective:,.2f} USD/h"
    return f"proven (re-solve: {fix.status_after}{cost})" + (", minimal" if fix.minimal else "")


def binding_text(plan: Plan) -> str:
    """What limits a feasible plan: binding capacities and their prices."""
    lines = [f"{plan.status.upper()}: objective {plan.objective_usd_per_h or 0:,.2f} USD/h"]
    if not plan.capacity_prices:
        lines.append("  No capacity binds: more of any would not lower the objective.")
    for c in plan.capacity_prices:
        where = "whole plan" if c.site == "*" else c.site
        lines.append(
            f"  {where} {c.resource}: one more {c.unit} saves {c.usd_per_h_per_unit:,.4f} USD/h"
            + _price_range(c)
        )
        if c.step_saving_usd_per_h is not None and c.step_units is not None:
            lines.append(
                f"    {c.step_units:,g} {c.unit} more (re-solved) saves "
                f"{c.step_saving_usd_per_h:,.2f} USD/h"
            )
    return "\n".join(lines)


def _price_range(c) -> str:
    """' for the first 12.5 kW' (the range over which a capacity price holds)."""
    if c.periods is not None:
        return f" in every period (binds in {c.periods} of them)"
    if c.holds_as_far_as_searched:
        return " (holds as far as searched: 64x the capacity)"
    if c.holds_for_units is None:
        return ""
    if c.holds_for_units < 1:  # the LP's price of a fraction: a whole unit is worth less
        return f" for under one {c.unit} (a whole one is worth less)"
    return f" for the first {c.holds_for_units:,.4g} {c.unit}"


def _header(plan: Plan) -> str:
    t = plan.totals
    lines = [
        f"placer plan — {plan.scenario or 'scenario'}: {plan.status.upper()}"
        f" ({plan.solver}, {plan.wall_s:.2f} s)"
    ]
    if plan.message:
        lines.append(f"  {plan.message}")
    if plan.objective_usd_per_h is not None:
        bound = ""
        if plan.bound_usd_per_h is not None and plan.gap is not None:
            bound = f"   bound {plan.bound_usd_per_h:,.2f}   gap {100 * plan.gap:.3f}%"
        lines.append(f"  objective {plan.objective_usd_per_h:,.2f} USD/h{bound}")
    if t is not None:
        lines.append(
            f"  cost {t.cost_usd_per_h:,.2f} USD/h   carbon {t.carbon_kg_per_h:,.1f} "
            f"kgCO2e/h   water {t.water_l_per_h:,.0f} L/h   GPUs {_gpus_total(t.gpus)}   "
            f"units {t.placed_units} placed, {t.unplaced_units} unplaced"
        )
    return "\n".join(lines)
