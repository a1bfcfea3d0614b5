"""``creditsim sweep`` and ``creditsim compare``: parse, call the API, print.

Thin like :mod:`simulator.cli`, which mounts these commands with
:func:`add_sweep_parsers` and dispatches to :func:`sweep_command` and
:func:`compare_command`, each one call of :func:`simulator.api.sweep` /
:func:`simulator.api.compare`. :func:`add_executor_arguments` gives ``run``
and ``sensitivity`` the same ``--executor``, ``--scheduler`` and
``--workers``; :func:`report_runs` prints how a plan's runs went.

Exit status: 0 when every run succeeded; 1 when a run failed (its error is
recorded and the sweep goes on) or did not finish; 2 for bad input (nothing
is written); 130 when interrupted (finished runs are kept: run the same
command with ``--resume``).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

import simulator
from simulator.errors import UsageError

if TYPE_CHECKING:  # the API loads on first use (simulator.__getattr__): `--help` stays quick
    import simulator.api

__all__ = [
    "LARGE_SWEEP_POINTS",
    "Interrupted",
    "add_executor_arguments",
    "add_force_argument",
    "add_set_argument",
    "add_sweep_parsers",
    "compare_command",
    "int_arg",
    "interruptible",
    "parse_set_arguments",
    "planned",
    "progress_bar",
    "report_runs",
    "scheduler_address",
    "starting",
    "sweep_command",
]

_HEADLINE = (
    "response_rate",
    "refund_rate",
    "expiry_waste_rate",
    "credits_spent",
    "credits_expired",
    "credits_capped",
    "credits_forfeited",
    "purchase_revenue",
    "subscription_revenue",
    "net_revenue",
)
_MONEY = ("purchase_revenue", "subscription_revenue", "net_revenue")
_MAX_LISTED = 10

#: Sweeps with at least this many points say so, and show a bar, while they are validated.
LARGE_SWEEP_POINTS = 1_000


def int_arg(text: str) -> int:
    """argparse's type of a whole number, with the command line's message."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


