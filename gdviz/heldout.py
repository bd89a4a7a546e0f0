"""Held-out data (``[data] validation``): the split, the loss on a set of rows, the fit figures.

The split is reproducible from the scenario's seed and puts no row in both sets
(:func:`split_rows`); :func:`gdviz.data.build_dataset` standardizes with the training rows'
statistics only. The engine evaluates the validation loss at every recorded point with
:class:`RowsLoss`, outside the timed kernels, in the same pass as the training loss;
:func:`fit_figures` gives a run's accuracy (classification) or RMSE and MAE in the target's
original units (regression) at its last point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gdviz.scenario import validation_counts

#: Where the random split's stream branches off the scenario's seed: a child of its
#: SeedSequence, so the split never reuses the generated data's random numbers.
SPLIT_STREAM = 1


def split_rows(n: int, fraction: float, how: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The training and validation rows of ``n`` rows when ``fraction`` of them is held out.

    Parameters
    ----------
    n : int
        Rows in the data, in file (or generation) order.
    fraction : float
        In (0, 0.9]; :func:`gdviz.scenario.validation_counts` gives each side's size (as Keras's
        ``validation_split``: ``int(n * (1 - fraction))`` training rows).
    how : {"random", "last"}
        ``"random"``: a uniformly random subset, drawn from
        ``default_rng(SeedSequence(seed, spawn_key=(SPLIT_STREAM,)))``; ``"last"``: the last
        rows, as Keras's ``validation_split`` takes them (before any shuffling).
    seed : int
        The scenario's seed.

    Returns
    -------
    train, validation : ndarray, int64
        Row indices, each in increasing order (the rows keep their order), disjoint, together
        every row once.
    """
    n_train, n_val = validation_counts(n, fraction)
    if how == "last":
        return np.arange(n_train, dtype=np.int64), np.arange(n_train, n, dtype=np.int64)
    if how != "random":
        raise ValueError(f"how must be 'random' or 'last', got {how!r}")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SPLIT_STREAM,)))
    held = np.zeros(n, dtype=bool)
    held[rng.permutation(n)[:n_val]] = True
    return np.flatnonzero(~held).astype(np.int64), np.flatnonzero(held).astype(np.int64)


class RowsLoss:
    """The model's mean loss over a fixed set of rows, at many parameter vectors at once.

    A linear model's mean squared error is exact from the rows' sufficient statistics
    (``L(θ) = L* + (θ - θ*)ᵀ A (θ - θ*)``, :func:`gdviz.kernels.linear_stats`), so a point
    costs O(p²) whatever the rows; any other model goes through :func:`gdviz.kernels.full_loss`
    (the kernels' own loss, row by row). Either way each point's value does not depend on how
    many points come at once, so batched and chunked runs agree bit for bit.

    Parameters
    ----------
    model : gdviz.models.Model
        The engine's model.
    X, y : ndarray
        float64[m, d] and float64[m]: the rows (standardized as the training rows are).
    """

    def __init__(self, model: Any, X: np.ndarray, y: np.ndarray) -> None:
        from gdviz import kernels as K

        self.model = model
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self._stats = None
        if model.kind == "linear":
            A, _, theta_star, loss_star = K.linear_stats(self.X, self.y, int(model.fit_intercept))
            self._stats = (A, theta_star, loss_star)

    def __call__(self, thetas: np.ndarray) -> np.ndarray:
        """float64[k]: the mean loss over the rows at each row of ``thetas`` (float[k, p])."""
        from gdviz import kernels as K

        thetas = np.ascontiguousarray(np.atleast_2d(thetas), dtype=np.float64)
        if not len(thetas):
            return np.empty(0)
        if self._stats is not None:
            A, theta_star, loss_star = self._stats
            D = thetas - theta_star
            with np.errstate(over="ignore", invalid="ignore"):
                q = np.einsum("ij,jk,ik->i", D, A, D)  # per row, as Engine.full_loss
            return np.maximum(q, 0.0) + loss_star
        return K.full_loss(self.X, self.y, thetas, self.model.kernel_hpi(), int(self.model.fit_intercept))


