"""`placer robust --solve mean|cvar`: a robust choice among candidate plans.

Method (sample average approximation over a candidate set, not a stochastic program):

1. Candidates: the plan under study; the nominal solve; and solves of stressed
   scenarios, each figure at the 95th percentile of its distribution (a factor of
   1 + 1.645 sd, or its lognormal quantile): every inference workload's demand
   ("demand-p95"); every site's tariff and pool's GPU-hour price ("prices-p95");
   capacities less their expected loss ("capacity-mean": a site's IT, grid and heat
   capacity x (1 - probability x derate share), a pool's GPUs x (1 - probability x loss
   share), rounded down: headroom in proportion to the risk; a joint 95th percentile of
   independent losses would take every risky pool down at once); and all of them at once
   ("all-stressed"). A stress that changes nothing (sd 0, no capacity risk) adds no
   candidate.
2. Every candidate is scored on the same samples (common random numbers) by the kernel.
3. The chosen candidate has the least sample mean, or the least CVaR_alpha (the mean of
   the worst 1 - alpha share of samples), of the *penalized* objective: the objective
   plus the kernel's penalties for violations, so a plan that is cheap on paper but
   overruns its caps in many samples pays for it.

Limits: the best robust plan may be none of the candidates; the penalties are the
kernel's weights, not a model of what an overrun costs; candidates are solved with the
given solver and time limit each, so the total time is about (candidates - 1) solves.
"""

from __future__ import annotations

import dataclasses
import time
from statistics import NormalDist

import numpy as np

from placer import api
from placer.analysis.robust import cvar, score_plans
from placer.analysis.robust_fleet import expose, with_schedules
from placer.analysis.robust_report import Candidate, RobustSolve
from placer.analysis.robust_sample import Sampler
from placer.errors import OptionError
from placer.model.scenario import Scenario
from placer.model.workload import Inference
from placer.plan.plan import Plan

#: The stressed scenarios' percentile.
STRESS_QUANTILE = 0.95


def quantile_factor(sd: np.ndarray | float, distribution: str, q: float = STRESS_QUANTILE):
    """The q-quantile of a factor (uncertainty module doc): normal max(0, 1 + sd z_q),
    lognormal exp(sd z_q - sd^2 / 2)."""
    z = NormalDist().inv_cdf(q)
    sd = np.asarray(sd, np.float64)
    if distribution == "normal":
        return np.maximum(0.0, 1.0 + sd * z)
    return np.exp(sd * z - 0.5 * sd**2)


def _times(value, factor: float):
    return [x * factor for x in value] if isinstance(value, list) else value * factor


def with_demand(scenario: Scenario, factor_w: dict[str, float]) -> Scenario:
    """The scenario with each named inference workload's demand x its factor."""
    workloads = []
    for w in scenario.workloads:
        if isinstance(w, Inference) and factor_w.get(w.id, 1.0) != 1.0:
            f = factor_w[w.id]
            demand = {r: _times(d, f) for r, d in w.demand_rps.items()}
            w = w.model_copy(update={"demand_rps": demand})
        workloads.append(w)
    return scenario.model_copy(update={"workloads": workloads})


def with_sites(
    scenario: Scenario,
    price_s: dict[str, float],
    gpu_p: dict[tuple[str, str], float],
    keep_s: dict[str, float],
    pool_keep_p: dict[tuple[str, str], float],
) -> Scenario:
    """The scenario with tariffs x price_s, GPU-hour prices x gpu_p (by (site, pool
    key)), IT / grid / heat capacities x keep_s and pool GPUs x pool_keep_p (rounded
    down). Not validated again: every factor keeps figures in range but demand."""
    sites = []
    for site in scenario.sites:
        keep = keep_s.get(site.id, 1.0)
        power = site.power.model_copy(
            update={
                "price_usd_per_kwh": _times(site.power.price_usd_per_kwh, price_s.get(site.id, 1)),
                "it_capacity_kw": None
                if site.power.it_capacity_kw is None
                else _times(site.power.it_capacity_kw, keep),
                "grid_cap_kw": None
                if site.power.grid_cap_kw is None
                else _times(site.power.grid_cap_kw, keep),
            }
        )
        heat = site.cooling.heat_rejection_kw
        cooling = site.cooling.model_copy(
            update={"heat_rejection_kw": None if heat is None else heat * keep}
        )
        pools = []
        for pool in site.pools:
            g, k = gpu_p.get((site.id, pool.key), 1.0), pool_keep_p.get((site.id, pool.key), 1.0)
            spot = pool.spot_cost_usd_per_gpu_h
            gpus = pool.gpus
            whole = [int(x * k) for x in gpus] if isinstance(gpus, list) else int(gpus * k)
            pools.append(
                pool.model_copy(
                    update={
                        "cost_usd_per_gpu_h": pool.cost_usd_per_gpu_h * g,
                        "spot_cost_usd_per_gpu_h": None if spot is None else spot * g,
                        "gpus": whole,
                    }
                )
            )
        sites.append(site.model_copy(update={"power": power, "cooling": cooling, "pools": pools}))
    return scenario.model_copy(update={"sites": sites})


