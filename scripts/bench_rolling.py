"""Rolling-horizon re-planning against perfect foresight and the agnostic baseline.

For each week scenario (configs/time/eu_week.yaml, us_week.yaml): re-plan every 6 h with a
48 h lookahead and a persistence forecast (same hour yesterday), commit 6 h at a time,
evaluate the realised schedule with the actual prices and carbon, and compare it with the
perfect-foresight plan (one MILP solve of the week) and greedy (sees neither prices nor
carbon). One JSON object per line on stdout (../shared/BENCHMARKS.md), a summary on stderr.

Usage: python scripts/bench_rolling.py [--quick] [--seed N] [--time-limit-s S] [--preemptible]
                                       [--startup-usd USD] [--migration-usd USD]
  --quick: configs/time/small_day.yaml only (under a minute).
  --preemptible: every training run may pause and resume (`preemptible: true`, the
    default restore overhead); the instance is named `<config>+preemptible`.
  --startup-usd USD: every inference service pays USD per replica started
    (`startup_usd_per_replica`); the instance is named `<config>+startup<USD>`.
  --migration-usd USD: every training run may move between pools at USD per move
    (`migration_usd`, the default overhead); the instance is named `<config>+migrate<USD>`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def machine() -> dict:
    from placer.api import versions

    out = {"cpus": os.cpu_count(), "python": platform.python_version()}
    out.update({k: v for k, v in versions().items() if k in ("numpy", "ortools", "jax")})
    return out


def run(path: Path, args: argparse.Namespace, forecast: str) -> dict:
    from placer.analysis.rolling import roll
    from placer.api import load

    scenario = load(path)
    name = path.stem
    if args.preemptible or args.startup_usd is not None or args.migration_usd is not None:
        from placer.model.scenario import Scenario

        doc = scenario.model_dump(mode="json", exclude_none=True)
        for w in doc["workloads"]:
            if w["kind"] == "training" and args.preemptible:
                w["preemptible"] = True
            if w["kind"] == "training" and args.migration_usd is not None:
                w["migration_usd"] = args.migration_usd
            if w["kind"] == "inference" and args.startup_usd is not None:
                w["startup_usd_per_replica"] = args.startup_usd
        scenario = Scenario.model_validate(doc)
        name += "+preemptible" if args.preemptible else ""
        name += f"+startup{args.startup_usd:g}" if args.startup_usd is not None else ""
        name += f"+migrate{args.migration_usd:g}" if args.migration_usd is not None else ""
    started = time.perf_counter()
    report = roll(
        scenario,
        every_periods=args.every,
        lookahead_periods=args.lookahead,
        forecast=forecast,
        solver="milp",
        time_limit_s=args.time_limit_s,
        oracle_time_limit_s=args.oracle_time_limit_s,
        seed=args.seed,
    )
    wall = time.perf_counter() - started
    r, o, b = report.rolling, report.oracle, report.baseline
    assert o is not None and b is not None
    return {
        "bench": "rolling",
        "instance": name,
        "periods": report.periods,
        "forecast": forecast,
        "every_periods": args.every,
        "lookahead_periods": args.lookahead,
        "solver": "milp",
        "seed": args.seed,
        "time_limit_s": args.time_limit_s,
        "replans": report.replans,
        "cost_usd": round(r.cost_usd, 2),
        "carbon_kg": round(r.carbon_kg, 2),
        "objective_usd": round(r.objective_usd, 2),
        "moves": r.moves,
        "paused_runs": r.paused_runs,
        "migrated_runs": sum(
            1 for p in report.plan.placements if p.kind == "training" and (p.moves or 0) > 0
        )
        if report.plan is not None
        else None,
        "move_cost_usd": round(r.move_cost_usd, 2),
        "startup_cost_usd": round(report.plan.horizon.startup_cost_usd, 2)
        if report.plan is not None and report.plan.horizon is not None
        else None,
        "runs_missed": len(r.runs_missed),
        "unserved_units": r.unserved_units,
        "violations": len(r.violations),
        "oracle_cost_usd": round(o.cost_usd, 2),
        "oracle_carbon_kg": round(o.carbon_kg, 2),
        "oracle_objective_usd": round(o.objective_usd, 2),
        "oracle_moves": o.moves,
        "oracle_paused_runs": o.paused_runs,
        "oracle_move_cost_usd": round(o.move_cost_usd, 2),
        "oracle_status": o.status,
        "gap_vs_oracle_cost_pct": _round(report.gap_vs_oracle_cost_pct),
        "gap_vs_oracle_carbon_pct": _round(report.gap_vs_oracle_carbon_pct),
        "gap_vs_oracle_objective_pct": _round(report.gap_vs_oracle_objective_pct),
        "gap_vs_oracle_cost_with_moves_pct": _round(report.gap_vs_oracle_cost_with_moves_pct),
        "baseline": "greedy",
        "baseline_cost_usd": round(b.cost_usd, 2),
        "baseline_carbon_kg": round(b.carbon_kg, 2),
        "savings_vs_baseline_cost_pct": _round(report.savings_vs_baseline_cost_pct),
        "savings_vs_baseline_carbon_pct": _round(report.savings_vs_baseline_carbon_pct),
        "oracle_savings_vs_baseline_cost_pct": _round(report.oracle_savings_vs_baseline_cost_pct),
        "oracle_savings_vs_baseline_carbon_pct": _round(
            report.oracle_savings_vs_baseline_carbon_pct
        ),
        "rolling_wall_s": r.wall_s,
        "oracle_wall_s": o.wall_s,
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "machine": machine(),
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small_day.yaml only (< 1 min)")
    parser.add_argument("--seed", type=int, default=0, help="solver seed (the configs are fixed)")
    parser.add_argument("--every", type=int, default=6, help="periods between re-plans")
    parser.add_argument("--lookahead", type=int, default=48, help="periods each re-plan sees")
    parser.add_argument("--time-limit-s", type=float, default=5.0, help="limit per re-plan, s")
    parser.add_argument("--oracle-time-limit-s", type=float, default=120.0)
    parser.add_argument(
        "--preemptible", action="store_true", help="every training run may pause and resume"
    )
    parser.add_argument(
        "--startup-usd",
        type=float,
        default=None,
        help="every inference service pays this many USD per replica started",
    )
    parser.add_argument(
        "--migration-usd",
        type=float,
        default=None,
        help="every training run may move between pools at this many USD per move",
    )
    parser.add_argument(
        "--forecast",
        action="append",
        choices=("persistence", "perfect"),
        help="forecasts to run (repeatable; default: persistence and perfect)",
    )
    args = parser.parse_args()
    names = ["small_day"] if args.quick else ["eu_week", "us_week"]
    forecasts = args.forecast or ["persistence", "perfect"]
    for name in names:
        for forecast in forecasts:
            line = run(ROOT / "configs" / "time" / f"{name}.yaml", args, forecast)
            print(json.dumps(line), flush=True)
            print(
                f"{line['instance']} {forecast}: cost {line['cost_usd']:,.0f} USD "
                f"({line['gap_vs_oracle_cost_pct']:+.3f}% vs oracle), carbon "
                f"{line['carbon_kg']:,.0f} kg ({line['gap_vs_oracle_carbon_pct']:+.3f}%), "
                f"{line['moves']} moves; saves {line['savings_vs_baseline_cost_pct']:.2f}% "
                f"cost, {line['savings_vs_baseline_carbon_pct']:.2f}% carbon vs greedy "
                f"(oracle {line['oracle_savings_vs_baseline_cost_pct']:.2f}%, "
                f"{line['oracle_savings_vs_baseline_carbon_pct']:.2f}%); {line['wall_s']:.0f} s",
                file=sys.stderr,
                flush=True,
            )


if __name__ == "__main__":
    main()
