"""compile: every coefficient of tiny scenarios, derived by hand in the comments.

Catalog figures used below (placer/data/accelerators.yaml):
  H100-SXM  700 W x node overhead 1.82 = 1.274 kW per GPU, 80 GB,  989 TFLOP/s, air
  B200     1000 W x 1.79             = 1.790 kW per GPU, 180 GB, 2250 TFLOP/s, air
  L4         72 W x 1.8 (default)    = 0.1296 kW per GPU, 24 GB
  GB200    1200 W x 1.45             = 1.740 kW per GPU, liquid
Idle power fraction 0.3 for all of them.

Tolerance: compile works in float64 on a handful of products, so results agree with the
hand arithmetic to ~1e-15 relative; rtol=1e-12 leaves room for summation order.
"""

from __future__ import annotations

import copy
import math
import random
from typing import Any

import numpy as np
import pytest

from placer.model import Scenario
from placer.problem.compile import (
    _Context,
    _pair_arrays,
    build_pools,
    build_units,
    compile_problem,
    pair_reasons,
    pool_rule_bits,
    reason_counts,
)
from placer.problem.form import (
    NUM_REASONS,
    R_ACCEL,
    R_COOLING,
    R_DEADLINE,
    R_DENSITY,
    R_EXCLUDE,
    R_LATENCY,
    R_MEMORY,
    R_NODE,
    R_PIN,
    R_RESIDENCY,
    R_SIZE,
    R_TTFT,
    REASONS,
    Problem,
)
from placer.problem.rows import (
    K_BUDGET,
    K_CARBON,
    K_FACILITY,
    K_GPUS,
    K_HEAT,
    K_IT,
    K_WATER,
    KIND_SCOPE,
    Q_IT_KW,
    QUANTITIES,
    STANDARD_TERMS,
    global_row,
    rows_of_kind,
)
from tests.problems import allowed_table, dense_table

RTOL = 1e-12

# ---- scenario builders -------------------------------------------------------------------


def fra(**over: Any) -> dict[str, Any]:
    """On-prem Frankfurt: 500 kW IT, PUE 1.3, 0.2 USD/kWh, 350 g/kWh, 600 kW grid,
    450 kW heat rejection, 100 kW racks, WUE 1.8 L/kWh, 24,000 L/day; 64 H100-SXM at
    2.0 USD/GPU-h (spot 0.8)."""
    site = {
        "id": "fra",
        "tier": "onprem",
        "location": {"lat": 50.11, "lon": 8.68, "country": "DE"},
        "power": {
            "it_capacity_kw": 500,
            "pue": 1.3,
            "grid_cap_kw": 600,
            "price_usd_per_kwh": 0.2,
            "carbon_g_per_kwh": 350,
        },
        "cooling": {
            "type": "air",
            "heat_rejection_kw": 450,
            "max_rack_density_kw": 100,
            "wue_l_per_kwh": 1.8,
            "water_cap_l_per_day": 24000,
        },
        "pools": [
            {
                "accelerator": "H100-SXM",
                "gpus": 64,
                "cost_usd_per_gpu_h": 2.0,
                "spot_cost_usd_per_gpu_h": 0.8,
            }
        ],
    }
    site.update(over)
    return site


def osl(**over: Any) -> dict[str, Any]:
    """Cloud Oslo: 2,000 kW IT, PUE 1.1, energy in the GPU price, 20 g/kWh, egress
    0.09 USD/GB, no grid, heat or water caps; 64 H100-SXM at 3.0 USD/GPU-h."""
    site = {
        "id": "osl",
        "tier": "cloud",
        "location": {"lat": 59.91, "lon": 10.75, "country": "NO"},
        "power": {"it_capacity_kw": 2000, "pue": 1.1, "carbon_g_per_kwh": 20},
        "cooling": {"max_rack_density_kw": 100},
        "egress_usd_per_gb": 0.09,
        "pools": [{"accelerator": "H100-SXM", "gpus": 64, "cost_usd_per_gpu_h": 3.0}],
    }
    site.update(over)
    return site


def train(**over: Any) -> dict[str, Any]:
    """32 GPUs for 100 h at the default utilization 0.9."""
    w = {"id": "train", "kind": "training", "gpus": 32, "hours": 100}
    w.update(over)
    return w


def chat(**over: Any) -> dict[str, Any]:
    """50 rps from 'de'; one L4 replica (2 GPUs) serves 15 rps; 20 ms SLO."""
    w = {
        "id": "chat",
        "kind": "inference",
        "demand_rps": {"de": 50},
        "serving": {"L4": {"rps_per_replica": 15, "gpus_per_replica": 2}},
        "latency_slo_ms": 20,
    }
    w.update(over)
    return w


DE = {"id": "de", "location": {"lat": 50.11, "lon": 8.68, "country": "DE"}}  # at fra
FR = {"id": "fr", "location": {"lat": 48.86, "lon": 2.35, "country": "FR"}}
US = {"id": "us", "location": {"lat": 39.04, "lon": -77.49, "country": "US"}}


def scenario(sites, workloads, regions=(), **top: Any) -> Scenario:
    data = {
        "apiVersion": "placer/v1",
        "kind": "Scenario",
        "sites": list(sites),
        "user_regions": list(regions),
        "workloads": list(workloads),
        **top,
    }
    return Scenario.model_validate(copy.deepcopy(data))


def compiled(sc: Scenario):
    problem, index = compile_problem(sc)
    units = {u.name: i for i, u in enumerate(index.units)}
    pools = {p.name: i for i, p in enumerate(index.pools)}
    return problem, index, units, pools


def pair(sc: Scenario, unit: str, pool: str):
    """(problem, index, u, p) for one named pair."""
    problem, index, units, pools = compiled(sc)
    return problem, index, units[unit], pools[pool]


def slot(problem: Problem, u: int, p: int) -> int:
    """The slot of pool p (an option: O == P) in unit u's list; the pair must be listed."""
    assert allowed_table(problem)[u, p], (u, p)
    return int(problem.slots_of(u, np.array([p]))[0])


def at(problem: Problem, name: str, u: int, p: int) -> float:
    """A per-pair figure (`tests.problems.dense_table` names) of a listed pair."""
    assert allowed_table(problem)[u, p], (u, p)
    return float(dense_table(problem, name)[u, p])


