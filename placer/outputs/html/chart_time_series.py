"""Per-period series of a timed plan's sites, on the "Over time" section's time axis
(chart_time): facility power against the facility cap (one scale per site, a hover cell
per period with its figures), and the energy price and grid carbon of every site (small
multiples, one scale per quantity shared by all sites, reaching below 0 when a tariff
does).
"""

from __future__ import annotations

from placer.model.scenario import Scenario
from placer.outputs.html.markup import UTIL_COLOURS, _e, _f, _num, _short, _svg_open, _text
from placer.outputs.html.time_axis import (
    _AXIS_H,
    RUN_COLOUR,
    TIME_STYLE,
    WIDTH,
    TimeAxis,
    _axis,
    _band_path,
)
from placer.plan.plan import Plan, SitePeriods

CAP_COLOUR = UTIL_COLOURS[2]
PRICE_COLOUR, CARBON_COLOUR = "#228833", "#666666"
_POWER_ROW_H, _POWER_PLOT_H = 66.0, 50.0
_TARIFF_ROW_H, _TARIFF_PLOT_H = 34.0, 26.0


def _site_periods(scenario: Scenario, plan: Plan) -> list[SitePeriods]:
    """The plan's per-period rows, in scenario site order."""
    by_id = {s.site: s for s in plan.site_periods}
    return [by_id[s.id] for s in scenario.sites if s.id in by_id]


def _step_line(axis: TimeAxis, ys: list[float | None]) -> str:
    """A step line through per-period y values (SVG px); None breaks the line."""
    parts: list[str] = []
    prev: float | None = None
    for t, y in enumerate(ys):
        if y is None:
            prev = None
            continue
        if prev is None:
            parts.append(f"M{_f(axis.x_period(t))} {_f(y)}")
        elif y != prev:
            parts.append(f"V{_f(y)}")
        parts.append(f"H{_f(axis.x_period(t + 1))}")
        prev = y
    return "".join(parts)


def _lowered(caps: list[float | None]) -> list[tuple[int, int]]:
    """[first, last] period ranges in which the cap is below its highest value."""
    known = [c for c in caps if c is not None]
    if not known:
        return []
    top = max(known)
    out: list[tuple[int, int]] = []
    for t, c in enumerate(caps):
        if c is not None and c < top * (1 - 1e-9):
            if out and out[-1][1] == t - 1:
                out[-1] = (out[-1][0], t)
            else:
                out.append((t, t))
    return out


def _chart_power(scenario: Scenario, plan: Plan, axis: TimeAxis) -> str:
    """Per site: facility kW as a filled step area, the facility cap as a step line."""
    rows = _site_periods(scenario, plan)
    priced = any(sp.event_cap_kw for sp in rows)
    top = _AXIS_H + 4
    height = top + _POWER_ROW_H * len(rows) + 30 + (14 if priced else 0)
    out = [_svg_open("power", WIDTH, height, "Facility power against the facility cap per period")]
    out.append(TIME_STYLE)
    out.append(_axis(axis, _AXIS_H, top + _POWER_ROW_H * len(rows)))
    for i, sp in enumerate(rows):
        out.append(_power_row(sp, axis, top + i * _POWER_ROW_H, shade=i % 2 == 0))
    out.append(_power_legend(height - 10 - (14 if priced else 0)))
    if priced:
        out.append(_priced_legend(height - 10))
    out.append("</svg>")
    return "".join(out)


