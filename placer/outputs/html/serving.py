"""The report's serving section: token-served placements (TTFT, tokens/s, USD per 1,000
tokens), the plan's token totals and GPU utilisation per pool and site. Empty for a plan
without token-served workloads (docs/serving.md)."""

from __future__ import annotations

from placer.outputs.html.markup import _e, _num
from placer.outputs.html.tables import _cell, _table
from placer.plan.plan import Plan


def _usd(x: float | None) -> tuple[str, float | None]:
    return ("—" if x is None else f"{x:.4g}"), x


def serving_section(plan: Plan) -> str:
    """`<section id="sec-serving">`, or "" when the plan serves no tokens."""
    t = plan.totals
    if t is None or t.prompt_tokens_per_s is None:
        return ""
    served = [p for p in plan.placements if p.ttft_ms is not None]
    placements = _table(
        "serving-table",
        [
            ("Unit", False),
            ("Pool", False),
            ("Replicas", True),
            ("TTFT ms", True),
            ("Prompt tok/s", True),
            ("Output tok/s", True),
            ("USD / 1k prompt", True),
            ("USD / 1k output", True),
            ("USD / 1k tokens", True),
        ],
        [
            [
                (p.unit, None),
                (f"{p.site}/{p.pool}" + (f" -> {p.decode_pool}" if p.decode_pool else ""), None),
                (str(p.replicas), p.replicas),
                _cell(p.ttft_ms, 0),
                _cell(p.prompt_tokens_per_s, 0),
                _cell(p.output_tokens_per_s, 0),
                _usd(p.usd_per_1k_prompt_tokens),
                _usd(p.usd_per_1k_output_tokens),
                _usd(p.usd_per_1k_tokens),
            ]
            for p in served
        ],
    )
    utilization = _table(
        "gpu-utilization-table",
        [("Site", False), ("Pool", False), ("GPUs used", True), ("Installed", True), ("Use", True)],
        [
            [
                (u.site, None),
                (u.pool or "(whole site)", None),
                (str(u.gpus_used), u.gpus_used),
                (str(u.gpus_total), u.gpus_total),
                ("—" if u.utilization is None else f"{100 * u.utilization:.0f} %", u.utilization),
            ]
            for u in plan.gpu_utilization
        ],
    )
    summary = (
        f"{_num(t.prompt_tokens_per_s, 0)} prompt and {_num(t.output_tokens_per_s, 0)} output "
        f"tokens/s served; USD per 1,000 tokens: prompt {_usd(t.usd_per_1k_prompt_tokens)[0]}, "
        f"output {_usd(t.usd_per_1k_output_tokens)[0]}, all {_usd(t.usd_per_1k_tokens)[0]}."
    )
    return (
        '<section id="sec-serving"><h2>Serving: tokens, TTFT and cost per token</h2>'
        f'<p class="lead" id="serving-summary">{_e(summary)} A placement\'s cost is split '
        "between prompt and output tokens by the prefill and decode shares of its replicas' "
        "busy time; TTFT is RTT + queueing + prefill of a p95 prompt at the burst rate "
        "(docs/serving.md).</p>"
        f"{placements}<h3>GPU utilisation (used / installed)</h3>{utilization}</section>"
    )
