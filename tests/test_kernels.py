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
load, so the atol is RTOL x the total load of that resource. The vector fields are
compared column by column: `total_q[q]` against the total |amount| of quantity q,
`over_k[k]` against the total |amount| charged to the rows of kind k. `masked` and
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

from placer.engines.kernels.arrays import BIG, KernelProblem, to_kernel, to_options, to_slots
from placer.engines.kernels.delta import apply_move, delta_moves, delta_rows, incumbent
from placer.engines.kernels.reference import score_batch_numpy
from placer.engines.kernels.score import (
    NUM_KINDS,
    VIOLATION_FIELDS,
    Scores,
    Weights,
    chunk_size,
    feasible,
    penalized,
    score_batch,
    score_one,
    values_of,
    violation_values,
)
from placer.problem.form import Problem
from placer.problem.rows import (
    K_BUDGET,
    K_FACILITY,
    K_GPUS,
    K_HEAT,
    K_WATER,
    Q_CARBON,
    Q_COST,
    Q_FACILITY_KW,
    Q_GPUS,
    Q_IT_KW,
    Q_WATER,
    QUANTITIES,
    VIOLATIONS,
    global_row,
    rows_of_kind,
)
from tests.problems import make_problem, random_problem

RTOL = 1e-5
LOADS = ("segment", "onehot")
COUNT_FIELDS = ("masked", "redundancy")
NUM_Q = len(QUANTITIES)

#: Violation weights ~1 for the delta tests, all different so that a delta that mixes
#: up two fields is caught (DEFAULT_WEIGHTS' 1e7 would swamp float32 objective changes).
#: over_k by kind: gpus, it, facility, heat, water, budget, carbon.
SMALL_WEIGHTS = Weights(
    objective=1.0,
    over_k=np.array([1.5, 2.0, 2.5, 3.0, 0.5, 0.75, 1.25, 1.75, 2.25], np.float32),
    masked=5.0,
    redundancy=7.0,
)
W_MAX = max(
    SMALL_WEIGHTS.objective,
    float(SMALL_WEIGHTS.over_k.max()),
    SMALL_WEIGHTS.masked,
    SMALL_WEIGHTS.redundancy,
)


# ---- problems -----------------------------------------------------------------------------


def pad_slots(problem: Problem, width: int) -> Problem:
    """The same problem with every unit's slot list padded with empty slots to `width`
    (K = width whatever the mask draws, so each jitted kernel compiles once per shape)."""
    n_k = problem.num_slots
    extra = width - n_k
    if extra <= 0:
        return problem
    return problem._replace(
        option_uk=np.pad(problem.option_uk, ((0, 0), (0, extra)), constant_values=-1),
        objective_usd_per_h_uk=np.pad(problem.objective_usd_per_h_uk, ((0, 0), (0, extra))),
        latency_ms_uk=np.pad(problem.latency_ms_uk, ((0, 0), (0, extra))),
        amount_quk=np.pad(problem.amount_quk, ((0, 0), (0, 0), (0, extra))),
    )


def site_rows(problem: Problem, kind: int) -> np.ndarray:
    """int64[S]: the row of `kind` of every site."""
    return rows_of_kind(problem.kind_r, problem.scope_r, kind, problem.num_sites)


def enrich(problem: Problem, rng: np.random.Generator, flags: int) -> Problem:
    """random_problem plus what it leaves out, each switched on by one bit of `flags`.

    1: budget cap; 2: facility power (PUE per option) with a grid cap; 4: heat caps; 8:
    water amounts and caps; 16: objective = cost + priced carbon (so objective != cost).
    Uncapped rows stay `inf` (BIG in the kernel). Shapes do not change.
    """
    n_u, n_k = problem.option_uk.shape
    n_o, n_s = problem.num_options, problem.num_sites
    listed = problem.listed_uk
    option = np.maximum(problem.option_uk, 0)
    amount = problem.amount_quk.copy()
    cap = problem.cap_r.copy()
    objective = problem.objective_usd_per_h_uk
    if flags & 1:
        cap[global_row(problem.kind_r, K_BUDGET)] = rng.uniform(5, 60)
    if flags & 2:
        pue_o = rng.uniform(1.05, 1.6, size=n_o)
        amount[Q_FACILITY_KW] = np.where(listed, amount[Q_IT_KW] * pue_o[option], 0.0)
        cap[site_rows(problem, K_FACILITY)] = np.where(
            rng.random(n_s) < 0.7, rng.uniform(8, 35, size=n_s), np.inf
        )
    if flags & 4:
        cap[site_rows(problem, K_HEAT)] = rng.uniform(6, 30, size=n_s)
    if flags & 8:
        amount[Q_WATER] = np.where(listed, rng.uniform(0, 40, size=(n_u, n_k)), 0.0)
        cap[site_rows(problem, K_WATER)] = np.where(
            rng.random(n_s) < 0.7, rng.uniform(10, 80, size=n_s), np.inf
        )
    if flags & 16:
        objective = amount[Q_COST] + 0.3 * amount[Q_CARBON]
    return problem._replace(amount_quk=amount, cap_r=cap, objective_usd_per_h_uk=objective)


