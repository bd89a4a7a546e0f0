"""The epoch loop: advance a batch of runs by a number of minibatch updates each, resumably.

A batch's whole state lives in a :class:`~gdviz.kernels.layout.RunBatch`, so advancing by
``a`` then ``b`` updates gives bit for bit what ``a + b`` gives, for any chunk sizes, and a
run gives bit for bit the same path alone or in a batch of any size (each run's arithmetic
is its own; the runs only share the data).

One update of one run:

1. At an epoch start (``S_POS == 0``), build the epoch's order into ``perm`` unless it is
   already there: :func:`~gdviz.kernels.shuffle.permutation` of ``(seed, epoch)`` when
   shuffling, else ``0 .. n-1``. A full batch (``B >= n``) has no sample order (its order
   only permutes the terms of one sum), so it is never shuffled, whatever ``shuffle`` says:
   ``perm`` holds ``0 .. n-1``, written once (when ``S_PERM_EPOCH`` is -1) and only
   relabelled (``S_PERM_EPOCH = epoch``) at later epochs, as the CUDA twin does.
2. The batch is ``perm[pos : min(pos + B, n)]``; its loss and gradient are taken at the
   current parameters through the model dispatch (:mod:`.models`).
3. ``pos`` moves past the batch; the epoch ends when ``pos >= n``, or with ``drop_last``
   when the next batch would be short.
4. With ``accumulate = k > 1`` steps 1-3 repeat for up to ``k`` micro-batches of ``B`` rows,
   as PyTorch's usual loop (``(loss / k).backward()`` per micro-batch, ``step()`` and
   ``zero_grad()`` every ``k`` of them or at the epoch's last one): the update's gradient is
   the sum of each micro-batch's mean gradient divided by ``k``, summed in float64. The last
   group of an epoch may hold fewer than ``k`` micro-batches; it still steps, each of its
   gradients still divided by ``k``. An update never spans two epochs, nor two calls.
5. ``lr = lr_at(epoch)`` of the epoch the update started in; ``step += 1``; the optimizer
   steps.
6. The update's loss (the mean of its micro-batches' mean losses) joins the running window;
   a history point is recorded every ``stride`` updates, at each epoch end, and when the run
   diverges (non-finite or blown-up loss, non-finite parameters), which also stops it.

Runs of one sample order (same batch size and position; one seed, or data order; any full
batch) go to :mod:`.shared` instead, which visits each row once for all of them, with the
same results. Runs are spread over threads (``prange`` over runs) when the engine asks for it. A full batch
of at least ``FULL_PARALLEL_MIN_ROWS`` rows instead spreads each update's pass over ``X``
across the threads (Numba does not nest parallel loops), one such run at a time. Each run
reads a monotonic clock around its own chunk (:mod:`.clock`): its seconds are its own, not
the batch's.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit

from gdviz.runfacts import updates_per_epoch

from .clock import now_ns
from .layout import (
    A_LOSS_SUM,
    F_BLOWUP,
    I_ACCUMULATE,
    I_BATCH,
    I_DROP_LAST,
    I_OPTIMIZER,
    I_SEED,
    I_SHUFFLE,
    I_STRIDE,
    OPT_SGD,
    S_DIVERGED,
    S_EPOCH,
    S_PERM_EPOCH,
    S_POS,
    S_STEP,
    S_WINDOW,
    RunBatch,
    check_state,
)
from .losses import FULL_PARALLEL_MIN_ROWS, _batch_loss_grad, _describe, _full_pass
from .optim import _opt_step, lr_at, sgd_step
from .shared import SHARED_MIN_RUNS, _shared_parallel, _shared_serial, shared_blocks
from .shuffle import _permutation


@njit(cache=True, nogil=True)
def _advance_one(X, y, hpf, hpi, params, opt_state, perm, istate, fstate, n_updates, rec_step, rec_params,
                 rec_loss, pre_loss, pre_grad):
    """Advance one run (1-d views of its state) by up to ``n_updates``; ``(n_done, n_points)``.

    With a non-empty ``pre_grad`` (float64[p]) it does one update of a full batch whose mean
    loss ``pre_loss`` and gradient ``pre_grad`` the caller computed with
    :func:`~gdviz.kernels.losses._full_pass` (and whose ``perm``, ``0 .. n-1``, it wrote).
    """
    if istate[S_DIVERGED] >= 0:
        return 0, 0
    n = X.shape[0]
    p = params.shape[0]
    code = hpi[I_OPTIMIZER]
    B = hpi[I_BATCH]
    k = hpi[I_ACCUMULATE]
    shuffle = hpi[I_SHUFFLE] != 0
    drop_last = hpi[I_DROP_LAST] != 0
    seed = hpi[I_SEED]
    stride = hpi[I_STRIDE]
    blowup = hpf[F_BLOWUP]
    cap = rec_step.shape[0]
    given = pre_grad.shape[0] > 0
    if given:
        n_updates = min(n_updates, 1)

    g_batch = np.empty(p, np.float64)
    g_sum = np.empty(p if k > 1 else 0, np.float64)  # the group's summed gradient (accumulation only)
    grad = np.empty(p, params.dtype)
    m = _describe(hpi)  # the model, read once (a tuple of ints, kept in registers)
    kf = np.float64(k)

    n_done = 0
    n_points = 0
    while n_done < n_updates and n_points < cap:
        epoch = istate[S_EPOCH]  # the learning rate follows the epoch the update starts in
        loss = 0.0
        n_micro = 0
        ended_epoch = False
        while True:  # the micro-batches of one update: one, or up to k when accumulating
            pos = istate[S_POS]
            end = min(pos + B, n)
            if given:
                loss_b = pre_loss
                for j in range(p):
                    g_batch[j] = pre_grad[j]
                istate[S_PERM_EPOCH] = epoch
            else:
                if pos == 0 and istate[S_PERM_EPOCH] != epoch:
                    if B >= n:
                        if istate[S_PERM_EPOCH] < 0:  # a full batch: data order, written once
                            for i in range(n):
                                perm[i] = i
                    elif shuffle:
                        _permutation(seed, epoch, n, perm)
                    else:
                        for i in range(n):
                            perm[i] = i
                    istate[S_PERM_EPOCH] = epoch
                loss_b = _batch_loss_grad(X, y, params, m, perm, pos, end, g_batch)
            if k > 1:  # as loss / k, then backward(): each micro-batch adds its mean gradient / k
                if n_micro == 0:
                    for j in range(p):
                        g_sum[j] = g_batch[j] / kf
                else:
                    for j in range(p):
                        g_sum[j] += g_batch[j] / kf
            loss = loss_b if n_micro == 0 else loss + loss_b
            n_micro += 1
            pos = end
            ended_epoch = pos >= n or (drop_last and pos + B > n)
            if ended_epoch:
                pos = 0
                istate[S_EPOCH] = epoch + 1
            istate[S_POS] = pos
            if ended_epoch or n_micro >= k or given:  # a short last group still steps (as torch's loop)
                break
        if n_micro > 1:
            loss /= n_micro  # the update's loss: the mean of its micro-batches' losses

        lr = lr_at(hpf, hpi, epoch)
        step = istate[S_STEP] + 1
        istate[S_STEP] = step
        if k > 1:
            for j in range(p):
                grad[j] = g_sum[j]
        else:
            for j in range(p):
                grad[j] = g_batch[j]
        if code == OPT_SGD:
            # Called directly: through the five-way dispatch, LLVM keeps the step out of
            # line, which costs more than the whole SGD update of a small model.
            sgd_step(params, grad, opt_state, hpf, hpi, lr, step)
        else:
            _opt_step(code, params, grad, opt_state, hpf, hpi, lr, step)

        fstate[A_LOSS_SUM] += loss
        istate[S_WINDOW] += 1
        n_done += 1

        diverged = not math.isfinite(loss) or loss > blowup
        if not diverged:
            for j in range(p):
                if not math.isfinite(params[j]):
                    diverged = True
                    break
        if diverged:
            istate[S_DIVERGED] = step
        if diverged or ended_epoch or step % stride == 0:
            rec_step[n_points] = step
            for j in range(p):
                rec_params[n_points, j] = params[j]
            rec_loss[n_points] = fstate[A_LOSS_SUM] / istate[S_WINDOW]
            n_points += 1
            fstate[A_LOSS_SUM] = 0.0
            istate[S_WINDOW] = 0
        if diverged:
            break
    return n_done, n_points


def _batch_body(X, y, state, n_updates, rec_step, rec_params, rec_loss, out):  # type: ignore[no-untyped-def]
    """Advance run ``r`` of ``state`` by ``n_updates[r]`` for every ``r`` (``prange``).

    ``out[r]`` receives ``(n_done, n_points, nanoseconds)``. Runs whose ``n_updates`` is 0,
    and runs that have diverged, are left untouched and take no time.
    """
    no_grad = np.empty(0, np.float64)
    for r in numba.prange(n_updates.shape[0]):
        if n_updates[r] <= 0 or state.istate[r, S_DIVERGED] >= 0:  # nothing to do, nothing timed
            out[r, 0] = 0
            out[r, 1] = 0
            out[r, 2] = 0
            continue
        t0 = now_ns()
        n_done, n_points = _advance_one(
            X, y, state.hpf[r], state.hpi[r], state.params[r], state.opt_state[r], state.perm[r], state.istate[r],
            state.fstate[r], n_updates[r], rec_step[r], rec_params[r], rec_loss[r], 0.0, no_grad,
        )  # fmt: skip
        out[r, 0] = n_done
        out[r, 1] = n_points
        out[r, 2] = now_ns() - t0


def _named(fn, name: str):  # type: ignore[no-untyped-def]
    """``fn``'s code under another name. Numba names a function's on-disk cache after its
    qualified name and line and does not key it on ``parallel=``: two dispatchers of one
    function would load each other's machine code (the threaded one ran serially)."""
    clone = types.FunctionType(fn.__code__, fn.__globals__, name, fn.__defaults__, fn.__closure__)
    clone.__qualname__ = name
    return clone


