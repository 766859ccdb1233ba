"""Seeded synthetic timed fleets (a horizon of periods) for benchmarks and tests.

`generate_timed_scenario(units=1000, pools=50, periods=168, seed=1)` builds the fleet of
`placer.model.generate` (real metros, the default catalog) over hourly periods, with
prices and carbon that follow a daily cycle (a synthetic shape: the real series are in
`configs/time/`), a grid event at one on-prem site, deferrable training runs with 24-48 h
of slack, and inference services whose demand follows a daily profile. `units` counts
placement units after expansion in time: ~30% are training runs, the rest are the
per-period units of the services (one per service and period).
"""

from __future__ import annotations

import math

import numpy as np

from placer.model.generate import METROS, SERVING, _sites, served_metros
from placer.model.scenario import Scenario

#: A daily demand shape (hour of the day, UTC -> factor): a working-day peak and a night
#: trough, the usual form of interactive traffic. An assumption of the generator.
_DAY = tuple(0.45 + 0.55 * math.sin(math.pi * max(0.0, (h - 6) / 16.0)) ** 2 for h in range(24))


def generate_timed_scenario(
    units: int = 1000,
    pools: int = 50,
    periods: int = 168,
    seed: int = 0,
    fill: float = 0.6,
    period_hours: float = 1.0,
) -> Scenario:
    """A random timed fleet with about `units` placement units, `pools` pools and
    `periods` periods; the same arguments give the same scenario."""
    rng = np.random.default_rng(seed)
    horizon_h = periods * period_hours
    sites = _sites(rng, pools)
    for site in sites:
        power = site["power"]
        lon = site["location"]["lon"]
        phase = lon / 15.0  # local solar hour offset
        hours = np.arange(periods) * period_hours
        local = (hours + phase) % 24
        solar = np.clip(np.sin(np.pi * (local - 6) / 12), 0, None)
        base_c = power["carbon_g_per_kwh"]
        power["carbon_g_per_kwh"] = [
            round(float(c), 1)
            for c in base_c * (1.15 - 0.45 * solar) * rng.uniform(0.95, 1.05, periods)
        ]
        if power["price_usd_per_kwh"] > 0:
            base_p = power["price_usd_per_kwh"]
            evening = np.exp(-(((local - 19) % 24 - 0) ** 2) / 8.0)
            power["price_usd_per_kwh"] = [
                round(float(p), 4)
                for p in base_p
                * (0.8 + 0.5 * evening - 0.2 * solar)
                * rng.uniform(0.9, 1.1, periods)
            ]
    onprem = [s for s in sites if s["tier"] == "onprem"]
    if onprem and horizon_h > 6:
        site = onprem[int(rng.integers(len(onprem)))]
        start_h = float(rng.integers(0, max(1, int(horizon_h) - 3)))
        site["grid_events"] = [
            {"name": "demand-response", "start": _instant(start_h), "hours": 3.0, "cut_pct": 25.0}
        ]
    regions = [
        {"id": f"{m}-users", "location": {"lat": lat, "lon": lon, "country": cc}}
        for m, lat, lon, cc in METROS
    ]
    total_gpus = sum(p["gpus"] for s in sites for p in s["pools"])
    workloads = _timed_workloads(rng, units, periods, period_hours, total_gpus * fill, sites)
    data = {
        "apiVersion": "placer/v1",
        "kind": "Scenario",
        "metadata": {
            "name": f"gen-time-{units}x{pools}x{periods}-s{seed}",
            "description": "placer.model.generate_time synthetic timed fleet",
        },
        "horizon": {"start": _instant(0.0), "period_hours": period_hours, "periods": periods},
        "sites": sites,
        "user_regions": regions,
        "workloads": workloads,
        "objective": {"carbon_price_usd_per_t": 80.0},
    }
    return Scenario.model_validate(data)


def _instant(hours: float) -> str:
    """Hours after the generator's horizon start (Mon 2022-06-13 00:00 UTC), ISO 8601."""
    import datetime as dt

    start = dt.datetime(2022, 6, 13, tzinfo=dt.UTC)
    return (start + dt.timedelta(hours=hours)).isoformat()


def _timed_workloads(rng, n_units: int, periods: int, period_hours: float, gpu_budget, sites):
    horizon_h = periods * period_hours
    n_train = max(1, int(n_units * 0.3))
    n_services = max(1, (n_units - n_train) // periods)
    big = ["H100-SXM", "H200", "B200", "MI300X", "A100-80GB"]
    out: list[dict] = []
    per_train = gpu_budget * 0.5 / max(1.0, n_train * 0.25)  # ~1/4 of runs overlap in time
    for i in range(n_train):
        gpus = int(max(8, min(1024, round(per_train * rng.uniform(0.3, 1.7) / 8) * 8)))
        hours = float(rng.integers(2, max(3, min(25, int(horizon_h * 0.6)))))
        slack = float(rng.integers(24, 49)) if horizon_h >= hours + 24 else 0.0
        latest_start = max(0.0, horizon_h - hours - slack)
        earliest = float(rng.integers(0, int(latest_start) + 1)) if latest_start >= 1 else 0.0
        accs = list(rng.choice(big, size=int(rng.integers(2, len(big) + 1)), replace=False))
        w = {
            "id": f"train-{i:05d}",
            "kind": "training",
            "gpus": gpus,
            "accelerators": [str(a) for a in accs],
            "hours": hours,
            "utilization": round(float(rng.uniform(0.7, 0.95)), 2),
            "earliest_start": _instant(earliest),
            "deadline": _instant(min(horizon_h, earliest + hours * 1.6 + slack)),
            "must_place": False,
            "value_usd_per_h": round(gpus * float(rng.uniform(4, 9)), 2),
        }
        out.append(w)
    metros = served_metros(sites)
    per_service = gpu_budget * 0.4 / n_services
    for i in range(n_services):
        metro = metros[int(rng.integers(len(metros)))]
        replicas = max(1.0, per_service * rng.uniform(0.3, 1.7))
        w = {
            "id": f"infer-{i:05d}",
            "kind": "inference",
            "demand_rps": {f"{metro}-users": round(float(replicas * 5.0), 2)},
            "demand_profile": [round(f, 3) for f in _DAY],
            "serving": SERVING,
            "latency_slo_ms": float(rng.choice([40.0, 60.0, 100.0])),
            "must_place": False,
            "value_usd_per_h": round(float(replicas * 5 * 2.0), 2),
        }
        out.append(w)
    return out
