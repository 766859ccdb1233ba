"""Scoring candidate placements: pure JAX, CPU / CUDA / TPU, batched and chunked.

A candidate is int32[U]: the pool of each unit, P meaning unplaced (see arrays.py).
`score_one` returns the objective terms and every kind of violation separately;
`score_batch` scores K candidates in chunks sized to a memory budget, so K can be
millions. Site and pool loads are computed by a pluggable `loads` method:
"segment" (scatter-add: fastest on CPU in the prototype) or "onehot" (compare and
matmul: no atomics, may win on GPUs for up to a few hundred pools).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from placer.engines.kernels.arrays import KernelProblem


class Scores(NamedTuple):
    """Objective terms and violations of one candidate (or [K] of a batch), float32.

    Attributes:
      objective: USD/h, placed objective plus value lost by unplaced units.
      cost: USD/h.  carbon: kgCO2e/h.  water: L/h.
      gpus_over: GPUs above pool capacity, summed over pools.
      it_over, facility_over, heat_over: kW above site capacity, summed over sites.
      water_over: L/h above site water caps, summed.
      budget_over: USD/h above the budget.  carbon_over: kg/h above the carbon cap.
      masked: pairs used that the mask forbids (must-place units left out count here).
      redundancy: copies sharing a site or failure domain with another copy.
    """

    objective: jax.Array
    cost: jax.Array
    carbon: jax.Array
    water: jax.Array
    gpus_over: jax.Array
    it_over: jax.Array
    facility_over: jax.Array
    heat_over: jax.Array
    water_over: jax.Array
    budget_over: jax.Array
    carbon_over: jax.Array
    masked: jax.Array
    redundancy: jax.Array


#: Default penalty weights of `penalized`: USD/h per unit of each violation.
DEFAULT_WEIGHTS = Scores(
    objective=1.0,
    cost=0.0,
    carbon=0.0,
    water=0.0,
    gpus_over=1e4,
    it_over=1e4,
    facility_over=1e4,
    heat_over=1e4,
    water_over=1e2,
    budget_over=1e2,
    carbon_over=1e2,
    masked=1e7,
    redundancy=1e7,
)
VIOLATION_FIELDS = Scores._fields[4:]


def _pick(table_up1: jax.Array, a_u: jax.Array) -> jax.Array:
    """table[u, a_u[u]]: float32[U]."""
    return jnp.take_along_axis(table_up1, a_u[:, None], axis=1)[:, 0]


def _sum_by(values_u: jax.Array, keys_u: jax.Array, n: int, loads: str) -> jax.Array:
    """Per-key sums float32[n] of values_u; pluggable formulation."""
    if loads == "segment":
        return jax.ops.segment_sum(values_u, keys_u, num_segments=n)
    if loads == "onehot":
        return jax.nn.one_hot(keys_u, n, dtype=values_u.dtype).T @ values_u
    raise ValueError(f"unknown loads method {loads!r}; use 'segment' or 'onehot'")


def _over(load: jax.Array, cap: jax.Array) -> jax.Array:
    return jnp.maximum(load - cap, 0.0).sum()


def score_one(a_u: jax.Array, kp: KernelProblem, loads: str = "segment") -> Scores:
    """Scores one candidate.

    Args:
      a_u: int32[U], pool of each unit in [0, P]; P = unplaced.
      kp: kernel arrays (arrays.py).
      loads: "segment" or "onehot" (see module docstring).

    Returns:
      Scores of float32 scalars.
    """
    n_p1 = kp.objective_up1.shape[1]
    n_s1 = kp.it_cap_s.shape[0] + 1
    site_u = kp.pool_site_p1[a_u]
    gpus_p = _sum_by(_pick(kp.gpus_up1, a_u), a_u, n_p1, loads)[:-1]
    site = jnp.stack(
        [_pick(t, a_u) for t in (kp.it_kw_up1, kp.facility_kw_up1, kp.heat_kw_up1, kp.water_up1)],
        axis=1,
    )
    site_s4 = _sum_by(site, site_u, n_s1, loads)[:-1]
    cost = _pick(kp.cost_up1, a_u).sum()
    carbon = _pick(kp.carbon_up1, a_u).sum()
    return Scores(
        objective=_pick(kp.objective_up1, a_u).sum(),
        cost=cost,
        carbon=carbon,
        water=site[:, 3].sum(),
        gpus_over=_over(gpus_p, kp.gpu_cap_p),
        it_over=_over(site_s4[:, 0], kp.it_cap_s),
        facility_over=_over(site_s4[:, 1], kp.facility_cap_s),
        heat_over=_over(site_s4[:, 2], kp.heat_cap_s),
        water_over=_over(site_s4[:, 3], kp.water_cap_s),
        budget_over=jnp.maximum(cost - kp.budget, 0.0),
        carbon_over=jnp.maximum(carbon - kp.carbon_cap, 0.0),
        masked=(~_pick(kp.allowed_up1, a_u)).sum().astype(jnp.float32),
        redundancy=_duplicates(a_u, kp, loads),
    )


def _duplicates(a_u: jax.Array, kp: KernelProblem, loads: str) -> jax.Array:
    """Copies of a redundancy group placed on an already used spread key."""
    n_g = kp.spread_key_gp1.shape[0]
    if n_g == 0:
        return jnp.zeros((), jnp.float32)
    n_k = kp.it_cap_s.shape[0] + 1  # keys are site or domain indices < S, S = unplaced
    g = jnp.maximum(kp.group_u, 0)
    key = kp.spread_key_gp1[g, a_u]
    counted = (kp.group_u >= 0) & (key < n_k - 1)
    slot = jnp.where(counted, g * n_k + key, n_g * n_k)
    counts = _sum_by(counted.astype(jnp.float32), slot, n_g * n_k + 1, loads)[:-1]
    return jnp.maximum(counts - 1.0, 0.0).sum()


def penalized(scores: Scores, weights: Scores = DEFAULT_WEIGHTS) -> jax.Array:
    """objective + sum of weighted violations: float32, lower is better."""
    total = scores.objective * weights.objective
    for name in VIOLATION_FIELDS:
        total = total + getattr(scores, name) * getattr(weights, name)
    return total


def feasible(scores: Scores, tol: float = 1e-3) -> jax.Array:
    """True where no violation exceeds `tol` (float32 sums; verify decides exactly)."""
    worst = jnp.stack([getattr(scores, name) for name in VIOLATION_FIELDS]).max(axis=0)
    return worst <= tol


def chunk_size(num_units: int, num_candidates: int, budget_bytes: int = 4 << 20) -> int:
    """Candidates per chunk so one chunk's working set (~48 B per unit) fits the budget."""
    per_candidate = max(1, 48 * num_units)
    return int(max(1, min(num_candidates, budget_bytes // per_candidate)))


@functools.partial(jax.jit, static_argnames=("chunk", "loads"))
def score_batch(
    a_ku: jax.Array, kp: KernelProblem, *, chunk: int, loads: str = "segment"
) -> Scores:
    """Scores K candidates, `chunk` at a time (K is padded to a multiple of chunk).

    Args:
      a_ku: int32[K, U] candidates (P = unplaced).
      kp: kernel arrays.
      chunk: static; candidates scored per vmapped step (see `chunk_size`).
      loads: static; "segment" or "onehot".

    Returns:
      Scores with float32[K] fields.
    """
    k = a_ku.shape[0]
    pad = (-k) % chunk
    padded = jnp.pad(a_ku, ((0, pad), (0, 0)), constant_values=0)
    blocks = padded.reshape((k + pad) // chunk, chunk, a_ku.shape[1])
    score = jax.vmap(functools.partial(score_one, kp=kp, loads=loads))
    out = jax.lax.map(score, blocks)
    return Scores(*(f.reshape(-1)[:k] for f in out))


def best_of(
    a_ku: jax.Array,
    kp: KernelProblem,
    *,
    chunk: int,
    loads: str = "segment",
    weights: Scores = DEFAULT_WEIGHTS,
) -> tuple[jax.Array, Scores]:
    """Index of the candidate with the lowest penalized score, and all scores."""
    scores = score_batch(a_ku, kp, chunk=chunk, loads=loads)
    return jnp.argmin(penalized(scores, weights)), scores
