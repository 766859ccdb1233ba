"""Where a sweep's solves run: in this process, in a local process pool, or on Ray.

A *sweep* is many independent solves of variants of one scenario: what-if variants, N-1
losses (`placer.analysis.whatif`), and later Monte Carlo batches. Every sweep goes
through one `Executor`, whose `map(fn, items)` returns `[fn(x) for x in items]` in
order, wherever the calls ran:

- `InProcess` (the default): one call after the other, here.
- `ProcessPool(workers)`: `workers` processes on this machine, started with the "spawn"
  method. Not "fork": by the time a sweep maps its variants this process has solved the
  baseline, and a hybrid or relax solve leaves ~20 threads behind it (XLA's and Eigen's
  pools, HiGHS). A forked child inherits their locks without the threads that hold
  them: JAX warns that fork "will likely lead to a deadlock", and it does (N-1 over
  gen-150x10 with a hybrid baseline hung in the pool's first map, measured). A spawned
  worker is a fresh interpreter that imports placer itself: ~2 s per worker on 2 CPUs,
  paid once per map. "forkserver" with placer preloaded starts the pools after the first
  in ~0.2 s, but its first costs what spawn does (5.0 s against 5.4 s for N-1 over
  gen-150x10 on 2 workers), and a `placer whatif` run maps once; it would also fork
  from a process that imported JAX and OR-Tools, which they do not promise to survive.
- `RayExecutor(address, num_cpus)`: one Ray task per item (1 CPU each), on a local Ray
  it starts (`ray.init(address="local", num_cpus=...)`) or on a running cluster (`address`, e.g.
  `ray://head:10001` for a KubeRay head service). Ray is imported only here, only when
  this executor maps: the default path never needs it (`pip install 'placer[ray]'`).

What `map` needs: `fn` and the items are pickled (module-level functions, or a
`functools.partial` of one over plain data: scenario documents as dicts, plans as
pydantic models); `fn` is sent once per worker (pool) or put once in Ray's object store,
not once per item. Every call must be deterministic for its inputs (fixed seed, one
solver thread), so that every executor returns the same results. An error in a call is
raised in the caller as the same exception the in-process path raises (a `PlacerError`
keeps its class and message; Ray's `RayTaskError` wrapper is removed), for the first
failing item in order; items not started yet are cancelled.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

from placer.errors import OptionError, SolverError

T = TypeVar("T")
R = TypeVar("R")
#: Called in the caller's process as each result arrives, in item order: (position, result).
OnResult = Callable[[int, Any], None]

#: Executor names, as `placer whatif --executor` takes them.
EXECUTORS = ("inprocess", "process", "ray")
#: How a process pool starts its workers (see the module docstring: not "fork").
START_METHOD = "spawn"


class Executor(Protocol):
    """Runs `fn` over items, somewhere, and returns the results in item order."""

    name: str

    def map(
        self, fn: Callable[[T], R], items: Sequence[T], *, on_result: OnResult | None = None
    ) -> list[R]:
        """`[fn(x) for x in items]`; `on_result(i, result)` is called as each arrives."""
        ...

    def close(self) -> None:
        """Releases what the executor started (a local Ray); idempotent."""
        ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


class _Closing:
    """`with executor:` closes it on the way out."""

    def close(self) -> None:
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcess(_Closing):
    """Every call in this process, one after the other (nothing is pickled)."""

    name = "inprocess"

    def map(
        self, fn: Callable[[T], R], items: Sequence[T], *, on_result: OnResult | None = None
    ) -> list[R]:
        out: list[R] = []
        for i, item in enumerate(items):
            out.append(fn(item))
            if on_result is not None:
                on_result(i, out[-1])
        return out

    def __repr__(self) -> str:
        return "InProcess()"


# ---- a local process pool ----------------------------------------------------------------

#: The function a pool worker runs; set once per worker by `_install` (the pool's
#: initializer), so that a large `fn` (a partial over a scenario document) is pickled
#: once per worker rather than once per item. Only ever set inside pool workers.
_worker_fn: list[Callable[[Any], Any]] = []


def _install(fn: Callable[[Any], Any]) -> None:
    _worker_fn[:] = [fn]


def _run_installed(item: Any) -> Any:
    return _worker_fn[0](item)


class ProcessPool(_Closing):
    """`workers` processes on this machine (started with START_METHOD), one per call.

    Args:
      workers: processes, >= 1 (no more are started than there are items).
    """

    name = "process"

    def __init__(self, workers: int) -> None:
        if not (isinstance(workers, int) and workers >= 1):
            raise OptionError(f"workers={workers!r}: a process pool needs 1 or more workers")
        self.workers = workers

    def map(
        self, fn: Callable[[T], R], items: Sequence[T], *, on_result: OnResult | None = None
    ) -> list[R]:
        if not items:
            return []
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(items)),
            mp_context=multiprocessing.get_context(START_METHOD),
            initializer=_install,
            initargs=(fn,),
        )
        futures: list[Future] = []
        try:
            futures = [pool.submit(_run_installed, item) for item in items]
            out: list[R] = []
            for i, future in enumerate(futures):
                out.append(future.result())
                if on_result is not None:
                    on_result(i, out[-1])
            return out
        except BrokenProcessPool as e:
            raise SolverError(
                f"a worker process of the pool died ({e}); out of memory? Try fewer "
                "--workers, or --executor inprocess"
            ) from None
        finally:
            # the first error in item order is raised; what has not started is dropped
            pool.shutdown(wait=True, cancel_futures=True)

    def __repr__(self) -> str:
        return f"ProcessPool(workers={self.workers})"


# ---- Ray ---------------------------------------------------------------------------------


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise OptionError(
            "--executor ray needs Ray, which is not installed: pip install 'placer[ray]' "
            "(on a cluster, the image of every Ray node needs it too; see docs/ray.md)"
        ) from None
    return ray


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    """The Ray task: one call (`fn` arrives from the object store, put there once)."""
    return fn(item)


class RayExecutor(_Closing):
    """One Ray task (1 CPU) per item, on a Ray cluster.

    If Ray is not initialised in this process, the first `map` calls `ray.init`: with
    `address` (or $RAY_ADDRESS) it connects to that cluster (`ray://head:10001`, `auto`),
    else it starts a local Ray with `num_cpus` CPUs (None: all of them). `close()` shuts
    down only a Ray this executor started; a Ray the caller initialised is left running.

    Args:
      address: a cluster address for `ray.init`; None: $RAY_ADDRESS, else a local Ray.
      num_cpus: CPUs of a local Ray (None: every CPU); a cluster has its own (ignored).
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.num_cpus = num_cpus if self.address is None else None
        self._started = False

    def _ray(self) -> Any:
        ray = _import_ray()
        if ray.is_initialized():
            return ray
        kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        if self.address is None:
            kwargs.update(num_cpus=self.num_cpus, include_dashboard=False)
        try:
            with warnings.catch_warnings():
                # Ray starts its daemons with subprocess (fork, then exec at once), which
                # trips JAX's warning on os.fork in a process that has run JAX
                warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
                # no address: always a new local Ray ("local"), never one that happens
                # to run on this machine already (ray.init() would join it)
                ray.init(address=self.address or "local", **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"the Ray cluster at {self.address!r}" if self.address else "a local Ray"
            raise OptionError(f"cannot start or reach {where}: {e}") from None
        self._started = True
        return ray

    def map(
        self, fn: Callable[[T], R], items: Sequence[T], *, on_result: OnResult | None = None
    ) -> list[R]:
        if not items:
            return []
        ray = self._ray()
        task = ray.remote(num_cpus=1, max_retries=0)(_call)
        fn_ref = ray.put(fn)
        refs = [task.remote(fn_ref, item) for item in items]
        out: list[R] = []
        try:
            for i, ref in enumerate(refs):
                out.append(ray.get(ref))
                if on_result is not None:
                    on_result(i, out[-1])
        except BaseException as e:
            _cancel_the_rest(ray, refs[len(out) + 1 :])
            cause = _task_cause(ray, e)
            if cause is None:
                raise
            raise cause from None
        return out

    def close(self) -> None:
        if self._started:
            _import_ray().shutdown()
            self._started = False

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, num_cpus={self.num_cpus!r})"


