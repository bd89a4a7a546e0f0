"""Batch losses and gradients of every model; the linear (MSE) and logistic (BCE) in full here,
others (the MLP, :mod:`.mlp`) row by row through the model dispatch (:mod:`.models`).

Parameters are ``theta = [w_1, ..., w_d, b]`` (``b`` only when ``fit_intercept``). For a
batch of ``B`` rows with ``z_i = x_i . w + b``:

- linear, as ``torch.nn.MSELoss()``: ``L = mean(r^2)`` with ``r = z - y``;
  ``g_w = 2/B sum(r x)``, ``g_b = 2/B sum(r)``.
- logistic, as ``torch.nn.BCEWithLogitsLoss()``:
  ``L = mean(max(z, 0) - z y + log1p(exp(-|z|)))`` (stable for any ``z``);
  ``g_w = 1/B sum((sigma(z) - y) x)``, ``g_b = 1/B sum(sigma(z) - y)``.

Every sum is accumulated in float64 whatever the dtype of ``X``; gradients are cast to the
parameters' dtype only by the caller that stores them.

A row's loss and ``dloss/dz`` at its ``z`` are :func:`.stepmath.loss_dz`, the one source the
CUDA kernels compile too, inlined here into the CPU loops; this module owns the loops (row
order, chunking, prefetching) and the public wrappers.
"""

from __future__ import annotations

import types

import numba
import numpy as np
from numba import njit

from .layout import HPI_SIZE, I_FIT_INTERCEPT, I_MODEL, INT_KEYS, MODEL_LINEAR, MODEL_LOGISTIC, MODEL_MLP, NAMED
from .mlp import mlp_row_loss, mlp_row_loss_grad, mlp_work_floats
from .mlp_tiles import MLP_TILE_MIN_ROWS, mlp_tiles_loss_grad
from .models import describe, is_linear, linear_z, row_loss, row_loss_grad, work_floats
from .prefetch import prefetch
from .stepmath import loss_dz, sigmoid

#: Rows ahead (in the epoch's order) whose cache lines a minibatch asks for early.
PREFETCH_ROWS = 12
#: A full batch of at least this many rows is summed in parallel chunks (below: one
#: thread, in ``perm`` order, like a minibatch).
FULL_PARALLEL_MIN_ROWS = 1 << 16
#: Rows per chunk of the parallel full-batch pass: fixed, so results never depend on the
#: number of threads.
FULL_CHUNK_ROWS = 1 << 14
#: Rows per tile of a chunk (see :func:`_rows_sum`); changes no value, only the loop shape.
FULL_TILE_ROWS = 256

# --- jitted cores ------------------------------------------------------------------------

def _cpu_inline(fn, **calls):  # type: ignore[no-untyped-def]
    """``fn`` compiled for the CPU and inlined (Numba IR) into its callers, with the functions
    it calls by name replaced by ``calls`` (their own inlined CPU versions).

    The model dispatch and the per-row loss are ``register_jitable`` functions, shared with
    the CUDA kernels; a call from one to the next would stay an out-of-line call on the CPU
    (Numba optimises each function's library apart), which costs more than a row. Compiling
    the same code object with the callees swapped for their inlined versions gives the CPU
    loops one flat body and keeps one source of the arithmetic.
    """
    globs = dict(fn.__globals__)
    globs.update(calls)
    clone = types.FunctionType(fn.__code__, globs, fn.__name__, fn.__defaults__, fn.__closure__)
    clone.__qualname__ = fn.__qualname__
    return njit(nogil=True, inline="always")(clone)


_sigmoid = _cpu_inline(sigmoid)
_loss_dz = _cpu_inline(loss_dz, sigmoid=_sigmoid)
_linear_z = _cpu_inline(linear_z)
# The MLP's row functions are called out of line, their callees compiled by Numba as it does
# any register_jitable: Numba's IR inlining of the whole row (as _cpu_inline does for the
# linear family) measured 2.3× slower per row (1.1 against 0.47 µs, 10 → 50 → 1, float64).
_mlp_row_loss_grad = njit(nogil=True)(mlp_row_loss_grad)
_mlp_row_loss = njit(nogil=True)(mlp_row_loss)
_row_loss_grad = _cpu_inline(row_loss_grad, linear_z=_linear_z, loss_dz=_loss_dz,
                             mlp_row_loss_grad=_mlp_row_loss_grad)
