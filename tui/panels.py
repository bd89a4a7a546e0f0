"""The main screen's panels: a run column, the stats table, the status line.

Each panel is handed a view value (a frozen dataclass defined here, built by
:mod:`gdviz.tui.views`) and draws it; none of them knows the app. A click on a run column
posts :class:`RunColumn.RunSelected`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from gdviz.text import literal, printable
from gdviz.tui.chart import ChartSpec, LineChart
from gdviz.tui.colors import RunLook, rgb_hex
from gdviz.tui.surface_view import SurfaceFrame, SurfaceView


@dataclass(frozen=True)
class RunColumnView:
    """What one run column shows."""

    title: str  # the border title: marker, name, batch, optimizer, learning rate, fork point
    subtitle: str  # the border subtitle: method and updates per epoch, or where it diverged
    selected: bool
    surface: SurfaceFrame
    caption: str  # the plane's axes, under the surface
    curve: ChartSpec
    short_titles: tuple[str, ...] = ()  # shorter forms of the title, longest first, for narrow columns
    short_captions: tuple[str, ...] = ()  # shorter forms of the caption, longest first
    short_subtitles: tuple[str, ...] = ()  # shorter forms of the subtitle, longest first


def fit(text: str, shorter: tuple[str, ...], room: int) -> str:
    """``text`` if it fits in ``room`` cells, else the first of ``shorter`` that does (the last
    if none does): a label shortened by what it says, not cut mid-word by an ellipsis."""
    if room <= 0 or len(text) <= room:
        return text
    for s in shorter:
        if len(s) <= room:
            return s
    return shorter[-1] if shorter else text


class RunColumn(Vertical):
    """One run: its path over the loss surface, a caption, and its loss curve."""

    @dataclass
    class RunSelected(Message):
        """The user picked this run (a click on its column)."""

        index: int

    def __init__(self, index: int, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="run-column")
        self.index = index
        self.view: RunColumnView | None = None
        self._caption: str | None = None  # the caption as shown (fitted to the width)
        self._title: str | None = None  # the border title as shown
        self._subtitle: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="surface-box"):
            yield SurfaceView(classes="surface")
            yield Static("", classes="caption", markup=False)
        yield LineChart(classes="curve")

    @property
    def surface_view(self) -> SurfaceView:
        return self.query_one(SurfaceView)

    @property
    def curve(self) -> LineChart:
        return self.query_one(".curve", LineChart)

    @property
    def caption(self) -> Static:
        return self.query_one(".caption", Static)

    def show(self, view: RunColumnView) -> bool:
        """Draw ``view``; True if the surface or the curve changed on screen."""
        self.view = view
        width = self.size.width
        # Only on change: setting a border title repaints the whole column. As Content, not a
        # str: a run's name is shown literally, never read as markup ("x[/]" would raise).
        title = fit(view.title, view.short_titles, width - 4)  # width: inside the border
        if self._title != title:
            self._title = title
            self.border_title = Content(printable(title))
        subtitle = fit(view.subtitle, view.short_subtitles, width - 4)
        if self._subtitle != subtitle:
            self._subtitle = subtitle
            self.border_subtitle = Content(printable(subtitle))
        self.set_class(view.selected, "selected")
        caption = fit(view.caption, view.short_captions, width)
        if caption != self._caption:
            self._caption = caption
            self.caption.update(literal(caption), layout=False)
        changed = self.surface_view.show(view.surface)
        return self.curve.set_spec(view.curve) | changed

    def on_click(self) -> None:
        self.post_message(self.RunSelected(self.index))


#: The stats table's columns (the headless table's, named short enough for 120 columns).
STATS_COLUMNS = (
    ("run", "left"),
    ("method", "left"),
    ("B", "right"),
    ("upd/epoch", "right"),
    ("mem/step", "right"),
    ("epochs", "right"),
    ("time/ep", "right"),
    ("full loss", "right"),
    ("to target", "right"),
    ("grad noise", "right"),
    ("B_simple", "right"),
    ("diverged", "left"),
)


#: Columns left out, in this order, when the table is wider than the screen (a seed ensemble's
#: ``median [p10–p90]`` cells at 120 columns): the method is in the marker and colour of the
#: name, memory and time per epoch matter least for comparing the runs' paths, and the status
#: line shows the epochs.
STATS_DROP_ORDER = ("method", "mem/step", "time/ep", "upd/epoch", "grad noise", "epochs")
#: Columns whose cells may wrap (at a space) when even the kept columns do not fit.
STATS_WRAP = ("full loss", "to target")


@dataclass(frozen=True)
class StatsView:
    """The stats table's cells: one row per run, in :data:`STATS_COLUMNS` order."""

    rows: tuple[tuple[str, ...], ...]
    looks: tuple[RunLook, ...] = ()  # each row's run's look (colour and marker of its name)


class StatsTable(Static):
    """The measured figures, live; redrawn only when a cell changes."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.view: StatsView | None = None
        self._width = -1

    def show(self, view: StatsView) -> None:
        width = self.size.width
        if view == self.view and width == self._width:
            return
        layout = self.view is None or len(view.rows) != len(self.view.rows)
        self.view, self._width = view, width
        keep = shown_columns(view, width - 2)  # inside the padding
        table = Table(expand=True, box=None, padding=(0, 1, 0, 0), header_style="bold")
        for j in keep:
            name, justify = STATS_COLUMNS[j]
            table.add_column(name, justify=justify, no_wrap=name not in STATS_WRAP)  # type: ignore[arg-type]
        for i, row in enumerate(view.rows):
            look = view.looks[i] if i < len(view.looks) else None
            run = literal(f"{look.marker} {row[0]}" if look else row[0],
                          style=f"bold {rgb_hex(look.color)}" if look else "bold")
            div = Text(row[-1], style="bold red" if row[-1] != "no" else "")
            cells = [run, *(literal(cell) for cell in row[1:-1]), div]
            table.add_row(*(cells[j] for j in keep))
        self.update(table, layout=layout)


def shown_columns(view: StatsView, width: int) -> list[int]:
    """The indices of :data:`STATS_COLUMNS` that fit in ``width`` cells (every column, unless
    the widest cells do not fit: then columns go in :data:`STATS_DROP_ORDER`)."""
    names = [name for name, _ in STATS_COLUMNS]
    need = [max([len(name), *(len(row[j]) + 2 * (j == 0) for row in view.rows)]) + 1 for j, name in enumerate(names)]
    keep = list(range(len(names)))
    for name in STATS_DROP_ORDER:
        if width <= 0 or sum(need[j] for j in keep) <= width:
            break
        keep.remove(names.index(name))
    return keep


@dataclass(frozen=True)
class StatusView:
    """The status line: scenario, dataset, target, play state, clock, the fitted model."""

    text: str


class StatusLine(Static):
    """One line of :class:`StatusView`, redrawn only when it changes."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.view = StatusView("")

    def show(self, view: StatusView) -> None:
        if view != self.view:
            self.view = view
            self.update(literal(view.text), layout=False)
