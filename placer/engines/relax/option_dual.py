"""Lagrangian prices for problems whose options charge many rows, priced per option.

A timed run's option charges its pool's and site's rows in every period it runs (tens
to hundreds of terms), and each option is listed by many units. The Lagrangian
relaxation (`lagrangian.py`) prices every (unit, option) pair from its own list of
terms, O(pairs x terms) per step: on gen-time-10000x100x72-s1 that is 99M terms and a
few hundred Adam steps fit two minutes. Here each step first sums, per option and
quantity, the prices of the rows the option charges that quantity to, each times its
term's scale (`Problem.scale_oj`) (the option table P[o, q], O(option terms): 3.4M
there), then prices each pair as

    priced[n] = objective[n] + sum_q amount[q, n] x P[option[n], q] (+ its spread row)

which is O(pairs x quantities): 4.1M x 3 there. Adam maximises the dual smoothed by a
soft-min at an annealed temperature, as `lagrangian.py` does, over
y = softplus(theta) x scale (a soft row's price: p_r x sigmoid(theta), in [0, p_r]).

The bound of any prices is recomputed in float64 with hard minima over every pair
(`certified_bound`): L(y) <= the optimum for any y >= 0 (`lagrangian.py` says why).
Prices and bound use `rows.pair_rows`' row layout: the problem's rows, then one row per
(redundancy group, spread key).
"""

from __future__ import annotations

import functools
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from placer import interrupt
from placer.engines.relax.rows import row_capacities
from placer.engines.relax.soft_prices import (
    SoftPrices,
    clip_soft,
    soft_prices,
    soft_prices_np,
    with_soft,
)
from placer.problem.form import Problem
from placer.problem.soft import price_ceiling

#: Adam's step size on theta (prices are softplus(theta) x scale). On
#: gen-time-1000x50x168-s1, 1,000 steps: 0.05 -> 5.4% under the LP optimum, 0.2 -> 0.8%,
#: 0.5 -> 0.3%.
LEARNING_RATE = 0.5
#: The soft-min temperature falls geometrically from T_START to T_END x the mean
#: |objective| of a pair.
T_START, T_END = 0.1, 1e-3
#: Steps per jitted chunk; the clock is read between chunks.
CHUNK_STEPS = 25
#: Seconds per step per pair and per option term, 2 CPUs, with the compile counted as 2
#: chunks: no ascent starts that would not finish MIN_STEPS within its budget at these
#: rates. Measured on gen-time-10000x100x72-s1 (3.4M terms): 4.1M pairs about 0.08 s a
#: step, its 10% sample (0.43M pairs, every option) about 0.02 s; set about 1.5 x that.
STEP_S_PER_PAIR = 2.5e-8
STEP_S_PER_TERM = 6e-9
#: At least this many steps are planned (the annealing needs room).
MIN_STEPS = 100
#: The certified bound is computed every CHECK_STEPS steps (the smoothed dual's
#: iterates do not rise monotonically) and at the end.
CHECK_STEPS = 400
#: From SAMPLE_FROM_UNITS units an ascent from no prices runs in two stages: first on a
#: fixed SAMPLE_UNITS_SHARE of the units against capacities scaled by their share, for
#: SAMPLE_TIME_SHARE of the budget (all of it when the rest could not pay the second
#: stage's MIN_STEPS), then on every unit from those prices, its soft-min starting at
#: T_REFINE instead of T_START (the prices are near already). The sample's steps cost a
#: quarter of the whole problem's, so the annealing goes further for the same time. On
#: gen-time-10000x100x72-s1 (2 CPUs, LP optimum about 11,470 USD/h): 40 s certified
#: 11,410-11,428 against 11,349-11,355 in one stage, 60 s 11,435-11,437 against 11,379
#: (T_REFINE 0.01: 11,368; 0.05: 11,410; 10% or 20% of units alike, 5% alike).
SAMPLE_FROM_UNITS = 5_000
SAMPLE_UNITS_SHARE = 0.1
SAMPLE_TIME_SHARE = 0.3
T_REFINE = 0.03
#: The sample's seed: the same problem gets the same sample.
SAMPLE_SEED = 0