_batch_serial = njit(cache=True, nogil=True)(_named(_batch_body, "_batch_serial"))
# Threads over runs. Compiled on first use only, so a scenario that never asks for it does
# not pay the compile time.
_batch_parallel = njit(cache=True, nogil=True, parallel=True)(_named(_batch_body, "_batch_parallel"))


@njit(cache=True, nogil=True)
def _large_full_one(X, y, state, r, n_updates, rec_step, rec_params, rec_loss, g):
    """One run ``r`` of a large full batch: each update's pass over ``X`` on all threads."""
    hpi = state.hpi[r]
    istate = state.istate[r]
    cap = rec_step.shape[0]
    done = points = 0
    while done < n_updates and points < cap and istate[S_DIVERGED] < 0:
        if istate[S_PERM_EPOCH] < 0:
            for i in range(state.perm.shape[1]):
                state.perm[r, i] = i
        loss = _full_pass(X, y, state.params[r], hpi, g)
        k_done, k_points = _advance_one(
            X, y, state.hpf[r], hpi, state.params[r], state.opt_state[r], state.perm[r], istate, state.fstate[r],
            1, rec_step[points:], rec_params[points:], rec_loss[points:], loss, g,
        )  # fmt: skip
        done += k_done
        points += k_points
        if k_done == 0:
            break
    return done, points


