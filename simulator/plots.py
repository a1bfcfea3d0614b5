"""Plots: matplotlib figures drawn from the report frames of :mod:`simulator.reports`.

Job: one function per chart, each taking a report DataFrame (with the columns
that report documents) and returning a titled :class:`matplotlib.figure.Figure`
whose axes are labelled with their units. Empty frames give a figure that
says "no data" rather than an error.

House rules, kept by every figure (tests/unit/test_plots_layout.py checks them):

* legends sit outside the axes (figure legends right of or below the
  panels, placed by the constrained layout), so they hide no data;
* a legend lists only the series that have data (a tier that bought nothing
  is not in the purchases legend, a fate no credit met is not in the
  vintages legend);
* every value axis has headroom: its upper limit lies above the tallest bar,
  line or interval, which never touches the frame;
* every value axis has a label with its unit; money is in currency units,
  rates in percent;
* tick labels are plain numbers with thousands separators (no ``1e6`` offset
  or ``e+`` notation), with as many decimals as the tick step needs;
* rates of counted events carry their sample sizes and 95 % intervals
  (the Wilson score interval, :func:`simulator.stats.wilson_interval`).

Boundary: no computation beyond presentation (cents -> currency units,
fractions -> percent, the interval of a drawn proportion), no reading of run
tables, no files except through :func:`save_figure`. Figures are built
without ``pyplot``: they sit in no global registry, so nothing has to be
closed and nothing leaks across runs or threads, and they are rendered by the
Agg canvas whatever backend a notebook has chosen. Jupyter still displays a
returned Figure inline.
"""

from __future__ import annotations

import datetime
import io
import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import Formatter, FuncFormatter

from simulator import steady as _steady
from simulator.outputs import atomic_write_bytes
from simulator.stats import metric_bounds, wilson_interval
from simulator.sweeps.plan import RunTable, TablePoint, ordered_points
from simulator.sweeps.spec import scalar_text

__all__ = [
    "DEFAULT_PLOT_METRICS",
    "enable_inline_figures",
    "figure_png",
    "metric_unit",
    "one_money_version",
    "plot_balance_distribution",
    "plot_comparison",
    "plot_credit_vintages",
    "plot_expiry_waste",
    "plot_purchases_revenue",
    "plot_refund_rates",
    "plot_replications",
    "plot_response_delays",
    "plot_sensitivity_indices",
    "plot_sensitivity_scatter",
    "plot_steady_state",
    "plot_sweep_key",
    "plot_utilisation",
    "save_figure",
    "steady_state_title",
]

_TIER_ORDER = ("basic", "premium_career", "premium_business", "sales_navigator", "recruiter_lite")
_DPI = 100
#: Headroom above the tallest bar, line or interval: this share of the axis' data range.
HEADROOM = 0.1
#: The two-sided 95 % normal quantile, z(0.975) = 1.959963984540054.


class _PlainFormatter(Formatter):
    """Plain tick labels with thousands separators: ``1,250,000``, ``0.25``, never ``1e6``.

    Uses the fewest decimals (up to 6) that show every tick of the axis exactly,
    so neighbouring ticks never print the same text.
    """

    def __init__(self) -> None:
        self.decimals = 0

    def set_locs(self, locs: Any) -> None:
        super().set_locs(locs)
        finite = [float(x) for x in locs if math.isfinite(x)]
        self.decimals = 6
        for d in range(7):
            if all(abs(round(x, d) - x) <= 1e-9 * max(1.0, abs(x)) for x in finite):
                self.decimals = d
                break

    def __call__(self, x: float, pos: int | None = None) -> str:
        if abs(x) < 0.5 * 10.0**-self.decimals:
            x = 0.0  # no "-0" from a rounding error below the shown digits
        return f"{x:,.{self.decimals}f}"

    def get_offset(self) -> str:
        return ""


def _plain(ax, axis: str = "y") -> None:
    """Plain tick labels (see :class:`_PlainFormatter`) on the value axis of ``ax``."""
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(_PlainFormatter())


def _number(x: float, digits: int = 4) -> str:
    """``x`` to about ``digits`` significant digits, plain, with thousands separators."""
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    decimals = 0 if x == round(x) else max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:,.{decimals}f}"


def _headroom(ax, top: float, bottom: float | None = None) -> None:
    """Set the y range from ``bottom`` (default: the current lower limit) to above ``top``."""
    low = ax.get_ylim()[0] if bottom is None else bottom
    if not math.isfinite(top):
        return
    span = top - low
    if span <= 0:
        span = abs(top) or 1.0
    ax.set_ylim(low, top + HEADROOM * span)


def _day_dates(days: Any) -> np.ndarray:
    """ISO dates (``YYYY-MM-DD``) as ``datetime64[D]``: every year from 1 to 9999 (pandas'
    nanosecond timestamps stop in 2262, and pandas 2 infers them from strings)."""
    return np.asarray(list(days), dtype="datetime64[D]")


