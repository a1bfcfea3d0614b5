"""Run directory format 2 (issue 12, items 2 and 3): one part per batch, written by
whoever simulated the batch, datasets every Parquet reader reads, history parts that
replay to their ledger parts, ``--resume`` after an interruption, format 1 refused.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import simulator as cs
from simulator import runformat
from simulator.cli import main
from simulator.errors import InputError
from simulator.population import roster
from simulator.runner import batch_ranges
from simulator.yamlio import dump_yaml

ROOT = Path(__file__).parents[2]
PARTS = ("ledger", "inmails", "members", "billing", "history")
BATCH = "30"


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The baseline at 3 % for 90 days after 60 of warm-up: 89 members and 15 arrivals, a
    basic cohort of 36 first (batch 0, members 0 to 29, is never billed: no billing rows)."""
    small = cs.scaled("scenarios/baseline.yaml", 0.03, duration_days=90, warmup_days=60)
    path = tmp_path_factory.mktemp("format") / "small.yaml"
    path.write_text(dump_yaml(small.to_dict()))
    return path


@pytest.fixture(scope="module")
def whole(scenario_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run in batches of 30 (BATCH), one process: 4 batches of the 104
    members."""
    out = tmp_path_factory.mktemp("whole") / "run"
    argv = ["run", str(scenario_file), "--batch-members", BATCH, "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    return out


def _files(run_dir: Path) -> dict[str, bytes]:
    """Every file of a run directory but run.json and report.html (which show the timings),
    by relative path."""
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and p.name not in ("run.json", "report.html")}  # fmt: skip


def _same_run(a: Path, b: Path) -> None:
    mine, theirs = _files(a), _files(b)
    assert sorted(mine) == sorted(theirs)
    for name, data in mine.items():
        assert data == theirs[name], name
    meta_a, meta_b = (json.loads((d / "run.json").read_text()) for d in (a, b))
    assert meta_a["batches"] == meta_b["batches"]


def test_every_batch_writes_every_part(whole: Path, scenario_file: Path) -> None:
    meta = json.loads((whole / "run.json").read_text())
    assert meta["format_version"] == 2
    members = roster(cs.load_scenario(scenario_file)).size
    ranges = batch_ranges(members, int(BATCH))
    assert [b["members"] for b in meta["batches"]] == [[r.start, r.stop] for r in ranges]
    names = [f"part-{i:05d}" for i in range(len(ranges))]
    for table in PARTS:
        assert sorted(p.stem for p in (whole / table).iterdir()) == names, table
    # Row counts per part, as run.json says; an empty part is there with the schema.
    for b in meta["batches"]:
        for table in runformat.TABLES:
            part = pq.read_table(runformat.part_path(whole, table, b["index"]))
            assert part.num_rows == b["rows"][table], (table, b["index"])
            assert part.schema.equals(pq.read_schema(runformat.part_path(whole, table, 0)))
    assert meta["batches"][0]["rows"]["billing"] == 0  # batch 0: basic members only
    assert sum(b["rows"]["ledger"] for b in meta["batches"]) == meta["counts"]["ledger_entries"]
    assert not list(whole.parent.glob(".*.partial")), "the staging folder was published"
    assert not (whole / ".batches").exists(), "the batch records are not part of the format"


def test_each_part_is_sorted_by_time_then_member(whole: Path) -> None:
    for path in runformat.parts(whole, "ledger"):
        frame = pd.read_parquet(path, columns=["time", "member"])
        assert frame.equals(frame.sort_values(["time", "member"], kind="stable")), path.name


def test_parquet_readers_read_the_datasets_as_they_are(whole: Path) -> None:
    """pandas, pyarrow.dataset, DuckDB and Dask read a table folder; parts in batch order."""
    meta = json.loads((whole / "run.json").read_text())
    rows = meta["counts"]["ledger_entries"]
    by_parts = pd.concat([pd.read_parquet(p) for p in runformat.parts(whole, "ledger")],
                         ignore_index=True)  # fmt: skip
    assert pd.read_parquet(whole / "ledger").equals(by_parts)
    assert ds.dataset(whole / "ledger").to_table().num_rows == rows
    duckdb = pytest.importorskip("duckdb")
    sql = f"SELECT count(*), sum(quantity) FROM '{whole / 'ledger'}/*.parquet'"
    assert duckdb.sql(sql).fetchone() == (rows, int(by_parts["quantity"].sum()))
    dd = pytest.importorskip("dask.dataframe")
    assert len(dd.read_parquet(str(whole / "inmails"))) == meta["counts"]["inmails_attempted"]


@pytest.mark.parametrize("given", ["RUN/history", "RUN"])
def test_each_history_part_replays_to_its_ledger_part(
    given: str, whole: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`creditsim replay RUN/history` or `RUN`: the run's policy and end by default, one
    ledger per part, each equal to the run's ledger part line for line."""
    out = tmp_path / "replayed"
    folder = whole / "history" if given == "RUN/history" else whole
    assert main(["replay", str(folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "the policy of" in printed and "the run's end" in printed
    for path in runformat.parts(whole, "ledger"):
        mine = pd.read_csv(out / "ledger" / f"{path.stem}.csv", dtype=str,
                           keep_default_na=False)  # fmt: skip
        theirs = pq.read_table(path).to_pandas()
        assert len(mine) == len(theirs), path.name
        assert (mine["member"] == theirs["member"]).all()
        assert (mine["kind"] == theirs["kind"]).all()
        assert (mine["balance_after"].astype(int) == theirs["balance_after"]).all()
        stamps = theirs["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert (mine["time"] == stamps).all(), path.name
    assert sorted(p.name for p in (out / "balances").iterdir()) == [
        f"{p.stem}.csv" for p in runformat.parts(whole, "ledger")]  # fmt: skip


def test_replay_overwrite_leaves_nothing_of_the_earlier_replay(
    whole: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--overwrite over a replay of the run's four parts: a replay of two parts leaves two
    ledgers and two balances, then one of a single file leaves only ledger.csv and
    balances.csv; a file of the user's own in OUT stays."""
    import shutil

    out = tmp_path / "replayed"
    assert main(["replay", str(whole), "--out", str(out)]) == 0
    (out / "notes.txt").write_text("mine\n")
    two = tmp_path / "two" / "history"  # a folder of history parts, not in a run
    two.mkdir(parents=True)
    for i in (0, 1):
        shutil.copy(runformat.part_path(whole, "history", i), two)
    end = json.loads((whole / "run.json").read_text())["end"]
    policy = ["--scenario", str(whole / "scenario.yaml"), "--until", end]
    assert main(["replay", str(two), *policy, "--out", str(out), "--overwrite"]) == 0
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["balances/part-00000.csv", "balances/part-00001.csv",
                     "ledger/part-00000.csv", "ledger/part-00001.csv", "notes.txt"]  # fmt: skip
    one = two / "part-00001.csv"
    assert main(["replay", str(one), *policy, "--out", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["balances.csv", "ledger.csv", "notes.txt"]
    capsys.readouterr()


def test_audit_passes_then_catches_an_edited_ledger_part(whole: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(whole, copy)
    assert cs.audit(copy).ok
    part = runformat.part_path(copy, "ledger", 1)
    table = pq.read_table(part)
    balance = table.column("balance_after").to_pylist()
    balance[3] += 1
    table = table.set_column(table.schema.get_field_index("balance_after"), "balance_after",
                             pa.array(balance, pa.int64()))  # fmt: skip
    pq.write_table(table, part)
    assert main(["audit", str(copy)]) == 3
    result = cs.audit(copy)
    assert not result.ok
    assert all(why.startswith("part-00001: entry ") for why in result.differences.values())


def _interrupt_after_two_batches(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run ``argv`` with a Ctrl-C as the third batch's parts are written; return the staging
    folder, which holds the two batches finished (0 and 1)."""
    real = runformat.write_parts
    written: list[int] = []

    def interrupt_third(folder: str, index: int, tables: object) -> None:
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(index)
        real(folder, index, tables)  # type: ignore[arg-type]

    with monkeypatch.context() as patched:
        patched.setattr(runformat, "write_parts", interrupt_third)
        assert main(argv) == 130
    staging = runformat.staging_dir(Path(argv[-1]))
    assert sorted(runformat.batch_records(staging)) == [0, 1]
    return staging


def _resume_counting(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """``argv --resume``; the batches it simulated."""
    import simulator.runner as runner

    simulated: list[int] = []
    real_batch = runner.run_batch

    def counted(job: tuple, *rest: object) -> object:
        simulated.append(job[1])
        return real_batch(job, *rest)  # type: ignore[arg-type]

    with monkeypatch.context() as patched:
        patched.setattr(runner, "run_batch", counted)
        assert main([*argv, "--resume"]) == 0
    return simulated


def test_resume_after_an_interruption_gives_the_same_files(
    whole: Path, scenario_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Ctrl-C after two batches of four: the staging folder keeps them; --resume simulates
    only the other two and writes the files of the uninterrupted run."""
    out = tmp_path / "run"
    argv = ["run", str(scenario_file), "--batch-members", BATCH, "--no-progress", "--out", str(out)]
    staging = _interrupt_after_two_batches(argv, monkeypatch)
    assert not out.exists(), "an interrupted run looks complete"
    assert capsys.readouterr().err.splitlines() == [
        f"creditsim run: interrupted; the 2 batches it finished are kept in "
        f"{staging.absolute()}: run the same command with --resume to finish it"]  # fmt: skip
    simulated = _resume_counting(argv, monkeypatch)
    assert simulated == [2, 3], "only the batches the interrupted run had not finished"
    _same_run(out, whole)
    assert not staging.exists()
    capsys.readouterr()

    # A resume with nothing to resume starts afresh; one of another plan is refused.
    assert main([*argv[:-2], "--out", str(tmp_path / "c"), "--resume"]) == 0
    assert "no interrupted run at" in capsys.readouterr().out
    runformat.start_staging(tmp_path / "d", runformat.plan_of("name: other\n", 30, 104),
                            resume=False)  # fmt: skip
    assert main([*argv[:-2], "--out", str(tmp_path / "d"), "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds an interrupted run of another scenario" in err[0]


@pytest.mark.parametrize("made_by", ["0.0.1", None], ids=["another-version", "unrecorded"])
def test_resume_refuses_a_run_interrupted_under_another_creditsim(
    made_by: str | None, scenario_file: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The plan records the creditsim version; --resume of a run another version began
    (or one from before plans recorded it) is one line saying so, exit 2, nothing run."""
    import simulator

    out = tmp_path / "run"
    argv = ["run", str(scenario_file), "--batch-members", BATCH, "--no-progress", "--out", str(out),
            "--resume"]  # fmt: skip
    # The very plan this run would make, but for the version.
    yaml = dump_yaml(cs.load_scenario(scenario_file).to_dict())
    plan = runformat.plan_of(yaml, int(BATCH), roster(cs.load_scenario(scenario_file)).size)
    assert plan["creditsim"] == simulator.__version__
    if made_by is None:
        del plan["creditsim"]
    else:
        plan["creditsim"] = made_by
    staging, _ = runformat.start_staging(out, plan, resume=False)
    assert main(argv) == 2
    made = f"creditsim {made_by}" if made_by else "another creditsim"
    assert capsys.readouterr().err.splitlines() == [
        f"--resume: {staging} holds an interrupted run made by {made}, and this is creditsim "
        f"{simulator.__version__}; its batches may differ from this version's: run without "
        "--resume to start again"]  # fmt: skip
    assert not out.exists() and staging.is_dir()


def test_a_run_that_loses_a_worker_keeps_its_batches_for_resume(
    whole: Path, scenario_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """An ExecutionError (a worker lost) at the third batch: exit 1, the executor's line
    saying the two batches finished are kept and how to finish; --resume does."""
    import simulator.runner as runner
    from simulator.errors import ExecutionError

    lost = "a worker process died while the work ran (BrokenProcessPool); nothing was written"
    real_batch = runner.run_batch

    def lose_third(job: tuple, *rest: object) -> object:
        if job[1] == 2:
            raise ExecutionError(lost)
        return real_batch(job, *rest)  # type: ignore[arg-type]

    out = tmp_path / "run"
    argv = ["run", str(scenario_file), "--batch-members", BATCH, "--no-progress", "--out", str(out)]
    with monkeypatch.context() as patched:
        patched.setattr(runner, "run_batch", lose_third)
        assert main(argv) == 1
    staging = runformat.staging_dir(out.absolute())
    assert capsys.readouterr().err.splitlines() == [
        f"{lost}; the 2 batches it finished are kept in {staging}: run the same command with "
        "--resume to finish it"]  # fmt: skip
    assert _resume_counting(argv, monkeypatch) == [2, 3]
    _same_run(out, whole)
    capsys.readouterr()


def _cut_short(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


@pytest.mark.parametrize(
    ("damage", "part"),
    [
        (_cut_short, "ledger/part-00001.parquet"),  # no footer
        (lambda p: _rewrite(p, lambda t: t.slice(1)), "inmails/part-00001.parquet"),  # a row gone
        (_cut_short, "history/part-00000.csv"),  # shorter than its record says
        (lambda p: p.unlink(), "members/part-00000.parquet"),
    ],
    ids=["parquet-cut-short", "parquet-row-fewer", "csv-cut-short", "missing"],
)
def test_resume_simulates_again_a_batch_whose_parts_are_not_whole(
    damage: object, part: str, whole: Path, scenario_file: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """A finished batch's part damaged after its record was written (as a crash of the
    machine can leave it): --resume does not trust the record, simulates that batch again
    with the two never finished, and writes the files of the uninterrupted run."""
    out = tmp_path / "run"
    argv = ["run", str(scenario_file), "--batch-members", BATCH, "--no-progress", "--out", str(out)]
    staging = _interrupt_after_two_batches(argv, monkeypatch)
    damage(staging / part)  # type: ignore[operator]
    batch = int(part.split("part-")[1].split(".")[0])
    assert sorted(runformat.batch_records(staging)) == [i for i in (0, 1) if i != batch]
    assert sorted(_resume_counting(argv, monkeypatch)) == [batch, 2, 3]
    _same_run(out, whole)
    capsys.readouterr()


def test_a_batch_is_recorded_only_once_its_parts_are_on_the_disk(
    scenario_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Each part (before its rename), each table's folder and the staging folder are
    flushed (fsync) before the batch's record is written, so no record outlives a crash
    that its parts do not."""
    events: list[tuple[str, object]] = []
    real_fsync, real_record = runformat.fsync_path, runformat.write_record

    def fsync(path: object) -> None:
        events.append(("fsync", Path(str(path))))
        real_fsync(path)  # type: ignore[arg-type]

    def record(folder: object, index: int, what: dict) -> None:
        events.append(("record", index))
        real_record(folder, index, what)  # type: ignore[arg-type]

    monkeypatch.setattr(runformat, "fsync_path", fsync)
    monkeypatch.setattr(runformat, "write_record", record)
    out = tmp_path / "run"
    argv = ["run", str(scenario_file), "--batch-members", BATCH, "--no-progress", "--no-report",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    staging = runformat.staging_dir(out.absolute())
    start = 0
    for i in range(4):  # 104 members in batches of 30 (scenario_file)
        end = events.index(("record", i))
        flushed = {path for kind, path in events[start:end] if kind == "fsync"}
        parts = {staging / name / f".{runformat.part_path('', name, i).name}.tmp"
                 for name in PARTS}  # fmt: skip
        assert parts | {staging / name for name in PARTS} | {staging} <= flushed, i
        start = end + 1


@pytest.mark.parametrize("report", [True, False], ids=["with-reports", "no-report"])
def test_resume_clears_what_the_report_phase_left_half_written(
    report: bool, whole: Path, scenario_file: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Ctrl-C while reporting leaves reports/, plots/, report.html and temporary files
    half-written in the staging folder; --resume (with or without --no-report) publishes
    none of them: the folder is the uninterrupted run's, file for file."""
    import simulator.reports.files

    def half_then_interrupt(run_dir: Path, sums: object = None) -> None:
        run_dir = Path(run_dir)
        for name in ("reports/stale.csv", "plots/stale.png", "report.html",
                     ".report.html.x1y2.tmp", "ledger/.part-00001.parquet.tmp",
                     ".batches/.batch-00002.json.abc.tmp"):  # fmt: skip
            (run_dir / name).parent.mkdir(exist_ok=True)
            (run_dir / name).write_text("half\n")
        raise KeyboardInterrupt

    out = tmp_path / "run"
    argv = ["run", str(scenario_file), "--batch-members", BATCH, "--no-progress", "--out", str(out)]
    with monkeypatch.context() as patched:
        patched.setattr(simulator.reports.files, "write_reports", half_then_interrupt)
        assert main(argv) == 130
    assert (runformat.staging_dir(out) / "reports" / "stale.csv").is_file()
    assert main([*argv, "--resume", *([] if report else ["--no-report"])]) == 0
    capsys.readouterr()
    if report:
        _same_run(out, whole)
    else:
        mine = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
        theirs = {str(p.relative_to(whole)) for p in whole.rglob("*") if p.is_file()}
        assert mine == {n for n in theirs if n.split("/")[0] not in ("reports", "plots",
                                                                     "report.html")}  # fmt: skip


@pytest.mark.slow
def test_a_run_killed_mid_way_resumes_to_the_uninterrupted_run(
    whole: Path, scenario_file: Path, tmp_path: Path
) -> None:
    """SIGKILL while batches are being written, then --resume (on two processes): the
    same files."""
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "simulator", "run", str(scenario_file), "--batch-members",
            "5", "--no-progress", "--no-report", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    staging = runformat.staging_dir(out)
    deadline = time.monotonic() + 120
    while len(runformat.batch_records(staging)) < 3 and time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    done = len(runformat.batch_records(staging))
    assert 3 <= done < 21 and not out.exists()  # 104 members in batches of 5: 21
    # Resumed on two processes: the remaining batches, wherever they run.
    assert main([*argv[3:], "--resume", "--workers", "2"]) == 0
    ref = tmp_path / "ref"
    assert main([*argv[3:-1], str(ref)]) == 0
    _same_run(out, ref)


# -- a run directory that is not whole -----------------------------------------------------
#
# Each damage, and the one line every reader gives for it (pinned, as tests/data/invalid's
# .err files are). "4 batches": the 104 members of scenario_file in batches of 30. Row
# counts are the damaged part's own in run.json. "part-00000.parquet has": the schema the
# other three parts share.


def _rewrite(path: Path, change: object) -> None:
    pq.write_table(change(pq.read_table(path)), path)  # type: ignore[operator]


def _rows(run: Path, table: str, index: int) -> int:
    return int(json.loads((run / "run.json").read_text())["batches"][index]["rows"][table])


DAMAGES = {
    "part-missing": (
        lambda run: (run / "ledger" / "part-00002.parquet").unlink(),
        lambda run: f"{run}/ledger/part-00002.parquet: missing (run.json lists 4 batches)",
    ),
    "history-part-missing": (
        lambda run: (run / "history" / "part-00003.csv").unlink(),
        lambda run: f"{run}/history/part-00003.csv: missing (run.json lists 4 batches)",
    ),
    "part-with-fewer-rows": (
        lambda run: _rewrite(run / "inmails" / "part-00001.parquet", lambda t: t.slice(1)),
        lambda run: (f"{run}/inmails/part-00001.parquet: has {_rows(run, 'inmails', 1) - 1:,} "
                     f"rows, run.json says {_rows(run, 'inmails', 1):,}"),
    ),
    "part-cut-short": (
        lambda run: os.truncate(run / "ledger" / "part-00001.parquet", 1000),
        lambda run: f"{run}/ledger/part-00001.parquet: cannot read: ",  # then pyarrow's words
    ),
    "part-not-listed": (
        lambda run: (run / "members" / "part-00004.parquet").write_bytes(
            (run / "members" / "part-00003.parquet").read_bytes()),
        lambda run: (f"{run}/members/part-00004.parquet: not a part of this run (run.json "
                     "lists 4 batches)"),
    ),
    "column-missing": (
        lambda run: _rewrite(run / "ledger" / "part-00002.parquet", lambda t: t.drop(["kind"])),
        lambda run: (f"{run}/ledger/part-00002.parquet: no column 'kind' (part-00000.parquet "
                     "has it, string)"),
    ),
    "column-of-another-type": (
        lambda run: _rewrite(run / "ledger" / "part-00003.parquet", lambda t: t.set_column(
            t.schema.get_field_index("quantity"), "quantity",
            t.column("quantity").cast(pa.string()))),
        lambda run: (f"{run}/ledger/part-00003.parquet: column 'quantity' is string, "
                     "part-00000.parquet has int64"),
    ),
    "column-added": (
        lambda run: _rewrite(run / "billing" / "part-00001.parquet",
                             lambda t: t.append_column("note", pa.nulls(len(t), pa.string()))),
        lambda run: (f"{run}/billing/part-00001.parquet: column 'note' that part-00000.parquet "
                     "does not have"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_run_that_is_not_whole_is_one_line_for_every_reader(
    damage: str, whole: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """report, audit, replay RUN/history, cs.load_run and load_run_tables refuse a run whose
    parts are not those run.json lists (whole, of one schema): exit 2, one pinned line."""
    import shutil

    from simulator.reports import load_run_tables

    run = Path(shutil.copytree(whole, tmp_path / "run"))
    spoil, line = DAMAGES[damage]
    spoil(run)
    expected = line(run)

    def pinned(lines: list[str]) -> bool:
        if expected.endswith(": "):  # pyarrow's own words follow
            return len(lines) == 1 and lines[0].startswith(expected)
        return lines == [expected]

    replay = ["replay", str(run / "history"), "--out", str(tmp_path / "replayed")]
    for argv in (["report", str(run)], ["audit", str(run)], replay):
        assert main(argv) == 2, argv
        assert pinned(capsys.readouterr().err.splitlines()), argv
    for read in (cs.load_run, load_run_tables):
        with pytest.raises(InputError) as caught:
            read(run)
        assert pinned(list(caught.value.lines())), read
    assert not (tmp_path / "replayed").exists()


def test_a_run_that_is_not_whole_in_a_real_process(whole: Path, tmp_path: Path) -> None:
    """`python -m simulator report` on a run with a part cut short: exit 2, one line, no
    traceback."""
    import shutil

    run = Path(shutil.copytree(whole, tmp_path / "run"))
    os.truncate(run / "ledger" / "part-00001.parquet", 1000)
    proc = subprocess.run([sys.executable, "-m", "simulator", "report", str(run)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"{run}/ledger/part-00001.parquet: cannot read: ")


def test_a_folder_of_parts_of_two_schemas_is_one_line(whole: Path, tmp_path: Path) -> None:
    """ParquetTable on a dataset folder of its own (no run.json) checks its parts' schemas
    too: the part that differs and its column, in one line."""
    import shutil

    from simulator.columns import ParquetTable

    folder = Path(shutil.copytree(whole / "ledger", tmp_path / "ledger"))
    _rewrite(folder / "part-00001.parquet", lambda t: t.drop(["reason"]))
    with pytest.raises(InputError) as caught:
        ParquetTable(folder)
    assert caught.value.lines() == (
        f"{folder}/part-00001.parquet: no column 'reason' (part-00000.parquet has it, string)",
    )


def test_format_1_is_refused_with_how_to_make_it_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "run.json").write_text(json.dumps({"format_version": 1}))
    (old / "scenario.yaml").write_text("name: x\n")
    (old / "ledger.parquet").write_bytes(b"")
    for argv in (["report", str(old)], ["audit", str(old)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, argv
        assert "a run directory of format 1" in err[0]
        assert f"creditsim run {old / 'scenario.yaml'} --out NEW_FOLDER" in err[0]
    with pytest.raises(InputError, match="format 1"):
        cs.load_run(old)
