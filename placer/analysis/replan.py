"""`placer replan`: the best plan reachable from what runs now, with moves priced and bounded.

Start: a scenario, the placement that runs now (`placer.analysis.replan_current`) and
optional *events* (`--event`, the `PATH=VALUE` changes of `placer whatif --set`: a cut
grid cap, a pool that loses GPUs, a price or demand change). The current placement
must be a valid plan of the scenario before the events; after them it may not be.

Two stages, each an exact MILP (`placer.engines.milp`) over the same compiled Problem
with side rows for the move budgets (`placer.engines.milp.formulation.SideRow`):

1. **Restore** (only when the events leave the current placement infeasible): the
   fewest moves that make it feasible, then the cheapest plan with that many moves.
   `moves_lower_bound` (`placer.analysis.replan_moves`) bounds that minimum from below.
2. **Improve**: minimise objective + move penalties (each move's cost in USD spread
   over `payback_h` hours, plus `min_gain_usd_per_h`: a move must save at least that
   much), with at most `max_moves` moves and `max_moved_gpus_pct` % of the running GPUs
   moved (never fewer than stage 1 needs). `curve` repeats it for budgets of 0, 1, 2,
   5, 10 % of the running units and unlimited.

The MILPs free every unit when the model is small (`FULL_MAX_TERMS`): the fewest moves
is then proven. On larger fleets they free the units a change touches (on rows over
capacity, on lost options, in broken redundancy groups, must-place units not running)
and, for stage 2, the units with a move that would pay (`IMPROVE_MAX_FREE` of the best);
every other unit stays where it runs. Such an answer is optimal for that neighbourhood
only (the report says "restricted"); the lower bound on moves holds for every plan.

Timed scenarios (with a horizon) are re-planned by `placer.analysis.replan_time`: an
OptionError here says so.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from placer.analysis.replan_current import CurrentEntry, current_pools
from placer.analysis.replan_moves import (
    greedy_restore,
    move_costs_usd,
    moved,
    moves_lower_bound,
    over_rows,
    units_on_rows,
)
from placer.analysis.replan_report import CurvePoint, ReplanMove, ReplanReport
from placer.analysis.whatif_apply import build_variant
from placer.analysis.whatif_parse import Variant
from placer.api import check_plan, versions
from placer.engines.base import SolveOptions, SolveResult
from placer.engines.milp.formulation import SideRow, model_terms
from placer.engines.milp.solve import solve_milp
from placer.engines.search.neighbourhood import freed_subproblem
from placer.errors import InfeasibleError, NoSolutionError, OptionError, SolverError
from placer.model.load import validate_model
from placer.model.scenario import Scenario
from placer.plan.build import build_plan
from placer.problem.compile import compile_problem, pair_reasons
from placer.problem.form import UNPLACED, Index, Problem, reason_names
from placer.problem.rows import KIND_NAMES, Q_GPUS
from placer.problem.usage import (
    AssignmentValues,
    objective_value,
    spread_conflicts,
    violations,
)

#: Free every unit when the full model has at most this many nonzeros (then the fewest
#: moves is proven); above it, a neighbourhood (module docstring).
FULL_MAX_TERMS = 500_000
#: Most units stage 2's first neighbourhood frees for their own saving on a large fleet.
IMPROVE_MAX_FREE = 600
#: A large fleet's stage 2: units per neighbourhood MILP, its time limit (s), rounds.
LNS_FREE, LNS_ROUND_S, LNS_MAX_ROUNDS = 1_000, 3.0, 1_000
#: Move budgets of the curve, as fractions of the running units (None: unlimited).
CURVE_FRACTIONS: tuple[float | None, ...] = (0.0, 0.01, 0.02, 0.05, 0.10, None)
#: Time kept for building and verifying the plan: this share of the limit, at most
#: POST_MAX_S seconds.
POST_SHARE, POST_MAX_S = 0.1, 3.0
#: Share of the time limit stage 1 may use.
RESTORE_SHARE = 0.4


@dataclasses.dataclass(frozen=True)
class ReplanOptions:
    """How `replan` searches.

    Attributes:
      time_limit_s: wall-clock limit of the whole call, s.
      max_moves: at most this many moves (None: no limit).
      max_moved_gpus_pct: at most this % of the GPUs that run now may move (None: no limit).
      payback_h: a move's cost is spread over this many hours (the time the plan is
        expected to hold), USD -> USD/h.
      min_gain_usd_per_h: hysteresis: each move must save at least this much, USD/h.
      curve: also solve the budgets of `CURVE_FRACTIONS`.
      fewest_moves: return the stage-1 plan (the fewest moves that restore feasibility)
        instead of the improved one.
    """

    time_limit_s: float = 60.0
    seed: int = 0
    relative_gap: float = 1e-4
    workers: int = 1
    max_moves: int | None = None
    max_moved_gpus_pct: float | None = None
    payback_h: float = 168.0
    min_gain_usd_per_h: float = 0.0
    curve: bool = False
    fewest_moves: bool = False

    def check(self) -> None:
        if not (math.isfinite(self.time_limit_s) and self.time_limit_s > 0):
            raise OptionError("--time-limit must be a finite number > 0")
        if self.max_moves is not None and self.max_moves < 0:
            raise OptionError("--max-moves must be >= 0")
        pct = self.max_moved_gpus_pct
        if pct is not None and not (math.isfinite(pct) and 0 <= pct <= 100):
            raise OptionError("--max-moved-gpus-pct must be between 0 and 100")
        if not (math.isfinite(self.payback_h) and self.payback_h > 0):
            raise OptionError("--payback-h must be a finite number of hours > 0")
        if not (math.isfinite(self.min_gain_usd_per_h) and self.min_gain_usd_per_h >= 0):
            raise OptionError("--min-gain-usd-per-h must be a finite number >= 0")


@dataclasses.dataclass
class _State:
    """One re-planning problem: the changed scenario compiled, the current placement on
    it and what each move costs."""

    scenario: Scenario
    problem: Problem
    index: Index
    current_u: np.ndarray  # int32[U]: option run now, -1 none (lost units included)
    lost_u: np.ndarray  # bool[U]: ran on an option no longer listed
    penalty_uk: np.ndarray  # float64[U, K]: USD/h a move to the slot adds
    move_usd_uk: np.ndarray  # float64[U, K]: USD a move to the slot costs
    gpus_u: np.ndarray  # float64[U]: GPUs each running unit holds now
    min_gain_usd_per_h: float
    started: float
    deadline: float

    @property
    def kept_u(self) -> np.ndarray:
        return np.where(self.lost_u, UNPLACED, self.current_u).astype(np.int32)

    def left(self) -> float:
        return self.deadline - time.perf_counter()


def replan(
    doc: dict[str, Any],
    current: Sequence[CurrentEntry],
    *,
    source: str = "<scenario>",
    events: Variant | None = None,
    options: ReplanOptions = ReplanOptions(),
) -> ReplanReport:
    """Re-plans a running fleet (module docstring).

    Args:
      doc: the scenario document (plain data, as `read_document` returns it), before the
        events.
      current: what runs now (`read_current`).
      events: the changes that happened (one whatif variant), or None.

    Returns:
      The report, its `plan` verified against the changed scenario.

    Raises:
      OptionError: a bad option, an event that does not apply, a current placement that
        names what the scenario lacks or is not a valid plan of it, a timed scenario.
    """
    options.check()
    started = time.perf_counter()
    before = validate_model(Scenario, doc, source=source)
    if before.horizon is not None:
        raise OptionError(
            "replan: a timed scenario (with a horizon) is re-planned from its running "
            "plan by `placer.analysis.replan_time.replan_timed` (placer replan --at: "
            'docs/replan.md, "Timed fleets")'
        )
    base_problem, base_index = compile_problem(before)
    base_u = current_pools(list(current), base_index)
    _check_current(before, base_problem, base_index, base_u, list(current))
    applied = []
    after = before
    if events is not None and events.changes:
        after, applied = build_variant(doc, events, source=source, index=1)
    reserve = min(POST_MAX_S, POST_SHARE * options.time_limit_s)  # the plan and its check
    state = _state(
        after, base_index, base_u, options, started, started + options.time_limit_s - reserve
    )
    restore_u, min_moves, restore_scope = _restore(state, options)
    lower = max(
        moves_lower_bound(state.problem, state.kept_u, state.lost_u),
        min_moves if restore_scope == "full" else 0,
    )
    budget = _budget(state, options, min_moves)
    if options.fewest_moves:
        final_u, improve_scope, bound = restore_u, restore_scope, None
    else:
        share = state.left() / 2 if options.curve else None  # the curve gets the rest
        final_u, improve_scope, bound = _improve(state, restore_u, budget, options, share)
    curve = _curve(state, restore_u, min_moves, options) if options.curve else []
    return _report(
        state,
        options,
        applied=applied,
        final_u=final_u,
        min_moves=min_moves,
        lower=lower,
        budget=budget,
        scope="full" if "restricted" not in (restore_scope, improve_scope) else "restricted",
        bound=bound,
        curve=curve,
        wall_s=time.perf_counter() - started,
    )


# ---- the current placement ------------------------------------------------------------


def _check_current(
    scenario: Scenario, problem: Problem, index: Index, pool_u: np.ndarray, entries
) -> None:
    """The current placement must be a valid plan of the scenario before the events."""
    where = {}
    for e in entries:
        where.setdefault(e.workload, e.where)
    slot_u = problem.slot_of(pool_u)
    for u in np.flatnonzero(slot_u == -2).tolist():
        pool = index.pools[int(pool_u[u])]
        bits = int(pair_reasons(scenario, [u])[0, int(pool_u[u])])
        why = "; ".join(reason_names(bits)) or "not allowed"
        raise OptionError(
            f"--current {where.get(index.units[u].workload, '')}: {index.units[u].name} "
            "cannot run in "
            f"{pool.site}/{pool.key} ({why}); the current placement must be a valid plan "
            "of the scenario (give what changed since with --event)"
        )
    over = over_rows(problem, pool_u)
    if over.size:
        r = int(over[0])
        units = units_on_rows(problem, pool_u, [r])
        names = ", ".join(index.units[u].name for u in units[:5].tolist())
        more = f" and {units.size - 5} more" if units.size > 5 else ""
        raise OptionError(
            f"--current: the placement is over capacity on {_row_name(problem, index, r)} "
            f"(units there: {names}{more}); the current placement must be a valid plan of "
            "the scenario (give what changed since with --event)"
        )
    groups = spread_conflicts(problem, pool_u)
    if groups.size:
        g = int(groups[0])
        names = ", ".join(
            index.units[u].name for u in np.flatnonzero(problem.group_u == g).tolist()
        )
        raise OptionError(
            f"--current: redundancy copies {names} share a site or failure domain; "
            "the current placement must be a valid plan of the scenario"
        )


def _row_name(problem: Problem, index: Index, r: int) -> str:
    kind = KIND_NAMES[problem.kind_r[r]]
    scope = int(problem.scope_r[r])
    if kind == "gpus":
        pool = index.pools[scope]
        return f"pool {pool.site}/{pool.key} gpus"
    if scope >= 0:
        return f"site {index.sites[scope]} {kind}"
    return kind


def _state(
    scenario: Scenario,
    base_index: Index,
    base_u: np.ndarray,
    options: ReplanOptions,
    started: float,
    deadline: float,
) -> _State:
    problem, index = compile_problem(scenario)
    pos = {(u.workload, u.region, u.copy): i for i, u in enumerate(index.units)}
    pool_of = {(p.site, p.key): i for i, p in enumerate(index.pools)}
    current = np.full(problem.num_units, UNPLACED, np.int32)
    for u, p in enumerate(base_u.tolist()):
        unit = base_index.units[u]
        v = pos.get((unit.workload, unit.region, unit.copy))
        pool = base_index.pools[p] if p >= 0 else None
        if v is not None and pool is not None:
            current[v] = pool_of[(pool.site, pool.key)]
    slot_u = problem.slot_of(current)
    lost = (current >= 0) & (slot_u < 0)
    move_usd = move_costs_usd(scenario, problem, index, current)
    penalty = np.where(
        problem.listed_uk & (current >= 0)[:, None],
        move_usd / options.payback_h + options.min_gain_usd_per_h,
        0.0,
    )
    _stay(penalty, slot_u, 0.0)
    gpus = np.zeros(problem.num_units)
    at = np.flatnonzero(current >= 0)
    for u in at.tolist():
        options_u, slots = problem.options_of(u)
        hit = np.flatnonzero(options_u == current[u])
        amounts = problem.amount_quk[Q_GPUS, u, slots]
        gpus[u] = amounts[hit[0]] if hit.size else amounts.max(initial=0.0)
    return _State(
        scenario,
        problem,
        index,
        current,
        lost,
        penalty,
        move_usd,
        gpus,
        options.min_gain_usd_per_h,
        started,
        deadline,
    )


# ---- stage 1: restore feasibility with the fewest moves --------------------------------


def _restore(state: _State, options: ReplanOptions) -> tuple[np.ndarray, int, str]:
    """(plan, its moves, "full" | "restricted"): the current placement when it is still
    feasible; else the fewest moves that restore feasibility, cheapest among them."""
    kept, problem = state.kept_u, state.problem
    if not state.lost_u.any() and not violations(problem, kept):
        return kept, 0, "full"
    full = model_terms(problem) <= FULL_MAX_TERMS
    freed = np.arange(problem.num_units) if full else _touched_units(state)
    share = max(0.5, RESTORE_SHARE * state.left())
    greedy = greedy_restore(problem, kept)
    proven = False
    if greedy is not None and not full:
        restored = greedy  # large: the repair, then its cheapest form below
    else:
        count = _with_objective(state, *_count_objective(state))
        hint = kept if greedy is None else greedy
        found = _solve_freed(state, count, hint, freed, options, share / 2, gap=0.0)
        if isinstance(found, str) and greedy is None:
            _no_plan(found, full)
        restored, proven = (greedy, False) if isinstance(found, str) else found[:2]
        if (
            greedy is not None
            and moved(state.current_u, greedy).sum() < moved(state.current_u, restored).sum()
        ):
            restored, proven = greedy, False
    fewest = int(moved(state.current_u, restored).sum())
    # the cheapest plan with that many moves
    cheapest = _solve_freed(
        state,
        _with_objective(state, *_priced_objective(state)),
        restored,
        freed,
        options,
        share / 2,
        budget=(fewest, None),
    )
    if not isinstance(cheapest, str) and moved(state.current_u, cheapest[0]).sum() <= fewest:
        restored = cheapest[0]
    return restored, fewest, "full" if full and proven else "restricted"


def _no_plan(status: str, full: bool) -> None:
    if full and status == "infeasible":
        raise InfeasibleError(
            "replan: no plan is feasible after the events (proven by the MILP over every "
            "unit); `placer solve` the changed scenario for the smallest fixes"
        )
    where = "" if full else " among the units the events touch (the others kept)"
    raise NoSolutionError(
        f"replan: no feasible plan found after the events{where} within the time "
        "limit; give more --time-limit-s, or `placer solve` the changed scenario"
    )


def _touched_units(state: _State) -> np.ndarray:
    """Units a change touches: lost, on rows over capacity, in broken redundancy groups,
    must-place units not running."""
    problem, kept = state.problem, state.kept_u
    touched = [np.flatnonzero(state.lost_u), units_on_rows(problem, kept, over_rows(problem, kept))]
    touched += [np.flatnonzero(problem.group_u == g) for g in spread_conflicts(problem, kept)]
    touched.append(np.flatnonzero(problem.must_place_u & (kept < 0)))
    return np.unique(np.concatenate(touched)).astype(np.int64)


def _count_objective(state: _State) -> tuple[np.ndarray, np.ndarray]:
    """(objective float64[U, K], unplaced float64[U]) that count moves: 1 for a running
    unit on another option or unplaced, 0 otherwise."""
    problem = state.problem
    running = state.current_u >= 0
    objective = np.where(problem.listed_uk & running[:, None], 1.0, 0.0)
    _stay(objective, problem.slot_of(state.current_u), 0.0)
    return objective, running.astype(float)


def _priced_objective(state: _State) -> tuple[np.ndarray, np.ndarray]:
    """(objective, unplaced) with each move's penalty added; shedding a running unit
    costs the hysteresis too: what stage 2 minimises."""
    problem = state.problem
    shed = np.where(state.current_u >= 0, state.min_gain_usd_per_h, 0.0)
    return problem.objective_usd_per_h_uk + state.penalty_uk, problem.unplaced_usd_per_h_u + shed


def _with_objective(state: _State, objective_uk, unplaced_u) -> Problem:
    return state.problem._replace(
        objective_usd_per_h_uk=objective_uk,
        unplaced_usd_per_h_u=unplaced_u,
        lexicographic=np.asarray(False),
    )


def _stay(table_uk: np.ndarray, slot_u: np.ndarray, value: float) -> None:
    """Sets each unit's current slot (slot_u >= 0) of table_uk to value, in place."""
    stays = np.flatnonzero(slot_u >= 0)
    table_uk[stays, slot_u[stays]] = value


