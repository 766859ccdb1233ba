"""Scoring many plans of one scenario at once: objective terms and violations per plan.

`score` compiles the scenario once, maps each Plan to an assignment (int[U]: the pool
of each placement unit) and scores them all in one batch: with the float64 NumPy
reference for small batches, with the JAX kernel (float32, chunked, any device) for
large ones. It is a fast screen; `placer.plan.verify` stays the independent judge of a plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from placer.engines.kernels.arrays import to_pool_index
from placer.engines.kernels.reference import score_batch_numpy
from placer.engines.kernels.score import VIOLATION_FIELDS
from placer.errors import OptionError
from placer.model.scenario import Scenario
from placer.plan.plan import Plan
from placer.problem.compile import compile_problem
from placer.problem.form import Index, Problem

Engine = Literal["auto", "numpy", "jax"]

#: "auto" uses the JAX kernel at or above this many candidate-unit evaluations (K x U).
JAX_MIN_EVALUATIONS = 1_000_000


@dataclass(frozen=True)
class PlanScore:
    """One plan scored against a scenario.

    Attributes:
      objective_usd_per_h: placed objective plus the value of units left out, USD/h.
      cost_usd_per_h, carbon_kg_per_h, water_l_per_h: totals of the placed units.
      violations: amount of each violated rule (gpus_over in GPUs, it_over / facility_over
        / heat_over in kW, water_over in L/h, budget_over in USD/h, carbon_over in kg/h,
        masked in pairs, redundancy in copies); only the rules broken appear.
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


def assignment_of(plan: Plan, index: Index, *, strict: bool = True) -> np.ndarray:
    """The plan as int32[U] (pool index of each unit, -1 unplaced).

    Raises:
      OptionError: (strict) a placement names a unit or pool the scenario does not have.
    """
    pos = {(u.workload, u.region, u.copy): i for i, u in enumerate(index.units)}
    pools = {(p.site, p.key): i for i, p in enumerate(index.pools)}
    out = np.full(len(index.units), -1, dtype=np.int32)
    for n, pl in enumerate(plan.placements):
        u = pos.get((pl.workload, pl.region, pl.copy_index))
        p = pools.get((pl.site, pl.pool))
        if u is None or p is None:
            if strict:
                what = "unit" if u is None else "pool"
                raise OptionError(
                    f"placements.{n}: {pl.unit} at {pl.site}/{pl.pool}: the scenario has no "
                    f"such {what}; was this plan made for another scenario?"
                )
            continue
        out[u] = p
    return out


def score_assignments(
    problem: Problem, a_ku: np.ndarray, engine: Engine = "auto"
) -> list[PlanScore]:
    """Scores int[K, U] assignments (-1 unplaced) of a compiled problem."""
    a_ku = to_pool_index(np.atleast_2d(a_ku), problem.num_pools)
    if engine == "auto":
        engine = "jax" if a_ku.size >= JAX_MIN_EVALUATIONS else "numpy"
    if engine == "numpy":
        scores = score_batch_numpy(a_ku, problem)
    elif engine == "jax":
        import jax.numpy as jnp

        from placer.engines.kernels.arrays import to_kernel
        from placer.engines.kernels.score import chunk_size, score_batch

        chunk = chunk_size(problem.num_units, a_ku.shape[0])
        scores = score_batch(jnp.asarray(a_ku), to_kernel(problem), chunk=chunk)
    else:
        raise OptionError(f"unknown engine {engine!r}; choose auto, numpy or jax")
    arrays = {name: np.asarray(getattr(scores, name), dtype=np.float64) for name in scores._fields}
    tol = 1e-6 if engine == "numpy" else 1e-3
    out = []
    for k in range(a_ku.shape[0]):
        broken = {
            name: float(arrays[name][k]) for name in VIOLATION_FIELDS if arrays[name][k] > tol
        }
        out.append(
            PlanScore(
                objective_usd_per_h=float(arrays["objective"][k]),
                cost_usd_per_h=float(arrays["cost"][k]),
                carbon_kg_per_h=float(arrays["carbon"][k]),
                water_l_per_h=float(arrays["water"][k]),
                violations=broken,
                engine=engine,
            )
        )
    return out


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
    problem, index = compile_problem(scenario)
    if not plans:
        return []
    a_ku = np.stack([assignment_of(p, index) for p in plans])
    return score_assignments(problem, a_ku, engine)


def site_failure_scores(scenario: Scenario, plan: Plan) -> dict[str, PlanScore]:
    """N-1 screen of one plan: for each site, the plan's scores if that site were lost
    (units there unplaced; must-place ones count in `masked`). One JAX kernel call
    (`kernels/perturb.py`) scores every site's loss; nothing is re-solved — for the best
    re-placement after a loss, use `placer whatif --fail-each-site`."""
    import jax.numpy as jnp

    from placer.engines.kernels.arrays import to_kernel
    from placer.engines.kernels.perturb import score_perturbed, site_failures

    problem, index = compile_problem(scenario)
    kp = to_kernel(problem)
    a_u = jnp.asarray(to_pool_index(assignment_of(plan, index), problem.num_pools))
    scores = score_perturbed(a_u, kp, site_failures(kp))
    arrays = {name: np.asarray(getattr(scores, name), np.float64) for name in scores._fields}
    return {
        site: PlanScore(
            objective_usd_per_h=float(arrays["objective"][s]),
            cost_usd_per_h=float(arrays["cost"][s]),
            carbon_kg_per_h=float(arrays["carbon"][s]),
            water_l_per_h=float(arrays["water"][s]),
            violations={
                name: float(arrays[name][s]) for name in VIOLATION_FIELDS if arrays[name][s] > 1e-3
            },
            engine="jax",
        )
        for s, site in enumerate(index.sites)
    }


__all__ = [
    "JAX_MIN_EVALUATIONS",
    "PlanScore",
    "assignment_of",
    "score",
    "score_assignments",
    "site_failure_scores",
]
