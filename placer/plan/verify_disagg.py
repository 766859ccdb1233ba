"""verify of prefill/decode disaggregated placements (docs/serving.md), re-derived from
the Scenario with this module's own arithmetic (it imports nothing of compile).

A placement with `decode_pool` runs its prefill replicas (`replicas`) on `pool` and its
decode replicas (`decode_replicas`) on `decode_pool`, at the same site. Checked: the
service allows disaggregation; the decode pool exists at the site, serves the model on
whole GPUs, has no node shapes and passes the site's cooling and rack-density rules;
"memory" (a p95 prompt on a prefill replica, a p95 sequence on a decode replica, beside
the weights), "tokens" (fewer prefill replicas than the burst load needs, or fewer
decode replicas than the decode tokens and KV cache need), "ttft" (RTT + M/M/n prefill
wait + p95 prefill + p95 KV transfer at the plan's prefill replicas over the SLO);
replica and GPU counts as the scenario asks; power, cost, carbon and water from each
phase's own pool, plus the KV transfer cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from placer.model.site import Pool
from placer.model.workload import Inference
from placer.plan.plan import Placement
from placer.plan.verify_figures import REL, Violation, latency_violation
from placer.plan.verify_figures import compare as _compare

_MEM_FRACTION = 0.9  # the serving engine's share of GPU memory (docs/serving.md)
_COOL = {"air": 0, "liquid": 1, "immersion": 2}
#: Placement fields only a disaggregated placement states.
DISAGG_FIELDS = (
    "decode_pool",
    "decode_accelerator",
    "decode_replicas",
    "decode_gpus",
    "kv_transfer_usd_per_h",
)


@dataclass
class TokenFigures:
    """A token-served placement, recomputed (docs/serving.md): TTFT at its replicas, ms;
    prompt and output tokens/s served in normal operation; the prefill share of its
    cost (how it splits between prompt and output tokens)."""

    ttft_ms: float
    prompt_tokens_per_s: float
    output_tokens_per_s: float
    prefill_share: float


@dataclass
class PairNeed:
    """What a disaggregated copy needs, recomputed: prefill and decode replicas (0 where
    no count meets the TTFT SLO), whether both phases fit in memory, the KV transfer
    cost (USD/h) and a p95 prompt's fixed TTFT part (p95 prefill + KV transfer, s)."""

    fits: bool
    prefill_base: int
    prefill: int
    decode: int
    kv_usd_per_h: float
    fixed_s: float


def pair_need(w: Inference, acc1, acc2, share: float, normal: float, rtt: float) -> PairNeed:
    """Replicas of one disaggregated copy (prefill on accelerator acc1, decode on acc2,
    catalog entries), at share requests/s alone (normal: in normal operation)."""
    t = w.tokens
    assert t is not None and t.disaggregation is not None
    assert t.weights_gb is not None and t.kv_cache_bytes_per_token is not None
    sv1, sv2 = w.serving[acc1.id], w.serving[acc2.id]
    kv = t.kv_cache_bytes_per_token
    lam = t.burst_factor * share
    p_mean, o_mean = t.prompt_tokens.mean_tokens, t.output_tokens.mean_tokens
    p95, o95 = t.prompt_tokens.p95_tokens, t.output_tokens.p95_tokens
    kv_usd = normal * 3600.0 * p_mean * kv / 1e9 * t.disaggregation.kv_transfer_usd_per_gb
    free1 = sv1.gpus_per_replica * acc1.memory_gb * 1e9 * _MEM_FRACTION - t.weights_gb * 1e9
    free2 = sv2.gpus_per_replica * acc2.memory_gb * 1e9 * _MEM_FRACTION - t.weights_gb * 1e9
    seq = (p95 + o95) * kv
    fixed_s = p95 / sv1.prefill_tokens_per_s + p95 * kv * 8.0 / (
        t.disaggregation.kv_link_gbps * 1e9
    )
    if free1 < p95 * kv or free2 < seq:
        return PairNeed(False, 1, 0, 1, kv_usd, fixed_s)
    live = lam * o_mean / (sv2.decode_tokens_per_s / sv2.decode_batch)  # sequences decoding
    decode = max(
        1,
        math.ceil(lam * o_mean / sv2.decode_tokens_per_s - 1e-9),
        math.ceil(live * seq / free2 - 1e-9),
    )
    base = max(1, math.ceil(lam * p_mean / sv1.prefill_tokens_per_s - 1e-9))
    slo = t.ttft_slo_ms
    if rtt + 1000.0 * fixed_s >= slo or base > 1 << 24:  # or beyond the search's limit
        return PairNeed(True, base, 0, decode, kv_usd, fixed_s)

    def ttft(n: int) -> float:
        return pair_ttft_ms(w, acc1.id, share, rtt, n, fixed_s)

    lo, hi = base - 1, base
    while ttft(hi) > slo:
        lo, hi = hi, 2 * hi
        if hi > 1 << 24:
            return PairNeed(True, base, 0, decode, kv_usd, fixed_s)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ttft(mid) <= slo else (mid, hi)
    return PairNeed(True, base, max(hi, base), decode, kv_usd, fixed_s)


