"""Accelerator catalog: the per-GPU figures that compile turns into power and speed."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Literal

from pydantic import Field

from placer.model.common import (
    MAX_MEMORY_GB,
    MAX_TDP_W,
    MAX_TFLOPS,
    MIN_TFLOPS,
    Id,
    StrictModel,
    ranged,
)
from placer.model.yaml_text import parse_yaml_text

#: Node power at full load over the sum of GPU TDPs when the catalog gives none:
#: a DGX H100 draws ~10.2 kW for 8 x 700 W GPUs (factor 1.82); CPUs, memory, NICs,
#: fans and power conversion make up the rest.
DEFAULT_NODE_OVERHEAD_FACTOR = 1.8

CoolingType = Literal["air", "liquid", "immersion"]


class Accelerator(StrictModel):
    """One accelerator type (per GPU or per chip)."""

    id: Id
    vendor: str = ""
    memory_gb: float = ranged("Device memory per GPU, GB.", gt=0, le=MAX_MEMORY_GB)
    tdp_w: float = ranged("Board power at full load, W.", gt=0, le=MAX_TDP_W)
    bf16_tflops: float | None = ranged(
        "Dense BF16 throughput, TFLOP/s; scales training hours.",
        default=None,
        ge=MIN_TFLOPS,
        le=MAX_TFLOPS,
    )
    cooling: CoolingType = Field(
        default="air", description="Least cooling it needs: air < liquid < immersion."
    )
    idle_power_fraction: float = ranged(
        "Power drawn idle, as a fraction of full load.", default=0.3, ge=0, le=1
    )
    node_overhead_factor: float = ranged(
        "Node power at full load / (GPUs per node x TDP).",
        default=DEFAULT_NODE_OVERHEAD_FACTOR,
        ge=1,
        le=5,
    )
    source: str = ""


@functools.cache
def default_catalog() -> tuple[Accelerator, ...]:
    """Returns the catalog shipped in `placer/data/accelerators.yaml`."""
    text = resources.files("placer.data").joinpath("accelerators.yaml").read_text("utf-8")
    raw = parse_yaml_text(text, source="placer/data/accelerators.yaml")
    return tuple(Accelerator.model_validate(a) for a in raw["accelerators"])
