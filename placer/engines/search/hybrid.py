"""hybrid: relaxation -> kernel-scored rounding + repair -> restricted MILP with a hint.

1. `relax_prices` gives capacity prices and a certified Lagrangian lower bound B, which
   `placer.engines.relax.knapsack_bound` raises by solving each site's GPU and kW rows as
   knapsacks of whole units at those prices.
2. Rounding (sampled candidates scored by the JAX kernel, repaired) gives a plan.
3. A MILP over each unit's `k` cheapest pools at those prices (plus the plan's pool),
   hinted with the plan, improves it; k doubles while time remains and the certified
   gap (objective - B) / objective is above the target. On small problems (units x
   FIRST_K up to MILP_FIRST_MAX_VARS) step 3 runs first, with the caller's hint, and
   step 2 only when it finds no plan.
For problems too big for that MILP (more than LNS_MIN_VARS candidate variables):
2b. Rounding through the LP over each unit's near-tied pools at those prices
   (`placer.engines.relax.lp_rounding`): its integral part, repaired. (If that LP is not solved
   in time: the sampled rounding of step 2 and a `search` polish.)
3b. A MILP over the pools of the LP's solution (plus each unit's cheapest near-tied
   pool, its pool in the plan, and the pools at each site of the units cheapest to
   move there), hinted with the plan.
4. Large-neighbourhood search until the limit (`placer.engines.search.neighbourhood`): each
   round frees the units at a few sites, drawn by their share of the gap, and the
   units that could move there, fixes every other unit to the incumbent, and lets a
   short MILP re-place the freed ones; the plan only improves.
Up to LP_BOUND_MAX_PAIRS pairs B is also raised to the LP relaxation's optimum. Every
answer carries B, a bound of the FULL problem, so its gap is known even when
the restricted MILP cannot prove anything about the full one.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from placer import interrupt
from placer.engines.base import SolveOptions, SolveResult
from placer.engines.milp.solve import solve_milp
from placer.engines.milp.warmstart import solve_lp
from placer.engines.relax.knapsack_bound import (
    KnapsackBound,
    knapsack_bound,
    site_gaps,
    site_note,
)
from placer.engines.relax.lagrangian import RelaxResult, capacity_rows, relax_prices
from placer.engines.relax.lp_rounding import (
    RestrictedLp,
    candidate_tuples,
    fractional_units,
    lp_rounded,
    lp_support,
    near_tie_pools,
    restricted_lp,
)
from placer.engines.relax.solver import round_prices, samples_for
from placer.engines.search.colgen_hybrid import solve_colgen_hybrid
from placer.engines.search.large_hybrid import solve_large_hybrid
from placer.engines.search.local import chain_search
from placer.engines.search.neighbourhood import cheapest_units_per_site, lns, with_site_pools
from placer.problem.form import UNPLACED, Problem
from placer.problem.usage import better_plan, objective_value, violations
from placer.progress import Progress, ProgressFn

FIRST_K = 4
#: Up to this many candidate variables (units x FIRST_K) step 3 runs first, without the
#: rounding of step 2 (which runs only when it finds no plan): compiling the rounding's
#: kernels took 2.8 s of a 5 s limit on a 31-unit timed fleet whose restricted MILP is
#: solved in ~0.02 s, and left the MILP no time on a slower machine (a budget per
#: period, which the rounding does not see, then ended "no_solution").
MILP_FIRST_MAX_VARS = 2_000
#: Share of the time limit the relaxation may use (further rounds tighten its bound).
RELAX_SHARE = 0.35
#: ... raised up to RELAX_SHARE_MAX when that buys a single-stage dense relaxation
#: GOOD_STEPS steps (one-stage runs converge slowly: on gen-50000x200-s1, 900 steps gave
#: a bound of 282,344 USD/h, 1,600 steps 291,126). The two-stage relaxation (from
#: 5,000 units) keeps RELAX_SHARE: on that instance 42 s gave 291,811 and left the
#: neighbourhood search 58 s (certified 0.85% at 120 s, against 1.17% with 72 s).
RELAX_SHARE_MAX = 0.6
GOOD_STEPS = 1600
#: Up to this many feasible pairs the LP relaxation (HiGHS, ~0.4 s at 25k pairs, ~40 s at
#: 290k) also certifies the bound: it is at least as tight as the Lagrangian one.
LP_BOUND_MAX_PAIRS = 100_000
#: Above this many candidate variables (units x k) the restricted MILP is replaced by
#: large-neighbourhood search (measured on gen-10000x100-s1: a 40k-variable restricted
#: MILP did not improve the rounded plan in 19 s).
LNS_MIN_VARS = 20_000
#: Large problems, step 2b: share of the time left given to the LP over each unit's
#: near-tied pools (`placer.engines.relax.lp_rounding`); on gen-10000x100-s1 (163k pairs) it
#: takes 5-9 s and its repaired integral part scores 58,309 USD/h where repaired draws
#: scored 58,743-59,206.
RESTRICTED_LP_SHARE = 0.35
#: ... tried only up to this many near-tied pairs: HiGHS took 5-9 s at 120-163k pairs and
#: did not finish in 400 s at 1.58M (gen-100000x1000-s1).
RESTRICTED_LP_MAX_PAIRS = 400_000
#: Step 3b: the MILP over each unit's pools in the LP's solution (up to SUPPORT_K), its
#: cheapest near-tied pool and its pool in the plan, with SUPPORT_MILP_SHARE of the time
#: left (gen-10000x100-s1: 58,309 -> 58,114 USD/h in 11 s) ...
SUPPORT_K = 4
#: ... plus, for each site, the pools there of the SUPPORT_SITE_UNITS units cheapest to
#: move there (`cheapest_units_per_site`). gen-10000x100-s2 at 30 s, solver seeds 0-4:
#: certified gaps 0.131-0.281% without them (share 0.6); 0.107-0.220% with 50 a site
#: (share 0.6); 0.107-0.145% with 50 a site and share 0.8 (the neighbourhood search
#: then gets 1-3 rounds; -s1 at 0.8: 0.081-0.087% over seeds 0-2).
SUPPORT_MILP_SHARE = 0.8
SUPPORT_SITE_UNITS = 50
#: When the restricted LP is not solved in time: share of the time left after rounding
#: given to `search` (delta-kernel chains) before the neighbourhood search: on
#: gen-10000x100-s1 6 s of it took a rounded plan from 58,740 to 58,356 USD/h.
POLISH_SHARE = 0.25
LNS_K = 8  # near-tied pools a freed unit may move to (plus its own), cheapest first


def top_k_candidates(
    problem: Problem, priced_uk1: np.ndarray, hint_u: np.ndarray | None, k: int
) -> tuple[tuple[int, ...], ...]:
    """Per unit: its k cheapest options at the learned prices, plus its hint option."""
    slots = priced_uk1[:, :-1]
    order = np.argsort(slots, axis=1, kind="stable")[:, :k]
    finite = np.isfinite(np.take_along_axis(slots, order, axis=1))
    chosen = np.where(finite, np.take_along_axis(problem.option_uk, order, axis=1), -1)
    out = []
    for u in range(slots.shape[0]):
        keep = {int(o) for o in chosen[u] if o >= 0}
        if hint_u is not None and hint_u[u] >= 0:
            keep.add(int(hint_u[u]))
        out.append(tuple(sorted(keep)))
    return tuple(out)


#: `solve_hybrid` takes the sampled-prices path (`large_hybrid`) above this many units x
#: (options + 1) cells: the whole-fleet relaxation's tables take ~48 bytes a cell
#: (`dense_bytes`) and its sampled rounding U x (K+1) draws per candidate, so 2e7 cells
#: are ~1 GB before any working array; gen-100000x1000 has 1e8.
LARGE_MIN_CELLS = 20_000_000


def solve_hybrid(problem: Problem, options: SolveOptions) -> SolveResult:
    """The `hybrid` solver: `solve_hybrid_full` (the module docstring); for problems
    whose options charge many rows (timed runs) `solve_colgen_hybrid` (column
    generation); for other fleets of more than LARGE_MIN_CELLS units x options
    `solve_large_hybrid` (sampled prices)."""
    if problem.wide_options() and not bool(problem.lexicographic) and problem.num_pairs():
        return solve_colgen_hybrid(problem, options)
    if problem.num_units * (problem.num_options + 1) > LARGE_MIN_CELLS:
        return solve_large_hybrid(problem, options)
    return solve_hybrid_full(problem, options)


def solve_hybrid_full(problem: Problem, options: SolveOptions) -> SolveResult:
    """The hybrid with a relaxation of the whole fleet: see the module docstring."""
    if problem.num_units == 0 or problem.num_pairs() == 0:
        return solve_milp(problem, options)  # nothing to relax: the exact answer is instant
    run = _relaxation(problem, options, time.perf_counter())
    if run is None:
        return SolveResult(
            np.full(problem.num_units, UNPLACED, np.int32),
            "infeasible",
            message="proven infeasible: a must-place unit has no allowed pool",
            bound_scope="full",
        )
    _lp_bound(run)
    if run.small:
        _adopt_hint(run)
        _widening_milps(run)
        if run.feasible or run.left() <= 0:
            return _result(run)  # no rounding (its kernels' compile) past the limit
    _adopt_rounding(run, _rounded_plan(run))
    if run.feasible and run.large:
        _improve_large(run)
    _widening_milps(run)
    return _result(run)


@dataclass
class _Run:
    """One hybrid solve's state, handed from stage to stage.

    Attributes:
      started: `time.perf_counter()` when the solve began (the time limit counts from it).
      bound: the certified lower bound of the full problem so far, USD/h.
      best: the incumbent plan (after rounding; feasible when `feasible`).
      k: pools per unit of the restricted MILP (step 3).
      large: whether the problem takes the large-problem steps (2b, 3b, 4).
      near: each unit's near-tied pools (large problems only).
      lp: the LP over the near-tied pools (step 2b), when solved.
    """

    problem: Problem
    options: SolveOptions
    started: float
    relaxed: RelaxResult
    strong: KnapsackBound
    bound: float
    notes: list[str]
    best: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    feasible: bool = False
    k: int = FIRST_K
    large: bool = False
    near: np.ndarray | None = None
    lp: RestrictedLp | None = None

    def left(self) -> float:
        """Seconds left of the time limit (none once Ctrl-C is pressed)."""
        if interrupt.requested():
            return 0.0
        return self.options.time_limit_s - (time.perf_counter() - self.started)

    @property
    def small(self) -> bool:
        """Whether step 3 runs first: units x FIRST_K <= MILP_FIRST_MAX_VARS, and not a
        problem of the large path."""
        return self.problem.num_units * FIRST_K <= min(MILP_FIRST_MAX_VARS, LNS_MIN_VARS)

    def elapsed(self) -> float:
        """Seconds since the solve began."""
        return time.perf_counter() - self.started


def _relaxation(problem: Problem, options: SolveOptions, started: float) -> _Run | None:
    """Step 1: the Lagrangian prices and bound, raised by the site knapsacks; None when
    the bound is infinite (a must-place unit has no allowed pool)."""
    steps = 300 if options.time_limit_s < 5 else 500
    relaxed = relax_prices(problem, steps=steps, time_budget_s=relax_budget_s(problem, options))
    bound = relaxed.bound
    if not np.isfinite(bound):
        return None
    notes = [f"Lagrangian bound {bound:,.4f} USD/h after {time.perf_counter() - started:.1f} s"]
    options.report("relaxation", bound=bound)
    strong = knapsack_bound(problem, relaxed.prices_r, relaxed.priced_uk1)
    if strong.bound_usd_per_h > bound:
        bound = strong.bound_usd_per_h
        notes.append(site_note(strong, time.perf_counter() - started))
        options.report("site knapsack bound", bound=bound)
    return _Run(problem, options, started, relaxed, strong, bound, notes)


def _lp_bound(run: _Run) -> None:
    """Up to LP_BOUND_MAX_PAIRS pairs: raises the bound to the LP relaxation's optimum."""
    if run.problem.num_pairs() <= LP_BOUND_MAX_PAIRS:
        lp = solve_lp(run.problem, max(1.0, 0.2 * run.left()))
        if lp is not None and lp.bound > run.bound:
            run.bound = lp.bound
            run.notes.append(f"LP relaxation bound {run.bound:,.4f} USD/h (HiGHS)")
            run.options.report("LP bound", bound=run.bound)


