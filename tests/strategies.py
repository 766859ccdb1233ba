"""Hypothesis strategies: random valid scenarios.

`scenarios()` draws plain data in the scenario language and validates it with
`Scenario.model_validate`; it is built so that validation always passes (unique ids,
every reference known, pin and exclude disjoint, a value for every optional workload),
so no example is wasted on `assume`.

Sites and user regions sit near a few real metros (small jitter) so that latency SLOs
of 5-60 ms are sometimes met and sometimes not; pools come from the default catalog.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from placer.model import Scenario, default_catalog

#: (lat, lon, ISO country) of metros sites and user regions are drawn around.
METROS: tuple[tuple[float, float, str], ...] = (
    (50.11, 8.68, "DE"),  # Frankfurt
    (48.86, 2.35, "FR"),  # Paris
    (52.37, 4.90, "NL"),  # Amsterdam
    (59.91, 10.75, "NO"),  # Oslo
    (39.04, -77.49, "US"),  # Ashburn
)
ACCELERATORS: tuple[str, ...] = tuple(a.id for a in default_catalog())
SPEED_REFERENCES: tuple[str, ...] = ("H100-SXM", "A100-80GB", "L4", "MI300X", "B200")


def _money(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Floats rounded to 3 decimals (readable shrinks, no subnormal noise)."""
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False).map(lambda x: round(x, 3))


def _one_in(n: int) -> st.SearchStrategy[bool]:
    """True about once in n draws (shrinks to False)."""
    return st.sampled_from([False] * (n - 1) + [True])


@st.composite
def locations(draw) -> dict[str, Any]:
    lat, lon, country = draw(st.sampled_from(METROS))
    return {
        "lat": round(lat + draw(st.floats(-0.5, 0.5)), 4),
        "lon": round(lon + draw(st.floats(-0.5, 0.5)), 4),
        "country": country,
    }


@st.composite
def pools(draw) -> list[dict[str, Any]]:
    types = draw(st.lists(st.sampled_from(ACCELERATORS), max_size=3, unique=True))
    out = []
    for acc in types:
        pool: dict[str, Any] = {
            "accelerator": acc,
            "gpus": draw(st.sampled_from([64, 8, 16, 32, 128, 512, 0])),
            "gpus_per_node": draw(st.sampled_from([8, 1, 4])),
            "nodes_per_rack": draw(st.sampled_from([2, 1, 4, 8])),
            "cost_usd_per_gpu_h": draw(_money(0.1, 8.0)),
        }
        if draw(st.booleans()):
            pool["spot_cost_usd_per_gpu_h"] = round(
                pool["cost_usd_per_gpu_h"] * draw(st.floats(0.2, 1.0)), 3
            )
        if draw(_one_in(5)):
            pool["node_power_kw"] = draw(_money(0.5, 15.0))
        out.append(pool)
    return out


@st.composite
def sites(draw, sid: str) -> dict[str, Any]:
    tier = draw(st.sampled_from(["edge", "onprem", "cloud"]))
    it_kw = draw(_money(5.0, 2000.0))
    pue = draw(_money(1.0, 2.0))
    power: dict[str, Any] = {
        "it_capacity_kw": it_kw,
        "pue": pue,
        "price_usd_per_kwh": 0.0 if tier == "cloud" else draw(_money(0.0, 0.3)),
        "carbon_g_per_kwh": draw(_money(0.0, 800.0)),
    }
    if draw(st.booleans()):
        power["grid_cap_kw"] = round(it_kw * pue * draw(st.floats(0.3, 1.5)), 3) or 1.0
    cooling: dict[str, Any] = {
        "type": draw(st.sampled_from(["liquid", "air", "immersion"])),
        "max_rack_density_kw": draw(_money(30.0, 200.0)),
        "wue_l_per_kwh": draw(_money(0.0, 3.0)),
    }
    if draw(st.booleans()):
        cooling["heat_rejection_kw"] = round(it_kw * draw(st.floats(0.3, 1.2)), 3) or 1.0
    if draw(st.booleans()):
        cooling["water_cap_l_per_day"] = draw(_money(100.0, 200_000.0))
    site: dict[str, Any] = {
        "id": sid,
        "tier": tier,
        "location": draw(locations()),
        "power": power,
        "cooling": cooling,
        "egress_usd_per_gb": draw(_money(0.0, 0.12)),
        "pools": draw(pools()),
    }
    if draw(st.booleans()):
        site["failure_domain"] = draw(st.sampled_from(["dom-a", "dom-b"]))
    if tier == "cloud" and draw(_one_in(3)):
        del power["it_capacity_kw"]  # a cloud site's limit may be its GPU quota alone
    return site