class OptionDual(NamedTuple):
    """The pair list and option table of a Problem (host arrays).

    Attributes:
      unit_n, slot_n, option_n: int64[N], every allowed (unit, slot) pair and its option,
        sorted by unit.
      base_n: float64[N], its objective, USD/h.
      amount_qn: float64[Q', N], what it uses of each quantity some row is charged.
      term_option, term_row, term_q: int64[M], the option terms (option, row, position
        of its quantity in `amount_qn`), sorted by (option, quantity).
      term_scale: float64[M], the multiple of the pair's amount each term charges
        (`Problem.scale_oj`; 1 on most terms).
      spread_n: int64[N], the pair's redundancy row (R' rows: `rows.row_capacities`), or
        R' when it has none.
      lost_u: float64[U], value lost unplaced (+inf: must place).
      cap_r: float64[R'], capacities (0 on rows without a cap).  active_r: bool[R'].
      scale_r: float64[R'], the typical size of a row's price, USD/h per unit.
      ceiling_r: float64[R'] (+inf hard) or None: soft rows' price per unit of excess.
    """

    unit_n: np.ndarray
    slot_n: np.ndarray
    option_n: np.ndarray
    base_n: np.ndarray
    amount_qn: np.ndarray
    term_option: np.ndarray
    term_row: np.ndarray
    term_q: np.ndarray
    term_scale: np.ndarray
    spread_n: np.ndarray
    lost_u: np.ndarray
    cap_r: np.ndarray
    active_r: np.ndarray
    scale_r: np.ndarray
    ceiling_r: np.ndarray | None

    @property
    def num_units(self) -> int:
        return int(self.lost_u.size)

    @property
    def num_options(self) -> int:
        """Options in the table: every option a pair lists or a term names (an option
        may charge no capped row and so have no term)."""
        return int(max(self.term_option.max(initial=-1), self.option_n.max(initial=-1))) + 1


def option_dual(problem: Problem) -> OptionDual:
    """The pair list and option table of `problem` (see `OptionDual`)."""
    cap = row_capacities(problem)
    active = np.isfinite(cap)
    n_r, n_all = problem.num_rows, cap.size
    o_t, j_t = np.nonzero(problem.row_oj >= 0)
    row_t = problem.row_oj[o_t, j_t].astype(np.int64)
    q_t = problem.quantity_oj[o_t, j_t].astype(np.int64)
    w_t = np.ones(o_t.size) if problem.scale_oj is None else problem.scale_oj[o_t, j_t]
    keep = active[row_t]
    o_t, row_t, q_t, w_t = o_t[keep].astype(np.int64), row_t[keep], q_t[keep], w_t[keep]
    quantities = np.unique(q_t)
    position = np.full(problem.num_quantities, -1, np.int64)
    position[quantities] = np.arange(quantities.size)
    q_t = position[q_t]
    order = np.lexsort((q_t, o_t))
    o_t, row_t, q_t, w_t = o_t[order], row_t[order], q_t[order], w_t[order]
    unit, slot = np.nonzero(problem.listed_uk)
    unit, slot = unit.astype(np.int64), slot.astype(np.int64)
    option = problem.option_uk[unit, slot].astype(np.int64)
    base = problem.objective_usd_per_h_uk[unit, slot].astype(float)
    amount = np.zeros((quantities.size, unit.size))
    for i, q in enumerate(quantities.tolist()):
        amount[i] = problem.amount_quk[q][unit, slot]
    spread = np.full(unit.size, n_all, np.int64)
    group = problem.group_u[unit]
    if problem.num_groups and (group >= 0).any():
        g = np.maximum(group, 0)
        key = problem.spread_key_go[g, option]
        spread = np.where(group >= 0, n_r + g * (problem.num_sites + 1) + key, n_all)
    lost = np.where(problem.must_place_u, np.inf, problem.unplaced_usd_per_h_u.astype(float))
    scale = _price_scales(n_all, n_r, base, amount, option, o_t, row_t, q_t, w_t)
    return OptionDual(
        unit,
        slot,
        option,
        base,
        amount,
        o_t,
        row_t,
        q_t,
        w_t,
        spread,
        lost,
        np.where(active, cap, 0.0),
        active,
        scale,
        price_ceiling(problem, n_all),
    )


def _price_scales(n_all, n_r, base, amount, option, o_t, row_t, q_t, w_t) -> np.ndarray:
    """float64[R']: per quantity, the median over pairs of objective / (amount x rows
    the option charges that quantity to), on the rows charged that quantity; the
    median |objective| on redundancy rows; 1 elsewhere."""
    scale = np.ones(n_all)
    n_o = int(option.max(initial=-1)) + 1
    for q in range(amount.shape[0]):
        at_q = q_t == q
        terms_o = np.bincount(o_t[at_q], weights=w_t[at_q], minlength=n_o)
        terms = terms_o[option]
        ok = (amount[q] > 0) & (terms > 0) & (base > 0)
        if ok.any():
            med = float(np.median(base[ok] / (amount[q][ok] * terms[ok])))
            if np.isfinite(med) and med > 0:
                scale[np.unique(row_t[at_q])] = med
    if n_all > n_r:
        scale[n_r:] = max(float(np.median(np.abs(base))) if base.size else 1.0, 1e-6)
    return scale


