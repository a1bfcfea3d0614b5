"""How long a warm-up does a scenario need? Headline and steady-state verdict per warm-up.

Runs a scenario (default ``scenarios/baseline.yaml``) with each warm-up and
seed, in parallel local processes, and prints per warm-up the mean headline
``expiry_waste_rate`` and ``vintage_waste_rate``, their paired difference to
the longest warm-up (same seeds: common random numbers), how many runs the
steady-state check calls steady, and how premium subscriptions (billing
charges per calendar month) vary over the measured year (min / max). The table in
``scenarios/README.md`` ("Warm-up") and ``benchmarks/RESULTS.md`` come from it.

    python benchmarks/warmup_study.py --warmups 0,90,194,365,730,1095 --seeds 6 --workers 2
"""

from __future__ import annotations

import argparse
import json
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def one(job: tuple[str, int, int]) -> dict[str, Any]:
    from simulator.runner import run
    from simulator.scenario import load_scenario

    path, warmup, seed = job
    scenario = load_scenario(path).with_overrides({"warmup_days": warmup, "seed": seed})
    result = run(scenario)
    s = result.summary
    bill = result.tables.arrow["billing"]
    t = bill.column("time").cast("int64").to_numpy()
    # Calendar months: one anniversary grant per subscriber in each (RULES.md section 1).
    month = t.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64)
    first = np.int64(np.datetime64(scenario.start, "s").astype("datetime64[M]").astype(np.int64))
    months = month[t >= scenario.start] - first
    per_month = np.bincount(months[months < 12], minlength=12)
    return {
        "warmup": warmup,
        "seed": seed,
        "expiry_waste_rate": s["expiry_waste_rate"],
        "vintage_waste_rate": s["vintage_waste_rate"],
        "steady": s["steady_state"]["steady"],
        "suggested_warmup_days": s["steady_state"]["suggested_warmup_days"],
        "subscriptions_per_month": per_month.tolist(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "baseline.yaml"))
    parser.add_argument("--warmups", default="0,90,194,365,730,1095")
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", help="also write every run's row to this file")
    args = parser.parse_args()
    warmups = [int(w) for w in args.warmups.split(",")]
    seeds = list(range(1, args.seeds + 1))
    jobs = [(args.scenario, w, s) for w in warmups for s in seeds]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(one, jobs))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    ref = max(warmups)
    by = {(r["warmup"], r["seed"]): r for r in rows}
    print(f"{args.scenario}: {len(seeds)} seeds per warm-up; differences are paired, "
          f"against warmup_days={ref}")  # fmt: skip
    print(
        "| warmup_days | expiry waste | vs longest | vintage waste | steady | "
        "subscriptions, month 12 / month 1 |"
    )
    print("|---|---|---|---|---|---|")
    for w in warmups:
        mine = [by[(w, s)] for s in seeds]
        ew = statistics.mean(r["expiry_waste_rate"] for r in mine)
        diff = statistics.mean(
            by[(w, s)]["expiry_waste_rate"] - by[(ref, s)]["expiry_waste_rate"] for s in seeds
        )
        vw = statistics.mean(r["vintage_waste_rate"] for r in mine)
        steady = sum(1 for r in mine if r["steady"])
        drift = statistics.mean(
            min(r["subscriptions_per_month"]) / max(r["subscriptions_per_month"]) for r in mine
        )
        suggested = max((r["suggested_warmup_days"] for r in mine if not r["steady"]), default=None)
        verdict = f"{steady}/{len(mine)}"
        if suggested:
            verdict += f" (suggests up to {suggested} d)"
        print(f"| {w} | {100 * ew:.1f} % | {100 * diff:+.2f} pt | {100 * vw:.1f} % | {verdict} | "
              f"{drift:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
