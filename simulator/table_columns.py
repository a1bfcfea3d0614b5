"""The typed columns of a run's four tables, and each ledger entry's InMail.

Job: :meth:`Columns.build` reads the ledger, InMails, members and billing
tables (through :class:`simulator.columns.TableReader`) into one typed
column group each (:class:`LedgerColumns`, :class:`InMailColumns`,
:class:`MemberColumns`, :class:`BillingColumns`), members and tiers sharing
one dictionary across the four, so codes compare across tables; and
:meth:`Columns.inmail_rows` matches spend and refund entries to the InMails
they name, by the simulator's order when it holds, else by id.

Boundary: how a column is read and decoded (Parquet, Arrow, pandas; codes,
instants) is :mod:`simulator.columns`'; no report logic here,
:mod:`simulator.reports` computes from these columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from simulator.columns import NAT, Codes, Source, TableReader, is_text, shared_codes
from simulator.errors import InputError

__all__ = ["BillingColumns", "Columns", "InMailColumns", "LedgerColumns", "MemberColumns"]


@dataclass(frozen=True, eq=False)
class LedgerColumns:
    """The ledger, one entry per row, in the table's order."""

    time: np.ndarray
    member: Codes
    tier: Codes
    kind: Codes
    lot_source: Codes
    lot_issued_at: np.ndarray
    quantity: np.ndarray
    reason: Codes
    balance_after: np.ndarray
    inmail: pa.ChunkedArray | pd.Series  # InMail ids as stored: matched by InMail ids, not coded


@dataclass(frozen=True, eq=False)
class InMailColumns:
    """The InMails, one attempted InMail per row, in the table's order."""

    inmail: pa.ChunkedArray | pd.Series
    sender: Codes
    tier: Codes
    sent_at: np.ndarray
    category: Codes
    body_chars: np.ndarray
    free: np.ndarray
    paid: np.ndarray
    accepted: np.ndarray  # no rejection reason
    responded: np.ndarray  # a response (accept, decline, reply)
    responded_at: np.ndarray
    refunded_at: np.ndarray
    window_end: np.ndarray


@dataclass(frozen=True, eq=False)
class MemberColumns:
    member: Codes
    initial_tier: Codes
    final_tier: Codes
    # When a member arrived during the run, and when it left (after_cancel:
    # leave); NAT for none, and for runs written before these columns existed.
    arrived_at: np.ndarray
    left_at: np.ndarray

    def present(self, start: int, end: int) -> np.ndarray:
        """Rows of members present at some instant of ``[start, end]``: arrived by
        ``end`` and not left at or before ``start``."""
        arrived = (self.arrived_at == NAT) | (self.arrived_at <= end)
        stayed = (self.left_at == NAT) | (self.left_at > start)
        return arrived & stayed


@dataclass(frozen=True, eq=False)
class BillingColumns:
    member: Codes
    tier: Codes
    time: np.ndarray
    amount_cents: np.ndarray


