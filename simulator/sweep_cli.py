"""``creditsim sweep`` and ``creditsim compare``: parse, call :mod:`simulator.sweeps`, print.

Thin like :mod:`simulator.cli`, which mounts these commands with
:func:`add_sweep_parsers` and dispatches to :func:`sweep_command` and
:func:`compare_command`. :func:`add_executor_arguments` and
:func:`run_scenario` give ``creditsim run`` the same ``--executor`` and
``--scheduler``.

Exit status: 0 when every run succeeded; 1 when a run failed (its error is
recorded and the sweep goes on) or did not finish; 2 for bad input (nothing
is written); 130 when interrupted (finished runs are kept: run the same
command with ``--resume``).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from simulator.errors import CreditsimError, UsageError

__all__ = [
    "add_executor_arguments",
    "add_sweep_parsers",
    "compare_command",
    "run_scenario",
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


def _int_arg(text: str) -> int:
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


def _add_set_argument(parser: argparse.ArgumentParser, what: str) -> None:
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
            type=_int_arg,
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
    """``--scheduler``'s type: the address, if well formed (:func:`executors.scheduler_problem`)."""
    from simulator.executors import scheduler_problem

    problem = scheduler_problem(text)
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
        type=_int_arg,
        help="runs per point, on seeds derived from --seed (default 1, or the sweep: block's)",
    )
    sp.add_argument("--seed", type=_int_arg, help="master seed (default: the scenario's)")
    _add_set_argument(sp, "before the sweep's points are expanded (a swept key wins)")
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
    _add_force_argument(sp)

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
        "--replications", type=_int_arg, default=5, help="paired runs (default 5, at least 2)"
    )
    cp.add_argument("--seed", type=_int_arg, help="master seed (default: A's seed)")
    _add_set_argument(cp, "applied to both A and B")
    add_executor_arguments(cp)
    cp.add_argument("--out", metavar="DIR", required=True, help="output directory")
    cp.add_argument("--resume", action="store_true", help="finish an interrupted compare")
    cp.add_argument("--keep-runs", action="store_true", help="keep every run's directory")
    cp.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_force_argument(cp)


def _add_force_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force",
        action="store_true",
        help="start even when the runs' estimated memory exceeds what this machine has",
    )


def _check_memory(command: str, plan: Any, concurrent: int) -> None:
    """Refuse a plan whose ``concurrent`` local runs would not fit in memory, as ``run``
    refuses one run (:mod:`simulator.estimate`): the largest point's estimate times the
    runs at once. A Dask cluster's workers are not this machine: not checked."""
    from simulator.estimate import available_memory_bytes, estimate_run_bytes, readable_bytes

    available = available_memory_bytes()
    if available <= 0:
        return
    sizes: dict[int, tuple[int, Any]] = {}
    for point in plan.points:
        if point.scenario is not None:
            key = id(point.scenario)
            if key not in sizes:
                sizes[key] = (estimate_run_bytes(point.scenario), point)
    if not sizes:
        return
    largest, point = max(sizes.values(), key=lambda pair: pair[0])
    if largest * concurrent > available:
        at_once = f" x {concurrent} runs at once" if concurrent > 1 else ""
        fewer = ", or fewer --workers" if concurrent > 1 else ""
        label = ", ".join(f"{k}={v}" for k, v in point.params.items())
        raise UsageError(
            f"creditsim {command}: {point.scenario.source} ({label}): estimated memory "
            f"{readable_bytes(largest)} per run{at_once} exceeds the "
            f"{readable_bytes(available)} available; pass --force to start anyway{fewer}"
        )


def _executor_kind(args: argparse.Namespace) -> str:
    kind = getattr(args, "executor", None)
    scheduler = getattr(args, "scheduler", None)
    if scheduler is not None and kind == "local":
        raise UsageError("--scheduler needs --executor dask")
    return "dask" if scheduler is not None else kind or "local"


def _progress(args: argparse.Namespace, desc: str) -> Any:
    if args.no_progress or not sys.stderr.isatty():
        return None
    from simulator.sweeps import TqdmProgress

    return TqdmProgress(desc, file=sys.stderr, dynamic_ncols=True)


#: Sweeps with at least this many points say so, and show a bar, while they are validated.
LARGE_SWEEP_POINTS = 1_000


def _validation_progress(args: argparse.Namespace, spec: Any) -> Any:
    """Say up front how many points a large sweep validates; a bar on a terminal."""
    from simulator.sweeps import MAX_RUNS

    points = math.prod(len(axis) for axis in spec.axes)
    runs = points * spec.replications
    if points < LARGE_SWEEP_POINTS or runs > MAX_RUNS:
        return None  # quick, or refused at once by plan_sweep
    print(f"sweep: {runs:,} runs ({points:,} points x {spec.replications} replications); "
          "checking every point before anything runs", flush=True)  # fmt: skip
    if args.no_progress or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar = tqdm(total=points, unit="point", desc="checking", file=sys.stderr, dynamic_ncols=True)

    def update(done: int, total: int) -> None:
        bar.update(done - bar.n)
        if done == total:
            bar.close()

    return update


