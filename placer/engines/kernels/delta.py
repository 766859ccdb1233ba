"""Single-unit moves scored against an incumbent in O(1) each.

The incumbent keeps its pool loads, site loads, totals and redundancy-key counts;
a move (u -> p) changes only the old and new pool and site, so its change of the
penalized score (score.penalized) costs a few gathers, whatever U and P are.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from placer.engines.kernels.arrays import BIG, KernelProblem
from placer.engines.kernels.score import DEFAULT_WEIGHTS, Scores, _pick


class Incumbent(NamedTuple):
    """A candidate with its loads (P+1 pools and S+1 sites: the last is 'unplaced').

    Attributes:
      a_u: int32[U].  gpus_p1: float32[P+1].  site_s14: float32[S+1, 4] (IT, facility,
      heat kW; water L/h).  cost, carbon: float32[].  keys: float32[G*(S+1)+1] copies per
      (group, spread key).
    """

    a_u: jax.Array
    gpus_p1: jax.Array
    site_s14: jax.Array
    cost: jax.Array
    carbon: jax.Array
    keys: jax.Array


def _site_tables(kp: KernelProblem) -> jax.Array:
    """float32[U, P+1, 4]: IT, facility, heat, water of each pair."""
    return jnp.stack([kp.it_kw_up1, kp.facility_kw_up1, kp.heat_kw_up1, kp.water_up1], axis=2)


def _caps(kp: KernelProblem) -> tuple[jax.Array, jax.Array]:
    gpu_cap = jnp.append(kp.gpu_cap_p, BIG)
    site_cap = jnp.concatenate(
        [
            jnp.stack([kp.it_cap_s, kp.facility_cap_s, kp.heat_cap_s, kp.water_cap_s], axis=1),
            jnp.full((1, 4), BIG, jnp.float32),
        ],
        axis=0,
    )
    return gpu_cap, site_cap


def _key_slot(u: jax.Array, p: jax.Array, kp: KernelProblem) -> jax.Array:
    """Slot of (group, spread key) in Incumbent.keys; the last slot means 'not counted'."""
    n_g = kp.spread_key_gp1.shape[0]
    n_k = kp.it_cap_s.shape[0] + 1
    if n_g == 0:
        return jnp.zeros_like(u)
    g = jnp.maximum(kp.group_u[u], 0)
    key = kp.spread_key_gp1[g, p]
    counted = (kp.group_u[u] >= 0) & (key < n_k - 1)
    return jnp.where(counted, g * n_k + key, n_g * n_k)


def incumbent(a_u: jax.Array, kp: KernelProblem) -> Incumbent:
    """Loads of a candidate a_u (int32[U], P = unplaced)."""
    n_p1 = kp.objective_up1.shape[1]
    n_s1 = kp.it_cap_s.shape[0] + 1
    site_u = kp.pool_site_p1[a_u]
    tables = _site_tables(kp)
    n_slots = max(1, kp.spread_key_gp1.shape[0] * n_s1) + 1
    units = jnp.arange(a_u.shape[0])
    return Incumbent(
        a_u=a_u,
        gpus_p1=jax.ops.segment_sum(_pick(kp.gpus_up1, a_u), a_u, num_segments=n_p1),
        site_s14=jax.ops.segment_sum(tables[units, a_u], site_u, num_segments=n_s1),
        cost=_pick(kp.cost_up1, a_u).sum(),
        carbon=_pick(kp.carbon_up1, a_u).sum(),
        keys=jax.ops.segment_sum(
            jnp.ones_like(a_u, jnp.float32), _key_slot(units, a_u, kp), num_segments=n_slots
        ),
    )


def _over(x: jax.Array, cap: jax.Array) -> jax.Array:
    return jnp.maximum(x - cap, 0.0)


def delta_one(
    u: jax.Array, p: jax.Array, inc: Incumbent, kp: KernelProblem, weights: Scores = DEFAULT_WEIGHTS
) -> jax.Array:
    """Change of the penalized score if unit u moves to pool p (0 if it is there)."""
    old = inc.a_u[u]
    gpu_cap, site_cap = _caps(kp)
    d = (kp.objective_up1[u, p] - kp.objective_up1[u, old]) * weights.objective
    # pools
    g_old, g_new = kp.gpus_up1[u, old], kp.gpus_up1[u, p]
    d_gpu = (
        _over(inc.gpus_p1[old] - g_old, gpu_cap[old])
        - _over(inc.gpus_p1[old], gpu_cap[old])
        + _over(inc.gpus_p1[p] + g_new, gpu_cap[p])
        - _over(inc.gpus_p1[p], gpu_cap[p])
    )
    d = d + d_gpu * weights.gpus_over
    # sites: four resources at once
    s_old, s_new = kp.pool_site_p1[old], kp.pool_site_p1[p]
    tables = _site_tables(kp)
    v_old, v_new = tables[u, old], tables[u, p]
    load_old, load_new = inc.site_s14[s_old], inc.site_s14[s_new]
    same = s_old == s_new
    d_same = _over(load_old - v_old + v_new, site_cap[s_old]) - _over(load_old, site_cap[s_old])
    d_split = (
        _over(load_old - v_old, site_cap[s_old])
        - _over(load_old, site_cap[s_old])
        + _over(load_new + v_new, site_cap[s_new])
        - _over(load_new, site_cap[s_new])
    )
    d_site = jnp.where(same, d_same, d_split)
    w_site = jnp.stack(
        [weights.it_over, weights.facility_over, weights.heat_over, weights.water_over]
    )
    d = d + (d_site * w_site).sum()
    # global caps
    cost = inc.cost - kp.cost_up1[u, old] + kp.cost_up1[u, p]
    carbon = inc.carbon - kp.carbon_up1[u, old] + kp.carbon_up1[u, p]
    d = d + (_over(cost, kp.budget) - _over(inc.cost, kp.budget)) * weights.budget_over
    d = d + (_over(carbon, kp.carbon_cap) - _over(inc.carbon, kp.carbon_cap)) * weights.carbon_over
    # mask
    masked = (~kp.allowed_up1[u, p]).astype(jnp.float32) - (~kp.allowed_up1[u, old]).astype(
        jnp.float32
    )
    d = d + masked * weights.masked
    # redundancy: leave the old key, join the new one
    k_old, k_new = _key_slot(u, old, kp), _key_slot(u, p, kp)
    last = inc.keys.shape[0] - 1
    leave = jnp.where((k_old != last) & (inc.keys[k_old] >= 2), -1.0, 0.0)
    join = jnp.where((k_new != last) & (inc.keys[k_new] >= 1), 1.0, 0.0)
    d = d + jnp.where(k_old == k_new, 0.0, leave + join) * weights.redundancy
    return jnp.where(p == old, 0.0, d)


@functools.partial(jax.jit, static_argnames=())
def delta_moves(
    u_m: jax.Array,
    p_m: jax.Array,
    inc: Incumbent,
    kp: KernelProblem,
    weights: Scores = DEFAULT_WEIGHTS,
) -> jax.Array:
    """float32[M]: penalized-score change of each move (u_m[i] -> p_m[i]), independently."""
    return jax.vmap(delta_one, in_axes=(0, 0, None, None, None))(u_m, p_m, inc, kp, weights)


def apply_move(inc: Incumbent, u: jax.Array, p: jax.Array, kp: KernelProblem) -> Incumbent:
    """The incumbent after moving unit u to pool p (O(1) updates)."""
    old = inc.a_u[u]
    tables = _site_tables(kp)
    s_old, s_new = kp.pool_site_p1[old], kp.pool_site_p1[p]
    k_old, k_new = _key_slot(u, old, kp), _key_slot(u, p, kp)
    return Incumbent(
        a_u=inc.a_u.at[u].set(p),
        gpus_p1=inc.gpus_p1.at[old].add(-kp.gpus_up1[u, old]).at[p].add(kp.gpus_up1[u, p]),
        site_s14=inc.site_s14.at[s_old].add(-tables[u, old]).at[s_new].add(tables[u, p]),
        cost=inc.cost - kp.cost_up1[u, old] + kp.cost_up1[u, p],
        carbon=inc.carbon - kp.carbon_up1[u, old] + kp.carbon_up1[u, p],
        keys=inc.keys.at[k_old].add(-1.0).at[k_new].add(1.0),
    )


def _row_delta(
    u: jax.Array, inc: Incumbent, kp: KernelProblem, shared, weights: Scores
) -> jax.Array:
    """float32[P+1]: `delta_one(u, p)` for every pool p (and P: unplaced) at once.

    Only row u of each pair table is read (contiguous), and the per-pool views of the
    incumbent's loads (`shared`) are the same for every unit, so a batch of rows is a
    fused element-wise pass instead of M scattered gathers."""
    gpu_cap, site_load_p14, site_cap_p14, key_count_gp1 = shared
    old = inc.a_u[u]
    d = (kp.objective_up1[u] - kp.objective_up1[u, old]) * weights.objective
    g_old, g_new = kp.gpus_up1[u, old], kp.gpus_up1[u]
    d_gpu = (
        _over(inc.gpus_p1[old] - g_old, gpu_cap[old])
        - _over(inc.gpus_p1[old], gpu_cap[old])
        + _over(inc.gpus_p1 + g_new, gpu_cap)
        - _over(inc.gpus_p1, gpu_cap)
    )
    d = d + d_gpu * weights.gpus_over
    s_old = kp.pool_site_p1[old]
    same = kp.pool_site_p1 == s_old
    site_w = (weights.it_over, weights.facility_over, weights.heat_over, weights.water_over)
    site_tables = (kp.it_kw_up1, kp.facility_kw_up1, kp.heat_kw_up1, kp.water_up1)
    _, site_cap = _caps(kp)
    for k, (table, w) in enumerate(zip(site_tables, site_w, strict=True)):
        v_old, v_new = table[u, old], table[u]
        load_old, cap_old = inc.site_s14[s_old, k], site_cap[s_old, k]
        load_new, cap_new = site_load_p14[:, k], site_cap_p14[:, k]
        base_old = _over(load_old, cap_old)
        d_same = _over(load_old - v_old + v_new, cap_old) - base_old
        d_split = (
            _over(load_old - v_old, cap_old)
            - base_old
            + _over(load_new + v_new, cap_new)
            - _over(load_new, cap_new)
        )
        d = d + jnp.where(same, d_same, d_split) * w
    cost = inc.cost - kp.cost_up1[u, old] + kp.cost_up1[u]
    carbon = inc.carbon - kp.carbon_up1[u, old] + kp.carbon_up1[u]
    d = d + (_over(cost, kp.budget) - _over(inc.cost, kp.budget)) * weights.budget_over
    d = d + (_over(carbon, kp.carbon_cap) - _over(inc.carbon, kp.carbon_cap)) * weights.carbon_over
    masked = (~kp.allowed_up1[u]).astype(jnp.float32) - (~kp.allowed_up1[u, old]).astype(
        jnp.float32
    )
    d = d + masked * weights.masked
    if key_count_gp1 is not None:  # redundancy: leave the old key, join the new one
        g = kp.group_u[u]
        grouped = g >= 0
        row = key_count_gp1[jnp.maximum(g, 0)]  # copies of u's group on each pool's key
        n_k = kp.it_cap_s.shape[0] + 1
        key_row = kp.spread_key_gp1[jnp.maximum(g, 0)]
        counted = grouped & (key_row < n_k - 1)
        k_old, counted_old = key_row[old], counted[old]
        leave = jnp.where(counted_old & (row[old] >= 2), -1.0, 0.0)
        join = jnp.where(counted & (row >= 1), 1.0, 0.0)
        d = d + jnp.where(counted & counted_old & (key_row == k_old), 0.0, leave + join) * (
            weights.redundancy
        )
    return jnp.where(jnp.arange(d.shape[0]) == old, 0.0, d)


@jax.jit
def delta_rows(
    u_b: jax.Array, inc: Incumbent, kp: KernelProblem, weights: Scores = DEFAULT_WEIGHTS
) -> jax.Array:
    """float32[B, P+1]: the change of the penalized score of moving each unit of u_b to
    every pool (column P: unplaced); equal to `delta_moves` of those B x (P+1) moves."""
    gpu_cap, site_cap = _caps(kp)
    site_p1 = kp.pool_site_p1
    key_count = None
    n_g = kp.spread_key_gp1.shape[0]
    if n_g:
        n_k = kp.it_cap_s.shape[0] + 1
        slots = jnp.arange(n_g)[:, None] * n_k + kp.spread_key_gp1  # [G, P+1]
        key_count = inc.keys[jnp.minimum(slots, inc.keys.shape[0] - 1)]
    shared = (gpu_cap, inc.site_s14[site_p1], site_cap[site_p1], key_count)
    return jax.vmap(lambda u: _row_delta(u, inc, kp, shared, weights))(u_b)
