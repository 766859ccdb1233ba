"""What one pod of a pod template asks for: accelerators (whole, MIG instances or a
time-sliced share), vCPU and memory, and the node labels it selects.

Accelerators: the sum over the containers of `resources.limits`, else `requests`, of
nvidia.com/gpu, amd.com/gpu, google.com/tpu, nvidia.com/gpu.shared and
`nvidia.com/mig-<profile>` (extended resources: requests equal limits). vCPU and memory
follow Kubernetes' effective request: `requests`, else `limits`, summed over the
containers and the sidecars (init containers with `restartPolicy: Always`), at least the
largest other init container, plus `spec.overhead`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from placer.importers.document import flow
from placer.importers.inputs import (
    cpu_of,
    item_error,
    mapping,
    memory_gb_of,
    quantity,
    resource_amount,
)
from placer.importers.k8s_devices import GPU_RESOURCES, MIG_PREFIX, SHARED_RESOURCE
from placer.model.nodes import MAX_NODE_GPUS


@dataclass
class PodRequest:
    """One pod's request.

    Attributes:
      resource: the accelerator resource it asks most of (nvidia.com/gpu, ...), or None.
      gpus: whole accelerators of `resource` per pod (a time-sliced share counts 1).
      shared: it asks for nvidia.com/gpu.shared (a time-sliced share of a GPU).
      mig: MIG instances per pod, per profile ('1g.10gb' -> 1).
      cpu: vCPU per pod; memory_gb: memory per pod, GB (GiB, see inputs.py); None: none.
      selectors: node label -> acceptable values (nodeSelector, required affinity In).
    """

    resource: str | None = None
    gpus: int = 0
    shared: bool = False
    mig: dict[str, int] = field(default_factory=dict)
    cpu: float | None = None
    memory_gb: float | None = None
    selectors: dict[str, list[str]] = field(default_factory=dict)

    def pod_entry(self, *, with_gpus: bool) -> Any:
        """The scenario's `pod:` mapping ({gpus, cpu, memory_gb}), or None when empty.

        Args:
          with_gpus: write `gpus` (training: GPUs per pod; inference leaves it out).
        """
        out = {}
        if with_gpus and 0 < self.gpus <= MAX_NODE_GPUS:
            out["gpus"] = self.gpus
        if self.cpu is not None:
            out["cpu"] = self.cpu
        if self.memory_gb is not None:
            out["memory_gb"] = self.memory_gb
        return flow(**out) if out else None


def read_pod(source: str, where: str, path: str, pod: dict[str, Any]) -> PodRequest:
    """Reads a pod spec (a template's `spec`).

    Args:
      source, where: for messages (`jobs.json`, `items[1] (job finetune)`).
      path: the pod spec's path in the item (`spec.template.spec`).
      pod: the pod spec.

    Raises:
      ScenarioError: containers missing or malformed, or a quantity that is not one
        (names the item and the field).
    """
    containers = pod.get("containers")
    if containers is None:
        raise item_error(source, where, f"{path}.containers: missing")
    if not isinstance(containers, list):
        raise item_error(source, where, f"{path}.containers: must be a list")
    init = pod.get("initContainers") or []
    if not isinstance(init, list):
        raise item_error(source, where, f"{path}.initContainers: must be a list")
    req = PodRequest(selectors=selectors(pod))
    found: dict[str, int] = {}
    cpu = mem = 0.0
    init_cpu = init_mem = 0.0
    for kind, group in (("containers", containers), ("initContainers", init)):
        for k, c in enumerate(group):
            if not isinstance(c, dict):
                raise item_error(source, where, f"{path}.{kind}[{k}]: must be a mapping")
            at = f"{path}.{kind}[{k}].resources"
            sidecar = kind == "containers" or c.get("restartPolicy") == "Always"
            c_cpu, c_mem = _room(source, where, at, mapping(c, "resources"))
            if sidecar:
                cpu, mem = cpu + c_cpu, mem + c_mem
                _accelerators(source, where, at, mapping(c, "resources"), found)
            else:
                init_cpu, init_mem = max(init_cpu, c_cpu), max(init_mem, c_mem)
    o_cpu, o_mem = _room(source, where, f"{path}.overhead", {"requests": pod.get("overhead")})
    req.cpu = cpu_of(max(cpu, init_cpu) + o_cpu)
    req.memory_gb = memory_gb_of(max(mem, init_mem) + o_mem)
    req.mig = {r[len(MIG_PREFIX) :]: n for r, n in found.items() if r.startswith(MIG_PREFIX)}
    whole = {r: n for r, n in found.items() if not r.startswith(MIG_PREFIX)}
    if whole:
        req.resource = max(whole, key=lambda r: (whole[r], r))
        req.gpus = whole[req.resource]
        req.shared = req.resource == SHARED_RESOURCE
        if req.shared:
            req.resource = "nvidia.com/gpu"
    return req


def _room(
    source: str, where: str, at: str, resources: dict[str, Any]
) -> tuple[float, float]:  # fmt: skip
    """(vCPU, memory bytes) a container asks: requests, else limits."""
    out = []
    for key in ("cpu", "memory"):
        part = "requests" if key in mapping(resources, "requests") else "limits"
        raw = mapping(resources, part).get(key)
        value = 0.0 if raw is None else resource_amount(source, where, f"{at}.{part}.{key}", raw)
        out.append(value)
    return out[0], out[1]


def _accelerators(
    source: str, where: str, at: str, resources: dict[str, Any], found: dict[str, int]
) -> None:
    """Adds a container's accelerator requests (limits, else requests) to `found`."""
    names = set(mapping(resources, "limits")) | set(mapping(resources, "requests"))
    for resource in sorted(str(n) for n in names):
        if resource not in (*GPU_RESOURCES, SHARED_RESOURCE) and not resource.startswith(
            MIG_PREFIX
        ):
            continue
        part = "limits" if resource in mapping(resources, "limits") else "requests"
        raw = mapping(resources, part)[resource]
        value = quantity(raw)
        if value is None or value < 0 or value != int(value):
            raise item_error(source, where, f"{at}.{part}.{resource}: {raw!r} is not a count")
        if value > 0:
            found[resource] = found.get(resource, 0) + int(value)


def selectors(pod: dict[str, Any]) -> dict[str, list[str]]:
    """label -> acceptable values, from nodeSelector and required node affinity (In)."""
    out: dict[str, list[str]] = {str(k): [str(v)] for k, v in mapping(pod, "nodeSelector").items()}
    required = mapping(
        pod, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"
    )
    terms = required.get("nodeSelectorTerms")
    for term in terms if isinstance(terms, list) else []:
        exprs = term.get("matchExpressions") if isinstance(term, dict) else None
        for e in exprs if isinstance(exprs, list) else []:
            if (
                isinstance(e, dict)
                and e.get("operator") == "In"
                and isinstance(e.get("values"), list)
            ):
                out.setdefault(str(e.get("key")), []).extend(str(v) for v in e["values"])
    return out
