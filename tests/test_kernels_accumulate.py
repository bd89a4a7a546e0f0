"""Gradient accumulation in the epoch loop (``accumulate = k``, kernels/descent.py).

Against the literal PyTorch-style loop of ``naive.descend_accumulated`` (every model, one
configuration of each optimizer, float64 and float32, short last groups, ``drop_last``),
against a k-times larger batch without accumulation (to rel 1e-12 in float64), and for the
resumable loop's promises: chunk sizes and batching with other runs change no bit.
"""

import math

import numpy as np
import pytest

import naive
from gdviz.kernels import RunBatch, advance_batch, new_state, permutation, set_run
from gdviz.kernels import layout as L
from gdviz.kernels.losses import model_hpi
from gdviz.runfacts import updates_per_epoch
from kernel_setup import F32_PRODUCTS, OPT_BY_NAME, OPTS_ONE_EACH, Run, hyper, make_data

SGD, ADAM = OPT_BY_NAME["sgd"], OPT_BY_NAME["adam"]
NET = naive.MLP(3, (5,), "tanh", "mse")


def mlp_run(X, y, *, B, k, optimizer, lr, shuffle, seed=3, drop_last=0, stride=1):
    """An MLP run (3 -> 5 -> 1, tanh) as a RunBatch of one, from seeded parameters."""
    theta0 = np.random.default_rng(11).standard_normal(NET.n_params) * 0.5
    state = new_state(1, X.shape[0], NET.n_params, X.dtype)
    hpi = model_hpi("mlp", 1, hidden1=5, hidden2=0, activation="tanh", loss="mse")
    set_run(state, 0, params=theta0, model="mlp", hidden1=int(hpi[L.I_HIDDEN1]), activation="tanh", loss="mse",
            optimizer=optimizer, learning_rate=lr, batch=B, accumulate=k, shuffle=shuffle, seed=seed,
            drop_last=drop_last, stride=stride, betas=(0.9, 0.999), eps=1e-8)
    return state, theta0


@pytest.mark.parametrize("n,B,drop", [(10, 1, 0), (8, 8, 0), (100, 16, 0), (100, 16, 1), (64, 16, 0), (7, 3, 1)])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 7])
def test_updates_per_epoch_count_groups_of_micro_batches(n, B, drop, k):
    micro = n // B if drop else math.ceil(n / B)
    assert updates_per_epoch(n, B, drop, k) == math.ceil(micro / k)
    assert updates_per_epoch(n, B, drop, 1) == micro