def reasons(sc: Scenario, u: int) -> np.ndarray:
    """uint16[P]: the mask bits of every pool for unit u."""
    return pair_reasons(sc, [u])[0]


def rule_figures(sc: Scenario) -> dict[str, np.ndarray]:
    """float64[U, P] tables of what compile's rules give EVERY pair, masked ones included
    (the Problem lists only allowed pairs): what the old dense tables held."""
    sites = sorted(sc.sites, key=lambda s: s.id)
    return _pair_arrays(build_units(sc), build_pools(sc), sites, _Context(sc))[0]


def caps(problem: Problem, kind: int) -> np.ndarray:
    """float64[P] or [S]: the capacity of the row of `kind` of each pool or site."""
    n = problem.num_pools if KIND_SCOPE[kind] == 0 else problem.num_sites
    rows = rows_of_kind(problem.kind_r, problem.scope_r, kind, n)
    assert (rows >= 0).all(), kind
    return problem.cap_r[rows]


def global_cap(problem: Problem, kind: int) -> float:
    """The capacity of the global row of `kind` (the budget, the carbon cap)."""
    row = global_row(problem.kind_r, kind)
    assert row >= 0, kind
    return float(problem.cap_r[row])


# ---- coefficients of one training pair ---------------------------------------------------


def test_training_pair_every_coefficient() -> None:
    sc = scenario(
        [fra()],
        [train()],
        objective={"carbon_price_usd_per_t": 100, "water_price_usd_per_m3": 2},
    )
    problem, index, u, p = pair(sc, "train", "fra/H100-SXM")
    assert allowed_table(problem)[u, p]
    assert reasons(sc, u)[p] == 0
    # gpus: the gang's 32 GPUs.
    assert at(problem, "gpus", u, p) == 32
    # it_kw: 1.274 kW per GPU x 32 = 40.768 kW (full load, capacity planning).
    np.testing.assert_allclose(at(problem, "it_kw", u, p), 40.768, rtol=RTOL)
    # facility_kw: 40.768 x PUE 1.3 = 52.9984 kW.
    np.testing.assert_allclose(at(problem, "facility_kw", u, p), 52.9984, rtol=RTOL)
    # heat: equal to IT power, 40.768 kW: the option charges its IT kW to its site's heat row.
    heat_row = rows_of_kind(problem.kind_r, problem.scope_r, K_HEAT, problem.num_sites)
    (j,) = np.flatnonzero(problem.row_oj[p] == heat_row[problem.site_o[p]])
    assert problem.quantity_oj[p, j] == Q_IT_KW
    np.testing.assert_allclose(at(problem, "heat_kw", u, p), 40.768, rtol=RTOL)
    # mean kW at utilization 0.9, idle 0.3: 40.768 x (0.3 + 0.7 x 0.9) = 40.768 x 0.93
    #   = 37.91424 kW.  water: 37.91424 x WUE 1.8 = 68.245632 L/h.
    np.testing.assert_allclose(at(problem, "water_l_per_h", u, p), 68.245632, rtol=RTOL)
    # facility energy: 37.91424 x 1.3 = 49.288512 kW.
    # cost: 32 GPUs x 2.0 = 64 USD/h + 49.288512 x 0.2 USD/kWh = 9.8577024 -> 73.8577024.
    np.testing.assert_allclose(at(problem, "cost_usd_per_h", u, p), 73.8577024, rtol=RTOL)
    # carbon: 49.288512 kW x 350 g/kWh / 1000 = 17.2509792 kg/h.
    np.testing.assert_allclose(at(problem, "carbon_kg_per_h", u, p), 17.2509792, rtol=RTOL)
    # objective: 73.8577024 + 100 USD/t x 17.2509792 / 1000 (= 1.72509792)
    #   + 2 USD/m3 x 68.245632 / 1000 (= 0.136491264) = 75.719291584 USD/h.
    np.testing.assert_allclose(at(problem, "objective_usd_per_h", u, p), 75.719291584, rtol=RTOL)
    # training has no latency and no replicas; it runs 100 h (speed 1: no reference type).
    assert at(problem, "latency_ms", u, p) == 0
    assert index.replicas_uk[u, slot(problem, u, p)] == 0
    np.testing.assert_allclose(index.hours_uk[u, slot(problem, u, p)], 100.0, rtol=RTOL)
    # no value given: nothing is lost when unplaced; must_place defaults to true.
    assert problem.unplaced_usd_per_h_u[u] == 0
    assert problem.must_place_u[u]
    assert problem.group_u[u] == -1


def test_objective_without_prices_is_the_cost() -> None:
    problem, _, u, p = pair(scenario([fra()], [train()]), "train", "fra/H100-SXM")
    # no carbon or water price: objective = cost = 73.8577024 USD/h (see above).
    np.testing.assert_allclose(at(problem, "objective_usd_per_h", u, p), 73.8577024, rtol=RTOL)


def test_scenario_accelerator_with_round_numbers() -> None:
    # X1: 500 W x overhead 2.0 = 1.0 kW per GPU, idle 0.2; 10 GPUs at utilization 0.5.
    sc = scenario(
        [fra(pools=[{"accelerator": "X1", "gpus": 10, "cost_usd_per_gpu_h": 1.0}])],
        [train(gpus=10, utilization=0.5)],
        accelerators=[
            {
                "id": "X1",
                "memory_gb": 10,
                "tdp_w": 500,
                "idle_power_fraction": 0.2,
                "node_overhead_factor": 2.0,
            }
        ],
    )
    problem, _, u, p = pair(sc, "train", "fra/X1")
    # it_kw: 10 x 1.0 = 10 kW; facility 10 x 1.3 = 13 kW.
    np.testing.assert_allclose(at(problem, "it_kw", u, p), 10.0, rtol=RTOL)
    np.testing.assert_allclose(at(problem, "facility_kw", u, p), 13.0, rtol=RTOL)
    # mean: 10 x (0.2 + 0.8 x 0.5) = 6 kW; water 6 x 1.8 = 10.8 L/h.
    np.testing.assert_allclose(at(problem, "water_l_per_h", u, p), 10.8, rtol=RTOL)
    # cost: 10 x 1.0 + 6 x 1.3 x 0.2 = 10 + 1.56 = 11.56 USD/h.
    np.testing.assert_allclose(at(problem, "cost_usd_per_h", u, p), 11.56, rtol=RTOL)
    # carbon: 6 x 1.3 x 350 / 1000 = 2.73 kg/h.
    np.testing.assert_allclose(at(problem, "carbon_kg_per_h", u, p), 2.73, rtol=RTOL)


