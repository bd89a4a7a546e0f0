"""The CUDA epoch loop (kernels/gpu_descent.py), twin of test_kernels_descent.py.

Runs under Numba's CUDA simulator (conftest switches it on) on small shapes, with the block
sizes patched down to 4 threads so that even these batches cross several threads and
blocks. Compared with the CPU kernel (bit for bit where the summation order is the same and
the simulator runs the kernels, else to ``FLOAT64_RTOL``) and with the NumPy references of
naive.py. The launch counts and
mixed groups of runs are in test_gpu_launches.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import naive
from gdviz.kernels import RunBatch, advance_batch, config, permutation
from gdviz.kernels import layout as L
from gdviz.runfacts import updates_per_epoch
from kernel_setup import OPT_BY_NAME, OPTS_ONE_EACH, Run, hyper, make_data, stack

G = pytest.importorskip("gdviz.kernels.gpu_descent")

T = 4  # threads per block in these tests
SGD = OPT_BY_NAME["sgd"]


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(config, "THREADS_PER_RUN", T)
    monkeypatch.setattr(config, "GRID_THREADS", T)
    monkeypatch.setattr(config, "GRID_BLOCKS", 2)


def in_memory(memory: str, monkeypatch) -> None:
    """``"global"``: shared memory patched too small for even one thread's sums, so that the
    blocks keep them in global memory (gpu_losses.block_plan)."""
    if memory == "global":
        monkeypatch.setattr(config, "SHARED_BYTES", 64)


def tol(dtype) -> dict:
    return {"rtol": G.FLOAT64_RTOL, "atol": 1e-12} if dtype == np.float64 else {"rtol": G.FLOAT32_RTOL, "atol": 2e-5}


class Stack:
    """Fresh runs (kernel_setup.Run each) stacked in one RunBatch for the GPU, and their CPU twins."""

    def __init__(self, X, y, configs):
        """``configs``: list of ``(opt, hpf, hpi)``."""
        self.X, self.y = X, y
        self.cpu = [Run(X, y, hpf, hpi, opt) for opt, hpf, hpi in configs]
        self.state = stack([Run(X, y, hpf, hpi, opt) for opt, hpf, hpi in configs])

    def device(self, grid=False):
        return G.GpuRun(self.X, self.y, self.state) if grid else G.GpuRuns(self.X, self.y, self.state)

    def pulled(self, dev) -> RunBatch:
        """The device state pulled into a fresh RunBatch (garbage until then; pull leaves hpf, hpi)."""
        out = RunBatch(self.state.hpf.copy(), self.state.hpi.copy(), *(np.full_like(a, 7) for a in self.state[2:]))
        dev.pull(out)
        return out


def records(chunk, r):
    k = int(chunk.n_points[r])
    return {"n_done": int(chunk.n_done[r]), "step": chunk.step[r, :k], "params": chunk.params[r, :k],
            "loss": chunk.loss[r, :k]}


def assert_matches_cpu(got, cpu_got, state, r, cpu_run, dtype, exact):
    """Run ``r``'s records and pulled ``state`` against its CPU twin's."""
    check = np.testing.assert_array_equal if exact else (lambda a, b: np.testing.assert_allclose(a, b, **tol(dtype)))
    assert got["n_done"] == cpu_got["n_done"]
    np.testing.assert_array_equal(got["step"], cpu_got["step"])
    for key in ("params", "loss"):
        check(got[key], cpu_got[key])
    check(state.params[r], cpu_run.params)
    check(state.opt_state[r], cpu_run.opt_state)
    np.testing.assert_array_equal(state.perm[r], cpu_run.perm)
    np.testing.assert_array_equal(state.istate[r], cpu_run.istate)
    np.testing.assert_allclose(state.fstate[r], cpu_run.fstate, **tol(dtype))


@pytest.mark.parametrize(("dtype", "memory"), [(np.float64, "shared"), (np.float32, "shared"), (np.float64, "global")])
@pytest.mark.parametrize("model", ["linear", "logistic"])
def test_many_runs_in_one_launch_match_the_cpu_kernel(model, dtype, memory, monkeypatch):
    """One block per run: every optimizer, batch sizes below, at and above the block size,
    schedules, learning rates and seeds; bit-identical to the CPU where a batch fits in one
    block, with the blocks' sums in shared or in global memory."""
    in_memory(memory, monkeypatch)
    n, n_updates = 13, 16
    X, y = make_data(3, n, 2, model, dtype)
    batches = [1, 3, 4, 6, 13]
    schedules = [L.SCHED_CONSTANT, L.SCHED_STEP, L.SCHED_EXPONENTIAL, L.SCHED_COSINE, L.SCHED_COSINE]
    configs = []
    for r, (opt, B, sched) in enumerate(zip(OPTS_ONE_EACH, batches, schedules)):
        hpf, hpi = hyper(opt, 0.05 + 0.01 * r, model=model, B=B, seed=r + 1, stride=3, schedule=sched, gamma=0.7,
                         step_size=2, t_max=4.0)
        configs.append((opt, hpf, hpi))
    s = Stack(X, y, configs)
    dev = s.device()
    chunk = dev.advance(n_updates, n_updates + 2)
    assert dev.launches == 1
    assert (dev._scratch.shape[0] == len(configs)) == (memory == "global")
    state = s.pulled(dev)
    for r, (cpu, (_, hpf, hpi)) in enumerate(zip(s.cpu, configs)):
        cpu_got = cpu.advance(n_updates)
        exact = dtype == np.float64 and hpi[L.I_BATCH] <= T and G.simulator()  # a GPU may fuse multiply-adds
        assert_matches_cpu(records(chunk, r), cpu_got, state, r, cpu, dtype, exact)


