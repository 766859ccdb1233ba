"""Sites (edge, on-prem, cloud) and the accelerator pools they hold."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from placer.model.catalog import CoolingType
from placer.model.common import Id, Location, NonNegativeFloat, PositiveFloat, StrictModel

Tier = Literal["edge", "onprem", "cloud"]


class Power(StrictModel):
    """Electrical envelope and energy economics of a site."""

    it_capacity_kw: PositiveFloat | None = Field(
        default=None,
        description="IT power the site can feed, kW. Required for edge and on-prem sites; "
        "optional for cloud sites, whose limit is the pools' GPU quota.",
    )
    pue: float = Field(ge=1.0, le=3.0, description="Facility power / IT power (>= 1).")
    grid_cap_kw: PositiveFloat | None = Field(
        default=None, description="Facility (grid connection) cap, kW: IT kW x PUE must fit."
    )
    price_usd_per_kwh: NonNegativeFloat = Field(
        default=0.0,
        description="Electricity tariff, USD/kWh of facility energy. 0 for cloud sites, "
        "whose GPU-hour price already includes energy.",
    )
    carbon_g_per_kwh: NonNegativeFloat = Field(
        description="Grid carbon intensity, gCO2e/kWh of facility energy."
    )


class Cooling(StrictModel):
    """Heat rejection and water of a site.

    Cooling type and rack density are checked for edge and on-prem sites only: a cloud
    provider's pool comes with the cooling its accelerators need.
    """

    type: CoolingType = "air"
    heat_rejection_kw: PositiveFloat | None = Field(
        default=None, description="Heat the plant can reject, kW; defaults to IT capacity."
    )
    max_rack_density_kw: PositiveFloat = Field(
        default=40.0, description="Densest rack the hall can cool, kW (air tops out ~30-40)."
    )
    wue_l_per_kwh: NonNegativeFloat = Field(
        default=0.0, description="Water usage effectiveness, litres per kWh of IT energy."
    )
    water_cap_l_per_day: PositiveFloat | None = Field(
        default=None, description="Water the site may draw, litres/day."
    )


class Pool(StrictModel):
    """GPUs of one accelerator type at one site."""

    id: Id | None = Field(default=None, description="Pool id within the site; default: type.")
    accelerator: Id = Field(description="Accelerator type id from the catalog.")
    gpus: int = Field(ge=0, le=10_000_000, description="GPUs in the pool.")
    gpus_per_node: int = Field(default=8, ge=1, le=1024)
    nodes_per_rack: int = Field(default=4, ge=1, le=256)
    node_power_kw: PositiveFloat | None = Field(
        default=None,
        description="Node power at full load, kW; default: GPUs per node x TDP x the "
        "catalog's node_overhead_factor.",
    )
    cost_usd_per_gpu_h: NonNegativeFloat = Field(
        description="Amortised capex (on-prem, edge) or market price (cloud), USD/GPU-hour."
    )
    spot_cost_usd_per_gpu_h: NonNegativeFloat | None = Field(
        default=None, description="Spot / preemptible price, USD/GPU-hour (spot_ok workloads)."
    )

    @property
    def key(self) -> str:
        """Pool id within its site (the accelerator id unless given)."""
        return self.id or self.accelerator


class Site(StrictModel):
    """A place that can host workloads."""

    id: Id
    tier: Tier
    location: Location
    failure_domain: str | None = Field(
        default=None, description="Shared-fate group (power feed, region); default: site id."
    )
    cluster: str | None = Field(
        default=None, description="Orchestrator cluster or cloud account name, for exports."
    )
    power: Power
    cooling: Cooling = Cooling()
    egress_usd_per_gb: NonNegativeFloat = Field(
        default=0.0, description="Price of data leaving the site, USD/GB."
    )
    pools: list[Pool] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_pools(self) -> Site:
        if self.tier != "cloud" and self.power.it_capacity_kw is None:
            raise ValueError(
                "power.it_capacity_kw: required for edge and on-prem sites (the IT power the "
                "site can feed, kW); only cloud sites may leave it out"
            )
        seen: set[str] = set()
        for i, pool in enumerate(self.pools):
            if pool.key in seen:
                raise ValueError(
                    f"pools.{i}.id: duplicate pool {pool.key!r} at site {self.id!r}; "
                    "give each pool of the same accelerator its own id"
                )
            seen.add(pool.key)
        return self

    @property
    def checks_racks(self) -> bool:
        """Cooling type and rack density are checked for sites we run (not cloud)."""
        return self.tier != "cloud"

    @property
    def it_cap_kw(self) -> float:
        """IT capacity, kW (inf when a cloud site gives none)."""
        return self.power.it_capacity_kw or float("inf")

    @property
    def heat_cap_kw(self) -> float:
        """Heat-rejection capacity, kW (defaults to the IT capacity)."""
        return self.cooling.heat_rejection_kw or self.it_cap_kw

    @property
    def domain(self) -> str:
        """Failure domain (the site id when none is given)."""
        return self.failure_domain or self.id