def with_groups(problem: Problem, rng: np.random.Generator, n_g: int) -> Problem:
    """n_g redundancy groups (even g spread by site, odd g by "domain" = site // 2, both
    < S as compile makes them) with random members: a group may have 0, 1 or 3+ copies."""
    n_u = problem.num_units
    site = problem.site_o.astype(np.int32)
    keys = [site if g % 2 == 0 else site // 2 for g in range(n_g)]
    return problem._replace(
        group_u=rng.integers(-1, n_g, size=n_u).astype(np.int32)
        if n_g
        else np.full(n_u, -1, np.int32),
        spread_key_go=np.array(keys, np.int32).reshape(n_g, problem.num_options),
    )


#: (U, P, S, G) of the random problems. Shapes are fixed so that each jitted kernel
#: compiles once per shape (~1 s each on CPU) and hypothesis varies only the values:
#: size-1 axes, a mid size, and the largest (3 sites, 2 groups: site and domain spread).
#: Every unit's slot list is padded to K = P (`pad_slots`), whatever the mask draws.
SHAPES = ((1, 1, 1, 0), (3, 2, 2, 1), (6, 4, 3, 2))
C = 10  # candidates per case: not a multiple of the chunk (4) that the tests use


def problem_of(shape, seed: int, flags: int) -> Problem:
    n_u, n_p, n_s, n_g = shape
    rng = np.random.default_rng(seed)
    problem = pad_slots(enrich(random_problem(rng, n_u, n_p, n_s), rng, flags), n_p)
    assert problem.num_sites == n_s  # random_problem gives every site a pool when S <= P
    assert problem.num_slots == n_p
    return with_groups(problem, rng, n_g)


@st.composite
def cases(draw, shapes=SHAPES, n_c: int = C):
    """(problem, candidates int32[n_c, U] slots in [0, K]) with masked (empty slots) and
    unplaced (K) entries.

    random_problem: binding GPU and IT caps, must-place units (~half), carbon cap
    (~30%), ~20% of pairs not listed; `enrich` adds budget, facility, heat, water;
    `with_groups` redundancy.
    """
    shape = draw(st.sampled_from(shapes))
    seed = draw(st.integers(0, 2**32 - 1))
    problem = problem_of(shape, seed, draw(st.integers(0, 31)))
    rng = np.random.default_rng(seed + 1)
    a_cu = rng.integers(0, problem.num_slots + 1, size=(n_c, shape[0])).astype(np.int32)
    return problem, a_cu


def picked(table_uk: np.ndarray, a_cu: np.ndarray, last: np.ndarray | float = 0.0):
    """float64[C, U]: table[u, a[c, u]], column K = `last` (0 in empty slots)."""
    n_u = table_uk.shape[0]
    col = np.broadcast_to(np.asarray(last, float), (n_u,))[:, None]
    full = np.concatenate([np.asarray(table_uk, float), col], axis=1)
    return full[np.arange(n_u)[None, :], a_cu]


def magnitudes(problem: Problem, a_cu: np.ndarray) -> dict[str, np.ndarray]:
    """Per Scores field, the largest (over candidates) sum of |terms| it adds up:
    "objective" a scalar, "total_q" [Q], "over_k" [NUM_KINDS] (the |amounts| charged to
    the rows of each kind)."""
    listed = problem.listed_uk
    objective = np.where(listed, problem.objective_usd_per_h_uk, 0.0)
    amount_quk = np.where(listed[None], problem.amount_quk, 0.0)
    abs_cuq = np.stack([np.abs(picked(t, a_cu)) for t in amount_quk], axis=-1)
    option_cu = picked(np.where(listed, problem.option_uk, -1), a_cu, -1).astype(np.int64)
    # [O+1, J] kind and quantity of every term (none for the last, "no option", row)
    row = np.vstack([problem.row_oj, np.full((1, problem.row_oj.shape[1]), -1)])
    quantity = np.vstack([problem.quantity_oj, np.zeros((1, row.shape[1]), np.int8)])
    kind = np.where(row >= 0, problem.kind_r[np.maximum(row, 0)], -1)
    value_cuj = np.take_along_axis(abs_cuq, quantity[option_cu].astype(np.int64), axis=2)
    kind_cuj = kind[option_cu]
    over_ck = np.stack(
        [np.where(kind_cuj == k, value_cuj, 0.0).sum(axis=(1, 2)) for k in range(NUM_KINDS)],
        axis=1,
    )
    total = np.abs(picked(objective, a_cu, problem.unplaced_usd_per_h_u)).sum(axis=1)
    return {
        "objective": total.max(initial=0.0),
        "total_q": abs_cuq.sum(axis=1).max(axis=0, initial=0.0),
        "over_k": over_ck.max(axis=0, initial=0.0),
    }


def assert_scores_close(got: Scores, want: Scores, mags: dict, rtol=RTOL) -> None:
    """Field by field: counts exactly, sums within rtol x their magnitude (module doc);
    total_q and over_k column by column, each with its own magnitude."""
    for name in Scores._fields:
        g = np.asarray(getattr(got, name), np.float64)
        w = np.asarray(getattr(want, name), np.float64)
        assert g.shape == w.shape, name
        if name in COUNT_FIELDS:
            np.testing.assert_array_equal(g, w, err_msg=name)
        elif name == "objective":
            np.testing.assert_allclose(g, w, rtol=0, atol=rtol * mags[name], err_msg=name)
        else:
            labels = QUANTITIES if name == "total_q" else VIOLATIONS
            for i, label in enumerate(labels):
                np.testing.assert_allclose(
                    g[..., i], w[..., i], rtol=0, atol=rtol * mags[name][i], err_msg=label
                )


# ---- the float64 NumPy reference ----------------------------------------------------------


@given(cases(), st.sampled_from(LOADS))
@settings(max_examples=60, deadline=None)
def test_score_batch_equals_numpy_reference(case, loads) -> None:
    problem, a_cu = case
    got = score_batch(jnp.asarray(a_cu), to_kernel(problem), chunk=4, loads=loads)
    assert_scores_close(got, score_batch_numpy(a_cu, problem), magnitudes(problem, a_cu))


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
    (3 - 1.5 = 1.5); groups on sites 0 and 1: redundancy 0. Totals: 8 GPUs, 10 kW IT,
    12 kW facility, 20 L/h, 4 USD/h, 2 kg/h, and 12, 15, 18, 30, 6, 3.
    Every unit lists both pools, so slot k is pool k and slot 2 (K) is unplaced.
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
    assert problem.num_slots == 2
    # C rows (shape (3, 2, 2, 1) like SHAPES[1]: shares its compiled score_batch)
    a_cu = np.array([[0, 0, 2], [0, 1, 1]] * (C // 2), np.int32)
    # objective | total_q (QUANTITIES order) | over_k (ROW_KINDS order) | masked, redundancy
    want = np.array(
        [
            # (no node or MIG rows here: those two kinds are 0; then masked, redundancy)
            [
                4.0,
                8.0,
                10.0,
                12.0,
                20.0,
                4.0,
                2.0,
                2.0,
                3.0,
                1.0,
                1.0,
                5.0,
                1.0,
                0.5,
                0.0,
                0.0,
                1.0,
                1.0,
            ],
            [
                6.0,
                12.0,
                15.0,
                18.0,
                30.0,
                6.0,
                3.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                3.0,
                1.5,
                0.0,
                0.0,
                0.0,
                0.0,
            ],
        ]
        * (C // 2)
    )
    columns = {
        "objective": want[:, 0],
        "total_q": want[:, 1 : 1 + NUM_Q],
        "over_k": want[:, 1 + NUM_Q : 1 + NUM_Q + NUM_KINDS],
        "masked": want[:, -2],
        "redundancy": want[:, -1],
    }
    ref = score_batch_numpy(a_cu, problem)
    got = score_batch(jnp.asarray(a_cu), to_kernel(problem), chunk=4, loads=loads)
    for name in Scores._fields:
        np.testing.assert_array_equal(getattr(ref, name), columns[name], err_msg=name)
        np.testing.assert_array_equal(getattr(got, name), columns[name], err_msg=name)
    # the same violations in VIOLATION_FIELDS order
    np.testing.assert_array_equal(violation_values(got), want[:, 1 + NUM_Q :])
    assert len(VIOLATION_FIELDS) == NUM_KINDS + 2


def test_no_pools() -> None:
    """P = 0 (so S = 0; make_problem allows it, random_problem does not): every unit is
    unplaced; must-place ones count as masked, the others lose their value. Each unit
    has one empty slot (K = 1); a unit put there is masked and has no value."""
    problem = make_problem(
        cost_up=np.zeros((3, 0)), must_place_u=[True, False, True], value_u=[1.0, 2.5, 4.0]
    )
    n_k = problem.num_slots
    assert n_k == 1
    a_cu = np.full((2, 3), n_k, np.int32)  # slot K is "unplaced"
    ref = score_batch_numpy(a_cu, problem)
    np.testing.assert_array_equal(ref.objective, [7.5, 7.5])
    np.testing.assert_array_equal(ref.masked, [2.0, 2.0])
    empty = score_batch_numpy(np.array([[0, n_k, 0]] * 2, np.int32), problem)
    np.testing.assert_array_equal(empty.objective, [2.5, 2.5])
    np.testing.assert_array_equal(empty.masked, [2.0, 2.0])
    for loads in LOADS:
        got = score_batch(jnp.asarray(a_cu), to_kernel(problem), chunk=2, loads=loads)
        assert_scores_close(got, ref, magnitudes(problem, a_cu))


def _all_zero(scores: Scores, n: int) -> bool:
    return all(f.shape[0] == n and np.array_equal(np.asarray(f), np.zeros(f.shape)) for f in scores)


def test_score_one_with_no_units() -> None:
    """U = 0 (random_problem allows it): every field is 0."""
    kp = to_kernel(random_problem(np.random.default_rng(0), 0, 2, 2))
    for loads in LOADS:
        s = _score_one_jit(jnp.zeros((0,), jnp.int32), kp, loads)
        assert all(np.array_equal(np.asarray(f), np.zeros(f.shape)) for f in s)
        assert s.total_q.shape == (NUM_Q,) and s.over_k.shape == (NUM_KINDS,)


def test_score_batch_with_no_units() -> None:
    kp = to_kernel(random_problem(np.random.default_rng(0), 0, 2, 2))
    got = score_batch(jnp.zeros((3, 0), jnp.int32), kp, chunk=2)
    assert _all_zero(got, 3)


@pytest.mark.parametrize("shape", [(0, 3), (3, 0)], ids=["C0", "U0"])
def test_reference_with_empty_batch_or_no_units(shape) -> None:
    problem = random_problem(np.random.default_rng(0), shape[1], 2, 2)
    ref = score_batch_numpy(np.zeros(shape, np.int32), problem)
    assert _all_zero(ref, shape[0])
    assert ref.total_q.shape == (shape[0], NUM_Q)
    assert ref.over_k.shape == (shape[0], NUM_KINDS)


def test_score_batch_with_empty_batch() -> None:
    kp = to_kernel(random_problem(np.random.default_rng(0), 3, 2, 2))
    got = score_batch(jnp.zeros((0, 3), jnp.int32), kp, chunk=2)
    assert all(f.shape[0] == 0 and f.dtype == jnp.float32 for f in got)
    assert got.total_q.shape == (0, NUM_Q) and got.over_k.shape == (0, NUM_KINDS)


def test_slots_and_options_round_trip() -> None:
    """to_slots / to_options: an assignment of options maps to slots (K = unplaced, and
    an option the unit does not list also maps to K) and back."""
    problem = make_problem(
        cost_up=np.ones((3, 3)),
        allowed_up=[[True, False, True], [False, False, True], [True, True, True]],
    )
    assert problem.num_slots == 3
    assign = np.array([[2, 2, 1], [-1, 0, 0], [0, -1, 2]], np.int32)
    slots = to_slots(problem, assign)
    np.testing.assert_array_equal(slots, [[1, 0, 1], [3, 3, 0], [0, 3, 2]])
    np.testing.assert_array_equal(to_options(problem, slots), [[2, 2, 1], [-1, -1, 0], [0, -1, 2]])


# ---- eager == jit == vmap; chunking ---------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("loads",))
def _score_one_jit(a_u, kp, loads):
    return score_one(a_u, kp, loads)


@given(cases(shapes=SHAPES[2:], n_c=3), st.sampled_from(LOADS))
@settings(max_examples=5, deadline=None)  # each example compiles anew (~0.7 s)
def test_eager_jit_vmap_agree(case, loads) -> None:
    """The same candidates scored eagerly, under jit, and vmapped (eagerly).

    XLA may fuse and reassociate the float32 reductions under jit, so sums are compared
    at 1e-6 of their magnitude (a few ulps at U <= 6); counts exactly. (Eager dispatch
    compiles every primitive once per shape: one shape keeps this test short.)
    """
    problem, a_cu = case
    kp = to_kernel(problem)
    a = jnp.asarray(a_cu)
    eager = [score_one(a[c], kp, loads) for c in range(a.shape[0])]
    jitted = [_score_one_jit(a[c], kp, loads) for c in range(a.shape[0])]
    vmapped = jax.vmap(score_one, in_axes=(0, None, None))(a, kp, loads)
    stack = lambda rows: Scores(*(jnp.stack(f) for f in zip(*rows, strict=True)))  # noqa: E731
    mags = magnitudes(problem, a_cu)
    assert_scores_close(stack(jitted), stack(eager), mags, rtol=1e-6)
    assert_scores_close(vmapped, stack(eager), mags, rtol=1e-6)


@given(cases(shapes=SHAPES[2:]), st.sampled_from(LOADS))
@settings(max_examples=10, deadline=None)
def test_chunk_size_does_not_change_scores(case, loads) -> None:
    """C = 10 candidates in chunks of 1, 4 and 7 (C not a multiple: padded) and C.

    Each candidate is scored by the same vmapped body whatever the chunk, but the vmap
    width may change how XLA vectorises a reduction, so sums at 1e-6 of the magnitude.
    """
    problem, a_cu = case
    kp = to_kernel(problem)
    a = jnp.asarray(a_cu)
    base = score_batch(a, kp, chunk=4, loads=loads)
    mags = magnitudes(problem, a_cu)
    for chunk in (1, 7, C):
        assert_scores_close(score_batch(a, kp, chunk=chunk, loads=loads), base, mags, 1e-6)


def test_chunk_size_budget() -> None:
    assert chunk_size(1000, 10**6, budget_bytes=128_000 * 16) == 16
    assert chunk_size(1000, 5, budget_bytes=1 << 30) == 5  # never more than C
    assert chunk_size(10**9, 10) == 1  # never below 1
    assert chunk_size(0, 10) == 10


# ---- O(J^2) deltas ----------------------------------------------------------------------------

M = 16  # moves per case


@st.composite
def delta_cases(draw):
    """(problem, incumbent int32[U], units int32[M], slots int32[M] in [0, K])."""
    problem, a_cu = draw(cases(n_c=1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_u, n_k = problem.num_units, problem.num_slots
    u_m = rng.integers(0, n_u, M).astype(np.int32)
    k_m = rng.integers(0, n_k + 1, M).astype(np.int32)
    stay = rng.random(M) < 0.2  # some moves to the unit's own slot
    k_m[stay] = a_cu[0][u_m[stay]]
    return problem, a_cu[0], u_m, k_m


@jax.jit
def _delta_and_rescored(a_u, u_m, k_m, kp, weights):
    """(delta_moves, penalized(score_one(moved)) - penalized(score_one(a_u))): float32[M]."""
    got = delta_moves(u_m, k_m, incumbent(a_u, kp), kp, weights)
    moved = jnp.broadcast_to(a_u, (u_m.shape[0], a_u.shape[0]))
    moved = moved.at[jnp.arange(u_m.shape[0]), u_m].set(k_m)
    rescored = penalized(jax.vmap(score_one, in_axes=(0, None))(moved, kp), weights)
    return got, rescored - penalized(score_one(a_u, kp), weights)


def _penalized_scale(problem: Problem, a_cu: np.ndarray) -> float:
    """Magnitude of a penalized score with SMALL_WEIGHTS: objective plus weighted loads
    and counts (each load sum <= its magnitude, each count <= U)."""
    m = magnitudes(problem, a_cu)
    return float(m["objective"] + W_MAX * (m["over_k"].sum() + 2 * problem.num_units))


@given(delta_cases())
@settings(max_examples=40, deadline=None)
def test_delta_moves_equal_rescoring(case) -> None:
    """delta == penalized(moved) - penalized(incumbent), both scored from scratch.

    Both penalized totals are float32 sums of magnitude <= `_penalized_scale`; each
    carries <= ~1e-6 of it (module doc), the delta's own incremental terms likewise, so
    atol = RTOL x that magnitude. A move to the unit's own slot is exactly 0.
    """
    problem, a_u, u_m, k_m = case
    kp = to_kernel(problem)
    got, want = _delta_and_rescored(a_u, u_m, k_m, kp, SMALL_WEIGHTS)
    moved = np.repeat(a_u[None, :], M, axis=0)
    moved[np.arange(M), u_m] = k_m
    scale = _penalized_scale(problem, np.concatenate([a_u[None], moved]))
    np.testing.assert_allclose(got, want, rtol=0, atol=RTOL * scale)
    stay = k_m == a_u[u_m]
    assert (np.asarray(got)[stay] == 0.0).all()


def shuffled_terms(problem, rng: np.random.Generator):
    """The same problem with each option's terms in its own random order: no run of
    consecutive rows and rows not term-aligned, so the kernels take their general paths
    (`TermBlocks`: one run per term, J x J move matching)."""
    order = np.argsort(rng.random(problem.row_oj.shape), axis=1)
    row = np.take_along_axis(problem.row_oj, order, axis=1)
    quantity = np.take_along_axis(problem.quantity_oj, order, axis=1)
    return problem._replace(row_oj=row, quantity_oj=quantity)


def test_shuffled_terms_take_the_general_paths() -> None:
    problem = random_problem(np.random.default_rng(5), 6, 5, 3)
    blocks = to_kernel(shuffled_terms(problem, np.random.default_rng(0))).blocks
    assert to_kernel(problem).blocks.runs == ((0, 1, -1), (1, 4, -1), (5, 2, 17))  # P + 4 S
    assert not blocks.aligned and len(blocks.runs) == problem.row_oj.shape[1]


@given(delta_cases(), st.integers(0, 2**31 - 1))
@settings(max_examples=6, deadline=None)  # each example compiles anew (~0.7 s)
def test_general_paths_equal_the_standard_layout(case, seed) -> None:
    """Shuffling every option's terms changes no score and no move delta: the windowed
    segment sums over runs and the term-aligned move deltas (the standard layout) equal
    the per-term sums and the J x J matching they stand for."""
    problem, a_u, u_m, k_m = case
    shuffled = shuffled_terms(problem, np.random.default_rng(seed))
    kp, kq = to_kernel(problem), to_kernel(shuffled)
    assert kp.blocks.aligned  # (the shuffled one is not, but for rare chance orders)
    a = jnp.asarray(a_u)
    for name in Scores._fields:
        np.testing.assert_allclose(
            np.asarray(getattr(score_one(a, kq), name)),
            np.asarray(getattr(score_one(a, kp), name)),
            rtol=1e-5,
            atol=1e-3,
        )
    got = delta_moves(jnp.asarray(u_m), jnp.asarray(k_m), incumbent(a, kq), kq, SMALL_WEIGHTS)
    want = delta_moves(jnp.asarray(u_m), jnp.asarray(k_m), incumbent(a, kp), kp, SMALL_WEIGHTS)
    scale = _penalized_scale(problem, a_u[None])
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=RTOL * scale)


@given(delta_cases())
@settings(max_examples=40, deadline=None)
def test_delta_rows_equal_delta_moves_for_every_slot(case) -> None:
    """The row form scores the same B x (K+1) moves as delta_moves (one unit, all slots).

    Same algebra in another order of float32 operations: atol as for rescoring."""
    problem, a_u, u_m, _ = case
    kp = to_kernel(problem)
    inc = incumbent(jnp.asarray(a_u), kp)
    rows = np.asarray(delta_rows(jnp.asarray(u_m), inc, kp, SMALL_WEIGHTS))
    n_k1 = problem.num_slots + 1
    assert rows.shape == (M, n_k1)
    uu, kk = np.repeat(u_m, n_k1), np.tile(np.arange(n_k1, dtype=np.int32), M)
    want = np.asarray(delta_moves(jnp.asarray(uu), jnp.asarray(kk), inc, kp, SMALL_WEIGHTS))
    scale = _penalized_scale(problem, a_u[None])
    np.testing.assert_allclose(rows.ravel(), want, rtol=0, atol=RTOL * scale)
    assert (rows[np.arange(M), a_u[u_m]] == 0.0).all()


@jax.jit
def _applied_and_fresh(a_u, u_m, k_m, kp):
    """(incumbent after apply_move of each move in turn, incumbent() of the result)."""

    def step(carry, move):
        inc, a = carry
        u, k = move
        return (apply_move(inc, u, k, kp), a.at[u].set(k)), None

    (inc, a), _ = jax.lax.scan(step, (incumbent(a_u, kp), a_u), (u_m, k_m))
    return inc, incumbent(a, kp)


@given(delta_cases())
@settings(max_examples=30, deadline=None)
def test_apply_move_equals_fresh_incumbent(case) -> None:
    """M moves applied one after another == incumbent() of the final candidate.

    Loads are float32 sums updated by -+ one term per move: after M = 16 moves their error
    is a few tens of eps of the largest load sum, so atol = RTOL x total magnitude; the
    assignment and key counts (small integers in float32) are exact.
    """
    problem, a_u, u_m, k_m = case
    kp = to_kernel(problem)
    applied, fresh = _applied_and_fresh(a_u, u_m, k_m, kp)
    np.testing.assert_array_equal(applied.a_u, fresh.a_u)
    np.testing.assert_array_equal(applied.keys, fresh.keys)
    final = a_u.copy()
    for u, k in zip(u_m, k_m, strict=True):
        final[u] = k
    np.testing.assert_array_equal(fresh.a_u, final)
    mags = magnitudes(problem, np.stack([a_u, final]))
    total = float(mags["objective"] + mags["total_q"].sum() + mags["over_k"].sum())
    for name in ("load_r1", "total_q"):
        np.testing.assert_allclose(
            getattr(applied, name), getattr(fresh, name), rtol=0, atol=RTOL * total, err_msg=name
        )


def test_delta_default_weights_hand_case() -> None:
    """One unit, two pools (p0 cost 1, p1 cost 5, cap 1 GPU at p1, 2 GPUs per unit).

    Moving p0 -> p1: objective +4 and 1 GPU over at p1 (x 1e4): delta = 10004.
    Moving p0 -> unplaced (value 3, not must-place): 3 - 1 = 2. p0 -> p0: 0.
    (Both pools listed: slot k is pool k, slot 2 is unplaced.)
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

#: The float32 leaves of KernelProblem (allowed_uk1 is bool; options, rows, kinds,
#: groups and spread slots int32; blocks is static).
FLOAT_FIELDS = (
    "objective_uk1",
    "amount_uk1q",
    "value_uk1j",
    "cap_r1",
    "real_r1",
    "spread_zero_n1",
)


@functools.partial(jax.jit, static_argnames=("loads",))
def _grads(a_cu, kp, loads):
    """d sum_c penalized / d every float leaf (through score_batch), and d/dt at t = 1 of
    a scaling t of objective and capacities (through score_one, incumbent, delta_moves)."""

    def total(floats):
        s = score_batch(a_cu, kp._replace(**floats), chunk=4, loads=loads)
        return penalized(s).sum()

    def scaled(t):
        k = kp._replace(objective_uk1=t * kp.objective_uk1, cap_r1=t * kp.cap_r1)
        one = penalized(score_one(a_cu[0], k, loads))
        moves = delta_moves(jnp.arange(a_cu.shape[1]), a_cu[1], incumbent(a_cu[0], k), k)
        return one + moves.sum()

    return jax.grad(total)({f: getattr(kp, f) for f in FLOAT_FIELDS}), jax.grad(scaled)(1.0)


def test_float_fields_are_every_float_leaf() -> None:
    kp = to_kernel(random_problem(np.random.default_rng(0), 2, 2, 2))
    leaves = {  # scale_o1j is None without term scales (static problems)
        f: getattr(kp, f)
        for f in KernelProblem._fields
        if f != "blocks" and getattr(kp, f) is not None
    }
    floats = {f for f, leaf in leaves.items() if leaf.dtype == jnp.float32}
    assert floats == set(FLOAT_FIELDS)
    assert jax.tree_util.tree_leaves(kp.blocks) == []  # static: part of the jit key


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
    water = site_rows(enriched, K_WATER)
    enriched = enriched._replace(cap_r=enriched.cap_r.copy())
    enriched.cap_r[water] = [np.inf, 50.0]
    for problem in (uncapped, problem_of(shape, 3, flags=0), enriched):
        assert problem.num_slots == 3
        kp = to_kernel(problem)
        assert float(kp.cap_r1[site_rows(problem, K_WATER)[0]]) == np.float32(BIG)  # uncapped
        for seed in range(3):
            a_cu = np.random.default_rng(seed).integers(0, 4, (C, 5)).astype(np.int32)
            d_floats, d_t = _grads(a_cu, kp, loads)
            for name, g in d_floats.items():
                assert bool(jnp.isfinite(g).all()), name
            assert bool(jnp.isfinite(d_t))


# ---- compilation ---------------------------------------------------------------------------


def test_score_batch_does_not_recompile_for_new_values() -> None:
    """Counts XLA compilations with jax.monitoring (public API in JAX 0.10).

    Every backend compilation records the duration event
    "/jax/core/compile/backend_compile_duration" (jax._src.dispatch.BACKEND_COMPILE_EVENT,
    emitted around compile_or_get_cached in pxla._cached_compilation); a listener counts
    them. jit cache hits record nothing. A new C is the positive control: the counter
    does see compiles.
    """
    event = "/jax/core/compile/backend_compile_duration"
    shape = SHAPES[2]
    kp, other_kp = (to_kernel(problem_of(shape, seed, 31)) for seed in (5, 6))
    rng = np.random.default_rng(5)
    a1, a2 = (jnp.asarray(rng.integers(0, 5, (C, 6)), jnp.int32) for _ in range(2))
    a_other_shape = jnp.asarray(rng.integers(0, 5, (C + 1, 6)), jnp.int32)
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
    a_u = to_slots(problem, result.assign_u)
    np.testing.assert_array_equal(to_options(problem, a_u), result.assign_u)
    assert (a_u < problem.num_slots).any()  # it places something
    kp = to_kernel(problem)
    mags = magnitudes(problem, a_u[None])
    for loads in LOADS:
        s = _score_one_jit(jnp.asarray(a_u), kp, loads)
        assert bool(feasible(s))
        assert float(s.masked) == 0.0 and float(s.redundancy) == 0.0
        over = np.asarray(s.over_k)
        for k, name in enumerate(VIOLATIONS):
            assert 0.0 <= float(over[k]) <= RTOL * mags["over_k"][k], name
    # negative control: the same plan with every GPU cap 0 is not feasible
    gpu_rows = (kp.kind_r1 == K_GPUS) & (kp.real_r1 > 0)
    no_gpus = kp._replace(cap_r1=jnp.where(gpu_rows, 0.0, kp.cap_r1))
    assert not bool(feasible(_score_one_jit(jnp.asarray(a_u), no_gpus, "segment")))


# ---- one plan under many scenarios (kernels/perturb.py) ------------------------------------


def _perturbed_problem(problem: Problem, a_u: np.ndarray, pert, b: int):
    """Scenario b of `pert` as an explicit Problem and assignment, item by item as
    perturb.py's module docstring defines it.

    Returns (changed Problem, its assignment int32[U] slots, the changed Problem with
    each objective replaced by the sum of its terms' absolute values: for magnitudes).
    """
    listed = problem.listed_uk
    option_uk = np.maximum(problem.option_uk, 0)  # empty slots: any option (unused)
    # usage_scale_u: multiplies unit u's amounts and its placed objective
    m_u = np.asarray(pert.usage_scale_u[b], float)
    base_quk = problem.amount_quk * m_u[None, :, None]
    objective_uk = problem.objective_usd_per_h_uk * m_u[:, None]
    # amount_scale_oq: multiplies the amount of quantity q of every unit on option o
    scale_quk = np.moveaxis(np.asarray(pert.amount_scale_oq[b], float)[option_uk], 2, 0)
    # price_delta_oq: USD/h per unit of quantity q, at its unperturbed amount
    price_quk = np.moveaxis(np.asarray(pert.price_delta_oq[b], float)[option_uk], 2, 0)
    delta_uk = (price_quk * base_quk).sum(axis=0)
    # option_up_o False: the option is lost; units the plan put there become unplaced
    up_o = np.asarray(pert.option_up_o[b])
    changed = problem._replace(
        amount_quk=base_quk * scale_quk,
        objective_usd_per_h_uk=objective_uk + delta_uk,
        # cap_scale_r: multiplies row r's capacity
        cap_r=problem.cap_r * np.asarray(pert.cap_scale_r[b], float),
    ).restricted(listed & up_o[option_uk])
    n_k = problem.num_slots
    units = np.arange(problem.num_units)
    slot = np.minimum(a_u, n_k - 1)
    lost = (a_u < n_k) & listed[units, slot] & ~up_o[option_uk[units, slot]]
    abs_objective = np.abs(objective_uk) + np.abs(price_quk * base_quk).sum(axis=0)
    return (
        changed,
        np.where(lost, n_k, a_u).astype(np.int32),
        changed._replace(objective_usd_per_h_uk=abs_objective),
    )


@given(cases(n_c=1), st.integers(0, 2**31 - 1), st.sampled_from(LOADS))
@settings(max_examples=40, deadline=None)
def test_perturbed_scores_equal_the_reference_of_each_changed_problem(case, seed, loads):
    """score_perturbed == score_batch_numpy of the explicitly perturbed Problem, for
    B = 5 random scenarios (each option lost with probability 1/4, every row's capacity,
    every option's amounts and prices of every quantity, every unit's usage changed).
    Magnitudes as in the module doc, of the perturbed problem (objective: of its terms'
    absolute values), x 3 + 1 for the extra products by scales (each rounded to float32)."""
    from placer.engines.kernels.perturb import no_change, score_perturbed

    problem, a_cu = case
    kp = to_kernel(problem)
    rng = np.random.default_rng(seed)
    n_b, n_u, n_o, n_r = 5, problem.num_units, problem.num_options, problem.num_rows
    pert = no_change(n_b, kp)._replace(
        option_up_o=jnp.asarray(rng.random((n_b, n_o)) > 0.25),
        cap_scale_r=jnp.asarray(rng.uniform(0.5, 1.5, (n_b, n_r)), jnp.float32),
        amount_scale_oq=jnp.asarray(rng.uniform(0.5, 2.0, (n_b, n_o, NUM_Q)), jnp.float32),
        price_delta_oq=jnp.asarray(rng.uniform(-0.5, 1.0, (n_b, n_o, NUM_Q)), jnp.float32),
        usage_scale_u=jnp.asarray(rng.uniform(0.5, 1.5, (n_b, n_u)), jnp.float32),
    )
    got = score_perturbed(jnp.asarray(a_cu[0]), kp, pert, loads=loads)
    for b in range(n_b):
        changed, a_b, abs_changed = _perturbed_problem(problem, a_cu[0], pert, b)
        want = score_batch_numpy(a_b[None, :], changed)
        row = Scores(*(np.asarray(f)[b : b + 1] for f in got))
        mags = {k: 3.0 * v + 1.0 for k, v in magnitudes(abs_changed, a_b[None, :]).items()}
        assert_scores_close(row, want, mags)


def test_perturbation_docstring_examples() -> None:
    """perturb.py's worked examples on one unit (cost 10 USD/h, carbon 2 kg/h, 2 GPUs,
    must-place, budget 11 USD/h) in option 0 (slot 0). Scenario 0: no change. 1: cost
    x 1.2 (amount_scale 1.2 and price_delta 0.2 on cost): objective and cost 12, budget
    over by 1. 2: carbon price +150 USD/t (price_delta 0.15 on carbon): objective 10.3,
    totals unchanged. 3: usage x 1.5: objective 15, cost 15, carbon 3, 3 GPUs, budget
    over by 4. 4: option 0 lost: unplaced, masked 1, objective 0 (no value)."""
    from placer.engines.kernels.perturb import no_change, score_perturbed

    problem = make_problem(
        cost_up=[[10.0, 4.0]],
        carbon_kg_per_h_up=[[2.0, 1.0]],
        gpus_up=[[2.0, 2.0]],
        budget_usd_per_h=11.0,
    )
    kp = to_kernel(problem)
    base = no_change(5, kp)
    pert = base._replace(
        amount_scale_oq=base.amount_scale_oq.at[1, 0, Q_COST].set(1.2),
        price_delta_oq=base.price_delta_oq.at[1, 0, Q_COST].set(0.2).at[2, :, Q_CARBON].set(0.15),
        usage_scale_u=base.usage_scale_u.at[3, 0].set(1.5),
        option_up_o=base.option_up_o.at[4, 0].set(False),
    )
    got = score_perturbed(jnp.array([0], jnp.int32), kp, pert)
    total_q = np.asarray(got.total_q)
    np.testing.assert_allclose(got.objective, [10.0, 12.0, 10.3, 15.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(total_q[:, Q_COST], [10.0, 12.0, 10.0, 15.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(total_q[:, Q_CARBON], [2.0, 2.0, 2.0, 3.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(total_q[:, Q_GPUS], [2.0, 2.0, 2.0, 3.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(
        np.asarray(got.over_k)[:, K_BUDGET], [0.0, 1.0, 0.0, 4.0, 0.0], rtol=1e-6, atol=1e-6
    )
    np.testing.assert_array_equal(got.masked, [0.0, 0.0, 0.0, 0.0, 1.0])


def test_no_change_and_site_failures():
    import placer
    from placer.engines.kernels.perturb import no_change, score_perturbed, site_failures
    from placer.plan.scoring import assignment_of
    from placer.problem.compile import compile_problem

    scenario = placer.load("configs/eu_sovereign.yaml")
    plan = placer.solve(scenario, solver="milp")
    problem, index = compile_problem(scenario)
    kp = to_kernel(problem)
    a_u = jnp.asarray(to_slots(problem, assignment_of(plan, index)))
    same = score_perturbed(a_u, kp, no_change(2, kp))
    one = score_one(a_u, kp)
    for name in Scores._fields:
        want = np.asarray(getattr(one, name))
        np.testing.assert_allclose(
            np.asarray(getattr(same, name)), np.broadcast_to(want, (2, *want.shape)), err_msg=name
        )
    assert problem.num_sites == len(index.sites)
    n1 = score_perturbed(a_u, kp, site_failures(kp, problem.site_o, problem.num_sites))
    # losing the site of a must-place training run leaves it unserved (masked); losing a
    # site the plan does not use changes nothing
    hosts = {p.site for p in plan.placements if p.workload == "pretrain-eu-70b"}
    used = {p.site for p in plan.placements}
    assert hosts and set(index.sites) - used
    for s, site in enumerate(index.sites):
        if site in hosts:
            assert float(np.asarray(n1.masked)[s]) >= 1
        if site not in used:
            assert float(np.asarray(n1.objective)[s]) == pytest.approx(float(one.objective))


def with_term_scales(problem: Problem, seed: int) -> Problem:
    """The problem with each term charging a random multiple (0.1-2) of its amount
    (`Problem.scale_oj`: a day's water row takes a share of an option's L/h)."""
    rng = np.random.default_rng(seed)
    return problem._replace(scale_oj=rng.uniform(0.1, 2.0, problem.row_oj.shape))


@given(cases(), st.sampled_from(LOADS), st.integers(0, 2**31 - 1))
@settings(max_examples=30, deadline=None)
def test_term_scales_score_as_the_reference(case, loads, seed) -> None:
    problem, a_cu = case
    scaled = with_term_scales(problem, seed)
    got = score_batch(jnp.asarray(a_cu), to_kernel(scaled), chunk=4, loads=loads)
    mags = magnitudes(problem, a_cu)
    mags["over_k"] = 2.0 * mags["over_k"]  # a scale is at most 2
    assert_scores_close(got, score_batch_numpy(a_cu, scaled), mags)


@given(delta_cases(), st.integers(0, 2**31 - 1))
@settings(max_examples=20, deadline=None)
def test_term_scales_in_move_deltas(case, seed) -> None:
    problem, a_u, u_m, k_m = case
    scaled = with_term_scales(problem, seed)
    kp = to_kernel(scaled)
    got, want = _delta_and_rescored(a_u, u_m, k_m, kp, SMALL_WEIGHTS)
    moved = np.repeat(a_u[None, :], M, axis=0)
    moved[np.arange(M), u_m] = k_m
    scale = 2.0 * _penalized_scale(problem, np.concatenate([a_u[None], moved]))
    np.testing.assert_allclose(got, want, rtol=0, atol=RTOL * scale)


def test_term_scales_change_the_loads() -> None:
    problem = random_problem(np.random.default_rng(5), 6, 5, 3)
    a_cu = np.zeros((1, problem.num_units), np.int32)  # everyone in its first slot
    plain = score_batch_numpy(a_cu, problem)
    doubled = score_batch_numpy(a_cu, problem._replace(scale_oj=np.full(problem.row_oj.shape, 2.0)))
    got = score_batch(
        jnp.asarray(a_cu),
        to_kernel(problem._replace(scale_oj=np.full(problem.row_oj.shape, 2.0))),
        chunk=4,
    )
    assert (doubled.over_k >= plain.over_k).all() and doubled.over_k.sum() > plain.over_k.sum()
    np.testing.assert_allclose(np.asarray(got.over_k), doubled.over_k, rtol=1e-5, atol=1e-3)


@given(cases(), st.integers(0, 2**31 - 1))
@settings(max_examples=25, deadline=None)
def test_one_segment_sum_equals_the_runs(case, seed) -> None:
    """Above MAX_UNROLLED_RUNS runs the loads are one segment sum of every term: the same
    loads as the windowed sums over runs, on shuffled layouts (one run per term)."""
    from placer.engines.kernels import score as score_module

    problem, a_cu = case
    kp = to_kernel(shuffled_terms(problem, np.random.default_rng(seed)))
    a = jnp.asarray(a_cu[0])
    option_u = kp.option_uk1[jnp.arange(a.shape[0]), a]
    values = values_of(a, kp)
    saved = score_module.MAX_UNROLLED_RUNS
    try:
        score_module.MAX_UNROLLED_RUNS = 10**9  # every run its own windowed sum
        runs = np.asarray(score_module.row_loads(values, option_u, kp, "segment"))
        score_module.MAX_UNROLLED_RUNS = 0  # one sum
        flat = np.asarray(score_module.row_loads(values, option_u, kp, "segment"))
    finally:
        score_module.MAX_UNROLLED_RUNS = saved
    np.testing.assert_allclose(flat[:-1], runs[:-1], rtol=1e-5, atol=1e-3)


def test_a_timed_problem_scores_as_the_reference_in_one_sum() -> None:
    """configs/time/us_week.yaml has hundreds of runs (its kernel took 18 s to compile
    with one windowed sum each): it takes the one-sum path and scores as the reference."""
    from pathlib import Path

    import placer
    from placer.engines.kernels.score import MAX_UNROLLED_RUNS
    from placer.problem.compile import compile_problem

    week = Path(__file__).resolve().parents[1] / "configs" / "time" / "us_week.yaml"
    problem, _ = compile_problem(placer.load(week))
    kp = to_kernel(problem)
    assert len(kp.blocks.runs) > MAX_UNROLLED_RUNS
    rng = np.random.default_rng(0)
    listed = problem.listed_uk

    def draw() -> np.ndarray:  # a random listed slot per unit (K where none)
        slots = [
            rng.choice(np.flatnonzero(row)) if row.any() else problem.num_slots for row in listed
        ]
        return np.array(slots, np.int32)

    a_cu = np.stack([draw() for _ in range(4)])
    got = score_batch(jnp.asarray(a_cu), kp, chunk=2)
    assert_scores_close(got, score_batch_numpy(a_cu, problem), magnitudes(problem, a_cu))