def certified_bound(dual: OptionDual, prices_r: np.ndarray) -> float:
    """L(y) in float64 with hard minima over every pair: a lower bound on the optimum for
    any y >= 0 (soft rows' prices clipped to their price per unit of excess); -inf
    never, +inf when a must-place unit has no pair."""
    y = priced_rows(dual, prices_r)
    low = dual.lost_u.copy()
    np.minimum.at(low, dual.unit_n, priced_pairs(dual, y))
    return float(low.sum() - (y[:-1] * dual.cap_r).sum())


def priced_rows(dual: OptionDual, prices_r: np.ndarray) -> np.ndarray:
    """float64[R' + 1]: max(0, y) on active rows (soft rows clipped), then 0 ("no row")."""
    y = np.maximum(np.asarray(prices_r, float), 0.0) * dual.active_r
    return np.append(clip_soft(y, dual.ceiling_r), 0.0)


def priced_pairs(dual: OptionDual, y: np.ndarray) -> np.ndarray:
    """float64[N]: each pair's objective + y . usage (y from `priced_rows`)."""
    n_q = dual.amount_qn.shape[0]
    if n_q == 0:
        return dual.base_n + y[dual.spread_n]
    table = np.bincount(
        dual.term_option * n_q + dual.term_q,
        weights=y[dual.term_row] * dual.term_scale,
        minlength=max(dual.num_options, 1) * n_q,
    ).reshape(-1, n_q)
    priced = dual.base_n + y[dual.spread_n]
    for q in range(n_q):
        priced = priced + dual.amount_qn[q] * table[dual.option_n, q]
    return priced


class Ascent(NamedTuple):
    """Prices float64[R'] (`rows.pair_rows` order), their certified bound (USD/h) and the
    Adam steps taken."""

    prices_r: np.ndarray
    bound: float
    steps: int


def ascend(
    problem: Problem,
    *,
    time_budget_s: float,
    start_prices_r: np.ndarray | None = None,
    dual: OptionDual | None = None,
    max_steps: int | None = None,
) -> Ascent:
    """Adam on the smoothed dual within about `time_budget_s` (module docstring); the
    best certified bound of the prices reached (checked every few chunks and at the
    end), or of `start_prices_r` if better.

    The annealing is planned over the steps the budget buys: at the cost model
    (STEP_S_PER_PAIR, STEP_S_PER_TERM) first, then at the second chunk's measured speed
    (so the prices depend on the machine; the bound is valid anyway). With `max_steps`
    it is planned over that many steps (rounded up to CHUNK_STEPS) whatever the clock,
    which only stops it early: with a budget that buys them, a problem gets the same
    prices on any machine, in one stage. Without start prices or `max_steps`, a problem
    of SAMPLE_FROM_UNITS units or more is priced on a sample of its units first
    (SAMPLE_FROM_UNITS says why)."""
    started = time.perf_counter()
    dual = dual or option_dual(problem)
    if start_prices_r is not None or max_steps is not None:
        return _ascend(dual, time_budget_s, start_prices_r, max_steps, T_START)
    if dual.num_units < SAMPLE_FROM_UNITS:
        return _ascend(dual, time_budget_s, None, None, T_START)
    sample = sampled(dual, SAMPLE_UNITS_SHARE, SAMPLE_SEED)
    refine_min_s = _step_s(dual) * (MIN_STEPS + 2 * CHUNK_STEPS)
    sample_s = SAMPLE_TIME_SHARE * time_budget_s
    if time_budget_s - sample_s < refine_min_s:
        sample_s = time_budget_s
    first = _ascend(sample, sample_s, None, None, T_START)
    if first.steps == 0 or interrupt.requested():  # no time for the sample, or Ctrl-C
        return Ascent(first.prices_r, certified_bound(dual, first.prices_r), first.steps)
    left = time_budget_s - (time.perf_counter() - started)
    second = _ascend(dual, left, first.prices_r, None, T_REFINE)
    return second._replace(steps=first.steps + second.steps)


