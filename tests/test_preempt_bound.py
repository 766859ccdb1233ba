"""The Lagrangian bound with preemptible and migratable runs' schedules priced
(`placer.engines.relax.preempt_bound`): below the brute-force optimum at any prices, and
what the engines that place such runs contiguously now claim."""

from __future__ import annotations

import math

import numpy as np
import pytest

from placer.engines.relax.preempt_bound import fractional_cover, preempt_bound
from placer.engines.relax.rows import row_capacities
from placer.engines.relax.sampled import chunked_dual_bound
from placer.model.scenario import Scenario
from placer.plan.verify import verify
from placer.problem.compile import compile_problem
from tests import test_migration as migration
from tests import test_preempt as preempt


def preempt_problem(overhead: float):
    prices = [0.4, 3.0, 0.1, 2.0, 0.2, 0.3]
    runs = [
        preempt.run("a", 2.5, overhead, must_place=True),
        preempt.run("b", 2.0, overhead, must_place=False, value_usd_per_h=40.0, deadline_hours=5),
    ]
    return compile_problem(Scenario.model_validate(preempt.scenario(prices=prices, runs=runs)))[0]


def migration_scenario(preemptible: bool, move_h: float, usd: float) -> Scenario:
    """test_migration's brute-force scenario: a run on pools of two speeds (T4 at fra,
    L4 at muc), its dataset at fra, and a second, optional preemptible run."""
    fra, muc = [0.05, 2.0, 5.0, 0.5, 5.0], [5.0, 0.05, 5.0, 2.0, 0.05]
    first = migration.run("a", 2.5, usd, move_h, accelerators=["L4", "T4"], preemptible=preemptible)
    first["dataset"] = {"site": "fra", "size_gb": 200}
    second = migration.run("b", 1.0, None, must_place=False, value_usd_per_h=30.0, preemptible=True)
    data = migration.scenario([first, second], fra, muc)
    data["sites"][0]["pools"][0]["accelerator"] = "T4"
    return Scenario.model_validate(data)


def migration_problem(preemptible: bool, move_h: float, usd: float):
    return compile_problem(migration_scenario(preemptible, move_h, usd))[0]


def random_prices(problem, rng, scale: float) -> np.ndarray:
    y = rng.random(row_capacities(problem).size) * scale
    y[rng.random(y.size) < 0.5] = 0.0
    return y


@pytest.mark.parametrize("overhead", [0.0, 0.5])
def test_below_the_optimum_with_pauses_at_any_prices(overhead: float) -> None:
    problem = preempt_problem(overhead)
    best = preempt._brute_force(problem)
    rng = np.random.default_rng(int(overhead * 10))
    gains = 0
    for scale in (0.0, 0.05, 0.5, 5.0):
        for _ in range(5):
            y = random_prices(problem, rng, scale)
            bound = preempt_bound(problem, y)
            assert bound <= best + 1e-7
            contiguous = chunked_dual_bound(problem, y)[0]
            assert bound <= contiguous + 1e-9
            gains += bound < contiguous - 1e-9
    assert gains  # pausing makes some schedules cheaper than any contiguous option


@pytest.mark.parametrize(
    ("preemptible", "move_h", "usd"), [(False, 0.0, 3.0), (True, 0.25, 2.0), (True, 0.0, 20.0)]
)
def test_below_the_optimum_with_moves_at_any_prices(preemptible, move_h, usd) -> None:
    problem = migration_problem(preemptible, move_h, usd)
    best = migration._brute_force(problem)
    rng = np.random.default_rng(7)
    for scale in (0.0, 0.05, 0.5, 5.0):
        for _ in range(5):
            assert preempt_bound(problem, random_prices(problem, rng, scale)) <= best + 1e-7


def test_without_a_table_it_is_the_options_bound() -> None:
    problem = preempt_problem(0.0)._replace(preempt=None)
    y = random_prices(problem, np.random.default_rng(3), 0.5)
    assert preempt_bound(problem, y) == chunked_dual_bound(problem, y)[0]


