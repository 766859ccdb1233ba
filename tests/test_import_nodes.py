"""`placer import` of node-level fleets: node shapes with vCPU and memory, MIG and
time-sliced GPUs, pods of Jobs, and Deployments / StatefulSets / LeaderWorkerSets as
inference services (tests/fixtures/import/nodes_mig_timeslicing.json, deployments.json)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from placer import api
from placer.cli.main import cli
from placer.importers import TODO
from placer.importers.inputs import memory_gb_of, quantity
from tests.test_import import FIX, _write, imported, run, solve_and_verify

NODES = FIX / "nodes_mig_timeslicing.json"
SERVICES = FIX / "deployments.json"


def _items(path: Path) -> list[dict]:
    return json.loads(path.read_text())["items"]


def _list(tmp_path: Path, name: str, items: list[dict]) -> Path:
    return _write(tmp_path, name, {"apiVersion": "v1", "kind": "List", "items": items})


def test_mixed_sizes_mig_and_time_slicing_then_services_solve(tmp_path):
    out = imported(
        tmp_path,
        ("k8s-nodes", NODES, "--cluster", "dgx-lab"),
        ("k8s-deployments", SERVICES),
    )
    scenario, plan = solve_and_verify(out, solver="milp")
    solved = CliRunner().invoke(cli, ["solve", str(out), "--quiet"], catch_exceptions=False)
    assert solved.exit_code == 0 and '"status": "optimal"' in solved.output, solved.output
    pools = {p.key: p for p in scenario.sites[0].pools}
    assert set(pools) == {"H100-SXM", "L4", "L4-shared"}
    shapes = {k: [(n.count, n.gpus, n.mig) for n in p.nodes] for k, p in pools.items()}
    # 2 plain DGX; one all-MIG (56 x 1g.10gb on gpu.count 8); one half: 4 off + 4 in MIG
    assert shapes["H100-SXM"] == [(2, 8, False), (1, 8, True), (1, 4, False), (1, 4, True)]
    # 1-, 2-, 4- and 8-GPU L4 nodes: one pool (the 4-GPU nodes differ by 12 KiB: one shape)
    assert shapes["L4"] == [(1, 8, False), (2, 4, False), (1, 2, False), (1, 1, False)]
    assert pools["L4"].gpus == 19 and pools["L4"].gpus_per_node == 4
    # time-sliced: allocatable nvidia.com/gpu 16 = 4 GPUs x 4 replicas; the physical 4 kept
    assert shapes["L4-shared"] == [(1, 4, False)]
    assert pools["L4-shared"].node_labels == {"nvidia.com/gpu.product": "NVIDIA-L4-SHARED"}
    one = pools["L4"].nodes[1]  # allocatable cpu 47500m, memory 192771860Ki
    assert (one.cpu, one.memory_gb) == (47.5, 183.84)
    half = pools["H100-SXM"].nodes[2]  # 223800m and 2063731512Ki, split by GPUs (4 of 8)
    assert (half.cpu, half.memory_gb) == (111.9, 984.06)
    work = {w.id: w for w in scenario.workloads}
    assert set(work) == {"chat-llama-8b", "embed-mig", "rerank-shared", "vllm-70b"}
    chat = work["chat-llama-8b"]  # placer.dev/rps-per-replica: 12.5; 3 replicas
    assert chat.serving["L4"].rps_per_replica == 12.5 and chat.demand_rps == {"users": 37.5}
    assert (chat.pod.cpu, chat.pod.memory_gb, chat.pod.gpus) == (6.0, 28.0, None)
    mig = work["embed-mig"].serving  # nvidia.com/mig-1g.10gb: 1 on an H100 selector
    assert set(mig) == {"H100-SXM"} and mig["H100-SXM"].mig == "1g.10gb"
    assert work["vllm-70b"].serving["H100-SXM"].gpus_per_replica == 4
    assert {p.workload for p in plan.placements} == set(work)
    text = out.read_text()
    for what in ("mig-manager", "time-sliced", "llama-405b", "rps_per_replica assumed"):
        assert any(what in line and TODO in line for line in text.splitlines()), what


def test_quantities_in_real_units():
    assert quantity("191500m") == pytest.approx(191.5)
    assert memory_gb_of(quantity("2063731512Ki")) == 1968.13
    assert memory_gb_of(quantity("2Ti")) == 2048.0
    assert memory_gb_of(quantity("1600Gi")) == 1600.0


def _a100_single_mig() -> dict:
    """An A100 node under MIG strategy single: GFD counts MIG devices as GPUs."""
    node = copy.deepcopy(_items(NODES)[0])
    node["metadata"]["name"] = "a100-mig-0"
    labels = node["metadata"]["labels"]
    labels.update({
        "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb",
        "nvidia.com/gpu.count": "56",
        "nvidia.com/gpu.memory": "9728",
        "nvidia.com/mig.strategy": "single",
        "nvidia.com/mig.config": "all-1g.10gb",
    })  # fmt: skip
    for part in ("allocatable", "capacity"):
        node["status"][part]["nvidia.com/gpu"] = "56"
        node["status"][part]["memory"] = "2Ti"
    return node


def test_mig_strategy_single_counts_physical_gpus(tmp_path):
    out = imported(tmp_path, ("k8s-nodes", _list(tmp_path, "nodes.json", [_a100_single_mig()])))
    pool = api.load(out).sites[0].pools[0]
    assert pool.accelerator == "A100-80GB"  # the MIG device's memory label is not used
    shape = pool.nodes[0]
    assert (shape.count, shape.gpus, shape.mig, shape.memory_gb) == (1, 8, True, 2048.0)
    text = out.read_text()
    assert any("MIG strategy single, 56 x 1g.10gb" in ln and TODO in ln for ln in text.splitlines())
    solve_and_verify(out)


def test_time_sliced_node_without_a_count_label(tmp_path):
    node = copy.deepcopy(next(n for n in _items(NODES) if n["metadata"]["name"] == "l4-ts-0"))
    del node["metadata"]["labels"]["nvidia.com/gpu.count"]
    out = imported(tmp_path, ("k8s-nodes", _list(tmp_path, "nodes.json", [node])))
    assert api.load(out).sites[0].pools[0].gpus == 4  # 16 allocatable / 4 replicas
    assert "GPUs = allocatable / 4 replicas" in out.read_text()


TIMED = """apiVersion: placer/v1
kind: Scenario
metadata: {name: timed}
horizon: {start: "2025-06-02T00:00:00+00:00", period_hours: 6, periods: 4}
sites:
  - id: cloud-a
    tier: cloud
    location: {lat: 50.1, lon: 8.7, country: DE}
    power: {pue: 1.1, price_usd_per_kwh: 0.0, carbon_g_per_kwh: 300}
    pools: [{accelerator: L4, gpus: 8, gpus_per_node: 4, cost_usd_per_gpu_h: 0.8}]
