"""Sites (edge, on-prem, cloud) and the accelerator pools they hold."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_serializer, model_validator

from placer.model.catalog import CoolingType
from placer.model.common import (
    MAX_G_PER_KWH,
    MAX_L_PER_DAY,
    MAX_L_PER_KWH,
    MAX_POOL_GPUS,
    MAX_RACK_KW,
    MAX_SITE_KW,
    MAX_USD_PER_GB,
    MAX_USD_PER_GPU_H,
    MAX_USD_PER_KWH,
    MIN_USD_PER_KWH,
    Id,
    Location,
    StrictModel,
)
from placer.model.horizon import GridEvent, Instant, is_series, series_min, varying, varying_int
from placer.model.nodes import NodeShape, node_gpus

Tier = Literal["edge", "onprem", "cloud"]

#: Cloud providers a cloud-tier site may name, spelt as SkyPilot spells them (its
#: ALL_CLOUDS, less the ones that are not a provider's cloud: kubernetes, ssh, vsphere).
Cloud = Literal[
    "aws",
    "azure",
    "gcp",
    "oci",
    "ibm",
    "lambda",
    "nebius",
    "runpod",
    "vast",
    "cudo",
    "fluidstack",
    "paperspace",
    "do",
    "scp",
    "hyperbolic",
]

#: Kubernetes label key: an optional DNS-subdomain prefix and '/', then a name of at most
#: 63 characters (alphanumerics, '-', '_', '.'; alphanumeric at both ends).
_LABEL_KEY = re.compile(
    r"^(?:(?P<prefix>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*)/)?"
    r"(?P<name>[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)$"
)
_LABEL_VALUE = r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"
_RESOURCE_NAME = r"^[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$"


def _matches(pattern: str, max_len: int, what: str):
    """An after-validator: the string fits `pattern` and `max_len`, else ValueError
    saying it is not `what`."""

    def check(value: str) -> str:
        if len(value) > max_len or not re.match(pattern, value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return check


_check_label_value = _matches(
    _LABEL_VALUE,
    63,
    "a Kubernetes label value: at most 63 alphanumerics, '-', '_' or '.', alphanumeric "
    "at both ends",
)
_check_resource_name = _matches(
    _RESOURCE_NAME,
    253,
    "a Kubernetes extended resource name: a lowercase DNS-subdomain prefix, '/', a name, "
    "e.g. nvidia.com/gpu",
)


LabelValue = Annotated[
    str,
    AfterValidator(_check_label_value),
    Field(
        description="Kubernetes label value: at most 63 alphanumerics, '-', '_' or '.'; "
        "alphanumeric at both ends.",
        json_schema_extra={"maxLength": 63, "pattern": _LABEL_VALUE},
    ),
]
ResourceName = Annotated[
    str,
    AfterValidator(_check_resource_name),
    Field(json_schema_extra={"maxLength": 253, "pattern": _RESOURCE_NAME}),
]


class Power(StrictModel):
    """Electrical envelope and energy economics of a site.

    With a horizon, the capacities, the tariff and the carbon intensity may be given per
    period (a list, or a CSV file: see docs/time.md).
    """

    it_capacity_kw: (
        varying(
            "IT power the site can feed, kW. Required for edge and on-prem sites; optional "
            "for cloud sites, whose limit is the pools' GPU quota.",
            gt=0,
            le=MAX_SITE_KW,
        )
        | None
    ) = None
    pue: float = Field(ge=1.0, le=3.0, description="Facility power / IT power (>= 1).")
    grid_cap_kw: (
        varying("Facility (grid connection) cap, kW: IT kW x PUE must fit.", gt=0, le=MAX_SITE_KW)
        | None
    ) = None
    price_usd_per_kwh: varying(
        "Electricity tariff, USD/kWh of facility energy. 0 for cloud sites, whose GPU-hour "
        "price already includes energy. Negative in hours when the market pays to draw.",
        ge=MIN_USD_PER_KWH,
        le=MAX_USD_PER_KWH,
    ) = 0.0
    carbon_g_per_kwh: varying(
        "Grid carbon intensity, gCO2e/kWh of facility energy.", ge=0, le=MAX_G_PER_KWH
    )
    available_from: Instant | None = Field(
        default=None,
        description="With a horizon: the site's power is energised from this instant; "
        "before it the site can run nothing.",
    )


class Cooling(StrictModel):
    """Heat rejection and water of a site.

    Cooling type and rack density are checked for edge and on-prem sites only: a cloud
    provider's pool comes with the cooling its accelerators need.
    """

    type: CoolingType = "air"
    heat_rejection_kw: float | None = Field(
        default=None,
        gt=0,
        le=MAX_SITE_KW,
        description="Heat the plant can reject, kW; defaults to IT capacity.",
    )
    max_rack_density_kw: float = Field(
        default=40.0,
        gt=0,
        le=MAX_RACK_KW,
        description="Densest rack the hall can cool, kW (air tops out ~30-40).",
    )
    wue_l_per_kwh: float = Field(
        default=0.0,
        ge=0,
        le=MAX_L_PER_KWH,
        description="Water usage effectiveness, litres per kWh of IT energy.",
    )
    water_cap_l_per_day: (
        varying("Water the site may draw, litres/day.", gt=0, le=MAX_L_PER_DAY) | None
    ) = None


class Pool(StrictModel):
    """GPUs of one accelerator type at one site."""

    id: Id | None = Field(default=None, description="Pool id within the site; default: type.")
    accelerator: Id = Field(description="Accelerator type id from the catalog.")
    gpus: varying_int("GPUs in the pool.", ge=0, le=MAX_POOL_GPUS)
    available_from: Instant | None = Field(
        default=None,
        description="With a horizon: the pool's GPUs are usable from this instant (0 before).",
    )
    gpus_per_node: int = Field(default=8, ge=1, le=1024)
    nodes: list[NodeShape] | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description="Node shapes (docs/nodes.md): each pod of a workload must fit on one "
        "node. `gpus` may then be left out (it is the nodes' sum).",
    )
    nodes_per_rack: int = Field(default=4, ge=1, le=256)
    node_power_kw: float | None = Field(
        default=None,
        gt=0,
        le=MAX_RACK_KW,
        description="Node power at full load, kW; default: GPUs per node x TDP x the "
        "catalog's node_overhead_factor.",
    )
    cost_usd_per_gpu_h: float = Field(
        ge=0,
        le=MAX_USD_PER_GPU_H,
        description="Amortised capex (on-prem, edge) or market price (cloud), USD/GPU-hour.",
    )
    spot_cost_usd_per_gpu_h: float | None = Field(
        default=None,
        ge=0,
        le=MAX_USD_PER_GPU_H,
        description="Spot / preemptible price, USD/GPU-hour (spot_ok workloads).",
    )
    node_labels: dict[str, LabelValue] | None = Field(
        default=None,
        max_length=8,
        description="Kubernetes node labels that select this pool's nodes, for `placer "
        "export` (node affinity, Kueue ResourceFlavor nodeLabels; at most 8), e.g. "
        "{nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}; default: placer.dev/site=<site "
        "id> and placer.dev/pool=<pool id>.",
    )
    gpu_resource: ResourceName | None = Field(
        default=None,
        description="Kubernetes extended resource a pod requests this pool's accelerators "
        "by, for `placer export`; default from the catalog vendor: nvidia.com/gpu (NVIDIA), "
        "amd.com/gpu (AMD), google.com/tpu (Google).",
    )

    @model_validator(mode="before")
    @classmethod
    def _gpus_from_nodes(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("nodes") and "gpus" not in data:
            try:
                total = sum(int(n["count"]) * int(n["gpus"]) for n in data["nodes"])
            except (TypeError, KeyError, ValueError):
                return data  # the field validators say what is wrong
            return {**data, "gpus": total}
        return data

    @model_serializer(mode="wrap")
    def _derived_gpus_out(self, handler):
        """With node shapes, `gpus` is their sum: left out of a dump, so that a change to
        a shape's count (what-if, fixes) re-derives it."""
        data = handler(self)
        if self.nodes is not None and isinstance(data, dict):
            data.pop("gpus", None)
        return data

    @model_validator(mode="after")
    def _check_nodes(self) -> Pool:
        if self.nodes is None:
            return self
        if is_series(self.gpus) or self.gpus != node_gpus(self.nodes):
            raise ValueError(
                f"gpus: {self.gpus} but the nodes hold {node_gpus(self.nodes)}; with "
                "nodes, leave gpus out or give their sum (one number)"
            )
        return self

    @field_validator("node_labels")
    @classmethod
    def _check_node_labels(cls, labels: dict[str, str] | None) -> dict[str, str] | None:
        if labels is None:
            return labels
        if not labels:
            raise ValueError(
                "an empty map selects every node; omit node_labels for the default "
                "placer.dev/site and placer.dev/pool labels, or name at least one"
            )
        for key in labels:
            m = _LABEL_KEY.match(key)
            if m is None or len(m["name"]) > 63 or len(m["prefix"] or "") > 253:
                raise ValueError(
                    f"{key!r} is not a Kubernetes label key: [prefix/]name, the prefix a "
                    "lowercase DNS subdomain (<= 253 characters), the name <= 63 "
                    "alphanumerics, '-', '_' or '.', alphanumeric at both ends"
                )
        return labels

    @property
    def peak_gpus(self) -> int:
        """Installed GPUs: the most of any period when `gpus` is a series."""
        g = self.gpus
        return int(max(g, default=0)) if isinstance(g, list | tuple) else int(g)

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
    cloud: Cloud | None = Field(
        default=None,
        description="Cloud provider of a cloud-tier site, as SkyPilot names it (aws, gcp, "
        "azure, ...): `placer export --to skypilot` launches there, in location."
        "cloud_region. Leave it out for sites reached through their Kubernetes cluster.",
    )
    power: Power
    cooling: Cooling = Cooling()
    egress_usd_per_gb: float = Field(
        default=0.0, ge=0, le=MAX_USD_PER_GB, description="Price of data leaving the site, USD/GB."
    )
    pools: list[Pool] = Field(default_factory=list)
    grid_events: list[GridEvent] = Field(
        default_factory=list,
        description="With a horizon: windows in which the grid asks the site to draw less.",
    )

    @model_validator(mode="after")
    def _check_pools(self) -> Site:
        if self.cloud is not None and self.tier != "cloud":
            raise ValueError(
                f"cloud: {self.cloud!r} on a {self.tier} site; only cloud-tier sites run in a "
                "provider's cloud (reach edge and on-prem sites through `cluster`)"
            )
        if self.tier != "cloud" and self.power.it_capacity_kw is None:
            raise ValueError(
                "power.it_capacity_kw: required for edge and on-prem sites (the IT power the "
                "site can feed, kW); only cloud sites may leave it out"
            )
        _unique_events(self.grid_events)
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
        """IT capacity, kW (inf when a cloud site gives none; the least over the periods
        when it varies)."""
        cap = self.power.it_capacity_kw
        return float("inf") if cap is None else series_min(cap)

    @property
    def heat_cap_kw(self) -> float:
        """Heat-rejection capacity, kW (defaults to the IT capacity)."""
        return self.cooling.heat_rejection_kw or self.it_cap_kw

    @property
    def varies(self) -> bool:
        """Some figure of the site or its pools is given per period, or it has events or
        a date its power arrives."""
        figures = [
            self.power.it_capacity_kw,
            self.power.grid_cap_kw,
            self.power.price_usd_per_kwh,
            self.power.carbon_g_per_kwh,
            self.cooling.water_cap_l_per_day,
            *(p.gpus for p in self.pools),
        ]
        return (
            any(is_series(f) for f in figures)
            or bool(self.grid_events)
            or self.power.available_from is not None
            or any(p.available_from is not None for p in self.pools)
        )

    @property
    def domain(self) -> str:
        """Failure domain (the site id when none is given)."""
        return self.failure_domain or self.id


def _unique_events(events: list[GridEvent]) -> None:
    seen: set[str] = set()
    for i, event in enumerate(events):
        if event.name in seen:
            raise ValueError(f"grid_events.{i}.name: a second event named {event.name!r}")
        seen.add(event.name)
