"""Typed columns of a run's tables: what the reports compute from.

Job: turn the four tables the reports read (ledger, inmails, members,
billing) into numpy columns, once per run, so that a report filters, groups
and sums integers and never handles a string per row:

- instants become int64 Unix seconds (an empty instant is :data:`NAT`);
- counts and cents become int64, flags bool;
- text keys become :class:`Codes`, integer codes into a small dictionary of
  their distinct values. Members share one dictionary across the four
  tables, and so do tiers, so codes compare across tables.

The columns are built from whatever the tables are, with the same result:

- Arrow tables: a run in memory, or Parquet files read with their text keys
  dictionary-encoded, so the codes come straight from the file's
  dictionaries and no text is hashed row by row;
- pandas DataFrames: tables written by hand, or edited in a notebook.

Boundary: no report logic here; :mod:`simulator.reports` reads these
columns. This module reads files only in :class:`ParquetTable`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeAlias, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from simulator.errors import InputError
from simulator.runformat import first_line, part_footer, schema_problem
from simulator.vocabulary import NO_INSTANT

__all__ = [
    "NAT",
    "BillingColumns",
    "Codes",
    "Columns",
    "InMailColumns",
    "LedgerColumns",
    "MemberColumns",
    "ParquetTable",
    "Source",
    "arrow_codes",
    "arrow_seconds",
    "arrow_text",
    "iso_seconds",
]

#: An empty instant (NaT) in int64 Unix seconds: numpy's NaT as an integer.
NAT = NO_INSTANT

# The columns the reports read, per table, and which of them are text keys.
_TEXT = {
    "ledger": ("member", "tier", "kind", "lot_source", "reason"),
    "inmails": ("sender", "tier", "category", "rejection", "response"),
    "members": ("member", "initial_tier", "final_tier"),
    "billing": ("member", "tier"),
}
_OTHER = {
    "ledger": ("time", "lot_issued_at", "quantity", "balance_after", "inmail"),
    "inmails": (
        "inmail",
        "sent_at",
        "body_chars",
        "free",
        "paid",
        "responded_at",
        "refunded_at",
        "window_end",
    ),
    "members": ("arrived_at", "left_at"),
    "billing": ("time", "amount_cents"),
}
_UNITS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


class ParquetTable:
    """A table in Parquet, one file or a dataset folder of parts: its schema read now, its
    data only when asked.

    A run directory's tables are folders of parts, one per member batch
    (:mod:`simulator.runformat`), read in part order: ``files``, the parts
    :func:`simulator.runformat.read_meta` checked against ``run.json``. Without
    ``files`` a folder's ``.parquet`` files are its parts, and their footers are
    checked now to share one schema, so a part that does not fit is one line
    naming it and its column, not a pyarrow error or a column of nulls later.
    The reports read only the columns they use, with text keys
    dictionary-encoded (:meth:`arrow`); a user who asks for the whole table
    gets it as pandas (:meth:`frame`), read once.
    """

    def __init__(
        self, path: str | os.PathLike[str], files: Sequence[str | os.PathLike[str]] | None = None
    ) -> None:
        self.path = Path(path)
        if files is not None:
            self._files = [Path(f) for f in files]
        elif self.path.is_dir():
            self._files = sorted(
                p for p in self.path.iterdir() if p.suffix == ".parquet" and p.name[0] not in "._"
            )
            if not self._files:
                raise InputError(f"{self.path}: a folder without Parquet parts")
            problem = schema_problem({p: part_footer(p)[1] for p in self._files})
            if problem is not None:
                raise InputError(problem)
        else:
            self._files = [self.path]
        try:
            self._schema = pq.read_schema(self._files[0])
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"{self._files[0]}: not a readable Parquet file: {exc}") from None

    @property
    def column_names(self) -> list[str]:
        return list(self._schema.names)

    def arrow(self, columns: Sequence[str], text: Sequence[str]) -> pa.Table:
        """The ``columns``, the ``text`` ones (if stored as text) read as dictionaries."""
        stored_text = {
            f.name
            for f in self._schema
            if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        }
        dictionaries = [c for c in text if c in stored_text]
        parts = []
        for path in self._files:
            try:
                parts.append(
                    pq.read_table(path, columns=list(columns), read_dictionary=dictionaries)
                )
            except (OSError, pa.ArrowException) as exc:
                raise InputError(f"{path}: cannot read: {first_line(exc)}") from None
        try:
            return pa.concat_tables(parts)
        except pa.ArrowException as exc:  # the parts shared one schema when opened
            raise InputError(f"{self.path}: parts that do not fit together: "
                             f"{first_line(exc)}") from None  # fmt: skip

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The whole table as pandas, as ``pandas.read_parquet`` gives it (its parts only)."""
        if self.path.is_dir():
            return pd.read_parquet([str(p) for p in self._files])
        return pd.read_parquet(self.path)


