"""One exception hierarchy for everything placer raises on purpose.

Solver outcomes (infeasible, no solution in time) are statuses on a `Plan`, not
exceptions; these errors are for input the user must fix and for internal faults.
The CLI maps each class to its documented exit code (see `placer.cli.main.EXIT_CODES`).
"""

from __future__ import annotations


class PlacerError(Exception):
    """Base class of every error placer raises on purpose."""

    exit_code = 70


class ScenarioError(PlacerError):
    """The scenario (or a plan file) is malformed: names the file, field and fix."""

    exit_code = 2


class InfeasibleError(PlacerError):
    """No placement satisfies the hard constraints; `violated` lists why."""

    exit_code = 3

    def __init__(self, message: str, violated: list[str] | None = None) -> None:
        super().__init__(message)
        self.violated = list(violated or [])


class NoSolutionError(PlacerError):
    """No plan was found within the time limit (none is proven impossible)."""

    exit_code = 4


class OptionError(PlacerError):
    """An option names something that does not exist (solver, backend) or is out of range."""

    exit_code = 2


class SolverError(PlacerError):
    """A solver failed or was misconfigured (unknown backend, bad option)."""

    exit_code = 70
