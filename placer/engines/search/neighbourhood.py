"""Large-neighbourhood search: exact MILPs over the units of a few sites at a time.

Step 4 of both hybrids (`placer.engines.search.hybrid`,
`placer.engines.search.large_hybrid`). Each round
frees the units of a few sites (and the units that could move there), fixes every other
unit where the incumbent puts it, and lets a short MILP re-place the freed ones
(`freed_subproblem`). The incumbent is feasible in every sub-MILP, so the plan only
improves. Sites are drawn where the plan is furthest from the certified bound
(`placer.engines.relax.knapsack_bound.site_gaps`) when that is given.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from placer.engines.base import SolveOptions
from placer.engines.milp.solve import solve_milp
from placer.problem.form import UNPLACED, Problem
from placer.problem.usage import objective_value, row_loads, violations

LNS_MAX_FREE = 800  # units freed per neighbourhood
LNS_SUB_S = 2.0  # time limit of one neighbourhood's MILP, s
#: Relative gap at which a neighbourhood's MILP stops: its objective is a few percent of
#: the plan's, so 5e-4 of it is noise next to the certified gap of the whole.
LNS_SUB_GAP = 5e-4
#: Guided neighbourhoods: every site's weight is at least this share of the mean gap.
GUIDE_FLOOR = 0.1
#: Units per site in `cheapest_units_per_site` lists (a neighbourhood frees them too).
SITE_UNITS = 100
#: Units per chunk when ranking units for each site.
CHUNK_UNITS = 8_192


@dataclasses.dataclass(frozen=True)
class SubSolver:
    """How each neighbourhood's MILP is solved: its backend (None: the default, HiGHS),
    its time limit (s) and the most units it frees."""

    backend: str | None = None
    time_limit_s: float = LNS_SUB_S
    max_free: int = LNS_MAX_FREE


#: The default: HiGHS, LNS_SUB_S, LNS_MAX_FREE.
HIGHS_SUB = SubSolver()
#: CP-SAT over fewer units for longer, for all-integer problems whose options charge many
#: rows (timed runs: `colgen_hybrid`). There HiGHS's short MILPs over 800 units rarely
#: improve a plan (gen-time-1000x50x72-s1, hybrid 120 s, 1 worker: 20 rounds, 0
#: improved), CP-SAT's over 150 units for up to 15 s mostly do (seed 0: 7 rounds, 7
#: improved, 4,782.97 -> 4,770.21 USD/h; `scripts/bench_time.py`, seed 1: 4,744.63).
CPSAT_SUB = SubSolver(backend="cpsat", time_limit_s=15.0, max_free=150)


def cheapest_units_per_site(
    problem: Problem, priced: np.ndarray, count: int = SITE_UNITS
) -> np.ndarray:
    """int64[S, count]: per site, the units whose reduced cost to it (priced cost of
    their cheapest option there less their cheapest choice, USD/h) is smallest, cheapest
    first, -1 padded. `priced` as `knapsack_bound` takes it (float64[U, K+1], +inf where
    not allowed). The near-tie lists miss a site whose pools
    are a little dearer than each unit's best for every unit (on gen-10000x100-s2 an idle
    8-GPU edge pool priced at 5.47 USD/h per GPU was nobody's near-tied pool, and
    re-placing the units allowed there took the plan from 61,389 to 61,307 USD/h)."""
    n_u, n_s = problem.num_units, problem.num_sites
    site_o = problem.site_o
    if site_o.size == 0:
        return np.full((n_s, count), -1, np.int64)
    low_u = priced.min(axis=1)
    site_kept = np.zeros(0, np.int64)
    unit_kept = np.zeros(0, np.int64)
    cost_kept = np.zeros(0)
    threshold = np.full(n_s, np.inf)
    for start in range(0, n_u, CHUNK_UNITS):
        rows = slice(start, min(n_u, start + CHUNK_UNITS))
        block = priced[rows, :-1]
        site = site_o[np.maximum(problem.option_uk[rows], 0)]
        cost = block - low_u[rows, None]
        u, k = np.nonzero(np.isfinite(cost) & (cost < threshold[site]))
        site_kept = np.concatenate([site_kept, site[u, k].astype(np.int64)])
        unit_kept = np.concatenate([unit_kept, u + start])
        cost_kept = np.concatenate([cost_kept, cost[u, k]])
        order = np.lexsort((unit_kept, cost_kept, site_kept))
        site_kept, unit_kept, cost_kept = site_kept[order], unit_kept[order], cost_kept[order]
        # a unit with two pools at a site keeps its cheaper one (it sorts first)
        _, first = np.unique(site_kept * n_u + unit_kept, return_index=True)
        first.sort()
        site_kept, unit_kept, cost_kept = site_kept[first], unit_kept[first], cost_kept[first]
        starts = np.searchsorted(site_kept, np.arange(n_s))
        rank = np.arange(site_kept.size) - starts[site_kept]
        keep = rank < count
        site_kept, unit_kept, cost_kept = site_kept[keep], unit_kept[keep], cost_kept[keep]
        rank = rank[keep]
        full = rank == count - 1
        threshold[site_kept[full]] = cost_kept[full]
    out = np.full((n_s, count), -1, np.int64)
    starts = np.searchsorted(site_kept, np.arange(n_s))
    rank = np.arange(site_kept.size) - starts[site_kept]
    out[site_kept, rank] = unit_kept
    return out


def lns(
    problem: Problem,
    options: SolveOptions,
    best: np.ndarray,
    top_uk: np.ndarray,
    bound: float,
    left,
    site_gaps_of=None,
    site_units: np.ndarray | None = None,
    sub: SubSolver = HIGHS_SUB,
) -> tuple[np.ndarray, list[str]]:
    """Large-neighbourhood search from a feasible plan until `left()` runs out (step 4).

    Each neighbourhood is solved as its own small MILP (`freed_subproblem`): only the
    freed units are variables, over their listed options (`top_uk`, int[U, k], -1:
    none; near-tied or cheapest priced ones) and their current option, against the
    capacity the fixed units leave. A neighbourhood takes whole sites: the units placed
    there, the units with a listed option there and, given `site_units` (int[S, C], -1
    padded: see `cheapest_units_per_site`), the units cheapest to move there; each freed
    unit may also use any of its options at those sites, so a pool that no unit lists
    (an idle edge pool, say) can still be filled. Sites are drawn at random, or, given
    `site_gaps_of` (plan -> float64[S], each site's share of the distance to the bound:
    `site_gaps`), with weights gap_s / 2^(failed rounds at s) + GUIDE_FLOOR x their
    mean, so the search spends its rounds where the plan is furthest from the bound.
    `sub` sets each neighbourhood MILP's backend, time limit and size (`SubSolver`).
    """
    rng = np.random.default_rng(options.seed)
    n_s = problem.num_sites
    site_o = problem.site_o
    top_ok = top_uk >= 0
    top_site = site_o[np.maximum(top_uk, 0)]
    objective = objective_value(problem, best)
    rounds, improved = 0, 0
    failed_s = np.zeros(n_s)
    while left() > 1.0:
        touched = np.zeros(problem.num_units, bool)
        best_site = site_o[np.maximum(best, 0)]
        chosen = []
        for site in _site_order(rng, n_s, site_gaps_of, best, failed_s):
            chosen.append(site)  # whole sites until the neighbourhood is full
            touched |= ((best >= 0) & (best_site == site)) | ((top_site == site) & top_ok).any(
                axis=1
            )
            if site_units is not None:
                near = site_units[site]
                touched[near[near >= 0]] = True
            if touched.sum() >= sub.max_free:
                break
        freed = np.flatnonzero(touched)
        if freed.size > sub.max_free:
            freed = np.sort(rng.choice(freed, sub.max_free, replace=False))
        if freed.size == 0:
            break  # no unit at or near any site: nothing to re-place
        part = freed_subproblem(problem, best, freed)
        cands = tuple(
            tuple(
                sorted(
                    {int(p) for p in top_uk[u] if p >= 0}
                    | ({int(best[u])} - {-1})
                    | set(_allowed_at(problem, int(u), chosen).tolist())
                )
            )
            for u in freed
        )
        result = solve_milp(
            part,
            dataclasses.replace(
                options,
                backend=sub.backend or options.backend,
                time_limit_s=max(0.5, min(sub.time_limit_s, left() - 0.5)),
                relative_gap=max(options.relative_gap, LNS_SUB_GAP),
                candidates_u=cands,
                hint_u=best[freed],
                progress=None,
            ),
            prices=False,
        )
        rounds += 1
        failed_s[chosen] += 1
        if result.objective_usd_per_h is None:
            continue
        trial = best.copy()
        trial[freed] = result.assign_u
        value = objective_value(problem, trial)
        if value < objective - 1e-9 and not violations(problem, trial):
            best, objective = trial, value
            improved += 1
            failed_s[chosen] -= 1
            options.report("neighbourhood MILP", objective, bound)
    how = "guided by site gaps" if site_gaps_of is not None else "random sites"
    if sub.backend is not None:
        how += f", {sub.backend} over up to {sub.max_free} units"
    return best, [
        f"large-neighbourhood search ({how}): {rounds} rounds, {improved} improved, "
        f"{objective:,.4f} USD/h"
    ]


def with_site_pools(
    problem: Problem, candidates_u, site_units: np.ndarray
) -> tuple[tuple[int, ...], ...]:
    """`candidates_u` (per unit, a tuple of options) plus, for every unit in a site's list
    of `site_units` (int[S, C], -1 padded), its options at that site."""
    extra = [set(c) for c in candidates_u]
    for site, units in enumerate(site_units):
        for u in units[units >= 0].tolist():
            extra[u].update(_allowed_at(problem, u, [site]).tolist())
    return tuple(tuple(sorted(e)) for e in extra)


def _allowed_at(problem: Problem, u: int, sites) -> np.ndarray:
    """int64[n]: unit u's options at any of `sites`, ascending."""
    options = problem.options_of(u)[0]
    return options[np.isin(problem.site_o[options], sites)]


