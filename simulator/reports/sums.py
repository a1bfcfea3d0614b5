"""Report sums: every report of a run from small sums that add over batches of members.

Job: each report of :mod:`simulator.reports` is split into what a batch of
members contributes (integer sums per group, integer histograms for
percentiles, per-member rows; ``*_sums``) and what the run's figures are
once those are added up (rates, percentiles, margins, order; ``*_finish``);
:data:`simulator.reports.registry.REPORTS` names both for each report. A
run's worker computes :func:`batch_sums` on the batch it simulated, the
parent adds them (:class:`Merged`) and writes the reports from the result
(:func:`frames`), so no process ever holds the run's tables; ``creditsim
report RUN`` does the same over the run's parts (:func:`run_sums`), one
batch at a time.

Why the files do not depend on the batches: every sum is of integers (exact
in any order), a member's rows are all in its batch (so per-member rows and
lots never span two batches), and the finishing step sorts what it lists.
:func:`simulator.reports.report_frames` is :func:`frames` of one batch that
holds the whole run, so the two paths are one code path (tested: the report
files of a run in several batches equal those of the same tables in one).

Boundary: the figures themselves (what each column means) are defined in
the report modules; this module only adds and dispatches, in the registry's
order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.columns import ParquetTable
from simulator.errors import InputError
from simulator.reports.registry import REPORTS, report
from simulator.reports.run_tables import RunMeta, RunTables
from simulator.runformat import TABLES, part_path

__all__ = [
    "SUMS",
    "Finished",
    "Merged",
    "Sums",
    "batch_sums",
    "frames",
    "merge",
    "part_sums",
    "run_sums",
    "table_reports",
]

#: Each report's sums: the function of a batch's tables, and how batches' sums are
#: added (frames: over equal key columns, the others being integer counts). The
#: reports of :data:`~simulator.reports.registry.REPORTS` that have sums, in its order.
SUMS: dict[str, tuple[Callable[[RunTables], Any], Callable[[list[Any]], Any]]] = {
    r.name: (r.sums, r.combine) for r in REPORTS if r.sums is not None and r.combine is not None
}

Sums = dict[str, Any]


def batch_sums(tables: RunTables) -> Sums:
    """Every report's sums over ``tables`` (one batch of members, or a whole run)."""
    return {name: compute(tables) for name, (compute, _) in SUMS.items()}


class Merged:
    """Report sums added batch by batch; :attr:`sums` is what :func:`frames` finishes."""

    def __init__(self) -> None:
        self._parts: dict[str, list[Any]] = {name: [] for name in SUMS}

    def add(self, sums: Mapping[str, Any]) -> None:
        """Add one batch's :func:`batch_sums`."""
        for name, (_, combine) in SUMS.items():
            held = self._parts[name]
            held.append(sums[name])
            # Added up every few batches: memory stays near the size of the sums
            # themselves, bounded by their keys (groups, distinct ages, days and
            # balances); only utilisation_members has a row per member.
            if len(held) >= 8:
                self._parts[name] = [combine(held)]

    @property
    def sums(self) -> Sums:
        """The sums added so far (one frame per report)."""
        if any(not held for held in self._parts.values()):
            raise ValueError("no batch added")
        out = {name: combine(self._parts[name]) for name, (_, combine) in SUMS.items()}
        self._parts = {name: [frame] for name, frame in out.items()}
        return out


def merge(parts: Iterable[Mapping[str, Any]]) -> Sums:
    """The sums of several batches, added."""
    merged = Merged()
    for part in parts:
        merged.add(part)
    return merged.sums


def part_sums(run_dir: str | os.PathLike[str], index: int, meta: RunMeta) -> Sums:
    """:func:`batch_sums` of batch ``index`` of a run directory, read from its parts."""
    sources = {name: ParquetTable(part_path(Path(run_dir), name, index)) for name in TABLES}
    return batch_sums(RunTables(**sources, meta=meta.meta, summary=meta.summary))


def run_sums(run_dir: str | os.PathLike[str], meta: RunMeta) -> Sums:
    """:func:`batch_sums` of each batch of a run directory (format 2), added.

    Reads one batch's parts at a time (only the columns the reports use),
    so memory is that of one batch, whatever the run's size.
    """
    batches = meta.meta.get("batches")
    if not isinstance(batches, list) or not batches:
        raise InputError(f"{Path(run_dir) / 'run.json'}: batches: must list the run's batches")
    merged = Merged()
    for index in range(len(batches)):
        merged.add(part_sums(run_dir, index, meta))
    return merged.sums


class Finished:
    """The finished reports of a run, each finished on first use from the added sums.

    A report's finishing step may read other reports' frames (the headline
    reads ``refund_rates``; the roll-ups read the frame they roll up): each
    is finished once, and every reader gets that one frame.
    """

    def __init__(self, sums: Mapping[str, Any], meta: RunMeta) -> None:
        self._sums = sums
        self._meta = meta
        self._frames: dict[str, pd.DataFrame] = {}

    @property
    def meta(self) -> RunMeta:
        """The run's metadata (``run.json``)."""
        return self._meta

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            entry = report(name)
            if entry.finish is None:
                raise KeyError(f"report {name!r} is computed from the tables, not from sums")
            self._frames[name] = entry.finish(self._sums.get(name), self)
        return self._frames[name]


class _SumsOfTables(Mapping[str, Any]):
    """Each report's sums over one set of tables, computed when first asked for."""

    def __init__(self, tables: RunTables) -> None:
        self._tables = tables
        self._held: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._held:
            self._held[name] = SUMS[name][0](self._tables)
        return self._held[name]

    def __iter__(self) -> Iterator[str]:
        return iter(SUMS)

    def __len__(self) -> int:
        return len(SUMS)


def table_reports(tables: RunTables) -> Finished:
    """The reports of ``tables`` (held whole, e.g. a run in memory), each computed when
    first asked for: only its own sums (and those of the reports it reads)."""
    return Finished(_SumsOfTables(tables), tables)


def frames(sums: Mapping[str, Any], meta: RunMeta) -> dict[str, pd.DataFrame]:
    """Every report table of a run, by name, as ``write_reports`` writes them."""
    finished = Finished(sums, meta)
    return {r.name: finished[r.name] for r in REPORTS if r.written}
