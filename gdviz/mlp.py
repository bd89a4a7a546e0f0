"""The host side of the small MLP (``[model] kind = "mlp"``): what the engine and the views ask
of it, with the same interface as :class:`gdviz.models.LinearFamily`.

The network is ``d → h1 [→ h2] → 1``: ``nn.Sequential(nn.Linear(d, h1), act, [nn.Linear(h1,
h2), act,] nn.Linear(h_last, 1))`` with ``act`` one of relu, tanh, sigmoid, trained on the
mean squared error (``mse``, as ``nn.MSELoss``) or on binary cross-entropy with the output as
a logit (``bce``, as ``nn.BCEWithLogitsLoss``).

**The flat parameter order** (stated here once; ``init``, the kernels' ``params``,
``final_params``, ``history.params``, exports and the PCA plane all use it) is PyTorch's
``model.parameters()`` order::

    W1 [h1, d] row-major (W1[0, 0], W1[0, 1], ...) | b1 [h1] | W2 [h2, h1] | b2 [h2] | Wo [1, h_last] | bo

**Initial parameters**, unless ``init`` gives them: as ``nn.Linear``'s default, every weight
and bias of a layer with ``fan_in`` inputs uniform in ``[-1/√fan_in, 1/√fan_in)``, drawn from
``numpy.random.default_rng(init_seed)`` layer by layer in the flat order (weights, then
biases). The distribution is PyTorch's, the stream is NumPy's: the same ``init_seed`` gives
the same network here on every machine, not the network ``torch.manual_seed`` would give.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gdviz.codes import ACTIVATIONS, LOSSES, MODEL_MLP


@dataclass(frozen=True)
class MLP:
    """A ``d → hidden... → 1`` network (one or two hidden layers)."""

    d: int
    hidden: tuple[int, ...]
    activation: str = "relu"
    loss: str = "mse"
    init_seed: int = 0
    kind: str = "mlp"
    fit_intercept: bool = True  # every layer has biases

    def __post_init__(self) -> None:
        if not 1 <= len(self.hidden) <= 2 or any(int(h) < 1 for h in self.hidden):
            raise ValueError(f"hidden must be one or two positive widths, got {list(self.hidden)}")
        if self.activation not in ACTIVATIONS or self.loss not in LOSSES:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)} and loss one of {sorted(LOSSES)}")

    # --- shape -----------------------------------------------------------------------------
    @property
    def code(self) -> int:
        return MODEL_MLP

    @property
    def sizes(self) -> list[int]:
        return [self.d, *self.hidden, 1]

    def shapes(self) -> list[tuple[int, int]]:
        """``(out, in)`` of each layer's weight matrix, in order."""
        s = self.sizes
        return [(s[k + 1], s[k]) for k in range(len(s) - 1)]

    @property
    def n_params(self) -> int:
        return sum(o * i + o for o, i in self.shapes())

    @property
    def layout(self) -> str:
        names = [f"W{k + 1} [{o}, {i}] row-major, b{k + 1} [{o}]" for k, (o, i) in enumerate(self.shapes()[:-1])]
        o, i = self.shapes()[-1]
        return ", ".join([*names, f"Wo [1, {i}], bo"]) + " (PyTorch's model.parameters() order)"

    def description(self) -> str:
        """``mlp 10→50→1 relu, 601 parameters``."""
        return f"mlp {'→'.join(map(str, self.sizes))} {self.activation}, {self.n_params} parameters"

    def param_names(self, feature_names: Any = None) -> list[str]:
        """``W1[0][0]``, ..., ``b1[0]``, ..., ``Wo[0]``, ``bo``, in the flat order."""
        names: list[str] = []
        layers = self.shapes()
        for k, (o, i) in enumerate(layers):
            last = k == len(layers) - 1
            W, b = ("Wo", "bo") if last else (f"W{k + 1}", f"b{k + 1}")
            names += [f"{W}[{j}]" if last else f"{W}[{r}][{j}]" for r in range(o) for j in range(i)]
            names += [b] if last else [f"{b}[{r}]" for r in range(o)]
        return names

    def kernel_settings(self) -> dict[str, Any]:
        """The model's keywords for :func:`gdviz.kernels.layout.set_run`."""
        return {"model": MODEL_MLP, "fit_intercept": 1, "hidden1": int(self.hidden[0]),
                "hidden2": int(self.hidden[1]) if len(self.hidden) > 1 else 0,
                "activation": ACTIVATIONS[self.activation], "loss": LOSSES[self.loss]}

    def kernel_hpi(self) -> np.ndarray:
        """The kernels' ``hpi`` row describing this network (for ``kernels.full_loss``)."""
        from gdviz.kernels.losses import model_hpi

        return model_hpi(**self.kernel_settings())

    def initial_params(self, init: Any = None) -> np.ndarray:
        """float64[p]: ``init`` when given (flat order), else ``nn.Linear``'s uniform init (module doc)."""
        if init is not None and len(init) > 0:
            theta = np.asarray(init, dtype=np.float64)
            if theta.shape != (self.n_params,):
                raise ValueError(f"init has {theta.size} numbers, expected {self.n_params}: {self.layout}")
            return theta
        rng = np.random.default_rng(self.init_seed)
        parts = []
        for o, i in self.shapes():
            bound = 1.0 / np.sqrt(i)
            parts += [rng.uniform(-bound, bound, o * i), rng.uniform(-bound, bound, o)]
        return np.concatenate(parts)

    def unflatten(self, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(W, b), ...]`` views of ``theta[..., p]`` (leading axes kept): ``W[..., out, in]``."""
        out, at = [], 0
        lead = theta.shape[:-1]
        for o, i in self.shapes():
            out.append((theta[..., at : at + o * i].reshape(*lead, o, i), theta[..., at + o * i : at + o * i + o]))
            at += o * i + o
        return out

    # --- views -----------------------------------------------------------------------------
    def to_original_units(self, dataset: Any, params: np.ndarray) -> np.ndarray:
        """The same network for raw features (and raw target, for mse): the standardization
        folded into the first layer (``W1' = W1 / s``, ``b1' = b1 - W1' mu``) and the output
        (``Wo' = s_y Wo``, ``bo' = mu_y + s_y bo``). Same flat order, same length."""
        theta = np.array(params, dtype=np.float64)
        layers = self.unflatten(theta)
        W1, b1 = layers[0]
        mu = getattr(dataset, "x_mean", None)
        s = getattr(dataset, "x_scale", None)
        with np.errstate(invalid="ignore", over="ignore"):
            if s is not None:
                W1 /= s
            if mu is not None:
                b1 -= W1 @ mu
            Wo, bo = layers[-1]
            mu_y, s_y = getattr(dataset, "y_mean", None), getattr(dataset, "y_scale", None)
            if s_y is not None:
                Wo *= s_y
                bo *= s_y
            if mu_y is not None:
                bo += mu_y
        return theta

    def fitted_line(self, dataset: Any, params: np.ndarray, max_terms: int = 3) -> str:
        """No formula to print for a network: its short description instead."""
        return self.description()

    # --- measures over the whole dataset ------------------------------------------------------
    def losses(self, X: np.ndarray, y: np.ndarray, thetas: np.ndarray) -> np.ndarray:
        """Full-dataset loss (float64[k]) at each row of ``thetas``, many points per matrix
        product (for a contour grid: thousands of points; the kernels take one at a time)."""
        thetas = np.atleast_2d(np.asarray(thetas, dtype=np.float64))
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        out = np.empty(len(thetas))
        step = max(1, (1 << 22) // (X.shape[0] * max(self.hidden)))  # ~32 MB of activations at once
        with np.errstate(all="ignore"):
            for lo in range(0, len(thetas), step):
                layers = self.unflatten(thetas[lo : lo + step])
                a = np.broadcast_to(X, (len(layers[0][0]), *X.shape))
                for W, b in layers[:-1]:
                    a = self._act(a @ W.transpose(0, 2, 1) + b[:, None, :])
                Wo, bo = layers[-1]
                z = (a @ Wo.transpose(0, 2, 1))[:, :, 0] + bo
                if self.loss == "mse":
                    out[lo : lo + step] = np.mean((z - y) ** 2, axis=1)
                else:
                    out[lo : lo + step] = np.mean(np.logaddexp(0.0, z) - z * y, axis=1)
        return out

    def outputs(self, X: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """float64[n]: the network's output at ``theta`` for each row of ``X`` (a logit for bce)."""
        layers = self.unflatten(np.asarray(theta, dtype=np.float64))
        a = np.asarray(X, dtype=np.float64)
        with np.errstate(all="ignore"):
            for W, b in layers[:-1]:
                a = self._act(a @ W.T + b)
            Wo, bo = layers[-1]
            return (a @ Wo.T + bo)[:, 0]

    def _act(self, s: np.ndarray) -> np.ndarray:
        if self.activation == "relu":
            return np.maximum(s, 0.0)
        if self.activation == "tanh":
            return np.tanh(s)
        return 1.0 / (1.0 + np.exp(-s))

    def _act_grad(self, a: np.ndarray) -> np.ndarray:
        if self.activation == "relu":
            return (a > 0.0).astype(np.float64)
        if self.activation == "tanh":
            return 1.0 - a * a
        return a * (1.0 - a)

    def example_gradient_stats(self, X: np.ndarray, y: np.ndarray, thetas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Full gradient ``G`` (float64[k, p]) and ``M = mean_i ||g_i||^2`` (float64[k]) at each
        row of ``thetas``, by batched backpropagation over all rows (per-example gradients of a
        layer ``(W, b)`` are ``delta_i a_i^T`` and ``delta_i``, so ``||g_i||^2`` per layer is
        ``|delta_i|^2 (|a_i|^2 + 1)``)."""
        thetas = np.atleast_2d(np.asarray(thetas, dtype=np.float64))
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        n = X.shape[0]
        G = np.empty((len(thetas), self.n_params))
        M = np.empty(len(thetas))
        with np.errstate(all="ignore"):
            for r, theta in enumerate(thetas):
                layers = self.unflatten(theta)
                acts = [X]
                for W, b in layers[:-1]:
                    acts.append(self._act(acts[-1] @ W.T + b))
                Wo, bo = layers[-1]
                z = (acts[-1] @ Wo.T + bo)[:, 0]
                dz = 2.0 * (z - y) if self.loss == "mse" else 1.0 / (1.0 + np.exp(-z)) - y
                delta = dz[:, None]
                grads, norm2 = [], np.zeros(n)
                for k in range(len(layers) - 1, -1, -1):
                    a = acts[k]
                    grads.append(np.concatenate([(delta.T @ a).ravel(), delta.sum(axis=0)]) / n)
                    norm2 += np.einsum("ij,ij->i", delta, delta) * (np.einsum("ij,ij->i", a, a) + 1.0)
                    if k > 0:
                        delta = (delta @ layers[k][0]) * self._act_grad(a)
                G[r] = np.concatenate(grads[::-1])
                M[r] = norm2.mean()
        return G, M
