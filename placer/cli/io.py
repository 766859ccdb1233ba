"""Files: atomic writes, writing a Plan or ParetoFront, and reading Plan files."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from placer import api
from placer.errors import OptionError
from placer.model.load import validate_model
from placer.model.scenario import Scenario
from placer.model.yaml_text import read_document
from placer.outputs import text_report
from placer.plan.plan import ParetoFront, Plan


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


def write_model(path: Path | None, model: Plan | ParetoFront) -> None:
    """Also writes `model` to `path`, atomically: YAML if the name ends .yaml/.yml, JSON
    otherwise (the renderings of placer.outputs.text_report); nothing when path is None."""
    if path is None:
        return
    as_yaml = Path(path).suffix in (".yaml", ".yml")
    write_atomic(path, text_report.to_yaml(model) if as_yaml else text_report.to_json(model))


def load_scenario_and_plan(scenario_file: str, plan_file: str) -> tuple[Scenario, Plan]:
    """Reads SCENARIO, then PLAN (so a bad scenario is the error reported first)."""
    return api.load(scenario_file), load_plan(plan_file)
