"""kernels/models.py, the one dispatch through which every loop reaches the model, against a
NumPy reference (naive.py); and the host side's per-example gradient statistics
(gdviz.models) against a literal per-example loop."""

import numpy as np
import pytest
from numba import njit

import naive
from gdviz.kernels import batch_loss_grad, full_loss, new_state, permutation, set_run
from gdviz.kernels import layout as L
from gdviz.kernels import models as M
from gdviz.kernels.losses import model_hpi
from gdviz.models import LinearFamily, make_model
from kernel_setup import F32_PRODUCTS, make_data

DTYPES = [np.float64, np.float32]
MODELS = ["linear", "logistic"]
SEEDS = [0, 1, 2]
F64 = naive.tol(np.float64)


def setup(seed, model, dtype, fit_intercept, n=9, d=3):
    X, y = make_data(100 + seed, n, d, model, dtype)
    theta = np.random.default_rng(seed).standard_normal(d + fit_intercept).astype(dtype)
    return X, y, theta, model_hpi(L.MODELS[model], fit_intercept)


def rows_reference(X, y, theta, hpi, rows):
    """The kernels' batch mean through the dispatch run as plain Python: rows in order, / B."""
    m = M.describe(hpi)
    g = np.zeros(theta.shape[0])
    work = np.empty(M.work_size(hpi, X.shape[1]))
    total = 0.0
    for i in rows:
        total += M.row_loss_grad(X, y, i, theta, m, g, work)
    inv = 1.0 / len(rows)
    return total * inv, g * inv


# --- the dispatch as plain Python --------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fit_intercept", [1, 0])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("seed", SEEDS)
def test_row_loss_and_gradient_match_reference(seed, model, fit_intercept, dtype):
    X, y, theta, hpi = setup(seed, model, dtype, fit_intercept)
    m = M.describe(hpi)
    work = np.empty(M.work_size(hpi, X.shape[1]))
    base = np.random.default_rng(seed).standard_normal(theta.shape[0])
    w, b = theta[: X.shape[1]].astype(np.float64), float(theta[-1]) if fit_intercept else 0.0
    for i in range(X.shape[0]):
        ref_loss, ref_grad = naive.loss_grad(X, y, theta, model, fit_intercept, [i])
        g = base.copy()
        loss = M.row_loss_grad(X, y, i, theta, m, g, work)
        assert isinstance(loss, float)
        np.testing.assert_allclose(loss, ref_loss, **F64)
        np.testing.assert_allclose(g - base, ref_grad, rtol=1e-9, atol=1e-12)  # added into g
        assert M.row_loss(X, y, i, theta, m, work) == loss
        np.testing.assert_allclose(M.linear_z(X, i, theta, fit_intercept), X[i].astype(np.float64) @ w + b, **F64)


@pytest.mark.parametrize("model", MODELS)
def test_model_sizes_and_family(model):
    for fit_intercept in (0, 1):
        hpi = model_hpi(L.MODELS[model], fit_intercept)
        assert M.work_size(hpi, 5) == 0
        assert M.n_params(hpi, 5) == 5 + fit_intercept
        assert M.is_linear_family(hpi)
        assert tuple(M.describe(hpi)) == (L.MODELS[model], fit_intercept, 0, 0, 0, 0)
    assert not M.is_linear_family(model_hpi(7, 1))


@pytest.mark.parametrize("z", [-800.0, -40.0, -3.0, 0.0, 3.0, 40.0, 800.0])
def test_logistic_row_is_finite_for_extreme_logits(z):
    X = np.array([[z]])
    for label in (0.0, 1.0):
        y = np.array([label])
        g = np.zeros(1)
        loss = M.row_loss_grad(X, y, 0, np.array([1.0]), M.describe(model_hpi(L.MODEL_LOGISTIC, 0)), g, np.empty(0))
        ref_loss, ref_grad = naive.loss_grad(X, y, [1.0], "logistic", False)
        np.testing.assert_allclose([loss, g[0]], [ref_loss, ref_grad[0]], rtol=1e-12, atol=1e-300)


# --- the dispatch compiled, and the kernels that loop over it -----------------------------------


@njit(cache=True)
def _row_njit(X, y, i, theta, hpi, g, work):
    return M.row_loss_grad(X, y, i, theta, M.describe(hpi), g, work)


@njit(cache=True)
def _row_loss_njit(X, y, i, theta, hpi, work):
    return M.row_loss(X, y, i, theta, M.describe(hpi), work)


@pytest.mark.parametrize("dtype", [np.float64, F32_PRODUCTS])
@pytest.mark.parametrize("model", MODELS)
def test_the_dispatch_compiled_is_the_dispatch_interpreted_bit_for_bit(model, dtype):
    """As the CUDA simulator runs it (plain Python) and as njit compiles it: one result.
    ``float(x)`` must widen a float32 element to float64 in both."""
    X, y, theta, hpi = setup(3, model, dtype, 1)
    work = np.empty(0)
    for i in range(X.shape[0]):
        g_py, g_jit = np.zeros(4), np.zeros(4)
        loss_py = M.row_loss_grad(X, y, i, theta, M.describe(hpi), g_py, work)
        assert _row_njit(X, y, i, theta, hpi, g_jit, work) == loss_py
        np.testing.assert_array_equal(g_jit, g_py)
        assert _row_loss_njit(X, y, i, theta, hpi, work) == loss_py


