"""A capacity plan as one self-contained HTML page: `placer plan-capacity S --html PATH`.

Same conventions as the placement report (`placer.outputs.html_report`): inline CSS and
SVG, the same script and Content-Security-Policy (nothing loads from anywhere), every
user string escaped, deterministic bytes. Sections: the NPV against the baselines and
the KPIs; per site and month, the GPUs in use stacked by source (on-prem, committed
cloud, on-demand cloud) against the capacity held (installed GPUs at edge and on-prem
sites, committed GPUs at a cloud site: a step line); the order calendar (each purchase
from order to arrival, then in use); facility power against its cap per site; and, with
planning scenarios, the two-stage plan: its first-stage orders, each scenario's cost and
the regret of each single-scenario plan, and the fleet's GPUs by source per scenario.

Every chart is an `<svg data-chart="NAME">`: `capacity-SITE` per site,
`order-calendar`, and `scenario-N` per planning scenario.
"""

from __future__ import annotations

from placer.capacity import scenarios
from placer.capacity.plan import CapacityPlan
from placer.capacity.solve import CapacityResult
from placer.model.horizon import per_period
from placer.outputs.html.assets import _CSP, _CSS, _JS
from placer.outputs.html.markup import (
    STATUS_COLOURS,
    _e,
    _f,
    _num,
    _svg_open,
    _text,
    _tick_label,
    _ticks,
)

#: Source colours (ColorBrewer Dark2, as the tiers: on-prem green, cloud purple shades).
SOURCE_COLOURS = {"onprem": "#1b9e77", "committed": "#7570b3", "on_demand": "#cbc9e2"}
SOURCE_LABELS = {"onprem": "on-prem", "committed": "committed cloud", "on_demand": "on-demand"}
WIDTH, LEFT, RIGHT, TOP = 1120.0, 70.0, 16.0, 26.0
CHART_H = 150.0
CAP_COLOUR = "#cc3311"


