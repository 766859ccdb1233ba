"""Nodes of one site -> pools with node shapes.

One pool per node pool (`karpenter.sh/nodepool`, `cloud.google.com/gke-nodepool`, ...),
accelerator and GPU mode: a node pool is what a team's workloads select, so node pools
stay apart; different accelerators are different pools; time-sliced nodes and nodes
under MIG strategy single carry another product label (`...-SHARED`, `...-MIG-1g.10gb`),
so they are selected, and pooled, apart. Within a pool, nodes of different sizes are
node shapes (`nodes: [{count, gpus, cpu, memory_gb, mig}]`), so that each pod must fit
on one node; `gpus_per_node` is the most common node size (rack density uses it).

Nodes whose vCPU and memory differ by less than 2% are one shape with the smaller
figures (kubelet and kernel reservations vary a little between nodes of one type). A
node under MIG strategy mixed with some GPUs out of MIG is two shapes (its vCPU and
memory split by GPUs). With a horizon (node shapes not supported there yet), each node
size is a pool of its own, without shapes, as before; MIG GPUs are then left out.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from typing import Any

from placer.importers.document import to_id, unique_id
from placer.importers.k8s_devices import COUNT_LABELS, Devices, describe
from placer.importers.sites import PoolSpec

#: Node shapes a pool may list (the scenario language's limit).
MAX_SHAPES = 16
#: Nodes whose vCPU and memory are within this share of each other are one shape.
SHAPE_TOLERANCE = 0.02
_SHOWN = 4  # node names listed in a pool's comment


@dataclasses.dataclass
class Node:
    """What one node contributes: `devices` of `accelerator` (catalog id, or None with
    the raw `product`), in `region`, in node pool `pool` (label key, value)."""

    name: str
    labels: dict[str, str]
    product: str | None
    accelerator: str | None
    devices: Devices
    region: str | None
    pool: tuple[str, str] | None
    cloud: str | None
    id_label: str | None
    cordoned: bool

    @property
    def gpus(self) -> int:
        """Physical accelerators of the node."""
        return self.devices.gpus


@dataclasses.dataclass
class Shape:
    """`count` nodes (or node parts) of `gpus` GPUs, vCPU and memory (GB) each."""

    count: int
    gpus: int
    mig: bool
    cpu: float | None
    memory_gb: float | None

    def entry(self) -> dict[str, Any]:
        """The scenario's node shape mapping."""
        out: dict[str, Any] = {"count": self.count, "gpus": self.gpus}
        if self.cpu is not None:
            out["cpu"] = self.cpu
        if self.memory_gb is not None:
            out["memory_gb"] = self.memory_gb
        if self.mig:
            out["mig"] = True
        return out


def pools_of(members: list[Node], *, with_shapes: bool, gaps: list[str]) -> list[PoolSpec]:
    """The pools of one site's nodes, ids unique in the site.

    Args:
      members: the site's nodes of known accelerators.
      with_shapes: write node shapes (False: a pool per node size, for a horizon).
      gaps: receives what was left out (MIG GPUs without shapes).
    """
    groups: dict[tuple[str, str, str], list[Node]] = defaultdict(list)
    for n in members:
        groups[(n.pool[1] if n.pool else "", str(n.accelerator), n.devices.mode)].append(n)
    accels: dict[str, set[str]] = defaultdict(set)
    modes: dict[tuple[str, str], set[str]] = defaultdict(set)
    for pool, accel, mode in groups:
        accels[pool].add(accel)
        modes[(pool, accel)].add(mode)
    out: list[PoolSpec] = []
    taken: set[str] = set()
    for (pool, accel, mode), nodes in sorted(groups.items()):
        base = pool or accel
        if pool and len(accels[pool]) > 1:
            base = f"{pool}-{accel}"
        if mode and len(modes[(pool, accel)]) > 1:
            base = f"{base}-{mode}"
        if with_shapes:
            out += _shaped(base, accel, nodes, taken)
        else:
            out += _by_size(base, accel, nodes, taken, gaps)
    return out


