"""Where the gap of a generated timed fleet lies: the LP, a stronger bound, the plan.

The issue-14 targets (a certified 1% at 10,000 x 100 x 72, 0.1% at 1,000 x 50 x 168)
are held back by a gap between the time-indexed LP bound and the best plans. This probe
measures, on one `placer.model.generate_time` fleet:

1. the LP relaxation of the placement MILP (GLOP), its fractional training runs and
   the capacity rows it prices (by kind);
2. a site-decomposed Lagrangian bound: the place-once rows dualised at the LP's prices
   (mu[u] = max(0, v[u] - the unit's cheapest option priced at the LP's row duals)),
   each site's own problem (its pools' GPUs and its kW and water rows per period, its
   units' options there) solved as a MILP; sum_u v[u] - sum_u mu[u] + sum_s (site s's
   least reduced cost) bounds the optimum, using the larger of each site's LP and its
   MILP's proven bound (a MILP stopped early may prove less than its LP). It is
   at least the LP (each site's MILP at least its LP) and is the bound a column
   generation over site schedules would reach at these prices;
3. optionally a plan (`--plan-s`: the hybrid with 2 workers) and how its objective
   splits between training runs and service units against the LP's;
4. optionally (`--cover-rounds N`) the LP strengthened by minimal cover inequalities:
   for a hard capacity row r and a set C of units that cannot all charge r at once
   (the sum over C of each unit's smallest charge to r over all its options exceeds
   cap_r), sum over u in C of y[u, r] <= |C| - 1, where y[u, r] sums u's variables whose
   option charges r (at most 1: u is placed once). Each round separates, on every row
   the LP fills, the cover a greedy picks (units by (1 - y) / charge), keeps it where
   the LP breaks it, and solves the LP again (HiGHS) with every cut so far. Valid for
   every plan, so each round's LP is a bound.

One JSON object per line on stdout (the measures), progress on stderr.

Usage: python scripts/probe_time_gap.py [--units 1000] [--pools 50] [--periods 72]
         [--seed 1] [--site-s 30] [--backend cpsat|highs] [--plan-s 0] [--cover-rounds 0]
(`--site-s 0` skips the site-decomposed bound.)
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time

import numpy as np
from ortools.math_opt.python import mathopt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--pools", type=int, default=50)
    parser.add_argument("--periods", type=int, default=72)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--site-s", type=float, default=30.0, help="limit per site MILP, s")
    parser.add_argument("--backend", choices=("cpsat", "highs"), default="cpsat")
    parser.add_argument("--plan-s", type=float, default=0.0, help="hybrid plan, s (0: none)")
    parser.add_argument(
        "--cover-rounds", type=int, default=0, help="rounds of cover inequalities (0: none)"
    )
    args = parser.parse_args()

    from placer.engines.milp.formulation import build_model
    from placer.model.generate_time import generate_timed_scenario
    from placer.problem.compile import compile_problem

    name = f"gen-time-{args.units}x{args.pools}x{args.periods}-s{args.seed}"
    scenario = generate_timed_scenario(args.units, args.pools, args.periods, args.seed)
    problem, index = compile_problem(scenario)
    started = time.perf_counter()
    form = build_model(problem, integer=False)
    lp = mathopt.solve(form.model, mathopt.SolverType.GLOP)
    lp_value = lp.objective_value()
    x = np.array([lp.variable_values()[v] for v in form.x])
    y = np.zeros(problem.num_rows)
    priced_rows: dict[str, int] = {}
    for (_, kind, con), r in zip(form.capacity_rows, form.capacity_row_ids, strict=True):
        y[r] = max(0.0, -lp.dual_values()[con])  # a <= row of a min problem: dual <= 0
        if y[r] > 1e-9:
            priced_rows[kind] = priced_rows.get(kind, 0) + 1
    train = np.array([u.kind == "training" for u in index.units])
    units = form.pairs[:, 0]
    fractional = np.unique(units[(x > 1e-6) & (x < 1 - 1e-6)])
    emit(
        {
            "probe": "time_gap",
            "instance": name,
            "stage": "lp",
            "lp_usd_per_h": round(lp_value, 4),
            "lp_s": round(time.perf_counter() - started, 1),
            "pairs": len(form.x),
            "training_runs": int(train.sum()),
            "fractional_runs": int(train[fractional].sum()),
            "priced_rows": priced_rows,
        }
    )
    if args.cover_rounds > 0:
        cover_rounds(problem, form, x, args.cover_rounds, name)
    if args.site_s <= 0:
        if args.plan_s > 0:
            emit(plan_split(problem, index, form, x, lp_value, args.plan_s, name))
        return
    mu = place_once_prices(problem, y)
    bound, sites = site_bound(problem, index, mu, args.site_s, args.backend)
    emit(
        {
            "probe": "time_gap",
            "instance": name,
            "stage": "site_lagrangian",
            "backend": args.backend,
            "site_s": args.site_s,
            "lp_usd_per_h": round(lp_value, 4),
            "bound_usd_per_h": round(bound, 4),
            "bound_over_lp_pct": round(100 * (bound - lp_value) / lp_value, 4),
            "sites": sites,
        }
    )
    if args.plan_s > 0:
        emit(plan_split(problem, index, form, x, lp_value, args.plan_s, name))


def cover_rounds(problem, lp_form, x: np.ndarray, rounds: int, name: str) -> None:
    """Stage 4 of the module docstring: one line per round."""
    from placer.engines.milp.formulation import build_model

    cuts: list = []
    form = lp_form
    for round_ in range(1, rounds + 1):
        new = separated_covers(problem, form, x, len(cuts))
        if not new:
            break
        cuts += new
        started = time.perf_counter()
        form = build_model(problem, integer=False, side_rows=tuple(cuts))
        lp = mathopt.solve(form.model, mathopt.SolverType.HIGHS)
        x = np.array([lp.variable_values()[v] for v in form.x])
        emit(
            {
                "probe": "time_gap",
                "instance": name,
                "stage": "cover_cuts",
                "round": round_,
                "cuts": len(cuts),
                "lp_usd_per_h": round(lp.objective_value(), 4),
                "lp_s": round(time.perf_counter() - started, 1),
            }
        )


def separated_covers(problem, form, x: np.ndarray, first: int) -> list:
    """The cover inequalities (SideRows, stage 4) the LP solution x (over form's pairs,
    every allowed pair) breaks, at most one per row (`placer.engines.relax.covers`);
    named from `first` on."""
    from placer.engines.milp.formulation import SideRow
    from placer.engines.relax.covers import Covers, separate

    on = x > 1e-9
    covers = Covers()
    units, slots = form.pairs[on, 0].astype(np.int64), form.slots[on].astype(np.int64)
    separate(problem, covers, units, slots, x[on])
    unit, slot, cover = covers.terms()
    return [
        SideRow(
            f"cover[{first + c}]",
            unit[cover == c],
            slot[cover == c],
            np.ones(int((cover == c).sum())),
            ub=covers.rhs_c[c],
        )
        for c in range(len(covers))
    ]


def place_once_prices(problem, y: np.ndarray) -> np.ndarray:
    """float64[U]: mu[u] = max(0, v[u] - min over u's options of (objective + y . what
    it charges)), the LP price of u's place-once row at row duals y."""
    from placer.problem.usage import term_values

    units, slots = np.nonzero(problem.listed_uk)
    options = problem.option_uk[units, slots].astype(np.int64)
    rows = problem.row_oj[options]
    charged = np.where(rows >= 0, term_values(problem, units, slots, options), 0.0)
    priced = np.full(problem.listed_uk.shape, np.inf)
    priced[units, slots] = problem.objective_usd_per_h_uk[units, slots] + (
        charged * y[np.maximum(rows, 0)]
    ).sum(axis=1)
    mu = problem.unplaced_usd_per_h_u - priced.min(axis=1, initial=np.inf)
    return np.where(problem.must_place_u, mu, np.maximum(mu, 0.0))


