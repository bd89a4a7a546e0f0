"""The gdviz terminal app: every run's descent path and loss curve, animated side by side.

The engine runs in a thread worker (:mod:`gdviz.tui.worker`) and posts history chunks; the
message handlers only store them (:mod:`gdviz.tui.state`); a timer moves the playback clock
and redraws, at most ``fps`` times a second, only the rows that changed.

``make_app(..., frozen=True)`` trains every run synchronously first and starts no timer and
no worker, so tests and snapshots see one deterministic frame.
"""

from __future__ import annotations

import time
import traceback
from functools import partial
from pathlib import Path

import numpy as np
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState, get_current_worker

from gdviz.target import is_fallback
from gdviz.tui.chart import ChartSpec, LineChart, Series, y_range_of
from gdviz.tui.colors import run_color, run_marker, run_pattern, PATTERN_GLYPHS
from gdviz.tui.braille import nice_ticks
from gdviz.tui.export import export_history
from gdviz.tui.messages import ChunksReady, EngineReady, Forked, Phase, SurfaceReady, TargetChanged
from gdviz.tui.panels import RunColumn, StatsTable, StatusLine
from gdviz.tui.fork import ForkRequest, ForkSettings, forked_spec, train_fork
from gdviz.tui.runinfo import planned_run, run_info
from gdviz.tui.screens import ErrorScreen, ForkScreen, HelpScreen
from gdviz.tui.state import Playback, format_speed
from gdviz.models import Model
from gdviz.surface import Surface
from gdviz.tui.surface_view import PathSpec
from gdviz.tui.worker import EngineDriver, Pacer, precompute

#: Below this terminal size the app shows a message instead of a squeezed drawing.
MIN_SIZE = (64, 20)
#: Below this width or height, one run column is shown at a time (tab switches).
NARROW = (120, 40)
X_AXES = ("epochs", "updates", "seconds")
STATS_EVERY = 0.25  # seconds between stats-table refreshes


class MainScreen(Screen[None]):
    """The run columns, the comparison chart, the stats table, the status line, the footer."""

    BINDINGS = [
        Binding("space", "app.toggle_play", "play/pause"),
        Binding("full_stop", "app.step", "step"),
        Binding("plus,equals_sign", "app.faster", "faster"),
        Binding("minus", "app.slower", "slower"),
        Binding("r", "app.restart", "restart"),
        Binding("x", "app.cycle_x", "x axis"),
        Binding("l", "app.toggle_log", "log"),
        Binding("t", "app.toggle_table", "table"),
        Binding("e", "app.export", "export"),
        Binding("s", "app.screenshot", "svg"),
        Binding("enter", "app.fork", "fork"),
        Binding("tab,right", "app.next_run", "next run", show=False),
        Binding("shift+tab,left", "app.prev_run", "previous run", show=False),
        Binding("question_mark", "app.help", "help"),
    ]

    def __init__(self, infos: list[RunInfo]) -> None:
        super().__init__()
        self.infos = infos

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with Vertical(id="main"):
            with Horizontal(id="columns"):
                for info in self.infos:
                    yield RunColumn(info, id=f"run-{info.index}")
            yield LineChart(id="comparison")
            yield StatsTable(id="stats")
        yield Static("", id="too-small")
        yield Footer()

    def on_resize(self) -> None:
        self.app.apply_size()  # type: ignore[attr-defined]


