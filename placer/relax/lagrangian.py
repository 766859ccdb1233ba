"""Price-based (Lagrangian) relaxation of the placement problem, optimised with optax.

Capacities (pool GPUs; site IT, facility, heat kW and water L/h; the global budget and
carbon cap) get prices y >= 0 (USD/h per unit). Each unit then chooses alone:

    priced[u, p] = c[u, p] + sum_r y_r a_r[u, p]        (p a pool, or "unplaced" at v[u])
    L(y)         = sum_u min_p priced[u, p] - sum_r y_r cap_r

For ANY y >= 0, L(y) <= the optimum of the MILP (the optimal plan pays at least its
priced cost, and its usage never exceeds a capacity); dropping the redundancy rows only
lowers the minimum further. So `dual_bound` (recomputed in float64 with hard minima)
is a certified lower bound. Adam maximises a smoothed L (soft-min at temperature T,
annealed) over y = softplus(theta) x scale_r.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from placer.problem import Problem

NEG = -1e30


class PricedProblem(NamedTuple):
    """What the relaxation reads (float32, U units, P+1 choices, R priced rows).

    Attributes:
      base_up1: float32[U, P+1], objective; column P = value lost when unplaced.
      allowed_up1: bool[U, P+1]; column P allowed for optional units.
      pool_p: int32[P], GPU row of each pool.  site_p: int32[P], site of each pool.
      use_up4: float32[U, P, 4], IT, facility, heat kW and water L/h of each pair.
      gpus_up: float32[U, P].  cost_up, carbon_up: float32[U, P].
      cap_r: float32[R], capacities: P pool GPU rows, then 4 x S site rows (site-major),
        then budget and carbon cap. active_r: bool[R], finite capacities (others stay 0).
      scale_r: float32[R], price scale (USD/h per unit of the row).
    """

    base_up1: jax.Array
    allowed_up1: jax.Array
    site_p: jax.Array
    use_up4: jax.Array
    gpus_up: jax.Array
    cost_up: jax.Array
    carbon_up: jax.Array
    cap_r: jax.Array
    active_r: jax.Array
    scale_r: jax.Array


def priced_problem(problem: Problem) -> PricedProblem:
    """Float32 arrays of the relaxation, from the compiled Problem."""
    n_p, n_s = problem.num_pools, problem.num_sites
    base = np.concatenate(
        [problem.objective_usd_per_h_up, problem.unplaced_usd_per_h_u[:, None]], axis=1
    )
    allowed = np.concatenate([problem.allowed_up, ~problem.must_place_u[:, None]], axis=1)
    use = np.stack(
        [problem.it_kw_up, problem.facility_kw_up, problem.heat_kw_up, problem.water_l_per_h_up],
        axis=2,
    )
    cap = np.concatenate(
        [
            problem.gpu_cap_p,
            np.stack(
                [
                    problem.it_cap_kw_s,
                    problem.facility_cap_kw_s,
                    problem.heat_cap_kw_s,
                    problem.water_cap_l_per_h_s,
                ],
                axis=1,
            ).ravel(),
            [float(problem.budget_usd_per_h), float(problem.carbon_cap_kg_per_h)],
        ]
    )
    active = np.isfinite(cap)
    # Scale: objective per unit of the resource, on allowed pairs (a typical shadow price).
    obj = np.where(problem.allowed_up, problem.objective_usd_per_h_up, np.nan)
    usage = [problem.gpus_up, *(use[:, :, k] for k in range(4))]
    per = [
        np.nanmedian(obj / np.where(t > 0, t, np.nan)) if problem.allowed_up.any() else 1.0
        for t in usage
    ]
    per = [x if np.isfinite(x) and x > 0 else 1.0 for x in per]
    scale = np.concatenate([np.full(n_p, per[0]), np.tile(per[1:], n_s), [1.0, 1.0]])
    return PricedProblem(
        base_up1=jnp.asarray(base, jnp.float32),
        allowed_up1=jnp.asarray(allowed),
        site_p=jnp.asarray(problem.pool_site_p.astype(np.int32)),
        use_up4=jnp.asarray(use, jnp.float32),
        gpus_up=jnp.asarray(problem.gpus_up, jnp.float32),
        cost_up=jnp.asarray(problem.cost_usd_per_h_up, jnp.float32),
        carbon_up=jnp.asarray(problem.carbon_kg_per_h_up, jnp.float32),
        cap_r=jnp.asarray(np.where(active, cap, 0.0), jnp.float32),
        active_r=jnp.asarray(active),
        scale_r=jnp.asarray(scale, jnp.float32),
    )


def prices_from(theta_r: jax.Array, pp: PricedProblem) -> jax.Array:
    """y_r = softplus(theta_r) x scale_r on finite capacities, 0 elsewhere."""
    return jnp.where(pp.active_r, jax.nn.softplus(theta_r) * pp.scale_r, 0.0)


def priced_costs(y_r: jax.Array, pp: PricedProblem) -> jax.Array:
    """float32[U, P+1]: objective plus priced usage; column P is the unplaced value."""
    n_p = pp.gpus_up.shape[1]
    n_s = (y_r.shape[0] - n_p - 2) // 4
    y_gpu, y_site = y_r[:n_p], y_r[n_p : n_p + 4 * n_s].reshape(n_s, 4)
    y_budget, y_carbon = y_r[-2], y_r[-1]
    extra = (
        pp.gpus_up * y_gpu[None, :]
        + jnp.einsum("upk,pk->up", pp.use_up4, y_site[pp.site_p])
        + pp.cost_up * y_budget
        + pp.carbon_up * y_carbon
    )
    return pp.base_up1 + jnp.pad(extra, ((0, 0), (0, 1)))


def smooth_dual(theta_r: jax.Array, pp: PricedProblem, temperature: jax.Array) -> jax.Array:
    """Soft-min version of L(y) (<= L(y)): float32[], USD/h."""
    y = prices_from(theta_r, pp)
    logits = jnp.where(pp.allowed_up1, -priced_costs(y, pp) / temperature, NEG)
    softmin = -temperature * jax.nn.logsumexp(logits, axis=1)
    return softmin.sum() - (y * pp.cap_r).sum()


class RelaxResult(NamedTuple):
    """Prices (float64[R]), their certified bound (USD/h), and priced costs (float64[U, P+1])."""

    prices_r: np.ndarray
    bound: float
    priced_up1: np.ndarray
    temperature: float


def dual_bound(problem: Problem, prices_r: np.ndarray) -> tuple[float, np.ndarray]:
    """L(y) in float64 with hard minima: a valid lower bound for any y >= 0.

    Returns:
      (bound USD/h, priced costs float64[U, P+1] with +inf where not allowed).
    """
    y = np.maximum(np.asarray(prices_r, dtype=float), 0.0)
    n_p, n_s = problem.num_pools, problem.num_sites
    y_gpu, y_site = y[:n_p], y[n_p : n_p + 4 * n_s].reshape(n_s, 4)
    use = np.stack(
        [problem.it_kw_up, problem.facility_kw_up, problem.heat_kw_up, problem.water_l_per_h_up],
        axis=2,
    )
    extra = (
        problem.gpus_up * y_gpu
        + np.einsum("upk,pk->up", use, y_site[problem.pool_site_p])
        + problem.cost_usd_per_h_up * y[-2]
        + problem.carbon_kg_per_h_up * y[-1]
    )
    priced = np.concatenate(
        [problem.objective_usd_per_h_up + extra, problem.unplaced_usd_per_h_u[:, None]], axis=1
    )
    allowed = np.concatenate([problem.allowed_up, ~problem.must_place_u[:, None]], axis=1)
    priced = np.where(allowed, priced, np.inf)
    caps = np.concatenate(
        [
            problem.gpu_cap_p,
            np.stack(
                [
                    problem.it_cap_kw_s,
                    problem.facility_cap_kw_s,
                    problem.heat_cap_kw_s,
                    problem.water_cap_l_per_h_s,
                ],
                axis=1,
            ).ravel(),
            [float(problem.budget_usd_per_h), float(problem.carbon_cap_kg_per_h)],
        ]
    )
    finite = np.isfinite(caps)
    if problem.num_units == 0:
        return float(-(y[finite] * caps[finite]).sum()), priced
    return float(priced.min(axis=1).sum() - (y[finite] * caps[finite]).sum()), priced


@functools.partial(jax.jit, static_argnames=("steps", "learning_rate"))
def _optimise(
    pp: PricedProblem,
    theta0: jax.Array,
    t_start: jax.Array,
    t_end: jax.Array,
    *,
    steps: int,
    learning_rate: float,
):
    opt = optax.adam(learning_rate)
    grad = jax.grad(smooth_dual)

    def step(carry, i):
        theta, state, best_theta, best_val = carry
        frac = i / jnp.maximum(steps - 1, 1)
        temp = t_start * (t_end / t_start) ** frac  # geometric annealing
        g = grad(theta, pp, temp)
        updates, state = opt.update(-g, state, theta)  # maximise L
        theta = optax.apply_updates(theta, updates)
        val = smooth_dual(theta, pp, t_end)
        better = val > best_val
        best_theta = jnp.where(better, theta, best_theta)
        return (theta, state, best_theta, jnp.maximum(val, best_val)), val

    init = (theta0, opt.init(theta0), theta0, smooth_dual(theta0, pp, t_end))
    (_, _, best_theta, _), trace = jax.lax.scan(step, init, jnp.arange(steps))
    return best_theta, trace


def relax_prices(
    problem: Problem,
    *,
    steps: int = 1000,
    learning_rate: float = 0.02,
    pp: PricedProblem | None = None,
) -> RelaxResult:
    """Learns capacity prices with Adam; returns them with their certified bound."""
    pp = pp or priced_problem(problem)
    spread = (
        float(np.abs(problem.objective_usd_per_h_up[problem.allowed_up]).mean())
        if (problem.allowed_up.any())
        else 1.0
    )
    t_start, t_end = max(spread, 1e-3) * 0.1, max(spread, 1e-3) * 1e-3
    theta0 = jnp.full(pp.cap_r.shape, -4.0, jnp.float32)  # softplus(-4) ~ 0.018 x scale
    theta, _ = _optimise(
        pp,
        theta0,
        jnp.float32(t_start),
        jnp.float32(t_end),
        steps=steps,
        learning_rate=learning_rate,
    )
    prices = np.asarray(prices_from(theta, pp), dtype=float)
    bound, priced = dual_bound(problem, prices)
    zero_bound, _ = dual_bound(problem, np.zeros_like(prices))
    if zero_bound > bound:  # y = 0 is also valid; keep the better certificate
        bound, priced, prices = (
            zero_bound,
            dual_bound(problem, np.zeros_like(prices))[1],
            np.zeros_like(prices),
        )
    return RelaxResult(prices, bound, priced, t_end)
