"""placer: workload placement optimizer for AI infrastructure.

import placer
scenario = placer.load("configs/eu_sovereign.yaml")
plan = placer.solve(scenario)
assert placer.verify(scenario, plan) == []
[score] = placer.score(scenario, [plan])

The public names below are imported on first use (PEP 562), so that `import placer` (and
`placer --help`, `placer validate`, `placer schema`) does not import JAX or OR-Tools;
`from placer import solve` and `placer.solve` work as a plain import would.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from placer.errors import (
    InfeasibleError,
    OptionError,
    PlacerError,
    ScenarioError,
    SolverError,
)

if TYPE_CHECKING:  # what the lazy names are, for type checkers and readers
    from placer.api import PlanScore, explain, load, score, solve, versions
    from placer.model.scenario import Scenario
    from placer.plan.plan import Plan
    from placer.plan.verify import Violation, verify

#: Lazily imported public name -> the module that defines it.
_LAZY = {
    "PlanScore": "placer.api",
    "explain": "placer.api",
    "load": "placer.api",
    "score": "placer.api",
    "solve": "placer.api",
    "versions": "placer.api",
    "Scenario": "placer.model.scenario",
    "Plan": "placer.plan.plan",
    "Violation": "placer.plan.verify",
    "verify": "placer.plan.verify",
}


def __getattr__(name: str) -> Any:
    """Imports a public name on first use and keeps it in the module (PEP 562).

    A subpackage or module (`placer.api`, `placer.model`, ...) is imported on first
    access too, as the eager `import placer` of earlier versions made them attributes.
    """
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif not name.startswith("_"):
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
