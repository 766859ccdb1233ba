#!/usr/bin/env python3
"""Node-packing benchmark: `"bench": "nodes"` JSON lines (../shared/BENCHMARKS.md).

A generated fleet with node shapes (`placer.model.generate_nodes`: five on-prem halls
with power caps, H100-SXM / A100-80GB / L40S pools of 1-, 2-, 4- and 8-GPU nodes and a
few MIG nodes, two cloud regions without node shapes as overflow; training gangs of 1-
to 8-GPU pods, inference replicas of 1-2 whole GPUs, of 1/2, 1/4, 1/8 of a GPU, or in a
MIG profile), solved by each solver of `--solvers`, one JSON line per run:

  * `ffd`: the first-fit-decreasing baseline cluster schedulers use, written here from
    the Scenario: units (must-place first, then by GPUs on their cheapest pool,
    largest first) each go to the cheapest allowed pool (compile's allowed pools and
    costs: accelerator, latency SLO, residency ...; an optional unit only where it
    costs less than its value, as placer's greedy) where every pool and site capacity
    still holds and all its pods fit the pool's nodes by first fit (largest pod first,
    each on the lowest-numbered node with room, slot sizes as placer counts them:
    `placer.plan.build_nodes.pod_ask`), its MIG replicas first-fit onto MIG GPUs at
    their profile's allowed starts (`placer.model.mig.MIG_TYPES`); otherwise the next
    pool, otherwise unplaced. The choice becomes a placer Plan (`build_plan`), so its
    objective and fragmentation are computed as placer's are, and `verify` checks it.
    `ffd_own_*` state the fragmentation of the baseline's own node layout (its
    pods where first fit put them, not re-packed); `ffd_node_misses` the units that
    went to a dearer pool or unplaced because first fit found no room on the nodes of
    a pool whose GPU and site capacities had room.
  * `auto`, `milp`, `hybrid`, `greedy`: `placer.api.solve` with that solver and
    `--time-limit-s`; `ratio_to_baseline` = objective / the ffd objective.

Each line: objective, bound (null for ffd), gap, wall_s, peak_rss_mb (each run in its
own forked process), status, placed / unplaced units, pods placed, fragmented_gpus and
free_gpus (sums over the pools with node shapes of `plan.nodes`), verify violations,
and the sizes (nodes, node GPUs, pods, fractional pods and share, units, pools). Pods
of the fleet are counted per unit on the pool where it needs the fewest. `onprem_*`:
GPUs in use at the halls and how many draw their IT cap (`--power-cap 1,1` sets the
caps at the nodes' full load, so that only the nodes bind).

Protocol: one timed run per solver (a solve of one to two minutes; the figures that
matter are objective and fragmentation against the baseline of the same run).

Usage:
    python scripts/bench_nodes.py                       # 1,200 nodes, ~6,400 pods
    python scripts/bench_nodes.py --small               # a CI smoke size
    python scripts/bench_nodes.py --nodes 2000 --solvers ffd,hybrid --time-limit-s 120
"""

from __future__ import annotations

import argparse
import heapq
import os
import sys
import time
from pathlib import Path

import numpy as np

from placer.api import solve, versions
from placer.engines.base import SolveResult
from placer.engines.greedy import LoadState
from placer.model.generate_nodes import generate_node_fleet
from placer.model.mig import MIG_TYPES
from placer.model.nodes import MAX_GPU_SHARES, default_pod_gpus, usable_free_gpus
from placer.model.scenario import Scenario
from placer.model.site import Pool
from placer.model.workload import Training
from placer.plan.build import build_plan
from placer.plan.build_nodes import asked_sizes, mig_type, pod_ask
from placer.plan.plan import Plan
from placer.plan.verify import verify
from placer.problem.compile import compile_problem
from placer.problem.form import UNPLACED, Index, Problem
from placer.problem.rows import K_MIG, K_NODES, Q_GPUS
from placer.problem.usage import objective_value