def _count_done(out: Path) -> int:
    return sum(1 for _ in (out / "runs").glob("*.json")) if (out / "runs").is_dir() else 0


def parse_set_arguments(
    command: str, texts: list[str]
) -> tuple[dict[str | tuple[str | int, ...], Any], list[str]]:
    """The ``--set`` arguments as overrides, parsed as ``creditsim run`` does, and
    one line per argument that cannot be parsed."""
    from simulator.scenario import parse_set_argument

    pairs: dict[str | tuple[str | int, ...], Any] = {}
    problems: list[str] = []
    for text in texts:
        try:
            path, value = parse_set_argument(text)
        except CreditsimError as exc:
            problems.extend(f"creditsim {command}: {line}" for line in exc.problems)
            continue
        except ValueError as exc:
            problems.append(f"creditsim {command}: --set {text}: {exc}")
            continue
        pairs[path] = value
    return pairs, problems


def _with_sets(
    named: list[tuple[str, Any]],
    pairs: dict[str | tuple[str | int, ...], Any],
    problems: list[str],
) -> list[Any]:
    """Each ``(file, scenario)`` with the overrides applied.

    Raises :class:`UsageError` with ``problems`` (the arguments that could not
    be parsed) and one line per override that does not fit; a problem that
    several scenarios share is reported once, naming all of their files.
    """
    if not pairs and not problems:
        return [scenario for _, scenario in named]
    mark = "\x00set"
    out = []
    where: dict[str, list[str]] = {}
    for path, scenario in named:
        try:
            out.append(scenario.with_overrides(pairs, source=f"{path} (--set)"))
        except CreditsimError as exc:
            for line in exc.problems:
                where.setdefault(line.replace(f"{path} (--set)", mark), []).append(path)
    problems = problems + [line.replace(mark, f"{' and '.join(paths)} (--set)")
                           for line, paths in where.items()]  # fmt: skip
    if problems:
        raise UsageError(*problems)
    return out


def _plot_metrics(text: str | None) -> str | list[str] | None:
    if text is None or text.strip() == "all":
        return None if text is None else "all"
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise UsageError(f"creditsim sweep: --metrics {text}: expected all or NAME,NAME,...")
    return names


def _execute(
    args: argparse.Namespace,
    command: str,
    plan: Any,
    plots: bool,
    files: dict[str, str] | None = None,
) -> Any:
    """Check --out, start the executor, run the plan; Ctrl-C leaves a resumable folder."""
    from simulator.executors import make_executor
    from simulator.sweeps import check_out, execute

    out = Path(args.out)
    check_out(out, plan, args.resume)
    kind = _executor_kind(args)
    workers = args.workers
    if workers is not None and workers < 1:
        raise UsageError(f"creditsim {command}: --workers must be >= 1, got {workers}")
    if kind == "local" and workers is None:
        workers = min(_cpus(), plan.runs) or 1
    if kind == "local" and not args.force:
        _check_memory(command, plan, min(workers or 1, plan.runs))
    try:
        with make_executor(kind, workers, args.scheduler) as executor:
            print(f"{command}: {_plan_text(plan)} on {executor.describe()}", flush=True)
            return execute(plan, out, executor, resume=args.resume, keep_runs=args.keep_runs,
                           progress=_progress(args, command), plots=plots,
                           plot_metrics=getattr(args, "plot_metrics", None),
                           files=files)  # fmt: skip
    except KeyboardInterrupt:
        print(f"creditsim {command}: interrupted; {_count_done(out)} of {plan.runs} runs are "
              f"saved in {out}/runs/; run the same command with --resume to finish",
              file=sys.stderr)  # fmt: skip
        raise _Interrupted from None


class _Interrupted(Exception):
    pass


def _cpus() -> int:
    from simulator.executors import available_cpus

    return available_cpus()


def _plan_text(plan: Any) -> str:
    points = len(plan.points)
    return (f"{plan.runs:,} runs ({points:,} point{'s' if points != 1 else ''} x "
            f"{plan.replications} replication{'s' if plan.replications != 1 else ''}, "
            f"master seed {plan.seed})")  # fmt: skip


def _report(command: str, result: Any) -> int:
    """Print the outcome; the exit status: 1 if any run failed or did not finish."""
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
    import pyarrow.parquet as pq

    path = out / "results.parquet"
    if not path.is_file() or "steady" not in pq.read_schema(path).names:
        return
    table = pq.read_table(path, columns=["steady", "suggested_warmup_days"]).to_pydict()
    flagged = [w for s, w in zip(table["steady"], table["suggested_warmup_days"], strict=True)
               if s is False]  # fmt: skip
    if flagged:
        from simulator.warmup import recommended_warmup_days

        settled = max(w for w in flagged if w is not None)
        print(f"creditsim {command}: warning: {len(flagged):,} of {len(table['steady']):,} runs "
              f"have a measured window that is not steady (their weekly series settle up to "
              f"{settled:,} days into the run: use a warm-up of "
              f"{recommended_warmup_days(settled):,} days, twice that, or warmup_days: auto; "
              f"columns steady and suggested_warmup_days of {path})",
              file=sys.stderr)  # fmt: skip


