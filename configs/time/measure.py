"""Measures the figures quoted in configs/time/README.md.

    python configs/time/measure.py [scenario.yaml ...]   # default: the three files here

For each scenario: the compiled size; an exact MILP solve and the greedy baseline (60 s
limit each), with status, objective, gap, the horizon totals (cost USD, carbon kg, water L)
and each training run's start (and whether it is its earliest start); then the MILP again
with the grid events removed, to show whether they bind. Every plan is verified (placer's
solve checks it independently before returning it). `scripts/bench_time.py` gives every
solver against the same baseline.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import placer
import placer.api as api
from placer.problem.compile import compile_problem
from placer.problem.compile_time import training_window

HERE = Path(__file__).resolve().parent
DEFAULT = [HERE / "small_day.yaml", HERE / "us_week.yaml", HERE / "eu_week.yaml"]


def _solve(scenario, solver: str):
    t0 = time.perf_counter()
    plan = api.solve(scenario, solver=solver, time_limit_s=60)
    return plan, time.perf_counter() - t0


def _line(solver: str, plan, wall: float) -> str:
    h = plan.horizon
    head = f"  {solver:6s} {plan.status:10s} {wall:5.1f} s"
    money = f"objective {plan.objective_usd_per_h:,.3f} USD/h  gap {plan.gap}"
    totals = f"cost {h.cost_usd:,.0f} USD  carbon {h.carbon_kg:,.0f} kg  water {h.water_l:,.0f} L"
    return f"{head}  {money}  {totals}"


def _runs(scenario, plan) -> None:
    horizon = scenario.horizon
    gpu_price = {(s.id, p.key): p.cost_usd_per_gpu_h for s in scenario.sites for p in s.pools}
    runs = {w.id: w for w in scenario.workloads if w.kind == "training"}
    early = deferrable = 0
    energy_usd = carbon_kg = 0.0
    for p in sorted(plan.placements, key=lambda p: (p.start_period or 0, p.workload)):
        if p.workload not in runs:
            continue
        w = runs[p.workload]
        first, last_end_h = training_window(w, horizon)
        n = max(1, math.ceil(w.hours / horizon.period_hours - 1e-9))
        fixed = last_end_h - first * horizon.period_hours <= w.hours + 1e-9  # one start only
        at_first = p.start_period == first
        if not fixed:
            deferrable += 1
            early += at_first
            energy_usd += p.cost_usd - p.gpus * gpu_price[(p.site, p.pool)] * w.hours
            carbon_kg += p.carbon_kg
        note = " (no slack)" if fixed else (" = earliest" if at_first else "")
        print(
            f"      {p.workload:22s} {p.site:10s} {p.start} period {p.start_period:3d}"
            f" (earliest {first}, {n} h){note}"
        )
    print(
        f"      deferrable runs started at their earliest start: {early} of {deferrable};"
        f" their energy {energy_usd:,.0f} USD, carbon {carbon_kg:,.0f} kg"
    )


def _event_use(scenario, plan) -> None:
    horizon = scenario.horizon
    use = {sp.site: sp for sp in plan.site_periods}
    for site in scenario.sites:
        for e in site.grid_events:
            a = int(horizon.hours_from_start(e.start) // horizon.period_hours)
            b = a + math.ceil(e.hours / horizon.period_hours)
            sp = use[site.id]
            kw = ", ".join(f"{v:,.0f}" for v in sp.facility_kw[a:b])
            caps = [c for c in sp.facility_cap_kw[a:b] if c is not None]
            cap = f"{min(caps):,.0f}" if caps else "-"
            print(f"      {site.id} during {e.name}: facility {kw} kW (cap during event {cap})")


def measure(path: Path) -> None:
    scenario = placer.load(path)
    t0 = time.perf_counter()
    problem, _ = compile_problem(scenario)
    print(
        f"{path.name}: units x slots {problem.option_uk.shape}, options {problem.num_options},"
        f" rows {problem.num_rows}, compiled in {time.perf_counter() - t0:.1f} s"
    )
    for solver in ("milp", "greedy"):
        plan, wall = _solve(scenario, solver)
        print(_line(solver, plan, wall))
        _runs(scenario, plan)
        _event_use(scenario, plan)
    if any(s.grid_events for s in scenario.sites):
        sites = [s.model_copy(update={"grid_events": []}) for s in scenario.sites]
        plan, wall = _solve(scenario.model_copy(update={"sites": sites}), "milp")
        print("  without the grid events:")
        print(_line("milp", plan, wall))
        _runs(scenario, plan)
        _event_use(scenario, plan)  # the events' hours, in the plan made without them


if __name__ == "__main__":
    for arg in sys.argv[1:] or DEFAULT:
        measure(Path(arg))
