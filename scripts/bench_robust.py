#!/usr/bin/env python3
"""Benchmarks `placer robust`: one plan scored under many sampled scenarios.

Instance: `generate_scenario(units=U, pools=P, seed=--seed)` (default 10,000 x 100),
its plan from --solver (greedy by default; hybrid with --time-limit-s), and the default
uncertainty (placer.model.uncertainty: demand sd 10%, energy price 15%, carbon 10%,
GPU price 5%) plus --site-derate-probability (default 0.05) so capacity rows move too.

Figures (shared/BENCHMARKS.md):
  - scoring: `score_plans` (sampling, mapping, kernel calls of BLOCK samples, counting)
    of --samples samples (default 1,000): one warm-up call (JAX compiles), then
    --repeats timed calls; median / min / max wall_s and samples_per_s;
  - memory: peak resident set of the process (`ru_maxrss`, so it includes the compile
    and the solve) and the resident set just before scoring (from /proc/self/statm);
  - baseline: the float64 NumPy reference (`robust_reference.reference_sample`: the
    explicitly perturbed Problem, `score_batch_numpy` and `usage.row_loads`) on the first
    --reference-samples samples, its seconds per sample and the ratio; and the largest
    relative difference of the objective between the kernel and the reference there.
  - prepare_s: compiling the scenario three times (as written, tariffs halved, GPU
    prices halved: `robust_fleet.cost_split`) and resolving the sampler.

Output: one JSON object per line on stdout (`"bench": "robust"`); a summary on stderr.

Usage:
    python scripts/bench_robust.py --quick
    python scripts/bench_robust.py --seed 1 --samples 1000 --repeats 5
    python scripts/bench_robust.py --solver hybrid --time-limit-s 60
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from importlib import metadata
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from placer import api
from placer.analysis.robust import prepare, score_block, score_plans
from placer.analysis.robust_fleet import expose
from placer.analysis.robust_reference import reference_sample
from placer.analysis.robust_sample import BLOCK
from placer.model.generate import generate_scenario
from placer.model.uncertainty import Uncertainty, with_flags


def machine() -> dict[str, Any]:
    """CPU count, JAX backend and devices, library versions."""

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
        "jax": version("jax"),
        "jaxlib": version("jaxlib"),
        "numpy": version("numpy"),
        "ortools": version("ortools"),
    }


def rss_mb() -> float:
    """Current resident set, MB (Linux), or the peak where /proc is missing."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except OSError:
        return peak_rss_mb()


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--units", type=int, default=10_000)
    ap.add_argument("--pools", type=int, default=100)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1, help="fleet, solve and sample seed")
    ap.add_argument("--solver", default="greedy", help="how the plan is made (greedy, hybrid)")
    ap.add_argument("--time-limit-s", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=5, help="timed runs after one warm-up")
    ap.add_argument("--reference-samples", type=int, default=10)
    ap.add_argument("--site-derate-probability", type=float, default=0.05)
    ap.add_argument(
        "--quick", action="store_true", help="2,000 x 50, 256 samples, 3 repeats (< 1 min)"
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.units, args.pools, args.samples = 2000, 50, 256
        args.repeats, args.reference_samples = 3, 4
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    scenario = generate_scenario(args.units, args.pools, seed=args.seed)
    plan = api.solve(scenario, solver=args.solver, time_limit_s=args.time_limit_s, seed=args.seed)
    solve_s = time.perf_counter() - started
    t0 = time.perf_counter()
    u = with_flags(Uncertainty(), site_derate_probability=args.site_derate_probability)
    sampler = prepare(scenario, u)
    exposure = expose(sampler.fleet, plan, "plan")
    prepare_s = time.perf_counter() - t0
    rss_before = rss_mb()

    def run():
        return score_plans(sampler, [exposure], args.samples, args.seed)[0]

    run()  # warm-up: JAX compiles
    walls = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        tally = run()
        walls.append(time.perf_counter() - t0)
    wall_s = statistics.median(walls)

    # baseline: the float64 NumPy reference of the same samples (block 0)
    n_ref = min(args.reference_samples, BLOCK, args.samples)
    draws = sampler.draw(args.seed, 0)
    pert = sampler.perturbation(exposure, draws)
    problem = sampler.fleet.problem
    t0 = time.perf_counter()
    ref = [reference_sample(problem, exposure.slots_u, pert, b)[0] for b in range(n_ref)]
    ref_per_sample = (time.perf_counter() - t0) / max(n_ref, 1)
    kernel, _, _ = score_block(jnp.asarray(exposure.slots_u), sampler.fleet.kp, pert)
    want = np.array([float(r.objective[0]) for r in ref])
    got = np.asarray(kernel.objective[:n_ref], np.float64)
    max_rel = float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-9)))

    per_sample = wall_s / args.samples
    p = tally.figures
    line = {
        "bench": "robust",
        "instance": f"gen-{args.units}x{args.pools}-s{args.seed}",
        "units": problem.num_units,
        "pools": problem.num_pools,
        "slots": problem.num_slots,
        "rows": problem.num_rows,
        "seed": args.seed,
        "solver": args.solver,
        "plan_status": plan.status,
        "solve_s": round(solve_s, 3),
        "prepare_s": round(prepare_s, 3),
        "samples": args.samples,
        "block": BLOCK,
        "repeats": args.repeats,
        "wall_s": round(wall_s, 4),
        "min_s": round(min(walls), 4),
        "max_s": round(max(walls), 4),
        "samples_per_s": round(args.samples / wall_s, 1),
        "rss_before_score_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "baseline": "numpy_float64_reference",
        "baseline_samples": n_ref,
        "baseline_s_per_sample": round(ref_per_sample, 5),
        "baseline_samples_per_s": round(1.0 / ref_per_sample, 2),
        "ratio_vs_baseline": round(ref_per_sample / per_sample, 1),
        "check_max_rel_diff_objective": max_rel,
        "cost_p50_usd_per_h": round(float(np.percentile(p["cost"], 50)), 2),
        "cost_p95_usd_per_h": round(float(np.percentile(p["cost"], 95)), 2),
        "feasible_share": round(float((~p["violation"].any(axis=1)).mean()), 4),
        "machine": machine(),
    }
    print(json.dumps(line), flush=True)
    print(
        f"robust {line['instance']}: {args.samples} samples in {wall_s:.2f} s "
        f"({line['samples_per_s']:,.0f}/s; min {min(walls):.2f}, max {max(walls):.2f}); "
        f"NumPy reference {ref_per_sample * 1e3:.1f} ms/sample -> x{line['ratio_vs_baseline']}; "
        f"peak RSS {line['peak_rss_mb']:,.0f} MB (before scoring {rss_before:,.0f} MB); "
        f"max rel diff {max_rel:.1e}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
