"""scripts/bench_milp.problem_digest: "same digest, same instance", across processes too."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np

from placer.model.generate_time import generate_timed_scenario
from placer.problem.compile import compile_problem

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
DIGEST = (
    "import sys; sys.path.insert(0, {scripts!r}); from bench_milp import problem_digest; "
    "from placer.model.generate_time import generate_timed_scenario; "
    "from placer.problem.compile import compile_problem; "
    "print(problem_digest(compile_problem(generate_timed_scenario(60, 4, 12, seed=3))[0]))"
)


def _bench_milp():
    sys.path.insert(0, str(SCRIPTS))
    try:
        spec = importlib.util.spec_from_file_location("bench_milp", SCRIPTS / "bench_milp.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPTS))
    return module


def test_the_digest_is_the_same_in_another_process_and_follows_the_content() -> None:
    digest = _bench_milp().problem_digest
    problem = compile_problem(generate_timed_scenario(60, 4, 12, seed=3))[0]
    assert any(field is None for field in problem)  # side structures left out hash too
    here = digest(problem)
    code = DIGEST.format(scripts=str(SCRIPTS))
    there = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert there == here
    cap = problem.cap_r.copy()
    cap[0] += 1.0
    assert digest(problem._replace(cap_r=cap)) != here
    assert digest(problem._replace(cap_r=np.asarray(problem.cap_r))) == here
