"""SkyPilot task YAMLs -> workloads.

A task is a training gang of `num_nodes` x the accelerators of `resources.accelerators`
(`H100:8`, `{H100: 8}`, or a list / mapping of alternatives, also under
`resources.any_of` / `resources.ordered`; TPU names such as `tpu-v6e-8` count chips).
`resources.use_spot` sets spot_ok; `resources.cloud` / `region` / `infra: aws/us-east-1`
pin it to the scenario's sites in that cloud and region, where there are any. A task
with a `service:` section is an inference service: `replicas` (or
`replica_policy.max_replicas`) x `target_qps_per_replica` requests/s from users near its
region (a user region is added), each replica on one node of the task's accelerators.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from placer.errors import ScenarioError
from placer.importers import accelerators
from placer.importers import assumptions as A
from placer.importers.document import ScenarioDoc, flow
from placer.importers.inputs import item_error
from placer.importers.workloads import InferenceSpec, TrainingSpec, add_inference, add_training
from placer.model.nodes import MAX_NODE_GPUS
from placer.model.yaml_text import read_document

#: Requests/s one replica serves when the service does not say (target_qps_per_replica).
ASSUMED_RPS_PER_REPLICA = A.RPS_PER_REPLICA
_TPU = re.compile(r"^tpu-v[0-9a-z]+?-(\d+)$", re.I)


def import_tasks(doc: ScenarioDoc, paths: list[Path | str]) -> None:
    """Adds one workload per SkyPilot task file to `doc`.

    Raises:
      ScenarioError: a file is not YAML, not a task, or names no usable accelerator.
    """
    for path in paths:
        task, source = read_document(path)
        if not isinstance(task, dict):
            raise ScenarioError(f"{source}: not a SkyPilot task (a mapping with resources:)")
        name = str(task.get("name") or Path(str(path)).stem)
        where = f"task {name}"
        nodes = task.get("num_nodes", 1)
        if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
            raise item_error(source, where, f"num_nodes: {nodes!r} is not a count of nodes")
        resources = task.get("resources") or {}
        if not isinstance(resources, dict):
            raise item_error(source, where, "resources: must be a mapping")
        options = _alternatives(source, where, resources)
        if not options:
            raise item_error(
                source, where, "resources.accelerators: none that placer's catalog knows "
                "(e.g. H100:8); a CPU-only task has nothing to place"
            )  # fmt: skip
        pins = _pins(doc, resources)
        spot = bool(resources.get("use_spot"))
        if isinstance(task.get("service"), dict):
            _add_service(doc, source, name, task["service"], options, resources, pins, spot)
            continue
        per_node = options[0][1]
        kept = [a for a, n in options if n == per_node]
        comment = f"from {source}: SkyPilot task {name}: {nodes} node(s) x {per_node} {kept[0]}"
        spec = TrainingSpec(name, nodes * per_node, kept, None, spot, pins, comment)
        spec.pod = _pod(source, where, resources, per_node)
        add_training(doc, spec, source=source)
        dropped = [f"{a}:{n}" for a, n in options if n != per_node]
        if dropped:
            doc.notes.append(f"{source}: {where}: alternatives of another size left out: {dropped}")
        doc.notes.append(f"{source}: {where} -> a training workload of {nodes * per_node} GPUs")


def _alternatives(source: str, where: str, resources: dict[str, Any]) -> list[tuple[str, int]]:
    """(catalog id, accelerators per node) of each acceptable option, in order."""
    out: list[tuple[str, int]] = []
    blocks = [resources]
    for key in ("any_of", "ordered"):
        more = resources.get(key)
        if isinstance(more, list):
            blocks += [b for b in more if isinstance(b, dict)]
    for block in blocks:
        for raw, count in _parse(source, where, block.get("accelerators")):
            if m := _TPU.match(raw):
                count *= int(m[1])
            accel = accelerators.match(raw)
            if accel is None:
                raise item_error(
                    source, where, f"resources.accelerators: {raw!r} is not in placer's "
                    "catalog; name a type it knows (H100, A100-80GB, L4, tpu-v6e-8, ...)"
                )  # fmt: skip
            if (accel, count) not in out:
                out.append((accel, count))
    return out


def _parse(source: str, where: str, value: Any) -> list[tuple[str, int]]:
    """'H100:8' | {H100: 8} | ['H100:8', 'A100-80GB:8'] | {H100: 8, L4: 4} -> pairs."""
    if value is None:
        return []
    if isinstance(value, str):
        name, _, count = value.partition(":")
        return [(name.strip(), _count(source, where, count.strip() or "1"))]
    if isinstance(value, dict):
        return [
            (str(k), _count(source, where, v if v is not None else 1)) for k, v in value.items()
        ]
    if isinstance(value, list):
        return [pair for v in value for pair in _parse(source, where, v)]
    raise item_error(
        source, where, f"resources.accelerators: {value!r} is not H100:8 or {{H100: 8}}"
    )


def _count(source: str, where: str, value: Any) -> int:
    try:
        n = float(value)
    except (TypeError, ValueError):
        n = -1.0
    if isinstance(value, bool) or not math.isfinite(n) or n < 1 or n != int(n):
        raise item_error(
            source, where, f"resources.accelerators: count {value!r} is not a whole number >= 1"
        )
    return int(n)


def _cloud_region(resources: dict[str, Any]) -> tuple[str | None, str | None]:
    infra = resources.get("infra")
    if isinstance(infra, str) and "/" in infra and not infra.startswith("k8s"):
        cloud, region = [*infra.split("/"), ""][:2]
        return cloud.lower(), region or None
    cloud, region = resources.get("cloud"), resources.get("region")
    return (str(cloud).lower() if cloud else None), (str(region) if region else None)


def _pins(doc: ScenarioDoc, resources: dict[str, Any]) -> list[str] | None:
    """Sites of the scenario in the task's cloud and region; None when it names none."""
    cloud, region = _cloud_region(resources)
    if not cloud and not region:
        return None
    hits = []
    for site in doc.sites():
        loc = site.get("location") or {}
        in_cloud = (
            not cloud
            or site.get("cloud") == cloud
            or (site.get("cloud") is None and site.get("tier") == "cloud")
        )
        if in_cloud and (not region or loc.get("cloud_region") == region):
            hits.append(str(site["id"]))
    if not hits:
        doc.notes.append(
            f"no site of the scenario is in {cloud or '*'}/{region or '*'}; the task is not "
            "pinned (import that region's sites first, e.g. placer import catalog)"
        )
    return hits or None


