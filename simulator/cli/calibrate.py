"""``creditsim fit``: parse, call :func:`simulator.api.fit`, print (module named apart from
the command so that ``simulator.cli.fit`` is never mistaken for the API function).

The estimation is :mod:`simulator.fit`; this module adds the arguments
(mounted by :mod:`simulator.cli`), the words printed and the exit status.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

import simulator
from simulator.cli.sweep import int_arg

if TYPE_CHECKING:  # the API loads on first use (simulator.__getattr__): `--help` stays quick
    import simulator.api

__all__ = ["add_fit_parser", "fit_command"]

#: The cohort modes, as :data:`simulator.fit.COHORT_MODES` (a test holds them equal): here so
#: that the parser, and ``creditsim --help``, need not load the API.
COHORT_MODES = ("tier", "tier-activity")


def add_fit_parser(subparsers: Any) -> None:
    """Add the ``fit`` command to ``subparsers``."""
    sp = subparsers.add_parser(
        "fit",
        help="calibrate a scenario from account histories (RULES.md section 8)",
        description="Estimate every behaviour parameter of a scenario from account histories "
        "(the format creditsim replay audits), each with its 95 % interval and method, and "
        "write DIR/scenario.yaml, DIR/fit.csv, DIR/plots/ and DIR/fit.html; with --validate N, "
        "simulate the fitted scenario N times and compare its headline metrics with the "
        "history's.",
    )
    sp.add_argument("histories", nargs="+", metavar="HISTORY.csv")
    sp.add_argument(
        "--until", metavar="INSTANT",
        help="end of observation (default: the last instant in the files)",
    )  # fmt: skip
    sp.add_argument(
        "--scenario", metavar="BASE.yaml",
        help="the policy, pricing and fallbacks for what the history cannot show",
    )  # fmt: skip
    sp.add_argument(
        "--cohorts", choices=COHORT_MODES, default="tier",
        help="group members by starting tier (default) or by tier and activity",
    )  # fmt: skip
    sp.add_argument("--out", metavar="DIR", required=True, help="output directory")
    sp.add_argument(
        "--validate", type=int_arg, default=3, metavar="N",
        help="simulate the fitted scenario N times and compare (default 3; 0: none)",
    )  # fmt: skip
    sp.add_argument("--seed", type=int_arg, help="master seed of the validation runs")
    sp.add_argument("--workers", type=int_arg, default=1, help="worker processes (default 1)")
    sp.add_argument("--no-progress", action="store_true", help="no progress lines")


def fit_command(args: argparse.Namespace) -> int:
    """``creditsim fit``: the exit status (raises CreditsimError for bad input)."""

    def say(text: str) -> None:
        print(f"fit: {text}", file=sys.stderr, flush=True)

    done = simulator.api.fit(
        args.histories, until=args.until, base=args.scenario, cohorts=args.cohorts,
        validate=args.validate, seed=args.seed, workers=args.workers,
        progress=None if args.no_progress else say,
    )  # fmt: skip
    written = done.save(args.out)
    print(repr(done))
    print(f"wrote {written}")
    return 0