def fit_figures(model: Any, dataset: Any, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """How well the model at ``theta`` fits the rows ``X``, ``y`` (standardized as trained).

    Classification: ``{"accuracy": ...}``, the share of rows whose predicted probability is
    above 0.5 on the side of its 0/1 label (as Keras's ``binary_accuracy``). Regression:
    ``{"rmse": ..., "mae": ...}`` of the prediction in the target's original units (the
    standardized residual times the target's scale). NaN where the parameters are not finite.
    """
    z = model.outputs(np.ascontiguousarray(X, dtype=np.float64), np.asarray(theta, dtype=np.float64))
    with np.errstate(all="ignore"):
        if dataset.task == "classification":
            acc = float(np.mean((z > 0.0) == (y > 0.5))) if np.all(np.isfinite(z)) else math.nan
            return {"accuracy": acc}
        r = (z - y) * (dataset.y_scale if dataset.y_scale is not None else 1.0)
        return {"rmse": float(np.sqrt(np.mean(r * r))), "mae": float(np.mean(np.abs(r)))}


@dataclass(frozen=True)
class HeldOut:
    """A run's figures on the held-out rows, at its last point unless said otherwise.

    Attributes
    ----------
    n : int
        Held-out rows.
    loss : float
        Validation loss at the last point.
    gap : float
        Validation loss minus the training (full-dataset) loss at the last point: how much
        worse the model does on rows it never trained on.
    best_loss, best_epoch : float
        The lowest validation loss over the recorded points and the epoch it was recorded at
        (where early stopping would have kept the model); NaN when no point is finite.
    train, validation : dict of str to float
        :func:`fit_figures` on the training rows and on the held-out rows.
    """

    n: int
    loss: float
    gap: float
    best_loss: float
    best_epoch: float
    train: dict[str, float]
    validation: dict[str, float]


def held_out(history: Any, model: Any, dataset: Any) -> HeldOut | None:
    """The run's :class:`HeldOut` figures from its ``history``; None when no rows are held out."""
    if dataset.X_val is None or not len(history):
        return None
    theta = history.params[-1]
    val = np.asarray(history.val_loss, dtype=np.float64)
    loss, train_loss = float(val[-1]), float(history.full_loss[-1])
    finite = np.flatnonzero(np.isfinite(val))
    best = int(finite[np.argmin(val[finite])]) if len(finite) else -1
    with np.errstate(all="ignore"):
        gap = loss - train_loss
    return HeldOut(
        n=dataset.n_val,
        loss=loss,
        gap=float(gap),
        best_loss=float(val[best]) if best >= 0 else math.nan,
        best_epoch=float(history.epoch[best]) if best >= 0 else math.nan,
        train=fit_figures(model, dataset, theta, dataset.X, dataset.y),
        validation=fit_figures(model, dataset, theta, dataset.X_val, dataset.y_val),
    )


# --- how the headless table and the JSON show them ------------------------------------------------
def held_out_columns(dataset: Any) -> tuple[str, ...]:
    """The held-out table's columns after ``run`` (:func:`gdviz.report.held_out_table`)."""
    units = f" ({dataset.target_name})"  # the target's own units, standardized or not
    fit = (("train accuracy", "val accuracy") if dataset.task == "classification"
           else (f"train RMSE{units}", f"val RMSE{units}", "train MAE", "val MAE"))  # fmt: skip
    return ("train loss", "val loss", "gap", "best val loss", "at epoch", *fit)


def _cell(x: float, digits: int = 4) -> str:
    """A figure for the table: 4 significant digits, thousands grouped from 10,000 on."""
    if not math.isfinite(x):
        return "–"
    return f"{x:,.0f}" if abs(x) >= 1e4 else f"{x:.{digits}g}"


def _share(x: float) -> str:
    return f"{x:.1%}" if math.isfinite(x) else "–"


def held_out_cells(train_loss: float, h: HeldOut | None) -> tuple[str, ...]:
    """One run's cells under :func:`held_out_columns` (RMSE and MAE in the target's units)."""
    if h is None:
        return ()
    if "accuracy" in h.validation:
        fit = (_share(h.train["accuracy"]), _share(h.validation["accuracy"]))
    else:
        fit = tuple(_cell(side[key]) for key in ("rmse", "mae") for side in (h.train, h.validation))
    gap = f"{h.gap:+.3g}" if math.isfinite(h.gap) else "–"
    epoch = f"{h.best_epoch:.3g}" if math.isfinite(h.best_epoch) else "–"
    return (_cell(train_loss), _cell(h.loss), gap, _cell(h.best_loss), epoch, *fit)


def held_out_document(h: HeldOut) -> dict[str, Any]:
    """A run's ``validation`` object in the ``--json`` document (non-finite numbers null)."""
    def num(x: float) -> float | None:
        return float(x) if math.isfinite(x) else None

    return {
        "n": h.n,
        "final_loss": num(h.loss),
        "gap": num(h.gap),
        "best_loss": num(h.best_loss),
        "best_epoch": num(h.best_epoch),
        "train": {k: num(v) for k, v in h.train.items()},
        "validation": {k: num(v) for k, v in h.validation.items()},
    }