def _new_figure(size: tuple[float, float] = (11, 5)) -> Figure:
    fig = Figure(figsize=size, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _tiers(frame: pd.DataFrame) -> list[str]:
    seen = [t for t in pd.unique(frame["tier"].to_numpy()) if t != "all"]
    return [t for t in _TIER_ORDER if t in seen] + sorted(t for t in seen if t not in _TIER_ORDER)


def _tier_colour(tier: str) -> str:
    """One colour per tier in every figure: C0.. in the order of the known tiers."""
    if tier in _TIER_ORDER:
        return f"C{_TIER_ORDER.index(tier)}"
    return f"C{len(_TIER_ORDER) + sum(ord(c) for c in str(tier)) % (10 - len(_TIER_ORDER))}"


def _no_data(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def _month_axis(ax, months: Sequence[str]) -> None:
    step = max(1, len(months) // 12)
    ax.set_xticks(range(0, len(months), step))
    ax.set_xticklabels(list(months)[::step], rotation=45, ha="right")


# Matplotlib dates must lie in years 1..9999; autoscale margins around a run that
# ends late in 9999 would cross the end (a valid scenario once failed to plot).
_DATE_LIMITS = (
    float(date2num(datetime.datetime(1, 1, 1))),
    float(date2num(datetime.datetime(9999, 12, 31, 23, 59))),
)


def _date_axis(ax) -> None:
    """Date ticks on the x axis; call after plotting (the limits are clamped then)."""
    low, high = ax.get_xlim()
    ax.set_xlim(max(low, _DATE_LIMITS[0]), min(high, _DATE_LIMITS[1]))
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _legend(fig: Figure, handles: Sequence[Any], title: str | None, loc: Any, **kw: Any) -> None:
    """A figure legend outside the panels (``loc`` is an ``outside ...`` location)."""
    if handles:
        fig.legend(handles=list(handles), title=title, fontsize=9, title_fontsize=9, loc=loc, **kw)


def plot_expiry_waste(expiry: pd.DataFrame) -> Figure:
    """Credits expired per month and the waste rate (expired / issued, %) by tier.

    Tiers with no credits issued or expired in any month are left out.
    """
    fig = _new_figure()
    left, right = fig.subplots(1, 2)
    fig.suptitle("Expiry waste by tier", fontsize=14)
    months = sorted(pd.unique(expiry["month"].to_numpy())) if len(expiry) else []
    x = np.arange(len(months))
    handles = []
    top_left = top_right = 0.0
    for tier in _tiers(expiry) if len(expiry) else []:
        sub = expiry[expiry["tier"] == tier].set_index("month").reindex(months)
        expired = sub["credits_expired"].fillna(0).to_numpy(dtype=float)
        issued = sub["credits_issued"].fillna(0).to_numpy(dtype=float)
        if not (expired.any() or issued.any()):
            continue
        rate = 100 * sub["waste_rate"].to_numpy(dtype=float)
        colour = _tier_colour(tier)
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
        _plain(ax)
        _headroom(ax, top if top > 0 else 1.0, bottom=0)
        if months:
            _month_axis(ax, months)
        else:
            _no_data(ax)
    # One legend for both panels, outside them, so it hides no line.
    _legend(fig, handles, "tier", "outside right upper")
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
    fig = _new_figure(size=(11, max(6.0, 1.8 + 0.22 * len(frame) + 0.15 * len(categories))))
    ax = fig.subplots()
    fig.suptitle("Refund rate by tier and category (settled paid InMails)", fontsize=14)
    ax.set_title(
        "bars: refund rate; whiskers: 95 % Wilson score interval; n: settled paid InMails counted",
        fontsize=9,
    )
    ax.set_xlabel("refund rate (% of settled paid InMails)")
    ax.set_ylabel("InMail category")
    if frame.empty:
        _no_data(ax)
        return fig
    tiers = _tiers(frame)
    height = 0.8 / len(tiers)
    where = {category: i for i, category in enumerate(categories)}
    handles = []
    for i, tier in enumerate(tiers):
        sub = frame[frame["tier"] == tier]
        y = sub["category"].map(where).to_numpy(dtype=float) + (i - (len(tiers) - 1) / 2) * height
        rate = sub["refund_rate"].to_numpy(dtype=float)
        n = sub["settled"].to_numpy(dtype=float)
        low, high = wilson_interval(rate, n)
        colour = _tier_colour(tier)
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
    _plain(ax, "x")
    ax.grid(axis="x", alpha=0.3)
    _legend(fig, handles, "tier", "outside right upper")
    return fig


def plot_balance_distribution(balances: pd.DataFrame) -> Figure:
    """End-of-day balances: percentile fan over all members, and the median per tier."""
    fig = _new_figure()
    left, right = fig.subplots(1, 2, sharey=True)
    fig.suptitle("End-of-day credit balance over time", fontsize=14)
    left.set_title("All members: median, 25-75 % and 10-90 % bands")
    right.set_title("Median (solid) and mean (dashed) by tier")
    for ax in (left, right):
        ax.set_xlabel("date (UTC)")
        ax.set_ylabel("credits held at end of day")
        ax.grid(alpha=0.3)
        _plain(ax)
    right.yaxis.set_tick_params(labelleft=True)
    if balances.empty:
        _no_data(left)
        _no_data(right)
        return fig
    top = 0.0
    fan = []
    every = balances[balances["tier"] == "all"]
    if len(every):
        dates = _day_dates(every["date"])
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
        _no_data(left)
    tiers = []
    for tier in _tiers(balances):
        sub = balances[balances["tier"] == tier]
        d = _day_dates(sub["date"])
        colour = _tier_colour(tier)
        right.step(d, sub["p50"], where="post", color=colour, label=f"{tier} median")
        right.plot(d, sub["mean_balance"], linestyle="--", color=colour, alpha=0.7,
                   label=f"_{tier} mean")  # fmt: skip
        tiers.append(Line2D([], [], color=colour, label=tier))
        top = max(top, float(sub[["p50", "mean_balance"]].max().max()))
    if not tiers:
        _no_data(right)
    for ax in (left, right):
        _date_axis(ax)
    _headroom(left, top if top > 0 else 1.0, bottom=0)
    # Outside the panels, right of them: the tiers above, the fan's key below.
    _legend(fig, tiers, "tier (right panel)", "outside right upper")
    _legend(fig, fan, "all members (left panel)", "outside right lower")
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
    _plain(ax)
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
    _legend(fig, handles, None, "outside right upper")
    return fig


def plot_purchases_revenue(purchases: pd.DataFrame, currency: str = "USD") -> Figure:
    """Credits bought per month by tier, and revenue per month (purchases vs subscriptions).

    Only tiers that bought credits appear (bars and legend); revenue is in
    ``currency`` units (the frames hold cents).
    """
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
        _plain(ax)
    if purchases.empty:
        _no_data(left)
        _no_data(right)
        return fig
    months = sorted(pd.unique(purchases["month"].to_numpy()))
    x = np.arange(len(months))
    bottom = np.zeros(len(months))
    tiers = []
    for tier in _tiers(purchases):
        sub = purchases[purchases["tier"] == tier].set_index("month").reindex(months)
        values = sub["credits_bought"].fillna(0).to_numpy(dtype=float)
        if not values.any():
            continue  # bought nothing: no bars, no legend entry
        tiers.append(left.bar(x, values, bottom=bottom, label=tier, color=_tier_colour(tier)))
        bottom += values
    if tiers:
        _headroom(left, float(bottom.max()), bottom=0)
    else:
        _no_data(left, "no credits bought")
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
        _headroom(right, float((sub_rev + buy).max()), bottom=0)
    else:
        _no_data(right, "no revenue")
        right.set_ylim(0, 1)
    for ax in (left, right):
        _month_axis(ax, months)
    _legend(fig, tiers, "credits bought: tier", "outside right upper")
    _legend(fig, revenue, f"revenue (total, {currency})", "outside right lower")
    return fig


def plot_utilisation(util: pd.DataFrame) -> Figure:
    """Per-member utilisation percentiles by tier (box: 25-75 %, whiskers: 10-90 %), in %."""
    fig = _new_figure()
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
        _plain(ax)
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
        _headroom(left, top, bottom=0)
    else:
        _no_data(left)
    shown = util[util["members"] > 0] if len(util) else util
    if shown.empty:
        _no_data(right)
    else:
        shares = 100 * shown["never_send_share"].to_numpy(dtype=float)
        x = np.arange(len(shown))
        bars = right.bar(x, shares, color="tab:purple")
        right.set_xticks(x, list(shown["tier"]), rotation=35, ha="right")
        right.bar_label(bars, fmt="%.0f %%", fontsize=9)
        # The labels sit on the bars: twice the usual headroom.
        right.set_ylim(0, max(float(np.nanmax(shares, initial=0.0)), 1.0) * (1 + 2 * HEADROOM))
    _legend(fig, handles, "left panel", "outside right upper")
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
    fig = _new_figure(size=(11, 2.8 * max(len(sources), 1) + 1))
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
        _no_data(axes[0])
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
        _month_axis(ax, list(sums["issue_month"]))
        ax.set_xlim(-0.5, len(sums) - 0.5)
    # One legend for every panel, outside them, with plain swatches (bars may be hatched).
    handles = [Patch(facecolor=colour, label=label) for _, label, colour in fates]
    if (vintages["warmup"].to_numpy(dtype=bool)).any():
        handles.append(Patch(facecolor=_WARMUP_COLOUR, edgecolor="0.3", hatch="//",
                             label=_WARMUP_LABEL))  # fmt: skip
    _legend(fig, handles, None, "outside right center")
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


# How long steady.py's weekly response_rate waits for an answer (read, not restated).
_RESPONSE_HORIZON = (
    f"{_steady.RESPONSE_HORIZON_DAYS:g} days"
    if isinstance(getattr(_steady, "RESPONSE_HORIZON_DAYS", None), int | float)
    else "a fixed horizon"
)

#: What each weekly series of the steady-state check is (simulator/steady.py), as
#: (panel title, y label, note under the title or None). Rates are drawn in percent.
STEADY_SERIES: dict[str, tuple[str, str, str | None]] = {
    "expiry_waste_rate": (
        "unspent share of credits due (weekly)",
        "unspent share of credits due (%)",
        "series expiry_waste_rate: of the credits whose lots fell due that week, the share\n"
        "never spent (expired, capped or forfeited), followed from issue to fate; the headline\n"
        "expiry_waste_rate is credits expired / credits issued over the whole window",
    ),
    "refund_rate": (
        "refund rate (weekly)",
        "refunded share of settled paid InMails (%)",
        None,
    ),
    "response_rate": (
        "response rate (weekly)",
        "InMails of the week answered (%)",
        "series response_rate: of the InMails sent that week, the share answered within\n"
        f"{_RESPONSE_HORIZON} of sending; the headline response_rate counts answers up to\n"
        "the run's end",
    ),
    "spend_per_member": (
        "credits spent per active member (weekly)",
        "credits per member who sent",
        None,
    ),
}


def plot_steady_state(block: Mapping[str, Any]) -> Figure:
    """The weekly series of the steady-state check, with the MSER truncation shaded.

    ``block`` is ``summary.json``'s ``steady_state``: ``week_start`` (dates),
    ``series`` (name -> weekly values, None for a week without data),
    ``truncation_weeks`` per series, ``suggested_truncation_weeks`` (the
    largest; shaded from the first week to the first week kept, when above
    0), ``threshold_weeks``, ``cap_weeks``, ``steady`` and
    ``suggested_warmup_days``. Truncations may be null (too few weeks with
    data). One panel per series, two per row, titled by what the series
    measures (:data:`STEADY_SERIES`): the weekly ``expiry_waste_rate`` is the
    unspent share of the credits falling due each week, not the headline
    metric of that name. Rates are shown in percent.
    """
    weeks = _day_dates(list(block.get("week_start") or []))
    series: Mapping[str, Any] = block.get("series") or {}
    per_series: Mapping[str, Any] = block.get("truncation_weeks") or {}
    cut = block.get("suggested_truncation_weeks")
    names = list(series)
    ncols = 2 if len(names) > 1 else 1
    nrows = max(1, -(-len(names) // ncols))
    fig = _new_figure(size=(11, 3.3 * nrows + 1.2))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    fig.suptitle(steady_state_title(block), fontsize=12)
    if not names or not len(weeks):
        _no_data(axes[0])
        for ax in axes[1:]:
            ax.set_visible(False)
        return fig
    dates = weeks
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes, names, strict=False):
        if isinstance(cut, int) and cut > 0:
            # The dropped weeks: from the first week's start to the first kept week's.
            end = dates[cut] if cut < len(dates) else dates[-1] + np.timedelta64(7, "D")
            ax.axvspan(dates[0], end, color="tab:orange", alpha=0.2, zorder=0,
                       label=f"weeks to drop (largest series truncation): {cut}")  # fmt: skip
        raw = [math.nan if v is None else float(v) for v in series[name]][: len(dates)]
        values = np.asarray(raw, dtype=float)
        is_rate = name.endswith(("_rate", "_share"))
        shown = 100 * values if is_rate else values
        ax.plot(dates[: len(values)], shown, marker="o", markersize=3, color="tab:blue",
                label="weekly value")  # fmt: skip
        own = per_series.get(name)
        own_text = "too few weeks with data" if own is None else f"MSER truncation {own} weeks"
        title, ylabel, note = STEADY_SERIES.get(
            name, (name, f"{name} (%)" if is_rate else name, None)
        )
        ax.set_title(f"{title}: {own_text}" + (f"\n{note}" if note else ""),
                     fontsize=10 if note is None else 8)  # fmt: skip
        ax.set_ylabel(ylabel, fontsize=9)
        ax.set_xlabel("week starting (UTC)")
        ax.grid(alpha=0.3)
        _plain(ax)
        _date_axis(ax)
        finite = shown[np.isfinite(shown)]
        if len(finite):
            low, high = float(finite.min()), float(finite.max())
            pad = (high - low) or abs(high) or 1.0
            ax.set_ylim(low - HEADROOM * pad, high + HEADROOM * pad)
    # Below the panels: the verdict above them may be a long line.
    _legend(fig, axes[0].get_legend_handles_labels()[0], None, "outside lower center", ncols=2)
    return fig


#: Headline metrics first in the replications figure, then the rest in the frame's order.
_REPLICATION_FIRST = (
    "refund_rate",
    "response_rate",
    "expiry_waste_rate",
    "vintage_waste_rate",
    "grant_expiry_rate",
    "net_revenue",
    "subscription_revenue",
    "purchase_revenue",
    "credits_granted",
    "credits_purchased",
    "credits_spent",
    "credits_refunded",
    "credits_expired",
    "credits_capped",
    "credits_forfeited",
    "inmails_sent",
    "inmails_paid",
    "responses",
    "refunds",
    "inmails_rejected",
    "members",
    "cancellations",
    "tier_changes",
)


def _replication_rows(reps: pd.DataFrame) -> pd.DataFrame:
    """The metrics worth a panel, money once and in currency units, headline metrics first.

    Drops the ``steady_state.*`` diagnostics (settings and MSER statistics of
    the warm-up check, not results) and a ``*_cents`` metric whose currency
    twin (the name without ``_cents``) is in the frame; a ``*_cents`` metric
    without a twin is converted to currency units under the twin's name.
    """
    frame = reps[~reps["metric"].astype(str).str.startswith("steady_state.")].copy()
    names = set(frame["metric"])
    cents = frame["metric"].str.endswith("_cents")
    twins = frame["metric"].str.removesuffix("_cents")
    frame = frame[~(cents & twins.isin(names))]
    cents = frame["metric"].str.endswith("_cents")
    for column in ("mean", "std", "ci_low", "ci_high"):
        frame.loc[cents, column] = frame.loc[cents, column] / 100
    frame.loc[cents, "metric"] = frame.loc[cents, "metric"].str.removesuffix("_cents")
    rank = {m: i for i, m in enumerate(_REPLICATION_FIRST)}
    order = frame["metric"].map(lambda m: rank.get(m, len(rank)))
    return frame.assign(_order=order).sort_values("_order", kind="stable").drop(columns="_order")


def _is_money(metric: str) -> bool:
    return metric.endswith(("_revenue", "_spend", "_value")) or metric == "revenue"


def plot_replications(
    reps: pd.DataFrame, max_metrics: int = 24, *, currency: str | None = None
) -> Figure:
    """Each metric's mean over replications with its 95 % t-interval, one panel per metric.

    ``reps`` is :func:`simulator.reports.replications`' frame. Headline
    metrics come first (:data:`_REPLICATION_FIRST`), money once and in
    currency units (``currency`` names them; "currency units" without it),
    rates in percent; the ``steady_state.*`` diagnostics are left out
    (:func:`_replication_rows`). At most ``max_metrics`` panels; the title
    says how many metrics are shown.
    """
    rows = _replication_rows(reps)
    frame = rows.head(max_metrics)
    n = max(len(frame), 1)
    ncols = min(4, n)
    nrows = -(-n // ncols)
    fig = _new_figure(size=(3.2 * ncols + 0.4, 2.5 * nrows + 0.9))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    runs = int(frame["n"].max()) if len(frame) else 0
    title = f"Metrics over {runs} replications: mean and 95 % t-interval"
    if len(frame) < len(rows):
        title += f" ({len(frame)} of {len(rows)} metrics)"
    fig.suptitle(title, fontsize=14)
    if frame.empty:
        _no_data(axes[0])
    for ax, row in zip(axes, frame.itertuples(index=False), strict=False):
        unit, scale = _metric_unit(str(row.metric), currency)
        mean, low, high = (scale * v for v in (row.mean, row.ci_low, row.ci_high))
        has_ci = np.isfinite(low) and np.isfinite(high)
        err = [[mean - low], [high - mean]] if has_ci else None
        ax.errorbar([0], [mean], yerr=err, fmt="o", capsize=8, color="tab:blue")
        text = f"{_number(mean)}"
        if has_ci:
            text += f" ± {_number((high - low) / 2, 2)}"
        ax.text(0.03, 0.03, text, transform=ax.transAxes, fontsize=8, color="dimgray")
        ax.set_title(row.metric, fontsize=10)
        ax.set_ylabel(unit, fontsize=9)
        ax.set_xticks([])
        ax.set_xlim(-1, 1)
        ax.set_xlabel(f"n = {row.n}", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        _plain(ax)
        low, high = (low, high) if has_ci else (mean, mean)
        pad = (high - low) or abs(mean) * 0.01 or 1.0
        # Room below for the value's text, above for headroom.
        bottom = low - 0.6 * pad
        if low >= 0 > bottom:  # a metric that cannot be negative: no negative ticks
            bottom = 0.0
        ax.set_ylim(bottom, high + 2 * HEADROOM * pad)
    for ax in axes[len(frame) :]:
        ax.set_visible(False)
    return fig


def _metric_unit(metric: str, currency: str | None = None) -> tuple[str, float]:
    """The y label of a replicated metric and the factor its values are drawn at."""
    if metric.endswith("_cents"):
        return f"cents of {currency}" if currency else "cents", 1.0
    if _is_money(metric):
        return currency or "currency units", 1.0
    if metric.endswith(("_rate", "_share")):
        return "percent (%)", 100.0
    if metric.endswith("_inmails") or metric.startswith("inmails"):
        return "InMails", 1.0
    if metric.startswith("credits"):
        return "credits", 1.0
    counts = {
        "refunds": "InMails refunded",
        "responses": "responses",
        "late_responses": "responses",
        "members": "members",
        "members_initial": "members",
        "arrivals": "members",
        "cancellations": "cancellations",
        "tier_changes": "tier changes",
    }
    return counts.get(metric, "value"), 1.0


#: Per method: (main index, second index or None, axis label) of the sensitivity bars.
_SENSITIVITY_INDICES = {
    "sobol": ("ST", "S1", "Sobol index (share of the metric's variance)"),
    "morris": ("mu_star", None, "Morris mu* (mean absolute elementary effect)"),
    "lhs": ("rho", None, "Spearman rank correlation with the metric"),
}


def plot_sensitivity_indices(
    indices: pd.DataFrame, metric: str, method: str, rows: Any = None
) -> Figure:
    """Horizontal bars of one metric's indices per key, with their 95 % intervals.

    ``indices`` is ``sensitivity.csv`` (``metric, key, index, value, low,
    high``), filtered by ``rows`` when given. Sobol: total (ST) and first-order
    (S1) side by side; Morris: mu* (sigma in the key's label); LHS: rho.
    Keys are sorted by the main index, largest on top.
    """
    frame = indices if rows is None else indices[rows]
    main, second, xlabel = _SENSITIVITY_INDICES[method]
    fig = _new_figure(size=(9, 1.2 + 0.55 * max(1, frame["key"].nunique())))
    ax = fig.subplots()
    fig.suptitle(f"What drives {metric}: {method} indices, 95 % intervals", fontsize=12)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    shown = frame[frame["index"] == main].dropna(subset=["value"])
    if shown.empty:
        _no_data(ax, "no indices: the metric is undefined or constant at some point")
        return fig
    order = shown.sort_values("value", key=abs)["key"].tolist()
    y = np.arange(len(order), dtype=float)
    series = [(main, "tab:blue")] + ([(second, "tab:orange")] if second else [])
    height = 0.8 / len(series)
    for n, (name, colour) in enumerate(series):
        part = frame[frame["index"] == name].set_index("key").reindex(order)
        offset = (n - (len(series) - 1) / 2) * height
        values = part["value"].to_numpy(dtype=float)
        err = np.vstack([values - part["low"].to_numpy(dtype=float),
                         part["high"].to_numpy(dtype=float) - values])  # fmt: skip
        ax.barh(y - offset, values, height=height, color=colour, label=name,
                xerr=np.where(np.isfinite(err), np.maximum(err, 0), 0), capsize=3)  # fmt: skip
    labels = order
    if method == "morris":
        sigma = frame[frame["index"] == "sigma"].set_index("key")["value"]
        labels = [f"{k}\n(sigma {sigma.get(k, math.nan):.3g})" for k in order]
    ax.set_yticks(y, labels, fontsize=9)
    if method == "lhs":
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlim(-1.05, 1.05)
    _legend(fig, ax.get_legend_handles_labels()[0], None, "outside lower center",
            ncols=len(series))  # fmt: skip
    return fig


def plot_sensitivity_scatter(
    design: pd.DataFrame, values: Any, keys: Sequence[str], metric: str
) -> Figure:
    """The metric (mean over replications) at every design point, against each key."""
    ncols = min(3, max(1, len(keys)))
    nrows = -(-len(keys) // ncols)
    fig = _new_figure(size=(3.6 * ncols + 0.6, 3.0 * nrows + 0.8))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    fig.suptitle(f"{metric} at each design point, against each varied key", fontsize=12)
    y = np.asarray(values, dtype=float)
    for ax, key in zip(axes, keys, strict=False):
        x = design[key].to_numpy()
        numeric = pd.api.types.is_numeric_dtype(design[key])
        if not numeric:  # choices, or money written as text
            try:
                x = x.astype(float)
            except (TypeError, ValueError):
                codes, names = pd.factorize(design[key])
                ax.set_xticks(range(len(names)), [str(n) for n in names], fontsize=8)
                x = codes
        ax.scatter(x, y, s=12, alpha=0.6, color="tab:blue")
        ax.set_xlabel(key, fontsize=9)
        ax.set_ylabel(metric, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    return fig


_DISPLAY_READY = False


def enable_inline_figures() -> None:
    """In an IPython kernel, show matplotlib Figures as PNG unless something already does.

    Our figures are made without pyplot, and IPython learns to draw a Figure
    only when pyplot's inline backend is set up; this registers the same PNG
    formatter, once, and leaves any formatter the user chose alone.
    """
    global _DISPLAY_READY
    if _DISPLAY_READY or "IPython" not in sys.modules:
        return
    _DISPLAY_READY = True
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython half installed
        return
    shell = get_ipython()
    if shell is None:
        return
    formatters = shell.display_formatter.formatters
    for mime in ("image/png", "image/svg+xml", "application/pdf", "image/jpeg"):
        formatter = formatters.get(mime)
        if formatter is None:
            continue
        try:
            formatter.lookup_by_type(Figure)
            return  # already shown somehow: keep the user's choice
        except KeyError:
            continue
    formatters["image/png"].for_type(Figure, figure_png)


def figure_png(fig: Figure, dpi: int = _DPI) -> bytes:
    """Render a figure to PNG bytes with the Agg canvas."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Write a figure as PNG, atomically (a temporary name, then ``os.replace``)."""
    path = Path(path)
    atomic_write_bytes(path, figure_png(fig))
    return path


# Sweeps and comparisons ----------------------------------------------------------
#
# The figures of a sweep (simulator.sweeps: plots/<key>.png) and of a compare
# (comparison.png), drawn from a run table and summary.csv or comparison.csv.
# They keep their own helpers: tick labels by _tick (not _PlainFormatter), y-axis
# units by metric_unit (rates as shares), a fixed layout for a sweep's many panels.

_MAX_LINES = 8

#: The metrics a sweep plots unless told otherwise (``metrics="all"``: every one).
DEFAULT_PLOT_METRICS = (
    "response_rate",
    "refund_rate",
    "expiry_waste_rate",
    "credits_spent",
    "credits_expired",
    "credits_capped",
    "credits_forfeited",
    "purchase_revenue",
    "subscription_revenue",
    "net_revenue",
    "cancellations",
)


def plot_sweep_key(
    plan: RunTable[TablePoint],
    summary: pd.DataFrame,
    key: str,
    metrics: str | Sequence[str] | None = None,
) -> Figure:
    """Varying metrics against ``key``: mean with its 95 % band, one line per
    combination of the other swept keys (points only when there are many).

    ``metrics``: None for :data:`DEFAULT_PLOT_METRICS`, ``"all"`` for every
    metric, or a list of names (in that order). Money is shown once, in
    currency units (a ``_cents`` metric only when asked for by name).
    """
    points = ordered_points(plan)
    params = {p.run_id: p.params for p in points}
    others = [k for k in plan.keys if k != key]
    xs_all = list(dict.fromkeys(p.params[key] for p in points))
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in xs_all)
    order = sorted(xs_all) if numeric else xs_all
    pos = {scalar_text(v): (float(v) if numeric else i) for i, v in enumerate(order)}
    groups: dict[tuple[str, ...], list[str]] = {}
    for p in points:
        groups.setdefault(tuple(scalar_text(p.params[k]) for k in others), []).append(p.run_id)
    # A point where a metric was never a number (a rate with no denominator) has no row.
    stats = {
        (m, rid): (mean, lo, hi)
        for m, rid, mean, lo, hi in zip(
            summary["metric"], summary["run_id"], summary["mean"].astype(float),
            summary["ci_low"].astype(float), summary["ci_high"].astype(float), strict=True,
        )
    }  # fmt: skip
    nan = (math.nan, math.nan, math.nan)
    known = list(dict.fromkeys(summary["metric"]))
    if metrics is None:
        wanted = [m for m in DEFAULT_PLOT_METRICS if m in known]
    elif isinstance(metrics, str) and metrics == "all":
        wanted = one_money_version(known)
    else:
        wanted = [m for m in ([metrics] if isinstance(metrics, str) else metrics) if m in known]
    shown = []
    constant = 0
    for metric in wanted:
        means = summary.loc[summary["metric"] == metric, "mean"].to_numpy(dtype=float)
        if not np.isfinite(means).any():
            continue
        if np.nanmax(means) == np.nanmin(means):
            constant += 1
            continue
        shown.append(metric)
    ncols = min(4, max(1, len(shown)))
    nrows = max(1, -(-len(shown) // ncols))
    # Many panels: a fixed layout (constrained layout would double the drawing time).
    height = 2.6 * nrows + 1.6
    width = 3.8 * ncols
    fig = Figure(figsize=(width, height), dpi=_DPI)  # no layout engine: placed by hand below
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.95 / width, right=1 - 0.15 / width, top=1 - 1.0 / height,
                        bottom=1.1 / height, hspace=0.85, wspace=0.45)  # fmt: skip
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    plural = "s" if constant != 1 else ""
    note = f"; {constant} constant metric{plural} left out" if constant else ""
    fig.suptitle(f"Metrics against {key}\nmean and 95 % t-interval over "
                 f"{plan.replications} replication{'s' if plan.replications != 1 else ''}"
                 f"{note}", fontsize=10 if ncols > 1 else 8)  # fmt: skip
    if not shown:
        axes[0].text(0.5, 0.5, "no varying metric", ha="center", va="center",
                     transform=axes[0].transAxes, color="grey")  # fmt: skip
    # A run table read back from a sweep folder has no scenarios.
    scenarios = (getattr(p, "scenario", None) for p in plan.points)
    currencies = {sc.pricing.currency for sc in scenarios if sc is not None}
    currency = currencies.pop() if len(currencies) == 1 else None
    lines = len(groups) <= _MAX_LINES
    handles: list[Any] = []
    labels: list[str] = []
    for ax, metric in zip(axes, shown, strict=False):
        for g, (combo, rids) in enumerate(groups.items()):
            pts = []
            for rid in rids:
                pts.append((pos[scalar_text(params[rid][key])], *stats.get((metric, rid), nan)))
            pts.sort()
            x, mean, lo, hi = (np.array(col, dtype=float) for col in zip(*pts, strict=True))
            # A band never leaves the metric's range (a rate's t-interval can pass 1).
            floor, ceiling = metric_bounds(metric, mean[np.isfinite(mean)].tolist())
            lo, hi = np.clip(lo, floor, ceiling), np.clip(hi, floor, ceiling)
            if lines:
                (handle,) = ax.plot(x, mean, marker="o", ms=3, color=f"C{g % 10}")
                ax.fill_between(x, lo, hi, alpha=0.2, color=f"C{g % 10}", linewidth=0)
                if ax is axes[0]:
                    handles.append(handle)
                    labels.append(", ".join(f"{k}={v}" for k, v in zip(others, combo,
                                                                        strict=True)))  # fmt: skip
            else:
                err = np.vstack([mean - lo, hi - mean])
                ax.errorbar(x, mean, yerr=np.where(np.isfinite(err), err, 0), fmt=".",
                            color="tab:blue", alpha=0.4, capsize=2)  # fmt: skip
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel(key, fontsize=8)
        ax.set_ylabel(metric_unit(metric, currency), fontsize=8)
        ax.tick_params(labelsize=7)
        _plain_ticks(ax)
        ax.grid(alpha=0.3)
        if not numeric:
            ax.set_xticks(range(len(order)))
            ax.set_xticklabels([scalar_text(v) for v in order], rotation=30, ha="right")
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    if lines and others and handles:
        fig.legend(handles, labels, loc="lower center", ncols=min(4, len(labels)),
                   fontsize=8, frameon=False)  # fmt: skip
    return fig


def metric_unit(metric: str, currency: str | None = None) -> str:
    """The y-axis label of a metric: its unit, from its name (money in ``currency``)."""
    if metric.endswith("_rate"):
        return "share (0-1)"
    if metric.endswith("_cents"):
        return f"{currency} cents" if currency else "cents"
    if metric.endswith("_revenue"):
        return currency or "currency units"
    if metric.startswith("credits_"):
        return "credits"
    if metric.endswith("_days"):
        return "days"
    if (metric.startswith("inmails_") or metric.endswith("_inmails")
            or metric in ("responses", "late_responses", "refunds")):  # fmt: skip
        return "InMails"
    if metric in ("cancellations", "tier_changes"):
        return "events"
    if metric in ("members", "members_initial", "arrivals", "members_present"):
        return "members"
    return "count"


def _plain_ticks(ax: Any) -> None:
    """Tick labels with thousands separators, never an offset or ``1e6`` label."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _tick(v)))


def _tick(value: float) -> str:
    """A tick label: separators, no scientific notation (1,350,000 rather than 1.35e+06)."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.6g}"


def one_money_version(metrics: Iterable[str]) -> list[str]:
    """``metrics`` without each ``X_cents`` whose currency version ``X`` is also there."""
    names = list(metrics)
    present = set(names)
    return [m for m in names if not (m.endswith("_cents") and m[: -len("_cents")] in present)]


def plot_comparison(comparison: pd.DataFrame, name_a: str = "A", name_b: str = "B") -> Figure:
    """B - A per metric with its paired 95 % interval, and the unpaired one faint.

    Relative to A (%) where A's mean is not 0; in the metric's own units, in a
    second panel, where it is (so a metric that is 0 under A, such as
    ``credits_capped`` without caps, is still shown; one that is 0 under both
    is left out). Money appears once, in
    currency units (the ``_cents`` twins are left out).
    """
    keep = one_money_version(comparison["metric"])
    frame = comparison[comparison["metric"].isin(keep)]
    finite = np.isfinite(frame["diff"].to_numpy(dtype=float))
    zero_a = frame["mean_a"].to_numpy(dtype=float) == 0
    rel_frame = frame[finite & ~zero_a]
    # A metric that is 0 under both A and B has nothing to show.
    abs_frame = frame[finite & zero_a & (frame["mean_b"].to_numpy(dtype=float) != 0)]
    heights = [max(len(rel_frame), 1)] + ([len(abs_frame) + 1] if len(abs_frame) else [])
    fig = _new_figure((9, 0.28 * sum(heights) + 1.6 + 0.9 * (len(heights) - 1)))
    axes = np.atleast_1d(fig.subplots(len(heights), 1, height_ratios=heights, squeeze=False))
    axes = axes.ravel()
    runs = int(comparison["n"].max()) if len(comparison) else 0
    fig.suptitle(f"{name_b} against {name_a} over {runs} paired replications, "
                 "95 % intervals", fontsize=11)  # fmt: skip
    ax = axes[0]
    if rel_frame.empty:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    else:
        scale = 100 / rel_frame["mean_a"].to_numpy(dtype=float)
        _interval_rows(ax, rel_frame, scale)
        ax.set_xlabel("difference B - A, % of A's mean")
    if len(axes) > 1:
        _interval_rows(axes[1], abs_frame, np.ones(len(abs_frame)), legend=False)
        axes[1].set_xlabel("difference B - A, in the metric's units (A's mean is 0)")
        axes[1].xaxis.set_major_formatter(FuncFormatter(lambda v, _: _tick(v)))
        for y, d in zip(np.arange(len(abs_frame))[::-1], abs_frame["diff"], strict=True):
            text = f"{d:,.0f}" if abs(d) >= 100 else f"{d:,.4g}"
            axes[1].annotate(text, (d, y), xytext=(4, 4), textcoords="offset points",
                             fontsize=7)  # fmt: skip
    return fig


def _interval_rows(ax: Any, frame: pd.DataFrame, scale: np.ndarray, legend: bool = True) -> None:
    """One row per metric: the difference, its paired and (faint) unpaired intervals."""
    y = np.arange(len(frame))[::-1]
    mid = frame["diff"].to_numpy(dtype=float) * scale
    lo = frame["ci_low"].to_numpy(dtype=float) * scale
    hi = frame["ci_high"].to_numpy(dtype=float) * scale
    ulo = frame["unpaired_ci_low"].to_numpy(dtype=float) * scale
    uhi = frame["unpaired_ci_high"].to_numpy(dtype=float) * scale
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)  # a negative mean_a flips the ends
    ulo, uhi = np.minimum(ulo, uhi), np.maximum(ulo, uhi)
    ax.hlines(y, ulo, uhi, color="lightgrey", linewidth=6, label="unpaired 95 % interval")
    ax.hlines(y, lo, hi, color="tab:blue", linewidth=2, label="paired 95 % interval (CRN)")
    ax.plot(mid, y, "o", color="tab:blue", ms=4)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(frame["metric"], fontsize=8)
    ax.set_ylim(-0.7, len(frame) - 0.3)
    ax.grid(axis="x", alpha=0.3)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
