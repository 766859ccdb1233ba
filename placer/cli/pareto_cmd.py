"""`placer pareto`: the objective-carbon front of a scenario (epsilon-constraint sweep)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import click

from placer.cli.common import (
    HELP_OPTIONS,
    backend_option,
    debug_option,
    echo_formatted,
    exit_for_status,
    format_option,
    gap_option,
    handle_errors,
    output_option,
    scenario_arg,
    seed_option,
    time_limit_option,
)
from placer.outputs import text_report
from placer.plan.plan import ParetoFront, ParetoPoint


@click.command(name="pareto", context_settings=HELP_OPTIONS)
@scenario_arg()
@click.option(
    "-n",
    "--points",
    "n_points",
    type=click.IntRange(min=2),
    default=20,
    show_default=True,
    help="Carbon caps to sweep, both ends included.",
)
@output_option(
    "Also write the front here (JSON; YAML if the name ends .yaml/.yml).", dir_okay=False
)
@format_option("table", "json")
@time_limit_option(
    300.0, "Budget for all the sweep's solves together, s (points cut short keep their gap)."
)
@gap_option("Relative optimality gap each point is proven to.")
@backend_option("MILP backend: highs (default), scip or cpsat.")
@seed_option()
@click.option("--keep-plans", is_flag=True, help="Put each point's full plan in the JSON.")
@click.option("--compare", is_flag=True, help="Also time one plain MILP solve (single_solve_s).")
@debug_option()
@handle_errors
def pareto_command(
    scenario_file: str,
    n_points: int,
    output: Path | None,
    fmt: str,
    debug: bool,
    **sweep_flags: Any,  # time_limit_s, relative_gap, backend, seed, keep_plans, compare
) -> None:
    """Sweep the objective against carbon for SCENARIO: the best plan under each of N carbon caps.

    The caps run evenly from the least carbon any plan can emit to the carbon of the
    cheapest plan (epsilon-constraint method; each solve starts from the best plan found
    under a tighter cap). The swept objective is the scenario's with its carbon price set to 0:
    cost + priced water + value of unplaced work, USD/h; every hard constraint of the
    scenario stays. Each point is proven within --gap and checked by the independent
    verifier; duplicate and dominated points are dropped (listed in the JSON). The USD/t
    column is the carbon price implied between neighbouring points.

    Example: placer pareto configs/us_carbon_vs_price.yaml -n 20 -o front.json
    """
    from placer import api
    from placer.analysis.pareto import pareto_front
    from placer.cli.io import write_model

    scenario = api.load(scenario_file)
    front = pareto_front(scenario, n_points, **sweep_flags)
    write_model(output, front)
    echo_formatted(fmt, front, table=front_table, json=text_report.to_json)
    exit_for_status(front.status)


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _gap(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _row(i: int, p: ParetoPoint) -> list[str]:
    return [
        str(i),
        _num(p.carbon_cap_kg_per_h, 2),
        _num(p.carbon_kg_per_h, 2),
        _num(p.cost_usd_per_h, 2),
        _num(p.objective_usd_per_h, 2),
        str(p.unplaced_units),
        _num(p.mean_latency_ms, 1),
        _gap(p.gap),
        _num(p.implied_carbon_price_usd_per_t, 0),
    ]


HEADERS = [
    "#",
    "cap kg/h",
    "carbon kg/h",
    "cost USD/h",
    "objective USD/h",
    "unplaced",
    "RTT ms",
    "gap",
    "USD/t",
]


def front_table(front: ParetoFront) -> str:
    """The front for a terminal: one row per kept point, lowest objective first (cost,
    carbon and unplaced work in their own columns)."""
    out = io.StringIO()
    swept = len(front.points) + len(front.dropped)
    out.write(
        f"{front.scenario or 'scenario'}: objective-carbon front, {front.status} — "
        f"{len(front.points)} points ({swept} caps swept, {len(front.dropped)} dropped)\n"
    )
    out.write(f"  {front.message}\n")
    timing = f"  {front.solves} MILP solves ({front.solver}), {front.wall_s:.2f} s"
    if front.single_solve_s:
        ratio = front.wall_s / front.single_solve_s
        timing += f"; one plain solve: {front.single_solve_s:.2f} s ({ratio:.1f}x)"
    out.write(timing + "\n")
    if not front.points:
        return out.getvalue()
    out.write(
        "  objective = cost + priced water + value of unplaced work, USD/h "
        "(carbon price set to 0)\n\n"
    )
    rows = [_row(i, p) for i, p in enumerate(front.points)]
    widths = [max(len(h), *(len(r[c]) for r in rows)) for c, h in enumerate(HEADERS)]
    for cells in [HEADERS, ["-" * w for w in widths], *rows]:
        out.write("  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) + "\n")
    out.write(
        "\nUSD/t: extra objective per tonne of CO2e avoided, from the row above to this "
        "one\n(the carbon price at which both plans are equally good).\n"
    )
    for p in front.dropped:
        out.write(f"dropped cap {p.carbon_cap_kg_per_h:,.2f} kg/h: {p.note}\n")
    return out.getvalue()
