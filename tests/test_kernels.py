"""JAX kernels (placer.engines.kernels): reference, eager/jit/vmap, chunking, deltas, gradients.

Tolerances (STYLE.md section 7). The kernels run in float32 (unit roundoff
eps = 2**-24 ~ 6e-8); the reference `score_batch_numpy` runs in float64 on the same
Problem. Each table entry is rounded to float32 once (relative error <= eps) and a sum of
n terms adds at most (n - 1) eps relative to the sum of the terms' magnitudes, so with
U <= 6 units the error of a total is below ~5e-7 of that magnitude: we compare with
rtol = 1e-5 (RTOL) of the magnitude -- never of the difference, which may be 0. That is
a 20x margin, and still far finer than a real mistake: costs are whole cents and GPU
counts integers, so a wrong gather or a dropped unit moves cost, objective or GPU
totals (<= ~200) by >= 0.01, i.e. >= 5e-5 of the magnitude.
Overflow fields (load - cap, summed) are differences of sums: their absolute error is
that of the load and of the cap, and a cap only matters when it is below or near the
load, so the atol is RTOL x the total load of that resource. `masked` and
`redundancy` are counts of 0/1 terms: exact in float32, compared with equality.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from placer.engines.kernels.arrays import BIG, KernelProblem, to_kernel, to_pool_index
from placer.engines.kernels.delta import apply_move, delta_moves, delta_rows, incumbent
from placer.engines.kernels.reference import score_batch_numpy
from placer.engines.kernels.score import (
    VIOLATION_FIELDS,
    Scores,
    chunk_size,
    feasible,
    penalized,
    score_batch,
    score_one,
)
from placer.problem.form import Problem
from tests.problems import make_problem, random_problem

RTOL = 1e-5
LOADS = ("segment", "onehot")
COUNT_FIELDS = ("masked", "redundancy")

#: Violation weights ~1 for the delta tests, all different so that a delta that mixes
#: up two fields is caught (DEFAULT_WEIGHTS' 1e7 would swamp float32 objective changes).
SMALL_WEIGHTS = Scores(
    objective=1.0,
    cost=0.0,
    carbon=0.0,
    water=0.0,
    gpus_over=1.5,
    it_over=2.0,
    facility_over=2.5,
    heat_over=3.0,
    water_over=0.5,
    budget_over=0.75,
    carbon_over=1.25,
    masked=5.0,
    redundancy=7.0,
)


# ---- problems -----------------------------------------------------------------------------


def enrich(problem: Problem, rng: np.random.Generator, flags: int) -> Problem:
    """random_problem plus what it leaves out, each switched on by one bit of `flags`.

    1: budget cap; 2: facility power (PUE) with a grid cap; 4: heat caps; 8: water tables
    and caps; 16: objective = cost + priced carbon (so objective != cost). Uncapped
    resources stay `inf` (BIG in the kernel). Shapes do not change.
    """
    n_u, n_p = problem.allowed_up.shape
    n_s = problem.num_sites
    kw: dict = {}
    if flags & 1:
        kw["budget_usd_per_h"] = np.array(rng.uniform(5, 60))
    if flags & 2:
        kw["facility_kw_up"] = problem.it_kw_up * rng.uniform(1.05, 1.6, size=(1, n_p))
        kw["facility_cap_kw_s"] = np.where(
            rng.random(n_s) < 0.7, rng.uniform(8, 35, size=n_s), np.inf
        )
    if flags & 4:
        kw["heat_cap_kw_s"] = rng.uniform(6, 30, size=n_s)
    if flags & 8:
        kw["water_l_per_h_up"] = rng.uniform(0, 40, size=(n_u, n_p))
        kw["water_cap_l_per_h_s"] = np.where(
            rng.random(n_s) < 0.7, rng.uniform(10, 80, size=n_s), np.inf
        )
    if flags & 16:
        kw["objective_usd_per_h_up"] = problem.cost_usd_per_h_up + 0.3 * (
            problem.carbon_kg_per_h_up
        )
    return problem._replace(**kw)


def with_groups(problem: Problem, rng: np.random.Generator, n_g: int) -> Problem:
    """n_g redundancy groups (even g spread by site, odd g by "domain" = site // 2, both
    < S as compile makes them) with random members: a group may have 0, 1 or 3+ copies."""
    n_u = problem.num_units
    site = problem.pool_site_p.astype(np.int32)
    keys = [site if g % 2 == 0 else site // 2 for g in range(n_g)]
    return problem._replace(
        group_u=rng.integers(-1, n_g, size=n_u).astype(np.int32)
        if n_g
        else np.full(n_u, -1, np.int32),
        spread_key_gp=np.array(keys, np.int32).reshape(n_g, problem.num_pools),
    )


#: (U, P, S, G) of the random problems. Shapes are fixed so that each jitted kernel
#: compiles once per shape (~1 s each on CPU) and hypothesis varies only the values:
#: size-1 axes, a mid size, and the largest (3 sites, 2 groups: site and domain spread).
SHAPES = ((1, 1, 1, 0), (3, 2, 2, 1), (6, 4, 3, 2))
K = 10  # candidates per case: not a multiple of the chunk (4) that the tests use


def problem_of(shape, seed: int, flags: int) -> Problem:
    n_u, n_p, n_s, n_g = shape
    rng = np.random.default_rng(seed)
    problem = enrich(random_problem(rng, n_u, n_p, n_s), rng, flags)
    assert problem.num_sites == n_s  # random_problem gives every site a pool when S <= P
    return with_groups(problem, rng, n_g)


@st.composite
def cases(draw, shapes=SHAPES, n_k: int = K):
    """(problem, candidates int32[n_k, U] in [0, P]) with masked and unplaced entries.

    random_problem: binding GPU and IT caps, must-place units (~half), carbon cap
    (~30%); `enrich` adds budget, facility, heat, water; `with_groups` redundancy.
    """
    shape = draw(st.sampled_from(shapes))
    seed = draw(st.integers(0, 2**32 - 1))
    problem = problem_of(shape, seed, draw(st.integers(0, 31)))
    rng = np.random.default_rng(seed + 1)
    a_ku = rng.integers(0, shape[1] + 1, size=(n_k, shape[0])).astype(np.int32)
    return problem, a_ku


def picked(table_up: np.ndarray, a_ku: np.ndarray, last: np.ndarray | float = 0.0):
    """float64[K, U]: table[u, a[k, u]], column P = `last`."""
    n_u = table_up.shape[0]
    col = np.broadcast_to(np.asarray(last, float), (n_u,))[:, None]
    full = np.concatenate([table_up, col], axis=1)
    return full[np.arange(n_u)[None, :], a_ku]


def magnitudes(problem: Problem, a_ku: np.ndarray) -> dict[str, float]:
    """Per Scores field, the largest (over candidates) sum of |terms| it adds up."""

    def total(table, last=0.0) -> float:
        return float(np.abs(picked(table, a_ku, last)).sum(axis=1).max(initial=0.0))

    objective = total(problem.objective_usd_per_h_up, problem.unplaced_usd_per_h_u)
    cost, carbon = total(problem.cost_usd_per_h_up), total(problem.carbon_kg_per_h_up)
    water = total(problem.water_l_per_h_up)
    return {
        "objective": objective,
        "cost": cost,
        "carbon": carbon,
        "water": water,
        "gpus_over": total(problem.gpus_up),
        "it_over": total(problem.it_kw_up),
        "facility_over": total(problem.facility_kw_up),
        "heat_over": total(problem.heat_kw_up),
        "water_over": water,
        "budget_over": cost,
        "carbon_over": carbon,
    }


def assert_scores_close(got: Scores, want: Scores, mags: dict[str, float], rtol=RTOL) -> None:
    """Field by field: counts exactly, sums within rtol x their magnitude (module doc)."""
    for name in Scores._fields:
        g = np.asarray(getattr(got, name), np.float64)
        w = np.asarray(getattr(want, name), np.float64)
        assert g.shape == w.shape, name
        if name in COUNT_FIELDS:
            np.testing.assert_array_equal(g, w, err_msg=name)
        else:
            np.testing.assert_allclose(g, w, rtol=0, atol=rtol * mags[name], err_msg=name)


# ---- the float64 NumPy reference ----------------------------------------------------------


@given(cases(), st.sampled_from(LOADS))
@settings(max_examples=60, deadline=None)
def test_score_batch_equals_numpy_reference(case, loads) -> None:
    problem, a_ku = case
    got = score_batch(jnp.asarray(a_ku), to_kernel(problem), chunk=4, loads=loads)
    assert_scores_close(got, score_batch_numpy(a_ku, problem), magnitudes(problem, a_ku))


@pytest.mark.parametrize("loads", LOADS)
def test_reference_sees_every_violation_kind(loads) -> None:
    """A hand-made candidate that breaks every rule once, with the sums derived by hand.

    Two sites, pools p0 (site 0) and p1 (site 1); 3 units, each 4 GPUs, 5 kW IT, 6 kW
    facility, 10 L/h water, cost 2 USD/h, carbon 1 kg/h. Candidate [0, 0, 2]: units 0, 1
    in p0 and unit 2 unplaced (must-place: masked 1). p0 holds 8 GPUs (cap 6: over 2),
    site 0 10 kW IT (cap 7: 3), 12 kW facility (cap 11: 1), 10 kW heat (cap 9: 1),
    20 L/h (cap 15: 5); cost 4 (budget 3: 1), carbon 2 (cap 1.5: 0.5); units 0 and 1 are
    one group on one site: redundancy 1. Objective 4 + value lost 0 (must-place unit).
    The near miss [0, 1, 1]: every cap holds except budget (6 - 3 = 3) and carbon
    (3 - 1.5 = 1.5); groups on sites 0 and 1: redundancy 0.
    """
    u3p2 = np.ones((3, 2))
    problem = make_problem(
        cost_up=2 * u3p2,
        gpus_up=4 * u3p2,
        it_kw_up=5 * u3p2,
        facility_kw_up=6 * u3p2,
        water_l_per_h_up=10 * u3p2,
        carbon_kg_per_h_up=u3p2,
        gpu_cap_p=[6.0, 100.0],
        it_cap_kw_s=[7.0, 100.0],
        facility_cap_kw_s=[11.0, 100.0],
        heat_cap_kw_s=[9.0, 100.0],
        water_cap_l_per_h_s=[15.0, 100.0],
        budget_usd_per_h=3.0,
        carbon_cap_kg_per_h=1.5,
        group_u=[0, 0, -1],
        spread_key_gp=[[0, 1]],
    )
    # K rows (shape (3, 2, 2, 1) like SHAPES[1]: shares its compiled score_batch)
    a_ku = np.array([[0, 0, 2], [0, 1, 1]] * (K // 2), np.int32)
    want = np.array(
        [
            [4.0, 4.0, 2.0, 20.0, 2.0, 3.0, 1.0, 1.0, 5.0, 1.0, 0.5, 1.0, 1.0],
            [6.0, 6.0, 3.0, 30.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 1.5, 0.0, 0.0],
        ]
        * (K // 2)
    )
    ref = score_batch_numpy(a_ku, problem)
    got = score_batch(jnp.asarray(a_ku), to_kernel(problem), chunk=4, loads=loads)
    for i, name in enumerate(Scores._fields):
        np.testing.assert_array_equal(getattr(ref, name), want[:, i], err_msg=name)
        np.testing.assert_array_equal(getattr(got, name), want[:, i], err_msg=name)


def test_no_pools() -> None:
    """P = 0 (so S = 0; make_problem allows it, random_problem does not): every unit is
    unplaced; must-place ones count as masked, the others lose their value."""
    problem = make_problem(
        cost_up=np.zeros((3, 0)), must_place_u=[True, False, True], value_u=[1.0, 2.5, 4.0]
    )
    a_ku = np.zeros((2, 3), np.int32)  # column P = 0 is "unplaced"
    ref = score_batch_numpy(a_ku, problem)
    np.testing.assert_array_equal(ref.objective, [7.5, 7.5])
    np.testing.assert_array_equal(ref.masked, [2.0, 2.0])
    for loads in LOADS:
        got = score_batch(jnp.asarray(a_ku), to_kernel(problem), chunk=2, loads=loads)
        assert_scores_close(got, ref, magnitudes(problem, a_ku))


def test_score_one_with_no_units() -> None:
    """U = 0 (random_problem allows it): every field is 0."""
    kp = to_kernel(random_problem(np.random.default_rng(0), 0, 2, 2))
    for loads in LOADS:
        s = _score_one_jit(jnp.zeros((0,), jnp.int32), kp, loads)
        assert all(float(f) == 0.0 for f in s)


def test_score_batch_with_no_units() -> None:
    kp = to_kernel(random_problem(np.random.default_rng(0), 0, 2, 2))
    got = score_batch(jnp.zeros((3, 0), jnp.int32), kp, chunk=2)
    assert all(np.array_equal(np.asarray(f), np.zeros(3)) for f in got)


@pytest.mark.parametrize("shape", [(0, 3), (3, 0)], ids=["K0", "U0"])
def test_reference_with_empty_batch_or_no_units(shape) -> None:
    problem = random_problem(np.random.default_rng(0), shape[1], 2, 2)
    ref = score_batch_numpy(np.zeros(shape, np.int32), problem)
    assert all(np.array_equal(f, np.zeros(shape[0])) for f in ref)


def test_score_batch_with_empty_batch() -> None:
    kp = to_kernel(random_problem(np.random.default_rng(0), 3, 2, 2))
    got = score_batch(jnp.zeros((0, 3), jnp.int32), kp, chunk=2)
    assert all(f.shape == (0,) and f.dtype == jnp.float32 for f in got)


# ---- eager == jit == vmap; chunking ---------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("loads",))
def _score_one_jit(a_u, kp, loads):
    return score_one(a_u, kp, loads)


@given(cases(shapes=SHAPES[2:], n_k=3), st.sampled_from(LOADS))
@settings(max_examples=10, deadline=None)
def test_eager_jit_vmap_agree(case, loads) -> None:
    """The same candidates scored eagerly, under jit, and vmapped (eagerly).

    XLA may fuse and reassociate the float32 reductions under jit, so sums are compared
    at 1e-6 of their magnitude (a few ulps at U <= 6); counts exactly. (Eager dispatch
    compiles every primitive once per shape: one shape keeps this test short.)
    """
    problem, a_ku = case
    kp = to_kernel(problem)
    a = jnp.asarray(a_ku)
    eager = [score_one(a[k], kp, loads) for k in range(a.shape[0])]
    jitted = [_score_one_jit(a[k], kp, loads) for k in range(a.shape[0])]
    vmapped = jax.vmap(score_one, in_axes=(0, None, None))(a, kp, loads)
    stack = lambda rows: Scores(*(jnp.stack(f) for f in zip(*rows, strict=True)))  # noqa: E731
    mags = magnitudes(problem, a_ku)
    assert_scores_close(stack(jitted), stack(eager), mags, rtol=1e-6)
    assert_scores_close(vmapped, stack(eager), mags, rtol=1e-6)


@given(cases(shapes=SHAPES[2:]), st.sampled_from(LOADS))
@settings(max_examples=10, deadline=None)
def test_chunk_size_does_not_change_scores(case, loads) -> None:
    """K = 10 candidates in chunks of 1, 4 and 7 (K not a multiple: padded) and K.

    Each candidate is scored by the same vmapped body whatever the chunk, but the vmap
    width may change how XLA vectorises a reduction, so sums at 1e-6 of the magnitude.
    """
    problem, a_ku = case
    kp = to_kernel(problem)
    a = jnp.asarray(a_ku)
    base = score_batch(a, kp, chunk=4, loads=loads)
    mags = magnitudes(problem, a_ku)
    for chunk in (1, 7, K):
        assert_scores_close(score_batch(a, kp, chunk=chunk, loads=loads), base, mags, 1e-6)


def test_chunk_size_budget() -> None:
    assert chunk_size(1000, 10**6, budget_bytes=48_000 * 16) == 16
    assert chunk_size(1000, 5, budget_bytes=1 << 30) == 5  # never more than K
    assert chunk_size(10**9, 10) == 1  # never below 1
    assert chunk_size(0, 10) == 10


# ---- O(1) deltas ------------------------------------------------------------------------------

M = 16  # moves per case


@st.composite
def delta_cases(draw):
    """(problem, incumbent int32[U], units int32[M], pools int32[M] in [0, P])."""
    problem, a_ku = draw(cases(n_k=1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_u, n_p = problem.allowed_up.shape
    u_m = rng.integers(0, n_u, M).astype(np.int32)
    p_m = rng.integers(0, n_p + 1, M).astype(np.int32)
    stay = rng.random(M) < 0.2  # some moves to the unit's own pool
    p_m[stay] = a_ku[0][u_m[stay]]
    return problem, a_ku[0], u_m, p_m


@jax.jit
def _delta_and_rescored(a_u, u_m, p_m, kp, weights):
    """(delta_moves, penalized(score_one(moved)) - penalized(score_one(a_u))): float32[M]."""
    got = delta_moves(u_m, p_m, incumbent(a_u, kp), kp, weights)
    moved = jnp.broadcast_to(a_u, (u_m.shape[0], a_u.shape[0]))
    moved = moved.at[jnp.arange(u_m.shape[0]), u_m].set(p_m)
    rescored = penalized(jax.vmap(score_one, in_axes=(0, None))(moved, kp), weights)
    return got, rescored - penalized(score_one(a_u, kp), weights)


def _penalized_scale(problem: Problem, a_ku: np.ndarray) -> float:
    """Magnitude of a penalized score with SMALL_WEIGHTS: objective plus weighted loads
    and counts (each load sum <= its magnitude, each count <= U)."""
    m = magnitudes(problem, a_ku)
    w_max = max(SMALL_WEIGHTS)
    loads = sum(m[f] for f in VIOLATION_FIELDS if f not in COUNT_FIELDS)
    return m["objective"] + w_max * (loads + 2 * problem.num_units)


@given(delta_cases())
@settings(max_examples=40, deadline=None)
def test_delta_moves_equal_rescoring(case) -> None:
    """delta == penalized(moved) - penalized(incumbent), both scored from scratch.

    Both penalized totals are float32 sums of magnitude <= `_penalized_scale`; each
    carries <= ~1e-6 of it (module doc), the delta's own incremental terms likewise, so
    atol = RTOL x that magnitude. A move to the unit's own pool is exactly 0.
    """
    problem, a_u, u_m, p_m = case
    kp = to_kernel(problem)
    got, want = _delta_and_rescored(a_u, u_m, p_m, kp, SMALL_WEIGHTS)
    moved = np.repeat(a_u[None, :], M, axis=0)
    moved[np.arange(M), u_m] = p_m
    scale = _penalized_scale(problem, np.concatenate([a_u[None], moved]))
    np.testing.assert_allclose(got, want, rtol=0, atol=RTOL * scale)
    stay = p_m == a_u[u_m]
    assert (np.asarray(got)[stay] == 0.0).all()


@given(delta_cases())
@settings(max_examples=40, deadline=None)
def test_delta_rows_equal_delta_moves_for_every_pool(case) -> None:
    """The row form scores the same B x (P+1) moves as delta_moves (one unit, all pools).

    Same algebra in another order of float32 operations: atol as for rescoring."""
    problem, a_u, u_m, _ = case
    kp = to_kernel(problem)
    inc = incumbent(jnp.asarray(a_u), kp)
    rows = np.asarray(delta_rows(jnp.asarray(u_m), inc, kp, SMALL_WEIGHTS))
    n_p1 = problem.num_pools + 1
    assert rows.shape == (M, n_p1)
    uu, pp = np.repeat(u_m, n_p1), np.tile(np.arange(n_p1, dtype=np.int32), M)
    want = np.asarray(delta_moves(jnp.asarray(uu), jnp.asarray(pp), inc, kp, SMALL_WEIGHTS))
    scale = _penalized_scale(problem, a_u[None])
    np.testing.assert_allclose(rows.ravel(), want, rtol=0, atol=RTOL * scale)
    assert (rows[np.arange(M), to_pool_index(a_u, problem.num_pools)[u_m]] == 0.0).all()


@jax.jit
def _applied_and_fresh(a_u, u_m, p_m, kp):
    """(incumbent after apply_move of each move in turn, incumbent() of the result)."""

    def step(carry, move):
        inc, a = carry
        u, p = move
        return (apply_move(inc, u, p, kp), a.at[u].set(p)), None

    (inc, a), _ = jax.lax.scan(step, (incumbent(a_u, kp), a_u), (u_m, p_m))
    return inc, incumbent(a, kp)


@given(delta_cases())
@settings(max_examples=30, deadline=None)
def test_apply_move_equals_fresh_incumbent(case) -> None:
    """M moves applied one after another == incumbent() of the final candidate.

    Loads are float32 sums updated by -+ one term per move: after M = 16 moves their error
    is a few tens of eps of the largest load sum, so atol = RTOL x total magnitude; the
    assignment and key counts (small integers in float32) are exact.
    """
    problem, a_u, u_m, p_m = case
    kp = to_kernel(problem)
    applied, fresh = _applied_and_fresh(a_u, u_m, p_m, kp)
    np.testing.assert_array_equal(applied.a_u, fresh.a_u)
    np.testing.assert_array_equal(applied.keys, fresh.keys)
    final = a_u.copy()
    for u, p in zip(u_m, p_m, strict=True):
        final[u] = p
    np.testing.assert_array_equal(fresh.a_u, final)
    total = sum(magnitudes(problem, np.stack([a_u, final])).values())
    for name in ("gpus_p1", "site_s14", "cost", "carbon"):
        np.testing.assert_allclose(
            getattr(applied, name), getattr(fresh, name), rtol=0, atol=RTOL * total, err_msg=name
        )


def test_delta_default_weights_hand_case() -> None:
    """One unit, two pools (p0 cost 1, p1 cost 5, cap 1 GPU at p1, 2 GPUs per unit).

    Moving p0 -> p1: objective +4 and 1 GPU over at p1 (x 1e4): delta = 10004.
    Moving p0 -> unplaced (value 3, not must-place): 3 - 1 = 2. p0 -> p0: 0.
    """
    problem = make_problem(
        cost_up=[[1.0, 5.0]],
        gpus_up=[[2.0, 2.0]],
        gpu_cap_p=[np.inf, 1.0],
        must_place_u=[False],
        value_u=[3.0],
    )
    kp = to_kernel(problem)
    inc = incumbent(jnp.array([0], jnp.int32), kp)
    got = delta_moves(jnp.array([0, 0, 0]), jnp.array([1, 2, 0]), inc, kp)
    np.testing.assert_array_equal(np.asarray(got), [10004.0, 2.0, 0.0])


# ---- gradients ----------------------------------------------------------------------------

#: The float32 leaves of KernelProblem (allowed_up1 is bool; sites, groups int32).
FLOAT_FIELDS = (
    *(f for f in KernelProblem._fields if f.endswith(("_up1", "_p", "_s")) and f != "allowed_up1"),
    "budget",
    "carbon_cap",
)


@functools.partial(jax.jit, static_argnames=("loads",))
def _grads(a_ku, kp, loads):
    """d sum_k penalized / d every float leaf (through score_batch), and d/dt at t = 1 of
    a scaling t of objective and capacities (through score_one, incumbent, delta_moves)."""

    def total(floats):
        s = score_batch(a_ku, kp._replace(**floats), chunk=4, loads=loads)
        return penalized(s).sum()

    def scaled(t):
        k = kp._replace(
            objective_up1=t * kp.objective_up1,
            it_cap_s=t * kp.it_cap_s,
            facility_cap_s=t * kp.facility_cap_s,
            gpu_cap_p=t * kp.gpu_cap_p,
            budget=t * kp.budget,
        )
        one = penalized(score_one(a_ku[0], k, loads))
        moves = delta_moves(jnp.arange(a_ku.shape[1]), a_ku[1], incumbent(a_ku[0], k), k)
        return one + moves.sum()

    return jax.grad(total)({f: getattr(kp, f) for f in FLOAT_FIELDS}), jax.grad(scaled)(1.0)


@pytest.mark.parametrize("loads", LOADS)
def test_gradients_are_finite(loads) -> None:
    """No inf/nan in gradients with DEFAULT_WEIGHTS (up to 1e7), including every-cap-inf
    (BIG = 1e30 in the kernel) and partly uncapped problems; one shape, one compile."""
    rng = np.random.default_rng(3)
    shape = (5, 3, 2, 1)
    uncapped = with_groups(
        make_problem(
            cost_up=rng.uniform(1, 5, (5, 3)),
            pool_site_p=[0, 1, 1],
            must_place_u=np.array([1, 0, 1, 0, 0], bool),
            value_u=rng.uniform(1, 5, 5),
        ),
        rng,
        1,
    )
    enriched = problem_of(shape, 4, flags=31)
    enriched = enriched._replace(water_cap_l_per_h_s=np.array([np.inf, 50.0]))
    for problem in (uncapped, problem_of(shape, 3, flags=0), enriched):
        kp = to_kernel(problem)
        assert float(kp.water_cap_s[0]) == np.float32(BIG)  # an uncapped site
        for seed in range(3):
            a_ku = np.random.default_rng(seed).integers(0, 4, (K, 5)).astype(np.int32)
            d_floats, d_t = _grads(a_ku, kp, loads)
            for name, g in d_floats.items():
                assert bool(jnp.isfinite(g).all()), name
            assert bool(jnp.isfinite(d_t))


# ---- compilation ---------------------------------------------------------------------------


def test_score_batch_does_not_recompile_for_new_values() -> None:
    """Counts XLA compilations with jax.monitoring (public API in JAX 0.10).

    Every backend compilation records the duration event
    "/jax/core/compile/backend_compile_duration" (jax._src.dispatch.BACKEND_COMPILE_EVENT,
    emitted around compile_or_get_cached in pxla._cached_compilation); a listener counts
    them. jit cache hits record nothing. A new K is the positive control: the counter
    does see compiles.
    """
    event = "/jax/core/compile/backend_compile_duration"
    shape = SHAPES[2]
    kp, other_kp = (to_kernel(problem_of(shape, seed, 31)) for seed in (5, 6))
    rng = np.random.default_rng(5)
    a1, a2 = (jnp.asarray(rng.integers(0, 5, (K, 6)), jnp.int32) for _ in range(2))
    a_other_shape = jnp.asarray(rng.integers(0, 5, (K + 1, 6)), jnp.int32)
    score_batch(a1, kp, chunk=4).objective.block_until_ready()  # warm-up: compiles
    compiles: list[str] = []

    def listener(name, _secs, **_kw):
        if name == event:
            compiles.append(name)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        score_batch(a2, kp, chunk=4).objective.block_until_ready()
        score_batch(a1, other_kp, chunk=4).objective.block_until_ready()
        same_shape = len(compiles)
        score_batch(a_other_shape, kp, chunk=4).objective.block_until_ready()
        new_shape = len(compiles) - same_shape
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert same_shape == 0
    assert new_shape >= 1


# ---- feasible() -----------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["random", "generated"])
def test_milp_plan_is_feasible(source) -> None:
    """A MILP plan: feasible(), masked and redundancy exactly 0, every continuous
    violation 0 up to float32 rounding of loads that sit at a cap (RTOL x total load;
    the MILP's own feasibility tolerance, ~1e-6 relative, is below that)."""
    from placer.engines.base import SolveOptions
    from placer.engines.registry import SOLVERS

    if source == "random":
        problem = problem_of(SHAPES[2], 11, flags=31)
        problem = problem._replace(must_place_u=np.zeros(6, bool))  # feasible: place none
    else:
        from placer.model.generate import generate_scenario
        from placer.problem.compile import compile_problem

        problem, _ = compile_problem(generate_scenario(units=60, pools=6, seed=1))
    result = SOLVERS["milp"](problem, SolveOptions(time_limit_s=20.0, relative_gap=1e-4))
    assert result.status in ("optimal", "feasible"), result.message
    a_u = to_pool_index(result.assign_u, problem.num_pools)
    assert (a_u < problem.num_pools).any()  # it places something
    kp = to_kernel(problem)
    mags = magnitudes(problem, a_u[None])
    for loads in LOADS:
        s = _score_one_jit(jnp.asarray(a_u), kp, loads)
        assert bool(feasible(s))
        assert float(s.masked) == 0.0 and float(s.redundancy) == 0.0
        for name in VIOLATION_FIELDS:
            if name not in COUNT_FIELDS:
                assert 0.0 <= float(getattr(s, name)) <= RTOL * mags[name], name
    # negative control: the same plan with every GPU cap 0 is not feasible
    no_gpus = kp._replace(gpu_cap_p=jnp.zeros_like(kp.gpu_cap_p))
    assert not bool(feasible(_score_one_jit(jnp.asarray(a_u), no_gpus, "segment")))


# ---- one plan under many scenarios (kernels/perturb.py) ------------------------------------


def _perturbed_problem(problem: Problem, a_u: np.ndarray, pert, b: int):
    """Scenario b of `pert` as an explicit Problem and assignment (the module's meaning)."""
    up = np.asarray(pert.pool_up_p[b])
    m = np.asarray(pert.usage_scale_u[b], float)[:, None]
    s = np.asarray(pert.cost_scale_p[b], float)[None, :]
    dl = float(pert.carbon_price_delta_usd_per_t[b])
    cost = problem.cost_usd_per_h_up
    carbon = problem.carbon_kg_per_h_up
    changed = problem._replace(
        allowed_up=problem.allowed_up & up[None, :],
        gpus_up=problem.gpus_up * m,
        it_kw_up=problem.it_kw_up * m,
        facility_kw_up=problem.facility_kw_up * m,
        heat_kw_up=problem.heat_kw_up * m,
        water_l_per_h_up=problem.water_l_per_h_up * m,
        cost_usd_per_h_up=cost * m * s,
        carbon_kg_per_h_up=carbon * m,
        objective_usd_per_h_up=problem.objective_usd_per_h_up * m
        + cost * m * (s - 1.0)
        + carbon * m * dl / 1000.0,
        gpu_cap_p=problem.gpu_cap_p * np.asarray(pert.gpu_cap_scale_p[b], float),
        it_cap_kw_s=problem.it_cap_kw_s * np.asarray(pert.site_cap_scale_s[b], float),
        facility_cap_kw_s=problem.facility_cap_kw_s * np.asarray(pert.site_cap_scale_s[b], float),
        heat_cap_kw_s=problem.heat_cap_kw_s * np.asarray(pert.site_cap_scale_s[b], float),
        water_cap_l_per_h_s=problem.water_cap_l_per_h_s
        * np.asarray(pert.site_cap_scale_s[b], float),
    )
    n_p = problem.num_pools
    lost = (a_u < n_p) & ~np.append(up, True)[a_u]
    return changed, np.where(lost, n_p, a_u)


@given(cases(n_k=1), st.integers(0, 2**31 - 1), st.sampled_from(LOADS))
@settings(max_examples=40, deadline=None)
def test_perturbed_scores_equal_the_reference_of_each_changed_problem(case, seed, loads):
    from placer.engines.kernels.perturb import no_change, score_perturbed

    problem, a_ku = case
    kp = to_kernel(problem)
    rng = np.random.default_rng(seed)
    n_b, n_u, n_p, n_s = 5, problem.num_units, problem.num_pools, problem.num_sites
    pert = no_change(n_b, kp)._replace(
        pool_up_p=jnp.asarray(rng.random((n_b, n_p)) > 0.25),
        gpu_cap_scale_p=jnp.asarray(rng.uniform(0.5, 1.5, (n_b, n_p)), jnp.float32),
        site_cap_scale_s=jnp.asarray(rng.uniform(0.5, 1.5, (n_b, n_s)), jnp.float32),
        cost_scale_p=jnp.asarray(rng.uniform(0.5, 2.0, (n_b, n_p)), jnp.float32),
        carbon_price_delta_usd_per_t=jnp.asarray(rng.uniform(-50, 200, n_b), jnp.float32),
        usage_scale_u=jnp.asarray(rng.uniform(0.5, 1.5, (n_b, n_u)), jnp.float32),
    )
    got = score_perturbed(jnp.asarray(a_ku[0]), kp, pert, loads=loads)
    for b in range(n_b):
        changed, a_b = _perturbed_problem(problem, a_ku[0], pert, b)
        want = score_batch_numpy(a_b[None, :], changed)
        row = Scores(*(np.asarray(f)[b : b + 1] for f in got))
        mags = {k: 3.0 * v + 1.0 for k, v in magnitudes(changed, a_b[None, :]).items()}
        assert_scores_close(row, want, mags)


def test_no_change_and_site_failures():
    import placer
    from placer.engines.kernels.perturb import no_change, score_perturbed, site_failures
    from placer.plan.scoring import assignment_of
    from placer.problem.compile import compile_problem

    scenario = placer.load("configs/eu_sovereign.yaml")
    plan = placer.solve(scenario, solver="milp")
    problem, index = compile_problem(scenario)
    kp = to_kernel(problem)
    a_u = jnp.asarray(to_pool_index(assignment_of(plan, index), problem.num_pools))
    same = score_perturbed(a_u, kp, no_change(2, kp))
    one = score_one(a_u, kp)
    for name in Scores._fields:
        np.testing.assert_allclose(np.asarray(getattr(same, name)), float(getattr(one, name)))
    n1 = score_perturbed(a_u, kp, site_failures(kp))
    # losing the site of a must-place training run leaves it unserved (masked); losing a
    # site the plan does not use changes nothing
    hosts = {p.site for p in plan.placements if p.workload == "pretrain-eu-70b"}
    used = {p.site for p in plan.placements}
    for s, site in enumerate(index.sites):
        if site in hosts:
            assert float(np.asarray(n1.masked)[s]) >= 1
        if site not in used:
            assert float(np.asarray(n1.objective)[s]) == pytest.approx(float(one.objective))