_row_loss = _cpu_inline(row_loss, linear_z=_linear_z, loss_dz=_loss_dz, mlp_row_loss=_mlp_row_loss)
_work_floats = _cpu_inline(work_floats, mlp_work_floats=_cpu_inline(mlp_work_floats))
_describe = _cpu_inline(describe)
_is_linear = _cpu_inline(is_linear)


@njit(cache=True, nogil=True, inline="always")
def _loss_grad_rows(X, y, theta, m, perm, start, end, use_perm, g):
    """Mean loss and mean gradient over rows ``perm[start:end]`` (or ``start:end``).

    ``m`` is :func:`.models.describe` of the run's ``hpi``; ``g`` (float64[p]) receives the
    mean gradient; the mean loss (float64) is returned. Rows are summed in batch order.
    Any model goes row by row through the model dispatch (:func:`.models.row_loss_grad`).
    The linear family takes a fast path whose arithmetic is the dispatch's, written out in
    this loop's body (``z`` as :func:`.models.linear_z`, then :func:`.stepmath.loss_dz`, then
    ``g += dz·[x, 1]``): an inlined call per row that writes into ``g`` costs Numba's
    reference counting of its array arguments on every row, and measured 3× the row itself
    (B = 256, d = 16, float64); ``tests/test_kernels_models.py`` checks that the two agree
    bit for bit. With ``use_perm`` the rows ``PREFETCH_ROWS`` places ahead in ``perm``
    (possibly in the next batch) are prefetched, which changes no value.
    """
    n_perm = perm.shape[0]
    model = m[0]
    fit_intercept = m[1]
    d = X.shape[1]
    g[:] = 0.0
    total = 0.0
    if _is_linear(m):
        for k in range(start, end):
            if use_perm:
                ahead = k + PREFETCH_ROWS
                if ahead < n_perm:
                    i_ahead = perm[ahead]
                    prefetch(X, i_ahead)
                    prefetch(y, i_ahead)
                i = perm[k]
            else:
                i = k
            z = 0.0
            for j in range(d):
                z += np.float64(X[i, j]) * np.float64(theta[j])
            if fit_intercept:
                z += np.float64(theta[d])
            loss, dz = _loss_dz(z, np.float64(y[i]), model)
            total += loss
            for j in range(d):
                g[j] += dz * np.float64(X[i, j])
            if fit_intercept:
                g[d] += dz
    elif m[0] == MODEL_MLP and m[3] == 0 and end - start >= MLP_TILE_MIN_ROWS:
        total = mlp_tiles_loss_grad(X, y, theta, m, perm, start, end, use_perm, g)  # rows in SIMD tiles
    else:
        work = np.empty(_work_floats(m, d), np.float64)
        for k in range(start, end):
            i = perm[k] if use_perm else k
            total += _row_loss_grad(X, y, i, theta, m, g, work)
    inv_B = 1.0 / (end - start)
    for j in range(g.shape[0]):
        g[j] *= inv_B
    return total * inv_B


