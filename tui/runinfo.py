"""A run's fixed figures as the app shows them: column titles, stats table, fork form, export.

Built one way, by :func:`run_info`, from a run's ``spec`` and its
:class:`~gdviz.runfacts.BatchPlan` (method, batch, updates per epoch with ``drop_last`` and
accumulation, memory per step from the optimizer's real buffers; with a batch schedule, those
of each batch size from its epoch on, :meth:`RunInfo.at`). The app never computes a fact itself.

Before the engine exists (Numba compiling on a cold cache), the app shows a
:class:`PlannedRun`: the spec and the facts :mod:`gdviz.runfacts` gives for it, which are the
ones the engine's run will have.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

from gdviz.runfacts import BatchPlan, RunFacts, plan_of
from gdviz.scenario import RunSpec


class HasFacts(Protocol):
    """A run as :func:`run_info` reads it: :class:`gdviz.engine.Run` or :class:`PlannedRun`."""

    @property
    def index(self) -> int: ...

    @property
    def spec(self) -> RunSpec: ...

    @property
    def plan(self) -> BatchPlan: ...


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
    accumulate: int = 1  # micro-batches of ``batch`` rows summed by one update
    total_updates: int = 0  # updates of the run itself (0: updates_per_epoch * its epochs)
    #: A batch schedule's ``(epoch, facts)`` from each change on (empty: one batch size).
    schedule: tuple[tuple[int, RunFacts], ...] = ()

    @property
    def batch_label(self) -> str:
        """The batch in force: ``"64"``, or ``"16×4"`` for 4 micro-batches of 16 per update."""
        return str(self.batch) if self.accumulate == 1 else f"{self.batch}×{self.accumulate}"

    @property
    def last_step(self) -> int:
        """The update count (from the start of training) at which the run ends."""
        own = self.total_updates or round((self.epochs - (self.forked_at or 0.0)) * self.updates_per_epoch)
        return self.start_step + own

    @property
    def title(self) -> str:
        return f"{self.name} · B={self.batch_label} · {self.optimizer} · lr {self.learning_rate:g}"

    def at(self, epoch: float) -> RunInfo:
        """These figures with the batch, updates per epoch and memory per step in force at
        ``epoch`` (a run with a batch schedule; any other run is returned as it is)."""
        facts = None
        for start, f in self.schedule:
            if start <= epoch + 1e-9:
                facts = f
        if facts is None or facts.batch == self.batch:
            return self
        return replace(self, batch=facts.batch, updates_per_epoch=facts.updates_per_epoch,
                       memory_per_step=facts.memory_per_step)


def run_info(run: HasFacts) -> RunInfo:
    """The UI's fixed figures for ``run``: those of its first batch size, and its batch
    schedule's (:meth:`RunInfo.at`); a fork's from its ``origin`` (:mod:`gdviz.forks`)."""
    t = run.spec.train
    plan = run.plan
    f = plan.segments[0].facts
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
        accumulate=f.accumulate,
        total_updates=int(getattr(run, "total_updates", plan.total_updates)),
        schedule=tuple((s.epoch, s.facts) for s in plan.segments) if plan.scheduled else (),
    )


@dataclass(frozen=True)
class PlannedRun:
    """A run the engine has not made yet: its spec and the plan :mod:`gdviz.runfacts` gives.

    ``n`` rows of ``d`` features, ``p`` parameters (see :func:`planned_run`).
    """

    index: int
    spec: RunSpec
    plan: BatchPlan

    @property
    def facts(self) -> RunFacts:
        return self.plan.segments[0].facts


def planned_run(index: int, spec: RunSpec, *, n: int, d: int, p: int) -> PlannedRun:
    """Run ``index`` of ``spec`` on ``n`` rows of ``d`` features with ``p`` parameters."""
    return PlannedRun(index, spec, plan_of(spec, n=n, d=d, p=p))
