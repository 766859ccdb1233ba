"""Small hand-made Problems for solver tests (Problem terms, no Scenario)."""

from __future__ import annotations

import itertools

import numpy as np

from placer.problem.form import NUM_REASONS, Problem
from placer.problem.rows import QUANTITIES, standard_rows
from placer.problem.usage import objective_value, violations


def make_problem(
    *,
    cost_up,
    gpus_up=None,
    it_kw_up=None,
    pool_site_p=None,
    gpu_cap_p=None,
    it_cap_kw_s=None,
    must_place_u=None,
    value_u=None,
    group_u=None,
    spread_key_gp=None,
    allowed_up=None,
    facility_kw_up=None,
    facility_cap_kw_s=None,
    heat_cap_kw_s=None,
    water_l_per_h_up=None,
    water_cap_l_per_h_s=None,
    carbon_kg_per_h_up=None,
    budget_usd_per_h=np.inf,
    carbon_cap_kg_per_h=np.inf,
    lexicographic=False,
    objective_up=None,
) -> Problem:
    """A Problem from dense U x P tables (each pool one option), with defaults: 1 GPU and
    1 kW per pair, uncapped, all allowed, must-place; the objective is the cost."""
    cost = np.asarray(cost_up, dtype=float)
    n_u, n_p = cost.shape
    ones = np.ones((n_u, n_p))
    pool_site = np.arange(n_p) if pool_site_p is None else np.asarray(pool_site_p)
    n_s = int(pool_site.max()) + 1 if n_p else 0
    it = ones if it_kw_up is None else np.asarray(it_kw_up, dtype=float)
    allowed = np.ones((n_u, n_p), bool) if allowed_up is None else np.asarray(allowed_up, bool)
    inf_s = np.full(n_s, np.inf)
    zeros = np.zeros((n_u, n_p))
    tables = {
        "gpus": ones if gpus_up is None else np.asarray(gpus_up, dtype=float),
        "it_kw": it,
        "facility_kw": it if facility_kw_up is None else np.asarray(facility_kw_up, float),
        "water_l_per_h": zeros if water_l_per_h_up is None else np.asarray(water_l_per_h_up, float),
        "cost_usd_per_h": cost,
        "carbon_kg_per_h": zeros
        if carbon_kg_per_h_up is None
        else np.asarray(carbon_kg_per_h_up, float),
    }
    objective = cost if objective_up is None else np.asarray(objective_up, float)
    site_caps = np.stack(
        [
            inf_s if it_cap_kw_s is None else np.asarray(it_cap_kw_s, float),
            inf_s if facility_cap_kw_s is None else np.asarray(facility_cap_kw_s, float),
            inf_s if heat_cap_kw_s is None else np.asarray(heat_cap_kw_s, float),
            inf_s if water_cap_l_per_h_s is None else np.asarray(water_cap_l_per_h_s, float),
        ],
        axis=1,
    ).reshape(n_s, 4)
    rows = standard_rows(
        pool_site,
        np.full(n_p, np.inf) if gpu_cap_p is None else np.asarray(gpu_cap_p, float),
        site_caps,
        float(budget_usd_per_h),
        float(carbon_cap_kg_per_h),
    )
    counts = allowed.sum(axis=1)
    width = max(1, int(counts.max(initial=0)))
    u, p = np.nonzero(allowed)
    k = np.arange(u.size) - np.concatenate([[0], np.cumsum(counts)[:-1]])[u]
    option_uk = np.full((n_u, width), -1, np.int32)
    option_uk[u, k] = p

    def slots(table: np.ndarray) -> np.ndarray:
        out = np.zeros((n_u, width))
        out[u, k] = table[u, p]
        return out

    return Problem(
        option_uk=option_uk,
        objective_usd_per_h_uk=slots(objective),
        amount_quk=np.stack([slots(tables[q]) for q in QUANTITIES]).reshape(
            len(QUANTITIES), n_u, width
        ),
        latency_ms_uk=np.zeros((n_u, width)),
        reason_count_ur=np.stack(
            [(~allowed).sum(axis=1)] + [np.zeros(n_u, int)] * (NUM_REASONS - 1), axis=1
        ).astype(np.int32),
        unplaced_usd_per_h_u=np.zeros(n_u) if value_u is None else np.asarray(value_u, float),
        must_place_u=np.ones(n_u, bool) if must_place_u is None else np.asarray(must_place_u),
        group_u=np.full(n_u, -1, np.int32) if group_u is None else np.asarray(group_u, np.int32),
        pool_o=np.arange(n_p, dtype=np.int32),
        spread_key_go=np.zeros((0, n_p), np.int32)
        if spread_key_gp is None
        else np.asarray(spread_key_gp, np.int32),
        pool_site_p=pool_site.astype(np.int32),
        **rows._asdict(),
        lexicographic=np.array(lexicographic),
    )


def _pool_sites(rng: np.random.Generator, n_p: int, n_s: int) -> tuple[np.ndarray, int]:
    """Each pool's site (the first min(n_s, n_p) pools one per site) and the site count."""
    pool_site = rng.integers(0, n_s, size=n_p)
    pool_site[: min(n_s, n_p)] = np.arange(min(n_s, n_p))
    return pool_site, int(pool_site.max()) + 1


