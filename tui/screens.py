"""Screens over the main one: help, the fork form, and the error screen."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, Select, Static

from gdviz.target import is_fallback
from gdviz.text import printable
from gdviz.tui.fork import OPTIMIZER_CHOICES, ForkSettings
from gdviz.tui.runinfo import RunInfo

KEYS = [
    ("space", "pause / resume"),
    (".", "one step: the selected run's next recorded point (pauses)"),
    ("+ / -", "faster / slower (0.1× … 100×)"),
    ("r", "restart every run from epoch 0; forks are dropped (a note names them)"),
    ("x", "comparison x axis: epochs → updates → seconds"),
    ("l", "log / linear loss axis"),
    ("v", "comparison: training ↔ validation loss (with data.validation)"),
    ("b", "comparison: B_simple = tr(Σ)/|G|², the gradient noise scale (log), ↔ the loss"),
    ("t", "show / hide the stats table"),
    ("e", "export the history (CSV and JSON, named after the scenario)"),
    ("s", "save an SVG screenshot"),
    ("tab / ← →", "select a run column (or click it); a seed ensemble is one column"),
    ("enter", "fork the selected run at the clock: a new run beside it (⑂) with a new learning rate, "
              "batch size, optimizer or epochs; a finished run too; an ensemble forks its median seed"),
    ("i", "inspector: the selected run's last update explained (rows, gradients, optimizer step; an "
          "ensemble's median seed); there . makes exactly one more update"),
    ("ctrl+p", "command palette: open another bundled scenario"),
    ("?", "this help"),
    ("q / ctrl+c", "quit"),
]

ABOUT = (
    "Each column trains the same model with a different batch size. Top: the loss surface "
    "(dark is low, ✕ the optimum) and the run's path, brightest where it is now. Below: its "
    "loss, minibatch loss faint and full-dataset loss bold. The comparison chart puts every "
    "run's full-dataset loss on one axis, per epoch, per update or per second: which run gets "
    "to the target first depends on the axis and the scenario. The table: B the batch size, "
    "upd/epoch updates per epoch, to target the epochs to reach the target loss, grad noise "
    "the mean squared distance of a minibatch gradient from the full one. With held-out rows "
    "(data.validation) each loss panel adds the validation loss, dashed, and v puts it on the "
    "comparison chart. B_simple is the gradient noise scale tr(Σ)/|G|² (Σ the per-example "
    "gradient covariance, G the full gradient) at the clock: the batch size at which a batch "
    "gradient's noise is as large as the gradient itself (bigger batches buy little more); it "
    "grows as the loss falls, and b charts it."
)

ENSEMBLES = (
    "Seed ensembles (seeds = k): one column for the k runs. The surface shades each spot by the "
    "share of the seeds whose path crossed it (brightest: nearly all) and marks the median seed "
    "(the one whose full loss at the clock is the median); the loss panel and the comparison "
    "chart draw the median over the seeds with a stippled 10–90% band; the table gives each "
    "figure as median [10th–90th percentile], a target some seeds have not reached as >epochs "
    "with how many have (6/8), diverged seeds as ✖. Selecting an ensemble selects its median "
    "seed for the status line's model, for . (step) and for i (the inspector); enter forks the "
    "median seed, from its point at the clock, into a new column of its own (one run, ⑂); e "
    "exports every seed as its own run."
)


class HelpScreen(ModalScreen[None]):
    """The key bindings and how to read the screen."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def __init__(self, target_note: str = "", story: str = "", ensembles: tuple[str, ...] | None = None) -> None:
        super().__init__()
        #: With seed ensembles: what their columns show, then why some seeds are one run (notes).
        self.ensembles = ensembles
        self.target_note = target_note  # the engine's note on its target (a CPU fallback), if any
        self.story = story  # the scenario's description: what its runs measurably show

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        for key, what in KEYS:
            table.add_row(key, what)
        with VerticalScroll(id="help"):
            yield Static("[b]gdviz — keys[/b]", classes="help-title")
            yield Static(table)
            yield Static(ABOUT, classes="help-about")
            if self.ensembles:
                yield Static(ENSEMBLES, classes="help-about")
                for note in self.ensembles:
                    yield Static(note, classes="help-about", markup=False)
            if self.story:
                yield Static(Text.assemble(("This scenario: ", "bold"), printable(self.story)), classes="help-about")
            if self.target_note:  # ⚠ only for a GPU that could not be used; no GPU at all is just said
                mark = "⚠ " if is_fallback(self.target_note) else ""
                yield Static(f"{mark}{self.target_note}", classes="help-about", markup=False)
            yield Static("[dim]escape, q or ? closes this help[/dim]")


