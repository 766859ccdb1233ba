"""hybrid by column generation: the path for problems whose options charge many rows
(timed runs charge their rows in every period they run: docs/time.md).

1. A start: greedy's plan and the caller's hint (their columns seed the master); above
   ASCENT_PAIRS pairs also the prices Adam reaches on the whole problem's smoothed dual,
   each pair priced through a per-option table (`placer.engines.relax.option_dual`):
   its bound starts column generation's, and each unit's cheapest options at those
   prices start the master.
2. Certified bound: column generation (`placer.engines.relax.colgen`) within CG_SHARE
   of the time limit: the LP relaxation over a few columns per unit, every slot priced
   each round; its Lagrangian bound holds for the whole problem at any round. At the LP
   optimum it adds the cover inequalities the LP breaks (`placer.engines.relax.covers`),
   which lift the bound above the LP where runs are large for their rows.
3. Rounding: the units the master's LP places whole keep their option, the rest are
   repaired at the bound's prices (`placer.engines.relax.repair`); so are the units on
   their largest column (`rounded_largest`); the best of those and the start. Then the
   exact MILP over the master's columns, hinted with that plan (over every pair on small
   problems, where it proves the optimum).
4. Large-neighbourhood search (`placer.engines.search.neighbourhood.lns`) until the time
   limit over each unit's cheapest priced options, on CP-SAT where the model is all
   integer (`lns_sub_solver`). The plan only improves.

Why not the sampled-price hybrid here: prices learned on a sample certified 10,933 USD/h
on gen-time-10000x100x72-s1, where the LP optimum is about 11,471 (bench_time, 2 CPUs):
a timed option's price is a sum over hundreds of rows, which a sample learns badly. The
whole problem's ascent priced per option certified 11,250 in 39 s there (250 steps);
column generation alone, from greedy's plan, 11,080 in about 95 s. (The ascent itself
now starts on a sample of the units and then prices every unit from there:
`option_dual.SAMPLE_FROM_UNITS`.)
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from placer import interrupt
from placer.engines.base import SolveOptions, SolveResult
from placer.engines.greedy import solve_greedy
from placer.engines.milp.solve import solve_milp
from placer.engines.relax.colgen import ColumnGeneration, column_generation
from placer.engines.relax.option_dual import ascend
from placer.engines.relax.repair import repair
from placer.engines.search.large_hybrid import (
    certified,
    cheapest_options,
    proven_infeasible,
    units_left_out,
)
from placer.engines.search.neighbourhood import (
    CPSAT_SUB,
    HIGHS_SUB,
    SubSolver,
    cheapest_units_per_site,
    lns,
)
from placer.problem.form import UNPLACED, Problem
from placer.problem.soft import has_soft_rows
from placer.problem.usage import better_plan, objective_value, violations

#: Share of the time limit column generation may use (it stops sooner once the LP
#: optimum is reached).
CG_SHARE = 0.8
#: Problems with more pairs than this start column generation from the prices Adam
#: reaches on the whole problem (`option_dual.ascend`) within ASCENT_SHARE of the time
#: left. On gen-time-10000x100x72-s1 (2 CPUs, 120 s): share 0.35 gave bound 11,146.6 and
#: plan 11,782.1 (5.39%), 0.5 gave 11,250.4 and 11,804.2 (4.69%): the master's columns
#: from the ascent's prices make up for its fewer rounds.
ASCENT_PAIRS = 1_000_000
ASCENT_SHARE = 0.5
#: The MILP after rounding takes every pair up to this many (its bound is then the
#: problem's), the master's columns above it, with MILP_SHARE of the time left.
FULL_MILP_PAIRS = 20_000
MILP_SHARE = 0.5
#: Cheapest priced options a freed unit may move to in the neighbourhood search.
LNS_K = 4
#: With at least this many workers (and no backend asked for) the MILP over the
#: master's columns runs on CP-SAT, whose parallel search improves the rounded plan
#: where HiGHS's serial branch and bound does not: on gen-time-1000x50x168-s1 (its 5,757
#: master columns and the plan's, 2 CPUs) HiGHS kept the rounded 4,794.69 USD/h for
#: 282 s, CP-SAT with 2 workers reached 4,790.15 in 60 s (with 1 worker, nothing); on
#: gen-time-10000x100x72-s1's third master (41,673 columns) 11,710.24 -> 11,669.27 in
#: 20 s, HiGHS 11,701.74 -> 11,701.49 in 16 s on the second's.
CPSAT_MIN_WORKERS = 2


def solve_colgen_hybrid(problem: Problem, options: SolveOptions) -> SolveResult:
    """See the module docstring."""
    started = time.perf_counter()

    def left() -> float:
        if interrupt.requested():
            return 0.0
        return options.time_limit_s - (time.perf_counter() - started)

    n_u = problem.num_units
    start = solve_greedy(problem, options).assign_u
    plans = tuple(p for p in (start, options.hint_u) if p is not None)
    cg_until = time.perf_counter() + CG_SHARE * left()
    prices = None
    if problem.num_pairs() > ASCENT_PAIRS:
        ascent = ascend(problem, time_budget_s=ASCENT_SHARE * left())
        if ascent.steps:  # else the time left bought no ascent: start from objectives
            prices = ascent.prices_r
            options.report("price ascent", bound=ascent.bound)
    cg = column_generation(
        problem,
        time_budget_s=cg_until - time.perf_counter(),
        plans=plans,
        start_prices_r=prices,
        progress=lambda rounds, lp, bound: options.report("column generation", bound=bound),
        # a bound of runs that may pause or move is re-priced from the row prices alone
        # (`api.contiguous_only`), which the covers' prices are not part of
        with_covers=problem.preempt is None,
    )
    if cg is None:
        return _start_only(problem, start, options)
    bound = cg.bound
    notes = list(cg.notes)
    if not np.isfinite(bound):
        return proven_infeasible(n_u, notes)
    best = repair(problem, rounded_whole(problem, cg), cg.priced)
    best = better_plan(problem, best, repair(problem, rounded_largest(problem, cg), cg.priced))
    for other in plans:
        best = better_plan(problem, best, other)
    best, bound, exact = _master_milp(problem, options, cg, best, bound, left, notes)
    if violations(problem, best):
        return units_left_out(best, bound, notes, "rounding, repair and the master's MILP")
    notes.append(
        f"rounded LP plan {objective_value(problem, best):,.4f} USD/h after "
        f"{time.perf_counter() - started:.1f} s"
    )
    value = objective_value(problem, best)
    options.report("rounding", incumbent=value, bound=bound)
    within = value - bound <= options.relative_gap * max(abs(value), 1e-9)
    if left() > 1.0 and not exact and not within:
        top = cheapest_options(problem, cg.priced, LNS_K)
        site_units = cheapest_units_per_site(problem, cg.priced)
        sub = lns_sub_solver(problem, options)
        best, lns_notes = lns(problem, options, best, top, bound, left, None, site_units, sub)
        notes += lns_notes
    return certified(problem, options, best, bound, cg.prices_r, notes, "column generation")


def rounded_whole(problem: Problem, cg: ColumnGeneration) -> np.ndarray:
    """int32[U]: the units the master's LP places whole on their column, the rest
    unplaced (for `repair`)."""
    whole = cg.x_value >= 1.0 - 1e-6
    rounded = np.full(problem.num_units, UNPLACED, np.int32)
    rounded[cg.x_unit[whole]] = problem.option_uk[cg.x_unit[whole], cg.x_slot[whole]]
    return rounded


def rounded_largest(problem: Problem, cg: ColumnGeneration) -> np.ndarray:
    """int32[U]: each unit the master's LP places at least half of on its largest column
    (ties: the master's first), the rest unplaced; columns may overfill rows (`repair`
    unplaces the units with the cheapest way out). On gen-time-10000x100x72-s1 (third
    master, 590 units split, LP 11,514.56 USD/h) this, repaired, gave 11,608.60 USD/h
    where the whole columns alone gave 11,653.23 and four draws in proportion to the
    columns 11,610.55-11,638.18."""
    n_u = problem.num_units
    placed = np.zeros(n_u)
    np.add.at(placed, cg.x_unit, cg.x_value)
    order = np.lexsort((-cg.x_value, cg.x_unit))
    units, first = np.unique(cg.x_unit[order], return_index=True)
    largest = order[first]
    keep = placed[units] >= 0.5 - 1e-9
    rounded = np.full(n_u, UNPLACED, np.int32)
    units, largest = units[keep], largest[keep]
    rounded[units] = problem.option_uk[units, cg.x_slot[largest]]
    return rounded


def _master_milp(problem, options, cg, best, bound, left, notes):
    """(plan, bound, proven): the exact MILP over the master's columns and the plan's
    options (every pair when the problem has at most FULL_MILP_PAIRS), hinted with the
    plan when it is feasible, within MILP_SHARE of the time left. It finds plans that
    rounding misses (must-place units the repair cannot fit) and improves the rounded
    one. Over every pair its bound is the problem's too, and an optimum ends the solve."""
    if left() <= 0.5:
        return best, bound, False
    whole = problem.num_pairs() <= FULL_MILP_PAIRS
    candidates = None
    if not whole:
        keep = cg.keep_uk.copy()
        slot = problem.slot_of(best)
        placed = np.flatnonzero(slot >= 0)
        keep[placed, slot[placed]] = True
        candidates = tuple(tuple(problem.option_uk[u, keep[u]].tolist()) for u in range(len(keep)))
    feasible = not violations(problem, best)
    limit = left() if whole else max(0.5, MILP_SHARE * left())
    found = solve_milp(
        problem,
        dataclasses.replace(
            options,
            time_limit_s=limit,
            candidates_u=candidates,
            hint_u=best if feasible else None,
            progress=None,
            backend=options.backend or master_milp_backend(problem, options, whole),
        ),
        prices=False,
    )
    usable = found.objective_usd_per_h is not None and not violations(problem, found.assign_u)
    if usable and (
        not feasible or found.objective_usd_per_h < objective_value(problem, best) - 1e-9
    ):
        best = found.assign_u
    proven = False
    if whole and found.bound_usd_per_h is not None:
        bound = max(bound, float(found.bound_usd_per_h))
        proven = found.status == "optimal"
    scope = "every pair" if whole else f"{int(cg.keep_uk.sum()):,} master columns"
    notes.append(
        f"MILP over {scope}: {found.status}, plan {objective_value(problem, best):,.4f} USD/h"
    )
    return best, bound, proven


