"""The facts about one run that every view shows: the one place they are computed.

Method name, updates per epoch (``drop_last`` and gradient accumulation included), memory
touched per update (counted from the buffers the optimizer really keeps) are asked for by the
scenario (``gdviz check``), the engine, the headless table, the JSON report, the TUI's panels
and the exports; all of them call this module. A run whose batch size changes during training
(a batch schedule) has a :class:`BatchPlan`: its facts from each epoch on, and where its
updates fall. Pure Python: no NumPy, no Numba.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gdviz.codes import OPT_ADAGRAD, OPT_ADAM, OPT_ADAMW, OPT_RMSPROP, OPT_SGD, OPTIMIZERS

#: Bytes of one row index (int64) in the epoch's permutation.
INDEX_BYTES = 8


def effective_batch(batch_size: int | None, n: int) -> int:
    """Samples per update on ``n`` samples: ``batch_size`` capped at ``n``; None (full) is ``n``."""
    return n if batch_size is None else min(int(batch_size), n)


def method_name(batch: int, n: int) -> str:
    """``"full-batch"`` (B >= n), ``"stochastic"`` (B = 1) or ``"mini-batch"``."""
    if batch >= n:
        return "full-batch"
    if batch == 1:
        return "stochastic"
    return "mini-batch"


def updates_per_epoch(n: int, batch: int, drop_last: bool | int, accumulate: int = 1) -> int:
    """Optimizer updates in one epoch of ``n`` samples with batch size ``batch``.

    ``ceil(n / B)`` batches, or ``n // B`` with ``drop_last`` (the short last batch is
    skipped). A full batch (``B >= n``) is one whatever ``drop_last`` says. With
    ``accumulate = k`` one update sums ``k`` of those (micro-)batches, and the epoch's last
    group, however short, is an update too: ``ceil(batches / k)``.
    """
    if n < 1 or batch < 1 or accumulate < 1:
        raise ValueError(f"need n >= 1, B >= 1 and accumulate >= 1, got n={n}, B={batch}, accumulate={accumulate}")
    batch = min(batch, n)
    batches = n // batch if drop_last else -(-n // batch)
    return -(-batches // accumulate)


def optimizer_buffers(optimizer: int | str, *, momentum: float = 0.0, amsgrad: bool = False,
                      centered: bool = False) -> int:
    """Number of ``p``-sized state buffers ``optimizer`` keeps, as ``torch.optim`` allocates them.

    SGD: a momentum buffer only with momentum; Adam/AdamW: exp_avg and exp_avg_sq, plus
    max_exp_avg_sq with amsgrad; RMSprop: square_avg, plus grad_avg when centered and a
    momentum buffer with momentum; Adagrad: sum.
    """
    code = OPTIMIZERS[optimizer] if isinstance(optimizer, str) else int(optimizer)
    if code == OPT_SGD:
        return int(momentum != 0.0)
    if code in (OPT_ADAM, OPT_ADAMW):
        return 2 + int(bool(amsgrad))
    if code == OPT_RMSPROP:
        return 1 + int(bool(centered)) + int(momentum > 0.0)
    if code == OPT_ADAGRAD:
        return 1
    raise ValueError(f"unknown optimizer {optimizer!r}")


def memory_per_step(n: int, d: int, p: int, batch: int, itemsize: int, buffers: int) -> int:
    """Bytes one update touches: its rows of ``X`` and ``y``, their indices, and the state.

    The state is the parameters, the gradient and the optimizer's ``buffers`` (see
    :func:`optimizer_buffers`), each ``p`` values of ``itemsize`` bytes. A full batch reads
    the rows in data order and needs no indices.
    """
    batch = min(batch, n)
    index_bytes = INDEX_BYTES * batch if batch < n else 0
    return batch * (d + 1) * itemsize + index_bytes + (2 + buffers) * p * itemsize


@dataclass(frozen=True)
class RunFacts:
    """What a run is, before it runs: the same figures in every view."""

    batch: int  # samples per gradient pass (a micro-batch when accumulating), capped at n
    method: str  # full-batch | stochastic | mini-batch, of the samples one update sums
    updates_per_epoch: int
    memory_per_step: int  # bytes, for one (micro-)batch of rows
    optimizer_buffers: int
    accumulate: int  # micro-batches summed by one update (1: none)
    update_batch: int  # samples one whole update sums: batch * accumulate, capped at n

    @property
    def batch_label(self) -> str:
        """``"64"``, or ``"16×4"`` for 4 micro-batches of 16 per update."""
        return str(self.batch) if self.accumulate == 1 else f"{self.batch}×{self.accumulate}"


def run_facts(*, n: int, d: int, p: int, batch_size: int | None, drop_last: bool, optimizer: str,
              momentum: float = 0.0, amsgrad: bool = False, centered: bool = False,
              dtype: str = "float64", accumulate: int = 1) -> RunFacts:
    """The :class:`RunFacts` of a run on ``n`` rows of ``d`` features with ``p`` parameters.

    With ``accumulate = k`` the method is that of the ``k * B`` samples an update sums, and the
    memory per step counts one micro-batch of ``B`` rows (the point of accumulating).
    """
    B = effective_batch(batch_size, n)
    buffers = optimizer_buffers(optimizer, momentum=momentum, amsgrad=amsgrad, centered=centered)
    itemsize = 4 if dtype == "float32" else 8
    return RunFacts(
        batch=B,
        method=method_name(min(B * accumulate, n), n),
        updates_per_epoch=updates_per_epoch(n, B, drop_last, accumulate),
        memory_per_step=memory_per_step(n, d, p, B, itemsize, buffers),
        optimizer_buffers=buffers,
        accumulate=accumulate,
        update_batch=min(B * accumulate, n),
    )


@dataclass(frozen=True)
class Segment:
    """Epochs of a run trained with one batch size: from ``epoch`` on, after ``start_step`` updates."""

    epoch: int
    start_step: int
    facts: RunFacts


@dataclass(frozen=True)
class BatchPlan:
    """A run's batch sizes over its ``epochs``: one :class:`Segment` per batch size, in order.

    A run without a batch schedule has one segment. The batch changes only at epoch
    boundaries, so segment ``i`` starts after ``start_step`` updates, the sum over the
    segments before it of their epochs times their updates per epoch.
    """

    segments: tuple[Segment, ...]
    epochs: int

    @property
    def scheduled(self) -> bool:
        """Whether the batch size changes during the run."""
        return len(self.segments) > 1

    @property
    def total_updates(self) -> int:
        last = self.segments[-1]
        return last.start_step + (self.epochs - last.epoch) * last.facts.updates_per_epoch

    def index_at_step(self, step: int) -> int:
        """The segment whose batch the update after ``step`` updates uses."""
        i = 0
        while i + 1 < len(self.segments) and self.segments[i + 1].start_step <= step:
            i += 1
        return i

    def index_at_epoch(self, epoch: float) -> int:
        """The segment in force at (fractional) ``epoch``."""
        i = 0
        while i + 1 < len(self.segments) and self.segments[i + 1].epoch <= epoch:
            i += 1
        return i

    def end_step(self, i: int) -> int:
        """Updates done when segment ``i`` ends (the next one's start, or the run's total)."""
        return self.segments[i + 1].start_step if i + 1 < len(self.segments) else self.total_updates

    def epoch_of(self, step: float) -> float:
        """The (fractional) epoch reached after ``step`` updates."""
        seg = self.segments[self.index_at_step(int(step))]
        return seg.epoch + (step - seg.start_step) / seg.facts.updates_per_epoch

    def changes(self) -> tuple[tuple[int, int], ...]:
        """``(epoch, batch)`` of every segment: the schedule as the run follows it."""
        return tuple((s.epoch, s.facts.batch) for s in self.segments)


def batch_plan(*, n: int, d: int, p: int, batch_size: int | None, epochs: int, drop_last: bool, optimizer: str,
               schedule: Any = None, accumulate: int = 1, momentum: float = 0.0, amsgrad: bool = False,
               centered: bool = False, dtype: str = "float64") -> BatchPlan:
    """The :class:`BatchPlan` of a run (``schedule``: a :class:`gdviz.scenario.batching.BatchSchedule`
    or None); the other arguments as :func:`run_facts`."""
    pairs = schedule.changes(batch_size, n, epochs) if schedule is not None else ((0, effective_batch(batch_size, n)),)
    segments = []
    step = 0
    for i, (epoch, batch) in enumerate(pairs):
        facts = run_facts(n=n, d=d, p=p, batch_size=batch, drop_last=drop_last, optimizer=optimizer,
                          momentum=momentum, amsgrad=amsgrad, centered=centered, dtype=dtype, accumulate=accumulate)
        segments.append(Segment(epoch, step, facts))
        if i + 1 < len(pairs):
            step += (pairs[i + 1][0] - epoch) * facts.updates_per_epoch
    return BatchPlan(tuple(segments), int(epochs))


def plan_of(spec: Any, *, n: int, d: int, p: int) -> BatchPlan:
    """The :class:`BatchPlan` of a :class:`gdviz.scenario.RunSpec` on ``n`` rows, ``d`` features, ``p`` parameters."""
    t = spec.train
    return batch_plan(n=n, d=d, p=p, batch_size=spec.batch_size, epochs=int(t.epochs), drop_last=bool(t.drop_last),
                      optimizer=t.optimizer, schedule=t.batch_schedule, accumulate=int(t.accumulate),
                      momentum=t.momentum, amsgrad=t.amsgrad, centered=t.centered, dtype=t.dtype)
