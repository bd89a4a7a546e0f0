"""The app's side of the engine worker: start and stop it, store what it posts.

:class:`EngineLink` is the base of :class:`gdviz.tui.app.GdvizApp`. It runs an
:class:`~gdviz.tui.worker.EngineDriver` in a thread worker and keeps what the driver's
messages (:mod:`gdviz.tui.messages`) carry: the runs' figures and points (in the playback
state), the loss surface, the model's description and where the engine computes. The
handlers only store; the app's frame timer draws. A failure in the worker shows an
:class:`~gdviz.tui.screens.ErrorScreen`.
"""

from __future__ import annotations

import time
import traceback

from textual import on, work
from textual.app import App
from textual.message import Message
from textual.worker import Worker, WorkerState, get_current_worker

from gdviz.data import Dataset
from gdviz.models import Model
from gdviz.scenario import Scenario
from gdviz.surface import Surface
from gdviz.target import is_fallback
from gdviz.tui.messages import ChunksReady, EngineReady, Forked, ForkRefused, Phase, SurfaceReady, TargetChanged
from gdviz.tui.screens import ErrorScreen
from gdviz.tui.state import Playback
from gdviz.tui.views import Projections
from gdviz.tui.worker import EngineDriver, Pacer


class EngineLink(App[int]):
    """An app fed by the engine worker (see :mod:`gdviz.tui.engine_link`)."""

    # Set by the app before the engine starts (GdvizApp._load).
    scenario: Scenario
    dataset: Dataset
    playback: Playback
    # Set from the engine (its messages), reset by the app when it loads a scenario.
    surface: Surface | None
    model: Model | None

    def __init__(self, target: str) -> None:
        super().__init__()
        self.generation = 0  # messages from an engine the user restarted carry an older one
        self.driver: EngineDriver | None = None
        self.drivers: list[EngineDriver] = []  # every driver started (run_app waits on them at exit)
        self.pacer = Pacer()
        self.phase = ""  # what the engine is doing before its first points
        self._phase_since = 0.0  # when the engine started (the start-up progress shows the seconds)
        #: What the engine is asked for (cpu, cuda or auto; the CLI has checked that cuda is usable).
        self.requested_target = target
        #: Where the engine computes ("cpu" or "cuda"), once it exists; until then, the request.
        self.target = target
        self.target_label = ""  # "cpu (16 threads)" or the GPU's name
        self.target_note = ""  # the engine's target_note: why the target differs, or a fallback
        self.surface = None
        self.projections = Projections()  # the runs' paths in the surface's plane
        #: The engine's model description (fitted line, parameter names); None until it exists.
        self.model = None

    def action_restart(self) -> None:
        """Restart every run from the start (the app's ``r``)."""
        raise NotImplementedError

    # --- the worker ----------------------------------------------------------------------------------
    def start_engine(self) -> None:
        self.generation += 1
        self.pacer = Pacer(self.playback.clock, self.playback.epochs_per_second)
        self.driver = EngineDriver(self.scenario, self.dataset, self.generation, self.pacer, self.requested_target)
        self.drivers.append(self.driver)
        self.phase = "starting"
        self._phase_since = time.perf_counter()
        self._drive(self.driver)

    @work(thread=True, exclusive=True, exit_on_error=False, group="engine", name="engine")
    def _drive(self, driver: EngineDriver) -> None:
        worker = get_current_worker()

        def post(message: Message) -> None:
            if not worker.is_cancelled and not driver.stop.is_set():
                self.post_message(message)

        driver.run(post)

    def stop_engine(self) -> None:
        if self.driver is not None:
            self.driver.stop.set()
            self.driver = None

    @property
    def phase_seconds(self) -> float:
        """Seconds since the engine was started (shown while it prepares)."""
        return time.perf_counter() - self._phase_since

    # --- messages from the worker (store only) ----------------------------------------------------
    def on_phase(self, message: Phase) -> None:
        if message.generation == self.generation:
            self.phase = message.text

    def on_engine_ready(self, message: EngineReady) -> None:
        if message.generation != self.generation:
            return
        self.phase = ""
        self.playback.infos = message.infos
        self.model = message.model
        for chunk in message.initial:
            self.playback.traces[chunk.run].append(chunk)
        self._set_target(message.target, message.target_label, message.target_note)
        from gdviz import numba_cache

        while numba_cache.notes:  # a damaged or moved kernel cache, found while warming up
            self.notify(numba_cache.notes.pop(0), title="kernel cache", severity="warning", timeout=8, markup=False)

    def on_target_changed(self, message: TargetChanged) -> None:
        if message.generation == self.generation:
            self._set_target(message.target, message.target_label, message.target_note)

    def _set_target(self, target: str, label: str, note: str) -> None:
        """Store where the engine computes; a new note (a fallback) is also shown once, in full."""
        new_note = is_fallback(note) and note != self.target_note  # no GPU at all is no news
        self.target, self.target_label, self.target_note = target, label, note
        if new_note:
            runtime = note.startswith("CUDA failed")
            self.notify(note, title="fell back to the CPU" if runtime else "compute target",
                        severity="warning" if runtime else "information", timeout=8, markup=False)  # fmt: skip

    def on_chunks_ready(self, message: ChunksReady) -> None:
        if message.generation != self.generation:
            return
        traces = self.playback.traces
        for chunk in message.chunks:
            if chunk.run < len(traces):
                traces[chunk.run].append(chunk)

    def on_surface_ready(self, message: SurfaceReady) -> None:
        if message.generation == self.generation:
            self.surface = message.surface
            self.projections.clear()

    def on_forked(self, message: Forked) -> None:
        if message.generation == self.generation and message.info.index == len(self.playback.traces):
            self.playback.add_run(message.info, message.first)
            self.runs_added()

    def on_fork_refused(self, message: ForkRefused) -> None:
        if message.generation == self.generation:
            self.notify(message.reason, title="fork", severity="warning", markup=False)

    def runs_added(self) -> None:
        """A fork joined the runs: the app gives it a column."""

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "engine" or event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        details = "".join(traceback.format_exception(error)) if error is not None else "unknown error"
        self.stop_engine()
        self.push_screen(ErrorScreen(f"{type(error).__name__}: {error}", details), callback=self._error_closed)

    def _error_closed(self, restart: bool | None) -> None:
        if restart:
            self.action_restart()
