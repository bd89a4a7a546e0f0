"""``gdviz sweep S``: the sweep screen, filled in while the cells run.

A thread worker advances the :class:`~gdviz.sweep.runner.SweepRunner` round by round (its
kernels release the GIL) and posts, a few times a second, the result so far with the figures
every panel reads (:func:`gdviz.tui.sweep_views.figures_of`); the handlers store them and hand
each widget its view. The B_simple trace of the selected cell is trained in a second worker,
a moment after the cursor stops (:data:`TRACE_DELAY`), one at a time, and kept per cell.

Enter on a cell ends this app with the choice; :func:`run_sweep_app` then runs the main app on
the cell's runs (:func:`gdviz.sweep.cells.cell_scenario`, every seed) and, when the user
leaves it, a new sweep app on the same runner and :class:`SweepState`: the cells done, the
cursor and the traces are kept, and the sweep goes on where it stopped.

``make_sweep_app(runner, frozen=True)`` trains every cell first and starts no worker, and the
status line shows no seconds, so tests and snapshots see one deterministic frame.
"""

from __future__ import annotations

import math
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.text import Text
from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from gdviz.sweep.cells import Trace, cell_scenario, cell_trace
from gdviz.sweep.report import fmt_lr, fmt_steps
from gdviz.sweep.runner import SweepRunner
from gdviz.text import printable
from gdviz.tui import sweep_views as V
from gdviz.tui.screens import ErrorScreen
from gdviz.tui.sweep_heat import HeatMap
from gdviz.tui.sweep_screen import PANELS, SweepHelpScreen, SweepScreen, best_table, sweep_layout

#: Seconds between the worker's posts of the result so far.
PROGRESS_EVERY = 0.25
#: Seconds the cursor must rest on a cell before its B_simple trace is trained.
TRACE_DELAY = 0.3


@dataclass
class SweepState:
    """What the sweep screen keeps across a visit to the main app."""

    cursor: tuple[int, int] = (0, 0)
    user_moved: bool = False  # until then the cursor follows the best cell nearest B_crit
    panel: str = "heat"  # the panel shown on a narrow terminal
    traces: dict[tuple[int, int], Trace] = field(default_factory=dict)
    announced: bool = False  # the closing note has been shown


@dataclass
class SweepProgress(Message):
    """The result so far (and its figures), from the sweep worker."""

    figures: V.Figures
    eta: float | None
    seconds: float


@dataclass
class SweepPhase(Message):
    """What the sweep worker does before the first round ("" once it trains)."""

    text: str


@dataclass
class TraceReady(Message):
    """A cell's B_simple trace (``error`` set when it could not be computed)."""

    cell: tuple[int, int]
    trace: Trace | None
    error: str = ""


