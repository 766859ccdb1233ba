#!/usr/bin/env python3
"""Fits placer's distance-to-RTT model against measured inter-region round-trip times.

The model (placer/model/latency.py):

    rtt_ms = overhead_ms + 2 * great_circle_km * route_factor / 200

is linear in distance: rtt = a + b * km with a = overhead_ms and b = route_factor / 100.
This script fits a and b on the Skyplane inter-region ping grid (AWS, Azure, GCP, April
2022; Apache-2.0) with region coordinates from:

  * Azure: regions/azure_regions_latlon.json (carbon-aware-sdk, MIT), except francecentral,
           whose published point is the middle of France: Paris from the city file instead;
  * AWS:   the city each region is named after, from regions/simplemaps_worldcities_basic.csv
           (SimpleMaps Basic World Cities, CC BY 4.0, simplemaps.com); the city per region
           is the table AWS_CITIES below;
  * GCP:   campus coordinates from regions/electricitymaps_cloud_data_centers.json
           (AGPL-3.0: read here at dev time only, nothing from it is copied into the
           project); if that file is absent, or with --gcp-coords cities, the city named in
           carbon/codecarbon_cloud_impact.csv (MIT) looked up in the SimpleMaps file.

The data folder is ../shared/data relative to the repository root (a user's clone does not
have it): without it the script says so on stderr and exits 0.

Output: JSON lines on stdout (one object per record, `"record"` names its kind), a human
summary on stderr. Nothing is written to disk.

Usage:
    python scripts/calibrate_latency.py                # full fit + 2000 bootstrap resamples
    python scripts/calibrate_latency.py --quick        # 200 resamples
    python scripts/calibrate_latency.py --method ols   # plain least squares instead of Huber
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"

GRID = "latency/skyplane_latency_grid_2022-04.csv"
AZURE_COORDS = "regions/azure_regions_latlon.json"
CITIES = "regions/simplemaps_worldcities_basic.csv"
EM_DATA_CENTERS = "regions/electricitymaps_cloud_data_centers.json"
CODECARBON_GCP = "carbon/codecarbon_cloud_impact.csv"

FIBRE_KM_PER_MS = 200.0
EARTH_RADIUS_KM = 6371.0
SHORT_KM = 1000.0
#: Pairs farther apart than this are left out of the fit (see --max-km).
DEFAULT_MAX_KM = 3000.0
#: Distance bins for the error table, km.
BINS_KM = (0.0, 100.0, 1000.0, 3000.0, 8000.0, math.inf)

#: AWS region -> (city, ISO2, admin region) in the SimpleMaps file. AWS names only the city
#: or state of a region; where it names a state the town nearest the known campuses is used
#: (us-east-1 "N. Virginia" -> Ashburn; us-west-2 "Oregon" -> Hermiston, next to the
#: Umatilla/Boardman campuses; us-west-1 "N. California" -> San Jose).
AWS_CITIES: dict[str, tuple[str, str, str]] = {
    "us-east-1": ("Ashburn", "US", "Virginia"),
    "us-east-2": ("Columbus", "US", "Ohio"),
    "us-west-1": ("San Jose", "US", "California"),
    "us-west-2": ("Hermiston", "US", "Oregon"),
    "ca-central-1": ("Montreal", "CA", ""),
    "sa-east-1": ("Sao Paulo", "BR", ""),
    "eu-central-1": ("Frankfurt", "DE", ""),
    "eu-north-1": ("Stockholm", "SE", ""),
    "eu-south-1": ("Milan", "IT", ""),
    "eu-west-1": ("Dublin", "IE", ""),
    "eu-west-2": ("London", "GB", ""),
    "eu-west-3": ("Paris", "FR", ""),
    "af-south-1": ("Cape Town", "ZA", ""),
    "me-south-1": ("Manama", "BH", ""),
    "ap-east-1": ("Hong Kong", "HK", ""),
    "ap-south-1": ("Mumbai", "IN", ""),
    "ap-northeast-1": ("Tokyo", "JP", ""),
    "ap-northeast-2": ("Seoul", "KR", ""),
    "ap-northeast-3": ("Osaka", "JP", ""),
    "ap-southeast-1": ("Singapore", "SG", ""),
    "ap-southeast-2": ("Sydney", "AU", ""),
    "ap-southeast-3": ("Jakarta", "ID", ""),
}

#: Azure regions whose published coordinates are far from the campus: francecentral is given
#: as 46.38 N 2.37 E (the middle of France, ~280 km from Paris) in both carbon-aware-sdk files,
#: although the Azure CLI metadata names its physical location "Paris".
AZURE_FIXES: dict[str, tuple[str, str]] = {"francecentral": ("Paris", "FR")}

#: City names in codecarbon_cloud_impact.csv that SimpleMaps spells differently or lacks;
#: mapped to the nearest SimpleMaps city (used only for the --gcp-coords cities fallback).
GCP_CITY_FIXES: dict[str, tuple[str, str]] = {
    "Changhua County": ("Changhua", "TW"),
    "Jurong West": ("Singapore", "SG"),
    "Hamina": ("Kouvola", "FI"),
    "St. Ghislain": ("Mons", "BE"),
    "Eemshaven": ("Groningen", "NL"),
}


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance, km (the same formula as placer.model.latency.great_circle_km)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def log(msg: str = "") -> None:
    print(msg, file=sys.stderr)


def emit(record: str, **fields: object) -> None:
    print(json.dumps({"record": record, **fields}, sort_keys=False))


# ---------------------------------------------------------------- coordinates


def load_cities(data: Path) -> dict[tuple[str, str], list[tuple[float, float, str, float]]]:
    """(city_ascii, iso2) -> [(lat, lon, admin_name, population)], largest first."""
    out: dict[tuple[str, str], list[tuple[float, float, str, float]]] = defaultdict(list)
    with open(data / CITIES, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            pop = float(row["population"]) if row["population"] else 0.0
            out[(row["city_ascii"], row["iso2"])].append(
                (float(row["lat"]), float(row["lng"]), row["admin_name"], pop)
            )
    for rows in out.values():
        rows.sort(key=lambda r: -r[3])
    return out


def city_coords(cities, city: str, iso2: str, admin: str = "") -> tuple[float, float] | None:
    rows = cities.get((city, iso2), [])
    if admin:
        rows = [r for r in rows if r[2] == admin]
    return (rows[0][0], rows[0][1]) if rows else None


def region_coords(data: Path, gcp_source: str) -> tuple[dict[str, tuple[float, float]], dict]:
    """'provider:region' -> (lat, lon) for every region we can locate, and source counts."""
    coords: dict[str, tuple[float, float]] = {}
    sources: dict[str, str] = {}
    cities = load_cities(data)

    with open(data / AZURE_COORDS, encoding="utf-8") as f:
        for name, v in json.load(f).items():
            coords[f"azure:{name}"] = (float(v["Latitude"]), float(v["Longitude"]))
            sources[f"azure:{name}"] = "azure_regions_latlon.json"
    for name, (city, iso2) in AZURE_FIXES.items():
        c = city_coords(cities, city, iso2)
        if c is not None and f"azure:{name}" in coords:
            coords[f"azure:{name}"] = c
            sources[f"azure:{name}"] = f"simplemaps city {city} (corrected)"

    for code, (city, iso2, admin) in AWS_CITIES.items():
        c = city_coords(cities, city, iso2, admin)
        if c is not None:
            coords[f"aws:{code}"] = c
            sources[f"aws:{code}"] = f"simplemaps city {city}"

    em_path = data / EM_DATA_CENTERS
    if gcp_source == "electricitymaps" and em_path.exists():
        with open(em_path, encoding="utf-8") as f:
            for v in json.load(f).values():
                if v.get("provider") == "gcp":
                    lon, lat = v["lonlat"]
                    coords[f"gcp:{v['region']}"] = (float(lat), float(lon))
                    sources[f"gcp:{v['region']}"] = "electricitymaps campus (AGPL, read only)"
    else:
        if gcp_source == "electricitymaps":
            log(f"note: {em_path} not found; GCP regions located by city instead")
        with open(data / CODECARBON_GCP, encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                if row["provider"] != "gcp":
                    continue
                city, iso2 = GCP_CITY_FIXES.get(row["city"], (row["city"], ""))
                if not iso2:
                    matches = [k for k in cities if k[0] == city]
                    if not matches:
                        continue
                    iso2 = max(matches, key=lambda k: cities[k][0][3])[1]
                c = city_coords(cities, city, iso2)
                if c is not None:
                    coords[f"gcp:{row['region']}"] = c
                    sources[f"gcp:{row['region']}"] = f"simplemaps city {city}"
    return coords, sources


def grid_region(name: str) -> str:
    """'gcp:europe-west4-a' -> 'gcp:europe-west4' (the grid names GCP zones)."""
    provider, region = name.split(":", 1)
    if provider == "gcp" and region[-2] == "-" and region[-1].isalpha():
        region = region[:-2]
    return f"{provider}:{region}"


# ---------------------------------------------------------------- measurements


def load_pairs(data: Path, tiers: str):
    """Reads the grid.

    Returns:
      (pairs, intra, skipped): pairs is {frozenset({a, b}): [avg_rtt per direction]},
      intra is the list of same-region rows, skipped the set of regions not located.
    """
    pairs: dict[tuple[str, str], list[float]] = defaultdict(list)
    intra: list[dict] = []
    rows = 0
    with open(data / GRID, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rows += 1
            premium = row["src_tier"] == "PREMIUM" and row["dst_tier"] == "PREMIUM"
            if row["src_region"] == row["dst_region"]:
                intra.append(row)
                continue
            if tiers == "premium" and not premium:
                continue
            a, b = sorted((row["src_region"], row["dst_region"]))
            pairs[(a, b)].append(float(row["avg_rtt"]))
    return pairs, intra, rows


def huber_irls(x: np.ndarray, y: np.ndarray, iters: int = 100) -> tuple[float, float, float]:
    """Huber regression y ~ a + b x by iteratively reweighted least squares.

    The residual scale is re-estimated each step as 1.4826 x MAD; the Huber threshold is
    1.345 x scale (95% efficiency under normal errors). Returns (a, b, scale).
    """
    X = np.column_stack([np.ones_like(x), x])
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    scale = 1.0
    for _ in range(iters):
        r = y - X @ coef
        scale = max(1.4826 * float(np.median(np.abs(r - np.median(r)))), 1e-6)
        k = 1.345 * scale
        w = np.where(np.abs(r) <= k, 1.0, k / np.maximum(np.abs(r), 1e-12))
        sw = np.sqrt(w)
        new = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
        if np.allclose(new, coef, rtol=1e-10, atol=1e-10):
            coef = new
            break
        coef = new
    return float(coef[0]), float(coef[1]), scale


def lad_irls(x: np.ndarray, y: np.ndarray, iters: int = 200) -> tuple[float, float, float]:
    """Least absolute deviations y ~ a + b x by IRLS. Returns (a, b, MAD scale)."""
    X = np.column_stack([np.ones_like(x), x])
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    for _ in range(iters):
        r = y - X @ coef
        w = 1.0 / np.maximum(np.abs(r), 1e-3)
        sw = np.sqrt(w)
        new = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
        if np.allclose(new, coef, rtol=1e-10, atol=1e-10):
            coef = new
            break
        coef = new
    r = y - X @ coef
    return float(coef[0]), float(coef[1]), 1.4826 * float(np.median(np.abs(r)))


def ols(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    X = np.column_stack([np.ones_like(x), x])
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    r = y - X @ coef
    return float(coef[0]), float(coef[1]), float(np.std(r))


FITS = {"huber": huber_irls, "lad": lad_irls, "ols": ols}


def error_stats(x: np.ndarray, y: np.ndarray, a: float, b: float) -> dict:
    pred = a + b * x
    err = pred - y
    ae = np.abs(err)
    rel = ae / y
    return {
        "n": len(y),
        "median_abs_err_ms": round(float(np.median(ae)), 2),
        "p90_abs_err_ms": round(float(np.quantile(ae, 0.9)), 2),
        "mean_abs_err_ms": round(float(np.mean(ae)), 2),
        "median_rel_err": round(float(np.median(rel)), 3),
        "p90_rel_err": round(float(np.quantile(rel, 0.9)), 3),
        "median_signed_err_ms": round(float(np.median(err)), 2),
        "median_measured_ms": round(float(np.median(y)), 2),
    }


def shipped_constants() -> tuple[float, float] | None:
    """(ROUTE_FACTOR, OVERHEAD_MS) from placer/model/latency.py in this checkout, if importable."""
    sys.path.insert(0, str(REPO_ROOT))
    try:
        from placer.model import latency
    except ImportError:
        return None
    finally:
        sys.path.pop(0)
    return float(latency.ROUTE_FACTOR), float(latency.OVERHEAD_MS)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Fit placer's RTT model (rtt = overhead_ms + 2 km route_factor / 200) "
        "against the Skyplane inter-region ping grid. JSON lines on stdout, summary on stderr.",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="folder holding latency/, regions/ and carbon/ (default: ../shared/data "
        "relative to the repository root)",
    )
    p.add_argument("--quick", action="store_true", help="200 bootstrap resamples, not 2000")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    p.add_argument(
        "--method",
        choices=sorted(FITS),
        default="huber",
        help="fit: huber (default, robust to ping spikes), lad (median), ols (least squares)",
    )
    p.add_argument(
        "--tiers",
        choices=["premium", "all"],
        default="premium",
        help="premium (default): only pairs where both VMs used the premium network tier "
        "(all AWS/Azure rows, GCP premium); all: include GCP standard-tier rows",
    )
    p.add_argument(
        "--max-km",
        type=float,
        default=DEFAULT_MAX_KM,
        help="fit only pairs closer than this, km (default 3000: the continental range "
        "where latency SLOs bind; intercontinental cable routes detour differently). "
        "Use 0 for no limit.",
    )
    p.add_argument(
        "--gcp-coords",
        choices=["electricitymaps", "cities"],
        default="electricitymaps",
        help="GCP region coordinates: campus coordinates from the Electricity Maps file "
        "(AGPL, read only), or the city named in codecarbon's table",
    )
    args = p.parse_args(argv)

    data: Path = args.data_dir
    if not (data / GRID).exists():
        log(
            f"calibrate_latency: measured data not found ({data / GRID}); nothing to fit. "
            "The shared data folder is only present in the development checkout; pass "
            "--data-dir to point at it."
        )
        return 0

    coords, coord_src = region_coords(data, args.gcp_coords)
    pairs, intra, n_rows = load_pairs(data, args.tiers)

    unlocated: set[str] = set()
    keys: list[tuple[str, str]] = []
    dist: list[float] = []
    rtt: list[float] = []
    n_dirs = 0
    for (a, b), values in sorted(pairs.items()):
        ra, rb = grid_region(a), grid_region(b)
        missing = [r for r in (ra, rb) if r not in coords]
        if missing:
            unlocated.update(missing)
            continue
        km = great_circle_km(*coords[ra], *coords[rb])
        keys.append((a, b))
        dist.append(km)
        # RTT is symmetric; the two directions' avg_rtt differ by a median 0.45 ms, but a
        # few directions carry ping spikes (avg 100+ ms over min), so keep the lower one.
        rtt.append(min(values))
        n_dirs += len(values)
    x = np.asarray(dist)
    y = np.asarray(rtt)

    max_km = args.max_km if args.max_km > 0 else math.inf
    fit_mask = x < max_km
    xf, yf = x[fit_mask], y[fit_mask]
    a, b, scale = FITS[args.method](xf, yf)
    route_factor = b * FIBRE_KM_PER_MS / 2.0
    overhead = a

    rng = np.random.default_rng(args.seed)
    n_boot = 200 if args.quick else 2000
    boots = np.empty((n_boot, 2))
    for i in range(n_boot):
        idx = rng.integers(0, len(xf), len(xf))
        ba, bb, _ = FITS[args.method](xf[idx], yf[idx])
        boots[i] = (ba, bb * FIBRE_KM_PER_MS / 2.0)
    lo, hi = np.quantile(boots, [0.025, 0.975], axis=0)

    providers = defaultdict(int)
    for r in {grid_region(k) for pair in keys for k in pair}:
        providers[r.split(":")[0]] += 1

    emit(
        "data",
        grid=GRID,
        grid_rows=n_rows,
        tiers=args.tiers,
        directed_rows_used=n_dirs,
        pairs=len(keys),
        pairs_fitted=int(fit_mask.sum()),
        max_km=None if max_km == math.inf else max_km,
        regions=dict(sorted(providers.items())),
        regions_not_located=sorted(unlocated),
        gcp_coords=args.gcp_coords,
        coordinate_sources=dict(
            sorted(
                Counter(
                    coord_src[r].split(" city ")[0] if " city " in coord_src[r] else coord_src[r]
                    for r in {grid_region(k) for pair in keys for k in pair}
                ).items()
            )
        ),
    )
    emit(
        "fit",
        method=args.method,
        route_factor=round(route_factor, 4),
        overhead_ms=round(overhead, 3),
        route_factor_ci95=[round(float(lo[1]), 4), round(float(hi[1]), 4)],
        overhead_ms_ci95=[round(float(lo[0]), 3), round(float(hi[0]), 3)],
        residual_scale_ms=round(scale, 3),
        bootstrap_resamples=n_boot,
        seed=args.seed,
    )
    overall = error_stats(xf, yf, a, b)
    emit("errors", subset="fitted pairs", **overall)
    short = x < SHORT_KM
    long_ = ~short & fit_mask
    err_short = error_stats(x[short], y[short], a, b)
    err_long = error_stats(x[long_], y[long_], a, b)
    emit("errors", subset=f"short (<{SHORT_KM:.0f} km)", **err_short)
    emit("errors", subset=f"long ({SHORT_KM:.0f}-{max_km:.0f} km)", **err_long)
    err_beyond = None
    if (~fit_mask).any():
        err_beyond = error_stats(x[~fit_mask], y[~fit_mask], a, b)
        emit("errors", subset=f"beyond fit range (>={max_km:.0f} km)", **err_beyond)
    bins = []
    for lo_km, hi_km in itertools.pairwise(BINS_KM):
        m = (x >= lo_km) & (x < hi_km)
        if m.any():
            st = error_stats(x[m], y[m], a, b)
            bins.append((lo_km, hi_km, st))
            emit("errors", subset=f"{lo_km:.0f}-{hi_km:.0f} km", **st)

    # The other fits on the same pairs, and every fit on all distances, for comparison.
    others: dict[str, tuple[float, float, dict]] = {}
    variants = [("fitted pairs", xf, yf)]
    if max_km < math.inf:
        variants.append(("all distances", x, y))
    for name, fn in FITS.items():
        for label, xs, ys in variants:
            if name == args.method and label == "fitted pairs":
                continue
            oa, ob, _ = fn(xs, ys)
            st = error_stats(xs, ys, oa, ob)
            others[f"{name}, {label}"] = (ob * FIBRE_KM_PER_MS / 2.0, oa, st)
            emit(
                "alt_fit",
                method=name,
                pairs=label,
                n=len(ys),
                route_factor=round(ob * FIBRE_KM_PER_MS / 2.0, 4),
                overhead_ms=round(oa, 3),
                median_abs_err_ms=st["median_abs_err_ms"],
                p90_abs_err_ms=st["p90_abs_err_ms"],
                short_pairs_bias_ms=error_stats(x[short], y[short], oa, ob)["median_signed_err_ms"],
            )

    # The constants placer ships (placer/model/latency.py), scored on the same pairs.
    shipped = shipped_constants()
    shipped_stats = {}
    if shipped is not None:
        s_rf, s_oh = shipped
        s_b = 2.0 * s_rf / FIBRE_KM_PER_MS
        for label, m in (
            ("fitted pairs", fit_mask),
            (f"short (<{SHORT_KM:.0f} km)", short),
            (f"long ({SHORT_KM:.0f}-{max_km:.0f} km)", long_),
        ):
            shipped_stats[label] = error_stats(x[m], y[m], s_oh, s_b)
            emit(
                "shipped_constants",
                route_factor=s_rf,
                overhead_ms=s_oh,
                subset=label,
                **shipped_stats[label],
            )

    # Same-metro pairs across providers (< 100 km): what "the same city" costs.
    metro = [(keys[i], float(x[i]), float(y[i])) for i in np.flatnonzero(x < 100.0)]
    for (ka, kb), km, ms in sorted(metro, key=lambda t: t[1]):
        emit("same_metro_pair", a=ka, b=kb, km=round(km, 1), avg_rtt_ms=round(ms, 3))

    # Same-region rows (both VMs in one GCP zone, one premium and one standard tier).
    intra_min = [float(r["min_rtt"]) for r in intra]
    intra_avg = [float(r["avg_rtt"]) for r in intra]
    if intra:
        emit(
            "intra_region",
            rows=len(intra),
            regions=len({r["src_region"] for r in intra}),
            providers=sorted({r["src_region"].split(":")[0] for r in intra}),
            min_rtt_ms_median=round(statistics.median(intra_min), 3),
            min_rtt_ms_range=[round(min(intra_min), 3), round(max(intra_min), 3)],
            avg_rtt_ms_median=round(statistics.median(intra_avg), 3),
            avg_rtt_ms_max=round(max(intra_avg), 3),
        )

    # ------------------------------------------------------------ human summary
    log(
        f"Skyplane grid: {n_rows} directed rows; {len(keys)} region pairs located "
        f"({n_dirs} directed rows, tiers={args.tiers}); regions: "
        + ", ".join(f"{k} {v}" for k, v in sorted(providers.items()))
    )
    log(f"Fitted on the {int(fit_mask.sum())} pairs closer than {max_km:.0f} km.")
    if unlocated:
        log(f"  not located (skipped): {', '.join(sorted(unlocated))}")
    log(
        f"Fit ({args.method}): route_factor = {route_factor:.3f} "
        f"[95% CI {lo[1]:.3f}-{hi[1]:.3f}], overhead_ms = {overhead:.2f} "
        f"[{lo[0]:.2f}-{hi[0]:.2f}]  ({n_boot} bootstrap resamples, seed {args.seed})"
    )
    for name, (rf, oh, st) in others.items():
        log(
            f"  {name:>20}: route_factor = {rf:.3f}, overhead_ms = {oh:.2f}, "
            f"median |err| {st['median_abs_err_ms']} ms, p90 {st['p90_abs_err_ms']} ms"
        )
    log(
        f"Errors on the fitted pairs: median |err| {overall['median_abs_err_ms']} ms, p90 |err| "
        f"{overall['p90_abs_err_ms']} ms, median relative {overall['median_rel_err']:.1%}"
    )
    log(
        f"  {'distance':>20} {'n':>5} {'med|err|':>9} {'p90|err|':>9} {'med rel':>8} "
        f"{'bias':>7} {'med RTT':>8}"
    )
    rows_ = [(f"<{SHORT_KM:.0f} km", err_short), (f"{SHORT_KM:.0f}-{max_km:.0f} km", err_long)]
    if err_beyond is not None:
        rows_.append((f">={max_km:.0f} km (unfit)", err_beyond))
    for name, st in rows_:
        log(
            f"  {name:>20} {st['n']:>5} {st['median_abs_err_ms']:>9} "
            f"{st['p90_abs_err_ms']:>9} {st['median_rel_err']:>8.1%} "
            f"{st['median_signed_err_ms']:>7} {st['median_measured_ms']:>8}"
        )
    log("  by distance, all located pairs:")
    for lo_km, hi_km, st in bins:
        name = f"{lo_km:.0f}-{hi_km:.0f} km" if hi_km < math.inf else f">={lo_km:.0f} km"
        log(
            f"  {name:>20} {st['n']:>5} {st['median_abs_err_ms']:>9} "
            f"{st['p90_abs_err_ms']:>9} {st['median_rel_err']:>8.1%} "
            f"{st['median_signed_err_ms']:>7} {st['median_measured_ms']:>8}"
        )
    log("  (bias = median of modelled - measured; positive: the model overestimates)")
    if shipped_stats:
        st = shipped_stats["fitted pairs"]
        log(
            f"Shipped constants (placer/model/latency.py: route_factor {shipped[0]}, overhead_ms "
            f"{shipped[1]}): median |err| {st['median_abs_err_ms']} ms, p90 "
            f"{st['p90_abs_err_ms']} ms, median relative {st['median_rel_err']:.1%}; "
            + "; ".join(
                f"{k}: median |err| {v['median_abs_err_ms']} ms, bias "
                f"{v['median_signed_err_ms']} ms"
                for k, v in shipped_stats.items()
                if k != "fitted pairs"
            )
        )
    if metro:
        log(
            f"Same-metro pairs (< 100 km apart, different providers): {len(metro)}; RTT "
            f"median {statistics.median(m[2] for m in metro):.2f} ms, range "
            f"{min(m[2] for m in metro):.2f}-{max(m[2] for m in metro):.2f} ms"
        )
    if intra:
        log(
            f"Intra-region rows: {len(intra)} (GCP only, two VMs in one zone): min_rtt median "
            f"{statistics.median(intra_min):.2f} ms (range {min(intra_min):.2f}-"
            f"{max(intra_min):.2f}); avg_rtt median {statistics.median(intra_avg):.2f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