def test_pool_node_power_overrides_the_catalog() -> None:
    # node_power_kw 8.0 over 8 GPUs per node = 1.0 kW per GPU (not 1.274).
    pool = {"accelerator": "H100-SXM", "gpus": 64, "cost_usd_per_gpu_h": 2.0, "node_power_kw": 8.0}
    problem, _, u, p = pair(scenario([fra(pools=[pool])], [train()]), "train", "fra/H100-SXM")
    # 32 GPUs x 1.0 kW = 32 kW IT.
    np.testing.assert_allclose(at(problem, "it_kw", u, p), 32.0, rtol=RTOL)


# ---- dataset egress, speed, spot ---------------------------------------------------------


def test_dataset_egress_is_amortised_over_the_run() -> None:
    dataset = {"site": "osl", "size_gb": 20000}
    sc = scenario([fra(), osl()], [train(dataset=dataset)])
    problem, _, units, pools = compiled(sc)
    u = units["train"]
    # at fra the data must leave osl: 0.09 USD/GB x 20,000 GB / 100 h = 18 USD/h on top
    # of 73.8577024 (GPU + energy, above) = 91.8577024 USD/h.
    np.testing.assert_allclose(
        at(problem, "cost_usd_per_h", u, pools["fra/H100-SXM"]), 91.8577024, rtol=RTOL
    )
    # at osl (the data's site) no egress: 32 x 3.0 = 96 USD/h; energy costs 0 (cloud).
    np.testing.assert_allclose(
        at(problem, "cost_usd_per_h", u, pools["osl/H100-SXM"]), 96.0, rtol=RTOL
    )


def test_training_speed_scales_by_bf16_tflops() -> None:
    b200 = {"accelerator": "B200", "gpus": 64, "cost_usd_per_gpu_h": 4.0}
    h100 = fra()["pools"][0]
    sc = scenario([fra(pools=[h100, b200])], [train(accelerators=["H100-SXM", "B200"])])
    problem, index, units, pools = compiled(sc)
    u, b, h = units["train"], pools["fra/B200"], pools["fra/H100-SXM"]
    # speed on B200 = reference TFLOP/s / B200 TFLOP/s = 989 / 2250 = 0.439555...
    speed = 989 / 2250
    # hours: 100 x 0.439555... = 43.9555... h; on the reference H100 exactly 100 h.
    np.testing.assert_allclose(
        index.hours_uk[u, slot(problem, u, b)], 43.955555555555556, rtol=RTOL
    )
    np.testing.assert_allclose(index.hours_uk[u, slot(problem, u, h)], 100.0, rtol=RTOL)
    # power is per hour of running, not scaled: 32 x 1.79 = 57.28 kW IT.
    np.testing.assert_allclose(at(problem, "it_kw", u, b), 57.28, rtol=RTOL)
    np.testing.assert_allclose(at(problem, "facility_kw", u, b), 57.28 * 1.3, rtol=RTOL)
    # mean 57.28 x 0.93 = 53.2704 kW. Per hour of the reference run:
    # cost = speed x (32 x 4.0 + 53.2704 x 1.3 x 0.2) = 0.439555 x (128 + 13.850304)
    #      = 56.263111 + 6.087978 = 62.351089 USD/h.
    np.testing.assert_allclose(
        at(problem, "cost_usd_per_h", u, b), speed * (128 + 53.2704 * 1.3 * 0.2), rtol=RTOL
    )
    np.testing.assert_allclose(at(problem, "cost_usd_per_h", u, b), 62.35108918044444, rtol=1e-9)
    # carbon = speed x 53.2704 x 1.3 x 350 / 1000 = 0.439555 x 24.237 = 10.653962 kg/h.
    np.testing.assert_allclose(at(problem, "carbon_kg_per_h", u, b), 10.653961621333332, rtol=1e-9)
    # water = speed x 53.2704 x 1.8 = 42.147540 L/h.
    np.testing.assert_allclose(at(problem, "water_l_per_h", u, b), 42.14754048, rtol=1e-9)
    # the reference pool is unchanged: 73.8577024 USD/h as in the first test.
    np.testing.assert_allclose(at(problem, "cost_usd_per_h", u, h), 73.8577024, rtol=RTOL)


def test_no_accelerator_list_means_speed_one_everywhere() -> None:
    b200 = {"accelerator": "B200", "gpus": 64, "cost_usd_per_gpu_h": 4.0}
    problem, index, u, p = pair(scenario([fra(pools=[b200])], [train()]), "train", "fra/B200")
    # no reference type: 100 h on B200 too; cost 32 x 4.0 + 53.2704 x 1.3 x 0.2 = 141.850304.
    np.testing.assert_allclose(index.hours_uk[u, slot(problem, u, p)], 100.0, rtol=RTOL)
    np.testing.assert_allclose(at(problem, "cost_usd_per_h", u, p), 141.850304, rtol=RTOL)


def test_egress_per_reference_hour_on_a_faster_gpu() -> None:
    b200 = {"accelerator": "B200", "gpus": 64, "cost_usd_per_gpu_h": 4.0}
    sc = scenario(
        [fra(pools=[b200]), osl()],
        [train(accelerators=["H100-SXM", "B200"], dataset={"site": "osl", "size_gb": 20000})],
    )
    problem, index, u, p = pair(sc, "train", "fra/B200")
    # The whole run on B200 costs 43.96 h x (128 + 13.850304) USD/h + 1,800 USD egress
    # (0.09 x 20,000). Per hour of the 100 h reference run that is 62.351089 + 18 USD/h.
    run_usd = index.hours_uk[u, slot(problem, u, p)] * (128 + 53.2704 * 1.3 * 0.2) + 1800.0
    np.testing.assert_allclose(at(problem, "cost_usd_per_h", u, p) * 100.0, run_usd, rtol=1e-9)


