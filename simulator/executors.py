"""Executors: run picklable tasks in this process, on local processes or on Dask, one interface.

Sweeps, compares and sharded runs hand their work to an executor and never
care which one it is. Every executor offers:

- ``map(fn, items)``: ``fn`` over ``items``, results in the items' order
  (what :func:`simulator.runner.run` needs to shard one run's members);
- ``unordered(fn, items)``: an iterator of :class:`Completed` as tasks
  finish, in any order, with at most a few tasks per worker in flight, so a
  sweep of thousands of runs streams its results to disk with flat memory;
- ``workers``: how many tasks run at once;
- ``close()`` (and use as a context manager), which cancels what is queued
  and stops processes this executor started.

:class:`SerialExecutor` runs in this process (``--workers 1``).
:class:`LocalExecutor` is a process pool started with the ``forkserver``
method (``spawn`` where there is none): child processes do not inherit the
parent's state, so it works from Jupyter and from threads; ``fn`` must be
importable (defined in a module, not in a notebook cell). Worker processes
ignore Ctrl-C: the parent decides, then stops them. :class:`DaskExecutor`
starts a :class:`distributed.LocalCluster` on 127.0.0.1 when given no
address, or connects to a running scheduler (``tcp://host:8786``).

Boundary: executors know nothing of scenarios or runs. An exception raised
by ``fn`` is the caller's to report; an executor only reports tasks it could
not run (a worker died, the pool broke) as a ``Completed`` with ``error``.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass
from typing import Any, Protocol, cast

from simulator.errors import ExecutionError, UsageError

__all__ = [
    "EXECUTORS",
    "Completed",
    "DaskExecutor",
    "Execution",
    "Executor",
    "LocalExecutor",
    "SerialExecutor",
    "available_cpus",
    "check_workers",
    "executor_kind",
    "make_executor",
    "resolve_execution",
    "scheduler_problem",
    "task_failure",
]

EXECUTORS = ("local", "dask")
# For the LocalCluster we start: each worker's sampling profiler walks the
# task's stack every 10 ms, and the event loops of workers, nannies and
# scheduler wake every 20-500 ms to watch themselves. On a machine with one
# core per worker that steals a few per cent from pure-Python simulations,
# for a dashboard nobody opens; these settings make them rare.
_QUIET_DASK = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    # Dask's MALLOC_TRIM_THRESHOLD_=65536 hands freed memory back to the OS
    # at once, so an allocation-heavy run keeps asking for it again: glibc's
    # own adaptive threshold instead.
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}
# Tasks in flight per worker in unordered(): enough to keep every worker busy
# while results travel back, few enough that cancelling is quick.
_IN_FLIGHT_PER_WORKER = 2


@dataclass(frozen=True)
class Completed:
    """One finished task of :meth:`Executor.unordered`: its item's index and result.

    ``error`` is set (and ``value`` None) when the task could not be run or
    raised; the caller decides what that means.
    """

    index: int
    value: Any = None
    error: BaseException | None = None


class Executor(Protocol):
    """What sweeps and sharded runs need from an executor."""

    workers: int

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]: ...

    def unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Completed]: ...

    def everywhere(self, fn: Callable[[Any], Any], item: Any) -> list[Any]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, exc_type: object, *rest: object) -> None: ...


def task_failure(error: BaseException) -> BaseException:
    """What a caller that needs every task should raise for a task's ``error``.

    A task lost with its worker (Dask's ``KilledWorker``, a local pool whose
    process died) is one :class:`ExecutionError` line; any other error is the
    task's own, raised again as it is.
    """
    if type(error).__name__ == "KilledWorker":
        return ExecutionError(
            f"Dask: a task was lost with its worker too many times ({error.args[0]}); "
            "nothing was written: check the workers' memory and logs, then run it again"
        )
    if isinstance(error, cf.BrokenExecutor):
        return ExecutionError(
            f"a worker process died while the work ran ({type(error).__name__}); nothing "
            "was written: check the machine's memory, then run it again"
        )
    return error


def available_cpus() -> int:
    """CPUs this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class _Base:
    workers: int = 1

    def __enter__(self) -> Any:
        return self

    def everywhere(self, fn: Callable[[Any], Any], item: Any) -> list[Any]:
        """``fn(item)`` where every worker could run it: here, for processes of this
        machine (they see what this process sees); on every worker of a cluster."""
        return [fn(item)]

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        pass


