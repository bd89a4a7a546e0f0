"""Seed ensembles and B_simple in the app, driven by a Pilot: one column per ensemble (a cloud
and a band), its table row, the b key, and selection, forks and exports of an ensemble."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from gdviz.data import build_dataset
from gdviz.scenario import parse_scenario
from gdviz.tui.app import make_app
from gdviz.tui.ensembles import median_member
from gdviz.tui.frozen import precompute
from gdviz.tui.inspector import InspectorScreen
from gdviz.tui.main_screen import MainScreen
from gdviz.tui.panels import RunColumn, StatsTable
from gdviz.tui.screens import ForkScreen, HelpScreen

SIZE = (200, 60)
SEEDS = """title = "seed ensembles"
seed = 3
[data]
source = "houses"
n = 60
features = ["size_sqft"]
standardize = true
standardize_target = true
[model]
kind = "linear"
init = [-1.0, 1.5]
[train]
epochs = 6
learning_rate = 0.1
target_loss = 0.3
seeds = 4
[[runs]]
name = "full"
batch_size = "full"
[[runs]]
name = "sgd"
batch_size = 1
[[runs]]
name = "mini"
batch_size = 16
"""


@pytest.fixture(scope="module")
def seeds():
    scenario = parse_scenario(SEEDS, "seeds.toml", Path("."))
    dataset = build_dataset(scenario)
    return scenario, dataset, precompute(scenario, dataset)


@pytest.fixture
def app(seeds, tmp_path):
    scenario, dataset, pre = seeds
    return make_app(scenario, dataset, frozen=True, clock=3.0, precomputed=pre, export_dir=tmp_path)


def text_of(widget) -> str:
    return "\n".join(widget.render_line(y).text for y in range(widget.size.height))


async def test_each_ensemble_is_one_column_with_a_cloud_and_a_band(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        columns = app.screen.query(RunColumn)
        assert len(app.playback.traces) == 1 + 4 + 4 and len(columns) == 3
        titles = [str(c.border_title) for c in columns]
        assert titles[0].startswith("● full (4 seeds: 1 run)") and "never shuffled" in str(columns[0].border_subtitle)
        assert titles[1].startswith("◆ sgd (4 seeds)") and titles[2].startswith("■ mini (4 seeds)")
        sgd = columns[1].view
        assert len(sgd.surface.cloud.paths) == 4 and sgd.surface.path.xy.shape == (1, 2)  # the median seed
        assert len(sgd.curve.bands) == 1 and "10–90% band of 4 seeds" in sgd.curve.title
        assert columns[0].view.surface.cloud is None and not columns[0].view.curve.bands


async def test_the_comparison_has_one_curve_per_column_and_a_band_per_ensemble(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        spec = app.screen.query_one("#comparison").spec
        assert len(spec.series) == 3 and len(spec.bands) == 2
        assert "◆ sgd (4 seeds)" in spec.title and "■ mini (4 seeds)" in spec.title


async def test_the_table_has_a_row_per_column_with_spreads_and_b_simple(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.query_one(StatsTable)
        rows = table.view.rows
        assert [r[0] for r in rows] == ["full (1 run)", "sgd (4 seeds)", "mini (4 seeds)"]
        assert all("[" in r[7] and "–" in r[7] for r in rows[1:])  # full loss: median [p10–p90]
        drawn = text_of(table)
        assert "B_simple" in drawn and "sgd (4 seeds)" in drawn and "[" in drawn


async def test_b_switches_the_comparison_to_b_simple_and_back(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        chart = app.screen.query_one("#comparison")
        await pilot.press("l")  # a linear loss axis: B_simple is still drawn on a log axis
        await pilot.press("b")
        assert app.show_b_simple and chart.spec.title.startswith("B_simple = tr(Σ)/|G|²") and chart.spec.log_y
        assert len(chart.spec.series) == 3 and len(chart.spec.bands) == 2
        await pilot.press("x")
        assert chart.spec.title.startswith("B_simple = tr(Σ)/|G|² vs updates")
        await pilot.press("b")
        assert not app.show_b_simple and chart.spec.title.startswith("full-dataset loss") and not chart.spec.log_y


async def test_tab_selects_columns_and_an_ensemble_stands_for_its_median_seed(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("tab")
        assert app.selected == 1
        status = app.status_text()
        assert "◆ median seed: price = " in status
        await pilot.press("tab", "tab")
        assert app.selected == 0


async def test_enter_forks_the_median_seed_into_a_lone_column_and_r_drops_it(app):
    async with app.run_test(size=SIZE) as pilot:
        pb = app.playback
        await pilot.press("tab")  # sgd (4 seeds)
        median = median_member(pb, pb.columns[1])
        await pilot.press("enter")
        assert isinstance(app.screen, ForkScreen) and app.screen.info.name == pb.infos[median].name
        assert app.screen.of == "sgd (4 seeds)"
        app.screen.query_one("#lr").value = "0.02"
        await pilot.click("#fork-ok")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        # one new run (the median seed's fork), in one new column after the others
        assert len(pb.traces) == 1 + 4 + 4 + 1 and len(pb.columns) == 4 and pb.columns[3].runs == (9,)
        fork = pb.infos[9]
        assert (fork.parent, fork.learning_rate, fork.forked_at) == (median, 0.02, 3.0)
        assert fork.spec.seed == pb.infos[median].spec.seed and fork.spec.ensemble is None
        assert pb.traces[9].history.epoch[-1] == pytest.approx(6.0)
        # the ensemble itself is left as it was: every seed ends at epoch 6 with its own settings
        for i in pb.columns[1].runs:
            assert (pb.infos[i].learning_rate, pb.infos[i].parent) == (0.1, None)
            assert pb.traces[i].history.epoch[-1] == pytest.approx(6.0)
        await pilot.pause()
        columns = app.screen.query(RunColumn)
        assert len(columns) == 4 and "⑂ lr 0.02" in str(columns[3].border_title)
        assert "(4 seeds)" in str(columns[1].border_title)
        # ⑂ where the median seed left: on the ensemble's loss panel and on the comparison chart
        assert [(m.x, m.glyph) for m in columns[1].view.curve.marks] == [(3.0, "⑂")]
        assert [(m.x, m.glyph) for m in app.screen.comparison.spec.marks] == [(3.0, "⑂")]
        assert len(app.screen.query_one(StatsTable).view.rows) == 4
        await pilot.press("r")
        await pilot.pause()
        assert len(pb.traces) == 9 and len(pb.columns) == 3 and len(app.screen.query(RunColumn)) == 3
        assert any("forks dropped: " + fork.name in n.message for n in app._notifications)


async def test_i_inspects_the_median_seed_of_an_ensemble(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("tab")  # sgd (4 seeds)
        median = median_member(app.playback, app.playback.columns[1])
        await pilot.press("i")
        assert isinstance(app.screen, InspectorScreen) and app.screen.info.name == app.playback.infos[median].name


async def test_export_writes_every_seed_as_its_own_run(app, tmp_path):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        csv_path, json_path = app.last_export
    names = {row["run"] for row in csv.DictReader(csv_path.open())}
    assert names == {"full", *(f"sgd · seed {s}" for s in range(3, 7)), *(f"mini · seed {s}" for s in range(3, 7))}
    runs = json.loads(json_path.read_text())["runs"]
    assert [(r["ensemble"], r["seed"]) for r in runs[:3]] == [("full", 3), ("sgd", 3), ("sgd", 4)]


async def test_the_help_says_how_to_read_an_ensemble_and_why_seeds_are_one_run(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "median seed" in " ".join(str(s.render()) for s in app.screen.query("Static"))
        assert app.screen.ensembles == ("full: 4 seeds are one run: a full batch is never shuffled, so every seed "
                                        "gives the same path",)  # fmt: skip


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_ensembles_fit_smaller_terminals(seeds, tmp_path, size):
    scenario, dataset, pre = seeds
    app = make_app(scenario, dataset, frozen=True, clock=3.0, precomputed=pre, export_dir=tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        if size == (80, 24):
            await pilot.press("tab", "t")  # one column at a time; the table on demand
            await pilot.pause()
        column = app.screen.query_one(f"#run-{app.selected}", RunColumn)
        assert "(4 seeds" in str(column.border_title)
        table = text_of(app.screen.query_one(StatsTable))
        assert "sgd (4 seeds)" in table and "…" not in table  # columns left out or wrapped, not cut


async def test_no_color_draws_the_cloud_with_shade_characters(seeds, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    scenario, dataset, pre = seeds
    app = make_app(scenario, dataset, frozen=True, clock=3.0, precomputed=pre, export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        surface = text_of(app.screen.query_one("#run-1", RunColumn).surface_view)
        assert any(ch in surface for ch in "░▒▓█") and "◆" in surface


async def _until(pilot, condition, timeout: float = 30.0) -> bool:
    """Let the app run until ``condition()`` holds (polled every 20 ms, at most ``timeout`` s)."""
    for _ in range(int(timeout / 0.02)):
        if condition():
            return True
        await pilot.pause(0.02)
    return condition()


async def test_the_live_worker_forks_the_median_seed_of_an_ensemble(seeds):
    scenario, dataset, _ = seeds
    app = make_app(scenario, dataset, fps=10)
    async with app.run_test(size=SIZE) as pilot:
        pb = app.playback
        assert await _until(pilot, lambda: not app.phase and pb.clock > 0.1 and all(len(t.history) > 1 for t in pb.traces))
        await pilot.press("tab", "enter")  # sgd (4 seeds)
        assert isinstance(app.screen, ForkScreen)
        median = app.screen.info.index
        assert median in pb.columns[1].runs and app.screen.of == "sgd (4 seeds)"
        lr = app.screen.query_one("#lr")
        assert await _until(pilot, lambda: app.focused is lr, timeout=5.0)
        lr.value = ""
        await pilot.press(*"0.003", "enter")
        driver = app.driver

        def continued() -> bool:  # the worker made the fork; it has a column; its points arrive
            if len(pb.traces) < 10 or len(app.screen.query(RunColumn)) < 4:
                return False
            h, info = pb.traces[9].history, pb.infos[9]
            return len(h) > info.start + 2 and float(h.epoch[-1]) > info.forked_at + 0.05

        assert await _until(pilot, continued)
        fork = driver.engine.runs[9]
        assert fork.spec.train.learning_rate == 0.003 and fork.spec.seed == driver.engine.runs[median].spec.seed
        assert pb.infos[9].parent == median and pb.columns[3].runs == (9,) and len(pb.columns) == 4
        assert all(driver.engine.runs[i].spec.train.learning_rate == 0.1 for i in range(9))  # the seeds go on
        await pilot.press("q")
    assert app.return_code == 0
