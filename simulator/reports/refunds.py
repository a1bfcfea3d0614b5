"""Refunds: paid InMails and their refunds per key, their roll-ups, and response delays.

Job: :func:`refund_rates` (per tier, month sent, category and body-length
bucket; ``*_sums`` and ``*_finish``), its roll-ups :func:`refund_cuts` and
:func:`refund_totals` (finished from its frame, not from sums), and
:func:`response_delays` (a histogram of the delay from sending to response).

Boundary: keyed by the InMail (its tier and month at sending); the refund rule
itself is the engine's (RULES.md R6), read here only through the tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from simulator.columns import NAT
from simulator.reports.groups import (
    bucket_key,
    coded,
    group_sums,
    month_key,
    month_labels,
    ratio,
    sort_rows,
)
from simulator.reports.run_tables import RunMeta, RunTables, window_of, window_rows
from simulator.timeutil import DAY

__all__ = [
    "refund_cuts",
    "refund_rates",
    "refund_rates_finish",
    "refund_rates_sums",
    "refund_totals",
    "response_delays",
    "response_delays_finish",
    "response_delays_sums",
]

_REFUND_KEYS = ["tier", "month", "category", "length_bucket"]
_REFUND_COUNTS = [
    "inmails_paid",
    "responses_within_window",
    "late_responses",
    "refunds",
    "settled",
    "settled_refunds",
]


def refund_rates(tables: RunTables) -> pd.DataFrame:
    """Paid InMails and their refunds per tier, month sent, category and body-length bucket.

    Keys come from the InMail (tier and calendar month at sending). Columns:

    - ``inmails_paid``: spend entries in the window (paid InMails sent in it);
    - ``responses_within_window`` / ``late_responses``: those paid InMails
      with a response at or before / after their ``window_end`` (any response
      counts; with no window every response is "within");
    - ``refunds``: refund entries in the window, keyed by their InMail, so a
      refund of an InMail sent during the warm-up lands on its warm-up month
      and the column sums to the ledger's refunds of the window;
    - ``settled``: paid InMails sent in the window whose window closed by the
      end (all of them when the refund mode is ``none``);
    - ``settled_refunds``: the settled ones that were refunded;
    - ``refund_rate`` = settled_refunds / settled (NaN when nothing settled).

    Only combinations with at least one count are listed; no margin rows.
    """
    return refund_rates_finish(refund_rates_sums(tables))


def refund_rates_sums(tables: RunTables) -> pd.DataFrame:
    """:func:`refund_rates`' sums: the counts per (tier, month code, category, length bucket).

    A refund or spend entry and its InMail are of one member, so of one batch.
    """
    cols = tables.columns
    led, im = cols.ledger, cols.inmails
    flows = window_rows(tables, led.kind.mask("spend", "refund"))
    pos = cols.inmail_rows(flows, "spend and refund entries")
    qty = led.quantity[flows]
    is_spend = led.kind.codes[flows] == led.kind.code("spend")

    paid = im.paid & window_of(tables).inmails
    window_end, responded = im.window_end, im.responded_at
    has_window = window_end != NAT
    has_response = responded != NAT
    if tables.refund_mode == "none":
        settled = paid
    else:
        settled = paid & has_window & (window_end <= tables.end)
    # A paid InMail sent in the window can only be refunded after it, so in the window.
    n = len(paid)
    refunded = np.zeros(n, dtype=bool)
    refunded[pos[~is_spend]] = True

    # One integer per InMail row: its group; the InMails with any count are summed.
    spent_on = np.zeros(n, dtype=np.int64)
    np.add.at(spent_on, pos[is_spend], qty[is_spend])
    refunds = np.zeros(n, dtype=np.int64)
    np.add.at(refunds, pos[~is_spend], qty[~is_spend])
    rows = np.flatnonzero(paid | (spent_on > 0) | (refunds > 0))
    counts = {
        "inmails_paid": spent_on[rows],
        "responses_within_window": (
            paid & has_response & (~has_window | (responded <= window_end))
        )[rows],
        "late_responses": (paid & has_response & has_window & (responded > window_end))[rows],
        "refunds": refunds[rows],
        "settled": settled[rows],
        "settled_refunds": (settled & refunded)[rows],
    }
    keys = {
        "tier": coded(im.tier, rows),
        "month": month_key(im.sent_at[rows]),
        "category": coded(im.category, rows),
        "length_bucket": bucket_key(im.body_chars[rows]),
    }
    return group_sums(keys, {k: v.astype(np.int64) for k, v in counts.items()})


def refund_rates_finish(sums: pd.DataFrame) -> pd.DataFrame:
    """:func:`refund_rates` from its sums (merged over batches: :mod:`simulator.reports.sums`)."""
    out = sums.copy()
    out["month"] = month_labels(out["month"].to_numpy())
    out = sort_rows(out, _REFUND_KEYS).reset_index(drop=True)
    out["refund_rate"] = ratio(out["settled_refunds"], out["settled"])
    return out


def refund_cuts(rates: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Roll :func:`refund_rates` up to the keys ``by`` (e.g. ``["tier", "category"]``).

    Sums the counts and recomputes ``refund_rate`` (settled_refunds / settled)
    and ``refund_share`` (refunds / inmails_paid: the share of spending that
    came back). No margin rows.
    """
    by = list(by)
    out = rates.groupby(by, sort=False)[_REFUND_COUNTS].sum().reset_index()
    out = sort_rows(out, by).reset_index(drop=True)
    out["refund_rate"] = ratio(out["settled_refunds"], out["settled"])
    out["refund_share"] = ratio(out["refunds"], out["inmails_paid"])
    return out


