"""The map chart: sites (shape by tier, area by GPUs in use), user regions and inference
placements (lines, width by GPUs) on an equirectangular lon/lat projection, with a
graticule, labels placed around the markers without overlaps, and a legend. No map tiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from placer.model.scenario import Scenario, UserRegion
from placer.model.site import Site
from placer.outputs.html.markup import (
    TIER_COLOURS,
    TIER_LABELS,
    TIERS,
    _e,
    _f,
    _num,
    _short,
    _svg_open,
    _text,
    _text_w,
    _tick_label,
    _ticks,
)
from placer.plan.plan import Placement, Plan, SiteUsage


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


#: A label to place: (x, y, marker radius, text, "site" or "region"), SVG px.
_Label = tuple[float, float, float, str, str]


@dataclass(frozen=True)
class _Frame:
    """The map's plot area and projection (SVG px; lon/lat in degrees)."""

    left: float
    top: float
    bottom: float
    plot_w: float
    plot_h: float
    width: float
    height: float
    k: float  # horizontal stretch: cos of the standard parallel, at least 0.2
    scale: float  # px per degree of latitude
    lon0: float  # longitude at the left edge
    lat1: float  # latitude at the top edge
    span_lon: float
    span_lat: float
    lon_mid: float
    lat_mid: float

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        """SVG position of a lat/lon."""
        x = self.left + (lon - self.lon0) * self.k * self.scale
        y = self.top + (self.lat1 - lat) * self.scale
        return x, y

    def bounds(self) -> _Box:
        """The plot area."""
        return _Box(self.left, self.top, self.left + self.plot_w, self.top + self.plot_h)


def _map_frame(scenario: Scenario, regions: dict[str, UserRegion]) -> _Frame:
    """Equirectangular projection with its standard parallel at the mid latitude, framing
    every site and user region with a margin (at least 4° of longitude, 3° of latitude)."""
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
    return _Frame(
        left=left,
        top=top,
        bottom=bottom,
        plot_w=plot_w,
        plot_h=plot_h,
        width=left + plot_w + right,
        height=top + plot_h + bottom + legend_h,
        k=k,
        scale=scale,
        lon0=lon_mid - span_lon / 2,
        lat1=lat_mid + span_lat / 2,
        span_lon=span_lon,
        span_lat=span_lat,
        lon_mid=lon_mid,
        lat_mid=lat_mid,
    )


def _map_axes(frame: _Frame) -> str:
    """The plot area's clip path and background, the graticule and the degree labels."""
    left, top, plot_w, plot_h = frame.left, frame.top, frame.plot_w, frame.plot_h
    lon0, lat1 = frame.lon0, frame.lat1
    lon_ticks = [
        t for t in _ticks(lon0, lon0 + frame.span_lon, 8) if lon0 <= t <= lon0 + frame.span_lon
    ]
    lat_ticks = [
        t for t in _ticks(lat1 - frame.span_lat, lat1, 6) if lat1 - frame.span_lat <= t <= lat1
    ]
    out = [
        f'<defs><clipPath id="map-clip"><rect x="{_f(left)}" y="{_f(top)}" '
        f'width="{_f(plot_w)}" height="{_f(plot_h)}"/></clipPath></defs>',
        f'<rect x="{_f(left)}" y="{_f(top)}" width="{_f(plot_w)}" height="{_f(plot_h)}" '
        'fill="#f3f6fa" stroke="#b8c2cf"/>',
        '<g class="graticule" clip-path="url(#map-clip)">',
    ]
    for t in lon_ticks:
        x, _ = frame.xy(frame.lat_mid, t)
        out.append(
            f'<line x1="{_f(x)}" y1="{_f(top)}" x2="{_f(x)}" y2="{_f(top + plot_h)}" '
            'stroke="#dbe2ea"/>'
        )
    for t in lat_ticks:
        _, y = frame.xy(t, frame.lon_mid)
        out.append(
            f'<line x1="{_f(left)}" y1="{_f(y)}" x2="{_f(left + plot_w)}" y2="{_f(y)}" '
            'stroke="#dbe2ea"/>'
        )
    out.append("</g>")
    for t in lon_ticks:
        x, _ = frame.xy(frame.lat_mid, t)
        label = _degrees(t, lon_ticks, "E", "W")
        out.append(_text(x, top + plot_h + 14, label, anchor="middle", cls="axis"))
    for t in lat_ticks:
        _, y = frame.xy(t, frame.lon_mid)
        label = _degrees(t, lat_ticks, "N", "S")
        out.append(_text(left - 5, y + 4, label, anchor="end", cls="axis"))
    return "".join(out)


def _degrees(t: float, ticks: list[float], plus: str, minus: str) -> str:
    """A graticule label: '12°E', '3.5°S', '0°'."""
    hemi = "" if t == 0 else plus if t > 0 else minus
    return f"{_tick_label(abs(t), ticks)}°{hemi}"


def _map_links(
    frame: _Frame, plan: Plan, sites: dict[str, Site], regions: dict[str, UserRegion]
) -> tuple[str, bool]:
    """One line per (site, user region) pair with inference placed, width by GPUs; and
    whether there is any."""
    links: dict[tuple[str, str], list[Placement]] = {}
    for p in plan.placements:
        if p.kind == "inference" and p.region is not None and p.region in regions:
            links.setdefault((p.site, p.region), []).append(p)
    max_link = max((sum(p.gpus for p in ps) for ps in links.values()), default=1) or 1
    out = ['<g class="links" clip-path="url(#map-clip)">']
    for (sid, rid), ps in links.items():
        out.append(_map_link(frame, sites[sid], regions[rid], ps, max_link))
    out.append("</g>")
    return "".join(out), bool(links)


