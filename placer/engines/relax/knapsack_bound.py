"""A Lagrangian bound that keeps each site's GPU and power rows as knapsacks.

The relaxation's bound (`placer.engines.relax.lagrangian`) prices every capacity row and lets
each unit choose alone. Its best value is the LP bound, and the LP fills every binding
GPU and kW row to the last fraction of a unit, where a plan cannot. On the generated
fleets that rounding is most of the integrality gap: on gen-10000x100-s1 the LP bound
is 57,921 USD/h, HiGHS' root cuts on the full MILP reach 58,018 after two minutes, and
this bound is 58,049 in under a second.

Here the place-once rows are priced instead, and each site keeps as constraints its
pools' GPU rows and those of its kW / water rows whose usage is a fixed amount per GPU
in every pool of the site (true of IT, heat and facility power in compiled Problems).
With a multiplier a[u] on unit u's place-once row and prices y >= 0 on every other row,

    L = sum_u (v[u] - a[u]) - sum_{priced r} y_r cap_r + sum_s V_s
    V_s = min { sum_{u, p in s} w[u,p] x[u,p] : x in {0,1}, the site's kept rows hold }
    w[u,p] = c[u,p] + sum_{priced r} y_r a_r[u,p] - v[u] + a[u]

is a lower bound on the placement MILP for any such prices and any a (a[u] >= 0 where u
may stay unplaced; v[u] is 0 for must-place units): the optimal plan satisfies every
site's kept rows, and pricing the rows it satisfies cannot raise its cost. With
a[u] = v[u] - m[u], m[u] being u's cheapest choice at the relaxation's prices y,
w[u,p] = d[u,p] - sum_{kept r} y_r a_r[u,p] with d >= 0 the pair's Lagrangian reduced
cost, and V_s is at least its LP value, -sum_{kept r} y_r cap_r. So each site adds

    gain_s = V_s + sum_{kept r} y_r cap_r >= 0

to the relaxation's bound: what filling its rows with whole units must cost. Choosing
per site between keeping rows and pricing them all (gain 0) keeps the bound valid, so a
site is left at 0 whenever it is not solved exactly.

V_s is solved exactly. Only pairs with w < 0 can lower it (the items). A kept row's
per-GPU usage k[p,r] is the smallest a_r / g over the pool's items, so
sum_p k[p,r] n_p <= cap_r holds for every plan (n_p: GPUs used in pool p) and keeping
it relaxes nothing away. f_p[n], the cheapest set of the pool's items using at most n
GPUs, comes from a dynamic program over whole GPUs: the items of one size are taken
cheapest first, one min-plus step per size. V_s is then the minimum of sum_p f_p[n_p]
over the GPU counts the kept rows allow (all of them for up to MAX_ENUM combinations of
all but the last pool; otherwise the site keeps only its GPU rows, one knapsack each).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from placer.engines.relax.rows import local_rows, row_capacities
from placer.engines.relax.sampled import active_prices
from placer.problem.form import Problem
from placer.problem.rows import K_GPUS, KIND_SCOPE, rows_of_kind
from placer.problem.soft import has_soft_rows
from placer.problem.usage import AssignmentValues, row_loads

#: Units per chunk when listing the items (bounds the [chunk, width] temporaries).
CHUNK_UNITS = 8_192
#: A pool usable up to more GPUs than this is left to the relaxation's term.
MAX_GPUS = 1 << 16
#: Most combinations of GPU counts one site's enumeration may visit.
MAX_ENUM = 1 << 20
#: Group keys of `_Items`: pool x KEY_SPAN + GPUs (GPU counts stay below it).
KEY_SPAN = 1 << 20
#: Most float64 cells one min-plus step of `knapsack_values` holds at once.
STEP_CELLS = 1 << 22
#: Relative slack allowed when a kept row is checked (it only loosens the subproblem).
ROW_TOL = 1e-9
#: A row is kept when its per-GPU usage varies by less than this share over the items.
PROPORTIONAL_RTOL = 1e-9


@dataclass(frozen=True)
class KnapsackBound:
    """The strengthened bound and how each site contributed.

    Attributes:
      bound_usd_per_h: L above, a certified lower bound, USD/h (+inf when the
        relaxation's is: a must-place unit has no allowed pool).
      relaxation_usd_per_h: the relaxation's bound at the same prices, USD/h.
      gain_s: float64[S], gain_s >= 0 above, USD/h (0 for sites left to the relaxation).
      kept_sr: bool[S, L], the site rows (of the L site kinds: IT, facility, heat kW,
        water) kept as constraints; the pools' GPU rows are kept at every site with a
        positive gain.
    """

    bound_usd_per_h: float
    relaxation_usd_per_h: float
    gain_s: np.ndarray
    kept_sr: np.ndarray


def knapsack_values(cost_n: np.ndarray, size_n: np.ndarray, n_max: int) -> np.ndarray:
    """float64[n_max + 1]: f[n] = min sum_j cost_j x_j s.t. sum_j size_j x_j <= n, x 0/1.

    `cost_n` float64[N] (USD/h), `size_n` int64[N] >= 0 (GPUs), `n_max` >= 0. Items of
    non-negative cost are never taken; items of one size are taken cheapest first, so
    each size is one min-plus convolution with the prefix sums of its sorted costs."""
    cost_n = np.asarray(cost_n, np.float64)
    size_n = np.asarray(size_n, np.int64)
    useful = cost_n < 0.0
    f = np.full(n_max + 1, float(cost_n[useful & (size_n == 0)].sum()))
    n_all = np.arange(n_max + 1)
    for size in np.unique(size_n[useful & (size_n > 0) & (size_n <= n_max)]).tolist():
        costs = np.sort(cost_n[useful & (size_n == size)])[: n_max // size]
        prefix = np.concatenate([[0.0], np.cumsum(costs)])
        new = f.copy()  # j = 0: none of this size
        step = max(1, STEP_CELLS // (n_max + 1))
        for j0 in range(1, prefix.size, step):
            j = np.arange(j0, min(prefix.size, j0 + step))
            src = n_all[None, :] - (j * size)[:, None]
            cand = np.where(src >= 0, f[np.maximum(src, 0)], np.inf) + prefix[j, None]
            np.minimum(new, cand.min(axis=0), out=new)
        f = new
    return f


def site_value(f_list: list[np.ndarray], per_gpu_mr: np.ndarray, cap_r: np.ndarray) -> float:
    """min sum_p f_p[n_p] over 0 <= n_p <= len(f_p) - 1 with sum_p per_gpu[p, r] n_p <=
    cap_r for every row r (per_gpu >= 0, float64[m, R]; cap_r float64[R] >= 0). Each f_p
    is non-increasing, so the last pool takes as many GPUs as the rows leave it. Rows
    are checked with ROW_TOL of slack, which can only lower the value."""
    last = len(f_list) - 1
    tol = ROW_TOL * np.maximum(np.abs(cap_r), 1.0)
    grids = np.meshgrid(*[np.arange(f.size) for f in f_list[:last]], indexing="ij")
    counts = [g.ravel() for g in grids] if last else []
    size = counts[0].size if counts else 1
    rem = np.broadcast_to(cap_r + tol, (size, cap_r.size)).copy()
    total = np.zeros(size)
    for p, n in enumerate(counts):
        rem -= n[:, None] * per_gpu_mr[p][None, :]
        total += f_list[p][n]
    ok = (rem >= 0.0).all(axis=1)
    k_last = per_gpu_mr[last]
    room = np.full(size, float(f_list[last].size - 1))
    for r in np.flatnonzero(k_last > 0.0):
        room = np.minimum(room, np.floor(np.maximum(rem[:, r], 0.0) / k_last[r] + ROW_TOL))
    total += f_list[last][room.astype(np.int64)]
    return float(total[ok].min()) if ok.any() else np.inf


class SiteLayout(NamedTuple):
    """Where the knapsack's rows are: each pool's whole-count row (GPUs) and each site's
    rows of the L site kinds, and the quantities options charge them.

    Attributes:
      gpu_row_p: int64[P], the row of each pool's whole-count (GPU) capacity.
      site_rows_sl: int64[S, L], each site's row of each site kind.
      gpu_q: the quantity options charge to their pool's GPU row.
      site_q_l: int64[L], the quantity options charge to each of their site's rows.
    """

    gpu_row_p: np.ndarray
    site_rows_sl: np.ndarray
    gpu_q: int
    site_q_l: np.ndarray


def site_layout(problem: Problem) -> SiteLayout | None:
    """The layout when every option is a pool (O = P) that charges its pool's GPU row
    and one row of each site kind at its site, each with one quantity shared by every
    option; None otherwise (options spanning periods, say: the bound is then the
    relaxation's)."""
    n_p, n_s = problem.num_pools, problem.num_sites
    if problem.num_options != n_p or not np.array_equal(problem.pool_o, np.arange(n_p)):
        return None
    if has_soft_rows(problem):  # a soft row is no knapsack constraint: it may be exceeded
        return None
    if problem.scale_oj is not None:  # a term charging a multiple of its amount
        return None
    kinds = np.flatnonzero(KIND_SCOPE == 1)
    if n_p == 0:
        return None
    # the pool GPU rows; node rows (docs/nodes.md) are left out, which only loosens L
    gpu_row_p = rows_of_kind(problem.kind_r, problem.scope_r, K_GPUS, n_p)
    site_rows_sl = np.stack(
        [rows_of_kind(problem.kind_r, problem.scope_r, int(k), n_s) for k in kinds], axis=1
    ).reshape(n_s, kinds.size)
    wanted = np.concatenate([gpu_row_p[:, None], site_rows_sl[problem.pool_site_p]], axis=1)
    if (wanted < 0).any():
        return None
    quantities = []
    for col in wanted.T:  # each wanted row must be one term of its option, one quantity
        hit = problem.row_oj == col[:, None]
        if not (hit.sum(axis=1) == 1).all():
            return None
        q = problem.quantity_oj[hit]
        if not (q == q[0]).all():
            return None
        quantities.append(int(q[0]))
    return SiteLayout(gpu_row_p, site_rows_sl, quantities[0], np.array(quantities[1:], np.int64))


def knapsack_bound(problem: Problem, prices_r: np.ndarray, priced: np.ndarray) -> KnapsackBound:
    """The bound L above at the relaxation's prices.

    Args:
      problem: the compiled Problem.
      prices_r: float64[R'], the relaxation's prices in `pair_rows` order (the capacity
        rows, then the redundancy rows).
      priced: float64[U, K+1], the priced costs at those prices (slot layout, as
        `dual_bound` and `chunked_dual_bound` return them), +inf where not allowed; the
        last column is the unplaced choice.
    """
    n_p, n_s = problem.num_pools, problem.num_sites
    cap_r = row_capacities(problem)
    finite = np.isfinite(cap_r)
    y = active_prices(problem, prices_r)
    low_u = priced.min(axis=1) if problem.num_units else np.zeros(0)
    relaxation = float(low_u.sum() - (y * np.where(finite, cap_r, 0.0)).sum())
    layout = site_layout(problem)
    n_l = 0 if layout is None else layout.site_rows_sl.shape[1]
    gain = np.zeros(n_s)
    kept = np.zeros((n_s, n_l), bool)
    if layout is None or not np.isfinite(relaxation) or n_p == 0 or problem.num_units == 0:
        return KnapsackBound(relaxation, relaxation, gain, kept)
    site_cap_sr = cap_r[layout.site_rows_sl]
    site_y_sr = y[layout.site_rows_sl]
    gpu_cap_p = cap_r[layout.gpu_row_p]
    items = _Items(problem, layout, priced, low_u, y[layout.gpu_row_p], site_y_sr)
    per_gpu_pr, exact_pr = items.per_gpu()
    whole_p = items.whole_p
    pool_site = problem.pool_site_p
    for s in range(n_s):
        pools = np.flatnonzero(pool_site == s)
        if pools.size == 0 or not whole_p[pools].all():
            continue
        keep = np.isfinite(site_cap_sr[s]) & exact_pr[pools].all(axis=0)
        # (a negative cap leaves no feasible plan; clipping at 0 only relaxes it)
        n_max = np.maximum(np.floor(gpu_cap_p[pools] + ROW_TOL), 0.0)
        for r in np.flatnonzero(keep):
            k = per_gpu_pr[pools, r]
            fits = np.where(
                k > 0, np.floor(site_cap_sr[s, r] / np.maximum(k, 1e-300) + ROW_TOL), np.inf
            )
            n_max = np.minimum(n_max, np.maximum(fits, 0.0))
        if not (np.isfinite(n_max).all() and n_max.max(initial=0) <= MAX_GPUS):
            continue
        by_size = np.argsort(n_max, kind="stable")  # the largest pool is not enumerated
        pools, n_max = pools[by_size], n_max[by_size]
        if np.prod(n_max[:-1] + 1) > MAX_ENUM:
            keep[:] = False  # too many combinations: one GPU knapsack per pool
        gpu_cap = gpu_cap_p[pools]
        gpu_y = y[layout.gpu_row_p[pools]]
        lp_term = float((gpu_y * np.where(np.isfinite(gpu_cap), gpu_cap, 0.0)).sum())
        lp_term += float((site_y_sr[s, keep] * site_cap_sr[s, keep]).sum())
        if lp_term <= 0.0:
            continue  # nothing kept is priced: every item costs >= 0, the gain is 0
        charged = per_gpu_pr[pools][:, keep] * (1.0 + PROPORTIONAL_RTOL) @ site_y_sr[s, keep]
        f_list = [
            knapsack_values(*items.of_pool(p, c), int(n))
            for p, c, n in zip(pools, charged, n_max, strict=True)
        ]
        if keep.any():
            value = site_value(
                f_list, per_gpu_pr[np.ix_(pools, np.flatnonzero(keep))], site_cap_sr[s, keep]
            )
        else:
            value = float(sum(f[-1] for f in f_list))
        if np.isfinite(value) and value + lp_term > 0.0:
            gain[s], kept[s] = value + lp_term, keep
    return KnapsackBound(relaxation + float(gain.sum()), relaxation, gain, kept)


def site_gaps(
    problem: Problem,
    assign_u: np.ndarray,
    prices_r: np.ndarray,
    priced: np.ndarray,
    gain_s: np.ndarray,
) -> np.ndarray:
    """float64[S]: each site's share of a feasible plan's distance to the bound, USD/h.

    For a feasible plan z, objective(z) - L splits into non-negative terms: per site s,

        gap_s = sum_{u at s} d[u, z_u] + sum_{rows r of s} y_r (cap_r - load_r(z)) - gain_s

    (the relaxation's complementary slackness at the site, less what its knapsacks
    already account for: gap_s is at least 0 because the plan's units at s are one of
    the sets V_s minimises over), plus terms outside any site: the multipliers
    a[u] = v[u] - m[u] of optional units left unplaced and the priced slack of the
    budget, carbon and spread rows. The rows of s are its pools' rows and its own. The
    sites with large gap_s are where a better plan or a tighter bound must come from.
    `prices_r`, `priced` as for `knapsack_bound`, `gain_s` its result's."""
    n_s = problem.num_sites
    assign_u = np.asarray(assign_u)
    low_u = priced.min(axis=1)
    picked = AssignmentValues(problem, assign_u)
    reduced = priced[picked.rows, picked.cols] - low_u[picked.rows]
    site_of = problem.site_o[picked.options]
    gap = np.bincount(site_of, weights=reduced, minlength=n_s).astype(np.float64)
    rows = local_rows(problem)
    cap_r = row_capacities(problem)[rows]
    loads = row_loads(problem, assign_u)[rows]
    priced_slack = np.where(np.isfinite(cap_r), cap_r - loads, 0.0)
    priced_slack *= active_prices(problem, prices_r)[rows]
    scope = problem.scope_r[rows]
    row_site = scope.copy()
    pooled = KIND_SCOPE[problem.kind_r[rows]] == 0
    row_site[pooled] = problem.pool_site_p[scope[pooled]]
    gap += np.bincount(row_site, weights=priced_slack, minlength=n_s)
    return gap - gain_s


def site_note(result: KnapsackBound, elapsed_s: float) -> str:
    """One diagnostics line: the strengthened bound, how many sites added to it, when."""
    sites = int((result.gain_s > 0).sum())
    kw = int((result.kept_sr.any(axis=1) & (result.gain_s > 0)).sum())
    return (
        f"site knapsack bound {result.bound_usd_per_h:,.4f} USD/h "
        f"(+{result.bound_usd_per_h - result.relaxation_usd_per_h:,.4f} from {sites:,} sites, "
        f"{kw:,} with kW rows kept) after {elapsed_s:.1f} s"
    )


class _Items:
    """The pairs that can lower some site's V_s, per pool: pool, GPUs, site-row usage,
    and base = d - pi_p g, the reduced cost less its priced GPUs.

    An item needs w < 0 when every finite site row is kept (keeping fewer rows only
    raises w), a whole GPU count that fits its pool, and a place among the
    floor(G_p / g) cheapest items of its size in its pool: no set within the pool's
    GPUs holds more of that size, and the cheapest of one size are as good as any. The
    kept rows' share of w is the same for every item of one size in one pool when the
    rows are per GPU, so ranking by base ranks by w. Units are read in chunks, and each
    group's running threshold drops most pairs of later chunks at once."""

    def __init__(self, problem, layout: SiteLayout, priced, low_u, y_p, site_y_sr) -> None:
        n_u, n_p = problem.num_units, problem.num_pools
        gpus = problem.amount_quk[layout.gpu_q]
        tables = [problem.amount_quk[q] for q in layout.site_q_l]
        gpu_cap = problem.cap_r[layout.gpu_row_p]
        cap_p = np.floor(np.minimum(gpu_cap, MAX_GPUS) + ROW_TOL)
        self.whole_p = np.ones(n_p, bool)
        kept: list[np.ndarray] = []  # pool, size, base, 4 x use
        keys, thresholds = np.zeros(0, np.int64), np.zeros(0)
        for start in range(0, n_u, CHUNK_UNITS):
            rows = slice(start, min(n_u, start + CHUNK_UNITS))
            block = priced[rows, :-1]
            pool = problem.pool_o[np.maximum(problem.option_uk[rows], 0)]
            site = problem.pool_site_p[pool]
            g = gpus[rows]
            base = np.where(np.isfinite(block), block - low_u[rows, None], np.inf) - y_p[pool] * g
            w_all = base.copy()
            for r, table in enumerate(tables):
                w_all -= site_y_sr[site, r] * table[rows]
            u, k = np.nonzero((w_all < 0.0) & (g <= cap_p[pool]))
            pool_n, size_n, base_n = pool[u, k].astype(np.int64), g[u, k], base[u, k]
            whole = (size_n == np.round(size_n)) & (size_n >= 0)
            self.whole_p[pool_n[~whole]] = False
            key = pool_n * KEY_SPAN + np.where(whole, size_n, 0).astype(np.int64)
            keep = whole
            if keys.size:  # a full group's threshold turns away what cannot enter it
                at = np.minimum(np.searchsorted(keys, key), keys.size - 1)
                keep = keep & ~((keys[at] == key) & (base_n >= thresholds[at]))
            u, k = u[keep], k[keep]
            part = [pool_n[keep], size_n[keep], base_n[keep]] + [t[rows][u, k] for t in tables]
            kept = [np.concatenate(pair) for pair in zip(kept, part, strict=True)] if kept else part
            kept, keys, thresholds = _cheapest_of_each_size(kept, cap_p)
        if not kept:
            kept = [np.zeros(0, np.int64)] + [np.zeros(0)] * (2 + len(tables))
        order = np.argsort(kept[0], kind="stable")
        self.pool, self.gpus, self.base, *use = (c[order] for c in kept)
        self.use_nr = np.stack(use, axis=1) if use else np.zeros((0, len(tables)))
        self.site_y_sr = site_y_sr
        self.site_p = problem.pool_site_p
        self.starts = np.searchsorted(self.pool, np.arange(n_p + 1))

    def per_gpu(self) -> tuple[np.ndarray, np.ndarray]:
        """(per_gpu float64[P, L]: the least site-row usage per GPU over each pool's
        items; exact bool[P, L]: no item uses more than per_gpu x (1 + PROPORTIONAL_RTOL)
        x its GPUs, and none uses a row without GPUs)."""
        n_p = self.starts.size - 1
        n_l = self.use_nr.shape[1]
        per_gpu = np.zeros((n_p, n_l))
        exact = np.ones((n_p, n_l), bool)
        has = self.starts[1:] > self.starts[:-1]
        if not has.any():
            return per_gpu, exact
        g = self.gpus[:, None]
        ratio = np.where(g > 0, self.use_nr / np.where(g > 0, g, 1.0), np.inf)
        idx = self.starts[:-1][has]
        lo = np.minimum.reduceat(ratio, idx, axis=0)
        hi = np.maximum.reduceat(np.where(g > 0, ratio, -np.inf), idx, axis=0)
        gpuless = np.maximum.reduceat(np.where(g > 0, 0.0, self.use_nr), idx, axis=0)
        lo = np.where(np.isfinite(lo), lo, 0.0)  # no item with GPUs: no usage to bound
        per_gpu[has] = lo
        exact[has] = (hi <= lo * (1.0 + PROPORTIONAL_RTOL)) & (gpuless <= 0.0)
        return per_gpu, exact

    def of_pool(self, p: int, kept_per_gpu: float) -> tuple[np.ndarray, np.ndarray]:
        """(cost float64[n], GPUs int64[n]) of pool p's items: base - kept_per_gpu x g,
        where kept_per_gpu (USD/h per GPU) is at least what the kept rows' prices
        charge an item per GPU, so each cost is at most its w."""
        a, b = self.starts[p], self.starts[p + 1]
        cost = self.base[a:b] - kept_per_gpu * self.gpus[a:b]
        return cost, np.round(self.gpus[a:b]).astype(np.int64)


def _cheapest_of_each_size(
    items: list[np.ndarray], cap_p: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Keeps the floor(cap_p / g) cheapest items (by base) of each (pool, GPUs g) group,
    and every item of 0 GPUs. `items`: [pool, GPUs, base, uses...]. Returns the kept
    items, the groups' keys (pool x KEY_SPAN + GPUs, ascending) and each group's
    threshold: the base a new item must beat to enter it (+inf while it has room)."""
    pool, size, base = items[0], items[1], items[2]
    key = pool * KEY_SPAN + size.astype(np.int64)
    order = np.lexsort((base, key))
    key, size, pool, base = key[order], size[order], pool[order], base[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size else key
    count = np.diff(np.r_[starts, key.size])
    limit = np.where(size[starts] > 0, cap_p[pool[starts]] // np.maximum(size[starts], 1), np.inf)
    rank = np.arange(key.size) - np.repeat(starts, count)
    keep = rank < np.repeat(limit, count)
    full = count >= limit
    thresholds = np.full(starts.size, np.inf)
    thresholds[full] = base[starts[full] + limit[full].astype(np.int64) - 1]
    return [c[order][keep] for c in items], key[starts], thresholds
