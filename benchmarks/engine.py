"""Benchmark: the credit rules engine on a synthetic history (issue #2).

Drives the engine API with >= 1,000,000 actions over 10,000 members (sends,
responses, purchases, subscriptions, tier changes, cancels over one year),
then runs ``creditsim replay`` on the same history written as CSV. Prints
actions/s and peak memory. Run by hand (not a test):

    python benchmarks/engine.py [--members 10000] [--repeat 5] [--profile]

Record results in benchmarks/RESULTS.md with the machine and date.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import gc
import os
import platform
import pstats
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simulator.engine import Engine, resolve_policy
from simulator.engine.core import gc_paused
from simulator.engine.history import HISTORY_COLUMNS
from simulator.timeutil import DAY, format_instant, parse_instant

TIERS = [
    ("basic", 0.4),
    ("premium_career", 0.3),
    ("premium_business", 0.15),
    ("sales_navigator", 0.1),
    ("recruiter_lite", 0.05),
]
RATE = {
    "basic": 1.0,
    "premium_career": 5,
    "premium_business": 12,
    "sales_navigator": 40,
    "recruiter_lite": 25,
}
CATS = ["career_opportunity", "consulting_offer", "new_venture", "job_inquiry"]


def synthetic_actions(members: int, seed: int = 1) -> list[tuple]:
    """Time-ordered actions ``(t, step, seq, member, kind, *args)``."""
    rng = random.Random(seed)
    t0 = parse_instant("2024-01-01T00:00:00Z")
    year = 365 * DAY
    out: list[tuple] = []
    seq = 0
    names = [n for n, _ in TIERS]
    weights = [w for _, w in TIERS]
    for i in range(members):
        m = f"m{i:06d}"
        tier = rng.choices(names, weights)[0]
        start = t0 + rng.randrange(30 * DAY)
        if tier != "basic":
            out.append((start, 5, seq, m, "subscribe", tier))
            seq += 1
        # Each member sends about 10x its tier rate a year, so 1M actions
        # need about 10k members.
        n_sends = rng.randrange(int(RATE[tier] * 14) + 30)
        for j in range(n_sends):
            t = start + rng.randrange(year)
            inm = f"{m}-{j}"
            if tier == "basic" and rng.random() < 0.3:
                out.append((t, 7, seq, m, "purchase", rng.randint(1, 11)))
                seq += 1
            free = rng.random() < 0.05
            body = rng.choice((0, 200, 600, 1500, 2001)) if rng.random() < 0.02 else 500
            out.append((t, 7, seq, m, "send", inm, rng.choice(CATS), 40, body, free))
            seq += 1
            if rng.random() < 0.3:
                delay = 1 + int(rng.expovariate(1 / (4 * DAY)))
                kind = rng.choice(("accept", "decline", "reply"))
                out.append((t + delay, 1, seq, m, "respond", inm, kind))
                seq += 1
        if tier != "basic" and rng.random() < 0.1:
            out.append(
                (start + rng.randrange(year), 5, seq, m, "change_tier", rng.choice(names[1:]))
            )
            seq += 1
        if tier != "basic" and rng.random() < 0.05:
            out.append((start + rng.randrange(year), 5, seq, m, "cancel"))
            seq += 1
    out.sort(key=lambda a: (a[0], a[1], a[2]))
    return out


def drive(actions: list[tuple]) -> tuple[float, int]:
    """Feed every action to a fresh engine; return (seconds, ledger entries)."""
    engine = Engine(resolve_policy(None))
    accounts: dict = {}
    gc.collect()
    start = time.perf_counter()
    with gc_paused():
        _feed(engine, accounts, actions)
        engine.settle_all(actions[-1][0] + 100 * DAY)
    return time.perf_counter() - start, len(engine.ledger)


def _feed(engine: Engine, accounts: dict, actions: list[tuple]) -> None:
    account = engine.account
    send, respond, purchase = engine.send, engine.respond, engine.purchase
    subscribe, cancel = engine.subscribe, engine.cancel
    for act in actions:
        m = act[3]
        a = accounts.get(m)
        if a is None:
            a = accounts[m] = account(m)
        kind = act[4]
        if kind == "send":
            send(a, act[0], act[5], act[6], act[7], act[8], act[9])
        elif kind == "respond":
            respond(a, act[0], act[5], act[6])
        elif kind == "purchase":
            purchase(a, act[0], act[5])
        elif kind == "cancel":
            cancel(a, act[0])
        else:
            subscribe(a, act[0], act[5])


def write_history(actions: list[tuple], path: Path) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HISTORY_COLUMNS)
        for act in actions:
            row = dict.fromkeys(HISTORY_COLUMNS, "")
            row.update(time=format_instant(act[0]), member=act[3], action=act[4])
            kind = act[4]
            if kind in ("subscribe", "change_tier"):
                row["tier"] = act[5]
            elif kind == "purchase":
                row["quantity"] = act[5]
            elif kind == "send":
                row.update(
                    inmail=act[5],
                    category=act[6],
                    subject_chars=act[7],
                    body_chars=act[8],
                    free="true" if act[9] else "false",
                )
            elif kind == "respond":
                row.update(inmail=act[5], response=act[6])
            w.writerow(row.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="print the top of a cProfile")
    ap.add_argument("--skip-replay", action="store_true")
    args = ap.parse_args()

    print(
        f"machine: {platform.machine()} {platform.processor() or ''} cores={os.cpu_count()} "
        f"python={platform.python_version()} date={time.strftime('%Y-%m-%d')}"
    )
    actions = synthetic_actions(args.members)
    print(f"history: {len(actions):,} actions, {args.members:,} members")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        drive(actions)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)
        return
    rates = []
    entries = 0
    for _ in range(args.repeat):
        secs, entries = drive(actions)
        rates.append(len(actions) / secs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"engine API: median {statistics.median(rates):,.0f} actions/s "
        f"(min {min(rates):,.0f}, max {max(rates):,.0f}, n={len(rates)}); "
        f"{entries:,} ledger entries; peak RSS {peak:,.0f} MiB (incl. the action list)"
    )
    if args.skip_replay:
        return
    with tempfile.TemporaryDirectory() as tmp:
        hist = Path(tmp) / "history.csv"
        write_history(actions, hist)
        cmd = [
            sys.executable,
            "-m",
            "simulator",
            "replay",
            str(hist),
            "--out",
            str(Path(tmp) / "out"),
        ]
        start = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%M", *cmd] if Path("/usr/bin/time").exists() else cmd,
            capture_output=True,
            text=True,
            check=True,
        )
        secs = time.perf_counter() - start
        rss = proc.stderr.strip().splitlines()[-1] if Path("/usr/bin/time").exists() else "?"
        print(
            f"replay CLI: {secs:.1f} s end to end = {len(actions) / secs:,.0f} actions/s; "
            f"peak RSS {int(rss) / 1024:,.0f} MiB"
            if rss != "?"
            else ""
        )


if __name__ == "__main__":
    main()
