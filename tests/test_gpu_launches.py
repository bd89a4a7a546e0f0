"""Groups of runs on the CUDA target as the engine hands them over (kernels/gpu_group.py).

All runs of a dtype go to one ``device_runs`` object: the small-batch runs share one launch of
the many-runs kernel per ``advance``, whatever their number, and each large-batch run takes the
grid-wide path. Counted here (by the object's own counter and by a wrapper around the kernel)
and compared with the CPU's ``advance_batch``: bit for bit in float64 where the summation order
is the same (a batch of at most ``T`` rows on the many-runs path, under the simulator), else to
``FLOAT64_RTOL``. Blocks of 4 threads, and the grid path from 6 rows up.
"""

from __future__ import annotations

import numpy as np
import pytest

from gdviz.kernels import RunBatch, advance_batch, config
from gdviz.kernels import layout as L
from kernel_setup import OPT_BY_NAME, Run, hyper, make_data, stack

G = pytest.importorskip("gdviz.kernels.gpu_descent")
gpu_runs = pytest.importorskip("gdviz.kernels.gpu_runs")

T = 4  # threads per block
GRID_MIN = 6  # a batch of this many rows or more takes the grid-wide path
N, D, CAP = 13, 2, 24

# (optimizer, lr, batch, seed, other settings): a pool of runs that differ in all of these.
POOL = [
    ("sgd-nesterov-wd", 0.05, 1, 1, {}),
    ("adam-amsgrad-wd", 0.03, N, 2, {"schedule": L.SCHED_STEP, "step_size": 2, "gamma": 0.5}),  # grid, full
    ("adamw", 0.1, 3, 3, {"schedule": L.SCHED_EXPONENTIAL, "gamma": 0.9, "stride": 2}),
    ("rmsprop-centered-momentum", 0.01, 7, 4, {"schedule": L.SCHED_COSINE, "t_max": 4.0, "drop_last": 1}),  # grid
    ("adagrad-decay-wd-init", 0.2, 4, 5, {"stride": 3}),
    ("sgd-momentum", 0.02, 2, 6, {"shuffle": 0}),
    ("adam", 0.05, 5, 7, {}),  # more rows than threads: many-runs path, another summation order
]


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(config, "THREADS_PER_RUN", T)
    monkeypatch.setattr(config, "GRID_THREADS", T)
    monkeypatch.setattr(config, "GRID_BLOCKS", 2)
    monkeypatch.setattr(config, "GRID_MIN_BATCH", GRID_MIN)


