"""Benchmark: checking every point of a large sweep before it runs (issue #15, defect 5).

Times :func:`simulator.sweeps.plan_sweep` on ``scenarios/baseline.yaml`` over a
one-key ``--range`` (``policy.refund.window_days``) and a two-key grid of
the same number of points, and reports the median milliseconds per point of
``--repeat`` rounds. Nothing is simulated.

    python benchmarks/plan_bench.py [--points 2000] [--repeat 3]

Record results in benchmarks/RESULTS.md (machine, date).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

from simulator.sweeps import load_sweep_scenario, parse_axis_arguments, plan_sweep, with_spec

BASELINE = Path(__file__).parents[1] / "scenarios" / "baseline.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    scenario, _ = load_sweep_scenario(BASELINE)
    side = math.isqrt(args.points)
    shapes = {
        "one key (--range)": [("--range", f"policy.refund.window_days=1:{args.points}:1")],
        "two keys (--grid x --grid)": [
            ("--range", f"policy.refund.window_days=1:{side}:1"),
            ("--range", f"recipients.response_probability=0.001:{side / 1000}:0.001"),
        ],
    }
    for name, flags in shapes.items():
        spec = with_spec(None, axes=parse_axis_arguments(flags), replications=1, seed=None)
        times, points = [], 0
        for _ in range(args.repeat):
            start = time.perf_counter()
            points = len(plan_sweep(scenario, spec).points)
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        print(f"{name}: {points:,} points, median {median:.2f} s "
              f"({1000 * median / points:.2f} ms a point; best {min(times):.2f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
