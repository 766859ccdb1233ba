"""`placer report`: one self-contained HTML page for a plan (see docs/report.md)."""

from __future__ import annotations

from pathlib import Path

import click

from placer.cli.common import handle_errors, scenario_arg


@click.command(name="report")
@scenario_arg()
@click.argument("plan_file", type=str, metavar="PLAN")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the HTML page (written atomically).",
)
@click.option(
    "--pareto",
    "pareto_file",
    type=str,
    default=None,
    metavar="FRONT",
    help="A Pareto front written by `placer pareto` (JSON/YAML): adds the cost-carbon chart.",
)
@click.option("--debug", is_flag=True, hidden=True)
@handle_errors
def report_command(
    scenario_file: str, plan_file: str, output: Path, pareto_file: str | None, debug: bool
) -> None:
    """Write PLAN for SCENARIO as one self-contained HTML page (opens offline).

    The page shows the plan's status, objective, bound and gap; KPIs; each site's use of
    GPUs, IT power, facility power, cooling and water against its capacities; cost, carbon
    and water by site and tier; a map of sites, user regions and placements; placements,
    unplaced units and binding capacities; and, with --pareto, the cost-carbon front.

    Example: placer report configs/eu_sovereign.yaml plan.json -o report.html
    """
    from placer import api
    from placer.cli.io import load_plan, write_atomic
    from placer.outputs.html_report import check_plan_matches, load_pareto, render_html

    scenario = api.load(scenario_file)
    plan = load_plan(plan_file)
    check_plan_matches(scenario, plan, plan_source=plan_file, scenario_source=scenario_file)
    pareto = load_pareto(pareto_file) if pareto_file is not None else None
    page = render_html(scenario, plan, pareto)
    write_atomic(output, page)
    click.echo(f"wrote {output} ({len(page.encode('utf-8')) / 1024:,.0f} KiB)")
