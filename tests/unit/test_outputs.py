"""outputs.cannot_write: the probe that an output folder can be made, before any work."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from simulator.outputs import cannot_write


def test_a_writable_folder_passes_and_keeps_its_times(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    os.utime(folder, ns=(1_000_000_000, 2_000_000_000))
    assert cannot_write(folder) is None
    assert cannot_write(folder / "new" / "deeper") is None  # probed in `folder`
    assert folder.stat().st_mtime_ns == 2_000_000_000  # (listing it below may touch atime)
    assert list(folder.iterdir()) == []


def test_a_path_under_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    assert cannot_write(tmp_path / "f" / "out") == f"{tmp_path / 'f'} is not a directory"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_a_virtual_file_system_is_refused() -> None:
    """Even root cannot make a folder in /proc, though os.access says it may write there."""
    problem = cannot_write(Path("/proc/creditsim-test/out"))
    assert problem is not None and problem.startswith("cannot write in /proc: ")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_folder_without_write_permission_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert cannot_write(locked / "out") == f"cannot write in {locked}: Permission denied"
    finally:
        locked.chmod(0o755)
