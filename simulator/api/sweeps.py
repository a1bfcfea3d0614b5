"""Sweeps and comparisons in the API: run many replications, read their folders back.

Job: :func:`sweep` (a scenario over a grid of keys, with replications) and
:func:`compare` (two scenarios on common random numbers) plan with
:mod:`simulator.sweeps` and run with :func:`~simulator.api.execution.execute_plan`;
:class:`Sweep` and :class:`Comparison` read a finished folder as DataFrames
and Figures (results, summaries with 95 % intervals, paired differences,
response surfaces); :func:`load_sweep` opens one from disk.

Boundary: no statistic of its own (intervals come from :mod:`simulator.sweeps`
and :mod:`simulator.stats`); what a folder holds is :mod:`simulator.sweeps`'.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator import sweeps as _sweep
from simulator.api.execution import _api_workers, execute_plan
from simulator.api.notebook import _figure
from simulator.api.overrides import apply_overrides
from simulator.api.runs import Run, load_run
from simulator.errors import CreditsimError, InputError, UsageError
from simulator.executors import Executor
from simulator.plots import plot_comparison, plot_surface
from simulator.runformat import read_json
from simulator.scenario import Scenario, load_scenario
from simulator.stats import paired_comparison
from simulator.sweeps import (
    Plan,
    Progress,
    RunTable,
    SweepResult,
    TablePoint,
    load_run_table,
    plot_sweep_key,
    read_summary,
    scalar_text,
)

__all__ = ["Comparison", "Sweep", "compare", "load_sweep", "sweep"]

#: What a folder :func:`load_sweep` reads must be (it holds ``sweep.json``).
_SWEEP_FOLDER = "creditsim sweep or compare folder"


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

    def __init__(self, out: Path, result: SweepResult | None = None) -> None:
        self.out = Path(out)
        #: How the runs went when this object ran them (None when read from disk).
        self.result = result
        meta = read_json(self.out / "sweep.json", self.out, _SWEEP_FOLDER)
        self.kind: str = str(meta.get("kind", "sweep"))
        self.keys: tuple[str, ...] = tuple(meta.get("keys", ()))
        self.replications = int(meta.get("replications", 1))
        self.seed = int(meta.get("seed", 0))
        self.meta = meta
        unfinished = result is not None and not result.complete  # its lost runs say why
        if not unfinished and not (self.out / "results.parquet").is_file():
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
    def _table(self) -> RunTable[TablePoint]:
        """The run table of ``sweep.json`` and ``runs.csv``: typed points, in plan order."""
        return load_run_table(self.out)

    @cached_property
    def summary(self) -> pd.DataFrame:
        """Per point and metric: n, mean, std and the 95 % t-interval over replications."""
        if self.kind != "sweep":  # a compare's or study's key columns stay text
            frame = pd.read_csv(self.out / "summary.csv", dtype={k: str for k in self.keys},
                                keep_default_na=False, na_values=[""])  # fmt: skip
            for name in ("mean", "std", "ci_low", "ci_high"):
                frame[name] = pd.to_numeric(frame[name], errors="coerce")
            return frame
        frame = read_summary(self.out, self._table)
        if not frame.empty:
            # Points sorted by their swept values (numbers as numbers, anything else
            # by its text), stably: metrics keep their order.
            order = frame.sort_values(list(self.keys), kind="stable", key=_value_order).index
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
        key = key or (self.keys[0] if self.keys else None)
        if key not in self.keys:
            raise KeyError(f"{key!r} is not swept; the swept keys are: {', '.join(self.keys)}")
        # Text values in the order of their points' run ids, as this method always
        # drew them (plots/<key>.png keeps the order they were given in).
        table = self._table
        by_id = replace(table, points=tuple(sorted(table.points, key=lambda p: p.run_id)))
        return _figure(plot_sweep_key(by_id, self.summary, key))

    @property
    def plots(self) -> dict[str, Any]:
        """One figure per swept key (as in ``plots/``)."""
        return {key: self.plot(key) for key in self.keys}

    def plot_surface(self, metric: str, x: str, y: str, *, percent: bool | None = None) -> Any:
        """A heat map of the response surface of ``metric`` over ``x`` and ``y``, each cell
        labelled with its mean and the half-width of its 95 % interval."""
        mean = self.surface(metric, x, y)
        half = (self.surface(metric, x, y, "ci_high") - self.surface(metric, x, y, "ci_low")) / 2
        return _figure(plot_surface(mean, half, metric, x, y, replications=self.replications,
                                    percent=percent))  # fmt: skip

    def __repr__(self) -> str:
        res = self.results
        return (
            f"<Sweep of {', '.join(self.keys) or 'no keys'}: {res['run_id'].nunique()} "
            f"points x {self.replications} replications, {len(self.failed)} failed, "
            f"out={str(self.out)!r}>"
        )


def _value_order(column: pd.Series) -> pd.Series:
    """A key column as it sorts: numbers by value, anything else by its text (as when the
    column was read back as text), missing values last."""
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return column
    present = column.dropna()
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pd.to_numeric(column)
    return column.map(lambda v: None if pd.isna(v) else scalar_text(v))


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
        result: SweepResult | None = None,
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
    workers: int | None = 1,
    executor: str | Executor | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    keep_runs: bool = False,
    progress: bool | Progress | None = True,
    plots: bool = True,
    plot_metrics: str | Sequence[str] | None = None,
    axes: Sequence[tuple[str, str]] | None = None,
    overrides: Mapping[str | tuple[str | int, ...], Any] | None = None,
    argument_problems: Sequence[str] = (),
    force: bool = True,
    complete: bool = True,
    checking: Callable[[Any], Callable[[int, int], None] | None] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    on_start: Callable[[str], None] | None = None,
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
    :mod:`simulator.executors`; ``scheduler``: a running Dask scheduler's
    address) share the runs.

    What the command line adds (``creditsim sweep`` is this call):
    ``axes``, the command line's ``(option, text)`` axis arguments in place of
    ``grid``/``zip``/``ranges``; ``overrides`` (dotted key path -> value,
    applied before the points are expanded) and ``argument_problems`` (lines
    about the caller's own arguments, raised with the scenario's problems);
    ``force=False`` refuses runs that would not fit in memory together;
    ``complete=False`` returns a sweep whose runs did not all finish
    (``result.lost``) instead of raising; ``checking(spec)`` may return a
    callback told ``(done, total)`` as the points are validated; ``on_plan``
    sees the plan before it runs, ``on_start`` where it runs.

    >>> sw = sweep(scaled("scenarios/baseline.yaml", 0.05, duration_days=90),
    ...            grid={"policy.refund.window_days": [7, 14, 30]}, replications=3,
    ...            workers=2)  # doctest: +SKIP
    >>> sw.metric("refund_rate")  # doctest: +SKIP
    """
    block_spec = None
    if isinstance(scenario, Scenario):
        sc = scenario
    else:
        try:
            sc, block_spec = _sweep.load_sweep_scenario(os.fspath(scenario))
        except CreditsimError as exc:  # with the caller's argument problems, in one pass
            raise type(exc)(*exc.problems, *argument_problems) from None
    label = sc.source if isinstance(scenario, Scenario) else os.fspath(scenario)
    (sc,) = apply_overrides([(label, sc)], overrides, argument_problems)
    given = {
        name: value
        for name, value in (
            ("grid", _axis_block(grid, "grid")),
            ("zip", _axis_block(zip, "zip")),
            ("range", _axis_block(ranges, "ranges")),
        )
        if value
    }
    if axes:  # the command line's axes replace the file's, keeping its other settings
        spec = _sweep.with_spec(block_spec, axes=_sweep.parse_axis_arguments(axes))
    elif given:
        spec = _sweep.spec_from_block(given, "sweep()")
    else:
        spec = block_spec if block_spec is not None else _sweep.SweepSpec()
    spec = _sweep.with_spec(spec, replications=replications, seed=seed)
    plan = _sweep.plan_sweep(sc, spec, progress=checking(spec) if checking else None)
    if on_plan is not None:
        on_plan(plan)
    result = execute_plan(plan, out, workers=_api_workers(workers, executor, scheduler),
                          executor=executor, scheduler=scheduler, resume=resume,
                          keep_runs=keep_runs, progress=progress, plots=plots,
                          plot_metrics=plot_metrics, force=force, complete=complete,
                          on_start=on_start)  # fmt: skip
    return Sweep(result.out, result)


