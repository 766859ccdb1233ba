"""The cost-carbon sweep (placer/analysis/pareto.py) and `placer pareto`.

Small hand-made Problems are checked against brute force; the configs against separate
MILP solves of each endpoint and the independent verifier.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import placer
from placer.analysis.pareto import (
    bisection_order,
    carbon_grid,
    classify,
    implied_carbon_prices,
    pareto_front,
    sweep_carbon,
    with_carbon_cap,
    without_carbon_price,
)
from placer.cli.main import cli
from placer.engines.base import SolveOptions
from placer.engines.milp.solve import solve_milp
from placer.plan.plan import ParetoFront
from placer.plan.verify import Verifier
from placer.problem.compile import compile_problem
from placer.problem.rows import K_CARBON, Q_CARBON, global_row
from placer.problem.usage import compute_loads
from tests.problems import brute_force, make_problem, random_problem

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))
US = Path(__file__).parent.parent / "configs" / "us_carbon_vs_price.yaml"
REL = 1e-6  # the verifier's relative tolerance


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def carbon_problem(problem):
    """The same Problem minimising carbon (kg/h) instead of its objective."""
    return problem._replace(
        objective_usd_per_h_uk=problem.amount_quk[Q_CARBON],
        unplaced_usd_per_h_u=np.zeros(problem.num_units),
    )


# ---- helpers -----------------------------------------------------------------------------


def test_bisection_order_visits_every_point_once_ends_first() -> None:
    for n in (2, 3, 7, 20):
        order = bisection_order(n)
        assert sorted(order) == list(range(n))
        assert order[:2] == [0, n - 1]


def test_carbon_grid_ends_exactly() -> None:
    eps = carbon_grid(0.1, 0.7, 7)
    assert eps[0] == 0.1 and eps[-1] == 0.7 and np.all(np.diff(eps) > 0)


def test_classify_and_implied_prices() -> None:
    objective = np.array([10.0, 12.0, 12.0, 11.0, 15.0])
    carbon = np.array([5.0, 3.0, 3.0, 5.0, 3.0])
    labels = classify(objective, carbon)
    assert labels == [
        ("kept", -1),
        ("kept", -1),
        ("duplicate", 1),
        ("dominated", 0),
        ("dominated", 1),
    ]
    # 2 USD/h more for 2 kg/h less: 1 USD/kg = 1000 USD/t.
    assert implied_carbon_prices(np.array([10.0, 12.0]), np.array([5.0, 3.0])) == [None, 1000.0]


# ---- Problem level: brute force ----------------------------------------------------------


def _tiny_fronts():
    """Seeded random 4-unit problems with a real trade-off (C_lo < C_hi)."""
    rng = np.random.default_rng(7)
    found = 0
    while found < 3:
        problem = random_problem(rng, 4, 3, 2)
        problem = with_carbon_cap(problem, np.inf)
        best, _ = brute_force(problem)
        if best is None:
            continue
        sweep = sweep_carbon(problem, 5, relative_gap=1e-9)
        if len(sweep.points) < 2:
            continue
        found += 1
        yield problem, sweep


def test_sweep_matches_brute_force_on_tiny_problems() -> None:
    for problem, sweep in _tiny_fronts():
        assert sweep.status == "optimal"
        f1_min, _ = brute_force(problem)
        c_min, _ = brute_force(carbon_problem(problem))
        assert sweep.points[-1].objective_usd_per_h == pytest.approx(f1_min, rel=1e-9, abs=1e-9)
        assert sweep.carbon_min_kg_per_h == pytest.approx(c_min, rel=1e-9, abs=1e-9)
        for point in sweep.points[:-1]:
            eps = point.carbon_cap_kg_per_h
            best, _ = brute_force(with_carbon_cap(problem, eps))
            assert point.objective_usd_per_h == pytest.approx(best, rel=1e-7, abs=1e-7), eps
            assert point.carbon_kg_per_h <= eps * (1 + REL) + REL
            loads = compute_loads(problem, point.assign_u)
            assert loads.objective_usd_per_h == pytest.approx(point.objective_usd_per_h)


def test_dropping_work_to_save_carbon_costs_its_value() -> None:
    # One optional unit (value 5): placed in p0 it emits 10 kg/h, in p1 4 kg/h at cost 3.
    problem = make_problem(
        cost_up=[[1.0, 3.0]],
        carbon_kg_per_h_up=[[10.0, 4.0]],
        must_place_u=[False],
        value_u=[5.0],
    )
    sweep = sweep_carbon(problem, 3)
    assert [p.carbon_cap_kg_per_h for p in sweep.points] == [0.0, 5.0, 10.0]
    assert [p.assign_u.tolist() for p in sweep.points] == [[-1], [1], [0]]
    assert [p.objective_usd_per_h for p in sweep.points] == pytest.approx([5.0, 3.0, 1.0])


def test_no_trade_off_gives_one_point() -> None:
    sweep = sweep_carbon(make_problem(cost_up=[[1.0, 2.0]]), 10)
    assert len(sweep.points) == 1 and sweep.status == "optimal"


def test_lexicographic_keeps_the_placed_value_at_every_point() -> None:
    # One GPU slot in p0 and one in p1; unit 0 (value 10) and unit 1 (value 3) are optional.
    kw = dict(
        cost_up=[[9.0, 9.5], [0.0, 0.5]],
        carbon_kg_per_h_up=[[8.0, 2.0], [1.0, 1.0]],
        gpu_cap_p=[1.0, 1.0],
        must_place_u=[False, False],
        value_u=[10.0, 3.0],
        lexicographic=True,
    )
    sweep = sweep_carbon(make_problem(**kw), 4)
    assert sweep.points and sweep.carbon_min_kg_per_h == pytest.approx(3.0)
    for point in sweep.points:
        assert (point.assign_u >= 0).all()  # both placed: value 13 is the maximum
    weighted = sweep_carbon(make_problem(**{**kw, "lexicographic": False}), 4)
    assert (weighted.points[0].assign_u < 0).all()  # least carbon: drop both


def test_a_problem_without_a_carbon_row_keeps_its_other_caps() -> None:
    # Two units, p0 (1 USD/h, 10 kg/h) or p1 (3 USD/h, 4 kg/h), a 5 USD/h budget: both
    # in p1 (6 USD/h) is over it. Without a carbon-cap row, lifting "the carbon cap" must
    # not lift the budget (row -1 is the last row).
    problem = make_problem(
        cost_up=[[1.0, 3.0], [1.0, 3.0]],
        carbon_kg_per_h_up=[[10.0, 4.0], [10.0, 4.0]],
        budget_usd_per_h=5.0,
    )
    row = global_row(problem.kind_r, K_CARBON)
    keep = np.arange(problem.num_rows) != row
    problem = problem._replace(
        cap_r=problem.cap_r[keep],
        kind_r=problem.kind_r[keep],
        scope_r=problem.scope_r[keep],
        row_oj=np.where(problem.row_oj == row, -1, problem.row_oj).astype(np.int32),
    )
    assert with_carbon_cap(problem, np.inf) is problem
    with pytest.raises(ValueError, match="no carbon-cap row"):
        with_carbon_cap(problem, 1.0)
    sweep = sweep_carbon(problem, 3)  # caps 14, 17, 20 kg/h: one unit in p1 at most
    assert [sorted(p.assign_u.tolist()) for p in sweep.points] == [[0, 1], [0, 1], [0, 0]]
    assert [p.objective_usd_per_h for p in sweep.points] == pytest.approx([4.0, 4.0, 2.0])
    assert sweep.carbon_min_kg_per_h == pytest.approx(14.0)
    for point in sweep.points:
        assert compute_loads(problem, point.assign_u).loads_r[-1] <= 5.0


def test_infeasible_problem_has_no_front() -> None:
    sweep = sweep_carbon(make_problem(cost_up=[[1.0], [1.0]], gpu_cap_p=[1.0]), 5)
    assert sweep.status == "infeasible" and sweep.points == ()


def test_bad_options_raise() -> None:
    problem = make_problem(cost_up=[[1.0]])
    with pytest.raises(placer.errors.OptionError):
        sweep_carbon(problem, 1)
    with pytest.raises(placer.errors.OptionError):
        sweep_carbon(problem, 5, backend="nope")


# ---- configs: endpoints, monotonicity, verification --------------------------------------


@pytest.fixture(scope="module")
def us_front() -> tuple[placer.Scenario, ParetoFront]:
    scenario = placer.load(US)
    return scenario, pareto_front(scenario, 6, keep_plans=True)


def test_front_is_sorted_and_non_dominated(us_front) -> None:
    _, front = us_front
    assert front.status == "optimal" and len(front.points) >= 2
    objective = [p.objective_usd_per_h for p in front.points]
    carbon = [p.carbon_kg_per_h for p in front.points]
    assert objective == sorted(objective)
    assert all(b < a for a, b in itertools.pairwise(carbon))
    for i in range(len(objective)):
        for j in range(len(objective)):
            if i != j:
                assert not (objective[j] <= objective[i] and carbon[j] <= carbon[i])
    assert front.points[0].implied_carbon_price_usd_per_t is None
    assert all(p.implied_carbon_price_usd_per_t > 0 for p in front.points[1:])


def test_every_point_meets_its_cap_and_cost_falls_as_the_cap_grows(us_front) -> None:
    _, front = us_front
    swept = sorted(front.points + front.dropped, key=lambda p: p.carbon_cap_kg_per_h)
    assert len(swept) == front.grid_points == 6
    for point in swept:
        assert point.carbon_kg_per_h <= point.carbon_cap_kg_per_h * (1 + REL) + REL
        assert point.gap is not None and point.gap <= 1e-4 + 1e-9
    gap = front.relative_gap
    for tight, loose in itertools.pairwise(swept):
        assert loose.objective_usd_per_h <= tight.objective_usd_per_h * (1 + gap) + 1e-9


def test_endpoints_equal_separate_milp_solves(us_front) -> None:
    scenario, front = us_front
    cheapest = placer.solve(without_carbon_price(scenario), solver="milp")
    assert front.points[0].objective_usd_per_h == pytest.approx(
        cheapest.objective_usd_per_h, rel=2e-4
    )
    problem, _ = compile_problem(without_carbon_price(scenario))
    least = solve_milp(carbon_problem(problem), SolveOptions(relative_gap=1e-6), prices=False)
    assert front.carbon_min_kg_per_h == pytest.approx(least.objective_usd_per_h, rel=2e-4)
    assert front.points[-1].carbon_kg_per_h == pytest.approx(front.carbon_min_kg_per_h)
    assert front.carbon_max_kg_per_h == pytest.approx(front.points[0].carbon_kg_per_h)


def test_every_point_verifies(us_front) -> None:
    scenario, front = us_front
    verifier = Verifier(scenario)
    for point in front.points + front.dropped:
        assert point.plan is not None
        violations, kpis = verifier.check(point.plan)
        assert violations == []
        assert kpis.carbon_kg_per_h <= point.carbon_cap_kg_per_h * (1 + REL) + REL
        assert kpis.cost_usd_per_h == pytest.approx(point.cost_usd_per_h, rel=REL)


# ---- the command -------------------------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_cli_json_validates_as_a_front(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "front.json"
    result = run("pareto", str(config), "-n", "3", "--format", "json", "-o", str(out))
    assert result.exit_code == 0, result.output
    printed = ParetoFront.model_validate(json.loads(result.stdout))
    written = ParetoFront.model_validate(json.loads(out.read_text()))
    assert printed.points and written.points == printed.points
    assert printed.grid_points == 3 and printed.status == "optimal"
    assert len(printed.points) + len(printed.dropped) == 3


def test_cli_table_with_compare() -> None:
    result = run("pareto", str(US), "-n", "2", "--compare")
    assert result.exit_code == 0, result.output
    assert "objective-carbon front" in result.stdout and "USD/t" in result.stdout
    assert "one plain solve" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["-n", "1"],
        ["-n", "x"],
        ["--gap", "-1"],
        ["--time-limit-s", "0"],
        ["--format", "csv"],
        ["--backend", "nope"],
    ],
)
def test_cli_bad_options_exit_2(args: list[str]) -> None:
    result = run("pareto", str(US), *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "internal error" not in result.output


def test_cli_missing_file_and_infeasible(write_yaml, minimal_scenario_dict) -> None:
    assert run("pareto", "no/such/file.yaml").exit_code == 2
    minimal_scenario_dict["workloads"][0]["min_gpu_memory_gb"] = 1000  # no GPU is that big
    result = run("pareto", str(write_yaml(minimal_scenario_dict)))
    assert result.exit_code == 3
    assert "infeasible" in result.stdout
