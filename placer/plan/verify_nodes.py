"""verify of node shapes, pods, shared GPUs and MIG (docs/nodes.md), re-derived from
the Scenario: a pool's pods are packed largest first on its nodes and checked node by
node against GPUs, vCPU and memory; its MIG replicas are laid out on its MIG GPUs and
each layout checked against the placement table; a plan's `nodes` rows are recomputed.
`NodeChecks` is mixed into `placer.plan.verify_static.Verifier` (it reads its `sites`
and `workloads`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from placer.model.mig import MIG_TYPES, legal_layout, pack_mig, profile_names
from placer.model.nodes import pack_pods
from placer.model.site import Pool, Site
from placer.model.workload import Inference, Training
from placer.plan.plan import Placement, Plan
from placer.plan.verify_figures import ABS, REL, Violation, compare


@dataclass(frozen=True)
class PodAsk:
    """One pod on a pool with node shapes: its unit, GPUs, the GPU slots it is counted
    as (a power of two covering its vCPU and memory share; 0 for a MIG replica), vCPU,
    memory GB, and its MIG type."""

    unit: str
    gpus: float
    slots: float
    cpu: float
    memory_gb: float
    mig: int = -1  # MIG type (index into placer.model.mig.MIG_TYPES) of a MIG replica


class NodeChecks:
    """The node checks of the verifier; needs `sites` and `workloads` look-ups."""

    sites: dict[str, Site]
    workloads: dict[str, Training | Inference]

    def _noded(self, pl: Placement) -> bool:
        """The placement's pool lists node shapes."""
        pools = self.sites[pl.site].pools
        return any((q.id or q.accelerator) == pl.pool and q.nodes for q in pools)

    def _pods(self, pl: Placement, replicas: int) -> list[PodAsk]:
        """The pods a placement on a pool with node shapes puts there (docs/nodes.md)."""
        w = self.workloads[pl.workload]
        pool = next(q for q in self.sites[pl.site].pools if (q.id or q.accelerator) == pl.pool)
        assert pool.nodes is not None
        plain = [n for n in pool.nodes if not n.mig]
        largest = max((n.gpus for n in plain), default=0)
        mig = -1
        if isinstance(w, Training):
            size: float = w.pod.gpus if w.pod is not None and w.pod.gpus else 0
            if not size:  # the largest power of two dividing the gang, within a node
                size = 1
                while size * 2 <= largest and w.gpus % (size * 2) == 0:
                    size *= 2
            count = int(w.gpus // size)
        else:
            sv = w.serving[pool.accelerator]
            size = sv.gpus_per_replica
            count = replicas or 0
            if sv.mig is not None:
                mig = profile_names(pool.accelerator).get(sv.mig, -1)
        cpu = w.pod.cpu if w.pod is not None else None
        mem = w.pod.memory_gb if w.pod is not None else None
        cpu_share = min((n.cpu / n.gpus for n in plain if n.cpu), default=math.inf)
        mem_share = min((n.memory_gb / n.gpus for n in plain if n.memory_gb), default=math.inf)
        want = max(size, (cpu or 0) / cpu_share, (mem or 0) / mem_share)
        slots = 1 / 8  # the smallest share counted; then doubled up to what the pod wants
        while slots < want * (1 - 1e-12) and slots <= 64:  # > 64: no node takes it
            slots *= 2
        ask = PodAsk(pl.unit, size, 0.0 if mig >= 0 else slots, cpu or 0.0, mem or 0.0, mig)
        return [ask] * count

    def _check_mig(self, where: str, pool: Pool, pods: list[PodAsk], out) -> None:
        """The MIG replicas fit the pool's MIG GPUs: a layout per GPU exists (largest
        first) and each GPU's instances sit at allowed starts without overlap."""
        if not pods:
            return
        gpus = sum(n.count * n.gpus for n in pool.nodes or [] if n.mig)
        counts = [0] * len(MIG_TYPES)
        for p in pods:
            counts[p.mig] += 1
        layout = pack_mig(counts, gpus)
        if layout is None:
            out.append(
                Violation("mig", where, f"{len(pods)} MIG replicas do not fit its {gpus} MIG GPUs")
            )
            return
        for g, instances in enumerate(layout):
            if not legal_layout([t for t, _ in instances], [s for _, s in instances]):
                out.append(Violation("mig", where, f"MIG GPU {g}: {instances} is not legal"))

    def _check_node_rows(self, plan: Plan, pool_pods, node_free, out: list[Violation]) -> None:
        """Each stated `nodes` row against this check's own packing of the pool's pods:
        pods, nodes, GPUs, free GPUs; usable free GPUs per pod size and fragmentation;
        MIG GPUs, and that the stated MIG layouts are legal and hold the MIG replicas."""
        for j, row in enumerate(plan.nodes):
            path = f"nodes[{j}]"
            site = self.sites.get(row.site)
            pool = next((q for q in site.pools if q.key == row.pool), None) if site else None
            if pool is None or pool.nodes is None:
                out.append(Violation("kpi", row.site, f"{path}: no pool with node shapes"))
                continue
            sizes = self._node_sizes(pool)
            free = node_free.get((row.site, row.pool), [float(n) for n in sizes])
            if free is None:
                continue  # not packable: the nodes violation says so
            asks = pool_pods.get((row.site, row.pool), [])
            said = {
                "pods": len(asks),
                "nodes": sum(n.count for n in pool.nodes),
                "nodes_used": sum(1 for n, f in zip(sizes, free, strict=True) if f < n),
                "gpus_total": sum(n.count * n.gpus for n in pool.nodes),
                "free_gpus": sum(free),
                "mig_gpus": sum(n.count * n.gpus for n in pool.nodes if n.mig),
            }
            for name, actual in said.items():
                compare(out, row.site, path, name, getattr(row, name), actual)
            for size, gpus in row.usable_free_gpus.items():
                level = float(size)
                actual = level * sum(math.floor(f / level + 1e-9) for f in free)
                compare(out, row.site, path, f"usable_free_gpus.{size}", gpus, actual)
            if row.usable_free_gpus:
                largest = max(row.usable_free_gpus, key=float)
                frag = sum(free) - row.usable_free_gpus[largest]
                compare(out, row.site, path, "fragmented_gpus", row.fragmented_gpus, frag)
            self._check_layouts(path, row, pool, [a.mig for a in asks if a.mig >= 0], out)

    def _check_layouts(self, path: str, row, pool: Pool, migs: list[int], out) -> None:
        """The stated MIG layouts: each legal on one GPU, no more GPUs than the MIG
        nodes hold, and together the MIG replicas placed on the pool."""
        types = profile_names(pool.accelerator)
        held = [0] * len(MIG_TYPES)
        for name, gpus in row.mig_layouts.items():
            parts = name.split("+")
            if any(p not in types for p in parts):
                out.append(Violation("mig", row.site, f"{path}.mig_layouts: {name!r}"))
                continue
            counts = [0] * len(MIG_TYPES)
            for p in parts:
                counts[types[p]] += 1
            if pack_mig(counts, 1) is None:
                out.append(Violation("mig", row.site, f"{path}.mig_layouts: {name} is not legal"))
            held = [h + c * gpus for h, c in zip(held, counts, strict=True)]
        wanted = [migs.count(t) for t in range(len(MIG_TYPES))]
        if held != wanted or sum(row.mig_layouts.values()) > row.mig_gpus:
            out.append(
                Violation(
                    "kpi",
                    row.site,
                    f"{path}.mig_layouts: instances {held} on {sum(row.mig_layouts.values())} "
                    f"GPUs, the plan places {wanted} on {row.mig_gpus}",
                )
            )

    @staticmethod
    def _node_sizes(pool: Pool) -> list[int]:
        """GPUs of each node without MIG, shape-major (the order packings list them)."""
        assert pool.nodes is not None
        return [n.gpus for n in pool.nodes if not n.mig for _ in range(n.count)]

    def _check_nodes(
        self, pool_pods: dict[tuple[str, str], list[PodAsk]], out
    ) -> dict[tuple[str, str], list[float] | None]:
        """Each pod on one node: a packing (largest first) exists and, node by node, its
        pods' GPUs, vCPU and memory fit the node. Returns each pool's free GPUs per node
        under that packing (None: no packing)."""
        node_free: dict[tuple[str, str], list[float] | None] = {}
        for (sid, key), asks in pool_pods.items():
            pool = next(q for q in self.sites[sid].pools if (q.id or q.accelerator) == key)
            assert pool.nodes is not None
            self._check_mig(f"{sid}/{key}", pool, [p for p in asks if p.mig >= 0], out)
            pods = [p for p in asks if p.mig < 0]
            where, free = pack_pods([p.slots for p in pods], pool.nodes)
            node_free[(sid, key)] = free if where is not None else None
            if where is None:
                biggest = max(p.slots for p in pods)
                out.append(
                    Violation(
                        "nodes",
                        f"{sid}/{key}",
                        f"{len(pods)} pods ({sum(p.gpus for p in pods)} GPUs, largest counted "
                        f"as {biggest}) do not fit the pool's nodes",
                    )
                )
                continue
            load: dict[tuple[int, int], list[float]] = {}
            for i, node in enumerate(where):
                use = load.setdefault(node, [0.0, 0.0, 0.0])
                use[0] += pods[i].gpus
                use[1] += pods[i].cpu
                use[2] += pods[i].memory_gb
            for (shape, n), (gpus, cpu, mem) in load.items():
                ns = pool.nodes[shape]
                over = [
                    f"{what} {used:g} > {cap:g}"
                    for what, used, cap in (
                        ("GPUs", gpus, ns.gpus),
                        ("vCPU", cpu, ns.cpu),
                        ("memory GB", mem, ns.memory_gb),
                    )
                    if cap is not None and used > cap * (1 + REL) + ABS
                ]
                if over:
                    out.append(
                        Violation("nodes", f"{sid}/{key}", f"node {shape}.{n}: " + ", ".join(over))
                    )
        return node_free