def _power_row(sp: SitePeriods, axis: TimeAxis, y: float, *, shade: bool) -> str:
    use, caps = sp.facility_kw, sp.facility_cap_kw
    known = [c for c in caps if c is not None]
    priced = sp.event_cap_kw or []  # a priced grid event's cap: the draw above it is paid
    y_max = max([*use, *known, *(c for c in priced if c is not None), 1e-9])
    base = y + 8 + _POWER_PLOT_H

    def y_of(kw: float) -> float:
        return base - _POWER_PLOT_H * kw / y_max

    out = [f'<g class="site-power" data-site="{_e(sp.site)}">']
    if shade:
        out.append(
            f'<rect x="0" y="{_f(y)}" width="{_f(WIDTH)}" height="{_f(_POWER_ROW_H)}" '
            'fill="#f7f8fa"/>'
        )
    cap_text = f"cap {_num(min(known))}–{_num(max(known))} kW" if known else "no cap"
    if known and min(known) == max(known):
        cap_text = f"cap {_num(known[0])} kW"
    peak = max(use, default=0.0)
    out.append(_text(0, y + 20, _short(sp.site, 30), cls="site"))
    out.append(_text(0, y + 35, f"peak {_num(peak)} · {cap_text}", cls="sub"))
    out.append(_text(0, y + 49, f"scale 0–{_num(y_max)} kW" if y_max > 1e-6 else "idle", cls="sub"))
    for a, b in _lowered(caps):
        x0, x1 = axis.x_period(a), axis.x_period(b + 1)
        out.append(
            f'<rect class="event" x="{_f(x0)}" y="{_f(y + 8)}" width="{_f(x1 - x0)}" '
            f'height="{_f(_POWER_PLOT_H)}" fill="{CAP_COLOUR}" fill-opacity=".1"/>'
        )
    out.append(
        f'<line x1="{_f(axis.x0)}" y1="{_f(base)}" x2="{_f(axis.x0 + axis.w)}" y2="{_f(base)}" '
        'stroke="#b8c0cc"/>'
    )
    if any(use):
        d = _band_path(axis, [y_of(v) for v in use], [base] * len(use))
        out.append(
            f'<path class="use" d="{d}" fill="{RUN_COLOUR}" fill-opacity=".35" '
            f'stroke="{RUN_COLOUR}" stroke-width=".8"/>'
        )
    if known:
        d = _step_line(axis, [None if c is None else y_of(c) for c in caps])
        out.append(
            f'<path class="cap" d="{d}" fill="none" stroke="{CAP_COLOUR}" stroke-width="1.4"/>'
        )
    if any(c is not None for c in priced):
        d = _step_line(axis, [None if c is None else y_of(c) for c in priced])
        out.append(
            f'<path class="event-cap" d="{d}" fill="none" stroke="{CAP_COLOUR}" '
            'stroke-width="1.2" stroke-dasharray="3 2"/>'
        )
    out.append(_hover_cells(sp, axis, y + 8))
    out.append("</g>")
    return "".join(out)


def _hover_cells(sp: SitePeriods, axis: TimeAxis, y: float) -> str:
    """An invisible cell per period whose tooltip gives that period's figures."""
    out = []
    for t in range(axis.periods):
        x0, x1 = axis.x_period(t), axis.x_period(t + 1)
        use, cap = sp.facility_kw[t], sp.facility_cap_kw[t]
        share = f" ({100 * use / cap:.0f} %)" if cap else ""
        tip = (
            f"{sp.site} · {axis.period_when(t)}\n"
            f"facility {_num(use)} kW of {'no cap' if cap is None else _num(cap) + ' kW'}{share}\n"
            f"GPUs {sp.gpus_used[t]:,} of {sp.gpus_total[t]:,} · price "
            f"{sp.price_usd_per_kwh[t]:.4g} USD/kWh · carbon {_num(sp.carbon_g_per_kwh[t])} g/kWh"
        )
        event_cap = sp.event_cap_kw[t] if sp.event_cap_kw else None
        if event_cap is not None and sp.over_limit_kw and sp.over_limit_usd:
            tip += (
                f"\npriced grid event cap {_num(event_cap)} kW · "
                f"{_num(sp.over_limit_kw[t])} kW above it · {sp.over_limit_usd[t]:,.2f} USD paid"
            )
        out.append(
            f'<rect class="hv" x="{_f(x0)}" y="{_f(y)}" width="{_f(x1 - x0)}" '
            f'height="{_f(_POWER_PLOT_H)}"><title>{_e(tip)}</title></rect>'
        )
    return "".join(out)


def _power_legend(y: float) -> str:
    return (
        '<g class="legend">'
        f'<rect x="0" y="{_f(y - 9)}" width="14" height="10" fill="{RUN_COLOUR}" '
        'fill-opacity=".35"/>'
        + _text(19, y, "facility power used, kW", cls="sub")
        + f'<line x1="190" y1="{_f(y - 4)}" x2="204" y2="{_f(y - 4)}" stroke="{CAP_COLOUR}" '
        'stroke-width="1.4"/>'
        + _text(209, y, "facility cap, kW (none drawn: no cap)", cls="sub")
        + f'<rect x="430" y="{_f(y - 9)}" width="14" height="10" fill="{CAP_COLOUR}" '
        'fill-opacity=".1"/>'
        + _text(449, y, "cap lowered (grid event, or power not yet energised)", cls="sub")
        + "</g>"
    )


