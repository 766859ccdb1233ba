"""Seeded synthetic fleets with node shapes, for the node-packing benchmark and tests.

`generate_node_fleet(nodes=1200, seed=0)` builds a Scenario in the style of
`placer.model.generate`: five on-prem halls (Frankfurt, Amsterdam, Paris, Ashburn,
Dallas; coordinates from `METROS`) whose IT power is capped below their nodes' full
load (90-100% of it by default), each with an H100-SXM, an A100-80GB and an L40S pool
of mixed node shapes (1, 2, 4 and 8 GPUs per node with vCPU and memory; a few 8-GPU
MIG nodes on the H100 and A100 pools), and two cloud regions (Dublin, Ashburn) whose
pools list no node shapes: the overflow, at about 2.5 times the on-prem price per
GPU-hour.

Work is generated pod by pod until the fleet holds `pods` (default 5.3 per node) pods,
counted on each workload's first serving type (the one with the most requests/s per
replica, so the fewest replicas): 21% of the pods in training gangs of 1 to 8 pods of
1, 2, 4 or 8 GPUs (a quarter of the gangs of pods up to 4 GPUs ask for more vCPU and
memory than their GPUs' share of a node), 45% whole-GPU inference replicas (1 or 2
GPUs), 18% fractional replicas (1/2, 1/4 or 1/8 of a GPU) and 16% MIG replicas
(1g.10gb, 1g.20gb, 2g.20gb, 3g.40gb). GPU demand is about 1.25 times the on-prem GPUs
without MIG, and MIG demand about 1.1 times the MIG GPUs, so the halls are tight and
the cloud takes the rest. Most workloads are optional with a value per hour (some are
worth less than the cloud costs); about one in ten is must-place (never a MIG
service: those run on-prem only). The figures are synthetic, in the ranges of
`placer.model.generate`.
"""

from __future__ import annotations

import numpy as np

from placer.model.generate import METROS
from placer.model.scenario import Scenario

_WHERE = {m: (lat, lon, cc) for m, lat, lon, cc in METROS}

#: On-prem halls: (metro, share of the nodes, USD/kWh, gCO2e/kWh).
HALLS: tuple[tuple[str, float, float, float], ...] = (
    ("frankfurt", 0.26, 0.19, 380.0),
    ("amsterdam", 0.18, 0.17, 330.0),
    ("paris", 0.18, 0.12, 60.0),
    ("ashburn", 0.22, 0.09, 350.0),
    ("dallas", 0.16, 0.07, 410.0),
)
#: Cloud regions without node shapes: (metro, cloud region, price factor).
CLOUDS: tuple[tuple[str, str, float], ...] = (
    ("dublin", "eu-west-1", 1.08),
    ("ashburn", "us-east-1", 1.0),
)
#: User regions: (metro, in Europe); a European region's services may ask for EU residency.
REGIONS: tuple[tuple[str, bool], ...] = (
    ("frankfurt", True),
    ("amsterdam", True),
    ("paris", True),
    ("london", True),
    ("ashburn", False),
    ("dallas", False),
    ("chicago", False),
)

#: Per accelerator: share of a hall's nodes, on-prem and cloud USD/GPU-h, and its node
#: shapes as (share of the pool's nodes, GPUs, vCPU, memory GB, MIG).
POOLS: dict[str, tuple[float, float, float, tuple[tuple[float, int, int, int, bool], ...]]] = {
    "H100-SXM": (
        0.38,
        1.65,
        4.0,
        ((0.03, 8, 224, 2048, True), (0.64, 8, 224, 2048, False), (0.33, 4, 96, 1024, False)),
    ),
    "A100-80GB": (
        0.30,
        0.92,
        2.5,
        (
            (0.03, 8, 256, 2048, True),
            (0.45, 8, 256, 2048, False),
            (0.30, 4, 128, 1024, False),
            (0.22, 2, 64, 512, False),
        ),
    ),
    "L40S": (
        0.32,
        0.62,
        1.6,
        ((0.30, 4, 128, 768, False), (0.35, 2, 64, 384, False), (0.35, 1, 32, 192, False)),
    ),
}

