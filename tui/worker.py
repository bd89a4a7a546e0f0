"""The engine driver: runs in a thread worker, advances the engine, posts what it recorded.

It never touches widgets. It keeps a little ahead of the playback clock (so the UI always
has points to show, without training to the end while the user watches epoch 2), executes
fork requests between chunks (a fork is a new run, posted whole with ``Forked``), and
recomputes the loss surface when the paths leave it (or, for a plane chosen from the
trajectories, when they have grown).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from textual.message import Message

from gdviz.history import HistoryChunk
from gdviz.surface import Surface, compute_surface
from gdviz.tui.fork import ForkRequest, fork_request
from gdviz.tui.messages import ChunksReady, EngineReady, Forked, ForkRefused, Phase, SurfaceReady, TargetChanged
from gdviz.tui.runinfo import run_info

if TYPE_CHECKING:
    from gdviz.data import Dataset
    from gdviz.engine import Engine, Run
    from gdviz.scenario import Scenario

#: Seconds of playback the engine computes ahead of the clock.
LOOKAHEAD_SECONDS = 1.5
#: Progress fractions at which a trajectory-dependent plane is recomputed.
REPLAN_AT = (0.05, 0.25, 0.6, 1.0)
MAX_REPLANS = 12


@dataclass
class Pacer:
    """Shared between the UI thread (writes) and the worker (reads): where playback is."""

    clock: float = 0.0
    epochs_per_second: float = 1.0

    @property
    def horizon(self) -> float:
        return self.clock + max(0.25, LOOKAHEAD_SECONDS * self.epochs_per_second)


def target_label(engine: Engine) -> str:
    """Where ``engine`` computes, for the status line: ``cpu (16 threads)`` or the GPU's name."""
    if engine.target == "cuda":
        from gdviz.target import cuda_status

        return cuda_status().name or "cuda"
    import numba

    return f"cpu ({numba.config.NUMBA_NUM_THREADS} threads)"


class EngineDriver:
    """Owns the engine (created in the worker thread, after the kernels are compiled).

    ``target`` is what the engine is asked for (``cpu``, ``cuda`` or ``auto``); the engine
    resolves it, and the driver reports where it computes (and any change at run time).
    """

    def __init__(self, scenario: Scenario, dataset: Dataset, generation: int, pacer: Pacer, target: str = "cpu") -> None:
        self.scenario = scenario
        self.dataset = dataset
        self.generation = generation
        self.pacer = pacer
        self.target = target
        self.stop = threading.Event()
        #: Set when :meth:`run` has returned (a stopped driver may still be inside a Numba compile).
        self.finished = threading.Event()
        self.requests: queue.Queue[ForkRequest] = queue.Queue()
        self.engine: Engine | None = None
        self.surface: Surface | None = None
        self._replans = 0
        self._next_replan = 0

    def run(self, post: Callable[[Message], object]) -> None:
        """The worker body (blocking; returns when :attr:`stop` is set)."""
        try:
            self._run(post)
        finally:
            self.finished.set()

    def _run(self, post: Callable[[Message], object]) -> None:
        from gdviz.engine import Engine, warm_up

        gen = self.generation
        post(Phase(gen, "Preparing the Numba kernels…\n(compiled on first use, then cached)"))
        warm_up({run.train.dtype for run in self.scenario.runs})
        if self.stop.is_set():
            return
        post(Phase(gen, "Building the engine…" if self.target == "cpu" else "Building the engine (looking for a GPU)…"))
        engine = Engine(self.scenario, self.dataset, target=self.target)
        self.engine = engine
        infos = [run_info(r) for r in engine.runs]
        initial = [whole_history(r, copy=True) for r in engine.runs]
        where = (engine.target, engine.target_note)
        post(EngineReady(gen, infos, engine.model, engine.target, initial, target_label(engine), engine.target_note))
        self._replan(post, force=True)
        while not self.stop.is_set():
            self._serve_requests(post)
            unfinished = [r for r in engine.runs if not r.done]
            if not unfinished:
                self._maybe_replan(post, final=True)
                self.stop.wait(0.05)
                continue
            if min(r.epoch_now for r in unfinished) > self.pacer.horizon:
                self.stop.wait(0.01)
                continue
            chunks = [c for c in engine.advance() if len(c.step) or c.done]
            if (engine.target, engine.target_note) != where:  # CUDA failed: it goes on on the CPU
                where = (engine.target, engine.target_note)
                post(TargetChanged(gen, engine.target, target_label(engine), engine.target_note))
            if chunks:
                post(ChunksReady(gen, chunks))
            self._maybe_replan(post)

    # --- forks ---------------------------------------------------------------------------------
    def _serve_requests(self, post: Callable[[Message], object]) -> None:
        while True:
            try:
                req = self.requests.get_nowait()
            except queue.Empty:
                return
            engine = self.engine
            assert engine is not None
            try:
                run = fork_request(engine, req)
            except ValueError as exc:  # the form and the app check first; a last word, not a crash
                post(ForkRefused(self.generation, req.run, str(exc)))
                continue
            post(Forked(self.generation, run_info(run), whole_history(run, copy=True)))

    # --- the surface -----------------------------------------------------------------------------
    def _trajectories(self) -> list[np.ndarray]:
        assert self.engine is not None
        return [r.history.params for r in self.engine.runs]

    def _diverged(self) -> set[int]:
        assert self.engine is not None
        return {r.index for r in self.engine.runs if r.diverged_step is not None}

    def _replan(self, post: Callable[[Message], object], force: bool = False) -> None:
        engine = self.engine
        assert engine is not None
        self._replans += 1
        self.surface = compute_surface(engine, self._trajectories(), exclude=self._diverged(), version=self._replans)
        post(SurfaceReady(self.generation, self.surface))

    def _maybe_replan(self, post: Callable[[Message], object], final: bool = False) -> None:
        engine = self.engine
        if engine is None or self.surface is None or self._replans >= MAX_REPLANS:
            return
        from_paths = engine.p > 2 or engine.theta_star is None
        if from_paths:
            progress = min((r.step / max(r.total_updates, 1) for r in engine.runs if r.diverged_step is None), default=1.0)
            if self._next_replan < len(REPLAN_AT) and progress >= REPLAN_AT[self._next_replan]:
                while self._next_replan < len(REPLAN_AT) and progress >= REPLAN_AT[self._next_replan]:
                    self._next_replan += 1
                self._replan(post)
                return
        # Any live path that left the surface (by more than a margin) widens it.
        diverged = self._diverged()
        for r in engine.runs:
            if r.index in diverged or not len(r.history):
                continue
            xy = self.surface.project(r.history.params[-1:])
            if not self.surface.contains(xy, slack=0.05):
                self._replan(post)
                return


def whole_history(run: Run, copy: bool = False) -> HistoryChunk:
    """Everything ``run`` recorded so far, as one chunk (``copy``: arrays the engine will not touch)."""
    h = run.history

    def c(a: np.ndarray) -> np.ndarray:
        return a.copy() if copy else a

    return HistoryChunk(run.index, c(h.step), c(h.epoch), c(h.seconds), c(h.loss), c(h.full_loss), c(h.noise),
                        c(h.params), run.done, run.diverged_step, b_simple=c(h.b_simple),
                        val_loss=c(h.val_loss))  # fmt: skip
