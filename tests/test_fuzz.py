"""Fuzz: mutated bundled configs give a plan or a PlacerError, never anything else.

Each example takes one bundled config, applies a few mutations (a number set to an
extreme, a string emptied or lengthened, a list emptied, a key dropped or added, a
flag flipped), and runs what a user runs: load (validation), compile and a solve. A
plan that comes back must be finite and pass the independent verifier. 200 examples
in the default run; the slow set runs 2,000.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import placer
from placer.errors import PlacerError
from placer.model.load import validate_model
from placer.model.scenario import Scenario
from placer.model.yaml_text import read_document

ROOT = Path(__file__).parent.parent
#: The static configs and the timed day whose series are inline (no files to resolve).
CONFIGS = [*sorted(ROOT.joinpath("configs").glob("*.yaml")), ROOT / "configs/time/small_day.yaml"]
DOCS = [read_document(p)[0] for p in CONFIGS]

#: Values a number is set to: the edges of every range and far beyond.
EXTREMES = [0, -1, 1, 0.5, 1e-308, 1e-9, 1e9, 1e30, 1e308, -1e308, 2**31, 2**63, 7.5]


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    """Every path (keys and indices) to a value in the document."""
    out = [path] if path else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


def _holder(doc: Any, path: tuple) -> tuple[Any, Any]:
    node = doc
    for key in path[:-1]:
        node = node[key]
    return node, path[-1]


@st.composite
def mutated_docs(draw) -> dict:
    doc = copy.deepcopy(draw(st.sampled_from(DOCS)))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        parent, key = _holder(doc, draw(st.sampled_from(paths)))
        value = parent[key]
        kind = draw(st.integers(0, 5))
        if isinstance(value, bool):
            parent[key] = not value
        elif isinstance(value, int | float) and kind < 4:
            parent[key] = draw(st.sampled_from(EXTREMES))
        elif isinstance(value, str) and kind < 3:
            parent[key] = draw(st.sampled_from(["", "x" * 300, "NO", "0", "🙂"]))
        elif isinstance(value, list) and kind < 2:
            parent[key] = []
        elif kind == 4 and isinstance(parent, dict):
            del parent[key]
        elif isinstance(parent, dict):
            parent[f"extra_{draw(st.integers(0, 9))}"] = 1
        else:
            parent[key] = None
    return doc


def _run(doc: dict, solver: str) -> None:
    try:
        scenario = validate_model(Scenario, doc, source="fuzz.yaml")
        plan = placer.solve(scenario, solver=solver, time_limit_s=2)
    except PlacerError:
        return
    for value in (plan.objective_usd_per_h, plan.bound_usd_per_h):
        assert value is None or math.isfinite(value), plan.message
    if plan.totals is not None:
        for name, value in plan.totals.model_dump().items():
            assert not isinstance(value, float) or math.isfinite(value), name
    if plan.status in ("optimal", "feasible"):  # a claimed plan passes the verifier
        assert placer.verify(scenario, plan) == []


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no overflow, no nan in compile
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_docs(), st.sampled_from(["greedy", "milp"]))
def test_mutated_configs_give_a_plan_or_a_placer_error(doc: dict, solver: str) -> None:
    _run(doc, solver)


@pytest.mark.slow
@pytest.mark.filterwarnings("error::RuntimeWarning")
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_docs(), st.sampled_from(["greedy", "milp", "hybrid"]))
def test_mutated_configs_many(doc: dict, solver: str) -> None:
    _run(doc, solver)
