"""compile of node shapes, pods, shared GPUs and MIG (docs/nodes.md): the `_pair_arrays`
tables of the node and MIG quantities and the capacity rows they charge.

For pools that list node shapes, each (unit, pool) pair's pods are counted as slots (a
power of two from 1/8 GPU, covering the pod's vCPU and memory share) and charged to one
row per pod size level that can bind (`node_slots`); MIG replicas are charged to the six
`mig_slices` rows of the pool's MIG GPUs (`placer.model.mig.MIG_ROWS`). Only
`placer.problem.compile_static` calls this module.
"""

from __future__ import annotations

import numpy as np

from placer.model.mig import MIG_ROWS
from placer.model.nodes import (
    POD_LEVELS,
    largest_node,
    level_capacity,
    mig_gpus,
    node_gpus,
    share_per_gpu,
)
from placer.model.site import Pool
from placer.problem.rows import (
    K_MIG,
    K_NODES,
    MIG_QUANTITIES,
    NODE_QUANTITIES,
    Q_MIG_FIRST,
    Q_NODE_FIRST,
    Rows,
)

#: `_pair_arrays` tables of the node quantities, then of the MIG rows, in quantity order.
_LEVEL_TABLES = tuple(f"slots_ge_{s:g}" for s in POD_LEVELS)
assert len(_LEVEL_TABLES) == len(NODE_QUANTITIES)
_MIG_TABLES = tuple(f"mig_{name}" for name, _, _ in MIG_ROWS)
assert len(_MIG_TABLES) == len(MIG_QUANTITIES)
NODE_TABLES = _LEVEL_TABLES + _MIG_TABLES
_MIG_COEF = np.array([coef for _, coef, _ in MIG_ROWS], float)  # [row, type]


def node_facts(pool: Pool) -> tuple[int, float, float, bool, int]:
    """(largest node's GPUs without MIG, vCPU per GPU, GB per GPU, has node shapes, MIG
    GPUs) of a pool; a pool without node shapes gives (0, inf, inf, False, 0)."""
    if pool.nodes is None:
        return 0, np.inf, np.inf, False, 0
    cpu, mem = share_per_gpu(pool.nodes)
    return largest_node(pool.nodes), cpu, mem, True, mig_gpus(pool.nodes)


def pair_node_tables(f, pools, a_p, reps, train) -> dict[str, np.ndarray] | None:
    """Pods of every (unit, pool) pair, for scenarios with node shapes or MIG replicas
    (docs/nodes.md): [U, P] tables of GPUs per pod and the slot size it is counted as
    (a power of two from 1/8; 0 for MIG replicas and pools without node shapes), the
    slots of the pods of each size level or more (`slots_ge_<s>`), each MIG row's use
    (`mig_<row>`), and `no_node` (no node of the pool can take the pod: larger than its
    largest node without MIG, or a MIG replica where the pool has no MIG GPUs). None
    when the scenario has neither."""
    facts = [node_facts(pl) for _, _, pl in pools]
    mig_u = f["mig_ua"][:, a_p]  # MIG type of the pair's replica (-1: none)
    if not any(fact[3] for fact in facts) and not (mig_u >= 0).any():
        return None
    largest_p = np.array([fact[0] for fact in facts], float)
    cpu_p = np.array([fact[1] for fact in facts])
    mem_p = np.array([fact[2] for fact in facts])
    noded_p = np.array([fact[3] for fact in facts])
    mig_gpus_p = np.array([fact[4] for fact in facts], float)
    mig = ~train & (mig_u >= 0)
    gang = f["gpus_u"].astype(np.int64)
    lowbit = (gang & -gang).astype(float)  # largest power of two dividing the gang
    floor_pow2 = np.exp2(np.floor(np.log2(np.maximum(largest_p, 1.0))))
    default = np.minimum(lowbit[:, None], floor_pow2[None, :])
    given = f["pod_gpus_u"][:, None]
    pod_gpus = np.where(train, np.where(given > 0, given, default), f["gpr_ua"][:, a_p])
    count = np.where(train, f["gpus_u"][:, None] / np.maximum(pod_gpus, 1.0), reps)
    with np.errstate(all="ignore"):  # inf where a share is tiny: no node takes the pod
        need = np.maximum(pod_gpus, f["pod_cpu_u"][:, None] / cpu_p[None, :])
        need = np.maximum(need, f["pod_mem_u"][:, None] / mem_p[None, :])
        need = np.where(np.isnan(need), pod_gpus, need)
    smallest = POD_LEVELS[0]
    with np.errstate(all="ignore"):
        slots = np.exp2(np.ceil(np.log2(np.maximum(need, smallest)) - 1e-12))
    slots = np.where(noded_p[None, :] & ~mig, slots, 0.0)
    tables = {
        "pod_gpus": np.where(noded_p[None, :] & ~mig, pod_gpus, 0.0),
        "slots": slots,
        "no_node": (mig & (mig_gpus_p[None, :] == 0))
        | (noded_p[None, :] & ~mig & (slots > largest_p[None, :])),
        "mig": mig & (mig_gpus_p[None, :] > 0),
    }
    finite = np.isfinite(slots)  # an infinite slot is masked (no_node) and charges nothing
    safe = np.where(finite, slots, 0.0)
    for level, name in zip(POD_LEVELS, _LEVEL_TABLES, strict=True):
        tables[name] = np.where(finite & (slots >= level), count * safe, 0.0)
    t = np.maximum(mig_u, 0)
    for row, name in enumerate(_MIG_TABLES):
        tables[name] = np.where(mig, reps * _MIG_COEF[row][t], 0.0)
    return tables


