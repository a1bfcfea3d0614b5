"""Writing results without ever leaving a half-written file behind.

Every file is written to a temporary name in its destination folder and then
renamed over the final name (``os.replace`` is atomic on POSIX), so a reader
sees either the old file, the new file, or none: never a truncated one.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = [
    "atomic_write_bytes",
    "atomic_write_many",
    "atomic_write_text",
    "cannot_write",
    "csv_text",
    "current_umask",
    "fsync_path",
]


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fsync_path(path: str | Path) -> None:
    """Flush a file's data, or a folder's entries (a rename into it), to the disk.

    A rename is atomic but not durable: after a crash of the machine a file
    renamed into place may be there cut short, unless its data was flushed
    first, and a rename may be lost unless its folder was. Folders are
    flushed on POSIX only (elsewhere they cannot be opened).
    """
    if os.name != "posix" and Path(path).is_dir():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def current_umask() -> int:
    """The process's umask (read without changing it for long)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_many(folder: str | Path, files: dict[str, str]) -> None:
    """Write several text files into ``folder``: all of them, or (on error) none.

    Every file is first written to a temporary name; only when all are written
    are they renamed into place.
    """
    folder = Path(folder)
    staged: list[tuple[str, Path]] = []
    try:
        for name, text in files.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
            staged.append((tmp, folder / name))
            with os.fdopen(fd, "wb") as fh:
                fh.write(text.encode("utf-8"))
            os.chmod(tmp, 0o666 & ~current_umask())
        for _, target in staged:
            if target.is_dir():
                raise IsADirectoryError(21, "Is a directory", str(target))
        for tmp, target in staged:
            os.replace(tmp, target)
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Rows as CSV text with a header, ``\\n`` line ends."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def cannot_write(folder: str | Path) -> str | None:
    """Why nothing can be created in ``folder`` (or in the nearest folder above it that
    exists, where its missing parents would be made), or None when something can.

    Probed by making and removing an empty hidden folder there, so a read-only or
    virtual file system (``/proc``), a missing permission or a full inode table all show
    up before any work starts; nothing is left behind, and the folder's times are put
    back as they were.
    """
    here = Path(folder)
    while not here.exists() and here != here.parent:
        here = here.parent
    if not here.is_dir():
        return f"{here} is not a directory"
    try:
        before = here.stat()
        os.rmdir(tempfile.mkdtemp(prefix=".creditsim-probe-", dir=here))
        # Not even the folder's modification time tells of the probe.
        os.utime(here, ns=(before.st_atime_ns, before.st_mtime_ns))
    except OSError as exc:
        return f"cannot write in {here}: {exc.strerror or exc}"
    return None
