"""CUDA twin of :mod:`.descent`: the resumable epoch loop on a GPU, in two shapes of work.

The state is the CPU kernel's :class:`~.layout.RunBatch`, copied to the device once and kept
there between chunks; only the recorded history and the counters come back per chunk, the
rest when asked (:meth:`GpuRuns.pull`). Each update does what
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

Shapes of work
--------------
:class:`GpuRuns`
    Many runs on one dataset (a sweep): one block per run, ``config.THREADS_PER_RUN``
    threads share each batch, the whole chunk of updates of every run inside one launch.
    Runs may differ in batch size, optimizer, learning rate, schedule and seed.
:class:`GpuRun`
    One run with a large batch: each update is a grid-wide reduction
    (:data:`.gpu_losses.grid_partials`) and a one-block kernel that adds the block sums and
    steps the optimizer; the launches of a whole epoch (of a whole chunk for a full batch)
    are queued without a host round trip.
:class:`GpuGroup`
    A mix: the runs whose batch is below ``config.GRID_MIN_BATCH`` rows in one
    :class:`GpuRuns`, each other run in its own :class:`GpuRun`, advanced as one.

:func:`device_runs` picks the shape for a batch of runs, as the engine uses it. All take host
or device ``X``/``y`` and a host ``RunBatch``, advance with ``advance(n_updates, cap)``
(returning the CPU's :class:`~.descent.Chunk`), copy state back with ``pull(state)`` and
count their kernel launches in ``launches``. :func:`gpu_advance` is the functional twin of
:func:`~.descent.advance_batch`. Nothing here runs at import time except kernel declaration.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import Counter
from contextlib import contextmanager

import numpy as np
from numba import cuda, float64, int64

from gdviz.runfacts import updates_per_epoch

from . import config
from .descent import Chunk, history_capacity
from .gpu_losses import (
    block_mean,
    grid_blocks,
    grid_partials,
    reduce_partials,
    shared_bytes,
    threads_for,
)
from .layout import (
    A_LOSS_SUM,
    F_BLOWUP,
    FSTATE_SIZE,
    HPF_SIZE,
    HPI_SIZE,
    I_BATCH,
    I_DROP_LAST,
    I_FIT_INTERCEPT,
    I_MODEL,
    I_OPTIMIZER,
    I_SCHEDULE,
    I_SEED,
    I_SHUFFLE,
    I_STEP_SIZE,
    I_STRIDE,
    ISTATE_SIZE,
    MODEL_LINEAR,
    MODELS,
    OPT_ADAGRAD,
    OPT_SGD,
    S_DIVERGED,
    S_EPOCH,
    S_PERM_EPOCH,
    S_POS,
    S_STEP,
    S_WINDOW,
    SCHED_CONSTANT,
    SCHED_COSINE,
    SCHED_STEP,
    RunBatch,
    new_state,
    set_run,
)
from .models import work_size
from .shuffle import permutation
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
def _finish(r, sh, p, n, hpf, hpi, params, opt_state, istate, fstate, gq, n_points, rec_step, rec_params,
            rec_loss):
    """Thread 0's part of run ``r``'s update once the batch means are in shared memory.

    ``sh[p : 2p]`` holds the batch's mean gradient and ``sh[2p]`` its mean loss (float64).
    Steps 3-5 of :mod:`.descent`: learning rate, step count, optimizer step, position and
    epoch, the loss window and the history point. Returns ``(n_points, diverged)``.
    """
    loss = sh[2 * p]
    epoch = istate[r, S_EPOCH]
    lr = lr_at(hpf[r], hpi[r], epoch)
    step = istate[r, S_STEP] + 1
    istate[r, S_STEP] = step
    for j in range(p):
        gq[r, j] = sh[p + j]  # the gradient in the parameters' dtype, as the CPU's `grad`
    opt_step(hpi[r, I_OPTIMIZER], params[r], gq[r], opt_state[r], hpf[r], hpi[r], lr, step)

    B = hpi[r, I_BATCH]
    pos = min(istate[r, S_POS] + B, n)
    ended = pos >= n or (hpi[r, I_DROP_LAST] != 0 and pos + B > n)
    if ended:
        pos = 0
        istate[r, S_EPOCH] = epoch + 1
    istate[r, S_POS] = pos
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
def _runs_kernel(X, y, hpf, hpi, params, opt_state, perm, istate, fstate, gq, n_updates, rec_step, rec_params,
                 rec_loss, out):
    """Block ``r`` advances run ``r`` by up to ``n_updates[r]`` updates (many-runs shape).

    Thread 0 keeps the run's counters, makes the epoch's order and steps the optimizer; all
    threads share each batch's sums (:func:`.gpu_losses.block_mean`).
    ``out[r] = (n_done, n_points)``.
    """
    r = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    T = cuda.blockDim.x
    n = X.shape[0]
    p = params.shape[1]
    cap = rec_step.shape[1]
    sh = cuda.shared.array(0, float64)
    ctl = cuda.shared.array(3, int64)
    if istate[r, S_DIVERGED] >= 0:
        if tid == 0:
            out[r, 0] = 0
            out[r, 1] = 0
        return
    n_done = 0
    n_points = 0
    stopped = False
    while True:
        if tid == 0:
            go = not stopped and n_done < n_updates[r] and n_points < cap
            ctl[0] = 1 if go else 0
            if go:
                pos = istate[r, S_POS]
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
            n_points, stopped = _finish(r, sh, p, n, hpf, hpi, params, opt_state, istate, fstate, gq, n_points,
                                        rec_step, rec_params, rec_loss)
            n_done += 1
    if tid == 0:
        out[r, 0] = n_done
        out[r, 1] = n_points


@cuda.jit
def _grid_step(hpf, hpi, params, opt_state, istate, fstate, gq, partials, n, ctl, rec_step, rec_params, rec_loss):
    """Second pass of one large-batch update of run 0 (one block): add the block sums, step.

    ``ctl`` (int64[3], device) is ``(stop, n_done, n_points)``; a stopped run (diverged, or
    its history buffer full) makes every later queued launch a no-op. A full batch has no
    sample order: its ``S_PERM_EPOCH`` only follows the epochs, as on the CPU.
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
    p = params.shape[1]
    pos = istate[0, S_POS]
    end = min(pos + hpi[0, I_BATCH], n)
    reduce_partials(partials, end - pos, sh, tid, T)
    if tid == 0:
        if hpi[0, I_BATCH] >= n:
            istate[0, S_PERM_EPOCH] = istate[0, S_EPOCH]
        n_points, diverged = _finish(0, sh, p, n, hpf, hpi, params, opt_state, istate, fstate, gq, ctl[2],
                                     rec_step, rec_params, rec_loss)
        ctl[1] += 1
        ctl[2] = n_points
        if diverged:
            ctl[0] = 1


