"""Writing a run's reports: the tables in RUN_DIR/reports/, the plots, and report.html.

Job: :func:`write_reports` (every written report of the registry, in its
order, as CSV, Parquet or Markdown; each registered plot as a PNG; the page),
:func:`reports_or_problems` (the same, but a failing report costs only the
reports), :func:`write_replications` (the page of runs of one scenario over
seeds), :func:`write_tables` and :func:`report_frames` (every report of
tables held in memory). Every file is written atomically
(:func:`simulator.outputs.atomic_write_bytes`), so a reader never sees half
a file.

Boundary: the figures are finished by :mod:`simulator.reports.sums`, drawn by
:mod:`simulator.plots` and laid out by :mod:`simulator.reports.html`; this
module only decides what goes where.
"""

from __future__ import annotations

import io
import math
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.errors import CreditsimError, InputError
from simulator.outputs import atomic_write_bytes, atomic_write_text
from simulator.reports import html as report_html
from simulator.reports.registry import PLOT_NAMES, Plot, report
from simulator.reports.run_tables import RunMeta, RunTables, load_run_tables
from simulator.reports.sums import batch_sums, frames, run_sums
from simulator.runformat import read_json
from simulator.stats import replications
from simulator.yamlio import load_yaml_file

__all__ = [
    "report_frames",
    "reports_or_problems",
    "write_replications",
    "write_reports",
    "write_tables",
]