def _rounded_plan(run: _Run) -> np.ndarray:
    """Step 2 (sampled rounding) or, for large problems, 2b (the LP over near-tied pools,
    rounded and repaired; sampled rounding when that LP is not solved in time)."""
    problem, options, relaxed = run.problem, run.options, run.relaxed
    run.large = problem.num_units * run.k > LNS_MIN_VARS
    run.near = near_tie_pools(problem, relaxed.priced_uk1) if run.large else None
    if run.near is not None and int((run.near >= 0).sum()) <= RESTRICTED_LP_MAX_PAIRS:
        run.lp = restricted_lp(
            problem, candidate_tuples(run.near), RESTRICTED_LP_SHARE * run.left()
        )
    if run.lp is not None:
        lp = run.lp
        best = lp_rounded(problem, lp, relaxed.priced_uk1)
        run.notes.append(
            f"LP over {lp.pairs.shape[0]:,} near-tied pairs {lp.objective_usd_per_h:,.4f} "
            f"USD/h, {fractional_units(lp).size:,} units split; rounded and repaired "
            f"after {run.elapsed():.1f} s"
        )
        return best
    return round_prices(
        problem,
        relaxed,
        samples=samples_for(problem),
        seed=options.seed,
        deadline=max(
            run.started + 0.6 * options.time_limit_s, time.perf_counter() + 0.1 * run.left()
        ),
    )


