"""A seed ensemble's cloud on the loss surface: how many of its members' paths cross each pixel.

Each member's path so far is rasterised (as :func:`gdviz.tui.braille.path_dots` draws one path)
onto the surface's half-block pixels (``W × 2H`` for a ``W × H`` panel: a pixel is 2×2 braille
dots); a pixel's count is the number of members whose path crossed it, and its shade, in the
ensemble's colour family, is the share of the members in :data:`LEVELS` steps (darkest: a few
seeds went there; brightest: nearly all did). Without colour the cells take ``░▒▓█`` by the same
levels. So ten seeds read as one cloud, not ten overdrawn lines.

Paths only grow while the clock moves forward, so :class:`CloudRaster` keeps each member's
pixels between frames and adds the new segments only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gdviz.tui import braille as B
from gdviz.tui.colors import RGB, mix

#: Shade steps of the cloud: a pixel's level is ceil(share of members × LEVELS).
LEVELS = 4
#: How far each level moves from :data:`CLOUD_BASE` towards the ensemble's colour.
ALPHAS = (0.3, 0.5, 0.72, 0.95)
CLOUD_BASE: RGB = (18, 18, 24)
#: The cells' glyphs by level without colour.
PLAIN_GLYPHS = "░▒▓█"


@dataclass(frozen=True, eq=False)
class Cloud:
    """What the surface shades: each member's path so far (plane coordinates, ``[k, 2]``).

    ``prefixes[j]`` changes when member ``j``'s points already drawn change (a fork); ``key``
    changes whenever the drawing may (for the widget's frame key).
    """

    paths: tuple[np.ndarray, ...]
    prefixes: tuple[object, ...]
    color: RGB
    key: object = None


def shades(color: RGB) -> tuple[RGB, ...]:
    """The colour of each level (1 … LEVELS), from dark towards ``color``."""
    return tuple(mix(CLOUD_BASE, color, a) for a in ALPHAS)


def levels(counts: np.ndarray, members: int) -> np.ndarray:
    """Level 0 (no member) … LEVELS (every member) of each count of ``members``."""
    share = counts / max(members, 1)
    return np.where(counts > 0, np.clip(np.ceil(share * LEVELS - 1e-9), 1, LEVELS), 0).astype(np.uint8)


def _pixels(px: np.ndarray, py: np.ndarray, width: int, height: int) -> np.ndarray:
    """A path in dot coordinates → the half-block pixels it crosses, bool ``[2H, W]``."""
    dots = B.path_dots(px, py, (4 * height, 2 * width))
    return dots.reshape(2 * height, 2, width, 2).any(axis=(1, 3))


class CloudRaster:
    """Each member's pixels, kept between frames and extended as its path grows."""

    def __init__(self) -> None:
        # per member: (its prefix key and the canvas key, points drawn, pixels)
        self._members: list[tuple[object, int, np.ndarray]] = []

    def counts(
        self,
        cloud: Cloud,
        to_dots: Callable[[np.ndarray, int, int], tuple[np.ndarray, np.ndarray]],
        width: int,
        height: int,
        canvas: object,
    ) -> np.ndarray:
        """Members whose path crosses each pixel, int ``[2H, W]`` (``canvas``: changes with the
        surface's plane or the panel's size, which move every pixel)."""
        total = np.zeros((2 * height, width), np.int32)
        kept = []
        for j, xy in enumerate(cloud.paths):
            key = (cloud.prefixes[j], canvas)
            old = self._members[j] if j < len(self._members) else None
            k = len(xy)
            if old is not None and old[0] == key and 0 < old[1] <= k:
                pix = old[2]
                if k > old[1]:  # the new segments, from the last point drawn
                    px, py = to_dots(xy[old[1] - 1 :], width, height)
                    pix = pix | _pixels(px, py, width, height)
            elif k:
                px, py = to_dots(xy, width, height)
                pix = _pixels(px, py, width, height)
            else:
                pix = np.zeros((2 * height, width), bool)
            kept.append((key, k, pix))
            total += pix
        self._members = kept
        return total