# ---- stage 2: the moves worth making ---------------------------------------------------


def _budget(state: _State, options: ReplanOptions, fewest: int) -> tuple[int | None, float | None]:
    """(moves, GPUs) a plan may move: the options' limits, never below what stage 1
    needs (its plan must stay reachable)."""
    moves = None if options.max_moves is None else max(options.max_moves, fewest)
    gpus = None
    if options.max_moved_gpus_pct is not None:
        gpus = options.max_moved_gpus_pct / 100.0 * float(state.gpus_u.sum())
    return moves, gpus


def _improve(
    state: _State,
    start_u: np.ndarray,
    budget: tuple[int | None, float | None],
    options: ReplanOptions,
    time_s: float | None = None,
) -> tuple[np.ndarray, str, float | None]:
    """(plan, scope, bound on objective + move penalties or None): stage 2 from start_u,
    one MILP over every unit when the model is small, else neighbourhoods (`_lns`)."""
    problem = state.problem
    moves, gpus = budget
    if gpus is not None:  # what stage 1 moved is allowed
        gpus = max(gpus, float(state.gpus_u[moved(state.current_u, start_u)].sum()))
    priced = _with_objective(state, *_priced_objective(state))
    left = max(0.5, min(state.left(), math.inf if time_s is None else time_s))
    if model_terms(problem) > FULL_MAX_TERMS:
        return _lns(state, priced, start_u, (moves, gpus), options, left), "restricted", None
    freed = np.arange(problem.num_units)
    found = _solve_freed(state, priced, start_u, freed, options, left, budget=(moves, gpus))
    if isinstance(found, str):
        return start_u, "restricted", None
    plan, proven, bound = found
    if objective_value(priced, plan) > objective_value(priced, start_u):
        plan = start_u
    return plan, "full" if proven else "restricted", bound


