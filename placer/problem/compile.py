"""compile: a Scenario becomes the one Problem every engine reads.

A static scenario compiles in `placer.problem.compile_static` (the rules per unit and
pool), one with a horizon in `placer.problem.compile_time` (the same rules, options
over starts and rows per period). The helpers of the static compile are re-exported
here for the modules that name them.
"""

from __future__ import annotations

import numpy as np

from placer.model.scenario import Scenario
from placer.problem.compile_static import (
    CHUNK_CELLS,
    COOLING_RANK,
    _Context,
    _pair_arrays,
    build_pools,
    build_units,
    capacity_rows,
    compile_static,
    pair_objective,
    pool_rule_bits,
    reason_counts,
    unit_fields,
)
from placer.problem.compile_static import pair_reasons as static_pair_reasons
from placer.problem.compile_time import compile_timed, timed_pair_reasons
from placer.problem.form import Index, Problem

__all__ = [
    "CHUNK_CELLS",
    "COOLING_RANK",
    "_Context",
    "_pair_arrays",
    "build_pools",
    "build_units",
    "capacity_rows",
    "compile_problem",
    "pair_objective",
    "pair_reasons",
    "pool_rule_bits",
    "reason_counts",
    "unit_fields",
]


def compile_problem(
    scenario: Scenario, *, chunk_cells: int = CHUNK_CELLS, size_rule: bool = True
) -> tuple[Problem, Index]:
    """Compiles a validated Scenario into the one Problem every engine reads.

    `chunk_cells` bounds the static compile's temporaries (any value gives the same
    arrays); `size_rule=False` keeps pairs where a unit is larger than its pool or site
    (the infeasibility diagnosis asks how much to add there)."""
    if scenario.horizon is not None:
        return compile_timed(scenario, size_rule=size_rule)
    return compile_static(scenario, chunk_cells=chunk_cells, size_rule=size_rule)


def pair_reasons(scenario: Scenario, unit_indices) -> np.ndarray:
    """uint16[n, P]: the mask bits (`REASONS`) of every pool for the given units (indices
    into compile's unit order, static or timed); 0 where the pair is allowed."""
    if scenario.horizon is not None:
        return timed_pair_reasons(scenario, unit_indices)
    return static_pair_reasons(scenario, unit_indices)
