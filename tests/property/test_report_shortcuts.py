"""The reports' counting and table shortcuts equal the plain computations they replace.

``simulator.reports`` counts integers in a table instead of sorting them when
they span a narrow range (percentiles of credit age, distinct balances) and
gives each group a slot when few groups are possible. Hypothesis draws the
inputs, including the ranges where each helper switches paths; the expected
values come from numpy's own ``percentile(method="inverted_cdf")`` and
``unique`` on the repeated values, not from the code under test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator import columns, reports
from simulator.reports import balances, groups

PERCENTILES = reports.PERCENTILES

values_and_weights = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(-(10**7), 10**7), min_size=n, max_size=n),
        st.lists(st.integers(0, 5), min_size=n, max_size=n),
    )
)


@given(values_and_weights, st.sampled_from([1, 64, 1 << 30]))
def test_integer_percentiles_equal_numpy_on_repeated_values(data, dense_limit) -> None:  # type: ignore[no-untyped-def]
    """Counting (any dense_limit) or sorting: numpy's inverted-CDF percentiles and the max."""
    values, weights = (np.array(x, dtype=np.int64) for x in data)
    got = groups.integer_percentiles(values, weights, dense_limit=dense_limit)
    repeated = np.repeat(values, weights)
    if len(repeated) == 0:
        assert all(np.isnan(got))
        return
    expected = [float(v) for v in np.percentile(repeated, PERCENTILES, method="inverted_cdf")]
    assert got == [*expected, float(repeated.max())]


@given(
    st.lists(st.lists(st.integers(-(10**6), 10**6), max_size=30), min_size=1, max_size=4),
    st.integers(0, 10**9),
)
def test_distinct_equals_unique_and_positions(parts, shift) -> None:  # type: ignore[no-untyped-def]
    """Narrow or wide ranges: the sorted distinct values and where each element is."""
    arrays = [np.array([0, *p], dtype=np.int64) + shift for p in parts]
    values, where = balances._distinct(arrays)
    np.testing.assert_array_equal(values, np.unique(np.concatenate(arrays)))
    for array, position in zip(arrays, where, strict=True):
        np.testing.assert_array_equal(values[position], array)


@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 400), st.integers(-5, 5)), min_size=1),
)
def test_group_sums_equal_pandas_groupby(rows) -> None:  # type: ignore[no-untyped-def]
    """Slots or factorized groups: the sums of a pandas groupby over the labels."""
    a, b, v = (np.array(x, dtype=np.int64) for x in zip(*rows, strict=True))
    keys = {
        "a": (a, np.array(["w", "x", "y", "z"], dtype=object)),
        # 401 labels x 4 > 4 rows per slot for short inputs: the factorized path too.
        "b": (b, np.arange(401) * 10),
    }
    got = groups.group_sums(keys, {"v": v}).sort_values(["a", "b"]).reset_index(drop=True)
    frame = pd.DataFrame({"a": keys["a"][1][a], "b": keys["b"][1][b], "v": v})
    expected = frame.groupby(["a", "b"], as_index=False)["v"].sum()
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


@given(st.lists(st.sampled_from(["a", "b", "c", None, ""]), max_size=40), st.integers(1, 5))
def test_text_codes_from_arrow_chunks_and_pandas_agree(texts, chunks) -> None:  # type: ignore[no-untyped-def]
    """Chunked Arrow text (plain or dictionary) and pandas give the same values per row."""
    size = -(-len(texts) // chunks) if texts else 1
    pieces = [texts[i : i + size] for i in range(0, len(texts), size)] or [[]]
    plain = pa.chunked_array([pa.array(p, type=pa.string()) for p in pieces])
    coded = pa.chunked_array([pa.array(p, type=pa.string()).dictionary_encode() for p in pieces])
    for codes, names in (
        columns.arrow_codes(plain),
        columns.arrow_codes(coded),
        columns._pandas_codes(pd.Series(texts, dtype=object)),
    ):
        labels = columns.Codes(codes, np.array([*names, None], dtype=object)[:-1]).labels(codes)
        assert labels.tolist() == texts


def test_shared_dictionary_codes_compare_across_tables() -> None:
    """Members coded in two tables with different local dictionaries share one dictionary."""
    first = columns._pandas_codes(pd.Series(["m1", "m2", None]))
    second = columns.arrow_codes(pa.chunked_array([pa.array(["m3", "m1"])]))
    a, b = columns.shared_codes([first, second])
    assert a.names is b.names
    assert a.labels(a.codes).tolist() == ["m1", "m2", None]
    assert b.labels(b.codes).tolist() == ["m3", "m1"]
    assert b.codes[1] == a.codes[0]  # "m1" is one code in both


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_instants_from_arrow_equal_pandas(unit: str) -> None:
    """Timestamps of any unit, with empty cells and fractions of a second, as pandas reads them."""
    stamps = pd.Series(
        pd.to_datetime(
            ["1969-12-31T23:59:59.5Z", "2024-02-29T12:00:00Z", None, "2014-01-01T00:00:00Z"],
            format="ISO8601",
        )
    ).astype(f"datetime64[{unit}, UTC]")
    table = pa.table({"t": pa.array(stamps)})
    from_arrow = columns.TableReader("x", table).instants("t")
    from_pandas = columns.instants(stamps)
    np.testing.assert_array_equal(from_arrow, from_pandas)
    assert from_arrow[2] == columns.NAT


@given(st.lists(st.integers(0, 253_402_300_799), min_size=0, max_size=200))
def test_month_end_by_search_equals_numpy_calendar(instants: list[int]) -> None:
    """run_summary._month_end (a search in month starts) equals numpy's datetime64 arithmetic."""
    from simulator.run_summary import _month_end

    t = np.asarray(instants, dtype=np.int64)
    expected = (t.astype("datetime64[s]").astype("datetime64[M]") + 1).astype("datetime64[s]")
    assert np.array_equal(_month_end(t), expected.astype(np.int64))
