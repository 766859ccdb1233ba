"""The Python API: load, solve, verify, score. The CLI is a thin layer over these.

Every error is a `placer.errors.PlacerError` (bad scenario or option: ScenarioError /
OptionError; a solver bug: SolverError). Solver outcomes — infeasible, no plan in
time — are never exceptions: they are the `status` of the returned Plan.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import platform
import time
from importlib import metadata, resources
from pathlib import Path

from placer import interrupt
from placer.engines.base import SolveOptions, SolveResult
from placer.engines.milp.diagnose import diagnose
from placer.engines.registry import SOLVERS
from placer.engines.relax.streamed_bound import sample_prices, with_whole_bound
from placer.engines.search.colgen_hybrid import solve_colgen_hybrid
from placer.engines.search.hybrid import solve_hybrid_full
from placer.engines.search.large_hybrid import solve_large_hybrid
from placer.errors import OptionError, SolverError
from placer.model.load import load_scenario
from placer.model.scenario import Scenario
from placer.plan.build import build_plan, infeasibility_from
from placer.plan.fixes import apply_changes, changes_of, prove_fixes, step_change
from placer.plan.plan import Plan
from placer.plan.scoring import PlanScore, assignment_of, score
from placer.plan.verify import Violation, verify
from placer.problem.agnostic import agnostic_rank
from placer.problem.compile import compile_problem
from placer.problem.compile_large import compile_restricted, needs_restriction
from placer.problem.form import Problem
from placer.progress import ProgressFn

DEFAULT_SCENARIO = "eu_sovereign.yaml"
#: Share of a solve's time limit kept for building and verifying the plan.
POST_SOLVE_SHARE = 0.03
#: Least time a solver is given, however long the compile took, s.
MIN_SOLVER_S = 0.5


def default_scenario_path() -> Path:
    """The bundled default scenario (configs/eu_sovereign.yaml, shipped as package data)."""
    return Path(str(resources.files("placer.data").joinpath(DEFAULT_SCENARIO)))


def load(path: Path | str | None = None) -> Scenario:
    """Loads a scenario file ('-' = stdin; None = the bundled default)."""
    return load_scenario(default_scenario_path() if path is None else path)


def versions() -> dict[str, str]:
    """Versions recorded in every Plan."""
    out = {"python": platform.python_version()}
    for pkg in ("placer", "numpy", "pydantic", "ortools", "jax"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def solve(
    scenario: Scenario,
    *,
    solver: str = "auto",
    time_limit_s: float = 60.0,
    seed: int = 0,
    relative_gap: float = 1e-4,
    workers: int = 1,
    backend: str | None = None,
    hint: Plan | None = None,
    progress: ProgressFn | None = None,
    layout: str = "auto",
    secure: str | None = None,
) -> Plan:
    """Computes a placement plan, verified against the scenario before it is returned.

    Args:
      scenario: a validated Scenario.
      solver: a name from `SOLVERS`, or "auto".
      time_limit_s: wall-clock limit for the whole call (compile, solve, plan), s.
      seed: random seed.
      relative_gap: stop once the proven gap is below this (exact solvers).
      workers: threads the solver may use.
      backend: solver-specific backend (e.g. the MILP's "highs" or "cpsat").
      hint: a previous plan of the same scenario to start from (placements that do not
        match this scenario are ignored).
      progress: called with a `placer.progress.Progress` (stage, incumbent, bound) as
        the solve improves; None for silence.
      layout: which path the hybrid takes: "dense" (a relaxation of the whole fleet,
        `solve_hybrid_full`), "sparse" (prices from a sample of units, for fleets too
        large to relax whole: `solve_large_hybrid`), "columns" (column generation:
        `solve_colgen_hybrid`), or "auto" (columns for problems whose options charge
        many rows, as timed runs do; otherwise sparse above `LARGE_MIN_CELLS` units x
        options). Every other solver reads the one Problem whatever the layout.
      secure: "n-1" (or "n-1-domains"): the plan must absorb the loss of any single site
        (or failure domain): its must-place units there fit in what the other units
        leave, within their SLOs (`placer.engines.milp.secure`; the MILP, or the hybrid's
        prices and bound with that MILP over the cheapest options). The
        plain optimum is solved first with half the time, and the plan's diagnostics
        state the price of the security.

    Returns:
      The Plan; solver outcomes (infeasible, no solution in time) are its status.

    Raises:
      OptionError: an option out of its range (time_limit_s not finite or <= 0, seed
        outside 0 <= seed < 2**31, relative_gap not finite or < 0, workers < 1), an
        unknown solver or layout.
      SolverError: unknown backend, or a plan that fails verification.
    """
    check_solve_options(
        time_limit_s=time_limit_s, seed=seed, relative_gap=relative_gap, workers=workers
    )
    choose_solver(solver)  # a bad name fails before the compile
    check_layout(layout)
    if secure not in (None, *SECURE_MODES):
        raise OptionError(f"unknown secure mode {secure!r}; choose one of {list(SECURE_MODES)}")
    if secure is not None and solver not in ("auto", "milp", "hybrid"):
        raise OptionError(
            f"--secure {secure} is solved by the MILP or the hybrid (--solver milp|hybrid)"
        )
    if secure is not None and scenario.horizon is not None:
        raise OptionError(f"--secure {secure}: timed scenarios (with a horizon) not yet")
    started = time.perf_counter()
    restricted = restricted_layout(scenario, layout)
    known_bound = None
    if restricted:  # the padded option table would not fit: a subset of each unit's options
        sample_s = RESTRICTED_SAMPLE_SHARE * time_limit_s
        prices = sample_prices(scenario, time_budget_s=sample_s, seed=seed)
        compiled = time.perf_counter()
        problem, index, known_bound = compile_restricted(scenario, prices)
        compile_s = time.perf_counter() - compiled
    else:
        problem, index = compile_problem(scenario)
    name = choose_solver(solver, problem)
    check_period_caps(problem, name)
    if secure is not None and solver == "auto":
        name = _secure_engine(scenario, problem, index, secure)
    solve_fn = HYBRID_PATHS[layout] if name == "hybrid" else SOLVERS[name]
    if restricted and name == "hybrid" and problem.num_pairs() > RESTRICTED_SPARSE_PAIRS:
        solve_fn = solve_large_hybrid  # column generation's first master would not solve
    hint_u = assignment_of(hint, index, strict=False) if hint is not None else None
    # the limit is for the whole call: the compile has spent some, the plan and its
    # verification after the solve take a little (POST_SOLVE_SHARE)
    spent = time.perf_counter() - started
    if restricted:  # the whole problem's bound streams every option again: ~ a compile
        spent += compile_s
    elif problem.preempt is not None and name not in ("milp", "greedy"):  # bound, polish
        from placer.engines.relax.preempt_bound import estimated_s
        from placer.engines.search.preempt_polish import POLISH_SHARE

        spent += estimated_s(problem) + POLISH_SHARE * time_limit_s
    solver_s = max(MIN_SOLVER_S, time_limit_s * (1.0 - POST_SOLVE_SHARE) - spent)
    options = SolveOptions(
        time_limit_s=solver_s,
        seed=seed,
        relative_gap=relative_gap,
        workers=workers,
        hint_u=hint_u,
        backend=backend,
        progress=progress,
        rank_uk=agnostic_rank(problem, index) if name == "greedy" else None,
    )
    with interrupt.catch_interrupt():  # Ctrl-C: the engines stop with the best plan so far
        cover = None
        if secure is None:
            result = solve_fn(problem, options)
        else:
            result, cover = _solve_secure(scenario, problem, index, options, secure, name)
    if problem.period_caps is not None:
        result = within_period_caps(problem, index, options, result, name)
    if bool(problem.lexicographic) and name != "milp":
        result = _weighted_only(result, name)
    if restricted:
        result = with_whole_bound(scenario, problem, result, relative_gap, known_bound)
    polish_by = started + time_limit_s * (1.0 - POST_SOLVE_SHARE)
    result = with_preemption(problem, name, options, result, polish_by, restricted)
    deadline = started + time_limit_s
    diagnosed = (
        result.status == "infeasible"
        and result.diagnosis is None
        and small(problem)
        and not interrupt.was_interrupted()
        and scenario.horizon is None  # a fix of a timed scenario names periods: not yet
    )
    if diagnosed:
        # half of what is left finds the fixes, the other half re-solves them
        result = dataclasses.replace(
            result, diagnosis=_diagnose(scenario, problem, (deadline - time.perf_counter()) / 2)
        )
    plan = build_plan(
        scenario,
        problem,
        index,
        result,
        solver=name,
        seed=seed,
        time_limit_s=time_limit_s,
        wall_s=time.perf_counter() - started,
        versions=versions(),
    )
    if cover is not None:
        plan = plan.model_copy(update={"secure": cover})
    check_plan(scenario, plan)
    if plan.infeasibility is not None and plan.infeasibility.fixes and not interrupted():
        inf = prove_fixes(plan.infeasibility, scenario, _resolver(deadline))
        plan = plan.model_copy(update={"infeasibility": inf})
    return plan


#: `solve(secure=...)`: which single losses a secure plan absorbs.
SECURE_MODES = ("n-1", "n-1-domains")


def failure_sets(scenario: Scenario, sites: tuple[str, ...], mode: str) -> list:
    """Per failure, the site indices it loses: each site ("n-1"), or each failure domain
    (a site without one is its own domain: "n-1-domains"). Returns (names, index arrays)."""
    import numpy as np

    if mode == "n-1":
        return [(site, np.array([s])) for s, site in enumerate(sites)]
    domain = {site.id: site.failure_domain or site.id for site in scenario.sites}
    names = sorted({domain[site] for site in sites})
    return [
        (name, np.array([s for s, site in enumerate(sites) if domain[site] == name]))
        for name in names
    ]


#: `solve(secure=..., solver="auto")` takes the exact secure MILP up to this many recourse
#: variables over every option, the hybrid (the MILP over the cheapest priced options)
#: above.
SECURE_MILP_MAX_VARIABLES = 200_000
#: Least time left for which a secure plan is improved again, s.
MIN_SECURE_ROUND_S = 3.0


def _secure_engine(scenario, problem, index, mode: str) -> str:
    from placer.engines.milp.secure import secure_size

    sets = [f[1] for f in failure_sets(scenario, index.sites, mode)]
    return "milp" if secure_size(problem, sets) <= SECURE_MILP_MAX_VARIABLES else "hybrid"


def _solve_secure(scenario, problem, index, options: SolveOptions, mode: str, name: str):
    """(result, SecureCover): the plain plan with a third of the time, then the secure
    one over every failure (`name`: "milp", the exact model; "hybrid", the JAX
    relaxation's prices and bound, the exact model over each unit's cheapest options);
    when no plan absorbs them all, the failures are tried one by one (each kept when a
    plan is found that absorbs it with those kept before) and the plan absorbs those."""
    from placer.engines.milp.secure import solve_secure as exact
    from placer.engines.milp.secure import unprotectable
    from placer.engines.search.secure_hybrid import solve_secure_hybrid
    from placer.plan.plan import SecureCover

    solve_secure = exact if name == "milp" else solve_secure_hybrid
    plain_fn = SOLVERS[name]

    failures = failure_sets(scenario, index.sites, mode)
    deadline = time.perf_counter() + options.time_limit_s

    def within(share: float) -> SolveOptions:
        left = deadline - time.perf_counter()
        return dataclasses.replace(options, time_limit_s=max(MIN_SOLVER_S, share * left))

    plain = plain_fn(problem, within(1 / 3))
    sets = [f[1] for f in failures]
    kept = list(range(len(failures)))
    result = solve_secure(problem, within(0.5), sets)
    if result.objective_usd_per_h is None:
        kept = []
        for n, f in enumerate(range(len(failures))):
            trial = solve_secure(
                problem, within(0.5 / (len(failures) - n)), [sets[i] for i in [*kept, f]]
            )
            if trial.objective_usd_per_h is not None:
                kept.append(f)
        result = solve_secure(problem, within(1.0), [sets[i] for i in kept])
    elif deadline - time.perf_counter() > MIN_SECURE_ROUND_S:  # the time kept for the
        # one-by-one tries was not needed: improve the plan from itself
        again = solve_secure(
            problem, dataclasses.replace(within(1.0), hint_u=result.assign_u), sets
        )
        if again.objective_usd_per_h is not None and (
            again.objective_usd_per_h < result.objective_usd_per_h - 1e-9
        ):
            result = again
    left_out = unprotectable(problem, [sets[i] for i in kept])
    price = None
    if result.objective_usd_per_h is not None and plain.objective_usd_per_h is not None:
        price = result.objective_usd_per_h - plain.objective_usd_per_h
    cover = SecureCover(
        mode=mode,
        covered=[failures[i][0] for i in kept],
        not_covered=[failures[i][0] for i in range(len(failures)) if i not in kept],
        unprotectable=[
            f"{index.units[u].name} (only at {failures[kept[f]][0]})" for f, u in left_out
        ],
        plain_objective_usd_per_h=plain.objective_usd_per_h,
        price_usd_per_h=price,
    )
    what = "site" if mode == "n-1" else "failure domain"
    note = f"N-1 secure: absorbs the loss of {len(kept)} of {len(failures)} {what}s"
    if cover.not_covered:
        note += f" (not: {', '.join(cover.not_covered)})"
    if price is not None:
        rel = price / max(abs(plain.objective_usd_per_h), 1e-9)
        note += (
            f"; price of security {price:+,.2f} USD/h ({100 * rel:+.2f}%) over the plain "
            f"plan's {plain.objective_usd_per_h:,.2f} USD/h ({plain.status})"
        )
    return dataclasses.replace(result, diagnostics=[note, *result.diagnostics]), cover


def interrupted() -> bool:
    """Whether the last `solve` was stopped by Ctrl-C (its plan is the best found so far;
    the CLI writes it, then exits 130)."""
    return interrupt.was_interrupted()


def _weighted_only(result, name: str):
    """A non-MILP engine's result on a lexicographic scenario: those engines minimise the
    weighted objective, so the placed value is not proven maximal: never "optimal", and
    the plan says so (its bound still bounds the weighted objective of any plan)."""
    note = (
        f"lexicographic mode: {name} minimised the weighted objective; the placed value "
        "is not proven maximal (--solver milp solves the two stages)"
    )
    status = "feasible" if result.status == "optimal" else result.status
    message = f"{result.message} (of the weighted objective: lexicographic mode not solved)"
    return dataclasses.replace(
        result, status=status, message=message, diagnostics=[note, *result.diagnostics]
    )


#: Solvers that honour budgets and carbon caps per period (`Problem.period_caps`): the
#: MILP writes their rows, greedy keeps a ledger, the hybrid's MILP stages write them (and
#: `within_period_caps` checks its plan). `auto` picks the MILP or the hybrid.
PERIOD_CAP_SOLVERS = ("greedy", "hybrid", "milp")


def check_period_caps(problem: Problem, name: str) -> None:
    """Refuses a solver that cannot honour the scenario's caps per period.

    Raises:
      OptionError: naming the fields and the solvers that honour them.
    """
    if problem.period_caps is None:
        return
    if name in PERIOD_CAP_SOLVERS:
        return
    raise OptionError(
        f"--solver {name}: objective.budget_usd_per_period_h and "
        "objective.carbon_cap_kg_per_period_h (caps per period) are honoured by "
        f"{', '.join(PERIOD_CAP_SOLVERS)} (or auto), not by {name}"
    )


def within_period_caps(problem: Problem, index, options: SolveOptions, result, name: str):
    """The result if its plan keeps every cap per period; otherwise greedy's plan (which
    keeps them), with a diagnostic line and the result's bound (a bound of the problem
    stays one whatever plan is returned). The hybrid may need it: its rounding and repair
    stages do not see the caps (its MILP stages do), so it may end with a plan over a cap,
    or with none ("no_solution") where greedy finds one; the MILP only where it returns a
    hint instead of a model (`MAX_MODEL_TERMS`)."""
    from placer.engines.greedy import solve_greedy
    from placer.problem.usage import broken_caps

    if result.status in ("optimal", "feasible"):
        if not broken_caps(problem, result.assign_u, result.preempt_schedule).size:
            return result  # the MILP's and greedy's always do (but a MILP's fallback)
        why = f"{name}'s plan exceeded a budget or carbon cap per period"
    elif name == "hybrid" and result.status == "no_solution":
        why = f"{name} found no plan"
    else:
        return result
    # greedy by cost, else by start (each run as early as it fits: `agnostic_rank`)
    for rank in (None, agnostic_rank(problem, index)):
        fallback = solve_greedy(problem, dataclasses.replace(options, rank_uk=rank, hint_u=None))
        if fallback.status == "feasible":
            break
    if fallback.status != "feasible" and result.status not in ("optimal", "feasible"):
        return result
    note = f"caps per period: {why}; greedy's plan (which keeps them) is returned instead"
    full = result.bound_scope == "full"
    return dataclasses.replace(
        fallback,
        bound_usd_per_h=result.bound_usd_per_h if full else None,
        bound_scope="full" if full and result.bound_usd_per_h is not None else None,
        diagnostics=[note, *fallback.diagnostics, *result.diagnostics],
    )


def engine_share(problem: Problem, name: str) -> float:
    """The share of a solve's time its engine gets when `with_preemption` follows it: the
    rest is the preemption polish's (`preempt_polish.POLISH_SHARE`)."""
    if problem.preempt is None or name in ("milp", "greedy"):
        return 1.0
    from placer.engines.search.preempt_polish import POLISH_SHARE

    return 1.0 - POLISH_SHARE