def test_spot_price_only_when_spot_ok() -> None:
    sc = scenario(
        [fra(), osl()],
        [train(id="ondemand"), train(id="spot", spot_ok=True)],
    )
    problem, _, units, pools = compiled(sc)
    f, o = pools["fra/H100-SXM"], pools["osl/H100-SXM"]
    # spot_ok at fra: 32 x min(2.0, 0.8) = 25.6 + 9.8577024 energy = 35.4577024 USD/h.
    np.testing.assert_allclose(
        at(problem, "cost_usd_per_h", units["spot"], f), 35.4577024, rtol=RTOL
    )
    # not spot_ok: list price, 73.8577024 USD/h.
    np.testing.assert_allclose(
        at(problem, "cost_usd_per_h", units["ondemand"], f), 73.8577024, rtol=RTOL
    )
    # spot_ok but osl has no spot price: 32 x 3.0 = 96 USD/h.
    np.testing.assert_allclose(at(problem, "cost_usd_per_h", units["spot"], o), 96.0, rtol=RTOL)


# ---- inference ---------------------------------------------------------------------------


def l4_site(**over: Any) -> dict[str, Any]:
    """fra with 32 L4 at 0.5 USD/GPU-h."""
    return fra(pools=[{"accelerator": "L4", "gpus": 32, "cost_usd_per_gpu_h": 0.5}], **over)


def test_inference_pair_every_coefficient() -> None:
    sc = scenario([l4_site()], [chat()], [DE])
    problem, index, u, p = pair(sc, "chat/de", "fra/L4")
    assert allowed_table(problem)[u, p]
    # replicas = ceil(50 rps / 15 rps) = ceil(3.33) = 4; GPUs = 4 x 2 = 8.
    assert index.replicas_uk[u, slot(problem, u, p)] == 4
    assert at(problem, "gpus", u, p) == 8
    # it_kw: 8 x 0.1296 = 1.0368 kW; facility 1.0368 x 1.3 = 1.34784 kW.
    np.testing.assert_allclose(at(problem, "it_kw", u, p), 1.0368, rtol=RTOL)
    np.testing.assert_allclose(at(problem, "facility_kw", u, p), 1.34784, rtol=RTOL)
    # utilization = 50 / (4 x 15) = 5/6; mean = 1.0368 x (0.3 + 0.7 x 5/6) = 0.91584 kW.
    # water: 0.91584 x 1.8 = 1.648512 L/h.
    np.testing.assert_allclose(at(problem, "water_l_per_h", u, p), 1.648512, rtol=RTOL)
    # cost: 8 x 0.5 = 4 + 0.91584 x 1.3 x 0.2 (= 0.2381184) = 4.2381184 USD/h.
    np.testing.assert_allclose(at(problem, "cost_usd_per_h", u, p), 4.2381184, rtol=RTOL)
    # carbon: 0.91584 x 1.3 x 350 / 1000 = 0.4167072 kg/h.
    np.testing.assert_allclose(at(problem, "carbon_kg_per_h", u, p), 0.4167072, rtol=RTOL)
    # latency: the region sits on the site, distance 0 -> the 4.0 ms overhead.
    np.testing.assert_allclose(at(problem, "latency_ms", u, p), 4.0, rtol=RTOL)
    assert index.hours_uk[u, slot(problem, u, p)] == 0
    assert problem.group_u[u] == -1


def test_redundancy_copies_are_sized_to_survive_failures() -> None:
    # 3 copies surviving 1 failure: each copy carries 50 / (3 - 1) = 25 rps
    #   -> ceil(25 / 15) = 2 replicas = 4 GPUs each.
    red = {"copies": 3, "survive_failures": 1}
    problem, index, units, pools = compiled(scenario([l4_site()], [chat(redundancy=red)], [DE]))
    assert sorted(units) == ["chat/de#0", "chat/de#1", "chat/de#2"]
    p = pools["fra/L4"]
    for name in ("chat/de#0", "chat/de#1", "chat/de#2"):
        u = units[name]
        assert index.replicas_uk[u, slot(problem, u, p)] == 2
        assert at(problem, "gpus", u, p) == 4
        # mean load: 50 / 3 rps per copy over 2 x 15 rps = 0.5556 utilization;
        # it 4 x 0.1296 = 0.5184 kW; mean 0.5184 x (0.3 + 0.7 x 5/9) = 0.3571200 kW;
        # cost 4 x 0.5 + 0.35712 x 1.3 x 0.2 = 2.0928512 USD/h.
        np.testing.assert_allclose(at(problem, "cost_usd_per_h", u, p), 2.0928512, rtol=RTOL)
    # the copies form one redundancy group spread over sites.
    assert len({int(problem.group_u[units[n]]) for n in units}) == 1
    assert problem.num_groups == 1


def test_redundancy_default_survives_all_but_one() -> None:
    # copies 3, survive_failures default 3 - 1 = 2: each copy carries all 50 rps -> 4 replicas.
    problem, index, units, pools = compiled(
        scenario([l4_site()], [chat(redundancy={"copies": 3})], [DE])
    )
    for name in ("chat/de#0", "chat/de#1", "chat/de#2"):
        assert index.replicas_uk[units[name], slot(problem, units[name], pools["fra/L4"])] == 4
        assert at(problem, "gpus", units[name], pools["fra/L4"]) == 8


def test_value_is_split_across_regions_and_copies() -> None:
    # 90 USD/h over 75 rps (de 50, fr 25; us 0 has no unit), 3 copies:
    #   de copies 90 x 50/75 / 3 = 20 USD/h each, fr copies 90 x 25/75 / 3 = 10 each.
    w = chat(
        demand_rps={"de": 50, "fr": 25, "us": 0},
        redundancy={"copies": 3, "survive_failures": 1},
        value_usd_per_h=90,
        must_place=False,
        latency_slo_ms=100,
    )
    problem, _, units, _ = compiled(scenario([l4_site()], [w], [DE, FR, US]))
    assert sorted(units) == [f"chat/{r}#{c}" for r in ("de", "fr") for c in range(3)]
    for c in range(3):
        np.testing.assert_allclose(problem.unplaced_usd_per_h_u[units[f"chat/de#{c}"]], 20.0)
        np.testing.assert_allclose(problem.unplaced_usd_per_h_u[units[f"chat/fr#{c}"]], 10.0)
    # all of it adds back up to the workload's value; none is must-place.
    np.testing.assert_allclose(problem.unplaced_usd_per_h_u.sum(), 90.0, rtol=RTOL)
    assert not problem.must_place_u.any()
    # one group per region.
    assert problem.num_groups == 2


