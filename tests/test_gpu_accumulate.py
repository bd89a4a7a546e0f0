"""Gradient accumulation on the CUDA twin (kernels/gpu_descent.py), under Numba's CUDA simulator
as test_gpu_descent.py (blocks patched down to 4 threads): both shapes of work against the CPU
kernel, bit for bit in float64 where each micro-batch fits one block's threads."""

from __future__ import annotations

import numpy as np
import pytest

from gdviz.kernels import RunBatch, advance_batch, config
from gdviz.kernels import layout as L
from gdviz.runfacts import updates_per_epoch
from kernel_setup import OPT_BY_NAME, OPTS_ONE_EACH, hyper, make_data
from test_gpu_descent import Stack, assert_matches_cpu, in_memory, records
from test_kernels_mlp import NETS, new_net_runs

G = pytest.importorskip("gdviz.kernels.gpu_descent")

T = 4


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(config, "THREADS_PER_RUN", T)
    monkeypatch.setattr(config, "GRID_THREADS", T)
    monkeypatch.setattr(config, "GRID_BLOCKS", 2)


@pytest.mark.parametrize(("dtype", "memory"), [(np.float64, "shared"), (np.float32, "shared"), (np.float64, "global")])
@pytest.mark.parametrize("model", ["linear", "logistic"])
def test_many_accumulating_runs_in_one_launch_match_the_cpu_kernel(model, dtype, memory, monkeypatch):
    """Every optimizer, accumulate 1 to 5, short last groups, drop_last, a schedule: n = 23."""
    in_memory(memory, monkeypatch)
    n, n_updates = 23, 14
    X, y = make_data(9, n, 2, model, dtype)
    plan = [(1, 2, 0), (3, 3, 0), (4, 4, 1), (2, 5, 0), (6, 1, 0)]  # (B, accumulate, drop_last)
    configs = []
    for r, (opt, (B, k, drop)) in enumerate(zip(OPTS_ONE_EACH, plan)):
        hpf, hpi = hyper(opt, 0.04 + 0.01 * r, model=model, B=B, accumulate=k, drop_last=drop, seed=r + 2,
                         stride=2, schedule=L.SCHED_STEP, gamma=0.7, step_size=1)
        configs.append((opt, hpf, hpi))
    s = Stack(X, y, configs)
    dev = s.device()
    chunk = dev.advance(n_updates, n_updates + 2)
    state = s.pulled(dev)
    for r, (cpu, (_, hpf, hpi)) in enumerate(zip(s.cpu, configs)):
        cpu_got = cpu.advance(n_updates)
        assert cpu_got["n_done"] == n_updates
        exact = dtype == np.float64 and hpi[L.I_BATCH] <= T and G.simulator()
        assert_matches_cpu(records(chunk, r), cpu_got, state, r, cpu, dtype, exact)


@pytest.mark.parametrize("B,k,drop", [(3, 4, 0), (5, 2, 1), (17, 3, 0)])  # 17: the full batch, one micro-batch
@pytest.mark.parametrize("memory", ["shared", "global"])
def test_grid_wide_accumulation_matches_the_cpu_kernel(B, k, drop, memory, monkeypatch):
    """One run on the grid path: each micro-batch two launches, the host queueing whole groups."""
    in_memory(memory, monkeypatch)
    n = 17
    opt = OPT_BY_NAME["adam"]
    X, y = make_data(4, n, 3, "linear", np.float64)
    hpf, hpi = hyper(opt, 0.05, B=B, accumulate=k, drop_last=drop, seed=5, stride=2)
    s = Stack(X, y, [(opt, hpf, hpi)])
    dev = s.device(grid=True)
    upe = updates_per_epoch(n, B, drop, k)
    n_updates = 2 * upe + 1
    chunk = dev.advance(n_updates, n_updates + 4)
    micro = n // B if drop else -(-n // B)
    if B >= n:
        micro = 1
    launched = 2 * micro + min(k, micro)  # two epochs, then the first update of the third
    assert dev.launches_by_kernel == {"grid_partials": launched, "_grid_step": launched}
    cpu_got = s.cpu[0].advance(n_updates)
    assert cpu_got["n_done"] == n_updates == records(chunk, 0)["n_done"]
    assert_matches_cpu(records(chunk, 0), cpu_got, s.pulled(dev), 0, s.cpu[0], np.float64, False)


@pytest.mark.parametrize("grid", [False, True])
def test_accumulating_chunks_are_bit_identical_to_one_call(grid):
    X, y = make_data(5, 11, 2, "logistic", np.float64)
    opt = OPT_BY_NAME["rmsprop-centered-momentum"]
    hpf, hpi = hyper(opt, 0.05, model="logistic", B=2, accumulate=3, seed=9, stride=3)
    one_stack, parts_stack = Stack(X, y, [(opt, hpf, hpi)]), Stack(X, y, [(opt, hpf, hpi)])
    whole, parts = one_stack.device(grid), parts_stack.device(grid)
    one = records(whole.advance(11, 20), 0)
    pieces = [records(parts.advance(c, 20), 0) for c in (0, 1, 3, 0, 2, 5)]
    for key in ("step", "params", "loss"):
        np.testing.assert_array_equal(np.concatenate([p[key] for p in pieces]), one[key])
    for u, v in zip(one_stack.pulled(whole), parts_stack.pulled(parts)):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("grid", [False, True])
def test_an_accumulating_mlp_matches_the_cpu_kernel(grid):
    runs = [(OPT_BY_NAME["adam"], 0.05, dict(batch=3, accumulate=2, seed=5, shuffle=1))]
    X, y, state, _, _ = new_net_runs(NETS[0], np.float64, 13, runs)
    cpu = RunBatch(*(a.copy() for a in state))
    dev = G.GpuRun(X, y, state) if grid else G.GpuRuns(X, y, state)
    dev.advance(7, 9)
    advance_batch(X, y, cpu, 7)
    got = RunBatch(state.hpf.copy(), state.hpi.copy(), *(np.full_like(a, 7) for a in state[2:]))
    dev.pull(got)
    np.testing.assert_allclose(got.params, cpu.params, rtol=G.FLOAT64_RTOL, atol=1e-12)
    np.testing.assert_array_equal(got.istate, cpu.istate)
