"""Results known without any reference implementation."""

import numpy as np
import pytest

import naive
from gdviz.kernels import linear_stats
from gdviz.kernels import layout as L
from kernel_setup import OPT_BY_NAME, Run, hyper, make_data

SGD = OPT_BY_NAME["sgd"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_full_batch_descent_converges_to_least_squares(dtype):
    X, y = make_data(4, 200, 1, "linear", dtype)
    X = ((X - X.mean()) / X.std()).astype(dtype)
    hpf, hpi = hyper(SGD, 0.1, B=200, stride=1000)
    run = Run(X, y, hpf, hpi, SGD)
    run.advance(300)
    Xa = np.hstack([X.astype(np.float64), np.ones((200, 1))])
    expected = np.linalg.lstsq(Xa, y.astype(np.float64), rcond=None)[0]
    np.testing.assert_allclose(run.params, expected, rtol=1e-5 if dtype == np.float32 else 1e-10, atol=1e-6)


@pytest.mark.parametrize("model", ["linear", "logistic"])
def test_an_epoch_with_batch_n_is_one_full_batch_step(model):
    X, y = make_data(6, 90, 4, model, np.float64)
    hpf, hpi = hyper(SGD, 0.3, model=model, B=90)
    theta0 = np.random.default_rng(6).standard_normal(5)
    run = Run(X, y, hpf, hpi, SGD, params0=theta0)
    got = run.advance(1)
    assert run.istate[L.S_EPOCH] == 1 and got["step"].tolist() == [1]
    if model == "linear":
        A, c, _, _ = linear_stats(X, y, 1)
        g = 2 * (A @ theta0 - c)
    else:
        g = naive.loss_grad(X, y, theta0, "logistic", True)[1]
    np.testing.assert_allclose(run.params, theta0 - 0.3 * g, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("B", [4, 2, 1])
def test_houses_price_is_200_per_unit_of_size(B, dtype):
    """Sizes 1000..2500 and prices 200k..500k, standardized; back in original units the
    fitted model is price = 200 * size + 0."""
    size = np.array([1000.0, 1500.0, 2000.0, 2500.0])
    price = np.array([200e3, 300e3, 400e3, 500e3])
    mx, sx, my, sy = size.mean(), size.std(), price.mean(), price.std()
    X = ((size - mx) / sx).reshape(-1, 1).astype(dtype)
    y = ((price - my) / sy).astype(dtype)
    hpf, hpi = hyper(SGD, 0.05, B=B, seed=3, stride=10**6)
    run = Run(X, y, hpf, hpi, SGD)
    run.advance(400 * (4 // B))
    w, b = run.params.astype(np.float64)
    w_orig = w * sy / sx
    b_orig = my + sy * b - w_orig * mx
    tol = 1e-4 if dtype == np.float32 else 1e-9
    assert w_orig == pytest.approx(200.0, rel=tol)
    assert b_orig == pytest.approx(0.0, abs=tol * 5e5)
