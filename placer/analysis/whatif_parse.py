"""Parsing `placer whatif --set`: `PATH=VALUE` changes and `;`-joined variants.

The syntax is described in `placer.analysis.whatif`; this module turns the text into
`Change` and `Variant` values and rejects malformed text with an `OptionError` (exit 2)
that names the `--set`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from placer.errors import OptionError

Op = Literal["set", "add", "mul", "down"]

_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_ADD = re.compile(rf"([+-])({_NUM})")
_PCT = re.compile(rf"([+-])({_NUM})%")
_MUL = re.compile(rf"\*({_NUM})")


@dataclass(frozen=True)
class Change:
    """One parsed `PATH=VALUE`.

    Attributes:
      text: the change as written.
      path: PATH split on dots (ids with dots are re-joined when resolved).
      op: "set" (absolute), "add" (+N/-N), "mul" (*F, +P%, -P%) or "down".
      operand: the value to set, the number to add, or the factor; None for "down".
      option: how the user gave it, for messages (default: `--set TEXT`).
    """

    text: str
    path: tuple[str, ...]
    op: Op
    operand: Any = None
    option: str = ""

    @property
    def where(self) -> str:
        """The change as the user gave it, to start error messages with."""
        return self.option or f"--set {self.text}"


@dataclass(frozen=True)
class Variant:
    """Changes solved together as one variant; `label` is how tables name it."""

    label: str
    changes: tuple[Change, ...]


def parse_change(text: str) -> Change:
    """Parses one `PATH=VALUE` (the syntax: `placer.analysis.whatif`).

    Raises:
      OptionError: no '=', an empty path or path segment, an empty or malformed value.
    """
    where = f"--set {text}"
    path_text, eq, value = text.partition("=")
    path_text, value = path_text.strip(), value.strip()
    if not eq:
        raise OptionError(
            f"{where}: expected PATH=VALUE, e.g. sites.<site id>.power.it_capacity_kw=+2000"
        )
    if not path_text:
        raise OptionError(f"{where}: the path before '=' is empty")
    path = tuple(p.strip() for p in path_text.split("."))
    if any(not p for p in path):
        raise OptionError(f"{where}: the path {path_text!r} has an empty part (two dots?)")
    if not value:
        raise OptionError(f"{where}: no value after '='; write {path_text}=null to clear a field")
    if value.startswith("="):
        return Change(text, path, "set", _parse_yaml_value(value[1:].strip(), where))
    if value == "down":
        return Change(text, path, "down")
    if found := _PCT.fullmatch(value):
        pct = _number(found.group(2), where)
        sign = 1 if found.group(1) == "+" else -1
        return Change(text, path, "mul", 1.0 + sign * pct / 100.0)
    if found := _ADD.fullmatch(value):
        n = _number(found.group(2), where)
        return Change(text, path, "add", n if found.group(1) == "+" else -n)
    if found := _MUL.fullmatch(value):
        return Change(text, path, "mul", _number(found.group(1), where))
    if value[0] in "+-*":
        raise OptionError(
            f"{where}: {value!r} is not a change of a number (+N, -N, *F, +P%, -P%); to set "
            f"a value that starts with {value[0]!r}, write {path_text}=={value}"
        )
    return Change(text, path, "set", _parse_yaml_value(value, where))


def parse_variant(text: str) -> Variant:
    """Parses one `--set`: changes joined with ';' form one variant.

    Raises:
      OptionError: no change given, or one of them malformed.
    """
    parts = [p.strip() for p in text.split(";")]
    parts = [p for p in parts if p]
    if not parts:
        raise OptionError(f"--set {text!r}: no change given; write PATH=VALUE")
    return Variant("; ".join(parts), tuple(parse_change(p) for p in parts))


def fail_site_variant(site_id: str) -> Variant:
    """The N-1 variant in which one site is lost (`sites.<id>=down`)."""
    text = f"sites.{site_id}=down"
    change = dataclasses.replace(parse_change(text), option=f"--fail-site {site_id}")
    return Variant(text, (change,))


def fail_domain_variant(domain: str, site_ids: Sequence[str]) -> Variant:
    """The N-1 variant in which a failure domain is lost: every site of it down at once
    (`sites.<id>=down` for each, in the order given)."""
    changes = tuple(
        dataclasses.replace(parse_change(f"sites.{s}=down"), option=f"--n-1 domains ({domain})")
        for s in site_ids
    )
    return Variant("; ".join(c.text for c in changes), changes)


#: What `placer whatif --n-1` loses, one at a time.
N1_KINDS = ("sites", "domains")


def site_domains(doc: object) -> dict[str, str]:
    """Site id -> its failure domain, in document order; a site without a
    `failure_domain` is its own domain (as `Site.domain`). Reads the document as it is
    (validation comes later): entries that are not sites with a string id are skipped."""
    sites = doc.get("sites") if isinstance(doc, dict) else None
    out: dict[str, str] = {}
    for site in sites if isinstance(sites, list) else []:
        sid = site.get("id") if isinstance(site, dict) else None
        if isinstance(sid, str):
            domain = site.get("failure_domain")
            out[sid] = domain if isinstance(domain, str) and domain else sid
    return out


def n1_variants(doc: object, by: str) -> list[tuple[str, Variant]]:
    """N-1: one variant per site (`by="sites"`) or per failure domain (`"domains"`: all
    its sites down at once), in document order (a domain where its first site is), each
    with the name of what it loses (the site id or the domain).

    Raises:
      OptionError: `by` is not one of N1_KINDS.
    """
    domain_of = site_domains(doc)
    if by == "sites":
        return [(s, fail_site_variant(s)) for s in domain_of]
    if by == "domains":
        members: dict[str, list[str]] = {}
        for site, domain in domain_of.items():
            members.setdefault(domain, []).append(site)
        return [(d, fail_domain_variant(d, ids)) for d, ids in members.items()]
    raise OptionError(f"--n-1 {by!r}: choose one of {', '.join(N1_KINDS)}")


def _number(text: str, where: str) -> int | float:
    value: int | float = int(text) if text.isdigit() else float(text)
    if not math.isfinite(value):
        raise OptionError(f"{where}: {text!r} is not a finite number")
    return value


def _parse_yaml_value(text: str, where: str) -> Any:
    """One YAML 1.2 value (safe types); dates become their ISO text."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    if not text:
        raise OptionError(f"{where}: no value after '=='")
    try:
        value = YAML(typ="safe", pure=True).load(io.StringIO(text))
    except (YAMLError, ValueError) as e:
        first = str(e).strip().splitlines()
        raise OptionError(
            f"{where}: the value {text!r} is not valid YAML"
            + (f" ({first[0]})" if first else "")
            + "; quote a string that holds ':', '#' or brackets"
        ) from None
    if _has_non_finite(value):
        raise OptionError(f"{where}: {text!r} holds a number that is not finite")
    return _plain(value)


def _has_non_finite(value: Any) -> bool:
    """Whether a loaded YAML value holds a float that is not finite (.inf, .nan, or a
    literal past the float range such as 1e400), at any depth."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    return False


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    return value


__all__ = [
    "N1_KINDS",
    "Change",
    "Op",
    "Variant",
    "fail_domain_variant",
    "fail_site_variant",
    "n1_variants",
    "parse_change",
    "parse_variant",
    "site_domains",
]
