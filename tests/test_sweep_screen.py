"""The sweep screen (``gdviz sweep S``), driven by a Pilot, and the pieces it is drawn with.

A sweep of 60 cells on n = 200 (5 batch sizes x 6 learning rates x 2 seeds) keeps every test
short. Most tests use a frozen app (every cell trained before it starts, no worker); one runs
the live worker and checks that the screen fills in and ends where the runner ends.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from rich.color import Color, ColorSystem

from gdviz.sweep.cells import cell_scenario
from gdviz.sweep.report import fmt_lr, fmt_steps
from gdviz.sweep.result import DIVERGED
from gdviz.sweep.runner import SweepRunner
from gdviz.tui import sweep_app as SA
from gdviz.tui import sweep_views as V
from gdviz.tui.sweep_chart import Curve, LogLogChart, LogLogSpec, Rule
from gdviz.tui.sweep_heat import LEVELS, PALETTE, SWEEP_STOPS, lightness, needed_height, sweep_palette
from gdviz.tui.sweep_screen import KEYS, PANELS, SweepHelpScreen, SweepScreen
from sweep_setup import small_sweep


@pytest.fixture(scope="module")
def done_runner() -> SweepRunner:
    runner = small_sweep()
    runner.run_to_end()
    return runner


def frozen(runner: SweepRunner, state: SA.SweepState | None = None) -> SA.SweepApp:
    return SA.make_sweep_app(runner, frozen=True, state=state)


async def _until(pilot, condition, timeout: float = 60.0) -> bool:
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        if condition():
            return True
        await pilot.pause(0.05)
    return condition()


# --- the pieces ------------------------------------------------------------------------------------
def test_the_ramp_gets_lighter_at_every_level_in_truecolor_and_in_256_colours():
    """L* rises level by level, also once reduced to the 256-colour palette (tmux's default),
    where the 12 levels stay 12 distinct colours."""
    assert sweep_palette()[0] == SWEEP_STOPS[0] and sweep_palette()[-1] == SWEEP_STOPS[-1]
    shades = [lightness(c) for c in PALETTE]
    assert all(a < b for a, b in zip(shades, shades[1:]))
    reduced = [tuple(Color.from_rgb(*c).downgrade(ColorSystem.EIGHT_BIT).get_truecolor()) for c in PALETTE]
    shades = [lightness(c) for c in reduced]
    assert all(a < b for a, b in zip(shades, shades[1:])) and len(set(reduced)) == LEVELS


@pytest.mark.parametrize("x", [1, 3, 8.5, 9.96, 85.5, 171, 999.4, 999.6, 1400, 9999, 55_000, 999_600, 1.2e6, 3.4e7])
def test_steps_in_a_cell_take_at_most_four_characters(x):
    text = V.short_steps(x)
    assert len(text) <= 4
    scale = {"k": 1e3, "M": 1e6}.get(text[-1], 1.0)
    assert abs(float(text.rstrip("kM")) * scale - x) <= 0.051 * x  # within rounding of its digits


def test_lr_labels_go_from_the_reports_form_to_shorter_ones():
    labels = V.lr_labels(0.0021)
    assert labels[0] == fmt_lr(0.0021) and all(len(a) > len(b) for a, b in zip(labels, labels[1:]))
    assert V.lr_labels(3.0) == ("3",)


def _chart_rows(spec: LogLogSpec, width: int = 60, height: int = 20) -> list[str]:
    chart = LogLogChart()
    chart.spec = spec
    return ["".join(seg.text for seg in row) for row in chart.build(width, height)]


def test_log_log_points_land_at_their_decades_and_a_reversed_axis_mirrors_them():
    """Points (1, 1) and (100, 100) at the bottom-left and top-right of the plot; with the x
    axis reversed, (100, 100) is at the top-left. The rule's label is drawn."""
    spec = LogLogSpec((Curve(np.array([1.0, 100.0]), np.array([1.0, 100.0]), (255, 0, 0), "pts", marker="●"),),
                      (Rule("x", 10.0, "B_crit 10"),), title="t")  # fmt: skip
    rows = _chart_rows(spec)
    plot = rows[1:-1]
    assert plot[-1].index("●") < plot[0].index("●")  # bottom row: left; top row: right
    assert "B_crit 10" in plot[0] and all("┊" in r or "B_crit" in r for r in plot)
    flipped = _chart_rows(LogLogSpec(spec.curves, reverse_x=True, title="t"))[1:-1]
    assert flipped[0].index("●") < flipped[-1].index("●")
    assert "100" in _chart_rows(spec)[-1]  # decade ticks on the x axis


def test_the_legend_gets_a_row_of_its_own_when_it_does_not_fit_beside_the_title():
    curves = (Curve(np.array([1.0, 10.0]), np.array([1.0, 2.0]), (1, 2, 3), "first line"),
              Curve(np.array([1.0, 10.0]), np.array([2.0, 3.0]), (1, 2, 3), "second", pattern="dashed"))
    wide = _chart_rows(LogLogSpec(curves, title="a title"), width=80)
    narrow = _chart_rows(LogLogSpec(curves, title="a rather longer title here"), width=44)
    assert "first line" in wide[0] and "second" in wide[0]
    assert "first line" not in narrow[0] and "first line" in narrow[1]


def test_the_heat_map_is_brightest_where_the_fewest_steps_are(done_runner):
    fig = V.figures_of(done_runner.result())
    view = V.heat_view(fig, (0, 0), plain=False)
    from gdviz.tui.sweep_heat import levels

    lv = levels(view)
    med = fig.median
    cells = sorted(lv, key=lambda k: med[k])
    assert lv[cells[0]] == LEVELS - 1 and lv[cells[-1]] == 0
    assert all(lv[a] >= lv[b] for a, b in zip(cells, cells[1:]))  # monotone in the steps
    for i, j in np.ndindex(*med.shape):
        mark = fig.marks[i, j]
        assert view.kinds[i][j] == {"": "ok", DIVERGED: "diverged"}.get(mark, "not reached")


def test_the_status_line_gives_progress_and_time_left_then_the_sweeps_time(done_runner):
    import dataclasses

    res = done_runner.result()
    part = V.figures_of(dataclasses.replace(res, cells=res.cells[:10]))
    assert V.progress_text(part, total=60, eta=3.2) == "▶ 10 of 60 cells · about 3 s left"
    assert V.progress_text(None, total=60, phase="Preparing", phase_seconds=2.4) == "⏳ Preparing 2 s"
    fig = V.figures_of(res)
    assert V.progress_text(fig, total=60, seconds=2.0) == "■ 60 cells done in 2.0 s (30 cells/s)"
    assert V.progress_text(fig, total=60, seconds=None) == "■ 60 cells done"  # frozen: no clock
    note = V.closing_note(fig, 2.0)
    assert note.startswith("60 cells done in 2.0 s: ")
    assert f"B_crit = {V.fmt_b(res.fit.b_crit)} from the fit" in note
    assert f"B_simple at the target = {V.fmt_b(res.b_simple_at_target)}" in note


# --- the live app ---------------------------------------------------------------------------------------
async def test_the_screen_fills_in_and_ends_with_the_runners_best_cells_and_b_crit(monkeypatch):
    """The worker posts the cells as they end (the count grows, with time left), the status
    line says how long the sweep took, and the best cells and B_crit are those of the same
    sweep run headless."""
    monkeypatch.setattr(SA, "PROGRESS_EVERY", 0.0)  # a post per round: every step of the filling in
    seen: list[int] = []
    statuses: list[str] = []

    def hook(message):
        if isinstance(message, SA.SweepProgress):
            seen.append(len(message.figures.result.cells))

    app = SA.make_sweep_app(small_sweep())
    draw = app.draw

    def drawn() -> None:  # what the status line says at every frame
        draw()
        statuses.append(app.status_text())

    app.draw = drawn  # type: ignore[method-assign]
    async with app.run_test(size=(200, 60), message_hook=hook) as pilot:
        # (minutes only on a cold Numba cache: the worker compiles the kernels first)
        assert await _until(pilot, lambda: app.figures is not None and app.figures.done, timeout=300)
        await pilot.pause()
        status = app.status_text()
        heat = app.screen.heat.view
    reference = small_sweep().run_to_end()
    assert seen == sorted(seen) and seen[0] == 0 and seen[-1] == reference.total_cells and len(set(seen)) >= 3
    assert any(" of 60 cells" in s for s in statuses)
    assert status.startswith("■ 60 cells done in ") and "cells/s" in status
    got = app.figures.result
    assert [(b.batch, b.learning_rate, b.steps_to_target) for b in got.best] == \
           [(b.batch, b.learning_rate, b.steps_to_target) for b in reference.best]  # fmt: skip
    assert got.fit is not None and reference.fit is not None and got.fit.b_crit == reference.fit.b_crit
    lrs = reference.sweep["learning_rates"]
    assert heat is not None and heat.best == {(reference.batches.index(b.batch), lrs.index(b.learning_rate))
                                              for b in reference.best}  # fmt: skip
    assert any("cells done in" in n.message and "B_crit" in n.message for n in app._notifications)


# --- the cursor, the cell line, the trace ------------------------------------------------------------------
async def test_the_cursor_moves_with_arrows_and_hjkl_and_the_line_shows_the_cells_figures(done_runner):
    state = SA.SweepState(cursor=(2, 2), user_moved=True)
    app = frozen(done_runner, state)
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.press("down", "right", "l")
        assert state.cursor == (3, 4) and state.user_moved
        await pilot.press("k", "h", "up", "left", "left", "left", "left")  # held at the edge
        assert state.cursor == (1, 0)
        await pilot.press("j")
        i, j = state.cursor
        line = str(app.screen.text("cell").render())
    fig = app.figures
    med = fig.median[i, j]
    batch, lr = done_runner.batches[i], done_runner.spec.learning_rates[j]
    assert math.isfinite(med), "this cell reached the target (it is in the sweep's easy corner)"
    upe = fig.cells[(i, j)][0].cell.updates_per_epoch
    assert f"B {batch} · lr {fmt_lr(lr)}" in line
    assert f"median {fmt_steps(med)} steps = {med / upe:.3g} epochs = {fmt_steps(med * batch)} examples" in line
    steps = sorted(r.steps_to_target for r in fig.cells[(i, j)])
    assert f"per seed {fmt_steps(steps[0])}–{fmt_steps(steps[-1])} steps" in line or steps[0] == steps[-1]
    assert "2 seeds: 2 reached" in line


async def test_tab_and_a_click_on_the_table_leave_the_arrows_to_the_cursor(done_runner):
    """Nothing on the screen takes focus (a scrolling table would take the arrows)."""
    app = frozen(done_runner, SA.SweepState(cursor=(2, 2), user_moved=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.click("#table-box")
        await pilot.press("tab", "tab", "down", "right")
        assert app.focused is None and app.state.cursor == (3, 3)


async def test_a_click_on_a_cell_selects_it(done_runner):
    app = frozen(done_runner, SA.SweepState(cursor=(0, 0), user_moved=True))
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        gutter, width, rows = app.screen.heat._geometry
        await pilot.click("#heat", offset=(gutter + 4 * width + 2, 2 + 3 * rows))
        assert app.state.cursor == (3, 4)
        await pilot.click("#heat", offset=(1, 0))  # the title: no cell
        assert app.state.cursor == (3, 4)


async def test_b_jumps_to_the_best_lr_and_a_diverged_cell_says_so(done_runner):
    app = frozen(done_runner, SA.SweepState(cursor=(1, 5), user_moved=True))
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        i, j = app.state.cursor
        assert app.figures.marks[i, j] == DIVERGED  # lr 3 on batch 4
        assert "diverged (at step" in app.screen.text("cell").render().plain
        await pilot.press("b")
        assert app.state.cursor == (1, app.figures.best[1])
        assert "the best lr of this batch size" in app.screen.text("cell").render().plain


async def test_the_selected_cells_b_simple_trace_is_drawn_with_its_value_at_the_target(done_runner):
    app = frozen(done_runner)
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        cell = app.state.cursor
        assert cell == V.auto_cursor(app.figures)  # the best cell nearest B_crit until the user moves
        trace = app.state.traces[cell]
        spec = app.screen.noise.spec
        assert spec is not None and spec.reverse_x and len(spec.curves[0].x) == len(trace.step) > 10
        assert trace.b_simple_at_target is not None
        assert f"B_simple at the target = {V.fmt_b(trace.b_simple_at_target)} (this cell)" in \
               app.screen.text("noise-text").render().plain  # fmt: skip
        assert any(r.label.startswith("B_crit") for r in spec.rules)
        await pilot.press("b", "right", "right", "right", "right", "right")  # lr 3: diverged
        await pilot.pause()
        assert app.figures.marks[app.state.cursor] == DIVERGED and app.state.cursor in app.state.traces
        assert app.screen.text("noise-text").render().plain.startswith("this run diverged: no B_simple")


async def test_a_trace_that_fails_is_said_in_its_panel(done_runner, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("trace exploded")

    monkeypatch.setattr(SA, "cell_trace", broken)
    app = frozen(done_runner)
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        assert "B_simple could not be computed: RuntimeError: trace exploded" in app.screen.noise.spec.message
        await pilot.press("left")  # the screen goes on
        assert app.screen.noise.spec.message


async def test_a_failure_in_the_sweep_worker_shows_the_error_screen_and_q_quits(monkeypatch):
    import gdviz.engine
    from gdviz.tui.screens import ErrorScreen

    def broken(*args, **kwargs):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(gdviz.engine, "warm_up", broken)
    app = SA.make_sweep_app(small_sweep())
    async with app.run_test(size=(120, 40)) as pilot:
        assert await _until(pilot, lambda: isinstance(app.screen, ErrorScreen), timeout=10)
        assert "kernel exploded" in app.screen.error_title
        await pilot.press("q")
    assert app.return_code == 0 and app.finished.is_set()


# --- enter: the cell's runs in the main app ---------------------------------------------------------------
async def test_enter_ends_the_sweep_app_with_the_cell_whose_runs_the_main_app_trains(done_runner):
    app = frozen(done_runner, SA.SweepState(cursor=(2, 3), user_moved=True))
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.press("enter")
        await pilot.pause()
    assert app.open_cell == (2, 3) and app.return_code == 0
    scenario = cell_scenario(done_runner.scenario, *app.open_cell)
    spec = done_runner.spec
    assert [r.seed for r in scenario.runs] == list(spec.seeds)
    assert {(r.batch_size, r.train.learning_rate) for r in scenario.runs} == {(spec.batch_sizes[2], spec.learning_rates[3])}
    from gdviz.tui.app import make_app

    main = make_app(scenario, done_runner.engine.dataset, frozen=True)
    async with main.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        infos = main.playback.infos
        assert len(infos) == 2 and {(i.batch, i.learning_rate) for i in infos} == {(16, spec.learning_rates[3])}


def test_run_sweep_app_opens_the_cell_then_comes_back_to_the_sweep_with_its_state(done_runner):
    """enter -> the main app on the cell's runs (one per seed) -> q there -> the sweep screen
    again, cursor kept; a signal's exit code in the main app ends everything with that code."""
    apps: list[SA.SweepApp] = []
    opened = []

    def run(app):
        apps.append(app)
        if len(apps) == 1:
            app.state.cursor, app.state.user_moved = (1, 2), True
            app.open_cell = (1, 2)  # as enter does
        return 0

    def open_runs(scenario, dataset, *, notice):
        opened.append((scenario, notice))
        return 0

    assert SA.run_sweep_app(done_runner, run=run, open_runs=open_runs) == 0
    assert len(apps) == 2 and apps[1].state is apps[0].state and apps[1].state.cursor == (1, 2)
    (scenario, notice), = opened
    assert len(scenario.runs) == 2 and all(r.batch_size == 4 for r in scenario.runs)
    assert "q returns to the sweep screen" in notice
    apps.clear()
    assert SA.run_sweep_app(done_runner, run=run, open_runs=lambda *a, **k: 143) == 143


# --- keys, sizes, colours ---------------------------------------------------------------------------------------
async def test_help_lists_every_key_of_the_screen(done_runner):
    app = frozen(done_runner)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, SweepHelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, SweepScreen)
    helped = " ".join(k for k, _ in KEYS)
    for binding in SweepScreen.BINDINGS:
        for key in binding.key.split(","):
            name = {"question_mark": "?", "enter": "enter", "shift+tab": "tab", "up": "↑", "down": "↓",
                    "left": "←", "right": "→"}.get(key, key)  # fmt: skip
            assert name in helped, key


async def test_a_narrow_terminal_shows_one_panel_at_a_time_and_tab_reaches_each(done_runner):
    app = frozen(done_runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.narrow
        shown = []
        for _ in PANELS:
            boxes = [name for name, _ in PANELS if screen.query_one(f"#{name}-box").display
                     and screen.query_one(f"#{name}-box").parent.display]  # fmt: skip
            visible = [n for n in boxes if screen.query_one(f"#{n}-box").has_class("-active")]
            shown.append(visible)
            await pilot.press("tab")
        assert shown == [[name] for name, _ in PANELS]
        await pilot.press("3")
        await pilot.pause()
        assert app.state.panel == "noise" and app.screen.noise.size.height >= 12
        assert "".join(s.text for s in app.screen.noise._strips[1]).strip()  # drawn, not blank


async def test_a_wide_terminal_shows_every_panel(done_runner):
    app = frozen(done_runner)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert not app.screen.narrow
        for name, _ in PANELS:
            box = app.screen.query_one(f"#{name}-box")
            assert box.display and box.size.width >= 36, name
            assert box.size.height >= (needed_height(5) if name in ("heat", "table") else 12), name


async def test_a_tiny_terminal_says_it_is_too_small(done_runner):
    app = frozen(done_runner)
    async with app.run_test(size=(50, 15)) as pilot:
        await pilot.pause()
        assert app.screen.has_class("-too-small")
        assert "needs at least 64×20" in str(app.screen.text("too-small").render())
        await pilot.press("q")
    assert app.return_code == 0


async def test_no_color_keeps_the_numbers_and_marks_and_renders(done_runner, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = frozen(done_runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.plain and app.screen.heat.view.plain
        for key in ("2", "3", "4", "1"):
            await pilot.press(key)
            await pilot.pause()
            app.screen._compositor.render_update(full=True)  # through Textual's monochrome filter
        svg = app.export_screenshot()
        assert "*" in svg and "×" in svg


async def test_when_no_cell_reaches_the_target_the_map_shows_final_losses_and_says_why():
    runner = small_sweep(target=1e-6, epochs=3)
    app = frozen(runner)
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        heat = app.screen.heat.view
        assert heat.title.startswith("final loss (no cell reached the target")
        assert any(v is not None for row in heat.values for v in row)
        assert "B_crit undefined: no cell reached the target" in app.screen.scaling.spec.message
        assert "not reached in 3 epochs" in app.screen.text("cell").render().plain
