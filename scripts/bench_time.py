#!/usr/bin/env python3
"""Benchmarks placement over time: every solver against the time-agnostic greedy schedule.

Instances (docs/time.md):

  * the real-data weeks `configs/time/us_week.yaml` and `configs/time/eu_week.yaml` (a file
    that is missing or does not load gets one "skipped" line);
  * `eu_week+hourly-carbon`: eu_week.yaml with each site in Germany, Great Britain or
    France (by `location.country`) given the real 2020 grid intensity of its country,
    resampled to the horizon (time-weighted mean) from
    ../shared/data/carbon/hourly/letswaitawhile_{ger,gb,fr}_ci_2020.csv (Wiesner et al.,
    "Let's Wait Awhile", Middleware'21; ENTSO-E production x IPCC factors; 15-30 min
    samples). The files have no licence: they are read at run time and never copied into
    the project; a missing file gives a "skipped" line. Their times have no zone
    (PROVENANCE.md: "local timestamp, no timezone given") but they are read as UTC: the
    grid runs straight through both 2020 DST changes (no missing spring hour, no
    repeated autumn hour, which a CET/CEST wall clock would have), and the German
    midday carbon dip sits at 11-12 h in June and in January alike, at solar noon in
    UTC (about 11:20), not at 13:20 CEST;
  * seeded generated fleets `gen-time-UxPxT-sSEED`
    (`placer.model.generate_time.generate_timed_scenario(U, P, T, seed)`: U placement
    units after expansion in time, P pools, T hourly periods).

For each instance the scenario is loaded or generated and compiled once in this process
(for its size: units, pools, periods, options, pairs; watched by the --max-rss-gb guard),
then every solver runs `placer.api.solve(scenario, solver=..., time_limit_s, seed)` in
its own forked child: what a user gets, compile, solve, plan, and the verifier that
`solve` runs itself. `wall_s` is that whole call, `solve_wall_s` the plan's own wall time
(the same less `solve`'s verification), `overran_limit` flags wall_s > 1.05 x limit + 1 s,
`peak_rss_mb` is the child's peak resident set. A child past --max-rss-gb or alive
3 x limit + 300 s is killed and reported as "harness_rss_limit" / "harness_timeout", a
crash as "harness_crash". Each plan is checked again with `placer.plan.verify.verify`
(`verified`: true, or the kinds of its violations; null without a plan). A `solve` that
raises SolverError is reported, not fatal: status "verify_failed" when its plan failed
verification, "solver_error" otherwise, with the message.

The baseline is greedy on the same scenario, from the same run: on a timed scenario it
starts every run as early as it fits, cheapest option first among equal starts (the
carbon- and price-agnostic scheduler). Every line carries its cost and carbon over the
horizon and the savings against it (`cost_saving_pct`, `carbon_saving_pct`: positive =
better than the baseline; `ratio_vs_baseline`: objective / the baseline's, only when
both have a plan). `objective` is USD per hour of the horizon
(`plan.objective_usd_per_h`); `cost_usd` and `carbon_kg` are totals over the horizon
(`plan.horizon`).

Protocol notes (shared/BENCHMARKS.md): one timed run per solver, no warm-up (each solve
runs in a fresh child, so relax, search and hybrid pay their JAX compilation as a
user's first solve does); the figures that matter are objective, bound, gap and the
savings at the time limit.

Output: one JSON object per line on stdout; a table on stderr.

Usage:
    python scripts/bench_time.py --quick
    python scripts/bench_time.py --sizes 1000x50x168 --solvers greedy,milp,hybrid
    python scripts/bench_time.py --sizes 100000x1000x24 --solvers greedy,hybrid --configs none
    python scripts/bench_time.py --time-limit-s 60,10000x100x72=120,us_week=30
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
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
    peak_rss_mb,
    problem_digest,
    rel_gap,
)
from bench_solvers import (  # noqa: E402
    RssWatch,
    bench_machine,
    run_isolated,
    total_memory_gb,
)

from placer import api  # noqa: E402
from placer.engines.registry import SOLVERS  # noqa: E402
from placer.errors import PlacerError, SolverError  # noqa: E402
from placer.model.generate_time import generate_timed_scenario  # noqa: E402
from placer.model.horizon import Horizon  # noqa: E402
from placer.model.load import load_scenario, validate_model  # noqa: E402
from placer.model.scenario import Scenario  # noqa: E402
from placer.model.series_file import read_series, resolve_series  # noqa: E402
from placer.model.yaml_text import read_document  # noqa: E402
from placer.plan.verify import verify  # noqa: E402
from placer.problem.compile import compile_problem  # noqa: E402
from placer.problem.compile_large import compile_restricted, needs_restriction  # noqa: E402

DEFAULT_SIZES = "1000x50x168,10000x100x72"
QUICK_SIZES = "200x20x48"
DEFAULT_CONFIGS = "configs/time/us_week.yaml,configs/time/eu_week.yaml"
QUICK_CONFIGS = "configs/time/small_day.yaml"
DEFAULT_SOLVERS = "greedy,milp,hybrid,search,relax"
DEFAULT_TIME_LIMIT_S = 120.0
QUICK_TIME_LIMIT_S = 20.0
BASELINE = "greedy"
BASELINE_NAME = "greedy-agnostic"

#: The real hourly carbon of the eu_week variant: country -> file (read at run time only).
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
HOURLY_CARBON_DIR = SHARED_DATA / "carbon" / "hourly"
HOURLY_CARBON_FILES = {
    "DE": "letswaitawhile_ger_ci_2020.csv",
    "GB": "letswaitawhile_gb_ci_2020.csv",
    "FR": "letswaitawhile_fr_ci_2020.csv",
}
#: Zone of their naive times (see the module docstring for why UTC).
HOURLY_CARBON_TZ = "UTC"
HOURLY_VARIANT_OF = "eu_week"
HOURLY_VARIANT = "eu_week+hourly-carbon"


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
        help=f"smoke run: {QUICK_SIZES} and {QUICK_CONFIGS} (if present), "
        f"{QUICK_TIME_LIMIT_S:g} s limits",
    )
    ap.add_argument("--seed", type=int, default=1, help="scenario and solver seed (default 1)")
    ap.add_argument(
        "--workers",
        type=int,
        default=1,
        help="threads each solve may use (`placer solve --workers`; default 1): with 2 or "
        "more the column-generation hybrid's MILP over the master's columns runs on CP-SAT",
    )
    ap.add_argument(
        "--sizes",
        default=None,
        help=f'generated fleets UNITSxPOOLSxPERIODS, comma-separated (default "{DEFAULT_SIZES}"; '
        f'"{QUICK_SIZES}" with --quick; "none" for none)',
    )
    ap.add_argument(
        "--configs",
        default=None,
        help=f'scenario files, comma-separated (default "{DEFAULT_CONFIGS}"; "{QUICK_CONFIGS}" '
        f'with --quick; "none" for none); with {HOURLY_VARIANT_OF}.yaml also {HOURLY_VARIANT}',
    )
    ap.add_argument(
        "--no-hourly-carbon",
        action="store_true",
        help=f"leave out the {HOURLY_VARIANT} variant",
    )
    ap.add_argument(
        "--solvers",
        default=DEFAULT_SOLVERS,
        help=f'solvers, comma-separated, from {",".join(SOLVERS)} (default "{DEFAULT_SOLVERS}"; '
        "greedy, the baseline, always runs and gets a line when named)",
    )
    ap.add_argument(
        "--time-limit-s",
        default=None,
        help="limit per solve, s: a number, and/or overrides SIZE=SECONDS or NAME=SECONDS "
        "(a config's file stem or variant), comma-separated, e.g. \"60,10000x100x72=120,"
        f'us_week=30" (default {DEFAULT_TIME_LIMIT_S:g}; {QUICK_TIME_LIMIT_S:g} with --quick)',
    )
    ap.add_argument(
        "--max-rss-gb",
        type=float,
        default=None,
        help="memory guard, GiB: interrupt a load/compile (the instance is skipped) and kill "
        "a solver child that passes it (default 80%% of RAM)",
    )
    args = ap.parse_args(argv)

    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    args.sizes = [] if sizes.strip().lower() == "none" else parse_sizes(ap, sizes)
    configs = args.configs or (QUICK_CONFIGS if args.quick else DEFAULT_CONFIGS)
    args.configs = (
        []
        if configs.strip().lower() == "none"
        else [Path(c.strip()) for c in configs.split(",") if c.strip()]
    )
    args.solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    unknown = [s for s in args.solvers if s not in SOLVERS]
    if unknown or not args.solvers:
        ap.error(f"unknown solver(s) {unknown}; choose from {list(SOLVERS)}")
    default_limit = QUICK_TIME_LIMIT_S if args.quick else DEFAULT_TIME_LIMIT_S
    args.default_limit_s, args.limit_overrides = parse_limits(ap, args.time_limit_s, default_limit)
    if args.max_rss_gb is None:
        args.max_rss_gb = round(0.8 * total_memory_gb(), 1)
    if args.max_rss_gb <= 0:
        ap.error("--max-rss-gb must be positive")
    if not 0 <= args.seed < 2**31:
        ap.error("--seed must be in [0, 2**31)")
    if args.workers < 1:
        ap.error("--workers must be at least 1")
    return args


def parse_sizes(ap: argparse.ArgumentParser, text: str) -> list[tuple[int, int, int]]:
    out = [parse_size(ap, s.strip()) for s in text.split(",") if s.strip()]
    if not out:
        ap.error("--sizes names no instance")
    return out


def parse_size(ap: argparse.ArgumentParser, spec: str) -> tuple[int, int, int]:
    try:
        units, pools, periods = (int(v) for v in spec.lower().split("x"))
    except ValueError:
        ap.error(f"bad size {spec!r}: want UNITSxPOOLSxPERIODS, e.g. 1000x50x168")
    if min(units, pools, periods) < 1:
        ap.error(f"bad size {spec!r}: units, pools and periods must be >= 1")
    return units, pools, periods


def parse_limits(
    ap: argparse.ArgumentParser, text: str | None, default: float
) -> tuple[float, dict[str, float]]:
    """("60,10000x100x72=120,us_week=30") -> (60.0, {"10000x100x72": 120.0, "us_week": 30.0})."""
    overrides: dict[str, float] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, _, value = item.rpartition("=")
        try:
            seconds = float(value)
        except ValueError:
            ap.error(
                f"bad --time-limit-s item {item!r}: want SECONDS, SIZE=SECONDS or NAME=SECONDS"
            )
        if not seconds > 0 or not math.isfinite(seconds):
            ap.error(f"bad --time-limit-s item {item!r}: the limit must be > 0")
        key = key.strip()
        if not key:
            default = seconds
        elif key[0].isdigit():
            units, pools, periods = parse_size(ap, key)
            overrides[f"{units}x{pools}x{periods}"] = seconds
        else:
            overrides[key] = seconds
    return default, overrides


# ---------------------------------------------------------------------------------------
# Instances: (name, limit key, thunk -> Scenario, extra fields for its lines)


class Skip(Exception):
    """An instance that cannot run (missing file, does not load); the reason."""


def instances(args: argparse.Namespace):
    for path in args.configs:
        full = path if path.is_absolute() else REPO_ROOT / path
        yield full.stem, full.stem, (lambda full=full: load_config(full)), {"config": str(path)}
        if full.stem == HOURLY_VARIANT_OF and not args.no_hourly_carbon:
            extra = {"config": str(path), "carbon_source": carbon_source()}
            yield HOURLY_VARIANT, HOURLY_VARIANT, (lambda full=full: hourly_variant(full)), extra
    for units, pools, periods in args.sizes:
        size = f"{units}x{pools}x{periods}"
        yield (
            f"gen-time-{size}-s{args.seed}",
            size,
            lambda u=units, p=pools, t=periods: generate_timed_scenario(u, p, t, args.seed),
            {"scenario_seed": args.seed},
        )


def load_config(path: Path) -> Scenario:
    if not path.is_file():
        raise Skip(f"{rel(path)} does not exist (yet)")
    try:
        return load_scenario(path)
    except PlacerError as e:
        raise Skip(f"{rel(path)} does not load: {e}") from None


def carbon_source() -> dict:
    return {
        "files": {cc: rel(HOURLY_CARBON_DIR / f) for cc, f in HOURLY_CARBON_FILES.items()},
        "timezone": HOURLY_CARBON_TZ,
        "resample": "time-weighted mean per period",
    }


def hourly_variant(path: Path) -> tuple[Scenario, dict]:
    """eu_week with the real 2020 hourly carbon of DE, GB and FR on those countries' sites;
    (scenario, fields saying which sites got which series and its mean)."""
    if not path.is_file():
        raise Skip(f"{rel(path)} does not exist (yet)")
    missing = [f for f in HOURLY_CARBON_FILES.values() if not (HOURLY_CARBON_DIR / f).is_file()]
    if missing:
        raise Skip(f"hourly carbon files missing under {rel(HOURLY_CARBON_DIR)}: {missing}")
    try:
        data, source = read_document(path)
        data = resolve_series(data, path.parent)
        horizon = Horizon.model_validate(data.get("horizon"))
    except (PlacerError, ValueError) as e:
        raise Skip(f"{rel(path)} does not load: {e}") from None
    series: dict[str, list[float]] = {}
    replaced: dict[str, str] = {}
    kept: list[str] = []
    for site in data.get("sites") or []:
        country = ((site.get("location") or {}).get("country") or "").upper()
        if country not in HOURLY_CARBON_FILES:
            kept.append(site.get("id"))
            continue
        if country not in series:
            try:
                series[country] = carbon_series(
                    HOURLY_CARBON_DIR / HOURLY_CARBON_FILES[country], horizon
                )
            except PlacerError as e:
                raise Skip(f"hourly carbon for {country}: {e}") from None
        site.setdefault("power", {})["carbon_g_per_kwh"] = list(series[country])
        replaced[site.get("id")] = country
    if not replaced:
        raise Skip(f"no site of {rel(path)} is in {sorted(HOURLY_CARBON_FILES)}")
    try:
        scenario = validate_model(Scenario, data, source=f"{source} ({HOURLY_VARIANT})")
    except PlacerError as e:
        raise Skip(f"{HOURLY_VARIANT} does not validate: {e}") from None
    info = {
        "hourly_carbon_sites": replaced,
        "sites_kept_carbon": kept,
        "hourly_carbon_mean_g_per_kwh": {
            cc: _round(float(np.mean(s)), 1) for cc, s in series.items()
        },
    }
    return scenario, info


def carbon_series(file: Path, horizon: Horizon) -> list[float]:
    """One intensity per period (time-weighted mean), gCO2e/kWh, from a `Time,Carbon
    Intensity` CSV whose naive times are UTC (the project's own reader and checks)."""
    spec = {"file": str(file), "column": "Carbon Intensity", "timezone": HOURLY_CARBON_TZ}
    return read_series(spec, file.parent, horizon, "mean", f"{HOURLY_VARIANT}.carbon")


def rel(path: Path) -> str:
    """A path as the lines show it: relative to the repository's parent where inside it."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT.parent))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------------
# One solve (in a forked child)


def _child_solve(
    scenario: Scenario, solver: str, limit: float, seed: int, workers: int = 1
) -> dict:
    t0 = time.perf_counter()
    try:
        plan = api.solve(scenario, solver=solver, time_limit_s=limit, seed=seed, workers=workers)
    except SolverError as e:
        text = str(e)
        return {
            "wall_s": time.perf_counter() - t0,
            "status": "verify_failed" if "fails verification" in text else "solver_error",
            "message": text,
        }
    wall = time.perf_counter() - t0
    has_plan = plan.status in ("optimal", "feasible")
    t1 = time.perf_counter()
    bad = verify(scenario, plan) if has_plan else None
    verify_s = time.perf_counter() - t1
    horizon = plan.horizon
    totals = plan.totals
    return {
        "wall_s": wall,
        "solve_wall_s": plan.wall_s,
        "verify_s": verify_s,
        "status": plan.status,
        "message": plan.message,
        "objective": _finite(plan.objective_usd_per_h),
        "bound": _finite(plan.bound_usd_per_h),
        "bound_scope": plan.bound_scope,
        "cost_usd": horizon.cost_usd if horizon and has_plan else None,
        "carbon_kg": horizon.carbon_kg if horizon and has_plan else None,
        "water_l": horizon.water_l if horizon and has_plan else None,
        "cost_usd_per_h": totals.cost_usd_per_h if totals and has_plan else None,
        "carbon_kg_per_h": totals.carbon_kg_per_h if totals and has_plan else None,
        "placed_units": totals.placed_units if totals else None,
        "unplaced_units": totals.unplaced_units if totals else len(plan.unplaced),
        "verified": None if bad is None else (True if not bad else sorted({v.kind for v in bad})),
        "violations": [str(v) for v in bad[:10]] if bad else None,
    }


# ---------------------------------------------------------------------------------------
# Main loop


def skip_line(name: str, reason: str, machine: dict, extra: dict, args) -> dict:
    rec = {
        "bench": "time",
        "instance": name,
        "status": "skipped",
        "reason": reason,
        "seed": args.seed,
        **extra,
        "machine": machine,
    }
    emit(rec)
    log(f"\n== {name}: SKIPPED: {reason}")
    return rec


def _pct_saving(value: float | None, base: float | None) -> float | None:
    if value is None or base is None or base <= 0:
        return None
    return _round(100.0 * (base - value) / base, 3) + 0.0  # + 0.0: no "-0.0"


def bench_instance(name, key, make, extra, args, machine) -> list[dict]:
    limit = args.limit_overrides.get(key, args.default_limit_s)
    limit_bytes = args.max_rss_gb * 2**30
    load_s = compile_s = None
    info: dict = {}
    scenario = problem = None
    try:
        with RssWatch(limit_bytes) as watch:
            t0 = time.perf_counter()
            made = make()
            scenario, info = made if isinstance(made, tuple) else (made, {})
            load_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            # what api.solve compiles: the restricted problem when the whole one's padded
            # option table would not fit (placer.problem.compile_large)
            restricted = needs_restriction(scenario)
            if restricted:
                problem = compile_restricted(scenario)[0]
            else:
                problem, _ = compile_problem(scenario)
            compile_s = time.perf_counter() - t0
    except Skip as e:
        return [skip_line(name, str(e), machine, extra, args)]
    except PlacerError as e:
        return [skip_line(name, f"does not compile: {e}", machine, extra, args)]
    if watch.tripped_at is not None:
        stage = "load" if load_s is None else "compile"
        reason = (
            f"{stage} passed --max-rss-gb {args.max_rss_gb:g} "
            f"({watch.tripped_at / 2**30:.2f} GiB resident), interrupted"
        )
        return [skip_line(name, reason, machine, extra, args)]

    horizon = scenario.horizon
    common = {
        "bench": "time",
        "instance": name,
        "units": problem.num_units,
        "pools": problem.num_pools,
        "periods": horizon.periods if horizon is not None else None,
        "period_hours": horizon.period_hours if horizon is not None else None,
        "horizon_start": horizon.start if horizon is not None else None,
        "options": problem.num_options,
        "pairs": problem.num_pairs(),
        # "restricted": options and pairs are the restricted problem's (its bound streams
        # over every option of the whole one)
        "layout": "restricted" if restricted else "whole",
        "must_place": int(problem.must_place_u.sum()),
        "problem_digest": problem_digest(problem),
        **extra,
        **info,
        "seed": args.seed,
        "workers": args.workers,
        "time_limit_s": limit,
        "load_s": _round(load_s),
        "compile_s": _round(compile_s),
    }
    # The children compile on their own (api.solve): drop the parent's Problem so that
    # it does not count in their resident sets.
    del problem
    gc.collect()
    common["parent_peak_rss_mb"] = peak_rss_mb()
    log(
        f"\n== {name}: {common['units']:,} units x {common['pools']} pools x "
        f"{common['periods']} periods, {common['options']:,} options, {common['pairs']:,} pairs, "
        f"{common['must_place']} must-place; load {load_s:.2f} s, compile {compile_s:.2f} s; "
        f"limit {limit:g} s"
    )
    if info.get("hourly_carbon_sites"):
        log(
            f"   hourly carbon on {info['hourly_carbon_sites']} (means "
            f"{info['hourly_carbon_mean_g_per_kwh']} g/kWh); kept: {info['sites_kept_carbon']}"
        )
    log(_row_header())

    kill_after = 3 * limit + 300

    def run(solver: str) -> dict:
        return run_isolated(
            _child_solve,
            scenario,
            solver,
            limit,
            args.seed,
            args.workers,
            timeout_s=kill_after,
            max_rss_bytes=limit_bytes,
        )

    base = run(BASELINE)
    records = []
    for solver in [BASELINE] + [s for s in args.solvers if s != BASELINE]:
        res = base if solver == BASELINE else run(solver)
        if solver not in args.solvers:
            continue
        rec = record(common, solver, res, base, machine)
        emit(rec)
        log(_row(rec))
        records.append(rec)
    return records


def has_plan(res: dict) -> bool:
    return res.get("status") in ("optimal", "feasible")


def record(common: dict, solver: str, res: dict, base: dict, machine: dict) -> dict:
    obj, bound = res.get("objective"), res.get("bound")
    base_obj = base.get("objective")
    gap = rel_gap(obj, bound)
    wall, limit = res.get("wall_s"), common["time_limit_s"]
    rec = {
        **common,
        "solver": solver,
        "wall_s": _round(wall),
        "solve_wall_s": _round(res.get("solve_wall_s")),
        "verify_s": _round(res.get("verify_s")),
        "overran_limit": None if wall is None else wall > 1.05 * limit + 1.0,
        "limit_ratio": None if wall is None else _round(wall / limit, 4),
        "status": res.get("status"),
        "message": res.get("message") or res.get("harness_error"),
        "objective": _round(obj, 4),
        "bound": _round(bound, 4),
        "bound_scope": res.get("bound_scope"),
        "gap": None if gap is None else _round(gap, 6) + 0.0,
        "cost_usd": _round(res.get("cost_usd"), 2),
        "carbon_kg": _round(res.get("carbon_kg"), 2),
        "water_l": _round(res.get("water_l"), 1),
        "placed_units": res.get("placed_units"),
        "unplaced_units": res.get("unplaced_units"),
        "verified": res.get("verified"),
        "violations": res.get("violations"),
        "peak_rss_mb": res.get("peak_rss_mb"),
        "baseline": BASELINE_NAME,
        "baseline_status": base.get("status"),
        "baseline_wall_s": _round(base.get("wall_s")),
        "baseline_cost_usd": _round(base.get("cost_usd"), 2),
        "baseline_carbon_kg": _round(base.get("carbon_kg"), 2),
        "baseline_objective": _round(base_obj, 4),
        "baseline_unplaced_units": base.get("unplaced_units"),
        "cost_saving_pct": _pct_saving(res.get("cost_usd"), base.get("cost_usd")),
        "carbon_saving_pct": _pct_saving(res.get("carbon_kg"), base.get("carbon_kg")),
        "ratio_vs_baseline": (
            _round(obj / base_obj, 6)
            if obj is not None and base_obj and has_plan(res) and has_plan(base)
            else None
        ),
        "machine": machine,
    }
    if res.get("peak_rss_sampled"):
        rec["peak_rss_sampled"] = True
    if res.get("harness_error"):
        rec["harness_error"] = res["harness_error"]
    return rec


_COLS = (
    ("solver", 7),
    ("status", 14),
    ("objective", 12),
    ("gap", 9),
    ("cost USD", 13),
    ("carbon kg", 12),
    ("cost -%", 8),
    ("CO2 -%", 8),
    ("vs base", 8),
    ("unpl", 5),
    ("wall s", 7),
    ("rss MB", 7),
    ("check", 0),
)


def _row_header() -> str:
    return "   " + " ".join(f"{h:<{w}}" if w else h for h, w in _COLS)


def _row(rec: dict) -> str:
    checks = []
    if isinstance(rec["verified"], list):
        checks.append("VIOLATIONS " + ",".join(rec["verified"]))
    if rec["overran_limit"]:
        checks.append(f"OVERRAN x{rec['limit_ratio']:.2f}")
    if rec["status"] in ("verify_failed", "solver_error") or rec.get("harness_error"):
        checks.append((rec["message"] or "").splitlines()[0][:120])
    cells = [
        rec["solver"],
        rec["status"] or "?",
        _fmt(rec["objective"], 2),
        _fmt_pct(rec["gap"]),
        _fmt(rec["cost_usd"], 0),
        _fmt(rec["carbon_kg"], 0),
        _fmt(rec["cost_saving_pct"], 2),
        _fmt(rec["carbon_saving_pct"], 2),
        _fmt(rec["ratio_vs_baseline"], 4),
        "-" if rec["unplaced_units"] is None else str(rec["unplaced_units"]),
        _fmt(rec["wall_s"], 1),
        _fmt(rec["peak_rss_mb"], 0),
        ", ".join(checks) or ("ok" if rec["verified"] is True else "-"),
    ]
    return "   " + " ".join(f"{c:<{w}}" if w else c for c, (_, w) in zip(cells, _COLS, strict=True))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine = bench_machine(args.max_rss_gb)
    started = time.perf_counter()
    overrides = ", ".join(f"{k}={s:g}" for k, s in args.limit_overrides.items())
    log(
        f"bench_time: {','.join(args.solvers)}; configs "
        f"{','.join(str(c) for c in args.configs) or 'none'}; sizes "
        f"{','.join(f'{u}x{p}x{t}' for u, p, t in args.sizes) or 'none'}; limit "
        f"{args.default_limit_s:g} s{' (' + overrides + ')' if overrides else ''}; seed "
        f"{args.seed}; workers {args.workers}; {machine['cpus']} CPUs, JAX "
        f"{machine.get('jax_backend')}; "
        f"max RSS {args.max_rss_gb:g} GiB; baseline {BASELINE_NAME}"
    )
    records = []
    for name, key, make, extra in instances(args):
        records += bench_instance(name, key, make, extra, args, machine)
    log(f"\ndone in {time.perf_counter() - started:.1f} s; {len(records)} lines")
    failed = [
        f"{r['instance']}/{r['solver']}: {r['status']}"
        for r in records
        if r["status"] != "skipped"
        and (r["status"] not in ("optimal", "feasible", "infeasible", "no_solution"))
    ]
    if failed:
        log(f"WARNING: failed runs: {failed}")
    invalid = [
        f"{r['instance']}/{r['solver']}" for r in records if isinstance(r.get("verified"), list)
    ]
    if invalid:
        log(f"WARNING: plans that fail verify: {invalid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
