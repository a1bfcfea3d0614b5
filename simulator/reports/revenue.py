"""Revenue and rejections: purchases and charges per month, refused actions, and per_tier.

Job: :func:`purchases_revenue` (purchases, credits bought and revenue per tier
and month), :func:`rejections` (refused sends and purchases per tier, month,
action and reason), both as ``*_sums`` and ``*_finish``, and :func:`per_tier`
(what an average member of each starting tier did; computed from the tables
at once, for the API, and not written to RUN_DIR/reports/).

Boundary: money in cents of the run's currency; the prices are ``run.json``'s.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from simulator.columns import NAT
from simulator.reports.groups import (
    coded,
    codes_key,
    group_sums,
    kind_sums_by_group,
    month_key,
    month_labels,
    names_inmail,
    ordered_tiers,
    sort_rows,
)
from simulator.reports.run_tables import (
    RunMeta,
    RunTables,
    present_members,
    window_months,
    window_of,
    window_rows,
)

__all__ = [
    "per_tier",
    "purchases_revenue",
    "purchases_revenue_finish",
    "purchases_revenue_sums",
    "rejections",
    "rejections_finish",
    "rejections_sums",
]


def purchases_revenue(tables: RunTables) -> pd.DataFrame:
    """Purchases, credits bought and revenue per tier and calendar month.

    One row per tier seen (on a purchase, a charge or a ``no_credit``
    rejection in the window) and per month of the window. Columns:
    ``purchases``, ``credits_bought``, ``purchase_revenue_cents`` (credits at
    ``credit_price_cents``), ``subscription_charges``,
    ``subscription_revenue_cents`` (billing), ``revenue_cents`` (their sum) and
    ``inmails_rejected_no_credit`` (sends rejected for lack of credit).
    """
    return purchases_revenue_finish(purchases_revenue_sums(tables), tables)


_PURCHASE_COUNTS = [
    "purchases",
    "credits_bought",
    "subscription_charges",
    "subscription_revenue_cents",
    "inmails_rejected_no_credit",
]


def purchases_revenue_sums(tables: RunTables) -> pd.DataFrame:
    """:func:`purchases_revenue`'s sums: its counts per (tier, month code)."""
    cols = tables.columns
    led, bill = cols.ledger, cols.billing
    buys = window_rows(tables, led.kind.mask("purchase"))
    failed = window_rows(tables, led.kind.mask("reject") & led.reason.mask("no_credit"))
    charges = np.flatnonzero(window_of(tables).billing)
    n_buys, n_charges, n_failed = len(buys), len(charges), len(failed)
    zeros = np.zeros
    values = {
        "purchases": np.concatenate([np.ones(n_buys), zeros(n_charges + n_failed)]),
        "credits_bought": np.concatenate([led.quantity[buys], zeros(n_charges + n_failed)]),
        "subscription_charges": np.concatenate(
            [zeros(n_buys), np.ones(n_charges), zeros(n_failed)]
        ),
        "subscription_revenue_cents": np.concatenate(
            [zeros(n_buys), bill.amount_cents[charges], zeros(n_failed)]
        ),
        "inmails_rejected_no_credit": np.concatenate(
            [zeros(n_buys + n_charges), np.ones(n_failed)]
        ),
    }
    # Ledger and billing tiers share one dictionary, so their codes can be stacked.
    tier = np.concatenate([led.tier.codes[buys], bill.tier.codes[charges], led.tier.codes[failed]])
    times = np.concatenate([led.time[buys], bill.time[charges], led.time[failed]])
    return group_sums(
        {"tier": codes_key(led.tier, tier), "_month": month_key(times)},
        {k: v.astype(np.int64) for k, v in values.items()},
    )


def purchases_revenue_finish(sums: pd.DataFrame, meta: RunMeta) -> pd.DataFrame:
    """:func:`purchases_revenue` from its sums (merged over batches)."""
    tiers = ordered_tiers(sums["tier"])
    index = pd.MultiIndex.from_product([tiers, window_months(meta)], names=["tier", "_month"])
    sums = sums.set_index(["tier", "_month"])[_PURCHASE_COUNTS].reindex(index, fill_value=0)
    out = sums.astype(np.int64).reset_index()
    out.insert(1, "month", month_labels(out.pop("_month").to_numpy()))
    out.insert(4, "purchase_revenue_cents", out["credits_bought"] * meta.credit_price_cents)
    out["revenue_cents"] = out["purchase_revenue_cents"] + out["subscription_revenue_cents"]
    order = ["tier", "month", "purchases", "credits_bought", "purchase_revenue_cents"]
    order += ["subscription_charges", "subscription_revenue_cents", "revenue_cents"]
    return out[[*order, "inmails_rejected_no_credit"]]


def rejections(tables: RunTables) -> pd.DataFrame:
    """Rejected actions per tier, calendar month, action (``send``/``purchase``) and reason.

    A reject entry naming an InMail is a send; any other is a purchase.
    Columns: ``tier``, ``month``, ``action``, ``reason``, ``rejections``.
    """
    return rejections_finish(rejections_sums(tables))