class _AxisAction(argparse.Action):
    """Collects --grid, --zip and --range into one list, in command-line order."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        axes = list(getattr(namespace, self.dest, None) or [])
        axes.append((option_string, values))
        setattr(namespace, self.dest, axes)


def add_set_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a scenario key by its dotted path, e.g. members=50, {what} "
        "(repeatable; values are YAML scalars)",
    )


def add_executor_arguments(parser: argparse.ArgumentParser, workers: bool = True) -> None:
    """``--executor local|dask``, ``--scheduler ADDRESS`` and (``workers``) ``--workers N``."""
    parser.add_argument(
        "--executor",
        choices=("local", "dask"),
        help="where runs go: local processes (default) or Dask (a LocalCluster, or the "
        "cluster at --scheduler)",
    )
    if workers:
        parser.add_argument(
            "--workers",
            type=int_arg,
            help="processes (local: 1 runs in this process; default: every CPU) or Dask "
            "LocalCluster workers",
        )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        type=scheduler_address,
        help="a running Dask scheduler, e.g. tcp://host:8786 (implies --executor dask)",
    )


def scheduler_address(text: str) -> str:
    """``--scheduler``'s type: the address, if well formed
    (:func:`simulator.api.scheduler_problem`)."""
    problem = simulator.api.scheduler_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def add_sweep_parsers(
    subparsers: Any, parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser
) -> None:
    """Add the ``sweep`` and ``compare`` commands to ``subparsers``.

    ``parser_class`` is used when ``subparsers`` was made without one.
    """
    kwargs: dict[str, Any] = {}
    if getattr(subparsers, "_parser_class", None) is None:  # pragma: no cover
        kwargs["parser_class"] = parser_class
    sp = subparsers.add_parser(
        "sweep",
        help="run a scenario over a grid of parameters, with replications",
        description="Expand SCENARIO.yaml over the swept keys (or its sweep: block) into a run "
        "table, validate every point, run them (streaming each result to DIR/runs/) and write "
        "DIR/results.parquet, DIR/summary.csv (mean and 95 % CI per point and metric), "
        "DIR/timings.csv and DIR/plots/.",
        **kwargs,
    )
    sp.add_argument("scenario", metavar="SCENARIO.yaml")
    sp.add_argument(
        "--grid",
        dest="axes",
        action=_AxisAction,
        metavar="KEY=V1,V2,...",
        help="sweep KEY (a dotted path, e.g. policy.refund.window_days) over YAML scalar "
        "values; several --grid flags multiply (repeatable)",
    )
    sp.add_argument(
        "--zip",
        dest="axes",
        action=_AxisAction,
        metavar="KEY=V1,V2,...",
        help="keys varied together: every --zip gives one value list, all of one length",
    )
    sp.add_argument(
        "--range",
        dest="axes",
        action=_AxisAction,
        metavar="KEY=START:STOP:STEP",
        help="numbers from START by STEP, STOP included when reached (repeatable)",
    )
    sp.add_argument(
        "--replications",
        type=int_arg,
        help="runs per point, on seeds derived from --seed (default 1, or the sweep: block's)",
    )
    sp.add_argument("--seed", type=int_arg, help="master seed (default: the scenario's)")
    add_set_argument(sp, "before the sweep's points are expanded (a swept key wins)")
    add_executor_arguments(sp)
    sp.add_argument("--out", metavar="DIR", required=True, help="output directory")
    sp.add_argument(
        "--resume", action="store_true", help="finish an interrupted sweep in DIR: run only "
        "the runs that have no result (or failed)"
    )  # fmt: skip
    sp.add_argument(
        "--keep-runs",
        action="store_true",
        help="also write every run's full directory to DIR/runs/<run id>-r<rep>/",
    )
    sp.add_argument("--no-plots", action="store_true", help="skip DIR/plots/")
    sp.add_argument(
        "--metrics",
        metavar="all|NAME,...",
        help="metrics in DIR/plots/: all, or names from summary.csv's metric column "
        "(default: the headline rates, credits and revenue)",
    )
    sp.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_force_argument(sp)

    cp = subparsers.add_parser(
        "compare",
        help="compare two scenarios on common random numbers",
        description="Run A.yaml and B.yaml on the same members and random streams (common "
        "random numbers) and write DIR/comparison.csv (per metric: A's mean, B's mean, the "
        "paired difference B - A and its 95 % CI) and DIR/comparison.png.",
        **kwargs,
    )
    cp.add_argument("a", metavar="A.yaml")
    cp.add_argument("b", metavar="B.yaml")
    cp.add_argument(
        "--replications", type=int_arg, default=5, help="paired runs (default 5, at least 2)"
    )
    cp.add_argument("--seed", type=int_arg, help="master seed (default: A's seed)")
    add_set_argument(cp, "applied to both A and B")
    add_executor_arguments(cp)
    cp.add_argument("--out", metavar="DIR", required=True, help="output directory")
    cp.add_argument("--resume", action="store_true", help="finish an interrupted compare")
    cp.add_argument("--keep-runs", action="store_true", help="keep every run's directory")
    cp.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_force_argument(cp)


def add_force_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force",
        action="store_true",
        help="start even when the runs' estimated memory exceeds what this machine has",
    )


def parse_set_arguments(
    command: str, texts: list[str]
) -> tuple[dict[str | tuple[str | int, ...], Any], list[str]]:
    """The ``--set`` arguments as overrides (:func:`simulator.api.parse_overrides`), and
    one line per argument that cannot be read, in the words of ``creditsim COMMAND``."""
    if not texts:
        return {}, []
    pairs, problems = simulator.api.parse_overrides(texts)
    return pairs, [f"creditsim {command}: {line}" for line in problems]


class Interrupted(Exception):
    """Ctrl-C while a plan ran: said, and the exit status is 130."""


@contextmanager
def interruptible(command: str, out: str, plan: Callable[[], Any]) -> Iterator[None]:
    """On Ctrl-C, say how many of the ``plan()``'s runs are saved and how to finish."""
    try:
        yield
    except KeyboardInterrupt:
        runs = plan()
        total = f" of {runs.runs}" if runs is not None else ""
        print(f"creditsim {command}: interrupted; {simulator.api.saved_runs(out)}{total} runs "
              f"are saved in {Path(out)}/runs/; run the same command with --resume to finish",
              file=sys.stderr)  # fmt: skip
        raise Interrupted from None