class SerialExecutor(_Base):
    """Runs every task in this process, one after the other."""

    kind = "serial"

    def __init__(self) -> None:
        self.workers = 1

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        return [fn(item) for item in items]

    def unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Completed]:
        for i, item in enumerate(items):
            try:
                value = fn(item)
            except Exception as exc:
                yield Completed(i, None, exc)
            else:
                yield Completed(i, value)

    def describe(self) -> str:
        return "this process"


def _ignore_sigint() -> None:
    # The parent handles Ctrl-C (it cancels and terminates the pool); a worker
    # interrupted mid-task would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start_context() -> multiprocessing.context.BaseContext:
    if sys.platform != "win32" and "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        # Import the simulator once in the fork server, not once per worker.
        ctx.set_forkserver_preload(["simulator.runner"])
        return ctx
    return multiprocessing.get_context("spawn")


class LocalExecutor(_Base):
    """A pool of ``workers`` local processes (forkserver, or spawn), started on first use."""

    kind = "local"

    def __init__(self, workers: int) -> None:
        check_workers(workers)  # the one check of workers (and its one text)
        self.workers = workers
        self._pool: cf.ProcessPoolExecutor | None = None

    def _get_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.workers, mp_context=_start_context(), initializer=_ignore_sigint
            )
        return self._pool

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        return list(self._get_pool().map(fn, items))

    def unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Completed]:
        pool = self._get_pool()
        source = enumerate(items)
        pending: dict[cf.Future[Any], int] = {}
        window = _IN_FLIGHT_PER_WORKER * self.workers
        broken: BaseException | None = None
        try:
            while True:
                while broken is None and len(pending) < window:
                    nxt = next(source, None)
                    if nxt is None:
                        break
                    try:
                        pending[pool.submit(fn, nxt[1])] = nxt[0]
                    except cf.BrokenExecutor as exc:  # a worker died: nothing more can run
                        broken = exc
                        yield Completed(nxt[0], None, exc)
                if broken is not None:
                    # Report the rest as not run, quickly, so the caller can say so.
                    for i, _ in source:
                        yield Completed(i, None, broken)
                if not pending:
                    return
                done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    i = pending.pop(fut)
                    err = fut.exception()
                    if isinstance(err, cf.BrokenExecutor):
                        broken = err
                    yield Completed(i, None if err else fut.result(), err)
        finally:
            for fut in pending:
                fut.cancel()

    def close(self, terminate: bool = False) -> None:
        """Stop the pool: wait for running tasks, or (``terminate``) kill the workers."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if not terminate:
            pool.shutdown(wait=True, cancel_futures=True)
            return
        procs = dict(getattr(pool, "_processes", None) or {})
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs.values():
            if proc.is_alive():
                proc.terminate()
        for proc in procs.values():
            proc.join(timeout=5)

    def __exit__(self, exc_type: object, *rest: object) -> None:
        # Leaving on an error or Ctrl-C: do not wait for tasks nobody will read.
        self.close(terminate=exc_type is not None)

    def describe(self) -> str:
        return f"{self.workers} local processes"


class DaskExecutor(_Base):
    """Tasks on a Dask cluster: a new LocalCluster on 127.0.0.1, or a running scheduler.

    ``workers`` is the number of worker processes of a new LocalCluster
    (one thread each: the simulator is pure Python and holds the GIL); with
    ``address`` it is ignored and the cluster's total threads count instead.
    """

    kind = "dask"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        try:  # Dask is an optional extra (creditsim[dask]): loaded only when asked for
            from distributed import Client, LocalCluster
        except ImportError:
            raise UsageError(
                "executor='dask' needs Dask: pip install 'creditsim[dask]' (dask[distributed])"
            ) from None
        self.address = address
        self._cluster: Any = None
        self._client: Any = None
        if address is None:
            n = workers or available_cpus()
            import dask  # the optional extra, as above

            with dask.config.set(_QUIET_DASK):
                self._cluster = LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=":0",  # a free port: never clash with 8787
                    silence_logs=logging.ERROR,
                )
            self._client = Client(self._cluster)
        else:
            problem = scheduler_problem(address)
            if problem is not None:
                raise UsageError(f"scheduler: {problem}")
            try:
                self._client = Client(address, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise UsageError(f"scheduler {address}: cannot connect: {exc}") from None
        threads = sum(self._client.nthreads().values())
        if threads == 0 and address is not None:
            # A scheduler with no worker yet: wait a little for one to join.
            try:
                self._client.wait_for_workers(1, timeout=30)
            except (TimeoutError, OSError):
                self.close()
                raise UsageError(f"scheduler {address}: no Dask worker joined in 30 s") from None
            threads = sum(self._client.nthreads().values())
        self.workers = max(1, threads)

    @property
    def client(self) -> Any:
        """The :class:`distributed.Client` (for callers that need more)."""
        return self._client

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """Every result, in order. A task whose worker dies is run again elsewhere by
        the scheduler; when it keeps dying (``KilledWorker``, after the scheduler's
        ``allowed-failures``) or the scheduler goes away, one :class:`ExecutionError`
        line instead of a traceback or a wait without end."""
        from distributed import KilledWorker  # the optional extra, present: we have a client

        futures = self._client.map(fn, list(items), pure=False)
        try:
            return list(self._client.gather(futures))
        except KilledWorker as exc:
            raise task_failure(exc) from None
        except (OSError, TimeoutError, CancelledError) as exc:
            raise self._lost(exc) from None
        finally:
            with contextlib.suppress(Exception):  # a client whose scheduler is gone
                self._client.cancel(futures)

    def everywhere(self, fn: Callable[[Any], Any], item: Any) -> list[Any]:
        """``fn(item)`` on every worker of the cluster (``Client.run``), one result each."""
        try:
            return list(self._client.run(fn, item).values())
        except (OSError, TimeoutError, CancelledError) as exc:
            raise self._lost(exc) from None

    def _lost(self, exc: BaseException) -> ExecutionError:
        """The one line for work lost with the scheduler (or cancelled under us)."""
        where = self.address or "the LocalCluster"
        return ExecutionError(
            f"Dask: lost the scheduler at {where} while the work ran "
            f"({type(exc).__name__}); nothing was written: run it again"
        )

    def unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Completed]:
        from distributed import as_completed  # the optional extra, present: we have a client

        source = enumerate(items)
        pending: dict[Any, int] = {}
        queue = as_completed()
        window = _IN_FLIGHT_PER_WORKER * max(self.workers, sum(self._client.nthreads().values()))

        def fill() -> None:
            while len(pending) < window:
                nxt = next(source, None)
                if nxt is None:
                    return
                fut = self._client.submit(fn, nxt[1], pure=False)
                pending[fut] = nxt[0]
                queue.add(fut)

        try:
            fill()
            for fut in queue:
                i = pending.pop(fut)
                if fut.status == "finished":
                    value, error = fut.result(), None
                else:
                    value = None
                    try:
                        error = fut.exception()
                    except Exception as exc:  # cancelled, or the scheduler went away
                        error = self._lost(exc)
                    if error is None:
                        error = self._lost(RuntimeError(f"task status {fut.status!r}"))
                fut.release()
                yield Completed(i, value, error)
                fill()
        finally:
            if pending:
                with contextlib.suppress(Exception):  # a client whose scheduler is gone
                    self._client.cancel(list(pending))

    def close(self) -> None:
        client, self._client = getattr(self, "_client", None), None
        cluster, self._cluster = self._cluster, None
        if client is not None:
            with contextlib.suppress(Exception):  # a client whose scheduler is gone
                client.close()
        if cluster is not None:
            cluster.close()

    def describe(self) -> str:
        if self.address is None:
            return f"a Dask LocalCluster of {self.workers} workers"
        return f"the Dask cluster at {self.address} ({self.workers} threads)"


#: Schemes a Dask scheduler listens on that a client can reach.
SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def scheduler_problem(address: str) -> str | None:
    """What is wrong with a scheduler ``address`` (Dask's ``[SCHEME://]HOST:PORT``, tcp by
    default), or None; whether it answers is only found by connecting."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    if scheme not in SCHEDULER_SCHEMES:
        return (f"unknown scheme {scheme!r} in {address!r}: use one of "
                f"{', '.join(SCHEDULER_SCHEMES)}, as in tcp://host:8786")  # fmt: skip
    host, colon, port = rest.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # an IPv6 address: tcp://[::1]:8786
    if not colon or not port.isdigit() or not 0 < int(port) < 65536:
        return f"{address!r} needs a port from 1 to 65535, as in tcp://host:8786"
    if not host or any(c.isspace() or c in "/?#@" for c in host):
        return f"{address!r} has no valid host, as in tcp://host:8786"
    return None


