"""Benchmark: a Sobol study of 6 keys on a small scenario (issue #16).

Runs ``creditsim sensitivity`` end to end (a fresh process each time, as a
user would): the baseline scaled to 5 % of its members (150) over 180 days
after a 365-day warm-up (the size of notebooks 03 and 05, about 0.2 s a
run), six behaviour keys, Sobol with N = 16 (16 x 8 = 128 points).
Configurations: ``local-1``, ``local-2`` (``--workers 2``) and ``dask-2``
(``--executor dask --workers 2``, a LocalCluster). Reports the median wall
time of ``--repeat`` rounds, the speed-up of 2 workers over 1 (target
>= 1.7), Dask against the local pool (target within 15 %), whether the files
are identical across configurations, and the share of sampling, planning and
analysis (target under 2 % of the study), measured in-process.

    python benchmarks/sensitivity_bench.py [--repeat 3]

Record results in benchmarks/RESULTS.md (machine, date).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import simulator as cs

ROOT = Path(__file__).parents[1]
VARY = [
    "recipients.response_probability=0.1:0.3",
    "recipients.delay.median_days=0.5:4",
    "recipients.delay.sigma=0.5:1.5",
    "population[1].monthly_cancel_probability=0.02:0.15",
    "population[1].sending.inmails_per_month=1:6",
    "population[1].sending.out_of_credit.buy_probability=0:0.6",
]
CONFIGS = {
    "local-1": ["--workers", "1"],
    "local-2": ["--workers", "2"],
    "dask-2": ["--executor", "dask", "--workers", "2"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small.yaml"
        # The notebooks' small size (03 and 05): 5 % of the members, 180 days after 365.
        scaled = cs.scaled(ROOT / "scenarios" / "baseline.yaml", 0.05, duration_days=180,
                           warmup_days=365)  # fmt: skip
        small.write_text(_yaml(scaled))
        times: dict[str, list[float]] = {name: [] for name in CONFIGS}
        outputs: dict[str, Path] = {}
        for r in range(args.repeat):
            for name, flags in CONFIGS.items():
                out = Path(tmp) / f"{name}-{r}"
                cmd = [sys.executable, "-m", "simulator", "sensitivity", str(small),
                       *(a for v in VARY for a in ("--vary", v)), "--method", "sobol",
                       "--samples", "16", "--metrics", "expiry_waste_rate,refund_rate",
                       "--no-progress", "--no-plots", "--out", str(out), *flags]  # fmt: skip
                start = time.perf_counter()
                subprocess.run(cmd, capture_output=True, text=True, check=True)
                times[name].append(time.perf_counter() - start)
                outputs[name] = out
        for name, ts in times.items():
            print(f"{name}: median {statistics.median(ts):.1f} s, best {min(ts):.1f} s "
                  f"({', '.join(f'{t:.1f}' for t in ts)})")  # fmt: skip
        one, two = statistics.median(times["local-1"]), statistics.median(times["local-2"])
        dask = statistics.median(times["dask-2"])
        print(
            f"2 workers over 1: {one / two:.2f}x; "
            f"Dask over local-2: {100 * (dask / two - 1):+.1f} %"
        )
        shares = [_overhead(small, Path(tmp) / f"inproc-{r}") for r in range(args.repeat)]
        print(f"sampling + planning + analysis, in-process on 1 worker: median "
              f"{100 * statistics.median(shares):.2f} % of the study")  # fmt: skip
        for f in ("design.csv", "results.parquet", "sensitivity.csv"):
            same = len({(outputs[n] / f).read_bytes() for n in CONFIGS}) == 1
            print(f"{f}: identical across configurations: {same}")


def _overhead(path: Path, out: Path) -> float:
    """The share of one study's wall time spent outside its runs (1 worker, in-process)."""
    from simulator.gsa import parse_vary, plan_study, write_study
    from simulator.sweeps import execute

    scenario = cs.load_scenario(path)
    t0 = time.perf_counter()
    study = plan_study(scenario, parse_vary(VARY, scenario), "sobol", 16)
    t1 = time.perf_counter()
    execute(study.plan, out, files={"design.csv": study.design.to_csv(index=False)}, plots=False)
    t2 = time.perf_counter()
    write_study(study, out, ["expiry_waste_rate", "refund_rate"], plots=False)
    t3 = time.perf_counter()
    return ((t1 - t0) + (t3 - t2)) / (t3 - t0)


def _yaml(scenario: object) -> str:
    from simulator.yamlio import dump_yaml

    return dump_yaml(scenario.to_dict())  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
