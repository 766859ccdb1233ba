"""`kubectl get nodes -o json` -> sites and pools with node shapes.

What a node says, and where:
- accelerator: `nvidia.com/gpu.product` (NVIDIA GPU feature discovery / GPU Operator),
  `cloud.google.com/gke-accelerator`, `cloud.google.com/gke-tpu-accelerator`,
  `karpenter.k8s.aws/instance-gpu-name`, `amd.com/gpu.product-name`, AMD device ids
  (`amd.com/gpu.device-id`, `beta.amd.com/gpu.device-id[.<id>]`); memory from
  `nvidia.com/gpu.memory` or `karpenter.k8s.aws/instance-gpu-memory` (MiB);
- physical count, MIG and time-slicing, allocatable vCPU and memory: `k8s_devices`;
- region and zone: `topology.kubernetes.io/region` / `zone` (a zone alone gives its region);
- node pool: `karpenter.sh/nodepool`, `cloud.google.com/gke-nodepool`,
  `eks.amazonaws.com/nodegroup`, `kubernetes.azure.com/agentpool`;
- cloud: `spec.providerID` (aws://, gce://, azure://) makes the site cloud-tier.

Nodes are grouped into one site per region (or one site, `--site`), and into one pool per
node pool, accelerator and GPU mode, with node shapes (`k8s_pools`). Nodes without
accelerators are counted and left out; nodes whose accelerator is not in the catalog are
left out and listed as TODOs.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from placer.errors import ScenarioError
from placer.importers import accelerators
from placer.importers.document import TODO, ScenarioDoc, to_id, unique_id
from placer.importers.inputs import item_error, labels_of, mapping, meta_name, quantity, read_list
from placer.importers.k8s_devices import read_devices
from placer.importers.k8s_pools import Node, pools_of
from placer.importers.regions import region_of_zone
from placer.importers.sites import SiteSpec, site_entry

#: Labels that name the accelerator, most specific first.
PRODUCT_LABELS = (
    "nvidia.com/gpu.product",
    "cloud.google.com/gke-accelerator",
    "cloud.google.com/gke-tpu-accelerator",
    "karpenter.k8s.aws/instance-gpu-name",
    "amd.com/gpu.product-name",
)
AMD_ID_LABELS = ("amd.com/gpu.device-id", "beta.amd.com/gpu.device-id")
MEMORY_LABELS = ("nvidia.com/gpu.memory", "karpenter.k8s.aws/instance-gpu-memory")  # MiB
POOL_LABELS = (
    "karpenter.sh/nodepool",
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "kubernetes.azure.com/agentpool",
)
REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
_PROVIDERS = {"aws": "aws", "gce": "gcp", "azure": "azure"}
_GFD_SUFFIX = re.compile(r"(-MIG-.*)?(-SHARED)?$", re.I)


def import_nodes(
    doc: ScenarioDoc,
    path: Path | str,
    *,
    cluster: str | None = None,
    site: str | None = None,
    tier: str = "auto",
) -> None:
    """Adds the sites and pools of a NodeList to `doc`.

    Args:
      doc: the scenario being built.
      path: `kubectl get nodes -o json` (or -o yaml) output; '-' reads stdin.
      cluster: the kube context name, written as each site's `cluster` (for exports).
      site: put every node in one site of this id (default: one site per region).
      tier: onprem, cloud, edge, or auto (cloud when the nodes run in AWS, GCP or Azure).

    Raises:
      ScenarioError: not a NodeList, a malformed node (named), or no accelerator node.
    """
    items, source = read_list(path, ("NodeList", "List"), "kubectl get nodes -o json")
    nodes = [_node(source, i, item) for i, item in enumerate(items)]
    cpu_only = [n.name for n in nodes if n.gpus == 0]
    unknown = [n for n in nodes if n.gpus > 0 and n.accelerator is None]
    usable = [n for n in nodes if n.gpus > 0 and n.accelerator is not None]
    if not usable:
        raise ScenarioError(
            f"{source}: none of the {len(nodes)} node(s) has an accelerator placer knows "
            f"({len(cpu_only)} without accelerators, {len(unknown)} of unknown type"
            + (f": {sorted({str(n.product) for n in unknown})}" if unknown else "")
            + "); nothing to import"
        )
    groups: dict[str, list[Node]] = defaultdict(list)
    for n in usable:
        groups[site or _site_key(cluster, n.region)].append(n)
    taken = doc.ids("sites")
    with_shapes = doc.root.get("horizon") is None  # node shapes need no horizon (yet)
    left_out: list[str] = []
    for key, members in sorted(groups.items()):
        spec = _site(key, members, cluster, tier, taken)
        spec.pools = pools_of(members, with_shapes=with_shapes, gaps=left_out)
        entry = site_entry(doc, spec)
        if spec.cluster is None:
            entry.insert(3, "cluster", spec.id)
            doc.todo(
                f"sites[{spec.id}]", entry, "cluster",
                "assumed the kube context is named like the site; pass --cluster",
            )  # fmt: skip
        doc.add(
            "sites",
            entry,
            source=source,
            before=_site_comment(source, members, unknown, cpu_only, key == min(groups)),
        )
    regions = {n.region for n in usable}
    if site and len(regions) > 1:
        doc.notes.append(
            f"{source}: nodes of regions {sorted(map(str, regions))} put in one site {site!r}"
        )
    doc.notes.append(
        f"{source}: {len(usable)} accelerator node(s) -> {len(groups)} site(s); "
        f"{len(cpu_only)} node(s) without accelerators left out"
    )
    if cordoned := [n.name for n in usable if n.cordoned]:
        doc.notes.append(f"{source}: cordoned node(s) counted in their pools: {cordoned}")
    for n in unknown:
        doc.gaps.append(f"node {n.name}: accelerator {n.product!r} not in the catalog; left out")
    doc.gaps += left_out


def _site_key(cluster: str | None, region: str | None) -> str:
    if cluster and region:
        return f"{cluster}-{region}"
    return region or cluster or "cluster"


def _site(
    key: str, members: list[Node], cluster: str | None, tier: str, taken: set[str]
) -> SiteSpec:
    regions = sorted({n.region for n in members if n.region})
    clouds = {n.cloud for n in members}
    if tier == "auto":
        tier = "cloud" if clouds and None not in clouds else "onprem"
    spec = SiteSpec(
        id=unique_id(to_id(key, "cluster"), taken),
        tier=tier,
        region=regions[0] if len(regions) == 1 else None,
        cluster=cluster,
    )
    return spec


def _site_comment(
    source: str, members: list[Node], unknown: list[Node], cpu_only: list[str], first: bool
) -> str:
    lines = [f"from {source}: {len(members)} node(s)"]
    if first:
        for n in unknown:
            lines.append(
                f"{TODO}: node {n.name} left out: accelerator {n.product!r} is not in placer's "
                "catalog; add an `accelerators:` entry and a pool by hand"
            )
        if cpu_only:
            shown = ", ".join(cpu_only[:6]) + (", ..." if len(cpu_only) > 6 else "")
            lines.append(f"{len(cpu_only)} node(s) without accelerators left out: {shown}")
    return "\n".join(lines)


def _node(source: str, i: int, item: dict[str, Any]) -> Node:
    """Reads one node.

    Raises:
      ScenarioError: a field placer reads is malformed (names items[i] and the node).
    """
    name = meta_name(item)
    where = f"items[{i}] (node {name})"
    if name == "?":
        raise item_error(source, f"items[{i}]", "metadata.name: missing")
    if item.get("kind") not in (None, "Node"):
        raise item_error(source, where, f"kind {item.get('kind')!r} is not a Node")
    meta_labels = mapping(item, "metadata").get("labels")
    if meta_labels is not None and not isinstance(meta_labels, dict):
        raise item_error(source, where, "metadata.labels: must be a mapping")
    labels = labels_of(item)
    product, id_label = _product(labels)
    accel = None
    if product is not None:
        # GFD appends -SHARED (time-slicing) and -MIG-<profile> (MIG strategy single,
        # whose memory label is then one MIG device's): the GPU is the name before them
        model = _GFD_SUFFIX.sub("", product)
        memory = _memory_gb(labels) if model == product else None
        accel = accelerators.AMD_DEVICE_IDS.get(product) if id_label in AMD_ID_LABELS else None
        accel = accel or accelerators.match(model, memory)
    devices = read_devices(source, where, item, labels, product, accel)
    zone = next((labels[k] for k in ZONE_LABELS if k in labels), None)
    region = next((labels[k] for k in REGION_LABELS if k in labels), None)
    if region is None and zone:
        region = region_of_zone(zone)
    pool = next(((k, labels[k]) for k in POOL_LABELS if k in labels), None)
    provider = str(mapping(item, "spec").get("providerID") or "").split(":", 1)[0]
    return Node(
        name=name,
        labels=labels,
        product=product or (f"<{devices.resource}>" if devices.gpus else None),
        accelerator=accel,
        devices=devices,
        region=region,
        pool=pool,
        cloud=_PROVIDERS.get(provider),
        id_label=id_label,
        cordoned=bool(mapping(item, "spec").get("unschedulable")),
    )


def _product(labels: dict[str, str]) -> tuple[str | None, str | None]:
    """(accelerator name or AMD device id, the label it came from)."""
    for key in PRODUCT_LABELS:
        if labels.get(key):
            return labels[key], key
    for key, value in labels.items():
        for prefix in AMD_ID_LABELS:
            if key == prefix:
                return value.lower().removeprefix("0x"), key
            if key.startswith(prefix + "."):
                return key[len(prefix) + 1 :].lower(), key
    return None, None


def _memory_gb(labels: dict[str, str]) -> float | None:
    for key in MEMORY_LABELS:
        mib = quantity(labels.get(key, ""))
        if mib:
            return mib / 1024.0
    return None
