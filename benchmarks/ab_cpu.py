"""Benchmark: the CPU time of ``creditsim run`` under two source trees, interleaved (A B A B ...).

For a change that must not slow a run down (issue #14: "medians of at least
5 repeats within 5 %"): each repeat runs ``python -m simulator run SCENARIO
--no-report --no-progress`` once with tree A and once with tree B on
``PYTHONPATH``, alternating so that drift of a shared, noisy machine falls
on both, and takes the CPU time (user + system) of the child from
``getrusage``, which contention disturbs far less than wall time.

    python benchmarks/ab_cpu.py OLD_TREE NEW_TREE [--scenario FILE] [--members N]
        [--repeat 5] [--workers 1]

``--members`` scales the scenario down (``cs.scaled``) to that many members.
Prints each tree's median, min and max CPU seconds and wall seconds, and the
ratio of the medians (B / A). Record results in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import simulator as cs
from simulator.yamlio import dump_yaml

ROOT = Path(__file__).resolve().parents[1]


def _run(tree: Path, scenario: Path, out: Path, workers: int) -> tuple[float, float]:
    """One run under ``tree``: (CPU seconds of the child and its workers, wall seconds)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "simulator", "run", str(scenario), "--no-report",
         "--no-progress", "--workers", str(workers), "--out", str(out), "--overwrite"],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="source tree A (the one holding simulator/)")
    parser.add_argument("b", type=Path, help="source tree B")
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "bench.yaml")
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = cs.load_scenario(args.scenario)
        scaled = cs.scaled(base, args.members / base.members)
        scenario = Path(tmp) / "scenario.yaml"
        scenario.write_text(dump_yaml(scaled.to_dict()), encoding="utf-8")
        times: dict[str, list[tuple[float, float]]] = {"A": [], "B": []}
        for i in range(args.repeat):
            for name, tree in (("A", args.a), ("B", args.b)):
                cpu, wall = _run(tree.resolve(), scenario, Path(tmp) / f"run-{name}", args.workers)
                times[name].append((cpu, wall))
                print(f"repeat {i + 1} {name}: cpu {cpu:.2f} s, wall {wall:.2f} s", flush=True)
    medians = {}
    for name, rows in times.items():
        cpu = [c for c, _ in rows]
        wall = [w for _, w in rows]
        medians[name] = statistics.median(cpu)
        print(f"{name} ({getattr(args, name.lower())}): cpu median {medians[name]:.2f} s "
              f"(min {min(cpu):.2f}, max {max(cpu):.2f}), wall median "
              f"{statistics.median(wall):.2f} s")  # fmt: skip
    print(f"B / A (CPU medians): {medians['B'] / medians['A']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
