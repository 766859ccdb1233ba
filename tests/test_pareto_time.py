"""`placer pareto` on timed scenarios: the sweep's MILP is the `milp` solver's model,
with its preemption and migration rows (a point's plan may pause or move a run) and its
whole objective (replica start-ups, priced excess) as f1.

One 8-GPU pool; a 2 h run over 4 hourly periods, cheap power in the middle periods and
clean power at the ends. Contiguous, the least carbon is a pair of adjacent periods;
paused, periods 0 and 3. Checked against brute force over every contiguous option and
every schedule (`tests.test_migration._schedules`).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from placer.analysis.pareto import pareto_front
from placer.model.scenario import Scenario
from placer.plan.verify import verify
from placer.problem.compile import compile_problem
from placer.problem.rows import Q_CARBON
from placer.problem.usage import compute_loads
from tests import strategies
from tests import test_migration as migration
from tests import test_preempt as preempt

PRICES = [0.30, 0.05, 0.05, 0.30]  # USD/kWh
CARBON = [100.0, 800.0, 800.0, 100.0]  # g/kWh


def _scenario(preemptible: bool) -> Scenario:
    data = preempt.scenario(prices=PRICES, runs=[preempt.run("ft", 2, 0.0)])
    data["sites"][0]["power"]["carbon_g_per_kwh"] = CARBON
    if not preemptible:
        data["workloads"][0]["preemptible"] = False
        data["workloads"][0].pop("restore_overhead_h")
    return Scenario.model_validate(data)


def _least_carbon_by_brute_force(sc: Scenario) -> float:
    problem, _ = compile_problem(sc)
    empty = np.full(problem.num_units, -1, np.int32)
    carbon = [
        compute_loads(problem, np.array([o], np.int32)).total_q[Q_CARBON]
        for o in problem.options_of(0)[0].tolist()
    ]
    if problem.preempt is not None:
        carbon += [
            compute_loads(problem, empty, {0: s}).total_q[Q_CARBON]
            for s in migration._schedules(problem, 0)
        ]
    return float(min(carbon))


@pytest.mark.parametrize("preemptible", [True, False])
def test_the_least_carbon_point_pauses_the_run_where_it_may(preemptible: bool) -> None:
    sc = _scenario(preemptible)
    front = pareto_front(sc, n_points=3, time_limit_s=30, keep_plans=True)
    assert front.status == "optimal"
    least = min(front.points, key=lambda p: p.carbon_kg_per_h)
    assert least.carbon_kg_per_h == pytest.approx(_least_carbon_by_brute_force(sc), rel=1e-6)
    (placement,) = least.plan.placements
    if preemptible:  # periods 0 and 3: the clean ends
        assert [(s.start_period, s.periods) for s in placement.segments] == [(0, 1), (3, 1)]
    else:
        assert placement.segments is None
    for point in front.points:
        assert verify(sc, point.plan) == []
        assert point.unplaced_units == 0


def test_pausing_lowers_the_front_s_least_carbon() -> None:
    paused, contiguous = (
        pareto_front(_scenario(p), n_points=3, time_limit_s=30) for p in (True, False)
    )
    assert paused.carbon_min_kg_per_h < 0.5 * contiguous.carbon_min_kg_per_h


def test_a_moved_run_on_the_front_verifies() -> None:
    """fra is cheap first and muc later (test_migration): the cheapest plan moves."""
    data = migration.scenario([migration.run("ft", 4, 10.0)])
    data["sites"][1]["power"]["carbon_g_per_kwh"] = 900
    sc = Scenario.model_validate(data)
    front = pareto_front(sc, n_points=3, time_limit_s=30, keep_plans=True)
    cheapest = min(front.points, key=lambda p: p.objective_usd_per_h)
    assert cheapest.plan.placements[0].segments is not None
    assert {s.site for s in cheapest.plan.placements[0].segments} == {"fra", "muc"}
    for point in front.points:
        assert verify(sc, point.plan) == []


def test_the_cheapest_point_pays_the_start_ups_as_the_milp_does() -> None:
    """Tariffs flip every hour between two sites and a replica costs 1000 USD to start:
    the cheapest plan stays on one pool (the sweep minimised f1 without the start-ups
    before, and its cheapest point moved every hour)."""
    import placer
    from tests import test_startup_cost as startup

    sc = Scenario.model_validate(startup.flip(startup=1000.0))
    sc = sc.model_copy(
        update={"objective": sc.objective.model_copy(update={"carbon_price_usd_per_t": 0.0})}
    )
    milp = placer.solve(sc, solver="milp", time_limit_s=20)
    front = pareto_front(sc, n_points=2, time_limit_s=30, keep_plans=True)
    cheapest = min(front.points, key=lambda p: p.objective_usd_per_h)
    assert cheapest.objective_usd_per_h == pytest.approx(milp.objective_usd_per_h, rel=1e-6)
    assert len({p.site for p in cheapest.plan.placements}) == 1


def test_caps_per_period_with_a_run_that_moves_keep_it_in_one_pool() -> None:
    """The caps' rows do not hold a move's spend yet (`placer solve` refuses the pair):
    the sweep places such runs contiguously, and every point verifies."""
    data = migration.scenario([migration.run("ft", 4, 10.0)])
    data["objective"] = {"budget_usd_per_period_h": 1000.0}
    sc = Scenario.model_validate(data)
    front = pareto_front(sc, n_points=3, time_limit_s=30, keep_plans=True)
    for point in front.points:
        assert verify(sc, point.plan) == []
        assert point.plan.placements[0].segments is None


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=strategies.timed_scenario_dicts(max_sites=2, max_workloads=3), draw=st.data())
def test_every_point_of_random_timed_fronts_verifies(data, draw) -> None:
    """Runs that may pause (and some move) on random timed scenarios: `pareto_front`
    verifies each point's plan itself (a SolverError otherwise) and its carbon against
    the cap; here also its figures against `usage` with the point's schedule."""
    strategies.every_run_may_pause(data, draw)
    sc = Scenario.model_validate(data)
    front = pareto_front(sc, n_points=3, time_limit_s=20, keep_plans=True)
    for point in front.points:
        assert verify(sc, point.plan) == []
        assert point.plan.totals.carbon_kg_per_h == pytest.approx(
            point.carbon_kg_per_h, rel=1e-6, abs=1e-6
        )


