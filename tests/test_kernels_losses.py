"""Minibatch and full-dataset losses and gradients against the NumPy reference."""

import numpy as np
import pytest

import naive
from gdviz.kernels import batch_loss_grad, full_loss, linear_stats, permutation
from gdviz.kernels import layout as L
from kernel_setup import F32_PRODUCTS, make_data

SHAPES = [(1, 1), (7, 3), (100, 20), (2500, 5)]
DTYPES = [np.float64, np.float32]
MODELS = ["linear", "logistic"]


def batches(n):
    """First and last batch of an epoch for B = 1, 7, n and a B leaving a short last batch."""
    out = []
    for B in sorted({1, min(7, n), n, max(1, (2 * n) // 3)}):
        last = ((n - 1) // B) * B
        out += [(0, min(B, n)), (last, n)]
    return out


@pytest.mark.parametrize("dtype", [np.float64, F32_PRODUCTS])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("n,d", SHAPES)
@pytest.mark.parametrize("fit_intercept", [1, 0])
def test_batch_loss_and_gradient_match_reference(n, d, model, dtype, fit_intercept):
    seed = n * 31 + d
    X, y = make_data(seed, n, d, model, dtype)
    rng = np.random.default_rng(seed)
    params = rng.standard_normal(d + fit_intercept).astype(dtype)
    perm = permutation(seed, 0, n)
    for start, end in batches(n):
        ref_loss, ref_grad = naive.loss_grad(X, y, params, model, fit_intercept, perm[start:end])
        loss, grad = batch_loss_grad(X, y, params, L.MODELS[model], fit_intercept, perm, start, end)
        assert grad.dtype == dtype
        np.testing.assert_allclose(loss, ref_loss, **naive.tol(np.float64))
        np.testing.assert_allclose(grad, ref_grad, **naive.tol(dtype))


@pytest.mark.parametrize("z", [-800.0, -40.0, 0.0, 40.0, 800.0])
@pytest.mark.parametrize("label", [0.0, 1.0])
def test_logistic_loss_is_finite_for_extreme_logits(z, label):
    X = np.array([[z]])
    y = np.array([label])
    loss, grad = batch_loss_grad(X, y, np.array([1.0]), L.MODEL_LOGISTIC, 0, np.zeros(1, np.int64), 0, 1)
    ref_loss, ref_grad = naive.loss_grad(X, y, [1.0], "logistic", False)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("n,d", [(1, 1), (60, 2), (2500, 5)])
def test_full_loss_matches_reference_at_many_points(n, d, model, dtype):
    X, y = make_data(n + d, n, d, model, dtype)
    thetas = np.random.default_rng(n).standard_normal((9, d + 1))
    np.testing.assert_allclose(full_loss(X, y, thetas, L.MODELS[model], 1),
                               naive.full_loss(X, y, thetas, model, True), **naive.tol(np.float64))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fit_intercept", [1, 0])
@pytest.mark.parametrize("n,d", [(1, 1), (5, 8), (400, 3)])
def test_linear_stats_give_the_exact_loss_and_gradient(n, d, fit_intercept, dtype):
    """L(theta) = loss* + (theta - theta*)^T A (theta - theta*) and grad = 2 (A theta - c),
    also when A is singular (n < p)."""
    X, y = make_data(n * d, n, d, "linear", dtype)
    A, c, theta_star, loss_star = linear_stats(X, y, fit_intercept)
    for theta in np.random.default_rng(n).standard_normal((4, d + fit_intercept)):
        ref_loss, ref_grad = naive.loss_grad(X, y, theta, "linear", fit_intercept)
        delta = theta - theta_star
        np.testing.assert_allclose(loss_star + delta @ A @ delta, ref_loss, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(2 * (A @ theta - c), ref_grad, rtol=1e-9, atol=1e-9)