@pytest.mark.parametrize("dtype", [np.float64, F32_PRODUCTS])
@pytest.mark.parametrize("model", ["linear", "logistic"])
@pytest.mark.parametrize("opt", OPTS_ONE_EACH, ids=str)
@pytest.mark.parametrize("n,B,k,drop", [(50, 7, 3, 0), (50, 7, 3, 1), (23, 2, 4, 0), (40, 5, 2, 0), (9, 1, 9, 0)])
def test_accumulation_follows_the_pytorch_loop(n, B, k, drop, opt, model, dtype):
    """Three epochs with shuffling: every optimizer step, the short last group of each epoch
    included (50 rows of 7: 8 micro-batches in groups of 3, 3 and 2), against the reference."""
    X, y = make_data(n + 7 * k, n, 3, model, dtype)
    hpf, hpi = hyper(opt, 0.05, model=model, B=B, seed=n + k, drop_last=drop, accumulate=k)
    run = Run(X, y, hpf, hpi, opt)
    upe = updates_per_epoch(n, B, drop, k)
    got = run.advance(3 * upe)
    ref = naive.descend_accumulated(X, y, np.zeros(4), opt.naive(0.05), model, True, B, k, 3,
                                    order=lambda e: permutation(n + k, e, n), drop_last=bool(drop))
    assert got["n_done"] == len(ref.params) == 3 * upe
    assert run.istate[L.S_EPOCH] == 3 and run.istate[L.S_POS] == 0 and run.istate[L.S_STEP] == 3 * upe
    np.testing.assert_array_equal(got["step"], np.arange(1, 3 * upe + 1))
    np.testing.assert_allclose(got["params"], np.array(ref.params), **naive.tol(dtype))
    np.testing.assert_allclose(got["loss"], ref.loss, **naive.tol(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_mlp_accumulation_follows_the_pytorch_loop(optimizer, dtype):
    n, B, k = 45, 4, 3  # 12 micro-batches, the last of 1 row: 4 groups of 3
    rng = np.random.default_rng(5)
    X = rng.standard_normal((n, 3)).astype(dtype)
    y = np.sin(X.sum(axis=1)).astype(dtype)
    state, theta0 = mlp_run(X, y, B=B, k=k, optimizer=optimizer, lr=0.02, shuffle=1)
    chunk = advance_batch(X, y, state, 2 * updates_per_epoch(n, B, False, k))
    opt = naive.SGD(0.02) if optimizer == "sgd" else naive.Adam(0.02, 0.9, 0.999, 1e-8)
    ref = naive.descend_accumulated(X, y, theta0, opt, NET, True, B, k, 2, order=lambda e: permutation(3, e, n))
    assert int(chunk.n_done[0]) == len(ref.params) == 8
    tol = naive.tol(dtype) if dtype == np.float64 else {"rtol": 2e-5, "atol": 1e-6}
    np.testing.assert_allclose(chunk.params[0, :8], np.array(ref.params), **tol)


@pytest.mark.parametrize("opt", [SGD, ADAM], ids=str)
@pytest.mark.parametrize("model", ["linear", "logistic", "mlp"])
@pytest.mark.parametrize("shuffle", [0, 1])
def test_accumulating_4_batches_of_16_is_one_batch_of_64(shuffle, model, opt):
    """n = 256: the micro-batches of 16 of one update are the rows of one batch of 64 in the
    same order. That holds with shuffling too: an epoch's order is a function of (seed,
    epoch, n) alone, not of the batch size, so both runs cut the same permutation. The sums
    differ only in rounding (four means of 16, each / 4, against one mean of 64)."""
    n, epochs = 256, 3
    if model == "mlp":
        rng = np.random.default_rng(2)
        X = rng.standard_normal((n, 3))
        y = np.sin(X.sum(axis=1))
        acc, _ = mlp_run(X, y, B=16, k=4, optimizer=opt.name, lr=0.05, shuffle=shuffle, seed=9)
        big, _ = mlp_run(X, y, B=64, k=1, optimizer=opt.name, lr=0.05, shuffle=shuffle, seed=9)
    else:
        X, y = make_data(4, n, 3, model, np.float64)
        acc = Run(X, y, *hyper(opt, 0.05, model=model, B=16, accumulate=4, shuffle=shuffle, seed=9), opt).batch
        big = Run(X, y, *hyper(opt, 0.05, model=model, B=64, shuffle=shuffle, seed=9), opt).batch
    a = advance_batch(X, y, acc, epochs * 4)
    b = advance_batch(X, y, big, epochs * 4)
    assert int(a.n_done[0]) == int(b.n_done[0]) == 12
    np.testing.assert_array_equal(a.step[0, :12], b.step[0, :12])
    np.testing.assert_allclose(a.params[0, :12], b.params[0, :12], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a.loss[0, :12], b.loss[0, :12], rtol=1e-12)
    assert np.abs(a.params[0, 11] - a.params[0, 0]).max() > 1e-3, "the runs did not move: the test would be vacuous"
    np.testing.assert_array_equal(acc.istate, big.istate)


@pytest.mark.parametrize("opt", OPTS_ONE_EACH, ids=str)
def test_accumulation_is_chunk_invariant_and_batch_invariant(opt):
    """Chunks of any size (a chunk ends at an update, so never inside a group) and a batch
    shared with runs of other settings give the same bits as one call alone."""
    X, y = make_data(8, 37, 2, "linear", np.float64)
    hpf, hpi = hyper(opt, 0.05, B=3, accumulate=4, seed=2, stride=2, schedule=L.SCHED_STEP, step_size=1)
    whole, parts = Run(X, y, hpf, hpi, opt), Run(X, y, hpf, hpi, opt)
    one = whole.advance(30)
    pieces = [parts.advance(c) for c in (0, 1, 2, 0, 5, 3, 1, 18)]
    for key in ("step", "params", "loss"):
        np.testing.assert_array_equal(np.concatenate([c[key] for c in pieces]), one[key])
    for a, b in zip(whole.state(), parts.state()):
        np.testing.assert_array_equal(a, b)
    other = Run(X, y, *hyper(SGD, 0.01, B=5, seed=4), SGD)
    batch = RunBatch.stack([other.batch, Run(X, y, hpf, hpi, opt).batch])
    c = advance_batch(X, y, batch, np.array([7, 30]), parallel=True)
    np.testing.assert_array_equal(c.params[1, : len(one["params"])], one["params"])
    np.testing.assert_array_equal(batch.params[1], whole.params)


def test_a_short_group_divides_by_k_not_by_its_length():
    """One epoch of 3 rows at batch 1, accumulate 2: the second update holds one micro-batch,
    whose gradient still counts 1/2 (as the loop's ``loss / k``): plain SGD moves by half."""
    X = np.array([[1.0], [2.0], [3.0]])
    y = np.zeros(3)
    run = Run(X, y, *hyper(SGD, 0.1, B=1, shuffle=0, fit_intercept=0, accumulate=2), SGD, params0=[1.0])
    got = run.advance(2)
    w1 = 1.0 - 0.1 * (2 * 1.0 * 1.0 + 2 * 1.0 * 2.0 * 2.0) / 2  # rows 0 and 1: mean gradients 2 w x^2
    w2 = w1 - 0.1 * (2 * w1 * 3.0 * 3.0) / 2
    np.testing.assert_allclose(got["params"][:, 0], [w1, w2], rtol=1e-15)
    assert run.istate[L.S_EPOCH] == 1 and got["n_done"] == 2


def test_accumulate_below_one_is_refused():
    X, y = make_data(0, 5, 1, "linear", np.float64)
    run = Run(X, y, *hyper(SGD, 0.1, B=1, accumulate=0), SGD)
    with pytest.raises(ValueError, match=r"I_ACCUMULATE\] must be >= 1"):
        run.advance(1)
