"""verify_preempt: a preempted training run of a timed plan (a placement with
`segments`), checked from the Scenario alone (docs/time.md, "Preemptible training runs").

- Only a workload with `preemptible: true` may state segments ("preempt").
- Segments are in order, at least one period long, do not overlap or touch (two touching
  segments are one), and lie inside the horizon ("horizon"), from the run's first
  period (its earliest start, rounded up to a period boundary: "earliest_start") to its
  deadline, deadline_hours and the horizon's end, in whole periods ("deadline").
- Running time: periods run x period hours >= the run's hours on its pool +
  restore_overhead_h (default `DEFAULT_RESTORE_OVERHEAD_H`) x resumes, resumes =
  segments - 1 ("preempt"); `resumes` states that count.
- Money, carbon and water are those of every period it runs in, whole (as
  `verify_time`'s formulas for a run of period-hour fractions 1), plus the dataset's
  egress once; it holds its GPUs and power in each of those periods (the caller's
  per-period capacities). `start_period`, `start` are its first segment's, `end` its last
  segment's end, `periods` the periods it runs in.
"""

from __future__ import annotations

import math

from placer.model.workload import Training
from placer.plan.verify_figures import Violation, compare

_EPS = 1e-9
#: The kinds of a pool's rules for a unit (verify's): a segment's pool is held to them.
_PAIR_KINDS = frozenset(
    {"unknown_pool", "accelerator", "memory", "residency", "pin", "exclude", "cooling"}
    | {"rack_density", "mig"}
)


def _segment_pool(verifier, w: Training, pl, i: int, seg, site, pool, node_kw, hours, out):
    """(site, pool, node kW, hours there) of segment i: the placement's when it names
    none, else its own, held to verify's pair rules; None when it names no pool."""
    if seg.pool is None and seg.site is None:
        return site, pool, node_kw, hours
    sid, key = seg.site or pl.site, seg.pool or pl.pool
    if (sid, key) == (site.id, pl.pool):
        return site, pool, node_kw, hours
    scratch: list[Violation] = []
    update = {"site": sid, "pool": key, "accelerator": seg.accelerator or pl.accelerator}
    update |= {"segments": None, "resumes": None, "moves": None, "migration_usd": None}
    verifier._check_placement(f"segments[{i}]", pl.model_copy(update=update), scratch)
    out += [v for v in scratch if v.kind in _PAIR_KINDS]
    other = verifier.sites.get(sid)
    q = next((q for q in other.pools if (q.id or q.accelerator) == key), None) if other else None
    if q is None:
        return None
    tflops = verifier.catalog[q.accelerator].bf16_tflops
    ref = verifier.catalog[w.accelerators[0]].bf16_tflops if w.accelerators else None
    return other, q, verifier._node_kw(q), w.hours * (ref / tflops if (ref and tflops) else 1.0)


def _egress(verifier, w: Training, site) -> float:
    """The dataset's egress to `site`, USD (0 at its own site)."""
    if w.dataset is None or w.dataset.site == site.id:
        return 0.0
    return verifier.sites[w.dataset.site].egress_usd_per_gb * w.dataset.size_gb


