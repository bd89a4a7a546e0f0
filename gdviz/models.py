"""Host-side descriptions of the models: what the engine, the views and the schema ask of one.

A model is a part. The kernels reach it through one jitted dispatch
(:mod:`gdviz.kernels.models`); everything else asks the :class:`Model` built here for the
parameter count and names, the initial point, the conversion to original units, the fitted
model's line, the full-dataset loss at many points and the per-example gradient statistics
behind the gradient-noise figure. Adding a model means a class here, a branch in the kernel
dispatch, and its keys in the schema.

The flat parameter order is stated once, by each model's :meth:`Model.param_names`:
linear and logistic models use ``[w_1, ..., w_d, b]`` (weights in feature order, intercept
last, present only with ``fit_intercept``); the MLP uses PyTorch's ``model.parameters()``
order (W1 row-major [out, in], b1, W2, b2, ...; stated in :mod:`gdviz.mlp`). The same order is used by ``init``, the kernels'
``params``, ``final_params``, ``history.params`` and exports.

This module imports NumPy only; the kernels are imported when a loss is evaluated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdviz.codes import MODEL_LOGISTIC, MODELS
from gdviz.mlp import MLP


def format_coef(x: float) -> str:
    """A coefficient for the fitted-model line: thousands spaced, else 4 significant digits."""
    if not math.isfinite(x):
        return "nan"
    a = abs(x)
    if 1e4 <= a < 1e15:
        return f"{round(x):,}".replace(",", " ")
    return f"{x:.4g}"


@dataclass(frozen=True)
class LinearFamily:
    """A generalised linear model: ``z = x·w + b``; MSE (``linear``) or BCE on logits (``logistic``).

    Parameters
    ----------
    kind : str
        ``"linear"`` or ``"logistic"``.
    d : int
        Number of features.
    fit_intercept : bool
        Whether the last parameter is the intercept ``b``.
    """

    kind: str
    d: int
    fit_intercept: bool = True
    #: ``|[x_i, 1]|^2`` of the last ``X`` asked about (the engine asks about the same data
    #: after every chunk): ``(X, row_norm2)``.
    _norms: list = field(default_factory=list, compare=False, repr=False)

    # --- shape -----------------------------------------------------------------------------
    @property
    def code(self) -> int:
        """The kernels' model code (``gdviz.codes.MODEL_*``)."""
        return MODELS[self.kind]

    @property
    def n_params(self) -> int:
        return self.d + int(self.fit_intercept)

    @property
    def layout(self) -> str:
        """The flat parameter order, as error messages state it."""
        return "[w_1, ..., w_d, b]" if self.fit_intercept else "[w_1, ..., w_d] (fit_intercept = false)"

    def param_names(self, feature_names: tuple[str, ...] | list[str] | None = None) -> list[str]:
        """One name per parameter, in the flat order: ``w_<feature>``..., then ``b``."""
        names = list(feature_names) if feature_names is not None else [str(j + 1) for j in range(self.d)]
        return [f"w_{name}" for name in names[: self.d]] + (["b"] if self.fit_intercept else [])

    def kernel_settings(self) -> dict[str, int]:
        """The model's keywords for :func:`gdviz.kernels.layout.set_run`."""
        return {"model": self.code, "fit_intercept": int(self.fit_intercept)}

    def kernel_hpi(self) -> np.ndarray:
        """The kernels' ``hpi`` row describing this model (for ``kernels.full_loss``)."""
        from gdviz.kernels.losses import model_hpi

        return model_hpi(**self.kernel_settings())

    def initial_params(self, init: Any = None) -> np.ndarray:
        """float64[p]: the given ``init`` (in the flat order), else zeros, as the first version did."""
        if init is None:
            return np.zeros(self.n_params)
        theta = np.asarray(init, dtype=np.float64)
        if theta.shape != (self.n_params,):
            raise ValueError(f"init has {theta.size} numbers, expected {self.n_params}: {self.layout} with d = {self.d}")
        return theta

    # --- views -----------------------------------------------------------------------------
    def to_original_units(self, dataset: Any, params: np.ndarray) -> np.ndarray:
        """Parameters for the raw (unstandardized) features and target: ``[w'..., b']``."""
        return dataset.to_original_units(params, fit_intercept=self.fit_intercept)

    def fitted_line(self, dataset: Any, params: np.ndarray, max_terms: int = 3) -> str:
        """The fitted model in original units, e.g. ``price = 139.2·size_sqft + 89 598``."""
        try:
            orig = np.asarray(self.to_original_units(dataset, params), dtype=np.float64)
        except (ValueError, TypeError):
            orig = np.asarray(params, dtype=np.float64)
        names = list(dataset.feature_names)
        d = len(names)
        shown = min(d, max_terms)
        parts: list[tuple[float, str]] = [(float(orig[j]), f"·{names[j]}") for j in range(shown)]
        rest = d - shown
        if self.fit_intercept and len(orig) > d:
            parts.append((float(orig[d]), ""))
        text = ""
        for k, (v, name) in enumerate(parts):
            if k == 0:
                text = f"{format_coef(v)}{name}"
            else:
                sign = "−" if v < 0 else "+"
                text += f" {sign} {format_coef(abs(v))}{name}"
            if k == shown - 1 and rest:
                text += f" + … ({rest} more)"
        if self.code == MODEL_LOGISTIC:
            return f"P({dataset.target_name}) = σ({text})"
        return f"{dataset.target_name} = {text}"

    # --- measures over the whole dataset ------------------------------------------------------
    def _z(self, X: np.ndarray, thetas: np.ndarray) -> np.ndarray:
        Z = thetas[:, : self.d] @ X.T
        if self.fit_intercept:
            Z += thetas[:, self.d : self.d + 1]
        return Z

    def outputs(self, X: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """float64[n]: ``z = x·w + b`` for each row of ``X`` (a logit for ``logistic``)."""
        with np.errstate(all="ignore"):
            return self._z(X, np.atleast_2d(theta))[0]

    def _row_norm2(self, X: np.ndarray) -> np.ndarray:
        if not self._norms or self._norms[0] is not X:
            self._norms[:] = [X, np.einsum("ij,ij->i", X, X) + float(self.fit_intercept)]
        return self._norms[1]

    def example_gradient_stats(self, X: np.ndarray, y: np.ndarray, thetas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Full gradient and mean squared per-example gradient norm at each row of ``thetas``.

        Returns ``G`` (float64[k, p], the gradient of the mean loss) and ``M`` (float64[k],
        ``mean_i ||g_i||^2``), so that the per-example gradient covariance has trace
        ``tr(Sigma) = M - |G|^2``. One matrix product over all ``k`` points at once.
        For this family ``g_i = dloss/dz_i · [x_i, 1]``, so ``||g_i||^2 = dz_i^2 (|x_i|^2 + 1)``.
        """
        thetas = np.atleast_2d(np.asarray(thetas, dtype=np.float64))
        n = X.shape[0]
        with np.errstate(all="ignore"):
            Z = self._z(X, thetas)
            if self.code == MODEL_LOGISTIC:
                coef = 1.0 / (1.0 + np.exp(-Z)) - y
            else:
                coef = 2.0 * (Z - y)
            G = np.empty((len(thetas), self.n_params))
            G[:, : self.d] = coef @ X / n
            if self.fit_intercept:
                G[:, self.d] = coef.mean(axis=1)
            row_norm2 = self._row_norm2(X)
            M = (coef * coef) @ row_norm2 / n
        return G, M


#: Any model's description: the linear family, or the MLP (:mod:`gdviz.mlp`).
Model = LinearFamily | MLP


def make_model(kind: str, d: int, fit_intercept: bool = True, *, hidden: Any = (50,), activation: str = "relu",
               loss: str = "mse", init_seed: int = 0) -> Model:
    """The description of model ``kind`` (a ``[model] kind``) on ``d`` features.

    ``hidden``, ``activation``, ``loss`` and ``init_seed`` are the MLP's (unused otherwise);
    an MLP always has biases, whatever ``fit_intercept`` says.
    """
    if kind not in MODELS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {sorted(MODELS)}")
    if kind == "mlp":
        return MLP(int(d), tuple(int(h) for h in hidden), activation, loss, int(init_seed))
    return LinearFamily(kind, int(d), bool(fit_intercept))


def model_of(scenario: Any, d: int) -> Model:
    """The model of a validated scenario (its ``[model]`` table) on ``d`` features."""
    sm = scenario.model
    return make_model(sm.kind, d, bool(sm.fit_intercept), hidden=sm.hidden, activation=sm.activation, loss=sm.loss,
                      init_seed=scenario.seed if sm.init_seed is None else sm.init_seed)