@njit(cache=True, nogil=True)
def _rows_sum(X, y, theta, hpi, lo, hi, g):
    """Summed loss (returned) and summed gradient (into float64 ``g``) over rows ``lo:hi``.

    One chunk of the parallel full-batch pass. Models other than the linear family go
    row by row through the model dispatch. The linear family goes by tiles of
    ``FULL_TILE_ROWS`` rows with the same arithmetic as every other loop (each ``z`` in
    feature order then ``+ b``, as :func:`.models.linear_z`; the loss and ``dz`` by
    :func:`.stepmath.loss_dz`; ``acc[j] += dz * x_j``, each sum in row order), in two
    sweeps over the tile while it is in L1: the tile's ``z`` with rows as SIMD lanes (the
    loop over rows innermost: one row's terms still add in feature order), then the loss and
    the gradient terms with features as lanes. One read of ``X`` from memory.

    Each tile is a view indexed from 0: the compiler then sees row indices that cannot be
    negative and drops Numba's wraparound test. A fresh local ``acc`` (not ``g``, a view of
    shared memory) keeps the accumulators out of the way of other threads' slots.
    """
    m = _describe(hpi)
    if not _is_linear(m):
        work = np.empty(_work_floats(m, X.shape[1]), np.float64)
        acc_g = np.zeros(g.shape[0], np.float64)
        tot = 0.0
        for i in range(lo, hi):
            tot += _row_loss_grad(X, y, i, theta, m, acc_g, work)
        for j in range(g.shape[0]):
            g[j] = acc_g[j]
        return tot
    model = hpi[I_MODEL]
    fit_intercept = hpi[I_FIT_INTERCEPT]
    d = X.shape[1]
    th = np.empty(d, np.float64)
    for j in range(d):
        th[j] = np.float64(theta[j])
    b = np.float64(theta[d]) if fit_intercept else 0.0
    acc = np.zeros(d, np.float64)
    zt = np.empty(FULL_TILE_ROWS, np.float64)
    total = 0.0
    acc_b = 0.0
    for t0 in range(lo, hi, FULL_TILE_ROWS):
        m = min(hi, t0 + FULL_TILE_ROWS) - t0
        Xt = X[t0 : t0 + m]
        yt = y[t0 : t0 + m]
        for k in range(m):
            zt[k] = 0.0
        for j in range(d):
            tj = th[j]
            for k in range(m):  # rows as lanes
                zt[k] += np.float64(Xt[k, j]) * tj
        for k in range(m):
            z = zt[k]
            if fit_intercept:
                z += b
            loss, dz = _loss_dz(z, np.float64(yt[k]), model)
            total += loss
            acc_b += dz
            for j in range(d):
                acc[j] += dz * np.float64(Xt[k, j])
    for j in range(d):
        g[j] = acc[j]
    if fit_intercept:
        g[d] = acc_b
    return total


@njit(cache=True, nogil=True, parallel=True)
def _full_pass(X, y, theta, hpi, g):
    """Full-batch mean loss (returned) and mean gradient (into float64[p] ``g``), on all threads.

    Each chunk of ``FULL_CHUNK_ROWS`` rows (a fixed split of ``0 .. n-1``, whatever the
    number of threads) is summed by :func:`_rows_sum` into its own slot; the chunks' sums
    are then added in chunk order. The result depends on ``X``, ``y`` and ``theta`` only,
    never on the thread count or on which thread took which chunk: bit for bit
    deterministic. A full batch is summed in data order; it has no sample order.
    """
    n = X.shape[0]
    p = g.shape[0]
    n_chunks = (n + FULL_CHUNK_ROWS - 1) // FULL_CHUNK_ROWS
    part = np.empty((n_chunks, p + 1), np.float64)
    for c in numba.prange(n_chunks):
        lo = c * FULL_CHUNK_ROWS
        hi = min(n, lo + FULL_CHUNK_ROWS)
        part[c, p] = _rows_sum(X, y, theta, hpi, lo, hi, part[c, :p])
    total = 0.0
    for j in range(p):
        g[j] = 0.0
    for c in range(n_chunks):
        total += part[c, p]
        for j in range(p):
            g[j] += part[c, j]
    inv_n = 1.0 / n
    for j in range(p):
        g[j] *= inv_n
    return total * inv_n


@njit(cache=True, nogil=True, inline="always")
def _batch_loss_grad(X, y, theta, m, perm, start, end, g):
    """Mean loss (returned) and mean gradient (into float64 ``g``) over ``perm[start:end]``."""
    return _loss_grad_rows(X, y, theta, m, perm, start, end, True, g)


# Not parallel=True: the TUI worker and the main thread may both call it, and Numba's
# default (workqueue) threading layer aborts the process on concurrent parallel calls.
@njit(cache=True, nogil=True)
def _full_loss(X, y, thetas, hpi):
    """Full-dataset mean loss at each row of ``thetas``."""
    k = thetas.shape[0]
    n = X.shape[0]
    m = _describe(hpi)
    work = np.empty(_work_floats(m, X.shape[1]), np.float64)
    out = np.empty(k, np.float64)
    for r in range(k):
        total = 0.0
        for i in range(n):
            total += _row_loss(X, y, i, thetas[r], m, work)
        out[r] = total / n
    return out