SOLVER_CHOICES = ("ffd", "auto", "milp", "hybrid", "greedy")


# ---- the fleet's sizes ------------------------------------------------------------------


def pods_of(w, pool: Pool, replicas: int) -> int:
    """Pods of one placement: a gang's pods, or an inference unit's replicas."""
    if not isinstance(w, Training):
        return int(replicas)
    if w.pod is not None and w.pod.gpus:
        return w.gpus // w.pod.gpus
    largest = max((n.gpus for n in pool.nodes or [] if not n.mig), default=pool.gpus_per_node)
    return w.gpus // default_pod_gpus(w.gpus, largest)


def fleet_sizes(scenario: Scenario, problem: Problem, index: Index) -> dict:
    """Nodes, GPUs, pods (per unit, on its allowed pool with the fewest), fractional
    pods (replicas below one GPU or in a MIG profile, on that pool), units, pools."""
    workloads = {w.id: w for w in scenario.workloads}
    pools = _pools(scenario, index)
    pods = fractional = 0
    for u, unit in enumerate(index.units):
        opts, slots = problem.options_of(u)
        if opts.size == 0:
            continue
        w = workloads[unit.workload]
        counts = [
            pods_of(w, pools[o], index.replicas_uk[u, k]) for o, k in zip(opts, slots, strict=True)
        ]
        best = int(np.argmin(counts))
        pods += counts[best]
        share = problem.amount_quk[Q_GPUS, u, slots[best]] / max(counts[best], 1)
        fractional += counts[best] if unit.kind == "inference" and share < 1 - 1e-9 else 0
    shapes = [n for s in scenario.sites for p in s.pools for n in p.nodes or []]
    return {
        "nodes": sum(n.count for n in shapes),
        "node_gpus": sum(n.count * n.gpus for n in shapes),
        "mig_gpus": sum(n.count * n.gpus for n in shapes if n.mig),
        "pods": pods,
        "fractional_pods": fractional,
        "fractional_share": round(fractional / max(pods, 1), 4),
        "units": problem.num_units,
        "workloads": len(scenario.workloads),
        "pools": problem.num_pools,
        "pools_with_nodes": sum(1 for s in scenario.sites for p in s.pools if p.nodes),
        "pairs": problem.num_pairs(),
    }


def _pools(scenario: Scenario, index: Index) -> list[Pool]:
    """The Pool of each of compile's pools (a static option is its pool)."""
    sites = {s.id: s for s in scenario.sites}
    return [next(q for q in sites[p.site].pools if q.key == p.key) for p in index.pools]


# ---- the first-fit-decreasing baseline ---------------------------------------------------


