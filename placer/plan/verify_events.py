"""verify_events: what a timed plan pays over the caps of grid events priced per kWh.

Written apart from compile (`placer.problem.compile_events`) and the plan's build
(`placer.plan.build_events`) on purpose, from the Scenario alone (docs/time.md):

- A grid event with `over_limit_usd_per_kwh` touches period t when its window [start,
  start + hours) overlaps [t x period hours, (t + 1) x period hours). Its cap in t is
  the grid cap (or IT capacity x PUE without one) less `cut_kw`, or times
  1 - `cut_pct` / 100, at least 0.
- In a period touched by priced events, the event cap is the lowest of theirs and the
  price the highest; the site's facility draw (the placements' IT kW x PUE in t) above
  the cap is paid: excess kW x period hours x price, USD. No headroom applies to it.
- The hard facility cap (the grid cap less the hard events' cuts) is checked as before
  (`TimedVerifier._check_capacities`); a priced event never lowers it.

Stated figures checked: each site row of `site_periods`' `event_cap_kw`,
`over_limit_kw` and `over_limit_usd` (period by period; a site without a priced event
states none of them), and through the caller the site's cost, the plan's cost and the
horizon's `cost_usd` and `over_limit_usd`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from placer.model.horizon import per_period
from placer.model.site import Site
from placer.plan.plan import Plan
from placer.plan.verify_figures import Violation, compare

#: Slack of a period boundary, h.
_EPS = 1e-9


def event_caps(site: Site, event, start_h: float, ph: float, it, grid) -> list[tuple[int, float]]:
    """(period, cap kW) for every period an event's window (from `start_h`, hours after
    the horizon's start) touches: the grid cap in it (IT capacity x PUE without one; `it`,
    `grid`: kW per period) less `cut_kw`, or times 1 - `cut_pct` / 100, at least 0."""
    out = []
    for t in range(len(it)):
        if (t + 1) * ph > start_h + _EPS and t * ph < start_h + event.hours - _EPS:
            base = grid[t] if math.isfinite(grid[t]) else it[t] * site.power.pue
            if event.cut_kw is not None:
                out.append((t, max(0.0, base - event.cut_kw)))
            else:
                out.append((t, max(0.0, base * (1.0 - float(event.cut_pct or 0.0) / 100.0))))
    return out


class OverLimitCheck:
    """The excess over priced grid events of every site, recomputed per period."""

    def __init__(
        self, sites: list[Site], offset_h: Callable[[str], float], periods: int, period_h: float
    ) -> None:
        """`offset_h`: hours from the horizon's start to an ISO 8601 instant."""
        self.n_t, self.ph = periods, period_h
        self.caps: dict[str, tuple[list[float], list[float]]] = {}
        for site in sites:
            if any(e.over_limit_usd_per_kwh is not None for e in site.grid_events):
                self.caps[site.id] = self._priced_caps(site, offset_h)

    def _priced_caps(self, site: Site, offset_h) -> tuple[list[float], list[float]]:
        """(cap kW per period, inf where no priced event; price USD/kWh per period)."""
        inf, n_t, ph = math.inf, self.n_t, self.ph
        it = per_period(site.power.it_capacity_kw, n_t, inf)
        grid = per_period(site.power.grid_cap_kw, n_t, inf)
        cap, price = [inf] * n_t, [0.0] * n_t
        for event in site.grid_events:
            if event.over_limit_usd_per_kwh is None:
                continue
            for t, cut in event_caps(site, event, offset_h(event.start), ph, it, grid):
                cap[t] = min(cap[t], cut)
                price[t] = max(price[t], event.over_limit_usd_per_kwh)
        return cap, price

    def figures(self, sid: str, facility_kw: list[float]) -> tuple[list, list, list] | None:
        """(event cap kW or None, excess kW, USD) per period of one site given its facility
        draw per period; None for a site without a priced event."""
        if sid not in self.caps:
            return None
        cap, price = self.caps[sid]
        over = [
            max(0.0, f - c) if math.isfinite(c) else 0.0
            for f, c in zip(facility_kw, cap, strict=True)
        ]
        usd = [o * self.ph * p for o, p in zip(over, price, strict=True)]
        return [c if math.isfinite(c) else None for c in cap], over, usd

    def check(
        self, plan: Plan, facility_kw: Callable[[str], list[float]], out: list[Violation]
    ) -> dict[str, float]:
        """USD paid over priced events per site (sites with such events); the stated
        `site_periods` figures of each are compared, violations appended to `out`."""
        paid = {}
        for sid in self.caps:
            paid[sid] = sum(self.figures(sid, facility_kw(sid))[2])
        for j, row in enumerate(plan.site_periods):
            said = (row.event_cap_kw, row.over_limit_kw, row.over_limit_usd)
            actual = self.figures(row.site, facility_kw(row.site))
            path = f"site_periods[{j}]"
            if actual is None:
                for name, value in zip(_FIELDS, said, strict=True):
                    if value is not None:
                        out.append(
                            Violation("kpi", row.site, f"{path}.{name}: no priced grid event")
                        )
                continue
            for name, values, expected in zip(_FIELDS, said, actual, strict=True):
                if values is None:
                    continue  # not stated: the cost it adds is checked in the totals
                if len(values) != len(expected):
                    message = f"{path}.{name}: {len(values)} values for {len(expected)} periods"
                    out.append(Violation("kpi", row.site, message))
                    continue
                for t, (s, a) in enumerate(zip(values, expected, strict=True)):
                    compare(out, row.site, path, f"{name}[{t}]", s, a)
        return paid


_FIELDS = ("event_cap_kw", "over_limit_kw", "over_limit_usd")
