"""Scratch folders: where ``cs.sweep``/``cs.compare`` write when given no ``out=``.

A scratch folder lives as long as the Python process that made it: a
Sweep's or Comparison's kept runs, and ``load_sweep`` of its folder, read
their files lazily for as long as the session lasts. It is removed when
that process ends, however it ends:

- a normal exit (a script's end, ``exit()``): at once, by an ``atexit`` hook;
- any other end (``SIGTERM``, ``SIGKILL``, a crash): by a watchdog, a small
  Python process started with the first scratch folder, in a session of its
  own (so signals sent to the owner's process group, as Jupyter sends them,
  do not reach it). The owner writes each folder's path to the watchdog's
  standard input and holds the pipe open; the watchdog reads until the pipe
  closes, which happens only when the owner (and any child it forked) has
  ended, then removes the folders it was told of and exits.

Jupyter needs the watchdog: when it shuts a kernel down it interrupts the
kernel's process group, asks it to stop, and after a few seconds sends
``SIGTERM`` and then ``SIGKILL``; after a sweep on a process pool the kernel
was seen to end without running its exit hooks (nbclient, ipykernel 6).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_FOLDERS: list[Path] = []
_OWNER: list[int] = []  # the pid whose folders these are (a forked child starts afresh)
_WATCHDOG: list[subprocess.Popen[bytes]] = []

# The watchdog's whole program: standard library only, nothing from the owner.
_WATCHDOG_CODE = (
    "import shutil, sys\n"
    "data = sys.stdin.buffer.read()\n"  # until the owner's end closes the pipe
    "for path in data.split(b'\\0'):\n"
    "    if path:\n"
    "        shutil.rmtree(path, ignore_errors=True)\n"
)


def scratch_dir(kind: str) -> Path:
    """A new, empty folder ``<tmp>/creditsim-<kind>-*``, removed when this process ends."""
    if not _OWNER or _OWNER[0] != os.getpid():
        _OWNER[:] = [os.getpid()]
        _FOLDERS.clear()  # a parent's, inherited by fork: not ours to remove
        _WATCHDOG.clear()
        atexit.register(remove_scratch)
    folder = Path(tempfile.mkdtemp(prefix=f"creditsim-{kind}-"))
    _FOLDERS.append(folder)
    _watch(folder)
    return folder


def remove_scratch() -> None:
    """Remove this process's scratch folders now (a forked child's call does nothing)."""
    if not _OWNER or _OWNER[0] != os.getpid():
        return
    while _FOLDERS:
        shutil.rmtree(_FOLDERS.pop(), ignore_errors=True)


def _watch(folder: Path) -> None:
    """Tell the watchdog (started on first use) to remove ``folder`` when this process ends."""
    for _attempt in range(2):  # a watchdog that was killed is replaced once
        try:
            if not _WATCHDOG:
                _WATCHDOG.append(
                    subprocess.Popen(
                        [sys.executable, "-I", "-S", "-c", _WATCHDOG_CODE],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
            pipe = _WATCHDOG[0].stdin
            assert pipe is not None
            pipe.write(os.fsencode(folder) + b"\0")
            pipe.flush()
            return
        except OSError:  # no watchdog (no processes allowed?): the atexit hook remains
            _WATCHDOG.clear()