def _adopt_hint(run: _Run) -> None:
    """The caller's hint, when it is a feasible plan, becomes the incumbent."""
    hint = run.options.hint_u
    if hint is not None and not violations(run.problem, hint):
        run.best, run.feasible = np.asarray(hint, np.int32), True


def _adopt_rounding(run: _Run, rounded: np.ndarray) -> None:
    """The rounded plan or the caller's hint, the better one, becomes the incumbent."""
    problem = run.problem
    run.best = better_plan(problem, rounded, run.options.hint_u)
    run.feasible = not violations(problem, run.best)
    if run.feasible:
        run.notes.append(
            f"rounded plan {objective_value(problem, run.best):,.4f} USD/h after "
            f"{run.elapsed():.1f} s"
        )
        run.options.report(
            "rounding", incumbent=objective_value(problem, run.best), bound=run.bound
        )


def _improve_large(run: _Run) -> None:
    """Large problems with a feasible plan: step 3b (or the search polish), then step 4."""
    stage = _support_milp(run) if run.lp is not None else _search_polish(run)
    run.options.report(stage, objective_value(run.problem, run.best), run.bound)
    _neighbourhood_search(run)


def _support_milp(run: _Run) -> str:
    """Step 3b: a MILP around the LP's support, hinted with the plan; returns the stage."""
    problem, options = run.problem, run.options
    assert run.lp is not None and run.near is not None
    stage = "MILP around the LP's support"
    around = candidate_tuples(
        lp_support(problem, run.lp, SUPPORT_K),
        run.near[:, :1],
        np.where(run.best >= 0, run.best, -1),
    )
    listed = cheapest_units_per_site(problem, run.relaxed.priced_uk1, SUPPORT_SITE_UNITS)
    around = with_site_pools(problem, around, listed)
    result = solve_milp(
        problem,
        dataclasses.replace(
            options,
            time_limit_s=SUPPORT_MILP_SHARE * run.left(),
            candidates_u=around,
            hint_u=run.best,
            progress=_restricted(options, run.bound),
        ),
        prices=False,
    )
    run.best = _improved(problem, run.best, result, run.notes, stage)
    return stage


