"""Forking a run: a new run beside it, from its point at the playback clock, with new settings.

The engine makes the fork (:meth:`gdviz.engine.Engine.fork_run`, :mod:`gdviz.forks`): a run
of its own whose history starts with the parent's points up to the fork point. This module
checks the form's choices and says what to ask the engine for (:func:`begin_fork`), or why a
run cannot be forked from where the clock is (:func:`why_not_fork`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdviz.engine import Engine, Run
from gdviz.tui.state import Playback

OPTIMIZER_CHOICES = ("sgd", "adam", "adamw", "rmsprop", "adagrad")


@dataclass(frozen=True)
class ForkSettings:
    """What the fork form asks for."""

    learning_rate: float
    batch_size: int
    optimizer: str
    epochs: float  # how many epochs the fork trains


@dataclass(frozen=True)
class ForkRequest:
    """Fork run ``run`` at its ``at``-th recorded point (reached at epoch ``forked_at``)."""

    run: int
    at: int
    settings: ForkSettings
    forked_at: float


def fork_request(engine: Engine, request: ForkRequest) -> Run:
    """Make the fork ``request`` asks for in ``engine``; returns the new run."""
    s = request.settings
    if s.optimizer not in OPTIMIZER_CHOICES:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZER_CHOICES)}, got {s.optimizer!r}")
    return engine.fork_run(request.run, request.at, epochs=s.epochs, batch_size=s.batch_size,
                           learning_rate=float(s.learning_rate), optimizer=s.optimizer)  # fmt: skip


def fork_point(pb: Playback, i: int) -> tuple[int, float]:
    """Run ``i``'s point at the playback clock: ``(points up to it, its epoch)``."""
    trace = pb.traces[i]
    k = trace.cursor(pb.clock)
    return k, float(trace.history.epoch[k - 1])


def default_epochs(pb: Playback, i: int) -> float:
    """The fork form's epochs: what run ``i`` has left after the clock, or, at its end, as many
    epochs again as it trained itself."""
    info = pb.infos[i]
    _, epoch = fork_point(pb, i)
    left = info.epochs - epoch
    if left * info.updates_per_epoch >= 1 - 1e-9:
        return left
    return max(info.epochs - (info.forked_at or 0.0), 1.0)


def why_not_fork(pb: Playback, i: int) -> str:
    """Why run ``i`` cannot be forked at the clock ("" when it can)."""
    trace = pb.traces[i]
    if not len(trace.history):
        return "the engine has not started yet"
    k, _ = fork_point(pb, i)
    if not np.all(np.isfinite(trace.history.params[k - 1])):
        return (f"{pb.infos[i].name} diverged at step {trace.diverged_step}: its point here is not finite; "
                "fork it from an earlier point (r, then space to pause where you want it)")  # fmt: skip
    return ""


def begin_fork(pb: Playback, i: int, settings: ForkSettings) -> ForkRequest:
    """What to ask the engine for: fork run ``i`` at its point at the clock with ``settings``."""
    k, epoch = fork_point(pb, i)
    return ForkRequest(i, k, settings, epoch)
