"""Budgets and carbon caps per period: side rows the options form cannot hold
(docs/time.md, "Budgets and carbon caps per period").

An option charges one amount of each quantity to every row it charges, but what a run
spends in each period differs (tariffs and intensities vary by period), so a cap per
period is its own structure next to the options, like `Problem.startup` and
`Problem.preempt`: one *cap row* per (kind, period), kind the budget or the carbon
cap, and a sparse list of *entries* (unit, slot, cap row, amount): what the unit's
option in that slot spends in that period. Amounts and caps are in the scenario's
unit, a rate averaged over the period: USD (resp. kg CO2e) spent in the period / the
period's hours.

What counts in period t (the same rule in compile, every engine and the verifier):

- A run's GPU-hours and energy in t (the hours it runs in t, at t's tariff), and its
  emissions in t (at t's intensity); a preempted run's whole periods likewise.
- A training run's dataset egress (paid once) in the first period of its window: the
  period its `earliest_start` falls in, rounded up (0 without one): the data is staged
  when the window opens, wherever the run then starts or pauses.
- Replica start-ups in the period they occur (t >= 1, `placer.problem.startup`).
- The USD paid over a priced grid event's cap in the period of the excess.

Both kinds have rows when either field is set (a kind without its field has caps of
+inf, so the plan can state its spend and carbon per period); engines skip rows that
cannot bind. What an assignment spends per cap row is `placer.problem.usage.period_spend`
(and `broken_caps`). This module imports nothing of `form` (form imports it).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: The kinds of cap rows, in `row_tk` column order.
PERIOD_KINDS: tuple[str, ...] = ("budget_usd_per_period_h", "carbon_cap_kg_per_period_h")
PK_BUDGET, PK_CARBON = range(len(PERIOD_KINDS))
#: What a broken cap row is called (`usage.violations`, `broken_messages`).
PERIOD_MESSAGES: tuple[str, ...] = ("period budget exceeded", "period carbon cap exceeded")


class PeriodCaps(NamedTuple):
    """Caps per (kind, period) and what each option spends in each period (C cap rows,
    E entries, U units, R Problem rows, T periods).

    Attributes:
      cap_c: float64[C], the cap, USD/h or kg/h averaged over the period (inf: none).
      kind_c: int8[C], `PK_BUDGET` or `PK_CARBON`.
      period_c: int32[C], the period.
      row_tk: int32[T, 2], the cap row of each period and kind.
      unit_e, slot_e: int32[E], the (unit, slot of its option list) of each entry.
      row_e: int32[E], the cap row it charges; (unit, slot, row) distinct.
      amount_e: float64[E], what it charges (cap unit: spend in the period / its hours).
      period_r: int32[R], the period of each Problem row (-1: the whole horizon); soft
        rows' excess counts in its period.
      scale: horizon hours / period hours: turns USD per horizon hour (the objective's
        unit, `amount_quk`, `Preempt`, `Startup`) into the cap's unit of one period.
    """

    cap_c: np.ndarray
    kind_c: np.ndarray
    period_c: np.ndarray
    row_tk: np.ndarray
    unit_e: np.ndarray
    slot_e: np.ndarray
    row_e: np.ndarray
    amount_e: np.ndarray
    period_r: np.ndarray
    scale: float

    @property
    def num_caps(self) -> int:
        return int(self.cap_c.shape[0])

    def take(self, units: np.ndarray) -> PeriodCaps:
        """The entries of the given units only (int[n] unit indices or bool[U]),
        renumbered 0..n-1; the caps are unchanged (callers adjust them)."""
        units = np.asarray(units).reshape(-1)
        if units.dtype == bool:
            units = np.flatnonzero(units)
        units = units.astype(np.int64)
        n_u = int(max(units.max(initial=-1), self.unit_e.max(initial=-1))) + 1
        new_of = np.full(n_u, -1, np.int64)
        new_of[units] = np.arange(units.size)
        new_e = new_of[self.unit_e] if self.unit_e.size else np.zeros(0, np.int64)
        keep = new_e >= 0
        order = np.argsort(new_e[keep], kind="stable")
        return self._replace(
            unit_e=new_e[keep][order].astype(np.int32),
            slot_e=self.slot_e[keep][order],
            row_e=self.row_e[keep][order],
            amount_e=self.amount_e[keep][order],
        )

    def with_caps(self, cap_c: np.ndarray) -> PeriodCaps:
        return self._replace(cap_c=np.asarray(cap_c, float))


def compile_period_caps(
    budget_t: list[float],
    carbon_t: list[float],
    period_hours: float,
    span_h: float,
    runs: dict[str, np.ndarray],
    period_r: np.ndarray,
) -> PeriodCaps:
    """The table of a timed problem.

    Args:
      budget_t, carbon_t: the caps per period, USD/h and kg/h (inf: none).
      period_hours, span_h: a period's and the horizon's hours.
      runs: one entry per (unit, slot): "u", "k" (int64), "s0", "n" (first period and
        periods it holds), "fraction" (share of its last period it runs), "gpu_usd_h"
        (GPU-hour price of the whole option, USD/h), "energy_kwh" (facility kWh in a
        whole period), "egress_usd", "egress_t" (period the egress counts in; -1: none),
        "price_t" / "grid_t": callables (int64[m] entries, int64[m] periods) -> USD/kWh
        and gCO2e/kWh.
      period_r: int32[R], the period of each Problem row.
    """
    n_t = len(budget_t)
    cap = np.concatenate([np.asarray(budget_t, float), np.asarray(carbon_t, float)])
    kind = np.repeat(np.array([PK_BUDGET, PK_CARBON], np.int8), n_t)
    period = np.tile(np.arange(n_t, dtype=np.int32), 2)
    row_tk = np.stack([np.arange(n_t), n_t + np.arange(n_t)], axis=1).astype(np.int32)
    n = runs["n"].astype(np.int64)
    e = np.repeat(np.arange(n.size), n)
    offset = np.arange(e.size) - np.repeat(np.cumsum(n) - n, n)
    t = runs["s0"][e] + offset
    share = np.where(offset == n[e] - 1, runs["fraction"][e], 1.0)
    hours = share * period_hours
    kwh = share * runs["energy_kwh"][e]
    usd = hours * runs["gpu_usd_h"][e] + kwh * runs["price_t"](e, t)
    kg = kwh * runs["grid_t"](e, t) / 1000.0
    moved = np.flatnonzero(runs["egress_t"] >= 0)
    unit = np.concatenate([runs["u"][e], runs["u"][e], runs["u"][moved]])
    slot = np.concatenate([runs["k"][e], runs["k"][e], runs["k"][moved]])
    row = np.concatenate(
        [row_tk[t, PK_BUDGET], row_tk[t, PK_CARBON], row_tk[runs["egress_t"][moved], PK_BUDGET]]
    )
    amount = np.concatenate([usd, kg, runs["egress_usd"][moved]]) / period_hours
    # one entry per (unit, slot, row): the egress shares its period's row with the run
    n_c, n_k = 2 * n_t, int(slot.max(initial=0)) + 1
    key = (unit.astype(np.int64) * n_k + slot) * n_c + row
    keys, at = np.unique(key, return_inverse=True)
    total = np.bincount(at.reshape(-1), weights=amount, minlength=keys.size)
    return PeriodCaps(
        cap_c=cap,
        kind_c=kind,
        period_c=period,
        row_tk=row_tk,
        unit_e=(keys // n_c // n_k).astype(np.int32),
        slot_e=((keys // n_c) % n_k).astype(np.int32),
        row_e=(keys % n_c).astype(np.int32),
        amount_e=total,
        period_r=np.asarray(period_r, np.int32),
        scale=float(span_h / period_hours),
    )