def rejections_sums(tables: RunTables) -> pd.DataFrame:
    """:func:`rejections`' sums: rejections per (tier, month code, action, reason)."""
    led = tables.columns.ledger
    rej = window_rows(tables, led.kind.mask("reject"))
    action = np.where(names_inmail(led.inmail, rej), 0, 1)
    return group_sums(
        {
            "tier": coded(led.tier, rej),
            "month": month_key(led.time[rej]),
            "action": (action, np.array(["send", "purchase"], dtype=object)),
            "reason": coded(led.reason, rej),
        },
        {"rejections": np.ones(len(rej), dtype=np.int64)},
    )


def rejections_finish(sums: pd.DataFrame) -> pd.DataFrame:
    """:func:`rejections` from its sums (merged over batches)."""
    out = sums.dropna(subset=["tier", "reason"]).copy()  # as a groupby would: no empty keys
    out["month"] = month_labels(out["month"].to_numpy())
    return sort_rows(out, ["tier", "month", "action", "reason"]).reset_index(drop=True)


def per_tier(tables: RunTables) -> pd.DataFrame:
    """What members of each starting tier did over the measured window, per member.

    Members are grouped by ``initial_tier`` (who they were at the start, so
    a member who upgraded still counts where it began). Columns: ``tier``,
    ``members``, then per member: ``sent`` (accepted InMails), ``no_credit``
    (sends rejected for lack of credit), ``responses``, ``granted``,
    ``purchased``, ``refunded``, ``spent``, ``expired``, ``capped``,
    ``forfeited`` (credits), ``purchase_spend`` (currency units); and the
    group's ``refund_rate`` (refunded / settled paid InMails) and
    ``expiry_waste_rate`` (expired / issued credits). Rates are NaN when
    their denominator is 0.
    """
    cols = tables.columns
    led, im, roster = cols.ledger, cols.inmails, cols.members
    win = window_of(tables)
    # A member's group: its initial tier's code (-1: not in the members table, counted nowhere).
    # Members present in the window only (an open population's leavers and late
    # arrivals are not its members).
    present = present_members(tables)
    initial = roster.initial_tier.codes[present]
    group_of = np.full(len(led.member.names) + 1, -1, dtype=np.int64)
    group_of[roster.member.codes[present]] = initial
    n_groups = len(led.tier.names)
    tiers = [str(t) for t in ordered_tiers(
        pd.Series(roster.initial_tier.labels(initial), dtype=object).dropna()
    )]  # fmt: skip
    size = np.bincount(initial[initial >= 0], minlength=n_groups)

    def per_group(group: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Sums of ``values`` per group (rows of no group dropped)."""
        mine = group >= 0
        out = np.zeros(n_groups, dtype=np.int64)
        np.add.at(out, group[mine], np.asarray(values, dtype=np.int64)[mine])
        return out

    rows_led = win.ledger_rows
    group_led = group_of[led.member.codes[rows_led]]
    kinds = ("grant", "purchase", "refund", "spend", "expire", "cap", "forfeit")
    credit = kind_sums_by_group(
        np.where(group_led >= 0, group_led, n_groups), n_groups + 1, led, rows_led, kinds
    )
    no_credit = per_group(
        group_led,
        (led.kind.codes[rows_led] == led.kind.code("reject"))
        & (led.reason.codes[rows_led] == led.reason.code("no_credit")),
    )
    sent = np.flatnonzero(win.inmails)
    group_im = group_of[im.sender.codes[sent]]
    accepted = im.accepted[sent]
    settled = im.paid[sent] & (im.window_end[sent] != NAT) & (im.window_end[sent] <= tables.end)
    counts = {
        "sent": per_group(group_im, accepted),
        "responses": per_group(group_im, accepted & im.responded[sent]),
        "settled": per_group(group_im, settled),
        "refunded": per_group(group_im, settled & (im.refunded_at[sent] != NAT)),
    }

    rows = []
    for tier in tiers:
        code = led.tier.code(tier)
        n = int(size[code])

        def credits(kind: str, code: int = code) -> int:
            return int(credit[kind][code])

        issued = credits("grant") + credits("purchase") + credits("refund")
        s = int(counts["settled"][code])
        rows.append(
            {
                "tier": tier,
                "members": n,
                "sent": int(counts["sent"][code]) / n,
                "no_credit": int(no_credit[code]) / n,
                "responses": int(counts["responses"][code]) / n,
                "granted": credits("grant") / n,
                "purchased": credits("purchase") / n,
                "refunded": credits("refund") / n,
                "spent": credits("spend") / n,
                "expired": credits("expire") / n,
                "capped": credits("cap") / n,
                "forfeited": credits("forfeit") / n,
                "purchase_spend": credits("purchase") * tables.credit_price_cents / 100 / n,
                "refund_rate": int(counts["refunded"][code]) / s if s else math.nan,
                "expiry_waste_rate": credits("expire") / issued if issued else math.nan,
            }
        )
    columns = [
        "tier",
        "members",
        "sent",
        "no_credit",
        "responses",
        "granted",
        "purchased",
        "refunded",
        "spent",
        "expired",
        "capped",
        "forfeited",
        "purchase_spend",
        "refund_rate",
        "expiry_waste_rate",
    ]
    return pd.DataFrame(rows, columns=columns)
