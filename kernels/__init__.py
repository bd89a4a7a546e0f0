"""Numba CPU kernels for gdviz: batch losses and gradients through the model dispatch,
torch-exact optimizer steps, learning-rate schedules, per-epoch shuffling and the resumable
epoch loop over a batch of runs.

The state layout shared with the engine (and the CUDA twin) is in :mod:`.layout`; the model
dispatch in :mod:`.models`. Nothing here imports textual.
"""

from __future__ import annotations

from . import layout
from .descent import Chunk, advance_batch, check_batch, history_capacity
from .layout import RunBatch, new_state, set_run
from .losses import batch_loss_grad, full_loss, linear_stats
from .optim import lr_at, opt_step, sgd_step
from .shuffle import permutation

__all__ = [
    "Chunk",
    "RunBatch",
    "advance_batch",
    "batch_loss_grad",
    "check_batch",
    "full_loss",
    "history_capacity",
    "layout",
    "linear_stats",
    "lr_at",
    "new_state",
    "opt_step",
    "permutation",
    "set_run",
    "sgd_step",
]
