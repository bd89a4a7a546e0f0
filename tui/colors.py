"""Colours and glyphs: each run's look (colour, marker, line style) from its method; the heat-map ramp.

A run's look follows its method, the same in every scenario: full-batch runs are blue ● with
solid lines, stochastic runs amber ◆ with dotted lines, mini-batch runs violet ■ with dashed
lines. Several runs of one method are told apart by shade and marker (the second full-batch run
is a lighter blue ○, ...). Colours are given in truecolor; Textual reduces them for 256-colour
terminals. Without colour (``NO_COLOR``, or a 16-colour terminal) the runs are told apart by
marker and line style, and the heat map becomes contour lines (see :mod:`gdviz.tui.surface_view`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rich.color import Color
from rich.style import Style

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class RunLook:
    """How one run is drawn everywhere: path, curves, legend, column title, table row."""

    color: RGB
    marker: str
    pattern: str  # "solid" | "dashed" | "dotted": the comparison chart's line style without colour


#: Per method: shades (the first is the method's colour), markers, and the line style.
METHOD_LOOKS: dict[str, tuple[list[RGB], list[str], str]] = {
    "full-batch": ([(80, 170, 255), (150, 215, 255), (40, 110, 230), (120, 240, 255)], ["●", "○", "◉", "◎"], "solid"),
    "stochastic": ([(255, 190, 40), (255, 235, 140), (255, 130, 30), (230, 160, 90)], ["◆", "◇", "❖", "◈"], "dotted"),
    "mini-batch": ([(220, 110, 255), (255, 140, 200), (170, 140, 255), (255, 95, 130)], ["■", "□", "▲", "△", "▼", "▽"], "dashed"),
}
#: Runs whose method is none of the above (there are none today) look like this family.
OTHER_LOOK: tuple[list[RGB], list[str], str] = ([(90, 230, 120), (170, 250, 180)], ["★", "☆"], "solid")
#: A fork keeps its parent's colour family: the parent's colour moved this far towards white
#: (the parent's next fork the next tint), a marker of its own and a dash-dot line.
FORK_TINTS = (0.45, 0.7, 0.25)
FORK_MARKERS = ("◐", "◑", "◒", "◓")
FORK_PATTERN = "dashdot"
#: Where a fork leaves its parent, on the charts.
FORK_MARK = "⑂"
#: Legend glyphs matching the patterns.
PATTERN_GLYPHS = {"solid": "━━", "dashed": "╍╍", "dotted": "┅┅", "dashdot": "━·"}
WHITE: RGB = (255, 255, 255)


@lru_cache(maxsize=64)
def _looks(methods: tuple[str, ...], parents: tuple[int | None, ...]) -> tuple[RunLook, ...]:
    seen: dict[str, int] = {}
    forks_of: dict[int, int] = {}
    out: list[RunLook] = []
    for m, parent in zip(methods, parents):
        if parent is not None and 0 <= parent < len(out):
            j = forks_of.get(parent, 0)
            forks_of[parent] = j + 1
            base = out[parent]
            marker = FORK_MARKERS[(j + (parent % len(FORK_MARKERS))) % len(FORK_MARKERS)]
            out.append(RunLook(mix(base.color, WHITE, FORK_TINTS[j % len(FORK_TINTS)]), marker, FORK_PATTERN))
            continue
        k = seen.get(m, 0)
        seen[m] = k + 1
        shades, markers, pattern = METHOD_LOOKS.get(m, OTHER_LOOK)
        out.append(RunLook(shades[k % len(shades)], markers[k % len(markers)], pattern))
    return tuple(out)


def run_looks(methods: Sequence[str], parents: Sequence[int | None] | None = None) -> tuple[RunLook, ...]:
    """The look of each run, given every run's method in column order: the ``k``-th run of a
    method gets that method's ``k``-th shade and marker, whatever the other runs are. A fork
    (``parents[i]``: its parent's index, None for a run of the scenario) takes its parent's
    colour, lighter, with a marker of its own (:data:`FORK_MARKERS`) and a dash-dot line."""
    ps = tuple(parents) if parents is not None else (None,) * len(methods)
    return _looks(tuple(methods), ps)


#: The heat-map ramp from the minimum (dark) to high loss (muted light), dim enough for the
#: paths to stay the brightest thing on the panel. A cool grey: saturation under 15% all along,
#: so a 256-colour terminal (tmux's default) shows it on its grey ramp, darkest to lightest in
#: the same order, instead of the nearest cube colours (greys, then green, then blue).
HEAT_STOPS: list[RGB] = [
    (15, 16, 18),
    (104, 116, 130),
]
HEAT_LEVELS = 14

OPTIMUM_GLYPH = "✕"
FG_TEXT: RGB = (230, 230, 230)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    """``a`` moved a fraction ``t`` towards ``b``."""
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def heat_palette(levels: int = HEAT_LEVELS) -> list[RGB]:
    """``levels`` colours along :data:`HEAT_STOPS`."""
    out = []
    for k in range(levels):
        pos = k / max(1, levels - 1) * (len(HEAT_STOPS) - 1)
        i = min(int(pos), len(HEAT_STOPS) - 2)
        out.append(mix(HEAT_STOPS[i], HEAT_STOPS[i + 1], pos - i))
    return out


def rgb_hex(c: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*c)


@lru_cache(maxsize=4096)
def style(fg: RGB | None = None, bg: RGB | None = None, bold: bool = False, dim: bool = False) -> Style:
    """A cached Rich style (building styles is the slow part of drawing a cell)."""
    return Style(
        color=Color.from_rgb(*fg) if fg is not None else None,
        bgcolor=Color.from_rgb(*bg) if bg is not None else None,
        bold=bold or None,
        dim=dim or None,
    )
