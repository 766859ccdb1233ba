"""`placer replan`: re-plan a running fleet from its current placement, with moves priced
and bounded. The logic lives in `placer.analysis.replan`; this module parses options and
formats the report."""

from __future__ import annotations

import dataclasses
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
from placer.cli.io import write_model, write_output

#: Moves listed in the table (all of them are in --format json).
MAX_LISTED = 20


@click.command(name="replan", context_settings=HELP_OPTIONS)
@scenario_arg()
@click.option(
    "--current",
    "current_file",
    required=True,
    metavar="FILE",
    help="What runs now: a plan (placer solve -o plan.json), a JSON/YAML list of "
    "{workload, site, pool[, region][, copy]}, or a CSV with those columns.",
)
@click.option(
    "--event",
    "events",
    multiple=True,
    metavar="PATH=VALUE",
    help="What changed since (the syntax of placer whatif --set), e.g. "
    "sites.fra-hall.power.grid_cap_kw=-25%. Repeatable: all events apply together.",
)
@click.option(
    "--max-moves", type=click.IntRange(min=0), default=None, help="At most this many moves."
)
@click.option(
    "--max-moved-gpus-pct",
    type=FiniteFloatRange(0.0, 100.0),
    default=None,
    help="At most this % of the running GPUs move.",
)
@click.option(
    "--payback-h",
    type=FiniteFloatRange(min=0.0, min_open=True),
    default=168.0,
    show_default=True,
    help="A move's cost (USD) is spread over this many hours: a move is made when it pays "
    "for itself within them.",
)
@click.option(
    "--min-gain-usd-per-h",
    type=FiniteFloatRange(min=0.0),
    default=0.0,
    show_default=True,
    help="Hysteresis: a move must also save at least this much, USD/h.",
)
@click.option(
    "--curve",
    is_flag=True,
    help="Also give the best plan with at most 0, 1, 2, 5, 10 %% of the running units "
    "moved, and with no limit.",
)
@click.option(
    "--fewest-moves",
    is_flag=True,
    help="Return the plan with the fewest moves that restore feasibility, not the moves "
    "worth making beyond them.",
)
@time_limit_option(60.0, "Wall-clock limit of the whole re-plan, s.")
@seed_option()
@output_option(
    "Write the new plan here (YAML if the name ends .yaml/.yml, JSON otherwise; atomic).",
    dir_okay=False,
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the whole report (moves, curve, plan) as JSON here.",
)
@format_option("table", "json")
@debug_option()
@handle_errors
def replan_command(
    scenario_file: str,
    current_file: str,
    events: tuple[str, ...],
    max_moves: int | None,
    max_moved_gpus_pct: float | None,
    payback_h: float,
    min_gain_usd_per_h: float,
    curve: bool,
    fewest_moves: bool,
    time_limit_s: float,
    seed: int,
    output: Path | None,
    report_file: Path | None,
    fmt: str,
    debug: bool,
) -> None:
    """Re-plan SCENARIO from what runs now (--current), after the --event changes: first
    the fewest moves that make the placement feasible again, then the moves worth their
    cost. Prints the moves (from, to, why, saving) and, with --curve, the objective
    against the number of moves allowed.

    \b
    Exit 0 with a plan; 2 for bad input (a current placement that names what the
    scenario lacks or is not a valid plan of it, a bad --event); 3 when no plan is
    feasible after the events. See docs/replan.md.

    \b
    Example: placer replan configs/us_carbon_vs_price.yaml --current plan.json \\
               --event sites.dallas-hall.power.it_capacity_kw=-25% -o plan-after.json
    """
    from placer.analysis.replan import ReplanOptions, replan
    from placer.analysis.replan_current import read_current
    from placer.analysis.whatif_parse import Variant, parse_change
    from placer.model.yaml_text import read_document

    doc, source = read_document(scenario_file)
    changes = tuple(
        dataclasses.replace(parse_change(text), option=f"--event {text}") for text in events
    )
    variant = Variant("; ".join(events), changes) if changes else None
    options = ReplanOptions(
        time_limit_s=time_limit_s,
        seed=seed,
        max_moves=max_moves,
        max_moved_gpus_pct=max_moved_gpus_pct,
        payback_h=payback_h,
        min_gain_usd_per_h=min_gain_usd_per_h,
        curve=curve,
        fewest_moves=fewest_moves,
    )
    report = replan(doc, read_current(current_file), source=source, events=variant, options=options)
    write_model(output, report.plan)
    if report_file is not None:
        write_output(report_file, report.model_dump_json(indent=2) + "\n")
    echo_formatted(fmt, report, table=replan_table, json=_json)
    sys.exit(EXIT_OK)


def _json(report) -> str:
    return report.model_dump_json(indent=2)


def replan_table(report) -> str:
    """The report for people: the counts, the moves and the curve."""
    lines = [
        f"placer replan — {report.scenario}: {report.moves} moves "
        f"({report.moved_gpus:,.0f} of {report.running_gpus:,.0f} running GPUs), "
        f"{report.starts} starts",
    ]
    for e in report.events:
        lines.append(f"  event {e.text}: {_value(e.before)} -> {_value(e.after)}")
    if report.current_feasible:
        now = report.current_objective_usd_per_h
        lines.append(f"  the current placement is still valid: {now:,.2f} USD/h")
    else:
        lines.append("  the current placement is no longer valid:")
        lines += [f"    {p}" for p in report.current_problems[:10]]
        lines.append(
            f"  fewest moves that restore it: {report.fewest_moves} "
            f"(no plan needs fewer than {report.moves_lower_bound})"
        )
    lines.append(
        f"  objective {report.objective_usd_per_h:,.2f} USD/h   moves cost "
        f"{report.move_cost_usd:,.2f} USD (over {report.payback_h:g} h: "
        f"{report.objective_with_moves_usd_per_h:,.2f} USD/h with moves"
        + (
            f", bound {report.bound_with_moves_usd_per_h:,.2f})"
            if report.bound_with_moves_usd_per_h is not None
            else ")"
        )
    )
    if report.scope == "restricted":
        lines.append(
            "  searched a neighbourhood (the units the events touch and those with a move "
            "that pays); the other units stay"
        )
    if report.move_list:
        lines += ["", "Moves"]
        rows = [
            [
                m.unit,
                f"{m.from_site}/{m.from_pool}",
                f"{m.to_site}/{m.to_pool}" if m.to_site else "(shed)",
                m.reason,
                "" if m.saving_usd_per_h is None else f"{m.saving_usd_per_h:,.2f}",
                f"{m.move_cost_usd:,.2f}",
                m.why,
            ]
            for m in report.move_list[:MAX_LISTED]
        ]
        headers = ["unit", "from", "to", "reason", "saves_usd_per_h", "cost_usd", "why"]
        lines.append(_table(headers, rows))
        if len(report.move_list) > MAX_LISTED:
            lines.append(f"... {len(report.move_list) - MAX_LISTED} more (--format json)")
    if report.curve:
        lines += ["", "Objective against moves allowed"]
        rows = [
            [
                "no limit" if p.max_moves is None else f"{p.max_moves_pct:g}% ({p.max_moves})",
                str(p.moves),
                f"{p.objective_usd_per_h:,.2f}",
                f"{p.move_cost_usd:,.2f}",
                p.scope,
            ]
            for p in report.curve
        ]
        lines.append(
            _table(["max_moves", "moves", "objective_usd_per_h", "move_cost_usd", "scope"], rows)
        )
    return "\n".join(lines)


def _value(x: object) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in out)


__all__ = ["replan_command", "replan_table"]
