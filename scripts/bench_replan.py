#!/usr/bin/env python3
"""Benchmarks `placer replan`: a running fleet after a cut at its most loaded site.

For each instance a current plan is made first (the hybrid on the generated fleet, the
MILP on a config), written and read back as `--current` would read it. The event cuts
the IT capacity of the site that draws the most IT power in that plan to 75% of what
it draws (a 25% cut of the load it carries: the cap binds whatever the nameplate was).
Then, in this order and each timed:

  * `replan` (fewest moves that restore feasibility, then the moves worth making, with
    the default payback of 168 h): `moves`, `moves_lower_bound` (no feasible plan needs
    fewer: `placer.analysis.replan_moves.moves_lower_bound`, or the MILP's proof when
    every unit was free), `fewest_moves`, `objective`, `wall_s`, `scope`;
  * the baseline, a full re-solve of the changed scenario from scratch
    (`placer.api.solve`, the same solver and time limit): `full_resolve_objective`,
    `full_resolve_moves` (running units it puts elsewhere), `full_resolve_wall_s`;
  * `replan --max-moves floor(1.2 x moves_lower_bound)` (`"variant": "budget-1.2x"`):
    the issue's target, a plan that moves at most 1.2 x the minimum and is within 1%
    of the full re-solve's objective;
  * with --curve, one line per point of `replan --curve` (`"point"`).

`ratio_moves_vs_lower_bound` = moves / moves_lower_bound, and `objective_vs_full_resolve`
= replan objective / full re-solve objective - 1 (negative: replan is better).

Protocol (../shared/BENCHMARKS.md): one timed run per instance; the figures that matter
are moves against the bound and the objective against the full re-solve at the limit.
Output: one JSON object per line on stdout; a summary on stderr.

Usage:
    python scripts/bench_replan.py --quick
    python scripts/bench_replan.py --sizes 10000x100 --time-limit-s 30 --curve
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
for _p in (REPO_ROOT, Path(__file__).resolve().parent):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from bench_milp import emit, log, machine_info, peak_rss_mb  # noqa: E402

from placer.analysis.replan import ReplanOptions, replan  # noqa: E402
from placer.analysis.replan_current import read_current  # noqa: E402
from placer.analysis.whatif_apply import build_variant  # noqa: E402
from placer.analysis.whatif_parse import parse_variant  # noqa: E402
from placer.api import solve  # noqa: E402
from placer.model.generate import generate_scenario  # noqa: E402
from placer.model.yaml_text import read_document  # noqa: E402
from placer.plan.scoring import assignment_of  # noqa: E402
from placer.problem.compile import compile_problem  # noqa: E402


def _instances(args):
    for size in [s for s in args.sizes.split(",") if s]:
        units, pools = (int(x) for x in size.split("x"))
        scenario = generate_scenario(units, pools, seed=args.seed)
        doc = scenario.model_dump(mode="json", exclude_none=True)
        yield f"gen-{units}x{pools}-s{args.seed}", doc, "hybrid"
    for name in [c for c in args.configs.split(",") if c]:
        doc, _ = read_document(REPO_ROOT / "configs" / name)
        yield name, doc, "milp"


def _event(plan) -> str:
    site = max(plan.sites, key=lambda s: s.it_kw)
    return f"sites.{site.site}.power.it_capacity_kw={0.75 * site.it_kw:.6f}"


def run(name: str, doc: dict, solver: str, args, folder: Path) -> None:
    from placer.model.load import validate_model
    from placer.model.scenario import Scenario

    base = validate_model(Scenario, doc, source=name)
    plan = solve(base, solver=solver, time_limit_s=args.time_limit_s, seed=args.seed)
    current = folder / f"{name}.json"
    current.write_text(plan.model_dump_json())
    event = _event(plan)
    record = {
        "bench": "replan",
        "instance": name,
        "seed": args.seed,
        "units": len(plan.placements) + len(plan.unplaced),
        "solver": solver,
        "time_limit_s": args.time_limit_s,
        "event": event,
        "current_objective_before_event": plan.objective_usd_per_h,
    }
    started = time.perf_counter()
    options = ReplanOptions(time_limit_s=args.time_limit_s, seed=args.seed)
    report = replan(
        doc, read_current(current), source=name, events=parse_variant(event), options=options
    )
    wall = time.perf_counter() - started
    after, _ = build_variant(doc, parse_variant(event), source=name, index=1)
    started = time.perf_counter()
    full = solve(after, solver=solver, time_limit_s=args.time_limit_s, seed=args.seed)
    full_wall = time.perf_counter() - started
    _, index = compile_problem(after)
    now, again = assignment_of(plan, index), assignment_of(full, index)
    full_moves = int(((now >= 0) & (again != now)).sum())
    objective = report.objective_usd_per_h
    record |= {
        "moves": report.moves,
        "fewest_moves": report.fewest_moves,
        "moves_lower_bound": report.moves_lower_bound,
        "ratio_moves_vs_lower_bound": report.moves / max(report.moves_lower_bound, 1),
        "objective": objective,
        "objective_with_moves": report.objective_with_moves_usd_per_h,
        "move_cost_usd": report.move_cost_usd,
        "scope": report.scope,
        "wall_s": round(wall, 3),
        "full_resolve_objective": full.objective_usd_per_h,
        "full_resolve_gap": full.gap,
        "full_resolve_moves": full_moves,
        "full_resolve_wall_s": round(full_wall, 3),
        "objective_vs_full_resolve": (
            objective / full.objective_usd_per_h - 1 if full.objective_usd_per_h else None
        ),
        "peak_rss_mb": peak_rss_mb(),
        "machine": machine_info(),
    }
    emit(record)
    log(
        f"{name}: replan {report.moves} moves (fewest {report.fewest_moves}, bound "
        f"{report.moves_lower_bound}), objective {objective:,.2f} in {wall:.1f} s; full "
        f"re-solve {full.objective_usd_per_h or float('nan'):,.2f} with {full_moves} moves "
        f"in {full_wall:.1f} s"
    )
    limit = int(1.2 * report.moves_lower_bound)
    options = ReplanOptions(time_limit_s=args.time_limit_s, seed=args.seed, max_moves=limit)
    started = time.perf_counter()
    capped = replan(
        doc, read_current(current), source=name, events=parse_variant(event), options=options
    )
    wall = time.perf_counter() - started
    emit(
        {
            "bench": "replan",
            "instance": name,
            "variant": "budget-1.2x",
            "max_moves": limit,
            "moves": capped.moves,
            "moves_lower_bound": capped.moves_lower_bound,
            "ratio_moves_vs_lower_bound": capped.moves / max(capped.moves_lower_bound, 1),
            "objective": capped.objective_usd_per_h,
            "full_resolve_objective": full.objective_usd_per_h,
            "objective_vs_full_resolve": (
                capped.objective_usd_per_h / full.objective_usd_per_h - 1
                if full.objective_usd_per_h
                else None
            ),
            "wall_s": round(wall, 3),
            "scope": capped.scope,
        }
    )
    log(
        f"{name}: replan --max-moves {limit}: {capped.moves} moves, objective "
        f"{capped.objective_usd_per_h:,.2f} in {wall:.1f} s"
    )
    if args.curve:
        options = ReplanOptions(time_limit_s=args.curve_time_limit_s, seed=args.seed, curve=True)
        started = time.perf_counter()
        report = replan(
            doc, read_current(current), source=name, events=parse_variant(event), options=options
        )
        wall = time.perf_counter() - started
        for p in report.curve:
            emit(
                {
                    "bench": "replan",
                    "instance": name,
                    "point": "curve",
                    "max_moves_pct": p.max_moves_pct,
                    "max_moves": p.max_moves,
                    "moves": p.moves,
                    "objective": p.objective_usd_per_h,
                    "move_cost_usd": p.move_cost_usd,
                    "scope": p.scope,
                    "curve_wall_s": round(wall, 3),
                }
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000x100", help="UNITSxPOOLS,... generated")
    parser.add_argument("--configs", default="us_carbon_vs_price.yaml", help="configs/ files")
    parser.add_argument("--time-limit-s", type=float, default=30.0)
    parser.add_argument("--curve", action="store_true", help="also the moves/objective curve")
    parser.add_argument("--curve-time-limit-s", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a run of under a minute")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.time_limit_s, args.curve_time_limit_s = "400x20", 10.0, 15.0
    with tempfile.TemporaryDirectory() as folder:
        for name, doc, solver in _instances(args):
            run(name, doc, solver, args, Path(folder))


if __name__ == "__main__":
    main()
    # a MILP thread past its limit must not hold (or crash) the exit: every line is out
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
