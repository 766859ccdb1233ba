#!/usr/bin/env python3
"""Benchmarks the JAX scoring kernels against their NumPy baselines, in the same run.

Two figures, each beside its baseline and the ratio (shared/BENCHMARKS.md):

  1. `score_batch` (placer.engines.kernels.score): candidate x unit evaluations per second, for
     both loads methods ("segment", "onehot") and several chunk budgets (1, 4, 16 MB, the
     `budget_bytes` of `chunk_size`), against the vectorised float64 NumPy reference
     `score_batch_numpy` (placer.engines.kernels.reference) on the same candidates. Sizes K x U:
     1e4 x 1e3, 1e5 x 1e3 and 1e6 x 1e2 (--quick: 1e3 x 1e3 and 1e4 x 1e2).
     The NumPy reference holds about fifteen float64 [K, U] temporaries at once, so it
     runs in blocks of at most 1e7 candidate x unit entries (~1.2 GB of temporaries):
     1e4 x 1e3 fits in one block, 1e5 x 1e3 and 1e6 x 1e2 run in 10 blocks each; each
     line says so (`baseline_chunk_candidates`, `baseline_chunked`).
  2. `delta_moves` (placer.engines.kernels.delta): single-unit moves scored per second against an
     incumbent, M = 1e5 and 1e6 (--quick: 1e4, 1e5), against a vectorised NumPy float64
     delta written here (`numpy_delta`) that recomputes the same change of the penalized
     score from the incumbent's loads. Both start from precomputed incumbent loads and
     use DEFAULT_WEIGHTS.
  3. `delta_rows`: the same moves in row form: every unit of gen-Ux--pools moved to
     every pool and to unplaced, U x (P+1) moves per call, U = 2,000 and 20,000
     (--quick: 2,000), against `numpy_delta` of exactly those moves. This is how a
     search scores "the best pool for each of these units": contiguous rows of the pair
     tables instead of scattered gathers.

Instances: `generate_scenario(units=U, pools=--pools, seed=--seed)` compiled with
`compile_problem` (the generator hits U exactly at these sizes). Candidates: for each
unit, a uniformly random pool among its allowed pools (unplaced, column P, when it has
none), drawn with `numpy.random.default_rng(seed)`. Moves: a random unit and a random
allowed pool of it, against a random incumbent drawn the same way.

Protocol: one warm-up call (JAX compiles; NumPy touches its memory), then --repeats
(>= 5) timed calls; each line gives the median and min/max. Every timed JAX call ends
with `.block_until_ready()` on each output array. Before timing, the kernel's output on
the first candidates (moves) is compared with the baseline's (`check_max_rel_diff`,
relative to the largest magnitude of the objective/delta): a fast wrong kernel would
show there. Candidate arrays are built and put on the device before timing; neither
side's timing includes them.

Output: one JSON object per line on stdout; a human summary on stderr, which names the
fastest loads method and chunk budget per size.

Usage:
    python scripts/bench_kernel.py --quick
    python scripts/bench_kernel.py --seed 1 --repeats 5
    python scripts/bench_kernel.py --sizes 10000x1000 --budgets-mb 4 --moves 100000
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
from typing import Any, NamedTuple

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from placer.engines.kernels.arrays import to_kernel  # noqa: E402
from placer.engines.kernels.delta import delta_moves, delta_rows, incumbent  # noqa: E402
from placer.engines.kernels.reference import score_batch_numpy  # noqa: E402
from placer.engines.kernels.score import DEFAULT_WEIGHTS, Scores, chunk_size, score_batch  # noqa: E402
from placer.model.generate import generate_scenario  # noqa: E402
from placer.problem.compile import compile_problem  # noqa: E402
from placer.problem.form import Problem  # noqa: E402

SIZES_FULL = ((10_000, 1_000), (100_000, 1_000), (1_000_000, 100))
SIZES_QUICK = ((1_000, 1_000), (10_000, 100))
MOVES_FULL = (100_000, 1_000_000)
MOVES_QUICK = (10_000, 100_000)
#: Units of the delta_rows instances (each unit x every pool: U x (pools + 1) moves).
ROW_UNITS_FULL = (2_000, 20_000)
ROW_UNITS_QUICK = (2_000,)
BUDGETS_MB = (1, 4, 16)
LOADS = ("segment", "onehot")
#: Largest NumPy reference block, in candidate x unit entries (see module docstring).
NUMPY_BLOCK_ENTRIES = 10_000_000


def machine() -> dict[str, Any]:
    """CPU count, JAX backend and devices, library versions."""

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
        "jax": version("jax"),
        "jaxlib": version("jaxlib"),
        "numpy": version("numpy"),
        "ortools": version("ortools"),
    }


def timed(fn: Callable[[], Any], repeats: int) -> tuple[dict[str, float], Any]:
    """One warm-up call, then `repeats` timed calls: median/min/max seconds, last result."""
    out = fn()
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t0)
    stats = {"wall_s": statistics.median(walls), "min_s": min(walls), "max_s": max(walls)}
    return {k: round(v, 6) for k, v in stats.items()}, out


def block(tree: Any) -> Any:
    """Waits for every array of a pytree (each timed JAX call ends here)."""
    for leaf in jax.tree_util.tree_leaves(tree):
        leaf.block_until_ready()
    return tree


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


# ---- instances ------------------------------------------------------------------------------

_PROBLEMS: dict[tuple[int, int, int], Problem] = {}


def problem_for(units: int, pools: int, seed: int) -> Problem:
    key = (units, pools, seed)
    if key not in _PROBLEMS:
        problem, _ = compile_problem(generate_scenario(units=units, pools=pools, seed=seed))
        _PROBLEMS[key] = problem
    return _PROBLEMS[key]


def random_choices(problem: Problem, n: int, rng: np.random.Generator) -> np.ndarray:
    """int32[n, U]: per unit a uniformly random allowed pool (P when it has none)."""
    allowed = problem.allowed_up
    n_u, n_p = allowed.shape
    counts = allowed.sum(axis=1)
    order = np.argsort(~allowed, axis=1, kind="stable")  # allowed pools first, in order
    out = np.empty((n, n_u), np.int32)
    rows = max(1, NUMPY_BLOCK_ENTRIES // max(n_u, 1))
    for i in range(0, n, rows):
        m = min(rows, n - i)
        j = rng.integers(0, np.maximum(counts, 1), size=(m, n_u))
        pick = order[np.arange(n_u)[None, :], j]
        out[i : i + m] = np.where(counts[None, :] > 0, pick, n_p)
    return out


def numpy_scores(a_ku: np.ndarray, problem: Problem, rows: int) -> Scores:
    """score_batch_numpy in blocks of `rows` candidates, concatenated."""
    parts = [score_batch_numpy(a_ku[i : i + rows], problem) for i in range(0, len(a_ku), rows)]
    return Scores(*(np.concatenate(f) for f in zip(*parts, strict=True)))


# ---- NumPy delta ---------------------------------------------------------------------------


class Tables(NamedTuple):
    """Problem tables with the 'unplaced' column P (site S) added, float64, caps inf."""

    objective: np.ndarray  # [U, P+1]
    gpus: np.ndarray  # [U, P+1]
    site: np.ndarray  # [U, P+1, 4]: IT, facility, heat kW; water L/h
    cost: np.ndarray  # [U, P+1]
    carbon: np.ndarray  # [U, P+1]
    allowed: np.ndarray  # bool[U, P+1]
    pool_site: np.ndarray  # int[P+1]
    gpu_cap: np.ndarray  # [P+1]
    site_cap: np.ndarray  # [S+1, 4]
    budget: float
    carbon_cap: float
    group_u: np.ndarray  # int[U]
    key_gp: np.ndarray  # int[G, P+1], S for unplaced


def tables_of(problem: Problem) -> Tables:
    n_u = problem.num_units
    n_s = problem.num_sites

    def col(table, last=0.0):
        return np.concatenate([table, np.broadcast_to(last, (n_u,))[:, None]], axis=1)

    site = np.stack(
        [
            col(problem.it_kw_up),
            col(problem.facility_kw_up),
            col(problem.heat_kw_up),
            col(problem.water_l_per_h_up),
        ],
        axis=2,
    )
    caps = np.stack(
        [
            problem.it_cap_kw_s,
            problem.facility_cap_kw_s,
            problem.heat_cap_kw_s,
            problem.water_cap_l_per_h_s,
        ],
        axis=1,
    )
    return Tables(
        objective=col(problem.objective_usd_per_h_up, problem.unplaced_usd_per_h_u),
        gpus=col(problem.gpus_up),
        site=site,
        cost=col(problem.cost_usd_per_h_up),
        carbon=col(problem.carbon_kg_per_h_up),
        allowed=col(problem.allowed_up, ~problem.must_place_u).astype(bool),
        pool_site=np.append(problem.pool_site_p, n_s),
        gpu_cap=np.append(problem.gpu_cap_p, np.inf),
        site_cap=np.concatenate([caps, np.full((1, 4), np.inf)]),
        budget=float(problem.budget_usd_per_h),
        carbon_cap=float(problem.carbon_cap_kg_per_h),
        group_u=problem.group_u,
        key_gp=np.concatenate(
            [problem.spread_key_gp, np.full((problem.num_groups, 1), n_s)], axis=1
        ).astype(np.int64),
    )


class NumpyIncumbent(NamedTuple):
    a_u: np.ndarray
    gpus_p1: np.ndarray
    site_s14: np.ndarray
    cost: float
    carbon: float
    keys: np.ndarray  # copies per (group, key) slot; the last slot = not counted


def _key_slot(t: Tables, u: np.ndarray, p: np.ndarray) -> np.ndarray:
    n_g, n_k = t.key_gp.shape[0], t.site_cap.shape[0]
    if n_g == 0:
        return np.zeros_like(u)
    g = np.maximum(t.group_u[u], 0)
    key = t.key_gp[g, p]
    counted = (t.group_u[u] >= 0) & (key < n_k - 1)
    return np.where(counted, g * n_k + key, n_g * n_k)


def numpy_incumbent(a_u: np.ndarray, t: Tables) -> NumpyIncumbent:
    units = np.arange(a_u.shape[0])
    n_p1, n_s1 = t.gpu_cap.shape[0], t.site_cap.shape[0]
    site_u = t.pool_site[a_u]
    v = t.site[units, a_u]
    n_slots = max(1, t.key_gp.shape[0] * n_s1) + 1
    return NumpyIncumbent(
        a_u=a_u,
        gpus_p1=np.bincount(a_u, t.gpus[units, a_u], minlength=n_p1),
        site_s14=np.stack([np.bincount(site_u, v[:, r], minlength=n_s1) for r in range(4)], axis=1),
        cost=float(t.cost[units, a_u].sum()),
        carbon=float(t.carbon[units, a_u].sum()),
        keys=np.bincount(_key_slot(t, units, a_u), minlength=n_slots).astype(float),
    )


def _over(x, cap):
    return np.maximum(x - cap, 0.0)


def numpy_delta(
    u: np.ndarray, p: np.ndarray, inc: NumpyIncumbent, t: Tables, w: Scores = DEFAULT_WEIGHTS
) -> np.ndarray:
    """float64[M]: change of the penalized score of each move u[i] -> p[i] (vectorised).

    The same algebra as placer.engines.kernels.delta.delta_one: only the old and new pool and
    site, the global totals, the mask and the redundancy keys change.
    """
    old = inc.a_u[u]
    d = (t.objective[u, p] - t.objective[u, old]) * w.objective
    load_o, load_n = inc.gpus_p1[old], inc.gpus_p1[p]
    cap_o, cap_n = t.gpu_cap[old], t.gpu_cap[p]
    d_gpu = (
        _over(load_o - t.gpus[u, old], cap_o)
        - _over(load_o, cap_o)
        + _over(load_n + t.gpus[u, p], cap_n)
        - _over(load_n, cap_n)
    )
    d += d_gpu * w.gpus_over
    s_old, s_new = t.pool_site[old], t.pool_site[p]
    v_old, v_new = t.site[u, old], t.site[u, p]
    lo, ln = inc.site_s14[s_old], inc.site_s14[s_new]
    co, cn = t.site_cap[s_old], t.site_cap[s_new]
    d_same = _over(lo - v_old + v_new, co) - _over(lo, co)
    d_split = _over(lo - v_old, co) - _over(lo, co) + _over(ln + v_new, cn) - _over(ln, cn)
    d_site = np.where((s_old == s_new)[:, None], d_same, d_split)
    d += d_site @ np.array([w.it_over, w.facility_over, w.heat_over, w.water_over])
    cost = inc.cost - t.cost[u, old] + t.cost[u, p]
    carbon = inc.carbon - t.carbon[u, old] + t.carbon[u, p]
    d += (_over(cost, t.budget) - _over(inc.cost, t.budget)) * w.budget_over
    d += (_over(carbon, t.carbon_cap) - _over(inc.carbon, t.carbon_cap)) * w.carbon_over
    d += (t.allowed[u, old].astype(float) - t.allowed[u, p]) * w.masked
    k_old, k_new = _key_slot(t, u, old), _key_slot(t, u, p)
    last = inc.keys.shape[0] - 1
    leave = np.where((k_old != last) & (inc.keys[k_old] >= 2), -1.0, 0.0)
    join = np.where((k_new != last) & (inc.keys[k_new] >= 1), 1.0, 0.0)
    d += np.where(k_old == k_new, 0.0, leave + join) * w.redundancy
    return np.where(p == old, 0.0, d)


# ---- benchmarks ---------------------------------------------------------------------------


def bench_scores(
    n_k: int, n_u: int, args: argparse.Namespace, base: dict[str, Any]
) -> list[dict[str, Any]]:
    problem = problem_for(n_u, args.pools, args.seed)
    rng = np.random.default_rng(args.seed)
    a_ku = random_choices(problem, n_k, rng)
    kp = to_kernel(problem)
    a_dev = block(jnp.asarray(a_ku))
    rows = max(1, min(n_k, NUMPY_BLOCK_ENTRIES // n_u))
    np_stats, ref = timed(lambda: numpy_scores(a_ku, problem, rows), args.repeats)
    evals = n_k * n_u
    baseline_eps = evals / np_stats["wall_s"]
    n_check = min(n_k, 256)
    scale = max(float(np.abs(ref.objective[:n_check]).max()), 1.0)
    lines = []
    for loads in LOADS:
        for mb in args.budgets_mb:
            chunk = chunk_size(n_u, n_k, budget_bytes=int(mb * (1 << 20)))
            check = score_batch(a_dev[:n_check], kp, chunk=min(chunk, n_check), loads=loads)
            diff = float(np.abs(np.asarray(check.objective) - ref.objective[:n_check]).max())
            stats, _ = timed(
                lambda c=chunk, lo=loads: block(score_batch(a_dev, kp, chunk=c, loads=lo)),
                args.repeats,
            )
            eps = evals / stats["wall_s"]
            lines.append(
                {
                    **base,
                    "bench": "kernel",
                    "instance": f"gen-{problem.num_units}x{problem.num_pools}-s{args.seed}",
                    "candidates": n_k,
                    "units": problem.num_units,
                    "pools": problem.num_pools,
                    "sites": problem.num_sites,
                    "groups": problem.num_groups,
                    "loads": loads,
                    "chunk_budget_mb": mb,
                    "chunk": chunk,
                    **stats,
                    "evals_per_s": round(eps),
                    "baseline": "numpy",
                    "baseline_wall_s": np_stats["wall_s"],
                    "baseline_min_s": np_stats["min_s"],
                    "baseline_max_s": np_stats["max_s"],
                    "baseline_evals_per_s": round(baseline_eps),
                    "baseline_chunk_candidates": rows,
                    "baseline_chunked": rows < n_k,
                    "ratio_vs_baseline": round(eps / baseline_eps, 3),
                    "check_candidates": n_check,
                    "check_max_rel_diff": diff / scale,
                    "peak_rss_mb": peak_rss_mb(),
                }
            )
    return lines


def bench_delta(
    n_m: int, n_u: int, args: argparse.Namespace, base: dict[str, Any]
) -> dict[str, Any]:
    problem = problem_for(n_u, args.pools, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    a_u = random_choices(problem, 1, rng)[0]
    u_m = rng.integers(0, problem.num_units, n_m)
    # a random allowed pool of each moved unit: a row of fresh random choices, gathered
    p_m = random_choices(problem, max(1, n_m // problem.num_units + 1), rng)
    p_m = p_m[np.arange(n_m) % p_m.shape[0], u_m].astype(np.int64)
    kp = to_kernel(problem)
    inc = block(incumbent(jnp.asarray(a_u), kp))
    u_dev, p_dev = block((jnp.asarray(u_m, jnp.int32), jnp.asarray(p_m, jnp.int32)))
    t = tables_of(problem)
    np_inc = numpy_incumbent(a_u.astype(np.int64), t)
    np_stats, ref = timed(lambda: numpy_delta(u_m, p_m, np_inc, t), args.repeats)
    stats, got = timed(lambda: block(delta_moves(u_dev, p_dev, inc, kp)), args.repeats)
    return _moves_record("delta", problem, n_m, stats, got, np_stats, ref, args, base)


def bench_delta_rows(n_u: int, args: argparse.Namespace, base: dict[str, Any]) -> dict[str, Any]:
    """`delta_rows`: every unit of a gen-{n_u}x{pools} instance moved to every pool (and
    unplaced), U x (P+1) moves in one call, against numpy_delta of the same moves."""
    problem = problem_for(n_u, args.pools, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    a_u = random_choices(problem, 1, rng)[0]
    n_p1 = problem.num_pools + 1
    units = np.arange(problem.num_units)
    u_m, p_m = np.repeat(units, n_p1), np.tile(np.arange(n_p1), problem.num_units)
    kp = to_kernel(problem)
    inc = block(incumbent(jnp.asarray(a_u), kp))
    u_dev = block(jnp.asarray(units, jnp.int32))
    t = tables_of(problem)
    np_inc = numpy_incumbent(a_u.astype(np.int64), t)
    np_stats, ref = timed(lambda: numpy_delta(u_m, p_m, np_inc, t), args.repeats)
    stats, got = timed(lambda: block(delta_rows(u_dev, inc, kp)), args.repeats)
    return _moves_record("delta_rows", problem, u_m.size, stats, got, np_stats, ref, args, base)


def _moves_record(bench, problem, n_m, stats, got, np_stats, ref, args, base) -> dict[str, Any]:
    """One JSON line of a move benchmark: kernel and NumPy timings of the same n_m
    moves, their ratio, and the kernel's largest difference from NumPy (relative)."""
    scale = max(float(np.abs(ref).max()), 1.0)
    mps, base_mps = n_m / stats["wall_s"], n_m / np_stats["wall_s"]
    return {
        **base,
        "bench": bench,
        "instance": f"gen-{problem.num_units}x{problem.num_pools}-s{args.seed}",
        "moves": n_m,
        "units": problem.num_units,
        "pools": problem.num_pools,
        "weights": "DEFAULT_WEIGHTS",
        **stats,
        "moves_per_s": round(mps),
        "baseline": "numpy",
        "baseline_wall_s": np_stats["wall_s"],
        "baseline_min_s": np_stats["min_s"],
        "baseline_max_s": np_stats["max_s"],
        "baseline_moves_per_s": round(base_mps),
        "ratio_vs_baseline": round(mps / base_mps, 3),
        "check_max_rel_diff": float(np.abs(np.asarray(got).ravel() - ref).max()) / scale,
        "peak_rss_mb": peak_rss_mb(),
    }


