"""Reading scenarios from YAML (1.2, safe) or JSON, with errors that name the field.

Every failure becomes one `ScenarioError` naming the file, the field path and the fix;
nothing here lets a traceback reach the user.
"""

from __future__ import annotations

import difflib
import io
import json
import sys
from pathlib import Path
from typing import Any

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
    if stripped[0] in "{[":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            if stripped[0] == "[" or source.endswith(".json"):
                raise ScenarioError(
                    f"{source}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}"
                ) from None
            data = None  # YAML flow style: let the YAML parser try and report
        else:
            return data
    yaml = YAML(typ="safe", pure=True)  # pure: the C loader resolves YAML 1.1 booleans
    try:
        data = yaml.load(io.StringIO(text))
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        what = e.problem or e.context or "syntax error"
        raise ScenarioError(f"{source}{where}: not valid YAML: {what}") from None
    except (YAMLError, ValueError, RecursionError) as e:
        raise ScenarioError(f"{source}: not valid YAML: {e}") from None
    if _expanded_size(data, {}) > MAX_EXPANDED_NODES:
        raise ScenarioError(
            f"{source}: the document expands to more than {MAX_EXPANDED_NODES:,} nodes "
            "through YAML aliases (an alias bomb?). To fix: write the data out plainly."
        )
    return data


def _expanded_size(node: Any, memo: dict[int, int]) -> int:
    """Nodes after alias expansion; shared sub-objects are counted once per use."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = MAX_EXPANDED_NODES + 1  # a cycle counts as too big
    if isinstance(node, dict):
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
        kind = "a list" if isinstance(data, list) else type(data).__name__
        raise ScenarioError(
            f"{source}: the document is {kind}, not a mapping. To fix: the top level must "
            f"be a mapping with apiVersion: placer/v1 and kind: {model.__name__}."
        )
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(format_validation_error(e, source)) from None
    except RecursionError:
        raise ScenarioError(f"{source}: the document is nested too deeply.") from None


def format_validation_error(e: ValidationError, source: str) -> str:
    """One line per error: `field.path: message`, with a did-you-mean for unknown keys."""
    errors = e.errors(include_url=False)
    lines = [f"{source}: {len(errors)} invalid field(s)"]
    for err in errors[:50]:
        loc = _clean_loc(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key" + _did_you_mean(str(err["loc"][-1]))
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            msg += " (kind must be 'training' or 'inference')"
        if not loc and ":" in msg and msg.split(":", 1)[0].replace(".", "").isalnum():
            lines.append(f"  {msg}")  # a cross-reference error carries its own path
        else:
            lines.append(f"  {loc or '<document>'}: {msg}")
    if len(errors) > 50:
        lines.append(f"  ... and {len(errors) - 50} more")
    return "\n".join(lines)


def _clean_loc(loc: tuple[Any, ...]) -> str:
    """Drops the discriminator tags pydantic adds ('workloads.0.training.gpus')."""
    parts = [str(p) for i, p in enumerate(loc) if not (i > 0 and p in ("training", "inference")
                                                        and isinstance(loc[i - 1], int))]
    return ".".join(parts)


def _did_you_mean(key: str) -> str:
    close = difflib.get_close_matches(key, sorted(_all_field_names()), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _all_field_names() -> set[str]:
    from placer.model import scenario, site, workload

    names: set[str] = set()
    for module in (scenario, site, workload):
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, BaseModel):
                names.update(obj.model_fields)
    return names


def load_scenario(path: Path | str):  # -> Scenario (import cycle kept out of the signature)
    """Loads and validates a scenario file ('-' reads stdin).

    Raises:
      ScenarioError: unreadable, malformed or invalid; the message names the field.
    """
    from placer.model.scenario import Scenario

    data, source = read_document(path)
    return validate_model(Scenario, data, source=source)
