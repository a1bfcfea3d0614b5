"""End-of-run invariants, checked cheaply from a run's tables.

RULES.md section 5 promises, for every member after every entry,

    granted + purchased + refunded = spent + expired + capped + forfeited + balance

and that no balance is ever negative. :func:`check_run` verifies this and the
bookkeeping around it at the end of a run, vectorised over whole columns
(numpy and pyarrow compute, no Python per entry): on 1.07 M ledger entries and
540 k InMails it takes 0.3-0.4 s, about 4 % of ``run()`` (8.4 s) and 3 % of
``creditsim run``, mostly one hash pass matching ledger entries to InMail ids.
It reads the Arrow tables of a run (``SimTables.arrow``) or DataFrames with
the same columns. It checks:

* every ledger ``quantity`` is >= 0, a ``reject`` moves 0 credits, every
  ``kind`` is one of RULES.md section 5, and no ``balance_after`` is negative;
* per member, in ledger order, each ``balance_after`` is the previous one
  (0 before the first entry) plus the quantity of a grant, purchase or refund,
  minus that of a spend, expire, cap or forfeit, and unchanged by a reject;
* per member, conservation over the whole run, with the final balance being
  the ``balance_after`` of the member's last entry (0 without entries);
* every member the ledger names is in the members table;
* every paid InMail has exactly one ``spend`` entry and at most one
  ``refund`` entry (at the InMail's ``refunded_at``); a free or rejected
  InMail has neither; a rejected InMail has exactly one ``reject`` entry with
  its reason; no spend, refund or send rejection names an unknown InMail;
* the summary's counts equal recounts over the measured window (warm-up
  excluded, as :func:`simulator.run_summary.summarise` defines them), and the
  ledger and InMails tables agree with each other on those counts.

Each problem is one line (a :class:`Violation`, which is a ``str`` that also
knows the members it implicates). At most :data:`MAX_MEMBER_LINES` lines are
written per kind of problem, then one line counting the rest. The members
behind the problems are written by :func:`write_failures` as replay histories,
so a failing run can be reproduced with ``creditsim replay`` alone.

This module reads tables and writes only under ``DIR/invariant-failures/``;
it never changes a table.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from simulator.columns import arrow_codes, arrow_seconds
from simulator.engine.history import HISTORY_COLUMNS
from simulator.outputs import atomic_write_bytes, atomic_write_text, current_umask
from simulator.population import roster
from simulator.vocabulary import LEDGER_KINDS, NO_INSTANT, SEND_REASONS

if TYPE_CHECKING:
    from simulator.reports import RunTables as StoredTables
    from simulator.scenario import Scenario
    from simulator.tables import SimTables

__all__ = [
    "FAILURES_DIR",
    "MAX_MEMBERS_WRITTEN",
    "MAX_MEMBER_LINES",
    "Violation",
    "check_run",
    "offending_members",
    "write_failures",
]

FAILURES_DIR = "invariant-failures"
MAX_MEMBER_LINES = 10  # lines per kind of problem; the rest are counted in one line
MAX_MEMBERS_WRITTEN = 100  # member histories written by write_failures by default

KINDS = LEDGER_KINDS
_SIGN = {
    "grant": 1,
    "purchase": 1,
    "refund": 1,
    "spend": -1,
    "expire": -1,
    "cap": -1,
    "forfeit": -1,
    "reject": 0,
}
_SEND_REASONS = SEND_REASONS
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}")


class Violation(str):
    """One problem, as one human line; ``members`` are the member ids it implicates."""

    members: tuple[str, ...]

    def __new__(cls, text: str, members: Iterable[str] = ()) -> Violation:
        self = super().__new__(cls, text)
        self.members = tuple(members)
        return self


def check_run(
    tables: SimTables | StoredTables,
    summary: Mapping[str, Any],
    scenario: Scenario,
    members_expected: int | None = None,
) -> list[str]:
    """Every invariant the run breaks, one line each; an empty list means the run is sound.

    ``tables`` are a run's, in memory (``simulator.tables.SimTables``) or read
    from its directory (``simulator.reports.load_run_tables``, as ``creditsim
    audit`` does).

    The lines are :class:`Violation` objects (``str`` with ``.members``), in a
    fixed order: ledger entries, running balances, conservation, InMails
    against the ledger, then the summary's counts. ``members_expected`` is
    how many members the tables hold: the scenario's (all of them) by
    default, a batch's size for one batch of a run.
    """
    led = _Ledger(_table(tables, "ledger"))
    inm = _InMails(_table(tables, "inmails"), led)
    problems: list[str] = []
    problems += _check_entries(led)
    problems += _check_running_balances(led)
    problems += _check_conservation(led, _table(tables, "members"))
    problems += _check_inmail_flags(inm)
    problems += _check_spends(led, inm)
    problems += _check_refunds(led, inm)
    problems += _check_rejects(led, inm)
    problems += _check_summary(led, inm, tables, summary, scenario, members_expected)
    return problems


def offending_members(problems: Iterable[str]) -> list[str]:
    """The members implicated by ``problems`` (from :func:`check_run`), sorted, each once."""
    found: set[str] = set()
    for p in problems:
        found.update(getattr(p, "members", ()))
    return sorted(found)


# -- the tables, decoded once ----------------------------------------------------


_NONE = NO_INSTANT


class _Cols:
    """Columns of one table, from a pyarrow Table or a DataFrame.

    Text codes and instants are decoded by :mod:`simulator.columns`, the one
    reader of a run's columns; what this module checks with them is its own,
    an independent recount.
    """

    def __init__(self, table: pa.Table | pd.DataFrame) -> None:
        self.table = table

    def __len__(self) -> int:
        return len(self.table)

    def column(self, name: str) -> pa.ChunkedArray:
        if isinstance(self.table, pa.Table):
            return self.table.column(name)
        arr = pa.array(self.table[name], from_pandas=True)
        return arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])

    def array(self, name: str) -> pa.Array:
        col = self.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.unify_dictionaries()
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)

    def text(self, name: str) -> pa.Array:
        arr = self.array(name)
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        return arr.cast(pa.string()).fill_null("")

    def codes(self, name: str) -> tuple[np.ndarray, list[str]]:
        """Integer codes (-1: no value) and the text each stands for."""
        col = self.column(name)
        if not pa.types.is_dictionary(col.type):
            col = col.cast(pa.string())
        codes, names = arrow_codes(col)
        return codes.astype(np.int64), [str(x) for x in names]

    def ints(self, name: str) -> np.ndarray:
        return self.array(name).to_numpy(zero_copy_only=False).astype(np.int64)

    def bools(self, name: str) -> np.ndarray:
        return self.array(name).to_numpy(zero_copy_only=False).astype(bool)

    def seconds(self, name: str) -> np.ndarray:
        """Unix seconds; no instant (null, NaT) is :data:`~simulator.vocabulary.NO_INSTANT`."""
        col = self.column(name)
        if pa.types.is_timestamp(col.type):
            return arrow_seconds(col)
        return col.cast(pa.int64()).fill_null(_NONE).to_numpy()


def _table(tables: Any, name: str) -> _Cols:
    """A run table by name: the Arrow table when the run keeps one, else the DataFrame."""
    arrow = getattr(tables, "arrow", None)
    if isinstance(arrow, Mapping) and name in arrow:
        return _Cols(arrow[name])
    return _Cols(getattr(tables, name))


def _iso(seconds: Any) -> str:
    return str(np.datetime64(int(seconds), "s")) + "Z"


def _stable_order(codes: np.ndarray) -> np.ndarray:
    """``np.argsort(codes, kind="stable")`` for codes >= 0, by 16-bit radix passes.

    NumPy radix-sorts 16-bit integers (about 10x faster than its merge sort on
    int64 for a million rows); two passes cover up to 2**32 codes.
    """
    if not len(codes) or int(codes.max()) < 1 << 16:
        return np.argsort(codes.astype(np.uint16), kind="stable")
    order = np.argsort((codes & 0xFFFF).astype(np.uint16), kind="stable")
    high = (codes[order] >> 16).astype(np.uint16)
    return order[np.argsort(high, kind="stable")]


class _Ledger:
    """The ledger's columns as numpy arrays, with members and kinds as codes."""

    def __init__(self, ledger: _Cols) -> None:
        self.n = len(ledger)
        self.member_codes, members = ledger.codes("member")
        self.members = np.asarray(members, dtype=object)
        self.kind_raw, kinds = ledger.codes("kind")
        self.kind_names = kinds
        # Codes into KINDS; -1 for a kind RULES.md does not know.
        known = np.array([KINDS.index(k) if k in KINDS else -1 for k in kinds], dtype=np.int64)
        self.kind = known[self.kind_raw] if self.n else np.zeros(0, np.int64)
        self.qty = ledger.ints("quantity")
        self.balance = ledger.ints("balance_after")
        self.seconds = ledger.seconds("time")
        sign = np.array([_SIGN[k] for k in KINDS] + [0], dtype=np.int64)
        self.delta = sign[self.kind] * self.qty  # kind -1 picks the trailing 0
        # Each member's entries in ledger order: a stable sort keeps R10 order.
        self.order = _stable_order(self.member_codes)
        self.inmail = ledger.text("inmail")
        self.reason = ledger.text("reason")

    def is_kind(self, name: str) -> np.ndarray:
        return self.kind == KINDS.index(name)

    def member(self, row: int) -> str:
        return str(self.members[self.member_codes[row]])

    def describe(self, row: int) -> str:
        """``m000042: ledger row 17 (spend at 2024-01-03T09:00:00Z)``."""
        kind = self.kind_names[self.kind_raw[row]]
        return f"{self.member(row)}: ledger row {row} ({kind} at {_iso(self.seconds[row])})"


