"""The plan layer: the Plan schema (`placer.plan.plan`), building a Plan from an
assignment (`build`), the independent verifier (`verify`) and batched scoring
(`scoring`). The schema's names are re-exported here (`placer.plan.Plan`)."""

from placer.plan.plan import (
    PLAN_API_VERSION,
    CapacityAddition,
    CapacityPrice,
    Infeasibility,
    ParetoFront,
    ParetoPoint,
    Placement,
    Plan,
    SiteUsage,
    Totals,
    Unplaced,
)

__all__ = [
    "PLAN_API_VERSION",
    "CapacityAddition",
    "CapacityPrice",
    "Infeasibility",
    "ParetoFront",
    "ParetoPoint",
    "Placement",
    "Plan",
    "SiteUsage",
    "Totals",
    "Unplaced",
]
