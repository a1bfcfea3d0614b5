"""Report sums: every report of a run from small sums that add over batches of members.

Job: split each report of :mod:`simulator.reports` into what a batch of
members contributes (integer sums per group, integer histograms for
percentiles, per-member rows; ``*_sums``) and what the run's figures are
once those are added up (rates, percentiles, margins, order; ``*_finish``).
A run's worker computes :func:`batch_sums` on the batch it simulated, the
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
:mod:`simulator.reports`; this module only adds and dispatches.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from simulator import reports as r
from simulator.columns import ParquetTable
from simulator.errors import InputError

__all__ = ["SUMS", "Merged", "batch_sums", "frames", "merge", "part_sums", "run_sums"]


def _frames(keys: tuple[str, ...]) -> Callable[[list[Any]], Any]:
    """Adds frames of sums: rows with equal ``keys`` summed (an empty key is a key too)."""
    return lambda frames: _add(frames, keys)


def _rows(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Per-member rows of several batches, one after the other: a member's rows are all in
    its batch (batches split the members), so nothing is added."""
    rows = [f for f in frames if not f.empty]
    if len(rows) <= 1:
        return rows[0] if rows else frames[0]
    return pd.concat(rows, ignore_index=True)


#: Each report's sums: the function of a batch's tables, and how batches' sums are
#: added (frames: over equal key columns, the others being integer counts).
SUMS: dict[str, tuple[Callable[[r.RunTables], Any], Callable[[list[Any]], Any]]] = {
    "headline": (r.headline_sums, _frames(())),
    "expiry_waste": (r.expiry_waste_sums, _frames(("tier", "_month"))),
    "expiry_waste_by_source": (r.expiry_waste_by_source_sums, _frames(("tier", "lot_source"))),
    "credit_age": (r.credit_age_sums, r.add_age_histograms),
    "credit_vintages": (
        r.credit_vintages_sums,
        _frames(("tier", "lot_source", "_month", "warmup")),
    ),
    "refund_rates": (
        r.refund_rates_sums,
        _frames(("tier", "month", "category", "length_bucket")),
    ),
    "response_delays": (r.response_delays_sums, _frames(("bin",))),
    "utilisation_members": (r.utilisation_members_sums, _rows),
    "balance_distribution": (
        r.balance_distribution_sums,
        _frames(("tier", "day", "balance")),
    ),
    "purchases_revenue": (r.purchases_revenue_sums, _frames(("tier", "_month"))),
    "rejections": (r.rejections_sums, _frames(("tier", "month", "action", "reason"))),
}

Sums = dict[str, Any]


def batch_sums(tables: r.RunTables) -> Sums:
    """Every report's sums over ``tables`` (one batch of members, or a whole run)."""
    return {name: compute(tables) for name, (compute, _) in SUMS.items()}


def _add(frames: list[pd.DataFrame], keys: tuple[str, ...]) -> pd.DataFrame:
    """The rows of ``frames`` added over equal ``keys`` (an empty key is a key too)."""
    rows = [f for f in frames if not f.empty]
    if not rows:
        return frames[0]
    if len(rows) == 1:
        return rows[0]
    both = pd.concat(rows, ignore_index=True)
    if not keys:
        return both.sum().to_frame().T
    return both.groupby(list(keys), sort=False, dropna=False).sum().reset_index()


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


def part_sums(run_dir: str | os.PathLike[str], index: int, meta: r.RunMeta) -> Sums:
    """:func:`batch_sums` of batch ``index`` of a run directory, read from its parts."""
    from simulator import runformat

    sources = {name: ParquetTable(runformat.part_path(Path(run_dir), name, index))
               for name in runformat.TABLES}  # fmt: skip
    return batch_sums(r.RunTables(**sources, meta=meta.meta, summary=meta.summary))


def run_sums(run_dir: str | os.PathLike[str], meta: r.RunMeta) -> Sums:
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


def frames(sums: Mapping[str, Any], meta: r.RunMeta) -> dict[str, pd.DataFrame]:
    """Every report table of a run, by name, as ``write_reports`` writes them."""
    rates = r.refund_rates_finish(sums["refund_rates"])
    members = r.utilisation_members_finish(sums["utilisation_members"])
    facts = r.headline_finish(sums["headline"], rates, members, meta)
    return {
        "headline": pd.DataFrame(
            {"metric": list(facts), "value": [float(v) for v in facts.values()]}
        ),
        "expiry_waste": r.expiry_waste_finish(sums["expiry_waste"], meta),
        "expiry_waste_by_source": r.expiry_waste_by_source_finish(
            sums["expiry_waste_by_source"], meta
        ),
        "credit_age": r.credit_age_finish(sums["credit_age"]),
        "credit_vintages": r.credit_vintages_finish(sums["credit_vintages"]),
        "refund_rates": rates,
        "refund_rates_by_tier_category": r.refund_cuts(rates, ["tier", "category"]),
        "refund_rates_by_length": r.refund_cuts(rates, ["tier", "length_bucket"]),
        "refund_totals": r.refund_totals(rates),
        "response_delays": r.response_delays_finish(sums["response_delays"], meta),
        "utilisation": r.utilisation(members=members),
        "utilisation_members": members,
        "balance_distribution": r.balance_distribution_finish(sums["balance_distribution"], meta),
        "purchases_revenue": r.purchases_revenue_finish(sums["purchases_revenue"], meta),
        "rejections": r.rejections_finish(sums["rejections"]),
    }
