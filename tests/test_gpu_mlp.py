"""The MLP on the CUDA twin (under Numba's CUDA simulator, as test_gpu_descent.py): both shapes
of work (one block per run; the grid-wide reduction) against the CPU kernel."""

from __future__ import annotations

import numpy as np
import pytest

from gdviz.kernels import RunBatch, advance_batch, config
from test_kernels_mlp import NETS, new_net_runs
from kernel_setup import OPT_BY_NAME, OPTS_ONE_EACH

G = pytest.importorskip("gdviz.kernels.gpu_descent")

T = 4


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(config, "THREADS_PER_RUN", T)
    monkeypatch.setattr(config, "GRID_THREADS", T)
    monkeypatch.setattr(config, "GRID_BLOCKS", 2)


def pulled(state, dev) -> RunBatch:
    out = RunBatch(state.hpf.copy(), state.hpi.copy(), *(np.full_like(a, 7) for a in state[2:]))
    dev.pull(out)
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("net", [NETS[0], NETS[3]], ids=["one-layer-relu-mse", "two-layers-sigmoid-bce"])
def test_many_mlp_runs_in_one_launch_match_the_cpu_kernel(net, dtype):
    runs = [(opt, 0.05, dict(batch=B, seed=r + 1, stride=3, shuffle=1))
            for r, (opt, B) in enumerate(zip(OPTS_ONE_EACH, [1, 3, 4, 6, 11]))]
    X, y, state, _, _ = new_net_runs(net, dtype, 11, runs)
    cpu = RunBatch(*(a.copy() for a in state))
    dev = G.GpuRuns(X, y, state)
    dev.advance(14, 16)
    got = pulled(state, dev)
    advance_batch(X, y, cpu, 14)
    rtol = G.FLOAT64_RTOL if dtype == np.float64 else G.FLOAT32_RTOL
    np.testing.assert_allclose(got.params, cpu.params, rtol=rtol, atol=1e-12 if dtype == np.float64 else 2e-5)
    np.testing.assert_array_equal(got.istate, cpu.istate)


def test_an_mlp_on_the_grid_wide_reduction_matches_the_cpu_kernel():
    X, y, state, _, _ = new_net_runs(NETS[2], np.float64, 17, [(OPT_BY_NAME["adam"], 0.05, dict(batch=17, seed=5))])
    cpu = RunBatch(*(a.copy() for a in state))
    dev = G.GpuRun(X, y, state)
    dev.advance(5, 7)
    advance_batch(X, y, cpu, 5)
    np.testing.assert_allclose(pulled(state, dev).params, cpu.params, rtol=G.FLOAT64_RTOL, atol=1e-12)
