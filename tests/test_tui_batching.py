"""The app shows the batch size in force: a batch schedule's at the playback clock, and the
micro-batches of gradient accumulation (``16×4``). View values first, then the app itself
(frozen, driven by a Pilot) on the bundled ``batch_schedules`` scenario."""

from __future__ import annotations

import numpy as np
import pytest

from gdviz.data import build_dataset
from gdviz.history import HistoryChunk
from gdviz.runfacts import batch_plan
from gdviz.scenario import load_scenario
from gdviz.scenario.batching import BatchSchedule
from gdviz.tui.app import make_app
from gdviz.tui.frozen import precompute
from gdviz.tui.panels import RunColumn, StatsTable
from gdviz.tui.runinfo import RunInfo
from gdviz.tui.screens import ForkScreen
from gdviz.tui.state import Playback
from gdviz.tui.stats_view import stats_view
from gdviz.tui.views import ViewOptions, column_view, comparison_view


def scheduled_info(accumulate: int = 1) -> RunInfo:
    """Batch 4 for 2 epochs, then 16 (n = 64): 16 then 4 updates per epoch (over accumulate)."""
    plan = batch_plan(n=64, d=1, p=2, batch_size=4, epochs=4, drop_last=False, optimizer="sgd",
                      schedule=BatchSchedule("list", points=((2, 16),)), accumulate=accumulate)
    f = plan.segments[0].facts
    return RunInfo(index=0, name="grow", method=f.method, batch=f.batch, updates_per_epoch=f.updates_per_epoch,
                   epochs=4, optimizer="sgd", learning_rate=0.1, memory_per_step=f.memory_per_step,
                   accumulate=accumulate, total_updates=plan.total_updates,
                   schedule=tuple((s.epoch, s.facts) for s in plan.segments))


def playback_of(info: RunInfo, clock: float) -> Playback:
    pb = Playback([info], p=2)
    e = np.arange(0.0, 4.25, 0.25)
    k = len(e)
    pb.traces[0].append(HistoryChunk(0, np.arange(k), e, 0.01 * e, 1 / (1 + e), 1 / (1 + e), np.full(k, 0.1),
                                     np.stack([e, -e], axis=1), True, None))  # fmt: skip
    pb.clock = clock
    return pb


@pytest.mark.parametrize(("clock", "batch", "upe"), [(0.5, "4", "16"), (1.99, "4", "16"), (2.0, "16", "4"),
                                                      (3.5, "16", "4")])
def test_the_column_and_the_table_show_the_batch_in_force_at_the_clock(clock, batch, upe):
    pb = playback_of(scheduled_info(), clock)
    view = column_view(pb, 0, ViewOptions(), None, None)
    assert f"grow · B={batch} · sgd" in view.title and f"{upe} updates/epoch" in view.subtitle
    assert all(f"B={batch}" in t for t in view.short_titles[:3])  # narrow columns keep the batch
    row = stats_view(pb).rows[0]
    assert row[2:4] == (batch, upe)


def test_accumulation_shows_the_micro_batch_and_its_count():
    pb = playback_of(scheduled_info(accumulate=2), 3.0)
    assert "B=16×2" in column_view(pb, 0, ViewOptions(), None, None).title
    assert stats_view(pb).rows[0][2:4] == ("16×2", "2")


def test_the_comparison_by_updates_spans_the_real_number_of_updates():
    info = scheduled_info()  # 2 epochs of 16 updates, 2 of 4: 40, not 16 * 4
    assert info.total_updates == 40
    spec = comparison_view(playback_of(info, 4.0), ViewOptions(x_axis="updates"))
    assert spec.x_range == (0.0, pytest.approx(np.log10(41.0)))


@pytest.fixture(scope="module")
def schedules():
    scenario = load_scenario("batch_schedules")
    dataset = build_dataset(scenario)
    return scenario, dataset, precompute(scenario, dataset)


async def test_the_app_follows_each_schedule_as_the_clock_moves(schedules):
    scenario, dataset, pre = schedules
    app = make_app(scenario, dataset, frozen=True, clock=17.0, precomputed=pre)
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        titles = [str(app.screen.query_one(f"#run-{i}", RunColumn).border_title) for i in range(4)]
        assert "decay lr · B=4 ·" in titles[0] and "grow batch · B=256 ·" in titles[1]
        assert "anneal batch · B=16 ·" in titles[2] and "constant · B=4 ·" in titles[3]
        rows = app.screen.query_one(StatsTable).view.rows
        assert [r[2] for r in rows] == ["4", "256", "16", "4"] and [r[3] for r in rows] == ["1024", "16", "256",
                                                                                            "1024"]
        await pilot.press("tab", "enter")  # fork the grow-batch run: the form offers the batch in force
        assert isinstance(app.screen, ForkScreen)
        assert app.screen.query_one("#batch").value == "256"
