"""Benchmark: a sweep of 200 small runs on 1 and 2 local processes and on Dask (issue #5).

Runs ``creditsim sweep`` end to end (a fresh process each time, as a user
would) over a small scenario written to a temporary folder: 10 values of
``policy.refund.window_days`` x 20 replications = 200 runs of 800 members
for 180 days (about 0.2 s each on the standard machine). Configurations:

- ``local-1``: ``--workers 1`` (runs in the driver process);
- ``local-2``: ``--workers 2`` (the forkserver process pool);
- ``dask-2``:  ``--executor dask --workers 2`` (a LocalCluster it starts).

Reports the median and the best wall time of ``--repeat`` rounds, the speed-up of 2
workers over 1 (target >= 1.7) and Dask's overhead against the local pool
(target <= 15 %), checks that all results.parquet files are identical, and
with ``--memory`` the driver's peak RSS for 200 and for 2,000 tiny runs (it
should not grow with the number of runs: results stream to disk).

    python benchmarks/sweep_bench.py [--repeat 3] [--memory]

Record results in benchmarks/RESULTS.md (machine, date).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIO = """\
name: sweep-bench
seed: 1
start: 2024-01-01
duration_days: {days}
warmup_days: 10
population:
  - name: career
    tier: premium_career
    members: {career}
    sending: {{inmails_per_month: 6}}
  - name: free
    tier: basic
    members: {free}
    sending:
      inmails_per_month: 1
      out_of_credit: {{buy_probability: 0.5, buy_quantity: 2}}
"""
CONFIGS = {
    "local-1": ["--workers", "1"],
    "local-2": ["--workers", "2"],
    "dask-2": ["--executor", "dask", "--workers", "2"],
}
# The driver's own peak RSS (children excluded), printed by a wrapper around the CLI.
_WRAPPER = (
    "import resource, sys\n"
    "from simulator.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print('peak_rss_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def sweep(scenario: Path, out: Path, runs_args: list[str], extra: list[str]) -> tuple[float, int]:
    cmd = [sys.executable, "-c", _WRAPPER, "sweep", str(scenario), *runs_args, "--out", str(out),
           "--no-plots", "--no-progress", *extra]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    secs = time.perf_counter() - start
    rss = int(done.stdout.rsplit("peak_rss_kib", 1)[1].split()[0])
    return secs, rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds (median reported)")
    parser.add_argument("--memory", action="store_true", help="also 200 vs 2,000 tiny runs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scenario = root / "bench.yaml"
        scenario.write_text(SCENARIO.format(days=180, career=500, free=300))
        runs_args = ["--range", "policy.refund.window_days=1:10:1", "--replications", "20",
                     "--seed", "7"]  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in CONFIGS}
        rss: dict[str, int] = {}
        outputs: list[bytes] = []
        for round_ in range(args.repeat):
            for name, extra in CONFIGS.items():
                out = root / f"{name}-{round_}"
                secs, peak = sweep(scenario, out, runs_args, extra)
                times[name].append(secs)
                rss[name] = max(rss.get(name, 0), peak)
                outputs.append((out / "results.parquet").read_bytes())
                # The 1-minute load average says how busy the (shared) machine was.
                load = os.getloadavg()[0]
                print(f"round {round_ + 1} {name}: {secs:.1f} s, driver peak RSS "
                      f"{peak / 1024:.0f} MiB, load {load:.1f}", flush=True)  # fmt: skip
        identical = all(o == outputs[0] for o in outputs)
        med = {name: statistics.median(ts) for name, ts in times.items()}
        best = {name: min(ts) for name, ts in times.items()}
        print()
        print(f"| configuration | wall, median of {args.repeat} | best | runs/s (median) | "
              "all rounds |")  # fmt: skip
        print("|---|---|---|---|---|")
        for name in CONFIGS:
            print(f"| {name} | {med[name]:.1f} s | {best[name]:.1f} s | {200 / med[name]:.1f} | "
                  f"{', '.join(f'{t:.1f}' for t in times[name])} |")  # fmt: skip
        print()
        # On a shared machine the best round is the least disturbed; both are reported.
        for label, t in (("median", med), ("best", best)):
            speedup = t["local-1"] / t["local-2"]
            overhead = t["dask-2"] / t["local-2"] - 1
            print(f"{label}: speed-up 2 workers / 1 {speedup:.2f}x (target >= 1.7: "
                  f"{'met' if speedup >= 1.7 else 'NOT met'}); Dask against the local pool "
                  f"{100 * overhead:+.1f} % (target <= +15 %: "
                  f"{'met' if overhead <= 0.15 else 'NOT met'})")  # fmt: skip
        print(f"results.parquet identical across all {len(outputs)} sweeps: {identical}")

        if args.memory:
            tiny = root / "tiny.yaml"
            tiny.write_text(SCENARIO.format(days=30, career=10, free=5))
            print()
            for reps in (20, 200):
                grid = ["--range", "policy.refund.window_days=1:10:1", "--replications",
                        str(reps)]  # fmt: skip
                secs, peak = sweep(tiny, root / f"tiny-{reps}", grid, ["--workers", "2"])
                print(f"{10 * reps:,} tiny runs on 2 workers: {secs:.1f} s, driver peak RSS "
                      f"{peak / 1024:.0f} MiB")  # fmt: skip
        return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
