"""The house style every figure shares: figures, tick labels, headroom, legends, PNG files.

Job: the helpers the figure modules draw with (:func:`new_figure`, plain tick
labels :class:`PlainFormatter` / :func:`plain_axis`, :func:`set_headroom`
with :data:`HEADROOM`, "no data" panels, month and date axes, figure legends
outside the panels, one colour per tier), and the way out of a figure:
:func:`figure_png`, :func:`save_figure` (atomic) and
:func:`enable_inline_figures` (IPython shows our pyplot-free Figures).

Boundary: no chart of its own and no data frame beyond a tier column; the
only file written is through :func:`save_figure`
(:func:`simulator.outputs.atomic_write_bytes`).
"""

from __future__ import annotations

import datetime
import io
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter

from simulator.outputs import atomic_write_bytes

__all__ = [
    "DPI",
    "HEADROOM",
    "TIER_ORDER",
    "PlainFormatter",
    "date_axis",
    "day_dates",
    "enable_inline_figures",
    "figure_legend",
    "figure_png",
    "month_axis",
    "new_figure",
    "no_data",
    "ordered_tiers",
    "plain_axis",
    "save_figure",
    "set_headroom",
    "tier_colour",
]

#: The known tiers, in the order their colours (C0, C1, ...) and legends follow.
TIER_ORDER = ("basic", "premium_career", "premium_business", "sales_navigator", "recruiter_lite")
#: The resolution of every figure and PNG (dots per inch).
DPI = 100
#: Headroom above the tallest bar, line or interval: this share of the axis' data range.
HEADROOM = 0.1


class PlainFormatter(Formatter):
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


def plain_axis(ax, axis: str = "y") -> None:
    """Plain tick labels (see :class:`PlainFormatter`) on the value axis of ``ax``."""
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PlainFormatter())


def set_headroom(ax, top: float, bottom: float | None = None) -> None:
    """Set the y range from ``bottom`` (default: the current lower limit) to above ``top``."""
    low = ax.get_ylim()[0] if bottom is None else bottom
    if not math.isfinite(top):
        return
    span = top - low
    if span <= 0:
        span = abs(top) or 1.0
    ax.set_ylim(low, top + HEADROOM * span)


def day_dates(days: Any) -> np.ndarray:
    """ISO dates (``YYYY-MM-DD``) as ``datetime64[D]``: every year from 1 to 9999 (pandas'
    nanosecond timestamps stop in 2262, and pandas 2 infers them from strings)."""
    return np.asarray(list(days), dtype="datetime64[D]")


def new_figure(size: tuple[float, float] = (11, 5)) -> Figure:
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def ordered_tiers(frame: pd.DataFrame) -> list[str]:
    seen = [t for t in pd.unique(frame["tier"].to_numpy()) if t != "all"]
    return [t for t in TIER_ORDER if t in seen] + sorted(t for t in seen if t not in TIER_ORDER)


def tier_colour(tier: str) -> str:
    """One colour per tier in every figure: C0.. in the order of the known tiers."""
    if tier in TIER_ORDER:
        return f"C{TIER_ORDER.index(tier)}"
    return f"C{len(TIER_ORDER) + sum(ord(c) for c in str(tier)) % (10 - len(TIER_ORDER))}"


def no_data(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def month_axis(ax, months: Sequence[str]) -> None:
    step = max(1, len(months) // 12)
    ax.set_xticks(range(0, len(months), step))
    ax.set_xticklabels(list(months)[::step], rotation=45, ha="right")


# Matplotlib dates must lie in years 1..9999; autoscale margins around a run that
# ends late in 9999 would cross the end (a valid scenario once failed to plot).
_DATE_LIMITS = (
    float(date2num(datetime.datetime(1, 1, 1))),
    float(date2num(datetime.datetime(9999, 12, 31, 23, 59))),
)


def date_axis(ax) -> None:
    """Date ticks on the x axis; call after plotting (the limits are clamped then)."""
    low, high = ax.get_xlim()
    ax.set_xlim(max(low, _DATE_LIMITS[0]), min(high, _DATE_LIMITS[1]))
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def figure_legend(
    fig: Figure, handles: Sequence[Any], title: str | None, loc: Any, **kw: Any
) -> None:
    """A figure legend outside the panels (``loc`` is an ``outside ...`` location)."""
    if handles:
        fig.legend(handles=list(handles), title=title, fontsize=9, title_fontsize=9, loc=loc, **kw)


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


def figure_png(fig: Figure, dpi: int = DPI) -> bytes:
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
