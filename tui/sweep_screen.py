"""The sweep screen's layout and its help: what goes where at each terminal size.

Wide (at least 120×40): the heat map and the best-lr table on top, the S(B), E(B) chart and
the B_simple chart below, the selected cell's line under them. Narrow (80×24 and up): one
panel at a time, chosen with tab or 1–4, under a line that names them; the cell line stays.
Below 64×20 a message asks for a larger terminal, as the main app does.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from gdviz.text import printable
from gdviz.tui.sweep_chart import LogLogChart
from gdviz.tui.sweep_heat import MAX_CELL, HeatMap, needed_height
from gdviz.tui.views import MIN_SIZE, NARROW

#: The panels, in the order tab and the number keys reach them on a narrow terminal.
PANELS = (("heat", "heat map"), ("scaling", "S(B), E(B)"), ("noise", "B_simple"), ("table", "best lr"))

#: The heat map's box is at least this wide (its title and legend), room permitting.
HEAT_MIN_WIDTH = 76

KEYS = [
    ("← ↑ ↓ → / h j k l", "move the cursor: batch size (rows) and learning rate (columns)"),
    ("click", "select the cell clicked on the heat map"),
    ("b", "the best learning rate of the cursor's batch size"),
    ("enter", "open the cell's runs (every seed) in the main app; q there comes back here"),
    ("tab / 1 2 3 4", "narrow terminals: show the heat map, S(B) and E(B), B_simple, the best-lr table"),
    ("?", "this help"),
    ("q / ctrl+c", "quit (the figures are printed as you leave)"),
]

ABOUT = (
    "Every cell trains the scenario with one batch size B and learning rate, once per seed, until "
    "its full-dataset loss reaches the target. Heat map: the median steps to get there, brighter "
    "for fewer, * the best learning rate of each batch size (it grows with B up to a point), × "
    "diverged, · not reached. S(B), E(B): steps and examples (S·B) at each batch size's best lr, "
    "with McCandlish's fit S = S_min + E_min/B: below the critical batch size B_crit = E_min/S_min "
    "doubling B halves the steps at the same examples; above it the steps flatten at S_min and "
    "the examples grow. B_simple = tr(Σ)/|G|², the gradient noise scale, along the selected "
    "cell's training against its loss: it grows as the loss falls, and at the target it predicts "
    "B_crit."
)


@dataclass(frozen=True)
class SweepLayout:
    """How the sweep screen is laid out at its size."""

    too_small: bool
    narrow: bool
    heat_width: int  # columns of the heat map's box (wide layout)
    top_height: int  # rows of the top row (wide layout)
    message: str = ""


def sweep_layout(width: int, height: int, n_batches: int, n_lrs: int, gutter: int) -> SweepLayout:
    """The layout at ``width × height`` for a grid of ``n_batches × n_lrs`` cells."""
    small = width < MIN_SIZE[0] or height < MIN_SIZE[1]
    narrow = width < NARROW[0] or height < NARROW[1]
    message = ""
    if small:
        message = (f"The terminal is {width}×{height}; gdviz needs at least {MIN_SIZE[0]}×{MIN_SIZE[1]}.\n"
                   "Enlarge the window (or reduce the font size). q quits.")
    room = int(width * 0.68)
    cell = max(2, min(MAX_CELL, (room - gutter - 2) // max(1, n_lrs)))
    rows = 2 if height - 4 - (needed_height(n_batches, 2) + 2) >= 28 else 1
    top = min(needed_height(n_batches, rows) + 2, max(8, height // 2))
    # At least as wide as its title and legend read whole, when there is room.
    heat = max(gutter + n_lrs * cell + 2, min(HEAT_MIN_WIDTH, room))
    return SweepLayout(small, narrow, heat, top, message)


class SweepScreen(Screen[None]):
    """The status line, the four panels, the selected cell's line, the footer."""

    BINDINGS = [
        Binding("question_mark", "app.help", "help"),
        Binding("q", "app.quit", "quit"),
        Binding("enter", "app.open_cell", "open cell"),
        Binding("b", "app.best", "best lr"),
        Binding("tab", "next_panel", "next panel"),
        Binding("shift+tab", "prev_panel", "previous panel", show=False),
        Binding("up,k", "app.move(-1, 0)", "up", show=False),
        Binding("down,j", "app.move(1, 0)", "down", show=False),
        Binding("left,h", "app.move(0, -1)", "left", show=False),
        Binding("right,l", "app.move(0, 1)", "right", show=False),
        *[Binding(str(k + 1), f"app.panel('{name}')", label, show=False) for k, (name, label) in enumerate(PANELS)],
    ]

    @dataclass
    class Resized(Message):
        """The screen changed size: its layout is due again."""

    def compose(self) -> ComposeResult:
        yield Static("", id="status", markup=False)
        yield Static("", id="tabs")
        with Vertical(id="panels"):
            with Horizontal(id="top"):
                with Vertical(id="heat-box", classes="panel"):
                    yield HeatMap(id="heat")
                with Vertical(id="table-box", classes="panel"):  # not focusable: arrows stay the cursor's
                    yield Static("", id="best-table")
                    yield Static("", id="story", classes="help-about")
            with Horizontal(id="bottom"):
                with Vertical(id="scaling-box", classes="panel"):
                    yield LogLogChart(id="scaling")
                    yield Static("", id="fit-text", markup=False)
                with Vertical(id="noise-box", classes="panel"):
                    yield LogLogChart(id="noise")
                    yield Static("", id="noise-text", markup=False)
        yield Static("", id="cell", markup=False)
        yield Static("", id="too-small")
        yield Footer()

    @property
    def heat(self) -> HeatMap:
        return self.query_one("#heat", HeatMap)

    @property
    def scaling(self) -> LogLogChart:
        return self.query_one("#scaling", LogLogChart)

    @property
    def noise(self) -> LogLogChart:
        return self.query_one("#noise", LogLogChart)

    def text(self, name: str) -> Static:
        return self.query_one(f"#{name}", Static)

    def show_layout(self, layout: SweepLayout, panel: str) -> None:
        self.set_class(layout.too_small, "-too-small")
        if layout.narrow != self.narrow:
            self.set_class(layout.narrow, "-narrow")
            self.refresh_bindings()
        for name, _ in PANELS:
            self.query_one(f"#{name}-box").set_class(name == panel, "-active")
        self.query_one("#top").set_class(panel in ("heat", "table"), "-active")
        self.query_one("#bottom").set_class(panel in ("scaling", "noise"), "-active")
        if not layout.narrow:
            self.query_one("#heat-box").styles.width = layout.heat_width
            self.query_one("#top").styles.height = layout.top_height
        else:
            self.query_one("#heat-box").styles.width = "1fr"
            self.query_one("#top").styles.height = "1fr"
        tabs = Text()
        for k, (name, label) in enumerate(PANELS):
            tabs.append(f" {k + 1} {label} ", style="reverse bold" if name == panel else "")
            tabs.append(" ")
        tabs.append("(tab: next panel)", style="dim")
        self.text("tabs").update(tabs)
        if layout.too_small:
            self.text("too-small").update(layout.message)

    def on_resize(self) -> None:
        self.post_message(self.Resized())

    @property
    def narrow(self) -> bool:
        return self.has_class("-narrow")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("next_panel", "prev_panel"):
            return self.narrow  # every panel is on the screen when it is wide: no key shown
        return True

    def action_next_panel(self) -> None:
        self.app.action_next_panel()  # type: ignore[attr-defined]

    def action_prev_panel(self) -> None:
        self.app.action_prev_panel()  # type: ignore[attr-defined]


def best_table(rows: list[tuple[str, ...]], title: str) -> Table:
    """The best learning rate of each batch size: lr, steps, examples, B_simple at the target."""
    table = Table(box=None, padding=(0, 1, 0, 0), header_style="bold", title=title, title_justify="left",
                  title_style="bold")  # fmt: skip
    for name in ("B", "best lr", "steps S", "E = S·B", "B_simple"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*(printable(c) for c in row))
    return table


class SweepHelpScreen(ModalScreen[None]):
    """The keys, and how to read the sweep screen."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def __init__(self, story: str = "") -> None:
        super().__init__()
        self.story = story

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, what in KEYS:
            table.add_row(key, what)
        with VerticalScroll(id="help"):
            yield Static("[b]gdviz sweep — keys[/b]")
            yield Static(table)
            yield Static(ABOUT, classes="help-about")
            if self.story:
                yield Static(Text.assemble(("This scenario: ", "bold"), printable(self.story)), classes="help-about")
            yield Static("[dim]escape, q or ? closes this help[/dim]")
