"""Infeasibility fixes: minimal where they say so (brute force on tiny problems), enough
once rounded up, and proven by a re-solve before a plan shows them."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import placer
from placer.analysis.whatif import parse_variant, run_whatif
from placer.engines.milp.diagnose import diagnose
from placer.model.load import read_document
from placer.plan.fixes import addition_change, apply_changes
from placer.problem.compile import compile_problem
from placer.problem.rows import KIND_NAMES
from tests.problems import brute_force, random_problem

CONFIGS = sorted(Path(__file__).parent.parent.joinpath("configs").glob("*.yaml"))
CONFIGS_DIR = Path(__file__).parent.parent / "configs"


def _row(problem, scope: int, kind: str) -> int:
    kinds = np.array(KIND_NAMES)[problem.kind_r]
    return int(np.flatnonzero((problem.scope_r == scope) & (kinds == kind))[0])


def _with_additions(problem, additions):
    cap = problem.cap_r.copy()
    for scope, kind, amount in additions:
        cap[_row(problem, scope, kind)] += amount
    return problem._replace(cap_r=cap)


def _fewest_rows_brute_force(problem) -> int | None:
    """The fewest finite capacity rows whose removal (cap = inf) makes the problem feasible."""
    finite = np.flatnonzero(np.isfinite(problem.cap_r))
    for size in range(finite.size + 1):
        for rows in itertools.combinations(finite.tolist(), size):
            cap = problem.cap_r.copy()
            cap[list(rows)] = np.inf
            if brute_force(problem._replace(cap_r=cap))[0] is not None:
                return size
    return None


def _fewest_drops_brute_force(problem) -> int | None:
    must = np.flatnonzero(problem.must_place_u)
    for size in range(must.size + 1):
        for units in itertools.combinations(must.tolist(), size):
            keep = problem.must_place_u.copy()
            keep[list(units)] = False
            if brute_force(problem._replace(must_place_u=keep))[0] is not None:
                return size
    return None


def _infeasible_problems():
    out = []
    for seed in range(200):
        p = random_problem(np.random.default_rng(seed), 4, 3, 2)
        p = p._replace(must_place_u=np.ones(p.num_units, bool))  # every unit must go
        if p.listed_uk.any(axis=1).all() and brute_force(p)[0] is None:
            out.append((seed, p))
        if len(out) == 12:
            break
    return out


@pytest.mark.parametrize("seed,problem", _infeasible_problems(), ids=lambda x: str(x)[:6])
def test_fixes_are_minimal_and_enough_against_brute_force(seed, problem) -> None:
    diagnosis = diagnose(problem, time_limit_s=10)
    assert diagnosis.complete
    by_label = {f.label: f for f in diagnosis.fixes}
    fewest = by_label.get("fewest changes") or next(
        f for f in diagnosis.fixes if f.additions and f.label != "drop only"
    )
    # fewest changes: as few rows as brute force needs, and its additions are enough
    assert len({(s, k) for s, k, _ in fewest.additions}) == _fewest_rows_brute_force(problem)
    for fix in diagnosis.fixes:
        if fix.additions:
            assert brute_force(_with_additions(problem, fix.additions))[0] is not None
    # drop only: as few units as brute force drops
    drops = next(f for f in diagnosis.fixes if f.label == "drop only").drops
    assert len(drops) == _fewest_drops_brute_force(problem)
    keep = problem.must_place_u.copy()
    keep[drops] = False
    assert brute_force(problem._replace(must_place_u=keep))[0] is not None


def test_additions_are_rounded_up_to_what_a_person_can_add() -> None:
    scenario = placer.load(CONFIGS_DIR / "eu_sovereign.yaml")  # headroom 1.0
    head = 0.8
    scenario = scenario.model_copy(
        update={"objective": scenario.objective.model_copy(update={"max_utilization": head})}
    )
    _, index = compile_problem(scenario)
    site = index.sites[0]
    it = addition_change(scenario, index, 0, "it_kw", 22.3)
    # 22.3 kW after 80% headroom is 27.875 kW of nameplate: 28 kW, never 27 (rounded down)
    assert it.amount == 28 and it.set == f"sites.{site}.power.it_capacity_kw=+28"
    gpus = addition_change(scenario, index, 0, "gpus", 8.999999)
    pool = next(
        p for s in scenario.sites for p in s.pools if f"{s.id}/{p.key}" == index.pools[0].name
    )
    # 9 more usable GPUs: floor((g + a) x 0.8) >= floor(g x 0.8) + 9, a as small as can be
    a = gpus.amount
    assert int((pool.gpus + a) * head + 1e-9) >= int(pool.gpus * head + 1e-9) + 9
    assert int((pool.gpus + a - 1) * head + 1e-9) < int(pool.gpus * head + 1e-9) + 9
    budget = addition_change(scenario, index, -1, "budget_usd_per_h", 0.001)
    assert budget.amount == 0.01  # to the cent, up
    grown = apply_changes(scenario, [it, gpus])
    before = next(s for s in scenario.sites if s.id == site).power.it_capacity_kw
    after = next(s for s in grown.sites if s.id == site).power.it_capacity_kw
    assert after == before + 28


def _infeasible_config_docs():
    """Infeasible variants of the bundled configs (a cap cut that nothing can absorb)."""
    out = []
    for path in CONFIGS:
        doc, _ = read_document(path)
        for change in ("objective.carbon_cap_kg_per_h=1", "objective.budget_usd_per_h=1"):
            out.append((f"{path.stem}:{change}", doc, change))
    return out


@pytest.mark.parametrize("name,doc,change", _infeasible_config_docs(), ids=lambda x: str(x)[:40])
def test_every_printed_fix_applied_makes_the_scenario_feasible(name, doc, change) -> None:
    """Applies each proven fix exactly as printed (its `--set` strings, through whatif's
    own parser) and re-solves: feasible each time."""
    run = run_whatif(doc, [parse_variant(change)], solver="milp", time_limit_s=20)
    plan = run.plans[0]
    if plan.status != "infeasible":
        pytest.skip(f"{name}: the cut left a feasible scenario ({plan.status})")
    inf = plan.infeasibility
    assert inf is not None and inf.fixes
    proven = [f for f in inf.fixes if f.proven]
    assert proven, inf
    for fix in proven:
        again = run_whatif(doc, [parse_variant(";".join([change, *fix.set]))], solver="milp",
                           time_limit_s=20)  # fmt: skip
        assert again.plans[0].status in ("optimal", "feasible"), (fix.label, fix.set)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fixes_of_random_infeasible_scenarios_are_proven(data) -> None:
    from tests.strategies import scenarios

    scenario = data.draw(scenarios(max_sites=3, max_workloads=4))
    plan = placer.solve(scenario, solver="milp", time_limit_s=10)
    if plan.status != "infeasible" or plan.infeasibility is None:
        return
    for fix in plan.infeasibility.fixes:
        if not fix.proven:
            continue
        doc = scenario.model_dump(mode="json", exclude_none=True)
        again = run_whatif(doc, [parse_variant(";".join(fix.set))], solver="milp",
                           time_limit_s=10)  # fmt: skip
        assert again.plans[0].status in ("optimal", "feasible"), (fix.label, fix.set)


def test_explain_values_a_whole_step_by_a_re_solve_not_by_scaling_the_price() -> None:
    """eu_sovereign: fra-hall's IT kW is priced 6.49 USD/h for its first few kW; 1 MW
    more saves what whatif's own re-solve says (120.10 USD/h), not 1,000 x the price."""
    doc, _ = read_document(CONFIGS_DIR / "eu_sovereign.yaml")
    plan = placer.explain(placer.load(CONFIGS_DIR / "eu_sovereign.yaml"))
    price = next(c for c in plan.capacity_prices if c.site == "fra-hall" and c.unit == "kW")
    assert price.holds_for_units is not None and price.holds_for_units < 1000
    assert price.step_units == 1000
    more = run_whatif(
        doc, [parse_variant("sites.fra-hall.power.it_capacity_kw=+1000")], solver="milp",
        time_limit_s=20,
    )  # fmt: skip
    saving = plan.objective_usd_per_h - more.plans[0].objective_usd_per_h
    assert price.step_saving_usd_per_h == pytest.approx(saving, rel=1e-6, abs=1e-6)
    assert price.step_saving_usd_per_h < 0.1 * 1000 * price.usd_per_h_per_unit


