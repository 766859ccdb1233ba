"""The capacity MILP: monthly placement plus build, buy and commit decisions.

Data: the timed Problem of the `superset` scenario (every option bought: its x[u,o] are
every pair any build plan could use), with capacities cap[r] lowered to today's (the
`zeroed` scenario's rows); T months, discount factor d[t] = (1 + rate)^(-t/12) (paid at
the start of month t); H the horizon's hours; per build option k: add[k,r] the capacity
one unit adds to row r (GPUs of its pool, IT / facility / heat kW of its site, in each
month, after headroom), capex C[k] (USD, paid in the order month m), monthly lease
+ fixed opex F[k] (USD/month, from arrival on), lead time L[k], max units N[k], M[k]
the months it may be ordered in (from its earliest order to the last whose arrival falls
in the horizon, never so early that it would arrive before its energisation, its site's
or pool's dates), D[k] its delay (0 but in a scenario of a two-stage plan, see
`placer.capacity.twostage`): a unit ordered in m arrives in a(k,m) = m + L[k] + D[k]
(possibly after the horizon). Cloud commitments c of pool p: g[c] GPUs a unit for term[c]
months at price pc[c] USD/GPU-h; the pool's on-demand price po[p] USD/GPU-h.
Variables: x[u,o] in {0,1} (as `placer.engines.milp.formulation`); b[k,m] in
  {0..N[k]} units ordered in month m in M[k]; I[k,t] >= 0 installed in month t;
  z[p,t] >= 0 committed GPUs of cloud pool p in use in month t.
Model (USD, net present):
  min  sum_uo c[u,o] H dx[o] x[u,o] + sum_u v[u] H du[u] (1 - sum_o x[u,o])
       + sum_km b[k,m] (C[k] d[m] + F[k] sum_{a(k,m) <= t < T} d[t])
       + sum_cm b[c,m] g[c] pc[c] 730 sum_{t = a}^{a + term[c] - 1} d[t]
       - sum_pt po[p] 730 d[t] z[p,t]                                        (0)
  s.t. (1)-(3) of the placement MILP, with (2) for every finite row r:
       sum a[q,u,o] x[u,o] - sum_k add[k,r] I[k,t(r)] <= cap[r]              (2')
       I[k,t] = I[k,t-1] + sum_{m: a(k,m) = t} b[k,m]   (I[k,-1] = 0),
       I[k,T-1] <= N[k], and sum_m b[k,m] <= N[k] where an order may arrive
       after the horizon                                                     (4)
       x[u,o] <= I[k,t0(o)]  for a pair only a cooling upgrade k allows      (5)
       z[p,t] <= sum_{pool p, run at t} gpus x;  z[p,t] <= sum_c g[c]
       sum_{m: t - term[c] < a(c,m) <= t} b[c,m]                             (6)
       I[k,t] <= N[k] I[s,t]  for an option k at a new site s (kind: site)    (7)
  dx[o] is the mean of d over the months option o runs; du[u] d of an inference
  unit's month, the horizon's mean d for a training run. Commitments are paid for
  their whole term, past the horizon's end included; capex has no salvage value.
  A new site s (a `site` option, N[s] = 1) is in the superset and today's rows with its
  power from its energised month and pools of 0 GPUs: nothing runs there but the GPUs
  of options at it, which (7) zeroes until the site is installed; it adds no row
  capacity of its own, only its capex, lease and opex. Options at it arrive no earlier
  than the site can. Ordering earlier than a(k,m) requires is never cheaper, so with
  D = 0 the order month is the arrival month less the lead time, as a planner reads it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
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
from placer.errors import ScenarioError
from placer.model.build_options import (
    MONTH_HOURS,
    CloudCommit,
    CoolingBuild,
    GpuBuild,
    SiteBuild,
)
from placer.model.scenario import Scenario
from placer.problem.compile_static import build_pools
from placer.problem.compile_time import (
    compile_timed,
    static_view,
    term_scales,
    timed_pair_reasons,
    timed_rows,
    timed_terms,
)
from placer.problem.form import R_COOLING, R_DENSITY, Index, Problem
from placer.problem.rows import K_FACILITY, K_GPUS, K_HEAT, K_IT, KIND_NAMES, KIND_SCOPE
from placer.problem.water_days import water_days


@dataclass
class CapacityModel:
    """A built capacity model (or one scenario's block of a two-stage model) and the
    handles to read it back. Columns index the whole model's variables.

    Attributes:
      scenario: the monthly scenario of this block (`scenarios.monthly`, with a planning
        scenario's changes applied in a two-stage model).
      problem, index: the superset's timed Problem (cap_r: today's capacities).
      model: the MathOpt model (the whole model: every block shares it).
      pairs: int[N, 2] (unit, option) of x; x_cols: int[N] their columns.
      build_cols: (option index k, order month m, column) of each b.
      arrival_km: (k, order month) -> arrival month (>= T: after the horizon's end).
      z_cols: (cloud pool "site/pool", month) -> column of z.
      discount_t: float64[T], d[t].
      options: the build options, k order.
      cost_km: (k, order month) -> (capex, running) net present cost of one unit, USD.
      x_cost_n: float64[N], placement cost of each x, USD (net present).
      obj_cols, obj_vals, const: this block's own objective (unweighted), USD: its cost
        is obj_vals . values[obj_cols] + const.
      name, probability: the planning scenario ("" and 1 for a single model).
    """

    scenario: Scenario
    problem: Problem
    index: Index
    model: mathopt.Model
    pairs: np.ndarray
    x_cols: np.ndarray
    build_cols: list[tuple[int, int, int]]
    arrival_km: dict[tuple[int, int], int]
    z_cols: dict[tuple[str, int], int]
    discount_t: np.ndarray
    options: list
    cost_km: dict[tuple[int, int], tuple[float, float]]
    x_cost_n: np.ndarray
    obj_cols: np.ndarray
    obj_vals: np.ndarray
    const: float
    name: str = ""
    probability: float = 1.0

    def cost_of(self, values: np.ndarray) -> float:
        """This block's net present cost for a vector of all variable values, USD."""
        return float(self.obj_vals @ values[self.obj_cols] + self.const)


@dataclass
class _Block:
    """One scenario's model in local columns (x first, then b, I, z), before stacking."""

    scenario: Scenario
    problem: Problem
    index: Index
    pairs: np.ndarray
    rows: _Rows
    layout: _Layout
    objective: np.ndarray
    const: float
    b_col: dict[tuple[int, int], int]
    arrival_km: dict[tuple[int, int], int]
    z_col: dict[tuple[str, int], int]
    discount_t: np.ndarray
    options: list
    cost_km: dict[tuple[int, int], tuple[float, float]]
    x_cost: np.ndarray


def discount_factors(rate_per_year: float, months: int) -> np.ndarray:
    """float64[months]: (1 + rate)^(-t/12), the value now of 1 USD paid at month t."""
    return (1.0 + rate_per_year) ** (-np.arange(months) / 12.0)


def order_months(scenario: Scenario, option) -> list[int]:
    """The months a unit of an option may be ordered in: from the first order that can
    arrive (earliest, energisation, the site's and pool's dates, less the lead time) to
    the last whose arrival falls inside the horizon."""
    lead = option.lead_time_months
    return [m - lead for m in _arrival_months(scenario, option)]


def build_capacity_model(scenario: Scenario) -> CapacityModel:
    """Builds (0)-(6) for a monthly scenario (`scenarios.monthly`)."""
    block = _build_block(scenario, {}, [order_months(scenario, o) for o in scenario.build_options])
    model, cols = _stack([block], [1.0], set())
    return _view(block, model, cols[0], "", 1.0)


def build_stacked_model(
    blocks: list[_Block], weights: list[float], shared: set[tuple[int, int]], names: list[str]
) -> list[CapacityModel]:
    """One model of several scenario blocks: the objective is the weighted sum of theirs,
    the b[k,m] in `shared` are one variable for every block (non-anticipativity); one
    CapacityModel view per block, all on the same MathOpt model."""
    model, cols = _stack(blocks, weights, shared)
    return [
        _view(b, model, c, n, w) for b, c, n, w in zip(blocks, cols, names, weights, strict=True)
    ]


def build_block(scenario: Scenario, delay_k: dict[int, int], months_k: list[list[int]]) -> _Block:
    """One scenario's block (for `build_stacked_model`): options ordered in `months_k`
    (the same months in every block), option k arriving `delay_k[k]` months late."""
    return _build_block(scenario, delay_k, months_k)


def _build_block(scenario: Scenario, delay_k: dict[int, int], months_k: list[list[int]]) -> _Block:
    """(0)-(6) of one scenario in local columns."""
    _refuse_priced_events(scenario)
    sup = scenarios.superset(scenario)
    problem, index = compile_timed(sup)
    zero = scenarios.zeroed(scenario)
    problem = _today(problem, index, zero, sup)
    n_t = scenario.horizon.periods
    rate = scenario.planning.discount_rate_per_year if scenario.planning else 0.0
    d_t = discount_factors(rate, n_t + 36 + MAX_DELAY_PAD)
    options = list(scenario.build_options)
    pairs, slot = _variables(problem)
    u, o = pairs[:, 0], pairs[:, 1]
    rows = _Rows()
    _add_place_once(rows, problem, u)  # (1)
    terms = _Terms(problem, u, o, slot)
    n_x = len(pairs)
    layout = _Layout(n_x)
    b_col, arrival = {}, {}
    for k, opt in enumerate(options):
        for m in months_k[k]:
            b_col[(k, m)] = layout.add("b", f"b[{opt.id},{m}]", opt.max_units, True)
            arrival[(k, m)] = m + opt.lead_time_months + delay_k.get(k, 0)
    i_col = {
        (k, t): layout.add("I", f"I[{opt.id},{t}]", opt.max_units, False)
        for k, opt in enumerate(options)
        if not isinstance(opt, CloudCommit)
        for t in range(n_t)
    }
    _add_installed(rows, options, n_t, b_col, i_col, arrival)  # (4)
    _add_site_links(rows, options, n_t, i_col)  # (7)
    adds = _row_additions(scenario, problem, index, options)
    _add_capacity_rows(rows, problem, terms, adds, i_col)  # (2')
    _add_redundancy(rows, problem, u, o)  # (3)
    _add_cooling_links(rows, scenario, problem, index, options, pairs, i_col)  # (5)
    z_cost, z_col = _add_commitments(
        rows, layout, scenario, problem, index, options, terms, b_col, arrival, d_t
    )
    span_h = scenario.horizon.hours
    dx_o = _option_discount(index, d_t[:n_t])
    du_u = _unit_discount(index, d_t[:n_t])
    value_n = problem.unplaced_usd_per_h_u[u] * span_h * du_u[u]
    x_cost = problem.objective_usd_per_h_uk[u, slot] * span_h * dx_o[o]
    objective = np.zeros(layout.n)
    objective[:n_x] = x_cost - value_n
    cost_km = {}
    for (k, m), col in b_col.items():
        cost_km[(k, m)] = _unit_cost(options[k], m, arrival[(k, m)], n_t, d_t)
        objective[col] = sum(cost_km[(k, m)])
    for col, c in z_cost.items():
        objective[col] = c
    const = float((problem.unplaced_usd_per_h_u * span_h * du_u).sum())
    return _Block(
        scenario, problem, index, pairs, rows, layout, objective, const, b_col, arrival,
        z_col, d_t[:n_t], options, cost_km, x_cost,
    )  # fmt: skip


def _refuse_priced_events(scenario: Scenario) -> None:
    """Grid events priced per kWh (soft caps) are not in this model yet.

    Raises:
      ScenarioError: naming the first such event's price."""
    for i, site in enumerate(scenario.sites):
        for j, event in enumerate(site.grid_events):
            if event.priced:
                raise ScenarioError(
                    f"sites.{i}.grid_events.{j}.over_limit_usd_per_kwh: plan-capacity does not "
                    "price the energy above a grid event's cap yet; leave the price out (the "
                    "event is then a hard limit) or plan with `placer solve`"
                )
    for name in ("budget_usd_per_period_h", "carbon_cap_kg_per_period_h"):
        if getattr(scenario.objective, name) is not None:
            raise ScenarioError(
                f"objective.{name}: plan-capacity does not hold caps per period yet; leave "
                "it out or plan with `placer solve`"
            )


#: Extra months of discount factors for arrivals a delay pushes past the horizon.
MAX_DELAY_PAD = 600


def _stack(
    blocks: list[_Block], weights: list[float], shared: set[tuple[int, int]]
) -> tuple[mathopt.Model, list[np.ndarray]]:
    """The blocks as one model; returns it and each block's local -> global columns.
    Every b[k,m] of the first block is shared when there is one block."""
    ub: list[float] = []
    integer: list[bool] = []
    names: list[str] = []
    shared_col: dict[tuple[int, int], int] = {}
    first = blocks[0]
    for key in sorted(shared):
        shared_col[key] = len(ub)
        col = first.b_col[key]
        ub.append(first.layout.ub[col - first.layout.first])
        integer.append(True)
        names.append(first.layout.names[col - first.layout.first])
    maps = []
    for i, block in enumerate(blocks):
        n_x, lay = len(block.pairs), block.layout
        col_map = np.empty(lay.n, np.int64)
        common = {c for key, c in block.b_col.items() if key in shared_col}
        own = [c for c in range(lay.n) if c not in common]
        col_map[own] = np.arange(len(ub), len(ub) + len(own))
        tag = f"s{i}:" if len(blocks) > 1 else ""
        for c in own:
            if c < n_x:
                ub.append(1.0)
                integer.append(True)
                a, b = block.pairs[c]
                names.append(f"{tag}x[{a},{b}]")
            else:
                ub.append(lay.ub[c - n_x])
                integer.append(lay.integer[c - n_x])
                names.append(tag + lay.names[c - n_x])
        for key, col in block.b_col.items():
            if key in shared_col:
                col_map[col] = shared_col[key]
        maps.append(col_map)
    n = len(ub)
    objective = np.zeros(n)
    const = 0.0
    rows = _Rows()
    for i, (block, w, col_map) in enumerate(zip(blocks, weights, maps, strict=True)):
        np.add.at(objective, col_map, w * block.objective)
        const += w * block.const
        tag = f"s{i}:" if len(blocks) > 1 else ""
        br = block.rows
        for r, name in enumerate(br.names):
            rows.add(tag + name, col_map[br.col[r]], br.val[r], br.lb[r], br.ub[r], br.tags[r])
    proto = _to_proto("capacity", np.zeros((n, 2), int), True, objective, const, rows, names)
    del proto.variables.upper_bounds[:]
    proto.variables.upper_bounds.extend(ub)
    del proto.variables.integers[:]
    proto.variables.integers.extend(integer)
    return mathopt.Model.from_model_proto(proto), maps


def _view(block: _Block, model: mathopt.Model, col_map: np.ndarray, name: str, w: float):
    """A CapacityModel reading one block of a (possibly stacked) model."""
    n_x = len(block.pairs)
    nz = np.flatnonzero(block.objective)
    return CapacityModel(
        scenario=block.scenario,
        problem=block.problem,
        index=block.index,
        model=model,
        pairs=block.pairs,
        x_cols=col_map[:n_x],
        build_cols=[(k, m, int(col_map[c])) for (k, m), c in block.b_col.items()],
        arrival_km=dict(block.arrival_km),
        z_cols={key: int(col_map[c]) for key, c in block.z_col.items()},
        discount_t=block.discount_t,
        options=block.options,
        cost_km=block.cost_km,
        x_cost_n=block.x_cost,
        obj_cols=col_map[nz],
        obj_vals=block.objective[nz],
        const=block.const,
        name=name,
        probability=w,
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
    built_sites = {o.site_id for o in zero.build_options if not isinstance(o, SiteBuild)}
    explicit = {s.id for s in zero.sites if s.cooling.heat_rejection_kw is not None}
    term_cap = problem.cap_r.copy()
    for s, site in enumerate(index.sites):
        if site in built_sites and site in explicit:
            term_cap[(kind_r == K_HEAT) & (scope_r == s) & np.isfinite(term_cap)] = -1.0
    t = index.time
    site_p = problem.pool_site_p.astype(np.int64)
    row_oj, quantity_oj, scale_oj = timed_terms(
        t.pool_o,
        t.start_o,
        t.length_o,
        site_p,
        term_cap,
        len(pools),
        len(sites),
        t.periods,
        water_days(horizon),
    )
    return problem._replace(
        cap_r=cap_r, row_oj=row_oj, quantity_oj=quantity_oj, scale_oj=term_scales(scale_oj)
    )


def _arrival_months(scenario: Scenario, option) -> list[int]:
    """M[k]: the months a unit may arrive in."""
    first = scenarios.month_of(scenario, option.earliest) + option.lead_time_months
    site = scenarios.site_named(scenario, option.site_id)
    new = scenarios.new_sites(scenario).get(option.site_id)
    if new is not None and new is not option:
        # an option at a new site: never before the site itself can arrive
        months = _arrival_months(scenario, new)
        first = max(first, months[0] if months else scenario.horizon.periods)
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


def _unit_cost(option, m: int, a: int, n_t: int, d_t: np.ndarray) -> tuple[float, float]:
    """(capex, running) net present cost of one unit ordered in month m, arriving in
    month a (nothing runs, nothing is paid after the horizon but a commitment's term), USD."""
    capex = option.capex_usd * d_t[m]
    monthly = option.lease_usd_per_month + option.fixed_opex_usd_per_month
    running = monthly * d_t[a:n_t].sum() if a < n_t else 0.0
    if isinstance(option, CloudCommit):
        term = d_t[a : a + option.term_months].sum()
        running += option.gpus * option.committed_usd_per_gpu_h * MONTH_HOURS * term
    return float(capex), float(running)


def _add_installed(rows: _Rows, options, n_t: int, b_col, i_col, arrival) -> None:
    """(4) I[k,t] - I[k,t-1] - sum_{m arriving in t} b[k,m] = 0; sum_m b[k,m] <= N[k]
    where some order would arrive after the horizon (I[k,T-1] does not count it)."""
    arriving: dict[tuple[int, int], list[int]] = {}
    late: dict[int, list[int]] = {}
    for (k, m), col in b_col.items():
        arriving.setdefault((k, arrival[(k, m)]), []).append(col)
        if arrival[(k, m)] >= n_t:
            late.setdefault(k, [])
    for k, opt in enumerate(options):
        if k in late:
            cols = [c for (kk, _), c in b_col.items() if kk == k]
            rows.add(f"max_units[{opt.id}]", np.array(cols), np.ones(len(cols)), -math.inf,
                     float(opt.max_units))  # fmt: skip
        if isinstance(opt, CloudCommit):
            continue
        for t in range(n_t):
            cols = [i_col[(k, t)]]
            vals = [1.0]
            if t > 0:
                cols.append(i_col[(k, t - 1)])
                vals.append(-1.0)
            for col in arriving.get((k, t), []):
                cols.append(col)
                vals.append(-1.0)
            rows.add(f"installed[{opt.id},{t}]", np.array(cols), np.array(vals), 0.0, 0.0)


def _add_site_links(rows: _Rows, options, n_t: int, i_col) -> None:
    """(7) I[k,t] <= N[k] I[s,t]: units of an option at a new site s count only in the
    months the site is installed (bought and arrived; energised by (4)'s arrival months)."""
    site_k = {opt.id: k for k, opt in enumerate(options) if isinstance(opt, SiteBuild)}
    for k, opt in enumerate(options):
        s = site_k.get(opt.site_id)
        if s is None or s == k or isinstance(opt, CloudCommit):
            continue
        for t in range(n_t):
            rows.add(
                f"site_link[{opt.id},{t}]",
                np.array([i_col[(k, t)], i_col[(s, t)]]),
                np.array([1.0, -float(opt.max_units)]),
                -math.inf,
                0.0,
            )


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
    explicit = {
        s.id for s in scenarios.all_sites(scenario) if s.cooling.heat_rejection_kw is not None
    }
    adds: dict[int, list[tuple[int, float]]] = {}
    for k, opt in enumerate(options):
        if isinstance(opt, (CloudCommit, SiteBuild)):
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


def _add_commitments(rows, layout, scenario, problem, index, options, terms, b_col, arrival, d_t):
    """(6): z[p,t] for each committed pool and month; returns ({z column: objective},
    {(pool name, t): z column})."""
    by_pool: dict[int, list[int]] = {}
    pool_of = {(p.site, p.key): i for i, p in enumerate(index.pools)}
    for k, opt in enumerate(options):
        if isinstance(opt, CloudCommit):
            by_pool.setdefault(pool_of[(opt.site, opt.pool)], []).append(k)
    if not by_pool:
        return {}, {}
    costs, z_col = {}, {}
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
            z_col[(info.name, t)] = z
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
                for (kk, m), col in b_col.items():
                    if kk == k and t - opt.term_months < arrival[(k, m)] <= t:
                        c_cols.append(col)
                        c_vals.append(-float(opt.gpus))
            rows.add(f"z_commit[{p},{t}]", np.array(c_cols), np.array(c_vals), -math.inf, 0.0)
    return costs, z_col


def _option_discount(index: Index, d_t: np.ndarray) -> np.ndarray:
    """float64[O]: the mean discount factor over the months each option runs."""
    t = index.time
    cum = np.concatenate([[0.0], np.cumsum(d_t)])
    end = np.minimum(t.start_o + t.length_o, len(d_t))
    return (cum[end] - cum[t.start_o]) / np.maximum(end - t.start_o, 1)


def _unit_discount(index: Index, d_t: np.ndarray) -> np.ndarray:
    """float64[U]: an inference unit's month's factor; the mean for a training run."""
    return np.array([d_t[u.period] if u.period >= 0 else d_t.mean() for u in index.units])


__all__ = [
    "CapacityModel",
    "build_block",
    "build_capacity_model",
    "build_stacked_model",
    "discount_factors",
    "order_months",
]
