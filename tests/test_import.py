"""`placer import`: each importer on fixtures shaped like real output (tests/fixtures/import),
composed files that solve to verified plans, TODO comments, and clear errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from placer import api
from placer.cli.import_cmd import import_command
from placer.importers import TODO, accelerators

FIX = Path(__file__).parent / "fixtures" / "import"


def run(*args: str | Path) -> tuple[int, str]:
    """Invokes `placer import ARGS`; returns (exit code, stdout + stderr)."""
    result = CliRunner().invoke(import_command, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def imported(tmp_path: Path, *steps: tuple[str | Path, ...]) -> Path:
    """Runs each step (`subcommand, input, options...`) into one file; returns it."""
    out = tmp_path / "fleet.yaml"
    for i, step in enumerate(steps):
        into = ("--into", out) if i else ()
        code, text = run(*step, *into, "-o", out)
        assert code == 0, text
    return out


def solve_and_verify(path: Path, solver: str = "greedy"):
    scenario = api.load(path)
    plan = api.solve(scenario, solver=solver, time_limit_s=20.0)
    assert plan.status in ("optimal", "feasible")
    assert api.verify(scenario, plan) == []
    return scenario, plan


def test_gpu_operator_nodes_then_jobs_solve_to_a_verified_plan(tmp_path):
    out = imported(
        tmp_path,
        ("k8s-nodes", FIX / "nodes_gpu_operator.json", "--cluster", "lab-a"),
        ("k8s-jobs", FIX / "jobs.json"),
    )
    scenario, plan = solve_and_verify(out)
    site = scenario.sites[0]
    assert (site.id, site.tier, site.cluster) == ("lab-a", "onprem", "lab-a")
    pools = {p.key: p for p in site.pools}
    # 3 x 8 H100; L4 nodes of 4, 4 and 2 GPUs: one pool, two node shapes; the L40 is unknown
    assert {k: (p.accelerator, p.gpus, p.gpus_per_node) for k, p in pools.items()} == {
        "H100-SXM": ("H100-SXM", 24, 8),
        "L4": ("L4", 10, 4),
    }
    # mig.strategy: single alone (GFD writes it on every node) is not MIG
    assert [(n.count, n.gpus, n.mig) for n in pools["H100-SXM"].nodes] == [(3, 8, False)]
    assert [(n.count, n.gpus) for n in pools["L4"].nodes] == [(2, 4), (1, 2)]
    # allocatable cpu 191500m, memory 2112256472Ki (GiB)
    assert (pools["L4"].nodes[0].cpu, pools["L4"].nodes[0].memory_gb) == (191.5, 2014.4)
    assert pools["H100-SXM"].node_labels == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert pools["L4"].node_labels == {"nvidia.com/gpu.product": "NVIDIA-L4"}
    work = {w.id: w for w in scenario.workloads}
    assert set(work) == {"train-llama-8b", "finetune-mistral", "eval-nightly"}  # not done/CPU
    assert (work["train-llama-8b"].gpus, work["train-llama-8b"].hours) == (16, 36.0)
    pod = work["train-llama-8b"].pod  # requests: cpu 96, memory 1600Gi, 8 GPUs per pod
    assert (pod.gpus, pod.cpu, pod.memory_gb) == (8, 96.0, 1600.0)
    assert work["finetune-mistral"].accelerators == ["L4"]
    assert len(plan.placements) == 3
    text = out.read_text()
    assert "# Imported by `placer import k8s-nodes`" in text  # the first header is kept
    for what in ("it_capacity_kw", "pue", "carbon_g_per_kwh", "NVIDIA-L40", "hours"):
        assert any(what in line and TODO in line for line in text.splitlines()), what


def test_eks_karpenter_nodes_and_kueue_workloads_solve_with_milp(tmp_path):
    out = imported(
        tmp_path,
        ("k8s-nodes", FIX / "nodes_eks_karpenter.json", "--cluster", "prod-eks"),
        ("kueue-workloads", FIX / "kueue_workloads.json"),
    )
    scenario, _ = solve_and_verify(out, solver="milp")
    site = scenario.sites[0]
    assert (site.id, site.tier, site.location.cloud_region) == (
        "prod-eks-us-east-1",
        "cloud",
        "us-east-1",
    )
    # node pools stay apart; the 4- and 1-GPU L4 nodes of gpu-serve are one pool
    assert {p.key for p in site.pools} == {"gpu-train", "gpu-serve"}  # a10g left out
    pools = {p.key: p for p in site.pools}
    assert pools["gpu-train"].node_labels["karpenter.sh/nodepool"] == "gpu-train"
    assert [(n.count, n.gpus) for n in pools["gpu-serve"].nodes] == [(1, 4), (1, 1)]
    assert pools["gpu-serve"].gpus_per_node == 4  # a tie: the larger size
    work = {w.id: w for w in scenario.workloads}
    assert set(work) == {"rl-sweep", "distill"}  # named after the owning Job; finished left out
    assert (work["rl-sweep"].gpus, work["rl-sweep"].accelerators) == (16, ["H100-SXM"])
    assert work["distill"].gpus == 4 and work["distill"].spot_ok
    assert (work["distill"].pod.gpus, work["distill"].pod.memory_gb) == (1, 64.0)


def test_gke_tpu_nodes_alone_are_a_valid_scenario(tmp_path):
    out = imported(tmp_path, ("k8s-nodes", FIX / "nodes_gke_tpu.json"))
    scenario = api.load(out)
    pools = {p.key: p for p in scenario.sites[0].pools}
    assert pools["tpu-v5e-2x4"].accelerator == "TPU-v5e"
    assert pools["tpu-v5e-2x4"].gpu_resource == "google.com/tpu"
    assert pools["a3-h100"].accelerator == "H100-SXM"
    assert scenario.workloads == []
    solve_and_verify(out)


def test_catalog_then_skypilot_tasks_solve(tmp_path):
    out = imported(
        tmp_path,
        (
            "catalog",
            FIX / "aws_prices.csv",
            "--cloud",
            "aws",
            "--regions",
            "us-east-1,eu-central-1",
        ),
        ("skypilot", FIX / "sky_train.yaml", FIX / "sky_serve.yaml"),
    )
    scenario, plan = solve_and_verify(out, solver="milp")
    sites = {s.id: s for s in scenario.sites}
    assert set(sites) == {"aws-us-east-1", "aws-eu-central-1"}
    h100 = next(p for p in sites["aws-us-east-1"].pools if p.accelerator == "H100-SXM")
    assert h100.cost_usd_per_gpu_h == pytest.approx(55.04 / 8)
    assert h100.spot_cost_usd_per_gpu_h == pytest.approx(28.10 / 8)
    work = {w.id: w for w in scenario.workloads}
    train = work["llama-finetune"]
    assert (train.gpus, train.accelerators, train.spot_ok) == (16, ["H100-SXM", "A100-80GB"], True)
    assert train.pin_sites == ["aws-us-east-1"]
    assert train.pod.gpus == 8  # one node's accelerators per pod
    serve = work["chat-endpoint"]
    assert serve.kind == "inference" and serve.serving["L4"].rps_per_replica == 2.5
    assert serve.demand_rps == {"users-us-east-1": 10.0}  # 4 replicas x 2.5 qps
    assert {p.workload for p in plan.placements} >= {"llama-finetune"}


def test_catalog_filters_and_spot_prices(tmp_path):
    args = ("catalog", FIX / "aws_prices.csv", "--cloud", "aws", "--accelerators", "L4")
    out = imported(tmp_path, (*args, "--price", "spot"))
    scenario = api.load(out)
    assert {p.accelerator for s in scenario.sites for p in s.pools} == {"L4"}
    east = next(s for s in scenario.sites if s.id == "aws-us-east-1")
    assert east.pools[0].cost_usd_per_gpu_h == pytest.approx(0.355)  # cheapest spot per GPU


def test_sites_csv(tmp_path):
    out = imported(tmp_path, ("sites", FIX / "sites.csv"), ("k8s-jobs", FIX / "jobs.json"))
    scenario, _ = solve_and_verify(out)
    sites = {s.id: s for s in scenario.sites}
    assert [p.key for p in sites["fra-dc1"].pools] == ["H100-SXM", "L40S"]
    assert sites["fra-dc1"].cooling.type == "liquid" and sites["fra-dc1"].power.pue == 1.25
    assert sites["osl-edge"].power.pue == 1.4  # a placeholder, marked TODO
    text = out.read_text()
    assert f"pue: 1.4  # {TODO}" in text


def test_into_keeps_comments_of_the_file(tmp_path):
    out = tmp_path / "fleet.yaml"
    code, _ = run("k8s-nodes", FIX / "nodes_gpu_operator.json", "-o", out)
    assert code == 0
    out.write_text("# my notes on this fleet\n" + out.read_text())
    code, text = run("k8s-jobs", FIX / "jobs.json", "--fleet", out, "-o", out)
    assert code == 0, text
    assert out.read_text().startswith("# my notes on this fleet\n")


@pytest.mark.parametrize(
    ("name", "accelerator"),
    [
        ("NVIDIA-H100-80GB-HBM3", "H100-SXM"),
        ("NVIDIA-H100-PCIe", "H100-PCIe"),
        ("NVIDIA-A100-SXM4-80GB", "A100-80GB"),
        ("NVIDIA-A100-SXM4-40GB", None),
        ("Tesla-T4", "T4"),
        ("NVIDIA-L4", "L4"),
        ("NVIDIA-L40S", "L40S"),
        ("NVIDIA-L40", None),
        ("nvidia-tesla-t4", "T4"),
        ("h100", "H100-SXM"),
        ("tpu-v5-lite-podslice", "TPU-v5e"),
        ("tpu-v6e-slice", "TPU-v6e"),
        ("AMD_Instinct_MI300X_OAM", "MI300X"),
        ("NVIDIA A10G", None),
    ],
)
def test_product_names_map_to_the_catalog(name, accelerator):
    assert accelerators.match(name) == accelerator


def _write(tmp_path: Path, name: str, data) -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _node_list(tmp_path: Path, bad_index: int, bad: dict) -> Path:
    items = json.loads((FIX / "nodes_gpu_operator.json").read_text())["items"]
    items[bad_index] = bad
    return _write(tmp_path, "nodes.json", {"kind": "NodeList", "items": items})


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("k8s-nodes", "{not json"), "nodes.json:1:2: not valid JSON"),
        (("k8s-nodes", {"kind": "PodList", "items": []}), "not the output of `kubectl get nodes"),
        (("k8s-nodes", {"kind": "NodeList", "items": []}), "none of the 0 node(s)"),
        (("k8s-jobs", {"kind": "NodeList", "items": []}), "kubectl get jobs"),
        (
            ("kueue-workloads", {"kind": "WorkloadList", "items": [{"metadata": {"name": "w"}}]}),
            "items[0] (workload w): spec.podSets: missing",
        ),
        (("skypilot", "resources: {accelerators: 'Foo:8'}"), "'Foo' is not in placer's catalog"),
        (
            ("skypilot", "resources: {accelerators: 'H100:eight'}"),
            "count 'eight' is not a whole number >= 1",
        ),
        (("skypilot", "resources: {accelerators: 'H100:1e400'}"), "count '1e400' is not a whole"),
        (("skypilot", "resources: {accelerators: 'H100:nan'}"), "count 'nan' is not a whole"),
        (("skypilot", "resources: {accelerators: 'H100:2.5'}"), "count '2.5' is not a whole"),
        (
            ("skypilot", "resources: {accelerators: 'H100:1'}\nservice: {replicas: .inf}"),
            "service: replicas: inf is not a finite positive number",
        ),
    ],
)
def test_malformed_inputs_exit_2_naming_the_file(tmp_path, args, expected):
    sub, data = args
    name = {"k8s-nodes": "nodes.json", "skypilot": "task.yaml"}.get(sub, "in.json")
    path = _write(tmp_path, name, data)
    code, text = run(sub, path, *(("--into", _fleet(tmp_path)) if sub != "k8s-nodes" else ()))
    assert code == 2, text
    assert expected in text and "Traceback" not in text


def _fleet(tmp_path: Path) -> Path:
    return imported(tmp_path, ("k8s-nodes", FIX / "nodes_gpu_operator.json"))


def test_a_bad_node_is_named_by_index_and_name(tmp_path):
    node = json.loads((FIX / "nodes_gpu_operator.json").read_text())["items"][3]
    node["status"]["capacity"]["nvidia.com/gpu"] = "four"
    node["status"]["allocatable"]["nvidia.com/gpu"] = "four"
    code, text = run("k8s-nodes", _node_list(tmp_path, 3, node))
    assert code == 2
    assert "nodes.json: items[3] (node gpu-l4-0): status.allocatable.nvidia.com/gpu: 'four'" in text


def test_a_count_too_large_for_a_float_is_not_a_count(tmp_path):
    node = json.loads((FIX / "nodes_gpu_operator.json").read_text())["items"][3]
    node["status"]["capacity"]["nvidia.com/gpu"] = "1e400"
    node["status"]["allocatable"]["nvidia.com/gpu"] = "1e400"
    code, text = run("k8s-nodes", _node_list(tmp_path, 3, node))
    assert code == 2, text
    assert "status.allocatable.nvidia.com/gpu: '1e400' is not a count" in text


def test_a_value_out_of_the_languages_range_names_the_item_and_writes_nothing(tmp_path):
    jobs = json.loads((FIX / "jobs.json").read_text())
    jobs["items"][0]["spec"]["parallelism"] = 10**30
    fleet = _fleet(tmp_path)
    out = tmp_path / "out.yaml"
    path = _write(tmp_path, "jobs.json", jobs)
    code, text = run("k8s-jobs", path, "--into", fleet, "-o", out)
    assert code == 2, text
    assert "`placer import k8s-jobs` built would not load, so nothing was written" in text
    assert "(workloads.0 is train-llama-8b)" in text and "workloads.0.gpus" in text
    assert not out.exists()


def test_a_bad_job_and_a_bad_csv_row_are_named(tmp_path):
    jobs = json.loads((FIX / "jobs.json").read_text())
    jobs["items"][1]["spec"]["parallelism"] = "two"
    code, text = run("k8s-jobs", _write(tmp_path, "jobs.json", jobs), "--into", _fleet(tmp_path))
    assert code == 2 and "items[1] (job finetune-mistral): spec.parallelism: 'two'" in text
    csv = "id,tier,lat,lon,country\nx,onprem,north,8,DE\n"
    code, text = run("sites", _write(tmp_path, "sites.csv", csv))
    assert code == 2 and "sites.csv: row 2 (site x): lat: 'north' is not a number" in text
    code, text = run("catalog", _write(tmp_path, "p.csv", "a,b\n1,2\n"), "--cloud", "aws")
    assert code == 2 and "not a price list placer reads" in text


def test_workloads_without_sites_are_refused(tmp_path):
    code, text = run("k8s-jobs", FIX / "jobs.json")
    assert code == 2 and "no sites" in text


def test_every_subcommand_has_help():
    for name in import_command.commands:
        code, text = run(name, "--help")
        assert code == 0 and "Example:" in text
