"""`placer report`: one self-contained HTML page for a plan (see docs/report.md)."""

from __future__ import annotations

from pathlib import Path

import click

from placer.cli.common import (
    HELP_OPTIONS,
    debug_option,
    handle_errors,
    output_option,
    plan_arg,
    scenario_arg,
)


@click.command(name="report", context_settings=HELP_OPTIONS)
@scenario_arg()
@plan_arg()
@output_option("Where to write the HTML page (written atomically).", required=True, dir_okay=False)
@click.option(
    "--pareto",
    "pareto_file",
    type=str,
    default=None,
    metavar="FRONT",
    help="A Pareto front written by `placer pareto` (JSON/YAML): adds the objective-carbon chart.",
)
@debug_option()
@handle_errors
def report_command(
    scenario_file: str, plan_file: str, output: Path, pareto_file: str | None, debug: bool
) -> None:
    """Write PLAN for SCENARIO as one self-contained HTML page (opens offline).

    The page shows the plan's status, objective, bound and gap; KPIs; each site's use of
    GPUs, IT power, facility power, cooling and water against its capacities; cost, carbon
    and water by site and tier; a map of sites, user regions and placements; placements,
    unplaced units and binding capacities; with --pareto, the objective-carbon front; and,
    for a timed plan, its schedule per pool, power against the cap and tariffs over time.

    Example: placer report configs/eu_sovereign.yaml plan.json -o report.html
    """
    from placer.cli.io import load_scenario_and_plan, write_atomic
    from placer.outputs.html_report import check_plan_matches, load_pareto, render_html

    scenario, plan = load_scenario_and_plan(scenario_file, plan_file)
    check_plan_matches(scenario, plan, plan_source=plan_file, scenario_source=scenario_file)
    pareto = load_pareto(pareto_file) if pareto_file is not None else None
    page = render_html(scenario, plan, pareto)
    write_atomic(output, page)
    click.echo(f"wrote {output} ({len(page.encode('utf-8')) / 1024:,.0f} KiB)")
