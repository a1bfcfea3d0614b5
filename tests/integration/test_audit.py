"""``creditsim audit RUN_DIR`` (issue 12, item 6): a run directory proved exact, or not.

A run written by creditsim passes: each history part, replayed through the
engine under its own policy, gives its ledger part line for line, and its
invariants hold.
A ledger edited by hand, or a history with a row removed, fails with exit 3,
the member named with its first difference, and the member's history written
to ``audit-failures/`` where it replays on its own.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import simulator as cs
from simulator.cli import main
from simulator.runner import run, write_run
from simulator.scenario import load_scenario

DATA = Path(__file__).parents[1] / "data" / "model"


@pytest.fixture(scope="module", params=["small.yaml", "open.yaml"])
def written(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("audit") / "run"
    result = run(load_scenario(DATA / request.param), batch_members=30)
    assert len(result.meta["batches"]) > 1  # several parts
    return write_run(result, out)


def _copy(run_dir: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run_dir, tmp_path / "copy"))


def test_a_run_creditsim_wrote_passes(written: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", str(written)]) == 0
    out = capsys.readouterr().out
    result = cs.audit(written)
    assert result.ok and result.entries > 1000
    assert out == (f"{written}: replayed {result.actions:,} actions of {result.members:,} "
                   f"members: the ledger's {result.entries:,} entries are what the rules give, "
                   "line for line, and every invariant holds\n")  # fmt: skip
    assert not (written / "audit-failures").exists()


def test_a_ledger_edited_by_hand_fails(
    written: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One grant's quantity raised by 1: that member's first entry differs, its running
    balance and conservation break, exit 3, and its history replays to the rules' ledger."""
    copy = _copy(written, tmp_path)
    part = copy / "ledger" / "part-00001.parquet"
    table = pq.read_table(part)
    kinds = table.column("kind").to_pylist()
    row = kinds.index("grant")
    member = table.column("member")[row].as_py()
    quantity = table.column("quantity").to_pylist()
    quantity[row] += 1
    field = table.schema.get_field_index("quantity")
    table = table.set_column(field, "quantity", pa.array(quantity, table.schema.field(field).type))
    pq.write_table(table, part)

    assert main(["audit", str(copy)]) == 3
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"creditsim audit: {member}: part-00001: entry ")
    assert any("credits not conserved" in line for line in err)
    assert err[-1].endswith(f"the details are in {copy / 'audit-failures'}/")
    failures = copy / "audit-failures"
    assert (failures / f"{member}.csv").is_file() and (failures / "scenario.yaml").is_file()

    # The member's history alone replays to the ledger the rules give (not the edited one).
    end = json.loads((copy / "run.json").read_text())["end"]
    replayed = tmp_path / "replayed"
    history, policy = failures / f"{member}.csv", failures / "scenario.yaml"
    args = ["replay", str(history), "--scenario", str(policy), "--until", end]
    assert main([*args, "--out", str(replayed)]) == 0
    with open(replayed / "ledger.csv", newline="") as f:
        first_grant = next(r for r in csv.DictReader(f) if r["kind"] == "grant")
    assert int(first_grant["quantity"]) == quantity[row] - 1


