"""The implementations ``gdviz bench`` times: gdviz's kernels and the peers it is measured against.

Every implementation trains the same linear regression (MSE, ``[w, b]`` from zero) with
plain SGD at learning rate ``lr`` and batch size ``B``, one epoch per :meth:`epoch` call,
each epoch on a fresh shuffle of its own (full batch: no shuffle is needed, except where the
implementation does one anyway). ``updates`` counts the optimizer steps taken, so a test can
check that every row did the same work; :meth:`params` gives the final ``[w, b]`` of each run
for the final MSE. Peers are imported only when used, and only with ``--peers``.
"""

from __future__ import annotations

import numpy as np

from gdviz import kernels as K
from gdviz.kernels import layout as L


class Impl:
    """One implementation at one size: ``runs`` runs of SGD on ``(X, y)``."""

    name = ""
    version = ""

    def __init__(self, X: np.ndarray, y: np.ndarray, B: int, lrs: np.ndarray, seed: int) -> None:
        self.X, self.y, self.B, self.lrs, self.seed = X, y, B, lrs, seed
        self.n, self.d = X.shape
        self.runs = len(lrs)
        self.updates = 0
        self.epochs = 0

    def epoch(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def params(self) -> np.ndarray:  # pragma: no cover - abstract
        """float64[runs, d + 1]: each run's ``[w, b]``."""
        raise NotImplementedError

    def _done(self) -> None:
        self.updates += self.runs * -(-self.n // self.B)
        self.epochs += 1


# --- gdviz ---------------------------------------------------------------------------------


def _new_runs(X: np.ndarray, B: int, lrs: np.ndarray, seed: int, one_order: bool = False) -> tuple[L.RunBatch, int]:
    """A fresh batch of ``len(lrs)`` SGD runs on ``X`` (run ``r``: ``lrs[r]``, seed ``seed + r``,
    or ``seed`` for all with ``one_order``), recording one history point per epoch, as few as
    the engine would; and updates per epoch."""
    from gdviz.runfacts import updates_per_epoch

    n, d = X.shape
    upe = updates_per_epoch(n, B, False)
    state = L.new_state(len(lrs), n, d + 1, X.dtype)
    for r, lr in enumerate(lrs):
        L.set_run(state, r, model="linear", optimizer="sgd", fit_intercept=1, learning_rate=float(lr), batch=B,
                  shuffle=1, seed=seed if one_order else seed + r, stride=upe)
    return state, upe


class GdvizSingle(Impl):
    """One run through :func:`gdviz.kernels.advance_batch` (a batch of one), as the engine drives it."""

    name = "gdviz"
    parallel = False
    one_order = False

    def __init__(self, X, y, B, lrs, seed):  # type: ignore[no-untyped-def]
        super().__init__(X, y, B, lrs, seed)
        import gdviz

        self.version = gdviz.__version__
        self.state, self.upe = _new_runs(X, B, lrs, seed, self.one_order)

    def epoch(self) -> None:
        chunk = K.advance_batch(self.X, self.y, self.state, self.upe, parallel=self.parallel)
        if np.any(chunk.n_done != self.upe):
            raise RuntimeError(f"{self.name} advanced {chunk.n_done.tolist()} of {self.upe} updates per run (diverged?)")
        self._done()

    def params(self) -> np.ndarray:
        return self.state.params.astype(np.float64)


class GdvizRuns(GdvizSingle):
    """R runs in one :func:`gdviz.kernels.advance_batch` call, spread over Numba's threads
    (``parallel=True``): what the engine does with a scenario of many runs."""

    name = "gdviz-batch"
    parallel = True


class GdvizSweep(GdvizRuns):
    """R runs of one seed (one sample order), learning rates apart: a learning-rate sweep, in
    one :func:`gdviz.kernels.advance_batch` call, which visits each row once for all of them
    (:mod:`gdviz.kernels.shared`). The same problem as ``numpy-runs`` and the vmap peers."""

    name = "gdviz-sweep"
    one_order = True


# --- NumPy ---------------------------------------------------------------------------------


class NumpyLoop(Impl):
    """The reference loop: one NumPy gradient per batch (``2/B Xbᵀ(Xb w + b - yb)``)."""

    name = "numpy"

    def __init__(self, X, y, B, lrs, seed):  # type: ignore[no-untyped-def]
        super().__init__(X, y, B, lrs, seed)
        self.version = np.__version__
        self.rng = np.random.default_rng(seed)
        self.w = np.zeros(self.d, X.dtype)
        self.b = X.dtype.type(0)
        self.lr = X.dtype.type(lrs[0])

    def epoch(self) -> None:
        X, y, B, n = self.X, self.y, self.B, self.n
        w, b, lr = self.w, self.b, self.lr
        if B >= n:
            r = X @ w + b - y
            w -= lr * (X.dtype.type(2.0 / n) * (X.T @ r))
            b -= lr * X.dtype.type(2.0 / n) * r.sum()
        else:
            perm = self.rng.permutation(n)
            for s in range(0, n, B):
                idx = perm[s : s + B]
                xb, yb = X[idx], y[idx]
                r = xb @ w + b - yb
                scale = X.dtype.type(2.0 / len(idx))
                w -= lr * scale * (xb.T @ r)
                b -= lr * scale * r.sum()
        self.b = b
        self._done()

    def params(self) -> np.ndarray:
        return np.append(self.w.astype(np.float64), float(self.b))[None, :]


class NumpyRuns(Impl):
    """NumPy vectorised over runs: one matrix product per batch serves all R runs."""

    name = "numpy-runs"

    def __init__(self, X, y, B, lrs, seed):  # type: ignore[no-untyped-def]
        super().__init__(X, y, B, lrs, seed)
        self.version = np.__version__
        self.rng = np.random.default_rng(seed)
        self.W = np.zeros((self.d, self.runs), X.dtype)
        self.b = np.zeros(self.runs, X.dtype)
        self.lr = lrs.astype(X.dtype)

    def epoch(self) -> None:
        X, y, B, n, W, b, lr = self.X, self.y, self.B, self.n, self.W, self.b, self.lr
        batches = [(X, y)] if B >= n else None
        perm = None if B >= n else self.rng.permutation(n)
        for s in range(0, n, B):
            if batches is None:
                idx = perm[s : s + B]
                xb, yb = X[idx], y[idx]
            else:
                xb, yb = batches[0]
            Z = xb @ W + b - yb[:, None]
            scale = X.dtype.type(2.0 / len(xb))
            W -= (scale * lr) * (xb.T @ Z)
            b -= (scale * lr) * Z.sum(axis=0)
        self._done()

    def params(self) -> np.ndarray:
        return np.hstack([self.W.T.astype(np.float64), self.b.astype(np.float64)[:, None]])


# --- PyTorch -------------------------------------------------------------------------------


class TorchTutorial(Impl):
    """PyTorch as the tutorials write it: nn.Linear, nn.MSELoss, optim.SGD, DataLoader(shuffle)."""

    name = "torch-tutorial"

    def __init__(self, X, y, B, lrs, seed):  # type: ignore[no-untyped-def]
        super().__init__(X, y, B, lrs, seed)
        import torch
        from torch import nn
        from torch.utils.data import DataLoader, TensorDataset

        self.version = torch.__version__
        self.torch = torch
        tdt = torch.float32 if X.dtype == np.float32 else torch.float64
        self.model = nn.Linear(self.d, 1).to(tdt)
        with torch.no_grad():
            self.model.weight.zero_()
            self.model.bias.zero_()
        gen = torch.Generator().manual_seed(seed)
        self.loader = DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(y)), batch_size=B, shuffle=True,
                                 generator=gen)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=float(lrs[0]))
        self.loss_fn = nn.MSELoss()

    def epoch(self) -> None:
        for xb, yb in self.loader:
            self.opt.zero_grad()
            loss = self.loss_fn(self.model(xb).squeeze(1), yb)
            loss.backward()
            self.opt.step()
        self._done()

    def params(self) -> np.ndarray:
        w = self.model.weight.detach().double().numpy().reshape(-1)
        return np.append(w, float(self.model.bias.detach()))[None, :]


