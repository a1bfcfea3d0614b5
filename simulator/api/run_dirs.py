"""Run directories as ``creditsim run`` writes them: the whole flow, one call.

Job: :func:`run_to_dir` loads a scenario file with its overrides, checks the
arguments and the output folder, resolves ``warmup_days: auto``, refuses a
run that would not fit in memory or on disk, simulates in batches (resuming
an interrupted run), writes the members' histories when an invariant
fails, writes the reports into the folder before it is published, and
returns a :class:`SavedRun`. :func:`check_out_dir` is its check of the
output folder (also :func:`~simulator.api.replay_to_dir`'s),
:func:`staged_batches` says what an interrupted run kept, and
:func:`write_reports` (``creditsim report``) writes a run's reports again.

Boundary: the simulation, the staging and the directory's format are
:mod:`simulator.runner`'s and :mod:`simulator.runformat`'s; the estimates
:mod:`simulator.estimate`'s. Messages name parameters (``out``,
``workers``), never flags; the command line adds its flag names.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from simulator import estimate, reports, runformat, runner
from simulator.api.tables import _DAY
from simulator.errors import (
    CreditsimError,
    ExecutionError,
    InputError,
    InvariantError,
    UsageError,
)
from simulator.executors import check_workers, resolve_execution
from simulator.invariant_failures import write_failures
from simulator.outputs import cannot_write
from simulator.population import roster
from simulator.rundirs import default_run_dir, difference, stored_scenario
from simulator.runner import RunResult
from simulator.scenario import Scenario, load_scenario_with_overrides
from simulator.steady import recommended_warmup_days
from simulator.violations import offending_members
from simulator.warmup import resolve_warmup

__all__ = [
    "RunInterrupted",
    "RunLost",
    "SavedRun",
    "check_out_dir",
    "run_to_dir",
    "staged_batches",
    "write_reports",
]


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_to_dir`; ``out`` is where the run was going (its
    finished batches are kept for ``resume``: :func:`staged_batches`)."""

    def __init__(self, out: Path) -> None:
        super().__init__(str(out))
        self.out = out


class RunLost(ExecutionError):
    """A worker was lost during :func:`run_to_dir`; ``out`` is where the run was going
    (the batches the others finished are kept for ``resume``: :func:`staged_batches`)."""

    def __init__(self, *problems: str, out: Path) -> None:
        super().__init__(*problems)
        self.out = out


@dataclass
class SavedRun:
    """What :func:`run_to_dir` did: the run written to ``out``.

    ``scenario`` is the run's (seed and warm-up resolved), ``summary`` and
    ``meta`` its ``summary.json`` and ``run.json``; ``warmup`` the
    ``warmup_days: auto`` record (None when not auto); ``report_problems``
    one line per report that failed (the run itself is complete);
    ``recommended_warmup_days`` a warm-up that would make an unsteady
    measured window steady (None when it is steady).
    """

    out: Path
    scenario: Scenario
    summary: dict[str, Any]
    meta: dict[str, Any]
    reports: bool
    warmup: dict[str, Any] | None = None
    report_problems: list[str] = field(default_factory=list)
    recommended_warmup_days: int | None = None


def staged_batches(out: str | os.PathLike[str]) -> tuple[int, Path]:
    """How many batches an interrupted run to ``out`` finished, and the hidden folder
    that keeps them (for ``resume``)."""
    staging = runformat.staging_dir(Path(out))
    return (len(runformat.batch_records(staging)) if staging.is_dir() else 0), staging


def check_out_dir(
    text: str | os.PathLike[str],
    overwrite: bool,
    kind: str = "run",
    scenario: Scenario | None = None,
) -> Path:
    """The output folder ``text``, refused unless new, empty, or our own earlier output.

    An earlier output "of the same kind" is a run directory (``run.json``, or
    only ``invariant-failures/`` from a failed run) for ``kind="run"``, and a
    folder holding ``ledger.csv`` and ``balances.csv``, or ``ledger/`` and
    ``balances/`` parts, for ``kind="replay"``; it is replaced only with
    ``overwrite``. For a run the message says whether the folder holds a run
    of ``scenario`` or of a different one (and where they differ). Raises
    :class:`UsageError` naming ``out``.
    """
    if os.fspath(text) == "":
        raise UsageError("out: must not be empty")
    out = Path(text)
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"out {out}: {parent} is not a directory")
    if out.exists() and not out.is_dir():
        raise UsageError(f"out {out}: exists and is not a directory")
    # a run publishes its folder by renaming it in from beside it; a replay writes inside it.
    problem = cannot_write(out.parent if kind == "run" else out)
    if problem is not None:
        raise UsageError(f"out {out}: {problem}")
    if out.is_dir():
        names = {p.name for p in out.iterdir()}
        if names:
            if kind == "run":
                own = "run.json" in names or names == {"invariant-failures"}
            else:
                own = {"ledger.csv", "balances.csv"} <= names or {"ledger", "balances"} <= names
            if not own:
                raise UsageError(f"out {out}: not empty and not a creditsim output; "
                                 "choose another directory")  # fmt: skip
            if not overwrite:
                raise UsageError(_occupied(out, scenario))
    return out