def master_milp_backend(problem: Problem, options: SolveOptions, whole: bool) -> str | None:
    """The MILP backend over the master's columns: CP-SAT with CPSAT_MIN_WORKERS or more
    workers when its model is all integer (`all_integer`) and not the whole problem
    (there HiGHS proves the optimum); None (the default, HiGHS) otherwise."""
    if options.workers >= CPSAT_MIN_WORKERS and all_integer(problem) and not whole:
        return "cpsat"
    return None


def lns_sub_solver(problem: Problem, options: SolveOptions) -> SubSolver:
    """How the neighbourhood search solves its MILPs: CP-SAT (`CPSAT_SUB`, any number of
    workers) when the model is all integer and no backend was asked for, else HiGHS
    (`HIGHS_SUB`)."""
    if options.backend is None and all_integer(problem):
        return CPSAT_SUB
    return HIGHS_SUB


def all_integer(problem: Problem) -> bool:
    """Whether the MILP has integer variables only, as CP-SAT requires: no soft row's
    excess, no start-up counts, no preemption columns."""
    return not has_soft_rows(problem) and problem.startup is None and problem.preempt is None


def _start_only(problem: Problem, start: np.ndarray, options: SolveOptions) -> SolveResult:
    """Greedy's plan without a bound, when no master LP solved in time."""
    plan = better_plan(problem, start, options.hint_u)
    if violations(problem, plan):
        return SolveResult(plan, "no_solution", message="no master LP in time; greedy failed")
    return SolveResult(
        plan,
        "feasible",
        objective_usd_per_h=objective_value(problem, plan),
        message="greedy's plan: the column generation's first LP did not finish in time",
    )
