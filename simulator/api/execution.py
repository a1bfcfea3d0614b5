"""Running a sweep's, compare's or study's plan: where the runs go and how it went.

Job: :func:`execute_plan`, the one way a plan of :mod:`simulator.sweeps` is
run, for the API's :func:`~simulator.api.sweep`, :func:`~simulator.api.compare`
and :func:`~simulator.api.sensitivity` and for the command line: check the
output folder, resolve ``workers``/``executor``/``scheduler``
(:func:`simulator.executors.resolve_execution`), refuse runs that would not
fit in memory, run, and (``complete``) insist that every run finished.
:func:`check_plan_memory` is the memory check; :func:`saved_runs` counts
what an interrupted plan kept, :func:`unsteady_runs` the runs whose measured
window is not steady.

Boundary: no planning (the scenarios and points come in a
:class:`simulator.sweeps.Plan`) and no reading of the results (that is
:class:`~simulator.api.Sweep`). Messages name parameters, never flags.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from simulator import estimate, sweeps
from simulator.api.notebook import _progress
from simulator.errors import UsageError
from simulator.executors import (
    Executor,
    available_cpus,
    check_workers,
    executor_kind,
    resolve_execution,
)
from simulator.scratch import scratch_dir
from simulator.steady import recommended_warmup_days
from simulator.sweeps import Plan, Progress, SweepResult

__all__ = ["check_plan_memory", "execute_plan", "saved_runs", "unsteady_runs"]

_GUARD_HINT = (
    "a worker process is importing your script and reached a creditsim call that starts more "
    "processes: in a script run as `python script.py`, put the calls under `if __name__ == "
    '"__main__":` (as every process pool requires; notebooks and `python -c` need nothing)'
)


def _check_not_bootstrapping() -> None:
    """Refuse, with the fix, a pool started while a worker re-imports the user's script."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(f"creditsim: {_GUARD_HINT}")


def _api_workers(workers: Any, executor: Any, scheduler: str | None = None) -> int | None:
    """The API's ``workers`` for the resolver: its default, 1, leaves a Dask cluster (or an
    executor given) its own size (every CPU, or the scheduler's workers), as it always has."""
    check_workers(workers)
    return None if workers == 1 and executor_kind(executor, scheduler) != "local" else workers


def _out_dir(out: str | os.PathLike[str] | None, kind: str) -> Path:
    """``out``, or a new scratch folder removed when this Python process ends
    (:mod:`simulator.scratch`)."""
    return Path(out) if out is not None else scratch_dir(kind)


def check_plan_memory(plan: Plan, concurrent: int) -> None:
    """Refuse a plan whose ``concurrent`` local runs would not fit in memory, as a run is
    refused (:mod:`simulator.estimate`): the largest point's estimate times the runs at
    once. A Dask cluster's workers are not this machine: not checked."""
    available = estimate.available_memory_bytes()
    if available <= 0:
        return
    sizes: dict[int, tuple[int, Any]] = {}
    for point in plan.points:
        if point.scenario is not None:
            key = id(point.scenario)
            if key not in sizes:
                sizes[key] = (estimate.estimate_run_bytes(point.scenario), point)
    if not sizes:
        return
    largest, point = max(sizes.values(), key=lambda pair: pair[0])
    if largest * concurrent > available:
        at_once = f" x {concurrent} runs at once" if concurrent > 1 else ""
        fewer = ", or fewer workers" if concurrent > 1 else ""
        label = ", ".join(f"{k}={v}" for k, v in point.params.items())
        raise UsageError(
            f"{point.scenario.source} ({label}): estimated memory "
            f"{estimate.readable_bytes(largest)} per run{at_once} exceeds the "
            f"{estimate.readable_bytes(available)} available; pass force=True to start "
            f"anyway{fewer}"
        )


def unsteady_runs(out: str | os.PathLike[str]) -> tuple[int, int, int | None, int | None]:
    """Of the runs in ``out/results.parquet``: how many have a measured window that is not
    steady, how many there are, the latest day their weekly series settle, and the
    warm-up that would cover it (:func:`simulator.steady.recommended_warmup_days`)."""
    path = Path(out) / "results.parquet"
    if not path.is_file() or "steady" not in pq.read_schema(path).names:
        return 0, 0, None, None
    table = pq.read_table(path, columns=["steady", "suggested_warmup_days"]).to_pydict()
    flagged = [w for s, w in zip(table["steady"], table["suggested_warmup_days"], strict=True)
               if s is False]  # fmt: skip
    if not flagged:
        return 0, len(table["steady"]), None, None
    settled = max(w for w in flagged if w is not None)
    return len(flagged), len(table["steady"]), settled, recommended_warmup_days(settled)


def saved_runs(out: str | os.PathLike[str]) -> int:
    """How many runs of a plan run into ``out`` have their result saved (``runs/*.json``)."""
    runs = Path(out) / "runs"
    return sum(1 for _ in runs.glob("*.json")) if runs.is_dir() else 0


def execute_plan(
    plan: Plan,
    out: str | os.PathLike[str] | None = None,
    *,
    workers: int | None = None,
    executor: str | Executor | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    keep_runs: bool = False,
    progress: bool | Progress | None = True,
    plots: bool = True,
    plot_metrics: str | Sequence[str] | None = None,
    files: Mapping[str, str] | None = None,
    force: bool = True,
    complete: bool = True,
    on_start: Callable[[str], None] | None = None,
) -> SweepResult:
    """Run ``plan`` into ``out`` (default a scratch folder) and return its result.

    ``workers`` None runs as many local processes as are useful (the CPUs,
    at most one per run), or a Dask cluster of its own size;
    ``executor``/``scheduler`` as :func:`simulator.executors.resolve_execution`.
    ``progress``: True for a bar, or a :class:`simulator.sweeps.Progress`.
    Without ``force``, local runs that would not fit in memory together are
    refused before anything starts (:func:`check_plan_memory`). ``on_start``
    is told where the runs go (``2 local processes``) once the executor is up.
    With ``complete`` (the default), runs that did not finish (a worker died)
    raise :class:`UsageError`; without, the result says so (``lost``).
    Bad input raises before anything is written.
    """
    target = _out_dir(out, plan.kind)
    if out is not None:
        sweeps.check_out(target, plan, resume)
    kind = executor_kind(executor, scheduler)
    check_workers(workers)
    local_default = min(available_cpus(), plan.runs) or 1
    if kind == "local" and not force:
        check_plan_memory(plan, min(workers or local_default, plan.runs))
    _check_not_bootstrapping()
    bar = _progress(progress, plan.kind) if isinstance(progress, bool) else progress
    with resolve_execution(workers, executor, scheduler, default_workers=local_default) as run_on:
        if on_start is not None:
            on_start(run_on.describe())
        result = sweeps.execute(plan, target, run_on.executor, resume=resume,
                                keep_runs=keep_runs, progress=bar, plots=plots,
                                plot_metrics=plot_metrics, files=files)  # fmt: skip
    if complete:
        _check_complete(result, plan.kind)
    return result


def _check_complete(result: SweepResult, what: str) -> None:
    if not result.complete:
        first = result.lost[0][2]
        hint = f"; if this is a script: {_GUARD_HINT}" if "BrokenProcessPool" in first else ""
        raise UsageError(
            f"{what}: {len(result.lost)} runs did not finish ({first}); call again "
            f"with out={str(result.out)!r}, resume=True to finish them{hint}"
        )
