"""Shared pydantic base and small value types of the scenario language."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticUndefined

from placer.model.countries import ISO_COUNTRIES, NOT_COUNTRIES

# Strict: unknown keys fail, "5" is not a number, NaN/Inf are rejected, objects frozen.
STRICT = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

Id = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="Identifier: letters, digits, '.', '_', ':' or '-'; starts alphanumeric.",
    ),
]


def _check_country(code: str) -> str:
    if code in ISO_COUNTRIES:
        return code
    if code in NOT_COUNTRIES:
        raise ValueError(f"{code!r} is not an ISO 3166-1 country code: {NOT_COUNTRIES[code]}")
    raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code (e.g. DE, NO, US)")


#: Named groups a residency list may use; expanded to member states when loaded.
_EU = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"
COUNTRY_GROUPS: dict[str, tuple[str, ...]] = {"EU": tuple(_EU.split())}
COUNTRY_GROUPS["EEA"] = (*COUNTRY_GROUPS["EU"], "IS", "LI", "NO")


def expand_country_groups(codes: object) -> object:
    """['EU', 'CH'] -> the 27 EU members and CH (order kept, duplicates dropped)."""
    if not isinstance(codes, list):
        return codes
    out: list[object] = []
    for code in codes:
        for c in COUNTRY_GROUPS.get(code, (code,)) if isinstance(code, str) else (code,):
            if c not in out:
                out.append(c)
    return out


CountryCode = Annotated[
    str,
    Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country code, e.g. DE, NO."),
    AfterValidator(_check_country),
]

# Physical ranges. Every number of the scenario language has a finite range: above any
# real fleet, so that no real scenario is refused, and far below float overflow, so that
# compile's products (GPUs x price x speed, kW x PUE x gCO2e/kWh, ...) stay finite and
# well inside what the solvers accept (HiGHS reads coefficients >= 1e20 as infinite). A
# 1e308 price is an input error, not a cost. Each bound is stated in its field's
# description ("Range [0, 10,000]"), the schema, and the error that rejects a value.

#: Money per hour of one workload or of the whole plan, USD/h: world GDP is ~1.2e10 USD/h.
MAX_USD_PER_H = 1e10
#: Price of one GPU-hour, USD: cloud list prices are 0.1-15 USD; whole-rack or wafer-scale
#: systems rented as one accelerator a few hundred.
MAX_USD_PER_GPU_H = 1e4
#: Electricity tariff, USD/kWh: wholesale price caps are 3-10 USD/kWh (ERCOT 5, EU 4 EUR);
#: day-ahead floors are negative (EU -0.5 EUR, ERCOT -0.25 USD): hours of surplus
#: renewables pay consumers to draw.
MAX_USD_PER_KWH = 100.0
MIN_USD_PER_KWH = -10.0
#: Power of one site, kW (IT, facility, heat): the largest campuses planned are ~5 GW.
MAX_SITE_KW = 1e7
#: Power of one rack or one node, kW: the densest racks announced draw ~600 kW.
MAX_RACK_KW = 1e4
#: GPUs in one pool (the largest clusters hold ~2e5) and in one training gang.
MAX_POOL_GPUS = 10_000_000
MAX_GANG_GPUS = 1_000_000
#: Grid carbon intensity, gCO2e/kWh: lignite ~1,200, small diesel gensets ~1,000.
MAX_G_PER_KWH = 1e4
#: Requests/s of one workload from one region: the busiest services serve ~1e7 in all.
MAX_RPS = 1e9
#: Least requests/s one replica may be said to sustain (one request per 1,000 s).
MIN_RPS_PER_REPLICA = 1e-3
#: Replicas one serving option may need for one region (demand / rps per replica): more
#: than any pool could hold (MAX_POOL_GPUS) and safe as an int32 count.
MAX_REPLICAS = 1e9
#: Water: WUE, litres per kWh (evaporative cooling uses ~0-10), and a site's daily draw,
#: litres (a large campus ~5e6 L/day).
MAX_L_PER_KWH = 100.0
MAX_L_PER_DAY = 1e11
#: Data egress price, USD/GB (list prices are 0.01-0.2).
MAX_USD_PER_GB = 1e3
#: Checkpoint or data size, GB.
MAX_SIZE_GB = 1e9
#: Carbon price, USD/t (the highest carbon taxes are ~150), and water price, USD/m3.
MAX_USD_PER_T = 1e5
MAX_USD_PER_M3 = 1e5
#: A plan-wide carbon cap, kgCO2e/h.
MAX_KG_PER_H = 1e10
#: Round-trip time and latency SLOs, ms: a geostationary satellite hop is ~600 ms.
MAX_MS = 1e5
#: Hours of a training run or its deadline: 1e6 h is 114 years.
MAX_HOURS = 1e6
#: Device memory, GB: the largest accelerators hold 288 GB.
MAX_MEMORY_GB = 1e5
#: Board power of one accelerator, W: GPUs draw up to ~1.4 kW, wafer-scale systems ~23 kW.
MAX_TDP_W = 1e6
#: Dense BF16 throughput of one accelerator, TFLOP/s: from a phone CPU (~0.01) to far
#: above wafer-scale parts (~1e5); the ratio of two is a training run's speed-up.
MIN_TFLOPS, MAX_TFLOPS = 0.01, 1e6


def _num(x: float) -> str:
    """1e7 -> '1e7', 10000 -> '10,000', 0.001 -> '0.001' (for range text)."""
    if x == 0 or 1e-3 <= abs(x) < 1e6:
        return f"{x:,g}"
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def ranged(
    description: str,
    *,
    le: float,
    ge: float | None = None,
    gt: float | None = None,
    default: Any = PydanticUndefined,
    **kwargs: Any,
) -> Any:
    """A `Field` with a lower bound (`ge` or `gt`) and an upper bound (`le`), the range
    appended to its description: "Power, kW. Range (0, 1e7]."."""
    low = f"[{_num(ge)}" if ge is not None else f"({_num(gt if gt is not None else 0)}"
    text = f"{description.rstrip()} Range {low}, {_num(le)}]."
    return Field(default, ge=ge, gt=gt, le=le, description=text, **kwargs)


#: Value types for the entries of a mapping (demand per region), bounded like fields.
DemandRps = Annotated[float, Field(ge=0, le=MAX_RPS)]
Fraction = Annotated[float, Field(gt=0, le=1)]


class StrictModel(BaseModel):
    """Base of every scenario model: strict, frozen, no unknown keys."""

    model_config = STRICT


class Location(StrictModel):
    """Where a site or a population of users is."""

    lat: float = ranged("Latitude, degrees.", ge=-90, le=90)
    lon: float = ranged("Longitude, degrees.", ge=-180, le=180)
    country: CountryCode
    cloud_region: str | None = Field(
        default=None, description="Cloud region code, e.g. europe-west4 (informational)."
    )
    metro: str | None = Field(default=None, description="City or metro name (informational).")
