"""The compiled Problem: every solver reads this, and nothing else.

Axis letters (STYLE.md): `u` placement unit, `p` pool (an accelerator type at a
site), `s` site, `g` redundancy group. Arrays are NumPy; float64 here so the MILP sees
exact coefficients; JAX kernels cast to float32. A capacity of `inf` means "no cap".

An `Assignment` is int32[U]: the pool index of each unit, or -1 for unplaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

UNPLACED = -1

#: Bits of `Problem.reason_up`: why a (unit, pool) pair is excluded.
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
}
R_ACCEL, R_MEMORY, R_LATENCY, R_RESIDENCY, R_COOLING, R_DENSITY = (1 << i for i in range(6))
R_PIN, R_EXCLUDE, R_DEADLINE, R_SIZE = (1 << i for i in range(6, 10))


def reason_names(bits: int) -> list[str]:
    """The reasons set in one `reason_up` entry, in bit order."""
    return [name for bit, name in REASONS.items() if bits & bit]


class Problem(NamedTuple):
    """Dense placement problem (shapes: U units, P pools, S sites, G groups).

    Attributes:
      allowed_up: bool[U, P], the pair passes every mask rule.
      reason_up: uint16[U, P], bitmask of `REASONS` that exclude the pair (0 if allowed).
      gpus_up: float64[U, P], GPUs the unit occupies in the pool.
      it_kw_up: float64[U, P], IT power at full load, kW (capacity planning).
      facility_kw_up: float64[U, P], it_kw_up x site PUE, kW (grid cap).
      heat_kw_up: float64[U, P], heat to reject at full load, kW (= IT power).
      water_l_per_h_up: float64[U, P], mean water draw, L/h (mean IT kW x WUE).
      cost_usd_per_h_up: float64[U, P], GPU-hours + energy + egress, USD/h.
      carbon_kg_per_h_up: float64[U, P], mean facility power x grid intensity, kgCO2e/h.
      objective_usd_per_h_up: float64[U, P], cost + priced carbon + priced water, USD/h.
      latency_ms_up: float64[U, P], RTT to the unit's user region, ms (0 for training).
      unplaced_usd_per_h_u: float64[U], value lost when the unit is not placed, USD/h.
      must_place_u: bool[U], the unit must be placed.
      group_u: int32[U], redundancy group (-1: none); a group's units need distinct keys.
      spread_key_gp: int32[G, P], spread key of each pool for the group (site or domain).
      pool_site_p: int32[P], site of each pool.
      gpu_cap_p: float64[P], GPUs usable in the pool (after headroom).
      it_cap_kw_s, facility_cap_kw_s, heat_cap_kw_s: float64[S], kW (after headroom).
      water_cap_l_per_h_s: float64[S], L/h (after headroom).
      budget_usd_per_h: float64[], total cost cap (inf: none).
      carbon_cap_kg_per_h: float64[], total carbon cap (inf: none).
      lexicographic: bool[], first maximise placed value, then minimise the objective.
    """

    allowed_up: np.ndarray
    reason_up: np.ndarray
    gpus_up: np.ndarray
    it_kw_up: np.ndarray
    facility_kw_up: np.ndarray
    heat_kw_up: np.ndarray
    water_l_per_h_up: np.ndarray
    cost_usd_per_h_up: np.ndarray
    carbon_kg_per_h_up: np.ndarray
    objective_usd_per_h_up: np.ndarray
    latency_ms_up: np.ndarray
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
        return int(self.allowed_up.shape[0])

    @property
    def num_pools(self) -> int:
        return int(self.allowed_up.shape[1])

    @property
    def num_sites(self) -> int:
        return int(self.it_cap_kw_s.shape[0])

    @property
    def num_groups(self) -> int:
        return int(self.spread_key_gp.shape[0])

    def take_units(self, units: np.ndarray) -> Problem:
        """The same pools, sites and capacities over the given units only (every per-unit
        `_u` / `_up` array indexed by `units`); callers adjust capacities themselves."""
        return self._replace(
            **{
                name: getattr(self, name)[units]
                for name in self._fields
                if name.endswith("_up") or name.endswith("_u")
            }
        )


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
      replicas_up: int32[U, P], replicas of an inference unit in the pool (0 training).
      hours_up: float64[U, P], training run length in the pool, h (0 inference).
    """

    units: tuple[Unit, ...]
    pools: tuple[PoolInfo, ...]
    sites: tuple[str, ...]
    replicas_up: np.ndarray
    hours_up: np.ndarray
