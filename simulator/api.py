"""The Python API: everything the CLI does, one import away, returning DataFrames and Figures.

Job: give analysts (mostly in Jupyter) plain objects over the simulator:

- :func:`run` simulates a scenario and returns a :class:`Run`: its scenario,
  seed, summary (a dict, and a DataFrame), its tables as DataFrames, every
  report of :mod:`simulator.reports` as a DataFrame (computed on first use),
  and the plots of :mod:`simulator.plots` as matplotlib Figures.
  :func:`load_run` reads a run directory back into the same object.
- :func:`replay` runs the credit rules engine alone over a history (a CSV
  file, a DataFrame or a list of rows) and returns a :class:`Replay` whose
  ledger can be explained line by line.
- :func:`sweep` and :func:`compare` run many replications through
  :mod:`simulator.sweeps` and return a :class:`Sweep` / :class:`Comparison`
  (results, summaries with 95 % intervals, paired differences, plots);
  :func:`load_sweep` reads their folders back.
- :func:`scaled` shrinks a scenario (members, days) for quick looks.

Boundary: this module adds no simulation, rule or statistic of its own
beyond presentation (per-tier groupings of existing tables, the
explanation of ledger lines); it calls :mod:`simulator.runner`,
:mod:`simulator.engine`, :mod:`simulator.reports`, :mod:`simulator.plots`
and :mod:`simulator.sweeps`. The CLI is a thin layer over the same calls.

Notebook behaviour: no ``if __name__ == "__main__"`` guard is needed
(process pools start with ``forkserver``/``spawn`` and run only functions
defined in ``simulator``); progress bars use ``tqdm`` (a widget when
``ipywidgets`` is installed, text otherwise); Figures are built without
``pyplot`` and this module makes IPython show them as PNG when it hands one
out, so a Figure returned by a cell is drawn inline.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import json
import math
import os
import shutil
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from importlib import import_module
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa

from simulator import plots as _plots
from simulator import reports as _reports
from simulator import runner as _runner
from simulator.engine import (
    BALANCE_COLUMNS,
    HISTORY_COLUMNS,
    LEDGER_COLUMNS,
    Policy,
    balances_rows,
    ledger_rows,
    parse_history,
    read_history,
    resolve_policy,
)
from simulator.engine import replay as _engine_replay
from simulator.engine.history import until_problem
from simulator.errors import HistoryError, InputError, PolicyError, UsageError
from simulator.reports import per_tier
from simulator.scenario import Scenario, load_scenario, scenario_from_dict
from simulator.timeutil import format_instant, parse_instant
from simulator.warmup import resolve_warmup

__all__ = [
    "PLOTS",
    "REPORTS",
    "Comparison",
    "Replay",
    "Reports",
    "Run",
    "Sweep",
    "Tables",
    "audit",
    "compare",
    "load_run",
    "load_scenario",
    "load_sweep",
    "per_tier",
    "replay",
    "run",
    "scaled",
    "scenario_from_dict",
    "sensitivity",
    "sweep",
]

#: Names of the reports of a run, as in ``RUN_DIR/reports/`` (see :mod:`simulator.reports`).
REPORTS: tuple[str, ...] = (
    "headline",
    "expiry_waste",
    "expiry_waste_by_source",
    "credit_age",
    "credit_vintages",
    "refund_rates",
    "refund_rates_by_tier_category",
    "refund_rates_by_length",
    "refund_totals",
    "response_delays",
    "utilisation",
    "utilisation_members",
    "balance_distribution",
    "purchases_revenue",
    "rejections",
    "per_tier",
)

#: Names of the plots of a run, as in ``RUN_DIR/plots/``.
PLOTS: tuple[str, ...] = (
    "expiry_waste",
    "credit_vintages",
    "refund_rates",
    "balance_distribution",
    "response_delays",
    "purchases_revenue",
    "utilisation",
)

_TABLES = ("ledger", "inmails", "members", "billing")
_DAY = 86_400


# ---------------------------------------------------------------------------
# Presentation helpers: progress bars and inline figures


def _tqdm() -> Any:
    """tqdm's notebook widget when ipywidgets is there, else the text bar (never a warning)."""
    try:
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm import tqdm
    return tqdm


def _figure(fig: Any) -> Any:
    _plots.enable_inline_figures()
    return fig


def _frame_repr(name: str, items: Iterable[str]) -> str:
    return f"{name}({', '.join(items)})"


# ---------------------------------------------------------------------------
# Tables and reports of one run


def _seconds_utc(frame: pd.DataFrame) -> pd.DataFrame:
    """Every tz-aware datetime column as ``datetime64[s, UTC]`` (Parquet stores ms)."""
    out = frame
    for name in frame.columns:
        dtype = frame[name].dtype
        if isinstance(dtype, pd.DatetimeTZDtype) and str(dtype) != "datetime64[s, UTC]":
            if out is frame:
                out = frame.copy()
            out[name] = frame[name].astype("datetime64[s, UTC]")
    return out


class Tables:
    """The tables of one run as pandas DataFrames.

    ``ledger`` (every credit movement and rejection, RULES.md section 5 plus
    ``tier``, ``lot_source``, ``lot_issued_at``), ``inmails`` (one row per
    attempted InMail), ``members``, ``billing`` (subscription charges) and
    ``history`` (every member action in the replay format, all text).
    Instants are ``datetime64[s, UTC]``. Treat the frames as read-only.

    >>> r = run(scaled(load_scenario("scenarios/baseline.yaml"), 0.02, duration_days=30),
    ...         progress=False)
    >>> r.tables.ledger.columns[:4].tolist()
    ['time', 'member', 'tier', 'kind']
    """

    def __init__(self, load: Mapping[str, Callable[[], pd.DataFrame]]) -> None:
        self._load = dict(load)
        self._cache: dict[str, pd.DataFrame] = {}

    def _get(self, name: str) -> pd.DataFrame:
        if name not in self._cache:
            frame = self._load[name]()
            self._cache[name] = frame if name == "history" else _seconds_utc(frame)
        return self._cache[name]

    @property
    def ledger(self) -> pd.DataFrame:
        """Every credit movement and every rejection, in time order."""
        return self._get("ledger")

    @property
    def inmails(self) -> pd.DataFrame:
        """One row per attempted InMail (sender, times, category, lengths, response, refund)."""
        return self._get("inmails")

    @property
    def members(self) -> pd.DataFrame:
        """One row per member: cohort, initial and final tier, subscription, send rate."""
        return self._get("members")

    @property
    def billing(self) -> pd.DataFrame:
        """Subscription charges: member, tier, time, amount_cents."""
        return self._get("billing")

    @property
    def history(self) -> pd.DataFrame:
        """Every member action as text rows of the replay format (RULES.md section 8)."""
        return self._get("history")

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in (*_TABLES, "history"):
            raise KeyError(name)
        return self._get(name)

    def __repr__(self) -> str:
        return _frame_repr("Tables", (*_TABLES, "history"))


class Reports(Mapping[str, pd.DataFrame]):
    """Every report of a run as a DataFrame, computed on first use and kept.

    A mapping (``run.reports["expiry_waste"]``, ``list(run.reports)``) whose
    entries are also attributes (``run.reports.refund_rates``). The names
    and columns are those of :mod:`simulator.reports` (see ``REPORTS``),
    plus ``per_tier`` (:meth:`Run.per_tier`).

    >>> r = run(scaled(load_scenario("scenarios/baseline.yaml"), 0.02, duration_days=30),
    ...         progress=False)
    >>> r.reports.refund_totals.columns[:3].tolist()
    ['tier', 'inmails_paid', 'responses_within_window']
    """

    def __init__(self, tables: _reports.RunTables) -> None:
        self._tables = tables
        self._cache: dict[str, pd.DataFrame] = {}

    def _compute(self, name: str) -> pd.DataFrame:
        t = self._tables
        if name == "headline":
            facts = _reports.headline(
                t, rates=self["refund_rates"], members=self["utilisation_members"]
            )
            return pd.DataFrame({"metric": list(facts), "value": list(facts.values())})
        if name == "refund_rates_by_tier_category":
            return _reports.refund_cuts(self["refund_rates"], ["tier", "category"])
        if name == "refund_rates_by_length":
            return _reports.refund_cuts(self["refund_rates"], ["tier", "length_bucket"])
        if name == "refund_totals":
            return _reports.refund_totals(self["refund_rates"])
        if name == "utilisation":
            return _reports.utilisation(t, self["utilisation_members"])
        if name == "per_tier":
            return per_tier(t)
        return cast(pd.DataFrame, getattr(_reports, name)(t))

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in REPORTS:
            raise KeyError(f"no report {name!r}; the reports are: {', '.join(REPORTS)}")
        if name not in self._cache:
            self._cache[name] = self._compute(name)
        return self._cache[name]

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name.startswith("_") or name not in REPORTS:
            raise AttributeError(name)
        return self[name]

    def __iter__(self) -> Iterator[str]:
        return iter(REPORTS)

    def __len__(self) -> int:
        return len(REPORTS)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *REPORTS})

    def __repr__(self) -> str:
        return _frame_repr("Reports", REPORTS)


