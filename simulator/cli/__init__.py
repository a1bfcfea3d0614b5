"""The ``creditsim`` command line: parse, call the API, print.

Kept thin on purpose: every command parses its arguments, makes one call
into :mod:`simulator.api` and prints what came back
(:mod:`simulator.cli.run`: ``run``, ``report``, ``audit``, ``replay``;
:mod:`simulator.cli.sweep`: ``sweep``, ``compare``;
:mod:`simulator.cli.sensitivity`;
:mod:`simulator.cli.calibrate`: ``fit``). Errors the user can cause
(:class:`~simulator.errors.CreditsimError`) are printed as one line per
problem on standard error, in the command line's words (the API names its
parameters, :mod:`simulator.cli.messages` says the flags), with exit status 2
and no traceback; nothing is written when the input is bad.

The command modules import only :mod:`simulator` (whose API loads on first
use, so ``creditsim --help`` stays quick), :mod:`simulator.errors` and each
other.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import simulator
from simulator.cli.calibrate import add_fit_parser, fit_command
from simulator.cli.messages import as_flags
from simulator.cli.run import (
    add_run_parsers,
    audit_command,
    replay_command,
    report_command,
    run_command,
)
from simulator.cli.sensitivity import add_sensitivity_parser, sensitivity_command
from simulator.cli.sweep import add_sweep_parsers, compare_command, sweep_command
from simulator.errors import CreditsimError, UsageError

__all__ = ["main"]

_COMMANDS = {
    "run": run_command,
    "sweep": sweep_command,
    "compare": compare_command,
    "sensitivity": sensitivity_command,
    "report": report_command,
    "replay": replay_command,
    "audit": audit_command,
    "fit": fit_command,
}


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
    add_run_parsers(sub)
    add_sweep_parsers(sub, _Parser)
    add_sensitivity_parser(sub)
    add_fit_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``creditsim``; returns the exit status."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except CreditsimError as exc:
        for line in as_flags(_command(argv), exc.lines()):
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


def _storage_line(argv: Sequence[str] | None, exc: OSError) -> str:
    """One line for a write that failed mid-way (issue 15, fault 11).

    Every file is written to a temporary name and renamed into place, and a run
    folder is published whole, so what failed left nothing that looks complete:
    say so, and how to finish once there is room (a sweep keeps its finished runs).
    """
    command = _command(argv)
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


def _command(argv: Sequence[str] | None) -> str:
    """The command of ``argv`` (``run``, ``sweep``, ...), or ``""``."""
    words = list(sys.argv[1:] if argv is None else argv)
    return next((w for w in words if w in _COMMANDS), "")


def _main(argv: list[str]) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(f"creditsim {simulator.__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    return _COMMANDS[args.command](args)
