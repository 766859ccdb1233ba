"""Accelerator names as clusters, clouds and task files spell them -> catalog ids.

The names come from NVIDIA GPU feature discovery (`nvidia.com/gpu.product:
NVIDIA-H100-80GB-HBM3`), GKE (`cloud.google.com/gke-accelerator: nvidia-h100-80gb`,
`cloud.google.com/gke-tpu-accelerator: tpu-v5-lite-podslice`), Karpenter
(`karpenter.k8s.aws/instance-gpu-name: h100`), AMD's device plugin labels, SkyPilot
(`H100`, `A100-80GB`, `tpu-v6e-8`) and cloud price lists (`NVIDIA T4 Tensor Core`).
A name matches the first rule whose pattern it contains, after upper-casing and turning
spaces and underscores into dashes; names no rule knows map to None (the importers list
them as gaps rather than guess).
"""

from __future__ import annotations

import re

from placer.model.catalog import default_catalog

#: (pattern, catalog id, least memory in GB or None): first match wins. A100 needs 80 GB
#: (the catalog has only the 80 GB part), so 'A100' alone maps only when the memory
#: label (or the name) says >= 70 GB.
_RULES: tuple[tuple[str, str, float | None], ...] = (
    (r"GB200", "GB200", None),
    (r"B200", "B200", None),
    (r"H200", "H200", None),
    (r"H100.*(PCIE|NVL)", "H100-PCIe", None),
    (r"H100", "H100-SXM", None),
    (r"A100.*80", "A100-80GB", None),
    (r"A100", "A100-80GB", 70.0),
    (r"L40S", "L40S", None),
    (r"(^|[-])L4($|[-])", "L4", None),
    (r"(^|[-])T4($|[-])(?!G)", "T4", None),
    (r"MI300X", "MI300X", None),
    (r"V5-?LITE|V5E|V5LITEPOD", "TPU-v5e", None),
    (r"V5P", "TPU-v5p", None),
    (r"V6E", "TPU-v6e", None),
    (r"AGX-ORIN", "Jetson-AGX-Orin", None),
)

#: AMD PCI device ids (`amd.com/gpu.device-id`) -> catalog id: MI300X and its virtual
#: function (the AMD GPU operator's node labeller writes the id in hex, no 0x).
AMD_DEVICE_IDS = {"74a1": "MI300X", "74b5": "MI300X"}


def normalise(name: str) -> str:
    """'NVIDIA H100 80GB_HBM3' -> 'NVIDIA-H100-80GB-HBM3'."""
    return re.sub(r"[\s_]+", "-", name.strip()).upper()


def match(name: str, memory_gb: float | None = None) -> str | None:
    """The catalog id of an accelerator name, or None when no rule knows it.

    Args:
      name: the name as a label, task file or price list gives it.
      memory_gb: device memory per GPU, GB, where known (tells A100 40 GB from 80 GB).
    """
    text = normalise(name)
    if "T4G" in text:  # AWS Graviton T4G: a T4 with an Arm host, same GPU
        text = text.replace("T4G", "T4")
    for pattern, accelerator, least_gb in _RULES:
        if re.search(pattern, text):
            if least_gb is not None and (memory_gb is None or memory_gb < least_gb):
                return None
            return accelerator
    return None


def catalog_ids() -> set[str]:
    """Ids of the default catalog's accelerators."""
    return {a.id for a in default_catalog()}


def memory_gb(accelerator: str) -> float:
    """Catalog memory of an accelerator, GB."""
    return {a.id: a.memory_gb for a in default_catalog()}[accelerator]


def node_power_kw(accelerator: str, gpus_per_node: int) -> float:
    """Catalog node power at full load, kW: GPUs x TDP x node overhead factor."""
    a = {a.id: a for a in default_catalog()}[accelerator]
    return gpus_per_node * a.tdp_w / 1000.0 * a.node_overhead_factor


def cooling_of(accelerator: str) -> str:
    """Least cooling the catalog says an accelerator needs (air, liquid, immersion)."""
    return {a.id: a.cooling for a in default_catalog()}[accelerator]