def sampled(dual: OptionDual, share: float, seed: int) -> OptionDual:
    """The pairs of about `share` of `dual`'s units (drawn with `seed`, at least one),
    renumbered, against every capacity times the share drawn (`cap_r`). The option
    table is kept whole: a price on it is a price on the whole problem's rows."""
    n_u = dual.num_units
    pick = np.random.default_rng(seed).random(n_u) < share
    if not pick.any():
        pick[0] = True
    renumbered = np.cumsum(pick) - 1
    keep = pick[dual.unit_n]
    return dual._replace(
        unit_n=renumbered[dual.unit_n[keep]],
        slot_n=dual.slot_n[keep],
        option_n=dual.option_n[keep],
        base_n=dual.base_n[keep],
        amount_qn=dual.amount_qn[:, keep],
        spread_n=dual.spread_n[keep],
        lost_u=dual.lost_u[pick],
        cap_r=dual.cap_r * (pick.sum() / n_u),
    )


def _step_s(dual: OptionDual) -> float:
    """The cost model's seconds per step of `dual`."""
    return STEP_S_PER_PAIR * dual.unit_n.size + STEP_S_PER_TERM * dual.term_row.size


def _ascend(
    dual: OptionDual,
    time_budget_s: float,
    start_prices_r: np.ndarray | None,
    max_steps: int | None,
    t_start: float,
) -> Ascent:
    """One stage of `ascend` on `dual`, its soft-min starting at `t_start` x the mean
    |objective| of a pair."""
    started = time.perf_counter()
    start = np.zeros(dual.cap_r.size) if start_prices_r is None else start_prices_r
    best = Ascent(np.asarray(start, float), certified_bound(dual, start), 0)
    if dual.unit_n.size == 0 or not dual.active_r.any() or not np.isfinite(best.bound):
        return best
    per_step_s = _step_s(dual)
    if per_step_s * (MIN_STEPS + 2 * CHUNK_STEPS) > time_budget_s - (time.perf_counter() - started):
        return best
    rows = _device_rows(dual)
    spread = max(float(np.abs(dual.base_n).mean()), 1e-6)
    theta = jnp.asarray(_theta_of(dual, start_prices_r), jnp.float32)
    state = optax.scale_by_adam().init(theta)
    pairs = _device_pairs(dual)
    sizes = (dual.num_units, max(dual.num_options, 1), dual.amount_qn.shape[0])
    left = time_budget_s - (time.perf_counter() - started)
    if max_steps is not None:  # fixed: the schedule is the same on any machine
        planned = max(max_steps, CHUNK_STEPS)
    else:  # the cost model's plan, re-planned on the second chunk's time
        planned = max(MIN_STEPS, int(max(0.0, left - 1.0) / per_step_s))
    done = 0
    while done < planned:
        t0 = time.perf_counter()
        fraction = np.minimum((done + np.arange(CHUNK_STEPS)) / max(planned - 1, 1), 1.0)
        temps = spread * t_start * (T_END / t_start) ** fraction
        rates = LEARNING_RATE * (0.05 + 0.95 * 0.5 * (1.0 + np.cos(np.pi * fraction)))
        theta, state = _chunk(rows, pairs, theta, state, _f32(temps), _f32(rates), sizes)
        theta.block_until_ready()
        done += CHUNK_STEPS
        left = time_budget_s - (time.perf_counter() - started)
        if max_steps is None and done == 2 * CHUNK_STEPS:  # chunk 1 paid the compile
            per_step_s = (time.perf_counter() - t0) / CHUNK_STEPS
            planned = done + max(CHUNK_STEPS, int(max(0.0, left - 1.0) / per_step_s))
        if left <= 0 or interrupt.requested():  # Ctrl-C: the best prices so far
            break
        if done % CHECK_STEPS == 0 and done < planned:
            best = _better(dual, best, _prices(dual, theta), done)
    return _better(dual, best, _prices(dual, theta), done)


def _f32(values: np.ndarray) -> jax.Array:
    return jnp.asarray(values, jnp.float32)


def _better(dual: OptionDual, best: Ascent, prices_r: np.ndarray, steps: int) -> Ascent:
    bound = certified_bound(dual, prices_r)
    return Ascent(prices_r, bound, steps) if bound > best.bound else best._replace(steps=steps)


def _theta_of(dual: OptionDual, prices_r: np.ndarray | None) -> np.ndarray:
    """theta whose prices are `prices_r` (theta = -4, about 0.018 x scale, without)."""
    if prices_r is None:
        return np.full(dual.cap_r.size, -4.0)
    y = np.maximum(np.asarray(prices_r, float), 0.0)
    ratio = np.maximum(y / dual.scale_r, 1e-6)
    theta = np.where(ratio > 20.0, ratio, np.log(np.expm1(np.minimum(ratio, 20.0))))
    if dual.ceiling_r is not None:
        soft = np.isfinite(dual.ceiling_r)
        share = np.clip(y / np.where(soft, dual.ceiling_r, 1.0), 1e-6, 1.0 - 1e-6)
        theta = np.where(soft, np.log(share / (1.0 - share)), theta)
    return np.maximum(theta, -10.0)


