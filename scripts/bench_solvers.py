#!/usr/bin/env python3
"""Benchmarks every placer solver (greedy, milp, relax, search, hybrid) on seeded synthetic fleets.

For every instance `gen-UxP-sSEED` (`placer.model.generate.generate_scenario(U, P, seed)`), the
script:

  1. generates the scenario (`generate_s`) and compiles it once (`compile_s`,
     `placer.problem.compile.compile_problem`: the one Problem every solver reads), in
     this process, watched: past --max-rss-gb the compile is interrupted and the
     instance skipped (one "skipped" line);
  2. picks the hybrid's path, the only layout choice left ("layout" on every line of
     the instance): "dense" is `solve_hybrid_full` (a relaxation of the whole fleet),
     "sparse" is `solve_large_hybrid` (prices from a sample of units). --layout auto
     (the default) runs `solve_hybrid` as a user gets it, which takes the sparse path
     above LARGE_MIN_CELLS units x (options + 1); --max-pairs-dense N, with --layout
     auto, instead takes the sparse path above N units x pools; --layout dense or
     sparse forces one path. Every other solver reads the same Problem whatever the
     layout, so none is skipped (on the largest fleets a solver that cannot cope is
     killed by the memory or time guard below and reported as such);
  3. runs greedy, the baseline, then every solver of --solvers, each in its own forked
     child (one solver's memory or crash cannot touch the others; `peak_rss_mb` is the
     child's peak resident set and includes the Problem it inherits), with
     SolveOptions(time_limit_s, seed, workers); a child past --max-rss-gb, or alive
     3 x limit + 300 s, is killed and reported (status "harness_rss_limit" or
     "harness_timeout"; a crash is "harness_crash");
  4. checks each plan: `violations(problem, assign)` must be empty for "optimal" and
     "feasible" (`valid`), the objective is re-scored with `objective_value`, and
     "optimal" must agree with the reported bound and the relative gap target
     (`status_consistent`); `overran_limit` flags a wall time past 1.05 x limit + 1 s;
     `limit_ratio` is wall_s / time_limit_s (--busy N runs N busy loops beside, as on a
     loaded machine; `busy_processes` says how many).

Protocol notes (shared/BENCHMARKS.md): every line carries greedy's objective from the
same run and the ratio to it. There is no warm-up: each solve runs in a fresh child, so
its wall time includes the JAX compilation a user's first solve pays (relax, search and
hybrid JIT-compile their kernels; milp has no JIT). One timed run per solver by default
(--repeats N gives the median, min and max wall of N runs; the quality figures are
those of the first run): these are time-limited searches, and the figures that matter
are objective, bound and gap at that limit. Greedy always runs (it is the baseline); it
gets a line only when it is in --solvers.

Output: one JSON object per line on stdout; a human table on stderr.

Usage:
    python scripts/bench_solvers.py --quick
    python scripts/bench_solvers.py --sizes 2000x50,10000x100 --time-limit-s 30
    python scripts/bench_solvers.py --sizes 50000x200 --solvers relax,hybrid --time-limit-s 120
    python scripts/bench_solvers.py --time-limit-s 30,10000x100=60,50000x200=120
    python scripts/bench_solvers.py --sizes 50000x200 --solvers hybrid --layout sparse
    python scripts/bench_solvers.py --sizes 10000x100 --time-limit-s 30 --busy 2
"""

from __future__ import annotations

import _thread
import argparse
import math
import multiprocessing as mp
import os
import statistics
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
for _p in (REPO_ROOT, Path(__file__).resolve().parent):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import numpy as np  # noqa: E402
from bench_milp import (  # noqa: E402
    _finite,
    _fmt,
    _fmt_pct,
    _round,
    emit,
    log,
    machine_info,
    peak_rss_mb,
    problem_digest,
    rel_gap,
)

from placer.api import HYBRID_PATHS  # noqa: E402
from placer.engines.base import SolveOptions  # noqa: E402
from placer.engines.registry import SOLVERS  # noqa: E402
from placer.engines.search.hybrid import LARGE_MIN_CELLS  # noqa: E402
from placer.model.generate import generate_scenario  # noqa: E402
from placer.problem.compile import compile_problem  # noqa: E402
from placer.problem.form import UNPLACED, Problem  # noqa: E402
from placer.problem.usage import objective_value, violations  # noqa: E402

