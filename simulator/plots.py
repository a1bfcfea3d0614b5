"""Plots: matplotlib figures drawn from the report frames of :mod:`simulator.reports`.

Job: one function per chart, each taking a report DataFrame (with the columns
that report documents) and returning a titled :class:`matplotlib.figure.Figure`
whose axes are labelled with their units. Empty frames give a figure that
says "no data" rather than an error.

Boundary: no computation beyond presentation (cents -> currency units,
fractions -> percent), no reading of run tables, no files except through
:func:`save_figure`. Figures are built without ``pyplot``: they sit in no
global registry, so nothing has to be closed and nothing leaks across runs or
threads, and they are rendered by the Agg canvas whatever backend a notebook
has chosen. Jupyter still displays a returned Figure inline.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

__all__ = [
    "figure_png",
    "plot_balance_distribution",
    "plot_expiry_waste",
    "plot_purchases_revenue",
    "plot_refund_rates",
    "plot_replications",
    "plot_response_delays",
    "plot_utilisation",
    "save_figure",
]

_TIER_ORDER = ("basic", "premium_career", "premium_business", "sales_navigator", "recruiter_lite")
_DPI = 100
_THOUSANDS = StrMethodFormatter("{x:,.0f}")


def _new_figure(size: tuple[float, float] = (11, 5)) -> Figure:
    fig = Figure(figsize=size, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _tiers(frame: pd.DataFrame) -> list[str]:
    seen = [t for t in pd.unique(frame["tier"].to_numpy()) if t != "all"]
    return [t for t in _TIER_ORDER if t in seen] + sorted(t for t in seen if t not in _TIER_ORDER)


def _no_data(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def _month_axis(ax, months: Sequence[str]) -> None:
    step = max(1, len(months) // 12)
    ax.set_xticks(range(0, len(months), step))
    ax.set_xticklabels(list(months)[::step], rotation=45, ha="right")


def plot_expiry_waste(expiry: pd.DataFrame) -> Figure:
    """Credits expired per month and the waste rate (expired / issued, %) by tier."""
    fig = _new_figure()
    left, right = fig.subplots(1, 2)
    fig.suptitle("Expiry waste by tier", fontsize=14)
    months = sorted(pd.unique(expiry["month"].to_numpy())) if len(expiry) else []
    x = np.arange(len(months))
    for tier in _tiers(expiry) if len(expiry) else []:
        sub = expiry[expiry["tier"] == tier].set_index("month").reindex(months)
        left.plot(x, sub["credits_expired"].fillna(0), marker="o", label=tier)
        right.plot(x, 100 * sub["waste_rate"], marker="o", label=tier)
    left.set_title("Credits expired")
    left.set_ylabel("credits expired per month")
    left.yaxis.set_major_formatter(_THOUSANDS)
    right.set_title("Waste rate (credits expired / credits issued)")
    right.set_ylabel("waste rate (%)")
    for ax in (left, right):
        ax.set_xlabel("calendar month (UTC)")
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
        if months:
            _month_axis(ax, months)
        else:
            _no_data(ax)
    if months:
        # One legend for both panels, outside them, so it hides no line.
        fig.legend(*left.get_legend_handles_labels(), title="tier", fontsize=9,
                   loc="outside right upper")  # fmt: skip
    return fig


def plot_refund_rates(by_tier_category: pd.DataFrame) -> Figure:
    """Refund rate of settled paid InMails (%) per category, one bar per tier."""
    fig = _new_figure(size=(11, 6))
    ax = fig.subplots()
    ax.set_title("Refund rate by tier and category (settled paid InMails)", fontsize=14)
    ax.set_xlabel("refund rate (% of settled paid InMails)")
    ax.set_ylabel("InMail category")
    frame = by_tier_category[by_tier_category["settled"] > 0]
    if frame.empty:
        _no_data(ax)
        return fig
    categories = sorted(pd.unique(frame["category"].to_numpy()))
    tiers = _tiers(frame)
    height = 0.8 / len(tiers)
    y = np.arange(len(categories))
    for i, tier in enumerate(tiers):
        sub = frame[frame["tier"] == tier].set_index("category").reindex(categories)
        ax.barh(
            y + (i - (len(tiers) - 1) / 2) * height, 100 * sub["refund_rate"], height, label=tier
        )
    ax.set_yticks(y)
    ax.set_yticklabels(categories)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.grid(axis="x", alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), title="tier", fontsize=9,
               loc="outside right upper")  # fmt: skip
    return fig


def plot_balance_distribution(balances: pd.DataFrame) -> Figure:
    """End-of-day balances: percentile fan over all members, and the median per tier."""
    fig = _new_figure()
    left, right = fig.subplots(1, 2, sharey=True)
    fig.suptitle("End-of-day credit balance over time", fontsize=14)
    left.set_title("All members: median, 25-75 % and 10-90 % bands")
    right.set_title("Median and mean by tier")
    for ax in (left, right):
        ax.set_xlabel("date (UTC)")
        ax.grid(alpha=0.3)
    left.set_ylabel("credits held at end of day")
    if balances.empty:
        _no_data(left)
        _no_data(right)
        return fig
    every = balances[balances["tier"] == "all"]
    dates = pd.to_datetime(every["date"]).to_numpy()
    left.fill_between(dates, every["p10"], every["p90"], alpha=0.2, step="post", label="10-90 %")
    left.fill_between(dates, every["p25"], every["p75"], alpha=0.4, step="post", label="25-75 %")
    left.step(dates, every["p50"], where="post", color="black", label="median")
    left.plot(dates, every["mean_balance"], linestyle="--", color="tab:red", label="mean")
    left.legend(fontsize=9)
    for tier in _tiers(balances):
        sub = balances[balances["tier"] == tier]
        d = pd.to_datetime(sub["date"]).to_numpy()
        line = right.step(d, sub["p50"], where="post", label=f"{tier} median")[0]
        right.plot(d, sub["mean_balance"], linestyle="--", color=line.get_color(), alpha=0.7)
    right.legend(fontsize=8, title="tier (dashed: mean)")
    for ax in (left, right):
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.set_ylim(bottom=0)
    return fig


def plot_response_delays(delays: pd.DataFrame, window_days: float | None) -> Figure:
    """Histogram of response delays of paid InMails, with the refund window marked."""
    fig = _new_figure(size=(10, 5))
    ax = fig.subplots()
    title = "Response delay of paid InMails"
    if window_days:
        title += f" against the {window_days:g}-day refund window"
    ax.set_title(title, fontsize=14)
    ax.set_xlabel("days from sending to response")
    ax.set_ylabel("paid InMails responded (per bin)")
    ax.grid(axis="y", alpha=0.3)
    if delays.empty or delays["responses"].sum() == 0:
        _no_data(ax)
        return fig
    starts = delays["bin_start_days"].to_numpy(dtype=float)
    ends = delays["bin_end_days"].to_numpy(dtype=float)
    width = np.where(
        np.isinf(ends), np.diff(starts).min() if len(starts) > 1 else 1.0, ends - starts
    )
    within = delays["within_window"].to_numpy(dtype=bool)
    counts = delays["responses"].to_numpy()
    ax.bar(
        starts[within],
        counts[within],
        width[within],
        align="edge",
        color="tab:blue",
        edgecolor="white",
        label="within the window (no refund)",
    )
    ax.bar(
        starts[~within],
        counts[~within],
        width[~within],
        align="edge",
        color="tab:orange",
        edgecolor="white",
        label="after the window",
    )
    if np.isinf(ends[-1]):
        ax.annotate(
            f"> {starts[-1]:g} d",
            (starts[-1] + width[-1] / 2, counts[-1]),
            ha="center",
            va="bottom",
            fontsize=9,
        )
    if window_days:
        ax.axvline(
            window_days,
            color="black",
            linestyle="--",
            label=f"refund window ({window_days:g} days)",
        )
    ax.legend()
    return fig


def plot_purchases_revenue(purchases: pd.DataFrame, currency: str = "USD") -> Figure:
    """Credits bought per month by tier, and revenue per month (purchases vs subscriptions)."""
    fig = _new_figure()
    left, right = fig.subplots(1, 2)
    fig.suptitle("Purchases and revenue", fontsize=14)
    left.set_title("Credits bought, by tier")
    left.set_ylabel("credits bought per month")
    right.set_title("Revenue")
    right.set_ylabel(f"revenue per month ({currency})")
    for ax in (left, right):
        ax.set_xlabel("calendar month (UTC)")
        ax.grid(axis="y", alpha=0.3)
    if purchases.empty:
        _no_data(left)
        _no_data(right)
        return fig
    months = sorted(pd.unique(purchases["month"].to_numpy()))
    x = np.arange(len(months))
    bottom = np.zeros(len(months))
    for tier in _tiers(purchases):
        sub = purchases[purchases["tier"] == tier].set_index("month").reindex(months)
        values = sub["credits_bought"].fillna(0).to_numpy(dtype=float)
        left.bar(x, values, bottom=bottom, label=tier)
        bottom += values
    by_month = (
        purchases.groupby("month")[["purchase_revenue_cents", "subscription_revenue_cents"]]
        .sum()
        .reindex(months)
    )
    buy = by_month["purchase_revenue_cents"].to_numpy() / 100
    sub_rev = by_month["subscription_revenue_cents"].to_numpy() / 100
    right.bar(x, sub_rev, label="subscriptions", color="tab:gray")
    right.bar(x, buy, bottom=sub_rev, label="credit purchases", color="tab:green")
    for ax in (left, right):
        _month_axis(ax, months)
        ax.legend(fontsize=9)
        ax.yaxis.set_major_formatter(_THOUSANDS)
    return fig


def plot_utilisation(util: pd.DataFrame) -> Figure:
    """Per-member utilisation percentiles by tier (box: 25-75 %, whiskers: 10-90 %)."""
    fig = _new_figure()
    left, right = fig.subplots(1, 2, width_ratios=[2, 1])
    fig.suptitle("Credit utilisation per member", fontsize=14)
    left.set_title("Credits spent / credits granted (members with grants)")
    left.set_ylabel("utilisation (spent / granted)")
    left.set_xlabel("tier")
    right.set_title("Members who never sent")
    right.set_ylabel("share of members (%)")
    right.set_xlabel("tier")
    for ax in (left, right):
        ax.grid(axis="y", alpha=0.3)
    stats = [
        {
            "label": row.tier,
            "med": row.p50,
            "q1": row.p25,
            "q3": row.p75,
            "whislo": row.p10,
            "whishi": row.p90,
            "mean": row.mean_utilisation,
            "fliers": [],
        }
        for row in util.itertuples(index=False)
        if row.members_with_grants > 0
    ]
    if stats:
        median = {"color": "tab:orange", "linewidth": 1.5}
        mean = {"color": "tab:green", "linestyle": "--", "linewidth": 1.5}
        left.bxp(stats, showmeans=True, meanline=True, medianprops=median, meanprops=mean)
        left.axhline(1.0, color="grey", linestyle=":", label="spent = granted")
        left.plot([], [], label="median", **median)  # legend entries for the box lines
        left.plot([], [], label="mean", **mean)
        left.set_ylim(bottom=0)
        left.legend(fontsize=9)
    else:
        _no_data(left)
    if util.empty:
        _no_data(right)
    else:
        bars = right.bar(util["tier"], 100 * util["never_send_share"], color="tab:purple")
        right.bar_label(bars, fmt="%.0f %%", fontsize=9)
        right.set_ylim(0, 105)
        right.tick_params(axis="x", labelrotation=30)
    return fig


def plot_replications(reps: pd.DataFrame, max_metrics: int = 24) -> Figure:
    """Each metric's mean over replications with its 95 % t-interval, one panel per metric."""
    frame = reps.head(max_metrics)
    n = max(len(frame), 1)
    ncols = min(4, n)
    nrows = -(-n // ncols)
    fig = _new_figure(size=(3.2 * ncols, 2.4 * nrows + 0.8))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    runs = int(frame["n"].max()) if len(frame) else 0
    fig.suptitle(f"Metrics over {runs} replications: mean and 95 % t-interval", fontsize=14)
    if frame.empty:
        _no_data(axes[0])
    for ax, row in zip(axes, frame.itertuples(index=False), strict=False):
        has_ci = np.isfinite(row.ci_low) and np.isfinite(row.ci_high)
        err = [[row.mean - row.ci_low], [row.ci_high - row.mean]] if has_ci else None
        ax.errorbar([0], [row.mean], yerr=err, fmt="o", capsize=8, color="tab:blue")
        if has_ci:
            ax.text(
                0.03,
                0.03,
                f"{row.mean:.4g} ± {(row.ci_high - row.ci_low) / 2:.2g}",
                transform=ax.transAxes,
                fontsize=8,
                color="dimgray",
            )
        ax.set_title(row.metric, fontsize=10)
        ax.set_ylabel(_metric_unit(row.metric), fontsize=9)
        ax.set_xticks([])
        ax.set_xlabel(f"n = {row.n}", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    for ax in axes[len(frame) :]:
        ax.set_visible(False)
    return fig


def _metric_unit(metric: str) -> str:
    if metric.endswith("_cents"):
        return "cents"
    if metric.endswith(("_rate", "_share")):
        return "fraction"
    if metric.startswith(("credits", "refunds")):
        return "credits"
    if metric.startswith("inmails"):
        return "InMails"
    return "value"


def figure_png(fig: Figure, dpi: int = _DPI) -> bytes:
    """Render a figure to PNG bytes with the Agg canvas."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Write a figure as PNG, atomically (a temporary name, then ``os.replace``)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(figure_png(fig))
    os.replace(tmp, path)
    return path
