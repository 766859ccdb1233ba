"""A cloud price list (CSV) -> cloud sites and pools with prices.

Two shapes are read, told apart by their header:
- SkyPilot's catalog (`InstanceType, AcceleratorName, AcceleratorCount, ..., Region,
  AvailabilityZone, Price, SpotPrice`): one row per instance type and zone; GCP lists
  accelerators without a host (empty InstanceType: the price is the accelerators' only)
  and TPU slices (`tpu-v5litepod-8`: 8 chips);
- a per-instance price table (`instance_type, gpu_model, gpu_count, ..., region,
  linux_ondemand_usd_hr, linux_spot_avg_usd_hr`), as vantage.sh publishes AWS's.

One site per region (`<cloud>-<region>`), one pool per accelerator: the instance type
with the lowest on-demand price per accelerator-hour sets the pool's price, spot price
and accelerators per node. Pool sizes are quotas the file cannot know: a placeholder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from placer.errors import ScenarioError
from placer.importers import accelerators
from placer.importers import assumptions as A
from placer.importers.document import ScenarioDoc, to_id
from placer.importers.inputs import item_error, number, read_csv
from placer.importers.sites import PoolSpec, SiteSpec, site_entry

#: Column names of each shape: (instance, accelerator, count, region, on-demand, spot).
SHAPES = {
    "skypilot": (
        "InstanceType", "AcceleratorName", "AcceleratorCount", "Region", "Price", "SpotPrice",
    ),
    "vantage": (
        "instance_type", "gpu_model", "gpu_count", "region", "linux_ondemand_usd_hr",
        "linux_spot_avg_usd_hr",
    ),
}  # fmt: skip


@dataclass
class Offer:
    """One priced instance type: `count` accelerators, USD/h on demand and spot."""

    region: str
    accelerator: str
    instance: str
    count: int
    usd_per_h: float
    spot_usd_per_h: float | None

    @property
    def per_gpu(self) -> float:
        return self.usd_per_h / self.count


def import_catalog(
    doc: ScenarioDoc,
    path: Path | str,
    *,
    cloud: str,
    regions: list[str] | None = None,
    accelerator_ids: list[str] | None = None,
    price: str = "on-demand",
    quota_gpus: int = A.CLOUD_QUOTA_GPUS,
) -> None:
    """Adds a cloud site per region of the price list, pools priced from it.

    Args:
      doc: the scenario being built.
      path: the CSV file.
      cloud: provider of the prices (aws, gcp, azure, ...), as SkyPilot names it.
      regions: keep only these regions (default: all).
      accelerator_ids: keep only these accelerators (catalog ids or names the file uses).
      price: on-demand (spot prices recorded as spot_cost) or spot (the spot price is
        the pool's price; instance types without one are left out).
      quota_gpus: accelerators per pool, a placeholder for your quota.

    Raises:
      ScenarioError: not a price list of a known shape, a malformed row, or no row left.
    """
    rows, header, source = read_csv(path)
    shape = next((s for s, cols in SHAPES.items() if set(cols) <= set(header)), None)
    if shape is None:
        raise ScenarioError(
            f"{source}: not a price list placer reads: the header needs the columns of "
            f"SkyPilot's catalog ({', '.join(SHAPES['skypilot'])}) or of "
            f"{', '.join(SHAPES['vantage'])}"
        )
    wanted = {accelerators.match(a) or a for a in accelerator_ids or []}
    offers, unknown = [], set()
    for i, row in enumerate(rows):
        offer = _offer(source, i, row, SHAPES[shape], price)
        if offer is None:
            continue
        if isinstance(offer, str):
            unknown.add(offer)
            continue
        if regions and offer.region not in regions:
            continue
        if wanted and offer.accelerator not in wanted:
            continue
        offers.append(offer)
    if not offers:
        raise ScenarioError(
            f"{source}: no row left with an accelerator placer knows"
            + (f" in regions {regions}" if regions else "")
            + (f" for {sorted(wanted)}" if wanted else "")
        )
    best: dict[tuple[str, str], Offer] = {}
    for o in offers:
        key = (o.region, o.accelerator)
        if key not in best or o.per_gpu < best[key].per_gpu:
            best[key] = o
    by_region: dict[str, list[Offer]] = {}
    for (region, _), o in sorted(best.items()):
        by_region.setdefault(region, []).append(o)
    for region, chosen in by_region.items():
        spec = SiteSpec(id=to_id(f"{cloud}-{region}"), tier="cloud", region=region, cloud=cloud)
        spec.pools = [_pool(o, quota_gpus, price) for o in chosen]
        entry = site_entry(doc, spec)
        for pool in entry["pools"]:
            doc.todo(
                f"sites[{spec.id}].pools[{pool['id']}]", pool, "gpus",
                "placeholder: give your quota of this accelerator in this region",
            )  # fmt: skip
        doc.add("sites", entry, source=source, before=f"from {source}: {cloud} {region}")
    doc.notes.append(
        f"{source}: {len(offers)} priced row(s) -> {len(by_region)} site(s), {len(best)} pool(s)"
    )
    if unknown:
        doc.notes.append(f"{source}: accelerators not in the catalog, left out: {sorted(unknown)}")


def _offer(
    source: str, i: int, row: dict[str, str], cols: tuple[str, ...], price: str
) -> Offer | str | None:
    """The row as an Offer; its accelerator name if unknown; None if it has no price."""
    instance_col, accel_col, count_col, region_col, od_col, spot_col = cols
    where = f"row {i + 2}"
    name, region = row.get(accel_col, ""), row.get(region_col, "")
    if not name or not region:
        return None
    count = number(source, where, count_col, row.get(count_col, ""))
    if count is None or count <= 0:
        return None
    od = number(source, where, od_col, row.get(od_col, ""))
    spot = number(source, where, spot_col, row.get(spot_col, ""))
    chips = count
    tpu = name.lower().startswith("tpu-") and name.rsplit("-", 1)[-1].isdigit()
    if tpu:
        chips = count * int(name.rsplit("-", 1)[-1])
    gb = _memory_gb(row, count)
    accel = accelerators.match(name, gb)
    if accel is None:
        return name
    if price == "spot":
        od, spot = spot, None
    if od is None or od <= 0:
        return None
    if not math.isfinite(chips) or chips != int(chips):
        raise item_error(source, where, f"{count_col}: {row.get(count_col)!r} is not a count")
    instance = row.get(instance_col) or f"{name} (accelerator only)"
    return Offer(region, accel, instance, int(chips), od, spot)


def _memory_gb(row: dict[str, str], count: float) -> float | None:
    """Memory per accelerator, GB, where the row says (vantage: gpu_memory_gib in all)."""
    try:
        return float(row["gpu_memory_gib"]) / count
    except (KeyError, ValueError, ZeroDivisionError):
        return None


def _pool(o: Offer, quota_gpus: int, price: str) -> PoolSpec:
    per_node = o.count
    gpus = max(per_node, quota_gpus // per_node * per_node)
    spot = None if o.spot_usd_per_h is None else round(o.spot_usd_per_h / o.count, 4)
    what = "spot" if price == "spot" else "on demand"
    note = f"{o.instance}: {o.usd_per_h:.4g} USD/h {what} for {o.count}"
    if o.instance.endswith("(accelerator only)"):
        note += "; GCP accelerator price without the host VM"
    return PoolSpec(
        id=o.accelerator,
        accelerator=o.accelerator,
        gpus=gpus,
        gpus_per_node=per_node,
        cost_usd_per_gpu_h=round(o.per_gpu, 4),
        spot_cost_usd_per_gpu_h=spot,
        cost_note=note,
    )