def _lns(
    state: _State,
    priced: Problem,
    start_u: np.ndarray,
    budget: tuple[int | None, float | None],
    options: ReplanOptions,
    time_s: float,
) -> np.ndarray:
    """Stage 2 on a large fleet: neighbourhood MILPs (`LNS_FREE` units, `LNS_ROUND_S` s
    each), every other unit fixed, kept when objective + move penalties fall. The first
    frees the units that stage 1 touched or moved and the best movers on their own
    (`_improvers`); the next add the units placed at a few sites drawn at random."""
    rng = np.random.default_rng(options.seed)
    problem = state.problem
    stop = time.perf_counter() + time_s
    best, value = start_u, objective_value(priced, start_u)
    core = _improvers(state, start_u)
    site_u = problem.site_o[np.maximum(best, 0)]
    for round_ in range(LNS_MAX_ROUNDS):
        left = stop - time.perf_counter()
        if left < 0.5:
            break
        if round_ == 0:
            freed = core
        else:
            sites = rng.choice(problem.num_sites, size=min(3, problem.num_sites), replace=False)
            freed = np.union1d(core, np.flatnonzero((best >= 0) & np.isin(site_u, sites)))
        if freed.size > LNS_FREE:
            freed = np.sort(rng.choice(freed, LNS_FREE, replace=False))
        found = _solve_freed(
            state, priced, best, freed, options, min(LNS_ROUND_S, left), budget=budget
        )
        if isinstance(found, str):
            continue
        trial = found[0]
        trial_value = objective_value(priced, trial)
        if trial_value < value - 1e-9:
            best, value = trial, trial_value
            site_u = problem.site_o[np.maximum(best, 0)]
            core = np.union1d(core, np.flatnonzero(moved(state.current_u, best)))
    return best


