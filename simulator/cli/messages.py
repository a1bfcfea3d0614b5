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
    return rest.replace("pass overwrite=True", "pass --overwrite").replace(
        "choose another out, or none for a folder of its own",
        "choose another --out, or leave --out out for a folder of its own",
    )


def _memory(m: re.Match[str], command: str) -> str:
    fewer = ", or fewer --workers" if m["fewer"] else ""
    return (f"creditsim {command}: {m['what']} available; pass --force to start "
            f"anyway{fewer}")  # fmt: skip


#: (a library message, as a pattern; the command line's text of it).
FLAG_TEXTS: tuple[tuple[re.Pattern[str], _Rewrite], ...] = (
    (re.compile(r"workers must be a whole number >= 1, got (?P<n>.*)"),
     lambda m, c: f"creditsim {c}: --workers must be >= 1, got {m['n']}"),
    (re.compile(r"workers must be at most (?P<rest>.*)"),
     lambda m, c: f"creditsim {c}: --workers must be at most {m['rest']}"),
    (re.compile(r"batch_members must be a whole number >= 1, got (?P<n>.*)"),
     lambda m, c: f"creditsim {c}: --batch-members must be >= 1, got {m['n']}"),
    (re.compile(r"out(?P<rest>[: ].*)"),
     lambda m, c: f"creditsim {c}: --out{_out_rest(m['rest'])}"),
    (re.compile(r"until: (?P<rest>.*)"), lambda m, c: f"creditsim {c}: --until: {m['rest']}"),
    (re.compile(r"seed: (?P<rest>.*)"), lambda m, c: f"--seed: {m['rest']}"),
    (re.compile(r"resume: (?P<rest>.*)"), lambda m, c: f"--resume: {m['rest']}"),
    (re.compile(r"scheduler needs executor='dask'"),
     lambda m, c: "--scheduler needs --executor dask"),
    (re.compile(r"scheduler(?P<rest>[: ].*)"), lambda m, c: f"--scheduler{m['rest']}"),
    (re.compile(r"executor='dask' needs Dask(?P<rest>.*)"),
     lambda m, c: f"--executor dask needs Dask{m['rest']}"),
    (re.compile(r"executor: (?P<rest>.*)"), lambda m, c: f"--executor: {m['rest']}"),
    (re.compile(r"(?P<what>.*: estimated memory .* per run.* exceeds the .*) available; "
                r"pass force=True to start anyway(?P<fewer>, or fewer workers)?"), _memory),
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
