"""Files: writing outputs (atomically, or through a device or FIFO), writing a Plan or
ParetoFront, and reading Plan files.

How an output path is written (`write_atomic`; README.md "Output files"):
- a new path or an existing regular file: a temporary file in the same folder, then
  `os.replace`, so readers see the old file or the whole new one, never a part; a new file
  gets the mode a plain `open()` gives (0o666 less the umask), an existing one keeps its
  permission bits; on any failure (Ctrl-C included) the temporary is removed and the old
  file is left as it was; a temporary that a killed run left (kill -9 mid-write) is
  removed by the next write of the same file once it is 10 minutes old;
- a symbolic link: followed; the file it points to is written by these rules, the link
  stays a link;
- an existing character device or FIFO (/dev/null, a named pipe): opened and written in
  place, never replaced by a regular file;
- a directory, a block device or a socket: refused with a clear error (exit 2);
- `-` (`write_output`, `write_model`): stdout.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from placer.errors import OptionError

if TYPE_CHECKING:
    from placer.model.scenario import Scenario
    from placer.plan.plan import ParetoFront, Plan

#: The output name that means stdout.
STDOUT = "-"
#: Longest part of the target's name kept in its temporary's name (NAME_MAX is 255).
_TMP_NAME_CHARS = 200
#: A temporary of ours untouched this long was left by a killed run (s).
STALE_TMP_S = 600.0
#: Kinds of non-regular files that are refused, by their stat test.
_REFUSED = {
    "directory": stat.S_ISDIR,
    "block device": stat.S_ISBLK,
    "socket": stat.S_ISSOCK,
}


def is_stdout(path: Path | str | None) -> bool:
    """Whether an output option's value means stdout (`-`)."""
    return path is not None and str(path) == STDOUT


def write_output(path: Path | str, text: str) -> None:
    """Writes `text` to stdout when path is `-`, else to the file by `write_atomic`'s rules."""
    if is_stdout(path):
        click.echo(text, nl=False)
    else:
        write_atomic(path, text)


def write_atomic(path: Path | str, text: str) -> None:
    """Writes text to `path` by the rules in this module's docstring.

    Raises:
      OptionError: an empty path, a directory, a block device or socket, a missing or
        unwritable folder, a read-only file, or a failed write (nothing is left half
        written: the old file, if any, is as it was).
    """
    if not str(path):
        raise OptionError("an empty output path: give a file name, or - for stdout")
    target = Path(os.path.realpath(path))  # a symlink is followed; the link itself stays
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise OptionError(f"{path}: cannot write: {e.strerror or e}") from None
    if st is None:
        _replace(path, target, text, mode=None)
        return
    for kind, test in _REFUSED.items():
        if test(st.st_mode):
            raise OptionError(f"{path}: is a {kind}; give the name of a file to write")
    if not stat.S_ISREG(st.st_mode):  # a character device or a FIFO: write through it
        _write_in_place(path, target, text)
        return
    if not os.access(target, os.W_OK):
        raise OptionError(f"{path}: cannot write: the file is read-only; nothing was written")
    _replace(path, target, text, mode=stat.S_IMODE(st.st_mode) & 0o777)


def _replace(path: Path | str, target: Path, text: str, mode: int | None) -> None:
    """Writes a temporary beside `target`, then renames it over `target`.

    Args:
      path: the name the user gave (for messages).
      target: the file to create or replace (symlinks resolved).
      text: what to write.
      mode: permission bits to give the file (an existing file's), or None for a new
        file's default (0o666 less the umask, as open() gives).
    """
    folder = target.parent
    _remove_stale_temporaries(folder, target.name)
    fd, tmp = _create_temporary(path, folder, target.name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as e:  # KeyboardInterrupt too: never leave the temporary behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise OptionError(
                f"{path}: cannot write: {e.strerror or e}; nothing was written"
            ) from None
        raise
    _sync_folder(folder)


def _remove_stale_temporaries(folder: Path, name: str) -> None:
    """Removes temporaries of this target that a killed run (kill -9 mid-write) left:
    files named as `_create_temporary` names them, untouched for STALE_TMP_S (a write
    in progress elsewhere is younger). Best effort: what cannot be removed stays."""
    pattern = re.compile(rf"^\.{re.escape(name[:_TMP_NAME_CHARS])}\.[0-9a-f]{{8}}\.tmp$")
    now = time.time()
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if not pattern.match(entry.name):
                continue
            with contextlib.suppress(OSError):
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(st.st_mode) and now - st.st_mtime > STALE_TMP_S:
                    os.unlink(entry.path)


def _create_temporary(path: Path | str, folder: Path, name: str) -> tuple[int, Path]:
    """Creates a new, empty temporary file in `folder`; returns (fd, its path).

    Opened with mode 0o666 so that the umask applies as for any new file (mkstemp's
    0o600 would make every output private whatever the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = folder / f".{name[:_TMP_NAME_CHARS]}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
        except OSError as e:
            raise OptionError(f"{path}: cannot write: {e.strerror or e}") from None
    raise OptionError(f"{path}: cannot write: no free temporary name in {folder}")


def _sync_folder(folder: Path) -> None:
    """Flushes the rename to disk where the platform allows it (best effort)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_in_place(path: Path | str, target: Path, text: str) -> None:
    """Writes through an existing character device or FIFO (no temporary, no rename).

    Opening a FIFO waits for a reader, as a shell redirection does."""
    try:
        with open(target, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise OptionError(f"{path}: cannot write: {e.strerror or e}") from None


def load_plan(path: Path | str) -> Plan:
    """Reads a plan written by `placer solve` (JSON or YAML)."""
    from placer.model.load import validate_model
    from placer.model.yaml_text import read_document
    from placer.plan.plan import Plan

    data, source = read_document(path)
    return validate_model(Plan, data, source=source)


def is_yaml_name(path: Path | str) -> bool:
    """Whether an output name asks for YAML: it ends in .yaml or .yml (any case)."""
    return str(path).lower().endswith((".yaml", ".yml"))


def write_model(path: Path | str | None, model: Plan | ParetoFront) -> None:
    """Also writes `model` to `path`: YAML if the name ends .yaml/.yml (any case), JSON
    otherwise (a file named `yaml` too; `-` writes JSON to stdout); the renderings of
    placer.outputs.text_report, by `write_output`'s rules. Nothing when path is None."""
    if path is None:
        return
    from placer.outputs import text_report

    as_yaml = is_yaml_name(path) and not is_stdout(path)
    write_output(path, text_report.to_yaml(model) if as_yaml else text_report.to_json(model))


def load_scenario(path: str) -> Scenario:
    """Reads and validates a scenario file ('-' = stdin) without importing the solvers."""
    from placer.model.load import load_scenario as load

    return load(path)


def load_scenario_and_plan(scenario_file: str, plan_file: str) -> tuple[Scenario, Plan]:
    """Reads SCENARIO, then PLAN (so a bad scenario is the error reported first)."""
    return load_scenario(scenario_file), load_plan(plan_file)


__all__ = [
    "STDOUT",
    "is_stdout",
    "is_yaml_name",
    "load_plan",
    "load_scenario",
    "load_scenario_and_plan",
    "write_atomic",
    "write_model",
    "write_output",
]
