"""A run's tables as the invariant checks read them: decoded once, as arrays.

Job: read the ledger, InMails, members and billing tables of a run (Arrow
tables in memory or DataFrames with the same columns, :class:`TableView`)
and decode them once into numpy arrays (:class:`LedgerArrays`,
:class:`InMailArrays`): members and ledger kinds as codes, instants as Unix
seconds, each ledger entry that names an InMail matched to it in one hash
pass. Text codes and instants are decoded by :mod:`simulator.columns`, the
one reader of a run's columns; what the checks do with them is their own, an
independent recount.

Boundary: reads, never checks nor changes a table; the checks are
:mod:`simulator.invariants`' and :mod:`simulator.invariant_summary`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from simulator.columns import arrow_codes, arrow_seconds
from simulator.vocabulary import LEDGER_KINDS, NO_INSTANT

__all__ = ["KINDS", "InMailArrays", "LedgerArrays", "TableView", "iso_instant", "table_view"]

#: The ledger kinds, in order: :attr:`LedgerArrays.kind` codes index them.
KINDS = LEDGER_KINDS
_SIGN = {
    "grant": 1,
    "purchase": 1,
    "refund": 1,
    "spend": -1,
    "expire": -1,
    "cap": -1,
    "forfeit": -1,
    "reject": 0,
}
_NONE = NO_INSTANT


class TableView:
    """Columns of one table, from a pyarrow Table or a DataFrame.

    Text codes and instants are decoded by :mod:`simulator.columns`, the one
    reader of a run's columns; what this module checks with them is its own,
    an independent recount.
    """

    def __init__(self, table: pa.Table | pd.DataFrame) -> None:
        self.table = table

    def __len__(self) -> int:
        return len(self.table)

    def column(self, name: str) -> pa.ChunkedArray:
        if isinstance(self.table, pa.Table):
            return self.table.column(name)
        arr = pa.array(self.table[name], from_pandas=True)
        return arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])

    def array(self, name: str) -> pa.Array:
        col = self.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.unify_dictionaries()
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)

    def text(self, name: str) -> pa.Array:
        arr = self.array(name)
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        return arr.cast(pa.string()).fill_null("")

    def codes(self, name: str) -> tuple[np.ndarray, list[str]]:
        """Integer codes (-1: no value) and the text each stands for."""
        col = self.column(name)
        if not pa.types.is_dictionary(col.type):
            col = col.cast(pa.string())
        codes, names = arrow_codes(col)
        return codes.astype(np.int64), [str(x) for x in names]

    def ints(self, name: str) -> np.ndarray:
        return self.array(name).to_numpy(zero_copy_only=False).astype(np.int64)

    def bools(self, name: str) -> np.ndarray:
        return self.array(name).to_numpy(zero_copy_only=False).astype(bool)

    def seconds(self, name: str) -> np.ndarray:
        """Unix seconds; no instant (null, NaT) is :data:`~simulator.vocabulary.NO_INSTANT`."""
        col = self.column(name)
        if pa.types.is_timestamp(col.type):
            return arrow_seconds(col)
        return col.cast(pa.int64()).fill_null(_NONE).to_numpy()


def table_view(tables: Any, name: str) -> TableView:
    """A run table by name: the Arrow table when the run keeps one, else the DataFrame."""
    arrow = getattr(tables, "arrow", None)
    if isinstance(arrow, Mapping) and name in arrow:
        return TableView(arrow[name])
    return TableView(getattr(tables, name))


def iso_instant(seconds: Any) -> str:
    return str(np.datetime64(int(seconds), "s")) + "Z"


def _stable_order(codes: np.ndarray) -> np.ndarray:
    """``np.argsort(codes, kind="stable")`` for codes >= 0, by 16-bit radix passes.

    NumPy radix-sorts 16-bit integers (about 10x faster than its merge sort on
    int64 for a million rows); two passes cover up to 2**32 codes.
    """
    if not len(codes) or int(codes.max()) < 1 << 16:
        return np.argsort(codes.astype(np.uint16), kind="stable")
    order = np.argsort((codes & 0xFFFF).astype(np.uint16), kind="stable")
    high = (codes[order] >> 16).astype(np.uint16)
    return order[np.argsort(high, kind="stable")]


class LedgerArrays:
    """The ledger's columns as numpy arrays, with members and kinds as codes."""

    def __init__(self, ledger: TableView) -> None:
        self.n = len(ledger)
        self.member_codes, members = ledger.codes("member")
        self.members = np.asarray(members, dtype=object)
        self.kind_raw, kinds = ledger.codes("kind")
        self.kind_names = kinds
        # Codes into KINDS; -1 for a kind RULES.md does not know.
        known = np.array([KINDS.index(k) if k in KINDS else -1 for k in kinds], dtype=np.int64)
        self.kind = known[self.kind_raw] if self.n else np.zeros(0, np.int64)
        self.qty = ledger.ints("quantity")
        self.balance = ledger.ints("balance_after")
        self.seconds = ledger.seconds("time")
        sign = np.array([_SIGN[k] for k in KINDS] + [0], dtype=np.int64)
        self.delta = sign[self.kind] * self.qty  # kind -1 picks the trailing 0
        # Each member's entries in ledger order: a stable sort keeps R10 order.
        self.order = _stable_order(self.member_codes)
        self.inmail = ledger.text("inmail")
        self.reason = ledger.text("reason")

    def is_kind(self, name: str) -> np.ndarray:
        return self.kind == KINDS.index(name)

    def member(self, row: int) -> str:
        return str(self.members[self.member_codes[row]])

    def describe(self, row: int) -> str:
        """``m000042: ledger row 17 (spend at 2024-01-03T09:00:00Z)``."""
        kind = self.kind_names[self.kind_raw[row]]
        return f"{self.member(row)}: ledger row {row} ({kind} at {iso_instant(self.seconds[row])})"


