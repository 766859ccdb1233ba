"""Capacity planning in the scenario language: what may be built, bought or committed.

A top-level `build_options:` list names each decision a planner may take (docs/capacity.md):

- `gpus`: GPUs of an accelerator type at a site, bought in units of `nodes` nodes of
  `gpus_per_node` GPUs (each drawing `node_power_kw`); they join the site's pool of that
  type (a new pool when the site has none).
- `power`: IT kW and/or grid (facility) kW at a site, usable from `energised` (the date
  the grid connection is energised: it may be late) and never before the order's lead
  time has passed.
- `cooling`: an air-to-liquid upgrade of a site: raises its rack density and cooling type
  (which pairs are allowed) and adds heat rejection, kW.
- `cloud_commit`: GPUs of a cloud pool committed for 12 or 36 months at a committed
  price, paid every hour of the term whether used or not; GPUs used beyond it pay the
  pool's on-demand price (`cost_usd_per_gpu_h`).
- `site`: a new edge or on-prem site (its `site:` body is a Site: tier, location, power,
  cooling; pools of 0 GPUs at most), usable from `energised` (its grid date). Its id is
  the option's id; `gpus`, `power` and `cooling` options may name it, and run only once
  it is bought and has arrived.

Every option has capex (paid when ordered) or a monthly lease, a fixed opex per month
(from arrival on), a lead time in months (order -> arrival), `max_units` and the earliest
instant it may be ordered. A `planning:` block gives the discount rate, demand growth per
workload, (when the scenario has no `horizon`) the months planned over, and the
`scenarios` of a two-stage plan: possible futures, each with a probability, late grid
connections or deliveries (`delay_months`) and demand multipliers, and `decide_by`, the
instant before which orders are shared by every scenario.

This module only checks what the options say and that they name existing things
(`check_build_options`); `placer.capacity` turns them into a model.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from placer.model.catalog import CoolingType
from placer.model.common import (
    MAX_POOL_GPUS,
    MAX_RACK_KW,
    MAX_SITE_KW,
    MAX_USD_PER_GPU_H,
    Id,
    StrictModel,
    ranged,
)
from placer.model.horizon import Instant, is_series
from placer.model.site import Site

#: Hours in a planning month (8,760 / 12): a capacity-planning horizon has periods of it.
MONTH_HOURS = 730.0
#: Longest planning horizon, months (50 years).
MAX_MONTHS = 600
#: Largest capex, lease or opex of one unit of an option, USD.
MAX_USD = 1e12
#: Most units of one option.
MAX_UNITS = 100_000


class _OptionBase(StrictModel):
    """What every build option has: its id and its costs, lead time and counts."""

    id: Id
    capex_usd: float = ranged(
        "Paid once per unit, in the month it is ordered, USD.", ge=0, le=MAX_USD, default=0.0
    )
    lease_usd_per_month: float = ranged(
        "Paid per unit for every month from arrival to the horizon's end, USD/month.",
        ge=0,
        le=MAX_USD,
        default=0.0,
    )
    fixed_opex_usd_per_month: float = ranged(
        "Fixed operating cost per unit for every month from arrival on, USD/month.",
        ge=0,
        le=MAX_USD,
        default=0.0,
    )
    lead_time_months: int = Field(
        default=0, ge=0, le=MAX_MONTHS, description="Months from order to use."
    )
    max_units: int = Field(default=1, ge=0, le=MAX_UNITS, description="Most units bought.")
    earliest: Instant | None = Field(
        default=None, description="The first instant it may be ordered (default: at once)."
    )


class _BuildBase(_OptionBase):
    site: Id = Field(description="The site the option builds at (or the cloud site committed).")

    @property
    def site_id(self) -> str:
        """The id of the site the option builds at."""
        return self.site


class GpuBuild(_BuildBase):
    """GPUs of one accelerator type at a site, bought in units of `nodes` nodes."""

    kind: Literal["gpus"]
    accelerator: Id
    pool: Id | None = Field(
        default=None, description="Pool id at the site (default: the accelerator id)."
    )
    nodes: int = Field(default=1, ge=1, le=MAX_POOL_GPUS, description="Nodes per unit.")
    gpus_per_node: int = Field(default=8, ge=1, le=1024)
    node_power_kw: float | None = ranged(
        "Node power at full load, kW (a new pool's; default: the catalog's).",
        gt=0,
        le=MAX_RACK_KW,
        default=None,
    )
    cost_usd_per_gpu_h: float = ranged(
        "Running cost of a built GPU besides energy (a new pool's), USD/GPU-h: the capex "
        "is paid as capex, not per hour.",
        ge=0,
        le=MAX_USD_PER_GPU_H,
        default=0.0,
    )

    @property
    def gpus(self) -> int:
        """GPUs per unit."""
        return self.nodes * self.gpus_per_node

    @property
    def pool_key(self) -> str:
        return self.pool or self.accelerator


class PowerBuild(_BuildBase):
    """IT and/or grid (facility) power at a site, per unit."""

    kind: Literal["power"]
    it_kw: float = ranged("IT power added per unit, kW.", ge=0, le=MAX_SITE_KW, default=0.0)
    grid_kw: float = ranged(
        "Grid (facility) connection added per unit, kW (counts where the site has a grid cap).",
        ge=0,
        le=MAX_SITE_KW,
        default=0.0,
    )
    energised: Instant | None = Field(
        default=None,
        description="The grid connection is energised at this instant: the power is "
        "usable from then on, however early it was ordered.",
    )

    @model_validator(mode="after")
    def _check(self) -> PowerBuild:
        if self.it_kw == 0 and self.grid_kw == 0:
            raise ValueError("give it_kw or grid_kw (kW added per unit)")
        return self


class CoolingBuild(_BuildBase):
    """An air-to-liquid upgrade of a site (one unit makes the upgrade)."""

    kind: Literal["cooling"]
    type: CoolingType = Field(default="liquid", description="Cooling type after the upgrade.")
    max_rack_density_kw: float = ranged(
        "Densest rack the hall can cool after the upgrade, kW.", gt=0, le=MAX_RACK_KW
    )
    heat_rejection_kw: float = ranged(
        "Heat rejection added per unit, kW (the site must state its heat_rejection_kw).",
        ge=0,
        le=MAX_SITE_KW,
        default=0.0,
    )


class CloudCommit(_BuildBase):
    """GPUs of a cloud pool committed for a term at a committed price."""

    kind: Literal["cloud_commit"]
    pool: Id = Field(description="Pool id (or accelerator id) at the cloud site.")
    gpus: int = Field(default=1, ge=1, le=MAX_POOL_GPUS, description="GPUs per unit.")
    term_months: Literal[12, 36]
    committed_usd_per_gpu_h: float = ranged(
        "Committed price, USD/GPU-h, paid for every hour of the term.",
        ge=0,
        le=MAX_USD_PER_GPU_H,
    )


class SiteBuild(_OptionBase):
    """A new edge or on-prem site (docs/capacity.md): one unit builds it. Its id is the
    option's id; `gpus`, `power` and `cooling` options name it in their `site`."""

    kind: Literal["site"]
    site: Site = Field(
        description="The new site: a Site (tier edge or onprem, location, power, cooling, "
        "failure_domain...) whose pools, if any, hold 0 GPUs (GPUs come from gpus options "
        "naming it). Its id may be left out: it is the option's id."
    )
    max_units: int = Field(default=1, ge=0, le=1, description="1: the site may be built.")
    energised: Instant | None = Field(
        default=None,
        description="The site's grid connection is energised at this instant: nothing "
        "runs there before it, however early it was ordered.",
    )

    @model_validator(mode="before")
    @classmethod
    def _site_id(cls, data: object) -> object:
        """The body's id defaults to the option's id (and must equal it)."""
        if isinstance(data, dict) and isinstance(data.get("site"), dict):
            body = data["site"]
            if "id" not in body and "id" in data:
                return {**data, "site": {**body, "id": data["id"]}}
            if "id" in data and body.get("id") != data["id"]:
                raise ValueError(
                    f"site.id: {body.get('id')!r} differs from the option's id "
                    f"{data['id']!r}; the new site's id is the option's id (leave site.id out)"
                )
        return data

    @model_validator(mode="after")
    def _check(self) -> SiteBuild:
        if self.site.tier == "cloud":
            raise ValueError(
                "site.tier: a new site is edge or onprem; commit to cloud pools with "
                "kind: cloud_commit"
            )
        for i, pool in enumerate(self.site.pools):
            if is_series(pool.gpus) or pool.gpus != 0:
                raise ValueError(
                    f"site.pools.{i}.gpus: a new site's pools start with 0 GPUs; add GPUs "
                    "with a gpus option naming the site"
                )
        if self.site.power.available_from is not None:
            raise ValueError(
                "site.power.available_from: give the new site's grid date as the option's "
                "`energised`"
            )
        return self

    @property
    def site_id(self) -> str:
        """The new site's id (the option's id)."""
        return self.id


