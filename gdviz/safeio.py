"""The user's files: read with bounds, written whole or not at all.

Reading: regular files only, and not more than a limit.

``gdviz run /dev/zero`` would read until memory runs out, and a FIFO with no writer blocks
forever. :func:`read_regular` opens without blocking, refuses anything but a regular file,
and reads at most ``limit`` bytes; what it refuses is a :class:`Refused` whose ``problem``
the caller puts into its own error (a scenario or a data error, naming the key).

Writing (exports, screenshots, ``--json-file``): :func:`atomic_write` writes a temporary file in
the same folder and renames it over the target, so a reader never sees half a file and a
failed write leaves the old one.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TextIO

#: The largest scenario file read (a scenario is a few hundred bytes).
MAX_SCENARIO_BYTES = 1 << 20
#: The largest CSV read (more than 50 million values would be refused anyway).
MAX_CSV_BYTES = 1 << 30

_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
)


class Refused(Exception):
    """Not read: ``problem`` says why (not a regular file, or too large)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _size(n: int) -> str:
    x = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if x < 1024 or unit == "GiB":
            return f"{n} bytes" if unit == "bytes" else f"{x:.1f} {unit}".replace(".0 ", " ")
        x /= 1024
    raise AssertionError("unreachable")


def read_regular(path: Path, limit: int, what: str) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Raises
    ------
    Refused
        ``path`` is a device, a FIFO or a socket, or larger than ``limit``.
    OSError
        As :func:`open` (missing file, a directory, no permission): the caller words it.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block here
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        if not stat.S_ISREG(st.st_mode):
            kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
            raise Refused(f"is {kind}; a {what} must be a regular file")
        if st.st_size > limit:
            raise Refused(f"is {_size(st.st_size)}, more than the {_size(limit)} a {what} may have")
        chunks = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:  # it grew while being read
            raise Refused(f"is more than the {_size(limit)} a {what} may have")
        return data
    finally:
        os.close(fd)


@contextmanager
def atomic_write(path: Path, newline: str | None = None) -> Iterator[TextIO]:
    """A text file written whole or not at all: a temporary file beside ``path``, renamed over
    it once written and flushed to disk. On any error the temporary file is removed and
    ``path`` is left as it was."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    """``path.write_text(text)``, but whole or not at all (see :func:`atomic_write`)."""
    with atomic_write(path) as f:
        f.write(text)
