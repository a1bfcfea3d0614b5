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

Each problem is one line (a :class:`simulator.violations.Violation`, which is
a ``str`` that also knows the members it implicates). At most
:data:`~simulator.violations.MAX_MEMBER_LINES` lines are written per kind of
problem, then one line counting the rest. The members behind the problems
are written by :func:`simulator.invariant_failures.write_failures` as replay
histories, so a failing run can be reproduced with ``creditsim replay`` alone.

The modules of the checks: this one holds :func:`check_run` and the checks of
the tables (entries, running balances, conservation, InMails against the
ledger); :mod:`simulator.invariant_tables` decodes the tables once for them,
:mod:`simulator.invariant_summary` checks the summary's counts,
:mod:`simulator.violations` is the problem line and
:mod:`simulator.invariant_failures` writes the failing members' histories.

Boundary: reads tables, never changes one, and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from simulator.invariant_summary import check_summary
from simulator.invariant_tables import (
    KINDS,
    InMailArrays,
    LedgerArrays,
    TableView,
    iso_instant,
    table_view,
)
from simulator.violations import Violation, member_lines

if TYPE_CHECKING:
    from simulator.reports import RunTables as StoredTables
    from simulator.scenario import Scenario
    from simulator.tables import SimTables

__all__ = ["check_run"]


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
    led = LedgerArrays(table_view(tables, "ledger"))
    inm = InMailArrays(table_view(tables, "inmails"), led)
    problems: list[str] = []
    problems += _check_entries(led)
    problems += _check_running_balances(led)
    problems += _check_conservation(led, table_view(tables, "members"))
    problems += _check_inmail_flags(inm)
    problems += _check_spends(led, inm)
    problems += _check_refunds(led, inm)
    problems += _check_rejects(led, inm)
    problems += check_summary(led, inm, tables, summary, scenario, members_expected)
    return problems


# -- the checks ------------------------------------------------------------------


def _check_entries(led: LedgerArrays) -> list[Violation]:
    out: list[Violation] = []
    expected = ", ".join(KINDS)
    out += member_lines(
        np.flatnonzero(led.kind < 0),
        led.member,
        lambda r: f"{led.describe(r)}: unknown kind (expected one of {expected})",
        "entries of unknown kind",
    )
    out += member_lines(
        np.flatnonzero(led.qty < 0),
        led.member,
        lambda r: f"{led.describe(r)}: negative quantity {led.qty[r]}",
        "entries with a negative quantity",
    )
    out += member_lines(
        np.flatnonzero(led.is_kind("reject") & (led.qty != 0)),
        led.member,
        lambda r: f"{led.describe(r)}: a reject moves no credits, got quantity {led.qty[r]}",
        "rejects with a quantity",
    )
    out += member_lines(
        np.flatnonzero(led.balance < 0),
        led.member,
        lambda r: f"{led.describe(r)}: negative balance_after {led.balance[r]}",
        "entries with a negative balance",
    )
    return out


def _check_running_balances(led: LedgerArrays) -> list[Violation]:
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

    return member_lines(o[wrong], led.member, line, "members with a wrong running balance")


def _check_conservation(led: LedgerArrays, members: TableView) -> list[Violation]:
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

        out += member_lines(
            np.flatnonzero(inflow != outflow),
            lambda m: str(led.members[m]),
            line,
            "members whose credits are not conserved",
        )
    known = pd.Index(members.text("member").to_pylist())
    unknown = np.flatnonzero(known.get_indexer(led.members) < 0)
    out += member_lines(
        unknown,
        lambda m: str(led.members[m]),
        lambda m: f"{led.members[m]}: in the ledger but not in the members table",
        "ledger members missing from the members table",
    )
    return out


