"""The fleet and the plans `placer robust` samples: what it reads of the compiled scenario
(`Fleet`: the problem, its kernel arrays, each pair's energy and GPU-hour cost) and of a
plan (`PlanExposure`: its slots, its cost parts per option, its replica loads).
`placer.analysis.robust_sample` maps draws onto them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from placer.engines.kernels.arrays import KernelProblem, to_kernel, to_slots
from placer.errors import OptionError, SolverError
from placer.model.scenario import Scenario
from placer.model.workload import Inference
from placer.plan.plan import Plan
from placer.plan.score_schedule import check_schedule, schedule_of
from placer.plan.scoring import assignment_of
from placer.problem.compile import compile_problem
from placer.problem.compile_large import require_whole_table
from placer.problem.form import Index, Problem
from placer.problem.preempt import Preempt, schedule_entries, schedule_terms
from placer.problem.rows import Q_CARBON, Q_COST
from placer.problem.schedule_options import ScheduleOptions, with_schedule_options
from placer.problem.usage import startup_cost


@dataclass(frozen=True)
class MovedRun:
    """A schedule option that runs in more than one pool (a run that moves): what each
    of its sites and pools takes of its energy cost, its GPU-hour cost (USD/h) and its
    carbon (kg/h). A sample's price and carbon factors apply to it in these shares, and
    it is lost when any of its pools is.
    """

    option: int
    pools: tuple[int, ...]
    energy_s: dict[int, float]
    gpu_p: dict[int, float]
    carbon_s: dict[int, float]


@dataclass(frozen=True)
class Fleet:
    """The scenario's compiled problem and what sampling reads of it.

    Attributes:
      problem, index, kp: the compiled problem, its names, its kernel arrays.
      energy_uk, gpu_uk: float64[U, K], energy and GPU-hour parts of each pair's cost, USD/h.
      workload_u: int64[U], index into `services` of an inference unit's workload (-1
        for training).
      services: inference workload ids, sorted.
      country_s: country of each site (index order).   accelerator_p: of each pool.
      carbon_usd_per_kg: the scenario's carbon price, USD/kg.
      half_preempt: the preemption tables (`Problem.preempt`) of the scenario compiled
        with halved tariffs and with halved GPU-hour prices (`cost_split`): None where
        no run may pause or move.
      schedules: the plans' paused or moved runs as options (`with_schedules`), or None:
        `problem`, `kp` and the cost parts then hold them (plan-dependent).
      moved: those of them that run in more than one pool.
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
    half_preempt: tuple[Preempt | None, Preempt | None] = (None, None)
    schedules: ScheduleOptions | None = None
    moved: tuple[MovedRun, ...] = ()


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


def cost_split(
    scenario: Scenario, problem: Problem
) -> tuple[np.ndarray, np.ndarray, tuple[Preempt | None, Preempt | None]]:
    """(energy_uk, gpu_uk, half_preempt): the energy and the GPU-hour part of each
    pair's cost, float64[U, K] USD/h, by compiling the scenario with halved tariffs and
    halved GPU prices (compile is linear in both; the rest of the cost is dataset
    egress), and the preemption tables of those two compiles (`Fleet.half_preempt`).

    Raises:
      SolverError: the halved scenarios compile to other option lists (a bug).
    """
    cost = problem.amount_quk[Q_COST]
    parts, tables = [], []
    for energy, gpu in ((0.5, 1.0), (1.0, 0.5)):
        half, _ = compile_problem(scaled_prices(scenario, energy, gpu))
        if not np.array_equal(half.option_uk, problem.option_uk):
            raise SolverError("robust: halving prices changed the compiled options (a bug)")
        parts.append(2.0 * (cost - half.amount_quk[Q_COST]))
        if not _same_entries(half.preempt, problem.preempt):
            raise SolverError("robust: halving prices changed the preemption table (a bug)")
        tables.append(half.preempt)
        del half
    return parts[0], parts[1], (tables[0], tables[1])


def _same_entries(a: Preempt | None, b: Preempt | None) -> bool:
    """Both tables list the same (choice, period) entries (or neither exists)."""
    if a is None or b is None:
        return a is b
    return np.array_equal(a.choice_e, b.choice_e) and np.array_equal(a.period_e, b.period_e)


def build_fleet(scenario: Scenario) -> Fleet:
    """Compiles the scenario and gathers what sampling needs (see Fleet).

    Raises:
      OptionError: a fleet too large for the whole option table (`require_whole_table`).
    """
    require_whole_table(scenario, "placer robust")
    problem, index = compile_problem(scenario)
    energy_uk, gpu_uk, half_preempt = cost_split(scenario, problem)
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
        half_preempt=half_preempt,
    )


