"""A restricted compile for timed fleets whose padded option table does not fit memory.

The Problem keeps each unit's options in a padded table (`form.Problem.option_uk`), so
its memory grows with units x the LONGEST option list. A timed fleet's lists are long
and uneven: on a 5,000 x 1,000 x 24 generated fleet (gen-time, seed 1) the median unit
lists 178 (pool, start) options, the 99th percentile 4,106 and the longest 8,268;
at 100,000 units the table alone would pass 40 GB.

The restricted problem keeps, per unit, its SLOTS_BY_OBJECTIVE cheapest options by
objective, the cheapest option on each of its SLOTS_BY_POOL cheapest pools, its earliest
start on its AGNOSTIC_POOLS pools cheapest on average (greedy's agnostic baseline starts
there), and, given prices (a sample's: `engines.relax.streamed_bound.sample_prices`),
its SLOTS_BY_PRICE cheapest at them, on the SAME rows as the whole problem
(`compile_time.compile_timed(select=...)`). Its options are a subset of the whole
problem's, so every plan of it is a plan of the whole problem; its bound is not one of
the whole problem. `placer.engines.relax.streamed_bound` certifies one: the Lagrangian
bound at given prices over every option of every unit, streamed chunk by chunk as the
compile makes them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from placer.errors import OptionError
from placer.model.scenario import Scenario
from placer.problem.compile_static import build_pools
from placer.problem.compile_time import (
    compile_timed,
    static_view,
    timed_rows,
    timed_units,
)
from placer.problem.form import Index, Problem
from placer.problem.rows import K_FACILITY, K_HEAT, K_IT, K_WATER, SITE_KINDS
from placer.problem.water_days import water_days

#: Options each unit keeps by objective alone (the cheapest hours on the cheapest pools).
SLOTS_BY_OBJECTIVE = 16
#: Pools each unit keeps its cheapest option on (room to move when capacity binds).
SLOTS_BY_POOL = 32
#: Options each unit keeps by their cost at a sample's prices (`compile_restricted`).
SLOTS_BY_PRICE = 16
#: Pools, cheapest on average for the unit, on which it keeps its earliest start: the
#: first choices of greedy's price- and carbon-agnostic baseline.
AGNOSTIC_POOLS = 4
#: Bytes per slot of the padded table: option int32, objective and latency float64, six
#: quantity amounts float64, with a margin for the engines' own [U, K] temporaries.
BYTES_PER_SLOT = 4 + 8 + 8 + 6 * 8 + 48
#: The padded table is restricted above this many bytes (estimated: `padded_bytes`).
PADDED_BYTES_MAX = 6 * 2**30
#: Workloads compiled whole to estimate the longest option list.
ESTIMATE_WORKLOADS = 200


def objective_of(entries: dict[str, np.ndarray], scenario: Scenario) -> np.ndarray:
    """float64[E]: each entry's objective, USD per hour of the horizon, as the compile
    writes it (cost + priced carbon + priced water over the horizon's hours)."""
    obj = scenario.objective
    assert scenario.horizon is not None
    return (
        entries["cost_usd"]
        + obj.carbon_price_usd_per_t * entries["carbon_kg"] / 1000.0
        + obj.water_price_usd_per_m3 * entries["water_l"] / 1000.0
    ) / scenario.horizon.hours


def keep_cheapest(
    unit_e: np.ndarray,
    pool_e: np.ndarray,
    objective_e: np.ndarray,
    by_objective: int = SLOTS_BY_OBJECTIVE,
    by_pool: int = SLOTS_BY_POOL,
) -> np.ndarray:
    """bool[E]: each unit's `by_objective` cheapest entries, and the cheapest entry on
    each of its `by_pool` cheapest pools (ties: the earlier entry)."""
    n_e = unit_e.size
    keep = np.zeros(n_e, bool)
    if n_e == 0:
        return keep
    order = np.lexsort((np.arange(n_e), objective_e, unit_e))  # by unit, then objective
    keep[order[_rank_within(unit_e[order]) < by_objective]] = True
    # each (unit, pool)'s cheapest entry: the first of its run in (unit, pool, objective)
    by_up = np.lexsort((np.arange(n_e), objective_e, pool_e, unit_e))
    u, p = unit_e[by_up], pool_e[by_up]
    first = np.ones(n_e, bool)
    first[1:] = (u[1:] != u[:-1]) | (p[1:] != p[:-1])
    best = by_up[first]
    ranked = best[np.lexsort((best, objective_e[best], unit_e[best]))]
    keep[ranked[_rank_within(unit_e[ranked]) < by_pool]] = True
    return keep


def keep_earliest_on_static_pools(
    unit_e: np.ndarray,
    pool_e: np.ndarray,
    start_e: np.ndarray,
    objective_e: np.ndarray,
    pools: int = AGNOSTIC_POOLS,
) -> np.ndarray:
    """bool[E]: each unit's earliest entry on each of its `pools` pools with the lowest
    mean objective over the unit's entries there (its static cost): the first choices
    of the price- and carbon-agnostic baseline (`placer.problem.agnostic`)."""
    n_e = unit_e.size
    keep = np.zeros(n_e, bool)
    if n_e == 0 or pools <= 0:
        return keep
    by_up = np.lexsort((np.arange(n_e), start_e, pool_e, unit_e))  # (unit, pool, start)
    u, p = unit_e[by_up], pool_e[by_up]
    first = np.ones(n_e, bool)
    first[1:] = (u[1:] != u[:-1]) | (p[1:] != p[:-1])
    group = np.cumsum(first) - 1
    mean = np.bincount(group, weights=objective_e[by_up]) / np.bincount(group)
    earliest = by_up[first]  # one per (unit, pool): its earliest start
    ranked = np.lexsort((earliest, mean, unit_e[earliest]))
    keep[earliest[ranked][_rank_within(unit_e[earliest][ranked]) < pools]] = True
    return keep


def _rank_within(sorted_unit: np.ndarray) -> np.ndarray:
    """int64[n]: the position of each entry among its unit's (the units sorted)."""
    n = sorted_unit.size
    start = np.ones(n, bool)
    start[1:] = sorted_unit[1:] != sorted_unit[:-1]
    first = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    return np.arange(n) - first


class EntryPricer:
    """Prices (unit, option) entries at row prices, exactly as the compiled problem
    charges them (`compile_time.timed_terms`), without the compiled problem: the rows
    `compile_time.timed_rows` writes (pools' GPUs and sites' IT, facility, heat and
    water per period, then the budget and the carbon cap). Rows beyond them (a priced
    grid event's soft rows, redundancy spread rows) are not priced: price 0, a
    relaxation."""

    def __init__(self, scenario: Scenario) -> None:
        horizon = scenario.horizon
        assert horizon is not None
        static = static_view(scenario)
        sites = sorted(static.sites, key=lambda s: s.id)
        pools = build_pools(static)
        self.scenario = scenario
        self.site_p = np.array([sites.index(st) for _, st, _ in pools], np.int64)
        self.n_p, self.n_s, self.n_t = len(pools), len(sites), horizon.periods
        self.span_h = horizon.hours
        self.cap_r = timed_rows(scenario, horizon, pools, sites)[0]
        self.num_rows = int(self.cap_r.size)
        self.days = water_days(horizon)

    def prices(self, prices_r: np.ndarray) -> np.ndarray:
        """float64[num_rows + 1]: max(0, y) on the rows an option may charge, 0 elsewhere
        (an uncapped row; a heat row whose cap is at least its IT row's, which no option
        charges: `timed_terms`), then 0 for "no row" (index -1)."""
        y = np.maximum(np.asarray(prices_r, float)[: self.num_rows], 0.0)
        y = np.where(np.isfinite(self.cap_r), y, 0.0)
        block = self.n_p + len(SITE_KINDS) * self.n_s
        site = self.cap_r[: block * self.n_t].reshape(self.n_t, block)[:, self.n_p :]
        site = site.reshape(self.n_t, self.n_s, len(SITE_KINDS))
        heat, it = SITE_KINDS.index(K_HEAT), SITE_KINDS.index(K_IT)
        implied = site[:, :, heat] >= site[:, :, it]  # [T, S]
        rows = y[: block * self.n_t].reshape(self.n_t, block)
        rows[:, self.n_p + heat :: len(SITE_KINDS)][implied] = 0.0
        return np.append(y, 0.0)

    def fixed(self, y: np.ndarray) -> float:
        """y . cap over the capped rows (y from `prices`)."""
        return float((y[:-1] * np.where(np.isfinite(self.cap_r), self.cap_r, 0.0)).sum())

    def priced(self, entries: dict[str, np.ndarray], y: np.ndarray) -> np.ndarray:
        """float64[E]: objective + y . usage of each entry (y from `prices`): in each
        period it runs, GPUs x its pool's GPU row, IT kW x its site's IT and heat rows,
        facility kW x the facility row, L/h x its day's water row x period h / 24
        (`placer.problem.water_days`; prefix sums over periods), then cost and carbon
        per hour of the horizon x the budget and carbon rows."""
        objective = objective_of(entries, self.scenario)
        if entries["u"].size == 0:
            return objective
        n_k, n_t = len(SITE_KINDS), self.n_t
        block = self.n_p + n_k * self.n_s
        per_t = y[: block * n_t].reshape(n_t, block).copy()
        water_cols = slice(self.n_p + SITE_KINDS.index(K_WATER), block, n_k)
        per_t[:, water_cols] = per_t[self.days.first_t, water_cols] * self.days.scale
        zero = np.zeros((1, block))
        cum = np.concatenate([zero, np.cumsum(per_t, axis=0)])  # [T + 1, block]
        first, last = entries["s0"], entries["s0"] + entries["n"]
        pool = entries["p"]
        site = n_k * self.site_p[pool] + self.n_p

        def window(col: np.ndarray) -> np.ndarray:
            return cum[last, col] - cum[first, col]

        it, fac = SITE_KINDS.index(K_IT), SITE_KINDS.index(K_FACILITY)
        heat, water = SITE_KINDS.index(K_HEAT), SITE_KINDS.index(K_WATER)
        return (
            objective
            + entries["gpus"] * window(pool)
            + entries["it_kw"] * (window(site + it) + window(site + heat))
            + entries["facility_kw"] * window(site + fac)
            + entries["water_l_per_h"] * window(site + water)
            + entries["cost_usd"] / self.span_h * y[block * n_t]
            + entries["carbon_kg"] / self.span_h * y[block * n_t + 1]
        )


class UnitMinima:
    """Each unit's cheapest priced entry, over the chunks a compile streams."""

    def __init__(self, num_units: int) -> None:
        self.best_u = np.full(num_units, np.inf)

    def add(self, unit_e: np.ndarray, priced_e: np.ndarray) -> None:
        np.minimum.at(self.best_u, unit_e, priced_e)

    def bound(self, problem: Problem, fixed: float) -> float:
        """L(y) = sum_u min(value lost (+inf if must place), cheapest) - y . cap."""
        lost = np.where(problem.must_place_u, np.inf, problem.unplaced_usd_per_h_u)
        return float(np.minimum(self.best_u, lost).sum()) - fixed


def compile_restricted(
    scenario: Scenario,
    prices_r: np.ndarray | None = None,
    *,
    size_rule: bool = True,
    also_uc: np.ndarray | None = None,
    on_entries: Callable[[dict[str, np.ndarray]], None] | None = None,
) -> tuple[Problem, Index, float | None]:
    """The restricted problem (module docstring), its Index (every unit of the whole
    problem, in the same order, with its kept options), and, given row prices
    `prices_r` (float64, the rows first, e.g. a sample's), the whole problem's
    Lagrangian bound at them (`UnitMinima`), else None. With prices each unit also
    keeps its SLOTS_BY_PRICE cheapest options at them; with `also_uc` (int64[U, C],
    `option_keys` of options to keep besides, -1: none; a plan's, say) those too,
    where the whole problem has them. `on_entries` sees every chunk of the whole
    problem's (unit, option) entries before the selection (`placer validate` counts
    them)."""
    assert scenario.horizon is not None
    n_t = scenario.horizon.periods
    pricer = EntryPricer(scenario) if prices_r is not None else None
    y = pricer.prices(prices_r) if pricer is not None else None
    minima = UnitMinima(len(timed_units(scenario))) if pricer is not None else None

    def select(entries: dict[str, np.ndarray]) -> np.ndarray:
        if on_entries is not None:
            on_entries(entries)
        objective = objective_of(entries, scenario)
        keep = keep_cheapest(entries["u"], entries["p"], objective)
        keep |= keep_earliest_on_static_pools(entries["u"], entries["p"], entries["s0"], objective)
        if pricer is not None:
            priced = pricer.priced(entries, y)
            minima.add(entries["u"], priced)
            keep |= keep_cheapest(entries["u"], entries["p"], priced, SLOTS_BY_PRICE, 0)
        if also_uc is not None:
            key = option_keys(entries["p"], entries["s0"], entries["n"], n_t)
            keep |= (also_uc[entries["u"]] == key[:, None]).any(axis=1)
        return keep

    problem, index = compile_timed(scenario, size_rule=size_rule, select=select)
    bound = None if minima is None else minima.bound(problem, pricer.fixed(y))
    return problem, index, bound


def option_keys(pool: np.ndarray, start: np.ndarray, periods: np.ndarray, n_t: int) -> np.ndarray:
    """int64[n]: one number per (pool, first period, periods) option of a horizon of n_t
    periods (what `compile_restricted(also_uc=...)` compares)."""
    p, s0, n = (np.asarray(a, np.int64) for a in (pool, start, periods))
    return (p * (n_t + 1) + s0) * (n_t + 1) + n


def padded_bytes(scenario: Scenario, seed: int = 0) -> float:
    """Estimated bytes of the whole problem's padded option table: its units x the
    longest option list of ESTIMATE_WORKLOADS workloads drawn at random and compiled
    whole (a lower estimate of the longest list: the whole fleet's is at least as
    long) x BYTES_PER_SLOT. 0 for a scenario without a horizon."""
    if scenario.horizon is None:
        return 0.0
    workloads = scenario.workloads
    n_w = len(workloads)
    if n_w <= ESTIMATE_WORKLOADS:
        sample = scenario
    else:
        pick = np.random.default_rng(seed).choice(n_w, ESTIMATE_WORKLOADS, replace=False)
        sample = scenario.model_copy(update={"workloads": [workloads[i] for i in sorted(pick)]})
    problem, _ = compile_timed(sample)
    n_u = len(timed_units(scenario))
    return float(n_u) * problem.num_slots * BYTES_PER_SLOT


def needs_restriction(scenario: Scenario) -> bool:
    """The whole problem's padded table would pass PADDED_BYTES_MAX. A unit lists at
    most pools x periods options (a pool and a start), so below that bound no sample is
    compiled."""
    horizon = scenario.horizon
    if horizon is None:
        return False
    pools = sum(len(site.pools) for site in scenario.sites)
    n_u = len(timed_units(scenario))
    if float(n_u) * pools * horizon.periods * BYTES_PER_SLOT <= PADDED_BYTES_MAX:
        return False
    return padded_bytes(scenario) > PADDED_BYTES_MAX


def require_whole_table(scenario: Scenario, command: str) -> None:
    """For the commands that compile the whole problem (`placer robust`, `rolling`,
    `pareto`): refuses a fleet whose whole option table would pass PADDED_BYTES_MAX
    (`needs_restriction`), on which they would otherwise run out of memory part way.

    Raises:
      OptionError: the fleet needs the restricted layout, which `command` lacks.
    """
    if not needs_restriction(scenario):
        return
    gib = padded_bytes(scenario) / 2**30
    raise OptionError(
        f"{command}: this fleet's whole option table would take about {gib:,.1f} GiB "
        f"(above {PADDED_BYTES_MAX / 2**30:g} GiB) and {command} compiles it whole: it does "
        "not run on the restricted layout yet (docs/engine.md). `placer solve`, `validate`, "
        "`verify` and `explain PLAN` do; or plan fewer periods or pools"
    )


__all__ = [
    "PADDED_BYTES_MAX",
    "EntryPricer",
    "UnitMinima",
    "compile_restricted",
    "keep_cheapest",
    "keep_earliest_on_static_pools",
    "needs_restriction",
    "objective_of",
    "option_keys",
    "padded_bytes",
    "require_whole_table",
]