def with_preemption(
    problem: Problem,
    name: str,
    options: SolveOptions,
    result: SolveResult,
    polish_by: float,
    restricted: bool = False,
) -> SolveResult:
    """`result` of engine `name`; where the engine placed preemptible runs contiguously
    (no `preempt_schedule`): its bound as `contiguous_only` states it, then the runs
    re-planned with pauses and moves (`preempt_polish`) until `polish_by`
    (`time.perf_counter()` seconds), except after greedy (the agnostic baseline), the
    restricted layout and the lexicographic objective."""
    if problem.preempt is None or result.preempt_schedule is not None:
        return result
    result = contiguous_only(result, name, None if restricted else problem, options.relative_gap)
    polish = not restricted and not bool(problem.lexicographic) and name != "greedy"
    if polish and not interrupt.was_interrupted():  # let the runs pause and move
        from placer.engines.search.preempt_polish import polish_preempted

        with interrupt.catch_interrupt():
            result = polish_preempted(problem, options, result, polish_by - time.perf_counter())
    return result


def contiguous_only(result, name: str, problem: Problem | None = None, relative_gap: float = 0.0):
    """A result of an engine that placed preemptible runs contiguously (it did not model
    preemption, `SolveResult.preempt_schedule` None): its plan is valid (a restriction),
    but its bound and any proof of optimality or infeasibility are of the contiguous
    problem, whose optimum may be above the preemptible one's. So for runs that may
    migrate between pools (`migration_usd`): placed in one pool. Where the engine
    certified a bound at row prices (`SolveResult.prices_r`) and `problem` is given (not
    the restricted layout), the bound at those prices with the runs' schedules priced
    (`relax.preempt_bound`) is claimed instead: one of the problem where they may pause
    and move; else none is."""
    from placer.engines.relax.preempt_bound import preempt_bound

    bound = None
    if problem is not None and result.prices_r is not None and result.bound_usd_per_h is not None:
        bound = preempt_bound(problem, result.prices_r)
    value = result.objective_usd_per_h
    if bound is not None and value is not None:
        gap = max(0.0, (value - bound) / max(abs(value), 1e-9))
        note = (
            f"preemptible or migratable runs: {name} placed them contiguously in one pool; the "
            "bound prices their schedules too (pauses and moves; overheads left out: "
            f"relax/preempt_bound.py): gap {100 * gap:.3f}% (--solver milp models preemption "
            "and migration)"
        )
        status = "optimal" if gap <= relative_gap else "feasible"
        return dataclasses.replace(
            result,
            status=status if result.status in ("optimal", "feasible") else result.status,
            bound_usd_per_h=bound,
            bound_scope="full",
            message=f"{result.message} (of the runs placed contiguously; the bound: with "
            "their pauses and moves)",
            diagnostics=[note, *result.diagnostics],
        )
    note = (
        f"preemptible or migratable runs: {name} placed them contiguously in one pool; no "
        "bound is claimed for the problem where they may pause or move between pools "
        "(--solver milp models preemption and migration)"
    )
    status = {"optimal": "feasible", "infeasible": "no_solution"}.get(result.status, result.status)
    message = result.message
    if result.status != status:
        message = f"{message} (of the runs placed contiguously)"
    return dataclasses.replace(
        result,
        status=status,
        message=message,
        bound_usd_per_h=None,
        bound_scope=None,
        diagnostics=[note, *result.diagnostics],
    )