DEFAULT_SIZES = "2000x50,10000x100,50000x200,100000x1000"
DEFAULT_SOLVERS = "greedy,milp,relax,search,hybrid"
QUICK_SIZES = "200x10"
QUICK_TIME_LIMIT_S = 5.0
DEFAULT_TIME_LIMIT_S = 30.0
BASELINE = "greedy"


# ---------------------------------------------------------------------------------------
# Arguments


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="JSON lines on stdout, table on stderr. See shared/BENCHMARKS.md.\n\n"
        + __doc__.split("\n\n", 1)[1],
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run under a minute: {QUICK_SIZES} only, {QUICK_TIME_LIMIT_S:g} s limits",
    )
    ap.add_argument("--seed", type=int, default=2, help="scenario and solver seed (default 2)")
    ap.add_argument(
        "--sizes",
        default=None,
        help=f'instances UNITSxPOOLS, comma-separated (default "{DEFAULT_SIZES}"; '
        f'"{QUICK_SIZES}" with --quick)',
    )
    ap.add_argument(
        "--solvers",
        default=DEFAULT_SOLVERS,
        help=f'solvers, comma-separated, from {",".join(SOLVERS)} (default "{DEFAULT_SOLVERS}")',
    )
    ap.add_argument(
        "--time-limit-s",
        default=None,
        help=f"limit per solve, s: a number, and/or per-size overrides SIZE=SECONDS, "
        f'comma-separated, e.g. "30,10000x100=60" (default {DEFAULT_TIME_LIMIT_S:g}; '
        f"{QUICK_TIME_LIMIT_S:g} with --quick)",
    )
    ap.add_argument(
        "--layout",
        choices=sorted(HYBRID_PATHS),
        default="auto",
        help="the hybrid's path (the only layout choice left: every other solver reads the "
        'same Problem): "dense" solve_hybrid_full (a relaxation of the whole fleet), '
        '"sparse" solve_large_hybrid (prices from a sample of units), "auto" solve_hybrid, '
        f"sparse above {LARGE_MIN_CELLS:.0e} units x (options + 1) (default auto)",
    )
    ap.add_argument(
        "--max-pairs-dense",
        type=float,
        default=None,
        help="picks the hybrid's path by this threshold instead of solve_hybrid's own: "
        "sparse (solve_large_hybrid) above this many units x pools, dense "
        "(solve_hybrid_full) at or below; only with --layout auto (default: unset, "
        "solve_hybrid decides)",
    )
    ap.add_argument(
        "--max-rss-gb",
        type=float,
        default=None,
        help="memory guard, GiB: interrupt a compile (the instance is skipped) and kill a "
        "solver child that passes it (default 80%% of RAM)",
    )
    ap.add_argument("--workers", type=int, default=1, help="SolveOptions.workers (default 1)")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs of each solver (default 1)")
    ap.add_argument(
        "--busy",
        type=int,
        default=0,
        help="busy-loop processes run beside the whole benchmark, one core's worth each: "
        "does each solve still end near its limit on a loaded machine? (default 0; "
        "scripts/bench_time_limits.py measures the whole `placer solve` call)",
    )
    args = ap.parse_args(argv)

    args.sizes = parse_sizes(ap, args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES))
    args.solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    unknown = [s for s in args.solvers if s not in SOLVERS]
    if unknown or not args.solvers:
        ap.error(f"unknown solver(s) {unknown}; choose from {list(SOLVERS)}")
    default_limit = QUICK_TIME_LIMIT_S if args.quick else DEFAULT_TIME_LIMIT_S
    args.default_limit_s, args.limit_overrides = parse_limits(ap, args.time_limit_s, default_limit)
    if args.max_rss_gb is None:
        args.max_rss_gb = round(0.8 * total_memory_gb(), 1)
    if args.max_pairs_dense is not None and args.layout != "auto":
        ap.error("--max-pairs-dense picks the hybrid's path: use it with --layout auto only")
    if (
        args.max_rss_gb <= 0
        or (args.max_pairs_dense is not None and args.max_pairs_dense <= 0)
        or args.workers < 1
    ):
        ap.error("--max-rss-gb, --max-pairs-dense and --workers must be positive")
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    return args


def parse_sizes(ap: argparse.ArgumentParser, text: str) -> list[tuple[int, int]]:
    out = []
    for spec in text.split(","):
        spec = spec.strip().lower()
        if spec:
            out.append(parse_size(ap, spec))
    if not out:
        ap.error("--sizes names no instance")
    return out


