"""One plan under many scenarios: scoring a fixed assignment against B perturbations.

What-if and N-1 questions ("what if this site fails", "what if GPU prices rise 20%",
"what if carbon costs 150 USD/t", "what if demand grows 30%") ask how ONE plan fares
under many variants of the problem. `score_perturbed` answers B of them in one call:
the plan's per-unit figures are picked once and every scenario is O(U J + R) on top.

A perturbation b means exactly this Problem (the reference test builds it and scores it
with the float64 NumPy reference):

- option_up_o[b, o] False: option o is lost; units the plan put there become unplaced (a
  must-place unit then counts in `masked`, an optional one loses its value);
- cap_scale_r[b, r]: multiplies row r's capacity;
- amount_scale_oq[b, o, q]: multiplies the amount of quantity q of every unit on option
  o (its loads and totals);
- price_delta_oq[b, o, q]: USD/h added to the objective per unit of quantity q (at its
  unperturbed amount) of every unit on option o: a cost scale s is
  amount_scale = s and price_delta = s - 1 on the cost quantity; a carbon price raised
  by d USD/t is price_delta = d / 1000 on the carbon quantity (kg/h);
- usage_scale_u[b, u]: multiplies unit u's amounts and its placed objective (a demand
  change, linearised: replica rounding is not redone).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from placer.engines.kernels.arrays import KernelProblem, slot_values
from placer.engines.kernels.score import Scores, duplicates, over_by_kind, picked, row_loads


class Perturbation(NamedTuple):
    """B scenarios (leading axis B); see the module docstring for their meaning.

    Attributes:
      option_up_o: bool[B, O].  cap_scale_r: float32[B, R].
      amount_scale_oq, price_delta_oq: float32[B, O, Q].  usage_scale_u: float32[B, U].
    """

    option_up_o: jax.Array
    cap_scale_r: jax.Array
    amount_scale_oq: jax.Array
    price_delta_oq: jax.Array
    usage_scale_u: jax.Array


def no_change(b: int, kp: KernelProblem) -> Perturbation:
    """B copies of the unperturbed problem, to edit with `.at[...]` or `_replace`."""
    n_u = kp.objective_uk1.shape[0]
    n_o = kp.row_o1j.shape[0] - 1
    n_r = kp.cap_r1.shape[0] - 1
    n_q = kp.amount_uk1q.shape[2]
    return Perturbation(
        option_up_o=jnp.ones((b, n_o), bool),
        cap_scale_r=jnp.ones((b, n_r), jnp.float32),
        amount_scale_oq=jnp.ones((b, n_o, n_q), jnp.float32),
        price_delta_oq=jnp.zeros((b, n_o, n_q), jnp.float32),
        usage_scale_u=jnp.ones((b, n_u), jnp.float32),
    )


def site_failures(kp: KernelProblem, site_o, num_sites: int) -> Perturbation:
    """N-1: scenario s loses every option at site s (B = num_sites).

    Args:
      site_o: int[O], the site of each option (`Problem.site_o`).
    """
    base = no_change(num_sites, kp)
    down = jnp.asarray(site_o)[None, :] == jnp.arange(num_sites)[:, None]
    return base._replace(option_up_o=~down)


def _score_one_perturbed(
    a_u: jax.Array,
    kp: KernelProblem,
    option_up_o: jax.Array,
    cap_scale_r: jax.Array,
    amount_scale_oq: jax.Array,
    price_delta_oq: jax.Array,
    usage_scale_u: jax.Array,
    loads: str,
) -> Scores:
    n_k = kp.objective_uk1.shape[1] - 1
    n_o = kp.row_o1j.shape[0] - 1
    _, _, option_u = picked(a_u, kp)
    a = jnp.where(jnp.append(option_up_o, True)[option_u], a_u, n_k)  # lost: unplaced
    objective_u, amount_uq, option_u = picked(a, kp)
    placed = option_u < n_o
    m = jnp.where(placed, usage_scale_u, 1.0)
    scale_uq = jnp.concatenate(
        [amount_scale_oq, jnp.ones((1, amount_scale_oq.shape[1]), amount_scale_oq.dtype)]
    )[option_u]
    delta_uq = jnp.concatenate(
        [price_delta_oq, jnp.zeros((1, price_delta_oq.shape[1]), price_delta_oq.dtype)]
    )[option_u]
    base_uq = amount_uq * m[:, None]
    used_uq = base_uq * scale_uq
    objective_u = jnp.where(placed, objective_u * m + (delta_uq * base_uq).sum(axis=1), objective_u)
    term_scale = jnp.take_along_axis(scale_uq, kp.quantity_o1j[option_u], axis=1)
    values = slot_values(kp, jnp.arange(a.shape[0]), a) * m[:, None] * term_scale
    load = row_loads(values, option_u, kp, loads)
    cap = kp.cap_r1 * jnp.append(cap_scale_r, 1.0)
    units = jnp.arange(a.shape[0])
    return Scores(
        objective=objective_u.sum(),
        total_q=used_uq.sum(axis=0),
        over_k=over_by_kind(load, cap, kp, loads),
        masked=(~kp.allowed_uk1[units, a]).sum().astype(jnp.float32),
        redundancy=duplicates(option_u, kp, loads),
    )


@functools.partial(jax.jit, static_argnames=("loads",))
def score_perturbed(
    a_u: jax.Array, kp: KernelProblem, pert: Perturbation, loads: str = "segment"
) -> Scores:
    """Scores one assignment int32[U] (slots, K = unplaced) under B perturbations.

    Returns:
      Scores with [B] (and [B, Q], [B, NUM_KINDS]) fields, scenario b in row b.
    """
    one = functools.partial(_score_one_perturbed, a_u, kp, loads=loads)
    return jax.vmap(one)(
        pert.option_up_o,
        pert.cap_scale_r,
        pert.amount_scale_oq,
        pert.price_delta_oq,
        pert.usage_scale_u,
    )


__all__ = ["Perturbation", "no_change", "score_perturbed", "site_failures"]