#: Least time an infeasibility diagnosis gets, s (a small elastic MILP solves in well
#: under this; the call's time limit then runs over by at most this much).
MIN_DIAGNOSIS_S = 0.5


def _diagnose(scenario: Scenario, problem: Problem, budget_s: float):
    """The Diagnosis of an infeasible problem, its elastic solves within `budget_s`; units
    larger than a pool or site take part (compiled without that rule), so that the GPUs
    or kW they need can be a fix."""
    sized, _ = compile_problem(scenario, size_rule=False)
    return diagnose(problem, time_limit_s=max(MIN_DIAGNOSIS_S, budget_s), sized=sized)


def _resolver(deadline: float):
    """`resolve(fixed scenario) -> (status, objective)` for `prove_fixes`: the MILP on
    the fixed scenario, each call sharing what is left before `deadline` with the calls
    after it (at least MIN_DIAGNOSIS_S each); a plan it finds must pass the verifier
    (SolverError otherwise, as for any plan)."""

    def resolve(fixed: Scenario, left_after: int) -> tuple[str, float | None]:
        share = (deadline - time.perf_counter()) / (left_after + 1)
        problem, index = compile_problem(fixed)
        result = SOLVERS["milp"](problem, SolveOptions(time_limit_s=max(MIN_DIAGNOSIS_S, share)))
        if result.status not in ("optimal", "feasible"):
            return result.status, None
        plan = build_plan(
            fixed, problem, index, result, solver="milp", seed=0,
            time_limit_s=share, wall_s=0.0, versions={},
        )  # fmt: skip
        check_plan(fixed, plan)
        return result.status, result.objective_usd_per_h

    return resolve