class TorchManual(Impl):
    """PyTorch with a hand-written gradient, as a careful user writes it: ``X`` and ``y``
    permuted once per epoch (``Xp = X[perm]``), then contiguous slices of ``Xp``, the
    residual in one ``torch.addmm`` and the step in another (``w.addmm_``)."""

    name = "torch-manual"

    def __init__(self, X, y, B, lrs, seed):  # type: ignore[no-untyped-def]
        super().__init__(X, y, B, lrs, seed)
        import torch

        self.version = torch.__version__
        self.torch = torch
        self.Xt, self.yt = torch.from_numpy(X), torch.from_numpy(y).reshape(-1, 1)
        self.w = torch.zeros((self.d, 1), dtype=self.Xt.dtype)  # a column, for addmm
        self.b = torch.zeros((), dtype=self.Xt.dtype)
        self.lr = float(lrs[0])
        self.gen = torch.Generator().manual_seed(seed)

    def epoch(self) -> None:
        torch, w, b, B, n = self.torch, self.w, self.b, self.B, self.n
        with torch.no_grad():
            if B >= n:
                Xp, yp = self.Xt, self.yt
            else:
                perm = torch.randperm(n, generator=self.gen)
                Xp, yp = self.Xt[perm], self.yt[perm]  # one gather per epoch
            for s in range(0, n, B):
                xb, yb = Xp[s : s + B], yp[s : s + B]  # contiguous views
                r = torch.addmm(yb, xb, w, beta=-1).add_(b)  # xb w - yb + b
                scale = self.lr * 2.0 / xb.shape[0]
                w.addmm_(xb.T, r, alpha=-scale)
                b.sub_(r.sum(), alpha=scale)
        self._done()

    def params(self) -> np.ndarray:
        return np.append(self.w.double().numpy().reshape(-1), float(self.b))[None, :]


