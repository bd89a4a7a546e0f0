"""A run's fixed figures as the app shows them: column titles, stats table, fork form, export.

Built one way, by :func:`run_info`, from a run's ``spec`` and its
:class:`~gdviz.runfacts.RunFacts` (method, batch, updates per epoch with ``drop_last``, memory
per step from the optimizer's real buffers). The app never computes a fact itself.

Before the engine exists (Numba compiling on a cold cache), and between a fork request and
the engine's answer, the app shows a :class:`PlannedRun`: the spec and the facts
:mod:`gdviz.runfacts` gives for it, which are the ones the engine's run will have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gdviz.runfacts import RunFacts, run_facts
from gdviz.scenario import RunSpec


class HasFacts(Protocol):
    """A run as :func:`run_info` reads it: :class:`gdviz.engine.Run` or :class:`PlannedRun`."""

    @property
    def index(self) -> int: ...

    @property
    def spec(self) -> RunSpec: ...

    @property
    def facts(self) -> RunFacts: ...


@dataclass(frozen=True)
class RunInfo:
    """A run's fixed figures, as the column titles and the stats table show them."""

    index: int
    name: str
    method: str
    batch: int
    updates_per_epoch: int
    epochs: int
    optimizer: str
    learning_rate: float
    memory_per_step: int
    target_loss: float | None = None
    forked_at: float | None = None  # epoch of the last fork, if any

    @property
    def title(self) -> str:
        return f"{self.name} · B={self.batch} · {self.optimizer} · lr {self.learning_rate:g}"


def run_info(run: HasFacts, *, forked_at: float | None = None) -> RunInfo:
    """The UI's fixed figures for ``run`` (``forked_at``: the epoch it was forked at, if it was)."""
    t = run.spec.train
    f = run.facts
    return RunInfo(
        index=run.index,
        name=run.spec.name,
        method=f.method,
        batch=f.batch,
        updates_per_epoch=f.updates_per_epoch,
        epochs=int(t.epochs),
        optimizer=t.optimizer,
        learning_rate=float(t.learning_rate),
        memory_per_step=f.memory_per_step,
        target_loss=t.target_loss,
        forked_at=forked_at,
    )


@dataclass(frozen=True)
class PlannedRun:
    """A run the engine has not made yet: its spec and the facts :mod:`gdviz.runfacts` gives.

    ``n`` rows of ``d`` features, ``p`` parameters (see :func:`planned_run`).
    """

    index: int
    spec: RunSpec
    facts: RunFacts


def planned_run(index: int, spec: RunSpec, *, n: int, d: int, p: int) -> PlannedRun:
    """Run ``index`` of ``spec`` on ``n`` rows of ``d`` features with ``p`` parameters."""
    t = spec.train
    facts = run_facts(n=n, d=d, p=p, batch_size=spec.batch_size, drop_last=bool(t.drop_last),
                      optimizer=t.optimizer, momentum=t.momentum, amsgrad=t.amsgrad,
                      centered=t.centered, dtype=t.dtype)  # fmt: skip
    return PlannedRun(index, spec, facts)
