"""``creditsim audit RUN_DIR``: prove that a run directory is what the rules give.

Someone who receives a run directory can check it without trusting the
simulator that wrote it: each of its history parts (``history/part-i.csv``:
every action of one batch's members, in the replay format of RULES.md
section 8) is replayed through the credit rules engine under the run's own
policy (its ``scenario.yaml``) up to the run's end, and the ledger the rules
give is compared with the ledger part of the same name
(``ledger/part-i.parquet``), member by member, line for line, in the text
form ``creditsim replay`` writes (RULES.md section 5). A member whose rows
are in a part of another number is a difference too. Then the end-of-run
invariants (:mod:`simulator.invariants`: conservation, balances, InMails
against the ledger, the summary's counts) are checked again on the tables as
they are on disk.

A run passes when both hold. Otherwise the members whose ledger differs, or
whom an invariant implicates, are written as replayable histories to
``OUT/audit-failures/`` (default ``OUT`` = the run directory), with a README
saying what differed and how to replay each; the CLI exits 3, as for a run
that fails its invariants.

Run directories of format 2 are audited (:mod:`simulator.runformat`), and
only whole ones: a part missing, one whose rows are not those ``run.json``
gives, or one of another schema is bad input (one line, exit 2), found
before anything is replayed (:func:`simulator.runformat.read_meta`). One
part is in memory at a time, apart from the invariants' tables. End to end
(reading, validating and replaying the history, comparing) it handles about
23,000 actions a second: the baseline's 828,562 in 35 s, so a run of a few
million actions takes a few minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from simulator.engine.history import (
    LEDGER_COLUMNS,
    ledger_rows,
    read_history,
    replay,
)
from simulator.errors import InputError
from simulator.invariant_failures import write_failures
from simulator.invariants import check_run
from simulator.reports import load_run_tables
from simulator.runformat import first_line, history_text, part_path, read_json, read_meta
from simulator.scenario import load_scenario
from simulator.timeutil import format_instant
from simulator.violations import offending_members

__all__ = ["AUDIT_FOLDER", "AuditResult", "audit_run"]

AUDIT_FOLDER = "audit-failures"


@dataclass
class AuditResult:
    """What :func:`audit_run` found: ``ok`` when the ledger and the invariants hold.

    ``differences`` maps each member whose ledger differs to its first
    difference, in words; ``problems`` are the invariant violations;
    ``failures`` is the folder written when the run fails (the members'
    replayable histories, if any member is implicated, and a README listing
    every problem); None when ``ok``, or when it could not be written, which
    ``failures_error`` then says.
    """

    run_dir: Path
    actions: int
    members: int
    entries: int
    differences: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    failures: Path | None = None
    failures_error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.differences and not self.problems


def audit_run(run_dir: str | Path, out: str | Path | None = None) -> AuditResult:
    """Replay RUN_DIR's history, compare the ledger line for line, re-check the invariants.

    Raises :class:`InputError` for a folder that is not a run directory of a
    format this version reads. Writes ``OUT/audit-failures/`` (``OUT`` default
    RUN_DIR) only when the run fails.
    """
    root = Path(run_dir)
    meta = read_meta(root)  # every part run.json lists is there (Parquet parts: whole)
    for name in ("scenario.yaml", "summary.json"):
        if not (root / name).is_file():
            raise InputError(f"{root}: not a complete run directory (no {name})")
    summary = read_json(root / "summary.json", root)
    scenario = load_scenario(root / "scenario.yaml")
    result = AuditResult(root, 0, 0, 0)
    history_of: dict[str, Path] = {}  # the history part holding each differing member
    histories = [part_path(root, "history", i) for i in range(len(meta["batches"]))]
    for i, path in enumerate(histories):
        part = path.stem
        actions = read_history(path, scenario.policy, allow_long_span=True)
        replayed = replay(scenario.policy, actions, scenario.end)
        expected = ledger_rows(replayed.engine)
        ledger = part_path(root, "ledger", i)
        try:  # a damaged table is bad input: one line, not a traceback
            recorded = _ledger_text(pq.read_table(ledger, columns=_LEDGER))
        except (OSError, KeyError, pa.ArrowException) as exc:
            raise InputError(f"{ledger}: cannot read: {first_line(exc)}") from None
        result.actions += len(actions)
        result.members += len(replayed.members)
        result.entries += len(recorded)
        found = _differences(recorded, expected)
        for member, why in found.items():
            if member in result.differences:  # one member in two parts: never in a run
                why = f"{why} (and rows in another part)"
            result.differences[member] = f"{part}: {why}"
            history_of.setdefault(member, path)
    try:
        tables = load_run_tables(root)
        result.problems += check_run(tables, summary, scenario)
    except (OSError, KeyError, pa.ArrowException) as exc:
        raise InputError(f"{root}: cannot read the run's tables: {first_line(exc)}") from None
    if result.ok:
        return result
    members = sorted(set(result.differences) | set(offending_members(result.problems)))
    # The histories of the members concerned: their own parts (all, for an
    # invariant of the whole run, which names members of any part).
    wanted = sorted(set(history_of.values())) if set(members) <= set(history_of) else histories
    history = history_text(wanted)
    lines = [f"{m}: {why}" for m, why in sorted(result.differences.items())]
    target = Path(root if out is None else out)
    try:
        result.failures = write_failures(
            target, history, members,
            problems=[*lines, *result.problems], scenario=scenario, folder=AUDIT_FOLDER,
            why=["creditsim audit replayed each history part of this run through the credit",
                 "rules engine and compared the ledger it gives with the ledger part of the same",
                 "name, then checked the end-of-run invariants again. What differs, or breaks",
                 "an invariant:"],
        )  # fmt: skip
    except OSError as exc:  # a read-only run directory, an --out that is a file, ...
        result.failures_error = f"cannot write in {target}: {exc.strerror or exc}"
    return result


_LEDGER = list(LEDGER_COLUMNS)


def _ledger_text(table: pa.Table) -> list[tuple[str, ...]]:
    """The run's ledger as the rows ``creditsim replay`` writes (RULES.md section 5)."""
    seconds = table.column("time").cast(pa.timestamp("s", "UTC")).cast(pa.int64()).to_pylist()
    stamps: dict[int, str] = {}
    times = [stamps.get(t) or stamps.setdefault(t, format_instant(t)) for t in seconds]

    def text(name: str) -> list[str]:
        column = table.column(name)
        if pa.types.is_dictionary(column.type):
            column = column.cast(pa.string())
        return pc.fill_null(column.cast(pa.string()), "").to_pylist()

    columns = [text(n) for n in ("member", "kind", "lot", "quantity", "inmail", "reason",
                                 "balance_after")]  # fmt: skip
    return [(t, *rest) for t, *rest in zip(times, *columns, strict=True)]


