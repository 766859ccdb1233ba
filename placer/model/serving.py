"""Token-level serving: what an LLM service asks for in tokens, and the default table of
per-model and per-(model, accelerator) figures (`placer/data/serving.yaml`).

An inference workload with `tokens:` is sized by tokens (docs/serving.md): its prompt
and output token distributions, the model's KV-cache bytes per token and weight memory,
and, per accelerator type of its `serving` map, a replica's prefill and decode
throughput. Figures the scenario leaves out are filled from the default table when the
scenario is validated (`fill_from_table`), so every reader (compile, verify, exports)
sees the same explicit numbers; figures the scenario gives win.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Annotated, Any

from pydantic import Field, model_validator

from placer.model.common import (
    MAX_MEMORY_GB,
    MAX_MS,
    MAX_RPS,
    MIN_RPS_PER_REPLICA,
    Id,
    StrictModel,
    ranged,
)
from placer.model.yaml_text import parse_yaml_text

#: Tokens of one prompt or one answer: the longest context windows hold ~1e7 tokens.
MAX_TOKENS = 1e8
#: Tokens/s of one replica (prefill or decode): far above any accelerator today (~1e5).
MAX_TOKENS_PER_S = 1e9
#: KV-cache bytes per token: a 405B dense model without GQA needs ~4 MB.
MAX_KV_BYTES_PER_TOKEN = 1e9
#: Default burst factor: short bursts run well above the busiest minute's mean rate; 2x
#: is the assumption (a stated default, not a measurement; give the trace's own figure).
DEFAULT_BURST_FACTOR = 2.0
#: Default KV link of one prefill replica to the decode replicas, Gb/s: one 100 GbE or
#: 100 Gb/s InfiniBand port per replica (an assumption, not a measurement: give yours).
DEFAULT_KV_LINK_GBPS = 100.0
#: Gb/s of one link: far above any network today (1.6 Tb/s ports).
MAX_LINK_GBPS = 1e6


class TokenStats(StrictModel):
    """A token-count distribution: its mean and 95th percentile, or a histogram from a
    trace (bins of [tokens, count]) from which both are read."""

    mean: float | None = ranged("Mean tokens per request.", default=None, gt=0, le=MAX_TOKENS)
    p95: float | None = ranged(
        "95th percentile of tokens per request.", default=None, gt=0, le=MAX_TOKENS
    )
    histogram: list[Annotated[list[float], Field(min_length=2, max_length=2)]] | None = Field(
        default=None,
        min_length=1,
        description="Bins [tokens, count] of a trace (instead of mean and p95): the mean is "
        "the count-weighted mean, the p95 the smallest bin value at or above 95% of counts.",
    )

    @model_validator(mode="after")
    def _check(self) -> TokenStats:
        if self.histogram is not None:
            if self.mean is not None or self.p95 is not None:
                raise ValueError("histogram: give mean and p95, or a histogram, not both")
            for tokens, count in self.histogram:
                if not (0 < tokens <= MAX_TOKENS) or not (0 <= count <= 1e15):
                    raise ValueError(
                        f"histogram: bin [{tokens}, {count}]: tokens must be in (0, 1e8] "
                        "and count in [0, 1e15]"
                    )
            if sum(c for _, c in self.histogram) <= 0:
                raise ValueError("histogram: every count is 0")
            return self
        if self.mean is None or self.p95 is None:
            raise ValueError("mean: give both mean and p95 (or a histogram)")
        if self.p95 < self.mean:
            raise ValueError(f"p95: {self.p95:g} is below the mean {self.mean:g}")
        return self

    @property
    def mean_tokens(self) -> float:
        """Mean tokens per request."""
        if self.histogram is None:
            assert self.mean is not None
            return self.mean
        total = sum(c for _, c in self.histogram)
        return sum(t * c for t, c in self.histogram) / total

    @property
    def p95_tokens(self) -> float:
        """95th percentile of tokens per request."""
        if self.histogram is None:
            assert self.p95 is not None
            return self.p95
        total = sum(c for _, c in self.histogram)
        seen = 0.0
        for tokens, count in sorted(self.histogram):
            seen += count
            if seen >= 0.95 * total - 1e-9 * total:
                return tokens
        return max(t for t, _ in self.histogram)


class Disaggregation(StrictModel):
    """Prefill/decode disaggregation allowed (docs/serving.md): the service may run its
    prefill and decode phases in separate replicas, on pools of the same site, the KV
    cache of each prompt sent from a prefill to a decode replica over the site network."""

    kv_link_gbps: float = ranged(
        "Bandwidth one prefill replica sends KV cache at, Gb/s (default 100: an "
        "assumption, one 100 Gb/s port per replica).",
        default=DEFAULT_KV_LINK_GBPS,
        gt=0,
        le=MAX_LINK_GBPS,
    )
    kv_transfer_usd_per_gb: float = ranged(
        "Price of moving 1 GB of KV cache between the pools, USD/GB (default 0: the "
        "site's own network).",
        default=0.0,
        ge=0,
        le=1e6,
    )


class Tokens(StrictModel):
    """What an LLM service asks for, in tokens (docs/serving.md)."""

    model: Id = Field(
        description="Model id: one of the default table (placer/data/serving.yaml), or "
        "your own with kv_cache_bytes_per_token and weights_gb given here."
    )
    prompt_tokens: TokenStats
    output_tokens: TokenStats
    ttft_slo_ms: float = ranged(
        "Time to first token SLO, ms: network RTT + queueing + prefill of a p95 prompt "
        "at the burst rate.",
        gt=0,
        le=MAX_MS,
    )
    burst_factor: float = ranged(
        "Peak of short bursts over the stated demand (default 2: an assumption).",
        default=DEFAULT_BURST_FACTOR,
        ge=1,
        le=1000,
    )
    kv_cache_bytes_per_token: float | None = ranged(
        "KV-cache bytes per token (all layers, K and V); default: the table's.",
        default=None,
        gt=0,
        le=MAX_KV_BYTES_PER_TOKEN,
    )
    weights_gb: float | None = ranged(
        "Weight memory of one replica, GB (all its GPUs); default: the table's.",
        default=None,
        gt=0,
        le=MAX_MEMORY_GB * 1024,
    )
    disaggregation: Disaggregation | None = Field(
        default=None,
        description="Allow prefill and decode in separate replicas on pools of one site, "
        "the KV transfer between them costed (docs/serving.md); besides the aggregated "
        "options, so the optimizer chooses.",
    )


class ModelFigures(StrictModel):
    """One model of the default table."""

    kv_cache_bytes_per_token: float = Field(gt=0)
    weights_gb: float = Field(gt=0)
    source: str = Field(min_length=1)


class ThroughputFigures(StrictModel):
    """One (model, accelerator) row of the default table: one replica's throughput."""

    model: Id
    accelerator: Id
    gpus_per_replica: int = Field(ge=1)
    prefill_tokens_per_s: float = Field(gt=0)
    decode_tokens_per_s: float = Field(gt=0)
    decode_batch: int = Field(ge=1)
    source: str = Field(min_length=1)