def _search_polish(run: _Run) -> str:
    """When the restricted LP was not solved: a `search` polish; returns the stage."""
    stage = "search polish"
    polished = chain_search(
        run.problem,
        dataclasses.replace(
            run.options, time_limit_s=POLISH_SHARE * run.left(), hint_u=run.best, progress=None
        ),
    )
    run.best = _improved(run.problem, run.best, polished, run.notes, stage)
    return stage


def _neighbourhood_search(run: _Run) -> None:
    """Step 4: large-neighbourhood search until the limit."""
    problem, relaxed, strong = run.problem, run.relaxed, run.strong
    assert run.near is not None

    def gaps_of(plan: np.ndarray) -> np.ndarray:
        return site_gaps(problem, plan, relaxed.prices_r, relaxed.priced_uk1, strong.gain_s)

    site_units = cheapest_units_per_site(problem, relaxed.priced_uk1)
    run.best, lns_notes = lns(
        problem,
        run.options,
        run.best,
        run.near[:, :LNS_K],
        run.bound,
        run.left,
        gaps_of,
        site_units,
    )
    run.notes += lns_notes


def _widening_milps(run: _Run) -> None:
    """Step 3: restricted MILPs over each unit's k cheapest pools, k doubling while time
    remains, the certified gap is above the target and the restricted optimum is proven
    (not run for large problems with a feasible plan)."""
    widest = int(run.problem.listed_uk.sum(axis=1).max(initial=0))
    while _milp_budget_s(run) > 0 and not (run.feasible and run.large):
        sub = _restricted_milp(run)
        if run.feasible and _gap(run.problem, run.best, run.bound) <= run.options.relative_gap:
            break
        # a restricted MILP proven infeasible (side rows such as caps per period can make
        # the cheapest lists too narrow) is widened like a proven one
        proven = _proven(sub, run.options.relative_gap) or sub.status == "infeasible"
        if not proven or run.k >= widest:
            break  # out of time, or nothing left to widen
        run.k *= 2  # the restricted optimum is proven but not certified: widen the lists


