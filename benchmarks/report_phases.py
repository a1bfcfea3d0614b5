"""Where the time of ``creditsim report`` goes, per step (issue #4's speed budget).

Times, in one process, the steps of :func:`simulator.reports.write_reports` on
an existing run directory: loading the tables, each report frame, writing the
report tables, drawing and saving the plots, and the HTML page. CPU seconds
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
from pathlib import Path
from typing import Any

from simulator import plots, reports


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
    """Every step of write_reports, each timed on its own."""
    tables = _timed(log, "load tables", lambda: reports.load_run_tables(run_dir))
    _timed(log, "typed columns", lambda: tables.columns)
    rates = _timed(log, "refund_rates", lambda: reports.refund_rates(tables))
    members = _timed(log, "utilisation_members", lambda: reports.utilisation_members(tables))
    _timed(log, "headline", lambda: reports.headline(tables, rates=rates, members=members))
    frames = {
        "refund_rates": rates,
        "utilisation_members": members,
        "expiry_waste": _timed(log, "expiry_waste", lambda: reports.expiry_waste(tables)),
        "expiry_waste_by_source": _timed(
            log, "expiry_waste_by_source", lambda: reports.expiry_waste_by_source(tables)
        ),
        "credit_age": _timed(log, "credit_age", lambda: reports.credit_age(tables)),
        "refund_rates_by_tier_category": _timed(
            log, "refund_cuts by category", lambda: reports.refund_cuts(rates, ["tier", "category"])
        ),
        "refund_rates_by_length": _timed(
            log,
            "refund_cuts by length",
            lambda: reports.refund_cuts(rates, ["tier", "length_bucket"]),
        ),
        "refund_totals": _timed(log, "refund_totals", lambda: reports.refund_totals(rates)),
        "response_delays": _timed(log, "response_delays", lambda: reports.response_delays(tables)),
        "utilisation": _timed(log, "utilisation", lambda: reports.utilisation(tables, members)),
        "balance_distribution": _timed(
            log, "balance_distribution", lambda: reports.balance_distribution(tables)
        ),
        "purchases_revenue": _timed(
            log, "purchases_revenue", lambda: reports.purchases_revenue(tables)
        ),
        "rejections": _timed(log, "rejections", lambda: reports.rejections(tables)),
    }
    _timed(log, "write report tables", lambda: reports.write_tables(frames, scratch / "r"))

    def figures() -> None:
        figs = [
            plots.plot_expiry_waste(frames["expiry_waste"]),
            plots.plot_refund_rates(frames["refund_rates_by_tier_category"]),
            plots.plot_balance_distribution(frames["balance_distribution"]),
            plots.plot_response_delays(frames["response_delays"], tables.refund_window_days),
            plots.plot_purchases_revenue(frames["purchases_revenue"], tables.currency),
            plots.plot_utilisation(frames["utilisation"]),
        ]
        for fig in figs:
            plots.figure_png(fig)

    _timed(log, "six plots", figures)


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
            for f in args.run_dir.iterdir():
                if f.is_file():
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