def progress_bar(args: argparse.Namespace, desc: str) -> Any:
    """A bar over the runs on a terminal (none with ``--no-progress``)."""
    if args.no_progress or not sys.stderr.isatty():
        return None
    return simulator.api.TqdmProgress(desc, file=sys.stderr, dynamic_ncols=True)


def _validation_progress(args: argparse.Namespace, spec: Any) -> Any:
    """Say up front how many points a large sweep validates; a bar on a terminal."""
    points = math.prod(len(axis) for axis in spec.axes)
    runs = points * spec.replications
    if points < LARGE_SWEEP_POINTS or runs > simulator.api.MAX_RUNS:
        return None  # quick, or refused at once by the plan
    print(f"sweep: {runs:,} runs ({points:,} points x {spec.replications} replications); "
          "checking every point before anything runs", flush=True)  # fmt: skip
    if args.no_progress or not sys.stderr.isatty():
        return None
    bar = tqdm(total=points, unit="point", desc="checking", file=sys.stderr, dynamic_ncols=True)

    def update(done: int, total: int) -> None:
        bar.update(done - bar.n)
        if done == total:
            bar.close()

    return update


def _plot_metrics(text: str | None) -> str | list[str] | None:
    if text is None or text.strip() == "all":
        return None if text is None else "all"
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise UsageError(f"creditsim sweep: --metrics {text}: expected all or NAME,NAME,...")
    return names


def _plan_text(plan: Any) -> str:
    points = len(plan.points)
    return (f"{plan.runs:,} runs ({points:,} point{'s' if points != 1 else ''} x "
            f"{plan.replications} replication{'s' if plan.replications != 1 else ''}, "
            f"master seed {plan.seed})")  # fmt: skip


def starting(command: str, plans: list[Any]) -> Callable[[str], None]:
    """What to print once the executor is up: the plan (the last of ``plans``), and where
    it runs."""

    def say(where: str) -> None:
        print(f"{command}: {_plan_text(plans[-1])} on {where}", flush=True)

    return say


def planned(plans: list[Any]) -> Callable[[Any], None]:
    """Keep the plan (for the Ctrl-C line) and say the warm-up ``auto`` chose."""

    def seen(plan: Any) -> None:
        plans.append(plan)
        record = plan.extra.get("warmup_auto")
        if record is not None:
            print(f"warm-up auto: {record['chosen_days']} days for every run ({record['reason']})")

    return seen


