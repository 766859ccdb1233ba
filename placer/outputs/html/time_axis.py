"""The time axis of a timed plan's charts (chart_time, chart_time_series): the horizon mapped
onto the plot's x range, round clock ticks in the horizon's UTC offset, and compact step
paths (H/V commands, one `<path>` per series) that keep a week of hourly periods small.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from placer.model.horizon import parse_instant
from placer.outputs.html.markup import _f, _text, _text_w
from placer.plan.plan import PlanHorizon

#: Chart width, label column and right margin, SVG px (the page is ~1,120 px wide).
WIDTH, LABEL_W, RIGHT = 1120.0, 190.0, 12.0
RUN_COLOUR = "#4477aa"
#: Light colours of the stacked inference bands, one per service (cycled).
SERVICE_COLOURS = ("#9ecae1", "#fdd0a2", "#c7e9c0", "#dadaeb", "#fcbba1", "#d9d9d9")
#: The time charts' own CSS (inside their SVG, so the page's stylesheet stays as it is):
#: hover cells, and labels written on a bar.
TIME_STYLE = (
    "<style>.hv{fill:#000;fill-opacity:0}.hv:hover{fill-opacity:.08}"
    "svg.chart text.on-bar{fill:#fff}</style>"
)
_AXIS_H = 24.0
_TICK_STEPS_H = (1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720, 1440, 2880)


@dataclass(frozen=True)
class TimeAxis:
    """The horizon mapped onto the plot's x range [x0, x0 + w], SVG px."""

    start: dt.datetime
    period_hours: float
    periods: int
    x0: float = LABEL_W
    w: float = WIDTH - LABEL_W - RIGHT

    @classmethod
    def of(cls, horizon: PlanHorizon) -> TimeAxis:
        return cls(parse_instant(horizon.start), horizon.period_hours, horizon.periods)

    @property
    def hours(self) -> float:
        return self.period_hours * self.periods

    def x_hours(self, hours: float) -> float:
        """x of a time `hours` after the horizon's start (clamped to the plot)."""
        return self.x0 + self.w * min(max(hours / self.hours, 0.0), 1.0)

    def x_period(self, t: int) -> float:
        """x of the start of period t (t = periods: the horizon's end)."""
        return self.x_hours(t * self.period_hours)

    def hours_of(self, instant: str) -> float:
        return (parse_instant(instant) - self.start).total_seconds() / 3600.0

    def local(self, instant: str | dt.datetime) -> dt.datetime:
        """A time in the horizon's UTC offset (the offset its start is written with)."""
        t = parse_instant(instant) if isinstance(instant, str) else instant
        return t.astimezone(self.start.tzinfo)

    def when(self, instant: str | dt.datetime) -> str:
        """'Tue 09 Jun 14:00' in the horizon's offset."""
        return self.local(instant).strftime("%a %d %b %H:%M")

    def period_when(self, t: int) -> str:
        """'Tue 09 Jun 14:00–15:00': period t's window."""
        a = self.start + dt.timedelta(hours=t * self.period_hours)
        b = a + dt.timedelta(hours=self.period_hours)
        return f"{self.when(a)}–{self.local(b).strftime('%H:%M')}"

    def zone(self) -> str:
        """The horizon's UTC offset, e.g. 'UTC+02:00'."""
        off = self.start.utcoffset() or dt.timedelta(0)
        sign = "-" if off < dt.timedelta(0) else "+"
        minutes = abs(int(off.total_seconds())) // 60
        return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"

    def ticks(self) -> list[tuple[float, str]]:
        """(hours from the start, label) of about 7 to 14 round clock times."""
        step = next((s for s in _TICK_STEPS_H if self.hours / s <= 14), _TICK_STEPS_H[-1])
        clock = self.start.hour + self.start.minute / 60.0
        first = (-clock) % (24 if step >= 24 else step)
        out = []
        h = first
        while h <= self.hours + 1e-9:
            t = self.start + dt.timedelta(hours=h)
            fmt = "%a %d %b" if step >= 24 else "%a %H:%M" if t.hour == 0 or not out else "%H:%M"
            out.append((h, t.strftime(fmt)))
            h += step
        return out


def _axis(axis: TimeAxis, top: float, bottom: float) -> str:
    """Tick labels above `top` and a light vertical grid line per tick down to `bottom`."""
    out = ['<g class="time-axis">']
    for h, label in axis.ticks():
        x = axis.x_hours(h)
        out.append(
            f'<line x1="{_f(x)}" y1="{_f(top - 4)}" x2="{_f(x)}" y2="{_f(bottom)}" '
            'stroke="#dde2e8"/>'
        )
        if x + _text_w(label, 10) / 2 <= axis.x0 + axis.w + RIGHT:
            out.append(_text(x, top - 8, label, anchor="middle", cls="axis"))
    out.append("</g>")
    return "".join(out)


def _band_path(axis: TimeAxis, tops: list[float], bottoms: list[float]) -> str:
    """A closed step area between per-period y values (SVG px, one per period)."""
    n = len(tops)
    parts = [f"M{_f(axis.x_period(0))} {_f(bottoms[0])}V{_f(tops[0])}"]
    for t in range(n):
        parts.append(f"H{_f(axis.x_period(t + 1))}")
        if t + 1 < n and tops[t + 1] != tops[t]:
            parts.append(f"V{_f(tops[t + 1])}")
    parts.append(f"V{_f(bottoms[-1])}")
    for t in range(n - 1, -1, -1):
        parts.append(f"H{_f(axis.x_period(t))}")
        if t > 0 and bottoms[t - 1] != bottoms[t]:
            parts.append(f"V{_f(bottoms[t - 1])}")
    return "".join(parts) + "Z"
