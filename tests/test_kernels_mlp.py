"""The MLP through the kernels' model dispatch (kernels/mlp.py) against the NumPy reference
(naive.MLP): one row, a batch, the full-data loss, and whole epochs of the resumable loop."""

import numpy as np
import pytest

import naive
from gdviz.kernels import RunBatch, advance_batch, batch_loss_grad, full_loss, new_state, permutation, set_run
from gdviz.kernels import layout as L
from gdviz.kernels import models as M
from gdviz.kernels.losses import model_hpi
from kernel_setup import OPT_BY_NAME, OPTS_ONE_EACH

DTYPES = [np.float64, np.float32]
SEEDS = [0, 1, 2]
# (d, hidden, activation, loss): one and two hidden layers, every activation and loss
NETS = [
    (3, (5,), "relu", "mse"),
    (1, (1,), "tanh", "bce"),
    (4, (6, 3), "tanh", "mse"),
    (2, (3, 4), "sigmoid", "bce"),
    (5, (7,), "sigmoid", "mse"),
    (3, (2, 2), "relu", "bce"),
]
NET_IDS = [f"{d}-{'-'.join(map(str, h))}-{a}-{lo}" for d, h, a, lo in NETS]


def net_hpi(d, hidden, activation, loss):
    return model_hpi("mlp", 1, hidden1=hidden[0], hidden2=hidden[1] if len(hidden) > 1 else 0,
                     activation=activation, loss=loss)


def net_data(seed, n, d, loss, dtype):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.sin(X.sum(axis=1)) + 0.1 * rng.standard_normal(n)
    if loss == "bce":
        y = (y > 0).astype(np.float64)
    return X.astype(dtype), y.astype(dtype)


def net_setup(seed, net, dtype, n=11):
    d, hidden, activation, loss = net
    ref = naive.MLP(d, hidden, activation, loss)
    X, y = net_data(seed, n, d, loss, dtype)
    theta = np.random.default_rng(seed + 50).standard_normal(ref.n_params).astype(dtype)
    return X, y, theta, ref, net_hpi(*net)


def tol(dtype):
    return naive.tol(dtype) if dtype == np.float64 else {"rtol": 2e-5, "atol": 1e-6}


@pytest.mark.parametrize("net", NETS, ids=NET_IDS)
def test_sizes_follow_the_flat_torch_order(net):
    d, hidden, _, _ = net
    hpi = net_hpi(*net)
    assert M.n_params(hpi, d) == naive.MLP(d, hidden).n_params
    assert M.work_size(hpi, d) == 2 * sum(hidden)
    assert not M.is_linear_family(hpi)
    assert M.n_params(net_hpi(10, (50,), "relu", "mse"), 10) == 601


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("net", NETS, ids=NET_IDS)
@pytest.mark.parametrize("seed", SEEDS)
def test_row_dispatch_as_plain_python_matches_reference(seed, net, dtype):
    X, y, theta, ref, hpi = net_setup(seed, net, dtype)
    m = M.describe(hpi)
    work = np.empty(M.work_size(hpi, X.shape[1]))
    base = np.random.default_rng(seed).standard_normal(theta.shape[0])
    for i in range(X.shape[0]):
        ref_loss, ref_grad = ref.loss_grad(X, y, theta, [i])
        g = base.copy()
        loss = M.row_loss_grad(X, y, i, theta, m, g, work)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(g - base, ref_grad, rtol=1e-9, atol=1e-12)
        assert M.row_loss(X, y, i, theta, m, work) == loss


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("net", NETS, ids=NET_IDS)
@pytest.mark.parametrize("seed", SEEDS)
def test_compiled_batch_and_full_loss_match_reference(seed, net, dtype):
    X, y, theta, ref, hpi = net_setup(seed, net, dtype)
    n = X.shape[0]
    perm = np.random.default_rng(seed).permutation(n).astype(np.int64)
    for start, end in ((0, n), (2, 7), (4, 5)):
        loss, g = batch_loss_grad(X, y, theta, hpi, 1, perm, start, end)
        ref_loss, ref_grad = ref.loss_grad(X, y, theta, perm[start:end])
        assert g.dtype == dtype
        np.testing.assert_allclose(loss, ref_loss, **tol(dtype))
        np.testing.assert_allclose(g, ref_grad, **tol(dtype))
    thetas = np.stack([theta, 0.5 * theta]).astype(np.float64)
    want = [ref.loss_grad(X, y, t)[0] for t in thetas]
    np.testing.assert_allclose(full_loss(X, y, thetas, hpi, 1), want, **tol(dtype))


