"""TUI building blocks on synthetic arrays: braille rasterising, ticks, charts, the surface panel."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gdviz.tui import braille as B
from gdviz.tui.chart import ChartSpec, LineChart, Series
from gdviz.tui.runinfo import RunInfo
from gdviz.tui.state import SPEEDS, Playback
from gdviz.history import HistoryChunk
from gdviz.surface import Surface
from gdviz.tui.surface_view import PathSpec, SurfaceFrame, SurfaceView


def text_of(rows) -> list[str]:
    return ["".join(seg.text for seg in row) for row in rows]


def test_each_dot_has_its_unicode_bit():
    dots = np.zeros((4, 2), bool)
    dots[0, 0] = True
    assert B.codes_to_text(B.dots_to_codes(dots)) == "⠁"
    dots[:] = False
    dots[3, 1] = True
    assert B.codes_to_text(B.dots_to_codes(dots)) == "⢀"
    dots[:] = True
    assert B.codes_to_text(B.dots_to_codes(dots)) == "⣿"


def test_empty_cells_are_spaces_not_blank_braille():
    assert B.codes_to_text(B.dots_to_codes(np.zeros((4, 6), bool))) == "   "


def test_a_horizontal_path_lands_on_the_top_dots_of_its_cells():
    """Dot row 0 from dot column 0 to 7: the top two dots of cells 0..3 (⠉), nothing below."""
    dots = B.path_dots(np.array([0.2, 7.8]), np.array([0.5, 0.5]), (8, 10))
    codes = B.dots_to_codes(dots)
    assert B.codes_to_text(codes[0]) == "⠉⠉⠉⠉ "
    assert B.codes_to_text(codes[1]) == "     "


def test_a_diagonal_path_crosses_the_expected_cells():
    """From the top-left dot to the bottom-right dot of a 2×2-cell grid: a staircase."""
    dots = B.path_dots(np.array([0.5, 3.5]), np.array([0.5, 7.5]), (8, 4))
    codes = B.dots_to_codes(dots)
    assert codes[0, 0] and codes[1, 1]  # starts top-left, ends bottom-right
    assert codes[0, 1] == 0 and codes[1, 0] == 0  # never the other corners
    assert dots[0, 0] and dots[7, 3]


def test_path_points_outside_the_grid_are_dropped():
    dots = B.path_dots(np.array([-5.0, -1.0, np.nan, 1e30]), np.array([0.0, 0.0, 1.0, 2.0]), (4, 4))
    assert not dots.any()


def test_column_ranges_keep_min_and_max_of_dense_points():
    x = np.linspace(0, 1, 1001)
    y = np.where(np.arange(1001) % 2 == 0, 0.0, 1.0)  # alternating: every column spans 0..1
    lo, hi, valid = B.column_ranges(x, y, 0.0, 1.0, 10)
    assert valid.all()
    np.testing.assert_array_equal(lo, 0.0)
    np.testing.assert_array_equal(hi, 1.0)


def test_column_ranges_join_sparse_points_by_interpolation():
    lo, hi, valid = B.column_ranges(np.array([0.0, 1.0]), np.array([0.0, 10.0]), 0.0, 1.0, 10)
    assert valid.all()
    np.testing.assert_allclose(lo, np.arange(10.0))
    np.testing.assert_allclose(hi, np.arange(1.0, 11.0))


def test_a_constant_line_fills_one_dot_row():
    dots = B.line_dots(np.array([0.0, 1.0]), np.array([0.5, 0.5]), (0, 1), (0, 1), (9, 6))
    assert dots[4].all() and dots.sum() == 6


def test_dotted_and_dashed_lines_skip_columns():
    x, y = np.array([0.0, 1.0]), np.array([0.5, 0.5])
    solid = B.line_dots(x, y, (0, 1), (0, 1), (5, 12)).sum()
    dotted = B.line_dots(x, y, (0, 1), (0, 1), (5, 12), "dotted").sum()
    dashed = B.line_dots(x, y, (0, 1), (0, 1), (5, 12), "dashed").sum()
    assert solid == 12 and dotted == 6 and dashed == 8


def test_log_ticks_fall_on_decades():
    assert B.decade_ticks(-3.2, 1.5) == [1e-3, 1e-2, 1e-1, 1.0, 10.0]


def test_log_ticks_within_one_decade_use_2_and_5():
    ticks = B.decade_ticks(math.log10(0.12), math.log10(0.9))
    assert ticks == pytest.approx([0.2, 0.5])


def test_many_decades_keep_every_other_one():
    ticks = B.decade_ticks(-10, 10)
    assert len(ticks) <= 8 and all(math.log10(t) == round(math.log10(t)) for t in ticks)


@pytest.mark.parametrize(
    ("value", "text"), [(0.1, "0.1"), (10.0, "10"), (1000.0, "1e3"), (500.0, "500"), (1e-3, "1e-3"), (2e9, "2e9"), (1e5, "1e5"), (0.0, "0")]
)
def test_tick_labels_are_short(value, text):
    assert B.format_tick(value) == text


def test_nice_ticks_are_round():
    assert B.nice_ticks(0, 30, 4) == [0, 10, 20, 30]


def chart(spec: ChartSpec, width=40, height=12) -> list[str]:
    w = LineChart()
    w.spec = spec
    return text_of(w.build(width, height))


def test_a_log_chart_labels_its_decades_on_the_gutter():
    x = np.linspace(0, 10, 200)
    y = 10.0 ** (1 - 0.4 * x)  # 10 down to 1e-3
    lines = chart(ChartSpec([Series(x, y, (255, 0, 0))], (0, 10), (-3, 1), log_y=True, title="loss"))
    labels = [line[:6].strip() for line in lines[1:-1] if line[6] == "┤"]
    assert labels == ["10", "1", "0.1", "0.01", "1e-3"]
    assert lines[0].startswith("loss")
    assert lines[-1][6] == "└"


def test_a_decreasing_log_line_goes_from_top_left_to_bottom_right():
    x = np.linspace(0, 10, 200)
    y = 10.0 ** (1 - 0.4 * x)
    lines = chart(ChartSpec([Series(x, y, (255, 0, 0))], (0, 10), (-3, 1), log_y=True))
    plot = [line[7:] for line in lines[:-1]]
    assert plot[0][0] != " " and plot[-1][-1] != " "
    assert plot[0][-1] == " " and plot[-1][0] == " "


def cell_colours(spec: ChartSpec, width=40, height=12) -> list[list[tuple | None]]:
    """Each plot cell's foreground colour (RGB triplet, None where empty), row by row."""
    w = LineChart()
    w.spec = spec
    out = []
    for row in w.build(width, height)[:-1]:
        cells = []
        for seg in row[1:]:  # after the gutter
            c = seg.style.color if seg.style is not None and seg.text.strip() else None
            cells.extend([c.triplet if c is not None and c.triplet else None] * len(seg.text))
        out.append(cells)
    return out


