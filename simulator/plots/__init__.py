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

The package, one module per kind of figure:

- :mod:`~simulator.plots.style`: the house style every figure shares (figures,
  plain tick labels, headroom, legends, tier colours, date and month axes) and
  the way out: :func:`figure_png`, :func:`save_figure`,
  :func:`enable_inline_figures`.
- :mod:`~simulator.plots.calibration`: the figures of a fit (``creditsim fit``).
- :mod:`~simulator.plots.run`: the report figures of one run
  (``plots/<name>.png``): expiry waste, refund rates, balances, response
  delays, purchases and revenue, utilisation, credit vintages.
- :mod:`~simulator.plots.steady`: the steady-state check's weekly series and
  its verdict (:func:`steady_state_title`).
- :mod:`~simulator.plots.studies`: replications and sensitivity studies.
- :mod:`~simulator.plots.sweeps`: sweeps (:func:`plot_sweep_key`), compares
  (:func:`plot_comparison`) and response surfaces (:func:`plot_surface`).

Layers: this package sits below :mod:`simulator.sweeps`, :mod:`simulator.api`
and :mod:`simulator.reports`, which call it; it imports nothing of theirs,
only :mod:`simulator.stats`, :mod:`simulator.steady` and
:mod:`simulator.outputs` (tests/unit/test_plots_imports.py checks it). Every
public name is importable from here, as it was from the single module.
"""

from simulator.plots.calibration import plot_fit_delays, plot_fit_rates, plot_fit_validation
from simulator.plots.run import (
    plot_balance_distribution,
    plot_credit_vintages,
    plot_expiry_waste,
    plot_purchases_revenue,
    plot_refund_rates,
    plot_response_delays,
    plot_utilisation,
)
from simulator.plots.steady import STEADY_SERIES, plot_steady_state, steady_state_title
from simulator.plots.studies import (
    plot_replications,
    plot_sensitivity_indices,
    plot_sensitivity_scatter,
)
from simulator.plots.style import HEADROOM, enable_inline_figures, figure_png, save_figure
from simulator.plots.sweeps import (
    DEFAULT_PLOT_METRICS,
    SweepPoint,
    metric_unit,
    one_money_version,
    plot_comparison,
    plot_surface,
    plot_sweep_key,
)

__all__ = [
    "DEFAULT_PLOT_METRICS",
    "HEADROOM",
    "STEADY_SERIES",
    "SweepPoint",
    "enable_inline_figures",
    "figure_png",
    "metric_unit",
    "one_money_version",
    "plot_balance_distribution",
    "plot_comparison",
    "plot_credit_vintages",
    "plot_expiry_waste",
    "plot_fit_delays",
    "plot_fit_rates",
    "plot_fit_validation",
    "plot_purchases_revenue",
    "plot_refund_rates",
    "plot_replications",
    "plot_response_delays",
    "plot_sensitivity_indices",
    "plot_sensitivity_scatter",
    "plot_steady_state",
    "plot_surface",
    "plot_sweep_key",
    "plot_utilisation",
    "save_figure",
    "steady_state_title",
]
