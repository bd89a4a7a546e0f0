"""CUDA twin of :mod:`.descent`: the resumable epoch loop on a GPU, in two shapes of work.

The state is the CPU kernel's :class:`~.layout.RunBatch`, copied to the device once and kept
there between chunks; only the recorded history and the counters come back per chunk, the
rest when asked (``pull``). Each update does what
:func:`gdviz.kernels.descent.advance_batch` does, in the same order, reaching the model only
through :mod:`.models` and stepping with the arithmetic of :mod:`.stepmath` (both shared
with the CPU), so:

- float64: a batch of at most ``config.THREADS_PER_RUN`` rows is summed in the CPU's order
  and the result is bit-identical to the CPU kernel under the simulator; larger batches are
  summed in another order and agree to rounding (1e-10 relative over whole runs, tested).
  On a real GPU the compiler may also contract ``a * b + c`` into FMAs: agreement to
  rounding, not bits.
- float32: parameters and buffers are stored in float32 after each update, as on the CPU;
  summation-order rounding can flip a float32 rounding now and then, so whole runs agree to
  ``FLOAT32_RTOL`` relative (the reference tolerance of ``tests/naive.py``).
- The permutation of epoch ``e`` is :func:`.stepmath.permutation_fill` (seed, e): the CPU's
  generator, so SGD paths coincide. A full batch has no sample order, as on the CPU.

Where things are
----------------
This module
    The device code: ``_runs_kernel`` (many runs, one block each, a whole chunk of updates
    per launch) and ``_grid_step`` (the second pass of a grid-wide update), both ending each
    update in ``_finish``; :func:`simulator`; the tolerances.
:mod:`.gpu_runs`
    The host side of the two shapes of work, each a batch of runs resident on the device:
    :class:`~.gpu_runs.GpuRuns` (many runs on one dataset, one launch per ``advance``) and
    :class:`~.gpu_runs.GpuRun` (one run with a large batch: each update a grid-wide
    reduction, :data:`.gpu_losses.grid_partials`, then ``_grid_step``; the launches of an
    epoch queued without a host round trip); :func:`~.gpu_runs.check_runs`.
:mod:`.gpu_group`
    What the engine and ``gdviz bench`` call: :class:`~.gpu_group.GpuGroup` (a mix: the
    runs whose batch is below ``config.GRID_MIN_BATCH`` rows in one ``GpuRuns``, each other
    run in its own ``GpuRun``), :func:`~.gpu_group.device_runs` (picks the shape for a batch
    of runs), :func:`~.gpu_group.gpu_advance` (the functional twin of
    :func:`~.descent.advance_batch`), :func:`~.gpu_group.warm_up` and
    :func:`~.gpu_group.time_epoch`.

Those names are also attributes of this module (``gpu_descent.device_runs``), imported on
first use: the host modules import the kernels from here, so this module cannot import them
at load time. All shapes take host or device ``X``/``y`` and a host ``RunBatch``, advance with
``advance(n_updates, cap)`` (returning the CPU's :class:`~.descent.Chunk`), copy state back
with ``pull(state)`` and count their kernel launches in ``launches``. Nothing here runs at
import time except kernel declaration.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from importlib import import_module
from typing import Any

from numba import cuda, float64, int64

from .gpu_losses import block_mean, reduce_partials
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
    S_DIVERGED,
    S_EPOCH,
    S_PERM_EPOCH,
    S_POS,
    S_STEP,
    S_WINDOW,
)
from .stepmath import lr_at, opt_step, permutation_fill

#: Relative agreement of float32 runs with the CPU kernel over a whole run.
FLOAT32_RTOL = 2e-4
#: Relative agreement of float64 runs with the CPU kernel over a whole run.
FLOAT64_RTOL = 1e-10


def simulator() -> bool:
    """True when numba.cuda is the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    from numba.core import config as numba_config

    return bool(getattr(numba_config, "ENABLE_CUDASIM", False))


@contextmanager
def _launching():
    """Silence the simulator's wrap-around warnings: splitmix64 multiplies mod 2**64 on
    purpose, which NumPy scalars (the simulator's integers) report as overflow."""
    if not simulator():
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
        yield


# --- device code -----------------------------------------------------------------------------


@cuda.jit(device=True)
def _next_batch(r, n, hpi, istate):
    """Thread 0 moves run ``r`` past its (micro-)batch: step 3 of :mod:`.descent`. True when
    that ended the epoch (``pos >= n``, or with ``drop_last`` a short batch comes next)."""
    B = hpi[r, I_BATCH]
    pos = min(istate[r, S_POS] + B, n)
    ended = pos >= n or (hpi[r, I_DROP_LAST] != 0 and pos + B > n)
    if ended:
        pos = 0
        istate[r, S_EPOCH] += 1
    istate[r, S_POS] = pos
    return ended


