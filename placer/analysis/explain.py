"""Why a workload landed where it did: `placer explain SCENARIO PLAN --workload W`.

For each placement unit of the workload (a training gang, or an inference replica set
per region and copy) this compares the pool the plan chose with every other pool:

- allowed pools, cheapest objective first, with their cost / carbon / water / latency
  and the difference to the chosen pool; for each, whether the unit would fit there
  given everything else the plan placed, and if not, which capacity is full (pool GPUs,
  site IT / facility / heat / water, budget, carbon cap, redundancy spread);
- excluded pools, grouped by the mask's reasons (latency SLO, residency, accelerator...);
- the capacity prices of the sites involved, when the plan carries them.

Reads the compiled Problem (the solvers' view), like every solver does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from placer.errors import OptionError
from placer.model.scenario import Scenario
from placer.plan.plan import Plan
from placer.plan.scoring import assignment_of
from placer.problem.compile import compile_problem
from placer.problem.form import Index, Problem, reason_names
from placer.problem.usage import compute_loads

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
      OptionError: no such workload (with the ids that exist), or a plan of another
        scenario.
    """
    ids = [w.id for w in scenario.workloads]
    if workload not in ids:
        raise OptionError(
            f"--workload {workload!r}: no such workload; the scenario has: {', '.join(ids)}"
        )
    problem, index = compile_problem(scenario)
    assign = assignment_of(plan, index)
    units = [u for u, unit in enumerate(index.units) if unit.workload == workload]
    return [_explain_unit(problem, index, plan, assign, u, top) for u in units]


def _explain_unit(
    problem: Problem, index: Index, plan: Plan, assign: np.ndarray, u: int, top: int
) -> UnitWhy:
    chosen = int(assign[u])
    others = assign.copy()
    others[u] = -1
    loads = compute_loads(problem, others)
    allowed = np.nonzero(problem.allowed_up[u])[0]
    order = allowed[np.argsort(problem.objective_usd_per_h_up[u, allowed], kind="stable")]
    listed = [int(p) for p in order[:top]]
    if chosen >= 0 and chosen not in listed:
        listed.append(chosen)
    base = problem.objective_usd_per_h_up[u, chosen] if chosen >= 0 else None
    unit = index.units[u]
    options = [
        Option(
            pool=index.pools[p].name,
            objective_usd_per_h=float(problem.objective_usd_per_h_up[u, p]),
            cost_usd_per_h=float(problem.cost_usd_per_h_up[u, p]),
            carbon_kg_per_h=float(problem.carbon_kg_per_h_up[u, p]),
            water_l_per_h=float(problem.water_l_per_h_up[u, p]),
            latency_ms=float(problem.latency_ms_up[u, p]) if unit.kind == "inference" else None,
            gpus=float(problem.gpus_up[u, p]),
            chosen=p == chosen,
            delta_usd_per_h=None
            if base is None
            else float(problem.objective_usd_per_h_up[u, p] - base),
            blocked_by=[] if p == chosen else _blockers(problem, index, loads, others, u, p),
        )
        for p in sorted(listed, key=lambda p: problem.objective_usd_per_h_up[u, p])
    ]
    sites = {index.pools[p].site for p in listed}
    prices = [
        f"{c.site} {c.resource}: {c.usd_per_h_per_unit:,.4f} USD/h per {c.unit}"
        for c in plan.capacity_prices
        if c.site in sites or c.site == "*"
    ]
    return UnitWhy(
        unit=unit.name,
        kind=unit.kind,
        region=unit.region,
        chosen=index.pools[chosen].name if chosen >= 0 else None,
        unplaced_value_usd_per_h=float(problem.unplaced_usd_per_h_u[u]),
        options=options,
        exclusions=_exclusions(problem, index, u),
        prices=prices,
    )


def _blockers(
    problem: Problem, index: Index, loads, others: np.ndarray, u: int, p: int
) -> list[str]:
    """Which capacities stop unit u from moving to pool p, given the rest of the plan."""
    out: list[str] = []
    s = int(problem.pool_site_p[p])
    site = index.sites[s]
    need = problem.gpus_up[u, p]
    if loads.gpus_p[p] + need > problem.gpu_cap_p[p] + _TOL:
        out.append(
            f"pool GPUs: {loads.gpus_p[p]:,.0f} of {problem.gpu_cap_p[p]:,.0f} used by others, "
            f"needs {need:,.0f}"
        )
    for label, load, cap, table, unit in (
        ("IT power", loads.it_kw_s, problem.it_cap_kw_s, problem.it_kw_up, "kW"),
        ("facility power", loads.facility_kw_s, problem.facility_cap_kw_s,
         problem.facility_kw_up, "kW"),
        ("heat rejection", loads.heat_kw_s, problem.heat_cap_kw_s, problem.heat_kw_up, "kW"),
        ("water", loads.water_l_per_h_s, problem.water_cap_l_per_h_s,
         problem.water_l_per_h_up, "L/h"),
    ):  # fmt: skip
        if load[s] + table[u, p] > cap[s] * (1 + _TOL) + _TOL:
            out.append(
                f"{site} {label}: {load[s]:,.1f} of {cap[s]:,.1f} {unit} used by others, "
                f"needs {table[u, p]:,.1f}"
            )
    if loads.cost_usd_per_h + problem.cost_usd_per_h_up[u, p] > problem.budget_usd_per_h + _TOL:
        out.append("budget")
    if (
        loads.carbon_kg_per_h + problem.carbon_kg_per_h_up[u, p]
        > problem.carbon_cap_kg_per_h + _TOL
    ):
        out.append("carbon cap")
    g = int(problem.group_u[u])
    if g >= 0:
        mates = np.nonzero((problem.group_u == g) & (others >= 0))[0]
        if (problem.spread_key_gp[g, others[mates]] == problem.spread_key_gp[g, p]).any():
            out.append("redundancy: another copy already uses this site / failure domain")
    return out


def _exclusions(problem: Problem, index: Index, u: int) -> list[Exclusion]:
    groups: dict[int, list[str]] = {}
    for p in np.nonzero(~problem.allowed_up[u])[0]:
        groups.setdefault(int(problem.reason_up[u, p]), []).append(index.pools[p].name)
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
