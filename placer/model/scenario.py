"""The Scenario: what a user writes. Cross-references are checked once, here."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from placer.model.build_options import BuildOption, Planning, check_build_options
from placer.model.catalog import Accelerator, default_catalog
from placer.model.common import (
    MAX_KG_PER_H,
    MAX_MS,
    MAX_USD_PER_H,
    MAX_USD_PER_M3,
    MAX_USD_PER_T,
    Fraction,
    Id,
    Location,
    StrictModel,
)
from placer.model.horizon import Horizon, is_series, varying
from placer.model.site import Site
from placer.model.workload import Inference, Training, Workload

API_VERSION = "placer/v1"


class Metadata(StrictModel):
    """Free-form description of the scenario and where its numbers come from."""

    name: str = ""
    description: str = ""
    sources: list[str] = Field(default_factory=list)


class UserRegion(StrictModel):
    """A population of users whose requests inference workloads serve."""

    id: Id
    location: Location


class LatencyEntry(StrictModel):
    """A measured round-trip time that overrides the distance model for one pair."""

    site: Id
    region: Id
    rtt_ms: float = Field(ge=0, le=MAX_MS)


class Objective(StrictModel):
    """What to minimise (all terms in USD/h) and the global caps.

    objective = cost + carbon_price x carbon + water_price x water + value of unplaced work.
    """

    carbon_price_usd_per_t: float = Field(
        default=0.0,
        ge=0,
        le=MAX_USD_PER_T,
        description="Price of one tonne CO2e (internal carbon price), USD/t.",
    )
    water_price_usd_per_m3: float = Field(
        default=0.0, ge=0, le=MAX_USD_PER_M3, description="Shadow price of water, USD/m3."
    )
    budget_usd_per_h: float | None = Field(
        default=None, gt=0, le=MAX_USD_PER_H, description="Cost cap, USD/h."
    )
    carbon_cap_kg_per_h: float | None = Field(
        default=None, gt=0, le=MAX_KG_PER_H, description="Emissions cap, kgCO2e/h."
    )
    budget_usd_per_period_h: (
        varying(
            "Cost cap in each period (timed scenarios), USD/h: what the plan spends in a "
            "period (GPU-hours, energy at its tariff, egress, start-ups, priced excess) / "
            "the period's hours (docs/time.md).",
            ge=0,
            le=MAX_USD_PER_H,
        )
        | None
    ) = None
    carbon_cap_kg_per_period_h: (
        varying(
            "Emissions cap in each period (timed scenarios), kgCO2e/h: what the plan emits "
            "in a period / the period's hours (docs/time.md).",
            ge=0,
            le=MAX_KG_PER_H,
        )
        | None
    ) = None
    max_utilization: Fraction = Field(
        default=1.0, description="Headroom: no capacity may be used above this fraction."
    )
    mode: Literal["weighted", "lexicographic"] = Field(
        default="weighted",
        description="lexicographic: first maximise placed value, then minimise the weighted cost.",
    )


class Scenario(StrictModel):
    """A fleet of sites, its users and its AI workloads."""

    apiVersion: Literal["placer/v1"]
    kind: Literal["Scenario"]
    metadata: Metadata = Metadata()
    accelerators: list[Accelerator] = Field(
        default_factory=list, description="Types added to (or overriding) the default catalog."
    )
    sites: list[Site]
    user_regions: list[UserRegion] = Field(default_factory=list)
    latency_ms: list[LatencyEntry] = Field(default_factory=list)
    workloads: list[Workload]
    objective: Objective = Objective()
    horizon: Horizon | None = Field(
        default=None,
        description="Plan over periods of time (docs/time.md); without it the scenario is "
        "one static period.",
    )
    build_options: list[BuildOption] = Field(
        default_factory=list,
        description="What `placer plan-capacity` may build, buy or commit to, and when "
        "(docs/capacity.md); other commands ignore it.",
    )
    planning: Planning | None = Field(
        default=None,
        description="Capacity planning: discount rate, demand growth, months (docs/capacity.md).",
    )

    def catalog(self) -> dict[str, Accelerator]:
        """Accelerator id -> figures: the default catalog, then this scenario's entries."""
        merged = {a.id: a for a in default_catalog()}
        merged.update({a.id: a for a in self.accelerators})
        return merged

    @model_validator(mode="after")
    def _check_references(self) -> Scenario:
        if not self.sites:
            raise ValueError("sites: at least one site is required")
        _unique("accelerators", [a.id for a in self.accelerators])
        _unique("sites", [s.id for s in self.sites])
        _unique("user_regions", [r.id for r in self.user_regions])
        _unique("workloads", [w.id for w in self.workloads])
        catalog = self.catalog()
        sites = {s.id for s in self.sites}
        regions = {r.id for r in self.user_regions}
        pools = {f"{s.id}/{p.key}" for s in self.sites for p in s.pools}
        for i, site in enumerate(self.sites):
            for j, pool in enumerate(site.pools):
                _known(f"sites.{i}.pools.{j}.accelerator", [pool.accelerator], catalog)
        pairs: set[tuple[str, str]] = set()
        for i, entry in enumerate(self.latency_ms):
            if (entry.site, entry.region) in pairs:
                raise ValueError(
                    f"latency_ms.{i}: a second entry for site {entry.site!r} and "
                    f"region {entry.region!r}; keep one"
                )
            pairs.add((entry.site, entry.region))
            _known(f"latency_ms.{i}.site", [entry.site], sites)
            _known(f"latency_ms.{i}.region", [entry.region], regions)
        for i, w in enumerate(self.workloads):
            _known(f"workloads.{i}.pin_sites", w.pin_sites or [], sites)
            _known(f"workloads.{i}.exclude_sites", w.exclude_sites, sites)
            if isinstance(w, Training):
                _known(f"workloads.{i}.accelerators", w.accelerators or [], catalog)
                if w.dataset is not None:
                    _known(f"workloads.{i}.dataset.site", [w.dataset.site], sites)
            elif isinstance(w, Inference):
                _known(f"workloads.{i}.serving", list(w.serving), catalog)
                _known(f"workloads.{i}.demand_rps", list(w.demand_rps), regions)
                _known(f"workloads.{i}.running_replicas", list(w.running_replicas or {}), pools)
        _check_time(self)
        check_build_options(self)
        return self

    @property
    def timed(self) -> bool:
        """The scenario plans over a horizon of periods."""
        return self.horizon is not None


