"""score_batch_sharded on 4 fake CPU devices, in a child process.

XLA_FLAGS=--xla_force_host_platform_device_count=4 only takes effect if it is set before
JAX initialises its CPU backend, and this pytest process has usually imported JAX
already, so a child Python process (sys.executable) runs the checks and prints one JSON
object; the parent asserts on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from placer.problem.rows import QUANTITIES, ROW_KINDS

REPO_ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json
import jax
import jax.numpy as jnp
import numpy as np
from placer.engines.kernels.arrays import to_kernel
from placer.engines.kernels.score import score_batch
from placer.engines.kernels.sharding import SHARD_CHUNK_MAX, candidate_mesh, score_batch_sharded
from placer.problem.rows import K_GPUS, K_IT
from tests.problems import random_problem

out = {"device_count": jax.device_count(), "backend": jax.default_backend()}
rng = np.random.default_rng(0)
problem = random_problem(rng, 40, 8, 4)  # with a redundancy group about half the time
problem = problem._replace(group_u=rng.integers(-1, 1, 40).astype(np.int32),
                           spread_key_go=problem.site_o[None, :].astype(np.int32))
kp = to_kernel(problem)
mesh4, mesh1 = candidate_mesh(), candidate_mesh(jax.devices()[:1])
out["mesh4_devices"] = int(mesh4.devices.size)
out["mesh1_devices"] = int(mesh1.devices.size)


def host(scores):
    return {name: np.asarray(f) for name, f in zip(scores._fields, scores)}


for loads in ("segment", "onehot"):
    k = 1027  # not a multiple of 4 (nor of the chunk): padding on both meshes
    a = jnp.asarray(rng.integers(0, problem.num_slots + 1, (k, problem.num_units)), jnp.int32)
    s4 = host(score_batch_sharded(a, kp, mesh4, loads))
    s1 = host(score_batch_sharded(a, kp, mesh1, loads))
    chunk = min(SHARD_CHUNK_MAX, k)
    plain = host(score_batch(a, kp, chunk=chunk, loads=loads))
    out[loads] = {
        "k": k,
        "shape": list(s4["objective"].shape),
        "bitwise_4_vs_1": all(np.array_equal(s4[n], s1[n]) for n in s4),
        "max_abs_diff_4_vs_1": max(float(np.abs(s4[n] - s1[n]).max()) for n in s4),
        "bitwise_vs_unsharded": all(np.array_equal(s4[n], plain[n]) for n in s4),
        "violations_seen": int(
            (s4["over_k"][:, [K_GPUS, K_IT]] > 0).sum() + (s4["masked"] > 0).sum()
        ),
        "shapes": {n: list(s4[n].shape) for n in s4},
    }


def sharding_of(k):
    a = jnp.asarray(rng.integers(0, problem.num_slots + 1, (k, problem.num_units)), jnp.int32)
    f = score_batch_sharded(a, kp, mesh4).objective
    return {
        "k": k,
        "spec": [None if x is None else str(x) for x in f.sharding.spec],
        "devices": len(f.sharding.device_set),
        "fully_replicated": bool(f.sharding.is_fully_replicated),
        "shard_rows": sorted(int(s.data.shape[0]) for s in f.addressable_shards),
    }


out["chunk"] = SHARD_CHUNK_MAX
out["sharding_k8"] = sharding_of(8)
out["sharding_k4chunks"] = sharding_of(4 * SHARD_CHUNK_MAX)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def child() -> dict:
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_child_sees_four_cpu_devices(child) -> None:
    assert child["device_count"] == 4
    assert child["backend"] == "cpu"
    assert (child["mesh4_devices"], child["mesh1_devices"]) == (4, 1)


@pytest.mark.parametrize("loads", ["segment", "onehot"])
def test_four_devices_bitwise_equal_one_device(child, loads) -> None:
    """K = 1027 (not a multiple of 4): the per-device chunk depends on U only, so every
    candidate goes through the same compiled body on 1 or 4 devices: identical bits
    (also identical to unsharded score_batch with that chunk)."""
    r = child[loads]
    assert r["shape"] == [1027]
    assert r["shapes"] == {
        "objective": [1027],
        "total_q": [1027, len(QUANTITIES)],
        "over_k": [1027, len(ROW_KINDS)],
        "masked": [1027],
        "redundancy": [1027],
    }
    assert r["violations_seen"] > 0  # the comparison covers nonzero violations
    assert r["bitwise_4_vs_1"], r["max_abs_diff_4_vs_1"]
    assert r["bitwise_vs_unsharded"]


def test_output_sharding(child) -> None:
    """What the result's sharding is.

    shard_map's out_specs=P("c") shards the padded result over the 4 devices, and
    score_batch_sharded then slices it to [:K] outside jit. When K is a multiple of
    4 x chunk (chunk = SHARD_CHUNK_MAX = 256 for small U) there is no padding and the
    result stays sharded: 4 shards of K/4 rows. Otherwise (any other K, e.g. K = 8, a
    multiple of 4) the eager slice returns an array replicated on all 4 devices (spec
    P(): every device holds all K rows).
    """
    big = child["sharding_k4chunks"]
    assert big["k"] == 4 * child["chunk"]
    assert big["devices"] == 4 and not big["fully_replicated"]
    assert big["spec"] == ["c"]  # P("c")
    assert big["shard_rows"] == [child["chunk"]] * 4
    small = child["sharding_k8"]
    assert small["devices"] == 4
    assert small["fully_replicated"] and small["spec"] == []  # P()
    assert small["shard_rows"] == [8] * 4