def stressed_scenarios(sampler: Sampler) -> list[tuple[str, str, Scenario]]:
    """(label, description, scenario) of each stress that changes something (module doc)."""
    f, u = sampler.fleet, sampler.uncertainty
    scenario, index = f.scenario, f.index
    demand_f = quantile_factor(sampler.demand_sd_w, u.demand.distribution).tolist()
    demand = dict(zip(f.services, demand_f, strict=True))
    price_f = quantile_factor(sampler.price_sd_s, u.energy_price.distribution).tolist()
    price = dict(zip(index.sites, price_f, strict=True))
    gpu_f = float(quantile_factor(u.gpu_cost.sd, u.gpu_cost.distribution))
    gpu = {(p.site, p.key): gpu_f for p in index.pools}
    expected_keep = 1.0 - sampler.derate_prob_s * (1.0 - sampler.derate_keep_s)
    keep = {s: float(k) for s, k in zip(index.sites, expected_keep, strict=True) if k < 1.0}
    cap = u.capacity
    pool_f = 1.0 - cap.pool_loss_probability * cap.pool_loss_fraction
    pool_keep = {(p.site, p.key): pool_f for p in index.pools} if pool_f < 1.0 else {}
    stresses = {
        "demand-p95": (
            "every inference workload's demand at its 95th percentile",
            any(v != 1.0 for v in demand.values()),
        ),
        "prices-p95": (
            "every tariff and GPU-hour price at its 95th percentile",
            any(v != 1.0 for v in price.values()) or gpu_f != 1.0,
        ),
        "capacity-mean": (
            "every capacity less its expected loss (probability x share lost)",
            bool(keep) or bool(pool_keep),
        ),
    }
    active = [name for name, (_, on) in stresses.items() if on]

    def build(names: list[str]) -> Scenario:
        s = with_demand(scenario, demand) if "demand-p95" in names else scenario
        prices_on = "prices-p95" in names
        caps_on = "capacity-mean" in names
        return with_sites(
            s,
            price if prices_on else {},
            gpu if prices_on else {},
            keep if caps_on else {},
            pool_keep if caps_on else {},
        )

    out = [(name, stresses[name][0], build([name])) for name in active]
    if len(active) > 1:
        out.append(("all-stressed", "every stress above at once", build(active)))
    return out


def robust_solve(
    sampler: Sampler,
    given: Plan,
    *,
    measure: str = "cvar",
    alpha: float = 0.95,
    samples: int = 1000,
    seed: int = 0,
    solver: str = "auto",
    time_limit_s: float = 60.0,
) -> tuple[RobustSolve, Plan]:
    """Solves the candidates, scores them on the same samples and picks the best.

    Args:
      sampler: from `robust.prepare`.   given: the plan under study (a candidate).
      measure: "mean" (sample average) or "cvar" (CVaR_alpha) of the penalized objective.
      alpha: the CVaR level.   samples, seed: the samples (as for the report).
      solver, time_limit_s: how each candidate is solved (`placer.api.solve`).

    Returns:
      (the RobustSolve summary, the chosen Plan).

    Raises:
      OptionError: an unknown measure, or a bad solver option.
    """
    if measure not in ("mean", "cvar"):
        raise OptionError(f"solve: {measure!r}; choose mean or cvar")
    plans = [("given", "the plan under study (PLAN)", given, 0.0)]
    nominal = [("nominal", "the scenario as written", sampler.fleet.scenario)]
    for label, description, scenario in nominal + stressed_scenarios(sampler):
        started = time.perf_counter()
        plan = api.solve(scenario, solver=solver, time_limit_s=time_limit_s, seed=seed)
        plans.append((label, description, plan, time.perf_counter() - started))
    # the candidates' paused or moved runs as options of the fleet they are scored on
    fleet = with_schedules(sampler.fleet, [(plan, label) for label, _, plan, _ in plans])
    sampler = dataclasses.replace(sampler, fleet=fleet)
    exposures = [expose(fleet, plan, label, strict=False) for label, _, plan, _ in plans]
    tallies = score_plans(sampler, exposures, samples, seed)
    candidates = []
    for (label, description, plan, solve_s), tally in zip(plans, tallies, strict=True):
        pen = tally.figures["penalized"]
        mean, tail = float(pen.mean()), cvar(pen, alpha)
        candidates.append(
            Candidate(
                label=label,
                description=description,
                status=plan.status,
                solve_s=solve_s,
                measure_usd_per_h=mean if measure == "mean" else tail,
                mean_usd_per_h=mean,
                cvar_usd_per_h=tail,
                mean_objective_usd_per_h=float(tally.figures["objective"].mean()),
                feasible=float((~tally.figures["violation"].any(axis=1)).mean()),
            )
        )
    best = min(range(len(candidates)), key=lambda i: candidates[i].measure_usd_per_h)
    candidates[best] = candidates[best].model_copy(update={"chosen": True})
    summary = RobustSolve(
        measure=measure,
        alpha=alpha,
        solver=solver,
        chosen=candidates[best].label,
        candidates=candidates,
    )
    return summary, plans[best][2]


__all__ = [
    "quantile_factor",
    "robust_solve",
    "stressed_scenarios",
    "with_demand",
    "with_sites",
]
