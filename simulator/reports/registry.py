"""The registry: every report of a run, how it is computed, written and drawn, in one table.

Job: :data:`REPORTS`, one :class:`Report` per report in presentation order
(that of RUN_DIR/reports/, report.html and ``simulator.api``), saying its
name (also its file stem, ``reports/<name>.<ext>``), what it is, its sums
over one batch of members and how batches' sums are added, how it is
finished, whether it is written to RUN_DIR/reports/, and which
:mod:`simulator.plots` function draws it (``plots/<name>.png``).
:data:`PLOT_NAMES` orders the plots as report.html shows them. The writer
(:func:`simulator.reports.files.write_reports`), the merging of sums
(:mod:`simulator.reports.sums`), report.html and the tests all read this
table, so a report is added in one place.

Boundary: a table of references. What each report computes is in its
family's module; plots are named, not imported, so reading the registry
does not load matplotlib.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from simulator.reports.balances import (
    balance_distribution_finish,
    balance_distribution_sums,
    utilisation,
    utilisation_members_finish,
    utilisation_members_sums,
)
from simulator.reports.groups import add_over, stack_rows
from simulator.reports.headline_metrics import headline_finish, headline_sums
from simulator.reports.refunds import (
    refund_cuts,
    refund_rates_finish,
    refund_rates_sums,
    refund_totals,
    response_delays_finish,
    response_delays_sums,
)
from simulator.reports.revenue import (
    purchases_revenue_finish,
    purchases_revenue_sums,
    rejections_finish,
    rejections_sums,
)
from simulator.reports.run_tables import RunMeta, RunTables
from simulator.reports.vintages import credit_vintages_finish, credit_vintages_sums
from simulator.reports.waste import (
    add_age_histograms,
    credit_age_finish,
    credit_age_sums,
    expiry_waste_by_source_finish,
    expiry_waste_by_source_sums,
    expiry_waste_finish,
    expiry_waste_sums,
)

__all__ = [
    "PLOT_NAMES",
    "REPORTS",
    "REPORT_NAMES",
    "Finishing",
    "Plot",
    "Report",
    "report",
]


class Finishing(Protocol):
    """What a report is finished from besides its own sums: the run's metadata and the
    other reports' finished frames, each finished once (:class:`~simulator.reports.sums.Finished`).
    """

    @property
    def meta(self) -> RunMeta: ...

    def __getitem__(self, name: str) -> pd.DataFrame: ...


#: A report's finishing step: (its sums added over every batch, the run) -> its frame.
Finish = Callable[[Any, Finishing], pd.DataFrame]


@dataclass(frozen=True)
class Plot:
    """How a report is drawn, as ``plots/<report>.png``.

    ``function`` names a :mod:`simulator.plots` function called with the frame
    of report ``frame`` (default: the plot's own report), then with the
    :class:`~simulator.reports.run_tables.RunMeta` attributes named in ``meta``.
    """

    function: str
    frame: str | None = None
    meta: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    """One report of a run.

    ``sums`` and ``combine`` are None for a report finished from other
    reports' frames (a roll-up); ``finish`` is None for one computed from the
    tables at once (``per_tier``, not written).
    """

    name: str  # the API's name, and the file's stem in RUN_DIR/reports/
    description: str  # what it is, in one line
    title: str  # the heading of its table and plot in report.html
    finish: Finish | None  # (its sums, added; the run) -> its frame
    sums: Callable[[RunTables], Any] | None = None  # what one batch of members contributes
    combine: Callable[[list[Any]], Any] | None = None  # adds several batches' sums
    plot: Plot | None = None  # drawn as RUN_DIR/plots/<name>.png
    written: bool = True  # written to RUN_DIR/reports/ (False: an API-only view)

    @property
    def stem(self) -> str:
        """The file's name without extension, in RUN_DIR/reports/ (written reports only)."""
        return self.name


def _headline(sums: pd.DataFrame, run: Finishing) -> pd.DataFrame:
    facts = headline_finish(sums, run["refund_rates"], run["utilisation_members"], run.meta)
    return pd.DataFrame({"metric": list(facts), "value": [float(v) for v in facts.values()]})


#: Every report, in presentation order.
REPORTS: tuple[Report, ...] = (
    Report(
        "headline",
        "The run's headline metrics over the measured window, one row each.",
        "Headline metrics",
        finish=_headline,
        sums=headline_sums,
        combine=add_over(()),
    ),
    Report(
        "expiry_waste",
        "Credits issued and lost per tier and calendar month of the measured window.",
        "Expiry waste per tier and month",
        finish=lambda sums, run: expiry_waste_finish(sums, run.meta),
        sums=expiry_waste_sums,
        combine=add_over(("tier", "_month")),
        plot=Plot("plot_expiry_waste"),
    ),
    Report(
        "expiry_waste_by_source",
        "Expiry waste of the whole window per tier and lot source, with 'all' margins.",
        "Expiry waste per lot source",
        finish=lambda sums, run: expiry_waste_by_source_finish(sums, run.meta),
        sums=expiry_waste_by_source_sums,
        combine=add_over(("tier", "lot_source")),
    ),
    Report(
        "credit_age",
        "Age of credits (days since issue) when spent and when expired, per lot source.",
        "Age of credits when spent or expired",
        finish=lambda sums, run: credit_age_finish(sums),
        sums=credit_age_sums,
        combine=add_age_histograms,
    ),
    Report(
        "credit_vintages",
        "Credits issued per vintage (tier, source, issue month) and where they went by the end.",
        "Credit vintages: each month's credits followed to their fate",
        finish=lambda sums, run: credit_vintages_finish(sums),
        sums=credit_vintages_sums,
        combine=add_over(("tier", "lot_source", "_month", "warmup")),
        plot=Plot("plot_credit_vintages"),
    ),
    Report(
        "refund_rates",
        "Paid InMails and refunds per tier, month sent, category and body-length bucket.",
        "Refund rates",
        finish=lambda sums, run: refund_rates_finish(sums),
        sums=refund_rates_sums,
        combine=add_over(("tier", "month", "category", "length_bucket")),
        plot=Plot("plot_refund_rates", frame="refund_rates_by_tier_category"),
    ),
    Report(
        "refund_rates_by_tier_category",
        "refund_rates summed per tier and category.",
        "Refund rates per tier and category",
        finish=lambda _, run: refund_cuts(run["refund_rates"], ["tier", "category"]),
    ),
    Report(
        "refund_rates_by_length",
        "refund_rates summed per tier and body-length bucket.",
        "Refund rates per tier and body length",
        finish=lambda _, run: refund_cuts(run["refund_rates"], ["tier", "length_bucket"]),
    ),
    Report(
        "refund_totals",
        "refund_rates summed per tier, and over all tiers.",
        "Refund totals per tier",
        finish=lambda _, run: refund_totals(run["refund_rates"]),
    ),
    Report(
        "response_delays",
        "Histogram of the delay from sending to response of paid InMails.",
        "Response delays",
        finish=lambda sums, run: response_delays_finish(sums, run.meta),
        sums=response_delays_sums,
        combine=add_over(("bin",)),
        plot=Plot("plot_response_delays", meta=("refund_window_days",)),
    ),
    Report(
        "utilisation",
        "Distribution of per-member utilisation (spent / granted) per tier.",
        "Utilisation per tier",
        finish=lambda _, run: utilisation(members=run["utilisation_members"]),
        plot=Plot("plot_utilisation"),
    ),
    Report(
        "utilisation_members",
        "Per member and tier held: credits granted, bought, refunded, spent, InMails sent.",
        "Utilisation per member",
        finish=lambda sums, run: utilisation_members_finish(sums),
        sums=utilisation_members_sums,
        combine=stack_rows,
    ),
    Report(
        "balance_distribution",
        "End-of-day credit balances of the members present, per day of the window and tier.",
        "Balances",
        finish=lambda sums, run: balance_distribution_finish(sums, run.meta),
        sums=balance_distribution_sums,
        combine=add_over(("tier", "day", "balance")),
        plot=Plot("plot_balance_distribution"),
    ),
    Report(
        "purchases_revenue",
        "Purchases, credits bought and revenue per tier and calendar month.",
        "Purchases and revenue",
        finish=lambda sums, run: purchases_revenue_finish(sums, run.meta),
        sums=purchases_revenue_sums,
        combine=add_over(("tier", "_month")),
        plot=Plot("plot_purchases_revenue", meta=("currency",)),
    ),
    Report(
        "rejections",
        "Rejected sends and purchases per tier, calendar month, action and reason.",
        "Rejections",
        finish=lambda sums, run: rejections_finish(sums),
        sums=rejections_sums,
        combine=add_over(("tier", "month", "action", "reason")),
    ),
    Report(
        "per_tier",
        "Per starting tier, what an average member sent, got back and lost (API only).",
        "Per starting tier",
        finish=None,
        written=False,
    ),
)

#: The names of :data:`REPORTS`, in order: what ``simulator.api`` offers as ``run.reports``.
REPORT_NAMES: tuple[str, ...] = tuple(r.name for r in REPORTS)

#: The reports with a plot, in the order report.html shows their plots.
PLOT_NAMES: tuple[str, ...] = (
    "expiry_waste",
    "credit_vintages",
    "refund_rates",
    "balance_distribution",
    "response_delays",
    "purchases_revenue",
    "utilisation",
)

_BY_NAME = {r.name: r for r in REPORTS}


def report(name: str) -> Report:
    """The registered report ``name`` (KeyError naming the reports if there is none)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no report {name!r}; the reports are: {', '.join(REPORT_NAMES)}") from None


def _check() -> None:
    """The table is consistent: checked on import, so a wrong entry fails at once."""
    if len(_BY_NAME) != len(REPORTS):
        raise ValueError("reports registry: two reports share a name")
    plotted = {r.name for r in REPORTS if r.plot is not None}
    if set(PLOT_NAMES) != plotted or len(PLOT_NAMES) != len(plotted):
        raise ValueError("reports registry: PLOT_NAMES must list each report with a plot once")
    for r in REPORTS:
        if (r.sums is None) != (r.combine is None):
            raise ValueError(f"reports registry: {r.name}: sums and combine go together")
        if r.written and r.finish is None:
            raise ValueError(f"reports registry: {r.name}: a written report needs a finish")
        if r.plot is not None and r.plot.frame is not None and r.plot.frame not in _BY_NAME:
            raise ValueError(f"reports registry: {r.name}: its plot draws no report")


_check()
