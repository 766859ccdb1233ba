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
that names it. A timed plan exports its training runs with their start and end (held when
they start later) and its services as placed in the first period (docs/export.md, "Timed
plans").

The package holds one module per target (`kubernetes`, `karmada`, `kueue`, `skypilot`),
the plan grouping they share (`grouping`), shared helpers (`common`: options, names,
annotations, YAML) and the target registry and dispatcher (`dispatch`). Import from here:
the names below are the package's interface.
"""

from placer.outputs.export.common import (
    KUEUE_API_VERSIONS,
    POOL_LABEL,
    SITE_LABEL,
    VENDOR_GPU_RESOURCE,
    ExportOptions,
    Manifest,
    check_options,
    dns_label,
    is_dns_label,
    label_value,
    render,
)
from placer.outputs.export.dispatch import TARGETS, build, export_documents, header
from placer.outputs.export.grouping import _pod_gpus as _pod_gpus
from placer.outputs.export.karmada import KARMADA_API
from placer.outputs.export.kueue import KUEUE_GROUP, NAMESPACE_NAME_LABEL
from placer.outputs.export.skypilot import (
    SKYPILOT_ACCELERATORS,
    SKYPILOT_TPUS,
    skypilot_accelerators,
    skypilot_infra,
)

__all__ = [
    "KARMADA_API",
    "KUEUE_API_VERSIONS",
    "KUEUE_GROUP",
    "NAMESPACE_NAME_LABEL",
    "POOL_LABEL",
    "SITE_LABEL",
    "SKYPILOT_ACCELERATORS",
    "SKYPILOT_TPUS",
    "TARGETS",
    "VENDOR_GPU_RESOURCE",
    "ExportOptions",
    "Manifest",
    "build",
    "check_options",
    "dns_label",
    "export_documents",
    "header",
    "is_dns_label",
    "label_value",
    "render",
    "skypilot_accelerators",
    "skypilot_infra",
]