class GdvizApp(App[int]):
    """See :mod:`gdviz.tui.app`. Build it with :func:`make_app`."""

    CSS_PATH = "app.tcss"
    TITLE = "gdviz"
    BINDINGS = [
        Binding("q", "quit", "quit"),
        Binding("ctrl+c", "quit", "quit", show=False, priority=True),
    ]

    def __init__(
        self,
        scenario,  # type: ignore[no-untyped-def]
        dataset,  # type: ignore[no-untyped-def]
        *,
        frozen: bool = False,
        fps: int = 30,
        clock: float | None = None,
        export_dir: Path | str | None = None,
        precomputed=None,  # type: ignore[no-untyped-def]
        target: str = "cpu",
    ) -> None:
        super().__init__()
        self.fps = max(1, int(fps))
        self.frozen = frozen
        self.export_dir = Path(export_dir) if export_dir is not None else Path.cwd()
        self.selected = 0
        self.x_axis = "epochs"
        self.log_y = True
        self.table_visible: bool | None = None  # decided at the first resize (narrow: hidden)
        self.plain = False  # no colour: markers, line styles and contour lines
        self.generation = 0
        self.driver: EngineDriver | None = None
        self.drivers: list[EngineDriver] = []  # every driver started (run_app waits on them at exit)
        self.pacer = Pacer()
        self.phase = ""
        self._phase_since = 0.0  # when the engine started (the start-up progress shows the seconds)
        #: What the engine is asked for (cpu, cuda or auto; the CLI has checked that cuda is usable).
        self.requested_target = target
        #: Where the engine computes ("cpu" or "cuda"), once it exists; until then, the request.
        self.target = target
        self.target_label = ""  # "cpu (16 threads)" or the GPU's name
        self.target_note = ""  # the engine's target_note: why the target differs, or a fallback
        self.frames = 0  # frames that redrew something (for bench_ui)
        self._last_tick = time.perf_counter()
        self._last_stats = 0.0
        self._forks: list[int] = []
        self._proj_cache: dict[int, tuple[object, np.ndarray]] = {}
        self._frozen_clock = clock
        self._precomputed = precomputed
        self.surface: Surface | None = None
        #: The engine's model description (fitted line, parameter names); None until it exists.
        self.model: Model | None = None
        self._load(scenario, dataset)

    # --- set-up ----------------------------------------------------------------------------------
    def _load(self, scenario, dataset) -> None:  # type: ignore[no-untyped-def]
        self.scenario = scenario
        self.dataset = dataset
        n, d = dataset.X.shape
        self.n, self.d = int(n), int(d)
        self.fit_intercept = bool(scenario.model.fit_intercept)
        self.p = self.d + int(self.fit_intercept)
        infos = [run_info(planned_run(i, spec, n=self.n, d=self.d, p=self.p)) for i, spec in enumerate(scenario.runs)]
        self.playback = Playback(infos, self.p)
        self._forks = [0] * len(infos)
        self._proj_cache = {}
        self.surface = None
        if self.frozen:
            self._load_frozen()

    def _load_frozen(self) -> None:
        from gdviz.history import HistoryChunk

        engine, surface, _ = self._precomputed if self._precomputed is not None else precompute(
            self.scenario, self.dataset, target=self.requested_target)  # fmt: skip
        self._precomputed = None
        self.target = engine.target
        self.target_note = engine.target_note
        self.model = engine.model
        pb = self.playback
        pb.infos = [run_info(r) for r in engine.runs]
        for r, trace in zip(engine.runs, pb.traces):
            h = r.history
            trace.append(HistoryChunk(r.index, h.step, h.epoch, h.seconds, h.loss, h.full_loss, h.noise, h.params,
                                      r.done, r.diverged_step))  # fmt: skip
        self.surface = surface
        pb.clock = pb.end if self._frozen_clock is None else min(float(self._frozen_clock), pb.end)
        pb.playing = False

    def on_mount(self) -> None:
        # Headless (tests, bench): colour unless NO_COLOR, whatever TERM says, so snapshots
        # do not depend on the environment.
        sixteen = self.console.color_system in ("standard", "windows") and not self.is_headless
        self.plain = bool(self.no_color) or sixteen
        self.push_screen(MainScreen(self.playback.infos))
        self.call_after_refresh(self._started)

    def _started(self) -> None:
        self.apply_size()
        if not self.frozen:
            self._start_engine()
            self.set_interval(1.0 / self.fps, self._frame, name="frame")
        self.draw(force=True)

    def _start_engine(self) -> None:
        self.generation += 1
        self.pacer = Pacer(self.playback.clock, self.playback.epochs_per_second)
        self.driver = EngineDriver(self.scenario, self.dataset, self.generation, self.pacer, self.requested_target)
        self.drivers.append(self.driver)
        self.phase = "starting"
        self._phase_since = time.perf_counter()
        self._drive(self.driver)

    @work(thread=True, exclusive=True, exit_on_error=False, group="engine", name="engine")
    def _drive(self, driver: EngineDriver) -> None:
        worker = get_current_worker()

        def post(message: object) -> None:
            if not worker.is_cancelled and not driver.stop.is_set():
                self.post_message(message)  # type: ignore[arg-type]

        driver.run(post)

    def _stop_engine(self) -> None:
        if self.driver is not None:
            self.driver.stop.set()
            self.driver = None

    # --- widgets ---------------------------------------------------------------------------------
    @property
    def main_screen(self) -> MainScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    def columns(self) -> list[RunColumn]:
        screen = self.main_screen
        return list(screen.query(RunColumn)) if screen is not None else []

    # --- messages from the worker (store only) ----------------------------------------------------
    def on_phase(self, message: Phase) -> None:
        if message.generation == self.generation:
            self.phase = message.text

    def on_engine_ready(self, message: EngineReady) -> None:
        if message.generation != self.generation:
            return
        self.phase = ""
        self.playback.infos = message.infos
        self.model = message.model
        for chunk in message.initial:
            self.playback.traces[chunk.run].append(chunk)
        self._set_target(message.target, message.target_label, message.target_note)

    def on_target_changed(self, message: TargetChanged) -> None:
        if message.generation == self.generation:
            self._set_target(message.target, message.target_label, message.target_note)

    def _set_target(self, target: str, label: str, note: str) -> None:
        """Store where the engine computes; a new note (a fallback) is also shown once, in full."""
        new_note = is_fallback(note) and note != self.target_note  # no GPU at all is no news
        self.target, self.target_label, self.target_note = target, label, note
        if new_note:
            runtime = note.startswith("CUDA failed")
            self.notify(note, title="fell back to the CPU" if runtime else "compute target",
                        severity="warning" if runtime else "information", timeout=8)  # fmt: skip

    def on_chunks_ready(self, message: ChunksReady) -> None:
        if message.generation != self.generation:
            return
        for chunk in message.chunks:
            if message.forks[chunk.run] == self._forks[chunk.run]:
                self.playback.traces[chunk.run].append(chunk)

    def on_surface_ready(self, message: SurfaceReady) -> None:
        if message.generation == self.generation:
            self.surface = message.surface
            self._proj_cache.clear()

    def on_forked(self, message: Forked) -> None:
        if message.generation == self.generation:
            self.playback.infos[message.run] = message.info

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "engine" or event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        details = "".join(traceback.format_exception(error)) if error is not None else "unknown error"
        self._stop_engine()
        self.push_screen(ErrorScreen(f"{type(error).__name__}: {error}", details))

    # --- the frame ------------------------------------------------------------------------------
    def _frame(self) -> None:
        now = time.perf_counter()
        dt = min(now - self._last_tick, 0.25)
        self._last_tick = now
        self.playback.tick(dt)
        self.draw()

    def _projected(self, i: int) -> np.ndarray | None:
        """Run ``i``'s received path in plane coordinates (cached until it grows or the plane moves)."""
        s = self.surface
        if s is None:
            return None
        trace = self.playback.traces[i]
        key = (id(s), s.version, trace.version)
        hit = self._proj_cache.get(i)
        if hit is not None and hit[0] == key:
            return hit[1]
        xy = s.project(trace.history.params)
        self._proj_cache[i] = (key, xy)
        return xy

    def draw(self, force: bool = False) -> None:
        """Push the playback state into the widgets; each redraws only if its inputs changed."""
        screen = self.main_screen
        if screen is None or not screen.is_mounted:
            return
        pb = self.playback
        self.pacer.clock = pb.clock
        self.pacer.epochs_per_second = pb.epochs_per_second
        cursors = pb.cursors()
        changed = False
        for col in self.columns():
            i = col.index
            if i >= len(pb.traces):
                continue
            changed |= self._draw_column(col, i, cursors[i], force)
        changed |= self._draw_comparison(screen, cursors, force)
        now = time.perf_counter()
        if force or now - self._last_stats >= STATS_EVERY:
            self._last_stats = now
            screen.query_one(StatsTable).show(pb)
        screen.query_one(StatusLine).show(self.status_text())
        if changed:
            self.frames += 1

    def _draw_column(self, col: RunColumn, i: int, k: int, force: bool) -> bool:
        pb = self.playback
        trace = pb.traces[i]
        info = pb.infos[i]
        div = pb.diverged_shown(i)
        narrow = bool(self.main_screen and self.main_screen.has_class("-narrow"))
        col.set_title(info, len(pb.traces), div, narrow)
        col.set_class(i == self.selected, "selected")
        sv = col.surface_view
        sv.contours = self.plain
        msg = f"diverged at step {div}" if div is not None else ""
        if not len(trace.history) and self.phase:
            msg = self.phase
        xy = self._projected(i)
        path = None
        if xy is not None and k > 0:
            path = PathSpec(xy[:k], run_color(i), run_marker(i), key=(k, trace.version if k >= len(trace.history) else self._forks[i]))
        changed = sv.set_inputs(self.surface, path, msg)
        if self.surface is not None:
            s = self.surface
            if self.p > 2:
                cap = f"plane through ✕ along the paths' {s.xlabel} → and {s.ylabel} ↑"
            else:
                cap = f"→ {s.xlabel} [{s.x0:.3g}, {s.x1:.3g}]  ↑ {s.ylabel} [{s.y0:.3g}, {s.y1:.3g}]  ✕ {'optimum' if s.optimum is not None else ''}"
            col.set_caption(cap)
        h = trace.history
        curve = col.curve
        curve.no_color = self.plain
        full = Series(h.epoch[:k], h.full_loss[:k], run_color(i), label="full loss")
        mini = Series(h.epoch[:k], h.loss[:k], run_color(i), faint=True, label="minibatch loss")
        yr = y_range_of([Series(h.epoch, h.full_loss, (0, 0, 0)), Series(h.epoch, self._mini_clip(h), (0, 0, 0))], self.log_y)
        title = f"loss ({'log' if self.log_y else 'linear'}): ━ full  ░ minibatch" if not self.plain else "loss: bold full, dim minibatch"
        spec = ChartSpec(
            series=[mini, full],
            x_range=(0.0, max(pb.max_epochs, 1e-9)),
            y_range=yr,
            log_y=self.log_y,
            x_label="epochs",
            title=title,
            key=(k, self._forks[i], trace.version if k >= len(h) else 0),
            message=f"diverged at step {div}" if div is not None else "",
        )
        changed |= curve.set_spec(spec)
        return changed

    @staticmethod
    def _mini_clip(h) -> np.ndarray:  # type: ignore[no-untyped-def]
        """Minibatch losses, floored at 1/100 of the lowest full loss (keeps the axis readable)."""
        full = h.full_loss[np.isfinite(h.full_loss)]
        if not len(full):
            return h.loss
        return np.maximum(h.loss, float(full.min()) / 100.0)

    def _draw_comparison(self, screen: MainScreen, cursors: list[int], force: bool) -> bool:
        pb = self.playback
        chart = screen.query_one("#comparison", LineChart)
        chart.no_color = self.plain
        series = []
        everything = []
        for i, (trace, k) in enumerate(zip(pb.traces, cursors)):
            h = trace.history
            x = {"epochs": h.epoch, "updates": h.step.astype(np.float64), "seconds": h.seconds}[self.x_axis]
            series.append(Series(x[:k], h.full_loss[:k], run_color(i), pattern=run_pattern(i) if self.plain else "solid"))
            everything.append(Series(x, h.full_loss, (0, 0, 0)))
        log_x = self.x_axis == "updates"
        narrow = screen.has_class("-narrow")
        if self.x_axis == "epochs":
            xr = (0.0, max(pb.max_epochs, 1e-9))
        elif self.x_axis == "updates":
            top = max((info.updates_per_epoch * info.epochs for info in pb.infos), default=1)
            xr = (0.0, float(np.log10(top + 1.0)))
        else:
            secs = [float(t.history.seconds[k - 1]) for t, k in zip(pb.traces, cursors) if k > 0]
            top = max(secs, default=0.0)
            xr = (0.0, _nice_ceiling(top))
        legend = "   ".join(
            f"{run_marker(i)} {PATTERN_GLYPHS[run_pattern(i)] + ' ' if self.plain else ''}{info.name}" for i, info in enumerate(pb.infos)
        )
        axis_name = {"epochs": "epochs (samples seen / n)", "updates": "updates (log)", "seconds": "seconds (measured)"}[self.x_axis]
        spec = ChartSpec(
            series=series,
            x_range=xr,
            y_range=y_range_of(everything, self.log_y),
            log_y=self.log_y,
            log_x=log_x,
            x_label=axis_name,
            title=f"full-dataset loss vs {self.x_axis}{'' if narrow else ' (x: cycle axis, l: log/linear)'}   {legend}",
            key=(tuple(cursors), tuple(self._forks), tuple(t.version for t in pb.traces) if self.x_axis == "seconds" else 0),
        )
        if not self.plain:
            chart.styles.color = None
        return chart.set_spec(spec)

    def status_text(self) -> str:
        pb = self.playback
        sc = self.scenario
        target = self.target if self.frozen else self.target_label or f"target {self.target}"
        if is_fallback(self.target_note):
            target += " ⚠ fell back to CPU" if self.target == "cpu" else " ⚠ see ?"
        if self.phase:  # start-up (Numba compiling on a cold cache): the seconds show it is alive
            state = f"⏳ {self.phase.splitlines()[0]} {time.perf_counter() - self._phase_since:.0f} s"
        elif pb.finished:
            state = f"■ finished {format_speed(pb.speed)}"
        else:
            state = f"{'▶ playing' if pb.playing else '⏸ paused'} {format_speed(pb.speed)}"
        parts = [
            f"{sc.name}",
            f"n={self.n} d={self.d}",
            target,
            state,
            f"epoch {pb.clock:.2f}/{pb.max_epochs:g}",
        ]
        sel = min(self.selected, len(pb.traces) - 1)
        trace = pb.traces[sel] if pb.traces else None
        if trace is not None and len(trace.history) and self.model is not None:
            k = trace.cursor(pb.clock)
            params = trace.history.params[k - 1]
            if np.all(np.isfinite(params)):
                parts.append(f"{run_marker(sel)} {self.model.fitted_line(self.dataset, params)}")
        return " · ".join(parts)

    # --- size ---------------------------------------------------------------------------------------
    def apply_size(self) -> None:
        screen = self.main_screen
        if screen is None:
            return
        w, h = self.size
        small = w < MIN_SIZE[0] or h < MIN_SIZE[1]
        narrow = w < NARROW[0] or h < NARROW[1]
        if self.table_visible is None:
            self.table_visible = not narrow
        screen.set_class(small, "-too-small")
        screen.set_class(narrow, "-narrow")
        screen.set_class(not self.table_visible, "-no-table")
        if small:
            screen.query_one("#too-small", Static).update(
                f"The terminal is {w}×{h}; gdviz needs at least {MIN_SIZE[0]}×{MIN_SIZE[1]}.\n"
                f"Enlarge the window (or reduce the font size). q quits."
            )
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
        pb.step(self.selected)
        self.draw()

    def action_faster(self) -> None:
        self.playback.faster()
        self.draw()

    def action_slower(self) -> None:
        self.playback.slower()
        self.draw()

    def action_restart(self) -> None:
        speed = self.playback.speed_index
        if self.frozen:
            self.playback.clock = 0.0
            self.playback.playing = True
        else:
            self._stop_engine()
            self._load(self.scenario, self.dataset)
            self.playback.speed_index = speed
            self._start_engine()
            self._refresh_titles()
        self.draw(force=True)

    def _refresh_titles(self) -> None:
        for col in self.columns():
            if col.index < len(self.playback.infos):
                col.info = self.playback.infos[col.index]

    def action_cycle_x(self) -> None:
        self.x_axis = X_AXES[(X_AXES.index(self.x_axis) + 1) % len(X_AXES)]
        self.draw()

    def action_toggle_log(self) -> None:
        self.log_y = not self.log_y
        self.draw()

    def action_toggle_table(self) -> None:
        self.table_visible = not self.table_visible
        self.apply_size()

    def action_export(self) -> None:
        if self.model is None:
            self.notify("nothing to export yet: the engine has not started", severity="warning")
            return
        try:
            csv_path, json_path = export_history(
                self.playback, self.scenario, self.dataset, self.model, self.export_dir, self.target
            )
        except OSError as exc:
            self.notify(f"export failed: {exc}", severity="error")
            return
        self.last_export = (csv_path, json_path)
        self.notify(f"history written to\n{csv_path}\n{json_path}", title="exported")

    def action_screenshot(self) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = f"gdviz-{self.scenario.name}-{stamp}.svg"
        try:
            path = self.save_screenshot(name, path=str(self.export_dir))
        except OSError as exc:
            self.notify(f"screenshot failed: {exc}", severity="error")
            return
        self.last_screenshot = Path(path)
        self.notify(f"screenshot saved to\n{path}", title="screenshot")

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.target_note))

    def select_run(self, index: int) -> None:
        if self.playback.infos:
            self.selected = index % len(self.playback.infos)
            self.draw()

    def action_next_run(self) -> None:
        self.select_run(self.selected + 1)

    def action_prev_run(self) -> None:
        self.select_run(self.selected - 1)

    def action_fork(self) -> None:
        i = self.selected
        pb = self.playback
        trace = pb.traces[i]
        if not len(trace.history):
            self.notify("the engine has not started yet", severity="warning")
            return
        was_playing = pb.playing
        pb.playing = False
        self.push_screen(
            ForkScreen(pb.infos[i], self.n, pb.clock), callback=partial(self._fork_chosen, i, was_playing)
        )

    def _fork_chosen(self, i: int, was_playing: bool, settings: ForkSettings | None) -> None:
        pb = self.playback
        pb.playing = was_playing
        if settings is None:
            return
        self.fork_run(i, settings)

    def fork_run(self, i: int, settings: ForkSettings) -> None:
        """Fork run ``i`` at the playback clock with ``settings`` (the fork form's result)."""
        pb = self.playback
        trace = pb.traces[i]
        k = trace.cursor(pb.clock)
        h = trace.history
        epoch = float(h.epoch[k - 1])
        params = h.params[k - 1].copy()
        step, seconds = int(h.step[k - 1]), float(h.seconds[k - 1])
        info = pb.infos[i]
        remaining = max(info.epochs - epoch, 1.0 / max(info.updates_per_epoch, 1))
        trace.truncate(k)
        trace.offset_step, trace.offset_epoch, trace.offset_seconds = step, epoch, seconds
        self._forks[i] += 1
        self._proj_cache.pop(i, None)
        # Until the engine has made the fork: what it will be (the same facts, from its spec).
        planned = planned_run(i, forked_spec(self.scenario.runs[i], self.n, settings), n=self.n, d=self.d, p=self.p)
        pb.infos[i] = run_info(planned, forked_at=epoch)
        request = ForkRequest(i, params, remaining, settings, epoch)
        if self.frozen or self.driver is None:
            self._fork_sync(request)
        else:
            self.driver.requests.put(request)
        self.draw(force=True)
        self.notify(f"{info.name} forked at epoch {epoch:.3g}: lr {settings.learning_rate:g}, B={pb.infos[i].batch}, {settings.optimizer}")

    def _fork_sync(self, request: ForkRequest) -> None:
        """Frozen app: train the fork to its end right here (no worker)."""
        from gdviz.engine import Engine

        engine = Engine(self.scenario, self.dataset, target=self.requested_target)
        run, chunks = train_fork(engine, request, fixed_cost=self.frozen)
        for chunk in chunks:
            self.playback.traces[request.run].append(chunk)
        self.playback.infos[request.run] = run_info(run, forked_at=request.forked_at)

    # --- the command palette ----------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen):  # type: ignore[no-untyped-def]
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
            self.notify(exc.message, title=exc.title, severity="error")
            return
        self._stop_engine()
        self.selected = 0
        self._load(scenario, dataset)
        self.switch_screen(MainScreen(self.playback.infos))
        self.call_after_refresh(self._after_switch)

    def _after_switch(self) -> None:
        self.apply_size()
        if not self.frozen:
            self._start_engine()
        self.draw(force=True)

    async def action_quit(self) -> None:
        self._stop_engine()
        self.exit(0)

    def on_unmount(self) -> None:
        self._stop_engine()