def preempted_run(verifier, w: Training, pl, site, pool, node_kw, hours: float, out):
    """The `verify_time._Run` of a placement with segments (its segments' runs in
    `parts`, the egress and the moves' USD with it), or None when it cannot be priced;
    violations appended to `out`."""
    unit, ph, n_t = pl.unit, verifier.ph, verifier.n_t
    if not w.preemptible and not w.migratable:
        out.append(Violation("preempt", unit, "segments: the workload is not preemptible"))
    segments = pl.segments or []
    periods: list[int] = []
    where = []  # (site, pool, node kW, hours there) of each segment
    end_prev = None
    moves = resumes = 0
    move_periods: list[int] = []
    work = 0.0  # of the run, a fraction: each segment's periods less the overheads
    for i, seg in enumerate(segments):
        if seg.periods < 1:
            out.append(Violation("preempt", unit, f"segments[{i}]: no period"))
            return None
        found = _segment_pool(verifier, w, pl, i, seg, site, pool, node_kw, hours, out)
        if found is None:
            return None
        if i == 0 and (found[0].id, found[1].key) != (site.id, pool.key):
            message = f"segments[0].pool: {found[0].id}/{seg.pool}, the placement says {pl.pool}"
            out.append(Violation("kpi", unit, message))
        where.append(found)
        need_h = found[3]
        work += seg.periods * ph / need_h
        if end_prev is not None:
            same = (found[0].id, found[1].key) == (where[-2][0].id, where[-2][1].key)
            if seg.start_period < end_prev or (same and seg.start_period == end_prev):
                what = "overlaps" if seg.start_period < end_prev else "touches"
                message = f"segments[{i}] {what} the one before it (period {end_prev})"
                out.append(Violation("preempt", unit, message))
            if seg.start_period > end_prev and not w.preemptible:
                message = f"segments[{i}]: pauses after period {end_prev - 1}; not preemptible"
                out.append(Violation("preempt", unit, message))
            if not same:
                moves += 1
                move_periods.append(seg.start_period)
                work -= w.move_overhead_h / need_h
                if not w.migratable:
                    message = (
                        f"segments[{i}]: moves to {found[0].id}/{seg.pool}; the workload "
                        "may not migrate (no migration_usd)"
                    )
                    out.append(Violation("migrate", unit, message))
            elif seg.start_period > end_prev:
                resumes += 1
                work -= w.overhead_h / need_h
        periods += range(seg.start_period, seg.start_period + seg.periods)
        end_prev = seg.start_period + seg.periods
        begins = verifier._begins(seg.start_period)
        verifier._compare_instant(out, unit, f"segments[{i}].start", seg.start, begins)
        ends = verifier._begins(seg.start_period + seg.periods)
        verifier._compare_instant(out, unit, f"segments[{i}].end", seg.end, ends)
    if not periods:
        out.append(Violation("preempt", unit, "segments: none"))
        return None
    held = sorted(set(periods))
    first_ok = 0
    if w.earliest_start is not None:
        first_ok = max(0, math.ceil(verifier._offset_h(w.earliest_start) / ph - _EPS))
    if held[0] < first_ok:
        out.append(
            Violation(
                "earliest_start",
                unit,
                f"runs in period {held[0]}, before {w.earliest_start} (period {first_ok})",
                first_ok - held[0],
            )
        )
    if held[0] < 0 or held[-1] >= n_t:
        message = f"runs in periods {held[0]}..{held[-1]}, outside 0..{n_t - 1}"
        out.append(Violation("horizon", unit, message))
    limit = verifier.span_h
    if w.deadline is not None:
        limit = min(limit, verifier._offset_h(w.deadline))
    if w.deadline_hours is not None:
        limit = min(limit, w.deadline_hours)
    end_h = (held[-1] + 1) * ph
    if end_h > limit + 1e-6 and held[-1] < n_t:
        out.append(
            Violation(
                "deadline",
                unit,
                f"its last period ends {end_h:g} h after the horizon's start, after its "
                f"deadline ({limit:g} h)",
                end_h - limit,
            )
        )
    if pl.resumes != resumes:
        out.append(Violation("kpi", unit, f"resumes: stated {pl.resumes}, actual {resumes}"))
    stated_moves = moves if w.migratable else None
    if pl.moves != stated_moves:
        out.append(Violation("kpi", unit, f"moves: stated {pl.moves}, actual {stated_moves}"))
    migration_usd = moves * w.migration_usd if w.migratable else 0.0
    if (pl.migration_usd is None) != (not w.migratable) or (
        pl.migration_usd is not None
        and abs(pl.migration_usd - migration_usd) > 1e-6 * max(1.0, migration_usd)
    ):
        message = f"migration_usd: stated {pl.migration_usd}, actual {migration_usd:g}"
        out.append(Violation("kpi", unit, message))
    running = len(held) * ph
    if len({(s.id, q.key) for s, q, _, _ in where}) == 1:  # one pool: in hours, as before
        need = hours + w.overhead_h * resumes
        if running < need - 1e-6:
            out.append(
                Violation(
                    "preempt",
                    unit,
                    f"runs {running:g} h, under its {hours:g} h + {w.overhead_h:g} h x "
                    f"{resumes} resumes",
                    need - running,
                )
            )
    elif work < 1.0 - 1e-6:
        out.append(
            Violation(
                "preempt",
                unit,
                f"does {work:.6g} of its work (each pool's periods over its hours there, "
                f"less {w.overhead_h:g} h per resume and {w.move_overhead_h:g} h per move "
                "on the pool it is paid on), under 1",
                1.0 - work,
            )
        )
    total = None
    parts = []
    sites_paid: set[str] = set()
    for i, (seg, (s_site, s_pool, s_kw, _)) in enumerate(zip(segments, where, strict=True)):
        a, n = seg.start_period, seg.periods
        part = verifier._run(w, s_site, s_pool, s_kw, w.gpus, w.utilization, a, [1.0] * n, n * ph)
        part.periods_held = [t for t in range(a, a + n) if 0 <= t < n_t]
        if s_site.id not in sites_paid:  # the dataset's egress, once per site
            sites_paid.add(s_site.id)
            part.egress_usd = _egress(verifier, w, s_site)
            part.cost_usd += part.egress_usd
        _check_segment(pl, i, seg, s_site, s_pool, part, out)
        parts.append((s_site.id, s_pool.id or s_pool.accelerator, part))
        if total is None:
            total = verifier._run(w, s_site, s_pool, s_kw, w.gpus, w.utilization, a, [], 0.0)
        total.cost_usd += part.cost_usd
        total.carbon_kg += part.carbon_kg
        total.water_l += part.water_l
        total.egress_usd += part.egress_usd
    assert total is not None
    total.first, total.periods = held[0], len(held)
    total.run_h = running
    total.periods_held = [t for t in held if 0 <= t < n_t]
    total.end_h = end_h
    total.parts = parts
    total.migration_cost_usd = migration_usd
    total.move_periods = move_periods if w.migratable else []
    return total


def _check_segment(pl, i: int, seg, site, pool, part, out) -> None:
    """The figures a segment states (each optional) against its recomputed run."""
    path = f"segments[{i}]"
    for name, actual in (
        ("site", site.id),
        ("pool", pool.id or pool.accelerator),
        ("accelerator", pool.accelerator),
        ("gpus", part.gpus),
        ("it_kw", part.it_kw),
        ("facility_kw", part.facility_kw),
        ("cost_usd", part.cost_usd),
        ("carbon_kg", part.carbon_kg),
        ("water_l", part.water_l),
    ):
        said = getattr(seg, name)
        if said is not None:
            compare(out, pl.unit, path, name, said, actual)