def _improvers(state: _State, start_u: np.ndarray) -> np.ndarray:
    """The units a large fleet's first neighbourhood frees: those stage 1 touched or
    moved, and the `IMPROVE_MAX_FREE` with the largest saving from a move on their own."""
    problem = state.problem
    objective, unplaced = _priced_objective(state)
    now = np.where(
        start_u >= 0,
        np.take_along_axis(objective, problem.slot_of(start_u).clip(0)[:, None], 1)[:, 0],
        unplaced,
    )
    best = np.where(problem.listed_uk, objective, np.inf).min(axis=1, initial=np.inf)
    saving = now - np.minimum(best, np.where(problem.must_place_u, np.inf, unplaced))
    gain = np.flatnonzero(saving > 1e-9)
    gain = gain[np.argsort(-saving[gain], kind="stable")[:IMPROVE_MAX_FREE]]
    parts = [gain, _touched_units(state), np.flatnonzero(moved(state.current_u, start_u))]
    return np.unique(np.concatenate(parts)).astype(np.int64)


def _curve(
    state: _State, start_u: np.ndarray, fewest: int, options: ReplanOptions
) -> list[CurvePoint]:
    """Stage 2 under each budget of `CURVE_FRACTIONS` (moves as a share of the running
    units; never below the fewest that restore feasibility), each from the last one's
    plan, so objective + move penalties never rise along the curve."""
    running = int((state.current_u >= 0).sum())
    points = []
    plan = start_u
    for n, fraction in enumerate(CURVE_FRACTIONS):
        limit = None if fraction is None else max(fewest, math.floor(fraction * running))
        share = state.left() / (len(CURVE_FRACTIONS) - n)
        # budgets grow: the last point's plan is within this one's and starts it
        plan, scope, _ = _improve(state, plan, (limit, None), options, time_s=share)
        points.append(_point(state, plan, fraction, limit, scope))
    return points


