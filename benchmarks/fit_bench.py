"""Benchmark: ``creditsim fit`` on a year of 100,000 members' history (issue #17: <= 5 min, 2 GB).

1. generates the history with ``creditsim run SCENARIO --no-report`` (its
   ``history/part-*.csv``: about 10 million rows for ``scenarios/bench.yaml``),
   unless ``--history DIR`` gives one already made;
2. fits it in a fresh process (``simulator.calibration.fit(...).save(out)``, what
   ``creditsim fit`` does) and reports the wall time, the peak resident memory
   of that process (``ru_maxrss`` of the child), the rows read and the time of
   each stage.

    python benchmarks/fit_bench.py [--scenario scenarios/bench.yaml] [--members N]
        [--history DIR] [--keep DIR]

``--members`` scales every cohort down proportionally for a quicker look.
Record results in benchmarks/RESULTS.md (machine, date).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The fit, in a child process so its peak memory is its own: prints one JSON line.
_CHILD = """
import json, resource, sys, time
from pathlib import Path
from simulator.calibration import fit
t0 = time.perf_counter()
stages = []
def progress(text):
    stages.append((text, time.perf_counter() - t0))
parts = sorted(str(p) for p in Path(sys.argv[1]).glob("history/part-*.csv"))
result = fit(parts, progress=progress)
stages.append(("saving", time.perf_counter() - t0))
result.save(sys.argv[2])
stages.append(("done", time.perf_counter() - t0))
print(json.dumps({"rows": len(result.observed), "members": len(result.observed.members),
                  "files": len(parts), "stages": stages,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def generate(scenario: str, members: int | None, out: Path) -> float:
    """``creditsim run`` into ``out``; returns its wall time."""
    cmd = [sys.executable, "-m", "simulator", "run", scenario, "--out", str(out), "--no-report",
           "--no-progress"]  # fmt: skip
    if members:
        from simulator.scenario import load_scenario

        sc = load_scenario(scenario)
        factor = members / sc.members
        for i, c in enumerate(sc.population):
            cmd += ["--set", f"population[{i}].members={max(1, round(c.members * factor))}"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="scenarios/bench.yaml")
    ap.add_argument("--members", type=int, help="scale the population to about this many")
    ap.add_argument("--history", help="a run directory whose history/ to fit (skips generating)")
    ap.add_argument("--keep", help="write the fit's folder here (default: a temporary one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="creditsim-fit-bench-") as tmp:
        run_dir = Path(args.history) if args.history else Path(tmp) / "run"
        if not args.history:
            seconds = generate(args.scenario, args.members, run_dir)
            print(f"generated {run_dir} in {seconds:,.1f} s")
        out = Path(args.keep) if args.keep else Path(tmp) / "fit"
        env = dict(os.environ, PYTHONPATH=os.getcwd())
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _CHILD, str(run_dir), str(out)], check=True,
                              capture_output=True, text=True, env=env)  # fmt: skip
        wall = time.perf_counter() - start
        info = json.loads(done.stdout.strip().splitlines()[-1])
        peak_kib = info["peak_kib"]  # the fitting process's own peak (Linux: KiB)
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(f"fit of {info['rows']:,} rows, {info['members']:,} members, {info['files']} files: "
          f"{wall:,.1f} s wall, peak RSS {peak_kib / 1024:,.0f} MiB")  # fmt: skip
    for text, t in info["stages"]:
        print(f"  {t:8.1f} s  {text}")
    limits_ok = wall <= 300 and peak_kib / 1024 <= 2048
    print("within the issue's limits (5 min, 2 GB)" if limits_ok else "OVER the issue's limits")


if __name__ == "__main__":
    main()
