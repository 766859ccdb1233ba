"""Workloads: training runs (one gang) and inference services (replica sets per region)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from placer.model.common import (
    MAX_GANG_GPUS,
    MAX_HOURS,
    MAX_MEMORY_GB,
    MAX_MS,
    MAX_POOL_GPUS,
    MAX_RPS,
    MAX_SIZE_GB,
    MAX_USD_PER_H,
    MIN_RPS_PER_REPLICA,
    CountryCode,
    DemandRps,
    Fraction,
    Id,
    StrictModel,
    expand_country_groups,
)
from placer.model.horizon import Instant, parse_instant
from placer.model.mig import all_profile_names
from placer.model.nodes import MAX_GPU_SHARES, Pod
from placer.model.serving import (
    MAX_TOKENS_PER_S,
    Tokens,
    check_token_figures,
    fill_from_table,
)


class Dataset(StrictModel):
    """Where a training run's data lives; moving it elsewhere costs egress."""

    site: Id
    size_gb: float = Field(ge=0, le=MAX_SIZE_GB)


class Serving(StrictModel):
    """How one accelerator type serves an inference workload: requests/s per replica, or,
    for a workload with `tokens`, prefill and decode tokens/s per replica (default: the
    table in placer/data/serving.yaml; docs/serving.md)."""

    rps_per_replica: float | None = Field(
        default=None,
        ge=MIN_RPS_PER_REPLICA,
        le=MAX_RPS,
        description="Requests/s one replica sustains. Required without `tokens`; with "
        "them, default 1 / (mean prompt / prefill + mean output / decode).",
    )
    gpus_per_replica: int | float = Field(
        default=1,
        gt=0,
        le=1024,
        description="GPUs one replica holds: a whole number, or a fraction below 1 for a "
        "replica that shares one GPU (counted as the power of two at or above it: 1/2, "
        "1/4, 1/8; docs/nodes.md).",
    )
    mig: str | None = Field(
        default=None,
        description="MIG profile one replica runs in (e.g. 1g.10gb on H100 80GB), instead "
        "of whole GPUs: it runs on the GPUs of MIG node shapes (docs/nodes.md).",
    )
    prefill_tokens_per_s: float | None = Field(
        default=None,
        gt=0,
        le=MAX_TOKENS_PER_S,
        description="With tokens: prompt tokens/s one replica prefills at full load.",
    )
    decode_tokens_per_s: float | None = Field(
        default=None,
        gt=0,
        le=MAX_TOKENS_PER_S,
        description="With tokens: output tokens/s one replica generates at full load, "
        "over all sequences of its batch (decode_batch).",
    )
    decode_batch: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="With tokens: concurrent sequences at which decode_tokens_per_s holds.",
    )

    @model_validator(mode="after")
    def _check_share(self) -> Serving:
        g = self.gpus_per_replica
        if g > 1 and g != int(g):
            raise ValueError(
                f"gpus_per_replica: {g} is neither a whole number of GPUs nor a share of one "
                "GPU (below 1)"
            )
        if g < 1 / MAX_GPU_SHARES:
            raise ValueError(f"gpus_per_replica: {g} is below 1/{MAX_GPU_SHARES} of a GPU")
        if self.mig is not None and self.gpus_per_replica != 1:
            raise ValueError("mig: a MIG replica holds its profile, not gpus_per_replica; give one")
        if self.mig is not None and self.mig not in all_profile_names():
            raise ValueError(
                f"mig: {self.mig!r} is not a MIG profile; known: "
                + ", ".join(sorted(all_profile_names()))
            )
        return self


class Redundancy(StrictModel):
    """Copies of each region's replica set on distinct sites or failure domains.

    Each copy is sized to carry demand / (copies - survive_failures), so losing
    `survive_failures` copies still serves all demand: copies=2, survive_failures=1 is
    active-active 2N; copies=3, survive_failures=1 is N+1 with N=2.
    """

    copies: int = Field(default=1, ge=1, le=16)
    spread: Literal["site", "failure_domain"] = "site"
    survive_failures: int | None = Field(
        default=None, ge=0, le=15, description="Copies that may fail; default copies - 1."
    )

    @model_validator(mode="after")
    def _check(self) -> Redundancy:
        if self.survive_failures is not None and self.survive_failures >= self.copies:
            raise ValueError("survive_failures must be smaller than copies")
        return self

    @property
    def failures(self) -> int:
        """Copies that may fail while demand is still served."""
        return self.copies - 1 if self.survive_failures is None else self.survive_failures


