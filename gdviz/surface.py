"""The loss surface under the paths: which plane, over what extent, and the loss on a grid.

With two parameters ``(w, b)`` the plane is the parameter space itself. With more, it is the
plane through the optimum (the exact least-squares solution for linear models, the best
final point otherwise) spanned by the two principal directions of the runs' trajectories,
each axis fitted to the paths and the optimum. The grid is computed once per plane (for a logistic model each point
is a pass over the data); views resample it to their size.

NumPy only: the terminal app draws it, and sweeps and exports use it without the app.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Grid resolution (columns, rows); the extent's width is ASPECT times its height so that a
#: bowl looks round on square half-block pixels.
GRID_LINEAR = (120, 75)
GRID_OTHER = (64, 40)
ASPECT = 1.6
MARGIN = 1.25


@dataclass(frozen=True)
class Surface:
    """Loss over a plane in parameter space, sampled on a regular grid.

    ``Z[i, j]`` is the loss at ``x = x0 + (j + .5) (x1 - x0) / nx`` and
    ``y = y1 - (i + .5) (y1 - y0) / ny`` (row 0 at the top).
    """

    origin: np.ndarray  # float64[p]: the plane's origin in parameter space
    basis: np.ndarray  # float64[p, 2]: the plane's two axes
    x0: float
    x1: float
    y0: float
    y1: float
    Z: np.ndarray
    optimum: tuple[float, float] | None
    xlabel: str
    ylabel: str
    title: str
    version: int = 0

    def project(self, params: np.ndarray) -> np.ndarray:
        """Plane coordinates ``float64[k, 2]`` of parameter rows ``float64[k, p]``."""
        with np.errstate(all="ignore"):
            return (params - self.origin) @ self.basis

    def contains(self, xy: np.ndarray, slack: float = 0.0) -> bool:
        xy = xy[np.all(np.isfinite(xy), axis=1)]
        if not len(xy):
            return True
        wx, wy = (self.x1 - self.x0) * slack, (self.y1 - self.y0) * slack
        return bool(
            (xy[:, 0] >= self.x0 - wx).all()
            and (xy[:, 0] <= self.x1 + wx).all()
            and (xy[:, 1] >= self.y0 - wy).all()
            and (xy[:, 1] <= self.y1 + wy).all()
        )


def _finite_rows(a: np.ndarray) -> np.ndarray:
    return a[np.all(np.isfinite(a), axis=1)] if len(a) else a


def compute_surface(
    engine,  # type: ignore[no-untyped-def]
    trajectories: list[np.ndarray],
    *,
    exclude: set[int] | None = None,
    version: int = 0,
) -> Surface:
    """The plane, extent and loss grid for ``engine`` given the runs' trajectories so far.

    Parameters
    ----------
    engine : gdviz.engine.Engine
        Supplies ``p``, ``init``, ``theta_star`` (linear), ``full_loss`` and the parameter
        names (``model.param_names``).
    trajectories : list of float64[k, p]
        Each run's recorded parameters so far.
    exclude : set of int
        Runs left out of the extent (diverged runs would stretch it to nothing).
    """
    exclude = exclude or set()
    p = engine.p
    kept = [_finite_rows(t) for i, t in enumerate(trajectories) if i not in exclude and len(t)]
    kept = [t[np.abs(t).max(axis=1) < 1e12] for t in kept]
    points = np.concatenate([engine.init[None, :], *kept]) if kept else engine.init[None, :]
    if engine.theta_star is not None:
        center = np.asarray(engine.theta_star, dtype=np.float64)
        optimum_label = "optimum"
    else:
        finals = [t[-1] for t in kept] or [engine.init]
        losses = engine.full_loss(np.asarray(finals))
        center = np.asarray(finals[int(np.nanargmin(losses))], dtype=np.float64)
        optimum_label = "best point so far"
    names = engine.model.param_names(engine.dataset.feature_names)
    if p == 2:
        origin = np.zeros(2)
        basis = np.eye(2)
        xlabel, ylabel = names[0], names[1]
        title = f"loss over ({xlabel}, {ylabel}), ✕ {optimum_label}"
    elif p == 1:
        origin = np.zeros(1)
        basis = np.array([[1.0, 0.0]])
        xlabel, ylabel = names[0], "(none)"
        title = f"loss over {xlabel}, ✕ {optimum_label}"
    else:
        origin = center
        D = points - center
        basis, share = _principal_plane(D, p)
        xlabel = f"PC1 ({share[0]:.0%})"
        ylabel = f"PC2 ({share[1]:.0%})"
        title = f"plane through the {optimum_label} along the paths' 2 principal directions"
    xy = (points - origin) @ basis
    c = (center - origin) @ basis
    tiny = 1e-6 * (1 + float(np.abs(c).max()))
    if p > 2:
        # The plane's axes are the paths' principal directions, whose spreads can differ many
        # times over: each axis is fitted to the paths (and the optimum), so that they fill
        # the panel instead of lying along a couple of its rows.
        lo = np.minimum(xy.min(axis=0), c)
        hi = np.maximum(xy.max(axis=0), c)
        span = np.maximum(hi - lo, tiny)
        span[1] = max(span[1], span[0] / 50)  # a straight path still gets a band around it
        pad = (MARGIN - 1) / 2 * span
        x0, x1 = float(lo[0] - pad[0]), float(hi[0] + pad[0])
        y0, y1 = float(lo[1] - pad[1]), float(hi[1] + pad[1])
    else:
        # Two parameters: centred on the optimum, width ASPECT times height, so a bowl is round.
        half = MARGIN * max(float(np.max(np.abs(xy - c))) if len(xy) else 0.0, tiny)
        x0, x1 = float(c[0] - half * ASPECT), float(c[0] + half * ASPECT)
        y0, y1 = float(c[1] - half), float(c[1] + half)
    nx, ny = GRID_LINEAR if engine.theta_star is not None else GRID_OTHER
    gx = x0 + (np.arange(nx) + 0.5) * (x1 - x0) / nx
    gy = y1 - (np.arange(ny) + 0.5) * (y1 - y0) / ny
    GX, GY = np.meshgrid(gx, gy)
    plane = np.stack([GX.ravel(), GY.ravel()], axis=1)
    thetas = origin[None, :] + plane @ basis.T
    with np.errstate(all="ignore"):
        Z = engine.grid_loss(thetas).reshape(ny, nx)
    return Surface(
        origin=origin,
        basis=basis,
        x0=x0,
        x1=x1,
        y0=y0,
        y1=y1,
        Z=Z,
        optimum=(float(c[0]), float(c[1])),
        xlabel=xlabel,
        ylabel=ylabel,
        title=title,
        version=version,
    )


def _top_singular(D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Singular values (descending) and right singular vectors of ``D``, from the eigenvectors
    of the smaller Gram matrix: the paths of ``mlp_random`` (about 1,500 points in 601
    dimensions) took 0.8 s this way against 3.0 s through ``np.linalg.svd`` (2 busy cores)."""
    k, p = D.shape
    if k >= p:
        w, V = np.linalg.eigh(D.T @ D)
        order = np.argsort(w)[::-1]
        return np.sqrt(np.maximum(w[order], 0.0)), V[:, order].T
    w, U = np.linalg.eigh(D @ D.T)
    order = np.argsort(w)[::-1]
    s = np.sqrt(np.maximum(w[order], 0.0))
    Vt = U[:, order].T @ D
    with np.errstate(all="ignore"):
        Vt = np.where(s[:, None] > 0, Vt / np.where(s > 0, s, 1.0)[:, None], 0.0)
    return s, Vt


