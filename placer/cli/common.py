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


def solver_options(solver_help: str, time_limit_help: str, time_limit_s: float = 60.0):
    """The options every solving command shares: --solver, --backend, --time-limit-s,
    --gap, --seed, --workers (keyword arguments solver, backend, time_limit_s,
    relative_gap, seed, workers)."""

    def decorate(fn):
        for option in reversed(
            (
                click.option("--solver", default="auto", show_default=True, help=solver_help),
                click.option(
                    "--backend", default=None, help="Solver backend, e.g. highs or cpsat (milp)."
                ),
                click.option(
                    "--time-limit-s",
                    type=click.FloatRange(min=0.0, min_open=True),
                    default=time_limit_s,
                    show_default=True,
                    help=time_limit_help,
                ),
                click.option(
                    "--gap",
                    "relative_gap",
                    type=click.FloatRange(min=0.0),
                    default=1e-4,
                    show_default=True,
                    help="Stop once the proven relative gap is below this.",
                ),
                click.option("--seed", type=int, default=0, show_default=True),
                click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True),
            )
        ):
            fn = option(fn)
        return fn

    return decorate
