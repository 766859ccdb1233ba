"""hybrid with sampled prices: the path for fleets too large to relax whole.

1. Prices: the relaxation (`relax_prices`) on a sample of units, a sub-problem of about
   SAMPLE_CELLS units x options, against capacities scaled by the sample's share (the
   two-stage relaxation's first stage, on a bigger problem).
2. Certified bound: those prices' Lagrangian dual on the WHOLE problem, in float64
   with hard minima, chunked over units (`chunked_dual_bound`): valid for any prices.
3. Rounding: each unit's choice drawn from softmax(-priced / T), balanced by a few
   rounds of price feedback on the drawn plan (`placer.engines.relax.balance`), then repaired
   into a feasible plan (`placer.engines.relax.repair.repair`).
4. Large-neighbourhood search (`placer.engines.search.neighbourhood.lns`) until the time
   limit: each round re-places up to LNS_MAX_FREE units with an exact MILP over just
   those units. The plan only improves.
No step holds a U x O array; memory grows with U x K (K: the longest option list).
"""

from __future__ import annotations

import time

import numpy as np

from placer import interrupt
from placer.engines.base import SolveOptions, SolveResult
from placer.engines.relax.balance import balanced
from placer.engines.relax.knapsack_bound import knapsack_bound, site_gaps, site_note
from placer.engines.relax.lagrangian import capacity_rows
from placer.engines.relax.repair import best_repaired
from placer.engines.relax.sampled import (
    chunked_dual_bound,
    drawn_options,
    sample_for,
    sampled_prices,
)
from placer.engines.search.neighbourhood import cheapest_units_per_site, lns
from placer.problem.form import UNPLACED, Problem
from placer.problem.usage import better_plan, objective_value, violations

#: Dense cells (sample units x (pools + 1)) of the pricing sub-problem, and the share of
#: the time limit it may use. Measured at 240 s with balanced draws (`bench_solvers.py
#: --sizes 100000x1000 --time-limit-s 240`, 2 CPUs): 1e7 cells (9,990 units) certified
#: 611,147 USD/h on gen-100000x1000-s1 and 585,095 on -s2, final gaps 1.86% and 1.70%;
#: 2e7 cells (19,980 units) 610,997 and 584,211, gaps 1.81% and 2.08%. (Before
#: balancing, a 5e6-cell sample's draws repaired to 632,037 on -s1, a 2e7 one's to
#: 627,542-627,979.)
SAMPLE_CELLS = 10_000_000
RELAX_SHARE = 0.5
#: Rounding: up to ROUNDING_DRAWS repaired draws, none started after ROUNDING_SHARE of
#: the time limit.
ROUNDING_DRAWS = 4
ROUNDING_SHARE = 0.6
#: Cheapest priced pools a freed unit may move to in the neighbourhood search (plus its
#: own). The near-tied lists of the dense hybrid (8 pools) were tried on
#: gen-100000x1000-s1: 2.48% against 2.58% with these, within the runs' noise.
LNS_K = 4
#: Rounds of price feedback on each draw before its repair (`placer.engines.relax.balance`),
#: within BALANCE_SHARE of the time left.
BALANCE_ROUNDS = 100
BALANCE_SHARE = 0.15
#: Units per chunk when drawing (bounds the [chunk, K+1] noise).
CHUNK_UNITS = 8_192


def cheapest_options(problem: Problem, priced_uk1: np.ndarray, k: int) -> np.ndarray:
    """int64[U, k]: each unit's k cheapest priced options (-1: none)."""
    slots = priced_uk1[:, :-1]
    top = np.argsort(slots, axis=1, kind="stable")[:, :k]
    ok = np.isfinite(np.take_along_axis(slots, top, axis=1))
    return np.where(ok, np.take_along_axis(problem.option_uk, top, axis=1), -1).astype(np.int64)


def sample_choices(
    problem: Problem, priced_uk1: np.ndarray, temperature: float, rng: np.random.Generator
) -> np.ndarray:
    """int32[U]: one option per unit (-1 unplaced) drawn from softmax(-priced / T) by the
    Gumbel-max trick, chunked over units. Ties at the learned prices are common (units
    alike in every table), and drawing breaks them at random where the argmin would
    send them all to one pool: on gen-10000x100-s1 repaired draws gave 58,792-59,206
    USD/h, the repaired argmin 65,804."""
    n_u = priced_uk1.shape[0]
    out = np.empty(n_u, np.int32)
    for start in range(0, n_u, CHUNK_UNITS):
        rows = np.arange(start, min(n_u, start + CHUNK_UNITS))
        out[rows] = drawn_options(problem, rows, priced_uk1[rows], temperature, rng)
    return out