class NodeState:
    """Free GPUs (in eighths) of a pool's nodes without MIG, shape-major like
    `placer.model.nodes.pack_pods`, one heap of node indices per free amount."""

    def __init__(self, pool: Pool) -> None:
        shapes = [n for n in pool.nodes or [] if not n.mig]
        self.free = [n.gpus * MAX_GPU_SHARES for n in shapes for _ in range(n.count)]
        self.buckets: list[list[int]] = [[] for _ in range(max(self.free, default=0) + 1)]
        for k, f in enumerate(self.free):
            self.buckets[f].append(k)  # ascending k: already a heap

    def fits(self, size: int, count: int) -> bool:
        """`count` pods of `size` eighths fit by first fit: equal pods fit iff the nodes
        hold `count` slots of that size (each pod takes one slot of the node it is on)."""
        room = sum(len(b) * (f // size) for f, b in enumerate(self.buckets) if f >= size)
        return room >= count

    def place(self, size: int, count: int) -> None:
        """Each pod on the lowest-numbered node with `size` eighths free."""
        for _ in range(count):
            k, f = min((b[0], f) for f, b in enumerate(self.buckets) if f >= size and b)
            heapq.heappop(self.buckets[f])
            self.free[k] -= size
            heapq.heappush(self.buckets[self.free[k]], k)

    def free_gpus(self) -> list[float]:
        return [f / MAX_GPU_SHARES for f in self.free]


class MigState:
    """Used memory slices (a bit mask) of each MIG GPU of a pool."""

    def __init__(self, pool: Pool) -> None:
        self.used = [0] * sum(n.count * n.gpus for n in pool.nodes or [] if n.mig)

    def try_place(self, t: int, count: int) -> bool:
        """`count` instances of MIG type t, each at the first (GPU, allowed start) with
        its slices free; all or none."""
        used, kind = list(self.used), MIG_TYPES[t]
        for _ in range(count):
            spot = next(
                (
                    (g, mask)
                    for g in range(len(used))
                    for start in kind.starts
                    if not used[g] & (mask := ((1 << kind.memory) - 1) << start)
                ),
                None,
            )
            if spot is None:
                return False
            used[spot[0]] |= spot[1]
        self.used = used
        return True


def ffd_assign(scenario: Scenario, problem: Problem, index: Index) -> tuple[np.ndarray, dict, int]:
    """int32[U] options (a static option is a pool; -1 unplaced) of the baseline, each
    pool's node state (pool index -> NodeState) after it, and how many units went to a
    dearer pool or unplaced because their pods did not fit a pool's nodes (or MIG GPUs)
    where its GPU and site capacities had room."""
    workloads = {w.id: w for w in scenario.workloads}
    pools = _pools(scenario, index)
    nodes = {p: NodeState(q) for p, q in enumerate(pools) if q.nodes}
    migs = {p: MigState(q) for p, q in enumerate(pools) if q.nodes}
    node_rows = np.isin(problem.kind_r, (K_NODES, K_MIG))  # packed below, not counted
    state = LoadState(problem._replace(cap_r=np.where(node_rows, np.inf, problem.cap_r)))
    assign = np.full(problem.num_units, UNPLACED, dtype=np.int32)
    misses = 0
    for u in _decreasing(problem):
        opts, slots = problem.options_of(u)
        obj = problem.objective_usd_per_h_uk[u, slots]
        order = np.argsort(obj, kind="stable")
        if not problem.must_place_u[u]:  # an optional unit only where it is worth it
            order = order[obj[order] <= problem.unplaced_usd_per_h_u[u]]
        if order.size == 0:
            continue
        fit = state.fitting(u, opts[order], slots[order])
        missed = False
        w = workloads[index.units[u].workload]
        for o, k in zip(opts[order][fit], slots[order][fit], strict=True):
            p = int(problem.pool_o[o])
            if p in nodes and not _pack(w, pools[p], index.replicas_uk[u, k], nodes[p], migs[p]):
                missed = True
                continue
            state.add(u, int(o))
            assign[u] = o
            break
        misses += missed
    return assign, nodes, misses


def _decreasing(problem: Problem) -> np.ndarray:
    """Unit indices: must-place first, then GPUs on the cheapest option, largest first."""
    obj = np.where(problem.listed_uk, problem.objective_usd_per_h_uk, np.inf)
    cheapest = obj.argmin(axis=1)
    gpus = problem.amount_quk[Q_GPUS, np.arange(problem.num_units), cheapest]
    gpus = np.where(problem.listed_uk.any(axis=1), gpus, 0.0)
    return np.lexsort((np.arange(problem.num_units), -gpus, ~problem.must_place_u))


def _pack(w, pool: Pool, replicas: int, nodes: NodeState, migs: MigState) -> bool:
    """Places the pods of `w` on the pool's nodes (or MIG GPUs) by first fit; False (and
    nothing placed) when they do not all fit."""
    t = mig_type(w, pool)
    if t is not None:
        return migs.try_place(t, int(replicas))
    count, _, slot = pod_ask(w, pool, int(replicas))
    size = round(slot * MAX_GPU_SHARES)
    if not nodes.fits(size, count):
        return False
    nodes.place(size, count)
    return True


def ffd_plan(scenario: Scenario, seed: int = 0) -> tuple[Plan, dict]:
    """The baseline's Plan (built by placer's `build_plan`) and its own layout's figures."""
    started = time.perf_counter()
    problem, index = compile_problem(scenario)
    assign, nodes, misses = ffd_assign(scenario, problem, index)
    missing = problem.must_place_u & (assign == UNPLACED)
    result = SolveResult(
        assign,
        "no_solution" if missing.any() else "feasible",
        objective_usd_per_h=objective_value(problem, assign),
        message=f"first-fit decreasing over nodes ({int(missing.sum())} must-place left out)",
    )
    plan = build_plan(
        scenario,
        problem,
        index,
        result,
        solver="ffd",
        seed=seed,
        time_limit_s=None,
        wall_s=time.perf_counter() - started,
        versions=versions(),
    )
    return plan, {**_own_layout(scenario, index, nodes), "ffd_node_misses": misses}


def _own_layout(scenario: Scenario, index: Index, nodes: dict) -> dict:
    """Free and fragmented GPUs of the baseline's own layout, as `plan.nodes` counts them
    (free GPUs that the largest pod size asked of the pool cannot use)."""
    pools = _pools(scenario, index)
    free = frag = 0.0
    for p, state in nodes.items():
        left = state.free_gpus()
        sizes = asked_sizes(scenario, pools[p]) or [1.0]
        free += sum(left)
        frag += sum(left) - usable_free_gpus(left, max(sizes))
    return {"ffd_own_free_gpus": round(free, 6), "ffd_own_fragmented_gpus": round(frag, 6)}


# ---- one run, one line ---------------------------------------------------------------------


def plan_figures(scenario: Scenario, plan: Plan) -> dict:
    """What every line states of a plan: quality, placement counts, pods, fragmentation."""
    workloads = {w.id: w for w in scenario.workloads}
    sites = {s.id: s for s in scenario.sites}
    pods = sum(
        pods_of(
            workloads[pl.workload],
            next(q for q in sites[pl.site].pools if q.key == pl.pool),
            pl.replicas,
        )
        for pl in plan.placements
    )
    return {
        "status": plan.status,
        "objective": plan.objective_usd_per_h,
        "bound": plan.bound_usd_per_h,
        "gap": plan.gap,
        "placed_units": len(plan.placements),
        "unplaced_units": len(plan.unplaced),
        "pods_placed": pods,
        "gpus_placed": plan.totals.gpus if plan.totals else None,
        "fragmented_gpus": round(sum(float(n.fragmented_gpus) for n in plan.nodes), 6),
        "free_gpus": round(sum(float(n.free_gpus) for n in plan.nodes), 6),
        "nodes_used": sum(n.nodes_used for n in plan.nodes),
        **_onprem(plan),
        "cost_usd_per_h": plan.totals.cost_usd_per_h if plan.totals else None,
        "unplaced_value_usd_per_h": plan.totals.unplaced_value_usd_per_h if plan.totals else None,
        "violations": len(verify(scenario, plan)),
    }


def _onprem(plan: Plan) -> dict:
    """GPUs used on the sites with IT caps (the halls), and how many halls draw their
    IT cap (>= 99.5%): free GPUs there are stranded by power, not by packing."""
    capped = [s for s in plan.sites if s.it_capacity_kw is not None]
    at_cap = [s for s in capped if s.it_kw >= 0.995 * float(s.it_capacity_kw)]
    return {
        "onprem_gpus_used": round(sum(float(s.gpus_used) for s in capped), 6),
        "onprem_gpus": sum(s.gpus_total for s in capped),
        "onprem_sites_at_it_cap": len(at_cap),
        "onprem_sites": len(capped),
    }


def run_one(scenario: Scenario, solver: str, time_limit_s: float, seed: int) -> dict:
    """One solver run (timed) and its figures; the baseline's own layout for ffd."""
    started = time.perf_counter()
    if solver == "ffd":
        plan, own = ffd_plan(scenario, seed)
    else:
        plan = solve(scenario, solver=solver, time_limit_s=time_limit_s, seed=seed)
        own = {}
    wall = time.perf_counter() - started
    return {"engine": plan.solver, "wall_s": round(wall, 3), **plan_figures(scenario, plan), **own}


# ---- main ------------------------------------------------------------------------------------


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1200, help="on-prem nodes (default 1200)")
    ap.add_argument("--pods", type=int, default=None, help="pods (default 5.3 per node)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--power-cap",
        default="0.9,1.0",
        help="LO,HI: each hall's IT cap as a share of its nodes' full load, drawn in "
        "[LO, HI] (default 0.9,1.0); 1,1 leaves the nodes alone to bind",
    )
    ap.add_argument("--time-limit-s", type=float, default=90.0, help="per placer solve")
    ap.add_argument(
        "--solvers",
        default="ffd,auto",
        help=f"comma-separated, from {','.join(SOLVER_CHOICES)}; ffd runs first",
    )
    ap.add_argument("--small", "--quick", action="store_true", help="60 nodes, 20 s: CI smoke")
    args = ap.parse_args(argv)
    if args.small:
        args.nodes, args.time_limit_s = 60, 20.0
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    if unknown := sorted(set(solvers) - set(SOLVER_CHOICES)):
        ap.error(f"unknown solver(s) {unknown}; choose from {list(SOLVER_CHOICES)}")
    args.solvers = sorted(solvers, key=lambda s: s != "ffd")  # the baseline first
    try:
        args.power_cap = tuple(float(x) for x in args.power_cap.split(","))
    except ValueError:
        args.power_cap = ()
    if len(args.power_cap) != 2 or not 0 < args.power_cap[0] <= args.power_cap[1]:
        ap.error("--power-cap must be LO,HI with 0 < LO <= HI")
    if args.nodes < 5 or args.time_limit_s <= 0:
        ap.error("--nodes must be >= 5 and --time-limit-s > 0")
    return args


def main(argv: list[str] | None = None) -> None:
    scripts = str(Path(__file__).resolve().parent)
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    from bench_milp import emit, log, machine_info, run_isolated

    args = _args(argv)
    started = time.perf_counter()
    scenario = generate_node_fleet(args.nodes, args.pods, seed=args.seed, power_cap=args.power_cap)
    problem, index = compile_problem(scenario)
    sizes = fleet_sizes(scenario, problem, index)
    log(f"{scenario.metadata.name}: {sizes} (generated in {time.perf_counter() - started:.1f} s)")
    machine = machine_info()
    baseline = None
    for solver in args.solvers:
        out = run_isolated(
            run_one,
            scenario,
            solver,
            args.time_limit_s,
            args.seed,
            timeout_s=3 * args.time_limit_s + 300,
        )
        if solver == "ffd" and out.get("objective") is not None:
            baseline = out["objective"]
        ratio = None
        if solver != "ffd" and baseline and out.get("objective") is not None:
            ratio = round(out["objective"] / baseline, 6)
        emit(
            {
                "bench": "nodes",
                "instance": scenario.metadata.name,
                "seed": args.seed,
                "power_cap": list(args.power_cap),
                **sizes,
                "time_limit_s": None if solver == "ffd" else args.time_limit_s,
                "solver": solver,
                **out,
                "baseline": "ffd",
                "baseline_objective": baseline,
                "ratio_to_baseline": ratio,
                "machine": machine,
            }
        )
        log(
            f"{solver}: {out.get('status')} objective {out.get('objective')} gap "
            f"{out.get('gap')} in {out.get('wall_s')} s; pods {out.get('pods_placed')}, "
            f"fragmented {out.get('fragmented_gpus')} of {out.get('free_gpus')} free GPUs"
            + (f"; {out['harness_error']}" if "harness_error" in out else "")
        )


if __name__ == "__main__":
    main()
    # a MILP thread past its limit must not hold (or crash) the exit: every line is out
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
