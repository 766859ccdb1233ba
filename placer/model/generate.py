"""Seeded synthetic fleets for benchmarks and tests, as real Scenario objects.

`generate_scenario(units=2000, pools=50, seed=1)` builds a fleet whose sites sit in
real metros (coordinates: SimpleMaps Basic World Cities, CC BY 4.0, simplemaps.com),
with the default catalog's accelerators, and enough work to fill ~65% of its GPUs, so
capacities bind. Everything goes through validation and compile like a user's file.
"""

from __future__ import annotations

import numpy as np

from placer.model.scenario import Scenario

# (metro, lat, lon, ISO country) — SimpleMaps Basic World Cities (CC BY 4.0).
METROS: tuple[tuple[str, float, float, str], ...] = (
    ("frankfurt", 50.1136, 8.6797, "DE"),
    ("berlin", 52.5218, 13.4015, "DE"),
    ("munich", 48.1299, 11.5750, "DE"),
    ("paris", 48.8667, 2.3333, "FR"),
    ("marseille", 43.2900, 5.3750, "FR"),
    ("amsterdam", 52.3500, 4.9166, "NL"),
    ("london", 51.5000, -0.1167, "GB"),
    ("dublin", 53.3331, -6.2489, "IE"),
    ("madrid", 40.4000, -3.6834, "ES"),
    ("milan", 45.4700, 9.2050, "IT"),
    ("stockholm", 59.3508, 18.0973, "SE"),
    ("oslo", 59.9167, 10.7500, "NO"),
    ("helsinki", 60.1756, 24.9341, "FI"),
    ("warsaw", 52.2500, 21.0000, "PL"),
    ("zurich", 47.3800, 8.5500, "CH"),
    ("vienna", 48.2000, 16.3666, "AT"),
    ("new-york", 40.7500, -73.9800, "US"),
    ("ashburn", 39.0437, -77.4875, "US"),
    ("chicago", 41.8300, -87.7500, "US"),
    ("dallas", 32.8200, -96.8400, "US"),
    ("atlanta", 33.8300, -84.4000, "US"),
    ("denver", 39.7392, -104.9847, "US"),
    ("phoenix", 33.5400, -112.0700, "US"),
    ("los-angeles", 34.1140, -118.4068, "US"),
    ("san-jose", 37.3000, -121.8500, "US"),
    ("seattle", 47.5700, -122.3400, "US"),
    ("portland", 45.5200, -122.6800, "US"),
    ("toronto", 43.7000, -79.4200, "CA"),
    ("montreal", 45.5000, -73.5833, "CA"),
    ("sao-paulo", -23.5587, -46.6250, "BR"),
    ("tokyo", 35.6850, 139.7514, "JP"),
    ("singapore", 1.2930, 103.8558, "SG"),
)

# accelerator, on-prem USD/GPU-h (amortised), cloud USD/GPU-h, GPUs per node, kind
_ACCELS = (
    ("H100-SXM", 1.60, 4.00, 8, "big"),
    ("H200", 2.10, 5.00, 8, "big"),
    ("B200", 3.00, 7.50, 8, "big"),
    ("MI300X", 1.80, 4.50, 8, "big"),
    ("A100-80GB", 0.90, 2.50, 8, "big"),
    ("L40S", 0.60, 1.60, 4, "small"),
    ("L4", 0.25, 0.70, 4, "small"),
)


#: How the generated services are served: requests/s one replica sustains per type.
SERVING: dict[str, dict[str, float]] = {
    "L4": {"rps_per_replica": 2.0},
    "L40S": {"rps_per_replica": 5.0},
    "H100-SXM": {"rps_per_replica": 20.0},
    "H200": {"rps_per_replica": 28.0},
    "MI300X": {"rps_per_replica": 22.0},
}


def served_metros(sites: list[dict]) -> list[str]:
    """Metros that host a site able to serve (any type of `SERVING`): demand comes from
    them, so that every must-place service has a pool within its latency SLO."""
    served = sorted(
        {
            s["id"].rsplit("-", 2)[0]
            for s in sites
            if any(p["accelerator"] in SERVING for p in s["pools"])
        }
    )
    return served or [m[0] for m in METROS]


def generate_scenario(
    units: int = 200, pools: int = 10, seed: int = 0, fill: float = 0.75
) -> Scenario:
    """A random but realistic fleet with about `units` placement units and `pools` pools.

    Args:
      units: target number of placement units (~10% training gangs, the rest inference).
      pools: number of accelerator pools (two per site, the last site may have one).
      seed: random seed; the same arguments give the same scenario.
      fill: GPU demand / GPU supply, roughly (0.65 keeps capacities binding but feasible).
    """
    rng = np.random.default_rng(seed)
    # Pools grow with the work per pool beyond 100 units each, so the GPUs a unit needs
    # stay what they are at 10k x 100 (a 50k x 200 fleet would otherwise ask for more
    # GPUs than exist: training gangs have at least 8 GPUs, services one replica).
    sites = _sites(rng, pools, scale=max(1.0, units / max(pools, 1) / 100.0))
    regions = [
        {"id": f"{m}-users", "location": {"lat": lat, "lon": lon, "country": cc}}
        for m, lat, lon, cc in METROS
    ]
    total_gpus = sum(p["gpus"] for s in sites for p in s["pools"])
    workloads = _workloads(rng, units, total_gpus * fill, sites)
    data = {
        "apiVersion": "placer/v1",
        "kind": "Scenario",
        "metadata": {
            "name": f"gen-{units}x{pools}-s{seed}",
            "description": "placer.model.generate synthetic fleet",
        },
        "sites": sites,
        "user_regions": regions,
        "workloads": workloads,
        "objective": {"carbon_price_usd_per_t": 80.0},
    }
    return Scenario.model_validate(data)


