"""A sweep's figures from its run table: the plain inputs :mod:`simulator.plots` draws.

Job: :func:`sweep_points` turns a run table into the points the plotting
package takes (:class:`simulator.plots.SweepPoint`: in order of value, with
each value's text as the run table writes it), and :func:`plot_sweep_key`
draws every varying metric against one key from a run table (a
:class:`~simulator.sweeps.plan.Plan`, or one read back by
:func:`~simulator.sweeps.folder.load_run_table`) and ``summary.csv``'s rows.

Boundary: the order (:func:`~simulator.sweeps.plan.ordered_points`) and the
text of values (:func:`~simulator.sweeps.spec.scalar_text`) are decided here,
in the sweeps package; the drawing is :mod:`simulator.plots`, which imports
nothing of this package. It is imported only when a figure is drawn: it
loads matplotlib, which a sweep without plots never needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from simulator.sweeps.plan import RunTable, TablePoint, ordered_points
from simulator.sweeps.spec import scalar_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from simulator.plots import SweepPoint

__all__ = ["plot_sweep_key", "sweep_points", "table_currency"]


def sweep_points(table: RunTable[TablePoint]) -> list[SweepPoint]:
    """The table's points in order of value, each with its values' texts."""
    # matplotlib is loaded only when a figure is drawn: a sweep without plots never needs it.
    from simulator.plots import SweepPoint

    return [
        SweepPoint(p.run_id, p.params, {k: scalar_text(v) for k, v in p.params.items()})
        for p in ordered_points(table)
    ]


def table_currency(table: RunTable[TablePoint]) -> str | None:
    """The one currency of the table's scenarios; None when they differ or it has none
    (a run table read back from a folder has no scenarios)."""
    scenarios = (getattr(p, "scenario", None) for p in table.points)
    currencies = {sc.pricing.currency for sc in scenarios if sc is not None}
    return currencies.pop() if len(currencies) == 1 else None


def plot_sweep_key(
    table: RunTable[TablePoint],
    summary: pd.DataFrame,
    key: str,
    metrics: str | Sequence[str] | None = None,
) -> Figure:
    """Varying metrics against ``key``: mean with its 95 % band, one line per
    combination of the other swept keys (points only when there are many).

    ``table``: the sweep's run table; ``summary``: ``summary.csv``'s rows.
    ``metrics``: None for :data:`simulator.plots.DEFAULT_PLOT_METRICS`,
    ``"all"`` for every metric, or a list of names (in that order). Money is
    shown once, in currency units (a ``_cents`` metric only when asked for by
    name). Drawn by :func:`simulator.plots.plot_sweep_key`.
    """
    # matplotlib is loaded only when a figure is drawn: a sweep without plots never needs it.
    from simulator import plots

    return plots.plot_sweep_key(sweep_points(table), summary, key, metrics, keys=table.keys,
                                replications=table.replications,
                                currency=table_currency(table))  # fmt: skip