@cuda.jit(device=True)
def _add_micro(r, sh, p, hpi, gacc, m):
    """Thread 0 adds the micro-batch means in ``sh[p : 2p + 1]`` to run ``r``'s group sums in
    ``gacc[r]`` (the ``m``-th of its group, from 0): each gradient divided by ``accumulate``,
    as the CPU's ``g_sum``, and the loss as it is."""
    if hpi[r, I_ACCUMULATE] == 1:
        return  # the micro-batch is the update: its means stay in sh
    k = float(hpi[r, I_ACCUMULATE])
    if m == 0:
        for j in range(p):
            gacc[r, j] = sh[p + j] / k
        gacc[r, p] = sh[2 * p]
    else:
        for j in range(p):
            gacc[r, j] += sh[p + j] / k
        gacc[r, p] += sh[2 * p]


@cuda.jit(device=True)
def _group_done(r, sh, p, hpi, gacc, m, ended):
    """Whether run ``r``'s group ends after its ``m``-th micro-batch (counting from 1): it holds
    ``accumulate`` of them, or the epoch ended. Then its gradient and loss (the mean of its
    micro-batches' losses) are put back in ``sh[p : 2p + 1]`` for :func:`_finish`. Without
    accumulation ``sh`` is left as it is, the micro-batch's means being the update's."""
    k = hpi[r, I_ACCUMULATE]
    if not ended and m < k:
        return False
    if k > 1:
        for j in range(p):
            sh[p + j] = gacc[r, j]
        sh[2 * p] = gacc[r, p] / m if m > 1 else gacc[r, p]
    return True


@cuda.jit(device=True)
def _finish(r, sh, p, hpf, hpi, params, opt_state, istate, fstate, gq, n_points, rec_step, rec_params,
            rec_loss, epoch, ended):
    """Thread 0's part of run ``r``'s update once its means are in shared memory.

    ``sh[p : 2p]`` holds the update's gradient and ``sh[2p]`` its loss (float64); ``epoch``
    is the one the update started in, ``ended`` whether its last batch ended an epoch.
    Steps 5-6 of :mod:`.descent`: learning rate, step count, optimizer step, the loss window
    and the history point. Returns ``(n_points, diverged)``.
    """
    loss = sh[2 * p]
    lr = lr_at(hpf[r], hpi[r], epoch)
    step = istate[r, S_STEP] + 1
    istate[r, S_STEP] = step
    for j in range(p):
        gq[r, j] = sh[p + j]  # the gradient in the parameters' dtype, as the CPU's `grad`
    opt_step(hpi[r, I_OPTIMIZER], params[r], gq[r], opt_state[r], hpf[r], hpi[r], lr, step)

    fstate[r, A_LOSS_SUM] += loss
    istate[r, S_WINDOW] += 1

    diverged = not math.isfinite(loss) or loss > hpf[r, F_BLOWUP]
    if not diverged:
        for j in range(p):
            if not math.isfinite(float(params[r, j])):
                diverged = True
                break
    if diverged:
        istate[r, S_DIVERGED] = step
    if diverged or ended or step % hpi[r, I_STRIDE] == 0:
        rec_step[r, n_points] = step
        for j in range(p):
            rec_params[r, n_points, j] = params[r, j]
        rec_loss[r, n_points] = fstate[r, A_LOSS_SUM] / istate[r, S_WINDOW]
        n_points += 1
        fstate[r, A_LOSS_SUM] = 0.0
        istate[r, S_WINDOW] = 0
    return n_points, diverged


