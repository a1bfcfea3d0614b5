"""Running a plan: every run of a sweep, compare or study, streamed to disk, resumable.

Job: :func:`execute` checks the output folder (:func:`check_out`), writes
``runs.csv`` and ``sweep.json``, hands the runs still to do to an executor
(:mod:`simulator.executors`), writes each finished run at once to its own
record (``runs/<run id>-r<rep>.json``, ok or failed), tells a
:class:`Progress` about it, and at the end has the tables and plots built
(:func:`simulator.sweeps.collect.write_tables`). With ``resume`` the runs
whose record says they succeeded are not run again. The outcome is a
:class:`SweepResult`.

Boundary: one run is :func:`simulator.runner.run`; where the files are and
what they hold is :mod:`simulator.sweeps.folder`; the tables are built only
from the records, never from the order runs finished in, so any executor and
any number of workers, interrupted and resumed or not, give the same tables.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from tqdm import tqdm

from simulator.errors import UsageError
from simulator.executors import Executor, SerialExecutor
from simulator.outputs import atomic_write_text, cannot_write
from simulator.runner import run, write_run
from simulator.scenario import Scenario
from simulator.sweeps.collect import write_tables
from simulator.sweeps.folder import (
    FORMAT_VERSION,
    is_done,
    read_record,
    record_path,
    sweep_meta,
)
from simulator.sweeps.plan import Plan

__all__ = ["Progress", "SweepResult", "TqdmProgress", "check_out", "execute"]


@dataclass(frozen=True)
class _Task:
    run_id: str
    replication: int
    seed: int
    scenario: Scenario
    keep_dir: str | None


def _execute(task: _Task) -> dict[str, Any]:
    """Run one replication of one point (in a worker); return its summary or its error."""
    started = time.time()
    t0 = time.perf_counter()
    c0 = time.thread_time()
    summary = error = trace = None
    simulate_s = None
    try:
        result = run(task.scenario, seed=task.seed, keep_tables=task.keep_dir is not None)
        summary = _flat_summary(result.summary)
        simulate_s = result.meta.get("timings", {}).get("simulate_s")
        if task.keep_dir is not None:
            write_run(result, task.keep_dir)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        error = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        trace = traceback.format_exc(limit=-10)
    return {
        "summary": summary,
        "error": error,
        "traceback": trace,
        "timings": {
            "started_at": _iso(started),
            "wall_s": round(time.perf_counter() - t0, 4),
            "cpu_s": round(time.thread_time() - c0, 4),
            "simulate_s": simulate_s,
            "worker": f"{socket.gethostname()}:{os.getpid()}",
        },
    }


def _flat_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A run's summary as one row of metrics: the ``steady_state`` block becomes two columns.

    ``steady`` (the verdict, None when too short to say) and
    ``suggested_warmup_days``; the weekly series stay in the run's own
    ``summary.json`` (``--keep-runs``).
    """
    out = {k: v for k, v in summary.items() if k != "steady_state"}
    block = summary.get("steady_state")
    if isinstance(block, Mapping):
        out["steady"] = block.get("steady")
        out["suggested_warmup_days"] = block.get("suggested_warmup_days")
    return out


def _iso(epoch: float) -> str:
    stamp = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class Progress(Protocol):
    """Told when a sweep starts (runs in all, runs already done) and after every run."""

    def start(self, total: int, done: int) -> None: ...

    def update(self, record: Mapping[str, Any]) -> None: ...

    def close(self) -> None: ...


def tqdm_bar() -> Any:
    """tqdm's bar class: the notebook widget when ipywidgets is there, else the text bar
    (never tqdm's warning about a missing widget)."""
    try:  # ipywidgets is optional (for notebooks): only whether the widget can be drawn
        import ipywidgets  # noqa: F401
        from tqdm import auto
    except ImportError:
        return tqdm
    return auto.tqdm


