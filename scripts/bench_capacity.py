"""Capacity-planning benchmark: `"bench": "capacity"` JSON lines (../shared/BENCHMARKS.md).

For configs/capacity/us_build.yaml (real data) and a generated fleet of >= 50 sites x 36
months x >= 20 build options: the plan's net present cost, both baselines', the bound,
the gap, wall time and peak RSS; and us_build under three futures (the Dallas grid on
time, 6 months late, 12 months late with demand +30%) as a two-stage plan. Usage:
python scripts/bench_capacity.py [--quick] [--seed N] [--time-limit-s S]. Each line is
one instance; a summary goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

from placer.capacity.plan import plan_capacity
from placer.model.build_options import PlanningScenario
from placer.model.generate import METROS
from placer.model.load import load_scenario
from placer.model.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "configs" / "capacity" / "us_build.yaml"


def generated(sites: int = 50, months: int = 36, seed: int = 0) -> Scenario:
    """A seeded fleet: 80% on-prem halls with one H100 pool each, 20% cloud regions;
    one growing service per metro region; GPU, power and cooling builds at the halls and
    1- and 3-year commitments in the clouds (synthetic figures in the ranges of
    configs/capacity/us_build.yaml)."""
    rng = np.random.default_rng(seed)
    metros = [METROS[i % len(METROS)] for i in range(sites)]
    n_cloud = max(1, sites // 5)
    doc_sites, options, regions, workloads = [], [], [], []
    for i, (name, lat, lon, country) in enumerate(metros):
        loc = {"lat": lat + 0.01 * i, "lon": lon, "country": country}
        sid = f"s{i:02d}-{name}"
        if i < n_cloud:
            doc_sites.append(
                {
                    "id": sid,
                    "tier": "cloud",
                    "location": loc,
                    "power": {"pue": 1.1, "carbon_g_per_kwh": 300},
                    "pools": [
                        {
                            "accelerator": "H100-SXM",
                            "gpus": 1024,
                            "cost_usd_per_gpu_h": round(rng.uniform(5.5, 7.5), 2),
                        }
                    ],
                }
            )
            if len(options) < 8:
                for term, price in ((12, 4.4), (36, 3.0)):
                    options.append(
                        {
                            "id": f"{sid}-c{term}",
                            "kind": "cloud_commit",
                            "site": sid,
                            "pool": "H100-SXM",
                            "gpus": 8,
                            "term_months": term,
                            "committed_usd_per_gpu_h": price,
                            "max_units": 8,
                        }
                    )
            continue
        it_kw = float(rng.choice([150, 300, 600]))
        doc_sites.append(
            {
                "id": sid,
                "tier": "onprem",
                "location": loc,
                "power": {
                    "it_capacity_kw": it_kw,
                    "pue": 1.3,
                    "price_usd_per_kwh": round(rng.uniform(0.04, 0.15), 4),
                    "carbon_g_per_kwh": 300,
                },
                "cooling": {"type": "air", "max_rack_density_kw": 45, "heat_rejection_kw": it_kw},
                "pools": [
                    {
                        "accelerator": "H100-SXM",
                        "gpus": int(rng.choice([8, 16, 32])),
                        "node_power_kw": 10.2,
                        "cost_usd_per_gpu_h": 0.0,
                    }
                ],
            }
        )
        if i % 3 == 0:
            options.append(
                {
                    "id": f"{sid}-gpu",
                    "kind": "gpus",
                    "site": sid,
                    "accelerator": "H100-SXM",
                    "nodes": 2,
                    "node_power_kw": 10.2,
                    "capex_usd": 700000,
                    "fixed_opex_usd_per_month": 5000,
                    "lead_time_months": int(rng.integers(2, 5)),
                    "max_units": 4,
                }
            )
        if i % 6 == 1:
            options.append(
                {
                    "id": f"{sid}-pow",
                    "kind": "power",
                    "site": sid,
                    "it_kw": 200,
                    "capex_usd": 2000000,
                    "lead_time_months": int(rng.integers(4, 10)),
                    "max_units": 1,
                }
            )
        if i % 12 == 2:
            options.append(
                {
                    "id": f"{sid}-liq",
                    "kind": "cooling",
                    "site": sid,
                    "max_rack_density_kw": 120,
                    "heat_rejection_kw": 200,
                    "capex_usd": 400000,
                    "lead_time_months": 3,
                }
            )
        if i % 5 == 0:
            rid = f"r-{sid}"
            regions.append({"id": rid, "location": loc})
            workloads.append(
                {
                    "id": f"svc-{sid}",
                    "kind": "inference",
                    "demand_rps": {rid: round(float(rng.uniform(80, 300)), 1)},
                    "serving": {"H100-SXM": {"rps_per_replica": 16}},
                    "latency_slo_ms": 40,
                }
            )
    growth = {
        w["id"]: {"rate_per_month": round(float(rng.uniform(0.01, 0.05)), 3)} for w in workloads
    }
    doc = {
        "apiVersion": "placer/v1",
        "kind": "Scenario",
        "metadata": {"name": f"gen-cap-{sites}x{months}-s{seed}"},
        "horizon": {"start": "2026-01-01T00:00:00+00:00", "period_hours": 730, "periods": months},
        "planning": {"discount_rate_per_year": 0.08, "demand_growth": growth},
        "user_regions": regions,
        "sites": doc_sites,
        "workloads": workloads,
        "build_options": options,
    }
    return Scenario.model_validate(doc)


def with_futures(scenario: Scenario) -> Scenario:
    """us_build with three planning scenarios (the Dallas grid connection late, demand up)."""
    planning = scenario.planning.model_copy(
        update={
            "scenarios": [
                PlanningScenario(name="on-time", probability=0.5),
                PlanningScenario(
                    name="grid-6m-late", probability=0.3, delay_months={"dfw-campus": 6}
                ),
                PlanningScenario(
                    name="grid-12m-late-busy",
                    probability=0.2,
                    delay_months={"dfw-campus": 12},
                    demand_factor=1.3,
                ),
            ]
        }
    )
    return scenario.model_copy(update={"planning": planning})


def measure(name: str, scenario: Scenario, time_limit_s: float, gap: float) -> dict:
    started = time.perf_counter()
    cp = plan_capacity(scenario, time_limit_s=time_limit_s, relative_gap=gap)
    wall = time.perf_counter() - started
    p = cp.plan
    return {
        "bench": "capacity",
        "instance": name,
        "sites": len(scenario.sites),
        "months": cp.months,
        "build_options": len(scenario.build_options),
        "variables": p.variables,
        "constraints": p.constraints,
        "status": p.status,
        "cost_npv_usd": p.cost_npv_usd,
        "baseline_cloud_cost_npv_usd": cp.baseline_cloud.cost_npv_usd,
        "baseline_cloud_status": cp.baseline_cloud.status,
        "baseline_onprem_cost_npv_usd": cp.baseline_onprem.cost_npv_usd,
        "baseline_onprem_status": cp.baseline_onprem.status,
        "bound": p.bound_npv_usd,
        "gap": p.gap,
        "plan_wall_s": p.wall_s,
        "wall_s": round(wall, 3),
        "time_limit_s": time_limit_s,
        "purchases": len(p.purchases),
        **_two_stage(cp.two_stage),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": {"cpus": os.cpu_count()},
    }


def _two_stage(ts) -> dict:
    """The two-stage plan's figures (none without planning scenarios)."""
    if ts is None:
        return {}
    as_written = next(c for c in ts.candidates if c.name == "as-written plan")
    return {
        "two_stage_status": ts.status,
        "two_stage_expected_npv_usd": ts.expected_cost_npv_usd,
        "two_stage_gap": ts.gap,
        "two_stage_variables": ts.variables,
        "two_stage_wall_s": ts.wall_s,
        "as_written_regret_usd": as_written.regret_usd,
        "vss_usd": ts.vss_usd,
        "evpi_usd": ts.evpi_usd,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="12 months, 20 s (a smoke run).")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit-s", type=float, default=120.0)
    ap.add_argument("--gap", type=float, default=0.01)
    args = ap.parse_args(argv)
    limit = 20.0 if args.quick else args.time_limit_s
    months = 12 if args.quick else 36
    runs = [
        ("us_build", load_scenario(REAL)),
        ("us_build-3-futures", with_futures(load_scenario(REAL))),
        (f"gen-cap-50x{months}-s{args.seed}", generated(50, months, args.seed)),
    ]
    for name, scenario in runs:
        line = measure(name, scenario, limit, args.gap)
        print(json.dumps(line), flush=True)
        print(
            f"{name}: {line['status']} npv {line['cost_npv_usd']} gap {line['gap']} "
            f"in {line['wall_s']} s",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
