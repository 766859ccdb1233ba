"""Nodes inside pools (docs/nodes.md): node shapes, pods, the exact node rows, the
packing verify checks, fragmentation, and their errors."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from placer.api import solve
from placer.cli.main import cli
from placer.errors import ScenarioError
from placer.model.load import validate_model
from placer.model.nodes import (
    POD_LEVELS,
    NodeShape,
    ceil_pow2,
    default_pod_gpus,
    level_capacity,
    pack_pods,
)
from placer.model.scenario import Scenario
from placer.plan.verify import verify
from placer.problem.compile import compile_problem
from placer.problem.form import R_ACCEL, R_NODE, REASONS
from placer.problem.rows import K_MIG, K_NODES

# ---- the packing and the counting rule -------------------------------------------------


def brute_force_fits(pods: list[int], nodes: list[int]) -> bool:
    """Whether the pods (GPUs each) can each sit on one node (GPUs each): backtracking
    over every node for every pod, largest pod first (no counting rule used)."""
    free = list(nodes)
    order = sorted(pods, reverse=True)

    def place(i: int) -> bool:
        if i == len(order):
            return True
        tried = set()
        for k, f in enumerate(free):
            if f >= order[i] and f not in tried:  # nodes with equal room are alike
                tried.add(f)
                free[k] -= order[i]
                if place(i + 1):
                    return True
                free[k] += order[i]
        return False

    return place(0)


def rows_hold(pods: list[int], shapes: list[NodeShape]) -> bool:
    """The node rows of docs/nodes.md: for every level s, the GPUs of the pods of s or
    more GPUs fit s x sum floor(node GPUs / s)."""
    return all(sum(p for p in pods if p >= s) <= level_capacity(shapes, s) for s in POD_LEVELS)


node_lists = st.lists(
    st.tuples(st.integers(1, 3), st.sampled_from([1, 2, 3, 4, 6, 8])), min_size=1, max_size=3
)
pod_lists = st.lists(st.sampled_from([1, 2, 4, 8]), max_size=9)


@settings(max_examples=300, deadline=None)
@given(node_lists, pod_lists)
def test_rows_are_exact_for_power_of_two_pods(nodes, pods) -> None:
    # nodes of any size (3- and 6-GPU nodes included), pods of 1, 2, 4, 8 GPUs
    shapes = [NodeShape(count=c, gpus=g) for c, g in nodes]
    sizes = [g for c, g in nodes for _ in range(c)]
    truth = brute_force_fits(pods, sizes)
    assert rows_hold(pods, shapes) == truth
    where, free = pack_pods(pods, shapes)
    assert (where is not None) == truth
    if where is not None:  # the packing it returns is one: every node within its GPUs
        used: dict[tuple[int, int], int] = {}
        for i, node in enumerate(where):
            used[node] = used.get(node, 0) + pods[i]
        for (shape, _), gpus in used.items():
            assert gpus <= shapes[shape].gpus
        assert sum(free) == sum(sizes) - sum(pods)


def test_counting_rule_is_not_exact_for_odd_pods_so_sizes_round_up() -> None:
    # two 3-GPU pods fit one 6-GPU node, but a 3 is counted as a 4: safe, not exact
    assert brute_force_fits([3, 3], [6])
    assert not rows_hold([ceil_pow2(3)] * 2, [NodeShape(count=1, gpus=6)])


def test_default_pod_size_and_rounding() -> None:
    assert default_pod_gpus(64, 8) == 8
    assert default_pod_gpus(12, 8) == 4
    assert default_pod_gpus(6, 8) == 2
    assert default_pod_gpus(16, 4) == 4
    assert default_pod_gpus(16, 6) == 4  # a power of two within the largest node
    assert [ceil_pow2(x) for x in (0.05, 0.3, 0.5, 1, 1.01, 3, 4, 5, 8)] == [
        0.125,
        0.5,
        0.5,
        1,
        2,
        4,
        4,
        8,
        8,
    ]


# ---- scenarios ---------------------------------------------------------------------------


def scenario_from_dict(d: dict) -> Scenario:
    return validate_model(Scenario, d, source="test")


def scenario_dict(nodes, workloads, *, cloud_gpus: int = 0, rack_kw: float = 200.0) -> dict:
    sites = [
        {
            "id": "fra",
            "tier": "onprem",
            "location": {"lat": 50.1, "lon": 8.7, "country": "DE"},
            "power": {
                "it_capacity_kw": 10_000,
                "pue": 1.2,
                "price_usd_per_kwh": 0.1,
                "carbon_g_per_kwh": 300,
            },
            "cooling": {"type": "liquid", "max_rack_density_kw": rack_kw},
            "pools": [{"accelerator": "H100-SXM", "cost_usd_per_gpu_h": 2.0, "nodes": nodes}],
        }
    ]
    if cloud_gpus:
        sites.append(
            {
                "id": "ams",
                "tier": "cloud",
                "location": {"lat": 52.4, "lon": 4.9, "country": "NL"},
                "power": {"pue": 1.1, "carbon_g_per_kwh": 300},
                "pools": [
                    {"accelerator": "H100-SXM", "gpus": cloud_gpus, "cost_usd_per_gpu_h": 4.0}
                ],
            }
        )
    return {"apiVersion": "placer/v1", "kind": "Scenario", "sites": sites, "workloads": workloads}


def train(wid: str, gpus: int, pod_gpus: int | None = None, **extra) -> dict:
    out = {"id": wid, "kind": "training", "gpus": gpus, "hours": 10, **extra}
    if pod_gpus is not None:
        out["pod"] = {"gpus": pod_gpus, **out.get("pod", {})}
    return out


def test_pods_that_do_not_fit_the_nodes_go_elsewhere() -> None:
    # 2 x 8-GPU and 4 x 4-GPU nodes (32 GPUs): three 8-GPU pods fit only two 8-GPU nodes
    nodes = [{"count": 2, "gpus": 8}, {"count": 4, "gpus": 4}]
    work = [train("a", 16, 8), train("b", 8, 8), train("c", 8, 4)]
    sc = scenario_from_dict(scenario_dict(nodes, work, cloud_gpus=64))
    problem, _ = compile_problem(sc)
    node_rows = np.flatnonzero(problem.kind_r == K_NODES)
    assert problem.cap_r[node_rows].tolist() == [16.0]  # level 8 only; 4, 2, 1 cannot bind
    for solver in ("milp", "greedy", "hybrid"):
        plan = solve(sc, solver=solver, time_limit_s=20)
        assert verify(sc, plan) == []
        sites = {p.workload: p.site for p in plan.placements}
        assert sorted(sites.values()).count("fra") == 2  # a + c, or b + c: 24 of 32 GPUs
        assert sites["c"] == "fra"
    # the node row binds: its price is the pool's, under its kind
    (price,) = [c for c in solve(sc, solver="milp").capacity_prices if c.site == "fra"]
    assert price.resource == "node_slots (H100-SXM)" and price.usd_per_h_per_unit > 0
    # a plan that puts all three there has GPUs to spare but no node for the third pod
    good = solve(sc, solver="milp")
    bad = good.model_copy(
        update={
            "placements": [
                p.model_copy(update={"site": "fra"}) if p.site == "ams" else p
                for p in good.placements
            ]
        }
    )
    kinds = {v.kind for v in verify(sc, bad)}
    assert "nodes" in kinds and "gpus" not in kinds


def test_pod_fits_no_node_is_a_mask_reason() -> None:
    nodes = [{"count": 4, "gpus": 4}]
    sc = scenario_from_dict(scenario_dict(nodes, [train("big", 16, 8)], cloud_gpus=64))
    problem, index = compile_problem(sc)
    pools = [p.name for p in index.pools]
    assert problem.option_uk[0].tolist() == [pools.index("ams/H100-SXM")]
    assert problem.reason_count_ur[0, list(REASONS).index(R_NODE)] == 1


def test_vcpu_beyond_the_gpu_share_counts_more_gpus() -> None:
    # 8-GPU nodes with 96 vCPU (12 per GPU): a 1-GPU pod asking 40 vCPU is counted as 4
    nodes = [{"count": 2, "gpus": 8, "cpu": 96, "memory_gb": 1024}]
    work = [train("cpu-heavy", 4, 1, pod={"cpu": 40}), train("fill", 8, 8)]
    sc = scenario_from_dict(scenario_dict(nodes, work, cloud_gpus=64))
    plan = solve(sc, solver="milp")
    assert verify(sc, plan) == []
    # 4 pods x 4 slots = 16 GPUs counted: with the 8-GPU pod that is 24 > 16, so one moves
    assert {p.workload for p in plan.placements if p.site == "fra"} in ({"cpu-heavy"}, {"fill"})
    # the pods' vCPU are checked node by node: 4 x 40 vCPU on one 96-vCPU node is over
    forged = plan.model_copy(
        update={
            "placements": [p.model_copy(update={"site": "fra"}) for p in plan.placements],
        }
    )
    assert "nodes" in {v.kind for v in verify(sc, forged)}


def test_inference_replicas_are_pods() -> None:
    nodes = [{"count": 3, "gpus": 2}]
    svc = {
        "id": "chat",
        "kind": "inference",
        "demand_rps": {"eu": 30},
        "serving": {"H100-SXM": {"rps_per_replica": 10, "gpus_per_replica": 2}},
        "latency_slo_ms": 200,
    }
    d = scenario_dict(nodes, [svc], cloud_gpus=64)
    d["user_regions"] = [{"id": "eu", "location": {"lat": 50, "lon": 8, "country": "DE"}}]
    sc = scenario_from_dict(d)
    plan = solve(sc, solver="milp")
    assert verify(sc, plan) == []
    (row,) = plan.nodes
    assert (row.pods, row.nodes_used, row.free_gpus) == (3, 3, 0)


def test_fragmentation_reported_and_verified() -> None:
    # 4 x 4-GPU nodes; three 2-GPU pods and one 1-GPU pod: 9 free GPUs, 4-GPU pods use 4
    nodes = [{"count": 4, "gpus": 4}]
    work = [
        train("two", 6, 2),
        train("one", 1, 1),
        train("four", 4, 4, must_place=False, value_usd_per_h=1.0),
    ]
    sc = scenario_from_dict(scenario_dict(nodes, work))
    plan = solve(sc, solver="milp")
    assert verify(sc, plan) == []
    (row,) = plan.nodes
    # "four" is worth less than it costs: unplaced. Largest first: 2+2 | 2+1 | - | -
    assert {p.workload for p in plan.placements} == {"two", "one"}
    assert (row.pods, row.nodes_used, row.free_gpus) == (4, 2, 9)
    assert row.usable_free_gpus == {"1": 9, "2": 8, "4": 8}
    assert row.fragmented_gpus == 1
    lie = plan.model_copy(
        update={"nodes": [row.model_copy(update={"fragmented_gpus": row.fragmented_gpus + 1})]}
    )
    assert [v.kind for v in verify(sc, lie)] == ["kpi"]


# ---- exact against brute force on tiny fleets -------------------------------------------


@st.composite
def tiny_fleets(draw):
    nodes = [
        {"count": c, "gpus": g}
        for c, g in draw(
            st.lists(
                st.tuples(st.integers(1, 2), st.sampled_from([2, 4, 8])), min_size=1, max_size=2
            )
        )
    ]
    work = []
    for i in range(draw(st.integers(1, 4))):
        pod = draw(st.sampled_from([1, 2, 4, 8]))
        pods = draw(st.integers(1, 3))
        work.append(
            train(
                f"w{i}",
                pod * pods,
                pod,
                must_place=False,
                value_usd_per_h=draw(st.sampled_from([20.0, 200.0])),
            )
        )
    return scenario_dict(nodes, work, cloud_gpus=draw(st.sampled_from([0, 8])))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiny_fleets())
def test_milp_equals_brute_force_over_every_assignment(d) -> None:
    sc = scenario_from_dict(d)
    problem, index = compile_problem(sc)
    node_sizes = [n["gpus"] for n in d["sites"][0]["pools"][0]["nodes"] for _ in range(n["count"])]
    pools = [p.name for p in index.pools]
    fra, ams = (
        pools.index("fra/H100-SXM"),
        pools.index("ams/H100-SXM") if "ams/H100-SXM" in pools else -1,
    )
    pods = {w["id"]: (w["gpus"] // w["pod"]["gpus"], w["pod"]["gpus"]) for w in d["workloads"]}
    best = math.inf
    names = [u.workload for u in index.units]
    choices = [
        [-1, *problem.option_uk[u][problem.option_uk[u] >= 0].tolist()] for u in range(len(names))
    ]
    for assign in itertools.product(*choices):
        on_fra = [pods[names[u]] for u, o in enumerate(assign) if o == fra]
        flat = [size for count, size in on_fra for _ in range(count)]
        if not brute_force_fits(flat, node_sizes):
            continue
        cloud = sum(
            count * size
            for u, o in enumerate(assign)
            if o == ams
            for count, size in [pods[names[u]]]
        )
        if ams >= 0 and cloud > d["sites"][1]["pools"][0]["gpus"]:
            continue
        cost = 0.0
        for u, o in enumerate(assign):
            if o < 0:
                cost += problem.unplaced_usd_per_h_u[u]
            else:
                k = int(np.flatnonzero(problem.option_uk[u] == o)[0])
                cost += problem.objective_usd_per_h_uk[u, k]
        best = min(best, cost)
    plan = solve(sc, solver="milp", relative_gap=1e-9)
    assert verify(sc, plan) == []
    assert plan.objective_usd_per_h == pytest.approx(best, rel=1e-7)


# ---- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d["sites"][0]["pools"][0].update(gpus=7), "gpus: 7 but the nodes hold 32"),
        (lambda d: d["workloads"].append(train("odd", 12, 8)), "pod.gpus: 8 does not divide"),
        (
            lambda d: d["sites"][0]["pools"][0]["nodes"][0].update(gpus=0),
            "nodes.0.gpus",
        ),
        (
            lambda d: d.update(
                horizon={"start": "2026-01-01T00:00:00+00:00", "period_hours": 1, "periods": 2}
            ),
            "node shapes are not supported with a horizon",
        ),
    ],
)
def test_errors_name_the_field(change, match) -> None:
    d = scenario_dict([{"count": 2, "gpus": 8}, {"count": 4, "gpus": 4}], [train("a", 8, 8)])
    change(d)
    with pytest.raises(ScenarioError, match=match):
        scenario_from_dict(d)


def test_inference_pod_gpus_is_refused() -> None:
    svc = {
        "id": "chat",
        "kind": "inference",
        "demand_rps": {"eu": 30},
        "serving": {"H100-SXM": {"rps_per_replica": 10}},
        "latency_slo_ms": 200,
        "pod": {"gpus": 2},
    }
    d = scenario_dict([{"count": 2, "gpus": 8}], [svc])
    d["user_regions"] = [{"id": "eu", "location": {"lat": 50, "lon": 8, "country": "DE"}}]
    with pytest.raises(ScenarioError, match=r"pod\.gpus: an inference replica is one pod"):
        scenario_from_dict(d)


def test_cli_table_quiet_and_json(tmp_path) -> None:
    path = tmp_path / "fleet.json"
    nodes = [{"count": 2, "gpus": 8}, {"count": 4, "gpus": 4}]
    path.write_text(json.dumps(scenario_dict(nodes, [train("a", 16, 8), train("c", 6, 2)])))
    runner = CliRunner()
    table = runner.invoke(cli, ["solve", str(path)])
    assert table.exit_code == 0, table.output
    assert "Nodes (pods packed largest first" in table.output
    quiet = runner.invoke(cli, ["solve", str(path), "--quiet"])
    line = json.loads(quiet.output)
    assert line["fragmented_gpus"] >= 0 and 0 < line["gpu_utilization"] <= 1
    out = runner.invoke(cli, ["solve", str(path), "--format", "json"])
    assert json.loads(out.output)["nodes"][0]["pods"] == 2 + 3


# ---- MIG and shared GPUs -------------------------------------------------------------------


def _gpu_layouts() -> set[tuple[int, ...]]:
    """Every legal set of MIG instances on one GPU (counts per type), by trying every
    start of every type on the 8-slice axis (no use of the six rows)."""
    from placer.model.mig import MIG_TYPES

    found: set[tuple[int, ...]] = set()

    def grow(used: frozenset, counts: list[int], first: int) -> None:
        found.add(tuple(counts))
        for i in range(first, len(MIG_TYPES)):
            t = MIG_TYPES[i]
            for start in t.starts:
                cells = set(range(start, start + t.memory))
                if cells & used or max(cells) >= 8:
                    continue
                grown = list(counts)
                grown[i] += 1
                grow(used | cells, grown, i)

    grow(frozenset(), [0] * len(MIG_TYPES), 0)
    return found


@pytest.mark.parametrize("gpus", [1, 2, pytest.param(3, marks=pytest.mark.slow)])
def test_mig_rows_and_packer_are_exact(gpus) -> None:
    from placer.model.mig import legal_layout, pack_mig
    from placer.model.mig import rows_hold as mig_rows_hold

    per_gpu = _gpu_layouts()
    assert len(per_gpu) == 78  # the legal per-GPU sets of the H100 placement table
    feasible = {(0,) * 6}
    for _ in range(gpus):  # every multiset that some per-GPU choice adds up to
        feasible = {
            tuple(a + b for a, b in zip(x, c, strict=True)) for x in feasible for c in per_gpu
        }
    box = [gpus, gpus, 2 * gpus, 3 * gpus, 4 * gpus, 7 * gpus]
    for counts in itertools.product(*(range(m + 1) for m in box)):
        truth = counts in feasible
        assert mig_rows_hold(list(counts), gpus) == truth, counts
        layout = pack_mig(list(counts), gpus)
        assert (layout is not None) == truth, counts
        for instances in layout or []:
            assert legal_layout([t for t, _ in instances], [s for _, s in instances])


def mig_scenario(mig_nodes: int = 1, small_rps: float = 50) -> dict:
    nodes = [{"count": 1, "gpus": 8}, {"count": mig_nodes, "gpus": 8, "mig": True}]
    d = scenario_dict(nodes, [], cloud_gpus=64)
    d["user_regions"] = [{"id": "eu", "location": {"lat": 50.0, "lon": 8.6, "country": "DE"}}]

    def svc(wid, rps, serving):
        return {
            "id": wid,
            "kind": "inference",
            "demand_rps": {"eu": rps},
            "serving": {"H100-SXM": serving},
            "latency_slo_ms": 100,
        }

    d["workloads"] = [
        {
            **svc("small", small_rps, {"rps_per_replica": 1, "mig": "1g.10gb"}),
            "must_place": False,
            "value_usd_per_h": 1000.0,
        },
        svc("mid", 8, {"rps_per_replica": 4, "mig": "3g.40gb"}),
        svc("notebooks", 10, {"rps_per_replica": 1, "gpus_per_replica": 0.3}),
    ]
    return d


def test_mig_replicas_fill_the_mig_gpus_then_go_elsewhere() -> None:
    # 8 MIG GPUs: 2 x 3g (one GPU's B-half and another's) and 1g.10gb instances
    sc = scenario_from_dict(mig_scenario(small_rps=60))
    problem, _ = compile_problem(sc)
    mig_rows = np.flatnonzero(problem.kind_r == K_MIG)
    assert problem.cap_r[mig_rows].tolist() == [8, 16, 32, 24, 56, 64]
    plan = solve(sc, solver="milp")
    assert verify(sc, plan) == []
    by = {p.workload: p for p in plan.placements}
    # 2 x 3g take 6 compute slices; 1g.10gb: 60 replicas > the 50 slices left, and the
    # cloud pool has no MIG nodes: left out
    assert by["mid"].site == "fra" and [u.workload for u in plan.unplaced] == ["small"]
    assert by["mid"].gpus == pytest.approx(2 * 3 / 7)
    # a share of 0.3 is counted as 0.5: 10 replicas hold 3 GPUs, count as 5
    assert by["notebooks"].gpus == pytest.approx(3.0)
    (row,) = plan.nodes
    assert row.mig_gpus == 8 and sum(row.mig_layouts.values()) <= 8
    assert row.free_gpus == pytest.approx(3.0)  # the 8-GPU node less 5 counted
    # moved onto the MIG GPUs, the 1g replicas do not fit: verify says so
    moved = by["mid"].model_copy(
        update={"unit": "small/eu", "workload": "small", "replicas": 60, "gpus": 60 / 7}
    )
    forged = plan.model_copy(update={"placements": [*plan.placements, moved], "unplaced": []})
    assert "mig" in {v.kind for v in verify(sc, forged)}


def test_mig_masks() -> None:
    d = mig_scenario()
    # a profile the accelerator does not offer (an H200 name on H100s): accelerator rule
    d["workloads"][0]["serving"]["H100-SXM"]["mig"] = "1g.18gb"
    d["sites"][0]["pools"][0]["nodes"] = [{"count": 1, "gpus": 8}]  # and no MIG nodes
    sc = scenario_from_dict(d)
    problem, index = compile_problem(sc)
    pools = [p.name for p in index.pools]
    units = [u.workload for u in index.units]
    small, mid = units.index("small"), units.index("mid")
    assert len(pools) == 2 and not problem.listed_uk[small].any()
    assert not problem.listed_uk[mid].any()
    # 1g.18gb is an H200 profile: the H100 pools are refused for the accelerator
    assert problem.reason_count_ur[small, list(REASONS).index(R_ACCEL)] == 2
    # 3g.40gb exists on H100, but neither pool has MIG nodes (the cloud one lists none)
    assert problem.reason_count_ur[mid, list(REASONS).index(R_NODE)] == 2


@pytest.mark.parametrize(
    ("serving", "match"),
    [
        ({"rps_per_replica": 1, "gpus_per_replica": 1.5}, "neither a whole number"),
        ({"rps_per_replica": 1, "gpus_per_replica": 0.01}, "below 1/8 of a GPU"),
        ({"rps_per_replica": 1, "mig": "1g.9gb"}, "is not a MIG profile"),
        ({"rps_per_replica": 1, "mig": "1g.10gb", "gpus_per_replica": 2}, "give one"),
    ],
)
def test_share_and_mig_errors(serving, match) -> None:
    d = mig_scenario()
    d["workloads"][0]["serving"]["H100-SXM"] = serving
    with pytest.raises(ScenarioError, match=match):
        scenario_from_dict(d)


# ---- every engine's plan passes verify on random fleets with nodes -------------------------


@st.composite
def node_fleets(draw) -> dict:
    """A fleet with mixed node shapes (some MIG), training pods of 1-8 GPUs (some with
    vCPU asks), and services on whole GPUs, shares and MIG instances."""
    shapes = [
        {"count": draw(st.integers(1, 3)), "gpus": g, "cpu": 24.0 * g, "memory_gb": 240.0 * g}
        for g in draw(st.lists(st.sampled_from([1, 2, 4, 8]), min_size=1, max_size=3))
    ]
    if draw(st.booleans()):
        shapes.append({"count": draw(st.integers(1, 2)), "gpus": 8, "mig": True})
    d = scenario_dict(shapes, [], cloud_gpus=draw(st.sampled_from([0, 16])))
    d["user_regions"] = [{"id": "eu", "location": {"lat": 50.0, "lon": 8.6, "country": "DE"}}]
    for i in range(draw(st.integers(1, 5))):
        pod = draw(st.sampled_from([1, 2, 4, 8]))
        extra = {"cpu": draw(st.sampled_from([8.0, 100.0]))} if draw(st.booleans()) else {}
        d["workloads"].append(
            {
                "id": f"t{i}",
                "kind": "training",
                "gpus": pod * draw(st.integers(1, 3)),
                "hours": 10,
                "pod": {"gpus": pod, **extra},
                "must_place": False,
                "value_usd_per_h": draw(st.sampled_from([5.0, 500.0])),
            }
        )
    for i in range(draw(st.integers(0, 4))):
        serving = draw(
            st.sampled_from(
                [
                    {"rps_per_replica": 2, "gpus_per_replica": 2},
                    {"rps_per_replica": 1, "gpus_per_replica": 0.25},
                    {"rps_per_replica": 1, "gpus_per_replica": 0.4},
                    {"rps_per_replica": 1, "mig": "1g.10gb"},
                    {"rps_per_replica": 2, "mig": "3g.40gb"},
                    {"rps_per_replica": 4, "mig": "7g.80gb"},
                ]
            )
        )
        d["workloads"].append(
            {
                "id": f"s{i}",
                "kind": "inference",
                "demand_rps": {"eu": draw(st.sampled_from([1, 3, 9, 20]))},
                "serving": {"H100-SXM": serving},
                "latency_slo_ms": 200,
                "must_place": False,
                "value_usd_per_h": draw(st.sampled_from([5.0, 500.0])),
            }
        )
    return d


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(node_fleets(), st.sampled_from(["greedy", "milp", "hybrid"]))
def test_every_engine_plan_passes_verify_on_node_fleets(d, solver) -> None:
    sc = scenario_from_dict(d)
    plan = solve(sc, solver=solver, time_limit_s=5)
    assert plan.status in ("optimal", "feasible")
    assert verify(sc, plan) == []


def test_report_has_a_nodes_section(tmp_path) -> None:
    config = Path(__file__).parent.parent / "configs" / "cluster_nodes.yaml"
    plan_file, html = tmp_path / "plan.json", tmp_path / "report.html"
    runner = CliRunner()
    solved = runner.invoke(cli, ["solve", str(config), "--format", "json", "-o", str(plan_file)])
    assert solved.exit_code == 0, solved.output
    made = runner.invoke(cli, ["report", str(config), str(plan_file), "-o", str(html)])
    assert made.exit_code == 0, made.output
    page = html.read_text("utf-8")
    assert 'id="sec-nodes"' in page and 'id="nodes-table"' in page and 'id="mig-table"' in page
    assert "fra-cluster/H100-SXM" in page


def test_a_tiny_vcpu_share_masks_the_pool_without_overflow() -> None:
    # 1e-300 vCPU a node: any vCPU ask overflows the share; no node takes the pod (fuzz)
    nodes = [{"count": 2, "gpus": 8, "cpu": 1e-300}]
    sc = scenario_from_dict(scenario_dict(nodes, [train("a", 8, 8, pod={"cpu": 4})], cloud_gpus=64))
    problem, index = compile_problem(sc)
    pools = [p.name for p in index.pools]
    assert problem.option_uk[0][problem.option_uk[0] >= 0].tolist() == [pools.index("ams/H100-SXM")]
    assert problem.reason_count_ur[0, list(REASONS).index(R_NODE)] == 1
    assert verify(sc, solve(sc, solver="milp")) == []
