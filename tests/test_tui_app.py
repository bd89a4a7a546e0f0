"""The app, driven by a Pilot: every key binding, the fork form, errors, sizes.

Most tests use a frozen app (every run trained before the app starts, no timer, no worker)
with the clock part-way, so each key's effect is deterministic; a few run the live worker.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from gdviz.data import build_dataset
from gdviz.scenario import load_scenario
from gdviz.tui.app import make_app
from gdviz.tui.main_screen import MainScreen
from gdviz.tui.panels import RunColumn, StatsTable
from gdviz.tui.screens import ErrorScreen, ForkScreen, HelpScreen
from gdviz.tui.state import SPEEDS
from gdviz.tui.frozen import precompute

SIZE = (200, 60)


@pytest.fixture(scope="module")
def houses():
    scenario = load_scenario("houses")
    dataset = build_dataset(scenario)
    return scenario, dataset, precompute(scenario, dataset)


@pytest.fixture
def app(houses, tmp_path):
    scenario, dataset, pre = houses
    return make_app(scenario, dataset, frozen=True, clock=5.0, precomputed=pre, export_dir=tmp_path)


async def test_space_toggles_play_and_pause(app):
    async with app.run_test(size=SIZE) as pilot:
        assert not app.playback.playing
        await pilot.press("space")
        assert app.playback.playing
        await pilot.press("space")
        assert not app.playback.playing


async def test_dot_steps_to_the_selected_runs_next_point(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("space")
        await pilot.press("full_stop")
        assert not app.playback.playing
        assert app.playback.clock == 6.0  # full-batch records one point per epoch


async def test_plus_and_minus_change_the_speed(app):
    async with app.run_test(size=SIZE) as pilot:
        start = app.playback.speed
        await pilot.press("plus")
        assert app.playback.speed == SPEEDS[SPEEDS.index(start) + 1]
        await pilot.press("minus", "minus")
        assert app.playback.speed == SPEEDS[SPEEDS.index(start) - 1]
        assert f"{app.playback.speed:g}×" in app.status_text()


async def test_r_restarts_from_epoch_zero_and_says_so(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        assert app.playback.clock == 0.0
        assert any("restarted from epoch 0" in n.message for n in app._notifications)


async def test_exports_and_screenshots_go_into_the_out_directory_made_on_first_use(houses, tmp_path):
    scenario, dataset, pre = houses
    out = tmp_path / "gdviz-out" / "houses"
    app = make_app(scenario, dataset, frozen=True, precomputed=pre, export_dir=out)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e", "s")
        await pilot.pause()
    assert sorted(p.suffix for p in out.iterdir()) == [".csv", ".json", ".svg"]


async def test_x_cycles_the_comparison_axis(app):
    async with app.run_test(size=SIZE) as pilot:
        seen = [app.x_axis]
        for _ in range(3):
            await pilot.press("x")
            seen.append(app.x_axis)
        assert seen == ["epochs", "updates", "seconds", "epochs"]


async def test_l_toggles_the_log_scale(app):
    async with app.run_test(size=SIZE) as pilot:
        assert app.log_y
        await pilot.press("l")
        assert not app.log_y
        assert app.screen.query_one("#comparison").spec.log_y is False


async def test_t_hides_and_shows_the_table(app):
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(StatsTable)
        assert table.display
        await pilot.press("t")
        await pilot.pause()
        assert not table.display
        await pilot.press("t")
        await pilot.pause()
        assert table.display


async def test_e_exports_csv_and_json_named_after_the_scenario(app, tmp_path):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        csv_path, json_path = app.last_export
    assert csv_path == tmp_path / "gdviz-houses-history.csv"
    doc = json.loads(json_path.read_text(), parse_constant=lambda c: pytest.fail(f"non-finite {c}"))
    assert [r["name"] for r in doc["runs"]] == ["full-batch", "stochastic", "mini-batch 32"]
    assert doc["runs"][0]["history"]["epoch"][-1] == 30.0
    facts = [(r["updates_per_epoch"], r["memory_per_step"]) for r in doc["runs"]]
    assert facts == [(i.updates_per_epoch, i.memory_per_step) for i in app.playback.infos]
    header = csv_path.read_text().splitlines()[0]
    assert header == "run,step,epoch,seconds,loss,full_loss,w_size_sqft,b"


async def test_s_saves_an_svg_screenshot(app, tmp_path):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        path = app.last_screenshot
    assert path.parent == tmp_path and path.suffix == ".svg"
    assert path.read_text().lstrip().startswith("<svg")


async def test_question_mark_opens_the_help_and_escape_closes_it(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_q_quits_with_code_zero(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
    assert app.return_code == 0


async def test_tab_and_arrows_select_a_run(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("tab")
        assert app.selected == 1
        await pilot.press("right", "right")
        assert app.selected == 0
        await pilot.press("left")
        assert app.selected == 2
        assert app.screen.query_one("#run-2", RunColumn).has_class("selected")


def posted(seen, kind) -> list:
    """The distinct messages of ``kind`` in a message hook's record (one per bubbling step)."""
    return list({id(m): m for m in seen if isinstance(m, kind)}.values())