def site_bound(problem, index, mu: np.ndarray, limit_s: float, backend: str):
    """(the site-decomposed Lagrangian bound at place-once prices mu, per site where the
    MILP is above its LP: its LP, its MILP bound and plan)."""
    from placer.engines.milp.formulation import build_model

    c, v = problem.objective_usd_per_h_uk, problem.unplaced_usd_per_h_u
    site_o = problem.site_o
    total = float(v.sum() - mu.sum())
    out = []
    solver = {"cpsat": mathopt.SolverType.CP_SAT, "highs": mathopt.SolverType.HIGHS}[backend]
    for s in range(problem.num_sites):
        cands, any_option = [], False
        for u in range(problem.num_units):
            options, slots = problem.options_of(u)
            keep = options[(site_o[options] == s) & (c[u, slots] - v[u] + mu[u] < -1e-9)]
            cands.append(tuple(int(o) for o in keep))
            any_option |= keep.size > 0
        if not any_option:
            continue  # every option there has a reduced cost >= 0: the site adds 0
        values = []
        for integer in (False, True):
            form = build_model(problem, candidates_u=tuple(cands), integer=integer)
            for n, var in enumerate(form.x):
                coef = form.model.objective.get_linear_coefficient(var)
                form.model.objective.set_linear_coefficient(var, coef + mu[form.pairs[n, 0]])
            params = mathopt.SolveParameters(
                time_limit=datetime.timedelta(seconds=limit_s),
                relative_gap_tolerance=1e-6,
                threads=2,
            )
            kind = solver if integer else mathopt.SolverType.GLOP
            result = mathopt.solve(form.model, kind, params=params)
            low = result.best_objective_bound() if integer else result.objective_value()
            values.append(low - form.objective_const)
            if integer:
                values.append(result.objective_value() - form.objective_const)
        lp_s, bound_s, plan_s = values
        bound_s = max(lp_s, bound_s)  # a MILP stopped early may prove less than its LP
        total += bound_s
        if bound_s > lp_s + 1e-6:
            out.append(
                {
                    "site": index.sites[s],
                    "lp": round(lp_s, 4),
                    "bound": round(bound_s, 4),
                    "plan": round(plan_s, 4),
                }
            )
        print(f"site {index.sites[s]}: LP {lp_s:.3f}, MILP bound {bound_s:.3f}", file=sys.stderr)
    return total, out


