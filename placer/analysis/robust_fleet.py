"""The fleet and the plans `placer robust` samples: what it reads of the compiled scenario
(`Fleet`: the problem, its kernel arrays, each pair's energy and GPU-hour cost) and of a
plan (`PlanExposure`: its slots, its cost parts per option, its replica loads).
`placer.analysis.robust_sample` maps draws onto them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from placer.engines.kernels.arrays import KernelProblem, to_kernel, to_slots
from placer.errors import OptionError, SolverError
from placer.model.scenario import Scenario
from placer.model.workload import Inference
from placer.plan.plan import Plan
from placer.plan.scoring import assignment_of
from placer.problem.compile import compile_problem
from placer.problem.compile_large import require_whole_table
from placer.problem.form import Index, Problem
from placer.problem.rows import Q_COST
from placer.problem.usage import startup_cost


@dataclass(frozen=True)
class Fleet:
    """The scenario's compiled problem and what sampling reads of it (plan-independent).

    Attributes:
      problem, index, kp: the compiled problem, its names, its kernel arrays.
      energy_uk, gpu_uk: float64[U, K], energy and GPU-hour parts of each pair's cost, USD/h.
      workload_u: int64[U], index into `services` of an inference unit's workload (-1
        for training).
      services: inference workload ids, sorted.
      country_s: country of each site (index order).   accelerator_p: of each pool.
      carbon_usd_per_kg: the scenario's carbon price, USD/kg.
    """

    scenario: Scenario
    problem: Problem
    index: Index
    kp: KernelProblem
    energy_uk: np.ndarray
    gpu_uk: np.ndarray
    workload_u: np.ndarray
    services: tuple[str, ...]
    country_s: tuple[str, ...]
    accelerator_p: tuple[str, ...]
    carbon_usd_per_kg: float


def scaled_prices(scenario: Scenario, energy: float = 1.0, gpu: float = 1.0) -> Scenario:
    """The scenario with every tariff x `energy` and every GPU-hour price (on-demand and
    spot) x `gpu`. Not validated again: callers keep the factors where the results stay
    in range (a factor <= 1 always does)."""

    def times(v, f):
        return [x * f for x in v] if isinstance(v, list) else v * f

    sites = []
    for site in scenario.sites:
        power = site.power.model_copy(
            update={"price_usd_per_kwh": times(site.power.price_usd_per_kwh, energy)}
        )
        pools = [
            p.model_copy(
                update={
                    "cost_usd_per_gpu_h": p.cost_usd_per_gpu_h * gpu,
                    "spot_cost_usd_per_gpu_h": None
                    if p.spot_cost_usd_per_gpu_h is None
                    else p.spot_cost_usd_per_gpu_h * gpu,
                }
            )
            for p in site.pools
        ]
        sites.append(site.model_copy(update={"power": power, "pools": pools}))
    return scenario.model_copy(update={"sites": sites})


def cost_split(scenario: Scenario, problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """(energy_uk, gpu_uk) float64[U, K]: the energy and the GPU-hour part of each
    pair's cost, USD/h, by compiling the scenario with halved tariffs and halved GPU
    prices (compile is linear in both; the rest of the cost is dataset egress).

    Raises:
      SolverError: the halved scenarios compile to other option lists (a bug).
    """
    cost = problem.amount_quk[Q_COST]
    parts = []
    for energy, gpu in ((0.5, 1.0), (1.0, 0.5)):
        half, _ = compile_problem(scaled_prices(scenario, energy, gpu))
        if not np.array_equal(half.option_uk, problem.option_uk):
            raise SolverError("robust: halving prices changed the compiled options (a bug)")
        parts.append(2.0 * (cost - half.amount_quk[Q_COST]))
        del half
    return parts[0], parts[1]


def build_fleet(scenario: Scenario) -> Fleet:
    """Compiles the scenario and gathers what sampling needs (see Fleet).

    Raises:
      OptionError: a fleet too large for the whole option table (`require_whole_table`).
    """
    require_whole_table(scenario, "placer robust")
    problem, index = compile_problem(scenario)
    energy_uk, gpu_uk = cost_split(scenario, problem)
    services = tuple(sorted(w.id for w in scenario.workloads if isinstance(w, Inference)))
    position = {w: i for i, w in enumerate(services)}
    workload_u = np.array([position.get(u.workload, -1) for u in index.units], np.int64)
    sites = {s.id: s for s in scenario.sites}
    return Fleet(
        scenario=scenario,
        problem=problem,
        index=index,
        kp=to_kernel(problem),
        energy_uk=energy_uk,
        gpu_uk=gpu_uk,
        workload_u=workload_u.reshape(len(index.units)),
        services=services,
        country_s=tuple(sites[s].location.country for s in index.sites),
        accelerator_p=tuple(p.accelerator for p in index.pools),
        carbon_usd_per_kg=scenario.objective.carbon_price_usd_per_t / 1000.0,
    )


@dataclass(frozen=True)
class PlanExposure:
    """One plan as the sampler sees it (U units, O options, P pools).

    Attributes:
      label: how the report names the plan.
      options_u: int32[U], option of each unit (-1 unplaced).
      slots_u: int32[U], kernel slots (K: unplaced, or placed where not allowed).
      extra_masked: optional units placed on a pool they may not use: masked pairs the
        kernel does not see (it sees them unplaced; a must-place one it counts itself).
      energy_o, gpu_o, cost_o: float64[O], the plan's energy, GPU-hour and total cost on
        each option, USD/h.
      used_p, must_p, service_p: bool[P], the plan puts units / must-place units /
        inference units in the pool.
      load_u: float64[U], an inference unit's demand share over the requests/s one
        replica serves on its pool (0 for training or unplaced).
      replicas_u: float64[U], its replicas there (1 where load_u is 0).
      startup_usd_per_h: what the plan pays to start replicas (`usage.startup_cost`),
        USD per hour of the horizon; every sample pays it (its replicas are the plan's).
    """

    label: str
    options_u: np.ndarray
    slots_u: np.ndarray
    extra_masked: int
    energy_o: np.ndarray
    gpu_o: np.ndarray
    cost_o: np.ndarray
    used_p: np.ndarray
    must_p: np.ndarray
    service_p: np.ndarray
    load_u: np.ndarray
    replicas_u: np.ndarray
    startup_usd_per_h: float = 0.0


def expose(fleet: Fleet, plan: Plan, label: str, *, strict: bool = True) -> PlanExposure:
    """The plan's assignment and its cost parts per option.

    Raises:
      OptionError: (strict) the plan names units or pools the scenario does not have.
    """
    p = fleet.problem
    options = assignment_of(plan, fleet.index, strict=strict)
    slots = to_slots(p, options)
    units = np.arange(p.num_units)
    placed = slots < p.num_slots
    k = np.where(placed, slots, 0)
    n_o = p.num_options

    def per_option(table_uk: np.ndarray) -> np.ndarray:
        values = np.where(placed, table_uk[units, k], 0.0)
        return np.bincount(options[placed], weights=values[placed], minlength=n_o)

    pool_u = np.where(placed, p.pool_o[np.maximum(options, 0)], -1)

    def pools_of(mask_u: np.ndarray) -> np.ndarray:
        return np.bincount(pool_u[mask_u & placed], minlength=p.num_pools) > 0

    load_u, replicas_u = _replica_loads(fleet, options, slots)
    return PlanExposure(
        label=label,
        options_u=options,
        slots_u=slots,
        extra_masked=int(((options >= 0) & ~placed & ~p.must_place_u).sum()),
        energy_o=per_option(fleet.energy_uk),
        gpu_o=per_option(fleet.gpu_uk),
        cost_o=per_option(p.amount_quk[Q_COST]),
        used_p=pools_of(np.ones(p.num_units, bool)),
        must_p=pools_of(p.must_place_u),
        service_p=pools_of(fleet.workload_u >= 0),
        load_u=load_u,
        replicas_u=replicas_u,
        startup_usd_per_h=startup_cost(p, options),
    )


def _replica_loads(fleet: Fleet, options: np.ndarray, slots: np.ndarray):
    """(load_u, replicas_u) of PlanExposure: what re-rounding replicas needs."""
    p, index = fleet.problem, fleet.index
    workloads = {w.id: w for w in fleet.scenario.workloads}
    load_u = np.zeros(p.num_units)
    replicas_u = np.ones(p.num_units)
    placed = np.flatnonzero((slots < p.num_slots) & (fleet.workload_u >= 0))
    for u in placed.tolist():
        unit = index.units[u]
        accelerator = index.pools[int(p.pool_o[options[u]])].accelerator
        serving = workloads[unit.workload].serving.get(accelerator)
        replicas = int(index.replicas_uk[u, slots[u]])
        if serving is None or replicas < 1:
            continue
        load_u[u] = unit.demand_rps / serving.rps_per_replica
        replicas_u[u] = replicas
    return load_u, replicas_u


def check_plan_scenario(plan: Plan, scenario: Scenario, source: str) -> None:
    """A plan that names another scenario is refused before any placement is read.

    Raises:
      OptionError: naming the plan's `scenario` field and both names.
    """
    name = scenario.metadata.name
    if plan.scenario and name and plan.scenario != name:
        raise OptionError(
            f"{source}: scenario: the plan is for scenario {plan.scenario!r}, not "
            f"{name!r}; score a plan made for this scenario (placer solve SCENARIO -o PLAN)"
        )


__all__ = [
    "Fleet",
    "PlanExposure",
    "build_fleet",
    "check_plan_scenario",
    "cost_split",
    "expose",
    "scaled_prices",
]
