"""The order in which a scheduler that sees neither prices nor carbon over time tries a
timed unit's options: greedy's baseline on a timed problem (`SolveOptions.rank_uk`).

Such a scheduler starts each training run as early as it fits, and puts each run and
each service on the pool that is cheapest on average over the horizon (its static
cost: what a tool with one price and one carbon intensity per site would see), the same
pool in every period while it fits. So an option's rank is (start period, the pool's
rank by static cost for the unit's workload and region); greedy breaks ties by the
option's own cost.
"""

from __future__ import annotations

import numpy as np

from placer.problem.form import Index, Problem


def agnostic_rank(problem: Problem, index: Index) -> np.ndarray | None:
    """int64[U, K]: the rank of each slot's option (lower first); None for a static
    problem (greedy's cheapest-first order is the baseline there)."""
    time = index.time
    if time is None:
        return None
    if problem.num_options == 0:
        return np.zeros(problem.option_uk.shape, np.int64)
    listed = problem.listed_uk
    option = np.maximum(problem.option_uk, 0)
    pool_uk = problem.pool_o[option]
    n_p = problem.num_pools
    # static cost of each (workload, region) on each pool: its mean objective there
    groups: dict[tuple[str, str | None], int] = {}
    group_u = np.array(
        [groups.setdefault((u.workload, u.region), len(groups)) for u in index.units], np.int64
    )
    cell = (group_u[:, None] * n_p + pool_uk)[listed]
    cost = problem.objective_usd_per_h_uk[listed]
    size = len(groups) * n_p
    total = np.bincount(cell, weights=cost, minlength=size)
    count = np.bincount(cell, minlength=size)
    mean = np.where(count > 0, total / np.maximum(count, 1), np.inf).reshape(len(groups), n_p)
    pool_rank = np.argsort(np.argsort(mean, axis=1, kind="stable"), axis=1, kind="stable")
    rank_of_pool = pool_rank[group_u[:, None], pool_uk]
    start = time.start_o[option].astype(np.int64)
    return np.where(listed, start * (n_p + 1) + rank_of_pool, 0)
