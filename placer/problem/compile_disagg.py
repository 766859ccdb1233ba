"""Prefill/decode disaggregation of token-served services (docs/serving.md).

A service whose `tokens.disaggregation` is set may run its prefill phase on one pool
and its decode phase on another pool of the same site (or the same pool, in separate
replicas), the KV cache of each prompt sent between them over the site's network.
Compile adds, after the P pool options, one option per (prefill pool p1, decode pool
p2) pair at one site that some such unit may use (p1 == p2 allowed); its pool is p1.

Sizing of one copy (share `λ` requests/s alone, burst `B`, `λb = B λ`) on a pair
(prefill accelerator a1, decode accelerator a2):

  s_pre  = P̄ / ptps1          s_dec = Ō / dtps2          replica-seconds per request
  prefill memory: (g1 M1 f - W) 1e9 >= P95 k              (a p95 prompt fits)
  kv_s   = P95 k 8 / (kv_link_gbps 1e9)                   KV transfer of a p95 prompt, s
  TTFT(n) = RTT + 1000 (ErlangC(n, λb s_pre) s_pre / (n - λb s_pre) + P95 / ptps1 + kv_s)
  n_p    = the fewest n >= max(1, ceil(λb s_pre)) with TTFT(n) <= ttft_slo_ms
  decode memory: room2 = (g2 M2 f - W) 1e9 >= seq = (P95 + O95) k
  n_d    = max(1, ceil(λb s_dec), ceil(λb Ō b2 / dtps2 x seq / room2))
  KV transfer USD/h = λ_normal x 3600 x P̄ x k / 1e9 x kv_transfer_usd_per_gb

GPUs n_p g1 on p1 and n_d g2 on p2; power, cost, carbon and water are each phase's on
its own pool (utilisation λ_normal s_pre / n_p and λ_normal s_dec / n_d, capped at 1),
plus the KV transfer cost. Pools with node shapes get no pair options.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from placer.model.workload import Inference
from placer.problem.form import R_MEMORY, R_TTFT
from placer.problem.queueing import GPU_MEMORY_FRACTION, MAX_TTFT_REPLICAS, erlang_c

#: Tables of one pair entry (the quantity tables of `compile_static`, then the rest).
PAIR_TABLES = (
    "gpus",
    "it_kw",
    "facility_kw",
    "water",
    "cost",
    "carbon",
    "latency",
    "prefill_gpus",
    "decode_gpus",
)


class DisaggSizing(NamedTuple):
    """Sizing of one copy of a service on a (prefill, decode) accelerator pair.

    prefill_replicas, decode_replicas: replica counts (0 where masked).
    ttft_ms: RTT + prefill queueing + p95 prefill + p95 KV transfer, ms (inf where masked).
    bits: R_MEMORY (a p95 prompt on a prefill replica, or a p95 sequence on a decode
      replica, does not fit beside the weights) or R_TTFT, else 0.
    kv_transfer_usd_per_h: the KV cache moved in normal operation, priced, USD/h.
    """

    prefill_replicas: int
    decode_replicas: int
    ttft_ms: float
    bits: int
    kv_transfer_usd_per_h: float


def disagg_sizing(
    w: Inference,
    prefill_acc: str,
    prefill_memory_gb: float,
    decode_acc: str,
    decode_memory_gb: float,
    share_rps: float,
    normal_rps: float,
    rtt_ms: float,
) -> DisaggSizing:
    """Sizes one copy of a disaggregated service (module docstring).

    Args:
      w: the service (`tokens.disaggregation` set; figures filled from the table).
      prefill_acc, decode_acc: accelerator ids of the two phases.
      prefill_memory_gb, decode_memory_gb: memory per GPU of each, GB.
      share_rps: requests/s the copy must carry alone (before the burst factor).
      normal_rps: requests/s it carries in normal operation (for the KV transfer cost).
      rtt_ms: network RTT from the site to the copy's region, ms.

    Returns:
      DisaggSizing.
    """
    t, d = w.tokens, w.tokens.disaggregation if w.tokens else None
    assert t is not None and d is not None
    assert t.kv_cache_bytes_per_token is not None and t.weights_gb is not None
    sv1, sv2 = w.serving[prefill_acc], w.serving[decode_acc]
    assert sv1.prefill_tokens_per_s and sv2.decode_tokens_per_s and sv2.decode_batch
    kv = t.kv_cache_bytes_per_token
    lam = t.burst_factor * share_rps
    prompt, output = t.prompt_tokens, t.output_tokens
    kv_usd = normal_rps * 3600.0 * prompt.mean_tokens * kv / 1e9 * d.kv_transfer_usd_per_gb
    room1 = (sv1.gpus_per_replica * prefill_memory_gb * GPU_MEMORY_FRACTION - t.weights_gb) * 1e9
    room2 = (sv2.gpus_per_replica * decode_memory_gb * GPU_MEMORY_FRACTION - t.weights_gb) * 1e9
    seq = (prompt.p95_tokens + output.p95_tokens) * kv
    if room1 < prompt.p95_tokens * kv or room2 < seq:
        return DisaggSizing(0, 0, math.inf, R_MEMORY, kv_usd)
    s_pre = prompt.mean_tokens / sv1.prefill_tokens_per_s
    s_dec = output.mean_tokens / sv2.decode_tokens_per_s
    in_flight = lam * output.mean_tokens * sv2.decode_batch / sv2.decode_tokens_per_s
    n_d = max(1, math.ceil(lam * s_dec - 1e-9), math.ceil(in_flight * seq / room2 - 1e-9))
    fixed_s = prompt.p95_tokens / sv1.prefill_tokens_per_s
    fixed_s += prompt.p95_tokens * kv * 8.0 / (d.kv_link_gbps * 1e9)

    def ttft(n: int) -> float:
        load = lam * s_pre
        if load >= n:
            return math.inf
        return rtt_ms + 1000.0 * (erlang_c(n, load) * s_pre / (n - load) + fixed_s)

    slo = t.ttft_slo_ms
    low = max(1, math.ceil(lam * s_pre - 1e-9))
    if rtt_ms + 1000.0 * fixed_s >= slo or low > MAX_TTFT_REPLICAS:  # no wait at best
        return DisaggSizing(0, 0, math.inf, R_TTFT, kv_usd)
    if ttft(low) <= slo:
        return DisaggSizing(low, n_d, ttft(low), 0, kv_usd)
    bad, good = low, low * 2
    while ttft(good) > slo:
        bad, good = good, good * 2
        if good > MAX_TTFT_REPLICAS:
            return DisaggSizing(0, 0, math.inf, R_TTFT, kv_usd)
    while good - bad > 1:  # TTFT falls as prefill replicas are added
        mid = (bad + good) // 2
        bad, good = (bad, mid) if ttft(mid) <= slo else (mid, good)
    return DisaggSizing(good, n_d, ttft(good), 0, kv_usd)


class PairEntries(NamedTuple):
    """The (unit, pair option) entries of disaggregated units (n entries).

    unit_n: int64[n], the unit.   pair_n: int64[n], index into `pairs`.
    pairs: int32[m, 2], the (prefill pool, decode pool) of each pair option, sorted.
    tables: float64[n] per `PAIR_TABLES` name (GPUs, kW, L/h, USD/h, kg/h, ms).
    prefill_replicas_n, decode_replicas_n: int32[n].
    """

    unit_n: np.ndarray
    pair_n: np.ndarray
    pairs: np.ndarray
    tables: dict[str, np.ndarray]
    prefill_replicas_n: np.ndarray
    decode_replicas_n: np.ndarray


def pair_entries(units, pools, ctx, pool_bits_p: np.ndarray) -> PairEntries | None:
    """Every allowed (disaggregated unit, pair option) entry, or None when no unit of
    the scenario disaggregates.

    Args:
      units: compile's (Unit, workload) list.   pools: compile's (PoolInfo, Site, Pool).
      ctx: compile's look-ups (catalog, RTTs, node power, `size_rule`).
      pool_bits_p: uint16[P], the pool-wide mask bits (cooling, rack density).
    """
    rows: list[tuple[int, int, int, dict[str, float], int, int]] = []
    for u, (unit, w) in enumerate(units):
        t = getattr(w, "tokens", None)
        if unit.kind != "inference" or t is None or t.disaggregation is None:
            continue
        ok = [p for p in range(len(pools)) if _pool_ok(unit, w, pools[p], ctx, pool_bits_p[p])]
        for p1 in ok:
            for p2 in ok:
                if pools[p1][1].id != pools[p2][1].id:
                    continue
                entry = _entry(unit, w, pools[p1], pools[p2], p1 == p2, ctx)
                if entry is not None:
                    rows.append((u, p1, p2, *entry))
    if not any(
        getattr(getattr(w, "tokens", None), "disaggregation", None) is not None for _, w in units
    ):
        return None
    keys = sorted({(p1, p2) for _, p1, p2, *_ in rows})
    pair_of = {k: i for i, k in enumerate(keys)}
    rows.sort(key=lambda r: (r[0], pair_of[r[1], r[2]]))
    return PairEntries(
        unit_n=np.array([r[0] for r in rows], np.int64),
        pair_n=np.array([pair_of[r[1], r[2]] for r in rows], np.int64),
        pairs=np.array(keys, np.int32).reshape(len(keys), 2),
        tables={name: np.array([r[3][name] for r in rows], float) for name in PAIR_TABLES},
        prefill_replicas_n=np.array([r[4] for r in rows], np.int32),
        decode_replicas_n=np.array([r[5] for r in rows], np.int32),
    )


def _pool_ok(unit, w: Inference, pool_triple, ctx, pool_bits: int) -> bool:
    """The pool may hold either phase of the unit: serves the model (whole GPUs), no node
    shapes, its site allowed (residency, pins, exclusions, cooling, rack density) and
    within the latency SLO."""
    _, site, pool = pool_triple
    sv = w.serving.get(pool.accelerator)
    if sv is None or sv.mig is not None or pool.nodes is not None or pool_bits:
        return False
    mem = ctx.catalog[pool.accelerator].memory_gb
    if w.min_gpu_memory_gb is not None and mem < w.min_gpu_memory_gb:
        return False
    if w.residency is not None and site.location.country not in w.residency:
        return False
    if w.pin_sites is not None and site.id not in w.pin_sites:
        return False
    if site.id in w.exclude_sites:
        return False
    return ctx.rtt_ms(site, unit.region) <= w.latency_slo_ms + 1e-9


def _entry(unit, w: Inference, first, second, same: bool, ctx):
    """(tables, prefill replicas, decode replicas) of one unit on one pair, or None where
    the pair is masked (memory, TTFT, or larger than the pools or the site)."""
    (_, site, pool1), (_, _, pool2) = first, second
    acc1, acc2 = ctx.catalog[pool1.accelerator], ctx.catalog[pool2.accelerator]
    rtt = ctx.rtt_ms(site, unit.region)
    normal = unit.demand_rps * (unit.copies - w.redundancy.failures) / unit.copies
    sized = disagg_sizing(
        w, acc1.id, acc1.memory_gb, acc2.id, acc2.memory_gb, unit.demand_rps, normal, rtt
    )
    if sized.bits:
        return None
    sv1, sv2 = w.serving[acc1.id], w.serving[acc2.id]
    t = w.tokens
    gpus1 = sized.prefill_replicas * sv1.gpus_per_replica
    gpus2 = sized.decode_replicas * sv2.gpus_per_replica
    util1 = min(
        1.0,
        normal
        * t.prompt_tokens.mean_tokens
        / sv1.prefill_tokens_per_s
        / max(1, sized.prefill_replicas),
    )
    util2 = min(
        1.0,
        normal
        * t.output_tokens.mean_tokens
        / sv2.decode_tokens_per_s
        / max(1, sized.decode_replicas),
    )
    it1, it2 = gpus1 * ctx.node_kw_per_gpu(pool1), gpus2 * ctx.node_kw_per_gpu(pool2)
    if ctx.size_rule and (
        (gpus1 + gpus2 > pool1.gpus if same else gpus1 > pool1.gpus or gpus2 > pool2.gpus)
        or it1 + it2 > site.it_cap_kw + 1e-9
    ):
        return None
    mean_kw = it1 * (acc1.idle_power_fraction + (1.0 - acc1.idle_power_fraction) * util1)
    mean_kw += it2 * (acc2.idle_power_fraction + (1.0 - acc2.idle_power_fraction) * util2)
    energy_kw = mean_kw * site.power.pue
    cost = gpus1 * _price(w, pool1) + gpus2 * _price(w, pool2)
    cost += energy_kw * site.power.price_usd_per_kwh + sized.kv_transfer_usd_per_h
    tables = {
        "gpus": float(gpus1 + gpus2),
        "it_kw": it1 + it2,
        "facility_kw": (it1 + it2) * site.power.pue,
        "water": mean_kw * site.cooling.wue_l_per_kwh,
        "cost": cost,
        "carbon": energy_kw * site.power.carbon_g_per_kwh / 1000.0,
        "latency": rtt,
        "prefill_gpus": float(gpus1),
        "decode_gpus": float(gpus2),
    }
    return tables, sized.prefill_replicas, sized.decode_replicas


def _price(w: Inference, pool) -> float:
    """USD per GPU-hour: the spot price where the workload accepts it and it is lower."""
    if w.spot_ok and pool.spot_cost_usd_per_gpu_h is not None:
        return min(pool.cost_usd_per_gpu_h, pool.spot_cost_usd_per_gpu_h)
    return pool.cost_usd_per_gpu_h


class Extended(NamedTuple):
    """compile's per-slot tables and rows with the pair options added (O = P + m)."""

    option_uk: np.ndarray
    amount_quk: np.ndarray
    tables: dict[str, np.ndarray]
    replicas_uk: np.ndarray
    decode_replicas_uk: np.ndarray
    row_oj: np.ndarray
    quantity_oj: np.ndarray
    pool_o: np.ndarray
    spread_key_go: np.ndarray


