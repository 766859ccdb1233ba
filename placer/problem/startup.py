"""Start-up costs of inference replicas: the one coupling between the periods of a timed
problem that the options form does not hold (docs/time.md).

A service w with `startup_usd_per_replica` pays, for every pool p and period t >= 1,

    started[w,p,t] = max(0, n[w,p,t] - n[w,p,t-1])   replicas, x startup_usd_per_replica,

where n[w,p,t] is its replicas in p in period t summed over its regions, demand shares and
redundancy copies. The replicas of period 0 are the starting fleet and are not charged,
unless the service states `running_replicas` (what runs before the horizon, n[w,p,-1]):
then period 0 pays max(0, n[w,p,0] - n[w,p,-1]) too.
In the objective the USD are averaged per hour of the horizon, like every other money
figure: a started replica costs startup_usd_per_replica / horizon hours, USD/h.

`Startup` is the optional last field of `placer.problem.form.Problem` (None: no service
has a start-up cost, e.g. every static problem); `started_replicas` counts what an
assignment starts. This module imports nothing of `form` (form imports it).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from placer.model.scenario import Scenario
from placer.model.workload import Inference


class Startup(NamedTuple):
    """What the engines need to price replica start-ups (U units, K slots, W services
    with a start-up cost, T periods).

    Attributes:
      service_u: int32[U], the service of each unit (an index into `usd_per_h_w`); -1 for
        units without a start-up cost (training runs, services without the field).
      period_u: int32[U], the period each inference unit serves (-1 for training).
      replicas_uk: int32[U, K], replicas of the unit in each slot's option (0 where
        service_u is -1 or the slot holds no option).
      usd_per_h_w: float64[W], objective cost of one started replica of each service:
        startup_usd_per_replica / horizon hours, USD/h.
      periods: T.
      before_wp: int64[W, P], the replicas running before the horizon
        (`running_replicas`), for the services that state them; -1 on the rows of the
        others (their period 0 is the starting fleet). None: no service states them.
    """

    service_u: np.ndarray
    period_u: np.ndarray
    replicas_uk: np.ndarray
    usd_per_h_w: np.ndarray
    periods: int
    before_wp: np.ndarray | None = None

    def charged_from_period(self) -> np.ndarray:
        """int64[W]: the first period each service's start-ups are charged in (0 where it
        states its running replicas, else 1)."""
        first = np.ones(self.num_services, np.int64)
        if self.before_wp is not None:
            first[(self.before_wp >= 0).all(axis=1)] = 0
        return first

    @property
    def num_services(self) -> int:
        return int(self.usd_per_h_w.shape[0])

    def take(self, units: np.ndarray) -> Startup:
        """The same services over the given units only (their start-ups among themselves:
        units left out are as if unplaced)."""
        return self._replace(
            service_u=self.service_u[units],
            period_u=self.period_u[units],
            replicas_uk=self.replicas_uk[units],
        )


class Started(NamedTuple):
    """Replicas an assignment starts: one entry per (service, pool, period) where it
    starts at least one (n entries; period 0 only for services with running replicas).

    Attributes:
      service_n, pool_n, period_n: int64[n], where.
      started_n: int64[n], replicas started there (> 0).
    """

    service_n: np.ndarray
    pool_n: np.ndarray
    period_n: np.ndarray
    started_n: np.ndarray


def priced_services(scenario: Scenario) -> dict[str, float]:
    """Workload id -> startup_usd_per_replica of every service that sets it, by id (the
    order of `Startup.usd_per_h_w`)."""
    return {
        w.id: float(w.startup_usd_per_replica)
        for w in sorted(scenario.workloads, key=lambda w: w.id)
        if isinstance(w, Inference) and w.startup_usd_per_replica is not None
    }


def compile_startup(
    scenario: Scenario,
    unit_workload: list[str],
    unit_period: list[int],
    replicas_uk: np.ndarray,
    pool_names: list[str],
) -> Startup | None:
    """The start-up table of a timed problem (None when no service has the field).

    Args:
      scenario: the timed scenario.
      unit_workload: the workload id of each unit, in compile's unit order.
      unit_period: the period of each unit (-1 for training runs).
      replicas_uk: int32[U, K], replicas of each unit in each slot's option (`Index`).
      pool_names: the name ("site/pool") of each pool, in compile's pool order.
    """
    horizon = scenario.horizon
    assert horizon is not None
    usd = priced_services(scenario)
    if not usd:
        return None
    service_of = {wid: i for i, wid in enumerate(usd)}
    service_u = np.array([service_of.get(w, -1) for w in unit_workload], np.int32)
    period_u = np.array(unit_period, np.int32).reshape(-1)
    replicas = np.where(service_u[:, None] >= 0, replicas_uk, 0).astype(np.int32)
    usd_per_h_w = np.array(list(usd.values())) / horizon.hours
    running = {
        w.id: w.running_replicas
        for w in scenario.workloads
        if isinstance(w, Inference) and w.running_replicas is not None
    }
    before = None
    if running:
        pool_of = {name: p for p, name in enumerate(pool_names)}
        before = np.full((len(usd), len(pool_names)), -1, np.int64)
        for wid, counts in running.items():
            w = service_of[wid]
            before[w] = 0
            for name, n in counts.items():
                before[w, pool_of[name]] = n
    return Startup(service_u, period_u, replicas, usd_per_h_w, horizon.periods, before)


def started_replicas(startup: Startup, pool_u: np.ndarray, slot_u: np.ndarray) -> Started:
    """What an assignment starts.

    Args:
      startup: the problem's table.
      pool_u: int64[U], the pool of each unit's option (-1: unplaced).
      slot_u: int64[U], the slot of that option in the unit's list (< 0: unplaced or not
        listed; such units count for nothing).
    """
    placed = np.flatnonzero((startup.service_u >= 0) & (pool_u >= 0) & (slot_u >= 0))
    n_t = max(1, int(startup.periods))
    n_p = int(pool_u.max(initial=0)) + 1
    service = startup.service_u[placed].astype(np.int64)
    pool = pool_u[placed].astype(np.int64)
    period = startup.period_u[placed].astype(np.int64)
    key = (service * n_p + pool) * n_t + period
    keys, at = np.unique(key, return_inverse=True)
    replicas = startup.replicas_uk[placed, slot_u[placed]].astype(np.int64)
    n_key = np.bincount(at.reshape(-1), weights=replicas, minlength=keys.size).astype(np.int64)
    # the same (service, pool) in the period before: key - 1 when the period is >= 1
    t_key = keys % n_t
    before = np.searchsorted(keys, keys - 1)
    found = (t_key >= 1) & (before < keys.size)
    found[found] = keys[before[found]] == keys[found] - 1
    previous = np.where(found, n_key[np.minimum(before, max(keys.size - 1, 0))], 0)
    service_k, pool_k = keys // n_t // n_p, (keys // n_t) % n_p
    charged = t_key >= startup.charged_from_period()[service_k]
    if startup.before_wp is not None:  # period 0 against what runs before the horizon
        first = t_key == 0
        previous[first] = np.maximum(startup.before_wp[service_k[first], pool_k[first]], 0)
    started = np.where(charged, np.maximum(0, n_key - previous), 0)
    keep = started > 0
    return Started(service_k[keep], pool_k[keep], t_key[keep], started[keep])


def startup_usd_per_h(startup: Startup, started: Started) -> float:
    """The objective cost of what was started, USD/h (USD / horizon hours)."""
    return float((started.started_n * startup.usd_per_h_w[started.service_n]).sum())
