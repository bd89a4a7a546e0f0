"""View values and the widgets that draw them, without the gdviz app.

The builders in gdviz.tui.views are plain functions of the playback state; the panels are
mounted alone in a tiny host App and handed a view value.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
from textual.app import App, ComposeResult
from textual.widget import Widget

from gdviz.history import HistoryChunk
from gdviz.surface import Surface
from gdviz.tui.chart import ChartSpec, Series
from gdviz.tui.colors import run_looks
from gdviz.tui.panels import RunColumn, RunColumnView, StatsTable, StatsView, StatusLine, StatusView
from gdviz.tui.runinfo import RunInfo
from gdviz.tui.state import Playback
from gdviz.tui.stats_view import stats_view
from gdviz.tui.surface_view import PathSpec, SurfaceFrame
from gdviz.tui.views import (
    ViewOptions,
    column_view,
    comparison_view,
    curve_spec,
    looks,
    screen_layout,
    status_view,
    target_text,
)


def bowl_surface() -> Surface:
    gx = np.linspace(-2, 2, 40)
    gy = np.linspace(1, -1, 20)
    Z = gx[None, :] ** 2 + gy[:, None] ** 2 + 0.1
    return Surface(np.zeros(2), np.eye(2), -2.0, 2.0, -1.0, 1.0, Z, (0.0, 0.0), "w", "b", "bowl", version=1)


def info(index: int = 0, **kw) -> RunInfo:
    fields = dict(index=index, name=f"run {index}", method="mini-batch", batch=4, updates_per_epoch=2, epochs=3,
                  optimizer="sgd", learning_rate=0.1, memory_per_step=96, target_loss=0.5)  # fmt: skip
    return RunInfo(**{**fields, **kw})


def playback(*epochs: list[float], diverged: int | None = None, methods: tuple[str, ...] = ()) -> Playback:
    """One run per list of recorded epochs (2 updates an epoch, loss 1 / (1 + epoch)); mini-batch
    runs unless ``methods`` names each run's method."""
    methods = methods or ("mini-batch",) * len(epochs)
    pb = Playback([info(i, method=m) for i, m in enumerate(methods)], p=2)
    for i, ep in enumerate(epochs):
        e = np.asarray(ep, float)
        k = len(e)
        loss = 1.0 / (1.0 + e)
        params = np.stack([e, -e], axis=1)
        done = diverged is not None and i == 0
        pb.traces[i].append(HistoryChunk(i, (2 * e).astype(np.int64), e, 0.01 * e, loss, loss, np.full(k, 0.2), params,
                                         done, diverged if done else None))  # fmt: skip
    return pb


# --- builders ---------------------------------------------------------------------------------------
def test_a_column_shows_the_runs_figures_and_its_path_up_to_the_clock():
    pb = playback([0.0, 0.5, 1.0, 1.5])
    pb.clock = 1.0
    xy = np.array([[0.0, 0.0], [0.5, -0.5], [1.0, -1.0], [1.5, -1.5]])
    view = column_view(pb, 0, ViewOptions(selected=0), bowl_surface(), xy)
    assert view.title == "■ run 0 · B=4 · sgd · lr 0.1"
    assert view.subtitle == "mini-batch · 2 updates/epoch"
    assert view.selected and view.surface.message == ""
    assert len(view.surface.path.xy) == 3  # the points at or before epoch 1
    assert view.caption.startswith("→ w [-2, 2]  ↑ b [-1, 1]  ✕ optimum")
    assert [len(s.x) for s in view.curve.series] == [3, 3]


def test_a_narrow_column_says_which_run_it_is_and_how_to_switch():
    pb = playback([0.0, 1.0], [0.0, 1.0])
    view = column_view(pb, 1, ViewOptions(selected=1, narrow=True), None, None)
    assert view.subtitle == "mini-batch · 2 updates/epoch · run 2/2, tab: next"
    assert view.surface.surface is None and view.caption == ""


def test_a_diverged_run_says_so_once_the_clock_reaches_it():
    pb = playback([0.0, 0.5, 1.0], diverged=2)
    pb.clock = 0.5
    assert "diverged" not in column_view(pb, 0, ViewOptions(), None, None).curve.title
    pb.clock = 1.0
    view = column_view(pb, 0, ViewOptions(), None, None)
    assert view.subtitle == view.surface.message == "diverged at step 2"
    # its loss panel still draws every point it has, the last one marked
    full = view.curve.series[-1]
    assert view.curve.message == "" and len(full.y) == 3 and full.end_mark == "✖"
    assert view.curve.title == "loss: ✖ diverged at step 2"


