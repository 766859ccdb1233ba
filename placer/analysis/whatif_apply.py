"""Applying what-if changes to a copy of the scenario document, and validating the
result as a scenario file (`build_variant`)."""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any

from placer.analysis.whatif_parse import Change, Variant
from placer.analysis.whatif_paths import MISSING, item_id, resolve_path, strip_type
from placer.analysis.whatif_report import AppliedChange
from placer.errors import OptionError, ScenarioError
from placer.model.load import describe_value, unwrap_optional, validate_model
from placer.model.scenario import Scenario
from placer.model.site import Pool, Site


def apply_variant(
    doc: dict[str, Any], variant: Variant
) -> tuple[dict[str, Any], list[AppliedChange]]:
    """Applies a variant's changes, in order, to a deep copy of the scenario document.

    Returns:
      (the changed document, what each change did). The input is left untouched.

    Raises:
      OptionError: a path that does not resolve, or a number change of a non-number.
    """
    out = copy.deepcopy(doc)
    applied = [_apply(out, change) for change in variant.changes]
    return out, applied


def _apply(doc: dict[str, Any], change: Change) -> AppliedChange:
    target = resolve_path(doc, change)
    current = target.parent[target.key] if target.exists else None  # type: ignore[index]
    if change.op == "down":
        kind = strip_type(target.declared, current)
        if kind in (Site, Pool) and isinstance(current, dict):
            pools = current.get("pools", []) if kind is Site else [current]
            before = sum(_pool_gpus(p) for p in pools if isinstance(p, dict))
            for p in pools:
                if isinstance(p, dict):
                    p["gpus"] = 0
                    p.pop("nodes", None)  # node shapes would hold GPUs again
            return AppliedChange(
                text=change.text, path=target.path, op="down", before=before, after=0
            )
        change = dataclasses.replace(change, op="set", operand="down")
    if change.op == "set":
        target.parent[target.key] = copy.deepcopy(change.operand)  # type: ignore[index]
        return AppliedChange(
            text=change.text, path=target.path, op="set", before=current, after=change.operand
        )
    if target.key == "gpus" and isinstance(target.parent, dict) and "nodes" in target.parent:
        raise OptionError(
            f"{change.where}: {target.path}: this pool lists node shapes, so its GPUs are "
            "their sum; change a shape's count instead, e.g. "
            f"{target.path.rsplit('.', 1)[0]}.nodes.0.count=+1 (docs/nodes.md)"
        )
    number = current if target.exists else target.default
    where = change.where
    if number is MISSING:
        raise OptionError(
            f"{where}: {target.path} is not set in the scenario and has no default, so "
            f"there is nothing to change by {change.op}; give a value: {target.path}=V"
        )
    int_field = _int_field(target.declared)
    if isinstance(number, list) and number and all(_is_number(v) for v in number):
        # a figure given per period: the change applies to every period
        result = [
            _tidy(_changed(v, change), int_field=int_field, was_int=type(v) is int) for v in number
        ]
        target.parent[target.key] = result  # type: ignore[index]
        return AppliedChange(
            text=change.text, path=target.path, op=change.op, before=number, after=result
        )
    if not _is_number(number):
        raise OptionError(
            f"{where}: {target.path} is {describe_value(number)}; +N, -N, *F and +P% change "
            f"numbers only; give the new value instead: {target.path}=V"
        )
    result = _tidy(_changed(number, change), int_field=int_field, was_int=type(number) is int)
    target.parent[target.key] = result  # type: ignore[index]
    return AppliedChange(
        text=change.text, path=target.path, op=change.op, before=number, after=result
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _changed(number: float, change) -> float:
    return number + change.operand if change.op == "add" else number * change.operand


def _int_field(declared: Any) -> bool:
    """The field holds whole numbers (GPUs), alone or per period (`int | list[int]`)."""
    tp, members = unwrap_optional(declared)
    return any(unwrap_optional(m)[0] is int for m in (members or [tp]))


def _tidy(value: float, *, int_field: bool, was_int: bool) -> int | float:
    """Rounds an integer field to the nearest integer; trims float noise (12 digits)."""
    if int_field:
        return round(value)
    if isinstance(value, int):
        return value
    value = float(f"{value:.12g}")
    return int(value) if was_int and value.is_integer() else value


def build_variant(
    doc: dict[str, Any], variant: Variant, *, source: str, index: int
) -> tuple[Scenario, list[AppliedChange]]:
    """Applies a variant and validates the result exactly as a scenario file would be.

    Args:
      doc: the scenario document (plain data, as `read_document` returns it).
      variant: the changes.
      source: the scenario file name, for messages.
      index: the variant's 1-based position, for messages.

    Raises:
      OptionError: a bad path or value (exit 2).
      ScenarioError: the changed document is not a valid scenario (exit 2); the message
        names the variant and every bad field.
    """
    changed, applied = apply_variant(doc, variant)
    return validate_changed(changed, f"{source} with variant {index} ({variant.label})"), applied


def validate_changed(changed: dict[str, Any], label: str) -> Scenario:
    """A changed scenario document validated as a scenario file would be; `label` names
    it in messages.

    Raises:
      ScenarioError: not a valid scenario; the message names every bad field by id.
    """
    try:
        return validate_model(Scenario, changed, source=label)
    except ScenarioError as e:
        raise ScenarioError(positions_to_ids(str(e), changed)) from None


_POSITION = re.compile(
    r"\b(sites|workloads|user_regions|accelerators)\.(\d+)(?:\.pools\.(\d+))?(?=[.:\s]|$)"
)


def positions_to_ids(message: str, doc: dict[str, Any]) -> str:
    """'sites.0.pools.1.gpus' -> 'sites.fra-hall.pools.GB200.gpus' in a validation message,
    so it names what the --set named."""

    def by_id(found: re.Match[str]) -> str:
        items = doc.get(found.group(1))
        pos = int(found.group(2))
        if not isinstance(items, list) or pos >= len(items):
            return found.group(0)
        item_type = Site if found.group(1) == "sites" else None
        name = item_id(items[pos], item_type) or str(pos)
        out = f"{found.group(1)}.{name}"
        if found.group(3) is not None:
            pools = items[pos].get("pools") if isinstance(items[pos], dict) else None
            q = int(found.group(3))
            if not isinstance(pools, list) or q >= len(pools):
                return out + f".pools.{q}"
            out += f".pools.{item_id(pools[q], Pool) or q}"
        return out

    return _POSITION.sub(by_id, message)


__all__ = ["apply_variant", "build_variant", "positions_to_ids", "validate_changed"]


def _pool_gpus(pool: dict[str, Any]) -> float:
    """GPUs of a pool in the document: `gpus`, or its node shapes' sum."""
    if "gpus" in pool:
        gpus = pool["gpus"]
        return max(gpus) if isinstance(gpus, list) else gpus
    return sum(n.get("count", 0) * n.get("gpus", 0) for n in pool.get("nodes", []))