@pytest.mark.parametrize("dtype", [np.float64, F32_PRODUCTS])
@pytest.mark.parametrize("fit_intercept", [1, 0])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("seed", SEEDS)
def test_batch_loss_grad_is_the_dispatch_over_its_rows(seed, model, fit_intercept, dtype):
    """Against the reference to rounding, and against the dispatch's rows bit for bit."""
    n = 11
    X, y, theta, hpi = setup(seed, model, dtype, fit_intercept, n=n)
    perm = permutation(seed, 1, n)
    for start, end in [(0, 1), (0, 4), (4, 11), (0, n)]:
        loss, grad = batch_loss_grad(X, y, theta, L.MODELS[model], fit_intercept, perm, start, end)
        ref_loss, ref_grad = naive.loss_grad(X, y, theta, model, fit_intercept, perm[start:end])
        assert grad.dtype == dtype
        np.testing.assert_allclose(loss, ref_loss, **F64)
        np.testing.assert_allclose(grad, ref_grad, **naive.tol(dtype))
        py_loss, py_grad = rows_reference(X, y, theta, hpi, perm[start:end])
        assert loss == py_loss
        np.testing.assert_array_equal(grad, py_grad.astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fit_intercept", [1, 0])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("seed", SEEDS)
def test_full_loss_is_the_reference_at_every_point(seed, model, fit_intercept, dtype):
    X, y, _, hpi = setup(seed, model, dtype, fit_intercept, n=13)
    thetas = np.random.default_rng(seed + 10).standard_normal((5, 3 + fit_intercept))
    got = full_loss(X, y, thetas, L.MODELS[model], fit_intercept)
    assert got.dtype == np.float64 and got.shape == (5,)
    np.testing.assert_allclose(got, naive.full_loss(X, y, thetas, model, fit_intercept), **F64)
    m, work = M.describe(hpi), np.empty(0)
    for k, th in enumerate(thetas):
        np.testing.assert_allclose(got[k], np.mean([M.row_loss(X, y, i, th, m, work) for i in range(13)]),
                                   rtol=1e-14, atol=0)


@pytest.mark.parametrize("bad", [dict(model=2), dict(fit_intercept=2)])
def test_the_wrappers_reject_an_unknown_model(bad):
    X, y, theta, _ = setup(0, "linear", np.float64, 1)
    kw = dict(model=L.MODEL_LINEAR, fit_intercept=1) | bad
    with pytest.raises(ValueError, match="model must be|fit_intercept must be"):
        batch_loss_grad(X, y, theta, kw["model"], kw["fit_intercept"], np.arange(9), 0, 3)
    with pytest.raises(ValueError, match="model must be|fit_intercept must be"):
        full_loss(X, y, theta[None], kw["model"], kw["fit_intercept"])


# --- host side: gdviz.models --------------------------------------------------------------------


def per_example_stats(X, y, thetas, model, fit_intercept):
    """G: mean of the per-example gradients; M: mean of their squared norms (a literal loop)."""
    G, Msq = [], []
    for th in thetas:
        grads = [naive.loss_grad(X, y, th, model, fit_intercept, [i])[1] for i in range(len(y))]
        G.append(np.mean(grads, axis=0))
        Msq.append(np.mean([g @ g for g in grads]))
    return np.array(G), np.array(Msq)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("seed", SEEDS)
def test_example_gradient_stats_match_a_per_example_loop(seed, model, fit_intercept, dtype):
    X, y = make_data(200 + seed, 17, 3, model, dtype)
    thetas = np.random.default_rng(seed).standard_normal((4, 3 + fit_intercept))
    G, Msq = LinearFamily(model, 3, fit_intercept).example_gradient_stats(X, y, thetas)
    ref_G, ref_M = per_example_stats(X, y, thetas, model, fit_intercept)
    tol = F64 if dtype == np.float64 else {"rtol": 1e-6, "atol": 1e-9}  # float32 row norms
    assert G.shape == (4, 3 + fit_intercept) and Msq.shape == (4,)
    np.testing.assert_allclose(G, ref_G, **tol)
    np.testing.assert_allclose(Msq, ref_M, **tol)
    # G is the full gradient; the covariance trace M - |G|^2 is never negative
    for th, g in zip(thetas, G):
        np.testing.assert_allclose(g, naive.loss_grad(X, y, th, model, fit_intercept)[1], **tol)
    assert np.all(Msq - np.sum(G**2, axis=1) >= -1e-12)


def test_example_gradient_stats_take_one_point_as_a_vector():
    X, y = make_data(7, 10, 2, "linear", np.float64)
    theta = np.array([0.5, -1.0, 0.2])
    G, Msq = make_model("linear", 2).example_gradient_stats(X, y, theta)
    ref_G, ref_M = per_example_stats(X, y, theta[None], "linear", True)
    np.testing.assert_allclose(G, ref_G, **F64)
    np.testing.assert_allclose(Msq, ref_M, **F64)


@pytest.mark.parametrize("kind,fit_intercept", [("linear", True), ("logistic", False)])
def test_the_host_model_sets_the_kernels_model(kind, fit_intercept):
    model = make_model(kind, 4, fit_intercept)
    assert model.n_params == 4 + fit_intercept and len(model.param_names()) == model.n_params
    state = new_state(1, 6, model.n_params)
    set_run(state, 0, **model.kernel_settings())
    assert state.hpi[0, L.I_MODEL] == L.MODELS[kind] and state.hpi[0, L.I_FIT_INTERCEPT] == int(fit_intercept)
    assert M.n_params(state.hpi[0], 4) == model.n_params
    with pytest.raises(ValueError, match="unknown model kind"):
        make_model("svm", 4)