def _parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    out = []
    for item in text.split(","):
        k, u = item.lower().split("x")
        out.append((int(float(k)), int(float(u))))
    return tuple(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke run, under a minute")
    parser.add_argument("--seed", type=int, default=1, help="instance and candidate seed")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (>= 5)")
    parser.add_argument("--pools", type=int, default=50, help="pools of each instance")
    parser.add_argument(
        "--sizes", type=_parse_sizes, default=None, help="KxU,... (default: by --quick)"
    )
    parser.add_argument(
        "--budgets-mb",
        type=lambda s: tuple(float(x) for x in s.split(",")),
        default=BUDGETS_MB,
        help="chunk budgets in MB, comma separated (default 1,4,16)",
    )
    parser.add_argument(
        "--moves",
        type=lambda s: tuple(int(float(x)) for x in s.split(",")),
        default=None,
        help="M,... moves for delta_moves (default: by --quick)",
    )
    parser.add_argument("--delta-units", type=int, default=1000, help="U of the delta instance")
    parser.add_argument(
        "--row-units",
        type=lambda s: tuple(int(float(x)) for x in s.split(",")),
        default=None,
        help="U,... of the delta_rows instances (default: by --quick)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be >= 5 (shared/BENCHMARKS.md)")
    sizes = args.sizes or (SIZES_QUICK if args.quick else SIZES_FULL)
    moves = args.moves or (MOVES_QUICK if args.quick else MOVES_FULL)
    base = {"seed": args.seed, "repeats": args.repeats, "quick": args.quick, "machine": machine()}
    t_start = time.perf_counter()
    summary: list[str] = []
    for n_k, n_u in sizes:
        lines = bench_scores(n_k, n_u, args, base)
        for line in lines:
            print(json.dumps(line), flush=True)
        best = max(lines, key=lambda r: r["evals_per_s"])
        summary.append(
            f"score_batch K={n_k:>9,} U={lines[0]['units']:>5}: numpy "
            f"{lines[0]['baseline_evals_per_s']:.3g} evals/s"
            + (
                f" (in blocks of {lines[0]['baseline_chunk_candidates']})"
                if lines[0]["baseline_chunked"]
                else ""
            )
        )
        for r in lines:
            summary.append(
                f"    {r['loads']:>7} {r['chunk_budget_mb']:>5g} MB (chunk {r['chunk']:>5}): "
                f"{r['evals_per_s']:.3g} evals/s  x{r['ratio_vs_baseline']:.2f} vs numpy"
                f"  [{r['min_s']:.3f}-{r['max_s']:.3f} s]"
            )
        summary.append(
            f"    fastest: {best['loads']} at {best['chunk_budget_mb']:g} MB, "
            f"x{best['ratio_vs_baseline']:.2f} vs numpy"
        )
    for n_m in moves:
        line = bench_delta(n_m, args.delta_units, args, base)
        print(json.dumps(line), flush=True)
        summary.append(
            f"delta_moves M={n_m:>9,} U={line['units']}: {line['moves_per_s']:.3g} moves/s, "
            f"numpy {line['baseline_moves_per_s']:.3g} moves/s, x{line['ratio_vs_baseline']:.2f}"
        )
    for n_u in args.row_units or (ROW_UNITS_QUICK if args.quick else ROW_UNITS_FULL):
        line = bench_delta_rows(n_u, args, base)
        print(json.dumps(line), flush=True)
        summary.append(
            f"delta_rows  M={line['moves']:>9,} U={line['units']}: {line['moves_per_s']:.3g} "
            f"moves/s, numpy {line['baseline_moves_per_s']:.3g} moves/s, "
            f"x{line['ratio_vs_baseline']:.2f}"
        )
    m = base["machine"]
    print(
        f"machine: {m['cpus']} cpus, jax {m['jax']} {m['jax_backend']} {m['jax_devices']}, "
        f"numpy {m['numpy']}; total {time.perf_counter() - t_start:.1f} s, "
        f"peak RSS {peak_rss_mb()} MB",
        file=sys.stderr,
    )
    print("\n".join(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