BuildOption = Annotated[
    GpuBuild | PowerBuild | CoolingBuild | CloudCommit | SiteBuild, Field(discriminator="kind")
]


class Growth(StrictModel):
    """Growth of a workload's demand: a monthly rate, or a factor per period."""

    rate_per_month: float | None = ranged(
        "Compound growth per month (0.03: +3% a month).", ge=-0.99, le=10.0, default=None
    )
    factors: list[Annotated[float, Field(ge=0, le=1e6)]] | None = Field(
        default=None, min_length=1, description="Demand multiplier per period (one a period)."
    )

    @model_validator(mode="after")
    def _check(self) -> Growth:
        if (self.rate_per_month is None) == (self.factors is None):
            raise ValueError("give exactly one of rate_per_month and factors")
        return self

    def factor(self, period: int, month: float) -> float:
        """Demand multiplier in a period starting `month` months after the start."""
        if self.factors is not None:
            return float(self.factors[period])
        return (1.0 + float(self.rate_per_month or 0.0)) ** month


#: Tolerance on the sum of the scenarios' probabilities (they must sum to 1).
PROBABILITY_SUM_TOL = 1e-6
#: Largest demand multiplier of a planning scenario.
MAX_DEMAND_FACTOR = 1000.0


class PlanningScenario(StrictModel):
    """One possible future of a two-stage capacity plan (docs/capacity.md): late grid
    connections or deliveries, and demand above or below the forecast."""

    name: Id = Field(description="The scenario's name (unique).")
    probability: float = ranged("Probability of this future (all sum to 1).", ge=0, le=1)
    delay_months: dict[Id, Annotated[int, Field(ge=0, le=MAX_MONTHS)]] = Field(
        default_factory=dict,
        description="Months late, by site id or build option id. A site: its grid "
        "connection (power.available_from, when it has one, and every power option there) "
        "comes that many months later. A gpus, power or cooling option: its capacity "
        "arrives that many months later than it would (an option's own entry wins over "
        "its site's).",
    )
    demand_factor: float = ranged(
        "Multiplier of every inference workload's demand, every month (1.3: +30%).",
        ge=0,
        le=MAX_DEMAND_FACTOR,
        default=1.0,
    )
    demand_factors: dict[Id, Annotated[float, Field(ge=0, le=MAX_DEMAND_FACTOR)]] = Field(
        default_factory=dict,
        description="Inference workload id -> multiplier of its demand (times demand_factor).",
    )

    def factor_of(self, workload: str) -> float:
        """The demand multiplier of one inference workload in this scenario."""
        return self.demand_factor * self.demand_factors.get(workload, 1.0)


