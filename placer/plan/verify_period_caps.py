"""verify_period_caps: budgets and carbon caps per period of a timed plan, recomputed from
the Scenario and the placements alone (docs/time.md), never from the compiled Problem.

What the plan spends in period t: each placement's GPU-hours and energy run in t (the
hours it runs in t, at t's tariff; a preempted run's whole periods), a training run's
dataset egress in the first period of its window (its earliest start rounded up to a
period boundary, 0 without one; a run that migrates pays it once per site it runs at),
each move between pools (`migration_usd`) in the period it moves in, the replicas its
services start in t (t >= 1) and the USD paid over priced grid events' caps in t; what
it emits: the energy run in t at t's intensity. Divided by the period's hours they are held against
`objective.budget_usd_per_period_h` (kind "period_budget") and
`objective.carbon_cap_kg_per_period_h` ("period_carbon") with verify's tolerance, and
compared with the plan's `horizon` figures per period (kind "kpi").
"""

from __future__ import annotations

import math

from placer.model.horizon import per_period
from placer.model.scenario import Scenario
from placer.plan.plan import Plan
from placer.plan.verify_figures import Violation, compare

#: Relative tolerance of a cap (verify's).
_REL = 1e-6


class PeriodCapCheck:
    """Spend and emissions per period, added as the verifier goes."""

    def __init__(self, scenario: Scenario) -> None:
        horizon = scenario.horizon
        assert horizon is not None
        self.n_t, self.ph = horizon.periods, float(horizon.period_hours)
        obj = scenario.objective
        self.active = (
            obj.budget_usd_per_period_h is not None or obj.carbon_cap_kg_per_period_h is not None
        )
        self.budget = per_period(obj.budget_usd_per_period_h, self.n_t, math.inf)
        self.carbon = per_period(obj.carbon_cap_kg_per_period_h, self.n_t, math.inf)
        self.usd = [0.0] * self.n_t
        self.kg = [0.0] * self.n_t

    def add(self, t: int, usd: float, kg: float = 0.0) -> None:
        """USD spent and kg emitted in period t (outside the horizon: ignored, reported
        elsewhere)."""
        if 0 <= t < self.n_t:
            self.usd[t] += usd
            self.kg[t] += kg

    def check(self, plan: Plan, out: list[Violation]) -> None:
        """Appends a violation per cap exceeded and per misstated figure to `out`."""
        ph = self.ph
        for kind, name, unit, spent, caps in (
            ("period_budget", "budget_usd_per_period_h", "USD/h", self.usd, self.budget),
            ("period_carbon", "carbon_cap_kg_per_period_h", "kg/h", self.kg, self.carbon),
        ):
            for t, (total, cap) in enumerate(zip(spent, caps, strict=True)):
                rate = total / ph
                if math.isfinite(cap) and rate > cap * (1 + _REL) + 1e-9:
                    message = f"{rate:.4f} {unit} > {name} {cap:g} {unit}"
                    out.append(Violation(kind, f"period {t}", message, rate - cap))
        self._check_stated(plan, out)

    def _check_stated(self, plan: Plan, out: list[Violation]) -> None:
        h = plan.horizon
        if h is None:
            return
        names = (
            "cost_usd_per_period_h",
            "budget_usd_per_period_h",
            "carbon_kg_per_period_h",
            "carbon_cap_kg_per_period_h",
        )
        if not self.active:
            for name in names:
                if getattr(h, name) is not None:
                    message = f"horizon.{name}: the scenario caps nothing per period"
                    out.append(Violation("kpi", "horizon", message))
            return
        actual = {
            "cost_usd_per_period_h": [v / self.ph for v in self.usd],
            "budget_usd_per_period_h": [v if math.isfinite(v) else None for v in self.budget],
            "carbon_kg_per_period_h": [v / self.ph for v in self.kg],
            "carbon_cap_kg_per_period_h": [v if math.isfinite(v) else None for v in self.carbon],
        }
        for name, values in actual.items():
            said = getattr(h, name)
            if said is None or len(said) != len(values):
                stated = "not stated" if said is None else f"{len(said)} values"
                message = f"horizon.{name}: {stated} for {len(values)} periods"
                out.append(Violation("kpi", "horizon", message))
                continue
            for t, (s, a) in enumerate(zip(said, values, strict=True)):
                compare(out, "horizon", "horizon", f"{name}[{t}]", s, a)
