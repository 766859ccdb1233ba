"""`placer robust`: Monte Carlo robustness of a plan under sampled uncertainty. The logic
lives in `placer.analysis.robust` (and `robust_solve` for --solve); this module parses
options and formats the report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from placer.analysis.robust_report import PlanRisk, RobustReport, RobustSolve
from placer.cli.common import (
    HELP_OPTIONS,
    SEED_RANGE,
    FiniteFloatRange,
    debug_option,
    echo_formatted,
    format_option,
    handle_errors,
    output_option,
    plan_arg,
    scenario_arg,
    time_limit_option,
)
from placer.cli.io import is_stdout, load_plan, load_scenario, write_model, write_output
from placer.model.uncertainty import Uncertainty, load_uncertainty, with_flags

#: Sites listed in the table (every site is in --format json).
MAX_SITES = 10
_SD = FiniteFloatRange(min=0.0, max=5.0)
_UNIT = FiniteFloatRange(min=0.0, max=1.0)
_SHARE = FiniteFloatRange(min=0.0, max=1.0, min_open=True)


def _flag(name: str, kind: click.ParamType, text: str):
    return click.option(name, type=kind, default=None, help=text)


@click.command(name="robust", context_settings=HELP_OPTIONS)
@scenario_arg()
@plan_arg()
@click.option(
    "--samples",
    type=click.IntRange(1, 10_000_000),
    default=1000,
    show_default=True,
    help="Number of sampled variants of the scenario.",
)
@click.option("--seed", type=SEED_RANGE, default=0, show_default=True, help="Seed of the samples.")
@click.option(
    "--uncertainty",
    "uncertainty_file",
    type=str,
    default=None,
    metavar="FILE",
    help="Distributions (YAML/JSON, kind: Uncertainty; docs/robust.md); the flags below "
    "override it, and [values] are the defaults without a file.",
)
@_flag("--demand-sd", _SD, "Relative sd of each inference workload's demand [0.10].")
@_flag("--demand-correlation", _UNIT, "Correlation between workloads' demand [0.3].")
@click.option(
    "--demand-rounding",
    type=click.Choice(["replicas", "linear"]),
    default=None,
    help="Re-round replicas per demand sample, or scale linearly [replicas].",
)
@_flag("--price-sd", _SD, "Relative sd of each site's energy price [0.15].")
@_flag("--price-correlation", _UNIT, "Correlation of energy prices within a country [0.6].")
@_flag("--carbon-sd", _SD, "Relative sd of each site's carbon intensity [0.10].")
@_flag("--carbon-correlation", _UNIT, "Correlation of carbon intensity within a country [0.6].")
@_flag("--gpu-cost-sd", _SD, "Relative sd of GPU-hour prices [0.05].")
@_flag("--site-derate-probability", _UNIT, "Probability that a site derates [0].")
@_flag("--site-derate-fraction", _SHARE, "Share of a derated site's power lost [0.2].")
@_flag("--pool-loss-probability", _UNIT, "Probability that a pool loses GPUs [0].")
@_flag("--pool-loss-fraction", _SHARE, "Share of its GPUs a pool loses (1: down) [1].")
@click.option(
    "--compare",
    "compare_files",
    multiple=True,
    metavar="PLAN",
    help="Another plan of the scenario, scored on the same samples. Repeatable.",
)
@click.option(
    "--solve",
    "solve_measure",
    type=click.Choice(["mean", "cvar"]),
    default=None,
    help="Also solve candidate plans (nominal and stressed scenarios) and choose the one "
    "with the least mean or CVaR of the penalized objective over the samples.",
)
@click.option(
    "--alpha",
    type=FiniteFloatRange(min=0.0, max=1.0, min_open=True, max_open=True),
    default=0.95,
    show_default=True,
    help="CVaR level: the worst 1 - alpha share of the samples is averaged.",
)
@click.option("--solver", default="auto", show_default=True, help="--solve: the solver.")
@time_limit_option(60.0, "--solve: wall-clock limit of each candidate's solve, s.")
@click.option(
    "--plan-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="--solve: write the chosen plan here (YAML if .yaml/.yml, else JSON).",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Capacity rows listed under 'fail first' per plan.",
)
@output_option("Also write the report as JSON here (atomically); '-' for stdout.", dir_okay=False)
@format_option("table", "json")
@debug_option()
@handle_errors
def robust_command(
    scenario_file: str,
    plan_file: str,
    samples: int,
    seed: int,
    uncertainty_file: str | None,
    compare_files: tuple[str, ...],
    solve_measure: str | None,
    alpha: float,
    solver: str,
    time_limit_s: float,
    plan_out: Path | None,
    top: int,
    output: Path | None,
    fmt: str,
    debug: bool,
    **flags: object,
) -> None:
    """Score PLAN under sampled uncertainty of SCENARIO: demand, energy prices, carbon
    intensity, GPU-hour prices and capacities (defaults, or --uncertainty FILE, or
    flags; correlated within a country or accelerator type). Reports P50 / P95 / mean /
    CVaR of cost, carbon and objective, the probability of each violation, per site the
    probability of a cap overrun, of losing units and of service at risk, and the
    capacities that fail first. --compare scores other plans on the same samples;
    --solve mean|cvar picks the most robust of a set of candidate solves (a
    candidate-selection method, not a stochastic program: docs/robust.md).

    Exit 0 when scored, 2 for bad input (an unreadable file, a plan of another
    scenario, a value out of range).

    \b
    Example: placer robust configs/eu_sovereign.yaml plan.json --samples 1000
               --price-sd 0.2 --site-derate-probability 0.05 --compare other.json
    """
    from placer.analysis.robust import prepare, run_robust

    scenario = load_scenario(scenario_file)
    base = load_uncertainty(uncertainty_file) if uncertainty_file else Uncertainty()
    uncertainty = with_flags(base, **flags)
    plans = [("plan", load_plan(plan_file), plan_file)]
    for i, path in enumerate(compare_files, 1):
        plans.append((f"compare-{i}", load_plan(path), path))
    sampler = prepare(scenario, uncertainty, uncertainty_file or "uncertainty")
    report = run_robust(sampler, plans, samples=samples, seed=seed, alpha=alpha, top=top)
    if solve_measure is not None:
        from placer.analysis.robust_solve import robust_solve

        summary, chosen = robust_solve(
            sampler,
            plans[0][1],
            measure=solve_measure,
            alpha=alpha,
            samples=samples,
            seed=seed,
            solver=solver,
            time_limit_s=time_limit_s,
        )
        if plan_out is not None:
            write_model(plan_out, chosen)
            summary = summary.model_copy(update={"plan_file": str(plan_out)})
        report = report.model_copy(update={"solve": summary})
    if output is not None:
        write_output(output, robust_json(report))
    echo_formatted(fmt, report, err=is_stdout(output), table=robust_table, json=robust_json)


def robust_json(report: RobustReport) -> str:
    """The report as indented JSON (`kind: RobustReport`)."""
    return json.dumps(report.model_dump(mode="json"), indent=2) + "\n"


def robust_table(r: RobustReport) -> str:
    """The report for a terminal."""
    lines = [
        f"placer robust — {r.scenario or 'scenario'}: {r.samples:,} samples (seed {r.seed}), "
        f"kernel on {r.engine}, {r.score_s:.2f} s scoring, {r.wall_s:.2f} s in all",
        f"uncertainty: {_uncertainty_text(r.uncertainty)}",
        "",
        f"Cost, carbon and objective over the samples (cvar: mean of the worst "
        f"{100 * (1 - r.alpha):g}%)",
        _table(
            ["plan", "figure", "nominal", "mean", "p50", "p95", "cvar"],
            [row for p in r.plans for row in _figure_rows(p)],
        ),
        "",
        "Probability of each violation",
        _table(
            ["plan", "feasible", *r.plans[0].violation],
            [
                [p.label, _pct(p.feasible), *(_pct(v) for v in p.violation.values())]
                for p in r.plans
            ],
        ),
    ]
    for p in r.plans:
        lines += _plan_sections(p)
    if r.solve is not None:
        lines += _solve_section(r.solve)
    lines += ["", "Notes", *(f"  {n}" for n in r.notes)]
    return "\n".join(lines) + "\n"


def _figure_rows(p: PlanRisk) -> list[list[str]]:
    figures = [
        ("cost_usd_per_h", p.cost_usd_per_h),
        ("carbon_kg_per_h", p.carbon_kg_per_h),
        ("objective_usd_per_h", p.objective_usd_per_h),
    ]
    return [
        [p.label, name, *(_num(getattr(s, k)) for k in ("nominal", "mean", "p50", "p95", "cvar"))]
        for name, s in figures
    ]


def _plan_sections(p: PlanRisk) -> list[str]:
    risky = [s for s in p.sites if max(s.any_overrun, s.units_lost, s.slo_at_risk) > 0]
    risky.sort(key=lambda s: -max(s.any_overrun, s.units_lost, s.slo_at_risk))
    out = ["", f"Sites at risk — {p.label} ({len(risky)} of {len(p.sites)} sites)"]
    if risky:
        kinds = list(risky[0].overrun)
        rows = [
            [
                s.site,
                *(_pct(s.overrun[k]) for k in kinds),
                _pct(s.units_lost),
                _pct(s.must_place_lost),
                _pct(s.slo_at_risk),
            ]
            for s in risky[:MAX_SITES]
        ]
        out.append(_table(["site", *kinds, "units_lost", "must_lost", "slo_at_risk"], rows))
        if len(risky) > MAX_SITES:
            out.append(f"... and {len(risky) - MAX_SITES} more (--format json lists all)")
    else:
        out.append("  none: no sample overruns a site's capacity or loses a unit")
    out += ["", f"Capacities that fail first — {p.label}"]
    if not p.fail_first:
        out.append("  none: no sample exceeds any capacity")
        return out
    rows = [
        [
            str(i),
            x.kind,
            x.pool or x.site or "(plan)",
            "-" if x.period is None else str(x.period),
            _num(x.capacity),
            _num(x.nominal_load),
            _pct(x.probability),
            _num(x.mean_excess),
            x.unit,
        ]
        for i, x in enumerate(p.fail_first, 1)
    ]
    headers = ["#", "kind", "where", "period", "capacity", "nominal_load", "p_over", "mean_excess"]
    out.append(_table([*headers, "unit"], rows))
    return out


def _solve_section(s: RobustSolve) -> list[str]:
    rows = [
        [
            c.label,
            c.status,
            f"{c.solve_s:.2f}",
            _num(c.mean_usd_per_h),
            _num(c.cvar_usd_per_h),
            _num(c.mean_objective_usd_per_h),
            _pct(c.feasible),
            "<- chosen" if c.chosen else "",
        ]
        for c in s.candidates
    ]
    out = [
        "",
        f"Robust solve: least {s.measure} of the penalized objective (alpha {s.alpha:g}), "
        f"{len(s.candidates)} candidates ({s.solver}); chosen: {s.chosen}"
        + (f", written to {s.plan_file}" if s.plan_file else ""),
        _table(
            ["candidate", "status", "solve_s", "mean", "cvar", "mean_objective", "feasible", ""],
            rows,
        ),
        "  (a selection among these candidates on the same samples, not a stochastic program)",
    ]
    for c in s.candidates:
        out.append(f"  {c.label}: {c.description}")
    return out


def _uncertainty_text(u: dict) -> str:
    d, e, c = u["demand"], u["energy_price"], u["carbon_intensity"]
    g, k = u["gpu_cost"], u["capacity"]
    parts = [
        f"demand sd {_pct(d['sd'])} ({d['distribution']}, rho {d['correlation']:g}, "
        f"{d['rounding']})",
        f"energy price sd {_pct(e['sd'])} (rho {e['correlation']:g} by {e['group_by']})",
        f"carbon sd {_pct(c['sd'])} (rho {c['correlation']:g} by {c['group_by']})",
        f"GPU price sd {_pct(g['sd'])} (rho {g['correlation']:g} by {g['group_by']})",
        f"site derate p {k['site_derate_probability']:g} x {_pct(k['site_derate_fraction'])}",
        f"pool loss p {k['pool_loss_probability']:g} x {_pct(k['pool_loss_fraction'])}",
    ]
    return ", ".join(parts)


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


def _num(x: float) -> str:
    return f"{x:,.2f}"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


__all__ = ["robust_command", "robust_json", "robust_table"]
