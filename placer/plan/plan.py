"""The Plan: placer's stable, documented result (JSON/YAML; `apiVersion: placer/v1`).

Field names carry units. Capacities are the scenario's nameplate figures; the
`max_utilization` headroom of the objective applies on top of them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from placer.status import Status

PLAN_API_VERSION = "placer/v1"


class _PlanModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Segment(_PlanModel):
    """One segment of a preempted training run: consecutive whole periods it runs in."""

    start_period: int = Field(description="Its first period (0-based).")
    periods: int = Field(description="Consecutive periods it runs in.")
    start: str = Field(description="When it starts (ISO 8601).")
    end: str = Field(description="When it ends: the end of its last period (ISO 8601).")
    pool: str | None = Field(
        default=None,
        description="The pool it runs in (a run that migrates changes pool between "
        "segments; None: the placement's pool).",
    )
    site: str | None = Field(default=None, description="The pool's site (None: the placement's).")
    accelerator: str | None = Field(default=None, description="The pool's accelerator type.")
    gpus: int | float | None = Field(default=None, description="GPUs it holds in this pool.")
    it_kw: float | None = Field(default=None, description="IT kW it draws in this pool.")
    facility_kw: float | None = Field(default=None, description="Facility kW (IT x PUE).")
    cost_usd: float | None = Field(
        default=None,
        description="Cost of its periods, whole, USD, with the dataset's egress when it is "
        "the run's first segment at a site other than the dataset's (no move's cost: "
        "the placement's migration_usd).",
    )
    carbon_kg: float | None = Field(default=None, description="Emissions of its periods, kg.")
    water_l: float | None = Field(default=None, description="Water of its periods, L.")


class Placement(_PlanModel):
    """One placed unit: a training gang or one copy of an inference replica set."""

    unit: str
    workload: str
    kind: Literal["training", "inference"]
    region: str | None = None
    copy_index: int = 0
    site: str
    pool: str
    accelerator: str
    gpus: int | float
    replicas: int = 0
    latency_ms: float | None = Field(default=None, description="RTT to the region, ms.")
    hours: float | None = Field(default=None, description="Training run length here, h.")
    it_kw: float
    facility_kw: float
    cost_usd_per_h: float
    carbon_kg_per_h: float
    water_l_per_h: float
    period: int | None = Field(
        default=None, description="Timed inference: the period this unit serves (0-based)."
    )
    part: int = Field(default=0, description="Timed inference: which equal demand share.")
    start_period: int | None = Field(
        default=None, description="Timed plans: the first period the unit runs in (0-based)."
    )
    periods: int | None = Field(
        default=None,
        description="Timed plans: consecutive periods it runs in (a preempted run: the "
        "periods it runs in, over its segments).",
    )
    start: str | None = Field(default=None, description="Timed plans: when it starts (ISO 8601).")
    end: str | None = Field(
        default=None,
        description="Timed plans: when it ends (ISO 8601; a run may end inside its last "
        "period, which it holds whole).",
    )
    cost_usd: float | None = Field(
        default=None,
        description="Timed plans: cost over its run, USD (cost_usd_per_h is "
        "this per hour of the horizon).",
    )
    carbon_kg: float | None = Field(default=None, description="Timed plans: emissions, kg.")
    water_l: float | None = Field(default=None, description="Timed plans: water, L.")
    segments: list[Segment] | None = Field(
        default=None,
        description="A preemptible training run that pauses: the segments it runs in, in "
        "order (whole periods; start_period and start are the first's, end the last's). "
        "None: it runs contiguously.",
    )
    resumes: int | None = Field(
        default=None,
        description="A preempted run: its resumes (segments - 1 in one pool; a run that "
        "migrates: the starts after a pause in the pool it last ran on), each adding the "
        "workload's restore_overhead_h of running time.",
    )
    moves: int | None = Field(
        default=None,
        description="A run that migrates: its moves (segments that start in a pool other "
        "than the one it last ran on), each adding migration_overhead_h of running time "
        "on the pool moved to. None: it runs in one pool.",
    )
    migration_usd: float | None = Field(
        default=None,
        description="A run that migrates: moves x the workload's migration_usd, USD; not in "
        "cost_usd (nor in any site's cost); in the plan's and the horizon's cost.",
    )
    ttft_ms: float | None = Field(
        default=None,
        description="Token-served inference: time to first token at the burst rate, ms "
        "(RTT + queueing + prefill of a p95 prompt; docs/serving.md).",
    )
    prompt_tokens_per_s: float | None = Field(
        default=None, description="Token-served inference: prompt tokens/s served."
    )
    output_tokens_per_s: float | None = Field(
        default=None, description="Token-served inference: output tokens/s served."
    )
    usd_per_1k_prompt_tokens: float | None = Field(
        default=None,
        description="Token-served inference: cost per 1,000 prompt tokens, USD (the cost's "
        "prefill share of the replicas' busy time).",
    )
    usd_per_1k_output_tokens: float | None = Field(
        default=None,
        description="Token-served inference: cost per 1,000 output tokens, USD (the decode share).",
    )
    usd_per_1k_tokens: float | None = Field(
        default=None,
        description="Token-served inference: cost per 1,000 tokens, prompt and output "
        "together, USD.",
    )
    decode_pool: str | None = Field(
        default=None,
        description="Prefill/decode disaggregation: the pool (same site) running the "
        "decode replicas; `pool` runs the prefill replicas, `replicas` counts them and "
        "`gpus` is both phases' GPUs (docs/serving.md). None: one replica does both.",
    )
    decode_accelerator: str | None = Field(
        default=None, description="Disaggregated: the decode pool's accelerator."
    )
    decode_replicas: int | None = Field(default=None, description="Disaggregated: decode replicas.")
    decode_gpus: int | float | None = Field(
        default=None, description="Disaggregated: GPUs of the decode replicas (in `gpus`)."
    )
    kv_transfer_usd_per_h: float | None = Field(
        default=None,
        description="Disaggregated: KV cache moved from prefill to decode in normal "
        "operation, priced, USD/h (in `cost_usd_per_h`).",
    )


class UnitRef(_PlanModel):
    """Which placement unit: its name and the identity it keeps across plans (workload,
    region, copy; in a timed plan also the period and demand share of a service)."""

    unit: str
    workload: str
    region: str | None = None
    copy_index: int = 0
    period: int | None = None
    part: int = 0


class Unplaced(UnitRef):
    """A unit the plan leaves out, and why."""

    must_place: bool
    value_usd_per_h: float
    reason: str


class SiteUsage(_PlanModel):
    """Use of one site's capacities (nameplate capacities; null = uncapped)."""

    site: str
    tier: str
    gpus_used: int | float
    gpus_total: int
    it_kw: float
    it_capacity_kw: float | None
    facility_kw: float
    grid_cap_kw: float | None
    heat_kw: float
    heat_rejection_kw: float | None
    water_l_per_h: float
    water_cap_l_per_h: float | None
    cost_usd_per_h: float
    carbon_kg_per_h: float


