"""Bands on a braille chart: the region between two curves (a seed ensemble's 10th and 90th
percentiles), stippled in a faint colour under the lines.

A band fills, in each dot column, the dots between its low and high edge with a checkerboard
of dots, so a line drawn over it stays legible; a cell that a line passes through is the line's
(:class:`gdviz.tui.chart.LineChart` draws bands only in cells no line uses). Where several
bands overlap, neighbouring cells alternate between them, as crossing lines do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gdviz.tui import braille as B
from gdviz.tui.colors import RGB


@dataclass(frozen=True, eq=False)
class Band:
    """The region between ``lo`` and ``hi`` (data units; ``hi`` may be ``inf``: up to the top)."""

    x: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    color: RGB


def _axis(v: np.ndarray, log: bool) -> np.ndarray:
    v = np.asarray(v, np.float64)
    if not log:
        return v
    with np.errstate(all="ignore"):
        return np.where(v > 0, np.log10(np.where(v > 0, v, 1.0)), np.where(np.isposinf(v), np.inf, np.nan))


def band_dots(
    band: Band,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    shape: tuple[int, int],
    *,
    log_x: bool = False,
    log_y: bool = True,
) -> np.ndarray:
    """The band's stippled dots on a grid of ``shape = (rows, cols)`` dots (row 0 at the top)."""
    rows, cols = shape
    dots = np.zeros(shape, bool)
    x = np.asarray(band.x, np.float64)
    if log_x:
        with np.errstate(all="ignore"):
            x = np.log10(np.maximum(x, 0) + 1.0)
    lo, hi = _axis(band.lo, log_y), _axis(band.hi, log_y)
    y0, y1 = y_range
    hi = np.where(np.isposinf(hi), y1, hi)  # above every value: up to the top edge
    ok = np.isfinite(x) & np.isfinite(lo) & np.isfinite(hi)
    if ok.sum() < 2 or rows < 1 or cols < 1 or not x_range[1] > x_range[0]:
        return dots
    x, lo, hi = x[ok], lo[ok], hi[ok]
    centres = x_range[0] + (np.arange(cols) + 0.5) / cols * (x_range[1] - x_range[0])
    inside = (centres >= x[0]) & (centres <= x[-1])
    lo_c = np.interp(centres, x, lo)
    hi_c = np.interp(centres, x, hi)
    span = (y1 - y0) or 1.0
    r_top = np.clip(np.rint((y1 - hi_c) / span * (rows - 1)), 0, rows - 1)
    r_bot = np.clip(np.rint((y1 - lo_c) / span * (rows - 1)), 0, rows - 1)
    inside &= ~((hi_c < y0) | (lo_c > y1))
    r = np.arange(rows)[:, None]
    c = np.arange(cols)[None, :]
    dots[:] = (r >= r_top[None, :]) & (r <= r_bot[None, :]) & inside[None, :] & ((r + c) % 2 == 0)
    return dots


def share_cells(hits: Sequence[np.ndarray]) -> np.ndarray:
    """Which of ``hits`` (boolean cell masks) owns each cell, -1 for none: cells hit by several
    alternate between them along rows and columns, so each keeps cells of its own."""
    if not hits:
        return np.empty((0, 0), np.int64)
    H = np.stack(hits)
    n = H.sum(axis=0)
    h, w = H.shape[1:]
    turn = (np.arange(h)[:, None] + np.arange(w)[None, :]) % np.maximum(n, 1) + 1
    pick = np.argmax(H & (np.cumsum(H, axis=0, dtype=np.int32) == turn[None]), axis=0)
    return np.where(n > 0, pick, -1)


def band_layer(
    bands: Sequence[Band],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    plot: tuple[int, int],
    *,
    log_x: bool = False,
    log_y: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Every band on a ``plot = (rows, cols)`` cell grid: braille codes and owner (band index, -1)."""
    h, w = plot
    codes = np.zeros((h, w), np.uint8)
    each = [B.dots_to_codes(band_dots(b, x_range, y_range, (4 * h, 2 * w), log_x=log_x, log_y=log_y))
            for b in bands]  # fmt: skip
    if not each:
        return codes, np.full((h, w), -1, np.int64)
    owner = share_cells([c > 0 for c in each])
    for k, c in enumerate(each):
        codes = np.where(owner == k, c, codes)
    return codes, owner
