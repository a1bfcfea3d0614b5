"""Running a scenario: member batches over workers, merged, and written.

:func:`run` is what ``creditsim run`` and the Python API call. Members are
split by global index into consecutive batches (:func:`batch_ranges`); each
batch is simulated, assembled, checked and reduced to the sums behind
``summary.json`` (:func:`run_batch`) in this process, on local worker
processes or on a Dask cluster, through :mod:`simulator.executors`. Every
member draws from its own generator and every summary value is a sum over
members (:mod:`simulator.run_summary`), so the tables and the summary are
identical for any batch size, number of workers or executor. :func:`write_run`
writes a self-describing run directory (see README) atomically: files go to
a temporary folder beside it that is renamed into place at the end, so an
interrupted run never leaves a directory that looks complete.

Boundary: the batches, their merge and the run's metadata, and the staging
folder's life (a run made with ``out`` starts it, :func:`write_run` publishes
it); what the summary counts is :mod:`simulator.run_summary`'s, the run
directory's layout :mod:`simulator.runformat`'s.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import platform
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import simpy

from simulator import __version__, runformat
from simulator.errors import ExecutionError, InvariantError
from simulator.executors import Executor, check_workers, resolve_execution, task_failure
from simulator.invariants import check_run
from simulator.model import simulate_shard
from simulator.outputs import atomic_write_text
from simulator.population import Roster, member_ids, roster
from simulator.reports.run_tables import RunMeta, RunTables
from simulator.reports.sums import Merged, batch_sums, part_sums
from simulator.run_summary import finish_summary, merge_counts, summary_counts
from simulator.runformat import TABLES
from simulator.scenario import Scenario
from simulator.tables import SimTables, assemble, concat, shard_columns
from simulator.timeutil import format_instant
from simulator.violations import Violation
from simulator.yamlio import dump_yaml

__all__ = [
    "DEFAULT_BATCH_MEMBERS",
    "Batch",
    "RunResult",
    "batch_ranges",
    "run",
    "run_batch",
    "write_run",
]


@dataclass
class RunResult:
    """A finished run: its scenario, tables, summary and metadata."""

    scenario: Scenario
    seed: int
    tables: SimTables | None  # None for a run made with keep_tables=False
    summary: dict[str, Any]
    meta: dict[str, Any]
    #: The staging folder holding the batches' parts (a run made with ``out``), else None.
    staged: Path | None = None
    #: The report sums of every batch, added (a run made with ``reports=True``), else None.
    report_sums: dict[str, Any] | None = None


#: Members per batch, by default (``--batch-members``): at ``scenarios/bench.yaml``'s
#: rates (about 96 InMails and 194 ledger entries a member a year) one batch's
#: tables are about 40 MB for a year, and a worker that simulates it and reduces
#: it to its report sums peaks under 1 GiB (982 MiB measured; 1,890 MiB at 2,500
#: members, at the same speed: benchmarks/RESULTS.md); a run of a thousand
#: members or more still has a batch for each of a laptop's cores.
DEFAULT_BATCH_MEMBERS = 1_000


def batch_ranges(members: int, batch_members: int = DEFAULT_BATCH_MEMBERS) -> list[range]:
    """The consecutive global member indices of each batch of a run of ``members``.

    Fixed by the member count and the batch size alone (never by the number
    of workers or the executor), so the batches, and so the files, are the
    same however the run is executed. A run without members has one empty batch.
    """
    if isinstance(batch_members, bool) or not isinstance(batch_members, int) or batch_members < 1:
        raise ValueError(f"batch_members must be a whole number >= 1, got {batch_members!r}")
    if members == 0:
        return [range(0, 0)]
    return [range(lo, min(lo + batch_members, members)) for lo in range(0, members, batch_members)]


@dataclass
class Batch:
    """One simulated batch of members: its tables (unless dropped), the sums of its summary,
    its problems and its row counts (``rows``: per table, and ``simpy_events``)."""

    index: int
    members: range
    tables: SimTables | None
    counts: dict[str, Any]
    problems: list[str]
    rows: dict[str, int]
    #: The batch's report sums (:func:`simulator.reports.sums.batch_sums`), if asked for.
    report_sums: dict[str, Any] | None = None


_LAYOUTS: dict[bytes, tuple[Roster, pa.Array]] = {}


def _layout(scenario: Scenario) -> tuple[Roster, pa.Array]:
    """The run's roster and member ids, laid out once per process and run.

    Every batch needs the whole roster (arrivals are drawn for the whole run)
    and the ids of global indices; laying them out for each batch would cost
    time in proportion to the run for every batch. One run's layout is kept.
    """
    key = pickle.dumps(scenario)
    layout = _LAYOUTS.get(key)
    if layout is None:
        members = roster(scenario)
        layout = (members, pa.array(member_ids(scenario, members), pa.string()))
        _LAYOUTS.clear()
        _LAYOUTS[key] = layout
    return layout


def run_batch(
    job: tuple[Scenario, int, range, bool, str | None, bool],
    progress: Callable[[float], None] | None = None,
) -> Batch:
    """Simulate batch ``job = (scenario, index, members, keep_tables, folder, reports)``.

    Runs in a worker: the worker lays out the roster itself (it is fixed by the
    scenario and seed), assembles the batch's tables, reduces them to
    :func:`summary_counts` and checks every invariant on them (each member's
    rows are all in its batch), so the parent only merges. With ``folder``
    (the run's staging folder) the worker writes the batch's parts there
    (:func:`simulator.runformat.write_parts`) and, when the batch holds, its
    record for ``--resume``; the tables are kept only with ``keep_tables``.
    With ``reports`` it also computes the batch's report sums
    (:mod:`simulator.reports.sums`), so the parent writes the reports
    without reading a table.
    """
    scenario, index, indices, keep_tables, folder, with_reports = job
    members, ids = _layout(scenario)
    columns = shard_columns(simulate_shard(scenario, indices, progress, members), scenario)
    tables = assemble([columns], scenario, members, ids)
    counts = summary_counts(tables, scenario, members, indices.start, indices.stop)
    problems = check_run(tables, finish_summary(counts, scenario), scenario,
                         members_expected=len(indices))  # fmt: skip
    rows = {name: tables.arrow[name].num_rows for name in TABLES}
    rows["history"] = tables.history.num_rows
    rows["simpy_events"] = tables.events
    if folder is not None:
        runformat.write_parts(folder, index, tables)
        if not problems:
            record = {"index": index, "members": [indices.start, indices.stop],
                      "rows": rows, "counts": counts}  # fmt: skip
            runformat.write_record(folder, index, record)
    sums = None
    if with_reports and not problems:
        sums = batch_sums(RunTables.of(tables, report_meta(scenario)))
    return Batch(index, indices, tables if keep_tables else None, counts, problems, rows, sums)


def report_meta(scenario: Scenario) -> dict[str, Any]:
    """The keys of ``run.json`` that the reports read (:class:`simulator.reports.RunMeta`)."""
    return {
        "sim_start": format_instant(scenario.sim_start),
        "measure_start": format_instant(scenario.start),
        "end": format_instant(scenario.end),
        "refund_mode": scenario.policy.refund.mode,
        "refund_window_days": scenario.policy.refund.window_days,
        "credit_price_cents": scenario.pricing.credit_price_cents,
        "currency": scenario.pricing.currency,
    }


def _done_batch(record: dict[str, Any]) -> Batch:
    """A batch an interrupted run finished, from its record (``--resume``)."""
    lo, hi = record["members"]
    return Batch(record["index"], range(lo, hi), None, record["counts"], [], record["rows"])


def _can_write(folder: str) -> str | None:
    """On a worker: None if it sees the run's staging folder (its plan) and can write there."""
    where = f"the worker on {socket.gethostname()} (pid {os.getpid()})"
    try:
        probe = Path(folder) / ".batches" / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        (Path(folder) / ".batches" / "plan.json").read_bytes()
    except OSError as exc:
        return (f"{where} cannot use the run's folder {folder}: {exc.strerror or exc}; the "
                "workers write the parts themselves, so out must be on storage every "
                "worker sees (a shared file system)")  # fmt: skip
    return None


def run(
    scenario: Scenario,
    seed: int | None = None,
    workers: int = 1,
    progress: Callable[[float], None] | None = None,
    executor: Executor | None = None,
    warmup_record: dict[str, Any] | None = None,
    batch_members: int = DEFAULT_BATCH_MEMBERS,
    keep_tables: bool = True,
    out: str | Path | None = None,
    resume: bool = False,
    on_batch: Callable[[Batch], None] | None = None,
    reports: bool = False,
) -> RunResult:
    """Simulate ``scenario`` (with ``seed`` instead of its own, if given).

    Members are split into batches of ``batch_members`` consecutive global
    indices (:func:`batch_ranges`), each simulated and checked on its own
    (:func:`run_batch`), in this process, on ``workers`` local processes, or
    on ``executor`` (any :class:`simulator.executors.Executor`, for example
    a Dask cluster) when given. The tables and ``summary.json`` are the same
    for any batch size, number of workers or executor. ``progress``, if
    given, is called with simulated seconds as they pass (scaled by each
    batch's share of the members; with worker processes, once a batch ends).
    ``warmup_record`` says how ``warmup_days: auto`` was resolved
    (:func:`simulator.warmup.resolve_warmup`, which must run first); it is
    kept in ``summary.json`` as ``steady_state.auto``. ``on_batch``, if given,
    is called with each :class:`Batch` once it is done (its ``rows`` say what
    it wrote), those an interrupted run finished first.

    With ``out`` (the run directory to be), each batch's parts are written by
    whoever simulated it into ``out``'s staging folder
    (:func:`simulator.runformat.staging_dir`) and no table comes back to this
    process; :func:`write_run` then completes and publishes the folder. With
    ``resume``, the batches an interrupted run of the same scenario and batch
    size finished there are kept. A run that stops on the way (Ctrl-C, a
    worker lost, a disk full: any error but :class:`InvariantError`) keeps its
    staging folder for ``resume``; one that breaks an invariant removes it, as
    a resumed run would break it again. Without ``out``, ``keep_tables`` keeps the
    tables in memory (for small runs and the Python API); without either the
    result holds only the summary (a sweep's replications, the warm-up pilot).
    With ``reports`` (a run made with ``out``), each batch's report sums are
    computed where it was simulated and added here
    (:attr:`RunResult.report_sums`, for :func:`simulator.reports.write_reports`);
    those of batches resumed from an earlier attempt are read from their parts.
    """
    check_workers(workers)
    if seed is not None and seed != scenario.seed:
        scenario = scenario.with_overrides({"seed": seed})
    if scenario.auto_warmup:
        raise ValueError(
            f"{scenario.source}: warmup_days is auto; resolve it first "
            "(simulator.warmup.resolve_warmup)"
        )
    started = time.perf_counter()
    members = roster(scenario)
    ranges = batch_ranges(members.size, batch_members)
    staged: Path | None = None
    done_batches: dict[int, Batch] = {}
    if out is not None:
        keep_tables = False
        plan = runformat.plan_of(dump_yaml(scenario.to_dict()), batch_members, members.size)
        staged, records = runformat.start_staging(out, plan, resume)
        done_batches = {i: _done_batch(r) for i, r in records.items() if i < len(ranges)}
    folder = None if staged is None else str(staged)
    with_reports = reports and folder is not None
    jobs = [(scenario, i, r, keep_tables, folder, with_reports) for i, r in enumerate(ranges)
            if i not in done_batches]  # fmt: skip
    span = scenario.end + 1 - scenario.sim_start
    share = [len(r) / max(1, members.size) for r in ranges]
    sums = _SumsOfBatches() if with_reports else None

    def keep(batch: Batch) -> Batch:
        """Keep a finished batch; its report sums are added now and dropped from it, so
        this process holds the run's sums, never every batch's."""
        done_batches[batch.index] = batch
        if sums is not None:
            sums.take(batch)
        return batch

    if progress is not None and done_batches:
        progress(span * sum(share[i] for i in done_batches))
    if on_batch is not None:
        for done_batch in done_batches.values():
            on_batch(done_batch)
    if executor is None and workers == 1:
        for job in jobs:
            part = share[job[1]]
            scaled = None if progress is None else (lambda s, part=part: progress(s * part))
            batch = keep(run_batch(job, scaled))
            if on_batch is not None:
                on_batch(batch)
    elif jobs:
        with contextlib.ExitStack() as stack:
            # A pool of our own is stopped on leaving; on an error or Ctrl-C its
            # workers are killed rather than waited for (LocalExecutor.__exit__).
            pool = stack.enter_context(resolve_execution(workers, executor)).executor
            assert pool is not None  # a pool was asked for
            if folder is not None:
                # Workers write the parts: each must see the staging folder (a
                # Dask worker on another machine needs shared storage). Asked
                # before any work, so a worker that cannot is an error, not a hang.
                for problem in pool.everywhere(_can_write, folder):
                    if problem is not None:
                        raise ExecutionError(problem)
            for done in pool.unordered(run_batch, jobs):
                if done.error is not None:
                    raise task_failure(done.error)
                # done.index counts the jobs; a resumed run has fewer jobs than batches.
                keep(done.value)
                if progress is not None:
                    progress(span * share[done.value.index])
                if on_batch is not None:
                    on_batch(done.value)
    batches = [done_batches[i] for i in range(len(ranges))]
    simulated = time.perf_counter() - started
    tables = concat([b.tables for b in batches if b.tables is not None]) if keep_tables else None
    summary = finish_summary(merge_counts(b.counts for b in batches), scenario)
    summary["steady_state"]["auto"] = warmup_record
    # Every invariant was checked on each batch (conservation, signs, counts
    # that must agree); a run that breaks one is an error, never a result.
    # What only the whole run can show: that the merged tables hold every
    # batch's rows and every member once.
    problems = _run_problems(batches, tables, members.size)
    if problems:
        error = InvariantError(
            f"{scenario.source}: the run broke {len(problems)} invariant(s); not a result:",
            *problems,
            history=_failing_history(batches, tables, staged),
            scenario=scenario,
        )
        if staged is not None:
            # Not a result, and nothing to resume: the batches are the same every time,
            # so a resumed run would break the same invariants. The failing members'
            # histories are in the error (for invariant-failures/); the parts go.
            shutil.rmtree(staged, ignore_errors=True)
        raise error
    merged = None
    if sums is not None:
        assert staged is not None
        merged = sums.finish(batches, scenario, staged)
    wall = time.perf_counter() - started
    keys = report_meta(scenario)
    meta = {
        "format_version": runformat.FORMAT_VERSION,
        "scenario": scenario.name,
        "sim_start": keys["sim_start"],
        "measure_start": keys["measure_start"],
        "end": keys["end"],
        "seed": scenario.seed,
        "workers": workers,
        "batch_members": batch_members,
        "refund_mode": keys["refund_mode"],
        "refund_window_days": keys["refund_window_days"],
        "credit_price_cents": keys["credit_price_cents"],
        "currency": keys["currency"],
        "versions": _versions(),
        "timings": {"simulate_s": round(simulated, 3), "total_s": round(wall, 3)},
        "counts": {
            "members": members.size,
            "members_initial": members.initial,
            "ledger_entries": sum(b.rows["ledger"] for b in batches),
            "inmails_attempted": sum(b.rows["inmails"] for b in batches),
            "history_rows": sum(b.rows["history"] for b in batches),
            "simpy_events": sum(b.rows["simpy_events"] for b in batches),
        },
        "batches": [
            {
                "index": b.index,
                "members": [b.members.start, b.members.stop],
                "rows": {name: b.rows[name] for name in runformat.PARTS},
            }
            for b in batches
        ],
    }
    return RunResult(scenario, scenario.seed, tables, summary, meta, staged, merged)


class _SumsOfBatches:
    """The report sums of a run's batches, added as the batches finish."""

    def __init__(self) -> None:
        self.merged = Merged()
        self.added: set[int] = set()

    def take(self, batch: Batch) -> None:
        """Add ``batch``'s report sums and drop them from it."""
        if batch.report_sums is not None:
            self.merged.add(batch.report_sums)
            self.added.add(batch.index)
            batch.report_sums = None

    def finish(self, batches: list[Batch], scenario: Scenario, staged: Path) -> dict[str, Any]:
        """Every batch's sums added; a resumed batch's are read from its parts."""
        meta = RunMeta(report_meta(scenario))
        for batch in batches:
            if batch.index not in self.added:
                self.merged.add(part_sums(staged, batch.index, meta))
                self.added.add(batch.index)
        return self.merged.sums


def _failing_history(
    batches: list[Batch], tables: SimTables | None, staged: Path | None
) -> pa.Table | None:
    """The history of the batches that broke an invariant (to write their members')."""
    if tables is not None:
        return tables.history
    if staged is None:
        return None
    failing = [b.index for b in batches if b.problems] or [b.index for b in batches]
    return runformat.history_text(runformat.part_path(staged, "history", i) for i in failing)


def _run_problems(
    batches: list[Batch], tables: SimTables | None, expected_members: int
) -> list[str]:
    """The batches' problems (the first failing batch's lines, then one line for each
    other), and the merged tables' row counts against the batches' and the roster."""
    problems: list[str] = []
    failing = [b for b in batches if b.problems]
    if failing:
        problems += failing[0].problems
        for b in failing[1:]:
            members = {m for line in b.problems for m in getattr(line, "members", ())}
            where = f"members {b.members.start:,} to {b.members.stop - 1:,} (batch {b.index})"
            more = f"{len(b.problems)} more invariant line(s) of the kinds above"
            problems.append(Violation(f"{where}: {more}", members))
    merged = {name: sum(b.rows[name] for b in batches) for name in (*TABLES, "history")}
    if tables is not None:
        for name, rows in merged.items():
            got = tables.history.num_rows if name == "history" else tables.arrow[name].num_rows
            if got != rows:
                problems.append(f"{name}: {got:,} rows after merging, but the batches "
                                f"wrote {rows:,}")  # fmt: skip
        merged["members"] = tables.arrow["members"].num_rows
    if merged["members"] != expected_members:
        problems.append(f"members table: {merged['members']:,} members after merging, but "
                        f"the scenario has {expected_members:,} (present at the start "
                        "and arrivals)")  # fmt: skip
    return problems


def _versions() -> dict[str, str]:
    return {
        "creditsim": __version__, "python": platform.python_version(), "simpy": simpy.__version__,
        "numpy": np.__version__, "pandas": pd.__version__, "pyarrow": pa.__version__,
    }  # fmt: skip


def write_run(
    result: RunResult, out: str | Path, before_publish: Callable[[Path], Any] | None = None
) -> Path:
    """Complete and publish the run directory ``out`` (format 2: :mod:`simulator.runformat`).

    A run made with ``out`` has its parts in the staging folder already; a
    run held in memory has its tables split into its batches' parts here.
    ``scenario.yaml``, ``summary.json`` and ``run.json`` (last) are added,
    ``before_publish``, if given, is called with the folder (the reports are
    written there), and the folder is renamed into place, so an interrupted
    write leaves no folder that looks complete. If this fails, the staging
    folder of a run made with ``out`` is kept, with its batch records, for
    ``--resume`` (which then only writes the reports again); one made here
    is removed.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    made_here = result.staged is None
    if made_here:
        if result.tables is None:
            raise ValueError("write_run needs a run made with out= or keep_tables=True")
        ranges = [range(*b["members"]) for b in result.meta["batches"]]
        plan = runformat.plan_of(dump_yaml(result.scenario.to_dict()),
                                 int(result.meta["batch_members"]), ranges[-1].stop)  # fmt: skip
        tmp, _ = runformat.start_staging(out, plan, resume=False)
    else:
        assert result.staged is not None
        tmp = result.staged
    try:
        if made_here:
            assert result.tables is not None
            for i, part in enumerate(runformat.split_tables(result.tables, ranges)):
                runformat.write_parts(tmp, i, part)
        atomic_write_text(tmp / "scenario.yaml", dump_yaml(result.scenario.to_dict()))
        atomic_write_text(tmp / "summary.json", json.dumps(result.summary, indent=2) + "\n")
        # run.json last: its presence marks a complete run directory.
        atomic_write_text(tmp / "run.json", json.dumps(result.meta, indent=2) + "\n")
        if before_publish is not None:
            before_publish(tmp)
        # The batch records go only now: a run interrupted while reporting
        # resumes with every batch done, and only writes its reports again.
        runformat.drop_records(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        if made_here:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