class SweepApp(App[int]):
    """See :mod:`gdviz.tui.sweep_app`. Build it with :func:`make_sweep_app`."""

    CSS_PATH = "sweep.tcss"
    TITLE = "gdviz sweep"
    BINDINGS = [Binding("ctrl+c", "quit", "quit", show=False, priority=True)]

    def __init__(self, runner: SweepRunner, *, frozen: bool = False, state: SweepState | None = None) -> None:
        super().__init__()
        self.runner = runner
        self.frozen = frozen
        self.state = state if state is not None else SweepState(cursor=(len(runner.spec.batch_sizes) // 2, 0))
        self.figures: V.Figures | None = None
        self.eta: float | None = None
        self.seconds = runner.seconds
        self.phase = ""
        self._phase_since = time.perf_counter()
        self.plain = False
        #: The cell chosen with enter (run_sweep_app opens its runs), or None.
        self.open_cell: tuple[int, int] | None = None
        self.trace_errors: dict[tuple[int, int], str] = {}
        self._trace_busy: tuple[int, int] | None = None
        self._trace_timer: Timer | None = None
        self._stop = threading.Event()
        #: Set when the sweep worker has returned (run_sweep_app waits on it before going on).
        self.finished = threading.Event()
        self.finished.set()
        if frozen:
            runner.run_to_end()
            self.figures = V.figures_of(runner.result())
            self._follow_best()

    # --- set-up -----------------------------------------------------------------------------------
    def on_mount(self) -> None:
        sixteen = self.console.color_system in ("standard", "windows") and not self.is_headless
        self.plain = bool(self.no_color) or sixteen
        self.push_screen(SweepScreen())
        self.call_after_refresh(self._started)

    def _started(self) -> None:
        self.apply_size()
        if not self.frozen:
            self.start_sweep()
            self.set_interval(1.0, self._tick, name="tick")
        self._want_trace()
        self.draw()

    @property
    def sweep_screen(self) -> SweepScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, SweepScreen)), None)

    @on(SweepScreen.Resized)
    def apply_size(self) -> None:
        screen = self.sweep_screen
        if screen is None:
            return
        spec = self.runner.spec
        gutter = max(len(str(b)) if b is not None else 4 for b in spec.batch_sizes) + 1
        layout = sweep_layout(self.size.width, self.size.height, len(spec.batch_sizes), len(spec.learning_rates), gutter)
        screen.show_layout(layout, self.state.panel)
        self.call_after_refresh(self.draw)

    # --- the sweep worker ---------------------------------------------------------------------------
    def start_sweep(self) -> None:
        self._stop = threading.Event()
        self.finished = threading.Event()
        self._phase_since = time.perf_counter()
        self._sweep(self._stop, self.finished)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sweep", name="sweep")
    def _sweep(self, stop: threading.Event, finished: threading.Event) -> None:
        from gdviz.engine import warm_up

        runner = self.runner

        def post(message: Message) -> None:
            if not stop.is_set():
                self.post_message(message)

        try:
            post(SweepPhase("Preparing the Numba kernels (compiled on first use, then cached)…"))
            warm_up({runner.spec.base.dtype}, parallel=True)
            post(SweepPhase(""))
            last = time.perf_counter()
            post(SweepProgress(V.figures_of(runner.result()), runner.eta(), runner.seconds))
            while not stop.is_set() and not runner.done:
                runner.advance()
                now = time.perf_counter()
                if now - last >= PROGRESS_EVERY or runner.done:
                    last = now
                    post(SweepProgress(V.figures_of(runner.result()), runner.eta(), runner.seconds))
        finally:
            finished.set()

    def stop_work(self) -> None:
        """Ask the sweep worker to stop after its round (run_sweep_app waits for :attr:`finished`)."""
        self._stop.set()

    def on_unmount(self) -> None:
        self.stop_work()

    def on_sweep_phase(self, message: SweepPhase) -> None:
        self.phase = message.text
        self.draw()

    def on_sweep_progress(self, message: SweepProgress) -> None:
        self.figures, self.eta, self.seconds = message.figures, message.eta, message.seconds
        self._follow_best()
        self._want_trace()
        if message.figures.done and not self.state.announced:
            self.state.announced = True
            self.notify(V.closing_note(message.figures, message.seconds), title="sweep done", timeout=12, markup=False)
        self.draw()

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if event.worker.group == "trace":
            cell = self._trace_busy
            self._trace_busy = None
            if cell is not None:
                self.trace_errors[cell] = f"B_simple could not be computed: {type(error).__name__}: {error}"
            self.draw()
            return
        details = "".join(traceback.format_exception(error)) if error is not None else "unknown error"
        self.push_screen(ErrorScreen(f"{type(error).__name__}: {error}", details), callback=self._error_closed)

    def _error_closed(self, restart: bool | None) -> None:
        if restart:  # go on with the cells not yet done
            self.start_sweep()

    def _tick(self) -> None:
        if self.phase or (self.figures is not None and not self.figures.done):
            self.draw()

    # --- the B_simple trace of the selected cell ----------------------------------------------------------
    def _want_trace(self) -> None:
        """Train the cursor's trace soon (now in a frozen app), unless it is known or running."""
        if self._trace_timer is not None:
            self._trace_timer.stop()
            self._trace_timer = None
        if self.frozen:
            self._start_trace()
        else:
            self._trace_timer = self.set_timer(TRACE_DELAY, self._start_trace)

    def _start_trace(self) -> None:
        cell = self.state.cursor
        fig = self.figures
        if fig is None or cell in self.state.traces or cell in self.trace_errors or self._trace_busy is not None:
            return
        choice = V.trace_seed(fig, *cell)
        if choice is None:
            return  # the cell has not run yet: asked again when it has
        seed_index, steps = choice
        if self.frozen:  # no worker: trained here
            try:
                self.state.traces[cell] = self._trace(cell, seed_index, steps)
            except Exception as exc:  # shown in the panel, as the worker's failures are
                self.trace_errors[cell] = f"B_simple could not be computed: {type(exc).__name__}: {exc}"
            return
        self._trace_busy = cell
        self._trace_worker(cell, seed_index, steps)

    def _trace(self, cell: tuple[int, int], seed_index: int, steps: int | None) -> Trace:
        r = self.runner
        return cell_trace(r.scenario, r.engine.dataset, cell[0], cell[1], seed_index, steps=steps)

    @work(thread=True, exit_on_error=False, group="trace", name="trace")
    def _trace_worker(self, cell: tuple[int, int], seed_index: int, steps: int | None) -> None:
        self.post_message(TraceReady(cell, self._trace(cell, seed_index, steps)))

    def on_trace_ready(self, message: TraceReady) -> None:
        self._trace_busy = None
        if message.trace is not None:
            self.state.traces[message.cell] = message.trace
        if self.state.cursor != message.cell:
            self._want_trace()
        self.draw()

    # --- drawing -----------------------------------------------------------------------------------------
    def draw(self) -> None:
        """Hand every widget its view; each redraws only what changed."""
        screen = self.sweep_screen
        if screen is None or not screen.is_mounted:
            return
        screen.text("status").update(self.status_text())
        fig = self.figures
        if fig is None:
            return
        i, j = self.state.cursor
        screen.heat.show(V.heat_view(fig, (i, j), self.plain))
        screen.scaling.set_spec(V.scaling_spec(fig, self.plain))
        screen.text("fit-text").update("\n".join(V.fit_lines(fig)))
        trace = self.state.traces.get((i, j))
        error = self.trace_errors.get((i, j))
        spec = V.noise_spec(fig, (i, j), trace, self.plain, computing=self._trace_busy is not None)
        if error and trace is None:
            spec = V.LogLogSpec((), title=spec.title, message=error, no_color=self.plain, key=("error", i, j))
        screen.noise.set_spec(spec)
        screen.text("noise-text").update(V.noise_line(fig, (i, j), trace))
        screen.text("cell").update(V.cell_line(fig, i, j))
        screen.text("best-table").update(best_table(self._best_rows(fig), "best learning rate per batch size"))
        story = self.runner.scenario.description
        screen.text("story").update(Text.assemble(("This scenario: ", "bold"), printable(story)) if story else "")

    @staticmethod
    def _best_rows(fig: V.Figures) -> list[tuple[str, ...]]:
        return [(str(b.batch), fmt_lr(b.learning_rate), fmt_steps(b.steps_to_target), fmt_steps(b.examples_to_target),
                 V.fmt_b(b.b_simple) if b.b_simple is not None and math.isfinite(b.b_simple) else "—")
                for b in fig.result.best]  # fmt: skip

    def status_text(self) -> str:
        """The status line as it reads now."""
        r = self.runner
        progress = V.progress_text(self.figures, total=r.total_cells, phase=self.phase,
                                   phase_seconds=time.perf_counter() - self._phase_since, eta=self.eta,
                                   seconds=None if self.frozen else self.seconds)  # fmt: skip
        spec = r.spec
        grid = f"{len(spec.batch_sizes)} batch sizes × {len(spec.learning_rates)} lrs × {len(spec.seeds)} seeds"
        return " · ".join([progress, r.scenario.name, f"n={r.n}", grid, f"target loss {spec.target_loss:g}"])

    # --- actions ---------------------------------------------------------------------------------------------
    def _follow_best(self) -> None:
        if not self.state.user_moved and self.figures is not None:
            cell = V.auto_cursor(self.figures)
            if cell is not None:
                self.state.cursor = cell

    def _select(self, i: int, j: int) -> None:
        spec = self.runner.spec
        i = min(max(i, 0), len(spec.batch_sizes) - 1)
        j = min(max(j, 0), len(spec.learning_rates) - 1)
        self.state.user_moved = True
        if (i, j) != self.state.cursor:
            self.state.cursor = (i, j)
            self._want_trace()
        self.draw()

    @on(HeatMap.CellClicked)
    def _clicked(self, message: HeatMap.CellClicked) -> None:
        self._select(message.row, message.col)

    def action_move(self, di: int, dj: int) -> None:
        i, j = self.state.cursor
        self._select(i + di, j + dj)

    def action_best(self) -> None:
        i = self.state.cursor[0]
        if self.figures is not None and i in self.figures.best:
            self._select(i, self.figures.best[i])
        else:
            self.notify("no learning rate of this batch size has reached the target yet", severity="warning")

    def action_panel(self, name: str) -> None:
        self.state.panel = name
        self.apply_size()

    def _cycle_panel(self, step: int) -> None:
        names = [n for n, _ in PANELS]
        self.action_panel(names[(names.index(self.state.panel) + step) % len(names)])

    def action_next_panel(self) -> None:
        self._cycle_panel(1)

    def action_prev_panel(self) -> None:
        self._cycle_panel(-1)

    def action_help(self) -> None:
        self.push_screen(SweepHelpScreen(self.runner.scenario.description))

    def action_open_cell(self) -> None:
        self.open_cell = self.state.cursor
        self.stop_work()
        self.exit(0)


