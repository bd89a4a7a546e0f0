"""The facts about one run that every view shows: the one place they are computed.

Method name, updates per epoch (``drop_last`` included), memory touched per update (counted
from the buffers the optimizer really keeps) are asked for by the scenario (``gdviz check``),
the engine, the headless table, the JSON report, the TUI's panels and the exports; all of
them call this module. Pure Python: no NumPy, no Numba.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def updates_per_epoch(n: int, batch: int, drop_last: bool | int) -> int:
    """Optimizer updates in one epoch of ``n`` samples with batch size ``batch``.

    ``ceil(n / B)``, or ``n // B`` with ``drop_last`` (the short last batch is skipped). A full
    batch (``B >= n``) is one update whatever ``drop_last`` says.
    """
    if n < 1 or batch < 1:
        raise ValueError(f"need n >= 1 and B >= 1, got n={n}, B={batch}")
    batch = min(batch, n)
    return n // batch if drop_last else -(-n // batch)


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

    batch: int  # samples per update, capped at n
    method: str  # full-batch | stochastic | mini-batch
    updates_per_epoch: int
    memory_per_step: int  # bytes
    optimizer_buffers: int


def run_facts(*, n: int, d: int, p: int, batch_size: int | None, drop_last: bool, optimizer: str,
              momentum: float = 0.0, amsgrad: bool = False, centered: bool = False,
              dtype: str = "float64") -> RunFacts:
    """The :class:`RunFacts` of a run on ``n`` rows of ``d`` features with ``p`` parameters."""
    B = effective_batch(batch_size, n)
    buffers = optimizer_buffers(optimizer, momentum=momentum, amsgrad=amsgrad, centered=centered)
    itemsize = 4 if dtype == "float32" else 8
    return RunFacts(
        batch=B,
        method=method_name(B, n),
        updates_per_epoch=updates_per_epoch(n, B, drop_last),
        memory_per_step=memory_per_step(n, d, p, B, itemsize, buffers),
        optimizer_buffers=buffers,
    )