def test_the_scenario_s_objective_is_the_compile_s_on_timed_problems() -> None:
    """`with_priced_objective` adds the carbon price back to the sweep's compile: every
    pair's and every run period's objective as compiling the scenario gives them (with a
    water price too: recomputing from the amounts priced a run's water at its rate)."""
    from placer.analysis.pareto import with_priced_objective, without_carbon_price

    data = preempt.scenario(prices=PRICES, runs=[preempt.run("ft", 2, 0.0)])
    data["sites"][0]["power"]["carbon_g_per_kwh"] = CARBON
    data["sites"][0]["cooling"]["wue_l_per_kwh"] = 1.5
    data["objective"] = {"carbon_price_usd_per_t": 90.0, "water_price_usd_per_m3": 3.0}
    sc = Scenario.model_validate(data)
    want, _ = compile_problem(sc)
    got = with_priced_objective(sc, compile_problem(without_carbon_price(sc))[0])
    np.testing.assert_allclose(got.objective_usd_per_h_uk, want.objective_usd_per_h_uk, rtol=1e-12)
    np.testing.assert_allclose(
        got.preempt.objective_usd_per_h_e, want.preempt.objective_usd_per_h_e, rtol=1e-12
    )
    front = pareto_front(sc, n_points=3, time_limit_s=30, keep_plans=True)
    for point in front.points:
        assert verify(sc, point.plan) == []


@pytest.mark.parametrize("cap", [500.0, 800.0])
def test_hybrid_sweep_points_keep_the_caps_per_period(monkeypatch, cap: float) -> None:
    """Above MILP_MAX_PAIRS each point is a hybrid solve, called without the API's
    fallback for caps per period: on small_day with a budget per period every point of
    the front still verifies (the threshold lowered to 0 here)."""
    import placer
    from placer.analysis import pareto

    monkeypatch.setattr(pareto, "MILP_MAX_PAIRS", 0)
    sc = placer.load("configs/time/small_day.yaml")
    objective = sc.objective.model_copy(update={"budget_usd_per_period_h": cap})
    sc = Scenario.model_validate(sc.model_copy(update={"objective": objective}).model_dump())
    front = pareto_front(sc, n_points=2, time_limit_s=30, keep_plans=True)
    assert front.solver == "hybrid" and front.points
    for point in front.points:
        assert verify(sc, point.plan) == []


def test_hybrid_sweep_points_let_runs_pause_and_claim_no_contiguous_bound(monkeypatch) -> None:
    """Above MILP_MAX_PAIRS each point is a hybrid solve, which places runs
    contiguously. Before, its bound was of that problem: the cheapest point claimed
    'optimal' at 5.8667 USD/h, above the optimum with pauses (5.2267). Now each point is
    polished with pauses and claims the bound that holds with them."""
    from placer.analysis import pareto

    prices = [0.4, 3.0, 0.1, 2.0, 0.2, 0.3]
    runs = [preempt.run("a", 2.0, 0.0), preempt.run("b", 2.0, 0.0)]
    data = preempt.scenario(prices=prices, runs=runs, gpus=16)
    data["sites"][0]["power"]["carbon_g_per_kwh"] = [100, 800, 900, 50, 700, 600]
    sc = Scenario.model_validate(data)
    exact = pareto_front(sc, n_points=3, time_limit_s=20)
    monkeypatch.setattr(pareto, "MILP_MAX_PAIRS", 0)
    front = pareto_front(sc, n_points=3, time_limit_s=20, keep_plans=True)
    assert front.solver == "hybrid"
    cheapest = min(front.points, key=lambda p: p.objective_usd_per_h)
    least = min(p.objective_usd_per_h for p in exact.points)
    assert cheapest.objective_usd_per_h == pytest.approx(least)  # 5.2267: it pauses
    assert cheapest.plan is not None and any(p.segments for p in cheapest.plan.placements)
    assert min(p.carbon_kg_per_h for p in front.points) == pytest.approx(
        min(p.carbon_kg_per_h for p in exact.points)
    )
    assert cheapest.bound_usd_per_h is None or cheapest.bound_usd_per_h <= least + 1e-6
    for point in front.points:
        assert verify(sc, point.plan) == []
