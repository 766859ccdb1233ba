"""Reading a Pareto front for the report and checking that a plan fits its scenario.

Draws nothing: these run before the page is assembled.
"""

from __future__ import annotations

from pathlib import Path

from placer.errors import ScenarioError
from placer.model.load import validate_model
from placer.model.scenario import Scenario
from placer.model.yaml_text import read_document
from placer.plan.plan import ParetoFront, Plan


def load_pareto(path: Path | str) -> ParetoFront:
    """Reads a Pareto front written by `placer pareto` (JSON or YAML).

    Raises:
      ScenarioError: unreadable, malformed, or not a ParetoFront (exit code 2).
    """
    data, source = read_document(path)
    return validate_model(ParetoFront, data, source=source)


def check_plan_matches(
    scenario: Scenario,
    plan: Plan,
    *,
    plan_source: str = "the plan",
    scenario_source: str = "the scenario",
) -> None:
    """Checks that every site, pool and user region the plan names exists in the scenario.

    Raises:
      ScenarioError: the plan was made from another scenario (exit code 2).
    """
    sites = {s.id: s for s in scenario.sites}
    regions = {r.id for r in scenario.user_regions}
    hint = f"; was {plan_source} made from another scenario than {scenario_source}?"

    def unknown_site(where: str, site: str) -> ScenarioError:
        known = ", ".join(repr(s) for s in list(sites)[:8])
        return ScenarioError(
            f"{plan_source}: {where} names site {site!r}, which {scenario_source} does not "
            f"define (its sites: {known}{', ...' if len(sites) > 8 else ''}){hint}"
        )

    for i, p in enumerate(plan.placements):
        where = f"placements.{i} ({p.unit})"
        if p.site not in sites:
            raise unknown_site(where, p.site)
        pools = {pool.key for pool in sites[p.site].pools}
        if p.pool not in pools:
            raise ScenarioError(
                f"{plan_source}: {where} names pool {p.pool!r} at site {p.site!r}, which "
                f"{scenario_source} does not define (pools there: {sorted(pools)}){hint}"
            )
        if p.region is not None and p.region not in regions:
            raise ScenarioError(
                f"{plan_source}: {where} names user region {p.region!r}, which "
                f"{scenario_source} does not define{hint}"
            )
        for n, seg in enumerate(p.segments or ()):  # a paused or moved run (docs/time.md)
            site = seg.site or p.site
            if site not in sites:
                raise unknown_site(f"{where} segments.{n}", site)
            if (seg.pool or p.pool) not in {pool.key for pool in sites[site].pools}:
                raise ScenarioError(
                    f"{plan_source}: {where} segments.{n} names pool {seg.pool or p.pool!r} "
                    f"at site {site!r}, which {scenario_source} does not define{hint}"
                )
    for i, s in enumerate(plan.sites):
        if s.site not in sites:
            raise unknown_site(f"sites.{i}", s.site)
    for i, c in enumerate(plan.capacity_prices):
        if c.site != "*" and c.site not in sites:
            raise unknown_site(f"capacity_prices.{i}", c.site)
