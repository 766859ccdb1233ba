"""Scoring many plans of one scenario at once: objective terms and violations per plan.

`score` compiles the scenario once, maps each Plan to an assignment (int[U]: the option
of each placement unit, today its pool) and scores them all in one batch: with the float64 NumPy
reference for small batches, with the JAX kernel (float32, chunked, any device) for
large ones. It is a fast screen; `placer.plan.verify` stays the independent judge of a plan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from placer.engines.kernels.arrays import to_slots
from placer.engines.kernels.reference import score_batch_numpy
from placer.engines.kernels.score import VIOLATION_FIELDS, Scores, violation_values
from placer.errors import OptionError
from placer.model.scenario import Scenario
from placer.plan.plan import Plan
from placer.plan.plan_problem import plan_problem
from placer.plan.score_schedule import check_schedule, schedule_of, with_schedule
from placer.problem.form import Index, Problem
from placer.problem.rows import Q_CARBON, Q_COST, Q_WATER, VIOLATIONS
from placer.problem.schedule_options import with_schedule_options
from placer.problem.soft import excess_r, excess_usd_per_h, has_soft_rows, soft_mask
from placer.problem.usage import row_loads, startup_cost

Engine = Literal["auto", "numpy", "jax"]

#: "auto" uses the JAX kernel at or above this many candidate-unit evaluations (K x U).
JAX_MIN_EVALUATIONS = 1_000_000


@dataclass(frozen=True)
class PlanScore:
    """One plan scored against a scenario.

    Attributes:
      objective_usd_per_h: placed objective plus the value of units left out, USD/h
        (and replica start-ups, `placer.problem.startup`, and what drawing above a
        priced grid event's cap costs, `placer.problem.soft`).
      cost_usd_per_h, carbon_kg_per_h, water_l_per_h: totals of the placed units (the
        cost with the start-ups and the excess paid).
      violations: amount of each violated rule (gpus_over in GPUs, it_over / facility_over
        / heat_over in kW, water_over in L/h, budget_over in USD/h, carbon_over in kg/h,
        masked in pairs, redundancy in copies); only the rules broken appear. A
        placement on a pool the unit may not use counts in `masked`; the compiled
        problem has no figures for such a pair, so it counts as unplaced otherwise.
      engine: "numpy" (float64) or "jax" (float32).
    """

    objective_usd_per_h: float
    cost_usd_per_h: float
    carbon_kg_per_h: float
    water_l_per_h: float
    violations: dict[str, float] = field(default_factory=dict)
    engine: str = "numpy"

    @property
    def feasible(self) -> bool:
        """True when no rule is broken."""
        return not self.violations


def assignment_of(
    plan: Plan, index: Index, *, strict: bool = True, skip_preempted: bool = False
) -> np.ndarray:
    """The plan as int32[U] (option of each unit, -1 unplaced): a pool in a static plan
    (a disaggregated placement: its (prefill pool, decode pool) pair option); in a timed
    one the option of the placement's pool, first period and length. A preempted run
    (`segments`) is no option: strict, it raises unless `skip_preempted`; else it is left
    out (-1) (`score_schedule.schedule_of` reads it).

    Raises:
      OptionError: (strict) a placement names a unit or pool the scenario does not have.
    """
    pos = {(u.workload, u.region, u.copy, u.period, u.part): i for i, u in enumerate(index.units)}
    pools = {(p.site, p.key): i for i, p in enumerate(index.pools)}
    options = index.time.option_of() if index.time is not None else None
    pairs = (
        {}
        if index.pair_pools is None
        else {(int(a), int(b)): len(index.pools) + i for i, (a, b) in enumerate(index.pair_pools)}
    )
    out = np.full(len(index.units), -1, dtype=np.int32)
    for n, pl in enumerate(plan.placements):
        period = -1 if pl.period is None else pl.period
        u = pos.get((pl.workload, pl.region, pl.copy_index, period, pl.part))
        o = pools.get((pl.site, pl.pool))
        what = "unit" if u is None else "pool"
        if o is not None and pl.decode_pool is not None:  # disaggregated (docs/serving.md)
            second = pools.get((pl.site, pl.decode_pool))
            o = None if second is None else pairs.get((o, second))
            what = "unit" if u is None else "pool pair"
        if pl.segments is not None:  # a preempted run is no option (docs/time.md)
            if strict and not skip_preempted:
                raise OptionError(
                    f"placements.{n}: {pl.unit} is preempted (segments): a plan with "
                    "preempted runs cannot be read back as options yet"
                )
            continue
        if o is not None and options is not None:  # a timed plan: pool, start and length
            o = options.get((o, pl.start_period, pl.periods))
            what = "unit" if u is None else "pool and start"
        if u is None or o is None:
            if strict:
                raise OptionError(
                    f"placements.{n}: {pl.unit} at {pl.site}/{pl.pool}: the scenario has no "
                    f"such {what}; was this plan made for another scenario?"
                )
            continue
        out[u] = o
    return out


#: What a violation must pass to be reported, per engine (float64 NumPy, float32 kernels).
_TOL = {"numpy": 1e-6, "jax": 1e-3}


def score_assignments(
    problem: Problem, a_ku: np.ndarray, engine: Engine = "auto"
) -> list[PlanScore]:
    """Scores int[C, U] assignments (options, -1 unplaced) of a compiled problem."""
    a_ku = np.atleast_2d(np.asarray(a_ku))
    slots = to_slots(problem, a_ku)
    unlisted = (a_ku >= 0) & (slots == problem.num_slots)  # placed where not allowed
    extra = (unlisted & ~problem.must_place_u[None, :]).sum(axis=1)  # must-place: counted
    if engine == "auto":
        engine = "jax" if a_ku.size >= JAX_MIN_EVALUATIONS else "numpy"
    if engine == "numpy":
        scores = score_batch_numpy(slots, problem)
    elif engine == "jax":
        import jax.numpy as jnp

        from placer.engines.kernels.arrays import to_kernel
        from placer.engines.kernels.score import chunk_size, score_batch

        chunk = chunk_size(problem.num_units, slots.shape[0])
        scores = score_batch(jnp.asarray(slots), to_kernel(problem), chunk=chunk)
    else:
        raise OptionError(f"unknown engine {engine!r}; choose auto, numpy or jax")
    tol = _TOL[engine]
    out = [_plan_score(scores, c, tol, engine, float(extra[c])) for c in range(a_ku.shape[0])]
    return _with_couplings(problem, a_ku, out, tol)


def _with_couplings(
    problem: Problem, a_ku: np.ndarray, out: list[PlanScore], tol: float
) -> list[PlanScore]:
    """Scores with what the kernels' per-unit sums leave out, in float64: load over a
    soft row paid, not violated (`_with_excess`), and replica start-ups."""
    if has_soft_rows(problem):
        out = [_with_excess(problem, a, s, tol) for a, s in zip(a_ku, out, strict=True)]
    if problem.startup is None:
        return out
    # replica start-ups couple periods: not in the kernels' per-unit sums; added in float64
    started = [startup_cost(problem, a) for a in a_ku]
    return [
        dataclasses.replace(
            s, objective_usd_per_h=s.objective_usd_per_h + c, cost_usd_per_h=s.cost_usd_per_h + c
        )
        for s, c in zip(out, started, strict=True)
    ]


def _with_excess(problem: Problem, assign_u: np.ndarray, s: PlanScore, tol: float) -> PlanScore:
    """A score with the load over soft rows (a priced grid event's cap, `problem.soft`)
    paid, not violated: its cost in the objective and the cost (float64), its kW out of
    `facility_over` (the kernels count it with the hard rows' excess)."""
    loads = row_loads(problem, assign_u)
    paid = excess_usd_per_h(problem, loads)
    kinds = problem.kind_r[soft_mask(problem)]
    over = excess_r(problem, loads)[soft_mask(problem)]
    violations = dict(s.violations)
    for k in np.unique(kinds).tolist():
        name = VIOLATIONS[k]
        left = violations.get(name, 0.0) - float(over[kinds == k].sum())
        violations.pop(name, None)
        if left > tol * max(1.0, float(over.sum())):
            violations[name] = left
    return dataclasses.replace(
        s,
        objective_usd_per_h=s.objective_usd_per_h + paid,
        cost_usd_per_h=s.cost_usd_per_h + paid,
        violations=violations,
    )


def _plan_score(scores: Scores, c: int, tol: float, engine: str, masked: float = 0.0):
    """Candidate c of a batch of Scores as a PlanScore (`masked` more masked pairs)."""
    values = np.asarray(violation_values(scores), np.float64)[c]
    values[-2] += masked
    total = np.asarray(scores.total_q, np.float64)[c]
    return PlanScore(
        objective_usd_per_h=float(np.asarray(scores.objective, np.float64)[c]),
        cost_usd_per_h=float(total[Q_COST]),
        carbon_kg_per_h=float(total[Q_CARBON]),
        water_l_per_h=float(total[Q_WATER]),
        violations={
            name: float(v) for name, v in zip(VIOLATION_FIELDS, values, strict=True) if v > tol
        },
        engine=engine,
    )


def score(
    scenario: Scenario, plans: Plan | Sequence[Plan], *, engine: Engine = "auto"
) -> list[PlanScore]:
    """Scores plans of one scenario in one batch.

    Args:
      scenario: the scenario the plans are for.
      plans: one Plan or a sequence of them (e.g. every plan of a what-if sweep).
      engine: "numpy" (float64 reference), "jax" (the kernel, float32, on the default
        device), or "auto" (jax from `JAX_MIN_EVALUATIONS` plan-unit evaluations on).

    Returns:
      One PlanScore per plan, in order.

    Raises:
      OptionError: a plan names units or pools the scenario does not have; bad engine.
    """
    if isinstance(plans, Plan):
        plans = [plans]
    problem, index = plan_problem(scenario, plans)
    if not plans:
        return []
    a_ku = np.stack([assignment_of(p, index, skip_preempted=True) for p in plans])
    out = score_assignments(problem, a_ku, engine)
    for c, plan in enumerate(plans):  # runs that pause or move: no option (score_schedule)
        if any(pl.segments is not None for pl in plan.placements):
            schedule = schedule_of(plan, index)
            check_schedule(problem, schedule, index)
            out[c] = with_schedule(problem, a_ku[c], schedule, out[c], _TOL[out[c].engine])
    return out


def site_failure_scores(scenario: Scenario, plan: Plan) -> dict[str, PlanScore]:
    """N-1 screen of one plan: for each site, the plan's scores if that site were lost
    (units there unplaced; must-place ones count in `masked`; a paused or moved run is
    scored on its schedule, `placer.problem.schedule_options`, and lost with any site
    it runs at). One JAX kernel call
    (`kernels/perturb.py`) scores every site's loss; nothing is re-solved — for the best
    re-placement after a loss, use `placer whatif --fail-each-site`."""
    import jax.numpy as jnp

    from placer.engines.kernels.arrays import to_kernel
    from placer.engines.kernels.perturb import no_change, score_perturbed

    problem, index = plan_problem(scenario, [plan])
    assign = assignment_of(plan, index, skip_preempted=True)
    n_s = len(index.sites)
    down_so = problem.site_o[None, :] == np.arange(n_s)[:, None]  # option o lost with site s
    schedule = schedule_of(plan, index)
    if schedule:  # paused or moved runs: their schedules as options, lost with any site
        check_schedule(problem, schedule, index)
        options = with_schedule_options(problem, [schedule])
        problem = options.problem
        assign = options.assignment(assign, schedule)
        down_so = np.pad(down_so, ((0, 0), (0, len(options.option_i))))
        for o, pools in zip(options.option_i.tolist(), options.pools_i, strict=True):
            down_so[problem.pool_site_p[list(pools)], o] = True
    kp = to_kernel(problem)
    a_u = jnp.asarray(to_slots(problem, assign))
    pert = no_change(n_s, kp)._replace(option_up_o=jnp.asarray(~down_so))
    scores = score_perturbed(a_u, kp, pert)
    out = [_plan_score(scores, s, 1e-3, "jax") for s in range(n_s)]
    # each loss's assignment: the lost site's units unplaced
    placed = assign >= 0
    lost_su = np.zeros((n_s, assign.size), bool)
    lost_su[:, placed] = down_so[:, assign[placed]]
    after = np.where(lost_su, -1, assign[None, :])
    out = _with_couplings(problem, after, out, 1e-3)
    return dict(zip(index.sites, out, strict=True))


__all__ = [
    "JAX_MIN_EVALUATIONS",
    "PlanScore",
    "assignment_of",
    "score",
    "score_assignments",
    "site_failure_scores",
]