def make_sweep_app(runner: SweepRunner, *, frozen: bool = False, state: SweepState | None = None) -> SweepApp:
    """The sweep app on ``runner`` (``frozen``: every cell trained now, no worker, no seconds shown)."""
    return SweepApp(runner, frozen=frozen, state=state)


def open_cell_notice(runner: SweepRunner, cell: tuple[int, int]) -> str:
    spec = runner.spec
    b, lr = spec.batch_sizes[cell[0]], spec.learning_rates[cell[1]]
    return (f"The sweep's cell B {'full' if b is None else b}, lr {fmt_lr(lr)}: one run per seed. "
            "q returns to the sweep screen (its cells are kept; it goes on from there).")


def _run_in_terminal(app: App[int]) -> int:
    """Run ``app`` on a loop of our own (signals end it with 128 + N, as the main app)."""
    from gdviz.tui.terminal import run_in_terminal

    return run_in_terminal(app)


def run_sweep_app(runner: SweepRunner, *, run: Callable[[App[int]], int] = _run_in_terminal,
                  open_runs: Callable[..., int] | None = None) -> int:
    """The sweep screen in the terminal, and the main app on a cell when enter opens one;
    returns the exit code. ``run`` and ``open_runs`` (the main app's ``run_app``) are
    parameters for the tests."""
    import sys

    if open_runs is None:
        from gdviz.tui.app import run_app as open_runs
    state = SweepState(cursor=(len(runner.spec.batch_sizes) // 2, 0))
    while True:
        app = make_sweep_app(runner, state=state)
        try:
            code = run(app)
        finally:
            app.stop_work()
            if not app.finished.wait(0.5):
                sys.stderr.write("gdviz: waiting for the sweep's current round (or Numba's compile) to end…\n")
                app.finished.wait()
        if app.open_cell is None or code != 0:
            break
        scenario = cell_scenario(runner.scenario, *app.open_cell)
        code = open_runs(scenario, runner.engine.dataset, notice=open_cell_notice(runner, app.open_cell))
        if code != 0:
            return code
    if code == 0 and runner.results:
        _print_figures(runner)
    return code


def _print_figures(runner: SweepRunner) -> None:
    """The sweep's figures on stdout as the app ends, so they stay in the terminal."""
    from gdviz.sweep.report import fit_lines

    lines = [] if runner.done else [f"gdviz sweep: stopped after {runner.cells_done:,} of {runner.total_cells:,} cells"]
    lines += fit_lines(runner.result())
    try:
        print("\n".join(lines), flush=True)
    except OSError:  # a closed stdout: the figures are not essential
        pass