@dataclass
class Chunk:
    """What one :func:`advance_batch` call recorded, per run (leading axis ``R``).

    Run ``r`` did ``n_done[r]`` updates in ``seconds[r]`` of its own time and recorded
    ``n_points[r]`` history points: ``step[r, :k]`` (the step count after the update),
    ``params[r, :k]`` (the parameters after it) and ``loss[r, :k]`` (the mean minibatch loss
    since the previous point).
    """

    n_done: np.ndarray  # int64[R]
    n_points: np.ndarray  # int64[R]
    seconds: np.ndarray  # float64[R]
    step: np.ndarray  # int64[R, cap]
    params: np.ndarray  # dtype[R, cap, p]
    loss: np.ndarray  # float64[R, cap]


def history_capacity(n_updates: int, stride: int, updates_per_epoch: int) -> int:
    """History points ``n_updates`` updates can record: every ``stride``-th, epoch ends, a divergence."""
    return n_updates // max(stride, 1) + n_updates // max(updates_per_epoch, 1) + 3


def _fail(name: str, want: str, arr: object) -> ValueError:
    got = f"{arr.dtype}{list(arr.shape)}" if isinstance(arr, np.ndarray) else type(arr).__name__
    return ValueError(f"{name} must be {want}, got {got}")


def check_batch(X: np.ndarray, y: np.ndarray, state: RunBatch) -> tuple[int, int, int]:
    """Validate a batch of runs on ``X``, ``y``; return ``(R, n, p)`` or raise ValueError
    (TypeError for a ``state`` that is no RunBatch). The runs are checked by
    :func:`.layout.check_state`, as on the GPU."""
    if not isinstance(X, np.ndarray) or X.ndim != 2 or X.dtype not in (np.float32, np.float64):
        raise _fail("X", "a 2-d float32 or float64 array (convert with X.astype(np.float64))", X)
    dtype = X.dtype
    n, d = X.shape
    if not X.flags.c_contiguous:
        raise _fail("X", "C-contiguous (pass np.ascontiguousarray(X))", X)
    if not isinstance(y, np.ndarray) or y.shape != (n,) or y.dtype != dtype or not y.flags.c_contiguous:
        raise _fail("y", f"a C-contiguous {dtype}[{n}] array like X", y)
    R, p = check_state(state, n, d, dtype)
    return R, n, p