@cuda.jit
def _runs_kernel(X, y, hpf, hpi, params, opt_state, perm, istate, fstate, gq, gacc, n_updates, rec_step, rec_params,
                 rec_loss, out, scratch, in_global):
    """Block ``r`` advances run ``r`` by up to ``n_updates[r]`` updates (many-runs shape).

    Thread 0 keeps the run's counters, makes the epoch's order and steps the optimizer; all
    threads share each batch's sums (:func:`.gpu_losses.block_mean`). With ``accumulate > 1``
    an update's micro-batches are summed in ``gacc[r]`` (float64[p + 1]) by thread 0.
    ``out[r] = (n_done, n_points)``. With ``in_global`` non-zero the block's float64 layout
    (:mod:`.gpu_losses`) is ``scratch[r]`` in global memory, else dynamic shared memory.
    """
    r = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    T = cuda.blockDim.x
    n = X.shape[0]
    p = params.shape[1]
    cap = rec_step.shape[1]
    sh = cuda.shared.array(0, float64)
    if in_global != 0:
        sh = scratch[r]
    ctl = cuda.shared.array(3, int64)
    if istate[r, S_DIVERGED] >= 0:
        if tid == 0:
            out[r, 0] = 0
            out[r, 1] = 0
        return
    n_done = 0
    n_points = 0
    n_micro = 0  # thread 0: micro-batches of the current update so far
    epoch = 0  # thread 0: the epoch the current update started in
    stopped = False
    while True:
        if tid == 0:
            go = not stopped and n_done < n_updates[r] and n_points < cap
            ctl[0] = 1 if go else 0
            if go:
                pos = istate[r, S_POS]
                if n_micro == 0:
                    epoch = istate[r, S_EPOCH]
                B = hpi[r, I_BATCH]
                if pos == 0 and istate[r, S_PERM_EPOCH] != epoch:
                    if B >= n:
                        if istate[r, S_PERM_EPOCH] < 0:  # a full batch: data order, written once
                            for i in range(n):
                                perm[r, i] = i
                    elif hpi[r, I_SHUFFLE] != 0:
                        permutation_fill(hpi[r, I_SEED], epoch, n, perm[r])
                    else:
                        for i in range(n):
                            perm[r, i] = i
                    istate[r, S_PERM_EPOCH] = epoch
                ctl[1] = pos
                ctl[2] = min(pos + B, n)
                for j in range(p):
                    sh[j] = float(params[r, j])
        cuda.syncthreads()
        # read ctl before the next barrier: thread 0 rewrites it once every thread has passed
        go = ctl[0] != 0
        start = ctl[1]
        end = ctl[2]
        if not go:
            break
        block_mean(X, y, perm[r], True, start, end, hpi[r], sh, tid, T)
        if tid == 0:
            _add_micro(r, sh, p, hpi, gacc, n_micro)
            n_micro += 1
            ended = _next_batch(r, n, hpi, istate)
            if _group_done(r, sh, p, hpi, gacc, n_micro, ended):
                n_points, stopped = _finish(r, sh, p, hpf, hpi, params, opt_state, istate, fstate, gq, n_points,
                                            rec_step, rec_params, rec_loss, epoch, ended)
                n_done += 1
                n_micro = 0
    if tid == 0:
        out[r, 0] = n_done
        out[r, 1] = n_points


@cuda.jit
def _grid_step(hpf, hpi, params, opt_state, istate, fstate, gq, gacc, partials, n, ctl, rec_step, rec_params,
               rec_loss, scratch, in_global):
    """Second pass of one large-batch (micro-)batch of run 0 (one block): add the block sums,
    and step when the update's last micro-batch is in.

    ``ctl`` (int64[5], device) is ``(stop, n_done, n_points, n_micro, epoch)``: a stopped
    run (diverged, or its history buffer full) makes every later queued launch a no-op;
    ``n_micro`` counts the micro-batches of the current update summed in ``gacc`` so far
    and ``epoch`` is the one it started in. A full batch has no sample order: its
    ``S_PERM_EPOCH`` only follows the epochs, as on the CPU. The means go to ``scratch[0]``
    when ``in_global`` is non-zero, else to shared memory.
    """
    tid = cuda.threadIdx.x
    T = cuda.blockDim.x
    if ctl[0] != 0:
        return
    if istate[0, S_DIVERGED] >= 0 or ctl[2] >= rec_step.shape[1]:
        cuda.syncthreads()  # every thread has read ctl before thread 0 writes it
        if tid == 0:
            ctl[0] = 1
        return
    sh = cuda.shared.array(0, float64)
    if in_global != 0:
        sh = scratch[0]
    p = params.shape[1]
    pos = istate[0, S_POS]
    end = min(pos + hpi[0, I_BATCH], n)
    reduce_partials(partials, end - pos, sh, tid, T)
    if tid == 0:
        if hpi[0, I_BATCH] >= n:
            istate[0, S_PERM_EPOCH] = istate[0, S_EPOCH]
        m = ctl[3]
        if m == 0:
            ctl[4] = istate[0, S_EPOCH]
        _add_micro(0, sh, p, hpi, gacc, m)
        m += 1
        ended = _next_batch(0, n, hpi, istate)
        if _group_done(0, sh, p, hpi, gacc, m, ended):
            n_points, diverged = _finish(0, sh, p, hpf, hpi, params, opt_state, istate, fstate, gq, ctl[2],
                                         rec_step, rec_params, rec_loss, ctl[4], ended)
            ctl[1] += 1
            ctl[2] = n_points
            ctl[3] = 0
            if diverged:
                ctl[0] = 1
        else:
            ctl[3] = m


# --- the host side, from the modules that hold it ---------------------------------------------

#: Name -> the module (of this package) that defines it; see "Where things are" above.
_HOST = {
    "GpuRuns": "gpu_runs",
    "GpuRun": "gpu_runs",
    "check_runs": "gpu_runs",
    "GpuGroup": "gpu_group",
    "device_runs": "gpu_group",
    "default_cap": "gpu_group",
    "gpu_advance": "gpu_group",
    "time_epoch": "gpu_group",
    "warm_up": "gpu_group",
}


def __getattr__(name: str) -> Any:  # PEP 562: the names of _HOST, imported on first use
    if name not in _HOST:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_HOST[name]}", __package__), name)
    globals()[name] = value  # once: later look-ups (and monkeypatch) see a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOST))
