"""`--to karmada`: per workload object, for the Karmada control plane, three documents.

* `<kind>-<name>.yaml`: a patch of the resource template (Deployment or Job) with the
  total replicas or gang pods and the GPU limits (no affinity: that is per cluster).
* `propagationpolicy-<name>.yaml`: the clusters it runs in; inference replicas divided by
  static weights (the plan's replicas per cluster), training Duplicated.
* `overridepolicy-<name>.yaml`: the node affinity of its pools in each cluster.

In a timed plan the template and the policies carry `placer.dev/start` and `placer.dev/end`,
and the template of a Job that starts later `suspend: true` (Karmada propagates it to the
member cluster, where it holds the Job until something sets it to false).
"""

from __future__ import annotations

from typing import Any

from placer.outputs.export.common import ExportOptions, Manifest, _annotations
from placer.outputs.export.grouping import _Object, _window
from placer.outputs.export.kubernetes import _node_affinity, _one_resource, _workload_patch

KARMADA_API = "policy.karmada.io/v1alpha1"


def _karmada(objects: list[_Object], options: ExportOptions) -> list[Manifest]:
    out: list[Manifest] = []
    for obj in objects:
        api_version, kind = obj.api_kind
        clusters = obj.clusters()
        origin = f"workload {obj.workload.id!r} on {obj.accelerator!r}"
        selector = {
            "apiVersion": api_version,
            "kind": kind,
            "namespace": options.namespace,
            "name": obj.name,
        }
        replicas = {c: sum(g.replicas for g in gs) for c, gs in clusters.items()}
        template = _workload_patch(
            obj,
            options,
            replicas=sum(replicas.values()),
            pods=sum(g.pods for g in obj.groups),
            gpus_per_pod=obj.groups[0].gpus_per_pod,
            resource=_one_resource(obj, obj.groups, "across its clusters"),
            affinity=None,
            annotations=_annotations(
                workload=obj.workload.id,
                accelerator=obj.accelerator,
                clusters=list(clusters),
                **_window(obj.groups),
            ),
            suspend=any(g.suspend for g in obj.groups),
        )
        if obj.is_training:
            scheduling: dict[str, Any] = {"replicaSchedulingType": "Duplicated"}
        else:
            scheduling = {
                "replicaSchedulingType": "Divided",
                "replicaDivisionPreference": "Weighted",
                "weightPreference": {
                    "staticWeightList": [
                        {"targetCluster": {"clusterNames": [c]}, "weight": r}
                        for c, r in replicas.items()
                    ]
                },
            }
        meta = {
            "name": obj.name,
            "namespace": options.namespace,
            "annotations": _annotations(
                workload=obj.workload.id, accelerator=obj.accelerator, **_window(obj.groups)
            ),
        }
        propagation = {
            "apiVersion": KARMADA_API,
            "kind": "PropagationPolicy",
            "metadata": meta,
            "spec": {
                "resourceSelectors": [selector],
                "dependentOverrides": [obj.name],
                "placement": {
                    "clusterAffinity": {"clusterNames": list(clusters)},
                    "replicaScheduling": scheduling,
                },
            },
        }
        override = {
            "apiVersion": KARMADA_API,
            "kind": "OverridePolicy",
            "metadata": dict(meta),
            "spec": {
                "resourceSelectors": [dict(selector)],
                "overrideRules": [
                    {
                        "targetCluster": {"clusterNames": [c]},
                        "overriders": {
                            "plaintext": [
                                {
                                    "path": "/spec/template/spec/affinity",
                                    "operator": "add",
                                    "value": {"nodeAffinity": _node_affinity(gs)},
                                }
                            ]
                        },
                    }
                    for c, gs in clusters.items()
                ],
            },
        }
        out.append(Manifest(f"{kind.lower()}-{obj.name}.yaml", origin, template))
        out.append(Manifest(f"propagationpolicy-{obj.name}.yaml", origin, propagation))
        out.append(Manifest(f"overridepolicy-{obj.name}.yaml", origin, override))
    return out