def test_a_run_that_blew_up_does_not_squash_the_comparison():
    """The y axis stops at ten times the highest starting loss (1 here); the blown-up line is
    still handed to the chart whole, which ends it in ↑ where it leaves the top."""
    pb = playback([0.0, 0.5, 1.0], [0.0, 0.5, 1.0], diverged=2)
    pb.traces[0].history.full_loss[2] = 1e7
    pb.clock = 1.0
    chart = comparison_view(pb, ViewOptions())
    assert chart.y_range is not None and chart.y_range[1] <= 1.25  # log10(10 × 1), snapped up
    assert chart.series[0].y[2] == 1e7 and chart.series[0].end_mark


def test_a_fork_is_drawn_from_its_fork_point_and_marked_on_its_parent():
    """A fork's trace starts with its parent's points; its lines start at the fork point (⑂),
    which is marked on the parent's loss curve and on the comparison chart, in the fork's colour."""
    pb = playback([0.0, 0.5, 1.0, 1.5])
    h = pb.traces[0].history
    fork = dataclasses.replace(info(0), index=1, name="x ⑂ lr 0.5 @ep 0.5", parent=0, forked_at=0.5, start=1)
    first = HistoryChunk(1, h.step[:2].copy(), h.epoch[:2].copy(), h.seconds[:2].copy(), h.loss[:2].copy(),
                         h.full_loss[:2].copy(), h.noise[:2].copy(), h.params[:2].copy(), False, None)
    pb.add_run(fork, first)
    pb.traces[1].append(HistoryChunk(1, np.array([3]), np.array([1.0]), np.array([0.1]), np.array([0.2]),
                                     np.array([0.25]), np.array([np.nan]), np.zeros((1, 2)), True, None))
    pb.clock = 1.0
    lk = looks(pb)
    assert lk[1].pattern == "dashdot" and lk[1].marker != lk[0].marker and lk[1].color != lk[0].color
    curve = curve_spec(pb, 1, ViewOptions())
    assert list(curve.series[-1].x) == [0.5, 1.0]  # from the fork point
    parent_marks = curve_spec(pb, 0, ViewOptions()).marks
    assert [(m.x, m.y, m.glyph, m.color) for m in parent_marks] == [(0.5, float(h.full_loss[1]), "⑂", lk[1].color)]
    chart = comparison_view(pb, ViewOptions())
    assert list(chart.series[1].x) == [0.5, 1.0] and [m.x for m in chart.marks] == [0.5]
    assert column_view(pb, 1, ViewOptions(), None, None).title.startswith(f"{lk[1].marker} x ⑂ lr 0.5 @ep 0.5")
    pb.clock = 0.2  # before the fork point: no fork line, no mark
    assert len(comparison_view(pb, ViewOptions()).series[1].x) == 0 and not curve_spec(pb, 0, ViewOptions()).marks


def test_before_the_first_points_the_column_shows_what_the_engine_is_doing():
    pb = Playback([info(0)], p=2)
    view = column_view(pb, 0, ViewOptions(phase="Preparing the Numba kernels…"), None, None)
    assert view.surface.message == "Preparing the Numba kernels…"


def test_without_colour_the_views_ask_for_contours_and_line_styles():
    pb = playback([0.0, 1.0], [0.0, 1.0], [0.0, 1.0], methods=("full-batch", "mini-batch", "stochastic"))
    opts = ViewOptions(plain=True)
    assert column_view(pb, 0, opts, bowl_surface(), None).surface.contours
    chart = comparison_view(pb, opts)
    assert chart.no_color and [s.pattern for s in chart.series] == ["solid", "dashed", "dotted"]
    assert "■ ╍╍ run 1" in chart.title and "◆ ┅┅ run 2" in chart.title


def test_the_comparison_by_updates_is_on_a_log_axis_up_to_the_longest_run():
    pb = playback([0.0, 1.0, 2.0], [0.0, 1.0])
    chart = comparison_view(pb, ViewOptions(x_axis="updates"))
    assert chart.log_x and chart.x_range == (0.0, np.log10(2 * 3 + 1.0))
    assert chart.x_label == "updates (log)"