def pair_ttft_ms(w: Inference, acc1: str, share: float, rtt: float, n: int, fixed_s: float):
    """RTT + M/M/n wait for one of n prefill replicas at the burst rate + fixed_s, ms."""
    t = w.tokens
    assert t is not None
    service = t.prompt_tokens.mean_tokens / w.serving[acc1].prefill_tokens_per_s
    offered = t.burst_factor * share * service
    if n < 1 or offered >= n:
        return math.inf
    blocking = 1.0  # Erlang B by its recursion, then Erlang C
    for k in range(1, n + 1):
        blocking = offered * blocking / (k + offered * blocking)
    waits = blocking / (1.0 - offered / n * (1.0 - blocking))
    return rtt + 1000.0 * (waits * service / (n - offered) + fixed_s)


class DisaggChecks:
    """The disaggregation checks of the verifier (a mixin of `Verifier`)."""

    def _disagg_need(self, w: Inference, pl: Placement, path: str, site, pool, node_kw, out):
        """The need of a disaggregated placement (None where it cannot be sized)."""
        t = w.tokens
        if t is None or t.disaggregation is None:
            out.append(
                Violation(
                    "disaggregation",
                    pl.unit,
                    f"{path}.decode_pool: {w.id} does not allow disaggregation "
                    "(tokens.disaggregation)",
                )
            )
            return None
        second = next((q for q in site.pools if (q.id or q.accelerator) == pl.decode_pool), None)
        if second is None:
            out.append(
                Violation(
                    "unknown_pool",
                    pl.unit,
                    f"{path}.decode_pool: no pool {pl.decode_pool} at {site.id}",
                )
            )
            return None
        why = self._pair_pool_problem(w, pool, site) or self._pair_pool_problem(w, second, site)
        if why:
            out.append(Violation("disaggregation", pl.unit, f"{path}: {why}"))
            return None
        _compare(
            out,
            pl.unit,
            path,
            "decode_accelerator",
            pl.decode_accelerator,
            second.accelerator,
            "accelerator",
        )
        acc1, acc2 = self.catalog[pool.accelerator], self.catalog[second.accelerator]
        k = w.redundancy.copies
        share = w.demand_rps[pl.region] / (k - w.redundancy.failures)
        normal = w.demand_rps[pl.region] / k
        rtt = self._rtt(site, pl.region)
        need = pair_need(w, acc1, acc2, share, normal, rtt)
        said = max(1, pl.replicas)
        ttft = pair_ttft_ms(w, acc1.id, share, rtt, said, need.fixed_s)
        self._pair_violations(w, pl, need, ttft, out)
        if found := latency_violation(pl.unit, pl.region, rtt, w.latency_slo_ms):
            out.append(found)
        n_p = need.prefill or need.prefill_base
        sv1, sv2 = w.serving[acc1.id], w.serving[acc2.id]
        util1 = min(1.0, normal * t.prompt_tokens.mean_tokens / sv1.prefill_tokens_per_s / n_p)
        util2 = min(
            1.0, normal * t.output_tokens.mean_tokens / sv2.decode_tokens_per_s / need.decode
        )
        g1, g2 = n_p * sv1.gpus_per_replica, need.decode * sv2.gpus_per_replica
        one = self._need(g1, util1, 1.0, w, site, pool, node_kw)
        two = self._need(g2, util2, 1.0, w, site, second, self._node_kw(second))
        one.gpus += two.gpus
        one.it_kw += two.it_kw
        one.facility_kw += two.facility_kw
        one.water_l_per_h += two.water_l_per_h
        one.cost += two.cost + need.kv_usd_per_h
        one.carbon += two.carbon
        one.latency_ms, one.replicas = rtt, n_p
        one.decode_gpus, one.decode_pool = g2, second.key
        one.serving = self._pair_tokens(w, pl, ttft, normal, g1, g2, pool, second)
        _compare(out, pl.unit, path, "decode_replicas", pl.decode_replicas, need.decode, "replicas")
        _compare(out, pl.unit, path, "decode_gpus", pl.decode_gpus, g2, "gpus")
        if pl.kv_transfer_usd_per_h is not None:
            _compare(
                out,
                pl.unit,
                path,
                "kv_transfer_usd_per_h",
                pl.kv_transfer_usd_per_h,
                need.kv_usd_per_h,
            )
        return one

    def _pair_pool_problem(self, w: Inference, pool: Pool, site) -> str | None:
        """Why a pool cannot hold a phase of a disaggregated service, or None."""
        sv = w.serving.get(pool.accelerator)
        if sv is None:
            return f"{pool.key} ({pool.accelerator}) does not serve {w.id}"
        if sv.mig is not None or pool.nodes is not None:
            return f"{pool.key}: MIG replicas and node shapes are not disaggregated"
        acc = self.catalog[pool.accelerator]
        if site.tier != "cloud":
            if _COOL[acc.cooling] > _COOL[site.cooling.type]:
                return f"{acc.id} needs {acc.cooling}, {site.id} has {site.cooling.type}"
            rack_kw = self._node_kw(pool) * pool.nodes_per_rack
            if rack_kw > site.cooling.max_rack_density_kw * (1 + REL):
                return f"{pool.key}: {rack_kw:.1f} kW racks > {site.cooling.max_rack_density_kw} kW"
        if w.min_gpu_memory_gb is not None and acc.memory_gb < w.min_gpu_memory_gb:
            return f"{pool.key}: {acc.memory_gb} GB < {w.min_gpu_memory_gb} GB"
        return None

    def _pair_violations(self, w: Inference, pl: Placement, need: PairNeed, ttft, out) -> None:
        t = w.tokens
        assert t is not None
        if not need.fits:
            out.append(
                Violation(
                    "memory",
                    pl.unit,
                    "a prefill replica cannot hold a p95 prompt, or "
                    "a decode replica a p95 sequence, beside the weights",
                )
            )
            return
        if pl.replicas < need.prefill_base:
            out.append(
                Violation(
                    "tokens",
                    pl.unit,
                    f"{pl.replicas} prefill replicas < "
                    f"{need.prefill_base} at {t.burst_factor:g} x the demand",
                    need.prefill_base - pl.replicas,
                )
            )
        if (pl.decode_replicas or 0) < need.decode:
            out.append(
                Violation(
                    "tokens",
                    pl.unit,
                    f"{pl.decode_replicas} decode replicas < "
                    f"{need.decode} that the decode tokens and KV cache need",
                    need.decode - (pl.decode_replicas or 0),
                )
            )
        slo = t.ttft_slo_ms
        if ttft > slo * (1 + REL):
            out.append(
                Violation(
                    "ttft",
                    pl.unit,
                    f"TTFT {ttft:.1f} ms with {pl.replicas} prefill replicas > SLO {slo:g} ms"
                    if math.isfinite(ttft)
                    else f"TTFT unbounded: {pl.replicas} prefill replicas saturate",
                    ttft - slo if math.isfinite(ttft) else 0.0,
                )
            )

    def _pair_tokens(self, w: Inference, pl, ttft: float, normal: float, g1, g2, p1, p2):
        """The placement's token figures: its cost splits between prompt and output
        tokens by the list GPU-hour prices of its prefill and decode GPUs."""
        t = w.tokens
        assert t is not None
        usd1, usd2 = g1 * p1.cost_usd_per_gpu_h, g2 * p2.cost_usd_per_gpu_h
        return TokenFigures(
            ttft_ms=ttft,
            prompt_tokens_per_s=normal * t.prompt_tokens.mean_tokens,
            output_tokens_per_s=normal * t.output_tokens.mean_tokens,
            prefill_share=usd1 / (usd1 + usd2) if usd1 + usd2 > 0 else 0.5,
        )
