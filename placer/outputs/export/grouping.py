"""The plan, checked against its scenario and grouped the way every target exports it.

* `_check_plan`: only plans with placements (status optimal or feasible) export.
* `_groups`: placements grouped by (workload, site, pool), in scenario order; a placement
  the scenario does not have (unknown workload, site, pool, region; GPUs that disagree)
  is a ScenarioError that names it.
* `_objects`: the groups of a workload split by accelerator type, one Kubernetes object
  (Deployment or Job) each, named after the workload (`-<accelerator>` appended when it
  runs on more than one type).
* `_pod_gpus`: a training gang runs as pods of d GPUs each, d the largest divisor of the
  gang's GPUs that fits a node of the pool.
* `_exported`: what of a timed plan exports (docs/export.md, "Timed plans"): every training
  run, with its start and end, held (`suspend`) when it starts after the horizon's start;
  each service as placed in the first period (a unit per region and period would repeat
  every object once per period).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from placer.errors import OptionError, ScenarioError
from placer.model.catalog import Accelerator
from placer.model.horizon import parse_instant
from placer.model.mig import gpu_share
from placer.model.nodes import default_pod_gpus, largest_node
from placer.model.scenario import Scenario
from placer.model.site import Pool, Site
from placer.model.workload import Inference, Training
from placer.outputs.export.common import (
    POOL_LABEL,
    SITE_LABEL,
    VENDOR_GPU_RESOURCE,
    dns_label,
    label_value,
)
from placer.plan.plan import Placement, Plan

#: The period of a timed plan whose service placements export (the first: what holds when
#: the export is applied at the horizon's start).
FIRST_PERIOD = 0


@dataclass
class _Group:
    """The placements of one workload on one pool of one site."""

    workload: Training | Inference
    site: Site
    pool: Pool
    accelerator: Accelerator
    gpus: int = 0
    replicas: int = 0
    regions: list[str] = field(default_factory=list)
    start: str | None = None  # timed plans: when it runs from, ISO 8601
    end: str | None = None  # timed plans: until when
    suspend: bool = False  # timed plans: a training run that starts after the horizon's start
    segments: list[str] | None = None  # a run that pauses or moves: "start/end@site/pool"

    @property
    def cluster(self) -> str:
        """Kubernetes cluster (Karmada member, kube context) of the site."""
        return self.site.cluster or self.site.id

    @property
    def node_labels(self) -> dict[str, str]:
        """Labels that select the pool's nodes."""
        if self.pool.node_labels:
            return dict(self.pool.node_labels)
        return {SITE_LABEL: label_value(self.site.id), POOL_LABEL: label_value(self.pool.key)}

    @property
    def flavor(self) -> str:
        """Kueue ResourceFlavor name of the pool."""
        return dns_label(f"{self.site.id}-{self.pool.key}")

    @property
    def mig(self) -> str | None:
        """The MIG profile a replica runs in (None: whole or shared GPUs)."""
        if isinstance(self.workload, Inference):
            return self.workload.serving[self.accelerator.id].mig
        return None

    @property
    def gpu_share(self) -> float | None:
        """The share of one GPU a replica holds, below 1 (None: whole GPUs or MIG)."""
        if isinstance(self.workload, Inference) and self.mig is None:
            share = self.workload.serving[self.accelerator.id].gpus_per_replica
            return float(share) if share < 1 else None
        return None

    @property
    def gpus_per_pod(self) -> int:
        """Resources one pod requests: a replica's GPUs (1 for a MIG instance, and 1 time-
        sliced GPU for a share: docs/export.md), or a gang member's GPUs (its `pod.gpus`;
        else, on a pool with node shapes, the size compile counts; else see _pod_gpus)."""
        if isinstance(self.workload, Inference):
            if self.mig is not None or self.gpu_share is not None:
                return 1
            return int(self.workload.serving[self.accelerator.id].gpus_per_replica)
        if self.workload.pod is not None and self.workload.pod.gpus:
            return self.workload.pod.gpus
        if self.pool.nodes is not None:
            return default_pod_gpus(self.workload.gpus, largest_node(self.pool.nodes))
        return _pod_gpus(self.gpus, self.pool.gpus_per_node)

    @property
    def resource_count(self) -> int:
        """Units of `gpu_resource()` the group's pods request in all."""
        return self.pods * self.gpus_per_pod

    @property
    def pods(self) -> int:
        """Pods of the group: replicas (inference) or gang members (training)."""
        return (
            self.replicas
            if isinstance(self.workload, Inference)
            else int(self.gpus // self.gpus_per_pod)
        )

    def gpu_resource(self) -> str:
        """Kubernetes extended resource the pool's accelerators are requested by.

        Raises:
          ScenarioError: the pool gives none and the vendor has no known default.
        """
        if self.mig is not None:  # the GPU Operator's mixed strategy names each profile
            return f"nvidia.com/mig-{self.mig}"
        if self.pool.gpu_resource:
            return self.pool.gpu_resource
        resource = VENDOR_GPU_RESOURCE.get(self.accelerator.vendor.strip().lower())
        if resource is None:
            raise ScenarioError(
                f"site {self.site.id!r}, pool {self.pool.key!r}: no Kubernetes resource name "
                f"is known for accelerator {self.accelerator.id!r} (vendor "
                f"{self.accelerator.vendor!r}); set gpu_resource on the pool, e.g. "
                "nvidia.com/gpu"
            )
        return resource


def _pod_gpus(gpus: int, gpus_per_node: int) -> int:
    """GPUs per pod of a gang: the largest divisor of gpus that fits on one node."""
    return next(d for d in range(min(gpus, gpus_per_node), 0, -1) if gpus % d == 0)


def _check_plan(plan: Plan) -> None:
    if plan.status not in ("optimal", "feasible"):
        raise OptionError(
            f"the plan's status is {plan.status!r}: it places nothing, so there is nothing to "
            "export; solve the scenario until it has a feasible plan (placer explain shows why "
            "it has none)"
        )
    if not plan.placements:
        raise OptionError(
            f"the plan ({plan.status}) has no placements: every workload is left unplaced, so "
            "there is nothing to export"
        )


def _groups(scenario: Scenario, plan: Plan) -> list[_Group]:
    """Placements grouped by (workload, site, pool), in scenario order, checked against it.

    Raises:
      ScenarioError: a placement the scenario does not have (names the placement).
    """
    workloads = {w.id: w for w in scenario.workloads}
    sites = {s.id: s for s in scenario.sites}
    catalog = scenario.catalog()
    groups: dict[tuple[str, str, str], _Group] = {}
    seen: set[str] = set()
    for i, p in _exported(plan):
        where = f"placement {i} ({p.unit})"
        if p.unit in seen:
            raise ScenarioError(f"plan: {where}: unit placed twice")
        seen.add(p.unit)
        w = workloads.get(p.workload)
        if w is None:
            raise ScenarioError(
                f"plan: {where}: workload {p.workload!r} is not in the scenario; was the plan "
                "solved for another scenario?"
            )
        site = sites.get(p.site)
        if site is None:
            raise ScenarioError(f"plan: {where}: site {p.site!r} is not in the scenario")
        pool = next((pl for pl in site.pools if pl.key == p.pool), None)
        if pool is None:
            raise ScenarioError(
                f"plan: {where}: site {p.site!r} has no pool {p.pool!r} "
                f"(it has {[pl.key for pl in site.pools]})"
            )
        _check_placement(where, p, w, pool)
        _check_segments(where, p, scenario, sites)
        key = (w.id, site.id, pool.key)
        if key not in groups:
            groups[key] = _Group(w, site, pool, catalog[pool.accelerator])
        g = groups[key]
        g.gpus += p.gpus
        g.replicas += p.replicas
        if plan.horizon is not None:
            g.start, g.end = p.start, p.end
            g.suspend = p.kind == "training" and _later(p.start, plan.horizon.start)
            g.segments = _intervals(p)
        if p.region is not None and p.region not in g.regions:
            g.regions.append(p.region)
    order = {w.id: i for i, w in enumerate(scenario.workloads)}
    return sorted(groups.values(), key=lambda g: (order[g.workload.id], g.site.id, g.pool.key))


def _exported(plan: Plan) -> list[tuple[int, Placement]]:
    """(index in the plan, placement) of what exports: all of a static plan; of a timed
    plan, every training run and the service units of the first period.

    Raises:
      OptionError: a timed plan with neither (nothing runs in its first period).
    """
    if plan.horizon is None:
        return list(enumerate(plan.placements))
    out = [
        (i, p)
        for i, p in enumerate(plan.placements)
        if p.kind == "training" or p.period == FIRST_PERIOD
    ]
    if not out:
        raise OptionError(
            "the timed plan has no training run and no service placed in its first period: "
            "an export holds the training runs and the services of the first period, so "
            "there is nothing to export"
        )
    return out


def _window(groups: list[_Group]) -> dict[str, str | list[str] | None]:
    """`start` and `end` annotations of some groups: the earliest start and the latest end
    (both None in a static plan, so `_annotations` leaves them out); `segments`, the
    segments of a run that pauses or moves (None for every other run)."""
    starts = [g.start for g in groups if g.start]
    ends = [g.end for g in groups if g.end]
    segments = [s for g in groups for s in g.segments or ()]
    return {
        "start": min(starts, key=parse_instant) if starts else None,
        "end": max(ends, key=parse_instant) if ends else None,
        "segments": segments or None,
    }


def _intervals(p: Placement) -> list[str] | None:
    """A run that pauses or moves: each segment as an ISO 8601 interval and its pool,
    "2020-06-01T00:00:00+00:00/2020-06-01T02:00:00+00:00@fra/L4"; None otherwise."""
    if p.segments is None:
        return None
    return [f"{s.start}/{s.end}@{s.site or p.site}/{s.pool or p.pool}" for s in p.segments]


def _later(start: str | None, horizon_start: str) -> bool:
    """Whether a run starts after the horizon's start (then it is exported held)."""
    return start is not None and parse_instant(start) > parse_instant(horizon_start)


def _check_segments(where: str, p: Placement, scenario: Scenario, sites: dict) -> None:
    """A paused or moved run's segments name pools of the scenario and periods of its
    horizon (they are exported as they are: `_intervals`).

    Raises:
      ScenarioError: naming the placement, the segment and what is wrong.
    """
    periods = scenario.horizon.periods if scenario.horizon is not None else 0
    for n, seg in enumerate(p.segments or ()):
        at = f"plan: {where}: segments.{n}"
        site = sites.get(seg.site or p.site)
        if site is None:
            raise ScenarioError(f"{at}: site {seg.site!r} is not in the scenario")
        if not any(pl.key == (seg.pool or p.pool) for pl in site.pools):
            raise ScenarioError(f"{at}: site {site.id!r} has no pool {seg.pool or p.pool!r}")
        if seg.periods < 1 or seg.start_period < 0 or seg.start_period + seg.periods > periods:
            raise ScenarioError(
                f"{at}: periods {seg.start_period} to {seg.start_period + seg.periods - 1} "
                f"are not within the horizon's {periods} periods"
            )


def _check_placement(where: str, p: Placement, w: Training | Inference, pool: Pool) -> None:
    if p.kind != w.kind:
        raise ScenarioError(f"plan: {where}: placed as {p.kind}, but workload {w.id!r} is {w.kind}")
    if p.accelerator != pool.accelerator:
        raise ScenarioError(
            f"plan: {where}: accelerator {p.accelerator!r}, but pool {p.pool!r} of site "
            f"{p.site!r} holds {pool.accelerator!r}"
        )
    if p.gpus <= 0:
        raise ScenarioError(f"plan: {where}: {p.gpus} GPUs; a placement holds at least one")
    if isinstance(w, Training):
        if p.gpus != w.gpus:
            raise ScenarioError(
                f"plan: {where}: {p.gpus} GPUs, but training run {w.id!r} is a gang of {w.gpus}"
            )
        return
    if p.region not in w.demand_rps:
        raise ScenarioError(
            f"plan: {where}: workload {w.id!r} has no demand from region {p.region!r}"
        )
    serving = w.serving.get(p.accelerator)
    if serving is None:
        raise ScenarioError(
            f"plan: {where}: workload {w.id!r} has no serving figures for {p.accelerator!r}"
        )
    per_replica = float(serving.gpus_per_replica)
    if serving.mig is not None:  # a MIG instance holds compute slices / 7 of a GPU
        per_replica = gpu_share(serving.mig)
    if p.replicas <= 0 or not math.isclose(p.gpus, p.replicas * per_replica, rel_tol=1e-6):
        raise ScenarioError(
            f"plan: {where}: {p.gpus} GPUs for {p.replicas} replicas, but the scenario gives "
            f"{per_replica:g} GPUs per replica on {p.accelerator!r}"
        )


@dataclass
class _Object:
    """One Kubernetes object of a workload: its placements on one accelerator type."""

    name: str
    workload: Training | Inference
    accelerator: str
    groups: list[_Group]

    @property
    def is_training(self) -> bool:
        return isinstance(self.workload, Training)

    @property
    def api_kind(self) -> tuple[str, str]:
        """(apiVersion, kind) of the object."""
        return ("batch/v1", "Job") if self.is_training else ("apps/v1", "Deployment")

    def clusters(self) -> dict[str, list[_Group]]:
        """Cluster -> the object's groups there, clusters sorted."""
        out: dict[str, list[_Group]] = defaultdict(list)
        for g in self.groups:
            out[g.cluster].append(g)
        return dict(sorted(out.items()))


def _objects(groups: list[_Group]) -> list[_Object]:
    by_workload: dict[str, list[_Group]] = defaultdict(list)
    for g in groups:
        by_workload[g.workload.id].append(g)
    objects: list[_Object] = []
    for wid, gs in by_workload.items():
        accelerators = sorted({g.accelerator.id for g in gs})
        for acc in accelerators:
            name = dns_label(wid if len(accelerators) == 1 else f"{wid}-{acc}")
            mine = [g for g in gs if g.accelerator.id == acc]
            objects.append(_Object(name, mine[0].workload, acc, mine))
    return objects
