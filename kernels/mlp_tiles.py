"""The CPU's batched pass of a one-hidden-layer MLP: rows in tiles, each layer a small matrix
product whose inner loop runs over the tile's rows (SIMD), instead of one row at a time.

Same maths as :func:`.mlp.mlp_row_loss_grad` (same flat order, float64 sums), another summation
order: each parameter's gradient is summed over a tile's rows, then the tiles are added in
order. The order depends only on the batch's rows, never on chunking or threads, so runs stay
bit-for-bit reproducible; results agree with the row-by-row pass to rounding (the tests hold
both to the NumPy reference). Used by :mod:`.losses` for batches of at least
``MLP_TILE_MIN_ROWS`` rows of a one-hidden-layer network; smaller batches and two hidden
layers go row by row.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .layout import ACT_RELU, ACT_TANH, LOSS_MSE
from .stepmath import sigmoid

#: Rows per tile (and the smallest batch that takes this pass).
MLP_TILE_ROWS = 32
MLP_TILE_MIN_ROWS = 32


@njit(cache=True, nogil=True, inline="always")
def _dot4(a, b, nt):
    """``sum_r a[r] b[r]`` over ``r < nt`` in 4 lanes (``r % 4``), the lanes then added
    pairwise: a fixed order that runs as independent SIMD sums, not one dependent chain."""
    s0 = s1 = s2 = s3 = 0.0
    n4 = nt - nt % 4
    for r in range(0, n4, 4):
        s0 += a[r] * b[r]
        s1 += a[r + 1] * b[r + 1]
        s2 += a[r + 2] * b[r + 2]
        s3 += a[r + 3] * b[r + 3]
    for r in range(n4, nt):
        s0 += a[r] * b[r]
    return (s0 + s1) + (s2 + s3)


@njit(cache=True, nogil=True)
def mlp_tiles_loss_grad(X, y, theta, m, perm, start, end, use_perm, g):
    """Summed loss (returned) over rows ``perm[start:end]`` (or ``start:end``) of a
    ``d → h → 1`` network; their summed gradient is added into float64 ``g[p]``."""
    d = X.shape[1]
    h = m[2]
    act = m[4]
    mse = m[5] == LOSS_MSE
    T = MLP_TILE_ROWS
    ob1 = h * d
    oo = ob1 + h
    Xt = np.empty((d, T), np.float64)
    A = np.empty((h, T), np.float64)
    dz = np.empty(T, np.float64)
    ones = np.ones(T, np.float64)
    W1 = np.empty((h, d), np.float64)
    for k in range(h):
        for j in range(d):
            W1[k, j] = np.float64(theta[k * d + j])
    total = 0.0
    for t0 in range(start, end, T):
        nt = min(end, t0 + T) - t0
        for r in range(nt):
            i = perm[t0 + r] if use_perm else t0 + r
            for j in range(d):
                Xt[j, r] = np.float64(X[i, j])
        for k in range(h):
            a = A[k]
            bk = np.float64(theta[ob1 + k])
            for r in range(nt):
                a[r] = 0.0
            for j in range(d):
                w = W1[k, j]
                xj = Xt[j]
                for r in range(nt):
                    a[r] += w * xj[r]
            if act == ACT_RELU:
                for r in range(nt):
                    s = a[r] + bk
                    a[r] = s if s > 0.0 else 0.0
            elif act == ACT_TANH:
                for r in range(nt):
                    a[r] = np.tanh(a[r] + bk)
            else:
                for r in range(nt):
                    a[r] = sigmoid(a[r] + bk)
        bo = np.float64(theta[oo + h])
        for r in range(nt):
            dz[r] = 0.0
        for k in range(h):
            wk = np.float64(theta[oo + k])
            a = A[k]
            for r in range(nt):
                dz[r] += wk * a[r]
        for r in range(nt):
            i = perm[t0 + r] if use_perm else t0 + r
            z = dz[r] + bo
            yi = np.float64(y[i])
            if mse:
                res = z - yi
                total += res * res
                dz[r] = 2.0 * res
            else:
                total += max(z, 0.0) - z * yi + np.log1p(np.exp(-abs(z)))
                dz[r] = sigmoid(z) - yi
        sdz = 0.0
        for r in range(nt):
            sdz += dz[r]
        g[oo + h] += sdz
        for k in range(h):
            wk = np.float64(theta[oo + k])
            a = A[k]
            g[oo + k] += _dot4(dz, a, nt)
            # delta = dz * wo_k * act'(a), in place of the activations
            if act == ACT_RELU:
                for r in range(nt):
                    a[r] = dz[r] * wk * (1.0 if a[r] > 0.0 else 0.0)
            elif act == ACT_TANH:
                for r in range(nt):
                    a[r] = dz[r] * wk * (1.0 - a[r] * a[r])
            else:
                for r in range(nt):
                    a[r] = dz[r] * wk * (a[r] * (1.0 - a[r]))
            g[ob1 + k] += _dot4(a, ones, nt)
            gw = g[k * d : (k + 1) * d]
            for j in range(d):
                gw[j] += _dot4(a, Xt[j], nt)
    return total
