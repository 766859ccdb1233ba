"""The breakdown charts: cost (USD/h), carbon (kgCO2e/h) and water (L/h) as three
side-by-side horizontal bar panels, once by site and once by tier.
"""

from __future__ import annotations

from placer.model.scenario import Scenario
from placer.outputs.html import markup as mk
from placer.outputs.html.markup import _e, _f, _num, _text
from placer.plan.plan import SiteUsage

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
    out = [mk._svg_open(chart, width, height, label)]
    for i, (name, tier, _values) in enumerate(rows):
        y = head_h + i * row_h
        if i % 2 == 0:
            out.append(
                f'<rect x="0" y="{_f(y)}" width="{_f(width)}" height="{_f(row_h)}" fill="#f7f8fa"/>'
            )
        out.append(
            f'<rect x="4" y="{_f(y + 5)}" width="10" height="{_f(row_h - 10)}" '
            f'fill="{mk.TIER_COLOURS.get(tier, "#888")}"/>'
        )
        out.append(_text(20, y + 15, mk._short(name, 25), cls="site"))
    for j, (key, title, unit) in enumerate(_MEASURES):
        x0 = label_w + j * panel_w + 8
        bar_max = panel_w - 80
        top = max((v[key] for _, _, v in rows), default=0.0)
        ticks = mk._ticks(0.0, top if top > 0 else 1.0, 4)
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
            out.append(
                _text(tx, base_y + 16, mk._tick_label(t, ticks), anchor="middle", cls="axis")
            )
        out.append(_text(x0 + bar_max / 2, base_y + 32, unit, anchor="middle", cls="sub"))
        for i, (name, tier, values) in enumerate(rows):
            y = head_h + i * row_h + (row_h - bar_h) / 2
            value = values[key]
            bw = bar_max * value / axis_max if axis_max > 0 else 0.0
            share = f" ({100 * value / total:.1f} % of total)" if total > 0 else ""
            out.append(
                f'<g data-bar="{_e(name)}" data-measure="{key}"><rect x="{_f(x0)}" y="{_f(y)}" '
                f'width="{_f(max(bw, 0.0))}" height="{_f(bar_h)}" '
                f'fill="{mk.TIER_COLOURS.get(tier, "#888")}"/>'
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
    present = [t for t in mk.TIERS if any(s.tier == t for s in scenario.sites)]
    tier_rows = []
    for tier in present:
        members = [r for r in rows if r.tier == tier]
        tier_rows.append(
            (
                mk.TIER_LABELS[tier],
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