class _Plots(Mapping[str, Any]):
    """The plots of a run, by name, drawn on first use."""

    def __init__(self, owner: Run) -> None:
        self._owner = owner
        self._cache: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._cache:
            self._cache[name] = self._owner.plot(name)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(PLOTS)

    def __len__(self) -> int:
        return len(PLOTS)

    def __repr__(self) -> str:
        return _frame_repr("Plots", PLOTS)


# ---------------------------------------------------------------------------
# A run


class Run:
    """One simulated run: scenario, seed, summary, tables, reports and plots.

    Made by :func:`run` (in memory) or :func:`load_run` (from a run
    directory); both give equal tables, summaries and reports.

    - ``scenario``: the resolved :class:`~simulator.scenario.Scenario`;
      ``seed``: the seed it ran with; ``meta``: the ``run.json`` facts.
    - ``summary``: the headline metrics over the measured window (a dict,
      as ``summary.json``); ``summary_frame``: the same as a DataFrame.
    - ``tables``: :class:`Tables` (``ledger``, ``inmails``, ``members``,
      ``billing``, ``history`` DataFrames).
    - ``reports``: :class:`Reports`, every report DataFrame, lazily.
    - ``plot(name)`` / ``plots[name]``: matplotlib Figures (``PLOTS``).
    - ``save(dir)``: write the run directory, reports, plots and report.html.

    >>> r = run(scaled("scenarios/baseline.yaml", 0.05, duration_days=60), progress=False)
    >>> round(r.summary["expiry_waste_rate"], 3)  # doctest: +SKIP
    0.301
    >>> r.reports.expiry_waste.head()  # doctest: +SKIP
    >>> r.plot("expiry_waste")  # doctest: +SKIP
    """

    def __init__(
        self,
        scenario: Scenario,
        summary: Mapping[str, Any],
        meta: Mapping[str, Any],
        tables: Tables,
        *,
        result: Any = None,
        directory: Path | None = None,
        loaded: _reports.RunTables | None = None,
    ) -> None:
        self.scenario = scenario
        self.seed = int(meta.get("seed", scenario.seed))
        self.summary: dict[str, Any] = dict(summary)
        self.meta: dict[str, Any] = dict(meta)
        self.tables = tables
        self.directory = directory
        self._result = result
        self._loaded = loaded

    @cached_property
    def summary_frame(self) -> pd.DataFrame:
        """The summary as a two-column DataFrame, ``metric`` and ``value`` (exact numbers)."""
        return pd.DataFrame(
            {
                "metric": list(self.summary),
                "value": pd.Series(list(self.summary.values()), dtype=object),
            }
        )

    @cached_property
    def report_tables(self) -> _reports.RunTables:
        """The tables in the form :mod:`simulator.reports` reads (for its functions)."""
        if self._result is not None:
            # The run's own Arrow tables: the reports read their dictionary codes directly.
            return _reports.RunTables.of(self._result.tables, self.meta, self.summary)
        if self._loaded is not None:  # read from a run directory: its files, as far as used
            return self._loaded
        t = self.tables
        return _reports.RunTables(
            ledger=t.ledger,
            inmails=t.inmails,
            members=t.members,
            billing=t.billing,
            meta=self.meta,
            summary=self.summary,
        )

    @cached_property
    def reports(self) -> Reports:
        """Every report as a DataFrame (``run.reports.expiry_waste``), computed on first use."""
        return Reports(self.report_tables)

    def per_tier(self) -> pd.DataFrame:
        """Per starting tier: what an average member sent, got back and lost (see ``per_tier``).

        >>> r = run(scaled("scenarios/baseline.yaml", 0.05, duration_days=60), progress=False)
        >>> r.per_tier()[["tier", "members", "sent", "expired"]]  # doctest: +SKIP
        """
        return self.reports["per_tier"]

    def plot(self, name: str) -> Any:
        """A new matplotlib Figure of the plot ``name`` (one of ``PLOTS``).

        >>> r = run(scaled("scenarios/baseline.yaml", 0.02, duration_days=30), progress=False)
        >>> fig = r.plot("refund_rates")
        """
        rep = self.reports
        t = self.report_tables
        draw: dict[str, Callable[[], Any]] = {
            "expiry_waste": lambda: _plots.plot_expiry_waste(rep["expiry_waste"]),
            "credit_vintages": lambda: _plots.plot_credit_vintages(rep["credit_vintages"]),
            "refund_rates": lambda: _plots.plot_refund_rates(rep["refund_rates_by_tier_category"]),
            "balance_distribution": lambda: _plots.plot_balance_distribution(
                rep["balance_distribution"]
            ),
            "response_delays": lambda: _plots.plot_response_delays(
                rep["response_delays"], t.refund_window_days
            ),
            "purchases_revenue": lambda: _plots.plot_purchases_revenue(
                rep["purchases_revenue"], t.currency
            ),
            "utilisation": lambda: _plots.plot_utilisation(rep["utilisation"]),
        }
        if name not in draw:
            raise KeyError(f"no plot {name!r}; the plots are: {', '.join(PLOTS)}")
        return _figure(draw[name]())

    @cached_property
    def plots(self) -> Mapping[str, Any]:
        """Every plot by name (``run.plots["expiry_waste"]``), drawn on first use."""
        return _Plots(self)

    def replay(self, members: str | Sequence[str] | None = None) -> Replay:
        """Replay this run's history (or only ``members``') through the engine alone.

        Uses the run's policy and settles up to the run's end, so the ledger
        equals the run's own ledger for those members.

        >>> r = run(scaled("scenarios/baseline.yaml", 0.02, duration_days=30), progress=False)
        >>> busy = r.tables.ledger["member"].iloc[-1]
        >>> audit = r.replay(busy)
        >>> own = r.tables.ledger.loc[r.tables.ledger["member"] == busy, list(audit.ledger)]
        >>> audit.ledger.equals(own.reset_index(drop=True))
        True
        """
        hist = self.tables.history
        if members is not None:
            wanted = [members] if isinstance(members, str) else list(members)
            hist = hist[hist["member"].isin(wanted)]
        return replay(hist, policy=self.scenario.policy, until=self.scenario.end)

    def save(
        self, out: str | os.PathLike[str], *, reports: bool = True, overwrite: bool = False
    ) -> Path:
        """Write the run directory ``out`` (as ``creditsim run`` does) and return its path.

        With ``reports`` (the default) also ``reports/``, ``plots/`` and
        ``report.html``. An existing non-empty ``out`` is replaced only with
        ``overwrite``, and only if it is a run directory.

        >>> r = run(scaled("scenarios/baseline.yaml", 0.02, duration_days=30), progress=False)
        >>> r.save("runs/quick", overwrite=True)  # doctest: +SKIP
        PosixPath('runs/quick')
        """
        from simulator.runner import RunResult, write_run

        path = Path(out)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            if not (path / "run.json").is_file():
                raise UsageError(f"{path}: exists and is not a creditsim run directory")
            if not overwrite:
                raise UsageError(f"{path}: holds an earlier run; pass overwrite=True to replace it")
        result = self._result
        if result is None and self.directory is not None:
            result = self._copied_parts(path)
        elif result is None:
            result = RunResult(
                self.scenario, self.seed, self._arrow_tables(), self.summary, self.meta
            )
        failed: list[str] = []
        try:
            if reports:
                write_run(result, path, before_publish=lambda tmp: failed.extend(
                    _reports.reports_or_problems(tmp)))  # fmt: skip
            else:
                write_run(result, path)
        except BaseException:
            if result is not self._result and result.staged is not None:
                shutil.rmtree(result.staged, ignore_errors=True)  # our copy, not a resumable run
            raise
        if failed:
            raise InputError(
                *failed,
                f"{path}: the run was saved without its reports; "
                f"`creditsim report {path}` writes them again",
            )
        return path

    def _copied_parts(self, out: Path) -> Any:
        """A result whose parts are copies of this run directory's, staged for ``out``: a
        loaded run is saved byte for byte, and never read into memory to be saved."""
        from simulator import runformat
        from simulator.runner import RunResult
        from simulator.yamlio import dump_yaml

        assert self.directory is not None
        ranges = [range(*b["members"]) for b in self.meta["batches"]]
        plan = runformat.plan_of(dump_yaml(self.scenario.to_dict()),
                                 int(self.meta["batch_members"]), ranges[-1].stop)  # fmt: skip
        staged, _ = runformat.start_staging(out, plan, resume=False)
        for name in runformat.PARTS:
            (staged / name).mkdir()
            for part in runformat.parts(self.directory, name):
                shutil.copyfile(part, staged / name / part.name)
        return RunResult(self.scenario, self.seed, None, self.summary, self.meta, staged)

    def _arrow_tables(self) -> Any:
        from simulator.tables import SimTables as ArrowTables

        t = self.tables

        def arrow(frame: pd.DataFrame) -> pa.Table:
            # The schema write_run gives a run's own tables: plain string
            # columns, no pandas metadata.
            table = pa.Table.from_pandas(frame, preserve_index=False)
            text = pa.string()
            schema = pa.schema(
                [f.with_type(text) if pa.types.is_large_string(f.type) else f for f in table.schema]
            )
            return table.cast(schema).replace_schema_metadata(None)

        events = int(self.meta.get("counts", {}).get("simpy_events", 0))
        return ArrowTables(
            arrow(t.ledger),
            arrow(t.inmails),
            arrow(t.members),
            arrow(t.billing),
            arrow(t.history),
            events,
        )

    def __repr__(self) -> str:
        s = self.summary

        def pct(key: str) -> str:
            value = s.get(key)
            return "n/a" if value is None else f"{100 * value:.1f}%"

        where = f", directory={str(self.directory)!r}" if self.directory else ""
        return (
            f"<Run {self.scenario.name!r} seed={self.seed}: {s.get('members', 0):,} members, "
            f"{s.get('inmails_sent', 0):,} InMails sent, refund rate {pct('refund_rate')}, "
            f"expiry waste {pct('expiry_waste_rate')}{where}>"
        )


