"""Replay histories (RULES.md section 8): read, validate, order, and drive the engine.

A history is a CSV of member actions. :func:`read_history` checks the whole
file, even the rows after ``--until``, and reports every problem as one line
``FILE:LINE: what is wrong`` (the header is line 1), raising
:class:`~simulator.errors.HistoryError`. Well-formed values that break a rule
(a purchase of 11, a body of 0 characters, an unknown category) are not bad
input: they become ``reject`` entries in the ledger.

:func:`replay` orders the actions by instant, then R10 step, then file line,
feeds them to the engine, and settles every account up to ``until``.

Choices where RULES.md is silent:

* Whole numbers are written as plain decimal digits (``0``, ``12``); a sign,
  a fraction or an exponent is malformed.
* Columns the format does not name are ignored; a duplicated column name is
  an error. An empty ``category`` cell on a send is a well-formed category
  that is not in the list, so the send is rejected (``category``).
* ``balances.csv`` lists every member named by a row at or before ``until``,
  sorted by member id; ``ledger.csv`` is sorted by time, then member id
  (each member's entries in their R10 order).
* Spaces around a cell are ignored (``" 5 "`` is 5).
* A response to an InMail whose send row is itself broken is not reported a
  second time (the send row's line says what is wrong).
* Member and InMail ids are written to ``ledger.csv`` as they are, so an id
  with a control character (U+0000..U+001F, U+007F..U+009F) or a line or
  paragraph separator is refused with its line.
* A quoted cell that is never closed is reported on the line where its row
  begins (the quote swallowed everything after it).
* A history spans at most ``MAX_DAYS`` (36,500 days, the scenario's typo
  guard) from its first instant to its last: a year mistyped as 0000 would
  otherwise mean two thousand years of monthly grants. ``allow_long_span``
  (``creditsim replay --allow-long-span``) accepts a longer history.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from simulator.engine.core import STEP_RESPOND, STEP_SEND, STEP_TIER, Engine, gc_paused
from simulator.engine.policy import MAX_DAYS, RESPONSES, Policy
from simulator.errors import HistoryError
from simulator.timeutil import DAY, format_instant, parse_instant
from simulator.userfiles import read_user_text

__all__ = [
    "ACTIONS",
    "ACTION_NEEDS",
    "BALANCE_COLUMNS",
    "HISTORY_COLUMNS",
    "LEDGER_COLUMNS",
    "Action",
    "ReplayResult",
    "balances_rows",
    "ledger_rows",
    "parse_history",
    "parse_history_rows",
    "read_history",
    "replay",
    "span_problem",
    "until_problem",
]

HISTORY_COLUMNS = (
    "time",
    "member",
    "action",
    "tier",
    "quantity",
    "inmail",
    "category",
    "subject_chars",
    "body_chars",
    "free",
    "response",
)
LEDGER_COLUMNS = (
    "time",
    "member",
    "kind",
    "lot",
    "quantity",
    "inmail",
    "reason",
    "balance_after",
)
BALANCE_COLUMNS = ("member", "balance", "allotted", "purchased")

_STEP = {
    "respond": STEP_RESPOND,
    "subscribe": STEP_TIER,
    "change_tier": STEP_TIER,
    "cancel": STEP_TIER,
    "purchase": STEP_SEND,
    "send": STEP_SEND,
}
ACTIONS = tuple(_STEP)
#: The cells each action must have (RULES.md section 8); the other readers of a history
#: (simulator.calibration's streaming reader) check rows against this same table.
ACTION_NEEDS: dict[str, tuple[str, ...]] = {
    "subscribe": ("tier",),
    "change_tier": ("tier",),
    "cancel": (),
    "purchase": ("quantity",),
    "send": ("inmail", "category", "subject_chars", "body_chars", "free"),
    "respond": ("inmail", "response"),
}
_WHOLE = re.compile(r"[0-9]+\Z")
# Characters an id must not hold: C0 and C1 controls, DEL, line/paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True, slots=True)
class Action:
    """One validated history row."""

    time: int
    step: int
    line: int
    member: str
    action: str
    tier: str = ""
    quantity: int = 0
    inmail: str = ""
    category: str = ""
    subject_chars: int = 0
    body_chars: int = 0
    free: bool = False
    response: str = ""


def read_history(path: str | Path, policy: Policy, allow_long_span: bool = False) -> list[Action]:
    """Read and validate a history file; return its actions in replay order."""
    text = read_user_text(path, HistoryError, csv=True)
    return parse_history(text, policy, str(path), allow_long_span)


def parse_history(
    text: str, policy: Policy, source: str = "<history>", allow_long_span: bool = False
) -> list[Action]:
    """Validate history ``text``; return its actions sorted by (time, R10 step, line).

    Unless ``allow_long_span``, a history whose instants span more than
    ``MAX_DAYS`` is refused as a likely typo (:func:`span_problem`).
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise HistoryError(f"{source}:1: malformed CSV: {exc}") from None
    if header is None or not any(cell.strip() for cell in header):
        raise HistoryError(f"{source}:1: empty file: expected a header row")
    problems: list[str] = []

    def rows() -> Iterator[tuple[int, list[str]]]:
        row_start = 2  # the line the next row begins on (a quoted cell may span lines)
        try:
            for row in reader:
                row_start = reader.line_num + 1
                yield reader.line_num, row
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                runs = (f" (it runs to the end of the file, line {reader.line_num})"
                        if reader.line_num > row_start else "")  # fmt: skip
                problems.append(f"{source}:{row_start}: malformed CSV: a quoted cell opened on "
                                f"this row is never closed{runs}")  # fmt: skip
            else:
                problems.append(f"{source}:{reader.line_num}: malformed CSV: {exc}")

    return parse_history_rows(header, rows(), policy, source, allow_long_span, problems)