#: Defaults of a move when `migration` leaves them out (`placer replan`), assumptions:
#: a training run's checkpoint is ~2 GB of sharded weights and optimizer state per GPU
#: (16 bytes/parameter for mixed-precision Adam, ~1e8 parameters per GPU), and a move
#: costs half an hour of the destination's GPU time (save, copy, restore, and the work
#: since the last checkpoint); a service moves its replicas blue/green, paying 6 minutes
#: of the new replicas before the old ones stop, and copies no state.
DEFAULT_CHECKPOINT_GB_PER_GPU = 2.0
DEFAULT_TRAINING_MOVE_H = 0.5
DEFAULT_INFERENCE_MOVE_H = 0.1
MAX_MOVE_H = 1e4


class Migration(StrictModel):
    """What moving a running workload to another pool costs (`placer replan`)."""

    cost_usd: float | None = Field(
        default=None,
        ge=0,
        le=MAX_USD_PER_H,
        description="USD per move, all in; when given, the fields below are not used.",
    )
    checkpoint_gb: float | None = Field(
        default=None,
        ge=0,
        le=MAX_SIZE_GB,
        description="State copied when it leaves its site, GB, charged at the source "
        "site's egress price (default: training 2 GB per GPU, inference 0).",
    )
    downtime_h: float | None = Field(
        default=None,
        ge=0,
        le=MAX_MOVE_H,
        description="Hours of the destination's cost a move spends (save, copy, restore, "
        "warm-up; default: training 0.5, inference 0.1).",
    )


class _WorkloadBase(StrictModel):
    id: Id
    residency: Annotated[list[CountryCode] | None, BeforeValidator(expand_country_groups)] = Field(
        default=None,
        description="Countries the workload may run in (ISO codes; the groups EU and EEA "
        "expand to their members); default: anywhere.",
    )
    min_gpu_memory_gb: float | None = Field(default=None, gt=0, le=MAX_MEMORY_GB)
    value_usd_per_h: float | None = Field(
        default=None,
        ge=0,
        le=MAX_USD_PER_H,
        description="Value per hour when placed; lost (a penalty) when not.",
    )
    must_place: bool = True
    pin_sites: list[Id] | None = Field(default=None, description="Run only at these sites.")
    exclude_sites: list[Id] = Field(default_factory=list)
    spot_ok: bool = Field(default=False, description="May use a pool's spot price.")
    migration: Migration = Field(
        default_factory=lambda: Migration(),
        description="What a move of the running workload costs (placer replan).",
    )
    pod: Pod | None = Field(
        default=None,
        description="What one pod asks for, on pools that list node shapes (docs/nodes.md).",
    )

    @model_validator(mode="after")
    def _check_value(self) -> _WorkloadBase:
        for name in ("residency", "pin_sites"):
            if getattr(self, name) == []:
                raise ValueError(
                    f"{name}: an empty list allows nowhere; omit the key to allow "
                    "any, or name at least one"
                )
        if self.pin_sites and (both := set(self.pin_sites) & set(self.exclude_sites)):
            raise ValueError(f"exclude_sites: {sorted(both)} also in pin_sites; keep one")
        if not self.must_place and self.value_usd_per_h is None:
            raise ValueError(
                "value_usd_per_h is required when must_place is false "
                "(it is what the optimizer loses by leaving the workload out)"
            )
        return self


#: Hours a preemptible run adds per resume when restore_overhead_h is not given (an
#: assumption: a checkpoint restore and warm-up of a large run, docs/time.md).
DEFAULT_RESTORE_OVERHEAD_H = 0.25