class Counting:
    """A kernel whose launches (``kernel[grid, block, ...](...)``) are counted."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.launches = 0

    def __getitem__(self, config):
        self.launches += 1
        return self.kernel[config]


@pytest.fixture
def runs_kernel(monkeypatch):
    counting = Counting(G._runs_kernel)
    monkeypatch.setattr(gpu_runs, "_runs_kernel", counting)  # where GpuRuns.advance looks it up
    return counting


def group(R: int, model: str) -> tuple[np.ndarray, np.ndarray, RunBatch]:
    X, y = make_data(11, N, D, model, np.float64)
    runs = []
    for name, lr, B, seed, kw in POOL[:R]:
        hpf, hpi = hyper(OPT_BY_NAME[name], lr, model=model, B=B, seed=seed, **kw)
        runs.append(Run(X, y, hpf, hpi, OPT_BY_NAME[name]))
    return X, y, stack(runs)


def chunks(R: int) -> list[np.ndarray]:
    """Updates per run for each advance: uneven, some runs idle, run 0 (small) always busy."""
    return [np.array([(5 + 3 * r + 2 * k) % 9 if r else 4 + k for r in range(R)], np.int64) for k in range(4)]


def compare(got, want, exact, rows=None):
    for r in rows if rows is not None else range(len(exact)):
        k = int(want.n_points[r])
        assert (got.n_done[r], got.n_points[r]) == (want.n_done[r], k)
        np.testing.assert_array_equal(got.step[r, :k], want.step[r, :k])
        for name in ("params", "loss"):
            a, b = getattr(got, name)[r, :k], getattr(want, name)[r, :k]
            if exact[r]:
                np.testing.assert_array_equal(a, b)
            else:
                np.testing.assert_allclose(a, b, rtol=G.FLOAT64_RTOL, atol=1e-12)


def compare_state(got: RunBatch, want: RunBatch, exact):
    for r, ex in enumerate(exact):
        for name in ("perm", "istate"):
            np.testing.assert_array_equal(getattr(got, name)[r], getattr(want, name)[r])
        for name in ("params", "opt_state", "fstate"):
            a, b = getattr(got, name)[r], getattr(want, name)[r]
            if ex:
                np.testing.assert_array_equal(a, b)
            else:
                np.testing.assert_allclose(a, b, rtol=G.FLOAT64_RTOL, atol=1e-12)


def garbage(state: RunBatch) -> RunBatch:
    return RunBatch(state.hpf.copy(), state.hpi.copy(), *(np.full_like(a, 7) for a in state[2:]))


@pytest.mark.parametrize("model", ["linear", "logistic"])
@pytest.mark.parametrize("R", [1, 3, 7])
def test_one_many_runs_launch_per_advance_whatever_the_number_of_runs(R, model, runs_kernel):
    X, y, gpu = group(R, model)
    cpu, before = RunBatch(*(a.copy() for a in gpu)), RunBatch(*(a.copy() for a in gpu))
    B = gpu.hpi[:, L.I_BATCH]
    on_grid = B >= GRID_MIN
    exact = ~on_grid & (B <= T) & G.simulator()  # a real GPU may fuse multiply-adds: rounding, not bits
    dev = G.device_runs(X, y, gpu)
    assert type(dev) is (G.GpuRuns if R == 1 else G.GpuGroup)
    grid_updates = 0
    for k, todo in enumerate(chunks(R)):
        got = dev.advance(todo, CAP)
        want = advance_batch(X, y, cpu, todo, CAP)
        assert runs_kernel.launches == dev.launches_by_kernel["_runs_kernel"] == k + 1
        grid_updates += int(todo[on_grid].sum())
        assert dev.launches_by_kernel["grid_partials"] == dev.launches_by_kernel["_grid_step"] == grid_updates
        assert dev.launches == k + 1 + 2 * grid_updates
        compare(got, want, exact)
        assert np.all((got.seconds > 0) == (got.n_done > 0))
        # the small-batch runs shared one launch: one wall time
        assert len(set(got.seconds[~on_grid & (got.n_done > 0)].tolist())) == 1
    for a, b in zip(gpu, before):  # the host state is untouched until pulled...
        np.testing.assert_array_equal(a, b)
    pulled = garbage(gpu)
    dev.pull(pulled)
    compare_state(pulled, cpu, exact)  # ...then it is the CPU's


def test_runs_of_a_group_are_independent_of_each_other():
    """A run gives the same path alone and among others, on either path."""
    X, y, state = group(7, "logistic")
    together = G.gpu_advance(X, y, state, 11, CAP)
    for r in (0, 3, 6):  # small exact, grid, small
        X, y, alone = group(7, "logistic")
        got = G.gpu_advance(X, y, alone.row(r), 11, CAP)
        k = int(got.n_points[0])
        np.testing.assert_array_equal(got.step[0, :k], together.step[r, :k])
        np.testing.assert_array_equal(got.params[0, :k], together.params[r, :k])


def test_device_runs_picks_the_shape_of_work():
    X, y, state = group(7, "linear")
    small = RunBatch.stack([state.row(r) for r in (0, 2, 4)])
    assert type(G.device_runs(X, y, small)) is G.GpuRuns
    assert type(G.device_runs(X, y, state.row(1))) is G.GpuRun
    mixed = G.device_runs(X, y, state)
    assert type(mixed) is G.GpuGroup
    assert mixed.small == [0, 2, 4, 5, 6] and [r for r, _ in mixed.grid] == [1, 3]


def test_a_group_with_only_grid_runs_busy_makes_no_many_runs_launch(runs_kernel):
    X, y, state = group(3, "linear")
    dev = G.device_runs(X, y, state)
    got = dev.advance(np.array([0, 4, 0]), CAP)
    assert runs_kernel.launches == 0 and dev.launches == 8
    assert got.n_done.tolist() == [0, 4, 0] and got.seconds[0] == got.seconds[2] == 0 < got.seconds[1]


def test_pull_can_leave_the_order_alone():
    X, y, state = group(7, "linear")
    dev = G.device_runs(X, y, state)
    dev.advance(5, CAP)
    pulled = garbage(state)
    dev.pull(pulled, perm=False)
    assert np.all(pulled.perm == 7) and not np.any(pulled.istate == 7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("model", [L.MODEL_LINEAR, L.MODEL_LOGISTIC])
def test_warm_up_runs_both_shapes(model, dtype, runs_kernel):
    G.warm_up(dtype, model, fit_intercept=model == L.MODEL_LOGISTIC)
    assert runs_kernel.launches == 1


def test_the_engine_makes_one_many_runs_launch_per_chunk(engine_factory, runs_kernel, monkeypatch):
    """The engine's whole group goes to device_runs: the full-batch run on the grid path, the
    others sharing one launch per chunk, and the histories those of the CPU engine."""
    monkeypatch.setattr(G, "warm_up", lambda *args, **kwargs: None)  # count the chunks' launches only
    text = f"""
title = "mixed"
seed = 1
[data]
source = "linear"
n = {N}
d = 2
[train]
epochs = 2
learning_rate = 0.05
optimizer = "adam"
[[runs]]
batch_size = "full"
[[runs]]
batch_size = 1
[[runs]]
batch_size = 3
optimizer = "sgd"
learning_rate = 0.02
"""
    cpu, gpu = engine_factory(text), engine_factory(text, target="cuda")
    busy_chunks = 0
    while not gpu.done:
        busy_chunks += any(not run.done for run in gpu.runs[1:])
        gpu.advance()
    cpu.run_to_end()
    assert gpu.target == "cuda" and busy_chunks >= 1 and runs_kernel.launches == busy_chunks
    for a, b in zip(cpu.runs, gpu.runs):
        assert a.step == b.step == a.total_updates
        np.testing.assert_array_equal(a.history.step, b.history.step)
        np.testing.assert_allclose(a.history.params, b.history.params, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(a.history.loss, b.history.loss, rtol=1e-10, atol=1e-12)
