"""Sweeps and compares: many runs of one scenario, streamed to disk, resumable.

A sweep turns a spec (``--grid``/``--zip``/``--range`` flags or a ``sweep:``
block in a scenario file) into an explicit run table, validates every point
before anything runs, hands the runs to an executor
(:mod:`simulator.executors`), writes each finished run at once to its own
file, and at the end builds the tables (``results.parquet``,
``summary.csv``, ``timings.csv``) and plots from those files. ``compare`` is
the same machinery over two scenarios, plus the paired differences; a
sensitivity study (:mod:`simulator.gsa`) is a sweep over a sampled design.

The package, in the order a sweep goes through it:

- :mod:`~simulator.sweeps.spec`: what to sweep. :class:`Axis`,
  :class:`SweepSpec`, the flags and the ``sweep:`` block, scalars as text.
- :mod:`~simulator.sweeps.plan`: the run table. Points and their run ids,
  replication seeds, validation against the scenario (:func:`plan_sweep`,
  :func:`plan_compare`), :class:`RunTable` and :class:`Plan`, order by value.
- :mod:`~simulator.sweeps.folder`: the folder's own files (``sweep.json``,
  ``runs.csv``, one record per run) and :func:`load_run_table`, which reads a
  folder's run table back, typed, without scenarios.
- :mod:`~simulator.sweeps.execution`: running a plan (:func:`execute`),
  checking the folder (:func:`check_out`), resuming, progress,
  :class:`SweepResult`.
- :mod:`~simulator.sweeps.collect`: ``results.parquet``, ``timings.csv``,
  ``summary.csv`` and the plots, built from the records; :func:`read_summary`.
- :mod:`~simulator.sweeps.figures`: a sweep's figures from its run table
  (:func:`plot_sweep_key`, :func:`sweep_points`: the plain inputs
  :mod:`simulator.plots` draws).
- :mod:`~simulator.sweeps.compare`: the paired inputs and ``comparison.csv``
  of a compare, and the notes on pairing.

Statistics are :mod:`simulator.stats`; figures are drawn by
:mod:`simulator.plots`, which sits below this package and imports nothing of
it (``plot_comparison``, ``metric_unit``, ``one_money_version``,
``DEFAULT_PLOT_METRICS``, also importable from here: they are loaded on first
use, since they load matplotlib, which a sweep without plots never needs).
The simulation is :func:`simulator.runner.run`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from simulator.sweeps.collect import read_summary
from simulator.sweeps.compare import compare_notes, comparison_inputs, write_comparison
from simulator.sweeps.execution import (
    Progress,
    SweepResult,
    TqdmProgress,
    check_out,
    execute,
)
from simulator.sweeps.figures import plot_sweep_key, sweep_points
from simulator.sweeps.folder import FORMAT_VERSION, load_run_table
from simulator.sweeps.plan import (
    MAX_RUNS,
    Plan,
    Point,
    RunTable,
    TablePoint,
    canonical_params,
    expand,
    ordered_points,
    plan_compare,
    plan_sweep,
    replication_seed,
    run_id,
)
from simulator.sweeps.spec import (
    MAX_RANGE_VALUES,
    Axis,
    SweepSpec,
    canonical_key,
    load_sweep_scenario,
    parse_axis_arguments,
    parse_scalar_values,
    scalar_text,
    spec_from_block,
    with_spec,
)

if TYPE_CHECKING:
    from simulator.plots import (
        DEFAULT_PLOT_METRICS,
        metric_unit,
        one_money_version,
        plot_comparison,
    )

__all__ = [
    "DEFAULT_PLOT_METRICS",
    "FORMAT_VERSION",
    "MAX_RANGE_VALUES",
    "MAX_RUNS",
    "Axis",
    "Plan",
    "Point",
    "Progress",
    "RunTable",
    "SweepResult",
    "SweepSpec",
    "TablePoint",
    "TqdmProgress",
    "canonical_key",
    "canonical_params",
    "check_out",
    "compare_notes",
    "comparison_inputs",
    "execute",
    "expand",
    "load_run_table",
    "load_sweep_scenario",
    "metric_unit",
    "one_money_version",
    "ordered_points",
    "parse_axis_arguments",
    "parse_scalar_values",
    "plan_compare",
    "plan_sweep",
    "plot_comparison",
    "plot_sweep_key",
    "read_summary",
    "replication_seed",
    "run_id",
    "scalar_text",
    "spec_from_block",
    "sweep_points",
    "with_spec",
    "write_comparison",
]

# Names that live in simulator.plots, kept importable from here as they were.
_FROM_PLOTS = frozenset(
    {"DEFAULT_PLOT_METRICS", "metric_unit", "one_money_version", "plot_comparison"}
)


def __getattr__(name: str) -> Any:
    """The plotting names, from :mod:`simulator.plots` on first use (it loads matplotlib)."""
    if name in _FROM_PLOTS:
        return getattr(import_module("simulator.plots"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