def test_spread_keys_by_site_and_failure_domain() -> None:
    sites = [l4_site(failure_domain="campus"), l4_site(id="fra2", failure_domain="campus"), osl()]
    w_site = chat(id="a", redundancy={"copies": 2})
    w_dom = chat(id="b", redundancy={"copies": 2, "spread": "failure_domain"})
    problem, _, units, pools = compiled(scenario(sites, [w_site, w_dom], [DE]))
    ga, gb = problem.group_u[units["a/de#0"]], problem.group_u[units["b/de#0"]]
    f, f2 = pools["fra/L4"], pools["fra2/L4"]
    # spread by site: fra and fra2 differ; by failure domain: both are "campus" (each pool
    # is one option: O == P).
    key_go = problem.spread_key_go
    np.testing.assert_array_equal(problem.pool_o, np.arange(problem.num_pools))
    assert key_go[ga, f] != key_go[ga, f2]
    assert key_go[gb, f] == key_go[gb, f2]
    assert key_go[gb, f] != key_go[gb, pools["osl/H100-SXM"]]


def test_measured_latency_overrides_the_distance_model() -> None:
    sc = scenario(
        [l4_site(), l4_site(id="fra2")],
        [chat()],
        [DE],
        latency_ms=[{"site": "fra", "region": "de", "rtt_ms": 25}],
    )
    problem, _, units, pools = compiled(sc)
    u = units["chat/de"]
    # measured 25 ms > SLO 20 ms: masked for latency, and only for latency (the Problem
    # lists allowed pairs only: the masked pair's latency is what compile's rules give it).
    assert not allowed_table(problem)[u, pools["fra/L4"]]
    assert rule_figures(sc)["latency"][u, pools["fra/L4"]] == 25
    assert reasons(sc, u)[pools["fra/L4"]] == R_LATENCY
    # fra2 sits at the same point and has no measurement: the model's 4.0 ms.
    np.testing.assert_allclose(at(problem, "latency_ms", u, pools["fra2/L4"]), 4.0, rtol=RTOL)
    assert allowed_table(problem)[u, pools["fra2/L4"]]


def test_distance_model_one_degree_on_the_equator() -> None:
    site = l4_site(id="eq", location={"lat": 0.0, "lon": 1.0, "country": "GA"})
    region = {"id": "de", "location": {"lat": 0.0, "lon": 0.0, "country": "GA"}}
    problem, _, u, p = pair(scenario([site], [chat()], [region]), "chat/de", "eq/L4")
    # 1 degree of a 6,371 km sphere = 111.19493 km; RTT = 4.0 ms overhead
    #   + 2 x 111.19493 km x route factor 1.8 / 200 km/ms = 4.0 + 2.0015087 = 6.0015087 ms.
    np.testing.assert_allclose(
        at(problem, "latency_ms", u, p), 4.0 + 2 * 6371 * math.pi / 180 * 1.8 / 200, rtol=1e-12
    )
    np.testing.assert_allclose(at(problem, "latency_ms", u, p), 6.0015087, rtol=1e-7)


# ---- capacities --------------------------------------------------------------------------


def test_capacities_with_headroom() -> None:
    sc = scenario(
        [fra(), osl()],
        [train()],
        objective={"max_utilization": 0.8, "budget_usd_per_h": 500, "carbon_cap_kg_per_h": 40},
    )
    problem, index, _, _ = compiled(sc)
    assert index.sites == ("fra", "osl")
    # GPUs: floor(64 x 0.8) = floor(51.2) = 51 in each pool.
    np.testing.assert_array_equal(caps(problem, K_GPUS), [51, 51])
    # IT: fra 500 x 0.8 = 400 kW, osl 2000 x 0.8 = 1600 kW.
    np.testing.assert_allclose(caps(problem, K_IT), [400, 1600], rtol=RTOL)
    # grid: fra 600 x 0.8 = 480 kW; osl has no grid cap -> inf.
    np.testing.assert_allclose(caps(problem, K_FACILITY), [480, np.inf], rtol=RTOL)
    # heat: fra 450 x 0.8 = 360 kW; osl defaults to its IT capacity, 2000 x 0.8 = 1600 kW.
    np.testing.assert_allclose(caps(problem, K_HEAT), [360, 1600], rtol=RTOL)
    # water: fra 24,000 L/day / 24 h = 1,000 L/h x 0.8 = 800 L/h; osl none -> inf.
    np.testing.assert_allclose(caps(problem, K_WATER), [800, np.inf], rtol=RTOL)
    # global caps are not scaled by headroom.
    assert global_cap(problem, K_BUDGET) == 500
    assert global_cap(problem, K_CARBON) == 40
    assert not bool(problem.lexicographic)
    np.testing.assert_array_equal(problem.pool_site_p, [0, 1])


def test_capacities_without_headroom_or_caps() -> None:
    problem, _, _, _ = compiled(scenario([osl()], [train()], objective={"mode": "lexicographic"}))
    # no headroom: 64 GPUs, 2000 kW; no grid, water, budget or carbon cap: inf.
    np.testing.assert_array_equal(caps(problem, K_GPUS), [64])
    np.testing.assert_array_equal(caps(problem, K_IT), [2000])
    assert np.isinf(caps(problem, K_FACILITY)).all()
    assert np.isinf(caps(problem, K_WATER)).all()
    assert np.isinf(global_cap(problem, K_BUDGET))
    assert np.isinf(global_cap(problem, K_CARBON))
    assert bool(problem.lexicographic)