class ErrorScreen(Screen[bool]):
    """An exception in the engine worker: shown, not crashed on; q quits, r restarts (the
    screen is dismissed with True: the app restarts the runs)."""

    BINDINGS = [Binding("q", "app.quit", "quit"), Binding("r", "restart", "restart")]

    def __init__(self, title: str, details: str) -> None:
        super().__init__()
        self.error_title = title
        self.details = details

    def compose(self) -> ComposeResult:
        with Vertical(id="error"):
            yield Static(Text(f"The engine stopped: {printable(self.error_title)}", style="bold red"))
            yield Static("q quits, r restarts the runs.", classes="error-hint")
            with VerticalScroll():
                yield Static(Text(printable(self.details, allow="\n\t")), classes="error-details")

    def action_restart(self) -> None:
        self.dismiss(True)


class ForkScreen(ModalScreen[ForkSettings | None]):
    """A new run from where a run is, beside it: learning rate, batch size, optimizer, epochs."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, info: RunInfo, n: int, epoch: float, epochs: float = 1.0, of: str = "") -> None:
        super().__init__()
        self.info = info
        self.of = of  # an ensemble's label when ``info`` is its median seed
        self.n = n
        self.epoch = epoch
        self.epochs = epochs  # the epochs field's default

    def compose(self) -> ComposeResult:
        info = self.info
        with Vertical(id="fork"):
            of = f", the median seed of {printable(self.of)}," if self.of else ""
            yield Static(Text.assemble(("Fork ", "bold"), (printable(info.name), "bold"), of,
                                       f" at epoch {self.epoch:.3g}: a new run starts from its point there, "
                                       "beside it (the run itself goes on)."))
            yield Label("learning rate")
            yield Input(f"{info.learning_rate:g}", id="lr")
            yield Label(f"batch size (1 … {self.n}; {self.n} is the full batch)")
            yield Input(str(info.batch), id="batch", type="integer")
            yield Label("optimizer")
            yield Select([(o, o) for o in OPTIMIZER_CHOICES], value=info.optimizer, allow_blank=False, id="optimizer")
            yield Label("epochs to train (from the fork point)")
            yield Input(f"{self.epochs:.4g}", id="epochs")
            yield Static("", id="fork-error")
            with Horizontal(id="fork-buttons"):
                yield Button("Fork", variant="primary", id="fork-ok")
                yield Button("Cancel", id="fork-cancel")

    def on_mount(self) -> None:
        self.query_one("#lr", Input).focus()

    def _settings(self) -> ForkSettings | str:
        try:
            lr = float(self.query_one("#lr", Input).value)
        except ValueError:
            return "learning rate: expected a number, e.g. 0.05"
        if not lr > 0 or lr != lr or lr == float("inf"):
            return "learning rate: expected a positive number"
        try:
            batch = int(self.query_one("#batch", Input).value)
        except ValueError:
            return f"batch size: expected a whole number from 1 to {self.n}"
        if not 1 <= batch <= self.n:
            return f"batch size: expected 1 … {self.n}, got {batch}"
        opt = self.query_one("#optimizer", Select).value
        try:
            epochs = float(self.query_one("#epochs", Input).value)
        except ValueError:
            return "epochs: expected a number, e.g. 5"
        if not 0 < epochs <= 100_000:
            return "epochs: expected a positive number up to 100 000"
        return ForkSettings(lr, batch, str(opt), epochs)

    def _submit(self) -> None:
        result = self._settings()
        if isinstance(result, str):
            self.query_one("#fork-error", Static).update(Text(result, style="red"))
            return
        self.dismiss(result)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "fork-ok":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