def _stacked(chart: str, title: str, months: list[dict], cap: list[float] | None) -> str:
    """GPUs in use per month stacked by source (`months`: {source: GPUs} each), with an
    optional capacity step line."""
    n = max(1, len(months))
    totals = [sum(m.values()) for m in months]
    top = max([*totals, *(cap or []), 1.0])
    ticks = _ticks(0.0, top)
    top = ticks[-1]
    h = TOP + CHART_H + 34
    plot_w = WIDTH - LEFT - RIGHT
    bw = plot_w / n

    def y(v: float) -> float:
        return TOP + CHART_H * (1 - v / top)

    out = [_svg_open(chart, WIDTH, h, title), _text(LEFT, 14, title, cls="hdr")]
    for t in ticks:
        out.append(
            f'<line x1="{_f(LEFT)}" x2="{_f(WIDTH - RIGHT)}" y1="{_f(y(t))}" y2="{_f(y(t))}" '
            'stroke="#dde2e8" stroke-width=".6"/>'
        )
        out.append(_text(LEFT - 4, y(t) + 3.5, _tick_label(t, ticks), anchor="end", cls="axis"))
    for i, m in enumerate(months):
        base = 0.0
        x = LEFT + i * bw
        for src in ("onprem", "committed", "on_demand"):
            v = m.get(src, 0.0)
            if v <= 0:
                continue
            out.append(
                f'<rect x="{_f(x + 0.5)}" y="{_f(y(base + v))}" width="{_f(max(bw - 1, 0.5))}" '
                f'height="{_f(y(base) - y(base + v))}" fill="{SOURCE_COLOURS[src]}" '
                f'data-source="{src}"><title>{_e(f"month {i}: {v:,.0f} GPUs {SOURCE_LABELS[src]}")}'
                "</title></rect>"
            )
            base += v
        if i % max(1, n // 12) == 0:
            out.append(_text(x + bw / 2, TOP + CHART_H + 13, str(i), anchor="middle", cls="axis"))
    if cap:
        d = "M" + " ".join(
            f"{_f(LEFT + i * bw)},{_f(y(c))} H{_f(LEFT + (i + 1) * bw)}" for i, c in enumerate(cap)
        )
        out.append(
            f'<path d="{d}" fill="none" stroke="{CAP_COLOUR}" stroke-width="1.5" '
            'data-series="capacity"><title>capacity held (GPUs)</title></path>'
        )
    out.append(_text(LEFT + plot_w / 2, h - 4, "month", anchor="middle", cls="axis"))
    out.append("</svg>")
    return "".join(out)


def _legend() -> str:
    items = [
        f'<span style="display:inline-block;width:12px;height:12px;background:{c};'
        f'margin:0 4px -2px 12px"></span>{_e(SOURCE_LABELS[s])}'
        for s, c in SOURCE_COLOURS.items()
    ]
    items.append(
        f'<span style="display:inline-block;width:14px;border-top:2px solid {CAP_COLOUR};'
        'margin:0 4px 3px 12px"></span>capacity held'
    )
    return f'<p class="note">{"".join(items)}</p>'


def _site_months(res: CapacityResult, site: str) -> list[dict]:
    return [dict(m["gpus_by_site"].get(site, {})) for m in res.months]


def _fleet_months(res: CapacityResult) -> list[dict]:
    out = []
    for m in res.months:
        total: dict[str, float] = {}
        for use in m["gpus_by_site"].values():
            for k, v in use.items():
                total[k] = total.get(k, 0.0) + v
        out.append(total)
    return out


def _capacity_held(plan: CapacityPlan, site_id: str, tier: str) -> list[float] | None:
    """GPUs held at a site each month: installed (edge/on-prem) or committed (cloud)."""
    res = plan.plan
    cm = res.model
    if cm is None:
        return None
    n_t = len(res.months)
    if tier == "cloud":
        held = [0.0] * n_t
        for opt in cm.options:
            if opt.kind == "cloud_commit" and opt.site == site_id:
                for t, k in enumerate(res.installed.get(opt.id, [])):
                    held[t] += k * opt.gpus
        return held
    built = scenarios.built(cm.scenario, res.installed)
    site = next(s for s in built.sites if s.id == site_id)
    held = [0.0] * n_t
    for pool in site.pools:
        for t, g in enumerate(per_period(pool.gpus, n_t, 0.0)):
            held[t] += g
    return held


def _calendar(res: CapacityResult, months: int) -> str:
    """One row per purchase: order -> arrival (lead, hatched light) -> in use (solid)."""
    rows = res.purchases
    row_h = 18.0
    h = TOP + row_h * max(1, len(rows)) + 30
    label_w = 250.0
    plot_w = WIDTH - label_w - RIGHT
    span = max(1, months)

    def x(m: float) -> float:
        return label_w + plot_w * min(max(m, 0), span) / span

    out = [_svg_open("order-calendar", WIDTH, h, "order calendar"),
           _text(8, 14, "order calendar (months from the start)", cls="hdr")]  # fmt: skip
    if not rows:
        out.append(_text(label_w, TOP + 12, "nothing to build or commit", cls="sub"))
    for i, p in enumerate(rows):
        y0 = TOP + i * row_h
        end = months if p.kind != "cloud_commit" else p.arrival_month + _term(res, p.option)
        out.append(_text(8, y0 + 12, f"{p.option} x{p.units} @ {p.site}", size=10.5))
        tip = _e(
            f"{p.option}: {p.what}; ordered {p.order_date} (month {p.order_month}), arrives "
            f"{p.arrival_date} (month {p.arrival_month}); capex {p.capex_usd:,.0f} USD"
        )
        out.append(
            f'<g class="purchase" data-option="{_e(p.option)}" data-order="{p.order_month}" '
            f'data-arrival="{p.arrival_month}"><title>{tip}</title>'
            f'<rect x="{_f(x(p.order_month))}" y="{_f(y0 + 3)}" '
            f'width="{_f(max(x(p.arrival_month) - x(p.order_month), 1))}" height="11" '
            'fill="#fdd0a2"/>'
            f'<rect x="{_f(x(p.arrival_month))}" y="{_f(y0 + 3)}" '
            f'width="{_f(max(x(end) - x(p.arrival_month), 0))}" height="11" fill="#4477aa"/>'
            f'<circle cx="{_f(x(p.order_month))}" cy="{_f(y0 + 8.5)}" r="3" fill="#1d2430"/></g>'
        )
    for m in range(0, span + 1, max(1, span // 12)):
        out.append(_text(x(m), h - 8, str(m), anchor="middle", cls="axis"))
    out.append("</svg>")
    return "".join(out)


def _term(res: CapacityResult, option: str) -> int:
    cm = res.model
    opt = next((o for o in cm.options if o.id == option), None) if cm else None
    return getattr(opt, "term_months", 0) or 0


def _table(head: list[str], rows: list[list[str]], num_from: int = 1) -> str:
    th = "".join(
        f'<th class="{"num" if i >= num_from else ""}">{_e(h)}</th>' for i, h in enumerate(head)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"num" if i >= num_from else ""}">{_e(c)}</td>' for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return (
        f'<div class="tablewrap"><table class="sortable"><thead><tr>{th}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _usd(v: float | None) -> str:
    return _num(v, 0)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.0f}%"


def render_capacity_html(plan: CapacityPlan) -> str:
    """The whole capacity page, self-contained, as a string."""
    res = plan.plan
    name = plan.scenario or "capacity plan"
    colour = STATUS_COLOURS.get(res.status, "#555")
    charts: list[str] = []
    facts = [
        ("Status", res.status),
        ("Plan NPV", f"{_usd(res.cost_npv_usd)} USD"),
        ("Bound", f"{_usd(res.bound_npv_usd)} USD"),
        ("Cloud on-demand only", _base(plan.baseline_cloud)),
        ("On-prem only", _base(plan.baseline_onprem)),
        ("Months", f"{plan.months} from {plan.start[:10]}"),
        ("Discount", f"{100 * plan.discount_rate_per_year:g} %/year"),
    ]
    dl = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in facts)
    out = [
        '<header class="top"><div class="eyebrow">placer · capacity plan</div>',
        f"<h1>{_e(name)}</h1>",
        f'<div class="status" style="background:{colour}" data-status="{_e(res.status)}">'
        f'{_e(res.status.upper())}</div><dl class="facts">{dl}</dl>',
        f'<p class="message">{_e(res.message)}</p></header>',
    ]
    out += _kpi_section(plan)
    if res.model is not None and res.months:
        out.append('<section id="sec-capacity"><h2>Capacity against demand, per site</h2>')
        out.append(
            '<p class="lead">GPUs in use each month, stacked by source; the line is the '
            "capacity held: installed GPUs (builds included) at edge and on-prem sites, "
            "committed GPUs at a cloud site. Hover a bar for figures.</p>"
        )
        out.append(_legend())
        for site in res.model.scenario.sites:
            chart = f"capacity-{site.id}"
            charts.append(chart)
            out.append(
                _stacked(
                    chart,
                    f"{site.id} ({site.tier})",
                    _site_months(res, site.id),
                    _capacity_held(plan, site.id, site.tier),
                )
            )
        out.append("</section>")
        charts.append("order-calendar")
        out += [
            '<section id="sec-orders"><h2>Order calendar</h2>',
            '<p class="lead">Each purchase: the dot is the order (capex paid), the light bar '
            "the lead time, the dark bar the months it is in use (a commitment: its term).</p>",
            _calendar(res, plan.months),
            "</section>",
        ]
    out += _two_stage_section(plan, charts)
    out.append(f"<footer>placer plan-capacity · {_e(name)}</footer>")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="placer plan-capacity">'
        '<link rel="icon" href="data:,">'
        f"<title>placer capacity plan — {_e(name)} ({_e(res.status)})</title>"
        f"<style>{_CSS}</style></head>\n"
        f'<body data-charts="{_e(" ".join(charts))}">\n'
        + "\n".join(s for s in out if s)
        + f"\n<script>{_JS}</script>\n</body></html>\n"
    )


