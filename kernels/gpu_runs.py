"""The host side of the CUDA shapes of work: a batch of runs resident on the device.

:class:`GpuRuns` (many runs on one dataset, one block each, a whole chunk of updates of every
run in one launch of :func:`.gpu_descent._runs_kernel`) and :class:`GpuRun` (one run with a
large batch, each update a grid-wide reduction and a :func:`.gpu_descent._grid_step`), on
the checks of :func:`check_runs`. What they compute, and how closely it agrees with the CPU
kernel, is in :mod:`.gpu_descent`; the engine reaches them through :mod:`.gpu_group`.
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
from numba import cuda

from . import config
from .descent import Chunk
from .gpu_descent import _grid_step, _launching, _runs_kernel
from .gpu_losses import block_plan, grid_blocks, grid_partials, launch_shared_bytes, shared_floats
from .layout import (
    FSTATE_SIZE,
    HPI_SIZE,
    I_ACCUMULATE,
    I_BATCH,
    I_DROP_LAST,
    I_MODEL,
    I_SEED,
    I_SHUFFLE,
    ISTATE_SIZE,
    S_DIVERGED,
    S_EPOCH,
    S_PERM_EPOCH,
    S_POS,
    RunBatch,
    check_state,
)
from .models import work_size
from .shuffle import permutation

# --- checks and helpers ----------------------------------------------------------------------


def _fail(name: str, want: str, arr: object) -> ValueError:
    got = f"{arr.dtype}{list(arr.shape)}" if hasattr(arr, "dtype") and hasattr(arr, "shape") else type(arr).__name__
    return ValueError(f"{name} must be {want}, got {got}")


def _need(name: str, arr: object, dtype: type, shape: tuple[int, ...]) -> None:
    """``arr`` must be a host or device array of this dtype and shape (C-contiguous on the host)."""
    ok = hasattr(arr, "dtype") and arr.dtype == dtype and tuple(arr.shape) == shape
    if isinstance(arr, np.ndarray):
        ok = ok and arr.flags.c_contiguous
    if not ok:
        raise _fail(name, f"a C-contiguous host or device {np.dtype(dtype).name} array of shape {shape}", arr)


def check_runs(X, y, state: RunBatch) -> tuple[int, int, int]:
    """Validate a batch of runs for the GPU: :func:`~.descent.check_batch`'s checks, and more.

    ``X``/``y`` may be host or device arrays; ``state`` is a host :class:`~.layout.RunBatch`
    that :func:`.layout.check_state` accepts, with at least one run, all of one model (one
    launch compiles one; ``fit_intercept`` is then shared through ``p``). Returns
    ``(R, n, p)``; raises ValueError (TypeError for a ``state`` that is no RunBatch).
    """
    if not hasattr(X, "dtype") or len(X.shape) != 2 or X.dtype not in (np.float32, np.float64):
        raise _fail("X", "a 2-d float32 or float64 array (convert with X.astype(np.float64))", X)
    n, d = X.shape
    _need("X", X, X.dtype, (n, d))
    _need("y", y, X.dtype, (n,))
    R, p = check_state(state, n, d, X.dtype)
    if R < 1:
        raise ValueError("need at least one run (R >= 1)")
    models = sorted(set(state.hpi[:, I_MODEL].tolist()))
    if len(models) != 1:
        raise ValueError(f"runs on the GPU must share one model and fit_intercept, got models {models}")
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
        #: Each run's sums over the micro-batches of an update (gradient / accumulate, then loss).
        self.gacc = cuda.device_array((self.R, self.p + 1), np.float64)
        self._rec: dict[int, tuple] = {}
        self._scratch = None
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

    def _global_scratch(self, blocks: int, T: int, in_global: bool):
        """The blocks' float64 layouts in global memory (``blocks`` rows of
        :func:`.gpu_losses.shared_floats`), allocated on first use and reused by every launch;
        a 1x1 placeholder when the blocks use shared memory."""
        shape = (blocks, shared_floats(self.p, T, self.work)) if in_global else (1, 1)
        if self._scratch is None or self._scratch.shape != shape:
            self._scratch = None  # free the old one first
            self._scratch = cuda.device_array(shape, np.float64)
        return self._scratch

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
        T, in_global = block_plan(self.p, config.THREADS_PER_RUN, self.work)
        scratch = self._global_scratch(self.R, T, in_global)
        d_todo = cuda.to_device(todo)
        with _launching():
            t0 = time.perf_counter()
            _runs_kernel[self.R, T, 0, launch_shared_bytes(self.p, T, self.work, in_global)](
                self.X, self.y, self.hpf, self.hpi, self.params, self.opt_state, self.perm, self.istate,
                self.fstate, self.gq, self.gacc, d_todo, *rec, self.out, scratch, int(in_global),
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
    sums the rows in data order and needs none on the device. Each batch (each micro-batch of
    an update, with ``accumulate``) is two launches
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
        self.ctl = cuda.device_array(5, np.int64)  # _grid_step's (stop, n_done, n_points, n_micro, epoch)
        self.T, self.in_global = block_plan(self.p, config.GRID_THREADS, self.work)
        self.G = grid_blocks(self.B, self.T)
        self.scratch = self._global_scratch(self.G, self.T, self.in_global)
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
        acc = int(h[I_ACCUMULATE])
        self.ctl.copy_to_device(np.zeros(5, np.int64))
        sh = launch_shared_bytes(p, self.T, self.work, self.in_global)
        scratch, in_global = self.scratch, int(self.in_global)
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
                    left = max(left, 1)  # batches left in the epoch, each a micro-batch of an update
                    updates = min(todo - planned, -(-left // acc))
                    k = min(left, updates * acc)
                else:  # a full batch: _grid_step follows the epochs, no host round trip
                    updates = k = todo - planned  # each batch an epoch, each epoch an update
                for _ in range(k):
                    grid_partials[self.G, self.T, 0, sh](
                        self.X, self.y, self.perm, int(self.use_perm), params_row, hpi_row, self.pos_view, B,
                        self.ctl, self.partials, scratch, in_global,
                    )  # fmt: skip
                    _grid_step[1, self.T, 0, sh](
                        self.hpf, self.hpi, self.params, self.opt_state, self.istate, self.fstate, self.gq,
                        self.gacc, self.partials, n, self.ctl, *rec, scratch, in_global,
                    )  # fmt: skip
                self.launches_by_kernel["grid_partials"] += k
                self.launches_by_kernel["_grid_step"] += k
                planned += updates
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
