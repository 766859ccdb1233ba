"""`placer export`: every target's output checked against the target's documented fields.

Each document is validated against the target's published schema, trimmed to the fields
placer emits (tests/schemas/README.md names the upstream files and commits), and then
against the plan: the replicas, GPUs, clusters and regions it carries must be the plan's.
"""

from __future__ import annotations

import copy
import io
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result
from ruamel.yaml import YAML

from placer import api
from placer.cli.main import cli
from placer.model.scenario import Scenario
from placer.outputs import text_report as report
from placer.outputs.export import (
    POOL_LABEL,
    SITE_LABEL,
    TARGETS,
    ExportOptions,
    _pod_gpus,
    build,
    dns_label,
    is_dns_label,
    label_value,
    render,
    skypilot_accelerators,
)
from placer.plan.plan import Plan

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))
SCHEMAS = Path(__file__).parent / "schemas"
EXIT_OK, EXIT_BAD_INPUT = 0, 2

#: kind -> schema file under tests/schemas.
SCHEMA_OF_KIND = {
    "Deployment": "kubernetes/deployment-patch.schema.json",
    "Job": "kubernetes/job-patch.schema.json",
    "PropagationPolicy": "karmada/propagationpolicy.schema.json",
    "OverridePolicy": "karmada/overridepolicy.schema.json",
    "ResourceFlavor": "kueue/resourceflavor.schema.json",
    "ClusterQueue": "kueue/clusterqueue.schema.json",
    "LocalQueue": "kueue/localqueue.schema.json",
}


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def assert_clean(result: Result) -> None:
    assert "Traceback" not in result.output
    assert "internal error" not in result.output


def yaml_reader(version: tuple[int, int]) -> YAML:
    """A safe YAML reader for version (1, 1): how kubectl and PyYAML (SkyPilot) read; (1, 2)."""
    reader = YAML(typ="safe", pure=True)
    reader.version = version
    return reader


def load_yaml_stream(text: str) -> list[Any]:
    """Parses as YAML 1.2 and as YAML 1.1; both readings must agree."""
    docs12 = list(yaml_reader((1, 2)).load_all(io.StringIO(text)))
    docs11 = list(yaml_reader((1, 1)).load_all(io.StringIO(text)))
    assert docs12 == docs11, "YAML 1.1 and 1.2 readers disagree"
    return docs12


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def validate(doc: dict[str, Any], target: str) -> None:
    name = "skypilot/task.schema.json" if target == "skypilot" else SCHEMA_OF_KIND[doc["kind"]]
    errors = sorted(validator(name).iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


# ---- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Scenario, Plan, Path]]:
    """Each configs/*.yaml solved once (exact MILP): name -> (scenario, plan, plan file)."""
    folder = tmp_path_factory.mktemp("plans")
    out = {}
    for path in CONFIGS:
        scenario = api.load(path)
        plan = api.solve(scenario, solver="milp", time_limit_s=60, seed=0)
        assert plan.status in ("optimal", "feasible"), (path.name, plan.status)
        plan_file = folder / f"{path.stem}.json"
        plan_file.write_text(report.to_json(plan), encoding="utf-8")
        out[path.name] = (scenario, plan, plan_file)
    return out


@pytest.fixture
def small(
    minimal_scenario_dict: dict[str, Any], write_yaml: Callable[..., Path]
) -> Callable[..., tuple[Path, Path]]:
    """Returns `make(edit=None) -> (scenario file, plan file)` for the conftest scenario.

    `edit(data)` may change the scenario (as plain data) before it is solved.
    """

    def make(edit: Callable[[dict[str, Any]], None] | None = None) -> tuple[Path, Path]:
        data = copy.deepcopy(minimal_scenario_dict)
        data["sites"][0]["cooling"] = {"type": "liquid", "max_rack_density_kw": 50}
        data["sites"][1]["cloud"] = "gcp"
        data["sites"][1]["location"]["cloud_region"] = "europe-north1"
        data["workloads"][0]["accelerators"] = ["H100-SXM"]
        if edit is not None:
            edit(data)
        scenario_file = write_yaml(data)
        plan = api.solve(api.load(scenario_file), solver="milp", time_limit_s=30)
        assert plan.status in ("optimal", "feasible"), plan.message
        plan_file = scenario_file.with_suffix(".plan.json")
        plan_file.write_text(report.to_json(plan), encoding="utf-8")
        return scenario_file, plan_file

    return make


def export(scenario_file: Path, plan_file: Path, target: str, *extra: str) -> list[Any]:
    result = run("export", str(scenario_file), str(plan_file), "--to", target, *extra)
    assert result.exit_code == EXIT_OK, result.output
    assert_clean(result)
    return load_yaml_stream(result.stdout)


# ---- the command ---------------------------------------------------------------------------


def test_export_is_a_placer_command() -> None:
    assert "export" in cli.commands
    result = run("export", "--help")
    assert result.exit_code == EXIT_OK
    assert "Example:" in result.stdout
    for target in TARGETS:
        assert target in result.stdout


def test_the_shipped_schemas_are_valid_json_schemas() -> None:
    files = sorted(SCHEMAS.glob("*/*.schema.json"))
    assert len(files) == 9
    for path in files:
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text("utf-8")))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("config", [p.name for p in CONFIGS])
def test_every_config_exports_valid_documents(
    solved: dict[str, tuple[Scenario, Plan, Path]], config: str, target: str
) -> None:
    scenario, plan, plan_file = solved[config]
    if target == "skypilot" and any(_mig(scenario, p) for p in plan.placements):
        result = run("export", str(_config_path(config)), str(plan_file), "--to", target)
        assert result.exit_code == 2 and "SkyPilot cannot request a MIG" in result.output
        assert_clean(result)
        return
    docs = export(_config_path(config), plan_file, target)
    assert docs, "no documents"
    for doc in docs:
        validate(doc, target)
    {
        "kubernetes": check_kubernetes,
        "karmada": check_karmada,
        "kueue": check_kueue,
        "skypilot": check_skypilot,
    }[target](docs, scenario, plan)


