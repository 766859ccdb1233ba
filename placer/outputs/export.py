"""`placer export`: a plan as orchestrator manifests (Kubernetes, Karmada, Kueue, SkyPilot).

Pure functions: (Scenario, Plan, target) -> documents (plain dicts), and a YAML renderer.
docs/export.md describes each target's output and the mapping rules; in short:

* A site runs in the Kubernetes cluster `site.cluster` (default: the site id). A pool's
  nodes carry `pool.node_labels` (default: `placer.dev/site=<site>`, `placer.dev/pool=<pool>`).
  A pool's accelerators are requested as `pool.gpu_resource` (default by vendor:
  nvidia.com/gpu, amd.com/gpu, google.com/tpu).
* A workload becomes one Kubernetes object per accelerator type it runs on: a Deployment
  (inference) or an Indexed batch/v1 Job (training), named after the workload, with
  `-<accelerator>` appended when the workload runs on more than one type. Names are
  DNS-1123 labels (see `dns_label`).
* Training gangs run as pods of d GPUs each, d the largest divisor of the gang's GPUs that
  fits a node of the pool (`gpus_per_node`); inference pods hold one replica each.
* SkyPilot launches in `site.cloud`/`location.cloud_region` when the site names a cloud,
  else on the site's Kubernetes cluster (`infra: k8s/<cluster>`).

Only plans with placements (status optimal or feasible) export; a placement that does not
match the scenario (unknown workload, site, pool, region; GPUs that disagree) is an error
that names it.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from placer.errors import OptionError, ScenarioError
from placer.model.catalog import Accelerator
from placer.model.scenario import Scenario
from placer.model.site import Pool, Site
from placer.model.workload import Inference, Training
from placer.plan.plan import Placement, Plan

TARGETS: tuple[str, ...] = ("kubernetes", "karmada", "kueue", "skypilot")
KUEUE_API_VERSIONS: tuple[str, ...] = ("v1beta2", "v1beta1")

SITE_LABEL = "placer.dev/site"
POOL_LABEL = "placer.dev/pool"
_ANNOTATION = "placer.dev/"
KARMADA_API = "policy.karmada.io/v1alpha1"
KUEUE_GROUP = "kueue.x-k8s.io"
#: Kueue ClusterQueues admit workloads from namespaces matching this label (set by
#: Kubernetes on every namespace since 1.22).
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

#: Kubernetes extended resource per catalog vendor (lowercase).
VENDOR_GPU_RESOURCE = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu", "google": "google.com/tpu"}

#: Catalog id -> SkyPilot accelerator name (`sky show-gpus`); other ids pass through.
SKYPILOT_ACCELERATORS = {
    "H100-SXM": "H100",
    "H100-PCIe": "H100",
    "H200": "H200",
    "B200": "B200",
    "GB200": "GB200",
    "MI300X": "MI300X",
    "A100-80GB": "A100-80GB",
    "L40S": "L40S",
    "L4": "L4",
    "T4": "T4",
}
#: Catalog TPU id -> (SkyPilot slice name prefix, TensorCores the slice size counts per chip):
#: a v5e slice of 8 chips is tpu-v5litepod-8; a v5p slice of 4 chips is tpu-v5p-8.
SKYPILOT_TPUS = {
    "TPU-v5e": ("tpu-v5litepod", 1),
    "TPU-v5p": ("tpu-v5p", 2),
    "TPU-v6e": ("tpu-v6e", 1),
}

_DNS_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class ExportOptions:
    """Choices a user makes at export time.

    Attributes:
      namespace: Kubernetes namespace of the workloads (and of Karmada policies, Kueue
        LocalQueues).
      container: name of the container the GPU limits go to (strategic merge matches
        containers by name); None: the workload's name.
      kueue_api: Kueue API version, v1beta2 (current) or v1beta1 (older Kueue releases).
    """

    namespace: str = "default"
    container: str | None = None
    kueue_api: str = "v1beta2"


@dataclass(frozen=True)
class Manifest:
    """One exported document and where it goes.

    Attributes:
      path: relative file path when each document gets its own file (a folder per cluster
        for the per-cluster targets).
      origin: what it was made from, for messages.
      document: the manifest as plain data (YAML-ready).
    """

    path: str
    origin: str
    document: dict[str, Any]


# ---- names --------------------------------------------------------------------------------


def dns_label(text: str, max_len: int = 63) -> str:
    """A deterministic DNS-1123 label (<= max_len lowercase alphanumerics or '-') for text.

    Lowercases, turns every run of other characters into one '-', trims '-' at the ends;
    a result longer than max_len is cut and ends in '-' plus 8 hex digits of the SHA-256
    of text, so distinct long ids stay distinct.
    """
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"
    if len(name) > max_len:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        name = f"{name[: max_len - 9].rstrip('-')}-{digest}"
    return name


def label_value(text: str) -> str:
    """A deterministic Kubernetes label value (<= 63 of [A-Za-z0-9._-], alphanumeric ends)."""
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    value = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value) or "x"
    if len(value) > 63:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        value = f"{value[:54].rstrip('-_.')}-{digest}"
    return value


def is_dns_label(name: str) -> bool:
    """True if name is a DNS-1123 label (what Kubernetes requires of most object names)."""
    return bool(_DNS_LABEL.match(name))


# ---- the plan, grouped --------------------------------------------------------------------


@dataclass
class _Group:
    """The placements of one workload on one pool of one site."""

    workload: Training | Inference
    site: Site
    pool: Pool
    accelerator: Accelerator
    gpus: int = 0
    replicas: int = 0
    regions: list[str] = field(default_factory=list)

    @property
    def cluster(self) -> str:
        """Kubernetes cluster (Karmada member, kube context) of the site."""
        return self.site.cluster or self.site.id

    @property
    def node_labels(self) -> dict[str, str]:
        """Labels that select the pool's nodes."""
        if self.pool.node_labels:
            return dict(self.pool.node_labels)
        return {SITE_LABEL: label_value(self.site.id), POOL_LABEL: label_value(self.pool.key)}

    @property
    def flavor(self) -> str:
        """Kueue ResourceFlavor name of the pool."""
        return dns_label(f"{self.site.id}-{self.pool.key}")

    @property
    def gpus_per_pod(self) -> int:
        """Accelerators one pod requests: a replica's, or a gang member's (see _pod_gpus)."""
        if isinstance(self.workload, Inference):
            return self.workload.serving[self.accelerator.id].gpus_per_replica
        return _pod_gpus(self.gpus, self.pool.gpus_per_node)

    @property
    def pods(self) -> int:
        """Pods of the group: replicas (inference) or gang members (training)."""
        return (
            self.replicas
            if isinstance(self.workload, Inference)
            else self.gpus // self.gpus_per_pod
        )

    def gpu_resource(self) -> str:
        """Kubernetes extended resource the pool's accelerators are requested by.

        Raises:
          ScenarioError: the pool gives none and the vendor has no known default.
        """
        if self.pool.gpu_resource:
            return self.pool.gpu_resource
        resource = VENDOR_GPU_RESOURCE.get(self.accelerator.vendor.strip().lower())
        if resource is None:
            raise ScenarioError(
                f"site {self.site.id!r}, pool {self.pool.key!r}: no Kubernetes resource name "
                f"is known for accelerator {self.accelerator.id!r} (vendor "
                f"{self.accelerator.vendor!r}); set gpu_resource on the pool, e.g. "
                "nvidia.com/gpu"
            )
        return resource


