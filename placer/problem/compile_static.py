"""compile of a static scenario (no horizon): the one place where domain rules become
numbers (`placer.problem.compile.compile_problem` dispatches here or to
`placer.problem.compile_time`).

Scenario (human units) -> (Problem, Index): each unit's allowed options (today: pools)
with what each consumes, and every capacity as a row (`placer.problem.form`). The rules
are applied to chunks of units, each chunk's [chunk, P] tables cut to the allowed pairs
and dropped, so peak memory is one chunk plus the option lists. Units are training
gangs (one per training workload) and inference replica sets (one per user region with
demand, per redundancy copy). Pools are accelerator pools at sites. Ids are sorted, so
the same scenario always compiles to the same arrays.

Per (unit u, pool p at site s, accelerator a):
  gpus      training: the workload's GPUs; inference: replicas x GPUs per replica,
            replicas = ceil(copy demand / rps per replica on a); a service with
            `tokens` is sized by tokens, memory and its TTFT SLO (`token_sizing`,
            docs/serving.md)
  it_kw     gpus x node_power_kw / gpus_per_node (full load; capacity planning)
  mean_kw   it_kw x (idle + (1 - idle) x utilization)   (energy, carbon, water)
  speed     training: hours on p / reference hours = ref TFLOP/s / a's TFLOP/s;
            1 for inference. Cost, carbon and water of training are per hour of the
            reference run, so a GPU twice as fast costs half per hour of work.
  cost      speed x (gpus x USD/GPU-h + mean_kw x PUE x USD/kWh)
            + dataset egress USD/GB x GB / reference hours (when p is not at the data site)
  carbon    speed x mean_kw x PUE x gCO2e/kWh / 1000              kg/h
  water     speed x mean_kw x WUE                                 L/h
  objective cost + carbon price x carbon / 1000 + water price x water / 1000

Pools with node shapes, pods, shared GPUs and MIG replicas add node quantities and rows
(`placer.problem.compile_nodes`, docs/nodes.md); a MIG replica's GPUs are its compute
slices / 7, a shared replica's its share.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from placer.errors import ScenarioError
from placer.model.common import MAX_REPLICAS
from placer.model.latency import great_circle_km, modelled_rtt_ms
from placer.model.mig import MIG_TYPES, profile_names
from placer.model.nodes import node_gpus
from placer.model.scenario import Scenario
from placer.model.site import Pool, Site
from placer.model.workload import Inference, Training
from placer.problem.compile_disagg import add_pair_options, pair_entries
from placer.problem.compile_nodes import NODE_TABLES, PoolPods, node_rows, pair_node_tables
from placer.problem.form import (
    NUM_REASONS,
    R_ACCEL,
    R_COOLING,
    R_DEADLINE,
    R_DENSITY,
    R_EXCLUDE,
    R_LATENCY,
    R_MEMORY,
    R_NODE,
    R_PIN,
    R_RESIDENCY,
    R_SIZE,
    R_TTFT,
    REASONS,
    Index,
    PoolInfo,
    Problem,
    Unit,
)
from placer.problem.queueing import GPU_MEMORY_FRACTION, MAX_TTFT_REPLICAS
from placer.problem.queueing import erlang_c as _erlang_c
from placer.problem.rows import QUANTITIES, Rows, quantity_name, standard_rows

COOLING_RANK = {"air": 0, "liquid": 1, "immersion": 2}


class _Context:
    """Look-ups compile needs many times: catalog, regions, sites, measured RTTs."""

    def __init__(self, scenario: Scenario, size_rule: bool = True) -> None:
        self.scenario = scenario
        self.size_rule = size_rule  # False: a unit larger than a pool or site is allowed
        self.catalog = scenario.catalog()
        self.regions = {r.id: r for r in scenario.user_regions}
        self.sites = {s.id: s for s in scenario.sites}
        self.measured = {(e.site, e.region): e.rtt_ms for e in scenario.latency_ms}

    def node_kw_per_gpu(self, pool: Pool) -> float:
        """Node power at full load per GPU of a pool, kW."""
        acc = self.catalog[pool.accelerator]
        if pool.node_power_kw is not None:
            per_gpu = pool.node_power_kw / pool.gpus_per_node
        else:
            per_gpu = acc.tdp_w * acc.node_overhead_factor / 1000.0
        if pool.nodes is not None and any(n.power_kw is not None for n in pool.nodes):
            # the mean over the pool's GPUs, each shape at its stated power (or the above)
            total = sum(
                n.count * (n.power_kw if n.power_kw is not None else per_gpu * n.gpus)
                for n in pool.nodes
            )
            return total / node_gpus(pool.nodes)
        return per_gpu

    def rtt_ms(self, site: Site, region_id: str) -> float:
        """Measured RTT if the scenario gives one, else the distance model, ms."""
        if (site.id, region_id) in self.measured:
            return self.measured[site.id, region_id]
        loc = self.regions[region_id].location
        d = great_circle_km(site.location.lat, site.location.lon, loc.lat, loc.lon)
        return modelled_rtt_ms(d)


def build_units(scenario: Scenario) -> list[tuple[Unit, Training | Inference]]:
    """Placement units in deterministic order (workload id, region id, copy)."""
    units: list[tuple[Unit, Training | Inference]] = []
    for w in sorted(scenario.workloads, key=lambda w: w.id):
        if isinstance(w, Training):
            units.append((Unit(w.id, w.id, "training", None, 0, 1, 0.0), w))
            continue
        k = w.redundancy.copies
        carry = k - w.redundancy.failures
        for region in sorted(w.demand_rps):
            demand = w.demand_rps[region]
            if demand <= 0:
                continue
            for c in range(k):
                name = f"{w.id}/{region}" + (f"#{c}" if k > 1 else "")
                units.append((Unit(name, w.id, "inference", region, c, k, demand / carry), w))
    return units


def build_pools(scenario: Scenario) -> list[tuple[PoolInfo, Site, Pool]]:
    """Pools in deterministic order (site id, pool key)."""
    out = []
    for site in sorted(scenario.sites, key=lambda s: s.id):
        for pool in sorted(site.pools, key=lambda p: p.key):
            info = PoolInfo(f"{site.id}/{pool.key}", site.id, pool.key, pool.accelerator)
            out.append((info, site, pool))
    return out


#: Dense cells (units x pools) of one chunk: ~40 float64 temporaries of this size live
#: at once inside `_pair_arrays`, so 1e6 cells keep a chunk near 300 MB.
CHUNK_CELLS = 1_000_000
#: `_pair_arrays` tables only the timed compile reads (`placer.problem.compile_time`).
TIMED_ONLY = ("mean_kw", "gpu_usd_per_h")
#: `_pair_arrays` table of each quantity, in `QUANTITIES` order.
_QUANTITY_TABLES = ("gpus", "it_kw", "facility_kw", "water", "cost", "carbon")
assert len(_QUANTITY_TABLES) == len(QUANTITIES)


def compile_static(
    scenario: Scenario, *, chunk_cells: int = CHUNK_CELLS, size_rule: bool = True
) -> tuple[Problem, Index]:
    """Compiles a validated Scenario into the one Problem every engine reads.

    The rules are applied to chunks of units, each chunk's [chunk, P] tables cut to the
    allowed pairs and dropped: peak memory is one chunk plus the option lists.
    `size_rule=False` keeps the pairs where a unit is larger than its pool's GPUs or its
    site's IT capacity (R_SIZE): the infeasibility diagnosis asks how much to add there.
    A scenario with a horizon compiles through `placer.problem.compile_time`."""
    units = build_units(scenario)
    pools = build_pools(scenario)
    sites = sorted(scenario.sites, key=lambda s: s.id)
    site_index = {s.id: i for i, s in enumerate(sites)}
    ctx = _Context(scenario, size_rule)
    n_u, n_p = len(units), len(pools)
    step = max(1, chunk_cells // max(n_p, 1))
    chunks = []
    for start in range(0, n_u, step):
        arrays, bits, reps = _pair_arrays(units[start : start + step], pools, sites, ctx)
        for name in TIMED_ONLY:
            del arrays[name]
        arrays["objective"] = pair_objective(scenario, arrays)
        arrays["replicas"] = reps
        rows, cols = np.nonzero(bits == 0)
        counts = np.bincount(rows, minlength=bits.shape[0])
        pairs = {name: table[rows, cols] for name, table in arrays.items()}
        chunks.append((start, rows, cols, counts, pairs, reason_counts(bits)))
    width = max([1, *(int(c[3].max(initial=0)) for c in chunks)])
    noded = bool(chunks) and "slots" in chunks[0][4]
    names = _QUANTITY_TABLES + (NODE_TABLES if noded else ())
    pods = PoolPods(n_p)
    for _, _, cols, _, pairs, _ in chunks if noded else ():
        pods.add(cols, pairs)
    option_uk = np.full((n_u, width), -1, np.int32)
    amount_quk = np.zeros((len(names), n_u, width))
    tables = {name: np.zeros((n_u, width)) for name in ("objective", "latency", "hours")}
    replicas_uk = np.zeros((n_u, width), np.int32)
    reason_ur = np.zeros((n_u, NUM_REASONS), np.int32)
    while chunks:
        start, rows, cols, counts, pairs, reasons = chunks.pop(0)  # free as we go
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        at = (start + rows, np.arange(rows.size) - first[rows])
        option_uk[at] = cols
        for q, name in enumerate(names):
            amount_quk[q][at] = pairs[name]
        for name, table in tables.items():
            table[at] = pairs[name]
        replicas_uk[at] = pairs["replicas"]
        reason_ur[start : start + counts.size] = reasons
    _check_finite(units, tables["objective"], amount_quk, option_uk)
    pool_site = np.array([site_index[info.site] for info, _, _ in pools], dtype=np.int32)
    group_u, spread_key_gp = _groups(units, pools, sites)
    rows = node_rows(capacity_rows(scenario, pools, sites, pool_site), pools, pods)
    fields = {
        "option_uk": option_uk,
        "amount_quk": amount_quk,
        "pool_o": np.arange(n_p, dtype=np.int32),
        "spread_key_go": spread_key_gp,
        **rows._asdict(),
    }
    pair_opts = pair_entries(units, pools, ctx, pool_rule_bits(scenario))
    decode_uk = None
    if pair_opts is not None:  # prefill/decode disaggregation (compile_disagg)
        objective_n = pair_objective(scenario, pair_opts.tables)
        ext = add_pair_options(
            pair_opts,
            option_uk,
            amount_quk,
            tables,
            replicas_uk,
            rows.row_oj,
            rows.quantity_oj,
            spread_key_gp,
            objective_n,
        )
        tables, replicas_uk, decode_uk = ext.tables, ext.replicas_uk, ext.decode_replicas_uk
        fields.update({k: getattr(ext, k) for k in fields if k in ext._fields})
        _check_finite(units, tables["objective"], ext.amount_quk, ext.option_uk, 2)
    problem = Problem(
        objective_usd_per_h_uk=tables["objective"],
        latency_ms_uk=tables["latency"],
        reason_count_ur=reason_ur,
        **unit_fields(units),
        group_u=group_u,
        pool_site_p=pool_site,
        lexicographic=np.array(scenario.objective.mode == "lexicographic"),
        **fields,
    )
    index = Index(
        units=tuple(u for u, _ in units),
        pools=tuple(info for info, _, _ in pools),
        sites=tuple(s.id for s in sites),
        replicas_uk=replicas_uk,
        hours_uk=tables["hours"],
        decode_replicas_uk=decode_uk,
        pair_pools=None if pair_opts is None else pair_opts.pairs,
    )
    return problem, index


def _check_finite(units, objective_uk, amount_quk, option_uk, pair_quantities: int = 0) -> None:
    """Every figure of an allowed pair is finite (the scenario's ranges keep them so;
    this names the workload if a product of in-range fields ever overflows).

    Raises:
      ScenarioError: naming the workload and the figure."""
    listed = option_uk >= 0
    figures = [
        ("objective_usd_per_h", objective_uk),
        *(
            (_quantity_label(q, amount_quk.shape[0], pair_quantities), table)
            for q, table in enumerate(amount_quk)
        ),
    ]
    for name, table in figures:
        bad = listed & ~np.isfinite(table)
        if bad.any():
            u = int(np.flatnonzero(bad.any(axis=1))[0])
            raise ScenarioError(
                f"workloads.{units[u][0].workload}: its {name} overflows on some pool "
                "(a product of its figures and the pool's is not a finite number); check "
                "its demand, GPUs and hours, and the pool's prices"
            )


def _quantity_label(q: int, n_q: int, pair_quantities: int) -> str:
    """The name of quantity q; the last `pair_quantities` are the prefill and decode GPUs
    of the pair options (compile_disagg)."""
    if q >= n_q - pair_quantities:
        return ("prefill_gpus", "decode_gpus")[q - (n_q - pair_quantities)]
    return quantity_name(q)


def pair_reasons(scenario: Scenario, unit_indices) -> np.ndarray:
    """uint16[n, P]: the mask bits (`REASONS`) of every pool for the given units (indices
    into compile's unit order); 0 where the pair is allowed. Compiles those units only."""
    units = build_units(scenario)
    chosen = [units[int(u)] for u in unit_indices]
    pools = build_pools(scenario)
    sites = sorted(scenario.sites, key=lambda s: s.id)
    if not chosen:
        return np.zeros((0, len(pools)), np.uint16)
    return _pair_arrays(chosen, pools, sites, _Context(scenario))[1]


def pool_rule_bits(scenario: Scenario) -> np.ndarray:
    """uint16[P]: the mask bits that exclude a pool for every unit (cooling type and
    rack density: the site cannot host the pool's racks)."""
    ctx = _Context(scenario)
    return np.array(
        [_pool_reasons(site, pool, ctx) for _, site, pool in build_pools(scenario)], np.uint16
    )


def reason_counts(reason_up: np.ndarray) -> np.ndarray:
    """int32[U, NUM_REASONS]: pools each `REASONS` bit excludes, per unit."""
    return (
        np.stack([((reason_up & bit) != 0).sum(axis=1) for bit in REASONS], axis=1)
        .astype(np.int32)
        .reshape(reason_up.shape[0], NUM_REASONS)
    )


def _pool_reasons(site: Site, pool: Pool, ctx: _Context) -> int:
    acc = ctx.catalog[pool.accelerator]
    bits = 0
    if not site.checks_racks:
        return bits
    if COOLING_RANK[acc.cooling] > COOLING_RANK[site.cooling.type]:
        bits |= R_COOLING
    rack_kw = ctx.node_kw_per_gpu(pool) * pool.gpus_per_node * pool.nodes_per_rack
    if rack_kw > site.cooling.max_rack_density_kw + 1e-9:
        bits |= R_DENSITY
    return bits


def _pair_arrays(units, pools, sites, ctx: _Context):
    """Coefficients and mask bits of every (unit, pool) pair, vectorised over pairs.

    Per-unit and per-pool facts are gathered into vectors first (Python loops over units
    and over pools, never over pairs); every formula of the module docstring is then one
    NumPy expression on [U, P] arrays.
    """
    n_u, n_p = len(units), len(pools)
    catalog = ctx.catalog
    acc_ids = sorted(catalog)
    acc_of = {a: i for i, a in enumerate(acc_ids)}
    site_of = {s.id: i for i, s in enumerate(sites)}
    # per pool
    a_p = np.array([acc_of[pl.accelerator] for _, _, pl in pools], dtype=int)
    s_p = np.array([site_of[st.id] for _, st, _ in pools], dtype=int)
    nkw_p = np.array([ctx.node_kw_per_gpu(pl) for _, _, pl in pools])
    price_p = np.array([pl.cost_usd_per_gpu_h for _, _, pl in pools])
    spot_p = np.array(
        [
            np.nan if pl.spot_cost_usd_per_gpu_h is None else pl.spot_cost_usd_per_gpu_h
            for _, _, pl in pools
        ]
    )
    cap_gpus_p = np.array([pl.gpus for _, _, pl in pools], dtype=float)
    mem_p = np.array([catalog[pl.accelerator].memory_gb for _, _, pl in pools])
    tflops_p = np.array(
        [
            np.nan
            if catalog[pl.accelerator].bf16_tflops is None
            else catalog[pl.accelerator].bf16_tflops
            for _, _, pl in pools
        ]
    )
    idle_p = np.array([catalog[pl.accelerator].idle_power_fraction for _, _, pl in pools])
    pool_bits = np.array([_pool_reasons(st, pl, ctx) for _, st, pl in pools], dtype=np.uint16)
    pue_p = np.array([st.power.pue for _, st, _ in pools])
    kwh_price_p = np.array([st.power.price_usd_per_kwh for _, st, _ in pools])
    grid_p = np.array([st.power.carbon_g_per_kwh for _, st, _ in pools])
    wue_p = np.array([st.cooling.wue_l_per_kwh for _, st, _ in pools])
    it_cap_p = np.array([st.it_cap_kw for _, st, _ in pools])
    # per unit
    f = _unit_facts(units, acc_ids, sites, ctx)
    # masks that do not depend on sizes
    bits = np.zeros((n_u, n_p), dtype=np.uint16)
    bits |= np.where(~f["accepts_ua"][:, a_p], R_ACCEL, 0).astype(np.uint16)
    bits |= np.where(f["min_mem_u"][:, None] > mem_p[None, :], R_MEMORY, 0).astype(np.uint16)
    bits |= np.where(~f["country_ok_us"][:, s_p], R_RESIDENCY, 0).astype(np.uint16)
    bits |= np.where(~f["pin_ok_us"][:, s_p], R_PIN, 0).astype(np.uint16)
    bits |= np.where(f["excluded_us"][:, s_p], R_EXCLUDE, 0).astype(np.uint16)
    bits |= pool_bits[None, :]
    train = f["train_u"][:, None]
    # training: speed, hours, deadline, egress
    ref = f["ref_tflops_u"][:, None]
    known = np.isfinite(ref) & np.isfinite(tflops_p)[None, :]
    speed = np.where(
        train & known, ref / np.where(np.isfinite(tflops_p), tflops_p, 1.0)[None, :], 1.0
    )
    hours = np.where(train, f["hours_u"][:, None] * speed, 0.0)
    late = train & (hours > f["deadline_u"][:, None] + 1e-9)
    bits |= np.where(late, R_DEADLINE, 0).astype(np.uint16)
    moved = train & (f["data_site_u"][:, None] >= 0) & (f["data_site_u"][:, None] != s_p[None, :])
    egress = np.where(moved, f["egress_usd_u"][:, None], 0.0)
    # inference: replicas and load
    rps = f["rps_ua"][:, a_p]
    served = rps > 0
    share = f["share_u"][:, None]
    reps = np.where(
        ~train & served, np.maximum(1.0, np.ceil(share / np.where(served, rps, 1.0) - 1e-9)), 0.0
    )
    latency = np.where(~train, f["rtt_us"][:, s_p], 0.0)
    for u in np.flatnonzero(f["tokens_u"]):
        _size_by_tokens(units[u], u, reps, bits, latency, a_p, mem_p, acc_ids)
    gpus = np.where(train, f["gpus_u"][:, None], reps * f["gpr_ua"][:, a_p])
    node_tables = pair_node_tables(f, pools, a_p, reps, train)
    if node_tables is not None:
        bits |= np.where(node_tables.pop("no_node"), R_NODE, 0).astype(np.uint16)
        node_tables["mig"] = node_tables["mig"].astype(float)
    normal = f["normal_u"][:, None]  # demand one copy carries in normal operation
    util = np.where(
        train,
        f["util_u"][:, None],
        np.where(served, np.minimum(1.0, normal / np.where(served, reps * rps, 1.0)), 0.0),
    )
    bits |= np.where(~train & (latency > f["slo_u"][:, None] + 1e-9), R_LATENCY, 0).astype(
        np.uint16
    )
    # power, money, carbon, water
    it_kw = gpus * nkw_p[None, :]
    mean_kw = it_kw * (idle_p + (1.0 - idle_p) * util)
    too_big = (gpus > cap_gpus_p[None, :]) | (it_kw > it_cap_p[None, :] + 1e-9)
    if ctx.size_rule:
        bits |= np.where(too_big, R_SIZE, 0).astype(np.uint16)
    spot_ok = f["spot_u"][:, None] & np.isfinite(spot_p)[None, :]
    price = np.where(
        spot_ok,
        np.minimum(price_p[None, :], np.where(np.isfinite(spot_p), spot_p, np.inf)[None, :]),
        price_p[None, :],
    )
    energy_kw = speed * mean_kw * pue_p[None, :]
    arrays = {
        "gpus": gpus,
        "it_kw": it_kw,
        "facility_kw": it_kw * pue_p[None, :],
        "water": speed * mean_kw * wue_p[None, :],
        "cost": speed * gpus * price + energy_kw * kwh_price_p[None, :] + egress,
        "carbon": energy_kw * grid_p[None, :] / 1000.0,
        "latency": latency,
        "hours": hours,
        "mean_kw": mean_kw,
        "gpu_usd_per_h": gpus * price,
        **(node_tables or {}),
    }
    # a pair needing more replicas than int32 counts is far larger than any pool (R_SIZE)
    return arrays, bits, np.minimum(reps, MAX_REPLICAS).astype(np.int32)


def _unit_facts(units, acc_ids, sites, ctx: _Context) -> dict[str, np.ndarray]:
    """Per-unit vectors (and unit x accelerator / unit x site tables) for `_pair_arrays`."""
    n_u, n_a, n_s = len(units), len(acc_ids), len(sites)
    catalog = ctx.catalog
    f = {
        "train_u": np.zeros(n_u, bool),
        "accepts_ua": np.zeros((n_u, n_a), bool),
        "rps_ua": np.zeros((n_u, n_a)),
        "gpr_ua": np.zeros((n_u, n_a)),
        "min_mem_u": np.full(n_u, -np.inf),
        "country_ok_us": np.ones((n_u, n_s), bool),
        "pin_ok_us": np.ones((n_u, n_s), bool),
        "excluded_us": np.zeros((n_u, n_s), bool),
        "ref_tflops_u": np.full(n_u, np.nan),
        "hours_u": np.zeros(n_u),
        "deadline_u": np.full(n_u, np.inf),
        "data_site_u": np.full(n_u, -1),
        "egress_usd_u": np.zeros(n_u),
        "share_u": np.zeros(n_u),
        "normal_u": np.zeros(n_u),
        "gpus_u": np.zeros(n_u),
        "util_u": np.zeros(n_u),
        "slo_u": np.full(n_u, np.inf),
        "spot_u": np.zeros(n_u, bool),
        "rtt_us": np.zeros((n_u, n_s)),
        "tokens_u": np.zeros(n_u, bool),
        "mig_ua": np.full((n_u, n_a), -1),  # MIG type of a replica (-1: whole GPUs)
        "pod_gpus_u": np.zeros(n_u),  # training: GPUs per pod (0: the pool's default)
        "pod_cpu_u": np.zeros(n_u),
        "pod_mem_u": np.zeros(n_u),
    }
    site_ids = [s.id for s in sites]
    countries = np.array([s.location.country for s in sites])
    rtt_cache: dict[str, np.ndarray] = {}
    for u, (unit, w) in enumerate(units):
        if w.min_gpu_memory_gb is not None:
            f["min_mem_u"][u] = w.min_gpu_memory_gb
        if w.residency is not None:
            f["country_ok_us"][u] = np.isin(countries, w.residency)
        if w.pin_sites is not None:
            f["pin_ok_us"][u] = np.isin(site_ids, w.pin_sites)
        f["excluded_us"][u] = np.isin(site_ids, w.exclude_sites)
        f["spot_u"][u] = w.spot_ok
        if w.pod is not None:
            f["pod_gpus_u"][u] = w.pod.gpus or 0
            f["pod_cpu_u"][u] = w.pod.cpu or 0.0
            f["pod_mem_u"][u] = w.pod.memory_gb or 0.0
        if isinstance(w, Training):
            f["train_u"][u] = True
            f["accepts_ua"][u] = (
                True if w.accelerators is None else np.isin(acc_ids, w.accelerators)
            )
            f["gpus_u"][u], f["util_u"][u], f["hours_u"][u] = w.gpus, w.utilization, w.hours
            if w.accelerators:
                ref = catalog[w.accelerators[0]].bf16_tflops
                f["ref_tflops_u"][u] = np.nan if ref is None else ref
            if w.deadline_hours is not None:
                f["deadline_u"][u] = w.deadline_hours
            if w.dataset is not None:
                f["data_site_u"][u] = site_ids.index(w.dataset.site)
                # moved once: per hour of the reference run, like every training cost here
                src = ctx.sites[w.dataset.site]
                f["egress_usd_u"][u] = src.egress_usd_per_gb * w.dataset.size_gb / w.hours
            continue
        for a, acc in enumerate(acc_ids):
            serving = w.serving.get(acc)
            if serving is not None:
                f["rps_ua"][u, a] = serving.rps_per_replica
                f["gpr_ua"][u, a] = serving.gpus_per_replica
                f["accepts_ua"][u, a] = True
                if serving.mig is not None:  # its share of the GPU: compute slices / 7
                    t = profile_names(acc).get(serving.mig)
                    f["accepts_ua"][u, a] = t is not None  # the type has no such profile
                    if t is not None:
                        f["mig_ua"][u, a] = t
                        f["gpr_ua"][u, a] = MIG_TYPES[t].compute / 7.0
        f["share_u"][u] = unit.demand_rps
        f["normal_u"][u] = unit.demand_rps * (unit.copies - _failures(w)) / unit.copies
        f["slo_u"][u] = w.latency_slo_ms
        f["tokens_u"][u] = w.tokens is not None
        if unit.region not in rtt_cache:
            rtt_cache[unit.region] = np.array([ctx.rtt_ms(s, unit.region) for s in sites])
        f["rtt_us"][u] = rtt_cache[unit.region]
    return f


class TokenSizing(NamedTuple):
    """Token sizing of one (service unit, pool) pair (docs/serving.md).

    replicas: the fewest replicas that carry the tokens at the burst rate, hold the KV
      cache of the concurrent sequences and meet the TTFT SLO (0 where masked).
    ttft_ms: RTT + queueing + p95 prefill at those replicas, ms (inf where masked).
    bits: R_MEMORY (a replica cannot hold one p95 sequence beside the weights) or R_TTFT
      (no replica count meets the TTFT SLO), else 0.
    prefill_share: the part of a replica's busy time spent on prefill, (0, 1).
    """

    replicas: int
    ttft_ms: float
    bits: int
    prefill_share: float


def token_sizing(w: Inference, acc: str, memory_gb: float, share_rps: float, rtt_ms: float):
    """Sizes one copy of a token-served service on one accelerator type (docs/serving.md).

    Args:
      w: the service (its `tokens` and `serving[acc]` hold every figure, filled from the
        default table when the scenario was validated).
      acc: accelerator id; memory_gb: its memory per GPU, GB.
      share_rps: requests/s the copy must carry alone (before the burst factor).
      rtt_ms: network RTT from the pool's site to the copy's region, ms.

    Returns:
      TokenSizing.
    """
    t, sv = w.tokens, w.serving[acc]
    assert t is not None and t.kv_cache_bytes_per_token is not None and t.weights_gb is not None
    assert sv.prefill_tokens_per_s and sv.decode_tokens_per_s and sv.decode_batch
    lam = t.burst_factor * share_rps
    prompt, output = t.prompt_tokens, t.output_tokens
    s_pre = prompt.mean_tokens / sv.prefill_tokens_per_s
    s_dec = output.mean_tokens / sv.decode_tokens_per_s
    share = s_pre / (s_pre + s_dec)
    seq_bytes = (prompt.p95_tokens + output.p95_tokens) * t.kv_cache_bytes_per_token
    room = (sv.gpus_per_replica * memory_gb * GPU_MEMORY_FRACTION - t.weights_gb) * 1e9
    if room < seq_bytes:
        return TokenSizing(0, math.inf, R_MEMORY, share)
    assert sv.rps_per_replica is not None
    n_rps = math.ceil(share_rps / sv.rps_per_replica - 1e-9)
    n_tok = math.ceil(lam * (s_pre + s_dec) - 1e-9)
    # Little's law: sequences in flight = rate x mean time in a replica (prefill, then
    # the output at decode / batch tokens/s each), each holding a p95 context's KV cache
    in_flight = lam * (s_pre + output.mean_tokens * sv.decode_batch / sv.decode_tokens_per_s)
    n_mem = math.ceil(in_flight * seq_bytes / room - 1e-9)
    low = max(1, n_rps, n_tok, n_mem)
    if low > MAX_TTFT_REPLICAS:  # beyond any pool; and M/M/n at that n is not computed
        return TokenSizing(0, math.inf, R_TTFT, share)
    p95_s = prompt.p95_tokens / sv.prefill_tokens_per_s

    def ttft(n: int) -> float:
        return rtt_ms + 1000.0 * _queue_and_prefill_s(n, lam, s_pre, s_dec, p95_s)

    slo = t.ttft_slo_ms
    if ttft(low) <= slo:
        return TokenSizing(low, ttft(low), 0, share)
    if rtt_ms + 1000.0 * p95_s >= slo:  # the limit of many replicas: no wait, no decode
        return TokenSizing(0, math.inf, R_TTFT, share)
    bad, good = low, low * 2
    while ttft(good) > slo:
        bad, good = good, good * 2
        if good > MAX_TTFT_REPLICAS:
            return TokenSizing(0, math.inf, R_TTFT, share)
    while good - bad > 1:  # TTFT falls as replicas are added
        mid = (bad + good) // 2
        bad, good = (bad, mid) if ttft(mid) <= slo else (mid, good)
    return TokenSizing(good, ttft(good), 0, share)


def _queue_and_prefill_s(n: int, lam: float, s_pre: float, s_dec: float, p95_s: float) -> float:
    """Queueing wait + p95 prefill, s, with n replicas at lam requests/s: decode takes
    rho_d = lam s_dec / n of each replica's time, prefill runs in the rest (slowed by
    1 / (1 - rho_d)), and requests queue for prefill as in M/M/n (Erlang C)."""
    rho_d = lam * s_dec / n
    if rho_d >= 1.0:
        return math.inf
    service = s_pre / (1.0 - rho_d)
    load = lam * service
    if load >= n:
        return math.inf
    return _erlang_c(n, load) * service / (n - load) + p95_s / (1.0 - rho_d)


def _size_by_tokens(unit_w, u, reps, bits, latency, a_p, mem_p, acc_ids) -> None:
    """Replaces the rps-based replicas of token-served unit u (row u of `reps`) by token
    sizing on every pool that serves it, and sets R_MEMORY / R_TTFT where it must."""
    unit, w = unit_w
    for p in np.flatnonzero((bits[u] & R_ACCEL) == 0):
        acc = acc_ids[a_p[p]]
        sized = token_sizing(w, acc, float(mem_p[p]), unit.demand_rps, float(latency[u, p]))
        reps[u, p] = max(1, sized.replicas)
        bits[u, p] |= sized.bits


def _failures(w: Inference) -> int:
    return w.redundancy.failures


def pair_objective(scenario: Scenario, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """cost + priced carbon + priced water of every pair, USD/h."""
    obj = scenario.objective
    return (
        arrays["cost"]
        + obj.carbon_price_usd_per_t * arrays["carbon"] / 1000.0
        + obj.water_price_usd_per_m3 * arrays["water"] / 1000.0
    )


def unit_fields(units) -> dict[str, np.ndarray]:
    """Per-unit fields: the value lost unplaced (USD/h) and must-place."""
    n_u = len(units)
    value_u = np.zeros(n_u)
    must_u = np.zeros(n_u, dtype=bool)
    for u, (unit, w) in enumerate(units):
        must_u[u] = w.must_place
        if w.value_usd_per_h is not None:
            value_u[u] = w.value_usd_per_h * _value_share(unit, w)
    return {"unplaced_usd_per_h_u": value_u, "must_place_u": must_u}


def capacity_rows(scenario: Scenario, pools, sites, pool_site_p: np.ndarray) -> Rows:
    """Every capacity of the scenario, after headroom (`max_utilization`), as rows."""
    obj = scenario.objective
    head = obj.max_utilization
    inf = np.inf
    site_caps = np.stack(
        [
            np.array([s.it_cap_kw for s in sites], float) * head,
            np.array([s.power.grid_cap_kw if s.power.grid_cap_kw else inf for s in sites], float)
            * head,
            np.array([s.heat_cap_kw for s in sites], float) * head,
            np.array(
                [
                    s.cooling.water_cap_l_per_day / 24.0 if s.cooling.water_cap_l_per_day else inf
                    for s in sites
                ],
                float,
            )
            * head,
        ],
        axis=1,
    )
    return standard_rows(
        pool_site_p,
        np.floor(np.array([pl.gpus for _, _, pl in pools], dtype=float) * head + 1e-9),
        site_caps,
        float(obj.budget_usd_per_h or inf),
        float(obj.carbon_cap_kg_per_h or inf),
    )


def _value_share(unit: Unit, w: Training | Inference) -> float:
    """Fraction of the workload's value this unit carries (demand share / copies)."""
    if isinstance(w, Training):
        return 1.0
    total = sum(w.demand_rps.values())
    return w.demand_rps[unit.region] / total / unit.copies


def _groups(units, pools, sites) -> tuple[np.ndarray, np.ndarray]:
    """Redundancy groups: the copies of one (workload, region) with copies > 1 (in a
    timed problem, of one (workload, region, period, demand share))."""
    group_u = np.full(len(units), -1, dtype=np.int32)
    keys: dict[tuple[str, str | None, int, int], int] = {}
    spreads: list[str] = []
    for u, (unit, w) in enumerate(units):
        if unit.copies > 1:
            g = keys.setdefault((unit.workload, unit.region, unit.period, unit.part), len(keys))
            if g == len(spreads):
                spreads.append(w.redundancy.spread)
            group_u[u] = g
    domains = {s.id: s.domain for s in sites}
    domain_ids = {d: i for i, d in enumerate(sorted(set(domains.values())))}
    site_ids = {s.id: i for i, s in enumerate(sites)}
    key_gp = np.zeros((len(spreads), len(pools)), dtype=np.int32)
    for g, spread in enumerate(spreads):
        for p, (info, _, _) in enumerate(pools):
            key_gp[g, p] = (
                site_ids[info.site] if spread == "site" else domain_ids[domains[info.site]]
            )
    return group_u, key_gp
