"""Braille-dot rasterising with NumPy: dot grids, line reduction, path segments, axis ticks.

A terminal cell holds a 2×4 grid of braille dots, so a widget of ``W×H`` cells is a canvas of
``2W×4H`` dots. Everything here works on whole arrays (no per-point Python loop), so a chart of
thousands of points costs well under a millisecond to rasterise.
"""

from __future__ import annotations

import math

import numpy as np

BRAILLE_BASE = 0x2800
#: Bit of each dot, indexed ``[row 0..3][column 0..1]`` inside one cell (Unicode braille order).
DOT_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.uint8)
#: The character for each 8-bit dot pattern (pattern 0 is a space, not an empty braille cell).
BRAILLE_CHARS: list[str] = [" "] + [chr(BRAILLE_BASE + code) for code in range(1, 256)]


def dots_to_codes(dots: np.ndarray) -> np.ndarray:
    """Pack a boolean dot grid ``[4H, 2W]`` into braille codes ``uint8[H, W]``."""
    rows, cols = dots.shape
    h, w = rows // 4, cols // 2
    d = dots[: 4 * h, : 2 * w].reshape(h, 4, w, 2).astype(np.uint8)
    return (d * DOT_BITS[None, :, None, :]).sum(axis=(1, 3), dtype=np.uint16).astype(np.uint8)


def codes_to_text(codes: np.ndarray) -> str:
    """Codes as text (rows of a 2-D array joined by newlines)."""
    chars = BRAILLE_CHARS
    if codes.ndim == 2:
        return "\n".join(codes_to_text(row) for row in codes)
    return "".join([chars[c] for c in codes.tolist()])


