"""The Python API: load, solve, verify, score. The CLI is a thin layer over these.

Every error is a `placer.errors.PlacerError` (bad scenario or option: ScenarioError /
OptionError; a solver bug: SolverError). Solver outcomes — infeasible, no plan in
time — are never exceptions: they are the `status` of the returned Plan.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from importlib import metadata, resources
from pathlib import Path

from placer.engines.base import SolveOptions
from placer.engines.milp.diagnose import diagnose
from placer.engines.registry import SOLVERS
from placer.engines.search.hybrid import solve_hybrid_full
from placer.engines.search.large_hybrid import solve_large_hybrid
from placer.errors import OptionError, SolverError
from placer.model.load import load_scenario
from placer.model.scenario import Scenario
from placer.plan.build import build_plan
from placer.plan.plan import Plan
from placer.plan.scoring import PlanScore, assignment_of, score
from placer.plan.verify import Violation, verify
from placer.problem.compile import compile_problem
from placer.problem.form import Problem
from placer.progress import ProgressFn

DEFAULT_SCENARIO = "eu_sovereign.yaml"


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
) -> Plan:
    """Computes a placement plan, verified against the scenario before it is returned.

    Args:
      scenario: a validated Scenario.
      solver: a name from `SOLVERS`, or "auto".
      time_limit_s: wall-clock limit for the solver, s.
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
        large to relax whole: `solve_large_hybrid`), or "auto" (sparse above
        `LARGE_MIN_CELLS` units x options). Every other solver reads the one Problem
        whatever the layout.

    Returns:
      The Plan; solver outcomes (infeasible, no solution in time) are its status.

    Raises:
      SolverError: unknown solver or backend, or a plan that fails verification.
    """
    choose_solver(solver)  # a bad name fails before the compile
    check_layout(layout)
    started = time.perf_counter()
    problem, index = compile_problem(scenario)
    name = choose_solver(solver, problem)
    solve_fn = HYBRID_PATHS[layout] if name == "hybrid" else SOLVERS[name]
    hint_u = assignment_of(hint, index, strict=False) if hint is not None else None
    options = SolveOptions(
        time_limit_s=time_limit_s,
        seed=seed,
        relative_gap=relative_gap,
        workers=workers,
        hint_u=hint_u,
        backend=backend,
        progress=progress,
    )
    result = solve_fn(problem, options)
    if result.status == "infeasible" and result.diagnosis is None and small(problem):
        result = dataclasses.replace(
            result, diagnosis=diagnose(problem, time_limit_s=min(30.0, max(1.0, time_limit_s)))
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
    check_plan(scenario, plan)
    return plan


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
    plan = solve(scenario, solver="auto", time_limit_s=time_limit_s)
    if plan.infeasibility is None and plan.status in ("infeasible", "no_solution"):
        problem, index = compile_problem(scenario)
        if not small(problem):
            return plan
        from placer.plan.build import infeasibility_from

        plan = plan.model_copy(
            update={
                "infeasibility": infeasibility_from(
                    diagnose(problem, time_limit_s=time_limit_s), problem, index
                )
            }
        )
    return plan


#: "auto" picks hybrid above this many feasible (unit, pool) pairs, milp below. Measured
#: (docs/engine.md): at 25k pairs the MILP reaches 0.16-0.37% in 30 s and hybrid 0.43%;
#: at 288k pairs hybrid proves 0.87% in 60 s while the MILP needs 102 s for 1.33%.
HYBRID_MIN_PAIRS = 100_000


#: Infeasibility fixes (the elastic MILPs of `placer.engines.milp.diagnose`) are sought
#: up to this many feasible (unit, option) pairs.
DIAGNOSE_MAX_PAIRS = 2_000_000
#: The hybrid's paths by `layout`.
HYBRID_PATHS = {
    "auto": SOLVERS["hybrid"],
    "dense": solve_hybrid_full,
    "sparse": solve_large_hybrid,
}


def check_layout(layout: str) -> None:
    """Checks the `layout` option's value."""
    if layout not in HYBRID_PATHS:
        raise OptionError(f"unknown layout {layout!r}; choose auto, dense or sparse")


def small(problem: Problem) -> bool:
    """Whether the elastic MILPs that look for infeasibility fixes are tried."""
    return problem.num_pairs() <= DIAGNOSE_MAX_PAIRS


def choose_solver(solver: str, problem=None) -> str:
    """Resolves "auto" (by problem size when a Problem is given) and checks the name."""
    if solver == "auto":
        if problem is not None and problem.num_pairs() > HYBRID_MIN_PAIRS:
            return "hybrid"
        return "milp"
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