@st.composite
def _common(draw, wid: str, site_ids: list[str], countries: list[str]) -> dict[str, Any]:
    w: dict[str, Any] = {"id": wid}
    if draw(_one_in(5)):
        w["residency"] = draw(
            st.lists(st.sampled_from([*countries, "EU", "EEA"]), min_size=1, unique=True)
        )
    if draw(_one_in(4)):
        w["min_gpu_memory_gb"] = draw(st.sampled_from([16, 24, 48, 80, 141]))
    pin: list[str] = []
    if draw(_one_in(5)):
        pin = draw(st.lists(st.sampled_from(site_ids), min_size=1, unique=True))
        w["pin_sites"] = pin
    rest = [s for s in site_ids if s not in pin]
    if rest and draw(_one_in(5)):
        w["exclude_sites"] = [draw(st.sampled_from(rest))]
    must = not draw(_one_in(3))
    w["must_place"] = must
    if not must or draw(st.booleans()):
        w["value_usd_per_h"] = draw(st.sampled_from([500.0, 5000.0, 50.0, 0.0]))
    if draw(st.booleans()):
        w["spot_ok"] = True
    return w


@st.composite
def trainings(
    draw, wid: str, site_ids: list[str], countries: list[str], pool_types: list[str]
) -> dict[str, Any]:
    w = draw(_common(wid, site_ids, countries))
    w.update(
        kind="training",
        gpus=draw(st.sampled_from([8, 1, 2, 4, 16, 32, 64, 256])),
        hours=draw(_money(1.0, 500.0)),
        utilization=draw(_money(0.1, 1.0)),
    )
    if draw(_one_in(3)):
        ref = draw(st.sampled_from(SPEED_REFERENCES))
        more = draw(st.lists(st.sampled_from(pool_types), max_size=3, unique=True))
        w["accelerators"] = [ref, *(a for a in more if a != ref)]
    if draw(_one_in(4)):
        w["deadline_hours"] = round(w["hours"] * draw(st.floats(0.3, 3.0)), 3) or 1.0
    if draw(_one_in(4)):
        w["dataset"] = {
            "site": draw(st.sampled_from(site_ids)),
            "size_gb": draw(_money(0.0, 50_000.0)),
        }
    return w


@st.composite
def inferences(
    draw,
    wid: str,
    site_ids: list[str],
    countries: list[str],
    region_ids: list[str],
    pool_types: list[str],
) -> dict[str, Any]:
    w = draw(_common(wid, site_ids, countries))
    regions = draw(st.lists(st.sampled_from(region_ids), min_size=1, unique=True))
    # mostly types some site has, sometimes one nobody has
    types = draw(st.lists(st.sampled_from(pool_types), min_size=1, max_size=3, unique=True))
    if draw(_one_in(5)):
        types = sorted({*types, draw(st.sampled_from(ACCELERATORS))})
    copies = draw(st.integers(1, 3))
    redundancy: dict[str, Any] = {
        "copies": copies,
        "spread": draw(st.sampled_from(["site", "failure_domain"])),
    }
    if copies > 1 and draw(st.booleans()):
        redundancy["survive_failures"] = draw(st.integers(0, copies - 1))
    w.update(
        kind="inference",
        demand_rps={r: draw(st.sampled_from([10.0, 1.0, 55.5, 300.0, 0.0])) for r in regions},
        serving={
            t: {
                "rps_per_replica": draw(_money(1.0, 100.0)),
                "gpus_per_replica": draw(st.integers(1, 4)),
            }
            for t in types
        },
        latency_slo_ms=draw(st.sampled_from([40.0, 5.0, 10.0, 20.0, 60.0, 200.0])),
        redundancy=redundancy,
    )
    return w


