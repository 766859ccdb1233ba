"""`placer export`: write a plan as Kubernetes, Karmada, Kueue or SkyPilot manifests."""

from __future__ import annotations

from pathlib import Path

import click

from placer.cli.common import debug_option, handle_errors, output_option, plan_arg, scenario_arg
from placer.cli.io import load_scenario_and_plan, write_atomic
from placer.errors import OptionError
from placer.outputs.export import KUEUE_API_VERSIONS, TARGETS, ExportOptions, build, header, render


@click.command(name="export")
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
    debug: bool,
) -> None:
    """Write PLAN (from `placer solve -o`) for SCENARIO as orchestrator manifests (YAML).

    Each site runs in its `cluster` (default: its id) or, for SkyPilot, in its `cloud` and
    `location.cloud_region`; each pool's nodes carry its `node_labels` (default:
    placer.dev/site and placer.dev/pool). docs/export.md describes every target.

    Example: placer export configs/eu_sovereign.yaml plan.json --to karmada -o karmada.yaml
    """
    scenario, plan = load_scenario_and_plan(scenario_file, plan_file)
    options = ExportOptions(namespace=namespace, container=container, kueue_api=kueue_api)
    manifests = build(scenario, plan, target, options)
    comments = header(scenario, plan, target)
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