def _pod_gpus(gpus: int, gpus_per_node: int) -> int:
    """GPUs per pod of a gang: the largest divisor of gpus that fits on one node."""
    return next(d for d in range(min(gpus, gpus_per_node), 0, -1) if gpus % d == 0)


def _check_plan(plan: Plan) -> None:
    if plan.status not in ("optimal", "feasible"):
        raise OptionError(
            f"the plan's status is {plan.status!r}: it places nothing, so there is nothing to "
            "export; solve the scenario until it has a feasible plan (placer explain shows why "
            "it has none)"
        )
    if not plan.placements:
        raise OptionError(
            f"the plan ({plan.status}) has no placements: every workload is left unplaced, so "
            "there is nothing to export"
        )


def _groups(scenario: Scenario, plan: Plan) -> list[_Group]:
    """Placements grouped by (workload, site, pool), in scenario order, checked against it.

    Raises:
      ScenarioError: a placement the scenario does not have (names the placement).
    """
    workloads = {w.id: w for w in scenario.workloads}
    sites = {s.id: s for s in scenario.sites}
    catalog = scenario.catalog()
    groups: dict[tuple[str, str, str], _Group] = {}
    seen: set[str] = set()
    for i, p in enumerate(plan.placements):
        where = f"placement {i} ({p.unit})"
        if p.unit in seen:
            raise ScenarioError(f"plan: {where}: unit placed twice")
        seen.add(p.unit)
        w = workloads.get(p.workload)
        if w is None:
            raise ScenarioError(
                f"plan: {where}: workload {p.workload!r} is not in the scenario; was the plan "
                "solved for another scenario?"
            )
        site = sites.get(p.site)
        if site is None:
            raise ScenarioError(f"plan: {where}: site {p.site!r} is not in the scenario")
        pool = next((pl for pl in site.pools if pl.key == p.pool), None)
        if pool is None:
            raise ScenarioError(
                f"plan: {where}: site {p.site!r} has no pool {p.pool!r} "
                f"(it has {[pl.key for pl in site.pools]})"
            )
        _check_placement(where, p, w, pool)
        key = (w.id, site.id, pool.key)
        if key not in groups:
            groups[key] = _Group(w, site, pool, catalog[pool.accelerator])
        g = groups[key]
        g.gpus += p.gpus
        g.replicas += p.replicas
        if p.region is not None and p.region not in g.regions:
            g.regions.append(p.region)
    order = {w.id: i for i, w in enumerate(scenario.workloads)}
    return sorted(groups.values(), key=lambda g: (order[g.workload.id], g.site.id, g.pool.key))


