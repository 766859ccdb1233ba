"""The node view of a plan (docs/nodes.md): the plan's pods packed on each pool's nodes,
nodes used, the free GPUs each pod size can still use (fragmentation), and the MIG
layout of each MIG GPU."""

from __future__ import annotations

from collections import Counter

from placer.model.mig import MIG_TYPES, pack_mig, profile_names
from placer.model.nodes import (
    default_pod_gpus,
    gpu_count,
    largest_node,
    mig_gpus,
    pack_pods,
    pod_slots,
    share_per_gpu,
    usable_free_gpus,
)
from placer.model.scenario import Scenario
from placer.model.site import Pool
from placer.model.workload import Inference, Training
from placer.plan.plan import Placement, PoolNodes


def mig_type(w: Training | Inference, pool: Pool) -> int | None:
    """The MIG type (index into `MIG_TYPES`) a replica of `w` runs in on `pool`; None for
    whole or fractional GPUs."""
    if isinstance(w, Training) or pool.accelerator not in w.serving:
        return None
    profile = w.serving[pool.accelerator].mig
    return None if profile is None else profile_names(pool.accelerator)[profile]


def pod_ask(w: Training | Inference, pool: Pool, replicas: int) -> tuple[int, float, float]:
    """(pods, GPUs per pod, slot size counted per pod) of a placement of `w` on a pool
    with node shapes (`replicas` for an inference placement); not for MIG replicas."""
    assert pool.nodes is not None
    if isinstance(w, Training):
        largest = largest_node(pool.nodes)
        size = float(
            (w.pod.gpus if w.pod is not None else None) or default_pod_gpus(w.gpus, largest)
        )
        count = int(w.gpus // size)
    else:
        size = (
            float(w.serving[pool.accelerator].gpus_per_replica)
            if pool.accelerator in w.serving
            else 1.0
        )
        count = replicas
    cpu = w.pod.cpu if w.pod is not None else None
    memory_gb = w.pod.memory_gb if w.pod is not None else None
    return count, size, pod_slots(size, cpu, memory_gb, share_per_gpu(pool.nodes))


def asked_sizes(scenario: Scenario, pool: Pool) -> list[float]:
    """The slot sizes the scenario's workloads that may use the pool's nodes without MIG
    ask of it."""
    sizes = set()
    for w in scenario.workloads:
        ok = w.accelerators if isinstance(w, Training) else list(w.serving)
        if (ok is None or pool.accelerator in ok) and mig_type(w, pool) is None:
            slot = pod_ask(w, pool, 1)[2]
            if slot <= largest_node(pool.nodes):  # pods no node takes ask nothing of it
                sizes.add(slot)
    return sorted(sizes)


def layout_name(pool: Pool, instances: list[tuple[int, int]]) -> str:
    """One GPU's MIG layout as `nvidia-smi` names its profiles, largest first
    ("4g.40gb+2g.20gb+1g.10gb"); "" for a GPU with none."""
    names = {t: name for name, t in profile_names(pool.accelerator).items()}
    return "+".join(names[t] for t, _ in sorted(instances, key=lambda x: (x[0], x[1])))


def node_usage(scenario: Scenario, placements: list[Placement]) -> list[PoolNodes]:
    """One `PoolNodes` per pool with node shapes, in (site, pool) order."""
    workloads = {w.id: w for w in scenario.workloads}
    out = []
    for site in sorted(scenario.sites, key=lambda s: s.id):
        for pool in sorted(site.pools, key=lambda q: q.key):
            if pool.nodes is None:
                continue
            slots: list[float] = []
            mig_counts = [0] * len(MIG_TYPES)
            for p in placements:
                if p.site != site.id or p.pool != pool.key:
                    continue
                w = workloads[p.workload]
                t = mig_type(w, pool)
                if t is not None:
                    mig_counts[t] += p.replicas
                    continue
                count, _, slot = pod_ask(w, pool, p.replicas)
                slots.extend([slot] * count)
            where, free = pack_pods(slots, pool.nodes)
            if where is None:  # not a packable plan (verify says so): no packing to report
                free = [float(n.gpus) for n in pool.nodes if not n.mig for _ in range(n.count)]
            sizes = asked_sizes(scenario, pool) or [1.0]
            usable = {f"{s:g}": gpu_count(usable_free_gpus(free, s)) for s in sizes}
            layouts = pack_mig(mig_counts, mig_gpus(pool.nodes))
            named = Counter(layout_name(pool, g) for g in layouts or [] if g)
            out.append(
                PoolNodes(
                    site=site.id,
                    pool=pool.key,
                    nodes=sum(n.count for n in pool.nodes),
                    nodes_used=len(set(where or [])),
                    pods=len(slots) + sum(mig_counts),
                    gpus_total=sum(n.count * n.gpus for n in pool.nodes),
                    free_gpus=gpu_count(sum(free)),
                    usable_free_gpus=usable,
                    fragmented_gpus=gpu_count(sum(free) - usable_free_gpus(free, max(sizes))),
                    mig_gpus=mig_gpus(pool.nodes),
                    mig_layouts=dict(sorted(named.items())),
                )
            )
    return out