def report_runs(command: str, result: Any) -> int:
    """Print how a plan's runs went; the exit status: 1 if any run failed or did not finish."""
    out = result.out
    print(f"{command}: {result.ran:,} runs done now, {result.skipped:,} done before, "
          f"{len(result.failed):,} failed ({result.seconds:.1f} s)")  # fmt: skip
    for rid, rep, error in result.failed[:_MAX_LISTED]:
        print(f"creditsim {command}: run {rid} r{rep} failed: {error}", file=sys.stderr)
    if len(result.failed) > _MAX_LISTED:
        print(f"creditsim {command}: ... and {len(result.failed) - _MAX_LISTED} more failed "
              "runs", file=sys.stderr)  # fmt: skip
    if result.lost:
        first = result.lost[0][2]
        print(f"creditsim {command}: {len(result.lost):,} runs did not finish ({first}); run "
              "the same command with --resume to finish them", file=sys.stderr)  # fmt: skip
        return 1
    files = [p for p in result.files if p.suffix != ".png" or p.parent == out]
    plots = [p for p in result.files if p.suffix == ".png" and p.parent != out]
    text = ", ".join(str(p) for p in files)
    if plots:
        text += f" and {len(plots)} plot{'s' if len(plots) != 1 else ''} in {plots[0].parent}/"
    print(f"wrote {text}")
    _warn_unsteady(command, out)
    if result.failed:
        print(f"creditsim {command}: {len(result.failed):,} of {result.plan.runs:,} runs failed; "
              f"their errors are in {out / 'results.parquet'} (column error) and "
              f"{out}/runs/*.json", file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _warn_unsteady(command: str, out: Path) -> None:
    """One line for all the runs whose measured window is not steady (none when all are)."""
    flagged, total, settled, warmup = simulator.api.unsteady_runs(out)
    if flagged:
        print(f"creditsim {command}: warning: {flagged:,} of {total:,} runs "
              f"have a measured window that is not steady (their weekly series settle up to "
              f"{settled:,} days into the run: use a warm-up of "
              f"{warmup:,} days, twice that, or warmup_days: auto; "
              f"columns steady and suggested_warmup_days of {out / 'results.parquet'})",
              file=sys.stderr)  # fmt: skip


def sweep_command(args: argparse.Namespace) -> int:
    """``creditsim sweep``: returns the exit status (raises CreditsimError for bad input)."""
    pairs, problems = parse_set_arguments("sweep", args.overrides)
    plot_metrics = _plot_metrics(args.metrics)
    if args.replications is not None and args.replications < 1:
        raise UsageError(f"creditsim sweep: --replications must be >= 1, got {args.replications}")
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"creditsim sweep: --seed must be >= 0, got {args.seed}")
    plans: list[Any] = []
    try:
        with interruptible("sweep", args.out, lambda: plans[-1] if plans else None):
            done = simulator.api.sweep(
                args.scenario, axes=args.axes, replications=args.replications, seed=args.seed,
                out=args.out, workers=args.workers, executor=args.executor,
                scheduler=args.scheduler, resume=args.resume, keep_runs=args.keep_runs,
                progress=progress_bar(args, "sweep"), plots=not args.no_plots,
                plot_metrics=plot_metrics, overrides=pairs, argument_problems=problems,
                force=args.force, complete=False,
                checking=lambda spec: _validation_progress(args, spec),
                on_plan=planned(plans), on_start=starting("sweep", plans),
            )  # fmt: skip
    except Interrupted:
        return 130
    assert done.result is not None  # the API ran it
    return report_runs("sweep", done.result)


def compare_command(args: argparse.Namespace) -> int:
    """``creditsim compare``: returns the exit status (raises CreditsimError for bad input)."""
    pairs, set_problems = parse_set_arguments("compare", args.overrides)
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"creditsim compare: --seed must be >= 0, got {args.seed}")
    plans: list[Any] = []

    def notes(lines: list[str]) -> None:
        for note in lines:
            print(f"note: {note}", file=sys.stderr)

    try:
        with interruptible("compare", args.out, lambda: plans[-1] if plans else None):
            done = simulator.api.compare(
                args.a, args.b, replications=args.replications, seed=args.seed, out=args.out,
                workers=args.workers, executor=args.executor, scheduler=args.scheduler,
                resume=args.resume, keep_runs=args.keep_runs,
                progress=progress_bar(args, "compare"), overrides=pairs,
                argument_problems=set_problems, force=args.force, complete=False,
                on_plan=planned(plans), on_notes=notes, on_start=starting("compare", plans),
            )  # fmt: skip
    except Interrupted:
        return 130
    result = done.result
    assert result is not None  # the API ran it
    status = report_runs("compare", result)
    if result.complete:
        _print_comparison(done)
    return status


def _print_comparison(done: Any) -> None:
    result = done.result
    shown = done.comparison.set_index("metric")
    print(f"B - A over {int(shown['n'].max()) if len(shown) else 0} paired replications "
          f"(A: {result.plan.extra['a']}, B: {result.plan.extra['b']}):")  # fmt: skip
    currency = result.plan.points[0].scenario.pricing.currency
    for metric in _HEADLINE:
        if metric not in shown.index:
            continue
        row = shown.loc[metric]
        money = metric in _MONEY
        unit = f" {currency}" if money else ""
        print(
            f"  {metric}: A {_num(row['mean_a'], money)}{unit}, "
            f"B {_num(row['mean_b'], money)}{unit}, B - A {_num(row['diff'], money)} "
            f"[{_num(row['ci_low'], money)}, {_num(row['ci_high'], money)}]{unit}"
        )


def _num(x: float, money: bool = False) -> str:
    """A number for the console; money with two decimals (and separators)."""
    if x != x:  # NaN
        return "n/a"
    if money:
        return f"{x:,.2f}"
    if x == 0:
        return "0"
    return f"{x:,.4f}" if abs(x) < 10 else f"{x:,.1f}"