def test_cloud_site_without_it_capacity_is_uncapped() -> None:
    site = osl(power={"pue": 1.1, "carbon_g_per_kwh": 20})
    problem, _, u, p = pair(scenario([site], [train(gpus=64)]), "train", "osl/H100-SXM")
    # no IT capacity: IT and heat caps are inf; the 64-GPU pool is the only limit.
    assert np.isinf(caps(problem, K_IT)).all()
    assert np.isinf(caps(problem, K_HEAT)).all()
    assert allowed_table(problem)[u, p]
    # 64 x 1.274 = 81.536 kW IT, x 1.1 = 89.6896 kW facility.
    np.testing.assert_allclose(at(problem, "facility_kw", u, p), 89.6896, rtol=RTOL)


def test_cloud_sites_skip_cooling_and_rack_checks() -> None:
    # GB200 (liquid, 1.74 x 8 x 4 = 55.68 kW racks) in an air-cooled 40 kW cloud hall: the
    # provider's pool comes with its own cooling, so neither rule applies.
    gb = {"accelerator": "GB200", "gpus": 72, "cost_usd_per_gpu_h": 6.0}
    cloud = scenario(
        [osl(pools=[gb], cooling={"type": "air", "max_rack_density_kw": 40})], [train()]
    )
    problem, _, u, p = pair(cloud, "train", "osl/GB200")
    assert allowed_table(problem)[u, p]
    assert pool_rule_bits(cloud)[p] == 0
    # the same pool on-prem is masked for both (for every unit: pool-level rules).
    onprem = scenario(
        [fra(pools=[gb], cooling={"type": "air", "max_rack_density_kw": 40})], [train()]
    )
    problem, _, u, p = pair(onprem, "train", "fra/GB200")
    assert reasons(onprem, u)[p] == R_COOLING | R_DENSITY
    assert pool_rule_bits(onprem)[p] == R_COOLING | R_DENSITY


def test_residency_group_expands_to_members() -> None:
    # EU covers DE (fra) but not NO (osl); EEA adds NO.
    sc = scenario(
        [fra(), osl()], [train(id="eu", residency=["EU"]), train(id="eea", residency=["EEA"])]
    )
    problem, _, units, pools = compiled(sc)
    assert allowed_table(problem)[units["eu"], pools["fra/H100-SXM"]]
    assert reasons(sc, units["eu"])[pools["osl/H100-SXM"]] == R_RESIDENCY
    assert allowed_table(problem)[units["eea"], pools["osl/H100-SXM"]]


def test_gpu_cap_floor_of_a_fraction() -> None:
    pool = {"accelerator": "H100-SXM", "gpus": 7, "cost_usd_per_gpu_h": 2.0}
    pool10 = {"id": "ten", "accelerator": "H100-SXM", "gpus": 10, "cost_usd_per_gpu_h": 2.0}
    sc = scenario([fra(pools=[pool, pool10])], [train(gpus=1)], objective={"max_utilization": 0.8})
    problem, index, _, _ = compiled(sc)
    assert [p.name for p in index.pools] == ["fra/H100-SXM", "fra/ten"]
    # floor(7 x 0.8) = floor(5.6) = 5; 10 x 0.8 = 8 exactly (not 7 from float error).
    np.testing.assert_array_equal(caps(problem, K_GPUS), [5, 8])


# ---- one test per mask reason ------------------------------------------------------------


def assert_only(sc: Scenario, problem: Problem, u: int, p: int, bit: int) -> None:
    """Pool p is masked for unit u by `bit` alone: not listed, and the unit's reason
    counts hold the pair's bits."""
    assert reasons(sc, u)[p] == bit, REASONS
    assert not allowed_table(problem)[u, p]
    np.testing.assert_array_equal(
        problem.reason_count_ur[u], reason_counts(pair_reasons(sc, [u]))[0]
    )
    assert problem.reason_count_ur[u, list(REASONS).index(bit)] >= 1


def test_every_reason_has_a_test() -> None:
    names = {R_ACCEL, R_MEMORY, R_LATENCY, R_RESIDENCY, R_COOLING, R_DENSITY}
    names |= {R_PIN, R_EXCLUDE, R_DEADLINE, R_SIZE}
    names |= {R_TTFT}  # tests/test_serving.py
    names |= {R_NODE}  # tests/test_nodes.py
    assert names == set(REASONS)


def test_reason_accelerator_training() -> None:
    sc = scenario([fra()], [train(accelerators=["B200"])])
    problem, _, u, p = pair(sc, "train", "fra/H100-SXM")
    assert_only(sc, problem, u, p, R_ACCEL)


def test_reason_accelerator_inference() -> None:
    sc = scenario([fra()], [chat()], [DE])
    problem, _, u, p = pair(sc, "chat/de", "fra/H100-SXM")
    assert_only(sc, problem, u, p, R_ACCEL)
    # a type it cannot serve on occupies nothing (the rules give the masked pair 0 GPUs).
    assert rule_figures(sc)["gpus"][u, p] == 0


def test_reason_memory() -> None:
    # H100-SXM has 80 GB < 100 GB.
    sc = scenario([fra()], [train(min_gpu_memory_gb=100)])
    problem, _, u, p = pair(sc, "train", "fra/H100-SXM")
    assert_only(sc, problem, u, p, R_MEMORY)
    # exactly 80 GB is enough.
    problem, _, u, p = pair(
        scenario([fra()], [train(min_gpu_memory_gb=80)]), "train", "fra/H100-SXM"
    )
    assert allowed_table(problem)[u, p]


def test_reason_latency() -> None:
    # fra <-> fr (Paris): ~480 km -> 4 + 2 x 479 x 1.8 / 200 = ~12.6 ms > SLO 10 ms (the
    # masked pair's latency: what compile's rules give it).
    sc = scenario([l4_site()], [chat(demand_rps={"fr": 50}, latency_slo_ms=10)], [FR])
    problem, _, u, p = pair(sc, "chat/fr", "fra/L4")
    assert 12 < rule_figures(sc)["latency"][u, p] < 13
    assert_only(sc, problem, u, p, R_LATENCY)


def test_reason_residency() -> None:
    sc = scenario([fra()], [train(residency=["NO"])])
    problem, _, u, p = pair(sc, "train", "fra/H100-SXM")
    assert_only(sc, problem, u, p, R_RESIDENCY)
    problem, _, u, p = pair(
        scenario([fra()], [train(residency=["NO", "DE"])]), "train", "fra/H100-SXM"
    )
    assert allowed_table(problem)[u, p]