def compare(
    a: Scenario | str | os.PathLike[str],
    b: Scenario | str | os.PathLike[str],
    *,
    replications: int = 5,
    seed: int | None = None,
    out: str | os.PathLike[str] | None = None,
    workers: int | None = 1,
    executor: str | Executor | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    keep_runs: bool = False,
    progress: bool | Progress | None = True,
    overrides: Mapping[str | tuple[str | int, ...], Any] | None = None,
    argument_problems: Sequence[str] = (),
    force: bool = True,
    complete: bool = True,
    on_plan: Callable[[Plan], None] | None = None,
    on_notes: Callable[[list[str]], None] | None = None,
    on_start: Callable[[str], None] | None = None,
) -> Comparison:
    """Run scenarios A and B on the same replication seeds and compare them metric by metric.

    Replication r of A and of B use the same seed, so every member draws
    the same behaviour under both (common random numbers) and the paired
    differences have narrow intervals. ``keep_runs=True`` keeps every run's
    tables for :meth:`Comparison.per_tier` and :meth:`Comparison.runs`.
    ``notes`` of the result say how A and B were paired. Other arguments as
    :func:`sweep` (``overrides`` apply to both A and B; ``creditsim compare``
    is this call).

    >>> cmp = compare("scenarios/baseline.yaml", "scenarios/policy-2015.yaml",
    ...               replications=3, workers=2)  # doctest: +SKIP
    >>> cmp.comparison.head()  # doctest: +SKIP
    """
    problems: list[str] = []
    named: list[tuple[str, Scenario]] = []
    failed: CreditsimError | None = None
    for side in (a, b):
        if isinstance(side, Scenario):
            named.append((side.source, side))
            continue
        try:
            named.append((str(side), load_scenario(os.fspath(side))))
        except CreditsimError as exc:
            failed = failed or exc
            problems.extend(exc.problems)
    if failed is not None:  # both files' problems, after the caller's argument problems
        raise type(failed)(*argument_problems, *problems) from None
    sa, sb = apply_overrides(named, overrides, argument_problems)
    plan = _sweep.plan_compare(sa, sb, replications, seed)
    if on_plan is not None:
        on_plan(plan)
    notes = _sweep.compare_notes(sa, sb, plan.seed)
    if on_notes is not None:
        on_notes(notes)
    result = execute_plan(plan, out, workers=_api_workers(workers, executor, scheduler),
                          executor=executor, scheduler=scheduler, resume=resume,
                          keep_runs=keep_runs, progress=progress, plots=False, force=force,
                          complete=complete, on_start=on_start)  # fmt: skip
    names = (sa.name, sb.name) if sa.name != sb.name else (f"{sa.name} (A)", f"{sb.name} (B)")
    if result.complete:
        _sweep.write_comparison(result, *names)
    return Comparison(result.out, result, names, notes)


def load_sweep(out: str | os.PathLike[str]) -> Sweep:
    """Read a finished sweep or compare folder (``creditsim sweep``/``compare --out``).

    Returns a :class:`Comparison` for a compare, else a :class:`Sweep`.

    >>> sw = load_sweep("sweeps/expiry")  # doctest: +SKIP
    >>> sw.summary.head()  # doctest: +SKIP
    """
    path = Path(out)
    meta = read_json(path / "sweep.json", path, _SWEEP_FOLDER)
    if meta.get("kind") == "compare":
        return Comparison(path)
    return Sweep(path)