class Totals(_PlanModel):
    """Whole-plan KPIs."""

    cost_usd_per_h: float
    carbon_kg_per_h: float
    water_l_per_h: float
    unplaced_value_usd_per_h: float
    objective_usd_per_h: float
    gpus: int | float
    placed_units: int
    unplaced_units: int
    prompt_tokens_per_s: float | None = Field(
        default=None,
        description="Token-served inference: prompt tokens/s served (a timed plan: the "
        "mean over the horizon); null without token-served workloads.",
    )
    output_tokens_per_s: float | None = Field(
        default=None, description="Token-served inference: output tokens/s served."
    )
    usd_per_1k_prompt_tokens: float | None = Field(
        default=None,
        description="Cost of the token-served placements' prefill share per 1,000 prompt "
        "tokens, USD.",
    )
    usd_per_1k_output_tokens: float | None = Field(
        default=None,
        description="Cost of their decode share per 1,000 output tokens, USD.",
    )
    usd_per_1k_tokens: float | None = Field(
        default=None,
        description="Cost of the token-served placements per 1,000 tokens (prompt and "
        "output), USD.",
    )


class GpuUtilization(_PlanModel):
    """GPUs in use against GPUs installed, of one pool (or a whole site: pool null); a
    timed plan states the peak over its periods of both."""

    site: str
    pool: str | None = None
    accelerator: str | None = None
    gpus_used: int | float
    gpus_total: int
    utilization: float | None = Field(
        description="gpus_used / gpus_total (null: no GPUs installed)."
    )


