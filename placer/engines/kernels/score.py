"""Scoring candidate placements: pure JAX, CPU / CUDA / TPU, batched and chunked.

A candidate is int32[U]: the slot of each unit's option, K meaning unplaced (see
arrays.py). `score_one` returns the objective, the totals of every quantity, the excess
over capacity summed per row kind, the masked pairs and the redundancy conflicts;
`score_batch` scores C candidates in chunks sized to a memory budget, so C can be
millions. Row loads are one segment sum of every unit's terms, by a pluggable `loads`
method: "segment" (scatter-add: fastest on CPU) or "onehot" (compare and matmul: no
atomics, may win on GPUs for up to a few hundred rows).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from placer.engines.kernels.arrays import KernelProblem, slot_values
from placer.problem.rows import KIND_PENALTY, ROW_KINDS, VIOLATIONS

NUM_KINDS = len(ROW_KINDS)


class Scores(NamedTuple):
    """What one candidate (or [C] of a batch) scores, float32.

    Attributes:
      objective: USD/h, placed objective plus value lost by unplaced units.
      total_q: [..., Q], total of each quantity (`QUANTITIES`) over the placed units.
      over_k: [..., NUM_KINDS], amount above capacity summed over the rows of each kind
        (`ROW_KINDS`: GPUs, kW, L/h, USD/h, kg/h).
      masked: pairs used that the mask forbids (must-place units left out count here).
      redundancy: copies sharing a site or failure domain with another copy.
    """

    objective: jax.Array
    total_q: jax.Array
    over_k: jax.Array
    masked: jax.Array
    redundancy: jax.Array


class Weights(NamedTuple):
    """Penalty weights of `penalized`: USD/h per unit of each violation.

    Attributes:
      objective: weight of the objective (1).
      over_k: float32[NUM_KINDS], per unit above capacity, by row kind.
      masked, redundancy: per masked pair, per conflicting copy.
    """

    objective: float | jax.Array
    over_k: jax.Array
    masked: float | jax.Array
    redundancy: float | jax.Array


DEFAULT_WEIGHTS = Weights(
    objective=1.0, over_k=np.asarray(KIND_PENALTY, np.float32), masked=1e7, redundancy=1e7
)
#: Names of the violations, in the order `violation_values` lists them.
VIOLATION_FIELDS: tuple[str, ...] = (*VIOLATIONS, "masked", "redundancy")


def violation_values(scores: Scores) -> jax.Array:
    """[..., NUM_KINDS + 2]: every violation amount, in `VIOLATION_FIELDS` order."""
    return jnp.concatenate(
        [scores.over_k, scores.masked[..., None], scores.redundancy[..., None]], axis=-1
    )


def _sum_by(values: jax.Array, keys: jax.Array, n: int, loads: str) -> jax.Array:
    """Per-key sums float32[n] of values (keys and values of one shape, flattened)."""
    values, keys = values.reshape(-1), keys.reshape(-1)
    if loads == "segment":
        return jax.ops.segment_sum(values, keys, num_segments=n)
    if loads == "onehot":
        return jax.nn.one_hot(keys, n, dtype=values.dtype).T @ values
    raise ValueError(f"unknown loads method {loads!r}; use 'segment' or 'onehot'")


def picked(a_u: jax.Array, kp: KernelProblem) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(objective float32[U], amounts float32[U, Q], option int32[U]) of each unit's slot."""
    units = jnp.arange(a_u.shape[0])
    return kp.objective_uk1[units, a_u], kp.amount_uk1q[units, a_u], kp.option_uk1[units, a_u]


def values_of(a_u: jax.Array, kp: KernelProblem) -> jax.Array:
    """float32[U, J]: what each unit's slot charges each of its option's rows."""
    return slot_values(kp, jnp.arange(a_u.shape[0]), a_u)


#: Above this many runs of `kp.blocks` the "segment" loads are one segment sum over every
#: term at once: a timed problem's options charge rows that are not consecutive across
#: options, so its terms make hundreds of runs of one, and a traced loop over them took
#: 18 s to compile on configs/time/us_week.yaml (about 300 runs; one sum: under 1 s).
MAX_UNROLLED_RUNS = 16


def row_loads(values_uj: jax.Array, option_u: jax.Array, kp: KernelProblem, loads: str):
    """float32[R+1]: what the units charge every row (the last: the dummy row), one
    windowed segment sum per run of `kp.blocks` (one segment sum of every term where the
    runs are more than MAX_UNROLLED_RUNS)."""
    n_r1 = kp.cap_r1.shape[0]
    if loads == "segment" and len(kp.blocks.runs) > MAX_UNROLLED_RUNS:
        return _sum_by(values_uj, kp.row_o1j[option_u], n_r1, loads)
    load = jnp.zeros(n_r1 + kp.blocks.widest, values_uj.dtype)
    for j0, length, fixed in kp.blocks.runs:
        first = kp.row_o1j[option_u, j0]  # the run's first row (R: none)
        window = values_uj[:, j0 : j0 + length]
        if fixed >= 0:  # one row for all: a masked sum, no scatter
            total = jnp.where((first == fixed)[:, None], window, 0.0).sum(axis=0)
            load = load.at[fixed : fixed + length].add(total)
            continue
        if loads == "segment":
            sums = jax.ops.segment_sum(window, first, num_segments=n_r1)
        else:
            sums = _sum_by_rows(window, first, n_r1, loads)
        for i in range(length):
            load = load.at[i : i + n_r1].add(sums[:, i])
    return load[:n_r1]


