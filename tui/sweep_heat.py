"""The sweep's heat map: batch size (rows) x learning rate (columns), one block per cell.

A cell's colour is its steps to the target (median over seeds) on a log scale, brightest for
the fewest steps, from a ramp whose lightness grows monotonically also once a 256-colour
terminal has reduced it (:data:`SWEEP_STOPS`, checked by ``tests/test_sweep_screen.py``). The
number is printed in the cell when it fits; ``*`` marks the best learning rate of each batch
size, ``×`` a diverged cell, ``·`` one that did not reach the target; the cursor is shown
reversed. Without colour the numbers stay (or, in cells too narrow for them, shade glyphs
from ``░`` for the most steps to ``█`` for the fewest), so the map reads the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.message import Message

from gdviz.text import printable
from gdviz.tui.canvas import LinesWidget, merge_cells
from gdviz.tui.chart import LABEL_RGB
from gdviz.tui.colors import RGB, mix, style

#: The ramp from the most steps (dark) to the fewest (light): Matplotlib's *magma* anchors.
#: In L* (CIE lightness) it rises at every one of its :data:`LEVELS` levels, in truecolor and
#: once reduced to the 256-colour palette (12 distinct colours there too).
SWEEP_STOPS: list[RGB] = [(28, 16, 68), (79, 18, 123), (129, 37, 129), (181, 54, 122), (229, 80, 100),
                          (251, 135, 97), (254, 194, 135), (252, 253, 191)]
LEVELS = 12
#: Without colour: shade glyphs, most steps first.
SHADES = "░▒▓█"
#: Widest cell drawn (columns): numbers of up to 4 characters, the best mark, a space.
MAX_CELL = 7
DIVERGED_RGB: RGB = (255, 110, 110)
NOT_REACHED_RGB: RGB = (150, 150, 160)
#: Cell kinds (a :class:`HeatView` holds one per cell).
PENDING, OK, DIVERGED, NOT_REACHED = "", "ok", "diverged", "not reached"


def _lin(c: int) -> float:
    v = c / 255
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def lightness(rgb: RGB) -> float:
    """CIE L* (0 black … 100 white) of an sRGB colour."""
    Y = 0.2126 * _lin(rgb[0]) + 0.7152 * _lin(rgb[1]) + 0.0722 * _lin(rgb[2])
    return 116 * Y ** (1 / 3) - 16 if Y > 0.008856 else 903.3 * Y


def sweep_palette(levels: int = LEVELS) -> list[RGB]:
    """``levels`` colours along :data:`SWEEP_STOPS`, darkest first."""
    out = []
    for k in range(levels):
        pos = k / max(1, levels - 1) * (len(SWEEP_STOPS) - 1)
        i = min(int(pos), len(SWEEP_STOPS) - 2)
        out.append(mix(SWEEP_STOPS[i], SWEEP_STOPS[i + 1], pos - i))
    return out


PALETTE = sweep_palette()


@dataclass(frozen=True)
class HeatView:
    """What the heat map shows (hashable: it is the widget's redraw key).

    ``values[i][j]`` is what cell (batch size ``i``, learning rate ``j``) is coloured by (> 0,
    fewer is better), None where it has no value; ``texts`` what is printed in it.
    """

    rows: tuple[str, ...]  # batch-size labels
    cols: tuple[tuple[str, ...], ...]  # per learning rate, its labels, longest first
    values: tuple[tuple[float | None, ...], ...]
    texts: tuple[tuple[str, ...], ...]
    kinds: tuple[tuple[str, ...], ...]
    best: frozenset[tuple[int, int]]
    cursor: tuple[int, int]
    title: str
    legend: tuple[str, str]  # what the brightest and the darkest colour mean ("3 steps", "55k")
    plain: bool = False


def needed_height(n_rows: int, cell_rows: int = 1) -> int:
    """Rows the heat map needs: title, column labels, ``n_rows`` of cells, the legend."""
    return 3 + n_rows * cell_rows


def cell_width(width: int, view: HeatView) -> int:
    return min(MAX_CELL, (width - _gutter(view)) // max(1, len(view.cols)))


def _gutter(view: HeatView) -> int:
    return max(len(r) for r in view.rows) + 1 if view.rows else 1


def levels(view: HeatView) -> dict[tuple[int, int], int]:
    """Each valued cell's colour level, 0 (most) to ``LEVELS - 1`` (fewest), on a log scale."""
    vals = {(i, j): math.log10(v) for i, row in enumerate(view.values) for j, v in enumerate(row)
            if v is not None and v > 0 and math.isfinite(v)}  # fmt: skip
    if not vals:
        return {}
    lo, hi = min(vals.values()), max(vals.values())
    span = hi - lo
    return {k: LEVELS - 1 if span == 0 else int(round((hi - v) / span * (LEVELS - 1))) for k, v in vals.items()}


class HeatMap(LinesWidget):
    """Draws a :class:`HeatView` (see :mod:`gdviz.tui.sweep_heat`)."""

    DEFAULT_CSS = """
    HeatMap { height: 1fr; width: 1fr; }
    """

    @dataclass
    class CellClicked(Message):
        """The user clicked cell (``row``, ``col``)."""

        row: int
        col: int

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.view: HeatView | None = None
        #: Where the cells were drawn: gutter width, cell width, rows per cell (for clicks).
        self._geometry = (0, 0, 1)

    def show(self, view: HeatView) -> bool:
        self.view = view
        return self.update_frame()

    def frame_key(self) -> object:
        return self.view

    def build(self, width: int, height: int) -> list[list[Segment]]:
        v = self.view
        if v is None or not v.rows or not v.cols:
            return []
        label = style(LABEL_RGB)
        rows: list[list[Segment]] = [[Segment(printable(v.title)[:width], style(LABEL_RGB, bold=True))]]
        g = _gutter(v)
        w = cell_width(width, v)
        if w < 1:
            return rows + [[Segment("(too narrow for the map)", label)]]
        cell_rows = max(1, min(2, (height - 3) // len(v.rows)))
        self._geometry = (g, w, cell_rows)
        header = ("B\\lr" if g > 4 else "").rjust(g - 1) + " "
        for j, labels in enumerate(v.cols):
            text = next((t for t in labels if len(t) <= w - 1), "")
            header += text.rjust(w - 1) + " " if w > 1 else ""
        rows.append([Segment(header[:width], label)])
        lv = levels(v)
        numbers = w >= 5
        for i, name in enumerate(v.rows):
            for sub in range(cell_rows):
                text = name.rjust(g - 1) + " " if sub == 0 else " " * g
                line: list[tuple[str, Style | None]] = [(ch, label) for ch in text]
                for j in range(len(v.cols)):
                    line += self._cell(v, i, j, w, lv.get((i, j)), sub == 0, numbers)
                rows.append(merge_cells(line))
        rows.append(self._legend(v, width))
        return rows

    def on_click(self, event: events.Click) -> None:
        v = self.view
        g, w, cell_rows = self._geometry
        if v is None or w < 1:
            return
        i, j = (event.y - 2) // cell_rows, (event.x - g) // w
        if event.y >= 2 and event.x >= g and 0 <= i < len(v.rows) and 0 <= j < len(v.cols):
            self.post_message(self.CellClicked(i, j))

    @staticmethod
    def _cell(v: HeatView, i: int, j: int, w: int, level: int | None, first: bool,
              numbers: bool) -> list[tuple[str, Style | None]]:
        """Cell (i, j) on one of its rows (``first``: the row with the text), ``w`` wide."""
        kind = v.kinds[i][j]
        best = (i, j) in v.best
        if kind in (DIVERGED, NOT_REACHED) or level is None:
            glyph = {DIVERGED: "×", NOT_REACHED: "·"}.get(kind, " ") if first else " "  # pending: blank
            text = glyph.rjust(w - 1) + " " if w > 1 else glyph  # in line with the numbers' last digit
            if v.plain:
                st = style(bold=kind == DIVERGED, dim=kind == NOT_REACHED)
            else:
                st = style(DIVERGED_RGB if kind == DIVERGED else NOT_REACHED_RGB, bold=kind == DIVERGED)
        else:
            mark = "*" if best and first else " "
            if numbers and first:
                body = v.texts[i][j][: w - 1].rjust(w - 1)
            elif v.plain:  # no colour, no room for numbers: the level as a shade glyph
                body = SHADES[min(len(SHADES) - 1, level * len(SHADES) // LEVELS)] * (w - 1)
            else:
                body = " " * (w - 1)
            text = body + mark if w > 1 else mark
            if v.plain:
                st = style(bold=best)
            else:
                bg = PALETTE[level]
                st = style((0, 0, 0) if lightness(bg) > 55 else (240, 240, 240), bg, bold=best)
        if (i, j) == v.cursor:
            st = st + Style(reverse=True, bold=True)
        return [(ch, st) for ch in text[:w].ljust(w)]

    @staticmethod
    def _legend(v: HeatView, width: int) -> list[Segment]:
        label = style(LABEL_RGB)
        keys = "   * best lr   × diverged   · not reached"
        if v.plain:
            text = f"numbers: {v.legend[0]} (fewest) … {v.legend[1]} (most){keys}"
            return [Segment(text[:width], label)]
        out = [Segment(f"{v.legend[0]} ", label)]
        for rgb in reversed(PALETTE):
            out.append(Segment(" ", style(bg=rgb)))
        out.append(Segment(f" {v.legend[1]}{keys}"[: max(0, width - len(v.legend[0]) - 1 - len(PALETTE))], label))
        return out
