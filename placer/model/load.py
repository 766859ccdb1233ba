"""Reading scenarios from YAML (1.2, safe) or JSON, with errors that name the field.

Every failure becomes one `ScenarioError` naming the file, the field path and the fix;
nothing here lets a traceback reach the user.
"""

from __future__ import annotations

import difflib
import functools
import io
import json
import re
import sys
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from placer.errors import ScenarioError

#: Largest scenario file read, bytes. A 10k-workload fleet is ~3 MB of YAML.
MAX_FILE_BYTES = 16 * 1024 * 1024
#: Most nodes a document may expand to once aliases are followed (stops alias bombs).
MAX_EXPANDED_NODES = 2_000_000


def parse_yaml_text(text: str, *, source: str) -> Any:
    """Parses YAML 1.2 (safe types only: `NO` stays a string) or JSON text.

    Raises:
      ScenarioError: syntax error (with line and column), or an alias bomb.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    stripped = text.lstrip()
    if not stripped:
        raise ScenarioError(f"{source}: the file is empty. To fix: write a Scenario mapping.")
    if source.endswith(".json") or stripped[0] == "{":
        try:
            return json.loads(text, object_pairs_hook=_no_duplicate_keys)
        except json.JSONDecodeError as e:
            if source.endswith(".json"):
                raise ScenarioError(
                    f"{source}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}"
                ) from None
            # not JSON: YAML flow style, parsed (and reported) below
        except RecursionError:
            raise ScenarioError(f"{source}: the document is nested too deeply.") from None
        except ValueError as e:  # duplicate key
            raise ScenarioError(f"{source}: {e}") from None
    yaml = YAML(typ="safe", pure=True)  # pure: the C loader resolves YAML 1.1 booleans
    try:
        data = yaml.load(io.StringIO(text))
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        what = e.problem or e.context or "syntax error"
        if "another document" in what:
            what = "the file holds more than one YAML document ('---'); keep one"
        raise ScenarioError(f"{source}{where}: not valid YAML: {what}") from None
    except RecursionError:
        raise ScenarioError(f"{source}: the document is nested too deeply.") from None
    except (YAMLError, ValueError) as e:
        raise ScenarioError(f"{source}: not valid YAML: {_first_line(e)}") from None
    try:
        size = _expanded_size(data, {})
    except ScenarioError as e:
        raise ScenarioError(f"{source}: <document>: {e}") from None
    if size > MAX_EXPANDED_NODES:
        raise ScenarioError(
            f"{source}: the document expands to more than {MAX_EXPANDED_NODES:,} nodes "
            "through YAML aliases (an alias bomb?). To fix: write the data out plainly."
        )
    return data


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}; each key may appear once in a mapping")
        out[key] = value
    return out


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _expanded_size(node: Any, memo: dict[int, int]) -> int:
    """Nodes after alias expansion; shared sub-objects are counted once per use."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = MAX_EXPANDED_NODES + 1  # a cycle counts as too big
    if isinstance(node, dict):
        for k in node:
            if isinstance(k, (tuple, list, dict)):
                what = "mapping" if isinstance(k, dict) else "list"
                raise ScenarioError(f"a mapping key is a {what}; keys must be plain strings")
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.items())
    elif isinstance(node, list):
        size = 1 + sum(_expanded_size(v, memo) for v in node)
    else:
        size = 1
    memo[key] = min(size, MAX_EXPANDED_NODES + 1)
    return memo[key]


def read_document(path: Path | str) -> tuple[Any, str]:
    """Reads a YAML/JSON file (or stdin for '-') into Python data.

    Returns:
      (data, source name for messages).
    """
    source = "<stdin>" if str(path) == "-" else str(path)
    try:
        if source == "<stdin>":
            raw = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        else:
            with open(path, "rb") as f:
                raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ScenarioError(f"{source}: cannot read: {e.strerror or e}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(
            f"{source}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; placer reads "
            "scenario files up to that size. To fix: split the fleet or remove unused entries."
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{source}: not UTF-8 text (byte {e.start}).") from None
    return parse_yaml_text(text, source=source), source


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
    errors = e.errors(include_url=False)
    lines = [f"{source}: {len(errors)} invalid field(s)"]
    for err in errors[:MAX_ERRORS_SHOWN]:
        path, msg = _explain(err)
        lines.append(f"  {path or '<document>'}: {msg}")
    if len(errors) > MAX_ERRORS_SHOWN:
        lines.append(f"  ... and {len(errors) - MAX_ERRORS_SHOWN} more; fix these first")
    return "\n".join(lines)


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
            return path, f"{msg} (got the quoted string {value!r}; write it without quotes)"
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
    from placer.model.scenario import Scenario
    from placer.model.workload import Inference, Training

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


def _unwrap(tp: Any, part: Any, tags: dict[str, type]) -> Any:
    """Steps into list[X] / dict[K, X] / X | None / Annotated[...] at one loc part."""
    if isinstance(part, str) and part in tags:
        return tags[part]
    while True:
        origin, args = get_origin(tp), get_args(tp)
        if origin is Annotated:
            tp = args[0]
        elif origin in (Union, types.UnionType):
            models = [a for a in args if a is not type(None)]
            if len(models) != 1:
                return tp if part is None else None
            tp = models[0]
        elif origin in (list, tuple) and isinstance(part, int):
            return args[0]
        elif origin is dict and part is not None:
            return args[1]
        else:
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
    from placer.model import catalog, common, scenario, site, workload

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


def load_scenario(path: Path | str):  # -> Scenario (import cycle kept out of the signature)
    """Loads and validates a scenario file ('-' reads stdin).

    Raises:
      ScenarioError: unreadable, malformed or invalid; the message names the field.
    """
    from placer.model.scenario import Scenario

    data, source = read_document(path)
    return validate_model(Scenario, data, source=source)
