"""What every `placer` command shares: exit codes, error handling, argument and option
helpers, and printing a result in the chosen --format."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def exit_for_status(status: str, infeasible_exit_code: int = EXIT_INFEASIBLE) -> None:
    """Ends the command with the exit code of a plan's (or front's) status; returns on 0."""
    code = infeasible_exit_code if status == "infeasible" else STATUS_EXIT[status]
    if code:
        sys.exit(code)


def echo_formatted(fmt: str, value: Any, **renderers: Callable[[Any], str]) -> None:
    """Prints `value` as renderers[fmt] writes it (text that ends in its own newline)."""
    click.echo(renderers[fmt](value), nl=False)


# ---- arguments and options ---------------------------------------------------------------


def _file_arg(name: str, metavar: str, required: bool):
    return click.argument(
        name, required=required, type=str, metavar=metavar if required else f"[{metavar}]"
    )


def scenario_arg(required: bool = True):
    """SCENARIO (keyword argument scenario_file): a scenario file, '-' for stdin."""
    return _file_arg("scenario_file", "SCENARIO", required)


def plan_arg(required: bool = True):
    """PLAN (keyword argument plan_file): a plan file as `placer solve -o` writes it."""
    return _file_arg("plan_file", "PLAN", required)


def output_option(help: str, *, flag: str = "--output", required: bool = False, **path: Any):
    """-o/--output (or -o/`flag`): a path (click.Path(**path)) to write to; None if absent."""
    return click.option(
        "-o",
        flag,
        type=click.Path(path_type=Path, **path),
        default=None,
        required=required,
        help=help,
    )


def format_option(*choices: str):
    """--format (keyword argument fmt): what to print on stdout, `table` by default."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default="table",
        show_default=True,
        help="What to print on stdout.",
    )


def debug_option():
    """--debug (hidden): an internal error raises with its traceback (see handle_errors)."""
    return click.option("--debug", is_flag=True, hidden=True)


def time_limit_option(default: float, help: str):
    """--time-limit-s (keyword argument time_limit_s): seconds, > 0."""
    return click.option(
        "--time-limit-s",
        type=click.FloatRange(min=0.0, min_open=True),
        default=default,
        show_default=True,
        help=help,
    )


def gap_option(help: str = "Stop once the proven relative gap is below this."):
    """--gap (keyword argument relative_gap): the relative optimality gap, 1e-4 by default."""
    return click.option(
        "--gap",
        "relative_gap",
        type=click.FloatRange(min=0.0),
        default=1e-4,
        show_default=True,
        help=help,
    )


def backend_option(help: str = "Solver backend, e.g. highs or cpsat (milp)."):
    return click.option("--backend", default=None, help=help)


def seed_option():
    return click.option("--seed", type=int, default=0, show_default=True)


#: The keyword arguments that solver_options adds, named as api.solve takes them.
SOLVER_FLAGS = ("solver", "backend", "time_limit_s", "relative_gap", "seed", "workers")


def solver_options(solver_help: str, time_limit_help: str, time_limit_s: float = 60.0):
    """The options every solving command shares: --solver, --backend, --time-limit-s,
    --gap, --seed, --workers (keyword arguments SOLVER_FLAGS)."""

    def decorate(fn):
        for option in reversed(
            (
                click.option("--solver", default="auto", show_default=True, help=solver_help),
                backend_option(),
                time_limit_option(time_limit_s, time_limit_help),
                gap_option(),
                seed_option(),
                click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True),
            )
        ):
            fn = option(fn)
        return fn

    return decorate