def _print_auto_warmup(plan: Any) -> None:
    record = plan.extra.get("warmup_auto")
    if record is not None:
        print(f"warm-up auto: {record['chosen_days']} days for every run ({record['reason']})")


def sweep_command(args: argparse.Namespace) -> int:
    """``creditsim sweep``: returns the exit status (raises CreditsimError for bad input)."""
    from simulator.sweeps import load_sweep_scenario, parse_axis_arguments, plan_sweep, with_spec

    pairs, problems = parse_set_arguments("sweep", args.overrides)
    try:
        scenario, block = load_sweep_scenario(args.scenario)
    except CreditsimError as exc:  # with the --set arguments that cannot be read, in one pass
        raise type(exc)(*exc.problems, *problems) from None
    (scenario,) = _with_sets([(args.scenario, scenario)], pairs, problems)
    args.plot_metrics = _plot_metrics(args.metrics)
    axes = parse_axis_arguments(args.axes) if args.axes else None
    if args.replications is not None and args.replications < 1:
        raise UsageError(f"creditsim sweep: --replications must be >= 1, got {args.replications}")
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"creditsim sweep: --seed must be >= 0, got {args.seed}")
    spec = with_spec(block, axes=axes, replications=args.replications, seed=args.seed)
    plan = plan_sweep(scenario, spec, progress=_validation_progress(args, spec))
    _print_auto_warmup(plan)
    try:
        result = _execute(args, "sweep", plan, plots=not args.no_plots)
    except _Interrupted:
        return 130
    return _report("sweep", result)


def compare_command(args: argparse.Namespace) -> int:
    """``creditsim compare``: returns the exit status (raises CreditsimError for bad input)."""
    from simulator.scenario import load_scenario
    from simulator.sweeps import compare_notes, plan_compare, write_comparison

    pairs, set_problems = parse_set_arguments("compare", args.overrides)
    problems: list[str] = []
    scenarios = []
    for path in (args.a, args.b):
        try:
            scenarios.append(load_scenario(path))
        except CreditsimError as exc:
            problems.extend(exc.problems)
    if problems:
        raise UsageError(*set_problems, *problems)
    a, b = _with_sets([(args.a, scenarios[0]), (args.b, scenarios[1])], pairs, set_problems)
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"creditsim compare: --seed must be >= 0, got {args.seed}")
    plan = plan_compare(a, b, args.replications, args.seed)
    _print_auto_warmup(plan)
    for note in compare_notes(a, b, plan.seed):
        print(f"note: {note}", file=sys.stderr)
    try:
        result = _execute(args, "compare", plan, plots=False)
    except _Interrupted:
        return 130
    comparison = write_comparison(result, a.name, b.name) if result.complete else None
    status = _report("compare", result)
    if comparison is not None:
        _print_comparison(result, comparison)
    return status


def _print_comparison(result: Any, comparison: Any) -> None:
    shown = comparison.set_index("metric")
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


def run_scenario(
    scenario: Any,
    args: argparse.Namespace,
    progress: Any = None,
    out: Any = None,
    on_batch: Any = None,
    reports: bool = False,
) -> Any:
    """``creditsim run``'s call to :func:`simulator.runner.run`, on the chosen executor.

    Local (the default): ``args.workers`` processes. Dask: the cluster's
    workers. Either way the members are simulated in batches of
    ``args.batch_members`` (:func:`simulator.runner.batch_ranges`), so the
    results do not depend on where they ran; with ``out`` the workers write
    the batches' parts into its staging folder (``args.resume``: keeping the
    batches an interrupted run finished; ``reports``: the workers compute
    the batches' report sums too).
    """
    from simulator.runner import DEFAULT_BATCH_MEMBERS, run

    kind = _executor_kind(args)
    workers = getattr(args, "workers", None) or 1
    record = getattr(args, "warmup_record", None)
    batch = getattr(args, "batch_members", None) or DEFAULT_BATCH_MEMBERS
    resume = bool(getattr(args, "resume", False))
    if kind == "local":
        return run(scenario, workers=workers, progress=progress, warmup_record=record,
                   batch_members=batch, out=out, resume=resume, on_batch=on_batch,
                   reports=reports)  # fmt: skip
    from simulator.executors import make_executor

    with make_executor("dask", workers if workers > 1 else None, args.scheduler) as executor:
        shards = workers if workers > 1 else executor.workers
        return run(scenario, workers=shards, progress=progress, executor=executor,
                   warmup_record=record, batch_members=batch, out=out,
                   resume=resume, on_batch=on_batch, reports=reports)  # fmt: skip