class TorchManualGather(Impl):
    """PyTorch with a hand-written gradient, gathering each batch: randperm, ``X[idx]``, two
    matrix-vector products."""

    name = "torch-manual-gather"

    def __init__(self, X, y, B, lrs, seed):  # type: ignore[no-untyped-def]
        super().__init__(X, y, B, lrs, seed)
        import torch

        self.version = torch.__version__
        self.torch = torch
        self.Xt, self.yt = torch.from_numpy(X), torch.from_numpy(y)
        self.w = torch.zeros(self.d, dtype=self.Xt.dtype)
        self.b = torch.zeros((), dtype=self.Xt.dtype)
        self.lr = float(lrs[0])
        self.gen = torch.Generator().manual_seed(seed)

    def epoch(self) -> None:
        torch, X, y, w, b, B, n = self.torch, self.Xt, self.yt, self.w, self.b, self.B, self.n
        with torch.no_grad():
            if B >= n:
                r = X @ w + b - y
                w.sub_(X.T @ r, alpha=self.lr * 2.0 / n)
                b.sub_(r.sum(), alpha=self.lr * 2.0 / n)
            else:
                perm = torch.randperm(n, generator=self.gen)
                for s in range(0, n, B):
                    idx = perm[s : s + B]
                    xb, yb = X[idx], y[idx]
                    r = xb @ w + b - yb
                    scale = self.lr * 2.0 / len(idx)
                    w.sub_(xb.T @ r, alpha=scale)
                    b.sub_(r.sum(), alpha=scale)
        self._done()

    def params(self) -> np.ndarray:
        return np.append(self.w.double().numpy(), float(self.b))[None, :]


# --- scikit-learn --------------------------------------------------------------------------


class Sklearn(Impl):
    """scikit-learn's SGDRegressor at batch 1; its loss is half the squared error, so
    ``eta0 = 2 lr`` takes the same steps."""

    name = "sklearn"

    def __init__(self, X, y, B, lrs, seed):  # type: ignore[no-untyped-def]
        super().__init__(X, y, B, lrs, seed)
        import sklearn
        from sklearn.linear_model import SGDRegressor

        self.version = sklearn.__version__
        self.model = SGDRegressor(loss="squared_error", penalty=None, learning_rate="constant", eta0=2.0 * float(lrs[0]),
                                  fit_intercept=True, shuffle=True, random_state=seed, max_iter=1, tol=None)

    def epoch(self) -> None:
        before = getattr(self.model, "t_", 1.0)
        self.model.partial_fit(self.X, self.y)
        done = int(round(self.model.t_ - before))
        if done != self.n:
            raise RuntimeError(f"SGDRegressor took {done} updates in an epoch of {self.n} samples")
        self._done()

    def params(self) -> np.ndarray:
        return np.append(self.model.coef_.astype(np.float64), float(self.model.intercept_[0]))[None, :]


#: Peer rows: name -> (class, Python module it needs, when it applies (batch, n, runs)).
PEERS = {
    "torch-tutorial": (TorchTutorial, "torch", lambda B, n, R: R == 1),
    "torch-manual": (TorchManual, "torch", lambda B, n, R: R == 1),
    "torch-manual-gather": (TorchManualGather, "torch", lambda B, n, R: R == 1),
    "sklearn": (Sklearn, "sklearn", lambda B, n, R: R == 1 and B == 1),
    "numpy-runs": (NumpyRuns, "numpy", lambda B, n, R: R > 1),
    "jax-vmap": ("gdviz.bench_vmap:JaxVmapRuns", "jax", lambda B, n, R: R > 1),
    "torch-vmap": ("gdviz.bench_vmap:TorchVmapRuns", "torch", lambda B, n, R: R > 1),
}


def peer_class(entry: type | str) -> type:
    """The class of a :data:`PEERS` entry (``"module:Class"`` entries are imported here)."""
    if isinstance(entry, str):
        import importlib

        module, name = entry.split(":")
        return getattr(importlib.import_module(module), name)
    return entry