class Planning(StrictModel):
    """How capacity is planned: the discount rate, demand growth, the months, and the
    scenarios of a two-stage plan."""

    discount_rate_per_year: float = ranged(
        "Yearly discount rate of the net present cost (0.08: 8%).", ge=0, le=1.0, default=0.0
    )
    start: Instant | None = Field(
        default=None, description="First month's start, when the scenario has no horizon."
    )
    months: int | None = Field(
        default=None, ge=1, le=MAX_MONTHS, description="Months, when there is no horizon."
    )
    demand_growth: dict[Id, Growth] = Field(
        default_factory=dict, description="Workload id -> growth of its inference demand."
    )
    scenarios: list[PlanningScenario] = Field(
        default_factory=list,
        description="Possible futures with their probabilities: `plan-capacity` then also "
        "solves the two-stage plan (orders before `decide_by` shared by all scenarios, the "
        "rest per scenario) and the regret of each single-scenario plan.",
    )
    decide_by: Instant | None = Field(
        default=None,
        description="Orders placed in months that start before this instant are decided "
        "now, the same in every scenario; later orders and all placement wait for the "
        "scenario. Default: the first month in which the scenarios differ (month 1 at "
        "the earliest: what to order now is always decided now).",
    )

    @model_validator(mode="after")
    def _check(self) -> Planning:
        if (self.start is None) != (self.months is None):
            raise ValueError("give both start and months (or neither, with a horizon)")
        return self

    def scenario_named(self, name: str) -> PlanningScenario | None:
        """The scenario of that name, if any."""
        return next((s for s in self.scenarios if s.name == name), None)