@pytest.mark.parametrize("model", ["linear", "logistic"])
@pytest.mark.parametrize("B", [5, 17])  # a mini-batch over 2 blocks, and the full batch
@pytest.mark.parametrize("memory", ["shared", "global"])
def test_grid_wide_reduction_matches_the_cpu_kernel(model, B, memory, monkeypatch):
    """One run, each update a grid-wide reduction; drop_last and a schedule included; the
    blocks' sums in shared or in global memory."""
    in_memory(memory, monkeypatch)
    n, n_updates = 17, 9
    X, y = make_data(4, n, 3, model, np.float64)
    opt = OPT_BY_NAME["adam"]
    hpf, hpi = hyper(opt, 0.05, model=model, B=B, seed=5, stride=2, drop_last=1, schedule=L.SCHED_EXPONENTIAL,
                     gamma=0.9)
    s = Stack(X, y, [(opt, hpf, hpi)])
    dev = s.device(grid=True)
    assert dev.in_global == (memory == "global")
    chunk = dev.advance(n_updates, n_updates + 2)
    assert dev.launches_by_kernel == {"grid_partials": n_updates, "_grid_step": n_updates}
    cpu_got = s.cpu[0].advance(n_updates)
    assert_matches_cpu(records(chunk, 0), cpu_got, s.pulled(dev), 0, s.cpu[0], np.float64, False)


@pytest.mark.parametrize("grid", [False, True])
def test_chunked_advance_is_bit_identical_to_one_call(grid):
    """Chunks of 0, 1 and odd sizes crossing epoch ends, on device-resident state."""
    X, y = make_data(5, 11, 2, "logistic", np.float64)
    opt = OPT_BY_NAME["rmsprop-centered-momentum"]
    hpf, hpi = hyper(opt, 0.05, model="logistic", B=3, seed=9, stride=3, schedule=L.SCHED_COSINE, t_max=4.0)
    one_stack, parts_stack = Stack(X, y, [(opt, hpf, hpi)]), Stack(X, y, [(opt, hpf, hpi)])
    whole, parts = one_stack.device(grid), parts_stack.device(grid)
    one = records(whole.advance(17, 20), 0)
    pieces = [records(parts.advance(k, 20), 0) for k in (0, 1, 5, 0, 4, 7)]
    assert sum(p["n_done"] for p in pieces) == one["n_done"] == 17
    for key in ("step", "params", "loss"):
        np.testing.assert_array_equal(np.concatenate([p[key] for p in pieces]), one[key])
    for u, v in zip(one_stack.pulled(whole), parts_stack.pulled(parts)):
        np.testing.assert_array_equal(u, v)