def parse_history_rows(
    header: Sequence[str],
    rows: Iterable[tuple[int, Sequence[str]]],
    policy: Policy,
    source: str = "<history>",
    allow_long_span: bool = False,
    problems: list[str] | None = None,
) -> list[Action]:
    """Validate a history given as cells: ``header`` (the column names) and ``rows``
    (``(line, cells)``, cells as a file's text would hold them); return its actions
    sorted by (time, R10 step, line). The checks and their texts are those of a file
    (:func:`parse_history`, which reads one into this); ``problems`` already found
    (the file's malformed CSV) are reported with the rest, in line order.
    """
    problems = [] if problems is None else problems

    def bad(line: int, message: str) -> None:
        problems.append(f"{source}:{line}: {message}")

    header = [cell.strip() for cell in header]
    dupes = sorted(name for name, n in Counter(header).items() if n > 1 and name)
    if dupes:
        raise HistoryError(f"{source}:1: column {dupes[0]!r} appears more than once")
    missing = [c for c in ("time", "member", "action") if c not in header]
    if missing:
        raise HistoryError(f"{source}:1: missing column {missing[0]!r}")
    col = {name: i for i, name in enumerate(header)}
    width = len(header)

    actions: list[Action] = []
    sends: dict[str, Action] = {}
    broken_sends: dict[str, int] = {}
    responses: list[Action] = []
    for line, row in rows:
        if not row:
            continue  # a blank line
        if len(row) != width:
            bad(line, f"expected {width} cells like the header, got {len(row)}")
            continue
        act = _parse_row(row, col, line, policy, bad)
        if act is None:
            # Remember the id a broken send row names, so a response to it
            # is not also reported as "never sent" (the send row already is).
            i = col.get("inmail")
            if i is not None and (row[col["action"]].strip() == "send") and row[i].strip():
                broken_sends.setdefault(row[i].strip(), line)
            continue
        if act.action == "send":
            first = sends.get(act.inmail)
            if first is not None:
                bad(line, f"InMail id {act.inmail!r} already sent on line {first.line}")
                continue
            sends[act.inmail] = act
        elif act.action == "respond":
            responses.append(act)
        actions.append(act)

    answered: dict[str, int] = {}
    for r in responses:
        sent = sends.get(r.inmail)
        if sent is None:
            if r.inmail not in broken_sends:
                bad(r.line, f"response to InMail {r.inmail!r}, which is never sent")
        elif r.member != sent.member:
            bad(
                r.line,
                f"response names member {r.member!r}, but InMail {r.inmail!r} "
                f"was sent by {sent.member!r} (line {sent.line})",
            )
        elif r.time <= sent.time:
            bad(
                r.line,
                f"response at {format_instant(r.time)} is not after InMail "
                f"{r.inmail!r} was sent ({format_instant(sent.time)}, line {sent.line})",
            )
        elif r.inmail in answered:
            bad(
                r.line,
                f"second response to InMail {r.inmail!r} (first on line {answered[r.inmail]})",
            )
        else:
            answered[r.inmail] = r.line
    if not problems and not allow_long_span:
        span = span_problem(actions)
        if span is not None:
            bad(*span)
    if problems:
        problems.sort(key=lambda p: int(p[len(source) + 1 :].split(":", 1)[0]))
        raise HistoryError(*problems)
    actions.sort(key=lambda a: (a.time, a.step, a.line))
    return actions


