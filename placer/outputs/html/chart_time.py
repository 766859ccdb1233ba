"""The "Over time" section of a timed plan's report (docs/time.md): a Gantt chart of each
site's pools, each site's facility power against its cap (chart_time_series), and the
tariff and grid carbon of every site, all on one time axis.

Static plans (no `horizon`) get no section: `time_section` returns nothing and
`time_charts` no chart names, so their pages are byte for byte what they were.

Sizes: one SVG per chart, step lines as one `<path>` each (H/V commands), so a week of
hourly periods over ten sites stays a few hundred KiB.
"""

from __future__ import annotations

from dataclasses import dataclass

from placer.model.scenario import Scenario
from placer.model.site import Pool
from placer.outputs.html.chart_time_series import _chart_power, _chart_tariffs
from placer.outputs.html.markup import _e, _f, _num, _short, _svg_open, _text, _text_w
from placer.outputs.html.tables import _cell, _table
from placer.outputs.html.time_axis import (
    _AXIS_H,
    RUN_COLOUR,
    SERVICE_COLOURS,
    TIME_STYLE,
    WIDTH,
    TimeAxis,
    _axis,
    _band_path,
)
from placer.plan.plan import Placement, Plan

#: The charts of the "Over time" section, in page order.
TIME_CHARTS = ("gantt", "power", "tariffs")


def time_charts(plan: Plan) -> list[str]:
    """Chart names the "Over time" section adds (none for a static plan)."""
    return list(TIME_CHARTS) if plan.horizon is not None else []


def time_section(scenario: Scenario, plan: Plan) -> list[str]:
    """The "Over time" section of a timed plan's page (nothing for a static plan)."""
    if plan.horizon is None:
        return []
    h = plan.horizon
    axis = TimeAxis.of(h)
    return [
        '<section id="sec-time"><h2>Over time</h2>',
        f'<p class="lead">{h.periods} periods of {h.period_hours:g} h from '
        f"{_e(axis.when(axis.start))} ({axis.zone()}, the horizon's offset; every time below "
        f"is in it). Over the horizon: cost {_num(h.cost_usd, 0)} USD, carbon "
        f"{_num(h.carbon_kg, 0)} kgCO2e, water {_num(h.water_l, 0)} L"
        + (
            f", of the cost {_num(h.over_limit_usd, 2)} USD for energy drawn above the caps "
            "of grid events priced per kWh"
            if h.over_limit_usd > 0
            else ""
        )
        + (
            f"{' and' if h.over_limit_usd > 0 else ', of the cost'} "
            f"{_num(h.startup_cost_usd, 2)} USD for starting inference replicas"
            if h.startup_cost_usd > 0
            else ""
        )
        + ".</p>",
        *_startup_table(plan),
        "<h3>Schedule by pool</h3>",
        '<p class="lead">One lane per pool. Each training run is a bar from its start to its '
        "end; the light band under it is the GPUs of inference replicas in each period, "
        "stacked by service and scaled to the pool's peak (written under the pool). Hover a "
        "bar or a band for figures.</p>",
        _chart_gantt(scenario, plan, axis),
        "<h3>Facility power against its cap</h3>",
        '<p class="lead">Facility power (IT × PUE) of each site in each period, against its '
        "facility cap (the grid cap, or IT capacity × PUE, less grid events); a dip of the "
        "cap is a grid event or power not yet energised (shaded); a dashed line is the cap of "
        "a grid event priced per kWh, above which the draw is paid. Each site has its own "
        "scale. Hover a period for its figures.</p>",
        _chart_power(scenario, plan, axis),
        "<h3>Tariff and grid carbon</h3>",
        '<p class="lead">Each site\'s energy price and grid carbon intensity per period, on '
        "one scale per quantity for all sites.</p>",
        _chart_tariffs(scenario, plan, axis),
        "</section>",
    ]