def _base(r: CapacityResult | None) -> str:
    if r is None:
        return "not computed"
    return f"{_usd(r.cost_npv_usd)} USD" if r.cost_npv_usd is not None else r.status


def _kpi_section(plan: CapacityPlan) -> list[str]:
    k = plan.kpis
    if k is None:
        return []
    cards = [
        ("Cost per GPU-hour", _num(k.usd_per_gpu_h, 2), "USD, all spend"),
        (
            "Per training GPU-hour",
            _num(k.usd_per_training_gpu_h, 2),
            "USD" if k.usd_per_training_gpu_h is not None else k.training_note,
        ),
        (
            "Per 1k tokens",
            _num(k.usd_per_1k_tokens, 4),
            "USD all-in" if k.usd_per_1k_tokens is not None else k.tokens_note,
        ),
        ("Spend", _usd(k.spend_usd), "USD over the horizon"),
    ]
    html = "".join(
        f'<div class="kpi"><div class="k">{_e(a)}</div><div class="v">{_e(b)}</div>'
        f'<div class="u">{_e(c)}</div></div>'
        for a, b, c in cards
    )
    rows = []
    for site, u in k.utilization.items():
        pw = k.power_mw.get(site, {})
        caps = [c for c in pw.get("cap") or [] if c is not None]
        rows.append(
            [site, _pct(u["mean"]), _num(max(pw.get("used") or [0.0]), 3),
             _num(max(caps), 3) if caps else "—", _pct(pw.get("peak_share"))]
        )  # fmt: skip
    roi = [
        [r.option, str(r.order_month), str(r.units),
         _usd(r.npv_saving_usd) if r.npv_saving_usd is not None else r.note,
         "—" if r.roi is None else f"{r.roi:.2f}", r.basis]
        for r in k.roi
    ]  # fmt: skip
    return [
        '<section id="sec-kpis"><h2>KPIs</h2>',
        f'<div class="kpis">{html}</div>',
        "<h3>Utilisation and power per site</h3>",
        _table(["site", "GPU use (mean)", "peak MW", "cap MW", "peak / cap"], rows),
        "<h3>ROI of each purchase</h3>",
        '<p class="lead">NPV saving: the plan re-solved with every purchase fixed, without '
        "this one, less the plan's cost; ROI = saving / capex (no capex: / its NPV cost).</p>",
        _table(["option", "order month", "units", "NPV saving USD", "ROI", "basis"], roi)
        if roi
        else f'<p class="empty">{_e(k.roi_note or "no purchase")}</p>',
        "</section>",
    ]


