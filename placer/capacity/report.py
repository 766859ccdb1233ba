"""A capacity plan for people: the build schedule and NPV as a table, or as JSON.

JSON (`to_dict`): {"apiVersion": "placer/v1", "kind": "CapacityPlan", scenario, months,
start, discount_rate_per_year, plan, baseline_cloud, baseline_onprem}; each result holds
status, message, cost_npv_usd, bound_npv_usd, gap, wall_s, placement_npv_usd,
build_npv_usd, purchases (option, kind, site, units, what, order/arrival month and date,
capex_usd, opex_usd_per_month, npv_usd), installed, months (GPUs per site and source,
spend per month in USD), unplaced, variables, constraints. Money is USD; NPV is
discounted to the horizon's start, monthly figures are not. `kpis` (the plan's, see
`placer.capacity.kpis`) and, with planning scenarios, `two_stage`: status, expected and
bound NPV, gap, decide_by (month, date, rule), first_stage orders (arrival per
scenario), scenarios (name, probability, changes, cost under the plan, best cost alone,
purchases), candidates (expected cost, cost per scenario, regret, max regret),
wait_and_see_npv_usd, evpi_usd, vss_usd.
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


def two_stage_dict(ts) -> dict | None:
    """The two-stage plan as plain JSON values."""
    if ts is None:
        return None
    out = {
        f.name: getattr(ts, f.name)
        for f in dataclasses.fields(ts)
        if f.name not in ("first_stage", "scenarios", "candidates")
    }
    out["first_stage"] = [dataclasses.asdict(o) for o in ts.first_stage]
    out["scenarios"] = [
        {
            "name": so.name,
            "probability": so.probability,
            "changes": so.changes,
            "status": so.result.status,
            "cost_npv_usd": so.result.cost_npv_usd,
            "best_cost_npv_usd": so.best_cost_npv_usd,
            "purchases": [dataclasses.asdict(p) for p in so.result.purchases],
            "months": so.result.months,
        }
        for so in ts.scenarios
    ]
    out["candidates"] = [
        {**dataclasses.asdict(c), "first_stage": [dataclasses.asdict(o) for o in c.first_stage]}
        for c in ts.candidates
    ]
    return out


def kpis_dict(kpis) -> dict | None:
    """The KPIs as plain JSON values."""
    return None if kpis is None else dataclasses.asdict(kpis)


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
        "kpis": kpis_dict(plan.kpis),
        "two_stage": two_stage_dict(plan.two_stage),
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
    lines += kpi_lines(plan.kpis)
    lines += two_stage_lines(plan.two_stage)
    return "\n".join(lines) + "\n"


def _money(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def kpi_lines(k) -> list[str]:
    """The KPI block of the table (docs/capacity.md "KPIs")."""
    if k is None:
        return []
    lines = [
        "",
        "KPIs (undiscounted spend over the horizon; allocation rules in docs/capacity.md):",
        f"  spend {_usd(k.spend_usd)} USD over {k.gpu_hours:,.0f} GPU-hours: "
        f"{_money(k.usd_per_gpu_h)} USD/GPU-h",
        "  per training GPU-hour: "
        + (
            f"{_money(k.usd_per_training_gpu_h)} USD ({k.training_gpu_hours:,.0f} GPU-h)"
            if k.usd_per_training_gpu_h is not None
            else f"- ({k.training_note})"
        ),
        "  per 1k tokens served: "
        + (
            f"{_money(k.usd_per_1k_tokens, 5)} USD all-in, "
            f"{_money(k.usd_per_1k_tokens_placement_only, 5)} placement only "
            f"({k.tokens:,.0f} tokens)"
            if k.usd_per_1k_tokens is not None
            else f"- ({k.tokens_note})"
        ),
        f"  {'site':<18}{'GPU use mean':>13}{'peak MW':>9}{'cap MW':>8}{'peak/cap':>9}",
    ]
    for site, u in k.utilization.items():
        pw = k.power_mw.get(site, {})
        used = pw.get("used") or [0.0]
        caps = [c for c in pw.get("cap") or [] if c is not None]
        lines.append(
            f"  {site:<18}{_share(u['mean']):>13}{max(used):>9.3f}"
            f"{(f'{max(caps):.3f}' if caps else '-'):>8}{_share(pw.get('peak_share')):>9}"
        )
    if k.roi:
        lines.append("  ROI of each purchase (NPV saving re-solved without it / capex):")
        for r in k.roi:
            roi = f"{r.roi:.2f}" if r.roi is not None else "-"
            basis = "" if r.basis == "capex" else " (per its NPV cost: no capex)"
            saving = _usd(r.npv_saving_usd) if r.npv_saving_usd is not None else r.note
            lines.append(
                f"    {r.option:<18} order month {r.order_month:>3} x{r.units:<3} "
                f"saves {saving:>14} USD  ROI {roi}{basis}"
            )
    elif k.roi_note:
        lines.append(f"  ROI: {k.roi_note}")
    return lines


def two_stage_lines(ts) -> list[str]:
    """The two-stage block of the table."""
    if ts is None:
        return []
    gap = "-" if ts.gap is None else f"{100 * ts.gap:.3f}%"
    lines = [
        "",
        f"two-stage plan over {len(ts.scenarios)} scenarios: {ts.status} ({ts.message}); "
        f"{ts.variables:,} variables, {ts.wall_s:.2f} s",
        f"  expected NPV {_usd(ts.expected_cost_npv_usd)} USD, bound "
        f"{_usd(ts.bound_npv_usd)}, gap {gap}",
        f"  decided now: orders placed before {ts.decide_by_date} (month "
        f"{ts.decide_by_month}; {ts.decide_by_rule})",
    ]
    if not ts.first_stage:
        lines.append("    no order before then")
    for o in ts.first_stage:
        arrive = ", ".join(f"{n} {m}" for n, m in o.arrival_month.items())
        lines.append(
            f"    {o.option:<18}{o.site:<14}x{o.units:<4} ordered {o.order_date} "
            f"(month {o.order_month}); arrives month: {arrive}"
        )
    lines.append(f"  {'scenario':<22}{'p':>6}{'NPV under plan':>16}{'best alone':>14}  changes")
    for so in ts.scenarios:
        lines.append(
            f"  {so.name:<22}{so.probability:>6.2f}{_usd(so.result.cost_npv_usd):>16}"
            f"{_usd(so.best_cost_npv_usd):>14}  {so.changes}"
        )
    lines.append(
        f"  {'first stage of':<26}{'expected NPV':>14}{'regret':>12}{'max regret':>12}  worst in"
    )
    for c in ts.candidates:
        lines.append(
            f"  {c.name:<26}{_usd(c.expected_cost_npv_usd):>14}{_usd(c.regret_usd):>12}"
            f"{_usd(c.max_regret_usd):>12}  {c.worst_scenario or '-'}"
        )
    lines.append(
        f"  wait-and-see {_usd(ts.wait_and_see_npv_usd)} USD; EVPI {_usd(ts.evpi_usd)}; "
        f"VSS {_usd(ts.vss_usd)}"
    )
    return lines
