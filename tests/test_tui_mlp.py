"""The app shows an MLP scenario like any other: columns on the path plane, the network's
description, export with the flat parameter names, a fork, and the live worker."""

from __future__ import annotations

import json

import pytest

from gdviz.data import build_dataset
from gdviz.scenario import parse_scenario
from gdviz.tui.app import make_app
from gdviz.tui.frozen import precompute
from gdviz.tui.main_screen import MainScreen
from gdviz.tui.panels import RunColumn
from gdviz.tui.screens import ForkScreen

SIZE = (200, 60)
MOONS = """
title = "small moons"
seed = 1
[data]
source = "moons"
n = 120
[model]
kind = "mlp"
hidden = [6]
activation = "tanh"
loss = "bce"
[train]
epochs = 8
learning_rate = 0.1
[[runs]]
batch_size = "full"
[[runs]]
batch_size = 1
[[runs]]
batch_size = 16
"""


@pytest.fixture(scope="module")
def moons():
    from pathlib import Path

    scenario = parse_scenario(MOONS, "moons_small.toml", Path("."))
    dataset = build_dataset(scenario)
    return scenario, dataset, precompute(scenario, dataset)


@pytest.fixture
def app(moons, tmp_path):
    scenario, dataset, pre = moons
    return make_app(scenario, dataset, frozen=True, clock=3.0, precomputed=pre, export_dir=tmp_path)


async def test_the_status_line_describes_the_network_and_the_surface_names_its_plane(app):
    async with app.run_test(size=SIZE):
        assert "mlp 2→6→1 tanh, 25 parameters" in app.status_text()
        assert "principal directions" in app.surface.title


async def test_export_writes_the_flat_parameter_names(app, tmp_path):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        csv_path, json_path = app.last_export
    header = csv_path.read_text().splitlines()[0].split(",")
    assert header[6:8] == ["W1[0][0]", "W1[0][1]"] and header[-2:] == ["Wo[5]", "bo"] and len(header) == 6 + 25
    doc = json.loads(json_path.read_text(), parse_constant=lambda c: pytest.fail(f"non-finite {c}"))
    assert all(len(r["final_params"]) == 25 for r in doc["runs"])


async def test_a_fork_of_an_mlp_run_trains_on(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("tab", "tab")
        await pilot.press("enter")
        assert isinstance(app.screen, ForkScreen)
        app.screen.query_one("#optimizer").value = "adam"
        app.screen.query_one("#lr").value = "0.01"
        await pilot.click("#fork-ok")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        h = app.playback.traces[3].history
        assert h.epoch[-1] == pytest.approx(8.0) and h.params.shape[1] == 25
        await pilot.pause()
        assert "⑂ lr 0.01 adam @ep 3" in app.screen.query_one("#run-3", RunColumn).border_title


async def test_the_live_app_trains_an_mlp(moons):
    scenario, dataset, _ = moons
    app = make_app(scenario, dataset, fps=60)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(300):
            await pilot.pause(0.05)
            if app.playback.clock > 0.2 and app.surface is not None:
                break
        assert all(len(t.history) > 1 for t in app.playback.traces)
        assert app.surface is not None and app.frames > 0
        await pilot.press("q")
    assert app.return_code == 0