def explain(scenario: Scenario, *, time_limit_s: float = 30.0) -> Plan:
    """Solves and, whatever the outcome, explains what limits the plan.

    For an infeasible scenario the plan's `infeasibility` names the units with no
    feasible pool (with the mask's reasons), the smallest capacity additions that make
    it feasible, and the fewest must-place units to drop instead. For a feasible one,
    the capacity prices say which capacities bind and what one more unit is worth.
    The solver is "auto": the MILP (its LP gives the prices) up to HYBRID_MIN_PAIRS
    feasible pairs, the hybrid above (its relaxation gives the prices); fixes are
    sought only while the elastic MILPs are small (`small`).
    """
    started = time.perf_counter()
    plan = solve(scenario, solver="auto", time_limit_s=time_limit_s)
    if plan.status in ("optimal", "feasible") and plan.capacity_prices:
        # re-solves compile the whole fleet again: only where the MILP is the right tool
        units = len(plan.placements) + len(plan.unplaced)
        pools = sum(len(s.pools) for s in scenario.sites)
        if units * pools <= DIAGNOSE_MAX_PAIRS:
            return _with_step_values(plan, scenario, started + time_limit_s)
        return plan
    if plan.infeasibility is None and plan.status in ("infeasible", "no_solution"):
        if needs_restriction(scenario):  # the diagnosis compiles the whole table
            return plan
        problem, index = compile_problem(scenario)
        if not small(problem):
            return plan
        deadline = started + time_limit_s
        diagnosis = _diagnose(scenario, problem, (deadline - time.perf_counter()) / 2)
        inf = infeasibility_from(diagnosis, problem, index, scenario)
        plan = plan.model_copy(
            update={"infeasibility": prove_fixes(inf, scenario, _resolver(deadline))}
        )
    return plan


