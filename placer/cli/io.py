"""Files: atomic writes, and reading Plan files."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from placer.errors import OptionError
from placer.model.load import validate_model
from placer.model.yaml_text import read_document
from placer.plan.plan import Plan


def write_atomic(path: Path | str, text: str) -> None:
    """Writes text so that readers see the old file or the whole new one, never a part.

    Raises:
      ScenarioError: the folder does not exist or is not writable.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise OptionError(f"{path}: cannot write: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise OptionError(
                f"{path}: cannot write: {e.strerror or e}; nothing was written"
            ) from None
        raise


def load_plan(path: Path | str) -> Plan:
    """Reads a plan written by `placer solve` (JSON or YAML)."""
    data, source = read_document(path)
    return validate_model(Plan, data, source=source)
