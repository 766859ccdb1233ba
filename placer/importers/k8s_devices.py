"""What a node's accelerators are: physical count, MIG partitioning and time-slicing,
and the node's allocatable vCPU and memory (from `kubectl get nodes -o json`).

The NVIDIA GPU Operator's labels, as GPU feature discovery (GFD) writes them:
- `nvidia.com/gpu.count` counts physical GPUs, except under MIG strategy `single` with
  MIG on, where it counts MIG devices and `nvidia.com/gpu.product` ends in
  `-MIG-<profile>` (`NVIDIA-A100-SXM4-80GB-MIG-1g.10gb`);
- under MIG strategy `mixed`, each profile is its own resource in allocatable,
  `nvidia.com/mig-<profile>`; GPUs with MIG off stay `nvidia.com/gpu`;
- `nvidia.com/mig.config` is the layout mig-manager applied (`all-disabled`: MIG off);
- `nvidia.com/mig.strategy` is written on every node once the operator's strategy is
  single or mixed, MIG on or off: alone, it does not mean the GPUs are partitioned;
- time-slicing: `nvidia.com/gpu.replicas` > 1, `nvidia.com/gpu.sharing-strategy`
  (time-slicing, mps), a product ending in `-SHARED`, or the renamed resource
  `nvidia.com/gpu.shared`; allocatable `nvidia.com/gpu` is then GPUs x replicas.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from placer.importers.inputs import (
    cpu_of,
    item_error,
    mapping,
    memory_gb_of,
    quantity,
    resource_amount,
)
from placer.model.mig import MIG_TYPES, profile_names, rows_hold

GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu", "google.com/tpu")
#: The time-sliced GPU resource when the device plugin renames shared GPUs.
SHARED_RESOURCE = "nvidia.com/gpu.shared"
COUNT_LABELS = ("nvidia.com/gpu.count", "karpenter.k8s.aws/instance-gpu-count")
MIG_PREFIX = "nvidia.com/mig-"
MIG_CONFIG_LABEL = "nvidia.com/mig.config"
SHARING_LABELS = ("nvidia.com/gpu.sharing-strategy",)
REPLICAS_LABEL = "nvidia.com/gpu.replicas"
_COMPUTE = re.compile(r"^(\d)g\.")  # 1g.10gb, 3g.40gb, 1g.10gb+me: compute slices


@dataclass
class Devices:
    """A node's accelerators and room.

    Attributes:
      resource: the extended resource pods request them by (nvidia.com/gpu, ...).
      gpus: physical accelerators (GPUs, TPU chips) of the node.
      advertised: what the device plugin advertises of `resource` (0: only a label).
      mig_gpus: of those, the GPUs in MIG mode.
      mig: MIG instances the node advertises now, per profile (1g.10gb -> 56).
      replicas: time-slicing replicas per GPU (1: not shared).
      mode: "", "shared" (time-sliced) or "mig-<profile>" (MIG strategy single): the
        product label differs with it, so such nodes are selected apart (their own pool).
      cpu: allocatable vCPU; memory_gb: allocatable memory, GB (GiB, see inputs.py).
      notes: facts for the pool's comment; todos: what could not be read, to check.
    """

    resource: str | None
    gpus: int
    advertised: int = 0
    mig_gpus: int = 0
    mig: dict[str, int] = field(default_factory=dict)
    replicas: int = 1
    mode: str = ""
    cpu: float | None = None
    memory_gb: float | None = None
    notes: list[str] = field(default_factory=list)
    todos: list[str] = field(default_factory=list)

    def parts(self) -> list[tuple[int, bool, float | None, float | None]]:
        """(GPUs, MIG, vCPU, GB) of the node's shapes: one, or two when a node under MIG
        strategy mixed keeps some GPUs with MIG off (vCPU and memory split by GPUs)."""
        full = self.gpus - self.mig_gpus
        kept = [(g, mig) for g, mig in ((full, False), (self.mig_gpus, True)) if g > 0]
        return [
            (g, mig, _share(self.cpu, g, self.gpus, 3), _share(self.memory_gb, g, self.gpus, 2))
            for g, mig in kept
        ]


def _share(total: float | None, part: int, whole: int, digits: int) -> float | None:
    if total is None:
        return None
    out = math.floor(total * part / whole * 10**digits) / 10**digits
    return out if out > 0 else None


def read_devices(
    source: str, where: str, item: dict[str, Any], labels: dict[str, str], product: str | None,
    accelerator: str | None,
) -> Devices:  # fmt: skip
    """Reads a node's accelerators, vCPU and memory.

    Args:
      source, where: for messages (`nodes.json`, `items[3] (node gpu-7)`).
      item: the Node object; labels: its labels as strings.
      product: the product label's value (GFD: `NVIDIA-H100-80GB-HBM3-MIG-1g.10gb`).
      accelerator: the catalog id it maps to (its MIG profiles), or None.

    Raises:
      ScenarioError: a count, vCPU or memory figure placer reads is malformed.
    """
    status = mapping(item, "status")
    for part in ("allocatable", "capacity"):
        if part in status and not isinstance(status[part], dict):
            raise item_error(source, where, f"status.{part}: must be a mapping")
    dev = Devices(*_advertised(source, where, status, labels))
    for key, attr in (("cpu", "cpu"), ("memory", "memory_gb")):
        found = _field(status, key)
        if found is not None:
            value = resource_amount(source, where, f"status.{found[0]}.{key}", found[1])
            setattr(dev, attr, cpu_of(value) if key == "cpu" else memory_gb_of(value))
    dev.mig = _mig_resources(source, where, status)
    text = (product or "").upper()
    replicas = quantity(labels.get(REPLICAS_LABEL, "")) or 1
    dev.replicas = int(replicas) if replicas == int(replicas) and replicas > 1 else 1
    sharing = next((labels[k] for k in SHARING_LABELS if k in labels), "none").lower()
    shared = (
        dev.replicas > 1
        or sharing in ("time-slicing", "mps")
        or text.endswith("-SHARED")
        or dev.resource == SHARED_RESOURCE
    )
    label = next((labels[k] for k in COUNT_LABELS if k in labels), None)
    count = quantity(label) if label is not None else None
    counted = int(count) if count and count > 0 and count == int(count) else None
    if "-MIG-" in text:
        _single(dev, (product or "").removesuffix("-SHARED"), counted, accelerator)
    elif dev.mig:
        _mixed(dev, counted, accelerator)
    elif labels.get(MIG_CONFIG_LABEL, "all-disabled") not in ("all-disabled", ""):
        dev.gpus = counted or dev.gpus
        dev.mig_gpus = dev.gpus
        state = labels.get(f"{MIG_CONFIG_LABEL}.state", "unknown")
        dev.todos.append(
            f"{MIG_CONFIG_LABEL}: {labels[MIG_CONFIG_LABEL]} but no MIG devices advertised "
            f"(state {state}): its {dev.gpus} GPU(s) counted as MIG GPUs; check"
        )
    else:
        if counted is not None:
            dev.gpus = counted
        elif dev.replicas > 1:
            dev.gpus = max(1, dev.gpus // dev.replicas)
            dev.todos.append(f"no gpu.count label: GPUs = allocatable / {dev.replicas} replicas")
        if shared:
            dev.mode = "shared"
            dev.notes.append(
                f"time-sliced ({sharing if sharing != 'none' else 'shared'}, "
                f"{dev.replicas} replica(s) per GPU; {dev.advertised} {dev.resource} "
                f"advertised): counted as its {dev.gpus} physical GPU(s)"
            )
    return dev


def _field(status: dict[str, Any], key: str) -> tuple[str, Any] | None:
    """(allocatable|capacity, raw value) of a resource: allocatable first."""
    for part in ("allocatable", "capacity"):
        raw = mapping(status, part).get(key)
        if raw is not None:
            return part, raw
    return None


def _advertised(
    source: str, where: str, status: dict[str, Any], labels: dict[str, str]
) -> tuple[str | None, int, int]:
    """(resource, count, count advertised) from the device plugin; the count label (and
    0 advertised) when it has not advertised yet (GFD ran, the plugin did not)."""
    for resource in (*GPU_RESOURCES, SHARED_RESOURCE):
        for part in ("allocatable", "capacity"):
            raw = mapping(status, part).get(resource)
            if raw is None:
                continue
            value = quantity(raw)
            if value is None or value < 0 or value != int(value):
                raise item_error(source, where, f"status.{part}.{resource}: {raw!r} is not a count")
            if value > 0:
                return resource, int(value), int(value)
    for key in COUNT_LABELS:
        count = quantity(labels.get(key, ""))
        if count and count == int(count) and count > 0:
            return ("nvidia.com/gpu" if key.startswith("nvidia") else None), int(count), 0
    return None, 0, 0


def _mig_resources(source: str, where: str, status: dict[str, Any]) -> dict[str, int]:
    """MIG instances per profile (`nvidia.com/mig-1g.10gb: 7`), allocatable first."""
    for part in ("allocatable", "capacity"):
        found = {}
        for key, raw in mapping(status, part).items():
            if not str(key).startswith(MIG_PREFIX):
                continue
            value = quantity(raw)
            if value is None or value < 0 or value != int(value):
                raise item_error(source, where, f"status.{part}.{key}: {raw!r} is not a count")
            if value > 0:
                found[str(key)[len(MIG_PREFIX) :]] = int(value)
        if found:
            return found
    return {}


def _single(dev: Devices, product: str, counted: int | None, accelerator: str | None) -> None:
    """MIG strategy single: every GPU split alike, the MIG devices counted as GPUs."""
    profile = product[product.upper().index("-MIG-") + 5 :]
    instances = counted or dev.gpus
    per_gpu = per_gpu_max(profile, accelerator)
    dev.gpus = dev.mig_gpus = max(1, math.ceil(instances / per_gpu))
    dev.mig = {profile: instances}
    dev.mode = f"mig-{profile}"
    dev.todos.append(
        f"MIG strategy single, {instances} x {profile}: physical GPUs taken as {dev.gpus} "
        f"({per_gpu} per GPU, mig-manager's all-{profile} layout); check with nvidia-smi"
    )


def _mixed(dev: Devices, counted: int | None, accelerator: str | None) -> None:
    """MIG strategy mixed: the count label is the physical GPUs; those not advertised as
    nvidia.com/gpu are in MIG mode."""
    full = dev.advertised // dev.replicas if dev.resource == "nvidia.com/gpu" else 0
    fewest = fewest_gpus(dev.mig, accelerator)
    if counted is not None and counted - full >= fewest:
        dev.gpus, dev.mig_gpus = counted, counted - full
    else:
        dev.gpus, dev.mig_gpus = full + fewest, fewest
        dev.todos.append(
            f"no usable gpu.count label: MIG GPUs taken as the fewest that hold "
            f"{describe(dev.mig)} ({fewest})"
        )
    dev.resource = dev.resource if full else "nvidia.com/gpu"
    split = (
        f"{full} GPU(s) with MIG off, {dev.mig_gpus} in MIG: two node shapes, its vCPU "
        "and memory split by GPUs"
        if full
        else f"all {dev.mig_gpus} GPU(s) in MIG"
    )
    dev.notes.append(f"MIG strategy mixed, {describe(dev.mig)} advertised; {split}")


def describe(mig: dict[str, int]) -> str:
    """{'1g.10gb': 56} -> '56 x 1g.10gb'."""
    return ", ".join(f"{n} x {p}" for p, n in sorted(mig.items()))


def _indices(accelerator: str | None) -> dict[str, int]:
    return profile_names(accelerator) if accelerator else {}


def _compute(profile: str) -> int:
    m = _COMPUTE.match(profile)
    return int(m[1]) if m else 7


def per_gpu_max(profile: str, accelerator: str | None) -> int:
    """The most instances of one MIG profile a GPU holds (7 of 1g.10gb, 4 of 1g.20gb)."""
    index = _indices(accelerator).get(profile.split("+")[0])
    if index is None:
        return max(1, 7 // _compute(profile))
    counts = [0] * len(MIG_TYPES)
    while True:
        counts[index] += 1
        if not rows_hold(counts, 1):
            return max(1, counts[index] - 1)


def fewest_gpus(mig: dict[str, int], accelerator: str | None) -> int:
    """The fewest GPUs that hold these MIG instances (placer's MIG rows; by compute
    slices, 7 a GPU, for profiles it does not know)."""
    names = _indices(accelerator)
    slices = sum(n * _compute(p) for p, n in mig.items())
    least = max(1, math.ceil(slices / 7))
    if not all(p.split("+")[0] in names for p in mig):
        return least
    counts = [0] * len(MIG_TYPES)
    for p, n in mig.items():
        counts[names[p.split("+")[0]]] += n
    while not rows_hold(counts, least):
        least += 1
    return least