def parse_size(ap: argparse.ArgumentParser, spec: str) -> tuple[int, int]:
    try:
        units, pools = (int(v) for v in spec.lower().split("x"))
    except ValueError:
        ap.error(f"bad size {spec!r}: want UNITSxPOOLS, e.g. 2000x50")
    if units < 1 or pools < 1:
        ap.error(f"bad size {spec!r}: units and pools must be >= 1")
    return units, pools


def parse_limits(
    ap: argparse.ArgumentParser, text: str | None, default: float
) -> tuple[float, dict[tuple[int, int], float]]:
    """("30,10000x100=60") -> (30.0, {(10000, 100): 60.0})."""
    overrides: dict[tuple[int, int], float] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        size, _, value = item.rpartition("=")
        try:
            seconds = float(value)
        except ValueError:
            ap.error(f"bad --time-limit-s item {item!r}: want SECONDS or UNITSxPOOLS=SECONDS")
        if not seconds > 0 or not math.isfinite(seconds):
            ap.error(f"bad --time-limit-s item {item!r}: the limit must be > 0")
        if size:
            overrides[parse_size(ap, size)] = seconds
        else:
            default = seconds
    return default, overrides


def total_memory_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return 16.0


# ---------------------------------------------------------------------------------------
# Machine (JAX is initialised in a child: the parent must stay fork-safe)


def _child_jax_info() -> dict:
    import jax

    devices = jax.devices()
    return {
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in devices],
        "jax_device_count": len(devices),
    }


def bench_machine(max_rss_gb: float) -> dict:
    machine = machine_info()
    info = run_isolated(_child_jax_info, timeout_s=120, max_rss_bytes=None)
    machine.update({k: v for k, v in info.items() if k.startswith("jax_")})
    if "harness_error" in info:
        machine["jax_backend"] = None
        machine["jax_error"] = info["harness_error"]
    machine["memory_gb"] = round(total_memory_gb(), 1)
    machine["max_rss_gb"] = max_rss_gb
    return machine


# ---------------------------------------------------------------------------------------
# Child processes, with a memory watchdog


def current_rss_bytes(pid: int) -> int | None:
    """Resident set of `pid` now (Linux /proc), or None where unknown."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _child_main(conn, fn, args: tuple) -> None:
    try:
        out = fn(*args)
        out["peak_rss_mb"] = peak_rss_mb()
        conn.send(out)
    except BaseException as e:  # report, never hang the parent
        conn.send({"harness_error": f"{type(e).__name__}: {e}", "status": "harness_error"})
    finally:
        conn.close()


def run_isolated(fn, *args, timeout_s: float, max_rss_bytes: int | None) -> dict:
    """fn(*args) -> dict in a forked child; killed past timeout_s or max_rss_bytes."""
    sys.stdout.flush()
    sys.stderr.flush()
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(send, fn, args), daemon=True)
    t0 = time.perf_counter()
    proc.start()
    send.close()
    out: dict | None = None
    max_seen = 0
    try:
        while out is None:
            if recv.poll(0.25):
                out = recv.recv()
                break
            rss = current_rss_bytes(proc.pid)
            if rss is not None:
                max_seen = max(max_seen, rss)
            elapsed = time.perf_counter() - t0
            if max_rss_bytes is not None and rss is not None and rss > max_rss_bytes:
                proc.kill()
                out = {
                    "status": "harness_rss_limit",
                    "harness_error": f"killed at {rss / 2**30:.2f} GiB resident "
                    f"(limit {max_rss_bytes / 2**30:.2f} GiB) after {elapsed:.1f} s",
                    "wall_s": elapsed,
                }
            elif elapsed > timeout_s:
                proc.kill()
                out = {
                    "status": "harness_timeout",
                    "harness_error": f"killed after {timeout_s:g} s",
                    "wall_s": elapsed,
                }
            elif not proc.is_alive() and not recv.poll(0):
                proc.join(1)
                out = {
                    "status": "harness_crash",
                    "harness_error": f"child died (exit code {proc.exitcode})",
                    "wall_s": elapsed,
                }
    except EOFError:
        proc.join(5)
        out = {
            "status": "harness_crash",
            "harness_error": f"child died (exit code {proc.exitcode})",
            "wall_s": time.perf_counter() - t0,
        }
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()
        recv.close()
    if "peak_rss_mb" not in out and max_seen:
        out["peak_rss_mb"] = round(max_seen / 2**20, 1)  # sampled: a lower bound
        out["peak_rss_sampled"] = True
    return out


def _child_solve(problem: Problem, name: str, opts: SolveOptions, path: str) -> dict:
    """One solve; `path` is the hybrid's ("auto", "dense" or "sparse": `HYBRID_PATHS`)."""
    t0 = time.perf_counter()
    solve = HYBRID_PATHS[path] if name == "hybrid" else SOLVERS[name]
    res = solve(problem, opts)
    wall = time.perf_counter() - t0
    assign = np.asarray(res.assign_u)
    obj = _finite(res.objective_usd_per_h)
    has_plan = obj is not None or res.status in ("optimal", "feasible")
    bad = violations(problem, assign) if has_plan else None  # None: no plan to check
    return {
        "wall_s": wall,
        "status": res.status,
        "objective": obj,
        "rescored_objective": objective_value(problem, assign) if has_plan else None,
        "bound": _finite(res.bound_usd_per_h),
        "bound_scope": res.bound_scope,
        "message": res.message,
        "diagnostics": list(res.diagnostics),
        "placed": int((assign != UNPLACED).sum()),
        "must_place_unplaced": int((problem.must_place_u & (assign == UNPLACED)).sum()),
        "violations": bad,
    }


