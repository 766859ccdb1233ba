"""A capacity plan for people: the build schedule and NPV as a table, or as JSON.

JSON (`to_dict`): {"apiVersion": "placer/v1", "kind": "CapacityPlan", scenario, months,
start, discount_rate_per_year, plan, baseline_cloud, baseline_onprem}; each result holds
status, message, cost_npv_usd, bound_npv_usd, gap, wall_s, placement_npv_usd,
build_npv_usd, purchases (option, kind, site, units, what, order/arrival month and date,
capex_usd, opex_usd_per_month, npv_usd), installed, months (GPUs per site and source,
spend per month in USD), unplaced, variables, constraints. Money is USD; NPV is
discounted to the horizon's start, monthly figures are not.
"""

from __future__ import annotations

import dataclasses
import json

from placer.capacity.plan import CapacityPlan
from placer.capacity.solve import CapacityResult

#: Months listed in the table (every month is in JSON).
MAX_TABLE_MONTHS = 36


def result_dict(result: CapacityResult | None) -> dict | None:
    """One result as plain JSON values (no arrays, no solver objects)."""
    if result is None:
        return None
    out = {
        f.name: getattr(result, f.name)
        for f in dataclasses.fields(result)
        if f.name not in ("assign_u", "model", "purchases")
    }
    out["purchases"] = [dataclasses.asdict(p) for p in result.purchases]
    return out


def to_dict(plan: CapacityPlan) -> dict:
    return {
        "apiVersion": "placer/v1",
        "kind": "CapacityPlan",
        "scenario": plan.scenario,
        "months": plan.months,
        "start": plan.start,
        "discount_rate_per_year": plan.discount_rate_per_year,
        "plan": result_dict(plan.plan),
        "baseline_cloud": result_dict(plan.baseline_cloud),
        "baseline_onprem": result_dict(plan.baseline_onprem),
    }


def to_json(plan: CapacityPlan) -> str:
    return json.dumps(to_dict(plan), indent=2) + "\n"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def to_table(plan: CapacityPlan) -> str:
    """The build schedule, the NPV against both baselines, and GPUs per month."""
    res = plan.plan
    lines = [
        f"capacity plan: {plan.scenario or '(unnamed)'}, {plan.months} months from "
        f"{plan.start[:10]}, discount {100 * plan.discount_rate_per_year:g}%/year",
        f"status: {res.status} ({res.message}); {res.variables:,} variables, "
        f"{res.constraints:,} rows, {res.wall_s:.2f} s",
        "",
        f"{'net present cost, USD':<34}{'cost':>16}{'bound':>16}{'gap':>9}",
    ]
    for name, r in (
        ("plan", res),
        ("cloud on-demand only (no builds)", plan.baseline_cloud),
        ("build only on-prem (no cloud)", plan.baseline_onprem),
    ):
        if r is None:
            continue
        gap = "-" if r.gap is None else f"{100 * r.gap:.3f}%"
        cost = _usd(r.cost_npv_usd) if r.cost_npv_usd is not None else r.status
        lines.append(f"{name:<34}{cost:>16}{_usd(r.bound_npv_usd):>16}{gap:>9}")
    lines += ["", "build schedule (order = arrival - lead time):"]
    if not res.purchases:
        lines.append("  nothing to build or commit")
    header = f"  {'option':<18}{'site':<14}{'order':<12}{'arrives':<12}{'capex USD':>14}"
    lines.append(header + f"{'opex USD/mo':>14}  what")
    for p in res.purchases:
        lines.append(
            f"  {p.option:<18}{p.site:<14}{p.order_date:<12}{p.arrival_date:<12}"
            f"{p.capex_usd:>14,.0f}{p.opex_usd_per_month:>14,.0f}  {p.what}"
        )
    lines += ["", "GPUs used per month (on-prem / committed / on-demand), spend USD:"]
    for row in res.months[:MAX_TABLE_MONTHS]:
        totals = {"onprem": 0.0, "committed": 0.0, "on_demand": 0.0}
        for use in row["gpus_by_site"].values():
            for key, value in use.items():
                totals[key] = totals.get(key, 0.0) + value
        spend = row["placement_usd"] + row["capex_usd"] + row["opex_usd"]
        lines.append(
            f"  {row['start']}  {totals['onprem']:>7,.0f} {totals['committed']:>7,.0f} "
            f"{totals['on_demand']:>7,.0f}   {spend:>14,.0f}"
        )
    if res.unplaced:
        lines.append(f"unplaced units: {len(res.unplaced)} (first: {res.unplaced[0]})")
    return "\n".join(lines) + "\n"
