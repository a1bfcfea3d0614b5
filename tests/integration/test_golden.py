"""Golden histories: small hand-derived replay cases that pin the engine at every boundary.

Each folder of ``tests/data/golden`` holds ``history.csv``, optionally ``policy.yaml``
(a scenario with only a ``policy:`` block) and ``until.txt`` (the ``--until``
instant), and the expected ``ledger.csv`` and ``balances.csv`` of ``creditsim
replay``. The expected files were derived by hand from RULES.md, never by running
the engine; each folder's README.md quotes the rules and shows the arithmetic.

The ledger is compared per member, keeping the order of each member's entries
(RULES.md R10 orders one member's ledger; across members order does not matter).
Balances are compared as a set of rows.
"""

from __future__ import annotations

import csv
import difflib
from collections import defaultdict
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
CASES = sorted(p for p in GOLDEN.iterdir() if p.is_dir())

LEDGER_COLUMNS = ["time", "member", "kind", "lot", "quantity", "inmail", "reason", "balance_after"]
BALANCE_COLUMNS = ["member", "balance", "allotted", "purchased"]


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        rows = [row for row in reader if row]
    return header, rows


def _by_member(rows: list[list[str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        grouped[row[1]].append(",".join(row))
    return dict(grouped)


def _run_replay(case: Path, out: Path) -> int:
    from simulator import cli

    argv = ["replay", str(case / "history.csv"), "--out", str(out)]
    policy = case / "policy.yaml"
    if policy.exists():
        argv += ["--scenario", str(policy)]
    until = case / "until.txt"
    if until.exists():
        argv += ["--until", until.read_text(encoding="utf-8").strip()]
    try:
        rc = cli.main(argv)
    except SystemExit as exc:  # a CLI may exit instead of returning
        rc = exc.code
    return 0 if rc is None else int(rc)


def _ledger_diff(expected: list[list[str]], actual: list[list[str]]) -> str:
    exp, act = _by_member(expected), _by_member(actual)
    parts = []
    for member in sorted(set(exp) | set(act)):
        e, a = exp.get(member, []), act.get(member, [])
        if e != a:
            diff = difflib.unified_diff(
                e, a, fromfile=f"expected[{member}]", tofile=f"actual[{member}]", lineterm=""
            )
            parts.append("\n".join(diff))
    return "\n\n".join(parts)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_case_is_complete(case: Path) -> None:
    """Each golden folder has its history, both expected files and a README."""
    for name in ("history.csv", "expected_ledger.csv", "expected_balances.csv", "README.md"):
        assert (case / name).is_file(), f"{case.name}: missing {name}"
    assert _read_csv(case / "expected_ledger.csv")[0] == LEDGER_COLUMNS
    assert _read_csv(case / "expected_balances.csv")[0] == BALANCE_COLUMNS


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_replay(case: Path, tmp_path: Path) -> None:
    """Replaying the history writes exactly the hand-derived ledger and balances."""
    out = tmp_path / "out"
    rc = _run_replay(case, out)
    assert rc == 0, f"{case.name}: replay exited with status {rc}"

    header, actual = _read_csv(out / "ledger.csv")
    assert header == LEDGER_COLUMNS, f"ledger.csv header: {header}"
    _, expected = _read_csv(case / "expected_ledger.csv")
    diff = _ledger_diff(expected, actual)
    assert not diff, f"{case.name}: ledger differs (see {case / 'README.md'}):\n{diff}"

    header, actual_bal = _read_csv(out / "balances.csv")
    assert header == BALANCE_COLUMNS, f"balances.csv header: {header}"
    _, expected_bal = _read_csv(case / "expected_balances.csv")
    exp_set = {tuple(r) for r in expected_bal}
    act_set = {tuple(r) for r in actual_bal}
    assert exp_set == act_set, (
        f"{case.name}: balances differ\n"
        f"  missing (expected, not written): {sorted(exp_set - act_set)}\n"
        f"  unexpected (written, not expected): {sorted(act_set - exp_set)}"
    )
