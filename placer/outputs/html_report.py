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
Pareto front (cost against carbon) when one is given, placements, unplaced units with
reasons, infeasibility fixes, binding capacities with their prices.

Every chart is an `<svg data-chart="NAME" id="chart-NAME">`; the browser test finds them
by that attribute.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from placer.errors import ScenarioError
from placer.model.load import validate_model
from placer.model.scenario import Scenario
from placer.model.site import Site
from placer.model.workload import Inference
from placer.model.yaml_text import read_document
from placer.plan.plan import ParetoFront, ParetoPoint, Placement, Plan, SiteUsage

TIERS = ("edge", "onprem", "cloud")
TIER_LABELS = {"edge": "edge", "onprem": "on-prem", "cloud": "cloud"}
#: Colour-blind-safe tier colours (ColorBrewer Dark2).
TIER_COLOURS = {"edge": "#d95f02", "onprem": "#1b9e77", "cloud": "#7570b3"}
#: Utilisation bar colours: below 90 %, 90 to 99.5 %, at the cap.
UTIL_COLOURS = ("#4477aa", "#ddaa33", "#cc3311")
STATUS_COLOURS = {
    "optimal": "#1b7f3b",
    "feasible": "#2b5fa8",
    "infeasible": "#b3261e",
    "no_solution": "#6b6b6b",
}
#: Charts every report has (the Pareto chart is added when a front is given).
BASE_CHARTS = ("utilisation", "map", "breakdown-site", "breakdown-tier")
_FONT = "11"
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


# ---- loading and checking ------------------------------------------------------------------


def load_pareto(path: Path | str) -> ParetoFront:
    """Reads a Pareto front written by `placer pareto` (JSON or YAML).

    Raises:
      ScenarioError: unreadable, malformed, or not a ParetoFront (exit code 2).
    """
    data, source = read_document(path)
    return validate_model(ParetoFront, data, source=source)


def check_plan_matches(
    scenario: Scenario,
    plan: Plan,
    *,
    plan_source: str = "the plan",
    scenario_source: str = "the scenario",
) -> None:
    """Checks that every site, pool and user region the plan names exists in the scenario.

    Raises:
      ScenarioError: the plan was made from another scenario (exit code 2).
    """
    sites = {s.id: s for s in scenario.sites}
    regions = {r.id for r in scenario.user_regions}
    hint = f"; was {plan_source} made from another scenario than {scenario_source}?"

    def unknown_site(where: str, site: str) -> ScenarioError:
        known = ", ".join(repr(s) for s in list(sites)[:8])
        return ScenarioError(
            f"{plan_source}: {where} names site {site!r}, which {scenario_source} does not "
            f"define (its sites: {known}{', ...' if len(sites) > 8 else ''}){hint}"
        )

    for i, p in enumerate(plan.placements):
        where = f"placements.{i} ({p.unit})"
        if p.site not in sites:
            raise unknown_site(where, p.site)
        pools = {pool.key for pool in sites[p.site].pools}
        if p.pool not in pools:
            raise ScenarioError(
                f"{plan_source}: {where} names pool {p.pool!r} at site {p.site!r}, which "
                f"{scenario_source} does not define (pools there: {sorted(pools)}){hint}"
            )
        if p.region is not None and p.region not in regions:
            raise ScenarioError(
                f"{plan_source}: {where} names user region {p.region!r}, which "
                f"{scenario_source} does not define{hint}"
            )
    for i, s in enumerate(plan.sites):
        if s.site not in sites:
            raise unknown_site(f"sites.{i}", s.site)
    for i, c in enumerate(plan.capacity_prices):
        if c.site != "*" and c.site not in sites:
            raise unknown_site(f"capacity_prices.{i}", c.site)


# ---- formatting helpers --------------------------------------------------------------------


def _e(value: object) -> str:
    """HTML-escapes any value (text and attribute contexts alike)."""
    return html.escape(str(value), quote=True)


