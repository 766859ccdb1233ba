"""The report's tables: placements, per-workload totals, unplaced units with the
infeasibility fixes, binding capacities with their prices, and the Pareto section (its
chart, a note and the table of its points). Tables marked sortable get the page's script.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from placer.model.scenario import Scenario
from placer.outputs.html.chart_pareto import _chart_pareto
from placer.outputs.html.markup import TIER_LABELS, _e, _gap, _num
from placer.plan.plan import ParetoFront, ParetoPoint, Plan


def _pool_label(p) -> str:
    """A placement's pool (and accelerator where the pool's id differs); a disaggregated
    placement's as `prefill -> decode` (docs/serving.md)."""
    label = p.pool if p.pool == p.accelerator else f"{p.pool} ({p.accelerator})"
    if p.decode_pool is not None:
        label += f" -> {p.decode_pool}"
    return label


def _table(
    table_id: str,
    headers: Sequence[tuple[str, bool]],
    rows: Iterable[Sequence[tuple[str, float | str | None]]],
    *,
    sortable: bool = True,
) -> str:
    """A table; headers: (label, numeric); cells: (text, sort value or None)."""
    cls = ' class="sortable"' if sortable else ""
    num_cls = ' class="num"'
    head = "".join(f"<th{num_cls if num else ''}>{_e(h)}</th>" for h, num in headers)
    body = []
    for row in rows:
        cells = []
        for (text, value), (_, num) in zip(row, headers, strict=True):
            dv = f' data-v="{_e(value)}"' if value is not None else ""
            cells.append(f"<td{num_cls if num else ''}{dv}>{_e(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="tablewrap"><table id="{table_id}"{cls}><thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _cell(value: float | None, digits: int | None = None) -> tuple[str, float | None]:
    """A numeric table cell: (formatted text, raw value to sort by)."""
    return _num(value, digits), value


def _placements_table(scenario: Scenario, plan: Plan) -> str:
    if not plan.placements:
        return '<p class="empty" id="no-placements">No placements: the plan places nothing.</p>'
    tiers = {s.id: s.tier for s in scenario.sites}
    headers = [
        ("Unit", False),
        ("Workload", False),
        ("Kind", False),
        ("Region", False),
        ("Site", False),
        ("Tier", False),
        ("Pool", False),
        ("GPUs", True),
        ("Replicas", True),
        ("RTT ms", True),
        ("Hours", True),
        ("IT kW", True),
        ("Facility kW", True),
        ("Cost USD/h", True),
        ("Carbon kg/h", True),
        ("Water L/h", True),
    ]
    rows = [
        [
            (p.unit, None),
            (p.workload, None),
            (p.kind, None),
            (p.region or "—", None),
            (p.site, None),
            (TIER_LABELS.get(tiers[p.site], tiers[p.site]), None),
            (_pool_label(p), None),
            _cell(p.gpus, 0),
            _cell(p.replicas, 0) if p.kind == "inference" else ("—", None),
            _cell(p.latency_ms, 1),
            _cell(p.hours, 1),
            _cell(p.it_kw, 1),
            _cell(p.facility_kw, 1),
            _cell(p.cost_usd_per_h, 2),
            _cell(p.carbon_kg_per_h, 2),
            _cell(p.water_l_per_h, 1),
        ]
        for p in plan.placements
    ]
    return _table("table-placements", headers, rows)


def _workload_table(scenario: Scenario, plan: Plan) -> str:
    agg: dict[str, dict[str, float]] = {}
    for w in scenario.workloads:
        agg[w.id] = dict.fromkeys(("placed", "unplaced", "gpus", "cost", "carbon", "water"), 0.0)
    for p in plan.placements:
        a = agg.setdefault(p.workload, dict.fromkeys(("placed", "unplaced"), 0.0))
        a["placed"] += 1
        for key, value in (
            ("gpus", p.gpus),
            ("cost", p.cost_usd_per_h),
            ("carbon", p.carbon_kg_per_h),
            ("water", p.water_l_per_h),
        ):
            a[key] = a.get(key, 0.0) + value
    for u in plan.unplaced:
        agg.setdefault(u.workload, dict.fromkeys(("placed", "unplaced"), 0.0))["unplaced"] += 1
    kinds = {w.id: w.kind for w in scenario.workloads}
    headers = [
        ("Workload", False),
        ("Kind", False),
        ("Units placed", True),
        ("Unplaced", True),
        ("GPUs", True),
        ("Cost USD/h", True),
        ("Carbon kg/h", True),
        ("Water L/h", True),
    ]
    rows = [
        [
            (wid, None),
            (kinds.get(wid, "—"), None),
            _cell(a["placed"], 0),
            _cell(a["unplaced"], 0),
            _cell(a.get("gpus", 0.0), 0),
            _cell(a.get("cost", 0.0), 2),
            _cell(a.get("carbon", 0.0), 2),
            _cell(a.get("water", 0.0), 1),
        ]
        for wid, a in agg.items()
    ]
    return _table("table-workloads", headers, rows)


def _unplaced_section(plan: Plan) -> str:
    out = []
    if plan.unplaced:
        headers = [
            ("Unit", False),
            ("Workload", False),
            ("Region", False),
            ("Must place", False),
            ("Value USD/h", True),
            ("Reason", False),
        ]
        rows = [
            [
                (u.unit, None),
                (u.workload, None),
                (u.region or "—", None),
                ("yes" if u.must_place else "no", None),
                _cell(u.value_usd_per_h, 2),
                (u.reason, None),
            ]
            for u in plan.unplaced
        ]
        out.append(_table("table-unplaced", headers, rows))
    else:
        out.append('<p class="empty">Every unit is placed.</p>')
    inf = plan.infeasibility
    if inf is not None:
        out.append('<div class="infeasible" id="infeasibility"><h3>Why no plan exists</h3>')
        if inf.summary:
            out.append(f"<p>{_e(inf.summary)}</p>")
        if inf.unplaceable:
            lis = "".join(f"<li><b>{_e(u.unit)}</b>: {_e(u.reason)}</li>" for u in inf.unplaceable)
            out.append(f"<ul>{lis}</ul>")
        if inf.additions:
            lis = "".join(f"<li>{_e(a.text)}</li>" for a in inf.additions)
            out.append(
                f"<p>Smallest capacity additions that make it feasible (all together):</p>"
                f"<ul>{lis}</ul>"
            )
        if inf.drops:
            lis = "".join(f"<li>{_e(d)}</li>" for d in inf.drops)
            out.append(f"<p>Or, keeping capacities, drop these must-place units:</p><ul>{lis}</ul>")
        if not inf.complete:
            out.append("<p>The search for fixes ran out of time: the lists may not be minimal.</p>")
        out.append("</div>")
    return "".join(out)


def _prices_section(plan: Plan) -> str:
    if not plan.capacity_prices:
        return (
            '<p class="empty">No capacity binds: one more unit of any capacity would not '
            "lower the objective (or the solver reports no prices).</p>"
        )
    headers = [
        ("Site", False),
        ("Resource", False),
        ("USD/h per unit", True),
        ("Unit", False),
        ("Holds for (units)", True),
        ("Step (units)", True),
        ("Step saves USD/h (re-solved)", True),
    ]
    prices = sorted(plan.capacity_prices, key=lambda c: (-c.usd_per_h_per_unit, c.site, c.resource))
    rows = [
        [
            ("whole plan" if c.site == "*" else c.site, None),
            (c.resource, None),
            _cell(c.usd_per_h_per_unit, 4),
            (c.unit, None),
            ("as far as searched", None)
            if c.holds_as_far_as_searched
            else _cell(c.holds_for_units, 3),
            _cell(c.step_units, 0),
            _cell(c.step_saving_usd_per_h, 2),
        ]
        for c in prices
    ]
    return _table("table-prices", headers, rows)


def _pareto_section(front: ParetoFront, plan: Plan, carbon_price_usd_per_t: float = 0.0) -> str:
    headers = [
        ("#", True),
        ("Carbon cap kg/h", True),
        ("Status", False),
        ("Cost USD/h", True),
        ("Carbon kg/h", True),
        ("Water L/h", True),
        ("Objective USD/h", True),
        ("Gap", True),
        ("Mean RTT ms", True),
        ("Unplaced", True),
        ("Solve s", True),
    ]
    rows = [
        [
            _cell(i, 0),
            ("no cap", None) if p.carbon_cap_kg_per_h is None else _cell(p.carbon_cap_kg_per_h),
            (p.status, None),
            _cell(p.cost_usd_per_h, 2),
            _cell(p.carbon_kg_per_h, 2),
            _cell(p.water_l_per_h, 0),
            _cell(p.objective_usd_per_h, 2),
            (_gap(p.gap), p.gap),
            _cell(p.mean_latency_ms, 1),
            _cell(p.unplaced_units, 0),
            _cell(p.wall_s, 2),
        ]
        for i, p in enumerate(front.points)
    ]
    note = [f"{len(front.points)} points, solver {front.solver}, {front.wall_s:.1f} s in all"]
    if front.single_solve_s is not None:
        note.append(f"one plain solve: {front.single_solve_s:.2f} s")
    if front.scenario:
        note.append(f"scenario “{front.scenario}”")
    match = _matching_point(front.points, plan)
    if match is not None:
        note.append(f"this plan is point {match}")
    return (
        _chart_pareto(front, plan, carbon_price_usd_per_t)
        + f'<p class="note">{_e("; ".join(note))}.</p>'
        + _table("table-pareto", headers, rows)
    )


def _matching_point(points: Sequence[ParetoPoint], plan: Plan) -> int | None:
    """Index of the front point with the plan's cost and carbon (relative 1e-6), if any."""
    t = plan.totals
    if t is None or plan.status not in ("optimal", "feasible"):
        return None
    for i, p in enumerate(points):
        if p.cost_usd_per_h is None or p.carbon_kg_per_h is None:
            continue
        if math.isclose(p.cost_usd_per_h, t.cost_usd_per_h, rel_tol=1e-6, abs_tol=1e-6) and (
            math.isclose(p.carbon_kg_per_h, t.carbon_kg_per_h, rel_tol=1e-6, abs_tol=1e-6)
        ):
            return i
    return None
