"""``creditsim sensitivity``: parse, plan, run on the sweep machinery, analyse, write.

The study itself is :mod:`simulator.gsa`; running its points is
:func:`simulator.sweeps.execute` (resumable, local or Dask), started the way
``creditsim sweep`` starts it (:mod:`simulator.sweep_cli`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from simulator.errors import CreditsimError, UsageError
from simulator.sweep_cli import (
    _add_force_argument,
    _add_set_argument,
    _execute,
    _int_arg,
    _Interrupted,
    _report,
    _with_sets,
    add_executor_arguments,
    parse_set_arguments,
)

__all__ = ["add_sensitivity_parser", "sensitivity_command"]


def add_sensitivity_parser(subparsers: Any) -> None:
    """Add the ``sensitivity`` command to ``subparsers``."""
    from simulator.gsa import DEFAULT_METRICS, METHODS

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
        type=_int_arg,
        help="sobol: N (a power of two), N x (keys + 2) points; morris: trajectories, "
        "N x (keys + 1) points; lhs: points (default 8)",
    )
    sp.add_argument("--replications", type=_int_arg, help="runs per point (default 1)")
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
    sp.add_argument("--seed", type=_int_arg, help="master seed of the design, bootstraps "
                    "and runs (default: the scenario's)")  # fmt: skip
    _add_set_argument(sp, "before the varied keys are applied (a varied key wins)")
    add_executor_arguments(sp)
    sp.add_argument("--out", metavar="DIR", required=True, help="output directory")
    sp.add_argument("--resume", action="store_true", help="finish an interrupted study in DIR")
    sp.add_argument("--no-plots", action="store_true", help="skip DIR/plots/")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar")
    sp.set_defaults(keep_runs=False)
    _add_force_argument(sp)


def sensitivity_command(args: argparse.Namespace) -> int:
    """``creditsim sensitivity``: the exit status (raises CreditsimError for bad input)."""
    from simulator.estimate import estimate_run_seconds
    from simulator.gsa import (
        DEFAULT_METRICS,
        DEFAULTS,
        check_metrics,
        design_runs,
        load_study_scenario,
        parse_vary,
        plan_study,
        write_study,
    )
    from simulator.scenario import load_scenario

    pairs, problems = parse_set_arguments("sensitivity", args.overrides)
    named: list[tuple[str, Any]] = []
    load_problems: list[str] = []
    try:
        scenario, block = load_study_scenario(args.scenario)
        named.append((args.scenario, scenario))
    except CreditsimError as exc:
        load_problems.extend(exc.problems)
        block = {}
    # The flags win over the file's sensitivity: block, key by key (--vary as a whole).
    for name in ("method", "samples", "replications", "metrics", "seed", "against"):
        if getattr(args, name) is None:
            setattr(args, name, block.get(name, DEFAULTS.get(name)))
    if not args.vary:
        args.vary = block.get("vary", [])
    if args.against:
        try:
            named.append((args.against, load_scenario(args.against)))
        except CreditsimError as exc:
            load_problems.extend(exc.problems)
    if load_problems:
        raise UsageError(*load_problems, *problems)
    scenarios = _with_sets(named, pairs, problems)
    given = args.metrics is not None
    metric_names = args.metrics.split(",") if given else list(DEFAULT_METRICS)
    metrics = check_metrics([m.strip() for m in metric_names])
    varies = parse_vary(args.vary, scenarios[0])
    study = plan_study(
        scenarios[0], varies, args.method, args.samples, replications=args.replications,
        seed=args.seed, against=scenarios[1] if args.against else None,
    )  # fmt: skip
    # Said before anything runs (every point is valid by now): the size and a rough time.
    points = design_runs(args.method, args.samples, len(varies))
    sides = " x 2 scenarios" if args.against else ""
    seconds = sum(estimate_run_seconds(p.scenario) for p in study.plan.points)
    print(f"sensitivity: {args.method} over {len(varies)} key{'s' * (len(varies) != 1)}, "
          f"{points:,} design points ({len(study.plan.points) // (2 if sides else 1):,} "
          f"distinct){sides} x {args.replications} replication"
          f"{'s' * (args.replications != 1)}: {study.plan.runs:,} runs, about "
          f"{_duration(seconds * args.replications)} of CPU (a rough estimate)",
          flush=True)  # fmt: skip
    try:
        result = _execute(args, "sensitivity", study.plan, plots=False,
                          files={"design.csv": study.design.to_csv(index=False)})  # fmt: skip
    except _Interrupted:
        return 130
    status = _report("sensitivity", result)
    if result.lost or result.failed:
        return status
    indices, notes, written = write_study(study, Path(args.out), metrics, plots=not args.no_plots)
    for note in notes:
        print(f"creditsim sensitivity: {note}", file=sys.stderr)
    for line in _leaders(indices, study.method):
        print(line)
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