@st.composite
def scenario_dicts(draw, max_sites: int = 4, max_workloads: int = 5) -> dict[str, Any]:
    """Plain data of a valid scenario (see `scenarios`)."""
    n_sites = draw(st.integers(1, max_sites))
    site_ids = [f"s{i}" for i in range(n_sites)]
    site_list = [draw(sites(sid)) for sid in site_ids]
    countries = sorted({s["location"]["country"] for s in site_list} | {"DE", "US"})
    pool_types = sorted({p["accelerator"] for s in site_list for p in s["pools"]})
    pool_types = pool_types or list(ACCELERATORS)
    n_regions = draw(st.sampled_from([0, 1, 1, 2, 3]))
    region_ids = [f"r{i}" for i in range(n_regions)]
    regions = [{"id": rid, "location": draw(locations())} for rid in region_ids]
    latency = []
    for sid in site_ids:
        for rid in region_ids:
            if draw(_one_in(6)):
                latency.append(
                    {"site": sid, "region": rid, "rtt_ms": draw(st.sampled_from([2.0, 15.0, 80.0]))}
                )
    workloads = []
    n_workloads = 0
    if max_workloads > 0 and not draw(_one_in(10)):  # a tenth of them empty
        n_workloads = draw(st.integers(1, max_workloads))
    for i in range(n_workloads):
        if region_ids and draw(st.booleans()):
            workloads.append(draw(inferences(f"w{i}", site_ids, countries, region_ids, pool_types)))
        else:
            workloads.append(draw(trainings(f"w{i}", site_ids, countries, pool_types)))
    objective: dict[str, Any] = {
        "carbon_price_usd_per_t": draw(st.sampled_from([0.0, 50.0, 200.0])),
        "water_price_usd_per_m3": draw(st.sampled_from([0.0, 2.0])),
        "max_utilization": draw(st.sampled_from([1.0, 0.9, 0.75])),
        "mode": draw(st.sampled_from(["weighted", "weighted", "lexicographic"])),
    }
    if draw(_one_in(4)):
        objective["budget_usd_per_h"] = draw(_money(10.0, 5000.0))
    if draw(_one_in(4)):
        objective["carbon_cap_kg_per_h"] = draw(_money(1.0, 2000.0))
    return {
        "apiVersion": "placer/v1",
        "kind": "Scenario",
        "metadata": {"name": "hypothesis"},
        "sites": site_list,
        "user_regions": regions,
        "latency_ms": latency,
        "workloads": workloads,
        "objective": objective,
    }


def scenarios(max_sites: int = 4, max_workloads: int = 5) -> st.SearchStrategy[Scenario]:
    """Random valid Scenarios: 1..max_sites sites (0-3 default-catalog pools each, any
    tier and cooling type, optional grid/heat/water caps, cloud sites sometimes without
    an IT capacity), 0-3 user regions with some measured RTTs, and 0..max_workloads
    training runs and inference services (residency incl. the EU/EEA groups, memory, pins,
    excludes, deadlines, datasets, redundancy, optional work with a value), sometimes
    under a budget or carbon cap."""
    return scenario_dicts(max_sites, max_workloads).map(Scenario.model_validate)


