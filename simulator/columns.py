"""Reading a run's table columns: text keys as codes, instants as seconds.

Job: read the columns of the tables the reports read (ledger, inmails,
members, billing) as numpy arrays, so that a report filters, groups and sums
integers and never handles a string per row:

- instants become int64 Unix seconds (an empty instant is :data:`NAT`);
- counts and cents become int64, flags bool;
- text keys become :class:`Codes`, integer codes into a small dictionary of
  their distinct values; :func:`shared_codes` puts several columns in one
  dictionary, so codes compare across tables.

The columns are read (:class:`TableReader`) from whatever the tables are,
with the same result:

- Arrow tables: a run in memory, or Parquet files (:class:`ParquetTable`)
  read with their text keys dictionary-encoded, so the codes come straight
  from the file's dictionaries and no text is hashed row by row;
- pandas DataFrames: tables written by hand, or edited in a notebook.

Boundary: the typed column groups of the four tables are
:mod:`simulator.table_columns`'; no report logic here. This module reads
files only in :class:`ParquetTable`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
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
    "Codes",
    "ParquetTable",
    "Source",
    "TableReader",
    "arrow_codes",
    "arrow_seconds",
    "arrow_text",
    "column_names",
    "instants",
    "is_text",
    "iso_seconds",
    "shared_codes",
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


def shared_codes(parts: Sequence[tuple[np.ndarray, list[Any]]]) -> list[Codes]:
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


class TableReader:
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
            elif is_text(col.type) or pa.types.is_dictionary(col.type):
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


def is_text(t: pa.DataType) -> bool:
    """Arrow's plain text types (string, large_string)."""
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))
