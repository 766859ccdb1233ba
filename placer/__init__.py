"""placer: workload placement optimizer for AI infrastructure.

import placer
scenario = placer.load("configs/eu_sovereign.yaml")
plan = placer.solve(scenario)
assert placer.verify(scenario, plan) == []
"""

from placer.api import explain, load, solve, versions
from placer.errors import (
    InfeasibleError,
    OptionError,
    PlacerError,
    ScenarioError,
    SolverError,
)
from placer.model.scenario import Scenario
from placer.plan import Plan
from placer.verify import Violation, verify

__all__ = [
    "InfeasibleError",
    "OptionError",
    "PlacerError",
    "Plan",
    "Scenario",
    "ScenarioError",
    "SolverError",
    "Violation",
    "explain",
    "load",
    "solve",
    "verify",
    "versions",
]
