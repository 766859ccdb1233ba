"""Why a workload landed where it did: `placer explain SCENARIO PLAN --workload W`.

For each placement unit of the workload (a training gang, or an inference replica set
per region and copy) this compares the pool the plan chose with every other pool:

- allowed pools, cheapest objective first, with their cost / carbon / water / latency
  and the difference to the chosen pool; for each, whether the unit would fit there
  given everything else the plan placed, and if not, which capacity is full (pool GPUs,
  site IT / facility / heat / water, budget, carbon cap, redundancy spread);
- excluded pools, grouped by the mask's reasons (latency SLO, residency, accelerator...);
- the capacity prices of the sites involved, when the plan carries them.

A training run the plan pauses or moves (`segments`, docs/time.md) is no option: its
schedule is read back (`score_schedule.schedule_of`) and stands as the chosen line,
priced as the plan pays it (its periods, the dataset's egress, its moves), beside its
contiguous options; its periods' loads count when other units are explained.

Reads the compiled Problem (the solvers' view), like every solver does; the mask's
reasons for the excluded pools come from compiling the workload's units alone
(`placer.problem.compile.pair_reasons`), so it runs on any fleet `solve` handles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from placer.analysis.diff_time import spans_text
from placer.errors import OptionError
from placer.model.scenario import Scenario
from placer.plan.plan import Plan
from placer.plan.plan_problem import plan_problem
from placer.plan.score_schedule import check_schedule, schedule_of
from placer.plan.scoring import assignment_of
from placer.problem.compile import pair_reasons
from placer.problem.form import Index, Problem, reason_names
from placer.problem.preempt import Schedule, pool_segments, schedule_pools
from placer.problem.rows import KIND_NAMES, Q_CARBON, Q_COST, Q_GPUS, Q_WATER
from placer.problem.soft import soft_mask
from placer.problem.usage import Loads, compute_loads, preempted

_TOL = 1e-6


@dataclass(frozen=True)
class Option:
    """One pool a unit could use, with its terms (all per hour of running)."""

    pool: str
    objective_usd_per_h: float
    cost_usd_per_h: float
    carbon_kg_per_h: float
    water_l_per_h: float
    latency_ms: float | None
    gpus: float
    chosen: bool
    delta_usd_per_h: float | None  # objective minus the chosen pool's (None if unplaced)
    blocked_by: list[str] = field(default_factory=list)  # empty: it would fit


@dataclass(frozen=True)
class Exclusion:
    """Pools the mask rules out for one reason (or one combination of reasons)."""

    reasons: list[str]
    count: int
    examples: list[str]


@dataclass(frozen=True)
class UnitWhy:
    """The explanation for one placement unit."""

    unit: str
    kind: str
    region: str | None
    chosen: str | None
    unplaced_value_usd_per_h: float
    options: list[Option]
    exclusions: list[Exclusion]
    prices: list[str]


def explain_workload(
    scenario: Scenario, plan: Plan, workload: str, *, top: int = 5
) -> list[UnitWhy]:
    """Explains every unit of `workload` in `plan` (see the module docstring).

    Args:
      top: allowed alternatives listed per unit besides the chosen pool.

    Raises:
      OptionError: no such workload (with the ids that exist), a plan of another
        scenario, or a run paused or moved where it may not be.
    """
    ids = [w.id for w in scenario.workloads]
    if workload not in ids:
        raise OptionError(
            f"--workload {workload!r}: no such workload; the scenario has: {', '.join(ids)}"
        )
    problem, index = plan_problem(scenario, [plan])
    assign = assignment_of(plan, index, skip_preempted=True)
    schedule = schedule_of(plan, index)
    check_schedule(problem, schedule, index)
    units = [u for u, unit in enumerate(index.units) if unit.workload == workload]
    reasons = pair_reasons(scenario, units)
    return [
        _explain_unit(problem, index, plan, assign, schedule, u, reasons[i], top)
        for i, u in enumerate(units)
    ]


def _explain_unit(
    problem: Problem,
    index: Index,
    plan: Plan,
    assign: np.ndarray,
    schedule: Schedule,
    u: int,
    reason_p: np.ndarray,
    top: int,
) -> UnitWhy:
    chosen = int(assign[u])
    others = assign.copy()
    others[u] = -1
    rest = {v: value for v, value in schedule.items() if v != u}
    loads = compute_loads(problem, others, rest)
    own = _scheduled(problem, index, u, schedule[u]) if u in schedule else None
    options_u, slots_u = problem.options_of(u)
    slot_of = dict(zip(options_u.tolist(), slots_u.tolist(), strict=True))
    objective = problem.objective_usd_per_h_uk[u]
    order = options_u[np.argsort(objective[slots_u], kind="stable")]
    listed = [int(o) for o in order[:top]]
    if chosen >= 0 and chosen not in listed and chosen in slot_of:
        listed.append(chosen)
    base = objective[slot_of[chosen]] if chosen in slot_of else None
    if own is not None:
        base = own.objective_usd_per_h
    unit = index.units[u]

    def option(o: int) -> Option:
        k = slot_of[o]
        amount = problem.amount_quk[:, u, k]
        return Option(
            pool=_option_name(index, problem, o),
            objective_usd_per_h=float(objective[k]),
            cost_usd_per_h=float(amount[Q_COST]),
            carbon_kg_per_h=float(amount[Q_CARBON]),
            water_l_per_h=float(amount[Q_WATER]),
            latency_ms=float(problem.latency_ms_uk[u, k]) if unit.kind == "inference" else None,
            gpus=float(amount[Q_GPUS]),
            chosen=o == chosen,
            delta_usd_per_h=None if base is None else float(objective[k] - base),
            blocked_by=[] if o == chosen else _blockers(problem, index, loads, others, u, o),
        )

    options = [option(o) for o in listed]
    if own is not None:
        options.append(own)
    options.sort(key=lambda opt: opt.objective_usd_per_h)
    sites = {index.pools[int(problem.pool_o[o])].site for o in listed}
    if u in schedule:
        sites |= {index.pools[p].site for p in schedule_pools(schedule[u])}
    prices = [
        f"{c.site} {c.resource}: {c.usd_per_h_per_unit:,.4f} USD/h per {c.unit}"
        for c in plan.capacity_prices
        if c.site in sites or c.site == "*"
    ]
    return UnitWhy(
        unit=unit.name,
        kind=unit.kind,
        region=unit.region,
        chosen=own.pool if own is not None else _name_or_none(index, problem, chosen),
        unplaced_value_usd_per_h=float(problem.unplaced_usd_per_h_u[u]),
        options=options,
        exclusions=_exclusions(index, reason_p),
        prices=prices,
    )


def _scheduled(problem: Problem, index: Index, u: int, value: tuple) -> Option:
    """The chosen line of a run the plan pauses or moves: its schedule, priced as the plan
    pays it (`usage.preempted`: its periods, the dataset's egress, its moves)."""
    terms = preempted(problem, {u: value})
    assert terms is not None  # check_schedule: the Problem has the run's table
    return Option(
        pool=schedule_name(index, value),
        objective_usd_per_h=terms.objective_usd_per_h,
        cost_usd_per_h=float(terms.total_q[Q_COST]),
        carbon_kg_per_h=float(terms.total_q[Q_CARBON]),
        water_l_per_h=float(terms.total_q[Q_WATER]),
        latency_ms=None,
        gpus=float(terms.total_q[Q_GPUS]),
        chosen=True,
        delta_usd_per_h=None,
    )


def _name_or_none(index: Index, problem: Problem, o: int) -> str | None:
    return _option_name(index, problem, o) if o >= 0 else None


def schedule_name(index: Index, value: tuple) -> str:
    """A paused or moved run's schedule: its pool and the first and last period of each
    segment ("fra/L4@0-1,5-6"), a new pool named where the run moves
    ("fra/L4@0-1,ams/H100@2-3")."""
    segments = pool_segments(list(value[1]), schedule_pools(value))
    return spans_text([(first, n, index.pools[p].name) for first, n, p in segments])


def _option_name(index: Index, problem: Problem, o: int) -> str:
    """The pool of an option; in a timed problem also its first period ("pool@12"); a
    prefill/decode pair "site/prefill+decode"."""
    name = index.pools[int(problem.pool_o[o])].name
    decode = index.decode_pool_of(o)
    if decode is not None:
        name = f"{name}+{index.pools[decode].key}"
    return name if index.time is None else f"{name}@{int(index.time.start_o[o])}"


#: How each row kind is named when it blocks a move: (label, unit); None: by name only.
_BLOCKER_LABELS = {
    "it_kw": ("IT power", "kW"),
    "facility_kw": ("facility power", "kW"),
    "heat_kw": ("heat rejection", "kW"),
    "water_l_per_h": ("water", "L/h"),
    "budget_usd_per_h": ("budget", None),
    "carbon_kg_per_h": ("carbon cap", None),
}


#: Blocking capacities listed per option (a timed run may be blocked in many periods).
MAX_BLOCKERS = 3


def _blockers(
    problem: Problem, index: Index, loads: Loads, others: np.ndarray, u: int, o: int
) -> list[str]:
    """Which capacities stop unit u from moving to option o, given the rest of the plan."""
    out: list[str] = []
    k = int(problem.slots_of(u, np.array([o]))[0])
    soft = soft_mask(problem)  # a priced grid event's cap is paid, never a blocker
    for j, r in enumerate(problem.row_oj[o].tolist()):
        if r < 0 or soft[r]:
            continue
        need = float(problem.amount_quk[problem.quantity_oj[o, j], u, k])
        if problem.scale_oj is not None:
            need *= float(problem.scale_oj[o, j])
        load, cap, kind = loads.loads_r[r], problem.cap_r[r], KIND_NAMES[problem.kind_r[r]]
        when = "" if index.time is None else f" in period {int(index.time.period_r[r])}"
        if kind == "gpus":
            if load + need > cap + _TOL:
                out.append(
                    f"pool GPUs{when}: {load:,.0f} of {cap:,.0f} used by others, needs {need:,.0f}"
                )
            continue
        if load + need <= cap * (1 + _TOL) + _TOL:
            continue
        label, unit = _BLOCKER_LABELS.get(kind, (kind, ""))
        if kind == "water_l_per_h" and problem.scale_oj is not None and index.time is not None:
            when = f" on the day from period {int(index.time.period_r[r])}"  # water_days
            unit = "L/h (the day's mean)"
        if unit is None:
            out.append(label)
        else:
            site = index.sites[int(problem.scope_r[r])]
            out.append(
                f"{site} {label}{when}: {load:,.1f} of {cap:,.1f} {unit} used by others, "
                f"needs {need:,.1f}"
            )
    if index.time is not None and len(out) > MAX_BLOCKERS:  # a run blocked in many periods
        out = [*out[:MAX_BLOCKERS], f"... and {len(out) - MAX_BLOCKERS} more periods"]
    g = int(problem.group_u[u])
    if g >= 0:
        mates = np.nonzero((problem.group_u == g) & (others >= 0))[0]
        if (problem.spread_key_go[g, others[mates]] == problem.spread_key_go[g, o]).any():
            out.append("redundancy: another copy already uses this site / failure domain")
    return out


def _exclusions(index: Index, reason_p: np.ndarray) -> list[Exclusion]:
    groups: dict[int, list[str]] = {}
    for p in np.nonzero(reason_p)[0]:
        groups.setdefault(int(reason_p[p]), []).append(index.pools[p].name)
    return [
        Exclusion(reasons=reason_names(bits), count=len(names), examples=names[:3])
        for bits, names in sorted(groups.items(), key=lambda kv: -len(kv[1]))
    ]


def why_text(explanations: list[UnitWhy]) -> str:
    """Human-readable explanation (what `placer explain ... --workload` prints)."""
    lines: list[str] = []
    for w in explanations:
        where = f" for {w.region}" if w.region else ""
        lines.append(f"{w.unit} ({w.kind}{where}): " + (w.chosen or "NOT PLACED"))
        if w.chosen is None:
            lines.append(f"  left out; value lost {w.unplaced_value_usd_per_h:,.2f} USD/h")
        if w.options:
            lines.append(
                "  pools allowed, best objective first (USD/h; carbon kg/h; water L/h; RTT ms):"
            )
        for o in w.options:
            mark = "->" if o.chosen else "  "
            rtt = "" if o.latency_ms is None else f"  rtt {o.latency_ms:5.1f}"
            delta = "" if o.delta_usd_per_h is None or o.chosen else f" ({o.delta_usd_per_h:+,.2f})"
            lines.append(
                f"  {mark} {o.pool:<28} objective {o.objective_usd_per_h:>11,.2f}{delta}  "
                f"cost {o.cost_usd_per_h:,.2f}  carbon {o.carbon_kg_per_h:,.1f}  "
                f"water {o.water_l_per_h:,.1f}{rtt}"
            )
            if o.blocked_by:
                lines.append(f"       does not fit: {'; '.join(o.blocked_by)}")
            elif not o.chosen and o.delta_usd_per_h is not None and o.delta_usd_per_h < -_TOL:
                lines.append(
                    f"       fits: moving this unit here alone saves {-o.delta_usd_per_h:,.2f} "
                    "USD/h (the plan is not optimal)"
                )
        for e in w.exclusions:
            more = f", ... ({e.count} pools)" if e.count > len(e.examples) else ""
            lines.append(f"  excluded by {' + '.join(e.reasons)}: {', '.join(e.examples)}{more}")
        for price in w.prices:
            lines.append(f"  binding capacity: {price}")
    return "\n".join(lines) + "\n"


__all__ = ["Exclusion", "Option", "UnitWhy", "explain_workload", "why_text"]
