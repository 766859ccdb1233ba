"""N-1 secure placement: a plan whose must-place units survive any single failure.

The MILP of `placer.engines.milp.formulation` (variables x[u,o]) plus, for each failure
f (a site, or every site of a failure domain), recourse binaries y[f,u,o'] for each
must-place unit u that has an option at f, over its listed options o' away from f:

  (S1) sum_o' y[f,u,o'] = sum_{o at f} x[u,o]       u re-placed iff it ran at f
  (S2) sum_{(u,o) not at f} a[q,u,o] x[u,o] + sum_{u,o'} a[q,u,o'] y[f,u,o'] <= cap[r]
       for every pool and site row r some y[f,...] charges (the survivors stay where
       they run; the re-placed units fit in what they leave)
  (S3) sum over a redundancy group's x not at f and y[f,...] with spread key k <= 1

Units that may be shed (not must-place) are shed in a failure; a must-place unit whose
every option lies in the failure (pinned there, say) cannot be protected from it and is
left out of that failure (`unprotectable` lists them; the plan's diagnostics name
them). The budget and the carbon cap are not held during a failure (an emergency
re-placement is not blocked by an average). A recourse option is one the unit lists,
so it meets the latency SLO, residency, cooling and every other pair rule. The plan is
x; the y of each failure prove that it is absorbed (tests/test_secure.py re-places
each loss with `placer replan` and verifies the result against the scenario).

Size: one y per (failure, must-place unit with an option at the failure, option away
from it), and the rows they charge: `secure_size` counts them.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time

import numpy as np

from placer.engines.base import SolveOptions, SolveResult
from placer.engines.milp.formulation import (
    Formulation,
    _formulation,
    _placement_rows,
    _Rows,
    _Terms,
    _variables,
)
from placer.engines.milp.solve import MIN_SOLVE_S, solve_milp
from placer.errors import OptionError
from placer.problem.form import Problem
from placer.problem.rows import KIND_SCOPE
from placer.problem.usage import term_values


def unprotectable(problem: Problem, failures: list[np.ndarray]) -> list[tuple[int, int]]:
    """(failure, unit) of every must-place unit whose options all lie in the failure: no
    plan can re-place it there, so the secure model leaves it out of that failure."""
    site_uk = problem.site_o[np.maximum(problem.option_uk, 0)]
    listed = problem.listed_uk & problem.must_place_u[:, None]
    out = []
    for f, sites in enumerate(failures):
        inside = (np.isin(site_uk, sites) | ~listed).all(axis=1) & listed.any(axis=1)
        out += [(f, int(u)) for u in np.flatnonzero(inside)]
    return out


def secure_size(problem: Problem, failures: list[np.ndarray], candidates_u=None) -> int:
    """Recourse variables of the secure model (`failures`: per failure, the sites lost)."""
    pairs, _ = _variables(problem, candidates_u)
    u, site_n = pairs[:, 0], problem.site_o[pairs[:, 1]]
    must = problem.must_place_u[u]
    total = 0
    for sites in failures:
        lost = np.isin(site_n, sites)
        exposed = np.intersect1d(u[lost & must], u[~lost])
        total += int((np.isin(u, exposed) & ~lost).sum())
    return total


def build_secure_model(
    problem: Problem, failures: list[np.ndarray], candidates_u=None
) -> Formulation:
    """The placement MILP with each failure's recourse (module docstring); with
    `candidates_u` (per unit, the options it may use) both x and y are restricted to
    them (a recourse over fewer options still proves a loss absorbed)."""
    pairs, slot, rows, terms = _placement_rows(problem, candidates_u)
    n = len(pairs)
    extra = []
    for f, sites in enumerate(failures):
        ys = _add_failure(rows, problem, pairs, slot, terms, f, sites, n)
        extra.append((f"y[{f},", ys))
        n += len(ys)
    return _formulation("secure_placement", problem, pairs, slot, rows, True, tuple(extra))


def _add_failure(rows: _Rows, problem, pairs, slot, terms: _Terms, f: int, sites, first: int):
    """(S1)-(S3) of failure f; returns its recourse variables' (unit, option) pairs,
    numbered from `first`."""
    u, o = pairs[:, 0], pairs[:, 1]
    lost_n = np.isin(problem.site_o[o], sites)
    exposed = np.intersect1d(u[lost_n & problem.must_place_u[u]], u[~lost_n])
    keep = np.isin(u, exposed) & ~lost_n  # recourse: an exposed unit's options away from f
    y_pairs, y_slot = pairs[keep], slot[keep]
    y_cols = first + np.arange(len(y_pairs))
    # (S1)
    for unit in exposed.tolist():
        ys = y_cols[y_pairs[:, 0] == unit]
        xs = np.flatnonzero((u == unit) & lost_n)
        rows.add(
            f"recourse[{f},{unit}]",
            np.concatenate([ys, xs]),
            np.concatenate([np.ones(ys.size), -np.ones(xs.size)]),
            0.0,
            0.0,
        )
    if not len(y_pairs):
        return y_pairs
    # (S2): the rows the recourse charges (pool and site rows only)
    yo = y_pairs[:, 1]
    values = term_values(problem, y_pairs[:, 0], y_slot, yo)
    row_yj = problem.row_oj[yo]
    charged = (row_yj >= 0) & (KIND_SCOPE[problem.kind_r[row_yj.clip(0)]] < 2)
    y_row = row_yj[charged]
    y_var = np.broadcast_to(y_cols[:, None], row_yj.shape)[charged]
    y_val = values[charged]
    order = np.argsort(y_row, kind="stable")
    y_row, y_var, y_val = y_row[order], y_var[order], y_val[order]
    bounds = [*np.searchsorted(y_row, np.unique(y_row), side="left").tolist(), len(y_row)]
    for a, b in itertools.pairwise(bounds):
        r = int(y_row[a])
        cap = float(problem.cap_r[r])
        if not math.isfinite(cap):
            continue
        cols, coef, _ = terms.of(r)
        stay = ~lost_n[cols]
        rows.add(
            f"n1_cap[{f},{r}]",
            np.concatenate([cols[stay], y_var[a:b]]),
            np.concatenate([coef[stay], y_val[a:b]]),
            -math.inf,
            cap,
        )
    # (S3)
    for g in np.unique(problem.group_u[y_pairs[:, 0]]).tolist():
        if g < 0:
            continue
        x_in = np.flatnonzero((problem.group_u[u] == g) & ~lost_n)
        y_in = np.flatnonzero(problem.group_u[y_pairs[:, 0]] == g)
        key_x = problem.spread_key_go[g, o[x_in]]
        key_y = problem.spread_key_go[g, yo[y_in]]
        for key in np.unique(key_y).tolist():
            cols = np.concatenate([x_in[key_x == key], y_cols[y_in[key_y == key]]])
            rows.add(f"n1_spread[{f},{g},{key}]", cols, np.ones(cols.size), -math.inf, 1.0)
    return y_pairs


#: Most recourse variables a secure model is built with (beyond it: an OptionError).
MAX_SECURE_VARIABLES = 2_000_000


def solve_secure(
    problem: Problem, options: SolveOptions, failures: list[np.ndarray]
) -> SolveResult:
    """The N-1 secure plan: the MILP with each failure's recourse.

    Raises:
      OptionError: the model would hold more than MAX_SECURE_VARIABLES recourse variables.
    """
    size = secure_size(problem, failures, options.candidates_u)
    if size > MAX_SECURE_VARIABLES:
        raise OptionError(
            f"--secure: the N-1 model needs {size:,} recourse variables (one per failure, "
            f"must-place unit there and option elsewhere), above {MAX_SECURE_VARIABLES:,}; "
            "it is exact and sized for fleets of up to a few thousand units"
        )
    started = time.perf_counter()
    form = build_secure_model(problem, failures, options.candidates_u)
    left = options.time_limit_s - (time.perf_counter() - started)
    options = dataclasses.replace(options, time_limit_s=max(MIN_SOLVE_S, left))
    return solve_milp(problem, options, prices=False, form=form)


__all__ = [
    "MAX_SECURE_VARIABLES",
    "build_secure_model",
    "secure_size",
    "solve_secure",
    "unprotectable",
]
