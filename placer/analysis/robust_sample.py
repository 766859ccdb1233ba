"""Sampling for `placer robust`: draws of the uncertain figures, and their mapping onto
the perturbation kernel's fields (`placer.engines.kernels.perturb.Perturbation`).

Samples come in blocks of BLOCK; block i of a seed draws from
`default_rng([seed, i, family])`, one generator per family of figures (demand, energy
price, carbon, GPU price, site derates, pool losses), so a sample is the same whatever
`--samples` is, and turning one family's sd up or down leaves the others' draws as they
were. Every plan scored in one run sees the same draws (common random numbers).

What a draw changes, per plan (U units, O options, P pools, S sites, R rows):

  demand factor d_w (inference workload w)  usage_scale_u = n'/n, the replicas the unit
                                            needs on its pool at demand x d_w over those
                                            it has (rounding "replicas"), or d_w itself
                                            ("linear"); 1 for training: every amount of
                                            the unit and its objective scale with it
  carbon factor c_s (site s)                carbon amount x c_s; objective + carbon price
                                            x carbon x (c_s - 1)                  exact
  energy price factor e_s, GPU price g_p    cost amount x (1 + delta_o) and objective +
                                            cost x delta_o, delta_o = ((e_s - 1) E_o +
                                            (g_p - 1) G_o) / C_o over the plan's units on
                                            option o (see below)
  site derate (keep share k_s)              cap of the site's IT, facility, heat rows x k_s
  pool loss (share f of its GPUs)           f = 1: the pool's options are down (its units
                                            unplaced); f < 1: its GPU rows x (1 - f)

E_o, G_o, C_o: the energy part, the GPU-hour part and the whole of the plan's cost on
option o, USD/h. Compile is linear in the tariff and in GPU-hour prices, so the energy
part of every pair's cost is 2 x (cost - cost with every tariff halved), and the GPU
part likewise (`robust_fleet.cost_split`): read off compile itself, never re-derived
here. The price change is then exact for the plan's cost, objective and budget row
whenever the units sharing an option have the same demand factor (always when the
demand sd is 0); else it is first-order (the error is the covariance, within one
option, of demand factors and energy shares). Demand: with "replicas", a unit's GPUs and
kW are exact (n' = max(1, ceil(d x share / rps per replica)), as compile rounds them),
and its energy, cost, carbon and water scale with its replicas (each replica's
utilisation held: first-order); with "linear", every amount scales with d (fractional
replicas), the kernel's own model.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from placer.analysis.robust_fleet import Fleet, MovedRun, PlanExposure
from placer.engines.kernels.perturb import Perturbation
from placer.model.uncertainty import Uncertainty
from placer.problem.rows import K_FACILITY, K_GPUS, K_HEAT, K_IT, Q_CARBON, Q_COST

#: Samples per block: the unit of the random streams and of one kernel call.
BLOCK = 128
#: Families of figures, each with its own random stream per block.
DEMAND, PRICE, CARBON, GPU, DERATE, POOL = range(6)
#: Row kinds a site derate scales: the power it can feed, draw and cool.
DERATED_KINDS = (K_IT, K_FACILITY, K_HEAT)


@dataclass(frozen=True)
class Draws:
    """One block of B samples of every uncertain figure (float64 factors, mean ~1).

    Attributes:
      demand_w: [B, W] per inference workload.   price_s, carbon_s, derate_s: [B, S]
      (derate_s: share of capacity kept).   gpu_p, pool_keep_p: [B, P] (pool_keep_p:
      share of GPUs kept).   pool_down_p: bool[B, P], the whole pool is lost.
    """

    demand_w: np.ndarray
    price_s: np.ndarray
    carbon_s: np.ndarray
    gpu_p: np.ndarray
    derate_s: np.ndarray
    pool_keep_p: np.ndarray
    pool_down_p: np.ndarray


def _groups(keys: tuple[str, ...], group_by: str) -> tuple[np.ndarray, int]:
    """(group of each member int64[n], number of groups) for a one-factor model."""
    if group_by == "fleet":
        return np.zeros(len(keys), np.int64), 1
    if group_by == "none":
        return np.arange(len(keys), dtype=np.int64), len(keys)
    names = sorted(set(keys))
    return np.array([names.index(k) for k in keys], np.int64).reshape(len(keys)), len(names)


def factors(
    rng: np.random.Generator,
    b: int,
    group_n: np.ndarray,
    n_groups: int,
    sd_n: np.ndarray,
    rho: float,
    distribution: str,
) -> np.ndarray:
    """float64[b, n] factors: X = sqrt(rho) Z_group + sqrt(1 - rho) e (each N(0, 1)),
    then normal max(0, 1 + sd X) or lognormal exp(sd X - sd^2 / 2). sd = 0 gives
    exactly 1."""
    z = rng.standard_normal((b, n_groups))
    e = rng.standard_normal((b, group_n.size))
    x = np.sqrt(rho) * z[:, group_n] + np.sqrt(1.0 - rho) * e
    if distribution == "normal":
        return np.maximum(0.0, 1.0 + sd_n * x)
    return np.exp(sd_n * x - 0.5 * sd_n**2)


@dataclass(frozen=True)
class Sampler:
    """The uncertainty resolved onto the fleet's axes: sds, groups, probabilities."""

    fleet: Fleet
    uncertainty: Uncertainty
    demand_sd_w: np.ndarray
    price_sd_s: np.ndarray
    carbon_sd_s: np.ndarray
    derate_prob_s: np.ndarray
    derate_keep_s: np.ndarray

    def draw(self, seed: int, block: int, b: int = BLOCK) -> Draws:
        """Block `block` of `seed`: b samples (always the same ones)."""
        u, f = self.uncertainty, self.fleet

        def rng(family: int) -> np.random.Generator:
            return np.random.default_rng([seed, block, family])

        n_w = len(f.services)
        d = u.demand
        one_group = np.zeros(n_w, np.int64)
        demand = factors(
            rng(DEMAND), b, one_group, 1, self.demand_sd_w, d.correlation, d.distribution
        )
        site = []
        for family, spec, sd_s in (
            (PRICE, u.energy_price, self.price_sd_s),
            (CARBON, u.carbon_intensity, self.carbon_sd_s),
        ):
            g, n = _groups(f.country_s, spec.group_by)
            site.append(factors(rng(family), b, g, n, sd_s, spec.correlation, spec.distribution))
        g, n = _groups(f.accelerator_p, u.gpu_cost.group_by)
        n_p = len(f.accelerator_p)
        gpu = factors(
            rng(GPU),
            b,
            g,
            n,
            np.full(n_p, u.gpu_cost.sd),
            u.gpu_cost.correlation,
            u.gpu_cost.distribution,
        )
        hit_s = rng(DERATE).random((b, self.derate_prob_s.size)) < self.derate_prob_s
        cap = u.capacity
        hit_p = rng(POOL).random((b, n_p)) < cap.pool_loss_probability
        whole = cap.pool_loss_fraction >= 1.0
        return Draws(
            demand_w=demand,
            price_s=site[0],
            carbon_s=site[1],
            gpu_p=gpu,
            derate_s=np.where(hit_s, self.derate_keep_s, 1.0),
            pool_keep_p=np.where(hit_p & (not whole), 1.0 - cap.pool_loss_fraction, 1.0),
            pool_down_p=hit_p & whole,
        )

    def usage(self, plan: PlanExposure, d: Draws) -> np.ndarray:
        """float64[B, U]: each unit's usage scale (module doc; 1 for training)."""
        f = self.fleet
        b = d.demand_w.shape[0]
        usage = np.ones((b, f.problem.num_units))
        svc = f.workload_u >= 0
        usage[:, svc] = d.demand_w[:, f.workload_u[svc]]
        if self.uncertainty.demand.rounding == "linear":
            return usage
        sized = plan.load_u > 0
        need = np.ceil(usage[:, sized] * plan.load_u[sized] - 1e-9)
        usage[:, sized] = np.maximum(1.0, need) / plan.replicas_u[sized]
        return usage

    def perturbation(self, plan: PlanExposure, d: Draws) -> Perturbation:
        """The kernel's Perturbation of one plan under a block of draws (module doc)."""
        f, p = self.fleet, self.fleet.problem
        site_o, pool_o = p.site_o, p.pool_o
        b = d.price_s.shape[0]
        usage = self.usage(plan, d)
        with np.errstate(divide="ignore", invalid="ignore"):
            share_e = np.where(plan.cost_o != 0, plan.energy_o / plan.cost_o, 0.0)
            share_g = np.where(plan.cost_o != 0, plan.gpu_o / plan.cost_o, 0.0)
        delta = (d.price_s[:, site_o] - 1.0) * share_e + (d.gpu_p[:, pool_o] - 1.0) * share_g
        carbon = d.carbon_s[:, site_o]
        up = ~d.pool_down_p[:, pool_o]
        for m in f.moved:  # a run that moves: its sites' and pools' factors, in its shares
            _mix_moved(m, plan, d, delta, carbon, up)
        n_q = p.num_quantities
        scale = np.ones((b, p.num_options, n_q))
        price = np.zeros((b, p.num_options, n_q))
        scale[:, :, Q_COST] = 1.0 + delta
        price[:, :, Q_COST] = delta
        scale[:, :, Q_CARBON] = carbon
        price[:, :, Q_CARBON] = f.carbon_usd_per_kg * (carbon - 1.0)
        cap = np.ones((b, p.num_rows))
        derated = np.isin(p.kind_r, DERATED_KINDS)
        cap[:, derated] = d.derate_s[:, p.scope_r[derated]]
        gpu_rows = p.kind_r == K_GPUS
        cap[:, gpu_rows] = d.pool_keep_p[:, p.scope_r[gpu_rows]]
        return Perturbation(
            option_up_o=jnp.asarray(up),
            cap_scale_r=jnp.asarray(cap, jnp.float32),
            amount_scale_oq=jnp.asarray(scale, jnp.float32),
            price_delta_oq=jnp.asarray(price, jnp.float32),
            usage_scale_u=jnp.asarray(usage, jnp.float32),
        )


