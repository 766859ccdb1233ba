"""Accelerator catalog: the per-GPU figures that compile turns into power and speed."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Literal

from pydantic import Field

from placer.model.common import Id, PositiveFloat, StrictModel
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
    memory_gb: PositiveFloat = Field(description="Device memory per GPU, GB.")
    tdp_w: PositiveFloat = Field(description="Board power at full load, W.")
    bf16_tflops: PositiveFloat | None = Field(
        default=None, description="Dense BF16 throughput, TFLOP/s; scales training hours."
    )
    cooling: CoolingType = Field(
        default="air", description="Least cooling it needs: air < liquid < immersion."
    )
    idle_power_fraction: float = Field(
        default=0.3, ge=0, le=1, description="Power drawn idle, as a fraction of full load."
    )
    node_overhead_factor: float = Field(
        default=DEFAULT_NODE_OVERHEAD_FACTOR,
        ge=1,
        le=5,
        description="Node power at full load / (GPUs per node x TDP).",
    )
    source: str = ""


@functools.cache
def default_catalog() -> tuple[Accelerator, ...]:
    """Returns the catalog shipped in `placer/data/accelerators.yaml`."""
    text = resources.files("placer.data").joinpath("accelerators.yaml").read_text("utf-8")
    raw = parse_yaml_text(text, source="placer/data/accelerators.yaml")
    return tuple(Accelerator.model_validate(a) for a in raw["accelerators"])
