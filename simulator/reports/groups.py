"""The shared arithmetic of the reports: keys, exact grouped sums, order, percentiles.

Job: what every report family does with the typed columns of a run
(:mod:`simulator.columns`): turn text columns, instants and lengths into
integer grouping keys (:data:`Key`), sum integer counts over the
combinations of keys exactly (:func:`group_sums`, :func:`kind_sums`), add
those sums over batches of members (:func:`add_over`, :func:`stack_rows`),
and finish them in one presentation order (:data:`TIER_ORDER`,
:data:`LENGTH_BUCKETS`, :func:`sort_rows`) with the same rates
(:func:`ratio`: NaN over zero) and inverted-CDF percentiles
(:func:`weighted_percentiles`, :func:`integer_percentiles`).

Boundary: pure functions of arrays and frames. Nothing here knows a report's
columns or reads a run; the measured window is :mod:`simulator.reports.run_tables`'.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from simulator.columns import Codes
from simulator.table_columns import LedgerColumns
from simulator.timeutil import DAY
from simulator.vocabulary import REPORT_LENGTH_BUCKETS

__all__ = [
    "KIND_COLUMNS",
    "LENGTH_BUCKETS",
    "PERCENTILES",
    "TIER_ORDER",
    "Key",
    "add_over",
    "bucket_key",
    "coded",
    "codes_key",
    "div",
    "empty_sums",
    "group_rows",
    "group_sums",
    "integer_percentiles",
    "kind_sums",
    "kind_sums_by_group",
    "length_bucket",
    "month_key",
    "month_labels",
    "names_inmail",
    "names_present",
    "ordered_tiers",
    "ratio",
    "sort_rows",
    "stack_rows",
    "weighted_percentiles",
]

#: Presentation order of the default tiers (RULES.md section 3); other tiers follow, sorted.
TIER_ORDER: tuple[str, ...] = (
    "basic",
    "premium_career",
    "premium_business",
    "sales_navigator",
    "recruiter_lite",
)

#: Body-length buckets in presentation order ("0" and "over-2000" only for rejected bodies).
LENGTH_BUCKETS: tuple[str, ...] = REPORT_LENGTH_BUCKETS
_BUCKET_UPPER = np.array([0, 400, 800, 1200, 2000])

PERCENTILES: tuple[int, ...] = (10, 25, 50, 75, 90)

#: The ledger kinds that move credits, and the column each becomes in the waste reports.
KIND_COLUMNS = {
    "grant": "granted",
    "purchase": "purchased",
    "refund": "refunded",
    "spend": "spent",
    "expire": "credits_expired",
    "cap": "capped",
    "forfeit": "forfeited",
}


def length_bucket(body_chars: Any) -> np.ndarray:
    """Body-length bucket labels (:data:`LENGTH_BUCKETS`) of an array of character counts."""
    chars = np.asarray(body_chars, dtype=np.int64)
    which = np.searchsorted(_BUCKET_UPPER, chars, side="left")
    return np.asarray(LENGTH_BUCKETS, dtype=object)[which]


# ---------------------------------------------------------------------------
# Grouping keys


#: A grouping key: integer codes (>= 0) and the label of each code.
Key = tuple[np.ndarray, np.ndarray]


def codes_key(codes: Codes, values: np.ndarray) -> Key:
    """A key from codes of the dictionary of ``codes`` (an empty cell is its own group)."""
    values = np.asarray(values)
    return np.where(values < 0, len(codes.names), values), codes.names_and_empty


def coded(codes: Codes, rows: np.ndarray) -> Key:
    """A key from the text column ``codes`` at ``rows``."""
    return codes_key(codes, codes.codes[rows])


def month_key(instants: np.ndarray) -> Key:
    """A key of calendar months (UTC), labelled by months since 1970-01."""
    if len(instants) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    days = instants // DAY
    first = int(days.min())
    # The month of each day in the range, computed once per day, not per row.
    month_of_day = (
        np.arange(first, int(days.max()) + 1).astype("datetime64[D]").astype("datetime64[M]")
    ).view(np.int64)
    months = month_of_day[days - first]
    return months - month_of_day[0], np.arange(month_of_day[0], month_of_day[-1] + 1)


def bucket_key(body_chars: np.ndarray) -> Key:
    """A key of body-length buckets (:data:`LENGTH_BUCKETS`)."""
    which = np.searchsorted(_BUCKET_UPPER, np.asarray(body_chars, dtype=np.int64), side="left")
    return which, np.asarray(LENGTH_BUCKETS, dtype=object)


def names_present(codes: Codes, *parts: np.ndarray) -> np.ndarray:
    """Which names of ``codes``' dictionary occur in any of ``parts`` (arrays of its codes)."""
    seen = np.zeros(len(codes.names) + 1, dtype=bool)
    for part in parts:
        seen[np.asarray(part)] = True  # -1 (empty) lands on the last slot
    return seen[:-1]


