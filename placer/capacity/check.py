"""Checking a capacity plan's monthly placements with the independent verifier.

The plan's placements are re-read against `scenarios.built`: the monthly scenario with
the plan's capacity added month by month (GPUs, IT and grid kW as one value a month;
a cooling upgrade as bought, see `scenarios.built`). The scenario is validated again
(model_validate of its dump), compiled on its own, each placement mapped to its
(pool, first month, months) there, and the Plan handed to `placer.plan.verify.verify`,
which reads the Scenario, never the compiled Problem.
"""

from __future__ import annotations

import numpy as np

from placer.capacity import scenarios
from placer.capacity.solve import CapacityResult
from placer.engines.base import SolveResult
from placer.model.scenario import Scenario
from placer.plan.build import build_plan
from placer.plan.plan import Plan
from placer.plan.verify import verify
from placer.problem.compile_time import compile_timed


def built_plan(result: CapacityResult) -> tuple[Scenario, Plan, list[str]]:
    """(the built scenario, the plan's placements as a Plan of it, placements that have
    no option there: each a violation)."""
    cm = result.model
    assert cm is not None and result.assign_u is not None
    built = scenarios.built(cm.scenario, result.installed)
    built = Scenario.model_validate(built.model_dump(mode="json", exclude_none=True))
    problem, index = compile_timed(built)
    option_of = index.time.option_of()
    pool_of = {p.name: i for i, p in enumerate(index.pools)}
    unit_of = {u.name: i for i, u in enumerate(index.units)}
    t = cm.index.time
    assign = np.full(problem.num_units, -1, np.int32)
    missing = []
    for u, o in enumerate(result.assign_u.tolist()):
        if o < 0:
            continue
        name = cm.index.units[u].name
        pool = cm.index.pools[int(cm.problem.pool_o[o])].name
        key = (pool_of.get(pool, -1), int(t.start_o[o]), int(t.length_o[o]))
        target = option_of.get(key)
        if target is None or name not in unit_of or target not in problem.option_uk[unit_of[name]]:
            missing.append(f"{name}: {pool} from month {key[1]} is no option of the built scenario")
            continue
        assign[unit_of[name]] = target
    solved = SolveResult(assign, "feasible", objective_usd_per_h=0.0)
    plan = build_plan(
        built,
        problem,
        index,
        solved,
        solver="capacity",
        seed=0,
        time_limit_s=None,
        wall_s=0.0,
        versions={},
    )
    return built, plan, missing


def check_capacity_plan(result: CapacityResult) -> list[str]:
    """Violations of the plan's monthly placements against the built scenario ([]: none)."""
    built, plan, missing = built_plan(result)
    return missing + [str(v) for v in verify(built, plan)]
