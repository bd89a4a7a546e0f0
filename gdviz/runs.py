"""A run of the engine: its specification, facts, history and row of kernel state; its figures.

Kept apart from :mod:`gdviz.engine` (which decides how runs are advanced) so that every view
reads a run's figures from one place: :func:`summarize` feeds the headless table, the JSON
report and the TUI's stats panel alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gdviz.heldout import HeldOut, held_out
from gdviz.forks import ForkOrigin
from gdviz.history import History
from gdviz.kernels import layout as L
from gdviz.runfacts import BatchPlan, RunFacts
from gdviz.scenario import RunSpec


@dataclass(eq=False)
class Group:
    """Runs of one dtype whose state is one RunBatch, advanced by one kernel call."""

    dtype: type
    state: L.RunBatch
    runs: list[Run]
    device: object = None  # its device-resident state on the CUDA target (kernels.gpu_descent)


@dataclass(eq=False)
class Run:
    """One run: its specification, facts, history, and a row of its group's state."""

    index: int
    spec: RunSpec
    plan: BatchPlan  # its batch size over the epochs (one segment without a batch schedule)
    total_updates: int
    stride: int
    noise_every: int
    state: L.RunBatch  # a batch of one: views into the group's arrays once grouped
    history: History
    seconds: float = 0.0
    rate: float = 0.0  # measured updates per second (the run's own kernel time), to size chunks
    points_seen: int = 0  # recorded points so far, to decide where noise is evaluated
    segment: int = 0  # the plan's segment in force (the engine moves it at the epoch it starts)
    origin: ForkOrigin | None = None  # where it left its parent, for a fork (:mod:`gdviz.forks`)

    @property
    def facts(self) -> RunFacts:
        """The facts in force: batch, updates per epoch and memory per step of the current segment."""
        return self.plan.segments[self.segment].facts

    # the run's state, as 1-d (or [3, p]) views
    @property
    def hpf(self) -> np.ndarray:
        return self.state.hpf[0]

    @property
    def hpi(self) -> np.ndarray:
        return self.state.hpi[0]

    @property
    def params(self) -> np.ndarray:
        return self.state.params[0]

    @property
    def opt_state(self) -> np.ndarray:
        return self.state.opt_state[0]

    @property
    def perm(self) -> np.ndarray:
        return self.state.perm[0]

    @property
    def istate(self) -> np.ndarray:
        return self.state.istate[0]

    @property
    def fstate(self) -> np.ndarray:
        return self.state.fstate[0]

    # its facts
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def batch(self) -> int:
        return self.facts.batch

    @property
    def updates_per_epoch(self) -> int:
        return self.facts.updates_per_epoch

    @property
    def method(self) -> str:
        return self.facts.method

    @property
    def step(self) -> int:
        return int(self.istate[L.S_STEP])

    @property
    def diverged_step(self) -> int | None:
        s = int(self.istate[L.S_DIVERGED])
        return None if s < 0 else s

    @property
    def done(self) -> bool:
        return self.diverged_step is not None or self.step >= self.total_updates

    @property
    def epochs_done(self) -> float:
        return self.plan.epoch_of(self.step)

    def epochs_at(self, steps: np.ndarray) -> np.ndarray:
        """The (fractional) epoch after each of ``steps`` updates, across the plan's batch sizes."""
        segs = self.plan.segments
        if len(segs) == 1:
            return steps / segs[0].facts.updates_per_epoch
        starts = np.array([s.start_step for s in segs])
        i = np.searchsorted(starts, steps, side="right") - 1
        upe = np.array([s.facts.updates_per_epoch for s in segs])
        return np.array([s.epoch for s in segs])[i] + (steps - starts[i]) / upe[i]

    @property
    def seconds_per_epoch(self) -> float:
        e = self.epochs_done
        return self.seconds / e if e > 0 else math.nan

    @property
    def epoch_now(self) -> float:
        """Epochs since the start of training: a fork's own plus its parent's at the fork point."""
        return self.epochs_done + (self.origin.epoch if self.origin is not None else 0.0)

    @property
    def end_epoch(self) -> float:
        """The epoch (since the start of training) at which the run ends."""
        return self.total_updates / self.updates_per_epoch + (self.origin.epoch if self.origin is not None else 0.0)


