"""What-if variants of a scenario: change it by path, solve every variant, compare.

A *change* is `PATH=VALUE` (the `--set` of `placer whatif`). A *variant* is one or more
changes joined with `;`, applied in order to a deep copy of the scenario document and
validated exactly like a scenario file (`placer.model.load.validate_model`), so a variant
that would be an invalid file is rejected with the same field-by-field message.

PATH is dotted and addresses the document by id, not by list position:

- `sites.<site id>.power.it_capacity_kw`, `sites.<site id>.pools.<pool id>.gpus` (a
  pool's id is its `id`, else its accelerator), `workloads.<workload id>.gpus`,
  `workloads.<id>.demand_rps.<region id>`, `objective.carbon_price_usd_per_t`,
  `user_regions.<id>.location.lat`, ...
- a list position (`sites.0.pools.1.gpus`) works where no id matches;
- ids may contain dots: the longest id that matches wins;
- a field the document leaves out but the scenario language has (e.g. a site's
  `power.grid_cap_kw`) may be set; a key of a map (`demand_rps.<region>`) may be added.

VALUE:

- `V`: absolute; V is parsed as one YAML 1.2 value (`2000`, `0.5`, `true`, `null`,
  `H100-SXM`, `[DE, FR]`); `=V` forces absolute even when V starts with `+`, `-` or `*`;
- `+N` / `-N`: add / subtract N (in the field's own unit);
- `*F`: multiply by F;
- `+P%` / `-P%`: change by P percent;
- `down` on a site (`sites.<id>=down`): the site is lost — every pool there holds 0 GPUs
  (the site stays in the document, so pins, datasets and measured latencies that name it
  stay valid); on a pool: that pool holds 0 GPUs. Elsewhere `down` is the string.

Every error is an `OptionError` (exit 2) that names the `--set` and the keys or ids valid
at the level where the path went wrong.

The baseline is solved here, the variants through an executor
(`placer.analysis.executor`: in process, a local process pool, or Ray), each by
`_solve_variant`, which builds, solves and compares one variant wherever it runs. N-1
(`run_n1`, `placer whatif --n-1 sites|domains`) is a sweep of such variants, one per
site or failure domain lost, whose results also carry what each loss costs
(`whatif_report.LossImpact`) and name the worst.

This module is the entry point (`run_whatif`) and re-exports the public names of the
modules it is built from: `placer.analysis.whatif_parse` (the `--set` text),
`placer.analysis.whatif_paths` (a path resolved against the document),
`placer.analysis.whatif_apply` (changes applied and validated) and
`placer.analysis.whatif_report` (the report's models).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from placer.analysis.diff import PlanDiff, diff_plans
from placer.analysis.executor import Executor, InProcess
from placer.analysis.whatif_apply import apply_variant, build_variant
from placer.analysis.whatif_parse import (
    Change,
    Variant,
    fail_domain_variant,
    fail_site_variant,
    n1_variants,
    parse_change,
    parse_variant,
    site_domains,
)
from placer.analysis.whatif_report import (
    AppliedChange,
    Deltas,
    LossImpact,
    LossSummary,
    PlanKpis,
    VariantResult,
    WhatIfReport,
    WhatIfRun,
    loss_impact,
    loss_summary,
    unserved_rps,
)
from placer.errors import OptionError
from placer.model.load import validate_model
from placer.model.scenario import Scenario
from placer.plan.plan import Plan

SolveFn = Callable[..., Plan]
N1Kind = Literal["sites", "domains"]


def plan_kpis(plan: Plan) -> PlanKpis:
    """The status and KPIs of a plan, for the report."""
    t = plan.totals
    has_plan = plan.status in ("optimal", "feasible") and t is not None
    return PlanKpis(
        status=plan.status,
        solver=plan.solver,
        objective_usd_per_h=plan.objective_usd_per_h,
        bound_usd_per_h=plan.bound_usd_per_h,
        gap=plan.gap,
        cost_usd_per_h=t.cost_usd_per_h if has_plan else None,
        carbon_kg_per_h=t.carbon_kg_per_h if has_plan else None,
        water_l_per_h=t.water_l_per_h if has_plan else None,
        unplaced_value_usd_per_h=t.unplaced_value_usd_per_h if has_plan else None,
        gpus=t.gpus if has_plan else None,
        placed_units=t.placed_units if has_plan else None,
        unplaced_units=t.unplaced_units if has_plan else None,
        wall_s=plan.wall_s,
    )


def _has_plan(plan: Plan) -> bool:
    return plan.status in ("optimal", "feasible")


def baseline_violations(scenario: Scenario, plan: Plan) -> list[str]:
    """What `plan` breaks under `scenario`, hard constraints only.

    KPI claims (cost, carbon, ... written in the plan) are left out: a variant that
    changes a price makes them stale without making the placement invalid.
    """
    from placer.plan.verify import verify

    try:
        found = verify(scenario, plan)
    except (KeyError, ValueError, IndexError) as e:  # a plan the variant cannot even read
        return [f"the plan does not fit the variant ({type(e).__name__}: {e})"]
    return [str(v) for v in found if v.kind != "kpi"]


def _deltas(base: PlanKpis, var: PlanKpis) -> Deltas:
    def sub(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else float(f"{b - a:.12g}")

    def isub(a: int | None, b: int | None) -> int | None:
        return None if a is None or b is None else b - a

    obj = sub(base.objective_usd_per_h, var.objective_usd_per_h)
    rel = None
    if obj is not None and base.objective_usd_per_h:
        rel = obj / abs(base.objective_usd_per_h)
    return Deltas(
        objective_usd_per_h=obj,
        objective_relative=rel,
        cost_usd_per_h=sub(base.cost_usd_per_h, var.cost_usd_per_h),
        carbon_kg_per_h=sub(base.carbon_kg_per_h, var.carbon_kg_per_h),
        water_l_per_h=sub(base.water_l_per_h, var.water_l_per_h),
        gpus=isub(base.gpus, var.gpus),
        placed_units=isub(base.placed_units, var.placed_units),
    )


#: `placer.api.solve` keywords a what-if run passes to every solve, with their defaults.
SOLVE_DEFAULTS: dict[str, Any] = {
    "solver": "auto",
    "time_limit_s": 60.0,
    "seed": 0,
    "relative_gap": 1e-4,
    "workers": 1,
    "backend": None,
}


@dataclass(frozen=True)
class _Sweep:
    """What every variant's solve shares; pickled once per worker by a process pool, put
    once in the object store by Ray (see `placer.analysis.executor`)."""

    doc: dict[str, Any]
    source: str
    base_plan: Plan
    base_unserved_rps: float | None
    options: dict[str, Any]
    solve: SolveFn
    n1: N1Kind | None


def run_whatif(
    doc: dict[str, Any],
    variants: Sequence[Variant],
    *,
    source: str = "scenario",
    solve: SolveFn | None = None,
    progress: Callable[[str], None] | None = None,
    executor: Executor | None = None,
    n1: N1Kind | None = None,
    **solve_options: Any,
) -> WhatIfRun:
    """Solves the baseline once, then every variant separately, and compares.

    Every variant is built and validated before anything is solved, so a bad `--set`
    fails at once. The baseline is solved here; the variants then go through `executor`
    (each with the baseline plan as its hint and the baseline's solver options), so that
    with a fixed seed and one solver thread the report is the same from every executor.

    Args:
      doc: the scenario document (plain data, as `read_document` returns it).
      variants: the variants, in order.
      source: the scenario file name, for messages and the report.
      solve: the solve function (default `placer.api.solve`; tests may pass another;
        a process pool or Ray needs a module-level function).
      progress: called in this process with a line before the baseline and as each
        variant's result arrives (e.g. to print on stderr).
      executor: where the variants are solved (default: `InProcess()`).
      n1: "sites" or "domains": the variants are N-1 losses (`n1_variants`); each
        result gets its `loss` figures and the report an `n1` summary.
      solve_options: keywords of `placer.api.solve` (SOLVE_DEFAULTS: solver,
        time_limit_s (per solve, s), seed, relative_gap, workers, backend).

    Returns:
      The report with the baseline plan and every variant's plan.

    Raises:
      OptionError, ScenarioError: a bad change or an invalid variant (exit 2); an
        error in a variant's solve is raised as the in-process path raises it.
    """
    if solve is None:
        from placer.api import solve as api_solve

        solve = api_solve
    from placer.api import choose_solver

    unknown = sorted(set(solve_options) - set(SOLVE_DEFAULTS))
    if unknown:
        raise TypeError(f"run_whatif: unknown solve options {unknown}")
    options = {**SOLVE_DEFAULTS, **solve_options}
    choose_solver(options["solver"])  # a bad name fails before any work
    baseline = validate_model(Scenario, doc, source=source)
    name = baseline.metadata.name
    for i, v in enumerate(variants, start=1):  # every variant valid before any solve ...
        build_variant(doc, v, source=source, index=i)  # ... but one Scenario alive at a time
    started = time.perf_counter()
    if progress:
        progress(f"solving the baseline ({len(variants)} variant(s) to follow)")
    base_plan = solve(baseline, **options)
    base_unserved = unserved_rps(baseline, base_plan) if n1 and _has_plan(base_plan) else None
    del baseline  # a large fleet's Scenario is ~0.5 GB (100k units)
    sweep = _Sweep(doc, source, base_plan, base_unserved, options, solve, n1)
    executor = executor or InProcess()

    def arrived(i: int, out: tuple[VariantResult, Plan]) -> None:
        if progress:
            progress(
                f"variant {i + 1}/{len(variants)} solved: {out[0].label} ({out[0].kpis.status})"
            )

    if progress:
        progress(f"solving {len(variants)} variant(s) on {executor!r}")
    jobs = list(enumerate(variants, start=1))
    outs = executor.map(functools.partial(_solve_variant, sweep), jobs, on_result=arrived)
    results = [r for r, _ in outs]
    report = WhatIfReport(
        scenario=name,
        source=source,
        solver=options["solver"],
        seed=options["seed"],
        time_limit_s=options["time_limit_s"],
        wall_s=time.perf_counter() - started,
        baseline=plan_kpis(base_plan),
        variants=results,
        n1=loss_summary(n1, results, base_unserved) if n1 else None,
    )
    return WhatIfRun(report=report, baseline_plan=base_plan, plans=[p for _, p in outs])


def run_n1(
    doc: dict[str, Any], by: N1Kind, **kwargs: Any
) -> tuple[WhatIfRun, list[tuple[str, Variant]]]:
    """N-1: solves the loss of every site (`by="sites"`) or failure domain (`"domains"`)
    against the baseline: `run_whatif` over `n1_variants(doc, by)` (keywords as there).

    Returns:
      (the run, whose variants each carry `loss`; the (lost, variant) pairs solved).

    Raises:
      OptionError: `by` unknown, or a scenario without sites.
    """
    losses = n1_variants(doc, by)
    if not losses:
        raise OptionError(f"--n-1 {by}: the scenario names no site to lose")
    return run_whatif(doc, [v for _, v in losses], n1=by, **kwargs), losses


def _solve_variant(sweep: _Sweep, job: tuple[int, Variant]) -> tuple[VariantResult, Plan]:
    """One variant, built, solved and compared with the baseline (an executor's task)."""
    index, variant = job
    scenario, applied = build_variant(sweep.doc, variant, source=sweep.source, index=index)
    base_plan = sweep.base_plan
    hint = base_plan if _has_plan(base_plan) else None
    plan = sweep.solve(scenario, hint=hint, **sweep.options)
    plan = plan.model_copy(update={"scenario": f"{plan.scenario or 'scenario'} [{variant.label}]"})
    diff = None
    if _has_plan(base_plan) and _has_plan(plan):
        diff = diff_plans(base_plan, plan, label_a="baseline", label_b=variant.label)
    result = _compare(index, variant, applied, scenario, base_plan, plan, diff)
    if sweep.n1 is not None:
        result.loss = _loss(sweep, applied, scenario, plan, diff)
    return result, plan


def _loss(
    sweep: _Sweep,
    applied: list[AppliedChange],
    scenario: Scenario,
    plan: Plan,
    diff: PlanDiff | None,
) -> LossImpact:
    """The loss figures of an N-1 variant: the sites its changes take down."""
    domain_of = site_domains(sweep.doc)
    down = [c for c in applied if c.op == "down" and c.path.removeprefix("sites.") in domain_of]
    sites = [c.path.removeprefix("sites.") for c in down]
    lost = domain_of[sites[0]] if sweep.n1 == "domains" and sites else ", ".join(sites)
    gpus = sum(int(c.before or 0) for c in down)
    return loss_impact(
        lost, gpus, sites, scenario, sweep.base_plan, plan, diff, sweep.base_unserved_rps
    )


def _compare(
    index: int,
    variant: Variant,
    applied: list[AppliedChange],
    scenario: Scenario,
    base_plan: Plan,
    plan: Plan,
    diff: PlanDiff | None,
) -> VariantResult:
    kpis = plan_kpis(plan)
    valid: bool | None = None
    broken: list[str] = []
    if _has_plan(base_plan):
        broken = baseline_violations(scenario, base_plan)
        valid = not broken
    changes: dict[str, list] = {}
    units_moved = None
    if diff is not None:
        changes, units_moved = diff.unit_changes(), len(diff.moved)
    why = "" if _has_plan(plan) else _no_plan_reason(plan)
    return VariantResult(
        index=index,
        label=variant.label,
        changes=applied,
        kpis=kpis,
        delta=_deltas(plan_kpis(base_plan), kpis),
        baseline_plan_valid=valid,
        baseline_plan_violations=broken,
        units_moved=units_moved,
        **changes,
        no_plan_reason=why,
        infeasibility=plan.infeasibility,
    )


def _no_plan_reason(plan: Plan) -> str:
    """One line: the diagnosis summary and the units it names, or the plan's message."""
    inf = plan.infeasibility
    if inf is None:
        return plan.message or plan.status
    units = [u.unit for u in inf.unplaceable]
    text = inf.summary or plan.message or plan.status
    if units:
        more = f", ... ({len(units)} in all)" if len(units) > 5 else ""
        text += f" ({', '.join(units[:5])}{more})"
    if inf.additions:
        text += "; fix: " + "; ".join(a.text for a in inf.additions[:3])
    return text


__all__ = [
    "AppliedChange",
    "Change",
    "LossImpact",
    "LossSummary",
    "N1Kind",
    "PlanKpis",
    "Variant",
    "VariantResult",
    "WhatIfReport",
    "WhatIfRun",
    "apply_variant",
    "baseline_violations",
    "build_variant",
    "fail_domain_variant",
    "fail_site_variant",
    "n1_variants",
    "parse_change",
    "parse_variant",
    "plan_kpis",
    "run_n1",
    "run_whatif",
    "unserved_rps",
]