def test_the_stats_table_reads_the_facts_and_the_figures_at_the_clock():
    pb = playback([0.0, 0.5, 1.0, 1.5])
    pb.clock = 1.0
    (row,) = stats_view(pb).rows
    assert row[:5] == ("run 0", "mini-batch", "4", "2", "96 B")
    assert row[5] == "1.00" and row[8] == "1"  # epochs so far; epoch the loss first reached 0.5
    assert row[-1] == "no"


def test_a_finished_run_is_not_reached_only_once_the_clock_gets_to_its_end():
    """The engine may finish long before playback: until the clock reaches the run's last
    point the table says "not yet", never "not reached"."""
    pb = playback([0.0, 1.0, 2.0, 3.0])
    trace = pb.traces[0]
    trace.done = True
    pb.infos[0] = info(0, target_loss=0.01)  # never reached: the loss ends at 0.25
    pb.clock = 1.5
    assert stats_view(pb).rows[0][8] == "not yet"
    pb.clock = 3.0
    assert stats_view(pb).rows[0][8] == "not reached"


def test_a_run_without_points_has_its_facts_and_dashes():
    (row,) = stats_view(Playback([info(0)], p=2)).rows
    assert row == ("run 0", "mini-batch", "4", "2", "96 B", "–", "–", "–", "–", "–", "–", "–")


def test_the_status_line_shows_the_selected_runs_model_at_the_clock():
    pb = playback([0.0, 1.0, 2.0])
    pb.clock = 1.0
    model = SimpleNamespace(fitted_line=lambda dataset, params: f"y = {params[0]:g}·x")
    dataset = SimpleNamespace(X=np.zeros((200, 1)))
    view = status_view(pb, ViewOptions(), scenario="houses", dataset=dataset, where="cpu", model=model)
    assert view.text == "epoch 1.00/3 · ▶ playing 1× · houses · n=200 d=1 · cpu · ■ y = 1·x"


def test_while_the_engine_prepares_the_status_line_counts_the_seconds():
    pb = Playback([info(0)], p=2)
    dataset = SimpleNamespace(X=np.zeros((10, 2)))
    view = status_view(pb, ViewOptions(phase="Building the engine…\nmore"), scenario="s", dataset=dataset,
                       where="target cpu", model=None, phase_seconds=3.2)  # fmt: skip
    assert "⏳ Building the engine… 3 s" in view.text


def test_only_a_real_fallback_is_marked():
    assert target_text("cpu", "cpu (8 threads)", "", frozen=False) == "cpu (8 threads)"
    assert target_text("cpu", "", "", frozen=False) == "target cpu"
    assert target_text("cpu", "cpu (8 threads)", "CUDA failed at run time", frozen=False).endswith("⚠ fell back to CPU")


def test_the_layout_follows_the_terminal_size():
    assert screen_layout(200, 60, None) == screen_layout(200, 60, True)
    wide = screen_layout(200, 60, None)
    assert (wide.too_small, wide.narrow, wide.table) == (False, False, True)
    narrow = screen_layout(80, 24, None)
    assert (narrow.narrow, narrow.table) == (True, False)  # narrow: the table starts hidden
    assert screen_layout(80, 24, True).table  # ... until t shows it
    small = screen_layout(50, 15, None)
    assert small.too_small and "50×15" in small.message


# --- widgets, handed a view, in a host that is not the gdviz app -------------------------------------
class Host(App[None]):
    """Mounts one widget, nothing else."""

    def __init__(self, widget: Widget) -> None:
        super().__init__()
        self.widget = widget

    def compose(self) -> ComposeResult:
        yield self.widget


def lines_of(widget: Widget) -> list[str]:
    return [widget.render_line(y).text for y in range(widget.size.height)]


def column_view_value(selected: bool = True) -> RunColumnView:
    xy = np.array([[-1.5, 0.8], [-1.0, 0.5], [-0.5, 0.25]])
    x = np.linspace(0, 3, 30)
    return RunColumnView(
        title="● run 0 · B=4 · sgd · lr 0.1",
        subtitle="mini-batch · 2 updates/epoch",
        selected=selected,
        surface=SurfaceFrame(bowl_surface(), PathSpec(xy, (255, 0, 0), "●", key=3)),
        caption="→ w [-2, 2]  ↑ b [-1, 1]  ✕ optimum",
        curve=ChartSpec([Series(x, 1.0 / (1.0 + x), (255, 0, 0))], (0.0, 3.0), title="loss (log)", key=30),
    )