class Training(_WorkloadBase):
    """A training run: all its GPUs in one pool of one site (a gang)."""

    kind: Literal["training"]
    gpus: int = Field(ge=1, le=MAX_GANG_GPUS)
    accelerators: list[Id] | None = Field(
        default=None, description="Acceptable types; the first is the speed reference."
    )
    hours: float = Field(
        gt=0, le=MAX_HOURS, description="Run length on the reference accelerator, h."
    )
    deadline_hours: float | None = Field(
        default=None,
        gt=0,
        le=MAX_HOURS,
        description="The run must end within this many hours of the start (of the "
        "horizon, when there is one).",
    )
    earliest_start: Instant | None = Field(
        default=None, description="With a horizon: the run may not start before this instant."
    )
    deadline: Instant | None = Field(
        default=None,
        description="With a horizon: the run must end by this instant (default: the "
        "horizon's end). Give this or deadline_hours, not both.",
    )
    utilization: Fraction = Field(default=0.9, description="Mean GPU load, (0, 1].")
    dataset: Dataset | None = None
    preemptible: bool = Field(
        default=False,
        description="With a horizon: the run may pause and resume within its window, in "
        "one pool, in whole periods (docs/time.md).",
    )
    restore_overhead_h: float | None = Field(
        default=None,
        ge=0,
        le=MAX_HOURS,
        description="A preemptible run's running hours added per resume (checkpoint "
        f"restore and warm-up), h; default {DEFAULT_RESTORE_OVERHEAD_H}.",
    )
    migration_usd: float | None = Field(
        default=None,
        ge=0,
        le=MAX_USD_PER_H,
        description="With a horizon: the run may move to another pool it may use (any "
        "pool of an accelerator type it accepts) between periods, at this cost per move, "
        "USD (checkpoint transfer, re-queue; all in). Absent: the run stays in one pool. "
        "A move also adds migration_overhead_h of running time on the pool moved to "
        "(docs/time.md).",
    )
    migration_overhead_h: float | None = Field(
        default=None,
        ge=0,
        le=MAX_HOURS,
        description="A migrating run's running hours added per move (checkpoint "
        "transfer and restore on the new pool), h; default "
        f"{DEFAULT_RESTORE_OVERHEAD_H} (an assumption: as restore_overhead_h's default).",
    )

    @property
    def overhead_h(self) -> float:
        """Hours added per resume of a preemptible run (the field or its default)."""
        if self.restore_overhead_h is None:
            return DEFAULT_RESTORE_OVERHEAD_H
        return float(self.restore_overhead_h)

    @property
    def migratable(self) -> bool:
        """Whether the run may move between pools (migration_usd is given)."""
        return self.migration_usd is not None

    @property
    def move_overhead_h(self) -> float:
        """Hours added per move of a migrating run (the field or its default)."""
        if self.migration_overhead_h is None:
            return DEFAULT_RESTORE_OVERHEAD_H
        return float(self.migration_overhead_h)

    @model_validator(mode="before")
    @classmethod
    def _no_startup(cls, data: object) -> object:
        if isinstance(data, dict) and "startup_usd_per_replica" in data:
            raise ValueError(
                "startup_usd_per_replica: a training run has no replicas to start; the "
                "start-up cost is a field of inference workloads (docs/time.md)"
            )
        return data

    @model_validator(mode="after")
    def _check_accelerators(self) -> Training:
        if self.accelerators == []:
            raise ValueError(
                "accelerators: an empty list accepts nothing; omit the key to "
                "accept any type, or name at least one"
            )
        if self.pod is not None and self.pod.gpus is not None and self.gpus % self.pod.gpus:
            raise ValueError(
                f"pod.gpus: {self.pod.gpus} does not divide the gang's {self.gpus} GPUs"
            )
        if self.deadline is not None and self.deadline_hours is not None:
            raise ValueError("deadline: give deadline or deadline_hours, not both")
        if self.restore_overhead_h is not None and not self.preemptible:
            raise ValueError(
                "restore_overhead_h: only a preemptible run (preemptible: true) has one"
            )
        if self.migration_overhead_h is not None and self.migration_usd is None:
            raise ValueError(
                "migration_overhead_h: only a run that may migrate (migration_usd given) has one"
            )
        if (
            self.earliest_start is not None
            and self.deadline is not None
            and parse_instant(self.deadline) <= parse_instant(self.earliest_start)
        ):
            raise ValueError("deadline: must be after earliest_start")
        return self


