"""search: improve a plan with parallel local-search chains driven by the O(1) move
kernel, then large-neighbourhood MILPs (`solve_search`).

Each chain holds an incumbent (kernels/delta.py). Every step it scores `moves` random
single-unit moves (a unit to one of its options, or out if it is optional) in
one vectorised call, takes the best, and accepts it if it lowers the penalized score
or, annealed, with probability exp(-delta / T). Chains are seeded by
fold_in(seed, chain), so results do not depend on how chains are spread over devices.
The best chain state that passes the exact float64 check is returned.
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
from placer.engines.kernels.arrays import KernelProblem, to_kernel, to_options, to_slots
from placer.engines.kernels.delta import Incumbent, apply_move, delta_one, incumbent
from placer.engines.kernels.score import DEFAULT_WEIGHTS, penalized, score_one
from placer.engines.milp import milp_solver
from placer.engines.relax.solver import solve_relax
from placer.engines.search.neighbourhood import lns
from placer.problem.form import Problem
from placer.problem.usage import objective_value, violations


def choice_lists(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Per unit, its choices (slots, and K = out when it is optional) padded to the
    longest list: (int32[U, L], int32[U])."""
    allowed = np.concatenate([problem.listed_uk, ~problem.must_place_u[:, None]], axis=1)
    counts = allowed.sum(axis=1)
    width = max(1, int(counts.max(initial=1)))
    rank = np.cumsum(allowed, axis=1) - 1
    lists = np.full((problem.num_units, width), problem.num_slots, np.int32)
    u, k = np.nonzero(allowed)
    lists[u, rank[u, k]] = k
    return lists, np.maximum(counts, 1).astype(np.int32)


@functools.partial(jax.jit, static_argnames=("steps", "moves"))
def run_chains(
    inc: Incumbent,
    kp: KernelProblem,
    lists: jax.Array,
    counts: jax.Array,
    key: jax.Array,
    temperature: jax.Array,
    *,
    steps: int,
    moves: int,
) -> Incumbent:
    """Advances every chain (leading axis of `inc`) by `steps` steps."""
    n_u = lists.shape[0]
    deltas = jax.vmap(delta_one, in_axes=(0, 0, None, None, None))

    def chain(c, state):
        def step(i, s):
            k = jax.random.fold_in(jax.random.fold_in(key, c), i)
            k_u, k_p, k_a = jax.random.split(k, 3)
            u = jax.random.randint(k_u, (moves,), 0, n_u)
            j = jax.random.randint(k_p, (moves,), 0, 1 << 30) % counts[u]
            slot = lists[u, j]
            d = deltas(u, slot, s, kp, DEFAULT_WEIGHTS)
            best = jnp.argmin(d)
            accept = (d[best] < 0) | (
                jax.random.uniform(k_a) < jnp.exp(-d[best] / jnp.maximum(temperature, 1e-9))
            )
            moved = apply_move(s, u[best], slot[best], kp)
            return jax.tree.map(lambda a, b: jnp.where(accept, a, b), moved, s)

        return jax.lax.fori_loop(0, steps, step, state)

    chains = jnp.arange(inc.a_u.shape[0])
    return jax.vmap(chain)(chains, inc)


#: Share of the time left that the kernel chains get; large-neighbourhood MILPs the rest.
CHAINS_SHARE = 0.3
#: The kernel chains run only with at least this much time left, s (or when the start is
#: not feasible): their first call JIT-compiles, which took 8 s on 2 loaded cores at
#: 2,000 units; the neighbourhood MILPs keep to the clock.
CHAINS_MIN_LEFT_S = 10.0
#: Share of the time left that finding a start may take when greedy finds no plan.
START_SHARE = 0.3
#: Options per unit a neighbourhood MILP lists beyond the unit's current one.
LNS_OPTIONS = 4


def solve_search(
    problem: Problem, options: SolveOptions, *, chains: int = 8, moves: int = 256, steps: int = 20
) -> SolveResult:
    """`search`: improves a plan until the time limit.

    It starts from the best plan it can get: the hint when it is feasible, else greedy's
    plan, else (greedy finds none) the relaxation's and then the MILP's incumbent, each
    within START_SHARE of the time left. Then the kernel chains (`chain_search`) run for
    CHAINS_SHARE of what is left, and large-neighbourhood MILPs over a few random sites
    at a time (`placer.engines.search.neighbourhood.lns`) for the rest: single-unit
    moves cannot swap units between full pools, a neighbourhood MILP can. No bound.
    """
    if problem.num_units == 0 or problem.num_pairs() == 0:
        return solve_greedy(problem, options)  # no move to make
    started = time.perf_counter()

    def left() -> float:
        if interrupt.requested():
            return 0.0
        return options.time_limit_s - (time.perf_counter() - started)

    start, origin, proven = _start(problem, options, left)
    if proven is not None:
        return proven  # infeasible: nothing to search
    notes = [f"started from {origin}"]
    best = None if violations(problem, start) else start
    if best is None or left() >= CHAINS_MIN_LEFT_S:
        chained = chain_search(
            problem,
            dataclasses.replace(
                options, time_limit_s=max(0.1, CHAINS_SHARE * left()), hint_u=start
            ),
            chains=chains,
            moves=moves,
            steps=steps,
        )
        notes += chained.diagnostics
        if chained.objective_usd_per_h is not None:
            best = chained.assign_u
    else:
        notes.append(f"kernel chains skipped: {left():.1f} s left, their JIT compile could overrun")
    if best is not None and left() > 1.0:
        best, lns_notes = lns(problem, options, best, _cheapest_options(problem), None, left)
        notes += lns_notes
    if best is None:
        return SolveResult(
            np.asarray(start, np.int32),
            "no_solution",
            message="local search found no plan meeting every hard constraint",
            diagnostics=notes,
        )
    return SolveResult(
        best,
        "feasible",
        objective_usd_per_h=objective_value(problem, best),
        message=f"local-search plan from {origin} (no bound)",
        diagnostics=notes,
    )


