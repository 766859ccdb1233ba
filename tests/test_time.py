"""Placement over time: the horizon, figures per period, files, events, windows, and the
timed compile (docs/time.md). Plans of timed scenarios are verified in
tests/test_verify_time.py; here the language and the Problem it compiles to."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest

import placer
from placer import api
from placer.errors import ScenarioError
from placer.model.load import validate_model
from placer.model.scenario import Scenario
from placer.problem.compile import compile_problem
from placer.problem.rows import K_FACILITY, K_GPUS, K_IT, Q_COST
from tests.conftest import _MINIMAL_SCENARIO
from tests.problems import brute_force

ROOT = Path(__file__).parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
START = "2020-06-01T00:00:00+00:00"


def timed(periods: int = 6, **changes) -> dict:
    """The minimal scenario over `periods` hourly periods, with a 3 h training run that
    may start from 01:00 and must end by 06:00."""
    d = copy.deepcopy(_MINIMAL_SCENARIO)
    d["horizon"] = {"start": START, "period_hours": 1, "periods": periods}
    d["workloads"][0].update(
        hours=3, earliest_start="2020-06-01T01:00:00Z", deadline="2020-06-01T06:00:00Z"
    )
    for path, value in changes.items():
        node = d
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        node[keys[-1]] = value
    return d


def check(data: dict) -> Scenario:
    return validate_model(Scenario, data, source="t")


# -- the language -------------------------------------------------------------


def test_a_series_needs_one_value_per_period() -> None:
    with pytest.raises(ScenarioError, match=r"price_usd_per_kwh: 2 values for 6 periods"):
        check(timed(**{"sites.0.power.price_usd_per_kwh": [0.1, 0.2]}))


def test_a_series_or_a_time_field_needs_a_horizon() -> None:
    d = copy.deepcopy(_MINIMAL_SCENARIO)
    d["sites"][0]["power"]["carbon_g_per_kwh"] = [1.0, 2.0]
    with pytest.raises(ScenarioError, match=r"carbon_g_per_kwh: a list of values.*needs a horizon"):
        check(d)
    d = copy.deepcopy(_MINIMAL_SCENARIO)
    d["workloads"][0]["earliest_start"] = START
    with pytest.raises(ScenarioError, match=r"earliest_start: a time field needs a horizon"):
        check(d)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("horizon.start", "2020-06-01T00:00:00", "has no time zone"),
        ("horizon.start", "June 1st", "not an ISO 8601 instant"),
        ("horizon.periods", 0, "greater than or equal to 1"),
        ("sites.0.power.price_usd_per_kwh", [0.1, 0.1, -11, 0.1, 0.1, 0.1], r"price_usd_per_kwh.2"),
        ("sites.0.pools.0.gpus", [64, 64, 64, 64, 64, 1.5], r"gpus.5"),
        ("workloads.0.deadline", "2020-06-01T00:30:00Z", "must be after earliest_start"),
        ("workloads.0.deadline_hours", 5, "not both"),
    ],
)
def test_bad_time_fields_name_the_field(field: str, value, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        check(timed(**{field: value}))


def test_grid_event_needs_exactly_one_cut() -> None:
    event = {"name": "dr", "start": START, "hours": 1, "cut_kw": 10, "cut_pct": 5}
    with pytest.raises(ScenarioError, match="exactly one of cut_kw and cut_pct"):
        check(timed(**{"sites.0.grid_events": [event]}))


# -- files ---------------------------------------------------------------------


def write_scenario(tmp_path: Path, data: dict, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data))
    return path


def half_hourly(values, start="2020-06-01T00:00:00+00:00") -> str:
    """A CSV of half-hourly samples from `start`."""
    import datetime as dt

    t0 = dt.datetime.fromisoformat(start)
    rows = [f"{(t0 + dt.timedelta(minutes=30 * i)).isoformat()},{v}" for i, v in enumerate(values)]
    return "time,value\n" + "\n".join(rows) + "\n"


def test_a_file_is_resampled_by_each_figures_rule(tmp_path: Path) -> None:
    values = [1, 3, 2, 2, 5, 1, 6, 4, 2, 2, 9, 1]  # 12 half hours = 6 periods
    d = timed()
    d["sites"][0]["power"]["price_usd_per_kwh"] = {"file": "p.csv", "scale": 0.1}
    d["sites"][0]["power"]["it_capacity_kw"] = {"file": "p.csv", "scale": 100}
    d["workloads"][1]["demand_rps"]["eu-central"] = {"file": "p.csv"}
    s = placer.load(write_scenario(tmp_path, d, {"p.csv": half_hourly(values)}))
    pairs = list(zip(values[::2], values[1::2], strict=True))
    assert s.sites[0].power.price_usd_per_kwh == pytest.approx(
        [0.1 * (a + b) / 2 for a, b in pairs]
    )
    assert s.sites[0].power.it_capacity_kw == pytest.approx([100 * min(a, b) for a, b in pairs])
    assert s.workloads[1].demand_rps["eu-central"] == pytest.approx([max(a, b) for a, b in pairs])


def test_a_file_in_local_time_needs_its_zone(tmp_path: Path) -> None:
    text = "time,value\n" + "\n".join(f"2020-06-01 {h:02d}:00:00,{h}" for h in range(10)) + "\n"
    d = timed()
    d["sites"][0]["power"]["carbon_g_per_kwh"] = {"file": "c.csv"}
    with pytest.raises(ScenarioError, match=r"c.csv:2: '2020-06-01 00:00:00' has no time zone"):
        placer.load(write_scenario(tmp_path, d, {"c.csv": text}))
    d["sites"][0]["power"]["carbon_g_per_kwh"] = {"file": "c.csv", "timezone": "Europe/Paris"}
    s = placer.load(write_scenario(tmp_path, d, {"c.csv": text}))
    # 02:00 in Paris (CEST) is 00:00 UTC: the horizon's first period
    assert s.sites[0].power.carbon_g_per_kwh == pytest.approx([2, 3, 4, 5, 6, 7])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (half_hourly([1] * 6), "covers .* the horizon runs"),
        (half_hourly([1] * 12, start="2020-06-01T00:30:00+00:00"), "covers"),
        ("time,value\n2020-06-01T00:00:00Z,1\n2020-06-01T00:00:00Z,2\n", r"p.csv:3: time does not"),
        ("time,value\n2020-06-01T00:00:00Z,x\n", r"p.csv:2: value 'x' is not a number"),
        ("time,value\n2020-06-01T00:00:00Z,-3\n", r"p.csv:2: value -3 is negative"),
        ("time,value\nyesterday,1\n", r"p.csv:2: 'yesterday' is not an ISO 8601 time"),
        ("time\n", "needs a header line and at least one sample"),
        (
            half_hourly([1] * 4) + "2020-06-01T04:00:00+00:00,1\n2020-06-01T04:30:00+00:00,1\n"
            "2020-06-01T05:00:00+00:00,1\n2020-06-01T05:30:00+00:00,1\n2020-06-01T06:00:00+00:00,1\n",
            "a gap of 2.5 h",
        ),
    ],
)
def test_bad_files_name_the_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    d = timed()
    d["sites"][0]["power"]["carbon_g_per_kwh"] = {"file": "p.csv"}
    with pytest.raises(ScenarioError, match=message):
        placer.load(write_scenario(tmp_path, d, {"p.csv": text}))


def test_a_missing_file_or_unknown_key_is_named(tmp_path: Path) -> None:
    d = timed()
    d["sites"][0]["power"]["price_usd_per_kwh"] = {"file": "nope.csv"}
    with pytest.raises(
        ScenarioError, match=r"sites.0.power.price_usd_per_kwh: .*nope.csv: no such"
    ):
        placer.load(write_scenario(tmp_path, d, {}))
    d["sites"][0]["power"]["price_usd_per_kwh"] = {"file": "p.csv", "colum": "x"}
    with pytest.raises(ScenarioError, match=r"price_usd_per_kwh.colum: unknown key"):
        placer.load(write_scenario(tmp_path, d, {"p.csv": half_hourly([1] * 12)}))
    (tmp_path / "folder.csv").mkdir()
    d["sites"][0]["power"]["price_usd_per_kwh"] = {"file": "folder.csv"}
    with pytest.raises(ScenarioError, match=r"folder.csv: a directory, not a CSV file"):
        placer.load(write_scenario(tmp_path, d, {}))


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        (None, "time,a,b\n", r"price_usd_per_kwh.column: \S*p.csv has columns"),
        ("column", "time,a\n", r"price_usd_per_kwh.column: no column 'x' in \S*p.csv; it has"),
        ("time_column", "time,a\n", r"price_usd_per_kwh.time_column: no column 'x' in \S*p.csv"),
    ],
)
def test_a_column_error_names_the_key_and_the_file_once(
    tmp_path: Path, key: str | None, text: str, message: str
) -> None:
    d = timed()
    spec = {"file": "p.csv"} | ({key: "x"} if key else {})
    d["sites"][0]["power"]["price_usd_per_kwh"] = spec
    with pytest.raises(ScenarioError, match=message) as info:
        placer.load(write_scenario(tmp_path, d, {"p.csv": text + "2020-06-01T00:00:00Z,1,2\n"}))
    assert str(info.value).count("price_usd_per_kwh") == 1, str(info.value)


# -- compile -------------------------------------------------------------------


def test_training_options_are_exactly_the_starts_in_its_window() -> None:
    problem, index = compile_problem(check(timed()))
    u = next(i for i, unit in enumerate(index.units) if unit.kind == "training")
    options, slots = problem.options_of(u)
    time = index.time
    for o, k in zip(options, slots, strict=True):
        start, hours = int(time.start_o[o]), float(index.hours_uk[u, k])
        assert start >= 1 and start + hours <= 6 + 1e-9
        assert time.length_o[o] == math.ceil(hours - 1e-9)
    # every pool and start that fits is there: H100 (3 h) and L4 (slower: 3 x speed)
    starts = {(int(problem.pool_o[o]), int(time.start_o[o])) for o in options}
    for p in range(problem.num_pools):
        k = (
            int(np.flatnonzero(problem.pool_o[options] == p)[0])
            if (problem.pool_o[options] == p).any()
            else None
        )
        if k is None:
            continue
        hours = float(index.hours_uk[u, slots[k]])
        assert {s for q, s in starts if q == p} == {s for s in range(1, 6) if s + hours <= 6 + 1e-9}


def test_rows_per_period_carry_events_and_arrivals() -> None:
    event = {"name": "dr", "start": "2020-06-01T02:30:00Z", "hours": 1, "cut_pct": 40}
    d = timed(
        **{
            "sites.0.grid_events": [event],
            "sites.0.pools.0.available_from": "2020-06-01T04:00:00Z",
            "objective.max_utilization": 0.9,
        }
    )
    s = check(d)
    problem, index = compile_problem(s)
    site = index.sites.index("onprem-fra")
    period_r = index.time.period_r
    fac = [
        float(
            problem.cap_r[
                (problem.kind_r == K_FACILITY) & (problem.scope_r == site) & (period_r == t)
            ][0]
        )
        for t in range(6)
    ]
    base = 500 * 1.3 * 0.9  # no grid cap: IT capacity x PUE, then headroom
    assert fac[:2] == [math.inf, math.inf] and fac[4:] == [math.inf, math.inf]
    assert fac[2] == pytest.approx(base * 0.6) and fac[3] == pytest.approx(base * 0.6)
    pool = next(i for i, p in enumerate(index.pools) if p.site == "onprem-fra")
    gpus = [
        float(
            problem.cap_r[(problem.kind_r == K_GPUS) & (problem.scope_r == pool) & (period_r == t)][
                0
            ]
        )
        for t in range(6)
    ]
    assert gpus == [0, 0, 0, 0, math.floor(64 * 0.9), math.floor(64 * 0.9)]
    it = problem.cap_r[(problem.kind_r == K_IT) & (period_r == 0)]
    assert it.size == len(index.sites)


def test_a_run_pays_each_periods_tariff_for_the_hours_it_runs() -> None:
    prices = [0.3, 0.3, 0.05, 0.05, 0.3, 0.3]
    d = timed(**{"sites.0.power.price_usd_per_kwh": prices, "workloads.0.hours": 2.5})
    d["workloads"][0]["accelerators"] = ["H100-SXM"]
    s = check(d)
    problem, index = compile_problem(s)
    u = next(i for i, unit in enumerate(index.units) if unit.kind == "training")
    site = s.sites[0]
    pool = site.pools[0]
    acc = s.catalog()["H100-SXM"]
    it_kw = 32 * acc.tdp_w * acc.node_overhead_factor / 1000
    mean_kw = it_kw * (acc.idle_power_fraction + (1 - acc.idle_power_fraction) * 0.9)
    options, slots = problem.options_of(u)
    for o, k in zip(options, slots, strict=True):
        start = int(index.time.start_o[o])
        energy = sum(
            f * mean_kw * site.power.pue * prices[start + i] for i, f in enumerate([1, 1, 0.5])
        )
        cost = 2.5 * 32 * pool.cost_usd_per_gpu_h + energy
        assert problem.amount_quk[Q_COST, u, k] * 6 == pytest.approx(cost, rel=1e-12)
        assert index.time.length_o[o] == 3


def test_inference_is_one_unit_per_region_period_share_and_copy() -> None:
    d = timed(periods=4)
    d["workloads"][1].update(
        demand_rps={"eu-central": [50, 0, 20, 10], "eu-north": 20},
        split=2,
        redundancy={"copies": 2},
    )
    s = check(d)
    _, index = compile_problem(s)
    names = [u.name for u in index.units if u.kind == "inference"]
    central = [n for n in names if n.startswith("chat/eu-central")]
    assert len(central) == 3 * 2 * 2  # periods with demand x shares x copies
    assert "chat/eu-central@2.1#0" in names and not any("@1" in n for n in central)
    assert len([n for n in names if n.startswith("chat/eu-north")]) == 4 * 2 * 2


def test_demand_profile_scales_the_peak_by_the_hour_of_each_period() -> None:
    profile = [0.1 * (h % 10) for h in range(24)]
    d = timed(periods=4)
    d["horizon"]["start"] = "2020-06-01T05:00:00+02:00"  # the hour of the day is local
    d["workloads"][0].update(earliest_start="2020-06-01T05:00:00+02:00", deadline=None)
    d["workloads"][0].pop("deadline")
    d["workloads"][1].update(demand_profile=profile)
    s = check(d)
    from placer.problem.compile_time import demand_per_period

    assert demand_per_period(s.workloads[1], "eu-central", s.horizon) == pytest.approx(
        [50 * profile[h] for h in (5, 6, 7, 8)]
    )


def tiny_problem():
    d = timed(periods=4)
    d["workloads"][0].update(
        hours=2, gpus=48, earliest_start=START, deadline="2020-06-01T04:00:00Z"
    )
    d["workloads"][1]["demand_rps"] = {"eu-central": [40, 0, 0, 60]}
    d["sites"][0]["power"]["price_usd_per_kwh"] = [0.4, 0.1, 0.1, 0.4]
    return check(d)


def test_milp_matches_brute_force_on_a_tiny_timed_problem() -> None:
    problem, _ = compile_problem(tiny_problem())
    assert problem.num_units == 3 and problem.num_options <= 12
    best, _ = brute_force(problem)
    plan = api.solve(tiny_problem(), solver="milp", time_limit_s=20)
    assert plan.status == "optimal"
    assert plan.objective_usd_per_h == pytest.approx(best, rel=1e-9)


# -- a scenario without a horizon is what it was -------------------------------

GOLDEN = json.loads((Path(__file__).parent / "golden" / "static_plans.json").read_text())


@pytest.mark.parametrize("key", sorted(GOLDEN))
def test_static_configs_solve_as_before_time_existed(key: str) -> None:
    """Plans of every configs/*.yaml as f8302f3 (before time) gave them."""
    name, solver = key.split(":")
    plan = api.solve(placer.load(ROOT / "configs" / name), solver=solver, time_limit_s=60, seed=0)
    want = GOLDEN[key]
    assert plan.status == want["status"]
    assert plan.objective_usd_per_h == pytest.approx(want["objective_usd_per_h"], rel=1e-9)
    assert sorted([p.unit, p.site, p.pool] for p in plan.placements) == want["placements"]


def test_negative_tariffs_are_real_hours_and_solve(tmp_path: Path) -> None:
    """Day-ahead prices go below zero; a run may be paid to draw then."""
    d = timed(**{"sites.0.power.price_usd_per_kwh": [0.1, -0.05, -0.2, 0.1, 0.3, 0.3]})
    plan = api.solve(check(d), solver="milp", time_limit_s=20)  # verified inside
    assert plan.status == "optimal"
    d["sites"][0]["power"]["price_usd_per_kwh"] = {"file": "p.csv"}
    values = [0.1, 0.1, -0.05, -0.05, -0.2, -0.2, 0.1, 0.1, 0.3, 0.3, 0.3, 0.3]
    s = placer.load(write_scenario(tmp_path, d, {"p.csv": half_hourly(values)}))
    assert s.sites[0].power.price_usd_per_kwh == pytest.approx([0.1, -0.05, -0.2, 0.1, 0.3, 0.3])
    d["sites"][0]["power"]["carbon_g_per_kwh"] = {"file": "p.csv"}
    with pytest.raises(ScenarioError, match="is negative"):
        placer.load(write_scenario(tmp_path, d, {"p.csv": half_hourly(values)}))


def test_whatif_scales_a_figure_given_per_period() -> None:
    """`--set path=*F` on a series changes every period (whole numbers stay whole)."""
    from placer.analysis.whatif_apply import apply_variant
    from placer.analysis.whatif_parse import parse_variant

    d = timed(**{"sites.0.pools.0.gpus": [64, 64, 48, 48, 64, 64]})
    changed, applied = apply_variant(d, parse_variant("sites.onprem-fra.pools.H100-SXM.gpus=*0.5"))
    assert changed["sites"][0]["pools"][0]["gpus"] == [32, 32, 24, 24, 32, 32]
    assert applied[0].after == [32, 32, 24, 24, 32, 32]


def test_greedy_is_the_agnostic_scheduler() -> None:
    """Greedy starts each run at its earliest start and keeps a service on the pool that
    is cheapest on average, whatever the hour's price (the baseline bench_time reports)."""
    d = timed(**{"sites.0.power.price_usd_per_kwh": [0.9, 0.9, 0.01, 0.01, 0.01, 0.01]})
    d["workloads"][0]["accelerators"] = ["H100-SXM"]
    s = check(d)
    greedy = api.solve(s, solver="greedy", time_limit_s=10)
    milp = api.solve(s, solver="milp", time_limit_s=10)
    run = next(p for p in greedy.placements if p.kind == "training")
    assert run.start_period == 1  # its earliest start, in the dearest hours
    best = next(p for p in milp.placements if p.kind == "training")
    assert best.start_period > 1 and milp.objective_usd_per_h < greedy.objective_usd_per_h
    pools = {(p.region, p.site, p.pool) for p in greedy.placements if p.kind == "inference"}
    assert len(pools) == len({r for r, _, _ in pools})  # one pool per region, every period


def test_engines_read_a_timed_problem_like_any_other() -> None:
    """On a timed problem the slot-by-slot bound equals the pair-list bound for any
    prices, and the JAX kernel scores candidates as the NumPy reference does."""
    import jax.numpy as jnp

    from placer.engines.kernels.arrays import to_kernel
    from placer.engines.kernels.reference import score_batch_numpy
    from placer.engines.kernels.score import score_batch
    from placer.engines.relax.lagrangian import dual_bound
    from placer.engines.relax.rows import row_capacities
    from placer.engines.relax.sampled import chunked_dual_bound

    d = timed(**{"sites.0.power.price_usd_per_kwh": [0.3, 0.1, 0.05, 0.2, 0.3, 0.3]})
    d["workloads"][1].update(redundancy={"copies": 2}, split=2)
    problem, _ = compile_problem(check(d))
    rng = np.random.default_rng(3)
    for _ in range(5):
        prices = rng.exponential(0.5, row_capacities(problem).size)
        a, _ = dual_bound(problem, prices)
        b, _ = chunked_dual_bound(problem, prices)
        assert b == pytest.approx(a, rel=1e-9, abs=1e-9)
    n_u, n_k = problem.option_uk.shape
    slots = rng.integers(0, n_k + 1, size=(16, n_u))
    slots = np.where(
        slots < n_k,
        np.where(problem.listed_uk[np.arange(n_u), np.minimum(slots, n_k - 1)], slots, n_k),
        n_k,
    )
    want = score_batch_numpy(slots, problem)
    from placer.engines.kernels import arrays

    for table in (True, False):  # with the per-slot term table and without (large J)
        limit = arrays.VALUE_TABLE_MAX
        arrays.VALUE_TABLE_MAX = limit if table else 0
        try:
            kp = to_kernel(problem)
        finally:
            arrays.VALUE_TABLE_MAX = limit
        assert (kp.value_uk1j is None) != table
        got = score_batch(jnp.asarray(slots, jnp.int32), kp, chunk=4)
        np.testing.assert_allclose(np.asarray(got.objective), want.objective, rtol=1e-4)
        np.testing.assert_allclose(np.asarray(got.over_k), want.over_k, rtol=1e-4, atol=1e-3)


def test_a_timed_plan_reads_back_as_its_assignment() -> None:
    """Plans name an option by pool, start and length: a plan read back (hints, whatif's
    baseline, explain, score) is the assignment it came from."""
    from placer.analysis.explain import explain_workload
    from placer.plan.scoring import assignment_of
    from placer.problem.usage import objective_value

    s = placer.load(ROOT / "configs" / "time" / "small_day.yaml")
    plan = api.solve(s, solver="milp", time_limit_s=20)
    problem, index = compile_problem(s)
    assign = assignment_of(plan, index)
    assert objective_value(problem, assign) == pytest.approx(plan.objective_usd_per_h, rel=1e-9)
    again = api.solve(s, solver="greedy", time_limit_s=20, hint=plan)
    assert again.status in ("feasible", "optimal")
    run = next(p for p in plan.placements if p.kind == "training")
    why = explain_workload(s, plan, run.workload)
    assert why[0].chosen == f"{run.site}/{run.pool}@{run.start_period}"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sites.0.pools.0.available_from", "", "not an ISO 8601 instant"),
        ("sites.0.power.available_from", "soon", "not an ISO 8601 instant"),
        ("horizon.start", "9999-12-31T20:00:00+00:00", "end after the year 9999"),
    ],
)
def test_every_instant_is_checked_where_it_is_written(field: str, value, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        check(timed(**{field: value}))