def advance_batch(
    X: np.ndarray,
    y: np.ndarray,
    state: RunBatch,
    n_updates: int | np.ndarray,
    cap: int | None = None,
    *,
    parallel: bool = False,
) -> Chunk:
    """Advance every run of ``state`` by up to ``n_updates[r]`` minibatch updates, in place.

    Parameters
    ----------
    X : numpy.ndarray
        float32 or float64[n, d], C-contiguous: the (standardized) features.
    y : numpy.ndarray
        X.dtype[n]: targets (linear) or {0, 1} labels (logistic).
    state : RunBatch
        ``R`` runs (see :mod:`gdviz.kernels.layout`), arrays of X's dtype where the layout
        says ``dtype``; updated in place.
    n_updates : int or numpy.ndarray
        Updates to do per run (int64[R], or one int for all), ``>= 0``.
    cap : int, optional
        History points per run the call may record; by default enough for ``n_updates``
        (:func:`history_capacity`). When a run's points run out, it stops early, losing
        nothing.
    parallel : bool
        Spread the runs over Numba's threads (``prange``). Results are the same either way.

    Returns
    -------
    Chunk
        Per run: updates done (fewer when it diverged or its points ran out; 0 for a run
        already diverged), points recorded, its own seconds, and the recorded history.
    """
    R, n, p = check_batch(X, y, state)
    todo = np.broadcast_to(np.asarray(n_updates, dtype=np.int64), (R,)).copy()
    if np.any(todo < 0):
        raise ValueError(f"n_updates must be >= 0, got {n_updates}")
    if cap is None:
        cap = 1
        for r in range(R):
            upe = updates_per_epoch(n, int(state.hpi[r, I_BATCH]), bool(state.hpi[r, I_DROP_LAST]),
                                    int(state.hpi[r, I_ACCUMULATE]))
            cap = max(cap, history_capacity(int(todo[r]), int(state.hpi[r, I_STRIDE]), upe))
    if cap < 1:
        raise ValueError(f"cap must be >= 1, got {cap}")
    rec_step = np.empty((R, cap), np.int64)
    rec_params = np.empty((R, cap, p), X.dtype)
    rec_loss = np.empty((R, cap), np.float64)
    out = np.zeros((R, 3), np.int64)
    large = (state.hpi[:, I_BATCH] >= n) & (n >= FULL_PARALLEL_MIN_ROWS)
    shared = np.zeros(R, np.bool_)
    lanes, starts = shared_blocks(state, todo, n, numba.get_num_threads() if parallel else 1) \
        if R >= SHARED_MIN_RUNS else (np.empty(0, np.int64), None)
    shared[lanes] = True
    large &= ~shared
    small_todo = np.where(large | shared, 0, todo)
    if np.any(small_todo > 0):
        kernel = _batch_parallel if parallel and R > 1 else _batch_serial
        kernel(X, y, state, small_todo, rec_step, rec_params, rec_loss, out)
    if lanes.size:  # runs of one sample order: each row visited once for all (.shared); after
        # the kernel above, which writes zeros into `out` for the runs it leaves alone
        kernel = _shared_parallel if parallel and starts.size > 2 else _shared_serial
        kernel(X, y, state, lanes, starts, todo, rec_step, rec_params, rec_loss, out)
    if np.any(large & (todo > 0)):
        import time

        g = np.empty(p, np.float64)
        for r in np.flatnonzero(large & (todo > 0)):
            t0 = time.perf_counter_ns()
            n_done, n_points = _large_full_one(X, y, state, np.int64(r), todo[r], rec_step[r], rec_params[r],
                                               rec_loss[r], g)
            out[r] = (n_done, n_points, time.perf_counter_ns() - t0 if n_done else 0)
    return Chunk(out[:, 0].copy(), out[:, 1].copy(), out[:, 2] / 1e9, rec_step, rec_params, rec_loss)
