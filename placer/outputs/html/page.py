"""The page assembly: one usage row per site, then every section and chart in order, inside
a self-contained HTML document (inline CSS and script, Content-Security-Policy).
"""

from __future__ import annotations

from placer.model.scenario import Scenario
from placer.outputs.html.assets import _CSP, _CSS, _JS
from placer.outputs.html.chart_breakdown import _breakdowns
from placer.outputs.html.chart_map import _chart_map
from placer.outputs.html.chart_time import time_charts, time_section
from placer.outputs.html.chart_utilisation import _chart_utilisation
from placer.outputs.html.loading import check_plan_matches
from placer.outputs.html.markup import _e
from placer.outputs.html.nodes import nodes_section
from placer.outputs.html.sections import _footer, _header, _kpis, _scenario_facts
from placer.outputs.html.serving import serving_section
from placer.outputs.html.tables import (
    _pareto_section,
    _placements_table,
    _prices_section,
    _unplaced_section,
    _workload_table,
)
from placer.plan.plan import ParetoFront, Plan, SiteUsage

#: Charts every report has (the Pareto chart is added when a front is given).
BASE_CHARTS = ("utilisation", "map", "breakdown-site", "breakdown-tier")


def _site_rows(scenario: Scenario, plan: Plan) -> list[SiteUsage]:
    """One usage row per scenario site (zero use where the plan lists none), scenario order."""
    by_id = {s.site: s for s in plan.sites}
    rows = []
    for site in scenario.sites:
        if site.id in by_id:
            rows.append(by_id[site.id])
            continue
        cap_day = site.cooling.water_cap_l_per_day
        rows.append(
            SiteUsage(
                site=site.id,
                tier=site.tier,
                gpus_used=0,
                gpus_total=sum(p.peak_gpus for p in site.pools),
                it_kw=0.0,
                it_capacity_kw=site.power.it_capacity_kw,
                facility_kw=0.0,
                grid_cap_kw=site.power.grid_cap_kw,
                heat_kw=0.0,
                heat_rejection_kw=site.cooling.heat_rejection_kw or site.power.it_capacity_kw,
                water_l_per_h=0.0,
                water_cap_l_per_h=cap_day / 24.0 if cap_day else None,
                cost_usd_per_h=0.0,
                carbon_kg_per_h=0.0,
            )
        )
    return rows


def render_html(scenario: Scenario, plan: Plan, pareto: ParetoFront | None = None) -> str:
    """The whole report page, self-contained (no external resources), as a string.

    Raises:
      ScenarioError: the plan names a site, pool or region the scenario lacks.
    """
    check_plan_matches(scenario, plan)
    name = scenario.metadata.name or plan.scenario or "scenario"
    rows = _site_rows(scenario, plan)
    max_util = scenario.objective.max_utilization
    by_site, by_tier = _breakdowns(scenario, rows)
    n_links = sum(1 for p in plan.placements if p.kind == "inference" and p.region is not None)
    sections = [
        _header(scenario, plan, name),
        _kpis(scenario, plan, rows),
        '<section id="sec-scenario"><h2>Scenario</h2>',
        _scenario_facts(scenario),
        "</section>",
        '<section id="sec-utilisation"><h2>Site utilisation against capacity</h2>',
        '<p class="lead">Use of each site at full load against its nameplate capacities. '
        "Facility power is IT power × PUE against the grid connection; heat against the "
        "cooling plant's heat rejection; water per hour against the daily water cap ÷ 24. "
        "Hover a bar for exact figures and the GPUs of each pool.</p>",
        _chart_utilisation(scenario, plan, rows, max_util),
        "</section>",
        *time_section(scenario, plan),
        '<section id="sec-map"><h2>Sites, user regions and placements</h2>',
        f'<p class="lead">{len(scenario.sites)} sites, {len(scenario.user_regions)} user '
        f"regions; a line joins each inference placement's site to the region it serves "
        f"({n_links} placements). Training runs need no region: their sites carry a dashed "
        "ring.</p>",
        _chart_map(scenario, plan, rows),
        "</section>",
        '<section id="sec-breakdown"><h2>Cost, carbon and water</h2>',
        '<p class="lead">Per hour of the plan at full load. Bars are coloured by tier.</p>',
        "<h3>By site</h3>",
        by_site,
        "<h3>By tier</h3>",
        by_tier,
        "<h3>By workload</h3>",
        _workload_table(scenario, plan),
        "</section>",
    ]
    if pareto is not None:
        sections += [
            '<section id="sec-pareto"><h2>Pareto front: objective against carbon</h2>',
            '<p class="lead">Each point is the best plan under a carbon cap (ε-constraint; the '
            "objective without a carbon price: cost, priced water, value of unplaced work); "
            "moving left buys lower emissions with higher cost. The star is this plan.</p>",
            _pareto_section(pareto, plan, scenario.objective.carbon_price_usd_per_t),
            "</section>",
        ]
    sections += [
        serving_section(plan),
        nodes_section(plan),
        '<section id="sec-placements"><h2>Placements</h2>',
        '<p class="lead">Click a column heading to sort.</p>',
        _placements_table(scenario, plan),
        "</section>",
        '<section id="sec-unplaced"><h2>Unplaced units</h2>',
        _unplaced_section(plan),
        "</section>",
        '<section id="sec-prices"><h2>Binding capacities and their prices</h2>',
        '<p class="lead">What one more unit of a binding capacity would save, USD/h.</p>',
        _prices_section(plan),
        "</section>",
        _footer(plan),
    ]
    charts = [*BASE_CHARTS, "pareto"] if pareto is not None else list(BASE_CHARTS)
    charts += time_charts(plan)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="placer report">'
        '<link rel="icon" href="data:,">'
        f"<title>placer report — {_e(name)} ({_e(plan.status)})</title>"
        f"<style>{_CSS}</style></head>\n"
        f'<body data-charts="{" ".join(charts)}">\n'
        + "\n".join(s for s in sections if s)
        + f"\n<script>{_JS}</script>\n</body></html>\n"
    )
