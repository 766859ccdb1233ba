"""`placer replan --event` on a timed scenario: each change holds from the decision period
on, the periods before it stay as they ran.

An event of a static re-plan changes the fleet for ever. On a timed scenario the periods
before `--at` are history, run under the scenario as it was, so a change of a figure that
may vary by period (a price, a carbon intensity, a cap, a pool's GPUs, a region's demand,
a cap per period) is written as that figure's series: its old value in the periods before
`--at`, the changed value from `--at` on. `sites.X=down` (or a pool) sets each of its
pools' GPUs to 0 from `--at` on. A change of a field that does not vary by period (a
workload's deadline, a PUE, a latency SLO) holds over the whole horizon, as written, and
the report says so; if it makes what ran before `--at` break a limit, the re-plan says
which (exit 1).

`events_from(doc, events, horizon, at)` works on the scenario document with its series
files already read into lists (`placer.model.series_file.resolve_series`) and returns the
changed document, to be validated as the scenario.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any, get_args, get_origin

from placer.analysis.replan_time_report import TimedEvent
from placer.analysis.whatif_apply import apply_variant
from placer.analysis.whatif_parse import Change, Variant
from placer.analysis.whatif_paths import resolve_path, strip_type
from placer.errors import OptionError
from placer.model.horizon import Horizon
from placer.model.load import describe_value, unwrap_optional
from placer.model.site import Pool, Site


def events_from(
    doc: dict[str, Any], events: Variant, horizon: Horizon, at: int
) -> tuple[dict[str, Any], list[TimedEvent]]:
    """The scenario document with each of `events`' changes holding from period `at` on.

    Args:
      doc: the scenario document, series files read into lists; left untouched.
      events: the parsed `--event` changes, applied in order.
      horizon: the scenario's horizon (validated).
      at: the decision period, 0 <= at < horizon.periods.

    Returns:
      (the changed document, one `TimedEvent` per change: what it changed and from when).

    Raises:
      OptionError: a bad path or value (as `placer whatif --set`), or a change that cannot
        start at `at`: a figure per period not set before it (no value to keep in the
        periods before), cleared to null, or a pool given as node shapes taken down.
    """
    out = copy.deepcopy(doc)
    described = []
    for change in events.changes:
        if change.path[0] == "horizon":
            raise OptionError(
                f"{change.where}: a re-plan keeps the horizon of the plan being run; "
                "change the figures in it instead"
            )
        before = copy.deepcopy(out)
        target = resolve_path(before, change)
        node = target.parent[target.key] if target.exists else None  # type: ignore[index]
        if change.op == "down" and strip_type(target.declared, node) in (Site, Pool):
            described.append(_down(out, change, horizon, at))
            continue
        out, (applied,) = apply_variant(out, Variant(change.text, (change,)))
        start, was, now = None, applied.before, applied.after  # over the whole horizon
        if _varies(target.declared):
            old = _per_period(before, change, horizon, where="before")
            new = _per_period(out, change, horizon, where="after")
            placed = resolve_path(out, change)
            placed.parent[placed.key] = old[:at] + new[at:]  # type: ignore[index]
            start, was, now = at, old[at], new[at]
        described.append(
            TimedEvent(
                text=change.text, path=applied.path, from_period=start, before=was, after=now
            )
        )
    return out, described


def _varies(declared: Any) -> bool:
    """The scenario language lets the field be a number or one number per period
    (`placer.model.horizon.varying`)."""
    _, members = unwrap_optional(declared)
    kinds = [unwrap_optional(m)[0] for m in members or []]
    numbers = [k for k in kinds if k in (int, float)]
    series = [get_args(k)[0] for k in kinds if get_origin(k) is list and get_args(k)]
    return bool(numbers) and any(unwrap_optional(a)[0] in (int, float) for a in series)


def _per_period(doc: dict[str, Any], change: Change, horizon: Horizon, where: str) -> list:
    """The figure `change` names in `doc`, one value per period of the horizon."""
    target = resolve_path(doc, change)
    value = target.parent[target.key] if target.exists else target.default  # type: ignore[index]
    if isinstance(value, list):
        if len(value) != horizon.periods:
            raise OptionError(
                f"{change.where}: {target.path} has {len(value)} values {where} the change; "
                f"the horizon has {horizon.periods} periods"
            )
        return list(value)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise OptionError(
            f"{change.where}: {target.path} is {describe_value(value)} {where} the change; "
            "give a number, or one per period"
        )
    if value is None:
        state = "cleared" if where == "after" else "not set"
        raise OptionError(
            f"{change.where}: {target.path} is {state} {where} the change, so it cannot hold "
            "from --at on while the periods before it keep their value (a figure per period "
            "needs a value in every period); give it in the scenario"
            + (", or a grid event under the site's grid_events" if "power" in target.path else "")
        )
    profile = _demand_profile(doc, target.path) if "demand_rps" in target.path else None
    if profile is None:
        return [value] * horizon.periods
    # a number scaled by the daily profile (compile_time.demand_per_period); a list is not
    step = dt.timedelta(hours=horizon.period_hours)
    start = horizon.start_time
    return [
        float(f"{value * profile[(start + t * step).hour]:.12g}") for t in range(horizon.periods)
    ]


def _demand_profile(doc: dict[str, Any], path: str) -> list[float] | None:
    """The daily profile of the workload whose demand `path` names (None: none)."""
    parts = path.split(".")
    if len(parts) < 3 or parts[0] != "workloads":
        return None
    wid = path[len("workloads.") : path.index(".demand_rps")]
    for w in doc.get("workloads", []):
        if isinstance(w, dict) and w.get("id") == wid:
            return w.get("demand_profile")
    return None


def _down(doc: dict[str, Any], change: Change, horizon: Horizon, at: int) -> TimedEvent:
    """`sites.X=down` / `sites.X.pools.Y=down` from `at` on: each pool's GPUs 0 there."""
    target = resolve_path(doc, change)
    node = target.parent[target.key]  # type: ignore[index]
    pools = node.get("pools", []) if strip_type(target.declared, node) is Site else [node]
    gpus_at = 0
    for pool in pools:
        if not isinstance(pool, dict):
            continue
        if "nodes" in pool:
            raise OptionError(
                f"{change.where}: pool {pool.get('id', '?')} of {target.path} lists node "
                "shapes, whose GPUs cannot vary by period, so it cannot go down from --at "
                "on; give its GPUs per period in the scenario instead"
            )
        gpus = pool.get("gpus", 0)
        series = list(gpus) if isinstance(gpus, list) else [gpus] * horizon.periods
        if len(series) != horizon.periods:
            raise OptionError(
                f"{change.where}: {target.path}: pool {pool.get('id', '?')} has {len(series)} "
                f"GPU values; the horizon has {horizon.periods} periods"
            )
        gpus_at += series[at]
        pool["gpus"] = series[:at] + [0] * (horizon.periods - at)
    return TimedEvent(text=change.text, path=target.path, from_period=at, before=gpus_at, after=0)


__all__ = ["events_from"]