class _InMails:
    """The InMails table's columns as arrays, each ledger spend, refund and send rejection
    matched to its InMail in one hash pass; a duplicated id is reported and only its
    first row kept."""

    def __init__(self, inmails: _Cols, led: _Ledger) -> None:
        ids = inmails.text("inmail")
        n = len(ids)
        # Ledger rows that name an InMail (a purchase rejection names none).
        rows = np.flatnonzero(led.is_kind("spend") | led.is_kind("refund") | led.is_kind("reject"))
        named = led.inmail.take(pa.array(rows)) if len(rows) else led.inmail.slice(0, 0)
        if len(rows):
            keep_rows = pc.not_equal(named, "").to_numpy(zero_copy_only=False)
            rows, named = rows[keep_rows], named.filter(pa.array(keep_rows))
        # Codes by first appearance: the ids are unique iff theirs are 0..n-1 in order.
        codes = pc.dictionary_encode(pa.concat_arrays([ids, named])).indices
        codes = codes.to_numpy(zero_copy_only=False).astype(np.int64)
        self.duplicates: list[str] = []
        keep = np.ones(n, dtype=bool)
        where = codes[n:]
        if np.array_equal(codes[:n], np.arange(n)):
            where = np.where(where < n, where, -1)
        else:  # a broken table: match again against the first row of each id
            keep = ~pd.Index(codes[:n]).duplicated()
            self.duplicates = sorted(set(np.asarray(ids.to_pylist(), dtype=object)[~keep]))
            ids = ids.filter(pa.array(keep))
            found = pc.index_in(named, value_set=ids).fill_null(-1)
            where = found.to_numpy(zero_copy_only=False).astype(np.int64)
        self.rows, self.where = rows, where
        self.ids = ids
        self.n = len(ids)
        mask = pa.array(keep)
        self._senders = inmails.text("sender").filter(mask)
        self.paid = inmails.bools("paid")[keep]
        self.free = inmails.bools("free")[keep]
        self.rejection_text = inmails.text("rejection").filter(mask)
        self.rejected = ~pc.equal(self.rejection_text, "").to_numpy(zero_copy_only=False)
        self.sent_at = inmails.seconds("sent_at")[keep]
        self.refunded_at = inmails.seconds("refunded_at")[keep]
        self.has_refund = self.refunded_at != _NONE
        self.window_end = inmails.seconds("window_end")[keep]
        self.has_window = self.window_end != _NONE
        responses = inmails.text("response").filter(mask)
        self.responded = ~pc.equal(responses, "").to_numpy(zero_copy_only=False)

    def name(self, i: int) -> str:
        return repr(self.ids[i].as_py())

    def sender(self, i: int) -> str:
        return str(self._senders[int(i)].as_py())

    def rejection(self, i: int) -> str:
        return str(self.rejection_text[i].as_py())

    def matched(self, led: _Ledger, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """Ledger rows of ``kind`` naming an InMail, and that InMail's index (-1: unknown)."""
        mask = led.kind[self.rows] == KINDS.index(kind)
        return self.rows[mask], self.where[mask]


def _lines(rows: Iterable[int], member: Any, line: Any, what: str) -> list[Violation]:
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


# -- the checks ------------------------------------------------------------------


def _check_entries(led: _Ledger) -> list[Violation]:
    out: list[Violation] = []
    expected = ", ".join(KINDS)
    out += _lines(
        np.flatnonzero(led.kind < 0),
        led.member,
        lambda r: f"{led.describe(r)}: unknown kind (expected one of {expected})",
        "entries of unknown kind",
    )
    out += _lines(
        np.flatnonzero(led.qty < 0),
        led.member,
        lambda r: f"{led.describe(r)}: negative quantity {led.qty[r]}",
        "entries with a negative quantity",
    )
    out += _lines(
        np.flatnonzero(led.is_kind("reject") & (led.qty != 0)),
        led.member,
        lambda r: f"{led.describe(r)}: a reject moves no credits, got quantity {led.qty[r]}",
        "rejects with a quantity",
    )
    out += _lines(
        np.flatnonzero(led.balance < 0),
        led.member,
        lambda r: f"{led.describe(r)}: negative balance_after {led.balance[r]}",
        "entries with a negative balance",
    )
    return out


def _check_running_balances(led: _Ledger) -> list[Violation]:
    """Each entry's balance_after is the previous one plus or minus its quantity."""
    if not led.n:
        return []
    o = led.order  # positions in member-then-ledger order
    codes = led.member_codes[o]
    balance = led.balance[o]
    first = np.ones(led.n, dtype=bool)
    first[1:] = codes[1:] != codes[:-1]
    previous = np.empty(led.n, dtype=np.int64)
    previous[0] = 0
    previous[1:] = balance[:-1]
    previous[first] = 0
    wrong = np.flatnonzero(balance != previous + led.delta[o])
    if not len(wrong):
        return []
    # One line per member: its first wrong entry.
    keep = np.ones(len(wrong), dtype=bool)
    keep[1:] = codes[wrong[1:]] != codes[wrong[:-1]]
    wrong = wrong[keep]
    before = dict(zip(o[wrong].tolist(), previous[wrong].tolist(), strict=True))

    def line(r: int) -> str:
        kind = led.kind_names[led.kind_raw[r]]
        sign = "-" if led.delta[r] < 0 else "+"
        return (
            f"{led.describe(r)}: balance_after {led.balance[r]}, expected"
            f" {before[r] + led.delta[r]} (previous balance {before[r]} {sign} {kind}"
            f" {led.qty[r]})"
        )

    return _lines(o[wrong], led.member, line, "members with a wrong running balance")


def _check_conservation(led: _Ledger, members: _Cols) -> list[Violation]:
    """Per member over the run: credits in = credits out + final balance."""
    out: list[Violation] = []
    n_members = len(led.members)
    if led.n:
        ok = led.kind >= 0
        cell = led.member_codes[ok] * len(KINDS) + led.kind[ok]
        # Float sums are exact below 2**53 credits per member and kind.
        sums = np.bincount(cell, weights=led.qty[ok], minlength=n_members * len(KINDS))
        sums = sums.astype(np.int64).reshape(n_members, len(KINDS))
        codes = led.member_codes[led.order]
        ends = np.flatnonzero(np.append(codes[1:] != codes[:-1], True))
        final = np.empty(n_members, dtype=np.int64)
        final[codes[ends]] = led.balance[led.order[ends]]  # the member's last entry
        col = {k: sums[:, i] for i, k in enumerate(KINDS)}
        inflow = col["grant"] + col["purchase"] + col["refund"]
        outflow = col["spend"] + col["expire"] + col["cap"] + col["forfeit"] + final

        def line(m: int) -> str:
            return (
                f"{led.members[m]}: credits not conserved: granted {col['grant'][m]} + purchased"
                f" {col['purchase'][m]} + refunded {col['refund'][m]} = {inflow[m]}, but spent"
                f" {col['spend'][m]} + expired {col['expire'][m]} + capped {col['cap'][m]} +"
                f" forfeited {col['forfeit'][m]} + final balance {final[m]} = {outflow[m]}"
            )

        out += _lines(
            np.flatnonzero(inflow != outflow),
            lambda m: str(led.members[m]),
            line,
            "members whose credits are not conserved",
        )
    known = pd.Index(members.text("member").to_pylist())
    unknown = np.flatnonzero(known.get_indexer(led.members) < 0)
    out += _lines(
        unknown,
        lambda m: str(led.members[m]),
        lambda m: f"{led.members[m]}: in the ledger but not in the members table",
        "ledger members missing from the members table",
    )
    return out


def _check_inmail_flags(inm: _InMails) -> list[Violation]:
    out = _lines(
        range(len(inm.duplicates)),
        lambda i: _sender_of(inm.duplicates[i]),
        lambda i: (
            f"{_sender_of(inm.duplicates[i])}: InMail {inm.duplicates[i]!r} appears more"
            " than once in the InMails table"
        ),
        "duplicated InMail ids",
    )
    out += _lines(
        np.flatnonzero(inm.paid != (~inm.rejected & ~inm.free)),
        inm.sender,
        lambda i: (
            f"{inm.sender(i)}: InMail {inm.name(i)}: paid is {_yaml_bool(inm.paid[i])}"
            f" but free is {_yaml_bool(inm.free[i])} and rejection is {inm.rejection(i)!r}"
        ),
        "InMails whose paid flag disagrees",
    )
    return out


def _matched(
    led: _Ledger, inm: _InMails, kind: str
) -> tuple[list[Violation], np.ndarray, np.ndarray]:
    """Ledger rows of ``kind`` naming a known InMail, its index, and lines for unknown ids."""
    rows, where = inm.matched(led, kind)
    lost = _lines(
        rows[where < 0],
        led.member,
        lambda r: (
            f"{led.describe(r)}: names InMail {led.inmail[r].as_py()!r}, which is not in"
            " the InMails table"
        ),
        f"{kind} entries naming unknown InMails",
    )
    return lost, rows[where >= 0], where[where >= 0]


def _check_spends(led: _Ledger, inm: _InMails) -> list[Violation]:
    """A paid InMail has exactly one spend entry; a free or rejected one has none."""
    out, _, where = _matched(led, inm, "spend")
    count = np.bincount(where, minlength=inm.n)
    out += _lines(
        np.flatnonzero(inm.paid & (count != 1)),
        inm.sender,
        lambda i: (
            f"{inm.sender(i)}: paid InMail {inm.name(i)} has {count[i]} spend entries, expected 1"
        ),
        "paid InMails without exactly one spend",
    )
    out += _lines(
        np.flatnonzero(~inm.paid & (count > 0)),
        inm.sender,
        lambda i: (
            f"{inm.sender(i)}: {_unpaid(inm, i)} InMail {inm.name(i)} has {count[i]} spend"
            " entries, expected 0"
        ),
        "unpaid InMails with a spend",
    )
    return out


def _check_refunds(led: _Ledger, inm: _InMails) -> list[Violation]:
    """At most one refund per paid InMail, none otherwise, at the InMail's refunded_at."""
    out, rows, where = _matched(led, inm, "refund")
    count = np.bincount(where, minlength=inm.n)
    out += _lines(
        np.flatnonzero(inm.paid & (count > 1)),
        inm.sender,
        lambda i: (
            f"{inm.sender(i)}: paid InMail {inm.name(i)} has {count[i]} refund entries,"
            " expected at most 1"
        ),
        "InMails refunded more than once",
    )
    out += _lines(
        np.flatnonzero(~inm.paid & (count > 0)),
        inm.sender,
        lambda i: (
            f"{inm.sender(i)}: {_unpaid(inm, i)} InMail {inm.name(i)} has {count[i]}"
            " refund entries, expected 0"
        ),
        "unpaid InMails with a refund",
    )
    at = np.zeros(inm.n, dtype=np.int64)
    at[where] = led.seconds[rows]
    out += _lines(
        np.flatnonzero(inm.paid & (count == 1) & (~inm.has_refund | (inm.refunded_at != at))),
        inm.sender,
        lambda i: (
            f"{inm.sender(i)}: InMail {inm.name(i)} is refunded in the ledger at"
            f" {_iso(at[i])} but its refunded_at is"
            f" {_iso(inm.refunded_at[i]) if inm.has_refund[i] else 'empty'}"
        ),
        "InMails whose refunded_at disagrees with the ledger",
    )
    out += _lines(
        np.flatnonzero((count == 0) & inm.has_refund),
        inm.sender,
        lambda i: (
            f"{inm.sender(i)}: InMail {inm.name(i)} has refunded_at"
            f" {_iso(inm.refunded_at[i])} but no refund entry"
        ),
        "InMails with refunded_at but no refund entry",
    )
    return out


def _check_rejects(led: _Ledger, inm: _InMails) -> list[Violation]:
    """A rejected InMail has exactly one reject entry, with its reason; others have none."""
    out, rows, where = _matched(led, inm, "reject")
    count = np.bincount(where, minlength=inm.n)
    out += _lines(
        np.flatnonzero(inm.rejected & (count != 1)),
        inm.sender,
        lambda i: (
            f"{inm.sender(i)}: rejected InMail {inm.name(i)} ({inm.rejection(i)}) has"
            f" {count[i]} reject entries, expected 1"
        ),
        "rejected InMails without exactly one reject",
    )
    out += _lines(
        np.flatnonzero(~inm.rejected & (count > 0)),
        inm.sender,
        lambda i: (
            f"{inm.sender(i)}: accepted InMail {inm.name(i)} has {count[i]} reject"
            " entries, expected 0"
        ),
        "accepted InMails with a reject entry",
    )
    if len(rows):
        reasons = led.reason.take(pa.array(rows))
        recorded = inm.rejection_text.take(pa.array(where))
        differ = ~pc.equal(reasons, recorded).to_numpy(zero_copy_only=False)
        differ &= inm.rejected[where]
        target = dict(zip(rows[differ].tolist(), where[differ].tolist(), strict=True))
        out += _lines(
            rows[differ],
            led.member,
            lambda r: (
                f"{led.describe(r)}: reason {led.reason[r].as_py()!r} but InMail"
                f" {inm.name(target[r])} records rejection {inm.rejection(target[r])!r}"
            ),
            "reject entries whose reason disagrees",
        )
    return out


def _sender_of(inmail: str) -> str:
    return str(inmail).rsplit("-", 1)[0]


def _unpaid(inm: _InMails, i: int) -> str:
    return "rejected" if inm.rejected[i] else "free"


def _yaml_bool(value: Any) -> str:
    return "true" if value else "false"


def _check_summary(
    led: _Ledger,
    inm: _InMails,
    tables: Any,
    summary: Mapping[str, Any],
    scenario: Scenario,
    members_expected: int | None = None,
) -> list[Violation]:
    """The summary's counts against recounts, and ledger against InMails, in the window.

    The window and every definition are those of ``simulator.run_summary.summarise``:
    entries and InMails at or after ``scenario.start`` count.
    """
    out: list[Violation] = []
    start, end = scenario.start, scenario.end
    window = led.seconds >= start
    kind = led.kind[window]
    ok = kind >= 0
    moved = np.bincount(kind[ok], weights=led.qty[window][ok], minlength=len(KINDS))
    moved = moved.astype(np.int64)
    entries = np.bincount(kind[ok], minlength=len(KINDS))

    w = inm.sent_at >= start
    accepted = w & ~inm.rejected
    paid = w & inm.paid
    rejections = inm.rejection_text.filter(pa.array(w))
    recount: dict[str, int] = {
        "members": len(_table(tables, "members")),
        "inmails_attempted": int(w.sum()),
        "inmails_sent": int(accepted.sum()),
        "inmails_paid": int(paid.sum()),
        "inmails_free": int((accepted & inm.free).sum()),
        "inmails_rejected": int((w & inm.rejected).sum()),
    }
    for reason in _SEND_REASONS:
        recount[f"inmails_rejected_{reason}"] = int(
            pc.sum(pc.equal(rejections, reason)).as_py() or 0
        )
    recount["responses"] = int((accepted & inm.responded).sum())
    recount["refunds"] = int(entries[KINDS.index("refund")])
    settled = paid & inm.has_window & (inm.window_end <= end)
    recount["refund_rate_settled_inmails"] = int(settled.sum())
    for key, name in _CREDIT_KEYS:
        recount[f"credits_{key}"] = int(moved[KINDS.index(name)])
    recount["purchase_revenue_cents"] = (
        recount["credits_purchased"] * scenario.pricing.credit_price_cents
    )
    bill = _table(tables, "billing")
    billed = bill.ints("amount_cents")[bill.seconds("time") >= start]
    recount["subscription_revenue_cents"] = int(billed.sum())
    if "net_revenue_cents" in summary:  # absent from summaries written before it existed
        recount["net_revenue_cents"] = (
            recount["subscription_revenue_cents"] + recount["purchase_revenue_cents"]
        )
    for key, value in recount.items():
        if key not in summary:
            out.append(
                Violation(f"summary: {key} is missing (a recount from the tables gives {value:,})")
            )
        elif not _same(summary[key], value):
            out.append(
                Violation(
                    f"summary: {key} is {_num(summary[key])} but a recount from the"
                    f" tables gives {value:,}"
                )
            )
    expected_members = roster(scenario).size if members_expected is None else members_expected
    if recount["members"] != expected_members:
        out.append(
            Violation(
                f"members table: {recount['members']:,} members, but the "
                + ("scenario" if members_expected is None else "batch")
                + f" has {expected_members:,} (present at the start and arrivals)"
            )
        )

    # The ledger and the InMails table against each other, over the window.
    spends = int(entries[KINDS.index("spend")])
    if spends != recount["inmails_paid"]:
        out.append(
            Violation(
                f"ledger: {spends:,} spend entries in the measured window, but the"
                f" InMails table has {recount['inmails_paid']:,} paid InMails"
            )
        )
    if recount["credits_spent"] != spends:
        out.append(
            Violation(
                f"ledger: {recount['credits_spent']:,} credits spent in {spends:,}"
                " spend entries, but each spend moves exactly 1"
            )
        )
    refunded = int((inm.has_refund & (inm.refunded_at >= start)).sum())
    if recount["refunds"] != refunded:
        out.append(
            Violation(
                f"ledger: {recount['refunds']:,} refund entries in the measured"
                f" window, but the InMails table has {refunded:,} refunded_at in it"
            )
        )
    if recount["credits_refunded"] != recount["refunds"]:
        out.append(
            Violation(
                f"ledger: {recount['credits_refunded']:,} credits refunded in"
                f" {recount['refunds']:,} refund entries, but each refund moves"
                " exactly 1"
            )
        )
    rows = np.flatnonzero(led.is_kind("reject") & window)
    named = pc.sum(pc.not_equal(led.inmail.take(pa.array(rows)), "")).as_py() if len(rows) else 0
    if (named or 0) != recount["inmails_rejected"]:
        out.append(
            Violation(
                f"ledger: {named or 0:,} send rejections in the measured window, but"
                f" the InMails table has {recount['inmails_rejected']:,} rejected"
                " InMails"
            )
        )
    return out


_CREDIT_KEYS = (
    ("granted", "grant"),
    ("purchased", "purchase"),
    ("refunded", "refund"),
    ("spent", "spend"),
    ("expired", "expire"),
    ("capped", "cap"),
    ("forfeited", "forfeit"),
)


def _same(got: Any, want: int) -> bool:
    return not isinstance(got, bool) and isinstance(got, int | np.integer) and got == want


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer):
        return repr(value)
    return f"{value:,}"


