"""A solver thread left running past its limit (`milp.solve.watched`) is waited for at
the exit of a library caller's program (`interrupt._wait_for_left_running`): a daemon
thread returning from native code while Python finalizes is stopped with pthread_exit,
which can abort the process through a C++ solver's frames after its work is done."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import pathlib, sys, time
from placer.engines.milp.solve import Interrupted, watched

marker = pathlib.Path(sys.argv[1])

def solve():  # stands for a solver that overruns its limit
    time.sleep(1.0)
    marker.write_text("ended")
    return 1

try:
    watched(solve, time.perf_counter() + 0.1)
except Interrupted as e:
    print("left:", e)
"""


def test_a_program_waits_for_the_solver_it_left_running(tmp_path: Path) -> None:
    marker = tmp_path / "ended.txt"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(marker)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("left: time limit")
    # the program's exit waited for the worker: it ended its work (a daemon thread
    # still running at exit would have been stopped before writing)
    assert marker.read_text() == "ended"
