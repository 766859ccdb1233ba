"""Infeasibility explained in the user's terms.

Three layers, cheapest first:
  1. units with no allowed pool at all: the mask's reasons, pool by pool;
  2. capacity conflicts: an elastic re-solve of the MILP where every capacity row
     (2) may overflow by a slack s_r >= 0 at a penalty of s_r / cap_r
     (relative size), so the answer is the smallest set of additions that makes the
     scenario feasible ("fra-onprem needs 340 kW more IT power");
  3. or, keeping capacities as they are: the fewest must-place units to drop (an
     elastic re-solve where must-place becomes optional at a penalty of 1 per unit).
Units with no allowed pool (layer 1) are left out of layers 2 and 3: no capacity fixes
them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

import numpy as np
from ortools.math_opt.python import mathopt

from placer.engines.milp.formulation import build_model
from placer.engines.milp.quiet import quiet_stdout
from placer.problem.form import Problem


@dataclass
class Diagnosis:
    """What makes a scenario infeasible, and the smallest fixes found.

    Attributes:
      unplaceable: unit indices with no allowed pool (see the plan's unplaced reasons).
      additions: (scope, kind, amount) capacity additions that restore feasibility;
        scope is the row's pool ("gpus") or site (kW, L/h), -1 for the budget and the
        carbon cap.
      drops: unit indices of must-place units whose removal restores feasibility.
      complete: both elastic solves finished (False: time ran out; lists may be partial).
    """

    unplaceable: list[int] = field(default_factory=list)
    additions: list[tuple[int, str, float]] = field(default_factory=list)
    drops: list[int] = field(default_factory=list)
    complete: bool = True


def diagnose(problem: Problem, time_limit_s: float = 30.0) -> Diagnosis:
    """Runs the three layers of the module docstring."""
    has_option = problem.listed_uk.any(axis=1)
    unplaceable = np.nonzero(problem.must_place_u & ~has_option)[0]
    relaxed = problem._replace(must_place_u=problem.must_place_u & has_option)
    out = Diagnosis(unplaceable=unplaceable.tolist())
    additions, done_a = _elastic_capacities(relaxed, time_limit_s / 2)
    drops, done_d = _fewest_drops(relaxed, time_limit_s / 2)
    out.additions, out.drops, out.complete = additions, drops, done_a and done_d
    return out


def _params(time_limit_s: float) -> mathopt.SolveParameters:
    return mathopt.SolveParameters(
        time_limit=datetime.timedelta(seconds=time_limit_s), relative_gap_tolerance=1e-4
    )


def _elastic_capacities(problem: Problem, time_limit_s: float):
    form = build_model(problem, name="elastic_capacities")
    slacks = []
    for index, resource, con in form.capacity_rows:
        cap = max(abs(con.upper_bound), 1.0)
        z = form.model.add_variable(lb=0.0, name=f"add[{resource},{index}]")
        con.set_coefficient(z, -1.0)
        slacks.append((index, resource, z, cap))
    # Tiny weight on the real objective: among equally small fixes, the cheaper plan.
    form.model.minimize(mathopt.fast_sum(z / cap for _, _, z, cap in slacks))
    with quiet_stdout():
        result = mathopt.solve(form.model, mathopt.SolverType.HIGHS, params=_params(time_limit_s))
    if not result.has_primal_feasible_solution():
        return [], False
    values = result.variable_values()
    adds = [(i, r, float(values[z])) for i, r, z, _ in slacks if values[z] > 1e-6]
    done = result.termination.reason == mathopt.TerminationReason.OPTIMAL
    return sorted(adds, key=lambda a: -a[2] / max(1.0, a[2])), done


def _fewest_drops(problem: Problem, time_limit_s: float):
    optional = problem._replace(
        must_place_u=np.zeros_like(problem.must_place_u),
        unplaced_usd_per_h_u=np.where(problem.must_place_u, 1.0, 0.0),
        objective_usd_per_h_uk=np.zeros_like(problem.objective_usd_per_h_uk),
    )
    form = build_model(optional, name="fewest_drops")
    with quiet_stdout():
        result = mathopt.solve(form.model, mathopt.SolverType.HIGHS, params=_params(time_limit_s))
    if not result.has_primal_feasible_solution():
        return [], False
    values = result.variable_values()
    placed = np.zeros(problem.num_units, dtype=bool)
    for (u, _), x in zip(form.pairs.tolist(), form.x, strict=True):
        if values[x] > 0.5:
            placed[u] = True
    drops = np.nonzero(problem.must_place_u & ~placed)[0].tolist()
    done = result.termination.reason == mathopt.TerminationReason.OPTIMAL
    return drops, done