def test_relu_gradient_is_zero_where_the_unit_is_off():
    """torch's convention: relu'(0) = 0, so a unit with pre-activation exactly 0 passes nothing."""
    X = np.array([[1.0]])
    y = np.array([2.0])
    theta = np.array([1.0, -1.0, 3.0, 0.5])  # W1 = 1, b1 = -1 -> s = 0; Wo = 3, bo = 0.5
    hpi = net_hpi(1, (1,), "relu", "mse")
    loss, g = batch_loss_grad(X, y, theta, hpi, 1, np.zeros(1, np.int64), 0, 1)
    assert loss == (0.5 - 2.0) ** 2
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0, 2.0 * (0.5 - 2.0)])


def new_net_runs(net, dtype, n, runs, seed=0):
    d, hidden, activation, loss = net
    ref = naive.MLP(d, hidden, activation, loss)
    X, y = net_data(seed, n, d, loss, dtype)
    state = new_state(len(runs), n, ref.n_params, dtype)
    theta0 = 0.5 * np.random.default_rng(seed + 7).standard_normal(ref.n_params)
    for r, (opt, lr, kw) in enumerate(runs):
        f = {k: opt.f[i] for k, i in L.FLOAT_KEYS.items() if i in opt.f}
        i_ = {k: opt.i[i] for k, i in L.INT_KEYS.items() if i in opt.i}
        set_run(state, r, params=theta0, model="mlp", hidden1=hidden[0], hidden2=hidden[1] if len(hidden) > 1 else 0,
                activation=activation, loss=loss, optimizer=opt.code, learning_rate=lr,
                initial_accumulator_value=opt.initial_accumulator_value, **f, **i_, **kw)
    return X, y, state, ref, theta0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("net", NETS[:4], ids=NET_IDS[:4])
@pytest.mark.parametrize("opt", OPTS_ONE_EACH, ids=str)
def test_two_epochs_of_the_loop_match_the_reference(opt, net, dtype):
    n, B = 17, 4
    X, y, state, ref, theta0 = new_net_runs(net, dtype, n, [(opt, 0.05, dict(batch=B, shuffle=1, seed=3))])
    upe = -(-n // B)
    advance_batch(X, y, state, 2 * upe)
    want = naive.descend(X, y, theta0, opt.naive(0.05), ref, True, B, 2 * upe, order=lambda e: permutation(3, e, n))
    rtol = 1e-9 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(state.params[0], want.params[-1], rtol=rtol, atol=rtol * 0.1)
    assert state.istate[0, L.S_EPOCH] == 2


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_runs_in_a_batch_and_in_chunks_go_as_each_alone_in_one_call(parallel):
    net = NETS[2]
    runs = [(OPT_BY_NAME["sgd-momentum"], 0.05, dict(batch=1, seed=1, stride=3)),
            (OPT_BY_NAME["adam"], 0.01, dict(batch=5, seed=2, shuffle=1)),
            (OPT_BY_NAME["rmsprop"], 0.01, dict(batch=19, seed=3))]
    X, y, state, _, _ = new_net_runs(net, np.float64, 19, runs)
    alone = [RunBatch.stack([state.row(r)]) for r in range(3)]
    for chunk in (7, 0, 1, 30, 12):
        advance_batch(X, y, state, chunk, parallel=parallel)
    for r in range(3):
        advance_batch(X, y, alone[r], 50)
        for name in RunBatch._fields:
            np.testing.assert_array_equal(getattr(state, name)[r], getattr(alone[r], name)[0], err_msg=name)


def test_check_state_refuses_an_mlp_whose_params_do_not_fit():
    X, y, state, _, _ = new_net_runs(NETS[0], np.float64, 9, [(OPT_BY_NAME["sgd"], 0.1, dict(batch=3))])
    bad = new_state(1, 9, state.p + 1)
    bad.hpi[0] = state.hpi[0]
    with pytest.raises(ValueError, match="the model has 26 parameters"):
        advance_batch(X, y, bad, 1)
    state.hpi[0, L.I_HIDDEN1] = 0
    with pytest.raises(ValueError, match="HIDDEN1"):
        advance_batch(X, y, state, 1)