class PoolNodes(_PlanModel):
    """The nodes of one pool with node shapes under the plan: a packing of its pods
    (largest first, each on the first node with room) and the free GPUs it leaves."""

    site: str
    pool: str
    nodes: int
    nodes_used: int = Field(description="Nodes without MIG holding at least one pod.")
    pods: int = Field(description="Pods on the pool (MIG replicas included).")
    gpus_total: int
    free_gpus: int | float = Field(description="Free GPUs on the nodes without MIG.")
    usable_free_gpus: dict[str, int | float] = Field(
        description="Pod size (GPUs) -> free GPUs that pods of that size can still use, "
        "for the pod sizes the scenario's workloads ask of this pool's nodes without MIG."
    )
    fragmented_gpus: int | float = Field(
        description="Free GPUs the largest of those pod sizes cannot use (free GPUs "
        "split across nodes): free_gpus - usable_free_gpus[largest]."
    )
    mig_gpus: int = Field(default=0, description="GPUs on the pool's MIG nodes.")
    mig_layouts: dict[str, int] = Field(
        default_factory=dict,
        description="MIG layout (profiles of one GPU, largest first, '+'-joined) -> GPUs "
        "set up so, for the MIG replicas placed; the other MIG GPUs are free.",
    )


class PlanHorizon(_PlanModel):
    """The periods of a timed plan and its totals over them (every `_per_h` figure of a
    timed plan is the total divided by the horizon's hours)."""

    start: str
    period_hours: float
    periods: int
    hours: float
    cost_usd: float
    carbon_kg: float
    water_l: float
    unplaced_value_usd: float
    objective_usd: float
    over_limit_usd: float = Field(
        default=0.0,
        description="Of cost_usd: what drawing above the caps of grid events priced per "
        "kWh costs over the horizon, USD (the sum of site_periods' over_limit_usd).",
    )
    startup_cost_usd: float = Field(
        default=0.0,
        description="Of cost_usd: what starting added inference replicas costs over the "
        "horizon, USD (`startup`).",
    )
    migration_cost_usd: float = Field(
        default=0.0,
        description="Of cost_usd: what the moves of training runs between pools cost over "
        "the horizon, USD (the placements' migration_usd).",
    )
    cost_usd_per_period_h: list[float] | None = Field(
        default=None,
        description="Only when the scenario caps spend or carbon per period: what the plan "
        "spends in each period / its hours, USD/h (GPU-hours and energy run in it, dataset "
        "egress in the first period of the run's window, start-ups and priced excess in "
        "their period; docs/time.md).",
    )
    budget_usd_per_period_h: list[float | None] | None = Field(
        default=None,
        description="With cost_usd_per_period_h: the scenario's cap in each period, USD/h "
        "(null: none).",
    )
    carbon_kg_per_period_h: list[float] | None = Field(
        default=None,
        description="With cost_usd_per_period_h: what the plan emits in each period / its "
        "hours, kgCO2e/h.",
    )
    carbon_cap_kg_per_period_h: list[float | None] | None = Field(
        default=None,
        description="With cost_usd_per_period_h: the scenario's cap in each period, kgCO2e/h "
        "(null: none).",
    )


class ServiceStartup(_PlanModel):
    """The replicas one service (with startup_usd_per_replica) starts over a timed plan.

    In each pool and period t >= 1, the replicas the service runs there (all regions,
    shares and copies) above those of period t - 1 are started; the replicas of period 0
    are the starting fleet and are not charged (docs/time.md)."""

    workload: str
    usd_per_replica: float = Field(description="The workload's startup_usd_per_replica.")
    replicas_started: int = Field(description="Replicas started over the horizon.")
    cost_usd: float = Field(description="replicas_started x usd_per_replica, USD.")


class SitePeriods(_PlanModel):
    """One site over the periods of a timed plan: what it uses and may use in each
    (nameplate capacities before headroom; null: uncapped)."""

    site: str
    gpus_used: list[int]
    gpus_total: list[int]
    it_kw: list[float]
    it_capacity_kw: list[float | None]
    facility_kw: list[float]
    facility_cap_kw: list[float | None] = Field(
        description="The facility power the site may draw: the lower of the grid cap and "
        "IT capacity x PUE, less any grid event's cut."
    )
    heat_kw: list[float]
    water_l_per_h: list[float]
    price_usd_per_kwh: list[float]
    carbon_g_per_kwh: list[float]
    event_cap_kw: list[float | None] | None = Field(
        default=None,
        description="Only for a site with a grid event priced per kWh: in each period, the "
        "lowest cap of the priced events that touch it, kW (null: none); the facility draw "
        "above it is paid (docs/time.md).",
    )
    over_limit_kw: list[float] | None = Field(
        default=None,
        description="With event_cap_kw: the facility draw above it in each period, kW.",
    )
    over_limit_usd: list[float] | None = Field(
        default=None,
        description="With event_cap_kw: what that excess costs in each period, USD: "
        "over_limit_kw x the period's hours x the highest price of the priced events "
        "that touch it; in the site's and the plan's cost.",
    )


