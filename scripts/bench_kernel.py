#!/usr/bin/env python3
"""Benchmarks the JAX scoring kernels against their NumPy baselines, in the same run.

Three figures, each beside its baseline and the ratio (shared/BENCHMARKS.md):

  1. `score_batch` (placer.engines.kernels.score): candidate x unit evaluations per second, for
     both loads methods ("segment", "onehot") and several chunk budgets (1, 4, 16 MB, the
     `budget_bytes` of `chunk_size`), against the vectorised float64 NumPy reference
     `score_batch_numpy` (placer.engines.kernels.reference) on the same candidates. Sizes C x U
     (candidates x units): 1e4 x 1e3, 1e5 x 1e3 and 1e6 x 1e2 (--quick: 1e3 x 1e3 and
     1e4 x 1e2). The NumPy reference holds about thirty float64 [C, U] temporaries at once
     (amounts of every quantity, rows and values of every term: ~230 B per entry), so it
     runs in blocks of at most 1e7 candidate x unit entries (~2.3 GB of temporaries):
     1e4 x 1e3 fits in one block, 1e5 x 1e3 and 1e6 x 1e2 run in 10 blocks each; each
     line says so (`baseline_chunk_candidates`, `baseline_chunked`).
  2. `delta_moves` (placer.engines.kernels.delta): single-unit moves scored per second against an
     incumbent, M = 1e5 and 1e6 (--quick: 1e4, 1e5), against a vectorised NumPy float64
     delta written here (`numpy_delta`) that recomputes the same change of the penalized
     score from the incumbent's row loads. Both start from precomputed incumbent loads and
     use DEFAULT_WEIGHTS.
  3. `delta_rows`: the same moves in row form: every unit of gen-Ux--pools moved to
     every slot of its option list and to unplaced, U x (K+1) moves per call, U = 2,000
     and 20,000 (--quick: 2,000), against `numpy_delta` of exactly those moves. This is
     how a search scores "the best option for each of these units": contiguous rows of
     the slot tables instead of scattered gathers.

Instances: `generate_scenario(units=U, pools=--pools, seed=--seed)` compiled with
`compile_problem` (the generator hits U exactly at these sizes); each line gives its
pools, options, slots K (the longest option list) and capacity rows. Candidates are
kernel slots (int32[C, U], K = unplaced): for each unit, a uniformly random slot among
its listed options (unplaced, slot K, when it lists none), drawn with
`numpy.random.default_rng(seed)`. Moves: a random unit and a random listed slot of it,
against a random incumbent drawn the same way.

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

from placer.engines.kernels.arrays import slot_tables, to_kernel  # noqa: E402
from placer.engines.kernels.delta import delta_moves, delta_rows, incumbent  # noqa: E402
from placer.engines.kernels.reference import score_batch_numpy  # noqa: E402
from placer.engines.kernels.score import (  # noqa: E402
    DEFAULT_WEIGHTS,
    Scores,
    Weights,
    chunk_size,
    score_batch,
)
from placer.model.generate import generate_scenario  # noqa: E402
from placer.problem.compile import compile_problem  # noqa: E402
from placer.problem.form import Problem  # noqa: E402

SIZES_FULL = ((10_000, 1_000), (100_000, 1_000), (1_000_000, 100))
SIZES_QUICK = ((1_000, 1_000), (10_000, 100))
MOVES_FULL = (100_000, 1_000_000)
MOVES_QUICK = (10_000, 100_000)
#: Units of the delta_rows instances (each unit x every slot: U x (K + 1) moves).
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
    """int32[n, U]: per unit a uniformly random listed slot (K, unplaced, when it lists
    none)."""
    listed = problem.listed_uk
    n_u, n_k = listed.shape
    counts = listed.sum(axis=1)
    order = np.argsort(~listed, axis=1, kind="stable")  # listed slots first, in order
    out = np.empty((n, n_u), np.int32)
    rows = max(1, NUMPY_BLOCK_ENTRIES // max(n_u, 1))
    for i in range(0, n, rows):
        m = min(rows, n - i)
        j = rng.integers(0, np.maximum(counts, 1), size=(m, n_u))
        pick = order[np.arange(n_u)[None, :], j]
        out[i : i + m] = np.where(counts[None, :] > 0, pick, n_k)
    return out


def numpy_scores(a_cu: np.ndarray, problem: Problem, rows: int) -> Scores:
    """score_batch_numpy in blocks of `rows` candidates, concatenated."""
    parts = [score_batch_numpy(a_cu[i : i + rows], problem) for i in range(0, len(a_cu), rows)]
    return Scores(*(np.concatenate(f) for f in zip(*parts, strict=True)))


# ---- NumPy delta ---------------------------------------------------------------------------


class Tables(NamedTuple):
    """The kernel's slot layout in float64 NumPy (`arrays.slot_tables`: column K =
    unplaced, option O = none, row R = none), with capacities (inf: none), the penalty
    weight of every row and the redundancy counter of every (group, option)."""

    objective: np.ndarray  # [U, K+1]
    amount: np.ndarray  # [U, K+1, Q]
    option: np.ndarray  # int[U, K+1], O for none
    allowed: np.ndarray  # bool[U, K+1]
    row_o1j: np.ndarray  # int[O+1, J], R for none
    quantity_o1j: np.ndarray  # int[O+1, J]
    cap_r1: np.ndarray  # [R+1], inf for the dummy row
    weight_r1: np.ndarray  # [R+1], 0 for the dummy row
    group_u: np.ndarray  # int[U]
    spread_go1: np.ndarray  # int[G, O+1]: g x keys + key; N (not counted) for option O
    n_spread: int  # N


def tables_of(problem: Problem, w: Weights = DEFAULT_WEIGHTS) -> Tables:
    t = slot_tables(problem)
    n_o, n_g = problem.num_options, problem.num_groups
    keys = max(problem.num_sites, 1)
    spread = np.full((n_g, n_o + 1), n_g * keys, np.int64)
    spread[:, :n_o] = np.arange(n_g)[:, None] * keys + problem.spread_key_go
    return Tables(
        objective=t.objective_uk1,
        amount=t.amount_uk1q,
        option=t.option_uk1.astype(np.int64),
        allowed=t.allowed_uk1,
        row_o1j=t.row_o1j.astype(np.int64),
        quantity_o1j=t.quantity_o1j.astype(np.int64),
        cap_r1=np.append(problem.cap_r, np.inf),
        weight_r1=np.append(np.asarray(w.over_k, float)[problem.kind_r], 0.0),
        group_u=problem.group_u.astype(np.int64),
        spread_go1=spread,
        n_spread=n_g * keys,
    )


class NumpyIncumbent(NamedTuple):
    a_u: np.ndarray
    load_r1: np.ndarray  # row loads; the last: the dummy row
    keys: np.ndarray  # copies per (group, key) counter; the last = not counted


def _spread_slot(t: Tables, u: np.ndarray, option: np.ndarray) -> np.ndarray:
    if t.spread_go1.shape[0] == 0:
        return np.full(np.shape(u), t.n_spread)
    g = t.group_u[u]
    return np.where(g >= 0, t.spread_go1[np.maximum(g, 0), option], t.n_spread)


def _terms(t: Tables, u: np.ndarray, k: np.ndarray):
    """(option [M], rows int[M, J], values [M, J]) of units u in slots k."""
    option = t.option[u, k]
    values = np.take_along_axis(t.amount[u, k], t.quantity_o1j[option], axis=1)
    return option, t.row_o1j[option], values


def numpy_incumbent(a_u: np.ndarray, t: Tables) -> NumpyIncumbent:
    units = np.arange(a_u.shape[0])
    option, rows, values = _terms(t, units, a_u)
    return NumpyIncumbent(
        a_u=a_u,
        load_r1=np.bincount(rows.ravel(), values.ravel(), minlength=t.cap_r1.shape[0]),
        keys=np.bincount(_spread_slot(t, units, option), minlength=t.n_spread + 1).astype(float),
    )


def _over(x, cap):
    return np.maximum(x - cap, 0.0)


def numpy_delta(
    u: np.ndarray, k: np.ndarray, inc: NumpyIncumbent, t: Tables, w: Weights = DEFAULT_WEIGHTS
) -> np.ndarray:
    """float64[M]: change of the penalized score of each move u[i] -> slot k[i]
    (vectorised; `t` carries the row weights of `w`).

    The same algebra as placer.engines.kernels.delta.delta_one: only the rows of the old
    and new option (J terms each), the mask and the redundancy keys change.
    """
    old = inc.a_u[u]
    d = (t.objective[u, k] - t.objective[u, old]) * w.objective
    o_old, r_old, v_old = _terms(t, u, old)
    o_new, r_new, v_new = _terms(t, u, k)
    match = r_new[:, None, :] == r_old[:, :, None]  # [M, J_old, J_new]
    load_o, cap_o = inc.load_r1[r_old], t.cap_r1[r_old]
    after_o = load_o - v_old + (match * v_new[:, None, :]).sum(axis=2)
    d += ((_over(after_o, cap_o) - _over(load_o, cap_o)) * t.weight_r1[r_old]).sum(axis=1)
    load_n, cap_n = inc.load_r1[r_new], t.cap_r1[r_new]
    d_new = (_over(load_n + v_new, cap_n) - _over(load_n, cap_n)) * t.weight_r1[r_new]
    d += np.where(match.any(axis=1), 0.0, d_new).sum(axis=1)
    d += (t.allowed[u, old].astype(float) - t.allowed[u, k]) * w.masked
    s_old, s_new = _spread_slot(t, u, o_old), _spread_slot(t, u, o_new)
    last = inc.keys.shape[0] - 1
    leave = np.where((s_old != last) & (inc.keys[s_old] >= 2), -1.0, 0.0)
    join = np.where((s_new != last) & (inc.keys[s_new] >= 1), 1.0, 0.0)
    d += np.where(s_old == s_new, 0.0, leave + join) * w.redundancy
    return np.where(k == old, 0.0, d)


# ---- benchmarks ---------------------------------------------------------------------------


def bench_scores(
    n_k: int, n_u: int, args: argparse.Namespace, base: dict[str, Any]
) -> list[dict[str, Any]]:
    problem = problem_for(n_u, args.pools, args.seed)
    rng = np.random.default_rng(args.seed)
    a_cu = random_choices(problem, n_k, rng)
    kp = to_kernel(problem)
    a_dev = block(jnp.asarray(a_cu))
    rows = max(1, min(n_k, NUMPY_BLOCK_ENTRIES // n_u))
    np_stats, ref = timed(lambda: numpy_scores(a_cu, problem, rows), args.repeats)
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
                    "options": problem.num_options,
                    "slots": problem.num_slots,
                    "rows": problem.num_rows,
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
    # a random listed slot of each moved unit: a row of fresh random choices, gathered
    k_m = random_choices(problem, max(1, n_m // problem.num_units + 1), rng)
    k_m = k_m[np.arange(n_m) % k_m.shape[0], u_m].astype(np.int64)
    kp = to_kernel(problem)
    inc = block(incumbent(jnp.asarray(a_u), kp))
    u_dev, k_dev = block((jnp.asarray(u_m, jnp.int32), jnp.asarray(k_m, jnp.int32)))
    t = tables_of(problem)
    np_inc = numpy_incumbent(a_u.astype(np.int64), t)
    np_stats, ref = timed(lambda: numpy_delta(u_m, k_m, np_inc, t), args.repeats)
    stats, got = timed(lambda: block(delta_moves(u_dev, k_dev, inc, kp)), args.repeats)
    return _moves_record("delta", problem, n_m, stats, got, np_stats, ref, args, base)


def bench_delta_rows(n_u: int, args: argparse.Namespace, base: dict[str, Any]) -> dict[str, Any]:
    """`delta_rows`: every unit of a gen-{n_u}x{pools} instance moved to every slot of
    its option list (and unplaced), U x (K+1) moves in one call, against numpy_delta of
    the same moves."""
    problem = problem_for(n_u, args.pools, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    a_u = random_choices(problem, 1, rng)[0]
    n_k1 = problem.num_slots + 1
    units = np.arange(problem.num_units)
    u_m, k_m = np.repeat(units, n_k1), np.tile(np.arange(n_k1), problem.num_units)
    kp = to_kernel(problem)
    inc = block(incumbent(jnp.asarray(a_u), kp))
    u_dev = block(jnp.asarray(units, jnp.int32))
    t = tables_of(problem)
    np_inc = numpy_incumbent(a_u.astype(np.int64), t)
    np_stats, ref = timed(lambda: numpy_delta(u_m, k_m, np_inc, t), args.repeats)
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
        "slots": problem.num_slots,
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
            f"score_batch C={n_k:>9,} U={lines[0]['units']:>5}: numpy "
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
