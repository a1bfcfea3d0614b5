"""The figures of sweeps and compares: metrics against a swept key, B - A, response surfaces.

Job: :func:`plot_sweep_key` (``plots/<key>.png`` of a sweep: every varying
metric against one key, mean with its 95 % band, one line per combination of
the other keys), :func:`plot_comparison` (``comparison.png``: B - A per
metric with its paired and unpaired intervals) and :func:`plot_surface` (a
heat map of a response surface). They keep their own helpers: tick labels by
:func:`_tick` (not :class:`~simulator.plots.style.PlainFormatter`), y-axis
units by :func:`metric_unit` (rates as shares), a fixed layout for a sweep's
many panels.

Boundary: plain inputs only. The run table, its order by value and the
text of its values belong to :mod:`simulator.sweeps`, which sits above this
package: its callers pass the points in order, as :class:`SweepPoint` values
with their labels already written, and the summary and comparison frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from simulator.plots.style import DPI, new_figure
from simulator.stats import metric_bounds

__all__ = [
    "DEFAULT_PLOT_METRICS",
    "SweepPoint",
    "metric_unit",
    "one_money_version",
    "plot_comparison",
    "plot_surface",
    "plot_sweep_key",
]

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


class SweepPoint(NamedTuple):
    """One point of a sweep as :func:`plot_sweep_key` draws it.

    ``params``: swept key -> value (numbers are placed on a numeric axis);
    ``labels``: swept key -> the value's text, as the run table writes it.
    """

    run_id: str
    params: Mapping[str, Any]
    labels: Mapping[str, str]


def plot_sweep_key(
    points: Sequence[SweepPoint],
    summary: pd.DataFrame,
    key: str,
    metrics: str | Sequence[str] | None = None,
    *,
    keys: Sequence[str],
    replications: int,
    currency: str | None = None,
) -> Figure:
    """Varying metrics against ``key``: mean with its 95 % band, one line per
    combination of the other swept keys (points only when there are many).

    ``points``: the sweep's points in order of value (the order their lines,
    colours and text values follow); ``keys``: the swept keys, in order;
    ``summary``: ``summary.csv``'s rows (``run_id``, ``metric``, ``mean``,
    ``ci_low``, ``ci_high``). ``replications`` is said in the title;
    ``currency`` names the money axes. ``metrics``: None for
    :data:`DEFAULT_PLOT_METRICS`, ``"all"`` for every metric, or a list of
    names (in that order). Money is shown once, in currency units (a
    ``_cents`` metric only when asked for by name).
    :func:`simulator.sweeps.plot_sweep_key` draws this from a run table.
    """
    texts = {p.run_id: p.labels for p in points}
    others = [k for k in keys if k != key]
    text_of: dict[Any, str] = {}  # each value's text, from its first point
    for p in points:
        text_of.setdefault(p.params[key], p.labels[key])
    xs_all = list(text_of)
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in xs_all)
    order = sorted(xs_all) if numeric else xs_all
    pos = {text_of[v]: (float(v) if numeric else i) for i, v in enumerate(order)}
    groups: dict[tuple[str, ...], list[str]] = {}
    for p in points:
        groups.setdefault(tuple(p.labels[k] for k in others), []).append(p.run_id)
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
    fig = Figure(figsize=(width, height), dpi=DPI)  # no layout engine: placed by hand below
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.95 / width, right=1 - 0.15 / width, top=1 - 1.0 / height,
                        bottom=1.1 / height, hspace=0.85, wspace=0.45)  # fmt: skip
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    plural = "s" if constant != 1 else ""
    note = f"; {constant} constant metric{plural} left out" if constant else ""
    fig.suptitle(f"Metrics against {key}\nmean and 95 % t-interval over "
                 f"{replications} replication{'s' if replications != 1 else ''}"
                 f"{note}", fontsize=10 if ncols > 1 else 8)  # fmt: skip
    if not shown:
        axes[0].text(0.5, 0.5, "no varying metric", ha="center", va="center",
                     transform=axes[0].transAxes, color="grey")  # fmt: skip
    lines = len(groups) <= _MAX_LINES
    handles: list[Any] = []
    labels: list[str] = []
    for ax, metric in zip(axes, shown, strict=False):
        for g, (combo, rids) in enumerate(groups.items()):
            pts = []
            for rid in rids:
                pts.append((pos[texts[rid][key]], *stats.get((metric, rid), nan)))
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
            ax.set_xticklabels([text_of[v] for v in order], rotation=30, ha="right")
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
    fig = new_figure((9, 0.28 * sum(heights) + 1.6 + 0.9 * (len(heights) - 1)))
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


def plot_surface(
    mean: pd.DataFrame,
    half: pd.DataFrame,
    metric: str,
    x: str,
    y: str,
    *,
    replications: int,
    percent: bool | None = None,
) -> Figure:
    """A heat map of a response surface: ``mean`` of ``metric`` with ``y`` values as rows
    and ``x`` values as columns, each cell labelled with its mean and ``half`` (the
    half-width of its 95 % interval, same shape). ``percent`` (default: for a ``_rate``
    or ``_share``) shows the values times 100."""
    if percent is None:
        percent = metric.endswith(("_rate", "_share"))
    scale = 100.0 if percent else 1.0
    fig = Figure(
        figsize=(1.3 * len(mean.columns) + 3, 0.6 * len(mean.index) + 2),
        dpi=DPI,
        layout="constrained",
    )
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    image = ax.imshow(
        scale * mean.to_numpy(dtype=float), origin="lower", aspect="auto", cmap="viridis"
    )
    ax.set_xticks(range(len(mean.columns)), [str(v) for v in mean.columns])
    ax.set_yticks(range(len(mean.index)), [str(v) for v in mean.index])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    unit = " (%)" if percent else ""
    fig.colorbar(image, ax=ax, label=f"{metric}{unit}")
    ax.set_title(
        f"{metric}{unit}: mean ± 95 % half-width, {replications} replications", fontsize=10
    )
    values = scale * mean.to_numpy(dtype=float)
    halves = scale * half.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if not np.isfinite(values[i, j]):
                continue
            text = f"{values[i, j]:.3g}"
            if np.isfinite(halves[i, j]):
                text += f"\n± {halves[i, j]:.2g}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if values[i, j] < middle else "black")  # fmt: skip
    return fig