def _occupied(out: Path, scenario: Scenario | None) -> str:
    """Why an earlier output at ``out`` stops a run: the same scenario, or another one."""
    held = stored_scenario(out) if scenario is not None else None
    if scenario is None or held is None:
        return f"out {out}: holds an earlier output; pass overwrite=True to replace it"
    diff = difference(held, scenario.to_dict(), auto_warmup=scenario.auto_warmup)
    if diff is None:
        return (f"out {out}: holds an earlier run of this scenario; pass overwrite=True "
                "to run it again there")  # fmt: skip
    return (f"out {out}: holds a run of a different scenario (they differ at {diff}); "
            "choose another out, or none for a folder of its own")  # fmt: skip


def run_to_dir(
    scenario: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    seed: int | None = None,
    overrides: Mapping[str | tuple[str | int, ...], Any] | None = None,
    argument_problems: Sequence[str] = (),
    workers: int | None = None,
    executor: str | None = None,
    scheduler: str | None = None,
    batch_members: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    force: bool = False,
    reports: bool = True,
    progress: bool = False,
    on_note: Callable[[str], None] | None = None,
) -> SavedRun:
    """Simulate the scenario file ``scenario`` into the run directory ``out``, as
    ``creditsim run`` does (it is this call), and say what was written.

    ``out`` defaults to ``runs/<name>-seed<N>/`` (:func:`simulator.rundirs.default_run_dir`);
    an earlier run there is replaced only with ``overwrite``; ``resume``
    finishes an interrupted run there, keeping its finished batches.
    ``overrides`` (dotted key path -> value) are applied to the file, and
    ``argument_problems`` (the caller's arguments that could not be read) are
    raised with the file's problems, in one pass. ``seed`` replaces the
    scenario's (``warmup_days: auto`` is resolved on the scenario's own
    seed, as sweeps do). ``workers``/``executor``/``scheduler`` as
    :func:`simulator.executors.resolve_execution`; ``batch_members`` as
    :func:`simulator.api.run`. Unless ``force``, a run whose estimated memory
    or output exceeds what the machine has is refused before it starts.
    ``reports`` writes ``reports/``, ``plots/`` and ``report.html`` into the
    folder before it is published (a report that fails is dropped and said
    in ``report_problems``). ``progress`` shows a bar on standard error;
    ``on_note`` is told what the run decided on the way (the warm-up chosen,
    a ``resume`` with nothing to resume).

    Raises :class:`~simulator.errors.CreditsimError` for bad input (nothing
    written), :class:`~simulator.errors.InvariantError` when a check fails
    (the offending members' histories written to ``out/invariant-failures/``),
    :class:`RunLost` (an :class:`~simulator.errors.ExecutionError`) when a worker
    was lost, and
    :class:`RunInterrupted` on Ctrl-C; the batches finished are kept for
    ``resume`` (:func:`staged_batches`).
    """
    say = on_note or (lambda line: None)
    try:
        as_written, sc = load_scenario_with_overrides(os.fspath(scenario), overrides or {},
                                                      f"{os.fspath(scenario)} (--set)")  # fmt: skip
    except CreditsimError as exc:  # the file's and the overrides' problems, in one pass
        raise type(exc)(*exc.problems, *argument_problems) from None
    if argument_problems:
        raise UsageError(*argument_problems)
    unseeded = sc
    if seed is not None:
        sc = sc.with_overrides({"seed": seed}, source="seed")
    check_workers(workers)
    if batch_members is not None and (isinstance(batch_members, bool) or batch_members < 1):
        raise UsageError(f"batch_members must be a whole number >= 1, got {batch_members!r}")
    if workers is not None and workers > sc.members:
        raise UsageError(f"workers must be at most the number of members ({sc.members}), "
                         f"got {workers}")  # fmt: skip
    default_out = default_run_dir(os.fspath(scenario), sc, as_written)
    folder = check_out_dir(default_out if out is None else out, overwrite, "run", sc)
    resolved, record = resolve_warmup(unseeded)
    if record is not None:
        sc = sc.with_overrides({"warmup_days": resolved.warmup_days}, source=sc.source)
        say(f"warm-up auto: {record['chosen_days']} days ({record['reason']})")
    batch = batch_members or runner.DEFAULT_BATCH_MEMBERS
    estimate.check_memory(sc, force, workers or 1, batch, reports=reports)
    estimate.check_disk(sc, folder, force)
    if resume and not runformat.staging_dir(folder).is_dir():
        say(f"resume: no interrupted run at {folder}; starting from the beginning")
    result = _simulate(sc, folder, workers, executor, scheduler, batch, resume, reports,
                       record, progress)  # fmt: skip
    saved = SavedRun(folder, sc, result.summary, result.meta, reports, record)
    try:
        if not reports:
            runner.write_run(result, folder)
        else:
            # Reports go into the run folder before it is published, so a run
            # interrupted while reporting leaves nothing that looks complete; a
            # report that fails is dropped, and the run is still published.
            # The workers computed each batch's report sums: no table is read again.
            def write(tmp: Path) -> None:
                saved.report_problems.extend(_reports_or_problems(tmp, result.report_sums))

            runner.write_run(result, folder, before_publish=write)
    except KeyboardInterrupt:
        raise RunInterrupted(folder) from None
    steady = result.summary["steady_state"]
    if steady["steady"] is False:
        saved.recommended_warmup_days = recommended_warmup_days(steady["suggested_warmup_days"])
    return saved