def _start(problem: Problem, options: SolveOptions, left):
    """(plan to start from, where it came from, an infeasible result or None)."""
    if options.hint_u is not None and not violations(problem, options.hint_u):
        return np.asarray(options.hint_u, np.int32), "the hint", None
    greedy = solve_greedy(problem, options).assign_u
    if not violations(problem, greedy):
        return greedy, "greedy's plan", None
    quiet = dataclasses.replace(options, hint_u=None, progress=None)
    for name, engine in (
        ("the relaxation's plan", solve_relax),
        ("the MILP's incumbent", milp_solver),
    ):
        found = engine(problem, dataclasses.replace(quiet, time_limit_s=START_SHARE * left()))
        if found.status == "infeasible":
            return greedy, name, found
        if found.objective_usd_per_h is not None and not violations(problem, found.assign_u):
            return np.asarray(found.assign_u, np.int32), name, None
        if left() <= 1.0:
            break
    return greedy, "greedy's plan (infeasible: the chains may repair it)", None


def _cheapest_options(problem: Problem) -> np.ndarray:
    """int32[U, LNS_OPTIONS]: each unit's cheapest options by objective, -1 padded."""
    cost = np.where(problem.listed_uk, problem.objective_usd_per_h_uk, np.inf)
    width = min(LNS_OPTIONS, problem.num_slots)
    order = np.argsort(cost, axis=1, kind="stable")[:, :width]
    rows = np.arange(problem.num_units)[:, None]
    return np.where(np.isfinite(cost[rows, order]), problem.option_uk[rows, order], -1).astype(
        np.int32
    )


def chain_search(
    problem: Problem, options: SolveOptions, *, chains: int = 8, moves: int = 256, steps: int = 20
) -> SolveResult:
    """The kernel chains from the hint (or greedy's plan), until the time limit."""
    if problem.num_units == 0 or problem.num_pairs() == 0:
        return solve_greedy(problem, options)  # no move to make
    started = time.perf_counter()
    start = (
        options.hint_u if options.hint_u is not None else solve_greedy(problem, options).assign_u
    )
    kp = to_kernel(problem)
    lists, counts = (jnp.asarray(x) for x in choice_lists(problem))
    a0 = jnp.asarray(to_slots(problem, start))
    inc = jax.tree.map(lambda x: jnp.broadcast_to(x, (chains, *x.shape)), incumbent(a0, kp))
    best, best_obj = _exact(problem, np.asarray(start))
    spread = float(np.abs(problem.objective_usd_per_h_uk[problem.listed_uk]).mean())
    rounds = 0
    while True:
        frac = min(1.0, (time.perf_counter() - started) / max(options.time_limit_s, 1e-9))
        temp = jnp.float32(spread * 0.01 * (1.0 - frac))
        key = jax.random.fold_in(jax.random.key(options.seed), rounds)
        inc = run_chains(inc, kp, lists, counts, key, temp, steps=steps, moves=moves)
        rounds += 1
        scores = jax.vmap(score_one, in_axes=(0, None))(inc.a_u, kp)
        for c in np.argsort(np.asarray(penalized(scores)))[:2]:
            cand, obj = _exact(problem, to_options(problem, np.asarray(inc.a_u[c])))
            if cand is not None and obj < best_obj:
                best, best_obj = cand, obj
                options.report("local search", incumbent=obj)
        if time.perf_counter() - started > options.time_limit_s * 0.95 or interrupt.requested():
            break
    scored = f"{rounds * steps * chains * moves:,} moves scored"
    if best is None:
        return SolveResult(
            np.asarray(start, np.int32),
            "no_solution",
            message="local search found no plan meeting every hard constraint",
            diagnostics=[scored],
        )
    return SolveResult(
        best,
        "feasible",
        objective_usd_per_h=best_obj,
        message="local-search plan (no bound)",
        diagnostics=[f"{scored} in {time.perf_counter() - started:.1f} s by {chains} chains"],
    )


def _exact(problem: Problem, assign: np.ndarray) -> tuple[np.ndarray | None, float]:
    assign = np.asarray(assign, np.int32)
    if violations(problem, assign):
        return None, np.inf
    return assign, objective_value(problem, assign)