# --- public wrappers ---------------------------------------------------------------------


def _check_data(X: np.ndarray, y: np.ndarray) -> None:
    if not isinstance(X, np.ndarray) or X.ndim != 2 or X.dtype not in (np.float32, np.float64):
        raise ValueError(
            f"X must be a 2-d float32 or float64 array, got {type(X).__name__} "
            f"{getattr(X, 'dtype', '')} {getattr(X, 'shape', '')}; convert it with np.asarray(X, dtype=np.float64)"
        )
    if not X.flags.c_contiguous:
        raise ValueError("X must be C-contiguous; pass np.ascontiguousarray(X)")
    if X.shape[0] < 1:
        raise ValueError(f"X needs at least one row, got shape {X.shape}")
    if not isinstance(y, np.ndarray) or y.shape != (X.shape[0],) or y.dtype != X.dtype:
        raise ValueError(
            f"y must have shape ({X.shape[0]},) and dtype {X.dtype} like X, got "
            f"{getattr(y, 'dtype', type(y).__name__)} {getattr(y, 'shape', '')}; use y.astype(X.dtype)"
        )


def _model_row(model: int | np.ndarray, fit_intercept: int, d: int) -> tuple[np.ndarray, int]:
    """The ``hpi`` row of ``model`` (a code, or an ``hpi`` row from :func:`model_hpi`) and its ``p``."""
    from .models import n_params

    if isinstance(model, np.ndarray):
        hpi = np.ascontiguousarray(model, dtype=np.int64)
        if hpi.shape != (HPI_SIZE,):
            raise ValueError(f"an hpi row must be int64[{HPI_SIZE}] (from model_hpi), got shape {hpi.shape}")
    else:
        if model not in (MODEL_LINEAR, MODEL_LOGISTIC):
            raise ValueError(f"model must be MODEL_LINEAR (0), MODEL_LOGISTIC (1) or an hpi row from model_hpi "
                             f"(for an mlp), got {model}")
        if fit_intercept not in (0, 1, True, False):
            raise ValueError(f"fit_intercept must be 0 or 1, got {fit_intercept}")
        hpi = model_hpi(model, fit_intercept)
    return hpi, int(n_params(hpi, d))


def model_hpi(model: int | str, fit_intercept: int = 1, **settings: int | str) -> np.ndarray:
    """An ``hpi`` row (int64[HPI_SIZE]) that describes the model alone, for the wrappers below.

    ``settings``: the MLP's ``hidden1``, ``hidden2``, ``activation`` and ``loss`` (codes, or
    names for the last two), as :func:`.layout.set_run` takes them.
    """
    hpi = np.zeros(HPI_SIZE, np.int64)
    for key, value in {"model": model, "fit_intercept": int(bool(fit_intercept)), **settings}.items():
        hpi[INT_KEYS[key]] = NAMED[key][value] if isinstance(value, str) else int(value)
    return hpi


