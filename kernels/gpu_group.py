"""The CUDA target as the engine and ``gdviz bench`` use it: groups of runs, and measures.

:func:`device_runs` picks the shape of work for a batch of runs on one dataset (a
:class:`~.gpu_runs.GpuRuns`, a :class:`~.gpu_runs.GpuRun`, or a :class:`GpuGroup` of both);
:func:`gpu_advance` is the functional twin of :func:`~.descent.advance_batch`;
:func:`warm_up` compiles the kernels ahead of a run's first chunk and :func:`time_epoch`
times one epoch for ``gdviz bench --target cuda``. The kernels and what they compute are in
:mod:`.gpu_descent`, which also answers for every name here (``gpu_descent.device_runs``).
"""

from __future__ import annotations

import math
import time
from collections import Counter

import numpy as np
from numba import cuda

from gdviz.runfacts import updates_per_epoch

from . import config
from .descent import Chunk, history_capacity
from .gpu_descent import simulator
from .gpu_runs import GpuRun, GpuRuns, _device, _todo, check_runs
from .layout import (
    I_ACCUMULATE,
    I_BATCH,
    I_DROP_LAST,
    I_STRIDE,
    MODEL_LINEAR,
    OPT_SGD,
    RunBatch,
    new_state,
    set_run,
)


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
        upe = updates_per_epoch(state.n, int(state.hpi[r, I_BATCH]), int(state.hpi[r, I_DROP_LAST]),
                                int(state.hpi[r, I_ACCUMULATE]))
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


def warm_up(dtype, model: int = MODEL_LINEAR, fit_intercept: int = 1, **settings: int) -> None:
    """Compile the kernels of both shapes of work for ``dtype`` and ``model`` on a two-row
    problem (one update each), so that a run's first chunk is not charged for compilation.
    ``settings``: the model's other ``set_run`` keywords (an MLP's ``hidden1``, ...)."""
    from .losses import model_hpi
    from .models import n_params

    dtype = np.dtype(dtype)
    X = np.ones((2, 1), dtype)
    y = np.ones(2, dtype)
    state = new_state(1, 2, int(n_params(model_hpi(model, fit_intercept, **settings), 1)), dtype)
    set_run(state, 0, model=model, batch=1, fit_intercept=int(fit_intercept), **settings)
    GpuRuns(X, y, state).advance(1, 2)
    GpuRun(X, y, state).advance(1, 2)