# ---------------------------------------------------------------------------------------
# Generate + compile in this process, watched


class RssWatch:
    """Interrupts the main thread (KeyboardInterrupt) when this process passes a limit."""

    def __init__(self, limit_bytes: float) -> None:
        self.limit = limit_bytes
        self.tripped_at: int | None = None
        self.max_seen = 0
        self._stop = threading.Event()
        self._armed = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self._armed.wait()  # an interrupt inside __enter__ would escape the `with`
        while True:
            rss = current_rss_bytes(os.getpid())
            if rss is None:
                return  # no /proc: no guard
            self.max_seen = max(self.max_seen, rss)
            if rss > self.limit:
                self.tripped_at = rss
                _thread.interrupt_main()
                return
            if self._stop.wait(0.2):
                return

    def __enter__(self) -> RssWatch:
        self._thread.start()
        self._armed.set()
        return self

    def __exit__(self, *exc) -> bool:
        self._stop.set()
        self._thread.join()
        # Swallow only our own interrupt; the caller reads `tripped_at`.
        return exc[0] is KeyboardInterrupt and self.tripped_at is not None


# ---------------------------------------------------------------------------------------
# Main loop


def time_limit_for(args: argparse.Namespace, units: int, pools: int) -> float:
    return args.limit_overrides.get((units, pools), args.default_limit_s)


def hybrid_path(args: argparse.Namespace, units: int, pools: int, options: int) -> tuple[str, str]:
    """(path, layout): the `HYBRID_PATHS` key the hybrid runs with, and the "layout" it
    takes: "dense" (`solve_hybrid_full`) or "sparse" (`solve_large_hybrid`)."""
    if args.layout != "auto":
        return args.layout, args.layout
    if args.max_pairs_dense is not None:
        layout = "sparse" if units * pools > args.max_pairs_dense else "dense"
        return layout, layout
    # solve_hybrid's own rule (placer.engines.search.hybrid.solve_hybrid)
    return "auto", "sparse" if units * (options + 1) > LARGE_MIN_CELLS else "dense"


def skip(common: dict, machine: dict, reason: str, **extra) -> dict:
    rec = {**common, "solver": None, "status": "skipped", "reason": reason, **extra}
    rec["machine"] = machine
    emit(rec)
    log(f"\n== {common['instance']}: SKIPPED: {reason}")
    return rec


