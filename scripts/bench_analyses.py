"""Every analysis on one generated fleet: wall time and peak memory against a solve's.

Runs, each in its own process (so that its peak resident set is its own), on
gen-{units}x{pools}-s{seed} built by `placer.model.generate.generate_scenario`:

  solve             placer.solve (auto solver), the plan the later analyses read
  explain           placer.explain: binding capacities and their prices
  explain-workload  placer.analysis.explain.explain_workload for the first workload
  whatif            run_whatif: the first site loses 25% of its IT power
  pareto            pareto_front with 3 carbon caps
  report            the HTML report of the plan (with the front when pareto ran)
  diff              diff_plans of the plan against greedy's

through the Python API: a 100k-unit scenario file (46 MB) is over the CLI's input cap of
today (16 MiB, `placer.model.yaml_text.MAX_FILE_BYTES`). Prints one JSON line per
analysis (../shared/BENCHMARKS.md); the baseline is the solve of the same fleet, and the
ratios are the analysis's wall time and peak RSS over the solve's.

Example: python scripts/bench_analyses.py --units 100000 --pools 1000 --seed 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ANALYSES = ("solve", "explain", "explain-workload", "whatif", "pareto", "report", "diff")


def run_one(name: str, args: argparse.Namespace, work: Path) -> dict:
    """One analysis in this process; returns its figures."""
    from placer import api
    from placer.model.generate import generate_scenario
    from placer.plan.plan import Plan

    started = time.perf_counter()
    scenario = generate_scenario(units=args.units, pools=args.pools, seed=args.seed)
    limit = args.time_limit_s
    plan_path, front_path = work / "plan.json", work / "front.json"
    out: dict = {}
    if name == "solve":
        plan = api.solve(scenario, time_limit_s=limit, seed=args.seed)
        plan_path.write_text(plan.model_dump_json())
        out = {"status": plan.status, "solver": plan.solver, "objective": plan.objective_usd_per_h}
        out |= {"bound": plan.bound_usd_per_h, "gap": plan.gap}
    elif name == "explain":
        plan = api.explain(scenario, time_limit_s=limit)
        out = {"status": plan.status, "capacity_prices": len(plan.capacity_prices)}
    elif name == "explain-workload":
        from placer.analysis.explain import explain_workload, why_text

        plan = Plan.model_validate_json(plan_path.read_text())
        why = explain_workload(scenario, plan, scenario.workloads[0].id)
        out = {"units": len(why), "lines": why_text(why).count("\n")}
    elif name == "whatif":
        from placer.analysis.whatif import parse_variant, run_whatif

        doc = scenario.model_dump(mode="json", exclude_none=True)
        change = f"sites.{scenario.sites[0].id}.power.it_capacity_kw=-25%"
        del scenario  # as the CLI: it holds the document, not a Scenario
        run = run_whatif(doc, [parse_variant(change)], time_limit_s=limit, seed=args.seed)
        variant = run.report.variants[0]
        out = {"change": change, "status": variant.kpis.status, "units_moved": variant.units_moved}
    elif name == "pareto":
        from placer.analysis.pareto import pareto_front

        front = pareto_front(scenario, 3, time_limit_s=limit, seed=args.seed)
        front_path.write_text(front.model_dump_json())
        out = {"status": front.status, "solver": front.solver, "points": len(front.points)}
    elif name == "report":
        from placer.outputs.html_report import load_pareto, render_html

        plan = Plan.model_validate_json(plan_path.read_text())
        front = load_pareto(str(front_path)) if front_path.exists() else None
        page = render_html(scenario, plan, front)
        out = {"html_kib": round(len(page.encode()) / 1024), "pareto": front is not None}
    elif name == "diff":
        from placer.analysis.diff import diff_plans

        plan = Plan.model_validate_json(plan_path.read_text())
        d = diff_plans(plan, api.solve(scenario, solver="greedy"), label_b="greedy")
        out = {"moved": len(d.moved), "newly_placed": len(d.newly_placed)}
    out["wall_s"] = round(time.perf_counter() - started, 2)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def machine() -> dict:
    import jax
    import numpy
    import ortools

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "jax_backend": jax.default_backend(),
        "jax": jax.__version__,
        "numpy": numpy.__version__,
        "ortools": ortools.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--pools", type=int, default=1_000)
    parser.add_argument(
        "--seed", type=int, default=None, help="fleet and solver seed (default 1; 4 with --quick)"
    )
    parser.add_argument(
        "--time-limit-s", type=float, default=120.0, help="limit of each solve, s (default 120)"
    )
    parser.add_argument(
        "--analyses", default=",".join(ANALYSES), help=f"comma-separated, from {ANALYSES}"
    )
    parser.add_argument(
        "--quick", action="store_true", help="2000 units x 50 pools (a feasible seed), 10 s"
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one in this process
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.units, args.pools, args.time_limit_s = 2_000, 50, 10.0
    if args.seed is None:
        args.seed = 4 if args.quick else 1
    if args.one:
        print(json.dumps(run_one(args.one, args, Path(args.work))))
        return
    names = [n for n in args.analyses.split(",") if n]
    if unknown := sorted(set(names) - set(ANALYSES)):
        parser.error(f"unknown analyses {unknown}; choose from {ANALYSES}")
    if names and names[0] != "solve":
        names = ["solve", *[n for n in names if n != "solve"]]  # the plan, and the baseline
    instance = f"gen-{args.units}x{args.pools}-s{args.seed}"
    info = machine()
    base: dict = {}
    with tempfile.TemporaryDirectory() as work:
        for name in names:
            command = [sys.executable, __file__, "--one", name, "--work", work]
            command += ["--units", str(args.units), "--pools", str(args.pools)]
            command += ["--seed", str(args.seed), "--time-limit-s", str(args.time_limit_s)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"{name} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
                continue
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            base = figures if name == "solve" else base
            record = {
                "bench": "analyses",
                "instance": instance,
                "units": args.units,
                "pools": args.pools,
                "seed": args.seed,
                "time_limit_s": args.time_limit_s,
                "analysis": name,
                **figures,
                "baseline": "solve",
                "baseline_wall_s": base.get("wall_s"),
                "baseline_peak_rss_mb": base.get("peak_rss_mb"),
                "ratio_wall_vs_baseline": round(figures["wall_s"] / base["wall_s"], 3),
                "ratio_rss_vs_baseline": round(figures["peak_rss_mb"] / base["peak_rss_mb"], 3),
                "machine": info,
            }
            print(json.dumps(record), flush=True)
            print(
                f"{name:17s} {figures['wall_s']:8.1f} s  {figures['peak_rss_mb'] / 1024:6.2f} GB"
                f"  (x{record['ratio_rss_vs_baseline']:.2f} the solve's memory)",
                file=sys.stderr,
            )


if __name__ == "__main__":
    main()
