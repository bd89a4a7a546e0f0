"""Standard output as Unix tools treat it.

``gdviz run x --json | head -c1`` (the reader goes away), ``>/dev/full`` (a write fails) and
``>&-`` (no stdout at all) must not end in a traceback. :func:`guarded_stdout` puts a thin
wrapper in ``sys.stdout`` for the length of a command: every failed write or flush becomes
an :class:`OutputError`, which the CLI turns into exit 141 (SIGPIPE's code, nothing said) for
a closed pipe, or one line on stderr and exit 1 for any other write error.
"""

from __future__ import annotations

import errno
import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

EXIT_WRITE_ERROR = 1
EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a process killed by SIGPIPE


class OutputError(Exception):
    """Standard output could not be written; ``cause`` is the OSError."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause

    @property
    def broken_pipe(self) -> bool:
        return isinstance(self.cause, BrokenPipeError) or self.cause.errno == errno.EPIPE

    def report(self, err_console: Any) -> int:
        """Say what failed (nothing for a closed pipe) and return the exit code."""
        _discard_stdout()
        if self.broken_pipe:
            return EXIT_BROKEN_PIPE
        reason = self.cause.strerror or str(self.cause)
        err_console.print(f"gdviz: cannot write to standard output: {reason}", markup=False, highlight=False)
        return EXIT_WRITE_ERROR


def _discard_stdout() -> None:
    """Point fd 1 at /dev/null so that the interpreter's last flush at exit fails no more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


class _Guard(io.TextIOBase):
    """``sys.stdout`` whose write errors raise :class:`OutputError`; ``None`` means closed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def _call(self, name: str, *args: Any) -> Any:
        if self.inner is None:
            raise OutputError(OSError(errno.EBADF, "standard output is closed"))
        try:
            return getattr(self.inner, name)(*args)
        except OutputError:
            raise
        except (OSError, ValueError) as exc:  # ValueError: "I/O operation on closed file"
            if isinstance(exc, ValueError):
                exc = OSError(errno.EBADF, "standard output is closed")
            raise OutputError(exc) from None

    def write(self, s: str) -> int:
        return int(self._call("write", s))

    def flush(self) -> None:
        if self.inner is not None:
            self._call("flush")

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        try:
            return bool(self.inner is not None and self.inner.isatty())
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        if self.inner is None:
            raise io.UnsupportedOperation("standard output is closed")
        return int(self.inner.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.inner, "errors", None)


@contextmanager
def guarded_stdout() -> Iterator[_Guard]:
    """``sys.stdout`` guarded for the block, restored after it."""
    saved = sys.stdout
    guard = _Guard(saved)
    sys.stdout = guard
    try:
        yield guard
    finally:
        sys.stdout = saved


@contextmanager
def stdout_fd_to_stderr() -> Iterator[None]:
    """For the block, file descriptor 1 is stderr's: what C or Fortran code prints (LAPACK's
    ``** On entry to DLASCL ...``) cannot reach the document on stdout. Python's own
    ``sys.stdout`` is flushed first and writes nothing inside the block."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError, OutputError):
        pass
    try:
        saved = os.dup(1)
    except OSError:  # no stdout at all: nothing to protect
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