def _config_path(name: str) -> Path:
    return next(p for p in CONFIGS if p.name == name)


# ---- what each target must say about the plan --------------------------------------------


def _cluster(scenario: Scenario, site_id: str) -> str:
    site = next(s for s in scenario.sites if s.id == site_id)
    return site.cluster or site.id


def _mig(scenario: Scenario, p) -> bool:
    """The placement's replicas run in MIG instances."""
    w = next(w for w in scenario.workloads if w.id == p.workload)
    return p.kind == "inference" and w.serving[p.accelerator].mig is not None


def _requested(scenario: Scenario, p) -> int:
    """Units of the GPU resource a placement's pods request (docs/export.md): its GPUs,
    or one a replica in a MIG instance or on a share of a GPU."""
    w = next(w for w in scenario.workloads if w.id == p.workload)
    if p.kind == "inference":
        sv = w.serving[p.accelerator]
        if sv.mig is not None or sv.gpus_per_replica < 1:
            return p.replicas
    return int(p.gpus)


def _planned(plan: Plan, scenario: Scenario) -> dict[str, dict[str, Any]]:
    """workload -> {gpus, replicas, clusters: Counter(cluster -> replicas or GPUs)}."""
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"gpus": 0, "replicas": 0, "clusters": Counter()}
    )
    for p in plan.placements:
        w = out[p.workload]
        w["gpus"] += _requested(scenario, p)
        w["replicas"] += p.replicas
        w["clusters"][_cluster(scenario, p.site)] += p.replicas or p.gpus
    return out


def _affinity_terms(affinity: dict[str, Any]) -> list[dict[str, str]]:
    terms = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    out = []
    for term in terms["nodeSelectorTerms"]:
        labels = {}
        for req in term["matchExpressions"]:
            assert req["operator"] == "In" and len(req["values"]) == 1
            labels[req["key"]] = req["values"][0]
        out.append(labels)
    return out


def _default_labels(site: str, pool: str) -> dict[str, str]:
    return {SITE_LABEL: label_value(site), POOL_LABEL: label_value(pool)}


