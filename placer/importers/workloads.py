"""Workload mappings shared by the workload importers (Jobs, Kueue, SkyPilot): a training
gang of `gpus`, with the values the input did not give filled in and marked TODO."""

from __future__ import annotations

from dataclasses import dataclass, field

from ruamel.yaml.comments import CommentedMap

from placer.importers import assumptions as A
from placer.importers.document import ScenarioDoc, to_id, unique_id
from placer.model.catalog import default_catalog

#: Extended resource -> catalog vendor whose accelerators it can request.
RESOURCE_VENDOR = {"nvidia.com/gpu": "NVIDIA", "amd.com/gpu": "AMD", "google.com/tpu": "Google"}


@dataclass
class TrainingSpec:
    """One training gang read from an input.

    accelerators: acceptable catalog ids (first = speed reference), or None (any).
    hours: run length on the reference accelerator, or None (a placeholder is written).
    """

    name: str
    gpus: int
    accelerators: list[str] | None = None
    hours: float | None = None
    spot_ok: bool = False
    pin_sites: list[str] | None = None
    comment: str = ""
    todos: list[tuple[str, str]] = field(default_factory=list)


def vendor_accelerators(resource: str | None) -> list[str] | None:
    """The catalog ids a pod requesting `resource` can run on (None: not a known one)."""
    vendor = RESOURCE_VENDOR.get(resource or "")
    if vendor is None:
        return None
    return [a.id for a in default_catalog() if a.vendor == vendor and a.id != "Jetson-AGX-Orin"]


def add_training(doc: ScenarioDoc, spec: TrainingSpec, *, source: str) -> str:
    """Appends a training workload to `doc`; returns its id (unique among the workloads)."""
    wid = unique_id(to_id(spec.name, "job"), doc.ids("workloads"))
    where = f"workloads[{wid}]"
    entry = CommentedMap(id=wid, kind="training", gpus=spec.gpus)
    if spec.accelerators:
        entry["accelerators"] = list(dict.fromkeys(spec.accelerators))
    if spec.hours is not None:
        entry["hours"] = spec.hours
    else:
        entry["hours"] = A.TRAINING_HOURS
        ref = f" on {spec.accelerators[0]}" if spec.accelerators else ""
        doc.todo(where, entry, "hours", f"assumed; give the run's length{ref} (h)")
    if spec.spot_ok:
        entry["spot_ok"] = True
    if spec.pin_sites:
        entry["pin_sites"] = spec.pin_sites
    for key, text in spec.todos:
        doc.todo(where, entry, key, text)
    doc.add("workloads", entry, source=source, before=spec.comment)
    return wid
