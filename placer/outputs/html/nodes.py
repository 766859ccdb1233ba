"""The report's nodes section: for each pool with node shapes, how the plan's pods sit on
its nodes, the free GPUs each pod size can still use (fragmentation) and the MIG layout
of its MIG GPUs. Empty for a plan without node shapes (docs/nodes.md)."""

from __future__ import annotations

from placer.outputs.html.markup import _e
from placer.outputs.html.tables import _table
from placer.plan.plan import Plan


def _gpus(x: int | float) -> tuple[str, float]:
    text = str(x) if float(x).is_integer() else f"{x:.2f}"
    return text.removesuffix(".0"), float(x)


def nodes_section(plan: Plan) -> str:
    """`<section id="sec-nodes">`, or "" when no pool of the plan lists node shapes."""
    if not plan.nodes:
        return ""
    pools = _table(
        "nodes-table",
        [
            ("Pool", False),
            ("Nodes used", True),
            ("Pods", True),
            ("GPUs", True),
            ("Free GPUs", True),
            ("Usable by pod size", False),
            ("Fragmented GPUs", True),
            ("MIG GPUs set up", True),
        ],
        [
            [
                (f"{n.site}/{n.pool}", None),
                (f"{n.nodes_used} / {n.nodes}", n.nodes_used),
                (str(n.pods), n.pods),
                (str(n.gpus_total), n.gpus_total),
                _gpus(n.free_gpus),
                (
                    ", ".join(
                        f"{size}-GPU pods: {_gpus(g)[0]}" for size, g in n.usable_free_gpus.items()
                    ),
                    None,
                ),
                _gpus(n.fragmented_gpus),
                (f"{sum(n.mig_layouts.values())} / {n.mig_gpus}", sum(n.mig_layouts.values())),
            ]
            for n in plan.nodes
        ],
    )
    layouts = _table(
        "mig-table",
        [("Pool", False), ("Layout of one GPU", False), ("GPUs", True)],
        [
            [(f"{n.site}/{n.pool}", None), (layout, None), (str(count), count)]
            for n in plan.nodes
            for layout, count in n.mig_layouts.items()
        ],
    )
    lead = (
        "Each pod sits on one node. The plan's pods are packed largest first on each pool's "
        "nodes; free GPUs split across nodes are fragmented for the largest pod size the "
        "pool's workloads ask for (docs/nodes.md)."
    )
    mig = f"<h3>MIG layouts</h3>{layouts}" if any(n.mig_layouts for n in plan.nodes) else ""
    return (
        '<section id="sec-nodes"><h2>Nodes: packing, fragmentation and MIG</h2>'
        f'<p class="lead">{_e(lead)}</p>{pools}{mig}</section>'
    )
