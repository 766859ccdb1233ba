"""What every engine claims, checked against brute force on tiny problems, hinted and not:
a returned plan passes, its objective is what it says, its bound is at most the plan's
objective and at most the true optimum, and "optimal" only when bound and objective
agree. Also: search and relax are never worse than greedy on the bundled configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import placer
from placer.engines.base import SolveOptions
from placer.engines.registry import SOLVERS
from placer.problem.usage import objective_value, violations
from tests.problems import brute_force, random_problem

CONFIGS = sorted(Path(__file__).parent.parent.joinpath("configs").glob("*.yaml"))
CONFIGS_DIR = Path(__file__).parent.parent / "configs"
_REL = 1e-6


def _tol(x: float) -> float:
    return _REL * max(1.0, abs(x))


def _check_claims(problem, result, optimum: float | None, engine: str) -> None:
    if optimum is None:  # brute force: no feasible plan
        assert result.status in ("infeasible", "no_solution"), engine
        assert result.objective_usd_per_h is None or violations(problem, result.assign_u), engine
        return
    assert result.status != "infeasible", f"{engine} says infeasible; the optimum is {optimum}"
    if result.status in ("optimal", "feasible"):
        assert violations(problem, result.assign_u) == [], engine
        objective = objective_value(problem, result.assign_u)
        assert result.objective_usd_per_h == pytest.approx(objective, rel=1e-9, abs=1e-9)
        assert objective >= optimum - _tol(optimum), engine
        if result.bound_usd_per_h is not None:
            assert result.bound_usd_per_h <= objective + _tol(objective), engine
    if result.bound_usd_per_h is not None and result.bound_scope == "full":
        assert result.bound_usd_per_h <= optimum + _tol(optimum), engine
    if result.status == "optimal":
        assert result.objective_usd_per_h == pytest.approx(optimum, rel=1e-3, abs=1e-6), engine


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), hinted=st.booleans())
def test_every_engine_claims_only_what_brute_force_confirms(seed: int, hinted: bool) -> None:
    rng = np.random.default_rng(seed)
    problem = random_problem(rng, 4, 3, 2)
    optimum, best = brute_force(problem)
    hint = None
    if hinted:  # a feasible plan that is not the optimum where one exists, else any
        hint = best if best is not None else rng.integers(-1, problem.num_options, 4)
        hint = np.asarray(hint, np.int32)
    for engine, solve in SOLVERS.items():
        result = solve(problem, SolveOptions(time_limit_s=1.5, seed=seed, hint_u=hint))
        _check_claims(problem, result, optimum, f"{engine} (hint={hinted})")


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
@pytest.mark.parametrize("solver", ["search", "relax"])
def test_search_and_relax_never_worse_than_greedy(config: Path, solver: str) -> None:
    scenario = placer.load(config)
    greedy = placer.solve(scenario, solver="greedy")
    plan = placer.solve(scenario, solver=solver, time_limit_s=4)
    assert plan.status in ("optimal", "feasible"), plan.message
    if greedy.objective_usd_per_h is not None and greedy.status in ("optimal", "feasible"):
        assert plan.objective_usd_per_h <= greedy.objective_usd_per_h + 1e-6


@pytest.mark.parametrize("solver", ["greedy", "relax", "search", "hybrid"])
def test_a_lexicographic_scenario_is_never_optimal_but_by_the_milp(solver: str) -> None:
    scenario = placer.load(CONFIGS_DIR / "eu_sovereign.yaml")
    lexicographic = scenario.model_copy(
        update={"objective": scenario.objective.model_copy(update={"mode": "lexicographic"})}
    )
    plan = placer.solve(lexicographic, solver=solver, time_limit_s=3)
    assert plan.status != "optimal"
    assert any("lexicographic mode" in d for d in plan.diagnostics)
    assert placer.verify(lexicographic, plan) == [] or plan.status == "no_solution"
