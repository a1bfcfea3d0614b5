"""Benchmark: ``creditsim run`` end to end against the bare SimPy kernel (issue #3).

Measures, in one process run:

1. the bare SimPy kernel's event rate: N processes each looping
   ``yield env.timeout(...)`` (N = the scenario's members), events/s, and a
   hand-written SimPy model of the same population (an event per InMail and
   per refund, a plain counter for credits), InMails/s, for reference;
2. ``creditsim run SCENARIO --no-report`` end to end (every table written,
   the history parts included) with ``--workers 1`` and ``--workers 2``:
   InMails/s, InMails/s per core, the speed-up, and peak memory per process;
3. ``creditsim report`` on the ``--workers 1`` run (every report, plot and
   report.html), median of ``--report-repeat`` runs, as a share of that
   run's wall time and of its simulate phase (issue #4: <= 20 %).

    python benchmarks/run_bench.py [--scenario scenarios/bench.yaml] [--members N] [--with-reports]

``--members`` scales every cohort down proportionally for a quicker look.
Record results in benchmarks/RESULTS.md (machine, date).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import simpy


def bare_simpy(processes: int, events: int = 2_000_000) -> float:
    """Events/s of ``processes`` SimPy processes each yielding timeouts in a loop."""

    def proc(env: simpy.Environment, dt: int):  # type: ignore[no-untyped-def]
        while True:
            yield env.timeout(dt)

    env = simpy.Environment()
    for i in range(processes):
        env.process(proc(env, 1 + i % 7))
    per_unit = sum(1 / (1 + i % 7) for i in range(processes))
    start = time.perf_counter()
    env.run(until=events / per_unit)
    return events / (time.perf_counter() - start)


def naive_simpy(scenario: object, seed: int = 1) -> tuple[int, float]:
    """A hand-written SimPy model of the same population, for reference: (InMails, seconds).

    What one would write first: a process per member that yields a timeout per
    InMail (exponential gaps at the cohort's rate), spends from a plain
    counter topped up monthly, and schedules each refund as its own timeout
    event 7 days later. No lots, no expiry, no ledger, no tables: a floor on
    the cost of the events alone, not a model of the rules.
    """
    import random

    rng = random.Random(seed)
    env = simpy.Environment()
    sent = [0]
    month, week = 30.436875 * 86_400, 7 * 86_400
    horizon = 365 * 86_400

    def refund(state: list[int]):  # type: ignore[no-untyped-def]
        yield env.timeout(week)
        state[0] += 1

    def member(rate: float, grant: int, state: list[int]):  # type: ignore[no-untyped-def]
        next_grant = 0.0
        while True:
            yield env.timeout(rng.expovariate(rate / month))
            while env.now >= next_grant:
                state[0] += grant
                next_grant += month
            if state[0] == 0:
                state[0] += 1  # buys a credit
            state[0] -= 1
            sent[0] += 1
            if rng.random() < 0.8:  # ~80 % earn their credit back (see summary.json)
                env.process(refund(state))

    grants = {"basic": 0, "premium_career": 5, "premium_business": 15, "sales_navigator": 50,
              "recruiter_lite": 30}  # fmt: skip
    for cohort in scenario.population:  # type: ignore[attr-defined]
        rate = cohort.sending.inmails_per_month
        for _ in range(cohort.members):
            if rate > 0:
                env.process(member(rate, grants.get(cohort.tier, 0), [0]))
    start = time.perf_counter()
    env.run(until=horizon)
    return sent[0], time.perf_counter() - start


def _tree(pid: int) -> list[int]:
    """``pid`` and every process below it (Linux /proc)."""
    found, todo = [], [pid]
    while todo:
        here = todo.pop()
        found.append(here)
        for task in Path(f"/proc/{here}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def _peak_kib(pid: int, tree: bool = True) -> int:
    """The largest VmHWM (peak resident set, KiB) of a process in ``pid``'s tree now (of
    ``pid`` alone without ``tree``)."""
    peak = 0
    for p in _tree(pid) if tree else [pid]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
    return peak


#: The peak RSS (KiB) of the main process of the last :func:`timed` command.
LAST_MAIN_PEAK_KIB = [0]


def timed(cmd: list[str]) -> tuple[float, int]:
    """Run ``cmd``: wall seconds and the peak RSS (KiB) of any process of its tree.

    The tree is sampled every 0.2 s (worker processes, the forkserver's
    children included, which ``getrusage`` does not see), and the command's own
    peak is taken from ``getrusage`` as well, so a short-lived peak of the main
    process is never missed.
    """
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    peak = main = 0
    while proc.poll() is None:
        peak = max(peak, _peak_kib(proc.pid))
        main = max(main, _peak_kib(proc.pid, tree=False))
        time.sleep(0.2)
    secs = time.perf_counter() - start
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    LAST_MAIN_PEAK_KIB[0] = max(main, after if after > before else 0)
    return secs, max(peak, LAST_MAIN_PEAK_KIB[0])


def run_cli(
    scenario: str, workers: int, extra: list[str], out: Path, reports: bool = False
) -> tuple[float, dict, int]:
    """``creditsim run`` in a fresh process (``--no-report`` unless ``reports``): wall
    seconds, run.json, peak RSS (KiB) of any of its processes."""
    cmd = [sys.executable, "-m", "simulator", "run", scenario, "--no-progress",
           "--workers", str(workers), "--out", str(out), *extra]  # fmt: skip
    if not reports:
        cmd.append("--no-report")
    secs, peak_kib = timed(cmd)
    meta = json.loads((out / "run.json").read_text())
    return secs, meta, peak_kib


def report_cli(run_dir: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of ``creditsim report RUN_DIR`` in a fresh process."""
    return timed([sys.executable, "-m", "simulator", "report", str(run_dir)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="scenarios/bench.yaml")
    ap.add_argument("--members", type=int, help="scale the population to about this many")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--skip-report", action="store_true", help="do not time creditsim report")
    ap.add_argument("--skip-naive", action="store_true", help="do not run the hand-written model")
    ap.add_argument("--report-repeat", type=int, default=3, help="times creditsim report runs")
    ap.add_argument(
        "--with-reports",
        action="store_true",
        help="time creditsim run with its reports (the workers compute each batch's report sums)",
    )
    args = ap.parse_args()
    from simulator.scenario import load_scenario

    sc = load_scenario(args.scenario)
    extra: list[str] = []
    if args.members:
        factor = args.members / sc.members
        for i, c in enumerate(sc.population):
            extra += ["--set", f"population[{i}].members={max(1, round(c.members * factor))}"]
        members = sum(max(1, round(c.members * factor)) for c in sc.population)
    else:
        members = sc.members
    print(f"machine: {platform.machine()} cores={os.cpu_count()} python={platform.python_version()}"
          f" simpy={simpy.__version__} date={time.strftime('%Y-%m-%d')}")  # fmt: skip
    rate = bare_simpy(members)
    print(f"bare SimPy kernel: {rate:,.0f} events/s with {members:,} processes")
    if not args.skip_naive:
        if args.members:
            sc = sc.with_overrides({f"population[{i}].members": max(1, round(c.members * factor))
                                    for i, c in enumerate(sc.population)})  # fmt: skip
        n, secs = naive_simpy(sc)
        print(f"hand-written SimPy model (counter, event per InMail and per refund): {n:,} "
              f"InMails in {secs:.1f} s -> {n / secs:,.0f} InMails/s")  # fmt: skip
    base = None
    with tempfile.TemporaryDirectory() as tmp:
        for w in args.workers:
            out = Path(tmp) / f"run-w{w}"
            secs, meta, peak = run_cli(args.scenario, w, extra, out, args.with_reports)
            n = meta["counts"]["inmails_attempted"]
            per_core = n / secs / w
            base = base or n / secs
            what = "with its reports" if args.with_reports else "--no-report"
            print(f"run --workers {w} {what}: {secs:.1f} s, {n:,} InMails -> "
                  f"{n / secs:,.0f} InMails/s "
                  f"({per_core:,.0f} per core; ratio to bare SimPy {n / secs / w / rate:.3f}); "
                  f"speed-up {n / secs / base:.2f}x; peak RSS of any of its processes "
                  f"{peak / 1024:,.0f} MiB (the parent: "
                  f"{LAST_MAIN_PEAK_KIB[0] / 1024:,.0f} MiB)")  # fmt: skip
            if w == args.workers[0] and not args.skip_report:
                measured = [report_cli(out) for _ in range(args.report_repeat)]
                times = [t for t, _ in measured]
                rsecs = statistics.median(times)
                simulate = meta["timings"]["simulate_s"]
                print(
                    f"report on the --workers {w} run: median {rsecs:.1f} s of "
                    f"{', '.join(f'{t:.1f}' for t in times)} = {100 * rsecs / secs:.0f} % of the "
                    f"run's {secs:.1f} s wall, {100 * rsecs / simulate:.0f} % of its "
                    f"simulate phase ({simulate:.1f} s); peak RSS "
                    f"{max(p for _, p in measured) / 1024:,.0f} MiB"
                )
            shutil.rmtree(out)


if __name__ == "__main__":
    main()
