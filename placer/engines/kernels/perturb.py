"""One plan under many scenarios: scoring a fixed assignment against B perturbations.

What-if and N-1 questions ("what if this site fails", "what if GPU prices rise 20%",
"what if carbon costs 150 USD/t", "what if demand grows 30%") ask how ONE plan fares
under many variants of the problem. `score_perturbed` answers B of them in one call:
the plan's per-unit figures are picked once and every scenario is O(U + P + S) on top.

A perturbation b means exactly this Problem (the reference test builds it and scores it
with the float64 NumPy reference):

- pool_up_p[b, p] False: pool p is lost; units the plan put there become unplaced (a
  must-place unit then counts in `masked`, an optional one loses its value);
- gpu_cap_scale_p[b, p], site_cap_scale_s[b, s]: multiply the pool's GPU capacity and
  the site's IT, facility, heat and water capacities;
- cost_scale_p[b, p]: multiplies the cost of every unit on pool p (the objective moves
  by the cost change);
- carbon_price_delta_usd_per_t[b]: adds this carbon price to the objective;
- usage_scale_u[b, u]: multiplies unit u's GPUs, power, water, cost, carbon and its
  placed objective (a demand change, linearised: replica rounding is not redone).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from placer.engines.kernels.arrays import KernelProblem
from placer.engines.kernels.score import Scores, _duplicates, _over, _pick, _sum_by


class Perturbation(NamedTuple):
    """B scenarios (leading axis B); see the module docstring for their meaning.

    Attributes:
      pool_up_p: bool[B, P].  gpu_cap_scale_p: float32[B, P].
      site_cap_scale_s: float32[B, S].  cost_scale_p: float32[B, P].
      carbon_price_delta_usd_per_t: float32[B].  usage_scale_u: float32[B, U].
    """

    pool_up_p: jax.Array
    gpu_cap_scale_p: jax.Array
    site_cap_scale_s: jax.Array
    cost_scale_p: jax.Array
    carbon_price_delta_usd_per_t: jax.Array
    usage_scale_u: jax.Array


def no_change(b: int, kp: KernelProblem) -> Perturbation:
    """B copies of the unperturbed problem, to edit with `.at[...]`."""
    n_u, n_p1 = kp.objective_up1.shape
    n_p, n_s = n_p1 - 1, kp.it_cap_s.shape[0]
    return Perturbation(
        pool_up_p=jnp.ones((b, n_p), bool),
        gpu_cap_scale_p=jnp.ones((b, n_p), jnp.float32),
        site_cap_scale_s=jnp.ones((b, n_s), jnp.float32),
        cost_scale_p=jnp.ones((b, n_p), jnp.float32),
        carbon_price_delta_usd_per_t=jnp.zeros((b,), jnp.float32),
        usage_scale_u=jnp.ones((b, n_u), jnp.float32),
    )


def site_failures(kp: KernelProblem) -> Perturbation:
    """N-1: scenario s loses every pool of site s (B = S)."""
    n_p = kp.objective_up1.shape[1] - 1
    n_s = kp.it_cap_s.shape[0]
    base = no_change(n_s, kp)
    down = kp.pool_site_p1[None, :n_p] == jnp.arange(n_s)[:, None]
    return base._replace(pool_up_p=~down)


def _score_one_perturbed(
    a_u: jax.Array,
    kp: KernelProblem,
    pool_up_p: jax.Array,
    gpu_cap_scale_p: jax.Array,
    site_cap_scale_s: jax.Array,
    cost_scale_p: jax.Array,
    carbon_price_delta: jax.Array,
    usage_scale_u: jax.Array,
    loads: str,
) -> Scores:
    n_p1 = kp.objective_up1.shape[1]
    n_p, n_s1 = n_p1 - 1, kp.it_cap_s.shape[0] + 1
    a = jnp.where(jnp.append(pool_up_p, True)[a_u], a_u, n_p)  # lost pools: unplaced
    placed = a < n_p
    m = jnp.where(placed, usage_scale_u, 1.0)
    scale = jnp.append(cost_scale_p, 1.0)[a]
    cost_u = _pick(kp.cost_up1, a) * m * scale
    carbon_u = _pick(kp.carbon_up1, a) * m
    base_cost_u = _pick(kp.cost_up1, a) * m
    objective_u = jnp.where(
        placed,
        _pick(kp.objective_up1, a) * m
        + base_cost_u * (scale - 1.0)
        + carbon_u * carbon_price_delta / 1000.0,
        _pick(kp.objective_up1, a),
    )
    gpus_p = _sum_by(_pick(kp.gpus_up1, a) * m, a, n_p1, loads)[:-1]
    site = jnp.stack(
        [_pick(t, a) * m for t in (kp.it_kw_up1, kp.facility_kw_up1, kp.heat_kw_up1, kp.water_up1)],
        axis=1,
    )
    site_s4 = _sum_by(site, kp.pool_site_p1[a], n_s1, loads)[:-1]
    cost, carbon = cost_u.sum(), carbon_u.sum()
    return Scores(
        objective=objective_u.sum(),
        cost=cost,
        carbon=carbon,
        water=site[:, 3].sum(),
        gpus_over=_over(gpus_p, kp.gpu_cap_p * gpu_cap_scale_p),
        it_over=_over(site_s4[:, 0], kp.it_cap_s * site_cap_scale_s),
        facility_over=_over(site_s4[:, 1], kp.facility_cap_s * site_cap_scale_s),
        heat_over=_over(site_s4[:, 2], kp.heat_cap_s * site_cap_scale_s),
        water_over=_over(site_s4[:, 3], kp.water_cap_s * site_cap_scale_s),
        budget_over=jnp.maximum(cost - kp.budget, 0.0),
        carbon_over=jnp.maximum(carbon - kp.carbon_cap, 0.0),
        masked=(~_pick(kp.allowed_up1, a)).sum().astype(jnp.float32),
        redundancy=_duplicates(a, kp, loads),
    )


@functools.partial(jax.jit, static_argnames=("loads",))
def score_perturbed(
    a_u: jax.Array, kp: KernelProblem, pert: Perturbation, loads: str = "segment"
) -> Scores:
    """Scores one assignment int32[U] (P = unplaced) under B perturbations.

    Returns:
      Scores with float32[B] fields, scenario b in row b.
    """
    one = functools.partial(_score_one_perturbed, a_u, kp, loads=loads)
    return jax.vmap(one)(
        pert.pool_up_p,
        pert.gpu_cap_scale_p,
        pert.site_cap_scale_s,
        pert.cost_scale_p,
        pert.carbon_price_delta_usd_per_t,
        pert.usage_scale_u,
    )


__all__ = ["Perturbation", "no_change", "score_perturbed", "site_failures"]
