"""The figures of a fit (``creditsim fit``: ``DIR/plots/``, ``Fit.plot``), from plain inputs.

Job: three charts of :mod:`simulator.calibration`'s evidence, each from
numbers and frames the calibration package hands over (this package imports
nothing above it): the response delays' Kaplan-Meier curve against the
censoring-aware fits, the sending rate of each cohort with its interval, and
the validation of the fitted scenario against the history.

Boundary: drawing only; every number is computed by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from simulator.plots.style import new_figure

__all__ = ["plot_fit_delays", "plot_fit_rates", "plot_fit_validation"]

_SIZE = (8, 4.5)


def plot_fit_delays(
    km: Mapping[str, np.ndarray] | None,
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    best: str | None,
    xmax: float,
) -> Figure:
    """Kaplan-Meier (``km``: ``days``, ``survival``, ``low``, ``high``) of the delays,
    with each family's fitted survival (``curves``: name -> (days, survival)); ``best``
    drawn solid, the others dotted; None ``km``: recipients were not fitted."""
    fig = new_figure(_SIZE)
    ax = fig.add_subplot()
    if km is not None:
        ax.step(km["days"], km["survival"], where="post", color="k", label="Kaplan-Meier")
        ax.fill_between(km["days"], km["low"], km["high"], step="post", color="k", alpha=0.15)
        for kind, (days, survival) in curves.items():
            style = "-" if kind == best else ":"
            ax.plot(days, survival, style, label=f"{kind} (cure model)")
        ax.set_xlim(0, xmax)
        ax.legend()
    else:
        ax.text(0.5, 0.5, "recipients not fitted (too few responses)", ha="center")
    ax.set_xlabel("days since the InMail was sent")
    ax.set_ylabel("share of accepted sends not yet answered")
    ax.set_title("Response delays: censoring-aware fits against Kaplan-Meier")
    return fig


def plot_fit_rates(rows: pd.DataFrame) -> Figure:
    """Each cohort's InMails a month with its 95 % interval (``cohort``, ``estimate``,
    ``low``, ``high``), on a log scale."""
    fig = new_figure(_SIZE)
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    est = rows["estimate"].to_numpy(dtype=float)
    err = np.vstack([est - rows["low"].to_numpy(dtype=float),
                     rows["high"].to_numpy(dtype=float) - est])  # fmt: skip
    ax.errorbar(est, y, xerr=err, fmt="o", capsize=4)
    ax.set_yticks(y, rows["cohort"].tolist())
    ax.set_xscale("log")
    ax.set_xlabel("InMails per month (95 % interval)")
    ax.set_title("Sending rate by cohort")
    return fig


def plot_fit_validation(validation: pd.DataFrame | None) -> Figure:
    """The validation (``metric``, ``observed``, ``simulated_mean``, ``low``, ``high``):
    each metric relative to the simulations' mean, the observed history as a cross."""
    fig = new_figure(_SIZE)
    ax = fig.add_subplot()
    if validation is None or validation.empty:
        ax.text(0.5, 0.5, "no validation (--validate N)", ha="center", va="center")
        ax.set_axis_off()
        return fig
    v = validation
    mean = v["simulated_mean"].to_numpy(dtype=float)
    scale = np.where(np.abs(mean) > 0, np.abs(mean), 1.0)
    y = np.arange(len(v))
    xerr = [(mean - v["low"].to_numpy(dtype=float)) / scale,
            (v["high"].to_numpy(dtype=float) - mean) / scale]  # fmt: skip
    label = "simulated (95 % prediction interval)"
    ax.errorbar(mean / scale, y, xerr=xerr, fmt="o", capsize=4, label=label)
    ax.plot(v["observed"].to_numpy(dtype=float) / scale, y, "kx", markersize=9,
            label="observed history")  # fmt: skip
    ax.set_yticks(y, v["metric"].tolist())
    ax.set_xlabel("relative to the simulations' mean")
    ax.set_title("Validation: the fitted scenario against the history")
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    return fig
