"""verify_startup: the start-up cost of a timed plan, recomputed from the Scenario and the
plan's placements alone (docs/time.md), never from the compiled Problem.

For every inference workload with `startup_usd_per_replica`: n[pool, t] is the replicas
of its placements in that (site, pool) serving period t, summed over regions, shares and
copies (each placement's replicas as verify recomputes them, not as stated); the replicas
started are sum over its pools and periods t >= 1 of max(0, n[pool, t] - n[pool, t-1])
(period 0's replicas are the starting fleet; with `running_replicas`, n[pool, -1], period 0
counts too) and they cost started x the field, USD. The
plan's `startup` must state one entry per such workload with these figures, and none for
another workload (kind "kpi"). `TimedVerifier` counts the USD in the cost (hence the
budget), the objective and the horizon's totals.
"""

from __future__ import annotations

from placer.model.scenario import Scenario
from placer.model.workload import Inference
from placer.plan.plan import Plan
from placer.plan.verify_figures import Violation, compare
from placer.problem.startup import priced_services


class StartupTally:
    """Replicas per (service, site, pool) and period, added placement by placement."""

    def __init__(self, scenario: Scenario) -> None:
        assert scenario.horizon is not None
        self.n_t = scenario.horizon.periods
        self.price = priced_services(scenario)  # workload -> USD per replica started
        self.replicas: dict[tuple[str, str, str], list[int]] = {}
        # workload -> "site/pool" -> replicas running before the horizon
        self.running = {
            w.id: w.running_replicas
            for w in scenario.workloads
            if isinstance(w, Inference) and w.running_replicas is not None
        }

    def add(self, workload: str, site: str, pool: str, period: int | None, replicas: int) -> None:
        """One verified placement: `replicas` of `workload` in (site, pool) in `period`."""
        if workload not in self.price or period is None or not 0 <= period < self.n_t:
            return
        self.replicas.setdefault((workload, site, pool), [0] * self.n_t)[period] += replicas

    def started_t(self, key: tuple[str, str, str]) -> list[int]:
        """Replicas `key` (workload, site, pool) starts in each period."""
        wid, site, pool = key
        n = self.replicas[key]
        running = self.running.get(wid)
        first = 0 if running is None else max(0, n[0] - running.get(f"{site}/{pool}", 0))
        return [first] + [max(0, n[t] - n[t - 1]) for t in range(1, self.n_t)]

    def started(self) -> dict[str, int]:
        """Workload -> replicas started over the horizon (every priced workload)."""
        out = dict.fromkeys(self.price, 0)
        for key in self.replicas:
            out[key[0]] += sum(self.started_t(key))
        return out

    def check(self, plan: Plan, out: list[Violation]) -> float:
        """Appends every misstated `startup` entry to `out`; returns the start-up cost
        recomputed, USD over the horizon."""
        started = self.started()
        stated: set[str] = set()
        for i, entry in enumerate(plan.startup):
            path, wid = f"startup[{i}]", entry.workload
            if wid not in self.price:
                message = f"{path}: not a service with startup_usd_per_replica"
                out.append(Violation("kpi", wid, message))
                continue
            if wid in stated:
                out.append(Violation("kpi", wid, f"{path}: a second entry for the service"))
                continue
            stated.add(wid)
            price, n = self.price[wid], started[wid]
            compare(out, wid, path, "usd_per_replica", entry.usd_per_replica, price)
            compare(out, wid, path, "replicas_started", entry.replicas_started, n)
            compare(out, wid, path, "cost_usd", entry.cost_usd, n * price)
        for wid in self.price:
            if wid not in stated:
                message = f"startup: no entry; it starts {started[wid]} replicas"
                out.append(Violation("kpi", wid, message))
        return float(sum(started[wid] * price for wid, price in self.price.items()))