def column_ranges(
    x: np.ndarray, y: np.ndarray, x0: float, x1: float, ncols: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reduce a line ``(x, y)`` (x non-decreasing) to a ``[lo, hi]`` range per dot column.

    Each column covers the values the polyline takes over the column's x interval: the min and
    max of the points inside it, and the line's values at the column edges (interpolated), so
    consecutive columns join without gaps however sparse or dense the points are.

    Returns ``lo``, ``hi`` (float64[ncols]) and ``valid`` (bool[ncols]).
    """
    lo = np.full(ncols, np.inf)
    hi = np.full(ncols, -np.inf)
    valid = np.zeros(ncols, bool)
    if len(x) == 0 or ncols <= 0 or not x1 > x0:
        return lo, hi, valid
    scale = ncols / (x1 - x0)
    edges = x0 + np.arange(ncols + 1) / scale
    xa, xb = float(x[0]), float(x[-1])
    inside = (edges[1:] > xa) & (edges[:-1] <= xb) | ((edges[:-1] <= xa) & (edges[1:] >= xa))
    e = np.interp(np.clip(edges, xa, xb), x, y)
    lo = np.minimum(e[:-1], e[1:])
    hi = np.maximum(e[:-1], e[1:])
    col = np.floor((x - x0) * scale).astype(np.int64)
    keep = (col >= 0) & (col < ncols)
    if keep.any():
        c, v = col[keep], y[keep]
        starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
        cols = c[starts]
        lo[cols] = np.minimum(lo[cols], np.minimum.reduceat(v, starts))
        hi[cols] = np.maximum(hi[cols], np.maximum.reduceat(v, starts))
        inside[cols] = True
    valid = inside & np.isfinite(lo) & np.isfinite(hi)
    return lo, hi, valid


def line_dots(
    x: np.ndarray,
    y: np.ndarray,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    shape: tuple[int, int],
    pattern: str = "solid",
) -> np.ndarray:
    """Rasterise a line onto a dot grid of ``shape = (rows, cols)`` (row 0 at the top).

    ``y`` must already be in axis units (e.g. log10 of the loss for a log axis); non-finite
    points are dropped. ``pattern`` is ``solid``, ``dotted``, ``dashed`` or ``dashdot`` (for terminals
    without colour, where line style tells the runs apart).
    """
    rows, cols = shape
    dots = np.zeros(shape, bool)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any() or rows < 1 or cols < 1:
        return dots
    x, y = x[ok], y[ok]
    lo, hi, valid = column_ranges(x, y, x_range[0], x_range[1], cols)
    y0, y1 = y_range
    span = (y1 - y0) or 1.0
    # Row of a value: top row is y1, bottom row is y0; clipped to the canvas.
    r_top = np.clip(np.rint((y1 - hi) / span * (rows - 1)), 0, rows - 1)
    r_bot = np.clip(np.rint((y1 - lo) / span * (rows - 1)), 0, rows - 1)
    # A range entirely outside the axis is not drawn (not smeared along the edge).
    valid &= ~((hi < y0) | (lo > y1))
    if pattern == "dotted":
        valid &= np.arange(cols) % 2 == 0
    elif pattern == "dashed":
        valid &= np.arange(cols) % 6 < 4
    elif pattern == "dashdot":
        c = np.arange(cols) % 8
        valid &= (c < 4) | (c == 6)
    r = np.arange(rows)[:, None]
    dots[:] = (r >= r_top[None, :]) & (r <= r_bot[None, :]) & valid[None, :]
    return dots


def path_dots(px: np.ndarray, py: np.ndarray, shape: tuple[int, int], max_samples: int = 256) -> np.ndarray:
    """Rasterise a polyline given in dot coordinates (``px`` column, ``py`` row) onto a grid.

    Each segment is sampled at half-dot steps (at most ``max_samples`` per segment, so a
    diverging run cannot blow up the cost); samples outside the grid are dropped.
    """
    rows, cols = shape
    dots = np.zeros(shape, bool)
    ok = np.isfinite(px) & np.isfinite(py) & (np.abs(px) < 1e7) & (np.abs(py) < 1e7)
    px, py = px[ok], py[ok]
    if len(px) == 0:
        return dots
    if len(px) == 1:
        xs, ys = px, py
    else:
        dx, dy = np.diff(px), np.diff(py)
        n = np.clip(np.ceil(2 * np.maximum(np.abs(dx), np.abs(dy))).astype(np.int64), 1, max_samples)
        seg = np.repeat(np.arange(len(dx)), n)
        starts = np.cumsum(n) - n
        t = (np.arange(n.sum()) - np.repeat(starts, n)) / np.repeat(n, n)
        xs = np.r_[px[:-1][seg] + t * dx[seg], px[-1]]
        ys = np.r_[py[:-1][seg] + t * dy[seg], py[-1]]
    c = np.floor(xs).astype(np.int64)
    r = np.floor(ys).astype(np.int64)
    keep = (c >= 0) & (c < cols) & (r >= 0) & (r < rows)
    dots[r[keep], c[keep]] = True
    return dots


# --- axis ticks ---------------------------------------------------------------------------


def log_range(values: np.ndarray) -> tuple[float, float] | None:
    """``(log10 lo, log10 hi)`` covering the positive finite ``values``, padded a little."""
    v = values[np.isfinite(values) & (values > 0)]
    if len(v) == 0:
        return None
    lo, hi = math.log10(float(v.min())), math.log10(float(v.max()))
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.03 * (hi - lo)
    return lo - pad, hi + pad


def linear_range(values: np.ndarray) -> tuple[float, float] | None:
    v = values[np.isfinite(values)]
    if len(v) == 0:
        return None
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        lo, hi = lo - 0.5 * max(1.0, abs(lo)), hi + 0.5 * max(1.0, abs(hi))
    pad = 0.03 * (hi - lo)
    return lo - pad, hi + pad


def decade_ticks(log_lo: float, log_hi: float) -> list[float]:
    """Tick values for a log axis over ``[10**log_lo, 10**log_hi]``: the decades inside it.

    When fewer than two decades fall inside, 2× and 5× ticks are added so the axis is never
    bare; with more than eight decades, every other decade is kept.
    """
    ticks = [10.0**k for k in range(math.ceil(log_lo - 1e-9), math.floor(log_hi + 1e-9) + 1)]
    if len(ticks) < 2:
        ticks = sorted(
            m * 10.0**k
            for k in range(math.floor(log_lo) - 1, math.ceil(log_hi) + 1)
            for m in (1, 2, 5)
            if log_lo - 1e-9 <= math.log10(m * 10.0**k) <= log_hi + 1e-9
        )
    while len(ticks) > 8:
        ticks = ticks[::2]
    return ticks


def nice_ticks(lo: float, hi: float, max_ticks: int = 6) -> list[float]:
    """Round tick values (1, 2, 5 × 10^k steps) inside ``[lo, hi]``."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(1, max_ticks - 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [k * step for k in range(first, last + 1)]


def format_tick(v: float) -> str:
    """Short tick label: ``0.5``, ``20``, ``1e-3``, ``2e9``."""
    if v == 0:
        return "0"
    a = abs(v)
    if 1e-2 <= a < 1e3:
        s = f"{v:.3g}"
        return s
    exp = math.floor(math.log10(a))
    mant = v / 10.0**exp
    if abs(mant - round(mant)) < 1e-6:
        m = int(round(mant))
        return f"1e{exp}" if m == 1 else f"{m}e{exp}"
    return f"{mant:.1f}e{exp}"