def _series_figures(scenario: Scenario):
    """(path, value) of every figure that may be given per period."""
    for i, site in enumerate(scenario.sites):
        base = f"sites.{i}"
        for name in ("it_capacity_kw", "grid_cap_kw", "price_usd_per_kwh", "carbon_g_per_kwh"):
            yield f"{base}.power.{name}", getattr(site.power, name)
        yield f"{base}.cooling.water_cap_l_per_day", site.cooling.water_cap_l_per_day
        for j, pool in enumerate(site.pools):
            yield f"{base}.pools.{j}.gpus", pool.gpus
    for i, w in enumerate(scenario.workloads):
        if isinstance(w, Inference):
            for region, demand in w.demand_rps.items():
                yield f"workloads.{i}.demand_rps.{region}", demand
    for name in PERIOD_CAP_FIELDS:
        yield f"objective.{name}", getattr(scenario.objective, name)


#: The objective's caps per period (docs/time.md): timed scenarios only.
PERIOD_CAP_FIELDS = ("budget_usd_per_period_h", "carbon_cap_kg_per_period_h")


def _time_fields(scenario: Scenario):
    """(path, value) of every field that only a timed scenario may set."""
    for i, site in enumerate(scenario.sites):
        base = f"sites.{i}"
        for j, pool in enumerate(site.pools):
            yield f"{base}.pools.{j}.available_from", pool.available_from
        yield f"{base}.power.available_from", site.power.available_from
        yield f"{base}.grid_events", site.grid_events or None
    for i, w in enumerate(scenario.workloads):
        if isinstance(w, Inference):
            yield f"workloads.{i}.demand_profile", w.demand_profile
            yield f"workloads.{i}.split", w.split if w.split > 1 else None
            yield f"workloads.{i}.startup_usd_per_replica", w.startup_usd_per_replica
            yield f"workloads.{i}.running_replicas", w.running_replicas
        else:
            yield f"workloads.{i}.earliest_start", w.earliest_start
            yield f"workloads.{i}.deadline", w.deadline
            yield f"workloads.{i}.preemptible", w.preemptible or None
            yield f"workloads.{i}.migration_usd", w.migration_usd
    for name in PERIOD_CAP_FIELDS:
        yield f"objective.{name}", getattr(scenario.objective, name)


def _check_time(scenario: Scenario) -> None:
    """Series have one value per period; time fields need a horizon."""
    horizon = scenario.horizon
    if horizon is not None:
        for i, site in enumerate(scenario.sites):
            for j, pool in enumerate(site.pools):
                if pool.nodes is not None:
                    raise ValueError(
                        f"sites.{i}.pools.{j}.nodes: node shapes are not supported with a "
                        "horizon yet (docs/nodes.md); remove the horizon or the nodes"
                    )
        for i, w in enumerate(scenario.workloads):
            if getattr(getattr(w, "tokens", None), "disaggregation", None) is not None:
                raise ValueError(
                    f"workloads.{i}.tokens.disaggregation: prefill/decode disaggregation "
                    "is not supported with a horizon yet (docs/serving.md); remove the "
                    "horizon or the disaggregation"
                )
    if horizon is None:
        for path, value in _time_fields(scenario):
            if value is not None:
                raise ValueError(
                    f"{path}: a time field needs a horizon (horizon: start, period_hours, "
                    "periods); remove it for a static scenario"
                )
    for path, value in _series_figures(scenario):
        if not is_series(value):
            continue
        if horizon is None:
            raise ValueError(
                f"{path}: a list of values per period needs a horizon (horizon: start, "
                "period_hours, periods); give one number for a static scenario"
            )
        if len(value) != horizon.periods:
            raise ValueError(
                f"{path}: {len(value)} values for {horizon.periods} periods; give one value "
                "per period"
            )


def _unique(path: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i, key in enumerate(ids):
        if key in seen:
            raise ValueError(f"{path}.{i}.id: duplicate id {key!r}; ids must be unique")
        seen.add(key)


def _known(path: str, refs: list[str], known: set[str] | dict[str, object]) -> None:
    import difflib

    for ref in refs:
        if ref not in known:
            close = difflib.get_close_matches(ref, list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {sorted(known)[:8]}"
            raise ValueError(f"{path}: unknown id {ref!r}{hint}")