def check_kubernetes(docs: list[dict[str, Any]], scenario: Scenario, plan: Plan) -> None:
    planned = _planned(plan, scenario)
    seen: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"gpus": 0, "replicas": 0, "clusters": Counter()}
    )
    keys = set()
    for doc in docs:
        meta = doc["metadata"]
        notes = meta["annotations"]
        assert is_dns_label(meta["name"]) and is_dns_label(meta["namespace"])
        key = (notes["placer.dev/cluster"], doc["kind"], meta["name"])
        assert key not in keys, key
        keys.add(key)
        spec = doc["spec"]
        pod = spec["template"]["spec"]
        (container,) = pod["containers"]
        ((resource, per_pod),) = container["resources"]["limits"].items()
        assert resource in ("nvidia.com/gpu", "amd.com/gpu", "google.com/tpu") or (
            resource.startswith("nvidia.com/mig-")
        )
        workload = notes["placer.dev/workload"]
        pods = spec["replicas"] if doc["kind"] == "Deployment" else spec["parallelism"]
        if doc["kind"] == "Job":
            assert spec["completions"] == spec["parallelism"]
            assert spec["completionMode"] == "Indexed"
        else:
            seen[workload]["replicas"] += pods
        spec_w = next(w for w in scenario.workloads if w.id == notes["placer.dev/workload"])
        shared = spec_w.kind == "inference" and any(
            sv.mig is not None or sv.gpus_per_replica < 1 for sv in spec_w.serving.values()
        )
        # the annotation states GPUs; a MIG or shared replica requests one unit for a share
        assert shared or int(notes["placer.dev/gpus"]) == pods * per_pod
        seen[workload]["gpus"] += pods * per_pod
        seen[workload]["clusters"][notes["placer.dev/cluster"]] += (
            pods if doc["kind"] == "Deployment" else pods * per_pod
        )
        sites = notes["placer.dev/sites"].split(",")
        pools = notes["placer.dev/pools"].split(",")
        terms = _affinity_terms(pod["affinity"])
        assert {tuple(sorted(t.items())) for t in terms} <= {
            tuple(sorted(_default_labels(s, p).items())) for s in sites for p in pools
        }
        validator("kubernetes/affinity.schema.json").validate(pod["affinity"])
    assert dict(seen) == dict(planned)


def check_karmada(docs: list[dict[str, Any]], scenario: Scenario, plan: Plan) -> None:
    planned = _planned(plan, scenario)
    by_kind: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for doc in docs:
        assert is_dns_label(doc["metadata"]["name"])
        by_kind[doc["kind"]][doc["metadata"]["name"]] = doc
    templates = {**by_kind["Deployment"], **by_kind["Job"]}
    assert set(templates) == set(by_kind["PropagationPolicy"]) == set(by_kind["OverridePolicy"])
    clusters_seen: dict[str, Counter[str]] = defaultdict(Counter)
    for name, template in templates.items():
        pp, op = by_kind["PropagationPolicy"][name], by_kind["OverridePolicy"][name]
        selector = {
            "apiVersion": template["apiVersion"],
            "kind": template["kind"],
            "namespace": template["metadata"]["namespace"],
            "name": name,
        }
        assert pp["spec"]["resourceSelectors"] == [selector]
        assert op["spec"]["resourceSelectors"] == [selector]
        assert pp["spec"]["dependentOverrides"] == [name]
        placement = pp["spec"]["placement"]
        clusters = placement["clusterAffinity"]["clusterNames"]
        scheduling = placement["replicaScheduling"]
        workload = template["metadata"]["annotations"]["placer.dev/workload"]
        if template["kind"] == "Deployment":
            assert scheduling["replicaSchedulingType"] == "Divided"
            assert scheduling["replicaDivisionPreference"] == "Weighted"
            weights = scheduling["weightPreference"]["staticWeightList"]
            assert [w["targetCluster"]["clusterNames"] for w in weights] == [[c] for c in clusters]
            # weights are replicas, so a Weighted division of the template's replicas is exact
            assert sum(w["weight"] for w in weights) == template["spec"]["replicas"]
            for w in weights:
                clusters_seen[workload][w["targetCluster"]["clusterNames"][0]] += w["weight"]
        else:
            assert scheduling == {"replicaSchedulingType": "Duplicated"}
            (cluster,) = clusters
            spec = template["spec"]
            (gpus,) = spec["template"]["spec"]["containers"][0]["resources"]["limits"].values()
            clusters_seen[workload][cluster] += spec["parallelism"] * gpus
        rules = op["spec"]["overrideRules"]
        assert [r["targetCluster"]["clusterNames"] for r in rules] == [[c] for c in clusters]
        for rule in rules:
            (override,) = rule["overriders"]["plaintext"]
            assert (override["path"], override["operator"]) == (
                "/spec/template/spec/affinity",
                "add",
            )
            validator("kubernetes/affinity.schema.json").validate(override["value"])
    assert {w: dict(c) for w, c in clusters_seen.items()} == {
        w: dict(p["clusters"]) for w, p in planned.items()
    }