# --- host side: checks -----------------------------------------------------------------------


def _fail(name: str, want: str, arr: object) -> ValueError:
    got = f"{arr.dtype}{list(arr.shape)}" if hasattr(arr, "dtype") and hasattr(arr, "shape") else type(arr).__name__
    return ValueError(f"{name} must be {want}, got {got}")


def _need(name: str, arr: object, dtype: type, shape: tuple[int, ...], host: bool = True) -> None:
    """``arr`` must have this dtype and shape, and be C-contiguous (and writable) on the host
    (``host``) or a host or device array of them (not ``host``)."""
    ok = hasattr(arr, "dtype") and arr.dtype == dtype and tuple(arr.shape) == shape
    if host:
        ok = ok and isinstance(arr, np.ndarray) and arr.flags.c_contiguous and arr.flags.writeable
    elif isinstance(arr, np.ndarray):
        ok = ok and arr.flags.c_contiguous
    if not ok:
        where = "host" if host else "host or device"
        raise _fail(name, f"a C-contiguous {where} {np.dtype(dtype).name} array of shape {shape}", arr)


def check_runs(X, y, state: RunBatch) -> tuple[int, int, int]:
    """Validate a batch of runs for the GPU (the CPU's :func:`~.descent.check_batch`, per run).

    ``X``/``y`` may be host or device arrays; ``state`` is a host :class:`~.layout.RunBatch`
    with at least one run. Every run must have the same model and ``fit_intercept`` (they
    share ``p`` and the kernels' shared-memory layout). Returns ``(R, n, p)``; raises
    ValueError (TypeError for a ``state`` that is no RunBatch).
    """
    if not hasattr(X, "dtype") or len(X.shape) != 2 or X.dtype not in (np.float32, np.float64):
        raise _fail("X", "a 2-d float32 or float64 array (convert with X.astype(np.float64))", X)
    if not isinstance(state, RunBatch):
        raise TypeError(f"state must be a RunBatch (from layout.new_state), got {type(state).__name__}")
    dtype = X.dtype
    n, d = X.shape
    _need("X", X, dtype, (n, d), host=False)
    _need("y", y, dtype, (n,), host=False)
    hpi = state.hpi
    R = hpi.shape[0] if isinstance(hpi, np.ndarray) and hpi.ndim == 2 else -1
    _need("state.hpi", hpi, np.int64, (R, HPI_SIZE))
    if R < 1:
        raise ValueError("need at least one run (R >= 1)")
    models, fits = set(hpi[:, I_MODEL].tolist()), set(hpi[:, I_FIT_INTERCEPT].tolist())
    if len(models) != 1 or len(fits) != 1:
        raise ValueError(f"runs on the GPU must share one model and fit_intercept, got {models} and {fits}")
    model, fit_intercept = models.pop(), fits.pop()
    if model not in MODELS.values():
        raise ValueError(f"hpi[:, I_MODEL] must be a MODEL_* code {sorted(MODELS.values())}, got {model}")
    if fit_intercept not in (0, 1):
        raise ValueError(f"hpi[:, I_FIT_INTERCEPT] must be 0 or 1, got {fit_intercept}")
    p = d + fit_intercept
    _need("state.hpf", state.hpf, np.float64, (R, HPF_SIZE))
    _need("state.params", state.params, dtype, (R, p))
    _need("state.opt_state", state.opt_state, dtype, (R, 3, p))
    _need("state.perm", state.perm, np.int64, (R, n))
    _need("state.istate", state.istate, np.int64, (R, ISTATE_SIZE))
    _need("state.fstate", state.fstate, np.float64, (R, FSTATE_SIZE))
    for r in range(R):
        code, schedule, B = int(hpi[r, I_OPTIMIZER]), int(hpi[r, I_SCHEDULE]), int(hpi[r, I_BATCH])
        if not OPT_SGD <= code <= OPT_ADAGRAD:
            raise ValueError(f"run {r}: hpi[I_OPTIMIZER] must be an OPT_* code ({OPT_SGD}..{OPT_ADAGRAD}), got {code}")
        if not SCHED_CONSTANT <= schedule <= SCHED_COSINE:
            raise ValueError(f"run {r}: hpi[I_SCHEDULE] must be a SCHED_* code, got {schedule}")
        if schedule == SCHED_STEP and hpi[r, I_STEP_SIZE] < 1:
            raise ValueError(f"run {r}: hpi[I_STEP_SIZE] must be >= 1 for the step schedule")
        if not 1 <= B <= n:
            raise ValueError(f"run {r}: hpi[I_BATCH] must be in 1..n={n}, got {B}")
        if hpi[r, I_STRIDE] < 1:
            raise ValueError(f"run {r}: hpi[I_STRIDE] must be >= 1, got {hpi[r, I_STRIDE]}")
        s = state.istate[r]
        if not 0 <= s[S_POS] < n or s[S_STEP] < 0 or s[S_EPOCH] < 0:
            raise ValueError(f"run {r}: istate is inconsistent: {s.tolist()} (a fresh run is [0, 0, 0, 0, -1, -1])")
        if s[S_POS] != 0 and s[S_PERM_EPOCH] != s[S_EPOCH]:
            raise ValueError(f"run {r}: istate is mid-epoch but perm holds epoch {s[S_PERM_EPOCH]}, not {s[S_EPOCH]}")
    return R, n, p


