"""``creditsim sensitivity``: parse, call :func:`simulator.api.sensitivity`, print.

The study itself is :mod:`simulator.gsa`, run on the sweep machinery by the
API; this module adds the arguments (mounted by :mod:`simulator.cli`), the
words printed and the exit status, as :mod:`simulator.cli.sweep` does for
sweeps.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

import simulator
from simulator.cli.sweep import (
    Interrupted,
    add_executor_arguments,
    add_force_argument,
    add_set_argument,
    int_arg,
    interruptible,
    parse_set_arguments,
    progress_bar,
    report_runs,
    starting,
)

if TYPE_CHECKING:  # the API loads on first use (simulator.__getattr__): `--help` stays quick
    import simulator.api

__all__ = ["DEFAULT_METRICS", "METHODS", "add_sensitivity_parser", "sensitivity_command"]

#: The study's methods and default metrics, as :data:`simulator.api.METHODS` and
#: :data:`simulator.api.DEFAULT_METRICS` (a test holds them equal): here so that the
#: parser, and ``creditsim --help``, need not load the API.
METHODS = ("sobol", "morris", "lhs")
DEFAULT_METRICS = ("expiry_waste_rate", "refund_rate", "net_revenue")


def add_sensitivity_parser(subparsers: Any) -> None:
    """Add the ``sensitivity`` command to ``subparsers``."""
    sp = subparsers.add_parser(
        "sensitivity",
        help="which varied assumptions drive a metric: Sobol, Morris or rank correlations",
        description="Vary SCENARIO.yaml's keys over ranges, sample a design with SALib, run "
        "every point (streamed to DIR/runs/, resumable, local or Dask) and write "
        "DIR/design.csv, DIR/results.parquet, DIR/sensitivity.csv and DIR/plots/.",
    )
    sp.add_argument("scenario", metavar="SCENARIO.yaml")
    sp.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="KEY=LOW:HIGH|KEY=V1,V2,...",
        help="a key (dotted path, as --set) over a range, or over choices (repeatable)",
    )
    sp.add_argument("--method", choices=METHODS, help="default morris")
    sp.add_argument(
        "--samples",
        type=int_arg,
        help="sobol: N (a power of two), N x (keys + 2) points; morris: trajectories, "
        "N x (keys + 1) points; lhs: points (default 8)",
    )
    sp.add_argument("--replications", type=int_arg, help="runs per point (default 1)")
    sp.add_argument(
        "--metrics",
        metavar="NAME,...",
        help=f"summary.json numbers to analyse (default {','.join(DEFAULT_METRICS)})",
    )
    sp.add_argument(
        "--against",
        metavar="B.yaml",
        help="also run every point under B.yaml on the same seeds and analyse B - A",
    )
    sp.add_argument("--seed", type=int_arg, help="master seed of the design, bootstraps "
                    "and runs (default: the scenario's)")  # fmt: skip
    add_set_argument(sp, "before the varied keys are applied (a varied key wins)")
    add_executor_arguments(sp)
    sp.add_argument("--out", metavar="DIR", required=True, help="output directory")
    sp.add_argument("--resume", action="store_true", help="finish an interrupted study in DIR")
    sp.add_argument("--no-plots", action="store_true", help="skip DIR/plots/")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar")
    sp.set_defaults(keep_runs=False)
    add_force_argument(sp)


def sensitivity_command(args: argparse.Namespace) -> int:
    """``creditsim sensitivity``: the exit status (raises CreditsimError for bad input)."""
    pairs, problems = parse_set_arguments("sensitivity", args.overrides)
    plans: list[Any] = []

    def sized(study: Any, points: int, seconds: float) -> None:
        plans.append(study.plan)
        keys, reps = len(study.varies), study.plan.replications
        sides = " x 2 scenarios" if study.against else ""
        print(f"sensitivity: {study.method} over {keys} key{'s' * (keys != 1)}, "
              f"{points:,} design points ({len(study.plan.points) // (2 if sides else 1):,} "
              f"distinct){sides} x {reps} replication{'s' * (reps != 1)}: "
              f"{study.plan.runs:,} runs, about {_duration(seconds)} of CPU (a rough estimate)",
              flush=True)  # fmt: skip

    said: list[str] = []  # the analysis' notes, printed after the runs' outcome
    metrics = args.metrics.split(",") if args.metrics is not None else None
    try:
        with interruptible("sensitivity", args.out, lambda: plans[-1] if plans else None):
            done = simulator.api.sensitivity(
                args.scenario, args.vary or None, method=args.method, samples=args.samples,
                replications=args.replications, metrics=metrics, against=args.against,
                seed=args.seed, out=args.out, workers=args.workers, executor=args.executor,
                scheduler=args.scheduler, resume=args.resume,
                progress=progress_bar(args, "sensitivity"), plots=not args.no_plots,
                overrides=pairs, argument_problems=problems, force=args.force,
                complete=False, on_study=sized, on_start=starting("sensitivity", plans),
                on_notes=said.extend, vary_name="--vary",
            )  # fmt: skip
    except Interrupted:
        return 130
    result = done.run_result
    status = report_runs("sensitivity", result)
    if result.lost or result.failed:
        return status
    for note in said:
        print(f"creditsim sensitivity: {note}", file=sys.stderr)
    for line in _leaders(done.indices, done.study.method):
        print(line)
    written = done.files
    print("wrote " + ", ".join(str(p) for p in written if p.suffix != ".png")
          + (f" and {sum(p.suffix == '.png' for p in written)} plots" if not args.no_plots
             else ""))  # fmt: skip
    return status


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _leaders(indices: Any, method: str) -> list[str]:
    """Per metric, the key with the largest main index (ST, mu_star or |rho|)."""
    main = {"sobol": "ST", "morris": "mu_star", "lhs": "rho"}[method]
    lines = []
    for metric, group in indices[indices["index"] == main].groupby("metric", sort=False):
        ranked = group.assign(size=group["value"].abs()).dropna(subset=["size"])
        if ranked.empty:
            lines.append(f"  {metric}: no indices (undefined or constant at some point)")
            continue
        top = ranked.sort_values("size", ascending=False).iloc[0]
        if top["size"] == 0:
            lines.append(f"  {metric}: every {main} is 0 (no key moved it in this design)")
            continue
        lines.append(f"  {metric}: {top['key']} drives it most ({main} {top['value']:.3g}, "
                     f"95 % interval {top['low']:.3g} to {top['high']:.3g})")  # fmt: skip
    return lines
