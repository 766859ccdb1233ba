"""Progress of a long solve: the incumbent, the bound and the gap as they improve.

Solvers call `SolveOptions.progress(Progress(...))` at stage boundaries, and the MILP
forwards HiGHS's branch-and-bound log lines through `HighsLogProgress`, which reads the
BestBound/BestSol columns. `terminal_progress` renders the events on a terminal with
rich; the CLI uses it only when stderr is a terminal and `--quiet` is not given, so
pipelines see nothing.
"""

from __future__ import annotations

import contextlib
import math
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """One progress event.

    Attributes:
      stage: what the solver is doing ("MILP", "relaxation", "rounding", ...).
      incumbent_usd_per_h: objective of the best plan so far, or None.
      bound_usd_per_h: best proven lower bound so far, or None.
    """

    stage: str
    incumbent_usd_per_h: float | None = None
    bound_usd_per_h: float | None = None

    @property
    def gap(self) -> float | None:
        """(incumbent - bound) / |incumbent|, or None when either is unknown."""
        inc, bnd = self.incumbent_usd_per_h, self.bound_usd_per_h
        if inc is None or bnd is None or not math.isfinite(inc) or not math.isfinite(bnd):
            return None
        return max(0.0, (inc - bnd) / max(abs(inc), 1e-9))


ProgressFn = Callable[[Progress], None]

# A HiGHS MIP log row: [source letter] nodes, queue, leaves, explored %, bound, solution, gap.
_HIGHS_ROW = re.compile(
    r"^\s*[A-Za-z]?\s+\d+\s+\d+\s+\d+\s+[\d.]+%\s+(?P<bound>\S+)\s+(?P<sol>\S+)\s+\S+"
)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class HighsLogProgress:
    """A MathOpt `msg_cb` that turns HiGHS MIP log rows into Progress events.

    `offset` is added to both columns (the model's objective constant, if HiGHS logs
    without it); `stage` names the event. Lines that are not log rows are ignored.
    """

    def __init__(self, report: ProgressFn, stage: str = "MILP", offset: float = 0.0) -> None:
        self.report, self.stage, self.offset = report, stage, offset

    def __call__(self, lines: list[str]) -> None:
        for line in lines:
            m = _HIGHS_ROW.match(line)
            if m is None:
                continue
            bound, sol = _number(m["bound"]), _number(m["sol"])
            if bound is None and sol is None:
                continue
            self.report(
                Progress(
                    self.stage,
                    None if sol is None else sol + self.offset,
                    None if bound is None else bound + self.offset,
                )
            )


def parse_highs_row(line: str) -> Progress | None:
    """The Progress a single HiGHS log line carries, or None (for tests and tools)."""
    events: list[Progress] = []
    HighsLogProgress(events.append)([line])
    return events[0] if events else None


@contextlib.contextmanager
def terminal_progress(enabled: bool, console=None) -> Iterator[ProgressFn | None]:
    """A live one-line display on stderr (rich), or None when not enabled.

    Yields the callback to pass as `progress=`; keeps the best incumbent and bound seen,
    since a later stage may report only one of them. `console`: a rich Console to draw
    on instead of stderr (tests).
    """
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    console = console or Console(stderr=True)
    started = time.perf_counter()
    best: dict[str, float | None] = {"inc": None, "bnd": None}

    def render(stage: str) -> Text:
        p = Progress(stage, best["inc"], best["bnd"])
        inc = "-" if p.incumbent_usd_per_h is None else f"{p.incumbent_usd_per_h:,.2f}"
        bnd = "-" if p.bound_usd_per_h is None else f"{p.bound_usd_per_h:,.2f}"
        gap = "-" if p.gap is None else f"{100 * p.gap:.3f}%"
        return Text(
            f"{time.perf_counter() - started:6.1f}s {stage[:16]:<16} best {inc} "
            f"bound {bnd} USD/h gap {gap}",
            no_wrap=True,
            overflow="ellipsis",
        )

    with Live(render("starting"), console=console, transient=True, auto_refresh=False) as live:

        def report(p: Progress) -> None:
            if p.incumbent_usd_per_h is not None and (
                best["inc"] is None or p.incumbent_usd_per_h < best["inc"]
            ):
                best["inc"] = p.incumbent_usd_per_h
            if p.bound_usd_per_h is not None and (
                best["bnd"] is None or p.bound_usd_per_h > best["bnd"]
            ):
                best["bnd"] = p.bound_usd_per_h
            live.update(render(p.stage), refresh=True)

        yield report


def stderr_is_terminal() -> bool:
    """True when stderr is an interactive terminal (progress is shown only then)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


__all__ = [
    "HighsLogProgress",
    "Progress",
    "ProgressFn",
    "parse_highs_row",
    "stderr_is_terminal",
    "terminal_progress",
]
