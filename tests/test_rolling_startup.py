"""Rolling re-planning of services with start-up costs and of caps per period: each
window charges the start-ups of its first period against the fleet committed in the
period before (`running_replicas`), and carries the caps per period of its periods."""

from __future__ import annotations

import pytest

from placer.analysis.rolling import roll
from placer.analysis.rolling_window import window_scenario
from placer.model.scenario import Scenario
from placer.plan.verify import verify
from tests.test_startup_cost import CHEAP, DEAR, flip


def late_flip(startup: float = 1000.0, **objective) -> Scenario:
    """Six hours; fra-a is cheap in hours 0-3, fra-b in hours 4-5; by default a start-up
    costs far more than the tariffs save: the optimum stays on fra-a throughout."""
    data = flip(
        periods=6,
        startup=startup,
        prices=([CHEAP] * 4 + [DEAR] * 2, [DEAR] * 4 + [CHEAP] * 2),
    )
    if objective:
        data["objective"] = objective
    return Scenario.model_validate(data)


def test_a_window_pays_for_the_replicas_it_starts_in_its_first_period() -> None:
    """Re-planned every hour with perfect forecasts, the window at hour 4 sees only fra-b's
    cheap hours; it would move there if its first period's replicas were free. It stays,
    and the rolling schedule is the oracle's."""
    scenario = late_flip()
    report = roll(
        scenario,
        every_periods=1,
        forecast="perfect",
        price_moves_in_replan=False,
        baseline=False,
        time_limit_s=10,
    )
    assert report.plan is not None and verify(scenario, report.plan) == []
    sites = {p.site for p in report.plan.placements}
    assert sites == {"fra-a"}
    assert report.plan.startup[0].replicas_started == 0
    oracle = report.oracle
    assert oracle is not None and oracle.status == "optimal"
    assert report.rolling.objective_usd == pytest.approx(oracle.objective_usd, rel=1e-9)


def test_the_window_states_the_fleet_of_the_period_before() -> None:
    scenario = late_flip()
    first, _ = window_scenario(scenario, 0, 6, {}, "perfect", running={"chat": {"fra-b/L4": 2}})
    assert first.workloads[0].running_replicas is None  # t = 0: the scenario's own
    later, _ = window_scenario(scenario, 4, 6, {}, "perfect", running={"chat": {"fra-a/L4": 2}})
    assert later.workloads[0].running_replicas == {"fra-a/L4": 2}
    # a service not serving in the period before runs nothing there
    empty, _ = window_scenario(scenario, 4, 6, {}, "perfect", running={})
    assert empty.workloads[0].running_replicas == {}


def test_caps_per_period_are_sliced_to_the_window_and_hold() -> None:
    """Start-ups at 1.5 USD a replica: moving the 2 replicas to fra-b for its 2 cheap hours
    saves a little more than the 3 USD it starts, so the unconstrained optimum moves at
    hour 4. Hour 4's budget (3.2 USD/h) holds staying (3.155) but not moving (1.616 +
    3.0): the oracle stays, and so does the window at hour 4, which counts the start-ups
    of its first period against the fleet of hour 3. A window that took its first
    period's replicas as free would move and break the budget."""
    kwargs = dict(every_periods=1, forecast="perfect", price_moves_in_replan=False)
    free = roll(late_flip(startup=1.5), baseline=False, **kwargs)
    assert free.plan is not None and free.oracle is not None
    assert free.rolling.objective_usd == pytest.approx(free.oracle.objective_usd, rel=1e-9)
    assert {(p.period, p.site) for p in free.plan.placements if p.period == 4} == {(4, "fra-b")}
    budget = [1e6] * 4 + [3.2, 1e6]
    scenario = late_flip(startup=1.5, budget_usd_per_period_h=budget)
    window, _ = window_scenario(scenario, 2, 6, {}, "perfect")
    assert window.objective.budget_usd_per_period_h == budget[2:]
    report = roll(scenario, baseline=False, **kwargs)
    assert report.plan is not None and verify(scenario, report.plan) == []
    assert report.rolling.violations == []
    assert {p.site for p in report.plan.placements} == {"fra-a"}
    oracle = report.oracle
    assert oracle is not None and oracle.status == "optimal"
    assert report.rolling.objective_usd == pytest.approx(oracle.objective_usd, rel=1e-9)
