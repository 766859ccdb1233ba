"""Resolving a what-if path against the scenario document.

A path (`sites.<site id>.pools.<pool id>.gpus`, ...) is walked one step at a time; the
kind of node reached decides the step: a field of a scenario model, a key of a map, an
item of a list (by id, else by position), or a plain value (where the path cannot go
on). Each step names the valid fields, keys or ids in its error.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from placer.analysis.whatif_parse import Change
from placer.errors import OptionError
from placer.model.load import describe_value, unwrap_optional
from placer.model.scenario import Scenario
from placer.model.site import Pool

#: Most ids or keys listed in an error message.
_MAX_LISTED = 12
#: A target's default when the field is absent and required (or has none).
MISSING: Any = object()


@dataclass
class Target:
    """Where a path ends: `parent[key]`, the type declared there, and its default."""

    parent: dict[str, Any] | list[Any]
    key: str | int
    exists: bool
    declared: Any  # the type the scenario language declares there (None: unknown)
    default: Any  # the field's default when it is absent (MISSING: required / none)
    path: str  # resolved to ids


def strip_type(tp: Any, value: Any = None) -> Any:
    """Unwraps Annotated and Optional; picks a union member by the value's `kind`."""
    tp, members = unwrap_optional(tp)
    if members is None:
        return tp
    kind = value.get("kind") if isinstance(value, dict) else None
    for m in members:
        field = _model_fields(m).get("kind")
        if field is not None and kind in get_args(field.annotation):
            return m
    return None


def _model_fields(tp: Any) -> dict[str, Any]:
    return tp.model_fields if isinstance(tp, type) and issubclass(tp, BaseModel) else {}


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def item_id(item: Any, item_type: Any) -> str | None:
    """The id a list item is addressed by (a pool's defaults to its accelerator)."""
    if not isinstance(item, dict):
        return None
    key = item.get("id")
    if key is None and strip_type(item_type, item) is Pool:
        key = item.get("accelerator")
    return key if isinstance(key, str) else None


def _longest_match(segments: Sequence[str], start: int, names: Sequence[str]) -> int:
    """How many segments from `start`, joined with '.', name one of `names` (0: none)."""
    known = set(names)
    for n in range(len(segments) - start, 0, -1):
        if ".".join(segments[start : start + n]) in known:
            return n
    return 0


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f", ... ({len(names)} in all)" if len(names) > _MAX_LISTED else "")


def _suggest(name: str, names: Sequence[str]) -> str:
    """'; did you mean ...?' when a name is close, else '.' (ends the sentence)."""
    close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else "."


@dataclass
class _Walk:
    """How far a path walk has come.

    Attributes:
      change: the change whose path is walked (for messages).
      node: the part of the document reached.
      declared: the type the scenario language declares for `node` (None: unknown).
      done: the segments walked, resolved to ids.
      i: the index in `change.path` of the next segment.
    """

    change: Change
    node: Any
    declared: Any
    done: list[str]
    i: int = 0

    @property
    def segs(self) -> tuple[str, ...]:
        return self.change.path

    @property
    def name(self) -> str:
        """The next segment."""
        return self.change.path[self.i]

    @property
    def here(self) -> str:
        """Where the walk is, for messages."""
        return ".".join(self.done) or "the scenario"

    def descend(self, node: Any, declared: Any, key: str, n: int) -> None:
        """Steps into `node` (declared as `declared`), named `key`, over n segments."""
        self.node, self.declared = node, declared
        self.done.append(key)
        self.i += n


#: One step of a walk: a Target when the path ends there, else None (the walk went on).
_Step = Callable[[_Walk, Any], "Target | None"]


def resolve_path(doc: dict[str, Any], change: Change) -> Target:
    """Walks `change.path` through the document, creating absent sub-mappings the
    scenario language allows (so `sites.x.cooling.wue_l_per_kwh` works without a
    `cooling:` in the file).

    Raises:
      OptionError: a key, id or position that does not exist, naming the valid ones.
    """
    walk = _Walk(change, doc, Scenario, [])
    while True:
        base = strip_type(walk.declared, walk.node)
        target = _step_for(walk.node, base)(walk, base)
        if target is not None:
            return target


def _step_for(node: Any, base: Any) -> _Step:
    """The step that goes on from `node`, declared as `base`."""
    if isinstance(node, dict) and _is_model(base):
        return _field_step
    if isinstance(node, dict):  # a map: demand_rps, serving, ... (or untyped)
        return _key_step
    if isinstance(node, list):
        return _item_step
    return _value_step