def _mix_moved(
    m: MovedRun,
    plan: PlanExposure,
    d: Draws,
    delta: np.ndarray,
    carbon: np.ndarray,
    up: np.ndarray,
) -> None:
    """Writes a moved run's option's column of delta, carbon and up ([B, O]): the price
    change of its energy at each site and of its GPU-hours on each pool over its cost,
    its carbon factor as its sites' in its carbon shares, and lost if any of its pools
    is (the single-pool formulas of `Sampler.perturbation` with one site and pool)."""
    o = m.option
    up[:, o] = ~d.pool_down_p[:, list(m.pools)].any(axis=1)
    cost = plan.cost_o[o]
    if cost != 0:
        change = sum((d.price_s[:, s] - 1.0) * e for s, e in m.energy_s.items())
        change = change + sum((d.gpu_p[:, p] - 1.0) * g for p, g in m.gpu_p.items())
        delta[:, o] = change / cost
    total = sum(m.carbon_s.values())
    if total > 0:
        carbon[:, o] = sum(d.carbon_s[:, s] * c for s, c in m.carbon_s.items()) / total


def make_sampler(fleet: Fleet, u: Uncertainty) -> Sampler:
    """Resolves per-workload and per-site overrides onto the fleet's axes."""
    sites = fleet.index.sites
    cap = u.capacity
    prob_s, keep_s = [], []
    for s in sites:
        risk = cap.sites.get(s)
        prob_s.append(cap.site_derate_probability if risk is None else risk.derate_probability)
        lost = cap.site_derate_fraction
        if risk is not None and risk.derate_fraction is not None:
            lost = risk.derate_fraction
        keep_s.append(1.0 - lost)
    price, carbon = u.energy_price, u.carbon_intensity
    return Sampler(
        fleet=fleet,
        uncertainty=u,
        demand_sd_w=np.array([u.demand.workloads.get(w, u.demand.sd) for w in fleet.services]),
        price_sd_s=np.array([price.sites.get(s, price.sd) for s in sites]),
        carbon_sd_s=np.array([carbon.sites.get(s, carbon.sd) for s in sites]),
        derate_prob_s=np.array(prob_s),
        derate_keep_s=np.array(keep_s),
    )


__all__ = [
    "BLOCK",
    "DERATED_KINDS",
    "Draws",
    "Sampler",
    "factors",
    "make_sampler",
]
