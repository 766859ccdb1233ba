"""The scenario document an importer writes: a ruamel round-trip mapping with comments.

An importer starts from a new document or an existing scenario file (`--into`: its
comments and order are kept), adds sites, pools and workloads as plain mappings, and
marks every value it could not infer with a `# TODO(placer import): ...` comment at the
place in the file. `render()` gives the YAML text; `validate()` reads that text back as
`placer solve` would and checks it against the scenario language.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from placer.errors import ScenarioError
from placer.model.load import load_scenario, validate_model
from placer.model.scenario import Scenario
from placer.model.yaml_text import parse_yaml_text

#: Prefix of every comment that marks a value the importer could not infer.
TODO = "TODO(placer import)"


def _yaml() -> YAML:
    y = YAML()  # round-trip: keeps comments and key order of a file read with --into
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096  # no folding: a flow mapping split mid-value reads badly
    y.preserve_quotes = True
    return y


def flow(**items: Any) -> CommentedMap:
    """A small mapping written on one line ({lat: .., lon: .., country: ..})."""
    m = CommentedMap(items)
    m.fa.set_flow_style()
    return m


@dataclass
class ScenarioDoc:
    """A scenario document being built.

    Attributes:
      root: the document (apiVersion, kind, metadata, sites, workloads, ...).
      gaps: one line per TODO left in the file, `where: what`, for the stderr summary.
      notes: lines for the stderr summary that are not TODOs (skipped items, counts).
    """

    root: CommentedMap
    gaps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def new(cls, name: str, header: str) -> ScenarioDoc:
        """An empty scenario (no sites, no workloads) with `header` as its top comment."""
        root = CommentedMap()
        root["apiVersion"] = "placer/v1"
        root["kind"] = "Scenario"
        root["metadata"] = CommentedMap(name=name, description=header.split(". ")[0])
        root["sites"] = CommentedSeq()
        root["workloads"] = CommentedSeq()
        root.yaml_set_start_comment(header)
        return cls(root)

    @classmethod
    def load(cls, path: Path | str) -> ScenarioDoc:
        """An existing scenario file, read round-trip (comments kept).

        Raises:
          ScenarioError: the file cannot be read, is not YAML/JSON, or is not a Scenario.
        """
        load_scenario(path)  # what `placer solve` checks: a valid scenario to add to
        try:
            root = _yaml().load(Path(path).read_text(encoding="utf-8-sig"))
        except Exception as e:  # ruamel's round-trip loader: any failure is the file's
            raise ScenarioError(f"{path}: cannot read as a scenario: {e}") from None
        if not isinstance(root, CommentedMap) or root.get("kind") != "Scenario":
            raise ScenarioError(
                f"{path}: not a placer scenario (kind: Scenario); --into takes a file that "
                "`placer import` or a person wrote"
            )
        for key in ("sites", "workloads"):
            if root.get(key) is None:
                root[key] = CommentedSeq()
            elif not isinstance(root[key], list):
                raise ScenarioError(f"{path}: {key}: must be a list")
        return cls(root)

    # ---- reading what is there ------------------------------------------------------

    def sites(self) -> list[CommentedMap]:
        """The sites' mappings, in file order."""
        return [s for s in self.root["sites"] if isinstance(s, dict)]

    def ids(self, key: str) -> set[str]:
        """Ids of the entries of a top-level list (sites, workloads, user_regions)."""
        return {str(e.get("id")) for e in self.root.get(key) or [] if isinstance(e, dict)}

    # ---- adding ---------------------------------------------------------------------

    def add(self, key: str, entry: CommentedMap, *, source: str, before: str = "") -> None:
        """Appends `entry` to the top-level list `key`, with `before` as a comment above it.

        Raises:
          ScenarioError: an entry of that id is already there (names the file it came from).
        """
        seq = self.root.get(key)
        if seq is None:
            seq = self.root[key] = CommentedSeq()
        if entry["id"] in self.ids(key):
            raise ScenarioError(
                f"{source}: {key} already holds an entry with id {entry['id']!r}. To fix: "
                "remove it from the scenario, or import into a new file"
            )
        seq.append(entry)
        if before:
            seq.yaml_set_comment_before_after_key(len(seq) - 1, before=before, indent=2)

    def todo(self, where: str, mapping: CommentedMap, key: str, text: str) -> None:
        """Marks mapping[key] with a TODO comment (added to any there) and lists the gap."""
        comment = f"{TODO}: {text}"
        there = mapping.ca.items.get(key)
        token = there[2] if there and len(there) > 2 else None
        if token is not None and token.value.strip():
            comment = f"{token.value.strip().removeprefix('#').strip()}; {comment}"
            there[2] = None  # ruamel keeps the first eol comment of a key otherwise
        mapping.yaml_add_eol_comment(comment, key)
        self.gaps.append(f"{where}.{key}: {text}")

    def todo_above(self, key: str, where: str, text: str) -> None:
        """A TODO comment above the top-level `key` (e.g. an item left out of `workloads`,
        which has no entry to carry it), also listed as a gap."""
        self.root.yaml_set_comment_before_after_key(key, before=f"{TODO}: {where}: {text}")
        self.gaps.append(f"{where}: {text}")

    # ---- writing --------------------------------------------------------------------

    def render(self) -> str:
        """The document as YAML text."""
        buf = io.StringIO()
        _yaml().dump(self.root, buf)
        return buf.getvalue()

    def validate(self, source: str) -> Scenario:
        """Reads the rendered text back (as `placer solve` reads a file) and validates it.

        Raises:
          ScenarioError: the result is not a valid scenario (named after `source`).
        """
        return validate_model(
            Scenario, parse_yaml_text(self.render(), source=source), source=source
        )

    def summary(self) -> str:
        """What stderr gets: the notes, then the TODOs, identical texts counted once."""
        lines = list(self.notes)
        counted: dict[str, int] = {}
        for gap in self.gaps:
            counted[gap] = counted.get(gap, 0) + 1
        if counted:
            lines.append(f"{len(self.gaps)} value(s) to check, marked '# {TODO}' in the file:")
            lines += [f"  {g}" + (f" (x{n})" if n > 1 else "") for g, n in counted.items()]
        return "\n".join(lines)


_ID_BAD = re.compile(r"[^A-Za-z0-9._:-]+")


def to_id(text: str, fallback: str = "x") -> str:
    """A scenario id from free text: 'NVIDIA H100 / us' -> 'NVIDIA-H100-us' (<= 128 chars)."""
    out = _ID_BAD.sub("-", text).strip("-._:")[:128]
    return out or fallback


def unique_id(base: str, taken: set[str]) -> str:
    """`base`, or `base-2`, `base-3`, ... the first not in `taken` (which it joins)."""
    out, n = base, 1
    while out in taken:
        n += 1
        out = f"{base}-{n}"
    taken.add(out)
    return out
