"""The Pareto chart: a front's solved points, USD/h against carbon (kgCO2e/h), joined by a
line, proven-optimal points filled, feasible ones hollow, the plan a star; with grid, axis
titles and a legend. Drawn only when the report is given a front.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from placer.outputs.html.markup import _e, _f, _gap, _num, _svg_open, _text, _tick_label, _ticks
from placer.plan.plan import ParetoFront, ParetoPoint, Plan

#: Plot area and margins, SVG px.
_LEFT, _RIGHT, _TOP, _BOTTOM = 84.0, 190.0, 16.0, 52.0
_PLOT_W, _PLOT_H = 820.0, 340.0

#: A solved point of the front with its index in `front.points`.
_Point = tuple[int, ParetoPoint]


@dataclass(frozen=True)
class _Axes:
    """The chart's axes: carbon (x) and USD/h (y) ticks; their ends are the plot's edges."""

    x_ticks: list[float]
    y_ticks: list[float]

    def px(self, cx: float, cy: float) -> tuple[float, float]:
        """SVG position of (carbon, USD/h)."""
        x0, x1, y0, y1 = self.x_ticks[0], self.x_ticks[-1], self.y_ticks[0], self.y_ticks[-1]
        x = _LEFT + _PLOT_W * (cx - x0) / (x1 - x0)
        y = _TOP + _PLOT_H * (1 - (cy - y0) / (y1 - y0))
        return x, y


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
    mine = _plan_point(plan, carbon_price_usd_per_t)
    xs = [p.carbon_kg_per_h for _, p in pts] + ([mine[0]] if mine else [])
    ys = [p.objective_usd_per_h for _, p in pts] + ([mine[1]] if mine else [])
    width, height = _LEFT + _PLOT_W + _RIGHT, _TOP + _PLOT_H + _BOTTOM
    out = [_svg_open("pareto", width, height, "Pareto front: objective against carbon")]
    out.append(
        f'<rect x="{_f(_LEFT)}" y="{_f(_TOP)}" width="{_f(_PLOT_W)}" height="{_f(_PLOT_H)}" '
        'fill="#fbfcfd" stroke="#b8c2cf"/>'
    )
    if not xs:
        out.append(
            _text(
                _LEFT + _PLOT_W / 2,
                _TOP + _PLOT_H / 2,
                "no feasible point on this front",
                anchor="middle",
                cls="hdr",
            )
        )
        out.append("</svg>")
        return "".join(out)
    axes = _pareto_axes(xs, ys)
    out.append(_pareto_grid(axes))
    out.append(_pareto_points(pts, axes))
    if mine is not None:
        out.append(_plan_star(mine, axes))
    out.append(_pareto_legend())
    out.append("</svg>")
    return "".join(out)


def _plan_point(plan: Plan, carbon_price_usd_per_t: float) -> tuple[float, float] | None:
    """The plan's (carbon kgCO2e/h, objective without the carbon price USD/h); None when it
    has no totals or no solution."""
    t = plan.totals
    if t is None or plan.status not in ("optimal", "feasible"):
        return None
    return (
        t.carbon_kg_per_h,
        t.objective_usd_per_h - carbon_price_usd_per_t * t.carbon_kg_per_h / 1000.0,
    )


def _pareto_axes(xs: list[float], ys: list[float]) -> _Axes:
    """Round ticks covering the values with an 8 % margin, never below 0."""
    x_lo, x_hi = min(xs), max(xs)
    y_lo, y_hi = min(ys), max(ys)
    pad_x = (x_hi - x_lo) * 0.08 or max(abs(x_hi) * 0.1, 1.0)
    pad_y = (y_hi - y_lo) * 0.08 or max(abs(y_hi) * 0.1, 1.0)
    x_ticks = _ticks(max(0.0, x_lo - pad_x), x_hi + pad_x, 6)
    y_ticks = _ticks(max(0.0, y_lo - pad_y), y_hi + pad_y, 5)
    return _Axes(x_ticks, y_ticks)


def _pareto_grid(axes: _Axes) -> str:
    """Grid lines, tick labels and axis titles."""
    x_ticks, y_ticks = axes.x_ticks, axes.y_ticks
    out = []
    for tv in x_ticks:
        gx, _ = axes.px(tv, y_ticks[0])
        out.append(
            f'<line x1="{_f(gx)}" y1="{_f(_TOP)}" x2="{_f(gx)}" y2="{_f(_TOP + _PLOT_H)}" '
            'stroke="#e1e5ea"/>'
        )
        out.append(
            _text(gx, _TOP + _PLOT_H + 16, _tick_label(tv, x_ticks), anchor="middle", cls="axis")
        )
    for tv in y_ticks:
        _, gy = axes.px(x_ticks[0], tv)
        out.append(
            f'<line x1="{_f(_LEFT)}" y1="{_f(gy)}" x2="{_f(_LEFT + _PLOT_W)}" y2="{_f(gy)}" '
            'stroke="#e1e5ea"/>'
        )
        out.append(_text(_LEFT - 6, gy + 4, _tick_label(tv, y_ticks), anchor="end", cls="axis"))
    out.append(
        _text(
            _LEFT + _PLOT_W / 2,
            _TOP + _PLOT_H + 40,
            "Carbon (kgCO2e/h)",
            anchor="middle",
            cls="hdr",
        )
    )
    cy_mid = _TOP + _PLOT_H / 2
    out.append(
        _text(
            18,
            cy_mid,
            "Objective (USD/h, carbon price 0)",
            anchor="middle",
            cls="hdr",
            extra=f'transform="rotate(-90 18 {_f(cy_mid)})"',
        )
    )
    return "".join(out)


def _pareto_points(pts: list[_Point], axes: _Axes) -> str:
    """The front's line (by carbon) and its points: filled when proven optimal."""
    out = []
    ordered = sorted(pts, key=lambda ip: (ip[1].carbon_kg_per_h, ip[1].cost_usd_per_h))
    if len(ordered) > 1:
        path = " ".join(
            f"{'M' if n == 0 else 'L'}{_f(axes.px(p.carbon_kg_per_h, p.cost_usd_per_h)[0])} "
            f"{_f(axes.px(p.carbon_kg_per_h, p.cost_usd_per_h)[1])}"
            for n, (_, p) in enumerate(ordered)
        )
        out.append(f'<path d="{path}" fill="none" stroke="#4477aa" stroke-width="2"/>')
    for i, p in pts:
        cx, cy = axes.px(p.carbon_kg_per_h, p.cost_usd_per_h)
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
    return "".join(out)


def _plan_star(mine: tuple[float, float], axes: _Axes) -> str:
    """The plan as a labelled star at (carbon, USD/h)."""
    cx, cy = axes.px(*mine)
    star = _star(cx, cy, 10.0)
    tip = f"this plan: cost {_num(mine[1])} USD/h, carbon {_num(mine[0])} kgCO2e/h"
    return (
        f'<g data-point="plan"><path d="{star}" fill="#cc3311" stroke="#7a1d0a" '
        f'stroke-width="1"/><title>{_e(tip)}</title></g>'
    ) + _text(cx + 12, cy - 8, "this plan", cls="val")


def _pareto_legend() -> str:
    """The key right of the plot: front line and point, a feasible point, the plan."""
    lx, ly = _LEFT + _PLOT_W + 18, _TOP + 14
    return (
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


def _star(cx: float, cy: float, r: float) -> str:
    """SVG path of a five-pointed star centred at (cx, cy), outer radius r px."""
    pts = []
    for n in range(10):
        rr = r if n % 2 == 0 else r * 0.45
        a = math.pi / 2 + n * math.pi / 5
        pts.append(f"{_f(cx + rr * math.cos(a))} {_f(cy - rr * math.sin(a))}")
    return "M" + "L".join(pts) + "Z"