def _two_stage_section(plan: CapacityPlan, charts: list[str]) -> list[str]:
    ts = plan.two_stage
    if ts is None:
        return []
    orders = [
        [o.option, o.site, str(o.units), f"{o.order_date} (month {o.order_month})",
         ", ".join(f"{n}: {m}" for n, m in o.arrival_month.items())]
        for o in ts.first_stage
    ]  # fmt: skip
    scen = [
        [s.name, f"{s.probability:.2f}", _usd(s.result.cost_npv_usd), _usd(s.best_cost_npv_usd),
         s.changes]
        for s in ts.scenarios
    ]  # fmt: skip
    cands = [
        [c.name, _usd(c.expected_cost_npv_usd), _usd(c.regret_usd), _usd(c.max_regret_usd),
         c.worst_scenario or "—"]
        for c in ts.candidates
    ]  # fmt: skip
    out = [
        '<section id="sec-two-stage"><h2>Two-stage plan under uncertainty</h2>',
        f'<p class="lead">Expected NPV {_usd(ts.expected_cost_npv_usd)} USD ({_e(ts.status)}, '
        f"bound {_usd(ts.bound_npv_usd)}). Orders placed before {_e(ts.decide_by_date)} "
        f"(month {ts.decide_by_month}; {_e(ts.decide_by_rule)}) are decided now for every "
        f"scenario; later orders and placement follow the scenario. Wait-and-see "
        f"{_usd(ts.wait_and_see_npv_usd)} USD, EVPI {_usd(ts.evpi_usd)}, VSS "
        f"{_usd(ts.vss_usd)}.</p>",
        "<h3>Decided now</h3>",
        _table(["option", "site", "units", "ordered", "arrives (month), by scenario"], orders, 2)
        if orders
        else '<p class="empty">no order before then</p>',
        "<h3>Scenarios</h3>",
        _table(["scenario", "p", "NPV under the plan", "best alone", "changes"], scen),
        "<h3>Regret of single-scenario plans</h3>",
        '<p class="lead">Each plan\'s first-stage orders fixed, the rest re-solved in every '
        "scenario. Regret: its expected NPV less the two-stage plan's; max regret: the most, "
        "over scenarios, of its NPV less the best NPV of that scenario alone.</p>",
        _table(["first stage of", "expected NPV", "regret", "max regret", "worst in"], cands),
        _legend(),
    ]
    for i, s in enumerate(ts.scenarios):
        chart = f"scenario-{i}"
        charts.append(chart)
        out.append(
            _stacked(chart, f"{s.name}: fleet GPUs by source", _fleet_months(s.result), None)
        )
    out.append("</section>")
    return out


__all__ = ["render_capacity_html"]
