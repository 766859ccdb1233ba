#!/usr/bin/env python3
"""Does `placer solve --time-limit-s T` end within T? The whole call, as a user runs it.

For one generated fleet (`placer.model.generate.generate_scenario(U, P, seed)`, written
to a temporary JSON file), each solver of --solvers runs as its own `placer solve FILE
--solver S --time-limit-s T --quiet` process, first on an idle machine, then beside
--busy N busy-loop processes (each one core's worth of `while True: pass`), as on a
loaded machine. Per run:

  process_wall_s  the process from start to exit (imports, read, compile, solve, plan
                  build, verification, output);
  import_s        the same interpreter importing `placer.api` and `placer.cli.main` and
                  exiting, measured at the same load just before (the median of 3);
  call_wall_s     process_wall_s - import_s: the call the time limit promises;
  limit_ratio     call_wall_s / T (the target is <= 1.10, or within 2 s of T).

Baseline (shared/BENCHMARKS.md): greedy at the same load in the same run (it ignores the
limit: its ratio shows the fixed costs of a call: read, compile, build, verify).

Output: one JSON object per line on stdout; a table on stderr.

Usage:
    python scripts/bench_time_limits.py --quick
    python scripts/bench_time_limits.py --units 10000 --pools 100 --time-limit-s 30 --busy 0,2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = "from placer.cli.main import main; main()"
IMPORTS = "import placer.api, placer.cli.main"
SOLVERS = ("greedy", "milp", "relax", "search", "hybrid")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    ap.add_argument("--quick", action="store_true", help="2,000 x 40, 10 s limit, busy 0,2")
    ap.add_argument("--seed", type=int, default=2, help="scenario and solver seed (default 2)")
    ap.add_argument("--units", type=int, default=10_000)
    ap.add_argument("--pools", type=int, default=100)
    ap.add_argument("--time-limit-s", type=float, default=30.0)
    ap.add_argument("--solvers", default=",".join(SOLVERS))
    ap.add_argument("--busy", default="0,2", help="busy-loop processes beside, per pass")
    args = ap.parse_args(argv)
    if args.quick:
        args.units, args.pools, args.time_limit_s = 2_000, 40, 10.0
    args.solvers = [s for s in args.solvers.split(",") if s]
    unknown = set(args.solvers) - set(SOLVERS)
    if unknown:
        ap.error(f"unknown solver(s) {sorted(unknown)}")
    args.busy = [int(b) for b in args.busy.split(",")]
    if "greedy" not in args.solvers:
        args.solvers.insert(0, "greedy")  # the baseline
    return args


def _spin() -> None:
    while True:
        pass


def _timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    return time.perf_counter() - t0, done


def _machine() -> dict:
    import jax
    import numpy
    import ortools

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "jax_backend": jax.default_backend(),
        "jax": jax.__version__,
        "ortools": ortools.__version__,
        "numpy": numpy.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from placer.model.generate import generate_scenario

    instance = f"gen-{args.units}x{args.pools}-s{args.seed}"
    machine = _machine()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{instance}.json"
        scenario = generate_scenario(units=args.units, pools=args.pools, seed=args.seed)
        path.write_text(scenario.model_dump_json(exclude_none=True))
        for busy in args.busy:
            spinners = [mp.Process(target=_spin, daemon=True) for _ in range(busy)]
            for p in spinners:
                p.start()
            try:
                imports = statistics.median(
                    _timed([sys.executable, "-c", IMPORTS])[0] for _ in range(3)
                )
                baseline = None
                for solver in args.solvers:
                    wall, done = _timed(
                        [sys.executable, "-c", CLI, "solve", str(path), "--solver", solver,
                         "--time-limit-s", f"{args.time_limit_s:g}", "--seed", str(args.seed),
                         "--quiet"]
                    )  # fmt: skip
                    summary = (
                        json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout else {}
                    )
                    call = wall - imports
                    ratio = call / args.time_limit_s
                    if solver == "greedy":
                        baseline = ratio
                    rec = {
                        "bench": "time_limits",
                        "instance": instance,
                        "units": args.units,
                        "pools": args.pools,
                        "seed": args.seed,
                        "solver": solver,
                        "busy_processes": busy,
                        "time_limit_s": args.time_limit_s,
                        "process_wall_s": round(wall, 3),
                        "import_s": round(imports, 3),
                        "call_wall_s": round(call, 3),
                        "limit_ratio": round(ratio, 4),
                        "held": call <= max(1.10 * args.time_limit_s, args.time_limit_s + 2.0),
                        "exit_code": done.returncode,
                        "status": summary.get("status"),
                        "objective": summary.get("objective_usd_per_h"),
                        "bound": summary.get("bound_usd_per_h"),
                        "gap": summary.get("gap"),
                        "baseline": "greedy",
                        "baseline_limit_ratio": None if baseline is None else round(baseline, 4),
                        "machine": machine,
                    }
                    print(json.dumps(rec), flush=True)
                    print(
                        f"{instance} busy={busy} {solver:7s} call {call:7.2f} s "
                        f"ratio {ratio:5.3f} {'ok' if rec['held'] else 'OVER'} "
                        f"{rec['status']} {rec['objective']}",
                        file=sys.stderr,
                        flush=True,
                    )
            finally:
                for p in spinners:
                    p.terminate()
                    p.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
