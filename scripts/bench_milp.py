#!/usr/bin/env python3
"""Benchmarks placer's MILP against greedy and the same model written by hand in PuLP + CBC.

For every instance (seeded synthetic fleets from `placer.model.generate.generate_scenario`, and
every `configs/*.yaml`), the script:

  1. generates or loads the scenario and compiles it once (`compile_s`);
  2. runs greedy (`SOLVERS["greedy"]`): the baseline objective;
  3. builds the MathOpt model once on its own (`build_s`, with its variable and row counts)
     and times the capacity-price LP (`prices_s`) that `solve_milp` runs after every solve
     that found a plan (a GLOP solve of a second, relaxed, model);
  4. for each backend (highs, scip, cpsat), runs `SOLVERS["milp"]` with relative_gap =
     --gap (`wall_s` is the whole call: build + solve + capacity prices, and above
     placer.engines.milp.WARM_START_MIN_PAIRS pairs also its LP warm start and restricted MILP;
     `solve_s` is the time the backend reported for the last MILP solve), then again
     with relative_gap 1e-2 and 1e-3 for time-to-gap: `seconds_to_gap_1pct` and
     `seconds_to_gap_0_1pct` are the wall seconds of the run with that target when it
     proved the target, else null (a run whose target equals --gap is the main run
     itself, not run twice);
  5. writes the same model (0)-(3) by hand in PuLP (what a user would write, and what
     SkyPilot's optimizer does: one binary per allowed (unit, option) pair, built from
     the Problem arrays: every capacity row a pair charges, read off `row_oj`) and
     solves it with PULP_CBC_CMD(threads=1, timeLimit, gapRel=--gap).
     Its plan is re-scored with `placer.problem.usage.objective_value` and checked with
     `placer.problem.usage.violations`. CBC's best bound does not come back through PuLP: it is
     read from CBC's log (`bound_source` says which line), plus the objective constant
     sum_u v[u] that PuLP keeps out of the MPS file.

Every MILP and PuLP run happens in a forked child process, so `peak_rss_mb` is the peak
resident set of that run (it includes the compiled Problem the child inherits), and CBC's
own process is measured apart (`cbc_peak_rss_mb`). A child that outlives
3 x time limit + 300 s is killed and reported with status "harness_timeout".

Protocol notes (shared/BENCHMARKS.md): no warm-up run, because a MILP solve has no JIT or
cache to fill (the solver libraries are imported before the first timed run, and each
run builds its model from scratch); one timed run per configuration by default
(--repeats N gives the median and min/max of N main runs): the large runs are
time-limited searches, and sub-second figures of the small instances are noise-level
(the time-to-gap runs are single runs). Every MILP
line carries its greedy baseline from the same run, and every PuLP line its placer run.
All solvers use one thread (SolveOptions.workers=1; HiGHS's MIP search is serial anyway).

Output: one JSON object per line on stdout; a human summary on stderr.

Usage:
    python scripts/bench_milp.py --quick
    python scripts/bench_milp.py --sizes 200x10,2000x50 --time-limit-s 30
    python scripts/bench_milp.py --sizes 10000x100 --time-limit-s 60 --configs none --no-pulp
    python scripts/bench_milp.py --backends highs,scip,cpsat
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import multiprocessing as mp
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402

from placer.engines.base import SolveOptions  # noqa: E402
from placer.engines.milp.formulation import build_model  # noqa: E402
from placer.engines.milp.prices import capacity_prices  # noqa: E402
from placer.engines.milp.solve import BACKENDS, MAX_PRICE_VARIABLES  # noqa: E402
from placer.engines.registry import SOLVERS  # noqa: E402
from placer.model import load_scenario  # noqa: E402
from placer.model.generate import generate_scenario  # noqa: E402
from placer.problem.compile import compile_problem  # noqa: E402
from placer.problem.form import UNPLACED, Problem  # noqa: E402
from placer.problem.rows import KIND_NAMES, KIND_SCOPE  # noqa: E402
from placer.problem.usage import objective_value, violations  # noqa: E402

GAP_TARGETS = {"seconds_to_gap_1pct": 1e-2, "seconds_to_gap_0_1pct": 1e-3}
QUICK_TIME_LIMIT_S = 5.0
DEFAULT_SIZES = "200x10,2000x50"
_SOLVE_TIME = re.compile(r"after ([0-9.]+) s")


# ---------------------------------------------------------------------------------------
# Harness


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="JSON lines on stdout, summary on stderr. See shared/BENCHMARKS.md.",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run under a minute: 200x10 and the configs, {QUICK_TIME_LIMIT_S:g} s limits",
    )
    ap.add_argument("--seed", type=int, default=1, help="scenario and solver seed (default 1)")
    ap.add_argument(
        "--time-limit-s",
        type=float,
        default=None,
        help=f"limit per solve, s (default 30; {QUICK_TIME_LIMIT_S:g} with --quick)",
    )
    ap.add_argument(
        "--sizes",
        default=None,
        help=f'generated instances UNITSxPOOLS, comma-separated (default "{DEFAULT_SIZES}"; '
        '"200x10" with --quick; "none" for none)',
    )
    ap.add_argument(
        "--backends",
        default="highs",
        help=f"MILP backends, comma-separated, from {','.join(BACKENDS)} (default highs)",
    )
    ap.add_argument(
        "--configs",
        default=None,
        help='scenario files, comma-separated (default: every configs/*.yaml; "none" for none)',
    )
    ap.add_argument("--no-pulp", action="store_true", help="skip the PuLP+CBC comparison")
    ap.add_argument(
        "--gap", type=float, default=1e-3, help="relative gap target of the main runs (1e-3)"
    )
    ap.add_argument(
        "--repeats", type=int, default=1, help="timed runs of each main MILP solve (default 1)"
    )
    args = ap.parse_args(argv)
    if args.time_limit_s is None:
        args.time_limit_s = QUICK_TIME_LIMIT_S if args.quick else 30.0
    if args.sizes is None:
        args.sizes = "200x10" if args.quick else DEFAULT_SIZES
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in args.backends if b not in BACKENDS]
    if unknown:
        ap.error(f"unknown backend(s) {unknown}; choose from {sorted(BACKENDS)}")
    if args.time_limit_s <= 0 or args.gap < 0 or args.repeats < 1:
        ap.error("--time-limit-s must be > 0, --gap >= 0 and --repeats >= 1")
    return args


def machine_info() -> dict:
    """CPU count and library versions (from package metadata: nothing extra imported)."""
    versions = {"python": platform.python_version()}
    for pkg in ("placer", "ortools", "numpy", "pulp", "highspy", "jax", "jaxlib"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[pkg] = metadata.version(pkg)
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "git": _git_describe(),
        "cpus": os.cpu_count(),
        "cpus_usable": usable,
        "platform": platform.platform(),
        "processor": platform.machine(),
        "versions": versions,
    }


def _git_describe() -> str | None:
    """Commit of the checkout, with "+dirty" when tracked files differ from it."""
    try:
        run = dict(cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], **run).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "-uno"], **run).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def problem_digest(problem: Problem) -> str:
    """Short fingerprint of the compiled Problem: same digest, same instance."""
    h = hashlib.sha1()
    _digest_into(h, problem)
    return h.hexdigest()[:12]


def _digest_into(h, value) -> None:
    """Feeds `value` to `h` by content: arrays by dtype, shape and bytes; tuples (the
    Problem's side structures are NamedTuples) field by field; None and scalars by repr.
    (An object array's bytes are pointers, which differ from process to process.)"""
    if isinstance(value, np.ndarray) and value.dtype != object:
        a = np.ascontiguousarray(value)
        h.update(str((a.dtype, a.shape)).encode())
        h.update(a.tobytes())
    elif isinstance(value, tuple | list | np.ndarray):
        h.update(f"{type(value).__name__}[{len(value)}]".encode())
        for item in value:
            _digest_into(h, item)
    else:
        h.update(repr(value).encode())


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set, MiB (Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(who).ru_maxrss
    return round(rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024, 1)


def _child_main(conn, fn: Callable[..., dict], args: tuple) -> None:
    try:
        out = fn(*args)
        out["peak_rss_mb"] = peak_rss_mb()
        conn.send(out)
    except BaseException as e:  # report, never hang the parent
        conn.send({"harness_error": f"{type(e).__name__}: {e}"})
    finally:
        conn.close()


def run_isolated(fn: Callable[..., dict], *args, timeout_s: float) -> dict:
    """Runs fn(*args) -> dict in a forked child (it inherits the Problem; own peak RSS)."""
    sys.stdout.flush()
    sys.stderr.flush()
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(send, fn, args), daemon=True)
    proc.start()
    send.close()
    try:
        if recv.poll(timeout_s):
            out = recv.recv()
        else:
            proc.kill()
            out = {"harness_error": f"killed after {timeout_s:g} s", "status": "harness_timeout"}
    except EOFError:
        out = {"harness_error": f"child died (exit code {proc.exitcode})"}
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()
        recv.close()
    return out


def emit(record: dict) -> None:
    print(json.dumps(record, allow_nan=False, default=_json_default), flush=True)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def rel_gap(objective: float | None, bound: float | None) -> float | None:
    if objective is None or bound is None:
        return None
    return (objective - bound) / max(abs(objective), 1e-9)


def _round(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


# ---------------------------------------------------------------------------------------
# Instances


def instances(args: argparse.Namespace):
    """(name, scenario seed or None, thunk returning the Scenario) for every instance."""
    if args.sizes.strip().lower() != "none":
        for spec in args.sizes.split(","):
            spec = spec.strip().lower()
            if not spec:
                continue
            try:
                units, pools = (int(v) for v in spec.split("x"))
            except ValueError:
                raise SystemExit(f"bad size {spec!r}: want UNITSxPOOLS, e.g. 2000x50") from None
            yield (
                f"gen-{units}x{pools}-s{args.seed}",
                args.seed,
                lambda u=units, p=pools: generate_scenario(u, p, args.seed),
            )
    if args.configs is None:
        paths = sorted((REPO_ROOT / "configs").glob("*.yaml"))
    elif args.configs.strip().lower() == "none":
        paths = []
    else:
        paths = [Path(p.strip()) for p in args.configs.split(",") if p.strip()]
    for path in paths:
        yield path.stem, None, lambda path=path: load_scenario(path)


# ---------------------------------------------------------------------------------------
# placer's MILP (run in children)


def _child_build(problem: Problem) -> dict:
    t0 = time.perf_counter()
    form = build_model(problem)
    build_s = time.perf_counter() - t0
    out = {
        "build_s": build_s,
        "variables": len(form.x),
        "rows": sum(1 for _ in form.model.linear_constraints()),
        "capacity_rows": len(form.capacity_rows),
        "prices_s": None,
    }
    del form
    if out["variables"] <= MAX_PRICE_VARIABLES:
        t0 = time.perf_counter()
        capacity_prices(problem)
        out["prices_s"] = time.perf_counter() - t0
    return out


def _child_milp(problem: Problem, backend: str, gap: float, time_limit_s: float, seed: int):
    opts = SolveOptions(
        time_limit_s=time_limit_s, seed=seed, relative_gap=gap, workers=1, backend=backend
    )
    t0 = time.perf_counter()
    res = SOLVERS["milp"](problem, opts)
    wall = time.perf_counter() - t0
    solve_s = None
    for line in res.diagnostics:
        m = _SOLVE_TIME.search(line)
        if line.startswith("backend") and m:
            solve_s = float(m.group(1))
            break
    bad = violations(problem, res.assign_u) if res.objective_usd_per_h is not None else []
    rescored = (
        objective_value(problem, res.assign_u) if res.objective_usd_per_h is not None else None
    )
    return {
        "wall_s": wall,
        "solve_s": solve_s,
        "status": res.status,
        "objective": _finite(res.objective_usd_per_h),
        "rescored_objective": rescored,
        "bound": _finite(res.bound_usd_per_h),
        "bound_scope": res.bound_scope,
        "message": res.message,
        "diagnostics": list(res.diagnostics),
        "placed": int((res.assign_u != UNPLACED).sum()),
        "violations": bad,
    }


def _limit(args: argparse.Namespace) -> float:
    return 3 * args.time_limit_s + 300


def run_milp(problem: Problem, backend: str, gap: float, args: argparse.Namespace) -> dict:
    return run_isolated(
        _child_milp, problem, backend, gap, args.time_limit_s, args.seed, timeout_s=_limit(args)
    )


def _status_consistent(run: dict, target: float) -> bool | None:
    """Whether "optimal" is claimed exactly when the reported bound proves the target gap."""
    g = rel_gap(run.get("objective"), run.get("bound"))
    if run.get("status") not in ("optimal", "feasible") or run.get("bound_scope") != "full":
        return None
    proven = g is not None and g <= target + 1e-9
    return proven == (run["status"] == "optimal")


def reached(run: dict, target: float) -> bool:
    g = rel_gap(run.get("objective"), run.get("bound"))
    return (
        run.get("status") == "optimal"
        and run.get("bound_scope") == "full"
        and g is not None
        and g <= target + 1e-9
    )


# ---------------------------------------------------------------------------------------
# The same model by hand in PuLP + CBC (run in a child)


def build_pulp(problem: Problem):
    """(0)-(3) of placer.engines.milp.formulation as a PuLP user writes them: dicts of
    binaries, lpSum, one row per constraint (every capacity row with a finite capacity
    that some pair charges, and the global ones; none left out as redundant)."""
    import pulp

    n_units, n_groups = problem.num_units, problem.num_groups
    unit_n, slot_n = np.nonzero(problem.listed_uk)
    pairs = list(zip(unit_n.tolist(), problem.option_uk[unit_n, slot_n].tolist(), strict=True))
    c = problem.objective_usd_per_h_uk[unit_n, slot_n].tolist()
    amount = problem.amount_quk[:, unit_n, slot_n].T.tolist()  # [pair][quantity]
    v = problem.unplaced_usd_per_h_u.tolist()
    must = problem.must_place_u.tolist()
    group_of = problem.group_u.tolist()
    key = problem.spread_key_go.tolist()
    row_of, quantity_of = problem.row_oj.tolist(), problem.quantity_oj.tolist()
    cap, kind, scope = problem.cap_r.tolist(), problem.kind_r.tolist(), problem.scope_r.tolist()

    prob = pulp.LpProblem("placement", pulp.LpMinimize)
    x = {(u, o): pulp.LpVariable(f"x_{u}_{o}", cat=pulp.LpBinary) for u, o in pairs}

    options_of: dict[int, list[int]] = defaultdict(list)
    terms: dict[int, list[tuple[float, pulp.LpVariable]]] = defaultdict(list)
    for n, (u, o) in enumerate(pairs):
        options_of[u].append(o)
        for r, q in zip(row_of[o], quantity_of[o], strict=True):
            if r >= 0:
                terms[r].append((amount[n][q], x[u, o]))

    # (0) placed cost + value lost by unplaced units
    prob += pulp.lpSum(c[n] * x[pair] for n, pair in enumerate(pairs)) + pulp.lpSum(
        v[u] * (1 - pulp.lpSum(x[u, o] for o in options_of[u])) for u in range(n_units)
    )
    # (1) place once (exactly once when must-place)
    for u in range(n_units):
        placed = pulp.lpSum(x[u, o] for o in options_of[u])
        if must[u]:
            prob += placed == 1, f"place_once_{u}"
        elif options_of[u]:
            prob += placed <= 1, f"place_once_{u}"

    # (2) capacity rows with a finite capacity: pool GPUs, site IT / facility / heat kW
    # and water (by kind, then pool or site), then after (3) the budget and carbon cap
    def capacity(rows: list[int]) -> None:
        for r in sorted(rows, key=lambda r: (kind[r], r)):
            if math.isfinite(cap[r]):
                name = KIND_NAMES[kind[r]] + (f"_{scope[r]}" if scope[r] >= 0 else "")
                prob.addConstraint(pulp.lpSum(a * var for a, var in terms[r]) <= cap[r], name)

    is_global = [KIND_SCOPE[k] == 2 for k in kind]
    capacity([r for r in terms if not is_global[r]])
    # (3) redundancy: a group's units on distinct spread keys
    members: dict[int, list[int]] = defaultdict(list)
    for u in range(n_units):
        if group_of[u] >= 0:
            members[group_of[u]].append(u)
    for g in range(n_groups):
        by_key: dict[int, list] = defaultdict(list)
        for u in members[g]:
            for o in options_of[u]:
                by_key[key[g][o]].append(x[u, o])
        for k, xs in by_key.items():
            prob += pulp.lpSum(xs) <= 1, f"spread_{g}_{k}"
    capacity([r for r in range(len(cap)) if is_global[r]])
    return prob, x


_CBC_FLOAT = r"(-?[0-9.]+(?:e[+-]?[0-9]+)?)"


def parse_cbc_log(text: str) -> dict:
    """Result line, objective and best bound from a CBC log (objective without constant)."""
    out: dict = {"cbc_result": None, "cbc_objective": None, "cbc_bound": None, "bound_source": None}
    m = re.search(r"^Result - (.+)$", text, re.M)
    if m:
        out["cbc_result"] = m.group(1).strip()
    elif re.search(r"^Problem is infeasible", text, re.M):
        out["cbc_result"] = "Problem is infeasible"  # found before branch and bound
    m = re.search(r"^Objective value:\s+" + _CBC_FLOAT, text, re.M)
    if m:
        out["cbc_objective"] = float(m.group(1))
    m = re.search(r"^Lower bound:\s+" + _CBC_FLOAT, text, re.M)
    exit_gap = re.search(r"Exiting as integer gap of " + _CBC_FLOAT, text)
    best_possible = re.findall(r"best possible " + _CBC_FLOAT, text)
    m_ver = re.search(r"^Version:\s*(\S+)", text, re.M)
    out["cbc_version"] = m_ver.group(1) if m_ver else None
    if m:
        out["cbc_bound"], out["bound_source"] = float(m.group(1)), "Lower bound line"
    elif exit_gap and out["cbc_objective"] is not None:
        out["cbc_bound"] = out["cbc_objective"] - float(exit_gap.group(1))
        out["bound_source"] = "Cbc0011I exit gap"
    elif (
        out["cbc_result"] == "Optimal solution found"
        and "Search completed" in text
        and out["cbc_objective"] is not None
    ):
        out["cbc_bound"], out["bound_source"] = out["cbc_objective"], "search completed"
    elif best_possible:
        out["cbc_bound"] = float(best_possible[-1])
        out["bound_source"] = "last Cbc0010I best possible"
    return out


def _child_pulp(problem: Problem, time_limit_s: float, gap: float) -> dict:
    import pulp

    t0 = time.perf_counter()
    prob, x = build_pulp(problem)
    build_s = time.perf_counter() - t0
    fd, log_path = tempfile.mkstemp(prefix="bench_milp_cbc_", suffix=".log")
    os.close(fd)
    try:
        solver = pulp.PULP_CBC_CMD(
            msg=False, timeLimit=time_limit_s, gapRel=gap, threads=1, logPath=log_path
        )
        t1 = time.perf_counter()
        status = prob.solve(solver)
        solve_s = time.perf_counter() - t1
        text = Path(log_path).read_text(errors="replace")
    finally:
        with contextlib.suppress(OSError):
            os.unlink(log_path)
    parsed = parse_cbc_log(text)
    assign = np.full(problem.num_units, UNPLACED, dtype=np.int32)
    have_solution = prob.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    if have_solution:
        for (u, p), var in x.items():
            if (var.varValue or 0.0) > 0.5:
                assign[u] = p
    const = float(prob.objective.constant)
    objective = objective_value(problem, assign) if have_solution else None
    bad = violations(problem, assign) if have_solution else []
    bound = parsed["cbc_bound"] + const if parsed["cbc_bound"] is not None else None
    result = parsed["cbc_result"] or ""
    if not have_solution:
        proven = status == pulp.LpStatusInfeasible or "infeasible" in result.lower()
        placer_status = "infeasible" if proven else "no_solution"
    elif bad:
        placer_status = "invalid"
    else:
        g = rel_gap(objective, bound)
        placer_status = "optimal" if g is not None and g <= gap + 1e-9 else "feasible"
    return {
        "build_s": build_s,
        "solve_s": solve_s,
        "wall_s": build_s + solve_s,
        "variables": len(x),
        "rows": len(prob.constraints),
        "status": placer_status,
        "cbc_status": pulp.LpStatus[status],
        "cbc_solution_status": pulp.LpSolution.get(prob.sol_status, str(prob.sol_status)),
        "cbc_result": parsed["cbc_result"],
        "cbc_version": parsed["cbc_version"],
        "objective": objective,
        "cbc_reported_objective": (
            parsed["cbc_objective"] + const if parsed["cbc_objective"] is not None else None
        ),
        "bound": bound,
        "bound_source": parsed["bound_source"],
        "placed": int((assign != UNPLACED).sum()),
        "violations": bad,
        "cbc_peak_rss_mb": peak_rss_mb(resource.RUSAGE_CHILDREN),
    }


# ---------------------------------------------------------------------------------------
# Main loop


def bench_instance(name, seed, make, args, machine) -> list[dict]:
    t0 = time.perf_counter()
    scenario = make()
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    problem, _ = compile_problem(scenario)
    compile_s = time.perf_counter() - t0
    del scenario

    t0 = time.perf_counter()
    greedy_opts = SolveOptions(seed=args.seed, time_limit_s=args.time_limit_s)
    greedy = SOLVERS["greedy"](problem, greedy_opts)
    greedy_s = time.perf_counter() - t0
    base_obj = _finite(greedy.objective_usd_per_h)

    built = run_isolated(_child_build, problem, timeout_s=_limit(args))
    common = {
        "bench": "milp",
        "instance": name,
        "units": problem.num_units,
        "pools": problem.num_pools,
        "problem_digest": problem_digest(problem),
        "sites": problem.num_sites,
        "groups": problem.num_groups,
        "allowed_pairs": problem.num_pairs(),
        "must_place": int(problem.must_place_u.sum()),
        "lexicographic": bool(problem.lexicographic),
        "seed": args.seed,
        "scenario_seed": seed,
        "time_limit_s": args.time_limit_s,
        "gap_target": args.gap,
        "workers": 1,
    }
    log(
        f"\n== {name}: {problem.num_units} units x {problem.num_pools} pools, "
        f"{common['allowed_pairs']} allowed pairs; generate/load {gen_s:.2f} s, compile "
        f"{compile_s:.2f} s, build {_fmt(built.get('build_s'))} s "
        f"({built.get('variables')} vars, {built.get('rows')} rows), "
        f"capacity-price LP {_fmt(built.get('prices_s'))} s; greedy {greedy.status} "
        f"{_fmt(base_obj, 2)} USD/h in {greedy_s:.2f} s"
    )
    if "harness_error" in built:
        log(f"   build child failed: {built['harness_error']}")

    records = []
    placer_ref: dict | None = None
    for backend in args.backends:
        runs = [run_milp(problem, backend, args.gap, args) for _ in range(args.repeats)]
        main = runs[0]
        walls = [r["wall_s"] for r in runs if r.get("wall_s") is not None]
        ttg = {}
        for field, target in GAP_TARGETS.items():
            same = math.isclose(target, args.gap)
            run = main if same else run_milp(problem, backend, target, args)
            ttg[field] = _round(run["wall_s"]) if reached(run, target) else None
            ttg[field.replace("seconds", "status")] = run.get("status")
            ttg[field.replace("seconds", "run")] = {
                "wall_s": _round(run.get("wall_s")),
                "gap": _round(rel_gap(run.get("objective"), run.get("bound")), 6),
                "diagnostics": run.get("diagnostics"),
            }
        obj, bound = main.get("objective"), main.get("bound")
        rec = {
            **common,
            "solver": "milp",
            "backend": backend,
            "wall_s": _round(statistics.median(walls)) if walls else None,
            "wall_s_min": _round(min(walls)) if walls else None,
            "wall_s_max": _round(max(walls)) if walls else None,
            "runs": len(walls),
            "solve_s": _round(main.get("solve_s")),
            "build_s": _round(built.get("build_s")),
            "prices_s": _round(built.get("prices_s")),
            "compile_s": _round(compile_s),
            "variables": built.get("variables"),
            "rows": built.get("rows"),
            "objective": _round(obj, 4),
            "bound": _round(bound, 4),
            "bound_scope": main.get("bound_scope"),
            "gap": _round(rel_gap(obj, bound), 6),
            "status": main.get("status"),
            "status_consistent": _status_consistent(main, args.gap),
            "message": main.get("message") or main.get("harness_error"),
            "diagnostics": main.get("diagnostics"),
            "placed": main.get("placed"),
            "violations": main.get("violations"),
            "objective_rescored_matches": (
                None
                if obj is None
                else math.isclose(obj, main["rescored_objective"], rel_tol=1e-9, abs_tol=1e-6)
            ),
            "baseline": "greedy",
            "baseline_status": greedy.status,
            "baseline_objective": _round(base_obj, 4),
            "baseline_wall_s": _round(greedy_s),
            "ratio_vs_baseline": (
                _round(obj / base_obj, 6) if obj is not None and base_obj else None
            ),
            **ttg,
            "peak_rss_mb": max((r.get("peak_rss_mb") or 0.0) for r in runs) or None,
            "machine": machine,
        }
        emit(rec)
        records.append(rec)
        log(
            f"   milp/{backend:5s} {rec['status']:<11} obj {_fmt(obj, 2)} bound {_fmt(bound, 2)} "
            f"gap {_fmt_pct(rec['gap'])}  wall {_fmt(rec['wall_s'])} s (solve "
            f"{_fmt(rec['solve_s'])})  vs greedy {_fmt(rec['ratio_vs_baseline'], 4)}  "
            f"to 1%: {_fmt(rec['seconds_to_gap_1pct'])} s, to 0.1%: "
            f"{_fmt(rec['seconds_to_gap_0_1pct'])} s  rss {rec['peak_rss_mb']} MB"
        )
        if placer_ref is None or backend == "highs":
            placer_ref = rec

    if not args.no_pulp:
        pl = run_isolated(_child_pulp, problem, args.time_limit_s, args.gap, timeout_s=_limit(args))
        obj = _finite(pl.get("objective"))
        ref_obj = placer_ref["objective"] if placer_ref else None
        ref_wall = placer_ref["wall_s"] if placer_ref else None
        rec = {
            **common,
            "solver": "pulp_cbc",
            "backend": "cbc",
            "wall_s": _round(pl.get("wall_s")),
            "build_s": _round(pl.get("build_s")),
            "solve_s": _round(pl.get("solve_s")),
            "variables": pl.get("variables"),
            "rows": pl.get("rows"),
            "objective": _round(obj, 4),
            "bound": _round(pl.get("bound"), 4),
            "bound_source": pl.get("bound_source"),
            "gap": _round(rel_gap(obj, pl.get("bound")), 6),
            "status": pl.get("status"),
            "cbc_status": pl.get("cbc_status"),
            "cbc_solution_status": pl.get("cbc_solution_status"),
            "cbc_result": pl.get("cbc_result") or pl.get("harness_error"),
            "cbc_reported_objective": _round(pl.get("cbc_reported_objective"), 4),
            "placed": pl.get("placed"),
            "violations": pl.get("violations"),
            "baseline": "greedy",
            "baseline_status": greedy.status,
            "baseline_objective": _round(base_obj, 4),
            "ratio_vs_baseline": (
                _round(obj / base_obj, 6) if obj is not None and base_obj else None
            ),
            "placer_backend": placer_ref["backend"] if placer_ref else None,
            "placer_wall_s": ref_wall,
            "placer_objective": ref_obj,
            "ratio_time_vs_placer": (
                _round(pl["wall_s"] / ref_wall, 4) if pl.get("wall_s") and ref_wall else None
            ),
            "ratio_objective_vs_placer": (
                _round(obj / ref_obj, 6) if obj is not None and ref_obj else None
            ),
            "peak_rss_mb": pl.get("peak_rss_mb"),
            "cbc_peak_rss_mb": pl.get("cbc_peak_rss_mb"),
            "machine": {**machine, "cbc_version": pl.get("cbc_version")},
        }
        emit(rec)
        records.append(rec)
        log(
            f"   pulp_cbc    {rec['status'] or '?':<11} obj {_fmt(obj, 2)} bound "
            f"{_fmt(rec['bound'], 2)} gap {_fmt_pct(rec['gap'])}  wall {_fmt(rec['wall_s'])} s "
            f"(build {_fmt(rec['build_s'])}, solve {_fmt(rec['solve_s'])})  "
            f"time x{_fmt(rec['ratio_time_vs_placer'], 2)} of placer, objective "
            f"x{_fmt(rec['ratio_objective_vs_placer'], 6)}  CBC: {rec['cbc_result']}"
        )
    return records


def _fmt(x, nd: int = 2) -> str:
    return "-" if x is None else f"{x:,.{nd}f}"


def _fmt_pct(x) -> str:
    return "-" if x is None else f"{100 * x:.3f}%"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_info()
    started = time.perf_counter()
    log(
        f"bench_milp: backends {','.join(args.backends)}, time limit {args.time_limit_s:g} s, "
        f"gap {args.gap:g}, seed {args.seed}, {machine['cpus']} CPUs, "
        f"pulp {'off' if args.no_pulp else 'on'}"
    )
    all_records = []
    for name, seed, make in instances(args):
        all_records += bench_instance(name, seed, make, args, machine)
    bad = [r for r in all_records if r.get("violations")]
    log(f"\ndone in {time.perf_counter() - started:.1f} s; {len(all_records)} lines")
    if bad:
        log(f"WARNING: {len(bad)} plan(s) with violations: {[r['instance'] for r in bad]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