@pytest.mark.parametrize(
    ("cost", "work", "want"),
    [
        ([3.0, 1.0, 2.0], [0.5, 0.5, 0.5], 1.0 + 2.0),
        ([3.0, 1.0, 2.0], [0.4, 0.4, 0.4], 1.0 + 2.0 + 3.0 * 0.5),
        ([-1.0, 4.0], [0.3, 1.0], -1.0 + 4.0 * 0.7),
        ([-1.0, -2.0, 5.0], [0.6, 0.6, 1.0], -3.0),
        ([1.0], [0.5], math.inf),
    ],
)
def test_fractional_cover(cost, work, want) -> None:
    assert fractional_cover(np.array(cost), np.array(work)) == pytest.approx(want)


@pytest.mark.parametrize("solver", ["relax", "hybrid"])
def test_engines_that_place_runs_contiguously_claim_the_preemptive_bound(solver) -> None:
    """The bound at the engine's prices with the schedules priced; then the polish lets
    the runs pause: here that reaches the exact optimum, which the bound proves."""
    prices = [0.4, 3.0, 0.1, 2.0, 0.2, 0.3]
    data = preempt.scenario(
        prices=prices, runs=[preempt.run("a", 2.0, 0.0), preempt.run("b", 2.0, 0.0)], gpus=16
    )
    sc, exact = preempt.solved(data, "milp")
    assert exact.status == "optimal" and any(p.segments for p in exact.placements)
    _, plan = preempt.solved(data, solver, 5.0)
    assert verify(sc, plan) == []
    assert plan.bound_usd_per_h is not None
    assert plan.bound_usd_per_h <= exact.objective_usd_per_h + 1e-6
    assert any("prices their schedules" in d for d in plan.diagnostics)
    assert any("preemption polish" in d for d in plan.diagnostics)
    assert any(p.segments for p in plan.placements)
    assert plan.objective_usd_per_h == pytest.approx(exact.objective_usd_per_h, rel=1e-9)
    assert plan.status == "optimal"  # the bound is tight here


def test_the_polish_holds_every_other_unit() -> None:
    """A run that may not pause keeps its option; the preemptible one is re-scheduled
    around it, and the objective only falls."""
    from placer.engines.base import SolveOptions
    from placer.engines.registry import SOLVERS
    from placer.engines.search.preempt_polish import polish_preempted

    prices = [0.4, 3.0, 0.1, 2.0, 0.2, 0.3]
    fixed = preempt.run("fixed", 2.0, None, preemptible=False)
    runs = [fixed, preempt.run("a", 2.0, 0.0)]
    sc = Scenario.model_validate(preempt.scenario(prices=prices, runs=runs, gpus=16))
    problem, index = compile_problem(sc)
    options = SolveOptions(time_limit_s=5.0)
    before = SOLVERS["relax"](problem, options)
    after = polish_preempted(problem, options, before, 5.0)
    held = [u for u, unit in enumerate(index.units) if unit.workload == "fixed"]
    assert after.assign_u[held].tolist() == before.assign_u[held].tolist()
    assert after.objective_usd_per_h < before.objective_usd_per_h - 0.1  # 5.87 -> 5.55 USD/h
    assert list(after.preempt_schedule) == [int(problem.preempt.unit_v[0])]


@pytest.mark.parametrize("solver", ["relax", "search", "hybrid"])
@pytest.mark.parametrize(("preemptible", "move_h", "usd"), [(False, 0.0, 3.0), (True, 0.0, 20.0)])
def test_polished_plans_with_moves_verify_and_stay_above_the_optimum(
    solver, preemptible, move_h, usd
) -> None:
    import placer

    sc = migration_scenario(preemptible, move_h, usd)
    best = migration._brute_force(compile_problem(sc)[0])
    plan = placer.solve(sc, solver=solver, time_limit_s=5.0)
    assert verify(sc, plan) == []
    assert plan.objective_usd_per_h >= best - 1e-7
    assert plan.bound_usd_per_h is None or plan.bound_usd_per_h <= best + 1e-7
