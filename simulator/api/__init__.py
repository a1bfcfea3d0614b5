"""The Python API: everything the CLI does, one import away, returning DataFrames and Figures.

Job: give analysts (mostly in Jupyter) plain objects over the simulator, and
the command line its one front door per command:

- :func:`run` simulates a scenario and returns a :class:`Run`: its scenario,
  seed, summary (a dict, and a DataFrame), its tables as DataFrames, every
  report of :mod:`simulator.reports` as a DataFrame (computed on first use),
  and the plots of :mod:`simulator.plots` as matplotlib Figures.
  :func:`load_run` reads a run directory back into the same object;
  :func:`run_to_dir` is the whole ``creditsim run`` flow, :func:`write_reports`
  ``creditsim report``, :func:`audit` ``creditsim audit``.
- :func:`replay` runs the credit rules engine alone over a history (a CSV
  file, a DataFrame or a list of rows) and returns a :class:`Replay` whose
  ledger can be explained line by line; :func:`replay_to_dir` is
  ``creditsim replay``.
- :func:`sweep` and :func:`compare` run many replications through
  :mod:`simulator.sweeps` and return a :class:`Sweep` / :class:`Comparison`
  (results, summaries with 95 % intervals, paired differences, plots);
  :func:`load_sweep` reads their folders back. :func:`sensitivity` says
  which varied keys drive a metric.
- :func:`fit` calibrates a scenario from account histories and returns a
  :class:`Fit` (:mod:`simulator.calibration`: the scenario, every parameter
  with its interval and method, the validation); ``creditsim fit``.
- :func:`scaled` shrinks a scenario (members, days) for quick looks.

The modules, one job each: :mod:`~simulator.api.runs` (a run),
:mod:`~simulator.api.run_dirs` (run directories as the command line writes
them), :mod:`~simulator.api.tables` (a run's tables and reports),
:mod:`~simulator.api.replays` (the engine alone), :mod:`~simulator.api.sweeps`
(sweeps and comparisons), :mod:`~simulator.api.sensitivity` (studies),
:mod:`~simulator.api.execution` (running a plan: workers, executors),
:mod:`~simulator.api.overrides` (``--set`` overrides) and
:mod:`~simulator.api.notebook` (bars and inline Figures).

Boundary: the API adds no simulation, rule or statistic of its own beyond
presentation (per-tier groupings of existing tables, the explanation of
ledger lines); it calls :mod:`simulator.runner`, :mod:`simulator.engine`,
:mod:`simulator.reports`, :mod:`simulator.plots` and :mod:`simulator.sweeps`.
The CLI is a thin layer over it: it parses, calls one function here, and
formats. Messages name parameters (``workers``, ``out``), never flags.

Notebook behaviour: no ``if __name__ == "__main__"`` guard is needed
(process pools start with ``forkserver``/``spawn`` and run only functions
defined in ``simulator``); progress bars use ``tqdm`` (a widget when
``ipywidgets`` is installed, text otherwise); Figures are built without
``pyplot`` and the API makes IPython show them as PNG when it hands one
out, so a Figure returned by a cell is drawn inline.
"""

from simulator.api.execution import check_plan_memory, execute_plan, saved_runs, unsteady_runs
from simulator.api.overrides import apply_overrides, parse_overrides
from simulator.api.replays import Replay, ReplayedDir, replay, replay_to_dir
from simulator.api.run_dirs import (
    RunInterrupted,
    RunLost,
    SavedRun,
    check_out_dir,
    run_to_dir,
    staged_batches,
    write_reports,
)
from simulator.api.runs import IN_MEMORY_MAX_BYTES, Run, audit, load_run, run, scaled
from simulator.api.sensitivity import DEFAULT_METRICS, METHODS, StudyRun, sensitivity
from simulator.api.sweeps import Comparison, Sweep, compare, load_sweep, sweep
from simulator.api.tables import PLOTS, REPORTS, Reports, Tables
from simulator.calibration import Fit, fit
from simulator.executors import scheduler_problem
from simulator.reports import per_tier
from simulator.scenario import Scenario, load_scenario, scenario_from_dict
from simulator.sweeps import MAX_RUNS, TqdmProgress

__all__ = [
    "DEFAULT_METRICS",
    "IN_MEMORY_MAX_BYTES",
    "MAX_RUNS",
    "METHODS",
    "PLOTS",
    "REPORTS",
    "Comparison",
    "Fit",
    "Replay",
    "ReplayedDir",
    "Reports",
    "Run",
    "RunInterrupted",
    "RunLost",
    "SavedRun",
    "Scenario",
    "StudyRun",
    "Sweep",
    "Tables",
    "TqdmProgress",
    "apply_overrides",
    "audit",
    "check_out_dir",
    "check_plan_memory",
    "compare",
    "execute_plan",
    "fit",
    "load_run",
    "load_scenario",
    "load_sweep",
    "parse_overrides",
    "per_tier",
    "replay",
    "replay_to_dir",
    "run",
    "run_to_dir",
    "saved_runs",
    "scaled",
    "scenario_from_dict",
    "scheduler_problem",
    "sensitivity",
    "staged_batches",
    "sweep",
    "unsteady_runs",
    "write_reports",
]
