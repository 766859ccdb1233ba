"""`kubectl get jobs -o json` and Kueue Workloads (`kubectl get workloads.kueue.x-k8s.io
-o json`) -> training workloads.

A Job is one gang: `spec.parallelism` pods (default 1) x the accelerators its containers
request (`resources.limits`, else `requests`, of nvidia.com/gpu, amd.com/gpu or
google.com/tpu). A Kueue Workload sums its podSets: `count` x each pod's request. The
accelerator comes from a nodeSelector or required node affinity on a label that names
it (`nvidia.com/gpu.product`, `cloud.google.com/gke-accelerator`, ...); without one, any
accelerator of the resource's vendor. Hours come from the annotation `placer.dev/hours`,
else a placeholder. A selector on spot capacity (`karpenter.sh/capacity-type: spot`,
`cloud.google.com/gke-spot`, `eks.amazonaws.com/capacityType: SPOT`) sets spot_ok.
Finished Jobs and Workloads and those that request no accelerator are left out. Each
gang's `pod:` is one pod's request (GPUs, vCPU, memory; `k8s_pods`), so that node
packing applies on pools with node shapes. A pod asking for MIG instances is left out
(a training gang holds whole GPUs in placer) and marked TODO above `workloads:`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from placer.importers import accelerators
from placer.importers.document import ScenarioDoc
from placer.importers.inputs import item_error, mapping, meta_name, quantity, read_list
from placer.importers.k8s_devices import describe
from placer.importers.k8s_nodes import MEMORY_LABELS, PRODUCT_LABELS
from placer.importers.k8s_pods import PodRequest, read_pod
from placer.importers.workloads import TrainingSpec, add_training, vendor_accelerators

#: Annotation giving a run's length in hours.
HOURS_ANNOTATION = "placer.dev/hours"
#: nodeSelector label -> values that mean spot / preemptible capacity (lower case).
SPOT_LABELS = {
    "karpenter.sh/capacity-type": "spot",
    "eks.amazonaws.com/capacitytype": "spot",
    "cloud.google.com/gke-spot": "true",
    "cloud.google.com/gke-preemptible": "true",
}


def import_jobs(doc: ScenarioDoc, path: Path | str) -> None:
    """Adds a training workload to `doc` per unfinished Job of a JobList that requests
    accelerators.

    Raises:
      ScenarioError: not a JobList, or a malformed Job (named by index and name).
    """
    items, source = read_list(path, ("JobList", "List"), "kubectl get jobs -o json")
    added = 0
    for i, item in enumerate(items):
        where = f"items[{i}] (job {meta_name(item)})"
        if item.get("kind") not in (None, "Job"):
            doc.notes.append(f"{source}: {where}: a {item.get('kind')}, not a Job; left out")
            continue
        _require_name(source, i, item)
        if _finished(item):
            doc.notes.append(f"{source}: {where}: finished; left out")
            continue
        spec = mapping(item, "spec")
        pods = _count(source, where, spec, "parallelism")
        req = read_pod(source, where, "spec.template.spec", mapping(spec, "template", "spec"))
        if _left_out(doc, source, where, [req]):
            continue
        ns = mapping(item, "metadata").get("namespace") or "default"
        comment = f"from {source}: Job {ns}/{meta_name(item)}: {pods} pod(s) x {req.gpus} "
        training = _training(meta_name(item), pods * req.gpus, req, item, comment + req.resource)
        add_training(doc, training, source=source)
        added += 1
    doc.notes.append(f"{source}: {added} Job(s) -> training workloads")


def import_kueue(doc: ScenarioDoc, path: Path | str) -> None:
    """Adds a training workload to `doc` per unfinished Kueue Workload that requests
    accelerators (named after the Job that owns it, where one does).

    Raises:
      ScenarioError: not a WorkloadList, or a malformed Workload (named).
    """
    items, source = read_list(path, ("WorkloadList", "List"), "kubectl get workloads -o json")
    added = 0
    for i, item in enumerate(items):
        where = f"items[{i}] (workload {meta_name(item)})"
        if item.get("kind") not in (None, "Workload"):
            doc.notes.append(f"{source}: {where}: a {item.get('kind')}, not a Workload; left out")
            continue
        _require_name(source, i, item)
        if _finished(item, "Finished"):
            doc.notes.append(f"{source}: {where}: finished; left out")
            continue
        pod_sets = mapping(item, "spec").get("podSets")
        if not isinstance(pod_sets, list) or not pod_sets:
            raise item_error(source, where, "spec.podSets: missing or not a list")
        total, parts, reqs = 0, [], []
        for j, pod_set in enumerate(pod_sets):
            if not isinstance(pod_set, dict):
                raise item_error(source, where, f"spec.podSets[{j}]: must be a mapping")
            count = _count(source, where, pod_set, "count", f"spec.podSets[{j}].")
            at = f"spec.podSets[{j}].template.spec"
            req = read_pod(source, where, at, mapping(pod_set, "template", "spec"))
            if req.gpus or req.mig:
                total += count * req.gpus
                parts.append(f"{pod_set.get('name', j)}: {count} x {req.gpus} {req.resource}")
                reqs.append(req)
        if _left_out(doc, source, where, reqs):
            continue
        owners = mapping(item, "metadata").get("ownerReferences")
        owner = owners[0] if isinstance(owners, list) and owners else {}
        name = (owner.get("name") if isinstance(owner, dict) else None) or meta_name(item)
        queue = mapping(item, "spec").get("queueName")
        comment = f"from {source}: Workload {meta_name(item)}" + (
            f" (queue {queue})" if queue else ""
        )
        comment += f": {'; '.join(parts)}"
        spec = _training(str(name), total, _one_pod(reqs), item, comment)
        if len({r.gpus for r in reqs}) > 1:
            spec.todos.append(
                ("pod", f"podSets ask for pods of {sorted({r.gpus for r in reqs})} GPUs: pod "
                 f"is their gcd ({spec.pod['gpus']}), so packing is optimistic; check")
            )  # fmt: skip
        add_training(doc, spec, source=source)
        added += 1
    doc.notes.append(f"{source}: {added} Kueue Workload(s) -> training workloads")


def _require_name(source: str, i: int, item: dict[str, Any]) -> None:
    if meta_name(item) == "?":
        raise item_error(source, f"items[{i}]", "metadata.name: missing")


def _finished(item: dict[str, Any], *types: str) -> bool:
    conditions = mapping(item, "status").get("conditions")
    wanted = types or ("Complete", "Failed")
    return isinstance(conditions, list) and any(
        isinstance(c, dict) and c.get("type") in wanted and str(c.get("status")) == "True"
        for c in conditions
    )


def _count(source: str, where: str, spec: dict[str, Any], key: str, prefix: str = "spec.") -> int:
    raw = spec.get(key, 1)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise item_error(source, where, f"{prefix}{key}: {raw!r} is not a count of pods")
    return raw


def _left_out(doc: ScenarioDoc, source: str, where: str, reqs: list[PodRequest]) -> bool:
    """Whether the pods cannot be a training gang (no accelerator: a note; MIG
    instances: a TODO above `workloads:`, since a gang holds whole GPUs in placer)."""
    if any(r.mig for r in reqs):
        mig = describe({p: n for r in reqs for p, n in r.mig.items()})
        doc.todo_above(
            "workloads", f"{source}: {where}",
            f"left out: its pods ask for MIG instances ({mig} per pod) and a training gang "
            "holds whole GPUs in placer; give it as whole GPUs by hand, or serve it as an "
            "inference workload (serving.<accelerator>.mig)",
        )  # fmt: skip
        return True
    if not any(r.gpus for r in reqs):
        doc.notes.append(f"{source}: {where}: requests no accelerator; left out")
        return True
    return False


def _one_pod(reqs: list[PodRequest]) -> PodRequest:
    """The pod of a gang made of several pod sets: GPUs their gcd, vCPU and memory the
    largest share per GPU times that (the first set's selectors)."""
    if len({r.gpus for r in reqs}) == 1:
        return reqs[0]
    gpus = math.gcd(*(r.gpus for r in reqs))
    per = [max((getattr(r, k) or 0.0) / r.gpus for r in reqs) for k in ("cpu", "memory_gb")]
    return PodRequest(
        resource=reqs[0].resource,
        gpus=gpus,
        cpu=round(per[0] * gpus, 3) or None,
        memory_gb=round(per[1] * gpus, 2) or None,
        selectors=reqs[0].selectors,
    )


def _training(
    name: str, gpus: int, req: PodRequest, item: dict[str, Any], comment: str
) -> TrainingSpec:
    selectors, resource = req.selectors, req.resource
    memory = next((quantity(selectors[k][0]) for k in MEMORY_LABELS if k in selectors), None)
    named = [v for k in PRODUCT_LABELS for v in selectors.get(k, [])]
    accels = [a for v in named if (a := accelerators.match(v, memory and memory / 1024.0))]
    spec = TrainingSpec(name=name, gpus=gpus, comment=comment, pod=req.pod_entry(with_gpus=True))
    if req.shared:
        spec.todos.append(
            ("gpus", "its pods ask for nvidia.com/gpu.shared (time-sliced shares): each "
             "counted as a whole GPU; check")
        )  # fmt: skip
    if accels:
        spec.accelerators = accels
    else:
        spec.accelerators = vendor_accelerators(resource)
        if named:
            spec.todos.append(("accelerators", f"selector {named} names no catalog type; check"))
        elif spec.accelerators:
            spec.todos.append(
                ("accelerators", f"no accelerator selector: any {resource} type; narrow it")
            )
    hours = mapping(item, "metadata", "annotations").get(HOURS_ANNOTATION)
    value = quantity(hours) if hours is not None else None
    if value is not None and value > 0:
        spec.hours = value
    spec.spot_ok = any(
        v.lower() == SPOT_LABELS[k.lower()]
        for k, vs in selectors.items()
        if k.lower() in SPOT_LABELS
        for v in vs
    )
    return spec