def test_a_history_missing_a_row_fails(
    written: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A send removed from a history part: the member's ledger no longer follows from it."""
    copy = _copy(written, tmp_path)
    part = copy / "history" / "part-00001.csv"
    lines = part.read_text().splitlines(keepends=True)
    rows = list(csv.reader(lines))  # one row per line: no cell holds a line break
    row = next(i for i, cells in enumerate(rows) if cells[2] == "send")
    member = rows[row][1]
    part.write_text("".join(lines[:row] + lines[row + 1 :]))
    result = cs.audit(copy, out=tmp_path / "elsewhere")
    assert not result.ok and member in result.differences
    assert result.failures == tmp_path / "elsewhere" / "audit-failures"
    assert not (copy / "audit-failures").exists()
    assert main(["audit", str(copy), "--out", str(tmp_path / "again")]) == 3
    capsys.readouterr()


@pytest.mark.parametrize(
    ("setup", "line"),
    [
        (lambda d: None, "{d}: not a creditsim run directory (no run.json)"),
        (lambda d: (d / "run.json").write_text('{"format_version": 9}'),
         "{d}/run.json: run format 9; this creditsim reads format 2"),
        (lambda d: (d / "run.json").write_text('{"format_version": 2}'),
         "{d}: not a complete run directory (run.json lists no batches)"),
        (lambda d: (d / "run.json").write_text('{"format_version": 1}'),
         "{d}: a run directory of format 1 (one file per table, creditsim 0.1), which this "
         "creditsim does not read; make it again in format 2 with `creditsim run "
         "{d}/scenario.yaml --out NEW_FOLDER` (same scenario and seed, same run)"),
    ],
)  # fmt: skip
def test_a_folder_that_is_not_a_run_is_one_line(
    setup, line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "not-a-run"
    folder.mkdir()
    setup(folder)
    assert main(["audit", str(folder)]) == 2
    assert capsys.readouterr().err.splitlines() == [line.format(d=folder)]


def test_damaged_tables_are_one_line(
    written: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ledger part that is not Parquet, or lacks a column, or a history part missing:
    exit 2, one line naming the part, no traceback, nothing written."""
    copy = _copy(written, tmp_path)
    part = copy / "ledger" / "part-00001.parquet"
    part.write_bytes(b"garbage\n")
    assert main(["audit", str(copy)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"{part}: cannot read: ")
    table = pq.read_table(written / "ledger" / "part-00001.parquet")
    pq.write_table(table.drop(["kind"]), part)
    assert main(["audit", str(copy)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"{part}: no column 'kind' (part-00000.parquet has it, string)"
    # A history part missing: the run is not whole, so it is not audited (not a pass).
    pq.write_table(table, part)
    (copy / "history" / "part-00001.csv").unlink()
    batches = len(json.loads((copy / "run.json").read_text())["batches"])
    assert main(["audit", str(copy)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{copy / 'history' / 'part-00001.csv'}: missing (run.json lists {batches} batches)"
    ]
    assert not (copy / "audit-failures").exists()


def test_a_wrong_summary_alone_fails_with_its_readme(
    written: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """summary.json's counts edited: no member is implicated, the ledger matches, the
    invariants name the counts; the README lists them (no member histories)."""
    copy = _copy(written, tmp_path)
    summary = json.loads((copy / "summary.json").read_text())
    summary["inmails_paid"] += 1
    (copy / "summary.json").write_text(json.dumps(summary))
    result = cs.audit(copy)
    assert not result.ok and not result.differences and result.problems
    assert result.failures is not None
    assert sorted(p.name for p in result.failures.iterdir()) == ["README.txt", "scenario.yaml"]
    assert "inmails_paid" in (result.failures / "README.txt").read_text()


def test_audit_failures_that_cannot_be_written_are_said(
    written: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out naming a file: the audit still fails with 3 and says why nothing was written."""
    copy = _copy(written, tmp_path)
    summary = json.loads((copy / "summary.json").read_text())
    summary["inmails_paid"] += 1
    (copy / "summary.json").write_text(json.dumps(summary))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    assert main(["audit", str(copy), "--out", str(blocker)]) == 3
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.endswith(
        f"the details could not be written: cannot write in {blocker}: File exists"
    )


def test_the_help_names_the_parts_of_format_2(capsys: pytest.CaptureFixture[str]) -> None:
    """`creditsim audit --help` and cs.audit's docstring speak of history/ and ledger/ parts,
    not the single files of format 1."""
    with pytest.raises(SystemExit):
        main(["audit", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for doc in (text, " ".join((cs.audit.__doc__ or "").split())):
        assert "history/part-i.csv" in doc and "ledger/part-i.parquet" in doc
        assert "history.csv" not in doc and "ledger.parquet" not in doc
