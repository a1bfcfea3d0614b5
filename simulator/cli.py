"""The ``creditsim`` command line: parse, call the API, write, print.

Kept thin on purpose: every command is a call into the library. Errors the
user can cause (:class:`~simulator.errors.CreditsimError`) are printed as one
line per problem on standard error, with exit status 2 and no traceback;
nothing is written when the input is bad.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from simulator.errors import CreditsimError, ExecutionError, InvariantError, UsageError
from simulator.outputs import cannot_write

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and a UsageError, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="creditsim",
        description="Discrete-event simulator of credit economics (LinkedIn InMail credits).",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    rp = sub.add_parser(
        "replay",
        help="run the credit rules engine over a recorded history (RULES.md section 8)",
        description="Replay HISTORY.csv through the credit rules engine and write "
        "DIR/ledger.csv and DIR/balances.csv. Given a run directory RUN (or its history/ "
        "folder), replay every part of RUN/history/ under the run's policy (its "
        "scenario.yaml), up to its end, unless --scenario or --until say otherwise, and "
        "write DIR/ledger/part-i.csv and DIR/balances/part-i.csv.",
    )
    rp.add_argument("history", metavar="HISTORY.csv|RUN|RUN/history")
    rp.add_argument(
        "--scenario",
        metavar="S.yaml",
        help="scenario whose policy block to use (default: the inmail-2014 preset)",
    )
    rp.add_argument(
        "--until",
        metavar="INSTANT",
        help="settle up to this ISO 8601 UTC instant (default: the last instant in the file)",
    )
    rp.add_argument("--out", metavar="DIR", required=True, help="output directory")
    rp.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier replay output at --out (its ledger and balances files or "
        "part folders are removed first)",
    )
    rp.add_argument(
        "--allow-long-span",
        action="store_true",
        help="accept a history (with --until) spanning more than 36,500 days, refused as a "
        "likely typo otherwise",
    )

    au = sub.add_parser(
        "audit",
        help="prove a run directory is exact: replay its history, compare its ledger",
        description="Replay each of RUN_DIR's history parts (history/part-i.csv) through the "
        "credit rules engine under the run's own policy, compare the ledger line for line "
        "with the ledger part of the same name (ledger/part-i.parquet) and check the "
        "end-of-run invariants again. Exit 0 when the run is what the rules give, 3 when not "
        "(the members concerned written to OUT/audit-failures/), 2 when RUN_DIR is not a "
        "whole run directory (a part missing or not what run.json says).",
    )
    au.add_argument("run_dir", metavar="RUN_DIR")
    au.add_argument(
        "--out", metavar="OUT", help="where audit-failures/ goes if the run fails (default RUN_DIR)"
    )

    run = sub.add_parser(
        "run",
        help="simulate a scenario and write a run directory",
        description="Simulate SCENARIO.yaml and write its tables, summary and history to a "
        "run directory (default runs/<scenario name>-seed<N>/).",
    )
    run.add_argument("scenario", metavar="SCENARIO.yaml")
    run.add_argument("--seed", type=_int_arg, help="master seed (default: the scenario's)")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario key by its dotted path, e.g. "
        "policy.refund.window_days=14 (repeatable; values are YAML scalars)",
    )
    run.add_argument("--workers", type=_int_arg, default=1, help="local processes (default 1)")
    run.add_argument(
        "--batch-members",
        type=_int_arg,
        default=None,
        metavar="N",
        help="members simulated, checked and reduced together; the unit of work of the "
        "workers (default 1000). Results are the same for any value",
    )
    run.add_argument("--out", metavar="DIR", help="run directory")
    run.add_argument(
        "--resume",
        action="store_true",
        help="finish an interrupted run of the same scenario at --out, keeping its finished "
        "batches (the files are those of an uninterrupted run)",
    )
    run.add_argument(
        "--overwrite", action="store_true", help="replace an earlier run directory at --out"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument(
        "--force",
        action="store_true",
        help="run even if the estimated memory exceeds what the machine has",
    )
    run.add_argument(
        "--no-report", action="store_true", help="skip reports/, plots/ and report.html"
    )

    rep = sub.add_parser(
        "report",
        help="write reports, plots and report.html for a run directory",
        description="Write RUN_DIR/reports/, RUN_DIR/plots/*.png and RUN_DIR/report.html.",
    )
    rep.add_argument("run_dir", metavar="RUN_DIR")
    rep.add_argument(
        "--format",
        choices=("csv", "parquet", "markdown"),
        default="csv",
        help="format of the report tables (default csv)",
    )

    from simulator.sweep_cli import add_executor_arguments, add_sweep_parsers

    add_executor_arguments(run, workers=False)
    add_sweep_parsers(sub, _Parser)
    from simulator.sensitivity_cli import add_sensitivity_parser

    add_sensitivity_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``creditsim``; returns the exit status."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except CreditsimError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("creditsim: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.errno not in _STORAGE_ERRNOS:
            raise
        print(_storage_line(argv, exc), file=sys.stderr)
        return 1


# Writing failed for want of room: a full disk or quota, a file-size limit, an I/O error.
_STORAGE_ERRNOS = frozenset((errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO))
_COMMANDS = ("run", "sweep", "compare", "sensitivity", "report", "replay", "audit")


def _storage_line(argv: Sequence[str] | None, exc: OSError) -> str:
    """One line for a write that failed mid-way (issue 15, fault 11).

    Every file is written to a temporary name and renamed into place, and a run
    folder is published whole, so what failed left nothing that looks complete:
    say so, and how to finish once there is room (a sweep keeps its finished runs).
    """
    words = list(sys.argv[1:] if argv is None else argv)
    command = next((w for w in words if w in _COMMANDS), "")
    where = f" {exc.filename}" if exc.filename else ""
    again = {
        "run": "run the same command with --resume to finish it",
        "sweep": "run the same command with --resume to finish it",
        "sensitivity": "run the same command with --resume to finish it",
        "compare": "run the same command with --resume to finish it",
        "report": "run creditsim report again",
    }.get(command, "run it again")
    return (f"creditsim {command or 'error'}: cannot write{where}: {os.strerror(exc.errno or 0)} "
            "(a full disk, a quota or a file-size limit); nothing half-written was kept; "
            f"free some space, then {again}")  # fmt: skip


def _main(argv: list[str]) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from simulator import __version__

        print(f"creditsim {__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    if args.command in ("sweep", "compare"):
        from simulator.sweep_cli import compare_command, sweep_command

        return (sweep_command if args.command == "sweep" else compare_command)(args)
    if args.command == "sensitivity":
        from simulator.sensitivity_cli import sensitivity_command

        return sensitivity_command(args)
    if args.command == "run":
        return _run(args)
    if args.command == "report":
        return _report(args)
    if args.command == "audit":
        return _audit(args)
    return _replay(args)


def _audit(args: argparse.Namespace) -> int:
    from simulator.api import audit

    result = audit(args.run_dir, args.out)
    where = f"{result.run_dir}: replayed {result.actions:,} actions of {result.members:,} members"
    if result.ok:
        print(f"{where}: the ledger's {result.entries:,} entries are what the rules give, line "
              "for line, and every invariant holds")  # fmt: skip
        return 0
    for member, why in sorted(result.differences.items())[:_MAX_AUDIT_LINES]:
        print(f"creditsim audit: {member}: {why}", file=sys.stderr)
    for problem in result.problems[:_MAX_AUDIT_LINES]:
        print(f"creditsim audit: {problem}", file=sys.stderr)
    hidden = max(0, len(result.differences) - _MAX_AUDIT_LINES)
    hidden += max(0, len(result.problems) - _MAX_AUDIT_LINES)
    if result.failures is not None:
        more = f" ({hidden:,} more lines in its README.txt)" if hidden else ""
        written = f"the details are in {result.failures}/{more}"
    else:
        written = f"the details could not be written: {result.failures_error}"
    print(f"creditsim audit: {where}: {len(result.differences):,} members' ledgers differ from "
          f"the rules and {len(result.problems):,} invariant problems; {written}",
          file=sys.stderr)  # fmt: skip
    return 3


_MAX_AUDIT_LINES = 20


def _report(args: argparse.Namespace) -> int:
    from simulator.errors import InputError
    from simulator.reports import write_reports

    run_dir = Path(args.run_dir)
    if not (run_dir / "run.json").is_file():
        raise InputError(f"{run_dir}: not a creditsim run directory (no run.json)")
    written = write_reports(run_dir, args.format)
    print(f"wrote {len(written)} files under {run_dir}/ (open {run_dir / 'report.html'})")
    return 0


def _int_arg(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _check_out(text: str, overwrite: bool, command: str, scenario: Any = None) -> Path:
    """The --out directory, refused unless new, empty, or our own earlier output.

    An earlier output "of the same kind" is a run directory (``run.json``, or
    only ``invariant-failures/`` from a failed run) for ``run``, and a folder
    holding ``ledger.csv`` and ``balances.csv``, or ``ledger/`` and
    ``balances/`` parts, for ``replay``; it is replaced only with
    ``--overwrite``. For ``run`` the message says whether the folder holds a
    run of ``scenario`` or of a different one (and where they differ).
    """
    where = f"creditsim {command}: --out"
    if text == "":
        raise UsageError(f"{where}: must not be empty")
    out = Path(text)
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{where} {out}: {parent} is not a directory")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{where} {out}: exists and is not a directory")
    # run publishes its folder by renaming it in from beside it; replay writes inside it.
    problem = cannot_write(out.parent if command == "run" else out)
    if problem is not None:
        raise UsageError(f"{where} {out}: {problem}")
    if out.is_dir():
        names = {p.name for p in out.iterdir()}
        if names:
            if command == "run":
                own = "run.json" in names or names == {"invariant-failures"}
            else:
                own = {"ledger.csv", "balances.csv"} <= names or {"ledger", "balances"} <= names
            if not own:
                raise UsageError(f"{where} {out}: not empty and not a creditsim output; "
                                 "choose another directory")  # fmt: skip
            if not overwrite:
                raise UsageError(_occupied(where, out, scenario))
    return out


def _run_lines(s: dict[str, Any], scenario: Any, meta: dict[str, Any]) -> str:
    """What ``creditsim run`` prints of a finished run: the headline, in words and numbers."""
    currency = meta["currency"]

    def money(cents: int) -> str:
        return f"{cents / 100:,.2f} {currency}"

    warm = f" after a {scenario.warmup_days:,}-day warm-up" if scenario.warmup_days else ""
    lines = [f"{scenario.name}: seed {scenario.seed}, measured {meta['measure_start']} to "
             f"{meta['end']}{warm} ({meta['timings']['total_s']:.1f} s)"]  # fmt: skip
    if scenario.is_open:
        joined = s["members"] - s["members_initial"]
        lines.append(f"  members: {s['members_initial']:,} at the start, {joined:,} joined later "
                     f"({s['arrivals']:,} during the measured window); {s['members_present']:,} "
                     "present in the window")  # fmt: skip
    else:
        lines.append(f"  members: {s['members']:,}")
    lines += [
        f"  InMails: {s['inmails_attempted']:,} attempted, {s['inmails_sent']:,} sent "
        f"({s['inmails_paid']:,} paid, {s['inmails_free']:,} free), "
        f"{s['inmails_rejected']:,} rejected ({s['inmails_rejected_no_credit']:,} for no credit)",
        f"  responses {_pct(s['response_rate'])}, refund rate {_pct(s['refund_rate'])}, "
        f"expiry waste {_pct(s['expiry_waste_rate'])} of credits issued",
        f"  credits: {s['credits_granted']:,} granted, {s['credits_purchased']:,} bought, "
        f"{s['credits_refunded']:,} refunded, {s['credits_spent']:,} spent, "
        f"{s['credits_expired']:,} expired, {s['credits_capped']:,} capped, "
        f"{s['credits_forfeited']:,} forfeited",
        f"  revenue: {money(s['subscription_revenue_cents'])} from subscriptions + "
        f"{money(s['purchase_revenue_cents'])} from credits = "
        f"{money(s['net_revenue_cents'])} net",
    ]
    note = _expiry_note(s, scenario)
    if note:
        lines.append(note)
    return "\n".join(lines)


def _expiry_note(s: dict[str, Any], scenario: Any) -> str | None:
    """What the expiry waste rate means when the window is shorter than a credit's life.

    The headline keeps its formula (expired / issued, both in the window), but
    then most of the window's expiries are of credits issued before it, and the
    rate can pass 100 %: say so, with the figures, when it does or when the
    window is shorter than the longest lot lifetime of the policy.
    """
    before = s.get("credits_expired_issued_before_window") or 0
    rate = s.get("expiry_waste_rate")
    p = scenario.policy
    lives = [d for d in (p.grant_expiry_days, p.refund_expiry_days, p.purchase_expiry_days) if d]
    window_days = (scenario.end - scenario.start + 1) / 86_400
    if not before or rate is None or not (rate > 1 or (lives and window_days < max(lives))):
        return None
    vintage = s.get("vintage_waste_rate")
    follow = (f"vintage_waste_rate ({_pct(vintage)}) follows the window's own credits"
              if vintage is not None else "no vintage of the window has met its fate yet, "
              "so vintage_waste_rate is n/a")  # fmt: skip
    return (f"  note: expiry waste divides the {s['credits_expired']:,} credits expired in the "
            f"window by the credits issued in it; {before:,} of those expired were issued "
            f"before it, as the {window_days:g}-day window is shorter than a credit's "
            f"{max(lives)}-day life, so it is not a share of the window's credits; "
            f"{follow}")  # fmt: skip


def _occupied(where: str, out: Path, scenario: Any) -> str:
    """Why an earlier output at ``out`` stops a run: the same scenario, or another one."""
    if scenario is None:
        return f"{where} {out}: holds an earlier output; pass --overwrite to replace it"
    from simulator.rundirs import difference, stored_scenario

    held = stored_scenario(out)
    if held is None:
        return f"{where} {out}: holds an earlier output; pass --overwrite to replace it"
    diff = difference(held, scenario.to_dict(), auto_warmup=scenario.auto_warmup)
    if diff is None:
        return (f"{where} {out}: holds an earlier run of this scenario; pass --overwrite "
                "to run it again there")  # fmt: skip
    return (f"{where} {out}: holds a run of a different scenario (they differ at {diff}); "
            "choose another --out, or leave --out out for a folder of its own")  # fmt: skip


def _run(args: argparse.Namespace) -> int:
    from simulator.runner import write_run
    from simulator.scenario import load_scenario_with_overrides
    from simulator.sweep_cli import parse_set_arguments, run_scenario

    pairs, set_problems = parse_set_arguments("run", args.overrides)
    try:
        as_written, scenario = load_scenario_with_overrides(
            args.scenario, pairs, f"{args.scenario} (--set)"
        )
    except CreditsimError as exc:  # the file's and the overrides' problems, in one pass
        raise type(exc)(*exc.problems, *set_problems) from None
    if set_problems:
        raise UsageError(*set_problems)
    # warmup_days: auto is resolved on the scenario's own seed, as sweeps do, so
    # `--seed S` is the run that a sweep's replication on seed S makes.
    unseeded = scenario
    if args.seed is not None:
        scenario = scenario.with_overrides({"seed": args.seed}, source="--seed")
    if args.workers < 1:
        raise UsageError(f"creditsim run: --workers must be >= 1, got {args.workers}")
    if args.batch_members is not None and args.batch_members < 1:
        raise UsageError(f"creditsim run: --batch-members must be >= 1, got {args.batch_members}")
    if args.workers > scenario.members:
        raise UsageError(f"creditsim run: --workers must be at most the number of members "
                         f"({scenario.members}), got {args.workers}")  # fmt: skip
    from simulator.rundirs import default_run_dir

    default_out = str(default_run_dir(args.scenario, scenario, as_written))
    out = _check_out(default_out if args.out is None else args.out, args.overwrite, "run",
                     scenario)  # fmt: skip
    from simulator import estimate
    from simulator.warmup import resolve_warmup

    resolved, args.warmup_record = resolve_warmup(unseeded)
    if args.warmup_record is not None:
        scenario = scenario.with_overrides({"warmup_days": resolved.warmup_days},
                                           source=scenario.source)  # fmt: skip
        print(f"warm-up auto: {args.warmup_record['chosen_days']} days "
              f"({args.warmup_record['reason']})")  # fmt: skip

    from simulator.runner import DEFAULT_BATCH_MEMBERS

    estimate.check_memory(scenario, args.force, args.workers,
                          args.batch_members or DEFAULT_BATCH_MEMBERS,
                          reports=not args.no_report)  # fmt: skip
    estimate.check_disk(scenario, out, args.force)

    bar = None
    progress = None
    if not args.no_progress and sys.stderr.isatty():
        from tqdm import tqdm

        total_days = (scenario.end + 1 - scenario.sim_start) / 86_400
        bar = tqdm(total=round(total_days, 1), unit="day", desc=f"simulating {scenario.name}",
                   file=sys.stderr, leave=False)  # fmt: skip

        def progress(seconds: float) -> None:
            bar.update(seconds / 86_400)

    on_batch = None
    if bar is not None:
        from simulator.population import roster
        from simulator.runner import DEFAULT_BATCH_MEMBERS, batch_ranges

        batches = len(batch_ranges(roster(scenario).size,
                                   args.batch_members or DEFAULT_BATCH_MEMBERS))  # fmt: skip
        done = {"batches": 0, "inmails": 0}

        def on_batch(batch: Any) -> None:
            done["batches"] += 1
            done["inmails"] += batch.rows["inmails"]
            bar.set_postfix_str(f"{done['batches']}/{batches} batches, "
                                f"{done['inmails']:,} InMails")  # fmt: skip

    from simulator.runformat import staging_dir

    if args.resume and not staging_dir(out).is_dir():
        print(f"--resume: no interrupted run at {out}; starting from the beginning")
    try:
        result = run_scenario(scenario, args, progress, out, on_batch,
                              reports=not args.no_report)  # fmt: skip
    except KeyboardInterrupt:
        return _interrupted(out)
    except ExecutionError as exc:  # a worker lost: what the others finished is kept
        hint = _resume_hint(out)
        if hint is not None:
            exc.problems = (*exc.problems[:-1], f"{exc.problems[-1]}; {hint}")
        raise
    except InvariantError as exc:
        from simulator.invariant_failures import write_failures
        from simulator.violations import offending_members

        assert exc.history is not None
        where = write_failures(out, exc.history, offending_members(exc.problems),
                               problems=exc.problems, scenario=scenario)  # fmt: skip
        exc.problems = (*exc.problems, f"the offending members' histories are in {where}/")
        raise
    finally:
        if bar is not None:
            bar.close()
    failed: list[str] = []
    try:
        if args.no_report:
            write_run(result, out)
        else:
            from simulator.reports import reports_or_problems

            # Reports go into the run folder before it is published, so a run
            # interrupted while reporting leaves nothing that looks complete; a
            # report that fails is dropped, and the run is still published.
            # The workers computed each batch's report sums: no table is read again.
            def reports(tmp: Path) -> None:
                failed.extend(reports_or_problems(tmp, result.report_sums))

            write_run(result, out, before_publish=reports)
    except KeyboardInterrupt:
        return _interrupted(out)
    s = result.summary
    print(_run_lines(s, scenario, result.meta))
    steady = s["steady_state"]
    if steady["steady"] is False:
        from simulator.warmup import recommended_warmup_days

        settled = steady["suggested_warmup_days"]
        weeks = steady["suggested_truncation_weeks"]
        if steady["capped"]:
            when, more = f"have not settled {settled} days into the run (MSER truncation at " \
                         f"its cap, {weeks} weeks)", "more than "  # fmt: skip
        else:
            when, more = f"settle only {settled} days into the run (MSER truncation {weeks} " \
                         "weeks)", ""  # fmt: skip
        sys.stdout.flush()
        print(f"creditsim run: warning: the measured window is not steady: its weekly series "
              f"{when}; use a warm-up of {more}{recommended_warmup_days(settled)} days, twice "
              "that, or warmup_days: auto", file=sys.stderr)  # fmt: skip
    if failed:
        print(f"wrote {out}/ without its reports", file=sys.stdout)
        for line in failed:
            print(f"creditsim run: the reports failed: {line}", file=sys.stderr)
        print(f"creditsim run: the run itself is complete; `creditsim report {out}` tries the "
              "reports again", file=sys.stderr)  # fmt: skip
        return 1
    print(f"wrote {out}/" + ("" if args.no_report else f" (report: {out / 'report.html'})"))
    return 0


def _interrupted(out: Path) -> int:
    """Ctrl-C during ``creditsim run``: say what ``--resume`` keeps; exit status 130."""
    hint = _resume_hint(out) or "no batch had finished, so --resume would start from the beginning"
    print(f"creditsim run: interrupted; {hint}", file=sys.stderr)
    return 130


def _resume_hint(out: Path) -> str | None:
    """What ``--resume`` would keep of a run at ``out`` that stopped on the way, in words
    (None when it would keep nothing)."""
    from simulator.runformat import batch_records, staging_dir

    done = len(batch_records(staging_dir(out))) if staging_dir(out).is_dir() else 0
    if not done:
        return None
    batches = f"{done:,} batches it finished are" if done != 1 else "batch it finished is"
    return (f"the {batches} kept in {staging_dir(out)}: run the same command with --resume "
            "to finish it")  # fmt: skip


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _replay(args: argparse.Namespace) -> int:
    from simulator.api import replay
    from simulator.timeutil import format_instant, parse_instant

    until = None
    if args.until is not None:
        try:
            until = parse_instant(args.until)
        except ValueError as exc:
            raise UsageError(f"creditsim replay: --until: {exc}") from None
    if Path(args.history).is_dir():
        return _replay_parts(args, until)
    try:
        result = replay(args.history, args.scenario, until, allow_long_span=args.allow_long_span)
    except UsageError as exc:  # the API names its argument `until`; here it is a flag
        raise UsageError(*(f"creditsim replay: --{line}" if line.startswith("until: ") else line
                           for line in exc.problems)) from None  # fmt: skip
    out = _check_out(args.out, args.overwrite, "replay")
    try:
        result.save(out)  # ledger.csv and balances.csv replaced whole, or not at all
        _clear_replay(out, files=False)  # the parts of an earlier replay of a run
    except OSError as exc:
        raise UsageError(
            f"creditsim replay: --out {out}: cannot write: {exc.strerror or exc}"
        ) from None

    kinds = result.kinds()
    entries = sum(kinds.values())
    by_kind = ", ".join(f"{k} {n}" for k, n in kinds.items()) or "none"
    if result.rows == 0:
        print("replayed 0 actions: the history has no rows")
    else:
        until_text = format_instant(int(result.until.timestamp()))
        print(
            f"replayed {result.actions} action{'s' * (result.actions != 1)} for {result.members} "
            f"member{'s' * (result.members != 1)} up to {until_text}"
        )
    print(f"ledger: {entries} entries ({by_kind})")
    print(f"credits held at the end: {result.held}")
    print(f"wrote {out / 'ledger.csv'} and {out / 'balances.csv'}")
    return 0


def _replay_parts(args: argparse.Namespace, until: int | None) -> int:
    """``creditsim replay RUN`` or ``RUN/history``: every part replayed, one ledger per part.

    For a run directory (or its ``history/`` folder), the run's ``scenario.yaml``
    and ``end`` are the defaults of ``--scenario`` and ``--until``, so each
    ``OUT/ledger/part-i.csv`` is the run's ``ledger/part-i.parquet`` as text.
    Any other folder of history parts is replayed as separate history files.
    """
    from simulator.api import replay
    from simulator.runformat import history_parts, read_meta
    from simulator.timeutil import parse_instant

    folder = Path(args.history)
    if (folder / "run.json").is_file():
        folder = folder / "history"  # a run directory: its history
    paths = history_parts(folder)
    if not paths:
        raise UsageError(f"{folder}: a folder without history parts (part-00000.csv, ...): "
                         "give a history file, a run directory or its history/ folder")  # fmt: skip
    run_dir = folder.parent
    policy, used = args.scenario, []
    if (run_dir / "run.json").is_file() and folder.name == "history":
        meta = read_meta(run_dir)
        if policy is None:
            policy = run_dir / "scenario.yaml"
            used.append(f"the policy of {policy}")
        if until is None:
            until = parse_instant(str(meta["end"]))
            used.append(f"the run's end, {meta['end']}")
    out = _check_out(args.out, args.overwrite, "replay")
    try:
        _clear_replay(out)
    except OSError as exc:
        raise UsageError(
            f"creditsim replay: --out {out}: cannot write: {exc.strerror or exc}"
        ) from None
    actions = members = entries = 0
    for path in paths:
        try:
            result = replay(path, policy, until, allow_long_span=args.allow_long_span)
        except UsageError as exc:
            raise UsageError(*(f"creditsim replay: --{line}" if line.startswith("until: ")
                               else line for line in exc.problems)) from None  # fmt: skip
        try:
            result.save(out, part=path.stem)
        except OSError as exc:
            raise UsageError(
                f"creditsim replay: --out {out}: cannot write: {exc.strerror or exc}"
            ) from None
        actions += result.actions
        members += result.members
        entries += sum(result.kinds().values())
    if used:
        print(f"replaying a run's history: {' and '.join(used)}")
    print(f"replayed {len(paths)} parts: {actions:,} actions for {members:,} members, "
          f"{entries:,} ledger entries")  # fmt: skip
    print(f"wrote {out / 'ledger'}/ and {out / 'balances'}/ (one CSV per part)")
    return 0


def _clear_replay(out: Path, files: bool = True) -> None:
    """Remove an earlier replay's output from ``out`` (allowed by ``--overwrite``): its
    ``ledger/`` and ``balances/`` parts and (with ``files``) its ``ledger.csv`` and
    ``balances.csv``, so no file of an earlier replay (a part this one has not) is left
    beside this one's. Nothing else in ``out`` is touched."""
    import shutil

    for name in ("ledger", "balances"):
        if (out / name).is_dir():
            shutil.rmtree(out / name)
        if files:
            (out / f"{name}.csv").unlink(missing_ok=True)