#: Share of the pods per kind of work.
POD_MIX = {"training": 0.21, "whole": 0.45, "fraction": 0.18, "mig": 0.16}
#: Training pod sizes (GPUs) and their odds.
TRAIN_POD_GPUS = ((1, 0.5), (2, 0.25), (4, 0.15), (8, 0.10))
#: MIG profiles (80 GB H100 / A100 names) and their odds.
MIG_PROFILES = (("1g.10gb", 0.45), ("1g.20gb", 0.10), ("2g.20gb", 0.30), ("3g.40gb", 0.15))
#: Requests/s per replica relative to an H100 (A100, L40S), for whole and shared GPUs.
SPEED = {"H100-SXM": 1.0, "A100-80GB": 0.55, "L40S": 0.35}


def generate_node_fleet(
    nodes: int = 1200,
    pods: int | None = None,
    seed: int = 0,
    power_cap: tuple[float, float] = (0.9, 1.0),
) -> Scenario:
    """A seeded fleet with node shapes and about `pods` pods of mixed sizes.

    Args:
      nodes: on-prem nodes in all (split over the halls, pools and shapes; each shape
        has at least one node, so small fleets have a few more).
      pods: pods of the workloads, counted on each one's first serving type; default
        5.3 per node.
      seed: random seed; the same arguments give the same scenario.
      power_cap: each hall's IT capacity as a share of its nodes' full load, drawn
        uniformly from this range; (1, 1) lets the nodes alone bind.

    Returns:
      The validated Scenario (named `nodes-<nodes>-s<seed>`).
    """
    rng = np.random.default_rng(seed)
    pods = round(5.3 * nodes) if pods is None else pods
    sites = [
        _hall(rng, metro, share * nodes, (kwh, g), power_cap) for metro, share, kwh, g in HALLS
    ]
    sites += [_cloud(metro, region, factor, nodes) for metro, region, factor in CLOUDS]
    regions = [{"id": f"{m}-users", "location": _location(m, 0.0, rng)} for m, _ in REGIONS]
    data = {
        "apiVersion": "placer/v1",
        "kind": "Scenario",
        "metadata": {
            "name": f"nodes-{nodes}-s{seed}",
            "description": "placer.model.generate_nodes synthetic fleet with node shapes",
        },
        "sites": sites,
        "user_regions": regions,
        "workloads": _workloads(rng, pods),
        "objective": {"carbon_price_usd_per_t": 80.0},
    }
    return Scenario.model_validate(data)


def _location(metro: str, jitter: float, rng: np.random.Generator) -> dict:
    lat, lon, cc = _WHERE[metro]
    return {
        "lat": round(lat + rng.normal(0, jitter), 4),
        "lon": round(lon + rng.normal(0, jitter), 4),
        "country": cc,
    }


def _shapes(rng: np.random.Generator, n_nodes: float, shapes) -> list[dict]:
    """Node shapes of one pool: each shape's share of `n_nodes` (at least one node)."""
    out = []
    for share, gpus, cpu, mem, mig in shapes:
        count = max(1, round(share * n_nodes * rng.uniform(0.9, 1.1)))
        shape = {"count": count, "gpus": gpus, "cpu": cpu, "memory_gb": mem}
        out.append({**shape, "mig": True} if mig else shape)
    return out


