"""The loss surface as a half-block heat map, with a run's path drawn over it in braille.

Each cell shows two heat-map pixels (``▀``: foreground the upper, background the lower), so
a ``W×H`` panel is a ``W×2H`` image. Cells the path crosses become braille characters (2×4
dots) in the run's colour over the cell's background; the current point is the run's marker,
the optimum a ``✕``. Without colour the heat map is drawn as contour lines in braille. A seed
ensemble's paths are a cloud instead (:mod:`gdviz.tui.density`): half-block pixels shaded by the
share of the seeds whose path crossed them, with the median seed's marker on a dark cell.

The heat-map rows are cached per size; each frame only recomputes the path dots (NumPy) and
rebuilds the rows where they changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.segment import Segment
from textual.strip import Strip

from gdviz.tui import braille as B
from gdviz.tui.canvas import BLANK, LinesWidget, merge_cells
from gdviz.tui.colors import HEAT_LEVELS, OPTIMUM_GLYPH, RGB, heat_palette, mix, style
from gdviz.tui.density import CLOUD_BASE, PLAIN_GLYPHS, Cloud, CloudRaster, levels, shades
from gdviz.surface import Surface, heat_levels, resample

PALETTE = heat_palette(HEAT_LEVELS)
HALF = "▀"
#: Share of the path (the most recent points) drawn bright; the rest is a dimmer trail.
RECENT = 0.15
RECENT_MAX = 150
#: Where a path's current point lies off the panel, by (column, row) direction: the arrow
#: drawn at the edge it left by.
OFF_PANEL = {(0, -1): "↑", (0, 1): "↓", (-1, 0): "←", (1, 0): "→", (-1, -1): "↖", (1, -1): "↗", (-1, 1): "↙", (1, 1): "↘"}


@dataclass(frozen=True)
class PathSpec:
    """What the panel overlays: the path so far in plane coordinates, and how to mark it."""

    xy: np.ndarray  # float64[k, 2]
    color: RGB
    marker: str
    key: object = None


@dataclass(frozen=True)
class SurfaceFrame:
    """What the panel shows (its view value): the surface, the path over it, a message."""

    surface: Surface | None = None
    path: PathSpec | None = None
    message: str = ""  # in a box over the panel ("diverged at step 12", compiling...)
    contours: bool = False  # NO_COLOR / 16 colours: contour lines instead of shading
    cloud: Cloud | None = None  # a seed ensemble's paths, shaded by density (tui/density.py)


class SurfaceView(LinesWidget):
    """One run's view of the shared loss surface."""

    DEFAULT_CSS = """
    SurfaceView { height: 1fr; width: 1fr; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.frame = SurfaceFrame()
        self._base_key: object = None
        self._bands_px: np.ndarray | None = None
        self._contour_codes: np.ndarray | None = None
        self._row_cache: dict[int, tuple[object, list[Segment]]] = {}
        self._cloud = CloudRaster()

    def show(self, frame: SurfaceFrame) -> bool:
        """Draw ``frame``; True if anything on screen changed."""
        self.frame = frame
        return self.update_frame()

    def frame_key(self) -> object:
        f = self.frame
        s = f.surface
        return (
            None if s is None else (id(s), s.version),
            None if f.path is None else f.path.key,
            f.message,
            f.contours,
            None if f.cloud is None else f.cloud.key,
        )

    # --- geometry -----------------------------------------------------------------------------
    def to_dots(self, xy: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Plane coordinates → (column, row) in dot units on a ``2W × 4H`` canvas."""
        s = self.frame.surface
        assert s is not None
        px = (xy[:, 0] - s.x0) / (s.x1 - s.x0) * (2 * width)
        py = (s.y1 - xy[:, 1]) / (s.y1 - s.y0) * (4 * height)
        return px, py

    def _base(self, width: int, height: int) -> None:
        s = self.frame.surface
        assert s is not None
        key = (id(s), s.version, width, height, self.frame.contours)
        if key == self._base_key:
            return
        self._base_key = key
        bands = heat_levels(s.Z, HEAT_LEVELS)
        if self.frame.contours:
            b = resample(bands, 4 * height, 2 * width)
            edge = np.zeros_like(b, dtype=bool)
            edge[:, :-1] |= b[:, :-1] != b[:, 1:]
            edge[:-1, :] |= b[:-1, :] != b[1:, :]
            self._contour_codes = B.dots_to_codes(edge)
            self._bands_px = None
        else:
            self._bands_px = resample(bands, 2 * height, width)
            self._contour_codes = None

    # --- drawing --------------------------------------------------------------------------------
    def build(self, width: int, height: int) -> list[list[Segment]]:
        s, path = self.frame.surface, self.frame.path
        if s is None:
            return self._message_rows(width, height, self.frame.message or "waiting for the engine…")
        self._base(width, height)
        path_codes = np.zeros((height, width), np.uint8)
        recent_codes = np.zeros((height, width), np.uint8)
        marks: dict[tuple[int, int], tuple[str, object]] = {}
        color = path.color if path is not None else (255, 255, 255)
        trail_rgb = mix(color, (20, 20, 30), 0.35)
        if s.optimum is not None:
            ox, oy = self.to_dots(np.array([s.optimum]), width, height)
            r, c = int(oy[0] // 4), int(ox[0] // 2)
            if 0 <= r < height and 0 <= c < width:
                marks[(r, c)] = (OPTIMUM_GLYPH, "optimum")
        cloud = self._cloud_levels(width, height)
        if path is not None and len(path.xy):
            xy = path.xy
            px, py = self.to_dots(xy, width, height)
            shape = (4 * height, 2 * width)
            path_codes = B.dots_to_codes(B.path_dots(px, py, shape))
            k = max(2, min(int(len(xy) * RECENT), RECENT_MAX))
            recent_codes = B.dots_to_codes(B.path_dots(px[-k:], py[-k:], shape))
            ok = np.flatnonzero(np.isfinite(px) & np.isfinite(py) & (np.abs(px) < 1e9) & (np.abs(py) < 1e9))
            if len(ok):  # the current point (the last finite one), or an arrow where it left
                r, c = int(np.floor(py[ok[-1]] / 4)), int(np.floor(px[ok[-1]] / 2))
                if 0 <= r < height and 0 <= c < width:
                    marks[(r, c)] = (path.marker, "current")
                else:
                    arrow = OFF_PANEL[(int(c >= width) - int(c < 0), int(r >= height) - int(r < 0))]
                    marks[(min(max(r, 0), height - 1), min(max(c, 0), width - 1))] = (arrow, "current")
        rows: list[list[Segment]] = []
        bright = style(None if self.frame.contours else color, bold=True)
        cache = self._row_cache
        fresh: dict[int, tuple[object, list[Segment]]] = {}
        for y in range(height):
            row_marks = tuple(sorted((x, m) for (yy, x), m in marks.items() if yy == y))
            lv = None if cloud is None else cloud[2 * y : 2 * y + 2]
            row_key = (self._base_key, path_codes[y].tobytes(), recent_codes[y].tobytes(), row_marks, color,
                       None if lv is None else lv.tobytes())  # fmt: skip
            hit = cache.get(y)
            if hit is not None and hit[0] == row_key:
                rows.append(hit[1])
                fresh[y] = hit
                continue
            segments = self._build_row(y, width, path_codes[y], recent_codes[y], marks, color, trail_rgb, bright, lv)
            fresh[y] = (row_key, segments)
            rows.append(segments)
        self._row_cache = fresh
        if self.frame.message:
            self._overlay(rows, width, height, self.frame.message)
        return rows

    def _build_row(self, y, width, pc_row, rc_row, marks, color, trail_rgb, bright, lv=None) -> list[Segment]:  # type: ignore[no-untyped-def]
        """One row of cells: marker, path (braille over the heat colour), an ensemble's cloud
        (``lv``: its levels in the row's two pixel rows), or heat map / contour."""
        chars = B.BRAILLE_CHARS
        nc = self.frame.contours
        cells: list[tuple[str, object]] = []
        pc, rc = pc_row.tolist(), rc_row.tolist()
        up, low = (lv[0].tolist(), lv[1].tolist()) if lv is not None else ([0] * width, [0] * width)
        shade = shades(color)
        if nc:
            cc = self._contour_codes[y].tolist()  # type: ignore[index]
            contour_style = style(dim=True)
        else:
            top = self._bands_px[2 * y].tolist()  # type: ignore[index]
            bot = self._bands_px[2 * y + 1].tolist()  # type: ignore[index]
        for x in range(width):
            mark = marks.get((y, x))
            bg = None if nc else PALETTE[bot[x]]
            cloudy = up[x] or low[x]
            if mark is not None:
                glyph, what = mark
                if cloudy and not nc:  # on the cloud: on a dark cell, to stand out
                    bg = CLOUD_BASE
                if what == "optimum":
                    st = style(None if nc else (255, 255, 255), bg, bold=True)
                else:
                    st = bright if nc else style(color, bg, bold=True)
                cells.append((glyph, st))
            elif cloudy and nc:
                level = max(up[x], low[x])
                cells.append((PLAIN_GLYPHS[level - 1], style(bold=level == len(PLAIN_GLYPHS), dim=level == 1)))
            elif cloudy:
                fg = shade[up[x] - 1] if up[x] else PALETTE[top[x]]
                cells.append((HALF, style(fg, shade[low[x] - 1] if low[x] else bg)))
            elif pc[x]:
                if nc:
                    cells.append((chars[pc[x]], bright if rc[x] else style()))
                else:
                    fg = color if rc[x] else trail_rgb
                    cells.append((chars[pc[x]], style(fg, mix(PALETTE[top[x]], PALETTE[bot[x]], 0.5), bold=bool(rc[x]))))
            elif nc:
                cells.append((chars[cc[x]], contour_style))
            else:
                cells.append((HALF, style(PALETTE[top[x]], bg)))
        return merge_cells(cells)  # type: ignore[arg-type]

    def _cloud_levels(self, width: int, height: int) -> np.ndarray | None:
        """The cloud's level (0 … LEVELS) of each half-block pixel ``[2H, W]``, or None."""
        cloud = self.frame.cloud
        if cloud is None:
            return None
        counts = self._cloud.counts(cloud, self.to_dots, width, height, (self._base_key, width, height))
        return levels(counts, len(cloud.paths))

    def _message_rows(self, width: int, height: int, message: str) -> list[list[Segment]]:
        rows: list[list[Segment]] = [[] for _ in range(height)]
        self._overlay(rows, width, height, message)
        return rows

    def _overlay(self, rows: list[list[Segment]], width: int, height: int, message: str) -> None:
        """A centred message box over the panel (diverged, compiling)."""
        lines = [f" {part} " for part in message.split("\n")]
        w = min(width, max(len(x) for x in lines))
        top = max(0, (height - len(lines)) // 2)
        st = style((255, 255, 255), (150, 30, 30), bold=True) if "diverged" in message else style(
            (230, 230, 230), (40, 50, 70), bold=True
        )
        if self.frame.contours:
            st = style(bold=True, dim=False)
        for i, text in enumerate(lines):
            y = top + i
            if y >= height:
                break
            left = max(0, (width - w) // 2)
            segs = rows[y]
            # Crop the row around the box: cells before it, the box, cells after it.
            strip = Strip(segs).adjust_cell_length(width, BLANK)
            before = list(strip.crop(0, left))
            after = list(strip.crop(left + w, width))
            rows[y] = [*before, Segment(text.center(w)[:w], st), *after]