def bench_instance(units: int, pools: int, args, machine) -> list[dict]:
    name = f"gen-{units}x{pools}-s{args.seed}"
    limit = time_limit_for(args, units, pools)
    common = {
        "bench": "solvers",
        "instance": name,
        "units": units,
        "pools": pools,
        "seed": args.seed,
        "scenario_seed": args.seed,
        "time_limit_s": limit,
        "workers": args.workers,
    }
    # The hybrid's path; an option is a pool today, so O = P until the compile says.
    common["layout"] = hybrid_path(args, units, pools, pools)[1]
    limit_bytes = args.max_rss_gb * 2**30
    gen_s = compile_s = None
    with RssWatch(limit_bytes) as watch:
        t0 = time.perf_counter()
        scenario = generate_scenario(units, pools, args.seed)
        gen_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        problem, _ = compile_problem(scenario)
        compile_s = time.perf_counter() - t0
        del scenario
    if watch.tripped_at is not None:
        stage = "generate" if gen_s is None else "compile"
        reason = (
            f"{stage} passed --max-rss-gb {args.max_rss_gb:g} "
            f"({watch.tripped_at / 2**30:.2f} GiB resident), interrupted"
        )
        return [skip(common, machine, reason, generate_s=_round(gen_s))]

    path, common["layout"] = hybrid_path(
        args, problem.num_units, problem.num_pools, problem.num_options
    )
    common.update(
        {
            "units": problem.num_units,
            "pools": problem.num_pools,
            "sites": problem.num_sites,
            "groups": problem.num_groups,
            "allowed_pairs": problem.num_pairs(),
            "must_place": int(problem.must_place_u.sum()),
            "problem_digest": problem_digest(problem),
            "generate_s": _round(gen_s),
            "compile_s": _round(compile_s),
            "compile_rss_mb": round(watch.max_seen / 2**20, 1) or None,
            "parent_peak_rss_mb": peak_rss_mb(),
        }
    )
    log(
        f"\n== {name}: {problem.num_units} units x {problem.num_pools} pools, "
        f"{common['allowed_pairs']:,} allowed pairs, {common['must_place']} must-place; "
        f"generate {gen_s:.2f} s, compile {compile_s:.2f} s; limit {limit:g} s; "
        f"hybrid path {common['layout']} ({path}); "
        f"parent peak RSS {common['parent_peak_rss_mb']} MB"
    )
    log(_row_header())

    opts = SolveOptions(time_limit_s=limit, seed=args.seed, workers=args.workers)
    kill_after = 3 * limit + 300

    def run(solver: str) -> dict:
        runs = [
            run_isolated(
                _child_solve,
                problem,
                solver,
                opts,
                path,
                timeout_s=kill_after,
                max_rss_bytes=limit_bytes,
            )
            for _ in range(args.repeats)
        ]
        first = dict(runs[0])
        walls = [r["wall_s"] for r in runs if r.get("wall_s") is not None]
        first["walls"] = walls
        first["peak_rss_mb"] = max((r.get("peak_rss_mb") or 0.0) for r in runs) or None
        return first

    base = run(BASELINE)
    base_obj = base.get("objective")
    order = [BASELINE] + [s for s in args.solvers if s != BASELINE]
    records = []
    for solver in order:
        res = base if solver == BASELINE else run(solver)
        if solver not in args.solvers:
            continue
        rec = record(common, solver, res, base, base_obj, opts, machine)
        emit(rec)
        log(_row(rec))
        records.append(rec)
    return records


_BUSY = {"n": 0}


def _spin() -> None:
    while True:
        pass


def start_busy(n: int) -> list:
    """Starts n busy-loop processes (terminated by the caller); records n for the lines."""
    _BUSY["n"] = n
    procs = [mp.get_context("fork").Process(target=_spin, daemon=True) for _ in range(n)]
    for p in procs:
        p.start()
    return procs


def opts_busy() -> int:
    """Busy-loop processes running beside this benchmark (--busy)."""
    return _BUSY["n"]


def record(common, solver, res, base, base_obj, opts, machine) -> dict:
    obj, bound = res.get("objective"), res.get("bound")
    walls = res.get("walls") or []
    wall = statistics.median(walls) if walls else None
    status = res.get("status")
    bad = res.get("violations")
    claims_plan = status in ("optimal", "feasible")
    gap = rel_gap(obj, bound)
    rec = {
        **common,
        "solver": solver,
        "wall_s": _round(wall),
        "wall_s_min": _round(min(walls)) if walls else None,
        "wall_s_max": _round(max(walls)) if walls else None,
        "runs": len(walls),
        "overran_limit": None if wall is None else wall > 1.05 * opts.time_limit_s + 1.0,
        "limit_ratio": None if wall is None else _round(wall / opts.time_limit_s, 4),
        "busy_processes": opts_busy(),
        "objective": _round(obj, 4),
        "bound": _round(bound, 4),
        "bound_scope": res.get("bound_scope"),
        "gap": None if gap is None else _round(gap, 6) + 0.0,  # + 0.0: no "-0.0"
        "status": status,
        "status_consistent": status_consistent(res, opts.relative_gap),
        "relative_gap_target": opts.relative_gap,
        "valid": (not bad) if claims_plan else None,
        "violations": bad,
        "objective_rescored_matches": (
            None
            if obj is None or res.get("rescored_objective") is None
            else math.isclose(obj, res["rescored_objective"], rel_tol=1e-9, abs_tol=1e-6)
        ),
        "placed": res.get("placed"),
        "must_place_unplaced": res.get("must_place_unplaced"),
        "message": res.get("message") or res.get("harness_error"),
        "diagnostics": res.get("diagnostics"),
        "baseline": BASELINE,
        "baseline_status": base.get("status"),
        "baseline_objective": _round(base_obj, 4),
        "baseline_wall_s": _round(statistics.median(base["walls"]) if base["walls"] else None),
        "ratio_vs_baseline": (_round(obj / base_obj, 6) if obj is not None and base_obj else None),
        "peak_rss_mb": res.get("peak_rss_mb"),
        "machine": machine,
    }
    if res.get("peak_rss_sampled"):
        rec["peak_rss_sampled"] = True
    if res.get("harness_error"):
        rec["harness_error"] = res["harness_error"]
    return rec