def _device(arr):
    return cuda.to_device(np.ascontiguousarray(arr)) if isinstance(arr, np.ndarray) else arr


def _todo(n_updates, R: int, cap: int) -> np.ndarray:
    """``n_updates`` as int64[R] (one int: the same for all), checked with ``cap``."""
    todo = np.broadcast_to(np.asarray(n_updates, dtype=np.int64), (R,)).copy()
    if np.any(todo < 0) or cap < 1:
        raise ValueError(f"n_updates must be >= 0 and cap >= 1, got {n_updates}, {cap}")
    return todo


def _seconds(n_done: np.ndarray, wall: float) -> np.ndarray:
    """float64[R]: ``wall`` for every run that did an update, 0 for the others."""
    return np.where(n_done > 0, wall, 0.0)


# --- host side: the shapes of work -----------------------------------------------------------


class _DeviceState:
    """A batch of runs copied to the device once, and copied back on request."""

    def __init__(self, X, y, state: RunBatch) -> None:
        self.R, self.n, self.p = check_runs(X, y, state)
        self.dtype = np.dtype(X.dtype)
        self.X, self.y = _device(X), _device(y)
        hpi = state.hpi
        self.hpi_host = hpi.copy()
        self.work = max(int(work_size(h, X.shape[1])) for h in hpi)  # model scratch floats per thread
        self.hpf, self.hpi = cuda.to_device(state.hpf), cuda.to_device(hpi)
        self.params, self.opt_state = cuda.to_device(state.params), cuda.to_device(state.opt_state)
        self.istate, self.fstate = cuda.to_device(state.istate), cuda.to_device(state.fstate)
        self.gq = cuda.device_array((self.R, self.p), self.dtype)
        self._rec: dict[int, tuple] = {}
        #: Kernel launches made so far, by kernel name; ``launches`` is their total.
        self.launches_by_kernel: Counter[str] = Counter()

    @property
    def launches(self) -> int:
        """Kernel launches made so far (every kernel, every :meth:`advance`)."""
        return sum(self.launches_by_kernel.values())

    def _records(self, cap: int) -> tuple:
        if cap not in self._rec:
            R, p = self.R, self.p
            self._rec = {cap: (cuda.device_array((R, cap), np.int64), cuda.device_array((R, cap, p), self.dtype),
                               cuda.device_array((R, cap), np.float64))}
        return self._rec[cap]

    def _empty_chunk(self, cap: int) -> Chunk:
        R, p = self.R, self.p
        zero = np.zeros(R, np.int64)
        return Chunk(zero, zero.copy(), np.zeros(R), np.zeros((R, cap), np.int64), np.zeros((R, cap, p), self.dtype),
                     np.zeros((R, cap)))

    def _check_pull(self, state: RunBatch) -> None:
        if not isinstance(state, RunBatch):
            raise TypeError(f"pull needs a RunBatch to copy into, got {type(state).__name__}")
        R, n, p = self.R, self.n, self.p
        for name, dtype, shape in (("params", self.dtype, (R, p)), ("opt_state", self.dtype, (R, 3, p)),
                                   ("perm", np.int64, (R, n)), ("istate", np.int64, (R, ISTATE_SIZE)),
                                   ("fstate", np.float64, (R, FSTATE_SIZE))):  # fmt: skip
            arr = getattr(state, name)
            if not (isinstance(arr, np.ndarray) and arr.dtype == dtype and arr.shape == shape and arr.flags.writeable):
                raise _fail(f"state.{name}", f"a writable {np.dtype(dtype).name} array of shape {shape}", arr)

    def _pull_common(self, state: RunBatch) -> None:
        for name in ("params", "opt_state", "istate", "fstate"):
            np.copyto(getattr(state, name), getattr(self, name).copy_to_host())


