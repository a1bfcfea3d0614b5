"""Overrides of a scenario's keys, as the command line's ``--set KEY=VALUE`` gives them.

Job: :func:`parse_overrides` reads ``KEY.PATH=VALUE`` texts into overrides
(and one line per text that cannot be read); :func:`apply_overrides` applies
them to one or more scenarios, every problem in one pass, a problem that
several scenarios share reported once naming all of their files.

Boundary: what a key path and a value mean is :mod:`simulator.scenario`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from simulator.errors import CreditsimError, UsageError
from simulator.scenario import Scenario, parse_set_argument

__all__ = ["Overrides", "apply_overrides", "parse_overrides"]

#: Dotted key paths (or their parts) -> values, as :meth:`Scenario.with_overrides` takes them.
Overrides = dict[str | tuple[str | int, ...], Any]


def parse_overrides(texts: Sequence[str]) -> tuple[Overrides, list[str]]:
    """The ``KEY.PATH=VALUE`` texts as overrides, and one line per text that cannot be read."""
    pairs: Overrides = {}
    problems: list[str] = []
    for text in texts:
        try:
            path, value = parse_set_argument(text)
        except CreditsimError as exc:
            problems.extend(exc.problems)
            continue
        except ValueError as exc:
            problems.append(f"--set {text}: {exc}")
            continue
        pairs[path] = value
    return pairs, problems


def apply_overrides(
    named: Sequence[tuple[str, Scenario]],
    overrides: Mapping[str | tuple[str | int, ...], Any] | None,
    problems: Sequence[str] = (),
) -> list[Scenario]:
    """Each ``(file, scenario)`` with the overrides applied.

    Raises :class:`UsageError` with ``problems`` (the caller's arguments that
    could not be read) and one line per override that does not fit; a problem
    that several scenarios share is reported once, naming all of their files.
    """
    if not overrides and not problems:
        return [scenario for _, scenario in named]
    mark = "\x00set"
    out = []
    where: dict[str, list[str]] = {}
    for path, scenario in named:
        try:
            out.append(scenario.with_overrides(overrides or {}, source=f"{path} (--set)"))
        except CreditsimError as exc:
            for line in exc.problems:
                where.setdefault(line.replace(f"{path} (--set)", mark), []).append(path)
    lines = [*problems, *(line.replace(mark, f"{' and '.join(paths)} (--set)")
                          for line, paths in where.items())]  # fmt: skip
    if lines:
        raise UsageError(*lines)
    return out
