"""Reading an importer's input: JSON/YAML documents and CSV files, errors that name the
file and the item, Kubernetes quantities and labels."""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Any

from placer.errors import ScenarioError
from placer.model.yaml_text import max_file_bytes, read_document


class ItemError(ScenarioError):
    """One item of an input is unusable; names the file and the item."""


def item_error(source: str, where: str, message: str) -> ItemError:
    """`nodes.json: items[3] (node gpu-7): message`."""
    return ItemError(f"{source}: {where}: {message}")


def read_list(path: Path | str, kinds: tuple[str, ...], what: str) -> tuple[list[Any], str]:
    """Reads a Kubernetes list (`kubectl get ... -o json` or -o yaml) of the given kinds.

    Args:
      path: the file ('-' for stdin).
      kinds: accepted `kind`s of the list, e.g. ("NodeList", "List").
      what: what the file should hold, for messages ("kubectl get nodes -o json").

    Returns:
      (items, source name); each item is checked to be a mapping.

    Raises:
      ScenarioError: unreadable, not JSON/YAML, or not such a list.
    """
    data, source = read_document(path)
    if not isinstance(data, dict) or data.get("kind") not in kinds:
        found = data.get("kind") if isinstance(data, dict) else type(data).__name__
        raise ScenarioError(
            f"{source}: not the output of `{what}` (kind {found!r}; expected {' or '.join(kinds)})"
        )
    items = data.get("items")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise ScenarioError(f"{source}: items: must be a list")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise item_error(source, f"items[{i}]", "must be a mapping (an object)")
    return items, source


def meta_name(item: dict[str, Any]) -> str:
    """metadata.name of a Kubernetes object, or '?'."""
    meta = item.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return str(name) if name else "?"


def mapping(item: dict[str, Any], *keys: str) -> dict[str, Any]:
    """item[k1][k2]... when every step is a mapping, else {} (absent parts are empty)."""
    out: Any = item
    for key in keys:
        out = out.get(key) if isinstance(out, dict) else None
    return out if isinstance(out, dict) else {}


def labels_of(item: dict[str, Any]) -> dict[str, str]:
    """metadata.labels as strings (non-string values are kept as their text)."""
    return {str(k): str(v) for k, v in mapping(item, "metadata", "labels").items()}


_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_FACTOR = {
    None: 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip


def quantity(value: Any) -> float | None:
    """A Kubernetes quantity ('8', 8, '500m', '80Gi') as a finite number; None if it is
    not one (an overflow such as '1e400' included: no count or size is infinite)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        out = float(value)
    else:
        m = _QUANTITY.match(str(value).strip())
        if m is None:
            return None
        try:
            out = float(m[1]) * _FACTOR[m[2]]
        except ValueError:
            return None
    return out if math.isfinite(out) else None


#: Bytes in the language's GB of memory as the importers write it: Kubernetes quantities
#: are mostly binary (`Ki`, `Gi`), so GB here is GiB (2^30 bytes); nodes and pods are
#: converted alike, so a pod that fits a node's allocatable memory still fits.
BYTES_PER_GB = 2**30


def resource_amount(source: str, where: str, field: str, raw: Any) -> float:
    """A quantity a field must hold (vCPU '191500m', memory '2063731512Ki', a count '8').

    Raises:
      ScenarioError: not a Kubernetes quantity, or negative (names the item and field).
    """
    value = quantity(raw)
    if value is None or value < 0:
        raise item_error(source, where, f"{field}: {raw!r} is not a Kubernetes quantity")
    return value


def cpu_of(value: float) -> float | None:
    """vCPU rounded to millicores as the scenario writes them; None when below 1m."""
    out = round(value, 3)
    return out if out > 0 else None


def memory_gb_of(value_bytes: float) -> float | None:
    """Bytes -> the scenario's GB (GiB), to 0.01; None when below that."""
    out = round(value_bytes / BYTES_PER_GB, 2)
    return out if out > 0 else None


def read_csv(path: Path | str) -> tuple[list[dict[str, str]], list[str], str]:
    """Reads a CSV file with a header row.

    Returns:
      (rows as {column: stripped text}, the header's columns, source name).

    Raises:
      ScenarioError: unreadable, too large, not UTF-8, no header, or a row longer than it.
    """
    source = str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(max_file_bytes() + 1)
    except OSError as e:
        raise ScenarioError(f"{source}: cannot read: {e.strerror or e}") from None
    if len(raw) > max_file_bytes():
        raise ScenarioError(f"{source}: larger than the input limit (PLACER_MAX_INPUT_MB)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{source}: not UTF-8 text (byte {e.start})") from None
    try:
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip() for h in reader.fieldnames or []]
        rows = []
        for i, row in enumerate(reader):
            if None in row:
                raise item_error(source, f"row {i + 2}", "more cells than the header has columns")
            rows.append({k.strip(): (v or "").strip() for k, v in row.items()})
    except csv.Error as e:
        raise ScenarioError(f"{source}: not a CSV file: {e}") from None
    if not header:
        raise ScenarioError(f"{source}: empty; expected a header row, then one row per entry")
    return rows, header, source


def number(source: str, where: str, column: str, text: str) -> float | None:
    """A CSV cell as a finite number; None when empty.

    Raises:
      ScenarioError: the cell is not a number.
    """
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):
        raise item_error(source, where, f"{column}: {text!r} is not a number")
    return value