workloads: []
"""


def test_a_horizon_scenario_gets_a_pool_per_node_size(tmp_path):
    fleet = tmp_path / "timed.yaml"
    fleet.write_text(TIMED)
    code, text = run("k8s-nodes", NODES, "--into", fleet, "-o", fleet)
    assert code == 0, text
    site = api.load(fleet).sites[-1]
    assert all(p.nodes is None for p in site.pools)
    assert {p.key: p.gpus for p in site.pools if p.accelerator == "H100-SXM"} == {
        "H100-SXM-8g": 16,  # the MIG node and the MIG half of the other are left out
        "H100-SXM-4g": 4,
    }
    assert {"L4-8g", "L4-4g", "L4-2g", "L4-1g"} <= {p.key for p in site.pools}
    assert "MIG GPU(s) left out" in text


def test_training_pods_asking_for_mig_are_left_out_as_a_todo(tmp_path):
    jobs = json.loads((FIX / "jobs.json").read_text())
    res = jobs["items"][1]["spec"]["template"]["spec"]["containers"][0]["resources"]
    res["limits"] = {"nvidia.com/mig-1g.10gb": "1"}
    res["requests"] = {"cpu": "4"}
    path = _write(tmp_path, "jobs.json", jobs)
    out = imported(tmp_path, ("k8s-nodes", NODES), ("k8s-jobs", path))
    assert "finetune-mistral" not in {w.id for w in api.load(out).workloads}
    line = next(ln for ln in out.read_text().splitlines() if "finetune-mistral" in ln)
    assert TODO in line and "1 x 1g.10gb per pod" in line and "whole GPUs" in line


def test_kueue_pod_sets_of_different_sizes_use_their_gcd(tmp_path):
    data = json.loads((FIX / "kueue_workloads.json").read_text())
    sets = data["items"][1]["spec"]["podSets"]
    sets[0]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "16", "memory": "128Gi"},
        "limits": {"nvidia.com/gpu": "2"},
    }  # a launcher of 2 GPUs beside 4 workers of 1
    path = _write(tmp_path, "wl.json", data)
    out = imported(
        tmp_path, ("k8s-nodes", FIX / "nodes_eks_karpenter.json"), ("kueue-workloads", path)
    )
    distill = next(w for w in api.load(out).workloads if w.id == "distill")
    assert distill.gpus == 6 and distill.pod.gpus == 1
    assert distill.pod.cpu == 8.0  # the larger vCPU per GPU (16 / 2 vs 8 / 1) x 1
    assert "packing is optimistic" in out.read_text()


def test_services_that_placer_cannot_express_are_todos(tmp_path):
    items = _items(SERVICES)
    two = copy.deepcopy(items[1])  # embed-mig, asking for two MIG instances per replica
    two["metadata"]["name"] = "two-slices"
    two["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"][
        "nvidia.com/mig-1g.10gb"
    ] = "2"
    path = _list(tmp_path, "svc.json", [two, items[6]])
    out = imported(tmp_path, ("k8s-nodes", NODES), ("k8s-deployments", path))
    assert api.load(out).workloads == []
    lines = [ln for ln in out.read_text().splitlines() if TODO in ln]
    assert any("two-slices" in ln and "2 x 1g.10gb" in ln for ln in lines)
    assert any("llama-405b" in ln and "group of 2 pods" in ln for ln in lines)


def _bad(items: list[dict], index: int, edit) -> list[dict]:
    items = copy.deepcopy(items)
    edit(items[index])
    return items


@pytest.mark.parametrize(
    ("sub", "items", "expected"),
    [
        (
            "k8s-nodes",
            _bad(_items(NODES), 0, lambda n: n["status"]["allocatable"].update(cpu="lots")),
            "items[0] (node dgx-h100-0): status.allocatable.cpu: 'lots' is not a Kubernetes "
            "quantity",
        ),
        (
            "k8s-nodes",
            _bad(
                _items(NODES),
                2,
                lambda n: n["status"]["allocatable"].update({"nvidia.com/mig-1g.10gb": "seven"}),
            ),
            "items[2] (node dgx-h100-mig-0): status.allocatable.nvidia.com/mig-1g.10gb: "
            "'seven' is not a count",
        ),
        (
            "k8s-deployments",
            _bad(_items(SERVICES), 0, lambda d: d["spec"].update(replicas="three")),
            "items[0] (deployment chat-llama-8b): spec.replicas: 'three' is not a count",
        ),
        (
            "k8s-deployments",
            _bad(
                _items(SERVICES),
                5,
                lambda s: s["spec"]["template"]["spec"]["containers"][0]["resources"][
                    "requests"
                ].update(memory="256 GB"),
            ),
            "items[5] (statefulset vllm-70b): spec.template.spec.containers[0].resources."
            "requests.memory: '256 GB' is not a Kubernetes quantity",
        ),
        (
            "k8s-deployments",
            _bad(_items(SERVICES), 6, lambda s: s["spec"]["leaderWorkerTemplate"].update(size=0)),
            "items[6] (leaderworkerset llama-405b): spec.leaderWorkerTemplate.size: 0",
        ),
        (
            "k8s-deployments",
            _bad(_items(SERVICES), 1, lambda d: d["spec"]["template"].update(spec={})),
            "items[1] (deployment embed-mig): spec.template.spec.containers: missing",
        ),
    ],
)
def test_malformed_items_exit_2_naming_the_field(tmp_path, sub, items, expected):
    path = _list(tmp_path, "in.json", items)
    into = () if sub == "k8s-nodes" else ("--into", imported(tmp_path, ("k8s-nodes", NODES)))
    code, text = run(sub, path, *into)
    assert code == 2, text
    assert expected in text and "Traceback" not in text


def test_services_need_a_list_of_them(tmp_path):
    fleet = imported(tmp_path, ("k8s-nodes", NODES))
    path = _write(tmp_path, "pods.json", {"kind": "PodList", "items": []})
    code, text = run("k8s-deployments", path, "--into", fleet)
    assert code == 2 and "kubectl get deployments,statefulsets -o json" in text


def test_skypilot_cpus_and_memory_become_the_pod(tmp_path):
    task = "name: t\nnum_nodes: 2\nresources: {accelerators: 'H100:8', cpus: 64+, memory: 512}\n"
    out = imported(
        tmp_path, ("k8s-nodes", NODES), ("skypilot", _write(tmp_path, "task.yaml", task))
    )
    pod = api.load(out).workloads[0].pod
    assert (pod.gpus, pod.cpu, pod.memory_gb) == (8, 64.0, 512.0)
    code, text = run(
        "skypilot", _write(tmp_path, "bad.yaml", task.replace("64+", "lots")), "--into", out
    )
    assert code == 2 and "task t: resources.cpus: 'lots' is not a number" in text
