"""What `placer whatif` reports: each applied change, the KPIs of every plan, the
deltas against the baseline, and the report that gathers them (`--format json`); for
`--n-1`, what each loss costs (`LossImpact`, computed by `loss_impact`) and which loss
is worst (`LossSummary`)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from placer.analysis.diff import Move, PlanDiff, UnitPlacement
from placer.analysis.whatif_parse import Op
from placer.model.scenario import Scenario
from placer.plan.plan import PLAN_API_VERSION, Infeasibility, Plan, Status
from placer.problem.compile import build_units
from placer.problem.compile_time import timed_units
from placer.problem.form import R_LATENCY, REASONS


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
    gpus: int | float | None = None
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
    gpus: int | float | None = None
    placed_units: int | None = None


class LossImpact(_WhatIfModel):
    """N-1: what losing one site, or every site of one failure domain, does to the plan.

    Units are counted against the baseline plan: a unit *displaced* ran at a lost site in
    the baseline; it is *relocated* when the variant places it at another site, *dropped*
    when the variant leaves it out. *Other moves* are units that ran elsewhere and move
    to another site or pool to make room. Moves needed = relocated + other moves.
    """

    lost: str = Field(description="The site id, or the failure domain, that is lost.")
    sites: list[str] = Field(description="The sites down in this variant.")
    gpus_lost: int = Field(description="GPUs of the lost sites' pools.")
    unserved_rps: float | None = Field(
        default=None,
        description="Inference demand the variant's plan does not serve, requests/s (the "
        "peak over periods of a timed plan; null: no plan). A region's replica set serves "
        "its demand while copies - survive_failures of its copies are placed.",
    )
    unserved_rps_delta: float | None = Field(
        default=None, description="unserved_rps minus the baseline's, requests/s."
    )
    must_place_unplaced: list[str] = Field(
        default_factory=list,
        description="An infeasible variant: the must-place units it cannot place, as its "
        "diagnosis names them (no pool left, or left out by the drop-only fix; empty when "
        "no diagnosis ran, e.g. on a large fleet).",
    )
    slo_lost: list[str] = Field(
        default_factory=list,
        description="Units the baseline placed that the variant cannot place because no "
        "surviving pool meets their latency SLO (a valid plan never violates an SLO: "
        "such a unit goes unplaced, or the variant is infeasible if it must be placed).",
    )
    displaced: int = Field(default=0, description="Baseline units at the lost sites.")
    relocated: int | None = Field(
        default=None, description="Displaced units the variant places elsewhere."
    )
    dropped: int | None = Field(
        default=None, description="Displaced units the variant leaves unplaced."
    )
    other_moves: int | None = Field(
        default=None, description="Units not at a lost site that move to another site or pool."
    )
    moves: int | None = Field(
        default=None, description="Moves needed: relocated + other_moves (null: no plan)."
    )


class LossSummary(_WhatIfModel):
    """N-1 over every site or failure domain: how many losses leave no plan, and which
    loss is worst (no plan first, then most must-place units unplaced, most demand
    unserved, most units that lose their SLO, most units unplaced, largest cost rise)."""

    by: Literal["sites", "domains"]
    losses: int
    without_plan: int = Field(description="Losses after which no plan was found.")
    baseline_unserved_rps: float | None = None
    worst_index: int | None = Field(default=None, description="The worst loss's variant.")
    worst: str | None = Field(default=None, description="What the worst loss loses.")
    summary: str = Field(description="One line, as the table ends with it.")


def _drop_none(names: tuple[str, ...]):
    """A serializer that leaves out the fields `names` when they are None, so that
    reports without N-1 figures are what they were before N-1 existed."""

    @model_serializer(mode="wrap")
    def serialize(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for name in names:
            if isinstance(data, dict) and name in data and data[name] is None:
                del data[name]
        return data

    return serialize


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
    loss: LossImpact | None = Field(
        default=None, description="`--n-1`: what the loss does (absent otherwise)."
    )

    _serialize = _drop_none(("loss",))


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
    n1: LossSummary | None = Field(
        default=None, description="`--n-1`: the worst loss (absent otherwise)."
    )

    _serialize = _drop_none(("n1",))


@dataclass
class WhatIfRun:
    """A report and the plans behind it (baseline first, then one per variant)."""

    report: WhatIfReport
    baseline_plan: Plan
    plans: list[Plan]


def _solved(status: str) -> bool:
    """Whether a plan of this status places anything (optimal or feasible)."""
    return status in ("optimal", "feasible")


def unserved_rps(scenario: Scenario, plan: Plan) -> float:
    """Inference demand `plan` does not serve under `scenario`, requests/s.

    A region's replica set (in a timed scenario: per period and demand share) is
    `copies` units, each sized to carry its share alone when `survive_failures` copies
    are lost; with n placed it serves min(n, copies - survive_failures) shares. A timed
    scenario's figure is the peak over its periods (a rate, not a total).
    """
    units = timed_units(scenario) if scenario.horizon is not None else build_units(scenario)
    placed = Counter(
        (p.workload, p.region, -1 if p.period is None else p.period, p.part)
        for p in plan.placements
        if p.kind == "inference"
    )
    need: dict[tuple[str, str | None, int, int], tuple[float, int]] = {}
    for unit, w in units:
        if unit.kind == "inference":
            carry = unit.copies - w.redundancy.failures  # type: ignore[union-attr]
            need[(unit.workload, unit.region, unit.period, unit.part)] = (unit.demand_rps, carry)
    per_period: dict[int, float] = defaultdict(float)
    for key, (share, carry) in need.items():
        per_period[key[2]] += share * max(0, carry - placed[key])
    return float(f"{max(per_period.values(), default=0.0):.12g}")


def _latency_bound(plan: Plan) -> set[str]:
    """Units `plan` leaves out because no pool is left to them, latency among the why."""
    latency = REASONS[R_LATENCY]
    return {
        u.unit
        for u in plan.unplaced
        if u.reason.startswith("no feasible pool") and latency in u.reason
    }


def loss_impact(
    lost: str,
    gpus_lost: int,
    sites: list[str],
    scenario: Scenario,
    base_plan: Plan,
    plan: Plan,
    diff: PlanDiff | None,
    base_unserved_rps: float | None,
) -> LossImpact:
    """What a loss does (see LossImpact for what each figure counts).

    Args:
      lost: the site id or failure domain lost.   sites: the sites down.
      gpus_lost: GPUs of their pools (before they went down).
      scenario: the variant (the sites down).   base_plan, plan: baseline and variant.
      diff: baseline plan -> variant plan (None: either has no plan).
      base_unserved_rps: the baseline's unserved demand, requests/s (None: no plan).
    """
    down = set(sites)
    unserved = unserved_rps(scenario, plan) if _solved(plan.status) else None
    moves: dict[str, int | None] = dict.fromkeys(("relocated", "dropped", "other_moves", "moves"))
    if diff is not None:
        relocated = sum(m.from_site in down for m in diff.moved)
        moves = {
            "relocated": relocated,
            "dropped": sum(u.site in down for u in diff.newly_unplaced),
            "other_moves": len(diff.moved) - relocated,
            "moves": len(diff.moved),
        }
    inf = plan.infeasibility
    unplaced = {u.unit for u in inf.unplaceable} | set(inf.drops) if inf is not None else set()
    return LossImpact(
        lost=lost,
        sites=list(sites),
        gpus_lost=gpus_lost,
        unserved_rps=unserved,
        unserved_rps_delta=None
        if unserved is None or base_unserved_rps is None
        else float(f"{unserved - base_unserved_rps:.12g}"),
        must_place_unplaced=sorted(unplaced),
        slo_lost=sorted(_latency_bound(plan) - _latency_bound(base_plan)),
        displaced=sum(p.site in down for p in base_plan.placements),
        **moves,
    )


def _severity(v: VariantResult) -> tuple:
    """How bad a loss is, to rank losses: larger is worse (LossSummary's order)."""
    loss = v.loss
    assert loss is not None
    return (
        not _solved(v.kpis.status),
        len(loss.must_place_unplaced),
        loss.unserved_rps or 0.0,
        len(loss.slo_lost),
        v.kpis.unplaced_units or 0,
        v.delta.cost_usd_per_h or 0.0,
        -v.index,  # the first of equal losses
    )


def loss_summary(
    by: Literal["sites", "domains"], variants: list[VariantResult], base_unserved: float | None
) -> LossSummary:
    """The N-1 summary: losses without a plan, and the worst loss with a one-line why."""
    losses = [v for v in variants if v.loss is not None]
    without = sum(not _solved(v.kpis.status) for v in losses)
    if not losses:
        return LossSummary(by=by, losses=0, without_plan=0, summary="no loss solved")
    worst = max(losses, key=_severity)
    loss = worst.loss
    assert loss is not None
    if not _solved(worst.kpis.status):
        why = f"{worst.kpis.status}"
        if loss.must_place_unplaced:
            why += f": {len(loss.must_place_unplaced)} must-place unit(s) cannot be placed"
    else:
        parts = [f"{loss.unserved_rps or 0.0:,.1f} rps unserved"]
        parts.append(f"{len(loss.slo_lost)} unit(s) lose their latency SLO")
        if worst.delta.cost_usd_per_h is not None:
            parts.append(f"cost {worst.delta.cost_usd_per_h:+,.2f} USD/h")
        parts.append(f"{loss.moves} move(s)")
        why = ", ".join(parts)
    kind = "site" if by == "sites" else "failure domain"
    text = (
        f"worst loss: {kind} {loss.lost} ({why}); {without} of {len(losses)} loss(es) leave no plan"
    )
    return LossSummary(
        by=by,
        losses=len(losses),
        without_plan=without,
        baseline_unserved_rps=base_unserved,
        worst_index=worst.index,
        worst=loss.lost,
        summary=text,
    )


#: Durations inside text (a solver's "optimal after 0.06 s"): they vary between runs.
_SECONDS = re.compile(r"\b\d+(?:\.\d+)? s\b")


def without_timings(value: Any) -> Any:
    """A report or plan (or its `model_dump(mode="json")`) as plain data without what
    varies from run to run of the same solves: `wall_s` fields, and durations written in
    text. Two sweeps of the same solves (another executor, another machine) compare
    equal this way."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k != "wall_s"}
    if isinstance(value, (list, tuple)):
        return [without_timings(v) for v in value]
    if isinstance(value, str):
        return _SECONDS.sub("<t> s", value)
    return value


__all__ = [
    "AppliedChange",
    "Deltas",
    "LossImpact",
    "LossSummary",
    "PlanKpis",
    "VariantResult",
    "WhatIfReport",
    "WhatIfRun",
    "loss_impact",
    "loss_summary",
    "unserved_rps",
    "without_timings",
]
