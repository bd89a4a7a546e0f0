"""Snapshots of the sweep screen, frozen (every cell trained first, no worker, no seconds shown):
the same drawing on every machine.

Update them with ``pytest tests/test_sweep_snapshots.py --snapshot-update`` after a deliberate
change, and read the SVGs' text. Run without NO_COLOR (CI unsets it).
"""

from __future__ import annotations

import pytest

from gdviz.tui.sweep_app import make_sweep_app
from sweep_setup import small_sweep


@pytest.fixture(scope="module")
def done_runner():
    runner = small_sweep()
    runner.run_to_end()
    return runner


class TestSweepScreen:
    """60 cells on n = 200: heat map, best-lr table, S(B) and E(B) with the fit, B_simple."""

    def test_wide_200x60(self, snap_compare, done_runner):
        assert snap_compare(make_sweep_app(done_runner, frozen=True), terminal_size=(200, 60))

    def test_narrow_80x24_heat_map(self, snap_compare, done_runner):
        assert snap_compare(make_sweep_app(done_runner, frozen=True), terminal_size=(80, 24))

    def test_narrow_80x24_b_simple(self, snap_compare, done_runner):
        """The third panel (3): the noise scale along the selected cell's training."""
        assert snap_compare(make_sweep_app(done_runner, frozen=True), terminal_size=(80, 24), press=["3"])