@st.composite
def timed_scenario_dicts(draw, max_sites: int = 3, max_workloads: int = 4) -> dict[str, Any]:
    """Plain data of a valid timed scenario: a `scenario_dicts` fleet over 2-6 periods of
    1-4 h, with some figures per period (tariff, carbon, IT cap, pool GPUs, demand),
    grid events, late capacity, training windows (some runs may pause or move) and split
    demand."""
    d = draw(scenario_dicts(max_sites, max_workloads))
    periods = draw(st.integers(2, 6))
    period_h = draw(st.sampled_from([1.0, 2.0, 4.0]))
    span = periods * period_h
    start = draw(st.sampled_from(["2022-06-13T00:00:00+00:00", "2022-06-13T05:00:00+02:00"]))
    d["horizon"] = {"start": start, "period_hours": period_h, "periods": periods}

    def at(hours: float) -> str:
        import datetime as dt

        return (dt.datetime.fromisoformat(start) + dt.timedelta(hours=hours)).isoformat()

    def series(base: float, lo: float, hi: float) -> list[float]:
        return [round(base * draw(st.floats(lo, hi)), 4) for _ in range(periods)]

    for site in d["sites"]:
        power = site["power"]
        if draw(st.booleans()):
            power["price_usd_per_kwh"] = series(
                max(power.get("price_usd_per_kwh", 0.1), 0.01), -0.5, 3
            )
        if draw(st.booleans()):
            power["carbon_g_per_kwh"] = series(max(power["carbon_g_per_kwh"], 1.0), 0.3, 2)
        if power.get("it_capacity_kw") and draw(_one_in(3)):
            power["it_capacity_kw"] = series(power["it_capacity_kw"], 0.5, 1.0)
        if draw(_one_in(4)):
            power["available_from"] = at(period_h * draw(st.integers(0, periods - 1)))
        if draw(_one_in(3)):
            cut = {"cut_pct": draw(st.sampled_from([25.0, 60.0]))}
            if draw(st.booleans()):
                cut = {"cut_kw": draw(st.sampled_from([5.0, 100.0]))}
            site["grid_events"] = [
                {
                    "name": "dr",
                    "start": at(draw(st.floats(0, span - 0.5))),
                    "hours": draw(st.sampled_from([0.5, 1.0, 3.0])),
                    **cut,
                }
            ]
        for pool in site["pools"]:
            if draw(_one_in(4)):
                pool["gpus"] = [
                    int(pool["gpus"] * draw(st.sampled_from([1.0, 0.5, 0.0])))
                    for _ in range(periods)
                ]
            elif draw(_one_in(5)):
                pool["available_from"] = at(period_h * draw(st.integers(1, periods)))
    for w in d["workloads"]:
        if w["kind"] == "training":
            w["hours"] = round(draw(st.floats(0.5, span)), 3)
            w.pop("deadline_hours", None)
            if draw(st.booleans()):
                w["earliest_start"] = at(draw(st.floats(0, span / 2)))
            if draw(st.booleans()):
                w["deadline"] = at(span * draw(st.floats(0.6, 1.5)))
                if "earliest_start" in w and w["deadline"] <= w["earliest_start"]:
                    w.pop("deadline")
            if draw(_one_in(3)):  # may pause (docs/time.md)
                w["preemptible"] = True
                w["restore_overhead_h"] = draw(st.sampled_from([0.0, 0.25, 1.0]))
            if draw(_one_in(4)):  # may move between pools
                w["migration_usd"] = draw(st.sampled_from([0.0, 5.0, 200.0]))
                w["migration_overhead_h"] = draw(st.sampled_from([0.0, 0.5]))
        else:
            if draw(st.booleans()):
                region = sorted(w["demand_rps"])[0]
                w["demand_rps"][region] = [
                    draw(st.sampled_from([0.0, 5.0, 40.0, 120.0])) for _ in range(periods)
                ]
            elif draw(_one_in(3)):
                w["demand_profile"] = [round(0.2 + 0.8 * ((h * 7) % 24) / 23, 3) for h in range(24)]
            if draw(_one_in(3)):
                w["split"] = draw(st.integers(2, 3))
    return d


def every_run_may_pause(data: dict[str, Any], draw, restore: bool = False) -> None:
    """Makes every training run of `timed_scenario_dicts` data preemptible, some 0.3 x
    as long (room to pause in their windows) and some able to move (`migration_usd`);
    `restore`: also draws a restore overhead where none is set. `draw` is
    `st.data()`'s."""
    for w in data["workloads"]:
        if w["kind"] == "training":
            w["preemptible"] = True
            w["hours"] = max(0.25, round(w["hours"] * draw.draw(st.sampled_from([0.3, 1.0])), 3))
            if restore:
                w.setdefault("restore_overhead_h", draw.draw(st.sampled_from([0.0, 0.25])))
            if draw.draw(st.booleans()):
                w["migration_usd"] = 5.0


def timed_scenarios(max_sites: int = 3, max_workloads: int = 4) -> st.SearchStrategy[Scenario]:
    """Random valid Scenarios with a horizon (`timed_scenario_dicts`)."""
    return timed_scenario_dicts(max_sites, max_workloads).map(Scenario.model_validate)
