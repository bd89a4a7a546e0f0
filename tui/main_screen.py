"""The main screen: the status line, a column per run, the comparison chart, the stats table.

The screen lays itself out from a :class:`ScreenLayout` (built by
:func:`gdviz.tui.views.screen_layout`) and tells the app when its size changed with
:class:`MainScreen.Resized`; its keys are the app's actions.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from gdviz.tui.chart import LineChart
from gdviz.tui.keybar import KeyBar
from gdviz.tui.panels import RunColumn, StatsTable, StatusLine


@dataclass(frozen=True)
class ScreenLayout:
    """How the main screen is laid out at its size."""

    too_small: bool  # a message instead of a squeezed drawing
    narrow: bool  # one run column at a time (tab switches)
    table: bool  # the stats table is shown
    message: str = ""  # what a too-small screen says


class MainScreen(Screen[None]):
    """The run columns, the comparison chart, the stats table, the status line, the key bar."""

    # The key bar (gdviz.tui.keybar) shows every one of these, at any width.
    BINDINGS = [
        Binding("question_mark", "app.help", "help"),
        Binding("q", "app.quit", "quit"),
        Binding("space", "app.toggle_play", "play/pause"),
        Binding("full_stop", "app.step", "step"),
        Binding("plus,equals_sign", "app.faster", "faster"),
        Binding("minus", "app.slower", "slower"),
        Binding("r", "app.restart", "restart"),
        Binding("x", "app.cycle_x", "x axis"),
        Binding("l", "app.toggle_log", "log"),
        Binding("v", "app.toggle_validation", "validation"),
        Binding("b", "app.toggle_b_simple", "B_simple"),
        Binding("t", "app.toggle_table", "table"),
        Binding("e", "app.export", "export"),
        Binding("s", "app.screenshot", "svg"),
        Binding("enter", "app.fork", "fork"),
        Binding("i", "app.inspect", "inspect"),
        Binding("tab,right", "app.next_run", "next run", show=False),
        Binding("shift+tab,left", "app.prev_run", "previous run", show=False),
    ]

    @dataclass
    class Resized(Message):
        """The screen changed size: its layout is due again."""

    def __init__(self, runs: int) -> None:
        super().__init__()
        self.runs = runs

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with Vertical(id="main"):
            with Horizontal(id="columns"):
                for i in range(self.runs):
                    yield RunColumn(i, id=f"run-{i}")
            yield LineChart(id="comparison")
            yield StatsTable(id="stats")
        yield Static("", id="too-small")
        yield KeyBar(id="keys")

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    @property
    def columns(self) -> list[RunColumn]:
        return list(self.query(RunColumn))

    @property
    def comparison(self) -> LineChart:
        return self.query_one("#comparison", LineChart)

    @property
    def stats(self) -> StatsTable:
        return self.query_one(StatsTable)

    @property
    def narrow(self) -> bool:
        return self.has_class("-narrow")

    def set_runs(self, runs: int) -> None:
        """A column per run: columns for new runs (forks) are added, those of dropped ones removed."""
        have = self.columns
        if len(have) == runs:
            return
        for col in have[runs:]:
            col.remove()
        box = self.query_one("#columns", Horizontal)
        new = [RunColumn(i, id=f"run-{i}") for i in range(len(have), runs)]
        if new:
            box.mount(*new)
        self.runs = runs

    def show_layout(self, layout: ScreenLayout) -> None:
        self.set_class(layout.too_small, "-too-small")
        self.set_class(layout.narrow, "-narrow")
        self.set_class(not layout.table, "-no-table")
        if layout.too_small:
            self.query_one("#too-small", Static).update(layout.message)

    def on_resize(self) -> None:
        self.post_message(self.Resized())
