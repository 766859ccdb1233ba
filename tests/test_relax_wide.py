"""`relax` on wide problems (timed fleets) learns its prices on the per-option table
(`option_dual.ascend`) above ASCENT_PAIRS pairs, where its pair lists passed 18.8 GB on
gen-time-10000x100x72-s1. The limit is lowered here so that configs/time/us_week.yaml
(14,261 pairs) takes that path; the plan must verify, the bound must stay below the
MILP's proven optimum, and the sampling must centre on each unit's cheapest slot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import placer
from placer.engines.relax import solver as relax_solver
from placer.engines.relax.sampled import chunked_dual_bound
from placer.plan.verify import verify
from placer.problem.compile import compile_problem

US_WEEK = Path(__file__).resolve().parents[1] / "configs" / "time" / "us_week.yaml"


@pytest.fixture(scope="module")
def week():
    scenario = placer.load(US_WEEK)
    problem, _ = compile_problem(scenario)
    assert problem.wide_options() and problem.num_pairs() < relax_solver.ASCENT_PAIRS
    return scenario, problem


def test_the_path_is_taken_only_above_the_limit(week, monkeypatch) -> None:
    _, problem = week
    assert not relax_solver.uses_option_ascent(problem)
    monkeypatch.setattr(relax_solver, "ASCENT_PAIRS", 1000)
    assert relax_solver.uses_option_ascent(problem)


def test_the_wide_relaxation_prices_every_slot_and_centres_the_sampling(week) -> None:
    _, problem = week
    relaxed = relax_solver._wide_relaxation(problem, time_budget_s=4.0)
    bound, priced = chunked_dual_bound(problem, relaxed.prices_r)
    np.testing.assert_array_equal(relaxed.priced_uk1, priced)
    assert relaxed.bound >= bound - 1e-9
    primal = relaxed.primal_uk1
    assert primal is not None
    np.testing.assert_allclose(primal.sum(axis=1), 1.0)
    assert (primal[~np.isfinite(priced)] == 0).all()
    # the cheapest priced slot carries the most weight, for every unit
    cheapest = np.argmin(np.where(np.isfinite(priced), priced, np.inf), axis=1)
    rows = np.arange(priced.shape[0])
    assert (primal[rows, cheapest] >= primal.max(axis=1) - 1e-12).all()


@pytest.mark.slow  # about 18 s: an exact MILP and a relax solve of a week
def test_relax_on_the_wide_path_verifies_and_bounds_the_optimum(week, monkeypatch) -> None:
    scenario, _ = week
    exact = placer.solve(scenario, solver="milp", time_limit_s=60)
    assert exact.status == "optimal"
    monkeypatch.setattr(relax_solver, "ASCENT_PAIRS", 1000)
    plan = placer.solve(scenario, solver="relax", time_limit_s=8)
    assert plan.status in ("optimal", "feasible") and verify(scenario, plan) == []
    assert any("per-option relaxation" in d for d in plan.diagnostics)
    assert plan.bound_usd_per_h <= exact.objective_usd_per_h * (1 + 1e-9)
    assert plan.objective_usd_per_h >= exact.objective_usd_per_h * (1 - 1e-9)
