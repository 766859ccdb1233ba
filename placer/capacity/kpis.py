"""The figures a capacity plan is judged by (docs/capacity.md "KPIs").

All read from the plan's placements checked against the built scenario
(`check.built_plan`: the scenario with the plan's capacity added month by month, compiled
on its own) and from the plan's monthly spend; money is undiscounted USD over the
horizon unless the name says NPV.

- **Spend**: placement (cloud GPU-hours at their on-demand price less what committed GPUs
  replace, on-prem energy and running cost) + capex + opex, lease and commitment
  payments, month by month as `CapacityResult.months` states it.
- **Cost per GPU-hour**: all spend / GPU-hours used (inference: GPUs x 730 h a month it
  serves; training: GPUs x the run's hours). Per training GPU-hour and per 1k tokens the
  spend is allocated: each placement carries its own placement cost, and the rest of the
  spend (capex, opex, leases, commitments less the on-demand spend they replace) is
  shared in proportion to the GPU-hours each placement runs on owned (edge, on-prem) or
  committed cloud GPUs (a cloud site-month's committed share of its GPUs, pro rata).
  Cost per 1k tokens: token-served workloads (`tokens:`, docs/serving.md) only, over the
  prompt and output tokens they serve (the plan's token figures x 3,600 x 730 a month).
- **Utilisation**, per site and pool and month: GPUs used / GPUs installed (builds
  included) at edge and on-prem sites; at a cloud site, committed GPUs in use /
  committed GPUs held (none: no commitment held that month). The mean is over the months
  with capacity.
- **Power**, per site and month: facility power drawn (IT x PUE, MW) against the
  facility cap (the lower of the grid connection and IT capacity x PUE, after builds).
- **ROI of each purchase**: its NPV saving / its capex (undiscounted, as paid; an option
  without capex: / its own net present cost). The saving is measured by re-solving, not
  from duals: every purchase of the plan is fixed, the placement re-optimised, once as
  planned and once without that purchase; saving = cost without - cost with (NPV, USD,
  net of the purchase's own cost). None when removing it leaves no plan ("needed").
  A new site (kind: site) is removed with every purchase at it, and its ROI is their
  saving over their capex together.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from placer.capacity.check import built_plan
from placer.capacity.solve import CapacityResult, solve_model
from placer.model.build_options import MONTH_HOURS
from placer.model.horizon import per_period
from placer.model.workload import Inference

#: MW per kW.
MW_PER_KW = 1e-3


@dataclass(frozen=True)
class PurchaseRoi:
    """One purchase's value: option, order month, units, NPV saving (USD), ROI."""

    option: str
    order_month: int
    units: int
    npv_saving_usd: float | None
    roi: float | None
    basis: str
    note: str = ""


@dataclass(frozen=True)
class CapacityKpis:
    """The KPIs of one capacity plan (module docstring for every definition).

    Attributes:
      spend_usd: all spend over the horizon, undiscounted, USD.
      gpu_hours: GPU-hours used.   usd_per_gpu_h: spend / GPU-hours.
      training_gpu_hours, usd_per_training_gpu_h: training's (None without training;
        training_note says why).
      tokens, usd_per_1k_tokens, usd_per_1k_tokens_placement_only: token-served
        workloads' tokens served and their allocated cost per 1,000 (and placement cost
        alone); None without token-served workloads (tokens_note says why).
      utilization: site -> {"months": [float|None], "mean": float|None, "pools":
        {pool: {"months": [...], "mean": ...}}}.
      power_mw: site -> {"used": [MW], "cap": [MW|None], "peak_share": float|None}.
      roi: one entry per purchase (empty when not measured; roi_note says why).
    """

    spend_usd: float
    gpu_hours: float
    usd_per_gpu_h: float | None
    training_gpu_hours: float
    usd_per_training_gpu_h: float | None
    training_note: str
    tokens: float
    usd_per_1k_tokens: float | None
    usd_per_1k_tokens_placement_only: float | None
    tokens_note: str
    utilization: dict[str, dict] = field(default_factory=dict)
    power_mw: dict[str, dict] = field(default_factory=dict)
    roi: list[PurchaseRoi] = field(default_factory=list)
    roi_note: str = ""


