"""When a scenario runs: ``start``, ``end`` or ``duration_days``, and ``warmup_days``.

:func:`run_window` checks the top-level keys that place the run in time and
gives them as Unix seconds: the run simulates ``[start - warmup, end]`` and
measures from ``start``. Written instants have four-digit years and the tables
use Unix time, so a run lies within 1970-01-01 .. 9999-12-31. Instants are
parsed by :mod:`simulator.timeutil`; this module only says what is wrong with
them, in the scenario's words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from simulator.engine.schema import Checker, Path, show
from simulator.scenario.checks import opt
from simulator.scenario.defaults import AUTO, MAX_DAYS
from simulator.timeutil import DAY, civil_from_days, format_instant, parse_date_or_instant

__all__ = ["Window", "run_window"]


class Window(NamedTuple):
    """The run's instants in Unix seconds; None where a problem was reported."""

    start: int | None
    end: int | None
    warmup_days: int | None  # 0 until chosen when auto_warmup
    auto_warmup: bool


def run_window(check: Checker, doc: Mapping[str, Any]) -> Window:
    """``start``, the end, and the warm-up of the scenario document ``doc``."""
    start = _instant(check, ("start",), doc["start"]) if "start" in doc else None
    if "start" not in doc:
        check.fail(("start",), "is required")
    if start is not None and start < 0:
        check.fail(("start",), f"must be 1970-01-01 or later, got {show(doc['start'])}")
        start = None
    end = _end(check, doc, start)
    raw_warmup = opt(doc, "warmup_days", 0)
    auto_warmup = raw_warmup == AUTO
    warmup: int | None = 0
    if isinstance(raw_warmup, str) and not auto_warmup:
        check.bad(("warmup_days",), f"a whole number from 0 to {MAX_DAYS} or {AUTO}", raw_warmup)
        warmup = None
    elif not auto_warmup:
        warmup = check.integer(("warmup_days",), raw_warmup, minimum=0, maximum=MAX_DAYS)
    # Written instants have four-digit years, and the tables use Unix time:
    # a run lies within 1970-01-01 .. 9999-12-31.
    if start is not None and warmup is not None and start - warmup * DAY < 0:
        check.fail(
            ("warmup_days",),
            f"the warm-up must not start before 1970-01-01, got {warmup} "
            f"(it would start at {format_instant(start - warmup * DAY)[:10]})",
        )
    if end is not None and end >= _YEAR_10000:
        key = "duration_days" if doc.get("duration_days") is not None else "end"
        check.fail(
            (key,),
            f"the run must end before 10000-01-01, got {show(doc[key])} "
            f"(it would end at {_iso_any_year(end)})",
        )
    return Window(start, end, warmup, auto_warmup)


_INSTANT_EXPECTED = "a date (2014-01-01) or a UTC instant (2014-01-01T09:00:00Z)"
_YEAR_10000 = 253_402_300_800  # 10000-01-01T00:00:00Z in Unix seconds


def _iso_any_year(t: int) -> str:
    """An ISO instant of any year (:func:`~simulator.timeutil.format_instant` stops at 9999)."""
    days, secs = divmod(t, DAY)
    y, m, d = civil_from_days(days)
    return f"{y}-{m:02d}-{d:02d}T{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}Z"


def _instant(check: Checker, path: Path, value: Any, *, end_of_day: bool = False) -> int | None:
    """Unix seconds of a written date or instant; a date as an end means its last second."""
    if not isinstance(value, str):
        check.bad(path, _INSTANT_EXPECTED, value)
        return None
    try:
        t = parse_date_or_instant(value)
    except ValueError as exc:
        reason = str(exc).split(":", 1)[0]
        extra = f" ({reason})" if reason.startswith("no such") else ""
        check.fail(path, f"must be {_INSTANT_EXPECTED}, got {show(value)}{extra}")
        return None
    if end_of_day and "T" not in value:
        t += DAY - 1  # a date as end means the whole day is simulated
    return t


def _end(check: Checker, doc: Mapping[str, Any], start: int | None) -> int | None:
    """The last simulated second, from ``duration_days`` or ``end`` (exactly one is given)."""
    # null counts as absent, so an override can swap one for the other.
    has_days = doc.get("duration_days") is not None
    has_end = doc.get("end") is not None
    if has_days == has_end:
        check.fail(
            (), f"give exactly one of duration_days and end, got {'both' if has_end else 'neither'}"
        )
        return None
    if has_days:
        days = check.integer(("duration_days",), doc["duration_days"], minimum=1, maximum=MAX_DAYS)
        if days is None or start is None:
            return None
        return start + days * DAY - 1
    end = _instant(check, ("end",), doc["end"], end_of_day=True)
    if end is None or start is None:
        return None
    if end < start:
        check.fail(("end",), f"must not be before start, got {show(doc['end'])}")
        return None
    if end - start >= MAX_DAYS * DAY:
        check.fail(
            ("end",), f"must be less than {MAX_DAYS} days after start, got {show(doc['end'])}"
        )
        return None
    return end
