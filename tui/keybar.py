"""The key bar at the bottom of the main screen: every key, at any width from 64 columns.

Textual's footer drops the bindings that do not fit (at 80 columns it dropped ``t``, ``l``,
``e``, ``s`` and the fork key). This bar says every key in the richest form that fits: each
key with its description on one line; else each key with a one-word label; else the same
labels over two lines. Keys are bold and accented (reverse video without colour).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

#: (key as shown, description, one-word label), in the order the bar shows them: help and
#: quit first. The main screen's bindings (:class:`gdviz.tui.main_screen.MainScreen`).
BAR_KEYS: tuple[tuple[str, str, str], ...] = (
    ("?", "help", "help"),
    ("q", "quit", "quit"),
    ("space", "play/pause", "play"),
    (".", "step", "step"),
    ("+/-", "speed", "speed"),
    ("r", "restart", "reset"),
    ("x", "x axis", "axis"),
    ("l", "log/linear", "log"),
    ("v", "validation", "val"),
    ("b", "B_simple", "Bs"),
    ("t", "table", "table"),
    ("e", "export", "csv"),
    ("s", "svg", "svg"),
    ("enter", "fork", "fork"),
    ("i", "inspect", "insp"),
    ("tab", "next run", "run"),
    ("^p", "palette", "menu"),
)
SHORT_KEYS = {"space": "␣", "enter": "⏎"}


def _items(level: int) -> list[tuple[str, str]]:
    if level == 0:
        return [(k, d) for k, d, _ in BAR_KEYS]
    return [(SHORT_KEYS.get(k, k), s) for k, _, s in BAR_KEYS]


def _width(items: list[tuple[str, str]], sep: int) -> int:
    return sum(len(k) + 1 + len(d) for k, d in items) + sep * (len(items) - 1) + 1


def bar_lines(width: int) -> list[list[tuple[str, str]]]:
    """The bar's lines at ``width`` columns: one line when a form fits, else two."""
    for level, sep in ((0, 2), (1, 2), (1, 1)):
        items = _items(level)
        if _width(items, sep) <= width:
            return [items]
    items = _items(1)
    lines: list[list[tuple[str, str]]] = [[]]
    for item in items:
        if lines[-1] and _width([*lines[-1], item], 1) > width:
            lines.append([])
        lines[-1].append(item)
    return lines


def bar_text(width: int, *, plain: bool = False) -> Text:
    """The bar as Rich text (``plain``: no colour, keys in reverse video)."""
    lines = bar_lines(width)
    sep = 2 if len(lines) == 1 and _width(lines[0], 2) <= width else 1
    key_style = "reverse bold" if plain else "bold #ffa62b"
    text = Text(" ", no_wrap=True)
    for n, line in enumerate(lines):
        if n:
            text.append("\n ")
        for j, (key, desc) in enumerate(line):
            if j:
                text.append(" " * sep)
            text.append(key, style=key_style)
            text.append(f" {desc}")
    return text


class KeyBar(Static):
    """The key bar (see :mod:`gdviz.tui.keybar`); one or two lines, as its width asks."""

    DEFAULT_CSS = """
    KeyBar { height: 1; background: $panel; color: $text; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self._shown: tuple[int, bool] | None = None

    def on_resize(self) -> None:
        self.refresh_bar()

    def on_mount(self) -> None:
        self.refresh_bar()

    def refresh_bar(self) -> None:
        width = self.size.width or self.app.size.width
        plain = bool(getattr(self.app, "plain", False))
        if self._shown == (width, plain):
            return
        self._shown = (width, plain)
        self.styles.height = len(bar_lines(width))
        self.update(bar_text(width, plain=plain))
