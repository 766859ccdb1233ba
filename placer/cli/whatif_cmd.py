"""`placer whatif` (solve variants of a scenario against its baseline) and `placer diff`
(compare two plans). The logic lives in `placer.analysis.whatif` and
`placer.analysis.diff`; this module parses options and formats results."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from placer.analysis.diff import Move, PlanDiff, UnitPlacement, diff_plans
from placer.analysis.diff_time import ScheduleDiff, segments_text
from placer.analysis.executor import EXECUTORS, Executor, make_executor
from placer.analysis.whatif import (
    VariantResult,
    WhatIfReport,
    WhatIfRun,
    fail_site_variant,
    parse_variant,
    run_n1,
    run_whatif,
)
from placer.analysis.whatif_parse import N1_KINDS, site_domains
from placer.cli.common import (
    EXIT_NO_SOLUTION,
    EXIT_OK,
    HELP_OPTIONS,
    debug_option,
    echo_formatted,
    format_option,
    handle_errors,
    output_option,
    scenario_arg,
    solver_options,
)
from placer.cli.io import write_atomic
from placer.errors import OptionError, ScenarioError
from placer.model.horizon import parse_instant
from placer.model.load import read_scenario_document, validate_model
from placer.model.yaml_text import read_document
from placer.plan.plan import Plan

#: Units listed per section in tables (all of them are in --format json).
MAX_LISTED = 10
#: Exit code of `placer diff --exit-code` when the plans differ (as `git diff`).
EXIT_DIFFERENT = 1


# ---- whatif --------------------------------------------------------------------------


@click.command(name="whatif", context_settings=HELP_OPTIONS)
@scenario_arg()
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="PATH=VALUE",
    help="One variant: a change of the scenario by path; join changes with ';' to make "
    "them one variant. Repeat for more variants.",
)
@click.option(
    "--fail-site",
    "fail_sites",
    multiple=True,
    metavar="SITE",
    help="One variant in which SITE is lost (same as --set sites.SITE=down). Repeatable.",
)
@click.option(
    "--fail-each-site",
    is_flag=True,
    help="N-1: one variant per site of the scenario, each losing that site.",
)
@click.option(
    "--n-1",
    "n1",
    type=click.Choice(N1_KINDS),
    default=None,
    help="N-1 table: solve the loss of every site (or every failure domain: all its "
    "sites at once) and print unserved demand, SLO losses, cost delta and moves needed "
    "per loss, and the worst loss. Not with --set, --fail-site or --fail-each-site.",
)
@click.option(
    "--executor",
    type=click.Choice(["auto", *EXECUTORS]),
    default="auto",
    show_default=True,
    help="Where the variants are solved: inprocess (one after the other), process (a "
    "local pool of --workers processes), ray (a Ray cluster, see --ray-address; needs "
    "placer[ray]). auto: process when --workers > 1, ray with --ray-address, else "
    "inprocess. Outside inprocess, --workers counts parallel solves and each solve uses "
    "one thread.",
)
@click.option(
    "--ray-address",
    default=None,
    metavar="ADDR",
    help="Ray cluster to run the variants on (ray://head:10001 for a KubeRay head; "
    "default $RAY_ADDRESS, else a local Ray of --workers CPUs). See docs/ray.md.",
)
@solver_options(
    solver_help="greedy, milp, ... or auto; the same for the baseline and every variant.",
    time_limit_help="Wall-clock limit of each solve (baseline and each variant), s.",
)
@output_option(
    "Also write baseline.json, variant-N.json (plans) and whatif.json (the report) "
    "into this folder (created if missing; files written atomically).",
    flag="--output-dir",
    file_okay=False,
)
@format_option("table", "json")
@debug_option()
@handle_errors
def whatif_command(
    scenario_file: str,
    sets: tuple[str, ...],
    fail_sites: tuple[str, ...],
    fail_each_site: bool,
    n1: str | None,
    executor: str,
    ray_address: str | None,
    output_dir: Path | None,
    fmt: str,
    debug: bool,
    **solver_flags: Any,  # SOLVER_FLAGS, from solver_options: passed on to run_whatif
) -> None:
    """Solve variants of SCENARIO, each separately against the same baseline, and compare
    each with the baseline: objective, cost, carbon, water, units moved, and whether the
    baseline plan still holds.

    \b
    PATH addresses the scenario by ids (a list position works too):
      sites.<site>.power.it_capacity_kw     sites.<site>.pools.<pool>.gpus
      workloads.<workload>.demand_rps.<region>   objective.carbon_price_usd_per_t
    A pool's id is its accelerator unless it has an id.
    VALUE: V (absolute, YAML: 2000, true, null, [DE, FR]), =V (absolute, even if it
    starts with + - *), +N / -N (add), *F (multiply), +P% / -P% (percent),
    down (on a site: the site is lost, its pools hold 0 GPUs; on a pool: 0 GPUs).
    'a=+1;b=*2' in one --set is one variant with both changes.

    --n-1 sites|domains solves the loss of every site (or failure domain) and prints
    one row per loss: status, unplaced units, unserved demand (rps), units that lose
    their latency SLO, cost delta, units relocated off the lost site and other moves;
    then the worst loss. --workers N > 1 solves the variants in N processes (one
    solver thread each); --executor ray runs them on Ray (docs/ray.md).

    Exit 0 when every variant is solved (an infeasible variant is a result, shown as its
    status), 4 when a solve found no solution within the time limit, 2 for a bad --set.
    See docs/whatif.md.

    \b
    Example: placer whatif configs/eu_sovereign.yaml --solver milp
               --set sites.fra-hall.power.it_capacity_kw=+2000 --fail-site edge-ams
             placer whatif configs/eu_sovereign.yaml --n-1 domains --workers 2
    """
    doc, source = read_scenario_document(scenario_file)
    if n1 and (sets or fail_sites or fail_each_site):
        raise OptionError(
            "whatif: --n-1 solves every loss on its own; leave out --set, --fail-site and "
            "--fail-each-site (or run them as a separate whatif)"
        )
    variants = [parse_variant(text) for text in sets]
    variants += [fail_site_variant(site) for site in fail_sites]
    if fail_each_site:
        variants += [fail_site_variant(site) for site in site_domains(doc)]
    if not variants and not n1:
        raise OptionError(
            "whatif: no variant given; add --set PATH=VALUE, --fail-site SITE, "
            "--fail-each-site or --n-1 sites (see placer whatif --help)"
        )
    progress = _progress if sys.stderr.isatty() and fmt == "table" else None
    sweep, threads = _executor(executor, solver_flags["workers"], ray_address)
    solver_flags["workers"] = threads
    with sweep:
        if n1:
            run, _ = run_n1(
                doc, n1, source=source, progress=progress, executor=sweep, **solver_flags
            )
        else:
            run = run_whatif(
                doc, variants, source=source, progress=progress, executor=sweep, **solver_flags
            )
    if output_dir is not None:
        _write_plans(run, output_dir)
    table = n1_table if n1 else whatif_table
    echo_formatted(fmt, run.report, table=table, json=whatif_json)
    statuses = [run.report.baseline.status] + [v.kpis.status for v in run.report.variants]
    sys.exit(EXIT_NO_SOLUTION if "no_solution" in statuses else EXIT_OK)


def _executor(name: str, workers: int, ray_address: str | None) -> tuple[Executor, int]:
    """The sweep's executor and the threads of each solve, from --executor, --workers
    and --ray-address. In process, --workers is each solve's threads (as in `placer
    solve`); in a pool or on Ray it is the parallel solves, each single-threaded (one
    thread per solve keeps every solve deterministic, and the executors' results equal)."""
    given = click.get_current_context().get_parameter_source("workers")
    count = None if given in (None, click.core.ParameterSource.DEFAULT) else workers
    sweep = make_executor(name, count, ray_address)
    return sweep, workers if sweep.name == "inprocess" else 1


def _progress(line: str) -> None:
    click.echo(f"placer whatif: {line}", err=True)


def _write_plans(run: WhatIfRun, folder: Path) -> None:
    """Writes baseline.json, variant-N.json and whatif.json into `folder`, atomically."""
    from placer.outputs import text_report as plan_report

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OptionError(f"{folder}: cannot create the folder: {e.strerror or e}") from None
    write_atomic(folder / "baseline.json", plan_report.to_json(run.baseline_plan))
    run.report.baseline_plan_file = str(folder / "baseline.json")
    for result, plan in zip(run.report.variants, run.plans, strict=True):
        path = folder / f"variant-{result.index}.json"
        write_atomic(path, plan_report.to_json(plan))
        result.plan_file = str(path)
    write_atomic(folder / "whatif.json", whatif_json(run.report))


def whatif_json(report: WhatIfReport) -> str:
    """The report as indented JSON (`apiVersion: placer/v1`, `kind: WhatIf`)."""
    return json.dumps(report.model_dump(mode="json"), indent=2) + "\n"


def whatif_table(report: WhatIfReport) -> str:
    """The report for a terminal: one row per variant, then what each changed."""
    b = report.baseline
    lines = [
        f"placer whatif — {report.scenario or report.source}: baseline {b.status.upper()}, "
        f"{len(report.variants)} variant(s) ({report.solver}, {report.wall_s:.2f} s)",
        "",
    ]
    headers = [
        "#",
        "variant",
        "status",
        "objective_usd_per_h",
        "delta_usd_per_h",
        "delta",
        "cost_usd_per_h",
        "kgco2_per_h",
        "water_l_per_h",
        "placed/unplaced",
        "moved",
        "baseline_plan",
    ]
    rows = [
        [
            "-",
            "baseline",
            b.status,
            _money(b.objective_usd_per_h),
            "-",
            "-",
            _money(b.cost_usd_per_h),
            _num(b.carbon_kg_per_h, 1),
            _num(b.water_l_per_h, 0),
            _counts(b.placed_units, b.unplaced_units),
            "-",
            "-",
        ]
    ]
    for v in report.variants:
        k, d = v.kpis, v.delta
        rows.append(
            [
                str(v.index),
                _shorten(v.label, 48),
                k.status,
                _money(k.objective_usd_per_h),
                _signed(d.objective_usd_per_h),
                _percent(d.objective_relative),
                _money(k.cost_usd_per_h),
                _num(k.carbon_kg_per_h, 1),
                _num(k.water_l_per_h, 0),
                _counts(k.placed_units, k.unplaced_units),
                "-" if v.units_moved is None else str(v.units_moved),
                _validity(v),
            ]
        )
    lines.append(_table(headers, rows))
    lines += ["", "Changes"]
    for v in report.variants:
        for c in v.changes:
            if c.op == "down":
                what = f"down ({c.before:,} GPUs -> 0)"
            else:
                what = f"{_value(c.before)} -> {_value(c.after)}"
            lines.append(f"  {v.index}  {c.path}: {what}")
    for v in report.variants:
        details = _variant_details(v)
        if details:
            lines += ["", f"Variant {v.index}: {v.label}", *details]
    return "\n".join(lines) + "\n"


def n1_table(report: WhatIfReport) -> str:
    """An N-1 report for a terminal: one row per loss (see `LossImpact` for what each
    column counts), why each loss without a plan has none, and the worst loss."""
    b, n1 = report.baseline, report.n1
    assert n1 is not None
    lines = [
        f"placer whatif --n-1 {n1.by} — {report.scenario or report.source}: baseline "
        f"{b.status.upper()}, {n1.losses} loss(es) ({report.solver}, {report.wall_s:.2f} s)",
        f"baseline: objective {_money(b.objective_usd_per_h)} USD/h, cost "
        f"{_money(b.cost_usd_per_h)} USD/h, {_counts(b.placed_units, b.unplaced_units)} "
        f"placed/unplaced units, {_num(n1.baseline_unserved_rps, 1)} rps unserved",
        "",
    ]
    headers = [
        "#",
        "lost",
        "status",
        "gpus_lost",
        "unplaced",
        "unserved_rps",
        "slo_lost",
        "cost_delta_usd_per_h",
        "obj_delta_usd_per_h",
        "relocated",
        "other_moves",
    ]
    rows = []
    for v in report.variants:
        loss = v.loss
        assert loss is not None
        solved = v.kpis.unplaced_units is not None
        rows.append(
            [
                str(v.index),
                _shorten(loss.lost, 40),
                v.kpis.status,
                f"{loss.gpus_lost:,}",
                str(v.kpis.unplaced_units)
                if solved
                else _must_place(len(loss.must_place_unplaced)),
                _num(loss.unserved_rps, 1),
                str(len(loss.slo_lost)),
                _signed(v.delta.cost_usd_per_h),
                _signed(v.delta.objective_usd_per_h),
                _count(loss.relocated),
                _count(loss.other_moves),
            ]
        )
    lines.append(_table(headers, rows))
    width = len(str(len(report.variants)))
    notes = [
        f"  {v.index:>{width}}  {v.loss.lost}: {_n1_note(v)}"
        for v in report.variants
        if v.loss is not None and _n1_note(v)
    ]
    if notes:
        lines += ["", "Losses", *notes]
    lines += ["", n1.summary]
    return "\n".join(lines) + "\n"


def _n1_note(v: VariantResult) -> str:
    """One line on a loss: the must-place units it leaves without a place (or why it has
    no plan), and the units that lose their SLO."""
    loss = v.loss
    if loss is None:
        return ""
    parts = []
    if loss.must_place_unplaced:
        parts.append(f"no plan: cannot place {_names(loss.must_place_unplaced)} (must-place)")
    elif v.no_plan_reason:
        parts.append(f"no plan: {v.no_plan_reason}")
    if loss.slo_lost:
        parts.append(f"no pool left within the latency SLO of {_names(loss.slo_lost)}")
    return "; ".join(parts)


def _names(units: list[str], shown: int = 5) -> str:
    more = f", ... ({len(units)} in all)" if len(units) > shown else ""
    return ", ".join(units[:shown]) + more


def _must_place(n: int) -> str:
    return f"{n} must-place" if n else "-"


def _count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def _variant_details(v: VariantResult) -> list[str]:
    out: list[str] = []
    if v.no_plan_reason:
        out.append(f"  no plan: {v.no_plan_reason}")
    if v.baseline_plan_violations:
        n = len(v.baseline_plan_violations)
        out.append(f"  the baseline plan breaks {n} constraint(s) here:")
        out += [f"    {x}" for x in v.baseline_plan_violations[:3]]
        if n > 3:
            out.append(f"    ... and {n - 3} more")
    out += _unit_lines("moved", v.moved, _move_text)
    out += _unit_lines("resized", v.resized, _resize_text)
    out += _unit_lines("newly placed", v.newly_placed, _placed_text)
    out += _unit_lines("newly unplaced", v.newly_unplaced, _unplaced_text)
    return out


def _unit_lines(title: str, items: Sequence, text) -> list[str]:
    if not items:
        return []
    out = [f"  {title} ({len(items)}):"]
    out += [f"    {text(x)}" for x in items[:MAX_LISTED]]
    if len(items) > MAX_LISTED:
        out.append(f"    ... and {len(items) - MAX_LISTED} more (--format json lists all)")
    return out


def _move_text(m: Move) -> str:
    gpus = f"{m.gpus_to} GPUs" if m.gpus_from == m.gpus_to else f"{m.gpus_from} -> {m.gpus_to}"
    return f"{m.unit}: {m.from_site}/{m.from_pool} -> {m.to_site}/{m.to_pool} ({gpus})"


def _resize_text(m: Move) -> str:
    return f"{m.unit}: {m.to_site}/{m.to_pool} {m.gpus_from} -> {m.gpus_to} GPUs"


def _placed_text(u: UnitPlacement) -> str:
    return f"{u.unit}: {u.site}/{u.pool} ({u.gpus} GPUs)"


def _unplaced_text(u: UnitPlacement) -> str:
    return f"{u.unit}: was at {u.site}/{u.pool}" + (f" — {u.reason}" if u.reason else "")


def _validity(v: VariantResult) -> str:
    if v.baseline_plan_valid is None:
        return "-"
    if v.baseline_plan_valid:
        return "valid"
    return f"broken ({len(v.baseline_plan_violations)})"


# ---- diff ----------------------------------------------------------------------------


@click.command(name="diff", context_settings=HELP_OPTIONS)
@click.argument("plan_a", type=str, metavar="PLAN_A")
@click.argument("plan_b", type=str, metavar="PLAN_B")
@format_option("table", "json")
@click.option(
    "--exit-code",
    "exit_code",
    is_flag=True,
    help="Exit 1 when the plans differ, 0 when they do not (like git diff --exit-code).",
)
@debug_option()
@handle_errors
def diff_command(plan_a: str, plan_b: str, fmt: str, exit_code: bool, debug: bool) -> None:
    """Compare PLAN_A (before) with PLAN_B (after): units moved to another site or pool,
    resized, newly placed and newly unplaced (matched by workload, region and copy), KPI
    deltas (objective, cost, carbon, water, GPUs, units) and per-site GPU and IT-kW deltas.

    Exit 0 after a successful comparison (with --exit-code: 1 if the plans differ), 2 for
    an unreadable or invalid plan file.

    Example: placer diff baseline.json variant-1.json --format json
    """
    (a, label_a), (b, label_b) = _load_plan(plan_a), _load_plan(plan_b)
    result = diff_plans(a, b, label_a=label_a, label_b=label_b)
    if fmt == "json":
        click.echo(json.dumps(result.model_dump(mode="json"), indent=2))
    else:
        click.echo(diff_table(result), nl=False)
    if exit_code and not result.identical:
        sys.exit(EXIT_DIFFERENT)


def _load_plan(path: str) -> tuple[Plan, str]:
    """Reads a plan; a document of another kind (a scenario, a WhatIf report) is named as
    such instead of listing every field a plan would need.

    Raises:
    Returns:
      (the plan, its name for messages: the path, or <stdin> for '-').

    Raises:
      ScenarioError: unreadable, not a plan, or an invalid plan (exit 2).
    """
    data, source = read_document(path)
    kind = data.get("kind") if isinstance(data, dict) else None
    if isinstance(kind, str) and kind != "Plan":
        raise ScenarioError(
            f"{source}: a {kind} document, not a Plan; placer diff compares two plans, "
            "such as those placer solve -o or placer whatif -o DIR write"
        )
    return validate_model(Plan, data, source=source), source


def diff_table(d: PlanDiff) -> str:
    """A PlanDiff for a terminal."""
    lines = [
        f"placer diff — A: {d.a.label} ({_plan_name(d.a.scenario)}{d.a.status}, {d.a.solver})",
        f"              B: {d.b.label} ({_plan_name(d.b.scenario)}{d.b.status}, {d.b.solver})",
    ]
    if d.identical:
        lines.append("  no differences: every unit is where it was and every KPI is equal")
        return "\n".join(lines) + "\n"
    lines.append(
        f"  {len(d.moved)} moved, {len(d.resized)} resized, {len(d.newly_placed)} newly "
        f"placed, {len(d.newly_unplaced)} newly unplaced"
    )
    kpi_rows = [
        [
            k.name,
            _kpi_cell(k.a),
            _kpi_cell(k.b),
            "-" if k.delta is None else _signed(k.delta),
            _percent(k.relative),
        ]
        for k in d.kpis
    ]
    lines += ["", "KPIs", _table(["kpi", "A", "B", "delta", "relative"], kpi_rows)]
    if d.schedule is not None:
        lines += _schedule_lines(d.schedule)
    # a timed plan has a unit per service region and period: list the first few only
    cap = MAX_LISTED if d.schedule is not None else None
    if d.moved:
        rows = [
            [
                m.unit,
                f"{m.from_site}/{m.from_pool}",
                f"{m.to_site}/{m.to_pool}",
                str(m.gpus_from) if m.gpus_from == m.gpus_to else f"{m.gpus_from}->{m.gpus_to}",
            ]
            for m in d.moved
        ]
        lines += ["", "Moved", *_capped(["unit", "from", "to", "gpus"], rows, cap)]
    if d.resized:
        rows = [
            [m.unit, f"{m.to_site}/{m.to_pool}", str(m.gpus_from), str(m.gpus_to)]
            for m in d.resized
        ]
        lines += ["", "Resized", *_capped(["unit", "site/pool", "gpus_a", "gpus_b"], rows, cap)]
    if d.newly_placed:
        rows = [[u.unit, f"{u.site}/{u.pool}", str(u.gpus)] for u in d.newly_placed]
        lines += [
            "",
            "Newly placed (in B only)",
            *_capped(["unit", "site/pool", "gpus"], rows, cap),
        ]
    if d.newly_unplaced:
        rows = [[u.unit, f"{u.site}/{u.pool}", str(u.gpus), u.reason] for u in d.newly_unplaced]
        lines += [
            "",
            "Newly unplaced (in A only)",
            *_capped(["unit", "was at", "gpus", "reason in B"], rows, cap),
        ]
    changed = [s for s in d.sites if s.delta_gpus or s.delta_it_kw]
    if changed:
        rows = [
            [
                s.site,
                f"{s.gpus_a:,}",
                f"{s.gpus_b:,}",
                _signed(s.delta_gpus),
                _num(s.it_kw_a, 1),
                _num(s.it_kw_b, 1),
                _signed(s.delta_it_kw, 1),
            ]
            for s in changed
        ]
        lines += [
            "",
            "Sites (changed only)",
            _table(
                ["site", "gpus_a", "gpus_b", "delta_gpus", "it_kw_a", "it_kw_b", "delta_it_kw"],
                rows,
            ),
        ]
    return "\n".join(lines) + "\n"


def _plan_name(scenario: str) -> str:
    return f"{scenario}, " if scenario else ""


def _capped(headers: list[str], rows: list[list[str]], cap: int | None) -> list[str]:
    """A table of the first `cap` rows (all when None), and a line saying how many are left."""
    if cap is None or len(rows) <= cap:
        return [_table(headers, rows)]
    return [
        _table(headers, rows[:cap]),
        f"... and {len(rows) - cap} more (--format json lists all)",
    ]


def _schedule_lines(s: ScheduleDiff) -> list[str]:
    """The schedule part of a diff of two timed plans: runs, services, horizon totals."""
    lines = ["", f"Schedule: {len(s.runs)} training run(s) at another start, pool or segments"]
    if s.runs:
        paused = any(r.from_segments or r.to_segments for r in s.runs)
        rows = [
            [
                r.unit,
                f"{r.from_site}/{r.from_pool}",
                f"{_when(r.from_start)} -> {_when(r.from_end)}",
                f"{r.to_site}/{r.to_pool}",
                f"{_when(r.to_start)} -> {_when(r.to_end)}",
                "-" if r.shift_h is None else f"{r.shift_h:+,.1f} h",
                *(
                    [
                        segments_text(r.from_site, r.from_pool, r.from_segments),
                        segments_text(r.to_site, r.to_pool, r.to_segments),
                    ]
                    if paused
                    else []
                ),
            ]
            for r in s.runs
        ]
        headers = ["run", "pool_a", "start -> end (A)", "pool_b", "start -> end (B)", "shift"]
        if paused:  # runs that pause or move: each segment's periods, "-" none (docs/time.md)
            headers += ["segments (A)", "segments (B)"]
        lines.append(_table(headers, rows))
    if s.services:
        rows = [
            [v.workload, f"{v.units:,}", f"{v.repooled:,}", f"{v.only_a:,}", f"{v.only_b:,}"]
            for v in s.services
        ]
        lines += [
            "",
            "Services, in (region, period) units",
            _table(["service", "units", "other_pools", "only_a", "only_b"], rows),
        ]
    rows = [
        [k.name, _kpi_cell(k.a), _kpi_cell(k.b), _signed(k.delta), _percent(k.relative)]
        for k in s.horizon
    ]
    lines += ["", "Over the horizon", _table(["total", "A", "B", "delta", "relative"], rows)]
    return lines


def _when(instant: str | None) -> str:
    """An ISO 8601 time as 'YYYY-MM-DD HH:MM' in its own UTC offset."""
    if instant is None:
        return "-"
    return parse_instant(instant).strftime("%Y-%m-%d %H:%M")


# ---- formatting helpers ----------------------------------------------------------------

_NUMERIC = re.compile(r"^[+-]?[\d,]*\.?\d+%?$")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if _NUMERIC.match(c) else c.ljust(w)
            for c, w in zip(cells, widths, strict=True)
        ).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def _money(x: float | None) -> str:
    return "-" if x is None else f"{x:,.2f}"


def _num(x: float | None, digits: int) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def _signed(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "-"
    if isinstance(x, int):
        return f"{x:+,}"
    return f"{x:+,.{digits}f}"


def _percent(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:+.2f}%"


def _counts(placed: int | None, unplaced: int | None) -> str:
    return "-" if placed is None else f"{placed}/{unplaced}"


def _kpi_cell(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,}" if isinstance(x, int) else f"{x:,.2f}"


def _value(x: object) -> str:
    return "(not set)" if x is None else json.dumps(x)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


__all__ = ["diff_command", "diff_table", "n1_table", "whatif_command", "whatif_json"]
