"""Where the time of ``creditsim report`` goes, per step (issue #4's speed budget).

Times, in one process, the steps of :func:`simulator.reports.write_reports` on
an existing run directory: reading each batch's parts, each report's sums
(:mod:`simulator.reports.sums`; summed over the batches), adding them,
finishing the reports, writing the report tables and drawing the plots. CPU seconds
(``time.process_time``), which other jobs on a shared machine disturb less
than wall time, and wall seconds.

    python benchmarks/report_phases.py RUN_DIR [--repeat 3] [--profile]

Make a run to measure with, for example a 30,000-member slice of bench.yaml:

    creditsim run scenarios/bench.yaml --no-report --out /tmp/b30k \\
        --set population[0].members=12000 --set population[1].members=9000 \\
        --set population[2].members=4500 --set population[3].members=3000 \\
        --set population[4].members=1500

It writes nothing into RUN_DIR: the report files go to a scratch folder.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from simulator import plots, reports, runformat
from simulator.columns import ParquetTable
from simulator.reports import sums as report_sums


def _timed(log: dict[str, list[tuple[float, ...]]], name: str, fn: Callable[[], Any]) -> Any:
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    c0, w0 = time.process_time(), time.perf_counter()
    value = fn()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    log.setdefault(name, []).append(
        (
            time.process_time() - c0,
            time.perf_counter() - w0,
            r1.ru_stime - r0.ru_stime,
            (r1.ru_minflt - r0.ru_minflt) / 1000,
        )
    )
    return value


def one_pass(run_dir: Path, scratch: Path, log: dict[str, list[tuple[float, ...]]]) -> None:
    """Every step of write_reports, each timed on its own (summed over the batches)."""
    meta = _timed(log, "run.json, parts checked", lambda: reports.load_run_tables(run_dir))
    merged = report_sums.Merged()
    for index in range(len(meta.meta["batches"])):
        sources = {name: ParquetTable(runformat.part_path(run_dir, name, index))
                   for name in runformat.TABLES}  # fmt: skip
        tables = reports.RunTables(**sources, meta=meta.meta, summary=meta.summary)
        _timed(log, "read and decode a batch", partial(_decode, tables))
        sums = {}
        for name, (compute, _) in report_sums.SUMS.items():
            sums[name] = _timed(log, f"{name} sums", partial(compute, tables))
        _timed(log, "add the batch's sums", partial(merged.add, sums))
    added = _timed(log, "add the last sums", lambda: merged.sums)
    frames = _timed(log, "finish every report", lambda: report_sums.frames(added, meta))
    _timed(log, "write report tables", lambda: reports.write_tables(frames, scratch / "r"))

    def figures() -> None:
        figs = [
            plots.plot_expiry_waste(frames["expiry_waste"]),
            plots.plot_refund_rates(frames["refund_rates_by_tier_category"]),
            plots.plot_balance_distribution(frames["balance_distribution"]),
            plots.plot_response_delays(frames["response_delays"], meta.refund_window_days),
            plots.plot_purchases_revenue(frames["purchases_revenue"], meta.currency),
            plots.plot_utilisation(frames["utilisation"]),
        ]
        for fig in figs:
            plots.figure_png(fig)

    _timed(log, "six plots", figures)


def _decode(tables: reports.RunTables) -> None:
    tables.columns, tables._window  # noqa: B018  (built on first use: that is what is timed)


def _total(
    log: dict[str, list[tuple[float, ...]]], repeat: int
) -> dict[str, list[tuple[float, ...]]]:
    """Per step, one sample per pass: the batches' samples of a pass summed."""
    out: dict[str, list[tuple[float, ...]]] = {}
    for name, samples in log.items():
        per = len(samples) // repeat
        passes = [samples[i * per : (i + 1) * per] for i in range(repeat)]
        out[name] = [tuple(float(sum(x)) for x in zip(*one, strict=True)) for one in passes]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="cProfile one whole write_reports")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        if args.profile:
            work = scratch / "run"
            work.mkdir()
            for f in args.run_dir.iterdir():  # its files and its folders of parts
                if f.name not in ("reports", "plots", "report.html"):
                    (work / f.name).symlink_to(f.resolve())
            prof = cProfile.Profile()
            prof.runcall(reports.write_reports, work)
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
            return
        log: dict[str, list[tuple[float, ...]]] = {}
        walls = []
        for _ in range(args.repeat):
            w0 = time.perf_counter()
            one_pass(args.run_dir, scratch, log)
            walls.append(time.perf_counter() - w0)
        log = _total(log, args.repeat)

    def median(samples: list[tuple[float, ...]], i: int) -> float:
        return statistics.median(x[i] for x in samples)

    total_cpu = sum(median(v, 0) for v in log.values())
    print(
        f"{'step':<26} {'CPU s':>7} {'wall s':>7} {'sys s':>6} {'faults k':>9} {'share':>6}"
        f"   (median of {args.repeat}; sys and page faults are part of CPU)"
    )
    for name, samples in log.items():
        cpu, wall, sys_s, faults = (median(samples, i) for i in range(4))
        print(
            f"{name:<26} {cpu:7.2f} {wall:7.2f} {sys_s:6.2f} {faults:9.0f} {cpu / total_cpu:6.0%}"
        )
    print(f"{'total':<26} {total_cpu:7.2f} {statistics.median(walls):7.2f}")


if __name__ == "__main__":
    main()