@dataclass(frozen=True)
class RunSummary:
    """The measured figures of one run, as the headless table, the JSON report and the TUI show them."""

    name: str
    method: str
    batch_size: int
    updates_per_epoch: int
    optimizer: str
    learning_rate: float
    epochs: float
    updates: int
    memory_per_step: int
    seconds_per_epoch: float
    final_loss: float
    final_params: np.ndarray
    final_params_original_units: np.ndarray
    diverged: bool
    diverged_step: int | None
    target_loss: float | None
    epochs_to_target: float | None
    updates_to_target: int | None
    seconds_to_target: float | None
    gradient_noise: float
    #: The gradient noise scale tr(Sigma)/|G|^2 at the last point where it was evaluated.
    b_simple: float = math.nan
    held_out: HeldOut | None = None  # the figures on the held-out rows ([data] validation)
    accumulate: int = 1  # micro-batches of batch_size rows per update
    batch_schedule: tuple[tuple[int, int], ...] | None = None  # (epoch, batch) pairs followed, when scheduled
    forked_from: str | None = None  # the parent's name, for a fork
    forked_at_epoch: float | None = None  # the parent's epoch at the fork point


@dataclass(frozen=True)
class Measured:
    """A run's measured figures over the first ``k`` points of its history."""

    epochs: float
    updates: int
    seconds_per_epoch: float
    full_loss: float
    epochs_to_target: float | None
    updates_to_target: int | None
    seconds_to_target: float | None
    gradient_noise: float  # mean of the finite values evaluated so far
    b_simple: float = math.nan  # the last value evaluated so far


def measured(history: Any, k: int, target_loss: float | None) -> Measured:
    """The figures of ``history[:k]`` (``k >= 1``): the one computation behind the headless
    table, the JSON report (at a run's end) and the TUI's stats table (at the playback clock)."""
    epoch = float(history.epoch[k - 1])
    seconds = float(history.seconds[k - 1])
    epochs_to = updates_to = seconds_to = None
    if target_loss is not None:
        hit = np.flatnonzero(history.full_loss[:k] <= target_loss)
        if len(hit):
            i = int(hit[0])
            epochs_to, updates_to, seconds_to = float(history.epoch[i]), int(history.step[i]), float(history.seconds[i])
    noise = np.asarray(history.noise[:k], dtype=np.float64)
    noise = noise[np.isfinite(noise)]
    scale = np.asarray(getattr(history, "b_simple", np.full(k, np.nan))[:k], dtype=np.float64)
    scale = scale[~np.isnan(scale)]
    return Measured(
        epochs=epoch,
        updates=int(history.step[k - 1]),
        seconds_per_epoch=seconds / epoch if epoch > 0 else math.nan,
        full_loss=float(history.full_loss[k - 1]),
        epochs_to_target=epochs_to,
        updates_to_target=updates_to,
        seconds_to_target=seconds_to,
        gradient_noise=float(noise.mean()) if len(noise) else math.nan,
        b_simple=float(scale[-1]) if len(scale) else math.nan,
    )


def summarize(run: Run, model: Any, dataset: Any, parent: str | None = None) -> RunSummary:
    """The measured figures of ``run`` at its last point (``model``: its :class:`gdviz.models.Model`).

    A fork's figures count from the start of training (its history holds its parent's points
    up to the fork point); ``parent`` is its parent's name.
    """
    h = run.history
    t = run.spec.train
    m = measured(h, len(h), t.target_loss)
    final = h.params[-1].copy()
    origin = run.origin
    diverged_step = run.diverged_step
    if diverged_step is not None and origin is not None:
        diverged_step += origin.step
    return RunSummary(
        name=run.name,
        method=run.method,
        batch_size=run.batch,
        updates_per_epoch=run.updates_per_epoch,
        optimizer=t.optimizer,
        learning_rate=float(t.learning_rate),
        epochs=m.epochs,
        updates=m.updates,
        memory_per_step=run.facts.memory_per_step,
        seconds_per_epoch=m.seconds_per_epoch,
        final_loss=m.full_loss,
        final_params=final,
        final_params_original_units=model.to_original_units(dataset, final),
        diverged=run.diverged_step is not None,
        diverged_step=diverged_step,
        target_loss=t.target_loss,
        epochs_to_target=m.epochs_to_target,
        updates_to_target=m.updates_to_target,
        seconds_to_target=m.seconds_to_target,
        gradient_noise=m.gradient_noise,
        b_simple=m.b_simple,
        held_out=held_out(h, model, dataset),
        accumulate=run.facts.accumulate,
        batch_schedule=run.plan.changes() if run.plan.scheduled else None,
        forked_from=parent if origin is not None else None,
        forked_at_epoch=origin.epoch if origin is not None else None,
    )