class GpuRuns(_DeviceState):
    """Many runs on one dataset, one block each, state resident on the device.

    Runs may differ in batch size, optimizer, learning rate, schedule, stride and seed; they
    share the data, the model and the dtype. Every :meth:`advance` with work to do is one
    launch of the many-runs kernel, whatever the number of runs.

    Parameters
    ----------
    X, y : numpy.ndarray or device array
        float32 or float64[n, d] and [n] (pass device arrays to share one upload between
        several objects).
    state : RunBatch
        ``R >= 1`` runs (see :mod:`.layout`), arrays of X's dtype where the layout says
        ``dtype``; copied to the device (``state`` itself is not changed: see :meth:`pull`).
    """

    def __init__(self, X, y, state: RunBatch) -> None:
        super().__init__(X, y, state)
        self.perm = cuda.to_device(state.perm)
        self.out = cuda.device_array((self.R, 2), np.int64)

    def advance(self, n_updates, cap: int) -> Chunk:
        """Advance every run ``r`` by up to ``n_updates[r]`` updates, on the device.

        Parameters
        ----------
        n_updates : int or numpy.ndarray
            Updates per run (int64[R], or one int for all), ``>= 0``.
        cap : int
            History points per run this call may record (``>= 1``); a run whose points run
            out stops early, losing nothing.

        Returns
        -------
        Chunk
            As :func:`~.descent.advance_batch` returns (host arrays, ``cap`` points per run),
            but ``seconds[r]`` is the wall time of the whole launch (and its synchronisation)
            for every run that did an update, 0 for the others: the runs share one launch.
        """
        todo = _todo(n_updates, self.R, cap)
        if not todo.any():
            return self._empty_chunk(cap)
        rec = self._records(cap)
        T = threads_for(self.p, config.THREADS_PER_RUN, self.work)
        d_todo = cuda.to_device(todo)
        with _launching():
            t0 = time.perf_counter()
            _runs_kernel[self.R, T, 0, shared_bytes(self.p, T, self.work)](
                self.X, self.y, self.hpf, self.hpi, self.params, self.opt_state, self.perm, self.istate,
                self.fstate, self.gq, d_todo, *rec, self.out,
            )  # fmt: skip
            self.launches_by_kernel["_runs_kernel"] += 1
            out = self.out.copy_to_host()  # synchronises
            wall = time.perf_counter() - t0
        n_done = out[:, 0].copy()
        return Chunk(n_done, out[:, 1].copy(), _seconds(n_done, wall), *(a.copy_to_host() for a in rec))

    def pull(self, state: RunBatch, *, perm: bool = True) -> None:
        """Copy the device state into the host ``state`` (same ``R``, ``n``, ``p``, dtype), in place.

        All of ``params``, ``opt_state``, ``perm`` (unless ``perm=False``: it is a pure
        function of the seed and ``S_PERM_EPOCH``, ``R * n`` integers), ``istate`` and
        ``fstate``; ``hpf``/``hpi`` never change on the device and are left alone.
        """
        self._check_pull(state)
        self._pull_common(state)
        if perm:
            np.copyto(state.perm, self.perm.copy_to_host())


