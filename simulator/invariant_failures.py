"""Writing the members behind broken invariants as replay histories.

Job: :func:`write_failures` writes each offending member's history rows
(RULES.md section 8) to ``DIR/invariant-failures/<member>.csv`` (or a
numbered name for an id unfit for a file name), the run's scenario beside
them, and a ``README.txt`` listing the problems and the ``creditsim replay``
command for each member, so a failing run can be reproduced with ``creditsim
replay`` alone. The folder is built beside its place and renamed in.

Boundary: writes only under that folder; finding the problems is
:mod:`simulator.invariants`', naming their members :mod:`simulator.violations`'.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from simulator.engine.history import HISTORY_COLUMNS
from simulator.outputs import atomic_write_bytes, atomic_write_text, current_umask
from simulator.timeutil import format_instant
from simulator.yamlio import dump_yaml

if TYPE_CHECKING:
    from simulator.scenario import Scenario

__all__ = ["FAILURES_DIR", "MAX_MEMBERS_WRITTEN", "write_failures"]

FAILURES_DIR = "invariant-failures"
MAX_MEMBERS_WRITTEN = 100  # member histories written by write_failures by default
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}")


def write_failures(
    out: str | Path,
    history: pa.Table,
    members: Sequence[str],
    *,
    problems: Sequence[str] = (),
    scenario: Scenario | None = None,
    limit: int = MAX_MEMBERS_WRITTEN,
    folder: str = FAILURES_DIR,
    why: Sequence[str] = (),
) -> Path:
    """Write each member's history rows to ``out/invariant-failures/<member>.csv``.

    ``folder`` names the folder instead (``creditsim audit`` writes
    ``audit-failures/``) and ``why`` replaces the README's first paragraph.

    ``history`` is the run's history table (replay columns, RULES.md section
    8); ``members`` are the offending members (:func:`simulator.violations.offending_members`); at
    most ``limit`` of them are written, in sorted order. With ``scenario``, its
    resolved document is written beside them as ``scenario.yaml``, so the
    folder replays on its own. A ``README.txt`` lists ``problems`` and says how
    to replay. The folder is built beside its final place and renamed in, so
    it is complete or absent; an earlier one is replaced. Returns the folder.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    final = out / folder
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder}.", suffix=".partial", dir=out))
    try:
        tmp.chmod(0o777 & ~current_umask())
        chosen = sorted(set(members))[: max(0, limit)]
        names = _file_names(chosen)
        column = history.column("member")
        rows = history.filter(pc.is_in(column, value_set=pa.array(chosen, pa.string())))
        rows = rows.select(list(HISTORY_COLUMNS))
        for member in chosen:
            mine = rows.filter(pc.equal(rows.column("member"), member))
            atomic_write_bytes(tmp / names[member], _csv_bytes(mine))
        until = None
        if scenario is not None:
            atomic_write_text(tmp / "scenario.yaml", dump_yaml(scenario.to_dict()))
            until = format_instant(scenario.end)
        readme = _readme(
            final, chosen, names, len(set(members)), problems, scenario is not None, until, why
        )
        atomic_write_text(tmp / "README.txt", readme)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _file_names(members: Sequence[str]) -> dict[str, str]:
    """``<member>.csv``, or a numbered name for an id unfit for a file name."""
    out: dict[str, str] = {}
    for i, m in enumerate(members):
        ok = _SAFE_NAME.fullmatch(m) is not None
        out[m] = f"{m}.csv" if ok else f"member-{i + 1}.csv"
    return out


def _csv_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(quoting_style="needed"))
    return sink.getvalue().to_pybytes()


def _readme(
    folder: Path,
    chosen: Sequence[str],
    names: Mapping[str, str],
    total: int,
    problems: Sequence[str],
    has_scenario: bool,
    until: str | None,
    why: Sequence[str] = (),
) -> str:
    scenario = folder / "scenario.yaml" if has_scenario else folder.parent / "scenario.yaml"
    lines = [
        *(
            why
            or (
                "This run failed its end-of-run invariant checks (simulator/invariants.py: credit",
                "conservation, balances, InMails against the ledger, the summary's counts), so it",
                "was not reported as a result. The problems found:",
            )
        ),
        "",
        *(f"  {p}" for p in problems),
        *([] if problems else ["  (not recorded)"]),
        "",
    ]
    if chosen:
        lines += [
            "Each <member>.csv here is the full history of one offending member in the",
            "replay format (RULES.md section 8). Members share no credits, so replaying",
            "one member's history alone reproduces that member's ledger:",
            "",
        ]
        for m in chosen:
            until_arg = f" --until {until}" if until else ""
            lines.append(
                f"  creditsim replay {folder / names[m]} --scenario {scenario}"
                f"{until_arg} --out {folder / ('replay-' + names[m][:-4])}"
            )
        lines.append("")
        if total > len(chosen):
            lines += [
                f"{total - len(chosen)} more offending members were not written"
                f" (only the first {len(chosen)} by id).",
                "",
            ]
    else:
        lines += [
            "No single member is at fault (the problems are in the run's totals), so no",
            "member history is written here.",
            "",
        ]
    if not has_scenario:
        lines += ["scenario.yaml is the run's resolved scenario (creditsim run writes it).", ""]
    return "\n".join(lines)
