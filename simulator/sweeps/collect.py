"""Collecting a sweep: its tables and plots, built from the run records alone.

Job: once every run has a record, :func:`write_tables` writes
``results.parquet`` (one row per run: run id, typed key values, replication,
seed, every summary metric, error), ``timings.csv`` and ``summary.csv`` (per
point and metric: n, mean, std and the 95 % t-interval of
:func:`simulator.stats.replications`), and a sweep's plots. Rows are sorted
by point value (:func:`~simulator.sweeps.plan.ordered_points`) and
replication. :func:`read_summary` reads ``summary.csv`` back with its key
columns typed again.

Boundary: the records are :mod:`simulator.sweeps.folder`; statistics are
:mod:`simulator.stats`; the figures are :mod:`simulator.sweeps.figures`,
drawn by :mod:`simulator.plots`, imported only when plots are written (it
loads matplotlib, which a sweep without plots never needs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.outputs import atomic_write_bytes, atomic_write_text
from simulator.stats import replications
from simulator.sweeps.figures import plot_sweep_key
from simulator.sweeps.folder import load_run_table, read_record, record_path
from simulator.sweeps.plan import Plan, RunTable, TablePoint, file_label, ordered_points
from simulator.sweeps.spec import scalar_text

__all__ = ["read_summary", "write_tables"]


def _column(values: list[Any], empty: pa.DataType | None = None) -> pa.Array:
    """A typed column from YAML scalars: bool, int64, float64 or (otherwise) text.

    A column of nothing but nulls is ``empty`` when given (a metric no run
    defined is a float column of nulls, not text), else text.
    """
    present = [v for v in values if v is not None]
    if not present and empty is not None:
        return pa.array(values, empty)
    if present and all(isinstance(v, bool) for v in present):
        return pa.array(values, pa.bool_())
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.array(values, pa.int64())
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    return pa.array(
        [None if v is None else v if isinstance(v, str) else scalar_text(v) for v in values],
        pa.string(),
    )


def write_tables(
    out: Path, plan: Plan, plots: bool, plot_metrics: str | Sequence[str] | None = None
) -> tuple[list[Path], list[tuple[str, int, str]]]:
    """Build results.parquet, timings.csv, summary.csv (and a sweep's plots, with ``plots``)
    from the run records; return the paths written and the failed runs."""
    rank = {p.run_id: i for i, p in enumerate(ordered_points(plan))}
    rows = sorted(plan.rows(), key=lambda row: (rank[row[0].run_id], row[1]))
    key_values: dict[str, list[Any]] = {k: [] for k in plan.keys}
    run_ids: list[str] = []
    reps: list[int] = []
    seeds: list[int] = []
    errors: list[str | None] = []
    metrics: dict[str, list[Any]] = {}
    timing_rows: list[list[Any]] = []
    failed: list[tuple[str, int, str]] = []
    per_point: dict[str, list[Mapping[str, Any]]] = {}
    for n, (point, r, seed) in enumerate(rows):
        record = read_record(record_path(out, point.run_id, r)) or {}
        run_ids.append(point.run_id)
        reps.append(r)
        seeds.append(seed)
        for k in plan.keys:
            key_values[k].append(point.params[k])
        summary = record.get("summary") if record.get("status") == "ok" else None
        error = None if summary is not None else str(record.get("error") or "no result")
        errors.append(error)
        if error is not None:
            failed.append((point.run_id, r, error))
        summary = summary or {}
        per_point.setdefault(point.run_id, [])
        if error is None:
            per_point[point.run_id].append(summary)
        for metric in summary:
            metrics.setdefault(metric, [None] * n)
        for metric, column in metrics.items():
            value = summary.get(metric)
            column.append(None if isinstance(value, dict | list) else value)
        t = record.get("timings") or {}
        timing_rows.append([point.run_id, r, seed, t.get("worker"), t.get("started_at"),
                            t.get("wall_s"), t.get("cpu_s"), t.get("simulate_s")])  # fmt: skip

    names = ["run_id", *plan.keys, "replication", "seed", *metrics, "error"]
    arrays = [
        pa.array(run_ids, pa.string()),
        *(_column(key_values[k]) for k in plan.keys),
        pa.array(reps, pa.int64()),
        pa.array(seeds, pa.int64()),
        *(_column(col, empty=pa.float64()) for col in metrics.values()),
        pa.array(errors, pa.string()),
    ]
    table = pa.Table.from_arrays(arrays, names=names)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    written = [out / "results.parquet"]
    atomic_write_bytes(written[0], sink.getvalue().to_pybytes())

    timings = pd.DataFrame(timing_rows, columns=["run_id", "replication", "seed", "worker",
                                                 "started_at", "wall_s", "cpu_s",
                                                 "simulate_s"])  # fmt: skip
    atomic_write_text(out / "timings.csv", timings.to_csv(index=False))
    written.append(out / "timings.csv")

    summary_frame = _summary_frame(plan, per_point)
    atomic_write_text(out / "summary.csv", summary_frame.to_csv(index=False))
    written.append(out / "summary.csv")
    if plots and plan.kind == "sweep" and plan.keys:
        written.extend(_write_sweep_plots(out, plan, summary_frame, plot_metrics))
    return written, failed


def _summary_frame(plan: Plan, per_point: Mapping[str, list[Mapping[str, Any]]]) -> pd.DataFrame:
    """Mean, std and 95 % t-interval per point and metric (failed runs left out)."""
    frames = []
    for point in ordered_points(plan):
        reps = replications(per_point.get(point.run_id, []))
        head = pd.DataFrame({"run_id": [point.run_id] * len(reps)})
        for k in plan.keys:
            head[k] = [scalar_text(point.params[k])] * len(reps)
        frames.append(pd.concat([head, reps.reset_index(drop=True)], axis=1))
    columns = ["run_id", *plan.keys, "metric", "n", "mean", "std", "ci_low", "ci_high"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def _write_sweep_plots(
    out: Path, plan: Plan, summary: pd.DataFrame, metrics: str | Sequence[str] | None
) -> list[Path]:
    # matplotlib is loaded only when plots are drawn: a sweep without plots never needs it.
    from simulator.plots import save_figure

    folder = out / "plots"
    folder.mkdir(exist_ok=True)
    written = []
    for key in plan.keys:
        fig = plot_sweep_key(plan, summary, key, metrics)
        written.append(save_figure(fig, folder / f"{file_label(key)}.png"))
    return written


def read_summary(out: str | Path, table: RunTable[TablePoint] | None = None) -> pd.DataFrame:
    """``summary.csv`` of a finished sweep, compare or study, with typed key columns.

    The file holds key values as text (:func:`~simulator.sweeps.spec.scalar_text`);
    each key column is mapped back, by run id, to the value the point had in
    ``table`` (default: :func:`~simulator.sweeps.folder.load_run_table` of
    ``out``), so ``7`` is an int, ``0.1`` a float and ``null`` None again.
    ``mean``, ``std``, ``ci_low`` and ``ci_high`` are floats (NaN where the
    file has nothing). Rows stay in the file's order:
    points by value (:func:`~simulator.sweeps.plan.ordered_points`), then
    metrics in the order the runs reported them.
    """
    out = Path(out)
    table = table if table is not None else load_run_table(out)
    frame = pd.read_csv(out / "summary.csv", dtype={k: str for k in table.keys},
                        keep_default_na=False, na_values=[""])  # fmt: skip
    for key in table.keys:
        typed = {p.run_id: p.params[key] for p in table.points}
        frame[key] = frame["run_id"].map(typed)
    for name in ("mean", "std", "ci_low", "ci_high"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce")
    return frame
