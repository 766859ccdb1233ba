"""What every `placer` command shares: exit codes, error handling, argument and option
helpers, and printing a result in the chosen --format."""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from placer.errors import PlacerError

EXIT_OK, EXIT_VERIFY_FAILED, EXIT_BAD_INPUT, EXIT_INFEASIBLE, EXIT_NO_SOLUTION = 0, 1, 2, 3, 4
EXIT_INTERNAL = 70
#: Every command's context: -h is --help too, also when a command is invoked on its own
#: (tests call commands directly; click keeps the help option it first made).
HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}
#: Ctrl-C: a solve stopped with its best plan so far (written), or any command stopped.
EXIT_INTERRUPTED = 130
STATUS_EXIT = {
    "optimal": EXIT_OK,
    "feasible": EXIT_OK,
    "infeasible": EXIT_INFEASIBLE,
    "no_solution": EXIT_NO_SOLUTION,
}


#: Where compiled JAX kernels are kept between runs (under $XDG_CACHE_HOME or ~/.cache);
#: PLACER_JAX_CACHE=off turns it off, PLACER_JAX_CACHE=DIR moves it.
JAX_CACHE_SUBDIR = ("placer", "jax")
#: Every compiled kernel is cached (relax compiles dozens of small ones: measured at
#: 2,000 x 40, a relax run took 5.6 s uncached, 4.4 s caching those over 0.2 s, 3.9 s
#: caching all). Entries are tens of kB per kernel and fleet shape; the folder may be
#: deleted at any time. (JAX's size cap, JAX_COMPILATION_CACHE_MAX_SIZE, left the
#: folder empty with jax 0.10.2, so it is not set.)
JAX_CACHE_MIN_COMPILE_S = "0"


def use_jax_compilation_cache() -> None:
    """Points JAX's persistent compilation cache at placer's cache folder, by environment
    variables read when JAX is first imported (nothing is imported here).

    A `placer` process JIT-compiles the kernels of relax, search and hybrid on every run:
    seconds, more on a loaded machine, and inside the time limit. Cached, a later run
    loads them instead. A user's own JAX_COMPILATION_CACHE_DIR is kept."""
    choice = os.environ.get("PLACER_JAX_CACHE", "")
    if choice.lower() in ("off", "0", "false", "no"):
        return
    folder = (
        Path(choice)
        if choice
        else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").joinpath(
            *JAX_CACHE_SUBDIR
        )
    )
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(folder))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", JAX_CACHE_MIN_COMPILE_S)


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
            raise Failure("interrupted; nothing was written", EXIT_INTERRUPTED) from None
        except Exception as e:  # the one place a bug is turned into exit 70
            if kwargs.get("debug") or "--debug" in sys.argv:
                raise
            raise Failure(
                f"internal error ({type(e).__name__}: {e}); please report it "
                "with the input (run with --debug for a traceback)",
                EXIT_INTERNAL,
            ) from None

    return wrapper


def exit_for_status(
    status: str, infeasible_exit_code: int = EXIT_INFEASIBLE, interrupted: bool = False
) -> None:
    """Ends the command with the exit code of a plan's (or front's) status; returns on 0.
    A solve stopped by Ctrl-C ends with EXIT_INTERRUPTED (130) whatever its status."""
    if interrupted:
        click.echo("interrupted (Ctrl-C): the best plan so far was kept", err=True)
        # A MILP stopped by Ctrl-C leaves its solver thread running to its time limit
        # (placer.engines.milp.solve.watched): every output is written and flushed, so
        # the process ends now rather than wait for it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    code = infeasible_exit_code if status == "infeasible" else STATUS_EXIT[status]
    if code:
        sys.exit(code)


def echo_formatted(
    fmt: str, value: Any, *, err: bool = False, **renderers: Callable[[Any], str]
) -> None:
    """Prints `value` as renderers[fmt] writes it (text that ends in its own newline), on
    stdout (stderr with err=True: when `-o -` has given stdout to the output file)."""
    click.echo(renderers[fmt](value), nl=False, err=err)


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


#: Output names refused as file names: what a kubectl user means by `-o yaml`.
FORMAT_WORDS = ("json", "yaml", "yml", "table", "text", "wide")


class OutputPath(click.Path):
    """A path to write to (a Path); an empty name is a usage error (exit 2) rather than
    the current folder."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, str) and not value.strip():
            self.fail(f"{value!r} is not a file name (use - for stdout)", param, ctx)
        if isinstance(value, str) and value.lower() in FORMAT_WORDS:
            self.fail(
                f"{value!r} looks like a format, not a file: -o takes a file name (plan."
                f"{value.lower()}, or - for stdout); to choose what is printed use --format",
                param,
                ctx,
            )
        return super().convert(value, param, ctx)


def output_option(help: str, *, flag: str = "--output", required: bool = False, **path: Any):
    """-o/--output (or -o/`flag`): a path (OutputPath(**path)) to write to; None if absent.

    Where the command writes a file, `-` (kept as Path("-")) is stdout: see
    `placer.cli.io.write_output`."""
    return click.option(
        "-o",
        flag,
        type=OutputPath(path_type=Path, **path),
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


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that refuses nan and +-inf (which no bound of a range excludes)."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


#: --seed's range: what every engine's random generator takes (a signed 32-bit seed).
SEED_RANGE = click.IntRange(0, 2**31 - 1)


def time_limit_option(default: float, help: str):
    """--time-limit-s (keyword argument time_limit_s): seconds, finite and > 0."""
    return click.option(
        "--time-limit-s",
        type=FiniteFloatRange(min=0.0, min_open=True),
        default=default,
        show_default=True,
        help=help,
    )


def gap_option(help: str = "Stop once the proven relative gap is below this."):
    """--gap (keyword argument relative_gap): the relative optimality gap, 1e-4 by default."""
    return click.option(
        "--gap",
        "relative_gap",
        type=FiniteFloatRange(min=0.0),
        default=1e-4,
        show_default=True,
        help=help,
    )


def backend_option(help: str = "Solver backend, e.g. highs or cpsat (milp)."):
    return click.option("--backend", default=None, help=help)


def seed_option():
    """--seed: the random seed, 0 <= seed < 2**31."""
    return click.option(
        "--seed", type=SEED_RANGE, default=0, show_default=True, help="Random seed, 0 to 2**31-1."
    )


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