#: What a table may be: a DataFrame, an Arrow table, or a Parquet file read on demand.
Source: TypeAlias = pd.DataFrame | pa.Table | ParquetTable


def column_names(source: Source) -> list[str]:
    """The column names of a table, whatever form it has."""
    if isinstance(source, pd.DataFrame):
        return [str(c) for c in source.columns]
    return list(source.column_names)


# ---------------------------------------------------------------------------
# Text keys as codes


@dataclass(frozen=True, eq=False)
class Codes:
    """A text column as codes: row i holds ``names[codes[i]]``; code -1 is an empty cell."""

    codes: np.ndarray  # int32
    names: np.ndarray  # object: the distinct values

    def code(self, name: Any) -> int:
        """The code of ``name``, or -2 (which no row has) when no row holds it."""
        return self._index.get(name, -2)

    @cached_property
    def _index(self) -> dict[Any, int]:
        return {name: i for i, name in enumerate(self.names.tolist())}

    def mask(self, *names: Any) -> np.ndarray:
        """Rows holding any of ``names``."""
        wanted = [c for c in (self.code(n) for n in names) if c >= 0]
        if len(wanted) == 1:
            return self.codes == wanted[0]
        table = np.zeros(len(self.names) + 1, dtype=bool)  # by code; the last slot is -1
        table[wanted] = True
        return cast(np.ndarray, table[self.codes])

    @cached_property
    def names_and_empty(self) -> np.ndarray:
        """The names, then None: indexed by a code, -1 gives None."""
        out = np.empty(len(self.names) + 1, dtype=object)
        out[:-1] = self.names
        return out

    def labels(self, codes: np.ndarray) -> np.ndarray:
        """The values of ``codes`` (an object array; None for -1)."""
        return cast(np.ndarray, self.names_and_empty[np.asarray(codes)])

    def empty(self) -> np.ndarray:
        """Rows that are empty: no value, or the empty string."""
        out = self.codes < 0
        blank = self.code("")
        return out | (self.codes == blank) if blank >= 0 else out


def arrow_codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[Any]]:
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    column = column.unify_dictionaries()
    if column.num_chunks == 0:
        return np.empty(0, dtype=np.int32), []
    names = column.chunk(0).dictionary.to_pylist()
    codes = np.empty(len(column), dtype=np.int32)
    start = 0
    for chunk in column.chunks:  # into one array, chunk by chunk: no full-length temporaries
        indices = chunk.indices
        if indices.null_count:
            indices = pc.fill_null(indices, -1)
        codes[start : start + len(indices)] = indices.to_numpy(zero_copy_only=False)
        start += len(indices)
    return codes, names


def _pandas_codes(column: pd.Series) -> tuple[np.ndarray, list[Any]]:
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int32), list(uniques)


def _shared(parts: Sequence[tuple[np.ndarray, list[Any]]]) -> list[Codes]:
    """Codes of several columns in one dictionary (first seen first), so they compare."""
    every = np.empty(sum(len(names) for _, names in parts), dtype=object)
    every[:] = [name for _, names in parts for name in names]
    union, uniques = pd.factorize(every, use_na_sentinel=False)
    shared = np.empty(len(uniques), dtype=object)
    shared[:] = list(uniques)
    out, start = [], 0
    for codes, names in parts:
        # Each part's local code -> shared code; the extra last slot keeps -1 (empty) as -1.
        mine = union[start : start + len(names)]
        start += len(names)
        if np.array_equal(mine, np.arange(len(names))):  # the same codes (the first part's)
            out.append(Codes(codes, shared))
            continue
        lookup = np.append(mine, -1).astype(np.int32)
        out.append(Codes(lookup[codes], shared))
    return out


# ---------------------------------------------------------------------------
# One table's columns, from Arrow or pandas