def _point(state: _State, plan, fraction, limit, scope) -> CurvePoint:
    is_moved = moved(state.current_u, plan)
    slot_u = state.problem.slot_of(plan)
    placed = np.flatnonzero(is_moved & (slot_u >= 0))
    cost = float(state.move_usd_uk[placed, slot_u[placed]].sum())
    return CurvePoint(
        max_moves_pct=None if fraction is None else 100.0 * fraction,
        max_moves=limit,
        moves=int(is_moved.sum()),
        objective_usd_per_h=objective_value(state.problem, plan),
        move_cost_usd=cost,
        scope=scope,
    )


# ---- the sub-MILPs ---------------------------------------------------------------------


def _solve_freed(
    state: _State,
    problem: Problem,
    start_u: np.ndarray,
    freed: np.ndarray,
    options: ReplanOptions,
    time_s: float,
    *,
    gap: float | None = None,
    budget: tuple[int | None, float | None] = (None, None),
) -> tuple[np.ndarray, bool, float | None] | str:
    """(plan int32[U], proven, bound of `problem` or None) of the MILP over the `freed`
    units of `problem`, every other unit fixed where `start_u` puts it; the MILP's
    status ("infeasible", "no_solution") when it found no plan. `budget` (moves, GPUs)
    limits the moves away from the current placement, the fixed units' included."""
    fixed = start_u.copy()
    fixed[freed] = UNPLACED
    sub = freed_subproblem(problem, start_u, freed)
    sub_opts = SolveOptions(
        time_limit_s=max(0.2, min(time_s, state.left())),
        seed=options.seed,
        relative_gap=options.relative_gap if gap is None else gap,
        workers=options.workers,
        hint_u=start_u[freed],
    )
    rows = _budget_rows(state, sub, freed, fixed, budget)
    result: SolveResult = solve_milp(sub, sub_opts, prices=False, side_rows=rows)
    if result.objective_usd_per_h is None:
        return str(result.status)
    plan = fixed.copy()
    plan[freed] = result.assign_u
    if violations(state.problem, plan):
        raise SolverError(f"replan: the MILP's plan breaks {violations(state.problem, plan)}")
    bound = None
    if result.bound_usd_per_h is not None:
        others = np.setdiff1d(np.arange(problem.num_units), freed)
        bound = (
            result.bound_usd_per_h + objective_value(problem.take_units(others), fixed[others])
            if others.size
            else result.bound_usd_per_h
        )
    return plan, result.status == "optimal", bound


