"""`--to skypilot`: one SkyPilot task per workload object and site (`<name>-<site>.yaml`).

A task launches in `site.cloud`/`location.cloud_region` when the site names a cloud, else on
the site's Kubernetes cluster (`infra: k8s/<cluster>`); it asks for the catalog's
accelerators by their SkyPilot names (TPUs as slices), `num_nodes` for a multi-pod gang,
spot capacity where the workload allows it and the pool's spot price is lower, and for
inference a service with the plan's replicas. A task of a timed plan carries its start and
end as `envs` (PLACER_START, PLACER_END): SkyPilot has no start time, so a run that starts
later is launched then by whoever applies the plan.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from placer.errors import ScenarioError
from placer.model.site import Site
from placer.outputs.export.common import Manifest, dns_label
from placer.outputs.export.grouping import _Group, _Object, _window

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


def skypilot_accelerators(accelerator: str, count: float) -> str:
    """SkyPilot `resources.accelerators` for count accelerators of a catalog type on a node."""
    if accelerator in SKYPILOT_TPUS:
        prefix, per_chip = SKYPILOT_TPUS[accelerator]
        return f"{prefix}-{count * per_chip}"
    return f"{SKYPILOT_ACCELERATORS.get(accelerator, accelerator)}:{count:g}"


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
                if gs[0].mig is not None:
                    raise ScenarioError(
                        f"workload {obj.workload.id!r}: SkyPilot cannot request a MIG "
                        f"instance ({gs[0].mig}); export it to Kubernetes instead"
                    )
                per_node = gs[0].gpu_share or gs[0].gpus_per_pod  # SkyPilot takes H100:0.5
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
            window = _window(gs)
            if window["start"] is not None:
                task["envs"] = {"PLACER_START": window["start"], "PLACER_END": window["end"]}
                if window["segments"]:  # a run that pauses or moves (docs/export.md)
                    task["envs"]["PLACER_SEGMENTS"] = ",".join(window["segments"])
            origin = f"workload {obj.workload.id!r} at site {site_id!r}"
            out.append(Manifest(f"{task['name']}.yaml", origin, task))
    return out
