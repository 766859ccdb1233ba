"""`placer plan-capacity`: what to build, buy or commit to, and when. The logic lives in
`placer.capacity`; this module parses options and writes the report."""

from __future__ import annotations

from pathlib import Path

import click

from placer.cli.common import (
    HELP_OPTIONS,
    OutputPath,
    debug_option,
    echo_formatted,
    format_option,
    gap_option,
    handle_errors,
    output_option,
    scenario_arg,
    seed_option,
    time_limit_option,
)
from placer.cli.io import is_stdout, load_scenario, write_atomic, write_output
from placer.errors import ScenarioError


@click.command(name="plan-capacity", context_settings=HELP_OPTIONS)
@scenario_arg()
@time_limit_option(60.0, "Wall-clock limit for the plan and its two baselines, s.")
@gap_option()
@seed_option()
@click.option(
    "--no-baselines",
    is_flag=True,
    help="Skip the 'cloud on-demand only' and 'build only on-prem' baselines.",
)
@click.option(
    "--no-roi",
    is_flag=True,
    help="Skip the ROI of each purchase (one re-solve per purchase).",
)
@click.option(
    "--html",
    "html_path",
    type=OutputPath(path_type=Path, dir_okay=False),
    default=None,
    metavar="PATH",
    help="Also write the plan as one self-contained HTML page (atomically): capacity "
    "against demand per site and month by source, the order calendar, KPIs, scenarios.",
)
@format_option("table", "json")
@output_option("Write the plan as JSON to this file (atomically; '-' for stdout).")
@debug_option()
@handle_errors
def capacity_command(
    scenario_file: str,
    time_limit_s: float,
    relative_gap: float,
    seed: int,
    no_baselines: bool,
    no_roi: bool,
    html_path: Path | None,
    fmt: str,
    output: Path | None,
    debug: bool,
) -> None:
    """Plan what to build, buy or commit to, and when, for SCENARIO's build_options.

    One MILP over build decisions and monthly placement (docs/capacity.md); the net
    present cost is compared with 'cloud on-demand only' and 'build only on-prem'.
    With planning.scenarios, also the two-stage plan (orders before decide_by shared by
    every scenario) and the regret of each single-scenario plan. KPIs: cost per GPU-hour
    (and per training GPU-hour, per 1k tokens), utilisation and power per site and
    month, the ROI of each purchase.

    Example: placer plan-capacity configs/capacity/us_build.yaml --format json
    """
    # the MILP (OR-Tools) loads only when the command runs: --help stays light
    from placer.capacity.plan import plan_capacity
    from placer.capacity.report import to_json, to_table

    scenario = load_scenario(scenario_file)
    if not scenario.build_options:
        raise ScenarioError(f"{scenario_file}: no build_options to plan (docs/capacity.md)")
    try:
        plan = plan_capacity(
            scenario,
            time_limit_s=time_limit_s,
            relative_gap=relative_gap,
            seed=seed,
            baselines=not no_baselines,
            roi=not no_roi,
        )
    except ValueError as e:
        raise ScenarioError(f"{scenario_file}: {e}") from None
    if output is not None:
        write_output(output, to_json(plan))
    if html_path is not None:
        from placer.outputs.html.capacity_page import render_capacity_html

        write_atomic(html_path, render_capacity_html(plan))
    echo_formatted(fmt, plan, err=is_stdout(output), table=to_table, json=to_json)
