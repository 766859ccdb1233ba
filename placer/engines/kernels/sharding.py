"""Candidate batches sharded over every device of a 1-D mesh (CPU, GPUs, TPU cores).

The Problem is replicated; candidates are split along their first axis. Results are
identical on 1 and N devices: each candidate is scored independently, and candidate
randomness elsewhere is derived from the candidate index (`jax.random.fold_in`), never
from the device. Beyond one host, start JAX with `jax.distributed.initialize()` on
every host (GPU clusters, TPU pod slices): `jax.devices()` then spans all hosts and the
same mesh code shards over all of them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from placer.engines.kernels.arrays import KernelProblem
from placer.engines.kernels.score import Scores, chunk_size, score_batch

AXIS = "c"
#: Largest chunk (candidates per vmapped step) the sharded scorer uses.
SHARD_CHUNK_MAX = 256


def candidate_mesh(devices: list | None = None) -> Mesh:
    """A 1-D mesh named 'c' over the given devices (default: all of them)."""
    devs = np.array(devices if devices is not None else jax.devices())
    return Mesh(devs, (AXIS,))


def score_batch_sharded(
    a_ku, kp: KernelProblem, mesh: Mesh | None = None, loads: str = "segment"
) -> Scores:
    """Scores C candidates with the batch split across the mesh's devices.

    Args:
      a_ku: int32[C, U] candidates (slots, K = unplaced); C is padded to a multiple of
        the device count x chunk and the padding dropped from the result.
      kp: kernel arrays, replicated on every device.
      mesh: candidate mesh (default: all devices).
      loads: "segment" or "onehot".

    Returns:
      Scores with float32[C] (and [C, Q], [C, NUM_KINDS]) fields.
    """
    mesh = mesh or candidate_mesh()
    n_dev = mesh.devices.size
    a_ku = jnp.asarray(a_ku, jnp.int32)
    k = a_ku.shape[0]
    # The chunk depends on U only, never on the device count, so every candidate is
    # scored by the same compiled computation on 1 or N devices: identical bits.
    chunk = min(chunk_size(a_ku.shape[1], 1 << 30), SHARD_CHUNK_MAX)
    per_device = -(-k // n_dev)
    per_device = -(-per_device // chunk) * chunk
    padded = jnp.pad(a_ku, ((0, per_device * n_dev - k), (0, 0)))
    batch = jax.device_put(padded, NamedSharding(mesh, P(AXIS)))
    kp_rep = jax.device_put(kp, NamedSharding(mesh, P()))
    scores = _sharded_scorer(mesh, chunk, loads)(batch, kp_rep)
    return Scores(*(f[:k] for f in scores))


_CACHE: dict = {}


def _sharded_scorer(mesh: Mesh, chunk: int, loads: str):
    key = (id(mesh), chunk, loads)
    if key not in _CACHE:

        def per_device(a, kp):
            return score_batch(a, kp, chunk=chunk, loads=loads)

        _CACHE[key] = jax.jit(
            jax.shard_map(per_device, mesh=mesh, in_specs=(P(AXIS), P()), out_specs=P(AXIS))
        )
    return _CACHE[key]
