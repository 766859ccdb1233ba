"""Network round-trip time from distance, when no measured RTT is given.

    rtt_ms = overhead_ms + 2 * great_circle_km * route_factor / FIBRE_KM_PER_MS

Light in fibre covers ~200 km per ms; real routes are longer than the great circle
(route_factor) and every path adds switching, last-mile and queueing time
(overhead_ms). Both constants are fitted by `scripts/calibrate_latency.py` against
the measured inter-region RTT grid in ../shared/data/latency; docs/latency.md states
the fit and the model's error.
"""

from __future__ import annotations

import math

FIBRE_KM_PER_MS = 200.0
EARTH_RADIUS_KM = 6371.0
#: Fitted by scripts/calibrate_latency.py (see docs/latency.md): Huber fit on the 383
#: AWS/Azure/GCP region pairs closer than 3,000 km in the Skyplane ping grid (April 2022)
#: gave 1.83 (95% CI 1.72-1.93); rounded. Intercontinental pairs are not fitted: there the
#: model overestimates RTT (median +14 ms), which errs on the safe side of an SLO.
ROUTE_FACTOR = 1.8
#: Fitted by scripts/calibrate_latency.py (see docs/latency.md): 4.4 ms (95% CI 3.4-5.4);
#: rounded to whole ms. Measured data-centre pairs in the same metro show 1.5-5 ms (median
#: 2.8 ms); two VMs in one zone ~1.1-1.3 ms. Access-network (last-mile) time is not included.
OVERHEAD_MS = 4.0


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance between two points given in degrees, km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def modelled_rtt_ms(
    distance_km: float, route_factor: float = ROUTE_FACTOR, overhead_ms: float = OVERHEAD_MS
) -> float:
    """Round-trip time over fibre for a great-circle distance, ms."""
    return overhead_ms + 2.0 * distance_km * route_factor / FIBRE_KM_PER_MS
