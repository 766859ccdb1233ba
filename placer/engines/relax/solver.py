"""The `relax` solver: prices -> many sampled candidates -> kernel scoring -> repair.

Prices come from Adam on the Lagrangian dual over pair lists (`lagrangian.relax_prices`)
or, on a problem whose options charge many rows and that has more than ASCENT_PAIRS
pairs (a timed fleet: docs/time.md), from Adam on the per-option table
(`option_dual.ascend`): the pair lists of gen-time-10000x100x72-s1 (4.1M pairs, each
charging its rows in every period it runs) passed 18.8 GB, where the option table takes
a few GB (the column-generation hybrid starts from the same ascent). The candidates are
then drawn around each unit's cheapest priced slot (`_wide_relaxation`). The ascent plans
its steps at the measured speed, so on that path the plan depends on the machine (the
bound is certified either way).
"""

from __future__ import annotations

import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from placer import interrupt
from placer.engines.base import SolveOptions, SolveResult
from placer.engines.greedy import solve_greedy
from placer.engines.kernels.arrays import to_kernel, to_options
from placer.engines.kernels.score import chunk_size, penalized, score_batch
from placer.engines.milp.solve import solve_milp
from placer.engines.relax.knapsack_bound import knapsack_bound, site_note
from placer.engines.relax.lagrangian import RelaxResult, capacity_rows, relax_prices, use_dense
from placer.engines.relax.option_dual import ascend
from placer.engines.relax.repair import best_repaired
from placer.engines.relax.sampled import chunked_dual_bound
from placer.problem.form import UNPLACED, Problem
from placer.problem.usage import objective_value, violations

#: Candidates sampled from the relaxation and scored by the kernel (at most; see
#: `samples_for`: sampling costs U x (K+1) random draws per candidate).
DEFAULT_SAMPLES = 256
SAMPLE_DRAW_BUDGET = 20_000_000
#: Least time left for the MILP fallback when no plan passes (rounded, hint, greedy), s.
MIN_MILP_S = 0.5
#: Wide problems (`Problem.wide_options`) with more pairs than this learn their prices
#: on the per-option table (`option_dual.ascend`), as the column-generation hybrid does.
ASCENT_PAIRS = 1_000_000
#: Temperature of the sampling around each unit's cheapest priced slot on that path, as
#: a share of the mean |objective| of the listed pairs.
WIDE_TEMPERATURE = 1e-3


def uses_option_ascent(problem: Problem) -> bool:
    """Whether `relax` learns its prices on the per-option table (module docstring)."""
    return problem.wide_options() and problem.num_pairs() > ASCENT_PAIRS


def _wide_relaxation(problem: Problem, time_budget_s: float) -> RelaxResult:
    """Prices from `option_dual.ascend` within `time_budget_s`, their certified bound (the
    better of the ascent's and the float64 re-pricing's) and every slot priced at them;
    the sampling distribution is a softmax of minus the priced costs at WIDE_TEMPERATURE,
    so candidates are each unit's cheapest priced slot and its near ties."""
    ascent = ascend(problem, time_budget_s=time_budget_s)
    bound, priced = chunked_dual_bound(problem, ascent.prices_r)
    allowed = np.isfinite(priced)
    listed = problem.objective_usd_per_h_uk[problem.listed_uk]
    spread = float(np.abs(listed).mean()) if listed.size else 1.0
    temperature = WIDE_TEMPERATURE * max(spread, 1e-6)
    low = np.min(np.where(allowed, priced, np.inf), axis=1, keepdims=True)
    weight = np.where(allowed, np.exp(-(np.where(allowed, priced, low) - low) / temperature), 0.0)
    primal = weight / np.maximum(weight.sum(axis=1, keepdims=True), 1e-300)
    return RelaxResult(ascent.prices_r, max(bound, ascent.bound), priced, temperature, primal)