def test_runs_advance_by_their_own_number_of_updates():
    X, y = make_data(6, 10, 2, "linear", np.float64)
    hpf, hpi = hyper(SGD, 0.05, B=2, seed=1, stride=1)
    s = Stack(X, y, [(SGD, hpf, hpi)] * 3)
    chunk = s.device().advance(np.array([0, 3, 7]), 10)
    assert chunk.n_done.tolist() == [0, 3, 7] and chunk.n_points.tolist() == [0, 3, 7]
    np.testing.assert_array_equal(chunk.params[2, :3], chunk.params[1, :3])
    assert chunk.seconds[0] == 0 and chunk.seconds[1] == chunk.seconds[2] > 0  # one launch, its wall time


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_history_matches_the_numpy_reference(dtype):
    n, B, n_updates, seed = 9, 4, 12, 3
    X, y = make_data(7, n, 2, "linear", dtype)
    opt = OPT_BY_NAME["sgd-momentum"]
    hpf, hpi = hyper(opt, 0.05, B=B, seed=seed, stride=2)
    s = Stack(X, y, [(opt, hpf, hpi)])
    got = records(s.device().advance(n_updates, 20), 0)
    ref = naive.descend(X, y, np.zeros(3), opt.naive(0.05), "linear", True, B, n_updates,
                        order=lambda e: permutation(seed, e, n), stride=2)
    np.testing.assert_array_equal(got["step"], ref.rec_step)
    np.testing.assert_allclose(got["params"], np.array(ref.rec_params), **naive.tol(dtype))
    np.testing.assert_allclose(got["loss"], ref.rec_loss, **naive.tol(dtype))


def test_without_shuffle_samples_come_in_data_order():
    X, y = make_data(8, 10, 2, "linear", np.float64)
    hpf, hpi = hyper(SGD, 0.05, B=4, shuffle=0)
    s = Stack(X, y, [(SGD, hpf, hpi)])
    dev = s.device()
    dev.advance(4, 8)
    assert s.pulled(dev).perm[0].tolist() == list(range(10))


@pytest.mark.parametrize("grid", [False, True])
def test_huge_learning_rate_marks_the_run_diverged_and_stops_it(grid):
    X, y = make_data(2, 16, 3, "linear", np.float64)
    hpf, hpi = hyper(SGD, 1e6, B=8)
    s = Stack(X, y, [(SGD, hpf, hpi)])
    dev = s.device(grid)
    got = records(dev.advance(40, 45), 0)
    istate = s.pulled(dev).istate[0]
    k = istate[L.S_DIVERGED]
    assert 1 <= k < 40 and got["n_done"] == k == istate[L.S_STEP] == got["step"][-1]
    assert not (np.isfinite(got["loss"][-1]) and np.all(np.isfinite(got["params"][-1])))
    again = dev.advance(5, 8)
    assert again.n_done[0] == 0 and again.n_points[0] == 0 and again.seconds[0] == 0


@pytest.mark.parametrize("grid", [False, True])
def test_a_full_record_buffer_stops_early_and_loses_nothing(grid):
    X, y = make_data(1, 12, 2, "linear", np.float64)
    hpf, hpi = hyper(SGD, 0.05, B=3, stride=2)
    whole, parts = Stack(X, y, [(SGD, hpf, hpi)]).device(grid), Stack(X, y, [(SGD, hpf, hpi)]).device(grid)
    one = records(whole.advance(12, 14), 0)
    first = records(parts.advance(12, 3), 0)
    assert len(first["step"]) == 3 and first["n_done"] < 12
    rest = records(parts.advance(12 - first["n_done"], 14), 0)
    np.testing.assert_array_equal(np.concatenate([first["step"], rest["step"]]), one["step"])
    np.testing.assert_array_equal(np.concatenate([first["params"], rest["params"]]), one["params"])