def test_reason_cooling_type() -> None:
    # GB200 needs liquid; fra is air. Its racks: 1.74 kW x 8 x 4 = 55.68 kW <= 100 kW.
    gb = {"accelerator": "GB200", "gpus": 72, "cost_usd_per_gpu_h": 5.0}
    sc = scenario([fra(pools=[gb])], [train()])
    problem, _, u, p = pair(sc, "train", "fra/GB200")
    assert_only(sc, problem, u, p, R_COOLING)
    liquid = fra(pools=[gb], cooling={"type": "liquid", "max_rack_density_kw": 100})
    problem, _, u, p = pair(scenario([liquid], [train()]), "train", "fra/GB200")
    assert allowed_table(problem)[u, p]


def test_reason_rack_density() -> None:
    # default 40 kW racks; H100-SXM racks: 1.274 kW x 8 GPUs x 4 nodes = 40.768 kW > 40.
    sc = scenario([fra(cooling={"type": "air"})], [train()])
    problem, _, u, p = pair(sc, "train", "fra/H100-SXM")
    assert_only(sc, problem, u, p, R_DENSITY)
    # the same pool in 3-node racks: 1.274 x 8 x 3 = 30.576 kW fits.
    pool = {"accelerator": "H100-SXM", "gpus": 64, "cost_usd_per_gpu_h": 2.0, "nodes_per_rack": 3}
    problem, _, u, p = pair(
        scenario([fra(pools=[pool], cooling={})], [train()]), "train", "fra/H100-SXM"
    )
    assert allowed_table(problem)[u, p]


def test_reason_pin() -> None:
    sc = scenario([fra(), osl()], [train(pin_sites=["osl"])])
    problem, _, units, pools = compiled(sc)
    assert_only(sc, problem, units["train"], pools["fra/H100-SXM"], R_PIN)
    assert allowed_table(problem)[units["train"], pools["osl/H100-SXM"]]


def test_reason_exclude() -> None:
    sc = scenario([fra(), osl()], [train(exclude_sites=["fra"])])
    problem, _, units, pools = compiled(sc)
    assert_only(sc, problem, units["train"], pools["fra/H100-SXM"], R_EXCLUDE)
    assert allowed_table(problem)[units["train"], pools["osl/H100-SXM"]]


def test_reason_deadline() -> None:
    # 100 h on the reference H100 > 50 h deadline; 43.96 h on B200 meets it.
    b200 = {"accelerator": "B200", "gpus": 64, "cost_usd_per_gpu_h": 4.0}
    sc = scenario(
        [fra(pools=[fra()["pools"][0], b200])],
        [train(accelerators=["H100-SXM", "B200"], deadline_hours=50)],
    )
    problem, _, units, pools = compiled(sc)
    assert_only(sc, problem, units["train"], pools["fra/H100-SXM"], R_DEADLINE)
    assert allowed_table(problem)[units["train"], pools["fra/B200"]]


def test_reason_size_gpus() -> None:
    # 128 GPUs > the pool's 64.
    sc = scenario([fra()], [train(gpus=128)])
    problem, _, u, p = pair(sc, "train", "fra/H100-SXM")
    assert_only(sc, problem, u, p, R_SIZE)


def test_reason_size_it_power() -> None:
    # 32 GPUs x 1.274 kW = 40.768 kW > a 40 kW site.
    site = fra(power={"it_capacity_kw": 40, "pue": 1.3, "carbon_g_per_kwh": 350})
    sc = scenario([site], [train()])
    problem, _, u, p = pair(sc, "train", "fra/H100-SXM")
    assert_only(sc, problem, u, p, R_SIZE)


def test_reasons_combine_bitwise() -> None:
    sc = scenario([fra()], [train(residency=["NO"], exclude_sites=["fra"], gpus=128)])
    problem, _, u, p = pair(sc, "train", "fra/H100-SXM")
    assert reasons(sc, u)[p] == R_RESIDENCY | R_EXCLUDE | R_SIZE
    assert not allowed_table(problem)[u, p]
    # each of the three bits counts the pool once in the unit's reason counts.
    for bit in (R_RESIDENCY, R_EXCLUDE, R_SIZE):
        assert problem.reason_count_ur[u, list(REASONS).index(bit)] == 1


# ---- order and names ---------------------------------------------------------------------


def _mixed_scenario_data() -> dict[str, Any]:
    b200 = {"accelerator": "B200", "gpus": 16, "cost_usd_per_gpu_h": 4.0}
    l4 = {"accelerator": "L4", "gpus": 32, "cost_usd_per_gpu_h": 0.5}
    spot = {"id": "h100-spot", "accelerator": "H100-SXM", "gpus": 8, "cost_usd_per_gpu_h": 1.0}
    return {
        "apiVersion": "placer/v1",
        "kind": "Scenario",
        "sites": [
            osl(pools=[spot, l4, osl()["pools"][0]]),
            fra(pools=[b200, l4, fra()["pools"][0]]),
            l4_site(id="ams", location={"lat": 52.37, "lon": 4.9, "country": "NL"}),
        ],
        "user_regions": [FR, DE, US],
        "workloads": [
            chat(id="zeta", demand_rps={"us": 5, "de": 50, "fr": 0}, latency_slo_ms=200),
            train(id="beta", accelerators=["H100-SXM", "B200"]),
            chat(
                id="alpha",
                demand_rps={"fr": 10, "de": 20},
                redundancy={"copies": 2},
                latency_slo_ms=30,
            ),
        ],
        "objective": {"carbon_price_usd_per_t": 80, "water_price_usd_per_m3": 1.5},
    }