#: Capacity prices whose step (1 MW, one node, ...) `explain` re-solves, dearest first.
STEP_RESOLVES = 3


def _with_step_values(plan: Plan, scenario: Scenario, deadline: float) -> Plan:
    """`plan` with what a whole step of each of its STEP_RESOLVES dearest capacities is
    worth: the scenario re-solved with that capacity raised (`step_change`), each
    re-solve sharing the time left before `deadline` (at least MIN_DIAGNOSIS_S). The
    saving is measured against the plan's objective, so it is exact when both solves
    are optimal; a re-solve that ends without a plan leaves the step unmeasured."""
    prices = list(plan.capacity_prices)
    resolve = _resolver(deadline)
    steps = [(i, step_change(scenario, c)) for i, c in enumerate(prices)]
    todo = [(i, change) for i, change in steps if change is not None][:STEP_RESOLVES]
    for n, (i, (text, step)) in enumerate(todo):
        fixed = apply_changes(scenario, changes_of([text], scenario))
        _, objective = resolve(fixed, len(todo) - n - 1)
        if objective is None or plan.objective_usd_per_h is None:
            continue
        saving = max(0.0, plan.objective_usd_per_h - objective)
        prices[i] = prices[i].model_copy(
            update={"step_units": step, "step_saving_usd_per_h": saving}
        )
    return plan.model_copy(update={"capacity_prices": prices})


