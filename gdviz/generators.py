"""Generated datasets for the MLP scenarios: the first article's pure noise (``random``) and
a non-linear two-class problem (``moons``). Seeded like :mod:`gdviz.data`'s generators."""

from __future__ import annotations

import numpy as np


def _rng(seed: int) -> np.random.Generator:
    from gdviz.data import _rng as data_rng

    return data_rng(seed)


def generate_random(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``X ~ N(0, 1)^(n x d)`` and ``y ~ N(0, 1)^n``, independent: the first article's data
    (``torch.randn(1000, 10)``, ``torch.randn(1000, 1)``). There is nothing to learn: the
    best any model can do on new data is predict 0 (MSE 1); a network can only memorise."""
    rng = _rng(seed)
    return rng.normal(0.0, 1.0, (n, d)), rng.normal(0.0, 1.0, n)


def generate_moons(n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (as scikit-learn's ``make_moons``), in random row order:
    the upper moon ``(cos t, sin t)`` (label 1) and the lower ``(1 - cos t, 1/2 - sin t)``
    (label 0), ``t`` uniform in ``[0, pi]``, plus Gaussian jitter of sd ``noise``. No straight
    line separates them; a small network can."""
    rng = _rng(seed)
    y = np.zeros(n)
    y[rng.permutation(n)[: n // 2]] = 1.0
    t = rng.uniform(0.0, np.pi, n)
    upper = y == 1.0
    X = np.column_stack([np.where(upper, np.cos(t), 1.0 - np.cos(t)), np.where(upper, np.sin(t), 0.5 - np.sin(t))])
    return X + rng.normal(0.0, noise, (n, 2)), y
