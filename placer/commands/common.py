"""What every `placer` command shares: exit codes, error handling, argument helpers."""

from __future__ import annotations

import functools
import sys

import click

from placer.errors import PlacerError

EXIT_OK, EXIT_VERIFY_FAILED, EXIT_BAD_INPUT, EXIT_INFEASIBLE, EXIT_NO_SOLUTION = 0, 1, 2, 3, 4
EXIT_INTERNAL = 70
STATUS_EXIT = {
    "optimal": EXIT_OK,
    "feasible": EXIT_OK,
    "infeasible": EXIT_INFEASIBLE,
    "no_solution": EXIT_NO_SOLUTION,
}


class Failure(click.ClickException):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code


def handle_errors(fn):
    """Turns PlacerError into a one-paragraph message and its exit code; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PlacerError as e:
            raise Failure(str(e), e.exit_code) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            raise Failure("interrupted; nothing was written", 130) from None
        except Exception as e:  # the one place a bug is turned into exit 70
            if kwargs.get("debug") or "--debug" in sys.argv:
                raise
            raise Failure(
                f"internal error ({type(e).__name__}: {e}); please report it "
                "with the input (run with --debug for a traceback)",
                EXIT_INTERNAL,
            ) from None

    return wrapper


def scenario_arg(required: bool = True):
    return click.argument(
        "scenario_file",
        required=required,
        type=str,
        metavar="SCENARIO" if required else "[SCENARIO]",
    )