class GpuRun(_DeviceState):
    """One run with a large batch: each update is a grid-wide reduction (see module doc).

    Takes a :class:`~.layout.RunBatch` of one run. The permutation is made on the host by
    :func:`.shuffle.permutation` and uploaded at each epoch start; a full batch (``B = n``)
    sums the rows in data order and needs none on the device. Each update is two launches
    (``grid_partials`` and ``_grid_step``); those of an epoch, or of a whole chunk for a full
    batch, are queued at once.

    Parameters
    ----------
    X, y : numpy.ndarray or device array
        As in :class:`GpuRuns`.
    state : RunBatch
        One run (``R = 1``); copied to the device.
    """

    def __init__(self, X, y, state: RunBatch) -> None:
        super().__init__(X, y, state)
        if self.R != 1:
            raise ValueError(f"GpuRun advances one run, got R={self.R}; use GpuRuns or GpuGroup for many")
        self.B = int(state.hpi[0, I_BATCH])
        self.use_perm = self.B < self.n
        self.perm_host = np.array(state.perm[0])
        self.perm = cuda.to_device(self.perm_host) if self.use_perm else cuda.to_device(np.zeros(1, np.int64))
        self.perm_epoch = int(state.istate[0, S_PERM_EPOCH])  # the epoch perm_host holds (-1: none yet)
        self.ctl = cuda.device_array(3, np.int64)
        self.T = threads_for(self.p, config.GRID_THREADS, self.work)
        self.G = grid_blocks(self.B, self.T)
        self.partials = cuda.device_array((self.G, self.p + 1), np.float64)
        self.pos_view = self.istate.reshape(ISTATE_SIZE)[S_POS : S_POS + 1]  # read on the device

    def _epoch_perm(self, epoch: int) -> np.ndarray:
        h = self.hpi_host[0]
        if h[I_SHUFFLE] and self.B < self.n:  # a full batch has no order, as on the CPU
            return permutation(int(h[I_SEED]), epoch, self.n, np.empty(self.n, np.int64))
        return np.arange(self.n, dtype=np.int64)

    def advance(self, n_updates, cap: int) -> Chunk:
        """Advance the run by up to ``n_updates`` updates (an int, or int64[1]).

        ``cap`` and the returned :class:`~.descent.Chunk` (``R = 1``) as in
        :meth:`GpuRuns.advance`; ``seconds[0]`` is the wall time of this call's launches and
        their synchronisation when the run did an update, else 0.
        """
        todo = int(_todo(n_updates, 1, cap)[0])
        if todo == 0:
            return self._empty_chunk(cap)
        rec = self._records(cap)
        h = self.hpi_host[0]
        n, B, p = self.n, self.B, self.p
        self.ctl.copy_to_device(np.zeros(3, np.int64))
        sh = shared_bytes(p, self.T, self.work)
        hpi_row = self.hpi.reshape(HPI_SIZE)
        params_row = self.params.reshape(p)
        planned = 0
        t0 = time.perf_counter()
        with _launching():
            while planned < todo:
                state = self.istate.copy_to_host()[0]
                if state[S_DIVERGED] >= 0 or self.ctl.copy_to_host()[0] != 0:
                    break
                if self.use_perm:
                    pos, epoch = int(state[S_POS]), int(state[S_EPOCH])
                    if pos == 0 and state[S_PERM_EPOCH] != epoch:
                        self.perm_host = self._epoch_perm(epoch)
                        self.perm_epoch = epoch
                        self.perm.copy_to_device(self.perm_host)
                        state[S_PERM_EPOCH] = epoch
                        self.istate.copy_to_device(state[None, :])
                    left = (n - pos) // B if h[I_DROP_LAST] else -(-(n - pos) // B)
                    k = min(todo - planned, max(left, 1))
                else:  # a full batch: _grid_step follows the epochs, no host round trip
                    k = todo - planned
                for _ in range(k):
                    grid_partials[self.G, self.T, 0, sh](
                        self.X, self.y, self.perm, int(self.use_perm), params_row, hpi_row, self.pos_view, B,
                        self.ctl, self.partials,
                    )  # fmt: skip
                    _grid_step[1, self.T, 0, sh](
                        self.hpf, self.hpi, self.params, self.opt_state, self.istate, self.fstate, self.gq,
                        self.partials, n, self.ctl, *rec,
                    )  # fmt: skip
                self.launches_by_kernel["grid_partials"] += k
                self.launches_by_kernel["_grid_step"] += k
                planned += k
            ctl = self.ctl.copy_to_host()  # synchronises
        wall = time.perf_counter() - t0
        n_done = np.array([ctl[1]], np.int64)
        return Chunk(n_done, np.array([ctl[2]], np.int64), _seconds(n_done, wall), *(a.copy_to_host() for a in rec))

    def pull(self, state: RunBatch, *, perm: bool = True) -> None:
        """Copy the device state into the host ``state`` (``R = 1``), in place, as
        :meth:`GpuRuns.pull`; the order is remade on the host (a full batch's: ``0 .. n-1``)."""
        self._check_pull(state)
        self._pull_common(state)
        if perm:
            held = int(state.istate[0, S_PERM_EPOCH])
            if held >= 0 and held != self.perm_epoch:  # full batch: made only when asked for
                self.perm_host = self._epoch_perm(held)
                self.perm_epoch = held
            np.copyto(state.perm[0], self.perm_host)