def plan_split(problem, index, form, x: np.ndarray, lp_value: float, seconds: float, name):
    """The hybrid's plan (2 workers, `seconds`) and its objective by kind of unit, beside
    the LP's."""
    from placer.engines.base import SolveOptions
    from placer.engines.search.hybrid import solve_hybrid

    result = solve_hybrid(problem, SolveOptions(time_limit_s=seconds, workers=2))
    c, v = problem.objective_usd_per_h_uk, problem.unplaced_usd_per_h_u
    lp_u = v.copy()
    u = form.pairs[:, 0]
    np.add.at(lp_u, u, x * (c[u, form.slots] - v[u]))
    assign = np.asarray(result.assign_u)
    slot = problem.slot_of(assign)
    plan_u = np.where(assign >= 0, c[np.arange(problem.num_units), np.maximum(slot, 0)], v)
    train = np.array([x.kind == "training" for x in index.units])
    return {
        "probe": "time_gap",
        "instance": name,
        "stage": "plan",
        "plan_s": seconds,
        "plan_usd_per_h": round(float(result.objective_usd_per_h), 4),
        "bound_usd_per_h": result.bound_usd_per_h,
        "plan_over_lp_pct": round(100 * (result.objective_usd_per_h - lp_value) / lp_value, 4),
        "training_plan_usd_per_h": round(float(plan_u[train].sum()), 4),
        "training_lp_usd_per_h": round(float(lp_u[train].sum()), 4),
        "services_plan_usd_per_h": round(float(plan_u[~train].sum()), 4),
        "services_lp_usd_per_h": round(float(lp_u[~train].sum()), 4),
    }


def emit(line: dict) -> None:
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
