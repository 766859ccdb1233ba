"""What `placer replan` returns: the new plan, its moves and the trade-off curve."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from placer.analysis.whatif_report import AppliedChange
from placer.plan.plan import Plan


class _ReportModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReplanMove(_ReportModel):
    """One running unit that the new plan moves (or stops)."""

    unit: str
    workload: str
    region: str | None = None
    copy_index: int = 0
    gpus: float = Field(description="GPUs it holds now.")
    from_site: str
    from_pool: str
    to_site: str | None = Field(default=None, description="None: shed (stops running).")
    to_pool: str | None = None
    reason: Literal["forced", "saving"] = Field(
        description="forced: where it runs now is lost or over capacity after the events; "
        "saving: it moves because the plan is better for it"
    )
    why: str = Field(description="In words: what forced it, or what it saves.")
    saving_usd_per_h: float | None = Field(
        default=None,
        description="Objective where it runs now less where it goes (None when where it "
        "runs now is no longer allowed).",
    )
    move_cost_usd: float = Field(description="What the move costs once, USD.")


class CurvePoint(_ReportModel):
    """The best plan found with at most so many moves."""

    max_moves_pct: float | None = Field(description="% of the running units; None: no limit.")
    max_moves: int | None
    moves: int
    objective_usd_per_h: float
    move_cost_usd: float
    scope: Literal["full", "restricted"]


class ReplanReport(_ReportModel):
    """A re-plan of a running fleet (`placer.analysis.replan`)."""

    kind: Literal["ReplanReport"] = "ReplanReport"
    scenario: str
    events: list[AppliedChange] = Field(default_factory=list)
    running_units: int = Field(description="Units of the current placement.")
    running_gpus: float
    current_feasible: bool = Field(
        description="The current placement is still a valid plan after the events."
    )
    current_problems: list[str] = Field(
        default_factory=list, description="Why it is not (lost options, rows over capacity)."
    )
    current_objective_usd_per_h: float | None = Field(
        default=None, description="Its objective after the events, when it is still valid."
    )
    fewest_moves: int = Field(description="Moves of the cheapest plan that restores feasibility.")
    moves_lower_bound: int = Field(description="No feasible plan needs fewer moves.")
    moves: int
    moved_gpus: float
    starts: int = Field(description="Units not running now that the plan starts.")
    objective_usd_per_h: float
    move_cost_usd: float
    objective_with_moves_usd_per_h: float = Field(
        description="Objective + each move's cost / payback_h + min_gain per move: what "
        "stage 2 minimises."
    )
    bound_with_moves_usd_per_h: float | None = Field(
        default=None, description="A lower bound on that (when every unit was free)."
    )
    scope: Literal["full", "restricted"] = Field(
        description="full: every unit was free to move; restricted: a neighbourhood "
        "(the units a change touches and those with a move that pays)."
    )
    payback_h: float
    min_gain_usd_per_h: float
    max_moves: int | None = None
    max_moved_gpus: float | None = None
    move_list: list[ReplanMove] = Field(default_factory=list)
    curve: list[CurvePoint] = Field(default_factory=list)
    wall_s: float
    plan: Plan


__all__ = ["CurvePoint", "ReplanMove", "ReplanReport"]
