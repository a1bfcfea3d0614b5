"""The steady-state figure: the weekly series of the warm-up check and its verdict.

Job: :func:`plot_steady_state` draws ``summary.json``'s ``steady_state`` block
(one panel per weekly series, the MSER truncation shaded);
:func:`steady_state_title` is its verdict as one line (also the heading of
report.html); :data:`STEADY_SERIES` says what each series measures.

Boundary: the series and the verdict are computed by :mod:`simulator.steady`;
this module reads its block and one constant, and draws.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from simulator import steady as _steady
from simulator.plots.style import (
    HEADROOM,
    date_axis,
    day_dates,
    figure_legend,
    new_figure,
    no_data,
    plain_axis,
)

__all__ = ["STEADY_SERIES", "plot_steady_state", "steady_state_title"]


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
    weeks = day_dates(list(block.get("week_start") or []))
    series: Mapping[str, Any] = block.get("series") or {}
    per_series: Mapping[str, Any] = block.get("truncation_weeks") or {}
    cut = block.get("suggested_truncation_weeks")
    names = list(series)
    ncols = 2 if len(names) > 1 else 1
    nrows = max(1, -(-len(names) // ncols))
    fig = new_figure(size=(11, 3.3 * nrows + 1.2))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    fig.suptitle(steady_state_title(block), fontsize=12)
    if not names or not len(weeks):
        no_data(axes[0])
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
        plain_axis(ax)
        date_axis(ax)
        finite = shown[np.isfinite(shown)]
        if len(finite):
            low, high = float(finite.min()), float(finite.max())
            pad = (high - low) or abs(high) or 1.0
            ax.set_ylim(low - HEADROOM * pad, high + HEADROOM * pad)
    # Below the panels: the verdict above them may be a long line.
    figure_legend(
        fig, axes[0].get_legend_handles_labels()[0], None, "outside lower center", ncols=2
    )
    return fig
