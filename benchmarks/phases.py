"""Benchmark: where a run's time and memory go, phase by phase, in one process (issue #3).

Runs the steps of ``creditsim run --no-report --workers 1`` one after the
other on ``scenarios/bench.yaml`` scaled to ``--members`` (default 10,000),
and prints, for each, its CPU seconds (``time.process_time``, which is less
sensitive than wall time to other jobs on a shared machine) and the resident
memory after it and the peak so far:

    python benchmarks/phases.py [--members 10000] [--scenario scenarios/bench.yaml]

``--simulate-only`` stops after the simulate phase (the model alone): to
compare two versions of the model, run it alternately on each (ABAB...).

Record results in benchmarks/RESULTS.md (machine, date).
"""

from __future__ import annotations

import argparse
import gc
import resource
import tempfile
import time
from collections.abc import Callable
from typing import Any


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="scenarios/bench.yaml")
    ap.add_argument("--members", type=int, default=10_000)
    ap.add_argument("--simulate-only", action="store_true", help="stop after the simulate phase")
    args = ap.parse_args()

    from simulator.invariants import check_run
    from simulator.model import simulate_shard
    from simulator.population import member_ids, roster
    from simulator.run_summary import summarise
    from simulator.runformat import write_parts
    from simulator.scenario import load_scenario
    from simulator.tables import assemble, shard_columns

    sc = load_scenario(args.scenario)
    factor = args.members / sc.members
    sc = sc.with_overrides({f"population[{i}].members": max(1, round(c.members * factor))
                            for i, c in enumerate(sc.population)})  # fmt: skip
    total = 0.0

    def phase(name: str, fn: Callable[..., Any], *fn_args: Any) -> Any:
        nonlocal total
        start = time.process_time()
        value = fn(*fn_args)
        secs = time.process_time() - start
        total += secs
        gc.collect()
        print(f"{name:<14} {secs:7.2f} s CPU   rss {_rss_mib():7,.0f} MiB   "
              f"peak {_peak_mib():7,.0f} MiB")  # fmt: skip
        return value

    members = roster(sc)
    print(f"{members.size:,} members; start: rss {_rss_mib():,.0f} MiB")
    # Each phase's input is dropped once used, as in a real run.
    raw = phase("simulate", simulate_shard, sc, range(members.size), None, members)
    if args.simulate_only:
        return
    cols = phase("shard_columns", shard_columns, raw, sc)
    del raw
    tables = phase("assemble", assemble, [cols], sc, members, member_ids(sc, members))
    del cols
    summary = phase("summarise", summarise, tables, sc, members)
    phase("check", check_run, tables, summary, sc)
    with tempfile.TemporaryDirectory() as tmp:
        # One batch's parts, as a worker writes them (runformat.write_parts).
        phase("write parts", write_parts, tmp, 0, tables)
    n = tables.arrow["inmails"].num_rows
    print(f"{n:,} InMails in {total:.1f} s CPU -> {n / total:,.0f} InMails/s")
    for name, table in (*tables.arrow.items(), ("history", tables.history)):
        print(f"  {name}: {table.num_rows:,} rows, {table.nbytes / 2**20:,.0f} MiB")


if __name__ == "__main__":
    main()
