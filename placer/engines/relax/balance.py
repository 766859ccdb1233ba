"""Balancing a drawn plan before repair (pair lists).

Independent draws from the priced softmax overload some pools and sites and leave
others idle: each pool sees the random fluctuation of its many near-tied takers. Repair
then evicts units from every overloaded row, and evicted optional units that find no
room are dropped: on gen-100000x1000-s1 the repair of a draw (611,600 USD/h, not
feasible) dropped 2,231 placed optional units, +17,031 USD/h of the +16,379 it cost.

`balanced` runs a few rounds of price feedback on the drawn plan itself:
1. loads of every pool and site row (pool GPUs; IT, facility, heat kW, water);
2. each row's price moves by BALANCE_STEP x its kind's typical price x its relative
   excess (clipped to [-MAX_SLACK, MAX_EXCESS]): up where the row is overloaded, down
   where it has room;
3. on each overloaded row, a random share of its units, about its relative excess,
   re-draws from softmax(-priced / T) at the new prices.
Only the plan and working prices change; the certified bound stays that of the learned
prices. Same draw, same repair, on gen-100000x1000-s1: 627,979 USD/h without balancing,
624,618 after 100 rounds at a step of 0.01 (17 s), 623,790 at 0.03 (19 s).
"""

from __future__ import annotations

import time

import numpy as np

from placer import interrupt
from placer.engines.relax.rows import local_rows, row_capacities
from placer.engines.relax.sampled import drawn_options, priced_slots
from placer.problem.form import Problem
from placer.problem.soft import clip_prices
from placer.problem.usage import row_loads

BALANCE_STEP = 0.03
MAX_EXCESS = 0.5
MAX_SLACK = 0.2


def family_scale(problem: Problem, prices_r: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """float64[len(rows)]: the median positive price of each row's kind among `rows`, 1
    where a kind has none."""
    kind = problem.kind_r[rows]
    scale = np.ones(rows.size)
    for k in np.unique(kind):
        at = kind == k
        positive = prices_r[rows[at]][prices_r[rows[at]] > 0]
        if positive.size:
            scale[at] = float(np.median(positive))
    return scale


def balanced(
    problem: Problem,
    assign_u: np.ndarray,
    prices_r: np.ndarray,
    temperature: float,
    rng: np.random.Generator,
    rounds: int,
    deadline: float | None = None,
) -> np.ndarray:
    """int32[U]: assign_u after up to `rounds` rounds of price feedback (module
    docstring); none starts past `deadline` (a time.perf_counter() value). The result
    may still overload rows: repair it."""
    a = np.asarray(assign_u, dtype=np.int32).copy()
    rows = local_rows(problem)
    cap = row_capacities(problem)[rows]
    capped = np.isfinite(cap) & (cap > 0)
    safe_cap = np.where(capped, cap, 1.0)
    y = clip_prices(problem, np.maximum(np.asarray(prices_r, float), 0.0).copy())
    scale = family_scale(problem, y, rows)
    position = np.full(problem.num_rows + 1, -1, np.int64)  # row -> index in `rows`
    position[rows] = np.arange(rows.size)
    for _ in range(rounds):
        if interrupt.requested() or (deadline is not None and time.perf_counter() > deadline):
            break
        ratio = np.where(capped, (row_loads(problem, a)[rows] - safe_cap) / safe_cap, 0.0)
        if not (ratio > 1e-9).any():
            break
        y[rows] = np.maximum(
            0.0, y[rows] + BALANCE_STEP * scale * np.clip(ratio, -MAX_SLACK, MAX_EXCESS)
        )
        y = clip_prices(problem, y)  # a soft row's price stays at most its excess price
        over = np.append(np.maximum(ratio, 0.0), 0.0)  # the last: not a local row
        placed = np.flatnonzero(a >= 0)
        at = position[problem.row_oj[a[placed]]]  # [n, J]: -1 for global or no row
        excess = over[at].max(axis=1)
        movers = placed[(excess > 0) & (rng.random(placed.size) < excess / (1.0 + excess))]
        if movers.size == 0:
            continue
        priced = priced_slots(problem, y, movers)
        a[movers] = drawn_options(problem, movers, priced, temperature, rng)
    return a
