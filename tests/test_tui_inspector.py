"""The inspector (``i``, then ``.``), driven by a Pilot on frozen apps."""

from __future__ import annotations

import numpy as np
import pytest

from gdviz.data import build_dataset
from gdviz.scenario import load_scenario
from gdviz.tui.app import make_app
from gdviz.tui.fork import ForkSettings
from gdviz.tui.frozen import precompute
from gdviz.tui.inspector import InspectorScreen
from gdviz.tui.main_screen import MainScreen

SIZE = (200, 60)


async def _open(pilot) -> InspectorScreen:
    """Press i and wait until the inspector's replay has caught up with the run."""
    await pilot.press("i")
    screen = pilot.app.screen
    assert isinstance(screen, InspectorScreen)
    for _ in range(500):
        if screen.ready:
            return screen
        await pilot.pause(0.01)
    raise AssertionError("the inspector's replay did not catch up")


def _app(name: str, clock: float):
    scenario = load_scenario(name)
    dataset = build_dataset(scenario)
    return make_app(scenario, dataset, frozen=True, clock=clock, precomputed=precompute(scenario, dataset))


async def test_four_houses_first_updates_by_hand():
    """The scenario's hand calculation, line by line; each . is exactly one update."""
    app = _app("four_houses", 0.0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot)
        assert screen.current is None and "no update yet" in screen.body_text()
        await pilot.press("full_stop")
        ex = screen.current
        assert ex.step == 1 and list(ex.rows) == [0] and app.playback.clock == 0.25
        text = screen.body_text()
        for figure in ("update 1 of 200", "1.1", "1.99", "-1.99", "-4.378", "-3.98", "-0.4378", "-0.398", "0.4378",
                       "0.398", "after = before − lr·g"):
            assert figure in text, figure
        np.testing.assert_allclose(ex.grad, ex.kernel_grad, rtol=0, atol=1e-12)
        await pilot.press("full_stop")
        assert screen.current.step == 2 and list(screen.current.rows) == [1] and app.playback.clock == 0.5
        assert "1.01092" in screen.body_text()  # house 2's prediction: 0.4378·1.4 + 0.398
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen) and not app.playback.playing


async def test_the_inspector_starts_at_the_clock_and_shows_original_units():
    app = _app("houses", 5.0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("space")  # playing: i pauses
        await pilot.press("tab")  # stochastic
        screen = await _open(pilot)
        assert not app.playback.playing
        assert screen.current.step == 1000  # 5 epochs of 200 houses
        await pilot.press("full_stop")
        ex = screen.current
        assert ex.step == 1001 and app.playback.clock == pytest.approx(1001 / 200)
        text = screen.body_text()
        assert "rows in original units" in text and "x1 = size_sqft" in text
        size = ex.X[0, 0] * app.dataset.x_scale[0] + app.dataset.x_mean[0]
        assert size > 300 and f"{size:.6g}" in text  # the house's size in square feet, not z-scored


async def test_a_fork_is_inspected_from_its_fork_point():
    app = _app("houses", 30.0)
    async with app.run_test(size=SIZE) as pilot:
        app.fork_run(0, ForkSettings(learning_rate=0.05, batch_size=32, optimizer="adam", epochs=2))
        await pilot.pause()
        app.select_run(3)
        app.playback.clock = 30.0  # at the fork point: the fork has made no update yet
        screen = await _open(pilot)
        assert screen.current is None
        await pilot.press("full_stop")
        ex = screen.current
        assert ex.step == 31 and ex.batch == 32 and ex.optimizer == "adam"  # its parent's 30 updates, then its first
        assert [b[0] for b in ex.buffers] == ["exp_avg", "exp_avg_sq"]
        h = app.playback.traces[3].history
        np.testing.assert_array_equal(ex.after, h.params[int(np.searchsorted(h.step, 31))])
        assert app.playback.clock == pytest.approx(30 + 1 / 7)