class InMailArrays:
    """The InMails table's columns as arrays, each ledger spend, refund and send rejection
    matched to its InMail in one hash pass; a duplicated id is reported and only its
    first row kept."""

    def __init__(self, inmails: TableView, led: LedgerArrays) -> None:
        ids = inmails.text("inmail")
        n = len(ids)
        # Ledger rows that name an InMail (a purchase rejection names none).
        rows = np.flatnonzero(led.is_kind("spend") | led.is_kind("refund") | led.is_kind("reject"))
        named = led.inmail.take(pa.array(rows)) if len(rows) else led.inmail.slice(0, 0)
        if len(rows):
            keep_rows = pc.not_equal(named, "").to_numpy(zero_copy_only=False)
            rows, named = rows[keep_rows], named.filter(pa.array(keep_rows))
        # Codes by first appearance: the ids are unique iff theirs are 0..n-1 in order.
        codes = pc.dictionary_encode(pa.concat_arrays([ids, named])).indices
        codes = codes.to_numpy(zero_copy_only=False).astype(np.int64)
        self.duplicates: list[str] = []
        keep = np.ones(n, dtype=bool)
        where = codes[n:]
        if np.array_equal(codes[:n], np.arange(n)):
            where = np.where(where < n, where, -1)
        else:  # a broken table: match again against the first row of each id
            keep = ~pd.Index(codes[:n]).duplicated()
            self.duplicates = sorted(set(np.asarray(ids.to_pylist(), dtype=object)[~keep]))
            ids = ids.filter(pa.array(keep))
            found = pc.index_in(named, value_set=ids).fill_null(-1)
            where = found.to_numpy(zero_copy_only=False).astype(np.int64)
        self.rows, self.where = rows, where
        self.ids = ids
        self.n = len(ids)
        mask = pa.array(keep)
        self._senders = inmails.text("sender").filter(mask)
        self.paid = inmails.bools("paid")[keep]
        self.free = inmails.bools("free")[keep]
        self.rejection_text = inmails.text("rejection").filter(mask)
        self.rejected = ~pc.equal(self.rejection_text, "").to_numpy(zero_copy_only=False)
        self.sent_at = inmails.seconds("sent_at")[keep]
        self.refunded_at = inmails.seconds("refunded_at")[keep]
        self.has_refund = self.refunded_at != _NONE
        self.window_end = inmails.seconds("window_end")[keep]
        self.has_window = self.window_end != _NONE
        responses = inmails.text("response").filter(mask)
        self.responded = ~pc.equal(responses, "").to_numpy(zero_copy_only=False)

    def name(self, i: int) -> str:
        return repr(self.ids[i].as_py())

    def sender(self, i: int) -> str:
        return str(self._senders[int(i)].as_py())

    def rejection(self, i: int) -> str:
        return str(self.rejection_text[i].as_py())

    def matched(self, led: LedgerArrays, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """Ledger rows of ``kind`` naming an InMail, and that InMail's index (-1: unknown)."""
        mask = led.kind[self.rows] == KINDS.index(kind)
        return self.rows[mask], self.where[mask]