def batch_loss_grad(
    X: np.ndarray,
    y: np.ndarray,
    params: np.ndarray,
    model: int,
    fit_intercept: int,
    perm: np.ndarray,
    start: int,
    end: int,
) -> tuple[float, np.ndarray]:
    """Minibatch loss and gradient over the rows ``perm[start:end]`` of ``X``.

    Parameters
    ----------
    X : numpy.ndarray
        float32 or float64[n, d], C-contiguous.
    y : numpy.ndarray
        X.dtype[n]: targets (linear) or labels in {0, 1} (logistic).
    params : numpy.ndarray
        X.dtype[p] in the model's flat order (linear family: ``[w_1, ..., w_d, b]``).
    model : int or numpy.ndarray
        ``MODEL_LINEAR`` or ``MODEL_LOGISTIC``, or any model's ``hpi`` row (:func:`model_hpi`).
    fit_intercept : int
        1 when ``params[-1]`` is the intercept ``b`` (unused with an ``hpi`` row).
    perm : numpy.ndarray
        int64[n]: row order; the batch is ``perm[start:end]``.
    start, end : int
        ``0 <= start < end <= n``; the batch size is ``B = end - start``.

    Returns
    -------
    loss : float
        Mean loss over the batch (float64).
    grad : numpy.ndarray
        params.dtype[p]: mean gradient, accumulated in float64 then cast.
    """
    _check_data(X, y)
    hpi, p = _model_row(model, fit_intercept, X.shape[1])
    n = X.shape[0]
    if params.shape != (p,) or params.dtype != X.dtype:
        raise ValueError(f"params must be {X.dtype}[{p}], got {params.dtype}{list(params.shape)}")
    if perm.shape != (n,) or perm.dtype != np.int64:
        raise ValueError(f"perm must be int64[{n}], got {perm.dtype}{list(perm.shape)}")
    if not 0 <= start < end <= n:
        raise ValueError(f"need 0 <= start < end <= n={n}, got start={start}, end={end}")
    g = np.empty(p, np.float64)
    loss = _batch_loss_grad(
        X, y, np.ascontiguousarray(params), describe(hpi), np.ascontiguousarray(perm), np.int64(start), np.int64(end), g,
    )
    return float(loss), g.astype(params.dtype)


def full_loss(X: np.ndarray, y: np.ndarray, thetas: np.ndarray, model: int, fit_intercept: int) -> np.ndarray:
    """Full-dataset mean loss at each of ``k`` parameter vectors (e.g. a contour grid).

    Parameters
    ----------
    X : numpy.ndarray
        float32 or float64[n, d], C-contiguous.
    y : numpy.ndarray
        X.dtype[n].
    thetas : numpy.ndarray
        [k, p] parameter vectors (converted to float64), ``p`` the model's.
    model, fit_intercept : int
        As in :func:`batch_loss_grad`.

    Returns
    -------
    numpy.ndarray
        float64[k]: the mean loss over all rows at each ``thetas[r]``. Releases the GIL.
    """
    _check_data(X, y)
    hpi, p = _model_row(model, fit_intercept, X.shape[1])
    thetas = np.ascontiguousarray(thetas, dtype=np.float64)
    if thetas.ndim != 2 or thetas.shape[1] != p:
        raise ValueError(f"thetas must have shape (k, {p}), got {thetas.shape}")
    return _full_loss(X, y, thetas, hpi)


def linear_stats(X: np.ndarray, y: np.ndarray, fit_intercept: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Sufficient statistics of the MSE: exact full loss and gradient at any ``theta``.

    With ``Xa = [X, 1]`` when ``fit_intercept`` (else ``X``)::

        L(theta)      = loss_star + (theta - theta_star)^T A (theta - theta_star)
        grad L(theta) = 2 (A theta - c)

    Parameters
    ----------
    X : numpy.ndarray
        float32 or float64[n, d].
    y : numpy.ndarray
        X.dtype[n].
    fit_intercept : int
        1 to append the intercept column.

    Returns
    -------
    A : numpy.ndarray
        float64[p, p], ``Xa^T Xa / n``.
    c : numpy.ndarray
        float64[p], ``Xa^T y / n``.
    theta_star : numpy.ndarray
        float64[p], a least-squares minimiser (the minimum-norm one when ``A`` is singular).
    loss_star : float
        ``mean((Xa theta_star - y)^2)``, computed directly from the residuals.
    """
    _check_data(X, y)
    X64 = X.astype(np.float64)
    y64 = y.astype(np.float64)
    n = X64.shape[0]
    Xa = np.hstack([X64, np.ones((n, 1))]) if fit_intercept else X64
    A = Xa.T @ Xa / n
    c = Xa.T @ y64 / n
    theta_star = np.linalg.lstsq(Xa, y64, rcond=None)[0]
    r = Xa @ theta_star - y64
    loss_star = float(r @ r / n)
    return np.ascontiguousarray(A), np.ascontiguousarray(c), np.ascontiguousarray(theta_star), loss_star