def refund_totals(rates: pd.DataFrame) -> pd.DataFrame:
    """Per tier and overall (``tier == "all"``) totals of :func:`refund_rates`."""
    per_tier = rates.groupby("tier", sort=False)[_REFUND_COUNTS].sum().reset_index()
    total = rates[_REFUND_COUNTS].sum().to_frame().T.astype(np.int64)
    total.insert(0, "tier", "all")
    out = pd.concat([sort_rows(per_tier, ["tier"]), total], ignore_index=True)
    out["refund_rate"] = ratio(out["settled_refunds"], out["settled"])
    out["refund_share"] = ratio(out["refunds"], out["inmails_paid"])
    return out


def response_delays(
    tables: RunTables, *, bins_per_window: int = 14, windows: int = 2
) -> pd.DataFrame:
    """Histogram of the delay from sending to response of paid InMails sent in the window.

    Bins are ``window / bins_per_window`` days wide (the refund window is a
    bin edge) up to ``windows`` refund windows; bins are right-closed
    (a, b], and the last one is open (``bin_end_days`` is inf). Columns:
    ``bin_start_days``, ``bin_end_days``, ``responses``, ``within_window``
    (the bin ends at or before the window). With no refund window the bins
    span 7 days.
    """
    sums = response_delays_sums(tables, bins_per_window=bins_per_window, windows=windows)
    return response_delays_finish(sums, tables, bins_per_window=bins_per_window, windows=windows)


def _delay_edges(meta: RunMeta, bins_per_window: int, windows: int) -> tuple[np.ndarray, float]:
    window = float(meta.refund_window_days or 7)
    return np.arange(bins_per_window * windows + 1) * (window / bins_per_window), window


def response_delays_sums(
    tables: RunTables, *, bins_per_window: int = 14, windows: int = 2
) -> pd.DataFrame:
    """:func:`response_delays`' sums: responses per bin (``bin`` numbers the bins from 0)."""
    im = tables.columns.inmails
    sent, responded = im.sent_at, im.responded_at
    mask = im.paid & window_of(tables).inmails & (responded != NAT)
    delays = (responded[mask] - sent[mask]) / DAY
    edges, _ = _delay_edges(tables, bins_per_window, windows)
    # Right-closed bins (a, b]: a response exactly at the window's end is within it.
    which = np.searchsorted(edges, delays, side="left") - 1
    counts = np.bincount(np.clip(which, 0, len(edges) - 1), minlength=len(edges))
    return pd.DataFrame({"bin": np.arange(len(edges)), "responses": counts.astype(np.int64)})


def response_delays_finish(
    sums: pd.DataFrame, meta: RunMeta, *, bins_per_window: int = 14, windows: int = 2
) -> pd.DataFrame:
    """:func:`response_delays` from its sums (merged over batches)."""
    edges, window = _delay_edges(meta, bins_per_window, windows)
    counts = np.zeros(len(edges), dtype=np.int64)
    np.add.at(counts, sums["bin"].to_numpy(dtype=np.int64), sums["responses"].to_numpy())
    ends = np.append(edges[1:], np.inf)
    return pd.DataFrame(
        {
            "bin_start_days": edges,
            "bin_end_days": ends,
            "responses": counts,
            "within_window": ends <= window,
        }
    )
