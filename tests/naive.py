"""Plain NumPy references for the kernels, written from the maths and torch's documented
algorithms, not from the kernels' code.

Everything here computes in float64 and keeps no state in the kernels' array layout:
optimizers are small classes holding their buffers by name, the epoch loop is a literal
per-update loop. Tolerances for comparing kernels with these references live in ``TOL``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# One tolerance per dtype: kernels store float32 state each step while the references
# keep float64 throughout, so float32 comparisons allow for float32 rounding per step.
TOL = {
    np.dtype(np.float64): {"rtol": 1e-9, "atol": 1e-11},
    np.dtype(np.float32): {"rtol": 2e-4, "atol": 2e-5},
}


def tol(dtype) -> dict:
    """``assert_allclose`` keyword arguments for results computed in ``dtype``."""
    return TOL[np.dtype(dtype)]


# --- models ----------------------------------------------------------------------------


def design(X: np.ndarray, fit_intercept: bool) -> np.ndarray:
    """``[X, 1]`` (or ``X``) in float64."""
    X = np.asarray(X, dtype=np.float64)
    return np.hstack([X, np.ones((X.shape[0], 1))]) if fit_intercept else X


def loss_grad(X, y, theta, model: str, fit_intercept: bool, rows=None) -> tuple[float, np.ndarray]:
    """Mean loss and its gradient over ``rows`` of ``X`` (all rows when None).

    ``model`` is ``"linear"`` (torch MSELoss) or ``"logistic"`` (torch BCEWithLogitsLoss),
    or an :class:`MLP` (``fit_intercept`` then unused).
    """
    if isinstance(model, MLP):
        return model.loss_grad(X, y, theta, rows)
    Xa = design(X, fit_intercept)
    y = np.asarray(y, dtype=np.float64)
    if rows is not None:
        Xa, y = Xa[rows], y[rows]
    theta = np.asarray(theta, dtype=np.float64)
    z = Xa @ theta
    B = len(y)
    if model == "linear":
        r = z - y
        return float(np.mean(r**2)), 2.0 / B * (Xa.T @ r)
    # -y log(sigma(z)) - (1 - y) log(1 - sigma(z)), with -log(sigma(t)) = softplus(-t)
    loss = np.mean(y * np.logaddexp(0.0, -z) + (1.0 - y) * np.logaddexp(0.0, z))
    sigma = np.exp(-np.logaddexp(0.0, -z))
    return float(loss), (Xa.T @ (sigma - y)) / B


def full_loss(X, y, thetas, model: str, fit_intercept: bool) -> np.ndarray:
    """Full-dataset mean loss at each row of ``thetas``."""
    return np.array([loss_grad(X, y, th, model, fit_intercept)[0] for th in np.atleast_2d(thetas)])


@dataclass(frozen=True)
class MLP:
    """``d → hidden[0] [→ hidden[1]] → 1``, from the maths: ``a_l = act(W_l a_{l-1} + b_l)``,
    ``z = W_o a_L + b_o``; loss ``"mse"`` or ``"bce"`` (on the logit ``z``), mean over rows.
    Parameters flat in torch's ``parameters()`` order: W1 (row-major [out, in]), b1, W2, b2, ...
    """

    d: int
    hidden: tuple
    activation: str = "relu"
    loss: str = "mse"

    def shapes(self) -> list:
        sizes = [self.d, *self.hidden, 1]
        return [(sizes[k + 1], sizes[k]) for k in range(len(sizes) - 1)]

    @property
    def n_params(self) -> int:
        return sum(o * i + o for o, i in self.shapes())

    def unflatten(self, theta) -> list:
        theta = np.asarray(theta, dtype=np.float64)
        out, at = [], 0
        for o, i in self.shapes():
            W = theta[at : at + o * i].reshape(o, i)
            b = theta[at + o * i : at + o * i + o]
            out.append((W, b))
            at += o * i + o
        assert at == theta.size, (at, theta.size)
        return out

    def _act(self, s):
        if self.activation == "relu":
            return np.maximum(s, 0.0)
        if self.activation == "tanh":
            return np.tanh(s)
        return 0.5 * (1.0 + np.tanh(0.5 * s))  # the logistic function, written another way

    def _act_prime(self, s):
        if self.activation == "relu":
            return (s > 0.0).astype(np.float64)
        if self.activation == "tanh":
            return 1.0 / np.cosh(s) ** 2
        sig = self._act(s)
        return sig * (1.0 - sig)

    def loss_grad(self, X, y, theta, rows=None) -> tuple:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if rows is not None:
            X, y = X[rows], y[rows]
        layers = self.unflatten(theta)
        B = len(y)
        acts, pre = [X], []
        for W, b in layers[:-1]:
            pre.append(acts[-1] @ W.T + b)
            acts.append(self._act(pre[-1]))
        Wo, bo = layers[-1]
        z = (acts[-1] @ Wo.T + bo)[:, 0]
        if self.loss == "mse":
            loss = np.mean((z - y) ** 2)
            dz = 2.0 * (z - y) / B
        else:
            loss = np.mean(y * np.logaddexp(0.0, -z) + (1.0 - y) * np.logaddexp(0.0, z))
            dz = (np.exp(-np.logaddexp(0.0, -z)) - y) / B
        grads = []
        delta = dz[:, None]  # dL/d(output of layer), [B, out]
        for k in range(len(layers) - 1, -1, -1):
            W, _ = layers[k]
            grads.append((delta.T @ acts[k], delta.sum(axis=0)))
            if k > 0:
                delta = (delta @ W) * self._act_prime(pre[k - 1])
        flat = np.concatenate([np.concatenate([gW.ravel(), gb]) for gW, gb in reversed(grads)])
        return float(loss), flat


# --- optimizers, from the algorithm boxes of the torch.optim documentation -------------------


@dataclass
class SGD:
    lr: float
    momentum: float = 0.0
    dampening: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False
    t: int = 0
    b: np.ndarray | None = None

    def step(self, theta, g, lr=None):
        lr = self.lr if lr is None else lr
        self.t += 1
        if self.weight_decay:
            g = g + self.weight_decay * theta
        if self.momentum:
            self.b = g.copy() if self.t == 1 else self.momentum * self.b + (1 - self.dampening) * g
            g = g + self.momentum * self.b if self.nesterov else self.b
        return theta - lr * g


@dataclass
class Adam:
    lr: float
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = False
    decoupled: bool = False  # AdamW
    t: int = 0
    m: np.ndarray | None = None
    v: np.ndarray | None = None
    v_max: np.ndarray | None = None

    def step(self, theta, g, lr=None):
        lr = self.lr if lr is None else lr
        if self.t == 0:
            self.m, self.v, self.v_max = (np.zeros_like(theta) for _ in range(3))
        self.t += 1
        if self.decoupled:
            theta = theta - lr * self.weight_decay * theta
        elif self.weight_decay:
            g = g + self.weight_decay * theta
        self.m = self.beta1 * self.m + (1 - self.beta1) * g
        self.v = self.beta2 * self.v + (1 - self.beta2) * g * g
        m_hat = self.m / (1 - self.beta1**self.t)
        if self.amsgrad:
            self.v_max = np.maximum(self.v_max, self.v)
            v_hat = self.v_max / (1 - self.beta2**self.t)
        else:
            v_hat = self.v / (1 - self.beta2**self.t)
        return theta - lr * m_hat / (np.sqrt(v_hat) + self.eps)


@dataclass
class RMSprop:
    lr: float
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    centered: bool = False
    v: np.ndarray | None = None
    g_ave: np.ndarray | None = None
    b: np.ndarray | None = None

    def step(self, theta, g, lr=None):
        lr = self.lr if lr is None else lr
        if self.v is None:
            self.v, self.g_ave, self.b = (np.zeros_like(theta) for _ in range(3))
        if self.weight_decay:
            g = g + self.weight_decay * theta
        self.v = self.alpha * self.v + (1 - self.alpha) * g * g
        v_tilde = self.v
        if self.centered:
            self.g_ave = self.alpha * self.g_ave + (1 - self.alpha) * g
            v_tilde = v_tilde - self.g_ave**2
        if self.momentum > 0:
            self.b = self.momentum * self.b + g / (np.sqrt(v_tilde) + self.eps)
            return theta - lr * self.b
        return theta - lr * g / (np.sqrt(v_tilde) + self.eps)


@dataclass
class Adagrad:
    lr: float
    lr_decay: float = 0.0
    weight_decay: float = 0.0
    eps: float = 1e-10
    initial_accumulator_value: float = 0.0
    t: int = 0
    state_sum: np.ndarray | None = None

    def step(self, theta, g, lr=None):
        lr = self.lr if lr is None else lr
        if self.state_sum is None:
            self.state_sum = np.full_like(theta, self.initial_accumulator_value)
        self.t += 1
        lr_t = lr / (1 + (self.t - 1) * self.lr_decay)
        if self.weight_decay:
            g = g + self.weight_decay * theta
        self.state_sum = self.state_sum + g * g
        return theta - lr_t * g / (np.sqrt(self.state_sum) + self.eps)


# --- schedules: torch's recursive (chainable) forms ----------------------------------------


def lr_sequence(schedule: str, lr: float, epochs: int, gamma=0.1, step_size=1, eta_min=0.0, t_max=1) -> list[float]:
    """The learning rate used during each epoch ``0 .. epochs-1``, stepping the scheduler
    after each epoch the way torch's ``get_lr`` does (each value from the previous one)."""
    out = [lr]
    for e in range(1, epochs):
        prev = out[-1]
        if schedule == "constant":
            cur = prev
        elif schedule == "step":
            cur = prev * gamma if e % step_size == 0 else prev
        elif schedule == "exponential":
            cur = prev * gamma
        elif schedule == "cosine":
            if (e - 1 - t_max) % (2 * t_max) == 0:
                cur = prev + (lr - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
            else:
                cur = (1 + math.cos(math.pi * e / t_max)) / (1 + math.cos(math.pi * (e - 1) / t_max)) * (
                    prev - eta_min
                ) + eta_min
        else:
            raise ValueError(schedule)
        out.append(cur)
    return out


# --- the epoch loop --------------------------------------------------------------------------


@dataclass
class Trace:
    """What a literal per-update loop saw: one entry per update, and the history points."""

    params: list = field(default_factory=list)  # parameters after each update
    loss: list = field(default_factory=list)  # minibatch loss of each update
    noise: list = field(default_factory=list)  # ||g_batch - g_full||^2 or nan
    rec_step: list = field(default_factory=list)
    rec_params: list = field(default_factory=list)
    rec_loss: list = field(default_factory=list)
    rec_noise: list = field(default_factory=list)
    epoch: int = 0
    pos: int = 0
    diverged: int = -1


def descend(X, y, theta0, optimizer, model, fit_intercept, B, n_updates, order, drop_last=False,
            lr_of_epoch=None, stride=1, noise_stride=0, blowup=math.inf) -> Trace:
    """Run ``n_updates`` minibatch updates, literally, and record history like the kernel.

    ``order(epoch)`` gives the epoch's row order; ``lr_of_epoch(epoch)`` the learning rate
    (the optimizer's own ``lr`` when None).
    """
    n = len(y)
    tr = Trace()
    theta = np.asarray(theta0, dtype=np.float64).copy()
    rows = order(0)
    window = []
    for step in range(1, n_updates + 1):
        if tr.pos == 0:
            rows = order(tr.epoch)
        batch = rows[tr.pos : tr.pos + B]
        loss, g = loss_grad(X, y, theta, model, fit_intercept, batch)
        noise = math.nan
        if noise_stride and step % noise_stride == 0:
            _, g_full = loss_grad(X, y, theta, model, fit_intercept)
            noise = float(np.sum((g - g_full) ** 2))
        lr = None if lr_of_epoch is None else lr_of_epoch(tr.epoch)
        theta = optimizer.step(theta, g, lr)
        tr.pos += len(batch)
        ended = tr.pos == n or (drop_last and tr.pos + B > n)
        if ended:
            tr.pos = 0
            tr.epoch += 1
        tr.params.append(theta.copy())
        tr.loss.append(loss)
        tr.noise.append(noise)
        window.append(loss)
        diverged = not np.isfinite(loss) or loss > blowup or not np.all(np.isfinite(theta))
        if diverged or ended or step % stride == 0:
            tr.rec_step.append(step)
            tr.rec_params.append(theta.copy())
            tr.rec_loss.append(float(np.mean(window)))
            tr.rec_noise.append(noise)
            window = []
        if diverged:
            tr.diverged = step
            break
    return tr


def descend_accumulated(X, y, theta0, optimizer, model, fit_intercept, B, k, epochs, order, drop_last=False,
                        lr_of_epoch=None) -> Trace:
    """Gradient accumulation as PyTorch's usual loop, literally, for whole epochs::

        for i, (xb, yb) in enumerate(loader):
            (criterion(model(xb), yb) / k).backward()
            if (i + 1) % k == 0 or i + 1 == len(loader):
                optimizer.step(); optimizer.zero_grad()

    ``Trace.params`` and ``Trace.loss`` get one entry per optimizer step: the parameters after
    it and the mean of its micro-batches' losses.
    """
    n = len(y)
    tr = Trace()
    theta = np.asarray(theta0, dtype=np.float64).copy()
    for epoch in range(epochs):
        rows = order(epoch)
        starts = [s for s in range(0, n, B) if not drop_last or s + B <= n or B >= n]
        loader = [rows[s : s + B] for s in starts]
        grad, losses = None, []
        for i, batch in enumerate(loader):
            loss, g = loss_grad(X, y, theta, model, fit_intercept, batch)
            grad = g / k if grad is None else grad + g / k
            losses.append(loss)
            if (i + 1) % k == 0 or i + 1 == len(loader):
                lr = None if lr_of_epoch is None else lr_of_epoch(epoch)
                theta = optimizer.step(theta, grad, lr)
                tr.params.append(theta.copy())
                tr.loss.append(float(np.mean(losses)))
                grad, losses = None, []
    tr.epoch = epochs
    return tr