@pytest.mark.parametrize("grid", [None, False, True])
def test_gpu_advance_is_advance_batch_in_place(grid):
    """The functional twin: same Chunk class, same history, state advanced in place."""
    X, y = make_data(9, 10, 2, "logistic", np.float32)
    opt = OPT_BY_NAME["adagrad"]
    hpf, hpi = hyper(opt, 0.1, model="logistic", B=2, seed=4)
    gpu = stack([Run(X, y, hpf, hpi, opt)] * 2)
    cpu = RunBatch(*(a.copy() for a in gpu))
    got = G.gpu_advance(X, y, gpu, 6, grid=grid)
    want = advance_batch(X, y, cpu, 6)
    assert type(got) is type(want) and got.step.shape == want.step.shape
    assert got.n_done.tolist() == [6, 6] and got.n_points.tolist() == [6, 6]
    np.testing.assert_array_equal(got.step[:, :6], want.step[:, :6])
    np.testing.assert_allclose(got.params[:, :6], want.params[:, :6], **tol(np.float32))
    np.testing.assert_allclose(gpu.params, cpu.params, **tol(np.float32))
    for name in ("perm", "istate"):
        np.testing.assert_array_equal(getattr(gpu, name), getattr(cpu, name))


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda a: a["state"].hpi.__setitem__((1, L.I_MODEL), L.MODEL_LOGISTIC), "share one model"),
        (lambda a: a["state"].hpi.__setitem__((0, L.I_BATCH), 0), "I_BATCH"),
        (lambda a: a["state"].hpi.__setitem__((0, L.I_OPTIMIZER), 9), "I_OPTIMIZER"),
        (lambda a: a.update(state=a["state"]._replace(params=a["state"].params.astype(np.float32))),
         "state.params must be"),
        (lambda a: a.update(state=a["state"]._replace(perm=a["state"].perm[:, :1].copy())), "state.perm must be"),
        (lambda a: a.update(y=a["y"].astype(np.float32)), "y must be"),
        (lambda a: a.update(state=RunBatch(*(x[:0] for x in a["state"]))), "at least one run"),
        # the per-run checks are the CPU's (layout.check_state), messages and all
        (lambda a: a["state"].hpi.__setitem__((1, L.I_FIT_INTERCEPT), 0), "run 1: the model has 2 param"),
        (lambda a: a["state"].hpi.__setitem__((1, L.I_STRIDE), 0), r"run 1: hpi\[I_STRIDE\] must be >= 1"),
        (lambda a: a["state"].istate.__setitem__((1, L.S_POS), 4), "run 1: istate is mid-epoch"),
        (lambda a: a.update(state=a["state"]._replace(fstate=np.broadcast_to(a["state"].fstate, (2, 1)))),
         r"state\.fstate must be .*writable"),  # read-only
    ],
)
def test_run_state_is_checked(change, match):
    X, y = make_data(0, 10, 2, "linear", np.float64)
    hpf, hpi = hyper(SGD, 0.1, B=2)
    args = {"X": X, "y": y, "state": stack([Run(X, y, hpf, hpi, SGD)] * 2)}
    change(args)
    with pytest.raises(ValueError, match=match):
        G.GpuRuns(**args)
    with pytest.raises(ValueError, match=match):
        G.device_runs(**args)


def test_pull_refuses_a_state_of_another_shape():
    X, y = make_data(0, 10, 2, "linear", np.float64)
    hpf, hpi = hyper(SGD, 0.1, B=2)
    s = Stack(X, y, [(SGD, hpf, hpi)] * 2)
    with pytest.raises(ValueError, match="state.params must be"):
        s.device().pull(RunBatch.stack([s.state.row(0)]))


def test_time_epoch_reports_rates():
    got = G.time_epoch(12, 2, 4, runs=2, dtype=np.float32, repeats=1)
    assert got["updates"] == 2 * updates_per_epoch(12, 4, False) and got["shape"] == "GpuRuns"
    assert got["seconds"] > 0 and math.isfinite(got["updates_per_second"])