class CapacityPrice(_PlanModel):
    """Marginal value of one more unit of a binding capacity, USD/h per unit, with the
    range over which it holds and, where measured, what a whole step is worth."""

    site: str
    resource: str
    usd_per_h_per_unit: float
    unit: str
    holds_for_units: float | None = Field(
        default=None,
        description="How many units can be added before the price drops (parametric LP "
        "re-solves; null: not measured, or see holds_as_far_as_searched). Beyond it one "
        "more unit is worth less: never scale the price past it.",
    )
    holds_as_far_as_searched: bool = Field(
        default=False,
        description="The price held up to 64 x the capacity added, the end of the search.",
    )
    step_units: float | None = Field(
        default=None, description="A step a person would add (1 MW, one node of GPUs), units."
    )
    step_saving_usd_per_h: float | None = Field(
        default=None,
        description="What that step saves, USD/h: the MILP re-solved with the capacity "
        "raised by step_units (not the price scaled).",
    )
    periods: int | None = Field(
        default=None,
        description="Timed plans: the periods in which this capacity binds; the price is "
        "the sum of theirs (one more unit in every period), and its range is not measured.",
    )


class CapacityAddition(_PlanModel):
    """One capacity addition that (with the others listed) makes the scenario feasible."""

    site: str
    resource: str
    amount: float = Field(
        description="What to add to the scenario's field, in its unit, rounded up (GPUs, "
        "kW, L/day of water, USD/h, kg/h)."
    )
    text: str


class Fix(_PlanModel):
    """One way to make the scenario feasible, re-solved with it applied before it is shown."""

    label: str = Field(
        description='"fewest changes", "smallest additions" or "drop only"; two joined by a '
        "comma when both criteria gave the same fix."
    )
    additions: list[CapacityAddition] = Field(default_factory=list)
    drops: list[str] = Field(default_factory=list, description="Must-place units to drop.")
    set: list[str] = Field(
        default_factory=list,
        description="The `placer whatif --set PATH=VALUE` changes that apply the fix (a drop "
        "makes its workload optional).",
    )
    minimal: bool = Field(description="Its elastic solve proved it minimal for its label.")
    proven: bool = Field(description="The re-solve with the fix applied found a plan.")
    status_after: Status | None = Field(
        default=None, description="Status of that re-solve (null: not re-solved)."
    )
    objective_after_usd_per_h: float | None = None


class Infeasibility(_PlanModel):
    """Why no plan exists, in the scenario's words, and the fixes found."""

    unplaceable: list[Unplaced] = Field(default_factory=list)
    additions: list[CapacityAddition] = Field(
        default_factory=list, description="The first proven capacity fix's additions."
    )
    drops: list[str] = Field(default_factory=list, description="Units to drop instead.")
    fixes: list[Fix] = Field(
        default_factory=list, description="Every fix found, proven ones first."
    )
    complete: bool = True
    summary: str = ""


class SecureCover(_PlanModel):
    """What an N-1 secure plan (`placer solve --secure`) absorbs."""

    mode: Literal["n-1", "n-1-domains"]
    covered: list[str] = Field(
        description="Sites (or failure domains) whose loss the plan absorbs: the must-place "
        "units there fit elsewhere, within their SLOs, in what the other units leave."
    )
    not_covered: list[str] = Field(
        default_factory=list,
        description="Losses no plan absorbs together with the covered ones (each was tried).",
    )
    unprotectable: list[str] = Field(
        default_factory=list,
        description="Must-place units whose every allowed pool lies in one failure: 'unit "
        "(only at X)'; left out of that failure.",
    )
    plain_objective_usd_per_h: float | None = Field(
        default=None, description="The best plan found without the security, USD/h."
    )
    price_usd_per_h: float | None = Field(
        default=None, description="This plan's objective less the plain one's, USD/h."
    )


