"""What a timed plan pays for drawing above the caps of grid events priced per kWh.

Per site with a priced grid event (`GridEvent.over_limit_usd_per_kwh`) and period t:
the event cap (`compile_events.priced_caps_per_period`: the lowest cap of the priced
events touching t), the facility draw above it (the plan's facility kW in t less the
cap, at least 0) and its price: that kW x the period's hours x the highest price of
those events, USD. `placer.plan.verify_time` re-derives the same from the scenario.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from placer.model.horizon import Horizon
from placer.model.site import Site
from placer.problem.compile_events import priced_caps_per_period


class OverLimit(NamedTuple):
    """One site's priced grid events over the periods (T periods).

    Attributes:
      event_cap_kw: the lowest priced event cap per period, kW (None: no priced event).
      over_limit_kw: the facility draw above it, kW (0 where none).
      over_limit_usd: what that costs, USD.
    """

    event_cap_kw: list[float | None]
    over_limit_kw: list[float]
    over_limit_usd: list[float]

    @property
    def total_usd(self) -> float:
        return float(sum(self.over_limit_usd))


def over_limit(site: Site, horizon: Horizon, facility_kw_t: np.ndarray) -> OverLimit | None:
    """The site's excess over its priced grid events given its facility draw per period
    (float64[T], kW); None when the site has no priced event."""
    if not any(e.priced for e in site.grid_events):
        return None
    cap_t, price_t = priced_caps_per_period(site, horizon)
    over_t = np.where(np.isfinite(cap_t), np.maximum(facility_kw_t - cap_t, 0.0), 0.0)
    usd_t = over_t * horizon.period_hours * price_t
    return OverLimit(
        [float(c) if math.isfinite(c) else None for c in cap_t],
        [float(v) for v in over_t],
        [float(v) for v in usd_t],
    )
