"""Forking a run: new learning rate, batch size or optimizer, continuing from a given point.

The engine builds the new run (:meth:`gdviz.engine.Engine.fork_run`); this module checks the
form's choices, cuts the run's trace at the fork point and says what the forked run will be
until the engine has made it (:func:`begin_fork`).
The UI shifts the new run's step, epoch and seconds by the fork point (see
:class:`gdviz.tui.state.RunTrace`), so its curves continue.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from gdviz.engine import Engine, Run
from gdviz.scenario import RunSpec
from gdviz.tui.runinfo import planned_run, run_info
from gdviz.tui.state import Playback

OPTIMIZER_CHOICES = ("sgd", "adam", "adamw", "rmsprop", "adagrad")


@dataclass(frozen=True)
class ForkSettings:
    """What the fork form asks for."""

    learning_rate: float
    batch_size: int
    optimizer: str


@dataclass(frozen=True)
class ForkRequest:
    """Fork run ``run`` at ``params`` (reached at epoch ``forked_at``) for ``remaining_epochs``."""

    run: int
    params: np.ndarray
    remaining_epochs: float
    settings: ForkSettings
    forked_at: float


def fork_run(
    engine: Engine,
    index: int,
    params: np.ndarray,
    remaining_epochs: float,
    *,
    learning_rate: float | None = None,
    batch_size: int | None = None,
    optimizer: str | None = None,
) -> Run:
    """Replace run ``index`` by a run with the new settings that starts at ``params``.

    ``batch_size`` of ``engine.n`` or more means the full batch. The new run trains for
    ``remaining_epochs`` (rounded to whole updates) with fresh optimizer state.
    """
    changes: dict[str, object] = {}
    if learning_rate is not None:
        changes["learning_rate"] = float(learning_rate)
    if optimizer is not None:
        if optimizer not in OPTIMIZER_CHOICES:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZER_CHOICES)}, got {optimizer!r}")
        changes["optimizer"] = optimizer
    return engine.fork_run(index, params, remaining_epochs, batch_size=batch_size, **changes)


def fork_request(engine: Engine, request: ForkRequest) -> Run:
    """Make the fork ``request`` asks for in ``engine``; returns the new run."""
    s = request.settings
    return fork_run(engine, request.run, request.params, request.remaining_epochs,
                    learning_rate=s.learning_rate, batch_size=s.batch_size, optimizer=s.optimizer)  # fmt: skip


def forked_spec(spec: RunSpec, n: int, settings: ForkSettings) -> RunSpec:
    """The spec of ``spec`` forked with ``settings`` on ``n`` samples, as the engine will make it."""
    batch = None if settings.batch_size >= n else int(settings.batch_size)
    # A fork trains at the one batch size of the form: a batch schedule does not carry over.
    train = dataclasses.replace(spec.train, learning_rate=float(settings.learning_rate), optimizer=settings.optimizer,
                                batch_schedule=None)
    return dataclasses.replace(spec, batch_size=batch, train=train)


def begin_fork(pb: Playback, i: int, spec: RunSpec, settings: ForkSettings, *, n: int, d: int, p: int) -> ForkRequest:
    """Cut run ``i``'s trace at the clock and show the fork the engine will make (``spec``:
    the run's spec in the scenario); returns what to ask the engine for."""
    trace = pb.traces[i]
    k = trace.cursor(pb.clock)
    h = trace.history
    epoch, params = float(h.epoch[k - 1]), h.params[k - 1].copy()
    info = pb.infos[i]
    remaining = max(info.epochs - epoch, 1.0 / max(info.updates_per_epoch, 1))
    trace.fork_at(k)
    # Until the engine has made the fork: what it will be (the same facts, from its spec).
    pb.infos[i] = run_info(planned_run(i, forked_spec(spec, n, settings), n=n, d=d, p=p), forked_at=epoch)
    return ForkRequest(i, params, remaining, settings, epoch)