def _round(problem, priced, relaxed, seed, started, left) -> np.ndarray:
    """The best repaired draw (`sample_choices`, then `balanced`) among up to
    ROUNDING_DRAWS; no new draw after ROUNDING_SHARE of the time limit (counted from
    `started`)."""
    rng = np.random.default_rng(seed)
    deadline = started + ROUNDING_SHARE * (time.perf_counter() - started + left())
    draws = (
        balanced(
            problem,
            sample_choices(problem, priced, relaxed.temperature, rng),
            relaxed.prices_r,
            relaxed.temperature,
            rng,
            BALANCE_ROUNDS,
            deadline=time.perf_counter() + BALANCE_SHARE * left(),
        )
        for _ in range(ROUNDING_DRAWS)
    )
    return best_repaired(problem, draws, priced, deadline)


def solve_large_hybrid(problem: Problem, options: SolveOptions) -> SolveResult:
    """See the module docstring."""
    started = time.perf_counter()

    def left() -> float:
        if interrupt.requested():  # Ctrl-C: end as at the time limit
            return 0.0
        return options.time_limit_s - (time.perf_counter() - started)

    n_u = problem.num_units
    if n_u == 0 or problem.num_pairs() == 0:
        empty = np.full(n_u, UNPLACED, np.int32)
        if problem.must_place_u.any():
            return SolveResult(empty, "infeasible", message="a must-place unit has no pool")
        obj = objective_value(problem, empty)
        return SolveResult(empty, "optimal", obj, obj, "nothing can be placed", "full")
    sample = sample_for(problem, SAMPLE_CELLS, seed=options.seed)
    relaxed = sampled_prices(problem, sample, time_budget_s=RELAX_SHARE * options.time_limit_s)
    bound, priced = chunked_dual_bound(problem, relaxed.prices_r)
    notes = [
        f"Lagrangian bound {bound:,.4f} USD/h after {time.perf_counter() - started:.1f} s "
        f"(prices from {sample.size:,} sampled units, certified on all {n_u:,})"
    ]
    options.report("relaxation", bound=bound)
    strong = knapsack_bound(problem, relaxed.prices_r, priced)
    if strong.bound_usd_per_h > bound:
        bound = strong.bound_usd_per_h
        notes.append(site_note(strong, time.perf_counter() - started))
        options.report("site knapsack bound", bound=bound)
    if not np.isfinite(bound):
        return proven_infeasible(n_u, notes)
    best = _round(problem, priced, relaxed, options.seed, started, left)
    best = better_plan(problem, best, options.hint_u)
    if violations(problem, best):
        return units_left_out(best, bound, notes, "rounding and repair")
    notes.append(
        f"rounded plan {objective_value(problem, best):,.4f} USD/h after "
        f"{time.perf_counter() - started:.1f} s"
    )
    options.report("rounding", incumbent=objective_value(problem, best), bound=bound)
    top = cheapest_options(problem, priced, LNS_K)

    def gaps_of(plan: np.ndarray) -> np.ndarray:
        return site_gaps(problem, plan, relaxed.prices_r, priced, strong.gain_s)

    site_units = cheapest_units_per_site(problem, priced)
    best, lns_notes = lns(problem, options, best, top, bound, left, gaps_of, site_units)
    notes += lns_notes
    return certified(problem, options, best, bound, relaxed.prices_r, notes, "sampled prices")


def proven_infeasible(n_u: int, notes: list[str]) -> SolveResult:
    """The result when the certified bound is infinite: a must-place unit has no pool."""
    return SolveResult(
        np.full(n_u, UNPLACED, np.int32),
        "infeasible",
        message="proven infeasible: a must-place unit has no allowed pool",
        bound_scope="full",
        diagnostics=notes,
    )


def units_left_out(best: np.ndarray, bound: float, notes: list[str], how: str) -> SolveResult:
    """The result when `how` (the hybrid's rounding steps) left must-place units out."""
    return SolveResult(
        best,
        "no_solution",
        bound_usd_per_h=bound,
        bound_scope="full",
        message=f"{how} left must-place units out",
        diagnostics=notes,
    )


def certified(
    problem: Problem,
    options: SolveOptions,
    best: np.ndarray,
    bound: float,
    prices_r: np.ndarray,
    notes: list[str],
    how: str,
) -> SolveResult:
    """A feasible plan with its certified bound (valid for the whole problem) and the
    capacity prices of `prices_r`; "optimal" within the options' relative gap."""
    obj = objective_value(problem, best)
    gap = max(0.0, (obj - bound) / max(abs(obj), 1e-9))
    return SolveResult(
        best,
        "optimal" if gap <= options.relative_gap else "feasible",
        objective_usd_per_h=obj,
        bound_usd_per_h=bound,
        bound_scope="full",
        message=f"hybrid plan ({how}); certified gap {100 * gap:.3f}% against the certified bound",
        capacity_prices=capacity_rows(problem, prices_r),
        diagnostics=notes,
        prices_r=np.asarray(prices_r, float),
    )
