"""`placer import`: write a scenario from cluster, queue, task or price-list output.

Each subcommand reads one source and writes a scenario file (a new one, or `--into` an
existing one, whose comments are kept); what it could not infer is a `# TODO(placer
import)` comment in the file and a line on stderr. docs/import.md describes each source.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import click

from placer.cli.common import HELP_OPTIONS, debug_option, handle_errors, output_option
from placer.cli.io import STDOUT, write_output
from placer.errors import OptionError, ScenarioError
from placer.importers import (
    ScenarioDoc,
    import_catalog,
    import_jobs,
    import_kueue,
    import_nodes,
    import_services,
    import_sites,
    import_tasks,
)
from placer.model.site import Cloud


def _common(fn):
    """-o/--output, --into (alias --fleet) and --debug, shared by every subcommand."""
    fn = debug_option()(fn)
    fn = click.option(
        "--into",
        "--fleet",
        "into",
        type=str,
        default=None,
        metavar="SCENARIO",
        help="Add to this existing scenario file (its comments are kept) instead of "
        "starting a new one; -o may name the same file.",
    )(fn)
    return output_option("Write the scenario here (default: stdout). Written atomically.")(fn)


def _run(
    into: str | None, output: Path | None, what: str, add: Callable[[ScenarioDoc], None]
) -> None:
    """Builds the document (new or --into), checks it as `placer solve` would, writes it,
    and prints what was imported and what to check on stderr."""
    header = (
        f"Imported by `placer import {what}`. Values the input did not give are "
        "placeholders marked\n'# TODO(placer import)': replace them before trusting a plan "
        "(docs/import.md)."
    )
    doc = ScenarioDoc.load(into) if into else ScenarioDoc.new(f"imported-{what}", header)
    add(doc)
    if not doc.sites():
        raise OptionError(
            f"the scenario has no sites: workloads need somewhere to run. To fix: import "
            f"sites first (placer import k8s-nodes / catalog / sites -o fleet.yaml), then "
            f"placer import {what} ... --into fleet.yaml -o fleet.yaml"
        )
    if not doc.root["workloads"]:
        doc.notes.append(
            "no workloads yet: add them with placer import k8s-jobs / kueue-workloads / "
            "k8s-deployments / skypilot --into this file, or by hand (docs/scenario.md)"
        )
    target = str(output) if output is not None else STDOUT
    try:
        doc.validate(source=target if target != STDOUT else "<output>")
    except ScenarioError as e:
        raise ScenarioError(
            f"the scenario `placer import {what}` built would not load, so nothing was "
            f"written{_named_items(doc, str(e))}:\n{e}"
        ) from None
    write_output(target, doc.render())
    click.echo(doc.summary(), err=True)


def _named_items(doc: ScenarioDoc, message: str) -> str:
    """' (workloads.0 is train-llama-8b, ...)' for the list items a validation message
    names by index, so the reader finds them in the input; '' when it names none."""
    names = []
    for section, i in dict.fromkeys(re.findall(r"\b(workloads|sites)\.(\d+)\b", message)):
        items = doc.root.get(section) or []
        item = items[int(i)] if int(i) < len(items) else None
        if isinstance(item, dict) and "id" in item:
            names.append(f"{section}.{i} is {item['id']}")
    return f" ({', '.join(names)})" if names else ""


@click.group(name="import", context_settings=HELP_OPTIONS)
def import_command() -> None:
    """Write a scenario file from cluster, queue, task or price-list output.

    Start with the fleet (k8s-nodes, catalog or sites), then add workloads with --into.
    Every value the input does not give is a placeholder marked '# TODO(placer import)'.

    Example: placer import k8s-nodes nodes.json -o fleet.yaml && placer import k8s-jobs
    jobs.json --into fleet.yaml -o fleet.yaml && placer solve fleet.yaml
    """


@import_command.command(name="k8s-nodes")
@click.argument("nodes_file", metavar="NODES_JSON")
@click.option("--cluster", default=None, help="The cluster's kube context name (for exports).")
@click.option("--site", default=None, help="Put every node in one site of this id.")
@click.option(
    "--tier",
    type=click.Choice(["auto", "onprem", "cloud", "edge"]),
    default="auto",
    show_default=True,
    help="Site tier; auto: cloud when the nodes run in AWS, GCP or Azure, else onprem.",
)
@_common
@handle_errors
def k8s_nodes(nodes_file, cluster, site, tier, into, output, debug) -> None:
    """Sites and pools from `kubectl get nodes -o json` (NODES_JSON; '-' for stdin).

    Example: kubectl get nodes -o json > nodes.json; placer import k8s-nodes nodes.json
    --cluster prod -o fleet.yaml
    """
    _run(
        into,
        output,
        "k8s-nodes",
        lambda d: import_nodes(d, nodes_file, cluster=cluster, site=site, tier=tier),
    )


@import_command.command(name="k8s-jobs")
@click.argument("jobs_file", metavar="JOBS_JSON")
@_common
@handle_errors
def k8s_jobs(jobs_file, into, output, debug) -> None:
    """Training workloads from `kubectl get jobs -o json` (JOBS_JSON).

    Example: placer import k8s-jobs jobs.json --into fleet.yaml -o fleet.yaml
    """
    _run(into, output, "k8s-jobs", lambda d: import_jobs(d, jobs_file))


@import_command.command(name="kueue-workloads")
@click.argument("workloads_file", metavar="WORKLOADS_JSON")
@_common
@handle_errors
def kueue_workloads(workloads_file, into, output, debug) -> None:
    """Training workloads from `kubectl get workloads.kueue.x-k8s.io -o json`.

    Example: placer import kueue-workloads workloads.json --into fleet.yaml -o fleet.yaml
    """
    _run(into, output, "kueue-workloads", lambda d: import_kueue(d, workloads_file))


@import_command.command(name="k8s-deployments")
@click.argument("services_file", metavar="DEPLOYMENTS_JSON")
@_common
@handle_errors
def k8s_deployments(services_file, into, output, debug) -> None:
    """Inference services from `kubectl get deployments,statefulsets -o json` (also
    LeaderWorkerSets): replicas, GPUs or a MIG instance per replica, vCPU and memory.

    Example: kubectl get deployments,statefulsets -A -o json > services.json; placer
    import k8s-deployments services.json --into fleet.yaml -o fleet.yaml
    """
    _run(into, output, "k8s-deployments", lambda d: import_services(d, services_file))


@import_command.command(name="skypilot")
@click.argument("task_files", nargs=-1, required=True, metavar="TASK_YAML...")
@_common
@handle_errors
def skypilot(task_files, into, output, debug) -> None:
    """Workloads from SkyPilot task YAMLs (a `service:` section makes an inference one).

    Example: placer import skypilot train.yaml serve.yaml --into fleet.yaml -o fleet.yaml
    """
    _run(into, output, "skypilot", lambda d: import_tasks(d, list(task_files)))


def _split(value: str | None) -> list[str] | None:
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    return items or None


@import_command.command(name="catalog")
@click.argument("csv_file", metavar="PRICES_CSV")
@click.option(
    "--cloud", type=click.Choice(list(Cloud.__args__)), required=True, help="Whose prices."
)
@click.option("--regions", default=None, help="Keep these regions (comma-separated).")
@click.option("--accelerators", "accels", default=None, help="Keep these (H100,L4,...).")
@click.option(
    "--price",
    type=click.Choice(["on-demand", "spot"]),
    default="on-demand",
    show_default=True,
    help="on-demand: spot prices are recorded as spot_cost_usd_per_gpu_h; spot: the "
    "spot price is the pool's price.",
)
@click.option(
    "--quota-gpus",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Accelerators per pool (your quota; a placeholder).",
)
@_common
@handle_errors
def catalog(csv_file, cloud, regions, accels, price, quota_gpus, into, output, debug) -> None:
    """Cloud sites and priced pools from a SkyPilot-style catalog CSV (PRICES_CSV).

    Example: placer import catalog aws_prices.csv --cloud aws --regions us-east-1
    --accelerators H100,L4 -o fleet.yaml
    """

    def add(doc: ScenarioDoc) -> None:
        import_catalog(
            doc, csv_file, cloud=cloud, regions=_split(regions),
            accelerator_ids=_split(accels), price=price, quota_gpus=quota_gpus,
        )  # fmt: skip

    _run(into, output, "catalog", add)


@import_command.command(name="sites")
@click.argument("csv_file", metavar="SITES_CSV")
@_common
@handle_errors
def sites(csv_file, into, output, debug) -> None:
    """Sites and pools from a plain CSV (id, tier, lat, lon, country, ...; docs/import.md).

    Example: placer import sites sites.csv -o fleet.yaml
    """
    _run(into, output, "sites", lambda d: import_sites(d, csv_file))
