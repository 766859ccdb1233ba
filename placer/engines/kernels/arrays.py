"""The Problem as float32 JAX arrays: what every kernel reads.

A candidate is int32[U]: the *slot* of each unit's option list (`Problem.option_uk`),
with slot K meaning unplaced (`to_slots` converts an assignment of options). Slot K has
the value lost unplaced as its objective and charges nothing; empty slots and slot K
map to a dummy option O whose terms all land on a dummy row R that has no capacity, so
gathers need no branches. Capacities of `inf` (no cap) become BIG, a large finite
number, so that kernels never produce inf/nan (their gradients stay finite).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from placer.problem.form import Problem

BIG = 1e30
#: Largest per-slot term table (`KernelProblem.value_uk1j`) built, elements: 200 MB of
#: float32. Static problems (7 terms) stay far below it at any size that fits; a timed
#: week of 3,367 units x 149 slots x 339 terms would take 680 MB (and 2.6 GB to build).
VALUE_TABLE_MAX = 50_000_000


@jax.tree_util.register_static
@dataclass(frozen=True)
class TermBlocks:
    """Runs of an option's terms that charge consecutive rows: for every option, term
    j0 + i of a run (j0, length, fixed) charges row row_oj[o, j0] + i (or the run
    charges nothing). Loads are then one windowed segment sum per run instead of one
    per term, and a plain sum for a run whose first row is `fixed` (>= 0) for every
    option that charges it: the standard layout has three runs (the pool's GPU row;
    the site's IT, facility, heat and water rows; the budget and carbon rows, fixed).
    `aligned`: every row is charged by one term index only (whatever the option), so
    a move's old and new options can share a row only at the same term (the standard
    layout: a term is one row kind); move deltas then compare J pairs, not J x J.
    Static: part of the jit key."""

    runs: tuple[tuple[int, int, int], ...]
    aligned: bool = False

    @property
    def widest(self) -> int:
        return max((length for _, length, _ in self.runs), default=1)


def term_blocks(row_oj: np.ndarray) -> TermBlocks:
    """The longest runs of consecutive terms whose rows are consecutive for every option
    (an option charging none of a run's rows is fine)."""
    n_j = row_oj.shape[1]
    runs: list[tuple[int, int, int]] = []
    j = 0
    while j < n_j:
        end = j + 1
        while end < n_j:
            first, nxt = row_oj[:, j], row_oj[:, end]
            step = nxt == first + (end - j)
            none = (first < 0) & (nxt < 0)
            if not ((step & (first >= 0)) | none).all():
                break
            end += 1
        first = np.unique(row_oj[:, j][row_oj[:, j] >= 0])
        runs.append((j, end - j, int(first[0]) if first.size == 1 else -1))
        j = end
    term = np.broadcast_to(np.arange(n_j), row_oj.shape)
    charged = row_oj >= 0
    pairs = np.unique(np.stack([row_oj[charged], term[charged]]), axis=1)
    aligned = bool(np.unique(pairs[0]).size == pairs.shape[1])
    return TermBlocks(tuple(runs), aligned)


class KernelProblem(NamedTuple):
    """Float32 slot tables (U units, K slots, O options, J terms, R rows, Q quantities,
    N redundancy slots).

    Attributes:
      objective_uk1: float32[U, K+1], objective USD/h; column K = value lost unplaced.
      amount_uk1q: float32[U, K+1, Q], amounts of `QUANTITIES` (0 in column K).
      value_uk1j: float32[U, K+1, J], what the slot's option charges each of its rows
        (its amount of that term's quantity; 0 in column K): one contiguous gather per
        unit where picking J amounts by quantity would be a gather of a gather (~2x
        slower scoring on CPU). None when the table would pass VALUE_TABLE_MAX elements
        (a timed problem's options charge hundreds of rows): `slot_values` gathers
        then.
      option_uk1: int32[U, K+1], option of each slot; O for empty slots and column K.
      allowed_uk1: bool[U, K+1], the slot holds an option; column K is True unless the
        unit must be placed.
      row_o1j: int32[O+1, J], rows of each option's terms; R for none (and option O).
      quantity_o1j: int32[O+1, J], the quantity each term charges.
      scale_o1j: float32[O+1, J], the multiple of that amount it charges
        (`Problem.scale_oj`), or None: 1 everywhere.
      cap_r1: float32[R+1], capacities (BIG: none, and for the dummy row R).
      kind_r1: int32[R+1], row kinds (`ROW_KINDS`); the dummy row's is 0 (weight 0).
      real_r1: float32[R+1], 1 for real rows, 0 for the dummy row.
      group_u: int32[U] (-1: none).
      spread_slot_go1: int32[G, O+1], g x KEYS + spread key of option o; N = G x KEYS
        for option O (unplaced). KEYS is the number of sites (keys are site or domain
        indices).
      spread_zero_n1: float32[N+1], zeros: the redundancy counters' shape.
      blocks: the runs of terms that charge consecutive rows (`TermBlocks`, static).
    """

    objective_uk1: jnp.ndarray
    amount_uk1q: jnp.ndarray
    value_uk1j: jnp.ndarray | None
    option_uk1: jnp.ndarray
    allowed_uk1: jnp.ndarray
    row_o1j: jnp.ndarray
    quantity_o1j: jnp.ndarray
    scale_o1j: jnp.ndarray | None
    cap_r1: jnp.ndarray
    kind_r1: jnp.ndarray
    real_r1: jnp.ndarray
    group_u: jnp.ndarray
    spread_slot_go1: jnp.ndarray
    spread_zero_n1: jnp.ndarray
    blocks: TermBlocks

    @property
    def num_slots(self) -> int:
        """K: the unplaced slot's index."""
        return int(self.objective_uk1.shape[1]) - 1


def _finite(a: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(a), a, BIG).astype(np.float32)


class SlotTables(NamedTuple):
    """The kernel layout in float64 NumPy (shapes as in KernelProblem), shared by
    `to_kernel` and the NumPy reference."""

    objective_uk1: np.ndarray
    amount_uk1q: np.ndarray
    option_uk1: np.ndarray
    allowed_uk1: np.ndarray
    row_o1j: np.ndarray
    quantity_o1j: np.ndarray
    scale_o1j: np.ndarray | None


def slot_tables(problem: Problem) -> SlotTables:
    """The Problem's slot tables with the unplaced column, dummy option and dummy row."""
    n_u, n_o, n_r = problem.num_units, problem.num_options, problem.num_rows
    listed = problem.listed_uk
    value = problem.unplaced_usd_per_h_u[:, None]
    objective = np.concatenate([np.where(listed, problem.objective_usd_per_h_uk, 0.0), value], 1)
    amount = np.zeros((n_u, problem.num_slots + 1, problem.num_quantities))
    amount[:, :-1, :] = np.moveaxis(np.where(listed[None], problem.amount_quk, 0.0), 0, 2)
    option = np.full((n_u, problem.num_slots + 1), n_o, np.int32)
    option[:, :-1] = np.where(listed, problem.option_uk, n_o)
    allowed = np.concatenate([listed, ~problem.must_place_u[:, None]], axis=1)
    n_j = problem.row_oj.shape[1]
    rows = np.full((n_o + 1, n_j), n_r, np.int32)
    rows[:n_o] = np.where(problem.row_oj >= 0, problem.row_oj, n_r)
    quantity = np.zeros((n_o + 1, n_j), np.int32)
    quantity[:n_o] = problem.quantity_oj
    scale = None
    if problem.scale_oj is not None:
        scale = np.ones((n_o + 1, n_j))
        scale[:n_o] = problem.scale_oj
    return SlotTables(objective, amount, option, allowed, rows, quantity, scale)


def to_kernel(problem: Problem) -> KernelProblem:
    """Converts the compiled Problem (float64 NumPy) to kernel arrays (float32 JAX)."""
    if problem.row_oj.shape[1] == 0:  # no option charges a row (e.g. none at all): one empty term
        n_o = problem.num_options
        problem = problem._replace(
            row_oj=np.full((n_o, 1), -1, np.int32),
            quantity_oj=np.zeros((n_o, 1), np.int8),
            scale_oj=None if problem.scale_oj is None else np.ones((n_o, 1)),
        )
    t = slot_tables(problem)
    n_o, n_r = problem.num_options, problem.num_rows
    cells = t.option_uk1.size * problem.row_oj.shape[1]
    value = None
    if cells <= VALUE_TABLE_MAX:
        table = np.take_along_axis(t.amount_uk1q, t.quantity_o1j[t.option_uk1], axis=2)
        if t.scale_o1j is not None:
            table = table * t.scale_o1j[t.option_uk1]
        value = jnp.asarray(table, jnp.float32)
    keys = max(problem.num_sites, 1)
    n_g = problem.num_groups
    spread = np.full((n_g, n_o + 1), n_g * keys, np.int32)
    spread[:, :n_o] = np.arange(n_g)[:, None] * keys + problem.spread_key_go
    return KernelProblem(
        objective_uk1=jnp.asarray(t.objective_uk1, jnp.float32),
        amount_uk1q=jnp.asarray(t.amount_uk1q, jnp.float32),
        value_uk1j=value,
        option_uk1=jnp.asarray(t.option_uk1),
        allowed_uk1=jnp.asarray(t.allowed_uk1),
        row_o1j=jnp.asarray(t.row_o1j),
        quantity_o1j=jnp.asarray(t.quantity_o1j),
        scale_o1j=None if t.scale_o1j is None else jnp.asarray(t.scale_o1j, jnp.float32),
        cap_r1=jnp.asarray(_finite(np.append(problem.cap_r, np.inf))),
        kind_r1=jnp.asarray(np.append(problem.kind_r, 0).astype(np.int32)),
        real_r1=jnp.asarray(np.append(np.ones(n_r), 0.0).astype(np.float32)),
        group_u=jnp.asarray(problem.group_u.astype(np.int32)),
        spread_slot_go1=jnp.asarray(spread),
        spread_zero_n1=jnp.zeros(n_g * keys + 1, jnp.float32),
        blocks=term_blocks(problem.row_oj),
    )


def slot_values(kp: KernelProblem, u: jax.Array, k: jax.Array) -> jax.Array:
    """float32[..., J]: what unit u's slot k charges each of its option's rows (u and k
    broadcast): the table when there is one, else the amounts gathered by quantity
    (times the terms' scales)."""
    if kp.value_uk1j is not None:
        return kp.value_uk1j[u, k]
    amount = kp.amount_uk1q[u, k]  # [..., Q]
    option = kp.option_uk1[u, k]
    values = jnp.take_along_axis(amount, kp.quantity_o1j[option], axis=-1)  # [..., J]
    return values if kp.scale_o1j is None else values * kp.scale_o1j[option]


def to_slots(problem: Problem, assign_u: np.ndarray) -> np.ndarray:
    """int32[..., U]: an assignment of options (-1 unplaced) as kernel slots (K =
    unplaced; an option the unit does not list also maps to K)."""
    a = np.asarray(assign_u)
    if a.size == 0:  # no unit (or no assignment)
        return np.zeros(a.shape, np.int32)
    flat = a.reshape(-1, a.shape[-1])
    out = np.empty(flat.shape, np.int32)
    for i, row in enumerate(flat):
        slot = problem.slot_of(row)
        out[i] = np.where(slot >= 0, slot, problem.num_slots)
    return out.reshape(a.shape)


def to_options(problem: Problem, slots_u: np.ndarray) -> np.ndarray:
    """int32[..., U]: kernel slots (K = unplaced) as an assignment of options (-1)."""
    s = np.asarray(slots_u)
    n_k = problem.num_slots
    units = np.arange(problem.num_units)
    option = problem.option_uk[units, np.minimum(s, n_k - 1)] if n_k else np.full(s.shape, -1)
    return np.where(s < n_k, option, -1).astype(np.int32)
