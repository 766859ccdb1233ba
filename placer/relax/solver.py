"""The `relax` solver: prices -> many sampled candidates -> kernel scoring -> repair."""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from placer.kernels.arrays import to_kernel, to_pool_index
from placer.kernels.score import chunk_size, penalized, score_batch
from placer.milp.solve import solve_milp
from placer.problem import UNPLACED, Problem
from placer.relax.lagrangian import RelaxResult, capacity_rows, relax_prices
from placer.relax.repair import repair
from placer.solvers.base import SolveOptions, SolveResult
from placer.usage import objective_value, violations

#: Candidates sampled from the priced distributions and scored by the kernel.
DEFAULT_SAMPLES = 256


@functools.partial(jax.jit, static_argnames=("k",))
def sample_candidates(key: jax.Array, logits_up1: jax.Array, *, k: int) -> jax.Array:
    """int32[k, U]: candidate c draws each unit's pool from softmax(logits) with the key
    fold_in(key, c), so a candidate never depends on how the batch is split or sharded."""

    def one(c):
        return jax.random.categorical(jax.random.fold_in(key, c), logits_up1, axis=1)

    return jax.vmap(one)(jnp.arange(k)).astype(jnp.int32)


def round_prices(
    problem: Problem, relaxed: RelaxResult, *, samples: int, seed: int, repair_top: int = 4
) -> np.ndarray:
    """Best repaired assignment among the hard argmin and `samples` sampled candidates."""
    priced = relaxed.priced_up1
    finite = np.where(np.isfinite(priced), priced, np.nan)
    spread = np.nanstd(finite) if np.isfinite(finite).any() else 1.0
    temp = max(float(spread) * 0.05, 1e-6)
    logits = np.where(
        np.isfinite(priced),
        -(priced - np.nanmin(finite, axis=1, initial=np.inf)[:, None]) / temp,
        -1e30,
    ).astype(np.float32)
    argmin = np.argmin(np.where(np.isfinite(priced), priced, np.inf), axis=1)
    cands = np.asarray(sample_candidates(jax.random.key(seed), jnp.asarray(logits), k=samples))
    cands = np.vstack([argmin[None, :].astype(np.int32), cands])
    kp = to_kernel(problem)
    scores = score_batch(jnp.asarray(cands), kp, chunk=chunk_size(problem.num_units, len(cands)))
    # Always repair the hard argmin (row 0) too: it is the Lagrangian solution itself.
    order = [0, *(int(r) for r in np.argsort(np.asarray(penalized(scores)))[:repair_top] if r != 0)]
    best, best_obj = None, np.inf
    for row in order:
        assign = np.where(cands[row] == problem.num_pools, UNPLACED, cands[row]).astype(np.int32)
        fixed = repair(problem, assign, np.where(np.isfinite(priced), priced, np.inf))
        if violations(problem, fixed):
            continue
        obj = objective_value(problem, fixed)
        if obj < best_obj:
            best, best_obj = fixed, obj
    return best if best is not None else np.full(problem.num_units, UNPLACED, np.int32)


def solve_relax(problem: Problem, options: SolveOptions) -> SolveResult:
    """Lagrangian prices with optax, then rounding by sampling + kernel + repair."""
    if problem.num_units == 0 or problem.num_pools == 0 or not problem.allowed_up.any():
        return solve_milp(problem, options)  # nothing to relax: the exact answer is instant
    started = time.perf_counter()
    steps = 300 if options.time_limit_s < 5 else 1000
    relaxed = relax_prices(problem, steps=steps)
    if not np.isfinite(relaxed.bound):
        return SolveResult(
            np.full(problem.num_units, UNPLACED, np.int32),
            "infeasible",
            message="proven infeasible: a must-place unit has no allowed pool",
            bound_scope="full",
        )
    assign = round_prices(problem, relaxed, samples=DEFAULT_SAMPLES, seed=options.seed)
    notes = [
        f"Lagrangian bound {relaxed.bound:,.4f} USD/h ({steps} Adam steps, "
        f"{time.perf_counter() - started:.2f} s)"
    ]
    prices = capacity_rows(problem, relaxed.prices_r)
    if violations(problem, assign):
        return SolveResult(
            assign,
            "no_solution",
            bound_usd_per_h=relaxed.bound,
            bound_scope="full",
            message="rounding and repair left must-place units out; try milp or hybrid",
            diagnostics=notes,
        )
    obj = objective_value(problem, assign)
    gap = (obj - relaxed.bound) / max(abs(obj), 1e-9)
    status = "optimal" if gap <= options.relative_gap else "feasible"
    return SolveResult(
        assign,
        status,
        objective_usd_per_h=obj,
        bound_usd_per_h=relaxed.bound,
        bound_scope="full",
        message=f"relaxation plan; certified gap {100 * max(gap, 0):.3f}%",
        capacity_prices=prices,
        diagnostics=notes,
    )


__all__ = ["round_prices", "sample_candidates", "solve_relax", "to_pool_index"]