def _scenario(scenario: Scenario | str | os.PathLike[str]) -> Scenario:
    return scenario if isinstance(scenario, Scenario) else load_scenario(os.fspath(scenario))


def run(
    scenario: Scenario | str | os.PathLike[str],
    seed: int | None = None,
    workers: int = 1,
    *,
    executor: Any = None,
    progress: bool = True,
    overrides: Mapping[str | tuple[str | int, ...], Any] | None = None,
    batch_members: int | None = None,
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Run:
    """Simulate ``scenario`` (a Scenario or a YAML path) and return the :class:`Run`.

    ``seed`` replaces the scenario's seed; ``overrides`` are applied first
    (``{"policy.refund.window_days": 14}``, as ``--set``). ``workers`` > 1
    splits the members over that many local processes, with identical
    results; no ``if __name__ == "__main__"`` guard is needed in a notebook.
    ``executor`` may be ``"dask"`` (a new local Dask cluster, closed after
    the run), ``"local"``, or an executor of :mod:`simulator.executors`
    (left open). In a script run as ``python script.py`` (not a notebook),
    several workers need the usual ``if __name__ == "__main__":`` guard.
    ``progress`` shows a bar over simulated days (with several processes,
    it moves as each batch of members finishes). ``batch_members`` is how
    many members are simulated and checked together (the unit of work of the
    workers; default :data:`simulator.runner.DEFAULT_BATCH_MEMBERS`); the
    results are the same for any value.

    Where the tables live: a run expected to need at most
    :data:`IN_MEMORY_MAX_BYTES` (2 GiB) to hold its tables in memory
    (:func:`simulator.estimate.estimate_run_bytes`; ``scenarios/baseline.yaml``:
    about 1.2 GiB) is held in memory. A larger one is written, batch by
    batch, as a run directory, to ``out`` if given (replaced only with
    ``overwrite``; no reports are written: ``Run.save`` or ``creditsim
    report`` writes them) or else to a scratch folder removed when Python
    exits; the returned Run reads its tables from there only when asked, a
    table at a time (``run.tables.ledger`` of ``scenarios/bench.yaml`` is
    19.4M rows, about 3 GB as a DataFrame; ``run.reports`` reads only the
    columns each report uses). ``out`` writes any run there, whatever its size.

    >>> from simulator import load_scenario, run
    >>> base = load_scenario("scenarios/baseline.yaml")
    >>> small = base.with_overrides({"population[0].members": 50, "duration_days": 30})
    >>> r = run(small, seed=7, workers=2)  # doctest: +SKIP
    >>> r.summary["refund_rate"]  # doctest: +SKIP
    0.81...
    """
    from simulator.runner import run as _run

    sc = _scenario(scenario)
    if overrides:
        sc = sc.with_overrides(overrides, source=f"{sc.source} (overrides)")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UsageError(f"workers must be a whole number >= 1, got {workers!r}")
    batch = _runner.DEFAULT_BATCH_MEMBERS if batch_members is None else batch_members
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise UsageError(f"batch_members must be a whole number >= 1, got {batch_members!r}")
    # warmup_days: auto runs a short pilot first (simulator.warmup), on the
    # scenario's own seed (as sweeps do), before ``seed`` replaces it.
    sc, warmup_record = resolve_warmup(sc)
    if seed is not None and seed != sc.seed:
        sc = sc.with_overrides({"seed": seed}, source="seed")
    folder = _run_folder(sc, out, overwrite)
    bar = None
    callback = None
    if progress:
        total = round((sc.end + 1 - sc.sim_start) / _DAY, 1)
        bar = _tqdm()(total=total, unit="day", desc=f"simulating {sc.name}", leave=False)

        def callback(seconds: float) -> None:
            bar.update(seconds / _DAY)

    if workers > 1 or executor is not None:
        _check_not_bootstrapping()
    try:
        with contextlib.ExitStack() as stack:
            if isinstance(executor, str) and not (executor == "local" and workers == 1):
                from simulator.executors import make_executor

                # Ours to stop: on an error or Ctrl-C, local workers are killed, not awaited.
                executor = stack.enter_context(
                    make_executor(executor, workers if workers > 1 else None)
                )
            elif isinstance(executor, str):
                executor = None
            shards = workers if executor is None or workers > 1 else max(
                1, int(getattr(executor, "workers", 1)))  # fmt: skip
            result = _run(sc, workers=shards, progress=callback, executor=executor,
                          warmup_record=warmup_record, batch_members=batch,
                          out=folder)  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    if folder is not None:
        from simulator.runner import write_run

        write_run(result, folder)
        return load_run(folder)
    t = result.tables
    assert t is not None  # runner.run keeps the tables unless asked not to
    tables = Tables(
        {
            "ledger": lambda: t.ledger,
            "inmails": lambda: t.inmails,
            "members": lambda: t.members,
            "billing": lambda: t.billing,
            "history": lambda: t.history.to_pandas(),
        }
    )
    return Run(result.scenario, result.summary, result.meta, tables, result=result)


#: The most memory a run held in memory is expected to need
#: (:func:`simulator.estimate.estimate_run_bytes`) for :func:`run` to hold it there;
#: a larger run is written to a run directory and read from it on request.
IN_MEMORY_MAX_BYTES = 2 << 30


def _run_folder(sc: Scenario, out: str | os.PathLike[str] | None, overwrite: bool) -> Path | None:
    """Where :func:`run` writes the run directory: ``out``, a scratch folder for a run too
    large to hold in memory, or None (in memory)."""
    from simulator import estimate

    if out is None:
        if estimate.estimate_run_bytes(sc) <= IN_MEMORY_MAX_BYTES:
            return None
        from simulator.scratch import scratch_dir

        return scratch_dir("run") / "run"
    path = Path(out)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        if not (path / "run.json").is_file():
            raise UsageError(f"{path}: exists and is not a creditsim run directory")
        if not overwrite:
            raise UsageError(f"{path}: holds an earlier run; pass overwrite=True to replace it")
    return path


def audit(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> Any:
    """Check that a run directory is what the credit rules give (``creditsim audit``).

    Replays each of its history parts (``history/part-i.csv``) through the
    engine under its own policy and compares the ledger line for line with the
    ledger part of the same name (``ledger/part-i.parquet``), then checks the
    end-of-run invariants again; returns a
    :class:`simulator.run_audit.AuditResult` (``.ok``, ``.differences`` per
    member, ``.problems``). When the run fails, the members concerned are
    written as replayable histories to ``out/audit-failures/`` (``out``
    defaults to the run directory). A folder that is not a whole run
    directory of format 2 raises :class:`InputError`, one line.

    >>> audit("runs/baseline-seed20140101").ok  # doctest: +SKIP
    True
    """
    return import_module("simulator.run_audit").audit_run(run_dir, out)


def load_run(run_dir: str | os.PathLike[str]) -> Run:
    """Read a run directory written by ``creditsim run`` or :meth:`Run.save`.

    Its tables, summary and reports equal those of the run in memory.

    >>> r = load_run("runs/baseline-seed20140101")  # doctest: +SKIP
    >>> r.reports.refund_totals  # doctest: +SKIP
    """
    from simulator.runformat import history_parts, history_text

    root = Path(run_dir)
    loaded = _reports.load_run_tables(root)  # refuses what is not a run directory of format 2
    scenario = load_scenario(root / "scenario.yaml")

    def history() -> pd.DataFrame:
        return history_text(history_parts(root)).to_pandas()

    tables = Tables(
        {
            "ledger": lambda: loaded.ledger,
            "inmails": lambda: loaded.inmails,
            "members": lambda: loaded.members,
            "billing": lambda: loaded.billing,
            "history": history,
        }
    )
    return Run(scenario, loaded.summary, loaded.meta, tables, directory=root, loaded=loaded)


def scaled(
    scenario: Scenario | str | os.PathLike[str],
    fraction: float = 1.0,
    *,
    duration_days: int | None = None,
    warmup_days: int | None = None,
) -> Scenario:
    """``scenario`` with every cohort's members multiplied by ``fraction`` (at least 1 each).

    ``duration_days`` and ``warmup_days`` shorten (or lengthen) the run. The
    tier mix and everything else stay, so a small run is a quick preview of
    the full one (with wider confidence intervals).

    >>> base = load_scenario("scenarios/baseline.yaml")
    >>> small = scaled(base, 0.1, duration_days=180, warmup_days=60)
    >>> small.members
    300
    """
    sc = _scenario(scenario)
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not fraction > 0:
        raise UsageError(f"fraction must be a number > 0, got {fraction!r}")
    overrides: dict[str | tuple[str | int, ...], Any] = {
        f"population[{i}].members": max(1, round(c.members * fraction))
        for i, c in enumerate(sc.population)
    }
    if duration_days is not None:
        overrides["duration_days"] = duration_days
        overrides["end"] = None
    if warmup_days is not None:
        overrides["warmup_days"] = warmup_days
    return sc.with_overrides(overrides, source=f"{sc.source} (scaled)")


# ---------------------------------------------------------------------------
# Replay


_EXPLAIN_REJECT = {
    "body_length": "the body is not 1..{max_body_chars} characters (R4)",
    "subject_length": "the subject is not 1..{max_subject_chars} characters (R4)",
    "category": "the category is not one of the policy's categories (R4)",
    "no_credit": "no credit left to pay for it (R4)",
    "quantity": "a purchase must be 1..{max_per_purchase} credits (R5)",
    "not_purchasable": "this plan may not buy credits (R5)",
    "purchased_cap": "the purchased balance would exceed {max_purchased_balance} (R5)",
    "allotment_left": "a premium member may buy only once its allotted credits are used up (R5)",
}


class Replay:
    """The credit rules engine run over a history: its ledger and closing balances.

    ``ledger``: RULES.md section 5 (``time`` as ``datetime64[s, UTC]``,
    ``quantity`` and ``balance_after`` as integers), in time order;
    ``balances``: ``member``, ``balance``, ``allotted``, ``purchased`` at
    ``until``; ``policy``; ``until`` (a UTC Timestamp); ``actions``: how
    many history rows were applied. :meth:`explain` says why each ledger
    line is there; :meth:`save` writes what ``creditsim replay`` writes.

    >>> audit = replay("scenarios/examples/history.csv")
    >>> audit.balances
      member  balance  allotted  purchased
    0  alice        0         0          0
    1    bob        3         0          3
    """

    def __init__(self, policy: Policy, actions: list[Any], until: int | None) -> None:
        result = _engine_replay(policy, actions, until)
        self.policy = policy
        self._actions = actions
        self._result = result
        self._until = result.until
        self.until = pd.Timestamp(result.until, unit="s", tz="UTC")
        self.actions = sum(1 for a in actions if a.time <= result.until)
        self._ledger_text = ledger_rows(result.engine)
        self._balances_text = balances_rows(result)

    @property
    def rows(self) -> int:
        """How many rows the history has (``actions``: those applied, up to ``until``)."""
        return len(self._actions)

    @property
    def members(self) -> int:
        """How many members the history names up to ``until``."""
        return len(self._balances_text)

    @property
    def held(self) -> int:
        """Credits held by all members at ``until``."""
        return sum(int(row[1]) for row in self._balances_text)

    def kinds(self) -> dict[str, int]:
        """Ledger entries per kind (``grant``, ``spend``, ...), sorted by kind."""
        counts: dict[str, int] = {}
        for row in self._ledger_text:
            counts[row[2]] = counts.get(row[2], 0) + 1
        return dict(sorted(counts.items()))

    @cached_property
    def ledger(self) -> pd.DataFrame:
        """Every credit movement and rejection, with the balance after it."""
        frame = pd.DataFrame(self._ledger_text, columns=list(LEDGER_COLUMNS))
        for name in ("member", "kind", "lot", "inmail", "reason"):
            frame[name] = frame[name].astype(str)
        frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601").astype(
            "datetime64[s, UTC]"
        )
        for name in ("quantity", "balance_after"):
            frame[name] = frame[name].astype(np.int64)
        return frame

    @cached_property
    def balances(self) -> pd.DataFrame:
        """Each member's balance, allotted (grant + refund) and purchased credits at ``until``."""
        frame = pd.DataFrame(self._balances_text, columns=list(BALANCE_COLUMNS))
        frame["member"] = frame["member"].astype(str)
        for name in BALANCE_COLUMNS[1:]:
            frame[name] = frame[name].astype(np.int64)
        return frame

    def explain(self, member: str | None = None) -> pd.DataFrame:
        """The ledger (of ``member``, or everyone) with an ``explanation`` of each line.

        Each explanation names the rule (RULES.md section 4) behind the
        entry: which lot a spend came from and when that lot expires, why a
        refund was paid, why credits expired, were capped or forfeited, why
        an action was rejected.

        >>> replay("scenarios/examples/history.csv").explain("bob")[["kind", "explanation"]]
        ... # doctest: +SKIP
        """
        led = self.ledger
        if member is not None:
            if member not in set(led["member"]):
                raise KeyError(f"no ledger entry for member {member!r}")
            led = led[led["member"] == member]
        led = led.reset_index(drop=True)
        text = [self._explain_row(row) for row in led.itertuples(index=False)]
        out = led.copy()
        out["explanation"] = text
        return out

    @cached_property
    def _lots(self) -> dict[str, tuple[str, int]]:
        """Lot id -> (source, issued at)."""
        lots: dict[str, tuple[str, int]] = {}
        for time, _m, kind, lot, *_ in self._ledger_text:
            if kind in ("grant", "purchase", "refund") and lot and lot not in lots:
                lots[lot] = (kind, parse_instant(time))
        return lots

    @cached_property
    def _plans(self) -> dict[str, list[tuple[int, str, str]]]:
        """Member -> its subscribe/change_tier/cancel actions as (time, action, tier)."""
        plans: dict[str, list[tuple[int, str, str]]] = {}
        for a in self._actions:
            if a.action in ("subscribe", "change_tier", "cancel") and a.time <= self._until:
                plans.setdefault(a.member, []).append((a.time, a.action, a.tier))
        return plans

    def _tier_at(self, member: str, t: int) -> str | None:
        tier = None
        for when, action, name in self._plans.get(member, []):
            if when > t:
                break
            if action != "cancel":
                tier = name
        return tier

    def _expiry_text(self, source: str, issued: int) -> str:
        days = {
            "grant": self.policy.grant_expiry_days,
            "refund": self.policy.refund_expiry_days,
            "purchase": self.policy.purchase_expiry_days,
        }[source]
        if days is None:
            return "never expires"
        return f"expires {format_instant(issued + days * _DAY)} ({days} days, R2)"

    def _explain_row(self, row: Any) -> str:
        p = self.policy
        t = int(row.time.timestamp())
        lot = row.lot
        source, issued = self._lots.get(lot, ("", t))
        q = int(row.quantity)
        credits = f"{q} credit{'s' if q != 1 else ''}"
        kind = row.kind
        if kind == "grant":
            tier = self._tier_at(row.member, t) or "its plan"
            expiry = self._expiry_text("grant", t)
            return f"monthly grant of {tier} (R1): {credits} in new lot {lot}, {expiry}"
        if kind == "purchase":
            return f"bought {credits} in new lot {lot}, {self._expiry_text('purchase', t)} (R5)"
        if kind == "spend":
            rule = (
                "the live lot that expires first (R3)"
                if p.spend_order == "earliest_expiry"
                else "the oldest live lot (R3, fifo)"
            )
            return (
                f"paid InMail {row.inmail}: 1 credit from {source} lot {lot} (issued "
                f"{format_instant(issued)}), {rule}"
            )
        if kind == "refund":
            window = p.refund.window_days
            why = (
                f"no response within {window} days"
                if p.refund.mode == "no_response_within"
                else f"a response within {window} days"
            )
            return (
                f"credit back for InMail {row.inmail}: {why} (R6); new refund lot {lot}, "
                f"{self._expiry_text('refund', t)}"
            )
        if kind == "expire":
            return (
                f"{credits} of {source} lot {lot} (issued {format_instant(issued)}) expired "
                "unused (R2)"
            )
        if kind == "cap":
            held = self._tier_at(row.member, t)
            cap = p.tiers[held].cap if held is not None and held in p.tiers else None
            what = f"the cap of {cap} for {held}" if cap is not None else "the tier's cap"
            return (
                f"{credits} of {source} lot {lot} removed: after the grant the allotted "
                f"balance was above {what} (R7)"
            )
        if kind == "forfeit":
            changed = any(
                when == t and action != "cancel"
                for when, action, _ in self._plans.get(row.member, [])
            )
            why = (
                "the plan changed at this instant (R9)"
                if changed
                else "the cancelled subscription ended (R8)"
            )
            return f"{credits} of {source} lot {lot} forfeited: {why}"
        if kind == "reject":
            reason = _EXPLAIN_REJECT.get(row.reason, row.reason).format(
                max_body_chars=p.max_body_chars,
                max_subject_chars=p.max_subject_chars,
                max_per_purchase=p.max_per_purchase,
                max_purchased_balance=p.max_purchased_balance,
            )
            what = f"send of InMail {row.inmail}" if row.inmail else "purchase"
            return f"{what} rejected, nothing consumed: {reason}"
        return kind  # pragma: no cover - every kind is handled above

    def save(self, out: str | os.PathLike[str], *, part: str | None = None) -> Path:
        """Write ``out/ledger.csv`` and ``out/balances.csv`` exactly as ``creditsim replay`` does.

        With ``part`` (a history part's name, ``part-00000``), write
        ``out/ledger/part-00000.csv`` and ``out/balances/part-00000.csv``
        instead, as ``creditsim replay RUN/history`` does for each part.

        >>> replay("scenarios/examples/history.csv").save("runs/example")  # doctest: +SKIP
        """
        from simulator.outputs import atomic_write_bytes, atomic_write_many, csv_text

        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        ledger = csv_text(LEDGER_COLUMNS, self._ledger_text)
        balances = csv_text(BALANCE_COLUMNS, self._balances_text)
        if part is None:
            atomic_write_many(path, {"ledger.csv": ledger, "balances.csv": balances})
            return path
        for folder, text in (("ledger", ledger), ("balances", balances)):
            (path / folder).mkdir(exist_ok=True)
            atomic_write_bytes(path / folder / f"{part}.csv", text.encode("utf-8"))
        return path

    def __repr__(self) -> str:
        held = int(self.balances["balance"].sum()) if len(self._balances_text) else 0
        return (
            f"<Replay: {self.actions} actions, {len(self._balances_text)} member(s), "
            f"{len(self._ledger_text)} ledger entries up to {format_instant(self._until)}, "
            f"{held} credits held>"
        )


def _policy(policy: Any) -> Policy:
    """A Policy from None, a Policy, a Scenario, a Run, a preset name, a block or a YAML path."""
    if policy is None:
        return resolve_policy(None)
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, Scenario):
        return policy.policy
    if isinstance(policy, Run):
        return policy.scenario.policy
    if isinstance(policy, Mapping):
        return resolve_policy(dict(policy), source="<policy>")
    if isinstance(policy, str) and policy in _preset_names():
        return resolve_policy({"preset": policy}, source="<policy>")
    if isinstance(policy, str | os.PathLike):
        from simulator.engine.policy import policy_from_yaml_block
        from simulator.yamlio import load_yaml_file

        return policy_from_yaml_block(load_yaml_file(os.fspath(policy), PolicyError), str(policy))
    raise UsageError(
        f"policy must be None, a Policy, a Scenario, a preset name, a policy "
        f"block (dict) or a scenario file, got {type(policy).__name__}"
    )


