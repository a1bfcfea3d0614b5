"""A broken invariant as one line of text that knows the members it implicates.

Job: the problem lines the invariant checks report (:class:`Violation`, a
``str`` with ``.members``), at most :data:`MAX_MEMBER_LINES` of a kind before
one line counting the rest (:func:`member_lines`), and the members behind a
list of them (:func:`offending_members`), whose histories
:mod:`simulator.invariant_failures` writes.

Boundary: no check and no file here; :mod:`simulator.invariants` finds the
problems.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

__all__ = ["MAX_MEMBER_LINES", "Violation", "member_lines", "offending_members"]

MAX_MEMBER_LINES = 10  # lines per kind of problem; the rest are counted in one line


class Violation(str):
    """One problem, as one human line; ``members`` are the member ids it implicates."""

    members: tuple[str, ...]

    def __new__(cls, text: str, members: Iterable[str] = ()) -> Violation:
        self = super().__new__(cls, text)
        self.members = tuple(members)
        return self


def offending_members(problems: Iterable[str]) -> list[str]:
    """The members implicated by ``problems`` (from :func:`simulator.invariants.check_run`),
    sorted, each once."""
    found: set[str] = set()
    for p in problems:
        found.update(getattr(p, "members", ()))
    return sorted(found)


def member_lines(
    rows: Iterable[int], member: Callable[[int], str], line: Callable[[int], str], what: str
) -> list[Violation]:
    """A line per row (the first MAX_MEMBER_LINES), then one line counting the rest.

    ``member(row)`` names the member implicated, ``line(row)`` is the text.
    """
    rows = [int(r) for r in rows]
    out = [Violation(line(r), [member(r)]) for r in rows[:MAX_MEMBER_LINES]]
    if len(rows) > MAX_MEMBER_LINES:
        rest = rows[MAX_MEMBER_LINES:]
        out.append(
            Violation(f"... and {len(rest):,} more {what}", sorted({member(r) for r in rest}))
        )
    return out
