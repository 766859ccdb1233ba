"""The `placer` command line: parse, call the API, format. No logic lives here.

Exit codes (also in README.md):
  0   success (a feasible or optimal plan; `verify`: the plan passes; `validate`: no
      error, warnings allowed)
  1   `verify`: the plan breaks at least one hard constraint
  2   bad input: unreadable or invalid scenario/plan file, bad option, an output that
      cannot be written
  3   infeasible: proven that no placement satisfies the hard constraints (`validate`:
      a must-place unit has no feasible pool)
  4   no solution within the time limit (or the heuristic found none)
  70  internal error (a bug: please report it)
  130 interrupted (Ctrl-C): `solve` stops its engines and writes the best plan so far
      (its status says what it is); any other command stops and writes nothing
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

# Only what --help, validate and schema need is imported here: the solvers (placer.api,
# JAX, OR-Tools) are imported inside the commands that run them.
from placer.cli.capacity_cmd import capacity_command
from placer.cli.common import (
    EXIT_INFEASIBLE,
    EXIT_VERIFY_FAILED,
    debug_option,
    echo_formatted,
    exit_for_status,
    format_option,
    handle_errors,
    output_option,
    plan_arg,
    scenario_arg,
    solver_options,
    time_limit_option,
    use_jax_compilation_cache,
)
from placer.cli.export_cmd import export_command
from placer.cli.import_cmd import import_command
from placer.cli.io import (
    is_stdout,
    load_plan,
    load_scenario,
    load_scenario_and_plan,
    write_model,
)
from placer.cli.pareto_cmd import pareto_command
from placer.cli.replan_cmd import replan_command
from placer.cli.report_cmd import report_command
from placer.cli.robust_cmd import robust_command
from placer.cli.rolling_cmd import rolling_command
from placer.cli.whatif_cmd import diff_command, whatif_command
from placer.errors import OptionError
from placer.progress import stderr_is_terminal, terminal_progress


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="placer")
def cli() -> None:
    """placer: decide where AI workloads run across edge, on-prem and cloud sites.

    Example: placer solve configs/eu_sovereign.yaml
    """
    use_jax_compilation_cache()


@cli.command()
@scenario_arg()
@handle_errors
def validate(scenario_file: str) -> None:
    """Check SCENARIO ('-' for stdin) and summarise what it compiles to.

    Lists a warning for each pool no unit can use and for each optional unit with no
    feasible pool, and an error for each must-place unit with no feasible pool (no plan
    can exist). Exit 0 when there is no error (warnings allowed), 2 when the file is
    invalid, 3 when an error is listed (the scenario is infeasible).

    Example: placer validate configs/eu_sovereign.yaml
    """
    import numpy as np

    from placer.plan.build import unplaced_reason
    from placer.problem.compile import compile_problem, pool_rule_bits
    from placer.problem.compile_large import compile_restricted, needs_restriction
    from placer.problem.form import R_COOLING, R_DENSITY, reason_names

    scenario = load_scenario(scenario_file)
    restricted = needs_restriction(scenario)
    if restricted:  # the whole option table would not fit memory: count it as it streams
        seen = [0]

        def count(entries) -> None:
            seen[0] += int(entries["u"].size)

        problem, index, _ = compile_restricted(scenario, on_entries=count)
        n_pairs = seen[0]
    else:
        problem, index = compile_problem(scenario)
        n_pairs = problem.num_pairs()
    time = index.time
    pairs = "(unit, pool)" if time is None else "(unit, pool and start)"
    over = "" if time is None else f", {time.periods} periods of {time.period_hours:g} h"
    click.echo(
        f"{scenario_file}: valid — {len(scenario.sites)} sites, {problem.num_pools} "
        f"pools, {len(scenario.workloads)} workloads{over}, {problem.num_units} placement "
        f"units, {n_pairs} feasible {pairs} pairs"
        + (
            f" (solved on the restricted layout: {problem.num_pairs()} kept, each unit's "
            "cheapest; docs/engine.md)"
            if restricted
            else ""
        )
    )
    rack_bits = pool_rule_bits(scenario) & (R_COOLING | R_DENSITY) if problem.num_units else []
    for pool, bits in zip(index.pools, rack_bits, strict=False):
        if bits:
            click.echo(
                f"  warning: pool {pool.name} is unusable: {', '.join(reason_names(int(bits)))}"
                " (check cooling.type, cooling.max_rack_density_kw, nodes_per_rack)"
            )
    errors = 0
    for u in np.flatnonzero(~problem.listed_uk.any(axis=1)).tolist():
        flag = "error" if problem.must_place_u[u] else "warning"
        errors += flag == "error"
        click.echo(f"  {flag}: {index.units[u].name}: {unplaced_reason(problem, index, u)}")
    if errors:
        click.echo(
            f"{scenario_file}: {errors} error(s): must-place unit(s) with no feasible pool, "
            "so no plan exists (placer explain lists fixes)",
            err=True,
        )
        sys.exit(EXIT_INFEASIBLE)


@cli.command()
@click.option(
    "--plan",
    "of_plan",
    is_flag=True,
    help="The schema of the Plan that `solve -o` writes, instead of the scenario's.",
)
def schema(of_plan: bool) -> None:
    """Print the JSON Schema of the scenario language (or, with --plan, of the output).

    Example: placer schema > scenario.schema.json; placer schema --plan > plan.schema.json
    """
    from placer.model.scenario import Scenario
    from placer.plan.plan import Plan

    model = Plan if of_plan else Scenario
    click.echo(json.dumps(model.model_json_schema(), indent=2))


@cli.command()
@scenario_arg(required=False)
@solver_options(
    solver_help="greedy, milp, ... or auto (the best for the size).",
    time_limit_help="Wall-clock limit for the solver, s.",
)
@click.option(
    "--layout",
    type=click.Choice(["auto", "dense", "sparse", "columns", "restricted"]),
    default="auto",
    show_default=True,
    help="Which path the hybrid takes: dense (a relaxation of the whole fleet), sparse "
    "(prices from a sample of units, for fleets too big to relax whole) or columns (column "
    "generation); auto picks columns for timed problems and sparse above 2e7 units x "
    "options. Other solvers read the same problem either way. restricted (timed "
    "scenarios; auto takes it when the option table would pass 6 GiB): every solver gets "
    "each unit's cheapest options only, and the bound is the whole problem's, streamed "
    "over every option (docs/engine.md).",
)
@output_option(
    "Also write the plan here: YAML if the name ends .yaml or .yml (any case), JSON "
    "otherwise; stdout then gets the one-line summary (unless --format is given). "
    "Written atomically; a FIFO or a device such as /dev/null is written through, never "
    "replaced. '-' writes the JSON plan to stdout, and what would be printed there goes "
    "to stderr. A bare format name (-o yaml) is refused: use --format.",
    dir_okay=False,
)
@format_option("table", "json", "yaml")
@click.option(
    "--quiet",
    is_flag=True,
    help="Print only a one-line JSON summary (no table, no progress display).",
)
@click.option(
    "--secure",
    type=click.Choice(["n-1", "n-1-domains"]),
    default=None,
    help="A plan that absorbs the loss of any single site (n-1) or failure domain: the "
    "must-place units there fit elsewhere within their SLOs. MILP or hybrid; the price of the "
    "security is in the plan's diagnostics. See docs/replan.md.",
)
@click.option(
    "--infeasible-exit-code",
    type=click.IntRange(0, 255),
    default=EXIT_INFEASIBLE,
    show_default=True,
    help="Exit code for a proven-infeasible scenario (e.g. 0 or 99 where an orchestrator "
    "maps a code to 'skip').",
)
@debug_option()
@handle_errors
def solve(
    scenario_file: str | None,
    layout: str,
    output: Path | None,
    fmt: str,
    quiet: bool,
    secure: str | None,
    infeasible_exit_code: int,
    debug: bool,
    **solver_flags: Any,  # SOLVER_FLAGS, from solver_options: passed on to api.solve
) -> None:
    """Compute a placement plan for SCENARIO (default: the bundled EU scenario; '-'
    reads stdin). On a terminal, long solves show the incumbent, bound and gap.

    Example: placer solve configs/us_carbon_vs_price.yaml --solver milp -o plan.json
    """
    from placer import api
    from placer.outputs import text_report as report

    scenario = api.load(scenario_file)
    with terminal_progress(not quiet and stderr_is_terminal()) as progress:
        plan = api.solve(scenario, **solver_flags, progress=progress, layout=layout, secure=secure)
    write_model(output, plan)
    err = is_stdout(output)  # `-o -`: stdout holds the plan; the rest goes to stderr
    # with -o FILE the plan is in the file: print its one-line summary, as --quiet does,
    # unless --format was given (kubectl and sky stay quiet when told where to write)
    asked = click.get_current_context().get_parameter_source("fmt")
    to_file = output is not None and not err and asked is not ParameterSource.COMMANDLINE
    if quiet or to_file:
        click.echo(report.summary_line(plan), err=err)
    else:
        echo_formatted(
            fmt, plan, err=err, table=report.to_table, json=report.to_json, yaml=report.to_yaml
        )
    exit_for_status(plan.status, infeasible_exit_code, interrupted=api.interrupted())


@cli.command(name="verify")
@scenario_arg()
@plan_arg()
@click.option("--json", "as_json", is_flag=True, help="Print violations and KPIs as JSON.")
@handle_errors
def verify_cmd(scenario_file: str, plan_file: str, as_json: bool) -> None:
    """Check PLAN against SCENARIO independently; exit 1 if any hard constraint breaks.

    Example: placer verify configs/eu_sovereign.yaml plan.json
    """
    from placer.plan.verify import verifier_for

    scenario, plan = load_scenario_and_plan(scenario_file, plan_file)
    violations, kpis = verifier_for(scenario).check(plan)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": not violations,
                    "violations": [
                        {
                            "kind": v.kind,
                            "subject": v.subject,
                            "message": v.message,
                            "amount": v.amount,
                        }
                        for v in violations
                    ],
                    "kpis": {
                        "cost_usd_per_h": kpis.cost_usd_per_h,
                        "carbon_kg_per_h": kpis.carbon_kg_per_h,
                        "water_l_per_h": kpis.water_l_per_h,
                        "unplaced_value_usd_per_h": kpis.unplaced_value_usd_per_h,
                        "objective_usd_per_h": kpis.objective_usd_per_h,
                    },
                },
                indent=2,
            )
        )
    elif violations:
        click.echo(f"{plan_file}: {len(violations)} violation(s)")
        for v in violations:
            click.echo(f"  {v}")
    else:
        click.echo(
            f"{plan_file}: OK — every hard constraint holds; objective "
            f"{kpis.objective_usd_per_h:,.2f} USD/h (cost {kpis.cost_usd_per_h:,.2f}, "
            f"carbon {kpis.carbon_kg_per_h:,.1f} kg/h) recomputed from the scenario"
        )
    if violations:
        sys.exit(EXIT_VERIFY_FAILED)


@cli.command()
@scenario_arg()
@plan_arg(required=False)
@click.option(
    "--workload",
    default=None,
    help="Explain where this workload landed and why (solves first when no PLAN is given).",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="With --workload: alternatives listed per unit.",
)
@time_limit_option(30.0, "Time for the solve and for the search for fixes, s.")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@debug_option()
@handle_errors
def explain(
    scenario_file: str,
    plan_file: str | None,
    workload: str | None,
    top: int,
    time_limit_s: float,
    as_json: bool,
    debug: bool,
) -> None:
    """Explain what limits SCENARIO: why it is infeasible and the smallest fixes, or
    which capacities bind and what one more unit of each is worth. With --workload:
    why each unit of that workload sits in its pool — the breakdown against the
    next-best pools, which of them do not fit and which capacity is full, and which
    rules exclude the rest.

    Example: placer explain configs/eu_sovereign.yaml plan.json --workload chat-eu
    """
    from placer import api
    from placer.outputs import text_report as report

    scenario = api.load(scenario_file)
    if plan_file is not None and workload is None:
        raise OptionError("a PLAN is explained per workload: add --workload ID")
    if workload is not None:
        from placer.analysis.explain import explain_workload, why_text

        if plan_file is not None:
            plan = load_plan(plan_file)
        else:
            plan = api.solve(scenario, solver="milp", time_limit_s=time_limit_s)
        explanations = explain_workload(scenario, plan, workload, top=top)
        if as_json:
            click.echo(json.dumps([dataclasses.asdict(e) for e in explanations], indent=2))
        else:
            click.echo(why_text(explanations), nl=False)
        return
    plan = api.explain(scenario, time_limit_s=time_limit_s)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "status": plan.status,
                    "infeasibility": plan.infeasibility.model_dump(mode="json")
                    if plan.infeasibility
                    else None,
                    "capacity_prices": [c.model_dump(mode="json") for c in plan.capacity_prices],
                },
                indent=2,
            )
        )
    elif plan.infeasibility is not None:
        click.echo(report.infeasibility_text(plan))
    else:
        click.echo(report.binding_text(plan))
    exit_for_status(plan.status)


for _command in (
    pareto_command,
    whatif_command,
    diff_command,
    report_command,
    export_command,
    replan_command,
    robust_command,
    import_command,
    rolling_command,
    capacity_command,
):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point. A solver thread left running (a MILP past its time
    limit that would not stop: `placer.engines.milp.solve.watched`) does not hold the
    process: once every output is written, it ends with the command's exit code."""
    try:
        cli(prog_name="placer")
    except SystemExit as e:
        from placer import interrupt

        if interrupt.any_left_running():
            sys.stdout.flush()
            sys.stderr.flush()
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            os._exit(code)
        raise
