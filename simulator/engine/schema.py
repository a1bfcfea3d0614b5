"""A small validator for plain YAML data that names the file, key path and value.

Policies (RULES.md section 7) and scenarios are read from YAML into plain
dicts, lists and scalars; this module checks them once, at the edge, and
collects *every* problem as one line ``FILE: key.path: what is wrong, got X``
rather than stopping at the first. It knows nothing about credits: the policy
and scenario modules describe their fields with it.

Only the standard library is used, so the engine stays pure.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from simulator.errors import format_path

__all__ = ["MISSING", "Checker", "FrozenMap", "Path", "show"]

_V = TypeVar("_V")

Path = tuple[str | int, ...]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenMap(Mapping[str, _V]):
    """An immutable, picklable mapping that keeps its insertion order."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, _V] | None = None) -> None:
        self._data: dict[str, _V] = dict(data or {})

    def __getitem__(self, key: str) -> _V:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (self._data,))


#: How much of a long text value an error line echoes.
SHOW_CHARS = 80


def show(value: Any) -> str:
    """A value as the user wrote it in YAML (``null``, ``true``, ``'x'``, ``3``)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        if len(value) > SHOW_CHARS:  # a 5 MB value is named, not echoed
            return f"{value[:SHOW_CHARS]!r}... ({len(value):,} characters)"
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Checker:
    """Collects problems found in one file; each problem is one output line."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def fail(self, path: Path, message: str) -> None:
        self.problems.append(f"{self.source}: {format_path(path)}: {message}")

    def bad(self, path: Path, expected: str, value: Any) -> None:
        self.fail(path, f"must be {expected}, got {show(value)}")

    # -- containers -------------------------------------------------------

    def mapping(self, path: Path, value: Any) -> Mapping[str, Any] | None:
        if not isinstance(value, Mapping):
            self.bad(path, "a mapping", value)
            return None
        for key in value:
            if not isinstance(key, str):
                self.fail(path, f"keys must be text, got {show(key)}")
                return None
        return value

    def known_keys(self, path: Path, value: Mapping[str, Any], allowed: Iterable[str]) -> None:
        allowed = list(allowed)
        for key in value:
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else ""
                self.fail((*path, key), f"unknown key{extra}")

    def required(self, path: Path, value: Mapping[str, Any], keys: Iterable[str]) -> bool:
        ok = True
        for key in keys:
            if key not in value:
                self.fail((*path, key), "is required")
                ok = False
        return ok

    # -- scalars ----------------------------------------------------------

    def integer(
        self,
        path: Path,
        value: Any,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
        nullable: bool = False,
    ) -> int | None:
        if value is None and nullable:
            return None
        kind = ("null or " if nullable else "") + "a whole number"
        if isinstance(value, bool) or not isinstance(value, int):
            self.bad(path, _bounded(kind, minimum, maximum), value)
            return None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            self.bad(path, _bounded(kind, minimum, maximum), value)
            return None
        return value

    def number(
        self,
        path: Path,
        value: Any,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        exclusive_minimum: bool = False,
    ) -> float | None:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.bad(path, _bounded("a finite number", minimum, maximum, exclusive_minimum), value)
            return None
        too_low = minimum is not None and (
            value <= minimum if exclusive_minimum else value < minimum
        )
        if too_low or (maximum is not None and value > maximum):
            self.bad(path, _bounded("a number", minimum, maximum, exclusive_minimum), value)
            return None
        return float(value)

    def boolean(self, path: Path, value: Any) -> bool | None:
        if not isinstance(value, bool):
            self.bad(path, "true or false", value)
            return None
        return value

    def choice(self, path: Path, value: Any, options: Iterable[str]) -> str | None:
        options = list(options)
        if not isinstance(value, str) or value not in options:
            listed = ", ".join(options)
            self.bad(path, f"one of {listed}", value)
            return None
        return value

    def text(self, path: Path, value: Any) -> str | None:
        if not isinstance(value, str) or not value:
            self.bad(path, "non-empty text", value)
            return None
        return value

    def text_list(
        self, path: Path, value: Any, *, options: Iterable[str] | None = None, allow_empty: bool
    ) -> tuple[str, ...] | None:
        if not isinstance(value, list):
            self.bad(path, "a list", value)
            return None
        if not value and not allow_empty:
            self.fail(path, "must not be empty")
            return None
        allowed = list(options) if options is not None else None
        out: list[str] = []
        ok = True
        for i, item in enumerate(value):
            if allowed is not None:
                if self.choice((*path, i), item, allowed) is None:
                    ok = False
                    continue
            elif self.text((*path, i), item) is None:
                ok = False
                continue
            if item in out:
                self.fail((*path, i), f"duplicate entry {show(item)}")
                ok = False
                continue
            out.append(item)
        return tuple(out) if ok else None


def _bounded(
    kind: str, minimum: float | None, maximum: float | None, exclusive: bool = False
) -> str:
    if minimum is not None and maximum is not None:
        if exclusive:
            return f"{kind} > {_num(minimum)} and <= {_num(maximum)}"
        return f"{kind} from {_num(minimum)} to {_num(maximum)}"
    if minimum is not None:
        return f"{kind} {'>' if exclusive else '>='} {_num(minimum)}"
    if maximum is not None:
        return f"{kind} <= {_num(maximum)}"
    return kind


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