def _prices(dual: OptionDual, theta: jax.Array) -> np.ndarray:
    """float64[R']: the prices of theta (`_smooth_dual`'s, in float64)."""
    theta = np.asarray(theta, float)
    y = np.where(dual.active_r, np.logaddexp(0.0, theta) * dual.scale_r, 0.0)
    return soft_prices_np(y, theta, dual.ceiling_r)


class _Rows(NamedTuple):
    """Device arrays of the rows and the option table (fixed for a run)."""

    term_flat: jax.Array
    term_row: jax.Array
    term_scale: jax.Array | None  # None: every term's scale is 1
    lost: jax.Array
    has_lost: jax.Array
    cap: jax.Array
    active: jax.Array
    scale: jax.Array
    soft: SoftPrices | None


class _Pairs(NamedTuple):
    """Device arrays of the pairs."""

    unit: jax.Array
    option: jax.Array
    base: jax.Array
    amount: tuple
    spread: jax.Array


def _device_rows(dual: OptionDual) -> _Rows:
    n_q = dual.amount_qn.shape[0]
    has_lost = np.isfinite(dual.lost_u)
    return _Rows(
        jnp.asarray(dual.term_option * n_q + dual.term_q, jnp.int32),
        jnp.asarray(dual.term_row, jnp.int32),
        None if (dual.term_scale == 1.0).all() else jnp.asarray(dual.term_scale, jnp.float32),
        jnp.asarray(np.where(has_lost, dual.lost_u, 0.0), jnp.float32),
        jnp.asarray(has_lost),
        jnp.asarray(dual.cap_r, jnp.float32),
        jnp.asarray(dual.active_r),
        jnp.asarray(dual.scale_r, jnp.float32),
        soft_prices(dual.ceiling_r),
    )


def _device_pairs(dual: OptionDual) -> _Pairs:
    return _Pairs(
        jnp.asarray(dual.unit_n, jnp.int32),
        jnp.asarray(dual.option_n, jnp.int32),
        jnp.asarray(dual.base_n, jnp.float32),
        tuple(jnp.asarray(a, jnp.float32) for a in dual.amount_qn),
        jnp.asarray(dual.spread_n, jnp.int32),
    )


def _smooth_dual(theta, r: _Rows, a: _Pairs, temperature, sizes):
    """The dual smoothed by a soft-min at `temperature` (float32), over the pairs `a`."""
    n_u, n_o, n_q = sizes
    y = jnp.where(r.active, jax.nn.softplus(theta) * r.scale, 0.0)
    y = with_soft(y, theta, r.soft)
    priced = a.base + jnp.append(y, 0.0)[a.spread]
    if n_q:
        charged = y[r.term_row] if r.term_scale is None else y[r.term_row] * r.term_scale
        table = jax.ops.segment_sum(
            charged,
            r.term_flat,
            num_segments=n_o * n_q,
            indices_are_sorted=True,
        ).reshape(n_o, n_q)
    for q in range(n_q):
        priced = priced + a.amount[q] * table[:, q][a.option]
    low = jax.ops.segment_min(priced, a.unit, num_segments=n_u, indices_are_sorted=True)
    low = jax.lax.stop_gradient(jnp.where(r.has_lost, jnp.minimum(low, r.lost), low))
    z = jax.ops.segment_sum(
        jnp.exp(-(priced - low[a.unit]) / temperature),
        a.unit,
        num_segments=n_u,
        indices_are_sorted=True,
    )
    z = z + jnp.where(r.has_lost, jnp.exp(-(r.lost - low) / temperature), 0.0)
    return (low - temperature * jnp.log(z)).sum() - (y * r.cap).sum()


@functools.partial(jax.jit, static_argnames=("sizes",))
def _chunk(r: _Rows, a: _Pairs, theta, state, temps, rates, sizes):
    """Adam ascent steps at the given temperatures and step sizes (float32[steps])."""
    adam = optax.scale_by_adam()
    value_and_grad = jax.value_and_grad(_smooth_dual)

    def step(carry, xs):
        theta, state = carry
        temperature, rate = xs
        _, g = value_and_grad(theta, r, a, temperature, sizes)
        direction, state = adam.update(g, state, theta)
        return (theta + rate * direction, state), None  # ascend: maximise L

    (theta, state), _ = jax.lax.scan(step, (theta, state), (temps, rates))
    return theta, state


__all__ = [
    "Ascent",
    "OptionDual",
    "ascend",
    "certified_bound",
    "option_dual",
    "priced_pairs",
    "sampled",
]
