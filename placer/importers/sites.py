"""Sites and pools as importers describe them -> scenario mappings, with the values the
input did not give filled from `assumptions` and marked TODO.

Shared by the importers that create sites: k8s-nodes, catalog and sites.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from placer.importers import assumptions as A
from placer.importers.accelerators import cooling_of, node_power_kw
from placer.importers.document import ScenarioDoc, flow
from placer.importers.regions import PLACEHOLDER, locate

#: Nodes per rack the scenario language assumes when a pool gives none.
DEFAULT_NODES_PER_RACK = 4
#: Rack density the scenario language assumes a hall can cool, kW.
DEFAULT_RACK_KW = 40.0
_COOLING_RANK = {"air": 0, "liquid": 1, "immersion": 2}


@dataclass
class PoolSpec:
    """One pool: `gpus` GPUs of `accelerator` in nodes of `gpus_per_node`.

    cost / spot_cost: USD/GPU-hour when the input gave them, else None (a placeholder
    is written). note: a comment written above the pool (e.g. why it was split).
    nodes: node shapes ({count, gpus, cpu, memory_gb, mig}), or None (none written).
    todos: (key, text) TODO comments to put on the pool's keys.
    """

    id: str
    accelerator: str
    gpus: int
    gpus_per_node: int
    cost_usd_per_gpu_h: float | None = None
    spot_cost_usd_per_gpu_h: float | None = None
    node_labels: dict[str, str] | None = None
    gpu_resource: str | None = None
    note: str = ""
    cost_note: str = ""
    nodes: list[dict[str, Any]] | None = None
    todos: list[tuple[str, str]] = field(default_factory=list)

    def node_count_and_kw(self) -> tuple[int, float]:
        """(nodes, their catalog power at full load, kW): the shapes when listed, else
        `gpus` in nodes of `gpus_per_node`."""
        if self.nodes:
            return (
                sum(s["count"] for s in self.nodes),
                sum(s["count"] * node_power_kw(self.accelerator, s["gpus"]) for s in self.nodes),
            )
        nodes = math.ceil(self.gpus / self.gpus_per_node)
        return nodes, nodes * node_power_kw(self.accelerator, self.gpus_per_node)


@dataclass
class SiteSpec:
    """One site. None means "not in the input": a placeholder and a TODO are written.

    location: (lat, lon, country, metro); when None, looked up from `region`.
    """

    id: str
    tier: str
    region: str | None = None
    location: tuple[float, float, str, str] | None = None
    cluster: str | None = None
    cloud: str | None = None
    it_capacity_kw: float | None = None
    pue: float | None = None
    price_usd_per_kwh: float | None = None
    carbon_g_per_kwh: float | None = None
    cooling: str | None = None
    pools: list[PoolSpec] = field(default_factory=list)


def site_entry(doc: ScenarioDoc, spec: SiteSpec) -> CommentedMap:
    """The scenario mapping of a site; every placeholder is a TODO listed in `doc`."""
    where = f"sites[{spec.id}]"
    site = CommentedMap(id=spec.id, tier=spec.tier)
    _location(doc, where, site, spec)
    if spec.cluster:
        site["cluster"] = spec.cluster
    if spec.cloud:
        site["cloud"] = spec.cloud
    site["power"] = _power(doc, where, spec)
    if spec.tier != "cloud" and (cooling := _cooling(doc, where, spec)):
        site["cooling"] = cooling
    site["pools"] = pools = CommentedSeq()
    for pool in spec.pools:
        pools.append(_pool(doc, f"{where}.pools[{pool.id}]", pool, spec.tier))
        if pool.note:
            pools.yaml_set_comment_before_after_key(len(pools) - 1, before=pool.note, indent=6)
    return site


def _location(doc: ScenarioDoc, where: str, site: CommentedMap, spec: SiteSpec) -> None:
    found = spec.location or locate(spec.region)
    lat, lon, country, metro = found or PLACEHOLDER
    loc = flow(lat=lat, lon=lon, country=country)
    if spec.region:
        loc["cloud_region"] = spec.region
    if metro:
        loc["metro"] = metro
    site["location"] = loc
    if found is None:
        what = f"region {spec.region!r} is not in placer's table" if spec.region else "no region"
        doc.todo(where, site, "location", f"{what}: lat, lon and country are placeholders")
    elif spec.location is None:
        site.yaml_add_eol_comment(f"metro of {spec.region} (approximate)", "location")


def _power(doc: ScenarioDoc, where: str, spec: SiteSpec) -> CommentedMap:
    power = CommentedMap()
    w = f"{where}.power"
    cloud = spec.tier == "cloud"
    if spec.it_capacity_kw is not None:
        power["it_capacity_kw"] = spec.it_capacity_kw
    elif not cloud:
        load_kw = sum(p.node_count_and_kw()[1] for p in spec.pools)
        power["it_capacity_kw"] = float(max(1, math.ceil(load_kw * A.IT_HEADROOM)))
        doc.todo(
            w, power, "it_capacity_kw",
            f"assumed: full-load power of the nodes found ({load_kw:,.1f} kW, catalog TDP x "
            f"overhead) + {A.IT_HEADROOM - 1:.0%}; give the IT power the site can feed",
        )  # fmt: skip
    power["pue"] = spec.pue if spec.pue is not None else (A.PUE_CLOUD if cloud else A.PUE_ONPREM)
    if spec.pue is None:
        doc.todo(w, power, "pue", "assumed; give the site's measured PUE")
    if spec.price_usd_per_kwh is not None or cloud:
        power["price_usd_per_kwh"] = spec.price_usd_per_kwh or 0.0
    else:
        power["price_usd_per_kwh"] = A.PRICE_USD_PER_KWH
        doc.todo(w, power, "price_usd_per_kwh", "assumed; give the site's tariff")
    if spec.carbon_g_per_kwh is not None:
        power["carbon_g_per_kwh"] = spec.carbon_g_per_kwh
    else:
        power["carbon_g_per_kwh"] = A.CARBON_G_PER_KWH
        doc.todo(w, power, "carbon_g_per_kwh", "assumed world average; give the grid's intensity")
    return power


def _cooling(doc: ScenarioDoc, where: str, spec: SiteSpec) -> CommentedMap | None:
    """Cooling of an owned site: the least the pools need and racks as dense as theirs."""
    cooling = CommentedMap()
    w = f"{where}.cooling"
    needed = max(
        (cooling_of(p.accelerator) for p in spec.pools), key=_COOLING_RANK.get, default="air"
    )
    kind = spec.cooling or needed
    if kind != "air":
        cooling["type"] = kind
        if spec.cooling is None:
            doc.todo(w, cooling, "type", f"assumed from the accelerators ({kind}); check")
    rack_kw = max(
        (
            node_power_kw(p.accelerator, p.gpus_per_node) * DEFAULT_NODES_PER_RACK
            for p in spec.pools
        ),
        default=0.0,
    )
    if rack_kw > DEFAULT_RACK_KW:
        cooling["max_rack_density_kw"] = float(math.ceil(rack_kw))
        doc.todo(
            w, cooling, "max_rack_density_kw",
            f"assumed: {DEFAULT_NODES_PER_RACK} of the densest nodes per rack; give the "
            "hall's limit",
        )  # fmt: skip
    return cooling or None


def _pool(doc: ScenarioDoc, where: str, spec: PoolSpec, tier: str) -> CommentedMap:
    pool = CommentedMap(id=spec.id, accelerator=spec.accelerator, gpus=spec.gpus)
    pool["gpus_per_node"] = spec.gpus_per_node
    if spec.nodes:
        pool["nodes"] = CommentedSeq(flow(**shape) for shape in spec.nodes)
    if spec.cost_usd_per_gpu_h is not None:
        pool["cost_usd_per_gpu_h"] = spec.cost_usd_per_gpu_h
        if spec.cost_note:
            pool.yaml_add_eol_comment(spec.cost_note, "cost_usd_per_gpu_h")
    else:
        pool["cost_usd_per_gpu_h"] = A.usd_per_gpu_h(spec.accelerator, tier)
        what = "a cloud list price" if tier == "cloud" else "owned: capex / 4 years"
        doc.todo(where, pool, "cost_usd_per_gpu_h", f"placeholder ({what}); give yours")
    if spec.spot_cost_usd_per_gpu_h is not None:
        pool["spot_cost_usd_per_gpu_h"] = spec.spot_cost_usd_per_gpu_h
    if spec.node_labels:
        pool["node_labels"] = CommentedMap(spec.node_labels)
    if spec.gpu_resource:
        pool["gpu_resource"] = spec.gpu_resource
    for key, text in spec.todos:
        doc.todo(where, pool, key, text)
    return pool