class Inference(_WorkloadBase):
    """An inference service: replica sets near the regions its demand comes from."""

    kind: Literal["inference"]
    demand_rps: dict[Id, DemandRps | Annotated[list[DemandRps], Field(min_length=1)]] = Field(
        description="User region -> requests/s; with a horizon, a list gives one value "
        "per period (the peak within it)."
    )
    demand_profile: list[Annotated[float, Field(ge=0, le=1)]] | None = Field(
        default=None,
        min_length=24,
        max_length=24,
        description="With a horizon: 24 factors in [0, 1], one per hour of the day (UTC "
        "offset of the horizon's start): each region's demand_rps is the peak, scaled by "
        "the factor of the hour a period starts in.",
    )
    split: int = Field(
        default=1,
        ge=1,
        le=64,
        description="With a horizon: each region's demand in each period may be carried "
        "by up to this many pools, in equal shares.",
    )
    serving: dict[Id, Serving] = Field(description="Accelerator type -> replica throughput.")
    latency_slo_ms: float = Field(
        gt=0, le=MAX_MS, description="Max network RTT site <-> region, ms."
    )
    redundancy: Redundancy = Redundancy()
    tokens: Tokens | None = Field(
        default=None,
        description="Token-level serving (docs/serving.md): size replicas by prompt and "
        "output tokens, KV-cache memory and a time-to-first-token SLO under bursts.",
    )
    startup_usd_per_replica: float | None = Field(
        default=None,
        ge=0,
        le=MAX_USD_PER_H,
        description="With a horizon: USD each time one replica is started (image pull, "
        "weight load, warm-up). In each pool and period t >= 1 the service's replicas "
        "there above those of period t - 1 (all regions, shares and copies) are started; "
        "period 0's replicas are the starting fleet, not charged (docs/time.md), unless "
        "running_replicas says what runs before the horizon.",
    )
    running_replicas: dict[str, Annotated[int, Field(ge=0, le=MAX_POOL_GPUS)]] | None = Field(
        default=None,
        description="With startup_usd_per_replica: the service's replicas running in each "
        "pool ('site/pool', as plans name pools) just before the horizon starts, all "
        "regions, shares and copies together (pools not named: 0). Period 0's replicas "
        "above these are then started and charged like any other period's (a fleet "
        "re-planned while it runs: docs/rolling.md).",
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_serving(cls, data: object) -> object:
        if isinstance(data, dict):
            for name in ("migration_usd", "migration_overhead_h", "preemptible"):
                if name in data:
                    raise ValueError(
                        f"{name}: a field of training runs; an inference service's replicas "
                        "move between periods on their own (startup_usd_per_replica prices "
                        "that, docs/time.md)"
                    )
        return fill_from_table(data)

    @model_validator(mode="after")
    def _check_serving(self) -> Inference:
        if not self.serving:
            raise ValueError("serving: name at least one accelerator type")
        if self.pod is not None and self.pod.gpus is not None:
            raise ValueError(
                "pod.gpus: an inference replica is one pod of serving.gpus_per_replica "
                "GPUs; leave pod.gpus out"
            )
        if self.tokens is not None:
            for acc, entry in self.serving.items():
                if entry.mig is not None:
                    raise ValueError(
                        f"serving.{acc}.mig: token sizing does not know MIG instances yet; "
                        "give rps_per_replica and leave tokens out, or use whole GPUs"
                    )
            check_token_figures(self.tokens, self.serving)
        for acc, entry in self.serving.items():
            if entry.rps_per_replica is None:
                raise ValueError(
                    f"serving.{acc}.rps_per_replica: required field is missing (or give "
                    "the workload `tokens` to size replicas by tokens)"
                )
        if not self.demand_rps:
            raise ValueError("demand_rps: name at least one user region")
        if self.demand_profile is not None and max(self.demand_profile) <= 0:
            raise ValueError("demand_profile: every factor is 0; the service would serve nothing")
        if self.running_replicas is not None and self.startup_usd_per_replica is None:
            raise ValueError(
                "running_replicas: only start-ups are counted from it; give "
                "startup_usd_per_replica too, or leave running_replicas out"
            )
        return self

    @property
    def peak_demand_rps(self) -> dict[str, float]:
        """Region -> the largest demand in any period, requests/s."""
        return {
            r: float(max(d)) if isinstance(d, list) else float(d)
            for r, d in self.demand_rps.items()
        }


Workload = Annotated[Training | Inference, Field(discriminator="kind")]
