"""Seed ensembles in the app, without the app: columns, percentiles over the seeds, the median
seed, the table row, the comparison chart (and its B_simple mode), the cloud and the bands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gdviz.ensembles import spread
from gdviz.history import HistoryChunk
from gdviz.scenario import parse_scenario
from gdviz.tui import braille as B
from gdviz.tui.bands import Band, band_dots, share_cells
from gdviz.tui.chart import ChartSpec, LineChart, Series
from gdviz.tui.density import Cloud, CloudRaster, _pixels, levels
from gdviz.tui.ensembles import Column, columns_of, curves_of, ensemble_curves, median_member, percentiles
from gdviz.tui.runinfo import RunInfo
from gdviz.tui.state import Playback
from gdviz.tui.stats_view import stats_view
from gdviz.tui.views import ViewOptions, comparison_view, representative

SCENARIO = """title = "seeds"
seed = 3
[data]
source = "houses"
n = 40
[model]
kind = "linear"
[train]
epochs = 2
learning_rate = 0.1
seeds = 3
target_loss = 0.5
[[runs]]
name = "full"
batch_size = "full"
[[runs]]
name = "sgd"
batch_size = 1
[[runs]]
name = "alone"
batch_size = 8
seeds = 1
[[runs]]
name = "fixed order"
batch_size = 8
shuffle = false
"""


def test_an_ensemble_is_one_column_and_seeds_that_cannot_differ_are_one_run_that_says_why() -> None:
    scenario = parse_scenario(SCENARIO, "seeds.toml", Path("."))
    cols = columns_of(scenario.runs)
    assert [c.name for c in cols] == ["full", "sgd", "alone", "fixed order"]
    assert [c.runs for c in cols] == [(0,), (1, 2, 3), (4,), (5,)]
    assert [c.ensemble for c in cols] == [False, True, False, False]
    assert [c.label for c in cols] == ["full (1 run)", "sgd (3 seeds)", "alone", "fixed order (1 run)"]
    assert "a full batch is never shuffled" in cols[0].note and "shuffle = false" in cols[3].note
    assert cols[0].seeds == cols[3].seeds == 3 and cols[2].seeds == 1 and cols[2].note == ""


@pytest.mark.parametrize("seeds", [1, 2, 3, 4, 7, 20])
def test_percentiles_over_the_seeds_are_gdviz_ensembles_spread(seeds: int) -> None:
    """Column by column the same median, 10th and 90th percentiles as the headless table's
    spread(), infinitely bad seeds (diverged, not reached) included."""
    rng = np.random.default_rng(seeds)
    values = rng.lognormal(size=(seeds, 50))
    values[rng.random(values.shape) < 0.25] = np.inf
    med, p10, p90 = percentiles(values)
    for j in range(values.shape[1]):
        sp = spread(list(values[:, j]))
        np.testing.assert_allclose([med[j], p10[j], p90[j]], [sp.median, sp.p10, sp.p90], rtol=1e-12)


def test_percentiles_leave_out_seeds_with_no_value_there() -> None:
    rng = np.random.default_rng(5)
    values = rng.normal(size=(6, 30))
    gone = rng.random(values.shape) < 0.3
    values[gone] = np.nan
    values[:, 0] = np.nan
    med, p10, p90 = percentiles(values)
    assert np.isnan([med[0], p10[0], p90[0]]).all()
    for j in range(1, values.shape[1]):
        sp = spread([v for v in values[:, j] if not np.isnan(v)])
        np.testing.assert_allclose([med[j], p10[j], p90[j]], [sp.median, sp.p10, sp.p90], rtol=1e-12)


def info(i: int, method: str = "stochastic", target: float | None = 0.5) -> RunInfo:
    return RunInfo(index=i, name=f"m · seed {i}", method=method, batch=1, updates_per_epoch=4, epochs=2,
                   optimizer="sgd", learning_rate=0.1, memory_per_step=56, target_loss=target)  # fmt: skip


def ensemble(losses: np.ndarray, *, diverged: dict[int, int] | None = None, target: float | None = 0.5,
             b_simple: np.ndarray | None = None) -> Playback:  # fmt: skip
    """Members with the given full losses [members, points] at epochs 0, 0.25, ...; a member in
    ``diverged`` ends (diverged) after that many points."""
    k, n = losses.shape
    pb = Playback([info(i, target=target) for i in range(k)], p=2, columns=(Column("m", tuple(range(k)), k),))
    for j in range(k):
        m = (diverged or {}).get(j, n)
        e = np.arange(m) * 0.25
        scale = b_simple[j, :m] if b_simple is not None else None
        pb.traces[j].append(HistoryChunk(j, (4 * e).astype(np.int64), e, e, losses[j, :m], losses[j, :m], np.zeros(m),
                                         np.column_stack([e, -e]) * (j + 1), m < n, m if m < n else None,
                                         b_simple=scale))  # fmt: skip
    pb.clock = (n - 1) * 0.25
    return pb


def test_an_ensembles_curves_are_the_percentiles_of_its_members_at_each_point() -> None:
    rng = np.random.default_rng(1)
    losses = rng.lognormal(size=(5, 9))
    pb = ensemble(losses)
    cv = curves_of(pb, pb.columns[0])
    assert list(cv.epoch) == list(np.arange(9) * 0.25) and list(cv.step) == list(range(9))
    np.testing.assert_allclose(cv.full_loss.median, np.percentile(losses, 50, axis=0), rtol=1e-12)
    np.testing.assert_allclose(cv.full_loss.p10, np.percentile(losses, 10, axis=0), rtol=1e-12)
    np.testing.assert_allclose(cv.full_loss.p90, np.percentile(losses, 90, axis=0), rtol=1e-12)
    assert cv.val_loss is None
    assert curves_of(pb, pb.columns[0]) is cv  # cached until a trace changes


def test_a_diverged_seed_counts_as_infinitely_bad_from_where_it_stopped() -> None:
    losses = np.array([[1.0, 0.8, 0.6, 0.5], [1.0, 0.9, np.inf, 9.0], [1.0, 0.7, 0.5, 0.4]])
    cv = ensemble_curves(ensemble(losses, diverged={1: 3}).traces)
    # the diverged seed's last point (inf) and the point after its end are worse than any
    assert list(cv.full_loss.median) == [1.0, 0.8, 0.6, 0.5]
    assert cv.full_loss.p90[2] == cv.full_loss.p90[3] == np.inf
    two = ensemble_curves(ensemble(losses, diverged={1: 3, 2: 2}).traces)  # two of three gone
    assert two.full_loss.median[1] == 0.8 and two.full_loss.median[-1] == np.inf


def test_a_point_a_seed_has_not_sent_yet_leaves_it_out() -> None:
    losses = np.array([[1.0, 0.5, 0.25], [1.0, 0.7, 0.35], [1.0, 0.9, 0.0]])
    pb = ensemble(losses)
    pb.traces[2].history.truncate(2)  # still running: its third point has not arrived
    cv = ensemble_curves(pb.traces)
    assert cv.full_loss.median[2] == pytest.approx(0.3)  # the median of the two that sent it


def test_the_median_seed_is_the_one_whose_loss_at_the_clock_is_the_median() -> None:
    losses = np.array([[1.0, 0.3], [1.0, 0.1], [1.0, 0.2], [1.0, 0.4]])
    pb = ensemble(losses)
    assert median_member(pb, pb.columns[0]) == 2  # 0.1 0.2 | 0.3 0.4: the lower middle one
    assert representative(pb, 0) == 2
    pb.traces[2].history.truncate(1)
    pb.traces[2].done, pb.traces[2].diverged_step = True, 1  # seed 2 diverged: now the worst
    assert median_member(pb, pb.columns[0]) == 0


def test_the_table_gives_an_ensembles_figures_as_median_and_percentiles() -> None:
    losses = np.array([[1.0, 0.45, 0.3], [1.0, 0.6, 0.4], [1.0, 0.7, 0.48], [1.0, 0.8, 0.6]])
    pb = ensemble(losses)
    (row,) = stats_view(pb).rows
    assert row[0] == "m (4 seeds)"
    sp = spread([0.3, 0.4, 0.48, 0.6])
    assert row[7] == f"{sp.median:.3g} [{sp.p10:.3g}–{sp.p90:.3g}]"  # full loss at the clock
    # the target 0.5: three seeds at epoch 0.25, 0.5, 0.5; the fourth not yet (later than the clock)
    assert row[8] == "0.5 [0.325–>0.5] 3/4"
    assert row[-1] == "no"
    pb.clock = 0.25  # one seed of four there: its median and percentiles are later than the clock
    assert stats_view(pb).rows[0][8] == ">0.25 [>0.25–>0.25] 1/4"
    pb.clock = 0.0
    assert stats_view(pb).rows[0][8] == "not yet"


def test_the_table_counts_an_ensembles_diverged_seeds() -> None:
    losses = np.array([[1.0, 0.4, 0.3], [1.0, np.nan, np.nan], [1.0, 0.5, 0.35]])
    pb = ensemble(losses, diverged={1: 2})
    (row,) = stats_view(pb).rows
    assert row[-1] == "1/3 seeds" and row[7].endswith("–✖]")


def test_the_comparison_draws_an_ensemble_as_its_median_over_its_band() -> None:
    losses = np.random.default_rng(2).lognormal(size=(6, 9))
    pb = ensemble(losses)
    chart = comparison_view(pb, ViewOptions())
    (line,) = chart.series
    (band,) = chart.bands
    np.testing.assert_allclose(line.y, np.percentile(losses, 50, axis=0))
    np.testing.assert_allclose(band.lo, np.percentile(losses, 10, axis=0))
    np.testing.assert_allclose(band.hi, np.percentile(losses, 90, axis=0))
    assert "m (6 seeds)" in chart.title and "median and 10–90% band" in chart.title
    pb.clock = 0.5
    assert len(comparison_view(pb, ViewOptions()).series[0].x) == 3  # up to the clock


def test_b_charts_b_simple_on_a_log_axis_with_points_only_where_it_was_evaluated() -> None:
    losses = np.random.default_rng(3).lognormal(size=(3, 9))
    scale = np.full((3, 9), np.nan)
    scale[:, ::4] = [[2.0, 20.0, 200.0], [4.0, 40.0, 400.0], [3.0, 30.0, 300.0]]
    pb = ensemble(losses, b_simple=scale)
    chart = comparison_view(pb, ViewOptions(b_simple=True, log_y=False))
    assert chart.log_y and chart.title.startswith("B_simple = tr(Σ)/|G|² vs epochs")
    y = chart.series[0].y
    assert list(y[::4]) == [3.0, 30.0, 300.0] and np.isnan(np.delete(y, [0, 4, 8])).all()
    assert list(chart.bands[0].hi[::4]) == pytest.approx(list(np.percentile(scale[:, ::4], 90, axis=0)))
    assert chart.key != comparison_view(pb, ViewOptions()).key


def test_the_cloud_counts_the_members_whose_path_crosses_each_pixel() -> None:
    rng = np.random.default_rng(4)
    w, h = 30, 10
    paths = [np.cumsum(rng.normal(scale=2.0, size=(40, 2)), axis=0) + [30, 20] for _ in range(5)]

    def to_dots(xy: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        return xy[:, 0], xy[:, 1]

    expected = sum(_pixels(p[:, 0], p[:, 1], w, h).astype(int) for p in paths)
    whole = CloudRaster().counts(Cloud(tuple(paths), (0,) * 5, (255, 0, 0)), to_dots, w, h, "plane")
    assert (whole == expected).all()
    grown = CloudRaster()  # frame by frame, as the clock moves: the same pixels
    for k in (1, 2, 7, 20, 40):
        counts = grown.counts(Cloud(tuple(p[:k] for p in paths), (0,) * 5, (255, 0, 0)), to_dots, w, h, "plane")
    assert (counts == expected).all()
    # a rewound clock, or a fork (its prefix key changes), is drawn afresh
    back = grown.counts(Cloud(tuple(p[:3] for p in paths), (0,) * 5, (255, 0, 0)), to_dots, w, h, "plane")
    assert (back == sum(_pixels(p[:3, 0], p[:3, 1], w, h).astype(int) for p in paths)).all()


def test_cloud_levels_grow_with_the_share_of_members() -> None:
    assert list(levels(np.array([0, 1, 2, 3, 4, 5, 8]), 8)) == [0, 1, 1, 2, 2, 3, 4]
    assert list(levels(np.array([0, 1]), 1)) == [0, 4]


def test_a_band_fills_between_its_edges_with_a_stipple_up_to_the_top_for_inf() -> None:
    band = Band(np.array([0.0, 1.0]), np.array([10.0, 10.0]), np.array([100.0, 100.0]), (0, 0, 0))
    dots = band_dots(band, (0.0, 1.0), (0.0, 3.0), (31, 20), log_y=True)
    rows = np.flatnonzero(dots.any(axis=1))
    assert rows.min() == 10 and rows.max() == 20  # log10: 2 → row 10, 1 → row 20 of 0..30
    assert not (dots[:, :-1] & dots[:, 1:]).any()  # a checkerboard: never two dots side by side
    up = Band(band.x, band.lo, np.array([np.inf, np.inf]), (0, 0, 0))
    assert band_dots(up, (0.0, 1.0), (0.0, 3.0), (31, 20)).any(axis=1)[:2].any()  # reaches the top
    # two bands over the same cells take turns, cell by cell; a cell only one covers is its own
    owner = share_cells([np.ones((2, 3), bool), np.array([[True, True, False], [True, True, False]])])
    assert owner.tolist() == [[0, 1, 0], [1, 0, 0]]


def test_a_chart_draws_bands_only_in_cells_no_line_passes_through() -> None:
    x = np.linspace(0.0, 1.0, 50)
    line = Series(x, np.full(50, 10.0), (200, 0, 0))
    band = Band(x, np.full(50, 2.0), np.full(50, 50.0), (0, 0, 200))

    def text(spec: ChartSpec) -> list[str]:
        chart = LineChart()
        chart.spec = spec
        return ["".join(seg.text for seg in row) for row in chart.build(40, 12)]

    with_band = text(ChartSpec([line], (0.0, 1.0), (0.0, 2.0), log_y=True, bands=(band,)))
    alone = text(ChartSpec([line], (0.0, 1.0), (0.0, 2.0), log_y=True))
    plot = slice(7, None)  # right of the y gutter
    line_cells = {(r, c) for r, t in enumerate(alone) for c, ch in enumerate(t[plot]) if ch != " "}
    assert line_cells and all(with_band[r][plot][c] == alone[r][plot][c] for r, c in line_cells)
    band_cells = {(r, c) for r, t in enumerate(with_band) for c, ch in enumerate(t[plot]) if ch != " "} - line_cells
    rows = {r for r, _ in band_cells}
    line_rows = {r for r, _ in line_cells if r < len(alone) - 1}
    assert rows - line_rows and min(rows) < min(line_rows) <= max(line_rows) < max(rows)  # above and below
    assert all(B.BRAILLE_CHARS.index(with_band[r][plot][c]) > 0 for r, c in band_cells if r < len(alone) - 1)


def test_the_readmes_b_simple_figures_are_houses_full_batch() -> None:
    """The README's B_simple paragraph quotes houses' full batch: 3.3 at the start, 12 at epoch
    12, 2.6·10⁴ at the end (where it nears the optimum)."""
    from gdviz.data import build_dataset
    from gdviz.engine import Engine
    from gdviz.scenario import load_scenario

    scenario = load_scenario("houses")
    engine = Engine(scenario, build_dataset(scenario))
    engine.run_to_end()
    h = engine.runs[0].history
    at = {float(e): float(b) for e, b in zip(h.epoch, h.b_simple) if np.isfinite(b)}
    assert (round(at[0.0], 1), round(at[12.0]), round(engine.summaries()[0].b_simple, -3)) == (3.3, 12, 26000)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "from 3.3 at the start to 12 at epoch 12 and 2.6·10⁴ at the optimum" in " ".join(readme.split())