def _principal_plane(D: np.ndarray, p: int) -> tuple[np.ndarray, tuple[float, float]]:
    """Top two right singular vectors of ``D`` (completed to an orthonormal pair)."""
    D = D[np.all(np.isfinite(D), axis=1)]
    vecs: list[np.ndarray] = []
    share = (math.nan, math.nan)
    if len(D) and np.abs(D).max() > 0:
        s, Vt = _top_singular(D)
        total = float((s**2).sum()) or 1.0
        for k in range(min(2, len(s))):
            if s[k] > 1e-12 * s[0]:
                vecs.append(Vt[k])
        share = (float(s[0] ** 2 / total), float(s[1] ** 2 / total) if len(s) > 1 else 0.0)
    for k in range(p):  # complete with coordinate axes, orthogonalised
        if len(vecs) >= 2:
            break
        e = np.zeros(p)
        e[k] = 1.0
        for v in vecs:
            e -= (e @ v) * v
        if np.linalg.norm(e) > 1e-6:
            vecs.append(e / np.linalg.norm(e))
    basis = np.stack(vecs[:2], axis=1)
    # A stable orientation: the largest component of each axis is positive.
    for k in range(2):
        if basis[np.argmax(np.abs(basis[:, k])), k] < 0:
            basis[:, k] *= -1
    return basis, (0.0 if math.isnan(share[0]) else share[0], 0.0 if math.isnan(share[1]) else share[1])


def heat_levels(Z: np.ndarray, levels: int, floor: float | None = None) -> np.ndarray:
    """Band index ``0..levels-1`` of each grid value, log-spaced above the minimum.

    Bands are evenly spaced in ``log10(Z - min)``, so a quadratic bowl shows nested ellipses
    at geometric spacing, like a contour plot. Non-finite values take the top band.
    """
    z = np.where(np.isfinite(Z), Z, np.nan)
    if not np.isfinite(z).any():
        return np.full(Z.shape, levels - 1, np.int64)
    zmin = float(np.nanmin(z)) if floor is None else min(floor, float(np.nanmin(z)))
    zmax = float(np.nanmax(z))
    rel = np.maximum(z - zmin, 0.0)
    top = max(zmax - zmin, 1e-300)
    lo = math.log10(top) - 4.0  # four decades of depth below the highest point
    with np.errstate(all="ignore"):
        v = (np.log10(np.maximum(rel, 10**lo)) - lo) / (math.log10(top) - lo)
    v = np.where(np.isfinite(v), v, 1.0)  # non-finite losses: the top band (and no NaN cast)
    return np.clip(np.floor(v * levels).astype(np.int64), 0, levels - 1)


def resample(Z: np.ndarray, ny: int, nx: int) -> np.ndarray:
    """Nearest-neighbour resample of grid ``Z`` to ``(ny, nx)`` (same extent)."""
    if ny <= 0 or nx <= 0:
        return np.zeros((max(ny, 0), max(nx, 0)), Z.dtype)
    gy, gx = Z.shape
    rows = np.minimum(((np.arange(ny) + 0.5) * gy / ny).astype(np.int64), gy - 1)
    cols = np.minimum(((np.arange(nx) + 0.5) * gx / nx).astype(np.int64), gx - 1)
    return Z[rows][:, cols]
