"""Reading files users give creditsim: one clear line for every way it can fail.

Scenario YAML, policy YAML, histories and delay CSVs are all read as UTF-8
text (a leading byte-order mark is dropped). A file that is missing, a
folder, unreadable or not UTF-8 is reported as one line naming the file and,
for bytes that are not UTF-8, the place: ``FILE:LINE:`` in CSV files (like
every other CSV problem) and ``FILE: line L, column C:`` in YAML files.

Standard library only: the engine's history reader uses it.
"""

from __future__ import annotations

from pathlib import Path

from simulator.errors import InputError

__all__ = ["not_utf8_message", "read_user_text"]


def not_utf8_message(data: bytes, position: int, source: str, *, csv: bool) -> str:
    """The line for bytes that are not UTF-8 at ``position`` of ``data``."""
    line = data.count(b"\n", 0, position) + 1
    column = position - (data.rfind(b"\n", 0, position) + 1) + 1
    where = f"{source}:{line}:" if csv else f"{source}: line {line}, column {column}:"
    return f"{where} not UTF-8 text"


def read_user_text(path: str | Path, error: type[InputError], *, csv: bool) -> str:
    """The UTF-8 text of ``path``, or ``error`` with one line saying what is wrong."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise error(f"{source}: no such file") from None
    except IsADirectoryError:
        raise error(f"{source}: is a directory, not a file") from None
    except OSError as exc:
        raise error(f"{source}: cannot read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(not_utf8_message(data, exc.start, source, csv=csv)) from None
    return text.removeprefix("\ufeff")
