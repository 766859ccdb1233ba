"""Float64 NumPy reference of `placer robust`'s kernel call, for tests and benchmarks.

Sample b of a Perturbation becomes an explicit Problem, item by item as
`placer.engines.kernels.perturb` defines each field, and is scored with the float64
reference `score_batch_numpy`; row excesses come from `placer.problem.usage`. Nothing
here shares code with the kernel but the Problem itself.
"""

from __future__ import annotations

import numpy as np

from placer.engines.kernels.arrays import to_options
from placer.engines.kernels.perturb import Perturbation
from placer.engines.kernels.reference import score_batch_numpy
from placer.engines.kernels.score import Scores
from placer.problem.form import Problem
from placer.problem.usage import row_loads


def perturbed_problem(
    problem: Problem, a_u: np.ndarray, pert: Perturbation, b: int
) -> tuple[Problem, np.ndarray]:
    """(the Problem of scenario b, the plan's slots int32[U] in it: lost units unplaced).

    Args:
      problem: the compiled problem.   a_u: int[U], the plan's slots (K = unplaced).
      pert: B perturbations.   b: which one.
    """
    listed = problem.listed_uk
    option_uk = np.maximum(problem.option_uk, 0)  # empty slots: any option (unused)
    m_u = np.asarray(pert.usage_scale_u[b], np.float64)
    base_quk = problem.amount_quk * m_u[None, :, None]
    scale_quk = np.moveaxis(np.asarray(pert.amount_scale_oq[b], np.float64)[option_uk], 2, 0)
    price_quk = np.moveaxis(np.asarray(pert.price_delta_oq[b], np.float64)[option_uk], 2, 0)
    up_o = np.asarray(pert.option_up_o[b])
    changed = problem._replace(
        amount_quk=base_quk * scale_quk,
        objective_usd_per_h_uk=problem.objective_usd_per_h_uk * m_u[:, None]
        + (price_quk * base_quk).sum(axis=0),
        cap_r=problem.cap_r * np.asarray(pert.cap_scale_r[b], np.float64),
    ).restricted(listed & up_o[option_uk])
    n_k = problem.num_slots
    units = np.arange(problem.num_units)
    slot = np.minimum(a_u, n_k - 1)
    lost = (a_u < n_k) & listed[units, slot] & ~up_o[option_uk[units, slot]]
    return changed, np.where(lost, n_k, a_u).astype(np.int32)


def reference_sample(
    problem: Problem, a_u: np.ndarray, pert: Perturbation, b: int
) -> tuple[Scores, np.ndarray]:
    """(Scores with [1] fields, excess float64[R] over every row) of scenario b."""
    changed, a_b = perturbed_problem(problem, np.asarray(a_u), pert, b)
    scores = score_batch_numpy(a_b[None, :], changed)
    loads = row_loads(changed, to_options(changed, a_b))
    cap = changed.cap_r
    excess = np.where(
        np.isfinite(cap), np.maximum(loads - np.where(np.isfinite(cap), cap, 0), 0), 0
    )
    return scores, excess


__all__ = ["perturbed_problem", "reference_sample"]
