"""`placer rolling`: simulate rolling-horizon re-planning of a timed scenario (re-plan every
few periods as forecasts update) and compare the realised schedule with the
perfect-foresight plan and the agnostic baseline. The logic lives in
`placer.analysis.rolling`; this module parses options and formats the report."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from placer.cli.common import (
    EXIT_OK,
    HELP_OPTIONS,
    FiniteFloatRange,
    debug_option,
    echo_formatted,
    format_option,
    handle_errors,
    output_option,
    scenario_arg,
    seed_option,
    time_limit_option,
)
from placer.cli.io import load_scenario, write_output
from placer.errors import OptionError


@click.command(name="rolling", context_settings=HELP_OPTIONS)
@scenario_arg()
@click.option(
    "--every",
    type=click.IntRange(min=1),
    default=6,
    show_default=True,
    help="Periods between re-plans (each commits this many periods).",
)
@click.option(
    "--lookahead",
    type=click.IntRange(min=1),
    default=48,
    show_default=True,
    help="Periods each re-plan looks ahead (at least --every; stretched to the deadline of "
    "a training run that may start inside it).",
)
@click.option(
    "--forecast",
    type=click.Choice(["persistence", "perfect"]),
    default="persistence",
    show_default=True,
    help="What a re-plan sees of later periods' prices, carbon and demand: persistence "
    "(the same time yesterday) or perfect (the actuals: the oracle).",
)
@click.option("--solver", default="milp", show_default=True, help="Engine of each re-plan.")
@time_limit_option(10.0, "Solver limit of each re-plan, s.")
@click.option(
    "--oracle-time-limit-s",
    type=FiniteFloatRange(min=0.0, min_open=True),
    default=120.0,
    show_default=True,
    help="Limit of the perfect-foresight solve of the whole horizon, s.",
)
@click.option(
    "--move-cost-usd",
    "move_cost_usd",
    type=FiniteFloatRange(min=0.0),
    default=None,
    help="USD per service replica moved to a pool its region did not use the period "
    "before (default: the workload's migration block, else 0.1 h of the destination's cost).",
)
@click.option(
    "--no-move-price",
    is_flag=True,
    help="Count moves in the evaluation only; the re-plans do not see their price.",
)
@seed_option()
@output_option("Write the report as JSON here (atomic; - for stdout).", dir_okay=False)
@format_option("table", "json")
@debug_option()
@handle_errors
def rolling_command(
    scenario_file: str,
    every: int,
    lookahead: int,
    forecast: str,
    solver: str,
    time_limit_s: float,
    oracle_time_limit_s: float,
    move_cost_usd: float | None,
    no_move_price: bool,
    seed: int,
    output: Path | None,
    fmt: str,
    debug: bool,
) -> None:
    """Re-plan SCENARIO (a timed scenario) every --every periods over a --lookahead window,
    with a forecast of prices, carbon and demand; commit each step's periods; evaluate the
    realised schedule with the actual series beside the perfect-foresight plan and the
    agnostic baseline (greedy).

    \b
    Exit 0 with a report; 2 for bad input (a static scenario, period_hours not dividing
    24 h with --forecast persistence, --lookahead below --every). See docs/rolling.md.

    \b
    Example: placer rolling configs/time/eu_week.yaml --every 6 --lookahead 48 \\
               --time-limit-s 5 -o rolling.json
    """
    from placer.analysis.rolling import roll

    source = click.get_current_context().get_parameter_source("lookahead")
    if source == click.core.ParameterSource.DEFAULT and lookahead < every:
        raise OptionError(
            f"--every: {every} periods is more than the default --lookahead of {lookahead} "
            f"periods; give --lookahead {every} or more, or a smaller --every"
        )
    scenario = load_scenario(scenario_file)
    report = roll(
        scenario,
        every_periods=every,
        lookahead_periods=lookahead,
        forecast=forecast,
        solver=solver,
        time_limit_s=time_limit_s,
        move_cost_usd_per_replica=move_cost_usd,
        price_moves_in_replan=not no_move_price,
        oracle_time_limit_s=oracle_time_limit_s,
        seed=seed,
    )
    if output is not None:
        write_output(output, _json(report))
    echo_formatted(fmt, report, err=output == Path("-"), table=rolling_table, json=_json)
    sys.exit(EXIT_OK)


def _json(report) -> str:
    return report.model_dump_json(indent=2) + "\n"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.3f}%"


def rolling_table(report) -> str:
    """The report for people: the three schedules side by side, then the comparisons."""
    lookahead = "all" if report.lookahead_periods is None else str(report.lookahead_periods)
    lines = [
        f"placer rolling — {report.scenario}: {report.replans} re-plans, every "
        f"{report.every_periods} of {report.periods} periods ({report.period_hours:g} h), "
        f"lookahead {lookahead}, forecast {report.forecast}, solver {report.solver} "
        f"({report.time_limit_s:g} s each), moves "
        + ("priced" if report.price_moves else "counted only"),
        "",
    ]
    headers = [
        "schedule",
        "cost_usd",
        "carbon_kg",
        "objective_usd",
        "moves",
        "move_cost_usd",
        "runs_missed",
        "paused",
        "unserved",
        "violations",
    ]
    rows = []
    for o in (report.rolling, report.oracle, report.baseline):
        if o is None:
            continue
        rows.append(
            [
                f"{o.name} ({o.solver})",
                f"{o.cost_usd:,.2f}",
                f"{o.carbon_kg:,.2f}",
                f"{o.objective_usd:,.2f}",
                str(o.moves),
                f"{o.move_cost_usd:,.2f}",
                str(len(o.runs_missed)),
                str(o.paused_runs),
                str(o.unserved_units),
                str(len(o.violations)),
            ]
        )
    lines.append(_table(headers, rows))
    lines += [
        "",
        f"rolling vs oracle: cost {_pct(report.gap_vs_oracle_cost_pct)}, carbon "
        f"{_pct(report.gap_vs_oracle_carbon_pct)}, objective "
        f"{_pct(report.gap_vs_oracle_objective_pct)}, cost with moves "
        f"{_pct(report.gap_vs_oracle_cost_with_moves_pct)}",
        f"savings vs baseline: rolling cost {_pct(report.savings_vs_baseline_cost_pct)}, "
        f"carbon {_pct(report.savings_vs_baseline_carbon_pct)}; oracle cost "
        f"{_pct(report.oracle_savings_vs_baseline_cost_pct)}, carbon "
        f"{_pct(report.oracle_savings_vs_baseline_carbon_pct)}",
    ]
    for o in (report.rolling, report.oracle, report.baseline):
        if o is not None and o.violations:
            lines.append(f"{o.name}: {len(o.violations)} violations, first: {o.violations[0]}")
    lines += [f"note: {n}" for n in report.notes[:10]]
    lines += [f"step t={s.t}: {s.note}" for s in report.steps if s.note][:10]
    return "\n".join(lines) + "\n"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in out)


__all__ = ["rolling_command", "rolling_table"]
