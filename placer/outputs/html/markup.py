"""Shared SVG and HTML helpers of the report: escaping, number formatting, SVG coordinates,
axis ticks, the `<svg>` and `<text>` elements, and the colour palettes every chart uses.

Draws nothing by itself.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

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
_FONT = "11"


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