def check_kueue(docs: list[dict[str, Any]], scenario: Scenario, plan: Plan) -> None:
    flavors: dict[tuple[str, str], dict[str, str]] = {}
    queues: dict[tuple[str, str], dict[str, Any]] = {}
    locals_: list[dict[str, Any]] = []
    for doc in docs:
        meta = doc["metadata"]
        cluster = meta["annotations"]["placer.dev/cluster"]
        assert is_dns_label(meta["name"])
        if doc["kind"] == "ResourceFlavor":
            flavors[cluster, meta["name"]] = doc["spec"]["nodeLabels"]
        elif doc["kind"] == "ClusterQueue":
            queues[cluster, meta["name"]] = doc
        else:
            locals_.append(doc)
    quota: Counter[tuple[str, str]] = Counter()
    for (cluster, _), queue in queues.items():
        ns = queue["spec"]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        assert ns == "default"
        for group in queue["spec"]["resourceGroups"]:
            for flavor in group["flavors"]:
                # CRD rule: flavors must have the same number of resources as coveredResources
                assert len(flavor["resources"]) == len(group["coveredResources"])
                assert [r["name"] for r in flavor["resources"]] == group["coveredResources"]
                assert (cluster, flavor["name"]) in flavors, "flavor without a ResourceFlavor"
                quota[cluster, flavor["name"]] += flavor["resources"][0]["nominalQuota"]
    planned: Counter[tuple[str, str]] = Counter()
    for p in plan.placements:
        planned[_cluster(scenario, p.site), dns_label(f"{p.site}-{p.pool}")] += _requested(
            scenario, p
        )
        labels = flavors[_cluster(scenario, p.site), dns_label(f"{p.site}-{p.pool}")]
        assert labels == _default_labels(p.site, p.pool)
    assert quota == planned
    for local in locals_:
        cluster = local["metadata"]["annotations"]["placer.dev/cluster"]
        assert (cluster, local["spec"]["clusterQueue"]) in queues
    assert len(locals_) == len(queues)


def check_skypilot(docs: list[dict[str, Any]], scenario: Scenario, plan: Plan) -> None:
    sites = {s.id: s for s in scenario.sites}
    names = [d["name"] for d in docs]
    assert len(set(names)) == len(names)
    replicas: Counter[str] = Counter()
    gpus: Counter[str] = Counter()
    planned_replicas: Counter[str] = Counter()
    planned_gpus: Counter[str] = Counter()
    for p in plan.placements:
        site = sites[p.site]
        infra = (
            f"{site.cloud}/{site.location.cloud_region}"
            if site.cloud
            else f"k8s/{site.cluster or site.id}"
        )
        key = f"{infra} {p.accelerator}"
        planned_replicas[key] += p.replicas
        planned_gpus[key] += p.gpus
    accelerator_of = {}
    for p in plan.placements:
        name, _, _ = skypilot_accelerators(p.accelerator, 1).partition(":")
        accelerator_of[name] = p.accelerator
    for doc in docs:
        assert is_dns_label(doc["name"])
        resources = doc["resources"]
        name, _, count = resources["accelerators"].partition(":")
        key = f"{resources['infra']} {accelerator_of[name]}"
        if "service" in doc:
            assert "num_nodes" not in doc
            replicas[key] += doc["service"]["replicas"]
            gpus[key] += doc["service"]["replicas"] * int(count)
        else:
            gpus[key] += doc.get("num_nodes", 1) * int(count)
        if resources.get("use_spot"):
            assert not resources["infra"].startswith("k8s/")
    assert +replicas == +planned_replicas
    assert gpus == planned_gpus


# ---- options, files, errors ----------------------------------------------------------------


