"""A braille line chart: each dot column reduced to a min/max range with NumPy, log or linear y.

Used for each run's loss curve (minibatch loss faint, full-dataset loss bold) and for the
comparison chart (every run's full-dataset loss against epochs, updates or seconds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rich.segment import Segment

from gdviz.text import printable
from gdviz.tui import braille as B
from gdviz.tui.bands import Band, band_layer
from gdviz.tui.canvas import LinesWidget, merge_cells
from gdviz.tui.colors import RGB, mix, style

GUTTER = 6  # columns for the y tick labels
AXIS_RGB: RGB = (110, 110, 120)
LABEL_RGB: RGB = (160, 160, 170)


@dataclass(frozen=True)
class Series:
    """One line: x non-decreasing; y in data units (the chart applies the log)."""

    x: np.ndarray
    y: np.ndarray
    color: RGB
    pattern: str = "solid"
    faint: bool = False
    label: str = ""
    end_mark: str = ""  # a glyph drawn at the line's last point (↑ at the top edge when off the chart)


@dataclass(frozen=True)
class Mark:
    """A glyph at one point of the chart (data units), e.g. ⑂ where a fork leaves its parent."""

    x: float
    y: float
    glyph: str
    color: RGB


@dataclass(frozen=True)
class ChartSpec:
    """What a chart draws (its view value); the chart redraws when this (or its key) changes."""

    series: list[Series]
    x_range: tuple[float, float]
    y_range: tuple[float, float] | None = None  # in axis units (log10 when log_y)
    log_y: bool = True
    log_x: bool = False
    x_label: str = ""
    title: str = ""
    key: object = None
    message: str = ""  # shown instead of the plot (e.g. "diverged at step 12")
    no_color: bool = False  # NO_COLOR / 16 colours: bold and dim instead of run colours
    short_titles: tuple[str, ...] = ()  # shorter forms of the title, longest first, for narrow charts
    bands: tuple[Band, ...] = ()  # regions between two curves, stippled under the lines (tui/bands.py)
    marks: tuple[Mark, ...] = ()  # drawn over the lines


def axis_values(y: np.ndarray, log: bool) -> np.ndarray:
    if not log:
        return y
    with np.errstate(all="ignore"):
        return np.where(y > 0, np.log10(np.where(y > 0, y, 1.0)), np.nan)


def y_range_of(series: list[Series], log: bool, quantum: float = 0.25) -> tuple[float, float] | None:
    """A y range (in axis units) that covers every series, snapped outwards to ``quantum``
    decades (log) so it changes rarely as points arrive and the chart does not jitter."""
    if not series:
        return None
    ys = np.concatenate([s.y for s in series]) if series else np.empty(0)
    r = B.log_range(ys) if log else B.linear_range(ys)
    if r is None:
        return None
    if log:
        return math.floor(r[0] / quantum) * quantum, math.ceil(r[1] / quantum) * quantum
    return r


class LineChart(LinesWidget):
    """A braille chart with a y tick gutter, an x axis row and an optional title row."""

    DEFAULT_CSS = """
    LineChart { height: 1fr; width: 1fr; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.spec: ChartSpec | None = None
        self._row_cache: dict[int, tuple[object, list[Segment]]] = {}

    def set_spec(self, spec: ChartSpec) -> bool:
        """Draw ``spec``; True if anything on screen changed."""
        self.spec = spec
        return self.update_frame()

    def frame_key(self) -> object:
        s = self.spec
        if s is None:
            return None
        return (s.key, s.log_y, s.log_x, s.x_range, s.y_range, s.title, s.short_titles, s.message, s.no_color,
                s.marks)

    # --- drawing ----------------------------------------------------------------------------
    def build(self, width: int, height: int) -> list[list[Segment]]:
        s = self.spec
        rows: list[list[Segment]] = []
        label_style = style(LABEL_RGB)
        axis_style = style(AXIS_RGB)
        if s is None:
            return rows
        if s.title:
            title = s.title  # else the first shorter form that fits (the shortest, cut, if none does)
            if len(title) > width and s.short_titles:
                title = next((t for t in s.short_titles if len(t) <= width), s.short_titles[-1])
            rows.append([Segment(printable(title)[:width], style(LABEL_RGB, bold=True))])
        plot_h = height - len(rows) - 1
        plot_w = width - GUTTER - 1
        if plot_h < 2 or plot_w < 4:
            return rows
        if s.message:
            mid = plot_h // 2
            for y in range(plot_h):
                text = s.message.center(plot_w)[:plot_w] if y == mid else ""
                rows.append([Segment(" " * GUTTER + "│", axis_style), Segment(text, style((255, 110, 110), bold=True))])
            rows.append([Segment(" " * GUTTER + "└" + "─" * plot_w, axis_style)])
            return rows
        yr = s.y_range or y_range_of(s.series, s.log_y)
        if yr is None:
            yr = (0.0, 1.0)
        xr = s.x_range
        rows_d, cols_d = plot_h * 4, plot_w * 2
        codes = np.zeros((plot_h, plot_w), np.uint8)
        owner = np.full((plot_h, plot_w), -1, np.int64)
        bold: list[tuple[int, np.ndarray]] = []
        faint: list[tuple[int, np.ndarray]] = []
        marks: dict[tuple[int, int], tuple[str, int]] = {}  # cell -> glyph, series (or -1 - mark)
        for k, ser in enumerate(s.series):
            x = np.asarray(ser.x, np.float64)
            if s.log_x:
                with np.errstate(all="ignore"):
                    x = np.log10(np.maximum(x, 0) + 1.0)
            y = axis_values(np.asarray(ser.y, np.float64), s.log_y)
            c = B.dots_to_codes(B.line_dots(x, y, xr, yr, (rows_d, cols_d), ser.pattern))
            codes |= c  # every line's dots are drawn; a cell's colour is its owner's
            (faint if ser.faint else bold).append((k, c > 0))
            if ser.end_mark:
                mark = _end_cell(x, y, xr, yr, plot_h, plot_w)
                if mark is not None:
                    marks[mark[:2]] = ("↑" if mark[2] else ser.end_mark, k)
        for j, mk in enumerate(s.marks):
            mx = np.array([mk.x], np.float64)
            if s.log_x:
                mx = np.log10(np.maximum(mx, 0) + 1.0)
            cell = _end_cell(mx, axis_values(np.array([mk.y], np.float64), s.log_y), xr, yr, plot_h, plot_w)
            if cell is not None and not cell[2]:
                marks[cell[:2]] = (mk.glyph, -1 - j)
        # Bold lines win their cells, shared out where they cross or run together so that every
        # line keeps cells of its own all along (neighbouring cells alternate between them).
        if bold:
            ks = np.array([k for k, _ in bold])
            H = np.stack([hit for _, hit in bold])
            n = H.sum(axis=0)
            turn = (np.arange(plot_h)[:, None] + np.arange(plot_w)[None, :]) % np.maximum(n, 1) + 1
            pick = np.argmax(H & (np.cumsum(H, axis=0, dtype=np.int32) == turn[None]), axis=0)
            owner[n > 0] = ks[pick][n > 0]
        for k, hit in faint:  # faint lines own the cells no bold line has
            owner[hit & (owner < 0)] = k
        if s.bands:  # bands fill the cells no line passes through
            b_codes, b_owner = band_layer(s.bands, xr, yr, (plot_h, plot_w), log_x=s.log_x, log_y=s.log_y)
            free = (codes == 0) & (b_owner >= 0)
            codes = np.where(free, b_codes, codes)
            owner = np.where(free, len(s.series) + b_owner, owner)
        styles = []
        for ser in s.series:
            if s.no_color:
                styles.append(style(dim=True) if ser.faint else style(bold=True))
            else:
                styles.append(style(mix(ser.color, (40, 40, 48), 0.6)) if ser.faint else style(ser.color, bold=True))
        for band in s.bands:
            styles.append(style(dim=True) if s.no_color else style(mix(band.color, (40, 40, 48), 0.55)))
        mark_styles = [style(bold=True) if s.no_color else style(mk.color, bold=True) for mk in s.marks]
        # y ticks: label rows
        if s.log_y:
            ticks = B.decade_ticks(*yr)
            tick_pos = [math.log10(t) for t in ticks]
        else:
            ticks = B.nice_ticks(*yr, max_ticks=max(2, plot_h // 3))
            tick_pos = ticks
        span = (yr[1] - yr[0]) or 1.0
        labels: dict[int, str] = {}
        for t, pos in zip(ticks, tick_pos):
            r = int(round((yr[1] - pos) / span * (rows_d - 1))) // 4
            if 0 <= r < plot_h and r not in labels:
                labels[r] = B.format_tick(t)
        chars = B.BRAILLE_CHARS
        style_key = tuple(id(st) for st in (*styles, *mark_styles))
        fresh: dict[int, tuple[object, list[Segment]]] = {}
        for y in range(plot_h):
            lab = labels.get(y)
            row_marks = {c: m for (r, c), m in marks.items() if r == y}
            row_key = (codes[y].tobytes(), owner[y].tobytes(), lab, style_key, plot_w, tuple(sorted(row_marks.items())))
            hit = self._row_cache.get(y)
            if hit is not None and hit[0] == row_key:
                rows.append(hit[1])
                fresh[y] = hit
                continue
            gutter = (lab[:GUTTER].rjust(GUTTER) + "┤") if lab else (" " * GUTTER + "│")
            row = [Segment(gutter, label_style if lab else axis_style)]
            own = owner[y].tolist()
            cod = codes[y].tolist()
            cells = [(chars[cod[i]], styles[own[i]] if own[i] >= 0 else None) for i in range(plot_w)]
            for col, (glyph, k) in row_marks.items():
                cells[col] = (glyph, styles[k] if k >= 0 else mark_styles[-1 - k])
            row.extend(merge_cells(cells))
            rows.append(row)
            fresh[y] = (row_key, row)
        self._row_cache = fresh
        rows.append([Segment(self._x_axis(plot_w, xr, s), axis_style)])
        return rows

    def _x_axis(self, plot_w: int, xr: tuple[float, float], s: ChartSpec) -> str:
        """``└`` and tick labels along the bottom row, then the axis label (at the right end;
        ticks that would run into it are left out, so the axis always says what it counts)."""
        line = [" "] * (GUTTER + 1 + plot_w)
        line[GUTTER] = "└"
        label = s.x_label if len(s.x_label) + 4 <= plot_w else ""
        end = len(line) - (len(label) + 1 if label else 0)  # ticks stop before the label
        lo, hi = xr
        if s.log_x:
            ticks = [10.0**k for k in range(0, int(math.floor(hi)) + 1)]
            positions = [math.log10(t + 1.0) for t in ticks]
            values = ticks
        else:
            values = B.nice_ticks(lo, hi, max_ticks=max(3, plot_w // 14))
            positions = values
        span = (hi - lo) or 1.0
        taken = GUTTER + 1
        for v, pos in zip(values, positions):
            col = GUTTER + 1 + int((pos - lo) / span * plot_w)
            text = B.format_tick(v)
            if s.log_x and v >= 1e3:
                text = f"1e{int(round(math.log10(v)))}"
            start = max(col - len(text) // 2, taken)
            if start + len(text) > end or col >= len(line):
                continue
            for i, ch in enumerate(text):
                line[start + i] = ch
            taken = start + len(text) + 1
        if label:
            line[len(line) - len(label):] = list(label)
        return "".join(line)


def _end_cell(
    x: np.ndarray, y: np.ndarray, xr: tuple[float, float], yr: tuple[float, float], plot_h: int, plot_w: int
) -> tuple[int, int, bool] | None:
    """The cell ``(row, column, above)`` of a line's last finite point: on the top row with
    ``above`` True when the point is above the chart (a run that left it, as a diverged one)."""
    ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if not len(ok) or not xr[1] > xr[0]:
        return None
    xe, ye = float(x[ok[-1]]), float(y[ok[-1]])
    col = min(plot_w - 1, max(0, int((xe - xr[0]) / (xr[1] - xr[0]) * plot_w)))
    if not xr[0] <= xe <= xr[1] or ye < yr[0]:
        return None
    if ye > yr[1]:
        return 0, col, True
    span = (yr[1] - yr[0]) or 1.0
    row = int(round((yr[1] - ye) / span * (plot_h * 4 - 1))) // 4
    return min(plot_h - 1, max(0, row)), col, False
