"""`--to kueue`: Kueue queues and flavors, in a folder per cluster.

* `resourceflavor-<site>-<pool>.yaml`: one ResourceFlavor per pool, selecting its nodes.
* `clusterqueue-<workload>.yaml`: a ClusterQueue per workload and cluster whose nominal
  quota is the plan's GPUs on each flavor, admitting workloads from the namespace.
* `localqueue-<workload>.yaml`: the LocalQueue in the namespace that feeds it.

The API version is `kueue.x-k8s.io/<ExportOptions.kueue_api>` (v1beta2 or v1beta1).

In a timed plan the queues carry `placer.dev/start` and `placer.dev/end`, and the
ClusterQueue of a training run that starts later `stopPolicy: Hold`: it admits nothing
until something sets it to None at the run's start (Kueue has no start time).
"""

from __future__ import annotations

from collections import defaultdict

from placer.outputs.export.common import ExportOptions, Manifest, _annotations, dns_label
from placer.outputs.export.grouping import _Group, _window

KUEUE_GROUP = "kueue.x-k8s.io"
#: Kueue ClusterQueues admit workloads from namespaces matching this label (set by
#: Kubernetes on every namespace since 1.22).
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def _kueue(groups: list[_Group], options: ExportOptions) -> list[Manifest]:
    api = f"{KUEUE_GROUP}/{options.kueue_api}"
    by_cluster: dict[str, list[_Group]] = defaultdict(list)
    for g in groups:
        by_cluster[g.cluster].append(g)
    out: list[Manifest] = []
    for cluster in sorted(by_cluster):
        gs = by_cluster[cluster]
        folder = dns_label(cluster)
        flavors: dict[str, _Group] = {}
        for g in sorted(gs, key=lambda g: g.flavor):
            flavors.setdefault(g.flavor, g)
        for name, g in flavors.items():
            doc = {
                "apiVersion": api,
                "kind": "ResourceFlavor",
                "metadata": {
                    "name": name,
                    "annotations": _annotations(
                        cluster=cluster,
                        site=g.site.id,
                        pool=g.pool.key,
                        accelerator=g.accelerator.id,
                    ),
                },
                "spec": {"nodeLabels": g.node_labels},
            }
            origin = f"pool {g.pool.key!r} of site {g.site.id!r}"
            out.append(Manifest(f"{folder}/resourceflavor-{name}.yaml", origin, doc))
        by_workload: dict[str, list[_Group]] = defaultdict(list)
        for g in gs:
            by_workload[g.workload.id].append(g)
        for wid, wgs in by_workload.items():
            name = dns_label(wid)
            quota: dict[str, dict[str, int]] = defaultdict(dict)  # resource -> flavor -> count
            for g in sorted(wgs, key=lambda g: g.flavor):
                per_flavor = quota[g.gpu_resource()]
                per_flavor[g.flavor] = per_flavor.get(g.flavor, 0) + g.resource_count
            notes = _annotations(cluster=cluster, workload=wid, **_window(wgs))
            queue = {
                "apiVersion": api,
                "kind": "ClusterQueue",
                "metadata": {"name": name, "annotations": notes},
                "spec": {
                    "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: options.namespace}},
                    "resourceGroups": [
                        {
                            "coveredResources": [resource],
                            "flavors": [
                                {"name": f, "resources": [{"name": resource, "nominalQuota": n}]}
                                for f, n in per_flavor.items()
                            ],
                        }
                        for resource, per_flavor in sorted(quota.items())
                    ],
                },
            }
            if any(g.suspend for g in wgs):
                queue["spec"]["stopPolicy"] = "Hold"
            local = {
                "apiVersion": api,
                "kind": "LocalQueue",
                "metadata": {"name": name, "namespace": options.namespace, "annotations": notes},
                "spec": {"clusterQueue": name},
            }
            origin = f"workload {wid!r} in cluster {cluster!r}"
            out.append(Manifest(f"{folder}/clusterqueue-{name}.yaml", origin, queue))
            out.append(Manifest(f"{folder}/localqueue-{name}.yaml", origin, local))
    return out
