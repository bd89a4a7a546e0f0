"""Signals to the app under a pseudo-terminal (issue 14, class 2): SIGTERM and SIGHUP end it
with the terminal restored (alternate screen off, cursor shown, mouse reporting off) and the
conventional exit code, 128 + the signal's number."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from hostile import scenario

pty = pytest.importorskip("pty")

ALT_ON, ALT_OFF = b"\x1b[?1049h", b"\x1b[?1049l"
CURSOR_ON = b"\x1b[?25h"
MOUSE_OFF = b"\x1b[?1000l"


def _read_until(fd: int, want: bytes, seconds: float) -> bytes:
    out = b""
    deadline = time.monotonic() + seconds
    while want not in out and time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    return out


def _drain(fd: int, seconds: float) -> bytes:
    out = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out


def _wait(pid: int, seconds: float) -> int:
    """The child's wait status; killed (and the test failed) if it is still running after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"the app was still running {seconds:g} s after the signal")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_ends_the_app_with_the_terminal_restored(tmp_path: Path, sig):
    path = scenario(tmp_path, "[[runs]]\nbatch_size = 1\n[[runs]]\nname = 'x[/]'\nbatch_size = 'full'")
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: gdviz in the terminal
        os.execve(sys.executable, [sys.executable, "-m", "gdviz", "run", str(path)], env)
    try:
        started = _read_until(fd, ALT_ON, 60)
        assert ALT_ON in started, started[-500:]
        time.sleep(0.5)  # let it draw a frame or two
        os.kill(pid, sig)
        rest = _drain(fd, 20)
        status = _wait(pid, 30)
    finally:
        os.close(fd)
    after = rest
    assert os.WIFEXITED(status), f"killed by signal {os.WTERMSIG(status) if os.WIFSIGNALED(status) else '?'}"
    assert os.WEXITSTATUS(status) == 128 + sig
    assert ALT_OFF in after and CURSOR_ON in after and MOUSE_OFF in after
    assert b"Traceback" not in started + after


def test_the_sweep_screen_opens_in_a_terminal_and_a_signal_ends_it(tmp_path: Path):
    """`gdviz sweep S` in a real terminal (the path the Pilot tests do not take): it opens the
    screen, and SIGTERM ends it with the terminal restored."""
    path = scenario(tmp_path, "[sweep]\nbatch_sizes = [1, 8]\nlearning_rates = [0.01, 0.1]\ntarget_loss = 0.6\n"
                    "[[runs]]\nbatch_size = 1")
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(sys.executable, [sys.executable, "-m", "gdviz", "sweep", str(path)], env)
    try:
        started = _read_until(fd, ALT_ON, 60)
        assert ALT_ON in started, started[-800:]
        time.sleep(0.5)
        os.kill(pid, signal.SIGTERM)
        rest = _drain(fd, 20)
        status = _wait(pid, 30)
    finally:
        os.close(fd)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 128 + signal.SIGTERM
    assert ALT_OFF in rest and b"Traceback" not in started + rest