class Plan(_PlanModel):
    """A placement and the proof of how good it is."""

    apiVersion: Literal["placer/v1"] = PLAN_API_VERSION
    kind: Literal["Plan"] = "Plan"
    scenario: str = ""
    status: Status
    message: str = ""
    solver: str
    seed: int = 0
    time_limit_s: float | None = None
    wall_s: float = 0.0
    objective_usd_per_h: float | None = None
    bound_usd_per_h: float | None = None
    gap: float | None = None
    bound_scope: Literal["full", "restricted"] | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    placements: list[Placement] = Field(default_factory=list)
    unplaced: list[Unplaced] = Field(default_factory=list)
    sites: list[SiteUsage] = Field(default_factory=list)
    totals: Totals | None = None
    capacity_prices: list[CapacityPrice] = Field(default_factory=list)
    diagnostics: list[str] = Field(default_factory=list)
    infeasibility: Infeasibility | None = None
    horizon: PlanHorizon | None = Field(
        default=None, description="Timed plans: the periods and the totals over them."
    )
    site_periods: list[SitePeriods] = Field(
        default_factory=list, description="Timed plans: each site's use in each period."
    )
    startup: list[ServiceStartup] = Field(
        default_factory=list,
        description="Timed plans: the replicas each service with startup_usd_per_replica "
        "starts and what they cost (in the cost and the objective).",
    )
    secure: SecureCover | None = Field(
        default=None, description="N-1 secure plans: the losses the plan absorbs."
    )
    gpu_utilization: list[GpuUtilization] = Field(
        default_factory=list,
        description="Scenarios with token-served workloads or node shapes: GPUs used / "
        "installed per pool, then per site.",
    )
    nodes: list[PoolNodes] = Field(
        default_factory=list,
        description="Pools with node shapes: how the plan's pods sit on nodes and what "
        "the free GPUs can still take (docs/nodes.md).",
    )


class ParetoPoint(_PlanModel):
    """One solved point of a cost-carbon sweep (epsilon-constraint on carbon)."""

    carbon_cap_kg_per_h: float | None = Field(
        description="The epsilon: carbon limit this point was solved under (None: no cap)."
    )
    status: Status
    cost_usd_per_h: float | None = None
    carbon_kg_per_h: float | None = None
    water_l_per_h: float | None = None
    objective_usd_per_h: float | None = Field(
        default=None,
        description=(
            "The swept objective: cost + priced water + value of unplaced work, USD/h "
            "(the scenario's objective with its carbon price set to 0)."
        ),
    )
    gap: float | None = Field(default=None, description="Proven relative gap of this point.")
    mean_latency_ms: float | None = Field(
        default=None, description="Replica-weighted mean RTT of inference placements, ms."
    )
    unplaced_units: int = 0
    wall_s: float = 0.0
    plan: Plan | None = Field(default=None, description="The full plan, when kept.")
    bound_usd_per_h: float | None = Field(
        default=None, description="Proven lower bound of the objective under this cap, USD/h."
    )
    unplaced_value_usd_per_h: float | None = Field(
        default=None, description="Value of the units this point leaves out, USD/h."
    )
    implied_carbon_price_usd_per_t: float | None = Field(
        default=None,
        description=(
            "Extra objective per tonne of CO2e avoided, from the previous (cheaper) point of "
            "the front to this one, USD/t: (objective - previous) / (previous carbon - "
            "carbon) x 1000. None for the cheapest point and for dropped points."
        ),
    )
    source: Literal["solve", "neighbours"] = Field(
        default="solve",
        description=(
            "solve: a MILP solve under this cap; neighbours: certified without a solve, from "
            "a plan of a tighter cap and the bound of a looser one."
        ),
    )
    note: str = Field(default="", description="Why a dropped point was dropped.")


class ParetoFront(_PlanModel):
    """Cost against carbon: non-dominated points, cheapest first."""

    apiVersion: Literal["placer/v1"] = PLAN_API_VERSION
    kind: Literal["ParetoFront"] = "ParetoFront"
    scenario: str = ""
    solver: str = "milp"
    wall_s: float = 0.0
    single_solve_s: float | None = Field(
        default=None, description="Time of one plain solve of the same scenario, for comparison."
    )
    points: list[ParetoPoint] = Field(default_factory=list)
    status: Status = Field(
        default="optimal",
        description=(
            "optimal: every point proven within relative_gap; feasible: some point only "
            "within its stated gap (time limit); infeasible / no_solution: no front."
        ),
    )
    message: str = ""
    relative_gap: float | None = Field(
        default=None, description="Relative gap each point was solved to."
    )
    grid_points: int = Field(default=0, description="Carbon caps swept (the requested count).")
    solves: int = Field(default=0, description="MILP solves, endpoints included.")
    carbon_min_kg_per_h: float | None = Field(
        default=None, description="Least carbon of any plan (the sweep's lowest cap), kg/h."
    )
    carbon_max_kg_per_h: float | None = Field(
        default=None, description="Carbon of the cheapest plan (the highest cap), kg/h."
    )
    dropped: list[ParetoPoint] = Field(
        default_factory=list,
        description="Swept caps whose plan duplicates or is dominated by a kept point.",
    )
