"""Counting `placer robust`'s samples: which rows, kinds and sites each sample breaks,
summed over blocks (`Tally`, filled by `Counter` from one block's kernel output)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import jax
import numpy as np

from placer.analysis.robust_fleet import PlanExposure
from placer.analysis.robust_sample import DERATED_KINDS, Draws, Sampler
from placer.engines.kernels.score import DEFAULT_WEIGHTS, NUM_KINDS
from placer.problem.rows import K_GPUS, Q_CARBON, Q_COST, SITE_KINDS
from placer.problem.soft import soft_mask

#: A row counts as exceeded when its float32 excess passes this share of its capacity
#: plus ROW_TOL_ABS: float32 sums of 1e4 terms are good to ~1e-6 relative, so a plan
#: that fills a row exactly is not reported over it.
ROW_TOL_REL, ROW_TOL_ABS = 1e-5, 1e-3
#: Row kinds of the per-site overrun table: GPUs of the site's pools, then site rows.
SITE_COLUMNS: tuple[int, ...] = (K_GPUS, *SITE_KINDS)


@dataclass(frozen=True)
class AnyBy:
    """Per-group "any" of boolean columns: flags [B, n] -> [B, groups] (group -1: none)."""

    order: np.ndarray
    starts: np.ndarray
    ids: np.ndarray
    groups: int

    @classmethod
    def of(cls, group_n: np.ndarray, groups: int) -> AnyBy:
        members = np.flatnonzero(group_n >= 0)
        order = members[np.argsort(group_n[members], kind="stable")]
        g = group_n[order]
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if g.size else np.zeros(0, int)
        return cls(order, starts, g[starts], groups)

    def __call__(self, flags: np.ndarray) -> np.ndarray:
        out = np.zeros((flags.shape[0], self.groups), bool)
        if self.starts.size:
            out[:, self.ids] = np.logical_or.reduceat(flags[:, self.order], self.starts, axis=1)
        return out


@dataclass
class Tally:
    """What the samples of one plan add up to (R rows, S sites).

    Attributes:
      values: per figure (objective, cost, carbon, penalized), float64 per sample.
      violation: bool per sample and VIOLATION_FIELDS entry.
      over_r, excess_r: samples exceeding each row; their summed excess.
      site_kind: [S, len(SITE_COLUMNS)] samples with some row of the kind over;
      site_any, lost_s, must_s, slo_s: [S] sample counts (see SiteRisk).
    """

    values: dict[str, list[np.ndarray]]
    violation: list[np.ndarray]
    over_r: np.ndarray
    excess_r: np.ndarray
    site_kind: np.ndarray
    site_any: np.ndarray
    lost_s: np.ndarray
    must_s: np.ndarray
    slo_s: np.ndarray
    samples: int = 0
    figures: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def empty(cls, n_rows: int, n_sites: int) -> Tally:
        zeros = functools.partial(np.zeros, n_sites, np.int64)
        return cls(
            values={k: [] for k in ("objective", "cost", "carbon", "penalized")},
            violation=[],
            over_r=np.zeros(n_rows, np.int64),
            excess_r=np.zeros(n_rows),
            site_kind=np.zeros((n_sites, len(SITE_COLUMNS)), np.int64),
            site_any=zeros(),
            lost_s=zeros(),
            must_s=zeros(),
            slo_s=zeros(),
        )

    def finish(self) -> Tally:
        """Joins the per-block arrays (call once, after the last block)."""
        self.figures = {k: np.concatenate(v) for k, v in self.values.items()}
        self.figures["violation"] = np.concatenate(self.violation)
        return self


class Counter:
    """Turns one block's kernel output into a Tally's counts (groupings built once)."""

    def __init__(self, sampler: Sampler) -> None:
        p = sampler.fleet.problem
        n_s, n_p = p.num_sites, p.num_pools
        kind, scope = p.kind_r.astype(np.int64), p.scope_r.astype(np.int64)
        gpu = kind == K_GPUS
        pool_site = np.append(p.pool_site_p, -1)  # a fleet may have no pool at all
        site_r = np.where(gpu, pool_site[np.where(gpu, scope, -1)], scope)
        col = np.array([SITE_COLUMNS.index(k) if k in SITE_COLUMNS else -1 for k in kind])
        site_col = np.where((col >= 0) & (site_r >= 0), site_r * len(SITE_COLUMNS) + col, -1)
        self.by_kind = AnyBy.of(kind, NUM_KINDS)
        self.by_site_col = AnyBy.of(site_col.reshape(-1), n_s * len(SITE_COLUMNS))
        self.by_pool = AnyBy.of(np.where(gpu, scope, -1), n_p)
        self.power_by_site = AnyBy.of(np.where(np.isin(kind, DERATED_KINDS), scope, -1), n_s)
        self.pool_to_site = AnyBy.of(p.pool_site_p.astype(np.int64), n_s)
        cap = np.where(np.isfinite(p.cap_r), np.abs(p.cap_r), 0.0)
        self.tol_r = ROW_TOL_REL * cap + ROW_TOL_ABS
        self.soft = np.flatnonzero(soft_mask(p))
        self.price_soft = (
            np.asarray(p.over_usd_per_h_r, float)[self.soft] if self.soft.size else np.zeros(0)
        )
        self.weight_soft = np.asarray(DEFAULT_WEIGHTS.over_k, np.float64)[kind[self.soft]]
        self.n_sites = n_s

    def add(self, t: Tally, plan: PlanExposure, d: Draws, out, n: int) -> None:
        """Adds the first n samples of one block (kernel output `out`) to the tally."""
        scores, pen, excess = (jax.device_get(x) for x in out)
        excess = np.asarray(excess[:n], np.float64)
        flags = excess > self.tol_r
        # a soft row's excess (a priced grid event's cap) is paid, not violated
        paid = excess[:, self.soft] @ self.price_soft
        penalty = excess[:, self.soft] @ self.weight_soft
        flags[:, self.soft] = False
        masked = np.asarray(scores.masked[:n], np.float64) + plan.extra_masked
        violation = np.concatenate(
            [
                self.by_kind(flags),
                (masked > 0.5)[:, None],
                (np.asarray(scores.redundancy[:n]) > 0.5)[:, None],
            ],
            axis=1,
        )
        total = np.asarray(scores.total_q[:n], np.float64)
        paid = paid + plan.startup_usd_per_h
        t.values["objective"].append(np.asarray(scores.objective[:n], np.float64) + paid)
        t.values["cost"].append(total[:, Q_COST] + paid)
        t.values["carbon"].append(total[:, Q_CARBON])
        t.values["penalized"].append(
            np.asarray(pen[:n], np.float64)
            + paid
            - penalty
            + DEFAULT_WEIGHTS.masked * plan.extra_masked
        )
        t.violation.append(violation)
        t.over_r += flags.sum(axis=0)
        t.excess_r += np.where(flags, excess, 0.0).sum(axis=0)
        site_kind = self.by_site_col(flags).reshape(n, self.n_sites, len(SITE_COLUMNS))
        t.site_kind += site_kind.sum(axis=0)
        t.site_any += site_kind.any(axis=2).sum(axis=0)
        down = d.pool_down_p[:n]
        t.lost_s += self.pool_to_site(down & plan.used_p).sum(axis=0)
        t.must_s += self.pool_to_site(down & plan.must_p).sum(axis=0)
        at_risk = (down | self.by_pool(flags)) & plan.service_p
        service_s = self.pool_to_site(plan.service_p[None, :])[0]
        slo = self.pool_to_site(at_risk) | (self.power_by_site(flags) & service_s)
        t.slo_s += slo.sum(axis=0)
        t.samples += n


__all__ = ["ROW_TOL_ABS", "ROW_TOL_REL", "SITE_COLUMNS", "AnyBy", "Counter", "Tally"]
