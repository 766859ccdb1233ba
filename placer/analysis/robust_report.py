"""What `placer robust` reports (`--format json`, `kind: RobustReport`): for each plan,
the spread of its cost, carbon and objective over the samples, how often it breaks a
rule, per site and per capacity row; and, with `--solve`, the robust choice among
candidate plans. Probabilities are fractions of the samples (0..1)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from placer.plan.plan import PLAN_API_VERSION


class _RobustModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Spread(_RobustModel):
    """One figure of a plan over the samples, beside its nominal (unperturbed) value.

    `nominal` is the float64 NumPy score of the scenario as written; the sample
    statistics come from the float32 kernel. `cvar` is the mean of the worst
    (1 - alpha) share of the samples (the report's alpha), the conditional value at risk.
    """

    nominal: float
    mean: float
    p50: float
    p95: float
    cvar: float


class RowRisk(_RobustModel):
    """One capacity row and how often the samples push its load past its capacity."""

    row: int = Field(description="Row index in the compiled problem.")
    kind: str = Field(description="Row kind: gpus, it_kw, facility_kw, heat_kw, ...")
    unit: str
    site: str | None = None
    pool: str | None = None
    period: int | None = Field(
        default=None,
        description="Timed scenarios: the period; a water row where the periods tile "
        "calendar days: the day's first period (the row caps the day, unit the day's mean L/h).",
    )
    capacity: float = Field(description="Nominal capacity (after headroom), in `unit`.")
    nominal_load: float = Field(description="The plan's load on the row as written.")
    probability: float = Field(description="Share of samples with load above capacity.")
    mean_excess: float = Field(description="Mean load above capacity when exceeded.")


class SiteRisk(_RobustModel):
    """How often a site's capacities or the plan's units there are in trouble."""

    site: str
    overrun: dict[str, float] = Field(
        description="Per row kind (gpus of any of its pools, it_kw, facility_kw, heat_kw, "
        "water_l_per_h): probability that some row of that kind is over capacity."
    )
    any_overrun: float
    units_lost: float = Field(description="Probability that a unit placed here is lost.")
    must_place_lost: float = Field(description="The same for must-place units.")
    slo_at_risk: float = Field(
        description="Probability that an inference unit here cannot serve as planned: its "
        "pool is lost or over its GPUs, or the site is over its IT, facility or heat cap."
    )


class PlanRisk(_RobustModel):
    """One plan under the samples."""

    label: str
    source: str = ""
    status: str = ""
    objective_usd_per_h: Spread
    cost_usd_per_h: Spread
    carbon_kg_per_h: Spread
    penalized_usd_per_h: Spread = Field(
        description="Objective plus the kernel's penalties for violations (USD/h per unit "
        "over a cap, by row kind; 1e7 per masked pair or redundancy conflict)."
    )
    nominal_violations: dict[str, float] = Field(default_factory=dict)
    feasible: float = Field(description="Share of samples in which no rule is broken.")
    any_violation: float = Field(description="Probability that some rule breaks: 1 - feasible.")
    violation: dict[str, float] = Field(
        description="Probability of each violation: gpus_over, it_over, facility_over, "
        "heat_over, water_over, budget_over (the budget), carbon_over (the carbon cap), "
        "masked (a must-place unit lost), redundancy."
    )
    sites: list[SiteRisk] = Field(default_factory=list)
    fail_first: list[RowRisk] = Field(
        default_factory=list,
        description="Capacity rows most often exceeded, most probable first.",
    )


class Candidate(_RobustModel):
    """One candidate plan of the robust solve, scored on the same samples."""

    label: str
    description: str
    status: str
    solve_s: float = 0.0
    measure_usd_per_h: float = Field(description="The chosen measure of the penalized objective.")
    mean_usd_per_h: float
    cvar_usd_per_h: float
    mean_objective_usd_per_h: float
    feasible: float
    chosen: bool = False


class RobustSolve(_RobustModel):
    """The robust choice: the candidate with the least mean (sample average) or CVaR of
    the penalized objective over the samples. A selection over a candidate set, not a
    stochastic program: the best plan may be none of the candidates."""

    measure: Literal["mean", "cvar"]
    alpha: float
    solver: str
    chosen: str
    candidates: list[Candidate]
    plan_file: str | None = None


class RobustReport(_RobustModel):
    """`placer robust`: plans of one scenario under sampled uncertainty."""

    apiVersion: Literal["placer/v1"] = PLAN_API_VERSION
    kind: Literal["RobustReport"] = "RobustReport"
    scenario: str = ""
    samples: int
    seed: int
    alpha: float = Field(description="The CVaR level: the worst 1 - alpha share is averaged.")
    engine: str = Field(description="The kernel's backend (cpu, gpu, tpu), float32.")
    wall_s: float = Field(
        default=0.0, description="Time of the report after the compile (scoring included), s."
    )
    score_s: float = Field(default=0.0, description="Time in sampling and kernel calls, s.")
    uncertainty: dict[str, Any]
    plans: list[PlanRisk]
    solve: RobustSolve | None = None
    notes: list[str] = Field(default_factory=list)


__all__ = [
    "Candidate",
    "PlanRisk",
    "RobustReport",
    "RobustSolve",
    "RowRisk",
    "SiteRisk",
    "Spread",
]
