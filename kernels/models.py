"""The model as a part of the kernels: the one dispatch through which every loop reaches it.

A loop over rows never writes ``z = x·w + b`` itself: it reads the model once from the run's
``hpi`` row with :func:`describe` (a tuple of ints: the code ``I_MODEL`` and the model's
integer settings, passed by value so the compiler keeps them in registers), then asks
:func:`row_loss_grad` for each row's loss and gradient (added into a float64 buffer) and
:func:`row_loss` for a loss alone, with a work buffer of :func:`work_size` floats for models
that need scratch space.
Adding a model adds a branch here and nothing to the epoch loop (:mod:`.descent`), the
full-data pass (:mod:`.losses`) or the CUDA twins, which compile these same functions.

Models today, parameters ``theta = [w_1, ..., w_d, b]`` (``b`` only with ``fit_intercept``)
and ``z = x·w + b``:

- ``MODEL_LINEAR``: squared error ``(z - y)^2`` (``torch.nn.MSELoss`` per row);
- ``MODEL_LOGISTIC``: binary cross-entropy on the logit ``z`` (``BCEWithLogitsLoss``);
- ``MODEL_MLP``: a network ``d → h1 [→ h2] → 1`` (:mod:`.mlp`, which states its flat
  parameter order), squared error or cross-entropy on its output.

Every function is :func:`numba.extending.register_jitable`: plain Python in the interpreter
and the CUDA simulator, compiled into its ``@njit`` or ``@cuda.jit`` caller. Sums in float64.
"""

from __future__ import annotations

import numpy as np
from numba.extending import register_jitable

from .layout import (
    I_ACTIVATION,
    I_FIT_INTERCEPT,
    I_HIDDEN1,
    I_HIDDEN2,
    I_LOSS,
    I_MODEL,
    MODEL_LINEAR,
    MODEL_LOGISTIC,
    MODEL_MLP,
)
from .mlp import mlp_n_params, mlp_row_loss, mlp_row_loss_grad, mlp_work_floats
from .stepmath import loss_dz


@register_jitable
def describe(hpi):
    """The run's model as a tuple of ints ``(code, fit_intercept, hidden1, hidden2,
    activation, loss)``, read once per loop (the last four: the MLP's; 0 for the others)."""
    return (hpi[I_MODEL], hpi[I_FIT_INTERCEPT], hpi[I_HIDDEN1], hpi[I_HIDDEN2], hpi[I_ACTIVATION], hpi[I_LOSS])


@register_jitable
def n_params(hpi, d):
    """Parameters of the run's model on ``d`` features."""
    if hpi[I_MODEL] == MODEL_MLP:
        return mlp_n_params(d, hpi[I_HIDDEN1], hpi[I_HIDDEN2])
    return d + hpi[I_FIT_INTERCEPT]


@register_jitable
def work_size(hpi, d):
    """Floats of scratch space :func:`row_loss_grad` needs per row (0 for the linear family)."""
    return work_floats(describe(hpi), d)


@register_jitable
def is_linear_family(hpi):
    """True for models with ``z = x·w + b`` (the CPU loops have fast paths for them)."""
    return is_linear(describe(hpi))


@register_jitable
def is_linear(m):
    """:func:`is_linear_family` of ``m = describe(hpi)``."""
    return m[0] == MODEL_LINEAR or m[0] == MODEL_LOGISTIC


@register_jitable
def work_floats(m, d):
    """:func:`work_size` of ``m = describe(hpi)``."""
    if m[0] == MODEL_MLP:
        return mlp_work_floats(m[2], m[3])
    return 0


@register_jitable
def linear_z(X, i, theta, fit_intercept):
    """``z = x_i·w + b`` in float64, summed in feature order."""
    d = X.shape[1]
    z = 0.0
    for j in range(d):
        z += np.float64(X[i, j]) * np.float64(theta[j])
    if fit_intercept:
        z += np.float64(theta[d])
    return z


@register_jitable
def row_loss_grad(X, y, i, theta, m, g, work):
    """Row ``i``'s loss (returned, float64); its gradient is added into float64 ``g[p]``.

    ``m`` is :func:`describe` of the run's ``hpi``.
    """
    if m[0] == MODEL_MLP:
        return mlp_row_loss_grad(X, y, i, theta, m, g, work)
    fit_intercept = m[1]
    d = X.shape[1]
    z = linear_z(X, i, theta, fit_intercept)
    loss, dz = loss_dz(z, np.float64(y[i]), m[0])
    for j in range(d):
        g[j] += dz * np.float64(X[i, j])
    if fit_intercept:
        g[d] += dz
    return loss


@register_jitable
def row_loss(X, y, i, theta, m, work):
    """Row ``i``'s loss (float64) at ``theta``; ``m`` is :func:`describe` of the run's ``hpi``."""
    if m[0] == MODEL_MLP:
        return mlp_row_loss(X, y, i, theta, m, work)
    z = linear_z(X, i, theta, m[1])
    loss, _ = loss_dz(z, np.float64(y[i]), m[0])
    return loss
