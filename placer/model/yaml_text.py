"""Reading YAML (1.2, safe) and JSON documents: size and alias limits, duplicate keys,
errors that name the file and line. Knows nothing of the scenario's models."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from placer.errors import ScenarioError

#: Largest scenario file read by default, MiB: a generated 100,000-workload fleet is
#: 27 MiB of compact JSON, 46 MB as pydantic writes it. PLACER_MAX_INPUT_MB raises it.
DEFAULT_MAX_INPUT_MB = 256
#: Most nodes a YAML document may expand to once aliases are followed (stops alias
#: bombs): this many, or one per two characters of the text, whichever is more (a
#: document without aliases cannot hold more). JSON has no aliases.
MAX_EXPANDED_NODES = 2_000_000


def max_file_bytes() -> int:
    """The input size limit, bytes: PLACER_MAX_INPUT_MB (a positive number) or the default.

    Raises:
      ScenarioError: PLACER_MAX_INPUT_MB is set to something else.
    """
    text = os.environ.get("PLACER_MAX_INPUT_MB", "").strip()
    if not text:
        return DEFAULT_MAX_INPUT_MB * 1024 * 1024
    try:
        mb = float(text)
    except ValueError:
        mb = float("nan")
    if not (0 < mb < 1e7):
        raise ScenarioError(
            f"PLACER_MAX_INPUT_MB={text!r}: not a size; give the largest input in MiB, e.g. 512"
        )
    return int(mb * 1024 * 1024)


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
        size = _expanded_size(data, {}, max(MAX_EXPANDED_NODES, len(text) // 2))
    except ScenarioError as e:
        raise ScenarioError(f"{source}: <document>: {e}") from None
    limit = max(MAX_EXPANDED_NODES, len(text) // 2)
    if size > limit:
        raise ScenarioError(
            f"{source}: the document expands to more than {limit:,} nodes "
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


def _expanded_size(node: Any, memo: dict[int, int], limit: int) -> int:
    """Nodes after alias expansion (at most limit + 1); shared sub-objects are counted
    once per use."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = limit + 1  # a cycle counts as too big
    if isinstance(node, dict):
        for k in node:
            if isinstance(k, (tuple, list, dict)):
                what = "mapping" if isinstance(k, dict) else "list"
                raise ScenarioError(f"a mapping key is a {what}; keys must be plain strings")
        size = 1 + sum(
            _expanded_size(k, memo, limit) + _expanded_size(v, memo, limit) for k, v in node.items()
        )
    elif isinstance(node, list):
        size = 1 + sum(_expanded_size(v, memo, limit) for v in node)
    else:
        size = 1
    memo[key] = min(size, limit + 1)
    return memo[key]


def read_document(path: Path | str) -> tuple[Any, str]:
    """Reads a YAML/JSON file (or stdin for '-') into Python data.

    Returns:
      (data, source name for messages).
    """
    source = "<stdin>" if str(path) == "-" else str(path)
    cap = max_file_bytes()
    try:
        if source == "<stdin>":
            raw = sys.stdin.buffer.read(cap + 1)
        else:
            with open(path, "rb") as f:
                raw = f.read(cap + 1)
    except OSError as e:
        raise ScenarioError(f"{source}: cannot read: {e.strerror or e}") from None
    if len(raw) > cap:
        raise ScenarioError(
            f"{source}: larger than {cap / (1024 * 1024):,.0f} MiB, the input limit. To fix: "
            "raise it (PLACER_MAX_INPUT_MB=512, say), or remove unused entries."
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{source}: not UTF-8 text (byte {e.start}).") from None
    return parse_yaml_text(text, source=source), source
