"""Messages the engine worker posts to the app (small dataclasses; handlers only store them).

Every message carries the ``generation`` of the engine that sent it, so that messages still
in flight from an engine the user restarted are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from gdviz.history import HistoryChunk
from gdviz.models import Model
from gdviz.tui.runinfo import RunInfo
from gdviz.surface import Surface


@dataclass
class EngineMessage(Message):
    generation: int


@dataclass
class Phase(EngineMessage):
    """What the worker is doing before the first points (compiling kernels, building data)."""

    text: str


@dataclass
class EngineReady(EngineMessage):
    """The engine exists: each run's fixed figures, the model's description, the initial points."""

    infos: list[RunInfo]
    model: Model
    target: str
    initial: list[HistoryChunk]
    target_label: str = ""  # "cpu (16 threads)" or the GPU's name
    target_note: str = ""  # why the target is not the one asked for ("" when it is)


@dataclass
class ChunksReady(EngineMessage):
    """New points for some runs."""

    chunks: list[HistoryChunk]


@dataclass
class SurfaceReady(EngineMessage):
    surface: Surface


@dataclass
class Forked(EngineMessage):
    """A fork was made: a new run (``info.index``) with its points so far (its parent's up to
    the fork point); its own points follow as chunks."""

    info: RunInfo
    first: HistoryChunk


@dataclass
class ForkRefused(EngineMessage):
    """The engine could not make a fork of run ``run``: why."""

    run: int
    reason: str


@dataclass
class TargetChanged(EngineMessage):
    """The engine changed target while running (a CUDA failure: it continued on the CPU)."""

    target: str
    target_label: str
    target_note: str
