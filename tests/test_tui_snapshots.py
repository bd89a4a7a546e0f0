"""Snapshots of frozen frames (every run trained first, no timer): deterministic drawings.

Update them with ``pytest tests/test_tui_snapshots.py --snapshot-update`` after a deliberate
change, and look at the SVGs. Run without NO_COLOR (CI unsets it).
"""

from __future__ import annotations

import pytest

from gdviz.data import build_dataset
from gdviz.scenario import load_scenario
from gdviz.tui.app import GdvizApp, make_app
from gdviz.tui.frozen import precompute


@pytest.fixture(scope="module")
def houses():
    scenario = load_scenario("houses")
    dataset = build_dataset(scenario)
    return scenario, dataset, precompute(scenario, dataset)


def frozen(houses, clock=12.0) -> GdvizApp:
    scenario, dataset, pre = houses
    return make_app(scenario, dataset, frozen=True, clock=clock, precomputed=pre)


class TestMainScreen:
    """The houses scenario part-way (epoch 12 of 30): paths, curves, comparison, table."""

    def test_wide_200x60(self, snap_compare, houses):
        assert snap_compare(frozen(houses), terminal_size=(200, 60))

    def test_full_layout_120x40(self, snap_compare, houses):
        """The smallest full layout: titles, captions and table headers shortened, not cut."""
        assert snap_compare(frozen(houses), terminal_size=(120, 40))

    def test_narrow_80x24(self, snap_compare, houses):
        assert snap_compare(frozen(houses), terminal_size=(80, 24))

    def test_comparison_by_updates(self, snap_compare, houses):
        assert snap_compare(frozen(houses), terminal_size=(200, 60), press=["x"])


class TestOtherScreens:
    """Help, a diverged run, and a terminal too small to draw in."""

    def test_help(self, snap_compare, houses):
        assert snap_compare(frozen(houses), terminal_size=(120, 36), press=["question_mark"])

    def test_diverged_run(self, snap_compare):
        scenario = load_scenario("lr_too_large")
        app = make_app(scenario, build_dataset(scenario), frozen=True)
        assert snap_compare(app, terminal_size=(200, 60))

    def test_diverged_run_120x40(self, snap_compare):
        scenario = load_scenario("lr_too_large")
        app = make_app(scenario, build_dataset(scenario), frozen=True)
        assert snap_compare(app, terminal_size=(120, 40))

    def test_too_small(self, snap_compare, houses):
        assert snap_compare(frozen(houses), terminal_size=(50, 15))


@pytest.fixture(scope="module")
def overfitting():
    scenario = load_scenario("overfitting")
    dataset = build_dataset(scenario)
    return scenario, dataset, precompute(scenario, dataset)


class TestHeldOut:
    """The overfitting scenario (40 rows held out): dashed validation lines in each loss panel;
    ``v`` puts the validation loss on the comparison chart."""

    def test_validation_lines_120x40(self, snap_compare, overfitting):
        assert snap_compare(frozen(overfitting, clock=None), terminal_size=(120, 40))

    def test_validation_on_the_comparison_200x60(self, snap_compare, overfitting):
        assert snap_compare(frozen(overfitting, clock=None), terminal_size=(200, 60), press=["v"])

    def test_narrow_80x24(self, snap_compare, overfitting):
        assert snap_compare(frozen(overfitting, clock=None), terminal_size=(80, 24))


@pytest.fixture(scope="module")
def seeds():
    scenario = load_scenario("seeds")
    dataset = build_dataset(scenario)
    return scenario, dataset, precompute(scenario, dataset)


class TestSeedEnsembles:
    """The seeds scenario (houses, 20 shuffling seeds) at epoch 12: one column per method, the
    seeds' paths a cloud and their losses a median over a band; ``b`` charts B_simple."""

    def test_clouds_and_bands_120x40(self, snap_compare, seeds):
        assert snap_compare(frozen(seeds), terminal_size=(120, 40))

    def test_b_simple_on_the_comparison_120x40(self, snap_compare, seeds):
        assert snap_compare(frozen(seeds), terminal_size=(120, 40), press=["b"])

    def test_narrow_80x24(self, snap_compare, seeds):
        assert snap_compare(frozen(seeds), terminal_size=(80, 24), press=["tab"])


class TestBatchSchedules:
    """batch_schedules at epoch 17: each column titled with the batch in force (4, 256, 16, 4)."""

    def test_schedules_120x40(self, snap_compare):
        scenario = load_scenario("batch_schedules")
        app = make_app(scenario, build_dataset(scenario), frozen=True, clock=17.0)
        assert snap_compare(app, terminal_size=(120, 40))


class TestForksAndInspector:
    """A fork beside its parent (⑂ marks), and the inspector on four_houses' first update."""

    def test_fork_beside_its_parent(self, snap_compare, houses):
        from gdviz.tui.fork import ForkSettings

        async def fork(pilot):
            app = pilot.app
            app.fork_run(2, ForkSettings(learning_rate=0.02, batch_size=8, optimizer="sgd", epochs=18))
            await pilot.pause()
            app.playback.clock = 20.0
            app.draw(force=True)
            await pilot.pause()

        assert snap_compare(frozen(houses), terminal_size=(200, 60), run_before=fork)

    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_inspector_four_houses(self, snap_compare, size):
        scenario = load_scenario("four_houses")
        app = make_app(scenario, build_dataset(scenario), frozen=True, clock=0.0)

        async def first_update(pilot):
            await pilot.press("i")
            while not pilot.app.screen.ready:  # the replay catches up in a thread
                await pilot.pause(0.01)
            await pilot.press("full_stop")
            await pilot.pause()

        assert snap_compare(app, terminal_size=size, run_before=first_update)