def _reports_or_problems(tmp: Path, sums: Any) -> list[str]:
    return reports.reports_or_problems(tmp, sums)


def _simulate(
    sc: Scenario,
    out: Path,
    workers: int | None,
    executor: str | None,
    scheduler: str | None,
    batch: int,
    resume: bool,
    reports: bool,
    record: dict[str, Any] | None,
    progress: bool,
) -> RunResult:
    """The run itself, in batches written to ``out``'s staging folder; a failed
    invariant's members written to ``out/invariant-failures/``."""
    bar = None
    on_progress = on_batch = None
    if progress:
        total_days = (sc.end + 1 - sc.sim_start) / _DAY
        bar = tqdm(total=round(total_days, 1), unit="day", desc=f"simulating {sc.name}",
                   file=sys.stderr, leave=False)  # fmt: skip
        batches = len(runner.batch_ranges(roster(sc).size, batch))
        done = {"batches": 0, "inmails": 0}

        def on_progress(seconds: float) -> None:
            bar.update(seconds / _DAY)

        def on_batch(finished: Any) -> None:
            done["batches"] += 1
            done["inmails"] += finished.rows["inmails"]
            bar.set_postfix_str(f"{done['batches']}/{batches} batches, "
                                f"{done['inmails']:,} InMails")  # fmt: skip

    try:
        # workers=1 (as None) lets a Dask cluster shard the run over all its workers.
        with resolve_execution(None if workers == 1 else workers, executor, scheduler,
                               pool=False) as on:  # fmt: skip
            return runner.run(sc, workers=on.workers, progress=on_progress,
                              executor=on.executor, warmup_record=record,
                              batch_members=batch, out=out, resume=resume,
                              on_batch=on_batch, reports=reports)  # fmt: skip
    except KeyboardInterrupt:
        raise RunInterrupted(out) from None
    except ExecutionError as exc:
        raise RunLost(*exc.problems, out=out) from exc
    except InvariantError as exc:
        assert exc.history is not None
        where = write_failures(out, exc.history, offending_members(exc.problems),
                               problems=exc.problems, scenario=sc)  # fmt: skip
        exc.problems = (*exc.problems, f"the offending members' histories are in {where}/")
        raise
    finally:
        if bar is not None:
            bar.close()


def write_reports(run_dir: str | os.PathLike[str], fmt: str = "csv") -> list[Path]:
    """Write ``RUN_DIR/reports/``, ``plots/`` and ``report.html`` again (``creditsim
    report``); the paths written. A folder that is not a run directory raises
    :class:`InputError`."""
    path = Path(run_dir)
    if not (path / "run.json").is_file():
        raise InputError(f"{path}: not a creditsim run directory (no run.json)")
    return reports.write_reports(path, fmt)
