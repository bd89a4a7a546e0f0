"""kernels/stepmath.py, the one source of the update arithmetic, for both targets.

The CPU kernels (optim, shuffle, losses) are njit wrappers around stepmath and the CUDA
kernels compile it directly; the first test checks that the CPU modules do take their maths
from there. The rest run stepmath as plain Python (as the CUDA simulator runs it) and
compiled with njit; both must give the CPU kernels' results bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from gdviz.kernels import layout as L
from gdviz.kernels import lr_at, opt_step, permutation, stepmath
from kernel_setup import OPTS, fresh_opt_state, hyper


# module-level functions, not lambdas, so that Numba's cache keeps them between runs
@njit(cache=True)
def opt_step_njit(code, p, g, s, hpf, hpi, lr, t):
    stepmath.opt_step(code, p, g, s, hpf, hpi, lr, t)


@njit(cache=True)
def perm_njit(seed, epoch, n, out):
    stepmath.permutation_fill(seed, epoch, n, out)


def test_cpu_kernels_take_their_maths_from_stepmath():
    from gdviz.kernels import losses, models, optim, shuffle

    assert optim._sgd_update.py_func is stepmath.sgd_update
    assert optim._lr_at.py_func is stepmath.lr_at
    assert optim.stepmath is stepmath
    assert shuffle.permutation_fill is stepmath.permutation_fill
    # losses compiles the shared code objects themselves, inlined, with their callees swapped
    # for inlined CPU versions (losses._cpu_inline): the same source, no copy
    assert losses._loss_dz.py_func.__code__ is stepmath.loss_dz.__code__
    assert losses._sigmoid.py_func.__code__ is stepmath.sigmoid.__code__
    assert models.loss_dz is stepmath.loss_dz  # the model dispatch, which the loops inline
    assert losses._row_loss_grad.py_func.__code__ is models.row_loss_grad.__code__
    assert losses._row_loss.py_func.__code__ is models.row_loss.__code__
    assert losses._linear_z.py_func.__code__ is models.linear_z.__code__
    # no second copy of the arithmetic left behind in the CPU modules
    for mod, name in ((optim, "_lerp"), (optim, "_adam_update"), (shuffle, "_splitmix64"), (shuffle, "_GOLDEN"),
                      (losses, "_row_loss_dz")):
        assert not hasattr(mod, name), f"{mod.__name__}.{name}"


def test_cuda_kernels_take_their_maths_from_stepmath():
    gpu_descent = pytest.importorskip("gdviz.kernels.gpu_descent")
    gpu_losses = pytest.importorskip("gdviz.kernels.gpu_losses")
    assert gpu_descent.opt_step is stepmath.opt_step
    assert gpu_descent.lr_at is stepmath.lr_at
    assert gpu_descent.permutation_fill is stepmath.permutation_fill
    from gdviz.kernels import models

    # the CUDA loops reach the per-row loss through the model dispatch, as the CPU's do
    assert gpu_losses.row_loss_grad is models.row_loss_grad
    assert models.loss_dz is stepmath.loss_dz


@pytest.mark.parametrize("compiled", [False, True], ids=["python", "njit"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("opt", OPTS, ids=str)
def test_optimizer_steps_are_the_cpu_kernels_bit_for_bit(opt, dtype, compiled):
    rng = np.random.default_rng(0)
    p = 4
    hpf, hpi = hyper(opt, 0.03)
    a_params = rng.standard_normal(p).astype(dtype)
    a_state = fresh_opt_state(opt, p, dtype)
    b_params, b_state = a_params.copy(), a_state.copy()
    step = opt_step_njit if compiled else stepmath.opt_step
    for t in range(1, 8):
        grad = rng.standard_normal(p).astype(dtype)
        opt_step(a_params, grad, a_state, hpf, hpi, 0.03, t)
        step(np.int64(opt.code), b_params, grad, b_state, hpf, hpi, 0.03, np.int64(t))
        np.testing.assert_array_equal(b_params, a_params)
        np.testing.assert_array_equal(b_state, a_state)


@pytest.mark.parametrize("schedule", [L.SCHED_CONSTANT, L.SCHED_STEP, L.SCHED_EXPONENTIAL, L.SCHED_COSINE])
def test_learning_rate_schedules_are_the_cpu_kernels(schedule):
    hpf, hpi = hyper(OPTS[0], 0.1, schedule=schedule, gamma=0.7, step_size=3, eta_min=0.01, t_max=7.0)
    for epoch in range(12):
        assert stepmath.lr_at(hpf, hpi, np.int64(epoch)) == lr_at(hpf, hpi, epoch)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("n", [1, 2, 17, 200])
def test_permutation_is_the_cpu_generator(n):
    for seed, epoch in [(0, 0), (3, 1), (12345, 7)]:
        want = permutation(seed, epoch, n)
        for fill in (stepmath.permutation_fill, perm_njit):
            out = np.empty(n, np.int64)
            fill(np.int64(seed), np.int64(epoch), np.int64(n), out)
            np.testing.assert_array_equal(out, want)


def test_losses_per_row_are_the_cpu_kernels():
    from gdviz.kernels.losses import batch_loss_grad

    rng = np.random.default_rng(1)
    X = rng.standard_normal((1, 2))
    theta = np.array([0.4, -0.3, 0.2])
    for model, y in ((L.MODEL_LINEAR, np.array([0.7])), (L.MODEL_LOGISTIC, np.array([1.0]))):
        loss, g = batch_loss_grad(X, y, theta, model, 1, np.zeros(1, np.int64), 0, 1)
        z = X[0] @ theta[:2] + theta[2]
        want_loss, dz = stepmath.loss_dz(z, y[0], model)
        assert loss == want_loss
        np.testing.assert_array_equal(g, np.append(dz * X[0], dz))
