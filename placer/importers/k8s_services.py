"""`kubectl get deployments,statefulsets,leaderworkersets -o json` -> inference services.

Each Deployment, StatefulSet or LeaderWorkerSet (group size 1) whose pods request
accelerators becomes one inference workload:
- replicas: `spec.replicas` (default 1; 0 is left out);
- per replica: the pod's whole accelerators (`serving.<type>.gpus_per_replica`), or one
  MIG instance (`nvidia.com/mig-<profile>: 1`, or `nvidia.com/gpu: 1` with a nodeSelector
  on a product `...-MIG-<profile>` under MIG strategy single): `serving.<type>.mig`, for
  each accelerator type whose MIG profiles have that name (`placer.model.mig`);
- accelerator types: as for Jobs (a selector naming the product, else the vendor's);
- `pod:` its vCPU and memory (`k8s_pods`);
- throughput: the annotation `placer.dev/rps-per-replica`, else a placeholder; demand is
  replicas x that, from users at the first site (or near the region a selector names),
  all marked TODO, as is the latency SLO.
Not expressible, so left out and marked TODO above `workloads:`: several MIG instances
per replica, a LeaderWorkerSet group of several pods (one replica spans nodes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from placer.importers import accelerators
from placer.importers import assumptions as A
from placer.importers.document import ScenarioDoc
from placer.importers.inputs import item_error, mapping, meta_name, quantity, read_list
from placer.importers.k8s_devices import describe
from placer.importers.k8s_nodes import PRODUCT_LABELS, REGION_LABELS
from placer.importers.k8s_pods import PodRequest, read_pod
from placer.importers.k8s_workloads import SPOT_LABELS
from placer.importers.workloads import InferenceSpec, add_inference, vendor_accelerators
from placer.model.mig import SLICE_GB, profile_names

#: Annotation giving the requests/s one replica sustains.
RPS_ANNOTATION = "placer.dev/rps-per-replica"
KINDS = ("Deployment", "StatefulSet", "LeaderWorkerSet")
SHARING_SELECTORS = ("nvidia.com/gpu.sharing-strategy", "nvidia.com/gpu.replicas")


def import_services(doc: ScenarioDoc, path: Path | str) -> None:
    """Adds an inference workload to `doc` per Deployment, StatefulSet or LeaderWorkerSet
    of the list whose pods request accelerators.

    Raises:
      ScenarioError: not such a list, or a malformed item (named by index, kind, name).
    """
    items, source = read_list(
        path,
        ("DeploymentList", "StatefulSetList", "LeaderWorkerSetList", "List"),
        "kubectl get deployments,statefulsets -o json",
    )
    added = 0
    for i, item in enumerate(items):
        spec = mapping(item, "spec")
        kind = item.get("kind") or (
            "LeaderWorkerSet" if "leaderWorkerTemplate" in spec else "Deployment"
        )
        where = f"items[{i}] ({str(kind).lower()} {meta_name(item)})"
        if kind not in KINDS:
            doc.notes.append(f"{source}: {where}: a {kind}, not a {' / '.join(KINDS)}; left out")
            continue
        if meta_name(item) == "?":
            raise item_error(source, f"items[{i}]", "metadata.name: missing")
        replicas = spec.get("replicas", 1)
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise item_error(source, where, f"spec.replicas: {replicas!r} is not a count")
        if replicas == 0:
            doc.notes.append(f"{source}: {where}: scaled to 0 replicas; left out")
            continue
        req = _replica_pod(doc, source, where, kind, spec)
        if req is None:
            continue
        service = _service(doc, source, where, item, req, replicas)
        if service is not None:
            add_inference(doc, service, source=source)
            added += 1
    doc.notes.append(f"{source}: {added} service(s) -> inference workloads")


def _replica_pod(
    doc: ScenarioDoc, source: str, where: str, kind: str, spec: dict[str, Any]
) -> PodRequest | None:
    """The pod one replica is; None (with a TODO) for a multi-pod LeaderWorkerSet group."""
    if kind != "LeaderWorkerSet":
        return read_pod(source, where, "spec.template.spec", mapping(spec, "template", "spec"))
    lws = mapping(spec, "leaderWorkerTemplate")
    size = lws.get("size", 1)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise item_error(source, where, f"spec.leaderWorkerTemplate.size: {size!r} is not a count")
    key = "leaderTemplate" if "leaderTemplate" in lws else "workerTemplate"
    path = f"spec.leaderWorkerTemplate.{key}.spec"
    req = read_pod(source, where, path, mapping(lws, key, "spec"))
    if size > 1:
        doc.todo_above(
            "workloads", f"{source}: {where}",
            f"left out: a replica is a group of {size} pods (a leader and workers on "
            "several nodes); placer's inference replica is one pod on one node; describe "
            "it by hand (e.g. as a training-like gang) if it must be planned",
        )  # fmt: skip
        return None
    return req


def _service(
    doc: ScenarioDoc,
    source: str,
    where: str,
    item: dict[str, Any],
    req: PodRequest,
    replicas: int,
) -> InferenceSpec | None:
    """The inference workload of a replica set; None when it asks for no accelerator (a
    note) or for what placer cannot express (a TODO)."""
    named = [v for k in PRODUCT_LABELS for v in req.selectors.get(k, [])]
    mig = dict(req.mig)
    single = [v.split("-MIG-", 1)[1] for v in named if "-MIG-" in v.upper()]
    if not mig and single and req.gpus:  # MIG strategy single: a MIG device is a "GPU"
        mig = {single[0].removesuffix("-SHARED"): req.gpus}
    if not mig and not req.gpus:
        doc.notes.append(f"{source}: {where}: requests no accelerator; left out")
        return None
    if mig and (len(mig) > 1 or sum(mig.values()) > 1):
        doc.todo_above(
            "workloads", f"{source}: {where}",
            f"left out: a replica asks for {describe(mig)} MIG instances; placer's MIG "
            "replica runs in one instance",
        )  # fmt: skip
        return None
    todos: list[tuple[str, str]] = []
    annotations = mapping(item, "metadata", "annotations")
    rps = quantity(annotations.get(RPS_ANNOTATION, "")) or 0.0
    rps_known = rps > 0
    rps = rps if rps_known else A.RPS_PER_REPLICA
    if mig:
        profile = next(iter(mig))
        accels = _mig_accelerators(profile, named)
        if not accels:
            doc.todo_above(
                "workloads", f"{source}: {where}",
                f"left out: MIG profile {profile!r} is no profile of placer's MIG-capable "
                f"accelerators ({', '.join(sorted(SLICE_GB))})",
            )  # fmt: skip
            return None
        serving = {a: {"mig": profile, "rps_per_replica": rps} for a in accels}
        per = f"one {profile} MIG instance"
    else:
        accels, todo = _whole_accelerators(req, named)
        if todo:
            todos.append(("serving", todo))
        if (
            req.shared
            or any(k in req.selectors for k in SHARING_SELECTORS)
            or any(v.upper().endswith("-SHARED") for v in named)
        ):
            todos.append(
                ("serving", "runs on time-sliced GPUs: counted as whole GPUs per replica "
                 "(the share is not in the pod); set gpus_per_replica to 0.5 or 0.25 if "
                 "replicas share a GPU")
            )  # fmt: skip
        serving = {a: {"rps_per_replica": rps, "gpus_per_replica": req.gpus} for a in accels}
        per = f"{req.gpus} {req.resource}"
    meta = mapping(item, "metadata")
    ns = meta.get("namespace") or "default"
    region = next((v[0] for k in REGION_LABELS if (v := req.selectors.get(k))), None)
    return InferenceSpec(
        name=meta_name(item),
        demand_rps=float(replicas) * rps,
        serving=serving,
        rps_known=rps_known,
        region=region,
        spot_ok=any(
            v.lower() == SPOT_LABELS[k.lower()]
            for k, vs in req.selectors.items()
            if k.lower() in SPOT_LABELS
            for v in vs
        ),
        pod=req.pod_entry(with_gpus=False),
        comment=f"from {source}: {item.get('kind') or 'Deployment'} {ns}/{meta_name(item)}: "
        f"{replicas} replica(s) x {per}",
        demand_note=f"assumed: {replicas} replica(s) x {rps:g} requests/s, all busy; give "
        "peak requests/s"
        + ("" if rps_known else f" (and {RPS_ANNOTATION} or serving.rps_per_replica)"),
        todos=todos,
    )


def _mig_accelerators(profile: str, named: list[str]) -> list[str]:
    """Catalog types with a MIG profile of that name, narrowed to those a selector names."""
    accels = [a for a in SLICE_GB if profile.split("+")[0] in profile_names(a)]
    chosen = {accelerators.match(v.split("-MIG-")[0]) for v in named}
    return [a for a in accels if a in chosen] or accels


def _whole_accelerators(req: PodRequest, named: list[str]) -> tuple[list[str], str]:
    """(catalog types, TODO text or ''): a selector's, else every type of the vendor."""
    accels = list(dict.fromkeys(a for v in named if (a := accelerators.match(v))))
    if accels:
        return accels, ""
    found = vendor_accelerators(req.resource) or []
    if named:
        return found, f"selector {named} names no catalog type: any {req.resource} type; check"
    return found, f"no accelerator selector: any {req.resource} type; narrow it"
