"""The tables of one run as the reports read them, and the measured window's rows.

Job: :class:`RunMeta` (``run.json``, checked once), :class:`RunTables` (the
ledger, InMails, members and billing of a run, from memory or from a run
directory: :func:`load_run_tables`), and the row selections every report
shares: the entries of the measured window (:func:`window_of`,
:func:`window_rows`), its calendar months (:func:`window_months`) and the
members present in it (:func:`present_members`).

Boundary: no report is computed here. :func:`load_run_tables` is the only
function that reads a file; the typed columns themselves are
:mod:`simulator.columns`'.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from simulator.columns import NAT, ParquetTable, Source, column_names
from simulator.errors import InputError
from simulator.runformat import TABLES, part_path, read_json, read_meta
from simulator.table_columns import Columns
from simulator.tables import SimTables, plain_table
from simulator.timeutil import parse_instant

__all__ = [
    "RunMeta",
    "RunTables",
    "Window",
    "load_run_tables",
    "present_members",
    "window_months",
    "window_of",
    "window_rows",
]

_LEDGER_COLUMNS = (
    "time",
    "member",
    "tier",
    "kind",
    "lot",
    "lot_source",
    "lot_issued_at",
    "quantity",
    "inmail",
    "reason",
    "balance_after",
)
_INMAIL_COLUMNS = (
    "inmail",
    "sender",
    "tier",
    "sent_at",
    "category",
    "subject_chars",
    "body_chars",
    "free",
    "paid",
    "rejection",
    "response",
    "responded_at",
    "refunded_at",
    "window_end",
)
_MEMBER_COLUMNS = ("member", "initial_tier", "final_tier")
_BILLING_COLUMNS = ("member", "tier", "time", "amount_cents")
_REQUIRED = {
    "ledger": _LEDGER_COLUMNS,
    "inmails": _INMAIL_COLUMNS,
    "members": _MEMBER_COLUMNS,
    "billing": _BILLING_COLUMNS,
}
_META_KEYS = ("measure_start", "end", "credit_price_cents")


class RunMeta:
    """A run's metadata (``run.json``), checked once: what the reports need besides rows.

    ``meta`` needs ``measure_start`` and ``end`` (ISO 8601 UTC) and
    ``credit_price_cents``; ``refund_mode`` and ``refund_window_days`` are
    optional (defaults ``no_response_within`` and 7, RULES.md R6), and so is
    ``currency`` (USD). A report's sums (:mod:`simulator.reports.sums`) are
    finished with this alone, without the tables.
    """

    def __init__(self, meta: Mapping[str, Any], summary: Mapping[str, Any] | None = None) -> None:
        self.meta: Mapping[str, Any] = meta
        self.summary: Mapping[str, Any] = {} if summary is None else summary
        missing = [k for k in _META_KEYS if k not in self.meta]
        if missing:
            raise InputError(f"run.json: missing keys: {', '.join(missing)}")
        # Checked now, not halfway through a report.
        _meta_whole(self.meta, "credit_price_cents")
        if self.meta.get("refund_window_days", 7) is not None:
            _meta_whole(self.meta, "refund_window_days", 7)
        if self.end < self.measure_start:
            raise InputError(
                f"run.json: end {self.meta['end']!r} is before "
                f"measure_start {self.meta['measure_start']!r}"
            )

    @property
    def measure_start(self) -> int:
        """First measured instant, Unix seconds."""
        return _meta_instant(self.meta, "measure_start")

    @property
    def end(self) -> int:
        """Last simulated instant (inclusive), Unix seconds."""
        return _meta_instant(self.meta, "end")

    @property
    def credit_price_cents(self) -> int:
        """Price of one purchased credit, in cents of ``currency``."""
        return _meta_whole(self.meta, "credit_price_cents")

    @property
    def refund_mode(self) -> str:
        """``no_response_within``, ``response_within`` or ``none`` (RULES.md R6)."""
        return str(self.meta.get("refund_mode", "no_response_within"))

    @property
    def refund_window_days(self) -> int | None:
        """Length of the refund window in days (None: no window)."""
        if self.meta.get("refund_window_days", 7) is None:
            return None
        return _meta_whole(self.meta, "refund_window_days", 7)

    @property
    def currency(self) -> str:
        """Currency of all amounts (default USD)."""
        return str(self.meta.get("currency", "USD"))


class RunTables(RunMeta):
    """The tables of one run and its metadata (``run.json``); reports read only these.

    Each table is a pandas DataFrame or an Arrow table (``load_run_tables``
    gives Parquet files, read only as far as they are used). The metadata is
    that of :class:`RunMeta`.

    The reports compute from :attr:`columns`, the typed columns of the
    tables, built on first use and kept: treat the tables as read-only once
    a report has read them.
    """

    def __init__(
        self,
        ledger: Source,
        inmails: Source,
        members: Source,
        billing: Source,
        meta: Mapping[str, Any],
        summary: Mapping[str, Any] | None = None,
    ) -> None:
        self._sources: dict[str, Source] = {
            "ledger": ledger,
            "inmails": inmails,
            "members": members,
            "billing": billing,
        }
        for name, required in _REQUIRED.items():
            source = self._sources[name]
            where = str(source.path) if isinstance(source, ParquetTable) else name
            _require_columns(column_names(source), required, where)
        super().__init__(meta, summary)

    @classmethod
    def of(
        cls,
        tables: SimTables,
        meta: Mapping[str, Any],
        summary: Mapping[str, Any] | None = None,
    ) -> RunTables:
        """The tables a simulation made (:class:`simulator.tables.SimTables`), as they are."""
        arrow = tables.arrow
        return cls(arrow["ledger"], arrow["inmails"], arrow["members"], arrow["billing"],
                   meta=meta, summary=summary)  # fmt: skip

    def _frame(self, name: str) -> pd.DataFrame:
        source = self._sources[name]
        if isinstance(source, ParquetTable):
            return source.frame
        if isinstance(source, pa.Table):
            frame = plain_table(source).to_pandas()
            self._sources[name] = frame  # converted once
            return frame
        return source

    @property
    def ledger(self) -> pd.DataFrame:
        """The ledger as pandas (converted or read on first use)."""
        return self._frame("ledger")

    @property
    def inmails(self) -> pd.DataFrame:
        """The InMails as pandas (converted or read on first use)."""
        return self._frame("inmails")

    @property
    def members(self) -> pd.DataFrame:
        """The members as pandas (converted or read on first use)."""
        return self._frame("members")

    @property
    def billing(self) -> pd.DataFrame:
        """The subscription charges as pandas (converted or read on first use)."""
        return self._frame("billing")

    @cached_property
    def columns(self) -> Columns:
        """The typed columns the reports compute from (:mod:`simulator.columns`)."""
        return Columns.build(self._sources)

    @cached_property
    def _window(self) -> Window:
        return Window(self)


class Window:
    """Row selections of the measured window, computed once per run (:func:`window_of`)."""

    def __init__(self, tables: RunTables) -> None:
        c = tables.columns
        self._kind = c.ledger.kind
        self.ledger = _in_window(c.ledger.time, tables)
        self.inmails = _in_window(c.inmails.sent_at, tables)
        self.billing = _in_window(c.billing.time, tables)

    @cached_property
    def ledger_rows(self) -> np.ndarray:
        return np.flatnonzero(self.ledger)

    @cached_property
    def credit_rows(self) -> np.ndarray:
        """Window ledger entries that move credits (every kind but ``reject``)."""
        return np.flatnonzero(self.ledger & ~self._kind.mask("reject"))


def load_run_tables(run_dir: str | os.PathLike[str]) -> RunTables:
    """A run directory (format 2: :mod:`simulator.runformat`) as :class:`RunTables`.

    The Parquet datasets (``ledger/``, ``inmails/``, ``members/``,
    ``billing/``, one part per member batch) are read when a report or a
    user needs them, part by part and only the columns used. ``summary.json``
    may be absent (no summary). A folder of another format, or one whose
    parts are not those ``run.json`` lists, is refused with one line
    (:func:`simulator.runformat.read_meta`).
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise InputError(f"{root}: not a run directory")
    meta = read_meta(root)  # every part run.json lists is there, whole, of one schema
    batches = range(len(meta["batches"]))

    def table(name: str) -> Source:
        return ParquetTable(root / name, [part_path(root, name, i) for i in batches])

    path = root / "summary.json"
    summary = read_json(path, root) if path.exists() else {}
    sources = {name: table(name) for name in TABLES}
    return RunTables(**sources, meta=meta, summary=summary)


