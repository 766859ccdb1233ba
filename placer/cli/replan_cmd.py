"""`placer replan`: re-plan a running fleet from its current placement, with moves priced
and bounded. The logic lives in `placer.analysis.replan`; this module parses options and
formats the report."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from placer.cli.common import (
    EXIT_INFEASIBLE,
    EXIT_NO_SOLUTION,
    EXIT_OK,
    EXIT_VERIFY_FAILED,
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
from placer.errors import OptionError

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
    "sites.fra-hall.power.grid_cap_kw=-25%. Repeatable: all events apply together. On a "
    "timed scenario each holds from --at on.",
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
@click.option(
    "--at",
    "at",
    default=None,
    metavar="PERIOD|TIME",
    help="Timed scenarios: the first period re-planned, a period number (0-based) or an "
    "ISO 8601 instant on a period boundary; what the current plan did before it ran.",
)
@click.option(
    "--solver",
    default=None,
    help="Timed scenarios: the engine of the re-plan (placer solve's names) [default: auto].",
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
    at: str | None,
    solver: str | None,
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

    A timed scenario (a horizon) is re-planned from --at on: SCENARIO is the horizon as
    known now (the change written in it, or given as --event: it then holds from --at
    on), --current the timed plan being run; see docs/replan.md, "Timed fleets".

    \b
    Example: placer replan configs/us_carbon_vs_price.yaml --current plan.json \\
               --event sites.dallas-hall.power.it_capacity_kw=-25% -o plan-after.json
    """
    from placer.analysis.replan import ReplanOptions, replan
    from placer.analysis.replan_current import read_current
    from placer.analysis.whatif_parse import Variant, parse_change
    from placer.model.load import read_scenario_document

    doc, source = read_scenario_document(scenario_file)
    changes = tuple(
        dataclasses.replace(parse_change(text), option=f"--event {text}") for text in events
    )
    variant = Variant("; ".join(events), changes) if changes else None
    if isinstance(doc, dict) and doc.get("horizon") is not None:
        _timed(at)
        report = _replan_timed(
            doc, source, current_file, variant, at, solver or "auto", time_limit_s, seed
        )
        write_model(output, report.plan)
        if report_file is not None:
            write_output(report_file, report.model_dump_json(indent=2) + "\n")
        echo_formatted(fmt, report, table=timed_replan_table, json=_json)
        sys.exit(_timed_exit(report))
    for name, value in (("--at", at), ("--solver", solver)):
        if value is not None:
            raise OptionError(
                f"{name}: only for a timed scenario (with a horizon); a static fleet is "
                "re-planned from what runs now"
            )
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


#: Options of the static re-plan that a timed one does not take (yet).
STATIC_ONLY = (
    ("max_moves", "--max-moves"),
    ("max_moved_gpus_pct", "--max-moved-gpus-pct"),
    ("payback_h", "--payback-h"),
    ("min_gain_usd_per_h", "--min-gain-usd-per-h"),
    ("curve", "--curve"),
    ("fewest_moves", "--fewest-moves"),
)


def _timed(at: str | None) -> None:
    """Refuses what a timed re-plan does not take: the static options the user gave; asks
    for --at."""
    ctx = click.get_current_context()
    for param, name in STATIC_ONLY:
        if ctx.get_parameter_source(param) == click.core.ParameterSource.COMMANDLINE:
            raise OptionError(f"{name}: not for a timed scenario yet (docs/replan.md)")
    if at is None:
        raise OptionError(
            "--at: a timed re-plan needs the first period it decides (a period number or "
            "an ISO 8601 instant); what the current plan did before it ran"
        )


def _replan_timed(doc, source, current_file, variant, at, solver, time_limit_s, seed):
    """The timed re-plan; the --event changes (`variant`, None: none) hold from --at on
    (placer.analysis.replan_time_events)."""
    from placer.analysis.replan_time import at_period, replan_timed
    from placer.analysis.replan_time_events import events_from
    from placer.analysis.whatif_apply import validate_changed
    from placer.model.load import validate_model
    from placer.model.scenario import Scenario

    scenario = validate_model(Scenario, doc, source=source)
    assert scenario.horizon is not None
    period = at_period(scenario.horizon, at)
    changed = []
    if variant is not None:
        doc, changed = events_from(doc, variant, scenario.horizon, period)
        scenario = validate_changed(
            doc, f"{source} with --event {variant.label} from period {period}"
        )
    plan = _timed_plan(current_file)
    return replan_timed(
        scenario,
        plan,
        at=period,
        solver=solver,
        time_limit_s=time_limit_s,
        seed=seed,
        source=f"--current {current_file}",
        events=changed,
    )


