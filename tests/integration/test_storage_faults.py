"""Writing fails mid-way (issue 15, fault 11): one line, exit 1, nothing that looks complete.

A full disk is injected as a file-size limit (``RLIMIT_FSIZE``, with
``SIGXFSZ`` ignored so a write past it fails with ``EFBIG`` instead of killing
the process): the same ``OSError`` path a full disk (``ENOSPC``) takes, without
needing a small file system. Each command runs in its own process, as a user's
would, and its folder is inspected afterwards; a sweep then finishes with
``--resume`` once the limit is gone, with results equal to an uninterrupted one.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from simulator.cli import main
from simulator.runformat import batch_records

DATA = Path(__file__).parents[1] / "data" / "model"
SWEEP = ["--grid", "policy.refund.window_days=7,14", "--replications", "2", "--no-plots"]
TINY = """\
name: tiny
seed: 1
start: 2024-01-01
duration_days: 30
population:
  - {name: a, tier: premium_career, members: 20, sending: {inmails_per_month: 5}}
"""

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits")


def _limited(limit: int, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    def limit_writes() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    code = "import sys; from simulator.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd, capture_output=True, text=True, preexec_fn=limit_writes, timeout=300,
    )  # fmt: skip


def _one_line(proc: subprocess.CompletedProcess[str], command: str, again: str) -> None:
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines == [
        f"creditsim {command}: cannot write: File too large (a full disk, a quota or a "
        "file-size limit); nothing half-written was kept; free some space, then " + again
    ]


def test_a_run_that_cannot_write_resumes_to_the_same_run(tmp_path: Path) -> None:
    """Files of at most 100 kB: small.yaml's first four batches of 10 members fit, the
    fifth's history part (about 200 kB) does not. The run fails in one line and leaves
    nothing that looks complete, only its hidden staging folder with the four batches;
    once there is room, --resume simulates the rest and writes the files of an
    uninterrupted run."""
    args = ["run", str(DATA / "small.yaml"), "--batch-members", "10", "--no-progress"]
    proc = _limited(100_000, [*args, "--out", "out"], tmp_path)
    _one_line(proc, "run", "run the same command with --resume to finish it")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.partial"]
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert sorted(batch_records(tmp_path / ".out.partial")) == [0, 1, 2, 3]

    assert main([*args, "--out", str(tmp_path / "out"), "--resume"]) == 0
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    out, whole = tmp_path / "out", tmp_path / "whole"
    names = sorted(str(p.relative_to(whole)) for p in whole.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    for name in names:
        if name not in ("run.json", "report.html"):  # timings differ (report.html shows them)
            assert (out / name).read_bytes() == (whole / name).read_bytes(), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "whole"]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_sweep_that_cannot_write_resumes_to_the_same_results(
    tmp_path: Path, workers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run records (about 1.5 kB) fit under 4,000 bytes; results.parquet (about 15 kB) does not."""
    (tmp_path / "tiny.yaml").write_text(TINY)
    args = ["sweep", str(tmp_path / "tiny.yaml"), *SWEEP, "--workers", workers]
    proc = _limited(4_000, [*args, "--out", str(tmp_path / "cut")], tmp_path)
    _one_line(proc, "sweep", "run the same command with --resume to finish it")
    cut = tmp_path / "cut"
    assert len(list((cut / "runs").glob("*.json"))) == 4, "every run finished and was kept"
    assert not (cut / "results.parquet").exists(), "the folder does not look complete"
    assert not [p for p in cut.rglob("*") if p.name.endswith(".tmp")]

    # Once there is room: --resume runs nothing again and writes the results.
    assert main([*args, "--out", str(cut), "--resume"]) == 0
    assert "0 runs done now, 4 done before" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    pd.testing.assert_frame_equal(
        pd.read_parquet(cut / "results.parquet"),
        pd.read_parquet(tmp_path / "whole" / "results.parquet"),
    )


def test_reports_that_cannot_be_written_are_one_line(tmp_path: Path) -> None:
    """creditsim report on a finished run: the plots (tens of kB) do not fit 20,000 bytes."""
    (tmp_path / "tiny.yaml").write_text(TINY)
    assert (
        main(["run", str(tmp_path / "tiny.yaml"), "--no-report", "--out", str(tmp_path / "r")]) == 0
    )
    proc = _limited(20_000, ["report", "r"], tmp_path)
    _one_line(proc, "report", "run creditsim report again")
    assert not (tmp_path / "r" / "report.html").exists()
    assert not [p for p in (tmp_path / "r").rglob("*") if p.name.endswith(".tmp")]
    assert main(["report", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "report.html").is_file()
