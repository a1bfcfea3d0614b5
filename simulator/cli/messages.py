"""The command line's words for the API's messages: parameters become flags.

Job: the library names its parameters (``workers must be a whole number >= 1,
got 0``, ``scheduler needs executor='dask'``); a ``creditsim`` user typed
flags, and reads them back (``creditsim run: --workers must be >= 1, got 0``,
``--scheduler needs --executor dask``). :func:`as_flags` rewrites each line
the API raised or said, by the table :data:`FLAG_TEXTS`; a line it does not
know is printed as it is.

Boundary: words only. Each entry maps one library message, whole; none
changes what a message means.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

__all__ = ["FLAG_TEXTS", "as_flags"]

_Rewrite = Callable[["re.Match[str]", str], str]


def _out_rest(rest: str) -> str:
    return (
        rest.replace("pass overwrite=True", "pass --overwrite")
        .replace("pass resume=True", "pass --resume")
        .replace(
            "choose another out, or none for a folder of its own",
            "choose another --out, or leave --out out for a folder of its own",
        )
    )


#: The commands whose output folder is a sweep's (:func:`simulator.sweeps.check_out`):
#: their ``--out`` lines have never been prefixed with the command.
_SWEEP_COMMANDS = frozenset(("sweep", "compare", "sensitivity"))


def _out(m: re.Match[str], command: str) -> str:
    prefix = "" if command in _SWEEP_COMMANDS else f"creditsim {command}: "
    return f"{prefix}--out{_out_rest(m['rest'])}"


def _resume(m: re.Match[str], command: str) -> str:
    rest = m["rest"]
    if rest.endswith("; choose another out"):
        rest = rest.removesuffix("out") + "--out"
    if rest.endswith("run without resume=True to start again"):
        rest = (rest.removesuffix("run without resume=True to start again")
                .replace(" seed or batch_members;", " seed or --batch-members;")
                + "run without --resume to start again")  # fmt: skip
    return f"--resume: {rest}"


def _memory(m: re.Match[str], command: str) -> str:
    fewer = ", or fewer --workers" if m["fewer"] else ""
    return (f"creditsim {command}: {m['what']} available; pass --force to start "
            f"anyway{fewer}")  # fmt: skip


def _base(m: re.Match[str], command: str) -> str:
    return f"{m['head']}; give a base scenario (--scenario) to use its values"


#: (a library message, as a pattern; the command line's text of it).
FLAG_TEXTS: tuple[tuple[re.Pattern[str], _Rewrite], ...] = (
    (re.compile(r"(?P<head>.*); give a base scenario \(base=\.\.\.\) to use its values"),
     _base),
    (re.compile(r"workers must be a whole number >= 1, got (?P<n>.*)"),
     lambda m, c: f"creditsim {c}: --workers must be >= 1, got {m['n']}"),
    (re.compile(r"workers must be at most (?P<rest>.*)"),
     lambda m, c: f"creditsim {c}: --workers must be at most {m['rest']}"),
    (re.compile(r"batch_members must be a whole number >= 1, got (?P<n>.*)"),
     lambda m, c: f"creditsim {c}: --batch-members must be >= 1, got {m['n']}"),
    (re.compile(r"out(?P<rest>[: ].*)"), _out),
    (re.compile(r"until: (?P<rest>.*)"), lambda m, c: f"creditsim {c}: --until: {m['rest']}"),
    (re.compile(r"seed: (?P<rest>.*)"), lambda m, c: f"--seed: {m['rest']}"),
    (re.compile(r"resume: (?P<rest>.*)"), _resume),
    (re.compile(r"seed must be a whole number >= 0, got (?P<n>.*)"),
     lambda m, c: f"--seed must be a whole number >= 0, got {m['n']}"),
    (re.compile(r"replications must be >= (?P<rest>.*)"),
     lambda m, c: f"--replications must be >= {m['rest']}"),
    (re.compile(r"replications (?P<n>[0-9,]+): the comparison would have (?P<rest>.*)"),
     lambda m, c: f"--replications {m['n']}: the comparison would have {m['rest']}"),
    (re.compile(r"method: (?P<rest>.*: use one of .*)"), lambda m, c: f"--method: {m['rest']}"),
    (re.compile(r"samples must be at least 2, got (?P<n>.*)"),
     lambda m, c: f"--samples must be at least 2, got {m['n']}"),
    (re.compile(r"samples (?P<rest>[0-9]+: Sobol designs need a power of two .*)"),
     lambda m, c: f"--samples {m['rest']}"),
    (re.compile(r"metrics: (?P<rest>expected NAME,NAME,\.\.\. \(summary\.json's numbers\)"
                r"|unknown metric .*|name at least one metric)"),
     lambda m, c: f"--metrics: {m['rest']}"),
    (re.compile(r"(?P<label>.*): the seed is not swept: set seed and replications"),
     lambda m, c: f"{m['label']}: the seed is not swept: set --seed and --replications"),
    (re.compile(r"scheduler needs executor='dask'"),
     lambda m, c: "--scheduler needs --executor dask"),
    (re.compile(r"scheduler(?P<rest>[: ].*)"), lambda m, c: f"--scheduler{m['rest']}"),
    (re.compile(r"executor='dask' needs Dask(?P<rest>.*)"),
     lambda m, c: f"--executor dask needs Dask{m['rest']}"),
    (re.compile(r"executor: (?P<rest>.*)"), lambda m, c: f"--executor: {m['rest']}"),
    (re.compile(r"(?P<what>.*: estimated memory .* per run.* exceeds the .*) available; "
                r"pass force=True to start anyway(?P<fewer>, or fewer workers)?"), _memory),
    (re.compile(r"(?P<what>.*: estimated memory .* exceeds the .* available); pass force=True "
                r"to run anyway(?P<hint>; it fits without its reports: reports=False runs it)?"),
     lambda m, c: f"{m['what']}; pass --force to run anyway"
                  + ("; it fits without its reports: --no-report runs it" if m["hint"] else "")),
    (re.compile(r"(?P<what>.*: its run directory needs about .* free); free some space, "
                r"choose another out, or pass force=True to run anyway"),
     lambda m, c: f"{m['what']}; free some space, choose another --out, or pass --force to "
                  "run anyway"),
    (re.compile(r"(?P<head>.* cannot use the run's folder .*; the workers write the parts "
                r"themselves), so out must be on storage every worker sees (?P<tail>.*)"),
     lambda m, c: f"{m['head']}, so --out must be on storage every worker sees {m['tail']}"),
)  # fmt: skip


def as_flags(command: str, lines: Iterable[str]) -> tuple[str, ...]:
    """``lines`` of the library in the words of ``creditsim COMMAND``."""
    out = []
    for line in lines:
        for pattern, rewrite in FLAG_TEXTS:
            match = pattern.fullmatch(line)
            if match is not None:
                line = rewrite(match, command)
                break
        out.append(line)
    return tuple(out)