def _differences(
    recorded: list[tuple[str, ...]], expected: list[tuple[str, ...]]
) -> dict[str, str]:
    """Per member whose entries differ, its first difference in words."""

    def by_member(rows: list[tuple[str, ...]]) -> dict[str, list[tuple[str, ...]]]:
        ordered = sorted(range(len(rows)), key=lambda i: rows[i][1])  # stable: R10 order kept
        return {m: [rows[i] for i in grp] for m, grp in groupby(ordered, key=lambda i: rows[i][1])}

    mine, theirs = by_member(recorded), by_member(expected)
    out: dict[str, str] = {}
    for member in sorted(set(mine) | set(theirs)):
        a, b = mine.get(member, []), theirs.get(member, [])
        if a == b:
            continue
        unequal = (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)
        n = next(unequal, min(len(a), len(b)))
        if n < len(a) and n < len(b):
            out[member] = (f"entry {n + 1}: the run has {_show(a[n])}, the rules give "
                           f"{_show(b[n])}")  # fmt: skip
        elif n < len(a):
            out[member] = f"entry {n + 1}: the run has {_show(a[n])}, the rules give no more"
        else:
            out[member] = f"entry {n + 1}: the run has no more, the rules give {_show(b[n])}"
    return out


def _show(row: tuple[str, ...]) -> str:
    time, _, kind, lot, quantity, inmail, reason, balance = row
    what = f"{kind} {quantity}" + (f" ({reason})" if reason else "")
    where = f" of lot {lot}" if lot else ""
    about = f" for InMail {inmail}" if inmail else ""
    return f"{time} {what}{where}{about}, balance {balance}"
