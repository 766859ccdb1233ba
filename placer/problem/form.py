"""The compiled Problem: the one form every engine reads, and nothing else.

A placement problem is units that each choose at most one *option*. An option (today:
a pool; with time, a pool and a start period) has an objective and charges amounts of a
few quantities (GPUs, kW, L/h, USD/h, kg/h) to *capacity rows*; a row has a kind, a
scope and a capacity (`placer.problem.rows`). Structural rules that are not sums stay
explicit: a gang is one option, redundancy copies spread over sites or domains,
must-place units, lexicographic value.

Axis letters (STYLE.md): `u` placement unit, `k` a slot of a unit's option list, `o`
option, `p` pool (an accelerator type at a site), `s` site, `g` redundancy group, `q`
quantity, `j` a term of an option (one row it charges), `r` capacity row. Each unit's
options sit in slots of a padded table (`option_uk`, -1 where a slot holds none), in
ascending option order; memory grows with U x K, K the longest list (on
gen-100000x1000-s1, 536 of 1,000 pools). Arrays are float64 NumPy so the MILP sees
exact coefficients; JAX kernels cast to float32. A capacity of `inf` means "no cap".

An assignment is int32[U]: the option of each unit, or -1 (`UNPLACED`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from placer.problem.period_caps import PeriodCaps
from placer.problem.preempt import Preempt
from placer.problem.rows import KIND_SCOPE
from placer.problem.startup import Startup

UNPLACED = -1

#: Bits of the mask: why a (unit, pool) pair is excluded (`reason_count_ur` counts them
#: per unit; `placer.problem.compile.pair_reasons` gives them pair by pair).
REASONS: dict[int, str] = {
    1 << 0: "accelerator type not accepted",
    1 << 1: "GPU memory too small",
    1 << 2: "latency SLO",
    1 << 3: "residency",
    1 << 4: "cooling type",
    1 << 5: "rack density",
    1 << 6: "not a pinned site",
    1 << 7: "excluded site",
    1 << 8: "deadline",
    1 << 9: "larger than the pool or site",
    1 << 10: "TTFT SLO",
    1 << 11: "pod fits no node",
}
R_ACCEL, R_MEMORY, R_LATENCY, R_RESIDENCY, R_COOLING, R_DENSITY = (1 << i for i in range(6))
R_PIN, R_EXCLUDE, R_DEADLINE, R_SIZE, R_TTFT, R_NODE = (1 << i for i in range(6, 12))
NUM_REASONS = len(REASONS)


def reason_names(bits: int) -> list[str]:
    """The reasons set in one mask entry, in bit order."""
    return [name for bit, name in REASONS.items() if bits & bit]


class Problem(NamedTuple):
    """The placement problem (U units, K slots, O options, P pools, S sites, G groups,
    Q quantities, J terms per option, R capacity rows).

    Attributes:
      option_uk: int32[U, K], the option in each slot of a unit's list (-1: none).
      objective_usd_per_h_uk: float64[U, K], cost + priced carbon + priced water, USD/h
        (0 where no option).
      amount_quk: float64[Q, U, K], amount of each of `rows.QUANTITIES` the unit's
        option consumes (GPUs, kW, L/h, USD/h, kg/h; 0 where no option).
      latency_ms_uk: float64[U, K], RTT to the unit's user region, ms (0 for training).
      reason_count_ur: int32[U, NUM_REASONS], for each mask reason (bit order), how many
        pools it excludes for the unit.
      unplaced_usd_per_h_u: float64[U], value lost when the unit is not placed, USD/h.
      must_place_u: bool[U], the unit must be placed.
      group_u: int32[U], redundancy group (-1: none); a group's units need distinct keys.
      pool_o: int32[O], the pool each option runs in.
      spread_key_go: int32[G, O], spread key of each option for the group (site or
        failure domain index, < S).
      pool_site_p: int32[P], site of each pool.
      cap_r, kind_r, scope_r: the capacity rows (`placer.problem.rows.Rows`).
      row_oj: int32[O, J], the rows each option charges (-1: none).
      quantity_oj: int8[O, J], which quantity it charges to each of them.
      scale_oj: float64[O, J], or None (1 everywhere): the multiple of that quantity's
        amount the term charges. A timed option charges a day's water row once, with
        its L/h x its periods that day x period h / 24 (`placer.problem.water_days`);
        every other term charges the amount itself. `term_scale` reads it.
      lexicographic: bool[], first maximise placed value, then minimise the objective.
      over_usd_per_h_r: float64[R], or None (every row hard): the price of a *soft* row's
        load above its capacity, USD per hour of the horizon per unit of excess (the
        objective's unit; +inf on hard rows). A soft row may be exceeded and each unit
        over its cap is paid at this price (in the objective and in the cost the budget
        caps); a grid event with a price per kWh makes one per (site, period), a
        facility row over the hard one (docs/time.md). `placer.problem.soft` reads it.
      startup: the start-up cost of added inference replicas, which couples a service's
        units of consecutive periods (`placer.problem.startup`); None: none (static
        problems, and timed ones where no service sets startup_usd_per_replica).
      preempt: the preemptible training runs, and those that may migrate between pools
        (`placer.problem.preempt`): what a run period costs and charges per run, pool
        and period of its window, and what a move costs; the runs keep their contiguous
        options too. None: none (static problems, and timed ones where no run sets
        preemptible or migration_usd).
      period_caps: the budget and carbon caps per period (`placer.problem.period_caps`):
        a cap per (kind, period) and what each (unit, slot) spends in each period. None:
        none (static problems, and timed ones without budget_usd_per_period_h or
        carbon_cap_kg_per_period_h).
    """

    option_uk: np.ndarray
    objective_usd_per_h_uk: np.ndarray
    amount_quk: np.ndarray
    latency_ms_uk: np.ndarray
    reason_count_ur: np.ndarray
    unplaced_usd_per_h_u: np.ndarray
    must_place_u: np.ndarray
    group_u: np.ndarray
    pool_o: np.ndarray
    spread_key_go: np.ndarray
    pool_site_p: np.ndarray
    cap_r: np.ndarray
    kind_r: np.ndarray
    scope_r: np.ndarray
    row_oj: np.ndarray
    quantity_oj: np.ndarray
    lexicographic: np.ndarray
    over_usd_per_h_r: np.ndarray | None = None
    startup: Startup | None = None
    preempt: Preempt | None = None
    period_caps: PeriodCaps | None = None
    scale_oj: np.ndarray | None = None

    @property
    def num_units(self) -> int:
        return int(self.option_uk.shape[0])

    @property
    def num_slots(self) -> int:
        return int(self.option_uk.shape[1])

    @property
    def num_options(self) -> int:
        return int(self.pool_o.shape[0])

    @property
    def num_pools(self) -> int:
        return int(self.pool_site_p.shape[0])

    @property
    def num_sites(self) -> int:
        """Sites: every site a pool or a site row names."""
        site_rows = KIND_SCOPE[self.kind_r] == 1
        return max(
            int(self.pool_site_p.max(initial=-1)) + 1,
            int(self.scope_r[site_rows].max(initial=-1)) + 1,
        )

    @property
    def num_groups(self) -> int:
        return int(self.spread_key_go.shape[0])

    @property
    def num_rows(self) -> int:
        return int(self.cap_r.shape[0])

    @property
    def num_quantities(self) -> int:
        return int(self.amount_quk.shape[0])

    @property
    def listed_uk(self) -> np.ndarray:
        """bool[U, K]: the slot holds an option."""
        return self.option_uk >= 0

    @property
    def site_o(self) -> np.ndarray:
        """int32[O]: the site each option runs at."""
        return self.pool_site_p[self.pool_o]

    def wide_options(self) -> bool:
        """Options charge more than WIDE_TERMS_PER_OPTION rows on average (a timed run
        charges its rows in every period it runs; a static option charges 7)."""
        charged = int((self.row_oj >= 0).sum())
        return charged > WIDE_TERMS_PER_OPTION * self.num_options

    def term_scale(self, options: np.ndarray) -> np.ndarray | None:
        """float64[n, J]: the scale of each term of `options` (int[n]); None when every
        term's is 1 (`scale_oj` is None)."""
        return None if self.scale_oj is None else self.scale_oj[options]

    def num_pairs(self) -> int:
        """Allowed (unit, option) pairs."""
        return int(self.listed_uk.sum())

    def slot_of(self, assign_u: np.ndarray) -> np.ndarray:
        """int64[U]: the slot of each unit's option in `assign_u` (int[U], -1 unplaced);
        -1 for unplaced units, -2 where the option is not in the unit's list."""
        a = np.asarray(assign_u)
        out = np.full(a.shape[0], -1, dtype=np.int64)
        rows = np.flatnonzero(a >= 0)
        for start in range(0, rows.size, _CHUNK):
            part = rows[start : start + _CHUNK]
            hit = self.option_uk[part] == a[part, None]
            out[part] = np.where(hit.any(axis=1), hit.argmax(axis=1), -2)
        return out

    def options_of(self, u: int) -> tuple[np.ndarray, np.ndarray]:
        """(options int64[n], slots int64[n]) of unit u, ascending."""
        slots = np.flatnonzero(self.option_uk[u] >= 0)
        return self.option_uk[u, slots].astype(np.int64), slots

    def slots_of(self, u: int, options: np.ndarray) -> np.ndarray:
        """int64[len(options)]: the slots of listed options of unit u."""
        listed, slots = self.options_of(u)
        return slots[np.searchsorted(listed, options)]

    def take_units(self, units: np.ndarray) -> Problem:
        """The same options, rows and capacities over the given units only; callers
        adjust capacities themselves."""
        out = {
            name: getattr(self, name)[units]
            for name in self._fields
            if name.endswith(("_uk", "_u", "_ur")) and name != "amount_quk"
        }
        startup = None if self.startup is None else self.startup.take(units)
        preempt = None if self.preempt is None else self.preempt.take(units)
        caps = None if self.period_caps is None else self.period_caps.take(units)
        return self._replace(
            amount_quk=self.amount_quk[:, units],
            startup=startup,
            preempt=preempt,
            period_caps=caps,
            **out,
        )

    def restricted(self, keep_uk: np.ndarray) -> Problem:
        """The problem with only the slots where keep_uk (bool[U, K]) is True listed."""
        return self._replace(option_uk=np.where(keep_uk, self.option_uk, -1).astype(np.int32))


#: Options charging more rows than this on average are "wide" (`Problem.wide_options`).
WIDE_TERMS_PER_OPTION = 8
#: Units per chunk in `slot_of` (bounds its [chunk, K] temporaries).
_CHUNK = 8_192


@dataclass(frozen=True)
class Unit:
    """What a placement unit is, in the scenario's words."""

    name: str  # "chat/eu-west#1": workload, region, copy
    workload: str
    kind: str  # "training" | "inference"
    region: str | None
    copy: int
    copies: int
    demand_rps: float  # the share this copy must be able to carry alone (0 for training)
    period: int = -1  # timed inference: the period it serves (-1: every period / training)
    part: int = 0  # timed inference: which of the region's equal demand shares


@dataclass(frozen=True)
class PoolInfo:
    """What a pool is, in the scenario's words."""

    name: str  # "fra-onprem/H100-SXM"
    site: str
    key: str
    accelerator: str


@dataclass(frozen=True)
class Index:
    """Names for the Problem's axes (compile order is deterministic: sorted ids).

    Attributes:
      units: per unit u.   pools: per pool p.   sites: site ids per s.
      replicas_uk: int32[U, K], replicas of an inference unit in the slot's option (0
        for training).
      hours_uk: float64[U, K], training run length in the slot's option, h (0 for
        inference).
      time: the periods of a timed problem (None: static, one period).
      decode_replicas_uk: int32[U, K], decode replicas of a disaggregated unit in a
        pair option's slot (0 elsewhere; None: no unit disaggregates). `replicas_uk`
        then holds its prefill replicas.
      pair_pools: int32[O - P, 2], the (prefill pool, decode pool) of each pair option
        o >= P (prefill/decode disaggregation, docs/serving.md); None: no pair options.
    """

    units: tuple[Unit, ...]
    pools: tuple[PoolInfo, ...]
    sites: tuple[str, ...]
    replicas_uk: np.ndarray
    hours_uk: np.ndarray
    time: TimeIndex | None = None
    decode_replicas_uk: np.ndarray | None = None
    pair_pools: np.ndarray | None = None

    def decode_pool_of(self, o: int) -> int | None:
        """The decode pool of option o (a pair option), or None for a pool option."""
        if self.pair_pools is None or o < len(self.pools):
            return None
        return int(self.pair_pools[o - len(self.pools), 1])


@dataclass(frozen=True)
class TimeIndex:
    """When each option runs and which period each row belongs to (a timed problem).

    Attributes:
      start: the horizon's start (ISO 8601).   period_hours: length of a period, h.
      periods: T.
      start_o: int32[O], the first period option o runs in.
      length_o: int32[O], the periods it runs in (consecutive; the last may be partial).
      period_r: int32[R], the period of each row; -1 for rows over the whole horizon
        (the budget and the carbon cap, averaged per hour of the horizon).
      pool_o: int32[O], the pool of each option (as `Problem.pool_o`: a plan's
        placement names its option by pool, start and length).
    """

    start: str
    period_hours: float
    periods: int
    start_o: np.ndarray
    length_o: np.ndarray
    period_r: np.ndarray
    pool_o: np.ndarray

    def option_of(self) -> dict[tuple[int, int, int], int]:
        """(pool, first period, periods) -> option."""
        keys = zip(self.pool_o.tolist(), self.start_o.tolist(), self.length_o.tolist(), strict=True)
        return {key: o for o, key in enumerate(keys)}

    @property
    def hours(self) -> float:
        return self.periods * self.period_hours
