"""Instants, ISO text and monthly anniversaries (RULES.md section 1).

``simulator.timeutil`` does its own calendar arithmetic (Hinnant's
days-from-civil) so the engine never needs ``datetime``. These tests check it
against Python's ``datetime``/``calendar`` modules, an independent
implementation of the proleptic Gregorian calendar: every expected instant is
built with ``datetime`` (the helpers ``_ts`` and ``_ref_anniversary`` below),
and the hand-written tables restate RULES.md's examples (Jan 31 -> Feb 28 or
29 -> Mar 31 -> Apr 30) so a wrong reference could not hide a wrong rule.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.timeutil import (
    DAY,
    civil_from_days,
    days_from_civil,
    first_of_month_after,
    format_instant,
    monthly_anniversary,
    parse_instant,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ts(text: str) -> int:
    """Unix seconds of ``YYYY-MM-DDTHH:MM:SS`` (UTC), computed by ``datetime``."""
    dt = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return (dt - EPOCH) // timedelta(seconds=1)


def _ref_anniversary(anchor: datetime, k: int) -> datetime:
    """RULES.md section 1 with ``datetime``: same day and time, k months on, clamped."""
    index = anchor.year * 12 + anchor.month - 1 + k
    year, month = divmod(index, 12)
    month += 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def _seconds(dt: datetime) -> int:
    return (dt - EPOCH) // timedelta(seconds=1)


# -- monthly_anniversary -----------------------------------------------------

ANNIVERSARIES = [
    # (anchor, k, expected): RULES.md section 1, by the calendar
    ("2024-01-31T09:00:00", 0, "2024-01-31T09:00:00"),  # k=0 is the anchor itself
    ("2024-01-31T09:00:00", 1, "2024-02-29T09:00:00"),  # leap February: last day is the 29th
    ("2024-01-31T09:00:00", 2, "2024-03-31T09:00:00"),  # from the anchor, not from Feb 29
    ("2024-01-31T09:00:00", 3, "2024-04-30T09:00:00"),  # April has 30 days
    ("2024-01-31T09:00:00", 13, "2025-02-28T09:00:00"),  # common February
    ("2023-01-31T23:59:59", 1, "2023-02-28T23:59:59"),  # time of day kept to the second
    ("2023-12-31T00:00:00", 2, "2024-02-29T00:00:00"),  # across a year end into a leap Feb
    ("2023-11-30T12:30:00", 3, "2024-02-29T12:30:00"),  # 30th clamped in February
    ("2023-01-30T08:00:00", 1, "2023-02-28T08:00:00"),  # 30th, common February
    ("2023-01-30T08:00:00", 2, "2023-03-30T08:00:00"),  # back to the 30th
    ("2023-01-29T08:00:00", 1, "2023-02-28T08:00:00"),  # 29th, common February
    ("2024-01-29T08:00:00", 1, "2024-02-29T08:00:00"),  # 29th, leap February: no clamp
    ("2024-02-29T10:00:00", 1, "2024-03-29T10:00:00"),  # Feb 29 anchor keeps the 29th
    ("2024-02-29T10:00:00", 12, "2025-02-28T10:00:00"),  # no Feb 29 in 2025
    ("2024-02-29T10:00:00", 48, "2028-02-29T10:00:00"),  # four years on: leap again
    ("2024-03-31T00:00:00", 11, "2025-02-28T00:00:00"),  # 31st into a common February
    ("2099-12-31T06:00:00", 2, "2100-02-28T06:00:00"),  # 2100 is not a leap year
    ("2399-12-31T06:00:00", 2, "2400-02-29T06:00:00"),  # 2400 is a leap year
    ("2024-01-15T00:00:00", 48, "2028-01-15T00:00:00"),  # an ordinary day never clamps
]


@pytest.mark.parametrize(("anchor", "k", "expected"), ANNIVERSARIES)
def test_monthly_anniversary_table(anchor: str, k: int, expected: str) -> None:
    """The k-th anniversary of hand-picked anchors falls on the calendar date expected."""
    assert monthly_anniversary(_ts(anchor), k) == _ts(expected)


def test_monthly_anniversary_of_31st_walks_every_month_end() -> None:
    """Jan 31 anchor: k=0..12 land on each month's last day of 2024 and Jan 31 2025."""
    anchor = _ts("2024-01-31T09:00:00")
    got = [format_instant(monthly_anniversary(anchor, k)) for k in range(13)]
    expected = [  # calendar.monthrange(2024, m)[1] for each month, then 2025-01-31
        f"2024-{m:02d}-{calendar.monthrange(2024, m)[1]:02d}T09:00:00Z" for m in range(1, 13)
    ] + ["2025-01-31T09:00:00Z"]
    assert got == expected


