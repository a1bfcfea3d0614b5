"""The headline: the run's key metrics over the measured window, as one flat dict.

Job: :func:`headline` (``headline.csv``), as :func:`headline_sums` (one row of
counts per batch of members) and :func:`headline_finish` (the metrics, from the
added counts and the finished :func:`~simulator.reports.refunds.refund_rates`
and :func:`~simulator.reports.balances.utilisation_members`).

Boundary: the metrics it shares with ``summary.json`` are defined once, in
:func:`simulator.metrics.window_metrics`; what each means is
:data:`simulator.reports.definitions.HEADLINE_DEFINITIONS`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.metrics import window_metrics
from simulator.reports.balances import utilisation_members
from simulator.reports.groups import (
    KIND_COLUMNS,
    div,
    names_inmail,
    names_present,
    weighted_percentiles,
)
from simulator.reports.refunds import refund_rates
from simulator.reports.run_tables import RunMeta, RunTables, present_members, window_of

__all__ = ["headline", "headline_finish", "headline_sums"]


def headline(
    tables: RunTables,
    *,
    rates: pd.DataFrame | None = None,
    members: pd.DataFrame | None = None,
) -> dict[str, int | float]:
    """The run's headline metrics over the measured window, as one flat dict.

    Counts and cents are ints, rates floats (NaN when undefined):
    ``expiry_waste_rate`` = credits_expired / credits_issued,
    ``refund_rate`` = settled_refunds / settled, ``refund_share`` =
    refunds / credits_spent, ``never_send_share`` over all members,
    ``median_utilisation`` over member-tiers with grants. Pass ``rates``
    (:func:`refund_rates`) and ``members`` (:func:`utilisation_members`) to
    avoid recomputing them.
    """
    if rates is None:
        rates = refund_rates(tables)
    if members is None:
        members = utilisation_members(tables)
    return headline_finish(headline_sums(tables), rates, members, tables)


def headline_sums(tables: RunTables) -> pd.DataFrame:
    """:func:`headline`'s sums over the window: one row of counts (no keys).

    Members and senders are counted per batch of members and added: a
    member's rows are all in its batch.
    """
    cols = tables.columns
    led, im = cols.ledger, cols.inmails
    win = window_of(tables)
    rows = win.ledger_rows
    kind = led.kind.codes[rows]
    slots = len(led.kind.names) + 1  # slot 0: entries without a kind
    entries = np.bincount(kind + 1, minlength=slots)
    credits = np.zeros(slots, dtype=np.int64)
    np.add.at(credits, kind + 1, led.quantity[rows])

    def of(totals: np.ndarray, name: str) -> int:
        code = led.kind.code(name)
        return int(totals[code + 1]) if code >= 0 else 0

    attempted = win.inmails
    accepted = attempted & im.accepted
    roster_present = cols.members.member.codes[present_members(tables)]
    rejected = rows[kind == led.kind.code("reject")]
    counts = {f"credits_{name}": of(credits, name) for name in KIND_COLUMNS}
    counts |= {
        "members": int(names_present(led.member, roster_present, led.member.codes[rows]).sum()),
        "senders": int(names_present(im.sender, im.sender.codes[accepted]).sum()),
        "inmails_attempted": int(attempted.sum()),
        "inmails_sent": int(accepted.sum()),
        "inmails_free": int((im.free & accepted).sum()),
        "inmails_rejected_no_credit": int(
            (led.reason.codes[rejected] == led.reason.code("no_credit")).sum()
        ),
        "purchases_rejected": int((~names_inmail(led.inmail, rejected)).sum()),
        "purchases": of(entries, "purchase"),
        "subscription_revenue_cents": int(cols.billing.amount_cents[win.billing].sum()),
    }
    return pd.DataFrame({name: [value] for name, value in counts.items()}, dtype=np.int64)


def headline_finish(
    sums: pd.DataFrame, rates: pd.DataFrame, members: pd.DataFrame, meta: RunMeta
) -> dict[str, int | float]:
    """:func:`headline` from its sums, :func:`refund_rates` and :func:`utilisation_members`."""
    c = {name: int(sums[name].sum()) for name in sums.columns}
    k = {name: c[f"credits_{name}"] for name in KIND_COLUMNS}
    with_grants = members.loc[members["granted"] > 0, "utilisation"].to_numpy(dtype=float)
    n_members = c["members"]
    n_attempted, n_accepted = c["inmails_attempted"], c["inmails_sent"]
    settled = int(rates["settled"].sum())
    settled_refunds = int(rates["settled_refunds"].sum())
    # The metrics summary.json shares, defined once (simulator.metrics).
    shared = window_metrics(
        {
            "credits_granted": k["grant"],
            "credits_purchased": k["purchase"],
            "credits_refunded": k["refund"],
            "credits_spent": k["spend"],
            "credits_expired": k["expire"],
            "settled": settled,
            "settled_refunds": settled_refunds,
            "subscription_revenue_cents": c["subscription_revenue_cents"],
        },
        meta.credit_price_cents,
    )
    return {
        "members": n_members,
        "inmails_attempted": n_attempted,
        "inmails_sent": n_accepted,
        "inmails_paid": k["spend"],
        "inmails_free": c["inmails_free"],
        "inmails_rejected": n_attempted - n_accepted,
        "inmails_rejected_no_credit": c["inmails_rejected_no_credit"],
        "purchases_rejected": c["purchases_rejected"],
        "credits_granted": k["grant"],
        "credits_purchased": k["purchase"],
        "credits_refunded": k["refund"],
        "credits_issued": shared["credits_issued"],
        "credits_spent": k["spend"],
        "credits_expired": k["expire"],
        "credits_capped": k["cap"],
        "credits_forfeited": k["forfeit"],
        "expiry_waste_rate": shared["expiry_waste_rate"],
        "expired_value_cents": shared["expired_value_cents"],
        "refunds": k["refund"],
        "refund_share": shared["refund_share"],
        "settled": settled,
        "settled_refunds": settled_refunds,
        "refund_rate": shared["refund_rate"],
        "late_responses": int(rates["late_responses"].sum()),
        "purchases": c["purchases"],
        "purchase_revenue_cents": shared["purchase_revenue_cents"],
        "subscription_revenue_cents": shared["subscription_revenue_cents"],
        "never_send_share": div(n_members - c["senders"], n_members),
        "median_utilisation": weighted_percentiles(
            with_grants, np.ones(len(with_grants), dtype=np.int64), (50,)
        )[0],
    }
