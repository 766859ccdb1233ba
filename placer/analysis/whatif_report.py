"""What `placer whatif` reports: each applied change, the KPIs of every plan, the
deltas against the baseline, and the report that gathers them (`--format json`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from placer.analysis.diff import Move, UnitPlacement
from placer.analysis.whatif_parse import Op
from placer.plan.plan import PLAN_API_VERSION, Infeasibility, Plan, Status


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


__all__ = [
    "AppliedChange",
    "Deltas",
    "PlanKpis",
    "VariantResult",
    "WhatIfReport",
    "WhatIfRun",
]