def _hall(rng: np.random.Generator, metro: str, n_nodes: float, grid, power_cap) -> dict:
    """An on-prem hall with one pool per accelerator, IT power capped at a share of full
    load drawn from `power_cap`; `grid` is (USD/kWh, gCO2e/kWh)."""
    pools, full_kw = [], 0.0
    for acc, (share, onprem, _, shapes) in POOLS.items():
        node_shapes = _shapes(rng, share * n_nodes, shapes)
        pools.append(
            {
                "accelerator": acc,
                "nodes": node_shapes,
                "cost_usd_per_gpu_h": round(onprem * rng.uniform(0.92, 1.08), 3),
            }
        )
        full_kw += sum(s["count"] * s["gpus"] for s in node_shapes) * _KW_PER_GPU[acc]
    return {
        "id": f"{metro}-onprem",
        "tier": "onprem",
        "location": _location(metro, 0.05, rng),
        "failure_domain": f"{metro}-onprem",
        "power": {
            "it_capacity_kw": round(full_kw * float(rng.uniform(*power_cap)), 1),
            "pue": round(float(rng.uniform(1.15, 1.4)), 2),
            "price_usd_per_kwh": grid[0],
            "carbon_g_per_kwh": grid[1],
        },
        "cooling": {"type": "liquid", "max_rack_density_kw": 130.0, "wue_l_per_kwh": 0.4},
        "pools": pools,
    }


#: Node power per GPU at full load, kW: the catalog's TDP x node overhead factor.
_KW_PER_GPU = {"H100-SXM": 0.7 * 1.82, "A100-80GB": 0.4 * 2.03, "L40S": 0.35 * 1.8}


def _cloud(metro: str, region: str, factor: float, nodes: int) -> dict:
    """A cloud region: pools without node shapes, quota ~ the halls' GPUs of each type."""
    lat, lon, cc = _WHERE[metro]
    quota = {"H100-SXM": 2 * nodes, "A100-80GB": nodes, "L40S": nodes}
    return {
        "id": f"{region}-cloud",
        "tier": "cloud",
        "cloud": "aws",
        "location": {"lat": lat, "lon": lon, "country": cc, "cloud_region": region},
        "power": {"pue": 1.15, "carbon_g_per_kwh": 300.0 if cc == "US" else 290.0},
        "pools": [
            {
                "accelerator": acc,
                "gpus": quota[acc],
                "cost_usd_per_gpu_h": round(POOLS[acc][2] * factor, 3),
            }
            for acc in POOLS
        ],
    }


def _pick(rng: np.random.Generator, table):
    """One value of a ((value, odds), ...) table."""
    odds = np.array([p for _, p in table])
    return table[int(rng.choice(len(table), p=odds / odds.sum()))][0]


def _workloads(rng: np.random.Generator, pods: int) -> list[dict]:
    """Workloads of each kind until its share of `pods` is reached."""
    makers = {"training": _training, "whole": _whole, "fraction": _fraction, "mig": _mig}
    out: list[dict] = []
    for kind, share in POD_MIX.items():
        budget, i = round(share * pods), 0
        while budget > 0:
            w, n = makers[kind](rng, f"{kind[:5]}-{i:05d}")
            out.append(w)
            budget -= n
            i += 1
    return out


def _training(rng: np.random.Generator, wid: str) -> tuple[dict, int]:
    """A gang of 1 to 8 pods of 1, 2, 4 or 8 GPUs; (workload, pods)."""
    size = int(_pick(rng, TRAIN_POD_GPUS))
    count = int(rng.integers(1, 5 if size < 8 else 9))
    small = size <= 2 and rng.random() < 0.4
    accs = ["L40S", "A100-80GB", "H100-SXM"] if small else ["H100-SXM", "A100-80GB"]
    if not small and rng.random() < 0.3:
        accs = ["A100-80GB", "H100-SXM"]
    pod: dict = {"gpus": size}
    if size <= 4 and rng.random() < 0.25:  # more vCPU and memory than the GPUs' share
        pod |= {"cpu": 40.0 * size, "memory_gb": 200.0 * size}
    w = {
        "id": wid,
        "kind": "training",
        "gpus": size * count,
        "accelerators": accs,
        "hours": float(rng.integers(12, 500)),
        "utilization": round(float(rng.uniform(0.7, 0.95)), 2),
        "pod": pod,
    }
    if rng.random() < 0.5:
        w["residency"] = ["EU"]
    return _valued(rng, w, size * count, (1.5, 8.0)), count