#: On small problems (`_Run.small`) without a plan yet, a restricted MILP runs with
#: NO_PLAN_SHARE of whatever time is left, and at least NO_PLAN_MIN_S even past the limit
#: (elsewhere, and with a plan, only while over a second is left: a larger model's build
#: alone may take that). It is the one stage that sees caps per period: on a 31-unit
#: fleet with a budget per period the hybrid ended "no_solution" when the relaxation's
#: JIT compile left under a second of a 5 s limit, while its MILP over 4 pools a unit is
#: solved in ~0.02 s.
NO_PLAN_SHARE = 0.8
NO_PLAN_MIN_S = 0.05


def _milp_budget_s(run: _Run) -> float:
    """Seconds for the next restricted MILP (0: none); see NO_PLAN_SHARE."""
    left = run.left()
    if left > 1.0:
        return max(1.0, left - 1.0)
    if run.small and not run.feasible:
        return max(NO_PLAN_SHARE * left, NO_PLAN_MIN_S)
    return 0.0


def _restricted_milp(run: _Run) -> SolveResult:
    """One MILP over each unit's k cheapest pools; its plan is kept when it is better."""
    problem, options, k = run.problem, run.options, run.k
    cands = top_k_candidates(problem, run.relaxed.priced_uk1, run.best if run.feasible else None, k)
    sub = solve_milp(
        problem,
        dataclasses.replace(
            options,
            time_limit_s=_milp_budget_s(run),
            candidates_u=cands,
            hint_u=run.best if run.feasible else None,
            progress=_restricted(options, run.bound),
        ),
        prices=False,
    )
    if sub.objective_usd_per_h is not None and (
        not run.feasible or sub.objective_usd_per_h < objective_value(problem, run.best)
    ):
        run.best, run.feasible = sub.assign_u, True
    if sub.bound_scope == "full" and sub.bound_usd_per_h is not None:
        run.bound = max(run.bound, sub.bound_usd_per_h)  # the lists covered every pair
    if run.feasible:
        options.report(f"MILP, {k} pools/unit", objective_value(problem, run.best), run.bound)
    run.notes.append(
        f"MILP over {k} pools per unit: {sub.status} "
        f"{sub.objective_usd_per_h or float('nan'):,.4f} USD/h"
    )
    return sub