def _startup_table(plan: Plan) -> list[str]:
    """The replicas each service with startup_usd_per_replica starts (none: nothing)."""
    if not plan.startup:
        return []
    rows = [
        [
            (w.workload, None),
            _cell(w.replicas_started, 0),
            _cell(w.usd_per_replica, 2),
            _cell(w.cost_usd, 2),
        ]
        for w in plan.startup
    ]
    return [
        "<h3>Replica start-ups</h3>",
        '<p class="lead">Replicas each service adds from one period to the next, at its '
        "start-up cost per replica (period 0's replicas are the starting fleet, unless "
        "the service states running_replicas).</p>",
        _table(
            "startup",
            [
                ("service", False),
                ("replicas started", True),
                ("USD per replica", True),
                ("cost USD", True),
            ],
            rows,
        ),
    ]


def _pool_gpus(pool: Pool) -> int:
    """A pool's installed GPUs (the most of any period when they vary)."""
    g = pool.gpus
    return int(max(g)) if isinstance(g, list | tuple) else int(g)


# ---- the Gantt chart --------------------------------------------------------------------------

_ROW_H, _BAR_H, _BAND_H, _SITE_H, _LANE_PAD = 15.0, 12.0, 16.0, 22.0, 5.0


@dataclass
class _Bar:
    run: Placement
    x0: float
    x1: float
    label: str
    label_at: str  # "in", "right" or "left"
    row: int = 0

    def extent(self) -> tuple[float, float]:
        """The x range the bar and its label take, SVG px."""
        w = _text_w(self.label, 10)
        if self.label_at == "right":
            return self.x0, self.x1 + 3 + w
        if self.label_at == "left":
            return self.x0 - 3 - w, self.x1
        return self.x0, self.x1


def _bars(runs: list[Placement], axis: TimeAxis) -> list[_Bar]:
    """Runs as bars, packed into rows so that no two bars or labels overlap."""
    bars = []
    right_edge = axis.x0 + axis.w
    for p in sorted(runs, key=lambda p: (p.start or "", p.unit)):
        a = axis.x_hours(axis.hours_of(p.start)) if p.start else axis.x_period(p.start_period or 0)
        b = axis.x_hours(axis.hours_of(p.end)) if p.end else a + 2
        b = max(b, a + 2.0)
        label = _short(p.workload, 28)
        w = _text_w(label, 10)
        at = "in" if w + 6 <= b - a else "right" if b + 3 + w <= right_edge else "left"
        bars.append(_Bar(p, a, b, label, at))
    row_right: list[float] = []
    for bar in bars:
        lo, hi = bar.extent()
        row = next((i for i, r in enumerate(row_right) if r + 2 <= lo), len(row_right))
        if row == len(row_right):
            row_right.append(hi)
        row_right[row] = hi
        bar.row = row
    return bars


def _run_tip(p: Placement, axis: TimeAxis) -> str:
    lines = [
        p.workload,
        f"pool {p.site}/{p.pool} ({p.accelerator}), {p.gpus:,} GPUs",
        f"start {axis.when(p.start)}" if p.start else "start —",
        f"end {axis.when(p.end)}" if p.end else "end —",
        f"cost {_num(p.cost_usd, 0)} USD · carbon {_num(p.carbon_kg, 1)} kgCO2e",
    ]
    if p.segments:
        moved = f", {p.moves} moves" if p.moves is not None else ""
        lines.append(f"{len(p.segments)} segments ({p.resumes} resumes{moved}, whole periods)")
        pools = [f"{s.site}/{s.pool}" for s in p.segments if s.pool is not None]
        if len(set(pools)) > 1:  # a run that migrates: its pools in order
            lines.append("pools: " + ", then ".join(pools))
    return "\n".join(lines)


