"""Shared fixtures: a small valid scenario and a helper that writes it to disk."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

_MINIMAL_SCENARIO: dict[str, Any] = {
    "apiVersion": "placer/v1",
    "kind": "Scenario",
    "metadata": {"name": "minimal"},
    "sites": [
        {
            "id": "onprem-fra",
            "tier": "onprem",
            "location": {"lat": 50.11, "lon": 8.68, "country": "DE"},
            "power": {
                "it_capacity_kw": 500,
                "pue": 1.3,
                "price_usd_per_kwh": 0.2,
                "carbon_g_per_kwh": 350,
            },
            # DGX-class racks: 4 nodes x 10.2 kW = 40.8 kW, over the 40 kW air default.
            "cooling": {"type": "liquid", "max_rack_density_kw": 50},
            "pools": [{"accelerator": "H100-SXM", "gpus": 64, "cost_usd_per_gpu_h": 1.5}],
        },
        {
            "id": "cloud-osl",
            "tier": "cloud",
            "location": {"lat": 59.91, "lon": 10.75, "country": "NO"},
            "power": {"it_capacity_kw": 2000, "pue": 1.1, "carbon_g_per_kwh": 20},
            "pools": [{"accelerator": "L4", "gpus": 32, "cost_usd_per_gpu_h": 0.8}],
        },
    ],
    "user_regions": [
        {"id": "eu-central", "location": {"lat": 52.52, "lon": 13.40, "country": "DE"}},
        {"id": "eu-north", "location": {"lat": 59.33, "lon": 18.07, "country": "SE"}},
    ],
    "workloads": [
        {"id": "train-llm", "kind": "training", "gpus": 32, "hours": 100},
        {
            "id": "chat",
            "kind": "inference",
            "demand_rps": {"eu-central": 50, "eu-north": 20},
            "serving": {"L4": {"rps_per_replica": 10}},
            "latency_slo_ms": 50,
        },
    ],
}


@pytest.fixture
def minimal_scenario_dict() -> dict[str, Any]:
    """A small valid scenario as plain data: 2 sites (on-prem, cloud), 2 user regions,
    one training and one inference workload. A fresh deep copy: mutate it freely."""
    return copy.deepcopy(_MINIMAL_SCENARIO)


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[..., Path]:
    """Returns `write(data, name="scenario.yaml") -> Path`.

    `data` may be a dict/list (dumped as YAML, or as JSON when `name` ends in .json),
    a str (written as is) or bytes (written raw). Files land in `tmp_path`.
    """

    def write(data: Any, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        elif isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        elif name.endswith(".json"):
            path.write_text(json.dumps(data, indent=2), encoding="utf-8")
        else:
            yaml = YAML(typ="safe", pure=True)
            yaml.default_flow_style = False
            buf = io.StringIO()
            yaml.dump(data, buf)
            path.write_text(buf.getvalue(), encoding="utf-8")
        return path

    return write