def _spread_group(rng: np.random.Generator, n_u: int, share: float) -> tuple[np.ndarray, int]:
    """Units 0 and 1 form redundancy group 0 with probability `share`: (group_u, groups)."""
    group = np.full(n_u, -1, np.int32)
    if n_u >= 2 and rng.random() < share:
        group[:2] = 0
        return group, 1
    return group, 0


def random_problem(rng: np.random.Generator, n_u: int, n_p: int, n_s: int) -> Problem:
    """A random small Problem with binding capacities, optional units and a spread group."""
    pool_site, n_s = _pool_sites(rng, n_p, n_s)
    gpus = rng.integers(1, 9, size=(n_u, n_p)).astype(float)
    it = gpus * rng.uniform(0.8, 1.6, size=(n_u, n_p))
    group, n_groups = _spread_group(rng, n_u, 0.5)
    return make_problem(
        cost_up=rng.uniform(1, 20, size=(n_u, n_p)).round(2),
        gpus_up=gpus,
        it_kw_up=it,
        pool_site_p=pool_site,
        gpu_cap_p=rng.integers(4, 16, size=n_p).astype(float),
        it_cap_kw_s=rng.uniform(8, 30, size=n_s),
        must_place_u=rng.random(n_u) < 0.5,
        value_u=rng.uniform(5, 30, size=n_u).round(2),
        allowed_up=rng.random((n_u, n_p)) < 0.8,
        group_u=group,
        spread_key_gp=np.tile(pool_site, (n_groups, 1)),
        carbon_kg_per_h_up=rng.uniform(0, 5, size=(n_u, n_p)),
        carbon_cap_kg_per_h=rng.uniform(5, 25) if rng.random() < 0.3 else np.inf,
    )


def brute_force(problem: Problem) -> tuple[float | None, np.ndarray | None]:
    """Optimum over all (O + 1) ** U assignments (-1 = unplaced); None if infeasible."""
    best, best_assign = None, None
    choices = range(-1, problem.num_options)
    for combo in itertools.product(choices, repeat=problem.num_units):
        assign = np.array(combo, dtype=np.int32)
        if violations(problem, assign):
            continue
        value = objective_value(problem, assign)
        if best is None or value < best - 1e-12:
            best, best_assign = value, assign
    return best, best_assign


def per_gpu_problem(rng: np.random.Generator, n_u: int, n_p: int, n_s: int) -> Problem:
    """Like `random_problem`, but every site row uses a fixed amount per GPU in each pool
    (IT and heat kW, facility kW at a per-site PUE, water L/h), as compiled Problems do,
    with those rows capped and binding; some units use a different GPU count per pool,
    and one site may hold three pools."""
    pool_site, n_s = _pool_sites(rng, n_p, n_s)
    gpus = rng.integers(1, 5, size=(n_u, n_p)).astype(float)
    kw_per_gpu = rng.uniform(0.5, 2.0, size=n_p)
    pue = rng.uniform(1.1, 1.5, size=n_s)
    it = gpus * kw_per_gpu
    water = gpus * rng.uniform(0.0, 3.0, size=n_p)
    group, n_groups = _spread_group(rng, n_u, 0.3)
    return make_problem(
        cost_up=rng.uniform(1, 20, size=(n_u, n_p)).round(2),
        gpus_up=gpus,
        it_kw_up=it,
        facility_kw_up=it * pue[pool_site],
        water_l_per_h_up=water,
        pool_site_p=pool_site,
        gpu_cap_p=rng.integers(2, 9, size=n_p).astype(float),
        it_cap_kw_s=rng.uniform(2, 10, size=n_s),
        facility_cap_kw_s=rng.uniform(3, 14, size=n_s),
        heat_cap_kw_s=rng.uniform(2, 12, size=n_s),
        water_cap_l_per_h_s=np.where(rng.random(n_s) < 0.5, rng.uniform(2, 12, size=n_s), np.inf),
        must_place_u=rng.random(n_u) < 0.4,
        value_u=rng.uniform(5, 40, size=n_u).round(2),
        allowed_up=rng.random((n_u, n_p)) < 0.8,
        group_u=group,
        spread_key_gp=np.tile(pool_site, (n_groups, 1)),
        carbon_kg_per_h_up=rng.uniform(0, 5, size=(n_u, n_p)),
        carbon_cap_kg_per_h=rng.uniform(5, 25) if rng.random() < 0.3 else np.inf,
    )


def dense_table(problem: Problem, name: str) -> np.ndarray:
    """float64[U, O]: a per-pair figure of a compiled Problem laid out by option (0 where
    the unit does not list the option): "objective" / "objective_usd_per_h", "latency_ms",
    or a quantity of `QUANTITIES` ("gpus", "it_kw", "facility_kw", "water_l_per_h",
    "cost_usd_per_h", "carbon_kg_per_h"); "heat_kw" is the IT power (compile's model).
    For the tests' small problems: the old dense `_up` tables."""
    from placer.problem.usage import dense_options

    if name in ("objective", "objective_usd_per_h"):
        table = problem.objective_usd_per_h_uk
    elif name == "latency_ms":
        table = problem.latency_ms_uk
    else:
        table = problem.amount_quk[QUANTITIES.index("it_kw" if name == "heat_kw" else name)]
    return dense_options(problem, table)


def allowed_table(problem: Problem) -> np.ndarray:
    """bool[U, O]: the unit lists the option (the old `allowed_up`)."""
    from placer.problem.usage import allowed_options

    return allowed_options(problem)
