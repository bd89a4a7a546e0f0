"""Forks in the app (frozen, driven by a Pilot): a new run and column beside the parent,
marked on the charts, dropped by r; a finished run forks for the epochs asked for."""

from __future__ import annotations

import numpy as np
import pytest

from gdviz.data import build_dataset
from gdviz.scenario import load_scenario
from gdviz.tui.app import make_app
from gdviz.tui.frozen import precompute
from gdviz.tui.main_screen import MainScreen
from gdviz.tui.panels import RunColumn
from gdviz.tui.screens import ForkScreen

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


async def test_enter_forks_the_selected_run_into_a_new_run_beside_it(app):
    async with app.run_test(size=SIZE) as pilot:
        pb = app.playback
        before = pb.traces[2].history.params.copy()
        await pilot.press("tab", "tab")  # mini-batch 32
        await pilot.press("enter")
        assert isinstance(app.screen, ForkScreen)
        assert app.screen.query_one("#epochs").value == "25"  # what the run has left after epoch 5
        app.screen.query_one("#lr").value = "0.02"
        app.screen.query_one("#batch").value = "8"
        app.screen.query_one("#optimizer").value = "adam"
        await pilot.click("#fork-ok")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        np.testing.assert_array_equal(pb.traces[2].history.params, before)  # the parent keeps its trajectory
        assert pb.infos[2].parent is None and pb.infos[2].batch == 32
        info = pb.infos[3]
        assert (info.batch, info.optimizer, info.learning_rate, info.forked_at, info.parent) == (8, "adam", 0.02, 5.0, 2)
        assert info.name == "mini-batch 32 ⑂ lr 0.02 B=8 adam @ep 5"
        h = pb.traces[3].history
        assert h.epoch[-1] == pytest.approx(30.0)  # the fork trains the remaining epochs
        assert (h.epoch[h.epoch > 5.0][:1] - 5.0) * 25 == pytest.approx(1.0)  # 25 updates/epoch now
        np.testing.assert_array_equal(h.params[: info.start + 1], before[: info.start + 1])  # from the parent's point
        await pilot.pause()
        column = app.screen.query_one("#run-3", RunColumn)
        assert "mini-batch 32 ⑂ lr 0.02 B=8 adam @ep 5" in column.border_title
        assert any("a new run beside it" in n.message for n in app._notifications)
        # the fork mark: on the parent's curve and on the comparison chart, at epoch 5
        marks = app.screen.query_one("#run-2", RunColumn).curve.spec.marks
        assert [(m.x, m.glyph) for m in marks] == [(5.0, "⑂")]
        assert [(m.x, m.glyph) for m in app.screen.comparison.spec.marks] == [(5.0, "⑂")]
        await pilot.press("r")
        await pilot.pause()
        assert len(pb.infos) == 3 and len(app.screen.columns) == 3
        assert any("forks dropped: mini-batch 32 ⑂ lr 0.02 B=8 adam @ep 5" in n.message for n in app._notifications)


async def test_a_finished_run_is_forked_for_the_epochs_asked_for(houses, tmp_path):
    """At its end a run still forks: the new run trains from the end point (as many epochs as
    the run itself trained, unless the form says otherwise)."""
    scenario, dataset, pre = houses
    app = make_app(scenario, dataset, frozen=True, precomputed=pre, export_dir=tmp_path)  # clock at the end
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        assert isinstance(app.screen, ForkScreen)
        assert app.screen.query_one("#epochs").value == "30"
        app.screen.query_one("#epochs").value = "5"
        app.screen.query_one("#lr").value = "0.01"
        await pilot.click("#fork-ok")
        await pilot.pause()
        pb = app.playback
        assert len(pb.infos) == 4 and pb.infos[3].parent == 0 and pb.infos[3].forked_at == 30.0
        assert pb.traces[3].history.epoch[-1] == pytest.approx(35.0)
        assert pb.infos[3].name == "full-batch ⑂ lr 0.01 @ep 30"
        assert len(app.screen.columns) == 4
