"""Figures that vary, read from CSV files and resampled to the horizon's periods.

A scenario may give a figure as `{file: prices.csv, column: price, scale: 0.001}`: a CSV
named relative to the scenario, one row per sample, a time column (ISO 8601; naive
times need `timezone:`) and a value column. Each sample holds from its time until the
next one's (the last for the file's usual spacing). A period's value is the
time-weighted mean of the samples it overlaps (prices, intensities), their minimum
(capacities, GPUs) or their maximum (demand). The file must cover the whole horizon,
with times strictly increasing and no gap longer than twice its usual spacing.

`resolve_series(data, base_dir)` replaces every such entry of a parsed scenario by the
list of its period values, before the scenario is validated; errors name the field,
the file and the line.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np

from placer.errors import ScenarioError
from placer.model.horizon import Horizon

#: How each figure's samples become one value per period.
RULES: dict[str, str] = {
    "it_capacity_kw": "min",
    "grid_cap_kw": "min",
    "water_cap_l_per_day": "min",
    "gpus": "min",
    "price_usd_per_kwh": "mean",
    "carbon_g_per_kwh": "mean",
    "demand_rps": "max",
    # a cap per period is a spend rate averaged over the period: its allowance is the
    # integral of the file's rate over the period, the time-weighted mean
    "budget_usd_per_period_h": "mean",
    "carbon_cap_kg_per_period_h": "mean",
}
FILE_KEYS = ("file", "column", "time_column", "timezone", "scale")
#: Largest series file read, bytes (a year of 1-minute samples is ~20 MB).
MAX_FILE_BYTES = 64 * 1024 * 1024


def resolve_series(data: Any, base_dir: Path) -> Any:
    """The parsed scenario with every `{file: ...}` figure replaced by its period values.

    Only figures that may vary are looked at (`RULES`); anything malformed elsewhere is
    left for validation to report.

    Raises:
      ScenarioError: naming the field, the file and what is wrong.
    """
    if not isinstance(data, dict):
        return data
    entries = list(_file_entries(data))
    if not entries:
        return data
    horizon = _horizon(data, entries[0][0])
    for path, holder, key, rule in entries:
        holder[key] = read_series(holder[key], base_dir, horizon, rule, path)
    return data


def _file_entries(data: dict):
    """(path, holder, key, rule) of every figure written as a file entry."""

    def is_file(value: Any) -> bool:
        return isinstance(value, dict) and "file" in value

    sites = data.get("sites")
    for i, site in enumerate(sites if isinstance(sites, list) else []):
        if not isinstance(site, dict):
            continue
        for part in ("power", "cooling"):
            block = site.get(part)
            if isinstance(block, dict):
                for key, value in block.items():
                    if key in RULES and is_file(value):
                        yield f"sites.{i}.{part}.{key}", block, key, RULES[key]
        pools = site.get("pools")
        for j, pool in enumerate(pools if isinstance(pools, list) else []):
            if isinstance(pool, dict) and is_file(pool.get("gpus")):
                yield f"sites.{i}.pools.{j}.gpus", pool, "gpus", "min"
    workloads = data.get("workloads")
    for i, w in enumerate(workloads if isinstance(workloads, list) else []):
        demand = w.get("demand_rps") if isinstance(w, dict) else None
        if isinstance(demand, dict):
            for region, value in demand.items():
                if is_file(value):
                    yield f"workloads.{i}.demand_rps.{region}", demand, region, "max"
    objective = data.get("objective")
    if isinstance(objective, dict):
        for key in ("budget_usd_per_period_h", "carbon_cap_kg_per_period_h"):
            if is_file(objective.get(key)):
                yield f"objective.{key}", objective, key, RULES[key]


def _horizon(data: dict, first_path: str) -> Horizon:
    from pydantic import ValidationError

    raw = data.get("horizon")
    if raw is None:
        raise ScenarioError(
            f"{first_path}: a figure read from a file needs a horizon (horizon: start, "
            "period_hours, periods)"
        )
    try:
        return Horizon.model_validate(raw)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        raise ScenarioError(f"horizon{'.' + where if where else ''}: {msg}") from None


def read_series(spec: dict, base_dir: Path, horizon: Horizon, rule: str, path: str) -> list:
    """The period values of one file entry (ints for GPUs).

    Raises:
      ScenarioError: unknown keys, an unreadable file, a bad line, a gap, or a file that
        does not cover the horizon.
    """
    unknown = sorted(set(spec) - set(FILE_KEYS))
    if unknown:
        raise ScenarioError(f"{path}.{unknown[0]}: unknown key; allowed: {', '.join(FILE_KEYS)}")
    name = spec["file"]
    if not isinstance(name, str) or not name:
        raise ScenarioError(f"{path}.file: must be the name of a CSV file")
    scale = spec.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise ScenarioError(f"{path}.scale: must be a number")
    if scale < 0:
        raise ScenarioError(f"{path}.scale: must not be negative (got {scale})")
    zone = _zone(spec.get("timezone"), path)
    file = (base_dir / name) if not Path(name).is_absolute() else Path(name)
    where = f"{path}: {file}"
    times_h, values = _read_samples(file, spec, zone, horizon, where, path)
    out = resample(times_h, values, horizon, rule, where) * float(scale)
    if rule == "min" and path.endswith(".gpus"):
        return [math.floor(v + 1e-9) for v in out]
    return [float(v) for v in out]


def _zone(name: Any, path: str) -> dt.tzinfo | None:
    if name is None:
        return None
    if not isinstance(name, str):
        raise ScenarioError(f"{path}.timezone: must be a zone name such as Europe/Paris or UTC")
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScenarioError(
            f"{path}.timezone: unknown zone {name!r}; use an IANA name such as Europe/Paris"
        ) from None


def _read_samples(file: Path, spec: dict, zone, horizon: Horizon, where: str, path: str):
    """(hours from the horizon's start float64[n], values float64[n]) of a CSV file;
    only a tariff may be negative (the scenario's ranges apply once it is loaded)."""
    may_be_negative = path.endswith("price_usd_per_kwh")
    try:
        if file.is_dir():
            raise ScenarioError(f"{where}: a directory, not a CSV file")
        if not file.is_file():
            raise ScenarioError(f"{where}: no such file (named relative to the scenario)")
        if file.stat().st_size > MAX_FILE_BYTES:
            raise ScenarioError(f"{where}: larger than {MAX_FILE_BYTES // 2**20} MiB")
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(f"{where}: cannot read it ({e})") from None
    rows = list(csv.reader(text.splitlines()))
    if len(rows) < 2:
        raise ScenarioError(f"{where}: needs a header line and at least one sample")
    header = [h.strip() for h in rows[0]]
    # the column errors name the key (`path.column`) and the file, not `where` again
    time_col = _column(header, spec.get("time_column"), 0, str(file), f"{path}.time_column")
    default_value = None if len(header) != 2 else 1 - time_col
    value_col = _column(header, spec.get("column"), default_value, str(file), f"{path}.column")
    start = horizon.start_time
    times, values = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) <= max(time_col, value_col):
            raise ScenarioError(f"{where}:{line}: {len(row)} fields; the header has {len(header)}")
        stamp = _time(row[time_col], zone, f"{where}:{line}")
        try:
            value = float(row[value_col])
        except ValueError:
            value = float("nan")
        if not math.isfinite(value):
            raise ScenarioError(
                f"{where}:{line}: {header[value_col]} {row[value_col]!r} is not a number"
            )
        if value < 0 and not may_be_negative:
            raise ScenarioError(f"{where}:{line}: {header[value_col]} {value:g} is negative")
        times.append((stamp - start).total_seconds() / 3600.0)
        values.append(value)
    t = np.array(times)
    for i in np.flatnonzero(np.diff(t) <= 0):
        raise ScenarioError(
            f"{where}:{_line_of(rows, i + 1)}: time does not increase (the same instant or "
            "earlier than the line before it, after time zones are applied)"
        )
    return t, np.array(values)


def _line_of(rows, sample: int) -> int:
    """Line number of the n-th non-empty sample row."""
    seen = -1
    for line, row in enumerate(rows[1:], start=2):
        if row and any(c.strip() for c in row):
            seen += 1
            if seen == sample:
                return line
    return len(rows)


def _column(header: list[str], name: Any, default: int | None, file: str, key: str) -> int:
    if name is None:
        if default is None:
            raise ScenarioError(
                f"{key}: {file} has columns {header}; name the value column (column: ...)"
            )
        return default
    if name not in header:
        raise ScenarioError(f"{key}: no column {name!r} in {file}; it has {header}")
    return header.index(name)


def _time(text: str, zone, where: str) -> dt.datetime:
    raw = text.strip()
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ScenarioError(f"{where}: {raw!r} is not an ISO 8601 time") from None
    if value.tzinfo is None:
        if zone is None:
            raise ScenarioError(
                f"{where}: {raw!r} has no time zone; add one to the times or give the "
                "file's zone (timezone: Europe/Paris, or UTC)"
            )
        value = value.replace(tzinfo=zone)
    return value


def resample(
    times_h: np.ndarray, values: np.ndarray, horizon: Horizon, rule: str, where: str
) -> np.ndarray:
    """float64[T]: one value per period from samples at `times_h` (hours from the
    horizon's start, strictly increasing), each holding until the next.

    Raises:
      ScenarioError: a gap longer than twice the usual spacing inside the horizon, or
        samples that do not cover the horizon.
    """
    n = times_h.size
    step = float(np.median(np.diff(times_h))) if n > 1 else horizon.period_hours
    ends = np.append(times_h[1:], times_h[-1] + step)
    span = horizon.hours
    if times_h[0] > 1e-9 or ends[-1] < span - 1e-9:
        first = horizon.start_time + dt.timedelta(hours=float(times_h[0]))
        last = horizon.start_time + dt.timedelta(hours=float(ends[-1]))
        raise ScenarioError(
            f"{where}: covers {first.isoformat()} to {last.isoformat()}; the horizon runs "
            f"from {horizon.start_time.isoformat()} to {horizon.end_time.isoformat()}"
        )
    gaps = np.flatnonzero((ends - times_h > 2 * step + 1e-9) & (ends > 0) & (times_h < span))
    if gaps.size:
        at = horizon.start_time + dt.timedelta(hours=float(times_h[gaps[0]]))
        raise ScenarioError(
            f"{where}: a gap of {ends[gaps[0]] - times_h[gaps[0]]:g} h after "
            f"{at.isoformat()} (the file's spacing is {step:g} h); fill it or shorten the "
            "horizon"
        )
    out = np.empty(horizon.periods)
    for t in range(horizon.periods):
        a, b = t * horizon.period_hours, (t + 1) * horizon.period_hours
        lo = int(np.searchsorted(ends, a, side="right"))
        hi = int(np.searchsorted(times_h, b, side="left"))
        overlap = np.minimum(ends[lo:hi], b) - np.maximum(times_h[lo:hi], a)
        keep = overlap > 1e-12
        vals, weights = values[lo:hi][keep], overlap[keep]
        if rule == "mean":
            out[t] = float((vals * weights).sum() / weights.sum())
        elif rule == "min":
            out[t] = float(vals.min())
        else:
            out[t] = float(vals.max())
    return out