class PoolPods:
    """What the pairs of each pool charge its node rows: the largest and smallest slot
    size, whether a pod is counted above its GPUs, whether a MIG replica may run there."""

    def __init__(self, n_p: int) -> None:
        self.widest_p = np.zeros(n_p)
        self.narrowest_p = np.full(n_p, np.inf)
        self.inflated_p = np.zeros(n_p, bool)
        self.mig_p = np.zeros(n_p, bool)

    def add(self, cols: np.ndarray, pairs: dict[str, np.ndarray]) -> None:
        """Takes one chunk's allowed pairs (their pools and tables)."""
        slots = pairs["slots"]
        on = slots > 0
        np.maximum.at(self.widest_p, cols[on], slots[on])
        np.minimum.at(self.narrowest_p, cols[on], slots[on])
        self.inflated_p[cols[slots > pairs["pod_gpus"] + 1e-12]] = True
        self.mig_p[cols[pairs["mig"] > 0]] = True


def node_rows(rows: Rows, pools, pods: PoolPods) -> Rows:
    """`rows` with the node and MIG rows added (docs/nodes.md).

    Node rows: for each pool with node shapes and each pod size level s, the row `sum
    of the slots of the pods of s or more GPUs <= s x sum over nodes without MIG of
    floor(GPUs / s)`, charged through the node quantity of level s; a level's row is
    added only where it can bind: its capacity is below every lower level's (from the
    smallest slot the pool's pairs use) and below the pool's GPUs, which the pool GPU
    row already caps (unless a pod is counted above its GPUs). MIG rows: the six rows of
    `placer.model.mig.MIG_ROWS` times the pool's MIG GPUs, where a MIG replica may run."""
    added: list[tuple[int, int, int, float]] = []  # (pool, kind, quantity, capacity)
    for p, (_, _, pool) in enumerate(pools):
        if pool.nodes is None:
            continue
        lowest = np.inf if pods.inflated_p[p] else float(node_gpus(pool.nodes))
        for i, level in enumerate(POD_LEVELS):
            if level < pods.narrowest_p[p] - 1e-12 or level > pods.widest_p[p] + 1e-12:
                continue
            cap = level_capacity(pool.nodes, level)
            if cap < lowest - 1e-9:
                added.append((p, K_NODES, Q_NODE_FIRST + i, float(cap)))
                lowest = cap
        if pods.mig_p[p]:
            mig = mig_gpus(pool.nodes)
            for i, (_, _, rhs) in enumerate(MIG_ROWS):
                added.append((p, K_MIG, Q_MIG_FIRST + i, float(rhs * mig)))
    if not added:
        return rows
    n_r, n_o = rows.cap_r.size, rows.row_oj.shape[0]
    per_pool = np.bincount([a[0] for a in added], minlength=n_o)
    extra = int(per_pool.max())
    row_oj = np.concatenate([rows.row_oj, np.full((n_o, extra), -1, np.int32)], axis=1)
    quantity_oj = np.concatenate([rows.quantity_oj, np.zeros((n_o, extra), np.int8)], axis=1)
    col = np.full(n_o, rows.row_oj.shape[1])
    for r, (p, _, q, _) in enumerate(added):
        row_oj[p, col[p]] = n_r + r
        quantity_oj[p, col[p]] = q
        col[p] += 1
    return Rows(
        np.concatenate([rows.cap_r, [a[3] for a in added]]),
        np.concatenate([rows.kind_r, np.array([a[1] for a in added], np.int8)]),
        np.concatenate([rows.scope_r, np.array([a[0] for a in added], np.int32)]),
        row_oj,
        quantity_oj,
    )