class TqdmProgress:
    """A tqdm bar over runs, with rate and ETA."""

    def __init__(self, desc: str = "runs", **kwargs: Any) -> None:
        self.desc = desc
        self.kwargs = kwargs
        self.bar: Any = None
        self.failed = 0

    def start(self, total: int, done: int) -> None:
        self.bar = tqdm_bar()(total=total, initial=done, unit="run", desc=self.desc,
                              **self.kwargs)  # fmt: skip

    def update(self, record: Mapping[str, Any]) -> None:
        if record.get("error"):
            self.failed += 1
            self.bar.set_postfix(failed=self.failed, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class SweepResult:
    """What a sweep (or compare) did and where its files are.

    ``complete`` is False when some runs did not finish (a worker died or
    the pool broke): ``lost`` lists them, and the tables were not built; run
    again with ``resume=True``. ``failed`` lists runs that raised, as
    ``(run_id, replication, error)``.
    """

    out: Path
    plan: Plan
    ran: int
    skipped: int
    failed: list[tuple[str, int, str]]
    lost: list[tuple[str, int, str]]
    seconds: float
    files: list[Path] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.lost

    @property
    def ok(self) -> bool:
        return self.complete and not self.failed

    def results(self) -> pd.DataFrame:
        """``results.parquet`` as a DataFrame."""
        return pd.read_parquet(self.out / "results.parquet")

    def summary(self) -> pd.DataFrame:
        """``summary.csv`` as a DataFrame."""
        return pd.read_csv(self.out / "summary.csv")


def check_out(out: str | Path, plan: Plan, resume: bool) -> None:
    """Refuse an ``out`` that is a file, someone else's folder, or (without ``resume``,
    or with another plan) an earlier sweep. Writes nothing."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"out {out}: exists and is not a directory")
    problem = cannot_write(out)
    if problem is not None:
        raise UsageError(f"out {out}: {problem}")
    if not out.is_dir() or not any(out.iterdir()):
        return
    marker = out / "sweep.json"
    if not marker.is_file():
        raise UsageError(f"out {out}: not empty and not a creditsim sweep; "
                         "choose another directory")  # fmt: skip
    try:
        earlier = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"out {out}: cannot read sweep.json: {exc}") from None
    if not resume:
        raise UsageError(f"out {out}: holds an earlier {earlier.get('kind', 'sweep')}; "
                         "pass resume=True to finish it, or choose another directory")  # fmt: skip
    known = earlier.get("fingerprint")
    if earlier.get("kind") != plan.kind or (
        known != plan.fingerprint() and known != plan.yaml_fingerprint()
    ):
        raise UsageError(f"resume: {out} holds a different {earlier.get('kind', 'sweep')} "
                         "(its scenario, keys, values, replications or seed differ); "
                         "choose another out")  # fmt: skip


def execute(
    plan: Plan,
    out: str | Path,
    executor: Executor | None = None,
    *,
    resume: bool = False,
    keep_runs: bool = False,
    progress: Progress | None = None,
    plots: bool = True,
    plot_metrics: str | Sequence[str] | None = None,
    files: Mapping[str, str] | None = None,
) -> SweepResult:
    """Run ``plan`` on ``executor`` (default: this process), streaming results to ``out``.

    ``plot_metrics`` chooses the metrics of the sweep plots (see
    :func:`simulator.sweeps.figures.plot_sweep_key`).
    ``files`` (name -> text) are written with ``runs.csv``, before any run (a
    sensitivity study's design).

    Writes ``runs.csv`` and ``sweep.json`` first, then ``runs/<run id>-r<rep>.json``
    as each run finishes (atomically), then the tables and plots. With
    ``resume``, runs whose file exists and records success are not run again
    (failed runs are). With ``keep_runs`` every run also writes its full run
    directory to ``runs/<run id>-r<rep>/`` (from the worker: on a remote
    cluster ``out`` must be on a shared file system).
    """
    started = time.perf_counter()
    out = Path(out)
    check_out(out, plan, resume)
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    if not (out / "sweep.json").is_file():
        atomic_write_text(out / "runs.csv", plan.table_csv())
        for name, text in (files or {}).items():
            atomic_write_text(out / name, text)
        meta = sweep_meta(plan)
        # sweep.json last: it marks the folder as a sweep that can be resumed.
        atomic_write_text(out / "sweep.json", json.dumps(meta, indent=2) + "\n")
    _remove_leftovers(runs_dir)

    tasks: list[_Task] = []
    params: list[Mapping[str, Any]] = []
    skipped = 0
    for point, r, seed in plan.rows():
        if resume and is_done(read_record(record_path(out, point.run_id, r)), point.run_id,
                               r, seed):  # fmt: skip
            skipped += 1
            continue
        keep = str((runs_dir / f"{point.run_id}-r{r}").resolve()) if keep_runs else None
        tasks.append(_Task(point.run_id, r, seed, point.scenario, keep))
        params.append(point.params)

    lost: list[tuple[str, int, str]] = []
    pool: Any = executor if executor is not None else SerialExecutor()
    if progress is not None:
        progress.start(plan.runs, skipped)
    try:
        for done in pool.unordered(_execute, tasks):
            task = tasks[done.index]
            if done.error is not None:
                lost.append((task.run_id, task.replication,
                             f"{type(done.error).__name__}: {done.error}"))  # fmt: skip
                continue
            outcome = done.value
            record = {
                "format_version": FORMAT_VERSION,
                "run_id": task.run_id,
                "replication": task.replication,
                "seed": task.seed,
                "params": dict(params[done.index]),
                "status": "ok" if outcome["error"] is None else "error",
                "error": outcome["error"],
                "traceback": outcome["traceback"],
                "summary": outcome["summary"],
                "timings": outcome["timings"],
            }
            text = json.dumps(record, indent=1, default=_json_default) + "\n"
            atomic_write_text(record_path(out, task.run_id, task.replication), text)
            if progress is not None:
                progress.update(record)
    finally:
        if progress is not None:
            progress.close()

    result = SweepResult(out, plan, len(tasks) - len(lost), skipped, [], lost, 0.0)
    if not lost:
        result.files, result.failed = write_tables(out, plan, plots, plot_metrics)
    result.seconds = time.perf_counter() - started
    return result


def _remove_leftovers(runs_dir: Path) -> None:
    """Temporary files of a process killed mid-write (never a finished file)."""
    for path in runs_dir.glob(".*"):
        if path.is_file() and path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)
        elif path.is_dir() and path.name.endswith(".partial"):
            shutil.rmtree(path, ignore_errors=True)