def span_problem(actions: list[Action]) -> tuple[int, str] | None:
    """(line, message) when the actions span more than ``MAX_DAYS``, else None.

    The line named is the instant farther from the history's median, the likely
    typo (a year 0000 among 2024s, or a 9999).
    """
    if not actions:
        return None
    first = min(actions, key=lambda a: (a.time, a.line))
    last = max(actions, key=lambda a: (a.time, -a.line))
    if last.time - first.time <= MAX_DAYS * DAY:
        return None
    median = sorted(a.time for a in actions)[len(actions) // 2]
    odd, other = (first, last) if median - first.time >= last.time - median else (last, first)
    days = abs(odd.time - other.time) // DAY
    side = "before" if odd is first else "after"
    message = (f"instant {format_instant(odd.time)} is {days:,} days {side} the one on line "
               f"{other.line} ({format_instant(other.time)}): {_SPAN_HINT}")  # fmt: skip
    return odd.line, message


def until_problem(actions: list[Action], until: int) -> str | None:
    """Why settling ``actions`` up to ``until`` spans more than ``MAX_DAYS``, or None."""
    if not actions:
        return None
    first = min(actions, key=lambda a: (a.time, a.line))
    if until - first.time <= MAX_DAYS * DAY:
        return None
    return (f"{format_instant(until)} is {(until - first.time) // DAY:,} days after the "
            f"history's first instant ({format_instant(first.time)}, line {first.line}): "
            f"{_SPAN_HINT}")  # fmt: skip


_SPAN_HINT = (f"a history spans at most {MAX_DAYS:,} days, so this is likely a typo "
              "(replay --allow-long-span accepts it)")  # fmt: skip


def _parse_row(
    row: Sequence[str],
    col: dict[str, int],
    line: int,
    policy: Policy,
    bad: Callable[[int, str], None],
) -> Action | None:
    """One row -> Action, or None after reporting its problems."""
    ok = True

    def cell(name: str) -> str | None:
        i = col.get(name)
        return None if i is None else row[i].strip()

    action = cell("action") or ""
    if action not in _STEP:
        bad(line, f"unknown action {action!r} (expected one of {', '.join(ACTIONS)})")
        return None
    time_text = cell("time") or ""
    try:
        t = parse_instant(time_text)
    except ValueError as exc:
        why = (
            "no such date"
            if "no such date" in str(exc)
            else (
                "no such time of day"
                if "no such time" in str(exc)
                else "expected like 2024-01-31T09:00:00Z"
            )
        )
        bad(line, f"malformed instant {time_text!r} ({why})")
        ok = False
        t = 0
    member = cell("member") or ""
    if not member:
        bad(line, "empty member id")
        ok = False
    elif _CONTROL.search(member):
        bad(line, f"member id {member!r} holds a control character")
        ok = False
    fields: dict[str, object] = {}
    for name in ACTION_NEEDS[action]:
        value = cell(name)
        if value is None:
            article = "an" if name[0] in "aeiou" else "a"
            bad(line, f"{action} needs {article} {name!r} column")
            ok = False
            continue
        if name == "tier":
            if not value:
                bad(line, f"{action} needs a tier")
                ok = False
            elif value not in policy.tiers:
                bad(line, f"unknown tier {value!r}")
                ok = False
            fields[name] = value
        elif name in ("quantity", "subject_chars", "body_chars"):
            if not _WHOLE.match(value):
                bad(line, f"{name} must be a whole number, got {value!r}")
                ok = False
                continue
            # A number too long for int() (over 4,300 digits) is still well
            # formed: it exceeds every limit, so any value that large is rejected
            # alike (10**4300 stands for it).
            fields[name] = int(value) if len(value) <= 4000 else 10**4300
        elif name == "free":
            if value not in ("true", "false"):
                bad(line, f"free must be true or false, got {value!r}")
                ok = False
                continue
            fields[name] = value == "true"
        elif name == "inmail":
            if not value:
                bad(line, f"{action} needs an InMail id")
                ok = False
            elif _CONTROL.search(value):
                bad(line, f"InMail id {value!r} holds a control character")
                ok = False
            fields[name] = value
        elif name == "response":
            if value not in RESPONSES:
                bad(line, f"unknown response {value!r} (expected one of {', '.join(RESPONSES)})")
                ok = False
            fields[name] = value
        else:
            fields[name] = value
    if not ok:
        return None
    return Action(time=t, step=_STEP[action], line=line, member=member, action=action, **fields)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """The engine after a replay, the instant it was settled to, and its members."""

    engine: Engine
    until: int
    members: tuple[str, ...]


def replay(policy: Policy, actions: Iterable[Action], until: int | None = None) -> ReplayResult:
    """Apply ``actions`` (in replay order) up to ``until`` and settle every account.

    ``until`` defaults to the last instant among the actions.
    """
    actions = list(actions)
    if until is None:
        until = max((a.time for a in actions), default=0)
    engine = Engine(policy)
    with gc_paused():
        _drive(engine, actions, until)
        engine.settle_all(until)
    return ReplayResult(engine, until, tuple(sorted(engine.accounts)))


def _drive(engine: Engine, actions: list[Action], until: int) -> None:
    account = engine.account
    for act in actions:
        if act.time > until:
            break
        a = account(act.member)
        kind = act.action
        if kind == "send":
            engine.send(
                a, act.time, act.inmail, act.category, act.subject_chars, act.body_chars, act.free
            )
        elif kind == "respond":
            engine.respond(a, act.time, act.inmail, act.response)
        elif kind == "purchase":
            engine.purchase(a, act.time, act.quantity)
        elif kind == "cancel":
            engine.cancel(a, act.time)
        else:
            engine.subscribe(a, act.time, act.tier)


def ledger_rows(engine: Engine) -> list[tuple[str, ...]]:
    """The ledger as text rows (RULES.md section 5), by time, then member id.

    The sort is stable, so each member's entries keep their R10 order. Across
    members the order does not matter (R10); sorting by member id within an
    instant makes it canonical, the order ``creditsim run`` writes each of its
    ledger parts in (member ids ``m000042`` sort as their indices), so a run's
    ledger part and the replay of its history part match line for line.
    """
    stamps: dict[int, str] = {}
    out: list[tuple[str, ...]] = []
    for t, member, kind, lot_no, qty, inmail, reason, bal in sorted(
        engine.entries(), key=lambda r: (r[0], r[1])
    ):
        stamp = stamps.get(t)
        if stamp is None:
            stamp = stamps[t] = format_instant(t)
        out.append((
            stamp, str(member), kind, f"{member}:{lot_no}" if lot_no else "", str(qty),
            "" if inmail is None else str(inmail), reason, str(bal),
        ))  # fmt: skip
    return out


def balances_rows(result: ReplayResult) -> list[tuple[str, ...]]:
    """``member, balance, allotted, purchased`` per member, sorted by member id."""
    accounts = result.engine.accounts
    return [
        (m, str(accounts[m].balance), str(accounts[m].allotted), str(accounts[m].purchased))
        for m in result.members
    ]
