"""Figures of studies over many runs: replications, and sensitivity indices and scatters.

Job: :func:`plot_replications` (each metric's mean over replications with its
95 % t-interval, from :func:`simulator.reports.replications`' frame);
:func:`plot_sensitivity_indices` and :func:`plot_sensitivity_scatter` (a
sensitivity study's ``sensitivity.csv`` and design, :mod:`simulator.gsa`).

Boundary: the statistics are computed by the callers; this module chooses
units (money once, rates in percent) and draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from simulator.plots.style import HEADROOM, figure_legend, new_figure, no_data, plain_axis

__all__ = ["plot_replications", "plot_sensitivity_indices", "plot_sensitivity_scatter"]


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


def _number(x: float, digits: int = 4) -> str:
    """``x`` to about ``digits`` significant digits, plain, with thousands separators."""
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    decimals = 0 if x == round(x) else max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:,.{decimals}f}"


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
    fig = new_figure(size=(3.2 * ncols + 0.4, 2.5 * nrows + 0.9))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    runs = int(frame["n"].max()) if len(frame) else 0
    title = f"Metrics over {runs} replications: mean and 95 % t-interval"
    if len(frame) < len(rows):
        title += f" ({len(frame)} of {len(rows)} metrics)"
    fig.suptitle(title, fontsize=14)
    if frame.empty:
        no_data(axes[0])
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
        plain_axis(ax)
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
    fig = new_figure(size=(9, 1.2 + 0.55 * max(1, frame["key"].nunique())))
    ax = fig.subplots()
    fig.suptitle(f"What drives {metric}: {method} indices, 95 % intervals", fontsize=12)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    shown = frame[frame["index"] == main].dropna(subset=["value"])
    if shown.empty:
        no_data(ax, "no indices: the metric is undefined or constant at some point")
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
    figure_legend(fig, ax.get_legend_handles_labels()[0], None, "outside lower center",
            ncols=len(series))  # fmt: skip
    return fig


def plot_sensitivity_scatter(
    design: pd.DataFrame, values: Any, keys: Sequence[str], metric: str
) -> Figure:
    """The metric (mean over replications) at every design point, against each key."""
    ncols = min(3, max(1, len(keys)))
    nrows = -(-len(keys) // ncols)
    fig = new_figure(size=(3.6 * ncols + 0.6, 3.0 * nrows + 0.8))
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
