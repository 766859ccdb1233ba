"""A site's water cap per day as one capacity row per (site, day) of a timed problem.

`water_cap_l_per_day` limits the litres a site draws in a day, not in each hour: a run
may use more water in the afternoon than a 24th of the cap if the day's total stays
under it. Where the horizon's periods tile its days (`Horizon.period_days`: hourly
periods from a midnight, say), the water row of a day's FIRST period carries the whole
day, with

    cap   = the day's cap (its smallest value over the day's periods) / 24, L/h:
            the mean rate the day allows, the unit of every water row
    terms = an option charges it once, with its water L/h x (its periods in that day
            x period h / 24): its share of the day's mean rate (`Problem.scale_oj`)

and the water rows of the day's other periods are uncapped (no option charges them).
Where periods do not tile days (periods longer than a day or not dividing it, or a
horizon starting at 10:30 with hourly periods), each period's water row keeps its own
cap of the day's cap / 24 L/h: a mean per period, stricter than the day's sum
(docs/time.md says so).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from placer.model.horizon import Horizon


class WaterDays(NamedTuple):
    """Which period's water row carries each period's water.

    Attributes:
      first_t: int64[T], the period whose water row period t's water is charged to (the
        first period of its day; t itself when not grouped).
      scale: what one period of water rate counts on that row: period h / 24 when
        grouped, else 1.
      grouped: the periods tile days (`Horizon.period_days` is not None).
    """

    first_t: np.ndarray
    scale: float
    grouped: bool


def water_days(horizon: Horizon) -> WaterDays:
    """The day rows of `horizon` (module docstring)."""
    days = horizon.period_days()
    n_t = horizon.periods
    if days is None:
        return WaterDays(np.arange(n_t, dtype=np.int64), 1.0, False)
    day_t = np.asarray(days, np.int64)
    starts = np.flatnonzero(np.diff(day_t, prepend=day_t[0] - 1))  # first period of each day
    first_t = starts[np.searchsorted(starts, np.arange(n_t), side="right") - 1]
    return WaterDays(first_t.astype(np.int64), horizon.period_hours / 24.0, True)


def day_caps(water_t: np.ndarray, days: WaterDays) -> np.ndarray:
    """float64[T]: water caps per period (L/h, the day's cap / 24 in each period) as the
    rows carry them: the day's smallest on its first period, inf on the others (when
    grouped; unchanged otherwise)."""
    if not days.grouped:
        return water_t
    out = np.full(water_t.shape, np.inf)
    np.minimum.at(out, days.first_t, water_t)
    return out


def merge_day_terms(row: np.ndarray, scale: np.ndarray, columns: list[int]) -> None:
    """In place: of an option's water terms (`columns` of row int[O, J], in period
    order), the later ones charging the same day row as an earlier one are dropped
    (row -1) and counted in the first one's `scale` (float64[O, J])."""
    if len(columns) < 2:
        return
    n_o = row.shape[0]
    ids = np.arange(n_o)
    head = np.full(n_o, columns[0], np.int64)
    for c in columns[1:]:
        same = (row[:, c] >= 0) & (row[:, c] == row[ids, head])
        scale[ids[same], head[same]] += scale[same, c]
        row[same, c] = -1
        head = np.where(same, head, c)
