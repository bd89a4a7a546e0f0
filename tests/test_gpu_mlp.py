"""The MLP on the CUDA twin (under Numba's CUDA simulator, as test_gpu_descent.py): both shapes
of work (one block per run; the grid-wide reduction) against the CPU kernel, with the blocks'
sums in shared memory and, with ``config.SHARED_BYTES`` patched down, in global memory."""

from __future__ import annotations

import numpy as np
import pytest
from gdviz.kernels import RunBatch, advance_batch, config
from gdviz.kernels.gpu_losses import block_plan, shared_bytes
from kernel_setup import OPT_BY_NAME, OPTS_ONE_EACH
from test_kernels_mlp import NETS, new_net_runs

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


GLOBAL_RUNS = [(opt, 0.05, dict(batch=B, seed=r + 1, stride=2, shuffle=1))
               for r, (opt, B) in enumerate(zip(OPTS_ONE_EACH, [1, 3, 4, 6, 11]))]


def test_the_rule_picks_shared_memory_while_a_warp_fits_else_global(monkeypatch):
    assert block_plan(601, 128, 40) == (128, True)  # mlp_random's 601 parameters: global memory
    assert block_plan(10, 128, 0) == (128, False)  # a line: a full block in shared memory
    assert block_plan(10, 4, 0) == (4, False)  # fewer wanted than a warp: shared if they all fit
    budget = shared_bytes(100, 32, 0)
    monkeypatch.setattr(config, "SHARED_BYTES", budget)
    assert block_plan(100, 128, 0) == (32, False)  # a warp fits: shared, as many threads as fit
    monkeypatch.setattr(config, "SHARED_BYTES", budget - 8)
    assert block_plan(100, 128, 0) == (128, True)  # 16 would fit: too few, global with 128
    assert block_plan(10**6, 128, 0) == (128, True)  # no limit but device memory


def _global(monkeypatch):
    monkeypatch.setattr(config, "SHARED_BYTES", 64)  # not even one thread's sums fit


@pytest.mark.parametrize("net", [NETS[0], NETS[3]], ids=["one-layer-relu-mse", "two-layers-sigmoid-bce"])
def test_sums_in_global_memory_are_bit_identical_to_shared_memory(net, monkeypatch):
    X, y, state, _, _ = new_net_runs(net, np.float64, 11, GLOBAL_RUNS)
    shared = G.GpuRuns(X, y, state)
    want = [shared.advance(k, 16) for k in (5, 9)]
    _global(monkeypatch)
    dev = G.GpuRuns(X, y, state)
    assert block_plan(dev.p, config.THREADS_PER_RUN, dev.work) == (T, True)
    got = [dev.advance(k, 16) for k in (5, 9)]
    assert dev.launches_by_kernel == {"_runs_kernel": 2}  # still one launch per advance
    assert (got[0].n_done + got[1].n_done == 14).all()
    assert dev._scratch.shape[0] == len(GLOBAL_RUNS)  # one layout per block, allocated once
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a.n_done, b.n_done)
        np.testing.assert_array_equal(a.n_points, b.n_points)
        for r, k in enumerate(a.n_points):  # points past n_points are not written
            for name in ("step", "params", "loss"):
                np.testing.assert_array_equal(getattr(a, name)[r, :k], getattr(b, name)[r, :k])
    for name in ("params", "opt_state", "istate", "fstate", "perm"):
        np.testing.assert_array_equal(getattr(pulled(state, dev), name), getattr(pulled(state, shared), name))
    cpu = RunBatch(*(a.copy() for a in state))
    advance_batch(X, y, cpu, 14)
    np.testing.assert_allclose(pulled(state, dev).params, cpu.params, rtol=G.FLOAT64_RTOL, atol=1e-12)


def test_the_grid_wide_reduction_in_global_memory_matches_shared_memory(monkeypatch):
    X, y, state, _, _ = new_net_runs(NETS[2], np.float64, 17, [(OPT_BY_NAME["adam"], 0.05, dict(batch=17, seed=5))])
    shared = G.GpuRun(X, y, state)
    shared.advance(5, 7)
    _global(monkeypatch)
    dev = G.GpuRun(X, y, state)
    assert dev.in_global and dev.scratch.shape[0] == dev.G
    dev.advance(5, 7)
    np.testing.assert_array_equal(pulled(state, dev).params, pulled(state, shared).params)
    cpu = RunBatch(*(a.copy() for a in state))
    advance_batch(X, y, cpu, 5)
    np.testing.assert_allclose(pulled(state, dev).params, cpu.params, rtol=G.FLOAT64_RTOL, atol=1e-12)


def test_the_engine_counts_global_block_layouts_in_the_device_memory_it_needs(monkeypatch):
    """A model whose blocks' sums live in global memory needs R x (2p + 1 + T(p + 1 + w)) x 8
    bytes more on the device; the engine's estimate for `auto` includes them."""
    monkeypatch.setattr(config, "SHARED_BYTES", 64)  # 601 parameters: global at any block size
    from gdviz.kernels.gpu_losses import block_plan, global_bytes
    from gdviz.kernels.models import describe, work_floats

    from gdviz.data import build_dataset
    from gdviz.engine import Engine
    from gdviz.scenario import load_scenario

    scenario = load_scenario("mlp_random")
    engine = Engine(scenario, build_dataset(scenario))
    w = int(work_floats(describe(engine.runs[0].hpi), engine.d))  # the MLP's activations per row
    T, in_global = block_plan(engine.p, config.THREADS_PER_RUN, w)
    extra = global_bytes(len(engine.runs), engine.p, engine.runs[0].hpi, engine.d)
    assert w > 0 and in_global and extra == len(engine.runs) * (2 * engine.p + 1 + T * (engine.p + 1 + w)) * 8
    data = engine.n * (engine.d + 1) * 8 + 8 * engine.n * len(engine.runs) + (1 << 20)
    assert engine._device_bytes() == data + extra
