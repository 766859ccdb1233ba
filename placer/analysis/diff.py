"""Comparing two plans: which units moved, which were placed or dropped, and KPI deltas.

Units are matched by (workload, region, copy_index), the identity every plan writes, so
two plans of the same scenario (or of two variants of it, see `placer.analysis.whatif`) compare
unit by unit; the copies of one replica set are interchangeable (see `match_units`).
The result is a `PlanDiff`, a stable document (`apiVersion: placer/v1`, `kind: PlanDiff`)
that `placer diff --format json` prints.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from placer.plan.plan import PLAN_API_VERSION, Placement, Plan, UnitRef

#: Relative tolerance under which two KPI values count as equal (float noise), 1.
KPI_REL_TOL = 1e-9
#: Absolute tolerance under which two KPI values count as equal, in the KPI's unit.
KPI_ABS_TOL = 1e-9

UnitKey = tuple[str, str | None, int]


class _DiffModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PlanRef(_DiffModel):
    """Which plan a side of the comparison is."""

    label: str = Field(description="File name or name given by the caller.")
    scenario: str = ""
    status: str
    solver: str


class Move(UnitRef):
    """A unit placed in both plans: at another site or pool (moved), or at the same pool
    with another number of GPUs (resized)."""

    from_site: str
    from_pool: str
    to_site: str
    to_pool: str
    gpus_from: int
    gpus_to: int


class UnitPlacement(UnitRef):
    """A unit placed in one plan only (newly placed, or newly unplaced)."""

    site: str
    pool: str
    gpus: int
    reason: str = Field(
        default="", description="Why the other plan leaves it out (newly unplaced only)."
    )


class KpiDelta(_DiffModel):
    """One whole-plan KPI in both plans. Units are in the name (USD/h, kg/h, L/h, count)."""

    name: str
    a: int | float | None
    b: int | float | None
    delta: int | float | None = Field(description="b - a, in the KPI's unit; null if either is.")
    relative: float | None = Field(
        description="(b - a) / |a|, a fraction; null if either is null or a is 0."
    )


class SiteDelta(_DiffModel):
    """Use of one site in both plans (summed over its placements)."""

    site: str
    gpus_a: int
    gpus_b: int
    delta_gpus: int
    it_kw_a: float = Field(description="IT power at full load in plan A, kW.")
    it_kw_b: float = Field(description="IT power at full load in plan B, kW.")
    delta_it_kw: float = Field(description="it_kw_b - it_kw_a, kW.")


class PlanDiff(_DiffModel):
    """What changes from plan A to plan B."""

    apiVersion: Literal["placer/v1"] = PLAN_API_VERSION
    kind: Literal["PlanDiff"] = "PlanDiff"
    a: PlanRef
    b: PlanRef
    identical: bool = Field(
        description="No unit moved, was resized, placed or unplaced; every KPI is equal."
    )
    moved: list[Move] = Field(default_factory=list, description="At another site or pool.")
    resized: list[Move] = Field(
        default_factory=list, description="Same site and pool, another number of GPUs."
    )
    newly_placed: list[UnitPlacement] = Field(
        default_factory=list, description="Placed in B, not placed in A."
    )
    newly_unplaced: list[UnitPlacement] = Field(
        default_factory=list, description="Placed in A, not placed in B (site/pool: A's)."
    )
    kpis: list[KpiDelta] = Field(default_factory=list)
    sites: list[SiteDelta] = Field(default_factory=list)

    def unit_changes(self) -> dict[str, list]:
        """The four lists of changed units, by field name (moved, resized, newly_placed,
        newly_unplaced)."""
        return {name: getattr(self, name) for name in UNIT_CHANGES}

    @property
    def changed_units(self) -> int:
        """Units whose placement differs: moved, resized, newly placed or unplaced."""
        return (
            len(self.moved) + len(self.resized) + len(self.newly_placed) + len(self.newly_unplaced)
        )


#: The PlanDiff fields that list changed units.
UNIT_CHANGES = ("moved", "resized", "newly_placed", "newly_unplaced")
#: KPIs compared, in this order: (name, getter on Totals).
KPI_NAMES = (
    "objective_usd_per_h",
    "cost_usd_per_h",
    "carbon_kg_per_h",
    "water_l_per_h",
    "unplaced_value_usd_per_h",
    "gpus",
    "placed_units",
    "unplaced_units",
)


def unit_key(p: Placement) -> UnitKey:
    """The identity a unit keeps across plans: (workload, region, copy_index)."""
    return (p.workload, p.region, p.copy_index)


def diff_plans(a: Plan, b: Plan, *, label_a: str = "A", label_b: str = "B") -> PlanDiff:
    """Compares plan A (before) with plan B (after).

    Args:
      a: the plan before (e.g. the baseline).
      b: the plan after (e.g. a what-if variant).
      label_a: name for A in the result (a file name).
      label_b: name for B in the result.

    Returns:
      The PlanDiff: moves, newly placed and unplaced units (in A's then B's order),
      KPI deltas and per-site GPU and IT-kW deltas.
    """
    pairs, only_b = match_units(a.placements, b.placements)
    reasons_b = {(u.workload, u.region, u.copy_index): u.reason for u in b.unplaced}
    group_reason_b = {(u.workload, u.region): u.reason for u in b.unplaced}
    moved: list[Move] = []
    resized: list[Move] = []
    newly_unplaced: list[UnitPlacement] = []
    for pa in a.placements:
        pb = pairs.get(id(pa))
        if pb is None:
            reason = reasons_b.get(unit_key(pa)) or group_reason_b.get(
                (pa.workload, pa.region), "not a unit of plan B"
            )
            newly_unplaced.append(_unit_placement(pa, reason=reason))
        elif (pa.site, pa.pool, pa.gpus) != (pb.site, pb.pool, pb.gpus):
            same_place = (pa.site, pa.pool) == (pb.site, pb.pool)
            (resized if same_place else moved).append(
                Move(
                    **_identity(pb),
                    from_site=pa.site,
                    from_pool=pa.pool,
                    to_site=pb.site,
                    to_pool=pb.pool,
                    gpus_from=pa.gpus,
                    gpus_to=pb.gpus,
                )
            )
    newly_placed = [_unit_placement(pb) for pb in only_b]
    kpis = [_kpi_delta(name, _kpi(a, name), _kpi(b, name)) for name in KPI_NAMES]
    sites = _site_deltas(a, b)
    changes = dict(zip(UNIT_CHANGES, (moved, resized, newly_placed, newly_unplaced), strict=True))
    identical = not any(changes.values()) and all(_equal(k.a, k.b) for k in kpis)
    return PlanDiff(
        a=_ref(a, label_a),
        b=_ref(b, label_b),
        identical=identical,
        kpis=kpis,
        sites=sites,
        **changes,
    )


def match_units(
    a: list[Placement], b: list[Placement]
) -> tuple[dict[int, Placement], list[Placement]]:
    """Pairs each placement of A with the same unit's placement in B.

    Units are matched by (workload, region, copy_index), except that the copies of one
    region's replica set are interchangeable: a copy in A is first paired with a copy in
    B at the same site and pool, then the remaining copies pair in copy order. Two
    copies that swap sites are therefore not reported as two moves.

    Returns:
      ({id(A placement): its B placement}, B placements paired with nothing in A).
    """
    groups_b: dict[tuple[str, str | None], list[Placement]] = {}
    for pb in sorted(b, key=lambda p: p.copy_index):
        groups_b.setdefault((pb.workload, pb.region), []).append(pb)
    groups_a: dict[tuple[str, str | None], list[Placement]] = {}
    for pa in sorted(a, key=lambda p: p.copy_index):
        groups_a.setdefault((pa.workload, pa.region), []).append(pa)
    pairs: dict[int, Placement] = {}
    for group, copies_a in groups_a.items():
        rest_b = groups_b.get(group, [])
        rest_a: list[Placement] = []
        for pa in copies_a:
            same = next((pb for pb in rest_b if (pb.site, pb.pool) == (pa.site, pa.pool)), None)
            if same is None:
                rest_a.append(pa)
            else:
                pairs[id(pa)] = same
                rest_b = [pb for pb in rest_b if pb is not same]
        for pa, pb in zip(rest_a, rest_b, strict=False):
            pairs[id(pa)] = pb
        groups_b[group] = rest_b[len(rest_a) :]
    paired_b = {id(pb) for pb in pairs.values()}
    return pairs, [pb for pb in b if id(pb) not in paired_b]


def _ref(plan: Plan, label: str) -> PlanRef:
    return PlanRef(label=label, scenario=plan.scenario, status=plan.status, solver=plan.solver)


def _identity(p: Placement) -> dict[str, str | int | None]:
    """The `UnitRef` fields of a placement: its name and identity across plans."""
    return {name: getattr(p, name) for name in UnitRef.model_fields}


def _unit_placement(p: Placement, *, reason: str = "") -> UnitPlacement:
    return UnitPlacement(**_identity(p), site=p.site, pool=p.pool, gpus=p.gpus, reason=reason)


def _kpi(plan: Plan, name: str) -> int | float | None:
    """A whole-plan KPI; the objective from the plan itself, the rest from its totals."""
    if name == "objective_usd_per_h":
        return plan.objective_usd_per_h
    if plan.totals is None:
        return None
    return getattr(plan.totals, name)


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


def _site_use(plan: Plan) -> dict[str, tuple[int, float]]:
    """Site -> (GPUs, IT kW at full load) summed over the plan's placements."""
    out: dict[str, tuple[int, float]] = {s.site: (0, 0.0) for s in plan.sites}
    for p in plan.placements:
        gpus, kw = out.get(p.site, (0, 0.0))
        out[p.site] = (gpus + p.gpus, kw + p.it_kw)
    return out


def _site_deltas(a: Plan, b: Plan) -> list[SiteDelta]:
    use_a, use_b = _site_use(a), _site_use(b)
    order = list(use_a) + [s for s in use_b if s not in use_a]
    out = []
    for site in order:
        ga, ka = use_a.get(site, (0, 0.0))
        gb, kb = use_b.get(site, (0, 0.0))
        out.append(
            SiteDelta(
                site=site,
                gpus_a=ga,
                gpus_b=gb,
                delta_gpus=gb - ga,
                it_kw_a=ka,
                it_kw_b=kb,
                delta_it_kw=0.0 if _equal(ka, kb) else kb - ka,
            )
        )
    return out
