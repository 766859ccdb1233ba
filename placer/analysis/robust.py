"""`placer robust`: Monte Carlo robustness of plans under sampled uncertainty.

Draws `samples` variants of the scenario's uncertain figures (demand, energy prices,
carbon intensity, GPU-hour prices, capacity losses: `placer.model.uncertainty`), maps
each onto the perturbation kernel (`robust_sample`) and scores every plan under the same
draws (common random numbers), BLOCK samples per kernel call, so memory is one block's
whatever the number of samples. From the scores: P50 / P95 / mean / CVaR of cost,
carbon and objective; the probability of each kind of violation; per site, of a cap
overrun by kind, of losing units and of service at risk; and the capacity rows most
often exceeded ("what fails first").

One kernel call (`score_block`) returns, for a block of B samples, the kernel's Scores
(`score_perturbed`: objective, totals, excess by kind, masked pairs, redundancy) and the
excess over every row, float32[B, R]: the same load step as `score_perturbed`'s,
repeated here because per-row excesses are what the report ranks (their sums by kind
equal the kernel's `over_k`; tests/test_robust.py checks both against a float64 NumPy
reference of the explicitly perturbed problem, `robust_reference`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from placer.analysis.robust_fleet import (
    PlanExposure,
    build_fleet,
    check_plan_scenario,
    expose,
    with_schedules,
)
from placer.analysis.robust_report import PlanRisk, RobustReport, RowRisk, SiteRisk, Spread
from placer.analysis.robust_sample import BLOCK, Draws, Sampler, make_sampler
from placer.analysis.robust_tally import SITE_COLUMNS, Counter, Tally
from placer.engines.kernels.arrays import KernelProblem, slot_values
from placer.engines.kernels.perturb import Perturbation, score_perturbed
from placer.engines.kernels.score import (
    DEFAULT_WEIGHTS,
    VIOLATION_FIELDS,
    Scores,
    penalized,
    row_loads,
)
from placer.errors import OptionError
from placer.model.scenario import Scenario
from placer.model.uncertainty import Uncertainty, check_references
from placer.plan.plan import Plan
from placer.plan.scoring import PlanScore, score_assignments
from placer.problem.rows import KIND_NAMES, ROW_KINDS
from placer.problem.usage import row_loads as numpy_row_loads

#: Weight of each violation in the penalized objective (VIOLATION_FIELDS order).
VIOLATION_WEIGHTS = np.append(
    np.asarray(DEFAULT_WEIGHTS.over_k, np.float64),
    [float(DEFAULT_WEIGHTS.masked), float(DEFAULT_WEIGHTS.redundancy)],
)


def _row_excess(
    a_u: jax.Array,
    kp: KernelProblem,
    option_up_o: jax.Array,
    cap_scale_r: jax.Array,
    amount_scale_oq: jax.Array,
    usage_scale_u: jax.Array,
    loads: str,
) -> jax.Array:
    """float32[R]: load above capacity on every row under one perturbation (the load
    step of `perturb._score_one_perturbed`, kept per row)."""
    n_k, n_o = kp.num_slots, kp.row_o1j.shape[0] - 1
    units = jnp.arange(a_u.shape[0])
    up = jnp.append(option_up_o, True)[kp.option_uk1[units, a_u]]
    a = jnp.where(up, a_u, n_k)  # a lost option: the unit is unplaced
    option_u = kp.option_uk1[units, a]
    m = jnp.where(option_u < n_o, usage_scale_u, 1.0)
    scale_uq = jnp.concatenate(
        [amount_scale_oq, jnp.ones((1, amount_scale_oq.shape[1]), amount_scale_oq.dtype)]
    )[option_u]
    term_scale = jnp.take_along_axis(scale_uq, kp.quantity_o1j[option_u], axis=1)
    values = slot_values(kp, units, a) * m[:, None] * term_scale
    load = row_loads(values, option_u, kp, loads)
    cap = kp.cap_r1 * jnp.append(cap_scale_r, 1.0)
    return jnp.maximum(load - cap, 0.0)[:-1]


@functools.partial(jax.jit, static_argnames=("loads",))
def score_block(
    a_u: jax.Array, kp: KernelProblem, pert: Perturbation, loads: str = "segment"
) -> tuple[Scores, jax.Array, jax.Array]:
    """One plan under B perturbations.

    Args:
      a_u: int32[U], the plan's slots (K = unplaced).
      kp: kernel arrays.   pert: B perturbations (`kernels/perturb.py`).

    Returns:
      (Scores with [B] fields, penalized float32[B] USD/h, excess over each row
      float32[B, R] in the rows' units).
    """
    scores = score_perturbed(a_u, kp, pert, loads=loads)
    excess = jax.vmap(functools.partial(_row_excess, a_u, kp, loads=loads))(
        pert.option_up_o, pert.cap_scale_r, pert.amount_scale_oq, pert.usage_scale_u
    )
    return scores, penalized(scores), excess


def score_plans(
    sampler: Sampler, plans: Sequence[PlanExposure], samples: int, seed: int
) -> list[Tally]:
    """Every plan under the same `samples` draws of `seed`, BLOCK per kernel call.

    Raises:
      OptionError: samples < 1.
    """
    if samples < 1:
        raise OptionError(f"samples: {samples}; give at least 1")
    p = sampler.fleet.problem
    kp = sampler.fleet.kp
    counter = Counter(sampler)
    tallies = [Tally.empty(p.num_rows, p.num_sites) for _ in plans]
    slots = [jnp.asarray(plan.slots_u) for plan in plans]
    pending = None  # the previous block: counted while the device scores this one
    for block in range(math.ceil(samples / BLOCK)):
        n = min(BLOCK, samples - block * BLOCK)
        draws = sampler.draw(seed, block)
        outs = [
            score_block(a_u, kp, sampler.perturbation(plan, draws))  # dispatched, not awaited
            for plan, a_u in zip(plans, slots, strict=True)
        ]
        if pending is not None:
            _count(counter, tallies, plans, *pending)
        pending = (draws, outs, n)
    if pending is not None:
        _count(counter, tallies, plans, *pending)
    return [t.finish() for t in tallies]


def _count(counter: Counter, tallies, plans, draws: Draws, outs, n: int) -> None:
    for tally, plan, out in zip(tallies, plans, outs, strict=True):
        counter.add(tally, plan, draws, out, n)


def cvar(x: np.ndarray, alpha: float) -> float:
    """Mean of the worst (largest) ceil((1 - alpha) n) values of x: the empirical CVaR."""
    k = max(1, math.ceil((1.0 - alpha) * x.size - 1e-9))
    return float(np.sort(x)[-k:].mean())


def spread(x: np.ndarray, nominal: float, alpha: float) -> Spread:
    """The sample statistics of x beside its nominal value."""
    return Spread(
        nominal=float(nominal),
        mean=float(x.mean()),
        p50=float(np.percentile(x, 50)),
        p95=float(np.percentile(x, 95)),
        cvar=cvar(x, alpha),
    )


def nominal_score(sampler: Sampler, plan: PlanExposure) -> tuple[PlanScore, float]:
    """(the float64 NumPy score of the plan as written, its penalized objective USD/h)."""
    score = score_assignments(sampler.fleet.problem, plan.options_u[None, :], "numpy")[0]
    weights = dict(zip(VIOLATION_FIELDS, VIOLATION_WEIGHTS, strict=True))
    penalty = sum(weights[k] * v for k, v in score.violations.items())
    return score, score.objective_usd_per_h + penalty


def plan_risk(
    sampler: Sampler,
    plan: PlanExposure,
    tally: Tally,
    *,
    alpha: float,
    top: int,
    source: str = "",
    status: str = "",
) -> PlanRisk:
    """The report of one plan from its tally."""
    f = sampler.fleet
    n = tally.samples
    nominal, nominal_penalized = nominal_score(sampler, plan)
    figs = tally.figures
    violation = figs["violation"]
    sites = [
        SiteRisk(
            site=name,
            overrun={KIND_NAMES[k]: tally.site_kind[s, c] / n for c, k in enumerate(SITE_COLUMNS)},
            any_overrun=tally.site_any[s] / n,
            units_lost=tally.lost_s[s] / n,
            must_place_lost=tally.must_s[s] / n,
            slo_at_risk=tally.slo_s[s] / n,
        )
        for s, name in enumerate(f.index.sites)
    ]
    return PlanRisk(
        label=plan.label,
        source=source,
        status=status,
        objective_usd_per_h=spread(figs["objective"], nominal.objective_usd_per_h, alpha),
        cost_usd_per_h=spread(figs["cost"], nominal.cost_usd_per_h, alpha),
        carbon_kg_per_h=spread(figs["carbon"], nominal.carbon_kg_per_h, alpha),
        penalized_usd_per_h=spread(figs["penalized"], nominal_penalized, alpha),
        nominal_violations=nominal.violations,
        feasible=float((~violation.any(axis=1)).mean()),
        any_violation=float(violation.any(axis=1).mean()),
        violation={k: float(violation[:, i].mean()) for i, k in enumerate(VIOLATION_FIELDS)},
        sites=sites,
        fail_first=fail_first(sampler, plan, tally, top),
    )


def fail_first(sampler: Sampler, plan: PlanExposure, tally: Tally, top: int) -> list[RowRisk]:
    """The `top` rows most often exceeded (then by mean excess), with their names."""
    f, p = sampler.fleet, sampler.fleet.problem
    hit = np.flatnonzero(tally.over_r > 0)
    mean_excess = tally.excess_r[hit] / tally.over_r[hit]
    order = hit[np.lexsort((-mean_excess, -tally.over_r[hit]))][:top]
    listed = np.where(plan.slots_u < p.num_slots, plan.options_u, -1)
    loads = numpy_row_loads(p, listed)
    period_r = f.index.time.period_r if f.index.time is not None else None
    out = []
    for r in order.tolist():
        kind = ROW_KINDS[int(p.kind_r[r])]
        scope = int(p.scope_r[r])
        pool = f.index.pools[scope] if kind.scope == "pool" else None
        site = pool.site if pool else (f.index.sites[scope] if kind.scope == "site" else None)
        period = None if period_r is None or period_r[r] < 0 else int(period_r[r])
        unit = kind.unit
        if kind.name == "water_l_per_h" and period is not None and p.scale_oj is not None:
            unit = "L/h (the day's mean)"  # one row per day, on its first period (water_days)
        out.append(
            RowRisk(
                row=r,
                kind=kind.name,
                unit=unit,
                site=site,
                pool=pool.name if pool else None,
                period=period,
                capacity=float(p.cap_r[r]),
                nominal_load=float(loads[r]),
                probability=tally.over_r[r] / tally.samples,
                mean_excess=float(tally.excess_r[r] / tally.over_r[r]),
            )
        )
    return out


def prepare(scenario: Scenario, uncertainty: Uncertainty, source: str = "uncertainty") -> Sampler:
    """Checks the uncertainty against the scenario, compiles it and resolves the sampler.

    Raises:
      OptionError: the uncertainty names a site or workload the scenario lacks.
    """
    check_references(uncertainty, scenario, source)
    return make_sampler(build_fleet(scenario), uncertainty)


def run_robust(
    sampler: Sampler,
    plans: Sequence[tuple[str, Plan, str]],
    *,
    samples: int = 1000,
    seed: int = 0,
    alpha: float = 0.95,
    top: int = 20,
) -> RobustReport:
    """Scores plans of the sampler's scenario under the same sampled uncertainty.

    Args:
      sampler: from `prepare`.
      plans: (label, plan, source file) of each plan; the first is the one under study,
        the others are compared with it on the same samples.
      samples: number of samples (>= 1).   seed: their seed (0 <= seed < 2**31).
      alpha: CVaR level in (0, 1).   top: capacity rows listed per plan.

    Raises:
      OptionError: a plan of another scenario (naming the plan and the field), samples
        < 1, alpha outside (0, 1).
    """
    if not plans:
        raise OptionError("robust: no plan given")
    if not 0.0 < alpha < 1.0:
        raise OptionError(f"alpha: {alpha}; the CVaR level must be in (0, 1), e.g. 0.95")
    started = time.perf_counter()
    scenario = sampler.fleet.scenario
    for _, plan, source in plans:
        check_plan_scenario(plan, scenario, source)
    # paused or moved runs: their schedules become options of the fleet (plan-dependent)
    fleet = with_schedules(sampler.fleet, [(plan, source) for _, plan, source in plans])
    sampler = dataclasses.replace(sampler, fleet=fleet)
    exposures = []
    for label, plan, source in plans:
        try:
            exposures.append(expose(sampler.fleet, plan, label))
        except OptionError as e:
            raise OptionError(f"{source}: {e}") from None
    scored = time.perf_counter()
    tallies = score_plans(sampler, exposures, samples, seed)
    score_s = time.perf_counter() - scored
    risks = [
        plan_risk(sampler, e, t, alpha=alpha, top=top, source=source, status=plan.status)
        for e, t, (_, plan, source) in zip(exposures, tallies, plans, strict=True)
    ]
    return RobustReport(
        scenario=scenario.metadata.name,
        samples=samples,
        seed=seed,
        alpha=alpha,
        engine=jax.default_backend(),
        wall_s=time.perf_counter() - started,
        score_s=score_s,
        uncertainty=sampler.uncertainty.model_dump(mode="json"),
        plans=risks,
        notes=method_notes(sampler.uncertainty),
    )


def method_notes(u: Uncertainty) -> list[str]:
    """What is exact and what is linearised in a report (docs/robust.md has details)."""
    demand = (
        "demand: replicas re-rounded per sample (GPUs and kW exact); energy, cost, carbon "
        "and water scale with the replicas (utilisation per replica held: first-order)"
        if u.demand.rounding == "replicas"
        else "demand: linear (every amount scales with demand; fractional replicas)"
    )
    return [
        demand,
        "energy and GPU-hour prices: exact for a plan's totals when the units sharing a "
        "pool have equal demand factors, first-order otherwise",
        "carbon intensity and capacity losses: exact",
        "sample figures: float32 kernel; nominal: float64 NumPy reference",
    ]


__all__ = [
    "cvar",
    "fail_first",
    "method_notes",
    "nominal_score",
    "plan_risk",
    "prepare",
    "run_robust",
    "score_block",
    "score_plans",
    "spread",
]
