"""Nodes inside pools, the pods that must fit on them, and how pods pack (docs/nodes.md).

A pool may list its node shapes (`NodeShape`: count x GPUs per node, vCPU, memory,
power); a workload is then pods x GPUs per pod (`Pod`), and each pod must sit on one
node. Packing is counted without a variable per node: for pod sizes that are powers of
two (1, 2, 4, 8 ... GPUs, the sizes clusters use), the pods of a pool fit its nodes if
and only if, for every size level s,

    sum of the GPUs of the pods of s or more GPUs  <=  s x sum over nodes of floor(gpus / s)

(necessity: a pod of s or more GPUs needs a node with s free GPUs, and such pods take
whole multiples of s; sufficiency: placing pods largest first, each on any node with
room, keeps every node's used GPUs a multiple of the size being placed, so the free
slots of size s are exactly the right-hand side less what the larger pods took; this is
the divisible-item-size result of Coffman, Garey and Johnson, 1987). These are the
`node_slots_<s>gpu` capacity rows of a compiled problem.

A pod that asks for more vCPU or memory than its GPUs' share of a node (the node's
vCPU / GPUs, the smallest over the pool's shapes) is counted as the GPUs whose share
covers it, rounded up to a power of two (`pod_slots`): the count stays exact for pods
within their share (the usual case: nodes are sized per GPU) and safe (never claims a
packing that does not exist) otherwise. A pod size that is not a power of two is
rounded up the same way, which is safe but may leave room unused.

`pack_pods` is the constructive side: largest first, each pod on the first node with
room; `verify` checks its result node by node against vCPU, memory and GPUs.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence

from pydantic import Field

from placer.model.common import MAX_MEMORY_GB, MAX_RACK_KW, StrictModel

#: The largest node (and pod) counted, GPUs.
MAX_NODE_GPUS = 64
#: Shares of one GPU a fractional replica is counted in: 1/8 is the smallest.
MAX_GPU_SHARES = 8
#: The pod size levels, GPUs: the powers of two from 1/8 to 64.
POD_LEVELS: tuple[float, ...] = tuple(2.0**i for i in range(-3, 7))
assert POD_LEVELS[0] == 1 / MAX_GPU_SHARES and POD_LEVELS[-1] == MAX_NODE_GPUS
MAX_NODE_CPU = 100_000.0
MAX_NODES = 100_000  # per shape: the largest GPU clusters hold ~10^4 nodes


class NodeShape(StrictModel):
    """`count` nodes of one shape in a pool."""

    count: int = Field(ge=1, le=MAX_NODES, description="Nodes of this shape.")
    gpus: int = Field(ge=1, le=MAX_NODE_GPUS, description="GPUs per node.")
    cpu: float | None = Field(
        default=None, gt=0, le=MAX_NODE_CPU, description="Allocatable vCPU per node."
    )
    memory_gb: float | None = Field(
        default=None, gt=0, le=MAX_MEMORY_GB, description="Allocatable memory per node, GB."
    )
    power_kw: float | None = Field(
        default=None,
        gt=0,
        le=MAX_RACK_KW,
        description="Node power at full load, kW; default: the pool's per-GPU figure.",
    )
    mig: bool = Field(
        default=False,
        description="The nodes' GPUs are MIG-enabled: they run MIG replicas only, each GPU "
        "split as the replicas placed there need (the GPU Operator's mixed strategy).",
    )


class Pod(StrictModel):
    """What one pod of a workload asks for."""

    gpus: int | None = Field(
        default=None,
        ge=1,
        le=MAX_NODE_GPUS,
        description="Training: GPUs per pod (the gang's GPUs must be a multiple); default: "
        "the largest power of two dividing the gang that fits the pool's largest node. "
        "Inference: leave out (a replica is one pod of serving.gpus_per_replica).",
    )
    cpu: float | None = Field(default=None, gt=0, le=MAX_NODE_CPU, description="vCPU per pod.")
    memory_gb: float | None = Field(
        default=None, gt=0, le=MAX_MEMORY_GB, description="Memory per pod, GB."
    )


def ceil_pow2(x: float) -> float:
    """The smallest pod size level >= x: a power of two from 1/8 (for x <= 1/8) up; inf
    above the largest node counted."""
    if x <= POD_LEVELS[0]:
        return POD_LEVELS[0]
    if x > MAX_NODE_GPUS:  # no node is that large (inf included)
        return math.inf
    return 2.0 ** math.ceil(math.log2(x) - 1e-12)


def default_pod_gpus(gang_gpus: int, largest_node_gpus: int) -> int:
    """GPUs per pod of a gang that names none: the largest power of two dividing the gang
    and no larger than the largest node."""
    size = 1
    while size * 2 <= largest_node_gpus and gang_gpus % (size * 2) == 0:
        size *= 2
    return size


def share_per_gpu(shapes: Sequence[NodeShape]) -> tuple[float, float]:
    """(vCPU, GB of memory) per GPU that every node shape of a pool without MIG offers:
    the smallest over shapes that state them (inf where none does)."""
    cpu = [s.cpu / s.gpus for s in shapes if s.cpu is not None and not s.mig]
    mem = [s.memory_gb / s.gpus for s in shapes if s.memory_gb is not None and not s.mig]
    return (min(cpu, default=math.inf), min(mem, default=math.inf))


def pod_slots(pod_gpus: float, cpu: float | None, memory_gb: float | None, share) -> float:
    """GPUs a pod is counted as on a pool whose per-GPU share is `share` (vCPU, GB): its
    GPUs, or the GPUs whose share covers its vCPU and memory, rounded up to a power of 2."""
    cpu_per_gpu, mem_per_gpu = share
    need = float(pod_gpus)
    if cpu is not None and math.isfinite(cpu_per_gpu):
        need = max(need, cpu / cpu_per_gpu)
    if memory_gb is not None and math.isfinite(mem_per_gpu):
        need = max(need, memory_gb / mem_per_gpu)
    return ceil_pow2(need - 1e-9)


def level_capacity(shapes: Sequence[NodeShape], level: float) -> float:
    """GPUs the pool's nodes without MIG offer to pods of `level` or more GPUs:
    level x sum floor(gpus / level)."""
    return level * sum(s.count * math.floor(s.gpus / level + 1e-9) for s in shapes if not s.mig)


def node_gpus(shapes: Sequence[NodeShape]) -> int:
    """GPUs on the pool's nodes (MIG nodes included)."""
    return sum(s.count * s.gpus for s in shapes)