#: "auto" picks hybrid above this many feasible (unit, pool) pairs, milp below. Measured
#: (docs/engine.md): at 25k pairs the MILP reaches 0.16-0.37% in 30 s and hybrid 0.43%;
#: at 288k pairs hybrid proves 0.87% in 60 s while the MILP needs 102 s for 1.33%.
HYBRID_MIN_PAIRS = 100_000


#: Infeasibility fixes (the elastic MILPs of `placer.engines.milp.diagnose`) are sought
#: up to this many feasible (unit, option) pairs.
DIAGNOSE_MAX_PAIRS = 2_000_000
#: Share of the time limit the restricted layout gives column generation on a sample of
#: the workloads (`streamed_bound.sample_prices`), whose prices pick options and bound.
RESTRICTED_SAMPLE_SHARE = 0.1
#: On the restricted layout the hybrid takes the sparse path above this many pairs: on
#: gen-time-100000x1000x24-s1 (4.3M restricted pairs, 2 CPUs) column generation's first
#: master did not solve within the ~100 s left, and the sparse path's plan was 300,495
#: USD/h against greedy's 352,583 in 200 s.
RESTRICTED_SPARSE_PAIRS = 1_000_000
#: The hybrid's paths by `layout`.
HYBRID_PATHS = {
    "auto": SOLVERS["hybrid"],
    "dense": solve_hybrid_full,
    "sparse": solve_large_hybrid,
    "columns": solve_colgen_hybrid,
    "restricted": SOLVERS["hybrid"],  # on the restricted problem (`restricted_layout`)
}