def capacity_kpis(
    result: CapacityResult, *, roi: bool = True, time_limit_s: float = 15.0, seed: int = 0
) -> CapacityKpis | None:
    """The KPIs of a solved plan (None without one)."""
    if result.assign_u is None or result.model is None:
        return None
    built, plan, _ = built_plan(result)
    n_t = built.horizon.periods
    spend = sum(m["placement_usd"] + m["capex_usd"] + m["opex_usd"] for m in result.months)
    placed = sum(p.cost_usd or 0.0 for p in plan.placements)
    fixed = spend - placed
    owned_share = _owned_share(built, result, n_t)
    rows = []  # (placement, gpu_hours, weight gpu-hours on owned/committed)
    for p in plan.placements:
        months = _months_of(p)
        gh = p.gpus * (p.hours if p.kind == "training" and p.hours else MONTH_HOURS * len(months))
        per = gh / max(1, len(months))
        weight = sum(per * owned_share.get((p.site, t), 0.0) for t in months)
        rows.append((p, gh, weight))
    total_gh = sum(gh for _, gh, _ in rows)
    total_w = sum(w for _, _, w in rows)

    def allocated(keep) -> float:
        out = 0.0
        for p, gh, w in rows:
            if keep(p):
                share = w / total_w if total_w > 0 else (gh / total_gh if total_gh else 0.0)
                out += (p.cost_usd or 0.0) + fixed * share
        return out

    train_gh = sum(gh for p, gh, _ in rows if p.kind == "training")
    has_training = any(w.kind == "training" for w in built.workloads)
    train_note = "" if train_gh > 0 else (
        "no training run is placed" if has_training else "the scenario has no training workloads"
    )  # fmt: skip
    token_ids = {w.id for w in built.workloads if isinstance(w, Inference) and w.tokens}
    tokens = sum(
        ((p.prompt_tokens_per_s or 0.0) + (p.output_tokens_per_s or 0.0)) * 3600 * MONTH_HOURS
        for p in plan.placements
        if p.workload in token_ids
    )
    token_note = "" if tokens > 0 else (
        "no token-served placement" if token_ids
        else "no inference workload carries `tokens` (docs/serving.md)"
    )  # fmt: skip
    placement_tokens = sum(p.cost_usd or 0.0 for p in plan.placements if p.workload in token_ids)
    return CapacityKpis(
        spend_usd=spend,
        gpu_hours=total_gh,
        usd_per_gpu_h=spend / total_gh if total_gh else None,
        training_gpu_hours=train_gh,
        usd_per_training_gpu_h=(
            allocated(lambda p: p.kind == "training") / train_gh if train_gh else None
        ),
        training_note=train_note,
        tokens=tokens,
        usd_per_1k_tokens=(
            allocated(lambda p: p.workload in token_ids) / (tokens / 1e3) if tokens else None
        ),
        usd_per_1k_tokens_placement_only=placement_tokens / (tokens / 1e3) if tokens else None,
        tokens_note=token_note,
        utilization=_utilization(built, plan, result, n_t),
        power_mw=_power(plan),
        roi=purchase_roi(result, time_limit_s=time_limit_s, seed=seed) if roi else [],
        roi_note="" if roi else "not measured (--no-roi)",
    )


def _months_of(p) -> list[int]:
    """The months a placement runs in."""
    if p.period is not None:
        return [p.period]
    first = p.start_period or 0
    return list(range(first, first + (p.periods or 1)))


def _committed(result: CapacityResult, n_t: int) -> dict[tuple[str, int], tuple[float, float]]:
    """(cloud site, month) -> (committed GPUs in use, cloud GPUs in use)."""
    out = {}
    for t, row in enumerate(result.months[:n_t]):
        for site, use in row["gpus_by_site"].items():
            if "committed" in use or "on_demand" in use:
                c = use.get("committed", 0.0)
                out[(site, t)] = (c, c + use.get("on_demand", 0.0))
    return out


def _owned_share(built, result: CapacityResult, n_t: int) -> dict[tuple[str, int], float]:
    """(site, month) -> share of its GPUs in use that are owned or committed."""
    out = {}
    for site in built.sites:
        if site.tier != "cloud":
            for t in range(n_t):
                out[(site.id, t)] = 1.0
    for key, (c, used) in _committed(result, n_t).items():
        out[key] = c / used if used > 0 else 0.0
    return out


def _held(result: CapacityResult, n_t: int) -> dict[tuple[str, str], list[float]]:
    """(cloud site, pool) -> committed GPUs held each month."""
    out: dict[tuple[str, str], list[float]] = {}
    cm = result.model
    for opt in cm.options:
        if opt.kind != "cloud_commit":
            continue
        held = out.setdefault((opt.site, opt.pool), [0.0] * n_t)
        for t, n in enumerate(result.installed.get(opt.id, [0] * n_t)):
            held[t] += n * opt.gpus
    return out