def test_output_file_holds_what_stdout_shows(
    solved: dict[str, tuple[Scenario, Plan, Path]], tmp_path: Path
) -> None:
    _, _, plan_file = solved["eu_sovereign.yaml"]
    config = str(_config_path("eu_sovereign.yaml"))
    shown = run("export", config, str(plan_file), "--to", "karmada")
    out = tmp_path / "karmada.yaml"
    written = run("export", config, str(plan_file), "--to", "karmada", "-o", str(out))
    assert written.exit_code == EXIT_OK, written.output
    assert written.stdout == ""
    assert out.read_text(encoding="utf-8") == shown.stdout
    assert not list(tmp_path.glob(".*.tmp")), "a temporary file was left behind"


def test_output_directory_gets_a_file_per_document_and_a_folder_per_cluster(
    solved: dict[str, tuple[Scenario, Plan, Path]], tmp_path: Path
) -> None:
    scenario, plan, plan_file = solved["eu_sovereign.yaml"]
    config = str(_config_path("eu_sovereign.yaml"))
    for target in ("kueue", "skypilot"):
        folder = tmp_path / target
        folder.mkdir()
        result = run("export", config, str(plan_file), "--to", target, "-o", str(folder))
        assert result.exit_code == EXIT_OK, result.output
        files = sorted(folder.rglob("*.yaml"))
        assert len(files) == len(build(scenario, plan, target))
        for path in files:
            (doc,) = load_yaml_stream(path.read_text(encoding="utf-8"))
            validate(doc, target)
            if target == "kueue":
                cluster = doc["metadata"]["annotations"]["placer.dev/cluster"]
                assert path.parent.name == dns_label(cluster)
            else:
                assert path.name == f"{doc['name']}.yaml"


def test_export_is_deterministic(solved: dict[str, tuple[Scenario, Plan, Path]]) -> None:
    scenario, plan, _ = solved["edge_inference.yaml"]
    for target in TARGETS:
        first = render([m.document for m in build(scenario, plan, target)])
        again = render([m.document for m in build(scenario, plan, target)])
        assert first == again


def test_namespace_container_and_kueue_api_options(small) -> None:
    scenario_file, plan_file = small()
    docs = export(scenario_file, plan_file, "kubernetes", "--namespace", "ml", "--container", "srv")
    assert {d["metadata"]["namespace"] for d in docs} == {"ml"}
    assert {d["spec"]["template"]["spec"]["containers"][0]["name"] for d in docs} == {"srv"}
    docs = export(scenario_file, plan_file, "kueue", "--kueue-api", "v1beta1")
    assert {d["apiVersion"] for d in docs} == {"kueue.x-k8s.io/v1beta1"}
    for doc in docs:
        validate(doc, "kueue")
    default = export(scenario_file, plan_file, "kueue")
    assert {d["apiVersion"] for d in default} == {"kueue.x-k8s.io/v1beta2"}


@pytest.mark.parametrize(
    ("option", "value"), [("--namespace", "ML_Team"), ("--container", "Srv_1"), ("--to", "nomad")]
)
def test_bad_options_are_exit_2(small, option: str, value: str) -> None:
    scenario_file, plan_file = small()
    args = ["export", str(scenario_file), str(plan_file), "--to", "kubernetes", option, value]
    result = run(*args)
    assert result.exit_code == EXIT_BAD_INPUT
    assert value in result.output
    assert_clean(result)


def test_small_scenario_every_target(small) -> None:
    """Training on the on-prem H100s (4 pods x 8), chat on the cloud L4s (gcp)."""
    scenario_file, plan_file = small()
    job = next(d for d in export(scenario_file, plan_file, "kubernetes") if d["kind"] == "Job")
    assert job["metadata"]["name"] == "train-llm"
    assert job["spec"]["parallelism"] == 4
    assert job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {
        "nvidia.com/gpu": 8
    }
    tasks = {d["name"]: d for d in export(scenario_file, plan_file, "skypilot")}
    assert tasks["train-llm-onprem-fra"]["resources"] == {
        "infra": "k8s/onprem-fra",
        "accelerators": "H100:8",
    }
    assert tasks["train-llm-onprem-fra"]["num_nodes"] == 4
    chat = tasks["chat-cloud-osl"]
    assert chat["resources"]["infra"] == "gcp/europe-north1"
    assert chat["resources"]["accelerators"] == "L4:1"
    assert chat["service"] == {"readiness_probe": "/", "replicas": 7}


