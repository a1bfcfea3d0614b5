"""The invariant check of a run's summary: its counts against recounts from the tables.

Job: recount, over the measured window, what ``summary.json`` counts (members,
InMails by outcome, responses, refunds, credits by ledger kind, revenue) from
the decoded tables, independently of :mod:`simulator.run_summary`, and report
each count that differs; and check the ledger and the InMails table against
each other on those counts (spends and paid InMails, refunds, rejections).

Boundary: one check of :func:`simulator.invariants.check_run`, which calls it
last; reads the decoded tables (:mod:`simulator.invariant_tables`), writes
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from simulator.invariant_tables import KINDS, InMailArrays, LedgerArrays, table_view
from simulator.population import roster
from simulator.violations import Violation
from simulator.vocabulary import SEND_REASONS

if TYPE_CHECKING:
    from simulator.scenario import Scenario

__all__ = ["check_summary"]

_SEND_REASONS = SEND_REASONS


def check_summary(
    led: LedgerArrays,
    inm: InMailArrays,
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
        "members": len(table_view(tables, "members")),
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
    bill = table_view(tables, "billing")
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