def _field_step(walk: _Walk, base: Any) -> Target | None:
    """A field of a scenario model (a site, its power, ...)."""
    fields = base.model_fields
    name = walk.name
    if name not in fields:
        raise OptionError(
            f"{walk.change.where}: {walk.here} has no field {name!r}"
            f"{_suggest(name, list(fields))} Fields there: {_listing(list(fields))}."
        )
    field = fields[name]
    if walk.i == len(walk.segs) - 1:
        return _field_target(walk, name, field)
    child = walk.node.get(name)
    if child is None:
        child = _new_mapping(walk, name, field)
    walk.descend(child, field.annotation, name, 1)
    return None


def _field_target(walk: _Walk, name: str, field: FieldInfo) -> Target:
    """The field `name` as the end of the path, with its default when it is absent."""
    exists = name in walk.node
    default = MISSING
    if not exists and not field.is_required():
        found = field.get_default(call_default_factory=True)
        default = MISSING if found is PydanticUndefined else found
    return Target(walk.node, name, exists, field.annotation, default, _join(walk.done, name))


def _new_mapping(walk: _Walk, name: str, field: FieldInfo) -> dict[str, Any]:
    """An empty mapping for the absent model field `name`, put into the document.

    Raises:
      OptionError: the field is not a model (a list, a number, ...): nothing below it.
    """
    if not _is_model(strip_type(field.annotation)):
        path = _join(walk.done, name)
        raise OptionError(
            f"{walk.change.where}: {path} is not set in the scenario, so nothing "
            f"below it can be changed; set it whole, e.g. {path}=..."
        )
    child: dict[str, Any] = {}
    walk.node[name] = child
    return child


def _key_step(walk: _Walk, base: Any) -> Target | None:
    """A key of a map; a new key may end the path where the map's values are typed."""
    segs, i, node = walk.segs, walk.i, walk.node
    keys = [str(k) for k in node]
    n = _longest_match(segs, i, keys)
    value_type = _map_value_type(base)
    if n == 0:
        if i == len(segs) - 1 and (value_type is not None or base is dict):
            return Target(node, segs[i], False, value_type, MISSING, _join(walk.done, segs[i]))
        raise OptionError(
            f"{walk.change.where}: {walk.here} has no key {segs[i]!r}{_suggest(segs[i], keys)} "
            f"Keys there: {_listing(keys) or '(none)'}."
        )
    key = ".".join(segs[i : i + n])
    if i + n == len(segs):
        return Target(node, key, True, value_type, MISSING, _join(walk.done, key))
    walk.descend(node[key], value_type, key, n)
    return None


def _item_step(walk: _Walk, base: Any) -> Target | None:
    """An item of a list, by its id (the longest that matches), else by its position."""
    segs, i, node = walk.segs, walk.i, walk.node
    item_type = get_args(base)[0] if get_origin(base) is list else None
    ids = [item_id(item, item_type) for item in node]
    named = [k for k in ids if k is not None]
    n = _longest_match(segs, i, named)
    if n:
        key = ".".join(segs[i : i + n])
        pos = ids.index(key)
    elif segs[i].isdigit() and int(segs[i]) < len(node):
        n, pos = 1, int(segs[i])
        key = ids[pos] or str(pos)
    else:
        raise _no_item(walk, named)
    if i + n == len(segs):
        return Target(node, pos, True, item_type, MISSING, _join(walk.done, key))
    walk.descend(node[pos], item_type, key, n)
    return None


def _no_item(walk: _Walk, named: list[str]) -> OptionError:
    """The error for a list segment that is neither an item's id nor a position."""
    name, node = walk.name, walk.node
    what = "position" if not named else "id"
    if named and name.isdigit():
        what = "id or position"
    hint = _suggest(name, named)
    known = f"ids {_listing(named)}; or a position" if named else "a position"
    span = f"0-{len(node) - 1}" if node else "(the list is empty)"
    return OptionError(
        f"{walk.change.where}: {walk.here} has no {what} {name!r}{hint} "
        f"Valid there: {known} {span}."
    )


def _value_step(walk: _Walk, base: Any) -> Target | None:
    """A plain value: the path cannot go on.

    Raises:
      OptionError: always.
    """
    here = walk.here
    raise OptionError(
        f"{walk.change.where}: {here} is {describe_value(walk.node)}; it has no part "
        f"{walk.name!r} (the path ends at {here})"
    )


def _map_value_type(tp: Any) -> Any:
    if get_origin(tp) is dict:
        return get_args(tp)[1]
    return None


def _join(done: Sequence[str], name: str) -> str:
    return ".".join([*done, name])


__all__ = ["MISSING", "Target", "item_id", "resolve_path", "strip_type"]