def test_pool_node_labels_and_gpu_resource_are_used(small) -> None:
    def edit(data: dict[str, Any]) -> None:
        pool = data["sites"][0]["pools"][0]
        pool["node_labels"] = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "pool": "NO"}
        pool["gpu_resource"] = "nvidia.com/mig-7g.80gb"
        data["sites"][0]["cluster"] = "Prod Cluster 1"

    scenario_file, plan_file = small(edit)
    (job,) = [d for d in export(scenario_file, plan_file, "kubernetes") if d["kind"] == "Job"]
    pod = job["spec"]["template"]["spec"]
    assert _affinity_terms(pod["affinity"]) == [
        {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "pool": "NO"}
    ]
    assert pod["containers"][0]["resources"]["limits"] == {"nvidia.com/mig-7g.80gb": 8}
    assert job["metadata"]["annotations"]["placer.dev/cluster"] == "Prod Cluster 1"
    flavors = [
        d for d in export(scenario_file, plan_file, "kueue") if d["kind"] == "ResourceFlavor"
    ]
    assert flavors[0]["spec"]["nodeLabels"]["pool"] == "NO"  # a string, also to YAML 1.1
    karmada = export(scenario_file, plan_file, "karmada")
    policy = next(d for d in karmada if d["kind"] == "PropagationPolicy")
    assert policy["spec"]["placement"]["clusterAffinity"]["clusterNames"] == ["Prod Cluster 1"]


@pytest.mark.parametrize(
    ("labels", "phrase"),
    [({}, "empty map"), ({"bad key!": "x"}, "label key"), ({"k": "not ok"}, "label value")],
)
def test_bad_node_labels_are_rejected_when_loading(
    labels: dict[str, str], phrase: str, minimal_scenario_dict, write_yaml
) -> None:
    minimal_scenario_dict["sites"][0]["pools"][0]["node_labels"] = labels
    result = run("validate", str(write_yaml(minimal_scenario_dict)))
    assert result.exit_code == EXIT_BAD_INPUT
    assert phrase in result.output
    assert_clean(result)


def test_gpu_resource_must_be_an_extended_resource_name(minimal_scenario_dict, write_yaml) -> None:
    minimal_scenario_dict["sites"][0]["pools"][0]["gpu_resource"] = "gpu"
    result = run("validate", str(write_yaml(minimal_scenario_dict)))
    assert result.exit_code == EXIT_BAD_INPUT
    assert "extended resource name" in result.output


def test_cloud_is_only_for_cloud_sites(minimal_scenario_dict, write_yaml) -> None:
    minimal_scenario_dict["sites"][0]["cloud"] = "aws"
    result = run("validate", str(write_yaml(minimal_scenario_dict)))
    assert result.exit_code == EXIT_BAD_INPUT
    assert "cloud" in result.output


def test_skypilot_needs_a_region_or_a_cluster_for_cloud_sites(small) -> None:
    def no_region(data: dict[str, Any]) -> None:
        del data["sites"][1]["location"]["cloud_region"]

    scenario_file, plan_file = small(no_region)
    result = run("export", str(scenario_file), str(plan_file), "--to", "skypilot")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "cloud-osl" in result.output and "cloud_region" in result.output

    def no_cloud(data: dict[str, Any]) -> None:
        del data["sites"][1]["cloud"]

    scenario_file, plan_file = small(no_cloud)
    result = run("export", str(scenario_file), str(plan_file), "--to", "skypilot")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "neither `cloud` nor `cluster`" in result.output
    # the Kubernetes targets fall back to the site id as the cluster
    docs = export(scenario_file, plan_file, "kueue")
    assert "cloud-osl" in {d["metadata"]["annotations"]["placer.dev/cluster"] for d in docs}


def test_unknown_vendor_needs_gpu_resource(small) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["accelerators"] = [
            {"id": "Gaudi3", "vendor": "Intel", "memory_gb": 128, "tdp_w": 900, "bf16_tflops": 1835}
        ]
        data["sites"][0]["pools"].append(
            {"accelerator": "Gaudi3", "gpus": 64, "nodes_per_rack": 2, "cost_usd_per_gpu_h": 0.1}
        )
        data["workloads"][0]["accelerators"] = ["Gaudi3"]

    scenario_file, plan_file = small(edit)
    result = run("export", str(scenario_file), str(plan_file), "--to", "kubernetes")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "gpu_resource" in result.output and "Gaudi3" in result.output
    tasks = export(scenario_file, plan_file, "skypilot")
    assert "Gaudi3:8" in {t["resources"]["accelerators"] for t in tasks}