def check_build_options(scenario) -> None:
    """Cross-references of `build_options` and `planning` (called by Scenario's validator).
    A `site` option's id names a new site that the other options may build at.

    Raises:
      ValueError: naming the field: unknown site, pool or workload, an option of the
        wrong site tier, a duplicate id (or a site option's id that is an existing
        site's), a series of the wrong length, a horizon whose periods are not months.
    """
    options = scenario.build_options
    planning = scenario.planning
    if not options and planning is None:
        return
    existing = {s.id: s for s in scenario.sites}
    sites = dict(existing)
    for i, option in enumerate(options):
        if isinstance(option, SiteBuild):
            if option.id in existing:
                raise ValueError(
                    f"build_options.{i}.id: {option.id!r} is already a site; a site option "
                    "builds a new site: give it an id no site has"
                )
            sites.setdefault(option.id, option.site)
    new_sites = sorted(set(sites) - set(existing))
    seen: set[str] = set()
    cooled: set[str] = set()
    for i, option in enumerate(options):
        path = f"build_options.{i}"
        if option.id in seen:
            raise ValueError(f"{path}.id: duplicate id {option.id!r}; ids must be unique")
        seen.add(option.id)
        if isinstance(option, SiteBuild):
            continue
        site = sites.get(option.site)
        if site is None:
            raise ValueError(
                f"{path}.site: unknown site {option.site!r}; known: {sorted(existing)}, "
                f"new sites (kind: site options): {new_sites}"
            )
        _check_option(path, option, site, scenario.catalog())
        if isinstance(option, CoolingBuild):
            if option.site in cooled:
                raise ValueError(f"{path}.site: a second cooling upgrade of {option.site!r}")
            cooled.add(option.site)
    if planning is not None:
        _check_planning(scenario, planning)
    elif options and scenario.horizon is None:
        raise ValueError(
            "build_options: capacity planning needs months: a horizon with period_hours: "
            "730, or planning: {start, months}"
        )


def _check_option(path: str, option, site, catalog) -> None:
    cloud = site.tier == "cloud"
    if isinstance(option, CloudCommit):
        if not cloud:
            raise ValueError(
                f"{path}.site: a cloud_commit needs a cloud site; {site.id!r} is {site.tier}"
            )
        if option.pool not in {p.key for p in site.pools}:
            raise ValueError(f"{path}.pool: no pool {option.pool!r} at site {site.id!r}")
        return
    if cloud:
        raise ValueError(
            f"{path}.site: {site.id!r} is a cloud site; build at edge or on-prem "
            "sites (commit to cloud pools with kind: cloud_commit)"
        )
    if isinstance(option, GpuBuild):
        if option.accelerator not in catalog:
            raise ValueError(f"{path}.accelerator: unknown accelerator {option.accelerator!r}")
        pool = {p.key: p for p in site.pools}.get(option.pool_key)
        if pool is not None and pool.accelerator != option.accelerator:
            raise ValueError(
                f"{path}.accelerator: pool {option.pool_key!r} at {site.id!r} holds "
                f"{pool.accelerator}, not {option.accelerator}"
            )
    heat = isinstance(option, CoolingBuild) and option.heat_rejection_kw > 0
    if heat and site.cooling.heat_rejection_kw is None:
        raise ValueError(
            f"{path}.heat_rejection_kw: site {site.id!r} states no "
            "cooling.heat_rejection_kw (its heat cap follows its IT power)"
        )


