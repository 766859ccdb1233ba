"""Workload mappings shared by the workload importers (Jobs, Kueue, Deployments, SkyPilot):
a training gang of `gpus`, or an inference service of replicas, with the values the
input did not give filled in and marked TODO."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from placer.errors import ScenarioError
from placer.importers import assumptions as A
from placer.importers.document import ScenarioDoc, flow, to_id, unique_id
from placer.importers.regions import locate
from placer.model.catalog import default_catalog

#: Extended resource -> catalog vendor whose accelerators it can request.
RESOURCE_VENDOR = {"nvidia.com/gpu": "NVIDIA", "amd.com/gpu": "AMD", "google.com/tpu": "Google"}


@dataclass
class TrainingSpec:
    """One training gang read from an input.

    accelerators: acceptable catalog ids (first = speed reference), or None (any).
    hours: run length on the reference accelerator, or None (a placeholder is written).
    pod: one pod's request, the scenario's `pod:` ({gpus, cpu, memory_gb}), or None.
    """

    name: str
    gpus: int
    accelerators: list[str] | None = None
    hours: float | None = None
    spot_ok: bool = False
    pin_sites: list[str] | None = None
    comment: str = ""
    todos: list[tuple[str, str]] = field(default_factory=list)
    pod: Any = None


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
    if spec.pod:
        entry["pod"] = spec.pod
    for key, text in spec.todos:
        doc.todo(where, entry, key, text)
    doc.add("workloads", entry, source=source, before=spec.comment)
    return wid


@dataclass
class InferenceSpec:
    """One inference service read from an input.

    demand_rps: requests/s over all its users; rps_known: the input gave the figures
    demand rests on (else demand and throughput are marked TODO).
    serving: catalog id -> {rps_per_replica, gpus_per_replica | mig}.
    region: the cloud region its users are near, or None (at the first site).
    """

    name: str
    demand_rps: float
    serving: dict[str, dict[str, Any]]
    rps_known: bool = False
    region: str | None = None
    spot_ok: bool = False
    pin_sites: list[str] | None = None
    pod: Any = None
    comment: str = ""
    demand_note: str = ""
    todos: list[tuple[str, str]] = field(default_factory=list)


def add_inference(doc: ScenarioDoc, spec: InferenceSpec, *, source: str) -> str:
    """Appends an inference workload (users in one region, added when missing) to `doc`;
    returns its id. Demand, throughput (unless known) and the latency SLO are TODOs."""
    region_id = user_region(doc, source, spec.region)
    wid = unique_id(to_id(spec.name, "service"), doc.ids("workloads"))
    where = f"workloads[{wid}]"
    entry = CommentedMap(id=wid, kind="inference")
    entry["demand_rps"] = CommentedMap({region_id: spec.demand_rps})
    entry["serving"] = CommentedMap({a: flow(**v) for a, v in spec.serving.items()})
    entry["latency_slo_ms"] = A.LATENCY_SLO_MS
    if spec.spot_ok:
        entry["spot_ok"] = True
    if spec.pin_sites:
        entry["pin_sites"] = spec.pin_sites
    if spec.pod:
        entry["pod"] = spec.pod
    doc.todo(where, entry, "demand_rps", spec.demand_note or "assumed; give peak requests/s")
    if not spec.rps_known:
        doc.todo(where, entry, "serving", "rps_per_replica assumed; give measured throughput")
    doc.todo(where, entry, "latency_slo_ms", "assumed; give the service's RTT budget (ms)")
    for key, text in spec.todos:
        doc.todo(where, entry, key, text)
    doc.add("workloads", entry, source=source, before=spec.comment)
    return wid


def user_region(doc: ScenarioDoc, source: str, region: str | None) -> str:
    """A user region near a cloud region (added when missing); at the first site when
    the region is None or not in placer's table.

    Raises:
      ScenarioError: no region is known and the scenario has no site yet.
    """
    found = locate(region)
    rid = to_id(f"users-{region}") if found else "users"
    if rid in doc.ids("user_regions"):
        return rid
    if found:
        lat, lon, country, _ = found
        placed = f"near {region}"
    else:
        sites = doc.sites()
        if not sites:
            raise ScenarioError(
                f"{source}: a service needs users somewhere: import sites first (k8s-nodes, "
                "catalog or sites), or give the service's region"
            )
        loc = sites[0]["location"]
        lat, lon, country, placed = loc["lat"], loc["lon"], loc["country"], f"at {sites[0]['id']}"
    entry = CommentedMap(id=rid, location=flow(lat=lat, lon=lon, country=country))
    if "user_regions" not in doc.root:
        doc.root.insert(list(doc.root).index("workloads"), "user_regions", CommentedSeq())
    doc.add("user_regions", entry, source=source)
    doc.todo(
        f"user_regions[{rid}]", entry, "location", f"assumed: users {placed}; give where they are"
    )
    return rid