def _proven(sub: SolveResult, relative_gap: float) -> bool:
    """Whether a restricted MILP proved its optimum (within the relative gap)."""
    return (
        sub.objective_usd_per_h is not None
        and sub.bound_usd_per_h is not None
        and sub.objective_usd_per_h - sub.bound_usd_per_h
        <= relative_gap * max(abs(sub.objective_usd_per_h), 1e-9)
    )


def _result(run: _Run) -> SolveResult:
    """The answer: the incumbent with the certified bound and its gap."""
    problem, best, bound = run.problem, run.best, run.bound
    if not run.feasible:
        return SolveResult(
            best,
            "no_solution",
            bound_usd_per_h=bound,
            bound_scope="full",
            message="no feasible plan found in time",
            diagnostics=run.notes,
        )
    gap = _gap(problem, best, bound)
    status = "optimal" if gap <= run.options.relative_gap else "feasible"
    return SolveResult(
        best,
        status,
        objective_usd_per_h=objective_value(problem, best),
        bound_usd_per_h=bound,
        bound_scope="full",
        message=f"hybrid plan; certified gap {100 * gap:.3f}% against the certified bound",
        capacity_prices=capacity_rows(problem, run.relaxed.prices_r),
        diagnostics=run.notes,
        prices_r=run.relaxed.prices_r,
    )


def _improved(
    problem: Problem, best: np.ndarray, result: SolveResult, notes: list[str], what: str
) -> np.ndarray:
    """result's plan when it is feasible and cheaper than `best` (noted), else `best`."""
    if (
        result.objective_usd_per_h is not None
        and result.objective_usd_per_h < objective_value(problem, best)
        and not violations(problem, result.assign_u)
    ):
        notes.append(f"{what} {result.objective_usd_per_h:,.4f} USD/h")
        return result.assign_u
    return best


def relax_budget_s(problem: Problem, options: SolveOptions) -> float:
    """Seconds for the relaxation: RELAX_SHARE of the limit, or more (up to
    RELAX_SHARE_MAX) when the dense relaxation needs it for GOOD_STEPS steps."""
    from placer.engines.relax.lagrangian import DENSE_ELEMENT_STEPS_PER_S, sample_units, use_dense

    share = RELAX_SHARE * options.time_limit_s
    if not use_dense(problem) or sample_units(problem) is not None:
        return share  # pair lists, or the two-stage relaxation (cheap first stage)
    cells = problem.num_units * (problem.num_options + 1)
    wanted = GOOD_STEPS * cells / DENSE_ELEMENT_STEPS_PER_S
    return min(max(share, wanted), RELAX_SHARE_MAX * options.time_limit_s)


def _restricted(options: SolveOptions, bound: float) -> ProgressFn | None:
    """Progress of a restricted MILP: its incumbents count, its bound does not (it holds
    only for the restricted lists), so the full problem's bound is reported instead."""
    if options.progress is None:
        return None
    outer = options.progress

    def report(p: Progress) -> None:
        outer(Progress("restricted MILP", p.incumbent_usd_per_h, bound))

    return report


def _gap(problem: Problem, assign: np.ndarray, bound: float) -> float:
    obj = objective_value(problem, assign)
    return max(0.0, (obj - bound) / max(abs(obj), 1e-9))