def test_units_and_pools_are_named_and_sorted() -> None:
    problem, index = compile_problem(Scenario.model_validate(_mixed_scenario_data()))
    assert [u.name for u in index.units] == [
        "alpha/de#0",
        "alpha/de#1",
        "alpha/fr#0",
        "alpha/fr#1",
        "beta",
        "zeta/de",
        "zeta/us",
    ]
    unit = index.units[2]
    assert (unit.workload, unit.kind, unit.region, unit.copy, unit.copies) == (
        "alpha",
        "inference",
        "fr",
        0,
        2,
    )
    # copies=2, survive 1: each copy carries 10 / (2 - 1) = 10 rps alone.
    assert unit.demand_rps == 10
    assert (index.units[4].kind, index.units[4].region) == ("training", None)
    assert [p.name for p in index.pools] == [
        "ams/L4",
        "fra/B200",
        "fra/H100-SXM",
        "fra/L4",
        "osl/H100-SXM",
        "osl/L4",
        "osl/h100-spot",
    ]
    spot = index.pools[-1]
    assert (spot.site, spot.key, spot.accelerator) == ("osl", "h100-spot", "H100-SXM")
    assert index.sites == ("ams", "fra", "osl")
    np.testing.assert_array_equal(problem.pool_site_p, [0, 1, 1, 1, 2, 2, 2])
    assert (problem.num_units, problem.num_options) == (7, 7)
    assert allowed_table(problem).shape == (7, 7)


def _shuffled(data: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    data = copy.deepcopy(data)
    for key in ("sites", "user_regions", "workloads"):
        rng.shuffle(data[key])
    for site in data["sites"]:
        rng.shuffle(site["pools"])
    for w in data["workloads"]:
        if "demand_rps" in w:
            items = list(w["demand_rps"].items())
            rng.shuffle(items)
            w["demand_rps"] = dict(items)
    return data


@pytest.mark.parametrize("seed", range(5))
def test_input_order_does_not_change_the_arrays(seed: int) -> None:
    data = _mixed_scenario_data()
    ref_problem, ref_index = compile_problem(Scenario.model_validate(data))
    problem, index = compile_problem(Scenario.model_validate(_shuffled(data, random.Random(seed))))
    for name, ref in ref_problem._asdict().items():
        np.testing.assert_array_equal(getattr(problem, name), ref, err_msg=name)
    assert index.units == ref_index.units
    assert index.pools == ref_index.pools
    assert index.sites == ref_index.sites
    np.testing.assert_array_equal(index.replicas_uk, ref_index.replicas_uk)
    np.testing.assert_array_equal(index.hours_uk, ref_index.hours_uk)


@pytest.mark.parametrize("chunk_cells", [1, 7, 20])
def test_chunk_size_does_not_change_the_arrays(chunk_cells: int) -> None:
    # 7 units x 7 pools: chunks of one unit (1 and 7 cells) or of two (20 cells: the last
    # chunk holds one), against the default (one chunk).
    sc = Scenario.model_validate(_mixed_scenario_data())
    ref_problem, ref_index = compile_problem(sc)
    problem, index = compile_problem(sc, chunk_cells=chunk_cells)
    for name, ref in ref_problem._asdict().items():
        np.testing.assert_array_equal(getattr(problem, name), ref, err_msg=name)
    assert index.units == ref_index.units
    assert index.pools == ref_index.pools
    np.testing.assert_array_equal(index.replicas_uk, ref_index.replicas_uk)
    np.testing.assert_array_equal(index.hours_uk, ref_index.hours_uk)


def test_dtypes_and_shapes() -> None:
    sc = Scenario.model_validate(_mixed_scenario_data())
    problem, index = compile_problem(sc)
    n_u, n_p, n_s = 7, 7, 3
    n_k = problem.num_slots
    # each unit's options sit in ascending slots, -1 after them; K is the longest list.
    option_uk = problem.option_uk
    assert option_uk.dtype == np.int32 and option_uk.shape == (n_u, n_k)
    listed = option_uk >= 0
    assert n_k == listed.sum(axis=1).max()
    np.testing.assert_array_equal(np.sort(listed, axis=1)[:, ::-1], listed)  # no gaps
    assert (np.diff(np.where(listed, option_uk, n_p), axis=1) > 0)[listed[:, 1:]].all()
    for name in ("objective_usd_per_h_uk", "latency_ms_uk"):
        arr = getattr(problem, name)
        assert arr.shape == (n_u, n_k) and arr.dtype == np.float64, name
    assert problem.amount_quk.shape == (len(QUANTITIES), n_u, n_k)
    assert problem.amount_quk.dtype == np.float64
    assert problem.reason_count_ur.shape == (n_u, NUM_REASONS)
    assert problem.reason_count_ur.dtype == np.int32
    reason_up = pair_reasons(sc, range(n_u))
    assert reason_up.shape == (n_u, n_p) and reason_up.dtype == np.uint16
    # rows: P pool GPU rows, 4 per site, budget, carbon; 7 terms per option.
    n_r = n_p + 4 * n_s + 2
    assert problem.cap_r.shape == (n_r,) and problem.cap_r.dtype == np.float64
    assert problem.kind_r.dtype == np.int8 and problem.scope_r.dtype == np.int32
    assert problem.row_oj.shape == (n_p, len(STANDARD_TERMS))
    assert problem.row_oj.dtype == np.int32 and problem.quantity_oj.dtype == np.int8
    assert caps(problem, K_IT).shape == (n_s,)
    assert caps(problem, K_GPUS).shape == (n_p,)
    assert index.replicas_uk.dtype == np.int32 and index.replicas_uk.shape == (n_u, n_k)
    assert index.hours_uk.dtype == np.float64 and index.hours_uk.shape == (n_u, n_k)
    # allowed is exactly "no reason", and the unit's reason counts are its pairs' bits;
    # objective = cost + priced carbon + priced water.
    np.testing.assert_array_equal(allowed_table(problem), reason_up == 0)
    np.testing.assert_array_equal(problem.reason_count_ur, reason_counts(reason_up))
    amount = dict(zip(QUANTITIES, problem.amount_quk, strict=True))
    np.testing.assert_allclose(
        problem.objective_usd_per_h_uk,
        amount["cost_usd_per_h"]
        + 80 * amount["carbon_kg_per_h"] / 1000
        + 1.5 * amount["water_l_per_h"] / 1000,
        rtol=RTOL,
    )


def test_empty_workloads_and_empty_pools() -> None:
    problem, index = compile_problem(scenario([fra(pools=[])], []))
    assert (problem.num_units, problem.num_options) == (0, 0)
    assert allowed_table(problem).shape == (0, 0)
    assert index.sites == ("fra",)
    assert problem.num_sites == 1
    assert problem.num_groups == 0
