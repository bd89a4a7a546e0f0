"""The main screen's panels: a run column, the status line, the stats table."""

from __future__ import annotations

import numpy as np
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from gdviz.report import format_bytes, format_number, format_seconds
from gdviz.tui.chart import LineChart
from gdviz.tui.colors import rgb_hex, run_color, run_marker
from gdviz.tui.state import Playback, RunInfo, finite_mean
from gdviz.tui.surface_view import SurfaceView


class RunColumn(Vertical):
    """One run: its path over the loss surface, a caption, and its loss curve."""

    def __init__(self, info: RunInfo, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="run-column")
        self.info = info
        self.index = info.index
        self._caption = ""

    def compose(self) -> ComposeResult:
        with Vertical(classes="surface-box"):
            yield SurfaceView(classes="surface")
            yield Static("", classes="caption", markup=False)
        yield LineChart(classes="curve")

    @property
    def surface_view(self) -> SurfaceView:
        return self.query_one(SurfaceView)

    @property
    def curve(self) -> LineChart:
        return self.query_one(".curve", LineChart)

    @property
    def caption(self) -> Static:
        return self.query_one(".caption", Static)

    def set_title(self, info: RunInfo, count: int, diverged: int | None, narrow: bool = False) -> None:
        self.info = info
        marker = run_marker(info.index)
        fork = f" · forked @ep {info.forked_at:.3g}" if info.forked_at is not None else ""
        title = f"{marker} {info.title}{fork}"
        subtitle = (
            f"diverged at step {diverged}" if diverged is not None else f"{info.method} · {info.updates_per_epoch} updates/epoch"
        )
        if narrow:
            subtitle = f"{subtitle} · run {info.index + 1}/{count}, tab: next"
        # Only on change: setting a border title repaints the whole column.
        if title != self.border_title:
            self.border_title = title
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle

    def set_caption(self, text: str) -> None:
        if text != self._caption:
            self._caption = text
            self.caption.update(text, layout=False)

    def on_click(self) -> None:
        self.app.select_run(self.index)  # type: ignore[attr-defined]


def stats_rows(pb: Playback) -> list[list[str]]:
    """The stats table's cells at the playback clock (same columns as the headless table)."""
    rows = []
    for info, trace in zip(pb.infos, pb.traces):
        h = trace.history
        k = trace.cursor(pb.clock)
        if k == 0:
            rows.append([info.name, info.method, str(info.batch), str(info.updates_per_epoch),
                         format_bytes(info.memory_per_step) if info.memory_per_step else "–", "–", "–", "–", "–", "–", "–"])  # fmt: skip
            continue
        epoch = float(h.epoch[k - 1])
        secs = float(h.seconds[k - 1])
        full = float(h.full_loss[k - 1])
        target = info.target_loss
        if target is None:
            to_target = "no target"
        else:
            hit = np.flatnonzero(h.full_loss[:k] <= target)
            to_target = f"{h.epoch[hit[0]]:.3g}" if len(hit) else "not yet" if not trace.done else "not reached"
        div = pb.diverged_shown(info.index)
        rows.append([
            info.name,
            info.method,
            str(info.batch),
            str(info.updates_per_epoch),
            format_bytes(info.memory_per_step) if info.memory_per_step else "–",
            f"{epoch:.2f}",
            format_seconds(secs / epoch) if epoch > 0 else "–",
            format_number(full),
            to_target,
            format_number(finite_mean(h.noise[:k]), 3),
            f"at step {div}" if div is not None else "no",
        ])  # fmt: skip
    return rows


STATS_COLUMNS = (
    ("run", "left"),
    ("method", "left"),
    ("batch", "right"),
    ("updates/epoch", "right"),
    ("memory/step", "right"),
    ("epochs", "right"),
    ("time/epoch", "right"),
    ("full loss", "right"),
    ("epochs to target", "right"),
    ("gradient noise", "right"),
    ("diverged", "left"),
)


class StatsTable(Static):
    """The measured figures, live; redrawn only when a cell changes."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._cells: list[list[str]] | None = None
        self.no_color = False

    def show(self, pb: Playback) -> None:
        cells = stats_rows(pb)
        if cells == self._cells:
            return
        layout = self._cells is None or len(cells) != len(self._cells)
        self._cells = cells
        table = Table(expand=True, box=None, padding=(0, 1), header_style="bold")
        for name, justify in STATS_COLUMNS:
            table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
        for i, row in enumerate(cells):
            marker = run_marker(i)
            name = Text(f"{marker} {row[0]}", style="" if self.no_color else f"bold {rgb_hex(run_color(i))}")
            div = Text(row[-1], style="bold red" if row[-1] != "no" and not self.no_color else "")
            table.add_row(name, *row[1:-1], div)
        self.update(table, layout=layout)


class StatusLine(Static):
    """Scenario, dataset, target, play state and speed, the clock; the fitted model."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self._text = ""

    def show(self, text: str) -> None:
        if text != self._text:
            self._text = text
            self.update(Text(text), layout=False)