def _nice_ceiling(v: float) -> float:
    """The smallest 1/2/5 × 10^k at or above ``v`` (an x range that changes rarely)."""
    if not v > 0:
        return 1e-3
    import math

    mag = 10.0 ** math.floor(math.log10(v))
    for m in (1, 2, 5, 10):
        if m * mag >= v:
            return m * mag
    return 10 * mag


def make_app(
    scenario,  # type: ignore[no-untyped-def]
    dataset,  # type: ignore[no-untyped-def]
    *,
    frozen: bool = False,
    fps: int = 30,
    clock: float | None = None,
    export_dir: Path | str | None = None,
    target: str = "cpu",
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
    """
    return GdvizApp(scenario, dataset, frozen=frozen, fps=fps, clock=clock, export_dir=export_dir, target=target)


def run_app(scenario, dataset, *, fps: int = 30, target: str = "cpu") -> int:  # type: ignore[no-untyped-def]
    """Run the app in the terminal; returns the exit code (the terminal is restored on every exit)."""
    import asyncio
    import sys

    app = make_app(scenario, dataset, fps=fps, target=target)
    # Our own loop, closed without waiting for the worker threads (asyncio.run would wait, with
    # the terminal already restored and nothing said): a stopped engine thread that is inside a
    # Numba compile (q on a cold cache) cannot be interrupted, so say why the exit waits for it.
    loop = asyncio.new_event_loop()
    try:
        result = app.run(loop=loop)
    finally:
        deadline = time.perf_counter() + 0.3
        if any(not d.finished.wait(max(0.0, deadline - time.perf_counter())) for d in app.drivers):
            sys.stderr.write("gdviz: waiting for Numba to finish compiling the kernels (cached for the next start)…\n")
            sys.stderr.flush()
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
    if app.return_code not in (None, 0):
        return int(app.return_code)
    return int(result or 0)
