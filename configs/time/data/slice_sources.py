"""Rebuilds the CSV slices in this folder from ../shared/data (see SOURCES.md).

Run from anywhere: `python configs/time/data/slice_sources.py [path/to/shared/data]`.
Reads only the shippable files named in SOURCES.md and writes `time,value` files with
UTC times (`+00:00`). Nothing is smoothed, filled or edited; prices are only converted to
USD/kWh and, for the US price files, moved back 364 days (52 weeks) so that weekday and
hour line up with the 2022 carbon week.
"""

from __future__ import annotations

import csv
import datetime as dt
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[2].parent / "shared" / "data"
UTC = dt.UTC
ROWS = 172  # 168 hours of the horizon + 4 spare rows

# US week: carbon Mon 2022-06-06 00:00 UTC; prices Mon 2023-06-05 00:00 UTC (364 days later).
US_CARBON_START = dt.datetime(2022, 6, 6, tzinfo=UTC)
US_PRICE_START = dt.datetime(2023, 6, 5, tzinfo=UTC)
US_SHIFT = US_PRICE_START - US_CARBON_START  # 364 days
US_CARBON = {  # balancing authority -> output name
    "CISO": "ciso_carbon_2022w23.csv",
    "ERCO": "erco_carbon_2022w23.csv",
    "PJM": "pjm_carbon_2022w23.csv",
    "NYIS": "nyis_carbon_2022w23.csv",
}
US_PRICE = {  # zone -> (output name, how the Datetime column is written)
    "US-CAL-CISO": ("caiso_np15_price_2023w23.csv", "naive-utc"),
    "US-TEX-ERCO": ("ercot_hubavg_price_2023w23.csv", "offset"),
    "US-MIDA-PJM": ("pjm_dom_price_2023w23.csv", "naive-utc"),
    "US-NY-NYIS": ("nyiso_capitl_price_2023w23.csv", "naive-utc"),
}

# EU week: Mon 2020-06-08 00:00 CEST = Sun 2020-06-07 22:00 UTC; naive CET/CEST times.
EU_START_LOCAL = dt.datetime(2020, 6, 8, tzinfo=ZoneInfo("Europe/Paris"))
EU_PRICE = {
    "DE-LU": "de_lu_price_2020w24.csv",
    "GB": "gb_price_2020w24.csv",
    "FR": "fr_price_2020w24.csv",
}
#: Stated assumption: ECB euro reference rate, 2020 annual average (USD per EUR).
USD_PER_EUR_2020 = 1.1422


def _write(name: str, rows: list[tuple[dt.datetime, float]]) -> None:
    if len(rows) != ROWS:
        raise SystemExit(f"{name}: {len(rows)} rows, expected {ROWS}")
    with open(HERE / name, "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["time", "value"])
        for t, v in rows:
            out.writerow([t.astimezone(UTC).isoformat(), f"{v:.6g}"])


def _read(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.reader(f))[1:]


def us(data: Path) -> None:
    end = US_CARBON_START + dt.timedelta(hours=ROWS)
    for ba, name in US_CARBON.items():
        rows = []
        for r in _read(data / f"carbon/hourly/eia_{ba}_ci_2022.csv"):
            t = dt.datetime.fromisoformat(r[0])
            if US_CARBON_START <= t < end:
                rows.append((t, float(r[-1])))  # avg_CI, gCO2e/kWh; empty rows would fail here
        _write(name, rows)
    for zone, (name, form) in US_PRICE.items():
        rows = []
        for r in _read(data / f"energy_prices/hourly/greendcc_{zone}_price_2023.csv"):
            t = dt.datetime.fromisoformat(r[0])
            t = t.replace(tzinfo=UTC) if form == "naive-utc" else t.astimezone(UTC)
            if US_PRICE_START <= t < US_PRICE_START + dt.timedelta(hours=ROWS):
                rows.append((t - US_SHIFT, float(r[1]) / 1000.0))  # USD/MWh -> USD/kWh
        _write(name, rows)


def eu(data: Path) -> None:
    zone = ZoneInfo("Europe/Paris")
    start = EU_START_LOCAL.astimezone(UTC)
    for bz, name in EU_PRICE.items():
        rows = []
        for r in _read(data / f"energy_prices/hourly/greendcc_{bz}_price_2020.csv"):
            t = dt.datetime.fromisoformat(r[0]).replace(tzinfo=zone).astimezone(UTC)
            if start <= t < start + dt.timedelta(hours=ROWS):
                rows.append((t, float(r[1]) * USD_PER_EUR_2020 / 1000.0))  # EUR/MWh -> USD/kWh
        _write(name, rows)


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DATA
    us(source)
    eu(source)
    print(f"wrote {len(US_CARBON) + len(US_PRICE) + len(EU_PRICE)} files to {HERE}")
