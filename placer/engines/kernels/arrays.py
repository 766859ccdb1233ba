"""The Problem as float32 JAX arrays: what every kernel reads.

Capacities of `inf` (no cap) become BIG, a large finite number, so that kernels never
produce inf/nan (their gradients stay finite). Unplaced units use an extra "pool"
column P (and site S) whose usage is 0, so gathers need no branches.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from placer.problem.form import Problem

BIG = 1e30


class KernelProblem(NamedTuple):
    """Dense float32 arrays (U units, P pools, S sites, G redundancy groups).

    Attributes:
      objective_up1: float32[U, P+1], objective USD/h; column P = value lost unplaced.
      cost_up1, carbon_up1, water_up1: float32[U, P+1], USD/h, kg/h, L/h (0 in column P).
      gpus_up1, it_kw_up1, facility_kw_up1, heat_kw_up1: float32[U, P+1] (0 in column P).
      allowed_up1: bool[U, P+1]; column P is True unless the unit must be placed.
      pool_site_p1: int32[P+1], site of each pool; S for the unplaced column.
      gpu_cap_p: float32[P].  it_cap_s, facility_cap_s, heat_cap_s, water_cap_s: float32[S].
      budget, carbon_cap: float32[] (BIG: none).
      group_u: int32[U] (-1: none).  spread_key_gp1: int32[G, P+1] (S: unplaced).
    """

    objective_up1: jnp.ndarray
    cost_up1: jnp.ndarray
    carbon_up1: jnp.ndarray
    water_up1: jnp.ndarray
    gpus_up1: jnp.ndarray
    it_kw_up1: jnp.ndarray
    facility_kw_up1: jnp.ndarray
    heat_kw_up1: jnp.ndarray
    allowed_up1: jnp.ndarray
    pool_site_p1: jnp.ndarray
    gpu_cap_p: jnp.ndarray
    it_cap_s: jnp.ndarray
    facility_cap_s: jnp.ndarray
    heat_cap_s: jnp.ndarray
    water_cap_s: jnp.ndarray
    budget: jnp.ndarray
    carbon_cap: jnp.ndarray
    group_u: jnp.ndarray
    spread_key_gp1: jnp.ndarray


def _finite(a: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(a), a, BIG).astype(np.float32)


def _with_unplaced(table: np.ndarray, last: np.ndarray | float = 0.0) -> np.ndarray:
    col = np.broadcast_to(np.asarray(last, dtype=float), (table.shape[0],))[:, None]
    return np.concatenate([table, col], axis=1).astype(np.float32)


def to_kernel(problem: Problem) -> KernelProblem:
    """Converts the compiled Problem (float64 NumPy) to kernel arrays (float32 JAX)."""
    n_s = problem.num_sites
    spread = np.concatenate(
        [problem.spread_key_gp, np.full((problem.num_groups, 1), n_s, np.int32)], axis=1
    )
    return KernelProblem(
        objective_up1=jnp.asarray(
            _with_unplaced(problem.objective_usd_per_h_up, problem.unplaced_usd_per_h_u)
        ),
        cost_up1=jnp.asarray(_with_unplaced(problem.cost_usd_per_h_up)),
        carbon_up1=jnp.asarray(_with_unplaced(problem.carbon_kg_per_h_up)),
        water_up1=jnp.asarray(_with_unplaced(problem.water_l_per_h_up)),
        gpus_up1=jnp.asarray(_with_unplaced(problem.gpus_up)),
        it_kw_up1=jnp.asarray(_with_unplaced(problem.it_kw_up)),
        facility_kw_up1=jnp.asarray(_with_unplaced(problem.facility_kw_up)),
        heat_kw_up1=jnp.asarray(_with_unplaced(problem.heat_kw_up)),
        allowed_up1=jnp.asarray(
            np.concatenate([problem.allowed_up, ~problem.must_place_u[:, None]], axis=1)
        ),
        pool_site_p1=jnp.asarray(np.append(problem.pool_site_p, n_s).astype(np.int32)),
        gpu_cap_p=jnp.asarray(_finite(problem.gpu_cap_p)),
        it_cap_s=jnp.asarray(_finite(problem.it_cap_kw_s)),
        facility_cap_s=jnp.asarray(_finite(problem.facility_cap_kw_s)),
        heat_cap_s=jnp.asarray(_finite(problem.heat_cap_kw_s)),
        water_cap_s=jnp.asarray(_finite(problem.water_cap_l_per_h_s)),
        budget=jnp.asarray(_finite(np.asarray(problem.budget_usd_per_h))),
        carbon_cap=jnp.asarray(_finite(np.asarray(problem.carbon_cap_kg_per_h))),
        group_u=jnp.asarray(problem.group_u.astype(np.int32)),
        spread_key_gp1=jnp.asarray(spread.astype(np.int32)),
    )


def to_pool_index(assign_u: np.ndarray, num_pools: int) -> np.ndarray:
    """Maps -1 (unplaced) to the extra column P: int32[..., U]."""
    a = np.asarray(assign_u, dtype=np.int32)
    return np.where(a < 0, num_pools, a).astype(np.int32)
