"""Forks: a new run that starts where another run is, with new settings, beside it.

A fork is a run of its own (:meth:`gdviz.engine.Engine.fork_run` adds it after the others);
its parent goes on (or stays finished) with its whole trajectory. The fork starts at one of
the parent's recorded points with fresh optimizer state, as a new ``torch.optim`` optimizer
would, and its kernel counters start at zero (its schedule and sample order too). What it
records is shifted to the parent's counters, so that a fork's history reads as one
trajectory from the start of training: the parent's points up to the fork point, then the
fork's own, in updates, epochs and seconds since epoch 0. This module holds the fork's
facts and that arithmetic; it imports NumPy only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from gdviz.history import History, HistoryChunk
from gdviz.scenario import RunSpec

#: The glyph that joins a fork's name to what changed ("mini-batch 32 ⑂ lr 0.1 @ep 3").
FORK_GLYPH = "⑂"


@dataclass(frozen=True)
class ForkOrigin:
    """Where a fork left its parent.

    Attributes
    ----------
    parent : int
        The parent run's index.
    point : int
        The index of the fork point in the parent's history (the fork's history holds the
        parent's points ``0 .. point``, then its own).
    step, epoch, seconds
        The parent's updates, epochs and seconds at the fork point: the fork's own counters
        are shifted by them.
    """

    parent: int
    point: int
    step: int
    epoch: float
    seconds: float


def fork_name(parent: RunSpec, fork: RunSpec, n: int, epoch: float) -> str:
    """``"<parent> ⑂ <what changed> @ep <epoch>"``, e.g. ``"mini-batch 32 ⑂ lr 0.1 @ep 3"``."""
    changes = []
    if fork.train.learning_rate != parent.train.learning_rate:
        changes.append(f"lr {fork.train.learning_rate:g}")
    if fork.effective_batch(n) != parent.effective_batch(n):
        changes.append("B=full" if fork.batch_size is None else f"B={fork.batch_size}")
    if fork.train.optimizer != parent.train.optimizer:
        changes.append(fork.train.optimizer)
    what = " ".join(changes)
    return f"{parent.name} {FORK_GLYPH} {what + ' ' if what else ''}@ep {epoch:.3g}"


def fork_spec(parent: RunSpec, n: int, *, batch_size: int | None = None, name: str | None = None,
              epoch: float = 0.0, **train_changes: object) -> RunSpec:
    """The spec of a fork of ``parent`` at ``epoch`` on ``n`` samples.

    ``batch_size`` of ``n`` or more means the full batch (None: the parent's);
    ``train_changes`` are ``[train]`` settings (``learning_rate``, ``optimizer``, ...);
    ``name`` defaults to :func:`fork_name`.
    """
    train = dataclasses.replace(parent.train, **train_changes) if train_changes else parent.train
    batch = parent.batch_size
    if batch_size is not None:
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        batch = None if batch_size >= n else int(batch_size)
    # a fork is a lone run, even of a seed ensemble's member (it keeps that member's seed)
    spec = dataclasses.replace(parent, batch_size=batch, train=train, ensemble=None, ensemble_note="")
    return dataclasses.replace(spec, name=name if name is not None else fork_name(parent, spec, n, epoch))


def prefix(history: History, k: int) -> HistoryChunk:
    """The first ``k`` points of ``history`` as one chunk (copies), for a fork's own history."""
    return HistoryChunk(
        run=-1, step=history.step[:k].copy(), epoch=history.epoch[:k].copy(), seconds=history.seconds[:k].copy(),
        loss=history.loss[:k].copy(), full_loss=history.full_loss[:k].copy(), noise=history.noise[:k].copy(),
        params=history.params[:k].copy(), done=False, diverged_step=None, val_loss=history.val_loss[:k].copy(),
        b_simple=history.b_simple[:k].copy(),
    )  # fmt: skip


def shifted(chunk: HistoryChunk, origin: ForkOrigin | None) -> HistoryChunk:
    """``chunk`` (a fork's own counters) in the parent's counters; unchanged for a run that is no fork."""
    if origin is None:
        return chunk
    return dataclasses.replace(
        chunk,
        step=chunk.step + np.int64(origin.step),
        epoch=chunk.epoch + origin.epoch,
        seconds=chunk.seconds + origin.seconds,
        diverged_step=None if chunk.diverged_step is None else chunk.diverged_step + origin.step,
    )