# -- writing the failures --------------------------------------------------------


def write_failures(
    out: str | Path,
    history: pa.Table,
    members: Sequence[str],
    *,
    problems: Sequence[str] = (),
    scenario: Scenario | None = None,
    limit: int = MAX_MEMBERS_WRITTEN,
    folder: str = FAILURES_DIR,
    why: Sequence[str] = (),
) -> Path:
    """Write each member's history rows to ``out/invariant-failures/<member>.csv``.

    ``folder`` names the folder instead (``creditsim audit`` writes
    ``audit-failures/``) and ``why`` replaces the README's first paragraph.

    ``history`` is the run's history table (replay columns, RULES.md section
    8); ``members`` are the offending members (:func:`offending_members`); at
    most ``limit`` of them are written, in sorted order. With ``scenario``, its
    resolved document is written beside them as ``scenario.yaml``, so the
    folder replays on its own. A ``README.txt`` lists ``problems`` and says how
    to replay. The folder is built beside its final place and renamed in, so
    it is complete or absent; an earlier one is replaced. Returns the folder.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    final = out / folder
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder}.", suffix=".partial", dir=out))
    try:
        tmp.chmod(0o777 & ~current_umask())
        chosen = sorted(set(members))[: max(0, limit)]
        names = _file_names(chosen)
        column = history.column("member")
        rows = history.filter(pc.is_in(column, value_set=pa.array(chosen, pa.string())))
        rows = rows.select(list(HISTORY_COLUMNS))
        for member in chosen:
            mine = rows.filter(pc.equal(rows.column("member"), member))
            atomic_write_bytes(tmp / names[member], _csv_bytes(mine))
        until = None
        if scenario is not None:
            from simulator.timeutil import format_instant
            from simulator.yamlio import dump_yaml

            atomic_write_text(tmp / "scenario.yaml", dump_yaml(scenario.to_dict()))
            until = format_instant(scenario.end)
        readme = _readme(
            final, chosen, names, len(set(members)), problems, scenario is not None, until, why
        )
        atomic_write_text(tmp / "README.txt", readme)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _file_names(members: Sequence[str]) -> dict[str, str]:
    """``<member>.csv``, or a numbered name for an id unfit for a file name."""
    out: dict[str, str] = {}
    for i, m in enumerate(members):
        ok = _SAFE_NAME.fullmatch(m) is not None
        out[m] = f"{m}.csv" if ok else f"member-{i + 1}.csv"
    return out


def _csv_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(quoting_style="needed"))
    return sink.getvalue().to_pybytes()


def _readme(
    folder: Path,
    chosen: Sequence[str],
    names: Mapping[str, str],
    total: int,
    problems: Sequence[str],
    has_scenario: bool,
    until: str | None,
    why: Sequence[str] = (),
) -> str:
    scenario = folder / "scenario.yaml" if has_scenario else folder.parent / "scenario.yaml"
    lines = [
        *(
            why
            or (
                "This run failed its end-of-run invariant checks (simulator/invariants.py: credit",
                "conservation, balances, InMails against the ledger, the summary's counts), so it",
                "was not reported as a result. The problems found:",
            )
        ),
        "",
        *(f"  {p}" for p in problems),
        *([] if problems else ["  (not recorded)"]),
        "",
    ]
    if chosen:
        lines += [
            "Each <member>.csv here is the full history of one offending member in the",
            "replay format (RULES.md section 8). Members share no credits, so replaying",
            "one member's history alone reproduces that member's ledger:",
            "",
        ]
        for m in chosen:
            until_arg = f" --until {until}" if until else ""
            lines.append(
                f"  creditsim replay {folder / names[m]} --scenario {scenario}"
                f"{until_arg} --out {folder / ('replay-' + names[m][:-4])}"
            )
        lines.append("")
        if total > len(chosen):
            lines += [
                f"{total - len(chosen)} more offending members were not written"
                f" (only the first {len(chosen)} by id).",
                "",
            ]
    else:
        lines += [
            "No single member is at fault (the problems are in the run's totals), so no",
            "member history is written here.",
            "",
        ]
    if not has_scenario:
        lines += ["scenario.yaml is the run's resolved scenario (creditsim run writes it).", ""]
    return "\n".join(lines)