@pytest.mark.parametrize("status", ["infeasible", "no_solution"])
def test_a_plan_without_placements_is_exit_2(small, status: str) -> None:
    scenario_file, plan_file = small()
    data = json.loads(plan_file.read_text(encoding="utf-8"))
    data.update(status=status, placements=[], objective_usd_per_h=None)
    plan_file.write_text(json.dumps(data), encoding="utf-8")
    result = run("export", str(scenario_file), str(plan_file), "--to", "kubernetes")
    assert result.exit_code == EXIT_BAD_INPUT
    assert status in result.output and "nothing to export" in result.output
    assert_clean(result)


def test_a_feasible_plan_that_places_nothing_is_exit_2(small) -> None:
    scenario_file, plan_file = small()
    data = json.loads(plan_file.read_text(encoding="utf-8"))
    data["placements"] = []
    plan_file.write_text(json.dumps(data), encoding="utf-8")
    result = run("export", str(scenario_file), str(plan_file), "--to", "skypilot")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "no placements" in result.output


@pytest.mark.parametrize(
    ("field", "value", "phrase"),
    [
        ("site", "mars-1", "site 'mars-1' is not in the scenario"),
        ("pool", "TPU-v5p", "has no pool 'TPU-v5p'"),
        ("workload", "ghost", "workload 'ghost' is not in the scenario"),
        ("gpus", 16, "gang of 32"),
        ("accelerator", "L4", "holds 'H100-SXM'"),
        ("kind", "inference", "placed as inference, but workload 'train-llm' is training"),
    ],
)
def test_a_plan_from_another_scenario_is_exit_2_naming_the_placement(
    small, field: str, value: object, phrase: str
) -> None:
    scenario_file, plan_file = small()
    data = json.loads(plan_file.read_text(encoding="utf-8"))
    i, placement = next((i, p) for i, p in enumerate(data["placements"]) if p["kind"] == "training")
    placement[field] = value
    plan_file.write_text(json.dumps(data), encoding="utf-8")
    result = run("export", str(scenario_file), str(plan_file), "--to", "karmada")
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert f"placement {i} (train-llm)" in result.output
    assert phrase in result.output
    assert_clean(result)


def test_inference_placements_are_checked_too(small) -> None:
    scenario_file, plan_file = small()
    data = json.loads(plan_file.read_text(encoding="utf-8"))
    placement = next(p for p in data["placements"] if p["kind"] == "inference")
    placement["gpus"] = placement["replicas"] * 2
    plan_file.write_text(json.dumps(data), encoding="utf-8")
    result = run("export", str(scenario_file), str(plan_file), "--to", "kueue")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "1 GPUs per replica" in result.output
    placement["gpus"] = placement["replicas"]
    placement["region"] = "mars"
    plan_file.write_text(json.dumps(data), encoding="utf-8")
    result = run("export", str(scenario_file), str(plan_file), "--to", "kueue")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "no demand from region 'mars'" in result.output


def test_missing_plan_file_is_exit_2(small, tmp_path: Path) -> None:
    scenario_file, _ = small()
    result = run("export", str(scenario_file), str(tmp_path / "nope.json"), "--to", "kueue")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "nope.json" in result.output
    assert_clean(result)


# ---- names and YAML ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("eu-chat", "eu-chat"),
        ("H100-SXM", "h100-sxm"),
        ("Site_1:rack.A", "site-1-rack-a"),
        ("--x--", "x"),
        ("___", "x"),
        ("gcp-europe-west4-H100-SXM", "gcp-europe-west4-h100-sxm"),
    ],
)
def test_dns_label(text: str, expected: str) -> None:
    assert dns_label(text) == expected
    assert is_dns_label(expected)


def test_long_ids_are_cut_with_a_hash_and_stay_distinct() -> None:
    a, b = "w" * 100 + "-a", "w" * 100 + "-b"
    assert len(dns_label(a)) == 63 and is_dns_label(dns_label(a))
    assert dns_label(a) != dns_label(b)
    assert dns_label(a) == dns_label(a)  # deterministic
    assert len(label_value("V" * 80)) <= 63


