"""Time in the scenario language: the horizon, instants, figures that vary, grid events.

A scenario without a `horizon` is one period and solves exactly as a static scenario.
With one, the horizon is `periods` periods of `period_hours` each from `start` (ISO
8601 with a time zone), and a figure that varies may be written as a list with one
value per period (files are read by `placer.model.series_file` when a scenario is
loaded and become such lists). Lists name the period's value: the mean for prices and
intensities, the minimum for capacities, the peak for demand (how a file is resampled).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from placer.model.common import MAX_HOURS, MAX_SITE_KW, MAX_USD_PER_KWH, Id, StrictModel, ranged

#: Periods in one horizon: a year of 15-minute periods is 35,040.
MAX_PERIODS = 100_000
#: The shortest period, h: one minute (markets settle in 5 to 60 minutes).
MIN_PERIOD_HOURS = 1.0 / 60.0


def _instant_text(value: Any) -> Any:
    """YAML may read an unquoted timestamp as a datetime; keep its ISO text."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(
                f"{value.isoformat()} has no time zone; write it with one, e.g. "
                "2020-06-01T00:00:00+00:00"
            )
        return value.isoformat()
    if isinstance(value, dt.date):
        raise ValueError(
            f"{value.isoformat()} is a date without a time; write an instant with a time "
            "zone, e.g. 2020-06-01T00:00:00+00:00"
        )
    return value


def parse_instant(text: str) -> dt.datetime:
    """An ISO 8601 instant with a time zone (a 'Z' suffix is UTC).

    Raises:
      ValueError: not ISO 8601, or no time zone.
    """
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 instant, e.g. 2020-06-01T00:00:00+00:00"
        ) from None
    if value.tzinfo is None:
        raise ValueError(
            f"{text!r} has no time zone; write it with one, e.g. 2020-06-01T00:00:00+00:00"
        )
    return value


def _check_instant(text: str) -> str:
    parse_instant(text)
    return text


Instant = Annotated[
    str,
    BeforeValidator(_instant_text),
    AfterValidator(_check_instant),
    Field(description="An ISO 8601 instant with a time zone, e.g. 2020-06-01T00:00:00+00:00."),
]


class Horizon(StrictModel):
    """The periods a timed scenario plans over."""

    start: Instant
    period_hours: float = ranged(
        "Length of one period, h (a minute at least).", ge=MIN_PERIOD_HOURS, le=MAX_HOURS
    )
    periods: int = Field(ge=1, le=MAX_PERIODS, description="Number of periods.")

    @model_validator(mode="after")
    def _check(self) -> Horizon:
        try:
            self.end_time  # noqa: B018 (a horizon ending after year 9999 has no end)
        except OverflowError:
            raise ValueError(
                f"periods: the horizon from {self.start} would end after the year 9999"
            ) from None
        if self.hours > MAX_HOURS:
            raise ValueError(
                f"periods: {self.periods} periods of {self.period_hours:g} h is "
                f"{self.hours:g} h, above {MAX_HOURS:g} h"
            )
        return self

    @property
    def hours(self) -> float:
        """Length of the horizon, h."""
        return self.periods * self.period_hours

    @property
    def start_time(self) -> dt.datetime:
        return parse_instant(self.start)

    @property
    def end_time(self) -> dt.datetime:
        return self.start_time + dt.timedelta(hours=self.hours)

    def hours_from_start(self, instant: str) -> float:
        """Hours from the horizon's start to an instant (negative before it)."""
        return (parse_instant(instant) - self.start_time).total_seconds() / 3600.0

    def period_days(self) -> list[int] | None:
        """The calendar day each period lies in (0: the start's day), at the start's UTC
        offset: what a cap per day (`water_cap_l_per_day`) sums over. None unless the
        periods tile days: a period of at most 24 h that divides 24 h, starting at a
        multiple of it after midnight (a property of the grid, so every window of the
        horizon that starts on a period agrees). Then a cap per day holds as a mean per
        period."""
        start = self.start_time
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        at_h = (start - midnight).total_seconds() / 3600.0
        ph = self.period_hours

        def whole(x: float) -> bool:
            return abs(x - round(x)) <= 1e-9 * max(1.0, abs(x))

        if ph > 24.0 or not whole(24.0 / ph) or not whole(at_h / ph):
            return None
        first = round(at_h / ph)
        per_day = round(24.0 / ph)
        return [(first + t) // per_day for t in range(self.periods)]


def varying(description: str, *, le: float, ge: float | None = None, gt: float | None = None):
    """The type of a figure that may vary: one number, or a list of one per period."""
    number = Annotated[float, ranged(description, le=le, ge=ge, gt=gt)]
    return number | Annotated[list[number], Field(min_length=1, max_length=MAX_PERIODS)]


def varying_int(description: str, *, le: int, ge: int):
    """An integer figure that may vary (a pool's GPUs)."""
    number = Annotated[int, Field(ge=ge, le=le, description=description)]
    return number | Annotated[list[number], Field(min_length=1, max_length=MAX_PERIODS)]


def is_series(value: object) -> bool:
    """The figure is given per period."""
    return isinstance(value, list)


def per_period(value: float | list[float] | None, periods: int, default: float) -> list[float]:
    """The figure in each of `periods` periods (a number repeats; None is `default`)."""
    if value is None:
        return [default] * periods
    if isinstance(value, list):
        return [float(v) for v in value]
    return [float(value)] * periods


def series_min(value: float | list[float]) -> float:
    """The smallest value a figure takes."""
    return float(min(value)) if isinstance(value, list) else float(value)


class GridEvent(StrictModel):
    """A window in which the grid asks a site to draw less (demand response, a fault).

    The site's facility power (its grid draw: IT kW x PUE) must stay at or below its
    grid cap (or IT capacity x PUE when it has none) less the cut, in every period the
    window touches. With `over_limit_usd_per_kwh` the event's cap is soft: the draw may
    exceed it (never the cap without the event) and each kWh above it is paid at that
    price (docs/time.md).
    """

    name: Id
    start: Instant
    hours: float = ranged("Length of the window, h.", gt=0, le=MAX_HOURS)
    cut_kw: float | None = ranged(
        "Cut of the facility cap, kW.", gt=0, le=MAX_SITE_KW, default=None
    )
    cut_pct: float | None = ranged("Cut of the facility cap, percent.", gt=0, le=100, default=None)
    over_limit_usd_per_kwh: float | None = ranged(
        "Price of the energy drawn above the event's cap, USD per kWh: with it the cap is "
        "soft (the excess kW x the period's hours is paid in every period the window "
        "touches; the cap without the event stays hard); without it the cap is hard.",
        ge=0,
        le=MAX_USD_PER_KWH,
        default=None,
    )

    @model_validator(mode="after")
    def _check(self) -> GridEvent:
        if (self.cut_kw is None) == (self.cut_pct is None):
            raise ValueError("give exactly one of cut_kw and cut_pct")
        return self

    @property
    def priced(self) -> bool:
        """The event's cap is soft: energy above it is paid, not refused."""
        return self.over_limit_usd_per_kwh is not None

    def cut_cap_kw(self, cap_kw: float) -> float:
        """The facility cap during the event, kW (never below 0)."""
        if self.cut_kw is not None:
            return max(0.0, cap_kw - self.cut_kw)
        return max(0.0, cap_kw * (1.0 - float(self.cut_pct or 0.0) / 100.0))
