"""The capacity MILP: monthly placement plus build, buy and commit decisions.

Data: the timed Problem of the `superset` scenario (every option bought: its x[u,o] are
every pair any build plan could use), with capacities cap[r] lowered to today's (the
`zeroed` scenario's rows); T months, discount factor d[t] = (1 + rate)^(-t/12) (paid at
the start of month t); H the horizon's hours; per build option k: add[k,r] the capacity
one unit adds to row r (GPUs of its pool, IT / facility / heat kW of its site, in each
month, after headroom), capex C[k] (USD, paid in the order month m - L[k]), monthly lease
+ fixed opex F[k] (USD/month, from arrival on), lead time L[k], max units N[k], M[k]
the months it may arrive in (from its earliest order + L[k], its energisation, its
site's and pool's dates). Cloud commitments c of pool p: g[c] GPUs a unit for term[c]
months at price pc[c] USD/GPU-h; the pool's on-demand price po[p] USD/GPU-h.
Variables: x[u,o] in {0,1} (as `placer.engines.milp.formulation`); b[k,m] in
  {0..N[k]} units arriving in month m in M[k]; I[k,t] >= 0 installed in month t;
  z[p,t] >= 0 committed GPUs of cloud pool p in use in month t.
Model (USD, net present):
  min  sum_uo c[u,o] H dx[o] x[u,o] + sum_u v[u] H du[u] (1 - sum_o x[u,o])
       + sum_km b[k,m] (C[k] d[m - L[k]] + F[k] sum_{t >= m} d[t])
       + sum_cm b[c,m] g[c] pc[c] 730 sum_{t = m}^{m + term[c] - 1} d[t]
       - sum_pt po[p] 730 d[t] z[p,t]                                        (0)
  s.t. (1)-(3) of the placement MILP, with (2) for every finite row r:
       sum a[q,u,o] x[u,o] - sum_k add[k,r] I[k,t(r)] <= cap[r]              (2')
       I[k,t] = I[k,t-1] + b[k,t]   (I[k,-1] = 0),  I[k,T-1] <= N[k]         (4)
       x[u,o] <= I[k,t0(o)]  for a pair only a cooling upgrade k allows      (5)
       z[p,t] <= sum_{pool p, run at t} gpus x;  z[p,t] <= sum_c g[c] sum_{m = t -
       term[c] + 1}^{t} b[c,m]                                               (6)
  dx[o] is the mean of d over the months option o runs; du[u] d of an inference
  unit's month, the horizon's mean d for a training run. Commitments are paid for
  their whole term, past the horizon's end included; capex has no salvage value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ortools.math_opt import model_pb2
from ortools.math_opt.python import mathopt

from placer.capacity import scenarios
from placer.engines.milp.formulation import (
    _add_place_once,
    _add_redundancy,
    _Rows,
    _Terms,
    _to_proto,
    _variables,
)
from placer.model.build_options import MONTH_HOURS, CloudCommit, CoolingBuild, GpuBuild
from placer.model.scenario import Scenario
from placer.problem.compile_static import build_pools
from placer.problem.compile_time import (
    compile_timed,
    static_view,
    timed_pair_reasons,
    timed_rows,
    timed_terms,
)
from placer.problem.form import R_COOLING, R_DENSITY, Index, Problem
from placer.problem.rows import K_FACILITY, K_GPUS, K_HEAT, K_IT, KIND_NAMES, KIND_SCOPE


@dataclass
class CapacityModel:
    """A built capacity model and the handles to read it back.

    Attributes:
      scenario: the monthly scenario (`scenarios.monthly`).
      problem, index: the superset's timed Problem (cap_r: today's capacities).
      model: the MathOpt model.
      pairs: int[N, 2] (unit, option) of x, in variable order (variables 0..N-1).
      build_vars: (option index k, arrival month m, variable) of each b.
      installed_vars: [k][t] the variable I[k,t] (None for cloud commitments).
      discount_t: float64[T], d[t].
      options: the build options, k order.
    """

    scenario: Scenario
    problem: Problem
    index: Index
    model: mathopt.Model
    pairs: np.ndarray
    build_vars: list[tuple[int, int, mathopt.Variable]]
    discount_t: np.ndarray
    options: list
    cost_km: dict[tuple[int, int], tuple[float, float]]
    x_cost_n: np.ndarray


def discount_factors(rate_per_year: float, months: int) -> np.ndarray:
    """float64[months]: (1 + rate)^(-t/12), the value now of 1 USD paid at month t."""
    return (1.0 + rate_per_year) ** (-np.arange(months) / 12.0)


def build_capacity_model(scenario: Scenario) -> CapacityModel:
    """Builds (0)-(6) for a monthly scenario (`scenarios.monthly`)."""
    sup = scenarios.superset(scenario)
    problem, index = compile_timed(sup)
    zero = scenarios.zeroed(scenario)
    problem = _today(problem, index, zero, sup)
    n_t = scenario.horizon.periods
    rate = scenario.planning.discount_rate_per_year if scenario.planning else 0.0
    d_t = discount_factors(rate, n_t + 36)
    options = list(scenario.build_options)
    pairs, slot = _variables(problem)
    u, o = pairs[:, 0], pairs[:, 1]
    rows = _Rows()
    _add_place_once(rows, problem, u)  # (1)
    terms = _Terms(problem, u, o, slot)
    n_x = len(pairs)
    layout = _Layout(n_x)
    months = [_arrival_months(scenario, opt) for opt in options]
    b_col = {
        (k, m): layout.add("b", f"b[{opt.id},{m}]", opt.max_units, True)
        for k, opt in enumerate(options)
        for m in months[k]
    }
    i_col = {
        (k, t): layout.add("I", f"I[{opt.id},{t}]", opt.max_units, False)
        for k, opt in enumerate(options)
        if not isinstance(opt, CloudCommit)
        for t in range(n_t)
    }
    _add_installed(rows, options, n_t, b_col, i_col)  # (4)
    adds = _row_additions(scenario, problem, index, options)
    _add_capacity_rows(rows, problem, terms, adds, i_col)  # (2')
    _add_redundancy(rows, problem, u, o)  # (3)
    _add_cooling_links(rows, scenario, problem, index, options, pairs, i_col)  # (5)
    z_cost = _add_commitments(rows, layout, scenario, problem, index, options, terms, b_col, d_t)
    span_h = scenario.horizon.hours
    dx_o = _option_discount(index, d_t[:n_t])
    du_u = _unit_discount(index, d_t[:n_t])
    value_n = problem.unplaced_usd_per_h_u[u] * span_h * du_u[u]
    x_cost = problem.objective_usd_per_h_uk[u, slot] * span_h * dx_o[o]
    objective = np.zeros(layout.n)
    objective[:n_x] = x_cost - value_n
    cost_km = {}
    for (k, m), col in b_col.items():
        cost_km[(k, m)] = _unit_cost(options[k], m, n_t, d_t)
        objective[col] = sum(cost_km[(k, m)])
    for col, c in z_cost.items():
        objective[col] = c
    const = float((problem.unplaced_usd_per_h_u * span_h * du_u).sum())
    names = [f"x[{a},{b}]" for a, b in pairs.tolist()] + layout.names
    proto = _to_proto("capacity", np.zeros((layout.n, 2), int), True, objective, const, rows, names)
    _set_bounds(proto, n_x, layout)
    model = mathopt.Model.from_model_proto(proto)
    build_vars = [(k, m, model.get_variable(col)) for (k, m), col in b_col.items()]
    return CapacityModel(
        scenario, problem, index, model, pairs, build_vars, d_t[:n_t], options, cost_km, x_cost
    )


class _Layout:
    """Columns after x: names, upper bounds, integrality."""

    def __init__(self, first: int) -> None:
        self.n = first
        self.first = first
        self.names: list[str] = []
        self.ub: list[float] = []
        self.integer: list[bool] = []

    def add(self, kind: str, name: str, ub: float, integer: bool) -> int:
        self.names.append(name)
        self.ub.append(float(ub))
        self.integer.append(integer)
        self.n += 1
        return self.n - 1


def _set_bounds(proto: model_pb2.ModelProto, n_x: int, layout: _Layout) -> None:
    var = proto.variables
    for i, (ub, integer) in enumerate(zip(layout.ub, layout.integer, strict=True)):
        var.upper_bounds[n_x + i] = ub
        var.integers[n_x + i] = integer


def _today(problem: Problem, index: Index, zero: Scenario, sup: Scenario) -> Problem:
    """The superset's problem with today's capacities; a heat row keeps its terms where
    builds may raise the IT row above it (compile drops them where heat >= IT)."""
    horizon = zero.horizon
    pools = build_pools(static_view(zero))
    sites = sorted(static_view(zero).sites, key=lambda s: s.id)
    if [p.name for p, _, _ in pools] != [p.name for p in index.pools]:
        raise AssertionError("superset and zeroed scenarios have different pools")
    cap_r, kind_r, scope_r, _ = timed_rows(zero, horizon, pools, sites)
    assert np.array_equal(kind_r, problem.kind_r) and np.array_equal(scope_r, problem.scope_r)
    built_sites = {o.site for o in zero.build_options}
    explicit = {s.id for s in zero.sites if s.cooling.heat_rejection_kw is not None}
    term_cap = problem.cap_r.copy()
    for s, site in enumerate(index.sites):
        if site in built_sites and site in explicit:
            term_cap[(kind_r == K_HEAT) & (scope_r == s) & np.isfinite(term_cap)] = -1.0
    t = index.time
    site_p = problem.pool_site_p.astype(np.int64)
    row_oj, quantity_oj = timed_terms(
        t.pool_o, t.start_o, t.length_o, site_p, term_cap, len(pools), len(sites), t.periods
    )
    return problem._replace(cap_r=cap_r, row_oj=row_oj, quantity_oj=quantity_oj)


def _arrival_months(scenario: Scenario, option) -> list[int]:
    """M[k]: the months a unit may arrive in."""
    first = scenarios.month_of(scenario, option.earliest) + option.lead_time_months
    site = next(s for s in scenario.sites if s.id == option.site)
    if not isinstance(option, (GpuBuild, CloudCommit)):
        first = max(first, scenarios.month_of(scenario, site.power.available_from))
    energised = getattr(option, "energised", None)
    first = max(first, scenarios.month_of(scenario, energised))
    if isinstance(option, GpuBuild):
        pool = next((p for p in site.pools if p.key == option.pool_key), None)
        if pool is not None:
            first = max(first, scenarios.month_of(scenario, pool.available_from))
    if option.max_units == 0:
        return []
    return list(range(first, scenario.horizon.periods))


def _unit_cost(option, m: int, n_t: int, d_t: np.ndarray) -> tuple[float, float]:
    """(capex, running) net present cost of one unit arriving in month m, USD."""
    capex = option.capex_usd * d_t[m - option.lead_time_months]
    monthly = option.lease_usd_per_month + option.fixed_opex_usd_per_month
    running = monthly * d_t[m:n_t].sum()
    if isinstance(option, CloudCommit):
        term = d_t[m : m + option.term_months].sum()
        running += option.gpus * option.committed_usd_per_gpu_h * MONTH_HOURS * term
    return float(capex), float(running)


def _add_installed(rows: _Rows, options, n_t: int, b_col, i_col) -> None:
    """(4) I[k,t] - I[k,t-1] - b[k,t] = 0."""
    for k, opt in enumerate(options):
        if isinstance(opt, CloudCommit):
            continue
        for t in range(n_t):
            cols = [i_col[(k, t)]]
            vals = [1.0]
            if t > 0:
                cols.append(i_col[(k, t - 1)])
                vals.append(-1.0)
            if (k, t) in b_col:
                cols.append(b_col[(k, t)])
                vals.append(-1.0)
            rows.add(f"installed[{opt.id},{t}]", np.array(cols), np.array(vals), 0.0, 0.0)


def _row_additions(scenario: Scenario, problem: Problem, index: Index, options):
    """{row r: [(k, amount per unit)]}: the capacity one unit of option k adds to row r
    (after headroom), for every month."""
    head = scenario.objective.max_utilization
    period_r = index.time.period_r
    where = {
        (int(kd), int(sc), int(t)): r
        for r, (kd, sc, t) in enumerate(
            zip(problem.kind_r.tolist(), problem.scope_r.tolist(), period_r.tolist(), strict=True)
        )
    }
    pool_of = {(p.site, p.key): i for i, p in enumerate(index.pools)}
    site_of = {s: i for i, s in enumerate(index.sites)}
    explicit = {s.id for s in scenario.sites if s.cooling.heat_rejection_kw is not None}
    adds: dict[int, list[tuple[int, float]]] = {}
    for k, opt in enumerate(options):
        if isinstance(opt, CloudCommit):
            continue
        if isinstance(opt, GpuBuild):
            parts = [(K_GPUS, pool_of[(opt.site, opt.pool_key)], float(opt.gpus))]
        elif isinstance(opt, CoolingBuild):
            parts = [(K_HEAT, site_of[opt.site], opt.heat_rejection_kw)]
        else:
            s = site_of[opt.site]
            parts = [(K_IT, s, opt.it_kw), (K_FACILITY, s, opt.grid_kw)]
            if opt.site not in explicit:
                parts.append((K_HEAT, s, opt.it_kw))  # the heat cap follows the IT power
        for kind, scope, amount in parts:
            if amount <= 0:
                continue
            for t in range(index.time.periods):
                r = where[(kind, scope, t)]
                if math.isfinite(problem.cap_r[r]):
                    adds.setdefault(r, []).append((k, amount * head))
    return adds


def _add_capacity_rows(rows: _Rows, problem: Problem, terms: _Terms, adds, i_col) -> None:
    """(2'): every finite pool and site row that can bind, then the global rows."""
    period_r = problem_period(problem)
    scoped = np.flatnonzero(KIND_SCOPE[problem.kind_r] < 2)
    glob = np.flatnonzero(KIND_SCOPE[problem.kind_r] == 2)
    for r in [*scoped.tolist(), *glob.tolist()]:
        cap = float(problem.cap_r[r])
        if not math.isfinite(cap):
            continue
        cols, coef, _ = terms.of(r)
        extra = adds.get(r, [])
        if cols.size == 0 or coef.sum() <= cap:
            continue  # it cannot bind even with nothing built
        t = int(period_r[r])
        b_cols = [i_col[(k, t)] for k, _ in extra]
        b_vals = [-a for _, a in extra]
        kind = KIND_NAMES[problem.kind_r[r]]
        rows.add(
            f"{kind}[{int(problem.scope_r[r])}]#{r}",
            np.concatenate([cols, np.array(b_cols, np.int64)]),
            np.concatenate([coef, np.array(b_vals, float)]),
            -math.inf,
            cap,
            tag=(int(problem.scope_r[r]), kind, r),
        )


def problem_period(problem: Problem) -> np.ndarray:
    """int[R]: the month of each row (rows repeat per month, P + 4 S a block; the global
    rows last: -1)."""
    block = problem.num_pools + 4 * problem.num_sites
    period = np.arange(problem.num_rows) // block
    period[KIND_SCOPE[problem.kind_r] == 2] = -1
    return period


def _add_cooling_links(rows: _Rows, scenario, problem, index, options, pairs, i_col) -> None:
    """(5): a pair at a site that only its cooling upgrade allows runs once it is in."""
    cooled = {opt.site: k for k, opt in enumerate(options) if isinstance(opt, CoolingBuild)}
    if not cooled:
        return
    units = list(range(problem.num_units))
    bits = timed_pair_reasons(scenarios.zeroed(scenario), units)  # [U, P]
    site_p = [p.site for p in index.pools]
    start_o = index.time.start_o
    for n, (u, o) in enumerate(pairs.tolist()):
        p = int(problem.pool_o[o])
        k = cooled.get(site_p[p])
        if k is None or not bits[u, p] & (R_COOLING | R_DENSITY):
            continue
        t0 = int(start_o[o])
        rows.add(
            f"cooling[{n}]", np.array([n, i_col[(k, t0)]]), np.array([1.0, -1.0]), -math.inf, 0.0
        )


def _add_commitments(rows, layout, scenario, problem, index, options, terms, b_col, d_t):
    """(6): z[p,t] for each committed pool and month; returns {z column: objective}."""
    by_pool: dict[int, list[int]] = {}
    pool_of = {(p.site, p.key): i for i, p in enumerate(index.pools)}
    for k, opt in enumerate(options):
        if isinstance(opt, CloudCommit):
            by_pool.setdefault(pool_of[(opt.site, opt.pool)], []).append(k)
    if not by_pool:
        return {}
    costs = {}
    pools = {(s.id, p.key): p for s in scenario.sites for p in s.pools}
    period_r = index.time.period_r
    for p, ks in by_pool.items():
        info = index.pools[p]
        price = pools[(info.site, info.key)].cost_usd_per_gpu_h
        for t in range(index.time.periods):
            r = int(
                np.flatnonzero(
                    (problem.kind_r == K_GPUS) & (problem.scope_r == p) & (period_r == t)
                )[0]
            )
            z = layout.add("z", f"z[{info.name},{t}]", math.inf, False)
            costs[z] = -price * MONTH_HOURS * float(d_t[t])
            cols, coef, _ = terms.of(r)
            rows.add(
                f"z_use[{p},{t}]",
                np.concatenate([[z], cols]),
                np.concatenate([[1.0], -coef]),
                -math.inf,
                0.0,
            )
            c_cols, c_vals = [z], [1.0]
            for k in ks:
                opt = options[k]
                for m in range(max(0, t - opt.term_months + 1), t + 1):
                    if (k, m) in b_col:
                        c_cols.append(b_col[(k, m)])
                        c_vals.append(-float(opt.gpus))
            rows.add(f"z_commit[{p},{t}]", np.array(c_cols), np.array(c_vals), -math.inf, 0.0)
    return costs


def _option_discount(index: Index, d_t: np.ndarray) -> np.ndarray:
    """float64[O]: the mean discount factor over the months each option runs."""
    t = index.time
    cum = np.concatenate([[0.0], np.cumsum(d_t)])
    end = np.minimum(t.start_o + t.length_o, len(d_t))
    return (cum[end] - cum[t.start_o]) / np.maximum(end - t.start_o, 1)


def _unit_discount(index: Index, d_t: np.ndarray) -> np.ndarray:
    """float64[U]: an inference unit's month's factor; the mean for a training run."""
    return np.array([d_t[u.period] if u.period >= 0 else d_t.mean() for u in index.units])


__all__ = ["CapacityModel", "build_capacity_model", "discount_factors"]
