"""The metrics of a measured window from its integer counts: one definition each.

Job: say once what each metric that ``summary.json`` and the report headline
(``headline.csv``, :func:`simulator.reports.headline`) share is: its name, the
counts it is made of, and how a rate with nothing to divide by is given. The
run summary's :func:`simulator.run_summary.finish_summary` and the reports'
:func:`simulator.reports.headline_finish` both call :func:`window_metrics`,
each on its own recount of the run (the two recounts are independent, and
``test_summary_and_headline_of_a_run_agree_on_every_shared_metric`` in
``tests/integration/test_report_sums.py`` checks that they agree), so a
metric cannot mean one thing in one file and another in the other.

Convention: counts and cents are ints; a rate is a float, NaN when its
denominator is 0. ``summary.json`` writes NaN as ``null`` (JSON has no NaN:
:func:`json_value`); a CSV report leaves the cell empty.

Boundary: no tables, no files; pure arithmetic on counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["COUNTS", "json_value", "rate", "window_metrics"]

#: The counts :func:`window_metrics` reads, each over the measured window: credits by
#: the kind of ledger entry that moved them, the paid InMails whose refund window
#: closed by the end (``settled``) and those of them refunded, and billing.
COUNTS = (
    "credits_granted",
    "credits_purchased",
    "credits_refunded",
    "credits_spent",
    "credits_expired",
    "settled",
    "settled_refunds",
    "subscription_revenue_cents",
)


def rate(numerator: int, denominator: int) -> float:
    """``numerator / denominator``, NaN when the denominator is 0."""
    return numerator / denominator if denominator else math.nan


def window_metrics(counts: Mapping[str, int], credit_price_cents: int) -> dict[str, int | float]:
    """The shared metrics of a window from its :data:`COUNTS`.

    ``credits_issued`` = granted + purchased + refunded; ``expiry_waste_rate``
    = expired / issued; ``refund_rate`` = settled_refunds / settled;
    ``refund_share`` = refunded / spent; ``purchase_revenue_cents`` = credits
    purchased x the credit price; ``net_revenue_cents`` = that plus the
    subscription revenue (refunds give credits back, not money).
    """
    c = {name: int(counts[name]) for name in COUNTS}
    issued = c["credits_granted"] + c["credits_purchased"] + c["credits_refunded"]
    purchase_cents = c["credits_purchased"] * int(credit_price_cents)
    return {
        "credits_issued": issued,
        "expiry_waste_rate": rate(c["credits_expired"], issued),
        "refund_rate": rate(c["settled_refunds"], c["settled"]),
        "refund_share": rate(c["credits_refunded"], c["credits_spent"]),
        "expired_value_cents": c["credits_expired"] * int(credit_price_cents),
        "purchase_revenue_cents": purchase_cents,
        "subscription_revenue_cents": c["subscription_revenue_cents"],
        "net_revenue_cents": c["subscription_revenue_cents"] + purchase_cents,
    }


def json_value(value: Any) -> Any:
    """``value`` as ``summary.json`` writes it: a NaN rate is ``None`` (JSON ``null``)."""
    return None if isinstance(value, float) and math.isnan(value) else value
