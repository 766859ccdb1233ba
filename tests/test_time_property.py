"""Property: every plan of every solver on random timed scenarios passes the independent
verifier (tests/strategies.py `timed_scenarios`), and a scenario's plan states exactly
the figures the verifier recomputes (its only findings on a plan without a solution are
the must-place units it leaves out)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from placer import api
from placer.plan.verify import verify
from tests.strategies import timed_scenarios

SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "derandomize": True,
}


def _check(scenario, solver: str, limit_s: float) -> None:
    plan = api.solve(scenario, solver=solver, time_limit_s=limit_s)  # raises if it fails
    found = verify(scenario, plan)
    if plan.status in ("optimal", "feasible"):
        assert found == [], [str(v) for v in found]
    else:
        assert {v.kind for v in found} <= {"must_place"}, [str(v) for v in found]
    if plan.status == "optimal" and plan.horizon is not None:
        assert plan.gap is not None and plan.gap <= 1e-4 + 1e-9


@pytest.mark.parametrize("solver", ["milp", "greedy"])
@settings(max_examples=40, **SETTINGS)
@given(scenario=timed_scenarios())
def test_exact_and_greedy_plans_verify(solver: str, scenario) -> None:
    _check(scenario, solver, 10.0)


@pytest.mark.parametrize("solver", ["relax", "search", "hybrid"])
@settings(max_examples=6, **SETTINGS)
@given(scenario=timed_scenarios(max_sites=2, max_workloads=3))
def test_jax_engine_plans_verify(solver: str, scenario) -> None:
    _check(scenario, solver, 5.0)


@pytest.mark.slow
@pytest.mark.parametrize("solver", ["milp", "greedy", "relax", "search", "hybrid"])
@settings(max_examples=150, **SETTINGS)
@given(scenario=timed_scenarios())
def test_many_timed_plans_verify(solver: str, scenario) -> None:
    _check(scenario, solver, 5.0)
