"""Large full batches: summed in parallel chunks, still exact and bit for bit deterministic
(chunks are fixed; threads never change a result). A full batch has no sample order: it is
never shuffled, whatever ``shuffle`` says."""

import numpy as np
import pytest

import naive
from gdviz.kernels import permutation
from gdviz.kernels import layout as L
from gdviz.kernels.losses import FULL_CHUNK_ROWS, FULL_PARALLEL_MIN_ROWS, model_hpi
from gdviz.runfacts import updates_per_epoch
from kernel_setup import OPT_BY_NAME, Run, hyper, make_data, stack

N = FULL_PARALLEL_MIN_ROWS + 3 * FULL_CHUNK_ROWS // 2  # takes the parallel path, a short last chunk


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("model", ["linear", "logistic"])
def test_large_full_batch_steps_match_reference_in_data_order(model, dtype):
    X, y = make_data(11, N, 3, model, dtype)
    opt = OPT_BY_NAME["adam"]
    hpf, hpi = hyper(opt, 0.05, model=model, B=N, seed=4)
    run = Run(X, y, hpf, hpi, opt)
    got = run.advance(3)
    ref = naive.descend(X, y, np.zeros(4), opt.naive(0.05), model, True, N, 3,
                        order=lambda e: permutation(4, e, N))  # any order: the same sum
    np.testing.assert_allclose(got["params"], np.array(ref.params), **naive.tol(dtype))
    np.testing.assert_allclose(got["loss"], ref.loss, **naive.tol(dtype))
    assert run.istate[L.S_EPOCH] == 3 and run.istate[L.S_PERM_EPOCH] == 2
    np.testing.assert_array_equal(run.perm, np.arange(N))  # shuffle=1, yet data order


def test_large_full_batch_without_shuffle_keeps_data_order():
    X, y = make_data(12, N, 2, "linear", np.float64)
    hpf, hpi = hyper(OPT_BY_NAME["sgd"], 0.1, B=N, shuffle=0)
    run = Run(X, y, hpf, hpi, OPT_BY_NAME["sgd"])
    run.advance(2)
    np.testing.assert_array_equal(run.perm, np.arange(N))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_large_full_batch_is_bit_identical_across_runs_and_chunkings(dtype):
    X, y = make_data(13, N, 5, "linear", dtype)
    opt = OPT_BY_NAME["sgd-momentum"]
    hpf, hpi = hyper(opt, 0.05, B=N, seed=1, stride=2)
    whole, parts = Run(X, y, hpf, hpi, opt), Run(X, y, hpf, hpi, opt)
    one = whole.advance(5)
    pieces = [parts.advance(k) for k in (1, 0, 3, 1)]
    for key in ("step", "params", "loss"):
        np.testing.assert_array_equal(np.concatenate([c[key] for c in pieces]), one[key])
    for a, b in zip(whole.state(), parts.state()):
        np.testing.assert_array_equal(a, b)
    assert updates_per_epoch(N, N, False) == 1


@pytest.mark.parametrize("n", [50, N])  # the one-thread and the parallel path
def test_full_batch_ignores_shuffle_bit_for_bit(n):
    X, y = make_data(14, n, 3, "linear", np.float32)
    opt = OPT_BY_NAME["adam"]
    runs = []
    for shuffle in (1, 0):
        hpf, hpi = hyper(opt, 0.05, B=n, seed=7, shuffle=shuffle)
        run = Run(X, y, hpf, hpi, opt)
        runs.append((run, run.advance(4)))
    (a, got_a), (b, got_b) = runs
    for key in ("step", "params", "loss"):
        np.testing.assert_array_equal(got_a[key], got_b[key])
    for u, v in zip(a.state(), b.state()):
        np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(a.perm, np.arange(n))
    assert a.istate[L.S_PERM_EPOCH] == 3


def test_full_pass_is_bit_identical_whatever_the_thread_count():
    import numba

    from gdviz.kernels.losses import _full_pass

    X, y = make_data(15, N, 5, "logistic", np.float32)
    theta = np.linspace(-0.3, 0.4, 6).astype(np.float32)
    out = []
    before = numba.get_num_threads()
    try:
        for t in sorted({1, before}):
            numba.set_num_threads(t)
            g = np.empty(6)
            out.append((_full_pass(X, y, theta, model_hpi(L.MODEL_LOGISTIC, 1), g), g))
    finally:
        numba.set_num_threads(before)
    for loss, g in out[1:]:
        assert loss == out[0][0]
        np.testing.assert_array_equal(g, out[0][1])


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_a_large_full_batch_in_a_batch_of_runs_goes_as_alone(parallel):
    """The large full batch takes its own path (threads over rows, not runs) inside one call."""
    from gdviz.kernels import RunBatch, advance_batch

    X, y = make_data(16, N, 2, "logistic", np.float64)
    runs = []
    for opt, B, seed in ((OPT_BY_NAME["adam"], N, 1), (OPT_BY_NAME["sgd-momentum"], 4096, 2),
                         (OPT_BY_NAME["rmsprop"], N, 3)):
        hpf, hpi = hyper(opt, 0.05, model="logistic", B=B, seed=seed, stride=2)
        runs.append(Run(X, y, hpf, hpi, opt))
    batch = stack(runs)
    todo = np.array([3, 5, 0])
    got = advance_batch(X, y, batch, todo, parallel=parallel)
    assert got.n_done.tolist() == todo.tolist()
    assert np.all(np.isfinite(got.seconds)) and np.all(got.seconds >= 0) and got.seconds[2] == 0
    for r, run in enumerate(runs):
        one = run.advance(int(todo[r]))
        k = got.n_points[r]
        assert k == len(one["step"])
        np.testing.assert_array_equal(got.step[r, :k], one["step"])
        np.testing.assert_array_equal(got.params[r, :k], one["params"])
        np.testing.assert_array_equal(got.loss[r, :k], one["loss"])
        for name in RunBatch._fields:
            np.testing.assert_array_equal(getattr(batch, name)[r], getattr(run.batch, name)[0], err_msg=name)