def status_consistent(res: dict, target: float) -> bool | None:
    """Whether the status agrees with the answer: a plan for optimal/feasible, and
    "optimal" exactly when a full-scope bound proves the target gap."""
    status = res.get("status")
    if status not in ("optimal", "feasible"):
        return None
    if res.get("objective") is None:
        return False
    if res.get("bound_scope") != "full":
        return None
    g = rel_gap(res.get("objective"), res.get("bound"))
    proven = g is not None and g <= target + 1e-9
    return proven == (status == "optimal")


_COLS = (
    ("solver", 7),
    ("status", 17),
    ("objective", 14),
    ("bound", 14),
    ("scope", 10),
    ("gap", 9),
    ("wall s", 8),
    ("vs greedy", 9),
    ("rss MB", 8),
    ("check", 0),
)


def _row_header() -> str:
    return "   " + " ".join(f"{h:<{w}}" if w else h for h, w in _COLS)


def _row(rec: dict) -> str:
    checks = []
    if rec["valid"] is False:
        checks.append("VIOLATIONS " + "; ".join(rec["violations"]))
    if rec["status_consistent"] is False:
        checks.append("STATUS?")
    if rec["objective_rescored_matches"] is False:
        checks.append("OBJ-MISMATCH")
    if rec["overran_limit"]:
        checks.append("OVERRAN")
    if rec.get("harness_error"):
        checks.append(rec["harness_error"])
    cells = [
        rec["solver"],
        rec["status"] or "?",
        _fmt(rec["objective"], 2),
        _fmt(rec["bound"], 2),
        rec["bound_scope"] or "-",
        _fmt_pct(rec["gap"]),
        _fmt(rec["wall_s"], 1),
        _fmt(rec["ratio_vs_baseline"], 4),
        _fmt(rec["peak_rss_mb"], 0),
        ", ".join(checks) or "ok",
    ]
    return "   " + " ".join(f"{c:<{w}}" if w else c for c, (_, w) in zip(cells, _COLS, strict=True))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine = bench_machine(args.max_rss_gb)
    started = time.perf_counter()
    threshold = args.max_pairs_dense
    by_pairs = "" if threshold is None else f" (sparse above {threshold:g} units x pools)"
    overrides = ", ".join(f"{u}x{p}={s:g}" for (u, p), s in args.limit_overrides.items())
    log(
        f"bench_solvers: {','.join(args.solvers)}; sizes "
        f"{','.join(f'{u}x{p}' for u, p in args.sizes)}; limit {args.default_limit_s:g} s"
        f"{' (' + overrides + ')' if overrides else ''}; seed {args.seed}; "
        f"{machine['cpus']} CPUs, JAX {machine.get('jax_backend')}; "
        f"max RSS {args.max_rss_gb:g} GiB; hybrid layout {args.layout}{by_pairs}"
    )
    records = []
    spinners = start_busy(args.busy)
    try:
        for units, pools in args.sizes:
            records += bench_instance(units, pools, args, machine)
    finally:
        for p in spinners:
            p.terminate()
            p.join()
    solved = [r for r in records if r["status"] != "skipped"]
    log(f"\ndone in {time.perf_counter() - started:.1f} s; {len(records)} lines")
    problems = [
        f"{r['instance']}/{r['solver']}"
        for r in solved
        if r["valid"] is False
        or r["status_consistent"] is False
        or r["objective_rescored_matches"] is False
        or r["status"].startswith("harness")
    ]
    if problems:
        log(f"WARNING: invalid plans, inconsistent statuses or failed runs: {problems}")
    overran = [
        f"{r['instance']}/{r['solver']} ({r['wall_s']} s)" for r in solved if r["overran_limit"]
    ]
    if overran:
        log(f"NOTE: past the time limit: {overran}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
