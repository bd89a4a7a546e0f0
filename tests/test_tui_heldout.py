"""Held-out data in the app: the dashed validation line in each run's loss panel, the ``v``
key that puts the validation loss on the comparison chart, and the export's column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gdviz.data import build_dataset
from gdviz.history import HistoryChunk
from gdviz.scenario import load_scenario, parse_scenario
from gdviz.tui.app import make_app
from gdviz.tui.frozen import precompute
from gdviz.tui.runinfo import RunInfo
from gdviz.tui.state import Playback
from gdviz.tui.views import ViewOptions, comparison_view, curve_spec

SIZE = (200, 60)
HELD = """title = "held"
seed = 2
[data]
source = "classes"
n = 60
validation = 0.25
[model]
kind = "logistic"
[train]
epochs = 4
learning_rate = 0.5
[[runs]]
batch_size = "full"
[[runs]]
batch_size = 9
"""


def playback(val: bool, updates_per_epoch: int = 2) -> Playback:
    """Two runs, 5 points each: loss 1/(1+e), validation loss 2/(1+e) (or none)."""
    infos = [RunInfo(index=i, name=f"run {i}", method="mini-batch", batch=4, updates_per_epoch=updates_per_epoch,
                     epochs=3, optimizer="sgd", learning_rate=0.1, memory_per_step=96, target_loss=None)
             for i in range(2)]  # fmt: skip
    pb = Playback(infos, p=2)
    e = np.linspace(0.0, 2.0, 5)
    for i in range(2):
        loss = 1.0 / (1.0 + e)
        pb.traces[i].append(HistoryChunk(i, (2 * e).astype(np.int64), e, e, loss, loss, np.zeros(5),
                                         np.zeros((5, 2)), False, None, 2.0 * loss if val else None))  # fmt: skip
    pb.clock = 1.0
    return pb


@pytest.mark.parametrize("per_epoch", [1, 2])
def test_loss_panel_draws_the_validation_loss_dashed_up_to_the_clock(per_epoch: int) -> None:
    spec = curve_spec(playback(True, per_epoch), 0, ViewOptions())
    val = [s for s in spec.series if s.label == "validation loss"]
    assert len(val) == 1 and val[0].pattern == "dashed"
    assert list(val[0].y) == pytest.approx([2.0, 2 / 1.5, 1.0])  # the points at or before epoch 1
    assert "dashed validation" in spec.title and spec.short_titles[-1] == "loss: full, val dashed"
    assert spec.y_range[1] >= np.log10(2.0)  # the axis covers the validation curve


def test_loss_panel_without_held_out_rows_is_unchanged() -> None:
    spec = curve_spec(playback(False), 0, ViewOptions())
    assert [s.label for s in spec.series] == ["minibatch loss", "full loss"]
    assert "validation" not in spec.title


def test_comparison_shows_the_validation_loss_when_asked() -> None:
    pb = playback(True)
    train = comparison_view(pb, ViewOptions())
    val = comparison_view(pb, ViewOptions(validation=True))
    assert train.title.startswith("full-dataset loss vs epochs") and "v: validation" in train.title
    assert val.title.startswith("validation loss vs epochs") and "v: training" in val.title
    assert list(val.series[0].y) == pytest.approx(2 * np.asarray(train.series[0].y))
    assert val.key != train.key
    assert "v:" not in comparison_view(playback(False), ViewOptions()).title


@pytest.fixture(scope="module")
def held():
    scenario = parse_scenario(HELD, "held.toml", Path("."))
    dataset = build_dataset(scenario)
    return scenario, dataset, precompute(scenario, dataset)


async def test_v_toggles_the_comparison_between_training_and_validation(held, tmp_path) -> None:
    scenario, dataset, pre = held
    app = make_app(scenario, dataset, frozen=True, precomputed=pre, export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        chart = app.screen.query_one("#comparison")
        assert chart.spec.title.startswith("full-dataset loss")
        await pilot.press("v")
        assert app.show_validation and chart.spec.title.startswith("validation loss")
        engine = pre[0]
        assert list(chart.spec.series[1].y) == list(engine.runs[1].history.val_loss)
        await pilot.press("v")
        assert not app.show_validation and chart.spec.title.startswith("full-dataset loss")
        await pilot.press("e")
        csv_path, _ = app.last_export
    header = csv_path.read_text().splitlines()[0]
    assert header == "run,step,epoch,seconds,loss,full_loss,val_loss,w_weight_kg,w_ear_length_cm,b"


async def test_v_without_held_out_rows_says_how_to_get_them(tmp_path) -> None:
    scenario = parse_scenario(HELD.replace("validation = 0.25\n", ""), "plain.toml", tmp_path)
    app = make_app(scenario, build_dataset(scenario), frozen=True, export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        await pilot.pause()
        assert not app.show_validation
        assert any("validation = 0.2" in str(n.message) for n in app._notifications)


def test_the_bundled_overfitting_scenario_holds_out_rows() -> None:
    scenario = load_scenario("overfitting")
    assert scenario.data.validation == 0.2 and scenario.data.validation_rows == "random"