#: Seeds run from 0 to SEED_LIMIT - 1 (a signed 32-bit seed, what every engine takes).
SEED_LIMIT = 2**31


def _is_number(value: object, kind: type = numbers.Real) -> bool:
    return isinstance(value, kind) and not isinstance(value, bool)


def check_solve_options(
    *, time_limit_s: float, seed: int, relative_gap: float, workers: int
) -> None:
    """Checks the numeric options of `solve` before any work starts.

    Raises:
      OptionError: naming the first option out of range and the range it must be in.
    """
    if not (_is_number(time_limit_s) and math.isfinite(time_limit_s) and time_limit_s > 0):
        raise OptionError(
            f"time_limit_s={time_limit_s!r}: the time limit must be a finite number of seconds > 0"
        )
    if not (_is_number(seed, numbers.Integral) and 0 <= seed < SEED_LIMIT):
        raise OptionError(f"seed={seed!r}: the seed must be a whole number, 0 <= seed < 2**31")
    if not (_is_number(relative_gap) and math.isfinite(relative_gap) and relative_gap >= 0):
        raise OptionError(f"relative_gap={relative_gap!r}: the gap must be a finite number >= 0")
    if not (_is_number(workers, numbers.Integral) and workers >= 1):
        raise OptionError(f"workers={workers!r}: workers must be a whole number >= 1")


