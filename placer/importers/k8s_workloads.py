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
Finished Jobs and Workloads and those that request no accelerator are left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from placer.importers import accelerators
from placer.importers.document import ScenarioDoc
from placer.importers.inputs import item_error, mapping, meta_name, quantity, read_list
from placer.importers.k8s_nodes import GPU_RESOURCES, MEMORY_LABELS, PRODUCT_LABELS
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
        template = mapping(spec, "template", "spec")
        resource, per_pod = _pod_request(source, where, "spec.template.spec", template)
        if per_pod == 0:
            doc.notes.append(f"{source}: {where}: requests no accelerator; left out")
            continue
        ns = mapping(item, "metadata").get("namespace") or "default"
        comment = f"from {source}: Job {ns}/{meta_name(item)}: {pods} pod(s) x {per_pod} {resource}"
        training = _training(meta_name(item), pods * per_pod, resource, template, item, comment)
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
        total, parts, resource, template = 0, [], None, {}
        for j, pod_set in enumerate(pod_sets):
            if not isinstance(pod_set, dict):
                raise item_error(source, where, f"spec.podSets[{j}]: must be a mapping")
            count = _count(source, where, pod_set, "count", f"spec.podSets[{j}].")
            spec_j = mapping(pod_set, "template", "spec")
            res, per_pod = _pod_request(source, where, f"spec.podSets[{j}].template.spec", spec_j)
            if per_pod:
                total += count * per_pod
                parts.append(f"{pod_set.get('name', j)}: {count} x {per_pod} {res}")
                resource, template = resource or res, template or spec_j
        if total == 0:
            doc.notes.append(f"{source}: {where}: requests no accelerator; left out")
            continue
        owners = mapping(item, "metadata").get("ownerReferences")
        owner = owners[0] if isinstance(owners, list) and owners else {}
        name = (owner.get("name") if isinstance(owner, dict) else None) or meta_name(item)
        queue = mapping(item, "spec").get("queueName")
        comment = f"from {source}: Workload {meta_name(item)}" + (
            f" (queue {queue})" if queue else ""
        )
        comment += f": {'; '.join(parts)}"
        add_training(
            doc, _training(str(name), total, resource, template, item, comment), source=source
        )
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


def _pod_request(source: str, where: str, path: str, pod: dict[str, Any]) -> tuple[str | None, int]:
    """(resource, accelerators one pod requests): summed over its containers."""
    containers = pod.get("containers")
    if containers is None:
        raise item_error(source, where, f"{path}.containers: missing")
    if not isinstance(containers, list):
        raise item_error(source, where, f"{path}.containers: must be a list")
    found: dict[str, int] = {}
    for k, c in enumerate(containers):
        resources = mapping(c, "resources") if isinstance(c, dict) else {}
        for resource in GPU_RESOURCES:
            part = "limits" if resource in mapping(resources, "limits") else "requests"
            raw = mapping(resources, part).get(resource)
            if raw is None:
                continue
            value = quantity(raw)
            if value is None or value < 0 or value != int(value):
                raise item_error(
                    source, where, f"{path}.containers[{k}].resources.{part}.{resource}: "
                    f"{raw!r} is not a count"
                )  # fmt: skip
            found[resource] = found.get(resource, 0) + int(value)
    found = {r: n for r, n in found.items() if n > 0}
    if not found:
        return None, 0
    resource = max(found, key=found.__getitem__)
    return resource, found[resource]


def _selectors(pod: dict[str, Any]) -> dict[str, list[str]]:
    """label -> acceptable values, from nodeSelector and required node affinity (In)."""
    out: dict[str, list[str]] = {str(k): [str(v)] for k, v in mapping(pod, "nodeSelector").items()}
    required = mapping(
        pod, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"
    )
    terms = required.get("nodeSelectorTerms")
    for term in terms if isinstance(terms, list) else []:
        exprs = term.get("matchExpressions") if isinstance(term, dict) else None
        for e in exprs if isinstance(exprs, list) else []:
            if (
                isinstance(e, dict)
                and e.get("operator") == "In"
                and isinstance(e.get("values"), list)
            ):
                out.setdefault(str(e.get("key")), []).extend(str(v) for v in e["values"])
    return out


def _training(
    name: str,
    gpus: int,
    resource: str | None,
    pod: dict[str, Any],
    item: dict[str, Any],
    comment: str,
) -> TrainingSpec:
    selectors = _selectors(pod)
    memory = next((quantity(selectors[k][0]) for k in MEMORY_LABELS if k in selectors), None)
    named = [v for k in PRODUCT_LABELS for v in selectors.get(k, [])]
    accels = [a for v in named if (a := accelerators.match(v, memory and memory / 1024.0))]
    spec = TrainingSpec(name=name, gpus=gpus, comment=comment)
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
