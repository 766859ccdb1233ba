"""compile_sparse: Scenario -> (SparseProblem, SparseIndex) without dense U x P tables.

The rules are `placer.problem.compile`'s, applied to chunks of units: each chunk's [chunk, P]
tables are built with the same vectorised code, cut to the allowed pairs, and dropped.
Peak memory: one chunk's dense tables plus the pair lists (twice, while the last
chunks are copied into the padded [U, K] tables).
"""

from __future__ import annotations

import numpy as np

from placer.model.scenario import Scenario
from placer.problem.compile import (
    _Context,
    _pair_arrays,
    build_pools,
    build_units,
    fixed_fields,
    pair_objective,
)
from placer.problem.sparse_form import (
    NUM_REASONS,
    SparseIndex,
    SparseProblem,
    reason_counts,
)

#: Dense cells (units x pools) of one chunk: ~40 float64 temporaries of this size live
#: at once inside `_pair_arrays`, so 1e6 cells keep a chunk near 300 MB.
CHUNK_CELLS = 1_000_000
_TABLE = {
    "gpus_uk": "gpus",
    "it_kw_uk": "it_kw",
    "facility_kw_uk": "facility_kw",
    "water_l_per_h_uk": "water",
    "cost_usd_per_h_uk": "cost",
    "carbon_kg_per_h_uk": "carbon",
    "objective_usd_per_h_uk": "objective",
    "latency_ms_uk": "latency",
}


def compile_sparse(
    scenario: Scenario, *, chunk_cells: int = CHUNK_CELLS
) -> tuple[SparseProblem, SparseIndex]:
    """Compiles a validated Scenario into pair lists (equal to
    `SparseProblem.from_dense(compile_problem(scenario)[0])`)."""
    units = build_units(scenario)
    pools = build_pools(scenario)
    sites = sorted(scenario.sites, key=lambda s: s.id)
    site_index = {s.id: i for i, s in enumerate(sites)}
    ctx = _Context(scenario)
    n_u, n_p = len(units), len(pools)
    step = max(1, chunk_cells // max(n_p, 1))
    chunks = []
    for start in range(0, n_u, step):
        arrays, bits, reps = _pair_arrays(units[start : start + step], pools, sites, ctx)
        arrays["objective"] = pair_objective(scenario, arrays)
        arrays["replicas"] = reps
        allowed = bits == 0
        rows, cols = np.nonzero(allowed)
        counts = np.bincount(rows, minlength=allowed.shape[0])
        pairs = {name: table[rows, cols] for name, table in arrays.items()}
        chunks.append((start, rows, cols, counts, pairs, reason_counts(bits)))
    width = max([1, *(int(c[3].max(initial=0)) for c in chunks)])
    out = {slot_name: np.zeros((n_u, width)) for slot_name in _TABLE}
    pool_uk = np.full((n_u, width), -1, np.int32)
    replicas_uk = np.zeros((n_u, width), np.int32)
    hours_uk = np.zeros((n_u, width))
    reason_ur = np.zeros((n_u, NUM_REASONS), np.int32)
    while chunks:
        start, rows, cols, counts, pairs, reasons = chunks.pop(0)  # free as we go
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        slots = np.arange(rows.size) - first[rows]
        at = (start + rows, slots)
        pool_uk[at] = cols
        for slot_name, name in _TABLE.items():
            out[slot_name][at] = pairs[name]
        replicas_uk[at] = pairs["replicas"]
        hours_uk[at] = pairs["hours"]
        reason_ur[start : start + counts.size] = reasons
    out["heat_kw_uk"] = out["it_kw_uk"]  # heat to reject = IT power (compile): one array
    problem = SparseProblem(
        pool_uk=pool_uk,
        **out,
        reason_count_ur=reason_ur,
        **fixed_fields(scenario, units, pools, sites, site_index),
    )
    index = SparseIndex(
        units=tuple(u for u, _ in units),
        pools=tuple(info for info, _, _ in pools),
        sites=tuple(s.id for s in sites),
        replicas_uk=replicas_uk,
        hours_uk=hours_uk,
    )
    return problem, index
