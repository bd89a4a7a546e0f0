"""Seeded data and run builders shared by the kernel tests (no references here: see naive.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import naive
from gdviz.kernels import advance_batch
from gdviz.kernels import layout as L


def make_data(seed: int, n: int, d: int, model: str, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal features and noisy targets (linear) or labels (logistic)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    z = X @ w + 0.3
    if model == "linear":
        y = z + 0.5 * rng.standard_normal(n)
    else:
        y = (z + rng.logistic(size=n) > 0).astype(np.float64)
    return X.astype(dtype), y.astype(dtype)


@dataclass(frozen=True)
class Opt:
    """An optimizer configuration, as kernel hyperparameters and as a naive optimizer."""

    name: str
    code: int
    f: dict  # F_* index -> value
    i: dict  # I_* index -> value
    initial_accumulator_value: float = 0.0

    def naive(self, lr: float):
        f = self.f
        if self.code == L.OPT_SGD:
            return naive.SGD(lr, f.get(L.F_MOMENTUM, 0.0), f.get(L.F_DAMPENING, 0.0),
                             f.get(L.F_WEIGHT_DECAY, 0.0), bool(self.i.get(L.I_NESTEROV, 0)))
        if self.code in (L.OPT_ADAM, L.OPT_ADAMW):
            return naive.Adam(lr, f[L.F_BETA1], f[L.F_BETA2], f[L.F_EPS], f.get(L.F_WEIGHT_DECAY, 0.0),
                              bool(self.i.get(L.I_AMSGRAD, 0)), decoupled=self.code == L.OPT_ADAMW)
        if self.code == L.OPT_RMSPROP:
            return naive.RMSprop(lr, f[L.F_ALPHA], f[L.F_EPS], f.get(L.F_WEIGHT_DECAY, 0.0),
                                 f.get(L.F_MOMENTUM, 0.0), bool(self.i.get(L.I_CENTERED, 0)))
        return naive.Adagrad(lr, f.get(L.F_LR_DECAY, 0.0), f.get(L.F_WEIGHT_DECAY, 0.0), f[L.F_EPS],
                             self.initial_accumulator_value)

    def __str__(self) -> str:
        return self.name


_ADAM = {L.F_BETA1: 0.9, L.F_BETA2: 0.999, L.F_EPS: 1e-8}
_RMS = {L.F_ALPHA: 0.99, L.F_EPS: 1e-8}
# beta1 = 0.3 and alpha = 0.4 below take torch.lerp's second branch (weight >= 0.5)
OPTS = [
    Opt("sgd", L.OPT_SGD, {}, {}),
    Opt("sgd-momentum", L.OPT_SGD, {L.F_MOMENTUM: 0.9}, {}),
    Opt("sgd-momentum-dampening-wd", L.OPT_SGD, {L.F_MOMENTUM: 0.8, L.F_DAMPENING: 0.3, L.F_WEIGHT_DECAY: 0.05}, {}),
    Opt("sgd-nesterov-wd", L.OPT_SGD, {L.F_MOMENTUM: 0.9, L.F_WEIGHT_DECAY: 0.01}, {L.I_NESTEROV: 1}),
    Opt("adam", L.OPT_ADAM, _ADAM, {}),
    Opt("adam-amsgrad-wd", L.OPT_ADAM, {**_ADAM, L.F_BETA1: 0.8, L.F_BETA2: 0.99, L.F_WEIGHT_DECAY: 0.1},
        {L.I_AMSGRAD: 1}),
    Opt("adamw", L.OPT_ADAMW, {**_ADAM, L.F_WEIGHT_DECAY: 0.01}, {}),
    Opt("adamw-amsgrad", L.OPT_ADAMW, {**_ADAM, L.F_WEIGHT_DECAY: 0.1, L.F_BETA1: 0.3}, {L.I_AMSGRAD: 1}),
    Opt("rmsprop", L.OPT_RMSPROP, _RMS, {}),
    Opt("rmsprop-centered", L.OPT_RMSPROP, {**_RMS, L.F_ALPHA: 0.9}, {L.I_CENTERED: 1}),
    Opt("rmsprop-momentum-wd", L.OPT_RMSPROP, {**_RMS, L.F_MOMENTUM: 0.5, L.F_WEIGHT_DECAY: 0.02}, {}),
    Opt("rmsprop-centered-momentum", L.OPT_RMSPROP, {**_RMS, L.F_ALPHA: 0.4, L.F_MOMENTUM: 0.7}, {L.I_CENTERED: 1}),
    Opt("adagrad", L.OPT_ADAGRAD, {L.F_EPS: 1e-10}, {}),
    Opt("adagrad-decay-wd-init", L.OPT_ADAGRAD, {L.F_EPS: 1e-10, L.F_LR_DECAY: 0.05, L.F_WEIGHT_DECAY: 0.01}, {}, 0.1),
]
OPT_BY_NAME = {o.name: o for o in OPTS}
# one configuration per optimizer code, with its options switched on, for the longer tests
OPTS_ONE_EACH = [OPT_BY_NAME[k] for k in
                 ("sgd-nesterov-wd", "adam-amsgrad-wd", "adamw", "rmsprop-centered-momentum", "adagrad-decay-wd-init")]


def hyper(opt: Opt, lr: float, *, model: str = "linear", B: int = 1, shuffle: int = 1, drop_last: int = 0,
          seed: int = 0, fit_intercept: int = 1, stride: int = 1,
          schedule: int = L.SCHED_CONSTANT, gamma: float = 0.5, step_size: int = 1, eta_min: float = 0.0,
          t_max: float = 10.0, blowup: float = np.inf, accumulate: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(hpf, hpi)`` for a run."""
    hpf = np.zeros(L.HPF_SIZE)
    hpi = np.zeros(L.HPI_SIZE, dtype=np.int64)
    for k, v in opt.f.items():
        hpf[k] = v
    for k, v in opt.i.items():
        hpi[k] = v
    hpf[L.F_LR], hpf[L.F_GAMMA], hpf[L.F_ETA_MIN], hpf[L.F_T_MAX], hpf[L.F_BLOWUP] = lr, gamma, eta_min, t_max, blowup
    hpi[L.I_MODEL] = L.MODELS[model]
    hpi[L.I_OPTIMIZER] = opt.code
    hpi[L.I_SCHEDULE] = schedule
    hpi[L.I_BATCH], hpi[L.I_SHUFFLE], hpi[L.I_DROP_LAST], hpi[L.I_SEED] = B, shuffle, drop_last, seed
    hpi[L.I_STEP_SIZE], hpi[L.I_FIT_INTERCEPT] = step_size, fit_intercept
    hpi[L.I_STRIDE] = stride
    hpi[L.I_ACCUMULATE] = accumulate
    return hpf, hpi


