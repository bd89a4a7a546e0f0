"""Running the app in a real terminal: its own event loop, signals, and the exit code.

Split from :mod:`gdviz.tui.app` (which builds the app, for the CLI and the tests alike);
:func:`run_app` is also importable from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gdviz.data import Dataset
from gdviz.scenario import Scenario

if TYPE_CHECKING:
    from textual.app import App


def run_app(
    scenario: Scenario, dataset: Dataset, *, fps: int = 30, target: str = "cpu", export_dir: Path | str | None = None,
    notice: str = "",
) -> int:
    """Run the app in the terminal; returns the exit code (the terminal is restored on every exit).
    ``export_dir``: where exports and screenshots go (created when first written; default: here);
    ``notice``: a note shown as the app starts."""
    import sys

    from gdviz.tui.app import make_app

    app = make_app(scenario, dataset, fps=fps, target=target, export_dir=export_dir)
    app.notice = notice
    # A stopped engine thread that is inside a Numba compile (q on a cold cache) cannot be
    # interrupted: say why the exit waits for it.
    def before_close() -> None:
        deadline = time.perf_counter() + 0.3
        if any(not d.finished.wait(max(0.0, deadline - time.perf_counter())) for d in app.drivers):
            sys.stderr.write("gdviz: waiting for Numba to finish compiling the kernels (cached for the next start)…\n")
            sys.stderr.flush()

    return run_in_terminal(app, before_close)


def run_in_terminal(app: App[int], before_close: Callable[[], None] | None = None) -> int:
    """Run ``app`` (the main app or the sweep screen) on an event loop of its own, closed without
    waiting for worker threads (asyncio.run would wait, with the terminal already restored and
    nothing said); signals end it with 128 + N. Returns the exit code."""
    import asyncio

    loop = asyncio.new_event_loop()
    _exit_on_signals(app, loop)
    try:
        result = app.run(loop=loop)
    finally:
        if before_close is not None:
            before_close()
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
    if app.return_code not in (None, 0):
        return int(app.return_code)
    return int(result or 0)


def _exit_on_signals(app: App[int], loop: object) -> None:
    """SIGTERM, SIGHUP and SIGINT end the app as q does (terminal restored: alternate screen
    off, cursor shown, mouse reporting off), with the conventional exit code 128 + signal."""
    import signal

    def stop(signum: int) -> None:
        app.exit(return_code=128 + signum)

    for name in ("SIGTERM", "SIGHUP", "SIGINT"):
        signum = getattr(signal, name, None)
        if signum is not None:
            try:
                loop.add_signal_handler(signum, stop, int(signum))  # type: ignore[attr-defined]
            except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
                pass
