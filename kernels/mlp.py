"""The small MLP of the kernels: one row's forward pass, loss and backpropagated gradient.

A network ``d → h1 [→ h2] → 1`` with one activation for its hidden layers (``ACT_RELU``,
``ACT_TANH``, ``ACT_SIGMOID``) and a linear output ``z``, trained on the squared error
``(z - y)^2`` (``LOSS_MSE``, as ``torch.nn.MSELoss``) or on binary cross-entropy with ``z``
as a logit (``LOSS_BCE``, as ``torch.nn.BCEWithLogitsLoss``); the row's loss and
``dloss/dz`` are :func:`.stepmath.loss_dz`, the linear family's.

Parameters ``theta`` are flat, in PyTorch's ``model.parameters()`` order for
``nn.Sequential(nn.Linear(d, h1), act, [nn.Linear(h1, h2), act,] nn.Linear(h_last, 1))``::

    W1 [h1, d] row-major | b1 [h1] | (W2 [h2, h1] row-major | b2 [h2]) | Wo [1, h_last] | bo [1]

so ``n_params = h1 (d + 1) + h2 (h1 + 1) + h_last + 1`` (``h2 = 0``: one hidden layer;
``10 → 50 → 1`` has 601). The host states the same order in :mod:`gdviz.mlp`.

``m`` is :func:`.models.describe` of the run's ``hpi``: ``(code, fit_intercept, h1, h2,
activation, loss)``. ``work`` (float64, :func:`mlp_work_floats` slots) holds, in order, the
activations ``a1[h1]``, ``a2[h2]``, then the back-propagated ``delta1[h1]``, ``delta2[h2]``.
Every sum is float64 whatever the dtype of ``X`` and ``theta``. All functions are
``register_jitable``: compiled into the CPU loops (see ``losses._cpu_inline``) and into the
CUDA kernels alike.
"""

from __future__ import annotations

import math

import numpy as np
from numba.extending import register_jitable

from .layout import ACT_RELU, ACT_TANH, LOSS_MSE, MODEL_LINEAR, MODEL_LOGISTIC
from .stepmath import loss_dz, sigmoid


@register_jitable
def mlp_n_params(d, h1, h2):
    """Parameters of a ``d → h1 [→ h2] → 1`` network (``h2 = 0``: one hidden layer)."""
    if h2 > 0:
        return h1 * (d + 1) + h2 * (h1 + 1) + h2 + 1
    return h1 * (d + 1) + h1 + 1


@register_jitable
def mlp_work_floats(h1, h2):
    """Scratch floats of one row: activations and deltas of every hidden unit."""
    return 2 * (h1 + h2)


@register_jitable
def activate(s, act):
    """The hidden layers' activation at pre-activation ``s`` (float64)."""
    if act == ACT_RELU:
        return s if s > 0.0 else 0.0
    if act == ACT_TANH:
        return math.tanh(s)
    return sigmoid(s)


@register_jitable
def activate_grad(a, act):
    """The activation's derivative, from its output ``a`` (as torch's backward: relu's is 0 at 0)."""
    if act == ACT_RELU:
        return 1.0 if a > 0.0 else 0.0
    if act == ACT_TANH:
        return 1.0 - a * a
    return a * (1.0 - a)


@register_jitable
def mlp_forward(X, i, theta, m, work):
    """The output ``z`` (float64) of row ``i``; hidden activations left in ``work``."""
    d = X.shape[1]
    h1 = m[2]
    h2 = m[3]
    act = m[4]
    ob1 = h1 * d
    for k in range(h1):
        s = 0.0
        for j in range(d):
            s += np.float64(theta[k * d + j]) * np.float64(X[i, j])
        work[k] = activate(s + np.float64(theta[ob1 + k]), act)
    o = ob1 + h1  # first output-side parameter of the next layer
    a0 = 0  # where the last hidden layer's activations start in work
    hl = h1
    if h2 > 0:
        ob2 = o + h2 * h1
        for k in range(h2):
            s = 0.0
            for j in range(h1):
                s += np.float64(theta[o + k * h1 + j]) * work[j]
            work[h1 + k] = activate(s + np.float64(theta[ob2 + k]), act)
        o = ob2 + h2
        a0 = h1
        hl = h2
    z = 0.0
    for j in range(hl):
        z += np.float64(theta[o + j]) * work[a0 + j]
    return z + np.float64(theta[o + hl])


@register_jitable
def mlp_loss_model(m):
    """The linear-family code whose :func:`.stepmath.loss_dz` is this network's loss."""
    return MODEL_LINEAR if m[5] == LOSS_MSE else MODEL_LOGISTIC


@register_jitable
def mlp_row_loss(X, y, i, theta, m, work):
    """Row ``i``'s loss (float64) at ``theta``."""
    z = mlp_forward(X, i, theta, m, work)
    loss, _ = loss_dz(z, np.float64(y[i]), mlp_loss_model(m))
    return loss


@register_jitable
def mlp_row_loss_grad(X, y, i, theta, m, g, work):
    """Row ``i``'s loss (returned, float64); its gradient (backpropagation) added into ``g[p]``."""
    d = X.shape[1]
    h1 = m[2]
    h2 = m[3]
    act = m[4]
    z = mlp_forward(X, i, theta, m, work)
    loss, dz = loss_dz(z, np.float64(y[i]), mlp_loss_model(m))
    ob1 = h1 * d
    o1 = ob1 + h1  # W2 (two layers) or Wo (one layer)
    dl1 = h1 + h2  # delta1 in work
    dl2 = dl1 + h1  # delta2 in work
    if h2 > 0:
        ob2 = o1 + h2 * h1
        oo = ob2 + h2
        for j in range(h2):
            a = work[h1 + j]
            g[oo + j] += dz * a
            work[dl2 + j] = dz * np.float64(theta[oo + j]) * activate_grad(a, act)
        g[oo + h2] += dz
        for k in range(h2):
            dk = work[dl2 + k]
            for j in range(h1):
                g[o1 + k * h1 + j] += dk * work[j]
            g[ob2 + k] += dk
        for j in range(h1):
            s = 0.0
            for k in range(h2):
                s += work[dl2 + k] * np.float64(theta[o1 + k * h1 + j])
            work[dl1 + j] = s * activate_grad(work[j], act)
    else:
        for j in range(h1):
            a = work[j]
            g[o1 + j] += dz * a
            work[dl1 + j] = dz * np.float64(theta[o1 + j]) * activate_grad(a, act)
        g[o1 + h1] += dz
    for k in range(h1):
        dk = work[dl1 + k]
        for j in range(d):
            g[k * d + j] += dk * np.float64(X[i, j])
        g[ob1 + k] += dk
    return loss
