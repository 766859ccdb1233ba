"""What `placer robust` perturbs, and how: the distributions of an uncertainty file.

An uncertainty file (YAML or JSON, `kind: Uncertainty`) states how far demand, energy
prices, grid carbon intensity, GPU-hour prices and capacities may stray from the
scenario's figures. Every field has a default, so an empty mapping (or no file) means
the defaults below; `placer robust` flags override single fields. docs/robust.md gives
the model in full.

Each uncertain figure is the scenario's figure times a factor f with mean ~1:

  normal     f = max(0, 1 + sd x X)
  lognormal  f = exp(sd x X - sd^2 / 2)          (sd is the sigma of log f; E f = 1)

where X ~ N(0, 1) follows a one-factor model within a group (a country, an accelerator
type, the whole fleet):  X_i = sqrt(rho) Z_group + sqrt(1 - rho) e_i,  so two members
of a group have correlation rho and members of different groups are independent.

Defaults: demand sd 10% (normal, rho 0.3 across all workloads: a fleet-wide swing),
energy price sd 15% (rho 0.6 between sites of one country), carbon intensity sd 10%
(rho 0.6 within a country), GPU-hour price sd 5% (rho 0.5 within an accelerator type),
no capacity loss (site derates and pool losses are off until a probability is given).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from placer.errors import OptionError
from placer.model.common import Id, StrictModel, ranged
from placer.model.load import validate_model
from placer.model.scenario import Scenario
from placer.model.workload import Inference
from placer.model.yaml_text import read_document

#: Largest relative sd (or lognormal sigma) accepted: 5 is already a 500% spread.
MAX_SD = 5.0

Distribution = Literal["normal", "lognormal"]
Sd = Annotated[float, Field(ge=0, le=MAX_SD)]
Probability = Annotated[float, Field(ge=0, le=1)]


def _sd(default: float, what: str):
    return ranged(
        f"Relative standard deviation of {what} (normal), or the sigma of its log "
        f"(lognormal); 0 turns it off. Default {default:g}.",
        ge=0,
        le=MAX_SD,
        default=default,
    )


def _rho(default: float, within: str):
    return ranged(
        f"Correlation between two members of one group ({within}), one-factor model. "
        f"Default {default:g}.",
        ge=0,
        le=1,
        default=default,
    )


class DemandUncertainty(StrictModel):
    """Inference demand: one factor per workload (every region and period of it moves
    together); training runs have a fixed size and are not perturbed."""

    sd: float = _sd(0.10, "each inference workload's demand")
    distribution: Distribution = "normal"
    correlation: float = _rho(0.3, "any two inference workloads: a fleet-wide swing")
    workloads: dict[Id, Sd] = Field(
        default_factory=dict, description="The sd of single workloads, by workload id."
    )
    rounding: Literal["replicas", "linear"] = Field(
        default="replicas",
        description="How a unit's size follows its demand: 'replicas' re-rounds the "
        "replicas it needs on its pool (GPUs and kW exact; energy, cost, carbon and water "
        "scale with the replicas), 'linear' scales every amount with the demand (fractional "
        "GPUs).",
    )


class SiteFactorUncertainty(StrictModel):
    """A figure of each site (energy price, carbon intensity): one factor per site."""

    sd: float = _sd(0.15, "the figure")
    distribution: Distribution = "normal"
    correlation: float = _rho(0.6, "sites of one group")
    group_by: Literal["country", "fleet", "none"] = Field(
        default="country",
        description="Which sites share the common factor: those of one country, all "
        "sites, or none (independent sites).",
    )
    sites: dict[Id, Sd] = Field(
        default_factory=dict, description="The sd of single sites, by site id."
    )


class GpuCostUncertainty(StrictModel):
    """GPU-hour prices (on-demand and spot alike): one factor per pool."""

    sd: float = _sd(0.05, "each pool's GPU-hour price")
    distribution: Distribution = "normal"
    correlation: float = _rho(0.5, "pools of one accelerator type")
    group_by: Literal["accelerator", "fleet", "none"] = "accelerator"


class SiteCapacityRisk(StrictModel):
    """One site's own derate risk (overrides the fleet's)."""

    derate_probability: float = ranged("Probability that the site derates.", ge=0, le=1)
    derate_fraction: float | None = Field(
        default=None, gt=0, le=1, description="Share of capacity lost; default: the fleet's."
    )


class CapacityUncertainty(StrictModel):
    """Capacity losses: independent Bernoulli events per site and per pool.

    A derated site keeps (1 - derate_fraction) of its IT, facility (grid) and heat
    capacity. A pool loss removes pool_loss_fraction of its GPUs; a whole loss (1) takes
    the pool down: the units the plan put there become unplaced."""

    site_derate_probability: float = ranged(
        "Probability that a site derates (per sample). Default 0.", ge=0, le=1, default=0.0
    )
    site_derate_fraction: float = Field(
        default=0.2, gt=0, le=1, description="Share of a derated site's power lost."
    )
    pool_loss_probability: float = ranged(
        "Probability that a pool loses GPUs (per sample). Default 0.", ge=0, le=1, default=0.0
    )
    pool_loss_fraction: float = Field(
        default=1.0, gt=0, le=1, description="Share of its GPUs a pool loses (1: all)."
    )
    sites: dict[Id, SiteCapacityRisk] = Field(default_factory=dict)


def _carbon_default() -> SiteFactorUncertainty:
    return SiteFactorUncertainty(sd=0.10)


class Uncertainty(StrictModel):
    """How far the scenario's figures may stray; see the module docstring."""

    apiVersion: Literal["placer/v1"] = "placer/v1"
    kind: Literal["Uncertainty"] = "Uncertainty"
    demand: DemandUncertainty = DemandUncertainty()
    energy_price: SiteFactorUncertainty = SiteFactorUncertainty()
    carbon_intensity: SiteFactorUncertainty = Field(default_factory=_carbon_default)
    gpu_cost: GpuCostUncertainty = GpuCostUncertainty()
    capacity: CapacityUncertainty = CapacityUncertainty()