def _budget_rows(
    state: _State,
    sub: Problem,
    freed: np.ndarray,
    fixed: np.ndarray,
    budget: tuple[int | None, float | None],
) -> tuple[SideRow, ...]:
    """Side rows of the sub-MILP: moves = running freed units - those on their current
    option (+ the fixed units' moves) <= limit, the same weighted by GPUs."""
    moves, gpus = budget
    current = state.current_u[freed]
    slot = sub.slot_of(current)  # -1 not running, -2 its option is gone: a move anyway
    stays = np.flatnonzero(slot >= 0)
    running = current >= 0
    others = np.ones(state.problem.num_units, bool)
    others[freed] = False
    fixed_moved = moved(state.current_u, fixed) & others
    rows = []
    if moves is not None:
        ub = moves - int(fixed_moved.sum()) - int(running.sum())
        rows.append(SideRow("max_moves", stays, slot[stays], -np.ones(stays.size), ub=ub))
    if gpus is not None:
        g = state.gpus_u[freed]
        ub = gpus - float(state.gpus_u[fixed_moved].sum()) - float(g[running].sum())
        rows.append(SideRow("max_moved_gpus", stays, slot[stays], -g[stays], ub=ub + 1e-6))
    return tuple(rows)


def _merge(fixed: np.ndarray, freed: np.ndarray, assign: np.ndarray) -> np.ndarray:
    out = fixed.copy()
    out[freed] = assign
    return out


