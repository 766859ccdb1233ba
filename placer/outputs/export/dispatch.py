"""The registry of export targets and the dispatcher that builds a plan's manifests.

`TARGETS` lists the targets; `build` checks the options and the plan, groups the plan and
hands it to the target's module, then rejects two documents that export under one file
name; `header` gives the comment lines that open a target's output.
"""

from __future__ import annotations

from typing import Any

from placer.errors import OptionError, ScenarioError
from placer.model.scenario import Scenario
from placer.outputs.export.common import ExportOptions, Manifest, check_options
from placer.outputs.export.grouping import _check_plan, _groups, _later, _objects
from placer.outputs.export.karmada import _karmada
from placer.outputs.export.kubernetes import _kubernetes
from placer.outputs.export.kueue import _kueue
from placer.outputs.export.skypilot import _skypilot
from placer.plan.plan import Plan

TARGETS: tuple[str, ...] = ("kubernetes", "karmada", "kueue", "skypilot")


def build(
    scenario: Scenario, plan: Plan, target: str, options: ExportOptions | None = None
) -> list[Manifest]:
    """The plan's manifests for target, each with its file path and origin.

    Args:
      scenario: the scenario the plan was solved for.
      plan: a plan with placements (status optimal or feasible).
      target: one of TARGETS.
      options: namespace, container name, Kueue API version.

    Raises:
      OptionError: unknown target, bad option, or a plan without placements.
      ScenarioError: a placement the scenario does not have, a site SkyPilot cannot reach,
        or two ids that export under one name.
    """
    options = options or ExportOptions()
    if target not in TARGETS:
        raise OptionError(f"--to {target!r}: one of {', '.join(TARGETS)}")
    check_options(options)
    _check_plan(plan)
    split = next((i for i, p in enumerate(plan.placements) if p.decode_pool is not None), None)
    if split is not None:
        raise OptionError(
            f"placements.{split}.decode_pool: export does not express prefill/decode "
            "disaggregated serving yet (docs/serving.md); export a plan solved without "
            "tokens.disaggregation"
        )
    groups = _groups(scenario, plan)
    if target == "kueue":
        manifests = _kueue(groups, options)
    else:
        objects = _objects(groups)
        if target == "kubernetes":
            manifests = _kubernetes(objects, options)
        elif target == "karmada":
            manifests = _karmada(objects, options)
        else:
            manifests = _skypilot(objects)
    seen: dict[str, str] = {}
    for m in manifests:
        if m.path in seen:
            raise ScenarioError(
                f"{seen[m.path]} and {m.origin} export under the same name ({m.path}); "
                "rename one of the ids (names are lowercased, other characters become '-')"
            )
        seen[m.path] = m.origin
    return manifests


def export_documents(
    scenario: Scenario, plan: Plan, target: str, options: ExportOptions | None = None
) -> list[dict[str, Any]]:
    """The plan as target documents (plain dicts), in a deterministic order. See `build`."""
    return [m.document for m in build(scenario, plan, target, options)]


def header(scenario: Scenario, plan: Plan, target: str) -> list[str]:
    """Comment lines that open an export: what it is and how to apply it."""
    how = {
        "kubernetes": "Strategic-merge patches (Deployment: inference, Job: training). Apply each "
        "to the cluster in its placer.dev/cluster annotation, e.g. kubectl --context CLUSTER "
        "patch deployment NAME --type strategic --patch-file FILE, or as kustomize patches.",
        "karmada": "For the Karmada control plane: a patch of each resource template (total "
        "replicas, GPU limits), its PropagationPolicy (clusters, replica weights) and its "
        "OverridePolicy (node affinity per cluster).",
        "kueue": "Apply each document to the cluster in its placer.dev/cluster annotation; "
        "label a workload kueue.x-k8s.io/queue-name: <its LocalQueue> to queue it.",
        "skypilot": "One SkyPilot task per document; SkyPilot reads several documents in one "
        "file as a pipeline, so use -o DIR for one file per task.",
    }[target]
    name = scenario.metadata.name or "(unnamed)"
    lines = [
        f"placer export --to {target}: scenario {name!r}, plan {plan.status} "
        f"(solver {plan.solver}), {len(plan.placements)} placements.",
        how,
    ]
    if plan.horizon is not None:
        lines.append(_timed_note(plan, target))
    return lines


#: How each target holds a training run that starts after the horizon's start.
_HELD = {
    "kubernetes": "its Job has spec.suspend: true",
    "karmada": "its Job template has spec.suspend: true",
    "kueue": "its ClusterQueue has stopPolicy: Hold",
    "skypilot": "nothing holds it: launch its task then",
}
_RELEASE = {
    "kubernetes": "set spec.suspend to false",
    "karmada": "set spec.suspend to false on the template",
    "kueue": "set stopPolicy to None",
    "skypilot": "launch the task",
}


def _timed_note(plan: Plan, target: str) -> str:
    """The comment line of a timed plan's export: what is exported, what is held."""
    h = plan.horizon
    assert h is not None  # header only calls it for timed plans
    runs = [p for p in plan.placements if p.kind == "training"]
    later = sum(1 for p in runs if _later(p.start, h.start))
    where = "envs PLACER_START/PLACER_END" if target == "skypilot" else "placer.dev/start and /end"
    return (
        f"Timed plan ({h.periods} periods of {h.period_hours:g} h from {h.start}): services as "
        f"placed in the first period; each training run with its start and end ({where}). "
        f"{later} of {len(runs)} run(s) start later: {_HELD[target]}; at its start, "
        f"something must {_RELEASE[target]} (see docs/export.md, Timed plans)."
    )
