"""`plan_capacity`: the capacity plan and its two baselines, solved by the same code.

- plan: builds, commitments and monthly placement together (`placer.capacity.model`);
- "cloud on-demand only": no build option at all (today's fleet, the rest on demand);
- "build only on-prem": cloud sites and commitments removed, builds allowed.

Each is a `CapacityResult` (net present cost, USD; bound; gap); the time limit is split
60 / 20 / 20 between them. A scenario with `planning.scenarios` also gets the two-stage
plan (`placer.capacity.twostage`; the split is then 20 / 10 / 10 and 60 for it), and
every plan its KPIs (`placer.capacity.kpis`: cost per GPU-hour, utilisation, power,
ROI of each purchase, cost per 1k tokens).
"""

from __future__ import annotations

from dataclasses import dataclass

from placer.capacity import scenarios
from placer.capacity.kpis import CapacityKpis, capacity_kpis
from placer.capacity.solve import CapacityResult, solve_capacity
from placer.capacity.twostage import TwoStageResult, plan_two_stage
from placer.model.scenario import Scenario

#: Share of the time limit each solve gets: plan, cloud baseline, on-prem baseline.
TIME_SHARES = (0.6, 0.2, 0.2)
#: The same with a two-stage plan, which gets the rest.
TIME_SHARES_TWO_STAGE = (0.2, 0.1, 0.1)


@dataclass(frozen=True)
class CapacityPlan:
    """The plan and its baselines (None when not asked for)."""

    scenario: str
    months: int
    start: str
    discount_rate_per_year: float
    plan: CapacityResult
    baseline_cloud: CapacityResult | None
    baseline_onprem: CapacityResult | None
    two_stage: TwoStageResult | None = None
    kpis: CapacityKpis | None = None


def plan_capacity(
    scenario: Scenario,
    *,
    time_limit_s: float = 60.0,
    relative_gap: float = 1e-4,
    seed: int = 0,
    baselines: bool = True,
    roi: bool = True,
) -> CapacityPlan:
    """Solves the capacity plan of a scenario with `build_options` (and its baselines).

    Raises:
      ValueError: the scenario has no months to plan over.
      SolverError: HiGHS failed.
    """
    monthly = scenarios.monthly(scenario)
    uncertain = scenario.planning is not None and bool(scenario.planning.scenarios)
    shares = TIME_SHARES_TWO_STAGE if uncertain else TIME_SHARES
    if not baselines:
        shares = (shares[0] + shares[1] + shares[2], 0.0, 0.0)

    def run(variant: Scenario, share: float) -> CapacityResult:
        return solve_capacity(
            variant, time_limit_s=time_limit_s * share, relative_gap=relative_gap, seed=seed
        )

    plan = run(monthly, shares[0])
    cloud = onprem = None
    if baselines:
        cloud = run(scenarios.without_builds(monthly), shares[1])
        onprem = run(scenarios.without_cloud(monthly), shares[2])
    two_stage = None
    if uncertain:
        two_stage = plan_two_stage(
            monthly,
            time_limit_s=time_limit_s * (1.0 - sum(shares)),
            relative_gap=relative_gap,
            seed=seed,
        )
    kpis = capacity_kpis(plan, roi=roi, time_limit_s=time_limit_s * 0.25, seed=seed)
    planning = scenario.planning
    return CapacityPlan(
        scenario=scenario.metadata.name,
        months=monthly.horizon.periods,
        start=monthly.horizon.start,
        discount_rate_per_year=planning.discount_rate_per_year if planning else 0.0,
        plan=plan,
        baseline_cloud=cloud,
        baseline_onprem=onprem,
        two_stage=two_stage,
        kpis=kpis,
    )
