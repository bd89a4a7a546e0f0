"""Explain one update of one run: its batch's rows, each row's terms, the optimizer's step.

What the app's inspector shows (``i``, then ``.``). It is an explanation, not the training
path: a :class:`Replay` trains a private copy of the run with the kernels (bit for bit the
run's own trajectory, which does not depend on which runs share a kernel call or how updates
are chunked) up to the update asked for, and :func:`row_terms` recomputes that update's
per-row terms on the host with NumPy: prediction, residual, loss and gradient of each row of
the batch. Their mean is the update's gradient; the kernel's own gradient for the same batch
(:func:`gdviz.kernels.batch_loss_grad`) is kept beside it, so the explanation can be checked.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from gdviz import kernels as K
from gdviz.data import Dataset
from gdviz.engine import Engine
from gdviz.kernels import layout as L
from gdviz.kernels.stepmath import lr_at
from gdviz.mlp import MLP
from gdviz.models import LinearFamily, Model
from gdviz.scenario import RunSpec, Scenario


@dataclass(frozen=True)
class RowTerms:
    """Each row's terms at one point, as trained (standardised units where the data are).

    ``z`` the model's output (logit for BCE); ``pred`` the prediction (``σ(z)`` for BCE);
    ``residual = pred − y``; ``loss`` each row's loss; ``grads`` float64[B, p] each row's
    gradient of its loss, in the model's flat parameter order.
    """

    z: np.ndarray
    pred: np.ndarray
    residual: np.ndarray
    loss: np.ndarray
    grads: np.ndarray


def _sigmoid(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.where(z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))))


def row_terms(model: Model, X: np.ndarray, y: np.ndarray, theta: np.ndarray) -> RowTerms:
    """Per-row prediction, residual, loss and gradient of ``model`` at ``theta`` (NumPy, float64).

    Mean squared error per row is ``(z − y)²`` with gradient ``2 (z − y) · ∂z/∂θ``; binary
    cross-entropy on a logit is ``log(1 + e^z) − z y`` with gradient ``(σ(z) − y) · ∂z/∂θ``.
    For the linear family ``∂z/∂θ = [x, 1]``; for the MLP it is backpropagated layer by layer.
    """
    X = np.asarray(X, np.float64)
    y = np.asarray(y, np.float64)
    theta = np.asarray(theta, np.float64)
    bce = model.loss == "bce" if isinstance(model, MLP) else model.kind == "logistic"
    with np.errstate(all="ignore"):
        if isinstance(model, LinearFamily):
            z = X @ theta[: model.d] + (theta[model.d] if model.fit_intercept else 0.0)
            dz = _sigmoid(z) - y if bce else 2.0 * (z - y)
            cols = [X] + ([np.ones((len(X), 1))] if model.fit_intercept else [])
            grads = dz[:, None] * np.hstack(cols)
        else:
            layers = model.unflatten(theta)
            acts = [X]
            for W, b in layers[:-1]:
                acts.append(model._act(acts[-1] @ W.T + b))
            Wo, bo = layers[-1]
            z = (acts[-1] @ Wo.T + bo)[:, 0]
            dz = _sigmoid(z) - y if bce else 2.0 * (z - y)
            delta = dz[:, None]
            parts = []
            for k in range(len(layers) - 1, -1, -1):
                a = acts[k]
                parts.append(np.hstack([(delta[:, :, None] * a[:, None, :]).reshape(len(X), -1), delta]))
                if k > 0:
                    delta = (delta @ layers[k][0]) * model._act_grad(a)
            grads = np.hstack(parts[::-1])
        pred = _sigmoid(z) if bce else z
        loss = np.logaddexp(0.0, z) - z * y if bce else (z - y) ** 2
    return RowTerms(z, pred, pred - y, loss, grads)


#: The optimizer's buffers (``opt_state`` rows, :mod:`gdviz.kernels.layout`) that it uses.
def buffer_names(optimizer: str, train: object) -> tuple[str, ...]:
    """Names of the ``opt_state`` rows ``optimizer`` uses with ``train``'s settings, in row order."""
    if optimizer == "sgd":
        return ("momentum_buffer",) if getattr(train, "momentum", 0.0) else ()
    if optimizer in ("adam", "adamw"):
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if getattr(train, "amsgrad", False) else ())
    if optimizer == "rmsprop":
        names = ["square_avg", "grad_avg" if getattr(train, "centered", False) else ""]
        names.append("momentum_buffer" if getattr(train, "momentum", 0.0) else "")
        return tuple(names)
    return ("sum",)