@pytest.mark.parametrize(
    ("text", "expected"), [("A100-80GB", "A100-80GB"), ("site:1", "site-1"), ("_x.", "x")]
)
def test_label_value(text: str, expected: str) -> None:
    assert label_value(text) == expected


def test_ids_that_collide_after_cleaning_are_an_error(small) -> None:
    def edit(data: dict[str, Any]) -> None:
        twin = copy.deepcopy(data["workloads"][1])
        twin["id"] = "CHAT"
        data["workloads"].append(twin)

    scenario_file, plan_file = small(edit)
    result = run("export", str(scenario_file), str(plan_file), "--to", "kubernetes")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "'chat'" in result.output and "'CHAT'" in result.output
    assert "same name" in result.output


def test_yaml_1_1_lookalikes_stay_strings() -> None:
    doc = {"a": "NO", "b": "on", "c": "12:30", "d": "28", "e": "y", "f": "~", "g": "plain"}
    text = render([doc], ["header"])
    assert text.startswith("# header\n---\n")
    for version in ((1, 1), (1, 2)):
        assert yaml_reader(version).load(text) == doc
    assert "g: plain" in text


@pytest.mark.parametrize(
    ("gpus", "per_node", "per_pod"), [(1024, 8, 8), (12, 8, 6), (7, 8, 7), (13, 8, 1), (128, 4, 4)]
)
def test_gang_pods_fit_a_node_and_hold_the_whole_gang(
    gpus: int, per_node: int, per_pod: int
) -> None:
    assert _pod_gpus(gpus, per_node) == per_pod
    assert gpus % per_pod == 0 and per_pod <= per_node


def test_skypilot_accelerator_names() -> None:
    assert skypilot_accelerators("H100-SXM", 8) == "H100:8"
    assert skypilot_accelerators("A100-80GB", 4) == "A100-80GB:4"
    assert skypilot_accelerators("TPU-v5p", 4) == "tpu-v5p-8"
    assert skypilot_accelerators("TPU-v6e", 8) == "tpu-v6e-8"
    assert skypilot_accelerators("Jetson-AGX-Orin", 1) == "Jetson-AGX-Orin:1"


def test_export_options_are_checked_in_the_api(solved) -> None:
    scenario, plan, _ = solved["eu_sovereign.yaml"]
    from placer.errors import OptionError

    with pytest.raises(OptionError, match="kueue-api"):
        build(scenario, plan, "kueue", ExportOptions(kueue_api="v1alpha1"))
    with pytest.raises(OptionError, match="--to"):
        build(scenario, plan, "slurm")


def test_a_plan_the_scenario_no_longer_holds_is_refused_unless_no_verify(
    small, tmp_path: Path
) -> None:
    """The plan was solved when onprem-fra had 64 H100s; the scenario now says 8, fewer
    than the plan places there: export names what breaks and writes nothing, unless
    --no-verify (whose header says so)."""
    scenario_file, plan_file = small()
    plan = Plan.model_validate_json(plan_file.read_text(encoding="utf-8"))
    used = sum(p.gpus for p in plan.placements if p.site == "onprem-fra")
    assert used > 8
    data = YAML(typ="safe", pure=True).load(scenario_file.read_text(encoding="utf-8"))
    data["sites"][0]["pools"][0]["gpus"] = 8
    shrunk = tmp_path / "shrunk.yaml"
    with shrunk.open("w", encoding="utf-8") as f:
        YAML(typ="safe", pure=True).dump(data, f)
    out = tmp_path / "k8s.yaml"
    result = run("export", str(shrunk), str(plan_file), "--to", "kubernetes", "-o", str(out))
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "breaks" in result.output and "onprem-fra" in result.output
    assert "--no-verify" in result.output and not out.exists()
    assert_clean(result)
    forced = ("--to", "kubernetes", "-o", str(out), "--no-verify")
    result = run("export", str(shrunk), str(plan_file), *forced)
    assert result.exit_code == EXIT_OK, result.output
    assert "Not verified against the scenario (--no-verify)." in out.read_text(encoding="utf-8")
    # the scenario it was solved for: verified, no such comment
    result = run("export", str(scenario_file), str(plan_file), "--to", "kubernetes", "-o", str(out))
    assert result.exit_code == EXIT_OK, result.output
    assert "Not verified" not in out.read_text(encoding="utf-8")