async def test_clicking_a_run_column_posts_run_selected_and_the_app_selects_it(app):
    seen = []
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        assert app.selected == 0
        await pilot.click("#run-2")
        await pilot.pause()
        assert [m.index for m in posted(seen, RunColumn.RunSelected)] == [2]
        assert app.selected == 2
        assert app.screen.query_one("#run-2", RunColumn).has_class("selected")
        assert not app.screen.query_one("#run-0", RunColumn).has_class("selected")
        assert app.status_text().split(" · ")[-1].startswith("■ price = ")  # the selected run's model


async def test_a_click_on_the_curve_selects_its_column_too(app):
    """Clicks anywhere in a column (here its loss curve) bubble up to the column."""
    seen = []
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await pilot.click("#run-1 .curve")
        await pilot.pause()
        assert [m.index for m in posted(seen, RunColumn.RunSelected)] == [1]
        assert app.selected == 1


async def test_the_fork_form_rejects_a_bad_learning_rate(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        app.screen.query_one("#lr").value = "fast"
        await pilot.click("#fork-ok")
        assert isinstance(app.screen, ForkScreen)
        assert "learning rate" in str(app.screen.query_one("#fork-error").render())
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        assert len(app.playback.infos) == 3


async def test_a_small_terminal_gets_a_message(app):
    async with app.run_test(size=(50, 15)) as pilot:
        await pilot.pause()
        assert app.screen.has_class("-too-small")
        assert "50×15" in str(app.screen.query_one("#too-small").render())
        await pilot.resize_terminal(200, 60)
        await pilot.pause()
        assert not app.screen.has_class("-too-small")


async def test_a_narrow_terminal_shows_one_column_at_a_time(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        shown = [c.index for c in app.screen.query(RunColumn) if c.display and c.has_class("selected")]
        assert app.screen.has_class("-narrow") and shown == [0]
        await pilot.press("tab")
        await pilot.pause()
        assert app.screen.query_one("#run-1", RunColumn).region.width > 0
        assert app.screen.query_one("#run-0", RunColumn).region.width == 0


async def test_a_diverged_run_says_so_in_its_column(tmp_path):
    scenario = load_scenario("lr_too_large")
    dataset = build_dataset(scenario)
    app = make_app(scenario, dataset, frozen=True, export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        diverged = [i for i, t in enumerate(app.playback.traces) if t.diverged_step is not None]
        assert diverged
        col = app.screen.query_one(f"#run-{diverged[0]}", RunColumn)
        assert col.border_subtitle.startswith("diverged at step ")
        assert "diverged at step" in col.surface_view.frame.message


async def test_the_status_line_shows_the_selected_runs_fitted_model_in_original_units(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("tab")
        h = app.playback.traces[1].history
        params = h.params[app.playback.traces[1].cursor(app.playback.clock) - 1]
        line = app.model.fitted_line(app.dataset, params)
        assert line.startswith("price = ") and "·size_sqft + " in line
        assert app.status_text().endswith(f"◆ {line}")


async def test_the_palette_offers_the_bundled_scenarios(app):
    async with app.run_test(size=SIZE):
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Open scenario: lr_too_large" in titles


async def test_opening_another_scenario_rebuilds_the_columns(app):
    async with app.run_test(size=SIZE) as pilot:
        app.open_scenario("optimizers")
        await pilot.pause()
        await pilot.pause()
        assert app.scenario.name == "optimizers"
        assert len(app.screen.query(RunColumn)) == len(app.scenario.runs)


async def test_the_live_app_plays_chunks_from_the_worker(houses):
    scenario, dataset, _ = houses
    app = make_app(scenario, dataset, fps=60)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(200):
            await pilot.pause(0.05)
            if app.playback.clock > 0.2:
                break
        assert app.playback.clock > 0.2
        assert all(len(t.history) > 1 for t in app.playback.traces)
        assert app.surface is not None and app.frames > 0
        await pilot.press("q")
    assert app.return_code == 0


async def _until(pilot, condition, timeout: float = 30.0) -> bool:
    """Let the app run until ``condition()`` holds (polled every 20 ms, at most ``timeout`` s)."""
    for _ in range(int(timeout / 0.02)):
        if condition():
            return True
        await pilot.pause(0.02)
    return condition()


async def test_enter_forks_a_run_of_the_live_app_and_it_continues_with_the_new_settings(houses):
    scenario, dataset, _ = houses
    # A low frame rate leaves the process idle between frames, which is what Pilot.press
    # waits for after each key (up to 1 s a key at 60 frames/s while the clock runs).
    app = make_app(scenario, dataset, fps=10)
    async with app.run_test(size=SIZE) as pilot:
        pb = app.playback
        # Playing, with the stochastic run past its first recorded points (a fork from there).
        assert await _until(pilot, lambda: not app.phase and pb.clock > 0.1 and all(len(t.history) > 1 for t in pb.traces))
        assert pb.playing and not app.frozen and app.driver is not None
        await pilot.press("tab")  # stochastic, learning rate 0.1
        await pilot.press("enter")
        assert isinstance(app.screen, ForkScreen)
        assert not pb.playing  # the clock waits while the form is open
        lr = app.screen.query_one("#lr")
        assert await _until(pilot, lambda: app.focused is lr, timeout=5.0)
        lr.value = ""
        await pilot.press(*"0.003", "enter")  # type a learning rate; enter submits the form
        assert isinstance(app.screen, MainScreen)
        assert pb.playing
        driver = app.driver

        def continued() -> bool:  # the worker made the fork, and its points arrive after the fork point
            if len(pb.traces) < 4:
                return False
            h, info = pb.traces[3].history, pb.infos[3]
            return len(h) > info.start + 2 and float(h.epoch[-1]) > info.forked_at + 0.05

        assert await _until(pilot, continued)
        fork = driver.engine.runs[3]
        assert (fork.batch, fork.spec.train.optimizer, fork.spec.train.learning_rate) == (1, "sgd", 0.003)
        assert driver.engine.runs[1].spec.train.learning_rate == 0.1  # the parent is left as it was
        info = pb.infos[3]
        assert (info.learning_rate, info.batch, info.parent) == (0.003, 1, 1) and info.forked_at > 0
        h = pb.traces[3].history
        assert np.all(np.diff(h.epoch) > 0)  # the curve continues from the fork point, not from zero
        parent = pb.traces[1].history
        np.testing.assert_array_equal(h.params[: info.start + 1], parent.params[: info.start + 1])
        assert await _until(pilot, lambda: float(pb.traces[1].history.epoch[-1]) > info.forked_at + 0.05)
        await pilot.pause()
        title = app.screen.query_one("#run-3", RunColumn).border_title
        assert "lr 0.003" in title and "⑂" in title
        await pilot.press("q")
    assert app.return_code == 0


async def test_the_status_line_says_where_the_engine_computes(houses):
    """``auto`` never picks Numba's CUDA simulator (on in the tests): the CPU, with a note in the
    help screen but no warning mark, since having no GPU to use is not a fallback."""
    scenario, dataset, _ = houses
    app = make_app(scenario, dataset, fps=10, target="auto")
    async with app.run_test(size=SIZE) as pilot:
        assert await _until(pilot, lambda: not app.phase and app.target_label != "")
        status = app.status_text()
        assert app.target == "cpu" and "cpu (" in status and " threads)" in status
        assert "fell back" not in status and "⚠" not in status and "simulator" in app.target_note
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        note = str(app.screen.query(".help-about").last().render())
        assert app.target_note in note and "⚠" not in note
        await pilot.press("escape", "q")
    assert app.return_code == 0


async def test_a_real_fallback_is_marked_in_the_status_line(houses):
    """A GPU that could not be used (here: a CUDA failure at run time) is marked with a warning."""
    scenario, dataset, _ = houses
    app = make_app(scenario, dataset, fps=10, target="cpu")
    async with app.run_test(size=SIZE) as pilot:
        assert await _until(pilot, lambda: not app.phase and app.target_label != "")
        app._set_target("cpu", app.target_label, "CUDA failed at run time (CudaError: boom); continued on the CPU")
        assert "⚠ fell back to CPU" in app.status_text()
        await pilot.press("q")
    assert app.return_code == 0


async def test_an_exception_in_the_worker_shows_an_error_screen(houses, monkeypatch):
    import gdviz.engine

    def broken(dtypes):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(gdviz.engine, "warm_up", broken)
    scenario, dataset, _ = houses
    app = make_app(scenario, dataset)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(100):
            await pilot.pause(0.02)
            if isinstance(app.screen, ErrorScreen):
                break
        assert isinstance(app.screen, ErrorScreen)
        assert "kernel exploded" in app.screen.error_title
        await pilot.press("q")
    assert app.return_code == 0


async def test_r_on_the_error_screen_restarts_the_engine(houses, monkeypatch):
    import gdviz.engine

    def broken(dtypes):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(gdviz.engine, "warm_up", broken)
    scenario, dataset, _ = houses
    app = make_app(scenario, dataset)
    async with app.run_test(size=SIZE) as pilot:
        assert await _until(pilot, lambda: isinstance(app.screen, ErrorScreen), timeout=5.0)
        assert app.generation == 1
        await pilot.press("r")
        assert app.generation == 2  # dismissed with True: the app restarted the runs
        assert await _until(pilot, lambda: isinstance(app.screen, ErrorScreen), timeout=5.0)
        await pilot.press("q")
    assert app.return_code == 0


async def test_no_color_draws_contours_markers_and_line_styles(houses, monkeypatch):
    """NO_COLOR: the heat map becomes contour lines and every frame still renders."""
    monkeypatch.setenv("NO_COLOR", "1")
    scenario, dataset, pre = houses
    app = make_app(scenario, dataset, frozen=True, clock=5.0, precomputed=pre)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.plain
        assert app.screen.query_one(RunColumn).surface_view.frame.contours
        app.screen._compositor.render_update(full=True)  # through Textual's monochrome filter
        svg = app.export_screenshot()
        assert "╍╍" in svg or "&#9549;" in svg  # the legend shows each run's line style
        await pilot.press("x", "l", "space")
        await pilot.pause(0.1)

