"""Instants, ISO 8601 text and monthly anniversaries (RULES.md section 1).

An instant is a whole number of seconds on the UTC time line. The engine works
on Unix seconds (seconds since 1970-01-01T00:00:00Z), which is the scenario's
"seconds since start" shifted by a constant, so every boundary is an integer
comparison and no float ever decides one. Calendar arithmetic uses the
proleptic Gregorian calendar through Howard Hinnant's ``days_from_civil``
algorithms, which are exact for every year and cost a few integer operations,
so the engine can compute the k-th anniversary of an anchor without
``datetime``.

This module imports nothing outside the standard library: the engine uses it.
"""

from __future__ import annotations

import re

__all__ = [
    "DAY",
    "MEAN_MONTH_DAYS",
    "civil_from_days",
    "days_from_civil",
    "days_in_month",
    "first_of_month_after",
    "format_instant",
    "monthly_anniversary",
    "parse_date_or_instant",
    "parse_instant",
]

DAY = 86_400
#: The mean Gregorian month, 365.2425 / 12 = 30.436875 days: what "per month" means
#: for every rate of a scenario (sends, cancels, arrivals) and for the estimates.
MEAN_MONTH_DAYS = 365.2425 / 12

_ISO = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(Z|\+00:00)\Z",
)
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year: int, month: int) -> int:
    """Number of days in ``month`` (1-12) of ``year``."""
    if month == 2 and _is_leap(year):
        return 29
    return _MONTH_DAYS[month - 1]


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date."""
    year -= month <= 2
    era = year // 400  # Python's // floors: no correction for negatives (unlike C's /)
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """The (year, month, day) of a count of days since 1970-01-01."""
    days += 719_468
    era = days // 146_097  # floors, as above (0000-01-01 once came back as 0000-01-02)
    doe = days - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def monthly_anniversary(anchor: int, k: int) -> int:
    """The k-th monthly anniversary of ``anchor`` (RULES.md section 1).

    Same time of day, same day of month, ``k`` calendar months later; the last
    day of the month when that month is too short. Always computed from the
    anchor, so Jan 31 -> Feb 28/29 -> Mar 31 -> Apr 30. The day is cached by
    (anchor day, k): a run asks for the same few thousand pairs millions of
    times (every member-month of the model, every grant of the engine).
    """
    days, secs = divmod(anchor, DAY)
    key = (days, k)
    target = _ANNIVERSARY_CACHE.get(key)
    if target is None:
        year, month, day = civil_from_days(days)
        index = year * 12 + (month - 1) + k
        year, month = divmod(index, 12)
        month += 1
        target = days_from_civil(year, month, min(day, days_in_month(year, month)))
        if len(_ANNIVERSARY_CACHE) < 200_000:  # anchors span few days; stay bounded
            _ANNIVERSARY_CACHE[key] = target
    return target * DAY + secs


def first_of_month_after(anchor: int, k: int) -> int:
    """00:00:00 UTC on the 1st of the k-th month after the anchor's month (k >= 1).

    For k = 1 this is the first 1st of a month strictly after ``anchor``, even
    when ``anchor`` itself is 00:00:00 on a 1st.
    """
    year, month, _ = civil_from_days(anchor // DAY)
    index = year * 12 + (month - 1) + k
    year, month = divmod(index, 12)
    return days_from_civil(year, month + 1, 1) * DAY


_DAY_CACHE: dict[str, int] = {}
_ANNIVERSARY_CACHE: dict[tuple[int, int], int] = {}
_DAY_TEXT_CACHE: dict[int, str] = {}


def _day_number(date_text: str) -> int:
    """Days since 1970-01-01 of ``YYYY-MM-DD`` (digits already checked); -1 if no such date."""
    days = _DAY_CACHE.get(date_text)
    if days is None:
        year, month, day = int(date_text[:4]), int(date_text[5:7]), int(date_text[8:10])
        if 1 <= month <= 12 and 1 <= day <= days_in_month(year, month):
            days = days_from_civil(year, month, day)
        else:
            days = -1 << 40
        if len(_DAY_CACHE) < 100_000:  # histories span few days; stay bounded
            _DAY_CACHE[date_text] = days
    return days


def parse_instant(text: str) -> int:
    """Parse ``YYYY-MM-DDTHH:MM:SSZ`` (or ``+00:00``) into Unix seconds.

    Raises ``ValueError`` with a short reason for anything else, including
    impossible dates such as ``2023-02-29``. Dates are cached, since a history
    names the same days again and again.
    """
    m = _ISO.match(text)
    if m is None:
        raise ValueError(f"not an ISO 8601 UTC instant like 2024-01-31T09:00:00Z: {text!r}")
    days = _day_number(text[:10])
    if days == -1 << 40:
        raise ValueError(f"no such date: {text!r}")
    hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"no such time of day: {text!r}")
    return days * DAY + hour * 3600 + minute * 60 + second


def parse_date_or_instant(text: str) -> int:
    """Like :func:`parse_instant`, but also accept a bare date (midnight UTC)."""
    m = _DATE.match(text)
    if m is not None:
        year, month, day = (int(g) for g in m.groups())
        if not 1 <= month <= 12 or not 1 <= day <= days_in_month(year, month):
            raise ValueError(f"no such date: {text!r}")
        return days_from_civil(year, month, day) * DAY
    return parse_instant(text)


def format_instant(t: int) -> str:
    """Unix seconds -> ``YYYY-MM-DDTHH:MM:SSZ``."""
    days, secs = divmod(t, DAY)
    date = _DAY_TEXT_CACHE.get(days)
    if date is None:
        year, month, day = civil_from_days(days)
        date = f"{year:04d}-{month:02d}-{day:02d}"
        if len(_DAY_TEXT_CACHE) < 100_000:
            _DAY_TEXT_CACHE[days] = date
    hour, rem = divmod(secs, 3600)
    minute, second = divmod(rem, 60)
    return f"{date}T{hour:02d}:{minute:02d}:{second:02d}Z"
