"""What a rolling-horizon simulation returns (`placer.analysis.rolling.roll`): the realised
schedule's outcome under the actual series, beside the perfect-foresight plan (the oracle)
and the price- and carbon-agnostic baseline (greedy)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from placer.plan.plan import Plan


class _ReportModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Outcome(_ReportModel):
    """One schedule of the whole horizon, evaluated with the actual series."""

    name: Literal["rolling", "oracle", "baseline"]
    solver: str
    status: str
    cost_usd: float = Field(description="GPU-hours, energy and egress over the horizon, USD.")
    carbon_kg: float
    objective_usd: float = Field(
        description="The scenario's objective over the horizon: cost + priced carbon and "
        "water + value of unplaced work, USD (moves not included)."
    )
    moves: int = Field(description="Service units started in a pool their region did not use.")
    move_cost_usd: float
    cost_with_moves_usd: float
    runs: int = Field(description="Training runs in the scenario.")
    runs_on_time: int = Field(description="Runs placed, ending by their deadlines.")
    runs_missed: list[str] = Field(default_factory=list)
    paused_runs: int = Field(
        default=0, description="Runs placed that pause (preemptible runs with segments)."
    )
    unserved_units: int = Field(description="Inference units (period, share, copy) left out.")
    violations: list[str] = Field(
        default_factory=list, description="What placer.plan.verify finds wrong (none expected)."
    )
    wall_s: float = 0.0


class Step(_ReportModel):
    """One re-plan: at period t, over periods [t, end) of the original horizon."""

    t: int
    end: int
    status: str
    committed_runs: list[str] = Field(
        default_factory=list,
        description="Training runs that start in the committed periods, and preemptible "
        "runs that run in them (such a run is listed at every re-plan it runs after).",
    )
    committed_units: int = 0
    stopped_runs: list[str] = Field(
        default_factory=list,
        description="Training runs under way at t that the window could not go on with "
        "(their rest did not fit): they stop at t and are left out of the realised plan.",
    )
    note: str = ""
    wall_s: float = 0.0


class RollingReport(_ReportModel):
    """A rolling-horizon re-planning simulation over a timed scenario."""

    kind: Literal["RollingReport"] = "RollingReport"
    scenario: str
    forecast: str
    every_periods: int
    lookahead_periods: int | None
    period_hours: float
    periods: int
    solver: str
    time_limit_s: float = Field(description="Limit of each re-plan's solve, s.")
    price_moves: bool
    move_cost_usd_per_replica: float | None = None
    replans: int
    rolling: Outcome
    oracle: Outcome | None = None
    baseline: Outcome | None = None
    gap_vs_oracle_cost_pct: float | None = Field(
        default=None, description="(rolling - oracle) / oracle cost, % (moves excluded)."
    )
    gap_vs_oracle_carbon_pct: float | None = None
    gap_vs_oracle_objective_pct: float | None = None
    gap_vs_oracle_cost_with_moves_pct: float | None = None
    savings_vs_baseline_cost_pct: float | None = Field(
        default=None, description="(baseline - rolling) / baseline cost, % (moves excluded)."
    )
    savings_vs_baseline_carbon_pct: float | None = None
    oracle_savings_vs_baseline_cost_pct: float | None = None
    oracle_savings_vs_baseline_carbon_pct: float | None = None
    steps: list[Step] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    wall_s: float = 0.0
    plan: Plan | None = Field(
        default=None, exclude=True, description="The realised schedule as a plan (not dumped)."
    )


def pct(value: float, reference: float) -> float | None:
    """(value - reference) / |reference| in %, None when the reference is 0."""
    return None if abs(reference) < 1e-12 else 100.0 * (value - reference) / abs(reference)


def fill_comparisons(report: RollingReport) -> RollingReport:
    """The report with its gaps and savings computed from its outcomes."""
    r, o, b = report.rolling, report.oracle, report.baseline
    update: dict[str, float | None] = {}
    if o is not None:
        update["gap_vs_oracle_cost_pct"] = pct(r.cost_usd, o.cost_usd)
        update["gap_vs_oracle_carbon_pct"] = pct(r.carbon_kg, o.carbon_kg)
        update["gap_vs_oracle_objective_pct"] = pct(r.objective_usd, o.objective_usd)
        update["gap_vs_oracle_cost_with_moves_pct"] = pct(
            r.cost_with_moves_usd, o.cost_with_moves_usd
        )
    if b is not None:
        saving = pct(r.cost_usd, b.cost_usd)
        carbon = pct(r.carbon_kg, b.carbon_kg)
        update["savings_vs_baseline_cost_pct"] = None if saving is None else -saving
        update["savings_vs_baseline_carbon_pct"] = None if carbon is None else -carbon
        if o is not None:
            saving = pct(o.cost_usd, b.cost_usd)
            carbon = pct(o.carbon_kg, b.carbon_kg)
            update["oracle_savings_vs_baseline_cost_pct"] = None if saving is None else -saving
            update["oracle_savings_vs_baseline_carbon_pct"] = None if carbon is None else -carbon
    return report.model_copy(update=update)
