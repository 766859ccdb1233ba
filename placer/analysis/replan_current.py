"""What runs now: the current placement `placer replan` starts from.

Three forms are read:

- a plan of ours (`placer solve -o plan.json`, JSON or YAML: `kind: Plan`); each
  placement names its unit exactly;
- a JSON or YAML list of entries (or `{placements: [...]}`), each
  `{workload, site, pool[, region][, copy]}`;
- a CSV file with a header naming the columns `workload, site, pool` and optionally
  `region, copy`.

An entry without `region` places every unit of the workload that no more precise entry
places (every region and copy of a service); one without `copy` every copy of its
region. A pool is named by its id within its site (its accelerator unless the scenario
gives it an id). Every error names the entry (`placements.3`, `current.csv line 4`)
and what is wrong, as an `OptionError`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from placer.errors import OptionError, ScenarioError
from placer.problem.form import Index

#: The columns of a CSV of current placements.
CSV_COLUMNS = ("workload", "site", "pool", "region", "copy")


@dataclass(frozen=True)
class CurrentEntry:
    """One line of the current placement: where a workload (or one unit of it) runs.

    Attributes:
      where: the entry's place in its file ("placements.3", "current.csv line 4").
      region, copy: narrow the entry to a region / a copy (None: all of them).
    """

    where: str
    workload: str
    site: str
    pool: str
    region: str | None = None
    copy: int | None = None


def read_current(path: Path | str) -> list[CurrentEntry]:
    """The entries of a current-placement file (a plan, a JSON/YAML list or a CSV).

    Raises:
      OptionError: unreadable file, or an entry without workload, site or pool.
    """
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    from placer.model.yaml_text import read_document

    try:
        data, source = read_document(path)
    except ScenarioError as e:
        raise OptionError(f"--current: {e}") from None
    if isinstance(data, dict) and data.get("kind") == "Plan":
        from placer.model.load import validate_model
        from placer.plan.plan import Plan

        try:
            plan = validate_model(Plan, data, source=source)
        except ScenarioError as e:
            raise OptionError(f"--current: {e}") from None
        if plan.horizon is not None:
            raise OptionError(
                f"--current {source}: a timed plan, and the scenario is static; give the "
                'timed scenario it was made for, with --at (docs/replan.md, "Timed fleets")'
            )
        split = next((n for n, p in enumerate(plan.placements) if p.decode_pool), None)
        if split is not None:
            raise OptionError(
                f"--current {source}: placements.{split}.decode_pool: replan does not "
                "start from prefill/decode disaggregated placements yet (docs/serving.md)"
            )
        return [
            CurrentEntry(f"{source}: placements.{n}", *_entry_fields(p))
            for n, p in enumerate(plan.placements)
        ]
    items = data.get("placements") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise OptionError(
            f"--current {source}: expected a plan, a list of entries "
            "{workload, site, pool[, region][, copy]} or {placements: [...]}"
        )
    prefix = "placements" if isinstance(data, dict) else "entry"
    return [_entry(item, f"{source}: {prefix}.{n}") for n, item in enumerate(items)]


def _entry_fields(p) -> tuple[str, str, str, str | None, int]:
    return p.workload, p.site, p.pool, p.region, p.copy_index


def _read_csv(path: Path) -> list[CurrentEntry]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise OptionError(f"--current {path}: cannot read: {e}") from None
    if not rows:
        raise OptionError(f"--current {path}: empty file; expected a header {CSV_COLUMNS[:3]}")
    header = [h.strip() for h in rows[0]]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    missing = [h for h in CSV_COLUMNS[:3] if h not in header]
    if unknown or missing:
        raise OptionError(
            f"--current {path} line 1: header {header}: "
            + (f"unknown columns {unknown}; " if unknown else "")
            + (f"missing {missing}; " if missing else "")
            + f"columns are {list(CSV_COLUMNS)}"
        )
    out = []
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise OptionError(
                f"--current {path} line {n}: {len(row)} fields, the header has {len(header)}"
            )
        item = {h: cell.strip() for h, cell in zip(header, row, strict=True) if cell.strip()}
        out.append(_entry(item, f"{path} line {n}"))
    return out


def _entry(item: Any, where: str) -> CurrentEntry:
    if not isinstance(item, dict):
        raise OptionError(f"--current {where}: expected a mapping, got {type(item).__name__}")
    unknown = sorted(set(item) - set(CSV_COLUMNS) - {"copy_index"})
    if unknown:
        raise OptionError(
            f"--current {where}: unknown keys {unknown}; keys are {list(CSV_COLUMNS)}"
        )
    for key in CSV_COLUMNS[:3]:
        if not isinstance(item.get(key), str) or not item[key]:
            raise OptionError(f"--current {where}: '{key}' is required (a non-empty string)")
    region = item.get("region")
    if region is not None and not isinstance(region, str):
        raise OptionError(f"--current {where}: 'region' must be a string")
    copy = item.get("copy", item.get("copy_index"))
    if copy is not None:
        try:
            copy = int(copy)
        except (TypeError, ValueError):
            raise OptionError(f"--current {where}: 'copy' must be a whole number") from None
        if copy < 0 or str(item.get("copy", item.get("copy_index"))).strip() not in (
            str(copy),
            f"{copy}.0",
        ):
            raise OptionError(f"--current {where}: 'copy' must be a whole number >= 0")
    return CurrentEntry(where, item["workload"], item["site"], item["pool"], region, copy)


def current_pools(entries: list[CurrentEntry], index: Index) -> np.ndarray:
    """int32[U]: the pool each unit of a static problem runs in now (-1: not running).

    Precise entries win over broad ones (a copy over a region over a workload); two
    entries of the same precision for one unit are an error.

    Raises:
      OptionError: an entry names a workload, site, pool, region or copy the scenario
        does not have, or two entries place one unit.
    """
    pools = {(p.site, p.key): i for i, p in enumerate(index.pools)}
    sites = {p.site for p in index.pools} | set(index.sites)
    by_workload: dict[str, list[int]] = {}
    for u, unit in enumerate(index.units):
        by_workload.setdefault(unit.workload, []).append(u)
    out = np.full(len(index.units), -1, np.int32)
    rank = np.full(len(index.units), -1, np.int8)
    origin: dict[int, str] = {}
    for e in entries:
        units = by_workload.get(e.workload)
        if units is None:
            raise OptionError(
                f"--current {e.where}: workload {e.workload!r} is not in the scenario"
            )
        pool = pools.get((e.site, e.pool))
        if pool is None:
            if e.site not in sites:
                raise OptionError(f"--current {e.where}: site {e.site!r} is not in the scenario")
            here = sorted(k for s, k in pools if s == e.site)
            raise OptionError(
                f"--current {e.where}: site {e.site!r} has no pool {e.pool!r} (pools: {here})"
            )
        chosen = [
            u
            for u in units
            if (e.region is None or index.units[u].region == e.region)
            and (e.copy is None or index.units[u].copy == e.copy)
        ]
        if not chosen:
            what = f"region {e.region!r}" if e.region is not None else ""
            what += f" copy {e.copy}" if e.copy is not None else ""
            raise OptionError(f"--current {e.where}: workload {e.workload!r} has no {what.strip()}")
        precision = (e.region is not None) + (e.copy is not None)
        for u in chosen:
            if rank[u] == precision:
                raise OptionError(
                    f"--current {e.where}: {index.units[u].name} is already placed by {origin[u]}"
                )
            if rank[u] < precision:
                out[u], rank[u], origin[u] = pool, precision, e.where
    return out


__all__ = ["CSV_COLUMNS", "CurrentEntry", "current_pools", "read_current"]