def _sites(rng: np.random.Generator, n_pools: int, scale: float = 1.0) -> list[dict]:
    sites = []
    n_sites = (n_pools + 1) // 2
    for i in range(n_sites):
        metro, lat, lon, cc = METROS[int(rng.integers(len(METROS)))]
        tier = ("edge", "onprem", "cloud")[int(rng.choice(3, p=[0.2, 0.3, 0.5]))]
        n_here = 1 if (i == n_sites - 1 and n_pools % 2) else 2
        choice = rng.choice(len(_ACCELS), size=n_here, replace=False)
        if tier == "edge":
            choice = rng.choice([5, 6], size=n_here, replace=False)
        pools = []
        for a in choice:
            name, onprem_usd, cloud_usd, per_node, _ = _ACCELS[int(a)]
            nodes = int(rng.integers(2, 9)) * (1 if tier == "edge" else 8)
            gpus = int(per_node * max(1, round(nodes * scale)))
            price = cloud_usd if tier == "cloud" else onprem_usd
            pools.append(
                {
                    "accelerator": name,
                    "gpus": gpus,
                    "gpus_per_node": per_node,
                    "nodes_per_rack": 4 if tier != "edge" else 2,
                    "cost_usd_per_gpu_h": round(price * rng.uniform(0.85, 1.15), 3),
                }
            )
        it_kw = sum(p["gpus"] * 1.3 for p in pools) * rng.uniform(0.55, 0.9)
        sites.append(
            {
                "id": f"{metro}-{tier}-{i}",
                "tier": tier,
                "location": {
                    "lat": lat + rng.normal(0, 0.05),
                    "lon": lon + rng.normal(0, 0.05),
                    "country": cc,
                },
                "failure_domain": f"{metro}-{tier}",
                "power": {
                    "it_capacity_kw": round(float(it_kw), 1),
                    "pue": round(float(rng.uniform(1.1, 1.5)), 2),
                    "price_usd_per_kwh": 0.0
                    if tier == "cloud"
                    else round(float(rng.uniform(0.06, 0.25)), 3),
                    "carbon_g_per_kwh": round(float(rng.uniform(20, 650)), 0),
                },
                "cooling": {
                    "type": "liquid" if tier != "edge" else "air",
                    "max_rack_density_kw": 130.0 if tier != "edge" else 40.0,
                    "wue_l_per_kwh": round(float(rng.uniform(0.1, 1.8)), 2),
                },
                "pools": pools,
            }
        )
    return sites


def _workloads(
    rng: np.random.Generator, n_units: int, gpu_budget: float, sites: list[dict]
) -> list[dict]:
    n_train = max(1, n_units // 10)
    n_inf = max(0, n_units - n_train)
    big = [a[0] for a in _ACCELS if a[4] == "big"]
    per_train = gpu_budget * 0.5 / n_train
    per_inf = gpu_budget * 0.5 / max(1, n_inf)
    out: list[dict] = []
    for i in range(n_train):
        gpus = int(max(8, min(2048, round(per_train * rng.uniform(0.3, 1.7) / 8) * 8)))
        accs = list(rng.choice(big, size=int(rng.integers(2, len(big) + 1)), replace=False))
        w = {
            "id": f"train-{i:05d}",
            "kind": "training",
            "gpus": gpus,
            "accelerators": [str(a) for a in accs],
            "hours": float(rng.integers(24, 720)),
            "utilization": round(float(rng.uniform(0.7, 0.95)), 2),
        }
        if rng.random() < 0.3:
            w.update(must_place=False, value_usd_per_h=round(gpus * rng.uniform(3, 9), 2))
        out.append(w)
    serving = SERVING
    metros = served_metros(sites)
    for i in range(n_inf):
        metro = metros[int(rng.integers(len(metros)))]
        replicas = max(1.0, per_inf * rng.uniform(0.3, 1.7))
        w = {
            "id": f"infer-{i:05d}",
            "kind": "inference",
            "demand_rps": {f"{metro}-users": round(float(replicas * 5.0), 2)},
            "serving": serving,
            "latency_slo_ms": float(rng.choice([25.0, 40.0, 60.0, 100.0])),
            "must_place": False,
            "value_usd_per_h": round(float(replicas * 5 * 2.0), 2),
        }
        if rng.random() < 0.3:  # must-place services get a generous SLO: always servable
            w.update(must_place=True, latency_slo_ms=float(rng.choice([60.0, 100.0])))
            w.pop("value_usd_per_h")
        out.append(w)
    return out
