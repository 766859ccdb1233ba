"""What-if variants of a scenario: change it by path, solve every variant, compare.

A *change* is `PATH=VALUE` (the `--set` of `placer whatif`). A *variant* is one or more
changes joined with `;`, applied in order to a deep copy of the scenario document and
validated exactly like a scenario file (`placer.model.load.validate_model`), so a variant
that would be an invalid file is rejected with the same field-by-field message.

PATH is dotted and addresses the document by id, not by list position:

- `sites.<site id>.power.it_capacity_kw`, `sites.<site id>.pools.<pool id>.gpus` (a
  pool's id is its `id`, else its accelerator), `workloads.<workload id>.gpus`,
  `workloads.<id>.demand_rps.<region id>`, `objective.carbon_price_usd_per_t`,
  `user_regions.<id>.location.lat`, ...
- a list position (`sites.0.pools.1.gpus`) works where no id matches;
- ids may contain dots: the longest id that matches wins;
- a field the document leaves out but the scenario language has (e.g. a site's
  `power.grid_cap_kw`) may be set; a key of a map (`demand_rps.<region>`) may be added.

VALUE:

- `V`: absolute; V is parsed as one YAML 1.2 value (`2000`, `0.5`, `true`, `null`,
  `H100-SXM`, `[DE, FR]`); `=V` forces absolute even when V starts with `+`, `-` or `*`;
- `+N` / `-N`: add / subtract N (in the field's own unit);
- `*F`: multiply by F;
- `+P%` / `-P%`: change by P percent;
- `down` on a site (`sites.<id>=down`): the site is lost — every pool there holds 0 GPUs
  (the site stays in the document, so pins, datasets and measured latencies that name it
  stay valid); on a pool: that pool holds 0 GPUs. Elsewhere `down` is the string.

Every error is an `OptionError` (exit 2) that names the `--set` and the keys or ids valid
at the level where the path went wrong.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import difflib
import io
import math
import re
import time
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticUndefined

from placer.analysis.diff import Move, UnitPlacement, diff_plans
from placer.errors import OptionError, ScenarioError
from placer.model.load import describe_value, validate_model
from placer.model.scenario import Scenario
from placer.model.site import Pool, Site
from placer.plan.plan import PLAN_API_VERSION, Infeasibility, Plan, Status

Op = Literal["set", "add", "mul", "down"]

_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_ADD = re.compile(rf"([+-])({_NUM})")
_PCT = re.compile(rf"([+-])({_NUM})%")
_MUL = re.compile(rf"\*({_NUM})")
#: Most ids or keys listed in an error message.
_MAX_LISTED = 12
_MISSING: Any = object()


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


class _WhatIfModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class AppliedChange(_WhatIfModel):
    """One change as applied to the document: where, and the value before and after."""

    text: str = Field(description="The change as written, e.g. 'sites.x.pools.L4.gpus=+8'.")
    path: str = Field(description="The path resolved to ids, e.g. 'sites.x.pools.L4.gpus'.")
    op: Op
    before: Any = Field(default=None, description="Value before (null: not set).")
    after: Any = Field(default=None, description="Value after (for 'down': GPUs left, 0).")


class PlanKpis(_WhatIfModel):
    """Status and whole-plan KPIs of one solved scenario (null where no plan exists)."""

    status: Status
    solver: str
    objective_usd_per_h: float | None = None
    bound_usd_per_h: float | None = None
    gap: float | None = Field(default=None, description="Proven relative gap, a fraction.")
    cost_usd_per_h: float | None = None
    carbon_kg_per_h: float | None = None
    water_l_per_h: float | None = None
    unplaced_value_usd_per_h: float | None = None
    gpus: int | None = None
    placed_units: int | None = None
    unplaced_units: int | None = None
    wall_s: float = Field(default=0.0, description="Solve time, s.")


class Deltas(_WhatIfModel):
    """Variant minus baseline (null where either has no plan)."""

    objective_usd_per_h: float | None = None
    objective_relative: float | None = Field(
        default=None, description="Objective change / |baseline objective|, a fraction."
    )
    cost_usd_per_h: float | None = None
    carbon_kg_per_h: float | None = None
    water_l_per_h: float | None = None
    gpus: int | None = None
    placed_units: int | None = None


class VariantResult(_WhatIfModel):
    """One solved variant and how it differs from the baseline."""

    index: int = Field(description="1-based position among the variants.")
    label: str
    changes: list[AppliedChange]
    kpis: PlanKpis
    delta: Deltas
    baseline_plan_valid: bool | None = Field(
        description="Whether the baseline plan still meets every hard constraint of the "
        "variant (null when the baseline has no plan)."
    )
    baseline_plan_violations: list[str] = Field(
        default_factory=list, description="What the baseline plan breaks under the variant."
    )
    units_moved: int | None = Field(
        default=None, description="Units at another site or pool (null: either has no plan)."
    )
    moved: list[Move] = Field(default_factory=list, description="At another site or pool.")
    resized: list[Move] = Field(
        default_factory=list, description="Same site and pool, another number of GPUs."
    )
    newly_placed: list[UnitPlacement] = Field(default_factory=list)
    newly_unplaced: list[UnitPlacement] = Field(default_factory=list)
    no_plan_reason: str = Field(
        default="", description="Why the variant has no plan (one line), when it has none."
    )
    infeasibility: Infeasibility | None = Field(
        default=None, description="For an infeasible variant: why, and the smallest fixes."
    )
    plan_file: str | None = Field(default=None, description="Where its plan was written.")


class WhatIfReport(_WhatIfModel):
    """The baseline and every variant, solved with the same options."""

    apiVersion: Literal["placer/v1"] = PLAN_API_VERSION
    kind: Literal["WhatIf"] = "WhatIf"
    scenario: str = Field(default="", description="The scenario's metadata.name.")
    source: str = Field(default="", description="The scenario file.")
    solver: str
    seed: int = 0
    time_limit_s: float = Field(description="Limit of each solve, s.")
    wall_s: float = Field(default=0.0, description="Time for all solves, s.")
    baseline: PlanKpis
    baseline_plan_file: str | None = None
    variants: list[VariantResult] = Field(default_factory=list)


@dataclass
class WhatIfRun:
    """A report and the plans behind it (baseline first, then one per variant)."""

    report: WhatIfReport
    baseline_plan: Plan
    plans: list[Plan]


# ---- parsing ---------------------------------------------------------------------------


def parse_change(text: str) -> Change:
    """Parses one `PATH=VALUE` (see the module docstring for the syntax).

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
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # rejected by validation with a clear message
    return value


