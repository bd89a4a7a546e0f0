"""Many-runs peers of ``gdviz bench --peers``: ``jax.vmap`` under ``jax.jit``, and ``torch.func.vmap``.

What a practitioner reaches for to train ``R`` copies of one model at once: the one-run
step (a hand-written linear-regression gradient, as :class:`~gdviz.bench_peers.TorchManual`
takes it) mapped over the runs' parameters and learning rates, with the data shared. Both
permute ``X`` once per epoch and take contiguous slices, so every run sees the same sample
order (the easier problem, as ``numpy-runs``; gdviz's ``gdviz-sweep`` row solves that one
too).

- ``jax-vmap``: the whole epoch is one jitted function, ``jax.lax.scan`` over the batches of
  the permuted data (and one more step for a short last batch), the order drawn by
  ``jax.random.permutation`` inside it. Compiled ahead of time (``jit(...).lower(...)
  .compile()``) at construction, whose seconds are ``compile_seconds``: the epoch times
  are of the compiled function alone, as gdviz's rows are after their warm-up.
- ``torch-vmap``: a Python loop over the batches, one ``torch.func.vmap`` step per batch
  (PyTorch has no scan; ``torch.compile`` is not used).

Both need their package (``pip install -e '.[peers]'``); ``gdviz bench`` skips the rows
when it is absent.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from gdviz.bench_peers import Impl


class JaxVmapRuns(Impl):
    """``jax.vmap`` of one run's SGD step over ``R`` runs, the epoch a ``lax.scan`` under ``jax.jit``."""

    name = "jax-vmap"

    def __init__(self, X, y, B, lrs, seed):  # type: ignore[no-untyped-def]
        super().__init__(X, y, B, lrs, seed)
        import jax

        if X.dtype == np.float64:
            jax.config.update("jax_enable_x64", True)  # else jax silently computes in float32
        import jax.numpy as jnp

        self.version = jax.__version__
        self.jax = jax
        n, d, R = self.n, self.d, self.runs
        nb, rest = (1, 0) if B >= n else divmod(n, B)
        B = min(B, n)
        dt = X.dtype

        def step(w, b, lr, xb, yb):  # type: ignore[no-untyped-def]
            r = xb @ w + b - yb
            scale = lr * (2.0 / xb.shape[0])
            return w - scale * (xb.T @ r), b - scale * r.sum()

        vstep = jax.vmap(step, in_axes=(0, 0, 0, None, None))

        def epoch(W, b, lr, X, y, key):  # type: ignore[no-untyped-def]
            if B < n:
                perm = jax.random.permutation(key, n)
                X, y = X[perm], y[perm]
            Xb = X[: nb * B].reshape(nb, B, d)
            yb = y[: nb * B].reshape(nb, B)

            def body(carry, xy):  # type: ignore[no-untyped-def]
                return vstep(carry[0], carry[1], lr, xy[0], xy[1]), None

            (W, b), _ = jax.lax.scan(body, (W, b), (Xb, yb))
            if rest:
                W, b = vstep(W, b, lr, X[nb * B :], y[nb * B :])
            return W, b

        self.X_dev, self.y_dev = jnp.asarray(X), jnp.asarray(y)
        self.W = jnp.zeros((R, d), dt)
        self.b = jnp.zeros(R, dt)
        self.lr = jnp.asarray(lrs.astype(dt))
        self.key = jax.random.PRNGKey(seed)
        t0 = time.perf_counter()
        self._epoch = jax.jit(epoch).lower(self.W, self.b, self.lr, self.X_dev, self.y_dev, self.key).compile()
        self.compile_seconds = time.perf_counter() - t0

    def epoch(self) -> None:
        self.key, sub = self.jax.random.split(self.key)
        self.W, self.b = self._epoch(self.W, self.b, self.lr, self.X_dev, self.y_dev, sub)
        self.b.block_until_ready()
        self._done()

    def params(self) -> np.ndarray:
        return np.hstack([np.asarray(self.W, np.float64), np.asarray(self.b, np.float64)[:, None]])


class TorchVmapRuns(Impl):
    """``torch.func.vmap`` of one run's SGD step over ``R`` runs, one call per batch."""

    name = "torch-vmap"

    def __init__(self, X, y, B, lrs, seed):  # type: ignore[no-untyped-def]
        super().__init__(X, y, B, lrs, seed)
        import torch
        from torch.func import vmap

        self.version = torch.__version__
        self.torch = torch
        self.Xt, self.yt = torch.from_numpy(X), torch.from_numpy(y)
        self.W = torch.zeros((self.runs, self.d), dtype=self.Xt.dtype)
        self.b = torch.zeros(self.runs, dtype=self.Xt.dtype)
        self.lr = torch.from_numpy(lrs.astype(X.dtype))
        self.gen = torch.Generator().manual_seed(seed)

        def step(w: Any, b: Any, lr: Any, xb: Any, yb: Any) -> Any:
            r = xb @ w + b - yb
            scale = lr * (2.0 / xb.shape[0])
            return w - scale * (xb.T @ r), b - scale * r.sum()

        self.step = vmap(step, in_dims=(0, 0, 0, None, None))

    def epoch(self) -> None:
        torch, B, n = self.torch, self.B, self.n
        W, b = self.W, self.b
        with torch.no_grad():
            if B >= n:
                Xp, yp = self.Xt, self.yt
            else:
                perm = torch.randperm(n, generator=self.gen)
                Xp, yp = self.Xt[perm], self.yt[perm]
            for s in range(0, n, B):
                W, b = self.step(W, b, self.lr, Xp[s : s + B], yp[s : s + B])
        self.W, self.b = W, b
        self._done()

    def params(self) -> np.ndarray:
        return np.hstack([self.W.double().numpy(), self.b.double().numpy()[:, None]])
