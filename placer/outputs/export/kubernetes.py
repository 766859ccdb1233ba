"""`--to kubernetes`: strategic-merge patches, one per workload object and cluster.

Each patch is a Deployment (inference: `replicas`) or an Indexed batch/v1 Job (training:
`completions` = `parallelism` = gang pods) in `<cluster>/<kind>-<name>.yaml`, with the
required node affinity of the pools it runs on there, the GPU limits of its container and
`placer.dev/` annotations (cluster, workload, accelerator, sites, pools, regions, GPUs; in
a timed plan also start and end, and `suspend: true` on a Job that starts later).
The pod-template building blocks here are also what the Karmada target patches.
"""

from __future__ import annotations

from typing import Any

from placer.errors import ScenarioError
from placer.outputs.export.common import ExportOptions, Manifest, _annotations, _unique, dns_label
from placer.outputs.export.grouping import _Group, _Object, _window


def _node_affinity(groups: list[_Group]) -> dict[str, Any]:
    """Required node affinity: the OR of the groups' pools (each an AND of its labels)."""
    terms: list[dict[str, Any]] = []
    for g in groups:
        term = {
            "matchExpressions": [
                {"key": k, "operator": "In", "values": [v]}
                for k, v in sorted(g.node_labels.items())
            ]
        }
        if term not in terms:
            terms.append(term)
    return {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}


def _one_resource(obj: _Object, groups: list[_Group], where: str) -> str:
    resources = sorted({g.gpu_resource() for g in groups})
    if len(resources) > 1:
        raise ScenarioError(
            f"workload {obj.workload.id!r} on {obj.accelerator!r} {where}: its pools name "
            f"different gpu_resource values {resources}, but one pod template requests one; "
            "give those pools the same gpu_resource"
        )
    return resources[0]


def _container(options: ExportOptions, obj: _Object) -> str:
    return options.container or dns_label(obj.workload.id)


def _workload_patch(
    obj: _Object,
    options: ExportOptions,
    *,
    replicas: int,
    pods: int,
    gpus_per_pod: int,
    resource: str,
    affinity: dict[str, Any] | None,
    annotations: dict[str, str],
    suspend: bool = False,
) -> dict[str, Any]:
    """Strategic-merge patch of the object: replicas / gang size, affinity, GPU limits;
    suspend: a Job of a timed plan that starts later (something must release it)."""
    api_version, kind = obj.api_kind
    pod_spec: dict[str, Any] = {}
    if affinity is not None:
        pod_spec["affinity"] = {"nodeAffinity": affinity}
    pod_spec["containers"] = [
        {"name": _container(options, obj), "resources": {"limits": {resource: gpus_per_pod}}}
    ]
    spec: dict[str, Any]
    if obj.is_training:
        spec = {"completionMode": "Indexed", "completions": pods, "parallelism": pods}
        if suspend:
            spec["suspend"] = True
    else:
        spec = {"replicas": replicas}
    spec["template"] = {"spec": pod_spec}
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": obj.name, "namespace": options.namespace, "annotations": annotations},
        "spec": spec,
    }


# ---- the target ---------------------------------------------------------------------------


def _kubernetes(objects: list[_Object], options: ExportOptions) -> list[Manifest]:
    out: list[Manifest] = []
    for obj in objects:
        for cluster, groups in obj.clusters().items():
            where = f"in cluster {cluster!r}"
            doc = _workload_patch(
                obj,
                options,
                replicas=sum(g.replicas for g in groups),
                pods=sum(g.pods for g in groups),
                gpus_per_pod=groups[0].gpus_per_pod,
                resource=_one_resource(obj, groups, where),
                affinity=_node_affinity(groups),
                annotations=_annotations(
                    cluster=cluster,
                    workload=obj.workload.id,
                    accelerator=obj.accelerator,
                    sites=_unique([g.site.id for g in groups]),
                    pools=_unique([g.pool.key for g in groups]),
                    regions=_unique([r for g in groups for r in g.regions]) or None,
                    gpus=sum(g.gpus for g in groups),
                    **_window(groups),
                ),
                suspend=any(g.suspend for g in groups),
            )
            kind = doc["kind"].lower()
            out.append(
                Manifest(
                    f"{dns_label(cluster)}/{kind}-{obj.name}.yaml",
                    f"workload {obj.workload.id!r} in cluster {cluster!r}",
                    doc,
                )
            )
    return out
