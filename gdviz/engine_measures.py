"""The engine's measures at parameter points, outside the timed kernels: the full-dataset and
held-out losses, the gradient noise of a batch size and the gradient noise scale B_simple.

A mixin of :class:`gdviz.engine.Engine`, kept apart so that the engine's own file says how runs
are grouped and advanced, and this one what is measured at the points they record.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdviz import kernels as K


class Measures:
    """Measures at points (needs the engine's ``model``, ``n``, ``fit_intercept``, ``_data``,
    ``theta_star``, ``loss_star``, ``_A`` for a linear model, and ``validation``)."""

    model: Any
    n: int
    fit_intercept: bool
    _data: dict
    theta_star: Any
    loss_star: Any
    _A: Any
    validation: Any

    def full_loss(self, thetas: np.ndarray) -> np.ndarray:
        """Loss over the whole dataset for each row of ``thetas`` (float64[k, p])."""
        thetas = np.ascontiguousarray(thetas, dtype=np.float64)
        if self.model.kind == "linear":
            D = thetas - self.theta_star
            with np.errstate(over="ignore", invalid="ignore"):
                # per row, in an order that does not depend on how many rows come at once
                # (BLAS blocks by size: chunked runs would differ from whole ones in the last bit)
                q = np.einsum("ij,jk,ik->i", D, self._A, D)
            return np.maximum(q, 0.0) + self.loss_star
        X, y = self._data[np.float64]
        return K.full_loss(X, y, thetas, self.model.kernel_hpi(), self.fit_intercept)

    def validation_loss(self, thetas: np.ndarray) -> np.ndarray | None:
        """Loss over the held-out rows at each row of ``thetas``; None when none are held out."""
        return None if self.validation is None else self.validation(thetas)

    def grid_loss(self, thetas: np.ndarray) -> np.ndarray:
        """:meth:`full_loss` at many points at once (a contour grid): through the model's own
        batched evaluation when it has one (the MLP's), else the same as :meth:`full_loss`."""
        if hasattr(self.model, "losses"):
            return self.model.losses(*self._data[np.float64], thetas)
        return self.full_loss(thetas)

    def gradient_noise(self, thetas: np.ndarray, batch: int) -> np.ndarray:
        """Expected ``||g_B - g||^2`` at each row of ``thetas`` for batches of ``batch`` samples."""
        thetas = np.atleast_2d(np.asarray(thetas, dtype=np.float64))
        return self._noise(thetas, [batch] * len(thetas))

    def b_simple(self, thetas: np.ndarray) -> np.ndarray:
        """The gradient noise scale ``tr(Sigma) / |G|^2`` at each row of ``thetas`` (see
        :meth:`_noise_stats`); ``inf`` where the gradient is zero."""
        thetas = np.atleast_2d(np.asarray(thetas, dtype=np.float64))
        return self._noise_stats(thetas, [self.n] * len(thetas))[1]

    def _noise(self, thetas: np.ndarray, batches: list[int]) -> np.ndarray:
        """Expected ``||g_B - g||^2`` at ``thetas[k]`` for batches of ``batches[k]`` samples
        (see :meth:`_noise_stats`)."""
        return self._noise_stats(thetas, batches)[0]

    def _noise_stats(self, thetas: np.ndarray, batches: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Gradient noise at ``thetas[k]`` for batches of ``batches[k]`` samples, and the
        gradient noise scale ``B_simple = tr(Sigma) / |G|^2`` there.

        For a batch drawn without replacement, ``E||g_B - g||^2 = (n - B) / (B (n - 1)) * S``
        with ``S = mean_i ||g_i - g||^2 = tr(Sigma)`` over per-example gradients ``g_i``. It
        is exact (no sampling noise), zero for a full batch, and all points share one pass
        over the data; it runs outside the timed kernels. ``B_simple`` (McCandlish et al.,
        2018) is the batch size at which the noise equals the gradient's own size; it does
        not depend on the run's batch (``inf`` where the gradient is zero).
        """
        n = len(thetas)
        noise, scale = np.zeros(n), np.full(n, np.nan)
        if n == 0:
            return noise, scale
        factors = np.array([(self.n - B) / (B * (self.n - 1)) if B < self.n and self.n >= 2 else 0.0 for B in batches])
        X, y = self._data[np.float64]
        G, M = self.model.example_gradient_stats(X, y, thetas)
        with np.errstate(all="ignore"):
            g2 = np.einsum("ij,ij->i", G, G)
            spread = M - g2
            spread = np.where(np.isnan(spread), np.nan, np.maximum(spread, 0.0))
            noise = factors * spread
            scale = np.where(g2 > 0, spread / g2, np.inf)
        noise[factors == 0] = 0.0
        return noise, scale
