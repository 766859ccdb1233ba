"""One sweep, three executors: wall time in process, in a process pool and on Ray, and
whether the results are identical.

Two sweeps, each run through `placer.analysis.whatif.run_whatif` with every executor
(`placer.analysis.executor`):

  n1-sites  N-1 over the sites of gen-{units}x{pools}-s{seed}
            (`placer.model.generate.generate_scenario`), MILP
  whatif    configs/eu_sovereign.yaml: every site lost in turn, plus three --set
            variants (more IT power, a carbon price, demand x1.5), MILP

Executors: `inprocess` (the baseline), `process` (a pool of --workers spawned
processes, started inside the timed run: a CLI run pays it every time) and `ray` (a local
Ray of --workers CPUs, started once before the timed runs, as a running cluster would
be; its start is reported as ray_init_s). A "skipped" line replaces Ray's when it is
not installed (pip install 'placer[ray]').

Protocol (../shared/BENCHMARKS.md): one warm-up run per executor (none with --quick),
then --repeats timed runs; median, min and max wall time; ratio = median / in-process
median. `identical`: every run's report and plans equal the first in-process run's once
wall times and the durations in solver messages are left out
(`whatif_report.without_timings`); `differences` names the first few that do not. Every
solve is exact (MILP to its gap, one solver thread) and --time-limit-s leaves it room to
end on its own, so that the results may be equal. One JSON line per (sweep, executor)
on stdout; progress on stderr. The default run takes about 30 minutes on 2 CPUs.

Example: python scripts/bench_sweep.py --quick
         python scripts/bench_sweep.py --sweeps whatif --executors inprocess,ray
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
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "eu_sovereign.yaml"
SETS = (
    "sites.fra-hall.power.it_capacity_kw=+2000",
    "objective.carbon_price_usd_per_t=100",
    "workloads.eu-chat.demand_rps.de-fra=*1.5",
)


def log(text: str) -> None:
    print(f"bench_sweep: {text}", file=sys.stderr, flush=True)


def sweeps(args: argparse.Namespace) -> list[tuple[str, str, dict[str, Any], list, str | None]]:
    """(sweep, instance, document, variants, n1) for each sweep."""
    from placer.analysis.whatif_parse import fail_site_variant, n1_variants, parse_variant
    from placer.model.generate import generate_scenario
    from placer.model.yaml_text import read_document

    fleet = generate_scenario(units=args.units, pools=args.pools, seed=args.seed)
    gen = fleet.model_dump(mode="json", exclude_none=True)
    config, _ = read_document(str(CONFIG))
    config_variants = [fail_site_variant(s["id"]) for s in config["sites"]]
    config_variants += [parse_variant(text) for text in SETS]
    return [
        ("n1-sites", fleet.metadata.name, gen, [v for _, v in n1_variants(gen, "sites")], "sites"),
        ("whatif", CONFIG.name, config, config_variants, None),
    ]


def timed(run: Callable[[], Any], repeats: int, warm_up: bool) -> tuple[list[float], list[Any]]:
    """One warm-up call (unless `warm_up` is false), then `repeats` timed calls: (wall
    times s, results)."""
    from placer.analysis.whatif_report import without_timings

    if warm_up:
        run()
    walls, results = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        out = run()
        walls.append(time.perf_counter() - started)
        results.append(without_timings([out.report, *out.plans]))
    return walls, results


def executors(args: argparse.Namespace) -> list[tuple[str, Callable[[], Any] | None]]:
    """(name, a function that makes the executor, or None when it is unavailable)."""
    from placer.analysis.executor import InProcess, ProcessPool, RayExecutor

    try:
        import ray  # noqa: F401
    except ImportError:
        return [("inprocess", InProcess), ("process", lambda: ProcessPool(args.workers)),
                ("ray", None)]  # fmt: skip
    return [
        ("inprocess", InProcess),
        ("process", lambda: ProcessPool(args.workers)),
        ("ray", RayExecutor),
    ]


def start_ray(workers: int) -> dict[str, Any]:
    """Starts a local Ray (once, before Ray's timed runs: a running cluster's start is
    not part of a sweep); returns its version and start time."""
    import ray

    started = time.perf_counter()
    ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False)
    return {"ray": ray.__version__, "ray_init_s": round(time.perf_counter() - started, 2)}


def differences(a: Any, b: Any, path: str = "", limit: int = 5) -> list[str]:
    """The first few paths where two results differ (with both values, shortened)."""
    if type(a) is not type(b) or not isinstance(a, (dict, list)):
        return [] if a == b else [f"{path or '.'}: {str(a)[:60]!r} != {str(b)[:60]!r}"]
    if isinstance(a, list) and len(a) != len(b):
        return [f"{path}: {len(a)} != {len(b)} items"]
    keys = sorted(set(a) | set(b)) if isinstance(a, dict) else range(len(a))
    out: list[str] = []
    for k in keys:
        x = a.get(k) if isinstance(a, dict) else a[k]
        y = b.get(k) if isinstance(b, dict) else b[k]
        out += differences(x, y, f"{path}.{k}" if isinstance(a, dict) else f"{path}[{k}]", limit)
        if len(out) >= limit:
            return out[:limit]
    return out


def machine() -> dict[str, Any]:
    import jax

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "jax_backend": jax.default_backend(),
        **{name: version(name) for name in ("jax", "jaxlib", "ortools", "numpy", "ray")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=None, help="fleet units (500; 100 quick)")
    parser.add_argument("--pools", type=int, default=None, help="fleet pools (20; 6 quick)")
    parser.add_argument("--seed", type=int, default=1, help="fleet and solver seed")
    parser.add_argument("--workers", type=int, default=2, help="pool processes, Ray CPUs")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs (5; 1 quick)")
    parser.add_argument(
        "--time-limit-s",
        type=float,
        default=600.0,
        help="per solve, s: room for every solve to end on its own (at 120 s, one N-1 "
        "solve of gen-500x20 that takes 82 s alone hit the limit in a 2-worker pool)",
    )
    parser.add_argument("--sweeps", default="n1-sites,whatif", help="comma-separated")
    parser.add_argument("--executors", default="inprocess,process,ray", help="comma-separated")
    parser.add_argument(
        "--quick", action="store_true", help="a small run without warm-ups, about a minute"
    )
    args = parser.parse_args()
    args.units = args.units or (100 if args.quick else 500)
    args.pools = args.pools or (6 if args.quick else 20)
    args.repeats = args.repeats or (1 if args.quick else 5)
    if args.quick:
        args.time_limit_s = min(args.time_limit_s, 30.0)

    from placer.analysis.whatif import run_whatif
    from placer.cli.common import use_jax_compilation_cache

    use_jax_compilation_cache()  # the pool's workers read the same cache
    env = machine()
    options = {"solver": "milp", "time_limit_s": args.time_limit_s, "seed": args.seed}
    cases = [c for c in sweeps(args) if c[0] in args.sweeps.split(",")]
    reference: dict[str, list] = {}
    base_wall: dict[str, float] = {}
    # executors outside, sweeps inside: Ray starts after the others have run, so that
    # its idle processes take nothing from their timings
    for name, make in [e for e in executors(args) if e[0] in args.executors.split(",")]:
        notes: dict[str, Any] = {"start_method": "spawn"} if name == "process" else {}
        if name == "ray" and make is not None:
            notes = start_ray(args.workers)
        for sweep, instance, doc, variants, n1 in cases:
            common = {"bench": "sweep", "sweep": sweep, "instance": instance}
            common |= {"variants": len(variants), "solver": "milp", "seed": args.seed}
            common |= {"time_limit_s": args.time_limit_s, "workers": args.workers}
            if make is None:
                skipped = "ray is not installed (pip install 'placer[ray]')"
                print(json.dumps({**common, "executor": name, "skipped": skipped, "machine": env}))
                continue
            log(f"{sweep} on {name}: {args.repeats} run(s)" + ("" if args.quick else " + warm-up"))

            def run(make=make, doc=doc, variants=variants, instance=instance, n1=n1):
                with make() as executor:
                    return run_whatif(doc, variants, source=instance, executor=executor,
                                      n1=n1, **options)  # fmt: skip

            walls, results = timed(run, args.repeats, warm_up=not args.quick)
            reference.setdefault(sweep, results[0])
            median = statistics.median(walls)
            base = base_wall.setdefault(sweep, median)
            statuses: dict[str, int] = {}
            for v in results[0][0]["variants"]:
                statuses[v["kpis"]["status"]] = statuses.get(v["kpis"]["status"], 0) + 1
            line = {
                **common,
                "executor": name,
                **notes,
                "runs": args.repeats,
                "wall_s": round(median, 3),
                "wall_min_s": round(min(walls), 3),
                "wall_max_s": round(max(walls), 3),
                "baseline": "inprocess",
                "baseline_wall_s": round(base, 3),
                "ratio_vs_baseline": round(median / base, 3),
                "identical": all(r == reference[sweep] for r in results),
                "identical_runs": sum(r == reference[sweep] for r in results),
                "differences": next(
                    (differences(reference[sweep], r) for r in results if r != reference[sweep]),
                    [],
                ),
                "statuses": statuses,
                # this process only: a pool's or Ray's workers are not counted
                "driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                "machine": env,
            }
            print(json.dumps(line), flush=True)
            log(f"{sweep} {name}: {median:.2f} s, identical={line['identical']}")


if __name__ == "__main__":
    main()
