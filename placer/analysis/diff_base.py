"""What `placer.analysis.diff` and `placer.analysis.diff_time` share: the base of their
models, a KPI compared between two plans (`KpiDelta`, with the tolerance under which two
values count as equal), and a unit's identity across plans.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from placer.plan.plan import Placement, UnitRef

#: Relative tolerance under which two KPI values count as equal (float noise), 1.
KPI_REL_TOL = 1e-9
#: Absolute tolerance under which two KPI values count as equal, in the KPI's unit.
KPI_ABS_TOL = 1e-9


class _DiffModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class KpiDelta(_DiffModel):
    """One whole-plan KPI in both plans. Units are in the name (USD/h, kg/h, L/h, count)."""

    name: str
    a: int | float | None
    b: int | float | None
    delta: int | float | None = Field(description="b - a, in the KPI's unit; null if either is.")
    relative: float | None = Field(
        description="(b - a) / |a|, a fraction; null if either is null or a is 0."
    )


def _identity(p: Placement) -> dict[str, str | int | None]:
    """The `UnitRef` fields of a placement: its name and identity across plans."""
    return {name: getattr(p, name) for name in UnitRef.model_fields}


def _kpi_delta(name: str, a: int | float | None, b: int | float | None) -> KpiDelta:
    if a is None or b is None:
        return KpiDelta(name=name, a=a, b=b, delta=None, relative=None)
    delta = (0 if isinstance(a, int) else 0.0) if _equal(a, b) else b - a
    relative = delta / abs(a) if a != 0 else None
    return KpiDelta(name=name, a=a, b=b, delta=delta, relative=relative)


def _equal(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=KPI_REL_TOL, abs_tol=KPI_ABS_TOL)
