"""A log-log braille chart for the sweep screen: lines, measured points, reference rules.

Both axes are logarithmic with decade ticks; the x axis may run right to left (the noise
scale against the loss: training goes left to right as the loss falls). Lines are braille
dots (:mod:`gdviz.tui.braille`), measured points a glyph per point, and reference lines
(``B_crit``, the target loss) dotted rules under them, each labelled at its end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rich.segment import Segment
from rich.style import Style

from gdviz.text import printable
from gdviz.tui import braille as B
from gdviz.tui.canvas import LinesWidget, merge_cells
from gdviz.tui.chart import AXIS_RGB, GUTTER, LABEL_RGB
from gdviz.tui.colors import PATTERN_GLYPHS, RGB, style

#: Rules are dim, so that lines and points stay in front of them.
RULE_RGB: RGB = (150, 150, 160)


@dataclass(frozen=True)
class Curve:
    """A line through ``(x, y)`` (data units, > 0), or with ``marker`` one glyph per point."""

    x: np.ndarray
    y: np.ndarray
    color: RGB
    label: str = ""
    pattern: str = "solid"
    marker: str = ""


@dataclass(frozen=True)
class Rule:
    """A reference line: vertical at ``value`` on the x axis (``axis="x"``) or horizontal."""

    axis: str
    value: float
    label: str


@dataclass(frozen=True)
class LogLogSpec:
    """What a :class:`LogLogChart` draws; it redraws when ``key`` (or the size) changes."""

    curves: tuple[Curve, ...]
    rules: tuple[Rule, ...] = ()
    title: str = ""
    x_label: str = ""
    reverse_x: bool = False  # larger x on the left
    no_color: bool = False
    message: str = ""  # shown instead of the plot
    key: object = None


def _positive(values: list[np.ndarray]) -> np.ndarray:
    v = np.concatenate([np.asarray(a, np.float64).ravel() for a in values]) if values else np.empty(0)
    return v[np.isfinite(v) & (v > 0)]


def log_span(values: list[np.ndarray], pad: float = 0.06) -> tuple[float, float] | None:
    """``(log10 lo, log10 hi)`` over the positive finite ``values``, padded by ``pad`` of the span
    (at least a tenth of a decade each side)."""
    v = _positive(values)
    if not len(v):
        return None
    lo, hi = math.log10(float(v.min())), math.log10(float(v.max()))
    p = max(pad * (hi - lo), 0.1)
    return lo - p, hi + p


class LogLogChart(LinesWidget):
    """Title and legend row, the plot with a y tick gutter, the x axis row."""

    DEFAULT_CSS = """
    LogLogChart { height: 1fr; width: 1fr; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.spec: LogLogSpec | None = None

    def set_spec(self, spec: LogLogSpec) -> bool:
        self.spec = spec
        return self.update_frame()

    def frame_key(self) -> object:
        s = self.spec
        return None if s is None else (s.key, s.title, s.message, s.no_color, s.reverse_x)

    # --- drawing ------------------------------------------------------------------------------
    def _styles(self, s: LogLogSpec) -> list[Style]:
        if s.no_color:
            return [style(bold=True) for _ in s.curves]
        return [style(c.color, bold=True) for c in s.curves]

    def _title_rows(self, s: LogLogSpec, width: int, styles: list[Style]) -> list[list[Segment]]:
        """The title, then the legend: on the title's row if both fit, else on a row of its own."""
        label = style(LABEL_RGB)
        legend: list[Segment] = []
        used = 0
        for c, st in zip(s.curves, styles):
            if not c.label:
                continue
            glyph = c.marker or PATTERN_GLYPHS.get(c.pattern, "━━")
            text = f"{glyph} {printable(c.label)}"
            if used + len(text) + 2 > width:
                break
            legend += [Segment("  " if used else "", label), Segment(glyph, st), Segment(text[len(glyph):], label)]
            used += len(text) + (2 if used else 0)
        title = [Segment(printable(s.title)[:width], style(LABEL_RGB, bold=True))]
        if not legend:
            return [title]
        if len(s.title) + 2 + used <= width:
            return [title + [Segment("  ", label)] + legend]
        return [title, legend]

    def build(self, width: int, height: int) -> list[list[Segment]]:
        s = self.spec
        if s is None:
            return []
        styles = self._styles(s)
        axis = style(AXIS_RGB)
        rows: list[list[Segment]] = self._title_rows(s, width, styles)
        plot_h, plot_w = height - len(rows) - 1, width - GUTTER - 1
        if plot_h < 2 or plot_w < 8:
            return rows
        xr = log_span([c.x for c in s.curves] + [np.array([r.value]) for r in s.rules if r.axis == "x"])
        yr = log_span([c.y for c in s.curves] + [np.array([r.value]) for r in s.rules if r.axis == "y"])
        if s.message or xr is None or yr is None:
            text = s.message or "nothing to show yet"
            for y in range(plot_h):
                line = text.center(plot_w)[:plot_w] if y == plot_h // 2 else ""
                rows.append([Segment(" " * GUTTER + "│", axis), Segment(printable(line), style(LABEL_RGB, bold=True))])
            rows.append([Segment(" " * GUTTER + "└" + "─" * plot_w, axis)])
            return rows
        ux = (-xr[1], -xr[0]) if s.reverse_x else xr  # axis units: left to right

        def col_of(x: float) -> int:
            u = -math.log10(x) if s.reverse_x else math.log10(x)
            return min(plot_w - 1, max(0, int((u - ux[0]) / (ux[1] - ux[0]) * plot_w)))

        def row_of(y: float) -> int:
            return min(plot_h - 1, max(0, int((yr[1] - math.log10(y)) / (yr[1] - yr[0]) * plot_h)))

        cells: list[list[tuple[str, Style | None]]] = [[(" ", None)] * plot_w for _ in range(plot_h)]
        rule_style = style(dim=True) if s.no_color else style(RULE_RGB)
        labels: list[tuple[int, int, str]] = []  # drawn over the lines, under the points
        for k, r in enumerate(s.rules):  # under everything else
            if not (r.value > 0 and math.isfinite(r.value)):
                continue
            text = printable(r.label)[:plot_w]
            if r.axis == "x":  # the label near the top, right of the rule (left where no room)
                c = col_of(r.value)
                for y in range(plot_h):
                    cells[y][c] = ("┊", rule_style)
                start = c + 2 if c + 2 + len(text) <= plot_w else max(0, c - 1 - len(text))
                labels.append((min(k, plot_h - 1), start, text))
            else:  # the label at the left end, on the row above the rule (below it on the top row)
                y = row_of(r.value)
                cells[y] = [("┈", rule_style)] * plot_w
                labels.append((y - 1 if y > 0 else min(plot_h - 1, y + 1), 1, text[: plot_w - 1]))
        dots_shape = (plot_h * 4, plot_w * 2)
        for c, st in zip(s.curves, styles):
            x, y = np.asarray(c.x, np.float64), np.asarray(c.y, np.float64)
            ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
            x, y = x[ok], y[ok]
            if not len(x) or c.marker:
                continue
            u = -np.log10(x) if s.reverse_x else np.log10(x)
            order = np.argsort(u, kind="stable")  # the chart reads y as a function of x
            codes = B.dots_to_codes(B.line_dots(u[order], np.log10(y[order]), ux, yr, dots_shape, c.pattern))
            for yy, xx in zip(*np.nonzero(codes)):
                cells[yy][xx] = (B.BRAILLE_CHARS[codes[yy, xx]], st)
        for y, x0, text in labels:
            for k, ch in enumerate(text):
                cells[y][x0 + k] = (ch, rule_style)
        for c, st in zip(s.curves, styles):  # points in front
            if not c.marker:
                continue
            for xv, yv in zip(np.asarray(c.x, np.float64), np.asarray(c.y, np.float64)):
                if xv > 0 and yv > 0 and math.isfinite(xv) and math.isfinite(yv):
                    cells[row_of(yv)][col_of(xv)] = (c.marker, st)
        labels = self._y_labels(yr, plot_h)
        label_style = style(LABEL_RGB)
        for y in range(plot_h):
            lab = labels.get(y)
            gutter = (lab[:GUTTER].rjust(GUTTER) + "┤") if lab else (" " * GUTTER + "│")
            rows.append([Segment(gutter, label_style if lab else axis)] + merge_cells(cells[y]))
        rows.append([Segment(self._x_axis(plot_w, ux, s), axis)])
        return rows

    @staticmethod
    def _y_labels(yr: tuple[float, float], plot_h: int) -> dict[int, str]:
        labels: dict[int, str] = {}
        for t in B.decade_ticks(*yr):
            r = int((yr[1] - math.log10(t)) / (yr[1] - yr[0]) * plot_h)
            if 0 <= r < plot_h and r not in labels:
                labels[r] = B.format_tick(t)
        return labels

    @staticmethod
    def _x_axis(plot_w: int, ux: tuple[float, float], s: LogLogSpec) -> str:
        """``└``, decade tick labels, and the axis label at the right end (ticks stop before it)."""
        line = [" "] * (GUTTER + 1 + plot_w)
        line[GUTTER] = "└"
        label = s.x_label if len(s.x_label) + 4 <= plot_w else ""
        end = len(line) - (len(label) + 1 if label else 0)
        lo, hi = (-ux[1], -ux[0]) if s.reverse_x else ux
        ticks = B.decade_ticks(lo, hi)
        if s.reverse_x:
            ticks = ticks[::-1]
        taken = GUTTER + 1
        for t in ticks:
            u = -math.log10(t) if s.reverse_x else math.log10(t)
            col = GUTTER + 1 + int((u - ux[0]) / (ux[1] - ux[0]) * plot_w)
            text = B.format_tick(t)
            start = max(col - len(text) // 2, taken)
            if start + len(text) > end:
                continue
            line[start:start + len(text)] = list(text)
            taken = start + len(text) + 1
        if label:
            line[len(line) - len(label):] = list(label)
        return "".join(line)