def _draw_bar(bar: _Bar, y: float, axis: TimeAxis) -> str:
    p = bar.run
    out = [
        f'<g class="run" data-run="{_e(p.workload)}" data-pool="{_e(p.pool)}" '
        f'data-start="{_e(p.start or "")}">',
    ]
    if p.segments:  # a preempted run: one rect per segment over a thin line for pauses
        mid = y + _BAR_H / 2
        out.append(
            f'<line x1="{_f(bar.x0)}" y1="{_f(mid)}" x2="{_f(bar.x1)}" y2="{_f(mid)}" '
            f'stroke="{RUN_COLOUR}" stroke-dasharray="2 2"/>'
        )
        for seg in p.segments:
            a = axis.x_hours(axis.hours_of(seg.start))
            b = max(axis.x_hours(axis.hours_of(seg.end)), a + 2.0)
            out.append(
                f'<rect class="segment" x="{_f(a)}" y="{_f(y)}" width="{_f(b - a)}" '
                f'height="{_f(_BAR_H)}" rx="2" fill="{RUN_COLOUR}"/>'
            )
    else:
        out.append(
            f'<rect x="{_f(bar.x0)}" y="{_f(y)}" width="{_f(bar.x1 - bar.x0)}" '
            f'height="{_f(_BAR_H)}" rx="2" fill="{RUN_COLOUR}"/>'
        )
    ty = y + _BAR_H - 2.5
    if bar.label_at == "in":
        out.append(_text(bar.x0 + 3, ty, bar.label, size=10, cls="on-bar"))
    elif bar.label_at == "right":
        out.append(_text(bar.x1 + 3, ty, bar.label, size=10))
    else:
        out.append(_text(bar.x0 - 3, ty, bar.label, anchor="end", size=10))
    out.append(f"<title>{_e(_run_tip(p, axis))}</title></g>")
    return "".join(out)


def _service_bands(
    placements: list[Placement], axis: TimeAxis, y_base: float, colours: dict[str, str]
) -> tuple[str, int]:
    """Stacked inference GPUs per period of one pool: (SVG, peak GPUs)."""
    n = axis.periods
    gpus: dict[str, list[int]] = {}
    replicas: dict[str, list[int]] = {}
    for p in placements:
        if p.period is None or not 0 <= p.period < n:
            continue
        gpus.setdefault(p.workload, [0] * n)[p.period] += p.gpus
        replicas.setdefault(p.workload, [0] * n)[p.period] += p.replicas
    if not gpus:
        return "", 0
    peak = max(sum(g[t] for g in gpus.values()) for t in range(n))
    scale = (_BAND_H - 1) / peak if peak else 0.0
    below = [0] * n
    out = []
    for w in sorted(gpus):
        g, r = gpus[w], replicas[w]
        tops = [y_base - scale * (below[t] + g[t]) for t in range(n)]
        bottoms = [y_base - scale * below[t] for t in range(n)]
        t_max = max(range(n), key=lambda t: g[t])
        tip = (
            f"{w}: {min(r):,}–{max(r):,} replicas per period ({min(g):,}–{max(g):,} GPUs); "
            f"peak {axis.period_when(t_max)}"
        )
        out.append(
            f'<path class="band" data-service="{_e(w)}" d="{_band_path(axis, tops, bottoms)}" '
            f'fill="{colours[w]}" stroke="#8a99ab" stroke-width=".4">'
            f"<title>{_e(tip)}</title></path>"
        )
        below = [below[t] + g[t] for t in range(n)]
    return "".join(out), peak