def check_layout(layout: str) -> None:
    """Checks the `layout` option's value."""
    if layout not in HYBRID_PATHS:
        raise OptionError(
            f"unknown layout {layout!r}; choose auto, dense, sparse, columns or restricted"
        )


def restricted_layout(scenario: Scenario, layout: str) -> bool:
    """Compile a restricted problem (`placer.problem.compile_large`): asked for, or (auto)
    a timed fleet whose padded option table would not fit.

    Raises:
      OptionError: layout "restricted" for a scenario without a horizon.
    """
    if layout == "restricted":
        if scenario.horizon is None:
            raise OptionError(
                "layout restricted: only timed scenarios (with a horizon) restrict their "
                "options; choose auto, dense, sparse or columns"
            )
        return True
    return layout == "auto" and needs_restriction(scenario)


def small(problem: Problem) -> bool:
    """Whether the elastic MILPs that look for infeasibility fixes are tried."""
    return problem.num_pairs() <= DIAGNOSE_MAX_PAIRS


def choose_solver(solver: str, problem=None) -> str:
    """Resolves "auto" (by problem size when a Problem is given) and checks the name."""
    if solver == "auto":
        if problem is None or problem.num_pairs() <= HYBRID_MIN_PAIRS:
            return "milp"
        return "hybrid"
    if solver not in SOLVERS:
        raise OptionError(f"unknown solver {solver!r}; choose one of {sorted(SOLVERS)} or auto")
    return solver


def check_plan(scenario: Scenario, plan: Plan) -> None:
    """Raises SolverError if a plan with a solution breaks a hard constraint."""
    if plan.status not in ("optimal", "feasible"):
        return
    bad = [v for v in verify(scenario, plan)]
    if bad:
        lines = "\n".join(f"  {v}" for v in bad[:20])
        raise SolverError(
            f"solver {plan.solver} returned a plan that fails verification "
            f"(a bug; please report it):\n{lines}"
        )


__all__ = [
    "PlanScore",
    "Violation",
    "choose_solver",
    "load",
    "score",
    "solve",
    "verify",
    "versions",
]
