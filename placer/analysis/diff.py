"""Comparing two plans: which units moved, which were placed or dropped, and KPI deltas.

Units are matched by (workload, region, copy_index), the identity every plan writes, so
two plans of the same scenario (or of two variants of it, see `placer.analysis.whatif`) compare
unit by unit; the copies of one replica set are interchangeable (see `match_units`). In
timed plans (docs/time.md) a service's units are matched within their period, and
`schedule` (`placer.analysis.diff_time`) compares the schedules: training runs moved in
time or pool, service units whose pools changed, the totals over the horizon. The models
and KPI comparison both modules use are in `placer.analysis.diff_base`.
The result is a `PlanDiff`, a stable document (`apiVersion: placer/v1`, `kind: PlanDiff`)
that `placer diff --format json` prints.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from placer.analysis.diff_base import (
    KpiDelta,
    _DiffModel,
    _equal,
    _identity,
    _kpi_delta,
)
from placer.analysis.diff_time import ScheduleDiff, diff_schedules
from placer.plan.plan import PLAN_API_VERSION, Placement, Plan, UnitRef

UnitKey = tuple[str, str | None, int]
GroupKey = tuple[str, str | None, int | None]


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
    gpus_from: int | float
    gpus_to: int | float


class UnitPlacement(UnitRef):
    """A unit placed in one plan only (newly placed, or newly unplaced)."""

    site: str
    pool: str
    gpus: int | float
    reason: str = Field(
        default="", description="Why the other plan leaves it out (newly unplaced only)."
    )


class SiteDelta(_DiffModel):
    """Use of one site in both plans (summed over its placements)."""

    site: str
    gpus_a: int | float
    gpus_b: int | float
    delta_gpus: int | float
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
    schedule: ScheduleDiff | None = Field(
        default=None,
        description="Both plans timed: how their schedules differ (else absent: a static "
        "diff's document is what it was before timed plans).",
    )

    @model_serializer(mode="wrap")
    def _drop_no_schedule(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if isinstance(data, dict) and data.get("schedule", 0) is None:
            del data["schedule"]
        return data

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
    reasons_b = {(*_group(u), u.part, u.copy_index): u.reason for u in b.unplaced}
    group_reason_b = {_group(u): u.reason for u in b.unplaced}
    moved: list[Move] = []
    resized: list[Move] = []
    newly_unplaced: list[UnitPlacement] = []
    for pa in a.placements:
        pb = pairs.get(id(pa))
        if pb is None:
            reason = reasons_b.get((*_group(pa), pa.part, pa.copy_index)) or group_reason_b.get(
                _group(pa), "not a unit of plan B"
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
    schedule = None
    if a.horizon is not None and b.horizon is not None:
        schedule = diff_schedules(a, b, pairs)
    identical = (
        not any(changes.values())
        and all(_equal(k.a, k.b) for k in kpis)
        and not (schedule is not None and schedule.changed)
    )
    return PlanDiff(
        a=_ref(a, label_a),
        b=_ref(b, label_b),
        identical=identical,
        kpis=kpis,
        sites=sites,
        schedule=schedule,
        **changes,
    )


def match_units(
    a: list[Placement], b: list[Placement]
) -> tuple[dict[int, Placement], list[Placement]]:
    """Pairs each placement of A with the same unit's placement in B.

    Units are matched by (workload, region, copy_index), except that the copies of one
    region's replica set are interchangeable: a copy in A is first paired with a copy in
    B at the same site and pool, then the remaining copies pair in copy order. Two
    copies that swap sites are therefore not reported as two moves. In timed plans a
    replica set is one region's demand in one period, over its equal demand shares and
    their copies (all interchangeable): units of other periods never pair.

    Returns:
      ({id(A placement): its B placement}, B placements paired with nothing in A).
    """
    groups_b: dict[GroupKey, list[Placement]] = {}
    for pb in sorted(b, key=lambda p: (p.part, p.copy_index)):
        groups_b.setdefault(_group(pb), []).append(pb)
    groups_a: dict[GroupKey, list[Placement]] = {}
    for pa in sorted(a, key=lambda p: (p.part, p.copy_index)):
        groups_a.setdefault(_group(pa), []).append(pa)
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


def _group(p: Placement | UnitRef) -> GroupKey:
    """The replica set of a unit: (workload, region, period); static plans have period
    None, so their sets are (workload, region) as ever."""
    return (p.workload, p.region, p.period)


def _ref(plan: Plan, label: str) -> PlanRef:
    return PlanRef(label=label, scenario=plan.scenario, status=plan.status, solver=plan.solver)


def _unit_placement(p: Placement, *, reason: str = "") -> UnitPlacement:
    return UnitPlacement(**_identity(p), site=p.site, pool=p.pool, gpus=p.gpus, reason=reason)


def _kpi(plan: Plan, name: str) -> int | float | None:
    """A whole-plan KPI; the objective from the plan itself, the rest from its totals."""
    if name == "objective_usd_per_h":
        return plan.objective_usd_per_h
    if plan.totals is None:
        return None
    return getattr(plan.totals, name)


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