#: Flag name -> (section, field) of the Uncertainty it sets (placer robust's flags).
FLAG_FIELDS: dict[str, tuple[str, str]] = {
    "demand_sd": ("demand", "sd"),
    "demand_distribution": ("demand", "distribution"),
    "demand_correlation": ("demand", "correlation"),
    "demand_rounding": ("demand", "rounding"),
    "price_sd": ("energy_price", "sd"),
    "price_correlation": ("energy_price", "correlation"),
    "carbon_sd": ("carbon_intensity", "sd"),
    "carbon_correlation": ("carbon_intensity", "correlation"),
    "gpu_cost_sd": ("gpu_cost", "sd"),
    "site_derate_probability": ("capacity", "site_derate_probability"),
    "site_derate_fraction": ("capacity", "site_derate_fraction"),
    "pool_loss_probability": ("capacity", "pool_loss_probability"),
    "pool_loss_fraction": ("capacity", "pool_loss_fraction"),
}


def load_uncertainty(path: str) -> Uncertainty:
    """Reads and validates an uncertainty file ('-' = stdin).

    Raises:
      ScenarioError: unreadable, or invalid (naming the file and each bad field).
    """
    data, source = read_document(path)
    if isinstance(data, dict) and data.get("kind") not in (None, "Uncertainty"):
        raise OptionError(
            f"{source}: a {data.get('kind')} document, not an Uncertainty; --uncertainty "
            "takes a file with kind: Uncertainty (see docs/robust.md)"
        )
    return validate_model(Uncertainty, data, source=source)


def with_flags(base: Uncertainty, **flags: object) -> Uncertainty:
    """`base` with the fields of the given flags (FLAG_FIELDS names; None: unchanged).

    Raises:
      OptionError: an unknown flag name, or a value out of its field's range.
    """
    data = base.model_dump()
    for name, value in flags.items():
        if name not in FLAG_FIELDS:
            raise OptionError(f"unknown uncertainty flag {name!r}; known: {sorted(FLAG_FIELDS)}")
        if value is not None:
            section, field = FLAG_FIELDS[name]
            data[section][field] = value
    return validate_model(Uncertainty, data, source="uncertainty flags")


def check_references(u: Uncertainty, scenario: Scenario, source: str = "uncertainty") -> None:
    """Every site and workload the uncertainty names exists in the scenario.

    Raises:
      OptionError: naming the field (`energy_price.sites.x`) and the ids that exist.
    """
    sites = {s.id for s in scenario.sites}
    services = {w.id for w in scenario.workloads if isinstance(w, Inference)}
    named = [
        ("demand.workloads", u.demand.workloads, services, "inference workload"),
        ("energy_price.sites", u.energy_price.sites, sites, "site"),
        ("carbon_intensity.sites", u.carbon_intensity.sites, sites, "site"),
        ("capacity.sites", u.capacity.sites, sites, "site"),
    ]
    for path, mapping, known, what in named:
        for key in mapping:
            if key not in known:
                shown = ", ".join(sorted(known)[:8]) + (" ..." if len(known) > 8 else "")
                raise OptionError(
                    f"{source}: {path}.{key}: the scenario has no {what} {key!r} "
                    f"(its {what}s: {shown or 'none'})"
                )


__all__ = [
    "FLAG_FIELDS",
    "MAX_SD",
    "CapacityUncertainty",
    "DemandUncertainty",
    "GpuCostUncertainty",
    "SiteCapacityRisk",
    "SiteFactorUncertainty",
    "Uncertainty",
    "check_references",
    "load_uncertainty",
    "with_flags",
]
