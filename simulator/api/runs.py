"""One run in the API: simulate it, read it back, save it, check it.

Job: :func:`run` simulates a scenario and returns a :class:`Run` -- its
scenario, seed, summary (a dict, and a DataFrame), its tables as DataFrames
(:class:`~simulator.api.tables.Tables`), every report (computed on first use)
and the plots as matplotlib Figures; :meth:`Run.save` writes the run
directory. :func:`load_run` reads a run directory back into the same object,
:func:`audit` checks one against the credit rules, :func:`scaled` shrinks a
scenario for quick looks.

Boundary: the simulation and the run directory's format are
:mod:`simulator.runner`'s; this module holds them in objects. The whole
``creditsim run`` flow (estimates, staging, reports) is
:func:`simulator.api.run_to_dir`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from simulator import estimate, runformat, runner
from simulator import plots as _plots
from simulator import reports as _reports
from simulator.api.execution import _api_workers, _check_not_bootstrapping
from simulator.api.notebook import _figure, _frame_repr
from simulator.api.replays import Replay, replay
from simulator.api.tables import _DAY, PLOTS, Reports, Tables
from simulator.errors import InputError, UsageError
from simulator.executors import check_workers, resolve_execution
from simulator.run_audit import AuditResult, audit_run
from simulator.runformat import history_parts, history_text
from simulator.runner import RunResult
from simulator.scenario import Scenario, load_scenario
from simulator.scratch import scratch_dir
from simulator.sweeps.execution import tqdm_bar
from simulator.warmup import resolve_warmup
from simulator.yamlio import dump_yaml

__all__ = ["IN_MEMORY_MAX_BYTES", "Run", "audit", "load_run", "run", "scaled"]


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
        path = Path(out)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            if not (path / "run.json").is_file():
                raise UsageError(f"{path}: exists and is not a creditsim run directory")
            if not overwrite:
                raise UsageError(f"{path}: holds an earlier run; pass overwrite=True to replace it")
        result = self._result
        if result is None and self.directory is not None:
            result = self._copied_parts(path)
        elif result is None:  # its tables are DataFrames only: not what a run directory holds
            raise UsageError(
                "this Run holds neither a run's own tables nor a run directory: save the Run "
                "that run() or load_run() returned"
            )
        failed: list[str] = []
        try:
            if reports:
                runner.write_run(result, path, before_publish=lambda tmp: failed.extend(
                    _reports.reports_or_problems(tmp)))  # fmt: skip
            else:
                runner.write_run(result, path)
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

    def _copied_parts(self, out: Path) -> RunResult:
        """A result whose parts are copies of this run directory's, staged for ``out``: a
        loaded run is saved byte for byte, and never read into memory to be saved."""
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
    scheduler: str | None = None,
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
    (left open); ``scheduler``, a running Dask scheduler's address, shards the
    run over that cluster's workers. In a script run as ``python script.py`` (not a notebook),
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
    sc = _scenario(scenario)
    if overrides:
        sc = sc.with_overrides(overrides, source=f"{sc.source} (overrides)")
    check_workers(workers)
    batch = runner.DEFAULT_BATCH_MEMBERS if batch_members is None else batch_members
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
        bar = tqdm_bar()(total=total, unit="day", desc=f"simulating {sc.name}", leave=False)

        def callback(seconds: float) -> None:
            bar.update(seconds / _DAY)

    if workers != 1 or executor is not None or scheduler is not None:
        _check_not_bootstrapping()
    try:
        # Ours to stop: on an error or Ctrl-C, local workers are killed, not awaited.
        with resolve_execution(_api_workers(workers, executor, scheduler), executor, scheduler,
                               pool=False) as on:  # fmt: skip
            result = runner.run(sc, workers=on.workers, progress=callback, executor=on.executor,
                                warmup_record=warmup_record, batch_members=batch,
                                out=folder)  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    if folder is not None:
        runner.write_run(result, folder)
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
    if out is None:
        if estimate.estimate_run_bytes(sc) <= IN_MEMORY_MAX_BYTES:
            return None
        return scratch_dir("run") / "run"
    path = Path(out)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        if not (path / "run.json").is_file():
            raise UsageError(f"{path}: exists and is not a creditsim run directory")
        if not overwrite:
            raise UsageError(f"{path}: holds an earlier run; pass overwrite=True to replace it")
    return path


def audit(
    run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
) -> AuditResult:
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
    return audit_run(os.fspath(run_dir), None if out is None else os.fspath(out))


def load_run(run_dir: str | os.PathLike[str]) -> Run:
    """Read a run directory written by ``creditsim run`` or :meth:`Run.save`.

    Its tables, summary and reports equal those of the run in memory.

    >>> r = load_run("runs/baseline-seed20140101")  # doctest: +SKIP
    >>> r.reports.refund_totals  # doctest: +SKIP
    """
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