def fresh_opt_state(opt: Opt, p: int, dtype) -> np.ndarray:
    state = np.zeros((3, p), dtype=dtype)
    if opt.code == L.OPT_ADAGRAD:
        state[0] = opt.initial_accumulator_value
    return state


class Run:
    """A fresh run (a RunBatch of one), advanced through the public kernel API."""

    def __init__(self, X, y, hpf, hpi, opt: Opt, params0=None):
        self.X, self.y = X, y
        n, d = X.shape
        p = d + int(hpi[L.I_FIT_INTERCEPT])
        self.batch = L.new_state(1, n, p, X.dtype)
        self.batch.hpf[0] = hpf
        self.batch.hpi[0] = hpi
        if params0 is not None:
            self.batch.params[0] = np.asarray(params0, dtype=X.dtype)
        self.batch.opt_state[0] = fresh_opt_state(opt, p, X.dtype)
        self.batch.perm[0] = 0
        self.hpf, self.hpi = self.batch.hpf[0], self.batch.hpi[0]
        self.params, self.opt_state, self.perm = self.batch.params[0], self.batch.opt_state[0], self.batch.perm[0]
        self.istate, self.fstate = self.batch.istate[0], self.batch.fstate[0]

    def advance(self, n_updates: int, cap: int | None = None) -> dict:
        """Advance and return ``n_done`` and the recorded points (copies)."""
        cap = n_updates + 2 if cap is None else cap
        c = advance_batch(self.X, self.y, self.batch, n_updates, cap)
        k = int(c.n_points[0])
        return {"n_done": int(c.n_done[0]), "step": c.step[0, :k].copy(), "params": c.params[0, :k].copy(),
                "loss": c.loss[0, :k].copy()}

    def state(self) -> tuple[np.ndarray, ...]:
        return (self.params.copy(), self.opt_state.copy(), self.perm.copy(), self.istate.copy(), self.fstate.copy())


def stack(runs: list[Run]) -> L.RunBatch:
    """One RunBatch holding copies of the given runs' states (they must share X)."""
    return L.RunBatch.stack([r.batch for r in runs])


def _float32_products_narrowed() -> bool:
    """True while the compiled batch loss multiplies a float32 ``x_j * theta_j`` in float32.

    Numba types ``float(x)`` of a float32 as float32, so ``float(X[i, j]) * float(theta[j])``
    (kernels/models.py ``linear_z``) rounds each product to float32 before the float64 sum;
    the interpreter (and so the CUDA simulator) widens to float64. Probed on one row.
    """
    from gdviz.kernels import batch_loss_grad

    X = np.array([[0.1, 0.7]], np.float32)
    theta = np.array([0.3, -0.9], np.float32)
    z = float(X[0, 0]) * float(theta[0]) + float(X[0, 1]) * float(theta[1])
    loss, _ = batch_loss_grad(X, np.zeros(1, np.float32), theta, L.MODEL_LINEAR, 0, np.zeros(1, np.int64), 0, 1)
    return loss != z * z


#: Mark for float32 tests that need products in float64 (see _float32_products_narrowed):
#: an expected failure while the kernel bug is there, an ordinary test once it is fixed.
FLOAT32_PRODUCTS_NARROWED = _float32_products_narrowed()
float32_narrowing_xfail = pytest.mark.xfail(
    FLOAT32_PRODUCTS_NARROWED, strict=False,  # some small cases land within tolerance anyway
    reason="kernel bug: models.linear_z's float(X[i, j]) * float(theta[j]) is a float32 product under njit",
)
#: ``np.float32`` as a pytest param carrying :data:`float32_narrowing_xfail`.
F32_PRODUCTS = pytest.param(np.float32, marks=float32_narrowing_xfail, id="float32")
