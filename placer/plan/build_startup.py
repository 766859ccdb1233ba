"""The start-up figures of a timed plan: for each service with startup_usd_per_replica,
the replicas its placements start over the horizon and what they cost (from the
Problem, `placer.problem.startup`; verify recomputes them from the Scenario)."""

from __future__ import annotations

import numpy as np

from placer.model.scenario import Scenario
from placer.plan.plan import ServiceStartup
from placer.problem.form import Problem
from placer.problem.startup import priced_services
from placer.problem.usage import started_of


def startup_view(
    scenario: Scenario, problem: Problem, assign_u: np.ndarray
) -> tuple[list[ServiceStartup], float]:
    """(one entry per service with a start-up cost, their total cost over the horizon,
    USD); ([], 0.0) when no service has one."""
    if problem.startup is None:
        return [], 0.0
    started = started_of(problem, assign_u)
    count_w = np.bincount(
        started.service_n, weights=started.started_n, minlength=problem.startup.num_services
    )
    out = [
        ServiceStartup(
            workload=wid,
            usd_per_replica=price,
            replicas_started=round(float(count_w[w])),
            cost_usd=round(float(count_w[w])) * price,
        )
        for w, (wid, price) in enumerate(priced_services(scenario).items())
    ]
    return out, float(sum(s.cost_usd for s in out))
