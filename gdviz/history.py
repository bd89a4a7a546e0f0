"""A run's recorded trajectory: append-only arrays with amortised growth.

Points are recorded by the kernels every ``stride`` updates and at every epoch end, so a
run of ``U`` updates over ``E`` epochs keeps at most ``U // stride + E + 1`` points
(the engine picks ``stride`` so that ``U // stride <= max_points``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HistoryChunk:
    """Points a run recorded since the previous chunk (what the engine hands to the UI).

    Attributes
    ----------
    run : int
        Index of the run in the scenario.
    step : int64[k]
        Updates done at each point.
    epoch : float64[k]
        Epochs done at each point (fractional inside an epoch).
    seconds : float64[k]
        Training seconds spent by this run up to each point.
    loss : float64[k]
        Mean minibatch loss over the updates since the previous point (NaN at step 0).
    full_loss : float64[k]
        Loss over the whole dataset at each point.
    noise : float64[k]
        Expected squared distance of the batch gradient from the full gradient at the
        point (NaN where it was not evaluated).
    params : float64[k, p]
        Parameters ``[w_1, ..., w_d, b]`` after the point's update.
    done : bool
        The run has finished (all epochs, or diverged).
    diverged_step : int or None
        The step at which the run diverged, if it did.
    b_simple : float64[k] or None
        The gradient noise scale ``tr(Sigma) / |G|^2`` at the point, where the noise was
        evaluated (NaN elsewhere; None: not evaluated at all).
    val_loss : float64[k] or None
        Loss over the held-out rows at each point (``[data] validation``); None when no rows
        are held out (the history then holds NaN).
    """

    run: int
    step: np.ndarray
    epoch: np.ndarray
    seconds: np.ndarray
    loss: np.ndarray
    full_loss: np.ndarray
    noise: np.ndarray
    params: np.ndarray
    done: bool
    diverged_step: int | None
    val_loss: np.ndarray | None = None
    b_simple: np.ndarray | None = None


_FIELDS = ("step", "epoch", "seconds", "loss", "full_loss", "noise", "b_simple", "val_loss")


class History:
    """Append-only columns of one run's recorded points."""

    def __init__(self, p: int, capacity: int = 256) -> None:
        self._n = 0
        self._p = p
        self._cols: dict[str, np.ndarray] = {
            "step": np.empty(capacity, np.int64),
            **{f: np.empty(capacity, np.float64) for f in _FIELDS[1:]},
        }
        self._params = np.empty((capacity, p), np.float64)

    def __len__(self) -> int:
        return self._n

    def _reserve(self, k: int) -> None:
        need = self._n + k
        cap = len(self._params)
        if need <= cap:
            return
        cap = max(need, 2 * cap)
        for name, col in self._cols.items():
            grown = np.empty(cap, col.dtype)
            grown[: self._n] = col[: self._n]
            self._cols[name] = grown
        grown_p = np.empty((cap, self._p), np.float64)
        grown_p[: self._n] = self._params[: self._n]
        self._params = grown_p

    def append(self, chunk: HistoryChunk) -> None:
        k = len(chunk.step)
        self._reserve(k)
        sl = slice(self._n, self._n + k)
        for name in _FIELDS:
            value = getattr(chunk, name)
            self._cols[name][sl] = np.nan if value is None else value
        self._params[sl] = chunk.params
        self._n += k

    def truncate(self, n: int) -> None:
        """Forget every point from index ``n`` on (used when a run is forked)."""
        self._n = min(self._n, n)

    @property
    def step(self) -> np.ndarray:
        return self._cols["step"][: self._n]

    @property
    def epoch(self) -> np.ndarray:
        return self._cols["epoch"][: self._n]

    @property
    def seconds(self) -> np.ndarray:
        return self._cols["seconds"][: self._n]

    @property
    def loss(self) -> np.ndarray:
        return self._cols["loss"][: self._n]

    @property
    def full_loss(self) -> np.ndarray:
        return self._cols["full_loss"][: self._n]

    @property
    def noise(self) -> np.ndarray:
        return self._cols["noise"][: self._n]

    @property
    def b_simple(self) -> np.ndarray:
        return self._cols["b_simple"][: self._n]

    @property
    def val_loss(self) -> np.ndarray:
        """Loss over the held-out rows (NaN where none are held out)."""
        return self._cols["val_loss"][: self._n]

    @property
    def params(self) -> np.ndarray:
        return self._params[: self._n]
