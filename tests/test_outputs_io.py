"""Writing outputs (`-o`): atomic for files, through FIFOs and devices, the umask, '-' for
stdout, YAML by name; option ranges; Ctrl-C; what `--help` imports."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from placer.cli.io import write_atomic
from placer.cli.main import cli
from placer.errors import OptionError

ROOT = Path(__file__).parent.parent
CONFIG = ROOT / "configs" / "us_carbon_vs_price.yaml"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_new_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "a.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o640


def test_an_existing_file_keeps_its_mode_and_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    target.write_text("old")
    target.chmod(0o604)
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o604
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no temporary left


def test_a_fifo_is_written_through_and_stays_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    write_atomic(fifo, "through the pipe")
    reader.join(10)
    assert got == ["through the pipe"]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_symlink_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


@pytest.mark.parametrize("name", ["", "   "])
def test_an_empty_output_name_is_a_usage_error(name: str) -> None:
    result = run("solve", str(CONFIG), "--solver", "greedy", "-o", name, "--quiet")
    assert result.exit_code == 2
    assert "not a file name" in result.output


def test_a_read_only_file_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes read-only files")
    target = tmp_path / "plan.json"
    target.write_text("keep")
    target.chmod(0o444)
    with pytest.raises(OptionError, match="read-only"):
        write_atomic(target, "new")
    assert target.read_text() == "keep"


def test_dash_writes_the_plan_to_stdout_and_the_rest_to_stderr(tmp_path: Path) -> None:
    result = run("solve", str(CONFIG), "--solver", "greedy", "-o", "-")
    assert result.exit_code == 0
    plan = json.loads(result.stdout)
    assert plan["kind"] == "Plan"
    assert "placer plan" in result.stderr  # the table went to stderr
    assert not Path("-").exists()


@pytest.mark.parametrize(("name", "yaml"), [("p.YAML", True), ("p.yml", True), ("p", False)])
def test_yaml_only_by_suffix(tmp_path: Path, monkeypatch, name: str, yaml: bool) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("solve", str(CONFIG), "--solver", "greedy", "-o", name, "--quiet")
    assert result.exit_code == 0
    text = (tmp_path / name).read_text()
    assert text.lstrip().startswith("{") is not yaml


@pytest.mark.parametrize("word", ["yaml", "JSON", "table"])
def test_a_format_word_is_not_taken_for_a_file_name(tmp_path: Path, monkeypatch, word) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("solve", str(CONFIG), "--solver", "greedy", "-o", word)
    assert result.exit_code == 2
    assert "--format" in result.output
    assert list(tmp_path.iterdir()) == []


def test_with_o_stdout_gets_the_summary_line_unless_a_format_is_asked(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    quiet = run("solve", str(CONFIG), "--solver", "greedy", "-o", str(target))
    assert quiet.exit_code == 0
    assert json.loads(quiet.stdout)["kind"] == "PlanSummary"
    table = run("solve", str(CONFIG), "--solver", "greedy", "-o", str(target), "--format", "table")
    assert table.stdout.startswith("placer plan")


def test_a_temporary_left_by_a_killed_write_is_removed_later(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    stale = tmp_path / ".plan.json.0123abcd.tmp"  # as a kill -9 mid-write leaves it
    stale.write_text("{half")
    young = tmp_path / ".plan.json.89abcdef.tmp"  # another writer's, still in progress
    young.write_text("{")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    write_atomic(target, "{}")
    assert not stale.exists() and young.exists()
    assert target.read_text() == "{}"


@pytest.mark.parametrize(
    "option",
    [
        ("--time-limit-s", "nan"),
        ("--time-limit-s", "inf"),
        ("--time-limit-s", "0"),
        ("--seed", "-1"),
        ("--seed", str(2**31)),
        ("--gap", "nan"),
    ],
)
def test_out_of_range_options_are_usage_errors(option) -> None:
    result = run("solve", str(CONFIG), "--solver", "milp", *option)
    assert result.exit_code == 2, result.output
    assert option[0] in result.output
    assert "Traceback" not in result.output and "internal error" not in result.output


def test_help_validate_and_schema_import_neither_jax_nor_ortools() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from placer.cli.main import cli\n"
        f"for args in (['--help'], ['validate', {str(CONFIG)!r}], ['schema']):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0, args\n"
        "print(sorted(m for m in ('jax', 'ortools', 'optax') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.slow  # ~16 s: a real MILP solve interrupted in a child process
def test_ctrl_c_stops_a_milp_solve_and_writes_the_best_plan(tmp_path: Path) -> None:
    """SIGINT at a MILP solve: the process ends within seconds (exit 130) with the plan
    written, though the solve had 120 s."""
    from placer.model.generate import generate_scenario

    scenario = tmp_path / "fleet.json"
    scenario.write_text(generate_scenario(units=6000, pools=80, seed=1).model_dump_json())
    plan = tmp_path / "plan.json"
    # the child takes SIGINT as a terminal's foreground process does, even when this
    # suite runs where SIGINT is ignored (a shell's background job: its children inherit
    # SIG_IGN, and placer then leaves SIGINT alone, as it should)
    child = (
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from placer.cli.main import main; main()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child, "solve",
         str(scenario), "--solver", "milp",
         "--time-limit-s", "120", "-o", str(plan), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    time.sleep(14)  # imports, compile, model build (~5 s here): the MILP is running by now
    assert proc.poll() is None
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert time.perf_counter() - sent < 20
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert json.loads(plan.read_text())["kind"] == "Plan"
