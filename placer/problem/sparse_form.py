"""The compiled Problem in pair-list form, for fleets where dense U x P arrays do not fit.

Axis letters as in `placer.problem.form`, plus `k`: a slot of a unit's list of allowed pools.
Each unit's allowed pools sit in slots 0..n_u-1 in ascending pool order; the rest of
the row is padding (pool -1, every table 0). Memory grows with U x K, K the longest
list, instead of U x P: on gen-100000x1000-s1 K is 536 of 1,000 pools.

Everything that is not per pair (per unit, pool, site, group; caps) is exactly the
dense Problem's. `SparseProblem.from_dense(p)` and `compile_sparse` (placer.sparse.
compile) give identical arrays; `dense_units` turns a subset of units back into a
dense `Problem` for the exact MILP (neighbourhood sub-problems).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from placer.problem.form import REASONS, Index, PoolInfo, Problem, Unit

#: `Problem` fields with one value per (unit, pool) pair, and their slot-table names.
PAIR_FIELDS: tuple[tuple[str, str], ...] = (
    ("gpus_up", "gpus_uk"),
    ("it_kw_up", "it_kw_uk"),
    ("facility_kw_up", "facility_kw_uk"),
    ("heat_kw_up", "heat_kw_uk"),
    ("water_l_per_h_up", "water_l_per_h_uk"),
    ("cost_usd_per_h_up", "cost_usd_per_h_uk"),
    ("carbon_kg_per_h_up", "carbon_kg_per_h_uk"),
    ("objective_usd_per_h_up", "objective_usd_per_h_uk"),
    ("latency_ms_up", "latency_ms_uk"),
)
#: Reason bit of a pair that a dense sub-problem built from the lists does not know
#: (it was not allowed; which rules excluded it is kept per unit in reason_count_ur).
R_UNLISTED = 1 << 15
NUM_REASONS = len(REASONS)


class SparseProblem(NamedTuple):
    """Pair-list placement problem (U units, K slots, P pools, S sites, G groups).

    Attributes:
      pool_uk: int32[U, K], pool of each slot (-1: padding).
      gpus_uk ... latency_ms_uk: float64[U, K], the dense Problem's `_up` tables at
        (u, pool_uk[u, k]) (0 on padding); units as in `placer.problem.form.Problem`.
      reason_count_ur: int32[U, R], for each bit r of `REASONS` (bit order), how many
        pools that rule excludes for the unit (what the plan says of an unplaced unit).
      The remaining fields are the dense Problem's, unchanged.
    """

    pool_uk: np.ndarray
    gpus_uk: np.ndarray
    it_kw_uk: np.ndarray
    facility_kw_uk: np.ndarray
    heat_kw_uk: np.ndarray
    water_l_per_h_uk: np.ndarray
    cost_usd_per_h_uk: np.ndarray
    carbon_kg_per_h_uk: np.ndarray
    objective_usd_per_h_uk: np.ndarray
    latency_ms_uk: np.ndarray
    reason_count_ur: np.ndarray
    unplaced_usd_per_h_u: np.ndarray
    must_place_u: np.ndarray
    group_u: np.ndarray
    spread_key_gp: np.ndarray
    pool_site_p: np.ndarray
    gpu_cap_p: np.ndarray
    it_cap_kw_s: np.ndarray
    facility_cap_kw_s: np.ndarray
    heat_cap_kw_s: np.ndarray
    water_cap_l_per_h_s: np.ndarray
    budget_usd_per_h: np.ndarray
    carbon_cap_kg_per_h: np.ndarray
    lexicographic: np.ndarray

    @property
    def num_units(self) -> int:
        return int(self.pool_uk.shape[0])

    @property
    def num_slots(self) -> int:
        return int(self.pool_uk.shape[1])

    @property
    def num_pools(self) -> int:
        return int(self.pool_site_p.shape[0])

    @property
    def num_sites(self) -> int:
        return int(self.it_cap_kw_s.shape[0])

    @property
    def num_groups(self) -> int:
        return int(self.spread_key_gp.shape[0])

    @property
    def listed_uk(self) -> np.ndarray:
        """bool[U, K]: the slot holds an allowed pool."""
        return self.pool_uk >= 0

    def num_pairs(self) -> int:
        """Allowed (unit, pool) pairs."""
        return int(self.listed_uk.sum())

    def slot_of(self, assign_u: np.ndarray) -> np.ndarray:
        """int64[U]: the slot of each unit's pool in `assign_u` (int[U], -1 unplaced);
        -1 for unplaced units, -2 where the pool is not in the unit's list (masked)."""
        a = np.asarray(assign_u)
        out = np.full(a.shape[0], -1, dtype=np.int64)
        rows = np.flatnonzero(a >= 0)
        if rows.size:
            hit = self.pool_uk[rows] == a[rows, None]
            found = hit.any(axis=1)
            out[rows] = np.where(found, hit.argmax(axis=1), -2)
        return out

    def slots_of(self, u: int, pools: np.ndarray) -> np.ndarray:
        """int64[len(pools)]: the slots of allowed pools of unit u (pools must be listed)."""
        n = int((self.pool_uk[u] >= 0).sum())
        return np.searchsorted(self.pool_uk[u, :n], pools)

    def take_units(self, units: np.ndarray) -> SparseProblem:
        """The same pools, sites and capacities over the given units only."""
        return self._replace(
            **{
                name: getattr(self, name)[units]
                for name in self._fields
                if name.endswith("_uk") or name.endswith("_u") or name.endswith("_ur")
            }
        )

    def dense_units(self, units: np.ndarray) -> Problem:
        """A dense Problem over `units` (same pools, sites, groups and capacities).

        Pairs not in a unit's list are not allowed there and carry `R_UNLISTED` as their
        reason: the sub-problem is for solvers, not for explaining masks."""
        units = np.asarray(units, dtype=np.int64)
        n, n_p = units.size, self.num_pools
        pools = self.pool_uk[units]
        rows, slots = np.nonzero(pools >= 0)
        cols = pools[rows, slots]
        tables = {}
        for dense_name, slot_name in PAIR_FIELDS:
            table = np.zeros((n, n_p))
            table[rows, cols] = getattr(self, slot_name)[units][rows, slots]
            tables[dense_name] = table
        allowed = np.zeros((n, n_p), dtype=bool)
        allowed[rows, cols] = True
        reason = np.where(allowed, 0, R_UNLISTED).astype(np.uint16)
        return Problem(
            allowed_up=allowed,
            reason_up=reason,
            **tables,
            unplaced_usd_per_h_u=self.unplaced_usd_per_h_u[units],
            must_place_u=self.must_place_u[units],
            group_u=self.group_u[units],
            spread_key_gp=self.spread_key_gp,
            pool_site_p=self.pool_site_p,
            gpu_cap_p=self.gpu_cap_p,
            it_cap_kw_s=self.it_cap_kw_s,
            facility_cap_kw_s=self.facility_cap_kw_s,
            heat_cap_kw_s=self.heat_cap_kw_s,
            water_cap_l_per_h_s=self.water_cap_l_per_h_s,
            budget_usd_per_h=self.budget_usd_per_h,
            carbon_cap_kg_per_h=self.carbon_cap_kg_per_h,
            lexicographic=self.lexicographic,
        )

    @classmethod
    def from_dense(cls, problem: Problem) -> SparseProblem:
        """The pair lists of a dense Problem (exact: same floats, same order)."""
        lists, width = slot_layout(problem.allowed_up)
        tables = {
            slot_name: fill_slots(lists, width, getattr(problem, dense_name))
            for dense_name, slot_name in PAIR_FIELDS
        }
        return cls(
            pool_uk=pool_slots(lists, width, problem.num_units),
            **tables,
            reason_count_ur=reason_counts(problem.reason_up),
            **{
                name: getattr(problem, name)
                for name in cls._fields
                if not (name.endswith("_uk") or name.endswith("_ur"))
            },
        )