def _take(state: RunBatch, rows: list[int]) -> RunBatch:
    """Copies of runs ``rows`` of ``state``, as a new batch."""
    return RunBatch(*(np.ascontiguousarray(a[rows]) for a in state))


class GpuGroup:
    """A batch of runs of mixed batch sizes, advanced as one (see module doc).

    The runs whose batch is below ``config.GRID_MIN_BATCH`` rows go to one :class:`GpuRuns`
    (one launch per :meth:`advance`, whatever their number); each other run to its own
    :class:`GpuRun` (the grid-wide reduction). Results and the returned
    :class:`~.descent.Chunk` are indexed by the runs of the given ``state``.

    Parameters
    ----------
    X, y : numpy.ndarray or device array
        As in :class:`GpuRuns`; host arrays are uploaded once and shared by the parts.
    state : RunBatch
        ``R >= 1`` runs sharing model and dtype; copied to the device.
    grid : sequence of int, optional
        The runs to put on the grid path (default: those with
        ``hpi[r, I_BATCH] >= config.GRID_MIN_BATCH``).
    """

    def __init__(self, X, y, state: RunBatch, grid=None) -> None:
        self.R, self.n, self.p = check_runs(X, y, state)
        self.dtype = np.dtype(X.dtype)
        X, y = _device(X), _device(y)
        if grid is None:
            grid = [r for r in range(self.R) if int(state.hpi[r, I_BATCH]) >= config.GRID_MIN_BATCH]
        grid = sorted({int(r) for r in grid})
        #: Runs on the many-runs path (rows of ``state``, in order) and their GpuRuns.
        self.small = [r for r in range(self.R) if r not in grid]
        self.runs = GpuRuns(X, y, _take(state, self.small)) if self.small else None
        #: ``(row of state, its GpuRun)`` for every run on the grid path.
        self.grid = [(r, GpuRun(X, y, state.row(r))) for r in grid]

    def _parts(self) -> list:
        return ([self.runs] if self.runs is not None else []) + [dev for _, dev in self.grid]

    @property
    def launches_by_kernel(self) -> Counter[str]:
        """Kernel launches made so far by the parts, by kernel name."""
        total: Counter[str] = Counter()
        for part in self._parts():
            total.update(part.launches_by_kernel)
        return total

    @property
    def launches(self) -> int:
        """Kernel launches made so far by all the parts."""
        return sum(part.launches for part in self._parts())

    def advance(self, n_updates, cap: int) -> Chunk:
        """Advance every run ``r`` by up to ``n_updates[r]`` updates; as :meth:`GpuRuns.advance`.

        At most one many-runs launch (none when no small-batch run has work), then each
        large-batch run with work on the grid path. ``seconds[r]`` is the wall time of the
        launches that advanced run ``r`` (the shared launch, or the run's own), 0 when it
        did no update.
        """
        todo = _todo(n_updates, self.R, cap)
        R, p = self.R, self.p
        chunk = Chunk(np.zeros(R, np.int64), np.zeros(R, np.int64), np.zeros(R), np.zeros((R, cap), np.int64),
                      np.zeros((R, cap, p), self.dtype), np.zeros((R, cap)))
        parts = [(self.small, self.runs)] if self.runs is not None else []
        parts += [([r], dev) for r, dev in self.grid]
        for rows, dev in parts:
            if todo[rows].any():
                got = dev.advance(todo[rows], cap)
                for name in ("n_done", "n_points", "seconds", "step", "params", "loss"):
                    getattr(chunk, name)[rows] = getattr(got, name)
        return chunk

    def pull(self, state: RunBatch, *, perm: bool = True) -> None:
        """Copy the device state of every run into the host ``state`` (the group's ``R``), in
        place, as :meth:`GpuRuns.pull`."""
        if not isinstance(state, RunBatch) or state.R != self.R:
            raise ValueError(f"pull needs a RunBatch of {self.R} runs to copy into, got {type(state).__name__}"
                             f"{f' of {state.R}' if isinstance(state, RunBatch) else ''}")
        if self.runs is not None:
            sub = RunBatch(*(np.empty_like(a[self.small]) for a in state))
            self.runs.pull(sub, perm=perm)
            for name in ("params", "opt_state", "perm", "istate", "fstate"):
                if perm or name != "perm":
                    getattr(state, name)[self.small] = getattr(sub, name)
        for r, dev in self.grid:
            dev.pull(state.row(r), perm=perm)


