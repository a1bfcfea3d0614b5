"""The words of a run's tables, declared once: ledger kinds, reasons, buckets, "no instant".

Every module that writes or reads a run's columns takes its names and codes
from here (the engine, the model's tables, the summary, the reports, the
invariants), so a word cannot drift between them. Pure Python: the engine
imports it and stays free of numpy and pandas. The mean month lives with the
other units of time, :data:`simulator.timeutil.MEAN_MONTH_DAYS`.

The invariants check the *meaning* of these words independently (each kind's
sign, which entries an InMail needs); they share the spelling, not the logic.
"""

from __future__ import annotations

__all__ = [
    "LEDGER_KINDS",
    "LEDGER_REASONS",
    "LENGTH_BUCKETS",
    "NO_INSTANT",
    "PURCHASE_REASONS",
    "REPORT_LENGTH_BUCKETS",
    "RESPONSE_KINDS",
    "SEND_REASONS",
]

#: Ledger entry kinds (RULES.md section 5), in the order of their codes.
LEDGER_KINDS = ("grant", "purchase", "spend", "refund", "expire", "cap", "forfeit", "reject")

#: Why a send is rejected (RULES.md section 4), in the order of their codes
#: from 1; ``inmails.rejection`` and ``summary.json``'s ``inmails_rejected_<reason>``.
SEND_REASONS = ("body_length", "subject_length", "category", "no_credit")

#: Why a purchase is rejected (RULES.md section 3).
PURCHASE_REASONS = ("quantity", "not_purchasable", "purchased_cap", "allotment_left")

#: The ledger's ``reason`` column: none, then the send reasons, then the purchase reasons.
LEDGER_REASONS = ("", *SEND_REASONS, *PURCHASE_REASONS)

#: What a response says (``inmails.response``; the history's ``response``).
RESPONSE_KINDS = ("accept", "decline", "reply")

#: The body-length buckets of a scenario's ``length_multipliers`` (characters).
LENGTH_BUCKETS = ("1-400", "401-800", "801-1200", "1201-2000")

#: The same in reports, which also name a body that is empty or over the limit.
REPORT_LENGTH_BUCKETS = ("0", *LENGTH_BUCKETS, "over-2000")

#: "No instant" in an int64 column of Unix seconds (a null timestamp): int64's minimum.
NO_INSTANT = -(2**63)