def test_every_fix_explain_prints_applies_as_printed(tmp_path: Path) -> None:
    """The text of `placer explain`: each fix it prints comes with an apply line, and that
    line, run as printed through whatif, gives a feasible scenario."""
    import json
    import re

    from click.testing import CliRunner

    from placer.cli.main import cli

    doc, _ = read_document(
        CONFIGS_DIR / "edge_inference.yaml"
    )  # edge_inference, with a carbon cap it cannot meet
    doc["objective"]["carbon_cap_kg_per_h"] = 50
    path = tmp_path / "edge.json"
    path.write_text(json.dumps(doc))
    result = CliRunner().invoke(cli, ["explain", str(path)])
    assert result.exit_code == 3, result.output
    applied = re.findall(r"apply: placer whatif SCENARIO --set '([^']+)'", result.output)
    assert len(applied) == result.output.count("proven (re-solve") >= 2
    for text in applied:
        again = run_whatif(doc, [parse_variant(text)], solver="milp", time_limit_s=20)
        assert again.plans[0].status in ("optimal", "feasible"), text


def test_explain_leaves_step_values_out_on_fleets_too_large_for_re_solves(monkeypatch) -> None:
    from placer import api

    monkeypatch.setattr(api, "DIAGNOSE_MAX_PAIRS", 10)
    plan = placer.explain(placer.load(CONFIGS_DIR / "eu_sovereign.yaml"))
    assert plan.capacity_prices
    assert all(c.step_saving_usd_per_h is None for c in plan.capacity_prices)
    assert any(c.holds_for_units is not None for c in plan.capacity_prices)  # the LP's range
