"""`placer export`: write a plan as Kubernetes, Karmada, Kueue or SkyPilot manifests."""

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
from placer.cli.io import load_plan, load_scenario_and_plan, write_atomic
from placer.errors import OptionError
from placer.outputs.export import KUEUE_API_VERSIONS, TARGETS, ExportOptions, build, header, render


@click.command(name="export", context_settings=HELP_OPTIONS)
@scenario_arg()
@plan_arg()
@click.option(
    "--to",
    "target",
    type=click.Choice(TARGETS),
    required=True,
    help="kubernetes: node-affinity patches per workload; karmada: PropagationPolicy and "
    "OverridePolicy per workload; kueue: ResourceFlavors and ClusterQueues; skypilot: one "
    "task YAML per workload and site.",
)
@output_option(
    "Write here instead of stdout: a file gets every document; an existing directory "
    "gets one file per document (a folder per cluster for kubernetes and kueue)."
)
@click.option(
    "--namespace",
    default="default",
    show_default=True,
    help="Kubernetes namespace of the workloads, Karmada policies and Kueue LocalQueues.",
)
@click.option(
    "--container",
    default=None,
    help="Container that gets the GPU limits (patches match containers by name); "
    "default: the workload's name.",
)
@click.option(
    "--kueue-api",
    type=click.Choice(KUEUE_API_VERSIONS),
    default=KUEUE_API_VERSIONS[0],
    show_default=True,
    help="Kueue API version (v1beta1 for Kueue releases that do not serve v1beta2).",
)
@click.option(
    "--changed-from",
    "changed_from",
    default=None,
    metavar="PLAN",
    help="Only the workloads PLAN (the plan that runs now) places differently: what "
    "`placer replan` moved, started or stopped (stopped ones are listed in the header "
    "comments). Not for kueue, whose quotas describe the whole plan.",
)
@click.option(
    "--no-verify",
    "no_verify",
    is_flag=True,
    help="Export PLAN even where `placer verify` finds it breaks SCENARIO (the header "
    "comments say it was not verified).",
)
@debug_option()
@handle_errors
def export_command(
    scenario_file: str,
    plan_file: str,
    target: str,
    output: Path | None,
    namespace: str,
    container: str | None,
    kueue_api: str,
    changed_from: str | None,
    no_verify: bool,
    debug: bool,
) -> None:
    """Write PLAN (from `placer solve -o`) for SCENARIO as orchestrator manifests (YAML).

    Each site runs in its `cluster` (default: its id) or, for SkyPilot, in its `cloud` and
    `location.cloud_region`; each pool's nodes carry its `node_labels` (default:
    placer.dev/site and placer.dev/pool). docs/export.md describes every target.

    PLAN must pass `placer verify` against SCENARIO (else exit 2, naming what breaks),
    unless --no-verify.

    Example: placer export configs/eu_sovereign.yaml plan.json --to karmada -o karmada.yaml
    """
    scenario, plan = load_scenario_and_plan(scenario_file, plan_file)
    whole = plan
    stopped: list[str] = []
    if changed_from is not None:
        if target == "kueue":
            raise OptionError(
                "--changed-from: kueue quotas (ResourceFlavors, ClusterQueues) describe the "
                "whole plan; export it whole"
            )
        plan, stopped = _changed_only(plan, load_plan(changed_from))
    options = ExportOptions(namespace=namespace, container=container, kueue_api=kueue_api)
    manifests = build(scenario, plan, target, options)  # its own checks name the entry
    if not no_verify:
        _require_verified(scenario, whole, scenario_file, plan_file)
    comments = header(scenario, plan, target)
    if no_verify:
        comments.append("Not verified against the scenario (--no-verify).")
    if changed_from is not None:
        comments.append(
            f"Only the workloads placed differently from {changed_from}: "
            f"{len({p.workload for p in plan.placements})} changed."
        )
        if stopped:
            comments.append(f"Stopped (delete or scale to zero): {', '.join(stopped)}.")
    if output is None:
        click.echo(render([m.document for m in manifests], comments), nl=False)
        return
    if output.is_dir():
        for m in manifests:
            path = output / m.path
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise OptionError(f"{path.parent}: cannot create: {e.strerror or e}") from None
            write_atomic(path, render([m.document], comments))
        click.echo(f"{output}: wrote {len(manifests)} {target} files", err=True)
        return
    write_atomic(output, render([m.document for m in manifests], comments))
    click.echo(f"{output}: wrote {len(manifests)} {target} documents", err=True)


def _require_verified(scenario, plan, scenario_file: str, plan_file: str) -> None:
    """Refuses (OptionError, exit 2) a plan whose placements `placer verify` finds break
    the scenario: manifests of a plan that does not fit would fail in the clusters. The
    figures a plan states (kind "kpi": totals, a site's GPUs) are not in its manifests,
    and a `placer replan` plan states those of the scenario after its events."""
    from placer.plan.verify import verify

    violations = [v for v in verify(scenario, plan) if v.kind != "kpi"]
    if not violations:
        return
    shown = "; ".join(str(v) for v in violations[:3])
    more = (
        f" (and {len(violations) - 3} more: placer verify lists them)"
        if len(violations) > 3
        else ""
    )
    raise OptionError(
        f"{plan_file}: breaks {scenario_file} ({shown}{more}); re-solve it, or give "
        "--no-verify to export it anyway"
    )


def _changed_only(plan, before):
    """(plan with only the placements of workloads placed differently from `before`,
    workloads `before` runs and `plan` does not run at all)."""

    def where(p) -> dict[str, set]:
        out: dict[str, set] = {}
        for x in p.placements:
            out.setdefault(x.workload, set()).add(
                (x.unit, x.site, x.pool, x.gpus, x.start_period, x.periods)
            )
        return out

    now, then = where(plan), where(before)
    changed = {w for w in now if now[w] != then.get(w)}
    stopped = sorted(set(then) - set(now))
    kept = [x for x in plan.placements if x.workload in changed]
    return plan.model_copy(update={"placements": kept}), stopped
