"""The sweep executors (placer.analysis.executor): the same results in process, in a
local process pool and on Ray, in item order; errors raised as the in-process path
raises them; Ray needed only when asked for."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from placer.analysis.executor import (
    InProcess,
    ProcessPool,
    RayExecutor,
    make_executor,
)
from placer.analysis.whatif import parse_change, run_n1
from placer.analysis.whatif_report import without_timings
from placer.cli.main import cli
from placer.errors import OptionError, SolverError
from placer.model.yaml_text import read_document

CONFIG = Path(__file__).parent.parent / "configs" / "us_carbon_vs_price.yaml"
#: Exact solves (each ends optimal well inside its limit), one thread: deterministic.
SOLVE = {"solver": "milp", "time_limit_s": 30.0, "seed": 0}
#: parse_change raises OptionError on text without '=': a module-level function, so every
#: executor can ship it.
ITEMS = ["a.b=1", "no-equals-sign", "c=2"]


@pytest.fixture(scope="module")
def in_process_sweep() -> list[Any]:
    """N-1 over the sites of a bundled config, solved in this process."""
    doc, source = read_document(str(CONFIG))
    run, _ = run_n1(doc, "sites", source=source, executor=InProcess(), **SOLVE)
    return without_timings([run.report, *run.plans])


def _sweep(executor) -> list[Any]:
    doc, source = read_document(str(CONFIG))
    with executor:
        run, _ = run_n1(doc, "sites", source=source, executor=executor, **SOLVE)
    return without_timings([run.report, *run.plans])


def test_in_process_maps_in_order_and_reports_each_result() -> None:
    seen: list[tuple[int, Any]] = []
    out = InProcess().map(str.upper, ["a", "b", "c"], on_result=lambda i, r: seen.append((i, r)))
    assert out == ["A", "B", "C"]
    assert seen == [(0, "A"), (1, "B"), (2, "C")]


def test_a_process_pool_gives_the_in_process_results(in_process_sweep: list[Any]) -> None:
    report = in_process_sweep[0]
    assert report["n1"]["losses"] == len(report["variants"]) == 10  # one per site
    assert _sweep(ProcessPool(2)) == in_process_sweep


def test_a_process_pool_keeps_order_and_ships_a_partial() -> None:
    seen: list[int] = []
    fn = functools.partial(divmod, 100)
    out = ProcessPool(2).map(fn, [7, 3, 9, 1], on_result=lambda i, _: seen.append(i))
    assert out == [divmod(100, d) for d in (7, 3, 9, 1)]
    assert seen == [0, 1, 2, 3]
    assert ProcessPool(2).map(fn, []) == []


@pytest.mark.parametrize("executor", [InProcess(), ProcessPool(2)], ids=["inprocess", "process"])
def test_an_error_in_a_call_is_the_placer_error_in_process_raises(executor) -> None:
    with pytest.raises(OptionError, match="--set no-equals-sign: expected PATH=VALUE") as caught:
        executor.map(parse_change, ITEMS)
    assert type(caught.value) is OptionError


def test_a_worker_that_dies_is_a_solver_error() -> None:
    with pytest.raises(SolverError, match="worker process of the pool died"):
        ProcessPool(1).map(os._exit, [3])


def test_make_executor_chooses_from_the_options() -> None:
    assert make_executor().name == "inprocess"
    assert make_executor("auto", 1).name == "inprocess"
    pool = make_executor("auto", 3)
    assert (pool.name, pool.workers) == ("process", 3)
    assert make_executor("process", None).workers == (os.cpu_count() or 1)
    ray = make_executor("auto", None, "ray://head:10001")
    assert (ray.name, ray.address, ray.num_cpus) == ("ray", "ray://head:10001", None)
    assert make_executor("ray", 2).num_cpus == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("threads", 2), "executor 'threads': choose one of inprocess, process, ray"),
        (("process", 0), "workers=0: must be a whole number >= 1"),
        (("process", 2, "ray://x:10001"), "--ray-address is for --executor ray"),
    ],
)
def test_make_executor_rejects_bad_options(args: tuple, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        make_executor(*args)


def test_without_ray_the_ray_executor_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(OptionError, match=r"pip install 'placer\[ray\]'"):
        RayExecutor(num_cpus=2).map(str.upper, ["a"])
    assert RayExecutor().map(str.upper, []) == []  # nothing to run: Ray is not needed


@pytest.mark.slow  # 6 s: the process pool's results are checked in the default set
def test_the_cli_pool_prints_what_in_process_prints() -> None:
    args = ["whatif", str(CONFIG), "--n-1", "sites", "--solver", "milp", "--format", "json"]
    runner = CliRunner()
    alone = runner.invoke(cli, args, catch_exceptions=False)
    pooled = runner.invoke(cli, [*args, "--workers", "2"], catch_exceptions=False)
    assert alone.exit_code == pooled.exit_code == 0, pooled.output
    assert without_timings(json.loads(pooled.stdout)) == without_timings(json.loads(alone.stdout))


# ---- Ray (a local Ray of 2 CPUs) ---------------------------------------------------------


def test_a_ray_the_executor_started_is_shut_down_on_close() -> None:
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray is already running in this process")
    with RayExecutor(num_cpus=1) as executor:
        assert executor.map(str.upper, ["a", "b"]) == ["A", "B"]
        assert ray.is_initialized()
    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_gives_the_in_process_results(local_ray, in_process_sweep: list[Any]) -> None:
    executor = RayExecutor()
    assert _sweep(executor) == in_process_sweep
    assert local_ray.is_initialized()  # the caller's Ray is left running


def test_ray_raises_the_placer_error_of_the_task(local_ray) -> None:
    with pytest.raises(OptionError, match="--set no-equals-sign: expected PATH=VALUE") as caught:
        RayExecutor().map(parse_change, ITEMS)
    assert type(caught.value) is OptionError
    assert RayExecutor().map(functools.partial(divmod, 100), [7, 3]) == [(14, 2), (33, 1)]
