"""The schedule part of a diff of two timed plans (docs/time.md): training runs that
start at another time, run in another pool or pause or move otherwise (`segments`),
service units (one region in one period) whose pools changed, and the totals over the
horizon.

`placer.analysis.diff.diff_plans` calls `diff_schedules` when both plans are timed and
puts the `ScheduleDiff` in its PlanDiff.
"""

from __future__ import annotations

from collections import Counter

from pydantic import Field

from placer.analysis.diff_base import KpiDelta, _DiffModel, _identity, _kpi_delta
from placer.model.horizon import parse_instant
from placer.plan.plan import Placement, Plan, Segment, UnitRef

#: Horizon totals compared, in this order (PlanHorizon fields, USD, kg, L).
HORIZON_TOTALS = ("cost_usd", "carbon_kg", "water_l", "unplaced_value_usd", "objective_usd")

_ServiceUnit = tuple[str, str | None, int | None]  # (workload, region, period)


class RunChange(UnitRef):
    """A training run of two timed plans that starts at another time, runs in another
    pool, or pauses or moves otherwise (times ISO 8601, as the plans write them)."""

    from_site: str
    from_pool: str
    from_start: str | None
    from_end: str | None
    to_site: str
    to_pool: str
    to_start: str | None
    to_end: str | None
    shift_h: float | None = Field(
        description="to_start - from_start, h (positive: later; null: a time is missing)."
    )
    from_segments: list[Segment] | None = Field(
        default=None, description="A's segments where A pauses or moves the run (else null)."
    )
    to_segments: list[Segment] | None = Field(
        default=None, description="B's segments where B pauses or moves the run (else null)."
    )


class ServiceChange(_DiffModel):
    """One service of two timed plans, counted in (region, period) units: the demand of one
    region in one period, over its demand shares and copies."""

    workload: str
    units: int = Field(description="(region, period) units placed in A or B.")
    repooled: int = Field(
        description="Placed in both, on other pools (the pools of its shares and copies differ)."
    )
    only_a: int = Field(description="Placed in A only.")
    only_b: int = Field(description="Placed in B only.")


class ScheduleDiff(_DiffModel):
    """How the schedules of two timed plans differ."""

    runs: list[RunChange] = Field(
        default_factory=list,
        description="Training runs at another start, in another pool, or with other segments.",
    )
    services: list[ServiceChange] = Field(
        default_factory=list, description="Every service, with its changed (region, period) units."
    )
    horizon: list[KpiDelta] = Field(
        default_factory=list,
        description="Totals over the horizon: cost_usd, carbon_kg, water_l, "
        "unplaced_value_usd, objective_usd.",
    )

    @property
    def changed(self) -> bool:
        """A run moved, a service unit changed pools, or a horizon total differs."""
        return (
            bool(self.runs)
            or any(s.repooled or s.only_a or s.only_b for s in self.services)
            or any(k.delta not in (0, 0.0) for k in self.horizon)
        )


def diff_schedules(a: Plan, b: Plan, pairs: dict[int, Placement]) -> ScheduleDiff:
    """Compares the schedules of two timed plans.

    Args:
      a: the timed plan before.
      b: the timed plan after.
      pairs: {id(A placement): its B placement}, from `match_units`.

    Returns:
      The runs moved in time or pool (A's order), one row per service (name order) and
      the horizon totals of both plans.
    """
    runs = []
    for pa in a.placements:
        pb = pairs.get(id(pa))
        if pa.kind != "training" or pb is None:
            continue
        if _where_and_when(pa) != _where_and_when(pb):
            runs.append(_run_change(pa, pb))
    return ScheduleDiff(runs=runs, services=_service_changes(a, b), horizon=_horizon_deltas(a, b))


def _where_and_when(p: Placement) -> tuple:
    """A run's pool, start and, where it pauses or moves, each segment's periods and pool."""
    segments = None
    if p.segments is not None:
        segments = tuple(
            (s.start_period, s.periods, s.site or p.site, s.pool or p.pool) for s in p.segments
        )
    return p.site, p.pool, p.start, segments


def segments_text(site: str, pool: str, segments: list[Segment] | None) -> str:
    """A run's periods: "-" when it runs contiguously (no segments), else each segment's
    first and last period ("0-1,5"), a new pool named where the run moves
    ("0-1,muc/L4@2-3"); `site`/`pool`: the placement's (its first segment's)."""
    if segments is None:
        return "-"
    spans = [(s.start_period, s.periods, f"{s.site or site}/{s.pool or pool}") for s in segments]
    return spans_text(spans, f"{site}/{pool}")


def spans_text(spans: list[tuple[int, int, str]], named: str | None = None) -> str:
    """(first period, periods, pool name) of each segment as "0-1,5" with the pool named
    where it differs from the one before (the first from `named`; None: always named)."""
    parts: list[str] = []
    last = named
    for first, n, where in spans:
        span = f"{first}" if n == 1 else f"{first}-{first + n - 1}"
        parts.append(span if where == last else f"{where}@{span}")
        last = where
    return ",".join(parts)


def _run_change(pa: Placement, pb: Placement) -> RunChange:
    shift = None
    if pa.start and pb.start:
        shift = (parse_instant(pb.start) - parse_instant(pa.start)).total_seconds() / 3600.0
    return RunChange(
        **_identity(pb),
        from_site=pa.site,
        from_pool=pa.pool,
        from_start=pa.start,
        from_end=pa.end,
        to_site=pb.site,
        to_pool=pb.pool,
        to_start=pb.start,
        to_end=pb.end,
        shift_h=shift,
        from_segments=pa.segments,
        to_segments=pb.segments,
    )


def _service_pools(plan: Plan) -> dict[_ServiceUnit, Counter[tuple[str, str]]]:
    """(workload, region, period) -> the (site, pool) of each of its shares and copies."""
    out: dict[_ServiceUnit, Counter[tuple[str, str]]] = {}
    for p in plan.placements:
        if p.kind == "inference":
            out.setdefault((p.workload, p.region, p.period), Counter())[p.site, p.pool] += 1
    return out


def _service_changes(a: Plan, b: Plan) -> list[ServiceChange]:
    pools_a, pools_b = _service_pools(a), _service_pools(b)
    counts: dict[str, Counter[str]] = {}
    for unit in pools_a.keys() | pools_b.keys():
        c = counts.setdefault(unit[0], Counter())
        c["units"] += 1
        if unit not in pools_b:
            c["only_a"] += 1
        elif unit not in pools_a:
            c["only_b"] += 1
        elif pools_a[unit] != pools_b[unit]:
            c["repooled"] += 1
    return [
        ServiceChange(
            workload=w,
            units=c["units"],
            repooled=c["repooled"],
            only_a=c["only_a"],
            only_b=c["only_b"],
        )
        for w, c in sorted(counts.items())
    ]


def _horizon_deltas(a: Plan, b: Plan) -> list[KpiDelta]:
    ha, hb = a.horizon, b.horizon
    if ha is None or hb is None:
        return []
    return [_kpi_delta(name, getattr(ha, name), getattr(hb, name)) for name in HORIZON_TOTALS]