def _timed_plan(path: str):
    """The timed plan being run: a plan of ours (JSON or YAML)."""
    from placer.errors import ScenarioError
    from placer.model.load import validate_model
    from placer.model.yaml_text import read_document
    from placer.plan.plan import Plan

    wanted = "a timed plan of ours (placer solve SCENARIO -o plan.json)"
    if str(path).lower().endswith(".csv"):
        raise OptionError(f"--current {path}: a CSV; a timed re-plan starts from {wanted}")
    try:
        data, source = read_document(path)
    except ScenarioError as e:
        raise OptionError(f"--current: {e}") from None
    if not (isinstance(data, dict) and data.get("kind") == "Plan"):
        raise OptionError(f"--current {source}: not a plan; a timed re-plan starts from {wanted}")
    try:
        return validate_model(Plan, data, source=source)
    except ScenarioError as e:
        raise OptionError(f"--current: {e}") from None


def _timed_exit(report) -> int:
    """4 when the re-plan found no plan (in time); 0 when the new plan passes the
    verifier; 3 when it leaves a must-place unit out
    (no re-plan keeps it: the plan that leaves it out is written all the same); 1 for
    any other violation (the scenario changed periods before --at, which ran as the
    current plan says)."""
    if report.status not in ("optimal", "feasible"):
        click.echo(
            f"replan: the re-plan from period {report.at_period} found no plan "
            f"({report.status}); the plan written keeps only what ran before it. Give more "
            "--time-limit-s, or solve the scenario again",
            err=True,
        )
        return EXIT_NO_SOLUTION
    if not report.violations:
        return EXIT_OK
    if report.past_lost:
        click.echo(
            f"replan: {len(report.past_lost)} unit(s) placed before --at (first: "
            f"{report.past_lost[0]}) are no option of the scenario now; the past ran as the "
            "current plan says: write a change from --at on (docs/replan.md)",
            err=True,
        )
        return EXIT_VERIFY_FAILED
    if all(v.startswith("must_place:") for v in report.violations):
        click.echo(
            "replan: no re-plan from period "
            f"{report.at_period} keeps every must-place unit; the plan written leaves "
            f"out {', '.join(v.split(': ')[1] for v in report.violations)}",
            err=True,
        )
        return EXIT_INFEASIBLE
    click.echo(
        f"replan: the new plan breaks {len(report.violations)} rule(s) of the scenario "
        f"(first: {report.violations[0]}); a period before --at that ran as the current "
        "plan says breaks a limit the scenario now states there",
        err=True,
    )
    return EXIT_VERIFY_FAILED


def timed_replan_table(report) -> str:
    """A timed re-plan for people: the decision period, why the current plan no longer
    holds, the objectives, the changes."""
    lines = [
        f"placer replan — {report.scenario}: from period {report.at_period} ({report.at}), "
        f"solver {report.solver}: {report.status}",
    ]
    if report.current_valid:
        lines.append(
            f"  the current plan still holds: {report.current_objective_usd:,.2f} USD over "
            "the horizon"
        )
    else:
        lines.append("  the current plan no longer holds:")
        lines += [f"    {p}" for p in report.current_problems[:10]]
        if len(report.current_problems) > 10:
            lines.append(f"    ... {len(report.current_problems) - 10} more (--format json)")
    lines.append(
        f"  objective {report.objective_usd:,.2f} USD over the horizon "
        f"({report.objective_usd_per_h:,.2f} USD/h; the current plan "
        f"{report.current_objective_usd:,.2f}), cost {report.cost_usd:,.2f} USD, "
        f"{report.carbon_kg:,.1f} kg CO2e"
    )
    lines.append(
        f"  {report.changed_units} service units change pool ({report.change_cost_usd:,.2f} USD "
        f"once), {report.rescheduled_runs} runs rescheduled; moves period to period "
        f"{report.moves_current} -> {report.moves}"
    )
    if report.sunk_usd > 0:
        lines.append(
            f"  work lost: {report.sunk_usd:,.2f} USD the runs restarted or stopped had spent "
            "before the re-plan (in neither plan's figures)"
        )
    events = []
    for e in report.events:
        when = (
            "over the whole horizon (not a figure per period)"
            if e.from_period is None
            else f"from period {e.from_period}"
        )
        events.append(f"  event {e.text}: {_value(e.before)} -> {_value(e.after)} {when}")
    lines[1:1] = events
    for text in report.left_out:
        lines.append(f"  left out: {text}")
    for text in report.notes:
        lines.append(f"  note: {text}")
    for text in report.violations:
        lines.append(f"  VIOLATION: {text}")
    if report.changes:
        lines += ["", "Changes"]
        rows = [
            [c.unit, c.kind, c.before, c.after or "(left out)", f"{c.cost_usd:,.2f}"]
            for c in report.changes[:MAX_LISTED]
        ]
        lines.append(_table(["unit", "kind", "before", "after", "cost_usd"], rows))
        if len(report.changes) > MAX_LISTED:
            lines.append(f"... {len(report.changes) - MAX_LISTED} more (--format json)")
    return "\n".join(lines) + "\n"


def _json(report) -> str:
    return report.model_dump_json(indent=2) + "\n"


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
    return "\n".join(lines) + "\n"


def _value(x: object) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in out)


__all__ = ["replan_command", "replan_table", "timed_replan_table"]
