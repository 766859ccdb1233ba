"""Multi-Instance GPU (MIG) profiles, the placements the hardware allows, and how sets of
them pack onto GPUs (docs/nodes.md).

An A100 / H100 / H200 / B200 GPU splits into up to 7 instances on an axis of 8 memory
slices. Each profile has a size on that axis and the slices it may start at (NVIDIA MIG
user guide, "Supported MIG Profiles"; `nvidia-smi mig -lgipp` prints them):

    profile (H100 80GB)   compute slices   memory slices   starts
    7g.80gb               7                8               0
    4g.40gb               4                4               0
    3g.40gb               3                4               0, 4
    2g.20gb               2                2               0, 2, 4
    1g.20gb               1                2               0, 2, 4, 6
    1g.10gb               1                1               0 .. 6

A set of instances is legal on one GPU when they sit at allowed starts without overlap
(`legal_layout`). A multiset of n7, n4, n3, n2, n1w (1g with two slices), n1 instances
fits G GPUs if and only if the six linear rows of `MIG_ROWS` hold, with right-hand side
`rhs x G`: A-halves (7g and 4g need slices 0-3), halves, quarters, the quarters a 2g may
use, compute slices and memory slices. That "if and only if" was checked by enumerating
every per-GPU layout (tests/test_nodes.py: 1 and 2 GPUs, 3 in the slow set; 4 and 5 were
checked the same way once); `pack_mig` builds the layouts constructively (largest first:
GPU by GPU where that fits, else 3g at start 4 and the wide 1g at start 6 on every GPU
first, so the slices only small instances can use are used by them).
"""

from __future__ import annotations

from typing import NamedTuple


#: Profile types, largest first: (name stem, compute slices, memory slices, starts).
class MigType(NamedTuple):
    key: str
    compute: int
    memory: int
    starts: tuple[int, ...]


MIG_TYPES: tuple[MigType, ...] = (
    MigType("7g", 7, 8, (0,)),
    MigType("4g", 4, 4, (0,)),
    MigType("3g", 3, 4, (4, 0)),  # start 4 first: it keeps slices 0-3 for a 4g or 2g
    MigType("2g", 2, 2, (0, 2, 4)),
    MigType("1g-wide", 1, 2, (6, 0, 2, 4)),  # start 6 first: no 2g may use it
    MigType("1g", 1, 1, (0, 1, 2, 3, 4, 5, 6)),
)
MIG_SLICES = 8

#: The six rows: coefficients per type (`MIG_TYPES` order) and the right-hand side per GPU.
MIG_ROWS: tuple[tuple[str, tuple[int, ...], int], ...] = (
    ("a_halves", (1, 1, 0, 0, 0, 0), 1),
    ("halves", (2, 1, 1, 0, 0, 0), 2),
    ("quarters", (4, 2, 2, 1, 1, 0), 4),
    ("2g_quarters", (3, 2, 1, 1, 0, 0), 3),
    ("compute", (7, 4, 3, 2, 1, 1), 7),
    ("memory", (8, 4, 4, 2, 2, 1), 8),
)

#: GB of one memory slice, per MIG-capable accelerator of the default catalog (the profile
#: names follow: 1g.10gb, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb on an 80 GB GPU).
#: Sources: NVIDIA MIG user guide, supported profiles of A100-80GB, H100, H200, B200.
SLICE_GB: dict[str, int] = {
    "A100-80GB": 10,
    "H100-SXM": 10,
    "H100-PCIe": 10,
    "H200": 18,
    "B200": 23,
}
#: The profile name's memory per type, in slices: (7g: 8 ... 1g: 1); H200 and B200 round
#: the way NVIDIA names them (1g.18gb, 1g.35gb, 2g.35gb, 3g.71gb, 4g.71gb, 7g.141gb).
_NAME_GB: dict[str, tuple[int, int, int, int, int, int]] = {
    "A100-80GB": (80, 40, 40, 20, 20, 10),
    "H100-SXM": (80, 40, 40, 20, 20, 10),
    "H100-PCIe": (80, 40, 40, 20, 20, 10),
    "H200": (141, 71, 71, 35, 35, 18),
    "B200": (180, 90, 90, 45, 45, 23),
}


def profile_names(accelerator: str) -> dict[str, int]:
    """Profile name ("3g.40gb") -> index into `MIG_TYPES` for a MIG-capable accelerator;
    {} for one that is not."""
    gb = _NAME_GB.get(accelerator)
    if gb is None:
        return {}
    return {f"{t.compute}g.{gb[i]}gb": i for i, t in enumerate(MIG_TYPES)}


def gpu_share(profile: str) -> float:
    """The share of one GPU a MIG instance of `profile` ("3g.40gb") holds for cost and
    power: its compute slices / 7."""
    return int(profile.split("g.")[0]) / 7.0


def all_profile_names() -> set[str]:
    """Every profile name of every MIG-capable accelerator of the default catalog."""
    return {name for acc in _NAME_GB for name in profile_names(acc)}


def legal_layout(types: list[int], starts: list[int]) -> bool:
    """Instances (type indices) at the given starts are legal on one GPU: each at an
    allowed start, none overlapping."""
    used = [False] * MIG_SLICES
    for i, start in zip(types, starts, strict=True):
        t = MIG_TYPES[i]
        if start not in t.starts:
            return False
        for s in range(start, start + t.memory):
            if s >= MIG_SLICES or used[s]:
                return False
            used[s] = True
    return True


def rows_hold(counts: list[int], gpus: int) -> bool:
    """The six rows of `MIG_ROWS` for `counts` instances per type on `gpus` GPUs."""
    return all(
        sum(c * n for c, n in zip(coef, counts, strict=True)) <= rhs * gpus
        for _, coef, rhs in MIG_ROWS
    )


def pack_mig(counts: list[int], gpus: int) -> list[list[tuple[int, int]]] | None:
    """Per GPU, its instances as (type index, start), or None when they do not fit.

    Largest type first. First tries GPU by GPU (each instance on the first GPU with room,
    at its type's first free start: compact layouts, free GPUs left whole); where that
    fails, start by start over all GPUs (3g at start 4 on every GPU before start 0, the
    two-slice 1g at start 6 first), which fails only when no layout exists."""
    return _pack(counts, gpus, gpu_major=True) or _pack(counts, gpus, gpu_major=False)


def _pack(counts: list[int], gpus: int, gpu_major: bool) -> list[list[tuple[int, int]]] | None:
    used = [[False] * MIG_SLICES for _ in range(gpus)]
    layout: list[list[tuple[int, int]]] = [[] for _ in range(gpus)]
    for i, t in enumerate(MIG_TYPES):
        for _ in range(counts[i]):
            spots = (
                ((g, start) for g in range(gpus) for start in t.starts)
                if gpu_major
                else ((g, start) for start in t.starts for g in range(gpus))
            )
            spot = next(((g, s) for g, s in spots if not any(used[g][s : s + t.memory])), None)
            if spot is None:
                return None
            g, start = spot
            for s in range(start, start + t.memory):
                used[g][s] = True
            layout[g].append((i, start))
    return layout
