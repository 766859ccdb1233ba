"""placer: workload placement optimizer for AI infrastructure.

import placer
scenario = placer.load("configs/eu_sovereign.yaml")
plan = placer.solve(scenario)
assert placer.verify(scenario, plan) == []
[score] = placer.score(scenario, [plan])
"""

from placer.api import PlanScore, explain, load, score, solve, versions
from placer.errors import (
    InfeasibleError,
    OptionError,
    PlacerError,
    ScenarioError,
    SolverError,
)
from placer.model.scenario import Scenario
from placer.plan.plan import Plan
from placer.plan.verify import Violation, verify

__all__ = [
    "InfeasibleError",
    "OptionError",
    "PlacerError",
    "Plan",
    "PlanScore",
    "Scenario",
    "ScenarioError",
    "SolverError",
    "Violation",
    "explain",
    "load",
    "score",
    "solve",
    "verify",
    "versions",
]