def _preset_names() -> tuple[str, ...]:
    from simulator.engine import PRESETS

    return tuple(PRESETS)


def _cell(value: Any) -> str:
    """One history cell as the text the CSV format expects."""
    if value is None or value is pd.NaT:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, pd.Timestamp | datetime.datetime):
        ts = pd.Timestamp(value)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return format_instant(int(ts.timestamp()))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _history_text(history: Any) -> str:
    """A DataFrame or a list of rows (dicts, or sequences in HISTORY_COLUMNS order) as CSV."""
    if isinstance(history, pd.DataFrame):
        frame = history
    else:
        rows = list(history)
        if rows and not isinstance(rows[0], Mapping):
            for i, row in enumerate(rows):
                if len(row) != len(HISTORY_COLUMNS):
                    raise HistoryError(
                        f"<history>: row {i}: expected {len(HISTORY_COLUMNS)} "
                        f"values ({', '.join(HISTORY_COLUMNS)}), got "
                        f"{len(row)}"
                    )
            frame = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
        else:
            frame = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS) if not rows else None)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([str(c) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue()


def replay(
    history: str | os.PathLike[str] | pd.DataFrame | Iterable[Any],
    policy: Any = None,
    until: str | int | datetime.datetime | None = None,
    allow_long_span: bool = False,
) -> Replay:
    """Run the credit rules engine alone over ``history`` and return the :class:`Replay`.

    ``history`` is a CSV file (RULES.md section 8), a DataFrame with those
    columns, or a list of rows (dicts, or sequences in ``HISTORY_COLUMNS``
    order); rows of a DataFrame or list are checked exactly like a file's,
    line 2 being the first row. ``policy`` is None (``inmail-2014``), a
    preset name (``"inmail-2015"``), a policy block (``{"preset":
    "inmail-2015", "refund": {"window_days": 30}}``), a scenario file whose
    ``policy:`` block applies, a Scenario, a Run, or a Policy. ``until``
    (an ISO instant, Unix seconds or a datetime) defaults to the last
    instant in the history. Bad input raises :class:`HistoryError` with
    one line per problem. A history (with ``until``) spanning more than
    36,500 days is refused as a likely typo unless ``allow_long_span``.

    >>> audit = replay("scenarios/examples/history.csv", policy="inmail-2015")
    >>> rows = [{"time": "2024-01-01T00:00:00Z", "member": "ann", "action": "subscribe",
    ...          "tier": "premium_career"}]
    >>> replay(rows, until="2024-03-01T00:00:00Z").ledger["kind"].tolist()
    ['grant', 'grant', 'grant']
    """
    pol = _policy(policy)
    if isinstance(history, str | os.PathLike):
        actions = read_history(os.fspath(history), pol, allow_long_span)
    else:
        actions = parse_history(_history_text(history), pol, "<history>", allow_long_span)
    end = _instant(until, "until")
    if end is not None and not allow_long_span:
        problem = until_problem(actions, end)
        if problem is not None:
            raise UsageError(f"until: {problem}")
    return Replay(pol, actions, end)


def _instant(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise UsageError(f"{what}: expected an instant, got {value!r}")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, pd.Timestamp | datetime.datetime):
        return parse_instant(_cell(value))
    try:
        return parse_instant(str(value))
    except ValueError as exc:
        raise UsageError(f"{what}: {exc}") from None


# ---------------------------------------------------------------------------
# Sweeps and comparisons


_GUARD_HINT = (
    "a worker process is importing your script and reached a creditsim call that starts more "
    "processes: in a script run as `python script.py`, put the calls under `if __name__ == "
    '"__main__":` (as every process pool requires; notebooks and `python -c` need nothing)'
)


def _check_not_bootstrapping() -> None:
    """Refuse, with the fix, a pool started while a worker re-imports the user's script."""
    import multiprocessing

    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(f"creditsim: {_GUARD_HINT}")


def _executor(executor: Any, workers: int) -> tuple[Any, Any]:
    """(the executor to use, the one we started and must close)."""
    from simulator.executors import make_executor

    _check_not_bootstrapping()

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UsageError(f"workers must be a whole number >= 1, got {workers!r}")
    if executor is None or executor == "local":
        made = make_executor("local", workers)
        return made, made
    if isinstance(executor, str):
        made = make_executor(executor, workers if workers > 1 else None)
        return made, made
    return executor, None


def _out_dir(out: str | os.PathLike[str] | None, kind: str) -> Path:
    """``out``, or a new scratch folder removed when this Python process ends
    (:mod:`simulator.scratch`)."""
    if out is not None:
        return Path(out)
    from simulator.scratch import scratch_dir

    return scratch_dir(kind)


def _progress(progress: bool, desc: str) -> Any:
    if not progress:
        return None
    from simulator.sweeps import TqdmProgress

    class _Bar(TqdmProgress):
        def start(self, total: int, done: int) -> None:
            self.bar = _tqdm()(total=total, initial=done, unit="run", desc=self.desc)

    return _Bar(desc)


def _axis_block(values: Any, what: str) -> Any:
    if values is None:
        return None
    if not isinstance(values, Mapping):
        raise UsageError(
            f"{what} must be a mapping of key paths to values, got {type(values).__name__}"
        )
    out: dict[str, Any] = {}
    for key, v in values.items():
        if what == "ranges" and isinstance(v, Sequence) and not isinstance(v, str):
            parts = list(v)
            out[key] = {
                "start": parts[0],
                "stop": parts[1],
                **({"step": parts[2]} if len(parts) > 2 else {}),
            }
        elif isinstance(v, range):
            out[key] = list(v)
        elif isinstance(v, Sequence | np.ndarray) and not isinstance(v, str):
            out[key] = [x.item() if isinstance(x, np.generic) else x for x in v]
        else:
            out[key] = v
    return out


class Sweep:
    """A finished sweep: its run table, results and summaries as DataFrames, and plots.

    - ``keys``: the swept key paths; ``replications``; ``seed`` (master);
      ``out``: the folder with every file (``runs.csv``, ``runs/*.json``,
      ``results.parquet``, ``summary.csv``, ``timings.csv``, ``plots/``).
    - ``results``: one row per run (key values, replication, seed, every
      summary metric, ``error``).
    - ``summary``: per point and metric, ``n``, ``mean``, ``std``, 95 %
      ``ci_low`` / ``ci_high`` (key columns typed like the values given).
    - ``metric(name)``: the summary rows of one metric.
    - ``surface(metric, x, y)``: a response surface, the mean of ``metric``
      with ``y`` values as rows and ``x`` values as columns.
    - ``plot(key)``: every varying metric against ``key``;
      ``plot_surface(metric, x, y)``: a heat map of :meth:`surface`.
    - ``failed``: runs that raised, ``(run_id, replication, error)``.

    >>> sw = sweep(scaled("scenarios/baseline.yaml", 0.05, duration_days=90),
    ...            grid={"policy.grant_expiry_days": [30, 90],
    ...                  "policy.refund.window_days": [7, 14]},
    ...            replications=2, workers=2)  # doctest: +SKIP
    >>> sw.surface("expiry_waste_rate", "policy.grant_expiry_days",
    ...            "policy.refund.window_days")  # doctest: +SKIP
    """

    def __init__(self, out: Path, result: Any = None) -> None:
        self.out = Path(out)
        self.result = result
        meta = _read_json(self.out / "sweep.json")
        self.kind: str = str(meta.get("kind", "sweep"))
        self.keys: tuple[str, ...] = tuple(meta.get("keys", ()))
        self.replications = int(meta.get("replications", 1))
        self.seed = int(meta.get("seed", 0))
        self.meta = meta
        if not (self.out / "results.parquet").is_file():
            raise InputError(
                f"{self.out}: the {self.kind} did not finish (no results.parquet); "
                "run it again with resume=True"
            )

    @cached_property
    def results(self) -> pd.DataFrame:
        """One row per run: run_id, key values, replication, seed, metrics, error.

        Sorted by the swept values, then replication (the file is sorted by run id).
        """
        frame = pd.read_parquet(self.out / "results.parquet")
        if self.kind != "sweep" or frame.empty:
            return frame
        order = frame.sort_values([*self.keys, "replication"], kind="stable").index
        return frame.loc[order].reset_index(drop=True)

    @cached_property
    def runs_table(self) -> pd.DataFrame:
        """The run table (``runs.csv``): run_id, key values (as text), replication, seed."""
        return pd.read_csv(self.out / "runs.csv", dtype=str, keep_default_na=False)

    @cached_property
    def timings(self) -> pd.DataFrame:
        """Per run: worker, start, wall and simulation seconds (``timings.csv``)."""
        return pd.read_csv(self.out / "timings.csv")

    @cached_property
    def _params(self) -> dict[str, dict[str, Any]]:
        res = self.results
        params: dict[str, dict[str, Any]] = {}
        for row in (
            res[["run_id", *self.keys]].drop_duplicates("run_id").itertuples(index=False, name=None)
        ):
            params[row[0]] = {k: _plain(v) for k, v in zip(self.keys, row[1:], strict=True)}
        return params

    @cached_property
    def summary(self) -> pd.DataFrame:
        """Per point and metric: n, mean, std and the 95 % t-interval over replications."""
        frame = pd.read_csv(
            self.out / "summary.csv",
            dtype={k: str for k in self.keys},
            keep_default_na=False,
            na_values=[""],
        )
        if self.kind == "sweep":
            for key in self.keys:
                typed = {rid: p[key] for rid, p in self._params.items()}
                frame[key] = frame["run_id"].map(typed)
        for name in ("mean", "std", "ci_low", "ci_high"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
        if self.kind == "sweep" and not frame.empty:
            # Points in the order of their swept values; metrics keep their order.
            order = frame.sort_values(list(self.keys), kind="stable").index
            frame = frame.loc[order].reset_index(drop=True)
        return frame

    @property
    def failed(self) -> list[tuple[str, int, str]]:
        """Runs that raised: ``(run_id, replication, error)``."""
        res = self.results
        bad = res[res["error"].notna()]
        return [
            (r, int(k), str(e))
            for r, k, e in bad[["run_id", "replication", "error"]].itertuples(
                index=False, name=None
            )
        ]

    def metric(self, name: str) -> pd.DataFrame:
        """The summary rows of metric ``name`` (key columns, n, mean, std, ci_low, ci_high)."""
        frame = self.summary[self.summary["metric"] == name]
        if frame.empty:
            known = ", ".join(dict.fromkeys(self.summary["metric"]))
            raise KeyError(f"no metric {name!r}; the metrics are: {known}")
        return frame.drop(columns=["metric"]).reset_index(drop=True)

    def surface(
        self, metric: str, x: str, y: str | None = None, stat: str = "mean"
    ) -> pd.DataFrame:
        """``stat`` (mean, std, ci_low, ci_high, n) of ``metric`` over the values of ``x``
        (columns) and ``y`` (rows). Other swept keys must be constant, or are averaged over
        (their points' means are averaged)."""
        for key in (x, y):
            if key is not None and key not in self.keys:
                raise KeyError(f"{key!r} is not swept; the swept keys are: {', '.join(self.keys)}")
        frame = self.metric(metric)
        if y is None:
            return frame.groupby(x)[stat].mean().to_frame(metric).T
        return frame.pivot_table(index=y, columns=x, values=stat, aggfunc="mean")

    def plot(self, key: str | None = None) -> Any:
        """Every varying metric against ``key`` (default: the first swept key), with 95 % bands."""
        from simulator.sweeps import plot_sweep_key

        key = key or (self.keys[0] if self.keys else None)
        if key not in self.keys:
            raise KeyError(f"{key!r} is not swept; the swept keys are: {', '.join(self.keys)}")
        return _figure(plot_sweep_key(self._plan(), self.summary, key))

    @property
    def plots(self) -> dict[str, Any]:
        """One figure per swept key (as in ``plots/``)."""
        return {key: self.plot(key) for key in self.keys}

    def plot_surface(self, metric: str, x: str, y: str, *, percent: bool | None = None) -> Any:
        """A heat map of the response surface of ``metric`` over ``x`` and ``y``, each cell
        labelled with its mean and the half-width of its 95 % interval."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        mean = self.surface(metric, x, y)
        half = (self.surface(metric, x, y, "ci_high") - self.surface(metric, x, y, "ci_low")) / 2
        if percent is None:
            percent = metric.endswith(("_rate", "_share"))
        scale = 100.0 if percent else 1.0
        fig = Figure(
            figsize=(1.3 * len(mean.columns) + 3, 0.6 * len(mean.index) + 2),
            dpi=100,
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
            f"{metric}{unit}: mean ± 95 % half-width, {self.replications} replications", fontsize=10
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
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if values[i, j] < middle else "black",
                )
        return _figure(fig)

    def _plan(self) -> Any:
        from simulator.sweeps import Plan, Point

        points = tuple(
            Point(rid, params, cast(Any, None)) for rid, params in sorted(self._params.items())
        )
        return Plan(
            self.kind,
            str(self.meta.get("scenario", "")),
            self.keys,
            points,
            self.replications,
            self.seed,
        )

    def __repr__(self) -> str:
        res = self.results
        return (
            f"<Sweep of {', '.join(self.keys) or 'no keys'}: {res['run_id'].nunique()} "
            f"points x {self.replications} replications, {len(self.failed)} failed, "
            f"out={str(self.out)!r}>"
        )


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"{path.parent}: not a creditsim sweep or compare folder (no {path.name})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: must hold a JSON object")
    return data


class Comparison(Sweep):
    """Scenario B against scenario A over paired replications (common random numbers).

    Everything a :class:`Sweep` has (``results`` with a ``scenario``
    column, ``summary`` per scenario), plus:

    - ``comparison``: per metric, ``n`` pairs, ``mean_a``, ``mean_b``,
      ``diff`` (B - A), ``diff_std``, the paired 95 % interval ``ci_low`` /
      ``ci_high``, ``relative_diff`` (diff / mean_a) and the interval the
      same runs would give unpaired.
    - ``plot()``: B - A relative to A per metric, with both intervals.
    - ``per_tier()``: the paired difference per starting tier and metric
      of :meth:`Run.per_tier` (needs ``keep_runs=True``): who gains, who
      loses. ``runs("A")`` / ``runs("B")``: the kept runs as :class:`Run`.
    - ``notes``: how A and B were paired.

    >>> cmp = compare("scenarios/baseline.yaml", "scenarios/policy-2015.yaml",
    ...               replications=5, keep_runs=True)  # doctest: +SKIP
    >>> cmp.comparison.set_index("metric").loc["refund_rate"]  # doctest: +SKIP
    """

    def __init__(
        self,
        out: Path,
        result: Any = None,
        names: tuple[str, str] | None = None,
        notes: Sequence[str] = (),
    ) -> None:
        super().__init__(out, result)
        if self.kind != "compare":
            raise InputError(f"{out}: holds a {self.kind}, not a compare")
        a, b = str(self.meta.get("a", "A")), str(self.meta.get("b", "B"))
        self.names = names or (Path(a).stem or "A", Path(b).stem or "B")
        self.notes = list(notes)

    @cached_property
    def comparison(self) -> pd.DataFrame:
        """Per metric: means of A and B and the paired difference B - A with its 95 % interval."""
        return pd.read_csv(self.out / "comparison.csv")

    def plot(self, key: str | None = None) -> Any:
        """B - A relative to A (%) per metric, paired and unpaired 95 % intervals."""
        from simulator.sweeps import plot_comparison

        return _figure(plot_comparison(self.comparison, *self.names))

    @property
    def plots(self) -> dict[str, Any]:
        return {"comparison": self.plot()}

    def runs(self, side: str) -> list[Run]:
        """The kept runs of ``side`` (``"A"`` or ``"B"``), one per replication, in order."""
        if side not in ("A", "B"):
            raise KeyError(f"side must be 'A' or 'B', got {side!r}")
        dirs = [self.out / "runs" / f"{side}-r{r}" for r in range(self.replications)]
        missing = [d for d in dirs if not (d / "run.json").is_file()]
        if missing:
            raise InputError(
                f"{missing[0]}: no run directory: compare with keep_runs=True to keep every run"
            )
        return [load_run(d) for d in dirs]

    def per_tier(self) -> pd.DataFrame:
        """Per starting tier and metric of :meth:`Run.per_tier`: A, B and B - A with its
        paired 95 % interval over the replications (needs ``keep_runs=True``).

        Columns: ``tier``, ``metric``, ``n``, ``mean_a``, ``mean_b``, ``diff``,
        ``ci_low``, ``ci_high``, ``relative_diff``, ``members``.
        """
        from simulator.stats import paired_comparison

        frames = {
            side: [r.per_tier().set_index("tier") for r in self.runs(side)] for side in ("A", "B")
        }
        tiers = list(dict.fromkeys(t for f in frames["A"] for t in f.index))
        out = []
        for tier in tiers:
            a = [
                f.loc[tier].drop("members").to_dict() if tier in f.index else {}
                for f in frames["A"]
            ]
            b = [
                f.loc[tier].drop("members").to_dict() if tier in f.index else {}
                for f in frames["B"]
            ]
            table = paired_comparison(a, b)
            table.insert(0, "tier", tier)
            table["members"] = int(frames["A"][0].loc[tier, "members"])
            out.append(table)
        columns = [
            "tier",
            "metric",
            "n",
            "mean_a",
            "mean_b",
            "diff",
            "ci_low",
            "ci_high",
            "relative_diff",
            "members",
        ]
        if not out:
            return pd.DataFrame(columns=columns)
        return pd.concat(out, ignore_index=True)[columns]

    def __repr__(self) -> str:
        return (
            f"<Comparison {self.names[1]!r} against {self.names[0]!r}: "
            f"{self.replications} paired replications, out={str(self.out)!r}>"
        )


def sweep(
    scenario: Scenario | str | os.PathLike[str],
    grid: Mapping[str, Sequence[Any]] | None = None,
    *,
    zip: Mapping[str, Sequence[Any]] | None = None,
    ranges: Mapping[str, Any] | None = None,
    replications: int | None = None,
    seed: int | None = None,
    out: str | os.PathLike[str] | None = None,
    workers: int = 1,
    executor: Any = None,
    resume: bool = False,
    keep_runs: bool = False,
    progress: bool = True,
    plots: bool = True,
) -> Sweep:
    """Run ``scenario`` at every point of a grid, with replications; return the :class:`Sweep`.

    ``grid`` maps key paths to lists of values (several keys multiply, as
    ``--grid``); ``zip`` maps key paths to lists of one length that vary
    together (``--zip``); ``ranges`` maps key paths to ``(start, stop[,
    step])`` or ``"START:STOP:STEP"`` (``--range``). Without any, a
    scenario file's ``sweep:`` block is used. Replication r of every point
    runs with the same seed (derived from ``seed``, default the scenario's),
    so points are compared on common random numbers. Results stream to
    ``out``; ``resume=True`` finishes an interrupted sweep there. Without
    ``out`` they go to a temporary folder that is deleted when Python ends
    (the end of a script, or of a notebook's kernel, even a killed one:
    :mod:`simulator.scratch`): pass ``out`` to keep them. ``workers``
    local processes (or ``executor``: ``"dask"``, or an executor of
    :mod:`simulator.executors`) share the runs.

    >>> sw = sweep(scaled("scenarios/baseline.yaml", 0.05, duration_days=90),
    ...            grid={"policy.refund.window_days": [7, 14, 30]}, replications=3,
    ...            workers=2)  # doctest: +SKIP
    >>> sw.metric("refund_rate")  # doctest: +SKIP
    """
    _sweep = import_module("simulator.sweeps")

    block_spec = None
    if isinstance(scenario, Scenario):
        sc = scenario
    else:
        sc, block_spec = _sweep.load_sweep_scenario(scenario)
    given = {
        name: value
        for name, value in (
            ("grid", _axis_block(grid, "grid")),
            ("zip", _axis_block(zip, "zip")),
            ("range", _axis_block(ranges, "ranges")),
        )
        if value
    }
    if given:
        spec = _sweep.spec_from_block(given, "sweep()")
    else:
        spec = block_spec if block_spec is not None else _sweep.SweepSpec()
    spec = _sweep.with_spec(spec, replications=replications, seed=seed)
    plan = _sweep.plan_sweep(sc, spec)
    target, result = _execute(plan, out, executor, workers, resume, keep_runs, progress, plots)
    return Sweep(target, result)


def _execute(
    plan: Any,
    out: str | os.PathLike[str] | None,
    executor: Any,
    workers: int,
    resume: bool,
    keep_runs: bool,
    progress: bool,
    plots: bool,
    files: Mapping[str, str] | None = None,
) -> tuple[Path, Any]:
    """Run a sweep, compare or sensitivity plan into ``out`` (or a scratch folder); all runs
    must succeed."""
    target = _out_dir(out, plan.kind)
    use, owned = _executor(executor, workers)
    try:
        result = import_module("simulator.sweeps").execute(
            plan,
            target,
            use,
            resume=resume,
            keep_runs=keep_runs,
            progress=_progress(progress, plan.kind),
            plots=plots,
            files=files,
        )
    finally:
        if owned is not None:
            owned.close()
    _check_complete(result, plan.kind)
    return target, result


def sensitivity(
    scenario: Scenario | str | os.PathLike[str],
    vary: Mapping[str, Any] | None = None,
    *,
    method: str | None = None,
    samples: int | None = None,
    replications: int | None = None,
    metrics: Sequence[str] | None = None,
    against: Scenario | str | os.PathLike[str] | None = None,
    seed: int | None = None,
    out: str | os.PathLike[str] | None = None,
    workers: int = 1,
    executor: Any = None,
    resume: bool = False,
    progress: bool = True,
    plots: bool = True,
) -> Any:
    """Which varied keys drive the metrics: a global sensitivity study (``creditsim
    sensitivity``); returns a :class:`simulator.gsa.Sensitivity`.

    ``vary`` maps key paths to a range, ``(low, high)``, or choices, a list
    (``{"recipients.response_probability": (0.1, 0.4), "policy.preset":
    ["inmail-2014", "inmail-2015"]}``), or the CLI's text (``"0.1:0.4"``).
    ``method`` is ``"sobol"`` (``samples`` a power of two), ``"morris"``
    (the default, 8 trajectories) or ``"lhs"``; arguments left out come from
    a scenario file's ``sensitivity:`` block, if it has one;
    ``metrics`` are summary.json numbers (default
    :data:`simulator.gsa.DEFAULT_METRICS`). With ``against``, every
    point also runs under that scenario on the same seeds and the indices are
    of B - A. Runs stream to ``out`` (default a scratch folder) as in
    :func:`sweep`, resumable, on ``workers`` processes or ``executor``.

    >>> st = sensitivity(scaled("scenarios/baseline.yaml", 0.02, duration_days=60),
    ...                  {"recipients.response_probability": (0.1, 0.4),
    ...                   "policy.refund.window_days": (3, 14)}, samples=4)  # doctest: +SKIP
    >>> st.indices; st.plot("refund_rate")  # doctest: +SKIP
    """
    _sens = import_module("simulator.gsa")
    block: dict[str, Any] = {}
    if isinstance(scenario, Scenario):
        sc = scenario
    else:
        sc, block = _sens.load_study_scenario(scenario)
    if against is None and block.get("against"):
        against = block["against"]
    other = _scenario(against) if against is not None else None
    if vary is not None:
        texts = [f"{key}={_vary_text(value)}" for key, value in vary.items()]
    else:
        texts = block.get("vary", [])
    varies = _sens.parse_vary(texts, sc, flag="vary")
    if metrics is None and "metrics" in block:
        metrics = str(block["metrics"]).split(",")
    names = _sens.check_metrics(
        list(metrics) if metrics is not None else list(_sens.DEFAULT_METRICS)
    )

    def given(value: Any, name: str) -> Any:  # the argument, else the block, else the default
        return value if value is not None else block.get(name, _sens.DEFAULTS.get(name))

    study = _sens.plan_study(
        sc, varies, given(method, "method"), given(samples, "samples"),
        replications=given(replications, "replications"), seed=given(seed, "seed"),
        against=other,
    )  # fmt: skip
    design = {"design.csv": study.design.to_csv(index=False)}
    target, _ = _execute(study.plan, out, executor, workers, resume, False, progress, False,
                         files=design)  # fmt: skip
    indices, notes, _ = _sens.write_study(study, target, names, plots=plots)
    for note in notes:
        warnings.warn(note, stacklevel=2)
    return _sens.Sensitivity(target, study, indices, names)


def _vary_text(value: Any) -> str:
    """A ``vary`` value as the CLI's text: a tuple is a range, a list choices."""
    if isinstance(value, str):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        # numpy numbers and numbers written as text are numbers too
        return ":".join(str(v) if isinstance(v, str) else repr(float(v)) for v in value)
    if isinstance(value, list | tuple):
        return ", ".join(import_module("simulator.sweeps").scalar_text(v) for v in value)
    raise UsageError(f"vary: expected (low, high), a list of choices or 'LOW:HIGH', got {value!r}")


def _check_complete(result: Any, what: str) -> None:
    if not result.complete:
        first = result.lost[0][2]
        hint = f"; if this is a script: {_GUARD_HINT}" if "BrokenProcessPool" in first else ""
        raise UsageError(
            f"{what}: {len(result.lost)} runs did not finish ({first}); call again "
            f"with out={str(result.out)!r}, resume=True to finish them{hint}"
        )


def compare(
    a: Scenario | str | os.PathLike[str],
    b: Scenario | str | os.PathLike[str],
    *,
    replications: int = 5,
    seed: int | None = None,
    out: str | os.PathLike[str] | None = None,
    workers: int = 1,
    executor: Any = None,
    resume: bool = False,
    keep_runs: bool = False,
    progress: bool = True,
) -> Comparison:
    """Run scenarios A and B on the same replication seeds and compare them metric by metric.

    Replication r of A and of B use the same seed, so every member draws
    the same behaviour under both (common random numbers) and the paired
    differences have narrow intervals. ``keep_runs=True`` keeps every run's
    tables for :meth:`Comparison.per_tier` and :meth:`Comparison.runs`.
    Other arguments as :func:`sweep`.

    >>> cmp = compare("scenarios/baseline.yaml", "scenarios/policy-2015.yaml",
    ...               replications=3, workers=2)  # doctest: +SKIP
    >>> cmp.comparison.head()  # doctest: +SKIP
    """
    _sweep = import_module("simulator.sweeps")

    sa = a if isinstance(a, Scenario) else _sweep.load_sweep_scenario(a)[0]
    sb = b if isinstance(b, Scenario) else _sweep.load_sweep_scenario(b)[0]
    plan = _sweep.plan_compare(sa, sb, replications, seed)
    names = (sa.name, sb.name) if sa.name != sb.name else (f"{sa.name} (A)", f"{sb.name} (B)")
    target, result = _execute(plan, out, executor, workers, resume, keep_runs, progress, False)
    _sweep.write_comparison(result, *names)
    return Comparison(target, result, names, _sweep.compare_notes(sa, sb, plan.seed))


def load_sweep(out: str | os.PathLike[str]) -> Sweep:
    """Read a finished sweep or compare folder (``creditsim sweep``/``compare --out``).

    Returns a :class:`Comparison` for a compare, else a :class:`Sweep`.

    >>> sw = load_sweep("sweeps/expiry")  # doctest: +SKIP
    >>> sw.summary.head()  # doctest: +SKIP
    """
    path = Path(out)
    meta = _read_json(path / "sweep.json")
    if meta.get("kind") == "compare":
        return Comparison(path)
    return Sweep(path)
