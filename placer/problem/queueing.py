"""Queueing and memory figures token sizing shares (`placer.problem.compile_static`,
`placer.problem.compile_disagg`; docs/serving.md)."""

from __future__ import annotations

import math

import numpy as np

#: Share of a replica's GPU memory the serving engine gives to weights and KV cache
#: (vLLM's `gpu_memory_utilization` default, 0.9); the rest holds activations and the
#: runtime.
GPU_MEMORY_FRACTION = 0.9
#: The most replicas the TTFT search tries for one pair before it masks the pool.
MAX_TTFT_REPLICAS = 1 << 24


def erlang_c(n: int, load: float) -> float:
    """Probability that an arrival waits in M/M/n at offered load `load` (< n), from the
    Poisson terms load^k / k! in log space (stable for large n)."""
    if load <= 0.0:
        return 0.0
    k = np.arange(n)
    log_terms = k * math.log(load) - np.array([math.lgamma(i + 1.0) for i in range(n)])
    log_last = n * math.log(load) - math.lgamma(n + 1.0) + math.log(n / (n - load))
    top = max(float(log_terms.max()), log_last)
    head = float(np.exp(log_terms - top).sum())
    last = math.exp(log_last - top)
    return last / (head + last)
