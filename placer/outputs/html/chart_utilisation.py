"""The utilisation chart: one row per site, one bar per capacity (GPUs, IT kW, facility kW
against the grid cap, heat kW against heat rejection, water L/h against the water cap),
binding capacities outlined, the objective's headroom limit dashed, and its colour key.
"""

from __future__ import annotations

from dataclasses import dataclass

from placer.model.scenario import Scenario
from placer.model.site import Site
from placer.outputs.html.markup import (
    TIER_COLOURS,
    TIER_LABELS,
    UTIL_COLOURS,
    _e,
    _f,
    _num,
    _pct,
    _short,
    _svg_open,
    _text,
    _text_w,
)
from placer.plan.plan import Plan, SiteUsage


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


def _binding(plan: Plan) -> set[tuple[str, str]]:
    """(site, resource key) pairs of the binding capacities the plan reports."""
    out = set()
    for c in plan.capacity_prices:
        key = c.resource.split(" ", 1)[0]
        out.add((c.site, key))
    return out


def _util_colour(share: float) -> str:
    return UTIL_COLOURS[0] if share < 0.9 else UTIL_COLOURS[1] if share < 0.995 else UTIL_COLOURS[2]


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
        f"{pool.key}: {pool_use.get((site.id, pool.key), 0):,} / {pool.peak_gpus:,}"
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
