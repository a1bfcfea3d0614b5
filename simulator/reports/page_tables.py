"""Previews of a run's report tables for its page.

Each table is shown as HTML with its warm-up rows hidden, long tables
summarised (totals per tier, month x tier rates, bands of per-member
utilisation) and a link to the whole file in ``reports/``; money, counts and
rates formatted by :mod:`simulator.reports.display`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from simulator.reports.definitions import HEADLINE_DEFINITIONS
from simulator.reports.display import (
    DASH,
    count,
    is_rate,
    missing,
    money,
    number,
    percent,
    tier_order,
)
from simulator.reports.registry import REPORTS
from simulator.reports.story import RunFacts

__all__ = [
    "PLOT_NOTES",
    "TITLES",
    "html_table",
    "pairs_table",
    "table_section",
]

# ---------------------------------------------------------------------------
# Tables as HTML


def html_table(
    frame: pd.DataFrame,
    currency: str,
    *,
    percent_columns: Iterable[str] = (),
    classes: str = "",
) -> str:
    """A frame as an HTML table with the page's number formats (see :func:`_column_cells`)."""
    esc = html.escape
    pct = set(percent_columns)
    heads, cells, numeric = [], [], []
    for name in frame.columns:
        head, column, is_num = _column_cells(str(name), frame[name], currency, str(name) in pct)
        heads.append(head)
        cells.append(column)
        numeric.append(is_num)
    attr = f' class="{classes}"' if classes else ""
    out = [f"<table{attr}><thead><tr>"]
    # Long names may break after an underscore, so wide tables stay narrow.
    out += [
        f"<th{_num(n)}>{esc(h).replace('_', '_<wbr>')}</th>"
        for h, n in zip(heads, numeric, strict=True)
    ]
    out.append("</tr></thead><tbody>")
    for i in range(len(frame)):
        row = "".join(
            f"<td{_num(n)}>{esc(col[i])}</td>" for col, n in zip(cells, numeric, strict=True)
        )
        out.append(f"<tr>{row}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _num(numeric: bool) -> str:
    return ' class="num"' if numeric else ""


def _column_cells(
    name: str, column: pd.Series, currency: str, as_percent: bool
) -> tuple[str, list[str], bool]:
    """(header, cells, numeric?) of a column: ``*_cents`` as currency units (header
    ``name (USD)``), rates and shares as %, booleans as yes/no, counts with separators,
    other numbers to 2 decimals (1 for days)."""
    values = column.tolist()
    if name.endswith("_cents"):
        return (
            f"{name[: -len('_cents')]} ({currency})",
            [money(x, currency).removeprefix(f"{currency}\u00a0") for x in values],
            True,
        )
    if as_percent or is_rate(name):
        return name, [percent(x) for x in values], True
    if pd.api.types.is_bool_dtype(column):
        return name, ["yes" if x else "no" for x in values], False
    if pd.api.types.is_numeric_dtype(column):
        finite = [float(x) for x in values if not missing(x)]
        whole = all(x == int(x) for x in finite if math.isfinite(x))
        digits = 1 if name.endswith("days") else 2
        return (
            name,
            [number(x, digits, fixed=not whole) for x in values],
            True,
        )
    return name, [DASH if missing(x) else str(x) for x in values], False


def pairs_table(rows: Iterable[tuple[str, str, str]], heads: Sequence[str]) -> str:
    """A table of (name, value, definition) rows."""
    esc = html.escape
    out = ['<table class="defs"><thead><tr>']
    out += [f"<th{_num(i == 1)}>{esc(h)}</th>" for i, h in enumerate(heads)]
    out.append("</tr></thead><tbody>")
    for name, value, text in rows:
        out.append(
            f'<tr><td><code>{esc(name)}</code></td><td class="num">{esc(value)}</td>'
            f"<td>{esc(text)}</td></tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


# ---------------------------------------------------------------------------
# Table previews: warm-up rows hidden, long tables summarised, each linked


@dataclass(frozen=True)
class _Preview:
    html: str
    note: str = ""  # what the preview shows, beyond the table's own note


_Summariser = Callable[[pd.DataFrame, RunFacts], _Preview]

# What each table's columns mean, shown under its heading.
_TABLE_NOTES = {
    "expiry_waste": (
        "Credits per tier and calendar month of the measured window, by what happened to them "
        "in that month. waste_rate: "
        + HEADLINE_DEFINITIONS["expiry_waste.waste_rate"]
        + " lost_rate: "
        + HEADLINE_DEFINITIONS["expiry_waste.lost_rate"]
    ),
    "expiry_waste_by_source": (
        "The same totals per tier and lot source (grant, purchase, refund) over the measured "
        "window; waste_rate and lost_rate as in expiry_waste."
    ),
    "credit_age": (
        "How old credits were (days since their lot was issued) when they were spent or "
        "expired in the measured window, weighted by credits."
    ),
    "credit_vintages": (
        "One row per vintage in the file: the lots of one tier at issue, lot source, issue month "
        "and side of the window's start (warmup), followed over the whole run to its end. "
        + "waste_rate: "
        + HEADLINE_DEFINITIONS["credit_vintages.waste_rate"]
    ),
    "refund_rates": (
        "Paid InMails per tier, month sent, category and body-length bucket. refund_rate: "
        + HEADLINE_DEFINITIONS["refund_rate"]
    ),
    "refund_rates_by_tier_category": (
        "refund_rates summed per tier and category; refund_rate = settled_refunds / settled, "
        "refund_share = refunds / inmails_paid (the share of spending that came back)."
    ),
    "refund_rates_by_length": (
        "refund_rates summed per tier and body-length bucket (characters); rates as in "
        "refund_rates_by_tier_category."
    ),
    "refund_totals": (
        "refund_rates summed per tier, and over all tiers (all); rates as in "
        "refund_rates_by_tier_category."
    ),
    "response_delays": (
        "Responses to the InMails sent in the measured window by delay after sending (days); "
        "within_window: the bin ends inside the refund window."
    ),
    "utilisation": (
        "Per tier held in the window. members: "
        + HEADLINE_DEFINITIONS["utilisation.members"]
        + " Utilisation = credits spent / credits granted in the window, per member-tier pair "
        "with grants (p10 .. p90: its percentiles); never_send_share: pairs that sent no InMail."
    ),
    "utilisation_members": (
        "One row per member and tier held in the window in the file: credits granted, bought, "
        "refunded and spent, InMails sent, and utilisation = spent / granted."
    ),
    "balance_distribution": (
        "End-of-day credit balances of the members present, per day of the window and tier "
        "(mean, percentiles, maximum) in the file."
    ),
    "purchases_revenue": (
        "Purchases and revenue per tier and month of the measured window; revenue = purchase "
        "revenue + subscription revenue; inmails_rejected_no_credit: send attempts rejected "
        "for lack of credit."
    ),
    "rejections": "Rejected send and purchase attempts per tier, month, action and reason.",
}

# Sentences shown under the plot of their name.
PLOT_NOTES = {
    "expiry_waste": "waste_rate: " + HEADLINE_DEFINITIONS["expiry_waste.waste_rate"],
    "credit_vintages": HEADLINE_DEFINITIONS["credit_vintages.waste_rate"],
    "utilisation": "members: " + HEADLINE_DEFINITIONS["utilisation.members"],
    "refund_rates": "refund_rate: " + HEADLINE_DEFINITIONS["refund_rate"],
}

#: Headings of the tables and plots: each report's registered title, and the steady state's.
TITLES = {r.name: r.title for r in REPORTS} | {"steady_state": "Steady-state check"}


def _by_tier(frame: pd.DataFrame) -> pd.DataFrame:
    order = {t: i for i, t in enumerate(tier_order(frame["tier"]))}
    return frame.iloc[np.argsort([order[str(t)] for t in frame["tier"]], kind="stable")]


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    num, den = num.astype(float), den.astype(float)
    return num / den.where(den != 0)


def _totals(frame: pd.DataFrame, by: Sequence[str], sums: Sequence[str]) -> pd.DataFrame:
    """Sums of ``sums`` per ``by`` (tiers in order), and an ``all`` row over every tier."""
    parts = frame.groupby(list(by), sort=False)[list(sums)].sum().reset_index()
    if "tier" in by:
        parts = _by_tier(parts)
        if len(by) == 1 and len(parts) > 1:
            total = frame[list(sums)].sum().to_frame().T
            total.insert(0, "tier", "all")
            parts = pd.concat([parts, total], ignore_index=True)
    return parts.reset_index(drop=True).astype({c: frame[c].dtype for c in sums})


def _months_by_tier(
    frame: pd.DataFrame, rate: Callable[[pd.DataFrame], pd.Series], sums: Sequence[str]
) -> pd.DataFrame:
    """A rate per month (rows) and tier (columns), with an ``all tiers`` column."""
    grouped = frame.groupby(["month", "tier"], sort=True)[list(sums)].sum().reset_index()
    grouped["value"] = rate(grouped)
    table = grouped.pivot(index="month", columns="tier", values="value")
    table = table[[t for t in tier_order(table.columns) if t in table.columns]]
    overall = frame.groupby("month", sort=True)[list(sums)].sum()
    table["all tiers"] = rate(overall).to_numpy()
    table.columns.name = None
    return table.reset_index()


def _hide_warmup(frame: pd.DataFrame, run: RunFacts) -> tuple[pd.DataFrame, int]:
    """The rows of the measured window, and how many warm-up rows were hidden: rows of a
    month or date before the window's start, and credit vintages flagged ``warmup``."""
    keep = pd.Series(True, index=frame.index)
    if "warmup" in frame.columns:
        keep &= ~frame["warmup"].astype(bool)
    if "month" in frame.columns:
        keep &= frame["month"].astype(str) >= run.start_month
    if "date" in frame.columns:
        keep &= frame["date"].astype(str) >= run.start_date
    return frame[keep.to_numpy()], int((~keep).sum())


def _expiry_waste(frame: pd.DataFrame, run: RunFacts) -> _Preview:
    counts = [
        "granted",
        "purchased",
        "refunded",
        "credits_issued",
        "spent",
        "credits_expired",
        "capped",
        "forfeited",
    ]
    totals = _totals(frame, ["tier"], [*counts, "expired_value_cents"])
    totals["waste_rate"] = _ratio(totals["credits_expired"], totals["credits_issued"])
    lost = totals["credits_expired"] + totals["capped"] + totals["forfeited"]
    totals["lost_rate"] = _ratio(lost, totals["credits_issued"])
    monthly = _months_by_tier(
        frame,
        lambda g: _ratio(g["credits_expired"], g["credits_issued"]),
        ["credits_expired", "credits_issued"],
    )
    body = (
        "<h4>Totals per tier over the measured window</h4>"
        + html_table(totals, run.currency)
        + "<h4>waste_rate per month (rows) and tier</h4>"
        + html_table(monthly, run.currency, percent_columns=monthly.columns[1:])
    )
    return _Preview(
        body, "Totals and monthly waste rates; the file has one row per tier and month."
    )


def _credit_vintages(frame: pd.DataFrame, run: RunFacts) -> _Preview:
    sums = ["issued", "spent", "expired", "capped", "forfeited", "live_at_end"]
    known = frame[frame["live_at_end"] == 0]
    out = _totals(frame, ["tier", "lot_source"], sums)
    out.insert(
        2,
        "vintages",
        frame.groupby(["tier", "lot_source"], sort=False)
        .size()
        .reindex(pd.MultiIndex.from_frame(out[["tier", "lot_source"]]))
        .to_numpy(),
    )
    settled = known.groupby(["tier", "lot_source"], sort=False)[["issued", "expired"]].sum()
    index = pd.MultiIndex.from_frame(out[["tier", "lot_source"]])
    settled = settled.reindex(index)
    out["waste_rate"] = _ratio(settled["expired"], settled["issued"]).to_numpy()
    return _Preview(
        html_table(out, run.currency),
        "Vintages issued in the measured window, summed per tier and lot source; waste_rate "
        "here is expired / issued over the vintages whose credits have all reached their fate "
        "(none live at the end), empty when there are none (purchased credits never expire).",
    )


def _refund_rates(frame: pd.DataFrame, run: RunFacts) -> _Preview:
    table = _months_by_tier(
        frame, lambda g: _ratio(g["settled_refunds"], g["settled"]), ["settled_refunds", "settled"]
    )
    settled = frame.groupby("month", sort=True)["settled"].sum().to_numpy()
    table.insert(1, "settled (all tiers)", settled)
    return _Preview(
        html_table(table, run.currency, percent_columns=table.columns[2:]),
        "refund_rate per month sent (rows) and tier, with the settled paid InMails it divides "
        "by; the categories and length buckets are in the file and the tables below.",
    )


def _utilisation_members(frame: pd.DataFrame, run: RunFacts) -> _Preview:
    bands = [
        ("no grants", None, None),
        ("0 %", 0.0, 0.0),
        ("0-25 %", 0.0, 0.25),
        ("25-50 %", 0.25, 0.5),
        ("50-75 %", 0.5, 0.75),
        ("75-100 %", 0.75, 1.0),
        ("over 100 %", 1.0, math.inf),
    ]
    u = frame["utilisation"].astype(float)
    granted = frame["granted"] > 0

    def band(low: float | None, high: float | None) -> pd.Series:
        if low is None or high is None:
            return ~granted
        if low == high:
            return granted & (u == low)
        return granted & (u > low) & (u <= high)

    rows = []
    for tier in tier_order(frame["tier"]):
        mine = frame["tier"].astype(str) == tier
        row: dict[str, Any] = {"tier": tier, "member-tier pairs": int(mine.sum())}
        for label, low, high in bands:
            row[label] = int((mine & band(low, high)).sum())
        rows.append(row)
    total: dict[str, Any] = {"tier": "all", "member-tier pairs": len(frame)}
    for label, low, high in bands:
        total[label] = int(band(low, high).sum())
    out = pd.DataFrame([*rows, total])
    return _Preview(
        html_table(out, run.currency),
        "How many member-tier pairs reached each utilisation (credits spent / granted in the "
        "window): no grants (basic members), none spent, then bands; the file has one row per "
        "member and tier.",
    )


def _balance_distribution(frame: pd.DataFrame, run: RunFacts) -> _Preview:
    dates = sorted(frame["date"].astype(str).unique())
    firsts = (
        sorted({d for d in dates if d.endswith("-01")} | {dates[0], dates[-1]}) if dates else []
    )
    shown = frame[frame["date"].astype(str).isin(firsts)]
    table = shown.pivot(index="date", columns="tier", values="mean_balance")
    table = table[[t for t in tier_order(table.columns) if t in table.columns]]
    table.columns.name = None
    table = table.reset_index()
    return _Preview(
        html_table(table, run.currency),
        "Mean end-of-day balance (credits per member present) on the window's first day, the "
        "first of each month and its last day; every day, percentiles and maxima are in the file.",
    )


def _purchases_revenue(frame: pd.DataFrame, run: RunFacts) -> _Preview:
    sums = [c for c in frame.columns if c not in ("tier", "month")]
    return _Preview(
        html_table(_totals(frame, ["tier"], sums), run.currency),
        "Totals per tier over the measured window; the file has one row per tier and month.",
    )


def _rejections(frame: pd.DataFrame, run: RunFacts) -> _Preview:
    out = _totals(frame, ["tier", "action", "reason"], ["rejections"])
    return _Preview(
        html_table(out, run.currency),
        "Totals per tier, action and reason over the measured window; the file has them per month.",
    )


_SUMMARISERS: dict[str, _Summariser] = {
    "expiry_waste": _expiry_waste,
    "credit_vintages": _credit_vintages,
    "refund_rates": _refund_rates,
    "utilisation_members": _utilisation_members,
    "balance_distribution": _balance_distribution,
    "purchases_revenue": _purchases_revenue,
    "rejections": _rejections,
}
_PREVIEW_ROWS = 40  # a table with no summariser shows this many rows at most
_PERCENT_COLUMNS = {"utilisation": ("p10", "p25", "p50", "p75", "p90")}


def table_section(name: str, frame: pd.DataFrame, run: RunFacts, ext: str) -> str:
    esc = html.escape
    shown, hidden = _hide_warmup(frame, run)
    parts = [f'<h3 id="{esc(name)}">{esc(TITLES.get(name, name))}</h3>']
    if name in _TABLE_NOTES:
        parts.append(f'<p class="note">{esc(_TABLE_NOTES[name])}</p>')
    if shown.empty:
        preview = _Preview("<p>No rows in the measured window.</p>")
    elif name in _SUMMARISERS:
        preview = _SUMMARISERS[name](shown, run)
    else:
        head = shown.head(_PREVIEW_ROWS)
        more = f"The first {len(head)} of {len(shown)} rows." if len(shown) > len(head) else ""
        preview = _Preview(
            html_table(head, run.currency, percent_columns=_PERCENT_COLUMNS.get(name, ())), more
        )
    link = f"reports/{name}.{ext}"
    said = [preview.note] if preview.note else []
    if hidden:
        said.append(
            f"{count(hidden)} warm-up rows (before {run.start_date}) are hidden here; "
            "the file keeps them."
        )
    said.append(f'Full table ({count(len(frame))} rows): <a href="{esc(link)}">{esc(link)}</a>.')
    parts.append(
        '<p class="note">'
        + " ".join(s if s.startswith("Full table") else esc(s) for s in said)
        + "</p>"
    )
    parts.append(preview.html)
    return "\n".join(parts)
