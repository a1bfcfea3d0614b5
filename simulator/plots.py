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
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import StrMethodFormatter

__all__ = [
    "figure_png",
    "plot_balance_distribution",
    "plot_credit_vintages",
    "plot_expiry_waste",
    "plot_purchases_revenue",
    "plot_refund_rates",
    "plot_replications",
    "plot_response_delays",
    "plot_steady_state",
    "plot_utilisation",
    "save_figure",
    "steady_state_title",
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
# Axis labels of the steady-state series that are not rates (rates are shown in %).
_STEADY_UNITS = {"spend_per_member": "spend_per_member (credits)"}


def plot_credit_vintages(vintages: pd.DataFrame) -> Figure:
    """Where each month's credits went, per lot source: shares spent, expired, ... live at end.

    One panel per lot source with credits issued; one stacked bar per issue
    month (two for the month the measured window starts in), all tiers
    summed, as a percentage of the credits issued. Warm-up bars are hatched
    on a shaded background.
    """
    present = set(pd.unique(vintages["lot_source"].to_numpy())) if len(vintages) else set()
    sources = [s for s in _SOURCES if s in present]
    sources += sorted(str(s) for s in present if s not in _SOURCES)
    fig = _new_figure(size=(11, 2.8 * max(len(sources), 1) + 1))
    axes = np.atleast_1d(fig.subplots(max(len(sources), 1), 1, squeeze=False)).ravel()
    fig.suptitle("Credit vintages: where each month's credits went by the run's end", fontsize=14)
    for ax in axes:
        ax.set_ylabel("share of credits issued (%)")
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xlabel("month of issue (UTC)")
    if not sources:
        _no_data(axes[0])
        return fig
    columns = ["issued", *(name for name, _, _ in _FATES)]
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
        for name, label, colour in _FATES:
            share = 100 * sums[name].to_numpy(dtype=float) / issued
            bars = ax.bar(x, share, 0.8, bottom=bottom, color=colour, label=label, zorder=2)
            for bar, hatched in zip(bars, warmup, strict=True):
                if hatched:
                    bar.set_hatch("//")
                    bar.set_edgecolor("white")
            bottom += share
        ax.set_title(f"{source} lots ({int(issued.sum()):,} credits issued)")
        _month_axis(ax, list(sums["issue_month"]))
        ax.set_xlim(-0.5, len(sums) - 0.5)
    # One legend for every panel, outside them, with plain swatches (bars may be hatched).
    handles = [Patch(facecolor=colour, label=label) for _, label, colour in _FATES]
    if (vintages["warmup"].to_numpy(dtype=bool)).any():
        handles.append(Patch(facecolor=_WARMUP_COLOUR, edgecolor="0.3", hatch="//",
                             label=_WARMUP_LABEL))  # fmt: skip
    fig.legend(handles=handles, fontsize=9, loc="outside right center")
    return fig


def steady_state_title(block: Mapping[str, Any]) -> str:
    """The verdict of ``summary.json``'s ``steady_state`` block, as one line.

    "measured window steady: MSER truncation N weeks <= threshold T";
    "NOT steady: suggested warm-up X days (...)", saying whether the
    truncation exceeded the threshold or hit the cap (``capped``, else a
    truncation at ``cap_weeks``); or, when ``steady`` is null (too few weeks
    with data for MSER), that no verdict was reached.
    """
    cut = block.get("suggested_truncation_weeks")
    threshold, cap = block.get("threshold_weeks"), block.get("cap_weeks")
    steady = block.get("steady")
    if steady is None or cut is None:
        return "steadiness not known: too few weeks with data for MSER"
    if steady:
        return f"measured window steady: MSER truncation {cut} weeks <= threshold {threshold}"
    title = f"NOT steady: suggested warm-up {block.get('suggested_warmup_days')} days"
    capped = block.get("capped")
    if capped is None:
        capped = isinstance(cap, int) and isinstance(cut, int) and cut >= cap
    if capped:
        return title + f" (an MSER truncation hit the cap of {cap} weeks: needs a longer warm-up)"
    return title + f" (MSER truncation {cut} weeks > threshold {threshold})"


def plot_steady_state(block: Mapping[str, Any]) -> Figure:
    """The weekly series of the steady-state check, with the MSER truncation shaded.

    ``block`` is ``summary.json``'s ``steady_state``: ``week_start`` (dates),
    ``series`` (name -> weekly values, None for a week without data),
    ``truncation_weeks`` per series, ``suggested_truncation_weeks`` (the
    largest; shaded from the first week to the first week kept),
    ``threshold_weeks``, ``cap_weeks``, ``steady`` and
    ``suggested_warmup_days``. Truncations may be null (too few weeks with
    data). One panel per series, two per row; rates are shown in percent.
    """
    weeks = pd.to_datetime(pd.Series(list(block.get("week_start") or []), dtype=object))
    series: Mapping[str, Any] = block.get("series") or {}
    per_series: Mapping[str, Any] = block.get("truncation_weeks") or {}
    cut = block.get("suggested_truncation_weeks")
    names = list(series)
    ncols = 2 if len(names) > 1 else 1
    nrows = max(1, -(-len(names) // ncols))
    fig = _new_figure(size=(11, 3.0 * nrows + 1))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    fig.suptitle(steady_state_title(block), fontsize=12)
    if not names or weeks.empty:
        _no_data(axes[0])
        for ax in axes[1:]:
            ax.set_visible(False)
        return fig
    dates = weeks.to_numpy()
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes, names, strict=False):
        if isinstance(cut, int):
            # The dropped weeks: from the first week's start to the first kept week's.
            end = dates[cut] if cut < len(dates) else dates[-1] + np.timedelta64(7, "D")
            ax.axvspan(dates[0], end, color="tab:orange", alpha=0.2, zorder=0,
                       label=f"MSER truncation: {cut} weeks")  # fmt: skip
        raw = [math.nan if v is None else float(v) for v in series[name]][: len(dates)]
        values = np.asarray(raw, dtype=float)
        is_rate = name.endswith(("_rate", "_share"))
        ax.plot(dates[: len(values)], 100 * values if is_rate else values, marker="o",
                markersize=3, color="tab:blue", label="weekly value")  # fmt: skip
        own = per_series.get(name)
        own_text = "too few weeks with data" if own is None else f"MSER truncation {own} weeks"
        ax.set_title(f"{name} ({own_text})", fontsize=10)
        ax.set_ylabel(f"{name} (%)" if is_rate else _STEADY_UNITS.get(name, name), fontsize=9)
        ax.set_xlabel("week starting (UTC)")
        ax.grid(alpha=0.3)
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    # Below the panels: the verdict above them may be a long line.
    fig.legend(*axes[0].get_legend_handles_labels(), fontsize=9, ncols=2,
               loc="outside lower center")  # fmt: skip
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