@settings(max_examples=300)
@given(
    anchor=st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2199, 12, 31, 23, 59, 59)
    ).map(lambda d: d.replace(microsecond=0, tzinfo=UTC)),
    k=st.integers(min_value=0, max_value=48),
)
def test_monthly_anniversary_matches_datetime(anchor: datetime, k: int) -> None:
    """Any anchor and k in 0..48 agree with the datetime reference."""
    assert monthly_anniversary(_seconds(anchor), k) == _seconds(_ref_anniversary(anchor, k))


@pytest.mark.parametrize("day", [28, 29, 30, 31])
@pytest.mark.parametrize("year", [2023, 2024])
def test_monthly_anniversary_month_ends_exhaustive(year: int, day: int) -> None:
    """Anchors on the 28th-31st of every month, k=0..48, agree with the datetime reference."""
    for month in range(1, 13):
        if day > calendar.monthrange(year, month)[1]:
            continue
        anchor = datetime(year, month, day, 17, 45, 3, tzinfo=UTC)
        for k in range(49):
            got = monthly_anniversary(_seconds(anchor), k)
            assert got == _seconds(_ref_anniversary(anchor, k)), (anchor, k)


# -- first_of_month_after ----------------------------------------------------

FIRSTS = [
    # (anchor, k, expected): 00:00:00 on the 1st of the k-th month after the anchor's
    ("2024-01-01T00:00:00", 1, "2024-02-01T00:00:00"),  # exactly a 1st at 00:00: next month
    ("2024-01-01T00:00:01", 1, "2024-02-01T00:00:00"),
    ("2024-01-31T23:59:59", 1, "2024-02-01T00:00:00"),  # one second before the 1st
    ("2024-02-29T12:00:00", 1, "2024-03-01T00:00:00"),
    ("2023-12-15T08:00:00", 1, "2024-01-01T00:00:00"),  # across a year end
    ("2023-12-15T08:00:00", 12, "2024-12-01T00:00:00"),
    ("2023-12-15T08:00:00", 13, "2025-01-01T00:00:00"),
    ("2024-01-01T00:00:00", 48, "2028-01-01T00:00:00"),
]


@pytest.mark.parametrize(("anchor", "k", "expected"), FIRSTS)
def test_first_of_month_after_table(anchor: str, k: int, expected: str) -> None:
    """The k-th first-of-month after hand-picked anchors is the calendar date expected."""
    assert first_of_month_after(_ts(anchor), k) == _ts(expected)


@settings(max_examples=300)
@given(
    anchor=st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2199, 12, 31, 23, 59, 59)
    ).map(lambda d: d.replace(microsecond=0, tzinfo=UTC)),
    k=st.integers(min_value=1, max_value=48),
)
def test_first_of_month_after_matches_datetime(anchor: datetime, k: int) -> None:
    """The result is a 1st at 00:00:00, strictly after the anchor, k months on (datetime)."""
    got = first_of_month_after(_seconds(anchor), k)
    index = anchor.year * 12 + anchor.month - 1 + k
    year, month = divmod(index, 12)
    expected = datetime(year, month + 1, 1, tzinfo=UTC)
    assert got == _seconds(expected)
    assert got > _seconds(anchor)


# -- calendar primitives -----------------------------------------------------


@settings(max_examples=300)
@given(st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
def test_days_from_civil_round_trip(d: date) -> None:
    """days_from_civil counts days since 1970-01-01 like date.toordinal; civil_from_days inverts."""
    days = d.toordinal() - EPOCH.date().toordinal()
    assert days_from_civil(d.year, d.month, d.day) == days
    assert civil_from_days(days) == (d.year, d.month, d.day)


def test_year_zero_round_trips() -> None:
    """Year 0000 (a leap year, proleptic Gregorian) lies outside ``datetime``'s range.

    A history may name it (a typo the span guard reports, by its instant), and
    civil_from_days once gave 0000-01-02 for 0000-01-01: its era correction was
    written for C's truncating division on top of Python's flooring one.
    Expected: 0000-03-01 is 719,468 days before 1970-01-01 (the constant of
    Hinnant's algorithm), and January and February of year 0 have 31 + 29 days.
    """
    assert days_from_civil(0, 3, 1) == -719_468
    assert days_from_civil(0, 1, 1) == -719_468 - 60
    for n in range(-719_468 - 60, -719_468 + 366):
        assert days_from_civil(*civil_from_days(n)) == n
    assert civil_from_days(-719_468 - 60) == (0, 1, 1)
    assert civil_from_days(-719_468 - 1) == (0, 2, 29)


# -- parse_instant / format_instant --------------------------------------------


@settings(max_examples=300)
@given(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)).map(
        lambda d: d.replace(microsecond=0, tzinfo=UTC)
    )
)
def test_parse_and_format_round_trip(dt: datetime) -> None:
    """parse_instant gives datetime's Unix seconds, and format_instant writes the text back."""
    text = dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    if dt.year < 1000:  # strftime does not zero-pad years on every platform
        text = f"{dt.year:04d}" + text[text.index("-") :]
    t = parse_instant(text)
    assert t == _seconds(dt)
    assert format_instant(t) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00Z", 0),  # the Unix epoch, by definition
        ("2024-01-31T09:00:00Z", _ts("2024-01-31T09:00:00")),
        ("2024-01-31T09:00:00+00:00", _ts("2024-01-31T09:00:00")),  # RULES.md 8: +00:00 is Z
        ("2024-02-29T23:59:59Z", _ts("2024-02-29T23:59:59")),  # leap day, last second
        ("1969-12-31T23:59:59Z", -1),  # one second before the epoch
    ],
)
def test_parse_instant_accepts(text: str, expected: int) -> None:
    """Well-formed UTC instants parse to datetime's Unix seconds."""
    assert parse_instant(text) == expected