def _sum_by_rows(window: jax.Array, keys: jax.Array, n: int, loads: str) -> jax.Array:
    """float32[n, L]: the rows of window [U, L] summed by key (onehot: a matmul)."""
    if loads == "onehot":
        return jax.nn.one_hot(keys, n, dtype=window.dtype).T @ window
    raise ValueError(f"unknown loads method {loads!r}; use 'segment' or 'onehot'")


def over_by_kind(load_r1: jax.Array, cap_r1: jax.Array, kp: KernelProblem, loads: str):
    """float32[NUM_KINDS]: load above capacity summed over each kind's rows (a product
    with the rows' kind indicator: cheaper than a scatter into so few sums)."""
    over = jnp.maximum(load_r1 - cap_r1, 0.0)
    kinds = (kp.kind_r1[:, None] == jnp.arange(NUM_KINDS)[None, :]) & (kp.real_r1[:, None] > 0)
    return over @ kinds.astype(over.dtype)


def score_one(a_u: jax.Array, kp: KernelProblem, loads: str = "segment") -> Scores:
    """Scores one candidate.

    Args:
      a_u: int32[U], slot of each unit in [0, K]; K = unplaced.
      kp: kernel arrays (arrays.py).
      loads: "segment" or "onehot" (see module docstring).

    Returns:
      Scores of float32 scalars ([Q] and [NUM_KINDS] for the totals and excesses).
    """
    objective_u, amount_uq, option_u = picked(a_u, kp)
    load = row_loads(values_of(a_u, kp), option_u, kp, loads)
    units = jnp.arange(a_u.shape[0])
    return Scores(
        objective=objective_u.sum(),
        total_q=amount_uq.sum(axis=0),
        over_k=over_by_kind(load, kp.cap_r1, kp, loads),
        masked=(~kp.allowed_uk1[units, a_u]).sum().astype(jnp.float32),
        redundancy=duplicates(option_u, kp, loads),
    )


def spread_slot(u: jax.Array, option: jax.Array, kp: KernelProblem) -> jax.Array:
    """Redundancy counter of (unit u's group, option's spread key); N: not counted."""
    n = kp.spread_zero_n1.shape[0] - 1
    if kp.spread_slot_go1.shape[0] == 0:
        return jnp.full(jnp.shape(u), n, jnp.int32)
    g = kp.group_u[u]
    return jnp.where(g >= 0, kp.spread_slot_go1[jnp.maximum(g, 0), option], n)


def duplicates(option_u: jax.Array, kp: KernelProblem, loads: str) -> jax.Array:
    """Copies of a redundancy group placed on an already used spread key."""
    if kp.spread_slot_go1.shape[0] == 0:
        return jnp.zeros((), jnp.float32)
    n = kp.spread_zero_n1.shape[0]
    slot = spread_slot(jnp.arange(option_u.shape[0]), option_u, kp)
    counts = _sum_by(jnp.ones(option_u.shape, jnp.float32), slot, n, loads)[:-1]
    return jnp.maximum(counts - 1.0, 0.0).sum()


def penalized(scores: Scores, weights: Weights = DEFAULT_WEIGHTS) -> jax.Array:
    """objective + sum of weighted violations: float32, lower is better."""
    return (
        scores.objective * weights.objective
        + (scores.over_k * jnp.asarray(weights.over_k)).sum(axis=-1)
        + scores.masked * weights.masked
        + scores.redundancy * weights.redundancy
    )


def feasible(scores: Scores, tol: float = 1e-3) -> jax.Array:
    """True where no violation exceeds `tol` (float32 sums; verify decides exactly)."""
    return violation_values(scores).max(axis=-1) <= tol


def chunk_size(num_units: int, num_candidates: int, budget_bytes: int = 4 << 20) -> int:
    """Candidates per chunk so one chunk's working set (~128 B per unit: its amounts and
    its terms' rows and values) fits the budget."""
    per_candidate = max(1, 128 * num_units)
    return int(max(1, min(num_candidates, budget_bytes // per_candidate)))


@functools.partial(jax.jit, static_argnames=("chunk", "loads"))
def score_batch(
    a_ku: jax.Array, kp: KernelProblem, *, chunk: int, loads: str = "segment"
) -> Scores:
    """Scores C candidates, `chunk` at a time (C is padded to a multiple of chunk).

    Args:
      a_ku: int32[C, U] candidates (slots; K = unplaced).
      kp: kernel arrays.
      chunk: static; candidates scored per vmapped step (see `chunk_size`).
      loads: static; "segment" or "onehot".

    Returns:
      Scores with [C] (and [C, Q], [C, NUM_KINDS]) fields.
    """
    k = a_ku.shape[0]
    pad = (-k) % chunk
    padded = jnp.pad(a_ku, ((0, pad), (0, 0)), constant_values=0)
    blocks = padded.reshape((k + pad) // chunk, chunk, a_ku.shape[1])
    score = jax.vmap(functools.partial(score_one, kp=kp, loads=loads))
    out = jax.lax.map(score, blocks)
    return Scores(*(f.reshape(-1, *f.shape[2:])[:k] for f in out))


def best_of(
    a_ku: jax.Array,
    kp: KernelProblem,
    *,
    chunk: int,
    loads: str = "segment",
    weights: Weights = DEFAULT_WEIGHTS,
) -> tuple[jax.Array, Scores]:
    """Index of the candidate with the lowest penalized score, and all scores."""
    scores = score_batch(a_ku, kp, chunk=chunk, loads=loads)
    return jnp.argmin(penalized(scores, weights)), scores
