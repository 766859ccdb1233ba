"""Validating scenarios, with errors that name the field.

Every failure becomes one `ScenarioError` naming the file, the field path and the fix;
nothing here lets a traceback reach the user. Reading the document itself is
`placer.model.yaml_text`.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from placer.errors import ScenarioError
from placer.model import catalog, common, scenario, site, workload
from placer.model.scenario import Scenario
from placer.model.series_file import resolve_series
from placer.model.workload import Inference, Training
from placer.model.yaml_text import read_document


def validate_model(model: type[BaseModel], data: Any, *, source: str) -> Any:
    """Validates data against a model; errors name every bad field.

    Raises:
      ScenarioError: one line per invalid field, with a did-you-mean for unknown keys.
    """
    if not isinstance(data, dict):
        if data is None:
            kind = "empty (only comments or null)"
        elif isinstance(data, list):
            kind = "a list, not a mapping"
        else:
            kind = "a plain value, not a mapping"
        raise ScenarioError(
            f"{source}: the document is {kind}. To fix: the top level must "
            f"be a mapping with apiVersion: placer/v1 and kind: {model.__name__}."
        )
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(format_validation_error(e, source)) from None
    except RecursionError:
        raise ScenarioError(f"{source}: the document is nested too deeply.") from None


MAX_ERRORS_SHOWN = 10
_PATH_PREFIX = re.compile(r"^([A-Za-z_][\w]*(?:\.[\w-]+)*): (.*)$", re.S)
_TAGS = ("training", "inference")


def format_validation_error(e: ValidationError, source: str) -> str:
    """One line per error: `field.path: message` in the scenario's words, no pydantic jargon."""
    errors = _one_branch(e.errors(include_url=False))
    lines = [f"{source}: {len(errors)} invalid field(s)"]
    for err in errors[:MAX_ERRORS_SHOWN]:
        path, msg = _explain(err)
        lines.append(f"  {path or '<document>'}: {msg}")
    if len(errors) > MAX_ERRORS_SHOWN:
        lines.append(f"  ... and {len(errors) - MAX_ERRORS_SHOWN} more; fix these first")
    return "\n".join(lines)


_MEMBER_TAG = re.compile(r"^(constrained-(float|int)|float|int|list\[.*\])$")


def _one_branch(errors: list[Any]) -> list[Any]:
    """Errors of a figure that is a number or a list of numbers (one per period) speak of
    the branch the input took: a list's errors for a list, a number's for a number; the
    branch's tag is dropped from the path."""
    out = []
    for err in errors:
        loc = tuple(err["loc"])
        at = next(
            (i for i, p in enumerate(loc) if isinstance(p, str) and _MEMBER_TAG.match(p)), None
        )
        if at is None:
            out.append(err)
            continue
        is_list_branch = loc[at].startswith("list[")
        value = err.get("input")
        if not is_list_branch and isinstance(value, list):
            continue
        if is_list_branch and err["type"] == "list_type":
            continue
        out.append({**err, "loc": loc[:at] + loc[at + 1 :]})
    return out or errors


def _explain(err: dict[str, Any]) -> tuple[str, str]:
    """(field path, message) for one pydantic error."""
    loc = tuple(err["loc"])
    path = _clean_loc(loc)
    kind, value = err["type"], err.get("input")
    msg = err["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        return path, "unknown key" + _did_you_mean(key, _model_at(loc[:-1]))
    if kind == "missing":
        return path, "required field is missing"
    if kind == "union_tag_not_found":
        return _join(path, "kind"), "required field is missing; must be 'training' or 'inference'"
    if kind == "union_tag_invalid":
        tag = err.get("ctx", {}).get("tag", value)
        return _join(path, "kind"), f"must be 'training' or 'inference', not {tag!r}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return path, f"must be a mapping (key: value), not {describe_value(value)}"
    if kind in ("list_type", "tuple_type"):
        return path, f"must be a list, not {describe_value(value)}"
    if kind == "string_pattern_mismatch":
        pattern = err.get("ctx", {}).get("pattern", "")
        if "A-Z]{2}" in pattern:
            return path, f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. DE, NO, US)"
        return path, (
            f"{value!r} is not a valid id: use letters, digits, '.', '_', ':' or '-', "
            "starting with a letter or digit"
        )
    if kind.endswith("_type") or kind.endswith("_parsing"):
        if value is None:
            return path, "is empty (null); give it a value"
        if isinstance(value, str) and kind in (
            "int_type",
            "float_type",
            "int_parsing",
            "float_parsing",
            "bool_type",
        ):
            if _reads_as_scalar(value):
                return path, f"{msg} (got the quoted string {value!r}; write it without quotes)"
            return path, f"{msg} (got the text {value!r})"
        if kind == "string_type" and not isinstance(value, (int, float, bool, dict, list)):
            return path, f"{msg} (got {describe_value(value)}; quote it)"
        if kind == "string_type" and isinstance(value, (int, float)) and loc and loc[-1] == "[key]":
            return path, f"keys must be strings (got {value!r}); quote it"
    if not loc:
        found = _PATH_PREFIX.match(msg)
        if found:
            return found.group(1), found.group(2)
    found = _PATH_PREFIX.match(msg)
    if found and _looks_like_path(found.group(1)):
        return _join(path, found.group(1)), found.group(2)
    return path, msg


