"""A diagnosis's fixes in the scenario's words: what to change, rounded up to what a
person can add, as `placer whatif --set` changes, and the scenario with them applied.

An elastic solve (`placer.engines.milp.diagnose`) says how much each capacity row must
grow, after headroom (`objective.max_utilization`). Here each addition becomes a change
to a scenario field, in that field's unit, rounded up so the grown capacity after
headroom is at least what the solve asked for:

  gpus           sites.S.pools.P.gpus               whole GPUs (the pool's capacity is
                                                    floor(gpus x headroom))
  it_kw          sites.S.power.it_capacity_kw       whole kW
  facility_kw    sites.S.power.grid_cap_kw          whole kW
  heat_kw        sites.S.cooling.heat_rejection_kw  whole kW (set absolute: it defaults
                                                    to the IT capacity)
  water_l_per_h  sites.S.cooling.water_cap_l_per_day  whole L/day
  budget         objective.budget_usd_per_h         cents
  carbon cap     objective.carbon_cap_kg_per_h      0.01 kg/h

A drop is `workloads.W.must_place=false` (the workload's units may then be left out,
at their value; `value_usd_per_h=0` too where the workload states none). `placer.api`
re-solves the scenario with each fix applied before the plan shows it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from placer.errors import PlacerError
from placer.model.scenario import Scenario
from placer.plan.plan import CapacityPrice, Infeasibility
from placer.problem.form import Index

#: How an addition of each row kind is worded ("340.0 kW IT power").
ADDITION_UNITS = {
    "gpus": "GPUs",
    "it_kw": "kW IT power",
    "facility_kw": "kW facility (grid) power",
    "heat_kw": "kW cooling",
    "water_l_per_h": "L/h water",
    "budget_usd_per_h": "USD/h budget",
    "carbon_kg_per_h": "kgCO2e/h carbon cap",
    "node_slots": "GPUs on nodes that fit the pods",
    "mig_slices": "MIG slices",
}
_TINY = 1e-9


@dataclass(frozen=True)
class Change:
    """One change to the scenario.

    Attributes:
      path: the field, as `placer whatif --set` addresses it ("sites.fra.power.grid_cap_kw").
      value: the new value of the field.
      set: the `--set` string that applies it ("sites.fra.power.grid_cap_kw=+40").
      text: what it means for a person ("fra: add 40 kW facility (grid) power").
      site: the site it changes ("*" for the whole plan); resource: the row kind (for GPUs
        "gpus (POOL)"); amount: what is added to the field, in its unit (0 for a drop).
    """

    path: str
    value: Any
    set: str
    text: str
    site: str
    resource: str
    amount: float


def addition_change(
    scenario: Scenario, index: Index, scope: int, kind: str, amount: float
) -> Change:
    """The change that grows row (scope, kind) by `amount` after headroom, rounded up."""
    head = scenario.objective.max_utilization
    if scope < 0:
        field = "budget_usd_per_h" if kind == "budget_usd_per_h" else "carbon_cap_kg_per_h"
        add = math.ceil(amount * 100 - _TINY) / 100
        old = getattr(scenario.objective, field) or 0.0
        path = f"objective.{field}"
        return Change(path, old + add, f"{path}=+{add:g}", _text("*", kind, add), "*", kind, add)
    if kind == "gpus":
        info = index.pools[scope]
        site = _site(scenario, info.site)
        pool = next(p for p in site.pools if p.key == info.key)
        need = math.floor(pool.gpus * head + 1e-9) + math.ceil(amount - 1e-6)
        gpus = math.ceil(need / head - _TINY)
        while math.floor(gpus * head + 1e-9) < need:
            gpus += 1
        add = gpus - pool.gpus
        path = f"sites.{site.id}.pools.{pool.key}.gpus"
        resource = f"gpus ({pool.key})"
        return Change(
            path, gpus, f"{path}=+{add}", _text(site.id, kind, add), site.id, resource, add
        )
    if kind in ("node_slots", "mig_slices"):
        return _node_change(scenario, index, scope, kind, amount)
    site = _site(scenario, index.sites[scope])
    if kind == "water_l_per_h":
        add = math.ceil(amount * 24 / head - _TINY)
        old = site.cooling.water_cap_l_per_day or 0.0
        path = f"sites.{site.id}.cooling.water_cap_l_per_day"
        text = f"{site.id}: add {add:,} L/day water ({add / 24:,.1f} L/h)"
        return Change(path, old + add, f"{path}=+{add}", text, site.id, kind, add)
    add = math.ceil(amount / head - _TINY)
    if kind == "heat_kw":  # absent, it is the IT capacity: write it absolute
        path, value = f"sites.{site.id}.cooling.heat_rejection_kw", site.heat_cap_kw + add
        return Change(
            path, value, f"{path}={value:g}", _text(site.id, kind, add), site.id, kind, add
        )
    field = {"it_kw": "it_capacity_kw", "facility_kw": "grid_cap_kw"}[kind]
    path = f"sites.{site.id}.power.{field}"
    value = (getattr(site.power, field) or 0.0) + add
    return Change(path, value, f"{path}=+{add}", _text(site.id, kind, add), site.id, kind, add)


def _node_change(scenario: Scenario, index: Index, scope: int, kind: str, amount: float):
    """More nodes for a node or MIG row over by `amount` (docs/nodes.md): nodes of the
    pool's largest shape without MIG (each adds at least the largest power of two within
    it to every size level), or of its largest MIG shape (each GPU adds at least one to
    every MIG row). The count is safe, not always the least: the re-solve proves it."""
    info = index.pools[scope]
    site = _site(scenario, info.site)
    pool = next(p for p in site.pools if p.key == info.key)
    shapes = [(i, n) for i, n in enumerate(pool.nodes or []) if n.mig == (kind == "mig_slices")]
    i, shape = max(shapes, key=lambda s: (s[1].gpus, -s[0]))
    per_node = shape.gpus if shape.mig else 2 ** int(math.log2(shape.gpus))
    add = math.ceil(amount / per_node - 1e-6)
    path = f"sites.{site.id}.pools.{pool.key}.nodes.{i}.count"
    what = f"{shape.gpus}-GPU {'MIG ' if shape.mig else ''}nodes ({pool.key})"
    text = f"{site.id}: add {add} {what}"
    resource = f"nodes ({pool.key})"
    return Change(path, shape.count + add, f"{path}=+{add}", text, site.id, resource, add)


def drop_changes(scenario: Scenario, workload: str) -> list[Change]:
    """The changes that let a must-place workload's units be left out: must_place false,
    and, where the workload states no value, a value of 0 USD/h (an optional workload
    needs one; 0 drops it outright, a stated value keeps it where it pays)."""
    path = f"workloads.{workload}.must_place"
    text = f"make {workload} optional (must_place: false)"
    out = [Change(path, False, f"{path}=false", text, "*", "must_place", 0.0)]
    w = next(w for w in scenario.workloads if w.id == workload)
    if w.value_usd_per_h is None:
        path = f"workloads.{workload}.value_usd_per_h"
        out.append(Change(path, 0, f"{path}=0", f"{workload}: value 0 USD/h", "*", "must_place", 0))
    return out


def describe_addition(resource: str, amount: float) -> str:
    """'340.0 kW IT power' for a capacity addition."""
    fmt = f"{amount:,.0f}" if float(amount).is_integer() else f"{amount:,.2f}"
    return f"{fmt} {ADDITION_UNITS.get(resource, resource)}"


def apply_changes(scenario: Scenario, changes: list[Change]) -> Scenario:
    """The scenario with every change written (validated again, like a user's file)."""
    doc = scenario.model_dump(mode="json", exclude_none=True)
    for change in changes:
        parent, key = _locate(doc, change.path.split("."))
        parent[key] = change.value
    return Scenario.model_validate(doc)


def _locate(doc: dict, parts: list[str]) -> tuple[dict, str]:
    """(the dict holding the field, its key) of a path of ids into the document."""
    node: Any = doc
    i = 0
    while i < len(parts) - 1:
        part = parts[i]
        node = node[int(part)] if isinstance(node, list) else node[part]
        if part in ("sites", "workloads"):
            node = next(item for item in node if item["id"] == parts[i + 1])
            i += 1
        elif part == "pools":
            node = next(p for p in node if p.get("id", p.get("accelerator")) == parts[i + 1])
            i += 1
        i += 1
    return node, parts[-1]


def _site(scenario: Scenario, site_id: str):
    return next(s for s in scenario.sites if s.id == site_id)


def _text(site: str, kind: str, amount: float) -> str:
    where = "the whole plan" if site == "*" else site
    return f"{where}: add {describe_addition(kind, amount)}"


def changes_of(sets: list[str], scenario: Scenario) -> list[Change]:
    """The changes of `set` strings this module wrote ("PATH=+N", "PATH=V", "PATH=false")."""
    doc = scenario.model_dump(mode="json", exclude_none=True)
    out = []
    for text in sets:
        path, rhs = text.split("=", 1)
        if rhs == "false":
            value: Any = False
        elif rhs.startswith("+"):
            parent, key = _locate(doc, path.split("."))
            value = (parent.get(key) or 0) + _number(rhs[1:])
        else:
            value = _number(rhs)
        out.append(Change(path, value, text, text, "*", "", 0.0))
    return out


#: The step whose value `placer explain` re-solves, per capacity kind: 1 MW of power,
#: 1 m3/h of water (24,000 L/day), one node of GPUs, 1% of a global cap.
STEP_KW = 1000.0
STEP_WATER_L_PER_DAY = 24_000.0
STEP_GLOBAL_SHARE = 0.01


def step_change(scenario: Scenario, price: CapacityPrice) -> tuple[str, float] | None:
    """(`--set` string, step in the price's unit) that raises a priced capacity by the
    step a person would add; None where the scenario states no such field."""
    if price.site == "*":
        field = price.resource
        old = getattr(scenario.objective, field, None)
        if not old:
            return None
        step = round(old * STEP_GLOBAL_SHARE, 2) or 0.01
        return f"objective.{field}=+{step:g}", step
    site = next((s for s in scenario.sites if s.id == price.site), None)
    if site is None:
        return None
    for kind in ("node_slots", "mig_slices"):  # one more node of the pool's largest shape
        if price.resource.startswith(f"{kind} ("):
            key = price.resource[len(kind) + 2 : -1]
            pool = next((p for p in site.pools if p.key == key), None)
            shapes = (
                [(i, n) for i, n in enumerate(pool.nodes or []) if n.mig == (kind == "mig_slices")]
                if pool is not None
                else []
            )
            if not shapes:
                return None
            i, shape = max(shapes, key=lambda s: (s[1].gpus, -s[0]))
            return f"sites.{site.id}.pools.{key}.nodes.{i}.count=+1", float(shape.gpus)
    if price.resource.startswith("gpus ("):
        key = price.resource[len("gpus (") : -1]
        pool = next((p for p in site.pools if p.key == key), None)
        if pool is None:
            return None
        return f"sites.{site.id}.pools.{key}.gpus=+{pool.gpus_per_node}", float(pool.gpus_per_node)
    if price.resource == "water_l_per_h":
        if site.cooling.water_cap_l_per_day is None:
            return None
        step = STEP_WATER_L_PER_DAY
        return f"sites.{site.id}.cooling.water_cap_l_per_day=+{step:g}", step / 24.0
    if price.resource == "heat_kw":
        value = site.heat_cap_kw + STEP_KW
        return f"sites.{site.id}.cooling.heat_rejection_kw={value:g}", STEP_KW
    field = {"it_kw": "it_capacity_kw", "facility_kw": "grid_cap_kw"}.get(price.resource)
    if field is None or getattr(site.power, field) is None:
        return None
    return f"sites.{site.id}.power.{field}=+{STEP_KW:g}", STEP_KW


def _number(text: str) -> int | float:
    """'8' -> 8 (GPU counts stay whole), '2.5' -> 2.5."""
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value


def prove_fixes(
    inf: Infeasibility, scenario: Scenario, resolve: Callable[[Scenario, int], tuple]
) -> Infeasibility:
    """`inf` (a Plan's Infeasibility) with every fix re-solved: `resolve(fixed, n)` gives
    (status, objective or None) of the scenario with the fix applied, `n` the number of
    fixes still to re-solve after this one (to share the time left). Proven fixes come
    first (in the diagnosis's order), then the others; the headline fields follow."""
    fixes = []
    for i, fix in enumerate(inf.fixes):
        try:
            fixed = apply_changes(scenario, changes_of(fix.set, scenario))
        except (PlacerError, ValidationError, StopIteration, KeyError, ValueError):
            # a change this module wrote that does not apply: shown, not proven
            fixes.append(fix.model_copy(update={"proven": False}))
            continue
        status, objective = resolve(fixed, len(inf.fixes) - i - 1)
        proven = status in ("optimal", "feasible")
        fixes.append(
            fix.model_copy(
                update={
                    "proven": proven,
                    "status_after": status,
                    "objective_after_usd_per_h": objective,
                }
            )
        )
    fixes.sort(key=lambda f: not f.proven)
    return summarised(inf.model_copy(update={"fixes": fixes}))


def summarised(inf: Infeasibility) -> Infeasibility:
    """`inf` with its headline fields (the first proven capacity fix's additions, the
    drop-only fix's drops) and summary filled from its fixes."""
    usable = [f for f in inf.fixes if f.proven] or inf.fixes
    adds = next((f.additions for f in usable if f.additions and not f.drops), None)
    adds = adds or next((f.additions for f in usable if f.additions), [])
    drops = next((f.drops for f in usable if f.label == "drop only"), [])
    parts = []
    if inf.unplaceable:
        parts.append(f"{len(inf.unplaceable)} must-place unit(s) have no feasible pool")
    if adds:
        parts.append("add capacity: " + "; ".join(a.text for a in adds))
    if drops:
        parts.append("or drop: " + ", ".join(drops))
    summary = "; ".join(parts) or "no cause found within the time limit"
    return inf.model_copy(update={"additions": adds, "drops": drops, "summary": summary})
