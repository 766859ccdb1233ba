"""The report's text sections: the header (scenario, status, objective, bound, gap,
solver), the KPI cards, the scenario facts and the footer (versions, diagnostics).
"""

from __future__ import annotations

from importlib import metadata

from placer.model.scenario import Scenario
from placer.model.workload import Inference
from placer.outputs.html.markup import STATUS_COLOURS, TIER_LABELS, TIERS, _e, _gap, _num, _pct
from placer.plan.plan import Plan, SiteUsage


def _header(scenario: Scenario, plan: Plan, scenario_name: str) -> str:
    colour = STATUS_COLOURS.get(plan.status, "#555")
    facts = [
        ("Status", plan.status.replace("_", " ")),
        ("Objective", f"{_num(plan.objective_usd_per_h, 2)} USD/h"),
        ("Lower bound", f"{_num(plan.bound_usd_per_h, 2)} USD/h"),
        ("Gap", _gap(plan.gap)),
        ("Bound scope", plan.bound_scope or "—"),
        ("Solver", plan.solver),
        ("Solve time", f"{plan.wall_s:.2f} s"),
        ("Seed", str(plan.seed)),
        (
            "Time limit",
            "—" if plan.time_limit_s is None else f"{_num(plan.time_limit_s, 0)} s",
        ),
    ]
    dl = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in facts)
    desc = scenario.metadata.description
    out = [
        '<header class="top">',
        '<div class="eyebrow">placer · placement report</div>',
        f"<h1>{_e(scenario_name)}</h1>",
        f'<p class="desc">{_e(desc)}</p>' if desc else "",
        f'<div class="status" style="background:{colour}" data-status="{_e(plan.status)}">'
        f"{_e(plan.status.replace('_', ' ').upper())}</div>",
        f'<dl class="facts">{dl}</dl>',
    ]
    if plan.message:
        out.append(f'<p class="message">{_e(plan.message)}</p>')
    if plan.scenario and scenario.metadata.name and plan.scenario != scenario.metadata.name:
        out.append(
            f'<p class="warn">This plan was made for scenario “{_e(plan.scenario)}”, not '
            f"“{_e(scenario.metadata.name)}”: its sites and regions match, but check that it "
            "is the plan you mean.</p>"
        )
    out.append("</header>")
    return "".join(out)


def _kpis(scenario: Scenario, plan: Plan, rows: list[SiteUsage]) -> str:
    t = plan.totals
    obj = scenario.objective
    fleet = sum(r.gpus_total for r in rows)
    cards: list[tuple[str, str, str, str]] = []
    if t is None:
        cards.append(("kpi-none", "KPIs", "—", "the plan carries no totals"))
    else:
        budget = f"budget {_num(obj.budget_usd_per_h)} USD/h" if obj.budget_usd_per_h else ""
        ccap = f"cap {_num(obj.carbon_cap_kg_per_h)} kg/h" if obj.carbon_cap_kg_per_h else ""
        cards += [
            ("kpi-cost", "Cost", f"{_num(t.cost_usd_per_h, 2)}", f"USD/h {budget}".strip()),
            ("kpi-carbon", "Carbon", f"{_num(t.carbon_kg_per_h, 1)}", f"kgCO2e/h {ccap}".strip()),
            ("kpi-water", "Water", f"{_num(t.water_l_per_h, 0)}", "L/h"),
            (
                "kpi-gpus",
                "GPUs in use",
                f"{t.gpus:,}",
                f"of {fleet:,} installed ({_pct(t.gpus, fleet) or '—'})",
            ),
            (
                "kpi-units",
                "Units placed",
                f"{t.placed_units:,} / {t.placed_units + t.unplaced_units:,}",
                f"{t.unplaced_units:,} unplaced",
            ),
            (
                "kpi-objective",
                "Objective",
                _num(plan.objective_usd_per_h, 2),
                f"USD/h incl. {_num(t.unplaced_value_usd_per_h, 2)} unplaced value"
                if plan.objective_usd_per_h is not None
                else f"no plan ({plan.status.replace('_', ' ')})",
            ),
        ]
    body = "".join(
        f'<div class="kpi" id="{cid}"><div class="k">{_e(k)}</div>'
        f'<div class="v">{_e(v)}</div><div class="u">{_e(u)}</div></div>'
        for cid, k, v, u in cards
    )
    return f'<section class="kpis">{body}</section>'


def _scenario_facts(scenario: Scenario) -> str:
    obj = scenario.objective
    counts = {t: sum(1 for s in scenario.sites if s.tier == t) for t in TIERS}
    sites = ", ".join(f"{n} {TIER_LABELS[t]}" for t, n in counts.items() if n)
    n_inf = sum(1 for w in scenario.workloads if isinstance(w, Inference))
    items = [
        ("Sites", f"{len(scenario.sites)} ({sites})"),
        ("User regions", str(len(scenario.user_regions))),
        (
            "Workloads",
            f"{len(scenario.workloads)} ({len(scenario.workloads) - n_inf} training, "
            f"{n_inf} inference)",
        ),
        ("Objective mode", obj.mode),
        ("Carbon price", f"{_num(obj.carbon_price_usd_per_t)} USD/t"),
        ("Water price", f"{_num(obj.water_price_usd_per_m3)} USD/m³"),
        ("Budget", f"{_num(obj.budget_usd_per_h)} USD/h" if obj.budget_usd_per_h else "none"),
        (
            "Carbon cap",
            f"{_num(obj.carbon_cap_kg_per_h)} kgCO2e/h" if obj.carbon_cap_kg_per_h else "none",
        ),
        ("Max utilisation", f"{100 * obj.max_utilization:.0f} %"),
    ]
    dl = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in items)
    sources = ""
    if scenario.metadata.sources:
        lis = "".join(f"<li>{_e(s)}</li>" for s in scenario.metadata.sources)
        sources = f"<details><summary>Data sources</summary><ul>{lis}</ul></details>"
    return f'<dl class="facts small">{dl}</dl>{sources}'


def _footer(plan: Plan) -> str:
    try:
        me = metadata.version("placer")
    except metadata.PackageNotFoundError:
        me = "unknown"
    versions = ", ".join(f"{k} {v}" for k, v in plan.versions.items())
    diag = ""
    if plan.diagnostics:
        lis = "".join(f"<li>{_e(d)}</li>" for d in plan.diagnostics)
        diag = f"<details><summary>Solver diagnostics</summary><ul>{lis}</ul></details>"
    return (
        f"<footer>{diag}<p>Written by <code>placer report</code> (placer {_e(me)}). "
        f"Plan made with: {_e(versions or 'versions not recorded')}. Capacities are the "
        "scenario's nameplate figures; the objective's max_utilization headroom applies on "
        "top of them.</p></footer>"
    )
