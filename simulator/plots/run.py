"""The report figures of one run: expiry, refunds, balances, delays, revenue, utilisation, vintages.

Job: one function per chart of a run's report (``plots/<name>.png``), each
taking the report DataFrame of :mod:`simulator.reports` with the columns that
report documents and returning a titled Figure in the house style of
:mod:`simulator.plots.style`. Empty frames give a figure that says "no data".

Boundary: presentation only (cents -> currency units, fractions -> percent,
the Wilson interval of a drawn proportion); no files, no run tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from simulator.plots.style import (
    HEADROOM,
    date_axis,
    day_dates,
    figure_legend,
    month_axis,
    new_figure,
    no_data,
    ordered_tiers,
    plain_axis,
    set_headroom,
    tier_colour,
)
from simulator.stats import wilson_interval

__all__ = [
    "plot_balance_distribution",
    "plot_credit_vintages",
    "plot_expiry_waste",
    "plot_purchases_revenue",
    "plot_refund_rates",
    "plot_response_delays",
    "plot_utilisation",
]


def plot_expiry_waste(expiry: pd.DataFrame) -> Figure:
    """Credits expired per month and the waste rate (expired / issued, %) by tier.

    Tiers with no credits issued or expired in any month are left out.
    """
    fig = new_figure()
    left, right = fig.subplots(1, 2)
    fig.suptitle("Expiry waste by tier", fontsize=14)
    months = sorted(pd.unique(expiry["month"].to_numpy())) if len(expiry) else []
    x = np.arange(len(months))
    handles = []
    top_left = top_right = 0.0
    for tier in ordered_tiers(expiry) if len(expiry) else []:
        sub = expiry[expiry["tier"] == tier].set_index("month").reindex(months)
        expired = sub["credits_expired"].fillna(0).to_numpy(dtype=float)
        issued = sub["credits_issued"].fillna(0).to_numpy(dtype=float)
        if not (expired.any() or issued.any()):
            continue
        rate = 100 * sub["waste_rate"].to_numpy(dtype=float)
        colour = tier_colour(tier)
        handles.append(left.plot(x, expired, marker="o", label=tier, color=colour)[0])
        right.plot(x, rate, marker="o", label=tier, color=colour)
        top_left = max(top_left, float(expired.max()))
        top_right = max(top_right, float(np.nanmax(rate, initial=0.0)))
    left.set_title("Credits expired")
    left.set_ylabel("credits expired per month")
    right.set_title("Waste rate (credits expired / credits issued)")
    right.set_ylabel("waste rate (% of the month's credits issued)")
    for ax, top in ((left, top_left), (right, top_right)):
        ax.set_xlabel("calendar month (UTC)")
        ax.grid(alpha=0.3)
        plain_axis(ax)
        set_headroom(ax, top if top > 0 else 1.0, bottom=0)
        if months:
            month_axis(ax, months)
        else:
            no_data(ax)
    # One legend for both panels, outside them, so it hides no line.
    figure_legend(fig, handles, "tier", "outside right upper")
    return fig


def plot_refund_rates(by_tier_category: pd.DataFrame) -> Figure:
    """Refund rate of settled paid InMails (%) per category, one bar per tier with data.

    Each bar carries its 95 % Wilson score interval (:func:`simulator.stats.wilson_interval`)
    as a whisker and its sample size ``n`` (settled paid InMails, the
    denominator of the rate) as a label. Rows with no settled InMails are
    left out, and so are tiers with no such rows.
    """
    frame = by_tier_category[by_tier_category["settled"] > 0]
    categories = sorted(pd.unique(frame["category"].to_numpy())) if len(frame) else []
    fig = new_figure(size=(11, max(6.0, 1.8 + 0.22 * len(frame) + 0.15 * len(categories))))
    ax = fig.subplots()
    fig.suptitle("Refund rate by tier and category (settled paid InMails)", fontsize=14)
    ax.set_title(
        "bars: refund rate; whiskers: 95 % Wilson score interval; n: settled paid InMails counted",
        fontsize=9,
    )
    ax.set_xlabel("refund rate (% of settled paid InMails)")
    ax.set_ylabel("InMail category")
    if frame.empty:
        no_data(ax)
        return fig
    tiers = ordered_tiers(frame)
    height = 0.8 / len(tiers)
    where = {category: i for i, category in enumerate(categories)}
    handles = []
    for i, tier in enumerate(tiers):
        sub = frame[frame["tier"] == tier]
        y = sub["category"].map(where).to_numpy(dtype=float) + (i - (len(tiers) - 1) / 2) * height
        rate = sub["refund_rate"].to_numpy(dtype=float)
        n = sub["settled"].to_numpy(dtype=float)
        low, high = wilson_interval(rate, n)
        colour = tier_colour(tier)
        handles.append(ax.barh(y, 100 * rate, height, color=colour, label=tier))
        ax.errorbar(100 * rate, y, xerr=[100 * (rate - low), 100 * (high - rate)], fmt="none",
                    ecolor="black", elinewidth=1, capsize=2, label="_interval")  # fmt: skip
        for yi, lo, hi, ni in zip(y, low, high, n, strict=True):
            # At the bar's foot when there is room before the whisker (or none after it),
            # else just right of the whisker.
            inside = 100 * lo >= 14 or 100 * hi > 85
            white = inside and 100 * lo >= 14
            ax.text(1 if inside else 100 * hi + 1, yi, f"n = {int(ni):,}", va="center",
                    ha="left", fontsize=7, color="white" if white else "black")  # fmt: skip
    ax.set_yticks(np.arange(len(categories)))
    ax.set_yticklabels(categories)
    ax.set_ylim(len(categories) - 0.5, -0.5)  # first category on top
    # A whisker may reach 100 %: the axis ends past it, the ticks at it.
    ax.set_xlim(0, 100 * (1 + HEADROOM / 2))
    ax.set_xticks(range(0, 101, 20))
    plain_axis(ax, "x")
    ax.grid(axis="x", alpha=0.3)
    figure_legend(fig, handles, "tier", "outside right upper")
    return fig


def plot_balance_distribution(balances: pd.DataFrame) -> Figure:
    """End-of-day balances: percentile fan over all members, and the median per tier."""
    fig = new_figure()
    left, right = fig.subplots(1, 2, sharey=True)
    fig.suptitle("End-of-day credit balance over time", fontsize=14)
    left.set_title("All members: median, 25-75 % and 10-90 % bands")
    right.set_title("Median (solid) and mean (dashed) by tier")
    for ax in (left, right):
        ax.set_xlabel("date (UTC)")
        ax.set_ylabel("credits held at end of day")
        ax.grid(alpha=0.3)
        plain_axis(ax)
    right.yaxis.set_tick_params(labelleft=True)
    if balances.empty:
        no_data(left)
        no_data(right)
        return fig
    top = 0.0
    fan = []
    every = balances[balances["tier"] == "all"]
    if len(every):
        dates = day_dates(every["date"])
        fan = [
            left.fill_between(dates, every["p10"], every["p90"], alpha=0.2, step="post",
                              color="tab:blue", label="10-90 % of members"),
            left.fill_between(dates, every["p25"], every["p75"], alpha=0.4, step="post",
                              color="tab:orange", label="25-75 % of members"),
            left.step(dates, every["p50"], where="post", color="black", label="median")[0],
            left.plot(dates, every["mean_balance"], linestyle="--", color="tab:red",
                      label="mean")[0],
        ]  # fmt: skip
        top = max(top, float(every[["p90", "mean_balance"]].max().max()))
    else:
        no_data(left)
    tiers = []
    for tier in ordered_tiers(balances):
        sub = balances[balances["tier"] == tier]
        d = day_dates(sub["date"])
        colour = tier_colour(tier)
        right.step(d, sub["p50"], where="post", color=colour, label=f"{tier} median")
        right.plot(d, sub["mean_balance"], linestyle="--", color=colour, alpha=0.7,
                   label=f"_{tier} mean")  # fmt: skip
        tiers.append(Line2D([], [], color=colour, label=tier))
        top = max(top, float(sub[["p50", "mean_balance"]].max().max()))
    if not tiers:
        no_data(right)
    for ax in (left, right):
        date_axis(ax)
    set_headroom(left, top if top > 0 else 1.0, bottom=0)
    # Outside the panels, right of them: the tiers above, the fan's key below.
    figure_legend(fig, tiers, "tier (right panel)", "outside right upper")
    figure_legend(fig, fan, "all members (left panel)", "outside right lower")
    return fig


def plot_response_delays(delays: pd.DataFrame, window_days: float | None) -> Figure:
    """Histogram of response delays of paid InMails, with the refund window marked."""
    fig = new_figure(size=(10, 5))
    ax = fig.subplots()
    title = "Response delay of paid InMails"
    if window_days:
        title += f" against the {window_days:g}-day refund window"
    ax.set_title(title, fontsize=14)
    ax.set_xlabel("days from sending to response")
    ax.set_ylabel("paid InMails responded (per bin)")
    ax.grid(axis="y", alpha=0.3)
    plain_axis(ax)
    if delays.empty or delays["responses"].sum() == 0:
        no_data(ax)
        return fig
    starts = delays["bin_start_days"].to_numpy(dtype=float)
    ends = delays["bin_end_days"].to_numpy(dtype=float)
    width = np.where(
        np.isinf(ends), np.diff(starts).min() if len(starts) > 1 else 1.0, ends - starts
    )
    within = delays["within_window"].to_numpy(dtype=bool)
    counts = delays["responses"].to_numpy()
    handles: list[Any] = []
    for part, colour, label in (
        (within, "tab:blue", "within the window (no refund)"),
        (~within, "tab:orange", "after the window"),
    ):
        if counts[part].sum() > 0:
            handles.append(ax.bar(starts[part], counts[part], width[part], align="edge",
                                  color=colour, edgecolor="white", label=label))  # fmt: skip
    if np.isinf(ends[-1]) and counts[-1] > 0:
        ax.annotate(
            f"> {starts[-1]:g} d",
            (starts[-1] + width[-1] / 2, counts[-1]),
            ha="center",
            va="bottom",
            fontsize=9,
        )
    if window_days:
        handles.insert(0, ax.axvline(window_days, color="black", linestyle="--",
                                     label=f"refund window ({window_days:g} days)"))  # fmt: skip
    # A little more room than elsewhere: the open last bin's label sits on its bar.
    ax.set_ylim(0, float(counts.max()) * (1 + 1.5 * HEADROOM))
    figure_legend(fig, handles, None, "outside right upper")
    return fig


def plot_purchases_revenue(purchases: pd.DataFrame, currency: str = "USD") -> Figure:
    """Credits bought per month by tier, and revenue per month (purchases vs subscriptions).

    Only tiers that bought credits appear (bars and legend); revenue is in
    ``currency`` units (the frames hold cents).
    """
    fig = new_figure()
    left, right = fig.subplots(1, 2)
    fig.suptitle("Purchases and revenue", fontsize=14)
    left.set_title("Credits bought, by tier")
    left.set_ylabel("credits bought per month")
    right.set_title("Revenue")
    right.set_ylabel(f"revenue per month ({currency})")
    for ax in (left, right):
        ax.set_xlabel("calendar month (UTC)")
        ax.grid(axis="y", alpha=0.3)
        plain_axis(ax)
    if purchases.empty:
        no_data(left)
        no_data(right)
        return fig
    months = sorted(pd.unique(purchases["month"].to_numpy()))
    x = np.arange(len(months))
    bottom = np.zeros(len(months))
    tiers = []
    for tier in ordered_tiers(purchases):
        sub = purchases[purchases["tier"] == tier].set_index("month").reindex(months)
        values = sub["credits_bought"].fillna(0).to_numpy(dtype=float)
        if not values.any():
            continue  # bought nothing: no bars, no legend entry
        tiers.append(left.bar(x, values, bottom=bottom, label=tier, color=tier_colour(tier)))
        bottom += values
    if tiers:
        set_headroom(left, float(bottom.max()), bottom=0)
    else:
        no_data(left, "no credits bought")
        left.set_ylim(0, 1)
    by_month = (
        purchases.groupby("month")[["purchase_revenue_cents", "subscription_revenue_cents"]]
        .sum()
        .reindex(months)
        .fillna(0)
    )
    buy = by_month["purchase_revenue_cents"].to_numpy(dtype=float) / 100
    sub_rev = by_month["subscription_revenue_cents"].to_numpy(dtype=float) / 100
    revenue = []
    if sub_rev.any():
        label = f"subscriptions ({sub_rev.sum():,.2f})"
        revenue.append(right.bar(x, sub_rev, color="tab:gray", label=label))
    if buy.any():
        label = f"credit purchases ({buy.sum():,.2f})"
        revenue.append(right.bar(x, buy, bottom=sub_rev, color="tab:green", label=label))
    if revenue:
        set_headroom(right, float((sub_rev + buy).max()), bottom=0)
    else:
        no_data(right, "no revenue")
        right.set_ylim(0, 1)
    for ax in (left, right):
        month_axis(ax, months)
    figure_legend(fig, tiers, "credits bought: tier", "outside right upper")
    figure_legend(fig, revenue, f"revenue (total, {currency})", "outside right lower")
    return fig


def plot_utilisation(util: pd.DataFrame) -> Figure:
    """Per-member utilisation percentiles by tier (box: 25-75 %, whiskers: 10-90 %), in %."""
    fig = new_figure()
    left, right = fig.subplots(1, 2, width_ratios=[2, 1])
    fig.suptitle("Credit utilisation per member", fontsize=14)
    left.set_title("Credits spent / credits granted (members with grants)")
    left.set_ylabel("utilisation (% of credits granted spent)")
    left.set_xlabel("tier")
    right.set_title("Members who never sent")
    right.set_ylabel("share of the tier's members (%)")
    right.set_xlabel("tier")
    for ax in (left, right):
        ax.grid(axis="y", alpha=0.3)
        plain_axis(ax)
    rows = [row for row in util.itertuples(index=False) if row.members_with_grants > 0]
    stats = [
        {
            "label": row.tier,
            "med": 100 * row.p50,
            "q1": 100 * row.p25,
            "q3": 100 * row.p75,
            "whislo": 100 * row.p10,
            "whishi": 100 * row.p90,
            "mean": 100 * row.mean_utilisation,
            "fliers": [],
        }
        for row in rows
    ]
    handles: list[Artist] = []
    if stats:
        median: dict[str, Any] = {"color": "tab:orange", "linewidth": 1.5}
        mean: dict[str, Any] = {"color": "tab:green", "linestyle": "--", "linewidth": 1.5}
        left.bxp(stats, showmeans=True, meanline=True, medianprops=median, meanprops=mean)
        left.tick_params(axis="x", labelrotation=15)
        line = left.axhline(100.0, color="grey", linestyle=":", label="spent = granted (100 %)")
        handles = [
            Patch(facecolor="none", edgecolor="black", label="box: 25-75 %, whiskers: 10-90 %"),
            Line2D([], [], label="median", **median),
            Line2D([], [], label="mean", **mean),
            line,
        ]
        top = max(100.0, *(max(s["whishi"], s["mean"]) for s in stats))
        set_headroom(left, top, bottom=0)
    else:
        no_data(left)
    shown = util[util["members"] > 0] if len(util) else util
    if shown.empty:
        no_data(right)
    else:
        shares = 100 * shown["never_send_share"].to_numpy(dtype=float)
        x = np.arange(len(shown))
        bars = right.bar(x, shares, color="tab:purple")
        right.set_xticks(x, list(shown["tier"]), rotation=35, ha="right")
        right.bar_label(bars, fmt="%.0f %%", fontsize=9)
        # The labels sit on the bars: twice the usual headroom.
        right.set_ylim(0, max(float(np.nanmax(shares, initial=0.0)), 1.0) * (1 + 2 * HEADROOM))
    figure_legend(fig, handles, "left panel", "outside right upper")
    return fig


_SOURCES = ("grant", "purchase", "refund")
# Where credits went, bottom to top: column of credit_vintages, legend label, colour.
_FATES = (
    ("spent", "spent", "tab:blue"),
    ("expired", "expired", "tab:red"),
    ("capped", "capped", "tab:orange"),
    ("forfeited", "forfeited", "tab:purple"),
    ("live_at_end", "live at end", "0.75"),
)
_WARMUP_LABEL = "warm-up (issued before the measured window)"
_WARMUP_COLOUR = "#fff1b8"


def plot_credit_vintages(vintages: pd.DataFrame) -> Figure:
    """Where each month's credits went, per lot source: shares spent, expired, ... live at end.

    One panel per lot source with credits issued; one stacked bar per issue
    month (two for the month the measured window starts in), all tiers
    summed, as a percentage of the credits issued. Warm-up bars are hatched
    on a shaded background. Fates that no credit met (all zero) are neither
    drawn nor in the legend.
    """
    vintages = vintages[vintages["issued"] > 0] if len(vintages) else vintages
    present = set(pd.unique(vintages["lot_source"].to_numpy())) if len(vintages) else set()
    sources = [s for s in _SOURCES if s in present]
    sources += sorted(str(s) for s in present if s not in _SOURCES)
    fig = new_figure(size=(11, 2.8 * max(len(sources), 1) + 1))
    axes = np.atleast_1d(fig.subplots(max(len(sources), 1), 1, squeeze=False)).ravel()
    fig.suptitle("Credit vintages: where each month's credits went by the run's end", fontsize=14)
    for ax in axes:
        ax.set_ylabel("share of credits issued (%)")
        # Every bar stacks to 100 %: the axis ends above it, the ticks at it.
        ax.set_ylim(0, 100 * (1 + HEADROOM / 2))
        ax.set_yticks(range(0, 101, 20))
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xlabel("month of issue (UTC)")
    if not sources:
        no_data(axes[0])
        return fig
    fates = [fate for fate in _FATES if vintages[fate[0]].to_numpy(dtype=float).any()]
    columns = ["issued", *(name for name, _, _ in fates)]
    for ax, source in zip(axes, sources, strict=True):
        sums = (
            vintages[vintages["lot_source"] == source]
            .groupby(["issue_month", "warmup"])[columns]
            .sum()
            .reset_index()
        )
        # In issue order: a month's warm-up part comes before its measured part.
        sums = sums.sort_values(["issue_month", "warmup"], ascending=[True, False])
        issued = sums["issued"].to_numpy(dtype=float)
        warmup = sums["warmup"].to_numpy(dtype=bool)
        x = np.arange(len(sums))
        if warmup.any():
            ax.axvspan(-0.5, np.flatnonzero(warmup).max() + 0.5, color=_WARMUP_COLOUR, zorder=0)
        bottom = np.zeros(len(sums))
        for name, label, colour in fates:
            share = 100 * sums[name].to_numpy(dtype=float) / issued
            bars = ax.bar(x, share, 0.8, bottom=bottom, color=colour, label=label, zorder=2)
            for bar, hatched in zip(bars, warmup, strict=True):
                if hatched:
                    bar.set_hatch("//")
                    bar.set_edgecolor("white")
            bottom += share
        ax.set_title(f"{source} lots ({int(issued.sum()):,} credits issued)")
        month_axis(ax, list(sums["issue_month"]))
        ax.set_xlim(-0.5, len(sums) - 0.5)
    # One legend for every panel, outside them, with plain swatches (bars may be hatched).
    handles = [Patch(facecolor=colour, label=label) for _, label, colour in fates]
    if (vintages["warmup"].to_numpy(dtype=bool)).any():
        handles.append(Patch(facecolor=_WARMUP_COLOUR, edgecolor="0.3", hatch="//",
                             label=_WARMUP_LABEL))  # fmt: skip
    figure_legend(fig, handles, None, "outside right center")
    return fig