def slot_layout(allowed_up: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], int]:
    """((rows, cols, slots) of the allowed pairs, K): slot = rank of the pool in its row."""
    rows, cols = np.nonzero(allowed_up)
    counts = np.bincount(rows, minlength=allowed_up.shape[0])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slots = np.arange(rows.size) - starts[rows]
    return (rows, cols, slots), max(1, int(counts.max(initial=0)))


def fill_slots(lists, width: int, table_up: np.ndarray) -> np.ndarray:
    """float64[U, K]: table_up at each listed pair, 0 on padding."""
    rows, cols, slots = lists
    out = np.zeros((table_up.shape[0], width), dtype=table_up.dtype)
    out[rows, slots] = table_up[rows, cols]
    return out


def pool_slots(lists, width: int, n_units: int) -> np.ndarray:
    """int32[U, K]: the pool of each slot, -1 on padding."""
    rows, cols, slots = lists
    out = np.full((n_units, width), -1, dtype=np.int32)
    out[rows, slots] = cols
    return out


def reason_counts(reason_up: np.ndarray) -> np.ndarray:
    """int32[U, R]: pools each `REASONS` bit excludes, per unit."""
    return np.stack([((reason_up & bit) != 0).sum(axis=1) for bit in REASONS], axis=1).astype(
        np.int32
    )


@dataclass(frozen=True)
class SparseIndex:
    """Names for a SparseProblem's axes (as `placer.problem.form.Index`).

    Attributes:
      replicas_uk: int32[U, K], replicas of an inference unit in the slot's pool.
      hours_uk: float64[U, K], training run length in the slot's pool, h.
    """

    units: tuple[Unit, ...]
    pools: tuple[PoolInfo, ...]
    sites: tuple[str, ...]
    replicas_uk: np.ndarray
    hours_uk: np.ndarray

    @classmethod
    def from_dense(cls, index: Index, problem: Problem) -> SparseIndex:
        lists, width = slot_layout(problem.allowed_up)
        return cls(
            units=index.units,
            pools=index.pools,
            sites=index.sites,
            replicas_uk=fill_slots(lists, width, index.replicas_up),
            hours_uk=fill_slots(lists, width, index.hours_up),
        )
