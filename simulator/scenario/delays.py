"""Response delays: a named distribution, listed seconds, or a CSV file of observed delays.

``recipients.delay`` is ``exponential``, ``lognormal`` or ``gamma`` with its
parameters in days, or ``empirical``: whole seconds, listed inline
(``delay_seconds``) or read from a one-column CSV ``file`` (``delay_seconds``
or ``delay_days``) relative to the scenario's folder. CSV problems name the
file and line, like every other CSV problem, at most
:data:`~simulator.scenario.defaults.MAX_CSV_PROBLEMS` of them. Values are read
exactly (Decimal), never through float arithmetic. Builds a
:class:`~simulator.scenario.values.DelayDist`.
"""

from __future__ import annotations

import csv
import io
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path as FilePath
from typing import Any

from simulator.engine.schema import Checker, Path, show
from simulator.scenario.checks import positive_number
from simulator.scenario.defaults import DELAY_PARAMS, MAX_CSV_PROBLEMS, MAX_DAYS, MAX_DELAY_SECONDS
from simulator.scenario.values import DelayDist
from simulator.timeutil import DAY
from simulator.userfiles import not_utf8_message

__all__ = ["parse_delay"]

_CSV_COLUMNS = {"delay_seconds": 1, "delay_days": DAY}  # a column's name -> seconds per unit


def parse_delay(check: Checker, path: Path, value: Any, base_dir: FilePath) -> DelayDist | None:
    """A delay distribution: a named one, listed ``delay_seconds``, or a CSV ``file``."""
    raw = check.mapping(path, value)
    if raw is None:
        return None
    kind = check.choice((*path, "kind"), raw.get("kind"), DELAY_PARAMS)
    if kind is None:
        return None
    params = DELAY_PARAMS[kind]
    check.known_keys(path, raw, ("kind", *params))
    before = len(check.problems)
    if kind == "empirical":
        if ("file" in raw) == ("delay_seconds" in raw):
            check.fail(path, "an empirical delay needs exactly one of file and delay_seconds")
            return None
        if "file" in raw:
            file = check.text((*path, "file"), raw["file"])
            if file is None:
                return None
            seconds = _read_delay_csv(check, (*path, "file"), file, base_dir)
            return DelayDist("empirical", seconds=seconds, file=file) if seconds else None
        listed = raw["delay_seconds"]
        if not isinstance(listed, list):
            check.bad((*path, "delay_seconds"), "a list of whole seconds >= 1", listed)
            return None
        if not listed:
            check.fail((*path, "delay_seconds"), "must not be empty")
            return None
        values = [
            check.integer((*path, "delay_seconds", i), v, minimum=1, maximum=MAX_DELAY_SECONDS)
            for i, v in enumerate(listed)
        ]
        if len(check.problems) > before:
            return None
        return DelayDist("empirical", seconds=tuple(v for v in values if v is not None))
    check.required(path, raw, params)
    got: dict[str, float | None] = {}
    for name in params:
        if name not in raw:
            continue
        if name == "sigma":
            got[name] = check.number((*path, name), raw[name], minimum=0, maximum=10)
        else:
            got[name] = positive_number(check, (*path, name), raw[name], MAX_DAYS)
    if len(check.problems) > before:
        return None
    return DelayDist(
        kind,
        mean_days=got.get("mean_days"),
        median_days=got.get("median_days"),
        sigma=got.get("sigma"),
        shape=got.get("shape"),
    )


def _read_delay_csv(
    check: Checker, path: Path, file: str, base_dir: FilePath
) -> tuple[int, ...] | None:
    """Delays in whole seconds from a one-column CSV; problems name the CSV and line."""
    full = FilePath(file)
    if not full.is_absolute():
        full = base_dir / full
    shown = str(full)
    try:
        data = full.read_bytes()
    except FileNotFoundError:
        check.fail(path, f"no such file {show(shown)}")
        return None
    except IsADirectoryError:
        check.fail(path, f"is a directory, not a file: {show(shown)}")
        return None
    except OSError as exc:
        check.fail(path, f"cannot read {show(shown)}: {exc.strerror}")
        return None
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        check.problems.append(not_utf8_message(data, exc.start, shown, csv=True))
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        check.problems.append(f"{shown}:{reader.line_num}: bad CSV: {exc}")
        return None
    rows = [(n, row) for n, row in rows if any(cell.strip() for cell in row)]
    if not rows:
        check.problems.append(f"{shown}: file is empty")
        return None
    line, header = rows[0]
    names = [cell.strip() for cell in header]
    if len(names) != 1 or names[0] not in _CSV_COLUMNS:
        check.problems.append(
            f"{shown}:{line}: the header must be one column, delay_seconds or delay_days,"
            f" got {show(','.join(header))}"
        )
        return None
    column = names[0]
    factor = _CSV_COLUMNS[column]
    out: list[int] = []
    bad: list[str] = []
    for n, row in rows[1:]:
        cell = row[0].strip() if len(row) == 1 else None
        seconds = _delay_cell(cell, factor) if cell is not None else None
        if seconds is not None:
            out.append(seconds)
            continue
        if cell is None:
            bad.append(f"{shown}:{n}: expected 1 column, got {len(row)}")
        else:
            unit = "whole number of seconds" if factor == 1 else "number of days"
            bad.append(
                f"{shown}:{n}: {column}: must be a {unit} > 0 and at least 1 second"
                f" (at most {MAX_DAYS} days), got {show(cell)}"
            )
    if bad:
        check.problems.extend(bad[:MAX_CSV_PROBLEMS])
        if len(bad) > MAX_CSV_PROBLEMS:
            check.problems.append(f"{shown}: ... and {len(bad) - MAX_CSV_PROBLEMS} more bad rows")
        return None
    if not out:
        check.problems.append(f"{shown}: has a header but no delays")
        return None
    return tuple(out)


def _delay_cell(cell: str, factor: int) -> int | None:
    """Whole seconds from a CSV cell, exactly (Decimal), or None if unusable."""
    if not re.fullmatch(r"\d+(\.\d+)?", cell):
        return None
    try:
        exact = Decimal(cell) * factor
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return None
    if factor == 1 and exact != exact.to_integral_value():
        return None
    seconds = int(exact.to_integral_value(rounding=ROUND_HALF_EVEN))
    if seconds < 1 or seconds > MAX_DELAY_SECONDS:
        return None
    return seconds
