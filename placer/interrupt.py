"""Ctrl-C (SIGINT) during a solve: stop at once and keep the best plan found so far.

`catch_interrupt()` is entered by `placer.api.solve` around the engines. While it is
active, the first SIGINT does not raise: it sets a flag (`requested()`) that every
engine's loop reads beside its deadline, and calls the interrupt of each MathOpt solve
running (`mathopt_interrupter()`), so HiGHS returns its incumbent within moments. The
engines then end as they do at the time limit, with the best plan so far. A second
SIGINT raises KeyboardInterrupt as usual (for a user who wants out now). Outside the
main thread, or where SIGINT is ignored, nothing is installed.

After the solve, `was_interrupted()` tells the caller (the CLI exits 130 once the plan
is written, as a shell does for a command ended by Ctrl-C).
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

_state = {"requested": False, "last": False}
_interrupters: list[Any] = []
_left_running: list[threading.Thread] = []


def leave_running(worker: threading.Thread) -> None:
    """Records a solver thread left running (it could not be stopped: Ctrl-C, or past
    its time limit); `any_left_running()` tells the CLI to end its process at once."""
    _left_running.append(worker)


def any_left_running() -> bool:
    """Whether a solver thread that was left is still running."""
    return any(t.is_alive() for t in _left_running)


@atexit.register
def _wait_for_left_running() -> None:
    """At the exit of a program that called placer as a library: wait for the solver
    threads left running to end (each ends at its own time limit). Python stops a daemon
    thread that returns from native code while it finalizes with pthread_exit, which
    aborts through a C++ solver's frames ("terminate called without an active
    exception", SIGABRT) after the program's work is done. The CLI does not wait: it
    ends its process with os._exit, which skips this."""
    for worker in _left_running:
        worker.join()


def requested() -> bool:
    """Whether Ctrl-C was pressed during the current solve."""
    return _state["requested"]


def was_interrupted() -> bool:
    """Whether the last solve run under `catch_interrupt` was stopped by Ctrl-C."""
    return _state["last"]


def request() -> None:
    """Asks the running solve to stop (what the SIGINT handler does; tests call it)."""
    _state["requested"] = True
    for interrupter in list(_interrupters):
        interrupter.interrupt()


@contextlib.contextmanager
def mathopt_interrupter() -> Iterator[Any]:
    """A MathOpt SolveInterrupter that Ctrl-C triggers, for `mathopt.solve(interrupter=)`."""
    from ortools.util.python.solve_interrupter import SolveInterrupter

    interrupter = SolveInterrupter()
    if requested():
        interrupter.interrupt()
    _interrupters.append(interrupter)
    try:
        yield interrupter
    finally:
        _interrupters.remove(interrupter)


@contextlib.contextmanager
def catch_interrupt() -> Iterator[None]:
    """Turns the first SIGINT into a stop request for the solve inside (see module doc)."""
    _state["requested"] = False
    _state["last"] = False
    installed = False
    previous: Any = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGINT)
        if previous is not signal.SIG_IGN:

            def handler(signum: int, frame: Any) -> None:
                if requested():  # the second Ctrl-C: out now
                    signal.signal(signal.SIGINT, signal.default_int_handler)
                    raise KeyboardInterrupt
                request()

            signal.signal(signal.SIGINT, handler)
            installed = True
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGINT, previous)
        _state["last"] = _state["requested"]
        _state["requested"] = False
