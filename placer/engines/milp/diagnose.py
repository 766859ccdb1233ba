"""Infeasibility explained in the user's terms, with fixes ranked by what they change.

Layers, cheapest first:
  1. units with no allowed option at all: the mask's reasons, pool by pool (the plan
     says them). A unit excluded only because it is larger than a pool or a site can be
     fixed by capacity: when the caller passes the problem compiled without that rule
     (`sized`), its pairs take part in the elastic solves below; a unit with no option
     even there (residency, latency, accelerator...) can only be dropped, and every fix
     drops it.
  2. capacity fixes, from elastic re-solves of the MILP where every capacity row (2) may
     overflow by a slack z_r >= 0 (an addition of z_r to its capacity):
       "fewest changes": first the fewest rows changed (a binary b_r per row, z_r <= M_r
          b_r, M_r the row's largest possible overflow), then, with that many rows, the
          smallest additions relative to their capacities;
       "smallest additions": min sum_r z_r / max(cap_r, 1) (several small additions may
          beat one large one).
  3. "drop only": keeping capacities as they are, the fewest must-place units to drop (an
     elastic re-solve where must-place becomes optional at a penalty of 1 per unit).
Each fix is minimal for its criterion when its solve ends optimal (`complete`). The
amounts are in the problem's units after headroom; `placer.plan.fixes` turns them into
what a person adds to the scenario (rounded up) and `placer.api` re-solves with each
before it is printed.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

import numpy as np
from ortools.math_opt.python import mathopt

from placer.engines.milp.formulation import build_model
from placer.engines.milp.quiet import quiet_stdout
from placer.errors import SolverError
from placer.problem.form import Problem
from placer.problem.rows import SOFT_LABEL
from placer.problem.usage import term_values

_OPTIMAL = mathopt.TerminationReason.OPTIMAL


@dataclass
class Fix:
    """One way to make the scenario feasible, in Problem terms.

    Attributes:
      label: "fewest changes", "smallest additions" or "drop only".
      additions: (scope, kind, amount) capacity additions, after headroom: scope is the
        row's pool ("gpus") or site (kW, L/h), -1 for the budget and the carbon cap.
      drops: unit indices of must-place units to drop (as optional units).
      complete: the solve that found it ended optimal: minimal for its criterion.
    """

    label: str
    additions: list[tuple[int, str, float]] = field(default_factory=list)
    drops: list[int] = field(default_factory=list)
    complete: bool = True


@dataclass
class Diagnosis:
    """What makes a scenario infeasible, and the fixes found (best first).

    Attributes:
      unplaceable: unit indices with no allowed pool (see the plan's unplaced reasons).
      fixes: the fixes of the module docstring, in that order, without duplicates.
      complete: every solve ended optimal (False: time ran out; fixes may not be minimal).
    """

    unplaceable: list[int] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)
    complete: bool = True

    @property
    def additions(self) -> list[tuple[int, str, float]]:
        """The first capacity fix's additions (what older callers read)."""
        return next((f.additions for f in self.fixes if f.additions), [])

    @property
    def drops(self) -> list[int]:
        """The drop-only fix's drops."""
        return next((f.drops for f in self.fixes if f.label == "drop only"), [])


def diagnose(
    problem: Problem, time_limit_s: float = 30.0, sized: Problem | None = None
) -> Diagnosis:
    """Runs the layers of the module docstring, a third of the time limit each.

    Args:
      problem: the compiled Problem.
      time_limit_s: for all the elastic solves together, s.
      sized: the same units compiled without the "larger than the pool or site" rule
        (same options and more), or None.
    """
    has_option = problem.listed_uk.any(axis=1)
    unplaceable = np.flatnonzero(problem.must_place_u & ~has_option)
    elastic = sized if sized is not None else problem
    stuck = np.flatnonzero(elastic.must_place_u & ~elastic.listed_uk.any(axis=1))
    free = elastic._replace(must_place_u=elastic.must_place_u & elastic.listed_uk.any(axis=1))
    share = time_limit_s / 3
    fixes = [
        _fewest_changes(free, share),
        _smallest_additions(free, share),
        _fewest_drops(problem._replace(must_place_u=problem.must_place_u & has_option), share),
    ]
    out = Diagnosis(unplaceable=unplaceable.tolist())
    for fix in fixes:
        if fix is None:
            out.complete = False
            continue
        out.complete &= fix.complete
        extra = unplaceable if fix.label == "drop only" else stuck
        fix.drops = sorted(set(fix.drops) | set(extra.tolist()))
        if not any(f.additions == fix.additions and f.drops == fix.drops for f in out.fixes):
            out.fixes.append(fix)
    return out


def _params(time_limit_s: float) -> mathopt.SolveParameters:
    return mathopt.SolveParameters(
        time_limit=datetime.timedelta(seconds=max(time_limit_s, 0.5)), relative_gap_tolerance=1e-4
    )


def _solve(model: mathopt.Model, time_limit_s: float) -> mathopt.SolveResult:
    try:
        with quiet_stdout():
            return mathopt.solve(model, mathopt.SolverType.HIGHS, params=_params(time_limit_s))
    except Exception as e:  # MathOpt's own error mapping can raise AttributeError
        raise SolverError(f"the elastic MILP of the infeasibility diagnosis failed: {e}") from None


def _with_slacks(problem: Problem, name: str):
    """The MILP with an addition z_r >= 0 on every capacity row it writes: (formulation,
    [(scope, kind, z, cap, largest overflow M)])."""
    form = build_model(problem, name=name)
    largest = _largest_loads(problem)
    slacks = []
    for (scope, kind, con), top in zip(form.capacity_rows, form.capacity_row_ids, strict=True):
        if kind.endswith(SOFT_LABEL):
            continue  # a soft row (a priced grid event's cap) has its own slack already
        cap = con.upper_bound
        z = form.model.add_variable(lb=0.0, name=f"add[{kind},{scope},{top}]")
        con.set_coefficient(z, -1.0)
        slacks.append((scope, kind, z, max(abs(cap), 1.0), max(largest[top] - cap, 0.0)))
    return form, slacks


def _largest_loads(problem: Problem) -> np.ndarray:
    """float64[R]: what every unit's largest charge to each row sums to (an upper bound of
    any plan's load on it)."""
    u, k = np.nonzero(problem.listed_uk)
    o = problem.option_uk[u, k].astype(np.int64)
    rows, values = problem.row_oj[o], term_values(problem, u, k, o)
    keep = rows >= 0
    # per (unit, row) the largest charge, then summed over units
    pair_key = u[:, None] * (problem.num_rows + 1) + rows
    key, value = pair_key[keep], values[keep]
    if key.size == 0:  # no unit has an option
        return np.zeros(problem.num_rows)
    order = np.lexsort((-value, key))
    first = np.r_[True, key[order][1:] != key[order][:-1]]
    top_key, top_value = key[order][first], value[order][first]
    return np.bincount(
        top_key % (problem.num_rows + 1), weights=top_value, minlength=problem.num_rows
    )[: problem.num_rows]


def _additions(values, slacks) -> list[tuple[int, str, float]]:
    adds = [(s, k, float(values[z])) for s, k, z, _, _ in slacks if values[z] > 1e-6]
    return sorted(adds, key=lambda a: -a[2] / max(1.0, a[2]))


def _smallest_additions(problem: Problem, time_limit_s: float) -> Fix | None:
    """min sum_r z_r / cap_r: the smallest capacity additions, relative to each row."""
    form, slacks = _with_slacks(problem, "smallest_additions")
    form.model.minimize(mathopt.fast_sum(z / cap for _, _, z, cap, _ in slacks))
    result = _solve(form.model, time_limit_s)
    if not result.has_primal_feasible_solution():
        return None
    values = result.variable_values()
    return Fix("smallest additions", _additions(values, slacks), [], _done(result))


def _fewest_changes(problem: Problem, time_limit_s: float) -> Fix | None:
    """The fewest rows changed, then the smallest additions to those many rows."""
    form, slacks = _with_slacks(problem, "fewest_changes")
    model = form.model
    flags = []
    for i, (scope, kind, z, _, top) in enumerate(slacks):  # a scope may have many rows of a kind
        b = model.add_binary_variable(name=f"change[{kind},{scope},{i}]")
        model.add_linear_constraint(z <= top * b)
        flags.append(b)
    changed = mathopt.fast_sum(flags)
    model.minimize(changed)
    first = _solve(model, time_limit_s / 2)
    if not first.has_primal_feasible_solution():
        return None
    count = round(sum(first.variable_values(flags)))
    model.add_linear_constraint(changed <= count, name="fewest")
    model.minimize(mathopt.fast_sum(z / cap for _, _, z, cap, _ in slacks))
    second = _solve(model, time_limit_s / 2)
    result = second if second.has_primal_feasible_solution() else first
    values = result.variable_values()
    return Fix("fewest changes", _additions(values, slacks), [], _done(first) and _done(second))


def _fewest_drops(problem: Problem, time_limit_s: float) -> Fix | None:
    """The fewest must-place units to drop, keeping every capacity."""
    optional = problem._replace(
        must_place_u=np.zeros_like(problem.must_place_u),
        unplaced_usd_per_h_u=np.where(problem.must_place_u, 1.0, 0.0),
        objective_usd_per_h_uk=np.zeros_like(problem.objective_usd_per_h_uk),
        startup=None,  # only drops count
    )
    form = build_model(optional, name="fewest_drops")
    result = _solve(form.model, time_limit_s)
    if not result.has_primal_feasible_solution():
        return None
    values = result.variable_values()
    placed = np.zeros(problem.num_units, dtype=bool)
    for (u, _), x in zip(form.pairs.tolist(), form.x, strict=True):
        if values[x] > 0.5:
            placed[u] = True
    drops = np.nonzero(problem.must_place_u & ~placed)[0].tolist()
    return Fix("drop only", [], drops, _done(result))


def _done(result: mathopt.SolveResult) -> bool:
    return result.termination.reason == _OPTIMAL