def write_reports(
    run_dir: str | os.PathLike[str],
    fmt: str = "csv",
    sums: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write RUN_DIR/reports/ (tables), RUN_DIR/plots/*.png and RUN_DIR/report.html.

    ``fmt`` is ``csv``, ``parquet`` or ``markdown`` (``.md``). Every file is
    written to a temporary name and moved into place, so a reader never sees
    half a file. Returns the paths written, tables first, then plots, then
    the page (built by :func:`simulator.reports.html.run_page`, which reads
    the run's ``scenario.yaml`` for its policy when there is one).

    The reports are finished from the run's report sums
    (:mod:`simulator.reports.sums`): ``sums`` when the run's workers computed
    them, otherwise read from the run's parts one batch at a time, so the
    memory needed is that of one batch, whatever the run's size.
    """
    # matplotlib only when drawing: workers import this package for its sums alone.
    from simulator import plots

    _extension(fmt)
    root = Path(run_dir)
    tables = load_run_tables(root)  # the folder checked, its metadata read; no rows yet
    if sums is None:
        sums = run_sums(root, tables)
    finished = frames(sums, tables)
    written: list[Path] = []
    written.extend(write_tables(finished, root / "reports", fmt))

    figures = {name: _draw(plots, name, report(name).plot, finished, tables) for name in PLOT_NAMES}
    steady = report_html.steady_block(tables.summary)
    if steady is not None:  # drawn for its own section of the page
        figures["steady_state"] = plots.plot_steady_state(steady)
    images = _write_figures(figures, root / "plots", written)
    headline_values = dict(
        zip(finished["headline"]["metric"], finished["headline"]["value"], strict=True)
    )
    page = report_html.run_page(
        tables,
        finished,
        images,
        headline=headline_values,
        scenario=_read_scenario(root / "scenario.yaml"),
        ext=_extension(fmt),
    )
    path = root / "report.html"
    atomic_write_text(path, page)
    written.append(path)
    return written


def _draw(
    plots: Any, name: str, plot: Plot | None, finished: Mapping[str, pd.DataFrame], meta: RunMeta
) -> Any:
    """The figure of report ``name``'s registered ``plot``."""
    assert plot is not None  # PLOT_NAMES lists the reports with a plot (registry._check)
    draw = getattr(plots, plot.function)
    return draw(finished[plot.frame or name], *(getattr(meta, key) for key in plot.meta))


def reports_or_problems(
    run_dir: str | os.PathLike[str], sums: Mapping[str, Any] | None = None
) -> list[str]:
    """:func:`write_reports`, but a report that fails costs only the reports.

    Returns ``[]``, or the lines saying why the reports failed, having removed
    whatever of ``reports/``, ``plots/`` and ``report.html`` they had written,
    so a run directory never holds half a report. An interruption (Ctrl-C)
    still propagates.
    """
    try:
        write_reports(run_dir, sums=sums)
    except Exception as exc:  # a report's bug must not throw away the simulation
        root = Path(run_dir)
        for name in ("reports", "plots"):
            shutil.rmtree(root / name, ignore_errors=True)
        (root / "report.html").unlink(missing_ok=True)
        if isinstance(exc, CreditsimError):
            return list(exc.lines())
        return [f"{type(exc).__name__}: {exc}"]
    return []


def write_replications(
    run_dirs: Iterable[str | os.PathLike[str]], out_dir: str | os.PathLike[str], fmt: str = "csv"
) -> list[Path]:
    """Write the replication report of runs of one scenario with different seeds.

    Reads each run's ``run.json`` and ``summary.json``; writes
    OUT_DIR/reports/replications.<ext>, OUT_DIR/plots/replications.png and
    OUT_DIR/replications.html. The runs must share a scenario and differ in seed.
    """
    # matplotlib only when drawing: workers import this package for its sums alone.
    from simulator import plots

    _extension(fmt)
    summaries, scenarios, seeds, currencies = [], set(), [], []
    for run_dir in run_dirs:
        root = Path(run_dir)
        meta = read_json(root / "run.json", root)
        summaries.append(read_json(root / "summary.json", root))
        scenarios.add(str(meta.get("scenario")))
        seeds.append(meta.get("seed"))
        currencies.append(str(meta.get("currency", "USD")))
    if not summaries:
        raise InputError("replications: no run directories given")
    if len(scenarios) > 1:
        raise InputError(
            f"replications: runs of different scenarios: {', '.join(sorted(scenarios))}"
        )
    if len(set(map(str, seeds))) < len(seeds):
        raise InputError("replications: two runs share a seed")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = replications(summaries)
    written = write_tables({"replications": frame}, out / "reports", fmt)
    images = _write_figures(
        {"replications": plots.plot_replications(frame, currency=currencies[0])},
        out / "plots",
        written,
    )
    page = report_html.replications_page(scenarios.pop(), seeds, frame, images, currencies[0])
    path = out / "replications.html"
    atomic_write_text(path, page)
    written.append(path)
    return written


_FORMATS = {"csv": "csv", "parquet": "parquet", "markdown": "md"}


def write_tables(
    frames: Mapping[str, pd.DataFrame], out_dir: str | os.PathLike[str], fmt: str = "csv"
) -> list[Path]:
    """Write each frame as OUT_DIR/<name>.<csv|parquet|md>, atomically; return the paths.

    CSV has no index and leaves NaN cells empty; Markdown is a GitHub table.
    """
    ext = _extension(fmt)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [_write_table(frame, out / f"{name}.{ext}", fmt) for name, frame in frames.items()]


def _extension(fmt: str) -> str:
    ext = _FORMATS.get(fmt)
    if ext is None:
        raise InputError(f"unknown report format {fmt!r}: use one of {', '.join(_FORMATS)}")
    return ext


def report_frames(tables: RunTables) -> dict[str, pd.DataFrame]:
    """Every report table of one run, by name, as ``write_reports`` writes them.

    The tables are read as one batch (:func:`simulator.reports.sums.batch_sums`).
    """
    return frames(batch_sums(tables), tables)


def _write_table(frame: pd.DataFrame, path: Path, fmt: str) -> Path:
    if fmt == "csv":
        atomic_write_text(path, frame.to_csv(index=False, lineterminator="\n"))
    elif fmt == "markdown":
        atomic_write_text(path, _markdown(frame))
    else:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        atomic_write_bytes(path, buffer.getvalue())
    return path


def _write_figures(figures: Mapping[str, Any], plot_dir: Path, written: list[Path]) -> dict:
    # matplotlib only when drawing: workers import this package for its sums alone.
    from simulator.plots import figure_png

    plot_dir.mkdir(exist_ok=True)
    images = {}
    for name, fig in figures.items():
        png = figure_png(fig)
        atomic_write_bytes(plot_dir / f"{name}.png", png)
        written.append(plot_dir / f"{name}.png")
        images[name] = png
    return images


def _read_scenario(path: Path) -> Mapping[str, Any] | None:
    """The run's resolved scenario (``scenario.yaml``), or None when absent or unreadable:
    the page then says the policy is not recorded, and the reports are still written."""
    if not path.exists():
        return None
    try:
        data = load_yaml_file(path)
    except (CreditsimError, OSError):
        return None
    return data if isinstance(data, Mapping) else None


def _markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (pandas' to_markdown needs tabulate, which we lack)."""

    def cell(value: Any) -> str:
        if isinstance(value, float | np.floating):
            if math.isnan(value):
                return ""
            # Six significant digits, never scientific notation (2.56814e+08 read as a typo).
            return str(
                np.format_float_positional(
                    value, precision=6, unique=False, fractional=False, trim="-"
                )
            )
        return str(value).replace("|", "\\|")

    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |"]
    lines.append("|" + "|".join("---:" if n else ":---" for n in numeric) + "|")
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"