async def test_a_run_column_draws_the_view_it_is_handed():
    col = RunColumn(0, id="run-0")
    async with Host(col).run_test(size=(60, 30)) as pilot:
        view = column_view_value()
        assert col.show(view)
        await pilot.pause()
        assert (col.border_title, col.border_subtitle) == (view.title, view.subtitle)
        assert col.has_class("selected")
        assert lines_of(col.caption)[0].startswith("→ w [-2, 2]")
        surface = "".join(lines_of(col.surface_view))
        assert "✕" in surface and "●" in surface
        assert lines_of(col.curve)[0].startswith("loss (log)")
        assert not col.show(view)  # the same view again: nothing to redraw
        col.show(column_view_value(selected=False))
        assert not col.has_class("selected")


async def test_a_click_on_a_run_column_posts_run_selected_to_its_host():
    seen = []
    async with Host(RunColumn(3, id="run-3")).run_test(size=(60, 30), message_hook=seen.append) as pilot:
        await pilot.click("#run-3")
        await pilot.pause()
    assert {m.index for m in seen if isinstance(m, RunColumn.RunSelected)} == {3}


async def test_the_stats_table_draws_its_rows():
    table = StatsTable(id="stats")
    row = ("full-batch", "full-batch", "200", "1", "3.2 kB", "12.00", "20 µs", "0.1345", "1.71", "0.14", "36.8",
           "at step 52")
    async with Host(table).run_test(size=(160, 5)) as pilot:
        table.show(StatsView((row,), run_looks(["full-batch"])))
        await pilot.pause()
        text = "\n".join(lines_of(table))
    assert "upd/epoch" in text and "● full-batch" in text and "3.2 kB" in text and "at step 52" in text


async def test_the_status_line_draws_its_text():
    line = StatusLine(id="status")
    async with Host(line).run_test(size=(80, 3)) as pilot:
        line.show(StatusView("houses · n=200 d=1 · cpu"))
        await pilot.pause()
        assert lines_of(line)[0].startswith("houses · n=200 d=1 · cpu")



def test_a_label_too_long_for_its_room_is_shortened_by_what_it_says():
    from gdviz.tui.panels import fit

    shorter = ("run · B=32 · sgd lr 0.1", "run · lr 0.1", "run")
    assert fit("run · B=32 · sgd · lr 0.1", shorter, 40) == "run · B=32 · sgd · lr 0.1"
    assert fit("run · B=32 · sgd · lr 0.1", shorter, 20) == "run · lr 0.1"
    assert fit("run · B=32 · sgd · lr 0.1", shorter, 2) == "run"


def test_a_full_batch_panel_draws_its_loss_once():
    """Full batch's minibatch loss is its full loss before the update: one curve, not two."""
    pb = playback([0.0, 1.0, 2.0], [0.0, 1.0, 2.0], methods=("full-batch", "mini-batch"))
    pb.infos[0] = info(0, method="full-batch", updates_per_epoch=1)
    pb.clock = 2.0
    full, mini = column_view(pb, 0, ViewOptions(), None, None).curve, column_view(pb, 1, ViewOptions(), None, None).curve
    assert [s.faint for s in full.series] == [False] and full.title == "loss (log): full dataset"
    assert [s.faint for s in mini.series] == [True, False] and "faint minibatch" in mini.title


def test_a_run_is_not_forked_from_a_point_that_is_not_finite():
    """A diverged run whose point at the clock is not finite says why; from an earlier point it forks."""
    from gdviz.tui.fork import default_epochs, why_not_fork

    pb = playback([0.0, 0.5, 1.0], diverged=2)
    pb.traces[0].history.params[2] = np.nan
    pb.clock = 1.0
    assert "diverged at step 2" in why_not_fork(pb, 0) and "earlier point" in why_not_fork(pb, 0)
    pb.clock = 0.5
    assert why_not_fork(pb, 0) == "" and default_epochs(pb, 0) == 2.5  # what it had left (3 epochs)
    assert why_not_fork(Playback([info(0)], p=2), 0) == "the engine has not started yet"