# ---------------------------------------------------------------------------
# Checks of the tables and of run.json


def _require_columns(present: Iterable[str], columns: Iterable[str], name: str) -> None:
    have = set(present)
    missing = [c for c in columns if c not in have]
    if missing:
        raise InputError(f"{name}: missing columns: {', '.join(missing)}")


def _meta_instant(meta: Mapping[str, Any], key: str) -> int:
    try:
        return parse_instant(str(meta[key]))
    except ValueError as exc:
        raise InputError(f"run.json: {key}: {exc}") from None


def _meta_whole(meta: Mapping[str, Any], key: str, default: int | None = None) -> int:
    value = meta.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"run.json: {key}: must be a whole number, not {value!r}")
    return int(value)


# ---------------------------------------------------------------------------
# The measured window


def window_of(tables: RunTables) -> Window:
    """The measured window's row selections of ``tables``, computed on first use and kept."""
    return tables._window


def _in_window(instants: np.ndarray, tables: RunTables) -> np.ndarray:
    return (instants >= tables.measure_start) & (instants <= tables.end) & (instants != NAT)


def window_rows(tables: RunTables, mask: np.ndarray) -> np.ndarray:
    """Positions of the window's ledger entries where ``mask`` (over the whole ledger) holds."""
    return np.flatnonzero(mask & window_of(tables).ledger)


def present_members(tables: RunTables) -> np.ndarray:
    """Rows of the members table present in the measured window (all, in a closed population)."""
    return tables.columns.members.present(tables.measure_start, tables.end)


def window_months(meta: RunMeta) -> list[int]:
    """The calendar months (UTC) of the measured window, as months since 1970-01."""
    first = np.int64(meta.measure_start).astype("datetime64[s]").astype("datetime64[M]")
    last = np.int64(meta.end).astype("datetime64[s]").astype("datetime64[M]")
    return list(range(int(first.view(np.int64)), int(last.view(np.int64)) + 1))