def device_runs(X, y, state: RunBatch) -> GpuRuns | GpuRun | GpuGroup:
    """The shape of work for a batch of runs on one dataset (as the engine hands them over).

    :class:`GpuRuns` when every batch is below ``config.GRID_MIN_BATCH`` rows,
    :class:`GpuRun` for a single run whose batch is not, else a :class:`GpuGroup` (the
    small-batch runs in one launch, each large-batch run on the grid path).
    """
    check_runs(X, y, state)
    large = state.hpi[:, I_BATCH] >= config.GRID_MIN_BATCH
    if not large.any():
        return GpuRuns(X, y, state)
    if state.R == 1:
        return GpuRun(X, y, state)
    return GpuGroup(X, y, state)


def default_cap(state: RunBatch, n_updates) -> int:
    """History points per run enough for ``n_updates`` (as :func:`~.descent.advance_batch`'s default)."""
    todo = np.broadcast_to(np.asarray(n_updates, dtype=np.int64), (state.R,))
    cap = 1
    for r in range(state.R):
        upe = updates_per_epoch(state.n, int(state.hpi[r, I_BATCH]), int(state.hpi[r, I_DROP_LAST]))
        cap = max(cap, history_capacity(int(todo[r]), int(state.hpi[r, I_STRIDE]), upe))
    return cap