def _shaped(base: str, accel: str, nodes: list[Node], taken: set[str]) -> list[PoolSpec]:
    """One pool with node shapes (more pools only past MAX_SHAPES shapes)."""
    shapes = shapes_of(nodes)
    sizes = Counter(n.gpus for n in nodes)
    per_node = max(sizes, key=lambda g: (sizes[g], g))
    note = [f"{len(nodes)} node(s) of {accel}: {_names(nodes)}"]
    if len(sizes) > 1:
        note.append("node sizes differ: one pool, its node shapes under nodes:")
    note += [f"node {n.name}: {text}" for n in nodes for text in n.devices.notes]
    todos = [f"node {n.name}: {text}" for n in nodes for text in n.devices.todos]
    migs = [n for n in nodes if n.devices.mig_gpus]
    if migs:
        now = "; ".join(f"{n.name}: {describe(n.devices.mig) or 'none'}" for n in migs[:_SHOWN])
        todos.insert(
            0,
            "MIG GPUs (mig: true) run MIG replicas only, split as the replicas placed "
            f"there need, not as now ({now}): apply a plan's split with mig-manager "
            "(nvidia.com/mig.config)",
        )
    out = []
    for k in range(0, len(shapes), MAX_SHAPES):
        part = shapes[k : k + MAX_SHAPES]
        out.append(
            PoolSpec(
                id=unique_id(to_id(base), taken),
                accelerator=accel,
                gpus=sum(s.count * s.gpus for s in part),
                gpus_per_node=per_node,
                node_labels=_selector(nodes, by_size=False),
                gpu_resource=_resource(nodes),
                note="\n".join(note if k == 0 else [f"{note[0]} (more shapes)"]),
                nodes=[s.entry() for s in part],
                todos=[("nodes", t) for t in todos] if k == 0 else [],
            )
        )
    return out


def _by_size(
    base: str, accel: str, nodes: list[Node], taken: set[str], gaps: list[str]
) -> list[PoolSpec]:
    """A pool per node size without shapes (a scenario with a horizon)."""
    sized: dict[int, list[Node]] = defaultdict(list)
    for n in nodes:
        full = n.gpus - n.devices.mig_gpus
        if full:
            sized[full].append(n)
        if n.devices.mig_gpus:
            gaps.append(
                f"node {n.name}: {n.devices.mig_gpus} MIG GPU(s) left out: node shapes "
                "(mig: true) are not supported with a horizon"
            )
    out = []
    for size, group in sorted(sized.items(), reverse=True):
        mixed = len(sized) > 1
        out.append(
            PoolSpec(
                id=unique_id(to_id(f"{base}-{size}g" if mixed else base), taken),
                accelerator=accel,
                gpus=size * len(group),
                gpus_per_node=size,
                node_labels=_selector(group, by_size=mixed),
                gpu_resource=_resource(group),
                note=f"{len(group)} node(s) x {size} {accel}: {_names(group)}"
                + ("\nnode sizes differ; with a horizon, one pool per size" if mixed else ""),
            )
        )
    return out


def shapes_of(nodes: list[Node]) -> list[Shape]:
    """The node shapes of a pool's nodes: like nodes (GPUs, MIG, vCPU and memory within
    SHAPE_TOLERANCE) counted together, then merged by (GPUs, MIG) past MAX_SHAPES."""
    parts = sorted(
        (p for n in nodes for p in n.devices.parts()),
        key=lambda p: (p[0], p[1], p[2] or 0.0, p[3] or 0.0),
    )
    out: list[Shape] = []
    for gpus, mig, cpu, mem in parts:
        last = out[-1] if out else None
        if (
            last is not None
            and (last.gpus, last.mig) == (gpus, mig)
            and _close(last.cpu, cpu)
            and _close(last.memory_gb, mem)
        ):
            last.count += 1
            last.cpu, last.memory_gb = _least(last.cpu, cpu), _least(last.memory_gb, mem)
        else:
            out.append(Shape(1, gpus, mig, cpu, mem))
    out.sort(key=lambda s: (-s.gpus, s.mig))  # largest nodes first, as a reader expects
    if len(out) > MAX_SHAPES:
        merged: dict[tuple[int, bool], Shape] = {}
        for s in out:
            m = merged.setdefault((s.gpus, s.mig), Shape(0, s.gpus, s.mig, s.cpu, s.memory_gb))
            m.count += s.count
            m.cpu, m.memory_gb = _least(m.cpu, s.cpu), _least(m.memory_gb, s.memory_gb)
        out = list(merged.values())
    return out


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= SHAPE_TOLERANCE * max(a, b)


def _least(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else min(a, b)


def _names(nodes: list[Node]) -> str:
    return ", ".join(n.name for n in nodes[:_SHOWN]) + (", ..." if len(nodes) > _SHOWN else "")


def _resource(nodes: list[Node]) -> str | None:
    """The resource most of the pool's nodes advertise their GPUs by."""
    found = Counter(n.devices.resource for n in nodes if n.devices.resource)
    return max(found, key=lambda r: (found[r], r)) if found else None


def _selector(nodes: list[Node], *, by_size: bool) -> dict[str, str] | None:
    """Labels every node of the pool shares that select it: node pool, product (and the
    count label for a pool of one node size among several)."""
    keys: list[str] = []
    if nodes[0].pool:
        keys.append(nodes[0].pool[0])
    if nodes[0].id_label:
        keys.append(nodes[0].id_label)
    if by_size:
        keys += [k for k in COUNT_LABELS if k in nodes[0].labels]
    common = {
        k: nodes[0].labels[k]
        for k in keys
        if k in nodes[0].labels and all(n.labels.get(k) == nodes[0].labels[k] for n in nodes)
    }
    return dict(list(common.items())[:8]) or None