def _add_service(
    doc: ScenarioDoc,
    source: str,
    name: str,
    service: dict[str, Any],
    options: list[tuple[str, int]],
    resources: dict[str, Any],
    pins: list[str] | None,
    spot: bool,
) -> None:
    """An inference workload: replicas x qps per replica from users near the region."""
    where_t = f"task {name}"
    policy = (
        service.get("replica_policy") if isinstance(service.get("replica_policy"), dict) else {}
    )
    replicas = (
        service.get("replicas") or policy.get("max_replicas") or policy.get("min_replicas") or 1
    )
    qps = policy.get("target_qps_per_replica")
    for key, value in (("replicas", replicas), ("target_qps_per_replica", qps)):
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise item_error(
                source, where_t, f"service: {key}: {value!r} is not a finite positive number"
            )
    rps_per_replica = float(qps) if qps else ASSUMED_RPS_PER_REPLICA
    spec = InferenceSpec(
        name=name,
        demand_rps=float(replicas) * rps_per_replica,
        serving={
            a: {"rps_per_replica": rps_per_replica, "gpus_per_replica": n} for a, n in options
        },
        rps_known=bool(qps),
        region=_cloud_region(resources)[1],
        spot_ok=spot,
        pin_sites=pins,
        pod=_pod(source, where_t, resources, None),
        comment=f"from {source}: SkyPilot service {name}",
        demand_note=f"assumed {replicas} replica(s) busy; give peak requests/s",
    )
    add_inference(doc, spec, source=source)
    doc.notes.append(f"{source}: {where_t} -> an inference workload")


def _pod(source: str, where: str, resources: dict[str, Any], gpus: int | None) -> Any:
    """`pod:` from `resources.cpus` and `resources.memory` (GB; '8' or '8+', the least
    the task takes), with the accelerators per node as its GPUs; None when empty."""
    out: dict[str, Any] = {}
    if gpus is not None and 0 < gpus <= MAX_NODE_GPUS:
        out["gpus"] = gpus
    for key, field in (("cpus", "cpu"), ("memory", "memory_gb")):
        raw = resources.get(key)
        if raw is None:
            continue
        text = str(raw).strip().removesuffix("+")
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not value > 0 or value == float("inf"):
            raise item_error(source, where, f"resources.{key}: {raw!r} is not a number (8 or 8+)")
        out[field] = value
    return flow(**out) if out else None
