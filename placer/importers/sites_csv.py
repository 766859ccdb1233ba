"""A plain sites CSV -> sites and pools.

Columns (header row; order free): `id, tier, lat, lon, country` are required; optional
site columns `cloud, cloud_region, cluster, it_capacity_kw, pue, price_usd_per_kwh,
carbon_g_per_kwh, cooling`; optional pool columns `accelerator, gpus, gpus_per_node,
cost_usd_per_gpu_h, spot_cost_usd_per_gpu_h, pool`. One row per pool: a site with
several pools repeats its id (its site columns may be left empty after the first row);
a row without an accelerator is a site without pools. Empty cells become placeholders
marked TODO.
"""

from __future__ import annotations

from pathlib import Path

from placer.errors import ScenarioError
from placer.importers import accelerators
from placer.importers.document import ScenarioDoc
from placer.importers.inputs import item_error, number, read_csv
from placer.importers.sites import PoolSpec, SiteSpec, site_entry

REQUIRED = ("id", "tier", "lat", "lon", "country")
SITE_NUMBERS = ("it_capacity_kw", "pue", "price_usd_per_kwh", "carbon_g_per_kwh")
TIERS = ("edge", "onprem", "cloud")


def import_sites(doc: ScenarioDoc, path: Path | str) -> None:
    """Adds the sites (and pools) of a sites CSV to `doc`.

    Raises:
      ScenarioError: a missing column, or a row with a bad value (named by row and site).
    """
    rows, header, source = read_csv(path)
    if missing := [c for c in REQUIRED if c not in header]:
        raise ScenarioError(f"{source}: missing column(s) {missing}; required: {list(REQUIRED)}")
    specs: dict[str, SiteSpec] = {}
    for i, row in enumerate(rows):
        where = f"row {i + 2} (site {row.get('id') or '?'})"
        if not row["id"]:
            raise item_error(source, where, "id: empty")
        spec = specs.get(row["id"]) or _site(source, where, row)
        specs[row["id"]] = spec
        if row.get("accelerator"):
            spec.pools.append(_pool(source, where, row, spec))
    for spec in specs.values():
        doc.add("sites", site_entry(doc, spec), source=source, before=f"from {source}")
    doc.notes.append(f"{source}: {len(specs)} site(s)")


def _site(source: str, where: str, row: dict[str, str]) -> SiteSpec:
    if row["tier"] not in TIERS:
        raise item_error(source, where, f"tier: {row['tier']!r} is not one of {list(TIERS)}")
    lat, lon = (number(source, where, c, row[c]) for c in ("lat", "lon"))
    if lat is None or lon is None or not row["country"]:
        raise item_error(source, where, "lat, lon and country: required")
    values = {c: number(source, where, c, row.get(c, "")) for c in SITE_NUMBERS}
    return SiteSpec(
        id=row["id"],
        tier=row["tier"],
        region=row.get("cloud_region") or None,
        location=(lat, lon, row["country"].upper(), ""),
        cluster=row.get("cluster") or None,
        cloud=row.get("cloud") or None,
        cooling=row.get("cooling") or None,
        **values,
    )


def _pool(source: str, where: str, row: dict[str, str], site: SiteSpec) -> PoolSpec:
    name = row["accelerator"]
    accel = name if name in accelerators.catalog_ids() else accelerators.match(name)
    if accel is None:
        raise item_error(source, where, f"accelerator: {name!r} is not in placer's catalog")
    gpus = number(source, where, "gpus", row.get("gpus", ""))
    per_node = number(source, where, "gpus_per_node", row.get("gpus_per_node", "")) or 8
    if gpus is None or gpus < 0 or gpus != int(gpus) or per_node != int(per_node):
        raise item_error(source, where, "gpus, gpus_per_node: whole numbers required")
    return PoolSpec(
        id=row.get("pool") or accel,
        accelerator=accel,
        gpus=int(gpus),
        gpus_per_node=int(per_node),
        cost_usd_per_gpu_h=number(
            source, where, "cost_usd_per_gpu_h", row.get("cost_usd_per_gpu_h", "")
        ),
        spot_cost_usd_per_gpu_h=number(
            source, where, "spot_cost_usd_per_gpu_h", row.get("spot_cost_usd_per_gpu_h", "")
        ),
    )