def mig_gpus(shapes: Sequence[NodeShape]) -> int:
    """GPUs on the pool's MIG nodes."""
    return sum(s.count * s.gpus for s in shapes if s.mig)


def largest_node(shapes: Sequence[NodeShape]) -> int:
    """GPUs of the pool's largest node without MIG (0: every node is MIG)."""
    return max((s.gpus for s in shapes if not s.mig), default=0)


def pack_pods(
    slots: Sequence[float], shapes: Sequence[NodeShape]
) -> tuple[list[tuple[int, int]] | None, list[float]]:
    """Pods (their slot sizes, GPUs: powers of two from 1/8) on the nodes without MIG,
    largest first, each on the first node with room (nodes in shape order, then index).

    Returns (the node of each pod, in the order given, as (shape index, node index
    within the shape), or None when some pod finds no node; the free GPUs of each node
    without MIG, in shape-major order). Exact for these sizes: it fails only when no
    packing exists. Counts in eighths of a GPU, one heap of nodes per free amount.
    """
    eighths = MAX_GPU_SHARES
    nodes = [(i, n) for i, s in enumerate(shapes) if not s.mig for n in range(s.count)]
    free = [shapes[i].gpus * eighths for i, _ in nodes]
    top = max(free, default=0)
    buckets: list[list[int]] = [[] for _ in range(top + 1)]
    for k, f in enumerate(free):
        buckets[f].append(k)  # ascending k: already a heap
    where: list[tuple[int, int]] = [(-1, -1)] * len(slots)
    for pod in sorted(range(len(slots)), key=lambda i: (-slots[i], i)):
        size = round(slots[pod] * eighths)
        best = None
        for f in range(size, top + 1):  # the first node (lowest index) with >= size free
            if buckets[f] and (best is None or buckets[f][0] < best[1]):
                best = (f, buckets[f][0])
        if best is None:
            return None, [f / eighths for f in free]
        f, k = best
        heapq.heappop(buckets[f])
        free[k] -= size
        heapq.heappush(buckets[free[k]], k)
        where[pod] = nodes[k]
    return where, [f / eighths for f in free]


def usable_free_gpus(free: Sequence[float], level: float) -> float:
    """Free GPUs that pods of `level` GPUs can still use: level x sum floor(free / level)."""
    return level * sum(math.floor(f / level + 1e-9) for f in free)


def gpu_count(x: float) -> int | float:
    """A GPU figure as plans state it: an int when whole, else rounded to 1e-6."""
    r = round(x)
    return int(r) if abs(x - r) < 1e-9 else round(x, 6)
