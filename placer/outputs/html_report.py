"""A Plan as one self-contained HTML page: `placer report SCENARIO PLAN -o report.html`.

The page opens offline: inline CSS, charts as inline SVG drawn here (deterministic: the same
inputs give the same bytes), a few lines of inline vanilla JavaScript (sortable tables, and a
self-check that marks the rendered charts), and a Content-Security-Policy that forbids
loading anything from anywhere. Every string that comes from the scenario or the plan is
HTML-escaped: ids are written by users.

Sections: header (scenario, status, objective, bound, gap, solver), KPI cards (cost USD/h,
carbon kgCO2e/h, water L/h, GPUs, placed/unplaced units), per-site utilisation against the
nameplate capacities (GPUs, IT kW, facility kW against the grid cap, heat kW against the
heat-rejection capacity, water L/h against the water cap), cost/carbon/water by site and by
tier, an equirectangular lon/lat map of sites, user regions and inference placements, the
Pareto front (objective against carbon) when one is given, placements, unplaced units with
reasons, infeasibility fixes, binding capacities with their prices. A timed plan also gets
an "Over time" section: a Gantt chart of each site's pools, facility power against its cap
per period, and each site's tariff and grid carbon.

Every chart is an `<svg data-chart="NAME" id="chart-NAME">`; the browser test finds them
by that attribute.

The code lives in the `placer.outputs.html` package, one module per chart
(`chart_utilisation`, `chart_map`, `chart_breakdown`, `chart_pareto`; `chart_time` and
`chart_time_series` on the time axis of `time_axis`), the shared markup
helpers (`markup`), the tables and text sections (`tables`, `sections`), the inline assets
(`assets`), loading and checking (`loading`) and the page assembly (`page`). This module
keeps the public names.
"""

from __future__ import annotations

from placer.outputs.html.loading import check_plan_matches, load_pareto
from placer.outputs.html.markup import (
    STATUS_COLOURS,
    TIER_COLOURS,
    TIER_LABELS,
    TIERS,
    UTIL_COLOURS,
)
from placer.outputs.html.page import BASE_CHARTS, render_html

__all__ = [
    "BASE_CHARTS",
    "STATUS_COLOURS",
    "TIERS",
    "TIER_COLOURS",
    "TIER_LABELS",
    "UTIL_COLOURS",
    "check_plan_matches",
    "load_pareto",
    "render_html",
]
