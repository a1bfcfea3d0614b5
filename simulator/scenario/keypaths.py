"""Key paths into a scenario document, and overrides placed along them.

An override (``--set KEY.PATH=VALUE``, :meth:`~simulator.scenario.Scenario.with_overrides`,
a sweep's axis) names a place in the document *as written* by a key path,
``population[0].sending.inmails_per_month`` or ``("population", 0, "sending",
"inmails_per_month")``, and replaces what is there (a mapping is not merged).
This module parses key paths and ``--set`` arguments, copies documents as
plain YAML data (:func:`plain`), and places values (:func:`set_path`,
:func:`place_overrides`); validating the result is the caller's job, so
unwritten defaults keep following the policy. Values are YAML read with the
safe loader, never evaluated.
"""

from __future__ import annotations

import copy
import datetime
import functools
import numbers
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from simulator.engine.schema import Checker, Path
from simulator.errors import ScenarioError, format_path
from simulator.yamlio import load_yaml_text

__all__ = [
    "key_path",
    "parse_key_path",
    "parse_set_argument",
    "place_overrides",
    "plain",
    "set_path",
]

_SEGMENT = re.compile(r"([^.\[\]\s=]+)((?:\[\d+\])*)")
_INDEX = re.compile(r"\[(\d+)\]")


def parse_key_path(text: str) -> Path:
    """``"population[0].sending.inmails_per_month"`` -> ``("population", 0, "sending", ...)``.

    Raises ``ValueError`` naming the text when it is not a key path.
    """
    parts: list[str | int] = []
    for segment in text.split("."):
        m = _SEGMENT.fullmatch(segment)
        if m is None:
            raise ValueError(
                f"bad key path {text!r}: expected names joined by '.', each with"
                " optional [N] list indices, like population[0].sending.inmails_per_month"
            )
        parts.append(m.group(1))
        parts.extend(int(i) for i in _INDEX.findall(m.group(2)))
    return tuple(parts)


def parse_set_argument(text: str) -> tuple[Path, Any]:
    """Parse ``KEY.PATH=VALUE`` (a ``--set`` argument) into ``(path, value)``.

    The value is YAML, read with the safe loader (dates stay text, Python tags
    are refused, nothing is evaluated); an empty value is ``null``. Raises
    :class:`ScenarioError`.
    """
    key, sep, value_text = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(f"--set: expected KEY.PATH=VALUE, got {text!r}")
    try:
        path = parse_key_path(key)
    except ValueError as exc:
        raise ScenarioError(f"--set: {exc}") from None
    value = load_yaml_text(value_text, f"--set {key}", ScenarioError)
    return path, value


def key_path(key: str | Path) -> Path:
    """An override's key as a path: text is parsed (``ValueError`` if it is not a key
    path), a sequence of names and indices is taken as it is."""
    return parse_key_path(key) if isinstance(key, str) else tuple(key)


def place_overrides(
    check: Checker,
    document: Callable[[], Any],
    overrides: Mapping[str | Path, Any],
    resolved: Callable[[], Mapping[str, Any]],
) -> Any:
    """A copy of ``document()`` with each ``path: value`` of ``overrides`` placed.

    ``resolved()`` is the scenario with every default filled in, which
    :func:`set_path` copies unwritten lists and whole values from. The common
    case places every override on one copy. If any cannot be placed, they are
    placed again one by one, each on a copy, so that every problem is reported
    to ``check`` and a failed override leaves no half-made mappings behind; the
    result then holds the ones that could be placed.
    """
    once = functools.cache(resolved)
    placed = _place(Checker(check.source), document(), overrides, once, careful=False)
    if placed is not None:
        return placed
    return _place(check, document(), overrides, once, careful=True)


def _place(
    check: Checker,
    raw: Any,
    overrides: Mapping[str | Path, Any],
    resolved: Callable[[], Mapping[str, Any]],
    *,
    careful: bool,
) -> Any:
    """``raw`` with the overrides placed; not ``careful``: in place, None at the first
    problem; ``careful``: each on a copy of ``raw``, kept only if it was placed."""
    for key, value in overrides.items():
        try:
            path = key_path(key)
        except ValueError as exc:
            if not careful:
                return None
            check.fail((), str(exc))
            continue
        if not path or not all(
            isinstance(p, str) or (isinstance(p, int) and not isinstance(p, bool) and p >= 0)
            for p in path
        ):
            if not careful:
                return None
            check.fail((), f"an override needs a key path of names and indices, got {key!r}")
            continue
        if not careful:
            set_path(check, raw, path, plain(value), resolved())
            if check.problems:
                return None
            continue
        # On a copy: an override that cannot be placed must leave no
        # half-made mappings behind for the validation to report again.
        before = len(check.problems)
        trial = plain(raw)  # a deep copy of plain data, faster than copy.deepcopy
        set_path(check, trial, path, plain(value), resolved())
        if len(check.problems) == before:
            raw = trial
    return raw


def plain(value: Any) -> Any:
    """A deep copy as plain YAML data.

    numpy numbers become int or float, tuples lists, Decimals text, and dates
    (from a loader that parses timestamps) the ISO text the scenario parsers read.
    """
    kind = type(value)  # exact types first: ABC checks dominated sweeps' validation
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is dict:
        return {k: plain(v) for k, v in value.items()}
    if kind is list:
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.datetime):
        # A YAML timestamp read by a loader that parses them: without a zone it is UTC.
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, numbers.Real):
        return float(value)
    return value


# Values whose default is replaced whole when given: setting one key inside
# an unwritten one starts from the default rather than from nothing.
_TAKEN_WHOLE = frozenset(("categories", "response_kinds", "body_chars", "subject_chars", "delay"))


def set_path(check: Checker, raw: Any, path: Path, value: Any, resolved: Mapping[str, Any]) -> None:
    """Set ``raw[path] = value``, creating the mappings on the way.

    A list, or a value that is replaced whole (:data:`_TAKEN_WHOLE`), that the
    document does not write is first copied in from the resolved scenario, so
    setting one of its items keeps the others' defaults.
    """
    node = raw
    for i, step in enumerate(path):
        last = i == len(path) - 1
        here = path[: i + 1]
        if isinstance(step, int):
            if not isinstance(node, list):
                check.fail(here, f"{format_path(path[:i])} is not a list")
                return
            if step >= len(node):
                check.fail(here, f"no such entry ({format_path(path[:i])} has {len(node)})")
                return
            if last:
                node[step] = value
                return
            node = node[step]
            continue
        if not isinstance(node, dict):
            check.fail(here, f"{format_path(path[:i])} is not a mapping")
            return
        if last:
            node[step] = value
            return
        if step not in node or node[step] is None:
            default = _lookup(resolved, here)
            if isinstance(path[i + 1], int):
                if not isinstance(default, list):
                    check.fail(here, "no such list")
                    return
                node[step] = copy.deepcopy(default)
            elif path[0] != "policy" and step in _TAKEN_WHOLE and isinstance(default, Mapping):
                node[step] = copy.deepcopy(dict(default))
            else:
                # Merged sections (and the policy block, which merges over its
                # preset) start empty, so their other defaults stay live.
                node[step] = {}
        node = node[step]


def _lookup(doc: Any, path: Path) -> Any:
    """``doc[path]``, or None when the path is not in ``doc``."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(doc, list) or step >= len(doc):
                return None
        elif not isinstance(doc, Mapping) or step not in doc:
            return None
        doc = doc[step]
    return doc
