"""Solving the capacity MILP and reading the answer: purchases, months, NPV, bound, gap.

`solve_capacity` solves one monthly scenario (`scenarios.monthly`) with HiGHS through
MathOpt and returns a `CapacityResult` in the scenario's words (never solver objects):
what is bought, where, in which month it arrives and when it must be ordered, its capex
and monthly opex; per month, GPUs used per site by source (on-prem, committed cloud,
on-demand cloud), the month's spend; the net present cost (USD), its dual bound and gap.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass, field

import numpy as np
from ortools.math_opt.python import mathopt

from placer.capacity import scenarios
from placer.capacity.model import CapacityModel, build_capacity_model
from placer.engines.milp.quiet import quiet_stdout
from placer.engines.milp.solve import Interrupted, hard_grace_s, stop_margin_s, watched
from placer.errors import SolverError
from placer.model.build_options import (
    MONTH_HOURS,
    CloudCommit,
    CoolingBuild,
    GpuBuild,
    SiteBuild,
)
from placer.problem.rows import Q_GPUS

_T = mathopt.TerminationReason


@dataclass(frozen=True)
class Purchase:
    """Units of one build option arriving in one month.

    Attributes:
      option, kind, site: the option's id and kind, its site.
      units: units bought.   what: what they add, in words ("64 H100-SXM GPUs").
      order_month, arrival_month: month the order is placed (arrival - lead time) and
        month the capacity is first usable (0 = the horizon's first month).
      order_date, arrival_date: the same as ISO 8601 dates.
      capex_usd: paid at order, USD (undiscounted).
      opex_usd_per_month: lease + fixed opex (+ the committed GPU-hours of a cloud
        commitment, for its term) per month from arrival, USD.
      npv_usd: its net present cost, USD.
    """

    option: str
    kind: str
    site: str
    units: int
    what: str
    order_month: int
    arrival_month: int
    order_date: str
    arrival_date: str
    capex_usd: float
    opex_usd_per_month: float
    npv_usd: float


@dataclass(frozen=True)
class CapacityResult:
    """One solve of the capacity MILP.

    Attributes:
      status: optimal | feasible | infeasible | no_solution.
      message: how the solve ended.
      cost_npv_usd: net present cost of the plan, USD (None without one).
      bound_npv_usd: MathOpt's dual bound on it, USD (None when unknown).
      gap: (cost - bound) / |cost| (None without both).
      wall_s: seconds for build and solve.
      purchases: what is bought, by arrival month.
      installed: option id -> units installed in each month (int[T]).
      months: per month, a dict: month, start, gpus_by_site {site: {onprem|committed|
        on_demand: GPUs}}, placement_usd, capex_usd, opex_usd (undiscounted spend).
      placement_npv_usd, build_npv_usd: the two parts of the cost, USD.
      assign_u: int32[U], the option of each unit of the superset problem (-1: none).
      unplaced: names of the units left unplaced.
      variables, constraints: the model's size.
    """

    status: str
    message: str
    cost_npv_usd: float | None
    bound_npv_usd: float | None
    gap: float | None
    wall_s: float
    purchases: list[Purchase] = field(default_factory=list)
    installed: dict[str, list[int]] = field(default_factory=dict)
    months: list[dict] = field(default_factory=list)
    placement_npv_usd: float = 0.0
    build_npv_usd: float = 0.0
    assign_u: np.ndarray | None = None
    unplaced: list[str] = field(default_factory=list)
    variables: int = 0
    constraints: int = 0
    model: CapacityModel | None = None


def solve_capacity(
    scenario, *, time_limit_s: float = 60.0, relative_gap: float = 1e-4, seed: int = 0
) -> CapacityResult:
    """Builds and solves the capacity MILP of a monthly scenario (`scenarios.monthly`).

    Raises:
      SolverError: HiGHS ended in a way that is neither a plan, a proof of
        infeasibility, nor a time limit.
    """
    started = time.perf_counter()
    cm = build_capacity_model(scenario)
    solved = solve_model(cm.model, started, time_limit_s, relative_gap, seed)
    return read_result(cm, solved)


@dataclass(frozen=True)
class Solved:
    """How one MILP solve ended, without solver objects.

    Attributes:
      status, message, cost, bound, gap, wall_s: as in CapacityResult (cost and bound
        of the whole model, USD).
      values: float64[n] every variable's value by column (None without a plan).
      size: (variables, constraints).
    """

    status: str
    message: str
    cost: float | None
    bound: float | None
    gap: float | None
    wall_s: float
    values: np.ndarray | None
    size: tuple[int, int]


def solve_model(
    model: mathopt.Model,
    started: float,
    time_limit_s: float,
    relative_gap: float,
    seed: int,
) -> Solved:
    """Solves a capacity model with HiGHS within what is left of `time_limit_s` (s, from
    `started`, a perf_counter reading).

    Raises:
      SolverError: HiGHS failed.
    """
    left = max(0.05, time_limit_s - (time.perf_counter() - started))
    params = mathopt.SolveParameters(
        time_limit=dt.timedelta(seconds=max(0.05, left - stop_margin_s(left))),
        relative_gap_tolerance=relative_gap,
        random_seed=seed,
    )
    size = (model.get_num_variables(), model.get_num_linear_constraints())
    try:
        with quiet_stdout():
            result = watched(
                lambda: mathopt.solve(model, mathopt.SolverType.HIGHS, params=params),
                deadline=time.perf_counter() + left + hard_grace_s(left),
            )
    except Interrupted as e:
        return Solved("no_solution", e.why, None, None, None, _since(started), None, size)
    except Exception as e:  # MathOpt maps some solver errors to AttributeError
        raise SolverError(f"capacity MILP (HiGHS) failed: {e}") from None
    reason = result.termination.reason
    bound = result.termination.objective_bounds.dual_bound
    bound = float(bound) if math.isfinite(bound) else None
    if not result.has_primal_feasible_solution():
        status = (
            "infeasible" if reason in (_T.INFEASIBLE, _T.INFEASIBLE_OR_UNBOUNDED) else "no_solution"
        )
        message = f"HiGHS: {reason.name.lower()}"
        return Solved(status, message, None, bound, None, _since(started), None, size)
    by_var = result.variable_values()
    values = np.array([by_var[v] for v in model.variables()], float)
    cost = float(result.objective_value())
    if bound is not None:
        bound = min(bound, cost)
    gap = (cost - bound) / max(abs(cost), 1e-9) if bound is not None else None
    proven = gap is not None and gap <= relative_gap + 1e-9
    status = "optimal" if proven else "feasible"
    message = (
        f"proven optimal within a relative gap of {relative_gap:g}"
        if proven
        else f"best plan within {time_limit_s:g} s; gap "
        + (f"{100 * gap:.3f}%" if gap is not None else "unknown")
    )
    return Solved(status, message, cost, bound, gap, _since(started), values, size)


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 4)


def read_result(cm: CapacityModel, solved: Solved, *, own_cost: bool = False) -> CapacityResult:
    """One block's answer in the scenario's words. With own_cost, the cost is the
    block's own (a scenario of a two-stage model) and no bound or gap is given."""
    if solved.values is None:
        return CapacityResult(
            solved.status,
            solved.message,
            None,
            None if own_cost else solved.bound,
            None,
            solved.wall_s,
            variables=solved.size[0],
            constraints=solved.size[1],
            model=cm,
        )
    cost = cm.cost_of(solved.values) if own_cost else solved.cost
    bound, gap = (None, None) if own_cost else (solved.bound, solved.gap)
    return _read(cm, solved.values, solved.status, solved.message, cost, bound, gap,
                 solved.wall_s, solved.size)  # fmt: skip


def _read(cm: CapacityModel, values, status, message, cost, bound, gap, wall_s, size):
    """The answer in the scenario's words (values: float64[n] by column)."""
    problem, index, scenario = cm.problem, cm.index, cm.scenario
    n_t = scenario.horizon.periods
    x = values[cm.x_cols]
    chosen = cm.pairs[x > 0.5]
    assign = np.full(problem.num_units, -1, np.int32)
    assign[chosen[:, 0]] = chosen[:, 1]
    counts = {(k, m): round(values[col]) for k, m, col in cm.build_cols}
    installed = {opt.id: [0] * n_t for opt in cm.options}
    purchases = []
    build_npv = 0.0
    for (k, m), n in sorted(counts.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if n <= 0:
            continue
        opt = cm.options[k]
        a = cm.arrival_km[(k, m)]
        span = (
            range(a, min(n_t, a + opt.term_months))
            if isinstance(opt, CloudCommit)
            else (range(a, n_t))
        )
        for t in span:
            installed[opt.id][t] += n
        capex, running = cm.cost_km[(k, m)]
        build_npv += n * (capex + running)
        purchases.append(_purchase(scenario, opt, n, m, a, n * (capex + running)))
    months = _months(cm, assign, values, purchases)
    unplaced = [index.units[u].name for u in np.flatnonzero(assign < 0)]
    return CapacityResult(
        status,
        message,
        cost,
        bound,
        gap,
        wall_s,
        purchases,
        installed,
        months,
        placement_npv_usd=cost - build_npv,
        build_npv_usd=build_npv,
        assign_u=assign,
        unplaced=unplaced,
        variables=size[0],
        constraints=size[1],
        model=cm,
    )


def _purchase(scenario, opt, n: int, order: int, m: int, npv: float) -> Purchase:
    """n units of an option ordered in month `order`, arriving in month m."""
    if isinstance(opt, GpuBuild):
        what = f"{n * opt.gpus} {opt.accelerator} GPUs ({n * opt.nodes} nodes)"
    elif isinstance(opt, CloudCommit):
        what = f"{n * opt.gpus} GPUs of {opt.pool} committed for {opt.term_months} months"
    elif isinstance(opt, SiteBuild):
        site = opt.site
        what = f"new {site.tier} site, {site.it_cap_kw:g} kW IT"
        what += f" (energised {opt.energised[:10]})" if opt.energised else ""
    elif isinstance(opt, CoolingBuild):
        what = f"{opt.type} cooling, racks up to {opt.max_rack_density_kw:g} kW"
        what += f", +{n * opt.heat_rejection_kw:g} kW heat" if opt.heat_rejection_kw else ""
    else:
        what = ", ".join(
            f"+{n * v:g} kW {name}" for name, v in (("IT", opt.it_kw), ("grid", opt.grid_kw)) if v
        )
    monthly = opt.lease_usd_per_month + opt.fixed_opex_usd_per_month
    if isinstance(opt, CloudCommit):
        monthly += opt.gpus * opt.committed_usd_per_gpu_h * MONTH_HOURS
    return Purchase(
        opt.id,
        opt.kind,
        opt.site_id,
        n,
        what,
        order,
        m,
        _date(scenario, order),
        _date(scenario, m),
        n * opt.capex_usd,
        n * monthly,
        npv,
    )


def _date(scenario, month: int) -> str:
    h = scenario.horizon
    return (h.start_time + dt.timedelta(hours=month * h.period_hours)).date().isoformat()


def _months(cm: CapacityModel, assign, values, purchases) -> list[dict]:
    """Per month: GPUs used per site and source, and the month's spend (undiscounted)."""
    problem, index, scenario = cm.problem, cm.index, cm.scenario
    n_t = scenario.horizon.periods
    span_h = scenario.horizon.hours
    tier = {s.id: s.tier for s in scenarios.all_sites(scenario)}
    committed = _committed(cm, values)
    out = [
        {
            "month": t,
            "start": _date(scenario, t),
            "gpus_by_site": {},
            "placement_usd": 0.0,
            "capex_usd": 0.0,
            "opex_usd": 0.0,
        }
        for t in range(n_t)
    ]
    slots = problem.slot_of(assign)
    time_ix = index.time
    for u in np.flatnonzero(assign >= 0).tolist():
        o, k = int(assign[u]), int(slots[u])
        pool = index.pools[int(problem.pool_o[o])]
        gpus = float(problem.amount_quk[Q_GPUS, u, k])
        usd = float(problem.objective_usd_per_h_uk[u, k]) * span_h
        t0, n = int(time_ix.start_o[o]), int(time_ix.length_o[o])
        for t in range(t0, min(n_t, t0 + n)):
            site = out[t]["gpus_by_site"].setdefault(pool.site, {})
            src = "onprem" if tier[pool.site] != "cloud" else "cloud"
            site[src] = site.get(src, 0.0) + gpus
            out[t]["placement_usd"] += usd / n
    for (pool, t), z in committed.items():
        use = out[t]["gpus_by_site"].setdefault(pool.split("/", 1)[0], {})
        cloud = use.pop("cloud", 0.0)
        use["committed"] = use.get("committed", 0.0) + z
        use["on_demand"] = max(0.0, cloud - z)
    for row in out:
        for use in row["gpus_by_site"].values():
            if "cloud" in use:
                use["on_demand"] = use.pop("cloud")
    for p in purchases:
        if p.order_month < n_t:
            out[p.order_month]["capex_usd"] += p.capex_usd
        opt = next(o for o in cm.options if o.id == p.option)
        last = min(n_t, p.arrival_month + opt.term_months) if isinstance(opt, CloudCommit) else n_t
        for t in range(p.arrival_month, last):
            out[t]["opex_usd"] += p.opex_usd_per_month
    for t, saved in _savings(cm, committed).items():
        out[t]["placement_usd"] -= saved
    return out


def _committed(cm: CapacityModel, values) -> dict[tuple[str, int], float]:
    """(cloud pool name "site/pool", month) -> committed GPUs in use (the z variables)."""
    return {key: float(values[col]) for key, col in cm.z_cols.items()}


def _savings(cm: CapacityModel, committed) -> dict[int, float]:
    """Month -> on-demand spend replaced by committed GPUs, USD (placement spend is at
    on-demand prices; the commitment's own price is in opex)."""
    price = {f"{s.id}/{p.key}": p.cost_usd_per_gpu_h for s in cm.scenario.sites for p in s.pools}
    out: dict[int, float] = {}
    for (pool, t), z in committed.items():
        out[t] = out.get(t, 0.0) + z * price[pool] * MONTH_HOURS
    return out
