"""The gdviz terminal app: every run's descent path and loss curve, animated side by side.

The engine runs in a thread worker (:mod:`gdviz.tui.worker`) and posts history chunks; the
message handlers only store them (:mod:`gdviz.tui.engine_link`, :mod:`gdviz.tui.state`); a
timer moves the playback clock and, at most ``fps`` times a second, builds each widget's view
value (:mod:`gdviz.tui.views`) and hands it over; a widget redraws only the rows that changed.
Widgets tell the app what the user did with messages (``RunColumn.RunSelected``).

``make_app(..., frozen=True)`` trains every run synchronously first and starts no timer and
no worker, so tests and snapshots see one deterministic frame.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual import on
from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from gdviz.data import Dataset
from gdviz.engine import Engine
from gdviz.models import model_of
from gdviz.scenario import Scenario
from gdviz.surface import Surface
from gdviz.safeio import write_text_atomic
from gdviz.text import printable
from gdviz.tui.engine_link import EngineLink
from gdviz.tui.ensemble_view import column_view_of
from gdviz.tui.ensembles import columns_of
from gdviz.tui.export import export_history
from gdviz.tui.fork_actions import ForkActions
from gdviz.tui.frozen import precompute, show_trained
from gdviz.tui.inspector import inspector_for
from gdviz.tui.main_screen import MainScreen
from gdviz.tui.panels import RunColumn, StatusView
from gdviz.tui.runinfo import planned_run, run_info
from gdviz.tui.screens import HelpScreen
from gdviz.tui.state import Playback
from gdviz.tui.stats_view import stats_view
from gdviz.tui.terminal import run_app  # noqa: F401  (the CLI's entry point, kept importable from here)
from gdviz.tui.views import (X_AXES, ViewOptions, comparison_view, representative, screen_layout, status_view,
                             target_text)  # fmt: skip

STATS_EVERY = 0.25  # seconds between stats-table refreshes


class GdvizApp(ForkActions, EngineLink):
    """See :mod:`gdviz.tui.app`. Build it with :func:`make_app`."""

    CSS_PATH = "app.tcss"
    TITLE = "gdviz"
    BINDINGS = [
        Binding("q", "quit", "quit"),
        Binding("ctrl+c", "quit", "quit", show=False, priority=True),
    ]

    def __init__(
        self,
        scenario: Scenario,
        dataset: Dataset,
        *,
        frozen: bool = False,
        fps: int = 30,
        clock: float | None = None,
        export_dir: Path | str | None = None,
        precomputed: tuple[Engine, Surface, float] | None = None,
        target: str = "cpu",
    ) -> None:
        super().__init__(target)
        self.fps = max(1, int(fps))
        self.frozen = frozen
        self.export_dir = Path(export_dir) if export_dir is not None else Path.cwd()
        self.selected = 0
        self.x_axis = "epochs"
        self.log_y = True
        self.show_validation = False  # the comparison chart shows the validation loss (v)
        self.show_b_simple = False  # the comparison chart shows the gradient noise scale (b)
        self.table_visible: bool | None = None  # decided at the first layout (narrow: hidden)
        self.plain = False  # no colour: markers, line styles and contour lines
        self.frames = 0  # frames that redrew something (for bench_ui)
        self._last_tick = time.perf_counter()
        self._last_stats = 0.0
        self._frozen_clock = clock
        self._precomputed = precomputed
        #: Said once as the app starts (the sweep screen opening a cell: how to get back).
        self.notice = ""
        self._load(scenario, dataset)

    # --- set-up ----------------------------------------------------------------------------------
    def _load(self, scenario: Scenario, dataset: Dataset) -> None:
        self.scenario = scenario
        self.dataset = dataset
        self.n, self.d = dataset.n, dataset.d
        self.p = model_of(scenario, self.d).n_params
        infos = [run_info(planned_run(i, spec, n=self.n, d=self.d, p=self.p)) for i, spec in enumerate(scenario.runs)]
        self.playback = Playback(infos, self.p, columns_of(scenario.runs))
        self.projections.clear()
        self.surface = None
        self.model = None
        self._trained: Engine | None = None  # a frozen app's trained engine (maybe shared by tests)
        self._fork_engine: Engine | None = None  # a frozen app's own copy of it, where forks are made
        if self.frozen:
            self._load_frozen()

    def _load_frozen(self) -> None:
        engine, surface, _ = self._precomputed if self._precomputed is not None else precompute(
            self.scenario, self.dataset, target=self.requested_target)  # fmt: skip
        self._precomputed = None
        self._trained = engine
        self.target, self.target_note, self.model = engine.target, engine.target_note, engine.model
        self.surface = surface
        show_trained(self.playback, engine, self._frozen_clock)

    def on_mount(self) -> None:
        # Headless (tests, bench): colour unless NO_COLOR, whatever TERM says, so snapshots
        # do not depend on the environment.
        sixteen = self.console.color_system in ("standard", "windows") and not self.is_headless
        self.plain = bool(self.no_color) or sixteen
        self.push_screen(MainScreen(len(self.playback.columns)))
        self.call_after_refresh(self._started)

    def _started(self) -> None:
        self.apply_size()
        if not self.frozen:
            self.start_engine()
            self.set_interval(1.0 / self.fps, self._frame, name="frame")
        self.draw(force=True)
        if self.notice:
            self.notify(self.notice, timeout=10, markup=False)

    @property
    def main_screen(self) -> MainScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)

    # --- messages from the widgets ------------------------------------------------------------------
    @on(RunColumn.RunSelected)
    def _run_selected(self, message: RunColumn.RunSelected) -> None:
        self.select_run(message.index)

    @on(MainScreen.Resized)
    def _screen_resized(self) -> None:
        self.apply_size()

    # --- the frame ------------------------------------------------------------------------------
    def _frame(self) -> None:
        now = time.perf_counter()
        dt = min(now - self._last_tick, 0.25)
        self._last_tick = now
        self.playback.tick(dt)
        self.draw()

    @property
    def view_options(self) -> ViewOptions:
        screen = self.main_screen
        narrow = screen is not None and screen.narrow
        return ViewOptions(self.selected, self.x_axis, self.log_y, self.plain, narrow, self.phase,
                           self.show_validation and self.dataset.X_val is not None, self.show_b_simple)  # fmt: skip

    def draw(self, force: bool = False) -> None:
        """Hand every widget its view at the playback clock; each redraws only what changed."""
        screen = self.main_screen
        if screen is None or not screen.is_mounted:
            return
        pb = self.playback
        self.pacer.clock = pb.clock
        self.pacer.epochs_per_second = pb.epochs_per_second
        opts = self.view_options
        changed = False
        for col in screen.columns:
            c = col.index  # a column: a run, or a seed ensemble's runs
            if c < len(pb.columns) and col.is_mounted:  # a fork's new column is drawn once mounted
                xys = [self.projections.get(i, self.surface, pb.traces[i]) for i in pb.columns[c].runs]
                changed |= col.show(column_view_of(pb, c, opts, self.surface, xys))
        changed |= screen.comparison.set_spec(comparison_view(pb, opts))
        now = time.perf_counter()
        if force or now - self._last_stats >= STATS_EVERY:
            self._last_stats = now
            screen.stats.show(stats_view(pb))
        screen.status.show(self._status_view(opts))
        if changed:
            self.frames += 1

    def _status_view(self, opts: ViewOptions) -> StatusView:
        where = target_text(self.target, self.target_label, self.target_note, frozen=self.frozen)
        return status_view(self.playback, opts, scenario=self.scenario.name, dataset=self.dataset, where=where,
                           model=self.model, phase_seconds=self.phase_seconds)  # fmt: skip

    def status_text(self) -> str:
        """The status line as it reads now."""
        return self._status_view(self.view_options).text

    def apply_size(self) -> None:
        screen = self.main_screen
        if screen is None:
            return
        layout = screen_layout(self.size.width, self.size.height, self.table_visible)
        self.table_visible = layout.table
        screen.show_layout(layout)
        self.call_after_refresh(self.draw, True)

    # --- actions ------------------------------------------------------------------------------------
    def action_toggle_play(self) -> None:
        pb = self.playback
        if pb.finished and not pb.playing:
            pb.clock = 0.0  # play again from the start
        pb.playing = not pb.playing
        self._last_tick = time.perf_counter()
        self.draw()

    def action_step(self) -> None:
        pb = self.playback
        pb.playing = False
        pb.step(representative(pb, self.selected))
        self.draw()

    def action_faster(self) -> None:
        self.playback.faster()
        self.draw()

    def action_slower(self) -> None:
        self.playback.slower()
        self.draw()

    def action_restart(self) -> None:
        """Every run from epoch 0; forks are dropped (the toast names them)."""
        speed = self.playback.speed_index
        if self.frozen:
            forked = self.playback.drop_forks()
            self._fork_engine = None
            self.playback.clock = 0.0
            self.playback.playing = True
        else:
            forked = [info.name for info in self.playback.infos if info.parent is not None]
            self.stop_engine()
            self._load(self.scenario, self.dataset)
            self.playback.speed_index = speed
            self.start_engine()
        self.selected = min(self.selected, len(self.playback.columns) - 1)
        self.runs_added()
        dropped = f"; forks dropped: {', '.join(forked)}" if forked else ""
        self.notify(printable(f"every run restarted from epoch 0{dropped}"), title="restart", markup=False)

    def action_cycle_x(self) -> None:
        self.x_axis = X_AXES[(X_AXES.index(self.x_axis) + 1) % len(X_AXES)]
        self.draw()

    def action_toggle_log(self) -> None:
        self.log_y = not self.log_y
        self.draw()

    def action_toggle_validation(self) -> None:
        if self.dataset.X_val is None:
            self.notify("this scenario holds out no rows: set validation = 0.2 (for example) in its [data] "
                        "table to see a validation loss", severity="warning")  # fmt: skip
            return
        self.show_validation = not self.show_validation
        self.show_b_simple = False
        self.draw()

    def action_toggle_b_simple(self) -> None:
        self.show_b_simple = not self.show_b_simple
        self.show_validation = False
        self.draw()

    def action_toggle_table(self) -> None:
        self.table_visible = not self.table_visible
        self.apply_size()

    def action_export(self) -> None:
        if self.model is None:
            self.notify("nothing to export yet: the engine has not started", severity="warning")
            return
        try:
            paths = export_history(self.playback, self.scenario, self.dataset, self.model, self.export_dir, self.target)
        except OSError as exc:
            self.notify(f"export failed: {exc}", severity="error", markup=False)
            return
        self.last_export = paths
        self.notify(printable(f"history written to\n{paths[0]}\n{paths[1]}", allow="\n"), title="exported", markup=False)

    def action_screenshot(self) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = f"gdviz-{self.scenario.name}-{stamp}.svg"
        try:
            path = self.export_dir / name
            self.export_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, self.export_screenshot())  # whole or not at all
        except OSError as exc:
            self.notify(f"screenshot failed: {exc}", severity="error", markup=False)
            return
        self.last_screenshot = Path(path)
        self.notify(printable(f"screenshot saved to\n{path}", allow="\n"), title="screenshot", markup=False)

    def action_inspect(self) -> None:
        """``i``: the selected run's last update explained (an ensemble's: its median seed's at the
        clock); playback pauses while it is open."""
        i = representative(self.playback, self.selected)
        screen = inspector_for(self.playback, i, self.scenario, self.dataset, self.model,
                               moved=partial(self._inspected, i))  # fmt: skip
        if isinstance(screen, str):
            self.notify(screen, severity="warning")
            return
        self.playback.playing = False
        self.push_screen(screen)

    def _inspected(self, i: int, step: int) -> None:
        """The inspector made update ``step`` of run ``i``: the clock goes to it."""
        info = self.playback.infos[i]
        self.playback.clock = (info.forked_at or 0.0) + (step - info.start_step) / info.updates_per_epoch
        self.draw(force=True)

    def action_help(self) -> None:
        cols = self.playback.columns  # with seed ensembles: how to read them, and why some seeds are one run
        notes = tuple(f"{c.name}: {c.note}" for c in cols if c.note) if any(c.seeds > 1 for c in cols) else None
        self.push_screen(HelpScreen(self.target_note, story=self.scenario.description, ensembles=notes))

    def select_run(self, index: int) -> None:
        if self.playback.columns:
            self.selected = index % len(self.playback.columns)
            self.draw()

    def action_next_run(self) -> None:
        self.select_run(self.selected + 1)

    def action_prev_run(self) -> None:
        self.select_run(self.selected - 1)

    # --- the command palette ----------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        try:
            from gdviz.scenario import bundled_scenarios

            bundled = bundled_scenarios()
        except Exception:
            bundled = []
        for name, title, description in bundled:
            yield SystemCommand(f"Open scenario: {name}", f"{title} — {description}", partial(self.open_scenario, name))

    def open_scenario(self, name: str) -> None:
        from gdviz.data import build_dataset
        from gdviz.errors import GdvizError
        from gdviz.scenario import load_scenario

        try:
            scenario = load_scenario(name)
            dataset = build_dataset(scenario)
        except GdvizError as exc:
            self.notify(printable(exc.message, allow="\n"), title=exc.title, severity="error", markup=False)
            return
        self.stop_engine()
        self.selected = 0
        self._load(scenario, dataset)
        self.switch_screen(MainScreen(len(self.playback.columns)))
        self.call_after_refresh(self._after_switch)

    def _after_switch(self) -> None:
        self.apply_size()
        if not self.frozen:
            self.start_engine()
        self.draw(force=True)

    async def action_quit(self) -> None:
        self.stop_engine()
        self.exit(0)

    def on_unmount(self) -> None:
        self.stop_engine()


def make_app(
    scenario: Scenario,
    dataset: Dataset,
    *,
    frozen: bool = False,
    fps: int = 30,
    clock: float | None = None,
    export_dir: Path | str | None = None,
    target: str = "cpu",
    precomputed: tuple[Engine, Surface, float] | None = None,
) -> GdvizApp:
    """The app, for the CLI and the tests.

    Parameters
    ----------
    frozen : bool
        Train every run to the end now, start no timer and no worker, and show the frame at
        ``clock`` (default: the end). Measured seconds are replaced by a fixed cost model, so
        the frame is the same on every machine (snapshot tests).
    fps : int
        Frame-rate cap.
    export_dir : path
        Where ``e`` and ``s`` write (default: the current directory).
    target : str
        ``cpu`` (the default), ``cuda`` or ``auto``: passed to the engine, which resolves it
        (:func:`gdviz.target.resolve_target`); the status line shows where it computes.
    precomputed : tuple, optional
        For a frozen app: what :func:`gdviz.tui.frozen.precompute` returned (tests share one).
    """
    return GdvizApp(scenario, dataset, frozen=frozen, fps=fps, clock=clock, export_dir=export_dir, target=target, precomputed=precomputed)
