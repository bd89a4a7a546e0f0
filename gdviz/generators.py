"""The built-in dataset generators, in raw units (standardization happens in
:func:`gdviz.data.build_dataset`): ``houses``, ``linear`` and ``classes``, the first
article's pure noise (``random``) and a non-linear two-class problem (``moons``). Each is a
pure function of its sizes and the seed, drawn from a stream kept apart from the runs'."""

from __future__ import annotations

import numpy as np

_DATA_STREAM = 0x6764_6461  # keeps the data's random stream apart from the runs' (same seed)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, _DATA_STREAM])


@np.errstate(over="ignore", invalid="ignore")  # inf from a huge noise: check_range says so
def generate_houses(n: int, noise: float, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Synthetic house sales: ``({"size_sqft": ..., "bedrooms": ...}, price)`` in dollars.

    Sizes are lognormal around 1,800 sq ft (clipped to 500-5,000, rounded to 10 sq ft);
    bedrooms (1-6) grow with size; price = 50,000 + 150 * size + 10,000 * bedrooms + noise
    (normal, sd ``noise`` dollars), rounded to the dollar.
    """
    rng = _rng(seed)
    size = np.round(np.clip(rng.lognormal(np.log(1800.0), 0.35, n), 500.0, 5000.0), -1)
    bedrooms = np.clip(np.round(1.0 + size / 700.0 + rng.normal(0.0, 0.6, n)), 1.0, 6.0)
    price = np.round(50_000.0 + 150.0 * size + 10_000.0 * bedrooms + rng.normal(0.0, noise, n))
    return {"size_sqft": size, "bedrooms": bedrooms}, price


@np.errstate(over="ignore", invalid="ignore")  # inf from a huge noise: check_range says so
def generate_linear(n: int, d: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``X ~ N(0, 1)^(n x d)``, ``y = X w + b + N(0, noise^2)``; returns ``(X, y, [w..., b])``.

    The true weights and intercept are drawn from the seed, rounded to 0.1 so they read well.
    """
    rng = _rng(seed)
    true = np.round(rng.normal(0.0, 1.0, d + 1), 1)
    X = rng.normal(0.0, 1.0, (n, d))
    y = X @ true[:d] + true[d] + rng.normal(0.0, noise, n)
    return X, y, true


@np.errstate(over="ignore", invalid="ignore")  # inf from a huge noise: check_range says so
def generate_classes(n: int, d: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two overlapping classes, half each: cats (label 0) and dogs (label 1).

    For d = 1 and 2 the features are a pet's weight in kg and ear length in cm (dogs are
    heavier with longer ears, and small dogs overlap with cats, so the classes are not
    separable and logistic regression has a finite optimum). For d > 2 they are Gaussian
    blobs whose centres are 2.5 apart along a random direction. ``noise`` scales each
    class's spread (1 = the default overlap; larger overlaps more).
    """
    rng = _rng(seed)
    y = np.zeros(n)
    y[rng.permutation(n)[: n // 2]] = 1.0
    dog = y == 1.0
    if d <= 2:
        s = noise
        weight = np.where(dog, rng.normal(9.0, 3.5 * s, n), rng.normal(4.5, 1.5 * s, n))
        ears = np.where(dog, rng.normal(9.0, 2.5 * s, n), rng.normal(6.5, 1.2 * s, n))
        cols = [np.round(np.clip(weight, 0.5, None), 1), np.round(np.clip(ears, 1.0, None), 1)]
        X = np.column_stack(cols[:d])
    else:
        direction = rng.normal(0.0, 1.0, d)
        direction /= np.linalg.norm(direction)
        centres = np.where(dog[:, None], 1.25, -1.25) * direction
        X = centres + rng.normal(0.0, noise, (n, d))
    return X, y


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