def _priced_legend(y: float) -> str:
    return (
        '<g class="legend">'
        f'<line x1="0" y1="{_f(y - 4)}" x2="14" y2="{_f(y - 4)}" stroke="{CAP_COLOUR}" '
        'stroke-width="1.2" stroke-dasharray="3 2"/>'
        + _text(19, y, "cap of a grid event priced per kWh: the draw above it is paid", cls="sub")
        + "</g>"
    )


# ---- tariffs ----------------------------------------------------------------------------------


def _chart_tariffs(scenario: Scenario, plan: Plan, axis: TimeAxis) -> str:
    """Small multiples: price (USD/kWh), then grid carbon (g/kWh), one row per site."""
    rows = _site_periods(scenario, plan)
    block_h = 20 + _TARIFF_ROW_H * len(rows)
    top = _AXIS_H + 4
    height = top + 2 * block_h + 8
    out = [_svg_open("tariffs", WIDTH, height, "Energy price and grid carbon per site and period")]
    out.append(_axis(axis, _AXIS_H, height - 8))
    blocks = (
        ("Energy price, USD/kWh", "price", PRICE_COLOUR, lambda s: s.price_usd_per_kwh, ".3g"),
        ("Grid carbon, gCO2e/kWh", "carbon", CARBON_COLOUR, lambda s: s.carbon_g_per_kwh, ",.0f"),
    )
    for k, (title, key, colour, get, fmt) in enumerate(blocks):
        y = top + k * block_h
        out.append(_text(0, y + 14, title, cls="hdr"))
        values = [v for sp in rows for v in get(sp)]
        # a day-ahead tariff may be negative: the scale then reaches below 0
        scale = (min([*values, 0.0]), max([*values, 0.0]))
        if scale[1] - scale[0] < 1e-12:
            scale = (scale[0], scale[0] + 1.0)
        out.append(
            _text(
                axis.x0 + 4,
                y + 14,
                f"scale {scale[0]:{fmt}}–{scale[1]:{fmt}}, all sites",
                cls="sub",
            )
        )
        for i, sp in enumerate(rows):
            row_y = y + 20 + i * _TARIFF_ROW_H
            out.append(_tariff_row(sp, axis, row_y, (key, colour, fmt), get(sp), scale))
    out.append("</svg>")
    return "".join(out)


def _tariff_row(
    sp: SitePeriods,
    axis: TimeAxis,
    y: float,
    style: tuple[str, str, str],
    values: list[float],
    scale: tuple[float, float],
) -> str:
    """One site's series at y. style: (key, colour, number format); scale: (low, high),
    the values at the bottom and the top of the row, shared by every site."""
    key, colour, fmt = style
    lo_s, hi_s = scale
    bottom = y + 4 + _TARIFF_PLOT_H

    def y_of(v: float) -> float:
        return bottom - _TARIFF_PLOT_H * (v - lo_s) / (hi_s - lo_s)

    zero = y_of(0.0)
    lo, hi = min(values), max(values)
    mean = sum(values) / len(values)
    t_lo, t_hi = values.index(lo), values.index(hi)
    summary = f"mean {mean:{fmt}} · {lo:{fmt}}–{hi:{fmt}}"
    tip = (
        f"{sp.site} {key}: mean {mean:{fmt}}; lowest {lo:{fmt}} ({axis.period_when(t_lo)}); "
        f"highest {hi:{fmt}} ({axis.period_when(t_hi)})"
    )
    d_area = _band_path(axis, [y_of(v) for v in values], [zero] * len(values))
    d_line = _step_line(axis, [y_of(v) for v in values])
    return (
        f'<g class="site-{key}" data-site="{_e(sp.site)}"><title>{_e(tip)}</title>'
        + _text(0, y + 14, _short(sp.site, 30), cls="val")
        + _text(0, y + 27, summary, cls="sub")
        + f'<line x1="{_f(axis.x0)}" y1="{_f(zero)}" x2="{_f(axis.x0 + axis.w)}" '
        f'y2="{_f(zero)}" stroke="#b8c0cc"/>'
        + f'<path d="{d_area}" fill="{colour}" fill-opacity=".15"/>'
        + f'<path d="{d_line}" fill="none" stroke="{colour}" stroke-width="1.2"/>'
        + "</g>"
    )