class ServingTable(StrictModel):
    """The default table: models, and replica throughput per (model, accelerator)."""

    models: dict[Id, ModelFigures]
    throughput: list[ThroughputFigures]

    def row(self, model: str, accelerator: str) -> ThroughputFigures | None:
        """The throughput row of a (model, accelerator) pair, if the table has one."""
        return next(
            (r for r in self.throughput if r.model == model and r.accelerator == accelerator),
            None,
        )


@functools.cache
def default_serving_table() -> ServingTable:
    """The table shipped in `placer/data/serving.yaml`."""
    text = resources.files("placer.data").joinpath("serving.yaml").read_text("utf-8")
    raw = parse_yaml_text(text, source="placer/data/serving.yaml")
    return ServingTable.model_validate(raw)


#: Serving fields a (model, accelerator) row of the table fills when left out.
_ROW_FIELDS = ("gpus_per_replica", "prefill_tokens_per_s", "decode_tokens_per_s", "decode_batch")
#: Serving fields token sizing needs on every accelerator.
THROUGHPUT_FIELDS = ("prefill_tokens_per_s", "decode_tokens_per_s", "decode_batch")


def fill_from_table(data: Any) -> Any:
    """An inference workload's raw mapping with the figures it leaves out taken from the
    default table: the model's KV bytes per token and weights under `tokens`, and each
    `serving` entry's GPUs per replica, prefill and decode throughput and decode batch;
    then each entry's `rps_per_replica` when left out: 1 / (mean prompt / prefill +
    mean output / decode), the requests/s a replica serves at full load (docs/serving.md).

    Leaves the mapping as it is where it cannot be read (validation then says why)."""
    if not isinstance(data, dict) or not isinstance(data.get("tokens"), dict):
        return data
    if not isinstance(data.get("serving"), dict):
        return data
    try:
        tokens = Tokens.model_validate(data["tokens"])
    except ValueError:
        return data
    table = default_serving_table()
    out = dict(data)
    known = table.models.get(tokens.model)
    raw_tokens = dict(data["tokens"])
    if known is not None:
        raw_tokens.setdefault("kv_cache_bytes_per_token", known.kv_cache_bytes_per_token)
        raw_tokens.setdefault("weights_gb", known.weights_gb)
    out["tokens"] = raw_tokens
    serving = {}
    for acc, entry in data["serving"].items():
        if not isinstance(entry, dict):
            serving[acc] = entry
            continue
        entry = dict(entry)
        row = table.row(tokens.model, acc) if isinstance(acc, str) else None
        if row is not None:
            for name in _ROW_FIELDS:
                entry.setdefault(name, getattr(row, name))
        prefill, decode = entry.get("prefill_tokens_per_s"), entry.get("decode_tokens_per_s")
        if "rps_per_replica" not in entry and _positive(prefill) and _positive(decode):
            seconds = tokens.prompt_tokens.mean_tokens / prefill
            seconds += tokens.output_tokens.mean_tokens / decode
            entry["rps_per_replica"] = min(MAX_RPS, max(MIN_RPS_PER_REPLICA, 1.0 / seconds))
        serving[acc] = entry
    out["serving"] = serving
    return out


def _positive(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and x > 0


def check_token_figures(tokens: Tokens, serving: dict[str, Any]) -> None:
    """Every figure token sizing needs is known (after `fill_from_table`).

    Raises:
      ValueError: naming the field, and what to give instead.
    """
    table = default_serving_table()
    if tokens.kv_cache_bytes_per_token is None or tokens.weights_gb is None:
        # a model of the table has both filled in: this one is the scenario's own
        raise ValueError(
            f"tokens.model: unknown model {tokens.model!r} (the default table has "
            f"{sorted(table.models)}); for your own model give "
            "tokens.kv_cache_bytes_per_token and tokens.weights_gb"
        )
    for acc, entry in serving.items():
        for name in THROUGHPUT_FIELDS:
            if getattr(entry, name) is None:
                raise ValueError(
                    f"serving.{acc}.{name}: the default table has no figures for model "
                    f"{tokens.model!r} on {acc}; give prefill_tokens_per_s, "
                    "decode_tokens_per_s and decode_batch measured for it (docs/serving.md)"
                )
