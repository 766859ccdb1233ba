"""verify: an independent check of a Plan against the Scenario itself.

Static scenarios are checked by `placer.plan.verify_static.Verifier`, timed ones (with a
horizon) by `placer.plan.verify_time.TimedVerifier`; both read the pydantic Scenario and
never the compiled Problem, so a bug in compile cannot hide. Their docstrings state the
rules and the tolerances.
"""

from __future__ import annotations

from placer.model.scenario import Scenario
from placer.plan.plan import Plan
from placer.plan.verify_static import Kpis, Verifier, Violation
from placer.plan.verify_time import TimedVerifier

__all__ = ["Kpis", "TimedVerifier", "Verifier", "Violation", "recompute_kpis", "verify"]


def verifier_for(scenario: Scenario) -> Verifier:
    """The verifier that reads this scenario: timed when it has a horizon."""
    return TimedVerifier(scenario) if scenario.horizon is not None else Verifier(scenario)


def verify(scenario: Scenario, plan: Plan) -> list[Violation]:
    """Every violated hard constraint of the plan, and every figure it misstates."""
    return verifier_for(scenario).check(plan)[0]


def recompute_kpis(scenario: Scenario, plan: Plan) -> Kpis:
    """The plan's KPIs recomputed from the scenario alone."""
    return verifier_for(scenario).check(plan)[1]