def add_pair_options(
    entries: PairEntries,
    option_uk: np.ndarray,
    amount_quk: np.ndarray,
    tables: dict[str, np.ndarray],
    replicas_uk: np.ndarray,
    row_oj: np.ndarray,
    quantity_oj: np.ndarray,
    spread_key_gp: np.ndarray,
    objective_n: np.ndarray,
) -> Extended:
    """Appends the pair options (after the P pool options) to each unit's slots, and
    their terms: the prefill pool's GPU row charged the prefill GPUs and the decode
    pool's the decode GPUs (two quantities added after the existing ones; one term of
    the total GPUs when the pools are one), the site rows, the budget and the carbon cap
    as the prefill pool's option charges them.

    Args:
      entries: `pair_entries`.   option_uk, amount_quk, tables (objective, latency,
        hours), replicas_uk: compile's slot tables over the pool options.
      row_oj, quantity_oj: int32 / int8[P, J], the pool options' terms (the standard
        seven first: GPUs, IT, facility, heat, water, budget, carbon).
      spread_key_gp: int32[G, P].   objective_n: float64[n], each entry's objective, USD/h.
    """
    from placer.problem.rows import Q_GPUS

    n_u, width = option_uk.shape
    n_p, n_q = row_oj.shape[0], amount_quk.shape[0]
    q_pre, q_dec = n_q, n_q + 1
    used_u = (option_uk >= 0).sum(axis=1)
    extra_u = np.bincount(entries.unit_n, minlength=n_u)
    new_width = max(width, int((used_u + extra_u).max(initial=0)), 1)
    pad = new_width - width
    option = np.pad(option_uk, ((0, 0), (0, pad)), constant_values=-1)
    amount = np.pad(amount_quk, ((0, 2), (0, 0), (0, pad)))
    out_tables = {k: np.pad(v, ((0, 0), (0, pad))) for k, v in tables.items()}
    reps = np.pad(replicas_uk, ((0, 0), (0, pad)))
    decode = np.zeros_like(reps)
    first = np.concatenate([[0], np.cumsum(extra_u)[:-1]])
    slot = used_u[entries.unit_n] + np.arange(entries.unit_n.size) - first[entries.unit_n]
    at = (entries.unit_n, slot)
    option[at] = n_p + entries.pair_n
    for q, name in enumerate(PAIR_TABLES[:6]):
        amount[q][at] = entries.tables[name]
    amount[q_pre][at] = entries.tables["prefill_gpus"]
    amount[q_dec][at] = entries.tables["decode_gpus"]
    out_tables["objective"][at] = objective_n
    out_tables["latency"][at] = entries.tables["latency"]
    reps[at] = entries.prefill_replicas_n
    decode[at] = entries.decode_replicas_n
    n_j = max(row_oj.shape[1], 8)
    p1, p2 = entries.pairs[:, 0], entries.pairs[:, 1]
    pair_rows = np.full((p1.size, n_j), -1, np.int32)
    pair_q = np.zeros((p1.size, n_j), np.int8)
    pair_rows[:, :7], pair_q[:, :7] = row_oj[p1, :7], quantity_oj[p1, :7]
    split = p1 != p2  # the GPU term (the pool's GPU row, first) charges each phase apart
    pair_q[split, 0] = q_pre
    pair_rows[split, 7], pair_q[split, 7] = row_oj[p2[split], 0], q_dec
    assert (quantity_oj[:, 0] == Q_GPUS).all()
    widen = n_j - row_oj.shape[1]
    return Extended(
        option_uk=option,
        amount_quk=amount,
        tables=out_tables,
        replicas_uk=reps,
        decode_replicas_uk=decode,
        row_oj=np.concatenate(
            [np.pad(row_oj, ((0, 0), (0, widen)), constant_values=-1), pair_rows]
        ),
        quantity_oj=np.concatenate([np.pad(quantity_oj, ((0, 0), (0, widen))), pair_q]),
        pool_o=np.concatenate([np.arange(n_p), p1]).astype(np.int32),
        spread_key_go=np.concatenate([spread_key_gp, spread_key_gp[:, p1]], axis=1),
    )
