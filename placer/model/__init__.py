"""The scenario language: pydantic models in human units."""

from placer.model.catalog import Accelerator, default_catalog
from placer.model.load import load_scenario
from placer.model.scenario import Objective, Scenario, UserRegion
from placer.model.site import Cooling, Pool, Power, Site
from placer.model.workload import Inference, Redundancy, Serving, Training

__all__ = [
    "Accelerator",
    "Cooling",
    "Inference",
    "Objective",
    "Pool",
    "Power",
    "Redundancy",
    "Scenario",
    "Serving",
    "Site",
    "Training",
    "UserRegion",
    "default_catalog",
    "load_scenario",
]
