"""What `placer replan` returns on a timed scenario (`placer.analysis.replan_time`): the
whole horizon's new plan, what it changes from the current plan after the decision
period, and both schedules' figures on the scenario as known now."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from placer.plan.plan import Plan


class _ReportModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TimedChange(_ReportModel):
    """One unit the re-plan places differently from the current plan, from `at` on."""

    unit: str
    kind: Literal["service", "run"] = Field(
        description="service: a service unit of one period in another pool (or no longer "
        "served); run: a training run with another pool or start (one not started yet), "
        "restarted from scratch or stopped (one under way whose rest no longer fits)"
    )
    period: int | None = Field(default=None, description="A service unit's period.")
    before: str = Field(
        description="The current plan's pool (a run: its pools and periods, `pool a-b, ...`)."
    )
    after: str | None = Field(default=None, description="The new plan's; None: left out.")
    cost_usd: float = Field(
        description="USD once: a service unit's move (its workload's migration block, as "
        "placer replan prices a move); 0 for a run that had not started."
    )


class TimedEvent(_ReportModel):
    """One `--event` change of a timed re-plan (placer.analysis.replan_time_events)."""

    text: str = Field(description="The change as written, e.g. 'sites.x.power.grid_cap_kw=-25%'.")
    path: str = Field(description="The path resolved to ids.")
    from_period: int | None = Field(
        description="The first period it holds in (the decision period); None: the whole "
        "horizon (the field does not vary by period)."
    )
    before: Any = Field(default=None, description="The value before (in `from_period`).")
    after: Any = Field(default=None, description="The value after (in `from_period`).")


class TimedReplanReport(_ReportModel):
    """A timed fleet re-planned from period `at_period` (docs/replan.md, "Timed fleets").
    Money and carbon are totals over the horizon, history included."""

    kind: Literal["TimedReplanReport"] = "TimedReplanReport"
    scenario: str
    at_period: int = Field(description="The first period re-planned (0-based).")
    at: str = Field(description="When it starts (ISO 8601).")
    solver: str
    status: str = Field(description="The re-plan's solver status.")
    events: list[TimedEvent] = Field(
        default_factory=list,
        description="The --event changes, each from the decision period on (or over the "
        "whole horizon, for a field that does not vary by period).",
    )
    current_valid: bool = Field(
        description="The current plan still holds on the scenario as known now."
    )
    current_problems: list[str] = Field(
        default_factory=list,
        description="Why it does not: placements that are no option now, and what "
        "placer.plan.verify finds in it.",
    )
    current_objective_usd: float = Field(
        description="The current plan's objective over the horizon on the scenario now, USD "
        "(its units that are no option now count as left out)."
    )
    objective_usd: float = Field(description="The new plan's objective over the horizon, USD.")
    objective_usd_per_h: float
    cost_usd: float
    carbon_kg: float
    changed_units: int = Field(description="Service units in another pool from `at` on.")
    change_cost_usd: float = Field(description="What those changes cost, USD once.")
    objective_with_changes_usd: float
    rescheduled_runs: int = Field(
        description="Training runs with another pool or start, restarted or stopped."
    )
    sunk_usd: float = Field(
        description="What the runs restarted or stopped had spent before `at` (their "
        "periods that ran, at the current plan's cost per period): work lost, in neither "
        "plan's figures."
    )
    moves_current: int = Field(
        description="Period-to-period moves of the current schedule (a service unit in a "
        "pool its region did not use the period before: placer rolling's count)."
    )
    moves: int = Field(description="The same count for the new schedule.")
    left_out: list[str] = Field(
        default_factory=list,
        description="Units the current plan places from `at` on that the new one leaves out.",
    )
    past_lost: list[str] = Field(
        default_factory=list,
        description="Units the current plan placed before `at` (a service unit of an "
        "earlier period, a run started before it) whose placement is no option of the "
        "scenario now (a change over the whole horizon: a tighter latency SLO, a pool "
        "removed): the past breaks the scenario as known now.",
    )
    changes: list[TimedChange] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    violations: list[str] = Field(
        default_factory=list,
        description="What placer.plan.verify finds in the new plan (none expected; one in "
        "the history says the scenario changed periods before `at`).",
    )
    wall_s: float
    plan: Plan