def _site_order(rng, n_s: int, site_gaps_of, plan: np.ndarray, failed_s: np.ndarray):
    """Sites in the order a neighbourhood takes them: a random permutation, or a
    weighted one (Efraimidis-Spirakis keys) with the weights `lns` describes."""
    if site_gaps_of is None:
        return rng.permutation(n_s)
    gap = np.maximum(site_gaps_of(plan), 0.0) / np.exp2(failed_s)
    weight = gap + GUIDE_FLOOR * max(float(gap.mean()), 1e-9)
    return np.argsort(rng.exponential(size=n_s) / weight, kind="stable")


def freed_subproblem(problem: Problem, assign_u: np.ndarray, freed: np.ndarray) -> Problem:
    """The Problem over the `freed` units only, with every other unit fixed where
    `assign_u` puts it: every capacity less what the fixed units use, and options whose
    spread key a fixed copy of the same redundancy group already holds taken out of the
    freed units' lists. A plan of it plus the fixed units is a plan of `problem`."""
    fixed = assign_u.copy()
    fixed[freed] = UNPLACED
    base = problem.take_units(freed)
    keep = base.listed_uk.copy()
    group = problem.group_u[freed]
    placed = np.flatnonzero(fixed >= 0)
    for i in np.flatnonzero(group >= 0):
        g = group[i]
        mates = placed[problem.group_u[placed] == g]
        if mates.size:
            used = problem.spread_key_go[g, fixed[mates]]
            keep[i] &= ~np.isin(problem.spread_key_go[g, np.maximum(base.option_uk[i], 0)], used)
    left = np.maximum(problem.cap_r - row_loads(problem, fixed), 0.0)
    out = base.restricted(keep)._replace(cap_r=left)
    if problem.period_caps is not None:
        # what the fixed units spend per period, their start-ups among themselves included:
        # start-ups are subadditive (max(0, a + b) <= max(0, a) + max(0, b)), so the freed
        # units' own start-ups within what is left keep the whole plan within the caps
        from placer.problem.usage import period_spend

        spent = period_spend(problem, fixed)
        caps = np.maximum(problem.period_caps.cap_c - spent, 0.0)
        out = out._replace(period_caps=out.period_caps.with_caps(caps))
    return out


__all__ = ["cheapest_units_per_site", "freed_subproblem", "lns", "with_site_pools"]