def _check_inmail_flags(inm: InMailArrays) -> list[Violation]:
    out = member_lines(
        range(len(inm.duplicates)),
        lambda i: _sender_of(inm.duplicates[i]),
        lambda i: (
            f"{_sender_of(inm.duplicates[i])}: InMail {inm.duplicates[i]!r} appears more"
            " than once in the InMails table"
        ),
        "duplicated InMail ids",
    )
    out += member_lines(
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
    led: LedgerArrays, inm: InMailArrays, kind: str
) -> tuple[list[Violation], np.ndarray, np.ndarray]:
    """Ledger rows of ``kind`` naming a known InMail, its index, and lines for unknown ids."""
    rows, where = inm.matched(led, kind)
    lost = member_lines(
        rows[where < 0],
        led.member,
        lambda r: (
            f"{led.describe(r)}: names InMail {led.inmail[r].as_py()!r}, which is not in"
            " the InMails table"
        ),
        f"{kind} entries naming unknown InMails",
    )
    return lost, rows[where >= 0], where[where >= 0]


def _check_spends(led: LedgerArrays, inm: InMailArrays) -> list[Violation]:
    """A paid InMail has exactly one spend entry; a free or rejected one has none."""
    out, _, where = _matched(led, inm, "spend")
    count = np.bincount(where, minlength=inm.n)
    out += member_lines(
        np.flatnonzero(inm.paid & (count != 1)),
        inm.sender,
        lambda i: (
            f"{inm.sender(i)}: paid InMail {inm.name(i)} has {count[i]} spend entries, expected 1"
        ),
        "paid InMails without exactly one spend",
    )
    out += member_lines(
        np.flatnonzero(~inm.paid & (count > 0)),
        inm.sender,
        lambda i: (
            f"{inm.sender(i)}: {_unpaid(inm, i)} InMail {inm.name(i)} has {count[i]} spend"
            " entries, expected 0"
        ),
        "unpaid InMails with a spend",
    )
    return out


def _check_refunds(led: LedgerArrays, inm: InMailArrays) -> list[Violation]:
    """At most one refund per paid InMail, none otherwise, at the InMail's refunded_at."""
    out, rows, where = _matched(led, inm, "refund")
    count = np.bincount(where, minlength=inm.n)
    out += member_lines(
        np.flatnonzero(inm.paid & (count > 1)),
        inm.sender,
        lambda i: (
            f"{inm.sender(i)}: paid InMail {inm.name(i)} has {count[i]} refund entries,"
            " expected at most 1"
        ),
        "InMails refunded more than once",
    )
    out += member_lines(
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
    out += member_lines(
        np.flatnonzero(inm.paid & (count == 1) & (~inm.has_refund | (inm.refunded_at != at))),
        inm.sender,
        lambda i: (
            f"{inm.sender(i)}: InMail {inm.name(i)} is refunded in the ledger at"
            f" {iso_instant(at[i])} but its refunded_at is"
            f" {iso_instant(inm.refunded_at[i]) if inm.has_refund[i] else 'empty'}"
        ),
        "InMails whose refunded_at disagrees with the ledger",
    )
    out += member_lines(
        np.flatnonzero((count == 0) & inm.has_refund),
        inm.sender,
        lambda i: (
            f"{inm.sender(i)}: InMail {inm.name(i)} has refunded_at"
            f" {iso_instant(inm.refunded_at[i])} but no refund entry"
        ),
        "InMails with refunded_at but no refund entry",
    )
    return out


def _check_rejects(led: LedgerArrays, inm: InMailArrays) -> list[Violation]:
    """A rejected InMail has exactly one reject entry, with its reason; others have none."""
    out, rows, where = _matched(led, inm, "reject")
    count = np.bincount(where, minlength=inm.n)
    out += member_lines(
        np.flatnonzero(inm.rejected & (count != 1)),
        inm.sender,
        lambda i: (
            f"{inm.sender(i)}: rejected InMail {inm.name(i)} ({inm.rejection(i)}) has"
            f" {count[i]} reject entries, expected 1"
        ),
        "rejected InMails without exactly one reject",
    )
    out += member_lines(
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
        out += member_lines(
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


def _unpaid(inm: InMailArrays, i: int) -> str:
    return "rejected" if inm.rejected[i] else "free"


def _yaml_bool(value: Any) -> str:
    return "true" if value else "false"
