"""Capacity planning: what to build, buy or commit to, and when (docs/capacity.md)."""

from placer.capacity.check import check_capacity_plan
from placer.capacity.plan import CapacityPlan, plan_capacity
from placer.capacity.solve import CapacityResult, Purchase, solve_capacity

__all__ = [
    "CapacityPlan",
    "CapacityResult",
    "Purchase",
    "check_capacity_plan",
    "plan_capacity",
    "solve_capacity",
]