def _reads_as_scalar(text: str) -> bool:
    """Whether quoted text would be a number or a boolean without its quotes ("8",
    "0.5", "true"): only then is "write it without quotes" the fix ("inf" and "nan"
    would not be: no field takes them)."""
    word = text.strip()
    if word.lower() in ("true", "false"):
        return True
    try:
        return math.isfinite(float(word))
    except ValueError:
        return False


def _looks_like_path(text: str) -> bool:
    """A validator message starts with a path when its first word is a field name."""
    head = text.split(".", 1)[0]
    return any(head in names for names in _fields_by_model().values())


def _join(a: str, b: str) -> str:
    return f"{a}.{b}" if a else b


def describe_value(value: Any) -> str:
    """What a parsed YAML/JSON value is, for error messages ("the number 5", "a list")."""
    if value is None:
        return "null (not set)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _clean_loc(loc: tuple[Any, ...]) -> str:
    """Dots the path; drops discriminator tags ('workloads.0.training.gpus' -> '...0.gpus')."""
    parts = []
    for i, p in enumerate(loc):
        if i > 0 and p in _TAGS and isinstance(loc[i - 1], int):
            continue
        if p == "[key]":
            continue
        parts.append(str(p) if not isinstance(p, (tuple, list)) else "<complex key>")
    return ".".join(parts)


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class whose fields live at `loc` (None if it cannot be told)."""
    current: Any = Scenario
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            if part in current.model_fields:
                current = current.model_fields[part].annotation
                continue
            return None
        current = _unwrap(current, part, {"training": Training, "inference": Inference})
        if current is None:
            return None
    current = _unwrap(current, None, {})
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def unwrap_optional(tp: Any) -> tuple[Any, list[Any] | None]:
    """(type, members): `tp` with Annotated[...] and `X | None` stripped, and the non-None
    members when what is left is a union of several (None otherwise)."""
    while True:
        origin, args = get_origin(tp), get_args(tp)
        if origin is Annotated:
            tp = args[0]
            continue
        if origin in (Union, types.UnionType):
            members = [a for a in args if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
            return tp, members
        return tp, None


def _unwrap(tp: Any, part: Any, tags: dict[str, type]) -> Any:
    """Steps into list[X] / dict[K, X] / X | None / Annotated[...] at one loc part."""
    if isinstance(part, str) and part in tags:
        return tags[part]
    tp, members = unwrap_optional(tp)
    if members is not None:
        return tp if part is None else None
    origin, args = get_origin(tp), get_args(tp)
    if origin in (list, tuple) and isinstance(part, int):
        return args[0]
    if origin is dict and part is not None:
        return args[1]
    return tp


def _did_you_mean(key: str, model: type[BaseModel] | None) -> str:
    if model is not None:
        fields = sorted(model.model_fields)
        close = difflib.get_close_matches(key, fields, n=1, cutoff=0.6)
        if close:
            return f"; did you mean {close[0]!r}?"
        owners = [m for m, names in _fields_by_model().items() if key in names]
        if owners:
            return f" here ({key!r} belongs to {owners[0]}); allowed: {', '.join(fields)}"
        return f"; allowed: {', '.join(fields)}"
    close = difflib.get_close_matches(
        key, sorted(set().union(*_fields_by_model().values())), n=1, cutoff=0.6
    )
    return f"; did you mean {close[0]!r}?" if close else ""


@functools.cache
def _fields_by_model() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for module in (scenario, site, workload, catalog, common):
        for name, obj in vars(module).items():
            if (
                isinstance(obj, type)
                and issubclass(obj, BaseModel)
                and obj.model_fields
                and not name.startswith("_")
            ):
                out[name.lower() if name != "Training" else "training workloads"] = set(
                    obj.model_fields
                )
    if "inference" in out:
        out["inference workloads"] = out.pop("inference")
    return out


def load_scenario(path: Path | str) -> Scenario:
    """Loads and validates a scenario file ('-' reads stdin).

    Raises:
      ScenarioError: unreadable, malformed or invalid; the message names the field.
    """
    data, source = read_scenario_document(path)
    return validate_model(Scenario, data, source=source)


def read_scenario_document(path: Path | str) -> tuple[Any, str]:
    """The scenario file's document, not yet validated, with its figures given as CSV
    series files (`{file: ...}`, named relative to the scenario) read into per-period
    lists, as `load_scenario` reads them: for commands that change the document before
    validating it (what-if variants, re-plan events).

    Returns:
      (the document, its name for messages: the path, or <stdin> for '-').

    Raises:
      ScenarioError: unreadable file, or a series file that cannot be read.
    """
    data, source = read_document(path)
    base = Path.cwd() if str(path) == "-" else Path(path).parent
    try:
        return resolve_series(data, base), source
    except ScenarioError as e:
        raise ScenarioError(f"{source}: {e}") from None