# ---- the report ------------------------------------------------------------------------


def _report(
    state: _State,
    options: ReplanOptions,
    *,
    applied,
    final_u: np.ndarray,
    min_moves: int,
    lower: int,
    budget: tuple[int | None, float | None],
    scope: str,
    bound: float | None,
    curve: list[CurvePoint],
    wall_s: float,
) -> ReplanReport:
    problem, index = state.problem, state.index
    problems = _current_problems(state)
    objective = objective_value(problem, final_u)
    is_moved = moved(state.current_u, final_u)
    slot_u = problem.slot_of(final_u)
    placed = np.flatnonzero(is_moved & (slot_u >= 0))
    move_cost = float(state.move_usd_uk[placed, slot_u[placed]].sum())
    with_moves = objective_value(_with_objective(state, *_priced_objective(state)), final_u)
    moves = int(is_moved.sum())
    what = "the fewest moves that restore feasibility" if options.fewest_moves else "re-planned"
    result = SolveResult(
        final_u,
        "feasible",
        objective_usd_per_h=objective,
        message=f"{what} from the current placement: {moves} moves "
        f"(at least {lower} needed); no bound on the objective (see the replan report)",
    )
    plan = build_plan(
        state.scenario,
        problem,
        index,
        result,
        solver="replan",
        seed=options.seed,
        time_limit_s=options.time_limit_s,
        wall_s=wall_s,
        versions=versions(),
    )
    check_plan(state.scenario, plan)
    return ReplanReport(
        scenario=state.scenario.metadata.name,
        events=applied,
        running_units=int((state.current_u >= 0).sum()),
        running_gpus=float(state.gpus_u.sum()),
        current_feasible=not problems,
        current_problems=problems,
        current_objective_usd_per_h=None if problems else objective_value(problem, state.kept_u),
        fewest_moves=min_moves,
        moves_lower_bound=lower,
        moves=moves,
        moved_gpus=float(state.gpus_u[is_moved].sum()),
        starts=int(((state.current_u < 0) & (final_u >= 0)).sum()),
        objective_usd_per_h=objective,
        move_cost_usd=move_cost,
        objective_with_moves_usd_per_h=with_moves,
        bound_with_moves_usd_per_h=bound,
        scope=scope,
        payback_h=options.payback_h,
        min_gain_usd_per_h=options.min_gain_usd_per_h,
        max_moves=budget[0],
        max_moved_gpus=budget[1],
        move_list=_moves(state, final_u),
        curve=curve,
        wall_s=round(time.perf_counter() - state.started, 4),
        plan=plan,
    )


