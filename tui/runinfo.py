"""A run's fixed figures as the app shows them: column titles, stats table, fork form, export.

Built one way, by :func:`run_info`, from a run's ``spec`` and its
:class:`~gdviz.runfacts.RunFacts` (method, batch, updates per epoch with ``drop_last``, memory
per step from the optimizer's real buffers). The app never computes a fact itself.

Before the engine exists (Numba compiling on a cold cache), the app shows a
:class:`PlannedRun`: the spec and the facts :mod:`gdviz.runfacts` gives for it, which are the
ones the engine's run will have.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    epochs: float  # the epoch it ends at (a fork: counted from the start of training)
    optimizer: str
    learning_rate: float
    memory_per_step: int
    target_loss: float | None = None
    forked_at: float | None = None  # a fork: its parent's epoch at the fork point
    parent: int | None = None  # a fork: its parent's index
    start: int = 0  # a fork: the index of the fork point in its trace (the parent's points come first)
    start_step: int = 0  # a fork: its parent's updates at the fork point
    spec: RunSpec | None = field(default=None, compare=False, repr=False)  # what it was made from

    @property
    def last_step(self) -> int:
        """The update count (from the start of training) at which the run ends."""
        return self.start_step + round((self.epochs - (self.forked_at or 0.0)) * self.updates_per_epoch)

    @property
    def title(self) -> str:
        return f"{self.name} · B={self.batch} · {self.optimizer} · lr {self.learning_rate:g}"


def run_info(run: HasFacts) -> RunInfo:
    """The UI's fixed figures for ``run`` (a fork's: from its ``origin``, :mod:`gdviz.forks`)."""
    t = run.spec.train
    f = run.facts
    origin = getattr(run, "origin", None)
    return RunInfo(
        index=run.index,
        name=run.spec.name,
        method=f.method,
        batch=f.batch,
        updates_per_epoch=f.updates_per_epoch,
        epochs=float(t.epochs),
        optimizer=t.optimizer,
        learning_rate=float(t.learning_rate),
        memory_per_step=f.memory_per_step,
        target_loss=t.target_loss,
        forked_at=None if origin is None else origin.epoch,
        parent=None if origin is None else origin.parent,
        start=0 if origin is None else origin.point,
        start_step=0 if origin is None else origin.step,
        spec=run.spec,
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