def test_lines_that_run_together_each_keep_cells_of_their_own_all_along():
    """Three identical lines (full batch under SGD under mini-batch, say): each colour shows in
    every fifth of the x range, whatever the drawing order."""
    x = np.linspace(0, 10, 200)
    y = 10.0 ** (1 - 0.4 * x)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    grid = cell_colours(ChartSpec([Series(x, y, c) for c in colours], (0, 10), (-3, 1), log_y=True), width=46)
    plot_w = len(grid[0])
    for part in range(5):
        cols = range(part * plot_w // 5, (part + 1) * plot_w // 5)
        seen = {tuple(row[c]) for row in grid for c in cols if row[c] is not None}
        assert seen == set(colours), part


def test_a_line_ends_in_its_marker_or_an_arrow_where_it_left_the_chart():
    x = np.linspace(0, 5, 50)
    low = Series(x, np.full(50, 0.1), (255, 0, 0), end_mark="●")
    gone = Series(x, np.r_[np.full(49, 1.0), 1e9], (0, 255, 0), end_mark="◆")  # last point far above
    lines = chart(ChartSpec([low, gone], (0, 10), (-3, 1), log_y=True))
    plot = [line[7:] for line in lines[:-1]]
    row_01 = next(i for i, line in enumerate(lines) if line[:6].strip() == "0.1")
    assert sum(line.count("●") for line in plot) == 1 and "●" in plot[row_01]
    assert plot[0].count("↑") == 1 and not any("◆" in line for line in plot)


def test_a_chart_message_replaces_the_plot():
    lines = chart(ChartSpec([], (0, 1), message="diverged at step 12"))
    assert any("diverged at step 12" in line for line in lines)


def bowl_surface() -> Surface:
    nx, ny = 40, 20
    gx = np.linspace(-2, 2, nx)
    gy = np.linspace(1, -1, ny)
    Z = gx[None, :] ** 2 + gy[:, None] ** 2 + 0.1
    return Surface(np.zeros(2), np.eye(2), -2.0, 2.0, -1.0, 1.0, Z, (0.0, 0.0), "w", "b", "bowl", version=1)


@pytest.mark.parametrize("contours", [False, True])
def test_the_surface_panel_marks_the_optimum_and_the_current_point(contours):
    view = SurfaceView()
    xy = np.array([[-1.5, 0.8], [-1.0, 0.5], [-0.5, 0.25]])
    view.frame = SurfaceFrame(bowl_surface(), PathSpec(xy, (255, 0, 0), "●", key=3), contours=contours)
    lines = text_of(view.build(20, 10))
    # The optimum (0, 0) is the centre cell; the current point (-0.5, 0.25) is at
    # dot (15, 15) -> cell row 3, column 7.
    assert lines[5][10] == "✕"
    assert lines[3][7] == "●"
    assert any(0x2800 < ord(ch) <= 0x28FF for ch in lines[1] + lines[2])  # the trail


def test_a_path_that_leaves_the_panel_is_marked_by_an_arrow_at_the_edge():
    """A diverging run's last finite point far up and to the right: ↗ in the top-right cell."""
    view = SurfaceView()
    xy = np.array([[-1.0, 0.5], [1.5, -0.5], [40.0, 30.0], [np.inf, np.nan]])
    view.frame = SurfaceFrame(bowl_surface(), PathSpec(xy, (255, 0, 0), "●", key=4))
    lines = text_of(view.build(20, 10))
    assert lines[0][19] == "↗" and not any("●" in line for line in lines)


def test_the_surface_panel_says_when_a_run_diverged():
    view = SurfaceView()
    view.frame = SurfaceFrame(bowl_surface(), message="diverged at step 7")
    assert any("diverged at step 7" in line for line in text_of(view.build(30, 9)))


def playback_with_points(epochs: list[float], done: bool = False) -> Playback:
    pb = Playback([RunInfo(0, "r", "mini-batch", 4, 2, 3, "sgd", 0.1, memory_per_step=0)], p=2)
    k = len(epochs)
    e = np.asarray(epochs, float)
    pb.traces[0].append(
        HistoryChunk(0, (e * 2).astype(np.int64), e, e, np.ones(k), np.ones(k), np.ones(k), np.zeros((k, 2)), done, None)
    )
    return pb


def test_the_clock_never_passes_what_the_engine_has_computed():
    pb = playback_with_points([0.0, 0.5, 1.0])
    pb.clock = 0.5
    pb.tick(100.0)
    assert pb.clock == 1.0


def test_playback_starts_slowly_then_runs_at_its_rate():
    """houses at 1× (30 epochs in 20 s at full rate): the first second of playback shows
    under 0.03 epochs (stochastic descent's first half-dozen updates, one house each) instead of
    1.5; past the slow start the clock moves at the full rate, and the whole run takes only a
    few seconds longer."""
    pb = Playback([RunInfo(0, "r", "stochastic", 1, 200, 30, "sgd", 0.1, memory_per_step=0)], p=2)
    pb.traces[0].append(HistoryChunk(0, np.array([0, 6000]), np.array([0.0, 30.0]), np.zeros(2), np.ones(2),
                                      np.ones(2), np.ones(2), np.zeros((2, 2)), True, None))  # fmt: skip
    frames = 0
    while pb.clock < 30.0 and frames < 10_000:
        pb.tick(1 / 30)
        frames += 1
        if frames == 30:
            assert 0 < pb.clock < 0.03
    assert pb.rate() == pb.epochs_per_second == 1.5
    assert 20 * 30 < frames < 26 * 30


def test_one_step_goes_to_the_next_recorded_point():
    pb = playback_with_points([0.0, 0.5, 1.0])
    pb.clock = 0.2
    assert pb.step(0) and pb.clock == 0.5
    assert pb.cursors() == [2]


def test_speeds_stop_at_their_bounds():
    pb = playback_with_points([0.0])
    for _ in range(20):
        pb.faster()
    assert pb.speed == SPEEDS[-1] == 100.0
    for _ in range(20):
        pb.slower()
    assert pb.speed == SPEEDS[0] == 0.1
