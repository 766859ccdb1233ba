"""Single-unit moves scored against an incumbent in O(J^2) each.

The incumbent keeps its row loads, quantity totals and redundancy-key counts; a move
(unit u to slot k) changes only the rows of u's old and new option (J terms each), so
its change of the penalized score (score.penalized) costs a few gathers, whatever U
and R are.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from placer.engines.kernels.arrays import KernelProblem, slot_values
from placer.engines.kernels.score import (
    DEFAULT_WEIGHTS,
    Weights,
    _sum_by,
    picked,
    row_loads,
    spread_slot,
    values_of,
)


class Incumbent(NamedTuple):
    """A candidate with its loads.

    Attributes:
      a_u: int32[U], slots (K = unplaced).  load_r1: float32[R+1], row loads (the last:
      the dummy row).  total_q: float32[Q].  keys: float32[N+1], copies per (group,
      spread key) counter (the last: not counted).
    """

    a_u: jax.Array
    load_r1: jax.Array
    total_q: jax.Array
    keys: jax.Array


def incumbent(a_u: jax.Array, kp: KernelProblem) -> Incumbent:
    """Loads of a candidate a_u (int32[U] slots, K = unplaced)."""
    _, amount_uq, option_u = picked(a_u, kp)
    units = jnp.arange(a_u.shape[0])
    return Incumbent(
        a_u=a_u,
        load_r1=row_loads(values_of(a_u, kp), option_u, kp, "segment"),
        total_q=amount_uq.sum(axis=0),
        keys=_sum_by(
            jnp.ones(a_u.shape, jnp.float32),
            spread_slot(units, option_u, kp),
            kp.spread_zero_n1.shape[0],
            "segment",
        ),
    )


def _over(x: jax.Array, cap: jax.Array) -> jax.Array:
    return jnp.maximum(x - cap, 0.0)


def _unit_terms(u: jax.Array, k: jax.Array, kp: KernelProblem):
    """(option, rows int32[J], values float32[J]) of unit u in slot k."""
    option = kp.option_uk1[u, k]
    return option, kp.row_o1j[option], slot_values(kp, u, k)


def _rows_delta(inc: Incumbent, kp: KernelProblem, w_r1, r_old, v_old, r_new, v_new):
    """Change of sum_r w_r max(load_r - cap_r, 0) when v_old leaves r_old and v_new
    joins r_new (float32[J] each; a row may appear in both lists: at the same term when
    the rows are term-aligned, `TermBlocks.aligned`, else anywhere)."""
    load_old = inc.load_r1[r_old]
    cap_old = kp.cap_r1[r_old]
    if kp.blocks.aligned:
        load_new, cap_new = inc.load_r1[r_new], kp.cap_r1[r_new]
        base_old = _over(load_old, cap_old)
        d_same = (_over(load_old - v_old + v_new, cap_old) - base_old) * w_r1[r_old]
        d_split = (_over(load_old - v_old, cap_old) - base_old) * w_r1[r_old] + (
            _over(load_new + v_new, cap_new) - _over(load_new, cap_new)
        ) * w_r1[r_new]
        return jnp.where(r_old == r_new, d_same, d_split).sum()
    match = r_new[None, :] == r_old[:, None]  # [J_old, J_new]
    after_old = load_old - v_old + (match * v_new[None, :]).sum(axis=1)
    d = ((_over(after_old, cap_old) - _over(load_old, cap_old)) * w_r1[r_old]).sum()
    load_new = inc.load_r1[r_new]
    cap_new = kp.cap_r1[r_new]
    only_new = ~match.any(axis=0)
    d_new = (_over(load_new + v_new, cap_new) - _over(load_new, cap_new)) * w_r1[r_new]
    return d + jnp.where(only_new, d_new, 0.0).sum()


def _row_weights(kp: KernelProblem, weights: Weights) -> jax.Array:
    """float32[R+1]: each row's penalty weight (0 for the dummy row)."""
    return jnp.asarray(weights.over_k)[kp.kind_r1] * kp.real_r1


def delta_one(
    u: jax.Array,
    k: jax.Array,
    inc: Incumbent,
    kp: KernelProblem,
    weights: Weights = DEFAULT_WEIGHTS,
) -> jax.Array:
    """Change of the penalized score if unit u moves to slot k (0 if it is there)."""
    old = inc.a_u[u]
    o_old, r_old, v_old = _unit_terms(u, old, kp)
    o_new, r_new, v_new = _unit_terms(u, k, kp)
    d = (kp.objective_uk1[u, k] - kp.objective_uk1[u, old]) * weights.objective
    d = d + _rows_delta(inc, kp, _row_weights(kp, weights), r_old, v_old, r_new, v_new)
    masked = (~kp.allowed_uk1[u, k]).astype(jnp.float32) - (~kp.allowed_uk1[u, old]).astype(
        jnp.float32
    )
    d = d + masked * weights.masked
    # redundancy: leave the old key, join the new one
    s_old, s_new = spread_slot(u, o_old, kp), spread_slot(u, o_new, kp)
    last = inc.keys.shape[0] - 1
    leave = jnp.where((s_old != last) & (inc.keys[s_old] >= 2), -1.0, 0.0)
    join = jnp.where((s_new != last) & (inc.keys[s_new] >= 1), 1.0, 0.0)
    d = d + jnp.where(s_old == s_new, 0.0, leave + join) * weights.redundancy
    return jnp.where(k == old, 0.0, d)


@jax.jit
def delta_moves(
    u_m: jax.Array,
    k_m: jax.Array,
    inc: Incumbent,
    kp: KernelProblem,
    weights: Weights = DEFAULT_WEIGHTS,
) -> jax.Array:
    """float32[M]: penalized-score change of each move (u_m[i] -> slot k_m[i]),
    independently."""
    return jax.vmap(delta_one, in_axes=(0, 0, None, None, None))(u_m, k_m, inc, kp, weights)


def apply_move(inc: Incumbent, u: jax.Array, k: jax.Array, kp: KernelProblem) -> Incumbent:
    """The incumbent after moving unit u to slot k (O(J) updates)."""
    old = inc.a_u[u]
    o_old, r_old, v_old = _unit_terms(u, old, kp)
    o_new, r_new, v_new = _unit_terms(u, k, kp)
    return Incumbent(
        a_u=inc.a_u.at[u].set(k),
        load_r1=inc.load_r1.at[r_old].add(-v_old).at[r_new].add(v_new),
        total_q=inc.total_q - kp.amount_uk1q[u, old] + kp.amount_uk1q[u, k],
        keys=inc.keys.at[spread_slot(u, o_old, kp)]
        .add(-1.0)
        .at[spread_slot(u, o_new, kp)]
        .add(1.0),
    )


@functools.partial(jax.jit, static_argnames=())
def delta_rows(
    u_b: jax.Array, inc: Incumbent, kp: KernelProblem, weights: Weights = DEFAULT_WEIGHTS
) -> jax.Array:
    """float32[B, K+1]: the change of the penalized score of moving each unit of u_b to
    every slot (column K: unplaced); equal to `delta_moves` of those B x (K+1) moves."""
    slots = jnp.arange(kp.objective_uk1.shape[1])
    per_slot = jax.vmap(delta_one, in_axes=(None, 0, None, None, None))
    return jax.vmap(per_slot, in_axes=(0, None, None, None, None))(u_b, slots, inc, kp, weights)