def _chart_gantt(scenario: Scenario, plan: Plan, axis: TimeAxis) -> str:
    """One block per site, one lane per pool: training bars and stacked inference bands."""
    services = sorted({p.workload for p in plan.placements if p.kind == "inference"})
    colours = {w: SERVICE_COLOURS[i % len(SERVICE_COLOURS)] for i, w in enumerate(services)}
    by_pool: dict[tuple[str, str], list[Placement]] = {}
    for p in plan.placements:
        by_pool.setdefault((p.site, p.pool), []).append(p)
    body: list[str] = []
    y = _AXIS_H + 4
    for i, site in enumerate(scenario.sites):
        body.append(f'<g class="gantt-site" data-site="{_e(site.id)}">')
        body.append(_text(0, y + 15, _short(site.id, 30), cls="site"))
        body.append(_text(axis.x0, y + 15, f"{site.tier} · {len(site.pools)} pool(s)", cls="sub"))
        y += _SITE_H
        for j, pool in enumerate(site.pools):
            placed = by_pool.get((site.id, pool.key), [])
            lane, height = _lane(site.id, pool, placed, axis, y, colours, shade=(i + j) % 2 == 0)
            body.append(lane)
            y += height
        body.append("</g>")
    legend, legend_h = _gantt_legend(y + 18, colours)
    height = y + legend_h + 12
    out = [_svg_open("gantt", WIDTH, height, "Training runs and inference per pool over time")]
    out.append(TIME_STYLE)
    out.append(_axis(axis, _AXIS_H, y))
    out += body
    out.append(legend)
    out.append("</svg>")
    return "".join(out)


def _lane(
    site_id: str,
    pool: Pool,
    placed: list[Placement],
    axis: TimeAxis,
    y: float,
    colours: dict[str, str],
    *,
    shade: bool,
) -> tuple[str, float]:
    """One pool's lane at y: (SVG, height px)."""
    bars = _bars([p for p in placed if p.kind == "training"], axis)
    rows = 1 + max((b.row for b in bars), default=-1)
    has_band = any(p.kind == "inference" for p in placed)
    height = max(30.0, rows * _ROW_H + (_BAND_H if has_band else 0.0) + 2 * _LANE_PAD)
    out = [f'<g class="lane" data-pool="{_e(pool.key)}">']
    if shade:
        out.append(
            f'<rect x="0" y="{_f(y)}" width="{_f(WIDTH)}" height="{_f(height)}" fill="#f7f8fa"/>'
        )
    name = pool.key if pool.key == pool.accelerator else f"{pool.key} ({pool.accelerator})"
    out.append(_text(12, y + 13, _short(name, 28), cls="val"))
    sub = f"{_pool_gpus(pool):,} GPUs"
    band, peak = _service_bands(
        [p for p in placed if p.kind == "inference"], axis, y + height - _LANE_PAD, colours
    )
    if has_band:
        sub += f" · inference ≤ {peak:,}"
    out.append(_text(12, y + 25, sub, cls="sub"))
    out.append(band)
    for bar in bars:
        out.append(_draw_bar(bar, y + _LANE_PAD + bar.row * _ROW_H, axis))
    if not placed:
        out.append(_text(axis.x0 + 4, y + height / 2 + 4, "idle", cls="sub"))
    out.append("</g>")
    return "".join(out), height


def _gantt_legend(y: float, colours: dict[str, str]) -> tuple[str, float]:
    """The colour key at baseline y, wrapped to the chart's width: (SVG, height px)."""
    items = [
        f'<rect x="0" y="{_f(y - 9)}" width="14" height="10" rx="2" fill="{RUN_COLOUR}"/>',
        _text(19, y, "training run (start to end)", cls="sub"),
    ]
    x, y0 = 30 + _text_w("training run (start to end)", 10), y
    for w, colour in colours.items():
        label = f"inference: {_short(w, 30)}"
        if x + 30 + _text_w(label, 10) > WIDTH:
            x, y = 0.0, y + 16
        items.append(
            f'<rect x="{_f(x)}" y="{_f(y - 9)}" width="14" height="10" fill="{colour}" '
            'stroke="#8a99ab" stroke-width=".4"/>'
        )
        items.append(_text(x + 19, y, label, cls="sub"))
        x += 30 + _text_w(label, 10)
    return f'<g class="legend">{"".join(items)}</g>', y - y0 + 18