# ---- resolving a path against the document ---------------------------------------------


@dataclass
class _Target:
    """Where a path ends: `parent[key]`, the type declared there, and its default."""

    parent: dict[str, Any] | list[Any]
    key: str | int
    exists: bool
    declared: Any  # the type the scenario language declares there (None: unknown)
    default: Any  # the field's default when it is absent (_MISSING: required / none)
    path: str  # resolved to ids


def _strip(tp: Any, value: Any = None) -> Any:
    """Unwraps Annotated and Optional; picks a union member by the value's `kind`."""
    while True:
        origin, args = get_origin(tp), get_args(tp)
        if origin is Annotated:
            tp = args[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in args if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
            kind = value.get("kind") if isinstance(value, dict) else None
            for m in members:
                field = _model_fields(m).get("kind")
                if field is not None and kind in get_args(field.annotation):
                    return m
            return None
        else:
            return tp


def _model_fields(tp: Any) -> dict[str, Any]:
    return tp.model_fields if isinstance(tp, type) and issubclass(tp, BaseModel) else {}


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _item_id(item: Any, item_type: Any) -> str | None:
    """The id a list item is addressed by (a pool's defaults to its accelerator)."""
    if not isinstance(item, dict):
        return None
    key = item.get("id")
    if key is None and _strip(item_type, item) is Pool:
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


def _resolve(doc: dict[str, Any], change: Change) -> _Target:
    """Walks `change.path` through the document, creating absent sub-mappings the
    scenario language allows (so `sites.x.cooling.wue_l_per_kwh` works without a
    `cooling:` in the file).

    Raises:
      OptionError: a key, id or position that does not exist, naming the valid ones.
    """
    where = change.where
    segs = change.path
    node: Any = doc
    declared: Any = Scenario
    done: list[str] = []
    i = 0
    while True:
        here = ".".join(done) or "the scenario"
        base = _strip(declared, node)
        if isinstance(node, dict) and _is_model(base):
            fields = base.model_fields
            name = segs[i]
            if name not in fields:
                raise OptionError(
                    f"{where}: {here} has no field {name!r}{_suggest(name, list(fields))} "
                    f"Fields there: {_listing(list(fields))}."
                )
            field = fields[name]
            last = i == len(segs) - 1
            if last:
                exists = name in node
                default = _MISSING
                if not exists and not field.is_required():
                    found = field.get_default(call_default_factory=True)
                    default = _MISSING if found is PydanticUndefined else found
                return _Target(node, name, exists, field.annotation, default, _join(done, name))
            child = node.get(name)
            if child is None:
                if not _is_model(_strip(field.annotation)):
                    raise OptionError(
                        f"{where}: {_join(done, name)} is not set in the scenario, so nothing "
                        f"below it can be changed; set it whole, e.g. {_join(done, name)}=..."
                    )
                child = node[name] = {}
            node, declared = child, field.annotation
            done.append(name)
            i += 1
        elif isinstance(node, dict):  # a map: demand_rps, serving, ... (or untyped)
            keys = [str(k) for k in node]
            n = _longest_match(segs, i, keys)
            if n == 0:
                value_type = _map_value_type(base)
                if i == len(segs) - 1 and (value_type is not None or base is dict):
                    return _Target(node, segs[i], False, value_type, _MISSING, _join(done, segs[i]))
                raise OptionError(
                    f"{where}: {here} has no key {segs[i]!r}{_suggest(segs[i], keys)} "
                    f"Keys there: {_listing(keys) or '(none)'}."
                )
            key = ".".join(segs[i : i + n])
            value_type = _map_value_type(base)
            if i + n == len(segs):
                return _Target(node, key, True, value_type, _MISSING, _join(done, key))
            node, declared = node[key], value_type
            done.append(key)
            i += n
        elif isinstance(node, list):
            item_type = get_args(base)[0] if get_origin(base) is list else None
            ids = [_item_id(item, item_type) for item in node]
            named = [k for k in ids if k is not None]
            n = _longest_match(segs, i, named)
            if n:
                key = ".".join(segs[i : i + n])
                pos = ids.index(key)
            elif segs[i].isdigit() and int(segs[i]) < len(node):
                n, pos = 1, int(segs[i])
                key = ids[pos] or str(pos)
            else:
                what = "position" if not named else "id"
                if named and segs[i].isdigit():
                    what = "id or position"
                hint = _suggest(segs[i], named)
                known = f"ids {_listing(named)}; or a position" if named else "a position"
                span = f"0-{len(node) - 1}" if node else "(the list is empty)"
                raise OptionError(
                    f"{where}: {here} has no {what} {segs[i]!r}{hint} Valid there: {known} {span}."
                )
            if i + n == len(segs):
                return _Target(node, pos, True, item_type, _MISSING, _join(done, key))
            node, declared = node[pos], item_type
            done.append(key)
            i += n
        else:
            raise OptionError(
                f"{where}: {here} is {describe_value(node)}; it has no part {segs[i]!r} "
                f"(the path ends at {here})"
            )


def _map_value_type(tp: Any) -> Any:
    if get_origin(tp) is dict:
        return get_args(tp)[1]
    return None


def _join(done: Sequence[str], name: str) -> str:
    return ".".join([*done, name])


# ---- applying changes ------------------------------------------------------------------


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
    target = _resolve(doc, change)
    current = target.parent[target.key] if target.exists else None  # type: ignore[index]
    if change.op == "down":
        kind = _strip(target.declared, current)
        if kind in (Site, Pool) and isinstance(current, dict):
            pools = current.get("pools", []) if kind is Site else [current]
            before = sum(p.get("gpus", 0) for p in pools if isinstance(p, dict))
            for p in pools:
                if isinstance(p, dict):
                    p["gpus"] = 0
            return AppliedChange(
                text=change.text, path=target.path, op="down", before=before, after=0
            )
        change = dataclasses.replace(change, op="set", operand="down")
    if change.op == "set":
        target.parent[target.key] = copy.deepcopy(change.operand)  # type: ignore[index]
        return AppliedChange(
            text=change.text, path=target.path, op="set", before=current, after=change.operand
        )
    number = current if target.exists else target.default
    where = change.where
    if number is _MISSING:
        raise OptionError(
            f"{where}: {target.path} is not set in the scenario and has no default, so "
            f"there is nothing to change by {change.op}; give a value: {target.path}=V"
        )
    if number is None or isinstance(number, bool) or not isinstance(number, (int, float)):
        raise OptionError(
            f"{where}: {target.path} is {describe_value(number)}; +N, -N, *F and +P% change "
            f"numbers only; give the new value instead: {target.path}=V"
        )
    result = number + change.operand if change.op == "add" else number * change.operand
    result = _tidy(result, int_field=_strip(target.declared) is int, was_int=type(number) is int)
    target.parent[target.key] = result  # type: ignore[index]
    return AppliedChange(
        text=change.text, path=target.path, op=change.op, before=number, after=result
    )


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
    label = f"{source} with variant {index} ({variant.label})"
    try:
        return validate_model(Scenario, changed, source=label), applied
    except ScenarioError as e:
        raise ScenarioError(_positions_to_ids(str(e), changed)) from None


_POSITION = re.compile(
    r"\b(sites|workloads|user_regions|accelerators)\.(\d+)(?:\.pools\.(\d+))?(?=[.:\s]|$)"
)


def _positions_to_ids(message: str, doc: dict[str, Any]) -> str:
    """'sites.0.pools.1.gpus' -> 'sites.fra-hall.pools.GB200.gpus' in a validation message,
    so it names what the --set named."""

    def by_id(found: re.Match[str]) -> str:
        items = doc.get(found.group(1))
        pos = int(found.group(2))
        if not isinstance(items, list) or pos >= len(items):
            return found.group(0)
        item_type = Site if found.group(1) == "sites" else None
        name = _item_id(items[pos], item_type) or str(pos)
        out = f"{found.group(1)}.{name}"
        if found.group(3) is not None:
            pools = items[pos].get("pools") if isinstance(items[pos], dict) else None
            q = int(found.group(3))
            if not isinstance(pools, list) or q >= len(pools):
                return out + f".pools.{q}"
            out += f".pools.{_item_id(pools[q], Pool) or q}"
        return out

    return _POSITION.sub(by_id, message)


# ---- solving -----------------------------------------------------------------------------


SolveFn = Callable[..., Plan]


def plan_kpis(plan: Plan) -> PlanKpis:
    """The status and KPIs of a plan, for the report."""
    t = plan.totals
    has_plan = plan.status in ("optimal", "feasible") and t is not None
    return PlanKpis(
        status=plan.status,
        solver=plan.solver,
        objective_usd_per_h=plan.objective_usd_per_h,
        bound_usd_per_h=plan.bound_usd_per_h,
        gap=plan.gap,
        cost_usd_per_h=t.cost_usd_per_h if has_plan else None,
        carbon_kg_per_h=t.carbon_kg_per_h if has_plan else None,
        water_l_per_h=t.water_l_per_h if has_plan else None,
        unplaced_value_usd_per_h=t.unplaced_value_usd_per_h if has_plan else None,
        gpus=t.gpus if has_plan else None,
        placed_units=t.placed_units if has_plan else None,
        unplaced_units=t.unplaced_units if has_plan else None,
        wall_s=plan.wall_s,
    )


def _has_plan(plan: Plan) -> bool:
    return plan.status in ("optimal", "feasible")


def baseline_violations(scenario: Scenario, plan: Plan) -> list[str]:
    """What `plan` breaks under `scenario`, hard constraints only.

    KPI claims (cost, carbon, ... written in the plan) are left out: a variant that
    changes a price makes them stale without making the placement invalid.
    """
    from placer.plan.verify import verify

    try:
        found = verify(scenario, plan)
    except (KeyError, ValueError, IndexError) as e:  # a plan the variant cannot even read
        return [f"the plan does not fit the variant ({type(e).__name__}: {e})"]
    return [str(v) for v in found if v.kind != "kpi"]


def _deltas(base: PlanKpis, var: PlanKpis) -> Deltas:
    def sub(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else float(f"{b - a:.12g}")

    def isub(a: int | None, b: int | None) -> int | None:
        return None if a is None or b is None else b - a

    obj = sub(base.objective_usd_per_h, var.objective_usd_per_h)
    rel = None
    if obj is not None and base.objective_usd_per_h:
        rel = obj / abs(base.objective_usd_per_h)
    return Deltas(
        objective_usd_per_h=obj,
        objective_relative=rel,
        cost_usd_per_h=sub(base.cost_usd_per_h, var.cost_usd_per_h),
        carbon_kg_per_h=sub(base.carbon_kg_per_h, var.carbon_kg_per_h),
        water_l_per_h=sub(base.water_l_per_h, var.water_l_per_h),
        gpus=isub(base.gpus, var.gpus),
        placed_units=isub(base.placed_units, var.placed_units),
    )


def run_whatif(
    doc: dict[str, Any],
    variants: Sequence[Variant],
    *,
    source: str = "scenario",
    solver: str = "auto",
    time_limit_s: float = 60.0,
    seed: int = 0,
    relative_gap: float = 1e-4,
    workers: int = 1,
    backend: str | None = None,
    solve: SolveFn | None = None,
    progress: Callable[[str], None] | None = None,
) -> WhatIfRun:
    """Solves the baseline once, then every variant separately, and compares.

    Every variant is built and validated before anything is solved, so a bad `--set`
    fails at once. Each variant is solved with the baseline plan as its hint, with the
    same solver options as the baseline.

    Args:
      doc: the scenario document (plain data, as `read_document` returns it).
      variants: the variants, in order.
      source: the scenario file name, for messages and the report.
      solver, time_limit_s, seed, relative_gap, workers, backend: as `placer.api.solve`
        (time_limit_s is per solve, s).
      solve: the solve function (default `placer.api.solve`; tests may pass another).
      progress: called with a line before each solve (e.g. to print on stderr).

    Returns:
      The report with the baseline plan and every variant's plan.

    Raises:
      OptionError, ScenarioError: a bad change or an invalid variant (exit 2).
    """
    if solve is None:
        from placer.api import solve as api_solve

        solve = api_solve
    from placer.api import choose_solver

    choose_solver(solver)  # a bad name fails before any work
    baseline = validate_model(Scenario, doc, source=source)
    built = [build_variant(doc, v, source=source, index=i) for i, v in enumerate(variants, start=1)]
    options = {
        "solver": solver,
        "time_limit_s": time_limit_s,
        "seed": seed,
        "relative_gap": relative_gap,
        "workers": workers,
        "backend": backend,
    }
    started = time.perf_counter()
    if progress:
        progress(f"solving the baseline ({len(variants)} variant(s) to follow)")
    base_plan = solve(baseline, **options)
    base_kpis = plan_kpis(base_plan)
    hint = base_plan if _has_plan(base_plan) else None
    plans: list[Plan] = []
    results: list[VariantResult] = []
    for i, (variant, (scenario, applied)) in enumerate(zip(variants, built, strict=True), 1):
        if progress:
            progress(f"solving variant {i}/{len(variants)}: {variant.label}")
        plan = solve(scenario, hint=hint, **options)
        plan = plan.model_copy(
            update={"scenario": f"{plan.scenario or 'scenario'} [{variant.label}]"}
        )
        plans.append(plan)
        results.append(_compare(i, variant, applied, scenario, base_plan, base_kpis, plan))
    report = WhatIfReport(
        scenario=baseline.metadata.name,
        source=source,
        solver=solver,
        seed=seed,
        time_limit_s=time_limit_s,
        wall_s=time.perf_counter() - started,
        baseline=base_kpis,
        variants=results,
    )
    return WhatIfRun(report=report, baseline_plan=base_plan, plans=plans)


def _compare(
    index: int,
    variant: Variant,
    applied: list[AppliedChange],
    scenario: Scenario,
    base_plan: Plan,
    base_kpis: PlanKpis,
    plan: Plan,
) -> VariantResult:
    kpis = plan_kpis(plan)
    valid: bool | None = None
    broken: list[str] = []
    if _has_plan(base_plan):
        broken = baseline_violations(scenario, base_plan)
        valid = not broken
    moved: list[Move] = []
    resized: list[Move] = []
    placed: list[UnitPlacement] = []
    unplaced: list[UnitPlacement] = []
    units_moved = None
    if _has_plan(base_plan) and _has_plan(plan):
        d = diff_plans(base_plan, plan, label_a="baseline", label_b=variant.label)
        moved, resized, placed, unplaced = d.moved, d.resized, d.newly_placed, d.newly_unplaced
        units_moved = len(moved)
    why = "" if _has_plan(plan) else _no_plan_reason(plan)
    return VariantResult(
        index=index,
        label=variant.label,
        changes=applied,
        kpis=kpis,
        delta=_deltas(base_kpis, kpis),
        baseline_plan_valid=valid,
        baseline_plan_violations=broken,
        units_moved=units_moved,
        moved=moved,
        resized=resized,
        newly_placed=placed,
        newly_unplaced=unplaced,
        no_plan_reason=why,
        infeasibility=plan.infeasibility,
    )


def _no_plan_reason(plan: Plan) -> str:
    """One line: the diagnosis summary and the units it names, or the plan's message."""
    inf = plan.infeasibility
    if inf is None:
        return plan.message or plan.status
    units = [u.unit for u in inf.unplaceable]
    text = inf.summary or plan.message or plan.status
    if units:
        more = f", ... ({len(units)} in all)" if len(units) > 5 else ""
        text += f" ({', '.join(units[:5])}{more})"
    if inf.additions:
        text += "; fix: " + "; ".join(a.text for a in inf.additions[:3])
    return text


__all__ = [
    "AppliedChange",
    "Change",
    "PlanKpis",
    "Variant",
    "VariantResult",
    "WhatIfReport",
    "WhatIfRun",
    "apply_variant",
    "baseline_violations",
    "build_variant",
    "fail_site_variant",
    "parse_change",
    "parse_variant",
    "plan_kpis",
    "run_whatif",
]