def _service(rng: np.random.Generator, wid: str, serving: dict, replicas: int) -> dict:
    """An inference service in one or two regions, `replicas` H100-equivalent each."""
    eu = rng.random() < 0.5
    metros = [m for m, in_eu in REGIONS if in_eu == eu]
    here = rng.choice(len(metros), size=1 + int(rng.random() < 0.2), replace=False)
    rps = next(iter(serving.values()))["rps_per_replica"]
    w = {
        "id": wid,
        "kind": "inference",
        "demand_rps": {
            # (replicas - 1/2, replicas] x rps: exactly `replicas` on the first type
            f"{metros[int(m)]}-users": round((replicas - float(rng.uniform(0, 0.5))) * rps, 2)
            for m in here
        },
        "serving": serving,
        "latency_slo_ms": float(rng.choice([30.0, 45.0, 60.0])),
    }
    if eu and rng.random() < 0.6 and all(_WHERE[metros[int(m)]][2] != "GB" for m in here):
        w["residency"] = ["EU"]
    return w


def _whole(rng: np.random.Generator, wid: str) -> tuple[dict, int]:
    """Replicas of 1 or 2 whole GPUs (2-GPU models on H100 and A100 only)."""
    gpus = 2 if rng.random() < 0.15 else 1
    rps = round(float(rng.uniform(4.0, 30.0)), 1)
    accs = ["H100-SXM", "A100-80GB"] + (["L40S"] if gpus == 1 else [])
    serving = {
        a: {"rps_per_replica": round(rps * SPEED[a], 2), "gpus_per_replica": gpus} for a in accs
    }
    replicas = int(rng.integers(1, 11))
    w = _service(rng, wid, serving, replicas)
    n = replicas * len(w["demand_rps"])
    return _valued(rng, w, n * gpus, (2.0, 9.0)), n


def _fraction(rng: np.random.Generator, wid: str) -> tuple[dict, int]:
    """Replicas that share a GPU: 1/2, 1/4 or 1/8 of one on every accepted type."""
    share = float(_pick(rng, ((0.5, 0.35), (0.25, 0.4), (0.125, 0.25))))
    rps = round(float(rng.uniform(2.0, 12.0)) * share * 4, 2)
    serving = {
        a: {"rps_per_replica": round(rps * SPEED[a], 2), "gpus_per_replica": share} for a in SPEED
    }
    replicas = int(rng.integers(2, 17))
    w = _service(rng, wid, serving, replicas)
    n = replicas * len(w["demand_rps"])
    return _valued(rng, w, n * share, (3.0, 12.0)), n


def _mig(rng: np.random.Generator, wid: str) -> tuple[dict, int]:
    """Replicas in one MIG profile, on the MIG nodes of H100 and A100 pools only."""
    profile = str(_pick(rng, MIG_PROFILES))
    compute = int(profile[0])
    rps = round(float(rng.uniform(1.0, 5.0)) * compute, 2)
    serving = {
        "H100-SXM": {"rps_per_replica": rps, "mig": profile},
        "A100-80GB": {"rps_per_replica": round(rps * 0.7, 2), "mig": profile},
    }
    replicas = int(rng.integers(2, 17))
    w = _service(rng, wid, serving, replicas)
    n = replicas * len(w["demand_rps"])
    w = _valued(rng, w, n * compute / 7.0, (3.0, 12.0))
    if w.get("must_place"):  # MIG replicas run on-prem only: never must-place
        w.update(must_place=False, value_usd_per_h=round(n * compute / 7.0 * 6.0, 2))
    return w, n


def _valued(rng: np.random.Generator, w: dict, gpus: float, usd_per_gpu_h) -> dict:
    """One in ten must-place (with a generous SLO); the rest optional with a value."""
    if rng.random() < 0.1:
        w["must_place"] = True
        if w["kind"] == "inference":
            w["latency_slo_ms"] = 80.0
        return w
    value = gpus * float(rng.uniform(*usd_per_gpu_h))
    return {**w, "must_place": False, "value_usd_per_h": round(max(value, 0.01), 2)}