def _utilization(built, plan, result: CapacityResult, n_t: int) -> dict[str, dict]:
    """Per site and pool, GPUs used / installed (cloud: committed in use / held)."""
    used: dict[tuple[str, str], np.ndarray] = {}
    for p in plan.placements:
        arr = used.setdefault((p.site, p.pool), np.zeros(n_t))
        for t in _months_of(p):
            if 0 <= t < n_t:
                arr[t] += p.gpus
    held = _held(result, n_t)
    committed = _committed(result, n_t)
    out: dict[str, dict] = {}
    for site in built.sites:
        pools, site_used, site_cap = {}, np.zeros(n_t), np.zeros(n_t)
        for pool in site.pools:
            if site.tier == "cloud":
                cap = np.array(held.get((site.id, pool.key), [0.0] * n_t))
                use = np.minimum(
                    cap, [committed.get((site.id, t), (0.0, 0.0))[0] for t in range(n_t)]
                )
            else:
                cap = np.array(per_period(pool.gpus, n_t, 0.0), float)
                use = used.get((site.id, pool.key), np.zeros(n_t))
            site_used += use
            site_cap += cap
            pools[pool.key] = _series(use, cap)
        out[site.id] = {**_series(site_used, site_cap), "pools": pools}
    return out


def _series(use: np.ndarray, cap: np.ndarray) -> dict:
    """{"months": used / cap per month (None: no capacity), "mean": over months with it}."""
    shares = [float(u / c) if c > 0 else None for u, c in zip(use, cap, strict=True)]
    known = [s for s in shares if s is not None]
    return {"months": shares, "mean": float(np.mean(known)) if known else None}


def _power(plan) -> dict[str, dict]:
    """Per site: facility MW drawn and the facility cap, each month, and the peak share."""
    out = {}
    for sp in plan.site_periods:
        used = [kw * MW_PER_KW for kw in sp.facility_kw]
        cap = [None if c is None else c * MW_PER_KW for c in sp.facility_cap_kw]
        shares = [u / c for u, c in zip(used, cap, strict=True) if c]
        out[sp.site] = {"used": used, "cap": cap, "peak_share": max(shares) if shares else None}
    return out


def purchase_roi(
    result: CapacityResult, *, time_limit_s: float = 15.0, seed: int = 0
) -> list[PurchaseRoi]:
    """Each purchase's NPV saving and ROI, by re-solving (module docstring)."""
    cm = result.model
    if cm is None or not result.purchases:
        return []
    model = cm.model
    counts = {(k, m): 0 for k, m, _ in cm.build_cols}
    by_key = {}
    for p in result.purchases:
        k = next(i for i, o in enumerate(cm.options) if o.id == p.option)
        counts[(k, p.order_month)] = p.units
        by_key[(k, p.order_month)] = p
    cols = {(k, m): c for k, m, c in cm.build_cols}
    saved = {
        c: (model.get_variable(c).lower_bound, model.get_variable(c).upper_bound)
        for c in cols.values()
    }
    share = time_limit_s / (len(by_key) + 1)

    def fixed(skip: set) -> float | None:
        for key, c in cols.items():
            var = model.get_variable(c)
            var.lower_bound = var.upper_bound = float(0 if key in skip else counts[key])
        solved = solve_model(model, time.perf_counter(), share, 1e-6, seed)
        return solved.cost

    def dropped(key) -> set:
        """The purchase, and with a new site every purchase at it (nothing runs there
        without the site)."""
        opt = cm.options[key[0]]
        if opt.kind != "site":
            return {key}
        return {key} | {kk for kk in by_key if cm.options[kk[0]].site_id == opt.id}

    try:
        with_all = fixed(set())
        out = []
        for key, p in by_key.items():
            skip = dropped(key)
            without = fixed(skip)
            capex = sum(by_key[kk].capex_usd for kk in skip)
            p = dataclasses.replace(p, capex_usd=capex) if capex != p.capex_usd else p
            basis = "capex" if p.capex_usd > 0 else "npv_cost"
            if without is None or with_all is None:
                out.append(PurchaseRoi(p.option, p.order_month, p.units, None, None, basis,
                                       "needed: without it no plan was found"))  # fmt: skip
                continue
            saving = without - with_all
            denom = p.capex_usd if p.capex_usd > 0 else p.npv_usd
            out.append(PurchaseRoi(p.option, p.order_month, p.units, saving,
                                   saving / denom if denom > 0 else None, basis))  # fmt: skip
        return out
    finally:
        for c, (lo, hi) in saved.items():
            var = model.get_variable(c)
            var.lower_bound, var.upper_bound = lo, hi


__all__ = ["CapacityKpis", "PurchaseRoi", "capacity_kpis", "purchase_roi"]
