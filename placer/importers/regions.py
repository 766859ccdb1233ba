"""Cloud regions -> where they are: metro coordinates (approximate, ~50 km: the city the
region is named after or sits near, not the data centre) and ISO country code.

Enough for latency and residency rules to work on an imported file; a region missing
here gets a placeholder location and a TODO. Zones map to their region by name
(`us-east-1a` -> `us-east-1`, `us-central1-a` -> `us-central1`, `eastus-1` -> `eastus`).
"""

from __future__ import annotations

import re

#: region -> (lat, lon, country, metro)
REGIONS: dict[str, tuple[float, float, str, str]] = {
    # AWS
    "us-east-1": (39.04, -77.49, "US", "Ashburn"),
    "us-east-2": (39.96, -83.00, "US", "Columbus"),
    "us-west-1": (37.77, -122.42, "US", "San Francisco"),
    "us-west-2": (45.52, -122.68, "US", "Portland"),
    "ca-central-1": (45.50, -73.57, "CA", "Montreal"),
    "sa-east-1": (-23.55, -46.63, "BR", "Sao Paulo"),
    "eu-west-1": (53.35, -6.26, "IE", "Dublin"),
    "eu-west-2": (51.51, -0.13, "GB", "London"),
    "eu-west-3": (48.86, 2.35, "FR", "Paris"),
    "eu-central-1": (50.11, 8.68, "DE", "Frankfurt"),
    "eu-north-1": (59.33, 18.07, "SE", "Stockholm"),
    "eu-south-1": (45.46, 9.19, "IT", "Milan"),
    "ap-northeast-1": (35.68, 139.69, "JP", "Tokyo"),
    "ap-northeast-2": (37.57, 126.98, "KR", "Seoul"),
    "ap-south-1": (19.08, 72.88, "IN", "Mumbai"),
    "ap-southeast-1": (1.35, 103.82, "SG", "Singapore"),
    "ap-southeast-2": (-33.87, 151.21, "AU", "Sydney"),
    # Google Cloud
    "us-central1": (41.26, -95.86, "US", "Council Bluffs"),
    "us-east1": (33.20, -80.01, "US", "Moncks Corner"),
    "us-east4": (39.04, -77.49, "US", "Ashburn"),
    "us-east5": (39.96, -83.00, "US", "Columbus"),
    "us-south1": (32.78, -96.80, "US", "Dallas"),
    "us-west1": (45.60, -121.18, "US", "The Dalles"),
    "us-west2": (34.05, -118.24, "US", "Los Angeles"),
    "us-west4": (36.17, -115.14, "US", "Las Vegas"),
    "europe-west1": (50.45, 3.82, "BE", "St. Ghislain"),
    "europe-west2": (51.51, -0.13, "GB", "London"),
    "europe-west3": (50.11, 8.68, "DE", "Frankfurt"),
    "europe-west4": (53.44, 6.83, "NL", "Eemshaven"),
    "europe-north1": (60.57, 27.20, "FI", "Hamina"),
    "asia-east1": (24.08, 120.54, "TW", "Changhua"),
    "asia-northeast1": (35.68, 139.69, "JP", "Tokyo"),
    "asia-northeast3": (37.57, 126.98, "KR", "Seoul"),
    "asia-south1": (19.08, 72.88, "IN", "Mumbai"),
    "asia-southeast1": (1.34, 103.70, "SG", "Jurong West"),
    "australia-southeast1": (-33.87, 151.21, "AU", "Sydney"),
    "me-west1": (32.09, 34.78, "IL", "Tel Aviv"),
    # Azure
    "eastus": (36.67, -78.39, "US", "Boydton"),
    "eastus2": (36.67, -78.39, "US", "Boydton"),
    "centralus": (41.59, -93.60, "US", "Des Moines"),
    "northcentralus": (41.88, -87.63, "US", "Chicago"),
    "southcentralus": (29.42, -98.49, "US", "San Antonio"),
    "westus": (37.77, -122.42, "US", "San Francisco"),
    "westus2": (47.23, -119.85, "US", "Quincy"),
    "westus3": (33.45, -112.07, "US", "Phoenix"),
    "canadacentral": (43.65, -79.38, "CA", "Toronto"),
    "northeurope": (53.35, -6.26, "IE", "Dublin"),
    "westeurope": (52.37, 4.90, "NL", "Amsterdam"),
    "uksouth": (51.51, -0.13, "GB", "London"),
    "francecentral": (48.86, 2.35, "FR", "Paris"),
    "germanywestcentral": (50.11, 8.68, "DE", "Frankfurt"),
    "swedencentral": (60.67, 17.14, "SE", "Gavle"),
    "japaneast": (35.68, 139.69, "JP", "Tokyo"),
    "koreacentral": (37.57, 126.98, "KR", "Seoul"),
    "southeastasia": (1.35, 103.82, "SG", "Singapore"),
    "centralindia": (18.52, 73.86, "IN", "Pune"),
    "australiaeast": (-33.87, 151.21, "AU", "Sydney"),
}

#: Placeholder location of a region not in REGIONS (0, 0 is in the Gulf of Guinea: an
#: obviously wrong place, so that a forgotten TODO shows on a map).
PLACEHOLDER = (0.0, 0.0, "US", "")

_AWS_ZONE = re.compile(r"^([a-z]{2}(?:-gov)?-[a-z]+-\d+)[a-z]$")
_DASH_ZONE = re.compile(r"^(.+)-[a-z0-9]$")


def region_of_zone(zone: str) -> str | None:
    """The cloud region a zone name belongs to; None when the name is not a cloud zone's
    (an on-prem `rack-a` says nothing of where the site is)."""
    if m := _AWS_ZONE.match(zone):
        return m[1]
    if (m := _DASH_ZONE.match(zone)) and m[1] in REGIONS:
        return m[1]
    return None


def locate(region: str | None) -> tuple[float, float, str, str] | None:
    """(lat, lon, country, metro) of a known cloud region, else None."""
    return REGIONS.get(region or "")