def _num(value: float | None, digits: int | None = None) -> str:
    """A number with thousands separators; digits chosen by magnitude unless given."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if digits is None:
        mag = abs(value)
        digits = 0 if mag >= 100 or mag == 0 else 1 if mag >= 10 else 2
    text = f"{value:,.{digits}f}"
    return "0" if text.strip("-0.,") == "" else text


def _pct(used: float, cap: float | None) -> str:
    if cap is None or cap <= 0:
        return ""
    share = 100.0 * used / cap
    return f"{share:.0f}%" if share >= 1 or share == 0 else "<1%"


def _gap(gap: float | None) -> str:
    if gap is None:
        return "—"
    if gap < 1e-9:
        return "0 %"
    return f"{100 * gap:.2g} %"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _f(value: float) -> str:
    """An SVG coordinate: two decimals, no trailing zeros (deterministic, compact)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _text_w(text: str, size: float) -> float:
    """Estimated rendered width of a label, px (sans-serif, average glyph 0.6 em)."""
    return 0.6 * size * len(text)


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [lo, hi]."""
    if not hi > lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-9))
    start = math.floor(lo / step + 1e-9) * step
    ticks = []
    k = 0
    while start + k * step <= hi + step * (1 - 1e-9):
        ticks.append(round(start + k * step, 12))
        k += 1
    return ticks


def _tick_label(value: float, ticks: Sequence[float]) -> str:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    digits = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    if digits and abs(step * 10**digits - round(step * 10**digits)) > 1e-6:
        digits += 1
    return _num(value, digits)


def _svg_open(chart: str, width: float, height: float, label: str) -> str:
    return (
        f'<svg id="chart-{chart}" data-chart="{chart}" class="chart" '
        f'viewBox="0 0 {_f(width)} {_f(height)}" preserveAspectRatio="xMidYMin meet" '
        f'role="img" aria-label="{_e(label)}" font-size="{_FONT}">'
    )


def _text(
    x: float,
    y: float,
    text: str,
    *,
    anchor: str = "start",
    size: float | None = None,
    cls: str = "",
    extra: str = "",
) -> str:
    attrs = f'x="{_f(x)}" y="{_f(y)}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if size is not None:
        attrs += f' font-size="{_f(size)}"'
    if cls:
        attrs += f' class="{cls}"'
    if extra:
        attrs += " " + extra
    return f"<text {attrs}>{_e(text)}</text>"


def _util_colour(share: float) -> str:
    return UTIL_COLOURS[0] if share < 0.9 else UTIL_COLOURS[1] if share < 0.995 else UTIL_COLOURS[2]


# ---- the data the charts share -------------------------------------------------------------


@dataclass(frozen=True)
class _Resource:
    key: str
    title: str
    subtitle: str
    unit: str
    used: str
    cap: str


_RESOURCES = (
    _Resource("gpus", "GPUs", "used / installed", "GPU", "gpus_used", "gpus_total"),
    _Resource("it_kw", "IT power", "kW, used / IT capacity", "kW", "it_kw", "it_capacity_kw"),
    _Resource(
        "facility_kw", "Facility power", "kW, used / grid cap", "kW", "facility_kw", "grid_cap_kw"
    ),
    _Resource("heat_kw", "Heat", "kW, used / heat rejection", "kW", "heat_kw", "heat_rejection_kw"),
    _Resource(
        "water_l_per_h",
        "Water",
        "L/h, used / water cap",
        "L/h",
        "water_l_per_h",
        "water_cap_l_per_h",
    ),
)


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
                gpus_total=sum(p.gpus for p in site.pools),
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


def _binding(plan: Plan) -> set[tuple[str, str]]:
    """(site, resource key) pairs of the binding capacities the plan reports."""
    out = set()
    for c in plan.capacity_prices:
        key = c.resource.split(" ", 1)[0]
        out.add((c.site, key))
    return out


# ---- chart: utilisation --------------------------------------------------------------------


def _chart_utilisation(
    scenario: Scenario, plan: Plan, rows: list[SiteUsage], max_util: float
) -> str:
    """One row per site, one bar per capacity (GPUs, IT kW, facility kW, heat kW, water L/h).

    max_util: the objective's headroom fraction, drawn as a dashed limit when below 1.
    """
    sites = {s.id: s for s in scenario.sites}
    binding = _binding(plan)
    pool_use: dict[tuple[str, str], int] = {}
    for p in plan.placements:
        pool_use[(p.site, p.pool)] = pool_use.get((p.site, p.pool), 0) + p.gpus
    label_w, col_w, row_h, head_h, top = 220.0, 180.0, 42.0, 44.0, 8.0
    width = label_w + col_w * len(_RESOURCES) + 10
    legend_h = 34.0
    height = top + head_h + row_h * len(rows) + legend_h
    out = [_svg_open("utilisation", width, height, "Per-site utilisation against capacity")]
    out.append(
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f1f1f1"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#cfcfcf" stroke-width="2"/></pattern></defs>'
    )
    out.append(_text(0, top + 14, "Site", cls="hdr"))
    out.append(_text(0, top + 30, "tier · location", cls="sub"))
    for j, res in enumerate(_RESOURCES):
        x = label_w + j * col_w
        out.append(_text(x, top + 14, res.title, cls="hdr"))
        out.append(_text(x, top + 30, res.subtitle, cls="sub"))
    y0 = top + head_h
    for i, row in enumerate(rows):
        y = y0 + i * row_h
        site = sites[row.site]
        if i % 2 == 0:
            out.append(
                f'<rect x="0" y="{_f(y)}" width="{_f(width)}" height="{_f(row_h)}" fill="#f7f8fa"/>'
            )
        where = ", ".join(x for x in (site.location.metro, site.location.country) if x)
        out.append(f'<g data-site="{_e(row.site)}" data-tier="{_e(row.tier)}">')
        out.append(
            f'<rect x="4" y="{_f(y + 9)}" width="4" height="{_f(row_h - 18)}" '
            f'fill="{TIER_COLOURS.get(row.tier, "#888")}"/>'
        )
        out.append(
            _text(14, y + 17, _short(row.site, 27), cls="site", extra=f'data-full="{_e(row.site)}"')
        )
        out.append(_text(14, y + 32, f"{TIER_LABELS.get(row.tier, row.tier)} · {where}", cls="sub"))
        for j, res in enumerate(_RESOURCES):
            x = label_w + j * col_w
            used = float(getattr(row, res.used))
            cap_raw = getattr(row, res.cap)
            cap = None if cap_raw is None else float(cap_raw)
            out.append(
                _util_cell(
                    x,
                    y,
                    col_w - 18,
                    used,
                    cap,
                    res,
                    binding=(row.site, res.key) in binding,
                    max_util=max_util,
                    detail=_pool_detail(site, pool_use) if res.key == "gpus" else "",
                )
            )
        out.append("</g>")
    ly = y0 + row_h * len(rows) + 20
    out.append(_util_legend(ly, max_util))
    out.append("</svg>")
    return "".join(out)


def _pool_detail(site: Site, pool_use: dict[tuple[str, str], int]) -> str:
    """'pool: used / installed GPUs' for each pool of a site (for the tooltip)."""
    return "; ".join(
        f"{pool.key}: {pool_use.get((site.id, pool.key), 0):,} / {pool.gpus:,}"
        for pool in site.pools
    )


def _util_cell(
    x: float,
    y: float,
    w: float,
    used: float,
    cap: float | None,
    res: _Resource,
    *,
    binding: bool,
    max_util: float,
    detail: str,
) -> str:
    """One utilisation bar at (x, y), w px wide: used against cap (None: uncapped)."""
    is_int = res.key == "gpus"
    used_txt = f"{int(used):,}" if is_int else _num(used)
    bar_y, bar_h = y + 22, 11.0
    tip = f"{res.title}: {used_txt} {res.unit}"
    parts = [f'<g class="cell" data-resource="{res.key}">']
    if cap is None or cap <= 0:
        label = f"{used_txt} {res.unit} · no cap" if cap is None else f"{used_txt} · none"
        tip += " (no cap)" if cap is None else " (none installed)"
        parts.append(
            f'<rect x="{_f(x)}" y="{_f(bar_y)}" width="{_f(w)}" height="{_f(bar_h)}" '
            f'fill="url(#hatch)" rx="2"/>'
        )
        parts.append(_text(x, y + 16, label, cls="val"))
    else:
        share = used / cap
        cap_txt = f"{int(cap):,}" if is_int else _num(cap)
        tip += f" of {cap_txt} {res.unit} ({100 * share:.1f} %)"
        parts.append(
            f'<rect x="{_f(x)}" y="{_f(bar_y)}" width="{_f(w)}" height="{_f(bar_h)}" '
            f'fill="#e4e7ec" rx="2"/>'
        )
        fill_w = w * min(1.0, max(0.0, share))
        if fill_w > 0:
            parts.append(
                f'<rect class="fill" x="{_f(x)}" y="{_f(bar_y)}" width="{_f(max(fill_w, 1.5))}" '
                f'height="{_f(bar_h)}" fill="{_util_colour(share)}" rx="2"/>'
            )
        if max_util < 1.0:
            hx = x + w * max_util
            parts.append(
                f'<line x1="{_f(hx)}" y1="{_f(bar_y - 2)}" x2="{_f(hx)}" '
                f'y2="{_f(bar_y + bar_h + 2)}" stroke="#222" stroke-dasharray="2 2"/>'
            )
        parts.append(_text(x, y + 16, f"{used_txt} / {cap_txt}", cls="val"))
        parts.append(_text(x + w, y + 16, _pct(used, cap), anchor="end", cls="pct"))
    if binding:
        tip += " — binding (see capacity prices)"
        parts.append(
            f'<rect x="{_f(x - 1.5)}" y="{_f(bar_y - 1.5)}" width="{_f(w + 3)}" '
            f'height="{_f(bar_h + 3)}" fill="none" stroke="#111" stroke-width="1.5" rx="3"/>'
        )
    if detail:
        tip += f"\n{detail}"
    parts.append(f"<title>{_e(tip)}</title></g>")
    return "".join(parts)


def _util_legend(y: float, max_util: float) -> str:
    """Colour key of the utilisation bars (y: baseline, SVG px)."""
    items = []
    x = 0.0
    for colour, label in zip(
        UTIL_COLOURS, ("below 90 %", "90 to 99.5 %", "at capacity"), strict=True
    ):
        items.append(f'<rect x="{_f(x)}" y="{_f(y - 9)}" width="14" height="10" fill="{colour}"/>')
        items.append(_text(x + 19, y, label, cls="sub"))
        x += 30 + _text_w(label, 10)
    items.append(f'<rect x="{_f(x)}" y="{_f(y - 9)}" width="14" height="10" fill="url(#hatch)"/>')
    items.append(_text(x + 19, y, "no cap (cloud quota only)", cls="sub"))
    x += 30 + _text_w("no cap (cloud quota only)", 10)
    items.append(
        f'<rect x="{_f(x)}" y="{_f(y - 10)}" width="14" height="12" fill="none" '
        'stroke="#111" stroke-width="1.5" rx="2"/>'
    )
    items.append(_text(x + 19, y, "binding capacity (priced)", cls="sub"))
    x += 30 + _text_w("binding capacity (priced)", 10)
    if max_util < 1.0:
        items.append(
            f'<line x1="{_f(x + 7)}" y1="{_f(y - 11)}" x2="{_f(x + 7)}" y2="{_f(y + 3)}" '
            'stroke="#222" stroke-dasharray="2 2"/>'
        )
        items.append(_text(x + 16, y, f"headroom limit ({100 * max_util:.0f} %)", cls="sub"))
    return f'<g class="legend">{"".join(items)}</g>'


# ---- chart: map ----------------------------------------------------------------------------


@dataclass
class _Box:
    x0: float
    y0: float
    x1: float
    y1: float

    def hits(self, other: _Box) -> bool:
        return not (
            self.x1 <= other.x0 or other.x1 <= self.x0 or self.y1 <= other.y0 or other.y1 <= self.y0
        )


def _chart_map(scenario: Scenario, plan: Plan, rows: list[SiteUsage]) -> str:
    """Sites, user regions and inference placements on lon/lat axes (degrees).

    Equirectangular projection with its standard parallel at the mid latitude; no map tiles.
    """
    sites = {s.id: s for s in scenario.sites}
    regions = {r.id: r for r in scenario.user_regions}
    lats = [s.location.lat for s in scenario.sites] + [r.location.lat for r in regions.values()]
    lons = [s.location.lon for s in scenario.sites] + [r.location.lon for r in regions.values()]
    lat_c = (min(lats) + max(lats)) / 2
    k = max(0.2, math.cos(math.radians(lat_c)))
    lon_lo, lon_hi = min(lons), max(lons)
    lat_lo, lat_hi = min(lats), max(lats)
    span_lon = max(lon_hi - lon_lo, 4.0) * 1.16
    span_lat = max(lat_hi - lat_lo, 3.0) * 1.16
    left, right, top, bottom = 46.0, 14.0, 14.0, 28.0
    legend_h = 68.0
    plot_w, max_h = 1090.0 - left - right, 540.0
    scale = min(plot_w / (span_lon * k), max_h / span_lat)
    plot_h = max(300.0, span_lat * scale)
    span_lon = plot_w / (scale * k)
    span_lat = plot_h / scale
    lon_mid, lat_mid = (lon_lo + lon_hi) / 2, (lat_lo + lat_hi) / 2
    lon0, lat1 = lon_mid - span_lon / 2, lat_mid + span_lat / 2
    width = left + plot_w + right
    height = top + plot_h + bottom + legend_h

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return left + (lon - lon0) * k * scale, top + (lat1 - lat) * scale

    out = [_svg_open("map", width, height, "Map of sites, user regions and placements")]
    out.append(
        f'<defs><clipPath id="map-clip"><rect x="{_f(left)}" y="{_f(top)}" '
        f'width="{_f(plot_w)}" height="{_f(plot_h)}"/></clipPath></defs>'
    )
    out.append(
        f'<rect x="{_f(left)}" y="{_f(top)}" width="{_f(plot_w)}" height="{_f(plot_h)}" '
        'fill="#f3f6fa" stroke="#b8c2cf"/>'
    )
    # graticule
    out.append('<g class="graticule" clip-path="url(#map-clip)">')
    lon_ticks = [t for t in _ticks(lon0, lon0 + span_lon, 8) if lon0 <= t <= lon0 + span_lon]
    lat_ticks = [t for t in _ticks(lat1 - span_lat, lat1, 6) if lat1 - span_lat <= t <= lat1]
    for t in lon_ticks:
        x, _ = xy(lat_mid, t)
        out.append(
            f'<line x1="{_f(x)}" y1="{_f(top)}" x2="{_f(x)}" y2="{_f(top + plot_h)}" '
            'stroke="#dbe2ea"/>'
        )
    for t in lat_ticks:
        _, y = xy(t, lon_mid)
        out.append(
            f'<line x1="{_f(left)}" y1="{_f(y)}" x2="{_f(left + plot_w)}" y2="{_f(y)}" '
            'stroke="#dbe2ea"/>'
        )
    out.append("</g>")
    for t in lon_ticks:
        x, _ = xy(lat_mid, t)
        deg = _tick_label(abs(t), lon_ticks)
        hemi = "" if t == 0 else "E" if t > 0 else "W"
        out.append(_text(x, top + plot_h + 14, f"{deg}°{hemi}", anchor="middle", cls="axis"))
    for t in lat_ticks:
        _, y = xy(t, lon_mid)
        deg = _tick_label(abs(t), lat_ticks)
        hemi = "" if t == 0 else "N" if t > 0 else "S"
        out.append(_text(left - 5, y + 4, f"{deg}°{hemi}", anchor="end", cls="axis"))

    # lines: one per (site, region) pair, width by GPUs
    links: dict[tuple[str, str], list[Placement]] = {}
    for p in plan.placements:
        if p.kind == "inference" and p.region is not None and p.region in regions:
            links.setdefault((p.site, p.region), []).append(p)
    max_link = max((sum(p.gpus for p in ps) for ps in links.values()), default=1) or 1
    out.append('<g class="links" clip-path="url(#map-clip)">')
    for (sid, rid), ps in links.items():
        site, region = sites[sid], regions[rid]
        x1, y1 = xy(site.location.lat, site.location.lon)
        x2, y2 = xy(region.location.lat, region.location.lon)
        gpus = sum(p.gpus for p in ps)
        replicas = sum(p.replicas for p in ps)
        rtts = [p.latency_ms for p in ps if p.latency_ms is not None]
        rtt = f", RTT {_num(max(rtts), 1)} ms" if rtts else ""
        sw = 1.0 + 4.0 * math.sqrt(gpus / max_link)
        units = ", ".join(sorted({p.workload for p in ps}))
        tip = f"{sid} → {rid}: {gpus:,} GPUs, {replicas:,} replicas{rtt} ({units})"
        out.append(
            f'<line data-link="{_e(sid)}|{_e(rid)}" x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x2)}" '
            f'y2="{_f(y2)}" stroke="{TIER_COLOURS.get(site.tier, "#888")}" '
            f'stroke-width="{_f(sw)}" stroke-opacity="0.5" stroke-linecap="round">'
            f"<title>{_e(tip)}</title></line>"
        )
    out.append("</g>")

    # markers, then labels placed around them without overlaps
    used = {r.site: r for r in rows}
    training = {p.site for p in plan.placements if p.kind == "training"}
    max_gpus = max((r.gpus_used for r in rows), default=0) or 1
    taken: list[_Box] = []
    markers: list[str] = []
    labels: list[tuple[float, float, float, str, str]] = []
    # biggest first, so that a small marker at the same place stays visible on top
    radius = {s.id: 5.0 + 9.0 * math.sqrt(used[s.id].gpus_used / max_gpus) for s in scenario.sites}
    for site in sorted(scenario.sites, key=lambda s: -radius[s.id]):
        row = used[site.id]
        x, y = xy(site.location.lat, site.location.lon)
        r = radius[site.id]
        colour = TIER_COLOURS.get(site.tier, "#888")
        fill = colour if row.gpus_used else "#ffffff"
        tip = (
            f"{site.id} ({TIER_LABELS.get(site.tier, site.tier)}, "
            f"{site.location.metro or site.location.country}): {row.gpus_used:,} / "
            f"{row.gpus_total:,} GPUs, {_num(row.it_kw)} kW IT, "
            f"{_num(row.cost_usd_per_h)} USD/h"
        )
        shape = _marker(site.tier, x, y, r, fill, colour)
        ring = ""
        if site.id in training:
            ring = (
                f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{_f(r + 4)}" fill="none" '
                f'stroke="{colour}" stroke-width="1.2" stroke-dasharray="3 2"/>'
            )
        markers.append(
            f'<g data-site="{_e(site.id)}" data-tier="{_e(site.tier)}">{ring}{shape}'
            f"<title>{_e(tip)}</title></g>"
        )
        rb = r * 1.2 if site.tier == "edge" else r
        taken.append(_Box(x - rb, y - rb, x + rb, y + rb))
        labels.append((x, y, rb + (4 if site.id in training else 0), site.id, "site"))
    for rid, region in regions.items():
        x, y = xy(region.location.lat, region.location.lon)
        place = ", ".join(x for x in (region.location.metro, region.location.country) if x)
        tip = f"user region {rid} ({place})"
        markers.append(
            f'<g data-region="{_e(rid)}"><path d="M{_f(x)} {_f(y - 7)}L{_f(x + 7)} {_f(y)}'
            f'L{_f(x)} {_f(y + 7)}L{_f(x - 7)} {_f(y)}Z" fill="none" stroke="#333" '
            f'stroke-width="1.6"/><title>{_e(tip)}</title></g>'
        )
        taken.append(_Box(x - 7, y - 7, x + 7, y + 7))
        labels.append((x, y, 8.0, rid, "region"))
    out.append('<g class="markers">' + "".join(markers) + "</g>")
    bounds = _Box(left, top, left + plot_w, top + plot_h)
    out.append('<g class="labels">')
    hidden = 0
    for x, y, r, text, kind in labels:
        label = _map_label(x, y, r, _short(text, 28), kind, taken, bounds)
        hidden += not label
        out.append(label)
    out.append("</g>")
    out.append(_map_legend(left, top + plot_h + bottom + 14, bool(links), hidden))
    out.append("</svg>")
    return "".join(out)


def _marker(tier: str, x: float, y: float, r: float, fill: str, stroke: str) -> str:
    """A site marker: edge triangle, on-prem square, cloud circle (r: size, SVG px)."""
    style = f'fill="{fill}" stroke="{stroke}" stroke-width="1.8"'
    if tier == "edge":
        h = r * 1.2
        return (
            f'<path d="M{_f(x)} {_f(y - h)}L{_f(x + h)} {_f(y + h * 0.75)}'
            f'L{_f(x - h)} {_f(y + h * 0.75)}Z" {style}/>'
        )
    if tier == "onprem":
        s = r * 0.9
        return (
            f'<rect x="{_f(x - s)}" y="{_f(y - s)}" width="{_f(2 * s)}" '
            f'height="{_f(2 * s)}" {style}/>'
        )
    return f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{_f(r)}" {style}/>'


def _map_label(
    x: float, y: float, r: float, text: str, kind: str, taken: list[_Box], bounds: _Box
) -> str:
    """A label next to the marker at (x, y) in the first free spot (with a leader line when
    pushed out); '' when there is none. The chosen box is added to `taken`."""
    size = 11.0 if kind == "site" else 10.0
    w, h = _text_w(text, size), size + 2
    choice = None
    for dist in (0.0, 10.0, 22.0, 36.0):
        d = r + 3 + dist
        for dx, dy in ((1, 0), (-1, 0), (0, -1), (0, 1), (1, -1), (-1, -1), (1, 1), (-1, 1)):
            cx, cy = x + dx * d, y + dy * d
            x0 = cx if dx > 0 else cx - w if dx < 0 else cx - w / 2
            y0 = cy - h / 2 if dy == 0 else cy - h if dy < 0 else cy
            box = _Box(x0, y0, x0 + w, y0 + h)
            inside = (
                box.x0 >= bounds.x0 + 2
                and box.x1 <= bounds.x1 - 2
                and box.y0 >= bounds.y0 + 2
                and box.y1 <= bounds.y1 - 2
            )
            if inside and not any(box.hits(t) for t in taken):
                choice = (box, dist)
                break
        if choice:
            break
    if choice is None:
        return ""  # no free spot: the marker's tooltip still names it
    box, dist = choice
    taken.append(box)
    parts = []
    if dist > 0:
        lx = min(max(x, box.x0), box.x1)
        ly = min(max(y, box.y0), box.y1)
        parts.append(
            f'<line x1="{_f(x)}" y1="{_f(y)}" x2="{_f(lx)}" y2="{_f(ly)}" stroke="#8a94a3" '
            'stroke-width="0.8"/>'
        )
    cls = "lbl-site" if kind == "site" else "lbl-region"
    parts.append(
        f'<rect x="{_f(box.x0 - 1)}" y="{_f(box.y0)}" width="{_f(box.x1 - box.x0 + 2)}" '
        f'height="{_f(h)}" fill="#f3f6fa" fill-opacity="0.8"/>'
    )
    parts.append(_text(box.x0, box.y0 + size - 0.5, text, size=size, cls=cls))
    return "".join(parts)


def _map_legend(x: float, y: float, has_links: bool, hidden: int) -> str:
    """Marker shapes and line meaning under the map (x, y: SVG px)."""
    items = []
    cx = x
    for tier in TIERS:
        colour = TIER_COLOURS[tier]
        items.append(_marker(tier, cx + 7, y, 6, colour, colour))
        label = f"{TIER_LABELS[tier]} site"
        items.append(_text(cx + 18, y + 4, label, cls="sub"))
        cx += 32 + _text_w(label, 10)
    items.append(_marker("cloud", cx + 7, y, 6, "#ffffff", "#666"))
    items.append(_text(cx + 18, y + 4, "hollow: no GPUs used", cls="sub"))
    cx += 32 + _text_w("hollow: no GPUs used", 10)
    items.append(
        f'<circle cx="{_f(cx + 7)}" cy="{_f(y)}" r="8" fill="none" stroke="#666" '
        'stroke-width="1.2" stroke-dasharray="3 2"/>'
    )
    items.append(_text(cx + 20, y + 4, "hosts training", cls="sub"))
    cx += 34 + _text_w("hosts training", 10)
    items.append(
        f'<path d="M{_f(cx + 7)} {_f(y - 7)}L{_f(cx + 14)} {_f(y)}L{_f(cx + 7)} {_f(y + 7)}'
        f'L{_f(cx)} {_f(y)}Z" fill="none" stroke="#333" stroke-width="1.6"/>'
    )
    items.append(_text(cx + 20, y + 4, "user region", cls="sub"))
    cx += 34 + _text_w("user region", 10)
    if has_links:
        items.append(
            f'<line x1="{_f(cx)}" y1="{_f(y)}" x2="{_f(cx + 22)}" y2="{_f(y)}" stroke="#666" '
            'stroke-width="3" stroke-opacity="0.6" stroke-linecap="round"/>'
        )
        items.append(_text(cx + 28, y + 4, "inference placement (width ∝ √GPUs)", cls="sub"))
    note = (
        "Marker area grows with GPUs in use. Equirectangular projection (standard parallel at "
        "the mid latitude); positions from the scenario's lat/lon."
    )
    items.append(_text(x, y + 26, note, cls="sub"))
    if hidden:
        more = f"{hidden} labels left out where they would overlap: hover a marker for its name."
        items.append(_text(x, y + 40, more, cls="sub"))
    return f'<g class="legend">{"".join(items)}</g>'


# ---- charts: breakdowns --------------------------------------------------------------------


_MEASURES = (
    ("cost_usd_per_h", "Cost", "USD/h"),
    ("carbon_kg_per_h", "Carbon", "kgCO2e/h"),
    ("water_l_per_h", "Water", "L/h"),
)


def _chart_bars(
    chart: str,
    label: str,
    rows: list[tuple[str, str, dict[str, float]]],
    *,
    totals: dict[str, float],
) -> str:
    """Three side-by-side horizontal bar panels (cost, carbon, water) over the same rows.

    rows: (name, tier, {measure: value}).
    """
    label_w, panel_w, bar_h, row_h, head_h = 210.0, 300.0, 14.0, 22.0, 40.0
    axis_h = 40.0
    width = label_w + panel_w * len(_MEASURES)
    height = head_h + row_h * len(rows) + axis_h
    out = [_svg_open(chart, width, height, label)]
    for i, (name, tier, _values) in enumerate(rows):
        y = head_h + i * row_h
        if i % 2 == 0:
            out.append(
                f'<rect x="0" y="{_f(y)}" width="{_f(width)}" height="{_f(row_h)}" fill="#f7f8fa"/>'
            )
        out.append(
            f'<rect x="4" y="{_f(y + 5)}" width="10" height="{_f(row_h - 10)}" '
            f'fill="{TIER_COLOURS.get(tier, "#888")}"/>'
        )
        out.append(_text(20, y + 15, _short(name, 25), cls="site"))
    for j, (key, title, unit) in enumerate(_MEASURES):
        x0 = label_w + j * panel_w + 8
        bar_max = panel_w - 80
        top = max((v[key] for _, _, v in rows), default=0.0)
        ticks = _ticks(0.0, top if top > 0 else 1.0, 4)
        axis_max = ticks[-1]
        total = totals.get(key, 0.0)
        out.append(_text(x0, 15, f"{title} ({unit})", cls="hdr"))
        out.append(_text(x0, 30, f"total {_num(total)} {unit}", cls="sub"))
        base_y = head_h + row_h * len(rows)
        for t in ticks:
            tx = x0 + bar_max * t / axis_max
            out.append(
                f'<line x1="{_f(tx)}" y1="{_f(head_h)}" x2="{_f(tx)}" y2="{_f(base_y + 4)}" '
                f'stroke="{"#9aa3af" if t == 0 else "#e1e5ea"}"/>'
            )
            out.append(_text(tx, base_y + 16, _tick_label(t, ticks), anchor="middle", cls="axis"))
        out.append(_text(x0 + bar_max / 2, base_y + 32, unit, anchor="middle", cls="sub"))
        for i, (name, tier, values) in enumerate(rows):
            y = head_h + i * row_h + (row_h - bar_h) / 2
            value = values[key]
            bw = bar_max * value / axis_max if axis_max > 0 else 0.0
            share = f" ({100 * value / total:.1f} % of total)" if total > 0 else ""
            out.append(
                f'<g data-bar="{_e(name)}" data-measure="{key}"><rect x="{_f(x0)}" y="{_f(y)}" '
                f'width="{_f(max(bw, 0.0))}" height="{_f(bar_h)}" '
                f'fill="{TIER_COLOURS.get(tier, "#888")}"/>'
                f"<title>{_e(f'{name}: {_num(value)} {unit}{share}')}</title></g>"
            )
            out.append(_text(x0 + bw + 4, y + bar_h - 3, _num(value), cls="val"))
    out.append("</svg>")
    return "".join(out)


def _breakdowns(scenario: Scenario, rows: list[SiteUsage]) -> tuple[str, str]:
    """The by-site and by-tier bar charts (cost USD/h, carbon kgCO2e/h, water L/h)."""
    totals = {
        "cost_usd_per_h": sum(r.cost_usd_per_h for r in rows),
        "carbon_kg_per_h": sum(r.carbon_kg_per_h for r in rows),
        "water_l_per_h": sum(r.water_l_per_h for r in rows),
    }
    site_rows = [
        (
            r.site,
            r.tier,
            {
                "cost_usd_per_h": r.cost_usd_per_h,
                "carbon_kg_per_h": r.carbon_kg_per_h,
                "water_l_per_h": r.water_l_per_h,
            },
        )
        for r in rows
    ]
    site_rows.sort(key=lambda t: (-t[2]["cost_usd_per_h"], -t[2]["carbon_kg_per_h"], t[0]))
    present = [t for t in TIERS if any(s.tier == t for s in scenario.sites)]
    tier_rows = []
    for tier in present:
        members = [r for r in rows if r.tier == tier]
        tier_rows.append(
            (
                TIER_LABELS[tier],
                tier,
                {key: sum(getattr(r, key) for r in members) for key, _, _ in _MEASURES},
            )
        )
    by_site = _chart_bars(
        "breakdown-site", "Cost, carbon and water by site", site_rows, totals=totals
    )
    by_tier = _chart_bars(
        "breakdown-tier", "Cost, carbon and water by tier", tier_rows, totals=totals
    )
    return by_site, by_tier


# ---- chart: Pareto front -------------------------------------------------------------------


def _chart_pareto(front: ParetoFront, plan: Plan, carbon_price_usd_per_t: float = 0.0) -> str:
    """The swept objective (cost + priced water + value of unplaced work, USD/h: the
    scenario's objective with the carbon price set to 0) against carbon (kgCO2e/h) of the
    front's solved points; the plan a star. Plain cost is not used: at tight caps a front
    may drop optional work, which lowers cost while the objective rises."""
    pts = [
        (i, p)
        for i, p in enumerate(front.points)
        if p.objective_usd_per_h is not None and p.carbon_kg_per_h is not None
    ]
    t = plan.totals
    mine = (
        (
            t.carbon_kg_per_h,
            t.objective_usd_per_h - carbon_price_usd_per_t * t.carbon_kg_per_h / 1000.0,
        )
        if t is not None and plan.status in ("optimal", "feasible")
        else None
    )
    xs = [p.carbon_kg_per_h for _, p in pts] + ([mine[0]] if mine else [])
    ys = [p.objective_usd_per_h for _, p in pts] + ([mine[1]] if mine else [])
    left, right, top, bottom = 84.0, 190.0, 16.0, 52.0
    plot_w, plot_h = 820.0, 340.0
    width, height = left + plot_w + right, top + plot_h + bottom
    out = [_svg_open("pareto", width, height, "Pareto front: cost against carbon")]
    out.append(
        f'<rect x="{_f(left)}" y="{_f(top)}" width="{_f(plot_w)}" height="{_f(plot_h)}" '
        'fill="#fbfcfd" stroke="#b8c2cf"/>'
    )
    if not xs:
        out.append(
            _text(
                left + plot_w / 2,
                top + plot_h / 2,
                "no feasible point on this front",
                anchor="middle",
                cls="hdr",
            )
        )
        out.append("</svg>")
        return "".join(out)
    x_lo, x_hi = min(xs), max(xs)
    y_lo, y_hi = min(ys), max(ys)
    pad_x = (x_hi - x_lo) * 0.08 or max(abs(x_hi) * 0.1, 1.0)
    pad_y = (y_hi - y_lo) * 0.08 or max(abs(y_hi) * 0.1, 1.0)
    x_ticks = _ticks(max(0.0, x_lo - pad_x), x_hi + pad_x, 6)
    y_ticks = _ticks(max(0.0, y_lo - pad_y), y_hi + pad_y, 5)
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]

    def px(cx: float, cy: float) -> tuple[float, float]:
        return left + plot_w * (cx - x0) / (x1 - x0), top + plot_h * (1 - (cy - y0) / (y1 - y0))

    for tv in x_ticks:
        gx, _ = px(tv, y0)
        out.append(
            f'<line x1="{_f(gx)}" y1="{_f(top)}" x2="{_f(gx)}" y2="{_f(top + plot_h)}" '
            'stroke="#e1e5ea"/>'
        )
        out.append(
            _text(gx, top + plot_h + 16, _tick_label(tv, x_ticks), anchor="middle", cls="axis")
        )
    for tv in y_ticks:
        _, gy = px(x0, tv)
        out.append(
            f'<line x1="{_f(left)}" y1="{_f(gy)}" x2="{_f(left + plot_w)}" y2="{_f(gy)}" '
            'stroke="#e1e5ea"/>'
        )
        out.append(_text(left - 6, gy + 4, _tick_label(tv, y_ticks), anchor="end", cls="axis"))
    out.append(
        _text(left + plot_w / 2, top + plot_h + 40, "Carbon (kgCO2e/h)", anchor="middle", cls="hdr")
    )
    cy_mid = top + plot_h / 2
    out.append(
        _text(
            18,
            cy_mid,
            "Cost (USD/h)",
            anchor="middle",
            cls="hdr",
            extra=f'transform="rotate(-90 18 {_f(cy_mid)})"',
        )
    )
    ordered = sorted(pts, key=lambda ip: (ip[1].carbon_kg_per_h, ip[1].cost_usd_per_h))
    if len(ordered) > 1:
        path = " ".join(
            f"{'M' if n == 0 else 'L'}{_f(px(p.carbon_kg_per_h, p.cost_usd_per_h)[0])} "
            f"{_f(px(p.carbon_kg_per_h, p.cost_usd_per_h)[1])}"
            for n, (_, p) in enumerate(ordered)
        )
        out.append(f'<path d="{path}" fill="none" stroke="#4477aa" stroke-width="2"/>')
    for i, p in pts:
        cx, cy = px(p.carbon_kg_per_h, p.cost_usd_per_h)
        proven = p.status == "optimal"
        cap = "no cap" if p.carbon_cap_kg_per_h is None else f"{_num(p.carbon_cap_kg_per_h)} kg/h"
        tip = (
            f"point {i}: carbon cap {cap}; cost {_num(p.cost_usd_per_h)} USD/h, carbon "
            f"{_num(p.carbon_kg_per_h)} kgCO2e/h, {p.status}, gap {_gap(p.gap)}"
        )
        out.append(
            f'<circle data-point="{i}" cx="{_f(cx)}" cy="{_f(cy)}" r="5" '
            f'fill="{"#4477aa" if proven else "#ffffff"}" stroke="#4477aa" stroke-width="2">'
            f"<title>{_e(tip)}</title></circle>"
        )
    if mine is not None:
        cx, cy = px(*mine)
        star = _star(cx, cy, 10.0)
        tip = f"this plan: cost {_num(mine[1])} USD/h, carbon {_num(mine[0])} kgCO2e/h"
        out.append(
            f'<g data-point="plan"><path d="{star}" fill="#cc3311" stroke="#7a1d0a" '
            f'stroke-width="1"/><title>{_e(tip)}</title></g>'
        )
        out.append(_text(cx + 12, cy - 8, "this plan", cls="val"))
    lx, ly = left + plot_w + 18, top + 14
    out.append(
        f'<g class="legend"><line x1="{_f(lx)}" y1="{_f(ly)}" x2="{_f(lx + 22)}" y2="{_f(ly)}" '
        'stroke="#4477aa" stroke-width="2"/>'
        f'<circle cx="{_f(lx + 11)}" cy="{_f(ly)}" r="5" fill="#4477aa" stroke="#4477aa"/>'
        + _text(lx + 30, ly + 4, "front point (optimal)", cls="sub")
        + f'<circle cx="{_f(lx + 11)}" cy="{_f(ly + 22)}" r="5" fill="#fff" stroke="#4477aa" '
        'stroke-width="2"/>'
        + _text(lx + 30, ly + 26, "feasible, gap > 0", cls="sub")
        + f'<path d="{_star(lx + 11, ly + 46, 8)}" fill="#cc3311"/>'
        + _text(lx + 30, ly + 50, "this plan", cls="sub")
        + "</g>"
    )
    out.append("</svg>")
    return "".join(out)


def _star(cx: float, cy: float, r: float) -> str:
    """SVG path of a five-pointed star centred at (cx, cy), outer radius r px."""
    pts = []
    for n in range(10):
        rr = r if n % 2 == 0 else r * 0.45
        a = math.pi / 2 + n * math.pi / 5
        pts.append(f"{_f(cx + rr * math.cos(a))} {_f(cy - rr * math.sin(a))}")
    return "M" + "L".join(pts) + "Z"


# ---- HTML sections -------------------------------------------------------------------------


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
            (p.pool if p.pool == p.accelerator else f"{p.pool} ({p.accelerator})", None),
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
        ("USD/h per MW", True),
    ]
    prices = sorted(plan.capacity_prices, key=lambda c: (-c.usd_per_h_per_unit, c.site, c.resource))
    rows = [
        [
            ("whole plan" if c.site == "*" else c.site, None),
            (c.resource, None),
            _cell(c.usd_per_h_per_unit, 4),
            (c.unit, None),
            _cell(1000 * c.usd_per_h_per_unit, 0) if c.unit == "kW" else ("—", None),
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


_CSS = """
:root{--ink:#1d2430;--muted:#5b6573;--line:#dde2e8;--bg:#ffffff;--panel:#f7f8fa}
*{box-sizing:border-box}
html{background:#eef1f5}
body{margin:0 auto;max-width:1180px;padding:24px 28px 40px;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
h1{font-size:26px;margin:2px 0 6px}
h2{font-size:18px;margin:34px 0 4px;padding-bottom:4px;border-bottom:2px solid var(--ink)}
h3{font-size:15px;margin:16px 0 6px}
.eyebrow{text-transform:uppercase;letter-spacing:.08em;font-size:11px;color:var(--muted)}
.desc{color:var(--muted);margin:0 0 12px;max-width:900px}
.status{display:inline-block;color:#fff;font-weight:700;padding:3px 10px;border-radius:3px;
letter-spacing:.05em;font-size:12px}
.facts{display:flex;flex-wrap:wrap;gap:4px 26px;margin:12px 0 4px}
.facts div{min-width:90px}
.facts dt{font-size:11px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.facts dd{margin:0;font-weight:600;font-variant-numeric:tabular-nums}
.facts.small dd{font-weight:500}
.message{margin:6px 0;color:var(--muted)}
.warn{background:#fff4d6;border-left:4px solid #ddaa33;padding:6px 10px}
.kpis{display:grid;grid-template-columns:repeat(6,1fr);gap:10px;margin:20px 0 4px}
.kpi{border:1px solid var(--line);border-top:3px solid var(--ink);padding:8px 10px;
background:var(--panel)}
.kpi .k{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.kpi .v{font-size:22px;font-weight:700;font-variant-numeric:tabular-nums}
.kpi .u{font-size:12px;color:var(--muted)}
.lead{color:var(--muted);margin:4px 0 10px}
svg.chart{display:block;width:100%;height:auto;margin:8px 0}
svg.chart text{fill:var(--ink);font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,
sans-serif}
svg.chart .hdr{font-weight:700;font-size:12px}
svg.chart .sub{fill:var(--muted);font-size:10px}
svg.chart .site{font-weight:600;font-size:12px}
svg.chart .val{font-size:10.5px;font-variant-numeric:tabular-nums}
svg.chart .pct{font-size:10.5px;font-weight:700}
svg.chart .axis{fill:var(--muted);font-size:10px}
svg.chart .lbl-site{font-weight:600}
svg.chart .lbl-region{font-style:italic;fill:#333}
.tablewrap{overflow-x:auto;max-height:560px;overflow-y:auto;border:1px solid var(--line)}
table{border-collapse:collapse;width:100%;font-size:12.5px;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{background:#e9edf2;position:sticky;top:0;font-weight:600}
table.sortable th{cursor:pointer}
th[aria-sort=ascending]::after{content:" ▲";font-size:9px}
th[aria-sort=descending]::after{content:" ▼";font-size:9px}
td.num,th.num{text-align:right}
tbody tr:nth-child(even){background:#fafbfc}
.empty{color:var(--muted);font-style:italic}
.note{color:var(--muted);font-size:12.5px}
.infeasible{border-left:4px solid #b3261e;background:#fdf0ef;padding:4px 14px;margin:10px 0}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:20px}
details{margin:8px 0;color:var(--muted)}
footer{margin-top:36px;padding-top:10px;border-top:1px solid var(--line);color:var(--muted);
font-size:12px}
@media print{html{background:#fff}body{max-width:none;padding:0}.tablewrap{max-height:none}
h2{break-after:avoid}svg.chart{break-inside:avoid}}
"""

_JS = """
(function () {
  "use strict";
  function sortValue(cell) {
    if (!cell) { return ""; }
    var raw = cell.getAttribute("data-v");
    if (raw !== null && raw !== "") {
      var n = parseFloat(raw);
      if (!isNaN(n)) { return n; }
    }
    return (cell.textContent || "").trim().toLowerCase();
  }
  function compare(a, b) {
    var an = typeof a === "number", bn = typeof b === "number";
    if (an && bn) { return a - b; }
    if (an) { return -1; }
    if (bn) { return 1; }
    return a < b ? -1 : (a > b ? 1 : 0);
  }
  function makeSortable(table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.setAttribute("tabindex", "0");
      th.setAttribute("aria-sort", "none");
      function sort() {
        var body = table.tBodies[0];
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var c = compare(sortValue(r1.cells[col]), sortValue(r2.cells[col]));
          return ascending ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sort(); }
      });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
  // Self-check read by the browser test: a chart counts as rendered when it has a laid-out
  // box and drawn shapes.
  var charts = document.querySelectorAll("svg[data-chart]");
  var rendered = [];
  Array.prototype.forEach.call(charts, function (svg) {
    var box = svg.getBoundingClientRect();
    var shapes = svg.querySelectorAll("rect, circle, path, line, polygon").length;
    if (box.width > 0 && box.height > 0 && shapes > 0) {
      rendered.push(svg.getAttribute("data-chart"));
    }
  });
  var root = document.documentElement;
  root.setAttribute("data-charts-total", String(charts.length));
  root.setAttribute("data-charts-rendered", rendered.join(" "));
})();
"""


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
            '<section id="sec-pareto"><h2>Pareto front: cost against carbon</h2>',
            '<p class="lead">Each point is the best plan under a carbon cap (ε-constraint; the '
            "objective without a carbon price: cost, priced water, value of unplaced work); "
            "moving left buys lower emissions with higher cost. The star is this plan.</p>",
            _pareto_section(pareto, plan, scenario.objective.carbon_price_usd_per_t),
            "</section>",
        ]
    sections += [
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