@dataclass(frozen=True, eq=False)
class Columns:
    """The typed columns of a run's four tables (members and tiers share dictionaries)."""

    ledger: LedgerColumns
    inmails: InMailColumns
    members: MemberColumns
    billing: BillingColumns

    @classmethod
    def build(cls, sources: Mapping[str, Source]) -> Columns:
        """The columns of ``sources`` (``ledger``, ``inmails``, ``members``, ``billing``)."""
        led = TableReader("ledger", sources["ledger"])
        im = TableReader("inmails", sources["inmails"])
        mem = TableReader("members", sources["members"])
        bill = TableReader("billing", sources["billing"])
        members = shared_codes(
            [led.text("member"), im.text("sender"), mem.text("member"), bill.text("member")]
        )
        tiers = shared_codes(
            [
                led.text("tier"),
                im.text("tier"),
                mem.text("initial_tier"),
                mem.text("final_tier"),
                bill.text("tier"),
            ]
        )
        (rejection,) = shared_codes([im.text("rejection")])
        return cls(
            ledger=LedgerColumns(
                time=led.instants("time", required=True),
                member=members[0],
                tier=tiers[0],
                kind=shared_codes([led.text("kind")])[0],
                lot_source=shared_codes([led.text("lot_source")])[0],
                lot_issued_at=led.instants("lot_issued_at"),
                quantity=led.ints("quantity"),
                reason=shared_codes([led.text("reason")])[0],
                balance_after=led.ints("balance_after"),
                inmail=led.ids("inmail"),
            ),
            inmails=InMailColumns(
                inmail=im.ids("inmail"),
                sender=members[1],
                tier=tiers[1],
                sent_at=im.instants("sent_at", required=True),
                category=shared_codes([im.text("category")])[0],
                body_chars=im.ints("body_chars"),
                free=im.flags("free"),
                paid=im.flags("paid"),
                accepted=rejection.empty(),
                responded=~shared_codes([im.text("response")])[0].empty(),
                responded_at=im.instants("responded_at"),
                refunded_at=im.instants("refunded_at"),
                window_end=im.instants("window_end"),
            ),
            members=MemberColumns(
                member=members[2],
                initial_tier=tiers[2],
                final_tier=tiers[3],
                arrived_at=mem.optional_instants("arrived_at"),
                left_at=mem.optional_instants("left_at"),
            ),
            billing=BillingColumns(
                member=members[3],
                tier=tiers[4],
                time=bill.instants("time", required=True),
                amount_cents=bill.ints("amount_cents"),
            ),
        )

    # -- matching ledger entries to their InMails ------------------------------

    def inmail_rows(self, rows: np.ndarray, what: str) -> np.ndarray:
        """Row positions in the inmails table of the InMails that ledger ``rows`` name.

        ``rows`` are spend and refund entries (ascending positions); every
        one must name an InMail of the table.

        A run's own tables are in the simulator's order (the ledger by
        instant, then member id; inmails by sending instant, then member
        id), in which the n-th spend entry names the n-th paid InMail, and
        the refund entries name the refunded InMails ordered by refund
        instant, then member id. That match is tried first, per kind, and
        checked id by id (one vectorised comparison), so it is exact or not
        used. Otherwise (tables in another order, written by hand, or
        refunds in response order within one member's instant) the ids are
        looked up in a hash table. Either way the InMail ids must be unique
        (checked once), or an entry's InMail would be ambiguous.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows):
            self._require_unique_ids()
        pos = np.full(len(rows), -1, dtype=np.int64)
        kind = self.ledger.kind.codes[rows]
        unmatched = np.ones(len(rows), dtype=bool)
        for name in ("spend", "refund"):
            mine = kind == self.ledger.kind.code(name)
            found = self._in_order(name) if mine.any() else None
            if found is not None:
                ledger_rows, inmail_rows = found
                of_entry = np.full(len(self.ledger.time), -1, dtype=np.int64)
                of_entry[ledger_rows] = inmail_rows
                pos[mine] = of_entry[rows[mine]]
                unmatched[mine] = False
        if unmatched.any():
            pos[unmatched] = _look_up(
                self.inmails.inmail, self.ledger.inmail, rows[unmatched], what
            )
        return pos

    def _require_unique_ids(self) -> None:
        """An InputError naming some duplicated InMail ids, if any (checked once)."""
        if self.__dict__.get("_ids_unique"):
            return
        ids = self.inmails.inmail
        text = _as_arrow(ids)
        if text is not None:
            unique = len(pc.unique(text)) == len(text)  # Arrow's hash: faster than count_distinct
        else:  # ids of another type (hand-made tables): pandas, which takes anything
            unique = pd.Index(_values(ids)).is_unique
        if not unique:
            every = pd.Index(_values(ids))
            dupes = every[every.duplicated()].unique()[:5]
            raise InputError(f"inmails: duplicate InMail ids: {', '.join(map(str, dupes))}")
        self.__dict__["_ids_unique"] = True  # a frozen dataclass: its own cache, as cached_property

    def _in_order(self, kind: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(ledger rows of ``kind``, their InMail rows) if the simulator's order matches."""
        ids, named = self.inmails.inmail, self.ledger.inmail
        if not (isinstance(ids, pa.ChunkedArray) and isinstance(named, pa.ChunkedArray)):
            return None
        if not (is_text(ids.type) and is_text(named.type)):
            return None
        ledger_rows = np.flatnonzero(self.ledger.kind.codes == self.ledger.kind.code(kind))
        im = self.inmails
        if kind == "spend":
            inmail_rows = np.flatnonzero(im.paid)
        else:
            # The ledger's order: by instant, then member id (R10 leaves the order across
            # members free; the writer sorts by id), then as sent.
            refunded = np.flatnonzero(im.refunded_at != NAT)
            at = im.refunded_at[refunded]
            names = im.sender.names
            if len(at) and int(np.abs(at).max()) * (len(names) + 1) >= 2**62:
                return None  # instants too far out to combine with a member rank
            rank = np.empty(len(names) + 1, dtype=np.int64)
            rank[np.argsort(np.array([str(n) for n in names], dtype=object), kind="stable")] = (
                np.arange(len(names))
            )
            rank[-1] = len(names)  # no sender: last
            key = at * (len(names) + 1) + rank[im.sender.codes[refunded]]
            inmail_rows = refunded[np.argsort(key, kind="stable")]
        if len(inmail_rows) != len(ledger_rows):
            return None
        if len(ledger_rows) == 0:
            return ledger_rows, inmail_rows
        same = pc.equal(named.take(pa.array(ledger_rows)), ids.take(pa.array(inmail_rows)))
        if not pc.all(pc.fill_null(same, False)).as_py():
            return None
        return ledger_rows, inmail_rows


def _look_up(
    ids: pa.ChunkedArray | pd.Series,
    named: pa.ChunkedArray | pd.Series,
    rows: np.ndarray,
    what: str,
) -> np.ndarray:
    """Positions in ``ids`` (unique) of ``named[rows]``, by id; all must be found."""
    all_ids = _as_arrow(ids)
    wanted = _as_arrow(named)
    if wanted is not None:
        wanted = wanted.take(pa.array(rows))
    index = None
    if all_ids is not None and wanted is not None:
        # Text ids: hashed in Arrow, 4x faster than a pandas Index over
        # millions of ids; large_string has no 2 GiB limit.
        all_ids, wanted = all_ids.cast(pa.large_string()), wanted.cast(pa.large_string())
    else:  # ids of another type (hand-made tables): pandas, which takes anything
        index = pd.Index(_values(ids))
    if index is None:
        found = pc.index_in(wanted, value_set=all_ids)
        pos = pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    else:
        pos = index.get_indexer(_values(named)[rows])
    if (pos < 0).any():
        missing = pd.unique(_values(named)[rows][pos < 0])[:5]
        raise InputError(
            f"ledger: {int((pos < 0).sum())} {what} name InMails missing from inmails: "
            + ", ".join(repr(str(m)) for m in missing)
        )
    return pos


def _as_arrow(column: pa.ChunkedArray | pd.Series) -> pa.ChunkedArray | None:
    """Text ids as Arrow (None for ids of another type)."""
    if isinstance(column, pa.ChunkedArray):
        return column if is_text(column.type) else None
    try:
        arr = pa.chunked_array([pa.array(column, from_pandas=True)])
    except (pa.ArrowException, TypeError, ValueError):
        return None
    return arr if is_text(arr.type) else None


def _values(column: pa.ChunkedArray | pd.Series) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)
    return column.to_numpy()
