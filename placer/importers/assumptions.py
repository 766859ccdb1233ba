"""The values an importer writes where its input says nothing, each marked TODO in the
file it writes. They are planning placeholders of the right order of magnitude so that
`placer solve` runs on the file as written, not data: replace them.
"""

from __future__ import annotations

#: Facility power / IT power: owned halls ~1.4 (Uptime Institute survey average ~1.5),
#: hyperscale cloud ~1.1.
PUE_ONPREM = 1.4
PUE_CLOUD = 1.1
#: Grid carbon intensity, gCO2e/kWh: about the world average of electricity generation
#: (Ember, Global Electricity Review 2024: ~480 g/kWh in 2023).
CARBON_G_PER_KWH = 480.0
#: Industrial electricity tariff, USD/kWh (cloud sites: 0, energy is in the GPU price).
PRICE_USD_PER_KWH = 0.10
#: IT capacity of an owned site over the full-load power of the nodes found in it: the
#: hall can at least feed what it holds; 25% headroom is a guess.
IT_HEADROOM = 1.25
#: Length of a training run when nothing says, h.
TRAINING_HOURS = 24.0
#: GPUs a cloud pool may use when no quota is known (the quota is the pool size).
CLOUD_QUOTA_GPUS = 64
#: Requests/s one inference replica serves when nothing says (SkyPilot's
#: target_qps_per_replica, the annotation placer.dev/rps-per-replica): a placeholder.
RPS_PER_REPLICA = 1.0
#: Round-trip time users tolerate when nothing says, ms.
LATENCY_SLO_MS = 100.0

#: USD/GPU-hour placeholders per catalog accelerator: (owned: capex over 4 years,
#: straight line, with host and fabric; cloud: order of a 2025 on-demand list price).
USD_PER_GPU_H: dict[str, tuple[float, float]] = {
    "H100-SXM": (1.45, 6.9),
    "H100-PCIe": (1.1, 4.5),
    "H200": (1.8, 8.0),
    "B200": (2.6, 14.2),
    "GB200": (3.0, 15.0),
    "MI300X": (1.5, 6.0),
    "A100-80GB": (0.8, 4.1),
    "L40S": (0.35, 1.9),
    "L4": (0.15, 0.8),
    "T4": (0.08, 0.53),
    "TPU-v5e": (0.3, 1.2),
    "TPU-v5p": (1.0, 4.2),
    "TPU-v6e": (0.6, 2.7),
    "Jetson-AGX-Orin": (0.05, 0.05),
}
#: Used for an accelerator missing from USD_PER_GPU_H (a scenario's own entries).
USD_PER_GPU_H_OTHER = (1.0, 4.0)


def usd_per_gpu_h(accelerator: str, tier: str) -> float:
    """The placeholder price of one GPU-hour at a site of `tier` (cloud or owned)."""
    owned, cloud = USD_PER_GPU_H.get(accelerator, USD_PER_GPU_H_OTHER)
    return cloud if tier == "cloud" else owned