def _map_link(
    frame: _Frame, site: Site, region: UserRegion, ps: list[Placement], max_link: int
) -> str:
    """The line from a site to a user region it serves (ps: the placements it carries)."""
    sid, rid = site.id, region.id
    x1, y1 = frame.xy(site.location.lat, site.location.lon)
    x2, y2 = frame.xy(region.location.lat, region.location.lon)
    gpus = sum(p.gpus for p in ps)
    replicas = sum(p.replicas for p in ps)
    rtts = [p.latency_ms for p in ps if p.latency_ms is not None]
    rtt = f", RTT {_num(max(rtts), 1)} ms" if rtts else ""
    sw = 1.0 + 4.0 * math.sqrt(gpus / max_link)
    units = ", ".join(sorted({p.workload for p in ps}))
    tip = f"{sid} → {rid}: {gpus:,} GPUs, {replicas:,} replicas{rtt} ({units})"
    return (
        f'<line data-link="{_e(sid)}|{_e(rid)}" x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x2)}" '
        f'y2="{_f(y2)}" stroke="{TIER_COLOURS.get(site.tier, "#888")}" '
        f'stroke-width="{_f(sw)}" stroke-opacity="0.5" stroke-linecap="round">'
        f"<title>{_e(tip)}</title></line>"
    )


def _site_markers(
    frame: _Frame,
    scenario: Scenario,
    plan: Plan,
    rows: list[SiteUsage],
    taken: list[_Box],
    labels: list[_Label],
) -> list[str]:
    """A marker per site, area by GPUs in use, biggest first (so that a small marker at the
    same place stays visible on top). Adds each marker's box to `taken` and its label to
    `labels`."""
    used = {r.site: r for r in rows}
    training = {p.site for p in plan.placements if p.kind == "training"}
    max_gpus = max((r.gpus_used for r in rows), default=0) or 1
    radius = {s.id: 5.0 + 9.0 * math.sqrt(used[s.id].gpus_used / max_gpus) for s in scenario.sites}
    markers = []
    for site in sorted(scenario.sites, key=lambda s: -radius[s.id]):
        x, y = frame.xy(site.location.lat, site.location.lon)
        r = radius[site.id]
        trains = site.id in training
        markers.append(_site_marker(site, used[site.id], x, y, r, trains=trains))
        rb = r * 1.2 if site.tier == "edge" else r
        taken.append(_Box(x - rb, y - rb, x + rb, y + rb))
        labels.append((x, y, rb + (4 if trains else 0), site.id, "site"))
    return markers


def _site_marker(site: Site, row: SiteUsage, x: float, y: float, r: float, *, trains: bool) -> str:
    """One site's marker at (x, y): filled when it uses GPUs, a dashed ring when it hosts
    training, and its tooltip."""
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
    if trains:
        ring = (
            f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{_f(r + 4)}" fill="none" '
            f'stroke="{colour}" stroke-width="1.2" stroke-dasharray="3 2"/>'
        )
    return (
        f'<g data-site="{_e(site.id)}" data-tier="{_e(site.tier)}">{ring}{shape}'
        f"<title>{_e(tip)}</title></g>"
    )


def _region_markers(
    frame: _Frame, regions: dict[str, UserRegion], taken: list[_Box], labels: list[_Label]
) -> list[str]:
    """A hollow diamond per user region. Adds each marker's box to `taken` and its label
    to `labels`."""
    markers = []
    for rid, region in regions.items():
        x, y = frame.xy(region.location.lat, region.location.lon)
        place = ", ".join(x for x in (region.location.metro, region.location.country) if x)
        tip = f"user region {rid} ({place})"
        markers.append(
            f'<g data-region="{_e(rid)}"><path d="M{_f(x)} {_f(y - 7)}L{_f(x + 7)} {_f(y)}'
            f'L{_f(x)} {_f(y + 7)}L{_f(x - 7)} {_f(y)}Z" fill="none" stroke="#333" '
            f'stroke-width="1.6"/><title>{_e(tip)}</title></g>'
        )
        taken.append(_Box(x - 7, y - 7, x + 7, y + 7))
        labels.append((x, y, 8.0, rid, "region"))
    return markers


def _map_labels(labels: list[_Label], taken: list[_Box], bounds: _Box) -> tuple[str, int]:
    """The labels placed without overlaps, in order; and how many found no free spot."""
    out = ['<g class="labels">']
    hidden = 0
    for x, y, r, text, kind in labels:
        label = _map_label(x, y, r, _short(text, 28), kind, taken, bounds)
        hidden += not label
        out.append(label)
    out.append("</g>")
    return "".join(out), hidden


def _chart_map(scenario: Scenario, plan: Plan, rows: list[SiteUsage]) -> str:
    """Sites, user regions and inference placements on lon/lat axes (degrees).

    Equirectangular projection with its standard parallel at the mid latitude; no map tiles.
    """
    sites = {s.id: s for s in scenario.sites}
    regions = {r.id: r for r in scenario.user_regions}
    frame = _map_frame(scenario, regions)
    out = [_svg_open("map", frame.width, frame.height, "Map of sites, user regions and placements")]
    out.append(_map_axes(frame))
    links, has_links = _map_links(frame, plan, sites, regions)
    out.append(links)
    # markers, then labels placed around them without overlaps
    taken: list[_Box] = []
    labels: list[_Label] = []
    markers = _site_markers(frame, scenario, plan, rows, taken, labels)
    markers += _region_markers(frame, regions, taken, labels)
    out.append('<g class="markers">' + "".join(markers) + "</g>")
    placed, hidden = _map_labels(labels, taken, frame.bounds())
    out.append(placed)
    legend_y = frame.top + frame.plot_h + frame.bottom + 14
    out.append(_map_legend(frame.left, legend_y, has_links, hidden))
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