#: Seconds to wait for cancelled tasks to settle before the error is raised.
CANCEL_SETTLE_S = 10.0


def _cancel_the_rest(ray: Any, refs: list[Any]) -> None:
    """Cancels the tasks of `refs` that have not finished, gently (`force=False`: a task
    still queued never starts; a running one gets KeyboardInterrupt and its worker lives),
    then waits up to CANCEL_SETTLE_S for them to settle. A forced cancel killed the
    worker, and under load the kill could land after the worker had taken the next map's
    task ("The worker died unexpectedly"; 1 run in 200 on 2 loaded CPUs)."""
    with contextlib.suppress(Exception):  # Ray is gone: nothing left to cancel
        if not refs:
            return
        _, unfinished = ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in unfinished:
            with contextlib.suppress(Exception):  # finished in between
                ray.cancel(ref, force=False)
        if unfinished:
            ray.wait(unfinished, num_returns=len(unfinished), timeout=CANCEL_SETTLE_S)


def _task_cause(ray: Any, error: BaseException) -> BaseException | None:
    """The exception a Ray task raised (None: `error` is not a task's error). A worker
    that died, or any other failure of Ray itself, becomes a SolverError."""
    if isinstance(error, ray.exceptions.RayTaskError):
        cause = getattr(error, "cause", None)
        if isinstance(cause, BaseException):
            return cause
        return SolverError(f"a Ray task failed: {error}")
    if isinstance(error, ray.exceptions.RayError):
        return SolverError(f"Ray failed while running the sweep: {error}")
    return None


# ---- choosing one ------------------------------------------------------------------------


def make_executor(
    name: str = "auto", workers: int | None = None, ray_address: str | None = None
) -> Executor:
    """The executor for a sweep, as `placer whatif` chooses it from its options.

    Args:
      name: "auto" (a process pool when workers > 1, Ray when ray_address is given, else
        in-process), or one of EXECUTORS.
      workers: processes of a pool, or CPUs of a local Ray; None: not given (a pool then
        uses every CPU, a local Ray too).
      ray_address: a Ray cluster's address (`ray://head:10001`); only with Ray.

    Raises:
      OptionError: an unknown name, workers < 1, or an address without Ray.
    """
    if workers is not None and not (isinstance(workers, int) and workers >= 1):
        raise OptionError(f"workers={workers!r}: must be a whole number >= 1")
    if name == "auto":
        name = "ray" if ray_address else "process" if (workers or 1) > 1 else "inprocess"
    if name not in EXECUTORS:
        raise OptionError(f"executor {name!r}: choose one of {', '.join(EXECUTORS)}")
    if ray_address and name != "ray":
        raise OptionError(f"--ray-address is for --executor ray, not --executor {name}")
    if name == "inprocess":
        return InProcess()
    if name == "process":
        return ProcessPool(workers or os.cpu_count() or 1)
    return RayExecutor(address=ray_address, num_cpus=workers)


__all__ = [
    "EXECUTORS",
    "START_METHOD",
    "Executor",
    "InProcess",
    "OnResult",
    "ProcessPool",
    "RayExecutor",
    "make_executor",
]
