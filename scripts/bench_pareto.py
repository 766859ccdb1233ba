#!/usr/bin/env python3
"""Benchmarks `placer pareto` (the cost-carbon sweep) against one plain MILP solve.

For every configs/*.yaml and every mode, in one process:

  baseline  `placer.api.solve(scenario, solver="milp")`: compile + solve (with its
            capacity-price LP) + plan build + verify, wall seconds;
  sweep     `placer.analysis.pareto.pareto_front(scenario, --points)`: compile + every solve +
            a verified plan per point (what `placer pareto` does, less the CLI's start-up),
            wall seconds.

Each timed repeat runs the baseline and then the sweep, so every ratio sweep / baseline
comes from back-to-back runs on the same (shared, noisy) machine; the line reports the
medians, min and max over --repeats, after one warm-up run of both.

Modes:
  exact     every point proven within --gap (default 1e-4), budget 300 s;
  gap1pct   every point proven within 1e-2;
  budget2x  the sweep's time budget is 2 x this repeat's baseline: points cut short keep
            their proven gap (`max_gap`, `optimal_points` say how good the front is).

Output: one JSON object per line on stdout (../shared/BENCHMARKS.md); a summary on stderr.

Usage:
    python scripts/bench_pareto.py                # 5 repeats, every config and mode
    python scripts/bench_pareto.py --quick        # 1 repeat, exact mode only
    python scripts/bench_pareto.py --configs us_carbon_vs_price --modes exact,budget2x
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from placer import api  # noqa: E402
from placer.analysis.pareto import pareto_front  # noqa: E402
from placer.problem.compile import compile_problem  # noqa: E402

MODES = ("exact", "gap1pct", "budget2x")


def machine() -> dict:
    out = {"cpus": os.cpu_count(), "python": platform.python_version()}
    for pkg in ("ortools", "numpy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    return out


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def sweep_once(scenario, mode: str, n_points: int, gap: float, seed: int, single_s: float):
    if mode == "exact":
        kw = dict(relative_gap=gap, time_limit_s=300.0)
    elif mode == "gap1pct":
        kw = dict(relative_gap=1e-2, time_limit_s=300.0)
    else:
        kw = dict(relative_gap=gap, time_limit_s=2.0 * single_s)
    front, wall = timed(lambda: pareto_front(scenario, n_points, seed=seed, **kw))
    return front, wall, kw


def bench(path: Path, mode: str, args) -> dict:
    scenario = api.load(path)
    problem, _ = compile_problem(scenario)

    def single() -> float:
        plan, wall = timed(lambda: api.solve(scenario, solver="milp", seed=args.seed))
        assert plan.status == "optimal", plan.status
        return wall

    warm = single()
    sweep_once(scenario, mode, args.points, args.gap, args.seed, warm)
    singles, sweeps, ratios, front, kw = [], [], [], None, {}
    for _ in range(args.repeats):
        s = single()
        front, w, kw = sweep_once(scenario, mode, args.points, args.gap, args.seed, s)
        singles.append(s)
        sweeps.append(w)
        ratios.append(w / s)
    every = front.points + front.dropped
    gaps = [p.gap for p in every]
    return {
        "bench": "pareto",
        "instance": path.stem,
        "units": problem.num_units,
        "pools": problem.num_pools,
        "pairs": problem.num_pairs(),
        "mode": mode,
        "seed": args.seed,
        "points_requested": args.points,
        "relative_gap": kw["relative_gap"],
        "time_limit_s": round(kw["time_limit_s"], 4),
        "repeats": args.repeats,
        "wall_s": round(statistics.median(sweeps), 4),
        "wall_s_min": round(min(sweeps), 4),
        "wall_s_max": round(max(sweeps), 4),
        "baseline": "single_milp_solve",
        "baseline_wall_s": round(statistics.median(singles), 4),
        "baseline_wall_s_min": round(min(singles), 4),
        "baseline_wall_s_max": round(max(singles), 4),
        "ratio_vs_baseline": round(statistics.median(ratios), 2),
        "ratio_min": round(min(ratios), 2),
        "ratio_max": round(max(ratios), 2),
        "status": front.status,
        "points": len(front.points),
        "dropped": len(front.dropped),
        "solves": front.solves,
        "optimal_points": sum(p.status == "optimal" for p in every),
        "max_gap": None if None in gaps else round(max(gaps), 6),
        "carbon_min_kg_per_h": front.carbon_min_kg_per_h,
        "carbon_max_kg_per_h": front.carbon_max_kg_per_h,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="all", help="comma-separated stems, or all")
    parser.add_argument("--modes", default=",".join(MODES), help=f"subset of {MODES}")
    parser.add_argument("--points", type=int, default=20, help="grid points per sweep")
    parser.add_argument("--gap", type=float, default=1e-4, help="per-point relative gap")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="1 repeat, exact mode only")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.modes = 1, "exact"
    paths = sorted((REPO_ROOT / "configs").glob("*.yaml"))
    if args.configs != "all":
        wanted = set(args.configs.split(","))
        paths = [p for p in paths if p.stem in wanted]
    for path in paths:
        for mode in args.modes.split(","):
            line = bench(path, mode, args)
            print(json.dumps(line), flush=True)
            print(
                f"{line['instance']:>20} {mode:>8}: sweep {line['wall_s']:.2f} s vs single "
                f"{line['baseline_wall_s']:.3f} s = {line['ratio_vs_baseline']:.1f}x "
                f"[{line['ratio_min']:.1f}-{line['ratio_max']:.1f}], {line['points']} points, "
                f"{line['solves']} solves, max gap {line['max_gap']}",
                file=sys.stderr,
            )


if __name__ == "__main__":
    main()