def _check_planning(scenario, planning: Planning) -> None:
    horizon = scenario.horizon
    if horizon is not None:
        if planning.months is not None:
            raise ValueError("planning.months: the scenario has a horizon; give the months there")
        if abs(horizon.period_hours - MONTH_HOURS) > 1e-9:
            raise ValueError(
                f"horizon.period_hours: capacity planning uses months of "
                f"{MONTH_HOURS:g} h; got {horizon.period_hours:g}"
            )
        periods = horizon.periods
    elif planning.months is None:
        raise ValueError("planning: give start and months (the scenario has no horizon)")
    else:
        periods = planning.months
    workloads = {w.id: w for w in scenario.workloads}
    for wid, growth in planning.demand_growth.items():
        path = f"planning.demand_growth.{wid}"
        w = workloads.get(wid)
        if w is None:
            raise ValueError(f"{path}: unknown workload {wid!r}")
        if w.kind != "inference":
            raise ValueError(
                f"{path}: growth applies to inference demand; {wid!r} is training "
                "(add later runs with earliest_start)"
            )
        if growth.factors is not None and len(growth.factors) != periods:
            raise ValueError(
                f"{path}.factors: {len(growth.factors)} values for {periods} "
                "months; give one per month"
            )
    _check_scenarios(scenario, planning)


def _check_scenarios(scenario, planning: Planning) -> None:
    """Names unique, probabilities summing to 1, delays and demand factors naming known
    sites, options and inference workloads."""
    if not planning.scenarios:
        if planning.decide_by is not None:
            raise ValueError(
                "planning.decide_by: it separates decisions taken now from those taken "
                "per scenario; give planning.scenarios too (or remove decide_by)"
            )
        return
    total = sum(s.probability for s in planning.scenarios)
    if abs(total - 1.0) > PROBABILITY_SUM_TOL:
        listed = ", ".join(f"{s.name} {s.probability:g}" for s in planning.scenarios)
        raise ValueError(
            f"planning.scenarios: the probabilities sum to {total:.6g} ({listed}); they "
            "must sum to 1"
        )
    sites = {s.id: s for s in scenario.sites}
    options = {o.id: o for o in scenario.build_options}
    workloads = {w.id: w for w in scenario.workloads}
    names: set[str] = set()
    for i, sc in enumerate(planning.scenarios):
        path = f"planning.scenarios.{i}"
        if sc.name in names:
            raise ValueError(f"{path}.name: duplicate scenario name {sc.name!r}")
        names.add(sc.name)
        for key in sc.delay_months:
            where = f"{path}.delay_months.{key}"
            if key in sites and key in options:
                raise ValueError(
                    f"{where}: {key!r} is both a site and a build option id; rename one"
                )
            if key in options and isinstance(options[key], CloudCommit):
                raise ValueError(
                    f"{where}: {key!r} is a cloud_commit, which has no delivery to delay; "
                    "delay a site, or a gpus, power or cooling option"
                )
            if key not in sites and key not in options:
                raise ValueError(
                    f"{where}: unknown site or build option {key!r}; known sites "
                    f"{sorted(sites)}, options {sorted(options)}"
                )
        for wid in sc.demand_factors:
            where = f"{path}.demand_factors.{wid}"
            w = workloads.get(wid)
            if w is None:
                raise ValueError(f"{where}: unknown workload {wid!r}")
            if w.kind != "inference":
                raise ValueError(
                    f"{where}: demand factors scale inference demand; {wid!r} is training"
                )
