"""Scratch folders (simulator.scratch) are removed however their process ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and fork")

# The watchdog notices its owner's end when the pipe closes: at once, bar process start-up
# and scheduling on a loaded machine. This only bounds the wait.
WATCHDOG_GRACE_S = 30.0

MAKE_TWO = """
    import os, sys, time
    from simulator.scratch import scratch_dir
    a, b = scratch_dir("sweep"), scratch_dir("compare")
    (a / "runs").mkdir(); (a / "runs" / "x.json").write_text("{}")
    print(a, b, flush=True)
"""


def _child(code: str, tmp: Path) -> subprocess.Popen[str]:
    """A Python process with ``tmp`` as its temporary directory, running ``code``."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "TMPDIR": str(tmp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _left(tmp: Path) -> list[str]:
    """What is left in ``tmp`` once the watchdog has had its chance (polled, bounded)."""
    deadline = time.monotonic() + WATCHDOG_GRACE_S
    while list(tmp.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return sorted(p.name for p in tmp.iterdir())


def test_removed_at_a_normal_exit(tmp_path: Path) -> None:
    proc = _child(MAKE_TWO, tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    made = [Path(p) for p in out.split()]
    assert [p.parent for p in made] == [tmp_path, tmp_path]
    assert [p.name.split("-")[1] for p in made] == ["sweep", "compare"]
    assert list(tmp_path.iterdir()) == []  # the atexit hook: gone before the process ended


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["TERM", "KILL"])
def test_removed_when_the_process_is_killed(tmp_path: Path, signum: int) -> None:
    """How Jupyter ends a kernel (SIGTERM, then SIGKILL): no exit hook runs, the watchdog
    removes the folders, and the process's own exit status is untouched."""
    proc = _child(MAKE_TWO + "\n    time.sleep(120)\n", tmp_path)
    assert proc.stdout is not None
    made = [Path(p) for p in proc.stdout.readline().split()]
    assert len(made) == 2 and all(p.is_dir() for p in made)
    proc.send_signal(signum)
    proc.communicate(timeout=60)
    assert proc.returncode == -signum
    assert _left(tmp_path) == []


def test_a_signal_to_the_owners_process_group_spares_the_watchdog(tmp_path: Path) -> None:
    """Jupyter interrupts and terminates the kernel's whole process group."""
    code = (
        """
        import os
        os.setpgid(0, 0)
    """
        + MAKE_TWO.replace("\n    ", "\n        ")
        + "\n        time.sleep(120)\n"
    )
    proc = _child(code, tmp_path)
    assert proc.stdout is not None
    proc.stdout.readline()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert _left(tmp_path) == []


def test_a_forked_child_leaves_its_parents_folders(tmp_path: Path) -> None:
    code = (
        MAKE_TWO
        + """
    from simulator.scratch import remove_scratch
    pid = os.fork()
    if pid == 0:
        remove_scratch()
        os._exit(0)
    os.waitpid(pid, 0)
    print(all(p.is_dir() for p in (a, b)), flush=True)
"""
    )
    proc = _child(code, tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.split()[-1] == "True"
    assert list(tmp_path.iterdir()) == []