def gpu_advance(X, y, state: RunBatch, n_updates, cap: int | None = None, *, grid: bool | None = None) -> Chunk:
    """Advance every run of ``state`` on the GPU, in place: the twin of :func:`~.descent.advance_batch`.

    Parameters
    ----------
    X, y : numpy.ndarray or device array
        float32 or float64[n, d] and [n].
    state : RunBatch
        ``R >= 1`` runs sharing model and dtype; copied to the device, advanced, and copied
        back into these arrays (all of ``params``, ``opt_state``, ``perm``, ``istate``,
        ``fstate``).
    n_updates : int or numpy.ndarray
        Updates per run (int64[R], or one int for all), ``>= 0``.
    cap : int, optional
        History points per run; by default enough for ``n_updates`` (:func:`default_cap`).
    grid : bool, optional
        True: every run on the grid-wide path (a :class:`GpuGroup` of :class:`GpuRun`);
        False: every run in one :class:`GpuRuns` launch; None: as :func:`device_runs`.

    Returns
    -------
    Chunk
        As :func:`~.descent.advance_batch` returns, ``seconds`` as :meth:`GpuGroup.advance`.
    """
    if grid is None:
        dev = device_runs(X, y, state)
    elif grid:
        dev = GpuGroup(X, y, state, grid=range(state.R))
    else:
        dev = GpuRuns(X, y, state)
    chunk = dev.advance(n_updates, default_cap(state, n_updates) if cap is None else cap)
    dev.pull(state)
    return chunk


# --- measures for `gdviz bench --target cuda` ------------------------------------------------


def time_epoch(n: int, d: int, batch: int, runs: int = 1, dtype=np.float32, model: int = MODEL_LINEAR,
               repeats: int = 3, seed: int = 0) -> dict:
    """Seconds for one epoch of ``runs`` SGD runs on random data of ``n`` rows, ``d`` features.

    Picks the shape of work as the engine does (:func:`device_runs`); the first epoch
    (compilation, upload) is not timed. Returns ``{"seconds", "updates", "updates_per_second",
    "bytes_per_second", "shape", "device"}``, the best of ``repeats`` epochs.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = (X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)).astype(dtype)
    if model != MODEL_LINEAR:
        y = (y > 0).astype(dtype)
    R = int(runs)
    upe = updates_per_epoch(n, batch, False)
    state = new_state(R, n, d + 1, dtype)
    for r in range(R):
        set_run(state, r, learning_rate=0.01, model=model, optimizer=OPT_SGD, batch=batch, shuffle=1,
                fit_intercept=1, seed=r, stride=max(1, upe))
    dev = device_runs(X, y, state)
    dev.advance(upe, 4)  # compile and warm up
    cuda.synchronize()
    best = math.inf
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        dev.advance(upe, 4)
        cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    item = np.dtype(dtype).itemsize
    return {
        "seconds": best,
        "updates": upe * R,
        "updates_per_second": upe * R / best,
        "bytes_per_second": R * n * (d + 1) * item / best,
        "shape": type(dev).__name__,
        "device": "simulator" if simulator() else str(getattr(cuda.get_current_device(), "name", "")),
    }


def warm_up(dtype, model: int = MODEL_LINEAR, fit_intercept: int = 1) -> None:
    """Compile the kernels of both shapes of work for ``dtype`` and ``model`` on a two-row
    problem (one update each), so that a run's first chunk is not charged for compilation."""
    dtype = np.dtype(dtype)
    X = np.ones((2, 1), dtype)
    y = np.ones(2, dtype)
    state = new_state(1, 2, 1 + int(fit_intercept), dtype)
    set_run(state, 0, model=model, batch=1, fit_intercept=int(fit_intercept))
    GpuRuns(X, y, state).advance(1, 2)
    GpuRun(X, y, state).advance(1, 2)