def _check_placement(where: str, p: Placement, w: Training | Inference, pool: Pool) -> None:
    if p.kind != w.kind:
        raise ScenarioError(f"plan: {where}: placed as {p.kind}, but workload {w.id!r} is {w.kind}")
    if p.accelerator != pool.accelerator:
        raise ScenarioError(
            f"plan: {where}: accelerator {p.accelerator!r}, but pool {p.pool!r} of site "
            f"{p.site!r} holds {pool.accelerator!r}"
        )
    if p.gpus <= 0:
        raise ScenarioError(f"plan: {where}: {p.gpus} GPUs; a placement holds at least one")
    if isinstance(w, Training):
        if p.gpus != w.gpus:
            raise ScenarioError(
                f"plan: {where}: {p.gpus} GPUs, but training run {w.id!r} is a gang of {w.gpus}"
            )
        return
    if p.region not in w.demand_rps:
        raise ScenarioError(
            f"plan: {where}: workload {w.id!r} has no demand from region {p.region!r}"
        )
    serving = w.serving.get(p.accelerator)
    if serving is None:
        raise ScenarioError(
            f"plan: {where}: workload {w.id!r} has no serving figures for {p.accelerator!r}"
        )
    if p.replicas <= 0 or p.gpus != p.replicas * serving.gpus_per_replica:
        raise ScenarioError(
            f"plan: {where}: {p.gpus} GPUs for {p.replicas} replicas, but the scenario gives "
            f"{serving.gpus_per_replica} GPUs per replica on {p.accelerator!r}"
        )


@dataclass
class _Object:
    """One Kubernetes object of a workload: its placements on one accelerator type."""

    name: str
    workload: Training | Inference
    accelerator: str
    groups: list[_Group]

    @property
    def is_training(self) -> bool:
        return isinstance(self.workload, Training)

    @property
    def api_kind(self) -> tuple[str, str]:
        """(apiVersion, kind) of the object."""
        return ("batch/v1", "Job") if self.is_training else ("apps/v1", "Deployment")

    def clusters(self) -> dict[str, list[_Group]]:
        """Cluster -> the object's groups there, clusters sorted."""
        out: dict[str, list[_Group]] = defaultdict(list)
        for g in self.groups:
            out[g.cluster].append(g)
        return dict(sorted(out.items()))


def _objects(groups: list[_Group]) -> list[_Object]:
    by_workload: dict[str, list[_Group]] = defaultdict(list)
    for g in groups:
        by_workload[g.workload.id].append(g)
    objects: list[_Object] = []
    for wid, gs in by_workload.items():
        accelerators = sorted({g.accelerator.id for g in gs})
        for acc in accelerators:
            name = dns_label(wid if len(accelerators) == 1 else f"{wid}-{acc}")
            mine = [g for g in gs if g.accelerator.id == acc]
            objects.append(_Object(name, mine[0].workload, acc, mine))
    return objects


# ---- building blocks ----------------------------------------------------------------------


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


