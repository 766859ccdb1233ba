"""N-1 secure plans (`placer solve --secure`): every covered loss is absorbed, checked by
re-placing it with `placer replan` and verifying the result against the scenario."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from placer.analysis.replan import ReplanOptions, replan
from placer.analysis.replan_current import CurrentEntry
from placer.analysis.whatif_apply import build_variant
from placer.analysis.whatif_parse import parse_variant
from placer.api import load, solve
from placer.cli.main import cli
from placer.engines.base import SolveOptions
from placer.engines.milp.secure import secure_size, solve_secure, unprotectable
from placer.engines.milp.solve import solve_milp
from placer.errors import OptionError
from placer.model.yaml_text import read_document
from placer.plan.verify import verify
from placer.problem.compile import compile_problem

CONFIGS = ["configs/us_carbon_vs_price.yaml", "configs/eu_sovereign.yaml"]


def _entries(plan) -> list[CurrentEntry]:
    return [
        CurrentEntry(f"placements.{n}", p.workload, p.site, p.pool, p.region, p.copy_index)
        for n, p in enumerate(plan.placements)
    ]


@pytest.mark.parametrize(
    ("path", "solver"),
    [
        (CONFIGS[0], "milp"),
        (CONFIGS[1], "milp"),
        pytest.param(CONFIGS[0], "hybrid", marks=pytest.mark.slow),  # 6 s
    ],
)
def test_a_secure_plan_absorbs_each_covered_site_loss(path, solver):
    scenario = load(path)
    plan = solve(scenario, solver=solver, secure="n-1", time_limit_s=30)
    assert plan.bound_usd_per_h is not None and plan.bound_usd_per_h <= plan.objective_usd_per_h
    assert plan.status in ("optimal", "feasible") and plan.secure is not None
    assert plan.secure.covered, "some loss must be covered on these configs"
    assert verify(scenario, plan) == []
    doc, _ = read_document(path)
    # what a failure holds (module docstring of placer.engines.milp.secure): the budget
    # and carbon cap are not, and a unit that can run only at the lost site is shed
    objective = doc.setdefault("objective", {})
    objective.pop("budget_usd_per_h", None)
    objective.pop("carbon_cap_kg_per_h", None)
    pinned = {text.split(" (only at ")[0].split("/")[0] for text in plan.secure.unprotectable}
    for w in doc["workloads"]:
        if w["id"] in pinned:
            w["must_place"] = False
            w.setdefault("value_usd_per_h", 1e6)
    for site in plan.secure.covered:
        there = [p for p in plan.placements if p.site == site]
        event = parse_variant(f"sites.{site}=down")
        # only the units at the lost site move (or are shed): the rest stay
        report = replan(
            doc,
            _entries(plan),
            source=path,
            events=event,
            options=ReplanOptions(time_limit_s=30, fewest_moves=True, max_moves=len(there)),
        )
        after, _ = build_variant(doc, event, source=path, index=1)
        assert verify(after, report.plan) == [], site
        assert report.moves <= len(there), site
        unplaced_must = [u.unit for u in report.plan.unplaced if u.must_place]
        assert unplaced_must == [], (site, unplaced_must)
    # an uncovered loss (if any) is one no plan absorbs with the covered ones: a plan
    # that covers it too does not exist, which `not_covered` states
    assert set(plan.secure.covered).isdisjoint(plan.secure.not_covered)


def test_no_failure_is_the_plain_milp_and_a_pinned_unit_cannot_be_protected():
    scenario = load("configs/eu_sovereign.yaml")
    problem, index = compile_problem(scenario)
    options = SolveOptions(time_limit_s=30)
    plain = solve_milp(problem, options, prices=False)
    secure = solve_secure(problem, options, [])
    assert secure.objective_usd_per_h == pytest.approx(plain.objective_usd_per_h, rel=1e-4)
    failures = [np.array([s]) for s in range(len(index.sites))]
    assert secure_size(problem, failures) > 0
    pinned = {index.units[u].name for _, u in unprotectable(problem, failures)}
    assert "pretrain-eu-70b" in pinned  # pinned to fra-hall: no other site may run it


def test_a_secure_plan_costs_at_least_the_plain_one():
    scenario = load("configs/us_carbon_vs_price.yaml")
    plan = solve(scenario, solver="milp", secure="n-1-domains", time_limit_s=60)
    cover = plan.secure
    assert cover is not None and cover.mode == "n-1-domains"
    assert cover.price_usd_per_h is not None and cover.price_usd_per_h >= -1e-6 * abs(
        cover.plain_objective_usd_per_h
    )
    assert any("price of security" in d for d in plan.diagnostics)


def test_secure_needs_the_milp_or_the_hybrid():
    with pytest.raises(OptionError, match="MILP or the hybrid"):
        solve(load("configs/eu_sovereign.yaml"), solver="greedy", secure="n-1")
    result = CliRunner().invoke(
        cli, ["solve", "configs/eu_sovereign.yaml", "--secure", "n-1", "--solver", "greedy"]
    )
    assert result.exit_code == 2 and "MILP or the hybrid" in result.output