def names_inmail(ids: Any, rows: np.ndarray) -> np.ndarray:
    """Whether the ledger entries ``rows`` name an InMail (an id that is not empty)."""
    if isinstance(ids, pa.ChunkedArray):
        picked = ids.take(pa.array(rows))  # text ids arrive decoded (columns._Reader.ids)
        if pa.types.is_string(picked.type) or pa.types.is_large_string(picked.type):
            named = pc.and_(pc.is_valid(picked), pc.not_equal(picked, ""))
        elif pa.types.is_binary(picked.type) or pa.types.is_large_binary(picked.type):
            named = pc.and_(pc.is_valid(picked), pc.not_equal(picked, pa.scalar(b"", picked.type)))
        else:
            named = pc.is_valid(picked)
        return np.asarray(pc.fill_null(named, False).to_numpy(), dtype=bool)
    values = pd.Series(ids).iloc[rows]
    return (values.notna() & (values.astype(str) != "")).to_numpy(dtype=bool)


# ---------------------------------------------------------------------------
# Exact sums over groups, and over batches


def group_rows(keys: Mapping[str, Key]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The group of each row over the combinations of ``keys``, and each group's key labels.

    Groups are the combinations seen, in no set order. Few possible
    combinations get one slot each (no hashing); many are factorized.
    """
    names = list(keys)
    codes = [np.asarray(keys[n][0], dtype=np.int64) for n in names]
    labels = [keys[n][1] for n in names]
    dims = tuple(max(len(u), 1) for u in labels)
    n = len(codes[0])
    flat = np.ravel_multi_index(codes, dims) if len(codes) > 1 else codes[0]
    size = math.prod(dims)
    if size <= max(4 * n, 1 << 16):
        used = np.flatnonzero(np.bincount(flat, minlength=size))
        group_of_slot = np.full(size, -1, dtype=np.int64)
        group_of_slot[used] = np.arange(len(used))
        group, slots = group_of_slot[flat], used
    else:
        group, uniques = pd.factorize(flat, use_na_sentinel=False)
        slots = np.asarray(uniques, dtype=np.int64)
    where = np.unravel_index(slots, dims)
    return group, {name: np.asarray(u)[w] for name, u, w in zip(names, labels, where, strict=True)}


def empty_sums(keys: Iterable[str], values: Iterable[str]) -> pd.DataFrame:
    """Sums of no row: the key columns (text) and the integer ``values`` columns."""
    frame = pd.DataFrame({name: pd.Series(dtype=object) for name in keys})
    for name in values:
        frame[name] = pd.Series(dtype=np.int64)
    return frame


def group_sums(keys: Mapping[str, Key], values: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Sum integer ``values`` over the distinct combinations of ``keys``, exactly.

    Keys are integer codes (:data:`Key`); values are summed with ``np.add.at``
    in int64, so large tables cost no Python loop over rows and no float sum.
    Returns one row per combination seen, key columns (labels) first, in no
    set order.
    """
    if len(next(iter(keys.values()))[0]) == 0:
        return empty_sums(keys, values)
    group, out = group_rows(keys)
    n_groups = len(next(iter(out.values())))
    frame: dict[str, Any] = dict(out)
    for name, column in values.items():
        sums = np.zeros(n_groups, dtype=np.int64)
        np.add.at(sums, group, np.asarray(column, dtype=np.int64))
        frame[name] = sums
    return pd.DataFrame(frame)


def kind_sums(
    keys: Mapping[str, Key],
    led: LedgerColumns,
    rows: np.ndarray,
    kinds: Iterable[str] = KIND_COLUMNS,
) -> pd.DataFrame:
    """Per combination of ``keys`` (over ledger ``rows``): the quantity of each of ``kinds``.

    One column per kind, named by the kind; every combination seen is a
    row, even one whose entries are all of other kinds.
    """
    kinds = list(kinds)
    if len(rows) == 0:
        return empty_sums(keys, kinds)
    group, out = group_rows(keys)
    sums = kind_sums_by_group(group, len(next(iter(out.values()))), led, rows, kinds)
    return pd.DataFrame({**out, **sums})


def kind_sums_by_group(
    group: np.ndarray,
    n_groups: int,
    led: LedgerColumns,
    rows: np.ndarray,
    kinds: Iterable[str] | Mapping[str, str],
) -> dict[str, np.ndarray]:
    """Per group, the quantity of each kind in ``kinds`` over ledger ``rows`` (group per row).

    ``kinds`` may map each kind to the name of its column.
    """
    names = dict(kinds) if isinstance(kinds, Mapping) else {k: k for k in kinds}
    # Ledger kind code -> column of the result (-1: a kind not asked for).
    column_of = np.full(len(led.kind.names) + 1, -1, dtype=np.int64)
    for i, kind in enumerate(names):
        if led.kind.code(kind) >= 0:
            column_of[led.kind.code(kind)] = i
    column = column_of[led.kind.codes[rows]]
    counted = column >= 0
    sums = np.zeros((n_groups, len(names)), dtype=np.int64)
    np.add.at(sums, (group[counted], column[counted]), led.quantity[rows][counted])
    return {name: sums[:, i] for i, name in enumerate(names.values())}


def month_labels(codes: np.ndarray) -> np.ndarray:
    """``YYYY-MM`` labels of months since 1970-01 (the labels of :func:`month_key`)."""
    codes = np.asarray(codes, dtype=np.int64)
    return np.datetime_as_string(codes.astype("datetime64[M]"), unit="M").astype(object)


# ---------------------------------------------------------------------------
# Rates, order and percentiles


def ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """``num / den`` as floats, NaN where ``den`` is 0."""
    num = num.astype(np.float64)
    den = den.astype(np.float64)
    return (num / den.where(den != 0)).astype(np.float64)


def div(num: int, den: int) -> float:
    """``num / den``, NaN when ``den`` is 0."""
    return num / den if den else math.nan


def ordered_tiers(tiers: pd.Series) -> list[str]:
    """The distinct tiers of ``tiers``: those of :data:`TIER_ORDER` first, in it, then A-Z."""
    seen = set(pd.unique(tiers.to_numpy()))
    return [t for t in TIER_ORDER if t in seen] + sorted(
        str(t) for t in seen if t not in TIER_ORDER
    )


def sort_rows(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Sort by keys: tiers in :data:`TIER_ORDER`, buckets by length, text A-Z, ``all`` last.

    Ranks are computed once per distinct value, so this costs no Python loop over rows.
    """
    ranked = {}
    for name in keys:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column):
            ranked[name] = column.to_numpy()
            continue
        values = [v for v in pd.unique(column.to_numpy()) if v != "all"]
        if name == "tier":
            order = ordered_tiers(pd.Series(values, dtype=object))
        elif name == "length_bucket":
            order = [b for b in LENGTH_BUCKETS if b in values]
            order += sorted(str(v) for v in values if v not in LENGTH_BUCKETS)
        else:
            order = sorted(values, key=str)
        ranked[name] = pd.Index([*order, "all"]).get_indexer(column.to_numpy())
    if not keys:
        return frame
    return frame.iloc[np.lexsort([ranked[name] for name in reversed(keys)])]


def weighted_percentiles(
    values: np.ndarray, weights: np.ndarray, percentiles: Sequence[int] = PERCENTILES
) -> list[float]:
    """Inverted-CDF percentiles of ``values`` weighted by whole-number ``weights``."""
    keep = weights > 0
    values, weights = values[keep], weights[keep]
    total = int(weights.sum())
    if total == 0:
        return [math.nan for _ in percentiles]
    # Any sort will do: equal values are interchangeable, whatever their order.
    order = np.argsort(values)
    values, cum = values[order], np.cumsum(weights[order])
    return [float(values[_first_reaching(cum, p, total)]) for p in percentiles]


def _first_reaching(cum: np.ndarray, p: int, total: int) -> int:
    """The first position where the cumulative weight ``cum`` reaches p % of ``total``.

    In integers: cum * 100 >= p * total holds from cum >= ceil(p * total / 100).
    """
    return int(np.searchsorted(cum, -(-p * total // 100), side="left"))


def integer_percentiles(
    values: np.ndarray,
    weights: np.ndarray,
    percentiles: Sequence[int] = PERCENTILES,
    dense_limit: int = 1 << 20,
) -> list[float]:
    """:func:`weighted_percentiles` of integer ``values``, then their maximum (NaN if none).

    When the values span few integers (at most ``dense_limit``, or four per
    value), the weights are counted per integer instead of sorted: the same
    percentiles, without a sort of millions of values.
    """
    keep = weights > 0
    values, weights = values[keep], weights[keep]
    total = int(weights.sum())
    if total == 0:
        return [math.nan for _ in (*percentiles, 0)]
    low, high = int(values.min()), int(values.max())
    if high - low + 1 > max(dense_limit, 4 * len(values)):
        return [*weighted_percentiles(values, weights, percentiles), float(high)]
    counts = np.zeros(high - low + 1, dtype=np.int64)
    np.add.at(counts, values - low, weights)
    cum = np.cumsum(counts)
    return [float(low + _first_reaching(cum, p, total)) for p in percentiles] + [float(high)]


def add_over(keys: tuple[str, ...]) -> Callable[[list[Any]], Any]:
    """Adds frames of sums: rows with equal ``keys`` summed (an empty key is a key too)."""
    return lambda frames: _add(frames, keys)


def stack_rows(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Per-member rows of several batches, one after the other: a member's rows are all in
    its batch (batches split the members), so nothing is added."""
    rows = [f for f in frames if not f.empty]
    if len(rows) <= 1:
        return rows[0] if rows else frames[0]
    return pd.concat(rows, ignore_index=True)


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