def with_schedules(fleet: Fleet, plans: Sequence[tuple[Plan, str]]) -> Fleet:
    """The fleet with every paused or moved run of `plans` ((plan, source) pairs) as one
    more option of its unit (`placer.problem.schedule_options`), its cost split into
    energy and GPU-hours from the halved compiles (`Fleet.half_preempt`), as a compiled
    pair's is. The fleet itself when no plan pauses or moves a run.

    Raises:
      OptionError: a plan's segments name a unit or pool the scenario lacks, or a run
        that may not pause or move, or periods outside its window (naming the source).
    """
    if fleet.schedules is not None:
        raise SolverError("robust: the fleet already holds plans' schedules (a bug)")
    schedules = []
    for plan, source in plans:
        try:
            schedule = schedule_of(plan, fleet.index)
            check_schedule(fleet.problem, schedule, fleet.index)
        except OptionError as e:
            raise OptionError(f"{source}: {e}") from None
        schedules.append(schedule)
    if not any(schedules):
        return fleet
    options = with_schedule_options(fleet.problem, schedules)
    p = options.problem
    n_k = fleet.problem.num_slots
    energy_uk = np.zeros((p.num_units, p.num_slots))
    gpu_uk = np.zeros((p.num_units, p.num_slots))
    energy_uk[:, :n_k], gpu_uk[:, :n_k] = fleet.energy_uk, fleet.gpu_uk
    moved = []
    for u, o, pools, key in zip(
        options.unit_i, options.option_i, options.pools_i, options.key_i, strict=True
    ):
        value = (key[1][0], key[0], key[1])
        k = int(np.flatnonzero(p.option_uk[u] == o)[0])
        energy, gpu, carbon = _schedule_parts(fleet, int(u), value)
        energy_uk[u, k], gpu_uk[u, k] = sum(energy.values()), sum(gpu.values())
        if len(pools) > 1:
            moved.append(MovedRun(int(o), pools, energy, gpu, carbon))
    return replace(
        fleet,
        problem=p,
        kp=to_kernel(p),
        energy_uk=energy_uk,
        gpu_uk=gpu_uk,
        schedules=options,
        moved=tuple(moved),
    )


def _schedule_parts(fleet: Fleet, u: int, value: tuple):
    """({site: energy USD/h}, {pool: GPU-hour USD/h}, {site: carbon kg/h}) of one unit's
    schedule: per period, 2 x (its cost - its cost at the halved price), as
    `cost_split`; the fixed part (egress, moves) is neither."""
    full = fleet.problem.preempt
    assert full is not None
    _, entries = schedule_entries(full, {u: value})
    pool_e = full.pool_c[full.choice_e[entries]]
    site_e = fleet.problem.pool_site_p[pool_e]
    cost_e = full.amount_qe[Q_COST, entries]
    out = []
    for half, by in zip(fleet.half_preempt, (site_e, pool_e), strict=True):
        if half is None:
            raise SolverError("robust: no preemption table at halved prices (a bug)")
        part = 2.0 * (cost_e - half.amount_qe[Q_COST, entries])
        out.append(_by_key(by, part))
    carbon = _by_key(site_e, full.amount_qe[Q_CARBON, entries])
    total = schedule_terms(full, {u: value}, fleet.problem.num_quantities).total_q
    if not np.isclose(sum(carbon.values()), total[Q_CARBON], rtol=1e-9, atol=1e-12):
        raise SolverError("robust: a schedule's carbon does not add up (a bug)")
    return out[0], out[1], carbon


def _by_key(key_e: np.ndarray, value_e: np.ndarray) -> dict[int, float]:
    """{key: the sum of its values}."""
    out: dict[int, float] = {}
    for k, v in zip(key_e.tolist(), value_e.tolist(), strict=True):
        out[int(k)] = out.get(int(k), 0.0) + float(v)
    return out


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
    options = assignment_of(plan, fleet.index, strict=strict, skip_preempted=True)
    if any(pl.segments is not None for pl in plan.placements):
        if fleet.schedules is None:
            raise SolverError("robust: a plan with paused runs on a fleet without them (a bug)")
        options = fleet.schedules.assignment(options, schedule_of(plan, fleet.index))
    slots = to_slots(p, options)
    units = np.arange(p.num_units)
    placed = slots < p.num_slots
    k = np.where(placed, slots, 0)
    n_o = p.num_options

    def per_option(table_uk: np.ndarray) -> np.ndarray:
        values = np.where(placed, table_uk[units, k], 0.0)
        return np.bincount(options[placed], weights=values[placed], minlength=n_o)

    pool_o = np.append(p.pool_o, -1)  # a problem may have no option at all
    pool_u = np.where(placed, pool_o[np.where(placed, options, -1)], -1)
    moved_pools = {m.option: m.pools for m in fleet.moved}

    def pools_of(mask_u: np.ndarray) -> np.ndarray:
        out = np.bincount(pool_u[mask_u & placed], minlength=p.num_pools) > 0
        for u in np.flatnonzero(mask_u & placed & np.isin(options, list(moved_pools))):
            out[list(moved_pools[int(options[u])])] = True  # a run that moves: every pool
        return out

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
    "MovedRun",
    "PlanExposure",
    "build_fleet",
    "check_plan_scenario",
    "cost_split",
    "expose",
    "scaled_prices",
    "with_schedules",
]