class _Reader:
    """Typed columns of one table, read from its Arrow or pandas form."""

    def __init__(self, name: str, source: Source) -> None:
        # Messages name the file when there is one, else the table.
        self.name = str(source.path) if isinstance(source, ParquetTable) else name
        if isinstance(source, ParquetTable):
            wanted = [c for c in (*_TEXT[name], *_OTHER[name]) if c in source.column_names]
            source = source.arrow(wanted, _TEXT[name])
        self.arrow = source if isinstance(source, pa.Table) else None
        self.frame = source if isinstance(source, pd.DataFrame) else None

    def text(self, column: str) -> tuple[np.ndarray, list[Any]]:
        if self.arrow is not None:
            col = self.arrow.column(column)
            if pa.types.is_null(col.type):  # every cell empty
                return np.full(len(col), -1, dtype=np.int32), []
            try:
                return arrow_codes(col)
            except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
                raise InputError(
                    f"{self.name}: column {column!r} must hold text, not {col.type}"
                ) from None
        assert self.frame is not None
        try:
            return _pandas_codes(self.frame[column])
        except TypeError:  # unhashable cells (lists, dicts)
            raise InputError(f"{self.name}: column {column!r} must hold text") from None

    def instants(self, column: str, *, required: bool = False) -> np.ndarray:
        """Unix seconds (int64) of an instant column; empty cells are :data:`NAT`.

        Instants are timestamps, or ISO 8601 text; ``required``: no cell may be empty.
        """
        if self.arrow is not None:
            col = self.arrow.column(column)
            if pa.types.is_timestamp(col.type):
                out = arrow_seconds(col)
            elif pa.types.is_null(col.type):
                out = np.full(len(col), NAT, dtype=np.int64)
            elif _is_text(col.type) or pa.types.is_dictionary(col.type):
                out = self._parsed(column, col.to_pandas())
            else:
                raise InputError(
                    f"{self.name}: column {column!r} must hold instants, not {col.type}"
                )
        else:
            assert self.frame is not None
            series = self.frame[column]
            if pd.api.types.is_datetime64_any_dtype(series):
                out = instants(series)
            elif len(series) and (
                pd.api.types.is_numeric_dtype(series)
                or pd.api.types.infer_dtype(series, skipna=True)
                in ("integer", "floating", "mixed-integer-float", "decimal")
            ):
                raise InputError(f"{self.name}: column {column!r} must hold instants, not numbers")
            else:
                out = self._parsed(column, series)
        if required:
            self._check(column, int((out == NAT).sum()), True, "instants")
        return out

    def optional_instants(self, column: str) -> np.ndarray:
        """:meth:`instants` of a column that older tables lack: all :data:`NAT` then."""
        if self.arrow is not None:
            present, rows = list(self.arrow.column_names), self.arrow.num_rows
        else:
            assert self.frame is not None
            present, rows = list(self.frame.columns), len(self.frame)
        if column in present:
            return self.instants(column)
        return np.full(rows, NAT, dtype=np.int64)

    def _parsed(self, column: str, series: pd.Series) -> np.ndarray:
        try:
            return instants(series)
        except (ValueError, TypeError, OverflowError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(
                f"{self.name}: column {column!r} must hold instants: {first}"
            ) from None

    def ints(self, column: str) -> np.ndarray:
        if self.arrow is not None:
            col = self.arrow.column(column)
            if _empty_null_column(col):
                return np.zeros(0, dtype=np.int64)
            self._check(column, col.null_count, pa.types.is_integer(col.type), "whole numbers")
            out = np.empty(len(col), dtype=np.int64)
            start = 0
            for chunk in col.chunks:
                out[start : start + len(chunk)] = chunk.to_numpy(zero_copy_only=False)
                start += len(chunk)
            return out
        assert self.frame is not None
        series = self.frame[column]
        ok = pd.api.types.is_integer_dtype(series) or len(series) == 0
        self._check(column, int(series.isna().sum()), ok, "whole numbers")
        return series.to_numpy(dtype=np.int64)

    def flags(self, column: str) -> np.ndarray:
        if self.arrow is not None:
            col = self.arrow.column(column)
            if _empty_null_column(col):
                return np.zeros(0, dtype=bool)
            self._check(column, col.null_count, pa.types.is_boolean(col.type), "true or false")
            return np.asarray(col.to_numpy(), dtype=bool)
        assert self.frame is not None
        series = self.frame[column]
        ok = pd.api.types.is_bool_dtype(series) or len(series) == 0
        self._check(column, int(series.isna().sum()), ok, "true or false")
        return series.to_numpy(dtype=bool)

    def ids(self, column: str) -> pa.ChunkedArray | pd.Series:
        """InMail ids, matched rather than coded: dictionaries and views decoded."""
        if self.arrow is not None:
            col = self.arrow.column(column)
            if pa.types.is_dictionary(col.type):
                col = col.cast(col.type.value_type)
            if pa.types.is_string_view(col.type):
                col = col.cast(pa.string())
            elif pa.types.is_binary_view(col.type):
                col = col.cast(pa.binary())
            return col
        assert self.frame is not None
        return self.frame[column]

    def _check(self, column: str, nulls: int, typed: bool, holds: str) -> None:
        if not typed:
            raise InputError(f"{self.name}: column {column!r} must hold {holds}")
        if nulls:
            raise InputError(f"{self.name}: column {column!r} has {nulls} empty cells")


def _empty_null_column(col: pa.ChunkedArray) -> bool:
    """A column of no rows whose type is Arrow's null (an empty table written from pandas)."""
    return bool(pa.types.is_null(col.type) and len(col) == 0)


def arrow_seconds(column: pa.ChunkedArray) -> np.ndarray:
    """Unix seconds (int64, floored) of an Arrow timestamp column; empty cells are NAT.

    Written chunk by chunk into one array, from each chunk's own buffer.
    """
    per_second = _UNITS_PER_SECOND[column.type.unit]
    out = np.empty(len(column), dtype=np.int64)
    start = 0
    for chunk in column.chunks:
        n = len(chunk)
        raw = np.frombuffer(chunk.buffers()[1], dtype=np.int64, count=n, offset=chunk.offset * 8)
        part = out[start : start + n]
        if per_second == 1:
            part[:] = raw
        else:
            np.floor_divide(raw, per_second, out=part)
        if chunk.null_count:
            part[chunk.is_null().to_numpy(zero_copy_only=False)] = NAT
        start += n
    return out


def arrow_text(column: pa.ChunkedArray) -> np.ndarray:
    """A text column (plain or dictionary) as a numpy array of str; an empty cell is ''."""
    codes, names = arrow_codes(column)
    table = np.empty(len(names) + 1, dtype=object)
    table[: len(names)] = names
    table[-1] = ""  # code -1: no value
    return table[codes]


def iso_seconds(column: pa.ChunkedArray) -> np.ndarray:
    """Unix seconds of ISO 8601 UTC text (``2024-01-31T09:00:00Z``), as the history writes."""
    parsed = pc.strptime(column, format="%Y-%m-%dT%H:%M:%SZ", unit="s")
    return np.asarray(parsed.cast(pa.int64()).to_numpy(), dtype=np.int64)


def instants(series: pd.Series) -> np.ndarray:
    """Unix seconds (int64) of a pandas datetime (or ISO 8601 text) column; NaT is :data:`NAT`.

    Naive means UTC.
    """
    s = series
    if not pd.api.types.is_datetime64_any_dtype(s):
        s = pd.to_datetime(s, utc=True, format="ISO8601")
    if getattr(s.dtype, "tz", None) is not None:
        s = s.dt.tz_convert(None)
    return s.to_numpy().astype("datetime64[s]").view(np.int64)


# ---------------------------------------------------------------------------
# The four tables


@dataclass(frozen=True, eq=False)
class LedgerColumns:
    """The ledger, one entry per row, in the table's order."""

    time: np.ndarray
    member: Codes
    tier: Codes
    kind: Codes
    lot_source: Codes
    lot_issued_at: np.ndarray
    quantity: np.ndarray
    reason: Codes
    balance_after: np.ndarray
    inmail: pa.ChunkedArray | pd.Series  # InMail ids as stored: matched by InMail ids, not coded


@dataclass(frozen=True, eq=False)
class InMailColumns:
    """The InMails, one attempted InMail per row, in the table's order."""

    inmail: pa.ChunkedArray | pd.Series
    sender: Codes
    tier: Codes
    sent_at: np.ndarray
    category: Codes
    body_chars: np.ndarray
    free: np.ndarray
    paid: np.ndarray
    accepted: np.ndarray  # no rejection reason
    responded: np.ndarray  # a response (accept, decline, reply)
    responded_at: np.ndarray
    refunded_at: np.ndarray
    window_end: np.ndarray


@dataclass(frozen=True, eq=False)
class MemberColumns:
    member: Codes
    initial_tier: Codes
    final_tier: Codes
    # When a member arrived during the run, and when it left (after_cancel:
    # leave); NAT for none, and for runs written before these columns existed.
    arrived_at: np.ndarray
    left_at: np.ndarray

    def present(self, start: int, end: int) -> np.ndarray:
        """Rows of members present at some instant of ``[start, end]``: arrived by
        ``end`` and not left at or before ``start``."""
        arrived = (self.arrived_at == NAT) | (self.arrived_at <= end)
        stayed = (self.left_at == NAT) | (self.left_at > start)
        return arrived & stayed


@dataclass(frozen=True, eq=False)
class BillingColumns:
    member: Codes
    tier: Codes
    time: np.ndarray
    amount_cents: np.ndarray


@dataclass(frozen=True, eq=False)
class Columns:
    """The typed columns of a run's four tables (members and tiers share dictionaries)."""

    ledger: LedgerColumns
    inmails: InMailColumns
    members: MemberColumns
    billing: BillingColumns

    @classmethod
    def build(cls, sources: Mapping[str, Source]) -> Columns:
        """The columns of ``sources`` (``ledger``, ``inmails``, ``members``, ``billing``)."""
        led = _Reader("ledger", sources["ledger"])
        im = _Reader("inmails", sources["inmails"])
        mem = _Reader("members", sources["members"])
        bill = _Reader("billing", sources["billing"])
        members = _shared(
            [led.text("member"), im.text("sender"), mem.text("member"), bill.text("member")]
        )
        tiers = _shared(
            [
                led.text("tier"),
                im.text("tier"),
                mem.text("initial_tier"),
                mem.text("final_tier"),
                bill.text("tier"),
            ]
        )
        (rejection,) = _shared([im.text("rejection")])
        return cls(
            ledger=LedgerColumns(
                time=led.instants("time", required=True),
                member=members[0],
                tier=tiers[0],
                kind=_shared([led.text("kind")])[0],
                lot_source=_shared([led.text("lot_source")])[0],
                lot_issued_at=led.instants("lot_issued_at"),
                quantity=led.ints("quantity"),
                reason=_shared([led.text("reason")])[0],
                balance_after=led.ints("balance_after"),
                inmail=led.ids("inmail"),
            ),
            inmails=InMailColumns(
                inmail=im.ids("inmail"),
                sender=members[1],
                tier=tiers[1],
                sent_at=im.instants("sent_at", required=True),
                category=_shared([im.text("category")])[0],
                body_chars=im.ints("body_chars"),
                free=im.flags("free"),
                paid=im.flags("paid"),
                accepted=rejection.empty(),
                responded=~_shared([im.text("response")])[0].empty(),
                responded_at=im.instants("responded_at"),
                refunded_at=im.instants("refunded_at"),
                window_end=im.instants("window_end"),
            ),
            members=MemberColumns(
                member=members[2],
                initial_tier=tiers[2],
                final_tier=tiers[3],
                arrived_at=mem.optional_instants("arrived_at"),
                left_at=mem.optional_instants("left_at"),
            ),
            billing=BillingColumns(
                member=members[3],
                tier=tiers[4],
                time=bill.instants("time", required=True),
                amount_cents=bill.ints("amount_cents"),
            ),
        )

    # -- matching ledger entries to their InMails ------------------------------

    def inmail_rows(self, rows: np.ndarray, what: str) -> np.ndarray:
        """Row positions in the inmails table of the InMails that ledger ``rows`` name.

        ``rows`` are spend and refund entries (ascending positions); every
        one must name an InMail of the table.

        A run's own tables are in the simulator's order (the ledger by
        instant, then member id; inmails by sending instant, then member
        id), in which the n-th spend entry names the n-th paid InMail, and
        the refund entries name the refunded InMails ordered by refund
        instant, then member id. That match is tried first, per kind, and
        checked id by id (one vectorised comparison), so it is exact or not
        used. Otherwise (tables in another order, written by hand, or
        refunds in response order within one member's instant) the ids are
        looked up in a hash table. Either way the InMail ids must be unique
        (checked once), or an entry's InMail would be ambiguous.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows):
            self._require_unique_ids()
        pos = np.full(len(rows), -1, dtype=np.int64)
        kind = self.ledger.kind.codes[rows]
        unmatched = np.ones(len(rows), dtype=bool)
        for name in ("spend", "refund"):
            mine = kind == self.ledger.kind.code(name)
            found = self._in_order(name) if mine.any() else None
            if found is not None:
                ledger_rows, inmail_rows = found
                of_entry = np.full(len(self.ledger.time), -1, dtype=np.int64)
                of_entry[ledger_rows] = inmail_rows
                pos[mine] = of_entry[rows[mine]]
                unmatched[mine] = False
        if unmatched.any():
            pos[unmatched] = _look_up(
                self.inmails.inmail, self.ledger.inmail, rows[unmatched], what
            )
        return pos

    def _require_unique_ids(self) -> None:
        """An InputError naming some duplicated InMail ids, if any (checked once)."""
        if self.__dict__.get("_ids_unique"):
            return
        ids = self.inmails.inmail
        text = _as_arrow(ids)
        if text is not None:
            unique = len(pc.unique(text)) == len(text)  # Arrow's hash: faster than count_distinct
        else:  # ids of another type (hand-made tables): pandas, which takes anything
            unique = pd.Index(_values(ids)).is_unique
        if not unique:
            every = pd.Index(_values(ids))
            dupes = every[every.duplicated()].unique()[:5]
            raise InputError(f"inmails: duplicate InMail ids: {', '.join(map(str, dupes))}")
        self.__dict__["_ids_unique"] = True  # a frozen dataclass: its own cache, as cached_property

    def _in_order(self, kind: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(ledger rows of ``kind``, their InMail rows) if the simulator's order matches."""
        ids, named = self.inmails.inmail, self.ledger.inmail
        if not (isinstance(ids, pa.ChunkedArray) and isinstance(named, pa.ChunkedArray)):
            return None
        if not (_is_text(ids.type) and _is_text(named.type)):
            return None
        ledger_rows = np.flatnonzero(self.ledger.kind.codes == self.ledger.kind.code(kind))
        im = self.inmails
        if kind == "spend":
            inmail_rows = np.flatnonzero(im.paid)
        else:
            # The ledger's order: by instant, then member id (R10 leaves the order across
            # members free; the writer sorts by id), then as sent.
            refunded = np.flatnonzero(im.refunded_at != NAT)
            at = im.refunded_at[refunded]
            names = im.sender.names
            if len(at) and int(np.abs(at).max()) * (len(names) + 1) >= 2**62:
                return None  # instants too far out to combine with a member rank
            rank = np.empty(len(names) + 1, dtype=np.int64)
            rank[np.argsort(np.array([str(n) for n in names], dtype=object), kind="stable")] = (
                np.arange(len(names))
            )
            rank[-1] = len(names)  # no sender: last
            key = at * (len(names) + 1) + rank[im.sender.codes[refunded]]
            inmail_rows = refunded[np.argsort(key, kind="stable")]
        if len(inmail_rows) != len(ledger_rows):
            return None
        if len(ledger_rows) == 0:
            return ledger_rows, inmail_rows
        same = pc.equal(named.take(pa.array(ledger_rows)), ids.take(pa.array(inmail_rows)))
        if not pc.all(pc.fill_null(same, False)).as_py():
            return None
        return ledger_rows, inmail_rows


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _look_up(
    ids: pa.ChunkedArray | pd.Series,
    named: pa.ChunkedArray | pd.Series,
    rows: np.ndarray,
    what: str,
) -> np.ndarray:
    """Positions in ``ids`` (unique) of ``named[rows]``, by id; all must be found."""
    all_ids = _as_arrow(ids)
    wanted = _as_arrow(named)
    if wanted is not None:
        wanted = wanted.take(pa.array(rows))
    index = None
    if all_ids is not None and wanted is not None:
        # Text ids: hashed in Arrow, 4x faster than a pandas Index over
        # millions of ids; large_string has no 2 GiB limit.
        all_ids, wanted = all_ids.cast(pa.large_string()), wanted.cast(pa.large_string())
    else:  # ids of another type (hand-made tables): pandas, which takes anything
        index = pd.Index(_values(ids))
    if index is None:
        found = pc.index_in(wanted, value_set=all_ids)
        pos = pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    else:
        pos = index.get_indexer(_values(named)[rows])
    if (pos < 0).any():
        missing = pd.unique(_values(named)[rows][pos < 0])[:5]
        raise InputError(
            f"ledger: {int((pos < 0).sum())} {what} name InMails missing from inmails: "
            + ", ".join(repr(str(m)) for m in missing)
        )
    return pos


def _as_arrow(column: pa.ChunkedArray | pd.Series) -> pa.ChunkedArray | None:
    """Text ids as Arrow (None for ids of another type)."""
    if isinstance(column, pa.ChunkedArray):
        return column if _is_text(column.type) else None
    try:
        arr = pa.chunked_array([pa.array(column, from_pandas=True)])
    except (pa.ArrowException, TypeError, ValueError):
        return None
    return arr if _is_text(arr.type) else None


def _values(column: pa.ChunkedArray | pd.Series) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)
    return column.to_numpy()
