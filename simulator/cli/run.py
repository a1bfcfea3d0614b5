"""``creditsim run``, ``report``, ``audit`` and ``replay``: parse, call the API, print.

Each command is one call into :mod:`simulator.api` (:func:`~simulator.api.run_to_dir`,
:func:`~simulator.api.write_reports`, :func:`~simulator.api.audit`,
:func:`~simulator.api.replay_to_dir`); this module adds the arguments, the
words printed, and the exit status. Errors the API raises are printed by
:func:`simulator.cli.main` in the command line's words (:mod:`simulator.cli.messages`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import simulator
from simulator.cli.messages import as_flags
from simulator.cli.sweep import add_executor_arguments, int_arg, parse_set_arguments

if TYPE_CHECKING:  # the API loads on first use (simulator.__getattr__): `--help` stays quick
    import simulator.api

__all__ = [
    "add_run_parsers",
    "audit_command",
    "replay_command",
    "report_command",
    "run_command",
]

_MAX_AUDIT_LINES = 20


def add_run_parsers(sub: Any) -> None:
    """Add ``replay``, ``audit``, ``run`` and ``report`` to the subparsers ``sub``."""
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
    run.add_argument("--seed", type=int_arg, help="master seed (default: the scenario's)")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario key by its dotted path, e.g. "
        "policy.refund.window_days=14 (repeatable; values are YAML scalars)",
    )
    run.add_argument("--workers", type=int_arg, default=1, help="local processes (default 1)")
    run.add_argument(
        "--batch-members",
        type=int_arg,
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
    add_executor_arguments(run, workers=False)


def audit_command(args: argparse.Namespace) -> int:
    """``creditsim audit``: 0 when the run is what the rules give, 3 when not."""
    result = simulator.api.audit(args.run_dir, args.out)
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


def report_command(args: argparse.Namespace) -> int:
    """``creditsim report``: write a run directory's reports again."""
    run_dir = Path(args.run_dir)
    written = simulator.api.write_reports(run_dir, args.format)
    print(f"wrote {len(written)} files under {run_dir}/ (open {run_dir / 'report.html'})")
    return 0


def run_command(args: argparse.Namespace) -> int:
    """``creditsim run``: simulate a scenario file into a run directory."""
    pairs, set_problems = parse_set_arguments("run", args.overrides)
    try:
        saved = simulator.api.run_to_dir(
            args.scenario, args.out, seed=args.seed, overrides=pairs,
            argument_problems=set_problems, workers=args.workers, executor=args.executor,
            scheduler=args.scheduler, batch_members=args.batch_members, resume=args.resume,
            overwrite=args.overwrite, force=args.force, reports=not args.no_report,
            progress=not args.no_progress and sys.stderr.isatty(),
            on_note=lambda line: print(*as_flags("run", [line])),
        )  # fmt: skip
    except simulator.api.RunInterrupted as stop:
        return _interrupted(stop.out)
    except simulator.api.RunLost as exc:  # a worker lost: what the others finished is kept
        hint = _resume_hint(exc.out)
        if hint is not None:
            exc.problems = (*exc.problems[:-1], f"{exc.problems[-1]}; {hint}")
        raise
    s = saved.summary
    print(_run_lines(s, saved.scenario, saved.meta))
    steady = s["steady_state"]
    if saved.recommended_warmup_days is not None:
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
              f"{when}; use a warm-up of {more}{saved.recommended_warmup_days} days, twice "
              "that, or warmup_days: auto", file=sys.stderr)  # fmt: skip
    out = saved.out
    if saved.report_problems:
        print(f"wrote {out}/ without its reports", file=sys.stdout)
        for line in saved.report_problems:
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
    done, staging = simulator.api.staged_batches(out)
    if not done:
        return None
    batches = f"{done:,} batches it finished are" if done != 1 else "batch it finished is"
    return (f"the {batches} kept in {staging}: run the same command with --resume "
            "to finish it")  # fmt: skip


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


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def replay_command(args: argparse.Namespace) -> int:
    """``creditsim replay``: a history file, or a run's history parts, through the engine."""
    done = simulator.api.replay_to_dir(args.history, args.out, policy=args.scenario,
                                       until=args.until, overwrite=args.overwrite,
                                       allow_long_span=args.allow_long_span)  # fmt: skip
    out = done.out
    if done.replay is None:
        if done.defaults:
            print(f"replaying a run's history: {' and '.join(done.defaults)}")
        print(f"replayed {done.parts} parts: {done.actions:,} actions for {done.members:,} "
              f"members, {done.entries:,} ledger entries")  # fmt: skip
        print(f"wrote {out / 'ledger'}/ and {out / 'balances'}/ (one CSV per part)")
        return 0
    result = done.replay
    kinds = result.kinds()
    by_kind = ", ".join(f"{k} {n}" for k, n in kinds.items()) or "none"
    if result.rows == 0:
        print("replayed 0 actions: the history has no rows")
    else:
        print(
            f"replayed {result.actions} action{'s' * (result.actions != 1)} for {result.members} "
            f"member{'s' * (result.members != 1)} up to {result.until_text}"
        )
    print(f"ledger: {done.entries} entries ({by_kind})")
    print(f"credits held at the end: {result.held}")
    print(f"wrote {out / 'ledger.csv'} and {out / 'balances.csv'}")
    return 0
