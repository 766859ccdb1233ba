"""scripts/bench_nodes.py on a tiny fleet: the generator, the first-fit-decreasing
baseline and its node packing, and that every plan the benchmark reports passes verify."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from placer.model.generate_nodes import generate_node_fleet
from placer.model.mig import rows_hold
from placer.model.nodes import pack_pods
from placer.model.site import Pool
from placer.plan.build_nodes import mig_type, pod_ask
from placer.plan.verify import verify
from placer.problem.compile import compile_problem

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_nodes.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_nodes", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fleet():
    return generate_node_fleet(nodes=40, seed=3)


def test_generator_is_seeded_and_mixed(bench, fleet) -> None:
    again = generate_node_fleet(nodes=40, seed=3)
    assert again.model_dump() == fleet.model_dump()
    assert generate_node_fleet(nodes=40, seed=4).model_dump() != fleet.model_dump()
    problem, index = compile_problem(fleet)
    sizes = bench.fleet_sizes(fleet, problem, index)
    assert sizes["nodes"] >= 40 and sizes["mig_gpus"] > 0
    assert sizes["pods"] >= round(5.3 * 40)  # counted on each unit's fewest-pod pool
    assert 0.25 <= sizes["fractional_share"] <= 0.5
    shapes = {n.gpus for s in fleet.sites for p in s.pools for n in p.nodes or []}
    assert shapes == {1, 2, 4, 8}
    clouds = [s for s in fleet.sites if s.tier == "cloud"]
    assert clouds and all(p.nodes is None for s in clouds for p in s.pools)
    assert all(s.power.it_capacity_kw for s in fleet.sites if s.tier == "onprem")


def _pool(nodes: list[dict]) -> Pool:
    return Pool.model_validate(
        {"accelerator": "H100-SXM", "cost_usd_per_gpu_h": 1.0, "nodes": nodes}
    )


def test_first_fit_takes_the_lowest_numbered_node(bench) -> None:
    pool = _pool([{"count": 1, "gpus": 8}, {"count": 2, "gpus": 4}])
    state = bench.NodeState(pool)
    assert state.fits(4 * 8, 4) and not state.fits(4 * 8, 5)
    state.place(4 * 8, 2)  # both on the 8-GPU node: it comes first
    assert state.free_gpus() == [0.0, 4.0, 4.0]
    state.place(1 * 8, 1)
    assert state.free_gpus() == [0.0, 3.0, 4.0]
    assert not state.fits(4 * 8, 2)


def test_mig_first_fit_is_legal_and_all_or_nothing(bench) -> None:
    pool = _pool([{"count": 1, "gpus": 1, "mig": True}])
    migs = bench.MigState(pool)
    one_g, four_g, three_g = 5, 1, 2  # indices into MIG_TYPES
    assert migs.try_place(four_g, 1) and migs.try_place(three_g, 1)
    assert not migs.try_place(one_g, 1)  # the GPU's eight slices are taken
    migs = bench.MigState(pool)
    assert not migs.try_place(one_g, 8)  # seven 1g instances at most
    assert migs.used == [0]  # a failed try leaves nothing behind
    assert migs.try_place(one_g, 7)


def test_baseline_plan_passes_verify_and_packs_its_nodes(bench, fleet) -> None:
    plan, own = bench.ffd_plan(fleet, seed=0)
    assert verify(fleet, plan) == []
    assert plan.status == "feasible" and plan.bound_usd_per_h is None
    assert plan.placements and plan.nodes
    workloads = {w.id: w for w in fleet.workloads}
    pools = {(s.id, p.key): p for s in fleet.sites for p in s.pools}
    slots: dict = {}
    migs: dict = {}
    for pl in plan.placements:
        pool = pools[(pl.site, pl.pool)]
        if pool.nodes is None:
            continue
        w = workloads[pl.workload]
        t = mig_type(w, pool)
        if t is not None:
            migs.setdefault((pl.site, pl.pool), [0] * 6)[t] += pl.replicas
            continue
        count, _, slot = pod_ask(w, pool, pl.replicas)
        slots.setdefault((pl.site, pl.pool), []).extend([slot] * count)
    for key, sizes in slots.items():
        assert pack_pods(sizes, pools[key].nodes)[0] is not None, key
    for key, counts in migs.items():
        mig_gpus = sum(n.count * n.gpus for n in pools[key].nodes if n.mig)
        assert rows_hold(counts, mig_gpus), key
    # the baseline's own layout frees what the plan's re-packing frees
    figures = bench.plan_figures(fleet, plan)
    assert own["ffd_own_free_gpus"] == pytest.approx(figures["free_gpus"])
    assert figures["violations"] == 0 and figures["pods_placed"] > 0


def test_placer_run_is_reported_and_verified(bench, fleet) -> None:
    line = bench.run_one(fleet, "milp", 20.0, 0)
    assert line["violations"] == 0
    assert line["status"] in ("optimal", "feasible")
    assert line["bound"] is not None and line["bound"] <= line["objective"] + 1e-6
    baseline = bench.run_one(fleet, "ffd", 20.0, 0)
    assert baseline["violations"] == 0 and baseline["bound"] is None
    # the certified bound holds for the baseline's plan too
    assert line["bound"] <= baseline["objective"] + 1e-6