def check_workers(workers: Any) -> int | None:
    """``workers`` if it is None or a whole number >= 1; else :class:`UsageError`."""
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise UsageError(f"workers must be a whole number >= 1, got {workers!r}")
    return workers


def executor_kind(executor: Any = None, scheduler: str | None = None) -> str | None:
    """``"local"`` or ``"dask"`` for ``executor`` (None, a name, or an executor: None) and
    ``scheduler`` (an address implies Dask); :class:`UsageError` for a bad combination."""
    if isinstance(executor, str) and executor not in EXECUTORS:
        raise UsageError(f"executor: must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if scheduler is not None and executor not in (None, "dask"):
        raise UsageError("scheduler needs executor='dask'")
    if scheduler is not None:
        return "dask"
    if executor is None:
        return "local"
    return executor if isinstance(executor, str) else None


class Execution:
    """Where work runs, resolved: ``workers`` tasks at once on ``executor``.

    ``executor`` is None only for a local run made with ``pool=False`` (the
    runner then starts its own processes, or none for one worker). Used as a
    context manager, it closes the executor it started (killing local workers
    on an error or Ctrl-C), never one it was given.
    """

    def __init__(self, workers: int, executor: Executor | None, owned: bool) -> None:
        self.workers = workers
        self.executor = executor
        self._owned = executor if owned else None

    def describe(self) -> str:
        """Where the work runs, in words (``2 local processes``, ``this process``, ...)."""
        if self.executor is None:
            return "this process" if self.workers == 1 else f"{self.workers} local processes"
        describe = getattr(self.executor, "describe", None)
        return describe() if describe is not None else type(self.executor).__name__

    def close(self) -> None:
        owned, self._owned = self._owned, None
        if owned is not None:
            owned.close()

    def __enter__(self) -> Execution:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        owned, self._owned = self._owned, None
        if owned is not None:
            owned.__exit__(exc_type, *rest)


def resolve_execution(
    workers: int | None = None,
    executor: str | Executor | None = None,
    scheduler: str | None = None,
    *,
    default_workers: int = 1,
    pool: bool = True,
) -> Execution:
    """The one reading of ``workers``, ``executor`` and ``scheduler`` (the API's and the
    command line's): how many tasks at once, and on what.

    ``workers`` None or a whole number >= 1 (None: ``default_workers`` locally,
    every CPU for a new Dask LocalCluster, the cluster's threads at
    ``scheduler``). ``executor`` None or ``"local"`` (this process for one
    worker, else a process pool), ``"dask"`` (a LocalCluster of ``workers``, or
    the cluster at ``scheduler``), or an executor of this module (used as it
    is, and left open). With ``pool=False`` a local executor is not started
    (``executor`` None: the runner shards a run over its own processes).
    The result's ``workers`` is how many tasks run at once (for a run, its
    shards). Raises :class:`UsageError` for a bad combination, naming the
    parameters (``scheduler needs executor='dask'``).
    """
    check_workers(workers)
    kind = executor_kind(executor, scheduler)
    if kind is None:  # an executor given: ours to use, not to close
        given = cast(Executor, executor)
        return Execution(workers or max(1, int(getattr(given, "workers", 1))), given, False)
    if kind == "dask":
        dask = DaskExecutor(scheduler, workers)
        return Execution(workers or dask.workers, dask, True)
    n = workers if workers is not None else default_workers
    if not pool:
        return Execution(n, None, False)
    local: SerialExecutor | LocalExecutor = SerialExecutor() if n == 1 else LocalExecutor(n)
    return Execution(n, local, True)


def make_executor(
    kind: str = "local", workers: int | None = None, scheduler: str | None = None
) -> SerialExecutor | LocalExecutor | DaskExecutor:
    """The executor ``kind`` (``local`` or ``dask``) with ``workers`` workers.

    ``local``: this process for one worker, else a process pool (``workers``
    None: every CPU). ``dask``: a LocalCluster of ``workers`` processes, or
    the cluster whose scheduler is at ``scheduler``. Raises
    :class:`UsageError` for a bad combination.
    """
    execution = resolve_execution(workers, kind, scheduler, default_workers=available_cpus())
    assert execution.executor is not None  # a pool was asked for
    return cast("SerialExecutor | LocalExecutor | DaskExecutor", execution.executor)