def test_format_instant_always_writes_z() -> None:
    """An instant read with +00:00 is written back with Z (RULES.md section 1)."""
    assert format_instant(parse_instant("2024-01-31T09:00:00+00:00")) == "2024-01-31T09:00:00Z"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2023-02-29T00:00:00Z", "no such date: '2023-02-29T00:00:00Z'"),  # 2023 is not leap
        ("2024-04-31T00:00:00Z", "no such date: '2024-04-31T00:00:00Z'"),
        ("2024-13-01T00:00:00Z", "no such date: '2024-13-01T00:00:00Z'"),
        ("2024-00-10T00:00:00Z", "no such date: '2024-00-10T00:00:00Z'"),
        ("2024-01-00T00:00:00Z", "no such date: '2024-01-00T00:00:00Z'"),
        ("2024-01-01T24:00:00Z", "no such time of day: '2024-01-01T24:00:00Z'"),
        ("2024-01-01T23:60:00Z", "no such time of day: '2024-01-01T23:60:00Z'"),
        ("2024-01-01T23:59:60Z", "no such time of day: '2024-01-01T23:59:60Z'"),  # leap second
        ("2024-01-01T00:00:00", "not an ISO 8601 UTC instant"),  # missing Z
        ("2024-01-01T00:00:00+01:00", "not an ISO 8601 UTC instant"),  # not UTC
        ("2024-01-01T00:00:00-00:00", "not an ISO 8601 UTC instant"),
        ("2024-01-01T00:00:00z", "not an ISO 8601 UTC instant"),  # lower-case z
        ("2024-01-01", "not an ISO 8601 UTC instant"),  # a date without a time
        ("2024-01-01T00:00Z", "not an ISO 8601 UTC instant"),  # no seconds
        ("2024-01-01T00:00:00.5Z", "not an ISO 8601 UTC instant"),  # a fraction
        ("2024-01-01 00:00:00Z", "not an ISO 8601 UTC instant"),  # space for T
        ("2024-1-01T00:00:00Z", "not an ISO 8601 UTC instant"),  # unpadded month
        (" 2024-01-01T00:00:00Z", "not an ISO 8601 UTC instant"),  # surrounding space
        ("2024-01-01T00:00:00Z\n", "not an ISO 8601 UTC instant"),
        ("", "not an ISO 8601 UTC instant"),
    ],
)
def test_parse_instant_rejects(text: str, message: str) -> None:
    """Impossible dates, times and non-UTC or incomplete forms raise ValueError with a reason."""
    with pytest.raises(ValueError) as info:
        parse_instant(text)
    assert message in str(info.value)


def test_day_is_86400_seconds() -> None:
    """RULES.md section 1: a day is exactly 86,400 s."""
    assert DAY == 86_400


@pytest.mark.parametrize("text", ["２０２４-01-01T00:00:00Z", "2024-01-01T0٩:00:00Z"])
def test_parse_instant_refuses_non_ascii_digits(text: str) -> None:
    """Only ASCII digits make an instant (Python's \\d would accept other scripts)."""
    with pytest.raises(ValueError, match="not an ISO 8601 UTC instant"):
        parse_instant(text)


def test_format_instant_is_stable_across_its_day_cache() -> None:
    """Formatting the same instant twice (cached day text) gives the same text."""
    t = parse_instant("2024-02-29T23:59:59Z")
    assert format_instant(t) == format_instant(t) == "2024-02-29T23:59:59Z"