@dataclass(frozen=True)
class UpdateExplained:
    """One update of a run, explained (see the module doc).

    ``step`` is the update's number counted from the start of training (a fork's counted on
    from its parent's at the fork point), ``epoch`` the epoch it belongs to (0-based, the
    run's own count for its sample order and schedule), ``rows`` the batch's row indices,
    ``X`` and ``y`` its rows as trained, ``terms`` their per-row terms at ``before``,
    ``grad`` their mean, ``kernel_grad`` the kernel's gradient for the batch, ``lr`` the
    learning rate of the update, ``buffers`` each used optimizer buffer before and after,
    ``before`` and ``after`` the parameters (``after`` as the kernels left them).
    """

    step: int
    epoch: int
    position: int  # where the batch starts in the epoch's order
    rows: np.ndarray
    X: np.ndarray
    y: np.ndarray
    terms: RowTerms
    grad: np.ndarray
    kernel_grad: np.ndarray
    kernel_loss: float
    lr: float
    optimizer: str
    buffers: tuple[tuple[str, np.ndarray, np.ndarray], ...]
    before: np.ndarray
    after: np.ndarray

    @property
    def batch(self) -> int:
        return len(self.rows)

    @property
    def mean_loss(self) -> float:
        return float(self.terms.loss.mean())


class Replay:
    """A private copy of one run, trained with the kernels up to the update to explain.

    Parameters
    ----------
    scenario, dataset
        The run's scenario and dataset.
    spec : RunSpec
        The run's spec (a fork's own, :mod:`gdviz.forks`).
    start : numpy.ndarray, optional
        Where it starts (a fork: its fork point); default the scenario's initial point.
    total_updates : int, optional
        Its updates (a fork's own); default its spec's epochs.
    step_offset : int
        Added to the replay's update numbers (a fork: its parent's updates at the fork point).
    """

    def __init__(self, scenario: Scenario, dataset: Dataset, spec: RunSpec, start: np.ndarray | None = None,
                 total_updates: int | None = None, step_offset: int = 0) -> None:  # fmt: skip
        self._args = (scenario, dataset, spec, start, total_updates)
        self.step_offset = int(step_offset)
        self._build()

    def _build(self) -> None:
        scenario, dataset, spec, start, total = self._args
        self.engine = Engine(dataclasses.replace(scenario, runs=(spec,)), dataset)
        self.run = self.engine.runs[0]
        if start is not None:
            self.run.params[:] = np.asarray(start, dtype=self.run.params.dtype)
        if total is not None:
            self.run.total_updates = int(total)

    @property
    def step(self) -> int:
        """Updates done, counted as :attr:`UpdateExplained.step` is."""
        return self.run.step + self.step_offset

    @property
    def done(self) -> bool:
        return self.run.done

    def seek(self, step: int) -> None:
        """Stand just after update ``step`` (counted as :attr:`step`; rebuilt to go back)."""
        own = max(0, int(step) - self.step_offset)
        if own < self.run.step:
            self._build()
        while self.run.step < own and not self.run.done:
            self.engine.advance_run(self.run, own - self.run.step)

    def explain_next(self) -> UpdateExplained | None:
        """Make the next update with the kernels and explain it; None at the run's end."""
        run = self.run
        if run.done:
            return None
        n = self.engine.n
        dtype = run.params.dtype
        before = run.params.astype(np.float64)
        opt_before = run.opt_state.astype(np.float64)
        pos, epoch = int(run.istate[L.S_POS]), int(run.istate[L.S_EPOCH])
        lr = float(lr_at(run.hpf, run.hpi, epoch))
        self.engine.advance_run(run, 1)
        end = min(pos + run.batch, n)
        rows = run.perm[pos:end].copy()  # the epoch's order, as the kernel drew it
        Xd, yd = self.engine.data(dtype.type)
        kernel_loss, kernel_grad = K.batch_loss_grad(Xd, yd, before.astype(dtype), run.hpi.copy(), 0,
                                                     run.perm.copy(), pos, end)  # fmt: skip
        X64, y64 = self.engine.data(np.float64)
        X, y = X64[rows], y64[rows]
        terms = row_terms(self.engine.model, X, y, before)
        t = run.spec.train
        names = buffer_names(t.optimizer, t)
        opt_after = run.opt_state.astype(np.float64)
        buffers = tuple((name, opt_before[j].copy(), opt_after[j].copy()) for j, name in enumerate(names) if name)
        return UpdateExplained(
            step=run.step + self.step_offset, epoch=epoch, position=pos, rows=rows, X=X, y=y, terms=terms,
            grad=terms.grads.mean(axis=0), kernel_grad=np.asarray(kernel_grad, np.float64),
            kernel_loss=float(kernel_loss), lr=lr, optimizer=t.optimizer, buffers=buffers, before=before,
            after=run.params.astype(np.float64),
        )  # fmt: skip

    def explain(self, step: int) -> UpdateExplained | None:
        """Update ``step`` (counted as :attr:`step`, 1 or more) explained; None past the end."""
        self.seek(step - 1)
        return self.explain_next()