def _annotations(**values: object) -> dict[str, str]:
    """placer.dev/<key>: value annotations (strings; lists joined by ',')."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        out[_ANNOTATION + key.replace("_", "-")] = text
    return out


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


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
) -> dict[str, Any]:
    """Strategic-merge patch of the object: replicas / gang size, affinity, GPU limits."""
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
    else:
        spec = {"replicas": replicas}
    spec["template"] = {"spec": pod_spec}
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": obj.name, "namespace": options.namespace, "annotations": annotations},
        "spec": spec,
    }


# ---- targets ------------------------------------------------------------------------------


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
                ),
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
                workload=obj.workload.id, accelerator=obj.accelerator, clusters=list(clusters)
            ),
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
            "annotations": _annotations(workload=obj.workload.id, accelerator=obj.accelerator),
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
            quota: dict[str, dict[str, int]] = defaultdict(dict)  # resource -> flavor -> GPUs
            for g in sorted(wgs, key=lambda g: g.flavor):
                per_flavor = quota[g.gpu_resource()]
                per_flavor[g.flavor] = per_flavor.get(g.flavor, 0) + g.gpus
            notes = _annotations(cluster=cluster, workload=wid)
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


def skypilot_infra(site: Site) -> str:
    """SkyPilot `resources.infra` of a site: cloud/region, or k8s/<cluster context>.

    Raises:
      ScenarioError: a cloud site without a region, or with neither cloud nor cluster.
    """
    if site.cloud is not None:
        if not site.location.cloud_region:
            raise ScenarioError(
                f"site {site.id!r}: cloud {site.cloud!r} but no location.cloud_region; SkyPilot "
                "needs the region the plan chose (set it, e.g. cloud_region: us-east-1)"
            )
        return f"{site.cloud}/{site.location.cloud_region}"
    if site.tier == "cloud" and site.cluster is None:
        raise ScenarioError(
            f"site {site.id!r} is a cloud site with neither `cloud` nor `cluster`: set cloud "
            "(e.g. aws, gcp, azure) so SkyPilot launches in its region, or cluster to launch "
            "on its Kubernetes cluster"
        )
    return f"k8s/{site.cluster or site.id}"


def skypilot_accelerators(accelerator: str, count: int) -> str:
    """SkyPilot `resources.accelerators` for count accelerators of a catalog type on a node."""
    if accelerator in SKYPILOT_TPUS:
        prefix, per_chip = SKYPILOT_TPUS[accelerator]
        return f"{prefix}-{count * per_chip}"
    return f"{SKYPILOT_ACCELERATORS.get(accelerator, accelerator)}:{count}"


def _skypilot(objects: list[_Object]) -> list[Manifest]:
    out: list[Manifest] = []
    for obj in objects:
        by_site: dict[str, list[_Group]] = defaultdict(list)
        for g in obj.groups:
            by_site[g.site.id].append(g)
        for site_id, gs in by_site.items():
            site, pool = gs[0].site, gs[0].pool
            infra = skypilot_infra(site)
            tpu = obj.accelerator in SKYPILOT_TPUS
            task: dict[str, Any] = {"name": dns_label(f"{obj.name}-{site_id}")}
            if obj.is_training:
                g = gs[0]
                per_node = g.gpus if tpu else g.gpus_per_pod
                if not tpu and g.pods > 1:
                    task["num_nodes"] = g.pods
            else:
                per_node = gs[0].gpus_per_pod
            resources: dict[str, Any] = {
                "infra": infra,
                "accelerators": skypilot_accelerators(obj.accelerator, per_node),
            }
            spot = pool.spot_cost_usd_per_gpu_h
            if (
                site.cloud is not None
                and obj.workload.spot_ok
                and spot is not None
                and spot < pool.cost_usd_per_gpu_h
            ):
                resources["use_spot"] = True
            task["resources"] = resources
            if not obj.is_training:
                task["service"] = {
                    "readiness_probe": "/",
                    "replicas": sum(g.replicas for g in gs),
                }
            origin = f"workload {obj.workload.id!r} at site {site_id!r}"
            out.append(Manifest(f"{task['name']}.yaml", origin, task))
    return out


# ---- public API ---------------------------------------------------------------------------


def check_options(options: ExportOptions) -> None:
    """Raises OptionError for a namespace, container or Kueue API version Kubernetes rejects."""
    if not is_dns_label(options.namespace):
        raise OptionError(
            f"--namespace {options.namespace!r}: not a Kubernetes namespace name (a DNS-1123 "
            "label: at most 63 lowercase letters, digits or '-', alphanumeric at both ends)"
        )
    if options.container is not None and not is_dns_label(options.container):
        raise OptionError(
            f"--container {options.container!r}: not a Kubernetes container name (a DNS-1123 "
            "label: at most 63 lowercase letters, digits or '-', alphanumeric at both ends)"
        )
    if options.kueue_api not in KUEUE_API_VERSIONS:
        raise OptionError(
            f"--kueue-api {options.kueue_api!r}: one of {', '.join(KUEUE_API_VERSIONS)}"
        )


def build(
    scenario: Scenario, plan: Plan, target: str, options: ExportOptions | None = None
) -> list[Manifest]:
    """The plan's manifests for target, each with its file path and origin.

    Args:
      scenario: the scenario the plan was solved for.
      plan: a plan with placements (status optimal or feasible).
      target: one of TARGETS.
      options: namespace, container name, Kueue API version.

    Raises:
      OptionError: unknown target, bad option, or a plan without placements.
      ScenarioError: a placement the scenario does not have, a site SkyPilot cannot reach,
        or two ids that export under one name.
    """
    options = options or ExportOptions()
    if target not in TARGETS:
        raise OptionError(f"--to {target!r}: one of {', '.join(TARGETS)}")
    check_options(options)
    _check_plan(plan)
    groups = _groups(scenario, plan)
    if target == "kueue":
        manifests = _kueue(groups, options)
    else:
        objects = _objects(groups)
        if target == "kubernetes":
            manifests = _kubernetes(objects, options)
        elif target == "karmada":
            manifests = _karmada(objects, options)
        else:
            manifests = _skypilot(objects)
    seen: dict[str, str] = {}
    for m in manifests:
        if m.path in seen:
            raise ScenarioError(
                f"{seen[m.path]} and {m.origin} export under the same name ({m.path}); "
                "rename one of the ids (names are lowercased, other characters become '-')"
            )
        seen[m.path] = m.origin
    return manifests


def export_documents(
    scenario: Scenario, plan: Plan, target: str, options: ExportOptions | None = None
) -> list[dict[str, Any]]:
    """The plan as target documents (plain dicts), in a deterministic order. See `build`."""
    return [m.document for m in build(scenario, plan, target, options)]


def header(scenario: Scenario, plan: Plan, target: str) -> list[str]:
    """Comment lines that open an export: what it is and how to apply it."""
    how = {
        "kubernetes": "Strategic-merge patches (Deployment: inference, Job: training). Apply each "
        "to the cluster in its placer.dev/cluster annotation, e.g. kubectl --context CLUSTER "
        "patch deployment NAME --type strategic --patch-file FILE, or as kustomize patches.",
        "karmada": "For the Karmada control plane: a patch of each resource template (total "
        "replicas, GPU limits), its PropagationPolicy (clusters, replica weights) and its "
        "OverridePolicy (node affinity per cluster).",
        "kueue": "Apply each document to the cluster in its placer.dev/cluster annotation; "
        "label a workload kueue.x-k8s.io/queue-name: <its LocalQueue> to queue it.",
        "skypilot": "One SkyPilot task per document; SkyPilot reads several documents in one "
        "file as a pipeline, so use -o DIR for one file per task.",
    }[target]
    name = scenario.metadata.name or "(unnamed)"
    return [
        f"placer export --to {target}: scenario {name!r}, plan {plan.status} "
        f"(solver {plan.solver}), {len(plan.placements)} placements.",
        how,
    ]


def render(documents: list[dict[str, Any]], comments: list[str] | None = None) -> str:
    """Documents as one YAML stream ('---' before each), after '#' comment lines.

    Strings that YAML 1.1 readers (kubectl, PyYAML) would take for another type, such as
    NO, on, 12:30 or 28, are double-quoted, so every reader gets strings back.
    """
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.Representer = _Representer
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False
    yaml.explicit_start = True
    yaml.width = 4096
    buf = io.StringIO()
    for line in comments or []:
        buf.write(f"# {line}\n")
    yaml.dump_all(documents, buf)
    return buf.getvalue()


def _make_representer() -> type:
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.representer import SafeRepresenter
    from ruamel.yaml.resolver import VersionedResolver

    yaml11 = VersionedResolver(version=(1, 1))
    yaml12 = VersionedResolver(version=(1, 2))

    class Representer(SafeRepresenter):
        """SafeRepresenter that quotes strings YAML 1.1 or 1.2 would read as non-strings."""

    def represent_str(self: SafeRepresenter, data: str) -> Any:
        for resolver in (yaml11, yaml12):
            if resolver.resolve(ScalarNode, data, (True, False)) != "tag:yaml.org,2002:str":
                return self.represent_scalar("tag:yaml.org,2002:str", data, style='"')
        return SafeRepresenter.represent_str(self, data)

    Representer.add_representer(str, represent_str)
    return Representer


_Representer = _make_representer()
