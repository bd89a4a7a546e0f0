"""Optimizer steps and learning-rate schedules, following ``torch.optim`` exactly.

Each step function updates ``params`` and ``opt_state`` in place, as one call of the
single-tensor (``foreach=False``) implementation of the torch optimizer of the same name,
in the same order of operations. Arithmetic is done in float64 and stored in the arrays'
dtype, so float64 runs match torch to rounding and float32 runs to float32 precision.

The arithmetic itself lives in :mod:`.stepmath` (``sgd_update``, ``adam_update``, ...,
``lr_at``), the one source that the CUDA kernels compile too; the functions here are the
CPU's ``@njit`` entry points to it and the validating Python wrapper :func:`opt_step`.
``sgd_step`` and ``lr_at`` are ``inline="always"``: the CPU hot loop
(:func:`.descent.advance`) calls them directly and gets the loop body, not a call.

Common arguments
----------------
params : dtype[p]
    Parameters, updated in place.
grad : dtype[p]
    Gradient of the minibatch loss at ``params``.
opt_state : dtype[3, p]
    Optimizer buffers (see :mod:`gdviz.kernels.layout`), updated in place.
hpf : float64[HPF_SIZE], hpi : int64[HPI_SIZE]
    Hyperparameters.
lr : float
    This step's learning rate (the schedule's value, see :func:`lr_at`).
t : int
    The step count after this step's increment (1 on the first step), as torch's
    ``state["step"]``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import stepmath
from .layout import HPF_SIZE, HPI_SIZE, I_OPTIMIZER, OPT_ADAGRAD, OPT_ADAM, OPT_ADAMW, OPT_RMSPROP, OPT_SGD

# The stepmath loops compiled as CPU functions inlined (Numba IR) into their callers: the
# hot loop's SGD step and schedule must not stay out of line behind a call.
_sgd_update = njit(nogil=True, inline="always")(stepmath.sgd_update)
_lr_at = njit(nogil=True, inline="always")(stepmath.lr_at)


@njit(cache=True, nogil=True, inline="always")
def sgd_step(params, grad, opt_state, hpf, hpi, lr, t):
    """``torch.optim.SGD``: momentum, dampening, Nesterov, (coupled) weight decay.

    ``opt_state[0]`` is the momentum buffer; on the first step it is the gradient itself.
    """
    _sgd_update(params, grad, opt_state, hpf, hpi, lr, t)


@njit(cache=True, nogil=True)
def _opt_step(code, params, grad, opt_state, hpf, hpi, lr, t):
    """Dispatch one step of optimizer ``code`` (an ``OPT_*`` constant)."""
    stepmath.opt_step(code, params, grad, opt_state, hpf, hpi, lr, t)


@njit(cache=True, nogil=True, inline="always")
def lr_at(hpf, hpi, epoch):
    """Learning rate during epoch ``epoch`` (0-based), the schedule's closed form.

    The schedule is stepped once per completed epoch, as ``scheduler.step()`` after each
    epoch in torch, so epoch 0 uses the base rate ``hpf[F_LR]``.

    Parameters
    ----------
    hpf : float64[HPF_SIZE]
    hpi : int64[HPI_SIZE]
    epoch : int
        Epochs completed before this update.

    Returns
    -------
    float
        float64 learning rate.
    """
    return _lr_at(hpf, hpi, epoch)


def opt_step(
    params: np.ndarray, grad: np.ndarray, opt_state: np.ndarray, hpf: np.ndarray, hpi: np.ndarray, lr: float, t: int
) -> None:
    """One step of the optimizer ``hpi[I_OPTIMIZER]``, in place (validating wrapper).

    Parameters
    ----------
    params : numpy.ndarray
        float32 or float64[p], C-contiguous, writable.
    grad : numpy.ndarray
        params.dtype[p].
    opt_state : numpy.ndarray
        params.dtype[3, p], C-contiguous, writable.
    hpf : numpy.ndarray
        float64[HPF_SIZE].
    hpi : numpy.ndarray
        int64[HPI_SIZE].
    lr : float
        This step's learning rate.
    t : int
        Step count after the increment, ``>= 1``.
    """
    p = params.shape[0] if params.ndim == 1 else -1
    if params.ndim != 1 or params.dtype not in (np.float32, np.float64) or not params.flags.c_contiguous:
        raise ValueError(
            f"params must be a C-contiguous float32 or float64 vector, got {params.dtype}{list(params.shape)}"
        )
    if grad.shape != (p,) or grad.dtype != params.dtype:
        raise ValueError(
            f"grad must be {params.dtype}[{p}], got {grad.dtype}{list(grad.shape)}; use grad.astype(params.dtype)"
        )
    if opt_state.shape != (3, p) or opt_state.dtype != params.dtype or not opt_state.flags.c_contiguous:
        raise ValueError(
            f"opt_state must be C-contiguous {params.dtype}[3, {p}], got {opt_state.dtype}{list(opt_state.shape)}"
        )
    if hpf.shape != (HPF_SIZE,) or hpf.dtype != np.float64:
        raise ValueError(f"hpf must be float64[{HPF_SIZE}], got {hpf.dtype}{list(hpf.shape)}")
    if hpi.shape != (HPI_SIZE,) or hpi.dtype != np.int64:
        raise ValueError(f"hpi must be int64[{HPI_SIZE}], got {hpi.dtype}{list(hpi.shape)}")
    code = int(hpi[I_OPTIMIZER])
    if code not in (OPT_SGD, OPT_ADAM, OPT_ADAMW, OPT_RMSPROP, OPT_ADAGRAD):
        raise ValueError(f"hpi[I_OPTIMIZER] must be an OPT_* code 0..4, got {code}")
    if t < 1:
        raise ValueError(f"t is the step count after the increment and must be >= 1, got {t}")
    _opt_step(np.int64(code), params, np.ascontiguousarray(grad), opt_state, hpf, hpi, np.float64(lr), np.int64(t))
