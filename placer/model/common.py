"""Shared pydantic base and small value types of the scenario language."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(gt=0, le=1)]


class StrictModel(BaseModel):
    """Base of every scenario model: strict, frozen, no unknown keys."""

    model_config = STRICT


class Location(StrictModel):
    """Where a site or a population of users is."""

    lat: float = Field(ge=-90, le=90, description="Latitude, degrees.")
    lon: float = Field(ge=-180, le=180, description="Longitude, degrees.")
    country: CountryCode
    cloud_region: str | None = Field(
        default=None, description="Cloud region code, e.g. europe-west4 (informational)."
    )
    metro: str | None = Field(default=None, description="City or metro name (informational).")
