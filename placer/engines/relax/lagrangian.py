"""Price-based (Lagrangian) relaxation of the placement problem, optimised with optax.

Capacity rows get prices y >= 0 (USD/h per unit of the row): every capacity row of
the Problem (pool GPUs; site IT, facility, heat kW and water L/h; the global budget and
carbon cap) and the redundancy rows "at most one copy of group g on spread key k". Each
unit then chooses alone:

    priced[u, o] = c[u, o] + sum_r y_r a_r[u, o]     (o an option, or "unplaced" at v[u])
    L(y)         = sum_u min_o priced[u, o] - sum_r y_r cap_r

For ANY y >= 0, L(y) <= the optimum of the MILP: the optimal plan pays at least its
priced cost, and its usage never exceeds a capacity. A soft row (`placer.problem.soft`:
a priced grid event's, exceeded at p_r per unit) keeps this for y_r in [0, p_r]: the
optimal plan's excess e_r costs it p_r e_r >= y_r e_r, which pays for the usage above
cap_r that the priced sum charges; its price is p_r x sigmoid(theta) (`soft_prices`).
So `dual_bound` (recomputed in float64 with hard minima) is a certified lower bound;
at its best y it equals the LP bound. Adam maximises a smoothed L (soft-min at an
annealed temperature T) over y = softplus(theta) x scale_r. Work and memory grow with
the allowed (unit, pool) pairs N, not with U x O: every array below is a list of pairs.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from placer.engines.relax.dense import dense_bytes, dense_tables, optimise_dense
from placer.engines.relax.rows import PairRows, pair_rows
from placer.engines.relax.soft_prices import (
    SoftPrices,
    clip_soft,
    soft_prices,
    soft_prices_np,
    with_soft,
)
from placer.problem.form import Problem
from placer.problem.rows import row_labels
from placer.problem.soft import soft_mask


class RelaxResult(NamedTuple):
    """Prices float64[R'] (`pair_rows` order), their certified bound (USD/h), priced costs
    float64[U, K+1] (slot layout, column K unplaced, +inf where not allowed), and the
    ergodic primal float64[U, K+1] (average soft assignment; rows sum to 1)."""

    prices_r: np.ndarray
    bound: float
    priced_uk1: np.ndarray
    temperature: float
    primal_uk1: np.ndarray | None = None


def _priced(y_r, pr_base, term_pair, term_row, term_coef):
    """float32[N']: each choice's objective plus the prices of the rows it uses, from
    the flat list of its terms (choices of a timed problem use from 2 to hundreds of
    rows: a padded table would cost the longest for every choice)."""
    charged = jax.ops.segment_sum(
        term_coef * y_r[term_row], term_pair, num_segments=pr_base.shape[0]
    )
    return pr_base + charged


def _smooth_dual(theta_r, arrays, temperature, n_units):
    base, term_pair, term_row, term_coef, unit, cap, active, scale, *soft = arrays
    y = jnp.where(active, jax.nn.softplus(theta_r) * scale, 0.0)
    y = with_soft(y, theta_r, SoftPrices(*soft) if soft else None)
    priced = _priced(y, base, term_pair, term_row, term_coef)
    low = jax.lax.stop_gradient(jax.ops.segment_min(priced, unit, num_segments=n_units))
    z = jnp.exp(-(priced - low[unit]) / temperature)
    softmin = low - temperature * jnp.log(jax.ops.segment_sum(z, unit, num_segments=n_units))
    return softmin.sum() - (y * cap).sum()


def _choice_probs(theta_r, arrays, temperature, n_units):
    """Soft-min weights of each choice within its unit (the smoothed primal): float32[N']."""
    base, term_pair, term_row, term_coef, unit, _, active, scale, *soft = arrays
    y = jnp.where(active, jax.nn.softplus(theta_r) * scale, 0.0)
    y = with_soft(y, theta_r, SoftPrices(*soft) if soft else None)
    priced = _priced(y, base, term_pair, term_row, term_coef)
    low = jax.ops.segment_min(priced, unit, num_segments=n_units)
    z = jnp.exp(-(priced - low[unit]) / temperature)
    return z / jax.ops.segment_sum(z, unit, num_segments=n_units)[unit]


@functools.partial(jax.jit, static_argnames=("steps", "learning_rate", "n_units"))
def _optimise(arrays, theta0, t_start, t_end, *, steps: int, learning_rate: float, n_units: int):
    opt = optax.adam(learning_rate)
    value_and_grad = jax.value_and_grad(_smooth_dual)

    def step(carry, i):
        theta, state, best_theta, best_val, primal = carry
        temp = t_start * (t_end / t_start) ** (i / jnp.maximum(steps - 1, 1))  # geometric
        val, g = value_and_grad(theta, arrays, temp, n_units)
        # Ergodic primal: the average soft assignment over the second half of the run is
        # close to feasible even where one iterate's assignment is not.
        late = (i >= steps // 2).astype(jnp.float32)
        primal = primal + late * _choice_probs(theta, arrays, temp, n_units)
        updates, state = opt.update(-g, state, theta)  # ascend: maximise L
        better = val > best_val
        best_theta = jnp.where(better, theta, best_theta)
        theta = optax.apply_updates(theta, updates)
        return (theta, state, best_theta, jnp.maximum(val, best_val), primal), val

    primal0 = jnp.zeros(arrays[0].shape, jnp.float32)
    init = (theta0, opt.init(theta0), theta0, jnp.float32(-jnp.inf), primal0)
    (_, _, best_theta, _, primal), trace = jax.lax.scan(step, init, jnp.arange(steps))
    return best_theta, primal / jnp.maximum(steps - steps // 2, 1), trace


def dual_bound(
    problem: Problem, prices_r: np.ndarray, rows: PairRows | None = None
) -> tuple[float, np.ndarray]:
    """L(y) in float64 with hard minima: a valid lower bound for any y >= 0 (soft rows'
    prices are clipped to their price per unit of excess).

    Returns:
      (bound USD/h, priced costs float64[U, K+1], +inf where a choice is not allowed).
    """
    rows = rows or pair_rows(problem)
    y = clip_soft(np.maximum(np.asarray(prices_r, float), 0.0) * rows.active_r, rows.ceiling_r)
    y = np.append(y, 0.0)
    priced_n = rows.base_n + (rows.coef_nj * y[rows.rows_nj]).sum(axis=1)
    priced = np.full((problem.num_units, problem.num_slots + 1), np.inf)
    priced[rows.unit_n, rows.slot_n] = priced_n
    low = priced.min(axis=1) if problem.num_units else np.zeros(0)
    return float(low.sum() - (y[:-1] * rows.cap_r).sum()), priced


def relax_prices(
    problem: Problem,
    *,
    steps: int = 1000,
    learning_rate: float = 0.05,
    rows: PairRows | None = None,
    time_budget_s: float | None = None,
) -> RelaxResult:
    """Learns capacity prices with Adam; returns them with their certified bound.

    Args:
      problem: the compiled Problem.
      steps: Adam steps of the first round (temperature annealed 0.1 -> 0.001 of the mean
        objective coefficient).
      learning_rate: Adam's step size on theta (prices are softplus(theta) x scale).
      rows: `pair_rows(problem)`, if already built.
      time_budget_s: if given, the work is planned from the budget and the problem size
        with a fixed cost model, never from the clock, so a fixed seed gives the same
        prices on any machine. Dense layout (`use_dense`): one run of
        `planned_dense_steps` steps. Pair lists: further rounds of `steps` steps continue
        from the last prices at the final temperature (`planned_rounds`). The best
        certified bound is kept.
    """
    rows = rows or pair_rows(problem)
    spread = float(np.abs(rows.base_n).mean()) if rows.base_n.size else 1.0
    temperatures = (max(spread, 1e-3) * 0.1, max(spread, 1e-3) * 1e-3)
    zero = np.zeros(rows.cap_r.shape)
    best = RelaxResult(zero, *dual_bound(problem, zero, rows), temperatures[1], None)
    if not (problem.num_units and rows.cap_r.size):
        return best
    run = _Run(problem, rows, temperatures, steps, learning_rate, time_budget_s)
    return run.dense(best) if use_dense(problem) else run.pairs(best)


class _Run:
    """One `relax_prices` call: the dense (option-column) or the pair-list optimisation,
    from theta = -4 (softplus(-4) ~ 0.018 x scale), keeping the best certified result."""

    def __init__(self, problem, rows, temperatures, steps, learning_rate, time_budget_s):
        self.problem, self.rows = problem, rows
        self.t_start, self.t_end = temperatures
        self.steps, self.learning_rate, self.budget_s = steps, learning_rate, time_budget_s
        self.theta = jnp.full(rows.cap_r.shape, -4.0, jnp.float32)

    def _dense_run(self, problem: Problem, rows: PairRows, steps: int) -> jax.Array:
        """Runs `optimise_dense` from the current theta; returns its ergodic primal."""
        self.theta, primal_uo1 = optimise_dense(
            dense_tables(problem, rows),
            self.theta,
            jnp.float32(self.t_start),
            jnp.float32(self.t_end),
            steps=steps,
            learning_rate=self.learning_rate,
        )
        return primal_uo1

    def dense(self, best: RelaxResult) -> RelaxResult:
        """The dense layout: one planned run (two stages from SAMPLE_MIN_TOTAL_UNITS)."""
        problem, rows = self.problem, self.rows
        sample = sample_units(problem)
        if sample is not None and self.budget_s is not None:
            # Stage 1: prices learned on a sample of units against capacities scaled to
            # the sample's share, at a fraction of the cost (see SAMPLE_STEPS).
            self._dense_run(*sampled_problem(problem, rows, sample), SAMPLE_STEPS)
            spent = SAMPLE_STEPS * sample.size * (problem.num_options + 1)
            left_s = max(0.0, self.budget_s - spent / DENSE_ELEMENT_STEPS_PER_S)
            total = max(REFINE_MIN_STEPS, planned_dense_steps(problem, 0, left_s))
            self.t_start, self.learning_rate = self.t_end * 10.0, self.learning_rate * 0.2
            best = _keep_better(problem, rows, best, self.theta, self.t_end, None)
        else:
            total = planned_dense_steps(problem, self.steps, self.budget_s)
        primal_uo1 = self._dense_run(problem, rows, total)
        primal_uk1 = by_slot(problem, np.asarray(primal_uo1, float))
        best = _keep_better(problem, rows, best, self.theta, self.t_end, primal_uk1)
        if best.primal_uk1 is None:  # the stage-1 prices won: take the full run's primal
            best = best._replace(primal_uk1=np.where(np.isfinite(best.priced_uk1), primal_uk1, 0.0))
        return best

    def pairs(self, best: RelaxResult) -> RelaxResult:
        """Pair lists: rounds of `steps` steps, later ones at low temperature."""
        problem, rows = self.problem, self.rows
        used = (rows.rows_nj < rows.cap_r.size) & (rows.coef_nj != 0.0)
        term_pair, term_j = np.nonzero(used)
        arrays = tuple(
            jnp.asarray(a, dtype)
            for a, dtype in (
                (rows.base_n, jnp.float32),
                (term_pair, jnp.int32),
                (rows.rows_nj[term_pair, term_j], jnp.int32),
                (rows.coef_nj[term_pair, term_j], jnp.float32),
                (rows.unit_n, jnp.int32),
                (rows.cap_r, jnp.float32),
                (rows.active_r, bool),
                (rows.scale_r, jnp.float32),
            )
        ) + tuple(soft_prices(rows.ceiling_r) or ())
        hot = self.t_start
        # the cost model was measured on static choices (7 terms and a redundancy row)
        terms = (rows.base_n.size + term_pair.size) / (STANDARD_TERMS_PER_CHOICE + 1)
        rounds, steps = planned_rounds(terms, self.steps, self.budget_s)
        for _ in range(rounds):
            self.theta, primal_n, _ = _optimise(
                arrays,
                self.theta,
                jnp.float32(hot),
                jnp.float32(self.t_end),
                steps=steps,
                learning_rate=self.learning_rate,
                n_units=problem.num_units,
            )
            primal = np.zeros((problem.num_units, problem.num_slots + 1))
            primal[rows.unit_n, rows.slot_n] = np.asarray(primal_n, float)
            best = _keep_better(problem, rows, best, self.theta, self.t_end, primal)
            hot = self.t_end * 10.0  # later rounds refine at low temperature
        return best


def _keep_better(
    problem: Problem,
    rows: PairRows,
    best: RelaxResult,
    theta: jax.Array,
    temperature: float,
    primal_uk1: np.ndarray | None,
) -> RelaxResult:
    """The result for theta (its float64 certified bound) if it beats `best`."""
    prices = np.where(rows.active_r, np.asarray(jax.nn.softplus(theta), float) * rows.scale_r, 0.0)
    prices = soft_prices_np(prices, theta, rows.ceiling_r)
    bound, priced = dual_bound(problem, prices, rows)
    if bound <= best.bound:
        return best
    primal = None if primal_uk1 is None else np.where(np.isfinite(priced), primal_uk1, 0.0)
    return RelaxResult(prices, bound, priced, temperature, primal)


def by_slot(problem: Problem, table_uo1: np.ndarray) -> np.ndarray:
    """float64[U, K+1]: an option-layout table [U, O+1] (column O unplaced) read at each
    unit's slots (column K: unplaced; 0 on empty slots)."""
    n_o = problem.num_options
    option = np.where(problem.listed_uk, problem.option_uk, n_o)
    out = np.take_along_axis(table_uo1, option, axis=1)
    out = np.where(problem.listed_uk, out, 0.0)
    return np.concatenate([out, table_uo1[:, n_o:]], axis=1)


#: The dense layout (relax/dense.py) is used while its tables fit this many bytes and at
#: least this share of (unit, pool) pairs is allowed; sparser or larger problems use the
#: pair lists, whose memory grows with allowed pairs only.
DENSE_MAX_BYTES = 3 << 30
DENSE_MIN_DENSITY = 0.05
#: Dense element-steps ((U x (P+1)) x Adam steps) per second on a 2-core CPU (measured:
#: 100 steps over 10,000 x 101 in 0.44 s); plans the step count, never the clock.
DENSE_ELEMENT_STEPS_PER_S = 2.0e8
DENSE_MAX_STEPS = 4000
#: Two-stage dense relaxation from this many units on: SAMPLE_STEPS steps on a sample of
#: max(SAMPLE_MIN_UNITS, SAMPLE_SHARE x U) units, then at least REFINE_MIN_STEPS on all
#: units from those prices. Measured (gen-50000x200-s1): 2,000 steps on a 10% sample
#: reach a certified bound of 291,408 USD/h in 13 s, where 1,600 steps on all units
#: reach 291,126 in ~90 s; on gen-10000x100-s1, 57,783 in 2.3 s vs 57,847 in ~9 s.
SAMPLE_MIN_TOTAL_UNITS = 5_000
SAMPLE_MIN_UNITS = 2_000
SAMPLE_SHARE = 0.1
SAMPLE_STEPS = 2_000
REFINE_MIN_STEPS = 300


def sample_units(problem: Problem) -> np.ndarray | None:
    """Sorted unit indices of the first stage's sample (fixed seed), or None."""
    n_u = problem.num_units
    if n_u < SAMPLE_MIN_TOTAL_UNITS:
        return None
    size = min(n_u, max(SAMPLE_MIN_UNITS, round(SAMPLE_SHARE * n_u)))
    return np.sort(np.random.default_rng(0).choice(n_u, size, replace=False))


def sampled_problem(
    problem: Problem, rows: PairRows, sample: np.ndarray
) -> tuple[Problem, PairRows]:
    """The Problem over `sample` with every capacity row scaled by the sample's share;
    redundancy rows keep their capacity of one copy per key. Its rows line up with
    `rows` (same options, rows and groups), and it takes the full problem's price
    scales, so prices carry over."""
    small = scaled_sample(problem, sample)
    small_rows = pair_rows(small)._replace(scale_r=rows.scale_r)
    return small, small_rows


def scaled_sample(problem: Problem, sample: np.ndarray) -> Problem:
    """The Problem over the units of `sample` with every capacity row times the
    sample's share of the units."""
    share = sample.size / max(problem.num_units, 1)
    return problem.take_units(sample)._replace(cap_r=problem.cap_r * share)


def use_dense(problem: Problem) -> bool:
    """Whether relax_prices takes the dense (option-column) layout for this problem."""
    cells = problem.num_units * (problem.num_options + 1)
    density = problem.num_pairs() / max(cells, 1)
    return dense_bytes(problem) <= DENSE_MAX_BYTES and density >= DENSE_MIN_DENSITY


def planned_dense_steps(problem: Problem, steps: int, time_budget_s: float | None) -> int:
    """Adam steps of the one dense run: `steps`, or as many as the budget buys under the
    fixed cost model (at least `steps`, at most DENSE_MAX_STEPS), rounded to 100."""
    if time_budget_s is None:
        return steps
    cells = max(1, problem.num_units * (problem.num_options + 1))
    affordable = time_budget_s * DENSE_ELEMENT_STEPS_PER_S / cells
    return int(min(DENSE_MAX_STEPS, max(steps, affordable // 100 * 100)))


#: Choice-steps per second the relaxation sustains on a 2-core CPU (measured: 500 steps
#: over 288k choices in ~5 s). Used to plan rounds; faster machines just finish early.
PAIR_STEPS_PER_S = 2.9e7
MAX_ROUNDS = 12
#: Terms of a static option (pool GPUs, four site rows, budget, carbon): the width the
#: cost model was measured at; a timed option's run charges 5 rows per period.
STANDARD_TERMS_PER_CHOICE = 7
MIN_ROUND_STEPS = 20


def planned_rounds(choices: float, steps: int, time_budget_s: float | None) -> tuple[int, int]:
    """(rounds, Adam steps per round) that fit the budget under the fixed cost model:
    rounds of `steps` steps, or one shorter round (at least MIN_ROUND_STEPS, rounded to
    50) when one round of `steps` would not fit. `choices` counts choices of the
    standard width (STANDARD_TERMS_PER_CHOICE terms each)."""
    if time_budget_s is None:
        return 1, steps
    per_step_s = max(choices, 1.0) / PAIR_STEPS_PER_S
    rounds = int(min(MAX_ROUNDS, time_budget_s // max(per_step_s * steps, 1e-12)))
    if rounds >= 1:
        return rounds, steps
    affordable = int(time_budget_s / per_step_s) // 50 * 50
    return 1, max(MIN_ROUND_STEPS, min(steps, affordable))


def capacity_rows(problem: Problem, prices_r: np.ndarray) -> list[tuple[int, str, float]]:
    """Positive prices of the capacity rows as (scope, kind, USD/h per unit) (scope -1
    for the budget and the carbon cap)."""
    return row_labels(problem.kind_r, problem.scope_r, prices_r, soft_r=soft_mask(problem))
