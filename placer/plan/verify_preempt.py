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
from placer.plan.verify_figures import Violation

_EPS = 1e-9


def preempted_run(verifier, w: Training, pl, site, pool, node_kw, hours: float, out):
    """The `verify_time._Run` of a placement with segments (its periods in `periods_held`),
    or None when it cannot be priced; violations appended to `out`."""
    unit, ph, n_t = pl.unit, verifier.ph, verifier.n_t
    if not w.preemptible:
        out.append(Violation("preempt", unit, "segments: the workload is not preemptible"))
    segments = pl.segments or []
    periods: list[int] = []
    end_prev = None
    for i, seg in enumerate(segments):
        if seg.periods < 1:
            out.append(Violation("preempt", unit, f"segments[{i}]: no period"))
            return None
        if end_prev is not None and seg.start_period <= end_prev:
            what = "overlaps" if seg.start_period < end_prev else "touches"
            message = f"segments[{i}] {what} the one before it (period {end_prev})"
            out.append(Violation("preempt", unit, message))
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
    resumes = len(segments) - 1
    if pl.resumes != resumes:
        out.append(Violation("kpi", unit, f"resumes: stated {pl.resumes}, actual {resumes}"))
    need = hours + w.overhead_h * resumes
    running = len(held) * ph
    if running < need - 1e-6:
        out.append(
            Violation(
                "preempt",
                unit,
                f"runs {running:g} h, under its {hours:g} h + {w.overhead_h:g} h x {resumes} "
                "resumes",
                need - running,
            )
        )
    total = None
    for a, n in _runs(held):
        part = verifier._run(w, site, pool, node_kw, w.gpus, w.utilization, a, [1.0] * n, n * ph)
        if total is None:
            total = part
        else:
            total.cost_usd += part.cost_usd
            total.carbon_kg += part.carbon_kg
            total.water_l += part.water_l
    assert total is not None
    total.first, total.periods = held[0], len(held)
    total.run_h = running
    total.periods_held = [t for t in held if 0 <= t < n_t]
    total.end_h = end_h
    return total


def _runs(periods: list[int]) -> list[tuple[int, int]]:
    """(first, length) of each maximal run of consecutive periods."""
    out: list[tuple[int, int]] = []
    for t in periods:
        if out and out[-1][0] + out[-1][1] == t:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((t, 1))
    return out
