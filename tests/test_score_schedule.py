"""`placer.score` of plans whose runs pause or move (`placer.plan.score_schedule`)."""

from __future__ import annotations

import copy

import pytest

import placer
from placer.errors import OptionError
from placer.model.scenario import Scenario
from placer.plan.verify import verify
from tests import test_migration as migration
from tests import test_preempt as preempt

PRICES = [0.4, 3.0, 0.1, 2.0, 0.2, 0.3]


def two_runs(gpus: int = 16) -> dict:
    runs = [preempt.run("a", 2.0, 0.0), preempt.run("b", 2.0, 0.0)]
    return preempt.scenario(prices=PRICES, runs=runs, gpus=gpus)


def assert_states_its_score(sc: Scenario, plan) -> None:
    (got,) = placer.score(sc, [plan])
    assert got.violations == {}
    assert got.objective_usd_per_h == pytest.approx(plan.objective_usd_per_h, rel=1e-9)
    for name in ("cost_usd_per_h", "carbon_kg_per_h", "water_l_per_h"):
        assert getattr(got, name) == pytest.approx(getattr(plan.totals, name), rel=1e-9), name


@pytest.mark.parametrize("solver", ["milp", "hybrid"])
def test_a_paused_plan_scores_as_it_states(solver: str) -> None:
    sc = Scenario.model_validate(two_runs())
    plan = placer.solve(sc, solver=solver, time_limit_s=5.0)
    assert any(p.segments for p in plan.placements)
    assert_states_its_score(sc, plan)


def test_a_moved_plan_scores_as_it_states() -> None:
    """test_migration's run that moves across a price spike: its move's USD counted too."""
    sc = Scenario.model_validate(migration.scenario([migration.run("ft", 4, 10.0)]))
    plan = placer.solve(sc, solver="milp", time_limit_s=10.0)
    assert verify(sc, plan) == []
    (p,) = plan.placements
    assert p.moves == 1 and len({s.site for s in p.segments}) == 2
    assert_states_its_score(sc, plan)


def test_the_paused_periods_load_the_rows() -> None:
    """Scored against a pool of 8 GPUs, the two runs' shared periods are over by 8 each:
    what verify finds."""
    plan = placer.solve(Scenario.model_validate(two_runs()), solver="milp", time_limit_s=5.0)
    small = Scenario.model_validate(two_runs(gpus=8))
    over = [v for v in verify(small, plan) if v.kind == "gpus"]
    (got,) = placer.score(small, [plan])
    assert got.violations["gpus_over"] == pytest.approx(8.0 * len(over))


def test_a_segment_outside_the_window_is_named() -> None:
    data = two_runs()
    sc = Scenario.model_validate(data)
    plan = placer.solve(sc, solver="milp", time_limit_s=5.0)
    forged = copy.deepcopy(plan)
    seg = next(p for p in forged.placements if p.segments).segments[0]
    seg.start_period = len(PRICES) + 3
    with pytest.raises(OptionError, match="outside its window"):
        placer.score(sc, [forged])