def samples_for(problem: Problem) -> int:
    """Candidates to sample: DEFAULT_SAMPLES, fewer when U x (K+1) is large (>= 16)."""
    per = max(1, problem.num_units * (problem.num_slots + 1))
    return int(max(16, min(DEFAULT_SAMPLES, SAMPLE_DRAW_BUDGET // per)))


@functools.partial(jax.jit, static_argnames=("k",))
def sample_candidates(key: jax.Array, logits_uk1: jax.Array, *, k: int) -> jax.Array:
    """int32[k, U]: candidate c draws each unit's slot from softmax(logits) with the key
    fold_in(key, c), so a candidate never depends on how the batch is split or sharded."""

    def one(c):
        return jax.random.categorical(jax.random.fold_in(key, c), logits_uk1, axis=1)

    return jax.vmap(one)(jnp.arange(k)).astype(jnp.int32)


def round_prices(
    problem: Problem,
    relaxed: RelaxResult,
    *,
    samples: int,
    seed: int,
    repair_top: int = 4,
    deadline: float | None = None,
) -> np.ndarray:
    """Best repaired assignment among the priced argmin, the ergodic primal's argmax and
    `samples` candidates drawn from the ergodic primal (average soft assignment).

    `deadline` (time.perf_counter() value): no further candidate is repaired after it
    (the best-scored one always is, so there is an answer)."""
    priced = relaxed.priced_uk1
    allowed = np.isfinite(priced)
    argmin = np.argmin(np.where(allowed, priced, np.inf), axis=1).astype(np.int32)
    primal = relaxed.primal_uk1
    if primal is None:
        primal = allowed / np.maximum(allowed.sum(axis=1, keepdims=True), 1)
    logits = np.where(allowed, np.log(np.maximum(primal, 1e-12)), -1e30).astype(np.float32)
    argmax = np.argmax(np.where(allowed, primal, -1.0), axis=1).astype(np.int32)
    cands = np.asarray(sample_candidates(jax.random.key(seed), jnp.asarray(logits), k=samples))
    cands = np.vstack([argmin[None, :], argmax[None, :], cands])
    kp = to_kernel(problem)
    scores = score_batch(jnp.asarray(cands), kp, chunk=chunk_size(problem.num_units, len(cands)))
    # Best kernel score first (on gen-50000x200-s1 a sampled candidate repaired to
    # 296,005 USD/h where the priced argmin and primal argmax gave 356,500); the two
    # deterministic candidates (rows 0 and 1) are repaired too while time allows.
    ranked = [int(r) for r in np.argsort(np.asarray(penalized(scores)))[:repair_top]]
    order = [*ranked, *(r for r in (0, 1) if r not in ranked)]
    rows = (to_options(problem, cands[row]) for row in order)
    return best_repaired(problem, rows, np.where(allowed, priced, np.inf), deadline)


def solve_relax(problem: Problem, options: SolveOptions) -> SolveResult:
    """Lagrangian prices with optax, then rounding by sampling + kernel + repair."""
    if problem.num_units == 0 or problem.num_pairs() == 0:
        return solve_milp(problem, options)  # nothing to relax: the exact answer is instant
    started = time.perf_counter()
    steps = 300 if options.time_limit_s < 5 else 500
    wide = uses_option_ascent(problem)
    if wide:
        relaxed = _wide_relaxation(problem, 0.6 * options.time_limit_s)
    else:
        relaxed = relax_prices(problem, steps=steps, time_budget_s=0.6 * options.time_limit_s)
    if not np.isfinite(relaxed.bound):
        return SolveResult(
            np.full(problem.num_units, UNPLACED, np.int32),
            "infeasible",
            message="proven infeasible: a must-place unit has no allowed pool",
            bound_scope="full",
        )
    options.report("relaxation", bound=relaxed.bound)
    strong = knapsack_bound(problem, relaxed.prices_r, relaxed.priced_uk1)
    # both bounds leave out replica start-ups (`Problem.startup`): a cost >= 0, and a
    # budget row without it is looser, so they still bound the true objective from below
    bound = max(relaxed.bound, strong.bound_usd_per_h)
    if bound > relaxed.bound:
        options.report("site knapsack bound", bound=bound)
    relax_s = time.perf_counter() - started
    assign = round_prices(
        problem,
        relaxed,
        samples=samples_for(problem),
        seed=options.seed,
        deadline=started + 0.95 * options.time_limit_s,
    )
    layout = "per-option" if wide else "dense" if use_dense(problem) else "pair-list"
    notes = [
        f"Lagrangian bound {relaxed.bound:,.4f} USD/h ({layout} relaxation), "
        f"{site_note(strong, relax_s)}; rounded plan after "
        f"{time.perf_counter() - started:.2f} s"
    ]
    prices = capacity_rows(problem, relaxed.prices_r)
    assign, origin = _best_of(problem, options, assign, started)
    if origin:
        notes.append(f"the plan is {origin}: better than the rounded relaxation's")
    if violations(problem, assign):
        return SolveResult(
            assign,
            "no_solution",
            bound_usd_per_h=bound,
            bound_scope="full",
            message="rounding and repair left must-place units out; try milp or hybrid",
            diagnostics=notes,
            prices_r=relaxed.prices_r,
        )
    obj = objective_value(problem, assign)
    gap = (obj - bound) / max(abs(obj), 1e-9)
    status = "optimal" if gap <= options.relative_gap else "feasible"
    return SolveResult(
        assign,
        status,
        objective_usd_per_h=obj,
        bound_usd_per_h=bound,
        bound_scope="full",
        message=f"relaxation plan; certified gap {100 * max(gap, 0):.3f}%",
        capacity_prices=prices,
        diagnostics=notes,
        prices_r=relaxed.prices_r,
    )


def _best_of(
    problem: Problem, options: SolveOptions, rounded: np.ndarray, started: float
) -> tuple[np.ndarray, str]:
    """The best feasible plan of: the rounded relaxation, the hint, greedy's plan, and
    (when none of those is feasible and time is left) the MILP's incumbent within the
    time left. Returns (plan, "" when it is the rounded one, else where it came from)."""
    candidates = [(rounded, "")]
    if options.hint_u is not None:
        candidates.append((np.asarray(options.hint_u, np.int32), "the hint"))
    candidates.append((solve_greedy(problem, options).assign_u, "greedy's plan"))
    feasible = [(objective_value(problem, a), i, a, o) for i, (a, o) in enumerate(candidates)
                if not violations(problem, a)]  # fmt: skip
    if feasible:
        _, _, plan, origin = min(feasible, key=lambda t: (t[0], t[1]))
        return plan, origin
    left = options.time_limit_s - (time.perf_counter() - started)
    if left > MIN_MILP_S and not interrupt.requested():
        found = solve_milp(problem, dataclasses.replace(options, time_limit_s=left, progress=None))
        if found.objective_usd_per_h is not None and not violations(problem, found.assign_u):
            return found.assign_u, "the MILP's incumbent (rounding and repair left units out)"
    return rounded, ""


__all__ = [
    "ASCENT_PAIRS",
    "round_prices",
    "sample_candidates",
    "samples_for",
    "solve_relax",
    "uses_option_ascent",
]