def _current_problems(state: _State) -> list[str]:
    """Why the current placement is not a valid plan after the events (empty: it is)."""
    problem, index = state.problem, state.index
    out = [
        f"{index.units[u].name}: {_pool_name(index, int(state.current_u[u]))} no longer allowed"
        for u in np.flatnonzero(state.lost_u)[:20].tolist()
    ]
    if state.lost_u.sum() > 20:
        out.append(f"... {int(state.lost_u.sum()) - 20} more units lost their pool")
    kept = state.kept_u
    out += [f"{_row_name(problem, index, r)} over capacity" for r in over_rows(problem, kept)]
    out += [
        f"redundancy group of {index.units[int(np.flatnonzero(problem.group_u == g)[0])].workload}"
        " not spread"
        for g in spread_conflicts(problem, kept)
    ]
    out += [
        f"{index.units[u].name}: must be placed and does not run"
        for u in np.flatnonzero(problem.must_place_u & (kept < 0) & ~state.lost_u)[:20].tolist()
    ]
    return out


def _pool_name(index: Index, option: int) -> str:
    pool = index.pools[option]
    return f"{pool.site}/{pool.key}"


def _moves(state: _State, final_u: np.ndarray) -> list[ReplanMove]:
    """Every moved unit: from, to, forced or saving, and what it saves and costs."""
    problem, index = state.problem, state.index
    kept = state.kept_u
    over = over_rows(problem, kept)
    forced_by: dict[int, str] = {}
    if over.size:
        units, rows, _ = AssignmentValues(problem, kept).terms()
        hit = np.isin(rows, over)
        for u, r in zip(units[hit].tolist(), rows[hit].tolist(), strict=True):
            forced_by.setdefault(u, f"{_row_name(problem, index, r)} over capacity")
    objective = problem.objective_usd_per_h_uk
    slot_now = problem.slot_of(state.current_u)
    slot_new = problem.slot_of(final_u)
    out = []
    for u in np.flatnonzero(moved(state.current_u, final_u)).tolist():
        unit = index.units[u]
        source = index.pools[int(state.current_u[u])]
        placed = final_u[u] >= 0
        target = index.pools[int(final_u[u])] if placed else None
        now = objective[u, slot_now[u]] if slot_now[u] >= 0 else None
        new = objective[u, slot_new[u]] if placed else problem.unplaced_usd_per_h_u[u]
        if state.lost_u[u]:
            reason, why = "forced", f"{source.site}/{source.key} is no longer allowed"
        elif u in forced_by:
            reason, why = "forced", forced_by[u]
        else:
            reason = "saving"
            why = f"saves {now - new:,.2f} USD/h" if now is not None else "re-placed"
        out.append(
            ReplanMove(
                unit=unit.name,
                workload=unit.workload,
                region=unit.region,
                copy_index=unit.copy,
                gpus=float(state.gpus_u[u]),
                from_site=source.site,
                from_pool=source.key,
                to_site=target.site if target else None,
                to_pool=target.key if target else None,
                reason=reason,
                why=why if placed else f"{why}; shed (stops running)",
                saving_usd_per_h=None if now is None else float(now - new),
                move_cost_usd=float(state.move_usd_uk[u, slot_new[u]]) if placed else 0.0,
            )
        )
    return out


__all__ = ["ReplanOptions", "replan"]
